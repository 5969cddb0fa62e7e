#!/usr/bin/env bash
# A real Slurm batch job registers its service with the head node's agent, as docs/HPC.md tells
# an HPC user to (the sbatch template there is the one this test submits):
#
#   setup    a single-host Slurm (tests/hpc/slurm-local.sh: munged, slurmctld, slurmd under a
#            RUNDIR of its own); two agents run as an unprivileged user, the head node on
#            127.0.0.90 and a second login node on 127.0.0.92, that find each other through a
#            rendezvous directory (--join-file) and one cluster secret, no address given; an
#            operator token with the register role only, for the jobs, and a redeem token for
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
OTHER=127.0.0.92
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
AGENTS=()
cleanup() {
    local status=$?
    "$HERE/slurm-local.sh" down >/dev/null 2>&1 || true
    for pid in "${AGENTS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
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

# The agents run as the user: they need no root for anything. They share a rendezvous directory
# and a cluster secret, as on a shared home directory.
as_user() { setpriv --reuid="$JOBUSER" --regid="$JOBUSER" --init-groups -- "$@"; }
install -d -o "$JOBUSER" -m 700 "$TMP/head" "$TMP/login2" "$TMP/rendezvous"
as_user "$BIN" keygen --cluster-secret "$TMP/head/cluster.secret" >/dev/null || fail "keygen"
AGENTS=()
start_agent() {   # start_agent NAME ADDR; not through as_user: $! must be the agent's own pid
    setpriv --reuid="$JOBUSER" --regid="$JOBUSER" --init-groups -- "$BIN" agent \
        --data-dir "$TMP/$1" --node "$1" --http "$2:8520" --gossip "$2:8521" \
        --cluster-secret-file "$TMP/head/cluster.secret" --join-file "$TMP/rendezvous" \
        --log-level info >"$TMP/agent-$1.log" 2>&1 &
    AGENTS+=($!)
}
start_agent head "$HEAD"
start_agent login2 "$OTHER"
cli() { "$BIN" "$@" --data-dir "$TMP/head"; }
both_alive() { [ "$(cli members --json | grep -c '"status": "alive"')" = 2 ]; }
wait_for "head and login2 finding each other through the rendezvous directory" "$DEADLINE" \
    both_alive
JOB_TOKEN=$(cli tokens create --name slurm-jobs --role register | head -n 1)
REDEEM=$(cli redeem-token create | tail -n 1)
[ -n "$JOB_TOKEN" ] && [ -n "$REDEEM" ] || fail "tokens: '$JOB_TOKEN' '$REDEEM'"
answer() {   # answer [NODE_ADDR]: what an app asking that node (default: the head) gets
    "$PY" "$HERE/app_answer.py" "http://${1:-$HEAD}:8520" "$REDEEM" org.example.jobsvc
}
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
    $BIN services pass "\$ID" --note "job \$SLURM_JOB_ID alive" && date +%s.%N >"$JOBS/\$ID.last"
    sleep 2 & wait \$!
done
EOF
chmod 755 "$JOBS/service.sbatch"

submit() {   # submit [graceful]: the job's id, submitted as the user
    setpriv --reuid="$JOBUSER" --regid="$JOBUSER" --init-groups -- \
        env SLURM_CONF="$SLURM_CONF" TMPDIR=/tmp sbatch --parsable "$JOBS/service.sbatch" "$@"
}
offered() { answer "$HEAD" | grep -q "^$JOBHOST:" && answer "$OTHER" | grep -q "^$JOBHOST:"; }
gone() { ! answer "$HEAD" | grep -q "^$JOBHOST:" && ! answer "$OTHER" | grep -q "^$JOBHOST:"; }

# --- scancel: the TTL removes what nobody deregistered ---
JOB=$(submit)
wait_for "job $JOB's instance in the app's answer" "$DEADLINE" offered
say "job $JOB registered: the app gets $(answer)"
scancel "$JOB"
T0=$(date +%s.%N)
wait_for "job $JOB's instance leaving both nodes' answers after scancel" $((TTL_S + 10)) gone
T1=$(date +%s.%N)
LAST=$(cat "$JOBS/jobsvc-$JOB.last")
say "$(awk -v a="$T0" -v b="$T1" -v l="$LAST" -v t="$TTL_S" 'BEGIN {
    printf "scancel: the instance left both nodes\x27 answers %.1f s after scancel, %.1f s after its TTL expired (last report + %d s)", b - a, b - (l + t), t }')"

# --- signal: the job deregisters itself ---
JOB=$(submit graceful)
wait_for "job $JOB's instance in the app's answer" "$DEADLINE" offered
scancel --batch --signal=USR1 "$JOB"
T0=$(date +%s.%N)
wait_for "job $JOB's instance leaving both nodes' answers after USR1" "$DEADLINE" gone
TOOK=$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
say "USR1: the job deregistered; the instance left the answer ${TOOK}s later"
say "PASS"
