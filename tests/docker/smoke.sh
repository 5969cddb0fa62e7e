#!/usr/bin/env bash
# Smoke test of the container image and docker/compose.yaml, end to end:
#
#   1. base images    docker/base-image.sh (skipped when fakts-base/fakts-build exist)
#   2. docker build   compose build (the image fakts-node:local from this checkout)
#   3. up             compose up -d --build, then wait (deadline) for /.well-known/fakts to
#                     answer 200 on the published port and for the health check to pass
#   4. test           protocol_version "2"; non-root; `services register` and `services list`
#                     through compose exec; restart the container, the service is still listed;
#                     re-create the container, the service is still listed (the named volume)
#   5. down           compose down -v, always (trap), also on failure or Ctrl-C
#
# Usage: tests/docker/smoke.sh            (from anywhere; needs docker, compose, curl)
# Environment: SMOKE_TIMEOUT  seconds each wait may take (default 120)
#              SMOKE_PROJECT  compose project name (default fakts-smoke)
#              SMOKE_KEEP=1   leave the project running (no down -v) for a post-mortem
# Exit status: 0 when every check passed; 1 with a "FAIL:" line naming the check otherwise.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
COMPOSE_FILE=$ROOT/docker/compose.yaml
PROJECT=${SMOKE_PROJECT:-fakts-smoke}
TIMEOUT=${SMOKE_TIMEOUT:-120}
SERVICE=fakts-node
SVC_ID=smoke-rekuest-1

# The project's settings, whatever the caller's shell or a docker/.env says: a free host port
# (FAKTS_PORT set but empty), a fixed node name and a fast health check.
export FAKTS_PORT= FAKTS_NODE=smoke-node FAKTS_HEALTH_INTERVAL=2s FAKTS_PUBLIC_URL=
export FAKTS_LOG_LEVEL=info

T_START=$(date +%s.%N)
PHASES=()
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
say() { printf '[smoke %6ss] %s\n' "$(elapsed "$T_START")" "$*"; }
fail() { printf '[smoke %6ss] FAIL: %s\n' "$(elapsed "$T_START")" "$*" >&2; exit 1; }
PHASE_NAME=
phase() {   # phase NAME: close the running phase (if any) and start NAME
    if [ -n "$PHASE_NAME" ]; then
        PHASES+=("$(printf '%-14s %6ss' "$PHASE_NAME" "$(elapsed "$PHASE_T0")")")
    fi
    PHASE_NAME=$1
    PHASE_T0=$(now)
    [ -z "$1" ] || say "== $1"
}

command -v docker >/dev/null || fail "docker is not installed"
command -v curl >/dev/null || fail "curl is not installed"
docker info >/dev/null 2>&1 || fail "cannot talk to the Docker engine (docker info failed)"
if docker compose version >/dev/null 2>&1; then
    COMPOSE=(docker compose)
elif command -v docker-compose >/dev/null; then
    COMPOSE=(docker-compose)
else
    fail "neither 'docker compose' nor 'docker-compose' is available"
fi
compose() { "${COMPOSE[@]}" -f "$COMPOSE_FILE" -p "$PROJECT" "$@"; }
say "using ${COMPOSE[*]} ($("${COMPOSE[@]}" version --short 2>/dev/null || echo '?')), project $PROJECT"

