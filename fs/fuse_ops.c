/*
 * fuse_ops.c — libfuse high-level operations on top of fscore.
 *
 * Configuration (see lsmfs_init): use_ino (hard links show one inode number), nullpath_ok
 * (handles need no path), long entry/attribute/negative timeouts (we are the only writer; a
 * change through one name of a hard-linked file invalidates the others by path), the page
 * cache kept across opens (keep_cache) for one-name files, no FLUSH for read-only opens,
 * plain READDIR rather than READDIRPLUS (unless -o readdirplus=on), 1 MiB writes and
 * readahead, and optionally the writeback cache (-o writeback=on: the kernel then owns size
 * and mtime while it has dirty pages; off by default because each name of a hard-linked file
 * is a separate kernel inode whose cached size the kernel would not refresh).
 *
 * An open file whose name is removed is "hidden" by libfuse: it renames it to
 * .fuse_hiddenXXXX; we turn that rename into the real unlink (the file lives on as an orphan
 * in the store, invisible to listings) and remember the hidden name, so that fstat() of the
 * unlinked file, which the kernel sends by name, still answers.  File locks are left to the
 * kernel, which implements POSIX and flock locks locally when the filesystem does not.
 */
#include "fuse_ops.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fscore.h"

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

#define FH_FILE 0x46494c45u /* "FILE" */
#define FH_DIR 0x44495220u  /* "DIR " */

struct lsmfs_fh {
    unsigned kind;
    fs_file *f;
    int written; /* writes since the last flush (other names need a refresh) */
};

/* An open directory: its path (directory handles get no path with nullpath_ok) and the names
 * handed out, so that offset k means "after names[k - 3]" (1 and 2 are "." and ".."). */
struct dir_handle {
    unsigned kind;
    struct dir_handle *next, *prev; /* open directories, so that renames can update paths */
    char *path;                     /* under lsmfs_ctx.mu */
    ino_t ino, parent_ino; /* for "." and ".." (glibc hides entries with inode 0) */
    char **names;
    size_t n, cap;
};

#define LINK_BUCKETS 1024
#define LINK_MAX_PATHS 100000 /* bound on remembered names; beyond, no new ones are noted */

struct link_path {
    struct link_path *next;
    uint64_t ino;
    char *path;
};

/* A name libfuse gave to an open file we unlinked (see the top of the file). */
struct hidden {
    struct hidden *next;
    char *path;
    uint64_t ino;
};

struct lsmfs_ctx {
    fscore *fs;
    struct hidden *hidden;
    struct dir_handle *dirs;
    int multithreaded;
    int writeback;
    int readdirplus; /* offer READDIRPLUS to the kernel (off by default, see lsmfs_init) */
    pthread_mutex_t mu;
    struct link_path *bucket[LINK_BUCKETS];
    size_t npaths;
};

lsmfs_ctx *lsmfs_ctx_new(fscore *fs, int multithreaded, int writeback)
{
    lsmfs_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->fs = fs;
    c->multithreaded = multithreaded;
    c->writeback = writeback;
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

void lsmfs_ctx_set_readdirplus(lsmfs_ctx *c, int on) { c->readdirplus = on; }

void lsmfs_ctx_free(lsmfs_ctx *c)
{
    if (!c)
        return;
    for (int i = 0; i < LINK_BUCKETS; i++) {
        struct link_path *p = c->bucket[i];
        while (p) {
            struct link_path *n = p->next;
            free(p->path);
            free(p);
            p = n;
        }
    }
    while (c->hidden) {
        struct hidden *h = c->hidden;
        c->hidden = h->next;
        free(h->path);
        free(h);
    }
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static int is_hidden_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash && strncmp(slash + 1, ".fuse_hidden", 12) == 0;
}

/* The inode of hidden name path, 0 if none; with drop, forget the name. */
static uint64_t hidden_ino(lsmfs_ctx *c, const char *path, int drop)
{
    uint64_t ino = 0;
    pthread_mutex_lock(&c->mu);
    for (struct hidden **pp = &c->hidden; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->path, path) == 0) {
            struct hidden *h = *pp;
            ino = h->ino;
            if (drop) {
                *pp = h->next;
                free(h->path);
                free(h);
            }
            break;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return ino;
}

static lsmfs_ctx *CTX(void) { return fuse_get_context()->private_data; }
static fscore *FS(void) { return CTX()->fs; }

/* Remember that the kernel knows path as a name of the hard-linked inode ino. */
static void links_note(uint64_t ino, const char *path)
{
    lsmfs_ctx *c = CTX();
    pthread_mutex_lock(&c->mu);
    struct link_path **b = &c->bucket[ino % LINK_BUCKETS], *p;
    for (p = *b; p; p = p->next)
        if (p->ino == ino && strcmp(p->path, path) == 0)
            break;
    if (!p && c->npaths < LINK_MAX_PATHS) {
        p = malloc(sizeof *p);
        if (p && (p->path = strdup(path)) != NULL) {
            p->ino = ino;
            p->next = *b;
            *b = p;
            c->npaths++;
        } else {
            free(p);
        }
    }
    pthread_mutex_unlock(&c->mu);
}

static char *moved_path(const char *p, const char *old, const char *nw);

/* Forget path (any inode); with to != NULL, path moved to `to` instead, and so did every
 * remembered name below it (a directory rename). */
static void links_move(const char *path, const char *to)
{
    lsmfs_ctx *c = CTX();
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < LINK_BUCKETS; i++) {
        for (struct link_path **pp = &c->bucket[i]; *pp;) {
            struct link_path *p = *pp;
            char *np = to ? moved_path(p->path, path, to) : NULL;
            if (np) {
                free(p->path);
                p->path = np;
            } else if (!to && strcmp(p->path, path) == 0) {
                *pp = p->next;
                free(p->path);
                free(p);
                c->npaths--;
                continue;
            }
            pp = &p->next;
        }
    }
    pthread_mutex_unlock(&c->mu);
}

