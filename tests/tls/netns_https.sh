#!/usr/bin/env bash
# HTTPS end to end, from another machine's address, with clients that verify the certificate:
#
#   setup    namespaces fkt-<pid>-a (the node, 198.18.8.1) and fkt-<pid>-b (the apps,
#            198.18.8.2), joined by a veth pair created inside them (198.18.0.0/15 only)
#   pki      `fakts-node tls ca create`, `fakts-node tls cert create --node node-a --san
#            198.18.8.1`, and a second, unrelated CA
#   cli      the agent serves HTTPS only; the CLI beside it verifies the certificate through
#            the CA that agent.json names; given an address and no CA it refuses the agent
#   curl     from B: discovery with --cacert is 200 and every URL in it is https on the node's
#            address; without the CA, or with the other CA, curl refuses (exit 60); plain HTTP
#            gets no answer
#   device   from B, a client holding itself to fakts 6.x's rules (tests/tls/fakts6_client.py:
#            Python's ssl with the CA file, no insecure opt-in): discovery, device authorization,
#            approval with the CLI in A, the device-code grant, a JWT whose issuer is
#            https://198.18.8.1:8443/lok, a refresh; with the other CA it fails on the
#            certificate and sends nothing else
#   reload   a request in flight (half its body sent) across a SIGHUP that swaps the certificate:
#            it completes on its connection with the old certificate, and new connections get
#            the new one; a SIGHUP with a broken certificate file keeps the new one in service
#   cleanup  agents killed by pid, namespaces deleted (trap: on every exit path)
#
# Every wait polls against a deadline.
#
# Usage: tests/tls/netns_https.sh FAKTS_NODE_BINARY   (as root; ctest passes the binary)
# Exit status: 0 when every check passed; 77 (skipped) without the right to create network
# namespaces or without /usr/bin/python3 or curl; 1 with a "FAIL:" line naming the check.
set -euo pipefail

BIN=${1:-${FK_NODE_BIN:-}}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=/usr/bin/python3
CLIENT=$HERE/fakts6_client.py
TAG=fkt-$$
NS_A=$TAG-a
NS_B=$TAG-b
VETH_A=fkt$$a          # interface names: at most 15 characters
VETH_B=fkt$$b
ADDR_A=198.18.8.1
ADDR_B=198.18.8.2
URL=https://$ADDR_A:8443
DEADLINE=30            # seconds any one wait may take

say() { printf '[https] %s\n' "$*"; }
fail() { printf '[https] FAIL: %s\n' "$*" >&2; exit 1; }
skip() { printf '[https] SKIP: %s\n' "$*" >&2; exit 77; }

