# fakts-node: the two set-up commands of README.md, and the tools behind them.
#
#   make run     install what is missing, build, start one agent on ./fakts-data
#   make test    install what is missing, check the Release builds, build with ASan+UBSan,
#                fuzz briefly, run every test; make static runs in the background meanwhile
#                and its tests run last
#   make release-check  build Release with gcc and with clang, warnings as errors
#   make tsan    build with ThreadSanitizer (clang) and run the stress programs
#                (TSAN_ROUNDS rounds per thread; make test runs a short one)
#
# FK_WERROR is OFF in CMakeLists.txt (a packager's build must not fail on a
# newer compiler's new warning); every build this Makefile makes for tests or
# CI turns it ON, so a warning fails the project's own runs.
#   make bench   build optimised, run the benchmarks (bench/run.sh, cluster.sh, static.sh) and
#                draw their figures as PNG plots (bench/plot.sh into bench/plots; bench/README)
#   make static  one self-contained fakts-node, fully static (build-static/fakts-node):
#                libzmq, CZMQ, libcurl and GnuTLS rebuilt once from Debian's source
#                packages into build-static/deps (tools/static-deps.sh), the rest from
#                Debian's static archives
#   make install PREFIX=DIR   install the static binary, stripped, into DIR/bin (no root for
#                a DIR of your own; INSTALL_BUILD=build installs the dynamic one instead)
#   make fuzz    run every fuzz target longer (FUZZ_SECONDS each)

SHELL := /bin/bash
BUILD       ?= build
TEST_BUILD  ?= build-asan
FUZZ_BUILD  ?= build-fuzz
RELEASE_BUILD ?= build-release
TSAN_BUILD  ?= build-tsan
STATIC_BUILD ?= build-static
INSTALL_BUILD ?= $(STATIC_BUILD)
PREFIX      ?= /usr/local
TSAN_ROUNDS ?= 50
FUZZ_SECONDS ?= 60
JOBS        ?= $(shell nproc)

# Debian 12 packages the build, the tests and the benchmarks need.
DEPS := build-essential cmake pkg-config libzmq3-dev libczmq-dev libmsgpack-dev liblmdb-dev \
        libssl-dev libcriterion-dev libmicrohttpd-dev libgnutls28-dev libjansson-dev libyaml-dev \
        libcurl4-openssl-dev clang libclang-rt-14-dev curl iptables iproute2 python3 \
        chromium chromium-driver python3-selenium systemd slurm-wlm munge prometheus
BENCH_DEPS := wrk nginx-light openssl serf gnuplot-nox
# make static: what tools/static-deps.sh needs to unpack and build Debian's source packages
# (autotools for GnuTLS, whose Debian patches touch its build system), and the static
# archives the link takes from Debian.
STATIC_DEPS := dpkg-dev autoconf automake libtool autopoint gettext nettle-dev libgmp-dev \
        libtasn1-6-dev libsodium-dev
# The deb-src lines apt-get source needs, in a file of the project's own; written only by
# make static, and only when no deb-src line for Debian 12 is configured yet.
STATIC_SRC_LIST := /etc/apt/sources.list.d/fakts-node-static-src.sources

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# apt-get that waits (up to 10 min) for another apt or dpkg run to let go of its lock.
APT_GET := $(SUDO) apt-get -o DPkg::Lock::Timeout=600

.PHONY: deps build run test fuzz fuzz-smoke bench clean release-check tsan tsan-smoke static \
        static-src static-clean static-background static-wait install

