#!/usr/bin/env bash
# The CLI's waiting line (common/fk_progress) on a terminal and off it, end to end:
#
#   setup     one agent on 127.0.0.249 (HTTP and gossip on free ports, --insecure-gossip,
#             --retry-join 127.0.0.250:9), its own temporary data dir, stderr to a file
#   pipe      `join 127.0.0.250:9` (nothing listens there: the agent waits 5 s for an answer)
#             with stdout and stderr to files: stdout is empty and stderr exactly the one error
#             line, no progress text, no '\r'; `services register --wait quorum` likewise prints
#             exactly "registered ..." and nothing on stderr
#   terminal  the same join under a pseudo-terminal (`script` from bsdutils): the output shows
#             "fakts-node: joining the cluster through 127.0.0.250:9 (agent at URL)... N s",
#             drawn over itself with '\r', then erased (blanks between two '\r') before the error
#             line
#   agent     the agent's log (not a terminal) never says "waiting to join"; a second agent
#             with --retry-join under a pseudo-terminal says it once, naming the address
#   cleanup   the agent killed by pid, the temporary directory removed (trap)
#
# Every wait polls against a deadline.
#
# Usage: tests/cli/progress.sh FAKTS_NODE_BINARY   (ctest passes the binary)
# Exit status: 0 when every check passed; 77 (skipped) when `script` is missing; 1 with a
# "FAIL:" line naming the check otherwise.
set -euo pipefail

BIN=${1:-${FK_NODE_BIN:-}}
ADDR=127.0.0.249
DEAD=127.0.0.250:9     # an address of this test's range where nothing listens

say() { printf '[progress] %s\n' "$*"; }
fail() { printf '[progress] FAIL: %s\n' "$*" >&2; exit 1; }
skip() { printf '[progress] SKIP: %s\n' "$*" >&2; exit 77; }

[ -n "$BIN" ] && [ -x "$BIN" ] || fail "no fakts-node binary (argument 1 or FK_NODE_BIN): '$BIN'"
BIN=$(realpath "$BIN")
command -v script >/dev/null || skip "script (bsdutils) is not installed"

for var in $(compgen -e); do
    case $var in FAKTS_*) unset "$var" ;; esac
done

