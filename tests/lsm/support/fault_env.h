/*
 * fault_env.h — a fault-injecting lsm_env for tests: wraps the POSIX env and can fail the Nth
 * mutating operation, make a write short, count operations, and simulate a power cut.
 *
 * Typical crash/error test: run a workload once through a fresh fault env to learn how many
 * mutating operations it does (fault_env_count), then for each N in 1..count rerun it with
 * fault_env_fail(env, FAULT_OPS_ALL, N, -ENOSPC, 0) and check that every write that failed was
 * never acknowledged and the store reopens with everything that was.
 *
 * Mutating operations (counted, and failable): pwrite, fsync (and fdatasync, counted and
 * failed as FAULT_OP_FSYNC), ftruncate, open with O_CREAT or
 * O_TRUNC, rename, unlink, link, mkdir, fsync_dir.  pread, close, fsize, list_dir, stat and lock
 * pass straight through and are never failed.  A failed operation does nothing and returns the
 * chosen negative errno.
 *
 * Power cut (fault_env_drop_unsynced) simulates, for files and directories touched through
 * this env since it was created:
 *   - file contents: each file is cut back to its size at its last fsync (0 if never fsynced);
 *     bytes of that synced prefix overwritten or truncated away since the fsync are restored;
 *   - creations: a file created through the env whose parent directory was not fsync_dir'ed
 *     since the creation is deleted;
 *   - renames: a rename not followed by an fsync_dir of the target's directory is undone (the
 *     file goes back to its old name, and a file it replaced comes back with its durable
 *     contents).  Cross-directory renames are undone when either directory is unsynced;
 *   - unlinks: a file unlinked without a later fsync_dir of its directory comes back with its
 *     durable contents (unless its own creation was never durable).
 * Not simulated: links and mkdir are durable at once; a file the env first sees already
 * existing is assumed fully synced at that moment; files over 64 MiB replaced by a rename or
 * unlinked stay gone.  fsync and fsync_dir are recorded, not passed to the kernel: durability
 * is what the simulation decides, and tests stay fast.  After the cut every
 * descriptor opened through the env is stale (the test should close or forget it) and the
 * env's tracking starts afresh, as if after a reboot.
 *
 * Threads: every hook and control takes one mutex, so the env may be shared by the db's
 * threads; the "Nth operation" is then the Nth in the order the mutex serialised them.
 */
#ifndef LSM_TEST_FAULT_ENV_H
#define LSM_TEST_FAULT_ENV_H

#include <stddef.h>
#include <stdint.h>

#include "env.h"

/* Operation kinds, as bits for fault_env_fail's mask and indexes for fault_env_count_op. */
enum fault_op {
    FAULT_OP_WRITE = 0,  /* pwrite */
    FAULT_OP_FSYNC,      /* fsync of a file */
    FAULT_OP_TRUNCATE,   /* ftruncate */
    FAULT_OP_CREATE,     /* open with O_CREAT or O_TRUNC */
    FAULT_OP_RENAME,
    FAULT_OP_UNLINK,
    FAULT_OP_LINK,
    FAULT_OP_MKDIR,
    FAULT_OP_FSYNC_DIR,
    FAULT_OP_COUNT_
};
#define FAULT_MASK(op) (1u << (op))
#define FAULT_OPS_ALL ((1u << FAULT_OP_COUNT_) - 1)

/* A new env wrapping lsm_env_posix(), with no faults armed; NULL on out of memory. */
lsm_env *fault_env_new(void);
/* Free it.  REQUIRES: no store or file still uses it (descriptors are not closed for you). */
void fault_env_free(lsm_env *env);

/* Arm a failure: the nth (1 = the very next) operation whose kind is in mask, counted from
 * this call, fails with err (a negative errno such as -ENOSPC or -EIO).  sticky = 0: only that
 * one fails; sticky = 1: it and every later operation in mask fail.  Replaces any armed
 * failure.  REQUIRES: n >= 1, err < 0. */
void fault_env_fail(lsm_env *env, unsigned mask, uint64_t n, int err, int sticky);

/* Arm a short write: the nth write from now (1 = next) writes only its first keep bytes
 * (fewer if the request is smaller: at most len - 1 of a len-byte request, so it is really
 * short) and returns that count.  Independent of fault_env_fail. */
void fault_env_short_write(lsm_env *env, uint64_t n, size_t keep);

/* From now on every fsync (and fdatasync) returns usec microseconds after it took effect, with
 * the env unlocked meanwhile: it covers the file as it was when called, and writes made while
 * it "runs" are not covered, as with a real fsync that started before them.  0 (the default)
 * turns the delay off.  Not cleared by fault_env_clear. */
void fault_env_fsync_delay(lsm_env *env, unsigned usec);

/* Disarm every failure and short write. */
void fault_env_clear(lsm_env *env);

/* Mutating operations done (attempted, including failed ones) since creation or the last
 * fault_env_reset_counts, in total and per kind. */
uint64_t fault_env_count(lsm_env *env);
uint64_t fault_env_count_op(lsm_env *env, enum fault_op op);
/* Operations failed or shortened by injection since creation / the last reset. */
uint64_t fault_env_injected(lsm_env *env);
void fault_env_reset_counts(lsm_env *env);

/* Simulate a power cut as described above.  Returns 0, or a negative errno if restoring the
 * files failed (a test bug or a real I/O error). */
int fault_env_drop_unsynced(lsm_env *env);

/* The power goes off for good: first every mutating operation starts failing with -EIO (as
 * fault_env_fail(env, FAULT_OPS_ALL, 1, -EIO, 1), until fault_env_clear), then
 * fault_env_drop_unsynced.  Use this instead of drop_unsynced while other threads (a db's
 * background flush or compaction) may still be running, so nothing they do after the cut
 * reaches the files.  Returns what drop_unsynced returns. */
int fault_env_power_off(lsm_env *env);

#endif
