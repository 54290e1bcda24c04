/*
 * fuse_ops.c — libfuse low-level operations on top of fscore.
 *
 * Node ids are inode numbers, so each file is one kernel inode whatever its names; the node
 * table (nodes.c) gives the path of a node id, built from the names the kernel learned.  Every
 * reply that hands the kernel an entry (lookup, create, mknod, mkdir, symlink, link,
 * readdirplus) adds a lookup to the table, FORGET removes them.
 *
 * Paths are only valid while no name changes under them, so `ns` is held shared from building
 * a path until fscore is done with it, and exclusively by the operations that remove or move
 * names (unlink, rmdir, rename).  Creating names needs no exclusion: it invalidates no path.
 *
 * Because the kernel has exactly one inode per file, its caches stay coherent and are used
 * fully: long entry/attribute/negative timeouts (lsmfs is the only writer of its store), the
 * page cache kept across opens (keep_cache) for every regular file, and, with -o writeback=on,
 * the writeback cache (the kernel then owns size, mtime and ctime while it has dirty pages and
 * sends them with SETATTR, which is applied exactly).  An open file whose last name is removed lives on in
 * the core as an orphan; the kernel still reaches it by node id, through the file handle or
 * fscore_stat_open / fscore_file_get.  File locks are left to the kernel, which implements
 * POSIX and flock locks locally when the filesystem does not.  SEEK_DATA/SEEK_HOLE find the
 * chunks that hold data, except under the writeback cache (see ll_lseek).  By default
 * (-o opens=kernel) the kernel opens files without asking: see "files the kernel opens
 * itself"; with -o opens=daemon every open reaches the daemon.
 */
#include "fuse_ops.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <linux/fuse.h> /* the raw request lsmfs_before_request reads */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "atime_defer.h"
#include "ghosts.h"
#include "nodes.h"
#include "schema.h" /* fs_buf */

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

#define TIMEOUT 86400.0 /* seconds: we are the only writer */
#define PATH_BUF (PATH_MAX + 1024 + 2) /* so that fscore, not we, judges a long name */

#define RDPLUS_FIRST 4096 /* bytes: entries with attributes in auto mode's first READDIRPLUS */

#define FH_FILE 0x46494c45u /* "FILE" */
#define FH_DIR 0x44495220u  /* "DIR " */

struct lsmfs_ctx {
    fscore *fs;
    fs_nodes *nodes;
    fs_ghosts *ghosts; /* attributes of nodes the kernel holds after their last name went */
    fs_atime_defer *defer; /* created files whose owed atime the kernel does not know of */
    int hooked;            /* the request loop calls lsmfs_before_request */
    int direct_creates;    /* -o direct_creates=on: see direct_create */
    pthread_rwlock_t ns; /* see the top of the file */
    int writeback;
    int kernel_opens; /* -o opens=kernel: see "files the kernel opens itself" */
    enum lsmfs_rdplus rdplus;
    enum lsmfs_atime atime;
    int nodiratime;
    unsigned max_readahead; /* bytes, for INIT */
    struct fuse_session *se;
};

struct open_handle {
    unsigned kind;
    fs_file *f;
};

/* An open directory: the names handed out, end to end in one pool, each with its NUL.  An
 * entry's offset is 3 + where its name starts in the pool (1 and 2 are "." and ".."), so
 * offset k means "after the name at k - 3", whatever was added or removed since: a listing
 * copies each name once and allocates only to grow.  (Not the reply buffer: the kernel may let the
 * program close the directory, and RELEASEDIR free the handle, as soon as it has the reply,
 * while fuse_reply_buf has yet to return.) */
struct dir_handle {
    unsigned kind;
    fuse_ino_t parent; /* for ".." */
    struct stat st;    /* the directory's attributes at opendir, for its atime */
    int atime_pending; /* the first READDIR has yet to move atime */
    fs_buf pool;
};

lsmfs_ctx *lsmfs_ctx_new(fscore *fs, int writeback, enum lsmfs_rdplus rdplus)
{
    lsmfs_ctx *c = calloc(1, sizeof *c);
    if (!c || fs_nodes_new(&c->nodes) != 0) {
        free(c);
        return NULL;
    }
    if (fs_ghosts_new(&c->ghosts) != 0 || fs_atime_defer_new(&c->defer) != 0) {
        fs_ghosts_free(c->ghosts);
        fs_nodes_free(c->nodes, NULL);
        free(c);
        return NULL;
    }
    c->fs = fs;
    c->writeback = writeback;
    c->rdplus = rdplus;
    c->max_readahead = 1u << 20;
    pthread_rwlock_init(&c->ns, NULL);
    return c;
}

/* fs_nodes_free's release: a file kept for a node without names (hold_orphan). */
static void release_file(void *f) { fs_file_close(f); }

void lsmfs_ctx_free(lsmfs_ctx *c)
{
    if (!c)
        return;
    fs_nodes_free(c->nodes, release_file);
    fs_ghosts_free(c->ghosts);
    fs_atime_defer_free(c->defer);
    pthread_rwlock_destroy(&c->ns);
    free(c);
}

void lsmfs_ctx_set_atime(lsmfs_ctx *c, enum lsmfs_atime mode, int nodiratime)
{
    c->atime = mode;
    c->nodiratime = nodiratime;
}

void lsmfs_ctx_set_session(lsmfs_ctx *c, struct fuse_session *se) { c->se = se; }

void lsmfs_ctx_set_kernel_opens(lsmfs_ctx *c, int on) { c->kernel_opens = on; }

void lsmfs_ctx_set_hooked(lsmfs_ctx *c, int on) { c->hooked = on; }

void lsmfs_ctx_set_direct_creates(lsmfs_ctx *c, int on) { c->direct_creates = on; }

/* Whether the WRITE this thread is answering carries FUSE_WRITE_KILL_SUIDGID: request state,
 * set by lsmfs_before_request in the thread that then answers the request (libfuse 3.14 does
 * not pass the flag on), read by ll_write. */
static _Thread_local int write_kills_suidgid;

void lsmfs_before_request(void *ctx, const struct fuse_in_header *req, size_t len)
{
    lsmfs_ctx *c = ctx;
    write_kills_suidgid = 0;
    if (req && req->opcode == FUSE_WRITE && len >= sizeof *req + sizeof(struct fuse_write_in)) {
        const struct fuse_write_in *w = (const void *)(req + 1);
        write_kills_suidgid = (w->write_flags & FUSE_WRITE_KILL_SUIDGID) != 0;
    }
    uint64_t ino[FS_ATIME_DEFER_MAX];
    size_t n = fs_atime_defer_take(c->defer, req ? req->nodeid : 0, ino);
    for (size_t i = 0; i < n && c->se; i++)
        fuse_lowlevel_notify_inval_inode(c->se, (fuse_ino_t)ino[i], -1, 0);
}

void lsmfs_ctx_set_readahead(lsmfs_ctx *c, unsigned bytes)
{
    if (bytes > c->max_readahead)
        c->max_readahead = bytes;
}

size_t lsmfs_ctx_nodes(lsmfs_ctx *c) { return fs_nodes_count(c->nodes); }

static lsmfs_ctx *CTX(fuse_req_t req) { return fuse_req_userdata(req); }

static fs_file *file_of(const struct fuse_file_info *fi)
{
    if (!fi || !fi->fh)
        return NULL;
    struct open_handle *h = (struct open_handle *)(uintptr_t)fi->fh;
    return h->kind == FH_FILE ? h->f : NULL;
}

static fs_cred caller(fuse_req_t req)
{
    const struct fuse_ctx *x = fuse_req_ctx(req);
    fs_cred who = {x->uid, x->gid};
    return who;
}

/* A file with several names: each name the kernel learns is kept (see nodes.h). */
static int is_multi(const struct stat *st) { return !S_ISDIR(st->st_mode) && st->st_nlink > 1; }

static void reply_status(fuse_req_t req, int r) { fuse_reply_err(req, r < 0 ? -r : 0); }

static double attr_timeout(lsmfs_ctx *c, const struct stat *st);

/* Fill e for the entry name in parent, whose attributes are st, and count the lookup. */
static int entry_of(lsmfs_ctx *c, fuse_ino_t parent, const char *name, const struct stat *st,
                    struct fuse_entry_param *e)
{
    memset(e, 0, sizeof *e);
    int r = fs_nodes_ref(c->nodes, (uint64_t)st->st_ino, parent, name, is_multi(st));
    if (r)
        return r;
    e->ino = (fuse_ino_t)st->st_ino;
    e->attr = *st;
    e->entry_timeout = TIMEOUT;
    e->attr_timeout = attr_timeout(c, st);
    return 0;
}

/* Stat path and make the entry of name in parent from it.  Called with ns held. */
static int entry_at(lsmfs_ctx *c, fuse_ino_t parent, const char *name, const char *path,
                    struct fuse_entry_param *e)
{
    struct stat st;
    int r = fscore_stat(c->fs, path, &st);
    return r ? r : entry_of(c, parent, name, &st, e);
}

