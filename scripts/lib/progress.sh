# shellcheck shell=bash
# Progress lines with timings, shared by every script under scripts/ (source it; bash only).
# Set PROGRESS_TAG before sourcing: every line is "[<tag>] ..." on stderr, so that a script's
# stdout holds only what it is asked to print (a path, a status table, a mirror URL).
#   log MESSAGE        one progress line
#   warn MESSAGE       "WARNING: MESSAGE": something to know about, the script goes on
#   phase NAME         ends the phase before (with its time) and starts NAME
#   end_phase          ends the current phase;  finish: ends it and prints the total
#   since START_MS     the time since START_MS (from now_ms), e.g. "12.3s"
#   die MESSAGE        "error: MESSAGE", exit 1
#   die_log MESSAGE LOGFILE   the same, with the log to look at and its last lines
now_ms() { date +%s%3N; }
START_MS=$(now_ms)
PHASE=""
PHASE_MS=0
log() { printf '[%s] %s\n' "${PROGRESS_TAG:-modelstack}" "$*" >&2; }
warn() { log "WARNING: $*"; }
fmt_ms() { printf '%d.%01ds' $(($1 / 1000)) $((($1 % 1000) / 100)); }
since() { fmt_ms $(($(now_ms) - $1)); }
phase() {
    end_phase
    PHASE="$1"
    PHASE_MS=$(now_ms)
    log "==> $PHASE"
}
end_phase() {
    if [ -n "$PHASE" ]; then
        log "    done: $PHASE ($(since "$PHASE_MS"))"
        PHASE=""
    fi
}
finish() {
    end_phase
    log "total: $(since "$START_MS")"
}
die() {
    log "error: $*"
    exit 1
}
# show_tail FILE [LINES]: the last lines of a log, indented, on stderr
show_tail() {
    tail -n "${2:-25}" "$1" | sed 's/^/    | /' >&2
}
die_log() {
    log "error: $1"
    if [ -n "${2:-}" ] && [ -f "$2" ]; then
        log "look at: $2 (last lines below)"
        show_tail "$2"
    fi
    exit 1
}
