#!/bin/bash
# slurm-local.sh up|down|status: a throwaway single-host Slurm (munged + slurmctld + slurmd) for
# the HPC tests, after the project's feasibility note (docs of the shared research: slurm-local).
# Run as root. Needs Debian's slurm-wlm and munge (the Makefile's deps install them).
#   RUNDIR      (required) directory for all state, logs and pids; created if missing
#   SLURM_CONF  (optional) where to write slurm.conf; default $RUNDIR/slurm.conf, so nothing
#               outside RUNDIR is touched
#   PROCTRACK   (optional) proctrack/cgroup when the cgroup v1 freezer is there (a job's
#               reparented children die with it), else proctrack/linuxproc
# The daemons use fixed ports (6817, 6818): one instance per machine at a time.
set -euo pipefail
RUNDIR=${RUNDIR:?set RUNDIR}
CONF=${SLURM_CONF:-$RUNDIR/slurm.conf}
if [[ -d /sys/fs/cgroup/freezer ]]; then
  PROCTRACK=${PROCTRACK:-proctrack/cgroup}
else
  PROCTRACK=${PROCTRACK:-proctrack/linuxproc}
fi
H=$(hostname -s)
NCPU=$(nproc)

alive() { # true if pid exists and is not a zombie
  local s; s=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ -n $s && $s != Z* ]]
}

stop_pid() { # stop_pid NAME: SIGTERM the recorded pid, wait up to 10 s, then SIGKILL
  local f="$RUNDIR/$1.pid" pid i
  [[ -s $f ]] || return 0
  pid=$(cat "$f")
  if alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 100); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then echo "$1 ($pid) ignored SIGTERM, sending SIGKILL" >&2; kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$f"
}

up() {
  mkdir -p "$RUNDIR"/{munge,ctld,spool,log,jobs}
  chmod 755 "$RUNDIR"
  chmod 1777 "$RUNDIR/jobs"                 # scratch for jobs of any user
  # --- munge: private daemon, private key, private socket -------------------
  chown munge:munge "$RUNDIR/munge"; chmod 755 "$RUNDIR/munge"
  rm -f "$RUNDIR/munge/munge.key"
  mungekey --create --keyfile="$RUNDIR/munge/munge.key" --bits=1024 2>/dev/null \
    || dd if=/dev/urandom of="$RUNDIR/munge/munge.key" bs=1024 count=1 status=none
  chown munge:munge "$RUNDIR/munge/munge.key"; chmod 400 "$RUNDIR/munge/munge.key"
  local SOCK="$RUNDIR/munge/munge.sock"
  setpriv --reuid=munge --regid=munge --init-groups -- /usr/sbin/munged -F \
      --socket="$SOCK" --key-file="$RUNDIR/munge/munge.key" \
      --pid-file="$RUNDIR/munge/munged.pid.internal" \
      --seed-file="$RUNDIR/munge/munged.seed" --num-threads=2 \
      </dev/null >"$RUNDIR/log/munged.out" 2>&1 &
  echo $! >"$RUNDIR/munged.pid"
  local i
  for i in $(seq 100); do munge -S "$SOCK" -n 2>/dev/null | unmunge -S "$SOCK" >/dev/null 2>&1 && break; sleep 0.05; done
  munge -S "$SOCK" -n | unmunge -S "$SOCK" >/dev/null || { echo "munged did not come up" >&2; cat "$RUNDIR/log/munged.out" >&2; down; return 1; }

  # --- slurm.conf -----------------------------------------------------------
  mkdir -p "$(dirname "$CONF")"
  cat >"$CONF" <<EOF
ClusterName=testcluster
SlurmctldHost=$H(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$SOCK
CredType=cred/munge
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$RUNDIR/ctld
SlurmdSpoolDir=$RUNDIR/spool
SlurmctldPidFile=$RUNDIR/ctld/slurmctld.pid.internal
SlurmdPidFile=$RUNDIR/spool/slurmd.pid.internal
SlurmctldLogFile=$RUNDIR/log/slurmctld.log
SlurmdLogFile=$RUNDIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
MpiDefault=none
ProctrackType=$PROCTRACK
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
ReturnToService=2
KillWait=5
InactiveLimit=0
MinJobAge=300
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$H NodeAddr=127.0.0.1 NodeHostname=$H CPUs=$NCPU State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  if [[ $PROCTRACK == proctrack/cgroup ]]; then
    cat >"$(dirname "$CONF")/cgroup.conf" <<EOF
CgroupPlugin=cgroup/v1
CgroupMountpoint=/sys/fs/cgroup
ConstrainCores=no
ConstrainRAMSpace=no
ConstrainDevices=no
EOF
  fi
  export SLURM_CONF="$CONF"

  # --- daemons, in the foreground (-D) of background jobs; pids recorded -----
  /usr/sbin/slurmctld -D -f "$CONF" </dev/null >"$RUNDIR/log/slurmctld.out" 2>&1 &
  echo $! >"$RUNDIR/slurmctld.pid"
  /usr/sbin/slurmd -D -f "$CONF" </dev/null >"$RUNDIR/log/slurmd.out" 2>&1 &
  echo $! >"$RUNDIR/slurmd.pid"

  # --- wait until the node is idle -------------------------------------------
  local st=""
  for i in $(seq 200); do
    st=$(sinfo -h -n "$H" -o %T 2>/dev/null || true)
    [[ $st == idle ]] && break
    alive "$(cat "$RUNDIR/slurmctld.pid")" && alive "$(cat "$RUNDIR/slurmd.pid")" || break
    sleep 0.1
  done
  if [[ $st != idle ]]; then
    echo "slurm did not come up (node state: '$st')" >&2
    tail -n 5 "$RUNDIR"/log/*.out >&2
    down
    return 1
  fi
}

down() {
  export SLURM_CONF="$CONF"
  local i
  if [[ -s $RUNDIR/slurmctld.pid ]] && alive "$(cat "$RUNDIR/slurmctld.pid")"; then
    # cancel every job, then wait until no job is pending/running/completing
    squeue -h -o %A 2>/dev/null | xargs -r scancel 2>/dev/null || true
    for i in $(seq 150); do
      [[ -z $(squeue -h -t PD,R,CG,S,CF -o %A 2>/dev/null) ]] && break; sleep 0.1
    done
  fi
  stop_pid slurmd
  stop_pid slurmctld
  stop_pid munged
  # proctrack/cgroup leaves empty freezer cgroups behind; remove ours (rmdir only removes empty ones)
  if [[ -d /sys/fs/cgroup/freezer/slurm_$H ]]; then
    find "/sys/fs/cgroup/freezer/slurm_$H" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  fi
}

status() {
  export SLURM_CONF="$CONF"
  local n
  for n in munged slurmctld slurmd; do
    if [[ -s $RUNDIR/$n.pid ]] && alive "$(cat "$RUNDIR/$n.pid")"; then echo "$n: running ($(cat "$RUNDIR/$n.pid"))"; else echo "$n: stopped"; fi
  done
  sinfo 2>/dev/null || true
}

case "${1:-}" in
  up) up ;; down) down ;; status) status ;;
  *) echo "usage: RUNDIR=dir $0 up|down|status" >&2; exit 2 ;;
esac
