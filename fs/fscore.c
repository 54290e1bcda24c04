/*
 * fscore.c — opening a filesystem store, resolving paths to records, creating nodes, attribute
 * changes, listings and the whole-file helpers the tools use.
 *
 * A path resolves with one lsm_get of its entry key (plus one of the inode record for a
 * hard-linked file): the kernel has already walked the parents, so we never walk components
 * except to tell ENOENT from ENOTDIR after a miss.
 */
#include "fscore_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

void fs_node_init(fs_node *n)
{
    memset(n, 0, sizeof *n);
    fs_buf_init(&n->ekey);
    fs_buf_init(&n->hkey);
}

void fs_node_free(fs_node *n)
{
    fs_buf_free(&n->ekey);
    fs_buf_free(&n->hkey);
    if (n->val)
        lsm_free(n->val);
    n->val = NULL;
}

void fs_now(const fscore *fs, struct timespec *t)
{
    clock_gettime(fs->kernel_times ? CLOCK_REALTIME_COARSE : CLOCK_REALTIME, t);
}

int fs_path_check(const char *path)
{
    if (!path || path[0] != '/')
        return -EINVAL;
    size_t len = strlen(path);
    if (len >= PATH_MAX)
        return -ENAMETOOLONG;
    size_t comp = 0;
    for (size_t i = 1; i <= len; i++) {
        if (path[i] == '/' || path[i] == '\0') {
            if (comp > FS_NAME_MAX)
                return -ENAMETOOLONG;
            comp = 0;
        } else {
            comp++;
        }
    }
    if (len > 1 && path[len - 1] == '/')
        return -EINVAL;
    return 0;
}

uint64_t fs_file_blocks(uint64_t size, uint64_t chunks, uint32_t flags)
{
    /* ext4 with 4 KiB blocks: a dense file takes its size rounded up to a block.  A chunked
     * file takes its chunks, but no more than that: a sparse file's blocks are its chunks.
     * Chunks allocated past the size count in full, as ext4 counts blocks preallocated there. */
    uint64_t dense = (size + 4095) / 4096 * 8, stored = chunks * (FS_CHUNK_SIZE / 512);
    if (flags & FS_FLAG_BEYOND)
        return stored;
    return (flags & FS_FLAG_INLINE) || dense < stored ? dense : stored;
}

void fs_attr_to_stat(const fs_attr *a, struct stat *st)
{
    memset(st, 0, sizeof *st);
    st->st_mode = a->mode;
    st->st_ino = a->ino;
    st->st_uid = a->uid;
    st->st_gid = a->gid;
    st->st_size = (off_t)a->size;
    st->st_nlink = a->nlink;
    st->st_rdev = (dev_t)a->rdev;
    st->st_atim = a->atime;
    st->st_mtim = a->mtime;
    st->st_ctim = a->ctime;
    st->st_blksize = FS_CHUNK_SIZE;
    if (S_ISREG(a->mode))
        st->st_blocks = (blkcnt_t)fs_file_blocks(a->size, a->chunks, a->flags);
    else if (S_ISLNK(a->mode))
        st->st_blocks = 0;
    else
        st->st_blocks = S_ISDIR(a->mode) ? 8 : 0;
    if (S_ISDIR(a->mode)) {
        st->st_size = 4096; /* what ext4 shows for a small directory; tools align on it */
        /* glibc sizes its getdents buffer from this (32 KiB to 1 MiB) and the kernel its
         * READDIR buffer from that, allocating (vmalloc above 64 KiB) and freeing it whole for
         * every request, however little the reply holds.  64 KiB is 2,000 names a request:
         * 100 directories of 1,000 names listed 10-25% faster than with 1 MiB, and one of
         * 100,000 names as fast. */
        st->st_blksize = 64 << 10;
    }
}

/* 1 if the filesystem under the store has (almost) no space left for us. */
static int store_disk_full(fscore *fs)
{
    struct statvfs sv;
    if (statvfs(fs->dir, &sv) != 0)
        return 0;
    return (double)sv.f_bavail * (double)sv.f_frsize < 1024.0 * 1024.0;
}

int fs_store_error(fscore *fs, int r)
{
    if (r != LSM_ECLOSED && r != -EIO && r != -ENOSPC && r != -EDQUOT)
        return r;
    int f = __atomic_load_n(&fs->fatal, __ATOMIC_RELAXED);
    if (f)
        return f;
    /* liblsm reports a short write on a full disk as EIO, and every write after a fatal error
     * (also one in a background flush) as ESHUTDOWN: what the writer must hear is ENOSPC when
     * the disk is full, else EIO. */
    const char *m = lsm_last_error();
    int nospace = r == -ENOSPC || r == -EDQUOT || store_disk_full(fs) ||
                  (m && (strstr(m, strerror(ENOSPC)) || strstr(m, "short")));
    f = nospace ? -ENOSPC : -EIO;
    int zero = 0;
    __atomic_compare_exchange_n(&fs->fatal, &zero, f, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    return f;
}

int fs_write_locked(fscore *fs, lsm_batch *b)
{
    if (fs->read_only)
        return -EROFS;
    if (lsm_batch_count(b) == 0)
        return 0;
    return fs_store_error(fs, lsm_write(fs->db, &fs->wo, b));
}

static int get_value(fscore *fs, const char *key, size_t len, void **val, size_t *vlen)
{
    return lsm_get(fs->db, NULL, key, len, val, vlen);
}

int fs_load_locked(fscore *fs, const char *key, size_t key_len, fs_node *n)
{
    fs_buf_reset(&n->ekey);
    fs_buf_reset(&n->hkey);
    if (fs_buf_add(&n->ekey, key, key_len) || fs_buf_add(&n->hkey, key, key_len))
        return -ENOMEM;
    if (n->val)
        lsm_free(n->val);
    n->val = NULL;
    int r = get_value(fs, key, key_len, &n->val, &n->val_len);
    if (r)
        return r;
    r = fs_rec_decode(n->val, n->val_len, &n->a, &n->tail, &n->tail_len);
    if (r == 0 && n->a.kind != FS_REC_FULL)
        r = -EBADMSG;
    return r;
}

int fs_load_inode_locked(fscore *fs, uint64_t ino, fs_node *n)
{
    fs_buf k;
    fs_buf_init(&k);
    int r = fs_key_inode(&k, FS_KEY_INODE, ino);
    if (r == 0)
        r = fs_load_locked(fs, k.data, k.len, n);
    fs_buf_free(&k);
    return r;
}

/* After a miss on path: ENOTDIR if an ancestor is not a directory, else ENOENT. */
static int miss_reason(fscore *fs, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path)
        return -ENOENT; /* the parent is the root, which always exists */
    char *parent = strndup(path, (size_t)(slash - path));
    if (!parent)
        return -ENOMEM;
    fs_node p;
    fs_node_init(&p);
    int r = fs_resolve_locked(fs, parent, &p);
    if (r == 0)
        r = S_ISDIR(p.a.mode) ? -ENOENT : -ENOTDIR;
    fs_node_free(&p);
    free(parent);
    return r;
}

