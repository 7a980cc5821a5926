#!/usr/bin/env bash
# Build the Python base image from Debian packages, without pulling from any container
# registry: debootstrap a minimal Debian with python3, python3-venv, python3-pip and
# ca-certificates, then `docker import` the tree as an image.
# This is how air-gapped machines get a base image: all it needs is a Debian mirror, the one apt
# uses on this machine or the one you name; the script itself names none.
#
# It also derives the runtime image from it (modelstack/python-runtime:bookworm for the default
# TAG): the same Debian and Python without pip, setuptools, venv, docs, man pages and locales.
# Service images install their virtualenv in a stage FROM the base and copy it into a final
# stage FROM the runtime image, so what they ship has no build tools (about 70 MB less).
# The runtime image is derived again whenever the base image changes.
#
# Usage: sudo scripts/build-base-image.sh [TAG] [--force]
#        scripts/build-base-image.sh --print-mirror
#   TAG      image tag to create (default modelstack/python-base:bookworm); its runtime image is
#            TAG with python-base replaced by python-runtime (or REPOSITORY-runtime:TAG)
#   --force  rebuild even when TAG already exists locally
#   --print-mirror  print the Debian mirror a build would use, and where it came from; exit 1 if none
#
# Environment (all optional):
#   MODELSTACK_DEBIAN_MIRROR  Debian mirror URL. Default: the main Debian archive apt uses on this
#                             machine (`deb` lines of /etc/apt/sources.list and sources.list.d/*.list,
#                             `Types: deb` stanzas of sources.list.d/*.sources). With neither, the
#                             script stops and says so.
#   MODELSTACK_APT_DIR        where apt's configuration is read from (default /etc/apt)
#   MODELSTACK_DEBIAN_SUITE   Debian release (default bookworm)
#   TMPDIR                    where the temporary root file system is built (default /var/tmp)
set -euo pipefail

DEFAULT_TAG=modelstack/python-base:bookworm
SUITE=${MODELSTACK_DEBIAN_SUITE:-bookworm}
PACKAGES=python3,python3-venv,python3-pip,ca-certificates

PROGRESS_TAG=build-base-image
# shellcheck source=scripts/lib/progress.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib/progress.sh"
usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; exit "$1"; }

tag="" force=0 print_mirror=0
for arg in "$@"; do
  case $arg in
    --force) force=1 ;;
    --print-mirror) print_mirror=1 ;;
    -h|--help) usage 0 ;;
    -*) log "error: unknown option $arg"; usage 2 ;;
    *) [ -z "$tag" ] || { log "error: more than one TAG given"; usage 2; }; tag=$arg ;;
  esac
done
tag=${tag:-$DEFAULT_TAG}
[[ $tag == *:* ]] || tag="$tag:latest"

APT_DIR=${MODELSTACK_APT_DIR:-/etc/apt}

# The archive URIs of apt's `deb` sources on this machine, one a line: one-line format
# (sources.list, sources.list.d/*.list; options in [...] skipped) and deb822 format
# (sources.list.d/*.sources; stanzas whose Types include deb and that are not Enabled: no).
apt_uris() {
  local f
  for f in "$APT_DIR/sources.list" "$APT_DIR"/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    awk '{ sub(/#.*/, "") } $1 == "deb" { line = $0; sub(/^[ \t]*deb[ \t]+/, "", line); sub(/^\[[^]]*\][ \t]*/, "", line)
           split(line, w, /[ \t]+/); if (w[1] != "") print w[1] }' "$f"
  done
  for f in "$APT_DIR"/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    awk 'function flush() { if (deb && enabled) for (i = 1; i <= n; i++) print uris[i]; deb = 0; enabled = 1; n = 0 }
         BEGIN { enabled = 1 }
         /^[ \t]*#/ { next }
         /^[ \t]*$/ { flush(); next }
         { key = tolower($1) }
         key == "types:" { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
         key == "enabled:" { enabled = (tolower($2) != "no") }
         key == "uris:" { for (i = 2; i <= NF; i++) uris[++n] = $i }
         END { flush() }' "$f"
  done
} 2>/dev/null

