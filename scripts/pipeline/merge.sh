#!/usr/bin/env bash
# The merge job: apply the plan the pull request showed, exactly, or refuse it.
#   scripts/pipeline/merge.sh --stack STACK --plan FILE [--approved-by NAME]
# FILE is the pull request job's artifact (plan-STACK.json). `modelstack apply` refuses a plan that
# was edited, expired, made for another stack, or is stale (the stack's state, the program or its
# configuration, or the images moved since the review), and one above the stack's cost limit
# without an approval; this job then says what to do and exits 1, having changed nothing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
PROGRESS_TAG="merge"
# shellcheck source=scripts/lib/progress.sh
. scripts/lib/progress.sh

stack="" plan="" approved_by=""
while [ $# -gt 0 ]; do
    case "$1" in
        --stack) stack="${2:-}"; shift 2 ;;
        --plan) plan="${2:-}"; shift 2 ;;
        --approved-by) approved_by="${2:-}"; shift 2 ;;
        -h | --help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "usage: $0 --stack STACK --plan FILE [--approved-by NAME] (unknown argument: $1)" >&2; exit 2 ;;
    esac
done
if ! { [ -n "$stack" ] && [ -n "$plan" ]; }; then
    echo "usage: $0 --stack STACK --plan FILE [--approved-by NAME]" >&2
    exit 2
fi
[ -f "$plan" ] || die "no plan at $plan: the pull request's plan job did not run for this commit, or its artifact expired; re-run that job, review its plan, then merge again"

phase "modelstack apply $plan --stack $stack"
# shellcheck source=scripts/pulumi-env.sh
. scripts/pulumi-env.sh "$stack" || die "the engine's settings for stack $stack were refused (above)"
approval=()
[ -n "$approved_by" ] && approval=(--approved-by "$approved_by")
if ! venv/bin/modelstack apply "$plan" --stack "$stack" "${approval[@]}"; then
    log "the reviewed plan was not applied, and stack $stack was not changed."
    log "what to do: re-run the pull request's plan job (or push to it), review the new plan, and merge again; a plan above the cost limit needs its approver's name (--approved-by)"
    exit 1
fi
finish
