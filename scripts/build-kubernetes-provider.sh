#!/usr/bin/env bash
# The Pulumi kubernetes resource plugin for the engine, built from the Go module proxy (it cannot
# be downloaded on air-gapped machines, and the engine's automatic plugin download stays off).
#
#   scripts/build-kubernetes-provider.sh            build (cached by version) and install it
#   scripts/build-kubernetes-provider.sh build      build only: .tools/pulumi-kubernetes/<V>/
#   scripts/build-kubernetes-provider.sh install    install the built binary into the engine's
#                                                   plugin home (needs the engine in .tools/bin)
#   scripts/build-kubernetes-provider.sh status     say whether it is built and installed (exit 3 if not)
#
# The version: `pulumi-kubernetes==V` in requirements.txt (the Python SDK), which must equal the
# SDK release pinned in tools/pulumi-kubernetes/go.mod next to the provider module's pseudo-version
# (the proxy serves the provider under that name only). The module's go.mod replaces the SDK with a
# local path, so a writable copy of the module is built as the main module with the replace dropped;
# `go generate` writes the schema files main.go embeds; the version is set at link time.
# A cold build takes about 17 CPU-minutes and 4.6 GB of memory (BENCHMARKS.md); scripts/test.sh
# runs it in the background at nice 19. One build at a time (a lock under .tools/pulumi-kubernetes).
#
# Environment: PULUMI_HOME (the engine's plugin home; default <repo>/.modelstack/pulumi-home, as
# scripts/pulumi-env.sh sets it), GO (go binary), GOMODCACHE, GOCACHE, GOPROXY, ... as usual.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
PIN_MODULE="$REPO_ROOT/tools/pulumi-kubernetes"
TOOLS_ROOT="$REPO_ROOT/.tools/pulumi-kubernetes"
PROVIDER_MOD=github.com/pulumi/pulumi-kubernetes/provider/v4
SDK_MOD=github.com/pulumi/pulumi-kubernetes/sdk/v4
MAIN_PKG=./cmd/pulumi-resource-kubernetes

PROGRESS_TAG=kubernetes-provider
# shellcheck source=scripts/lib/progress.sh
. "$SCRIPT_DIR/lib/progress.sh"

command="${1:-all}"
case "$command" in
    all | build | install | status) ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) log "error: unknown command '$command' (try --help)"; exit 2 ;;
esac

GO_BIN="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
[ -x "$GO_BIN" ] || die "Go is needed to build the kubernetes provider and was not found (set GO=/path/to/go)"
command -v jq >/dev/null || die "jq is needed to read the pins (sudo scripts/install-system-deps.sh)"

# --- the pins ----------------------------------------------------------------------------------
VERSION="$(sed -nE 's/^[[:space:]]*pulumi-kubernetes[[:space:]]*==[[:space:]]*([0-9][0-9A-Za-z.+-]*).*$/\1/p' \
    "$REPO_ROOT/requirements.txt" | head -n1)"
[ -n "$VERSION" ] || die "no 'pulumi-kubernetes==V' line in requirements.txt"
pins="$(cd "$PIN_MODULE" && "$GO_BIN" mod edit -json)"
PROVIDER_VERSION="$(jq -r --arg m "$PROVIDER_MOD" '.Require[] | select(.Path == $m) | .Version' <<<"$pins")"
SDK_VERSION="$(jq -r --arg m "$SDK_MOD" '.Require[] | select(.Path == $m) | .Version' <<<"$pins")"
{ [ -n "$PROVIDER_VERSION" ] && [ -n "$SDK_VERSION" ]; } \
    || die "tools/pulumi-kubernetes/go.mod must require $PROVIDER_MOD and $SDK_MOD"
[ "$SDK_VERSION" = "v$VERSION" ] \
    || die "requirements.txt pins pulumi-kubernetes==$VERSION but tools/pulumi-kubernetes/go.mod builds the provider of $SDK_MOD $SDK_VERSION: pin the same release in both"

OUT_DIR="$TOOLS_ROOT/$VERSION"
BIN="$OUT_DIR/pulumi-resource-kubernetes"
STAMP="$BIN.stamp"
WANT_STAMP="$PROVIDER_VERSION $SDK_VERSION"
export PULUMI_HOME="${PULUMI_HOME:-$REPO_ROOT/.modelstack/pulumi-home}"
export PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
PULUMI="$REPO_ROOT/.tools/bin/pulumi"