int fs_resolve_locked(fscore *fs, const char *path, fs_node *n)
{
    int r = fs_path_check(path);
    if (r)
        return r;
    size_t len = strlen(path);
    if (fs_key_path(&n->ekey, path, len))
        return -ENOMEM;
    if (n->val)
        lsm_free(n->val);
    n->val = NULL;
    r = get_value(fs, n->ekey.data, n->ekey.len, &n->val, &n->val_len);
    if (r == -ENOENT)
        return len == 1 ? -EBADMSG : miss_reason(fs, path);
    if (r)
        return r;
    r = fs_rec_decode(n->val, n->val_len, &n->a, &n->tail, &n->tail_len);
    if (r)
        return r;
    n->linked = n->a.kind == FS_REC_STUB;
    if (!n->linked) {
        fs_buf_reset(&n->hkey);
        return fs_buf_add(&n->hkey, n->ekey.data, n->ekey.len);
    }
    fs_buf key;
    fs_buf_init(&key);
    if (fs_key_inode(&key, FS_KEY_INODE, n->a.ino)) {
        fs_buf_free(&key);
        return -ENOMEM;
    }
    lsm_free(n->val);
    n->val = NULL;
    r = get_value(fs, key.data, key.len, &n->val, &n->val_len);
    if (r == 0)
        r = fs_rec_decode(n->val, n->val_len, &n->a, &n->tail, &n->tail_len);
    if (r == -ENOENT)
        r = -EBADMSG; /* a stub without its inode record: the store is damaged */
    if (r == 0) {
        fs_buf_reset(&n->hkey);
        r = fs_buf_add(&n->hkey, key.data, key.len);
    }
    fs_buf_free(&key);
    return r;
}

int fs_resolve_parent_locked(fscore *fs, const char *path, fs_node *parent)
{
    int r = fs_path_check(path);
    if (r)
        return r;
    const char *slash = strrchr(path, '/');
    size_t plen = (size_t)(slash - path);
    char *pp = strndup(path, plen ? plen : 1);
    if (!pp)
        return -ENOMEM;
    r = fs_resolve_locked(fs, pp, parent);
    free(pp);
    if (r == 0 && !S_ISDIR(parent->a.mode))
        r = -ENOTDIR;
    return r;
}

int fs_batch_put_rec(lsm_batch *b, const fs_node *n, const fs_attr *a, const void *tail,
                     size_t tail_len)
{
    fs_buf v;
    fs_buf_init(&v);
    int r = fs_rec_encode(&v, a, tail, tail_len);
    if (r == 0)
        r = lsm_batch_put(b, n->hkey.data, n->hkey.len, v.data, v.len);
    fs_buf_free(&v);
    return r;
}

/* fs_batch_delete_range, also counting into *empties (if not NULL) the values that are empty. */
static long delete_range(fscore *fs, lsm_batch *b, const char *lo, size_t lo_len,
                         const char *hi, size_t hi_len, long *empties)
{
    lsm_read_options ro;
    fs_range_options(&ro, lo, lo_len, hi, hi_len, 0);
    lsm_iter *it;
    int r = lsm_iter_new(fs->db, &ro, &it);
    if (r)
        return r;
    long n = 0;
    for (lsm_iter_seek(it, lo, lo_len); lsm_iter_valid(it); lsm_iter_next(it)) {
        size_t kl, vl;
        const void *k = lsm_iter_key(it, &kl);
        r = lsm_batch_delete(b, k, kl);
        if (r)
            break;
        n++;
        if (empties) {
            lsm_iter_value(it, &vl);
            *empties += vl == 0;
        }
    }
    if (r == 0)
        r = lsm_iter_status(it);
    lsm_iter_free(it);
    return r ? r : n;
}

long fs_batch_delete_range(fscore *fs, lsm_batch *b, const char *lo, size_t lo_len,
                           const char *hi, size_t hi_len)
{
    return delete_range(fs, b, lo, lo_len, hi, hi_len, NULL);
}

long fs_batch_delete_chunks(fscore *fs, lsm_batch *b, uint64_t ino, uint64_t lo, uint64_t hi,
                            fs_delta *d)
{
    fs_buf klo, khi;
    fs_buf_init(&klo);
    fs_buf_init(&khi);
    long empties = 0;
    long r = fs_key_chunk(&klo, ino, lo);
    if (r == 0)
        r = fs_key_chunk(&khi, ino, hi);
    if (r == 0)
        r = delete_range(fs, b, klo.data, klo.len, khi.data, khi.len, &empties);
    if (r > 0)
        fs_reclaim_note(fs, ino, r);
    d->unwritten -= empties;
    fs_buf_free(&klo);
    fs_buf_free(&khi);
    return r;
}

