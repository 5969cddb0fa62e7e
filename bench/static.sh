#!/usr/bin/env bash
# bench/static.sh [STATIC_BINARY [DYNAMIC_BINARY]]
#
# The static build's figures beside the dynamic one's and Debian's Serf, in one run: the binary
# sizes (as built and stripped; for the dynamic build also the shared libraries it loads), and
# the memory of each started, idle agent: VmRSS, and from /proc/PID/smaps_rollup Pss and the
# private pages (Private_Clean + Private_Dirty: what the process alone costs; the rest of its RSS
# is pages it shares, with other processes or only potentially). The three agents run at the
# same time, each on its own address (127.0.0.245..247), each with a fresh data dir; each is
# measured BENCH_IDLE seconds after it answered. Prints a Markdown table and writes it to
# bench/static-results.md.
#
# Defaults: build-static/fakts-node (make static) and build/fakts-node (make build) of this
# checkout. Serf is Debian's package (installed when missing, like bench/cluster.sh).
#
# Exit status: 0 when every figure was measured; 1 when an agent did not start or a figure is
# missing; 2 usage.
#
# Environment (all optional):
#   BENCH_IDLE   seconds each agent idles after it answered, before it is measured   (5)
#   BENCH_OUT    where the Markdown goes                        (bench/static-results.md)
#   TMPDIR       parent of the temporary dir                    (/tmp)
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT_DIR=$(dirname "$BENCH_DIR")
[ $# -le 2 ] || { echo "usage: bench/static.sh [STATIC_BINARY [DYNAMIC_BINARY]]" >&2; exit 2; }
STATIC_BIN=$(realpath -e "${1:-$ROOT_DIR/build-static/fakts-node}") \
    || { echo "bench: no static binary (make static)" >&2; exit 2; }
DYNAMIC_BIN=$(realpath -e "${2:-$ROOT_DIR/build/fakts-node}") \
    || { echo "bench: no dynamic binary (make build)" >&2; exit 2; }
IDLE=${BENCH_IDLE:-5}
OUT=${BENCH_OUT:-$BENCH_DIR/static-results.md}
DEADLINE=30
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)

log() { printf '[static-bench %s] %s\n' "$(date +%T)" "$*" >&2; }
# shellcheck source=progress.sh
. "$BENCH_DIR/progress.sh"   # on a terminal, what the idle wait waits for
die() { log "FAILED: $*"; exit 1; }

if ! command -v serf >/dev/null; then
    log "serf is missing: installing Debian's serf (the same-run peer)"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends serf \
        >/dev/null || die "cannot install serf"
fi
SERF_VERSION=$(serf version 2>/dev/null | sed -n '1{s/^Serf //;p}')

for var in $(compgen -e); do
    case $var in FAKTS_*) unset "$var" ;; esac
done

TMP=$(mktemp -d)
PIDS=()
cleanup() {
    local status=$?
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$TMP"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for DESCRIPTION CMD...: poll CMD until it succeeds or DEADLINE seconds pass.
wait_for() {
    local what=$1 end=$((SECONDS + DEADLINE))
    shift
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$end" ] || die "$what: not within ${DEADLINE}s"
        sleep 0.2
    done
}

mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
bytes_mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }

# --- sizes ---
stripped_size() { cp "$1" "$TMP/stripped" && strip "$TMP/stripped" && stat -c %s "$TMP/stripped"; }
S_SIZE=$(stat -c %s "$STATIC_BIN")
S_STRIPPED=$(stripped_size "$STATIC_BIN")
D_SIZE=$(stat -c %s "$DYNAMIC_BIN")
D_STRIPPED=$(stripped_size "$DYNAMIC_BIN")
# The shared libraries the dynamic binary loads, each counted once (their files, as installed).
D_LIBS=$(ldd "$DYNAMIC_BIN" | awk '$3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' \
    | xargs -r realpath | sort -u)
D_LIBS_N=$(printf '%s\n' "$D_LIBS" | grep -c .)
D_LIBS_SIZE=$(printf '%s\n' "$D_LIBS" | xargs -r stat -c %s | awk '{ s += $1 } END { print s + 0 }')
S_LDD=$( (ldd "$STATIC_BIN" 2>&1 || true) | head -n1 | sed 's/^[[:space:]]*//')
SERF_BIN=$(command -v serf)
SERF_SIZE=$(stat -c %s "$(realpath "$SERF_BIN")")

