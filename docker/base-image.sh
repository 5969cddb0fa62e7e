#!/usr/bin/env bash
# Build the local Debian 12 base images docker/Dockerfile starts from, with no image registry:
#
#   fakts-build:bookworm   compiler, CMake and the -dev packages (the Dockerfile's build stage)
#   fakts-base:bookworm    only the runtime libraries (the Dockerfile's runtime stage)
#
# Both come from one `debootstrap --variant=minbase` root: apt installs the runtime libraries
# into it, it is imported as fakts-base, then apt adds the build packages and it is imported
# again as fakts-build. Every package is installed here, so `docker build` needs no network.
#
#   docker/base-image.sh            build the images unless both already exist
#   docker/base-image.sh --force    rebuild them
#
# Environment:
#   FAKTS_DEBIAN_MIRROR    Debian mirror (default: the bookworm mirror apt on this machine uses)
#   FAKTS_SECURITY_MIRROR  Debian security mirror (default: likewise, else deb.debian.org)
#   FAKTS_BASE_IMAGE       runtime image name (default fakts-base:bookworm)
#   FAKTS_BUILD_IMAGE      build image name (default fakts-build:bookworm)
#   FAKTS_BASE_CACHE       .deb cache kept between runs (default ~/.cache/fakts-base)
#   FAKTS_BASE_WORKDIR     where the temporary root is made (default /var/tmp), in a tmpfs
#                          mounted there unless FAKTS_BASE_TMPFS=0
#
# Needs root (debootstrap, chroot, mount) and debootstrap (installed with apt-get if missing).
set -euo pipefail

SUITE=bookworm
RUNTIME_IMAGE=${FAKTS_BASE_IMAGE:-fakts-base:bookworm}
BUILD_IMAGE=${FAKTS_BUILD_IMAGE:-fakts-build:bookworm}
CACHE=${FAKTS_BASE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fakts-base}
WORKDIR_PARENT=${FAKTS_BASE_WORKDIR:-/var/tmp}

# Runtime libraries of fakts-node (Debian 12 names). libzmq5/libczmq4 are for the cluster plane.
RUNTIME_PKGS=(libzmq5 libczmq4 libmsgpackc2 liblmdb0 libssl3 libmicrohttpd12 libjansson4
              libyaml-0-2 libcurl4)
# What `cmake --build --target fakts-node` needs (Makefile DEPS without the test/fuzz tools);
# gcc + make instead of build-essential: no C++ compiler is needed.
BUILD_PKGS=(gcc libc6-dev make cmake pkg-config libzmq3-dev libczmq-dev libmsgpack-dev
            liblmdb-dev libssl-dev libmicrohttpd-dev libjansson-dev libyaml-dev
            libcurl4-openssl-dev)

FORCE=0
for arg in "$@"; do
    case $arg in
        --force) FORCE=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "base-image.sh: unknown argument: $arg (try --help)" >&2; exit 64 ;;
    esac
done

T0=$(date +%s)
log() { printf '[base-image %4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }
die() { printf 'base-image.sh: %s\n' "$*" >&2; exit 1; }

docker info >/dev/null 2>&1 || die "cannot talk to the Docker engine (docker info failed)"

have_image() { docker image inspect "$1" >/dev/null 2>&1; }
if [ "$FORCE" = 0 ] && have_image "$RUNTIME_IMAGE" && have_image "$BUILD_IMAGE"; then
    log "$RUNTIME_IMAGE and $BUILD_IMAGE exist; nothing to do (--force rebuilds them)"
    exit 0
fi

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, chroot and mount need it); try sudo $0"

