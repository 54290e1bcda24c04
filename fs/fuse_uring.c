/*
 * fuse_uring.c — FUSE over io_uring (fuse_uring.h).
 *
 * The protocol (Linux's Documentation/filesystems/fuse-io-uring.rst, uapi fuse.h 7.42): the
 * FUSE_INIT reply carries FUSE_OVER_IO_URING; then each queue (one per possible CPU) registers
 * entries with IORING_OP_URING_CMD FUSE_IO_URING_CMD_REGISTER, giving two buffers: a header
 * (struct ring_header below: the in/out header, the operation's own header, and the entry's
 * commit id and payload size) and a payload buffer as big as the largest request.  An entry's
 * command completes when a request has been copied into it; the answer is written into the
 * same buffers and sent with FUSE_IO_URING_CMD_COMMIT_AND_FETCH, which also waits for the
 * next request.  The kernel uses the rings once every queue has an entry.
 *
 * libfuse's dispatcher wants a request as /dev/fuse delivers it: in-header, operation header,
 * the rest.  Each entry's payload buffer lies PREFIX bytes into its allocation, so the two
 * headers are copied in front of the payload and a request of any size needs no other copy.
 * The header copy's size is the in-header's length less the payload (the kernel fills both).
 *
 * Replies.  libfuse writes every reply and notice through the session's writev (custom io).
 * A reply whose unique is that of a request now in a ring entry goes into that entry and is
 * committed; anything else (notices, replies to /dev/fuse requests) goes to /dev/fuse.  A
 * queue's thread submits the commits of its own requests together with its next wait (one
 * system call per request); a reply made by another thread is passed to the queue thread
 * through its list and eventfd, so only the queue thread touches its submission queue.
 *
 * State: the writev and read callbacks get libfuse's userdata (the filesystem's context), not
 * ours, so the one ring of the process is reached through the file-static `active`, set by
 * lsmfs_uring_attach and cleared by lsmfs_uring_free (a daemon serves one session).
 */
#include "fuse_uring.h"

#include "fuse_loop.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/fuse.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <sys/uio.h>
#include <unistd.h>

/* uapi fuse.h 7.42, absent from the 7.38 header libfuse 3.14 builds against */
#define OVER_IO_URING_FLAGS2 (1u << 9) /* FUSE_OVER_IO_URING, bit 41 of the 64 init flags */
#define CMD_REGISTER 1
#define CMD_COMMIT_AND_FETCH 2

struct ring_ent_in_out {
    uint64_t flags;
    uint64_t commit_id;  /* the request's, to be given back with its answer */
    uint32_t payload_sz; /* bytes in the payload buffer */
    uint32_t padding;
    uint64_t reserved;
};

struct ring_header {
    char in_out[128]; /* struct fuse_in_header, then struct fuse_out_header */
    char op_in[128];  /* the operation's header (fuse_read_in, ...), when it has one */
    struct ring_ent_in_out ent;
};

struct ring_cmd_req { /* in the 80-byte command area of a 128-byte SQE */
    uint64_t flags;
    uint64_t commit_id;
    uint16_t qid;
    uint8_t padding[6];
};

#define QUEUE_DEPTH 8    /* entries per CPU: requests the kernel can hand one CPU at once */
#define PREFIX 4096      /* room in front of each payload for the two headers */
#define WAKE_TAG 1       /* user_data of the eventfd poll (entries are pointers) */
#define HELPERS 2        /* threads for the requests that may wait */
#define BIG_READ 65536   /* bigger READs go to the helpers too */

struct queue;

struct entry {
    struct queue *q;
    struct ring_header *hdr;
    char *mem;            /* PREFIX + payload bytes; the payload starts at mem + PREFIX */
    struct iovec iov[2];
    uint64_t commit_id;
    _Atomic uint64_t unique; /* of the request being answered, 0 when none */
    int cmd;              /* the command to send next: REGISTER or COMMIT_AND_FETCH */
    int here;             /* answered by the queue thread while it served the request */
    struct entry *next;   /* in the queue's list of answers from other threads */
    char *req;            /* the request as /dev/fuse would give it, while it is served */
    struct entry *next_job; /* in the list of requests for the helper threads */
};

