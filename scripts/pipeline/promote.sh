#!/usr/bin/env bash
# The promotion job: move the release SRC runs to DST without rebuilding it, through a saved plan.
#   scripts/pipeline/promote.sh --from SRC --to DST --out DIR [--approved-by NAME]
# 1. `modelstack promote` pins SRC's images (by digest) and model versions in DST's stack file
#    (holding DST's lock while it copies and writes);
# 2. `modelstack plan --stack DST`: the signed plan DIR/plan-DST.json and DIR/summary.md;
# 3. `modelstack apply` of exactly that plan (refused when DST moved in between, or above DST's
#    cost limit without --approved-by).
# The workflow commits the pins (stacks/Pulumi.DST.yaml) afterwards.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
PROGRESS_TAG="promote"
# shellcheck source=scripts/lib/progress.sh
. scripts/lib/progress.sh

src="" dst="" out="" approved_by=""
while [ $# -gt 0 ]; do
    case "$1" in
        --from) src="${2:-}"; shift 2 ;;
        --to) dst="${2:-}"; shift 2 ;;
        --out) out="${2:-}"; shift 2 ;;
        --approved-by) approved_by="${2:-}"; shift 2 ;;
        -h | --help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "usage: $0 --from SRC --to DST --out DIR [--approved-by NAME] (unknown argument: $1)" >&2; exit 2 ;;
    esac
done
if ! { [ -n "$src" ] && [ -n "$dst" ] && [ -n "$out" ]; }; then
    echo "usage: $0 --from SRC --to DST --out DIR [--approved-by NAME]" >&2
    exit 2
fi
mkdir -p "$out"
modelstack=venv/bin/modelstack

phase "modelstack promote --from $src --to $dst"
"$modelstack" promote --from "$src" --to "$dst" || die "the promotion was refused (above); stack $dst was not changed"
"$modelstack" check --stack "$dst" >&2 || die "stack $dst with the promoted release fails check (above)"

phase "modelstack plan --stack $dst"
# shellcheck source=scripts/pulumi-env.sh
. scripts/pulumi-env.sh "$dst" || die "the engine's settings for stack $dst were refused (above)"
policy=(--policy-pack policies)
[ -f "policies/config/$dst.json" ] && policy+=(--policy-pack-config "policies/config/$dst.json")
"$modelstack" plan --stack "$dst" --out "$out/plan-$dst.json" --summary "$out/summary.md" "${policy[@]}" \
    || die "the plan of stack $dst failed (above)"

phase "modelstack apply --stack $dst"
approval=()
[ -n "$approved_by" ] && approval=(--approved-by "$approved_by")
"$modelstack" apply "$out/plan-$dst.json" --stack "$dst" "${approval[@]}" \
    || die "the plan of stack $dst was not applied (above); stack $dst was not changed"
finish
