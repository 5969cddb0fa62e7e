#!/bin/bash
# static-deps.sh DIR: build the four dependencies whose Debian 12 static
# archives cannot be linked into a static fakts-node, from Debian's own
# source packages (apt-get source), into DIR/prefix (lib/*.a, include,
# lib/pkgconfig). Everything else comes from Debian's -dev packages.
#
#   zeromq3  libzmq.a references GSSAPI (no libkrb5 .a in Debian): built with
#            its CMake, which has no GSSAPI, PGM, NORM or libbsd.
#   czmq     libczmq.a references libsystemd, NSS, libcurl, liblz4 and
#            libuuid: built without all of them.
#   curl     libcurl.a pulls nghttp2, librtmp, libpsl, LDAP, Kerberos (no
#            .a): built for HTTP and HTTPS over OpenSSL only, no client
#            binary.
#   gnutls28 libgnutls.a references p11-kit (no .a, and its source package
#            is not on the mirror): built without p11-kit, TPM, IDN, the
#            tools, the C++ library and DANE.
#
# Each package is built once: DIR/prefix/.stamp-<package> holds the Debian
# version built; delete DIR (make static-clean) to rebuild. GnuTLS (whose
# autoreconf and configure run on one core) builds beside the other three,
# which build one after the other (CZMQ needs libzmq). Each build's output is
# in DIR/build/<package>.log; a failure prints its end. Needs the deb-src
# lines the Makefile's static-src target adds, the build tools of STATIC_DEPS
# in the Makefile, and JOBS (default: nproc).
set -euo pipefail

dir=$(mkdir -p "$1" && cd "$1" && pwd)
prefix=$dir/prefix
jobs=${JOBS:-$(nproc)}
mkdir -p "$dir/src" "$dir/build" "$prefix/lib/pkgconfig" "$prefix/include"
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig

# s_fetch PACKAGE: unpack Debian's source package, patches applied, into
# DIR/src/PACKAGE; its Debian version goes to DIR/src/PACKAGE.version.
s_fetch() {
    local pkg=$1 dsc
    rm -rf "${dir:?}/src/$pkg" "$dir/src/$pkg"_* "$dir/src/$pkg".*
    (cd "$dir/src" && apt-get source -q --download-only "$pkg" >"$dir/src/$pkg.fetch.log" 2>&1) \
        || { cat "$dir/src/$pkg.fetch.log" >&2; return 1; }
    dsc=$(ls "$dir/src/$pkg"_*.dsc | head -n1)
    # No signature check here (gpgv has no Debian maintainer keys): apt checked the .dsc's
    # hash against the signed Sources index when it downloaded it.
    dpkg-source -x --no-check "$dsc" "$dir/src/$pkg" >>"$dir/src/$pkg.fetch.log" 2>&1 \
        || { cat "$dir/src/$pkg.fetch.log" >&2; return 1; }
    basename "$dsc" .dsc | sed "s/^${pkg}_//" >"$dir/src/$pkg.version"
}

cmake_common=(-DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_INSTALL_LIBDIR=lib
              -DCMAKE_PREFIX_PATH="$prefix" -DBUILD_TESTING=OFF)

build_zeromq3() {
    cmake -S "$dir/src/zeromq3" -B "$dir/build/zeromq3" "${cmake_common[@]}" \
        -DBUILD_SHARED=OFF -DBUILD_STATIC=ON -DBUILD_TESTS=OFF -DWITH_DOCS=OFF -DWITH_PERF_TOOL=OFF \
        -DWITH_LIBBSD=OFF -DWITH_LIBSODIUM=ON -DENABLE_CURVE=ON -DENABLE_DRAFTS=OFF \
        -DENABLE_CPACK=OFF -DENABLE_PRECOMPILED=OFF
    cmake --build "$dir/build/zeromq3" -j"$jobs"
    cmake --install "$dir/build/zeromq3"
}

build_czmq() {
    cmake -S "$dir/src/czmq" -B "$dir/build/czmq" "${cmake_common[@]}" \
        -DCZMQ_BUILD_SHARED=OFF -DCZMQ_BUILD_STATIC=ON -DENABLE_DRAFTS=OFF -DCZMQ_WITH_UUID=OFF \
        -DCZMQ_WITH_SYSTEMD=OFF -DCZMQ_WITH_LZ4=OFF -DCZMQ_WITH_LIBCURL=OFF -DCZMQ_WITH_NSS=OFF \
        -DCZMQ_WITH_LIBMICROHTTPD=OFF
    # Only the library: the install rule would build the selftest and the tools.
    cmake --build "$dir/build/czmq" -j"$jobs" --target czmq-static
    install -m 644 "$dir/build/czmq/libczmq.a" "$prefix/lib/"
    install -m 644 "$dir/src/czmq/include/"*.h "$prefix/include/"
    install -m 644 "$dir/src/czmq/src/libczmq.pc" "$prefix/lib/pkgconfig/"
}

