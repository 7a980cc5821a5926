#!/usr/bin/env bash
# Everything modelstack needs on this machine, idempotent: a second run only checks.
#
#   scripts/setup.sh            system packages, Docker daemon, venv, base image, Pulumi engine
#   scripts/setup.sh --no-engine    the same without the engine (enough for `modelstack check` and the unit tests)
#
# Each phase prints how long it took. Needs root for apt-get and dockerd (CI and the dev
# machines run as root; on a laptop with Docker Desktop the first two phases find Docker running).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

WITH_ENGINE=1
for arg in "$@"; do
    case "$arg" in
        --no-engine) WITH_ENGINE=0 ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "setup: unknown argument $arg (try --help)" >&2; exit 2 ;;
    esac
done

phase_started=0
phase() { phase_started=$(date +%s); printf '\n==> %s\n' "$1"; }
done_phase() { printf '    done in %ss\n' "$(( $(date +%s) - phase_started ))"; }

phase "system packages (docker.io, debootstrap, docker-registry, wrk)"
if command -v docker >/dev/null && docker info >/dev/null 2>&1 && command -v docker-registry >/dev/null && command -v wrk >/dev/null; then
    echo "    Docker answers; docker-registry and wrk are installed"
else
    scripts/install-system-deps.sh
fi
done_phase

phase "Docker daemon"
scripts/dockerd.sh start
done_phase

phase "Python virtualenv (venv/, pinned requirements.txt)"
if [ ! -x venv/bin/python ]; then
    python3 -m venv venv
fi
stamp=venv/.requirements.sha256
wanted=$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    venv/bin/pip install --disable-pip-version-check --quiet -r requirements.txt
    venv/bin/pip install --disable-pip-version-check --quiet --no-deps -e .
    echo "$wanted" > "$stamp"
else
    echo "    up to date"
fi
done_phase

phase "base image modelstack/python-base:bookworm (from Debian packages)"
scripts/build-base-image.sh
done_phase

phase "example models"
if [ ! -f examples/diabetes/model/ridge.joblib ] || [ ! -f examples/diabetes/model/lasso.joblib ]; then
    venv/bin/python examples/diabetes/train.py
else
    echo "    already trained"
fi
done_phase

if [ "$WITH_ENGINE" = 1 ]; then
    phase "Pulumi engine (.tools/bin)"
    scripts/bootstrap-pulumi.sh
    done_phase
fi
