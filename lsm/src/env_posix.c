/*
 * env_posix.c — the default lsm_env: thin wrappers over POSIX calls returning -errno, plus the
 * full-length read/write helpers every caller of an env uses.
 *
 * Descriptors are opened O_CLOEXEC so that a FUSE daemon spawning helpers does not leak them.
 * pread/pwrite retry on EINTR but may still be short; env_read_full/env_write_full loop.
 * The store lock is an flock(2) on a lock file: released by the kernel when the process dies,
 * and held per open file description, so a second open in the same process is refused too.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "env.h"

static int px_open(lsm_env *env, const char *path, int flags, mode_t mode)
{
    int fd;
    do fd = open(path, flags | O_CLOEXEC, mode);
    while (fd < 0 && errno == EINTR);
    return fd < 0 ? -errno : fd;
}

static int px_close(lsm_env *env, int fd) { return close(fd) < 0 && errno != EINTR ? -errno : 0; }

static ssize_t px_pread(lsm_env *env, int fd, void *buf, size_t n, off_t off)
{
    ssize_t r;
    do r = pread(fd, buf, n, off);
    while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : r;
}

static ssize_t px_preadv(lsm_env *env, int fd, const struct iovec *iov, int n, off_t off)
{
    ssize_t r;
    do r = preadv(fd, iov, n, off);
    while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : r;
}

static ssize_t px_pwrite(lsm_env *env, int fd, const void *buf, size_t n, off_t off)
{
    ssize_t r;
    do r = pwrite(fd, buf, n, off);
    while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : r;
}

static int px_fsync(lsm_env *env, int fd)
{
    int r;
    do r = fsync(fd);
    while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : 0;
}

static int px_ftruncate(lsm_env *env, int fd, off_t len)
{
    int r;
    do r = ftruncate(fd, len);
    while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : 0;
}

static int px_fsize(lsm_env *env, int fd, uint64_t *size)
{
    struct stat st;
    if (fstat(fd, &st) < 0) return -errno;
    *size = (uint64_t)st.st_size;
    return 0;
}

static int px_rename(lsm_env *env, const char *from, const char *to)
{
    return rename(from, to) < 0 ? -errno : 0;
}

static int px_unlink(lsm_env *env, const char *path) { return unlink(path) < 0 ? -errno : 0; }

static int px_link(lsm_env *env, const char *from, const char *to)
{
    return link(from, to) < 0 ? -errno : 0;
}

static int px_mkdir(lsm_env *env, const char *path, mode_t mode)
{
    return mkdir(path, mode) < 0 ? -errno : 0;
}

static int px_fdatasync(lsm_env *env, int fd)
{
    int r;
    do r = fdatasync(fd);
    while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : 0;
}

static int px_start_writeback(lsm_env *env, int fd, off_t off, off_t len)
{
    return sync_file_range(fd, off, len, SYNC_FILE_RANGE_WRITE) < 0 ? -errno : 0;
}

static int px_set_direct(lsm_env *env, int fd, int on)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0) return -errno;
    fl = on ? fl | O_DIRECT : fl & ~O_DIRECT;
    return fcntl(fd, F_SETFL, fl) < 0 ? -errno : 0;
}

static int px_free_space(lsm_env *env, int fd, uint64_t *bytes)
{
    struct statvfs sv;
    if (fstatvfs(fd, &sv) < 0) return -errno;
    *bytes = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
    return 0;
}

static int px_fsync_dir(lsm_env *env, const char *dir)
{
    int fd = px_open(env, dir, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0) return fd;
    int r = px_fsync(env, fd);
    close(fd);
    return r;
}

static int px_list_dir(lsm_env *env, const char *dir, char ***names, size_t *count)
{
    *names = NULL;
    *count = 0;
    DIR *d = opendir(dir);
    if (!d) return -errno;
    char **v = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    for (;;) {
        errno = 0;
        de = readdir(d);
        if (!de) {
            rc = errno ? -errno : 0;
            break;
        }
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char **nv = realloc(v, ncap * sizeof *nv);
            if (!nv) {
                rc = -ENOMEM;
                break;
            }
            v = nv;
            cap = ncap;
        }
        if (!(v[n] = strdup(de->d_name))) {
            rc = -ENOMEM;
            break;
        }
        n++;
    }
    closedir(d);
    if (rc) {
        env_free_list(v, n);
        return rc;
    }
    *names = v;
    *count = n;
    return 0;
}

static int px_stat(lsm_env *env, const char *path, int *is_dir)
{
    struct stat st;
    if (stat(path, &st) < 0) return -errno;
    if (is_dir) *is_dir = S_ISDIR(st.st_mode);
    return 0;
}

static int px_lock(lsm_env *env, const char *path)
{
    int fd = px_open(env, path, O_RDWR | O_CREAT, 0600);
    if (fd < 0) return fd;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno == EWOULDBLOCK ? EBUSY : errno;
        close(fd);
        return -e;
    }
    return fd;
}

static lsm_env posix_env = {
    .open = px_open,
    .close = px_close,
    .pread = px_pread,
    .preadv = px_preadv,
    .pwrite = px_pwrite,
    .fsync = px_fsync,
    .ftruncate = px_ftruncate,
    .fsize = px_fsize,
    .rename = px_rename,
    .unlink = px_unlink,
    .link = px_link,
    .mkdir = px_mkdir,
    .fsync_dir = px_fsync_dir,
    .fdatasync = px_fdatasync,
    .start_writeback = px_start_writeback,
    .set_direct = px_set_direct,
    .free_space = px_free_space,
    .list_dir = px_list_dir,
    .stat = px_stat,
    .lock = px_lock,
    .ctx = NULL,
};

lsm_env *lsm_env_posix(void) { return &posix_env; }

int env_write_full_at(lsm_env *env, int fd, const void *buf, size_t n, off_t off, off_t *at)
{
    const uint8_t *p = buf;
    while (n) {
        ssize_t w = env->pwrite(env, fd, p, n, off);
        if (w <= 0) {
            if (at) *at = off;
            return w < 0 ? (int)w : -EIO; /* no progress: an I/O error rather than a spin */
        }
        p += w;
        n -= (size_t)w;
        off += w;
    }
    return 0;
}

int env_write_full(lsm_env *env, int fd, const void *buf, size_t n, off_t off)
{
    return env_write_full_at(env, fd, buf, n, off, NULL);
}

int env_read_full(lsm_env *env, int fd, void *buf, size_t n, off_t off)
{
    uint8_t *p = buf;
    while (n) {
        ssize_t r = env->pread(env, fd, p, n, off);
        if (r < 0) return (int)r;
        if (r == 0) return -ENODATA;
        p += r;
        n -= (size_t)r;
        off += r;
    }
    return 0;
}

void env_free_list(char **names, size_t count)
{
    if (!names) return;
    for (size_t i = 0; i < count; i++) free(names[i]);
    free(names);
}
