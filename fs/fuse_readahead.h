/*
 * fuse_readahead.h — the kernel's readahead window for an lsmfs mount.
 *
 * The kernel gives a FUSE mount the block layer's default readahead of 128 KiB (its bdi's
 * ra_pages) and takes the smaller of that and the max_readahead the daemon asks for in INIT,
 * so a daemon alone cannot widen it: a big sequential read then arrives as 128 KiB READs, one
 * or two in flight, and each round trip through the daemon costs as much as the copy.  Root
 * may widen it through sysfs (/sys/class/bdi/MAJ:MIN/read_ahead_kb), which is what this does
 * right after the mount, before INIT is answered; INIT then keeps the smaller of it and the
 * daemon's max_readahead, which must therefore be at least as large.
 */
#ifndef FS_FUSE_READAHEAD_H
#define FS_FUSE_READAHEAD_H

/* Readahead window asked for a mount, in KiB: two READs of max_pages (1 MiB) in flight. */
#define LSMFS_READAHEAD_KIB 2048u

/* Set the readahead window of the filesystem mounted at mountpoint (an absolute path, as in
 * /proc/self/mountinfo) to kib KiB.  Returns 0, -ENOENT if no mount is there, or the negative
 * errno of writing sysfs (-EACCES when not root: the kernel's default then stays). */
int lsmfs_readahead_set(const char *mountpoint, unsigned kib);

#endif
