#!/usr/bin/python3
"""bench/cluster_probe.py: the timing-critical half of bench/cluster.sh.

Debian's /usr/bin/python3, standard library only. Every subcommand talks to nodes on
127.0.0.0/8 only, polls from one thread per node over one keep-alive connection (HTTP for
fakts-node, Serf's msgpack RPC for serf), is bounded by a deadline, and prints its results
as KEY=VALUE lines (times in ms, from time.monotonic()) that cluster.sh reads. Exit status
0: measured; 1: a deadline passed or a node answered wrongly (the reason on stderr); 2:
usage.

Node lists are files written by cluster.sh, one node a line, tab-separated:
  fakts-node:  NAME  HTTP_ADDR  ADMIN_TOKEN  PID
  serf:        NAME  RPC_ADDR   PID
"""

import http.client
import json
import math
import os
import heapq
import random
import selectors
import signal
import socket
import statistics
import struct
import sys
import threading
import time

now = time.monotonic


def fail(msg):
    print("cluster_probe: " + msg, file=sys.stderr)
    sys.exit(1)


def stats(xs):
    """median, nearest-rank p90, min, max of a list of numbers."""
    s = sorted(xs)
    n = len(s)
    if n == 0:
        return {"n": 0, "median": "n/a", "p90": "n/a", "min": "n/a", "max": "n/a"}
    return {"n": n, "median": statistics.median(s), "p90": s[max(0, math.ceil(0.9 * n) - 1)],
            "min": s[0], "max": s[-1]}


def emit(prefix, st, fmt="%.1f"):
    for k in ("n", "median", "p90", "min", "max"):
        v = st[k]
        print("%s%s=%s" % (prefix, k, v if isinstance(v, (int, str)) else fmt % v))


def ms(t):
    return t * 1000.0


def parallel(count, fn, interval, deadline):
    """Run fn(i) for i in range(count), each in its own thread, repeatedly (sleeping
    `interval` s between calls) until it returns True or the deadline passes. Returns
    (done_at, polls, errors): done_at[i] is the monotonic time of the answer that made
    fn(i) true, or None."""
    done_at = [None] * count
    polls = [0] * count
    errors = [None] * count
    go = threading.Event()

    def worker(i):
        go.wait()
        while True:
            try:
                ok = fn(i)
            except Exception as e:  # a failed poll is retried until the deadline
                errors[i] = repr(e)
                ok = False
            polls[i] += 1
            t = now()
            if ok:
                done_at[i] = t
                return
            if t >= deadline:
                return
            if interval > 0:
                time.sleep(interval)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(count)]
    for th in threads:
        th.start()
    return go, threads, done_at, polls, errors


def join_all(threads, deadline):
    for th in threads:
        th.join(max(0.0, deadline - now()) + 5.0)


