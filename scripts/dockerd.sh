#!/usr/bin/env bash
# Run a Docker daemon on a Linux machine that has Docker installed but no Docker service
# (a CI runner, a container, a VM without systemd).
#
# Usage: sudo scripts/dockerd.sh start|stop|status
#
#   start   does nothing when a daemon already answers `docker info`; otherwise starts
#           `dockerd --iptables=false --ip6tables=false` in the background and waits
#           (bounded) until it answers. overlay2 is used when it works on the data root's
#           file system; otherwise vfs (much slower builds), and the script says so.
#   stop    stops the daemon this script started (by the PID in its pidfile) and waits for it
#           to exit. A daemon started any other way is left alone.
#   status  says whether a daemon answers and whether this script started it. Exit 3 if none.
#
# Environment (all optional):
#   MODELSTACK_DOCKER_DATA_ROOT       dockerd --data-root      (/var/lib/modelstack-docker)
#   MODELSTACK_DOCKER_RUN_DIR         where the pidfile lives   (/run/modelstack-docker)
#   MODELSTACK_DOCKER_LOG             dockerd's log file        (/var/log/modelstack-dockerd.log)
#   MODELSTACK_DOCKER_STORAGE_DRIVER  force a storage driver    (default: overlay2, else vfs)
#   MODELSTACK_DOCKER_START_TIMEOUT   seconds to wait for start (60)
#   MODELSTACK_DOCKER_STOP_TIMEOUT    seconds to wait for stop  (30, then SIGKILL)
set -euo pipefail

DATA_ROOT=${MODELSTACK_DOCKER_DATA_ROOT:-/var/lib/modelstack-docker}
RUN_DIR=${MODELSTACK_DOCKER_RUN_DIR:-/run/modelstack-docker}
PIDFILE=$RUN_DIR/dockerd.pid
LOG=${MODELSTACK_DOCKER_LOG:-/var/log/modelstack-dockerd.log}
START_TIMEOUT=${MODELSTACK_DOCKER_START_TIMEOUT:-60}
STOP_TIMEOUT=${MODELSTACK_DOCKER_STOP_TIMEOUT:-30}
# The socket the daemon started here listens on (dockerd's default).
OWN_HOST=unix:///var/run/docker.sock

PROGRESS_TAG=dockerd
# shellcheck source=scripts/lib/progress.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib/progress.sh"

usage() { # usage EXIT_CODE
  sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
  exit "$1"
}

need_root() {
  [ "$(id -u)" -eq 0 ] || die "dockerd must run as root: sudo $0 $*"
}

# docker_answers [HOST]: the daemon at HOST (default: the caller's DOCKER_HOST) answers.
docker_answers() {
  local host=${1:-${DOCKER_HOST:-}}
  DOCKER_HOST=$host timeout 10 docker info --format '{{.ServerVersion}}' >/dev/null 2>&1
}

server_summary() {
  local host=${1:-${DOCKER_HOST:-}}
  DOCKER_HOST=$host timeout 10 docker info \
    --format 'server {{.ServerVersion}}, storage driver {{.Driver}}, data root {{.DockerRootDir}}' 2>/dev/null \
    || echo "server details unavailable"
}

