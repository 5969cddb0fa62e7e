#!/usr/bin/env bash
# bench/cluster.sh PATH/TO/fakts-node [N...]
#
# For each cluster size N (default 10 and 50): starts N agents on loopback (BENCH_ADDRS) in the
# secure mode (CurveZMQ, admitted through one cluster secret), joins them through node 0, and
# measures on loopback: convergence of a registration to every node, kill -9 detection,
# gossip bandwidth idle and under registrations, CPU, and resident memory; then the same with
# --insecure-gossip (plaintext, the price of the security measured in the same run); then
# with N Serf agents (Debian's serf, LAN profile) on the same addresses: tag-change
# convergence, kill -9 detection, idle bandwidth, memory.
# Prints a Markdown report and writes it to bench/cluster-results.md, and the raw samples the
# plots are drawn from (bench/plot.sh) to bench/plots/data/cluster-*.tsv. See bench/README.md.
#
# Exit status: 0 when every measurement is valid (targets may still be missed: they are
# reported, not enforced); 1 when one failed (a node not coming up, a registration not on
# every node within 30 s, a kill not detected everywhere within the timeout); 2 usage.
#
# Environment (all optional):
#   BENCH_CONV_ROUNDS     fakts-node registrations timed per N              (20)
#   BENCH_KILLS           fakts-node kill -9 runs per N                      (5)
#   BENCH_BW_SECONDS      each bandwidth window                              (30)
#   BENCH_LOAD_RATE       registrations per second in the loaded window      (10)
#   BENCH_INSECURE        1: also run fakts-node with --insecure-gossip      (1)
#   BENCH_SERF            1: run the Serf peer; 0: skip it                   (1)
#   BENCH_SERF_ROUNDS     Serf tag changes timed per N                       (10)
#   BENCH_SERF_KILLS      Serf kill -9 runs per N                            (3)
#   BENCH_SERF_BW_SECONDS Serf idle bandwidth window (0: skip)               (BENCH_BW_SECONDS)
#   BENCH_POLL_MS         convergence poll period per node, ms               (max(5, N/2))
#   BENCH_DETECT_TIMEOUT  seconds a kill may take to be detected everywhere  (30)
#   BENCH_LOSS_SECONDS    packet-loss window (fakts-node; 0: skip)           (600)
#   BENCH_LOSS_SIZES      the cluster sizes that get the packet-loss window  (10)
#   BENCH_LOSS            share of gossip packets dropped in that window      (0.05)
#   BENCH_LOSS_RATE       registrations per second during that window        (1)
#   BENCH_LOSS_KILLS      kill -9 runs under that loss, after the window      (3)
#   BENCH_SEED            seed of the random choices                         ($$)
#   BENCH_OUT             where the Markdown goes                 (bench/cluster-results.md)
#   BENCH_DATA            where the raw samples (TSV) go          (bench/plots/data)
#   BENCH_ADDRS           the loopback addresses the agents use, FIRST-LAST of
#                         127.0.0.x; agent i takes address i modulo their count  (230-244)
#   BENCH_KEEP_LOGS       copy every agent log into this dir before cleanup  (unset: none)
#   BENCH_BINARY_NOTE     what the binary was built from, for the report     (unset)
#   TMPDIR                parent of the temporary dir                        (/tmp)

set -euo pipefail

if [ $# -lt 1 ]; then
    echo "usage: bench/cluster.sh PATH/TO/fakts-node [N...]" >&2
    exit 2
fi
BIN=$(realpath -e "$1") || { echo "bench: no such binary: $1" >&2; exit 2; }
shift
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(10 50)
for n in "${SIZES[@]}"; do
    case $n in '' | *[!0-9]*) echo "bench: N must be a number: $n" >&2; exit 2 ;; esac
    if [ "$n" -lt 3 ] || [ "$n" -gt 90 ]; then echo "bench: N must be 3..90: $n" >&2; exit 2; fi
done
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=/usr/bin/python3   # Debian's interpreter, standard library only
PROBE=$BENCH_DIR/cluster_probe.py
CONV_ROUNDS=${BENCH_CONV_ROUNDS:-20}
KILLS=${BENCH_KILLS:-5}
BW_SECONDS=${BENCH_BW_SECONDS:-30}
LOAD_RATE=${BENCH_LOAD_RATE:-10}
INSECURE_ON=${BENCH_INSECURE:-1}
SERF_ON=${BENCH_SERF:-1}
SERF_ROUNDS=${BENCH_SERF_ROUNDS:-10}
SERF_KILLS=${BENCH_SERF_KILLS:-3}
SERF_BW_SECONDS=${BENCH_SERF_BW_SECONDS:-$BW_SECONDS}
DETECT_TIMEOUT=${BENCH_DETECT_TIMEOUT:-30}
LOSS_SECONDS=${BENCH_LOSS_SECONDS:-600}
LOSS_SIZES=${BENCH_LOSS_SIZES:-10}
LOSS=${BENCH_LOSS:-0.05}
LOSS_RATE=${BENCH_LOSS_RATE:-1}
LOSS_KILLS=${BENCH_LOSS_KILLS:-3}
SEED=${BENCH_SEED:-$$}
OUT=${BENCH_OUT:-$BENCH_DIR/cluster-results.md}
PLOT_DATA=${BENCH_DATA:-$BENCH_DIR/plots/data}
ADDRS=${BENCH_ADDRS:-230-244}
ADDR_FIRST=${ADDRS%-*}
ADDR_LAST=${ADDRS#*-}
case $ADDR_FIRST$ADDR_LAST in '' | *[!0-9]*) echo "bench: BENCH_ADDRS must be FIRST-LAST: $ADDRS" >&2; exit 2 ;; esac
if [ "$ADDR_FIRST" -lt 2 ] || [ "$ADDR_LAST" -gt 254 ] || [ "$ADDR_FIRST" -gt "$ADDR_LAST" ]; then
    echo "bench: BENCH_ADDRS must be within 2-254: $ADDRS" >&2; exit 2
fi
ADDR_COUNT=$((ADDR_LAST - ADDR_FIRST + 1))
CONV_TIMEOUT=30       # a registration not on every node by then is a failed measurement
SERF_PORT=7946        # Serf agent i's gossip port: 7946+i (agents share addresses)
SERF_RPC_BASE=7373    # Serf agent i's RPC port: 7373+i
OBSERVE=3             # seconds a restarted node's cluster is watched for flapping members

