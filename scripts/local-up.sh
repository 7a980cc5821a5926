#!/usr/bin/env bash
# Bring up the `local` stack: the example model served by Docker on localhost, through the
# Pulumi engine, with a registry on this machine and the state backend in .modelstack/.
#
#   scripts/local-up.sh              set up what is missing, then `pulumi up --stack local`
#   scripts/local-up.sh --destroy    tear the local stack down (containers and registry)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PROGRESS_TAG=local-up
# shellcheck source=scripts/lib/progress.sh
. scripts/lib/progress.sh

if [ "${1:-}" = "--destroy" ]; then
    . scripts/pulumi-env.sh local
    pulumi destroy --stack local --yes --non-interactive
    exit 0
fi

scripts/setup.sh --no-cluster  # the Kubernetes test cluster is only for the tests
. scripts/pulumi-env.sh local
command -v pulumi >/dev/null \
    || die "the Pulumi CLI is not available. Fix: run scripts/bootstrap-pulumi.sh (builds it from Go modules here), or install it: https://www.pulumi.com/docs/install/"
pulumi stack select local --create --non-interactive >/dev/null
phase "pulumi up --stack local"
pulumi up --stack local --yes --non-interactive --skip-preview
end_phase
uri=$(pulumi stack output --stack local --json services | jq -er '.diabetes.scoring_uri')
cat <<MSG

The local stack is up. Score the example model:

  curl -s -X POST $uri -H 'Content-Type: application/json' -d '$(head -n 1 examples/diabetes/sample-requests.jsonl)'

All outputs:   . scripts/pulumi-env.sh local && pulumi stack output --stack local services
Tear it down:  scripts/local-up.sh --destroy
MSG
