/*
 * namespace.c — operations that remove or move names: unlink, rmdir, link, rename.
 *
 * Each is one lsm batch.  Removing the last name of an inode deletes its chunks and xattrs in
 * the same batch, unless the file is open: then its record moves to 'O' ino and the data stays
 * until the last close (open-unlinked files keep working).  A directory rename re-keys its whole
 * subtree (the ranges 'E' dir '\0' and 'E' dir '/') in the batch that moves the entry, so a
 * crash leaves the old tree or the new one.  Within a batch all deletes come before all puts,
 * because RENAME_EXCHANGE deletes and re-creates the same keys.  RENAME_WHITEOUT (overlayfs)
 * leaves at the old name, in the same batch, a whiteout: a character device 0/0 with mode 0,
 * as ext4 does.
 */
#include "fscore_int.h"

#include <errno.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif
#ifndef RENAME_WHITEOUT
#define RENAME_WHITEOUT (1 << 2)
#endif

/* One name of node n is going away (the caller deletes the entry key).  Decrement the link
 * count, or, for the last name, delete the inode's data (counted into d) — or keep it under 'O'
 * ino when the file is open.  *orphaned is set when the record moved to 'O'. */
static int drop_name_locked(fscore *fs, lsm_batch *b, const fs_node *n,
                            const struct timespec *now, int *orphaned, fs_delta *d)
{
    *orphaned = 0;
    fs_attr a = n->a;
    a.ctime = *now;
    fs_open_merge_times_locked(fs, &a);
    int r;
    if (n->linked) {
        if (a.nlink > 1) {
            a.nlink--;
            return fs_batch_put_rec(b, n, &a, n->tail, n->tail_len);
        }
        r = lsm_batch_delete(b, n->hkey.data, n->hkey.len);
        if (r)
            return r;
    }
    if (S_ISREG(a.mode) && fs_open_find_locked(fs, a.ino)) {
        fs_node o;
        fs_node_init(&o);
        a.nlink = 0;
        r = fs_key_inode(&o.hkey, FS_KEY_ORPHAN, a.ino);
        if (r == 0)
            r = fs_batch_put_rec(b, &o, &a, n->tail, n->tail_len);
        fs_node_free(&o);
        *orphaned = r == 0;
        return r;
    }
    uint64_t below =
        fs_may_have_chunks(&a) ? fs_chunks_below(a.size, a.flags & FS_FLAG_BEYOND) : 0;
    return fs_batch_delete_data(fs, b, a.ino, below, d);
}

/* Put parent p back with times set to now and its link count changed by dnlink. */
static int touch_parent(lsm_batch *b, const fs_node *p, const struct timespec *now, int dnlink)
{
    fs_attr a = p->a;
    a.mtime = a.ctime = *now;
    a.nlink = (uint32_t)((int)a.nlink + dnlink);
    return fs_batch_put_rec(b, p, &a, p->tail, p->tail_len);
}

/* *gone (if not NULL) = the attributes node n keeps once it has lost its last name: link count
 * 0, ctime now (and an open file's buffered size and times).  Under the lock. */
static void note_gone_locked(fscore *fs, const fs_node *n, const struct timespec *now,
                             struct stat *gone)
{
    if (!gone)
        return;
    fs_attr a = n->a;
    a.nlink = 0;
    a.ctime = *now;
    fs_attr_to_stat(&a, gone);
    fs_open_overlay_locked(fs, gone);
}

static int rehome_orphan(fscore *fs, uint64_t ino)
{
    fs_buf k;
    fs_buf_init(&k);
    int r = fs_key_inode(&k, FS_KEY_ORPHAN, ino);
    if (r == 0)
        r = fs_open_rehome_locked(fs, ino, k.data, k.len);
    fs_buf_free(&k);
    return r;
}

int fscore_unlink(fscore *fs, const char *path) { return fscore_unlink_gone(fs, path, NULL); }

int fscore_unlink_gone(fscore *fs, const char *path, struct stat *gone)
{
    return fscore_unlink_keep(fs, path, gone, NULL);
}