struct queue {
    struct lsmfs_uring *u;
    int qid;
    struct io_uring ring;
    int ring_ok;
    int evfd;
    pthread_t tid;
    int started;
    pthread_mutex_t mu;   /* guards handed */
    struct entry *handed; /* answered by other threads, to be committed by this queue */
    struct entry ent[QUEUE_DEPTH];
};

struct lsmfs_uring {
    struct fuse_session *se;
    int fd;
    int debug;
    void (*before)(void *arg, const struct fuse_in_header *req, size_t len);
    void *before_arg;
    _Atomic int init;     /* 0: FUSE_INIT not read yet, 1: read (not answered), 2: answered */
    uint64_t init_unique; /* the FUSE_INIT request's (set before init turns 1) */
    int offered;          /* the kernel's FUSE_INIT offered the rings (likewise) */
    size_t payload;       /* payload buffer size: the largest request or answer */
    _Atomic int stopping;
    _Atomic int registered; /* queues whose entries are all registered */
    int nq;
    struct queue *qs;
    /* requests that may wait (lsmfs_request_may_wait) run on helper threads */
    pthread_mutex_t jobs_mu;
    pthread_cond_t jobs_cv;
    struct entry *jobs, *jobs_tail; /* first come, first answered */
    pthread_t helper[HELPERS];
    int helpers;
};

static struct lsmfs_uring *active;
static _Thread_local struct entry *current; /* the entry this thread is answering */

int lsmfs_uring_offered(void)
{
    int fd = open("/sys/module/fuse/parameters/enable_uring", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    char c = 0;
    ssize_t n = read(fd, &c, 1);
    int e = errno;
    close(fd);
    if (n < 0)
        return -e;
    return n == 1 && (c == 'Y' || c == '1');
}

/* Say what failed.  Requests keep going through /dev/fuse while the rings are not all
 * registered; a queue that fails while serving ends the session itself (queue_main). */
static void fail(int qid, const char *what, int err)
{
    if (qid >= 0)
        fprintf(stderr, "lsmfs: io_uring queue %d: %s: %s\n", qid, what, strerror(err));
    else
        fprintf(stderr, "lsmfs: io_uring: %s: %s\n", what, strerror(err));
}

/* ---- submission (the queue thread only) ---- */

static void prep_cmd(struct queue *q, struct io_uring_sqe *sqe, struct entry *e)
{
    memset(sqe, 0, 128);
    sqe->opcode = IORING_OP_URING_CMD;
    sqe->fd = q->u->fd;
    sqe->cmd_op = (uint32_t)e->cmd;
    io_uring_sqe_set_data(sqe, e);
    struct ring_cmd_req *c = (struct ring_cmd_req *)sqe->cmd;
    c->qid = (uint16_t)q->qid;
    if (e->cmd == CMD_REGISTER) {
        sqe->addr = (uint64_t)(uintptr_t)e->iov;
        sqe->len = 2;
    } else {
        c->commit_id = e->commit_id;
    }
}

/* Queue entry e's next command.  Returns 0 or -EBUSY (no room: cannot happen, there is a slot
 * per entry and one for the eventfd). */
static int queue_cmd(struct queue *q, struct entry *e)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);
    if (!sqe)
        return -EBUSY;
    prep_cmd(q, sqe, e);
    return 0;
}

static int queue_wake_poll(struct queue *q)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_poll_add(sqe, q->evfd, POLLIN);
    io_uring_sqe_set_data64(sqe, WAKE_TAG);
    return 0;
}

/* ---- answers ---- */

/* Put the answer iov[0..count) (fuse_out_header first) into entry e and mark it for commit.
 * Returns the bytes taken, or -1 with errno set. */
static ssize_t fill_answer(struct entry *e, const struct iovec *iov, int count)
{
    struct fuse_out_header oh;
    if (iov[0].iov_len < sizeof oh) {
        errno = EINVAL;
        return -1;
    }
    memcpy(&oh, iov[0].iov_base, sizeof oh);
    size_t len = 0, payload = e->q->u->payload;
    char *dst = e->mem + PREFIX;
    for (int i = 1; i < count; i++) {
        if (iov[i].iov_len > payload - len) {
            /* libfuse never answers more than the request allows; say so rather than cut */
            oh.error = -EIO;
            len = 0;
            break;
        }
        memmove(dst + len, iov[i].iov_base, iov[i].iov_len);
        len += iov[i].iov_len;
    }
    oh.len = (uint32_t)(sizeof oh + len);
    memcpy(e->hdr->in_out, &oh, sizeof oh);
    e->hdr->ent.payload_sz = (uint32_t)len;
    e->cmd = CMD_COMMIT_AND_FETCH;
    atomic_store(&e->unique, 0);
    return (ssize_t)(iov[0].iov_len + len);
}