static void reply_entry(fuse_req_t req, int r, const struct fuse_entry_param *e)
{
    if (r)
        reply_status(req, r);
    else if (fuse_reply_entry(req, e) != 0) /* the kernel did not take the lookup */
        fs_nodes_forget(CTX(req)->nodes, e->ino, 1);
}

/* Path of node ino (ns held).  A node without a name is not an error for callers that can
 * reach it by inode number: they get *named = 0. */
static int node_path(lsmfs_ctx *c, fuse_ino_t ino, char *path, int *named)
{
    int r = fs_nodes_path(c->nodes, ino, path, PATH_BUF);
    *named = r == 0;
    return (r == -ENOENT || r == -ESTALE) ? 0 : r;
}

/* Attributes of node ino: through the open file, its path, or (no name left) its inode. */
static int node_stat(lsmfs_ctx *c, fuse_ino_t ino, const struct fuse_file_info *fi,
                     struct stat *st)
{
    fs_file *f = file_of(fi);
    if (f)
        return fs_file_stat(f, st);
    char path[PATH_BUF];
    int named;
    pthread_rwlock_rdlock(&c->ns);
    int r = node_path(c, ino, path, &named);
    if (r == 0 && named) {
        r = fscore_stat(c->fs, path, st);
        if (r == 0 && st->st_ino != ino)
            r = -ESTALE; /* cannot happen while the table is right; never answer for another */
    }
    pthread_rwlock_unlock(&c->ns);
    if (r == 0 && named)
        return 0;
    int r2 = fscore_stat_open(c->fs, ino, st);
    if (r2 != 0 && r == 0)
        r2 = fs_ghosts_get(c->ghosts, ino, st);
    return r2 == 0 ? 0 : (r ? r : -ENOENT);
}

/* Whether the kernel still holds node ino (for the ghost table). */
static int node_known(void *arg, uint64_t ino)
{
    lsmfs_ctx *c = arg;
    char path[2];
    return fs_nodes_path(c->nodes, ino, path, sizeof path) != -ESTALE;
}

/* A node lost its last name (gone->st_ino != 0): keep answering for it while the kernel holds
 * it, as ext4 does (fstat of a removed cwd, of an unlinked open FIFO). */
static void keep_ghost(lsmfs_ctx *c, const struct stat *gone)
{
    if (gone->st_ino)
        fs_ghosts_put(c->ghosts, gone, node_known, c);
}

/* ---- atime ---- */

static int ts_le(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec <= b->tv_nsec);
}

/* Whether a read of a node with attributes st moves its atime now (relatime: the read is the
 * first since the last change, or a day has passed). */
static int atime_due(const lsmfs_ctx *c, const struct stat *st)
{
    if (c->atime == LSMFS_ATIME_NEVER || (c->nodiratime && S_ISDIR(st->st_mode)))
        return 0;
    if (c->atime == LSMFS_ATIME_STRICT)
        return 1;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return ts_le(&st->st_atim, &st->st_mtim) || ts_le(&st->st_atim, &st->st_ctim) ||
           now.tv_sec - st->st_atim.tv_sec >= 24 * 3600;
}

/* A read of node ino (open for reading, a listing, readlink): move its atime to now when due,
 * leaving ctime alone.  The kernel never sends reads it serves from its page cache, so the
 * open that precedes them stands in for them.  known: the node's attributes if the caller
 * has them, else NULL (looked up).  Returns 1 if atime moved: the caller then calls
 * atime_notify after its reply.  Failures are not the reader's: they are ignored. */
static int atime_touch(lsmfs_ctx *c, fuse_ino_t ino, const struct fuse_file_info *fi,
                       const struct stat *known)
{
    struct stat st;
    if (c->atime == LSMFS_ATIME_NEVER)
        return 0;
    if (known)
        st = *known;
    else if (node_stat(c, ino, fi, &st) != 0)
        return 0;
    if (!atime_due(c, &st))
        return 0;
    fs_setattr sa;
    memset(&sa, 0, sizeof sa);
    sa.valid = FS_SET_ATIME | FS_SET_KEEP_CTIME;
    sa.atime.tv_nsec = UTIME_NOW;
    char path[PATH_BUF];
    int named;
    pthread_rwlock_rdlock(&c->ns);
    int r = node_path(c, ino, path, &named);
    if (r == 0)
        r = fscore_setattr(c->fs, named ? path : NULL, ino, &sa);
    pthread_rwlock_unlock(&c->ns);
    return r == 0;
}

/* An open for reading moves atime (atime_touch).  Returns 1 if the kernel must be told
 * (atime_notify): that drops all its attributes of the file, and its next read of it (the
 * kernel checks the size at every read) waits for a GETATTR.  The kernel drops its own atime
 * after every READ it sends, so only reads it can serve without one need telling: of a file
 * it may hold pages of, or of an empty file (nothing to send, yet read(2) moves atime on
 * ext4).  With the writeback cache the kernel caches what it is written: always. */
static int atime_open(lsmfs_ctx *c, fuse_ino_t ino, const struct fuse_file_info *fi)
{
    struct stat st;
    if (c->atime == LSMFS_ATIME_NEVER || node_stat(c, ino, fi, &st) != 0 ||
        !atime_touch(c, ino, fi, &st))
        return 0;
    return c->writeback || st.st_size == 0 || fs_nodes_may_have_pages(c->nodes, ino);
}

/* The kernel keeps attributes for a day: drop its copy of ino's so the new atime shows.  Only
 * attributes (offset -1), which takes no lock the kernel could hold for ino; sent after the
 * reply all the same. */
static void atime_notify(lsmfs_ctx *c, fuse_ino_t ino, int moved)
{
    if (moved && c->se)
        fuse_lowlevel_notify_inval_inode(c->se, ino, -1, 0);
}

/* How long the kernel may keep the attributes st of a node.  With kernel opens it serves the
 * reads of a file it holds pages of, or of an empty file, without asking the daemon: while
 * such a read owes an atime (atime_due), the attributes are given no time at all, and
 * otherwise only until atime turns a day old.  The kernel checks a file's attributes at every
 * read (auto_inval_data, ll_init), so the next read asks for them first, with a GETATTR
 * through the open file, and that moves atime (ll_getattr).  Reads through a mapping of
 * cached pages are not seen. */
static double attr_timeout(lsmfs_ctx *c, const struct stat *st)
{
    if (!c->kernel_opens || !S_ISREG(st->st_mode) || c->atime == LSMFS_ATIME_NEVER ||
        (st->st_size != 0 && !fs_nodes_may_have_pages(c->nodes, (uint64_t)st->st_ino)))
        return TIMEOUT;
    if (atime_due(c, st))
        return 0;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    double left = (double)(st->st_atim.tv_sec + 24 * 3600 - now.tv_sec);
    return left < 1 ? 1 : left < TIMEOUT ? left : TIMEOUT;
}

/* With kernel opens, after a change the kernel does not answer with attributes (rename,
 * unlink of another name, extended attributes) moved the ctime of the file with attributes
 * st: if a read now owes an atime (attr_timeout), drop the kernel's attributes, before the
 * reply so that the caller cannot read first.  Only attributes (offset -1): that takes no lock
 * the kernel could hold while it waits for the reply. */
static void atime_owed(lsmfs_ctx *c, const struct stat *st)
{
    if (c->kernel_opens && c->se && st->st_ino && attr_timeout(c, st) == 0)
        fuse_lowlevel_notify_inval_inode(c->se, (fuse_ino_t)st->st_ino, -1, 0);
}

/* The attributes of path for atime_owed, taken while the caller holds ns (the notice goes out
 * after it lets go); st_ino 0 if there is nothing to tell. */
static void atime_owed_at(lsmfs_ctx *c, const char *path, struct stat *st)
{
    if (!c->kernel_opens || fscore_stat(c->fs, path, st) != 0)
        st->st_ino = 0;
}

/* ---- connection ---- */