/* Drop the kernel's cached attributes and pages of every known name of ino.  Called without
 * any fscore lock held: the kernel may first write dirty pages back through us. */
static void links_invalidate(uint64_t ino)
{
    lsmfs_ctx *c = CTX();
    if (!c->multithreaded)
        return;
    char *paths[64];
    int n = 0;
    pthread_mutex_lock(&c->mu);
    for (struct link_path *p = c->bucket[ino % LINK_BUCKETS]; p && n < 64; p = p->next)
        if (p->ino == ino)
            paths[n++] = strdup(p->path);
    pthread_mutex_unlock(&c->mu);
    struct fuse *f = fuse_get_context()->fuse;
    for (int i = 0; i < n; i++) {
        if (paths[i])
            fuse_invalidate_path(f, paths[i]);
        free(paths[i]);
    }
}

/* If p is old or lies under it, return a new string with old replaced by nw, else NULL. */
static char *moved_path(const char *p, const char *old, const char *nw)
{
    size_t ol = strlen(old);
    if (strncmp(p, old, ol) != 0 || (p[ol] != '\0' && p[ol] != '/'))
        return NULL;
    size_t nl = strlen(nw);
    char *r = malloc(nl + strlen(p + ol) + 1);
    if (r) {
        memcpy(r, nw, nl);
        strcpy(r + nl, p + ol);
    }
    return r;
}

/* Open directories at or under `from` now live under `to` (and the reverse for exchange). */
static void dirs_rename(const char *from, const char *to, int exchange)
{
    lsmfs_ctx *c = CTX();
    pthread_mutex_lock(&c->mu);
    for (struct dir_handle *d = c->dirs; d; d = d->next) {
        char *np = moved_path(d->path, from, to);
        if (!np && exchange)
            np = moved_path(d->path, to, from);
        if (np) {
            free(d->path);
            d->path = np;
        }
    }
    pthread_mutex_unlock(&c->mu);
}

/* Inode number and link count of path (0 if it cannot be read). */
static uint64_t linked_ino(const char *path)
{
    struct stat st;
    if (!path || fscore_stat(FS(), path, &st) != 0 || S_ISDIR(st.st_mode) || st.st_nlink < 2)
        return 0;
    return (uint64_t)st.st_ino;
}

static fs_cred caller(void)
{
    struct fuse_context *c = fuse_get_context();
    fs_cred who = {c->uid, c->gid};
    return who;
}

static fs_file *file_of(struct fuse_file_info *fi)
{
    if (!fi || !fi->fh)
        return NULL;
    struct lsmfs_fh *h = (struct lsmfs_fh *)(uintptr_t)fi->fh;
    return h->kind == FH_FILE ? h->f : NULL;
}