RESULT=1
TMP=$(mktemp -d)
finish() {
    local rc=$?
    trap - EXIT INT TERM
    if [ "$RESULT" != 0 ] && [ "$rc" = 0 ]; then rc=1; fi
    if [ "$rc" != 0 ] && [ -n "$(compose ps -q 2>/dev/null)" ]; then
        echo "---- container logs (last 40 lines) ----" >&2
        compose logs --no-color --tail 40 >&2 2>&1 || true
        echo "----------------------------------------" >&2
    fi
    if [ "${SMOKE_KEEP:-0}" = 1 ]; then
        say "SMOKE_KEEP=1: leaving project $PROJECT up (remove: ${COMPOSE[*]} -f $COMPOSE_FILE -p $PROJECT down -v)"
    else
        phase down
        compose down -v --remove-orphans >/dev/null 2>&1 \
            || echo "smoke: WARNING: '${COMPOSE[*]} -p $PROJECT down -v' failed" >&2
    fi
    phase ""
    echo "---- timings ----"
    printf '  %s\n' "${PHASES[@]}"
    printf '  %-14s %6ss\n' total "$(elapsed "$T_START")"
    if [ "$rc" = 0 ]; then echo "smoke: PASS"; else echo "smoke: FAILED (exit $rc)" >&2; fi
    rm -rf "$TMP"
    exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

# A clean slate: a project left over by an interrupted run (and its volume) would hide a bug.
compose down -v --remove-orphans >/dev/null 2>&1 || true

# ---------------------------------------------------------------------------------------------
phase "base images"
"$ROOT/docker/base-image.sh"

# run_logged LOG CMD...: run CMD with its output in $TMP/LOG; on failure show the end of it.
run_logged() {
    local log=$TMP/$1; shift
    if ! "$@" > "$log" 2>&1; then
        sed 's/^/    | /' "$log" | tail -n 40 >&2
        return 1
    fi
}

phase "docker build"
run_logged build.log compose build "$SERVICE" \
    || fail "compose build failed (output above; run: ${COMPOSE[*]} -f docker/compose.yaml build)"
steps=$(grep -c '^Step ' "$TMP/build.log" || true)
cached=$(grep -c 'Using cache' "$TMP/build.log" || true)
size=$(docker image inspect -f '{{.Size}}' fakts-node:local | awk '{ printf "%.0f MB", $1 / 1e6 }')
if [ "${steps:-0}" -gt 0 ]; then
    say "built fakts-node:local ($size): $steps steps, ${cached:-0} from cache"
else
    say "built fakts-node:local ($size)"
fi

phase "up"
run_logged up.log compose up -d --build "$SERVICE" || fail "compose up -d --build failed (output above)"
steps=$(grep -c '^Step ' "$TMP/up.log" || true)
cached=$(grep -c 'Using cache' "$TMP/up.log" || true)
# Normally all cached; not when the sources changed since the build phase.
[ "${steps:-0}" = 0 ] || say "up --build: $steps steps, ${cached:-0} from cache"

container_id() { compose ps -q "$SERVICE"; }

# wait_ready LABEL: poll, until TIMEOUT, for the container to run, /.well-known/fakts to answer
# 200 on the published port, and the health check to report healthy. Sets PORT and WELL_KNOWN.
wait_ready() {
    local label=$1 deadline=$(( $(date +%s) + TIMEOUT )) cid state health code t0
    t0=$(now)
    PORT= WELL_KNOWN=
    while :; do
        [ "$(date +%s)" -lt "$deadline" ] \
            || fail "$label: not ready within ${TIMEOUT}s (state=${state:-?} health=${health:-?} http=${code:-none} port=${PORT:-none})"
        cid=$(container_id 2>/dev/null || true)
        if [ -n "$cid" ]; then
            state=$(docker inspect -f '{{.State.Status}}' "$cid" 2>/dev/null || echo gone)
            case $state in exited|dead) fail "$label: the container is $state (exit code $(docker inspect -f '{{.State.ExitCode}}' "$cid"))";; esac
            health=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$cid" 2>/dev/null || true)
            [ "$health" != unhealthy ] || fail "$label: the health check reports unhealthy"
            if [ -z "$PORT" ]; then
                PORT=$(compose port "$SERVICE" 8520 2>/dev/null | awk -F: 'NF > 1 && $NF > 0 { print $NF }' || true)
            fi
            if [ -n "$PORT" ] && [ "${code:-}" != 200 ]; then
                code=$(curl -s -o "$TMP/well-known.json" -w '%{http_code}' --max-time 2 \
                       "http://127.0.0.1:$PORT/.well-known/fakts" || true)
            fi
            if [ "${code:-}" = 200 ] && [ "$health" = healthy ]; then
                break
            fi
        fi
        sleep 0.25   # the poll interval; the deadline above bounds the wait
    done
    WELL_KNOWN=$(cat "$TMP/well-known.json")
    say "$label: ready in $(elapsed "$t0")s (container ${cid:0:12}, 127.0.0.1:$PORT, healthy)"
}

