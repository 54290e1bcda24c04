/*
 * fuse_ops.c — libfuse high-level operations on top of fscore.
 *
 * Configuration (see lsmfs_init): use_ino (hard links show one inode number), hard_remove with
 * nullpath_ok (an unlinked open file keeps working through its handle, which does not need a
 * path), long entry/attribute timeouts (we are the only writer), the writeback cache (the kernel
 * merges small writes and owns size/mtime while it has dirty pages; we keep ours right from the
 * writes it sends) and 1 MiB writes.  File locks are left to the kernel, which implements
 * POSIX and flock locks locally when the filesystem does not.
 */
#include "fuse_ops.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fscore.h"

#define FH_FILE 0x46494c45u /* "FILE" */
#define FH_DIR 0x44495220u  /* "DIR " */

struct lsmfs_fh {
    unsigned kind;
    fs_file *f;
};

/* An open directory: its path (directory handles get no path with nullpath_ok) and the names
 * handed out, so that offset k means "after names[k - 3]" (1 and 2 are "." and ".."). */
struct dir_handle {
    unsigned kind;
    char *path;
    ino_t ino, parent_ino; /* for "." and ".." (glibc hides entries with inode 0) */
    char **names;
    size_t n, cap;
};

static fscore *FS(void) { return fuse_get_context()->private_data; }

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
    cfg->use_ino = 1;
    cfg->nullpath_ok = 1;
    cfg->hard_remove = 1;
    cfg->entry_timeout = 86400.0;
    cfg->attr_timeout = 86400.0;
    cfg->negative_timeout = 86400.0;
    cfg->kernel_cache = 0;
    cfg->auto_cache = 0;
    if (conn->capable & FUSE_CAP_WRITEBACK_CACHE) {
        conn->want |= FUSE_CAP_WRITEBACK_CACHE;
        /* the kernel sets mtime on write and sends it (setattr) before flush; a time of ours
         * taken when its writes arrive later would be different */
        fscore_set_kernel_times(fuse_get_context()->private_data, 1);
    }
    if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
        conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
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
    return fscore_stat(FS(), path, st);
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

static int lsmfs_unlink(const char *path) { return fscore_unlink(FS(), path); }
static int lsmfs_rmdir(const char *path) { return fscore_rmdir(FS(), path); }

static int lsmfs_symlink(const char *target, const char *path)
{
    fs_cred who = caller();
    return fscore_symlink_as(FS(), target, path, &who);
}

static int lsmfs_rename(const char *from, const char *to, unsigned int flags)
{
    return fscore_rename(FS(), from, to, flags);
}

static int lsmfs_link(const char *from, const char *to) { return fscore_link(FS(), from, to); }

static int lsmfs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
    fs_file *f = file_of(fi);
    if (f)
        return fs_file_chmod(f, mode);
    return path ? fscore_chmod(FS(), path, mode) : -ESTALE;
}

static int lsmfs_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
    fs_file *f = file_of(fi);
    if (f)
        return fs_file_chown(f, uid, gid);
    return path ? fscore_chown(FS(), path, uid, gid) : -ESTALE;
}

static int lsmfs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
    fs_file *f = file_of(fi);
    if (f)
        return fs_file_truncate(f, size);
    return path ? fscore_truncate(FS(), path, size) : -ESTALE;
}

static int lsmfs_utimens(const char *path, const struct timespec tv[2],
                         struct fuse_file_info *fi)
{
    fs_file *f = file_of(fi);
    if (f)
        return fs_file_utimens(f, tv);
    return path ? fscore_utimens(FS(), path, tv) : -ESTALE;
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
    fi->fh = (uint64_t)(uintptr_t)h;
    /* The kernel's page cache stays valid across opens: every change comes through us.  Not
     * for files with several names, which the kernel sees as separate inodes. */
    struct stat st;
    fi->keep_cache = fs_file_stat(f, &st) == 0 && st.st_nlink <= 1;
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
    if (fi->flags & O_TRUNC) {
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
    return (int)n;
}

static int lsmfs_statfs(const char *path, struct statvfs *sv) { return fscore_statfs(FS(), sv); }

static int lsmfs_flush(const char *path, struct fuse_file_info *fi)
{
    fs_file *f = file_of(fi);
    return f ? fs_file_commit(f, 0) : 0;
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
    struct fill_ctx c = {d, buf, filler, ff, 0};
    int r = fscore_readdir_after(FS(), d->path, after_copy, ff != 0, fill_one, &c);
    free(after_copy);
    if (r < 0)
        return r;
    return c.err;
}

static int lsmfs_releasedir(const char *path, struct fuse_file_info *fi)
{
    struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;
    if (d && d->kind == FH_DIR) {
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
