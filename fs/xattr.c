/*
 * xattr.c — extended attributes, one key per attribute: 'X' ino name -> value.
 *
 * Keyed by inode number, so every name of a hard-linked file sees the same attributes and a
 * rename moves nothing.  Setting or removing an attribute updates the inode's ctime in the same
 * batch; setting one to the value it already has changes nothing, ctime included (as ext4).
 * Linux limits apply: names up to 255 bytes (ERANGE), values up to 64 KiB (E2BIG).
 * The FUSE daemon names a node by path, or by inode number alone when the node has no name it
 * knows (fgetxattr and friends on a file unlinked while open): see fs_resolve_node_locked.
 */
#include "fscore_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#define FS_XATTR_VALUE_MAX 65536u

static int name_check(const char *name)
{
    size_t n = strlen(name);
    if (n == 0)
        return -EINVAL;
    return n > 255 ? -ERANGE : 0;
}

/* Write the inode record of n back with ctime now, into b.  An open file that buffers its
 * times gets the new ctime too, or its next commit would put the old one back. */
static int touch_ctime(fscore *fs, lsm_batch *b, const fs_node *n)
{
    fs_attr a = n->a;
    fs_now(fs, &a.ctime);
    fs_open_merge_times_locked(fs, &a);
    return fs_batch_put_rec(b, n, &a, n->tail, n->tail_len);
}

int fscore_setxattr_node(fscore *fs, const char *path, uint64_t ino, const char *name,
                         const void *value, size_t size, int flags)
{
    int r = name_check(name);
    if (r)
        return r;
    if (size > FS_XATTR_VALUE_MAX)
        return -E2BIG;
    fs_node n;
    fs_node_init(&n);
    fs_buf k;
    fs_buf_init(&k);
    lsm_batch *b = lsm_batch_new();
    if (!b)
        return -ENOMEM;
    pthread_rwlock_wrlock(&fs->lock);
    r = fs_resolve_node_locked(fs, path, ino, &n);
    if (r == 0)
        r = fs_key_xattr(&k, n.a.ino, name);
    int same = 0; /* the attribute already has this value: ext4 then changes nothing */
    if (r == 0) {
        void *v;
        size_t vl;
        int g = lsm_get(fs->db, NULL, k.data, k.len, &v, &vl);
        if (g == 0) {
            same = vl == size && (size == 0 || memcmp(v, value, size) == 0);
            lsm_free(v);
            if (flags & XATTR_CREATE)
                r = -EEXIST;
        } else if (g == -ENOENT) {
            if (flags & XATTR_REPLACE)
                r = -ENODATA;
        } else {
            r = g;
        }
    }
    if (r == 0 && !same)
        r = lsm_batch_put(b, k.data, k.len, value, size);
    if (r == 0 && !same)
        r = touch_ctime(fs, b, &n);
    if (r == 0 && !same)
        r = fs_write_locked(fs, b);
    pthread_rwlock_unlock(&fs->lock);
    lsm_batch_free(b);
    fs_buf_free(&k);
    fs_node_free(&n);
    return r;
}

int fscore_getxattr_node(fscore *fs, const char *path, uint64_t ino, const char *name,
                         void *value, size_t size)
{
    int r = name_check(name);
    if (r)
        return r;
    fs_node n;
    fs_node_init(&n);
    fs_buf k;
    fs_buf_init(&k);
    pthread_rwlock_rdlock(&fs->lock);
    r = fs_resolve_node_locked(fs, path, ino, &n);
    if (r == 0)
        r = fs_key_xattr(&k, n.a.ino, name);
    void *v = NULL;
    size_t vl = 0;
    if (r == 0) {
        r = lsm_get(fs->db, NULL, k.data, k.len, &v, &vl);
        if (r == -ENOENT) /* the node is there, the name is not */
            r = -ENODATA;
    }
    pthread_rwlock_unlock(&fs->lock);
    if (r == 0) {
        if (size == 0)
            r = (int)vl;
        else if (size < vl)
            r = -ERANGE;
        else {
            memcpy(value, v, vl);
            r = (int)vl;
        }
    }
    if (v)
        lsm_free(v);
    fs_buf_free(&k);
    fs_node_free(&n);
    return r;
}