void fs_range_options(lsm_read_options *ro, const void *lo, size_t lo_len, const void *hi,
                      size_t hi_len, int fill_cache)
{
    lsm_read_options_init(ro);
    ro->lower_bound = lo;
    ro->lower_bound_len = lo_len;
    ro->upper_bound = hi;
    ro->upper_bound_len = hi_len;
    ro->fill_cache = fill_cache;
}

int fs_iter_range(fscore *fs, const fs_buf *lo, const fs_buf *hi, int fill_cache,
                  lsm_iter **out)
{
    lsm_read_options ro;
    fs_range_options(&ro, lo->data, lo->len, hi->data, hi->len, fill_cache);
    int r = lsm_iter_new(fs->db, &ro, out);
    if (r == 0)
        lsm_iter_seek(*out, lo->data, lo->len);
    else
        *out = NULL;
    return r;
}

int fs_scan_kind(fscore *fs, char kind,
                 int (*fn)(void *arg, const char *k, size_t kl, const char *v, size_t vl),
                 void *arg)
{
    fs_buf lo, hi;
    fs_buf_init(&lo);
    fs_buf_init(&hi);
    lsm_iter *it = NULL;
    int r = fs_buf_add(&lo, &kind, 1);
    if (r == 0)
        r = fs_prefix_end(&lo, &hi);
    if (r == 0)
        r = fs_iter_range(fs, &lo, &hi, 0, &it);
    for (; r == 0 && lsm_iter_valid(it); lsm_iter_next(it)) {
        size_t kl, vl;
        const char *k = lsm_iter_key(it, &kl);
        const char *v = lsm_iter_value(it, &vl);
        r = fn(arg, k, kl, v, vl);
    }
    if (r == 0 && it)
        r = lsm_iter_status(it);
    lsm_iter_free(it);
    fs_buf_free(&lo);
    fs_buf_free(&hi);
    return r;
}

/* Upper bound of all keys starting with prefix p: p with its last byte incremented (our
 * prefixes never end in 0xff: they end in an ino byte handled by the caller, '\0' or '/'). */
int fs_prefix_end(const fs_buf *p, fs_buf *end)
{
    fs_buf_reset(end);
    if (fs_buf_add(end, p->data, p->len))
        return -ENOMEM;
    size_t i = end->len;
    while (i > 0) {
        unsigned char c = (unsigned char)end->data[i - 1];
        if (c != 0xff) {
            end->data[i - 1] = (char)(c + 1);
            end->len = i;
            return 0;
        }
        i--;
    }
    end->len = 0;
    return fs_buf_add(end, "\xff\xff\xff\xff", 4);
}

int fs_format_raise_locked(fscore *fs, uint64_t format)
{
    if (fs->format >= format)
        return 0;
    char v[8];
    fs_put_be64(v, format);
    fs_buf k;
    fs_buf_init(&k);
    lsm_write_options wo = fs->wo;
    wo.sync = 1; /* on disk before the first record that needs it can be */
    int r = fs_key_meta(&k, "format");
    if (r == 0)
        r = fs_store_error(fs, lsm_put(fs->db, &wo, k.data, k.len, v, sizeof v));
    fs_buf_free(&k);
    if (r == 0)
        fs->format = format;
    return r;
}

int fs_may_have_chunks(const fs_attr *a)
{
    return S_ISREG(a->mode) && !(a->flags & FS_FLAG_INLINE);
}

uint64_t fs_chunks_below(uint64_t size, int beyond)
{
    if (beyond)
        return UINT64_MAX;
    return size / FS_CHUNK_SIZE + (size % FS_CHUNK_SIZE != 0);
}

/* The chunks of ino below index hi, when hi is at most FEW_CHUNKS: a point lookup each
 * (bloom filters skip the tables without it) costs a fraction of an iterator's seek, which
 * reads a block of every level; the last unlink of a small file is the common case.  Counts as
 * fs_batch_delete_chunks does.  With no unwritten chunk in the store the lookup could only
 * tell a chunk from a hole, and a tombstone for a hole costs less than asking: no lookup. */
#define FEW_CHUNKS 4
static long delete_few_chunks(fscore *fs, lsm_batch *b, uint64_t ino, uint64_t hi, fs_delta *d)
{
    lsm_read_options ro;
    lsm_read_options_init(&ro);
    ro.fill_cache = 0;
    fs_buf k;
    fs_buf_init(&k);
    long n = 0;
    int r = 0, ask = fs->unwritten != 0;
    for (uint64_t i = 0; i < hi && r == 0; i++) {
        size_t vl = 1;
        r = fs_key_chunk(&k, ino, i);
        int g = r || !ask ? 0 : lsm_get_into(fs->db, &ro, k.data, k.len, NULL, 0, &vl);
        if (g == LSM_ENOTFOUND)
            continue;
        if (r == 0)
            r = g ? fs_store_error(fs, g) : lsm_batch_delete(b, k.data, k.len);
        if (r == 0) {
            n++;
            d->unwritten -= vl == 0;
        }
    }
    fs_buf_free(&k);
    if (r == 0 && n > 0)
        fs_reclaim_note(fs, ino, n);
    return r ? r : n;
}

int fs_batch_delete_data(fscore *fs, lsm_batch *b, uint64_t ino, uint64_t chunks_below,
                         fs_delta *d)
{
    fs_buf lo, hi;
    fs_buf_init(&lo);
    fs_buf_init(&hi);
    d->inodes--;
    long r = chunks_below == 0           ? 0
             : chunks_below <= FEW_CHUNKS ? delete_few_chunks(fs, b, ino, chunks_below, d)
                                          : fs_batch_delete_chunks(fs, b, ino, 0, UINT64_MAX, d);
    if (r >= 0)
        r = fs_key_xattr(&lo, ino, NULL);
    if (r >= 0)
        r = fs_prefix_end(&lo, &hi);
    if (r >= 0)
        r = fs_batch_delete_range(fs, b, lo.data, lo.len, hi.data, hi.len);
    fs_buf_free(&lo);
    fs_buf_free(&hi);
    return r < 0 ? (int)r : 0;
}