build_curl() {
    cmake -S "$dir/src/curl" -B "$dir/build/curl" "${cmake_common[@]}" \
        -DBUILD_SHARED_LIBS=OFF -DBUILD_CURL_EXE=OFF -DHTTP_ONLY=ON -DCURL_USE_OPENSSL=ON \
        -DCURL_ZLIB=OFF -DCURL_BROTLI=OFF -DCURL_ZSTD=OFF -DUSE_NGHTTP2=OFF -DUSE_NGTCP2=OFF \
        -DCURL_USE_LIBSSH2=OFF -DCURL_USE_LIBSSH=OFF -DUSE_LIBIDN2=OFF -DCURL_USE_GSSAPI=OFF \
        -DCURL_DISABLE_LDAP=ON -DENABLE_MANUAL=OFF \
        -DCURL_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt -DCURL_CA_PATH=none
    cmake --build "$dir/build/curl" -j"$jobs"
    cmake --install "$dir/build/curl"
    # curl 7.88's CMake writes the paths of the shared OpenSSL and -lgcc_s
    # into libcurl.pc; what the static archive needs is OpenSSL's archives.
    sed -i -e 's|^Libs:.*|Libs: -L${libdir} -lcurl|' \
           -e 's|^Libs.private:.*|Libs.private: -lssl -lcrypto -pthread|' \
           "$prefix/lib/pkgconfig/libcurl.pc"
}

build_gnutls28() {
    local src=$dir/src/gnutls28
    # Debian's patches touch Makefile.am and configure.ac: regenerate the
    # build system as debian/rules does (without gtk-doc).
    (cd "$src" && rm -f $(grep -rl gettext-0.20 m4/) && GTKDOCIZE=true autoreconf -fi)
    mkdir -p "$dir/build/gnutls28"
    # -O2 without autoconf's default -g: debug information would double the compile time.
    (cd "$dir/build/gnutls28" && CFLAGS=-O2 "$src/configure" --prefix="$prefix" --libdir="$prefix/lib" \
        --disable-shared --enable-static --without-p11-kit --without-tpm --without-tpm2 \
        --without-idn --without-zlib --without-brotli --without-zstd --with-included-unistring \
        --disable-tools --disable-tests --disable-doc --disable-gtk-doc --disable-manpages \
        --disable-cxx --disable-nls --disable-guile --disable-libdane \
        --disable-openssl-compatibility --disable-valgrind-tests --disable-full-test-suite \
        --with-default-trust-store-file=/etc/ssl/certs/ca-certificates.crt)
    # The library and what it links: gnulib (gl), then lib; nothing else.
    make -C "$dir/build/gnutls28/gl" -j"$jobs"
    make -C "$dir/build/gnutls28/lib" -j"$jobs"
    make -C "$dir/build/gnutls28/lib" install
}

# s_build PACKAGE...: build each PACKAGE not built yet, in order; on a failure,
# print the end of its log and return 1. Run it as a statement of its own or in
# the background, never in a condition (where bash ignores set -e).
s_build() {
    local pkg log rc
    for pkg in "$@"; do
        [ ! -f "$prefix/.stamp-$pkg" ] || continue
        log=$dir/build/$pkg.log
        echo "static-deps: building $pkg $(cat "$dir/src/$pkg.version") (log: $log)"
        set +e
        (set -e; "build_$pkg") >"$log" 2>&1
        rc=$?
        set -e
        if [ "$rc" != 0 ]; then
            echo "static-deps: building $pkg failed; the end of $log:" >&2
            tail -n 30 "$log" >&2
            return 1
        fi
        cp "$dir/src/$pkg.version" "$prefix/.stamp-$pkg"
        echo "static-deps: built $pkg"
    done
}

packages=(zeromq3 czmq curl gnutls28)
for pkg in "${packages[@]}"; do
    [ -f "$prefix/.stamp-$pkg" ] || s_fetch "$pkg"
done
start=$SECONDS
s_build gnutls28 &
gnutls_pid=$!
s_build zeromq3 czmq curl &
others_pid=$!
status=0
wait "$gnutls_pid" || status=1
wait "$others_pid" || status=1
[ "$status" = 0 ] || exit 1
echo "static-deps: done in $((SECONDS - start)) s; the archives are in $prefix/lib"
