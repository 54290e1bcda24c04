/*
 * fuse_uring.h — FUSE over io_uring: the kernel hands each request to a queue of the CPU its
 * sender runs on, and a daemon thread pinned to that CPU answers it.
 *
 * Through /dev/fuse every round trip wakes a thread on another CPU twice (the daemon's reader,
 * then the sender), and on a virtual machine whose idle CPUs halt that wake-up is most of a
 * small request's cost.  With a ring per CPU both wake-ups stay on one CPU.  The kernel offers
 * the ring when the fuse module's parameter enable_uring is set (Linux 6.14 and later); libfuse
 * 3.14 knows nothing of it, so this file speaks that part of the protocol itself:
 *   - it takes over the session's reads and writes (fuse_session_custom_io), to ask for the
 *     ring in the FUSE_INIT reply and to route each reply to the ring its request came from;
 *   - after FUSE_INIT it starts one thread per CPU, which registers its ring entries and then
 *     answers their requests with libfuse's own dispatcher (fuse_session_process_buf);
 *   - FORGET, INTERRUPT and the daemon's notices still go through /dev/fuse (lsmfs_loop), and
 *     so does everything until every CPU's queue is registered.
 * A queue thread answers its requests one at a time, so a request that blocks (fsync) delays
 * the others of that CPU until it is done.
 */
#ifndef FS_FUSE_URING_H
#define FS_FUSE_URING_H

#include "fuse_ops.h"

typedef struct lsmfs_uring lsmfs_uring; /* opaque */

/* 1 if the kernel offers FUSE over io_uring (/sys/module/fuse/parameters/enable_uring is Y),
 * 0 if not, or a negative errno if that cannot be read. */
int lsmfs_uring_offered(void);

/* Take over se's reads and writes so that, once FUSE_INIT is answered, requests are served on
 * one io_uring per CPU, each request after before(arg, req, len) as in lsmfs_loop.  Call after
 * fuse_session_mount and before the loop; se must outlive *out.  debug: say on stderr when
 * the rings start and which requests they serve.  Returns 0 or a negative errno. */
int lsmfs_uring_attach(struct fuse_session *se, int debug,
                       void (*before)(void *arg, const struct fuse_in_header *req, size_t len),
                       void *arg, lsmfs_uring **out);

/* Stop the queue threads and free everything.  Call after the request loop has returned. */
void lsmfs_uring_free(lsmfs_uring *u);

#endif