static void *lsmfs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
    lsmfs_ctx *ctx = fuse_get_context()->private_data;
    cfg->use_ino = 1;
    cfg->nullpath_ok = 1;
    cfg->hard_remove = 0;
    cfg->entry_timeout = 86400.0;
    cfg->attr_timeout = 86400.0;
    cfg->negative_timeout = 86400.0;
    cfg->kernel_cache = 0;
    cfg->auto_cache = 0;
    if (ctx->writeback && (conn->capable & FUSE_CAP_WRITEBACK_CACHE)) {
        conn->want |= FUSE_CAP_WRITEBACK_CACHE;
        /* the kernel sets mtime on write and sends it (setattr) before flush; a time of ours
         * taken when its writes arrive later would be different */
        fscore_set_kernel_times(ctx->fs, 1);
    }
    if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
        conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
    /* Plain READDIR: with readdirplus the kernel instantiates a dentry and an inode per entry
     * (and libfuse's high-level layer a node) even for a bare `ls`/readdir(3), which measured
     * 3-5x slower per entry; lookups that follow are cheap one-key gets anyway. */
    if (!ctx->readdirplus)
        conn->want &= ~(FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO);
    conn->max_write = 1u << 20;
    conn->max_readahead = 1u << 20;
    return fuse_get_context()->private_data;
}

static int lsmfs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
    fs_file *f = file_of(fi);
    if (f)
        return fs_file_stat(f, st);
    if (!path)
        return -ESTALE;
    if (is_hidden_name(path)) {
        uint64_t ino = hidden_ino(CTX(), path, 0);
        if (ino)
            return fscore_stat_open(FS(), ino, st);
    }
    int r = fscore_stat(FS(), path, st);
    if (r == 0 && !S_ISDIR(st->st_mode) && st->st_nlink > 1)
        links_note((uint64_t)st->st_ino, path);
    return r;
}

static int lsmfs_readlink(const char *path, char *buf, size_t size)
{
    return fscore_readlink(FS(), path, buf, size);
}

static int lsmfs_mknod(const char *path, mode_t mode, dev_t rdev)
{
    fs_cred who = caller();
    return fscore_mknod(FS(), path, mode, rdev, &who);
}

static int lsmfs_mkdir(const char *path, mode_t mode)
{
    fs_cred who = caller();
    return fscore_mkdir_as(FS(), path, mode, &who);
}

static int lsmfs_unlink(const char *path)
{
    if (is_hidden_name(path) && hidden_ino(CTX(), path, 1))
        return 0; /* the last close of a hidden file: its data went with fs_file_close */
    uint64_t ino = linked_ino(path);
    int r = fscore_unlink(FS(), path);
    if (r == 0 && ino) {
        links_move(path, NULL);
        links_invalidate(ino);
    }
    return r;
}
static int lsmfs_rmdir(const char *path) { return fscore_rmdir(FS(), path); }

static int lsmfs_symlink(const char *target, const char *path)
{
    fs_cred who = caller();
    return fscore_symlink_as(FS(), target, path, &who);
}

static int lsmfs_rename(const char *from, const char *to, unsigned int flags)
{
    if (flags == 0 && is_hidden_name(to)) {
        /* libfuse hides an open file it was asked to unlink or replace: unlink it for real */
        struct stat st;
        int r = fscore_stat(FS(), from, &st);
        struct hidden *h = r == 0 ? malloc(sizeof *h) : NULL;
        if (r == 0 && (!h || !(h->path = strdup(to)))) {
            free(h);
            return -ENOMEM;
        }
        if (r == 0)
            r = lsmfs_unlink(from);
        if (r) {
            if (h) {
                free(h->path);
                free(h);
            }
            return r;
        }
        h->ino = (uint64_t)st.st_ino;
        lsmfs_ctx *c = CTX();
        pthread_mutex_lock(&c->mu);
        h->next = c->hidden;
        c->hidden = h;
        pthread_mutex_unlock(&c->mu);
        return 0;
    }
    uint64_t replaced = (flags & RENAME_EXCHANGE) ? 0 : linked_ino(to);
    int r = fscore_rename(FS(), from, to, flags);
    if (r == 0) {
        if (replaced) {
            links_move(to, NULL);
            links_invalidate(replaced);
        }
        if (!(flags & RENAME_EXCHANGE))
            links_move(from, to);
        dirs_rename(from, to, (flags & RENAME_EXCHANGE) != 0);
    }
    return r;
}

static int lsmfs_link(const char *from, const char *to)
{
    int r = fscore_link(FS(), from, to);
    if (r == 0) {
        uint64_t ino = linked_ino(from);
        if (ino) {
            links_note(ino, from);
            links_invalidate(ino);
            links_note(ino, to);
        }
    }
    return r;
}

