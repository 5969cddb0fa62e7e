#!/usr/bin/env bash
# LAN beacon, end to end, between two network namespaces of its own (protocol §9, §11.1):
#
#   setup   namespaces fkb-<pid>-a and fkb-<pid>-b joined by a veth pair created inside them,
#           198.18.7.1/24 in A and 198.18.7.2/24 in B (198.18.0.0/15, the benchmarking range:
#           nothing here touches any other address, nor the machine's own namespace)
#   off     an agent in A without --beacon: a listener on 0.0.0.0:45678 in B, bound before the
#           agent starts, hears nothing until the agent has served for 7 s (longer than the
#           default 5 s interval; the first round would go out at once)
#   on      an agent in A with --beacon --beacon-interval 1 --http 198.18.7.1:8520: the listener
#           in B receives three rounds of both phrases, "beacon-fakts_next" and "beacon-fakts",
#           each exactly {"url": "http://198.18.7.1:8520/"}, and GETs that URL's
#           .well-known/fakts from B: 200 with a "name"
#   any     an agent in A with --http 0.0.0.0:8530 --beacon --beacon-interval 3600: the beacon
#           advertises the interface's own address, http://198.18.7.1:8530/, at once; SIGTERM
#           then stops the agent within 5 s, although the next round is an hour away
#   cleanup agents and listeners killed by pid, namespaces deleted (trap: on every exit path)
#
# Every wait polls against a deadline; the off phase's quiet window is the assertion itself.
#
# Usage: tests/beacon/netns_beacon.sh FAKTS_NODE_BINARY   (as root; ctest passes the binary)
# Exit status: 0 when every check passed; 77 (skipped) without the right to create network
# namespaces or without /usr/bin/python3; 1 with a "FAIL:" line naming the check otherwise.
set -euo pipefail

BIN=${1:-${FK_NODE_BIN:-}}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=/usr/bin/python3
LISTEN=$HERE/listen.py
TAG=fkb-$$
NS_A=$TAG-a
NS_B=$TAG-b
VETH_A=fkb$$a          # interface names: at most 15 characters
VETH_B=fkb$$b
ADDR_A=198.18.7.1
ADDR_B=198.18.7.2
PORT=45678             # the clients' port: the namespaces keep it off this machine's own
DEADLINE=30            # seconds any one wait may take

say() { printf '[beacon] %s\n' "$*"; }
fail() { printf '[beacon] FAIL: %s\n' "$*" >&2; exit 1; }
skip() { printf '[beacon] SKIP: %s\n' "$*" >&2; exit 77; }

[ -n "$BIN" ] && [ -x "$BIN" ] || fail "no fakts-node binary (argument 1 or FK_NODE_BIN): '$BIN'"
[ -x "$PY" ] || skip "$PY is not installed"
command -v ip >/dev/null || skip "ip (iproute2) is not installed"

# The agent must see only the flags given here.
for var in $(compgen -e); do
    case $var in FAKTS_*) unset "$var" ;; esac
done