int fscore_unlink_keep(fscore *fs, const char *path, struct stat *gone, fs_file **kept)
{
    if (gone)
        gone->st_ino = 0;
    fs_file *f = NULL;
    fs_node n, p;
    fs_node_init(&n);
    fs_node_init(&p);
    lsm_batch *b = lsm_batch_new();
    if (!b)
        return -ENOMEM;
    struct timespec now;
    fs_now(fs, &now);
    int orphaned = 0;
    fs_delta d = {0};
    pthread_rwlock_wrlock(&fs->lock);
    int r = fs_resolve_locked(fs, path, &n);
    if (r == 0 && S_ISDIR(n.a.mode))
        r = -EISDIR;
    if (r == 0)
        r = fs_resolve_parent_locked(fs, path, &p);
    if (r == 0 && kept && S_ISREG(n.a.mode))
        r = fs_file_get_locked(fs, &n, &f); /* open before the drop sees whether it is */
    if (r == 0)
        r = lsm_batch_delete(b, n.ekey.data, n.ekey.len);
    if (r == 0)
        r = drop_name_locked(fs, b, &n, &now, &orphaned, &d);
    if (r == 0)
        r = touch_parent(b, &p, &now, 0);
    if (r == 0)
        r = fs_write_delta_locked(fs, b, &d);
    if (r == 0 && orphaned)
        r = rehome_orphan(fs, n.a.ino);
    if (r == 0 && (!n.linked || n.a.nlink <= 1))
        note_gone_locked(fs, &n, &now, gone);
    pthread_rwlock_unlock(&fs->lock);
    if (kept)
        *kept = f;
    lsm_batch_free(b);
    fs_node_free(&n);
    fs_node_free(&p);
    return r;
}

/* 1 if directory dir has no entry, 0 if it has, or -errno. */
static int dir_is_empty(fscore *fs, const char *dir)
{
    fs_buf lo, hi;
    fs_buf_init(&lo);
    fs_buf_init(&hi);
    lsm_iter *it = NULL;
    int r = fs_key_children(&lo, dir, strlen(dir));
    if (r == 0)
        r = fs_prefix_end(&lo, &hi);
    if (r == 0)
        r = fs_iter_range(fs, &lo, &hi, 1, &it);
    if (r == 0) {
        r = lsm_iter_valid(it) ? 0 : lsm_iter_status(it);
        if (r == 0 && !lsm_iter_valid(it))
            r = 1;
        lsm_iter_free(it);
    }
    fs_buf_free(&lo);
    fs_buf_free(&hi);
    return r;
}

int fscore_rmdir(fscore *fs, const char *path) { return fscore_rmdir_gone(fs, path, NULL); }

int fscore_rmdir_gone(fscore *fs, const char *path, struct stat *gone)
{
    if (gone)
        gone->st_ino = 0;
    if (strcmp(path, "/") == 0)
        return -EBUSY;
    fs_node n, p;
    fs_node_init(&n);
    fs_node_init(&p);
    lsm_batch *b = lsm_batch_new();
    if (!b)
        return -ENOMEM;
    struct timespec now;
    fs_now(fs, &now);
    fs_delta d = {0};
    pthread_rwlock_wrlock(&fs->lock);
    int r = fs_resolve_locked(fs, path, &n);
    if (r == 0 && !S_ISDIR(n.a.mode))
        r = -ENOTDIR;
    if (r == 0) {
        r = dir_is_empty(fs, path);
        r = r == 1 ? 0 : (r == 0 ? -ENOTEMPTY : r);
    }
    if (r == 0)
        r = fs_resolve_parent_locked(fs, path, &p);
    if (r == 0)
        r = lsm_batch_delete(b, n.ekey.data, n.ekey.len);
    if (r == 0)
        r = fs_batch_delete_data(fs, b, n.a.ino, 0, &d); /* a directory */
    if (r == 0)
        r = touch_parent(b, &p, &now, -1);
    if (r == 0)
        r = fs_write_delta_locked(fs, b, &d);
    if (r == 0)
        note_gone_locked(fs, &n, &now, gone);
    pthread_rwlock_unlock(&fs->lock);
    lsm_batch_free(b);
    fs_node_free(&n);
    fs_node_free(&p);
    return r;
}

int fscore_link(fscore *fs, const char *oldpath, const char *newpath)
{
    return fscore_link_node(fs, oldpath, 0, newpath);
}

