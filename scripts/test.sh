#!/usr/bin/env bash
# Run the whole test suite: unit tests (mock runtime), integration tests (real Docker, a real
# local registry, real containers), end-to-end tests (the Pulumi engine on the local stack) and
# the cluster tests (a real Kubernetes cluster, scripts/cluster.sh). Sets up whatever is missing
# first (scripts/setup.sh). Extra arguments go to pytest.
#
# The cluster's binaries take 29 minutes of compiling on a new 2-core machine (seconds once
# cached in .tools/kube), and the Pulumi kubernetes provider plugin that the cluster stack's engine
# tests need about 17 CPU-minutes more (cached in .tools/pulumi-kubernetes), so they build in the
# background at the lowest CPU priority while the other tests run; the cluster tests run last
# (tests/conftest.py orders them) and wait for those builds (each script holds a lock while it
# builds). Their output: .modelstack/setup/cluster.log.
# When the arguments name test paths and none of them holds the cluster tests, nothing is built.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PROGRESS_TAG="test"
# shellcheck source=scripts/lib/progress.sh
. scripts/lib/progress.sh

scripts/setup.sh --no-cluster || die "setup failed (see above)"
. scripts/pulumi-env.sh local

# Lint, format and type checks first (scripts/lint.sh; mypy takes about 2 min without its cache): a
# finding fails the run.
scripts/lint.sh || die "lint, format or type checks failed (see above)"

# Does this run collect tests/cluster? Yes without path arguments, or when a path holds it.
wants_cluster() {
    local arg named=0
    for arg in "$@"; do
        case "$arg" in
            -*) continue ;;
        esac
        [ -e "${arg%%::*}" ] || continue
        named=1
        case "$(realpath -m "${arg%%::*}")/" in
            "$PWD"/tests/cluster/* | "$PWD"/tests/ | "$PWD"/) return 0 ;;
        esac
    done
    [ "$named" = 0 ]
}

build_pid=
# shellcheck disable=SC2317  # run by the EXIT trap
stop_build() {
    if [ -n "$build_pid" ] && kill -0 "$build_pid" 2>/dev/null; then
        log "stopping the background build of the cluster's binaries (pid $build_pid; Go's cache keeps its work)"
        kill -TERM -- "-$build_pid" 2>/dev/null || true
        wait "$build_pid" 2>/dev/null || true
    fi
}
trap stop_build EXIT

if wants_cluster "$@"; then
    mkdir -p .modelstack/setup
    # setsid: a process group of its own, so that stop_build ends the go builds under it too
    setsid nice -n 19 bash -c 'scripts/cluster.sh build && scripts/build-kubernetes-provider.sh build' \
        >.modelstack/setup/cluster.log 2>&1 </dev/null &
    build_pid=$!
    log "the cluster's binaries and the kubernetes provider build in the background (pid $build_pid, nice 19, log .modelstack/setup/cluster.log)"
fi

phase pytest
rc=0
venv/bin/python -m pytest "$@" || rc=$?
end_phase
exit "$rc"
