#!/usr/bin/env bash
# Everything modelstack needs on this machine, idempotent: a second run only checks.
#
#   scripts/setup.sh            system packages, Docker daemon, venv, base image, Pulumi engine,
#                               the Kubernetes test cluster's binaries and the Pulumi kubernetes
#                               provider plugin (installed into the engine's plugin home)
#   scripts/setup.sh --no-engine    without the engine and the cluster (enough for `modelstack check` and the unit tests)
#   scripts/setup.sh --no-cluster   without the cluster's binaries and the kubernetes provider
#                                   (everything but tests/cluster)
#
# Phases that do not depend on each other run side by side, as chains:
#   docker:  system packages (apt) -> Docker daemon -> base images (debootstrap + docker import) ->
#            Azurite (npm ci of tools/azurite's lockfile; not with --no-engine)
#   python:  venv (pinned requirements.txt) -> example models (trained with the venv)
#   engine:  the Pulumi engine in .tools/bin (needs Go only)
#   cluster: the Kubernetes test cluster's binaries in .tools/kube (scripts/cluster.sh build: Go only;
#            29 minutes of compiling on a new 2-core machine, minutes with a warm Go cache) ->
#            the Pulumi kubernetes provider plugin in .tools/pulumi-kubernetes
#            (scripts/build-kubernetes-provider.sh: about 17 CPU-minutes cold), installed for the
#            engine once both chains are done
# Each phase prints a line when it starts and when it ends, with its time; each chain's output goes
# to .modelstack/setup/<chain>.log. When a phase fails, the run fails with the tail of its log
# (the other chains finish first: their work is kept for the next run).
# Needs root for apt-get and dockerd (CI and the dev machines run as root; on a laptop with Docker
# Desktop the first two phases find Docker running).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PROGRESS_TAG=setup
# shellcheck source=scripts/lib/progress.sh
. scripts/lib/progress.sh

WITH_ENGINE=1
WITH_CLUSTER=1
for arg in "$@"; do
    case "$arg" in
        --no-engine) WITH_ENGINE=0; WITH_CLUSTER=0 ;;
        --no-cluster) WITH_CLUSTER=0 ;;
        -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
        *) log "error: unknown argument $arg (try --help)"; exit 2 ;;
    esac
done

LOG_DIR=.modelstack/setup
mkdir -p "$LOG_DIR"
seconds_since() { local s; s=$(since "$1"); printf '%s' "${s%s}"; } # e.g. 12.3
# One line at a time (short lines are written atomically, so chains do not mix within a line):
# [setup] +elapsed since setup started  chain: message
note() { log "$(printf '+%6ss %-7s %s' "$(seconds_since "$START_MS")" "$1:" "$2")"; }

# run_phase CHAIN NAME COMMAND...: run COMMAND with its output in the chain's log; a line at start and end.
run_phase() {
    local chain=$1 name=$2 started rc=0
    shift 2
    started=$(now_ms)
    note "$chain" "$name ..."
    printf '\n==> %s (%s)\n' "$name" "$(date -Is)" >>"$LOG_DIR/$chain.log"
    # In a bash of its own, so `set -e` holds inside the phase (in this shell it is off within
    # `&&`/`||` lists, and a subshell would inherit that).
    bash -euo pipefail -c '"$@"' "$name" "$@" >>"$LOG_DIR/$chain.log" 2>&1 </dev/null || rc=$?
    if [ "$rc" -ne 0 ]; then
        note "$chain" "$name FAILED after $(seconds_since "$started")s (exit $rc; log: $LOG_DIR/$chain.log)"
        printf '%s\t%s\t%s\tFAILED\n' "$chain" "$name" "$(seconds_since "$started")" >>"$LOG_DIR/times.tsv"
        return "$rc"
    fi
    note "$chain" "$name done in $(seconds_since "$started")s"
    printf '%s\t%s\t%s\tok\n' "$chain" "$name" "$(seconds_since "$started")" >>"$LOG_DIR/times.tsv"
}