is_built() { [ -x "$BIN" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$WANT_STAMP" ]; }
is_installed() {
    local dir="$PULUMI_HOME/plugins/resource-kubernetes-v$VERSION"
    [ -x "$dir/pulumi-resource-kubernetes" ] && cmp -s "$dir/pulumi-resource-kubernetes" "$BIN"
}

build() {
    mkdir -p "$TOOLS_ROOT"
    exec 8>"$TOOLS_ROOT/.build.lock"
    if ! flock -n 8; then
        log "waiting for the build another run holds (lock ${TOOLS_ROOT#"$REPO_ROOT"/}/.build.lock)"
        flock -w 3600 8 || die "another build has held ${TOOLS_ROOT#"$REPO_ROOT"/}/.build.lock for an hour"
    fi
    if is_built; then
        log "cached: ${BIN#"$REPO_ROOT"/} (v$VERSION)"
        flock -u 8
        return 0
    fi
    phase "download $PROVIDER_MOD@$PROVIDER_VERSION"
    local src work t0
    src="$(GOFLAGS='' "$GO_BIN" mod download -json "$PROVIDER_MOD@$PROVIDER_VERSION" | jq -r '.Dir // empty')"
    [ -d "$src" ] || die "the module proxy did not give $PROVIDER_MOD@$PROVIDER_VERSION (GOPROXY=$("$GO_BIN" env GOPROXY))"

    phase "prepare a writable copy (SDK $SDK_MOD $SDK_VERSION instead of ../sdk)"
    work="$TOOLS_ROOT/build"
    rm -rf "$work"
    mkdir -p "$work"
    cp -R "$src/." "$work/"
    chmod -R u+w "$work"
    cd "$work"
    export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod" CGO_ENABLED=0
    "$GO_BIN" mod edit -dropreplace="$SDK_MOD" -require="$SDK_MOD@$SDK_VERSION"

    phase "go generate: the schema files main.go embeds (VERSION=$VERSION)"
    (cd "$MAIN_PKG" && VERSION="$VERSION" "$GO_BIN" generate .)
    { [ -s "$MAIN_PKG/schema-embed.json" ] && [ -s "$MAIN_PKG/terraform-mapping-embed.json" ]; } \
        || die "go generate did not write the embedded schema files"

    phase "go build pulumi-resource-kubernetes v$VERSION (about 17 CPU-minutes on a cold cache)"
    t0=$(now_ms)
    mkdir -p "$OUT_DIR"
    "$GO_BIN" build -trimpath -buildvcs=false \
        -ldflags "-s -w -X $PROVIDER_MOD/pkg/version.Version=$VERSION" -o "$BIN.tmp" "$MAIN_PKG"
    mv -f "$BIN.tmp" "$BIN"
    printf '%s\n' "$WANT_STAMP" >"$STAMP"
    cd "$REPO_ROOT"
    rm -rf "$work"
    log "built ${BIN#"$REPO_ROOT"/} in $(fmt_ms $(($(now_ms) - t0))), $(du -h "$BIN" | cut -f1)"
    end_phase
    flock -u 8
}

install_plugin() {
    is_built || die "the provider is not built: run scripts/build-kubernetes-provider.sh build"
    [ -x "$PULUMI" ] || die "the engine is not in .tools/bin: run scripts/bootstrap-pulumi.sh first"
    if is_installed; then
        log "installed: resource kubernetes v$VERSION in $PULUMI_HOME"
        return 0
    fi
    phase "pulumi plugin install resource kubernetes $VERSION (PULUMI_HOME=$PULUMI_HOME)"
    mkdir -p "$PULUMI_HOME"
    "$PULUMI" plugin install resource kubernetes "$VERSION" --file "$BIN" --reinstall >&2
    is_installed || die "pulumi plugin install finished but $PULUMI_HOME has no kubernetes v$VERSION plugin"
    end_phase
}

case "$command" in
    build) build ;;
    install) install_plugin ;;
    all) build; install_plugin ;;
    status)
        if is_built; then log "built: ${BIN#"$REPO_ROOT"/}"; else log "not built (v$VERSION)"; fi
        if is_installed; then log "installed in $PULUMI_HOME"; else log "not installed in $PULUMI_HOME"; fi
        is_built && is_installed || exit 3
        ;;
esac
finish