wait_ready "up"

# ---------------------------------------------------------------------------------------------
phase "test"

# The discovery document.
if command -v jq >/dev/null; then
    pv=$(jq -r '.protocol_version // empty' <<< "$WELL_KNOWN" 2>/dev/null) \
        || fail "/.well-known/fakts is not JSON: $WELL_KNOWN"
    [ "$pv" = 2 ] || fail "/.well-known/fakts: protocol_version is '${pv}', expected \"2\": $WELL_KNOWN"
else
    grep -Eq '"protocol_version"[[:space:]]*:[[:space:]]*"2"' <<< "$WELL_KNOWN" \
        || fail "/.well-known/fakts has no \"protocol_version\": \"2\": $WELL_KNOWN"
fi
say "ok: GET http://127.0.0.1:$PORT/.well-known/fakts -> 200, protocol_version \"2\""

# Runs as the unprivileged user, not root.
uid=$(compose exec -T "$SERVICE" id -u | tr -d '\r') || fail "compose exec id -u failed"
[ "$uid" != 0 ] || fail "the agent's container runs as root"
say "ok: the container runs as uid $uid"

# Register a service through the CLI in the container (address and token from the data dir).
out=$(compose exec -T "$SERVICE" fakts-node services register - 2>&1 <<EOF
id: $SVC_ID
service: live.arkitekt.rekuest
aliases:
  - host: 10.0.0.5
    port: 8090
    path: rekuest
    ssl: false
    challenge: ht
tags: [smoke]
EOF
) || fail "fakts-node services register failed: $out"
[[ $out == "registered $SVC_ID"* ]] || fail "unexpected answer to services register: $out"
say "ok: $out"

# check_listed WHEN: the service is in `services list --json`, owned by this node.
check_listed() {
    local out
    out=$(compose exec -T "$SERVICE" fakts-node services list --json 2>&1) \
        || fail "$1: fakts-node services list failed: $out"
    if command -v jq >/dev/null; then
        jq -e --arg id "$SVC_ID" --arg node "$FAKTS_NODE" \
            'any(.[]; .id == $id and .node == $node and .service == "live.arkitekt.rekuest")' \
            <<< "$out" >/dev/null || fail "$1: $SVC_ID (node $FAKTS_NODE) is not listed: $out"
    else
        grep -q "\"$SVC_ID\"" <<< "$out" || fail "$1: $SVC_ID is not listed: $out"
    fi
    say "ok: $1: $SVC_ID is listed"
}
check_listed "after register"
token=$(compose exec -T "$SERVICE" cat /var/lib/fakts/admin-token | tr -d '\r')
[ -n "$token" ] || fail "no admin token in /var/lib/fakts/admin-token"

# Restart: the same container, a new agent process.
cid_before=$(container_id)
t=$(now)
compose restart "$SERVICE" >/dev/null 2>&1 || fail "compose restart failed"
say "restarted in $(elapsed "$t")s"
wait_ready "after restart"
check_listed "after restart"

# Re-create: a new container on the same named volume; the store and the token must survive.
t=$(now)
compose up -d --no-build --force-recreate "$SERVICE" >/dev/null 2>&1 \
    || fail "compose up -d --force-recreate failed"
say "re-created in $(elapsed "$t")s"
wait_ready "after re-create"
cid_after=$(container_id)
[ "$cid_after" != "$cid_before" ] || fail "the container was not re-created"
check_listed "after re-create (new container ${cid_after:0:12}, same volume)"
token_after=$(compose exec -T "$SERVICE" cat /var/lib/fakts/admin-token | tr -d '\r')
[ "$token_after" = "$token" ] || fail "the admin token changed across the re-create"
say "ok: the admin token survived the re-create"

RESULT=0
