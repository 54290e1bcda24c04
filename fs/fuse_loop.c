/*
 * fuse_loop.c — the daemon's request loop (fuse_loop.h).
 *
 * Roles.  Of the pool's threads, the one holding the reader role reads /dev/fuse and answers
 * the request itself; one other thread is the watcher; the rest wait on the condition
 * variable.  The reader gives the role up before a request that may keep it long (handoff():
 * the next thread starts reading at once) and loses it when the watcher finds it busy with one
 * request for WATCH_MS (take-over: the watcher becomes the reader, the old reader rejoins the
 * pool when it is done).  Role changes bump role_gen, so a thread learns whether it still holds
 * the role after a request without any message.
 *
 * The watcher sleeps WATCH_MS at a time while requests flow, and parks (an untimed wait) after
 * IDLE_ROUNDS quiet periods; the first request after that wakes it.  So an idle daemon does
 * not wake up, and a busy one pays one futex wake per quiet spell, not one per request.
 *
 * Polling.  After answering a request the reader polls /dev/fuse for up to poll_us before it
 * sleeps in read(2).  A process in a run of requests (creating and writing a file is six of
 * them) sends its next one within microseconds; found by polling, it costs the reader no
 * sleep and the sender no wake-up of a sleeping thread (measured: creates +25-45%, stats
 * +35-45%, on 2 CPUs).  Polling
 * burns CPU only when it is spare: it runs only while the last gap between a reply and the next
 * request was shorter than poll_us, and only while no more tasks are runnable than there are
 * CPUs (the first count of /proc/loadavg, read every LOAD_CHECK_MS); a round that took longer
 * than PREEMPTED_NS (the thread lost the CPU to another task) also turns polling off for
 * CONTENDED_MS.  A polling thread that is runnable when a request comes gets no wake-up
 * preemption, and CPU hogs halved stats until the run-queue check.  It does not yield between
 * rounds: a yield let a flush or compaction thread take the CPU for a whole time slice while a
 * request waited (listings 20% slower, in repeated 10k-file runs).
 *
 * Stopping.  Every thread but the caller's blocks SIGTERM, SIGINT and SIGHUP; the caller waits
 * for them with sigwaitinfo.  A reader that sees the unmount tells the caller with SIGUSR1.
 * The caller then sets stopping and interrupts the thread blocked in read(2) with SIGUSR1
 * (a handler that does nothing, installed without SA_RESTART) until every thread has left.
 */
#include "fuse_loop.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WATCH_MS 4         /* a request busy this long gets a new reader beside it */
#define IDLE_ROUNDS 16     /* quiet watch periods before the watcher parks */
#define HANDOFF_BYTES 65536 /* reads and writes bigger than this run beside the reader */
#define PREEMPTED_NS 500000L /* a polling round this long lost the CPU to another task */
#define CONTENDED_MS 100    /* no polling this long after that */
#define LOAD_CHECK_MS 10    /* how often polling counts the runnable tasks */

struct loop {
    struct fuse_session *se;
    void (*before)(void *arg, const struct fuse_in_header *req, size_t len); /* or NULL */
    void *before_arg;
    pthread_t caller;
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* pool threads and the parked watcher wait here */
    pthread_cond_t gone_cv; /* the caller waits here for the threads to leave */
    int have_reader;        /* some thread holds the reader role */
    unsigned long role_gen; /* bumped at every change of reader */
    int in_read;            /* the reader is in read(2): reader_tid may be interrupted */
    pthread_t reader_tid;
    int busy;               /* the reader is answering a request itself */
    unsigned long busy_seq; /* requests the reader has started answering itself */
    int watching;           /* a thread is the watcher */
    int parked;             /* the watcher waits without a timeout */
    int stopping;
    int unmounted;
    int alive;              /* threads not yet finished */
    /* polling, the reader's alone (handed over under mu with the role) */
    long poll_ns;           /* 0: never poll */
    int poll_next;          /* the last gap before a request was shorter than poll_ns */
    struct timespec no_poll_until;
    int loadavg_fd;         /* /proc/loadavg, or -1: no run-queue check */
    long ncpus;
    int spare;              /* at the last check, no more runnable tasks than CPUs */
    struct timespec load_checked;
};

static void on_wake(int sig) { (void)sig; }

/* How long a request may keep its thread. */
enum weight {
    QUICK,     /* the rest */
    TRANSFER,  /* a data transfer bigger than HANDOFF_BYTES */
    WAITS,     /* it may wait for the disk or for other processes */
};

