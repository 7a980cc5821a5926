#!/usr/bin/env bash
# Azurite, Microsoft's Azure Storage emulator: a real Azure Blob Storage API on this machine, where
# the engine's azblob:// state backend keeps a stack's shared state as it would in a team's storage
# account (docs/team.md).
#
# Usage: scripts/azurite.sh install|start|stop|status|env
#
#   install  the `azurite` npm package pinned by tools/azurite/package-lock.json, with `npm ci` into
#            .tools/azurite/ (Node and npm from Debian's packages: scripts/install-system-deps.sh).
#            A second run only checks.
#   start    serves the Blob API on 127.0.0.1, on a free port it picks (never a fixed one), with its
#            data in .modelstack/azurite/data, and creates the state container. Does nothing when
#            the Azurite it started is running.
#   stop     stops the Azurite this script started (by the PID in its PID file) and waits for it
#            to exit. The data stays for the next start.
#   status   says whether it runs, where, and with which container. Exit 3 when it does not run.
#   env      prints the exports a shell needs to use it as the state backend:
#              eval "$(scripts/azurite.sh env)"
#            PULUMI_BACKEND_URL (azblob://CONTAINER?localemu=true&domain=127.0.0.1:PORT&protocol=http),
#            AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY (the emulator's public development account
#            and key, read from the installed Azurite).
#
# Environment (all optional):
#   MODELSTACK_AZURITE_DIR        its PID, port and log files and data (.modelstack/azurite)
#   MODELSTACK_AZURITE_CONTAINER  the state container (modelstack-state)
#   MODELSTACK_AZURITE_TIMEOUT    seconds to wait for it to answer, or to exit (30)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PROGRESS_TAG=azurite
# shellcheck source=scripts/lib/progress.sh
. scripts/lib/progress.sh

PINS=tools/azurite
INSTALL_DIR=.tools/azurite
PACKAGE=$INSTALL_DIR/node_modules/azurite
MAIN=$PACKAGE/dist/src/blob/main.js
CONSTANTS=$PACKAGE/dist/src/common/utils/constants.js
RUN_DIR=${MODELSTACK_AZURITE_DIR:-.modelstack/azurite}
PIDFILE=$RUN_DIR/azurite.pid
PORTFILE=$RUN_DIR/azurite.port
LOG=$RUN_DIR/azurite.log
DATA=$RUN_DIR/data
CONTAINER=${MODELSTACK_AZURITE_CONTAINER:-modelstack-state}
TIMEOUT=${MODELSTACK_AZURITE_TIMEOUT:-30}

usage() { # usage EXIT_CODE
    sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
    exit "$1"
}

pins_digest() { cat "$PINS/package.json" "$PINS/package-lock.json" | sha256sum | cut -d' ' -f1; }
pinned_version() { jq -r '.packages["node_modules/azurite"].version' "$PINS/package-lock.json"; }

installed() {
    [ -f "$MAIN" ] && [ -f "$CONSTANTS" ] && [ "$(cat "$INSTALL_DIR/.pins.sha256" 2>/dev/null)" = "$(pins_digest)" ]
}

install() {
    if installed; then
        log "Azurite $(pinned_version) is installed in $INSTALL_DIR ($(since "$START_MS"))"
        return 0
    fi
    { command -v node >/dev/null && command -v npm >/dev/null; } \
        || die "Node.js and npm are not installed: run scripts/install-system-deps.sh (Debian's nodejs and npm packages)"
    phase "npm ci: azurite $(pinned_version) into $INSTALL_DIR (pinned by $PINS/package-lock.json)"
    mkdir -p "$INSTALL_DIR"
    cp "$PINS/package.json" "$PINS/package-lock.json" "$INSTALL_DIR/"
    # --ignore-scripts: Azurite is plain JavaScript; nothing of it needs an install script run.
    (cd "$INSTALL_DIR" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error) >&2
    { [ -f "$MAIN" ] && [ -f "$CONSTANTS" ]; } || die "npm ci finished but $MAIN or $CONSTANTS is missing"
    pins_digest >"$INSTALL_DIR/.pins.sha256"
    finish
}

