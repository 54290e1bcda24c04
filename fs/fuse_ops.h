/*
 * fuse_ops.h — the lsmfs FUSE operations (libfuse low-level API, node ids).
 *
 * Every operation maps onto fscore (fs/fscore.h) and answers with the errno it returns.  The
 * kernel names files by node id, which is the file's inode number; the node table (nodes.h)
 * turns node ids back into the paths fscore works on.  Open files carry an fs_file in fi->fh,
 * open directories a listing cursor that resumes by name, so readdir offsets stay valid while
 * the directory changes.  lsmfs is the only writer of its store, so the kernel may keep
 * entries, attributes and pages for long: long timeouts, keep_cache on every open, and on
 * request the writeback cache or opens the kernel makes without asking (opens=kernel).
 */
#ifndef FS_FUSE_OPS_H
#define FS_FUSE_OPS_H

#define FUSE_USE_VERSION 35
#include <fuse_lowlevel.h>

#include "fscore.h"

/* The operation table; the session's user data must be an lsmfs_ctx. */
extern const struct fuse_lowlevel_ops lsmfs_ll_ops;

/* How listings return attributes (READDIRPLUS). */
enum lsmfs_rdplus {
    LSMFS_RDPLUS_OFF,  /* plain READDIR: fastest for bare listings */
    LSMFS_RDPLUS_ON,   /* always READDIRPLUS */
    LSMFS_RDPLUS_AUTO, /* the kernel picks: plus when the listing is followed by stats */
};

/* The daemon's state: the store, the node table, the caching choices. */
typedef struct lsmfs_ctx lsmfs_ctx;

/* A context for fs.  writeback != 0 asks for the kernel's writeback cache.  NULL on
 * allocation failure. */
lsmfs_ctx *lsmfs_ctx_new(fscore *fs, int writeback, enum lsmfs_rdplus rdplus);
void lsmfs_ctx_free(lsmfs_ctx *c);

/* When reads move atime, as the mount options say (the kernel never moves a FUSE inode's
 * atime itself).  Relatime is Linux's default. */
enum lsmfs_atime {
    LSMFS_ATIME_RELATIME, /* when atime <= mtime or ctime, or atime is a day old */
    LSMFS_ATIME_STRICT,   /* at every read (strictatime) */
    LSMFS_ATIME_NEVER,    /* noatime */
};
void lsmfs_ctx_set_atime(lsmfs_ctx *c, enum lsmfs_atime mode, int nodiratime);

/* The session that serves c, for invalidating the kernel's cached attributes after an atime
 * moves.  Set before the session loop starts. */
void lsmfs_ctx_set_session(lsmfs_ctx *c, struct fuse_session *se);

/* on != 0 (-o opens=kernel): let the kernel open, flush and release regular files without
 * asking the daemon (answering OPEN and FLUSH with ENOSYS), so cached files cost no round trip;
 * every write is then committed as it arrives.  Not with the writeback cache (its writes are
 * not all made under a file's own handle) nor strictatime (reads from the page cache reach no
 * one).  Set before the session starts; ignored if the kernel lacks FUSE_NO_OPEN_SUPPORT. */
void lsmfs_ctx_set_kernel_opens(lsmfs_ctx *c, int on);

/* The readahead window the daemon will set for the mount (fs/readahead.h), in bytes: the
 * kernel keeps the smaller of it and INIT's max_readahead (at least 1 MiB, the biggest READ),
 * so INIT must ask for as much.  Set before the session starts. */
void lsmfs_ctx_set_readahead(lsmfs_ctx *c, unsigned bytes);

/* on != 0: the request loop calls lsmfs_before_request ahead of every request (lsmfs_loop
 * can; libfuse's loops cannot).  Then a write-only create may leave its file's owed atime to
 * later (atime_defer.h), and, with lsmfs_ctx_set_direct_creates, its handle may write
 * directly (direct_io: no page cache), because the hook sees the flag by which the kernel asks
 * the daemon to clear set-user-ID and set-group-ID on such a write, which libfuse does not pass
 * on.  Set before the session starts. */
void lsmfs_ctx_set_hooked(lsmfs_ctx *c, int on);

/* on != 0 (-o direct_creates=on): a write-only create's handle writes directly, as said above
 * (fuse_ops.c, direct_create, says when it does and what it costs).  Set before the session
 * starts. */
void lsmfs_ctx_set_direct_creates(lsmfs_ctx *c, int on);

struct fuse_in_header;

/* The request loop's hook (ctx: the lsmfs_ctx), ahead of the request req of len bytes (req
 * NULL: not in memory).  It tells the kernel to drop the attributes of the files created
 * since that still owe an atime it does not know of, but those of the request's own node
 * (atime_defer.h), and notes for ll_write, in the calling thread, whether a WRITE carries
 * FUSE_WRITE_KILL_SUIDGID. */
void lsmfs_before_request(void *ctx, const struct fuse_in_header *req, size_t len);

/* Entries in the node table now (what the kernel remembers, plus their parents). */
size_t lsmfs_ctx_nodes(lsmfs_ctx *c);

#endif