/* After an attribute change of path or of the open file f: refresh the other names. */
static void changed(const char *path, fs_file *f)
{
    struct stat st;
    int r = f ? fs_file_stat(f, &st) : (path ? fscore_stat(FS(), path, &st) : -1);
    if (r == 0 && !S_ISDIR(st.st_mode) && st.st_nlink > 1)
        links_invalidate((uint64_t)st.st_ino);
}

static int lsmfs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
    fs_file *f = file_of(fi);
    int r = f ? fs_file_chmod(f, mode) : (path ? fscore_chmod(FS(), path, mode) : -ESTALE);
    if (r == 0)
        changed(path, f);
    return r;
}

static int lsmfs_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
    fs_file *f = file_of(fi);
    int r = f ? fs_file_chown(f, uid, gid) : (path ? fscore_chown(FS(), path, uid, gid) : -ESTALE);
    if (r == 0)
        changed(path, f);
    return r;
}

static int lsmfs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
    fs_file *f = file_of(fi);
    int r = f ? fs_file_truncate(f, size) : (path ? fscore_truncate(FS(), path, size) : -ESTALE);
    if (r == 0)
        changed(path, f);
    return r;
}

static int lsmfs_utimens(const char *path, const struct timespec tv[2],
                         struct fuse_file_info *fi)
{
    fs_file *f = file_of(fi);
    int r = f ? fs_file_utimens(f, tv) : (path ? fscore_utimens(FS(), path, tv) : -ESTALE);
    if (r == 0)
        changed(path, f);
    return r;
}

static int attach(struct fuse_file_info *fi, fs_file *f)
{
    struct lsmfs_fh *h = malloc(sizeof *h);
    if (!h) {
        fs_file_close(f);
        return -ENOMEM;
    }
    h->kind = FH_FILE;
    h->f = f;
    h->written = 0;
    fi->fh = (uint64_t)(uintptr_t)h;
    /* The kernel's page cache stays valid across opens: every change comes through us.  Not
     * for files with several names, which the kernel sees as separate inodes. */
    struct stat st;
    fi->keep_cache = fs_file_stat(f, &st) == 0 && st.st_nlink <= 1;
    /* A read-only open has nothing of its own to commit at close (writers commit at their own
     * close; O_TRUNC opens still flush): no FLUSH round trip, which measured ~1.8x more
     * small-file re-reads per second.  The kernel keeps POSIX locks itself, so flush has no
     * lock work to do either.  With the writeback cache the kernel ignores the flag. */
    fi->noflush = (fi->flags & O_ACCMODE) == O_RDONLY && !(fi->flags & O_TRUNC);
    return 0;
}

static int lsmfs_open(const char *path, struct fuse_file_info *fi)
{
    fs_file *f;
    int r = fs_file_open(FS(), path, (fi->flags & O_TRUNC) != 0, &f);
    if (r)
        return r;
    return attach(fi, f);
}

static int lsmfs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
    fs_cred who = caller();
    fs_file *f;
    int r = fs_file_create(FS(), path, mode, (fi->flags & O_EXCL) != 0, &who, &f);
    if (r)
        return r;
    struct stat st;
    /* the kernel creates only names it believes absent: the file is new and empty, and
     * truncating it again would only cost a second batch */
    if ((fi->flags & O_TRUNC) && fs_file_stat(f, &st) == 0 && st.st_size > 0) {
        r = fs_file_truncate(f, 0);
        if (r) {
            fs_file_close(f);
            return r;
        }
    }
    return attach(fi, f);
}

static int lsmfs_read(const char *path, char *buf, size_t size, off_t off,
                      struct fuse_file_info *fi)
{
    fs_file *f = file_of(fi);
    if (!f)
        return -EBADF;
    ssize_t n = fs_file_read(f, buf, size, off);
    return (int)n;
}

static int lsmfs_write(const char *path, const char *buf, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
    fs_file *f = file_of(fi);
    if (!f)
        return -EBADF;
    ssize_t n = fs_file_write(f, buf, size, off);
    if (n > 0)
        __atomic_store_n(&((struct lsmfs_fh *)(uintptr_t)fi->fh)->written, 1, __ATOMIC_RELAXED);
    return (int)n;
}

static int lsmfs_statfs(const char *path, struct statvfs *sv) { return fscore_statfs(FS(), sv); }

