// Tools module used by scripts/bootstrap-pulumi.sh to build the Pulumi engine from Go modules
// when the official installer is unreachable. Nothing here is imported by the project itself.
//
// The versions below are the pin from requirements.txt (pulumi==X). The bootstrap script builds
// from a scratch copy of this directory (under .tools/), where it re-pins pkg/sdk to the engine
// version being built and re-syncs the replace lines from pkg's own go.mod at that version, so
// this file and that go.mod cannot drift apart silently. go.sum is generated in the scratch copy
// (checksums verified against the Go checksum database through the module proxy), not committed.
module modelstack/tools/pulumi-engine

go 1.26.6

// Repeated from github.com/pulumi/pulumi/pkg/v3's go.mod (replace directives only apply in the
// main module). pkg's local `github.com/pulumi/pulumi/sdk/v3 => ../sdk` is dropped: we require
// sdk/v3 at the same version instead.
replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e

tool github.com/pulumi/pulumi/pkg/v3/cmd/pulumi

require (
	github.com/pulumi/pulumi/pkg/v3 v3.272.0
	github.com/pulumi/pulumi/sdk/v3 v3.272.0
)
