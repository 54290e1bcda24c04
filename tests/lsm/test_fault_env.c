/* test_fault_env.c — the fault-injecting env on plain files: the Nth mutating operation fails
 * once or from then on (and does nothing), masks select kinds, counters let a test fail each
 * operation of a workload in turn, short writes are short, and the power cut drops exactly
 * what was not made durable (unsynced bytes, unsynced creations, unsynced renames). */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fault_env.h"
#include "testutil.h"

static char *dir;
static lsm_env *env;
static void setup(void)
{
    dir = tu_tmpdir("fault");
    env = fault_env_new();
    cr_assert(dir && env);
}
static void teardown(void)
{
    fault_env_free(env);
    tu_rmrf(dir);
    free(dir);
}
TestSuite(fault_env, .init = setup, .fini = teardown, .timeout = 60);

static char *P(const char *name) { return tu_path(dir, name); }

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static long fsize_of(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

/* Contents of path must be exactly data[0..n). */
static void expect_content(const char *path, const void *data, size_t n)
{
    size_t got;
    uint8_t *b = tu_read_file(path, &got);
    cr_assert(b, "%s missing", path);
    cr_assert_eq(got, n, "%s: %zu bytes, expected %zu", path, got, n);
    cr_assert(n == 0 || memcmp(b, data, n) == 0, "%s: wrong content", path);
    free(b);
}

static int create(const char *path) { return env->open(env, path, O_WRONLY | O_CREAT | O_TRUNC, 0600); }

Test(fault_env, fail_nth_once)
{
    char *f = P("a");
    int fd = create(f);
    cr_assert_geq(fd, 0);
    fault_env_fail(env, FAULT_OPS_ALL, 2, -ENOSPC, 0);
    cr_assert_eq(env->pwrite(env, fd, "11111", 5, 0), 5);
    cr_assert_eq(env->pwrite(env, fd, "22222", 5, 5), -ENOSPC);
    cr_assert_eq(fsize_of(f), 5, "a failed write writes nothing");
    cr_assert_eq(env->pwrite(env, fd, "33333", 5, 5), 5, "once: later operations succeed");
    cr_assert_eq(env->fsync(env, fd), 0);
    cr_assert_eq(fault_env_injected(env), 1);
    env->close(env, fd);
    expect_content(f, "1111133333", 10);
    free(f);
}

Test(fault_env, fail_sticky_and_clear)
{
    char *f = P("a");
    int fd = create(f);
    fault_env_fail(env, FAULT_OPS_ALL, 1, -EIO, 1);
    cr_assert_eq(env->pwrite(env, fd, "x", 1, 0), -EIO);
    cr_assert_eq(env->fsync(env, fd), -EIO);
    cr_assert_eq(env->rename(env, f, f), -EIO);
    cr_assert_eq(env->mkdir(env, f, 0700), -EIO);
    cr_assert_eq(fault_env_injected(env), 4);
    fault_env_clear(env);
    cr_assert_eq(env->pwrite(env, fd, "x", 1, 0), 1);
    env->close(env, fd);
    free(f);
}

Test(fault_env, mask_selects_kinds)
{
    char *f = P("a");
    int fd = create(f);
    fault_env_fail(env, FAULT_MASK(FAULT_OP_FSYNC), 2, -EIO, 0);
    cr_assert_eq(env->fsync(env, fd), 0);
    for (int i = 0; i < 5; i++) cr_assert_eq(env->pwrite(env, fd, "w", 1, i), 1, "writes are not in the mask");
    cr_assert_eq(env->fsync(env, fd), -EIO, "the second fsync fails");
    cr_assert_eq(env->fsync(env, fd), 0);
    env->close(env, fd);
    free(f);
}

Test(fault_env, short_write)
{
    char *f = P("a");
    int fd = create(f);
    fault_env_short_write(env, 2, 3);
    cr_assert_eq(env->pwrite(env, fd, "abcdefgh", 8, 0), 8);
    cr_assert_eq(env->pwrite(env, fd, "ABCDEFGH", 8, 8), 3);
    cr_assert_eq(env->pwrite(env, fd, "xy", 2, 11), 2);
    /* keep >= length: still short by one byte */
    fault_env_short_write(env, 1, 100);
    cr_assert_eq(env->pwrite(env, fd, "1234", 4, 13), 3);
    env->close(env, fd);
    expect_content(f, "abcdefghABCxy123", 16);
    cr_assert_eq(fault_env_injected(env), 2);
    free(f);
}

/* A workload touching every kind of mutating operation; returns the first error (or 0) and
 * stops there, like a careful caller. */
static int workload(const char *base)
{
    char *sub = tu_path(base, "sub"), *a = tu_path(base, "sub/a"), *b = tu_path(base, "sub/b"),
         *c = tu_path(base, "sub/c");
    int rc = env->mkdir(env, sub, 0700);
    int fd = -1;
    if (rc == 0) rc = fd = create(a);
    if (rc >= 0) rc = (int)env->pwrite(env, fd, "hello", 5, 0);
    if (rc >= 0) rc = env->fsync(env, fd);
    if (rc >= 0) rc = env->ftruncate(env, fd, 2);
    if (fd >= 0) env->close(env, fd);
    if (rc >= 0) rc = env->rename(env, a, b);
    if (rc >= 0) rc = env->link(env, b, c);
    if (rc >= 0) rc = env->unlink(env, b);
    if (rc >= 0) rc = env->fsync_dir(env, sub);
    free(sub), free(a), free(b), free(c);
    return rc < 0 ? rc : 0;
}

Test(fault_env, count_then_fail_each_operation)
{
    char *w0 = P("w0");
    mkdir(w0, 0700);
    fault_env_reset_counts(env);
    cr_assert_eq(workload(w0), 0);
    uint64_t total = fault_env_count(env);
    cr_assert_eq(total, 9, "mkdir create write fsync ftruncate rename link unlink fsync_dir: %llu",
                 (unsigned long long)total);
    for (int op = 0; op < FAULT_OP_COUNT_; op++)
        cr_assert_eq(fault_env_count_op(env, (enum fault_op)op), 1, "op kind %d counted once", op);
    /* Reads and stats are not mutating. */
    char *probe = tu_path(w0, "sub/c");
    int fd = env->open(env, probe, O_RDONLY, 0);
    char buf[4];
    cr_assert_eq(env->pread(env, fd, buf, 2, 0), 2);
    uint64_t sz;
    cr_assert_eq(env->fsize(env, fd, &sz), 0);
    env->close(env, fd);
    cr_assert_eq(env->stat(env, probe, NULL), 0);
    cr_assert_eq(fault_env_count(env), total);
    free(probe);

    for (uint64_t n = 1; n <= total; n++) {
        char name[32];
        snprintf(name, sizeof name, "w%llu", (unsigned long long)n);
        char *wd = P(name);
        mkdir(wd, 0700);
        fault_env_reset_counts(env);
        fault_env_fail(env, FAULT_OPS_ALL, n, -ENOSPC, 0);
        cr_assert_eq(workload(wd), -ENOSPC, "operation %llu was not failed", (unsigned long long)n);
        cr_assert_eq(fault_env_injected(env), 1);
        cr_assert_eq(fault_env_count(env), n, "the workload stops at the failed operation");
        fault_env_clear(env);
        free(wd);
    }
    free(w0);
}

Test(fault_env, power_cut_truncates_to_synced_size)
{
    char *f = P("a");
    int fd = create(f);
    cr_assert_eq(env->fsync_dir(env, dir), 0); /* the name is durable */
    cr_assert_eq(env->pwrite(env, fd, "0123456789", 10, 0), 10);
    cr_assert_eq(env->fsync(env, fd), 0);
    cr_assert_eq(env->pwrite(env, fd, "abcdefghij", 10, 10), 10);
    env->close(env, fd);
    cr_assert_eq(fsize_of(f), 20);
    cr_assert_eq(fault_env_drop_unsynced(env), 0);
    expect_content(f, "0123456789", 10);
    free(f);
}

Test(fault_env, power_cut_never_synced_file)
{
    /* Created and written but never fsynced: empty if its name was made durable, gone if
     * not even that. */
    char *named = P("named"), *unnamed = P("unnamed");
    int fd = create(named);
    cr_assert_eq(env->pwrite(env, fd, "data", 4, 0), 4);
    env->close(env, fd);
    cr_assert_eq(env->fsync_dir(env, dir), 0);
    fd = create(unnamed);
    cr_assert_eq(env->pwrite(env, fd, "data", 4, 0), 4);
    cr_assert_eq(env->fsync(env, fd), 0); /* contents synced, but not the directory entry */
    env->close(env, fd);
    cr_assert_eq(fault_env_drop_unsynced(env), 0);
    cr_assert(exists(named));
    cr_assert_eq(fsize_of(named), 0);
    cr_assert(!exists(unnamed), "a creation without a directory fsync is undone");
    free(named);
    free(unnamed);
}

Test(fault_env, power_cut_restores_overwritten_synced_bytes)
{
    char *f = P("a");
    int fd = create(f);
    cr_assert_eq(env->fsync_dir(env, dir), 0);
    cr_assert_eq(env->pwrite(env, fd, "0123456789", 10, 0), 10);
    cr_assert_eq(env->fsync(env, fd), 0);
    cr_assert_eq(env->pwrite(env, fd, "XX", 2, 3), 2);      /* overwrite inside */
    cr_assert_eq(env->pwrite(env, fd, "YYYY", 4, 8), 4);    /* straddles the synced end */
    cr_assert_eq(env->ftruncate(env, fd, 5), 0);            /* shrink below it */
    cr_assert_eq(env->pwrite(env, fd, "Z", 1, 1), 1);
    env->close(env, fd);
    /* Reopening with O_TRUNC throws the content away: also undone. */
    fd = create(f);
    env->close(env, fd);
    cr_assert_eq(fsize_of(f), 0);
    cr_assert_eq(fault_env_drop_unsynced(env), 0);
    expect_content(f, "0123456789", 10);
    free(f);
}

Test(fault_env, power_cut_undoes_unsynced_rename)
{
    /* The CURRENT-file protocol: write tmp, fsync, rename over the old file.  Without the
     * directory fsync the old file is back after the cut and the new one is gone. */
    char *cur = P("CURRENT"), *tmp = P("CURRENT.tmp");
    int fd = create(cur);
    cr_assert_eq(env->pwrite(env, fd, "old\n", 4, 0), 4);
    cr_assert_eq(env->fsync(env, fd), 0);
    env->close(env, fd);
    cr_assert_eq(env->fsync_dir(env, dir), 0);

    fd = create(tmp);
    cr_assert_eq(env->pwrite(env, fd, "new\n", 4, 0), 4);
    cr_assert_eq(env->fsync(env, fd), 0);
    env->close(env, fd);
    cr_assert_eq(env->rename(env, tmp, cur), 0);
    expect_content(cur, "new\n", 4);
    cr_assert_eq(fault_env_drop_unsynced(env), 0);
    expect_content(cur, "old\n", 4);
    cr_assert(!exists(tmp), "the temp file's creation was never made durable either");

    /* Same again with the directory fsync: the rename sticks. */
    fd = create(tmp);
    cr_assert_eq(env->pwrite(env, fd, "new\n", 4, 0), 4);
    cr_assert_eq(env->fsync(env, fd), 0);
    env->close(env, fd);
    cr_assert_eq(env->rename(env, tmp, cur), 0);
    cr_assert_eq(env->fsync_dir(env, dir), 0);
    cr_assert_eq(fault_env_drop_unsynced(env), 0);
    expect_content(cur, "new\n", 4);
    cr_assert(!exists(tmp));
    free(cur);
    free(tmp);
}

Test(fault_env, power_cut_rename_of_unsynced_content)
{
    /* Renamed and dir-synced but the data was never fsynced: the name survives, empty. */
    char *a = P("a"), *b = P("b");
    int fd = create(a);
    cr_assert_eq(env->pwrite(env, fd, "lost", 4, 0), 4);
    env->close(env, fd);
    cr_assert_eq(env->rename(env, a, b), 0);
    cr_assert_eq(env->fsync_dir(env, dir), 0);
    cr_assert_eq(fault_env_drop_unsynced(env), 0);
    cr_assert(!exists(a));
    cr_assert_eq(fsize_of(b), 0);
    free(a);
    free(b);
}

Test(fault_env, untouched_files_survive)
{
    /* Files the env never wrote are left alone, and the env starts afresh after a cut. */
    char *f = P("plain");
    cr_assert_eq(tu_write_file(f, "keep", 4), 0);
    cr_assert_eq(fault_env_drop_unsynced(env), 0);
    expect_content(f, "keep", 4);
    int fd = env->open(env, f, O_WRONLY, 0); /* existing file: assumed synced when first seen */
    cr_assert_eq(env->pwrite(env, fd, "++", 2, 4), 2);
    env->close(env, fd);
    cr_assert_eq(fault_env_drop_unsynced(env), 0);
    expect_content(f, "keep", 4);
    free(f);
}

Test(fault_env, power_cut_undoes_unsynced_unlink)
{
    char *a = P("a"), *b = P("b");
    int fd = create(a);
    cr_assert_eq(env->pwrite(env, fd, "durable", 7, 0), 7);
    cr_assert_eq(env->fsync(env, fd), 0);
    cr_assert_eq(env->pwrite(env, fd, "+lost", 5, 7), 5); /* never synced */
    env->close(env, fd);
    cr_assert_eq(tu_write_file(b, "pre-existing", 12), 0);
    cr_assert_eq(env->fsync_dir(env, dir), 0);

    cr_assert_eq(env->unlink(env, a), 0);
    cr_assert_eq(env->unlink(env, b), 0);
    /* A new file under an unlinked name, never made durable either. */
    fd = create(a);
    cr_assert_eq(env->pwrite(env, fd, "new", 3, 0), 3);
    cr_assert_eq(env->fsync(env, fd), 0);
    env->close(env, fd);
    cr_assert_eq(fault_env_drop_unsynced(env), 0);
    expect_content(a, "durable", 7); /* the old file, as of its last fsync */
    expect_content(b, "pre-existing", 12);

    /* With a directory fsync after the unlink, it stays gone. */
    cr_assert_eq(env->unlink(env, a), 0);
    cr_assert_eq(env->fsync_dir(env, dir), 0);
    cr_assert_eq(fault_env_drop_unsynced(env), 0);
    cr_assert(!exists(a));
    /* A file whose creation was never durable does not come back from an unlink. */
    char *c = P("c");
    fd = create(c);
    env->close(env, fd);
    cr_assert_eq(env->unlink(env, c), 0);
    cr_assert_eq(fault_env_drop_unsynced(env), 0);
    cr_assert(!exists(c));
    free(a);
    free(b);
    free(c);
}

Test(fault_env, power_cut_rename_then_unlink_chain)
{
    /* x (durable) renamed to y, then y unlinked, nothing synced: x is back, y absent. */
    char *x = P("x"), *y = P("y");
    int fd = create(x);
    cr_assert_eq(env->pwrite(env, fd, "xx", 2, 0), 2);
    cr_assert_eq(env->fsync(env, fd), 0);
    env->close(env, fd);
    cr_assert_eq(env->fsync_dir(env, dir), 0);
    cr_assert_eq(env->rename(env, x, y), 0);
    cr_assert_eq(env->unlink(env, y), 0);
    cr_assert_eq(fault_env_drop_unsynced(env), 0);
    expect_content(x, "xx", 2);
    cr_assert(!exists(y));
    free(x);
    free(y);
}

typedef struct bg_writer {
    lsm_env *env;
    int fd;
    atomic_int stop;
    long ok, failed;
} bg_writer;

static void *bg_write(void *arg)
{
    bg_writer *b = arg;
    char block[512];
    memset(block, 'b', sizeof block);
    uint64_t off = 0;
    while (!atomic_load(&b->stop)) {
        ssize_t w = b->env->pwrite(b->env, b->fd, block, sizeof block, (off_t)off);
        if (w == (ssize_t)sizeof block) {
            off += sizeof block;
            b->ok++;
            if (b->ok % 8 == 0) b->env->fsync(b->env, b->fd);
        } else {
            b->failed++;
            sched_yield();
        }
    }
    return NULL;
}

Test(fault_env, power_off_with_a_thread_still_writing)
{
    /* A "background thread" keeps writing (fsyncing now and then) while the power goes off:
     * afterwards the file holds exactly its last synced size, and every later write fails. */
    char *f = P("bg");
    bg_writer b = {.env = env, .fd = create(f)};
    cr_assert_geq(b.fd, 0);
    cr_assert_eq(env->fsync_dir(env, dir), 0);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, bg_write, &b), 0);
    while (fault_env_count_op(env, FAULT_OP_WRITE) < 100) sched_yield();
    cr_assert_eq(fault_env_power_off(env), 0);
    long size_after_cut = fsize_of(f);
    uint64_t writes_at_cut = fault_env_count_op(env, FAULT_OP_WRITE);
    while (fault_env_count_op(env, FAULT_OP_WRITE) < writes_at_cut + 20) sched_yield();
    atomic_store(&b.stop, 1);
    pthread_join(th, NULL);
    env->close(env, b.fd);
    cr_assert_eq(size_after_cut % (8 * 512), 0, "cut to a synced size (every 8th write), got %ld", size_after_cut);
    cr_assert_eq(fsize_of(f), size_after_cut, "nothing written after the power went off");
    cr_assert_geq(b.failed, 20);
    free(f);
}