log() { printf '[cluster %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

if grep -q -a -m1 -e __asan_init -e __ubsan_handle -e __tsan_init -e __msan_init "$BIN"; then
    if [ "${BENCH_ALLOW_SANITIZED:-0}" = 1 ]; then
        log "WARNING: $BIN is a sanitizer build; the figures are not representative"
        SANITIZED=yes
    else
        die "$BIN is built with sanitizers; reconfigure with -DFK_SANITIZE=OFF -DFK_FUZZ=OFF," \
            "or set BENCH_ALLOW_SANITIZED=1"
    fi
else
    SANITIZED=no
fi

# ---- tools -------------------------------------------------------------------------
[ -x "$PY" ] || die "$PY is missing (apt-get install -y python3)"
[ -r "$PROBE" ] || die "$PROBE is missing"
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
if [ "$SERF_ON" = 1 ] && ! command -v serf >/dev/null; then
    log "serf is missing: installing Debian's serf (the same-run peer)"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends serf \
        >/dev/null || die "cannot install serf"
fi
SERF_VERSION=n/a
[ "$SERF_ON" = 1 ] && SERF_VERSION=$(serf version 2>/dev/null | sed -n '1{s/^Serf //;p}')
# Bandwidth: iptables byte counters on the gossip ports (lo), else /proc/PID/io.
IPT=
if [ -z "$SUDO" ] && command -v iptables >/dev/null && iptables -w -L INPUT -n >/dev/null 2>&1; then
    IPT=iptables
fi
BW_METHOD=$([ -n "$IPT" ] && echo "iptables byte counters (IP headers included)" ||
    echo "/proc/PID/io wchar (approximate: includes HTTP answers and logs)")

# ---- temporary dir, cleanup ---------------------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/fakts-cluster.XXXXXX")
SECRET=$TMP/cluster.secret   # every secure node of the run admits the others with it
declare -a FK_PID=() SERF_PID=()
declare -A R=()
INVALID=()
PEER_NOTES=()   # Serf misbehaving: reported, not a failed measurement of this benchmark
CHILD_PID=
CHAIN=FKB$$
CHAIN_ON=

stop_pids() {   # stop_pids PID...: TERM them all, wait up to 10 s together, then KILL
    [ $# -gt 0 ] || return 0
    local pid i alive
    kill -TERM "$@" 2>/dev/null || true
    for i in $(seq 100); do
        alive=0
        for pid in "$@"; do kill -0 "$pid" 2>/dev/null && { alive=1; break; }; done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    kill -KILL "$@" 2>/dev/null || true
    for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
}
# shellcheck source=progress.sh
. "$BENCH_DIR/progress.sh"
WAITING=   # what the running child waits for, shown on a terminal (bench/progress.sh)
run_child() {   # run a long command so that a signal to this script is acted on at once
    "$@" &
    CHILD_PID=$!
    local rc=0
    progress_watch cluster "$WAITING" "$CHILD_PID"
    wait "$CHILD_PID" || rc=$?
    CHILD_PID=
    return "$rc"
}
chain_drop() {
    [ -n "$CHAIN_ON" ] || return 0
    iptables -w -D INPUT -i lo -j "$CHAIN" 2>/dev/null || true
    iptables -w -F "$CHAIN" 2>/dev/null || true
    iptables -w -X "$CHAIN" 2>/dev/null || true
    CHAIN_ON=
}
cleanup() {
    [ -n "$CHILD_PID" ] && stop_pids "$CHILD_PID"
    stop_pids "${FK_PID[@]}" "${SERF_PID[@]}"
    chain_drop
    if [ -n "${BENCH_KEEP_LOGS:-}" ]; then
        mkdir -p "$BENCH_KEEP_LOGS"
        (cd "$TMP" && find . -name agent.log -exec cp --parents {} "$BENCH_KEEP_LOGS"/ \;) || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

probe() {   # probe KEYPREFIX COMMAND ARGS...: cluster_probe.py's KEY=VALUE lines into R
    local pre=$1 out=$TMP/probe.out rc=0 k v
    shift
    case $1 in
        fk-wait-members) WAITING="fakts-node N=$FK_N: every node listing every member alive" ;;
        serf-wait-members) WAITING="serf N=$SERF_N: the agents listing their members alive" ;;
        fk-converge) WAITING="fakts-node N=$FK_N: convergence rounds" ;;
        serf-converge) WAITING="serf N=$SERF_N: convergence rounds" ;;
        fk-detect) WAITING="fakts-node N=$FK_N: every node listing the killed node failed" ;;
        serf-detect) WAITING="serf N=$SERF_N: every agent listing the killed agent failed" ;;
        fk-wait-back) WAITING="fakts-node N=$FK_N: the restarted node alive everywhere" ;;
        fk-own) WAITING="fakts-node N=$FK_N: every node's own service everywhere" ;;
        fk-load) WAITING="fakts-node N=$FK_N: $3 registrations/s for $4 s" ;;
        fk-wait-view) WAITING="fakts-node N=$FK_N: the same view on every node" ;;
        *) WAITING= ;;
    esac
    run_child timeout 900 "$PY" "$PROBE" "$@" >"$out" || rc=$?
    WAITING=
    while IFS='=' read -r k v; do [ -n "$k" ] && R[$pre.$k]=$v; done <"$out"
    return "$rc"
}
r() { printf '%s' "${R[$1]:-n/a}"; }
join_by() { local IFS=$1; shift; printf '%s' "$*"; }

# sched PID...: on-CPU ns summed over the threads of the processes
sched() {
    local pid tasks=()
    for pid in "$@"; do tasks+=(/proc/"$pid"/task/*/schedstat); done
    cat "${tasks[@]}" 2>/dev/null | awk '{c += $1} END {printf "%.0f\n", c}'
}
# memstat PREFIX PID...: VmRSS and Pss (KiB) of each process; median/min/max into R
memstat() {
    local pre=$1 pid rss=() pss=()
    shift
    for pid in "$@"; do
        rss+=("$(awk '/^VmRSS:/{print $2}' "/proc/$pid/status")")
        pss+=("$(awk '/^Pss:/{print $2}' "/proc/$pid/smaps_rollup")")
    done
    probe "$pre.rss" stats "" "$(join_by , "${rss[@]}")"
    probe "$pre.pss" stats "" "$(join_by , "${pss[@]}")"
}
# bw_window PREFIX SECONDS N PIDS_VAR [COMMAND...]: count gossip bytes for SECONDS (or
# while COMMAND runs); per-node bytes/s mean, min, max; agents' CPU ms/s per node
bw_window() {
    local pre=$1 secs=$2 n=$3 pids_var=$4 t_a t_b c_a c_b w_a w_b el
    shift 4
    local -n pids=$pids_var
    if [ -n "$IPT" ]; then iptables -w -Z "$CHAIN"; else w_a=$(wchar "${pids[@]}"); fi
    c_a=$(sched "${pids[@]}")
    t_a=$(date +%s%N)
    if [ $# -gt 0 ]; then "$@" || return 1; else WAITING="counting gossip bytes for $secs s" run_child sleep "$secs"; fi
    t_b=$(date +%s%N)
    c_b=$(sched "${pids[@]}")
    el=$(awk -v a="$t_a" -v b="$t_b" 'BEGIN{printf "%.3f", (b-a)/1e9}')
    R[$pre.seconds]=$el
    R[$pre.cpu_ms_s]=$(awk -v a="$c_a" -v b="$c_b" -v n="$n" -v s="$el" 'BEGIN{printf "%.1f", (b-a)/1e6/n/s}')
    if [ -n "$IPT" ]; then
        # one row per rule; a node's rows are those naming its address and port as
        # destination (dpt) or source (spt): nodes share addresses, not ports
        iptables -w -L "$CHAIN" -v -x -n 2>/dev/null | awk -v n="$n" -v s="$el" '
            NR > 2 && $3 == "RETURN" {
                match($0, /[ds]pt:[0-9]+/)
                key = (($0 ~ / dpt:/) ? $9 : $8) ":" substr($0, RSTART + 4, RLENGTH - 4)
                b[key] += $2; p += $1; t += $2
            }
            END {
                min = -1; max = 0
                for (k in b) { if (min < 0 || b[k] < min) min = b[k]; if (b[k] > max) max = b[k] }
                printf "%.0f %.0f %.0f %.1f %d\n", t/n/s, min/s, max/s, p/n/s, length(b)
            }' >"$TMP/bw.out"
        read -r "R[$pre.bps]" "R[$pre.min_bps]" "R[$pre.max_bps]" "R[$pre.pps]" "R[$pre.nodes]" <"$TMP/bw.out"
    else
        w_b=$(wchar "${pids[@]}")
        R[$pre.bps]=$(awk -v a="$w_a" -v b="$w_b" -v n="$n" -v s="$el" 'BEGIN{printf "%.0f", (b-a)/n/s}')
        R[$pre.min_bps]=n/a R[$pre.max_bps]=n/a R[$pre.pps]=n/a R[$pre.nodes]=$n
    fi
}
wchar() { local pid; for pid in "$@"; do awk '/^wchar:/{print $2}' "/proc/$pid/io"; done | awk '{s+=$1} END{print s+0}'; }
chain_make() {   # chain_make RULE-ARGS...: a fresh counting chain, hooked into INPUT for lo
    [ -n "$IPT" ] || return 0
    chain_drop
    iptables -w -N "$CHAIN"
    CHAIN_ON=1
    iptables -w -I INPUT 1 -i lo -j "$CHAIN"
}
# Each packet is counted once: the rules RETURN, and a node's "to me" rules (dport) come
# before every "from me" rule (sport).
chain_rule() { [ -z "$IPT" ] || iptables -w -A "$CHAIN" -i lo "$@" -j RETURN; }

START_DATE=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
FOREIGN=$(pgrep -c -x fakts-node || true)
FOREIGN_SERF=$(pgrep -c -x serf || true)
T0=$(date +%s)
log "fakts-node: $BIN; sizes ${SIZES[*]}; seed $SEED; bandwidth by $BW_METHOD"
[ "${FOREIGN:-0}" = 0 ] || log "note: $FOREIGN fakts-node processes not started by this run are running"

# Agent i's address: a few addresses are shared round-robin (fakts-node listens on free
# ports, Serf agent i on port SERF_PORT+i), so N can exceed their count. fakts-node and Serf
# never run at the same time and use the same addresses.
fk_ip() { echo "127.0.0.$((ADDR_FIRST + $1 % ADDR_COUNT))"; }
serf_ip() { fk_ip "$1"; }
serf_port() { echo $((SERF_PORT + $1)); }
pick_victims() {   # pick_victims N COUNT SALT: COUNT distinct non-seed indexes (repeat if N-1 < COUNT)
    "$PY" -c 'import random, sys
n, k, s = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
r = random.Random(s)
pool = list(range(1, n))
out = r.sample(pool, min(k, len(pool)))
while len(out) < k: out.append(r.choice(pool))
print(" ".join(map(str, out)))' "$1" "$2" "$3"
}
# logscan PREFIX VICTIMS LOG...: member status lines of the agents' logs
#   susp_other/fail_other: "is suspect"/"is failed" about a member that was never killed
#   fail_victim: "is failed" about killed members (expected: one per observer per kill)
logscan() {
    local pre=$1 victims=$2
    shift 2
    cat "$@" | awk -v victims=" $victims " -v pre="$pre" '
        /cluster: member .* is (suspect|failed)/ {
            m = $0; sub(/.*cluster: member /, "", m); name = m; sub(/ .*/, "", name)
            st = (m ~ / is suspect/) ? "suspect" : "failed"
            if (index(victims, " " name " ")) { if (st == "failed") fv++; else sv++ }
            else { if (st == "failed") fo++; else so++; who[name " " st]++ }
        }
        /refuted an accusation/ { ref++ }
        / WARN / { warn++ }
        / ERROR / { err++ }
        END {
            printf "%s.susp_other=%d\n%s.fail_other=%d\n%s.susp_victim=%d\n%s.fail_victim=%d\n", pre, so, pre, fo, pre, sv, pre, fv
            printf "%s.refuted=%d\n%s.warn=%d\n%s.error=%d\n", pre, ref, pre, warn, pre, err
            top = ""
            for (k in who) top = top (top ? ", " : "") k " x" who[k]
            printf "%s.who=%s\n", pre, substr(top, 1, 600)
        }' >"$TMP/logscan.out"
    local k v
    while IFS='=' read -r k v; do R[$k]=$v; done <"$TMP/logscan.out"
    # the distinct warning/error messages, without timestamps
    R[$pre.msgs]=$(cat "$@" | { grep -E ' (WARN|ERROR) ' || true; } | sed -E 's/^[^ ]+ +//' | sort | uniq -c |
        sort -rn | awk 'NR <= 5' | awk '{$1 = $1 "x"; print}' | paste -sd';' | cut -c1-600)
}