/* The weight of the request in buf.  A request spliced into a pipe is a big write. */
static enum weight weight_of(const struct fuse_buf *buf)
{
    if (buf->flags & FUSE_BUF_IS_FD)
        return TRANSFER;
    const struct fuse_in_header *h = buf->mem;
    if (buf->size < sizeof *h)
        return QUICK;
    switch (h->opcode) {
    case FUSE_READ:
        return buf->size >= sizeof *h + sizeof(struct fuse_read_in) &&
                       ((const struct fuse_read_in *)(h + 1))->size > HANDOFF_BYTES
                   ? TRANSFER
                   : QUICK;
    case FUSE_WRITE:
        return h->len > sizeof *h + sizeof(struct fuse_write_in) + HANDOFF_BYTES ? TRANSFER
                                                                                 : QUICK;
    default:
        return lsmfs_request_may_wait(h->opcode) ? WAITS : QUICK;
    }
}

int lsmfs_request_may_wait(uint32_t opcode)
{
    switch (opcode) {
    case FUSE_FSYNC:
    case FUSE_FSYNCDIR:
    case FUSE_FALLOCATE:
    case FUSE_COPY_FILE_RANGE:
    case FUSE_SETLKW:
    case FUSE_IOCTL:
    case FUSE_POLL:
        return 1;
    default:
        return 0;
    }
}

/* Whether another request is already waiting to be read. */
static int request_waiting(struct loop *l)
{
    struct pollfd p = {.fd = fuse_session_fd(l->se), .events = POLLIN};
    return poll(&p, 1, 0) > 0;
}

/* Whether the request in buf should run beside the reader rather than in it.  Requests that
 * wait always do.  A big transfer does only when another request is already waiting, so that
 * it runs in parallel with that one: a lone process streaming a file has at most the
 * kernel's readahead pair in flight, and handing every 128 KiB READ to a new reader cost it a
 * thread wake-up and a contended mutex per request (warm 1 GiB reads went from 0.95-1.3 to
 * 1.8-2.1 GB/s without them).  If such a transfer stalls on the disk, the watcher takes over
 * the reader role after WATCH_MS. */
static int run_beside(struct loop *l, const struct fuse_buf *buf)
{
    enum weight w = weight_of(buf);
    return w == WAITS || (w == TRANSFER && request_waiting(l));
}

static long ns_between(const struct timespec *a, const struct timespec *b)
{
    return (b->tv_sec - a->tv_sec) * 1000000000L + (b->tv_nsec - a->tv_nsec);
}

static void deadline_in(struct timespec *t, long ms)
{
    clock_gettime(CLOCK_MONOTONIC, t);
    t->tv_nsec += ms * 1000000L;
    t->tv_sec += t->tv_nsec / 1000000000L;
    t->tv_nsec %= 1000000000L;
}

/* Whether the CPUs have room for a polling thread: at most one runnable task per CPU (the
 * count includes this thread), as /proc/loadavg said at most LOAD_CHECK_MS ago. */
static int cpus_spare(struct loop *l, const struct timespec *now)
{
    if (l->loadavg_fd < 0)
        return 1;
    if (ns_between(&l->load_checked, now) < LOAD_CHECK_MS * 1000000L)
        return l->spare;
    l->load_checked = *now;
    char b[128];
    ssize_t n = pread(l->loadavg_fd, b, sizeof b - 1, 0);
    if (n <= 0)
        return l->spare = 1;
    b[n] = 0;
    long running = 0; /* "0.50 0.40 0.30 R/T L": R, the runnable tasks now */
    if (sscanf(b, "%*s %*s %*s %ld/", &running) != 1)
        return l->spare = 1;
    return l->spare = running <= l->ncpus;
}

/* Before the reader's read(2): poll for the next request while that is likely to pay (see the
 * file comment).  Returns when a request is waiting, when polling gives up, or at once. */
static void poll_for_request(struct loop *l)
{
    struct timespec t0, t1, t2;
    if (!l->poll_next)
        return;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (ns_between(&l->no_poll_until, &t0) < 0 || !cpus_spare(l, &t0))
        return;
    struct pollfd p = {.fd = fuse_session_fd(l->se), .events = POLLIN};
    t1 = t0;
    while (poll(&p, 1, 0) == 0) {
        clock_gettime(CLOCK_MONOTONIC, &t2);
        if (ns_between(&t1, &t2) > PREEMPTED_NS) {
            deadline_in(&l->no_poll_until, CONTENDED_MS);
            return;
        }
        if (ns_between(&t0, &t2) > l->poll_ns)
            return;
        t1 = t2;
    }
}

