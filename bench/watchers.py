#!/usr/bin/python3
"""bench/watchers.py ADDR TOKEN PID N: what held watchers cost one agent.

Opens N blocking queries (GET /v1/services?hash=H&wait=120s, one connection each)
on the agent at ADDR (HOST:PORT) whose pid is PID, waits until its /metrics says all
N are held, reads the agent's threads and resident memory (/proc/PID/status) before
and during, then registers one service and times until every watcher has its answer.
It does the same with 1 watcher first: the peer of the N-watcher time in the same run.
Prints key=value lines. Standard library only (Debian's python3)."""

import http.client
import json
import selectors
import socket
import sys
import time


def status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("Threads", "VmRSS"):
                out[key] = int(value.split()[0])
    return out


def request(host, port, token, method, path, body=None):
    conn = http.client.HTTPConnection(host, port, timeout=30)
    headers = {"Authorization": f"Bearer {token}"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    index = resp.getheader("X-Fakts-Index")
    conn.close()
    if resp.status != 200:
        sys.exit(f"watchers: {method} {path} answered {resp.status}: {data[:200]!r}")
    return index, data


def held(host, port, token):
    _, data = request(host, port, token, "GET", "/metrics")
    for line in data.decode().splitlines():
        if line.startswith("fakts_http_held_requests "):
            return int(float(line.split()[1]))
    sys.exit("watchers: /metrics has no fakts_http_held_requests")


def round_trip(host, port, token, pid, n, service_id):
    index, _ = request(host, port, token, "GET", "/v1/services")
    before = status(pid)
    raw = (f"GET /v1/services?hash={index}&wait=120s HTTP/1.1\r\nHost: {host}\r\n"
           f"Authorization: Bearer {token}\r\n\r\n").encode()
    socks = []
    for _ in range(n):
        s = socket.create_connection((host, port), timeout=30)
        s.sendall(raw)
        socks.append(s)
    deadline = time.monotonic() + 60
    while held(host, port, token) != n:
        if time.monotonic() > deadline:
            sys.exit(f"watchers: {n} requests never all held")
        time.sleep(0.05)
    during = status(pid)
    body = json.dumps({"id": service_id, "service": "org.bench.watched",
                       "aliases": [{"host": "10.9.9.9", "port": 80}]})
    sel = selectors.DefaultSelector()
    got = {}
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        got[s] = b""
    t0 = time.monotonic()
    request(host, port, token, "PUT", "/v1/services", body)
    want = f'"{service_id}"'.encode()
    left = n
    deadline = time.monotonic() + 120
    while left and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1):
            s = key.fileobj
            chunk = s.recv(65536)
            got[s] += chunk
            if not chunk or want in got[s]:
                sel.unregister(s)
                left -= 1
    t1 = time.monotonic()
    answered = sum(1 for s in socks if want in got[s] and got[s].startswith(b"HTTP/1.1 200"))
    for s in socks:
        s.close()
    return before, during, (t1 - t0) * 1000, answered


def main():
    if len(sys.argv) != 5:
        sys.exit("usage: bench/watchers.py HOST:PORT TOKEN PID N")
    host, _, port = sys.argv[1].rpartition(":")
    token, pid, n = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    port = int(port)
    _, _, one_ms, one_ok = round_trip(host, port, token, pid, 1, "watched-1")
    before, during, n_ms, n_ok = round_trip(host, port, token, pid, n, "watched-n")
    print(f"threads_idle={before['Threads']}")
    print(f"threads_held={during['Threads']}")
    print(f"rss_idle_kb={before['VmRSS']}")
    print(f"rss_held_kb={during['VmRSS']}")
    print(f"wake_one_ms={one_ms:.1f}")
    print(f"wake_all_ms={n_ms:.1f}")
    print(f"answered={n_ok}")
    print(f"answered_one={one_ok}")


main()
