# Thin front over CMake (GNU make). CMake does the real work; this file only
# names the usual jobs:
#
#   make deps           install missing Debian packages to build and run
#                       (scripts/install-deps.sh run; `make test` adds the
#                       test-only servers and tools: install-deps.sh test)
#   make build          configure + build $(BUILD_DIR) (RelWithDebInfo, -Werror)
#   make test           deps + build + ctest + install check + ASan/UBSan unit
#                       tests + the demo under ASan + valgrind over the unit tests
#   make run            deps + build + the demo (every cipher x MAC), then
#                       sshbpp serve and sshbpp probe over loopback
#   make install        cmake --install $(BUILD_DIR)  (PREFIX=... to relocate)
#   make check-install  install into a temp prefix and build a consumer against it
#   make clean          remove $(BUILD_DIR) and $(ASAN_DIR)
#   make test-full      make test at the issues' full sizes (64 MiB Python
#                       transfers, 256 MiB each way between two drivers)
#   make soak           8 GiB each way sshbpp<->sshbpp and through sshd's cat,
#                       rekey every 256 MiB, SHA-256 compared (SOAK_BYTES, SOAK_REKEY)
#   make coverage       gcovr line/branch coverage of src/ over the whole ctest suite
#                       ($(COV_DIR), default build-cov; COV_TESTS: a narrower regex)
#
# Variables: BUILD_DIR (default build), ASAN_DIR (default $(BUILD_DIR)-asan),
# JOBS (default nproc), CMAKE_ARGS (extra configure args), PREFIX (install),
# VALGRIND=0 / ASAN=0 to skip those stages of `make test`.

BUILD_DIR ?= build
ASAN_DIR ?= $(BUILD_DIR)-asan
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_JOBS ?= 2
CMAKE ?= cmake
CTEST ?= ctest
CMAKE_ARGS ?=
PREFIX ?=
VALGRIND ?= 1
ASAN ?= 1

# Stages run in the order listed; cmake --build parallelises inside them.
.NOTPARALLEL:
MAKEFLAGS += --no-print-directory
.DEFAULT_GOAL := build
.DELETE_ON_ERROR:
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

.PHONY: all deps deps-test configure build test test-ctest test-asan test-valgrind run install \
        check-install clean test-full

all: build

deps:
	./scripts/install-deps.sh run

# The test-only tools and servers (paramiko, sshd, dropbear, valgrind, clang).
deps-test:
	./scripts/install-deps.sh test

configure:
	@command -v $(CMAKE) >/dev/null 2>&1 || { echo "make: $(CMAKE) not found: run 'make deps' (as root; installs cmake, a compiler and the libraries), or 'make run' / 'make test', which do that first" >&2; exit 1; }
	$(CMAKE) -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSSHBPP_WERROR=ON $(CMAKE_ARGS)

build: configure
	$(CMAKE) --build $(BUILD_DIR) -j$(JOBS)

test: deps-test build test-ctest test-asan test-valgrind
	@echo "make test: all stages passed"

test-ctest: build
	$(CTEST) --test-dir $(BUILD_DIR) --no-tests=error --output-on-failure -j$(CTEST_JOBS)

# Sanitizer build: unit tests plus the threaded demo (Packetizer over a
# socketpair for every algorithm combination). Benchmarks are skipped here.
test-asan:
ifeq ($(ASAN),1)
	$(CMAKE) -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=Debug \
	    -DSSHBPP_SANITIZE="address;undefined" -DSSHBPP_BUILD_BENCH=OFF $(CMAKE_ARGS)
	$(CMAKE) --build $(ASAN_DIR) -j$(JOBS)
	ASAN_OPTIONS=detect_leaks=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    $(CTEST) --test-dir $(ASAN_DIR) -L unit --no-tests=error --output-on-failure -j$(CTEST_JOBS)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    $(ASAN_DIR)/examples/sshbpp_demo -q
else
	@echo "test-asan: skipped (ASAN=$(ASAN))"
endif

# Valgrind over the (RelWithDebInfo) unit-test binaries, two at a time.
test-valgrind: build
ifeq ($(VALGRIND),1)
	./scripts/run-valgrind.sh $(BUILD_DIR)
else
	@echo "test-valgrind: skipped (VALGRIND=$(VALGRIND))"
endif

run: deps build
	./scripts/run-demo.sh $(BUILD_DIR)

install:
	$(CMAKE) --install $(BUILD_DIR) $(if $(PREFIX),--prefix $(PREFIX))

check-install: build
	./tests/install/check.sh $(BUILD_DIR)

clean:
	@test -n "$(BUILD_DIR)" && test -n "$(ASAN_DIR)"
	rm -rf -- "$(BUILD_DIR)" "$(ASAN_DIR)"