/* Give up the reader role if this thread (generation gen) still holds it.  REQUIRES: mu. */
static void drop_role(struct loop *l, unsigned long gen)
{
    if (l->have_reader && l->role_gen == gen) {
        l->have_reader = 0;
        pthread_cond_signal(&l->cv);
    }
}

/* The session ended (unmounted, or exited by a request): stop the pool and tell the caller.
 * REQUIRES: mu. */
static void ended(struct loop *l)
{
    if (!l->unmounted) {
        l->unmounted = 1;
        l->stopping = 1;
        pthread_cond_broadcast(&l->cv);
        pthread_kill(l->caller, SIGUSR1);
    }
}

/* Answer the request in buf, after the hook has seen its node (0 when the request lies in a
 * pipe, unread). */
static void process(struct loop *l, const struct fuse_buf *buf)
{
    if (l->before) {
        const struct fuse_in_header *h = buf->mem;
        int in_mem = !(buf->flags & FUSE_BUF_IS_FD) && buf->size >= sizeof *h;
        l->before(l->before_arg, in_mem ? h : NULL, in_mem ? buf->size : 0);
    }
    fuse_session_process_buf(l->se, buf);
}

/* The reader's loop: read a request, answer it, again, until the role passes on or the loop
 * stops.  Enters and returns with mu held; gen is this thread's role generation. */
static void serve(struct loop *l, struct fuse_buf *buf, unsigned long gen)
{
    struct timespec done, came;
    clock_gettime(CLOCK_MONOTONIC, &done);
    for (;;) {
        l->in_read = 1;
        l->reader_tid = pthread_self();
        pthread_mutex_unlock(&l->mu);
        poll_for_request(l);
        int res = fuse_session_receive_buf(l->se, buf);
        if (l->poll_ns) {
            clock_gettime(CLOCK_MONOTONIC, &came);
            l->poll_next = ns_between(&done, &came) < l->poll_ns;
        }
        pthread_mutex_lock(&l->mu);
        l->in_read = 0;
        if (res == -EINTR || res == -EAGAIN) {
            if (l->stopping)
                break;
            continue;
        }
        if (res <= 0 || fuse_session_exited(l->se)) {
            ended(l);
            break;
        }
        if (l->parked) { /* the first request after a quiet spell: the watcher resumes */
            l->parked = 0;
            pthread_cond_broadcast(&l->cv);
        }
        if (run_beside(l, buf)) {
            drop_role(l, gen);
            pthread_mutex_unlock(&l->mu);
            process(l, buf);
            pthread_mutex_lock(&l->mu);
            return;
        }
        l->busy = 1;
        l->busy_seq++;
        pthread_mutex_unlock(&l->mu);
        process(l, buf);
        pthread_mutex_lock(&l->mu);
        if (l->role_gen != gen)
            return; /* the watcher took over while this request ran */
        l->busy = 0;
        if (l->poll_ns)
            clock_gettime(CLOCK_MONOTONIC, &done);
        if (l->stopping)
            break;
        if (fuse_session_exited(l->se)) {
            ended(l);
            break;
        }
    }
    drop_role(l, gen);
}

/* The watcher's loop: returns (mu held) when the reader role is free, or after taking it over
 * from a reader busy with one request for WATCH_MS (then *gen is the new role generation and
 * the return value 1), or when the loop stops. */
static int watch(struct loop *l, unsigned long *gen)
{
    int quiet = 0;
    while (!l->stopping && l->have_reader) {
        unsigned long seq = l->busy_seq;
        int was_busy = l->busy;
        if (quiet >= IDLE_ROUNDS) {
            l->parked = 1;
            while (l->parked && !l->stopping && l->have_reader)
                pthread_cond_wait(&l->cv, &l->mu);
            l->parked = 0;
            quiet = 0;
            continue;
        }
        struct timespec t;
        deadline_in(&t, WATCH_MS);
        pthread_cond_timedwait(&l->cv, &l->mu, &t);
        if (l->stopping || !l->have_reader)
            break;
        if (was_busy && l->busy && l->busy_seq == seq) {
            l->busy = 0; /* that request is the old reader's alone now */
            *gen = ++l->role_gen;
            return 1;
        }
        quiet = l->busy_seq == seq && !l->busy ? quiet + 1 : 0;
    }
    return 0;
}

