# lsmfs — top-level build.  `make` builds everything; `make test` installs the Debian packages
# the build and tests need (as root, via apt-get) and then runs every test; `make run` builds and
# mounts a store.  Each area keeps its own rules in an included .mk file next to its sources.
#
#   make SAN=asan ...   AddressSanitizer + UndefinedBehaviorSanitizer build in build/asan
#   make SAN=tsan ...   ThreadSanitizer build in build/tsan

CC ?= cc
SAN ?=
PREFIX ?= /usr/local
DESTDIR ?=

WARN := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 $(WARN) -g -fPIC -pthread -MMD -MP

ifeq ($(SAN),asan)
BUILD := build/asan
OPT := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
else ifeq ($(SAN),tsan)
BUILD := build/tsan
OPT := -O1 -fno-omit-frame-pointer -fsanitize=thread
else
BUILD := build
OPT := -O2
endif

CFLAGS := $(BASE_CFLAGS) $(OPT) $(EXTRA_CFLAGS)
LDFLAGS := $(OPT) -pthread $(EXTRA_LDFLAGS)
FUSE_CFLAGS = $(shell pkg-config --cflags fuse3 2>/dev/null)
FUSE_LIBS = $(shell pkg-config --libs fuse3 2>/dev/null || echo -lfuse3) -luring

.PHONY: all deps test check clean install uninstall run bench
all:

include lsm/lsm.mk
-include fs/fs.mk
-include mount-tools/tools.mk
-include tests/tests.mk
-include tests/bench/bench.mk
-include packaging/packaging.mk

# Debian packages for building and testing (leveldb/rocksdb only for benchmarks; python3 for
# tests/fs/differ.py, the differential test against ext4; e2fsprogs for its ext4 image;
# liburing-dev for the daemon's FUSE-over-io_uring queues, fs/fuse_uring.c).
DEPS := build-essential pkg-config libfuse3-dev fuse3 liblz4-dev libcriterion-dev liburing-dev \
        attr psmisc jq stress-ng libleveldb-dev librocksdb-dev python3 e2fsprogs

deps:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  missing=""; for p in $(DEPS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi; \
	else echo "deps: not root or no apt-get; assuming $(DEPS) are installed"; fi

# The README's test command: dependencies, then every test in every build flavour (the FUSE
# suites run a second time against the ASan/UBSan build of the daemon).
test: deps
	$(MAKE) all
	$(MAKE) check
	$(MAKE) SAN=asan check-unit
	$(MAKE) SAN=asan check-fs
	$(MAKE) SAN=tsan check-concurrent
	@echo "ALL TESTS PASSED"

check: check-unit check-integration

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