TMP=$(mktemp -d /tmp/fk-progress.XXXXXX)
PID=
TTY_AGENT=
cleanup() {
    local status=$?
    [ -z "$PID" ] || { kill -9 "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }
    [ -z "$TTY_AGENT" ] || kill -9 "$TTY_AGENT" 2>/dev/null || true
    if [ "$status" -ne 0 ] && [ "$status" -ne 77 ] && [ -f "$TMP/agent.log" ]; then
        tail -n 30 "$TMP/agent.log" >&2
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

# ---- setup ------------------------------------------------------------------------------
mkdir -m 700 "$TMP/data"
"$BIN" agent --data-dir "$TMP/data" --http "$ADDR:0" --gossip "$ADDR:0" --insecure-gossip \
    --node progress --retry-join "$DEAD" >"$TMP/agent.log" 2>&1 &
PID=$!
for _ in $(seq 300); do
    [ -s "$TMP/data/agent.json" ] && grep -q '"http"' "$TMP/data/agent.json" && break
    kill -0 "$PID" 2>/dev/null || fail "setup: the agent exited"
    sleep 0.1
done
HTTP=$(sed -n 's/.*"http":"\([^"]*\)".*/\1/p' "$TMP/data/agent.json")
[ -n "$HTTP" ] || fail "setup: no HTTP address in agent.json after 30 s"
say "agent at $HTTP"

# ---- pipe: nothing but the command's own output ---------------------------------------------
rc=0
"$BIN" join "$DEAD" --data-dir "$TMP/data" >"$TMP/join.out" 2>"$TMP/join.err" || rc=$?
[ "$rc" -ne 0 ] || fail "pipe: join $DEAD succeeded"
[ ! -s "$TMP/join.out" ] || fail "pipe: join printed on stdout: $(cat -A "$TMP/join.out")"
printf 'fakts-node: could not join %s: no answer within 5 s\n' "$DEAD" >"$TMP/join.want"
cmp -s "$TMP/join.err" "$TMP/join.want" ||
    fail "pipe: join's stderr is not exactly the error line: $(cat -A "$TMP/join.err")"
say "pipe: join printed exactly its error line"

printf '{"id":"progress-1","service":"live.arkitekt.rekuest","aliases":[{"host":"10.0.0.5","port":8090}]}\n' \
    >"$TMP/svc.json"
"$BIN" services register --wait quorum "$TMP/svc.json" --data-dir "$TMP/data" \
    >"$TMP/reg.out" 2>"$TMP/reg.err" || fail "pipe: services register --wait quorum failed: $(cat "$TMP/reg.err")"
printf 'registered progress-1 (live.arkitekt.rekuest)\n' >"$TMP/reg.want"
cmp -s "$TMP/reg.out" "$TMP/reg.want" || fail "pipe: register's stdout: $(cat -A "$TMP/reg.out")"
[ ! -s "$TMP/reg.err" ] || fail "pipe: register printed on stderr: $(cat -A "$TMP/reg.err")"
say "pipe: services register --wait quorum printed exactly its result"

# ---- terminal: the waiting line --------------------------------------------------------------
rc=0
script -qec "$(printf '%q ' "$BIN" join "$DEAD" --data-dir "$TMP/data")" /dev/null \
    >"$TMP/tty.out" 2>&1 </dev/null || rc=$?
[ "$rc" -ne 0 ] || fail "terminal: join $DEAD succeeded"
out=$(tr -d '\n' <"$TMP/tty.out" | tr '\r' '\n')
want="fakts-node: joining the cluster through $DEAD (agent at http://$HTTP)... "
grep -qF -- "$want" <<<"$out" ||
    fail "terminal: no waiting line \"$want\" in: $(cat -A "$TMP/tty.out")"
grep -qE -- "\\.\\.\\. [1-9] s" <<<"$out" ||
    fail "terminal: the waiting line never counted a second: $(cat -A "$TMP/tty.out")"
# erased before the error: a '\r', only blanks, a '\r', then the error line
grep -qE $'\r +\rfakts-node: could not join' "$TMP/tty.out" ||
    fail "terminal: the waiting line was not erased before the error: $(cat -A "$TMP/tty.out")"
say "terminal: join showed what it waited for, counted seconds, and erased the line"

# ---- agent: what it joins through, on a terminal only ----------------------------------------
! grep -q 'waiting to join' "$TMP/agent.log" ||
    fail "agent: its log (not a terminal) says it is waiting to join: $(grep 'waiting to join' "$TMP/agent.log")"
mkdir -m 700 "$TMP/data2"
script -qfec "$(printf '%q ' exec "$BIN" agent --data-dir "$TMP/data2" --http "$ADDR:0" \
    --gossip "$ADDR:0" --insecure-gossip --node progress2 --retry-join "$DEAD")" /dev/null \
    >"$TMP/agent-tty.out" 2>&1 </dev/null &
SCRIPT_PID=$!
want="fakts-node: waiting to join the cluster through $DEAD (knocking every second while no other member is alive)"
for _ in $(seq 300); do
    [ -z "$TTY_AGENT" ] && [ -s "$TMP/data2/agent.json" ] &&
        TTY_AGENT=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' "$TMP/data2/agent.json")
    grep -qF -- "$want" "$TMP/agent-tty.out" && break
    kill -0 "$SCRIPT_PID" 2>/dev/null || break
    sleep 0.1
done
grep -qF -- "$want" "$TMP/agent-tty.out" ||
    fail "agent: no \"$want\" under a terminal within 30 s: $(cat -A "$TMP/agent-tty.out" | head -n 20)"
for _ in $(seq 300); do
    [ -z "$TTY_AGENT" ] || break
    [ -s "$TMP/data2/agent.json" ] && TTY_AGENT=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' "$TMP/data2/agent.json")
    sleep 0.1
done
[ -n "$TTY_AGENT" ] || fail "agent: no pid in the second agent's agent.json"
kill -TERM "$TTY_AGENT"
wait "$SCRIPT_PID" 2>/dev/null || true
TTY_AGENT=
say "agent: said what it joins through on a terminal, nothing in its log file"
say "PASS"
