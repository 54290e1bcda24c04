/* test_direct_writer.c — appending with O_DIRECT through staging buffers (direct_writer.h):
 *  - pieces of random sizes (1 byte to 300 KiB, 5.3 MiB in all) reach the file whole and in
 *    order, the full buffers written directly where the file system takes O_DIRECT, the tail
 *    through the page cache;
 *  - a file system that refuses direct writes (EINVAL) or writes them short gets every byte
 *    through plain writes instead, and O_DIRECT is off afterwards;
 *  - a failing write (ENOSPC) is returned with the offset it failed at, whether the helper
 *    thread or the final flush met it, and freeing the writer afterwards does not hang;
 *  - direct = 0 writes each append at once, with no buffer;
 *  - at most four direct writers live at once. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "direct_writer.h"
#include "env.h"
#include "lsm.h"
#include "testutil.h"

#define TOTAL (5 * DIRECT_WRITER_BUF + 300000)

/* Append data[0, TOTAL) in pieces of random sizes; returns the first error (0: none) with
 * *at where it failed.  The writer is flushed, not freed. */
static int append_all(direct_writer *w, const uint8_t *data, uint64_t seed, uint64_t *at)
{
    tu_rng rng;
    tu_rng_init(&rng, seed);
    size_t pos = 0;
    while (pos < TOTAL) {
        size_t n = tu_uniform(&rng, 4) == 0 ? 1 + tu_uniform(&rng, 300000)
                                            : 1 + tu_uniform(&rng, 9000);
        if (n > TOTAL - pos) n = TOTAL - pos;
        int rc = direct_writer_append(w, data + pos, n, at);
        if (rc) return rc;
        pos += n;
    }
    return direct_writer_flush(w, at);
}

static uint8_t *random_data(uint64_t seed)
{
    uint8_t *d = malloc(TOTAL);
    cr_assert_not_null(d);
    tu_rng rng;
    tu_rng_init(&rng, seed);
    tu_fill(&rng, d, TOTAL);
    return d;
}

static void expect_file(const char *path, const uint8_t *data)
{
    size_t n = 0;
    uint8_t *back = tu_read_file(path, &n);
    cr_assert_not_null(back);
    cr_assert_eq(n, TOTAL, "file has %zu bytes, expected %d", n, TOTAL);
    for (size_t i = 0; i < n; i++)
        if (back[i] != data[i]) cr_assert_fail("byte %zu differs", i);
    free(back);
}