# --- agents ---
start_fakts() {   # start_fakts LABEL BINARY ADDR
    mkdir -m 700 "$TMP/$1"
    "$2" agent --node "$1" --data-dir "$TMP/$1" --http "$3:0" --gossip "$3:0" \
        >"$TMP/$1.log" 2>&1 &
    PIDS+=($!)
    eval "PID_$1=$!"
}
start_fakts static "$STATIC_BIN" 127.0.0.245
start_fakts dynamic "$DYNAMIC_BIN" 127.0.0.246
serf agent -node bench-serf -bind 127.0.0.247:7946 -rpc-addr 127.0.0.247:7373 \
    >"$TMP/serf.log" 2>&1 &
PIDS+=($!)
PID_serf=$!
wait_for "the static agent answers" "$STATIC_BIN" info --data-dir "$TMP/static"
wait_for "the dynamic agent answers" "$DYNAMIC_BIN" info --data-dir "$TMP/dynamic"
wait_for "serf answers" serf members -rpc-addr=127.0.0.247:7373
log "all three agents answer; idling ${IDLE}s"
# the idle period is the measurement's condition, not a synchronisation
sleep "$IDLE" &
progress_watch static-bench "idling ${IDLE} s before the readings" $!
wait $!

declare -A M
measure() {   # measure LABEL PID
    local k v
    kill -0 "$2" 2>/dev/null || die "$1 (pid $2) is not running"
    while read -r k v _; do
        case $k in VmRSS:|Threads:) M[$1.${k%:}]=$v ;; esac
    done <"/proc/$2/status"
    while read -r k v _; do
        case $k in Pss:|Private_Clean:|Private_Dirty:|Shared_Clean:|Shared_Dirty:) M[$1.${k%:}]=$v ;; esac
    done <"/proc/$2/smaps_rollup"
    [ -n "${M[$1.VmRSS]:-}" ] && [ -n "${M[$1.Private_Dirty]:-}" ] || die "$1: no memory figures"
    M[$1.Private]=$((M[$1.Private_Clean] + M[$1.Private_Dirty]))
}
measure static "$PID_static"
measure dynamic "$PID_dynamic"
measure serf "$PID_serf"

row() {   # row LABEL NAME
    printf '| %s | %s | %s | %s | %s | %s |\n' "$2" "$(mib "${M[$1.VmRSS]}")" "$(mib "${M[$1.Pss]}")" \
        "$(mib "${M[$1.Private]}")" "$(mib "${M[$1.Private_Dirty]}")" "${M[$1.Threads]}"
}
{
    echo "## Static build: size and idle memory"
    echo
    echo "\`bench/static.sh\`, $(date -u '+%Y-%m-%d %H:%M') UTC, commit" \
         "$(git -C "$ROOT_DIR" rev-parse --short HEAD 2>/dev/null || echo '?'), load average" \
         "$(cut -d' ' -f1 /proc/loadavg) at the end; each agent fresh (empty data dir), idle ${IDLE} s" \
         "after it answered, all three running at once."
    echo
    echo "| Binary | File | Stripped | Shared libraries loaded |"
    echo "|---|---|---|---|"
    echo "| fakts-node, static (\`make static\`) | $(bytes_mib "$S_SIZE") | $(bytes_mib "$S_STRIPPED") | none (ldd: $S_LDD) |"
    echo "| fakts-node, dynamic ($(basename "$(dirname "$DYNAMIC_BIN")")/fakts-node) | $(bytes_mib "$D_SIZE") | $(bytes_mib "$D_STRIPPED") | $D_LIBS_N, $(bytes_mib "$D_LIBS_SIZE") of files |"
    echo "| serf $SERF_VERSION (Debian) | $(bytes_mib "$SERF_SIZE") | – | – |"
    echo
    echo "| Idle agent | VmRSS | Pss | Private (clean + dirty) | Private dirty | Threads |"
    echo "|---|---|---|---|---|---|"
    row static "fakts-node, static"
    row dynamic "fakts-node, dynamic"
    row serf "serf agent $SERF_VERSION"
} | tee "$OUT"
log "written to $OUT"
