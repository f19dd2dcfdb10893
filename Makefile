# Thin wrapper over CMake. Real build logic lives in CMakeLists.txt.
#
#   make [build]      configure + build into build/
#   make demo         build and run the demo example
#   make check        build and run the test suite (ctest)
#   make asan         ASan+UBSan build in build-asan/ and run the tests
#   make tsan         TSan build in build-tsan/ and run the tests
#   make bench        build and run bench/run.sh
#   make format       clang-format -i all sources
#   make format-check fail if any source is not clang-formatted
#   make docs         regenerate docs/reference.md from the public headers
#   make docs-check   fail if docs/reference.md is stale
#   make api-check    include layers, exported symbols, docs that compile,
#                     the installed package (scripts/check-*.sh; builds first)
#   make clean        remove the build trees
#
# Useful variables: JOBS, BUILD_TYPE, WERROR, CMAKE_ARGS, CTEST_ARGS,
# SKIP_DEPS=1 (don't check/install Debian packages).

SHELL        := /bin/bash
MAKEFLAGS    += --no-print-directory
JOBS         ?= 2
BUILD_TYPE   ?= RelWithDebInfo
WERROR       ?= ON
# gcc's sanitizer instrumentation causes spurious warnings (e.g.
# -Wmaybe-uninitialized), so sanitizer builds don't use -Werror by default;
# the plain build (make check) is the one that enforces a warning-free tree.
SAN_WERROR   ?= OFF
SAN_BUILD_TYPE ?= RelWithDebInfo
CMAKE        ?= cmake
CTEST        ?= ctest
CLANG_FORMAT ?= clang-format
CMAKE_ARGS   ?=
CTEST_ARGS   ?=

BUILD_DIR    ?= build
ASAN_DIR     ?= build-asan
TSAN_DIR     ?= build-tsan

SRC_DIRS     := include base core mailbox actors io tests examples bench
FORMAT_FILES  = $(shell find $(wildcard $(SRC_DIRS)) -type f \( -name '*.c' -o -name '*.h' \) 2>/dev/null | sort)

CTEST_FLAGS  := --output-on-failure --no-tests=error -j $(JOBS) $(CTEST_ARGS)

# Sanitizer runtime options (override from the environment or command line).
ASAN_OPTIONS  ?= detect_leaks=1:abort_on_error=1
UBSAN_OPTIONS ?= print_stacktrace=1:halt_on_error=1
TSAN_OPTIONS  ?= halt_on_error=1 second_deadlock_stack=1

.PHONY: all build deps demo check asan tsan bench format format-check docs docs-check api-check clean

all: build

deps:
ifneq ($(SKIP_DEPS),1)
	@bash scripts/deps.sh
endif

build: deps
	$(CMAKE) -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DTROUPE_WERROR=$(WERROR) $(CMAKE_ARGS)
	$(CMAKE) --build $(BUILD_DIR) -j $(JOBS)

demo: build
	@if [ ! -x $(BUILD_DIR)/examples/demo ]; then \
	    echo "$(BUILD_DIR)/examples/demo not built (is there an examples/demo.c?)" >&2; exit 1; fi
	./$(BUILD_DIR)/examples/demo

check: build
	$(CTEST) --test-dir $(BUILD_DIR) $(CTEST_FLAGS)

asan: deps
	$(CMAKE) -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=$(SAN_BUILD_TYPE) \
	    -DTROUPE_SANITIZE=address -DTROUPE_WERROR=$(SAN_WERROR) \
	    -DTROUPE_BUILD_EXAMPLES=OFF -DTROUPE_BUILD_BENCH=OFF $(CMAKE_ARGS)
	$(CMAKE) --build $(ASAN_DIR) -j $(JOBS)
	ASAN_OPTIONS='$(ASAN_OPTIONS)' UBSAN_OPTIONS='$(UBSAN_OPTIONS)' \
	    $(CTEST) --test-dir $(ASAN_DIR) $(CTEST_FLAGS)

tsan: deps
	$(CMAKE) -S . -B $(TSAN_DIR) -DCMAKE_BUILD_TYPE=$(SAN_BUILD_TYPE) \
	    -DTROUPE_SANITIZE=thread -DTROUPE_WERROR=$(SAN_WERROR) \
	    -DTROUPE_BUILD_EXAMPLES=OFF -DTROUPE_BUILD_BENCH=OFF $(CMAKE_ARGS)
	$(CMAKE) --build $(TSAN_DIR) -j $(JOBS)
	@prefix=$$(bash scripts/tsan-probe.sh); \
	echo "TSAN_OPTIONS='$(TSAN_OPTIONS)' $${prefix:+$$prefix }$(CTEST) --test-dir $(TSAN_DIR) $(CTEST_FLAGS)"; \
	TSAN_OPTIONS='$(TSAN_OPTIONS)' $$prefix $(CTEST) --test-dir $(TSAN_DIR) $(CTEST_FLAGS)

bench: build
	@if [ -f bench/run.sh ]; then \
	    BUILD_DIR=$(BUILD_DIR) bash bench/run.sh; \
	else \
	    echo "bench/run.sh not found; benchmarks are in $(BUILD_DIR)/bench/"; \
	fi

format:
	@if [ -n "$(strip $(FORMAT_FILES))" ]; then \
	    $(CLANG_FORMAT) -i $(FORMAT_FILES); \
	else echo "nothing to format"; fi

format-check:
	@if [ -n "$(strip $(FORMAT_FILES))" ]; then \
	    $(CLANG_FORMAT) --dry-run --Werror $(FORMAT_FILES) && \
	    echo "format-check: $(words $(FORMAT_FILES)) files OK"; \
	else echo "format-check: no files"; fi

docs:
	python3 scripts/gen-reference.py

docs-check:
	python3 scripts/gen-reference.py --check

api-check: build
	bash scripts/check-includes.sh
	bash scripts/check-exports.sh $(BUILD_DIR)/libtroupe.so
	bash scripts/check-docs.sh $(BUILD_DIR)
	bash scripts/check-install.sh $(BUILD_DIR)

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(TSAN_DIR)
