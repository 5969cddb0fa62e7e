#!/usr/bin/env bash
# bench/run.sh PATH/TO/fakts-node
#
# Starts a fresh agent in a temporary data dir, registers 1,000 services (10 service
# names x 100 instances), then measures on loopback with wrk: the discovery document,
# a private nginx serving a same-size static file (the same-run peer), and the
# refresh-token exchange with per-connection rotation chains; then the same over
# HTTPS: a second agent with a certificate from the binary's own `tls ca create` /
# `tls cert create`, against the same nginx serving the same bytes over HTTPS with the
# same certificate, and the cost of a new TLS connection (wrk with Connection: close,
# curl's handshake time); and the agent's resident memory idle, after the load and
# after a fresh restart; and what held watchers (blocking queries) cost a fresh agent, and
# how long one change takes to answer them all. Prints a Markdown table and writes it to
# bench/results.md, and the rates the plots are drawn from (bench/plot.sh) to
# bench/plots/data/http.tsv.
# See bench/README.md.
#
# Exit status: 0 when every measurement is valid (targets may still be missed: they
# are reported, not enforced); 1 when a measurement failed (wrk socket errors or
# timeouts, any answer that is not 200, a failed registration or redeem); 2 usage.
#
# Environment (all optional):
#   BENCH_DURATION       wrk duration per run              (10s)
#   BENCH_CONNS          connections of the loaded runs    (8)
#   BENCH_HANDSHAKES     fresh TLS connections curl times per server (200)
#   BENCH_NGINX_WORKERS  nginx worker processes            (2: one per core, as the agent's threads share them)
#   BENCH_WATCHERS       blocking queries held at once     (400)
#   BENCH_OUT            where the Markdown goes           (bench/results.md)
#   BENCH_DATA           where the rates for the plots go  (bench/plots/data)
#   BENCH_BIND_IP        the loopback address of every server (127.0.0.248)
#   BENCH_FSYNC          the agent's --fsync mode          (periodic, the default)
#   TMPDIR               parent of the temporary dir      (/tmp)

set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: bench/run.sh PATH/TO/fakts-node" >&2
    exit 2
fi
BIN=$(realpath -e "$1") || { echo "bench: no such binary: $1" >&2; exit 2; }
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DURATION=${BENCH_DURATION:-10s}
CONNS=${BENCH_CONNS:-8}
NGINX_WORKERS=${BENCH_NGINX_WORKERS:-2}
N_HANDSHAKES=${BENCH_HANDSHAKES:-200}
OUT=${BENCH_OUT:-$BENCH_DIR/results.md}
PLOT_DATA=${BENCH_DATA:-$BENCH_DIR/plots/data}
BIND_IP=${BENCH_BIND_IP:-127.0.0.248}
FSYNC=${BENCH_FSYNC:-periodic}
N_WATCHERS=${BENCH_WATCHERS:-400}
N_NAMES=10
N_INST=100
PY=/usr/bin/python3   # Debian's interpreter, standard library only
WRK_TIMEOUT=5s        # a request slower than this counts as an error

# The ten service names; the manifest requires the first one (100 candidate instances).
NAMES=(live.arkitekt.rekuest live.arkitekt.mikro live.arkitekt.fluss live.arkitekt.kabinet
       live.arkitekt.kraph org.bench.s5 org.bench.s6 org.bench.s7 org.bench.s8 org.bench.s9)
REQ_NAME=${NAMES[0]}
REQ_KEY=rekuest

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# A sanitizer build is several times slower and its allocator quarantine holds up to
# 256 MiB of freed memory: its figures say nothing about the agent. A build dir once
# configured with -DFK_SANITIZE=ON keeps it cached even when a later configure omits it.
if grep -q -a -m1 -e __asan_init -e __ubsan_handle -e __tsan_init -e __msan_init "$BIN"; then
    if [ "${BENCH_ALLOW_SANITIZED:-0}" = 1 ]; then
        log "WARNING: $BIN is a sanitizer build; the figures are not representative"
        SANITIZED=yes
    else
        die "$BIN is built with sanitizers (FK_SANITIZE/FK_FUZZ cached in its build dir?);" \
            "reconfigure it with -DFK_SANITIZE=OFF -DFK_FUZZ=OFF, or set BENCH_ALLOW_SANITIZED=1"
    fi
else
    SANITIZED=no
fi

