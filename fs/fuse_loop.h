/*
 * fuse_loop.h — the daemon's request loop: a pool of threads in which the thread that
 * answered a request reads the next one.
 *
 * libfuse's multi-threaded loop keeps every idle worker blocked in read(2) on /dev/fuse, and the
 * kernel wakes the one that has waited longest: consecutive requests of one process alternate
 * between threads, and usually between CPUs, so each round trip pays a cross-CPU wakeup and a
 * cold thread.  Here one thread at a time holds the reader role and answers what it reads
 * itself, as a single-threaded loop would, and passes the role on only when it would stop
 * reading for long: before fsyncs and the other requests that may block, before data
 * transfers bigger than 64 KiB when another request is already waiting, and, through a
 * watcher thread, when any request has kept it busy for more than a few milliseconds.  So a
 * lone process's requests stay on one warm thread while big reads and writes of several
 * processes, and slow requests, still run in parallel.  Between
 * requests that come in quick succession the reader polls briefly instead of sleeping, as long
 * as the CPU it polls on is not wanted by another task.
 */
#ifndef FS_FUSE_LOOP_H
#define FS_FUSE_LOOP_H

#include "fuse_ops.h"

/* Serve se's requests with nthreads (>= 2) threads, polling up to poll_us microseconds for the
 * next request before sleeping (0: never; fuse_loop.c says when it polls), until the
 * filesystem is unmounted or the process gets SIGTERM, SIGINT or SIGHUP.  If before is not
 * NULL, before(arg, req, len) runs ahead of every request, in the thread that answers it: req
 * is the request as the kernel sent it (header, then arguments), len its bytes, or req is
 * NULL when the request is not in memory.  REQUIRES: those
 * three signals blocked in every thread of the process, the caller's included (the caller
 * takes them with sigwaitinfo).
 * Installs a handler for SIGUSR1, which it uses to wake its threads.  Returns 0 after an
 * unmount, the signal's number after a signal, or a negative errno if no thread started. */
int lsmfs_loop(struct fuse_session *se, int nthreads, long poll_us,
               void (*before)(void *arg, const struct fuse_in_header *req, size_t len),
               void *arg);

/* 1 if a request with this opcode may wait for the disk or for other processes (fsync,
 * fallocate, a blocking lock, ...), so that it should not hold up the requests behind it. */
int lsmfs_request_may_wait(uint32_t opcode);

#endif
