#!/usr/bin/env bash
# Lint the GitHub Actions workflows in .github/workflows/ with actionlint, pinned below, built from
# Go modules into <repo>/.tools/actionlint/<version>/actionlint (git-ignored) and reused after.
# actionlint runs shellcheck over every `run:` script when shellcheck is on PATH: this script
# installs Debian's `shellcheck` package with apt-get when it is missing (and it can), and says
# which checks ran.
#
#   scripts/actionlint.sh                       # lint .github/workflows/*.yml
#   scripts/actionlint.sh -oneline              # actionlint flags are passed through
#   scripts/actionlint.sh path/to/workflow.yml  # lint these files instead (paths as given)
#   scripts/actionlint.sh --print-path          # only build/find actionlint and print its path
#   scripts/actionlint.sh --no-apt ...          # never run apt-get (lint without shellcheck if missing)
#
# Exit status: actionlint's own (0 clean, 1 problems found, 2 bad flag, 3 failure), or
#   69 when actionlint can be neither built (no Go, the module not served) nor found on PATH.
#
# Environment:
#   ACTIONLINT_VERSION  build this version instead of the pin (off-pin; e.g. a proxy without it)
#   ACTIONLINT_NO_APT=1 same as --no-apt
#   GO                  go binary (default: `go` on PATH, else /usr/local/go/bin/go)
#   GOPROXY, GOMODCACHE, GOCACHE, GOFLAGS, ... are honoured as usual.
set -euo pipefail

PIN=v1.7.12
ACTIONLINT_PKG=github.com/rhysd/actionlint/cmd/actionlint
EX_UNAVAILABLE=69

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
TOOLS_DIR="$REPO_ROOT/.tools"

VERSION="${ACTIONLINT_VERSION:-$PIN}"
case "$VERSION" in v*) ;; *) VERSION="v$VERSION" ;; esac
INSTALL_DIR="$TOOLS_DIR/actionlint/$VERSION"
BIN="$INSTALL_DIR/actionlint"

# ---------------------------------------------------------------------------------------------
# progress and timings (stderr; actionlint's findings alone go to stdout)
PROGRESS_TAG=actionlint.sh
# shellcheck source=scripts/lib/progress.sh
. "$SCRIPT_DIR/lib/progress.sh"
unavailable() {
    log "error: $*"
    log "actionlint is unavailable (exit $EX_UNAVAILABLE)"
    exit "$EX_UNAVAILABLE"
}

# ---------------------------------------------------------------------------------------------
# arguments: ours (--print-path, --no-apt, --help) are taken out; the rest go to actionlint.
# Any path among them (a non-flag argument, or `-` for stdin) replaces the default file list.
PRINT_PATH=0
NO_APT="${ACTIONLINT_NO_APT:-0}"
LINT_ARGS=()
HAVE_PATHS=0
SHELLCHECK_FLAG=""   # the value of a -shellcheck flag, when one is given
PYFLAKES_FLAG=""
expect_value=""
only_paths=0
for arg in "$@"; do
    if [ -n "$expect_value" ]; then
        case "$expect_value" in
            shellcheck) SHELLCHECK_FLAG="set:$arg" ;;
            pyflakes) PYFLAKES_FLAG="set:$arg" ;;
        esac
        expect_value=""
        LINT_ARGS+=("$arg")
        continue
    fi
    if [ "$only_paths" = 1 ]; then
        HAVE_PATHS=1
        LINT_ARGS+=("$arg")
        continue
    fi
    case "$arg" in
        --print-path) PRINT_PATH=1 ;;
        --no-apt) NO_APT=1 ;;
        -h | --help | -help) sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; exit 0 ;;
        --) only_paths=1; LINT_ARGS+=("$arg") ;;
        -)  HAVE_PATHS=1; LINT_ARGS+=("$arg") ;;
        -shellcheck=* | --shellcheck=*) SHELLCHECK_FLAG="set:${arg#*=}"; LINT_ARGS+=("$arg") ;;
        -pyflakes=* | --pyflakes=*) PYFLAKES_FLAG="set:${arg#*=}"; LINT_ARGS+=("$arg") ;;
        -shellcheck | --shellcheck) expect_value=shellcheck; LINT_ARGS+=("$arg") ;;
        -pyflakes | --pyflakes) expect_value=pyflakes; LINT_ARGS+=("$arg") ;;
        # actionlint's other flags that take a value (Go flag syntax: -name value or -name=value)
        -ignore | --ignore | -format | --format | -config-file | --config-file | -stdin-filename | --stdin-filename)
            expect_value=other; LINT_ARGS+=("$arg") ;;
        -*) LINT_ARGS+=("$arg") ;;
        *) HAVE_PATHS=1; LINT_ARGS+=("$arg") ;;
    esac
