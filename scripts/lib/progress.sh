# shellcheck shell=bash
# Progress lines with timings, shared by the build scripts (bootstrap-pulumi.sh, cluster.sh).
# Set PROGRESS_TAG before sourcing: every line is "[<tag>] ..." on stderr.
#   phase NAME   ends the phase before (with its time) and starts NAME
#   end_phase    ends the current phase;  finish: ends it and prints the total
#   die MESSAGE  prints the error and exits 1
now_ms() { date +%s%3N; }
START_MS=$(now_ms)
PHASE=""
PHASE_MS=0
log() { printf '[%s] %s\n' "${PROGRESS_TAG:-modelstack}" "$*" >&2; }
fmt_ms() { printf '%d.%01ds' $(($1 / 1000)) $((($1 % 1000) / 100)); }
phase() {
    end_phase
    PHASE="$1"
    PHASE_MS=$(now_ms)
    log "==> $PHASE"
}
end_phase() {
    if [ -n "$PHASE" ]; then
        log "    done: $PHASE ($(fmt_ms $(($(now_ms) - PHASE_MS))))"
        PHASE=""
    fi
}
finish() {
    end_phase
    log "total: $(fmt_ms $(($(now_ms) - START_MS)))"
}
die() {
    log "ERROR: $*"
    exit 1
}
