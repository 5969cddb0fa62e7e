#!/usr/bin/env bash
# A real Slurm batch job registers its service with the head node's agent, as docs/HPC.md tells
# an HPC user to (the sbatch template there is the one this test submits):
#
#   setup    a single-host Slurm (tests/hpc/slurm-local.sh: munged, slurmctld, slurmd under a
#            RUNDIR of its own), a head-node agent on 127.0.0.90 run as an unprivileged user,
#            an operator token with the register role only, for the jobs, and a redeem token for
#            the app
#   scancel  a job (run as that user) starts a small HTTP service on 127.0.0.91, registers it with
#            a TTL check and reports passing until it dies. The app's Fakts answer on the head
#            node offers the job's instance while it runs; `scancel` kills the job, nothing
#            deregisters it, and the instance leaves the answer within its TTL (6 s; the deadline
#            allows the agent 10 s more on a loaded machine, and the time taken is printed)
#   signal   a second job traps USR1 and deregisters: `scancel --batch --signal=USR1` (what
#            `--signal=B:USR1@N` sends before the time limit; Slurm's own timing is coarse, up
#            to a minute early, so the test sends it itself) ends its instance at once
#   cleanup  jobs cancelled, Slurm and the agent stopped, the user removed (trap)
#
# Usage: tests/hpc/slurm_job.sh FAKTS_NODE_BINARY   (as root; ctest passes the binary)
# Exit status: 0 when every check passed; 77 (skipped) without slurm-wlm/munge, root or
# /usr/bin/python3; 1 with a "FAIL:" line naming the check.
set -euo pipefail

BIN=${1:-${FK_NODE_BIN:-}}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=/usr/bin/python3
HEAD=127.0.0.90
JOBHOST=127.0.0.91
TTL_S=6
DEADLINE=30
JOBUSER=fkjob$$

say() { printf '[slurm] %s\n' "$*"; }
fail() { printf '[slurm] FAIL: %s\n' "$*" >&2; exit 1; }
skip() { printf '[slurm] SKIP: %s\n' "$*" >&2; exit 77; }

[ -n "$BIN" ] && [ -x "$BIN" ] || fail "no fakts-node binary (argument 1 or FK_NODE_BIN): '$BIN'"
[ "$(id -u)" = 0 ] || skip "needs root (Slurm's daemons, a test user)"
[ -x "$PY" ] || skip "$PY is not installed"
for tool in slurmctld slurmd munged sbatch; do
    command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || skip "$tool is not installed"
done
for var in $(compgen -e); do
    case $var in FAKTS_*) unset "$var" ;; esac
done

