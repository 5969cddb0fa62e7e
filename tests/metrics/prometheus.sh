#!/usr/bin/env bash
# GET /metrics scraped by a real Prometheus (Debian's prometheus), three agents, end to end:
#
#   setup    three agents on 127.0.0.142-144 (HTTP :8520, gossip :8521), one cluster through a
#            shared --join-file directory and a cluster secret, each with --metrics-loopback-open;
#            Prometheus on 127.0.0.145:9090 scraping their /metrics every second, its TSDB in a
#            temporary directory
#   up       `up` is 1 for all three targets, and each node counts 3 members alive
#   register a service registered on node 1 is seen by Prometheus as fakts_records{kind="svc"} 1
#            on all three nodes (gossip replicated it), and the other two report node 1 applied
#            and caught up (fakts_replication_versions_behind 0, last_delta_seconds present)
#   refresh  a redeem and a refresh on node 2: sum(fakts_token_exchanges_total{grant_type=
#            "refresh_token",outcome="issued"}) is 1, and the HTTP histogram of route "fakts" on
#            node 2 counts at least the two exchanges
#   gossip   every node has received and sent probes (fakts_gossip_*{type="ping"} > 0)
#   kill -9  node 3 killed: Prometheus sees its target down (up 0), both survivors'
#            fakts_members{state="failed"} at 1, and at least one suspicion and one failure
#            declared among them (fakts_gossip_suspicions_total, fakts_gossip_failures_total)
#   cleanup  agents and Prometheus killed by pid, the temporary directory removed (trap: on every
#            exit path)
#
# Every wait polls Prometheus's /api/v1/query against a deadline.
#
# Usage: tests/metrics/prometheus.sh FAKTS_NODE_BINARY   (ctest passes the binary)
# Exit status: 0 when every check passed; 77 (skipped) when prometheus, curl or python3 is not
# installed; 1 with a "FAIL:" line naming the check otherwise.
set -euo pipefail

BIN=${1:-${FK_NODE_BIN:-}}
PY=/usr/bin/python3
PROM=/usr/bin/prometheus
ADDRS=(127.0.0.142 127.0.0.143 127.0.0.144)
PROM_ADDR=127.0.0.145:9090
DEADLINE=60            # seconds any one wait may take

say() { printf '[prometheus] %s\n' "$*"; }
fail() { printf '[prometheus] FAIL: %s\n' "$*" >&2; exit 1; }
skip() { printf '[prometheus] SKIP: %s\n' "$*" >&2; exit 77; }

[ -n "$BIN" ] && [ -x "$BIN" ] || fail "no fakts-node binary (argument 1 or FK_NODE_BIN): '$BIN'"
[ -x "$PROM" ] || skip "$PROM is not installed (apt-get install prometheus)"
[ -x "$PY" ] || skip "$PY is not installed"
command -v curl >/dev/null || skip "curl is not installed"

# The agents must see only the flags given here.
for var in $(compgen -e); do
    case $var in FAKTS_*) unset "$var" ;; esac
done