int fscore_link_node(fscore *fs, const char *oldpath, uint64_t ino, const char *newpath)
{
    fs_node n, p, dst;
    fs_node_init(&n);
    fs_node_init(&p);
    fs_node_init(&dst);
    fs_buf v;
    fs_buf_init(&v);
    lsm_batch *b = lsm_batch_new();
    if (!b)
        return -ENOMEM;
    struct timespec now;
    fs_now(fs, &now);
    int was_linked = 0;
    pthread_rwlock_wrlock(&fs->lock);
    /* by number: the inode record, as a name of the linked file resolves it (n.linked) */
    int r = oldpath ? fs_resolve_locked(fs, oldpath, &n) : fs_load_inode_locked(fs, ino, &n);
    if (!oldpath)
        n.linked = 1;
    if (r == 0 && S_ISDIR(n.a.mode))
        r = -EPERM;
    if (r == 0)
        r = fs_resolve_parent_locked(fs, newpath, &p);
    if (r == 0) {
        r = fs_resolve_locked(fs, newpath, &dst);
        r = r == 0 ? -EEXIST : (r == -ENOENT ? 0 : r);
    }
    fs_attr a = n.a;
    if (r == 0 && a.nlink >= 65000)
        r = -EMLINK;
    if (r == 0) {
        was_linked = n.linked;
        a.nlink++;
        a.ctime = now;
        fs_open_merge_times_locked(fs, &a);
        if (!was_linked) {
            /* the first extra name: attributes and inline data move to an inode record */
            fs_buf_reset(&n.hkey);
            r = fs_key_inode(&n.hkey, FS_KEY_INODE, a.ino);
            if (r == 0)
                r = fs_rec_encode_stub(&v, &a);
            if (r == 0)
                r = lsm_batch_put(b, n.ekey.data, n.ekey.len, v.data, v.len);
        }
    }
    if (r == 0)
        r = fs_batch_put_rec(b, &n, &a, n.tail, n.tail_len);
    if (r == 0)
        r = fs_rec_encode_stub(&v, &a);
    if (r == 0)
        r = fs_key_path(&dst.ekey, newpath, strlen(newpath));
    if (r == 0)
        r = lsm_batch_put(b, dst.ekey.data, dst.ekey.len, v.data, v.len);
    if (r == 0)
        r = touch_parent(b, &p, &now, 0);
    if (r == 0)
        r = fs_write_locked(fs, b);
    if (r == 0 && !was_linked)
        r = fs_open_rehome_locked(fs, a.ino, n.hkey.data, n.hkey.len);
    pthread_rwlock_unlock(&fs->lock);
    lsm_batch_free(b);
    fs_buf_free(&v);
    fs_node_free(&n);
    fs_node_free(&p);
    fs_node_free(&dst);
    return r;
}

/* 1 if path lies strictly inside directory dir. */
static int inside(const char *path, const char *dir)
{
    size_t dl = strlen(dir);
    if (dl == 1)
        return path[1] != '\0';
    return strncmp(path, dir, dl) == 0 && path[dl] == '/';
}

/* Append to b, for every key of the subtree of directory from, either its delete (puts == 0)
 * or its put under directory to (puts == 1), with the same value. */
static int move_subtree(fscore *fs, lsm_batch *b, const char *from, const char *to, int puts)
{
    fs_buf lo, hi, nk;
    fs_buf_init(&lo);
    fs_buf_init(&hi);
    fs_buf_init(&nk);
    size_t fl = strlen(from), tl = strlen(to);
    int r = 0;
    for (int range = 0; r == 0 && range < 2; range++) {
        r = range == 0 ? fs_key_children(&lo, from, fl) : fs_key_descendants(&lo, from, fl);
        if (r == 0)
            r = fs_prefix_end(&lo, &hi);
        lsm_iter *it = NULL;
        if (r == 0)
            r = fs_iter_range(fs, &lo, &hi, 1, &it);
        if (r)
            break;
        for (; r == 0 && lsm_iter_valid(it); lsm_iter_next(it)) {
            size_t kl, vl;
            const char *k = lsm_iter_key(it, &kl);
            if (!puts) {
                r = lsm_batch_delete(b, k, kl);
                continue;
            }
            const void *val = lsm_iter_value(it, &vl);
            /* 'E' from rest  ->  'E' to rest (the prefix is 'E' + from, both ranges) */
            fs_buf_reset(&nk);
            r = fs_buf_add(&nk, "E", 1);
            if (r == 0)
                r = fs_buf_add(&nk, to, tl);
            if (r == 0)
                r = fs_buf_add(&nk, k + 1 + fl, kl - 1 - fl);
            if (r == 0)
                r = lsm_batch_put(b, nk.data, nk.len, val, vl);
        }
        if (r == 0)
            r = lsm_iter_status(it);
        lsm_iter_free(it);
    }
    fs_buf_free(&lo);
    fs_buf_free(&hi);
    fs_buf_free(&nk);
    return r;
}

