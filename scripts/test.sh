#!/usr/bin/env bash
# Run the whole test suite: unit tests (mock runtime), integration tests (real Docker, a real
# local registry, real containers) and end-to-end tests (the Pulumi engine on the local stack).
# Sets up whatever is missing first (scripts/setup.sh). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! scripts/setup.sh; then
    echo "test: setup failed (see above)" >&2
    exit 1
fi
. scripts/pulumi-env.sh local
printf '\n==> pytest\n'
started=$(date +%s)
venv/bin/python -m pytest "$@"
printf '    tests done in %ss\n' "$(( $(date +%s) - started ))"