# alive PID: a running (not zombie) process
alive() {
    local state
    [ -r "/proc/$1/stat" ] || return 1
    state=$(awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# our_pid: the PID of the Azurite this script started, if it still runs
our_pid() {
    local pid
    [ -s "$PIDFILE" ] || return 1
    pid=$(tr -dc '0-9' <"$PIDFILE")
    [ -n "$pid" ] && alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "azurite" || return 1
    echo "$pid"
}

port() { tr -dc '0-9' <"$PORTFILE"; }

answers() { # answers PORT: the Blob API answers on it (an unsigned request gets an HTTP status)
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$1/devstoreaccount1?comp=list") || return 1
    [ "$code" != 000 ]
}

# The emulator's development account and its public key, from the installed Azurite itself.
account_name() { node -e 'process.stdout.write(require(process.argv[1]).EMULATOR_ACCOUNT_NAME)' "$PWD/$CONSTANTS"; }
account_key() { node -e 'process.stdout.write(require(process.argv[1]).EMULATOR_ACCOUNT_KEY.toString("base64"))' "$PWD/$CONSTANTS"; }
backend_url() { printf 'azblob://%s?localemu=true&domain=127.0.0.1:%s&protocol=http' "$CONTAINER" "$1"; }

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

create_container() { # create_container PORT
    local python=venv/bin/python
    [ -x "$python" ] || python=python3
    PULUMI_BACKEND_URL=$(backend_url "$1") AZURE_STORAGE_ACCOUNT=$(account_name) AZURE_STORAGE_KEY=$(account_key) \
        "$python" -c 'import os, sys; sys.path.insert(0, os.getcwd())
from components.errors import ModelstackError
from components.state.backend import create_container
try:
    print(create_container(os.environ["PULUMI_BACKEND_URL"], os.environ))
except ModelstackError as error:
    sys.exit(f"error: {error}")'
}

start() {
    local pid try p waited
    if pid=$(our_pid); then
        log "already running (pid $pid, 127.0.0.1:$(port))"
        return 0
    fi
    installed || die "Azurite is not installed (or not the pinned $(pinned_version)): run scripts/azurite.sh install (or scripts/setup.sh)"
    mkdir -p "$DATA"
    rm -f "$PIDFILE" "$PORTFILE"
    # A free port can be taken between the check and Azurite's bind: try a few.
    for try in 1 2 3 4 5; do
        p=$(free_port)
        phase "Azurite on 127.0.0.1:$p (data in $DATA, try $try)"
        nohup node "$MAIN" --blobHost 127.0.0.1 --blobPort "$p" --location "$DATA" \
            --skipApiVersionCheck --loose --disableProductStyleUrl --disableTelemetry >>"$LOG" 2>&1 </dev/null &
        pid=$!
        echo "$pid" >"$PIDFILE"
        waited=0
        while alive "$pid" && ! answers "$p"; do
            [ "$waited" -ge $((TIMEOUT * 10)) ] && break
            sleep 0.1
            waited=$((waited + 1))
        done
        if alive "$pid" && answers "$p"; then
            echo "$p" >"$PORTFILE"
            phase "the state container $CONTAINER"
            create_container "$p" >&2 || { stop; die "could not create the state container $CONTAINER (log: $LOG)"; }
            finish
            return 0
        fi
        if alive "$pid"; then
            stop_pid "$pid"
            die_log "Azurite (pid $pid) did not answer on 127.0.0.1:$p within ${TIMEOUT}s" "$LOG"
        fi
        warn "Azurite exited at start (port $p taken?); trying another port"
    done
    rm -f "$PIDFILE"
    die_log "Azurite did not start on any of 5 free ports" "$LOG"
}

stop_pid() { # stop_pid PID: TERM, wait, then KILL
    local waited=0
    kill -TERM "$1" 2>/dev/null || true
    while alive "$1" && [ "$waited" -lt $((TIMEOUT * 10)) ]; do
        sleep 0.1
        waited=$((waited + 1))
    done
    if alive "$1"; then
        warn "Azurite (pid $1) did not exit within ${TIMEOUT}s of SIGTERM: SIGKILL"
        kill -KILL "$1" 2>/dev/null || true
    fi
}

stop() {
    local pid
    if pid=$(our_pid); then
        stop_pid "$pid"
        log "stopped Azurite (pid $pid); its data stays in $DATA"
    else
        log "not running (no live Azurite in $PIDFILE)"
    fi
    rm -f "$PIDFILE" "$PORTFILE"
}

status() {
    local pid
    if pid=$(our_pid); then
        echo "running: pid $pid, Blob API on http://127.0.0.1:$(port)/$(account_name), container $CONTAINER, data in $DATA"
        return 0
    fi
    echo "not running"
    return 3
}

print_env() {
    our_pid >/dev/null || die "Azurite is not running: scripts/azurite.sh start"
    printf "export PULUMI_BACKEND_URL='%s'\n" "$(backend_url "$(port)")"
    printf "export AZURE_STORAGE_ACCOUNT='%s'\n" "$(account_name)"
    printf "export AZURE_STORAGE_KEY='%s'\n" "$(account_key)"
}

case "${1:-}" in
    install) install ;;
    start) start ;;
    stop) stop ;;
    status) status ;;
    env) print_env ;;
    -h | --help) usage 0 ;;
    *) usage 2 >&2 ;;
esac