class Rounds:
    """Per-round figures of a convergence run: when the last node, 90 % and half of the
    nodes, and the first node other than the writer showed the write; the write's own
    time; each poller's achieved poll rate (the measurement's resolution)."""

    def __init__(self):
        self.last, self.p90node, self.half, self.first_remote, self.put, self.rates = [], [], [], [], [], []

    def add(self, done_at, polls, t0, t_put, writer):
        rel = sorted(ms(t - t0) for t in done_at)
        remote = sorted(ms(t - t0) for i, t in enumerate(done_at) if i != writer)
        self.last.append(rel[-1])
        self.p90node.append(rel[max(0, math.ceil(0.9 * len(rel)) - 1)])
        self.half.append(rel[(len(rel) - 1) // 2])
        if remote:
            self.first_remote.append(remote[0])
        self.put.append(ms(t_put - t0))
        for i, t in enumerate(done_at):
            if t - t_put >= 0.02:   # long enough to estimate this poller's rate
                self.rates.append(polls[i] / (t - t_put))

    def emit(self):
        emit("last_", stats(self.last))
        emit("p90node_", stats(self.p90node))
        emit("half_", stats(self.half))
        emit("first_remote_", stats(self.first_remote))
        emit("put_", stats(self.put))
        print("samples_ms=%s" % ",".join("%.0f" % x for x in self.last))
        print("poll_hz=%s" % ("%.0f" % statistics.median(self.rates) if self.rates else "n/a"))


# ---- fakts-node ------------------------------------------------------------------------

def load_fk(path):
    nodes = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line:
                name, addr, token, pid = line.split("\t")
                nodes.append({"name": name, "http": addr, "token": token, "pid": int(pid)})
    return nodes


class Fk:
    """One keep-alive HTTP connection to one agent."""

    def __init__(self, node, timeout=5.0):
        host, port = node["http"].rsplit(":", 1)
        self.host, self.port, self.timeout = host, int(port), timeout
        self.name = node["name"]
        self.auth = "Bearer " + node["token"]
        self.conn = None
        self.view = None

    def request(self, method, path, body=None):
        for attempt in (0, 1):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
                headers = {"Authorization": self.auth}
                if body is not None:
                    headers["Content-Type"] = "application/json"
                self.conn.request(method, path, body=body, headers=headers)
                r = self.conn.getresponse()
                data = r.read()
                self.view = r.getheader("X-Fakts-View")
                return r.status, data
            except (OSError, http.client.HTTPException):
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                if attempt:
                    raise

    def get(self, path):
        status, data = self.request("GET", path)
        if status != 200:
            raise RuntimeError("%s GET %s answered %d: %r" % (self.name, path, status, data[:200]))
        return data

    def register(self, sid, service="live.arkitekt.rekuest", host="10.0.0.5", port=8090):
        body = json.dumps({"id": sid, "service": service,
                           "aliases": [{"host": host, "port": port}]}).encode()
        status, data = self.request("PUT", "/v1/services", body)
        if status != 200:
            raise RuntimeError("%s PUT %s answered %d: %r" % (self.name, sid, status, data[:200]))


def id_needle(sid):
    return ('"id":"%s"' % sid).encode()


def members_of(fk):
    return {m["name"]: m for m in json.loads(fk.get("/v1/agent/members"))}


def poll_http(nodes, path, check, interval, deadline):
    """Single-threaded poller (selectors, one keep-alive socket per node, hand-made
    HTTP/1.1 GETs): far cheaper per poll than a thread and http.client each, so the
    pollers disturb the agents less and keep their rate when 50 agents share 2 CPUs. Polls
    node i's path until check(body) is true, `interval` s between an answer and the next
    request. Returns (done_at, polls)."""
    n = len(nodes)
    done_at = [None] * n
    polls = [0] * n
    socks = [None] * n
    bufs = [b""] * n
    reqs = []
    for node in nodes:
        reqs.append(("GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n"
                     % (path, node["http"], node["token"])).encode())
    sel = selectors.DefaultSelector()
    timers = []   # (due, i): send node i's next request then

    def send(i):
        if socks[i] is None:
            host, port = nodes[i]["http"].rsplit(":", 1)
            s_ = socket.create_connection((host, int(port)), timeout=5)
            s_.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s_.setblocking(False)
            socks[i] = s_
            bufs[i] = b""
            sel.register(s_, selectors.EVENT_READ, i)
        socks[i].send(reqs[i])   # a few hundred bytes: fits any empty send buffer

    def reset(i):
        if socks[i] is not None:
            sel.unregister(socks[i])
            socks[i].close()
            socks[i] = None
        heapq.heappush(timers, (now() + interval, i))

    for i in range(n):
        heapq.heappush(timers, (now(), i))
    pending = n
    while pending and now() < deadline:
        while timers and timers[0][0] <= now():
            _, i = heapq.heappop(timers)
            try:
                send(i)
            except OSError:
                reset(i)
        wait = (timers[0][0] if timers else deadline) - now()
        for key, _ in sel.select(max(0.0, min(wait, deadline - now()))):
            i = key.data
            try:
                chunk = socks[i].recv(262144)
            except BlockingIOError:
                continue
            except OSError:
                reset(i)
                continue
            if not chunk:
                reset(i)
                continue
            bufs[i] += chunk
            head_end = bufs[i].find(b"\r\n\r\n")
            if head_end < 0:
                continue
            head = bufs[i][:head_end].decode("latin-1")
            length = None
            for line in head.split("\r\n")[1:]:
                k, _, v = line.partition(":")
                if k.strip().lower() == "content-length":
                    length = int(v.strip())
            if length is None:
                reset(i)   # not an answer this poller can frame: start over
                continue
            if len(bufs[i]) < head_end + 4 + length:
                continue
            t = now()
            body = bufs[i][head_end + 4:head_end + 4 + length]
            bufs[i] = bufs[i][head_end + 4 + length:]
            polls[i] += 1
            if head.split(" ", 2)[1] == "200" and check(i, body):
                done_at[i] = t
                pending -= 1
                sel.unregister(socks[i])
                socks[i].close()
                socks[i] = None
            else:
                heapq.heappush(timers, (t + interval, i))
    for s_ in socks:
        if s_ is not None:
            s_.close()
    sel.close()
    return done_at, polls


def cmd_fk_wait_members(a):
    """fk-wait-members NODES TIMEOUT_S: every node lists every node alive."""
    nodes = load_fk(a[0])
    deadline = now() + float(a[1])
    names = {n["name"] for n in nodes}
    fks = [Fk(n) for n in nodes]
    last = [None] * len(nodes)

    def check(i):
        ms_ = members_of(fks[i])
        last[i] = {k: v["status"] for k, v in ms_.items()}
        return all(ms_.get(n, {}).get("status") == "alive" for n in names)

    t0 = now()
    go, threads, done_at, polls, errors = parallel(len(nodes), check, 0.1, deadline)
    go.set()
    join_all(threads, deadline)
    missing = [i for i, t in enumerate(done_at) if t is None]
    if missing:
        for i in missing[:5]:
            print("  %s sees %s%s" % (nodes[i]["name"],
                  json.dumps({k: v for k, v in (last[i] or {}).items() if v != "alive"} or last[i]),
                  ("; last error " + errors[i]) if errors[i] else ""), file=sys.stderr)
        fail("%d of %d nodes do not list all %d members alive after %s s"
             % (len(missing), len(nodes), len(names), a[1]))
    print("ms=%.0f" % ms(max(done_at) - t0))


def cmd_fk_converge(a):
    """fk-converge NODES ROUNDS PREFIX POLL_MS TIMEOUT_S SEED: ROUNDS times, register a
    new service on a random node and poll every node's GET /v1/services until it lists it."""
    nodes = load_fk(a[0])
    rounds, prefix, poll_s, timeout, seed = int(a[1]), a[2], float(a[3]) / 1000, float(a[4]), int(a[5])
    rng = random.Random(seed)
    writers = [Fk(n) for n in nodes]   # the PUTs' connections, opened before the first round
    for f in writers:
        f.get("/v1/agent/members")
    res = Rounds()
    timeouts = []
    for k in range(rounds):
        w = rng.randrange(len(nodes))
        sid = "%s-%d" % (prefix, k)
        needle = id_needle(sid)
        t0 = now()
        writers[w].register(sid)
        t_put = now()
        deadline = t_put + timeout
        done_at, polls = poll_http(nodes, "/v1/services", lambda i, body: needle in body,
                                   poll_s, deadline)
        errors = []
        if any(t is None for t in done_at):
            lacking = [nodes[i]["name"] for i, t in enumerate(done_at) if t is None]
            print("cluster_probe: %s (registered on %s) not listed by %s after %.0f s%s"
                  % (sid, nodes[w]["name"], ",".join(lacking[:10]), timeout,
                     "; errors: " + "; ".join(e for e in errors if e)[:300] if any(errors) else ""),
                  file=sys.stderr)
            timeouts.append(sid)
            res.last.append(ms(deadline - t0))   # censored: counted as the timeout
            continue
        res.add(done_at, polls, t0, t_put, w)
        time.sleep(0.25 + rng.random() * 0.1)   # rounds do not overlap
    res.emit()
    print("timeouts=%d" % len(timeouts))
    if timeouts:
        sys.exit(1)


def cmd_fk_own(a):
    """fk-own NODES TIMEOUT_S: register own-NAME on every node, wait until all list all."""
    nodes = load_fk(a[0])
    deadline = now() + float(a[1])
    for n in nodes:
        Fk(n).register("own-" + n["name"], host="10.1.0.%d" % (1 + len(n["name"]) % 250))
    needles = [id_needle("own-" + n["name"]) for n in nodes]
    fks = [Fk(n) for n in nodes]

    def check(i):
        body = fks[i].get("/v1/services")
        return all(x in body for x in needles)

    go, threads, done_at, polls, errors = parallel(len(nodes), check, 0.05, deadline)
    go.set()
    join_all(threads, deadline)
    if any(t is None for t in done_at):
        fail("own-* services not on every node after %s s" % a[1])
    print("ok=1")


def cmd_fk_detect(a):
    """fk-detect NODES VICTIM PID SERVICE POLL_MS TIMEOUT_S: kill -9 PID (node VICTIM) and
    poll every other node until it lists VICTIM failed and no longer lists SERVICE."""
    nodes = load_fk(a[0])
    victim, pid, sid = a[1], int(a[2]), a[3]
    poll_s, timeout = float(a[4]) / 1000, float(a[5])
    others = [n for n in nodes if n["name"] != victim]
    if len(others) != len(nodes) - 1:
        fail("victim %s is not in the node list" % victim)
    fks = [Fk(n) for n in others]
    needle = id_needle(sid)
    # precondition: everyone sees the victim alive with its service. Under packet loss a
    # member is suspected now and then and refutes within a second or two, so wait (up to
    # 15 s) for a moment when all agree instead of failing on the first suspicion.
    settle = now() + 15
    while True:
        views = [(f, members_of(f).get(victim, {}).get("status"), needle in f.get("/v1/services"))
                 for f in fks]
        bad = [(f, st, listed) for f, st, listed in views if st != "alive" or not listed]
        if not bad:
            break
        if now() >= settle:
            f, st, listed = bad[0]
            fail("before the kill, %s sees %s as %s (service %s listed: %s)"
                 % (f.name, victim, st, sid, listed))
        time.sleep(0.05)
    first_suspect = [None] * len(fks)
    first_failed = [None] * len(fks)
    others_bad = {}   # (observer, member, status) -> first time seen, for members never killed
    lock = threading.Lock()

    def check(i):
        ms_ = members_of(fks[i])
        t = now()
        for name, m in ms_.items():
            if name != victim and m["status"] != "alive":
                with lock:
                    others_bad.setdefault((fks[i].name, name, m["status"]), t)
        st = ms_.get(victim, {}).get("status")
        if st == "suspect" and first_suspect[i] is None:
            first_suspect[i] = t
        if st != "failed":
            return False
        if first_failed[i] is None:
            first_failed[i] = t
        return needle not in fks[i].get("/v1/services")

    deadline = now() + timeout + 0.2
    go, threads, done_at, polls, errors = parallel(len(fks), check, poll_s, deadline)
    go.set()
    time.sleep(0.2)   # pollers warm
    t0 = now()
    os.kill(pid, signal.SIGKILL)
    join_all(threads, deadline)
    if any(t is None for t in done_at):
        stuck = {}
        for i, t in enumerate(done_at):
            if t is None:
                try:
                    stuck[fks[i].name] = members_of(fks[i]).get(victim, {}).get("status")
                except Exception as e:
                    stuck[fks[i].name] = repr(e)
        print("cluster_probe: kill -9 of %s not detected everywhere within %.0f s: %s"
              % (victim, timeout, json.dumps(stuck)[:600]), file=sys.stderr)
        print("detected=0")
        print("stuck=%s" % ",".join("%s:%s" % kv for kv in sorted(stuck.items()))[:400])
        sys.exit(1)
    sus = [t for t in first_suspect if t is not None]
    print("detected=1")
    print("ms=%.0f" % ms(max(done_at) - t0))
    print("first_failed_ms=%.0f" % ms(min(t for t in first_failed if t) - t0))
    print("first_suspect_ms=%s" % ("%.0f" % ms(min(sus) - t0) if sus else "n/a"))
    print("others_not_alive=%d" % len(others_bad))
    if others_bad:
        print("others_not_alive_list=%s" % ",".join(
            "%s saw %s %s at %+.0f ms" % (o, m, s, ms(t - t0))
            for (o, m, s), t in sorted(others_bad.items(), key=lambda kv: kv[1])[:12]))


def cmd_fk_wait_back(a):
    """fk-wait-back NODES VICTIM SERVICE TIMEOUT_S OBSERVE_S: every node lists every node
    alive and lists SERVICE (the restarted victim's) again; keep polling until OBSERVE_S
    after the start and count what clients would have seen flap meanwhile: a member other
    than the victim not alive, or the victim not alive again after it was seen alive."""
    nodes = load_fk(a[0])
    victim, sid, timeout, observe = a[1], a[2], float(a[3]), float(a[4])
    names = {n["name"] for n in nodes}
    needle = id_needle(sid)
    fks = [Fk(n) for n in nodes]
    last = [None] * len(nodes)
    back_at = [None] * len(nodes)
    seen_alive = [False] * len(nodes)
    flaps = {}
    lock = threading.Lock()
    t0 = now()
    deadline = t0 + max(timeout, observe)

    def check(i):
        ms_ = members_of(fks[i])
        t = now()
        last[i] = {k: v["status"] for k, v in ms_.items() if v["status"] != "alive"}
        for name, m in ms_.items():
            if m["status"] == "alive":
                if name == victim:
                    seen_alive[i] = True
                continue
            if name != victim or seen_alive[i]:
                with lock:
                    flaps.setdefault((fks[i].name, name, m["status"]), t)
        if back_at[i] is None and all(ms_.get(n, {}).get("status") == "alive" for n in names) \
                and needle in fks[i].get("/v1/services"):
            back_at[i] = now()
        return back_at[i] is not None and now() - t0 >= observe

    go, threads, done_at, polls, errors = parallel(len(nodes), check, 0.02, deadline)
    go.set()
    join_all(threads, deadline)
    if any(t is None for t in back_at):
        bad = {nodes[i]["name"]: last[i] for i, t in enumerate(back_at) if t is None}
        fail("after restarting %s, not every node lists every member alive and %s within %.0f s: %s"
             % (victim, sid, timeout, json.dumps(bad)[:600]))
    print("ms=%.0f" % ms(max(back_at) - t0))
    print("flaps=%d" % len(flaps))
    if flaps:
        print("flaps_list=%s" % ",".join(
            "%s saw %s %s at %+.0f ms" % (o, m, s, ms(t - t0))
            for (o, m, s), t in sorted(flaps.items(), key=lambda kv: kv[1])[:12]))


def cmd_fk_load(a):
    """fk-load NODES RATE SECONDS PREFIX SEED: register RATE new services per second on
    random nodes for SECONDS (open loop: each at its scheduled time)."""
    nodes = load_fk(a[0])
    rate, secs, prefix, seed = float(a[1]), float(a[2]), a[3], int(a[4])
    rng = random.Random(seed)
    fks = [Fk(n) for n in nodes]
    count = int(rate * secs)
    t0 = now()
    late = 0
    for k in range(count):
        due = t0 + k / rate
        d = due - now()
        if d > 0:
            time.sleep(d)
        elif d < -0.05:
            late += 1
        fks[rng.randrange(len(fks))].register("%s-%d" % (prefix, k))
    # let the last second's registrations run their course inside the window too
    d = t0 + secs - now()
    if d > 0:
        time.sleep(d)
    print("count=%d" % count)
    print("seconds=%.3f" % (now() - t0))
    print("late=%d" % late)


def cmd_fk_wait_view(a):
    """fk-wait-view NODES TIMEOUT_S: every node answers the same X-Fakts-View."""
    nodes = load_fk(a[0])
    timeout = float(a[1])
    fks = [Fk(n) for n in nodes]
    t0 = now()
    while True:
        views = {}
        for f in fks:
            f.get("/v1/agent/members")
            views.setdefault(f.view, []).append(f.name)
        if len(views) == 1:
            print("ms=%.0f" % ms(now() - t0))
            return
        if now() - t0 > timeout:
            fail("X-Fakts-View still differs after %.0f s: %s"
                 % (timeout, json.dumps({k[:12]: v for k, v in views.items()})[:600]))
        time.sleep(0.05)


# ---- serf (RPC: msgpack over TCP, https://github.com/hashicorp/serf/blob/master/docs) -------

class Incomplete(Exception):
    pass


def _need(b, i, n):
    if i + n > len(b):
        raise Incomplete()


def mp_decode(b, i=0):
    _need(b, i, 1)
    c = b[i]
    i += 1
    if c <= 0x7f:
        return c, i
    if c >= 0xe0:
        return c - 0x100, i
    if 0x80 <= c <= 0x8f:
        return _mp_map(b, i, c & 0x0f)
    if 0x90 <= c <= 0x9f:
        return _mp_arr(b, i, c & 0x0f)
    if 0xa0 <= c <= 0xbf:
        return _mp_str(b, i, c & 0x1f)
    if c == 0xc0:
        return None, i
    if c == 0xc2:
        return False, i
    if c == 0xc3:
        return True, i
    fixed = {0xcc: ">B", 0xcd: ">H", 0xce: ">I", 0xcf: ">Q", 0xd0: ">b", 0xd1: ">h",
             0xd2: ">i", 0xd3: ">q", 0xca: ">f", 0xcb: ">d"}
    if c in fixed:
        n = struct.calcsize(fixed[c])
        _need(b, i, n)
        return struct.unpack_from(fixed[c], b, i)[0], i + n
    lens = {0xd9: ">B", 0xda: ">H", 0xdb: ">I", 0xc4: ">B", 0xc5: ">H", 0xc6: ">I",
            0xdc: ">H", 0xdd: ">I", 0xde: ">H", 0xdf: ">I", 0xc7: ">B", 0xc8: ">H", 0xc9: ">I"}
    if c in lens:
        n = struct.calcsize(lens[c])
        _need(b, i, n)
        ln = struct.unpack_from(lens[c], b, i)[0]
        i += n
        if c in (0xd9, 0xda, 0xdb):
            return _mp_str(b, i, ln)
        if c in (0xc4, 0xc5, 0xc6):
            _need(b, i, ln)
            return bytes(b[i:i + ln]), i + ln
        if c in (0xdc, 0xdd):
            return _mp_arr(b, i, ln)
        if c in (0xde, 0xdf):
            return _mp_map(b, i, ln)
        _need(b, i, 1 + ln)   # ext: type byte + data
        return None, i + 1 + ln
    if 0xd4 <= c <= 0xd8:   # fixext 1..16
        n = 1 + (1 << (c - 0xd4))
        _need(b, i, n)
        return None, i + n
    raise ValueError("msgpack: unknown type byte 0x%02x" % c)


def _mp_str(b, i, n):
    _need(b, i, n)
    return bytes(b[i:i + n]).decode("utf-8", "surrogateescape"), i + n


def _mp_arr(b, i, n):
    out = []
    for _ in range(n):
        v, i = mp_decode(b, i)
        out.append(v)
    return out, i


def _mp_map(b, i, n):
    out = {}
    for _ in range(n):
        k, i = mp_decode(b, i)
        v, i = mp_decode(b, i)
        out[k] = v
    return out, i


def mp_encode(o):
    if o is None:
        return b"\xc0"
    if o is True:
        return b"\xc3"
    if o is False:
        return b"\xc2"
    if isinstance(o, int):
        if 0 <= o <= 0x7f:
            return bytes([o])
        if 0 <= o <= 0xffffffff:
            return b"\xce" + struct.pack(">I", o)
        if 0 <= o:
            return b"\xcf" + struct.pack(">Q", o)
        return b"\xd3" + struct.pack(">q", o)
    if isinstance(o, str):
        e = o.encode()
        # fixstr / str16 / str32 only: the old msgpack spec (raw) had no str8
        if len(e) < 32:
            return bytes([0xa0 | len(e)]) + e
        if len(e) <= 0xffff:
            return b"\xda" + struct.pack(">H", len(e)) + e
        return b"\xdb" + struct.pack(">I", len(e)) + e
    if isinstance(o, (list, tuple)):
        head = bytes([0x90 | len(o)]) if len(o) < 16 else b"\xdc" + struct.pack(">H", len(o))
        return head + b"".join(mp_encode(x) for x in o)
    if isinstance(o, dict):
        head = bytes([0x80 | len(o)]) if len(o) < 16 else b"\xde" + struct.pack(">H", len(o))
        return head + b"".join(mp_encode(k) + mp_encode(v) for k, v in o.items())
    raise TypeError(type(o))


class Serf:
    """One RPC connection to one serf agent (what `serf members` uses)."""

    def __init__(self, node, timeout=5.0):
        self.name, self.addr = node["name"], node["rpc"]
        self.timeout = timeout
        self.sock = None

    def _connect(self):
        host, port = self.addr.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.seq = 0
        self._call("handshake", {"Version": 1}, False)

    def _read(self):
        while True:
            try:
                obj, off = mp_decode(self.buf, 0)
                self.buf = self.buf[off:]
                return obj
            except Incomplete:
                chunk = self.sock.recv(262144)
                if not chunk:
                    raise ConnectionError("serf RPC %s closed" % self.addr)
                self.buf += chunk

    def _call(self, command, body, has_answer):
        seq = self.seq
        self.seq += 1
        out = mp_encode({"Command": command, "Seq": seq})
        if body is not None:
            out += mp_encode(body)
        self.sock.sendall(out)
        head = self._read()
        if head.get("Error"):
            raise RuntimeError("serf %s %s: %s" % (self.name, command, head["Error"]))
        if head.get("Seq") != seq:
            raise RuntimeError("serf %s: answer to seq %r, expected %d" % (self.name, head.get("Seq"), seq))
        return self._read() if has_answer else None

    def call(self, command, body=None, has_answer=False):
        for attempt in (0, 1):
            try:
                if self.sock is None:
                    self._connect()
                return self._call(command, body, has_answer)
            except (OSError, ConnectionError):
                if self.sock is not None:
                    self.sock.close()
                self.sock = None
                if attempt:
                    raise

    def members(self):
        return {m["Name"]: m for m in self.call("members", None, True)["Members"]}

    def member(self, name):
        """The one member named name as this agent sees it (RPC members-filtered), or {}."""
        ms_ = self.call("members-filtered", {"Tags": {}, "Status": "", "Name": name}, True)["Members"]
        return ms_[0] if ms_ else {}

    def set_tags(self, tags):
        self.call("tags", {"Tags": tags, "DeleteTags": []})


def load_serf(path):
    nodes = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line:
                name, rpc, pid = line.split("\t")
                nodes.append({"name": name, "rpc": rpc, "pid": int(pid)})
    return nodes


def cmd_serf_wait_members(a):
    """serf-wait-members NODES COUNT TIMEOUT_S: every agent answers RPC and lists COUNT
    members alive, among them every listed node (COUNT=1: only that it answers)."""
    nodes = load_serf(a[0])
    count, timeout = int(a[1]), float(a[2])
    names = {n["name"] for n in nodes} if count > 1 else set()
    ss = [Serf(n, timeout=2.0) for n in nodes]
    last = [None] * len(nodes)

    def check(i):
        m = ss[i].members()
        alive = {k for k, v in m.items() if v["Status"] == "alive"}
        last[i] = {k: v["Status"] for k, v in m.items() if v["Status"] != "alive"}
        return len(alive) >= count and names <= alive

    t0 = now()
    deadline = t0 + timeout
    go, threads, done_at, polls, errors = parallel(len(nodes), check, 0.2, deadline)
    go.set()
    join_all(threads, deadline)
    missing = [i for i, t in enumerate(done_at) if t is None]
    if missing:
        fail("%d serf agents do not list %d members alive after %.0f s (e.g. %s: %s %s)"
             % (len(missing), count, timeout, nodes[missing[0]]["name"], last[missing[0]],
                errors[missing[0]] or ""))
    print("ms=%.0f" % ms(max(done_at) - t0))


def cmd_serf_converge(a):
    """serf-converge NODES ROUNDS POLL_MS TIMEOUT_S SEED: ROUNDS times, set tag bench=rK on
    a random agent (RPC, what `serf tags -set` does) and poll every agent's members until
    all show it."""
    nodes = load_serf(a[0])
    rounds, poll_s, timeout, seed = int(a[1]), float(a[2]) / 1000, float(a[3]), int(a[4])
    rng = random.Random(seed)
    ss = [Serf(n) for n in nodes]
    writers = [Serf(n) for n in nodes]
    for s in ss + writers:
        s.members()
    res = Rounds()
    timeouts = []
    last_node = last_val = ""
    for k in range(rounds):
        w = rng.randrange(len(nodes))
        target, val = nodes[w]["name"], "r%d" % k

        def check(i):
            return ss[i].member(target).get("Tags", {}).get("bench") == val

        t0 = now()
        writers[w].set_tags({"bench": val})
        t_put = now()
        deadline = t_put + timeout
        go, threads, done_at, polls, errors = parallel(len(nodes), check, poll_s, deadline)
        go.set()
        join_all(threads, deadline)
        if any(t is None for t in done_at):
            timeouts.append(val)
            res.last.append(ms(deadline - t0))   # censored: counted as the timeout
            lacking = {}
            for i, t in enumerate(done_at):
                if t is None:
                    try:
                        lacking[nodes[i]["name"]] = ss[i].member(target).get("Tags")
                    except Exception as e:
                        lacking[nodes[i]["name"]] = repr(e)
            detail = "bench=%s set on %s, after %.0f s still not shown by (agent: tags of %s it shows) %s%s" % (
                val, target, timeout, target, json.dumps(lacking, default=str)[:300],
                "; poll errors: " + "; ".join(e for e in errors if e)[:200] if any(errors) else "")
            print("cluster_probe: serf tag " + detail, file=sys.stderr)
            print("timeout_detail=" + detail)
            continue
        res.add(done_at, polls, t0, t_put, w)
        last_node, last_val = target, val
        time.sleep(0.25 + rng.random() * 0.1)
    res.emit()
    print("timeouts=%d" % len(timeouts))
    print("last_node=%s" % last_node)
    print("last_tag=%s" % last_val)
    if timeouts:
        sys.exit(1)


def cmd_serf_detect(a):
    """serf-detect NODES VICTIM PID POLL_MS TIMEOUT_S: kill -9 PID and poll every other
    agent until it lists VICTIM failed."""
    nodes = load_serf(a[0])
    victim, pid, poll_s, timeout = a[1], int(a[2]), float(a[3]) / 1000, float(a[4])
    others = [n for n in nodes if n["name"] != victim]
    ss = [Serf(n) for n in others]
    for s in ss:
        st = s.member(victim).get("Status")
        if st != "alive":
            fail("before the kill, %s sees %s as %s" % (s.name, victim, st))

    def check(i):
        return ss[i].member(victim).get("Status") == "failed"

    deadline = now() + timeout + 0.2
    go, threads, done_at, polls, errors = parallel(len(ss), check, poll_s, deadline)
    go.set()
    time.sleep(0.2)
    t0 = now()
    os.kill(pid, signal.SIGKILL)
    join_all(threads, deadline)
    if any(t is None for t in done_at):
        print("cluster_probe: serf: kill -9 of %s not detected everywhere within %.0f s"
              % (victim, timeout), file=sys.stderr)
        print("detected=0")
        sys.exit(1)
    print("detected=1")
    print("ms=%.0f" % ms(max(done_at) - t0))
    print("first_failed_ms=%.0f" % ms(min(done_at) - t0))


def cmd_serf_cli_check(a):
    """serf-cli-check NODE TAG < `serf members -format json`: NODE shows bench=TAG."""
    d = json.load(sys.stdin)
    for m in d.get("members", []):
        if m.get("name") == a[0]:
            if m.get("tags", {}).get("bench") == a[1]:
                print("ok=1")
                return
            fail("serf members shows %s with tags %r, expected bench=%s" % (a[0], m.get("tags"), a[1]))
    fail("serf members does not list %s" % a[0])


def cmd_stats(a):
    """stats PREFIX [X,Y,...]: median/p90/min/max of a comma-separated list."""
    xs = [float(x) for x in (a[1].split(",") if len(a) > 1 and a[1] else [])]
    emit(a[0], stats(xs), "%.0f")


COMMANDS = {
    "fk-wait-members": (cmd_fk_wait_members, 2),
    "fk-converge": (cmd_fk_converge, 6),
    "fk-own": (cmd_fk_own, 2),
    "fk-detect": (cmd_fk_detect, 6),
    "fk-wait-back": (cmd_fk_wait_back, 5),
    "fk-load": (cmd_fk_load, 5),
    "fk-wait-view": (cmd_fk_wait_view, 2),
    "serf-wait-members": (cmd_serf_wait_members, 3),
    "serf-converge": (cmd_serf_converge, 5),
    "serf-detect": (cmd_serf_detect, 5),
    "serf-cli-check": (cmd_serf_cli_check, 2),
    "stats": (cmd_stats, 1),
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS or len(sys.argv) - 2 < COMMANDS[sys.argv[1]][1]:
        print(__doc__, file=sys.stderr)
        print("commands: " + " ".join(sorted(COMMANDS)), file=sys.stderr)
        sys.exit(2)
    COMMANDS[sys.argv[1]][0](sys.argv[2:])
