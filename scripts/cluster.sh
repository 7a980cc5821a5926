#!/usr/bin/env bash
# A real single-node Kubernetes cluster for modelstack's tests, built from Go modules and Debian
# packages and run as host processes (no VM, no node image, nothing pulled from a registry).
#
# Usage: sudo scripts/cluster.sh COMMAND [ARGS]
#
#   build               build what is missing into .tools/kube/ (cached by version; a second run
#                       reuses the binaries): one multi-call binary (kube-apiserver,
#                       kube-controller-manager, kube-scheduler, kubelet, kube-proxy, etcd, kubectl)
#                       from tools/kube, Traefik from tools/traefik, metrics-server from
#                       tools/metrics-server, the pod sandbox (pause) binary and its image, and the
#                       HTTP test server of the cluster tests.
#   start               build what is missing, install missing Debian packages, then start (or
#                       finish starting) the cluster; waits until the node is Ready, the default
#                       ServiceAccount exists, the Gateway API CRDs are Established and Traefik's
#                       GatewayClass is Accepted. Idempotent: a start after a crash converges.
#   stop                stop every process the cluster runs (by PID), unmount what it mounted,
#                       delete its bridge and veths, remove the iptables rules and chains it added
#                       and restore the sysctls the kubelet changed. Idempotent. Data (etcd,
#                       certificates, images) is kept for a fast next start.
#   status              say what runs (exit 0 when everything runs, 3 otherwise).
#   load-image IMAGE    copy a Docker image into the cluster's containerd (docker save | ctr
#                       import, namespace k8s.io). Use it in pods with imagePullPolicy: Never.
#   load-image --tar F  import an image archive (docker save / OCI layout tar) instead.
#   kubectl ARGS...     run kubectl against the cluster (admin credentials).
#   destroy             stop, then delete the data folder (etcd, certificates, images).
#
# After start, .modelstack/cluster/state.env (shell syntax, KEY=value) tells tests where things are:
#   KUBECONFIG, GATEWAY_PORT (Traefik's Gateway listener on 127.0.0.1), GATEWAY_CLASS, NODE_NAME,
#   POD_CIDR, SERVICE_CIDR, KUBE_VERSION, TEST_SERVER_BIN, METRICS_SERVER (yes/no), DATA_DIR.
#
# Addresses: pods get 10.213.0.0/24 (the node's own address, on the cluster's bridge, is the first
# one), Services 10.214.0.0/24. Neither is a default of Docker, Podman, kind, k3s, minikube or the
# common CNIs; start refuses to run when either overlaps an address or route of the machine.
# Everything the cluster serves listens on 127.0.0.1 or the bridge address, except the API server
# (all addresses, TLS and client certificates required: pods reach it through its Service).
#
# Environment (all optional):
#   MODELSTACK_CLUSTER_DIR            data folder          (<repo>/.modelstack/cluster)
#   MODELSTACK_CLUSTER_POD_CIDR       pod range (/24..16)  (10.213.0.0/24)
#   MODELSTACK_CLUSTER_SERVICE_CIDR   Service range        (10.214.0.0/24)
#   MODELSTACK_CLUSTER_PORT_BASE      first of the ports the components listen on (16400; uses
#                                     base+0 .. base+15 on 127.0.0.1 / the bridge address)
#   MODELSTACK_CLUSTER_GATEWAY_PORT   Traefik's Gateway listener port on 127.0.0.1 (base+80)
#   MODELSTACK_CLUSTER_METRICS_SERVER 0 to leave metrics-server out (1)
#   MODELSTACK_CLUSTER_START_TIMEOUT  seconds to wait for each readiness step (120)
#   GO                                go binary (default: `go` on PATH, else /usr/local/go/bin/go)
#   GOMODCACHE, GOCACHE, GOPROXY, ... are honoured as usual.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
TOOLS_ROOT="$REPO_ROOT/.tools/kube"
DATA="${MODELSTACK_CLUSTER_DIR:-$REPO_ROOT/.modelstack/cluster}"

GATEWAY_API_MODULE=sigs.k8s.io/gateway-api
GATEWAY_API_VERSION=v1.4.1
GATEWAY_CLASS=modelstack
TRAEFIK_CONTROLLER=traefik.io/gateway-controller
NODE_NAME=modelstack
BRIDGE=mskbr0
CNI_NETWORK=modelstack-cluster
CNI_BIN_DIR=/usr/lib/cni
PAUSE_IMAGE=modelstack.local/pause:1

POD_CIDR="${MODELSTACK_CLUSTER_POD_CIDR:-10.213.0.0/24}"
SERVICE_CIDR="${MODELSTACK_CLUSTER_SERVICE_CIDR:-10.214.0.0/24}"
PORT_BASE="${MODELSTACK_CLUSTER_PORT_BASE:-16400}"
ETCD_PORT=$((PORT_BASE + 0))
ETCD_PEER_PORT=$((PORT_BASE + 1))
APISERVER_PORT=$((PORT_BASE + 2))
KCM_PORT=$((PORT_BASE + 3))
SCHEDULER_PORT=$((PORT_BASE + 4))
KUBELET_PORT=$((PORT_BASE + 5))
KUBELET_HEALTHZ_PORT=$((PORT_BASE + 6))
PROXY_METRICS_PORT=$((PORT_BASE + 7))
PROXY_HEALTHZ_PORT=$((PORT_BASE + 8))
TRAEFIK_ADMIN_PORT=$((PORT_BASE + 9))
METRICS_SERVER_PORT=$((PORT_BASE + 10))
GATEWAY_PORT="${MODELSTACK_CLUSTER_GATEWAY_PORT:-$((PORT_BASE + 80))}"
WANT_METRICS_SERVER="${MODELSTACK_CLUSTER_METRICS_SERVER:-1}"
TIMEOUT="${MODELSTACK_CLUSTER_START_TIMEOUT:-120}"

# The kubelet and kube-proxy change these; start records them once, stop puts them back.
SYSCTLS=(
    kernel.panic kernel.panic_on_oops vm.overcommit_memory vm.panic_on_oom
    kernel.keys.root_maxkeys kernel.keys.root_maxbytes
    net.ipv4.ip_forward net.ipv6.conf.all.forwarding net.ipv4.conf.all.route_localnet
    net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables
    net.netfilter.nf_conntrack_max net.netfilter.nf_conntrack_tcp_timeout_established
    net.netfilter.nf_conntrack_tcp_timeout_close_wait
)
# Debian package -> a file that proves it is installed
declare -A DEB_PROVIDES=(
    [containerd]=/usr/bin/containerd
    [runc]=/usr/sbin/runc
    [containernetworking-plugins]=/usr/lib/cni/bridge
    [conntrack]=/usr/sbin/conntrack
    [iptables]=/usr/sbin/iptables
    [openssl]=/usr/bin/openssl
    [curl]=/usr/bin/curl
    [iproute2]=/usr/sbin/ip
    [util-linux]=/usr/bin/findmnt
    [jq]=/usr/bin/jq
)
DEB_ORDER=(containerd runc containernetworking-plugins conntrack iptables openssl curl iproute2 util-linux jq)