# =====================================================================================
# fakts-node
# =====================================================================================
declare -a FK_HTTP=() FK_GOSSIP=() FK_TOKEN=()
FK_MODE=secure
fk_mode_args() {   # the agent flags of FK_MODE
    if [ "$FK_MODE" = secure ]; then printf '%s\n' --cluster-secret-file "$SECRET"
    else printf '%s\n' --insecure-gossip; fi
}
fk_start() {   # fk_start I GOSSIP_ADDR
    local i=$1 d=$FKD/n$1 mode=()
    mkdir -p "$d/data"
    chmod 700 "$d/data"
    rm -f "$d/data/agent.json"
    mapfile -t mode < <(fk_mode_args)
    "$BIN" agent --data-dir "$d/data" --node "n$i" --http "$(fk_ip "$i"):0" --gossip "$2" \
        --rate-authorize 0 --rate-token 0 --log-level info "${mode[@]}" >>"$d/agent.log" 2>&1 &
    FK_PID[$i]=$!
}
fk_ready() {   # fk_ready I DEADLINE_EPOCH: wait for agent.json, read its addresses
    local i=$1 end=$2 f=$FKD/n$1/data/agent.json http=
    while :; do
        if [ -s "$f" ]; then
            http=$(sed -n 's/.*"http":"\([^"]*\)".*/\1/p' "$f")
            [ -n "$http" ] && break
        fi
        kill -0 "${FK_PID[$i]}" 2>/dev/null ||
            { tail -n 20 "$FKD/n$i/agent.log" >&2; die "agent n$i exited at start"; }
        [ "$(date +%s)" -lt "$end" ] || die "agent n$i did not write agent.json in time"
        sleep 0.05
    done
    FK_HTTP[$i]=$http
    FK_GOSSIP[$i]=$(sed -n 's/.*"gossip":"\([^"]*\)".*/\1/p' "$f")
    [ "$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' "$f")" = "${FK_PID[$i]}" ] ||
        die "agent.json of n$i names another pid than the one started"
    FK_TOKEN[$i]=$(cat "$FKD/n$i/data/admin-token")
}
fk_nodes() {   # the node list cluster_probe.py reads
    local i
    for i in $(seq 0 $((FK_N - 1))); do
        printf 'n%s\t%s\t%s\t%s\n' "$i" "${FK_HTTP[$i]}" "${FK_TOKEN[$i]}" "${FK_PID[$i]}"
    done >"$FKD/nodes.tsv"
}

# fk_kill_cycle PREFIX K V RUNS: kill -9 node V, time its detection everywhere into
# R[PREFIX.killK.*], restart it on the same gossip address and data dir, and wait until it
# is alive everywhere again (R[PREFIX.backK.*]). Fails (status 1, INVALID noted) when the
# kill was not detected in time; the node is restarted either way.
fk_kill_cycle() {
    local pre=$1 k=$2 v=$3 runs=$4 pid g rc=0
    pid=${FK_PID[$v]}
    g=${FK_GOSSIP[$v]}
    log "fakts-node N=$FK_N: kill -9 n$v (pid $pid, gossip $g), run $k of $runs"
    if probe "$pre.kill$k" fk-detect "$FKD/nodes.tsv" "n$v" "$pid" "own-n$v" "$dpoll" "$DETECT_TIMEOUT"; then
        log "fakts-node N=$FK_N: n$v failed everywhere after $(r "$pre.kill$k.ms") ms (first suspect $(r "$pre.kill$k.first_suspect_ms") ms)"
    else
        INVALID+=("$pre kill $k: n$v not failed everywhere within ${DETECT_TIMEOUT}s ($(r "$pre.kill$k.stuck"))")
        rc=1
    fi
    ! kill -0 "$pid" 2>/dev/null || die "fakts-node N=$FK_N: n$v was not killed (see above)"
    wait "$pid" 2>/dev/null || true
    fk_start "$v" "$g"   # same gossip address, same data dir
    fk_ready "$v" $(( $(date +%s) + 30 ))
    [ "${FK_GOSSIP[$v]}" = "$g" ] || die "restarted n$v gossips on ${FK_GOSSIP[$v]}, not $g"
    fk_nodes
    probe "$pre.back$k" fk-wait-back "$FKD/nodes.tsv" "n$v" "own-n$v" 60 "$OBSERVE" ||
        die "fakts-node N=$FK_N: restarted n$v is not alive everywhere"
    log "fakts-node N=$FK_N: n$v alive everywhere again $(r "$pre.back$k.ms") ms after its restart;" \
        "$(r "$pre.back$k.flaps") false suspect/failed sightings in the ${OBSERVE} s after it"
    return "$rc"
}

# log_offsets: the current size of every agent log, "path:bytes" per line
log_offsets() { local f; for f in "$FKD"/n*/agent.log; do printf '%s:%s\n' "$f" "$(stat -c %s "$f")"; done; }
# log_since OFFSETS OUTFILE: what each agent logged after OFFSETS, concatenated
log_since() {
    local f off
    : >"$2"
    while IFS=: read -r f off; do tail -c +$((off + 1)) "$f" >>"$2"; done <<<"$1"
}

