/*
 * readahead.h — the kernel's readahead window for a FUSE mount.
 *
 * The kernel takes a FUSE mount's readahead as the smaller of what the daemon asks for at
 * INIT (max_readahead) and the backing device's default, 128 KiB, so however big max_readahead
 * is, a sequential reader keeps at most 128 KiB in flight: one READ at a time, each waiting for
 * the daemon's reads from its table files.  The window is the mount's bdi setting
 * (/sys/class/bdi/MAJOR:MINOR/read_ahead_kb), which root may raise after the mount.
 */
#ifndef FS_READAHEAD_H
#define FS_READAHEAD_H

#include <stddef.h>

/* Set the readahead window of the newest fuse.lsmfs mount on mnt (an absolute path as mounted)
 * to bytes (rounded down to whole KiB).  Returns 0, -ENOENT if no such mount is listed, or the
 * -errno of writing the setting (-EACCES when not root). */
int fs_readahead_set(const char *mnt, size_t bytes);

#endif