# the system's Python for the helpers in scripts/lib/*.py (a version manager's shim starts slowly)
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
LIB="$SCRIPT_DIR/lib"
# the configuration files and manifests, with ${NAME} placeholders (render below)
TEMPLATES="$SCRIPT_DIR/cluster"

# ---------------------------------------------------------------------------------------------
# progress and timings (scripts/lib/progress.sh, shared by every script)
PROGRESS_TAG=cluster
# shellcheck source=scripts/lib/progress.sh
. "$SCRIPT_DIR/lib/progress.sh"

# render TEMPLATE OUT NAME=VALUE...: scripts/cluster/TEMPLATE with those ${NAME}s filled in, to
# OUT ("-": stdout); a placeholder without a value is an error (scripts/lib/render_template.py)
render() {
    local template="$1" out="$2"
    shift 2
    "$PY" "$LIB/render_template.py" "$TEMPLATES/$template" "$out" "$@" || die "could not write $out from $TEMPLATES/$template"
}

usage() { # usage EXIT_CODE
    sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
    exit "$1"
}

need_root() {
    [ "$(id -u)" -eq 0 ] || die "the cluster needs root (network, mounts, cgroups): sudo $0 $*"
    [ "$(uname -s)" = Linux ] || die "the cluster runs on Linux only"
}

go_bin() {
    local g="${GO:-}"
    if [ -z "$g" ]; then
        g="$(command -v go || true)"
        [ -n "$g" ] || g=/usr/local/go/bin/go
    fi
    [ -x "$g" ] || die "Go is needed to build the cluster's binaries and was not found (set GO=/path/to/go)"
    printf '%s\n' "$g"
}

# version of MODULE required by the go.mod FILE
mod_version() { # $1 = go.mod, $2 = module path
    local go
    go="$(go_bin)"
    command -v jq >/dev/null 2>&1 || die "jq is needed to read the go.mod files (sudo scripts/install-system-deps.sh)"
    "$go" mod edit -json "$1" | jq -r --arg m "$2" 'first(.Require[]? | select(.Path == $m) | .Version) // empty'
}

# sha256 of the files that make a binary (sources and module files): a change rebuilds it
src_hash() { # files or folders...
    find "$@" -maxdepth 1 -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print0 | sort -z \
        | xargs -0 sha256sum | sed "s# $REPO_ROOT/# #" | sha256sum | cut -c1-16
}

KUBE_VERSION="$(mod_version "$REPO_ROOT/tools/kube/go.mod" k8s.io/kubernetes)"
ETCD_VERSION="$(mod_version "$REPO_ROOT/tools/kube/go.mod" go.etcd.io/etcd/server/v3)"
TRAEFIK_VERSION="$(mod_version "$REPO_ROOT/tools/traefik/go.mod" github.com/traefik/traefik/v3)"
METRICS_SERVER_VERSION="$(mod_version "$REPO_ROOT/tools/metrics-server/go.mod" sigs.k8s.io/metrics-server)"
KUBE_DIR="$TOOLS_ROOT/$KUBE_VERSION"
KUBE_BIN="$KUBE_DIR/bin/kube"
TRAEFIK_BIN="$TOOLS_ROOT/traefik-$TRAEFIK_VERSION/bin/traefik"
METRICS_SERVER_BIN="$TOOLS_ROOT/metrics-server-$METRICS_SERVER_VERSION/bin/metrics-server"
HELPERS_DIR="$TOOLS_ROOT/helpers-$(src_hash "$REPO_ROOT/tools/kube/go.mod" "$REPO_ROOT/tools/kube/pause" "$REPO_ROOT/tools/kube/testserver")"
PAUSE_TAR="$HELPERS_DIR/pause-image.tar"
TEST_SERVER_BIN="$HELPERS_DIR/testserver"
COMPONENTS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy etcd kubectl)

# ---------------------------------------------------------------------------------------------
# build

# go_build NAME MODULE_SRC OUT PACKAGE LDFLAGS HASH_OF [prepare-function]: build PACKAGE of a
# scratch copy of the tools module MODULE_SRC into OUT (atomically), with a stamp next to it of
# the sources it is made of (HASH_OF: files or folders, space-separated).
go_build() {
    local name="$1" src="$2" out="$3" pkg="$4" ldflags="$5" hash_of="$6" prepare="${7:-}"
    local go work stamp want
    stamp="$out.stamp"
    # shellcheck disable=SC2086
    want="$(src_hash $hash_of)"
    if [ -x "$out" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        log "$name: cached at ${out#"$REPO_ROOT"/}"
        return 0
    fi
    go="$(go_bin)"
    phase "build $name"
    work="$TOOLS_ROOT/build/$name"
    rm -rf "$work"
    mkdir -p "$work" "$(dirname "$out")"
    cp -R "$src/." "$work/"
    local t0
    t0=$(now_ms)
    (
        cd "$work"
        export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod" CGO_ENABLED=0
        if [ -n "$prepare" ]; then "$prepare" "$go"; fi
        "$go" build -trimpath -buildvcs=false -ldflags "$ldflags" -o "$out.tmp" "$pkg"
    ) || die "go build of $name failed (output above); the scratch module is $work"
    mv -f "$out.tmp" "$out"
    printf '%s\n' "$want" >"$stamp"
    rm -rf "$work"
    log "$name: built in $(fmt_ms $(($(now_ms) - t0))), $(du -h "$out" | cut -f1)"
    end_phase
}

# In the scratch copy of tools/kube: re-derive the staging replace lines from k8s.io/kubernetes'
# own go.mod at KUBE_VERSION (k8s.io/X => k8s.io/X v0.<minor>.<patch>).
prepare_kube_module() {
    local go="$1" kgomod staging old
    kgomod="$("$go" mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | jq -r '.GoMod // empty')"
    [ -f "$kgomod" ] || die "cannot download k8s.io/kubernetes@$KUBE_VERSION through the module proxy"
    staging="v0.${KUBE_VERSION#v1.}"
    for old in $("$go" mod edit -json "$kgomod" | jq -r '.Replace[]? | select(.New.Path | startswith("./staging/src/")) | .Old.Path'); do
        case "$old" in k8s.io/sample-cli-plugin | k8s.io/sample-controller) continue ;; esac
        "$go" mod edit -replace="$old=$old@$staging"
    done
}

