/*
 * schema.c — key and record encoding (see schema.h and fs/SCHEMA.md).
 *
 * Keys use big-endian numbers so that chunk and inode keys sort numerically; record fields are
 * little-endian fixed width so a record decodes without parsing varints.
 */
#include "schema.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

void fs_buf_init(fs_buf *b) { b->data = NULL; b->len = b->cap = 0; }
void fs_buf_free(fs_buf *b) { free(b->data); fs_buf_init(b); }
void fs_buf_reset(fs_buf *b) { b->len = 0; }

int fs_buf_add(fs_buf *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d)
            return -ENOMEM;
        b->data = d;
        b->cap = cap;
    }
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0'; /* always a C string too, for paths */
    return 0;
}

void fs_put_be64(char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (char)(v & 0xff);
        v >>= 8;
    }
}

uint64_t fs_get_be64(const char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | (unsigned char)p[i];
    return v;
}

static void put_le(char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) {
        p[i] = (char)(v & 0xff);
        v >>= 8;
    }
}

static uint64_t get_le(const char *p, int n)
{
    /* whole-word loads: record decoding is on the path of every listed entry and getattr */
    if (n == 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        return le64toh(v);
    }
    if (n == 4) {
        uint32_t v;
        memcpy(&v, p, 4);
        return le32toh(v);
    }
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | (unsigned char)p[i];
    return v;
}

int fs_key_root(fs_buf *b)
{
    fs_buf_reset(b);
    return fs_buf_add(b, "R", 1);
}

int fs_key_path(fs_buf *b, const char *path, size_t len)
{
    if (len <= 1)
        return fs_key_root(b);
    size_t slash = len - 1;
    while (slash > 0 && path[slash] != '/')
        slash--;
    char e = FS_KEY_ENTRY, z = '\0';
    fs_buf_reset(b);
    if (fs_buf_add(b, &e, 1) || fs_buf_add(b, path, slash) || fs_buf_add(b, &z, 1) ||
        fs_buf_add(b, path + slash + 1, len - slash - 1))
        return -ENOMEM;
    return 0;
}

int fs_key_children(fs_buf *b, const char *dir, size_t len)
{
    char e = FS_KEY_ENTRY, z = '\0';
    if (len == 1 && dir[0] == '/')
        len = 0; /* the root's children have parent part "" */
    fs_buf_reset(b);
    if (fs_buf_add(b, &e, 1) || fs_buf_add(b, dir, len) || fs_buf_add(b, &z, 1))
        return -ENOMEM;
    return 0;
}

int fs_key_descendants(fs_buf *b, const char *dir, size_t len)
{
    char e = FS_KEY_ENTRY, s = '/';
    fs_buf_reset(b);
    if (fs_buf_add(b, &e, 1) || fs_buf_add(b, dir, len) || fs_buf_add(b, &s, 1))
        return -ENOMEM;
    return 0;
}

int fs_key_inode(fs_buf *b, char kind, uint64_t ino)
{
    char k[9];
    k[0] = kind;
    fs_put_be64(k + 1, ino);
    fs_buf_reset(b);
    return fs_buf_add(b, k, sizeof k);
}

int fs_key_chunk(fs_buf *b, uint64_t ino, uint64_t index)
{
    char k[17];
    k[0] = FS_KEY_CHUNK;
    fs_put_be64(k + 1, ino);
    fs_put_be64(k + 9, index);
    fs_buf_reset(b);
    return fs_buf_add(b, k, sizeof k);
}

int fs_key_xattr(fs_buf *b, uint64_t ino, const char *name)
{
    char k[9];
    k[0] = FS_KEY_XATTR;
    fs_put_be64(k + 1, ino);
    fs_buf_reset(b);
    if (fs_buf_add(b, k, sizeof k))
        return -ENOMEM;
    return name ? fs_buf_add(b, name, strlen(name)) : 0;
}

int fs_key_meta(fs_buf *b, const char *name)
{
    char m = FS_KEY_META;
    fs_buf_reset(b);
    if (fs_buf_add(b, &m, 1) || fs_buf_add(b, name, strlen(name)))
        return -ENOMEM;
    return 0;
}