static void ll_init(void *data, struct fuse_conn_info *conn)
{
    lsmfs_ctx *c = data;
    if (c->writeback && (conn->capable & FUSE_CAP_WRITEBACK_CACHE)) {
        conn->want |= FUSE_CAP_WRITEBACK_CACHE;
        /* the kernel sets mtime/ctime on write and sends them (SETATTR) before flush; times
         * of ours taken when its writes arrive later would differ */
        fscore_set_kernel_times(c->fs, 1);
    } else {
        conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
        c->writeback = 0; /* asked for, but this kernel cannot */
    }
    if (c->kernel_opens && !(conn->capable & FUSE_CAP_NO_OPEN_SUPPORT)) {
        fprintf(stderr, "lsmfs: the kernel cannot open files without the daemon: "
                        "opens=kernel falls back to opens=daemon\n");
        c->kernel_opens = 0;
    }
    /* With kernel opens no OPEN carries O_TRUNC to us: the kernel must send the SETATTR.
     * Under the writeback cache too: after an OPEN that truncated, the kernel cuts its own
     * size and pages to 0 later, in a step of its own (fuse_setattr, ATTR_OPEN), and a write
     * of another process that reached us in between is cut from the kernel's file and not from
     * ours.  The kernel then keeps its size for good (it owns it), so the two disagreed until a
     * remount showed the longer file (tests/fs/churn.c found it).  A SETATTR of the size runs
     * under the kernel's inode lock, in order with every write. */
    if (!c->kernel_opens && !c->writeback && (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC))
        conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
    else
        conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
    /* Plain READDIR makes the kernel build no inode per entry, which measured 3-5x faster for
     * a bare listing; READDIRPLUS saves the lookups of `ls -l`.  Auto lets the kernel switch
     * to plus for directories whose entries get looked up after a listing. */
    conn->want &= ~(FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO);
    if (c->rdplus != LSMFS_RDPLUS_OFF && (conn->capable & FUSE_CAP_READDIRPLUS))
        conn->want |= FUSE_CAP_READDIRPLUS;
    if (c->rdplus == LSMFS_RDPLUS_AUTO && (conn->capable & FUSE_CAP_READDIRPLUS_AUTO))
        conn->want |= FUSE_CAP_READDIRPLUS_AUTO;
    /* The kernel then checks a file's attributes at every read (and drops its pages when the
     * mtime it is told differs from its own): with kernel opens, every read of a file that owes
     * an atime asks the daemon first (attr_timeout).  libfuse asks for it by default; say so. */
    if (conn->capable & FUSE_CAP_AUTO_INVAL_DATA)
        conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
    conn->max_write = 1u << 20;
    conn->max_readahead = c->max_readahead;
}

/* The kernel forgot n lookups of ino; a file kept for it (hold_orphan) goes with the last. */
static void forget_node(lsmfs_ctx *c, fuse_ino_t ino, uint64_t n)
{
    fs_file *kept = fs_nodes_forget(c->nodes, ino, n);
    if (kept)
        fs_file_close(kept);
}

static void ll_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    forget_node(CTX(req), ino, nlookup);
    fuse_reply_none(req);
}

static void ll_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
    for (size_t i = 0; i < count; i++)
        forget_node(CTX(req), forgets[i].ino, forgets[i].nlookup);
    fuse_reply_none(req);
}

/* ---- names ---- */

static void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    lsmfs_ctx *c = CTX(req);
    char path[PATH_BUF];
    struct fuse_entry_param e;
    pthread_rwlock_rdlock(&c->ns);
    int r = fs_nodes_child_path(c->nodes, parent, name, path, sizeof path);
    if (r == 0)
        r = entry_at(c, parent, name, path, &e);
    pthread_rwlock_unlock(&c->ns);
    if (r == -ENOENT) {
        /* a negative entry the kernel may keep: every create goes through it */
        memset(&e, 0, sizeof e);
        e.entry_timeout = TIMEOUT;
        fuse_reply_entry(req, &e);
        return;
    }
    reply_entry(req, r, &e);
}

/* Which node-creating call make_node runs. */
enum make_kind { MAKE_NOD, MAKE_DIR, MAKE_SYMLINK };

static void make_node(fuse_req_t req, fuse_ino_t parent, const char *name, enum make_kind kind,
                      mode_t mode, dev_t rdev, const char *target)
{
    lsmfs_ctx *c = CTX(req);
    fs_cred who = caller(req);
    char path[PATH_BUF];
    struct fuse_entry_param e;
    pthread_rwlock_rdlock(&c->ns);
    int r = fs_nodes_child_path(c->nodes, parent, name, path, sizeof path);
    if (r == 0) {
        if (kind == MAKE_NOD)
            r = fscore_mknod(c->fs, path, mode, rdev, &who);
        else if (kind == MAKE_DIR)
            r = fscore_mkdir_as(c->fs, path, mode, &who);
        else
            r = fscore_symlink_as(c->fs, target, path, &who);
    }
    if (r == 0)
        r = entry_at(c, parent, name, path, &e);
    pthread_rwlock_unlock(&c->ns);
    reply_entry(req, r, &e);
}

static void ll_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                     dev_t rdev)
{
    make_node(req, parent, name, MAKE_NOD, mode, rdev, NULL);
}

static void ll_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    make_node(req, parent, name, MAKE_DIR, mode, 0, NULL);
}

static void ll_symlink(fuse_req_t req, const char *target, fuse_ino_t parent, const char *name)
{
    make_node(req, parent, name, MAKE_SYMLINK, 0, 0, target);
}

/* ---- files the kernel opens itself ----
 * With -o opens=kernel the daemon answers OPEN and FLUSH with ENOSYS, and the kernel then
 * opens, flushes and releases regular files without asking (FUSE_NO_OPEN_SUPPORT): a cached
 * file costs no round trip to open, read and close.  What it costs instead: no close reaches
 * the daemon, so every WRITE is committed before it is answered (a closed file's writes must
 * survive a kill of the daemon).  Reads the kernel serves from its page cache reach the
 * daemon only when they owe an atime: the kernel then holds the file's attributes with no
 * timeout, and a read asks for them first (attr_timeout; a read through a mapping is not
 * seen).  And the daemon no longer knows which files are open, so a regular file whose last
 * name goes is kept (an orphan, as for an open file) until the kernel forgets its inode,
 * which it does at once unless the file is open or mapped. */

/* Before a name of path goes (unlink, rename over it): with kernel opens, a reference to the
 * regular file behind it, so that if this is its last name it lives on; NULL otherwise. */
static fs_file *keep_victim(lsmfs_ctx *c, const char *path)
{
    fs_file *f = NULL;
    if (c->kernel_opens && fs_file_open(c->fs, path, 0, &f) != 0)
        f = NULL; /* no such file, or not a regular one: nothing to keep */
    return f;
}

/* After the name went: keep f with its node until the kernel forgets the inode if that was
 * its last name, else drop it (its ctime moved: atime_owed). */
static void hold_orphan(lsmfs_ctx *c, fs_file *f)
{
    struct stat st;
    if (!f || fs_file_stat(f, &st) != 0) {
        if (f)
            fs_file_close(f);
        return;
    }
    if (st.st_nlink == 0 && fs_nodes_hold(c->nodes, (uint64_t)st.st_ino, f) == 0)
        return;
    if (st.st_nlink > 0)
        atime_owed(c, &st);
    fs_file_close(f); /* still named, or the kernel already forgot it: nobody can have it */
}

/* The open file a request works on: its handle's, or with kernel opens (no handle) the file
 * of node ino, opened for this request; then *own is 1 and the caller closes it. */
static int req_file(lsmfs_ctx *c, fuse_ino_t ino, const struct fuse_file_info *fi,
                    fs_file **f, int *own)
{
    *own = 0;
    *f = file_of(fi);
    if (*f)
        return 0;
    if (!c->kernel_opens)
        return -EBADF;
    char path[PATH_BUF];
    int named;
    pthread_rwlock_rdlock(&c->ns);
    int r = node_path(c, ino, path, &named);
    if (r == 0)
        r = named ? fs_file_open(c->fs, path, 0, f) : fs_file_open_ino(c->fs, ino, f);
    pthread_rwlock_unlock(&c->ns);
    *own = r == 0;
    return r;
}

/* Done with a request's file: with kernel opens commit what it did (no close will), and close
 * the file if the request opened it.  Returns r, or the first failure of these. */
static int req_file_done(lsmfs_ctx *c, fs_file *f, int own, int r)
{
    int r2 = c->kernel_opens ? fs_file_commit(f, 0) : 0;
    int r3 = own ? fs_file_close(f) : 0;
    return r ? r : r2 ? r2 : r3;
}

/* unlink and rmdir: remove a name, exclusively (paths that use it must not be in flight). */
static void remove_name(fuse_req_t req, fuse_ino_t parent, const char *name, int dir)
{
    lsmfs_ctx *c = CTX(req);
    char path[PATH_BUF];
    fs_file *victim = NULL;
    struct stat gone;
    pthread_rwlock_wrlock(&c->ns);
    int r = fs_nodes_child_path(c->nodes, parent, name, path, sizeof path);
    if (r == 0) /* with kernel opens the file is kept as keep_victim would, in the same lookup */
        r = dir ? fscore_rmdir_gone(c->fs, path, &gone)
                : fscore_unlink_keep(c->fs, path, &gone, c->kernel_opens ? &victim : NULL);
    if (r == 0)
        fs_nodes_unname(c->nodes, parent, name);
    pthread_rwlock_unlock(&c->ns);
    hold_orphan(c, victim);
    if (r == 0)
        keep_ghost(c, &gone);
    reply_status(req, r);
}