static int lsmfs_flush(const char *path, struct fuse_file_info *fi)
{
    fs_file *f = file_of(fi);
    if (!f)
        return 0;
    int r = fs_file_commit(f, 0);
    struct lsmfs_fh *h = (struct lsmfs_fh *)(uintptr_t)fi->fh;
    if (r == 0 && __atomic_exchange_n(&h->written, 0, __ATOMIC_RELAXED)) {
        changed(NULL, f);
    }
    return r;
}

static int lsmfs_release(const char *path, struct fuse_file_info *fi)
{
    fs_file *f = file_of(fi);
    if (!f)
        return 0;
    struct lsmfs_fh *h = (struct lsmfs_fh *)(uintptr_t)fi->fh;
    free(h);
    fi->fh = 0;
    return fs_file_close(f);
}

static int lsmfs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
    fs_file *f = file_of(fi);
    return f ? fs_file_commit(f, 1) : fscore_sync(FS());
}

/* POSIX ACLs are not supported: refusing their xattrs makes cp -a and friends fall back to
 * chmod, instead of storing an ACL the kernel would not enforce or reflect in the mode. */
static int is_acl(const char *name) { return strncmp(name, "system.posix_acl_", 17) == 0; }

static int lsmfs_setxattr(const char *path, const char *name, const char *value, size_t size,
                          int flags)
{
    if (is_acl(name))
        return -EOPNOTSUPP;
    return fscore_setxattr(FS(), path, name, value, size, flags);
}

static int lsmfs_getxattr(const char *path, const char *name, char *value, size_t size)
{
    if (is_acl(name))
        return -EOPNOTSUPP;
    return fscore_getxattr(FS(), path, name, value, size);
}

static int lsmfs_listxattr(const char *path, char *list, size_t size)
{
    return fscore_listxattr(FS(), path, list, size);
}

static int lsmfs_removexattr(const char *path, const char *name)
{
    return fscore_removexattr(FS(), path, name);
}

static int lsmfs_opendir(const char *path, struct fuse_file_info *fi)
{
    struct stat st;
    int r = fscore_stat(FS(), path, &st);
    if (r)
        return r;
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    struct dir_handle *d = calloc(1, sizeof *d);
    if (!d)
        return -ENOMEM;
    d->kind = FH_DIR;
    d->ino = st.st_ino;
    d->parent_ino = 1;
    if (strcmp(path, "/") != 0) {
        char *pp = strdup(path);
        struct stat ps;
        if (pp) {
            char *slash = strrchr(pp, '/');
            if (slash == pp)
                slash[1] = '\0';
            else
                *slash = '\0';
            if (fscore_stat(FS(), pp, &ps) == 0)
                d->parent_ino = ps.st_ino;
            free(pp);
        }
    }
    d->path = strdup(path);
    if (!d->path) {
        free(d);
        return -ENOMEM;
    }
    lsmfs_ctx *c = CTX();
    pthread_mutex_lock(&c->mu);
    d->next = c->dirs;
    if (c->dirs)
        c->dirs->prev = d;
    c->dirs = d;
    pthread_mutex_unlock(&c->mu);
    fi->fh = (uint64_t)(uintptr_t)d;
    return 0;
}

static void dir_forget(struct dir_handle *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->names[i]);
    d->n = 0;
}

struct fill_ctx {
    struct dir_handle *d;
    const char *path; /* the directory being listed */
    void *buf;
    fuse_fill_dir_t filler;
    enum fuse_fill_dir_flags flags;
    int err;
};

static int fill_one(void *arg, const char *name, const struct stat *st)
{
    struct fill_ctx *c = arg;
    struct dir_handle *d = c->d;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 64;
        char **n = realloc(d->names, cap * sizeof *n);
        if (!n) {
            c->err = -ENOMEM;
            return 1;
        }
        d->names = n;
        d->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy) {
        c->err = -ENOMEM;
        return 1;
    }
    off_t off = (off_t)(d->n + 3);
    if (c->filler(c->buf, name, st, off, c->flags)) {
        free(copy);
        return 1; /* the kernel's buffer is full; this name was not handed out */
    }
    d->names[d->n++] = copy;
    if (c->flags && !S_ISDIR(st->st_mode) && st->st_nlink > 1) {
        size_t pl = strlen(c->path);
        char *full = malloc(pl + strlen(name) + 2);
        if (full) {
            sprintf(full, "%s/%s", pl == 1 ? "" : c->path, name);
            links_note((uint64_t)st->st_ino, full);
            free(full);
        }
    }
    return 0;
}

