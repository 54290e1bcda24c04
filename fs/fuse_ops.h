/*
 * fuse_ops.h — the lsmfs FUSE operations (libfuse high-level API, paths).
 *
 * Every operation maps onto fscore (fs/fscore.h) and returns 0 or -errno.  The private data of
 * the fuse instance is the fscore.  Open files carry an fs_file in fi->fh, open directories a
 * listing cursor that resumes by name, so readdir offsets stay valid while the directory
 * changes.  lsmfs_ops_init_config() sets the caching policy: lsmfs is the only writer of its
 * store, so the kernel may keep entries, attributes and pages for long.
 */
#ifndef FS_FUSE_OPS_H
#define FS_FUSE_OPS_H

#define FUSE_USE_VERSION 35
#include <fuse.h>

#include "fscore.h"

/* The operation table. */
extern const struct fuse_operations lsmfs_ops;

/* The private data of the fuse instance: the store, and the names of hard-linked files the
 * kernel has seen.  High-level FUSE gives each name its own kernel inode, so when a file with
 * several names changes through one of them (write, chmod, link, unlink), the kernel's cached
 * attributes and pages of the other names are invalidated by path. */
typedef struct lsmfs_ctx lsmfs_ctx;

/* multithreaded == 0 disables the invalidations (with one thread, the kernel's writeback that
 * an invalidation may trigger could not be served). */
lsmfs_ctx *lsmfs_ctx_new(fscore *fs, int multithreaded, int writeback);
void lsmfs_ctx_free(lsmfs_ctx *c);

/* on != 0: let the kernel use READDIRPLUS (a listing also returns every entry's attributes,
 * which the kernel caches: `ls -l` then needs no lookups, but a plain listing costs more).
 * Call before the fuse session starts; default off. */
void lsmfs_ctx_set_readdirplus(lsmfs_ctx *c, int on);

#endif