TMP=$(mktemp -d)
PIDS=()
NAMESPACES=()
cleanup() {
    local status=$?
    for pid in "${PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    for ns in "${NAMESPACES[@]}"; do
        ip netns delete "$ns" 2>/dev/null || true
    done
    if [ "$status" -ne 0 ] && [ "$status" -ne 77 ]; then
        for log in "$TMP"/*.log; do
            [ -e "$log" ] && { say "--- $(basename "$log")"; tail -n 20 "$log"; }
        done
    fi
    rm -rf "$TMP"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- setup ---
ip netns add "$NS_A" 2>"$TMP/netns.err" || skip "ip netns add not permitted: $(cat "$TMP/netns.err")"
NAMESPACES+=("$NS_A")
ip netns add "$NS_B" || fail "ip netns add $NS_B"
NAMESPACES+=("$NS_B")
# Both ends are created inside their namespaces: the pair never exists in this machine's own.
ip link add "$VETH_A" netns "$NS_A" type veth peer name "$VETH_B" netns "$NS_B" \
    || fail "cannot create the veth pair"
# No "brd +": the beacon must find the subnet's broadcast address by itself.
ip -n "$NS_A" addr add "$ADDR_A/24" dev "$VETH_A"
ip -n "$NS_B" addr add "$ADDR_B/24" dev "$VETH_B"
for ns in "$NS_A" "$NS_B"; do
    ip -n "$ns" link set lo up
done
ip -n "$NS_A" link set "$VETH_A" up
ip -n "$NS_B" link set "$VETH_B" up

wait_for() {   # wait_for WHAT COMMAND...: poll until COMMAND succeeds, DEADLINE seconds at most
    local what=$1 end=$((SECONDS + DEADLINE))
    shift
    until "$@" 2>/dev/null; do
        [ "$SECONDS" -lt "$end" ] || fail "$what: not within ${DEADLINE}s"
        sleep 0.1
    done
}
wait_for "the veth pair's carrier" \
    bash -c "ip -n $NS_A link show dev $VETH_A | grep -q LOWER_UP \
             && ip -n $NS_B link show dev $VETH_B | grep -q LOWER_UP"
say "namespaces $NS_A ($ADDR_A) and $NS_B ($ADDR_B) up"

forget() {   # forget PID: reaped, so never signalled again (its number may be reused)
    local keep=() pid
    for pid in "${PIDS[@]}"; do
        [ "$pid" = "$1" ] || keep+=("$pid")
    done
    PIDS=("${keep[@]}")
}

start_listener() {   # start_listener NAME MODE ARGS...: a listener in B, bound before returning
    local name=$1
    shift
    ip netns exec "$NS_B" "$PY" "$LISTEN" "$1" "$PORT" "$TMP/listen-$name.ready" "${@:2}" \
        >"$TMP/listen-$name.log" 2>&1 &
    LISTENER=$!
    PIDS+=("$LISTENER")
    wait_for "listener $name bound" test -e "$TMP/listen-$name.ready"
}

start_agent() {   # start_agent NAME FLAGS...: an agent in A; returns once it serves
    local name=$1
    shift
    ip netns exec "$NS_A" "$BIN" agent --data-dir "$TMP/$name" --node "$name" \
        --gossip 127.0.0.1:8521 --log-level info "$@" >"$TMP/agent-$name.log" 2>&1 &
    AGENT=$!
    PIDS+=("$AGENT")
}

wait_listener() {   # wait_listener NAME: the listener's verdict, within DEADLINE
    local end=$((SECONDS + DEADLINE))
    while kill -0 "$LISTENER" 2>/dev/null; do
        [ "$SECONDS" -lt "$end" ] || fail "listener $1 still running after ${DEADLINE}s"
        sleep 0.1
    done
    local status=0
    wait "$LISTENER" || status=$?
    forget "$LISTENER"
    local log=$TMP/listen-$1.log
    [ "$status" -eq 0 ] || fail "listener $1: $(grep FAIL "$log" || tail -n 3 "$log")"
    sed 's/^/[beacon]   /' "$log"
}

stop_agent() {   # stop_agent NAME: SIGTERM, then a clean exit (0) within 5 s
    local end=$((SECONDS + 5))
    kill -TERM "$AGENT"
    while kill -0 "$AGENT" 2>/dev/null; do
        [ "$SECONDS" -lt "$end" ] || fail "agent $1 still running 5 s after SIGTERM"
        sleep 0.05
    done
    local status=0
    wait "$AGENT" || status=$?
    forget "$AGENT"
    [ "$status" -eq 0 ] || fail "agent $1 exited with status $status after SIGTERM"
}

# --- off: no --beacon, no datagram ---
say "== off: an agent without --beacon sends nothing"
start_listener off silence "$TMP/off/agent.json" 7 "$DEADLINE"
start_agent off --http "$ADDR_A:8520"
wait_listener off
if grep -q "beacon:" "$TMP/agent-off.log"; then
    fail "agent off logged beacon activity: $(grep beacon: "$TMP/agent-off.log")"
fi
stop_agent off

# --- on: both phrases, every second, a URL that answers ---
say "== on: --beacon --beacon-interval 1 --http $ADDR_A:8520"
start_listener on receive "http://$ADDR_A:8520/" 3 "$DEADLINE"
start_agent on --http "$ADDR_A:8520" --beacon --beacon-interval 1
wait_listener on
grep -q "beacon: advertising http://$ADDR_A:8520/ on $VETH_A" "$TMP/agent-on.log" \
    || fail "agent on did not log what it advertises"
stop_agent on

# --- any: HTTP on 0.0.0.0 advertises the interface's address; stop does not wait an interval ---
say "== any: --beacon --beacon-interval 3600 --http 0.0.0.0:8530"
start_listener any receive "http://$ADDR_A:8530/" 1 "$DEADLINE"
start_agent any --http 0.0.0.0:8530 --beacon --beacon-interval 3600
wait_listener any
stop_agent any

say "PASS"
