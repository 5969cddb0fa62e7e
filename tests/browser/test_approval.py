#!/usr/bin/python3
"""The approval page end to end in headless Chromium.

A fakts 6.x-style client (urllib, fakts-protocol.md §1, §6.1, §6.2) starts a
device flow against a fresh node; the test opens the verification_uri_complete
it got in Chromium, logs in with the admin token, approves, and checks that the
client polling in another thread receives its access token and the registered
service. It saves screenshots of the approval page, the result page and the
dashboard, where it revokes the app.

usage: test_approval.py FAKTS_NODE_BINARY SCREENSHOT_DIR

Exit status: 0 passed, 1 failed, 77 skipped (no chromium, chromedriver or
python3-selenium: Debian's chromium, chromium-driver, python3-selenium).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
DEADLINE_S = 120

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:
    print("SKIP: python3-selenium is not installed")
    sys.exit(77)

MANIFEST = {
    "identifier": "org.example.browser-app",
    "version": "2.1.0",
    "author": "unknown",
    "description": "Segments cells in <b>live</b> microscopy images; needs rekuest to run tasks.",
    "logo": None,
    "scopes": ["openid", "read"],
    "entrypoint": "app",
    "requirements": [
        {"key": "rekuest", "service": "live.arkitekt.rekuest", "optional": False,
         "description": "task broker"},
        {"key": "mikro", "service": "live.arkitekt.mikro", "optional": True,
         "description": "image store"},
    ],
    "device_id": None,
    "public_sources": [],
}

SERVICE = {
    "id": "rekuest-1",
    "service": "live.arkitekt.rekuest",
    "aliases": [{"host": "10.0.0.5", "port": 8090, "path": "rekuest", "ssl": False,
                 "challenge": "ht"}],
}


def http(method, url, body=None, headers=None):
    """One request; returns (status, parsed JSON or None)."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            status, text = answer.status, answer.read()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, None