int fs_key_to_path(const char *key, size_t len, fs_buf *out)
{
    fs_buf_reset(out);
    if (len == 1 && key[0] == FS_KEY_ROOT)
        return fs_buf_add(out, "/", 1);
    if (len < 3 || key[0] != FS_KEY_ENTRY)
        return -EINVAL;
    const char *z = memchr(key + 1, '\0', len - 1);
    if (!z || z == key + len - 1)
        return -EINVAL;
    size_t plen = (size_t)(z - (key + 1));
    if (fs_buf_add(out, key + 1, plen) || fs_buf_add(out, "/", 1) ||
        fs_buf_add(out, z + 1, len - plen - 2))
        return -ENOMEM;
    return 0;
}

static void put_ts(char *p, const struct timespec *t)
{
    put_le(p, (uint64_t)t->tv_sec, 8);
    put_le(p + 8, (uint64_t)t->tv_nsec, 4);
}

static void get_ts(const char *p, struct timespec *t)
{
    t->tv_sec = (time_t)(int64_t)get_le(p, 8);
    t->tv_nsec = (long)get_le(p + 8, 4);
}

int fs_rec_encode(fs_buf *b, const fs_attr *a, const void *tail, size_t tail_len)
{
    char h[FS_REC_HEADER];
    h[0] = (char)FS_REC_VERSION;
    h[1] = (char)FS_REC_FULL;
    put_le(h + 2, a->mode, 4);
    put_le(h + 6, a->ino, 8);
    put_le(h + 14, a->uid, 4);
    put_le(h + 18, a->gid, 4);
    put_le(h + 22, a->size, 8);
    put_le(h + 30, a->nlink, 4);
    put_le(h + 34, a->rdev, 8);
    put_ts(h + 42, &a->atime);
    put_ts(h + 54, &a->mtime);
    put_ts(h + 66, &a->ctime);
    put_le(h + 78, a->flags, 4);
    put_le(h + 82, a->chunks, 8);
    fs_buf_reset(b);
    if (fs_buf_add(b, h, sizeof h) || fs_buf_add(b, tail, tail_len))
        return -ENOMEM;
    return 0;
}

int fs_rec_encode_stub(fs_buf *b, const fs_attr *a)
{
    char h[FS_STUB_SIZE];
    h[0] = (char)FS_REC_VERSION;
    h[1] = (char)FS_REC_STUB;
    put_le(h + 2, a->ino, 8);
    put_le(h + 10, a->mode, 4);
    fs_buf_reset(b);
    return fs_buf_add(b, h, sizeof h);
}

int fs_rec_decode_id(const void *v, size_t n, fs_attr *a)
{
    const char *p = v;
    if (n < 2 || (unsigned char)p[0] != FS_REC_VERSION)
        return -EBADMSG;
    if (p[1] == FS_REC_STUB) {
        if (n != FS_STUB_SIZE)
            return -EBADMSG;
        memset(a, 0, sizeof *a); /* a stub has nothing else: fs_rec_decode returns this */
        a->kind = FS_REC_STUB;
        a->ino = get_le(p + 2, 8);
        a->mode = (uint32_t)get_le(p + 10, 4);
        return 0;
    }
    if (p[1] != FS_REC_FULL || n < FS_REC_HEADER)
        return -EBADMSG;
    a->kind = FS_REC_FULL;
    a->mode = (uint32_t)get_le(p + 2, 4);
    a->ino = get_le(p + 6, 8);
    return 0;
}

int fs_rec_decode(const void *v, size_t n, fs_attr *a, const void **tail, size_t *tail_len)
{
    const char *p = v;
    if (tail) {
        *tail = NULL;
        *tail_len = 0;
    }
    int r = fs_rec_decode_id(v, n, a);
    if (r)
        memset(a, 0, sizeof *a);
    if (r || a->kind == FS_REC_STUB)
        return r;
    a->uid = (uint32_t)get_le(p + 14, 4);
    a->gid = (uint32_t)get_le(p + 18, 4);
    a->size = get_le(p + 22, 8);
    a->nlink = (uint32_t)get_le(p + 30, 4);
    a->rdev = get_le(p + 34, 8);
    get_ts(p + 42, &a->atime);
    get_ts(p + 54, &a->mtime);
    get_ts(p + 66, &a->ctime);
    a->flags = (uint32_t)get_le(p + 78, 4);
    a->chunks = get_le(p + 82, 8);
    if (tail) {
        *tail = p + FS_REC_HEADER;
        *tail_len = n - FS_REC_HEADER;
    }
    return 0;
}