# alive PID: a running (not zombie) process
alive() {
  local state
  [ -r "/proc/$1/stat" ] || return 1
  state=$(awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# our_pid: print the PID of the dockerd this script started, if it is still running.
our_pid() {
  local pid
  [ -s "$PIDFILE" ] || return 1
  pid=$(tr -dc '0-9' <"$PIDFILE")
  [ -n "$pid" ] && alive "$pid" && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] || return 1
  echo "$pid"
}

# overlay_works: overlayfs can be mounted on the data root's file system (needs root).
overlay_reason=""
overlay_works() {
  local d rc=0
  d=$(mktemp -d "$DATA_ROOT/.overlay-check.XXXXXX")
  mkdir "$d/lower" "$d/upper" "$d/work" "$d/merged"
  echo ok >"$d/lower/file"
  if mount -t overlay overlay -o "lowerdir=$d/lower,upperdir=$d/upper,workdir=$d/work" "$d/merged" 2>"$d/err"; then
    if ! { [ "$(cat "$d/merged/file")" = ok ] && touch "$d/merged/new"; }; then
      rc=1; overlay_reason="overlay mount is not usable"
    fi
    umount "$d/merged" || umount -l "$d/merged" || true
  else
    rc=1; overlay_reason=$(tr -s '\n ' '  ' <"$d/err")
  fi
  rm -rf --one-file-system "$d"
  return $rc
}

launch() { # launch DRIVER: start dockerd in its own session; sets $pid
  local driver=$1
  printf '\n---- %s modelstack dockerd.sh start (storage driver %s)\n' "$(date -Is)" "$driver" >>"$LOG"
  setsid dockerd --iptables=false --ip6tables=false \
    --data-root "$DATA_ROOT" --storage-driver "$driver" --pidfile "$PIDFILE" \
    </dev/null >>"$LOG" 2>&1 &
  pid=$!
}

# wait_ready PID: 0 when the daemon answers, 1 when it died, 2 on timeout
wait_ready() {
  local pid=$1 deadline=$(( $(date +%s) + START_TIMEOUT )) next_note=$(( $(date +%s) + 10 ))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    if ! alive "$pid"; then return 1; fi
    if docker_answers "$OWN_HOST"; then return 0; fi
    if [ "$(date +%s)" -ge "$next_note" ]; then
      log "still waiting for dockerd (pid $pid) to answer..."
      next_note=$(( next_note + 10 ))
    fi
    sleep 0.5
  done
  return 2
}

cmd_start() {
  local t0 driver log_from rc
  t0=$(now_ms)
  if docker_answers; then
    log "a Docker daemon already answers at ${DOCKER_HOST:-the default socket} ($(server_summary)); nothing to do"
    return 0
  fi
  need_root start
  PATH="$PATH:/usr/sbin:/sbin"
  command -v dockerd >/dev/null 2>&1 || die "dockerd is not installed. Fix: sudo scripts/install-system-deps.sh"
  command -v docker >/dev/null 2>&1 || die "the docker client is not installed. Fix: sudo scripts/install-system-deps.sh"

  if pid=$(our_pid); then
    log "dockerd started by this script is already running (pid $pid) but does not answer yet; waiting"
  else
    if [ -e "$PIDFILE" ]; then
      log "removing stale pidfile $PIDFILE"
      rm -f "$PIDFILE"
    fi
    if [ -n "${DOCKER_HOST:-}" ] && [ "$DOCKER_HOST" != "$OWN_HOST" ]; then
      log "note: DOCKER_HOST=$DOCKER_HOST does not answer; the daemon started here listens on $OWN_HOST"
    fi
    mkdir -p "$DATA_ROOT" "$RUN_DIR" "$(dirname "$LOG")"

    if [ -n "${MODELSTACK_DOCKER_STORAGE_DRIVER:-}" ]; then
      driver=$MODELSTACK_DOCKER_STORAGE_DRIVER
      log "storage driver $driver (from MODELSTACK_DOCKER_STORAGE_DRIVER)"
    elif overlay_works; then
      driver=overlay2
      log "overlay2 works on $DATA_ROOT"
    else
      driver=vfs
      log "overlay2 does not work on $DATA_ROOT (${overlay_reason:-unknown reason}); falling back to vfs: image builds will be several times slower"
    fi
    log_from=$(( $(stat -c %s "$LOG" 2>/dev/null || echo 0) + 1 ))
    log "starting dockerd (data root $DATA_ROOT, storage driver $driver, log $LOG)"
    launch "$driver"
  fi

  rc=0; wait_ready "$pid" || rc=$?
  if [ "$rc" -eq 1 ] && [ "${driver:-}" = overlay2 ] && [ -z "${MODELSTACK_DOCKER_STORAGE_DRIVER:-}" ] \
     && tail -c +"$log_from" "$LOG" | grep -qiE 'overlay|storage.driver|d_type'; then
    log "dockerd exited with overlay2 (see below); falling back to vfs: image builds will be several times slower"
    tail -c +"$log_from" "$LOG" | grep -iE 'overlay|storage.driver|d_type' | tail -n 3 | sed 's/^/    | /' >&2
    driver=vfs
    log_from=$(( $(stat -c %s "$LOG" 2>/dev/null || echo 0) + 1 ))
    launch "$driver"
    rc=0; wait_ready "$pid" || rc=$?
  fi
  case $rc in
    0) ;;
    1) log "error: dockerd (pid $pid) exited during start-up; last lines of $LOG:"
       tail -c +"${log_from:-1}" "$LOG" | tail -n 15 | sed 's/^/    | /' >&2
       exit 1 ;;
    *) die "dockerd (pid $pid) did not answer within ${START_TIMEOUT} s; it is still running (stop it with: sudo $0 stop). Log: $LOG" ;;
  esac

  log "dockerd is up in $(since "$t0"): pid $pid, $(server_summary "$OWN_HOST")"
  if [ -n "${DOCKER_HOST:-}" ] && [ "$DOCKER_HOST" != "$OWN_HOST" ]; then
    log "use it with: export DOCKER_HOST=$OWN_HOST"
  fi
}

cmd_stop() {
  local pid t0 deadline
  t0=$(now_ms)
  if ! pid=$(our_pid); then
    if docker_answers || docker_answers "$OWN_HOST"; then
      log "a Docker daemon answers, but not one started by this script (no live dockerd in $PIDFILE); leaving it alone"
    else
      log "no dockerd started by this script is running; nothing to stop"
    fi
    rm -f "$PIDFILE" 2>/dev/null || true
    return 0
  fi
  need_root stop
  log "stopping dockerd (pid $pid); running containers are stopped by the daemon"
  kill -TERM "$pid"
  deadline=$(( $(date +%s) + STOP_TIMEOUT ))
  while alive "$pid" && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.2; done
  if alive "$pid"; then
    log "dockerd (pid $pid) did not exit within ${STOP_TIMEOUT} s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while alive "$pid"; do sleep 0.2; done
  fi
  rm -f "$PIDFILE"
  log "dockerd stopped in $(since "$t0")"
}

cmd_status() {
  local pid
  if pid=$(our_pid); then
    log "dockerd started by this script: pid $pid (pidfile $PIDFILE, log $LOG)"
  else
    log "no dockerd started by this script is running"
  fi
  if docker_answers; then
    log "Docker answers at ${DOCKER_HOST:-the default socket}: $(server_summary)"
    return 0
  elif [ -n "${DOCKER_HOST:-}" ] && docker_answers "$OWN_HOST"; then
    log "DOCKER_HOST=$DOCKER_HOST does not answer; $OWN_HOST does: $(server_summary "$OWN_HOST")"
    return 0
  fi
  log "no Docker daemon answers at ${DOCKER_HOST:-the default socket}"
  return 3
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  -h|--help|help) usage 0 ;;
  *) usage 2 ;;
esac
