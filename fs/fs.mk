# lsmfs: the FUSE daemon build/lsmfs, and build/libfscore.a — every fs/*.c that does not need
# libfuse (all but fs/fuse_*.c and fs/main.c) — which mount-tools link for offline access.
FS_CORE_SRCS := $(filter-out fs/fuse_%.c fs/main.c,$(wildcard fs/*.c))
FS_FUSE_SRCS := $(filter fs/fuse_%.c fs/main.c,$(wildcard fs/*.c))
FS_CORE_OBJS := $(FS_CORE_SRCS:%.c=$(BUILD)/%.o)
FS_FUSE_OBJS := $(FS_FUSE_SRCS:%.c=$(BUILD)/%.o)
FS_CFLAGS := -Ifs -Ilsm/include
FSCORE_A := $(BUILD)/libfscore.a
LSMFS := $(BUILD)/lsmfs

all: $(FSCORE_A) $(if $(FS_FUSE_SRCS),$(LSMFS))

$(BUILD)/fs/fuse_%.o: fs/fuse_%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(FS_CFLAGS) $(FUSE_CFLAGS) -c $< -o $@

$(BUILD)/fs/main.o: fs/main.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(FS_CFLAGS) $(FUSE_CFLAGS) -c $< -o $@

$(BUILD)/fs/%.o: fs/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(FS_CFLAGS) -c $< -o $@

$(FSCORE_A): $(FS_CORE_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LSMFS): $(FS_FUSE_OBJS) $(FSCORE_A) $(LSM_A)
	$(CC) $(LDFLAGS) -o $@ $(FS_FUSE_OBJS) $(FSCORE_A) $(LSM_A) $(FUSE_LIBS) $(LSM_LIBS)

# `make run`: install what is missing, build, and mount a demo store (kept across runs).
RUN_DIR ?= /tmp/lsmfs-demo
run: deps
	$(MAKE) all
	@mkdir -p $(RUN_DIR)/mnt
	@if mountpoint -q $(RUN_DIR)/mnt; then \
	  echo "lsmfs: $(RUN_DIR)/mnt is already mounted"; \
	else \
	  $(LSMFS) -o memtable_size=16M,cache_size=64M $(RUN_DIR)/store $(RUN_DIR)/mnt || exit 1; \
	fi
	@echo ""
	@echo "lsmfs is mounted: store $(RUN_DIR)/store  ->  mount point $(RUN_DIR)/mnt"
	@echo ""
	@echo "  try:      cd $(RUN_DIR)/mnt && echo hello > hi.txt && ls -la && cat hi.txt"
	@echo "  stats:    $(BUILD)/lsmfs-ctl stat $(RUN_DIR)/mnt"
	@echo "  unmount:  fusermount3 -u $(RUN_DIR)/mnt     (the data stays in $(RUN_DIR)/store;"
	@echo "            \`make run\` mounts it again)"