static void ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    remove_name(req, parent, name, 0);
}

static void ll_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    remove_name(req, parent, name, 1);
}

static void ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags)
{
    lsmfs_ctx *c = CTX(req);
    fs_cred who = caller(req); /* owns the whiteout of RENAME_WHITEOUT */
    char from[PATH_BUF], to[PATH_BUF];
    struct stat gone;
    pthread_rwlock_wrlock(&c->ns);
    fs_file *victim = NULL;
    int r = fs_nodes_child_path(c->nodes, parent, name, from, sizeof from);
    if (r == 0)
        r = fs_nodes_child_path(c->nodes, newparent, newname, to, sizeof to);
    if (r == 0 && !(flags & RENAME_EXCHANGE))
        victim = keep_victim(c, to); /* the file a rename replaces loses a name too */
    if (r == 0)
        r = fscore_rename_as(c->fs, from, to, flags, &who, &gone);
    if (r == 0) /* on -ENOMEM the table forgets the name: a later lookup relearns it */
        fs_nodes_rename(c->nodes, parent, name, newparent, newname,
                        (flags & RENAME_EXCHANGE) != 0);
    struct stat moved[2] = {{.st_ino = 0}, {.st_ino = 0}};
    if (r == 0) { /* a rename moves the ctime of what it moves */
        atime_owed_at(c, to, &moved[0]);
        if (flags & RENAME_EXCHANGE)
            atime_owed_at(c, from, &moved[1]);
    }
    pthread_rwlock_unlock(&c->ns);
    atime_owed(c, &moved[0]);
    atime_owed(c, &moved[1]);
    hold_orphan(c, victim);
    if (r == 0)
        keep_ghost(c, &gone);
    reply_status(req, r);
}

static void ll_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
    lsmfs_ctx *c = CTX(req);
    char from[PATH_BUF], to[PATH_BUF];
    struct fuse_entry_param e;
    int named;
    pthread_rwlock_rdlock(&c->ns);
    int r = node_path(c, ino, from, &named);
    if (r == 0)
        r = fs_nodes_child_path(c->nodes, newparent, newname, to, sizeof to);
    if (r == 0) /* no name known: by its inode record, or -ENOENT if it has no name left */
        r = fscore_link_node(c->fs, named ? from : NULL, ino, to);
    if (r == 0)
        r = entry_at(c, newparent, newname, to, &e);
    pthread_rwlock_unlock(&c->ns);
    reply_entry(req, r, &e);
}

static void ll_readlink(fuse_req_t req, fuse_ino_t ino)
{
    lsmfs_ctx *c = CTX(req);
    char path[PATH_BUF], target[PATH_MAX + 1];
    int named;
    pthread_rwlock_rdlock(&c->ns);
    int r = node_path(c, ino, path, &named);
    if (r == 0)
        r = named ? fscore_readlink(c->fs, path, target, sizeof target) : -ENOENT;
    pthread_rwlock_unlock(&c->ns);
    int moved = r == 0 && atime_touch(c, ino, NULL, NULL);
    if (r)
        reply_status(req, r);
    else
        fuse_reply_readlink(req, target);
    atime_notify(c, ino, moved);
}

/* ---- attributes ---- */

static void ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    lsmfs_ctx *c = CTX(req);
    struct stat st;
    int r = node_stat(c, ino, fi, &st);
    /* With kernel opens a GETATTR through an open regular file comes from a read (or an
     * lseek to the end): the read asks first when it owes an atime (attr_timeout), and this
     * moves it. */
    if (r == 0 && fi && c->kernel_opens && S_ISREG(st.st_mode) &&
        atime_touch(c, ino, NULL, &st))
        r = node_stat(c, ino, NULL, &st);
    if (r)
        reply_status(req, r);
    else
        fuse_reply_attr(req, &st, attr_timeout(c, &st));
}

/* The SETATTR fields other than the size, as one fscore_setattr. */
static fs_setattr setattr_of(const struct stat *attr, int to_set)
{
    fs_setattr sa;
    memset(&sa, 0, sizeof sa);
    if (to_set & FUSE_SET_ATTR_MODE) {
        sa.valid |= FS_SET_MODE;
        sa.mode = attr->st_mode;
    }
    if (to_set & FUSE_SET_ATTR_UID) {
        sa.valid |= FS_SET_UID;
        sa.uid = attr->st_uid;
    }
    if (to_set & FUSE_SET_ATTR_GID) {
        sa.valid |= FS_SET_GID;
        sa.gid = attr->st_gid;
    }
    /* A kernel that sends ctime (the writeback cache) keeps the times itself, and sends "now"
     * as read from its own clock, the ctime's: keep that one instant for all three, as ext4
     * does.  The daemon's clock runs ahead of the kernel's coarse one, and an atime after the
     * ctime would keep relatime from moving atime at the next read. */
    int now_is_given = (to_set & FUSE_SET_ATTR_CTIME) != 0;
    if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW)) {
        sa.valid |= FS_SET_ATIME;
        sa.atime = attr->st_atim;
        if ((to_set & FUSE_SET_ATTR_ATIME_NOW) && !now_is_given)
            sa.atime.tv_nsec = UTIME_NOW;
    }
    if (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)) {
        sa.valid |= FS_SET_MTIME;
        sa.mtime = attr->st_mtim;
        if ((to_set & FUSE_SET_ATTR_MTIME_NOW) && !now_is_given)
            sa.mtime.tv_nsec = UTIME_NOW;
    }
    if (to_set & FUSE_SET_ATTR_CTIME) {
        sa.valid |= FS_SET_CTIME;
        sa.ctime = attr->st_ctim;
    }
    return sa;
}

/* Whether the caller of req is in group gid (its fsgid or a supplementary group), or is root,
 * taken for a caller with CAP_FSETID: one who keeps a file's S_ISGID when it changes it. */
static int caller_keeps_sgid(fuse_req_t req, gid_t gid)
{
    const struct fuse_ctx *ctx = fuse_req_ctx(req);
    if (ctx->uid == 0 || ctx->gid == gid)
        return 1;
    gid_t few[32], *list = few;
    int cap = 32, n = fuse_req_getgroups(req, cap, list);
    if (n > cap && (list = malloc((size_t)n * sizeof *list)) != NULL)
        n = fuse_req_getgroups(req, cap = n, list);
    int in = 0; /* n counts all groups, also those a list grown since had no room for */
    for (int i = 0; list && i < n && i < cap && !in; i++)
        in = list[i] == gid;
    if (list != few)
        free(list);
    return in;
}

/* The mode st keeps when the caller of req writes, truncates or chowns it (not a directory),
 * as the VFS rules for ext4 (setattr_should_drop_suidgid): S_ISUID goes unless the caller is
 * root; S_ISGID goes from a group-executable file unless the caller is root, and from any
 * file when the caller is neither root nor in the file's group. */
static mode_t mode_after_change(fuse_req_t req, const struct stat *st)
{
    mode_t m = st->st_mode & 07777;
    if (fuse_req_ctx(req)->uid == 0 || S_ISDIR(st->st_mode))
        return m;
    m &= ~(mode_t)S_ISUID;
    if ((m & S_ISGID) && ((m & S_IXGRP) || !caller_keeps_sgid(req, st->st_gid)))
        m &= ~(mode_t)S_ISGID;
    return m;
}

/* An open with O_TRUNC clears set-id bits as the kernel's truncate does on ext4
 * (mode_after_change): with atomic O_TRUNC the kernel leaves the truncation, and so this, to
 * us.  f is the opened file, path its name or NULL (ns held).  A failure here is not the
 * opener's: it is ignored. */
static void trunc_kill_privs(lsmfs_ctx *c, fuse_req_t req, fuse_ino_t ino, fs_file *f,
                             const char *path)
{
    struct stat st;
    if (fuse_req_ctx(req)->uid == 0 || fs_file_stat(f, &st) != 0)
        return;
    mode_t m = mode_after_change(req, &st);
    if (m == (st.st_mode & 07777))
        return;
    fs_setattr sa;
    memset(&sa, 0, sizeof sa);
    sa.valid = FS_SET_MODE;
    sa.mode = m;
    fscore_setattr(c->fs, path, ino, &sa);
}

/* The kernel's FUSE code kills set-id bits on write, truncate and chown (a SETATTR with the
 * mode it computed, the size, the owner, or nothing at all) but S_ISGID only from a
 * group-executable file; ext4 also drops it when the caller is neither root nor in the file's
 * group (mode_after_change).  Adds that to sa: chmod never sends such a mode, as the kernel
 * strips S_ISGID from a non-member's chmod itself, and utimes is left alone. */