# Install only what is missing, so a ready machine pays nothing.
deps:
	@missing=$$(for p in $(DEPS) $(EXTRA_DEPS); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "installing: $$missing"; \
	    $(APT_GET) update -q && \
	    DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -q --no-install-recommends $$missing; \
	fi

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFK_TESTS=OFF -DFK_SANITIZE=OFF \
	    -DFK_FUZZ=OFF >/dev/null
	cmake --build $(BUILD) -j$(JOBS) --target fakts-node

run: build
	@mkdir -p -m 700 fakts-data
	exec $(BUILD)/fakts-node agent --data-dir ./fakts-data

# The dependencies are built only when missing (make static-clean drops them): a second
# make static is an ordinary incremental build of the project. The first build takes about
# 15 min of CPU (GnuTLS; README, "Static build"): make test starts it in the background at
# low priority (static-background) and runs tests/static/ (label static) last, once it is done.
static-src:
	@apt-cache showsrc zeromq3 2>/dev/null | grep -q '^Package: zeromq3' || { \
	    echo "adding Debian 12's deb-src lines to $(STATIC_SRC_LIST)"; \
	    printf '%s\n' 'Types: deb-src' 'URIs: http://deb.debian.org/debian' \
	        'Suites: bookworm bookworm-updates' 'Components: main' \
	        'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' '' \
	        'Types: deb-src' 'URIs: http://deb.debian.org/debian-security' \
	        'Suites: bookworm-security' 'Components: main' \
	        'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' \
	        | $(SUDO) tee $(STATIC_SRC_LIST) >/dev/null && $(APT_GET) update -q; }

$(STATIC_BUILD)/deps/prefix/.stamp-gnutls28:
	$(MAKE) --no-print-directory deps EXTRA_DEPS="$(STATIC_DEPS)"
	$(MAKE) --no-print-directory static-src
	JOBS=$(JOBS) tools/static-deps.sh $(STATIC_BUILD)/deps

static: deps $(STATIC_BUILD)/deps/prefix/.stamp-gnutls28
	cmake -S . -B $(STATIC_BUILD) -DCMAKE_BUILD_TYPE=Release -DFK_STATIC=ON -DFK_TESTS=OFF \
	    -DFK_WERROR=ON >/dev/null
	cmake --build $(STATIC_BUILD) -j$(JOBS) --target fakts-node

static-clean:
	rm -rf $(STATIC_BUILD)

# make test's static build: the packages and deb-src lines first (apt takes one lock at a
# time), then make static at nice 19 in the background, so it uses the CPU the test builds and
# the mostly waiting ctest leave idle. static-wait waits for it and fails with the end of its
# log when it failed. A static binary of this checkout already up to date costs seconds.
STATIC_BG_LOG := $(STATIC_BUILD)/background.log
STATIC_BG_RC := $(STATIC_BUILD)/background.rc
static-background: deps
	$(MAKE) --no-print-directory deps EXTRA_DEPS="$(STATIC_DEPS)"
	$(MAKE) --no-print-directory static-src
	@mkdir -p $(STATIC_BUILD) && rm -f $(STATIC_BG_RC)
	@echo "make static runs in the background at nice 19 (log: $(STATIC_BG_LOG))"
	@(nice -n 19 $(MAKE) --no-print-directory static >$(STATIC_BG_LOG) 2>&1; \
	  echo $$? >$(STATIC_BG_RC).tmp; mv $(STATIC_BG_RC).tmp $(STATIC_BG_RC)) </dev/null &

static-wait:
	@[ -f $(STATIC_BG_RC) ] || echo "waiting for the background make static (log: $(STATIC_BG_LOG))"
	@until [ -f $(STATIC_BG_RC) ]; do sleep 5; done
	@[ "$$(cat $(STATIC_BG_RC))" = 0 ] || { echo "make static failed; the end of $(STATIC_BG_LOG):"; \
	    tail -n 40 $(STATIC_BG_LOG); exit 1; }

install: $(if $(filter $(STATIC_BUILD),$(INSTALL_BUILD)),static,build)
	cmake --install $(INSTALL_BUILD) --prefix $(PREFIX) --strip

$(FUZZ_BUILD)/.configured: | deps
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DFK_FUZZ=ON -DFK_WERROR=ON \
	    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@touch $@

# Each target runs from its checked-in corpus with a fixed seed; a finding
# fails the build and leaves the crashing input in $(FUZZ_BUILD).
fuzz-smoke fuzz: $(FUZZ_BUILD)/.configured
	cmake --build $(FUZZ_BUILD) -j$(JOBS) --target fuzz_record fuzz_yaml fuzz_service \
	    fuzz_manifest fuzz_jwt fuzz_form fuzz_msg fuzz_basic fuzz_admit fuzz_grants fuzz_host \
	    fuzz_optoken fuzz_audit
	@set -o pipefail; secs=$(if $(filter fuzz-smoke,$@),10,$(FUZZ_SECONDS)); \
	for t in fuzz_record fuzz_yaml fuzz_service fuzz_manifest fuzz_jwt fuzz_form fuzz_msg fuzz_basic \
	         fuzz_admit fuzz_grants fuzz_host fuzz_optoken \
	         fuzz_audit; do \
	    work=$$(mktemp -d); cp tests/fuzz/corpus/$$t/* $$work/; \
	    echo "fuzzing $$t for $${secs}s"; \
	    (cd $(FUZZ_BUILD)/tests/fuzz && ./$$t -seed=1 -max_total_time=$$secs -rss_limit_mb=512 \
	        -max_len=65536 -print_final_stats=1 $$work 2>&1 \
	        | grep -E 'executed_units|peak_rss|ERROR|SUMMARY') || exit 1; \
	    rm -rf $$work; \
	done

# What a packager runs (cmake -DCMAKE_BUILD_TYPE=Release), with both
# compilers and every target, tests included: -O3 turns on warnings (GCC's
# -Wformat-overflow, -Wstringop-*) that the Debug and RelWithDebInfo builds
# never see.
release-check: deps
	cmake -S . -B $(RELEASE_BUILD)-gcc -DCMAKE_BUILD_TYPE=Release -DFK_WERROR=ON \
	    -DCMAKE_C_COMPILER=gcc >/dev/null
	cmake --build $(RELEASE_BUILD)-gcc -j$(JOBS)
	cmake -S . -B $(RELEASE_BUILD)-clang -DCMAKE_BUILD_TYPE=Release -DFK_WERROR=ON \
	    -DCMAKE_C_COMPILER=clang >/dev/null
	cmake --build $(RELEASE_BUILD)-clang -j$(JOBS)

# ThreadSanitizer: only plain-main() stress programs run under it (Criterion
# cannot); tests/tsan.supp silences libzmq/libczmq's uninstrumented pipes.
$(TSAN_BUILD)/.configured: | deps
	CC=clang cmake -S . -B $(TSAN_BUILD) -DFK_TSAN=ON -DFK_WERROR=ON \
	    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@touch $@

tsan tsan-smoke: $(TSAN_BUILD)/.configured
	cmake --build $(TSAN_BUILD) -j$(JOBS) --target stress_grants stress_http
	TSAN_OPTIONS=suppressions=$(CURDIR)/tests/tsan.supp:halt_on_error=1:second_deadlock_stack=1 \
	    $(TSAN_BUILD)/tests/stress/stress_grants $(if $(filter tsan-smoke,$@),5,$(TSAN_ROUNDS))
	TSAN_OPTIONS=suppressions=$(CURDIR)/tests/tsan.supp:halt_on_error=1:second_deadlock_stack=1 \
	    $(TSAN_BUILD)/tests/stress/stress_http $(if $(filter tsan-smoke,$@),5,$(TSAN_ROUNDS))

test: deps static-background build release-check fuzz-smoke tsan-smoke
	cmake -S . -B $(TEST_BUILD) -DFK_SANITIZE=ON -DFK_WERROR=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	cmake --build $(TEST_BUILD) -j$(JOBS)
	cd $(TEST_BUILD) && ctest --output-on-failure -j$(JOBS) -LE static
	$(MAKE) --no-print-directory static-wait
	cd $(TEST_BUILD) && ctest --output-on-failure -L static --no-tests=error

bench: EXTRA_DEPS = $(BENCH_DEPS)
bench: build static
	bench/run.sh $(BUILD)/fakts-node
	bench/cluster.sh $(BUILD)/fakts-node
	bench/static.sh $(STATIC_BUILD)/fakts-node $(BUILD)/fakts-node
	bench/plot.sh

clean:
	rm -rf $(BUILD) $(TEST_BUILD) $(FUZZ_BUILD) $(RELEASE_BUILD)-gcc $(RELEASE_BUILD)-clang \
	    $(TSAN_BUILD) $(STATIC_BUILD)
