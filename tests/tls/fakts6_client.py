#!/usr/bin/python3
"""A Fakts client that holds itself to fakts 6.x's transport rules, over HTTPS.

    fakts6_client.py device URL CAFILE     discovery, device authorization, polling, refresh
    fakts6_client.py inflight URL CAFILE SIGNAL_FILE
                                           one request whose body is sent in two halves: the
                                           first half, then SIGNAL_FILE is created and the
                                           client waits until it is removed, then the rest;
                                           prints the answer's status and the certificate's
                                           serial of that connection and of a new one
    fakts6_client.py serial URL CAFILE     the serial of the certificate a new connection gets

What it holds to (docs: the protocol reference, section 6.7): the certificate is verified
against CAFILE only (Python's ssl, host name included), no plain-HTTP request carries a
credential to a non-loopback host, redirects are errors, token and device endpoints must share
the discovery document's origin, and the JWT's issuer is one of the node's own. Every failure
exits 1 with a line on stderr; "device" prints the user code as "USER_CODE <code>" as soon as it
has one (the test approves it), then "OK <json>" at the end.
"""

import base64
import http.client
import json
import os
import ssl
import sys
import time
import urllib.parse

LOOPBACK = {"localhost", "127.0.0.1", "::1", "[::1]"}


def fail(message):
    print(f"fakts6_client: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def context(cafile):
    # Verifies the chain and the host name; with a cafile, the system's CAs are not loaded.
    return ssl.create_default_context(cafile=cafile)


def origin(url):
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return (parts.scheme, (parts.hostname or "").lower(), port)


class Client:
    def __init__(self, cafile):
        self.ctx = context(cafile)

    def connection(self, url):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme == "https":
            return http.client.HTTPSConnection(parts.hostname, parts.port or 443,
                                               context=self.ctx, timeout=30)
        if parts.scheme == "http":
            return http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=30)
        fail(f"not an http(s) URL: {url}")

    def request(self, method, url, body=None, headers=None, credential=False):
        parts = urllib.parse.urlsplit(url)
        if credential and parts.scheme != "https" and parts.hostname not in LOOPBACK:
            fail(f"InsecureTransportError: {url} is plain HTTP to a non-loopback host")
        conn = self.connection(url)
        path = parts.path + ("?" + parts.query if parts.query else "")
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
        except ssl.SSLCertVerificationError as err:
            fail(f"certificate verification failed for {url}: {err.verify_message}")
        finally:
            conn.close()
        if 300 <= resp.status < 400:
            fail(f"{method} {url}: redirect {resp.status} (never followed)")
        try:
            doc = json.loads(data)
        except ValueError:
            fail(f"{method} {url}: {resp.status}, not JSON: {data[:200]!r}")
        if not isinstance(doc, dict):
            fail(f"{method} {url}: not a JSON object")
        return resp.status, doc

    def form(self, url, fields):
        body = urllib.parse.urlencode(fields)
        return self.request("POST", url, body,
                            {"Content-Type": "application/x-www-form-urlencoded"}, True)


def jwt_claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def device(url, cafile):
    client = Client(cafile)
    well_known = url.rstrip("/") + "/.well-known/fakts"
    status, disco = client.request("GET", well_known,
                                   headers={"Accept": "application/json",
                                            "User-Agent": "Fakts/0.1"})
    if status != 200 or "name" not in disco:
        fail(f"discovery answered {status}: {disco}")
    if str(disco.get("protocol_version", "1")) != "2":
        fail("no compatibility mode: protocol_version is not 2")
    for key in ("token_endpoint", "device_authorization_endpoint"):
        if origin(disco.get(key) or "") != origin(well_known):
            fail(f"{key} {disco.get(key)} is not on the origin of {well_known}")
    manifest = {"identifier": "org.example.tls-app", "version": "1.0.0", "scopes": ["openid"],
                "requirements": []}
    status, auth = client.request(
        "POST", disco["device_authorization_endpoint"],
        json.dumps({"manifest": manifest, "expiration_time_seconds": 120,
                    "requested_client_kind": "development"}),
        {"Content-Type": "application/json"}, True)
    if status != 200 or auth.get("status") == "error" or auth.get("error"):
        fail(f"device authorization answered {status}: {auth}")
    if origin(auth["verification_uri_complete"]) != origin(well_known):
        fail(f"verification_uri_complete {auth['verification_uri_complete']} is elsewhere")
    print("USER_CODE", auth["user_code"], flush=True)
    token_endpoint = auth.get("token_endpoint") or disco["token_endpoint"]
    interval = max(1, int(auth.get("interval", 5)))
    deadline = time.monotonic() + int(auth["expires_in"])
    while True:
        if time.monotonic() + interval > deadline:
            fail("the code expired before it was approved")
        time.sleep(interval)  # fakts 6.x sleeps before every poll, the first one included
        status, answer = client.form(token_endpoint, {
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "device_code": auth["device_code"], "client_id": auth["client_id"]})
        error = answer.get("error")
        if error == "authorization_pending":
            continue
        if error == "slow_down":
            interval += 5
            continue
        if error or status != 200:
            fail(f"device-code grant answered {status}: {answer}")
        break
    claims = jwt_claims(answer["access_token"])
    issuer = urllib.parse.urlsplit(disco["token_endpoint"])
    if claims.get("iss") != f"{issuer.scheme}://{issuer.netloc}/lok":
        fail(f"the token's issuer {claims.get('iss')} is not this node's")
    status, refreshed = client.form(token_endpoint, {
        "grant_type": "refresh_token", "refresh_token": answer["refresh_token"],
        "client_id": auth["client_id"]})
    if status != 200 or not refreshed.get("access_token"):
        fail(f"refresh grant answered {status}: {refreshed}")
    print("OK", json.dumps({"iss": claims["iss"], "client_id": auth["client_id"],
                            "refreshed": refreshed["refresh_token"] != answer["refresh_token"]}),
          flush=True)


def serial_of(sock):
    return sock.getpeercert()["serialNumber"]  # hex, of the verified peer certificate


def serial(url, cafile):
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPSConnection(parts.hostname, parts.port, context=context(cafile),
                                       timeout=30)
    conn.connect()
    print("SERIAL", serial_of(conn.sock), flush=True)
    conn.close()


def inflight(url, cafile, signal_file):
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPSConnection(parts.hostname, parts.port, context=context(cafile),
                                       timeout=60)
    conn.connect()
    before = serial_of(conn.sock)
    body = json.dumps({"manifest": {"identifier": "org.example.inflight", "version": "1.0.0",
                                    "scopes": ["openid"], "requirements": []},
                       "expiration_time_seconds": 60}).encode()
    half = len(body) // 2
    conn.putrequest("POST", "/lok/o/app-authorization/")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body[:half])
    open(signal_file, "w").close()
    deadline = time.monotonic() + 30
    while os.path.exists(signal_file):
        if time.monotonic() > deadline:
            fail(f"{signal_file} was not removed within 30 s")
        time.sleep(0.05)
    conn.send(body[half:])
    resp = conn.getresponse()
    answer = json.loads(resp.read())
    conn.close()
    print("INFLIGHT", resp.status, "user_code" in answer, before, flush=True)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "device":
        device(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "serial":
        serial(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 5 and sys.argv[1] == "inflight":
        inflight(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        fail(__doc__)


if __name__ == "__main__":
    main()
