#!/usr/bin/env bash
# The static fakts-node (make static) in an empty root: a directory holding the binary, its two
# data dirs, a cluster secret and a service file, and nothing else (no /lib, no /etc, no /dev,
# no /proc), entered with chroot (as root) or unshare --map-root-user --root (otherwise).
#
#   binary   no program interpreter (fully static: ldd says "not a dynamic executable")
#   keygen   keygen --cluster-secret /secret, inside the root
#   tls      tls ca create and tls cert create --node s1 --san static-seed,127.0.0.190 inside
#            the root (OpenSSL)
#   agent    s1 on 127.0.0.190 (HTTPS with that certificate: GnuTLS; gossip on a free port,
#            --cluster-secret-file): answers `info` inside the root (libcurl over OpenSSL,
#            verifying against the CA agent.json names), gossip_security "curve"
#   cli      services register /svc.yaml on s1; services list on s1 shows it
#   names    no /etc/hosts: `info --http-addr https://static-seed:PORT` cannot resolve the name
#            and exits 69 (unavailable), the agent unharmed. Then /etc/hosts maps static-seed to
#            127.0.0.190, as Docker provides one in every container, and the same command
#            answers, the certificate verified for that name: the static glibc reads /etc/hosts
#            (and /etc/resolv.conf) itself, no NSS module is loaded
#   cluster  s2 on 127.0.0.191 with the same secret and --retry-join static-seed:GOSSIP (a
#            name, through /etc/hosts): `members` on both nodes lists s1 and s2 alive; s2
#            lists the service registered on s1
#   cleanup  agents stopped by pid (SIGTERM, then SIGKILL); no process may still have the root
#            as its /; the root removed (trap)
#
# Every wait polls against a deadline.
#
# Usage: tests/static/empty_root.sh [STATIC_BINARY]   (default: build-static/fakts-node of this
# checkout). Exit status: 0 when every check passed; 77 (skipped) only when the static binary
# was not built (make static); 1 with a "FAIL:" line naming the check otherwise.
set -euo pipefail

ROOT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${1:-$ROOT_DIR/build-static/fakts-node}
ADDR1=127.0.0.190
ADDR2=127.0.0.191
DEADLINE=30   # seconds any one wait may take

say() { printf '[static] %s\n' "$*"; }
fail() { printf '[static] FAIL: %s\n' "$*" >&2; exit 1; }

if [ ! -x "$BIN" ]; then
    printf '[static] SKIP: no static binary at %s (make static builds it)\n' "$BIN" >&2
    exit 77
fi

# The agents and the CLI must see only the flags given here.
for var in $(compgen -e); do
    case $var in FAKTS_*) unset "$var" ;; esac
done

