#!/usr/bin/env bash
# Smoke test of the container image and the three-node cluster of docker/compose.yaml, end to end:
#
#   1. base images   docker/base-image.sh (skipped when fakts-base/fakts-build exist)
#   2. docker build  compose build (the image fakts-node:local from this checkout; the compiler
#                    warnings are counted, the build does not fail on them)
#   3. up            compose up -d --build, then wait (deadline) until each node answers
#                    /.well-known/fakts with 200 on its published port and is healthy
#   4. cluster       every node's `members --json` shows node-1..3 alive; the gossip is secure:
#                    every node says gossip_security "curve", and each node's key as the
#                    others list it is the key it reports itself (admitted through the
#                    cluster secret the compose file's `secret` service made)
#   5. replicate     protocol_version "2", non-root; a service registered on node-1 (compose exec)
#                    is listed by node-3 and node-2, one registered on node-2 by node-1 and node-3;
#                    X-Fakts-View (GET /v1/agent/info on the published ports) equal on all three
#   6. kill node-2   compose kill -s KILL node-2: node-1 and node-3 show it failed (or left) and
#                    no longer list its service (`services list --all` still does); their views
#                    are equal
#   7. rejoin        compose start node-2: alive again everywhere, its service listed again, the
#                    same admin token (its volume), the three views equal
#   8. re-create     compose up --force-recreate node-1: a new container (new IP) on the same
#                    volume rejoins, keeps its admin token, still lists both services
#   9. down          compose down -v, always (trap), also on failure or Ctrl-C
#
# Every wait polls against a deadline; the members and services checks run the CLI in the
# containers (`docker exec`, which is much faster than `compose exec` with docker-compose 1.29).
#
# Usage: tests/docker/smoke.sh            (from anywhere; needs docker, compose, curl, jq)
# Environment: SMOKE_TIMEOUT  seconds each wait may take (default 120)
#              SMOKE_PROJECT  compose project name (default fakts-smoke)
#              SMOKE_KEEP=1   leave the project running (no down -v) for a post-mortem
# Exit status: 0 when every check passed; 77 (skipped) when docker or compose is missing or the
# Docker engine cannot be reached; 1 with a "FAIL:" line naming the check otherwise.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
COMPOSE_FILE=$ROOT/docker/compose.yaml
PROJECT=${SMOKE_PROJECT:-fakts-smoke}
TIMEOUT=${SMOKE_TIMEOUT:-120}
NODES=(node-1 node-2 node-3)
SVC1=smoke-rekuest-1   # registered on node-1
SVC2=smoke-rekuest-2   # registered on node-2

# The project's settings, whatever the caller's shell or a docker/.env says: free host ports
# (FAKTS_PORT_n set but empty), a fast health check, the agent's defaults otherwise.
export FAKTS_PORT_1= FAKTS_PORT_2= FAKTS_PORT_3= FAKTS_HEALTH_INTERVAL=2s
export FAKTS_PUBLIC_URL= FAKTS_DEPLOYMENT_NAME= FAKTS_RATE_AUTHORIZE= FAKTS_RATE_TOKEN=
export FAKTS_LOG_LEVEL=info

T_START=$(date +%s.%N)
PHASES=()
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
say() { printf '[smoke %6ss] %s\n' "$(elapsed "$T_START")" "$*"; }
fail() { printf '[smoke %6ss] FAIL: %s\n' "$(elapsed "$T_START")" "$*" >&2; exit 1; }
skip() { printf '[smoke] SKIP: %s\n' "$*" >&2; exit 77; }
PHASE_NAME=
phase() {   # phase NAME: close the running phase (if any) and start NAME
    if [ -n "$PHASE_NAME" ]; then
        PHASES+=("$(printf '%-14s %6ss' "$PHASE_NAME" "$(elapsed "$PHASE_T0")")")
    fi
    PHASE_NAME=$1
    PHASE_T0=$(now)
    [ -z "$1" ] || say "== $1"
}

# No Docker here (a CI runner without it): skipped, not failed.
command -v docker >/dev/null || skip "docker is not installed"
docker info >/dev/null 2>&1 || skip "cannot talk to the Docker engine (docker info failed)"
if docker compose version >/dev/null 2>&1; then
    COMPOSE=(docker compose)