static int lsmfs_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
                         struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
    struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;
    if (!d || d->kind != FH_DIR)
        return -EBADF;
    enum fuse_fill_dir_flags ff = (flags & FUSE_READDIR_PLUS) ? FUSE_FILL_DIR_PLUS : 0;
    if (off == 0) {
        dir_forget(d);
        struct stat st;
        memset(&st, 0, sizeof st);
        st.st_mode = S_IFDIR;
        st.st_ino = d->ino;
        if (filler(buf, ".", &st, 1, 0))
            return 0;
        off = 1;
    }
    if (off == 1) {
        struct stat st;
        memset(&st, 0, sizeof st);
        st.st_mode = S_IFDIR;
        st.st_ino = d->parent_ino;
        if (filler(buf, "..", &st, 2, 0))
            return 0;
        off = 2;
    }
    const char *after = NULL;
    if (off > 2) {
        size_t k = (size_t)off - 3;
        if (k >= d->n)
            return 0; /* an offset we never gave: treat as the end */
        after = d->names[k];
    }
    /* the name we resume after may be freed by growth of the table: copy it */
    char *after_copy = after ? strdup(after) : NULL;
    if (after && !after_copy)
        return -ENOMEM;
    struct fill_ctx c = {d, NULL, buf, filler, ff, 0};
    lsmfs_ctx *cx = CTX();
    pthread_mutex_lock(&cx->mu);
    char *dpath = strdup(d->path);
    pthread_mutex_unlock(&cx->mu);
    c.path = dpath;
    int r = dpath ? fscore_readdir_after(FS(), dpath, after_copy, ff != 0, fill_one, &c) : -ENOMEM;
    free(dpath);
    free(after_copy);
    if (r < 0)
        return r;
    return c.err;
}

static int lsmfs_releasedir(const char *path, struct fuse_file_info *fi)
{
    struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;
    if (d && d->kind == FH_DIR) {
        lsmfs_ctx *c = CTX();
        pthread_mutex_lock(&c->mu);
        if (d->prev)
            d->prev->next = d->next;
        else
            c->dirs = d->next;
        if (d->next)
            d->next->prev = d->prev;
        pthread_mutex_unlock(&c->mu);
        dir_forget(d);
        free(d->names);
        free(d->path);
        free(d);
    }
    return 0;
}

static int lsmfs_fsyncdir(const char *path, int datasync, struct fuse_file_info *fi)
{
    return fscore_sync(FS());
}

static int lsmfs_access(const char *path, int mask)
{
    /* permissions are checked by the kernel (default_permissions); existence here */
    struct stat st;
    return fscore_stat(FS(), path, &st);
}

static int lsmfs_fallocate(const char *path, int mode, off_t off, off_t len,
                           struct fuse_file_info *fi)
{
    fs_file *f = file_of(fi);
    if (!f)
        return -EBADF;
    return fs_file_fallocate(f, mode, off, len);
}

const struct fuse_operations lsmfs_ops = {
    .init = lsmfs_init,
    .getattr = lsmfs_getattr,
    .readlink = lsmfs_readlink,
    .mknod = lsmfs_mknod,
    .mkdir = lsmfs_mkdir,
    .unlink = lsmfs_unlink,
    .rmdir = lsmfs_rmdir,
    .symlink = lsmfs_symlink,
    .rename = lsmfs_rename,
    .link = lsmfs_link,
    .chmod = lsmfs_chmod,
    .chown = lsmfs_chown,
    .truncate = lsmfs_truncate,
    .open = lsmfs_open,
    .read = lsmfs_read,
    .write = lsmfs_write,
    .statfs = lsmfs_statfs,
    .flush = lsmfs_flush,
    .release = lsmfs_release,
    .fsync = lsmfs_fsync,
    .setxattr = lsmfs_setxattr,
    .getxattr = lsmfs_getxattr,
    .listxattr = lsmfs_listxattr,
    .removexattr = lsmfs_removexattr,
    .opendir = lsmfs_opendir,
    .readdir = lsmfs_readdir,
    .releasedir = lsmfs_releasedir,
    .fsyncdir = lsmfs_fsyncdir,
    .access = lsmfs_access,
    .create = lsmfs_create,
    .utimens = lsmfs_utimens,
    .fallocate = lsmfs_fallocate,
};