/* The ring entry whose request has this unique, or NULL. */
static struct entry *entry_of(struct lsmfs_uring *u, uint64_t unique)
{
    if (current && atomic_load(&current->unique) == unique)
        return current;
    for (int i = 0; i < u->nq; i++)
        for (int j = 0; j < QUEUE_DEPTH; j++)
            if (atomic_load(&u->qs[i].ent[j].unique) == unique)
                return &u->qs[i].ent[j];
    return NULL;
}

/* Answer e from a thread other than its queue's: hand it to the queue thread. */
static ssize_t hand_over(struct entry *e, const struct iovec *iov, int count)
{
    struct queue *q = e->q;
    ssize_t n = fill_answer(e, iov, count);
    if (n < 0)
        return n;
    pthread_mutex_lock(&q->mu);
    e->next = q->handed;
    q->handed = e;
    pthread_mutex_unlock(&q->mu);
    uint64_t one = 1;
    if (write(q->evfd, &one, sizeof one) != sizeof one)
        fail(q->qid, "waking the queue thread", errno);
    return n;
}

/* ---- FUSE_INIT ---- */

/* The kernel's FUSE_INIT request (read through /dev/fuse): note whether it offers the rings. */
static void saw_request(struct lsmfs_uring *u, const void *buf, ssize_t n)
{
    const struct fuse_in_header *h = buf;
    if (n < (ssize_t)sizeof *h || h->opcode != FUSE_INIT)
        return;
    const struct fuse_init_in *in = (const void *)(h + 1);
    u->init_unique = h->unique;
    u->offered = n >= (ssize_t)(sizeof *h + sizeof *in) && (in->flags & FUSE_INIT_EXT) &&
                 (in->flags2 & OVER_IO_URING_FLAGS2);
    atomic_store(&u->init, 1);
}

/* libfuse's FUSE_INIT reply: ask for the rings, and size their payload buffers as the kernel
 * will (the largest of its minimum read buffer, max_write and max_pages). */
static int ask_for_rings(struct lsmfs_uring *u, struct iovec *iov, int count)
{
    struct fuse_out_header *oh = iov[0].iov_base;
    if (oh->error != 0 || count < 2 || iov[1].iov_len < sizeof(struct fuse_init_out))
        return 0;
    struct fuse_init_out *out = iov[1].iov_base;
    if (!(out->flags & FUSE_INIT_EXT))
        return 0;
    out->flags2 |= OVER_IO_URING_FLAGS2;
    size_t p = 8192; /* FUSE_MIN_READ_BUFFER */
    if (out->max_write > p)
        p = out->max_write;
    if ((size_t)out->max_pages * 4096 > p)
        p = (size_t)out->max_pages * 4096;
    u->payload = p;
    return 1;
}

static int start_queues(struct lsmfs_uring *u);

/* ---- the session's io (fuse_session_custom_io) ---- */

static ssize_t io_read(int fd, void *buf, size_t len, void *userdata)
{
    (void)userdata;
    ssize_t n = read(fd, buf, len);
    if (n > 0 && active && atomic_load(&active->init) == 0)
        saw_request(active, buf, n);
    return n;
}

static ssize_t io_writev(int fd, struct iovec *iov, int count, void *userdata)
{
    (void)userdata;
    struct lsmfs_uring *u = active;
    const struct fuse_out_header *oh = iov[0].iov_base;
    if (!u || count < 1 || iov[0].iov_len < sizeof *oh || oh->unique == 0)
        return writev(fd, iov, count);
    if (atomic_load(&u->init) == 1 && oh->unique == u->init_unique) {
        int asked = u->offered && ask_for_rings(u, iov, count);
        atomic_store(&u->init, 2);
        ssize_t n = writev(fd, iov, count);
        if (n > 0 && asked) {
            int r = start_queues(u);
            if (r)
                fail(-1, "starting the queues", -r);
        }
        return n;
    }
    struct entry *e = u->nq ? entry_of(u, oh->unique) : NULL;
    if (!e)
        return writev(fd, iov, count);
    if (e == current) {
        e->here = 1;
        return fill_answer(e, iov, count);
    }
    return hand_over(e, iov, count);
}