int fs_alloc_ino_locked(fscore *fs, uint64_t *ino)
{
    if (fs->next_ino >= fs->ino_limit) {
        /* Persist the new range before any inode of it is used, so that inode numbers are
         * never reused after a crash. */
        uint64_t limit = fs->next_ino + FS_INO_RANGE;
        char v[8];
        fs_put_be64(v, limit);
        fs_buf k;
        fs_buf_init(&k);
        int r = fs_key_meta(&k, "ino");
        if (r == 0)
            r = fs_store_error(fs, lsm_put(fs->db, &fs->wo, k.data, k.len, v, sizeof v));
        fs_buf_free(&k);
        if (r)
            return r;
        fs->ino_limit = limit;
    }
    *ino = fs->next_ino++;
    return 0;
}

int fs_attr_new_locked(fscore *fs, const fs_attr *parent, mode_t mode, dev_t rdev,
                       const fs_cred *who, const struct timespec *now, fs_attr *a)
{
    memset(a, 0, sizeof *a);
    int r = fs_alloc_ino_locked(fs, &a->ino);
    if (r)
        return r;
    a->kind = FS_REC_FULL;
    a->mode = mode;
    a->uid = who ? who->uid : getuid();
    a->gid = who ? who->gid : getgid();
    if (parent->mode & S_ISGID) {
        a->gid = parent->gid;
        if (S_ISDIR(mode))
            a->mode |= S_ISGID;
    }
    a->nlink = S_ISDIR(mode) ? 2 : 1;
    a->rdev = (uint64_t)rdev;
    a->atime = a->mtime = a->ctime = *now;
    return 0;
}

int fs_create_locked(fscore *fs, const char *path, mode_t mode, dev_t rdev, const fs_cred *who,
                     const char *target, fs_node *out)
{
    int r = fs_path_check(path);
    if (r)
        return r;
    if (strcmp(path, "/") == 0)
        return -EEXIST;
    fs_node parent, node;
    fs_node_init(&parent);
    fs_node_init(&node);
    lsm_batch *b = NULL;
    r = fs_resolve_parent_locked(fs, path, &parent);
    if (r)
        goto out;
    r = fs_key_path(&node.ekey, path, strlen(path));
    if (r)
        goto out;
    void *v;
    size_t vl;
    r = get_value(fs, node.ekey.data, node.ekey.len, &v, &vl);
    if (r == 0) {
        lsm_free(v);
        r = -EEXIST;
        goto out;
    }
    if (r != -ENOENT)
        goto out;
    fs_attr a;
    struct timespec now;
    fs_now(fs, &now);
    r = fs_attr_new_locked(fs, &parent.a, mode, rdev, who, &now, &a);
    if (r)
        goto out;
    size_t tlen = target ? strlen(target) : 0;
    a.size = S_ISLNK(mode) ? tlen : 0;
    if (S_ISREG(mode))
        a.flags = FS_FLAG_INLINE;
    b = lsm_batch_new();
    if (!b) {
        r = -ENOMEM;
        goto out;
    }
    fs_buf_reset(&node.hkey);
    r = fs_buf_add(&node.hkey, node.ekey.data, node.ekey.len);
    if (r == 0)
        r = fs_batch_put_rec(b, &node, &a, target, tlen);
    fs_attr pa = parent.a;
    pa.mtime = pa.ctime = now;
    if (S_ISDIR(mode))
        pa.nlink++;
    if (r == 0)
        r = fs_batch_put_rec(b, &parent, &pa, parent.tail, parent.tail_len);
    if (r == 0)
        r = fs_write_delta_locked(fs, b, &(fs_delta){.inodes = 1});
    if (r == 0 && out) {
        fs_node_free(out);
        fs_node_init(out);
        out->a = a;
        if (fs_buf_add(&out->ekey, node.ekey.data, node.ekey.len) ||
            fs_buf_add(&out->hkey, node.ekey.data, node.ekey.len))
            r = -ENOMEM;
    }
out:
    lsm_batch_free(b);
    fs_node_free(&parent);
    fs_node_free(&node);
    return r;
}

/* ---- open / close ---- */

static int load_ino_counter(fscore *fs)
{
    fs_buf k;
    fs_buf_init(&k);
    int r = fs_key_meta(&k, "ino");
    void *v = NULL;
    size_t vl = 0;
    if (r == 0)
        r = get_value(fs, k.data, k.len, &v, &vl);
    if (r == 0 && vl != 8)
        r = -EBADMSG;
    if (r == 0)
        fs->next_ino = fs->ino_limit = fs_get_be64(v);
    if (v)
        lsm_free(v);
    fs_buf_free(&k);
    return r;
}

/* A new store: the format marker, the inode counter and the root directory, in one batch. */
static int init_store(fscore *fs)
{
    lsm_batch *b = lsm_batch_new();
    if (!b)
        return -ENOMEM;
    fs_buf k, v;
    fs_buf_init(&k);
    fs_buf_init(&v);
    char num[8];
    fs_attr a;
    memset(&a, 0, sizeof a);
    a.kind = FS_REC_FULL;
    a.mode = S_IFDIR | 0755;
    a.ino = 1;
    a.uid = getuid();
    a.gid = getgid();
    a.nlink = 2;
    fs_now(fs, &a.mtime);
    a.atime = a.ctime = a.mtime;
    int r = fs_key_meta(&k, "format");
    fs->format = FS_FORMAT_VERSION;
    fs_put_be64(num, FS_FORMAT_VERSION);
    if (r == 0)
        r = lsm_batch_put(b, k.data, k.len, num, 8);
    if (r == 0)
        r = fs_key_meta(&k, "ino");
    fs_put_be64(num, 2);
    if (r == 0)
        r = lsm_batch_put(b, k.data, k.len, num, 8);
    if (r == 0)
        r = fs_key_root(&k);
    if (r == 0)
        r = fs_rec_encode(&v, &a, NULL, 0);
    if (r == 0)
        r = lsm_batch_put(b, k.data, k.len, v.data, v.len);
    if (r == 0) {
        lsm_write_options wo = fs->wo;
        wo.sync = 1;
        r = lsm_write(fs->db, &wo, b);
    }
    lsm_batch_free(b);
    fs_buf_free(&k);
    fs_buf_free(&v);
    return r;
}

