/*
 * env.h — the file-system shim every byte of liblsm's I/O goes through.
 *
 * The engine never calls open/pwrite/fsync directly: it calls these hooks, so tests can swap in
 * a fault-injecting environment (tests/lsm/fault_env.c) that fails the Nth operation with
 * ENOSPC or EIO, makes short writes, or throws away everything that was not fsynced, to
 * simulate a power cut.  Files are plain descriptors.  Every hook returns >= 0 on success or a
 * negative errno; hooks do not set the lsm_last_error message (callers add file names).
 */
#ifndef LSM_ENV_H
#define LSM_ENV_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "lsm.h"

struct lsm_env {
    /* open(2) semantics; returns a descriptor or -errno. */
    int (*open)(lsm_env *env, const char *path, int flags, mode_t mode);
    int (*close)(lsm_env *env, int fd);
    /* Full-length semantics are the caller's job: these may be short, like the syscalls. */
    ssize_t (*pread)(lsm_env *env, int fd, void *buf, size_t n, off_t off);
    ssize_t (*pwrite)(lsm_env *env, int fd, const void *buf, size_t n, off_t off);
    /* preadv(2): one read scattered over n buffers (may be short, like pread).  Optional:
     * NULL means callers read through pread alone. */
    ssize_t (*preadv)(lsm_env *env, int fd, const struct iovec *iov, int n, off_t off);
    int (*fsync)(lsm_env *env, int fd);
    /* fdatasync(2): the file's data and the metadata needed to read it back (its size), not
     * e.g. its times -- cheaper for an append-only log.  Optional: NULL means callers use
     * fsync.  A fault-injecting env counts it as an fsync. */
    int (*fdatasync)(lsm_env *env, int fd);
    /* Start writing [off, off + len) of the file back to disk without waiting and without any
     * durability promise (sync_file_range SYNC_FILE_RANGE_WRITE): a later fsync of a big file
     * then has little left to do.  Optional: NULL means no hint. */
    int (*start_writeback)(lsm_env *env, int fd, off_t off, off_t len);
    /* Turn O_DIRECT on (on != 0) or off for fd's writes: then they go to the device without
     * the page cache, and the file system may refuse unaligned ones (EINVAL).  Optional: NULL
     * means the environment writes through the page cache only (direct_writer.h). */
    int (*set_direct)(lsm_env *env, int fd, int on);
    /* Bytes an unprivileged writer may still use on the file system holding fd (fstatvfs:
     * f_bavail * f_frsize).  Optional: NULL means unknown, and the engine then trades no space
     * for speed (the WAL's prefill, wal.c). */
    int (*free_space)(lsm_env *env, int fd, uint64_t *bytes);
    int (*ftruncate)(lsm_env *env, int fd, off_t len);
    /* Size of an open file. */
    int (*fsize)(lsm_env *env, int fd, uint64_t *size);
    int (*rename)(lsm_env *env, const char *from, const char *to);
    int (*unlink)(lsm_env *env, const char *path);
    int (*link)(lsm_env *env, const char *from, const char *to);
    int (*mkdir)(lsm_env *env, const char *path, mode_t mode);
    /* fsync the directory itself, making renames/creates/unlinks in it durable. */
    int (*fsync_dir)(lsm_env *env, const char *dir);
    /* Names in dir (without "." and ".."), as a malloc'd array of malloc'd strings. */
    int (*list_dir)(lsm_env *env, const char *dir, char ***names, size_t *count);
    /* 0 if path exists, -ENOENT if not, other -errno on error; *is_dir set when non-NULL. */
    int (*stat)(lsm_env *env, const char *path, int *is_dir);
    /* Take an exclusive, non-blocking lock on path (created 0600 if missing); returns the
     * descriptor that holds it, -EBUSY if another process holds it. */
    int (*lock)(lsm_env *env, const char *path);
    void *ctx; /* the environment's own state */
};

/* The process-wide POSIX environment (stateless, never freed). */
lsm_env *lsm_env_posix(void);

/* Helpers over an env: loop until all n bytes are transferred.  Return 0, -errno, or for
 * env_read_full -ENODATA when the file ends before n bytes. */
int env_write_full(lsm_env *env, int fd, const void *buf, size_t n, off_t off);
/* env_write_full that also tells, on failure, the offset where writing stopped (*at). */
int env_write_full_at(lsm_env *env, int fd, const void *buf, size_t n, off_t off, off_t *at);
int env_read_full(lsm_env *env, int fd, void *buf, size_t n, off_t off);
/* Free a list returned by list_dir. */
void env_free_list(char **names, size_t count);

#endif
