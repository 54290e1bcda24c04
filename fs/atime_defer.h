/*
 * atime_defer.h — nodes whose attributes the kernel holds although a read of them owes an
 * atime.
 *
 * With kernel opens the kernel serves reads it has the data for, an empty file's included,
 * without asking the daemon; so while a read of a node would move its atime (relatime: atime
 * not after mtime or ctime), the daemon gives the kernel its attributes with no timeout, and the
 * read asks for them first (fuse_ops.c, attr_timeout).  For a file just created write-only
 * that costs the creator a GETATTR at once: its own open checks permissions against expired
 * attributes.  So a write-only create gives the attributes the long timeout and puts the node
 * here instead, and the daemon takes it out again:
 *   - at the node's first WRITE: the kernel then drops the size it holds, and the next read
 *     asks for it (fs_atime_defer_drop);
 *   - at the first request about any other node (fs_atime_defer_take, in the request loop):
 *     the daemon then tells the kernel to drop the node's attributes.  Another process reaches
 *     the new file only through its directory, whose attributes the create made the kernel
 *     drop: its open sends a GETATTR of the directory first, or some request refreshed them
 *     since.  Either comes before its read.
 * The set is small and bounded: when it is full, a create gives no timeout, as before.
 *
 * Threads: every function may be called from any thread.
 */
#ifndef FS_ATIME_DEFER_H
#define FS_ATIME_DEFER_H

#include <stddef.h>
#include <stdint.h>

#define FS_ATIME_DEFER_MAX 64 /* nodes held at most */

typedef struct fs_atime_defer fs_atime_defer; /* opaque */

/* An empty set.  Returns 0 or -ENOMEM. */
int fs_atime_defer_new(fs_atime_defer **out);
/* Free the set. */
void fs_atime_defer_free(fs_atime_defer *d);

/* Hold node ino.  Returns 0, or -ENOSPC when the set is full (the caller must then give the
 * kernel no timeout for ino's attributes). */
int fs_atime_defer_add(fs_atime_defer *d, uint64_t ino);
/* Drop ino if held (the kernel no longer trusts the attributes it was given). */
void fs_atime_defer_drop(fs_atime_defer *d, uint64_t ino);
/* Remove every node but keep from the set and store them in out (room for
 * FS_ATIME_DEFER_MAX); returns how many.  An empty set costs one atomic load. */
size_t fs_atime_defer_take(fs_atime_defer *d, uint64_t keep, uint64_t *out);

#endif
