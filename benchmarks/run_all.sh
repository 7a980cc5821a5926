#!/usr/bin/env bash
# Run every benchmark of BENCHMARKS.md, one after the other, and keep their output.
#
#   benchmarks/run_all.sh [NAME ...]     all of them, or only those named
#
# Names, in the order they run (BENCHMARKS.md has a section for each):
#   plan_cost         check of 10/100/1,000 services against Pulumi's mock-runtime floor
#   noop              a second evaluation and a second build with nothing changed
#   build_and_start   cold build, model-only rebuild, image size, container start to Healthy
#   image_slimming    what slimming the venv in the build stage would give (an experiment)
#   endpoint_vs_bare  the endpoint's image against azmlinfsrv run bare, side by side
#   local_up          `pulumi up` of the local stack from nothing to Healthy (needs the engine)
#   profile_runtime   `modelstack profile` with its defaults, image built and image reused
#   profile_cpu_limits  what profile measures at one core and at a quarter core (was a test's comparison)
#   scoring_server_starvation  one client's latency while 500 idle and 10 slow connections are held (was a test's p99 bound)
#   plan_summary_chain  plan-summary grouping a chain of 5,000-20,000 parents (was a test's time bound)
#
# Needs what scripts/setup.sh installs (Docker, the base and runtime images, wrk; the engine
# for local_up). Output goes to the terminal and to .modelstack/benchmarks/<UTC time>/NAME.txt.
# Takes about 10 minutes on the 2-core development machines. Every benchmark works in a copy of
# the project with its own registry and ports, and removes what it started.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

all=(plan_cost noop build_and_start image_slimming endpoint_vs_bare local_up profile_runtime profile_cpu_limits scoring_server_starvation plan_summary_chain)
selected=("$@")
[ ${#selected[@]} -gt 0 ] || selected=("${all[@]}")
for name in "${selected[@]}"; do
    [[ " ${all[*]} " == *" $name "* ]] || { echo "run_all: unknown benchmark '$name' (known: ${all[*]})" >&2; exit 2; }
done

python=venv/bin/python
out=.modelstack/benchmarks/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
{
    echo "commit:  $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
    echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(. /etc/os-release; echo "$PRETTY_NAME"), $($python -c 'import platform; print("Python", platform.python_version())')"
    echo "docker:  $(docker version --format '{{.Server.Version}}' 2>/dev/null || echo 'not reachable'), storage driver $(docker info --format '{{.Driver}}' 2>/dev/null || echo '?')"
    echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) at the start"
} | tee "$out/machine.txt"

status=0
for name in "${selected[@]}"; do
    printf '\n==> %s\n' "$name"
    started=$(date +%s)
    if [ "$name" = local_up ] && [ ! -x .tools/bin/pulumi ]; then
        echo "skipped: no Pulumi engine in .tools/bin (scripts/bootstrap-pulumi.sh)" | tee "$out/$name.txt"
        continue
    fi
    if "$python" "benchmarks/$name.py" 2>"$out/$name.stderr" | tee "$out/$name.txt"; then
        printf '    %s done in %ss (load now %s)\n' "$name" "$(( $(date +%s) - started ))" "$(cut -d' ' -f1 /proc/loadavg)"
    else
        status=1
        printf '    %s FAILED after %ss; last lines of its stderr:\n' "$name" "$(( $(date +%s) - started ))"
        tail -n 15 "$out/$name.stderr" | sed 's/^/    /'
    fi
done
printf '\nresults in %s\n' "$out"
exit "$status"