/* Put node n's entry under key newkey with ctime now (a stub keeps its value; its inode
 * record gets the new ctime). */
static int put_moved_entry(fscore *fs, lsm_batch *b, const fs_node *n, const fs_buf *newkey,
                           const struct timespec *now)
{
    fs_attr a = n->a;
    a.ctime = *now;
    fs_open_merge_times_locked(fs, &a);
    fs_buf v;
    fs_buf_init(&v);
    int r;
    if (n->linked) {
        r = fs_batch_put_rec(b, n, &a, n->tail, n->tail_len);
        if (r == 0)
            r = fs_rec_encode_stub(&v, &a);
    } else {
        r = fs_rec_encode(&v, &a, n->tail, n->tail_len);
    }
    if (r == 0)
        r = lsm_batch_put(b, newkey->data, newkey->len, v.data, v.len);
    fs_buf_free(&v);
    return r;
}

static char *parent_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t n = (size_t)(slash - path);
    return strndup(path, n ? n : 1);
}

/* Put a whiteout (character device 0/0, mode 0, owned by who) at entry key key in directory
 * parent, into b. */
static int put_whiteout_locked(fscore *fs, lsm_batch *b, const fs_attr *parent,
                               const fs_buf *key, const fs_cred *who, const struct timespec *now)
{
    fs_attr a;
    int r = fs_attr_new_locked(fs, parent, S_IFCHR, 0, who, now, &a);
    fs_node w;
    fs_node_init(&w);
    if (r == 0)
        r = fs_buf_add(&w.hkey, key->data, key->len);
    if (r == 0)
        r = fs_batch_put_rec(b, &w, &a, NULL, 0);
    fs_node_free(&w);
    return r;
}

int fscore_rename(fscore *fs, const char *from, const char *to, unsigned int flags)
{
    return fscore_rename_as(fs, from, to, flags, NULL, NULL);
}