[ -n "$BIN" ] && [ -x "$BIN" ] || fail "no fakts-node binary (argument 1 or FK_NODE_BIN): '$BIN'"
[ -x "$PY" ] || skip "$PY is not installed"
command -v curl >/dev/null || skip "curl is not installed"
command -v ip >/dev/null || skip "ip (iproute2) is not installed"

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
        for log in "$TMP"/*.log "$TMP"/*.out; do
            [ -e "$log" ] && { say "--- $(basename "$log")"; tail -n 20 "$log"; }
        done
    fi
    rm -rf "$TMP"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for() {   # wait_for WHAT COMMAND...: poll until COMMAND succeeds, DEADLINE seconds at most
    local what=$1 end=$((SECONDS + DEADLINE))
    shift
    until "$@" 2>/dev/null; do
        [ "$SECONDS" -lt "$end" ] || fail "$what: not within ${DEADLINE}s"
        sleep 0.1
    done
}
in_a() { ip netns exec "$NS_A" "$@"; }
in_b() { ip netns exec "$NS_B" "$@"; }

# --- setup ---
ip netns add "$NS_A" 2>"$TMP/netns.err" || skip "ip netns add not permitted: $(cat "$TMP/netns.err")"
NAMESPACES+=("$NS_A")
ip netns add "$NS_B" || fail "ip netns add $NS_B"
NAMESPACES+=("$NS_B")
ip link add "$VETH_A" netns "$NS_A" type veth peer name "$VETH_B" netns "$NS_B" \
    || fail "cannot create the veth pair"
ip -n "$NS_A" addr add "$ADDR_A/24" dev "$VETH_A"
ip -n "$NS_B" addr add "$ADDR_B/24" dev "$VETH_B"
for ns in "$NS_A" "$NS_B"; do
    ip -n "$ns" link set lo up
done
ip -n "$NS_A" link set "$VETH_A" up
ip -n "$NS_B" link set "$VETH_B" up
wait_for "the veth pair's carrier" \
    bash -c "ip -n $NS_A link show dev $VETH_A | grep -q LOWER_UP \
             && ip -n $NS_B link show dev $VETH_B | grep -q LOWER_UP"
say "namespaces $NS_A ($ADDR_A) and $NS_B ($ADDR_B) up"

# --- pki ---
PKI=$TMP/pki
OTHER=$TMP/other
mkdir -p "$PKI" "$OTHER"
"$BIN" tls ca create --dir "$PKI" >"$TMP/pki.log" || fail "tls ca create"
"$BIN" tls cert create --dir "$PKI" --node node-a --san "$ADDR_A" >>"$TMP/pki.log" \
    || fail "tls cert create"
"$BIN" tls cert create --dir "$PKI" --node node-a2 --san "$ADDR_A" >>"$TMP/pki.log" \
    || fail "tls cert create (the renewal)"
"$BIN" tls ca create --dir "$OTHER" >>"$TMP/pki.log" || fail "tls ca create (the other CA)"
CA=$PKI/fakts-ca.pem
for f in "$CA" "$PKI/node-a.pem" "$PKI/node-a-key.pem" "$OTHER/fakts-ca.pem"; do
    [ -s "$f" ] || fail "$f was not written"
done
# The agent reads its certificate from these two paths; the reload replaces them.
cp "$PKI/node-a.pem" "$TMP/http.pem"
cp "$PKI/node-a-key.pem" "$TMP/http-key.pem"

# --- cli ---
# Not through in_a: $! must be the agent's own pid (ip netns exec execs it), not a subshell's.
ip netns exec "$NS_A" "$BIN" agent --data-dir "$TMP/a" --node node-a --http "$ADDR_A:8443" \
    --gossip "$ADDR_A:7946" --tls-cert "$TMP/http.pem" --tls-key "$TMP/http-key.pem" \
    --log-level info >"$TMP/agent.log" 2>&1 &
AGENT=$!
PIDS+=("$AGENT")
wait_for "agent.json" test -s "$TMP/a/agent.json"
grep -q "\"url\":\"$URL\"" "$TMP/a/agent.json" || fail "agent.json: $(cat "$TMP/a/agent.json")"
wait_for "the CLI through agent.json's CA" in_a "$BIN" info --data-dir "$TMP/a"
if in_a "$BIN" info --data-dir "$TMP/a" --http-addr "$URL" >"$TMP/cli-noca.out" 2>&1; then
    fail "the CLI accepted the agent's certificate with no CA to check it"
fi
grep -q "certificate" "$TMP/cli-noca.out" || fail "CLI without a CA: $(cat "$TMP/cli-noca.out")"
in_a "$BIN" info --data-dir "$TMP/a" --http-addr "$URL" --ca-file "$CA" >/dev/null \
    || fail "the CLI with --ca-file"
say "cli: verifies through agent.json's CA and --ca-file; refuses without one"

# --- curl ---
in_b curl -sS --fail --cacert "$CA" "$URL/.well-known/fakts" >"$TMP/disco.out" \
    || fail "discovery over HTTPS from B"
$PY - "$TMP/disco.out" "$URL" <<'EOF' || fail "discovery document: $(cat "$TMP/disco.out")"
import json, sys
doc, url = json.load(open(sys.argv[1])), sys.argv[2]
urls = [v for v in doc.values() if isinstance(v, str) and "://" in v]
assert urls and all(v.startswith(url + "/") or v == url for v in urls), urls
assert doc["protocol_version"] == "2"
EOF
for how in "no CA" "the other CA"; do
    args=()
    [ "$how" = "the other CA" ] && args=(--cacert "$OTHER/fakts-ca.pem")
    status=0
    in_b curl -sS "${args[@]}" "$URL/.well-known/fakts" >/dev/null 2>&1 || status=$?
    [ "$status" -eq 60 ] || fail "curl with $how: exit $status, not 60 (certificate refused)"
done
if in_b curl -sS --max-time 5 "http://$ADDR_A:8443/.well-known/fakts" >/dev/null 2>&1; then
    fail "plain HTTP was answered"
fi
say "curl: 200 with the CA; refused without it and with another CA; no plain HTTP"

# --- device ---
in_b "$PY" "$CLIENT" device "$URL" "$CA" >"$TMP/device.out" 2>&1 &
DEVICE=$!
PIDS+=("$DEVICE")
wait_for "the device code" grep -q '^USER_CODE ' "$TMP/device.out"
CODE=$(awk '/^USER_CODE /{print $2}' "$TMP/device.out")
in_a "$BIN" approve --data-dir "$TMP/a" "$CODE" >/dev/null || fail "approve $CODE"
end=$((SECONDS + DEADLINE))
while kill -0 "$DEVICE" 2>/dev/null; do
    [ "$SECONDS" -lt "$end" ] || fail "the device flow did not end within ${DEADLINE}s"
    sleep 0.1
done
wait "$DEVICE" || fail "the device flow: $(cat "$TMP/device.out")"
grep -q "^OK .*\"iss\": \"$URL/lok\".*\"refreshed\": true" "$TMP/device.out" \
    || fail "the device flow's result: $(cat "$TMP/device.out")"
if in_b "$PY" "$CLIENT" device "$URL" "$OTHER/fakts-ca.pem" >"$TMP/device-other.out" 2>&1; then
    fail "the client trusted a certificate its CA did not sign"
fi
grep -q "certificate verification failed" "$TMP/device-other.out" \
    || fail "with the other CA: $(cat "$TMP/device-other.out")"
grep -q USER_CODE "$TMP/device-other.out" && fail "a credential went out over a refused TLS"
say "device: fakts 6.x flow from $ADDR_B approved and refreshed; the other CA refused"

# --- reload ---
serial() { in_b "$PY" "$CLIENT" serial "$URL" "$CA" | awk '/^SERIAL /{print $2}'; }
OLD=$(serial)
[ -n "$OLD" ] || fail "no serial from a new connection"
rm -f "$TMP/half-sent"
in_b "$PY" "$CLIENT" inflight "$URL" "$CA" "$TMP/half-sent" >"$TMP/inflight.out" 2>&1 &
INFLIGHT=$!
PIDS+=("$INFLIGHT")
wait_for "the request in flight" test -e "$TMP/half-sent"
cp "$PKI/node-a2.pem" "$TMP/http.pem"
cp "$PKI/node-a2-key.pem" "$TMP/http-key.pem"
kill -HUP "$AGENT"
new_serial() { NEW=$(serial); [ -n "$NEW" ] && [ "$NEW" != "$OLD" ]; }
wait_for "a new connection with the new certificate" new_serial
rm -f "$TMP/half-sent"
wait "$INFLIGHT" || fail "the request in flight: $(cat "$TMP/inflight.out")"
grep -q "^INFLIGHT 200 True $OLD\$" "$TMP/inflight.out" \
    || fail "the request in flight across the reload: $(cat "$TMP/inflight.out") (old $OLD)"
echo "not a certificate" >"$TMP/http.pem"
kill -HUP "$AGENT"
wait_for "the refused reload logged" grep -q "still serving the HTTPS certificate" "$TMP/agent.log"
[ "$(serial)" = "$NEW" ] || fail "a broken certificate file replaced the one in service"
kill -0 "$AGENT" || fail "the agent died on a broken certificate file"
say "reload: in-flight request finished on the old certificate; new connections get the new one"

say "PASS"