ROOT=$(mktemp -d)
PIDS=()
cleanup() {
    local status=$?
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    # Nothing may outlive the test inside the root (a process whose / is $ROOT).
    local left
    left=$(for p in /proc/[0-9]*; do
               [ "$(readlink "$p/root" 2>/dev/null)" != "$ROOT" ] || echo "${p#/proc/}"
           done)
    if [ -n "$left" ]; then
        say "FAIL: cleanup: still running inside the root: $(echo $left)"
        kill -KILL $left 2>/dev/null || true
        [ "$status" -ne 0 ] || status=1
    fi
    if [ "$status" -ne 0 ]; then
        for log in "$ROOT"/*.log; do
            [ -e "$log" ] && { say "--- $(basename "$log")"; tail -n 20 "$log"; }
        done
    fi
    rm -rf "$ROOT"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# in_root CMD...: run CMD with $ROOT as /, with no environment but PATH=/.
if [ "$(id -u)" = 0 ]; then
    ENTER=("$(command -v chroot)" "$ROOT")
else
    ENTER=("$(command -v unshare)" --map-root-user --root="$ROOT")
fi
in_root() { env -i PATH=/ "${ENTER[@]}" "$@"; }

# wait_for DESCRIPTION CMD...: poll CMD (output discarded) until it succeeds or DEADLINE passes.
wait_for() {
    local what=$1 end=$((SECONDS + DEADLINE))
    shift
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$end" ] || fail "$what: not within ${DEADLINE}s"
        sleep 0.2
    done
}

# json_field FILE KEY: the string value of "KEY" in the one-line JSON object in FILE.
json_field() { sed -n "s/.*\"$2\": *\"\\([^\"]*\\)\".*/\\1/p" "$1"; }

# --- binary ---
if readelf -l "$BIN" | grep -q 'Requesting program interpreter'; then
    fail "binary: $BIN has a program interpreter (not static): $(readelf -l "$BIN" | grep interpreter)"
fi
say "binary: $BIN, $(stat -c %s "$BIN") bytes, no program interpreter"

cp "$BIN" "$ROOT/fakts-node"
mkdir -m 700 "$ROOT/data1" "$ROOT/data2"
cat > "$ROOT/svc.yaml" <<'EOF'
id: static-svc
service: static.check
aliases:
  - {host: static.example, port: 8080}
EOF

# --- keygen ---
in_root /fakts-node keygen --cluster-secret /secret >"$ROOT/keygen.log" 2>&1 \
    || fail "keygen --cluster-secret inside the root (exit $?)"
[ -s "$ROOT/secret" ] || fail "keygen: /secret is empty"
say "keygen: a cluster secret written inside the root"

# --- tls ---
mkdir -m 700 "$ROOT/tls"
in_root /fakts-node tls ca create --dir /tls >"$ROOT/tls.log" 2>&1 || fail "tls: ca create (exit $?)"
in_root /fakts-node tls cert create --node s1 --san "static-seed,$ADDR1" --ca /tls/fakts-ca.pem \
    --ca-key /tls/fakts-ca-key.pem --dir /tls >>"$ROOT/tls.log" 2>&1 || fail "tls: cert create (exit $?)"
say "tls: a CA and s1's certificate made inside the root"

# --- agent ---
# start_agent NAME ADDR DATA_DIR [FLAGS...]: start an agent inside the root, in the background.
start_agent() {
    local name=$1 addr=$2 dir=$3
    shift 3
    # Not through in_root: a function in the background runs in a subshell, and $! would be
    # that subshell's pid, not the agent's. env execs chroot (or unshare), which execs the agent.
    env -i PATH=/ "${ENTER[@]}" /fakts-node agent --node "$name" --data-dir "/$dir" \
        --http "$addr:0" --gossip "$addr:0" --cluster-secret-file /secret "$@" \
        >"$ROOT/$name.log" 2>&1 &
    PIDS+=($!)
}
start_agent s1 "$ADDR1" data1 --tls-cert /tls/s1.pem --tls-key /tls/s1-key.pem
wait_for "agent s1 writes agent.json" test -s "$ROOT/data1/agent.json"
wait_for "agent s1 answers info" in_root /fakts-node info --data-dir /data1
in_root /fakts-node info --json --data-dir /data1 >"$ROOT/info1.json" 2>&1 \
    || fail "agent: info on s1 (exit $?)"
grep -Eq '"gossip_security": *"curve"' "$ROOT/info1.json" \
    || fail "agent: s1's gossip is not CurveZMQ: $(cat "$ROOT/info1.json")"
URL1=$(json_field "$ROOT/data1/agent.json" url)
case $URL1 in https://*) ;; *) fail "agent: s1's URL is not https: $URL1" ;; esac
HTTP1=$(json_field "$ROOT/data1/agent.json" http)
GOSSIP1=$(json_field "$ROOT/data1/agent.json" gossip)
[ -n "$HTTP1" ] && [ -n "$GOSSIP1" ] || fail "agent: no http/gossip in $(cat "$ROOT/data1/agent.json")"
say "agent: s1 serves $URL1, gossip on $GOSSIP1 (curve)"

# --- cli ---
in_root /fakts-node services register --data-dir /data1 /svc.yaml >"$ROOT/register.log" 2>&1 \
    || fail "cli: services register on s1 (exit $?): $(cat "$ROOT/register.log")"
in_root /fakts-node services list --data-dir /data1 >"$ROOT/list1.txt" 2>&1 \
    || fail "cli: services list on s1 (exit $?)"
grep -q static-svc "$ROOT/list1.txt" || fail "cli: s1 does not list static-svc: $(cat "$ROOT/list1.txt")"
say "cli: services register and services list on s1"

# --- names ---
PORT1=${HTTP1##*:}
set +e
in_root /fakts-node info --http-addr "https://static-seed:$PORT1" --ca-file /tls/fakts-ca.pem \
    --data-dir /data1 >"$ROOT/noname.log" 2>&1
rc=$?
set -e
[ "$rc" = 69 ] || fail "names: without /etc/hosts, info via static-seed exited $rc, not 69: $(cat "$ROOT/noname.log")"
mkdir "$ROOT/etc"
printf '127.0.0.1 localhost\n%s static-seed\n' "$ADDR1" >"$ROOT/etc/hosts"
in_root /fakts-node info --http-addr "https://static-seed:$PORT1" --ca-file /tls/fakts-ca.pem \
    --data-dir /data1 >"$ROOT/name.log" 2>&1 \
    || fail "names: with /etc/hosts, info via static-seed (exit $?): $(cat "$ROOT/name.log")"
say "names: static-seed unresolvable without /etc/hosts (exit 69), resolved with it"

# --- cluster ---
start_agent s2 "$ADDR2" data2 --retry-join "static-seed:${GOSSIP1##*:}"
wait_for "agent s2 writes agent.json" test -s "$ROOT/data2/agent.json"
# both_alive DATA_DIR: members on that node lists s1 and s2, both alive.
both_alive() {
    in_root /fakts-node members --data-dir "/$1" >"$ROOT/members-$1.txt" 2>&1 || return 1
    grep -Eq '^s1 .* alive ' "$ROOT/members-$1.txt" && grep -Eq '^s2 .* alive ' "$ROOT/members-$1.txt"
}
wait_for "cluster: s1 lists s1 and s2 alive" both_alive data1
wait_for "cluster: s2 lists s1 and s2 alive" both_alive data2
s2_lists_svc() {
    in_root /fakts-node services list --data-dir /data2 >"$ROOT/list2.txt" 2>&1 \
        && grep -q static-svc "$ROOT/list2.txt"
}
wait_for "cluster: s2 lists the service registered on s1" s2_lists_svc
say "cluster: s1 and s2 alive on both (joined through a name), s2 lists static-svc"
say "PASS"