/* ---- the queue threads ---- */

/* Whether req (operation header of op bytes) reads more than BIG_READ bytes.  The kernel's
 * readahead keeps two such READs of a streaming reader in flight, both on the reader's CPU
 * queue: on helper threads they are answered side by side, as lsmfs_loop hands big transfers
 * to a second thread. */
static int big_read(const char *req, size_t op)
{
    const struct fuse_in_header *h = (const struct fuse_in_header *)req;
    if (h->opcode != FUSE_READ || op < sizeof(struct fuse_read_in))
        return 0;
    struct fuse_read_in r;
    memcpy(&r, req + sizeof *h, sizeof r);
    return r.size > BIG_READ;
}

/* Answer the request in entry e with libfuse's dispatcher, after the hook. */
static void dispatch(struct lsmfs_uring *u, struct entry *e)
{
    const struct fuse_in_header *h = (const struct fuse_in_header *)e->req;
    if (u->before)
        u->before(u->before_arg, h, h->len);
    struct fuse_buf b;
    memset(&b, 0, sizeof b);
    b.mem = e->req;
    b.size = h->len;
    fuse_session_process_buf(u->se, &b);
}

/* Serve the request now in entry e. */
static void serve(struct lsmfs_uring *u, struct entry *e)
{
    struct ring_header *h = e->hdr;
    struct fuse_in_header in;
    memcpy(&in, h->in_out, sizeof in);
    e->commit_id = h->ent.commit_id;
    size_t payload = h->ent.payload_sz;
    size_t op = in.len >= sizeof in + payload ? in.len - sizeof in - payload : SIZE_MAX;
    if (op > sizeof h->op_in || payload > u->payload) {
        fprintf(stderr,
                "lsmfs: io_uring: request %llu (opcode %u): length %u does not match its "
                "payload of %zu bytes: answered EIO\n",
                (unsigned long long)in.unique, in.opcode, in.len, payload);
        struct fuse_out_header oh = {.error = -EIO, .unique = in.unique};
        struct iovec iov = {&oh, sizeof oh};
        fill_answer(e, &iov, 1);
        e->here = 1;
        return;
    }
    char *req = e->mem + PREFIX - op - sizeof in;
    memcpy(req, &in, sizeof in);
    memcpy(req + sizeof in, h->op_in, op);
    e->here = 0;
    atomic_store(&e->unique, in.unique);
    if (u->debug)
        fprintf(stderr, "ring %d: unique %llu, opcode %u\n", e->q->qid,
                (unsigned long long)in.unique, in.opcode);
    e->req = req;
    if (u->helpers && (lsmfs_request_may_wait(in.opcode) || big_read(req, op))) {
        /* answered by a helper, and committed through hand_over */
        pthread_mutex_lock(&u->jobs_mu);
        e->next_job = NULL;
        if (u->jobs)
            u->jobs_tail->next_job = e;
        else
            u->jobs = e;
        u->jobs_tail = e;
        pthread_cond_signal(&u->jobs_cv);
        pthread_mutex_unlock(&u->jobs_mu);
        return;
    }
    current = e;
    dispatch(u, e);
    current = NULL;
}

/* A helper thread: answer the requests serve() passes on, until the rings stop. */
static void *helper_main(void *arg)
{
    struct lsmfs_uring *u = arg;
    pthread_mutex_lock(&u->jobs_mu);
    for (;;) {
        while (!u->jobs && !atomic_load(&u->stopping))
            pthread_cond_wait(&u->jobs_cv, &u->jobs_mu);
        if (!u->jobs)
            break;
        struct entry *e = u->jobs;
        u->jobs = e->next_job;
        pthread_mutex_unlock(&u->jobs_mu);
        dispatch(u, e);
        pthread_mutex_lock(&u->jobs_mu);
    }
    pthread_mutex_unlock(&u->jobs_mu);
    return NULL;
}

