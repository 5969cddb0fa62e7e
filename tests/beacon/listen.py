"""A LAN beacon listener as the Fakts clients have it (protocol section 9), for netns_beacon.sh.

It binds 0.0.0.0:PORT like fakts-next's FirstAdvertisedDiscovery and the orkestrator, and runs in
one of two modes:

  receive PORT READY_FILE EXPECT_URL ROUNDS DEADLINE_S
      Wait (at most DEADLINE_S) until ROUNDS rounds of both phrases arrived: "beacon-fakts_next"
      and "beacon-fakts", each followed by exactly {"url": EXPECT_URL}, the bytes the reference
      advertisers send. Consecutive rounds must be at least half an interval apart (no flood;
      the agent runs with a 1 s interval). Then GET {url}.well-known/fakts as a client does:
      the URL as advertised, no scheme guessing, no slash appending; it must answer HTTP 200
      with a JSON object holding "name".
  silence PORT READY_FILE AGENT_FILE QUIET_S DEADLINE_S
      Receive until AGENT_FILE (written by an agent once it serves) has existed for QUIET_S
      seconds; any datagram at all fails. Fails too when AGENT_FILE does not appear within
      DEADLINE_S.

READY_FILE is created once the socket is bound, so the caller starts the agent only then.
Exit status 0 on success, 1 with a "FAIL:" line otherwise.
"""

import json
import os
import socket
import sys
import time
import urllib.request

PHRASES = ("beacon-fakts_next", "beacon-fakts")


def fail(message):
    print("FAIL: " + message, file=sys.stderr)
    sys.exit(1)


def bind(port, ready_file):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", port))
    with open(ready_file, "w", encoding="ascii") as ready:
        ready.write("bound\n")
    return sock


def parse(data):
    """The phrase and the payload of one datagram; the longer phrase is tried first, since
    "beacon-fakts_next{" also starts with "beacon-fakts"."""
    for phrase in PHRASES:
        if data.startswith(phrase.encode() + b"{"):
            return phrase, data[len(phrase):]
    fail("datagram without a known phrase: %r" % data)
    return None, None


def receive(port, ready_file, expect_url, rounds, deadline_s):
    sock = bind(port, ready_file)
    deadline = time.monotonic() + deadline_s
    seen = {phrase: [] for phrase in PHRASES}
    while min(len(times) for times in seen.values()) < rounds:
        left = deadline - time.monotonic()
        if left <= 0:
            fail("after %.0f s: %s" % (deadline_s, {p: len(t) for p, t in seen.items()}))
        sock.settimeout(left)
        try:
            data, sender = sock.recvfrom(2048)
        except socket.timeout:
            continue
        phrase, payload = parse(data)
        expected = json.dumps({"url": expect_url}).encode()
        if payload != expected:
            fail("%s from %s carries %r, want %r" % (phrase, sender[0], payload, expected))
        seen[phrase].append(time.monotonic())
        print("received %s from %s: %s" % (phrase, sender[0], data.decode()))
    for phrase, times in seen.items():
        gaps = [b - a for a, b in zip(times, times[1:])]
        if any(gap < 0.5 for gap in gaps):
            fail("%s rounds only %s s apart with a 1 s interval" % (phrase, gaps))
    url = json.loads(payload)["url"]
    with urllib.request.urlopen(url + ".well-known/fakts", timeout=5) as answer:
        status = answer.status
        document = json.loads(answer.read())
    if status != 200 or not isinstance(document, dict) or not isinstance(document.get("name"), str):
        fail("GET %s.well-known/fakts: %s %r" % (url, status, document))
    print("GET %s.well-known/fakts: %d, name %s" % (url, status, document["name"]))


def silence(port, ready_file, agent_file, quiet_s, deadline_s):
    sock = bind(port, ready_file)
    deadline = time.monotonic() + deadline_s
    quiet_until = None
    while True:
        now = time.monotonic()
        if quiet_until is None and os.path.exists(agent_file):
            quiet_until = now + quiet_s
        if quiet_until is not None and now >= quiet_until:
            print("no datagram while the agent served for %.0f s" % quiet_s)
            return
        if quiet_until is None and now >= deadline:
            fail("%s did not appear within %.0f s" % (agent_file, deadline_s))
        # Short waits: the agent file is polled between them.
        sock.settimeout(0.1)
        try:
            data, sender = sock.recvfrom(2048)
        except socket.timeout:
            continue
        fail("a datagram from %s without --beacon: %r" % (sender[0], data))


def main(argv):
    if len(argv) == 7 and argv[1] == "receive":
        receive(int(argv[2]), argv[3], argv[4], int(argv[5]), float(argv[6]))
    elif len(argv) == 7 and argv[1] == "silence":
        silence(int(argv[2]), argv[3], argv[4], float(argv[5]), float(argv[6]))
    else:
        fail("usage: listen.py receive|silence ... (see the module's docstring)")


if __name__ == "__main__":
    main(sys.argv)
