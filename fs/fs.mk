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