/* Commit what other threads answered for this queue, and re-arm its eventfd poll. */
static int take_handed(struct queue *q)
{
    uint64_t v;
    if (read(q->evfd, &v, sizeof v) < 0 && errno != EAGAIN)
        return -errno;
    pthread_mutex_lock(&q->mu);
    struct entry *e = q->handed;
    q->handed = NULL;
    pthread_mutex_unlock(&q->mu);
    int r = 0;
    for (; e && r == 0; e = e->next)
        r = queue_cmd(q, e);
    return r ? r : queue_wake_poll(q);
}

/* Handle one completion.  Returns 0, 1 when the queue is done (unmount or stop), or -errno. */
static int completion(struct queue *q, const struct io_uring_cqe *cqe)
{
    struct lsmfs_uring *u = q->u;
    if (cqe->user_data == WAKE_TAG) {
        if (atomic_load(&u->stopping))
            return 1;
        return take_handed(q);
    }
    struct entry *e = io_uring_cqe_get_data(cqe);
    if (cqe->res == -EINTR || cqe->res == -EAGAIN)
        return queue_cmd(q, e); /* not taken: send the same command again */
    if (cqe->res == -ENOTCONN || cqe->res == -ENODEV || cqe->res == -ECANCELED)
        return 1; /* the filesystem is going away */
    if (cqe->res < 0 && e->cmd == CMD_REGISTER) {
        /* the kernel took no entry of a queue that failed: it keeps using /dev/fuse */
        fail(q->qid, "registering an entry", -cqe->res);
        return 0;
    }
    if (cqe->res < 0)
        return cqe->res;
    serve(u, e);
    if (e->here) /* answered while served: commit with the next wait */
        return queue_cmd(q, e);
    return 0; /* answered by another thread, which hands it back (hand_over) */
}

static void *queue_main(void *arg)
{
    struct queue *q = arg;
    struct lsmfs_uring *u = q->u;
    int r = 0;
    for (int i = 0; i < QUEUE_DEPTH && r == 0; i++) {
        q->ent[i].cmd = CMD_REGISTER;
        r = queue_cmd(q, &q->ent[i]);
    }
    if (r == 0)
        r = queue_wake_poll(q);
    if (r == 0) {
        int n = io_uring_submit(&q->ring);
        r = n < 0 ? n : 0;
    }
    if (r) {
        fail(q->qid, "registering its entries", -r);
        return NULL;
    }
    if (atomic_fetch_add(&u->registered, 1) + 1 == u->nq) {
        if (u->debug)
            fprintf(stderr, "lsmfs: FUSE over io_uring: %d queues of %d entries, %zu-byte "
                            "payloads\n",
                    u->nq, QUEUE_DEPTH, u->payload);
    }
    for (;;) {
        struct io_uring_cqe *cqe;
        r = io_uring_submit_and_wait(&q->ring, 1);
        if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
            break;
        unsigned head, seen = 0;
        int done = 0;
        io_uring_for_each_cqe(&q->ring, head, cqe)
        {
            seen++;
            int c = completion(q, cqe);
            if (c) {
                r = c < 0 ? c : 0;
                done = 1;
                break;
            }
        }
        io_uring_cq_advance(&q->ring, seen);
        if (done)
            break;
    }
    if (r < 0 && !atomic_load(&u->stopping)) {
        fail(q->qid, "serving", -r);
        /* a queue that stopped leaves its CPU's requests waiting: end the session loudly */
        fuse_session_exit(u->se);
    }
    return NULL;
}

static int queue_init(struct lsmfs_uring *u, struct queue *q, int qid)
{
    q->u = u;
    q->qid = qid;
    q->evfd = -1;
    pthread_mutex_init(&q->mu, NULL);
    for (int i = 0; i < QUEUE_DEPTH; i++) {
        struct entry *e = &q->ent[i];
        e->q = q;
        e->hdr = aligned_alloc(4096, 4096);
        e->mem = aligned_alloc(4096, PREFIX + u->payload);
        if (!e->hdr || !e->mem)
            return -ENOMEM;
        memset(e->hdr, 0, 4096);
        e->iov[0] = (struct iovec){e->hdr, sizeof(struct ring_header)};
        e->iov[1] = (struct iovec){e->mem + PREFIX, u->payload};
    }
    q->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (q->evfd < 0)
        return -errno;
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_SQE128 | IORING_SETUP_CQSIZE;
    p.cq_entries = 2 * (QUEUE_DEPTH + 1);
    int r = io_uring_queue_init_params(QUEUE_DEPTH + 1, &q->ring, &p);
    if (r)
        return r;
    q->ring_ok = 1;
    return 0;
}

