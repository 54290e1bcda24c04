# mount-tools: lsmfs-ctl (C, one file per subcommand, linked with the non-FUSE filesystem core
# build/libfscore.a from fs/fs.mk and liblsm) and mount.lsmfs (a POSIX sh mount helper, copied
# with +x).

CTL_SRCS := $(wildcard mount-tools/ctl_*.c)
CTL_OBJS := $(CTL_SRCS:%.c=$(BUILD)/%.o)
CTL_CFLAGS := $(LSM_CFLAGS) -Ifs -Imount-tools
FSCORE_LIB := $(BUILD)/libfscore.a
LSMFS_CTL := $(BUILD)/lsmfs-ctl
MOUNT_HELPER := $(BUILD)/mount.lsmfs

all: $(LSMFS_CTL) $(MOUNT_HELPER)

$(BUILD)/mount-tools/%.o: mount-tools/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CTL_CFLAGS) -c $< -o $@

$(LSMFS_CTL): $(CTL_OBJS) $(FSCORE_LIB) $(LSM_A)
	$(CC) $(LDFLAGS) -o $@ $(CTL_OBJS) $(FSCORE_LIB) $(LSM_A) $(LSM_LIBS)

$(MOUNT_HELPER): mount-tools/mount.lsmfs.sh
	@mkdir -p $(dir $@)
	cp $< $@ && chmod 0755 $@

.PHONY: lsmfs-ctl
lsmfs-ctl: $(LSMFS_CTL)