/* Write data through a direct writer on env into dir/name; returns the writer's direct bytes. */
static uint64_t write_file(lsm_env *env, const char *dir, const char *name, const uint8_t *data,
                           int direct, int *fd_direct_after)
{
    char *p = tu_path(dir, name);
    int fd = env->open(env, p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert_geq(fd, 0);
    direct_writer w;
    direct_writer_init(&w, env, fd, direct);
    uint64_t at = 0;
    int rc = append_all(&w, data, tu_seed("direct_writer", 11), &at);
    cr_assert_eq(rc, 0, "error %d at %llu", rc, (unsigned long long)at);
    uint64_t direct_bytes = w.direct_bytes;
    direct_writer_free(&w);
    if (fd_direct_after) *fd_direct_after = (fcntl(fd, F_GETFL) & O_DIRECT) != 0;
    cr_assert_eq(env->fsync(env, fd), 0);
    cr_assert_eq(env->close(env, fd), 0);
    expect_file(p, data);
    free(p);
    return direct_bytes;
}

Test(direct_writer, pieces_reach_the_file_whole_full_buffers_directly)
{
    char *dir = tu_tmpdir("direct_writer");
    uint8_t *data = random_data(3);
    int direct_after = 1;
    uint64_t d = write_file(lsm_env_posix(), dir, "f", data, 1, &direct_after);
    if (tu_dir_takes_direct(dir))
        cr_assert_eq(d, 5 * (uint64_t)DIRECT_WRITER_BUF, "every full buffer went directly");
    else
        cr_assert_eq(d, 0);
    cr_assert_eq(direct_after, 0, "the tail turned O_DIRECT off");
    tu_rmrf(dir);
    free(dir);
    free(data);
}

/* An environment whose O_DIRECT writes are refused (mode 0: EINVAL) or short (mode 1: half
 * of the bytes, then EINVAL), and plain writes fail with ENOSPC from fail_at on (mode 2). */
static int env_mode;
static uint64_t fail_at;
static int refused;

static ssize_t odd_pwrite(lsm_env *env, int fd, const void *buf, size_t n, off_t off)
{
    int direct = (fcntl(fd, F_GETFL) & O_DIRECT) != 0;
    if (env_mode == 2 && (uint64_t)off + n > fail_at) {
        if ((uint64_t)off >= fail_at) return -ENOSPC;
        n = (size_t)(fail_at - (uint64_t)off); /* short, up to the limit */
    }
    if (direct && env_mode == 0) {
        refused++;
        return -EINVAL;
    }
    if (direct && env_mode == 1 && n > 4096) {
        refused++;
        n = n / 2 / 4096 * 4096;
    }
    return lsm_env_posix()->pwrite(lsm_env_posix(), fd, buf, n, off);
}

static lsm_env odd_env(int mode)
{
    lsm_env e = *lsm_env_posix();
    e.pwrite = odd_pwrite;
    env_mode = mode;
    refused = 0;
    return e;
}

Test(direct_writer, refused_or_short_direct_writes_fall_back_to_plain_ones)
{
    char *dir = tu_tmpdir("direct_writer_refused");
    if (!tu_dir_takes_direct(dir)) {
        tu_rmrf(dir);
        free(dir);
        cr_skip_test("%s does not take O_DIRECT", dir);
    }
    uint8_t *data = random_data(5);
    for (int mode = 0; mode < 2; mode++) {
        lsm_env e = odd_env(mode);
        int direct_after = 1;
        uint64_t d = write_file(&e, dir, mode ? "short" : "refused", data, 1, &direct_after);
        cr_assert_eq(refused, 1, "mode %d: one refusal, then plain writes", mode);
        cr_assert_eq(d, 0, "mode %d", mode);
        cr_assert_eq(direct_after, 0, "mode %d", mode);
    }
    tu_rmrf(dir);
    free(dir);
    free(data);
}

Test(direct_writer, a_failing_write_comes_back_with_its_offset)
{
    char *dir = tu_tmpdir("direct_writer_enospc");
    uint8_t *data = random_data(9);
    /* in a full buffer the helper writes; in the tail that the flush writes */
    uint64_t limits[] = {2 * (uint64_t)DIRECT_WRITER_BUF + 8192,
                         5 * (uint64_t)DIRECT_WRITER_BUF + 4096};
    for (int i = 0; i < 2; i++) {
        for (int direct = 0; direct < 2; direct++) {
            lsm_env e = odd_env(2);
            fail_at = limits[i];
            char *p = tu_path(dir, "f");
            int fd = e.open(&e, p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
            cr_assert_geq(fd, 0);
            direct_writer w;
            direct_writer_init(&w, &e, fd, direct);
            uint64_t at = 0;
            int rc = append_all(&w, data, 13, &at);
            direct_writer_free(&w);
            cr_assert_eq(rc, -ENOSPC, "limit %d direct %d: rc %d", i, direct, rc);
            cr_assert_eq(at, fail_at, "limit %d direct %d: failed at %llu", i, direct,
                         (unsigned long long)at);
            e.close(&e, fd);
            free(p);
        }
    }
    tu_rmrf(dir);
    free(dir);
    free(data);
}

Test(direct_writer, without_direct_each_append_is_written_at_once)
{
    char *dir = tu_tmpdir("direct_writer_plain");
    char *p = tu_path(dir, "f");
    lsm_env *env = lsm_env_posix();
    int fd = env->open(env, p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert_geq(fd, 0);
    direct_writer w;
    direct_writer_init(&w, env, fd, 0);
    cr_assert_null(w.buf);
    uint8_t piece[1000];
    memset(piece, 7, sizeof piece);
    for (int i = 1; i <= 3; i++) {
        cr_assert_eq(direct_writer_append(&w, piece, sizeof piece, NULL), 0);
        uint64_t size = 0;
        cr_assert_eq(env->fsize(env, fd, &size), 0);
        cr_assert_eq(size, (uint64_t)i * sizeof piece);
    }
    cr_assert_eq(direct_writer_flush(&w, NULL), 0);
    direct_writer_free(&w);
    cr_assert_eq(env->close(env, fd), 0);
    tu_rmrf(dir);
    free(dir);
    free(p);
}

/* Four direct writers at once get buffers; a fifth writes plainly, until one is freed. */
Test(direct_writer, at_most_four_direct_writers_at_once)
{
    char *dir = tu_tmpdir("direct_writer_cap");
    if (!tu_dir_takes_direct(dir)) {
        tu_rmrf(dir);
        free(dir);
        cr_skip_test("%s does not take O_DIRECT", dir);
    }
    lsm_env *env = lsm_env_posix();
    direct_writer w[6];
    int fd[6];
    for (int i = 0; i < 6; i++) {
        char name[16];
        snprintf(name, sizeof name, "f%d", i);
        char *p = tu_path(dir, name);
        fd[i] = env->open(env, p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        cr_assert_geq(fd[i], 0);
        free(p);
        if (i == 5) direct_writer_free(&w[0]); /* a slot comes free for the sixth */
        direct_writer_init(&w[i], env, fd[i], 1);
        cr_assert_eq(w[i].buf != NULL, i != 4, "writer %d", i);
    }
    for (int i = 1; i < 6; i++) direct_writer_free(&w[i]);
    for (int i = 0; i < 6; i++) env->close(env, fd[i]);
    tu_rmrf(dir);
    free(dir);
}