static void setattr_kill_sgid(lsmfs_ctx *c, fuse_req_t req, fuse_ino_t ino,
                              struct fuse_file_info *fi, int to_set, fs_setattr *sa)
{
    int kills = (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_UID |
                           FUSE_SET_ATTR_GID)) || (to_set & ~FUSE_SET_ATTR_CTIME) == 0;
    struct stat st;
    if (!kills || fuse_req_ctx(req)->uid == 0 || node_stat(c, ino, fi, &st) != 0 ||
        S_ISDIR(st.st_mode))
        return;
    mode_t now = (sa->valid & FS_SET_MODE) ? (sa->mode & 07777) : (st.st_mode & 07777);
    if (!(now & S_ISGID) || caller_keeps_sgid(req, st.st_gid))
        return;
    sa->valid |= FS_SET_MODE;
    sa->mode = now & ~(mode_t)S_ISGID;
}

/* The largest file size applied to a write of *size bytes at off, as ext4 does: -EFBIG at or
 * past it, else the write is cut short at it (the kernel checks only 2^63 - 1 for FUSE). */
static int write_limit(off_t off, size_t *size)
{
    if (off >= FS_FILE_SIZE_MAX)
        return -EFBIG;
    if ((uint64_t)off + *size > (uint64_t)FS_FILE_SIZE_MAX)
        *size = (size_t)(FS_FILE_SIZE_MAX - off);
    return 0;
}

/* Truncate node ino: through the handle, the path, or the open file of a node without name. */
static int node_truncate(lsmfs_ctx *c, fuse_ino_t ino, fs_file *f, const char *path,
                         off_t size)
{
    if (size > FS_FILE_SIZE_MAX) /* the kernel allows FUSE files up to 2^63 - 1 */
        return -EFBIG;
    if (f)
        return fs_file_truncate(f, size);
    if (path)
        return fscore_truncate(c->fs, path, size);
    int r = fs_file_open_ino(c->fs, ino, &f);
    if (r)
        return r;
    r = fs_file_truncate(f, size);
    int r2 = fs_file_close(f);
    return r ? r : r2;
}

static void ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                       struct fuse_file_info *fi)
{
    lsmfs_ctx *c = CTX(req);
    char path[PATH_BUF];
    int named;
    fs_setattr sa = setattr_of(attr, to_set);
    setattr_kill_sgid(c, req, ino, fi, to_set, &sa);
    pthread_rwlock_rdlock(&c->ns);
    int r = node_path(c, ino, path, &named);
    if (r == 0 && (to_set & FUSE_SET_ATTR_SIZE))
        r = node_truncate(c, ino, file_of(fi), named ? path : NULL, attr->st_size);
    /* after the size: a truncate sets mtime, the kernel's own mtime must win.  A SETATTR
     * that changes nothing (chown(f, -1, -1)) still moves ctime, as on ext4. */
    if (r == 0 && (sa.valid || !(to_set & FUSE_SET_ATTR_SIZE)))
        r = fscore_setattr(c->fs, named ? path : NULL, ino, &sa);
    pthread_rwlock_unlock(&c->ns);
    fs_file *f;
    if (r == 0 && c->kernel_opens && fscore_file_get(c->fs, ino, &f) == 0)
        r = fs_file_close(f); /* commits times buffered with an open file: no close will */
    struct stat ghost;
    if (r == -ENOENT && !named && !(to_set & FUSE_SET_ATTR_SIZE) &&
        fs_ghosts_get(c->ghosts, ino, &ghost) == 0) { /* fchmod of a removed directory */
        fscore_setattr_apply(c->fs, &sa, &ghost);
        r = fs_ghosts_set(c->ghosts, ino, &ghost);
    }
    struct stat st;
    if (r == 0)
        r = node_stat(c, ino, fi, &st);
    if (r)
        reply_status(req, r);
    else
        fuse_reply_attr(req, &st, attr_timeout(c, &st));
}

static void ll_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
    /* permissions are checked by the kernel (default_permissions); existence here */
    struct stat st;
    reply_status(req, node_stat(CTX(req), ino, NULL, &st));
}

static void ll_statfs(fuse_req_t req, fuse_ino_t ino)
{
    struct statvfs sv;
    int r = fscore_statfs(CTX(req)->fs, &sv);
    if (r)
        reply_status(req, r);
    else
        fuse_reply_statfs(req, &sv);
}

/* ---- open files ---- */

/* Give the kernel the handle of f (on failure f is closed). */
static int attach(struct fuse_file_info *fi, fs_file *f)
{
    struct open_handle *h = malloc(sizeof *h);
    if (!h) {
        fs_file_close(f);
        return -ENOMEM;
    }
    h->kind = FH_FILE;
    h->f = f;
    fi->fh = (uint64_t)(uintptr_t)h;
    /* one kernel inode per file and every change through it: its pages stay valid */
    fi->keep_cache = 1;
    /* A read-only open has nothing of its own to commit at close (writers commit at their own
     * close; O_TRUNC opens still flush): no FLUSH round trip.  The kernel keeps POSIX locks
     * itself, so flush has no lock work to do either. */
    fi->noflush = (fi->flags & O_ACCMODE) == O_RDONLY && !(fi->flags & O_TRUNC);
    return 0;
}

static void detach(struct fuse_file_info *fi)
{
    struct open_handle *h = (struct open_handle *)(uintptr_t)fi->fh;
    fs_file_close(h->f);
    free(h);
    fi->fh = 0;
}

static void ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    lsmfs_ctx *c = CTX(req);
    if (c->kernel_opens) {
        reply_status(req, -ENOSYS); /* from now on the kernel opens files itself */
        return;
    }
    char path[PATH_BUF];
    int named, trunc = (fi->flags & O_TRUNC) != 0;
    fs_file *f = NULL;
    pthread_rwlock_rdlock(&c->ns);
    int r = node_path(c, ino, path, &named);
    if (r == 0 && named) {
        r = fs_file_open(c->fs, path, trunc, &f);
    } else if (r == 0) { /* /proc/PID/fd/N of a file unlinked while open, or of a hard-linked
                          * file that lost the name it was opened by */
        r = fs_file_open_ino(c->fs, ino, &f);
        if (r == 0 && trunc && (r = fs_file_truncate(f, 0)) != 0)
            fs_file_close(f);
    }
    if (r == 0 && trunc)
        trunc_kill_privs(c, req, ino, f, named ? path : NULL);
    pthread_rwlock_unlock(&c->ns);
    if (r == 0)
        r = attach(fi, f);
    /* read-only opens only: an O_RDWR open (fallocate(1), editors) need not read at all */
    int moved = r == 0 && (fi->flags & O_ACCMODE) == O_RDONLY && atime_open(c, ino, fi);
    if (r)
        reply_status(req, r);
    else if (fuse_reply_open(req, fi) != 0)
        detach(fi);
    atime_notify(c, ino, moved);
}

/* Whether a handle the kernel opens gets direct_io: the kernel then sends its write(2)s as
 * they come, without the page cache, and skips what it does before a write through the cache:
 * a GETXATTR of security.capability at every write(2) (file_remove_privs; the FUSE kernel
 * clears the inode's "no security attributes" flag whenever it refreshes attributes, so it
 * asks again and again), a round trip in five for a small file's create-and-write.  It asks
 * instead, with FUSE_WRITE_KILL_SUIDGID, that the daemon clear the set-id bits (drop_privs).
 * Only for write-only creates, whose handle cannot read or map the file: its reads would go
 * without the page cache too.  The kernel itself drops cached pages a direct write overlaps,
 * so other openers' cached reads and mappings stay coherent.  Needs the request hook (the
 * flag) and kernel opens (with daemon opens every write goes through the handle anyway).
 *
 * Off unless asked for (-o direct_creates=on): a direct write(2) of 1 MiB from a buffer that
 * is not page-aligned (malloc's) spans 257 pages, one more than a FUSE request may carry, so
 * the kernel sends 1 MiB - 16 bytes and then 16.  Each such write leaves a chunk half written
 * and then rewrites it; a memtable flush between the two gives level-0 tables that overlap,
 * compaction cuts the file into small tables, and reading 1 GiB back took 2.5 s instead of
 * 1.05 s (session 23). */
static int direct_create(const lsmfs_ctx *c, const struct fuse_file_info *fi)
{
    return c->direct_creates && c->hooked && c->kernel_opens &&
           (fi->flags & O_ACCMODE) == O_WRONLY;
}