done
[ -z "$expect_value" ] || { log "error: flag ${LINT_ARGS[${#LINT_ARGS[@]}-1]} needs a value"; exit 2; }

mkdir -p "$TOOLS_DIR"
# One build/install at a time per checkout (parallel test runs, two terminals, ...).
if command -v flock >/dev/null 2>&1; then
    exec 9>"$TOOLS_DIR/.actionlint.lock"
    flock 9
fi

# ---------------------------------------------------------------------------------------------
# actionlint: reuse the pinned build, else build it, else fall back to one on PATH

version_of() { # $1 = actionlint binary; prints its version line (e.g. v1.7.12), or nothing
    "$1" -version 2>/dev/null | head -n1 | tr -d '[:space:]' || true
}

build_actionlint() {
    local go_bin t0 stage
    go_bin="${GO:-}"
    if [ -z "$go_bin" ]; then
        go_bin="$(command -v go || true)"
        [ -n "$go_bin" ] || go_bin=/usr/local/go/bin/go
    fi
    if [ ! -x "$go_bin" ]; then
        log "Go was not found (set GO=/path/to/go); cannot build actionlint $VERSION"
        return 1
    fi
    log "==> go install $ACTIONLINT_PKG@$VERSION (GOBIN=$INSTALL_DIR)"
    log "    $("$go_bin" version); GOPROXY=$("$go_bin" env GOPROXY)"
    t0=$(now_ms)
    # Install into a scratch GOBIN, then move into place: an interrupted build leaves nothing
    # that looks finished.
    mkdir -p "$TOOLS_DIR/actionlint"
    stage="$(mktemp -d "$TOOLS_DIR/actionlint/.build.XXXXXX")"
    if ! GOBIN="$stage" GOFLAGS="${GOFLAGS:+$GOFLAGS }-trimpath" "$go_bin" install "$ACTIONLINT_PKG@$VERSION" >&2; then
        rm -rf "$stage"
        log "go install of $ACTIONLINT_PKG@$VERSION failed ($(since "$t0"))"
        return 1
    fi
    mkdir -p "$INSTALL_DIR"
    mv -f "$stage/actionlint" "$BIN"
    rm -rf "$stage"
    log "    built $BIN in $(since "$t0") ($(du -h "$BIN" | cut -f1))"
}

ACTIONLINT=""
t0=$(now_ms)
if [ -x "$BIN" ] && [ "$(version_of "$BIN")" = "$VERSION" ]; then
    ACTIONLINT="$BIN"
    log "reusing $BIN ($VERSION)"
elif build_actionlint && [ "$(version_of "$BIN")" = "$VERSION" ]; then
    ACTIONLINT="$BIN"
else
    [ ! -x "$BIN" ] || log "the build at $BIN does not report $VERSION (it says '$(version_of "$BIN")')"
    ambient="$(command -v actionlint || true)"
    if [ -n "$ambient" ] && [ -n "$(version_of "$ambient")" ]; then
        ACTIONLINT="$ambient"
        warn "using $ambient ($(version_of "$ambient")), not the pinned $VERSION"
    else
        unavailable "actionlint $VERSION could not be built into $BIN and no actionlint is on PATH"
    fi
fi
if [ "$PRINT_PATH" = 1 ]; then
    printf '%s\n' "$ACTIONLINT"
    exit 0
fi

# ---------------------------------------------------------------------------------------------
# The shellcheck integration: Debian's package, installed when missing so that `run:` scripts are checked too

