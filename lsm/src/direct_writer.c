/*
 * direct_writer.c — appending with O_DIRECT through aligned staging buffers (direct_writer.h).
 *
 * Two buffers: while a helper thread writes a full one to the device, the caller fills the
 * other, so the caller waits for the device only when it outruns it.
 */
#include "direct_writer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define DIRECT_ALIGN 4096 /* buffer address, offsets and lengths of direct writes */

/* Direct writers alive in the process at most: each holds two buffers and a thread, and many
 * files written at once must not multiply them (the others write plainly).  Process-wide on
 * purpose: it bounds the process's memory, whatever the number of stores. */
#define DIRECT_WRITERS_MAX 4
static int direct_writers_live; /* atomic */

static int take_slot(void)
{
    int n = __atomic_load_n(&direct_writers_live, __ATOMIC_RELAXED);
    do {
        if (n >= DIRECT_WRITERS_MAX) return 0;
    } while (!__atomic_compare_exchange_n(&direct_writers_live, &n, n + 1, 0, __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));
    return 1;
}

static void give_slot(void) { __atomic_fetch_sub(&direct_writers_live, 1, __ATOMIC_RELAXED); }

/* Write the n bytes at p to offset off, whole; 0 or -errno (*at: where it failed). */
static int write_plain(direct_writer *w, const uint8_t *p, size_t n, uint64_t off, uint64_t *at)
{
    off_t stop = (off_t)off;
    int rc = env_write_full_at(w->env, w->fd, p, n, (off_t)off, &stop);
    if (rc && at) *at = (uint64_t)stop;
    return rc;
}

/* Write n bytes of buffer p at off: directly while that works, else (EINVAL: the file system
 * refuses the alignment or O_DIRECT itself; a short write) plainly from then on.  Returns 0
 * or -errno (*at: where it failed).  Called by the helper, or by the caller when it is idle. */
static int write_piece(direct_writer *w, const uint8_t *p, size_t n, uint64_t off, uint64_t *at)
{
    size_t done = 0;
    if (w->direct) {
        ssize_t r = w->env->pwrite(w->env, w->fd, p, n, (off_t)off);
        if (r == (ssize_t)n) {
            w->direct_bytes += n;
            return 0;
        }
        if (r < 0 && r != -EINVAL) {
            if (at) *at = off;
            return (int)r;
        }
        done = r > 0 ? (size_t)r : 0;
        w->env->set_direct(w->env, w->fd, 0);
        w->direct = 0;
    }
    return write_plain(w, p + done, n - done, off + done, at);
}

static void *helper_main(void *arg)
{
    direct_writer *w = arg;
    pthread_mutex_lock(&w->t.mu);
    for (;;) {
        while (!w->busy && !w->t.stop) pthread_cond_wait(&w->t.cv, &w->t.mu);
        if (!w->busy) break;
        const uint8_t *p = w->out;
        size_t n = w->out_len;
        uint64_t off = w->out_off, at = off;
        pthread_mutex_unlock(&w->t.mu);
        int rc = write_piece(w, p, n, off, &at);
        pthread_mutex_lock(&w->t.mu);
        if (rc && !w->err) {
            w->err = rc;
            w->err_off = at;
        }
        w->busy = 0;
        pthread_cond_broadcast(&w->t.cv);
    }
    pthread_mutex_unlock(&w->t.mu);
    return NULL;
}

void direct_writer_init(direct_writer *w, lsm_env *env, int fd, int direct)
{
    memset(w, 0, sizeof *w);
    w->env = env;
    w->fd = fd;
    if (!direct || !env->set_direct || !take_slot()) return;
    void *a = NULL, *b = NULL;
    if (posix_memalign(&a, DIRECT_ALIGN, DIRECT_WRITER_BUF) ||
        posix_memalign(&b, DIRECT_ALIGN, DIRECT_WRITER_BUF) || env->set_direct(env, fd, 1) != 0)
        goto plain;
    if (!helper_thread_start(&w->t, helper_main, w)) {
        env->set_direct(env, fd, 0);
        goto plain;
    }
    w->buf = a;
    w->out = b;
    w->direct = 1;
    return;
plain:
    free(a);
    free(b);
    give_slot();
}

/* Wait until the helper is idle; return its first error (0: none), *at where it failed. */
static int wait_idle(direct_writer *w, uint64_t *at)
{
    pthread_mutex_lock(&w->t.mu);
    while (w->busy) pthread_cond_wait(&w->t.cv, &w->t.mu);
    int rc = w->err;
    if (rc && at) *at = w->err_off;
    pthread_mutex_unlock(&w->t.mu);
    return rc;
}

/* Hand the full staging buffer to the helper and take the other one to fill. */
static int hand_over(direct_writer *w, uint64_t *at)
{
    int rc = wait_idle(w, at);
    if (rc) return rc;
    pthread_mutex_lock(&w->t.mu);
    uint8_t *t = w->out;
    w->out = w->buf;
    w->buf = t;
    w->out_len = w->len;
    w->out_off = w->off;
    w->busy = 1;
    pthread_cond_signal(&w->t.cv);
    pthread_mutex_unlock(&w->t.mu);
    w->off += w->len;
    w->len = 0;
    return 0;
}

int direct_writer_append(direct_writer *w, const void *p, size_t n, uint64_t *fail_off)
{
    const uint8_t *s = p;
    if (!w->buf) {
        int rc = write_plain(w, s, n, w->off, fail_off);
        if (!rc) w->off += n;
        return rc;
    }
    while (n > 0) {
        size_t m = DIRECT_WRITER_BUF - w->len;
        if (m > n) m = n;
        memcpy(w->buf + w->len, s, m);
        w->len += m;
        s += m;
        n -= m;
        if (w->len == DIRECT_WRITER_BUF) {
            int rc = hand_over(w, fail_off);
            if (rc) return rc;
        }
    }
    return 0;
}

int direct_writer_flush(direct_writer *w, uint64_t *fail_off)
{
    if (!w->buf) return 0;
    int rc = wait_idle(w, fail_off);
    if (rc || w->len == 0) return rc;
    if (w->direct) { /* a tail shorter than the buffer cannot be written directly */
        w->env->set_direct(w->env, w->fd, 0);
        w->direct = 0;
    }
    rc = write_plain(w, w->buf, w->len, w->off, fail_off);
    if (rc) return rc;
    w->off += w->len;
    w->len = 0;
    return 0;
}

void direct_writer_free(direct_writer *w)
{
    if (w->t.running) {
        helper_thread_stop(&w->t);
        give_slot();
    }
    free(w->buf);
    free(w->out);
    w->buf = w->out = NULL;
    w->len = 0;
}
