/* test_concurrent_direct_writer.c — six threads each append a file of 3 MiB and a bit through
 * their own direct writer (direct_writer.h) at once: the process-wide cap lets at most four
 * of them write directly, each writer's helper thread writes while its caller fills the other
 * buffer, and every file reads back whole.  Also built under ThreadSanitizer. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "direct_writer.h"
#include "env.h"
#include "testutil.h"

#define WRITERS 6
#define SIZE (3 * DIRECT_WRITER_BUF + 77777)

typedef struct job {
    const char *dir;
    pthread_barrier_t *all_started; /* every writer holds its writer before any writes */
    int id;
    int direct; /* out: the writer got buffers */
    char why[160];
} job;

static void fill(uint8_t *d, size_t n, int id)
{
    tu_rng rng;
    tu_rng_init(&rng, (uint64_t)id + 100);
    tu_fill(&rng, d, n);
}

static void *writer_main(void *arg)
{
    job *j = arg;
    lsm_env *env = lsm_env_posix();
    char name[32];
    snprintf(name, sizeof name, "w%d", j->id);
    char *p = tu_path(j->dir, name);
    uint8_t *data = malloc(SIZE);
    int fd = p && data ? env->open(env, p, O_RDWR | O_CREAT | O_TRUNC, 0600) : -1;
    if (fd < 0) {
        snprintf(j->why, sizeof j->why, "writer %d: cannot create its file", j->id);
        pthread_barrier_wait(j->all_started);
        goto out;
    }
    fill(data, SIZE, j->id);
    direct_writer w;
    direct_writer_init(&w, env, fd, 1);
    j->direct = w.buf != NULL;
    pthread_barrier_wait(j->all_started);
    tu_rng rng;
    tu_rng_init(&rng, (uint64_t)j->id + 7);
    int rc = 0;
    uint64_t at = 0;
    for (size_t pos = 0; rc == 0 && pos < SIZE;) {
        size_t n = 1 + tu_uniform(&rng, 70000);
        if (n > SIZE - pos) n = SIZE - pos;
        rc = direct_writer_append(&w, data + pos, n, &at);
        pos += n;
    }
    if (rc == 0) rc = direct_writer_flush(&w, &at);
    direct_writer_free(&w);
    uint8_t *back = malloc(SIZE);
    if (rc)
        snprintf(j->why, sizeof j->why, "writer %d: error %d at %llu", j->id, rc,
                 (unsigned long long)at);
    else if (!back || env_read_full(env, fd, back, SIZE, 0) != 0 || memcmp(back, data, SIZE))
        snprintf(j->why, sizeof j->why, "writer %d: its file does not read back", j->id);
    free(back);
    env->close(env, fd);
out:
    free(data);
    free(p);
    return NULL;
}

static int run(char *why, size_t size)
{
    char *dir = tu_tmpdir("conc_direct");
    if (!dir) {
        snprintf(why, size, "no scratch directory");
        return -1;
    }
    job jobs[WRITERS];
    pthread_t th[WRITERS];
    pthread_barrier_t all_started;
    pthread_barrier_init(&all_started, NULL, WRITERS);
    for (int i = 0; i < WRITERS; i++) {
        jobs[i] = (job){.dir = dir, .all_started = &all_started, .id = i};
        pthread_create(&th[i], NULL, writer_main, &jobs[i]);
    }
    int direct = 0, rc = 0;
    for (int i = 0; i < WRITERS; i++) {
        pthread_join(th[i], NULL);
        direct += jobs[i].direct;
        if (jobs[i].why[0] && !rc) {
            snprintf(why, size, "%s", jobs[i].why);
            rc = -1;
        }
    }
    pthread_barrier_destroy(&all_started);
    if (!rc && direct != (tu_dir_takes_direct(dir) ? 4 : 0)) {
        snprintf(why, size, "%d writers wrote directly at once, not 4", direct);
        rc = -1;
    }
    tu_rmrf(dir);
    free(dir);
    return rc;
}

Test(concurrent_direct_writer, six_writers_at_once)
{
    char why[200] = "";
    cr_assert_eq(run(why, sizeof why), 0, "%s", why);
}

TU_TSAN_MAIN(run, "concurrent_direct_writer::six_writers_at_once")