int fscore_open(const char *store_dir, const lsm_options *opt, int read_only, fscore **out)
{
    *out = NULL;
    fscore *fs = calloc(1, sizeof *fs);
    if (!fs)
        return -ENOMEM;
    fs->dir = strdup(store_dir);
    fs->read_only = read_only;
    lsm_write_options_init(&fs->wo);
    pthread_rwlock_init(&fs->lock, NULL);
    if (!fs->dir) {
        free(fs);
        return -ENOMEM;
    }
    if (!read_only && mkdir(store_dir, 0700) != 0 && errno != EEXIST) {
        int e = -errno;
        pthread_rwlock_destroy(&fs->lock);
        free(fs->dir);
        free(fs);
        return e;
    }
    lsm_options o;
    if (opt)
        o = *opt;
    else
        lsm_options_init(&o);
    o.read_only = read_only;
    /* Keys start with their kind (schema.h): a big file's chunks, written apart from the
     * names, get tables of their own that move down the levels without being rewritten. */
    o.partition_prefix = 1;
    if (read_only)
        o.create_if_missing = 0;
    int r = lsm_open(store_dir, &o, &fs->db);
    if (r) {
        pthread_rwlock_destroy(&fs->lock);
        free(fs->dir);
        free(fs);
        return r;
    }
    fs_buf k;
    fs_buf_init(&k);
    void *v = NULL;
    size_t vl;
    r = fs_key_meta(&k, "format");
    if (r == 0)
        r = get_value(fs, k.data, k.len, &v, &vl);
    if (r == 0 && vl == 8)
        fs->format = fs_get_be64(v);
    if (r == 0 && vl == 8 && fs->format > FS_FORMAT_BEYOND)
        r = -EPROTONOSUPPORT; /* written by a newer lsmfs */
    else if (r == 0 && (vl != 8 || fs->format < FS_FORMAT_VERSION))
        r = -EMEDIUMTYPE; /* an lsm store, but not an lsmfs one */
    if (v)
        lsm_free(v);
    fs_buf_free(&k);
    if (r == -ENOENT && !read_only) {
        /* A store without the marker is new only if it holds no key at all. */
        lsm_iter *it;
        r = lsm_iter_new(fs->db, NULL, &it);
        if (r == 0) {
            lsm_iter_seek_first(it);
            r = lsm_iter_valid(it) ? -EMEDIUMTYPE : lsm_iter_status(it);
            lsm_iter_free(it);
        }
        if (r == 0)
            r = init_store(fs);
    } else if (r == -ENOENT) {
        r = -EMEDIUMTYPE;
    }
    if (r == 0)
        r = load_ino_counter(fs);
    if (r == 0)
        r = fs_counts_load(fs);
    if (r == 0 && !read_only)
        r = fs_orphans_cleanup(fs);
    if (r == 0 && !read_only)
        r = fs_reclaim_start(fs);
    if (r) {
        lsm_close(fs->db);
        pthread_rwlock_destroy(&fs->lock);
        free(fs->dir);
        free(fs);
        return r;
    }
    *out = fs;
    return 0;
}

int fscore_close(fscore *fs)
{
    if (!fs)
        return 0;
    pthread_rwlock_wrlock(&fs->lock);
    int r = fs->read_only ? 0 : fs_open_commit_all_locked(fs);
    for (int i = 0; i < FS_OPEN_BUCKETS; i++) {
        fs_file *f = fs->open[i];
        while (f) {
            fs_file *next = f->next;
            for (size_t c = 0; c < f->nchunks; c++)
                free(f->chunks[c].data);
            free(f->chunks);
            free(f->inl);
            fs_buf_free(&f->home);
            free(f);
            f = next;
        }
        fs->open[i] = NULL;
    }
    pthread_rwlock_unlock(&fs->lock);
    fs_reclaim_stop(fs);
    int r2 = lsm_close(fs->db);
    pthread_rwlock_destroy(&fs->lock);
    free(fs->dir);
    free(fs);
    return r ? r : r2;
}

lsm_db *fscore_db(fscore *fs) { return fs->db; }
const char *fscore_store_dir(fscore *fs) { return fs->dir; }

/* ---- attributes ---- */

int fscore_stat(fscore *fs, const char *path, struct stat *st)
{
    fs_node n;
    fs_node_init(&n);
    pthread_rwlock_rdlock(&fs->lock);
    int r = fs_resolve_locked(fs, path, &n);
    if (r == 0) {
        fs_attr_to_stat(&n.a, st);
        fs_open_overlay_locked(fs, st);
    }
    pthread_rwlock_unlock(&fs->lock);
    fs_node_free(&n);
    return r;
}

int fscore_readlink(fscore *fs, const char *path, char *buf, size_t size)
{
    fs_node n;
    fs_node_init(&n);
    pthread_rwlock_rdlock(&fs->lock);
    int r = fs_resolve_locked(fs, path, &n);
    if (r == 0 && !S_ISLNK(n.a.mode))
        r = -EINVAL;
    if (r == 0 && size > 0) {
        size_t m = n.tail_len < size - 1 ? n.tail_len : size - 1;
        memcpy(buf, n.tail, m);
        buf[m] = '\0';
    }
    pthread_rwlock_unlock(&fs->lock);
    fs_node_free(&n);
    return r;
}

int fs_resolve_node_locked(fscore *fs, const char *path, uint64_t ino, fs_node *n)
{
    if (path)
        return fs_resolve_locked(fs, path, n);
    fs_file *f = fs_open_find_locked(fs, ino);
    if (f)
        return fs_load_locked(fs, f->home.data, f->home.len, n);
    return fs_load_inode_locked(fs, ino, n);
}

