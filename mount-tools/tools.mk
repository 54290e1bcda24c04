# mount-tools: lsmfs-ctl (C, one file per subcommand, linked with the non-FUSE filesystem core
# build/libfscore.a and liblsm) and mount.lsmfs (a POSIX sh mount helper, copied with +x).
#
# The objects are always compiled (so `make` catches breakage early); the lsmfs-ctl binary is
# linked once every library function it calls has a definition in lsm/src/*.c and fs/*.c
# (checked on the sources below), so the tree keeps building while those are being written.

CTL_SRCS := $(wildcard mount-tools/ctl_*.c)
CTL_OBJS := $(CTL_SRCS:%.c=$(BUILD)/%.o)
CTL_CFLAGS := $(LSM_CFLAGS) -Ifs -Imount-tools
FSCORE_LIB := $(BUILD)/libfscore.a
LSMFS_CTL := $(BUILD)/lsmfs-ctl
MOUNT_HELPER := $(BUILD)/mount.lsmfs

CTL_NEEDS := lsm_open lsm_property lsm_compact_range lsm_checkpoint lsm_verify lsm_repair \
             fscore_open fscore_check fscore_read_file fscore_write_file fs_file_create \
             fscore_setxattr fscore_listxattr fscore_link fscore_utimens fscore_readlink
CTL_PAREN := (
CTL_MISSING := $(foreach f,$(CTL_NEEDS),$(if $(shell grep -lE '^[a-z].*[ *]$(f)[$(CTL_PAREN)]' \
                 lsm/src/*.c fs/*.c 2>/dev/null),,$(f)))
CTL_LINKABLE := $(if $(strip $(CTL_MISSING)),,yes)

all: $(CTL_OBJS) $(MOUNT_HELPER) $(if $(CTL_LINKABLE),$(LSMFS_CTL))

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