kube_ldflags() {
    local v="$KUBE_VERSION" minor flags="-s -w" kv
    minor="${v#v1.}"
    minor="${minor%%.*}"
    for kv in "gitVersion=$v" gitMajor=1 "gitMinor=$minor" gitTreeState=clean buildDate=1970-01-01T00:00:00Z; do
        flags="$flags -X k8s.io/component-base/version.$kv -X k8s.io/client-go/pkg/version.$kv"
    done
    printf '%s\n' "$flags"
}

# A docker-archive tarball (what `docker save` writes) of one static binary as /ENTRY.
make_image_tar() { # binary tag entry out
    "$PY" "$LIB/docker_archive.py" "$@"
}

cmd_build() {
    mkdir -p "$TOOLS_ROOT"
    exec 8>"$TOOLS_ROOT/.build.lock"
    if ! flock -n 8; then
        # scripts/test.sh builds in the background while the other tests run: wait for it
        log "waiting for the build another scripts/cluster.sh is running (lock $TOOLS_ROOT/.build.lock)"
        flock -w 3600 8 || die "another scripts/cluster.sh build has held $TOOLS_ROOT/.build.lock for an hour"
    fi
    log "Kubernetes $KUBE_VERSION (etcd $ETCD_VERSION), Traefik $TRAEFIK_VERSION, metrics-server $METRICS_SERVER_VERSION"
    local k="$REPO_ROOT/tools/kube"
    go_build "kube-$KUBE_VERSION" "$k" "$KUBE_BIN" . "$(kube_ldflags)" "$k" prepare_kube_module
    local c
    for c in "${COMPONENTS[@]}"; do ln -sfn kube "$KUBE_DIR/bin/$c"; done
    go_build "traefik-$TRAEFIK_VERSION" "$REPO_ROOT/tools/traefik" "$TRAEFIK_BIN" \
        github.com/traefik/traefik/v3/cmd/traefik \
        "-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=$TRAEFIK_VERSION" "$REPO_ROOT/tools/traefik"
    if [ "$WANT_METRICS_SERVER" = 1 ]; then
        go_build "metrics-server-$METRICS_SERVER_VERSION" "$REPO_ROOT/tools/metrics-server" "$METRICS_SERVER_BIN" \
            sigs.k8s.io/metrics-server/cmd/metrics-server "-s -w" "$REPO_ROOT/tools/metrics-server"
    fi
    go_build pause "$k" "$HELPERS_DIR/pause" ./pause "-s -w" "$k/go.mod $k/pause"
    go_build testserver "$k" "$TEST_SERVER_BIN" ./testserver "-s -w" "$k/go.mod $k/testserver"
    if [ ! -s "$PAUSE_TAR" ]; then
        make_image_tar "$HELPERS_DIR/pause" "$PAUSE_IMAGE" /pause "$PAUSE_TAR.tmp"
        mv -f "$PAUSE_TAR.tmp" "$PAUSE_TAR"
    fi
    end_phase
    log "binaries: ${KUBE_DIR#"$REPO_ROOT"/}/bin/{kube,$(IFS=,; echo "${COMPONENTS[*]}")}"
    log "          ${TRAEFIK_BIN#"$REPO_ROOT"/}"
    [ "$WANT_METRICS_SERVER" = 1 ] && log "          ${METRICS_SERVER_BIN#"$REPO_ROOT"/}"
    log "          ${HELPERS_DIR#"$REPO_ROOT"/}/{pause,pause-image.tar,testserver}"
    flock -u 8
}

# ---------------------------------------------------------------------------------------------
# Debian packages

install_debs() {
    local pkg missing=()
    for pkg in "${DEB_ORDER[@]}"; do
        [ -e "${DEB_PROVIDES[$pkg]}" ] || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null 2>&1 || die "missing Debian packages: ${missing[*]} (and no apt-get to install them)"
    phase "apt-get install ${missing[*]}"
    local aptlog
    aptlog="$(mktemp /tmp/modelstack-cluster-apt.XXXXXX.log)"
    export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
    apt-get update -q >"$aptlog" 2>&1 || die_log "apt-get update failed" "$aptlog"
    apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$aptlog" 2>&1 \
        || die_log "apt-get install ${missing[*]} failed" "$aptlog"
    rm -f "$aptlog"
    for pkg in "${missing[@]}"; do
        [ -e "${DEB_PROVIDES[$pkg]}" ] || die "$pkg installed but ${DEB_PROVIDES[$pkg]} is missing"
    done
    end_phase
}

# ---------------------------------------------------------------------------------------------
# processes: every one the cluster starts is recorded in $DATA/pids/NAME.pid

# alive PID: a running (not zombie) process
alive() {
    local state
    [ -r "/proc/$1/stat" ] || return 1
    state=$(awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# our_pid NAME: the PID of the cluster's NAME process if it runs (its command line names $DATA,
# so a recycled PID is never taken for ours)
our_pid() {
    local f="$DATA/pids/$1.pid" pid
    [ -s "$f" ] || return 1
    pid=$(tr -dc '0-9' <"$f")
    [ -n "$pid" ] && alive "$pid" || return 1
    tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF "$DATA" || return 1
    printf '%s\n' "$pid"
}

# start_proc NAME command...: start it detached (own session), log to $DATA/logs/NAME.log
start_proc() {
    local name="$1" pid
    shift
    if pid=$(our_pid "$name"); then
        log "$name: already running (pid $pid)"
        return 0
    fi
    mkdir -p "$DATA/logs" "$DATA/pids"
    printf '\n==== %s start %s\n' "$name" "$(date -u +%FT%TZ)" >>"$DATA/logs/$name.log"
    # 8>&- 9>&-: the long-running processes must not inherit (and so hold) this script's locks
    setsid "$@" >>"$DATA/logs/$name.log" 2>&1 </dev/null 8>&- 9>&- &
    pid=$!
    printf '%s\n' "$pid" >"$DATA/pids/$name.pid"
    sleep 0.2
    alive "$pid" || die_log "$name exited at once" "$DATA/logs/$name.log"
    log "$name: started (pid $pid, log ${DATA#"$REPO_ROOT"/}/logs/$name.log)"
}

# kill_pid PID LABEL [TIMEOUT]: SIGTERM, wait, then SIGKILL
kill_pid() {
    local pid="$1" label="$2" timeout="${3:-20}" i
    alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < timeout * 10; i++)); do
        alive "$pid" || return 0
        sleep 0.1
    done
    log "$label (pid $pid) did not stop in ${timeout}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        alive "$pid" || return 0
        sleep 0.1
    done
    warn "$label (pid $pid) is still there after SIGKILL"
}

