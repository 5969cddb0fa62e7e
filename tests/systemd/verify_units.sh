#!/bin/sh
# The systemd units in packaging/systemd pass `systemd-analyze verify` with no
# complaint at all (it exits 0 on unknown keys and bad values, printing a
# warning: any output fails this test), once their @FK_BINDIR@ names the
# directory of the built binary, as `make install` fills it with the install
# prefix. A planted typo must make verify complain, so the check can fail.
#
# usage: verify_units.sh FAKTS_NODE_BINARY SOURCE_DIR
# Exit 0 pass, 1 fail, 77 skip (no systemd-analyze: apt-get install systemd).
set -u
bin=$1
src=$2
if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "systemd-analyze not found (Debian package systemd): skipped"
    exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/system" "$tmp/user" "$tmp/run"
chmod 700 "$tmp/run"
bindir=$(dirname "$bin")
sed "s|@FK_BINDIR@|$bindir|g" "$src/packaging/systemd/fakts-node.service.in" \
    >"$tmp/system/fakts-node.service"
sed "s|@FK_BINDIR@|$bindir|g" "$src/packaging/systemd/user/fakts-node.service.in" \
    >"$tmp/user/fakts-node.service"
fail=0

# $1: system or user; $2: the unit file. Prints what verify said.
verify() {
    if [ "$1" = user ]; then
        # A user manager needs a runtime dir, even for verify.
        XDG_RUNTIME_DIR="$tmp/run" systemd-analyze --user verify --man=no "$2" 2>&1
    else
        systemd-analyze verify --man=no "$2" 2>&1
    fi
}

for kind in system user; do
    unit="$tmp/$kind/fakts-node.service"
    if ! out=$(verify "$kind" "$unit") || [ -n "$out" ]; then
        echo "FAIL: the $kind unit does not verify cleanly:"
        echo "$out"
        fail=1
    else
        echo "ok: the $kind unit verifies cleanly"
    fi
    grep -q "^ExecStart=$bindir/fakts-node agent " "$unit" || {
        echo "FAIL: the $kind unit does not start $bindir/fakts-node agent"
        fail=1
    }
    grep -q '^ExecReload=/bin/kill -HUP \$MAINPID$' "$unit" || {
        echo "FAIL: the $kind unit does not reload with SIGHUP"
        fail=1
    }
    # The planted typo: verify must complain about it.
    sed 's/^NoNewPrivileges=/NoNewPrivilegez=/' "$unit" >"$tmp/$kind/typo.service"
    if [ -z "$(verify "$kind" "$tmp/$kind/typo.service")" ]; then
        echo "FAIL: systemd-analyze verify said nothing about an unknown key in the $kind unit"
        fail=1
    fi
done

# The system unit runs unprivileged and hardened; the user unit says how to
# keep running after logout.
for line in User=fakts NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
    CapabilityBoundingSet= StateDirectory=fakts-node; do
    grep -qx "$line" "$tmp/system/fakts-node.service" || {
        echo "FAIL: the system unit lacks $line"
        fail=1
    }
done
grep -q 'loginctl enable-linger' "$tmp/user/fakts-node.service" || {
    echo "FAIL: the user unit does not mention loginctl enable-linger"
    fail=1
}
grep -q '^User=' "$tmp/user/fakts-node.service" && {
    echo "FAIL: the user unit must not set User= (a user manager cannot switch users)"
    fail=1
}
exit $fail