/* Read-modify-write of the attributes of path (or of the open file ino) through edit(). */
static int update_attr_of(fscore *fs, const char *path, uint64_t ino,
                          int (*edit)(fs_attr *a, const struct timespec *now, const void *arg),
                          const void *arg)
{
    fs_node n;
    fs_node_init(&n);
    lsm_batch *b = lsm_batch_new();
    if (!b)
        return -ENOMEM;
    pthread_rwlock_wrlock(&fs->lock);
    int r = fs_resolve_node_locked(fs, path, ino, &n);
    if (r == 0) {
        fs_attr a = n.a;
        fs_file *f = fs_open_find_locked(fs, a.ino);
        if (f && f->times_dirty) { /* buffered times are newer than the record's */
            a.mtime = f->mtime;
            a.ctime = f->ctime;
        }
        struct timespec now;
        fs_now(fs, &now);
        r = edit(&a, &now, arg);
        if (r == 0) {
            if (f) {
                /* the open file's buffered times must not overwrite this change later */
                f->mtime = a.mtime;
                f->ctime = a.ctime;
            }
            r = fs_batch_put_rec(b, &n, &a, n.tail, n.tail_len);
        }
        if (r == 0)
            r = fs_write_locked(fs, b);
    }
    pthread_rwlock_unlock(&fs->lock);
    lsm_batch_free(b);
    fs_node_free(&n);
    return r;
}

static int update_attr(fscore *fs, const char *path,
                       int (*edit)(fs_attr *a, const struct timespec *now, const void *arg),
                       const void *arg)
{
    return update_attr_of(fs, path, 0, edit, arg);
}

static void set_time(struct timespec *dst, const struct timespec *src,
                     const struct timespec *now)
{
    *dst = src->tv_nsec == UTIME_NOW ? *now : *src;
}

static int edit_setattr(fs_attr *a, const struct timespec *now, const void *arg)
{
    const fs_setattr *sa = arg;
    if (sa->valid & FS_SET_MODE)
        a->mode = (a->mode & S_IFMT) | (sa->mode & 07777);
    if (sa->valid & FS_SET_UID)
        a->uid = sa->uid;
    if (sa->valid & FS_SET_GID)
        a->gid = sa->gid;
    if (sa->valid & FS_SET_ATIME)
        set_time(&a->atime, &sa->atime, now);
    if (sa->valid & FS_SET_MTIME)
        set_time(&a->mtime, &sa->mtime, now);
    if (sa->valid & FS_SET_CTIME)
        set_time(&a->ctime, &sa->ctime, now);
    else if (!(sa->valid & FS_SET_KEEP_CTIME))
        a->ctime = *now;
    return 0;
}

void fscore_setattr_apply(const fscore *fs, const fs_setattr *sa, struct stat *st)
{
    fs_attr a;
    memset(&a, 0, sizeof a);
    a.mode = st->st_mode;
    a.uid = st->st_uid;
    a.gid = st->st_gid;
    a.atime = st->st_atim;
    a.mtime = st->st_mtim;
    a.ctime = st->st_ctim;
    struct timespec now;
    fs_now(fs, &now);
    edit_setattr(&a, &now, sa);
    st->st_mode = a.mode;
    st->st_uid = a.uid;
    st->st_gid = a.gid;
    st->st_atim = a.atime;
    st->st_mtim = a.mtime;
    st->st_ctim = a.ctime;
}

/* mtime/ctime of an open file go into its buffer: the kernel's writeback cache sends them just
 * before the FLUSH or FSYNC that commits them, so they cost no batch of their own.  0 if done,
 * 1 if ino is not open. */
static int buffer_times(fscore *fs, uint64_t ino, const fs_setattr *sa)
{
    struct timespec now;
    fs_now(fs, &now);
    pthread_rwlock_wrlock(&fs->lock);
    fs_file *f = fs_open_find_locked(fs, ino);
    if (f) {
        if (sa->valid & FS_SET_MTIME)
            set_time(&f->mtime, &sa->mtime, &now);
        if (sa->valid & FS_SET_CTIME)
            set_time(&f->ctime, &sa->ctime, &now);
        else
            f->ctime = now;
        f->times_dirty = f->dirty = 1;
    }
    pthread_rwlock_unlock(&fs->lock);
    return f ? 0 : 1;
}

int fscore_setattr(fscore *fs, const char *path, uint64_t ino, const fs_setattr *sa)
{
    if (fs->read_only)
        return -EROFS;
    if (!(sa->valid & ~(unsigned)(FS_SET_MTIME | FS_SET_CTIME)) && buffer_times(fs, ino, sa) == 0)
        return 0;
    return update_attr_of(fs, path, ino, edit_setattr, sa);
}

int fscore_file_get(fscore *fs, uint64_t ino, fs_file **out)
{
    pthread_rwlock_wrlock(&fs->lock);
    fs_file *f = fs_open_find_locked(fs, ino);
    if (f)
        f->refs++;
    pthread_rwlock_unlock(&fs->lock);
    *out = f;
    return f ? 0 : -ENOENT;
}

static int edit_mode(fs_attr *a, const struct timespec *now, const void *arg)
{
    mode_t m = *(const mode_t *)arg;
    a->mode = (a->mode & S_IFMT) | (m & 07777);
    a->ctime = *now;
    return 0;
}

struct owner {
    uid_t uid;
    gid_t gid;
};

static int edit_owner(fs_attr *a, const struct timespec *now, const void *arg)
{
    const struct owner *o = arg;
    if (o->uid != (uid_t)-1)
        a->uid = o->uid;
    if (o->gid != (gid_t)-1)
        a->gid = o->gid;
    a->ctime = *now;
    return 0;
}