elif command -v docker-compose >/dev/null && docker-compose version >/dev/null 2>&1; then
    COMPOSE=(docker-compose)
else
    skip "neither 'docker compose' nor 'docker-compose' is available"
fi
command -v curl >/dev/null || fail "curl is not installed"
command -v jq >/dev/null || fail "jq is not installed (the cluster checks read JSON)"
compose() { "${COMPOSE[@]}" -f "$COMPOSE_FILE" -p "$PROJECT" "$@"; }
say "using ${COMPOSE[*]} ($("${COMPOSE[@]}" version --short 2>/dev/null || echo '?')), project $PROJECT"

RESULT=1
TMP=$(mktemp -d)
finish() {
    local rc=$?
    trap - EXIT INT TERM
    if [ "$RESULT" != 0 ] && [ "$rc" = 0 ]; then rc=1; fi
    if [ "$rc" != 0 ] && [ -n "$(compose ps -q 2>/dev/null)" ]; then
        echo "---- container logs (last 40 lines per node) ----" >&2
        compose logs --no-color --tail 40 >&2 2>&1 || true
        echo "-------------------------------------------------" >&2
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

# A clean slate: a project left over by an interrupted run (and its volumes) would hide a bug.
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

# build_summary LOG: steps, cache hits and compiler warnings of a (legacy builder) build log.
build_summary() {
    local steps cached warnings
    steps=$(grep -c '^Step ' "$TMP/$1" || true)
    cached=$(grep -c 'Using cache' "$TMP/$1" || true)
    warnings=$(grep -c 'warning: ' "$TMP/$1" || true)
    [ "${steps:-0}" -gt 0 ] || return 0
    printf '%s steps, %s from cache' "$steps" "${cached:-0}"
    if [ "${warnings:-0}" -gt 0 ]; then
        printf ', %s compiler warnings:\n' "$warnings"
        grep 'warning: ' "$TMP/$1" | sed 's/\x1b\[[0-9;]*m//g; s/^/    /' | sort -u
    fi
}

phase "docker build"
# Only node-1 has a build section; node-2 and node-3 run the image it builds.
run_logged build.log compose build \
    || fail "compose build failed (output above; run: ${COMPOSE[*]} -f docker/compose.yaml build)"
size=$(docker image inspect -f '{{.Size}}' fakts-node:local | awk '{ printf "%.0f MB", $1 / 1e6 }')
say "built fakts-node:local ($size): $(build_summary build.log)"

phase "up"
run_logged up.log compose up -d --build || fail "compose up -d --build failed (output above)"
# Normally all cached; not when the sources changed since the build phase.
summary=$(build_summary up.log)
[ -z "$summary" ] || say "up --build: $summary"

declare -A CID PORT TOKEN
# Container ids and ports straight from the engine, by the labels Compose v1 and v2 both set: a
# docker-compose 1.29 command costs 1-3 s of Python start-up, too slow for a poll loop. The
# project label is the name normalised as Compose does (lower case, [-_a-z0-9] only).
PROJECT_LABEL=$(tr '[:upper:]' '[:lower:]' <<< "$PROJECT" | tr -cd -- '-_a-z0-9')
container_id() {   # container_id NODE: its container, when there is exactly one
    local ids
    ids=$(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT_LABEL" \
                        --filter "label=com.docker.compose.service=$1" \
                        --filter "label=com.docker.compose.oneoff=False")
    [ "$(wc -w <<< "$ids")" = 1 ] && echo "$ids"   # two while Compose re-creates it
}
host_port() {      # host_port CID: the 127.0.0.1 port published for 8520
    docker port "$1" 8520/tcp 2>/dev/null | awk -F: 'NF > 1 && $NF > 0 { print $NF; exit }'
}

# wait_ready LABEL NODE...: poll, until TIMEOUT, for each NODE's container to run,
# /.well-known/fakts to answer 200 on its published port, and the health check to pass.
# Sets CID[NODE] and PORT[NODE] (a restarted container may get a new host port).
wait_ready() {
    local label=$1; shift
    local deadline=$(( $(date +%s) + TIMEOUT )) t0 node cid state health code pending
    local -A ok=() st=()
    t0=$(now)
    for node in "$@"; do PORT[$node]=; done
    while :; do
        pending=
        for node in "$@"; do
            [ -z "${ok[$node]:-}" ] || continue
            pending+=" $node"
            cid=$(container_id "$node" 2>/dev/null || true)
            [ -n "$cid" ] || { st[$node]="no container"; continue; }
            CID[$node]=$cid
            state=$(docker inspect -f '{{.State.Status}}' "$cid" 2>/dev/null || echo gone)
            case $state in exited|dead)
                fail "$label: $node's container is $state (exit code $(docker inspect -f '{{.State.ExitCode}}' "$cid"))";;
            esac
            health=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$cid" 2>/dev/null || true)
            [ "$health" != unhealthy ] || fail "$label: $node's health check reports unhealthy"
            if [ -z "${PORT[$node]}" ]; then
                PORT[$node]=$(host_port "$cid" || true)
            fi
            code=none
            if [ -n "${PORT[$node]}" ]; then
                code=$(curl -s -o "$TMP/well-known-$node.json" -w '%{http_code}' --max-time 2 \
                       "http://127.0.0.1:${PORT[$node]}/.well-known/fakts" || true)
            fi
            st[$node]="state=$state health=$health http=$code port=${PORT[$node]:-none}"
            [ "$code" = 200 ] && [ "$health" = healthy ] && ok[$node]=1
        done
        [ -n "$pending" ] || break
        if [ "$(date +%s)" -ge "$deadline" ]; then
            local why=
            for node in $pending; do why+=" [$node: ${st[$node]}]"; done
            fail "$label: not ready within ${TIMEOUT}s:$why"
        fi
        sleep 0.25   # the poll interval; the deadline above bounds the wait
    done
    local ports=
    for node in "$@"; do ports+=" $node=127.0.0.1:${PORT[$node]}"; done
    say "$label: ready and healthy in $(elapsed "$t0")s:$ports"
}

# wait_for LABEL PREDICATE ARGS...: call PREDICATE until it succeeds, at most TIMEOUT s.
# A predicate leaves what it saw in LAST, which the failure message shows.
LAST=
wait_for() {
    local label=$1; shift
    local t0 deadline=$(( $(date +%s) + TIMEOUT ))
    t0=$(now)
    LAST=
    until "$@"; do
        [ "$(date +%s)" -lt "$deadline" ] || fail "$label: not within ${TIMEOUT}s (last seen: $LAST)"
        sleep 0.25
    done
    say "ok: $label (${LAST:+$LAST, }$(elapsed "$t0")s)"
}

# members_are NODE NAME=STATUS[|STATUS]...: NODE's `members --json` shows each NAME in one of
# the STATUSes.
members_are() {
    local node=$1 out item name want have seen; shift
    out=$(docker exec "${CID[$node]}" fakts-node members --json 2>&1) \
        || { LAST="$node: members failed: $out"; return 1; }
    seen=$(jq -r '[.[] | "\(.name)=\(.status)"] | join(" ")' <<< "$out" 2>/dev/null) \
        || { LAST="$node: members is not JSON: $out"; return 1; }
    LAST="$node sees $seen"
    for item in "$@"; do
        name=${item%%=*} want=${item#*=}
        have=$(jq -r --arg n "$name" '.[] | select(.name == $n) | .status' <<< "$out")
        [[ "|$want|" == *"|$have|"* ]] && [ -n "$have" ] || return 1
    done
}
# all_members_are "NODE..." NAME=STATUS...: members_are on each of the NODEs.
all_members_are() {
    local nodes=$1 node seen=; shift
    for node in $nodes; do
        members_are "$node" "$@" || return 1
        seen+="${seen:+; }$LAST"
    done
    LAST=$seen
}

# listed NODE ID OWNER yes|no [--all]: whether NODE's `services list --json` has ID owned by OWNER.
listed() {
    local node=$1 id=$2 owner=$3 want=$4 out has; shift 4
    out=$(docker exec "${CID[$node]}" fakts-node services list --json "$@" 2>&1) \
        || { LAST="$node: services list failed: $out"; return 1; }
    has=$(jq -r --arg id "$id" --arg node "$owner" \
          'if any(.[]; .id == $id and .node == $node) then "yes" else "no" end' <<< "$out" 2>/dev/null) \
        || { LAST="$node: services list is not JSON: $out"; return 1; }
    LAST="$node lists: $(jq -r '[.[] | "\(.id)@\(.node)\(if .node_status then "(" + .node_status + ")" else "" end)"] | join(" ")' <<< "$out")"
    [ "$has" = "$want" ]
}
# all_listed "NODE..." ID OWNER yes|no: listed on each of the NODEs.
all_listed() {
    local nodes=$1 node seen=; shift
    for node in $nodes; do
        listed "$node" "$@" || return 1
        seen+="${seen:+; }$LAST"
    done
    LAST=$seen
}

# view NODE: the X-Fakts-View header of GET /v1/agent/info on NODE's published port.
view() {
    curl -s -o /dev/null -D - --max-time 2 -H "Authorization: Bearer ${TOKEN[$1]}" \
         "http://127.0.0.1:${PORT[$1]}/v1/agent/info" \
        | tr -d '\r' | awk -F': ' 'tolower($1) == "x-fakts-view" { print $2 }'
}
# views_equal NODE...: every NODE answers with the same, non-empty X-Fakts-View.
views_equal() {
    local node v first= same=1
    LAST=
    for node in "$@"; do
        v=$(view "$node" || true)
        LAST+="${LAST:+ }$node=${v:0:12}"
        [ -n "$v" ] || same=0
        [ -n "$first" ] || first=$v
        [ "$v" = "$first" ] || same=0
    done
    [ "$same" = 1 ] && LAST="X-Fakts-View ${first:0:16}… on $*"
    [ "$same" = 1 ]
}

read_token() { docker exec "${CID[$1]}" cat /var/lib/fakts/admin-token | tr -d '\r\n'; }

register() {   # register NODE ID HOST: `services register` through compose exec on NODE
    local out
    out=$(compose exec -T "$1" fakts-node services register - 2>&1 <<EOF
id: $2
service: live.arkitekt.rekuest
aliases:
  - host: $3
    port: 8090
    path: rekuest
    ssl: false
    challenge: ht
tags: [smoke]
EOF
) || fail "$1: fakts-node services register failed: $out"
    [[ $out == "registered $2"* ]] || fail "$1: unexpected answer to services register: $out"
    say "ok: on $1: $out"
}

wait_ready "up" "${NODES[@]}"

# ---------------------------------------------------------------------------------------------
phase "cluster"
all_up="node-1=alive node-2=alive node-3=alive"
for node in "${NODES[@]}"; do
    # shellcheck disable=SC2086
    wait_for "$node: members shows node-1..3 alive" members_are "$node" $all_up
done
declare -A KEY
for node in "${NODES[@]}"; do
    info=$(docker exec "${CID[$node]}" fakts-node info --json 2>&1) \
        || fail "$node: info failed: $info"
    security=$(jq -r '.gossip_security' <<< "$info")
    [ "$security" = curve ] || fail "$node: gossip_security is '$security', expected curve"
    KEY[$node]=$(jq -r '.key' <<< "$info")
done
for node in "${NODES[@]}"; do
    out=$(docker exec "${CID[$node]}" fakts-node members --json 2>&1) \
        || fail "$node: members failed: $out"
    for other in "${NODES[@]}"; do
        seen=$(jq -r --arg n "$other" '.[] | select(.name == $n) | .key' <<< "$out")
        [ "$seen" = "${KEY[$other]}" ] \
            || fail "$node lists $other's key as '$seen', $other reports '${KEY[$other]}'"
    done
done
say "ok: gossip is CurveZMQ on every node; keys ${KEY[node-1]} ${KEY[node-2]} ${KEY[node-3]} agree"

# ---------------------------------------------------------------------------------------------
phase "replicate"
pv=$(jq -r '.protocol_version // empty' "$TMP/well-known-node-1.json" 2>/dev/null) \
    || fail "/.well-known/fakts is not JSON: $(cat "$TMP/well-known-node-1.json")"
[ "$pv" = 2 ] || fail "/.well-known/fakts: protocol_version is '${pv}', expected \"2\""
say "ok: GET /.well-known/fakts -> 200, protocol_version \"2\" (node-1)"

for node in "${NODES[@]}"; do
    uid=$(docker exec "${CID[$node]}" id -u) || fail "docker exec $node id -u failed"
    [ "$uid" != 0 ] || fail "$node's container runs as root"
    TOKEN[$node]=$(read_token "$node")
    [ -n "${TOKEN[$node]}" ] || fail "$node: no admin token in /var/lib/fakts/admin-token"
done
say "ok: the containers run as uid $uid; admin tokens read"

register node-1 "$SVC1" 10.0.0.5
wait_for "node-3 and node-2 list $SVC1 (registered on node-1)" \
    all_listed "node-3 node-2" "$SVC1" node-1 yes
register node-2 "$SVC2" 10.0.0.6
wait_for "node-1 and node-3 list $SVC2 (registered on node-2)" \
    all_listed "node-1 node-3" "$SVC2" node-2 yes
wait_for "the three views are equal" views_equal "${NODES[@]}"

# ---------------------------------------------------------------------------------------------
phase "kill node-2"
compose kill -s KILL node-2 >/dev/null 2>&1 || fail "compose kill -s KILL node-2 failed"
say "node-2 killed (SIGKILL)"
wait_for "node-1 and node-3 show node-2 failed or left" \
    all_members_are "node-1 node-3" node-1=alive node-2="failed|left" node-3=alive
wait_for "node-1 and node-3 no longer list $SVC2" all_listed "node-1 node-3" "$SVC2" node-2 no
listed node-1 "$SVC1" node-1 yes || fail "node-1 lost its own service $SVC1: $LAST"
listed node-1 "$SVC2" node-2 yes --all \
    || fail "services list --all on node-1 does not show $SVC2 of the failed node: $LAST"
say "ok: $SVC1 still listed, $SVC2 only with --all ($LAST)"
wait_for "node-1 and node-3 views are equal" views_equal node-1 node-3
state=$(docker inspect -f '{{.State.Status}}' "${CID[node-2]}")
[ "$state" = exited ] || fail "node-2 should still be down (restart: unless-stopped), it is $state"

# ---------------------------------------------------------------------------------------------
phase "rejoin"
since=$(date +%s)
compose start node-2 >/dev/null 2>&1 || fail "compose start node-2 failed"
say "node-2 started"
wait_ready "node-2 restarted" node-2
for node in "${NODES[@]}"; do
    # shellcheck disable=SC2086
    wait_for "$node: members shows node-1..3 alive" members_are "$node" $all_up
done
wait_for "node-1 and node-3 list $SVC2 again" all_listed "node-1 node-3" "$SVC2" node-2 yes
wait_for "node-2 lists $SVC1" listed node-2 "$SVC1" node-1 yes
[ "$(read_token node-2)" = "${TOKEN[node-2]}" ] || fail "node-2's admin token changed across the restart"
wait_for "the three views are equal" views_equal "${NODES[@]}"
# Not a failure (the cluster converged), but worth seeing: any suspicion raised after node-2 came
# back is a false one, as nothing else went down.
flaps=$(for node in "${NODES[@]}"; do
            docker logs --since "$since" "${CID[$node]}" 2>&1 \
                | grep -E 'cluster: member .* is (suspect|failed)' | sed "s/^/    $node: /" || true
        done)
if [ -n "$flaps" ]; then
    say "note: members were suspected after node-2's return (nothing else went down):"
    printf '%s\n' "$flaps"
fi

# ---------------------------------------------------------------------------------------------
phase "re-create"
# A new container (and a new IP) on the same named volume: the store and the token survive, and
# the others find it under its name again.
cid_before=${CID[node-1]}
t=$(now)
compose up -d --no-build --force-recreate node-1 >/dev/null 2>&1 \
    || fail "compose up -d --force-recreate node-1 failed"
say "node-1 re-created in $(elapsed "$t")s"
wait_ready "node-1 re-created" node-1
[ "${CID[node-1]}" != "$cid_before" ] || fail "node-1's container was not re-created"
[ "$(read_token node-1)" = "${TOKEN[node-1]}" ] || fail "node-1's admin token changed across the re-create"
say "ok: node-1's admin token survived the re-create"
for node in "${NODES[@]}"; do
    # shellcheck disable=SC2086
    wait_for "$node: members shows node-1..3 alive" members_are "$node" $all_up
done
wait_for "node-1 lists $SVC1 and $SVC2" \
    eval 'listed node-1 "$SVC1" node-1 yes && listed node-1 "$SVC2" node-2 yes'
wait_for "the three views are equal" views_equal "${NODES[@]}"

RESULT=0