static void *worker(void *arg)
{
    struct loop *l = arg;
    struct fuse_buf buf;
    memset(&buf, 0, sizeof buf);
    sigset_t wake;
    sigemptyset(&wake);
    sigaddset(&wake, SIGUSR1);
    pthread_sigmask(SIG_UNBLOCK, &wake, NULL);
    pthread_mutex_lock(&l->mu);
    while (!l->stopping) {
        unsigned long gen;
        if (!l->have_reader) {
            l->have_reader = 1;
            gen = ++l->role_gen;
            serve(l, &buf, gen);
        } else if (!l->watching) {
            l->watching = 1;
            int took = watch(l, &gen);
            l->watching = 0;
            pthread_cond_broadcast(&l->cv); /* someone else may watch now */
            if (took)
                serve(l, &buf, gen);
        } else {
            pthread_cond_wait(&l->cv, &l->mu);
        }
    }
    l->alive--;
    pthread_cond_broadcast(&l->gone_cv);
    pthread_mutex_unlock(&l->mu);
    free(buf.mem);
    return NULL;
}

/* Wait for SIGTERM/SIGINT/SIGHUP (returns its number) or a thread's report of the unmount
 * (returns 0). */
static int wait_for_end(struct loop *l, const sigset_t *set)
{
    for (;;) {
        int sig = sigwaitinfo(set, NULL);
        if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP)
            return sig;
        pthread_mutex_lock(&l->mu);
        int done = l->unmounted;
        pthread_mutex_unlock(&l->mu);
        if (sig == SIGUSR1 && done)
            return 0;
    }
}

/* Stop the pool: wake every waiting thread and interrupt the reader's read(2) until all have
 * left. */
static void stop_all(struct loop *l)
{
    pthread_mutex_lock(&l->mu);
    l->stopping = 1;
    pthread_cond_broadcast(&l->cv);
    while (l->alive > 0) {
        if (l->in_read)
            pthread_kill(l->reader_tid, SIGUSR1);
        struct timespec t;
        deadline_in(&t, 10);
        pthread_cond_timedwait(&l->gone_cv, &l->mu, &t);
    }
    pthread_mutex_unlock(&l->mu);
}

static int loop_init(struct loop *l, struct fuse_session *se, long poll_us)
{
    memset(l, 0, sizeof *l);
    l->se = se;
    l->poll_ns = poll_us * 1000L;
    l->loadavg_fd = -1;
    l->ncpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (l->ncpus < 1)
        l->ncpus = 1;
    l->spare = 1;
    l->caller = pthread_self();
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        return -ENOMEM;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int r = pthread_mutex_init(&l->mu, NULL);
    if (r == 0 && (r = pthread_cond_init(&l->cv, &ca)) != 0)
        pthread_mutex_destroy(&l->mu);
    if (r == 0 && (r = pthread_cond_init(&l->gone_cv, &ca)) != 0) {
        pthread_cond_destroy(&l->cv);
        pthread_mutex_destroy(&l->mu);
    }
    pthread_condattr_destroy(&ca);
    if (r == 0 && poll_us) /* without it polling goes by the preemption check alone */
        l->loadavg_fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
    return -r;
}

static void loop_destroy(struct loop *l)
{
    if (l->loadavg_fd >= 0)
        close(l->loadavg_fd);
    pthread_cond_destroy(&l->gone_cv);
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
}

int lsmfs_loop(struct fuse_session *se, int nthreads, long poll_us,
               void (*before)(void *arg, const struct fuse_in_header *req, size_t len),
               void *arg)
{
    struct loop l;
    int r = loop_init(&l, se, poll_us);
    if (r)
        return r;
    l.before = before;
    l.before_arg = arg;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_wake; /* no SA_RESTART: the signal must end a read(2) */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, &old); /* the threads inherit it */
    pthread_t *t = calloc((size_t)nthreads, sizeof *t);
    int started = 0;
    if (!t)
        r = -ENOMEM;
    for (; r == 0 && started < nthreads; started++) {
        pthread_mutex_lock(&l.mu);
        l.alive++;
        pthread_mutex_unlock(&l.mu);
        int e = pthread_create(&t[started], NULL, worker, &l);
        if (e != 0) {
            pthread_mutex_lock(&l.mu);
            l.alive--;
            pthread_mutex_unlock(&l.mu);
            r = -e;
            break;
        }
    }
    if (r == 0)
        r = wait_for_end(&l, &set);
    stop_all(&l);
    for (int i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    free(t);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    loop_destroy(&l);
    return r;
}