stop_proc() { # NAME [TIMEOUT]
    local pid
    if pid=$(our_pid "$1"); then
        kill_pid "$pid" "$1" "${2:-20}"
        log "$1: stopped (pid $pid)"
    fi
    rm -f "$DATA/pids/$1.pid"
}

# wait_for DESCRIPTION LOGFILE command...: poll (bounded by $TIMEOUT) until the command succeeds
wait_for() {
    local what="$1" logfile="$2" t0 next
    shift 2
    t0=$(now_ms)
    next=5000
    until "$@" >/dev/null 2>&1; do
        local spent=$(($(now_ms) - t0))
        if [ "$spent" -ge $((TIMEOUT * 1000)) ]; then
            die_log "timed out after ${TIMEOUT}s waiting for: $what" "$logfile"
        fi
        if [ "$spent" -ge "$next" ]; then
            log "    still waiting for $what ($(fmt_ms "$spent"))"
            next=$((next + 5000))
        fi
        sleep 0.5
    done
    log "$what ($(fmt_ms $(($(now_ms) - t0))))"
}

kubectl_() { "$KUBE_DIR/bin/kubectl" --kubeconfig "$DATA/admin.kubeconfig" "$@"; }
ctr_() { ctr --address "$DATA/run/containerd.sock" -n k8s.io "$@"; }

# ---------------------------------------------------------------------------------------------
# addresses

# cidr_host CIDR N: the N-th address of CIDR (IPv4)
cidr_host() { "$PY" "$LIB/cluster_network.py" address "$1" "$2"; }
NODE_IP="$(cidr_host "$POD_CIDR" 1)"
APISERVER_SERVICE_IP="$(cidr_host "$SERVICE_CIDR" 1)"
POD_PREFIX="${POD_CIDR#*/}"

# Refuse ranges that overlap an address or a route of this machine (our own bridge aside).
check_ranges() {
    local report
    report="$( (ip -o -4 addr show; echo ROUTES; ip -4 route show table all) \
        | "$PY" "$LIB/cluster_network.py" overlaps "$POD_CIDR" "$SERVICE_CIDR" "$BRIDGE")"
    if [ -n "$report" ]; then
        log "$report"
        die "choose free ranges with MODELSTACK_CLUSTER_POD_CIDR / MODELSTACK_CLUSTER_SERVICE_CIDR"
    fi
}

# Refuse ports another program holds (ours, from an earlier start, are fine).
check_ports() {
    local port holder ours=" " name pid
    for name in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy traefik metrics-server containerd; do
        pid=$(our_pid "$name") && ours="$ours$pid "
    done
    for port in "$ETCD_PORT" "$ETCD_PEER_PORT" "$APISERVER_PORT" "$KCM_PORT" "$SCHEDULER_PORT" "$KUBELET_PORT" \
        "$KUBELET_HEALTHZ_PORT" "$PROXY_METRICS_PORT" "$PROXY_HEALTHZ_PORT" "$TRAEFIK_ADMIN_PORT" \
        "$METRICS_SERVER_PORT" "$GATEWAY_PORT"; do
        holder="$(ss -Htlnp "sport = :$port" 2>/dev/null | head -n1)"
        [ -z "$holder" ] && continue
        pid="$(printf '%s' "$holder" | sed -nE 's/.*pid=([0-9]+).*/\1/p')"
        case "$ours" in *" $pid "*) continue ;; esac
        die "port $port is taken ($holder); choose another MODELSTACK_CLUSTER_PORT_BASE / MODELSTACK_CLUSTER_GATEWAY_PORT"
    done
}

# ---------------------------------------------------------------------------------------------
# system state recorded before the cluster changes it

record_sysctls() {
    local f="$DATA/saved/sysctl.conf" k v
    [ -f "$f" ] && return 0 # recorded by an earlier start that was never stopped: keep the originals
    mkdir -p "$DATA/saved"
    : >"$f.tmp"
    for k in "${SYSCTLS[@]}"; do
        v="$(sysctl -n "$k" 2>/dev/null)" || continue
        printf '%s = %s\n' "$k" "$v" >>"$f.tmp"
    done
    mv -f "$f.tmp" "$f"
}

restore_sysctls() {
    local f="$DATA/saved/sysctl.conf" k v now changed=0
    [ -f "$f" ] || return 0
    while IFS='=' read -r k v; do
        k="$(echo "$k" | xargs)"
        v="$(echo "$v" | xargs)"
        [ -n "$k" ] || continue
        now="$(sysctl -n "$k" 2>/dev/null | xargs)" || continue
        if [ "$now" != "$v" ]; then
            if sysctl -q -w "$k=$v" >/dev/null 2>&1; then
                log "sysctl $k: $now -> $v (restored)"
                changed=1
            else
                warn "could not restore sysctl $k to $v (it is $now)"
            fi
        fi
    done <"$f"
    [ "$changed" = 1 ] || log "sysctls: unchanged"
    rm -f "$f"
}

# Folders the kubelet and containerd create outside the data folder when they are missing
OUTSIDE_DIRS=(/var/log/containers /var/lib/cni/results /var/lib/cni)

record_outside() {
    mkdir -p "$DATA/saved"
    [ -f "$DATA/saved/created-dirs" ] && return 0
    local d
    for d in "${OUTSIDE_DIRS[@]}"; do [ -e "$d" ] || echo "$d"; done >"$DATA/saved/created-dirs"
    if command -v nft >/dev/null 2>&1; then
        nft list tables >"$DATA/saved/nft-tables" 2>/dev/null || rm -f "$DATA/saved/nft-tables"
    fi
}

# Remove what record_outside found missing and the cluster created, when it is empty again:
# folders, and the (iptables-nft) tables that the sweep left without a chain.
restore_outside() {
    local d table
    if [ -f "$DATA/saved/created-dirs" ]; then
        while read -r d; do
            if [ -n "$d" ] && [ -d "$d" ] && rmdir "$d" 2>/dev/null; then
                log "removed $d (created by the cluster)"
            fi
        done <"$DATA/saved/created-dirs"
        rm -f "$DATA/saved/created-dirs"
    fi
    if [ -f "$DATA/saved/nft-tables" ] && command -v nft >/dev/null 2>&1; then
        while read -r table; do
            if grep -qxF "$table" "$DATA/saved/nft-tables"; then continue; fi
            # empty: base chains only (each with a hook), no rule, set, map or flowtable
            # shellcheck disable=SC2086
            if nft -j list $table 2>/dev/null \
                | jq -e '.nftables | all(has("metainfo") or has("table") or (.chain.hook != null))' >/dev/null; then
                if nft delete $table 2>/dev/null; then
                    log "removed the empty nftables $table (created by the cluster)"
                fi
            fi
        done < <(nft list tables 2>/dev/null)
        rm -f "$DATA/saved/nft-tables"
    fi
    return 0
}

