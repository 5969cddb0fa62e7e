#!/usr/bin/env bash
# cmake --install of the static build (what make install PREFIX=... runs) into a prefix of the
# caller's own, no root needed:
#
#   install  cmake --install BUILD_DIR --prefix TMP/prefix: exactly the binary, TMP/prefix/
#            bin/fakts-node, and the two systemd units (lib/systemd/system and lib/systemd/user)
#            land, the install manifest names nothing outside TMP/prefix, and each unit's
#            ExecStart names the binary under TMP/prefix (the prefix given at install time,
#            not the one the build was configured with)
#   run      the installed file is the static one (no program interpreter), and a user who is
#            not root (nobody, through setpriv when this runs as root) runs its --version
#   cleanup  TMP removed (trap)
#
# Usage: tests/static/install.sh [BUILD_DIR]   (default: build-static of this checkout)
# Exit status: 0 when every check passed; 77 (skipped) only when the static binary was not built
# (make static); 1 with a "FAIL:" line naming the check otherwise.
set -euo pipefail

ROOT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${1:-$ROOT_DIR/build-static}

say() { printf '[install] %s\n' "$*"; }
fail() { printf '[install] FAIL: %s\n' "$*" >&2; exit 1; }

if [ ! -x "$BUILD/fakts-node" ]; then
    printf '[install] SKIP: no static binary at %s (make static builds it)\n' "$BUILD/fakts-node" >&2
    exit 77
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
chmod 755 "$TMP"   # so that nobody may run what is installed under it

# --- install ---
cmake --install "$BUILD" --prefix "$TMP/prefix" >"$TMP/install.log" 2>&1 \
    || fail "install: cmake --install $BUILD (exit $?): $(cat "$TMP/install.log")"
files=$(cd "$TMP/prefix" && find . -type f -o -type l | sort)
want="./bin/fakts-node
./lib/systemd/system/fakts-node.service
./lib/systemd/user/fakts-node.service"
[ "$files" = "$want" ] || fail "install: expected the binary and two units, got: $files"
outside=$(grep -v "^$TMP/prefix/" "$BUILD/install_manifest.txt" || true)
[ -z "$outside" ] || fail "install: the manifest names files outside the prefix: $outside"
for kind in system user; do
    unit=$TMP/prefix/lib/systemd/$kind/fakts-node.service
    grep -q "^ExecStart=$TMP/prefix/bin/fakts-node agent " "$unit" \
        || fail "install: the $kind unit does not start $TMP/prefix/bin/fakts-node: $(grep ExecStart "$unit")"
done
say "install: $TMP/prefix/bin/fakts-node and its two units, nothing else"

# --- run ---
BIN=$TMP/prefix/bin/fakts-node
if readelf -l "$BIN" | grep -q 'Requesting program interpreter'; then
    fail "run: the installed binary has a program interpreter (not the static one)"
fi
if [ "$(id -u)" = 0 ]; then
    run_user() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
    user=nobody
else
    run_user() { "$@"; }
    user=$(id -un)
fi
version=$(run_user "$BIN" --version 2>&1) || fail "run: $BIN --version as $user (exit $?): $version"
case $version in *fakts-node*) ;; *) fail "run: --version printed: $version" ;; esac
say "run: as $user: $version"
say "PASS"