int fscore_listxattr_node(fscore *fs, const char *path, uint64_t ino, char *list, size_t size)
{
    fs_node n;
    fs_node_init(&n);
    fs_buf lo, hi;
    fs_buf_init(&lo);
    fs_buf_init(&hi);
    size_t total = 0;
    pthread_rwlock_rdlock(&fs->lock);
    int r = fs_resolve_node_locked(fs, path, ino, &n);
    if (r == 0)
        r = fs_key_xattr(&lo, n.a.ino, NULL);
    if (r == 0)
        r = fs_prefix_end(&lo, &hi);
    lsm_iter *it = NULL;
    if (r == 0)
        r = fs_iter_range(fs, &lo, &hi, 1, &it);
    if (r == 0) {
        for (; r == 0 && lsm_iter_valid(it); lsm_iter_next(it)) {
            size_t kl;
            const char *k = lsm_iter_key(it, &kl);
            size_t nl = kl - lo.len;
            if (size) {
                if (total + nl + 1 > size) {
                    r = -ERANGE;
                    break;
                }
                memcpy(list + total, k + lo.len, nl);
                list[total + nl] = '\0';
            }
            total += nl + 1;
        }
        if (r == 0)
            r = lsm_iter_status(it);
        lsm_iter_free(it);
    }
    pthread_rwlock_unlock(&fs->lock);
    fs_buf_free(&lo);
    fs_buf_free(&hi);
    fs_node_free(&n);
    return r ? r : (int)total;
}

int fscore_removexattr_node(fscore *fs, const char *path, uint64_t ino, const char *name)
{
    int r = name_check(name);
    if (r)
        return r;
    fs_node n;
    fs_node_init(&n);
    fs_buf k;
    fs_buf_init(&k);
    lsm_batch *b = lsm_batch_new();
    if (!b)
        return -ENOMEM;
    pthread_rwlock_wrlock(&fs->lock);
    r = fs_resolve_node_locked(fs, path, ino, &n);
    if (r == 0)
        r = fs_key_xattr(&k, n.a.ino, name);
    void *v = NULL;
    size_t vl;
    if (r == 0) {
        r = lsm_get(fs->db, NULL, k.data, k.len, &v, &vl);
        if (r == -ENOENT) /* the node is there, the name is not */
            r = -ENODATA;
    }
    if (v)
        lsm_free(v);
    if (r == 0)
        r = lsm_batch_delete(b, k.data, k.len);
    if (r == 0)
        r = touch_ctime(fs, b, &n);
    if (r == 0)
        r = fs_write_locked(fs, b);
    pthread_rwlock_unlock(&fs->lock);
    lsm_batch_free(b);
    fs_buf_free(&k);
    fs_node_free(&n);
    return r;
}

int fscore_has_xattr(fscore *fs, uint64_t ino, const char *name)
{
    fs_buf k;
    fs_buf_init(&k);
    int r = fs_key_xattr(&k, ino, name);
    void *v = NULL;
    size_t vl;
    if (r == 0)
        r = lsm_get(fs->db, NULL, k.data, k.len, &v, &vl);
    if (v)
        lsm_free(v);
    fs_buf_free(&k);
    return r == 0 ? 1 : r == -ENOENT ? 0 : r;
}

int fscore_setxattr(fscore *fs, const char *path, const char *name, const void *value,
                    size_t size, int flags)
{
    return path ? fscore_setxattr_node(fs, path, 0, name, value, size, flags) : -EINVAL;
}

int fscore_getxattr(fscore *fs, const char *path, const char *name, void *value, size_t size)
{
    return path ? fscore_getxattr_node(fs, path, 0, name, value, size) : -EINVAL;
}

int fscore_listxattr(fscore *fs, const char *path, char *list, size_t size)
{
    return path ? fscore_listxattr_node(fs, path, 0, list, size) : -EINVAL;
}

int fscore_removexattr(fscore *fs, const char *path, const char *name)
{
    return path ? fscore_removexattr_node(fs, path, 0, name) : -EINVAL;
}