record_iptables() {
    local fam
    mkdir -p "$DATA/saved"
    for fam in iptables ip6tables; do
        [ -f "$DATA/saved/$fam.rules" ] && continue
        command -v "$fam-save" >/dev/null 2>&1 || continue
        "$fam-save" >"$DATA/saved/$fam.rules.tmp" 2>/dev/null || true
        mv -f "$DATA/saved/$fam.rules.tmp" "$DATA/saved/$fam.rules"
    done
}

# Remove the rules and chains the cluster added (kube-proxy's and the kubelet's KUBE-*, the CNI
# bridge and portmap plugins' CNI-*), and no other: a rule or chain is removed when it was not
# there before the first start and names one of those chains, the cluster's ranges or its bridge.
sweep_iptables() {
    local fam script
    for fam in iptables ip6tables; do
        command -v "$fam-save" >/dev/null 2>&1 || continue
        script="$("$fam-save" 2>/dev/null \
            | "$PY" "$LIB/iptables_sweep.py" "$DATA/saved/$fam.rules" "$POD_CIDR" "$SERVICE_CIDR" "$BRIDGE" "$CNI_NETWORK")"
        if [ -n "$script" ]; then
            if printf '%s\n' "$script" | "$fam-restore" --noflush; then
                log "$fam: removed $(printf '%s\n' "$script" | grep -c '^-[DX] ') rules/chains the cluster added"
            else
                warn "$fam-restore could not remove all of the cluster's rules; what was tried:"
                printf '%s\n' "$script" | sed 's/^/    | /' >&2
            fi
        fi
        rm -f "$DATA/saved/$fam.rules"
    done
}

# ---------------------------------------------------------------------------------------------
# certificates and configuration (generated once per data folder)

PKI="$DATA/pki"

# cert NAME CN ORG SANS CA: an ECDSA P-256 key and a certificate for both client and server use
cert() {
    local name="$1" cn="$2" org="$3" sans="$4" ca="$5" subj
    [ -s "$PKI/$name.crt" ] && return 0
    subj="/CN=$cn"
    [ -n "$org" ] && subj="/O=$org$subj"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$PKI/$name.key" \
        -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
    {
        echo "basicConstraints = critical,CA:FALSE"
        echo "keyUsage = critical,digitalSignature,keyEncipherment"
        echo "extendedKeyUsage = clientAuth,serverAuth"
        [ -n "$sans" ] && echo "subjectAltName = $sans"
    } >"$PKI/$name.ext"
    openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/$ca.crt" -CAkey "$PKI/$ca.key" -CAcreateserial \
        -days 3650 -sha256 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
    rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}

ca() { # NAME CN
    [ -s "$PKI/$1.crt" ] && return 0
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$PKI/$1.key" \
        -subj "/CN=$2" -days 3650 -sha256 -out "$PKI/$1.crt" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
}

kubeconfig() { # FILE USER CERT_NAME
    render kubeconfig.yaml "$1" APISERVER_PORT="$APISERVER_PORT" PKI="$PKI" USER_NAME="$2" CERT_NAME="$3"
}