static int edit_times(fs_attr *a, const struct timespec *now, const void *arg)
{
    const struct timespec *tv = arg;
    if (tv[0].tv_nsec == UTIME_NOW)
        a->atime = *now;
    else if (tv[0].tv_nsec != UTIME_OMIT)
        a->atime = tv[0];
    if (tv[1].tv_nsec == UTIME_NOW)
        a->mtime = *now;
    else if (tv[1].tv_nsec != UTIME_OMIT)
        a->mtime = tv[1];
    a->ctime = *now;
    return 0;
}

int fscore_chmod(fscore *fs, const char *path, mode_t mode)
{
    return update_attr(fs, path, edit_mode, &mode);
}

int fscore_chown(fscore *fs, const char *path, uid_t uid, gid_t gid)
{
    struct owner o = {uid, gid};
    return update_attr(fs, path, edit_owner, &o);
}

int fscore_utimens(fscore *fs, const char *path, const struct timespec tv[2])
{
    struct timespec t[2];
    if (tv) {
        t[0] = tv[0];
        t[1] = tv[1];
    } else {
        t[0].tv_nsec = t[1].tv_nsec = UTIME_NOW;
    }
    return update_attr(fs, path, edit_times, t);
}

int fscore_truncate(fscore *fs, const char *path, off_t size)
{
    if (size > FS_FILE_SIZE_MAX)
        return -EFBIG;
    fs_file *f;
    int r = fs_file_open(fs, path, 0, &f);
    if (r)
        return r;
    r = fs_file_truncate(f, size);
    int r2 = fs_file_close(f);
    return r ? r : r2;
}

/* ---- creating nodes ---- */

int fscore_mknod(fscore *fs, const char *path, mode_t mode, dev_t rdev, const fs_cred *who)
{
    if (S_ISDIR(mode) || S_ISLNK(mode))
        return -EINVAL;
    if ((mode & S_IFMT) == 0)
        mode |= S_IFREG;
    pthread_rwlock_wrlock(&fs->lock);
    int r = fs_create_locked(fs, path, mode, rdev, who, NULL, NULL);
    pthread_rwlock_unlock(&fs->lock);
    return r;
}

int fscore_mkdir_as(fscore *fs, const char *path, mode_t mode, const fs_cred *who)
{
    pthread_rwlock_wrlock(&fs->lock);
    int r = fs_create_locked(fs, path, S_IFDIR | (mode & 07777), 0, who, NULL, NULL);
    pthread_rwlock_unlock(&fs->lock);
    return r;
}

int fscore_mkdir(fscore *fs, const char *path, mode_t mode)
{
    return fscore_mkdir_as(fs, path, mode, NULL);
}

int fscore_symlink_as(fscore *fs, const char *target, const char *path, const fs_cred *who)
{
    size_t tl = strlen(target);
    if (tl == 0)
        return -ENOENT;
    if (tl >= PATH_MAX)
        return -ENAMETOOLONG;
    pthread_rwlock_wrlock(&fs->lock);
    int r = fs_create_locked(fs, path, S_IFLNK | 0777, 0, who, target, NULL);
    pthread_rwlock_unlock(&fs->lock);
    return r;
}

int fscore_symlink(fscore *fs, const char *target, const char *path)
{
    return fscore_symlink_as(fs, target, path, NULL);
}

/* ---- listing ---- */

int fscore_readdir(fscore *fs, const char *path, fscore_entry_fn cb, void *arg)
{
    return fscore_readdir_after(fs, path, NULL, 1, cb, arg);
}

/* The attributes a listing shows for the entry record v: with plus, all of them (a hard link's
 * from its inode record, an open file's size and times from its open state); without, only
 * st_ino and st_mode, decoded from the record's first bytes (st must come zeroed: the other
 * fields are left alone). */
static int readdir_stat_locked(fscore *fs, const void *v, size_t vl, int plus, struct stat *st)
{
    fs_attr a;
    if (!plus) {
        int r = fs_rec_decode_id(v, vl, &a);
        st->st_ino = a.ino;
        st->st_mode = a.mode;
        return r;
    }
    int r = fs_rec_decode(v, vl, &a, NULL, NULL);
    if (r == 0 && a.kind == FS_REC_STUB) {
        fs_node in;
        fs_node_init(&in);
        r = fs_load_inode_locked(fs, a.ino, &in);
        if (r == 0)
            a = in.a;
        fs_node_free(&in);
    }
    if (r)
        return r;
    fs_attr_to_stat(&a, st);
    fs_open_overlay_locked(fs, st);
    return 0;
}

/* Position it at the first child of the directory whose children's keys start with lo (its
 * len bytes), after the child named after if not NULL.  lo's capacity may grow. */
static int readdir_seek(lsm_iter *it, fs_buf *lo, const char *after)
{
    if (!after) {
        lsm_iter_seek(it, lo->data, lo->len);
        return 0;
    }
    /* the first key after lo+after is lo+after+'\0' */
    size_t plen = lo->len;
    int r = fs_buf_add(lo, after, strlen(after) + 1);
    if (r == 0)
        lsm_iter_seek(it, lo->data, lo->len);
    lo->len = plen;
    return r;
}