static void ll_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                      struct fuse_file_info *fi)
{
    lsmfs_ctx *c = CTX(req);
    fs_cred who = caller(req);
    char path[PATH_BUF];
    struct fuse_entry_param e;
    struct stat st;
    fs_file *f = NULL;
    pthread_rwlock_rdlock(&c->ns);
    int r = fs_nodes_child_path(c->nodes, parent, name, path, sizeof path);
    if (r == 0)
        r = fs_file_create(c->fs, path, mode, (fi->flags & O_EXCL) != 0, &who, &f);
    if (r == 0)
        r = fs_file_stat(f, &st);
    /* the kernel creates only names it believes absent: the file is new and empty, and
     * truncating it again would only cost a second batch */
    if (r == 0 && (fi->flags & O_TRUNC) && st.st_size > 0 &&
        (r = fs_file_truncate(f, 0)) == 0)
        r = fs_file_stat(f, &st);
    if (r == 0)
        r = entry_of(c, parent, name, &st, &e);
    /* a write-only creator cannot read: keep its open from expired attributes
     * (atime_defer.h) */
    if (r == 0 && c->hooked && c->kernel_opens && (fi->flags & O_ACCMODE) == O_WRONLY &&
        e.attr_timeout == 0 && fs_atime_defer_add(c->defer, e.ino) == 0)
        e.attr_timeout = TIMEOUT;
    pthread_rwlock_unlock(&c->ns);
    if (r) {
        if (f)
            fs_file_close(f);
        reply_status(req, r);
        return;
    }
    if (c->kernel_opens) {
        /* the kernel will send no RELEASE for this handle: keep none */
        r = fs_file_close(f);
        fi->fh = 0;
        fi->keep_cache = 1;
        fi->direct_io = direct_create(c, fi);
    } else {
        r = attach(fi, f);
    }
    if (r) {
        fs_nodes_forget(c->nodes, e.ino, 1);
        reply_status(req, r);
    } else if (fuse_reply_create(req, &e, fi) != 0) {
        fs_nodes_forget(c->nodes, e.ino, 1);
        if (fi->fh)
            detach(fi);
    }
}

static void ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    lsmfs_ctx *c = CTX(req);
    fs_file *f;
    int own, r = req_file(c, ino, fi, &f, &own);
    char *buf = r == 0 ? malloc(size ? size : 1) : NULL;
    ssize_t n = r ? r : buf ? fs_file_read(f, buf, size, off) : -ENOMEM;
    /* With kernel opens no OPEN stands in for the read: the read itself moves atime.  The
     * kernel drops its copy of atime after every READ it sends (fuse_invalidate_atime), so no
     * atime_notify: that drops all the attributes, and the next open of the file would wait
     * for a GETATTR. */
    struct stat st;
    if (c->kernel_opens && n >= 0 && fs_file_stat(f, &st) == 0)
        atime_touch(c, ino, NULL, &st);
    if (r == 0 && own)
        fs_file_close(f);
    if (n >= 0)
        fs_nodes_note_pages(c->nodes, ino); /* before the reply: see atime_open */
    if (n < 0)
        reply_status(req, (int)n);
    else
        fuse_reply_buf(req, buf, (size_t)n);
    free(buf);
}

/* Whether a write of n bytes at off fills a whole page, which the kernel then keeps. */
static int fills_page(off_t off, size_t n)
{
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t first = ((uint64_t)off + page - 1) / page * page;
    return first + page <= (uint64_t)off + n;
}

/* A WRITE request to acknowledge early (fs_file_write_ack). */
typedef struct early_write {
    fuse_req_t req;
    size_t size;
} early_write;

static void ack_write(void *arg)
{
    early_write *ew = arg;
    fuse_reply_write(ew->req, ew->size);
}

/* Path of node ino for an xattr call, or "" when it has no name (the core then finds it by
 * inode number: a file unlinked while open keeps its xattrs until the last close). */
static int xattr_node(lsmfs_ctx *c, fuse_ino_t ino, char *path, const char **p)
{
    int named, r = node_path(c, ino, path, &named);
    *p = named ? path : NULL;
    return r;
}

/* Remove extended attribute name of node ino (REMOVEXATTR, and drop_privs). */
static int remove_xattr(lsmfs_ctx *c, fuse_ino_t ino, const char *name)
{
    char path[PATH_BUF];
    const char *p;
    pthread_rwlock_rdlock(&c->ns);
    int r = xattr_node(c, ino, path, &p);
    if (r == 0)
        r = fscore_removexattr_node(c->fs, p, ino, name);
    struct stat st = {.st_ino = 0};
    if (r == 0 && p)
        atime_owed_at(c, p, &st);
    pthread_rwlock_unlock(&c->ns);
    atime_owed(c, &st);
    if (r == -ENOENT && !p)
        r = fs_ghosts_removexattr(c->ghosts, ino, name);
    return r;
}

/* For a write the kernel sends without the page cache (direct_create), what it would have done
 * before the write (file_remove_privs): a writer without CAP_FSETID (the request's flag, see
 * lsmfs_before_request) clears S_ISUID, and S_ISGID when group execute is set, and any writer
 * removes security.capability.  *changed: the file's attributes changed, so the kernel's copy
 * (which a direct write does not refresh the mode of) must go.  Returns 0 or a negative errno. */
static int drop_privs(lsmfs_ctx *c, fuse_ino_t ino, const struct fuse_file_info *fi, fs_file *f,
                      int *changed)
{
    *changed = 0;
    if (write_kills_suidgid) {
        struct stat st;
        int r = fs_file_stat(f, &st);
        if (r)
            return r;
        mode_t m = st.st_mode & 07777, kill = m & S_ISUID;
        if ((m & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP))
            kill |= S_ISGID;
        if (kill && (r = fs_file_chmod(f, m & ~kill)) != 0)
            return r;
        *changed = kill != 0;
    }
    /* a write-only file the kernel opened itself looks the same: for it the kernel has
     * removed the attribute already, and the lookup finds nothing */
    if (!direct_create(c, fi))
        return 0;
    int has = fscore_has_xattr(c->fs, ino, "security.capability");
    if (has <= 0)
        return has;
    int r = remove_xattr(c, ino, "security.capability");
    if (r == 0)
        *changed = 1;
    /* another writer removed it between the two lookups: nothing left to drop */
    return r == -ENODATA ? 0 : r;
}

static void ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
    lsmfs_ctx *c = CTX(req);
    fs_file *f;
    int lim = write_limit(off, &size);
    if (lim) {
        reply_status(req, lim);
        return;
    }
    if (fills_page(off, size)) /* the kernel made the page up to date before it sent it */
        fs_nodes_note_pages(c->nodes, ino);
    int own, acked = 0, changed = 0, r = req_file(c, ino, fi, &f, &own);
    if (r == 0 && (r = drop_privs(c, ino, fi, f, &changed)) != 0) {
        req_file_done(c, f, own, r);
        reply_status(req, r);
        return;
    }
    if (changed && c->se) /* only attributes: no lock the kernel holds for this write */
        fuse_lowlevel_notify_inval_inode(c->se, ino, -1, 0);
    /* With daemon opens a big append is acknowledged before its table write (the flush that
     * closes the file reports a failure); with kernel opens no flush will come, so every
     * write is committed before its reply. */
    early_write ew = {req, size};
    ssize_t n = r               ? r
                : c->kernel_opens ? fs_file_write(f, buf, size, off)
                                  : fs_file_write_ack(f, buf, size, off, ack_write, &ew, &acked);
    if (r == 0 && (r = req_file_done(c, f, own, n < 0 ? (int)n : 0)) != 0)
        n = r;
    if (n > 0) /* the kernel drops the size it holds: the next read asks (atime_defer.h) */
        fs_atime_defer_drop(c->defer, ino);
    if (acked)
        return;
    if (n < 0)
        reply_status(req, (int)n);
    else
        fuse_reply_write(req, (size_t)n);
}

static void ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    lsmfs_ctx *c = CTX(req);
    fs_file *f = file_of(fi);
    int r = f ? fs_file_commit(f, 0) : 0;
    /* with kernel opens every write is committed already: no FLUSH needed, ever again */
    reply_status(req, r == 0 && c->kernel_opens ? -ENOSYS : r);
}

static void ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    if (file_of(fi))
        detach(fi);
    fuse_reply_err(req, 0);
}

static void ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    fs_file *f = file_of(fi);
    reply_status(req, f ? fs_file_commit(f, 1) : fscore_sync(CTX(req)->fs));
}

/* What ext4 refuses before allocating anything: a range that ends past the largest file size
 * (EFBIG: the kernel checks only 2^63 - 1 for FUSE), or growing a file by more than the free
 * space (ENOSPC: lsmfs reserves no blocks, but a fallocate that could never be honoured must
 * not succeed). */
static int fallocate_limits(lsmfs_ctx *c, fs_file *f, int mode, off_t off, off_t len)
{
    if (off >= 0 && len > 0 && off + len > FS_FILE_SIZE_MAX)
        return -EFBIG;
    struct stat st;
    struct statvfs sv;
    if ((mode & (FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE)) || off < 0 || len <= 0 ||
        fs_file_stat(f, &st) != 0 || off + len <= st.st_size || fscore_statfs(c->fs, &sv) != 0)
        return 0;
    double grow = (double)(off + len - st.st_size);
    return grow > (double)sv.f_bavail * (double)sv.f_frsize ? -ENOSPC : 0;
}