install_shellcheck() {
    local sudo_cmd=() t0
    if [ "$NO_APT" = 1 ]; then
        log "shellcheck is not on PATH and --no-apt/ACTIONLINT_NO_APT=1 was given: not installing it"
        return 1
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        log "shellcheck is not on PATH and there is no apt-get here; install shellcheck with your package manager"
        return 1
    fi
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo_cmd=(sudo -n)
        else
            log "shellcheck is not on PATH; install it with: sudo apt-get install shellcheck"
            return 1
        fi
    fi
    t0=$(now_ms)
    apt_log="$TOOLS_DIR/actionlint/apt.log"
    mkdir -p "$(dirname "$apt_log")"
    : >"$apt_log"
    log "==> shellcheck is not on PATH: apt-get update, then apt-get install shellcheck (output: $apt_log)"
    if ! "${sudo_cmd[@]}" apt-get update -q >>"$apt_log" 2>&1; then
        log "    apt-get update failed; trying the install with the package lists there are"
    fi
    log "    apt-get update done ($(since "$t0"))"
    # needrestart (Ubuntu) would otherwise ask about services or print its report
    if ! "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=l NEEDRESTART_SUSPEND=1 \
        apt-get install -y -q --no-install-recommends shellcheck >>"$apt_log" 2>&1; then
        log "    apt-get install shellcheck failed ($(since "$t0")); its last lines:"
        tail -n 5 "$apt_log" | sed 's/^/      /' >&2
        return 1
    fi
    hash -r
    log "    installed shellcheck $(dpkg-query -W -f='${Version}' shellcheck 2>/dev/null || true) in $(since "$t0")"
}

if [ -z "$SHELLCHECK_FLAG" ] && ! command -v shellcheck >/dev/null 2>&1; then
    install_shellcheck || warn "linting without shellcheck: run: scripts are NOT checked"
fi

# ---------------------------------------------------------------------------------------------
# which checks run

external_tool() { # $1 = label, $2 = flag value ("" if not given), $3 = default command; prints a description
    local cmd
    if [ -n "$2" ]; then
        cmd="${2#set:}"
        if [ -z "$cmd" ]; then
            printf 'off (disabled by flag)'
            return
        fi
    else
        cmd="$3"
    fi
    if command -v "$cmd" >/dev/null 2>&1; then
        printf 'on (%s %s)' "$(command -v "$cmd")" "$("$cmd" --version 2>/dev/null | sed -nE 's/^version: *//p; s/^([0-9][0-9.]*)$/\1/p' | head -n1)"
    else
        printf 'off (%s not found)' "$cmd"
    fi
}
SHELLCHECK_STATE="$(external_tool shellcheck "$SHELLCHECK_FLAG" shellcheck)"
PYFLAKES_STATE="$(external_tool pyflakes "$PYFLAKES_FLAG" pyflakes)"

if [ "$HAVE_PATHS" = 0 ]; then
    # The repo's workflows, as files: no need for a .git directory (actionlint's own discovery
    # wants one), and findings are printed relative to the repo root.
    cd "$REPO_ROOT"
    mapfile -t files < <(find .github/workflows -type f \( -name '*.yml' -o -name '*.yaml' \) 2>/dev/null | LC_ALL=C sort)
    [ "${#files[@]}" -gt 0 ] || { log "error: no workflow files in $REPO_ROOT/.github/workflows"; exit 3; }
    LINT_ARGS+=("${files[@]}")
    TARGET="${#files[@]} workflow file(s) in .github/workflows/"
else
    TARGET="the paths given"
fi

log "checks: actionlint $(version_of "$ACTIONLINT") (syntax, expressions and contexts, job needs, matrix, runner labels, action inputs, permissions, ...) on $TARGET"
log "        shellcheck on run: scripts: $SHELLCHECK_STATE"
log "        pyflakes on python run: scripts: $PYFLAKES_STATE"

status=0
"$ACTIONLINT" "${LINT_ARGS[@]}" || status=$?
case "$status" in
    0) log "result: clean (exit 0) in $(since "$START_MS")" ;;
    1) log "result: problems found (exit 1) in $(since "$START_MS")" ;;
    *) log "result: actionlint failed (exit $status) in $(since "$START_MS")" ;;
esac
exit "$status"
