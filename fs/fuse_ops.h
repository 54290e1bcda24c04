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

/* The operation table. */
extern const struct fuse_operations lsmfs_ops;

#endif