# fk_loss N: drop LOSS of the packets to and from every gossip port (both directions of
# every TCP connection) for LOSS_SECONDS under LOSS_RATE registrations/s and count false
# suspicions and failures in the agents' logs; then LOSS_KILLS kill -9 runs under the same
# loss; then lift it and require equal views.
fk_loss() {
    local N=$1 i k v off0 off1 victims det=()
    if [ -z "$IPT" ]; then
        INVALID+=("fakts-node N=$N packet loss: needs root and iptables; skipped")
        return 0
    fi
    chain_make
    for i in $(seq 0 $((N - 1))); do
        for dir in "-d $(fk_ip "$i") --dport" "-s $(fk_ip "$i") --sport"; do
            # shellcheck disable=SC2086
            iptables -w -A "$CHAIN" -i lo -p tcp $dir "${FK_GOSSIP[$i]##*:}" \
                -m statistic --mode random --probability "$LOSS" -j DROP
        done
    done
    R[$N.loss.share]=$LOSS
    off0=$(log_offsets)
    log "fakts-node N=$N: $LOSS packet loss on every gossip port for ${LOSS_SECONDS} s, $LOSS_RATE registrations/s"
    probe "$N.loss.load" fk-load "$FKD/nodes.tsv" "$LOSS_RATE" "$LOSS_SECONDS" lossload "$SEED" ||
        die "fakts-node N=$N: the registration load under loss failed"
    off1=$(log_offsets)
    log_since "$off0" "$TMP/loss-window.log"
    logscan "$N.loss.win" "" "$TMP/loss-window.log"
    log "fakts-node N=$N: under loss $(r "$N.loss.win.fail_other") false failures, $(r "$N.loss.win.susp_other") suspicions"
    victims=$(pick_victims "$N" "$LOSS_KILLS" "$((SEED + 1))")
    R[$N.loss.victims]=$victims
    k=0
    for v in $victims; do
        k=$((k + 1))
        fk_kill_cycle "$N.loss" "$k" "$v" "$LOSS_KILLS" && det+=("$(r "$N.loss.kill$k.ms")")
    done
    R[$N.loss.det.samples]=$(join_by , "${det[@]}")
    probe "$N.loss.det" stats "" "${R[$N.loss.det.samples]}"
    R[$N.loss.dropped]=$(iptables -w -L "$CHAIN" -v -x -n | awk '$3 == "DROP" {p += $1} END {print p + 0}')
    chain_drop
    log_since "$off1" "$TMP/loss-kills.log"
    logscan "$N.loss.kills" "$(for v in $victims; do printf 'n%s ' "$v"; done)" "$TMP/loss-kills.log"
    probe "$N.loss.view" fk-wait-view "$FKD/nodes.tsv" "$CONV_TIMEOUT" ||
        INVALID+=("fakts-node N=$N: X-Fakts-View differs between nodes ${CONV_TIMEOUT}s after the loss was lifted")
}

fk_run() {   # fk_run N MODE: MODE secure (results under N.fk) or insecure (N.fki)
    local N=$1 i k v pid end g t_a t_b victims det=() back=() sus=() first=() others=0 flaps=0
    FK_MODE=$2
    local S=$([ "$FK_MODE" = secure ] && echo fk || echo fki)
    FK_N=$N
    FKD=$TMP/fakts-$N-$FK_MODE
    mkdir -p "$FKD"
    FK_PID=() FK_HTTP=() FK_GOSSIP=() FK_TOKEN=()
    local poll=${BENCH_POLL_MS:-$(( N / 2 > 5 ? N / 2 : 5 ))}
    local dpoll=$(( N > 20 ? N : 20 ))
    R[$N.$S.poll_ms]=$poll
    R[$N.$S.dpoll_ms]=$dpoll

    # ---- 1. start, join through node 0, wait for N alive members everywhere ------------
    log "fakts-node ($FK_MODE) N=$N: starting $N agents on 127.0.0.$ADDRS"
    t_a=$(date +%s%N)
    for i in $(seq 0 $((N - 1))); do fk_start "$i" "$(fk_ip "$i"):0"; done
    end=$(( $(date +%s) + 60 + N ))
    for i in $(seq 0 $((N - 1))); do fk_ready "$i" "$end"; done
    fk_nodes
    R[$N.$S.up_ms]=$(( ($(date +%s%N) - t_a) / 1000000 ))
    log "fakts-node ($FK_MODE) N=$N: all listening after ${R[$N.$S.up_ms]} ms; joining through ${FK_GOSSIP[0]}"
    t_a=$(date +%s%N)
    for i in $(seq 1 $((N - 1))); do
        timeout 15 "$BIN" join "${FK_GOSSIP[0]}" --data-dir "$FKD/n$i/data" >/dev/null ||
            die "n$i: fakts-node join ${FK_GOSSIP[0]} failed"
    done
    probe "$N.$S.formed" fk-wait-members "$FKD/nodes.tsv" $((30 + N)) ||
        die "fakts-node N=$N: the cluster did not form"
    R[$N.$S.formed_ms]=$(( ($(date +%s%N) - t_a) / 1000000 ))
    log "fakts-node ($FK_MODE) N=$N: every node lists $N alive members ${R[$N.$S.formed_ms]} ms after the first join"
    sleep 2
    memstat "$N.$S.mem0" "${FK_PID[@]}"

    # ---- 2. convergence of a registration ------------------------------------------------
    log "fakts-node ($FK_MODE) N=$N: convergence, $CONV_ROUNDS registrations (poll every ${poll} ms per node)"
    probe "$N.$S.conv" fk-converge "$FKD/nodes.tsv" "$CONV_ROUNDS" conv "$poll" "$CONV_TIMEOUT" "$SEED" ||
        INVALID+=("fakts-node N=$N convergence: $(r "$N.$S.conv.timeouts") registration(s) not on every node within ${CONV_TIMEOUT}s")
    log "fakts-node ($FK_MODE) N=$N: convergence median $(r "$N.$S.conv.last_median") ms, p90 $(r "$N.$S.conv.last_p90") ms, max $(r "$N.$S.conv.last_max") ms"

    # ---- 3. failure detection --------------------------------------------------------------
    probe "$N.$S.own" fk-own "$FKD/nodes.tsv" "$CONV_TIMEOUT" ||
        die "fakts-node N=$N: the own-* services did not reach every node"
    victims=$(pick_victims "$N" "$KILLS" "$SEED")
    R[$N.$S.victims]=$victims
    k=0
    for v in $victims; do
        k=$((k + 1))
        fk_kill_cycle "$N.$S" "$k" "$v" "$KILLS" || continue
        det+=("$(r "$N.$S.kill$k.ms")")
        first+=("$(r "$N.$S.kill$k.first_failed_ms")")
        [ "$(r "$N.$S.kill$k.first_suspect_ms")" = n/a ] || sus+=("$(r "$N.$S.kill$k.first_suspect_ms")")
        others=$((others + $(r "$N.$S.kill$k.others_not_alive" | sed 's/n\/a/0/')))
        back+=("$(r "$N.$S.back$k.ms")")
        flaps=$((flaps + $(r "$N.$S.back$k.flaps")))
    done
    R[$N.$S.det.samples]=$(join_by , "${det[@]}")
    probe "$N.$S.det" stats "" "${R[$N.$S.det.samples]}"
    probe "$N.$S.det_first" stats "" "$(join_by , "${first[@]}")"
    probe "$N.$S.det_suspect" stats "" "$(join_by , "${sus[@]}")"
    probe "$N.$S.back" stats "" "$(join_by , "${back[@]}")"
    R[$N.$S.det.others]=$others
    R[$N.$S.back.flaps]=$flaps

    # ---- 4. gossip bandwidth ----------------------------------------------------------------
    chain_make
    for i in $(seq 0 $((N - 1))); do chain_rule -p tcp -d "$(fk_ip "$i")" --dport "${FK_GOSSIP[$i]##*:}"; done
    for i in $(seq 0 $((N - 1))); do chain_rule -p tcp -s "$(fk_ip "$i")" --sport "${FK_GOSSIP[$i]##*:}"; done
    sleep 2
    log "fakts-node ($FK_MODE) N=$N: idle gossip bandwidth, ${BW_SECONDS} s"
    bw_window "$N.$S.bw_idle" "$BW_SECONDS" "$N" FK_PID
    log "fakts-node ($FK_MODE) N=$N: idle $(r "$N.$S.bw_idle.bps") B/s per node"
    log "fakts-node ($FK_MODE) N=$N: gossip bandwidth under $LOAD_RATE registrations/s, ${BW_SECONDS} s"
    bw_window "$N.$S.bw_load" "$BW_SECONDS" "$N" FK_PID \
        probe "$N.$S.load" fk-load "$FKD/nodes.tsv" "$LOAD_RATE" "$BW_SECONDS" load "$SEED" ||
        die "fakts-node N=$N: the registration load failed"
    log "fakts-node ($FK_MODE) N=$N: loaded $(r "$N.$S.bw_load.bps") B/s per node"
    chain_drop
    probe "$N.$S.view" fk-wait-view "$FKD/nodes.tsv" "$CONV_TIMEOUT" ||
        INVALID+=("fakts-node N=$N: X-Fakts-View differs between nodes ${CONV_TIMEOUT}s after the load")

    # ---- 5. memory, idle -------------------------------------------------------------------
    sleep 2
    memstat "$N.$S.mem" "${FK_PID[@]}"
    log "fakts-node ($FK_MODE) N=$N: VmRSS median $(r "$N.$S.mem.rss.median") KiB"
    logscan "$N.$S.log" "$(for v in $victims; do printf 'n%s ' "$v"; done)" "$FKD"/n*/agent.log

    # ---- 6. packet loss --------------------------------------------------------------------
    if [ "$FK_MODE" = secure ] && [ "$LOSS_SECONDS" -gt 0 ] && [[ " $LOSS_SIZES " == *" $N "* ]]; then
        fk_loss "$N"
    fi
    stop_pids "${FK_PID[@]}"
    FK_PID=()
}