TMP=$(mktemp -d)
chmod 755 "$TMP"
export RUNDIR=$TMP/slurm
export SLURM_CONF=$RUNDIR/slurm.conf
AGENT=
cleanup() {
    local status=$?
    "$HERE/slurm-local.sh" down >/dev/null 2>&1 || true
    [ -n "$AGENT" ] && { kill -TERM "$AGENT" 2>/dev/null || true; wait "$AGENT" 2>/dev/null || true; }
    if [ "$status" -ne 0 ] && [ "$status" -ne 77 ]; then
        for log in "$TMP"/*.log "$RUNDIR"/jobs/*.out "$RUNDIR"/log/slurmctld.log; do
            [ -e "$log" ] && { say "--- $log"; tail -n 20 "$log"; }
        done
    fi
    userdel -r "$JOBUSER" >/dev/null 2>&1 || true
    rm -rf "$TMP"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for() {   # wait_for WHAT SECONDS COMMAND...: poll until COMMAND succeeds
    local what=$1 secs=$2
    local end=$((SECONDS + secs))
    shift 2
    until "$@" 2>/dev/null; do
        [ "$SECONDS" -lt "$end" ] || fail "$what: not within ${secs}s"
        sleep 0.1
    done
}

# --- setup ---
useradd --create-home --shell /bin/bash "$JOBUSER" || fail "useradd $JOBUSER"
"$HERE/slurm-local.sh" up >"$TMP/slurm-up.log" 2>&1 || fail "slurm did not come up: $(tail -5 "$TMP/slurm-up.log")"
say "slurm up ($(sinfo -h -o '%P %a %T'))"

# The head node's agent runs as the user too: it needs no root for anything.
install -d -o "$JOBUSER" -m 700 "$TMP/head"
setpriv --reuid="$JOBUSER" --regid="$JOBUSER" --init-groups -- "$BIN" agent \
    --data-dir "$TMP/head" --node head --http "$HEAD:8520" --gossip "$HEAD:8521" \
    --log-level info >"$TMP/agent.log" 2>&1 &
AGENT=$!
wait_for "the head node's agent" "$DEADLINE" "$BIN" info --data-dir "$TMP/head"
cli() { "$BIN" "$@" --data-dir "$TMP/head"; }
JOB_TOKEN=$(cli tokens create --name slurm-jobs --role register | head -n 1)
REDEEM=$(cli redeem-token create | tail -n 1)
[ -n "$JOB_TOKEN" ] && [ -n "$REDEEM" ] || fail "tokens: '$JOB_TOKEN' '$REDEEM'"
answer() { "$PY" "$HERE/app_answer.py" "http://$HEAD:8520" "$REDEEM" org.example.jobsvc; }
case $(answer) in
    none*) ;;
    *) fail "an instance before any job: $(answer)" ;;
esac

# The job script of docs/HPC.md, with this test's addresses.
JOBS=$RUNDIR/jobs
cat >"$JOBS/service.sbatch" <<EOF
#!/bin/bash
#SBATCH --output=$JOBS/job-%j.out
# A service of this job, reachable from the head node, kept in every app's answer while the job
# reports it alive (a TTL check), removed at once when the job is told to end (USR1).
export FAKTS_HTTP_ADDR=$HEAD:8520 FAKTS_ADMIN_TOKEN=$JOB_TOKEN
ID=jobsvc-\$SLURM_JOB_ID
PORT=\$((20000 + SLURM_JOB_ID % 20000))
/usr/bin/python3 -m http.server "\$PORT" --bind $JOBHOST --directory "\$TMPDIR" >/dev/null 2>&1 &
cat >"$JOBS/\$ID.yaml" <<YAML
id: \$ID
service: org.example.jobsvc
aliases:
  - host: $JOBHOST
    port: \$PORT
    ssl: false
    challenge: ht
checks:
  - ttl: ${TTL_S}s
deregister_critical_after: 10m
YAML
$BIN services register "$JOBS/\$ID.yaml" || exit 1
if [ "\${1:-}" = graceful ]; then
    trap '$BIN services deregister "\$ID"; exit 0' USR1
fi
while true; do
    $BIN services pass "\$ID" --note "job \$SLURM_JOB_ID alive" || true
    sleep 2 & wait \$!
done
EOF
chmod 755 "$JOBS/service.sbatch"

submit() {   # submit [graceful]: the job's id, submitted as the user
    setpriv --reuid="$JOBUSER" --regid="$JOBUSER" --init-groups -- \
        env SLURM_CONF="$SLURM_CONF" TMPDIR=/tmp sbatch --parsable "$JOBS/service.sbatch" "$@"
}
offered() { answer | grep -q "^$JOBHOST:"; }
gone() { ! offered; }

# --- scancel: the TTL removes what nobody deregistered ---
JOB=$(submit)
wait_for "job $JOB's instance in the app's answer" "$DEADLINE" offered
say "job $JOB registered: the app gets $(answer)"
scancel "$JOB"
T0=$(date +%s.%N)
wait_for "job $JOB's instance leaving the answer after scancel" $((TTL_S + 10)) gone
TOOK=$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
say "scancel: the instance left the app's answer ${TOOK}s later (TTL ${TTL_S}s)"

# --- signal: the job deregisters itself ---
JOB=$(submit graceful)
wait_for "job $JOB's instance in the app's answer" "$DEADLINE" offered
scancel --batch --signal=USR1 "$JOB"
T0=$(date +%s.%N)
wait_for "job $JOB's instance leaving the answer after USR1" "$DEADLINE" gone
TOOK=$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
say "USR1: the job deregistered; the instance left the answer ${TOOK}s later"
say "PASS"