static void *queue_thread(void *arg)
{
    struct queue *q = arg;
    /* pinned to its CPU: the kernel picks the queue by the sender's CPU, and the point is that
     * both wake-ups of a round trip stay on it (an offline CPU's queue just waits) */
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(q->qid, &set);
    sched_setaffinity(0, sizeof set, &set);
    return queue_main(q);
}

static int start_queues(struct lsmfs_uring *u)
{
    int n = get_nprocs_conf();
    if (n < 1)
        n = 1;
    u->qs = calloc((size_t)n, sizeof *u->qs);
    if (!u->qs)
        return -ENOMEM;
    u->nq = n;
    for (int i = 0; i < n; i++) {
        int r = queue_init(u, &u->qs[i], i);
        if (r)
            return r;
    }
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old); /* signals are the request loop's business */
    int r = 0;
    for (; u->helpers < HELPERS && r == 0; u->helpers++)
        r = -pthread_create(&u->helper[u->helpers], NULL, helper_main, u);
    for (int i = 0; i < n && r == 0; i++) {
        r = -pthread_create(&u->qs[i].tid, NULL, queue_thread, &u->qs[i]);
        u->qs[i].started = r == 0;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return r;
}

int lsmfs_uring_attach(struct fuse_session *se, int debug,
                       void (*before)(void *arg, const struct fuse_in_header *req, size_t len),
                       void *arg, lsmfs_uring **out)
{
    *out = NULL;
    if (active)
        return -EBUSY;
    lsmfs_uring *u = calloc(1, sizeof *u);
    if (!u)
        return -ENOMEM;
    u->se = se;
    u->fd = fuse_session_fd(se);
    u->debug = debug;
    u->before = before;
    u->before_arg = arg;
    pthread_mutex_init(&u->jobs_mu, NULL);
    pthread_cond_init(&u->jobs_cv, NULL);
    static const struct fuse_custom_io io = {.read = io_read, .writev = io_writev};
    if (fuse_session_custom_io(se, &io, u->fd) != 0) {
        pthread_cond_destroy(&u->jobs_cv);
        pthread_mutex_destroy(&u->jobs_mu);
        free(u);
        return -EINVAL;
    }
    active = u;
    *out = u;
    return 0;
}

void lsmfs_uring_free(lsmfs_uring *u)
{
    if (!u)
        return;
    atomic_store(&u->stopping, 1);
    for (int i = 0; i < u->nq; i++) {
        struct queue *q = &u->qs[i];
        if (q->started) {
            uint64_t one = 1;
            if (write(q->evfd, &one, sizeof one) != sizeof one)
                fprintf(stderr, "lsmfs: io_uring queue %d: cannot wake it: %s\n", i,
                        strerror(errno));
            pthread_join(q->tid, NULL);
        }
    }
    pthread_mutex_lock(&u->jobs_mu);
    pthread_cond_broadcast(&u->jobs_cv);
    pthread_mutex_unlock(&u->jobs_mu);
    for (int i = 0; i < u->helpers; i++)
        pthread_join(u->helper[i], NULL);
    for (int i = 0; i < u->nq; i++) {
        struct queue *q = &u->qs[i];
        if (q->ring_ok)
            io_uring_queue_exit(&q->ring);
        if (q->evfd >= 0)
            close(q->evfd);
        for (int j = 0; j < QUEUE_DEPTH; j++) {
            free(q->ent[j].hdr);
            free(q->ent[j].mem);
        }
        pthread_mutex_destroy(&q->mu);
    }
    free(u->qs);
    pthread_cond_destroy(&u->jobs_cv);
    pthread_mutex_destroy(&u->jobs_mu);
    if (active == u)
        active = NULL;
    free(u);
}