int fscore_rename_as(fscore *fs, const char *from, const char *to, unsigned int flags,
                     const fs_cred *who, struct stat *gone)
{
    if (gone)
        gone->st_ino = 0;
    if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT))
        return -EINVAL;
    if ((flags & RENAME_EXCHANGE) && (flags & (RENAME_NOREPLACE | RENAME_WHITEOUT)))
        return -EINVAL;
    int r = fs_path_check(from);
    if (r == 0)
        r = fs_path_check(to);
    if (r)
        return r;
    if (strcmp(from, "/") == 0 || strcmp(to, "/") == 0)
        return -EBUSY;
    int exchange = (flags & RENAME_EXCHANGE) != 0;
    fs_node src, dst, pf, pt;
    fs_node_init(&src);
    fs_node_init(&dst);
    fs_node_init(&pf);
    fs_node_init(&pt);
    fs_buf newkey;
    fs_buf_init(&newkey);
    char *from_parent = parent_of(from), *to_parent = parent_of(to);
    lsm_batch *b = lsm_batch_new();
    struct timespec now;
    fs_now(fs, &now);
    int have_dst = 0, orphaned = 0;
    fs_delta d = {0};
    if (!b || !from_parent || !to_parent) {
        r = -ENOMEM;
        goto out;
    }
    pthread_rwlock_wrlock(&fs->lock);
    r = fs_resolve_locked(fs, from, &src);
    if (r)
        goto unlock;
    r = fs_resolve_parent_locked(fs, to, &pt);
    if (r)
        goto unlock;
    r = fs_resolve_parent_locked(fs, from, &pf);
    if (r)
        goto unlock;
    int srcdir = S_ISDIR(src.a.mode);
    if (strcmp(from, to) == 0)
        goto unlock; /* r == 0: renaming a name onto itself does nothing */
    if (srcdir && inside(to, from)) {
        r = -EINVAL;
        goto unlock;
    }
    r = fs_resolve_locked(fs, to, &dst);
    if (r == 0)
        have_dst = 1;
    else if (r != -ENOENT)
        goto unlock;
    r = 0;
    int dstdir = have_dst && S_ISDIR(dst.a.mode);
    if (exchange) {
        if (!have_dst)
            r = -ENOENT;
        else if (dstdir && inside(from, to))
            r = -EINVAL;
    } else if (have_dst) {
        if (flags & RENAME_NOREPLACE)
            r = -EEXIST;
        else if (srcdir && !dstdir)
            r = -ENOTDIR;
        else if (!srcdir && dstdir)
            r = -EISDIR;
        else if (dstdir) {
            r = dir_is_empty(fs, to);
            r = r == 1 ? 0 : (r == 0 ? -ENOTEMPTY : r);
        } else if (src.a.ino == dst.a.ino) {
            goto unlock; /* two names of one inode: POSIX says do nothing */
        }
    }
    if (r)
        goto unlock;

    /* all deletes first */
    r = lsm_batch_delete(b, src.ekey.data, src.ekey.len);
    if (r == 0 && srcdir)
        r = move_subtree(fs, b, from, to, 0);
    if (r == 0 && exchange) {
        r = lsm_batch_delete(b, dst.ekey.data, dst.ekey.len);
        if (r == 0 && dstdir)
            r = move_subtree(fs, b, to, from, 0);
    }
    if (r == 0 && have_dst && !exchange) {
        /* the replaced target loses its name (its entry key is overwritten below) */
        if (dstdir)
            r = fs_batch_delete_data(fs, b, dst.a.ino, 0, &d);
        else
            r = drop_name_locked(fs, b, &dst, &now, &orphaned, &d);
    }
    /* then the puts */
    if (r == 0)
        r = fs_key_path(&newkey, to, strlen(to));
    if (r == 0)
        r = put_moved_entry(fs, b, &src, &newkey, &now);
    if (r == 0 && srcdir)
        r = move_subtree(fs, b, from, to, 1);
    if (r == 0 && exchange) {
        r = fs_key_path(&newkey, from, strlen(from));
        if (r == 0)
            r = put_moved_entry(fs, b, &dst, &newkey, &now);
        if (r == 0 && dstdir)
            r = move_subtree(fs, b, to, from, 1);
    }
    if (r == 0 && (flags & RENAME_WHITEOUT)) {
        r = put_whiteout_locked(fs, b, &pf.a, &src.ekey, who, &now);
        d.inodes++;
    }
    if (r)
        goto unlock;
    /* parents: times, and link counts when directories change parent or disappear */
    int df = 0, dt = 0;
    if (exchange) {
        df = dstdir - srcdir;
        dt = srcdir - dstdir;
    } else {
        df = -srcdir;
        dt = srcdir - (have_dst && dstdir);
    }
    if (strcmp(from_parent, to_parent) == 0) {
        r = touch_parent(b, &pt, &now, df + dt);
    } else {
        r = touch_parent(b, &pf, &now, df);
        if (r == 0)
            r = touch_parent(b, &pt, &now, dt);
    }
    if (r == 0)
        r = fs_write_delta_locked(fs, b, &d);
    if (r == 0)
        r = fs_open_rename_locked(fs, from, to, exchange);
    if (r == 0 && orphaned)
        r = rehome_orphan(fs, dst.a.ino);
    if (r == 0 && have_dst && !exchange && (dstdir || !dst.linked || dst.a.nlink <= 1))
        note_gone_locked(fs, &dst, &now, gone);
unlock:
    pthread_rwlock_unlock(&fs->lock);
out:
    lsm_batch_free(b);
    free(from_parent);
    free(to_parent);
    fs_buf_free(&newkey);
    fs_node_free(&src);
    fs_node_free(&dst);
    fs_node_free(&pf);
    fs_node_free(&pt);
    return r;
}