TMP=$(mktemp -d /tmp/fk-prometheus.XXXXXX)
PIDS=()
cleanup() {
    local status=$?
    for pid in "${PIDS[@]}"; do
        kill -9 "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [ "$status" -ne 0 ] && [ "$status" -ne 77 ]; then
        for log in "$TMP"/*.log; do
            [ -f "$log" ] && { echo "--- $log"; tail -n 30 "$log"; }
        done
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$BIN" keygen --cluster-secret "$TMP/cluster.secret" >/dev/null || fail "keygen --cluster-secret"
mkdir -m 0700 "$TMP/rendezvous"

for i in 0 1 2; do
    "$BIN" agent --data-dir "$TMP/node$i" --node "node$i" --http "${ADDRS[$i]}:8520" \
        --gossip "${ADDRS[$i]}:8521" --cluster-secret-file "$TMP/cluster.secret" \
        --join-file "$TMP/rendezvous" --metrics-loopback-open >"$TMP/node$i.log" 2>&1 &
    PIDS+=($!)
done
NODE3_PID=${PIDS[2]}

cat >"$TMP/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: fakts
    static_configs:
      - targets: ['${ADDRS[0]}:8520', '${ADDRS[1]}:8520', '${ADDRS[2]}:8520']
YAML
"$PROM" --config.file "$TMP/prometheus.yml" --storage.tsdb.path "$TMP/tsdb" \
    --web.listen-address "$PROM_ADDR" >"$TMP/prometheus.log" 2>&1 &
PIDS+=($!)

# query EXPR: the result vector as lines "instance value", sorted by instance.
query() {
    curl -s --max-time 5 --get --data-urlencode "query=$1" "http://$PROM_ADDR/api/v1/query" \
        | "$PY" -c '
import json, sys
try:
    doc = json.load(sys.stdin)
except ValueError:
    sys.exit(0)
for r in sorted(doc.get("data", {}).get("result", []), key=lambda r: r["metric"].get("instance", "")):
    print(r["metric"].get("instance", "-"), r["value"][1])
' || true
}

# until_query WHAT EXPR EXPECTED: poll until query EXPR prints exactly EXPECTED.
until_query() {
    local what=$1 expr=$2 want=$3 got="" start=$SECONDS
    while [ $((SECONDS - start)) -lt $DEADLINE ]; do
        got=$(query "$expr")
        if [ "$got" = "$want" ]; then
            say "$what: ok after $((SECONDS - start)) s"
            return 0
        fi
        sleep 0.5
    done
    fail "$what: '$expr' gave '$got', wanted '$want'"
}

T0="${ADDRS[0]}:8520"
T1="${ADDRS[1]}:8520"
T2="${ADDRS[2]}:8520"

until_query "every target up" 'up' "$T0 1
$T1 1
$T2 1"
until_query "three members alive on each node" 'fakts_members{state="alive"}' "$T0 3
$T1 3
$T2 3"

until_query "every node receives and sends gossip probes" \
    'count(fakts_gossip_messages_received_total{type="ping"} > 0 and fakts_gossip_sent_bytes_total{type="ping"} > 0)' \
    "- 3"

# A registration on node 1, through the agent API with its admin token.
ADMIN=$(cat "$TMP/node0/admin-token")
status=$(curl -s -o "$TMP/register.out" -w '%{http_code}' -X PUT \
    -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
    --data '{"id":"rekuest-1","service":"live.arkitekt.rekuest","aliases":[{"host":"10.0.0.5","port":8090,"ssl":false}]}' \
    "http://$T0/v1/services")
[ "$status" = 200 ] || fail "PUT /v1/services answered $status: $(cat "$TMP/register.out")"
until_query "the registration replicated to every node" 'fakts_records{kind="svc"}' "$T0 1
$T1 1
$T2 1"

until_query "node 1's records applied and caught up on the other two" \
    "count(fakts_replication_versions_behind{owner=\"node0\"} == 0 and fakts_replication_last_delta_seconds{owner=\"node0\"} >= 0)" \
    "- 2"

# A redeem, then a refresh, on node 2.
ADMIN1=$(cat "$TMP/node1/admin-token")
REDEEM=$(curl -s -X POST -H "Authorization: Bearer $ADMIN1" -H 'Content-Type: application/json' \
    --data '{}' "http://$T1/v1/redeem-tokens" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["token"])') \
    || fail "POST /v1/redeem-tokens"
MANIFEST='{"identifier": "org.example.prometheus", "version": "1.0.0", "scopes": ["openid"], "requirements": [{"key": "rekuest", "service": "live.arkitekt.rekuest", "optional": false}]}'
curl -s -o "$TMP/redeem.json" --data-urlencode 'grant_type=urn:fakts:grant-type:redeem' \
    --data-urlencode "redeem_token=$REDEEM" --data-urlencode "manifest=$MANIFEST" \
    "http://$T1/lok/o/token/"
read -r CLIENT REFRESH < <("$PY" -c '
import json, sys
doc = json.load(open(sys.argv[1]))
print(doc["client_id"], doc["refresh_token"])' "$TMP/redeem.json") \
    || fail "redeem: $(cat "$TMP/redeem.json")"
status=$(curl -s -o "$TMP/refresh.json" -w '%{http_code}' --data-urlencode 'grant_type=refresh_token' \
    --data-urlencode "refresh_token=$REFRESH" --data-urlencode "client_id=$CLIENT" \
    "http://$T1/lok/o/token/")
[ "$status" = 200 ] || fail "refresh answered $status: $(cat "$TMP/refresh.json")"
until_query "one refresh issued, on node 2" \
    'fakts_token_exchanges_total{grant_type="refresh_token",outcome="issued"}' "$T1 1"
until_query "the token endpoint's latency histogram on node 2 counts both exchanges" \
    "count(fakts_http_request_duration_seconds_count{route=\"fakts\",instance=\"$T1\"} >= 2)" \
    "- 1"

# kill -9 of node 3: its target goes down, and both others declare it failed.
kill -9 "$NODE3_PID"
until_query "node 3's target down" 'up' "$T0 1
$T1 1
$T2 0"
until_query "node 3 failed on both survivors" 'fakts_members{state="failed"}' "$T0 1
$T1 1"
until_query "the failure declared by a survivor's suspicion timeout" \
    'sum(fakts_gossip_failures_total) >= 1 and sum(fakts_gossip_suspicions_total) >= 1' \
    "- $(query 'sum(fakts_gossip_failures_total)' | awk '{print $2}')"
say "all checks passed"