# ---------------------------------------------------------------------------------------------
# The mirrors apt on this machine uses: "URI SUITE" pairs from one-line and deb822 sources.
apt_sources() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        awk '$1 == "deb" { i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                          print $i, $(i + 1) }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        awk 'function flush() { if (types ~ /(^| )deb( |$)/)
                                   for (u in uris) for (s in suites) print uris[u], suites[s]
                               delete uris; delete suites; types = "" }
             /^[ \t]*#/ { next }
             /^[ \t]*$/ { flush(); next }
             tolower($1) == "types:"  { types = substr($0, index($0, ":") + 1) }
             tolower($1) == "uris:"   { for (i = 2; i <= NF; i++) uris[i] = $i }
             tolower($1) == "suites:" { for (i = 2; i <= NF; i++) suites[i] = $i }
             END { flush() }' "$f"
    done
}
mirror_for() { apt_sources | awk -v s="$1" '$2 == s { sub(/\/$/, "", $1); print $1; exit }'; }

MIRROR=${FAKTS_DEBIAN_MIRROR:-$(mirror_for "$SUITE")}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY=${FAKTS_SECURITY_MIRROR:-$(mirror_for "$SUITE-security")}
SECURITY=${SECURITY:-http://deb.debian.org/debian-security}
log "Debian mirror: $MIRROR   security: $SECURITY"

if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q \
        --no-install-recommends debootstrap >/dev/null
fi

CHROOT_MOUNTS=()   # proc, dev and the apt cache, while apt runs in the root
WORK_MOUNTS=()     # the tmpfs holding the root
umount_list() {
    local i
    for (( i = $# ; i >= 1; i-- )); do
        umount "${!i}" 2>/dev/null || umount -l "${!i}" 2>/dev/null || true
    done
}
unmount_chroot() { umount_list ${CHROOT_MOUNTS[@]+"${CHROOT_MOUNTS[@]}"}; CHROOT_MOUNTS=(); }
cleanup() {
    unmount_chroot
    umount_list ${WORK_MOUNTS[@]+"${WORK_MOUNTS[@]}"}   # a tmpfs goes with its content
    # Never delete through a mount that could not be undone.
    if [ -n "${WORK:-}" ] && ! grep -q " $WORK" /proc/mounts; then rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$CACHE/debootstrap" "$CACHE/apt/partial"
WORK=$(mktemp -d "$WORKDIR_PARENT/fakts-base.XXXXXX")
ROOT=$WORK/rootfs
# The root lives in a private tmpfs when it can (dpkg's fsyncs then cost nothing): ~1 GB of RAM.
if [ "${FAKTS_BASE_TMPFS:-1}" = 1 ] && mount -t tmpfs -o size=3g,mode=0755 fakts-base "$WORK"; then
    WORK_MOUNTS+=("$WORK")
    log "work dir $WORK (tmpfs)"
else
    log "work dir $WORK (disk)"
fi

mount_chroot() {
    mount -t proc proc "$ROOT/proc" && CHROOT_MOUNTS+=("$ROOT/proc")
    mount --bind /dev "$ROOT/dev" && CHROOT_MOUNTS+=("$ROOT/dev")
    mount --bind "$CACHE/apt" "$ROOT/var/cache/apt/archives" \
        && CHROOT_MOUNTS+=("$ROOT/var/cache/apt/archives")
}
in_root() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
                DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 "$@"; }
# Run apt-get in the root, its output in $WORK/apt.log; print the packages it set up.
apt_get() {
    if ! in_root apt-get -y -q -o Dpkg::Use-Pty=0 "$@" > "$WORK/apt.log" 2>&1; then
        tail -n 30 "$WORK/apt.log" >&2
        die "apt-get $* failed in the root (log above)"
    fi
    local set_up
    set_up=$(awk '/^Setting up/ { sub(/:amd64/, "", $3); printf "%s ", $3 }' "$WORK/apt.log")
    [ -z "$set_up" ] || printf '    set up %s packages: %s\n' "$(wc -w <<< "$set_up")" "$set_up" \
        | fold -s -w 100 | sed '2,$s/^/        /'
}
check_installed() {
    local p
    for p in "$@"; do
        in_root dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' \
            || die "package $p did not install"
    done
}

# Import the root as an image, without apt indexes, caches, logs, man pages or device nodes.
import_root() {
    local image=$1 description=$2
    tar -C "$ROOT" --numeric-owner -c \
        --exclude=./proc/* --exclude=./sys/* --exclude=./dev/* --exclude=./tmp/* \
        --exclude=./var/lib/apt/lists/* --exclude=./var/cache/apt/* --exclude=./var/log/*.log \
        --exclude=./var/cache/debconf/*-old --exclude=./usr/share/man/* \
        --exclude=./usr/share/info/* --exclude=./usr/sbin/policy-rc.d \
        --exclude=./etc/dpkg/dpkg.cfg.d/90fakts-unsafe-io . \
    | docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["/bin/bash"]' \
        --change "LABEL org.opencontainers.image.description=\"$description\"" \
        --change "LABEL org.opencontainers.image.source=fakts-node/docker/base-image.sh" \
        --message "fakts-node docker/base-image.sh: debootstrap $SUITE from $MIRROR" \
        - "$image" >/dev/null
    log "imported $image ($(docker image inspect -f '{{.Size}}' "$image" \
        | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
}

# ---------------------------------------------------------------------------------------------
log "debootstrap --variant=minbase $SUITE into $ROOT (cache $CACHE/debootstrap)"
debootstrap --variant=minbase --cache-dir="$CACHE/debootstrap" "$SUITE" "$ROOT" "$MIRROR" \
    > "$WORK/debootstrap.log" 2>&1 \
    || { tail -n 30 "$WORK/debootstrap.log" >&2; die "debootstrap failed (log above)"; }
log "debootstrap done ($(du -sm "$ROOT" | cut -f1) MB)"

# The same suites as this machine: the release, its updates and its security fixes.
rm -f "$ROOT/etc/apt/sources.list"
cat > "$ROOT/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
cat > "$ROOT/etc/apt/apt.conf.d/90fakts" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
EOF
# As Debian's slim images: no documentation but the copyright notices, no manuals, no
# translations, for what is installed now and what dpkg installs later.
cat > "$ROOT/etc/dpkg/dpkg.cfg.d/90fakts-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
EOF
find "$ROOT/usr/share/doc" -mindepth 1 -not -type d -not -name copyright -delete
find "$ROOT/usr/share/doc" -mindepth 1 -type d -empty -delete
find "$ROOT/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
find "$ROOT/usr/share/man" "$ROOT/usr/share/info" "$ROOT/usr/share/lintian" -mindepth 1 \
    -maxdepth 1 -exec rm -rf {} + 2>/dev/null || true
# Only while building (both excluded from the images): no service starts, no fsync per file.
printf '#!/bin/sh\nexit 101\n' > "$ROOT/usr/sbin/policy-rc.d"
chmod 755 "$ROOT/usr/sbin/policy-rc.d"
echo force-unsafe-io > "$ROOT/etc/dpkg/dpkg.cfg.d/90fakts-unsafe-io"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"

mount_chroot
log "apt-get update + upgrade ($SUITE, $SUITE-updates, $SUITE-security)"
apt_get update
apt_get dist-upgrade
log "installing the runtime libraries: ${RUNTIME_PKGS[*]}"
apt_get install "${RUNTIME_PKGS[@]}"
check_installed "${RUNTIME_PKGS[@]}"
: > "$ROOT/etc/resolv.conf"       # Docker provides its own at run time
unmount_chroot
import_root "$RUNTIME_IMAGE" "fakts-node runtime base: Debian $SUITE minbase + runtime libraries"

cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
mount_chroot
# fakts-node is C, but libmsgpack-dev depends on the C++ headers, which depend on Boost's:
# 15,000 files no build reads. Leaving them out halves the build image's files, and every
# `docker build` step costs time per file on a fuse-overlayfs engine.
echo 'path-exclude /usr/include/boost/*' > "$ROOT/etc/dpkg/dpkg.cfg.d/90fakts-no-boost"
log "installing the build packages: ${BUILD_PKGS[*]}"
apt_get install "${BUILD_PKGS[@]}"
check_installed "${BUILD_PKGS[@]}"
: > "$ROOT/etc/resolv.conf"
unmount_chroot
import_root "$BUILD_IMAGE" "fakts-node build base: Debian $SUITE minbase + compiler and -dev packages"

log "done: $RUNTIME_IMAGE and $BUILD_IMAGE"
