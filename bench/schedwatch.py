"""bench/schedwatch.py PID... : on-CPU and CPU-wait time of processes, exited threads included.

/proc/PID/task/TID/schedstat holds a thread's on-CPU and runnable-but-waiting
nanoseconds, but only while the thread lives: the agent serves each HTTP
connection on its own thread, which exits with the connection, so two
snapshots would miss the work of every connection closed in between. This
sampler reads every thread of the processes (and of their children: nginx
workers) every 20 ms and keeps each thread's last reading. On SIGTERM it prints
"<on-CPU ns> <CPU-wait ns>" gained since it started: a thread seen in the
first sweep counts from that reading, a later one from zero (it was born
during the run).

On-CPU is taken from each process's own total instead (utime + stime in
/proc/PID/stat, which the kernel adds every exited thread's time to; clock-tick
resolution, 10 ms per process): a sampler misses threads that live less than one
period, and with Connection: close a connection thread lives a few
milliseconds, so sampling alone missed about half of the agent's CPU there.
CPU-wait has no such total: it comes from the samples, and a thread that exits
loses at most its last 20 ms (all of it, if it lived less than 20 ms), so for
short-lived threads it is a lower bound.

Threads are told apart by thread id *and* start time: with a small pid_max
(32768 here) and thousands of connection threads per run, thread ids come round
again within a run, and a new thread under an old one's id must not replace the
old one's reading.
"""

import glob
import os
import signal
import sys
import time

pids = sys.argv[1:]
TICK_NS = 1e9 / os.sysconf("SC_CLK_TCK")
first = {}
last = {}
first_cpu = {}
last_cpu = {}


def after_comm(stat):
    """The fields of a /proc stat line from field 3 on (the command name, field 2,
    may hold spaces and parentheses)."""
    return stat[stat.rindex(")") + 2 :].split()


def sweep():
    seen = {}
    cpu = {}
    for pid in pids:
        procs = [pid]
        for path in glob.glob(f"/proc/{pid}/task/*/children"):
            try:
                with open(path) as f:
                    procs += f.read().split()
            except OSError:
                pass
        for proc in procs:
            try:
                with open(f"/proc/{proc}/stat") as f:
                    fields = after_comm(f.read())
                # utime, stime (fields 14, 15) in clock ticks; starttime field 22
                cpu[(proc, fields[19])] = int(fields[11]) + int(fields[12])
            except (OSError, ValueError, IndexError):
                pass
            for path in glob.glob(f"/proc/{proc}/task/*/schedstat"):
                try:
                    with open(path[: -len("schedstat")] + "stat") as f:
                        start = after_comm(f.read())[19]
                    with open(path) as f:
                        on_cpu, wait = f.read().split()[:2]
                except (OSError, ValueError, IndexError):
                    continue
                seen[(path, start)] = (int(on_cpu), int(wait))
    return seen, cpu


def report(*_):
    seen, cpu = sweep()
    last.update(seen)
    last_cpu.update(cpu)
    on_cpu = sum(v - first_cpu.get(k, 0) for k, v in last_cpu.items()) * TICK_NS
    wait = sum(v[1] - first.get(k, (0, 0))[1] for k, v in last.items())
    print(round(on_cpu), wait, flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, report)
first, first_cpu = sweep()
last.update(first)
last_cpu.update(first_cpu)
print("ready", flush=True)
while True:
    time.sleep(0.02)
    seen, cpu = sweep()
    last.update(seen)
    last_cpu.update(cpu)
