#!/usr/bin/python3
"""What an app's Fakts answer says about one requirement, as the app gets it (v2 redeem grant).

    app_answer.py BASE_URL REDEEM_TOKEN SERVICE

Redeems REDEEM_TOKEN at BASE_URL/lok/o/token/ with a manifest that needs SERVICE under the key
"svc" (optional, so the answer comes also while no instance is there; redeeming the same
manifest again gives the same client, fresh tokens and a freshly composed envelope), and prints
one line: the alias the answer offers, "HOST:PORT", or "none" with the requirement's status.
Exits 1 with a line on stderr when the node refuses the grant.
"""

import json
import sys
import urllib.error
import urllib.parse
import urllib.request


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    base, token, service = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]
    manifest = {"identifier": "org.example.hpc-app", "version": "1.0.0", "scopes": ["openid"],
                "requirements": [{"key": "svc", "service": service, "optional": True}]}
    body = urllib.parse.urlencode({"grant_type": "urn:fakts:grant-type:redeem",
                                   "redeem_token": token,
                                   "manifest": json.dumps(manifest)}).encode()
    request = urllib.request.Request(base + "/lok/o/token/", data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            answer = json.load(resp)
    except urllib.error.HTTPError as err:
        sys.exit(f"app_answer: the node refused the redeem grant: {err.code} {err.read()[:300]!r}")
    instance = (answer.get("instances") or {}).get("svc")
    if instance and instance.get("aliases"):
        alias = instance["aliases"][0]
        print(f"{alias['host']}:{alias['port']}")
    else:
        print("none", (answer.get("statuses") or {}).get("svc"))


if __name__ == "__main__":
    main()