# The main Debian archive among them (.../debian, not debian-security, debian-ports or a
# third-party repository), or nothing.
apt_debian_mirror() {
  local uri
  while read -r uri; do
    uri=${uri%/}
    if [[ $uri =~ ^(https?|file)://.*/debian$ ]]; then echo "$uri"; return 0; fi
  done < <(apt_uris)
  return 1
}

mirror_source=""
choose_mirror() {
  if [ -n "${MODELSTACK_DEBIAN_MIRROR:-}" ]; then
    mirror=${MODELSTACK_DEBIAN_MIRROR%/}; mirror_source="MODELSTACK_DEBIAN_MIRROR"
  elif mirror=$(apt_debian_mirror); then
    mirror_source="apt's configuration in $APT_DIR"
  else
    die "no Debian mirror: apt's configuration ($APT_DIR/sources.list, $APT_DIR/sources.list.d/*.list and *.sources) has no deb source for a Debian archive (a URI ending in /debian), and MODELSTACK_DEBIAN_MIRROR is not set. Fix: MODELSTACK_DEBIAN_MIRROR=<URL of a Debian mirror or of your proxy of one> $0"
  fi
}

if [ "$print_mirror" -eq 1 ]; then
  choose_mirror
  printf '%s\t(from %s)\n' "$mirror" "$mirror_source"
  exit 0
fi

t_total=$(now_ms)
[ "$(id -u)" -eq 0 ] || die "debootstrap needs root: sudo $0 $*"
PATH="$PATH:/usr/sbin:/sbin"
command -v debootstrap >/dev/null 2>&1 || die "debootstrap is not installed. Fix: sudo scripts/install-system-deps.sh"
command -v docker >/dev/null 2>&1 || die "docker is not installed. Fix: sudo scripts/install-system-deps.sh"
timeout 10 docker info --format '{{.ServerVersion}}' >/dev/null 2>&1 \
  || die "the Docker daemon at ${DOCKER_HOST:-the default socket} does not answer. Fix: sudo scripts/dockerd.sh start (or start Docker Desktop / the docker service)"

# Debian packages a service's runtime does not need: its virtualenv is built in the base image.
RUNTIME_REMOVES="python3-pip python3-pip-whl python3-setuptools python3-setuptools-whl python3-wheel python3-pkg-resources python3-venv python3.11-venv"

runtime_tag_for() {
  local repository=${1%:*} version=${1##*:}
  if [[ $repository == *python-base* ]]; then echo "${repository/python-base/python-runtime}:$version"; else echo "$repository-runtime:$version"; fi
}

# The runtime image of $tag, derived again only when $tag changed since (a label records its id).
# apt and dpkg stay, so extra_docker_file_steps that apt-get install still work in it.
ensure_runtime() (
  local runtime base_id derived_from old_id container size t0
  runtime=$(runtime_tag_for "$tag")
  base_id=$(docker image inspect --format '{{.Id}}' "$tag")
  derived_from=$(docker image inspect --format '{{index .Config.Labels "io.modelstack.runtime-of"}}' "$runtime" 2>/dev/null || true)
  if [ "$derived_from" = "$base_id" ]; then
    log "$runtime is up to date with $tag; skipping"
    return 0
  fi
  t0=$(now_ms)
  log "deriving $runtime from $tag (without: $RUNTIME_REMOVES; docs, man pages, locales)"
  container=modelstack-runtime-$$
  trap 'docker rm -f "$container" >/dev/null 2>&1 || true' EXIT
  docker run --name "$container" --network none --user root "$tag" sh -ec '
    installed=""
    for package in '"$RUNTIME_REMOVES"'; do
      if dpkg-query -W -f="\${Status}" "$package" 2>/dev/null | grep -q "ok installed"; then installed="$installed $package"; fi
    done
    [ -z "$installed" ] || dpkg --purge $installed >/dev/null
    rm -rf /usr/share/doc/* /usr/share/man/* /usr/share/info/* /usr/share/locale/* /usr/share/lintian \
           /var/cache/debconf/*-old /var/lib/dpkg/*-old /var/log/*'
  old_id=$(docker image inspect --format '{{.Id}}' "$runtime" 2>/dev/null || true)
  docker export "$container" | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PYTHONUNBUFFERED=1' \
    --change "LABEL org.opencontainers.image.title=modelstack-python-runtime io.modelstack.runtime-of=$base_id" \
    --change 'CMD ["python3"]' \
    --message "$tag without $RUNTIME_REMOVES" \
    - "$runtime" >/dev/null
  if [ -n "$old_id" ] && [ "$old_id" != "$(docker image inspect --format '{{.Id}}' "$runtime")" ]; then
    if docker image rm "$old_id" >/dev/null 2>&1; then log "removed the previous $runtime ($old_id)"; fi
  fi
  docker run --rm --network none "$runtime" python3 -c 'import ssl, sqlite3, ctypes, json' \
    || die "the new runtime image $runtime does not run python3"
  size=$(docker image inspect --format '{{.Size}}' "$runtime")
  log "derived $runtime in $(since "$t0"): $(awk -v b="$size" 'BEGIN { printf "%.0f MB", b / 1e6 }')"
)

if [ "$force" -eq 0 ] && docker image inspect "$tag" >/dev/null 2>&1; then
  log "$tag already exists ($(docker image inspect --format '{{.Id}}, {{.Size}} bytes, created {{.Created}}' "$tag")); skipping. Use --force to rebuild."
  ensure_runtime
  exit 0
fi

old_id=$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
choose_mirror
# apt may be configured with a proxy that debootstrap (wget) would not know about
if [ -z "${http_proxy:-}" ] && command -v apt-config >/dev/null 2>&1; then
  eval "$(apt-config shell apt_http_proxy Acquire::http::Proxy)"
  if [ -n "${apt_http_proxy:-}" ] && [ "$apt_http_proxy" != DIRECT ]; then
    export http_proxy=$apt_http_proxy
    log "using apt's HTTP proxy $http_proxy"
  fi
fi

work=$(mktemp -d "${TMPDIR:-/var/tmp}/modelstack-base.XXXXXX")
rootfs=$work/rootfs
cleanup() {
  local m
  # debootstrap may leave proc/sys mounted inside the tree when it fails; never delete through them
  if [ -r /proc/self/mounts ]; then
    awk -v p="$work/" 'index($2, p) == 1 { print $2 }' /proc/self/mounts | sort -r | while read -r m; do
      umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done
  fi
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building $tag: debootstrap --variant=minbase $SUITE from $mirror (from $mirror_source; packages: $PACKAGES)"
t0=$(now_ms)
log=$work/debootstrap.log
mkdir -p "$rootfs"
# Progress: the first line of each debootstrap phase (and every warning or error); the full
# output goes to the log.
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$rootfs" "$mirror" 2>&1 | tee "$log" \
  | awk '/^[IWE]: / { verb = ($2 == "Validating") ? "Retrieving" : $2
           if ($1 != "I:" || verb != last) { if (more) printf "    ... and %d more\n", more; print "    " $0; more = 0 }
           else if (++more % 40 == 0) printf "    ... %d more so far\n", more
           last = verb; fflush() }' >&2 || true
if [ ! -x "$rootfs/usr/bin/python3" ] || ! grep -q 'Base system installed successfully' "$log"; then
  log "error: debootstrap failed; last lines of its output:"
  show_tail "$log" 20
  exit 1
fi
log "debootstrap done in $(since "$t0") ($(du -sh --one-file-system "$rootfs" | cut -f1))"

# Trim what an image does not need: downloaded .debs, apt lists, debootstrap's logs.
t0=$(now_ms)
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin \
       "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/bootstrap.log "$rootfs"/debootstrap
: >"$rootfs/etc/machine-id"
log "trimmed to $(du -sh --one-file-system "$rootfs" | cut -f1) in $(since "$t0")"

log "docker import -> $tag"
t0=$(now_ms)
image_id=$(tar --numeric-owner -C "$rootfs" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENV PYTHONUNBUFFERED=1' \
  --change "LABEL org.opencontainers.image.title=modelstack-python-base org.opencontainers.image.base.name=debian:$SUITE io.modelstack.debian-mirror=$mirror" \
  --change 'CMD ["python3"]' \
  --message "debootstrap --variant=minbase --include=$PACKAGES $SUITE $mirror" \
  - "$tag")
log "imported in $(since "$t0"): $image_id"
if [ -n "$old_id" ] && [ "$old_id" != "$image_id" ]; then
  # the image --force replaced; kept when something still uses it
  if docker image rm "$old_id" >/dev/null 2>&1; then log "removed the previous $tag ($old_id)"; fi
fi

python_version=$(docker run --rm --network none "$tag" python3 -c 'import sys, ssl; print(sys.version.split()[0])' 2>&1) \
  || die "the new image $tag does not run python3: $python_version"
size=$(docker image inspect --format '{{.Size}}' "$tag")
log "built $tag in $(since "$t_total"): Python $python_version, $(awk -v b="$size" 'BEGIN { printf "%.0f MB", b / 1e6 }')"
ensure_runtime