int fscore_readdir_after(fscore *fs, const char *path, const char *after, int plus,
                         fscore_entry_fn cb, void *arg)
{
    fs_node n;
    fs_node_init(&n);
    fs_buf lo, hi;
    fs_buf_init(&lo);
    fs_buf_init(&hi);
    lsm_iter *it = NULL;
    pthread_rwlock_rdlock(&fs->lock);
    int r = fs_resolve_locked(fs, path, &n);
    if (r == 0 && !S_ISDIR(n.a.mode))
        r = -ENOTDIR;
    if (r == 0)
        r = fs_key_children(&lo, path, strlen(path));
    if (r == 0)
        r = fs_prefix_end(&lo, &hi);
    /* a listing reads each block once, and its blocks carry small files' contents: caching
     * them would evict what lookups and reads use, at the cost of an eviction per block */
    lsm_read_options ro;
    fs_range_options(&ro, lo.data, lo.len, hi.data, hi.len, 0);
    if (r == 0)
        r = lsm_iter_new(fs->db, &ro, &it);
    if (r == 0) {
        r = readdir_seek(it, &lo, after);
        struct stat st;
        memset(&st, 0, sizeof st);
        for (; r == 0 && lsm_iter_valid(it); lsm_iter_next(it)) {
            size_t kl, vl;
            const char *k = lsm_iter_key(it, &kl);
            const void *v = lsm_iter_value(it, &vl);
            size_t len = kl - lo.len;
            if (len == 0 || len > FS_NAME_MAX) {
                r = -EBADMSG; /* no name, or one no directory can hold: a damaged key */
                break;
            }
            r = readdir_stat_locked(fs, v, vl, plus, &st);
            if (r)
                break;
            r = cb(arg, k + lo.len, len, &st);
        }
        if (r == 0)
            r = lsm_iter_status(it);
        lsm_iter_free(it);
    }
    pthread_rwlock_unlock(&fs->lock);
    fs_node_free(&n);
    fs_buf_free(&lo);
    fs_buf_free(&hi);
    return r;
}

/* ---- whole files (tools) ---- */

int fscore_read_file(fscore *fs, const char *path,
                     int (*sink)(void *arg, const void *data, size_t n), void *arg)
{
    fs_file *f;
    int r = fs_file_open(fs, path, 0, &f);
    if (r)
        return r;
    char *buf = malloc(FS_CHUNK_SIZE);
    if (!buf) {
        fs_file_close(f);
        return -ENOMEM;
    }
    off_t off = 0;
    for (;;) {
        ssize_t n = fs_file_read(f, buf, FS_CHUNK_SIZE, off);
        if (n <= 0) {
            r = (int)n;
            break;
        }
        r = sink(arg, buf, (size_t)n);
        if (r)
            break;
        off += n;
    }
    free(buf);
    int r2 = fs_file_close(f);
    return r ? r : r2;
}

int fscore_write_file(fscore *fs, const char *path, const void *data, size_t n, mode_t mode)
{
    struct stat st;
    int r = fscore_stat(fs, path, &st);
    if (r == 0 && S_ISDIR(st.st_mode))
        return -EISDIR;
    if (r == 0 && !S_ISREG(st.st_mode)) {
        r = fscore_unlink(fs, path);
        if (r)
            return r;
        r = -ENOENT;
    }
    if (r && r != -ENOENT)
        return r;
    mode_t m = mode == (mode_t)-1 ? 0644 : (mode & 07777);
    fs_file *f;
    r = fs_file_create(fs, path, S_IFREG | m, 0, NULL, &f);
    if (r)
        return r;
    r = fs_file_truncate(f, 0);
    size_t done = 0;
    while (r == 0 && done < n) {
        size_t step = n - done < FS_DIRTY_MAX ? n - done : FS_DIRTY_MAX;
        ssize_t w = fs_file_write(f, (const char *)data + done, step, (off_t)done);
        if (w < 0)
            r = (int)w;
        else
            done += (size_t)w;
    }
    if (r == 0 && mode != (mode_t)-1)
        r = fs_file_chmod(f, m);
    int r2 = fs_file_close(f);
    return r ? r : r2;
}

/* ---- store-wide ---- */

int fs_space_avail_locked(fscore *fs, uint64_t *bytes)
{
    struct statvfs under;
    if (statvfs(fs->dir, &under) != 0)
        return -errno;
    uint64_t avail = (uint64_t)under.f_bavail * (uint64_t)under.f_frsize;
    uint64_t promised = fs->unwritten * FS_CHUNK_SIZE;
    *bytes = avail > promised ? avail - promised : 0;
    return 0;
}

int fscore_statfs(fscore *fs, struct statvfs *sv)
{
    struct statvfs under;
    if (statvfs(fs->dir, &under) != 0)
        return -errno;
    memset(sv, 0, sizeof *sv);
    /* Capacity and free space are the underlying filesystem's, scaled to our block size:
     * the store grows into exactly that space. */
    unsigned long bs = 4096;
    sv->f_bsize = bs;
    sv->f_frsize = bs;
    double scale = (double)under.f_frsize / (double)bs;
    sv->f_blocks = (fsblkcnt_t)((double)under.f_blocks * scale);
    sv->f_bfree = (fsblkcnt_t)((double)under.f_bfree * scale);
    sv->f_bavail = (fsblkcnt_t)((double)under.f_bavail * scale);
    pthread_rwlock_rdlock(&fs->lock);
    uint64_t used_inodes = fs->inodes;
    /* chunks that fallocate promised are used space, as on ext4, though not yet on disk */
    uint64_t promised = fs->unwritten * (FS_CHUNK_SIZE / bs);
    pthread_rwlock_unlock(&fs->lock);
    sv->f_bfree = sv->f_bfree > promised ? sv->f_bfree - promised : 0;
    sv->f_bavail = sv->f_bavail > promised ? sv->f_bavail - promised : 0;
    uint64_t free_inodes = under.f_ffree > 0 ? (uint64_t)under.f_ffree * 16 : (1u << 20);
    sv->f_files = (fsfilcnt_t)(used_inodes + free_inodes);
    sv->f_ffree = (fsfilcnt_t)free_inodes;
    sv->f_favail = (fsfilcnt_t)free_inodes;
    sv->f_namemax = FS_NAME_MAX;
    return 0;
}

void fscore_set_kernel_times(fscore *fs, int on) { fs->kernel_times = on; }

int fscore_sync(fscore *fs)
{
    pthread_rwlock_wrlock(&fs->lock);
    int r = fs->read_only ? 0 : fs_open_commit_all_locked(fs);
    pthread_rwlock_unlock(&fs->lock);
    if (r == 0 && !fs->read_only)
        r = fs_store_error(fs, lsm_sync(fs->db));
    return r;
}