# =====================================================================================
# Serf
# =====================================================================================
serf_start() {   # serf_start I
    local i=$1 d=$SD/s$1
    mkdir -p "$d"
    serf agent -node "s$i" -bind "$(serf_ip "$i"):$(serf_port "$i")" \
        -rpc-addr "$(serf_ip "$i"):$((SERF_RPC_BASE + i))" -log-level info >>"$d/agent.log" 2>&1 &
    SERF_PID[$i]=$!
}
serf_nodes() {   # serf_nodes FILE [I...]: node list (all when no index is given)
    local f=$1 i
    shift
    [ $# -gt 0 ] || set -- $(seq 0 $((SERF_N - 1)))
    for i in "$@"; do
        printf 's%s\t%s\t%s\n' "$i" "$(serf_ip "$i"):$((SERF_RPC_BASE + i))" "${SERF_PID[$i]}"
    done >"$f"
}
serf_join() {   # serf_join I
    timeout 15 serf join -rpc-addr="$(serf_ip "$1"):$((SERF_RPC_BASE + $1))" "$(serf_ip 0):$(serf_port 0)" \
        >/dev/null || die "serf s$1: join $(serf_ip 0):$(serf_port 0) failed"
}

serf_run() {   # serf_run N
    local N=$1 i k v pid t_a victims det=() back=() first=() others=0
    SERF_N=$N
    SD=$TMP/serf-$N
    mkdir -p "$SD"
    SERF_PID=()
    local poll=${BENCH_POLL_MS:-$(( N / 2 > 5 ? N / 2 : 5 ))}
    local dpoll=$(( N > 20 ? N : 20 ))

    log "serf N=$N: starting $N agents on 127.0.0.$ADDRS"
    t_a=$(date +%s%N)
    for i in $(seq 0 $((N - 1))); do serf_start "$i"; done
    serf_nodes "$SD/nodes.tsv"
    probe "$N.serf.up" serf-wait-members "$SD/nodes.tsv" 1 $((30 + N)) ||
        die "serf N=$N: the agents did not come up"
    t_a=$(date +%s%N)
    for i in $(seq 1 $((N - 1))); do serf_join "$i"; done
    probe "$N.serf.formed" serf-wait-members "$SD/nodes.tsv" "$N" $((30 + N)) ||
        die "serf N=$N: the cluster did not form"
    R[$N.serf.formed_ms]=$(( ($(date +%s%N) - t_a) / 1000000 ))
    log "serf N=$N: every agent lists $N alive members ${R[$N.serf.formed_ms]} ms after the first join"
    sleep 2
    memstat "$N.serf.mem0" "${SERF_PID[@]}"

    log "serf N=$N: convergence, $SERF_ROUNDS tag changes (poll every ${poll} ms per agent)"
    probe "$N.serf.conv" serf-converge "$SD/nodes.tsv" "$SERF_ROUNDS" "$poll" "$CONV_TIMEOUT" "$SEED" ||
        PEER_NOTES+=("serf N=$N convergence: $(r "$N.serf.conv.timeouts") tag change(s) not on every agent within ${CONV_TIMEOUT}s (counted as ${CONV_TIMEOUT} s in the statistics): $(r "$N.serf.conv.timeout_detail")")
    # cross-check with the CLI the brief names: the last tag as `serf members -format json` shows it
    v=$(r "$N.serf.conv.last_node")
    if [ "$v" != n/a ] && [ -n "$v" ]; then
        i=$(( ${v#s} == 0 ? 1 : 0 ))
        serf members -format json -rpc-addr="$(serf_ip "$i"):$((SERF_RPC_BASE + i))" |
            "$PY" "$PROBE" serf-cli-check "$v" "$(r "$N.serf.conv.last_tag")" >/dev/null ||
            INVALID+=("serf N=$N: \`serf members -format json\` disagrees with the RPC poll")
    fi
    log "serf N=$N: convergence median $(r "$N.serf.conv.last_median") ms, p90 $(r "$N.serf.conv.last_p90") ms, max $(r "$N.serf.conv.last_max") ms"

    victims=$(pick_victims "$N" "$SERF_KILLS" "$((SEED + 1))")
    R[$N.serf.victims]=$victims
    k=0
    for v in $victims; do
        k=$((k + 1))
        pid=${SERF_PID[$v]}
        log "serf N=$N: kill -9 s$v (pid $pid), run $k of $SERF_KILLS"
        if probe "$N.serf.kill$k" serf-detect "$SD/nodes.tsv" "s$v" "$pid" "$dpoll" "$DETECT_TIMEOUT"; then
            det+=("$(r "$N.serf.kill$k.ms")")
            first+=("$(r "$N.serf.kill$k.first_failed_ms")")
            log "serf N=$N: s$v failed everywhere after $(r "$N.serf.kill$k.ms") ms"
        else
            PEER_NOTES+=("serf N=$N kill $k: s$v not failed everywhere within ${DETECT_TIMEOUT}s")
        fi
        others=$((others + $(r "$N.serf.kill$k.others_not_alive" | sed 's/n\/a/0/')))
        ! kill -0 "$pid" 2>/dev/null || die "serf N=$N: s$v was not killed (see above)"
        wait "$pid" 2>/dev/null || true
        serf_start "$v"
        serf_nodes "$SD/nodes.tsv"
        serf_nodes "$SD/one.tsv" "$v"
        probe "$N.serf.up$k" serf-wait-members "$SD/one.tsv" 1 30 || die "serf s$v did not restart"
        t_a=$(date +%s%N)
        serf_join "$v"
        probe "$N.serf.back$k" serf-wait-members "$SD/nodes.tsv" "$N" 60 ||
            die "serf N=$N: restarted s$v is not alive everywhere"
        back+=("$(( ($(date +%s%N) - t_a) / 1000000 ))")
        sleep 1
    done
    R[$N.serf.det.samples]=$(join_by , "${det[@]}")
    probe "$N.serf.det" stats "" "${R[$N.serf.det.samples]}"
    probe "$N.serf.det_first" stats "" "$(join_by , "${first[@]}")"
    probe "$N.serf.back" stats "" "$(join_by , "${back[@]}")"
    R[$N.serf.det.others]=$others

    if [ "$SERF_BW_SECONDS" -gt 0 ]; then
        chain_make
        for i in $(seq 0 $((N - 1))); do
            chain_rule -p udp -d "$(serf_ip "$i")" --dport "$(serf_port "$i")"
            chain_rule -p tcp -d "$(serf_ip "$i")" --dport "$(serf_port "$i")"
        done
        for i in $(seq 0 $((N - 1))); do chain_rule -p tcp -s "$(serf_ip "$i")" --sport "$(serf_port "$i")"; done
        sleep 2
        log "serf N=$N: idle gossip bandwidth, ${SERF_BW_SECONDS} s"
        bw_window "$N.serf.bw_idle" "$SERF_BW_SECONDS" "$N" SERF_PID
        chain_drop
        log "serf N=$N: idle $(r "$N.serf.bw_idle.bps") B/s per node"
    fi
    sleep 2
    memstat "$N.serf.mem" "${SERF_PID[@]}"
    log "serf N=$N: VmRSS median $(r "$N.serf.mem.rss.median") KiB"
    R[$N.serf.log.memberlist_suspect]=$(cat "$SD"/s*/agent.log | grep -c 'memberlist: Suspect' || true)
    # failures announced of agents that were never killed (false failures)
    R[$N.serf.log.fail_other]=$(cat "$SD"/s*/agent.log | sed -n 's/.*EventMemberFailed: \([^ ]*\).*/\1/p' |
        awk -v victims=" $(for v in $victims; do printf 's%s ' "$v"; done)" '!index(victims, " " $1 " ")' | wc -l)
    R[$N.serf.log.fail_victim]=$(cat "$SD"/s*/agent.log | grep -c 'EventMemberFailed' || true)
    R[$N.serf.log.warn]=$(cat "$SD"/s*/agent.log | grep -c '\[WARN\]' || true)
    R[$N.serf.log.error]=$(cat "$SD"/s*/agent.log | grep -c '\[ERR' || true)
    stop_pids "${SERF_PID[@]}"
    SERF_PID=()
}

"$BIN" keygen --cluster-secret "$SECRET" >/dev/null || die "cannot make a cluster secret"
for n in "${SIZES[@]}"; do
    fk_run "$n" secure
    [ "$INSECURE_ON" = 1 ] && fk_run "$n" insecure
    [ "$SERF_ON" = 1 ] && serf_run "$n"
done

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$(($(date +%s) - T0))

# ---- report -------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a+0 > 0 && b+0 > 0) printf "%.2f", a/b; else print "n/a" }'; }
mib() { awk -v k="$1" 'BEGIN{ if (k == "n/a") print "n/a"; else printf "%.1f", k/1024 }'; }
verdict() {   # verdict MEASURED TARGET
    awk -v m="$1" -v t="$2" 'BEGIN{
        if (m == "n/a" || t == "") { print "n/a"; exit }
        if (m + 0 < t + 0) printf "met"; else printf "**missed** (%.1fx)", m/t }'
}
conv_target() { case $1 in 10) echo 100 ;; 50) echo 300 ;; *) echo "" ;; esac; }
det_target() { case $1 in 10) echo 2000 ;; *) echo "" ;; esac; }
tgt() { [ -n "$1" ] && echo "< $1 ms" || echo "–"; }
COMMIT=$(git -C "$BENCH_DIR/.." rev-parse --short HEAD 2>/dev/null || echo unknown)