# libFuzzer: every target in fuzz/ built with clang-14 and
# -fsanitize=fuzzer,address,undefined (the library with fuzzer-no-link, so
# its coverage guides the search), each run for FUZZ_SECONDS from the
# committed seeds (fuzz/corpus/<target>/). The gcc builds replay the same
# corpora under ctest (label fuzz). Variables: FUZZ_SECONDS (default 60),
# FUZZ_DIR (default $(BUILD_DIR)-fuzz), FUZZ_TARGETS.
FUZZ_SECONDS ?= 60
FUZZ_DIR ?= $(BUILD_DIR)-fuzz
FUZZ_TARGETS ?= rx roundtrip banner kex hostkey userauth keyfile openssh_key known_hosts \
    authorized_keys agent channel direct_tcpip
FUZZ_CFLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

.PHONY: fuzz
fuzz: deps-test
	$(CMAKE) -S . -B $(FUZZ_DIR) -DCMAKE_C_COMPILER=clang-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	    -DSSHBPP_BUILD_FUZZ=ON -DSSHBPP_BUILD_BENCH=OFF "-DCMAKE_C_FLAGS=$(FUZZ_CFLAGS)" $(CMAKE_ARGS)
	$(CMAKE) --build $(FUZZ_DIR) -j$(JOBS) --target $(addprefix sshbpp_fuzz_,$(FUZZ_TARGETS))
	./scripts/run-fuzz.sh $(FUZZ_DIR) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# `make test` with the long Python transfers (64 MiB per direction instead
# of 4 MiB; tests/python reads SSHBPP_PY_BYTES).
# The full sizes the issues name, in the ctest stage only (the sanitizer and
# valgrind stages keep the CI sizes): 64 MiB Python transfers, 256 MiB each
# way through two drivers with a rekey every MiB.
test-full: deps-test build
	SSHBPP_PY_BYTES=67108864 SSHBPP_TEST_BULK_BYTES=268435456 \
	    $(CTEST) --test-dir $(BUILD_DIR) --no-tests=error --output-on-failure -j$(CTEST_JOBS)
	$(MAKE) test-asan test-valgrind
	@echo "make test-full: all stages passed"

# The soak (tests/soak/): SOAK_BYTES (default 8 GiB) each way between two
# sshbpp drivers and through `cat` under OpenSSH's sshd, a rekey every
# SOAK_REKEY (default 256 MiB), SHA-256 of both streams compared, counters
# printed. Not part of `make test` (ctest runs 64 MiB versions).
SOAK_BYTES ?= 8G
SOAK_REKEY ?= 256M
.PHONY: soak
soak: deps-test build
	$(BUILD_DIR)/tests/sshbpp_soak pair $(SOAK_BYTES) $(SOAK_REKEY)
	SSHBPP_SOAK_BYTES=$(SOAK_BYTES) SSHBPP_SOAK_REKEY=$(SOAK_REKEY) \
	    /usr/bin/python3 tests/soak/test_soak_sshd.py $(BUILD_DIR)/tests/sshbpp_soak

# Line and branch coverage of src/ (gcovr, Debian package gcovr): a
# --coverage build in $(COV_DIR), every ctest test (COV_TESTS: the ctest
# regex, e.g. '^(unit|fuzz)' for the quick part), then the summary. Left
# out: install.check, whose exported-symbol check cannot hold for a build
# that links gcov's runtime into the library. interop.trixie.hostlib runs the
# kex unit binaries again against OpenSSL 3.5 (the trixie root), so that
# the ML-KEM code counts too.
COV_DIR ?= build-cov
COV_TESTS ?= .
COV_EXCLUDE ?= ^install\.check$$
.PHONY: coverage
coverage:
	@command -v gcovr >/dev/null 2>&1 || { echo "make coverage: gcovr not found (make deps-test installs it)" >&2; exit 1; }
	$(CMAKE) -S . -B $(COV_DIR) -DCMAKE_BUILD_TYPE=Debug -DSSHBPP_BUILD_BENCH=OFF \
	    "-DCMAKE_C_FLAGS=--coverage -fprofile-update=atomic -O0" -DCMAKE_EXE_LINKER_FLAGS=--coverage \
	    -DCMAKE_SHARED_LINKER_FLAGS=--coverage $(CMAKE_ARGS)
	$(CMAKE) --build $(COV_DIR) -j$(JOBS)
	find $(COV_DIR) -name '*.gcda' -delete
	$(CTEST) --test-dir $(COV_DIR) --no-tests=error -R '$(COV_TESTS)' -E '$(COV_EXCLUDE)' -j$(CTEST_JOBS) --output-on-failure \
	    || echo "make coverage: SOME TESTS FAILED (listed above); coverage of what ran follows" >&2
	gcovr --root . --filter 'src/' --object-directory $(COV_DIR) --print-summary \
	    --txt $(COV_DIR)/coverage.txt --exclude-throw-branches --gcov-ignore-parse-errors $(COV_DIR)
	@echo "per-file figures: $(COV_DIR)/coverage.txt"