# --- the phases ----------------------------------------------------------------------------

system_packages() {
    if command -v docker >/dev/null && docker info >/dev/null 2>&1 && command -v docker-registry >/dev/null && command -v wrk >/dev/null \
        && command -v jq >/dev/null && command -v node >/dev/null && command -v npm >/dev/null; then
        echo "Docker answers; docker-registry, wrk, jq, node and npm are installed"
    else
        scripts/install-system-deps.sh
    fi
}

python_venv() {
    if [ ! -x venv/bin/python ]; then
        python3 -m venv venv
    fi
    local stamp=venv/.requirements.sha256 wanted
    wanted=$(cat requirements.txt requirements-test.txt requirements-bench.txt pyproject.toml | sha256sum | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
        venv/bin/pip install --disable-pip-version-check --quiet -r requirements.txt
        venv/bin/pip install --disable-pip-version-check --quiet --no-deps -e .
        echo "$wanted" >"$stamp"
    else
        echo "up to date"
    fi
}

example_models() {
    if [ ! -f examples/diabetes/model/ridge.joblib ] || [ ! -f examples/diabetes/model/lasso.joblib ]; then
        venv/bin/python examples/diabetes/train.py
    else
        echo "already trained"
    fi
}

export -f system_packages python_venv example_models

chain_docker() {
    run_phase docker "system packages (docker.io, debootstrap, docker-registry, wrk, jq)" system_packages &&
    run_phase docker "Docker daemon" scripts/dockerd.sh start &&
    run_phase docker "base images modelstack/python-base and python-runtime:bookworm" scripts/build-base-image.sh &&
    if [ "$WITH_ENGINE" = 1 ]; then
        # the engine's azblob:// state backend is tested against it (scripts/azurite.sh)
        run_phase docker "Azurite, the Azure Storage emulator (.tools/azurite)" scripts/azurite.sh install
    fi
}

chain_python() {
    run_phase python "Python virtualenv (venv/, pinned requirements.txt)" python_venv &&
    run_phase python "example models" example_models
}

chain_engine() {
    run_phase engine "Pulumi engine (.tools/bin)" scripts/bootstrap-pulumi.sh
}

chain_cluster() {
    run_phase cluster "Kubernetes test cluster binaries (.tools/kube)" scripts/cluster.sh build &&
    run_phase cluster "Pulumi kubernetes provider plugin (.tools/pulumi-kubernetes)" scripts/build-kubernetes-provider.sh build
}

# --- run the chains side by side ---------------------------------------------------------------

: >"$LOG_DIR/times.tsv"
chains=(docker python)
[ "$WITH_ENGINE" = 1 ] && chains+=(engine)
[ "$WITH_CLUSTER" = 1 ] && chains+=(cluster)
declare -A pids=()
for chain in "${chains[@]}"; do
    : >"$LOG_DIR/$chain.log"
    "chain_$chain" &
    pids[$chain]=$!
done
note setup "started ${chains[*]} side by side (pids:$(for c in "${chains[@]}"; do printf " %s=%s" "$c" "${pids[$c]}"; done)); logs in $LOG_DIR/"

failed=()
for chain in "${chains[@]}"; do
    if ! wait "${pids[$chain]}"; then
        failed+=("$chain")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    for chain in "${failed[@]}"; do
        log "the $chain chain failed; last lines of $LOG_DIR/$chain.log:"
        show_tail "$LOG_DIR/$chain.log"
    done
    die "FAILED (${failed[*]}) after $(since "$START_MS")"
fi
if [ "$WITH_CLUSTER" = 1 ]; then
    # needs both the engine and the plugin: after the chains
    run_phase cluster "install the kubernetes provider plugin into the engine's plugin home" scripts/build-kubernetes-provider.sh install || exit 1
fi
note setup "all done in $(since "$START_MS")"