{
    echo "# fakts-node cluster benchmark results"
    echo
    echo "Generated by \`bench/cluster.sh\` on $START_DATE in ${ELAPSED}s (sizes: ${SIZES[*]}; seed $SEED)."
    echo "Every node runs on this one machine and all traffic is loopback: the figures show the"
    echo "protocols' timing and cost, not a network's. The machine is shared: compare the same-run"
    echo "ratios rather than absolute numbers across runs."
    echo
    echo "| Machine | |"
    echo "|---|---|"
    echo "| nproc | $(nproc) |"
    echo "| CPU | $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | sed -n 1p) |"
    echo "| kernel | $(uname -r) |"
    echo "| load average (1/5/15 min) at start / end | $LOAD_START / $LOAD_END |"
    echo "| other processes at start | ${FOREIGN:-0} fakts-node, ${FOREIGN_SERF:-0} serf not started by this run |"
    echo "| fakts-node | \`$BIN\` (sha256 $(sha256sum "$BIN" | cut -c1-12), ${BENCH_BINARY_NOTE:-built from an unrecorded tree; repository HEAD at run time $COMMIT}); sanitizer build: $SANITIZED |"
    echo "| serf peer | $SERF_VERSION (Debian package), LAN profile defaults |"
    echo
    echo "| Setting | |"
    echo "|---|---|"
    echo "| addresses | agent I on 127.0.0.($ADDR_FIRST + I mod $ADDR_COUNT): $ADDR_COUNT loopback addresses shared round-robin, fakts-node then Serf (never at the same time) |"
    echo "| fakts-node agents | \`agent --node nI --http ADDR:0 --gossip ADDR:0 --rate-authorize 0 --rate-token 0 --log-level info\` and \`--cluster-secret-file\` (one secret for the run; the secure mode, every table below but the one comparing modes) or \`--insecure-gossip\`, each its own data dir; \`fakts-node join\` through node 0 |"
    echo "| serf agents | \`agent -node sI -bind ADDR:($SERF_PORT+I) -rpc-addr ADDR:(7373+I) -log-level info\`; \`serf join\` through node 0 |"
    echo "| convergence | $CONV_ROUNDS registrations (fakts-node) / $SERF_ROUNDS tag changes (serf), each on a random node; timed from just before the write to the answer in which the last node showed it; fakts-node: \`GET /v1/services\` on every node over its own keep-alive connection, all driven by one \`selectors\` loop; serf: one thread per agent over a persistent RPC connection, \`members-filtered\` by the tagged node's name (what \`serf members -name\` calls); a node's next poll follows its answer by the poll period below |"
    echo "| failure detection | $KILLS (fakts-node) / $SERF_KILLS (serf) \`kill -9\` of a random non-seed node; timed until every other node lists it \`failed\` (fakts-node: and no longer lists its service); polled every max(20, N) ms per node; the node is restarted on the same gossip address (serf: and re-joined) and must be alive everywhere before the next run |"
    echo "| bandwidth | $BW_METHOD on each node's gossip port (fakts-node: TCP to and from its ZeroMQ ROUTER port; serf: UDP and TCP to its port $SERF_PORT+I, TCP from it), ${BW_SECONDS} s idle and ${BW_SECONDS} s under $LOAD_RATE registrations/s on random nodes (fakts-node); serf ${SERF_BW_SECONDS} s idle. Per node = total / N |"
    echo "| memory | /proc/PID/status VmRSS and smaps_rollup Pss of every agent, idle, after the measurements above (and right after the cluster formed) |"
    echo
    echo "## Summary"
    echo
    echo "| N | Measure | fakts-node | serf | fakts-node / serf | Target | Verdict |"
    echo "|---|---|---|---|---|---|---|"
    for n in "${SIZES[@]}"; do
        ct=$(conv_target "$n"); dt=$(det_target "$n")
        echo "| $n | convergence median (ms) | $(r "$n.fk.conv.last_median") | $(r "$n.serf.conv.last_median") | $(ratio "$(r "$n.fk.conv.last_median")" "$(r "$n.serf.conv.last_median")") | $(tgt "$ct") | $(verdict "$(r "$n.fk.conv.last_median")" "$ct") |"
        echo "| $n | convergence p90 (ms) | $(r "$n.fk.conv.last_p90") | $(r "$n.serf.conv.last_p90") | $(ratio "$(r "$n.fk.conv.last_p90")" "$(r "$n.serf.conv.last_p90")") | | |"
        echo "| $n | convergence max (ms) | $(r "$n.fk.conv.last_max") | $(r "$n.serf.conv.last_max") | $(ratio "$(r "$n.fk.conv.last_max")" "$(r "$n.serf.conv.last_max")") | | |"
        echo "| $n | kill -9 detection median (ms) | $(r "$n.fk.det.median") | $(r "$n.serf.det.median") | $(ratio "$(r "$n.fk.det.median")" "$(r "$n.serf.det.median")") | $(tgt "$dt") | $(verdict "$(r "$n.fk.det.median")" "$dt") |"
        echo "| $n | kill -9 detection max (ms) | $(r "$n.fk.det.max") | $(r "$n.serf.det.max") | $(ratio "$(r "$n.fk.det.max")" "$(r "$n.serf.det.max")") | $(tgt "$dt") | $(verdict "$(r "$n.fk.det.max")" "$dt") |"
        echo "| $n | gossip bytes/s per node, idle | $(r "$n.fk.bw_idle.bps") | $(r "$n.serf.bw_idle.bps") | $(ratio "$(r "$n.fk.bw_idle.bps")" "$(r "$n.serf.bw_idle.bps")") | | |"
        echo "| $n | gossip bytes/s per node, $LOAD_RATE registrations/s | $(r "$n.fk.bw_load.bps") | – | | | |"
        echo "| $n | VmRSS per node, median (MiB) | $(mib "$(r "$n.fk.mem.rss.median")") | $(mib "$(r "$n.serf.mem.rss.median")") | $(ratio "$(r "$n.fk.mem.rss.median")" "$(r "$n.serf.mem.rss.median")") | | |"
        echo "| $n | Pss per node, median (MiB) | $(mib "$(r "$n.fk.mem.pss.median")") | $(mib "$(r "$n.serf.mem.pss.median")") | $(ratio "$(r "$n.fk.mem.pss.median")" "$(r "$n.serf.mem.pss.median")") | | |"
    done
    echo
    if [ "$INSECURE_ON" = 1 ]; then
        echo "## The price of the secure gossip"
        echo
        echo "The same measurements with the same binary in the same run: the secure mode (CurveZMQ,"
        echo "every node admitted through the cluster secret, records and claims signed and verified)"
        echo "against \`--insecure-gossip\` (plaintext, no signature checks). Goals (issue 8): CURVE and"
        echo "signatures cost at most 10 % of convergence time and at most 20 % more CPU."
        echo
        echo "| N | Measure | secure | insecure | secure / insecure | Goal | Verdict |"
        echo "|---|---|---|---|---|---|---|"
        for n in "${SIZES[@]}"; do
            row() {   # row LABEL KEY GOAL_RATIO
                local a b q v=""
                a=$(r "$n.fk.$2"); b=$(r "$n.fki.$2"); q=$(ratio "$a" "$b")
                if [ -n "$3" ] && [ "$q" != n/a ]; then
                    v=$(awk -v q="$q" -v g="$3" 'BEGIN{ if (q + 0 <= g + 0) print "met"; else print "**missed**" }')
                fi
                echo "| $n | $1 | $a | $b | $q | ${3:+<= $3} | $v |"
            }
            row "convergence median (ms)" conv.last_median 1.10
            row "convergence p90 (ms)" conv.last_p90 ""
            row "kill -9 detection median (ms)" det.median ""
            row "gossip bytes/s per node, idle" bw_idle.bps ""
            row "gossip bytes/s per node, $LOAD_RATE registrations/s" bw_load.bps ""
            row "CPU ms/s per node, idle" bw_idle.cpu_ms_s 1.20
            row "CPU ms/s per node, $LOAD_RATE registrations/s" bw_load.cpu_ms_s 1.20
            row "VmRSS per node, median (KiB)" mem.rss.median ""
        done
        echo
    fi
    echo "## Convergence (ms)"
    echo
    echo "\"last node\" is the measure: the time until every node showed the write. \"90 % of nodes\""
    echo "and \"half\" are the times until that share of the nodes did, \"first remote\" until the first node other than the writer"
    echo "did; \"write\" is the PUT (fakts-node: a committed LMDB transaction) or the RPC \`tags\` call."
    echo "The poll period bounds the resolution (an answer shows the state at most one period late)."
    echo "A round that timed out (${CONV_TIMEOUT} s) counts as ${CONV_TIMEOUT} s in the last-node statistics."
    echo
    echo "| N | System | Samples | last node median | p90 | max | min | 90 % of nodes median | half median | first remote median | write median | poll period / achieved polls per s per node | timeouts |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    for n in "${SIZES[@]}"; do
        for s in fk serf; do
            [ "$s" = serf ] && [ "$SERF_ON" != 1 ] && continue
            echo "| $n | $([ $s = fk ] && echo fakts-node || echo serf) | $(r "$n.$s.conv.last_n") | $(r "$n.$s.conv.last_median") | $(r "$n.$s.conv.last_p90") | $(r "$n.$s.conv.last_max") | $(r "$n.$s.conv.last_min") | $(r "$n.$s.conv.p90node_median") | $(r "$n.$s.conv.half_median") | $(r "$n.$s.conv.first_remote_median") | $(r "$n.$s.conv.put_median") | ${R[$n.fk.poll_ms]} ms / $(r "$n.$s.conv.poll_hz") | $(r "$n.$s.conv.timeouts") |"
        done
    done
    echo
    for n in "${SIZES[@]}"; do
        echo "- N=$n fakts-node samples (ms): $(r "$n.fk.conv.samples_ms")"
        [ "$SERF_ON" = 1 ] && echo "- N=$n serf samples (ms): $(r "$n.serf.conv.samples_ms")"
    done
    echo
    echo "## Failure detection (ms after the kill -9)"
    echo
    echo "\"everywhere\" is the measure (every other node lists the victim failed; fakts-node: and"
    echo "no longer lists its service); \"first failed\" is the first node that did; \"first suspect\""
    echo "the first fakts-node that listed it suspect; \"rejoin\" is from the restarted agent"
    echo "listening (serf: from its \`serf join\`) until every node lists every member alive (fakts-node:"
    echo "and the victim's service). \"Others not alive\" counts (observer, member, status) sightings"
    echo "of a member *other than the victim* as suspect or failed during the detection polls; \"flaps"
    echo "after restart\" counts, over the ${OBSERVE} s after each restart, sightings of any member not"
    echo "alive other than the victim's own failed status before it came back (fakts-node only: Serf's"
    echo "members list has no suspect state). Both are false suspicions seen through the API."
    echo
    echo "| N | System | Victims | everywhere median | max | samples | first failed median | first suspect median | rejoin median / max | others not alive | flaps after restart |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    for n in "${SIZES[@]}"; do
        echo "| $n | fakts-node | $(for v in $(r "$n.fk.victims"); do printf 'n%s ' "$v"; done)| $(r "$n.fk.det.median") | $(r "$n.fk.det.max") | $(r "$n.fk.det.samples") | $(r "$n.fk.det_first.median") | $(r "$n.fk.det_suspect.median") | $(r "$n.fk.back.median") / $(r "$n.fk.back.max") | $(r "$n.fk.det.others") | $(r "$n.fk.back.flaps") |"
        [ "$SERF_ON" = 1 ] && echo "| $n | serf | $(for v in $(r "$n.serf.victims"); do printf 's%s ' "$v"; done)| $(r "$n.serf.det.median") | $(r "$n.serf.det.max") | $(r "$n.serf.det.samples") | $(r "$n.serf.det_first.median") | – | $(r "$n.serf.back.median") / $(r "$n.serf.back.max") | – | – |"
    done
    echo
    for n in "${SIZES[@]}"; do
        for k in $(seq 1 "$KILLS"); do
            [ "$(r "$n.fk.kill$k.others_not_alive_list")" = n/a ] && continue
            echo "- N=$n fakts-node kill $k, false suspicions seen: $(r "$n.fk.kill$k.others_not_alive_list")"
        done
        for k in $(seq 1 "$KILLS"); do
            [ "$(r "$n.fk.back$k.flaps_list")" = n/a ] && continue
            echo "- N=$n fakts-node restart $k, flaps seen: $(r "$n.fk.back$k.flaps_list")"
        done
    done
    echo
    echo "## Gossip bandwidth"
    echo
    echo "Bytes per second per node (total on the gossip ports / N / seconds), the least and most"
    echo "busy node's port, packets per second per node, and the agents' CPU time (ms per second per"
    echo "node, /proc/PID/task/*/schedstat)."
    echo
    echo "| N | System | Window | Seconds | B/s per node | least node B/s | busiest node B/s | packets/s per node | CPU ms/s per node |"
    echo "|---|---|---|---|---|---|---|---|---|"
    for n in "${SIZES[@]}"; do
        echo "| $n | fakts-node | idle | $(r "$n.fk.bw_idle.seconds") | $(r "$n.fk.bw_idle.bps") | $(r "$n.fk.bw_idle.min_bps") | $(r "$n.fk.bw_idle.max_bps") | $(r "$n.fk.bw_idle.pps") | $(r "$n.fk.bw_idle.cpu_ms_s") |"
        echo "| $n | fakts-node | $LOAD_RATE registrations/s ($(r "$n.fk.load.count") in total, $(r "$n.fk.load.late") late) | $(r "$n.fk.bw_load.seconds") | $(r "$n.fk.bw_load.bps") | $(r "$n.fk.bw_load.min_bps") | $(r "$n.fk.bw_load.max_bps") | $(r "$n.fk.bw_load.pps") | $(r "$n.fk.bw_load.cpu_ms_s") |"
        [ "$SERF_ON" = 1 ] && [ "$SERF_BW_SECONDS" -gt 0 ] &&
            echo "| $n | serf | idle | $(r "$n.serf.bw_idle.seconds") | $(r "$n.serf.bw_idle.bps") | $(r "$n.serf.bw_idle.min_bps") | $(r "$n.serf.bw_idle.max_bps") | $(r "$n.serf.bw_idle.pps") | $(r "$n.serf.bw_idle.cpu_ms_s") |"
    done
    echo
    for n in "${SIZES[@]}"; do
        echo "- N=$n: after the loaded window every fakts-node answered the same X-Fakts-View after $(r "$n.fk.view.ms") ms."
    done
    echo
    if [ "$LOSS_SECONDS" -gt 0 ]; then
        echo "## Under packet loss"
        echo
        echo "iptables drops a random share of the TCP packets to and from every node's gossip port"
        echo "(both directions of every connection) for ${LOSS_SECONDS} s while $LOSS_RATE registration(s)/s"
        echo "go to random nodes; no node is killed in that window, so every \"failed\" logged in it is"
        echo "false (target: zero). Then $LOSS_KILLS kill -9 runs under the same loss, timed as above."
        echo
        echo "| N | Loss | Seconds | Packets dropped | false failures (log lines) | false suspicions (log lines) | refuted | kill -9 detection median / max (ms) | samples | false failures during the kills | views equal after (ms) |"
        echo "|---|---|---|---|---|---|---|---|---|---|---|"
        for n in $LOSS_SIZES; do
            [[ " ${SIZES[*]} " == *" $n "* ]] || continue
            echo "| $n | $(r "$n.loss.share") | $(r "$n.loss.load.seconds") | $(r "$n.loss.dropped") | $(r "$n.loss.win.fail_other") | $(r "$n.loss.win.susp_other") | $(r "$n.loss.win.refuted") | $(r "$n.loss.det.median") / $(r "$n.loss.det.max") | $(r "$n.loss.det.samples") | $(r "$n.loss.kills.fail_other") | $(r "$n.loss.view.ms") |"
        done
        echo
        for n in $LOSS_SIZES; do
            [ -n "${R[$n.loss.win.who]:-}" ] && echo "- N=$n under loss, false suspicions by member: ${R[$n.loss.win.who]}"
        done
        echo
    fi
    echo "## Resident memory per node (MiB)"
    echo
    echo "| N | System | When | VmRSS median | VmRSS min | VmRSS max | Pss median |"
    echo "|---|---|---|---|---|---|---|"
    for n in "${SIZES[@]}"; do
        for s in fk serf; do
            [ "$s" = serf ] && [ "$SERF_ON" != 1 ] && continue
            name=$([ $s = fk ] && echo fakts-node || echo serf)
            echo "| $n | $name | 2 s after the cluster formed | $(mib "$(r "$n.$s.mem0.rss.median")") | $(mib "$(r "$n.$s.mem0.rss.min")") | $(mib "$(r "$n.$s.mem0.rss.max")") | $(mib "$(r "$n.$s.mem0.pss.median")") |"
            echo "| $n | $name | idle, after all the measurements | $(mib "$(r "$n.$s.mem.rss.median")") | $(mib "$(r "$n.$s.mem.rss.min")") | $(mib "$(r "$n.$s.mem.rss.max")") | $(mib "$(r "$n.$s.mem.pss.median")") |"
        done
    done
    echo
    echo "## What the agents logged"
    echo
    echo "fakts-node logs one line per member status change. \"about others\" counts lines naming a"
    echo "member that was never killed (a false suspicion, refuted or not); \"failed, victims\" is"
    echo "expected to be about (N-1) per kill."
    echo
    echo "| N | suspect, about others | failed, about others | suspect, victims | failed, victims (expected) | refuted accusations | WARN | ERROR |"
    echo "|---|---|---|---|---|---|---|---|"
    for n in "${SIZES[@]}"; do
        echo "| $n | $(r "$n.fk.log.susp_other") | $(r "$n.fk.log.fail_other") | $(r "$n.fk.log.susp_victim") | $(r "$n.fk.log.fail_victim") ($((KILLS * (n - 1)))) | $(r "$n.fk.log.refuted") | $(r "$n.fk.log.warn") | $(r "$n.fk.log.error") |"
    done
    echo
    for n in "${SIZES[@]}"; do
        [ -n "${R[$n.fk.log.who]:-}" ] && echo "- N=$n, false suspicions by member: ${R[$n.fk.log.who]}"
        [ -n "${R[$n.fk.log.msgs]:-}" ] && echo "- N=$n, warnings/errors: ${R[$n.fk.log.msgs]}"
        [ "$SERF_ON" = 1 ] && echo "- N=$n, serf: $(r "$n.serf.log.memberlist_suspect") memberlist 'Suspect' log lines, $(r "$n.serf.log.fail_victim") EventMemberFailed lines ($((SERF_KILLS * (n - 1))) expected), of which $(r "$n.serf.log.fail_other") about agents never killed; $(r "$n.serf.log.warn") WARN, $(r "$n.serf.log.error") ERROR"
    done
    if [ ${#PEER_NOTES[@]} -gt 0 ]; then
        echo
        echo "## Serf anomalies (reported, not failed measurements)"
        echo
        for x in "${PEER_NOTES[@]}"; do echo "- $x"; done
    fi
    if [ ${#INVALID[@]} -gt 0 ]; then
        echo
        echo "## Invalid measurements"
        echo
        for x in "${INVALID[@]}"; do echo "- $x"; done
    fi
} >"$TMP/results.md"

cp "$TMP/results.md" "$OUT"
cat "$TMP/results.md"

# ---- raw samples for bench/plot.sh ---------------------------------------------------
# Small tab-separated files, committed with the plots drawn from them (bench/plots/data):
# one row per sample, so a plot shows the distribution, not only the report's medians.
systems() {   # the systems measured: result key and name
    echo "fk fakts-node"
    [ "$INSECURE_ON" = 1 ] && echo "fki fakts-node-insecure"
    [ "$SERF_ON" = 1 ] && echo "serf serf"
    return 0
}
samples_rows() {   # samples_rows N NAME "a,b,c": one "N NAME K VALUE" row per sample
    local k=0 x
    for x in ${3//,/ }; do
        [ "$x" = n/a ] && continue
        k=$((k + 1))
        printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$k" "$x"
    done
}
data_head() { echo "# bench/cluster.sh, $START_DATE, seed $SEED, HEAD $COMMIT; $*"; }
mkdir -p "$PLOT_DATA"
{
    data_head "convergence: ms from the write until the last node showed it"
    printf 'n\tsystem\tround\tms\n'
    for n in "${SIZES[@]}"; do
        while read -r key name; do samples_rows "$n" "$name" "$(r "$n.$key.conv.samples_ms")"; done < <(systems)
    done
} >"$PLOT_DATA/cluster-convergence.tsv"
{
    data_head "kill -9 detection: ms from the kill until every other node listed the victim failed"
    printf 'n\tsystem\tkill\tms\n'
    for n in "${SIZES[@]}"; do
        while read -r key name; do samples_rows "$n" "$name" "$(r "$n.$key.det.samples")"; done < <(systems)
    done
} >"$PLOT_DATA/cluster-detection.tsv"
{
    data_head "gossip bytes per second per node ($BW_METHOD); min and max: the least and busiest node"
    printf 'n\tsystem\twindow\tbytes_per_s\tmin\tmax\n'
    for n in "${SIZES[@]}"; do
        while read -r key name; do
            for w in bw_idle bw_load; do
                [ "$(r "$n.$key.$w.bps")" = n/a ] && continue
                printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$name" \
                    "$([ $w = bw_idle ] && echo idle || echo "${LOAD_RATE}-registrations-per-s")" \
                    "$(r "$n.$key.$w.bps")" "$(r "$n.$key.$w.min_bps")" "$(r "$n.$key.$w.max_bps")"
            done
        done < <(systems)
    done
} >"$PLOT_DATA/cluster-bandwidth.tsv"
log "wrote the raw samples to $PLOT_DATA/cluster-{convergence,detection,bandwidth}.tsv"
log "wrote $OUT (${ELAPSED}s)"
if [ ${#INVALID[@]} -gt 0 ]; then
    log "invalid measurements: ${#INVALID[@]}"
    exit 1
fi
