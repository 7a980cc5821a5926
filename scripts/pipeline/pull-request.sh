#!/usr/bin/env bash
# The pull-request job: what .github/workflows/pull-request.yml runs, and what the tests run.
#   scripts/pipeline/pull-request.sh --stack STACK --out DIR [--check "local dev staging prod"]
# 1. `modelstack check` (offline) of every stack named by --check (default: each
#    stacks/Pulumi.<name>.yaml), its verdicts as DIR/check-<stack>.json;
# 2. `modelstack plan` of STACK with the policy pack (policies/config/STACK.json when there is one):
#    the signed plan DIR/plan-STACK.json, the job's artifact, and DIR/summary.md, the body of the
#    pull request's comment (it starts with the marker the comment step finds it by).
# Needs the stack's state backend and its plan key (docs/team.md#saved-plans); holds no other
# secret. Exits 1 when a check or the plan fails (the summary is written whenever the plan was).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
PROGRESS_TAG="pull-request"
# shellcheck source=scripts/lib/progress.sh
. scripts/lib/progress.sh

stack="" out="" checks=""
while [ $# -gt 0 ]; do
    case "$1" in
        --stack) stack="${2:-}"; shift 2 ;;
        --out) out="${2:-}"; shift 2 ;;
        --check) checks="${2:-}"; shift 2 ;;
        -h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "usage: $0 --stack STACK --out DIR [--check \"STACK...\"] (unknown argument: $1)" >&2; exit 2 ;;
    esac
done
if ! { [ -n "$stack" ] && [ -n "$out" ]; }; then
    echo "usage: $0 --stack STACK --out DIR [--check \"STACK...\"]" >&2
    exit 2
fi
if [ -z "$checks" ]; then
    for file in stacks/Pulumi.*.yaml; do
        name="${file#stacks/Pulumi.}"
        checks="$checks ${name%.yaml}"
    done
fi
mkdir -p "$out"
modelstack=venv/bin/modelstack

status=0
phase "modelstack check (offline):$checks"
for name in $checks; do
    if ! "$modelstack" check --stack "$name" --json >"$out/check-$name.json"; then
        status=1
        log "check of stack $name failed (its verdict: $out/check-$name.json)"
    fi
    "$modelstack" check --stack "$name" >&2 || true
done

phase "modelstack plan --stack $stack"
# The engine's settings and the backend line; refuses (with the fix) what the state rules refuse.
# shellcheck source=scripts/pulumi-env.sh
. scripts/pulumi-env.sh "$stack" || die "the engine's settings for stack $stack were refused (above)"
policy=(--policy-pack policies)
[ -f "policies/config/$stack.json" ] && policy+=(--policy-pack-config "policies/config/$stack.json")
[ -f "$out/check-$stack.json" ] && policy+=(--policies "$out/check-$stack.json")
if ! "$modelstack" plan --stack "$stack" --out "$out/plan-$stack.json" --summary "$out/summary.md" "${policy[@]}"; then
    status=1
    log "the plan of stack $stack failed (above)"
fi
finish
exit "$status"
