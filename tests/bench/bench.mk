# Benchmarks (tests/bench/).  Not part of `make test`: they take minutes and measure speed, which
# tests never assert.  The programs are built by `make bench-bins` (and by the bench targets),
# not by `make all`, so that `make all` needs neither LevelDB nor RocksDB to link; `make test`
# does not build them either.  Run them with:
#
#   make bench              engine comparison, default sizes (N=1M), all three engines
#   make bench-open         open-time test (1M and 10M keys, clean close and after SIGKILL)
#   make bench-compaction   compaction strategies, N=5M, write/space amplification
#   make bench-fs           filesystem phases on lsmfs, a native dir and libfuse passthrough
#   make bench-plot         SVG plots of tests/bench/results/*.tsv (needs gnuplot)
#
# BENCH_ARGS / FS_BENCH_ARGS pass extra options (e.g. BENCH_ARGS="--num 200000 --repeat 3").
# Results go to tests/bench/results/ (TSV, plus engine statistics dumps and SVG plots).

BENCH_DIR := $(BUILD)/tests/bench
DB_BENCH_SRCS := tests/bench/db_bench.c tests/bench/bench_lsm.c tests/bench/bench_leveldb.c \
                 tests/bench/bench_rocksdb.c
DB_BENCH_OBJS := $(DB_BENCH_SRCS:%.c=$(BUILD)/%.o)
DB_BENCH := $(BENCH_DIR)/db_bench
FS_BENCH := $(BENCH_DIR)/fs_bench
FSYNC_STALL := $(BENCH_DIR)/fsync_stall
BENCH_NICE ?= nice -n 10
BENCH_ARGS ?=
FS_BENCH_ARGS ?=

.PHONY: bench-bins bench bench-open bench-compaction bench-fs bench-plot

$(BUILD)/tests/bench/%.o: tests/bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LSM_CFLAGS) -c $< -o $@

$(DB_BENCH): $(DB_BENCH_OBJS) $(LSM_A)
	$(CC) $(LDFLAGS) -o $@ $^ $(LSM_LIBS) -lleveldb -lrocksdb

$(FS_BENCH): $(BUILD)/tests/bench/fs_bench.o
	$(CC) $(LDFLAGS) -o $@ $^

$(FSYNC_STALL): $(BUILD)/tests/bench/fsync_stall.o
	$(CC) $(LDFLAGS) -o $@ $^

bench-bins: $(DB_BENCH) $(FS_BENCH) $(FSYNC_STALL)

bench: $(DB_BENCH)
	@mkdir -p tests/bench/results
	$(BENCH_NICE) $(DB_BENCH) $(BENCH_ARGS)

bench-open: $(DB_BENCH)
	@mkdir -p tests/bench/results
	$(BENCH_NICE) $(DB_BENCH) --open-test $(BENCH_ARGS)

bench-compaction: $(DB_BENCH)
	@mkdir -p tests/bench/results
	$(BENCH_NICE) $(DB_BENCH) --compaction $(BENCH_ARGS)

bench-fs: all $(FS_BENCH) $(FSYNC_STALL)
	@mkdir -p tests/bench/results
	$(BENCH_NICE) tests/bench/fs_bench.sh $(BUILD) $(FS_BENCH_ARGS)

bench-plot:
	tests/bench/plot.sh