class Node:
    """A fakts-node agent on 127.0.0.1 with its own data dir."""

    def __init__(self, binary, root):
        self.data = os.path.join(root, "data")
        self.log = open(os.path.join(root, "agent.log"), "wb")
        env = {k: v for k, v in os.environ.items() if not k.startswith("FAKTS_")}
        self.proc = subprocess.Popen(
            [binary, "agent", "--data-dir", self.data, "--node", "browser-node",
             "--http", "127.0.0.1:0", "--gossip", "127.0.0.1:0"],
            stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 30
        agent_file = os.path.join(self.data, "agent.json")
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("the agent exited with %d" % self.proc.returncode)
            try:
                with open(agent_file) as f:
                    info = json.load(f)
                if info.get("pid") == self.proc.pid:
                    break
            except (OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the agent did not write agent.json within 30 s")
            time.sleep(0.05)
        self.base = "http://" + info["http"]
        with open(os.path.join(self.data, "admin-token")) as f:
            self.token = f.read().strip()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def start_device_flow(base):
    """Discovery and app-authorization exactly as fakts 6.x sends them."""
    status, doc = http("GET", base + "/.well-known/fakts",
                       headers={"Accept": "application/json", "User-Agent": "Fakts/0.1"})
    assert status == 200 and doc["protocol_version"] == "2", (status, doc)
    payload = {"manifest": MANIFEST, "expiration_time_seconds": 300, "redirect_uris": [],
               "requested_client_kind": "development", "requested_client_role": "interface"}
    status, answer = http("POST", doc["device_authorization_endpoint"],
                          body=json.dumps(payload).encode(),
                          headers={"Content-Type": "application/json",
                                   "Accept": "application/json"})
    assert status == 200 and answer["status"] == "granted", (status, answer)
    return doc, answer


class Poller(threading.Thread):
    """The client's polling loop (§6.2): wait the interval before every
    poll, +5 s on slow_down, continue on authorization_pending."""

    def __init__(self, token_endpoint, answer):
        super().__init__(daemon=True)
        self.url = answer.get("token_endpoint") or token_endpoint
        self.form = urllib.parse.urlencode({
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "device_code": answer["device_code"], "client_id": answer["client_id"]}).encode()
        self.interval = max(1, int(answer["interval"]))
        self.stopping = threading.Event()
        self.result = None

    def run(self):
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            if self.stopping.wait(self.interval):
                return
            status, body = http("POST", self.url, body=self.form, headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json"})
            error = (body or {}).get("error")
            if error == "slow_down":
                self.interval += 5
            elif error != "authorization_pending":
                self.result = (status, body)
                return


def browser(profile):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1200,1000", "--user-data-dir=" + profile,
                "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 64
    binary, shots = sys.argv[1], sys.argv[2]
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        print("SKIP: %s or %s missing (apt-get install chromium chromium-driver)"
              % (CHROMIUM, CHROMEDRIVER))
        return 77
    os.makedirs(shots, exist_ok=True)
    root = tempfile.mkdtemp(prefix="fk-browser-")
    nodes = []
    try:
        result = run(binary, shots, root, nodes)
    finally:
        # A sanitizer finding or a leak makes the agent exit non-zero.
        if nodes and nodes[0].stop() != 0:
            print("FAIL: the agent exited with %s; its log: %s/agent.log"
                  % (nodes[0].proc.returncode, root))
            result = 1
        if result == 0:
            shutil.rmtree(root, ignore_errors=True)
    return result


def run(binary, shots, root, nodes):
    driver = poller = None
    try:
        node = Node(binary, root)
        nodes.append(node)
        status, _ = http("PUT", node.base + "/v1/services", body=json.dumps(SERVICE).encode(),
                         headers={"Authorization": "Bearer " + node.token,
                                  "Content-Type": "application/json"})
        assert status == 200, "service registration answered %d" % status

        doc, answer = start_device_flow(node.base)
        poller = Poller(doc["token_endpoint"], answer)
        poller.start()
        link = answer["verification_uri_complete"]
        assert link == node.base + "/configure/" + answer["user_code"], link

        driver = browser(os.path.join(root, "chromium"))
        wait = WebDriverWait(driver, 30)
        driver.get(link)
        # No session yet: the node sends the browser to its login.
        wait.until(EC.presence_of_element_located((By.ID, "secret")))
        assert "/ui/login" in driver.current_url, driver.current_url
        driver.find_element(By.ID, "secret").send_keys(node.token)
        driver.find_element(By.CSS_SELECTOR, "form.stack button[type=submit]").click()

        wait.until(EC.presence_of_element_located((By.ID, "approve")))
        assert driver.current_url == link, driver.current_url
        page = driver.find_element(By.TAG_NAME, "main").text
        for expected in ("org.example.browser-app", "2.1.0", "Segments cells in <b>live</b>",
                         "rekuest-1@browser-node", "unavailable", answer["user_code"]):
            assert expected in page, "approval page lacks %r:\n%s" % (expected, page)
        cookie = driver.get_cookie("fakts_session")
        assert cookie and cookie["httpOnly"] and cookie.get("sameSite") == "Strict", cookie
        driver.save_screenshot(os.path.join(shots, "approval.png"))

        driver.find_element(By.ID, "approve").click()
        wait.until(EC.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Approved"))
        driver.save_screenshot(os.path.join(shots, "approved.png"))

        poller.join(DEADLINE_S)
        assert poller.result is not None, "the polling client got no answer in time"
        status, envelope = poller.result
        assert status == 200, (status, envelope)
        assert envelope["access_token"].count(".") == 2, envelope
        rekuest = envelope["instances"]["rekuest"]
        assert rekuest["service"] == "live.arkitekt.rekuest", rekuest
        assert "mikro" not in envelope["instances"], envelope["instances"]

        # A second app waits, so the dashboard shows a pending code too.
        _, second = start_device_flow(node.base)
        driver.get(node.base + "/ui/")
        wait.until(EC.text_to_be_present_in_element((By.ID, "updated"), "updated"))
        wait.until(EC.text_to_be_present_in_element((By.ID, "codes"), second["user_code"]))
        dashboard = driver.find_element(By.TAG_NAME, "main").text
        for expected in ("browser-node", "alive", "rekuest-1", "live.arkitekt.rekuest"):
            assert expected in dashboard, "dashboard lacks %r:\n%s" % (expected, dashboard)
        driver.save_screenshot(os.path.join(shots, "dashboard.png"))

        # The approved app is listed with who approved it; its Revoke
        # button (a form the script builds with the page's CSRF token)
        # revokes it, and the list no longer has it.
        wait.until(EC.text_to_be_present_in_element((By.ID, "apps"), "org.example.browser-app"))
        apps = driver.find_element(By.ID, "apps").text
        assert "admin-token" in apps, "apps table lacks who approved:\n%s" % apps
        driver.find_element(By.CSS_SELECTOR, "#apps button[type=submit]").click()
        wait.until(EC.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Revoked"))
        driver.save_screenshot(os.path.join(shots, "revoked.png"))
        driver.get(node.base + "/ui/")
        wait.until(EC.text_to_be_present_in_element((By.ID, "updated"), "updated"))
        assert driver.find_element(By.ID, "apps-empty").is_displayed(), \
            driver.find_element(By.ID, "apps").text
        print("PASS: approved in Chromium, the client got its configuration, revoked from the "
              "dashboard; screenshots in " + shots)
        return 0
    except Exception as error:  # a failed assertion, a timeout, a dead agent: all fail
        print("FAIL: %s: %s" % (type(error).__name__, error))
        if driver:
            driver.save_screenshot(os.path.join(shots, "failure.png"))
        return 1
    finally:
        if poller:
            poller.stopping.set()
        if driver:
            driver.quit()




if __name__ == "__main__":
    sys.exit(main())
