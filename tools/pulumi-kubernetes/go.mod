// Pin of the Pulumi kubernetes resource plugin that scripts/build-kubernetes-provider.sh builds for
// the engine (the `kubernetes` provider of the `cluster` stacks). Nothing here is compiled as is.
//
// The provider module is served by the Go module proxy only under a pseudo-version; the commit below
// is exactly the release tag v4.25.0, the version of the `pulumi-kubernetes` Python SDK pinned in
// requirements.txt (the script refuses to build when the two disagree). The provider's own go.mod
// replaces its SDK with a local path (../sdk), so the script builds a writable copy of the provider
// module as the main module, with that replace dropped and the SDK required at the release below.
module modelstack/tools/pulumi-kubernetes

go 1.24.7

require (
	github.com/pulumi/pulumi-kubernetes/provider/v4 v4.0.0-20260115033456-f47bc2d6f199
	github.com/pulumi/pulumi-kubernetes/sdk/v4 v4.25.0
)