write_config() {
    mkdir -p "$PKI" "$DATA/etcd" "$DATA/run" "$DATA/containerd" "$DATA/cni/net.d" "$DATA/cni/ipam" \
        "$DATA/kubelet" "$DATA/pod-logs" "$DATA/traefik" "$DATA/saved"
    chmod 0700 "$PKI" "$DATA/etcd"
    # Certificates: made once; the bridge address is part of the serving certificates, so a
    # change of range makes new ones.
    if [ "$(cat "$PKI/.ranges" 2>/dev/null)" != "$POD_CIDR $SERVICE_CIDR" ]; then
        rm -f "$PKI"/*.crt "$PKI"/*.key "$PKI"/*.pub
        printf '%s\n' "$POD_CIDR $SERVICE_CIDR" >"$PKI/.ranges"
    fi
    ca ca modelstack-cluster-ca
    ca front-proxy-ca modelstack-cluster-front-proxy-ca
    cert apiserver kube-apiserver "" "IP:127.0.0.1,IP:$NODE_IP,IP:$APISERVER_SERVICE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local" ca
    cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters "" ca
    cert admin modelstack-admin system:masters "" ca
    cert controller-manager system:kube-controller-manager "" "" ca
    cert scheduler system:kube-scheduler "" "" ca
    cert kubelet "system:node:$NODE_NAME" system:nodes "IP:$NODE_IP,IP:127.0.0.1,DNS:$NODE_NAME" ca
    cert kube-proxy system:kube-proxy "" "" ca
    cert metrics-server modelstack:metrics-server "" "IP:$NODE_IP,DNS:metrics-server.kube-system.svc" ca
    cert front-proxy-client front-proxy-client "" "" front-proxy-ca
    if [ ! -s "$PKI/sa.key" ]; then
        openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/sa.key" 2>/dev/null
        openssl ec -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
    fi
    chmod 0600 "$PKI"/*.key

    kubeconfig "$DATA/admin.kubeconfig" modelstack-admin admin
    kubeconfig "$DATA/controller-manager.kubeconfig" system:kube-controller-manager controller-manager
    kubeconfig "$DATA/scheduler.kubeconfig" system:kube-scheduler scheduler
    kubeconfig "$DATA/kubelet.kubeconfig" "system:node:$NODE_NAME" kubelet
    kubeconfig "$DATA/kube-proxy.kubeconfig" system:kube-proxy kube-proxy
    kubeconfig "$DATA/metrics-server.kubeconfig" modelstack:metrics-server metrics-server

    render containerd.toml "$DATA/containerd/config.toml" DATA="$DATA" PAUSE_IMAGE="$PAUSE_IMAGE" CNI_BIN_DIR="$CNI_BIN_DIR"
    render cni.conflist "$DATA/cni/net.d/10-$CNI_NETWORK.conflist" \
        CNI_NETWORK="$CNI_NETWORK" BRIDGE="$BRIDGE" POD_CIDR="$POD_CIDR" NODE_IP="$NODE_IP" DATA="$DATA"
    render kubelet-config.yaml "$DATA/kubelet-config.yaml" NODE_IP="$NODE_IP" KUBELET_PORT="$KUBELET_PORT" \
        KUBELET_HEALTHZ_PORT="$KUBELET_HEALTHZ_PORT" PKI="$PKI" DATA="$DATA"
    render kube-proxy-config.yaml "$DATA/kube-proxy-config.yaml" DATA="$DATA" NODE_NAME="$NODE_NAME" POD_CIDR="$POD_CIDR" \
        PROXY_METRICS_PORT="$PROXY_METRICS_PORT" PROXY_HEALTHZ_PORT="$PROXY_HEALTHZ_PORT" NODE_IP="$NODE_IP"
    render traefik.yaml "$DATA/traefik/traefik.yaml" GATEWAY_PORT="$GATEWAY_PORT" TRAEFIK_ADMIN_PORT="$TRAEFIK_ADMIN_PORT" \
        APISERVER_PORT="$APISERVER_PORT" DATA="$DATA" PKI="$PKI"
}

# ---------------------------------------------------------------------------------------------
# network

bridge_up() {
    if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
        ip link add "$BRIDGE" type bridge || die "cannot create the bridge $BRIDGE"
    fi
    ip addr replace "$NODE_IP/$POD_PREFIX" dev "$BRIDGE"
    ip link set "$BRIDGE" up
}

# ---------------------------------------------------------------------------------------------
# components

curl_admin() { curl -fsS --max-time 5 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "$@"; }

start_etcd() {
    start_proc etcd "$KUBE_DIR/bin/etcd" \
        --name modelstack --data-dir "$DATA/etcd" \
        --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
        --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
        --initial-cluster "modelstack=http://127.0.0.1:$ETCD_PEER_PORT" \
        --listen-metrics-urls "" --quota-backend-bytes 2147483648 --snapshot-count 10000 --log-level warn
    wait_for "etcd healthy" "$DATA/logs/etcd.log" curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_PORT/health"
}

start_apiserver() {
    start_proc kube-apiserver "$KUBE_DIR/bin/kube-apiserver" \
        --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
        --bind-address 0.0.0.0 --secure-port "$APISERVER_PORT" --advertise-address "$NODE_IP" \
        --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
        --client-ca-file "$PKI/ca.crt" \
        --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
        --kubelet-certificate-authority "$PKI/ca.crt" --kubelet-preferred-address-types InternalIP \
        --service-account-issuer https://kubernetes.default.svc.cluster.local \
        --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
        --service-cluster-ip-range "$SERVICE_CIDR" --service-node-port-range 30000-32767 \
        --authorization-mode Node,RBAC --allow-privileged=true \
        --requestheader-client-ca-file "$PKI/front-proxy-ca.crt" --requestheader-allowed-names front-proxy-client \
        --requestheader-extra-headers-prefix X-Remote-Extra- --requestheader-group-headers X-Remote-Group \
        --requestheader-username-headers X-Remote-User \
        --proxy-client-cert-file "$PKI/front-proxy-client.crt" --proxy-client-key-file "$PKI/front-proxy-client.key" \
        --enable-aggregator-routing=true --profiling=false --v=1
    wait_for "API server ready" "$DATA/logs/kube-apiserver.log" curl_admin "https://127.0.0.1:$APISERVER_PORT/readyz"
}

start_containerd() {
    start_proc containerd containerd --config "$DATA/containerd/config.toml"
    wait_for "containerd answering" "$DATA/logs/containerd.log" ctr_ version
    if ! ctr_ images ls -q | grep -qxF "$PAUSE_IMAGE"; then
        ctr_ images import "$PAUSE_TAR" >/dev/null \
            || die_log "could not import the pause image $PAUSE_TAR" "$DATA/logs/containerd.log"
        log "pause image $PAUSE_IMAGE imported"
    fi
}

start_controllers() {
    start_proc kube-controller-manager "$KUBE_DIR/bin/kube-controller-manager" \
        --kubeconfig "$DATA/controller-manager.kubeconfig" \
        --authentication-kubeconfig "$DATA/controller-manager.kubeconfig" \
        --authorization-kubeconfig "$DATA/controller-manager.kubeconfig" \
        --bind-address 127.0.0.1 --secure-port "$KCM_PORT" --leader-elect=false \
        --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
        --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
        --use-service-account-credentials=true --service-cluster-ip-range "$SERVICE_CIDR" \
        --cluster-cidr "$POD_CIDR" --allocate-node-cidrs=false --cluster-name modelstack \
        --requestheader-client-ca-file "$PKI/front-proxy-ca.crt" --profiling=false --v=1
    start_proc kube-scheduler "$KUBE_DIR/bin/kube-scheduler" \
        --kubeconfig "$DATA/scheduler.kubeconfig" \
        --authentication-kubeconfig "$DATA/scheduler.kubeconfig" \
        --authorization-kubeconfig "$DATA/scheduler.kubeconfig" \
        --bind-address 127.0.0.1 --secure-port "$SCHEDULER_PORT" --leader-elect=false --profiling=false --v=1
}

start_node() {
    start_proc kubelet "$KUBE_DIR/bin/kubelet" \
        --config "$DATA/kubelet-config.yaml" --kubeconfig "$DATA/kubelet.kubeconfig" \
        --root-dir "$DATA/kubelet" --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" --v=1
    start_proc kube-proxy "$KUBE_DIR/bin/kube-proxy" --config "$DATA/kube-proxy-config.yaml" --v=1
    wait_for "node $NODE_NAME Ready" "$DATA/logs/kubelet.log" \
        kubectl_ wait --for=condition=Ready "node/$NODE_NAME" --timeout=2s
    wait_for "default ServiceAccount" "$DATA/logs/kube-controller-manager.log" \
        kubectl_ get serviceaccount default -n default
}

gateway_crds_dir() {
    local go dir
    go="$(go_bin)"
    dir="$(cd "$TOOLS_ROOT" && GOFLAGS="" "$go" mod download -json "$GATEWAY_API_MODULE@$GATEWAY_API_VERSION" 2>/dev/null \
        | jq -r '.Dir // empty')"
    [ -d "$dir/config/crd/standard" ] || die "cannot get the Gateway API CRDs ($GATEWAY_API_MODULE@$GATEWAY_API_VERSION)"
    printf '%s\n' "$dir/config/crd/standard"
}

install_gateway_api() {
    local dir
    dir="$(gateway_crds_dir)"
    kubectl_ apply --server-side --force-conflicts -f "$dir" >/dev/null \
        || die_log "could not apply the Gateway API CRDs from $dir" "$DATA/logs/kube-apiserver.log"
    wait_for "Gateway API $GATEWAY_API_VERSION CRDs Established" "$DATA/logs/kube-apiserver.log" \
        kubectl_ wait --for=condition=Established --timeout=2s -f "$dir"
    render traefik-gateway.yaml - GATEWAY_CLASS="$GATEWAY_CLASS" TRAEFIK_CONTROLLER="$TRAEFIK_CONTROLLER" \
        | kubectl_ apply --server-side --force-conflicts -f - >/dev/null || die "could not apply Traefik's RBAC and the GatewayClass"
}

traefik_token() {
    local token
    token="$(kubectl_ get secret traefik-token -n kube-system -o 'jsonpath={.data.token}' 2>/dev/null)" || return 1
    [ -n "$token" ] || return 1
    printf '%s' "$token" | base64 -d >"$DATA/traefik/token.tmp" && mv -f "$DATA/traefik/token.tmp" "$DATA/traefik/token"
}

start_traefik() {
    wait_for "Traefik's ServiceAccount token" "$DATA/logs/kube-controller-manager.log" traefik_token
    chmod 0600 "$DATA/traefik/token"
    start_proc traefik "$TRAEFIK_BIN" --configfile "$DATA/traefik/traefik.yaml"
    wait_for "Traefik answering on 127.0.0.1:$TRAEFIK_ADMIN_PORT" "$DATA/logs/traefik.log" \
        curl -fsS --max-time 2 "http://127.0.0.1:$TRAEFIK_ADMIN_PORT/ping"
    wait_for "GatewayClass $GATEWAY_CLASS Accepted" "$DATA/logs/traefik.log" \
        kubectl_ wait --for=condition=Accepted --timeout=2s "gatewayclass/$GATEWAY_CLASS"
}

start_metrics_server() {
    local ca_bundle
    ca_bundle="$(base64 -w0 <"$PKI/ca.crt")"
    render metrics-server.yaml - METRICS_SERVER_PORT="$METRICS_SERVER_PORT" NODE_IP="$NODE_IP" CA_BUNDLE="$ca_bundle" \
        | kubectl_ apply --server-side --force-conflicts -f - >/dev/null || die "could not apply metrics-server's RBAC, Service and APIService"
    start_proc metrics-server "$METRICS_SERVER_BIN" \
        --kubeconfig "$DATA/metrics-server.kubeconfig" \
        --authentication-kubeconfig "$DATA/metrics-server.kubeconfig" \
        --authorization-kubeconfig "$DATA/metrics-server.kubeconfig" \
        --bind-address "$NODE_IP" --secure-port "$METRICS_SERVER_PORT" \
        --tls-cert-file "$PKI/metrics-server.crt" --tls-private-key-file "$PKI/metrics-server.key" \
        --requestheader-client-ca-file "$PKI/front-proxy-ca.crt" \
        --kubelet-certificate-authority "$PKI/ca.crt" --kubelet-preferred-address-types InternalIP \
        --kubelet-use-node-status-port --metric-resolution 15s --v=1
    wait_for "metrics API available" "$DATA/logs/metrics-server.log" \
        kubectl_ wait --for=condition=Available --timeout=2s apiservice/v1beta1.metrics.k8s.io
}

write_state() {
    local ms=no
    [ "$WANT_METRICS_SERVER" = 1 ] && ms=yes
    render state.env "$DATA/state.env" DATA="$DATA" GATEWAY_PORT="$GATEWAY_PORT" GATEWAY_CLASS="$GATEWAY_CLASS" \
        NODE_NAME="$NODE_NAME" NODE_IP="$NODE_IP" POD_CIDR="$POD_CIDR" SERVICE_CIDR="$SERVICE_CIDR" \
        KUBE_VERSION="$KUBE_VERSION" GATEWAY_API_VERSION="$GATEWAY_API_VERSION" TRAEFIK_VERSION="$TRAEFIK_VERSION" \
        METRICS_SERVER="$ms" TEST_SERVER_BIN="$TEST_SERVER_BIN" KUBE_DIR="$KUBE_DIR"
}

cmd_start() {
    need_root start
    install_debs
    cmd_build
    mkdir -p "$DATA"
    exec 9>"$DATA/.lock"
    flock -w 900 9 || die "another scripts/cluster.sh has held $DATA/.lock for 15 minutes"
    local sock="$DATA/run/containerd.sock"
    [ ${#sock} -lt 100 ] || die "the data folder's path is too long for a unix socket ($sock); set MODELSTACK_CLUSTER_DIR to a shorter one"
    phase "preflight: address ranges and ports"
    check_ranges
    check_ports
    log "pods $POD_CIDR (node $NODE_IP on $BRIDGE), Services $SERVICE_CIDR, API server 127.0.0.1:$APISERVER_PORT, Gateway 127.0.0.1:$GATEWAY_PORT"
    phase "record sysctls and iptables, write certificates and configuration"
    record_sysctls
    record_iptables
    record_outside
    write_config
    bridge_up
    phase "control plane: etcd, kube-apiserver"
    start_etcd
    start_apiserver
    phase "containerd, controller-manager, scheduler"
    start_containerd
    start_controllers
    phase "node: kubelet, kube-proxy"
    start_node
    phase "Gateway API $GATEWAY_API_VERSION and Traefik $TRAEFIK_VERSION"
    install_gateway_api
    start_traefik
    if [ "$WANT_METRICS_SERVER" = 1 ]; then
        phase "metrics-server $METRICS_SERVER_VERSION"
        start_metrics_server
    fi
    write_state
    end_phase
    log "cluster ready: KUBECONFIG=$DATA/admin.kubeconfig, Gateway on 127.0.0.1:$GATEWAY_PORT (class $GATEWAY_CLASS)"
    log "state: $DATA/state.env"
    finish
}

# ---------------------------------------------------------------------------------------------
# stop

# PIDs of the processes in the cluster's pod cgroups (every controller's kubepods hierarchy)
pod_cgroup_pids() {
    local d
    for d in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
        [ -d "$d" ] || continue
        find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null
    done | sort -un
}

# PIDs of containerd shims serving the cluster's containerd (their command line names its socket)
shim_pids() {
    local p
    for p in /proc/[0-9]*; do
        tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qF -- "-address $DATA/run/containerd.sock" && echo "${p#/proc/}"
    done
}

remove_pods_gracefully() {
    # With the API server, the kubelet and containerd up: delete every pod so that the kubelet
    # stops each sandbox through the CRI, which runs the CNI DEL (veth, IP, portmap and masquerade
    # rules). Controllers are stopped first so nothing is recreated.
    our_pid kube-apiserver >/dev/null && our_pid kubelet >/dev/null && our_pid containerd >/dev/null || return 0
    curl_admin "https://127.0.0.1:$APISERVER_PORT/readyz" >/dev/null 2>&1 || return 0
    local n
    n="$(kubectl_ get pods -A -o name 2>/dev/null | wc -l)"
    [ "$n" -gt 0 ] || return 0
    log "deleting $n pods so that their sandboxes are torn down through the CRI"
    kubectl_ delete pods --all -A --grace-period=0 --force --wait=false >/dev/null 2>&1 || true
    local i
    for ((i = 0; i < 60; i++)); do
        [ -z "$(ctr_ tasks ls -q 2>/dev/null)" ] && return 0
        sleep 0.5
    done
    log "some pod sandboxes still run after 30s; they are killed below"
}

unmount_under_data() {
    local m n=0
    # deepest first
    while read -r m; do
        [ -n "$m" ] || continue
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || warn "could not unmount $m"
        n=$((n + 1))
    done < <(findmnt -rn -o TARGET | sed 's/\\x20/ /g' | grep -F "$DATA/" | awk '{ print length, $0 }' | sort -rn | cut -d' ' -f2-)
    [ "$n" -eq 0 ] || log "unmounted $n mounts under the data folder"
}

remove_pod_cgroups() {
    local d
    for d in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
        [ -d "$d" ] || continue
        find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
        [ -d "$d" ] && warn "cgroup $d could not be removed"
    done
    return 0
}

cmd_stop() {
    need_root stop
    [ -d "$DATA" ] || { log "nothing to stop (no $DATA)"; finish; return 0; }
    exec 9>"$DATA/.lock"
    flock -w 900 9 || die "another scripts/cluster.sh has held $DATA/.lock for 15 minutes"
    phase "stop Traefik, metrics-server, controllers"
    stop_proc traefik
    stop_proc metrics-server
    stop_proc kube-controller-manager
    stop_proc kube-scheduler
    phase "remove pods"
    remove_pods_gracefully
    phase "stop the node: kubelet, kube-proxy, containers, containerd"
    stop_proc kubelet
    stop_proc kube-proxy
    local pid pids
    pids="$(pod_cgroup_pids)"
    if [ -n "$pids" ]; then
        log "killing $(echo "$pids" | wc -w) container processes left in the pod cgroups"
        for pid in $pids; do kill -KILL "$pid" 2>/dev/null || true; done
    fi
    for pid in $(shim_pids); do kill_pid "$pid" containerd-shim 5; done
    stop_proc containerd
    phase "stop the control plane: kube-apiserver, etcd"
    stop_proc kube-apiserver
    stop_proc etcd
    phase "undo system changes: mounts, network, iptables, sysctls, cgroups"
    unmount_under_data
    local link
    for link in $(ip -j link show master "$BRIDGE" 2>/dev/null | jq -r '.[].ifname'); do
        ip link del "$link" 2>/dev/null && log "deleted veth $link"
    done
    if ip link show "$BRIDGE" >/dev/null 2>&1; then
        ip link del "$BRIDGE" && log "deleted bridge $BRIDGE"
    fi
    sweep_iptables
    restore_sysctls
    remove_pod_cgroups
    # the kubelet links every container log into /var/log/containers; ours point into the data folder
    find /var/log/containers -maxdepth 1 -type l -lname "$DATA/*" -delete 2>/dev/null || true
    # CNI result cache of our network (libcni's default folder)
    rm -f /var/lib/cni/results/"$CNI_NETWORK"-* 2>/dev/null || true
    restore_outside
    rm -rf "$DATA/cni/ipam" "$DATA/state.env"
    end_phase
    log "cluster stopped"
    finish
}

# ---------------------------------------------------------------------------------------------
# status, load-image, destroy

cmd_status() {
    local name pid all=0
    # a running cluster is judged by what it was started with
    if [ -f "$DATA/state.env" ]; then
        case "$(sed -n 's/^METRICS_SERVER=//p' "$DATA/state.env")" in
            yes) WANT_METRICS_SERVER=1 ;;
            no) WANT_METRICS_SERVER=0 ;;
        esac
    fi
    for name in etcd kube-apiserver containerd kube-controller-manager kube-scheduler kubelet kube-proxy traefik metrics-server; do
        if pid=$(our_pid "$name"); then
            printf '%-24s running (pid %s)\n' "$name" "$pid"
        else
            if [ "$name" = metrics-server ] && [ "$WANT_METRICS_SERVER" != 1 ]; then
                printf '%-24s not used\n' "$name"
                continue
            fi
            printf '%-24s not running\n' "$name"
            all=3
        fi
    done
    if our_pid kube-apiserver >/dev/null; then
        kubectl_ get nodes -o wide 2>/dev/null || true
    fi
    if [ -f "$DATA/state.env" ]; then
        echo "state: $DATA/state.env"
        grep -E '^(KUBECONFIG|GATEWAY_PORT|GATEWAY_CLASS)=' "$DATA/state.env"
    fi
    ip link show "$BRIDGE" >/dev/null 2>&1 && echo "bridge $BRIDGE: present"
    return "$all"
}

cmd_load_image() {
    need_root load-image
    [ $# -ge 1 ] || die "usage: $0 load-image IMAGE | --tar FILE"
    our_pid containerd >/dev/null || die "the cluster's containerd is not running: $0 start"
    local t0
    t0=$(now_ms)
    if [ "$1" = --tar ]; then
        [ -f "${2:-}" ] || die "no such file: ${2:-}"
        ctr_ images import "$2" >/dev/null || die "ctr import of $2 failed"
        log "imported $2 ($(fmt_ms $(($(now_ms) - t0))))"
    else
        command -v docker >/dev/null 2>&1 || die "docker is not installed (use --tar FILE)"
        docker image inspect "$1" >/dev/null 2>&1 || die "Docker has no image $1"
        docker save "$1" | ctr_ images import - >/dev/null || die "docker save $1 | ctr import failed"
        log "loaded $1 into the cluster ($(fmt_ms $(($(now_ms) - t0))))"
    fi
}

cmd_destroy() {
    cmd_stop
    rm -rf "$DATA"
    log "deleted $DATA"
}

# ---------------------------------------------------------------------------------------------
# sourced (for debugging a single step): define everything, run nothing
[ "${BASH_SOURCE[0]}" = "$0" ] || return 0
[ $# -ge 1 ] || usage 2
command="$1"
shift
case "$command" in
    -h | --help | help) usage 0 ;;
    build) cmd_build; finish ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    load-image) cmd_load_image "$@" ;;
    kubectl) exec "$KUBE_DIR/bin/kubectl" --kubeconfig "$DATA/admin.kubeconfig" "$@" ;;
    destroy) need_root destroy; cmd_destroy ;;
    *) log "unknown command: $command"; usage 2 ;;
esac
