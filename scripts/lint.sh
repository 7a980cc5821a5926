#!/usr/bin/env bash
# Lint, format and type checks of the Python code, with the venv's ruff and mypy (pinned in
# requirements-test.txt) and pyproject.toml's configuration:
#   ruff check            bugs and dead code (pyflakes, pycodestyle errors, bugbear, isort, pyupgrade)
#   ruff format --check   the formatter would change nothing
#   mypy                  types
# Exits non-zero when any of them finds something; every check runs either way, so one run shows
# all the findings.
#
#   scripts/lint.sh           over components/, modelstack_server/, policies/, tests/ and benchmarks/
#                             (those that exist)
#   scripts/lint.sh PATH...   over these paths only
#
# scripts/test.sh runs it before the tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PROGRESS_TAG=lint
# shellcheck source=scripts/lib/progress.sh
. scripts/lib/progress.sh

paths=("$@")
if [ ${#paths[@]} -eq 0 ]; then
    for candidate in components modelstack_server policies tests benchmarks; do
        [ -e "$candidate" ] && paths+=("$candidate")
    done
fi
[ ${#paths[@]} -gt 0 ] || die "nothing to check: none of the paths exists"
for tool in ruff mypy; do
    [ -x "venv/bin/$tool" ] || die "venv/bin/$tool is missing: scripts/setup.sh installs it (requirements-test.txt)"
done

failed=()
phase "ruff check ${paths[*]}"
venv/bin/ruff check "${paths[@]}" || failed+=("ruff check")
phase "ruff format --check ${paths[*]}"
venv/bin/ruff format --check "${paths[@]}" || failed+=("ruff format --check")
phase "mypy ${paths[*]}"
venv/bin/mypy "${paths[@]}" || failed+=("mypy")
finish

if [ ${#failed[@]} -gt 0 ]; then
    log "FAILED: $(IFS=,; echo "${failed[*]}") (see above; \`venv/bin/ruff format PATH\` and \`venv/bin/ruff check --fix PATH\` fix much of it)"
    exit 1
fi
log "clean"
