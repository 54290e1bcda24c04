/*
 * ghosts.h — attributes of nodes the kernel still holds after their last name went.
 *
 * On ext4 a directory removed while it is some process's working directory or open, a FIFO
 * unlinked while open, or a file reached through an O_PATH descriptor keeps answering fstat
 * (link count 0) and fchmod until the last reference goes.  The store has nothing left of such
 * a node, so the FUSE daemon keeps its last attributes here, keyed by inode number (never
 * reused, so an entry can never answer for another file).  The table is bounded: when it is
 * full, entries whose node the kernel has forgotten are dropped, then the oldest.
 *
 * Threads: every function may be called from any thread (one internal mutex).
 */
#ifndef FS_GHOSTS_H
#define FS_GHOSTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#define FS_GHOSTS_MAX 4096 /* entries kept at most */
#define FS_GHOST_XATTR_MAX 65536 /* bytes of xattr names and values one ghost may hold */

typedef struct fs_ghosts fs_ghosts; /* opaque */

/* An empty table.  Returns 0 or -ENOMEM. */
int fs_ghosts_new(fs_ghosts **out);
/* Free the table. */
void fs_ghosts_free(fs_ghosts *g);

/* Remember st (key st->st_ino, which must not be 0 nor be in the table already: a node loses
 * its last name once).  known(arg, ino) tells whether the kernel still holds node ino: when
 * the table is full, entries it says no to are dropped, then the oldest half if need be. */
void fs_ghosts_put(fs_ghosts *g, const struct stat *st, int (*known)(void *arg, uint64_t ino),
                   void *arg);
/* Copy the attributes of ghost ino into *st: 0, or -ENOENT if there is none. */
int fs_ghosts_get(fs_ghosts *g, uint64_t ino, struct stat *st);
/* Replace the attributes of ghost ino by *st (an attribute change): 0, or -ENOENT. */
int fs_ghosts_set(fs_ghosts *g, uint64_t ino, const struct stat *st);

/* Extended attributes of ghost ino, with the xattr(7) contracts: -ENOENT if there is no such
 * ghost.  They start empty (what the store held went with the last name) and live as long as
 * the entry; set and remove move its ctime.  setxattr: flags XATTR_CREATE/XATTR_REPLACE give
 * -EEXIST/-ENODATA; -ERANGE for a name over 255 bytes, -EINVAL for an empty one, -ENOSPC past
 * FS_GHOST_XATTR_MAX bytes in all. */
int fs_ghosts_setxattr(fs_ghosts *g, uint64_t ino, const char *name, const void *value,
                       size_t size, int flags);
/* The value's length, copied into buf if size > 0 (-ERANGE if it does not fit); -ENODATA. */
int fs_ghosts_getxattr(fs_ghosts *g, uint64_t ino, const char *name, void *buf, size_t size);
/* The NUL-terminated names' total length, copied into list if size > 0 (-ERANGE). */
int fs_ghosts_listxattr(fs_ghosts *g, uint64_t ino, char *list, size_t size);
/* 0, or -ENODATA if ghost ino has no attribute name. */
int fs_ghosts_removexattr(fs_ghosts *g, uint64_t ino, const char *name);

#endif