static void ll_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
                         struct fuse_file_info *fi)
{
    lsmfs_ctx *c = CTX(req);
    fs_file *f;
    int own, r = req_file(c, ino, fi, &f, &own);
    if (r == 0) {
        int e = fallocate_limits(c, f, mode, off, len);
        r = req_file_done(c, f, own, e ? e : fs_file_fallocate(f, mode, off, len));
    }
    reply_status(req, r);
}

/* SEEK_DATA / SEEK_HOLE (the kernel answers the other whences itself).  With the writeback
 * cache the daemon cannot know the kernel's dirty pages (they come at writeback, and FUSE
 * does not flush them before LSEEK): ENOSYS then makes the kernel treat every file as data
 * from then on, which POSIX allows.  Without it, writes reach the daemon before write(2)
 * returns; only pages dirtied through a shared writable mapping and not yet written back
 * (msync) are not seen, as with any FUSE file system that answers LSEEK. */
static void ll_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
                     struct fuse_file_info *fi)
{
    lsmfs_ctx *c = CTX(req);
    if (c->writeback) {
        reply_status(req, -ENOSYS);
        return;
    }
    fs_file *f;
    off_t at = 0;
    int own, r = req_file(c, ino, fi, &f, &own);
    if (r == 0)
        r = req_file_done(c, f, own, fs_file_seek(f, off, whence, &at));
    if (r)
        reply_status(req, r);
    else
        fuse_reply_lseek(req, at);
}

/* ---- extended attributes ---- */

/* The namespaces ext4 knows, with its answers: user.*, trusted.* and security.* are stored;
 * a bare prefix ("user.") is EINVAL; system.* (POSIX ACLs included) and unknown namespaces are
 * EOPNOTSUPP.  Refusing ACLs makes cp -a and friends fall back to chmod, instead of storing an
 * ACL the kernel would not enforce or reflect in the mode.  The kernel has already checked the
 * caller's right to the namespace (trusted.* and security.* writes need CAP_SYS_ADMIN). */
static int xattr_name_check(const char *name)
{
    static const char *const stored[] = {"user.", "trusted.", "security."};
    for (size_t i = 0; i < sizeof stored / sizeof stored[0]; i++) {
        size_t n = strlen(stored[i]);
        if (strncmp(name, stored[i], n) == 0)
            return name[n] ? 0 : -EINVAL;
    }
    return -EOPNOTSUPP;
}

static void ll_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                        size_t size, int flags)
{
    lsmfs_ctx *c = CTX(req);
    char path[PATH_BUF];
    const char *p;
    int r = xattr_name_check(name);
    if (r) {
        reply_status(req, r);
        return;
    }
    pthread_rwlock_rdlock(&c->ns);
    r = xattr_node(c, ino, path, &p);
    if (r == 0)
        r = fscore_setxattr_node(c->fs, p, ino, name, value, size, flags);
    struct stat st = {.st_ino = 0};
    if (r == 0 && p)
        atime_owed_at(c, p, &st);
    pthread_rwlock_unlock(&c->ns);
    atime_owed(c, &st);
    if (r == -ENOENT && !p) /* a removed directory held open keeps taking attributes (ext4) */
        r = fs_ghosts_setxattr(c->ghosts, ino, name, value, size, flags);
    reply_status(req, r);
}

/* Remove the trusted.* names from the listxattr result list[0, n): ext4 shows them only to
 * privileged callers (the kernel asks the filesystem, so the filter is ours).  Returns the new
 * length. */
static size_t hide_trusted(char *list, size_t n)
{
    size_t out = 0;
    for (size_t i = 0; i < n;) {
        size_t len = strnlen(list + i, n - i) + 1;
        if (strncmp(list + i, "trusted.", 8) != 0) {
            memmove(list + out, list + i, len);
            out += len;
        }
        i += len;
    }
    return out;
}

/* The names of node ino as the caller may see them, into a malloc'd *out; returns the length
 * or -errno.  Read whole (size 0 asks the length, which must also be the filtered one). */
static int list_visible(lsmfs_ctx *c, fuse_req_t req, fuse_ino_t ino, char **out)
{
    char path[PATH_BUF];
    const char *p;
    char *buf = NULL;
    int r;
    *out = NULL;
    for (int tries = 0; tries < 8; tries++) {
        pthread_rwlock_rdlock(&c->ns);
        r = xattr_node(c, ino, path, &p);
        int n = r ? r : fscore_listxattr_node(c->fs, p, ino, NULL, 0);
        char *nb = n > 0 ? realloc(buf, (size_t)n) : buf;
        if (n > 0 && !nb)
            n = -ENOMEM;
        else
            buf = nb;
        r = n > 0 ? fscore_listxattr_node(c->fs, p, ino, buf, (size_t)n) : n;
        pthread_rwlock_unlock(&c->ns);
        if (r == -ENOENT && !p) { /* a removed directory still held: its ghost's names */
            n = fs_ghosts_listxattr(c->ghosts, ino, NULL, 0);
            nb = n > 0 ? realloc(buf, (size_t)n) : buf;
            if (n > 0 && !nb)
                n = -ENOMEM;
            else
                buf = nb;
            r = n > 0 ? fs_ghosts_listxattr(c->ghosts, ino, buf, (size_t)n) : n;
        }
        if (r != -ERANGE) /* ERANGE: a name was added between the two calls */
            break;
    }
    if (r > 0 && fuse_req_ctx(req)->uid != 0)
        r = (int)hide_trusted(buf, (size_t)r);
    if (r < 0)
        free(buf);
    else
        *out = buf;
    return r;
}

static void ll_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
    char *list;
    int r = list_visible(CTX(req), req, ino, &list);
    if (r < 0)
        reply_status(req, r);
    else if (size == 0) /* the caller asks for the size */
        fuse_reply_xattr(req, (size_t)r);
    else if ((size_t)r > size)
        reply_status(req, -ERANGE);
    else
        fuse_reply_buf(req, list, (size_t)r);
    free(list);
}

static void ll_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
    lsmfs_ctx *c = CTX(req);
    char path[PATH_BUF];
    const char *p;
    int r = xattr_name_check(name);
    char *buf = r == 0 && size ? malloc(size) : NULL;
    if (r == 0 && size && !buf)
        r = -ENOMEM;
    if (r == 0) {
        pthread_rwlock_rdlock(&c->ns);
        r = xattr_node(c, ino, path, &p);
        if (r == 0)
            r = fscore_getxattr_node(c->fs, p, ino, name, buf, size);
        pthread_rwlock_unlock(&c->ns);
        if (r == -ENOENT && !p)
            r = fs_ghosts_getxattr(c->ghosts, ino, name, buf, size);
    }
    if (r < 0)
        reply_status(req, r);
    else if (size == 0) /* the caller asks for the size */
        fuse_reply_xattr(req, (size_t)r);
    else
        fuse_reply_buf(req, buf, (size_t)r);
    free(buf);
}

static void ll_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
    int r = xattr_name_check(name);
    reply_status(req, r ? r : remove_xattr(CTX(req), ino, name));
}

/* ---- directories ---- */

static void ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct stat st;
    int r = node_stat(CTX(req), ino, NULL, &st);
    if (r == 0 && !S_ISDIR(st.st_mode))
        r = -ENOTDIR;
    struct dir_handle *d = r == 0 ? calloc(1, sizeof *d) : NULL;
    if (r == 0 && !d)
        r = -ENOMEM;
    if (r) {
        reply_status(req, r);
        return;
    }
    d->kind = FH_DIR;
    d->parent = fs_nodes_parent(CTX(req)->nodes, ino);
    if (!d->parent)
        d->parent = ino; /* a removed directory: ".." is itself, as the kernel shows it */
    d->st = st;
    d->atime_pending = 1;
    fi->fh = (uint64_t)(uintptr_t)d;
    if (fuse_reply_open(req, fi) != 0)
        free(d);
}

/* Forget the names handed out (a listing restarted at offset 0); the memory is kept. */
static void dir_forget(struct dir_handle *d) { fs_buf_reset(&d->pool); }

/* The name handed out with offset off (> 2), or NULL for an offset this listing never gave. */
static const char *dir_name(const struct dir_handle *d, off_t off)
{
    size_t at = (size_t)off - 3;
    if (at >= d->pool.len || (at > 0 && d->pool.data[at - 1] != '\0'))
        return NULL;
    return d->pool.data + at;
}

/* memcpy of a name of n bytes (1..255) without a call for the short names listings are made
 * of: whole words, the last one overlapping, reading and writing only the n bytes. */
