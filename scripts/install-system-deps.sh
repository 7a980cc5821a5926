#!/usr/bin/env bash
# Install the Debian/Ubuntu packages the local stack needs, only those that are missing:
#   docker.io        Docker engine (skipped when any Docker engine, e.g. docker-ce, is present)
#   debootstrap      builds the Python base image from Debian packages (scripts/build-base-image.sh)
#   docker-registry  the `kind: local` container registry (components/targets/local/registry_server.py)
#   wrk              the HTTP load generator of `modelstack profile` and benchmarks/ (components/commands/profile/)
#   jq               reads JSON (go mod edit -json, go mod download -json, ip -j) in scripts/
#   nodejs, npm      run and install Azurite, the Azure Storage emulator of the shared-state tests (scripts/azurite.sh)
#
# Usage: sudo scripts/install-system-deps.sh
# Idempotent: runs `apt-get update` once and `apt-get install` only when something is missing.
set -euo pipefail

PROGRESS_TAG=install-system-deps
# shellcheck source=scripts/lib/progress.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib/progress.sh"

# package name -> a command that proves it (or an equivalent) is installed
declare -A provides=(
  [docker.io]=dockerd
  [debootstrap]=debootstrap
  [docker-registry]=docker-registry
  [wrk]=wrk
  [jq]=jq
  [nodejs]=node
  [npm]=npm
)
order=(docker.io debootstrap docker-registry wrk jq nodejs npm)

pkg_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing=()
for pkg in "${order[@]}"; do
  cmd=${provides[$pkg]}
  if pkg_installed "$pkg"; then
    log "$pkg: already installed ($(dpkg-query -W -f='${Version}' "$pkg"))"
  elif path=$(PATH="$PATH:/usr/sbin:/sbin" command -v "$cmd" 2>/dev/null); then
    # e.g. docker-ce from Docker's own repository: installing docker.io would conflict with it
    log "$pkg: not installed as a package, but $cmd is at $path; leaving it alone"
  else
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  log "nothing to install ($(since "$START_MS"))"
  exit 0
fi

command -v apt-get >/dev/null 2>&1 \
  || die "missing: ${missing[*]}, and apt-get is not available. Install them with your system's package manager (Debian/Ubuntu package names: ${missing[*]})."

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || die "missing: ${missing[*]}; run this script as root to install them"
  sudo_cmd=(sudo)
fi

log "missing: ${missing[*]}"
phase "apt-get update"
"${sudo_cmd[@]}" apt-get update -q
phase "apt-get install ${missing[*]}"
"${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
end_phase

for pkg in "${missing[@]}"; do
  pkg_installed "$pkg" || die "$pkg is still not installed after apt-get install"
done
finish
