/* test_env_posix.c — the POSIX env: full reads/writes, -ENODATA at end of file, O_CLOEXEC,
 * the store lock (-EBUSY while held, free again after close), list_dir, stat, rename/link/
 * unlink, fsync_dir. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "env.h"
#include "lsm.h"
#include "testutil.h"

Test(env_posix, write_read_full_and_eof)
{
    lsm_env *env = lsm_env_posix();
    char *dir = tu_tmpdir("envposix");
    char *p = tu_path(dir, "f");
    int fd = env->open(env, p, O_RDWR | O_CREAT | O_TRUNC, 0644);
    cr_assert_geq(fd, 0);
    cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC, "descriptors are opened O_CLOEXEC");
    uint8_t data[100000], back[100000];
    tu_rng rng;
    tu_rng_init(&rng, 7);
    tu_fill(&rng, data, sizeof data);
    cr_assert_eq(env_write_full(env, fd, data, sizeof data, 0), 0);
    uint64_t size = 0;
    cr_assert_eq(env->fsize(env, fd, &size), 0);
    cr_assert_eq(size, sizeof data);
    cr_assert_eq(env_read_full(env, fd, back, sizeof back, 0), 0);
    cr_assert_eq(memcmp(data, back, sizeof data), 0);
    cr_assert_eq(env_read_full(env, fd, back, 10, sizeof data - 5), -ENODATA);
    cr_assert_eq(env->fsync(env, fd), 0);
    cr_assert_eq(env->ftruncate(env, fd, 10), 0);
    cr_assert_eq(env->fsize(env, fd, &size), 0);
    cr_assert_eq(size, 10);
    cr_assert_eq(env->close(env, fd), 0);
    cr_assert_eq(env->open(env, "/nonexistent/dir/x", O_RDONLY, 0), -ENOENT);
    tu_rmrf(dir);
    free(p);
    free(dir);
}

Test(env_posix, lock_is_exclusive)
{
    lsm_env *env = lsm_env_posix();
    char *dir = tu_tmpdir("envposix");
    char *p = tu_path(dir, "LOCK");
    int fd = env->lock(env, p);
    cr_assert_geq(fd, 0);
    /* flock belongs to the open file description, so even this process is refused. */
    cr_assert_eq(env->lock(env, p), -EBUSY);
    cr_assert_eq(env->close(env, fd), 0);
    int fd2 = env->lock(env, p);
    cr_assert_geq(fd2, 0, "lock is free again after the holder closes it");
    env->close(env, fd2);
    tu_rmrf(dir);
    free(p);
    free(dir);
}

Test(env_posix, directory_operations)
{
    lsm_env *env = lsm_env_posix();
    char *dir = tu_tmpdir("envposix");
    char *sub = tu_path(dir, "sub");
    cr_assert_eq(env->mkdir(env, sub, 0755), 0);
    cr_assert_eq(env->mkdir(env, sub, 0755), -EEXIST);
    int is_dir = -1;
    cr_assert_eq(env->stat(env, sub, &is_dir), 0);
    cr_assert_eq(is_dir, 1);
    char *a = tu_path(sub, "a"), *b = tu_path(sub, "b"), *c = tu_path(sub, "c");
    cr_assert_eq(tu_write_file(a, "x", 1), 0);
    cr_assert_eq(env->stat(env, a, &is_dir), 0);
    cr_assert_eq(is_dir, 0);
    cr_assert_eq(env->stat(env, b, NULL), -ENOENT);
    cr_assert_eq(env->rename(env, a, b), 0);
    cr_assert_eq(env->link(env, b, c), 0);
    cr_assert_eq(env->fsync_dir(env, sub), 0);
    cr_assert_lt(env->fsync_dir(env, b), 0, "a file is not a directory");
    char **names = NULL;
    size_t n = 0;
    cr_assert_eq(env->list_dir(env, sub, &names, &n), 0);
    cr_assert_eq(n, 2);
    int seen_b = 0, seen_c = 0;
    for (size_t i = 0; i < n; i++) {
        seen_b += !strcmp(names[i], "b");
        seen_c += !strcmp(names[i], "c");
    }
    cr_assert(seen_b && seen_c);
    env_free_list(names, n);
    cr_assert_eq(env->unlink(env, b), 0);
    cr_assert_eq(env->unlink(env, b), -ENOENT);
    cr_assert_eq(env->list_dir(env, c, &names, &n), -ENOTDIR);
    tu_rmrf(dir);
    free(a);
    free(b);
    free(c);
    free(sub);
    free(dir);
}

/* An env whose pread/pwrite move at most 3 bytes per call: the full-transfer helpers must
 * loop until everything is moved. */
static ssize_t short_pread(lsm_env *env, int fd, void *buf, size_t n, off_t off)
{
    lsm_env *real = env->ctx;
    return real->pread(real, fd, buf, n > 3 ? 3 : n, off);
}
static ssize_t short_pwrite(lsm_env *env, int fd, const void *buf, size_t n, off_t off)
{
    lsm_env *real = env->ctx;
    return real->pwrite(real, fd, buf, n > 3 ? 3 : n, off);
}

Test(env_posix, full_helpers_loop_over_short_transfers)
{
    lsm_env shorty = *lsm_env_posix();
    shorty.pread = short_pread;
    shorty.pwrite = short_pwrite;
    shorty.ctx = lsm_env_posix();
    char *dir = tu_tmpdir("envposix");
    char *p = tu_path(dir, "f");
    int fd = shorty.open(&shorty, p, O_RDWR | O_CREAT, 0600);
    cr_assert_geq(fd, 0);
    const char msg[] = "a message longer than three bytes";
    cr_assert_eq(env_write_full(&shorty, fd, msg, sizeof msg, 5), 0);
    char back[sizeof msg];
    cr_assert_eq(env_read_full(&shorty, fd, back, sizeof back, 5), 0);
    cr_assert_str_eq(back, msg);
    shorty.close(&shorty, fd);
    tu_rmrf(dir);
    free(p);
    free(dir);
}
