"""bench/schedwatch.py PID... : on-CPU and CPU-wait time of processes, exited threads included.

/proc/PID/task/TID/schedstat holds a thread's on-CPU and runnable-but-waiting
nanoseconds, but only while the thread lives: the agent serves each HTTP
connection on its own thread, which exits with the connection, so two
snapshots would miss the work of every connection closed in between. This
sampler reads every thread of the processes (and of their children: nginx
workers) every 20 ms and keeps each thread's last reading. On SIGTERM it prints
"<on-CPU ns> <CPU-wait ns>" gained since it started: a thread seen in the
first sweep counts from that reading, a later one from zero (it was born
during the run). A thread that exits loses at most its last 20 ms.
"""

import glob
import signal
import sys
import time

pids = sys.argv[1:]
first = {}
last = {}


def sweep():
    seen = {}
    for pid in pids:
        tasks = glob.glob(f"/proc/{pid}/task/*/schedstat")
        for path in glob.glob(f"/proc/{pid}/task/*/children"):
            try:
                with open(path) as f:
                    for child in f.read().split():
                        tasks += glob.glob(f"/proc/{child}/task/*/schedstat")
            except OSError:
                pass
        for path in tasks:
            try:
                with open(path) as f:
                    on_cpu, wait = f.read().split()[:2]
            except (OSError, ValueError):
                continue
            seen[path] = (int(on_cpu), int(wait))
    return seen


def report(*_):
    last.update(sweep())
    cpu = sum(v[0] - first.get(k, (0, 0))[0] for k, v in last.items())
    wait = sum(v[1] - first.get(k, (0, 0))[1] for k, v in last.items())
    print(cpu, wait, flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, report)
first = sweep()
last.update(first)
print("ready", flush=True)
while True:
    time.sleep(0.02)
    last.update(sweep())