static inline void copy_name(char *dst, const char *src, size_t n)
{
    if (n < 8) {
        uint32_t h;
        if (n < 4) {
            for (size_t i = 0; i < n; i++)
                dst[i] = src[i];
            return;
        }
        memcpy(&h, src, 4);
        memcpy(dst, &h, 4);
        memcpy(&h, src + n - 4, 4);
        memcpy(dst + n - 4, &h, 4);
        return;
    }
    if (n > 32) {
        memcpy(dst, src, n);
        return;
    }
    uint64_t w;
    for (size_t i = 0; i + 8 < n; i += 8) {
        memcpy(&w, src + i, 8);
        memcpy(dst + i, &w, 8);
    }
    memcpy(&w, src + n - 8, 8);
    memcpy(dst + n - 8, &w, 8);
}

/* Write a plain READDIR entry into at (room bytes) if it fits; returns its size.  As
 * fuse_add_direntry, but with the name's length known. */
static size_t put_dirent(char *at, size_t room, const char *name, size_t len,
                         const struct stat *st, off_t next)
{
    size_t used = FUSE_NAME_OFFSET + len, size = FUSE_DIRENT_ALIGN(used);
    if (size > room)
        return size;
    struct fuse_dirent *de = (struct fuse_dirent *)(void *)at;
    memset(at + size - 8, 0, 8); /* the padding after the name (size is whole words) */
    de->ino = st->st_ino;
    de->off = (uint64_t)next;
    de->namelen = (uint32_t)len;
    de->type = (st->st_mode & S_IFMT) >> 12;
    copy_name(de->name, name, len);
    return size;
}

/* One READDIR(PLUS) reply being filled. */
struct fill_ctx {
    lsmfs_ctx *c;
    fuse_req_t req;
    fuse_ino_t dir;
    struct dir_handle *d;
    char *buf;
    size_t size, pos;
    int plus; /* the reply is READDIRPLUS's: its entries carry attributes */
    int err;
};

/* Add one entry, name a C string of len bytes (ino 0: "." or "..", which count no lookup);
 * 1 when the buffer is full. */
static int fill_add(struct fill_ctx *x, const char *name, size_t len, const struct stat *st,
                    off_t next)
{
    char *at = x->buf + x->pos;
    size_t room = x->size - x->pos, need;
    if (!x->plus) {
        need = put_dirent(at, room, name, len, st, next);
    } else {
        struct fuse_entry_param e;
        memset(&e, 0, sizeof e);
        e.attr = *st;
        int counted = strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
        if (counted) {
            int r = entry_of(x->c, x->dir, name, st, &e);
            if (r) {
                x->err = r;
                return 1;
            }
        }
        need = fuse_add_direntry_plus(x->req, at, room, name, &e, next);
        if (need > room && counted)
            fs_nodes_forget(x->c->nodes, e.ino, 1);
    }
    if (need > room)
        return 1;
    x->pos += need;
    return 0;
}

static int fill_one(void *arg, const char *name, size_t len, const struct stat *st)
{
    struct fill_ctx *x = arg;
    fs_buf *pool = &x->d->pool;
    /* recorded first (what can fail), taken back if the reply has no room: once the entry is
     * in the reply (and, with plus, counted as a lookup) it must be recorded */
    size_t start = pool->len;
    if (!x->plus && start + len < pool->cap) { /* the common case: no call that can fail */
        size_t need = put_dirent(x->buf + x->pos, x->size - x->pos, name, len, st,
                                 (off_t)(start + 3));
        if (need > x->size - x->pos)
            return 1;
        x->pos += need;
        copy_name(pool->data + start, name, len);
        pool->data[start + len] = '\0';
        pool->len += len + 1;
        return 0;
    }
    int r = fs_buf_add(pool, name, len);
    if (r) {
        x->err = r;
        return 1;
    }
    if (fill_add(x, pool->data + start, len, st, (off_t)(start + 3))) {
        pool->len = start; /* this name was not handed out */
        return 1;
    }
    pool->len++; /* keep its NUL: the names are C strings */
    return 0;
}

/* "." and ".." at offsets 0 and 1; 1 when the buffer is full. */
static int fill_dots(struct fill_ctx *x, off_t *off)
{
    struct stat st;
    memset(&st, 0, sizeof st);
    st.st_mode = S_IFDIR;
    if (*off == 0) {
        dir_forget(x->d);
        st.st_ino = x->dir;
        if (fill_add(x, ".", 1, &st, 1))
            return 1;
        *off = 1;
    }
    if (*off == 1) {
        st.st_ino = x->d->parent;
        if (fill_add(x, "..", 2, &st, 2))
            return 1;
        *off = 2;
    }
    return 0;
}

/* Fill x from the entries after the name after (NULL: the first) of the directory at path;
 * with x->plus each carries its attributes.  Returns 0 or a negative errno. */
static int readdir_scan(struct fill_ctx *x, const char *path, const char *after)
{
    int r = fscore_readdir_after(x->c->fs, path, after, x->plus, fill_one, x);
    return r > 0 ? 0 : r;
}

/* In auto mode the kernel asks for the first buffer with attributes whatever follows, and
 * attributes make an inode per entry in the kernel and the node table, which a bare listing
 * would pay for: only RDPLUS_FIRST bytes of entries answer its guess, with attributes (it asks
 * for more with attributes once entries are looked up).  The rest of the directory follows in
 * plain READDIRs, 32 bytes an entry where an empty READDIRPLUS entry takes 152: 100 directories
 * of 1,000 names listed 5-10% faster, one of 100,000 names 17-35% faster. */
static int readdir_fill(struct fill_ctx *x, const char *path, const char *after, off_t off)
{
    if (x->plus && off <= 2 && x->c->rdplus == LSMFS_RDPLUS_AUTO && x->size > RDPLUS_FIRST)
        x->size = RDPLUS_FIRST;
    return readdir_scan(x, path, after);
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi, int plus)
{
    lsmfs_ctx *c = CTX(req);
    struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;
    if (!d || d->kind != FH_DIR) {
        reply_status(req, -EBADF);
        return;
    }
    /* A listing moves atime when it reads, as ext4's does, not at opendir; no notify: the
     * kernel drops its atime of the directory after every READDIR itself, so the next stat
     * shows it, and glibc's fstat in opendir costs no GETATTR. */
    if (off == 0 && d->atime_pending) {
        d->atime_pending = 0;
        atime_touch(c, ino, NULL, &d->st);
    }
    struct fill_ctx x = {c, req, ino, d, malloc(size ? size : 1), size, 0, plus, 0};
    if (!x.buf) {
        reply_status(req, -ENOMEM);
        return;
    }
    char *after = NULL;
    int r = 0;
    if (fill_dots(&x, &off))
        goto reply; /* the buffer took only dots */
    if (off > 2) {
        const char *name = dir_name(d, off);
        if (!name)
            goto reply; /* an offset we never gave: the end */
        after = strdup(name); /* the pool may move under the scan */
        if (!after)
            r = -ENOMEM;
    }
    char path[PATH_BUF];
    int named = 0;
    pthread_rwlock_rdlock(&c->ns);
    if (r == 0)
        r = node_path(c, ino, path, &named);
    if (r == 0 && named)
        r = readdir_fill(&x, path, after, off);
    pthread_rwlock_unlock(&c->ns);
    free(after);
    if (r == 0 && x.err && x.pos == 0)
        r = x.err;
    if (r) {
        reply_status(req, r);
        free(x.buf);
        return;
    }
reply:
    fuse_reply_buf(req, x.buf, x.pos);
    free(x.buf);
}

static void ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
    do_readdir(req, ino, size, off, fi, 0);
}

static void ll_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                           struct fuse_file_info *fi)
{
    do_readdir(req, ino, size, off, fi, 1);
}

static void ll_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;
    if (d && d->kind == FH_DIR) {
        fs_buf_free(&d->pool);
        free(d);
    }
    fuse_reply_err(req, 0);
}

static void ll_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    reply_status(req, fscore_sync(CTX(req)->fs));
}

const struct fuse_lowlevel_ops lsmfs_ll_ops = {
    .init = ll_init,
    .lookup = ll_lookup,
    .forget = ll_forget,
    .forget_multi = ll_forget_multi,
    .getattr = ll_getattr,
    .setattr = ll_setattr,
    .readlink = ll_readlink,
    .mknod = ll_mknod,
    .mkdir = ll_mkdir,
    .unlink = ll_unlink,
    .rmdir = ll_rmdir,
    .symlink = ll_symlink,
    .rename = ll_rename,
    .link = ll_link,
    .open = ll_open,
    .create = ll_create,
    .read = ll_read,
    .write = ll_write,
    .flush = ll_flush,
    .release = ll_release,
    .fsync = ll_fsync,
    .fallocate = ll_fallocate,
    .lseek = ll_lseek,
    .statfs = ll_statfs,
    .access = ll_access,
    .setxattr = ll_setxattr,
    .getxattr = ll_getxattr,
    .listxattr = ll_listxattr,
    .removexattr = ll_removexattr,
    .opendir = ll_opendir,
    .readdir = ll_readdir,
    .readdirplus = ll_readdirplus,
    .releasedir = ll_releasedir,
    .fsyncdir = ll_fsyncdir,
};
