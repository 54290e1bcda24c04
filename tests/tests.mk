# Tests.  Every tests/lsm/test_*.c is a criterion binary linked with liblsm and with the test
# support code in tests/lsm/support/*.c (fault-injecting env, model map).  Tests whose name
# starts with test_concurrent_ also run under ThreadSanitizer.  Integration tests are scripts:
# tests/fs/run.sh (real FUSE mounts) and tests/tools/run.sh (mount-tools, packaging); C helper
# programs for them live in tests/fs/*.c and are built into $(BUILD)/tests/fs/.

CRITERION_LIBS := -lcriterion
TEST_SUPPORT_SRCS := $(wildcard tests/lsm/support/*.c)
TEST_SUPPORT_OBJS := $(TEST_SUPPORT_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS := $(wildcard tests/lsm/test_*.c)
UNIT_BINS := $(UNIT_SRCS:%.c=$(BUILD)/%)
CONCURRENT_BINS := $(filter $(BUILD)/tests/lsm/test_concurrent_%,$(UNIT_BINS))
FS_HELPER_SRCS := $(wildcard tests/fs/*.c)
FS_HELPER_BINS := $(FS_HELPER_SRCS:%.c=$(BUILD)/%)

$(BUILD)/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LSM_CFLAGS) -Itests/lsm/support -c $< -o $@

$(BUILD)/tests/lsm/test_%: $(BUILD)/tests/lsm/test_%.o $(TEST_SUPPORT_OBJS) $(LSM_A)
	$(CC) $(LDFLAGS) -o $@ $^ $(LSM_LIBS) $(CRITERION_LIBS)

$(BUILD)/tests/fs/%: $(BUILD)/tests/fs/%.o $(LSM_A)
	$(CC) $(LDFLAGS) -o $@ $^ $(LSM_LIBS)

.PHONY: unit-bins check-unit check-concurrent check-integration check-fs check-tools
unit-bins: $(UNIT_BINS) $(FS_HELPER_BINS)

# Run each unit binary; criterion's own runner forks per test.  TEST_JOBS bounds parallelism.
TEST_JOBS ?= 2
check-unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t --jobs=$(TEST_JOBS) --short-filename; done

# The engine's concurrent unit tests, then the daemon itself (its request loop, io_uring queues,
# node table and file handles) under the concurrency suite's parallel writers and readers.
check-concurrent: $(CONCURRENT_BINS) all $(FS_HELPER_BINS)
	@set -e; for t in $(CONCURRENT_BINS); do echo "== $$t"; \
	  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" $$t --jobs=1 --short-filename; done
	CONC_SECS=10 URING_SUITES=concurrency tests/fs/run.sh $(BUILD) concurrency uring

check-integration: check-fs check-tools

check-fs: all $(FS_HELPER_BINS)
	@if [ -x tests/fs/run.sh ]; then tests/fs/run.sh $(BUILD); else echo "no fs tests"; fi

check-tools: all
	@if [ -x tests/tools/run.sh ]; then tests/tools/run.sh $(BUILD); else echo "no tools tests"; fi