# ---- tools -------------------------------------------------------------------------
for tool in curl wrk openssl "$PY"; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt-get install -y ${tool##*/})"
done
NGINX=$(command -v nginx || true)
if [ -z "$NGINX" ] && [ -x /usr/sbin/nginx ]; then NGINX=/usr/sbin/nginx; fi
if [ -z "$NGINX" ]; then
    log "nginx is missing: installing nginx-light (the same-run peer)"
    SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        nginx-light >/dev/null || die "cannot install nginx-light"
    NGINX=/usr/sbin/nginx
fi

# ---- temporary dir, cleanup ---------------------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/fakts-bench.XXXXXX")
chmod 711 "$TMP"   # nginx workers (user nobody) must traverse it to the static file
DATA=$TMP/data
mkdir -m 700 "$DATA"
AGENT_PID=
TLS_PID=
NGINX_PID=
CHILD_PID=

stop_pid() {   # stop_pid PID: TERM, wait up to 10 s, then KILL
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
# run_child CMD...: run a long command so that a signal to this script is acted on at
# once (bash runs traps during `wait`, but only after a foreground command ends).
# shellcheck source=progress.sh
. "$BENCH_DIR/progress.sh"
WAITING=   # what the running child waits for, shown on a terminal (bench/progress.sh)
run_child() {
    "$@" &
    CHILD_PID=$!
    local rc=0
    progress_watch bench "$WAITING" "$CHILD_PID"
    wait "$CHILD_PID" || rc=$?
    CHILD_PID=
    return "$rc"
}
cleanup() {
    [ -n "$CHILD_PID" ] && stop_pid "$CHILD_PID"
    [ -n "$SCHED_PID" ] && stop_pid "$SCHED_PID"
    [ -n "$AGENT_PID" ] && stop_pid "$AGENT_PID"
    [ -n "$TLS_PID" ] && stop_pid "$TLS_PID"
    [ -n "$NGINX_PID" ] && stop_pid "$NGINX_PID"
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- agent --------------------------------------------------------------------------
# launch_agent DATA_DIR LOG [FLAGS...]: start an agent (rate limits off, gossip on a free
# port so that two agents can run at once), wait for its agent.json; pid in LAUNCHED_PID
launch_agent() {
    local data=$1 logf=$2 i
    shift 2
    rm -f "$data/agent.json"
    "$BIN" agent --data-dir "$data" --http "$BIND_IP:0" --gossip "$BIND_IP:0" --rate-authorize 0 \
        --rate-token 0 --fsync "$FSYNC" "$@" >>"$logf" 2>&1 &
    LAUNCHED_PID=$!
    for i in $(seq 150); do
        [ -s "$data/agent.json" ] && break
        kill -0 "$LAUNCHED_PID" 2>/dev/null || { cat "$logf" >&2; die "agent exited at start"; }
        sleep 0.1
    done
    [ -s "$data/agent.json" ] || die "agent did not write agent.json within 15 s"
}
start_agent() {   # the plain-HTTP agent on DATA: AGENT_PID, ADDR, TOKEN
    launch_agent "$DATA" "$TMP/agent.log"
    AGENT_PID=$LAUNCHED_PID
    ADDR=$(sed -n 's/.*"http":"\([^"]*\)".*/\1/p' "$DATA/agent.json")
    [ -n "$ADDR" ] || die "no http address in agent.json"
    TOKEN=$(cat "$DATA/admin-token")
}
stop_agent() { stop_pid "$AGENT_PID"; AGENT_PID=; }

# mem LABEL: VmRSS, VmHWM, RssAnon, RssFile of the agent (kB) into M[LABEL.*]
declare -A M
mem() {
    local label=$1 k v _
    while read -r k v _; do
        case $k in
            VmRSS:|VmHWM:|RssAnon:|RssFile:|RssShmem:|Threads:) M[$label.${k%:}]=$v ;;
        esac
    done <"/proc/$AGENT_PID/status"
    M[$label.Pss]=$(awk '/^Pss:/{print $2}' "/proc/$AGENT_PID/smaps_rollup" 2>/dev/null || echo 0)
}

# sched_begin PID...; sched_end: SCHED_CPU and SCHED_WAIT, the on-CPU and the
# runnable-but-waiting-for-a-CPU ns gained in between by the threads of the processes
# (and of their children: nginx workers), including threads that exited meanwhile
# (bench/schedwatch.py). sched_end must run in this shell, not in $(...): only the shell
# that started schedwatch can wait for it to print, and SCHED_PID must be cleared here,
# or the EXIT trap would signal whatever process later gets that pid.
SCHED_PID=
sched_begin() {
    "$PY" "$BENCH_DIR/schedwatch.py" "$@" >"$TMP/sched.out" &
    SCHED_PID=$!
    local deadline=$((SECONDS + 10))
    until grep -q '^ready$' "$TMP/sched.out" 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || die "schedwatch did not start"
        sleep 0.05
    done
}
sched_end() {
    kill -TERM "$SCHED_PID"
    wait "$SCHED_PID" || true
    SCHED_PID=
    read -r SCHED_CPU SCHED_WAIT < <(tail -n 1 "$TMP/sched.out")
    [[ $SCHED_CPU =~ ^-?[0-9]+$ && $SCHED_WAIT =~ ^-?[0-9]+$ ]] ||
        die "schedwatch printed no result: $(tr '\n' ' ' <"$TMP/sched.out")"
}

# The agent that admin() and make_chains talk to: the plain one unless the caller sets
# A_URL, A_TOKEN and A_CA (the CA file curl verifies an https:// agent with).
admin() {   # admin METHOD PATH [BODY] -> body on stdout; fails unless 200
    local method=$1 path=$2 body=${3:-} out code
    out=$(curl -sS --max-time 10 -X "$method" -H "Authorization: Bearer ${A_TOKEN:-$TOKEN}" \
        ${A_CA:+--cacert "$A_CA"} -w '\n%{http_code}' ${body:+--data-binary "$body"} \
        "${A_URL:-http://$ADDR}$path") ||
        die "$method $path: curl failed"
    code=${out##*$'\n'}
    [ "$code" = 200 ] || die "$method $path answered $code: ${out%$'\n'*}"
    printf '%s' "${out%$'\n'*}"
}

json() {   # json EXPR < document: print EXPR evaluated on the parsed document d
    "$PY" -c "import json,sys; d=json.load(sys.stdin); print($1)"
}

START_DATE=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
T0=$(date +%s)

log "agent: $BIN (data dir $DATA)"
start_agent
sleep 1
mem empty
log "agent listening on $ADDR (pid $AGENT_PID)"

# ---- 1. register 1,000 services -----------------------------------------------------
# One curl process, one keep-alive connection, sequential PUTs: registrations/s is the
# agent's one-client write rate (each PUT is one committed LMDB transaction).
# register_config BASE_URL TOKEN [CA_FILE]: curl -K config for the 1,000 PUTs (options
# given on curl's command line apply to the first transfer only: CA_FILE goes in each)
register_config() {
    awk -v base="$1" -v token="$2" -v ca="${3:-}" -v names="${NAMES[*]}" -v ni="$N_INST" 'BEGIN {
    n = split(names, name, " ")
    for (s = 0; s < n; s++) for (i = 0; i < ni; i++) {
        if (s || i) print "next"
        id = sprintf("svc-%d-%03d", s, i)
        body = sprintf("{\\\"id\\\":\\\"%s\\\",\\\"service\\\":\\\"%s\\\",\\\"aliases\\\":[{\\\"host\\\":\\\"10.0.%d.%d\\\",\\\"port\\\":8090,\\\"path\\\":\\\"p%d\\\"}]}", id, name[s + 1], s, i + 1, s)
        print "url = \"" base "/v1/services\""
        print "request = \"PUT\""
        if (ca != "") print "cacert = \"" ca "\""
        print "header = \"Authorization: Bearer " token "\""
        print "header = \"Content-Type: application/json\""
        print "data = \"" body "\""
        print "output = \"/dev/null\""
        print "write-out = \"%{http_code}\\n\""
    }
}'
}
CFG=$TMP/register.curl
register_config "http://$ADDR" "$TOKEN" >"$CFG"
N_SVC=$((N_NAMES * N_INST))
log "registering $N_SVC services"
sched_begin "$AGENT_PID"
t_a=$(date +%s%N)
WAITING="$N_SVC registrations" run_child curl -sS --max-time 300 -K "$CFG" >"$TMP/register.codes" ||
    die "registration: curl failed"
t_b=$(date +%s%N)
sched_end
rc1=$SCHED_CPU rw1=$SCHED_WAIT
REG_CPU=$(awk -v b="$rc1" -v n=$((N_NAMES * N_INST)) 'BEGIN{printf "%.0f", b/1000/n}')
REG_WAIT=$(awk -v b="$rw1" -v n=$((N_NAMES * N_INST)) 'BEGIN{printf "%.0f", b/1000/n}')
REG_OK=$(grep -c '^200$' "$TMP/register.codes" || true)
[ "$REG_OK" = "$N_SVC" ] || die "registration: $REG_OK of $N_SVC answered 200 ($(sort "$TMP/register.codes" | uniq -c | tr '\n' ' '))"
REG_S=$(awk -v a="$t_a" -v b="$t_b" 'BEGIN{printf "%.2f", (b-a)/1e9}')
REG_RATE=$(awk -v a="$t_a" -v b="$t_b" -v n="$N_SVC" 'BEGIN{printf "%.0f", n/((b-a)/1e9)}')
COUNT=$(admin GET /v1/agent/info | json 'd["services"]')
[ "$COUNT" = "$N_SVC" ] || die "agent reports $COUNT services, expected $N_SVC"
log "registered $N_SVC in ${REG_S}s ($REG_RATE/s)"
sleep 2
mem registered

# ---- the HTTPS agent: a private CA, a node certificate, the same 1,000 services -------
# A second agent (its own data dir, so both run at once and their runs can alternate)
# with --tls-cert/--tls-key; its agent.json says https:// and names the chain as ca_file,
# which is what the CLI and this script's curl verify it with. nginx's HTTPS server
# below uses the same two files.
TLS_DIR=$TMP/tls
TLS_DATA=$TMP/data-tls
mkdir -m 700 "$TLS_DIR" "$TLS_DATA"
"$BIN" tls ca create --dir "$TLS_DIR" --name "fakts-node bench CA" >>"$TMP/tls.log" 2>&1 ||
    { cat "$TMP/tls.log" >&2; die "tls ca create failed"; }
"$BIN" tls cert create --node bench --san "$BIND_IP" --dir "$TLS_DIR" \
    --ca "$TLS_DIR/fakts-ca.pem" --ca-key "$TLS_DIR/fakts-ca-key.pem" >>"$TMP/tls.log" 2>&1 ||
    { cat "$TMP/tls.log" >&2; die "tls cert create failed"; }
TLS_CERT=$TLS_DIR/bench.pem
TLS_KEY=$TLS_DIR/bench-key.pem
launch_agent "$TLS_DATA" "$TMP/agent-tls.log" --tls-cert "$TLS_CERT" --tls-key "$TLS_KEY"
TLS_PID=$LAUNCHED_PID
TLS_ADDR=$(json 'd["http"]' <"$TLS_DATA/agent.json")
TLS_URL=$(json 'd["url"]' <"$TLS_DATA/agent.json")
TLS_CA=$(json 'd.get("ca_file", "")' <"$TLS_DATA/agent.json")
TLS_TOKEN=$(cat "$TLS_DATA/admin-token")
[ "$TLS_URL" = "https://$TLS_ADDR" ] || die "HTTPS agent's agent.json has url $TLS_URL"
[ -n "$TLS_CA" ] || die "HTTPS agent's agent.json has no ca_file"
log "HTTPS agent listening on $TLS_ADDR (pid $TLS_PID), CA file $TLS_CA"
register_config "$TLS_URL" "$TLS_TOKEN" "$TLS_CA" >"$TMP/register-tls.curl"
log "registering the same $N_SVC services with the HTTPS agent"
WAITING="$N_SVC registrations over HTTPS" run_child curl -sS --max-time 300 -K "$TMP/register-tls.curl" >"$TMP/register-tls.codes" ||
    die "HTTPS registration: curl failed"
REG_OK=$(grep -c '^200$' "$TMP/register-tls.codes" || true)
[ "$REG_OK" = "$N_SVC" ] || die "HTTPS registration: $REG_OK of $N_SVC answered 200"
COUNT=$(A_URL=$TLS_URL A_TOKEN=$TLS_TOKEN A_CA=$TLS_CA admin GET /v1/agent/info | json 'd["services"]')
[ "$COUNT" = "$N_SVC" ] || die "HTTPS agent reports $COUNT services, expected $N_SVC"

# ---- discovery document, nginx peer with a same-size static file ---------------------
DISC_URL=http://$ADDR/.well-known/fakts
mkdir -p "$TMP/nginx/www/.well-known" "$TMP/nginx/tmp" "$TMP/nginx/logs"
DISC_BYTES=$(curl -sS --max-time 10 -o "$TMP/nginx/www/.well-known/fakts" -w '%{size_download}' "$DISC_URL")
# The HTTPS agent's document names https:// URLs: nginx's HTTPS server serves those bytes.
TLS_DISC_URL=$TLS_URL/.well-known/fakts
mkdir -p "$TMP/nginx/www-tls/.well-known"
TLS_DISC_BYTES=$(curl -sS --max-time 10 --cacert "$TLS_CA" -o "$TMP/nginx/www-tls/.well-known/fakts" \
    -w '%{size_download}' "$TLS_DISC_URL") || die "HTTPS discovery: curl failed"
chmod -R a+rX "$TMP/nginx/www" "$TMP/nginx/www-tls"
free_port() { "$PY" -c 'import socket, sys; s=socket.socket(); s.bind((sys.argv[1],0)); print(s.getsockname()[1])' "$BIND_IP"; }
NPORT=$(free_port)
NPORT_TLS=$(free_port)
while [ "$NPORT_TLS" = "$NPORT" ]; do NPORT_TLS=$(free_port); done
cat >"$TMP/nginx/nginx.conf" <<EOF
worker_processes $NGINX_WORKERS;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 60s;
    client_body_temp_path $TMP/nginx/tmp/body;
    proxy_temp_path $TMP/nginx/tmp/proxy;
    fastcgi_temp_path $TMP/nginx/tmp/fastcgi;
    uwsgi_temp_path $TMP/nginx/tmp/uwsgi;
    scgi_temp_path $TMP/nginx/tmp/scgi;
    default_type application/json;
    server {
        listen $BIND_IP:$NPORT;
        root $TMP/nginx/www;
    }
    # The same certificate and key as the HTTPS agent. TLS 1.3 as the agent negotiates
    # (nginx 1.22 offers only up to 1.2 unless told); no session cache or tickets, since
    # the agent resumes no sessions and wrk would resume a session when it reconnects.
    server {
        listen $BIND_IP:$NPORT_TLS ssl;
        ssl_certificate $TLS_CERT;
        ssl_certificate_key $TLS_KEY;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache off;
        ssl_session_tickets off;
        root $TMP/nginx/www-tls;
    }
}
EOF
"$NGINX" -e "$TMP/nginx/logs/error.log" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" \
    >>"$TMP/nginx/logs/stdout.log" 2>&1 &
NGINX_PID=$!
NGINX_URL=http://$BIND_IP:$NPORT/.well-known/fakts
for i in $(seq 50); do
    curl -s --max-time 1 -o /dev/null "$NGINX_URL" && break
    kill -0 "$NGINX_PID" 2>/dev/null || { cat "$TMP/nginx/logs/"* >&2; die "nginx exited at start"; }
    sleep 0.1
done
NGINX_BYTES=$(curl -sS --max-time 5 -o /dev/null -w '%{size_download}' "$NGINX_URL") ||
    die "nginx does not answer on $NGINX_URL"
[ "$NGINX_BYTES" = "$DISC_BYTES" ] || die "nginx serves $NGINX_BYTES bytes, discovery is $DISC_BYTES"
NGINX_TLS_URL=https://$BIND_IP:$NPORT_TLS/.well-known/fakts
NGINX_TLS_BYTES=$(curl -sS --max-time 5 --cacert "$TLS_CA" -o /dev/null -w '%{size_download}' "$NGINX_TLS_URL") ||
    die "nginx does not answer on $NGINX_TLS_URL"
[ "$NGINX_TLS_BYTES" = "$TLS_DISC_BYTES" ] ||
    die "nginx serves $NGINX_TLS_BYTES bytes over HTTPS, HTTPS discovery is $TLS_DISC_BYTES"
NGINX_VERSION=$("$NGINX" -v 2>&1 | sed 's/.*nginx\///')
log "nginx $NGINX_VERSION (pid $NGINX_PID, $NGINX_WORKERS workers) on $BIND_IP:$NPORT, $NGINX_BYTES-byte file;" \
    "HTTPS on $BIND_IP:$NPORT_TLS, $NGINX_TLS_BYTES-byte file"

# ---- refresh chains: one client per wrk connection -----------------------------------
# A redeem token is bound to the first manifest redeemed with it, so each chain gets its
# own token and its own manifest (identifier bench-app-K): K distinct clients. Made on
# the agent admin() talks to (A_URL, A_TOKEN, A_CA: the plain one unless set).
CHAIN_NO=0
make_chains() {   # make_chains N FILE: redeem N new clients, "<refresh> <client_id>" lines
    local n=$1 file=$2 k out code manifest line rt
    : >"$file"
    for k in $(seq 1 "$n"); do
        CHAIN_NO=$((CHAIN_NO + 1))
        rt=$(admin POST /v1/redeem-tokens '{"max_redemptions":1}' | json 'd["token"]')
        manifest="{\"identifier\":\"bench-app-$CHAIN_NO\",\"version\":\"1.0\",\"scopes\":[],\"requirements\":[{\"key\":\"$REQ_KEY\",\"service\":\"$REQ_NAME\",\"optional\":false}]}"
        out=$(curl -sS --max-time 10 ${A_CA:+--cacert "$A_CA"} -w '\n%{http_code}' \
            "${A_URL:-http://$ADDR}/lok/o/token/" \
            --data-urlencode grant_type=urn:fakts:grant-type:redeem \
            --data-urlencode "redeem_token=$rt" --data-urlencode "manifest=$manifest") ||
            die "redeem: curl failed"
        code=${out##*$'\n'}
        [ "$code" = 200 ] || die "redeem answered $code: ${out%$'\n'*}"
        line=$(printf '%s' "${out%$'\n'*}" | json \
            'd["refresh_token"]+" "+d["client_id"]+" "+d["instances"]["'"$REQ_KEY"'"]["identifier"]')
        # composition must have chosen the smallest (id, node) of the 100 candidates
        case ${line##* } in svc-0-000@*) ;; *) die "redeem composed ${line##* }, expected svc-0-000@<node>" ;; esac
        echo "${line% *}" >>"$file"
    done
}

# ---- wrk runs -----------------------------------------------------------------------
declare -A R
INVALID=()
run_wrk() {   # run_wrk NAME SERVER_PID THREADS CONNS URL SCRIPT [SCRIPT ARGS...]
    local name=$1 spid=$2 t=$3 c=$4 url=$5 script=$6
    shift 6
    local out=$TMP/wrk-$name.txt line kv c1 w1
    log "wrk $name: -t$t -c$c -d$DURATION $url"
    local cmd=(wrk -t"$t" -c"$c" -d"$DURATION" --timeout "$WRK_TIMEOUT" --latency -s "$script" "$url")
    [ $# -gt 0 ] && cmd+=(-- "$@")
    sched_begin "$spid"
    if ! WAITING="wrk $name, -c$c for $DURATION" run_child timeout 300 "${cmd[@]}" >"$out" 2>&1; then
        cat "$out" >&2
        die "wrk $name failed"
    fi
    line=$(grep '^BENCH ' "$out" | tail -n 1)
    [ -n "$line" ] || { cat "$out" >&2; die "wrk $name: no result line"; }
    sched_end
    c1=$SCHED_CPU w1=$SCHED_WAIT
    for kv in ${line#BENCH }; do R[$name.${kv%%=*}]=${kv#*=}; done
    # server time per answered request: on a CPU, and runnable but waiting for one
    R[$name.cpu_us]=$(awk -v b="$c1" -v n="${R[$name.requests]}" 'BEGIN{printf "%.0f", n ? b/1000/n : 0}')
    R[$name.wait_us]=$(awk -v b="$w1" -v n="${R[$name.requests]}" 'BEGIN{printf "%.0f", n ? b/1000/n : 0}')
    R[$name.settings]="-t$t -c$c -d$DURATION --timeout $WRK_TIMEOUT --latency"
    local errs=$((${R[$name.connect]} + ${R[$name.read]} + ${R[$name.write]} + ${R[$name.timeout]}))
    R[$name.sockerr]=$errs
    if [ "${R[$name.non200]}" != 0 ] || [ "${R[$name.bad_body]}" != 0 ] || [ "$errs" != 0 ] ||
        [ "${R[$name.requests]}" = 0 ]; then
        INVALID+=("$name")
        log "wrk $name INVALID: non200=${R[$name.non200]} bad_body=${R[$name.bad_body]} socket errors=$errs"
    fi
    log "wrk $name: ${R[$name.rps]} req/s, p50 ${R[$name.p50_us]} us, p99 ${R[$name.p99_us]} us"
}

# Agent and nginx alternate, so slow drift of a shared machine hits both alike.
run_wrk disc_c "$AGENT_PID" 1 "$CONNS" "$DISC_URL" "$BENCH_DIR/get.lua"
run_wrk nginx_c "$NGINX_PID" 1 "$CONNS" "$NGINX_URL" "$BENCH_DIR/get.lua"
run_wrk disc_1 "$AGENT_PID" 1 1 "$DISC_URL" "$BENCH_DIR/get.lua"
run_wrk nginx_1 "$NGINX_PID" 1 1 "$NGINX_URL" "$BENCH_DIR/get.lua"

# HTTPS, keep-alive: the same runs against the HTTPS agent and nginx's HTTPS server.
run_wrk tls_disc_c "$TLS_PID" 1 "$CONNS" "$TLS_DISC_URL" "$BENCH_DIR/get.lua"
run_wrk tls_nginx_c "$NGINX_PID" 1 "$CONNS" "$NGINX_TLS_URL" "$BENCH_DIR/get.lua"
run_wrk tls_disc_1 "$TLS_PID" 1 1 "$TLS_DISC_URL" "$BENCH_DIR/get.lua"
run_wrk tls_nginx_1 "$NGINX_PID" 1 1 "$NGINX_TLS_URL" "$BENCH_DIR/get.lua"

# ---- new connections: what a TCP connection and a TLS handshake cost ------------------
# Connection: close makes every request a new connection. Plain HTTP first, so that the
# TLS runs' extra CPU per connection over the plain ones is the handshake's alone (the
# agent also starts a thread per connection: that is in both).
run_wrk close_disc "$AGENT_PID" 1 "$CONNS" "$DISC_URL" "$BENCH_DIR/close.lua"
run_wrk close_nginx "$NGINX_PID" 1 "$CONNS" "$NGINX_URL" "$BENCH_DIR/close.lua"
run_wrk tls_close_disc "$TLS_PID" 1 "$CONNS" "$TLS_DISC_URL" "$BENCH_DIR/close.lua"
run_wrk tls_close_nginx "$NGINX_PID" 1 "$CONNS" "$NGINX_TLS_URL" "$BENCH_DIR/close.lua"

# tls_params HOST:PORT: "<protocol> <cipher> <group> <resumed>/<reconnects>": openssl
# s_client connects once and reconnects 5 times offering the session it got; a server
# that resumes none does a full handshake every time (what the runs above assume).
tls_params() {
    local out
    out=$(timeout 30 openssl s_client -connect "$1" -reconnect -CAfile "$TLS_CA" </dev/null 2>&1) ||
        { printf '%s\n' "$out" >&2; die "openssl s_client -connect $1 failed"; }
    printf '%s\n' "$out" | awk '
        /^(New|Reused), / { n++; if ($1 == "Reused,") r++; if (!proto) { proto = $2; cipher = $NF }
                            sub(/,$/, "", proto) }
        /^Server Temp Key:/ { if (!group) { group = $4; sub(/,$/, "", group) } }
        END { printf "%s %s %s %d/%d\n", proto, cipher, group ? group : "?", r, n - 1 }'
}
read -r TLSP_AGENT_PROTO TLSP_AGENT_CIPHER TLSP_AGENT_GROUP TLSP_AGENT_REUSED <<<"$(tls_params "$TLS_ADDR")"
read -r TLSP_NGINX_PROTO TLSP_NGINX_CIPHER TLSP_NGINX_GROUP TLSP_NGINX_REUSED <<<"$(tls_params "$BIND_IP:$NPORT_TLS")"
log "TLS: agent $TLSP_AGENT_PROTO $TLSP_AGENT_CIPHER $TLSP_AGENT_GROUP resumed $TLSP_AGENT_REUSED;" \
    "nginx $TLSP_NGINX_PROTO $TLSP_NGINX_CIPHER $TLSP_NGINX_GROUP resumed $TLSP_NGINX_REUSED"

# The handshake's time as a client sees it: one curl process, N_HANDSHAKES fresh
# connections to each server, alternating (after one warm-up each, which loads the CA),
# every request with Connection: close and no session reuse; curl verifies the chain
# against the CA. time_appconnect - time_connect is the TLS handshake, time_connect the
# TCP one. One process, so that no process start or CA file read is inside the timings.
declare -A H
handshake_probe() {
    local cfg=$TMP/handshake.curl i u
    : >"$cfg"
    for i in $(seq 0 "$N_HANDSHAKES"); do
        for u in "$NGINX_TLS_URL" "$TLS_DISC_URL"; do
            [ -s "$cfg" ] && echo next >>"$cfg"
            printf '%s\n' "url = \"$u\"" "cacert = \"$TLS_CA\"" 'header = "Connection: close"' \
                no-sessionid 'output = "/dev/null"' \
                "write-out = \"$i %{url} %{num_connects} %{http_code} %{time_connect} %{time_appconnect}\\n\"" >>"$cfg"
        done
    done
    log "timing $N_HANDSHAKES fresh TLS connections to each server (curl)"
    WAITING="$N_HANDSHAKES fresh TLS connections to each server" \
        run_child timeout 300 curl -sS --max-time 10 -K "$cfg" >"$TMP/handshake.txt" ||
        die "handshake probe: curl failed"
    local kv
    for kv in $("$PY" - "$TMP/handshake.txt" "$TLS_DISC_URL" "$NGINX_TLS_URL" <<'PYEOF2'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
for name, url in (("agent", sys.argv[2]), ("nginx", sys.argv[3])):
    hs, tcp, bad = [], [], 0
    for i, u, conns, code, tc, ta in rows:
        if u != url or i == "0":
            continue
        if conns != "1" or code != "200" or float(ta) <= float(tc):
            bad += 1
            continue
        hs.append((float(ta) - float(tc)) * 1000)
        tcp.append(float(tc) * 1000)
    def pct(v, p):
        v = sorted(v)
        return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))] if v else 0
    print("%s.n=%d %s.bad=%d %s.p50=%.3f %s.p90=%.3f %s.mean=%.3f %s.tcp_p50=%.3f" % (
        name, len(hs), name, bad, name, pct(hs, 50), name, pct(hs, 90), name,
        statistics.mean(hs) if hs else 0, name, pct(tcp, 50)))
PYEOF2
    ); do H[${kv%%=*}]=${kv#*=}; done
    [ "${H[agent.bad]}" = 0 ] && [ "${H[nginx.bad]}" = 0 ] &&
        [ "${H[agent.n]}" = "$N_HANDSHAKES" ] && [ "${H[nginx.n]}" = "$N_HANDSHAKES" ] ||
        { INVALID+=(handshake); log "handshake probe INVALID: ${H[*]}"; }
    log "TLS handshake p50: agent ${H[agent.p50]} ms, nginx ${H[nginx.p50]} ms"
}
handshake_probe

# ---- refresh: plain and HTTPS alternate ------------------------------------------------
make_chains "$CONNS" "$TMP/chains-c.txt"
make_chains 1 "$TMP/chains-1.txt"
A_URL=$TLS_URL A_TOKEN=$TLS_TOKEN A_CA=$TLS_CA make_chains "$CONNS" "$TMP/chains-tls-c.txt"
A_URL=$TLS_URL A_TOKEN=$TLS_TOKEN A_CA=$TLS_CA make_chains 1 "$TMP/chains-tls-1.txt"
run_wrk refresh_c "$AGENT_PID" "$CONNS" "$CONNS" "http://$ADDR/lok/o/token/" "$BENCH_DIR/refresh.lua" "$TMP/chains-c.txt"
run_wrk tls_refresh_c "$TLS_PID" "$CONNS" "$CONNS" "$TLS_URL/lok/o/token/" "$BENCH_DIR/refresh.lua" "$TMP/chains-tls-c.txt"
run_wrk refresh_1 "$AGENT_PID" 1 1 "http://$ADDR/lok/o/token/" "$BENCH_DIR/refresh.lua" "$TMP/chains-1.txt"
run_wrk tls_refresh_1 "$TLS_PID" 1 1 "$TLS_URL/lok/o/token/" "$BENCH_DIR/refresh.lua" "$TMP/chains-tls-1.txt"

stop_pid "$NGINX_PID"
NGINX_PID=
stop_pid "$TLS_PID"
TLS_PID=
sleep 2
mem loaded

# ---- fresh restart, idle ------------------------------------------------------------
log "restarting the agent on the same data dir"
stop_agent
start_agent
sleep 2
mem restarted
COUNT2=$(admin GET /v1/agent/info | json 'd["services"]')   # after the reading: idle means idle
[ "$COUNT2" = "$N_SVC" ] || die "restarted agent reports $COUNT2 services, expected $N_SVC"
stop_agent

# ---- held watchers: a fresh agent, 0 vs N blocking queries ---------------------------
# Its own empty data dir and no per-address limit (every watcher comes from 127.0.0.1):
# threads and RSS with no watcher and with N held, and the time from one registration
# to the last of N answers, against the same with 1 watcher (bench/watchers.py).
log "holding $N_WATCHERS watchers on a fresh agent"
mkdir -p "$TMP/watch-data"
launch_agent "$TMP/watch-data" "$TMP/watch-agent.log" --http-per-ip 0
WATCH_PID=$LAUNCHED_PID
WATCH_ADDR=$(sed -n 's/.*"http":"\([^"]*\)".*/\1/p' "$TMP/watch-data/agent.json")
run_child "$PY" "$BENCH_DIR/watchers.py" "$WATCH_ADDR" "$(cat "$TMP/watch-data/admin-token")" \
    "$WATCH_PID" "$N_WATCHERS" >"$TMP/watchers.out" || die "watchers: bench/watchers.py failed"
stop_pid "$WATCH_PID"
declare -A W
while IFS='=' read -r k v; do W[$k]=$v; done <"$TMP/watchers.out"
[ "${W[answered]}" = "$N_WATCHERS" ] || die "watchers: ${W[answered]} of $N_WATCHERS answered"

# What one synchronous 4 KiB write costs on the data dir's filesystem right now: the
# floor under every committed write (each refresh and registration fdatasyncs once).
log "probing sync-write latency in the data dir (200 x 4 KiB, O_DSYNC)"
t_a=$(date +%s%N)
run_child timeout 60 dd if=/dev/zero of="$DATA/sync-probe" bs=4k count=200 oflag=dsync status=none ||
    die "dd sync probe failed"
t_b=$(date +%s%N)
rm -f "$DATA/sync-probe"
SYNC_MS=$(awk -v a="$t_a" -v b="$t_b" 'BEGIN{printf "%.3f", (b-a)/1e6/200}')

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$(($(date +%s) - T0))

# ---- report -------------------------------------------------------------------------
ms() { awk -v u="$1" 'BEGIN{printf "%.3f", u/1000}'; }
mib() { awk -v k="$1" 'BEGIN{printf "%.2f", k/1024}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else print "n/a" }'; }
valid() { local n; for n in "${INVALID[@]}"; do [ "$n" = "$1" ] && { echo "**INVALID**"; return; }; done; echo ok; }
row() {   # row NAME LABEL
    local n=$1
    printf '| %s | `%s` | %s | %.0f | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$2" "${R[$n.settings]}" \
        "${R[$n.requests]}" "${R[$n.rps]}" "$(ms "${R[$n.p50_us]}")" "$(ms "${R[$n.p90_us]}")" \
        "$(ms "${R[$n.p99_us]}")" "$(ms "${R[$n.max_us]}")" "${R[$n.cpu_us]}" "${R[$n.wait_us]}" \
        "${R[$n.non200]}" "${R[$n.sockerr]}" "$(valid "$n")"
}
memrow() {
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$2" "$(mib "${M[$1.VmRSS]}")" "$(mib "${M[$1.VmHWM]}")" \
        "$(mib "${M[$1.RssAnon]}")" "$(mib "${M[$1.RssFile]}")" "$(mib "${M[$1.Pss]}")" "${M[$1.Threads]}"
}
verdict() {   # verdict MEASURED TARGET UNIT
    awk -v m="$1" -v t="$2" -v u="$3" 'BEGIN{
        if (m < t) printf "met (%.2f %s under)", t-m, u;
        else printf "**missed** by %.2f %s (%.1fx the target)", m-t, u, m/t }'
}

RSS_IDLE=$(mib "${M[restarted.VmRSS]}")
RSS_LOADED=$(mib "${M[loaded.VmRSS]}")
P99_1=$(ms "${R[refresh_1.p99_us]}")
P99_C=$(ms "${R[refresh_c.p99_us]}")
MEAN_1=$(ms "${R[refresh_1.mean_us]}")
CPU_1=$(ms "${R[refresh_1.cpu_us]}")
WAIT_1=$(ms "${R[refresh_1.wait_us]}")
P99_TLS_1=$(ms "${R[tls_refresh_1.p99_us]}")
# The TLS handshake's server CPU alone: per new HTTPS connection minus per new plain one
# (both include TCP accept and close, and the agent's per-connection thread).
HS_CPU_AGENT=$(awk -v t="${R[tls_close_disc.cpu_us]}" -v p="${R[close_disc.cpu_us]}" 'BEGIN{printf "%.0f", t-p}')
HS_CPU_NGINX=$(awk -v t="${R[tls_close_nginx.cpu_us]}" -v p="${R[close_nginx.cpu_us]}" 'BEGIN{printf "%.0f", t-p}')
TLS_LIB_AGENT=$(ldd "$BIN" 2>/dev/null | grep -o 'libgnutls[^ ]*' | head -n 1)
TLS_LIB_NGINX=$("$NGINX" -V 2>&1 | grep -o 'built with OpenSSL [^ ]*' | head -n 1)
REST_1=$(awk -v m="${R[refresh_1.mean_us]}" -v c="${R[refresh_1.cpu_us]}" -v w="${R[refresh_1.wait_us]}" 'BEGIN{printf "%.3f", (m-c-w)/1000}')
COMMIT=$(git -C "$BENCH_DIR/.." rev-parse --short HEAD 2>/dev/null || echo unknown)

{
    echo "# fakts-node benchmark results"
    echo
    echo "Generated by \`bench/run.sh\` on $START_DATE in ${ELAPSED}s. The machine is shared: compare the"
    echo "same-run ratios, not absolute numbers across runs."
    echo
    echo "| Machine | |"
    echo "|---|---|"
    echo "| nproc | $(nproc) |"
    echo "| CPU | $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1) |"
    echo "| kernel | $(uname -r) |"
    echo "| load average (1/5/15 min) at start / end | $LOAD_START / $LOAD_END |"
    echo "| data dir filesystem | $(df -T "$DATA" 2>/dev/null | awk 'NR==2{print $2}') (fsync cost applies to token writes) |"
    echo "| fakts-node | \`$BIN\` (HEAD $COMMIT; working tree may carry uncommitted edits); sanitizer build: $SANITIZED; --fsync $FSYNC |"
    echo "| wrk | $(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2) |"
    echo "| nginx peer | $NGINX_VERSION, $NGINX_WORKERS workers (the agent serves each connection on its own thread), access log off |"
    echo "| TLS libraries | fakts-node: ${TLS_LIB_AGENT:-?} (libmicrohttpd); nginx: ${TLS_LIB_NGINX:-?}; wrk and curl: OpenSSL |"
    echo
    echo "## HTTP on loopback (wrk)"
    echo
    echo "Latencies in ms. \"non-200\" counts every answer whose status was not 200; a run is valid only"
    echo "when it and the socket errors (connect/read/write/timeout) are 0. \"server CPU\" is the server's"
    echo "on-CPU time per answered request (utime + stime of /proc/PID/stat, which include exited"
    echo "threads; nginx: master and workers), \"CPU-wait\" its time runnable but waiting for a CPU"
    echo "(every thread's /proc/PID/task/TID/schedstat sampled each 20 ms by bench/schedwatch.py, so"
    echo "threads that exit with their connection still count, up to their last 20 ms: a lower bound"
    echo "for Connection: close, whose threads live a few ms). CPU is the noise-resistant figure,"
    echo "CPU-wait shows how contended the machine was."
    echo
    echo "| Benchmark | wrk settings | Requests | Rate (req/s) | p50 | p90 | p99 | max | server CPU µs/req | server CPU-wait µs/req | non-200 | socket errors | valid |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    row disc_c "fakts-node \`GET /.well-known/fakts\` ($DISC_BYTES B)"
    row nginx_c "nginx static file, same size ($NGINX_BYTES B)"
    row disc_1 "fakts-node \`GET /.well-known/fakts\`, 1 connection"
    row nginx_1 "nginx static file, 1 connection"
    row refresh_c "fakts-node refresh exchange, $CONNS chains"
    row refresh_1 "fakts-node refresh exchange, 1 chain"
    echo
    echo "| Same-run ratio | |"
    echo "|---|---|"
    echo "| fakts-node discovery rate / nginx static rate, -c$CONNS | $(ratio "${R[disc_c.rps]}" "${R[nginx_c.rps]}") |"
    echo "| fakts-node discovery rate / nginx static rate, -c1 | $(ratio "${R[disc_1.rps]}" "${R[nginx_1.rps]}") |"
    echo "| fakts-node discovery p99 / nginx p99, -c1 | $(ratio "${R[disc_1.p99_us]}" "${R[nginx_1.p99_us]}") |"
    echo "| fakts-node discovery CPU per request / nginx CPU per request, -c$CONNS | $(ratio "${R[disc_c.cpu_us]}" "${R[nginx_c.cpu_us]}") |"
    echo "| fakts-node discovery CPU per request / nginx CPU per request, -c1 | $(ratio "${R[disc_1.cpu_us]}" "${R[nginx_1.cpu_us]}") |"
    echo "| refresh rate / discovery rate, -c1 | $(ratio "${R[refresh_1.rps]}" "${R[disc_1.rps]}") |"
    echo
    echo "With $(nproc) CPUs shared by wrk, the server and everything else on the machine, a rate ratio near 1"
    echo "can mean the client is the limit; the CPU-per-request ratio compares the servers' own work."
    echo
    echo "Refresh: each wrk thread owns one connection and one rotation chain (a client redeemed"
    echo "up-front with a manifest requiring \`$REQ_NAME\`, which has $N_INST registered instances); every"
    echo "answer's \`refresh_token\` is the next request's. Each exchange is a committed LMDB write"
    echo "(rotate the token), a composition over the $N_INST candidates, and an RS256 signature."
    echo
    echo "## HTTPS on loopback (wrk, curl)"
    echo
    echo "A second agent, started with \`--tls-cert\`/\`--tls-key\`: an EC P-256 certificate made in"
    echo "this run by \`fakts-node tls cert create --node bench --san $BIND_IP\`, signed by a CA from"
    echo "\`fakts-node tls ca create\`; it holds the same $N_SVC services. nginx's HTTPS server (the same"
    echo "nginx, a second \`server\` block) uses the same certificate and key files and serves the HTTPS"
    echo "agent's discovery answer byte for byte ($NGINX_TLS_BYTES B). Negotiated (openssl s_client):"
    echo "fakts-node $TLSP_AGENT_PROTO $TLSP_AGENT_CIPHER $TLSP_AGENT_GROUP, nginx $TLSP_NGINX_PROTO"
    echo "$TLSP_NGINX_CIPHER $TLSP_NGINX_GROUP; sessions resumed on reconnect: fakts-node $TLSP_AGENT_REUSED,"
    echo "nginx $TLSP_NGINX_REUSED (nginx's session cache and tickets are off, since the agent resumes"
    echo "none: every handshake below is a full one). wrk does not verify the certificate; curl does."
    echo "\"Connection: close\" runs make every request a new connection (\`close.lua\`): their rate"
    echo "is new connections per second, each with its handshake, request and answer."
    echo
    echo "| Benchmark | wrk settings | Requests | Rate (req/s) | p50 | p90 | p99 | max | server CPU µs/req | server CPU-wait µs/req | non-200 | socket errors | valid |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    row tls_disc_c "fakts-node HTTPS \`GET /.well-known/fakts\` ($TLS_DISC_BYTES B)"
    row tls_nginx_c "nginx HTTPS static file, same bytes, same certificate"
    row tls_disc_1 "fakts-node HTTPS \`GET /.well-known/fakts\`, 1 connection"
    row tls_nginx_1 "nginx HTTPS static file, 1 connection"
    row tls_refresh_c "fakts-node HTTPS refresh exchange, $CONNS chains"
    row tls_refresh_1 "fakts-node HTTPS refresh exchange, 1 chain"
    row close_disc "fakts-node HTTP discovery, Connection: close"
    row close_nginx "nginx HTTP static file, Connection: close"
    row tls_close_disc "fakts-node HTTPS discovery, Connection: close (a TLS handshake each)"
    row tls_close_nginx "nginx HTTPS static file, Connection: close (a TLS handshake each)"
    echo
    echo "| Same-run ratio (HTTPS) | |"
    echo "|---|---|"
    echo "| fakts-node HTTPS discovery rate / nginx HTTPS static rate, -c$CONNS | $(ratio "${R[tls_disc_c.rps]}" "${R[tls_nginx_c.rps]}") |"
    echo "| fakts-node HTTPS discovery rate / nginx HTTPS static rate, -c1 | $(ratio "${R[tls_disc_1.rps]}" "${R[tls_nginx_1.rps]}") |"
    echo "| fakts-node HTTPS discovery CPU per request / nginx HTTPS CPU per request, -c$CONNS | $(ratio "${R[tls_disc_c.cpu_us]}" "${R[tls_nginx_c.cpu_us]}") |"
    echo "| fakts-node HTTPS discovery p99 / nginx HTTPS p99, -c1 | $(ratio "${R[tls_disc_1.p99_us]}" "${R[tls_nginx_1.p99_us]}") |"
    echo "| HTTPS / HTTP discovery rate, fakts-node, -c$CONNS (nginx: $(ratio "${R[tls_nginx_c.rps]}" "${R[nginx_c.rps]}")) | $(ratio "${R[tls_disc_c.rps]}" "${R[disc_c.rps]}") |"
    echo "| HTTPS / HTTP refresh rate (the TLS price on the token endpoint), $CONNS chains | $(ratio "${R[tls_refresh_c.rps]}" "${R[refresh_c.rps]}") |"
    echo "| HTTPS / HTTP refresh rate, 1 chain | $(ratio "${R[tls_refresh_1.rps]}" "${R[refresh_1.rps]}") |"
    echo "| HTTPS / HTTP refresh CPU per request, 1 chain | $(ratio "${R[tls_refresh_1.cpu_us]}" "${R[refresh_1.cpu_us]}") |"
    echo "| HTTPS / HTTP refresh p99, 1 chain | $(ratio "${R[tls_refresh_1.p99_us]}" "${R[refresh_1.p99_us]}") |"
    echo "| fakts-node HTTPS refresh rate / nginx HTTPS static rate, -c$CONNS | $(ratio "${R[tls_refresh_c.rps]}" "${R[tls_nginx_c.rps]}") |"
    echo "| fakts-node HTTPS refresh rate / nginx HTTPS static rate, -c1 | $(ratio "${R[tls_refresh_1.rps]}" "${R[tls_nginx_1.rps]}") |"
    echo "| new HTTPS connections/s, fakts-node / nginx | $(ratio "${R[tls_close_disc.rps]}" "${R[tls_close_nginx.rps]}") |"
    echo "| new HTTP connections/s, fakts-node / nginx | $(ratio "${R[close_disc.rps]}" "${R[close_nginx.rps]}") |"
    echo "| server CPU per new HTTPS connection, fakts-node / nginx | $(ratio "${R[tls_close_disc.cpu_us]}" "${R[tls_close_nginx.cpu_us]}") |"
    echo "| server CPU of the TLS handshake alone (HTTPS minus HTTP per new connection): fakts-node ${HS_CPU_AGENT} µs, nginx ${HS_CPU_NGINX} µs | $(ratio "$HS_CPU_AGENT" "$HS_CPU_NGINX") |"
    echo "| TLS handshake time seen by curl, p50, fakts-node / nginx | $(ratio "${H[agent.p50]}" "${H[nginx.p50]}") |"
    echo "| TLS handshake time seen by curl, p90, fakts-node / nginx | $(ratio "${H[agent.p90]}" "${H[nginx.p90]}") |"
    echo
    echo "Handshake time as a client sees it: one curl process, $N_HANDSHAKES fresh connections to each"
    echo "server, alternating (after one warm-up each), Connection: close, no session reuse, the chain"
    echo "verified against the CA; TLS = \`time_appconnect - time_connect\`, in ms. The client's own"
    echo "work (key share, verifying the chain's two ECDSA signatures) is in both."
    echo
    echo "| Server | fresh connections | TLS handshake p50 | p90 | mean | TCP connect p50 | valid |"
    echo "|---|---|---|---|---|---|---|"
    echo "| fakts-node | ${H[agent.n]} | ${H[agent.p50]} | ${H[agent.p90]} | ${H[agent.mean]} | ${H[agent.tcp_p50]} | $(valid handshake) |"
    echo "| nginx | ${H[nginx.n]} | ${H[nginx.p50]} | ${H[nginx.p90]} | ${H[nginx.mean]} | ${H[nginx.tcp_p50]} | $(valid handshake) |"
    echo
    echo "## Registration"
    echo
    echo "| What | Count | Time (s) | Rate (registrations/s) | agent CPU µs/registration | agent CPU-wait µs/registration |"
    echo "|---|---|---|---|---|---|"
    echo "| \`PUT /v1/services\`, sequential, one keep-alive connection (curl) | $N_SVC ($N_NAMES names x $N_INST) | $REG_S | $REG_RATE | $REG_CPU | $REG_WAIT |"
    echo
    echo "## Resident memory of the agent (MiB, /proc/PID/status)"
    echo
    echo "| State | VmRSS | VmHWM | RssAnon | RssFile | Pss | Threads |"
    echo "|---|---|---|---|---|---|---|"
    memrow empty "idle, empty store, 1 s after start"
    memrow registered "idle, $N_SVC services, 2 s after registration"
    memrow loaded "idle, $N_SVC services, 2 s after all the wrk runs"
    memrow restarted "idle, $N_SVC services, fresh restart, 2 s after start, nothing requested"
    echo
    echo "## Held watchers (blocking queries, one fresh agent, empty store)"
    echo
    echo "| Watchers held | Threads | VmRSS (MiB) | A registration reaches all (ms) |"
    echo "|---|---|---|---|"
    echo "| 0 | ${W[threads_idle]} | $(mib "${W[rss_idle_kb]}") | - |"
    echo "| 1 | - | - | ${W[wake_one_ms]} |"
    echo "| $N_WATCHERS | ${W[threads_held]} | $(mib "${W[rss_held_kb]}") | ${W[wake_all_ms]} (x$(ratio "${W[wake_all_ms]}" "${W[wake_one_ms]}") of 1) |"
    echo
    echo "## Targets"
    echo
    echo "| Target | Measured | Verdict |"
    echo "|---|---|---|"
    echo "| idle RSS < 8 MiB with $N_SVC services (fresh restart) | $RSS_IDLE MiB | $(verdict "$RSS_IDLE" 8 MiB) |"
    echo "| idle RSS < 8 MiB with $N_SVC services (after the load) | $RSS_LOADED MiB | $(verdict "$RSS_LOADED" 8 MiB) |"
    echo "| refresh exchange p99 < 1 ms (1 connection) | $P99_1 ms | $(verdict "$P99_1" 1 ms) |"
    echo "| refresh exchange p99 < 1 ms ($CONNS connections) | $P99_C ms | $(verdict "$P99_C" 1 ms) |"
    echo "| refresh exchange over HTTPS p99 < 1 ms (1 connection) | $P99_TLS_1 ms | $(verdict "$P99_TLS_1" 1 ms) |"
    echo
    echo "Where a refresh's time goes (1 connection, means per request): latency ${MEAN_1} ms = agent"
    echo "on-CPU ${CPU_1} ms + agent waiting for a CPU ${WAIT_1} ms + the rest ${REST_1} ms (blocked: the"
    echo "commit's fdatasync, loopback, the client). A synchronous 4 KiB write on the data dir's"
    echo "filesystem took ${SYNC_MS} ms during this run (\`dd oflag=dsync\`); registration is the same"
    echo "kind of committed write."
    if [ ${#INVALID[@]} -gt 0 ]; then
        echo
        echo "**Invalid measurements:** ${INVALID[*]} (non-200 answers or socket errors; see the raw output)."
    fi
    echo
    echo "<details><summary>Raw wrk output</summary>"
    echo
    for n in disc_c nginx_c disc_1 nginx_1 tls_disc_c tls_nginx_c tls_disc_1 tls_nginx_1 \
        close_disc close_nginx tls_close_disc tls_close_nginx refresh_c tls_refresh_c refresh_1 tls_refresh_1; do
        echo "### $n"
        echo
        echo '```'
        cat "$TMP/wrk-$n.txt"
        echo '```'
        echo
    done
    echo "</details>"
} >"$TMP/results.md"

cp "$TMP/results.md" "$OUT"
cat "$TMP/results.md"

# ---- rates for bench/plot.sh -----------------------------------------------------------
# One row per client setting: requests/s and server CPU µs per request of fakts-node's
# discovery and refresh and of nginx's static file ("-": not measured). Small, committed
# with the plots drawn from it (bench/plots/data).
mkdir -p "$PLOT_DATA"
{
    echo "# bench/run.sh, $START_DATE, HEAD $COMMIT, wrk $DURATION per run; rate in requests/s, cpu in server µs per request"
    printf 'setting\tdiscovery_rate\trefresh_rate\tnginx_rate\tdiscovery_cpu\trefresh_cpu\tnginx_cpu\n'
    http_row() {   # http_row LABEL DISCOVERY REFRESH NGINX: the runs' names ("" for none)
        local label=$1 x out=()
        shift
        for x in "$@"; do out+=("${x:+${R[$x.rps]}}"); done
        for x in "$@"; do out+=("${x:+${R[$x.cpu_us]}}"); done
        for x in "${!out[@]}"; do out[$x]=${out[$x]:--}; done
        printf '%s' "$label"
        printf '\t%s' "${out[@]}"
        printf '\n'
    }
    http_row "HTTP x$CONNS" disc_c refresh_c nginx_c
    http_row "HTTP x1" disc_1 refresh_1 nginx_1
    http_row "HTTPS x$CONNS" tls_disc_c tls_refresh_c tls_nginx_c
    http_row "HTTPS x1" tls_disc_1 tls_refresh_1 tls_nginx_1
    http_row "HTTP new conn." close_disc "" close_nginx
    http_row "HTTPS new conn." tls_close_disc "" tls_close_nginx
} >"$PLOT_DATA/http.tsv"
log "wrote the rates to $PLOT_DATA/http.tsv"
log "wrote $OUT (${ELAPSED}s)"
if [ ${#INVALID[@]} -gt 0 ]; then
    log "invalid measurements: ${INVALID[*]}"
    exit 1
fi
