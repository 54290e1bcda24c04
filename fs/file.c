/*
 * file.c — open regular files: reads, buffered writes, truncation, fallocate, commit.
 *
 * All opens of one inode share an fs_file (found by inode number), so every descriptor sees
 * every write at once.  Writes go to 64 KiB chunk buffers in memory; a chunk that already holds
 * data in the store and is only partly overwritten is read first.  fs_file_commit writes the
 * dirty chunks, the new size and times in one batch, so a crash never leaves a size that
 * disagrees with the chunks.  Files up to FS_INLINE_MAX bytes keep their contents in their
 * record instead of a chunk: `echo x > f` costs one put.  Truncation, hole punching and
 * zeroing commit at once, deleting whole chunks in the same batch as the new size.  fallocate
 * gives the chunks it allocates an empty value (allocated, unwritten: see fs/SCHEMA.md), and
 * SEEK_DATA/SEEK_HOLE read the chunk keys: both at chunk granularity.  FALLOC_FL_KEEP_SIZE may
 * allocate such empty chunks past the size too; the record's FS_FLAG_BEYOND says so, and keeps
 * the file out of the inline form and of the ingest path below, which assume there are none.
 *
 * The record holding the attributes ("home") is the entry key, the 'I' key of a hard-linked
 * file, or the 'O' key of a file unlinked while open; namespace.c tells us when it moves.
 *
 * Big sequential writes.  Sending a big file through the WAL, the memtable and its flush writes
 * every byte twice before compaction rewrites it again.  So once a file has buffered FS_DIRTY_MAX
 * of whole chunks that all lie past its stored size, they go into an lsm_ingest (a table of their
 * own, placed deep in the tree) instead of a batch, and so do the whole chunks that the following
 * writes append, until the next commit of the file, which commits the table first and then the size
 * in the usual batch.  Until then the ingested chunks are not in the store: anything else that
 * touches their index range (a read, an overwrite, a truncate) commits first.  The size must never
 * cover chunks that are not there, and chunks with data past the size must never survive (a later
 * truncate-up would show them): between the table and the batch a crash would leave exactly that.
 * So before an ingest starts, a 'P' + ino record saying "chunks from index N on may be uncommitted"
 * is written and synced, the commit batch deletes it, and mount (fs_orphans_cleanup) deletes the
 * chunks a leftover one names, then the record.
 *
 * A write that is nothing but whole chunks appended at the ingest's end cannot be refused any
 * more, so fs_file_write_ack lets the caller reply before the chunks are checksummed and
 * written to the table (the lock is held until they are): the writer's next request crosses
 * the kernel while this one is written, instead of after.  A failure from then on is a
 * writeback error: kept in late_err and returned by the next flush, fsync or close.
 */
#include "fscore_int.h"

#include <errno.h>
#include <linux/falloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static unsigned bucket(uint64_t ino) { return (unsigned)(ino % FS_OPEN_BUCKETS); }

/* The number of chunks that bytes [0, size) touch: the index of the first chunk past them. */
static uint64_t chunk_count(uint64_t size) { return (size + FS_CHUNK_SIZE - 1) / FS_CHUNK_SIZE; }

fs_file *fs_open_find_locked(fscore *fs, uint64_t ino)
{
    for (fs_file *f = fs->open[bucket(ino)]; f; f = f->next)
        if (f->ino == ino)
            return f;
    return NULL;
}

void fs_open_merge_times_locked(fscore *fs, fs_attr *a)
{
    fs_file *f = fs_open_find_locked(fs, a->ino);
    if (f && f->times_dirty) {
        a->mtime = f->mtime;
        f->ctime = a->ctime;
    }
}

void fs_open_overlay_locked(fscore *fs, struct stat *st)
{
    fs_file *f = fs_open_find_locked(fs, (uint64_t)st->st_ino);
    if (!f || !S_ISREG(st->st_mode))
        return;
    st->st_size = (off_t)f->size;
    if (f->times_dirty) {
        st->st_mtim = f->mtime;
        st->st_ctim = f->ctime;
    }
    /* buffered chunks count when they are known to add a chunk key: an overwrite (or a write
     * into space fallocate allocated) adds no block, as on ext4 */
    uint64_t added = f->ing_chunks;
    for (size_t i = 0; i < f->nchunks; i++)
        added += f->chunks[i].stored == 0;
    uint32_t flags = f->beyond ? FS_FLAG_BEYOND : f->size <= FS_INLINE_MAX ? FS_FLAG_INLINE : 0;
    uint64_t est = fs_file_blocks(f->size, f->stored_chunks + added, flags);
    if ((uint64_t)st->st_blocks < est)
        st->st_blocks = (blkcnt_t)est;
}

int fs_open_rehome_locked(fscore *fs, uint64_t ino, const char *key, size_t key_len)
{
    fs_file *f = fs_open_find_locked(fs, ino);
    if (!f)
        return 0;
    fs_buf_reset(&f->home);
    return fs_buf_add(&f->home, key, key_len);
}

/* If path p equals or lies under old, write new + the rest of p into out and return 1. */
static int map_path(const char *p, const char *old, const char *nw, fs_buf *out)
{
    size_t ol = strlen(old);
    if (strncmp(p, old, ol) != 0 || (p[ol] != '\0' && p[ol] != '/'))
        return 0;
    fs_buf_reset(out);
    if (fs_buf_add(out, nw, strlen(nw)) || fs_buf_add(out, p + ol, strlen(p + ol)))
        return -ENOMEM;
    return 1;
}

int fs_open_rename_locked(fscore *fs, const char *from, const char *to, int exchange)
{
    fs_buf path, np;
    fs_buf_init(&path);
    fs_buf_init(&np);
    int r = 0;
    for (int i = 0; r == 0 && i < FS_OPEN_BUCKETS; i++) {
        for (fs_file *f = fs->open[i]; r == 0 && f; f = f->next) {
            if (f->home.len == 0 || (f->home.data[0] != FS_KEY_ENTRY))
                continue; /* root, inode and orphan records do not move */
            if (fs_key_to_path(f->home.data, f->home.len, &path))
                continue;
            int m = map_path(path.data, from, to, &np);
            if (m == 0 && exchange)
                m = map_path(path.data, to, from, &np);
            if (m < 0)
                r = m;
            else if (m == 1)
                r = fs_key_path(&f->home, np.data, np.len);
        }
    }
    fs_buf_free(&path);
    fs_buf_free(&np);
    return r;
}

static fs_chunk *find_chunk(fs_file *f, uint64_t idx)
{
    for (size_t i = 0; i < f->nchunks; i++)
        if (f->chunks[i].idx == idx)
            return &f->chunks[i];
    return NULL;
}

static void drop_chunk(fs_file *f, fs_chunk *c)
{
    free(c->data);
    *c = f->chunks[--f->nchunks];
    f->fs->dirty_chunks--;
}

static void drop_all_chunks(fs_file *f)
{
    for (size_t i = 0; i < f->nchunks; i++)
        free(f->chunks[i].data);
    f->fs->dirty_chunks -= f->nchunks;
    f->nchunks = 0;
}

/* The stored contents of chunk idx into dst (FS_CHUNK_SIZE bytes, zero-filled); sets *exists to
 * 0 (a hole), 1 (stored) or FS_CHUNK_UNWRITTEN (stored empty: allocated, never written). */
static int load_stored_chunk(fs_file *f, uint64_t idx, char *dst, int *exists)
{
    memset(dst, 0, FS_CHUNK_SIZE);
    *exists = 0;
    if (f->stored_inline) {
        if (idx == 0 && f->inl_len)
            memcpy(dst, f->inl, f->inl_len);
        return 0;
    }
    if (idx * FS_CHUNK_SIZE >= f->stored_size)
        return 0;
    fs_buf k;
    fs_buf_init(&k);
    int r = fs_key_chunk(&k, f->ino, idx);
    void *v = NULL;
    size_t vl = 0;
    if (r == 0)
        r = lsm_get(f->fs->db, NULL, k.data, k.len, &v, &vl);
    fs_buf_free(&k);
    if (r == -ENOENT)
        return 0; /* a hole */
    if (r)
        return r;
    *exists = vl ? 1 : FS_CHUNK_UNWRITTEN;
    memcpy(dst, v, vl < FS_CHUNK_SIZE ? vl : FS_CHUNK_SIZE);
    lsm_free(v);
    return 0;
}

/* The dirty buffer of chunk idx, created if needed; it is loaded from the store unless the
 * bytes [lo, hi) about to be written cover all the stored data of the chunk. */
static int get_chunk(fs_file *f, uint64_t idx, size_t lo, size_t hi, fs_chunk **out)
{
    fs_chunk *c = find_chunk(f, idx);
    if (c) {
        *out = c;
        return 0;
    }
    if (f->nchunks == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        fs_chunk *n = realloc(f->chunks, cap * sizeof *n);
        if (!n)
            return -ENOMEM;
        f->chunks = n;
        f->cap = cap;
    }
    char *data = malloc(FS_CHUNK_SIZE);
    if (!data)
        return -ENOMEM;
    uint64_t start = idx * FS_CHUNK_SIZE;
    uint64_t stored_end = f->stored_size > start ? f->stored_size - start : 0;
    if (stored_end > FS_CHUNK_SIZE)
        stored_end = FS_CHUNK_SIZE;
    int stored = 0;
    int whole = lo == 0 && hi == FS_CHUNK_SIZE; /* the caller fills every byte */
    /* load_stored_chunk looks nothing up past the stored size (only zeros can lie there), but
     * fallocate may have allocated the chunk: leave it to the commit to learn whether it did */
    int unknown = f->beyond && start >= f->stored_size;
    if (stored_end == 0 && !(f->stored_inline && idx == 0)) {
        if (!whole)
            memset(data, 0, FS_CHUNK_SIZE);
    } else if (!f->stored_inline && lo == 0 && hi >= stored_end) {
        if (!whole)
            memset(data, 0, FS_CHUNK_SIZE);
        stored = -1; /* whole stored part overwritten: no need to read it */
    } else {
        int r = load_stored_chunk(f, idx, data, &stored);
        if (r) {
            free(data);
            return r;
        }
        if (f->stored_inline)
            stored = 0;
    }
    if (unknown)
        stored = -1;
    c = &f->chunks[f->nchunks++];
    f->fs->dirty_chunks++;
    c->idx = idx;
    c->data = data;
    c->stored = stored;
    *out = c;
    return 0;
}

static void touch(fs_file *f)
{
    fs_now(f->fs, &f->mtime);
    f->ctime = f->mtime;
    f->times_dirty = 1;
    f->dirty = 1;
}

/* Commit f's open ingest, if any: its chunks are in the store afterwards (the size is not,
 * until the batch that follows).  On failure the chunks are lost (their writes were already
 * acknowledged: the error reaches the caller of flush/fsync/close, as a writeback error). */
static int ingest_finish(fs_file *f)
{
    if (!f->ing)
        return 0;
    int r = lsm_ingest_commit(f->ing);
    f->ing = NULL;
    if (r == 0)
        f->stored_chunks += f->ing_chunks;
    f->ing_chunks = 0;
    f->ing_lo = f->ing_next = 0;
    return r ? fs_store_error(f->fs, r) : 0;
}

static int ingest_put(fs_file *f, uint64_t idx, const char *data, fs_buf *k)
{
    int r = fs_key_chunk(k, f->ino, idx);
    if (r == 0)
        r = lsm_ingest_put(f->ing, k->data, k->len, data, FS_CHUNK_SIZE);
    if (r)
        return fs_store_error(f->fs, r);
    f->ing_next = idx + 1;
    f->ing_chunks++;
    return 0;
}

static int cmp_idx(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Move f's buffered chunks that are whole and lie past the stored size (and past what the
 * open ingest already holds) into the ingest, starting one -- after the 'P' record covering
 * them is durable -- if most of the buffer qualifies; otherwise leave the buffer alone. */
static int ingest_take(fs_file *f)
{
    fscore *fs = f->fs;
    /* A file whose record still holds its contents inline first commits through a batch:
     * the chunk conversion and chunk deletions of a commit assume a chunked file. */
    if (fs->read_only || f->nchunks == 0 || f->stored_inline)
        return 0;
    /* chunks fallocate allocated past the size must be written over through the batch path,
     * which counts them (an ingested chunk is taken as new) */
    if (f->beyond)
        return 0;
    uint64_t *idx = malloc(f->nchunks * sizeof *idx);
    if (!idx)
        return -ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < f->nchunks; i++) {
        uint64_t c = f->chunks[i].idx;
        if (c * FS_CHUNK_SIZE >= f->stored_size && (c + 1) * FS_CHUNK_SIZE <= f->size &&
            (!f->ing || c >= f->ing_next))
            idx[n++] = c;
    }
    if (n * 2 < f->nchunks || n * FS_CHUNK_SIZE < FS_DIRTY_MAX / 2) {
        free(idx);
        return 0; /* not a sequential write past the end: the batch path is right */
    }
    qsort(idx, n, sizeof *idx, cmp_idx);
    fs_buf k;
    fs_buf_init(&k);
    int r = 0;
    if (!f->ing && !f->pending) {
        char v[8];
        fs_put_be64(v, idx[0]);
        lsm_write_options wo = fs->wo;
        wo.sync = 1; /* on disk before the table can be: see the top of this file */
        r = fs_key_inode(&k, FS_KEY_PENDING, f->ino);
        if (r == 0)
            r = fs_store_error(fs, lsm_put(fs->db, &wo, k.data, k.len, v, sizeof v));
        if (r == 0)
            f->pending = 1;
    }
    if (r == 0 && !f->ing) {
        r = fs_store_error(fs, lsm_ingest_begin(fs->db, &f->ing));
        if (r == 0)
            f->ing_lo = f->ing_next = idx[0];
    }
    for (size_t i = 0; r == 0 && i < n; i++) {
        fs_chunk *c = find_chunk(f, idx[i]);
        r = ingest_put(f, idx[i], c->data, &k);
        if (r == 0)
            drop_chunk(f, c);
    }
    fs_buf_free(&k);
    free(idx);
    return r;
}

/* Make f's state the store's: dirty chunks, size, times, inline contents; delete stored chunks
 * with index in [del_lo, del_hi) in the same batch. */
int fs_file_commit_locked(fs_file *f, uint64_t del_lo, uint64_t del_hi)
{
    fscore *fs = f->fs;
    int r = ingest_finish(f);
    if (r)
        return r;
    if (!f->dirty && del_lo >= del_hi)
        return 0;
    if (fs->read_only)
        return -EROFS;
    fs_node n;
    fs_node_init(&n);
    fs_buf k;
    fs_buf_init(&k);
    char *inl = NULL;
    lsm_batch *b = lsm_batch_new();
    if (!b)
        return -ENOMEM;
    r = fs_load_locked(fs, f->home.data, f->home.len, &n);
    fs_attr a = n.a;
    long deleted = 0;
    fs_delta d = {0}; /* unwritten chunks this batch fills or deletes */
    if (r == 0 && f->pending) {
        r = fs_key_inode(&k, FS_KEY_PENDING, f->ino);
        if (r == 0)
            r = lsm_batch_delete(b, k.data, k.len);
    }
    if (r == 0 && del_lo < del_hi && !f->stored_inline) {
        deleted = fs_batch_delete_chunks(fs, b, f->ino, del_lo, del_hi, &d);
        if (deleted < 0)
            r = (int)deleted;
    }
    uint64_t chunks = f->stored_inline ? 0 : f->stored_chunks - (uint64_t)(deleted > 0 ? deleted : 0);
    /* deleting every chunk from the first one past the size on leaves none beyond it */
    int beyond = f->beyond && !(del_hi == UINT64_MAX && del_lo <= chunk_count(f->size));
    size_t inl_len = 0;
    if (r == 0 && f->size <= FS_INLINE_MAX && !beyond) {
        inl_len = (size_t)f->size;
        inl = calloc(1, FS_CHUNK_SIZE);
        if (!inl)
            r = -ENOMEM;
        fs_chunk *c0 = find_chunk(f, 0);
        int exists = 0;
        if (r == 0 && c0)
            memcpy(inl, c0->data, inl_len);
        else if (r == 0 && !(del_lo == 0 && del_hi > 0))
            r = load_stored_chunk(f, 0, inl, &exists);
        if (r == 0 && !f->stored_inline && chunks > 0 && !(del_lo == 0 && del_hi > 0)) {
            long gone = fs_batch_delete_chunks(fs, b, f->ino, 0, 1, &d);
            r = gone < 0 ? (int)gone : 0;
        }
        chunks = 0;
        a.flags |= FS_FLAG_INLINE;
        a.flags &= ~FS_FLAG_BEYOND;
    } else if (r == 0) {
        uint64_t had = chunks;
        for (size_t i = 0; r == 0 && i < f->nchunks; i++) {
            fs_chunk *c = &f->chunks[i];
            uint64_t start = c->idx * FS_CHUNK_SIZE;
            if (start >= f->size)
                continue;
            uint64_t len = f->size - start < FS_CHUNK_SIZE ? f->size - start : FS_CHUNK_SIZE;
            if (c->stored < 0) {
                /* learn whether this put adds a chunk, for the block count */
                void *v;
                size_t vl;
                r = fs_key_chunk(&k, f->ino, c->idx);
                if (r == 0)
                    r = lsm_get(fs->db, NULL, k.data, k.len, &v, &vl);
                if (r == 0) {
                    lsm_free(v);
                    c->stored = vl ? 1 : FS_CHUNK_UNWRITTEN;
                } else if (r == -ENOENT) {
                    r = 0;
                    c->stored = 0;
                }
            }
            /* a put adds a chunk unless one is stored there and survives this batch */
            int survives = c->stored && !(del_lo <= c->idx && c->idx < del_hi);
            if (r == 0 && !survives)
                chunks++;
            if (survives && c->stored == FS_CHUNK_UNWRITTEN)
                d.unwritten--; /* written at last */
            if (r == 0)
                r = fs_key_chunk(&k, f->ino, c->idx);
            if (r == 0)
                r = lsm_batch_put(b, k.data, k.len, c->data, (size_t)len);
        }
        if (r == 0 && f->stored_inline && f->inl_len > 0 && !find_chunk(f, 0)) {
            r = fs_key_chunk(&k, f->ino, 0);
            if (r == 0)
                r = lsm_batch_put(b, k.data, k.len, f->inl, f->inl_len);
            chunks++;
        }
        a.flags &= ~FS_FLAG_INLINE;
        a.flags = beyond ? a.flags | FS_FLAG_BEYOND : a.flags & ~FS_FLAG_BEYOND;
        /* space fallocate promised is not for new chunks of anyone else (ext4: ENOSPC) */
        uint64_t avail;
        if (r == 0 && fs->unwritten && chunks > had && fs_space_avail_locked(fs, &avail) == 0 &&
            (chunks - had) > avail / FS_CHUNK_SIZE)
            r = -ENOSPC;
    }
    if (r == 0) {
        a.size = f->size;
        a.chunks = chunks;
        if (f->times_dirty) {
            a.mtime = f->mtime;
            a.ctime = f->ctime;
        }
        r = fs_batch_put_rec(b, &n, &a, inl, inl_len);
    }
    if (r == 0)
        r = fs_write_delta_locked(fs, b, &d);
    if (r == 0) {
        drop_all_chunks(f);
        free(f->inl);
        f->inl = NULL;
        f->inl_len = 0;
        f->stored_inline = (a.flags & FS_FLAG_INLINE) != 0;
        if (f->stored_inline && inl_len) {
            f->inl = inl;
            f->inl_len = inl_len;
            inl = NULL;
        }
        f->stored_size = f->size;
        f->stored_chunks = chunks;
        f->beyond = beyond;
        f->dirty = 0;
        f->times_dirty = 0;
        f->pending = 0;
    }
    free(inl);
    lsm_batch_free(b);
    fs_buf_free(&k);
    fs_node_free(&n);
    return r;
}

int fs_open_commit_all_locked(fscore *fs)
{
    int first = 0;
    for (int i = 0; i < FS_OPEN_BUCKETS; i++)
        for (fs_file *f = fs->open[i]; f; f = f->next) {
            int r = fs_file_commit_locked(f, 0, 0);
            if (r && !first)
                first = r;
        }
    return first;
}

int fs_file_get_locked(fscore *fs, const fs_node *n, fs_file **out)
{
    fs_file *f = fs_open_find_locked(fs, n->a.ino);
    if (f) {
        f->refs++;
        *out = f;
        return 0;
    }
    f = calloc(1, sizeof *f);
    if (!f)
        return -ENOMEM;
    f->fs = fs;
    f->refs = 1;
    f->ino = n->a.ino;
    fs_buf_init(&f->home);
    if (fs_buf_add(&f->home, n->hkey.data, n->hkey.len)) {
        free(f);
        return -ENOMEM;
    }
    f->size = f->stored_size = n->a.size;
    f->stored_inline = (n->a.flags & FS_FLAG_INLINE) != 0;
    f->beyond = (n->a.flags & FS_FLAG_BEYOND) != 0;
    f->stored_chunks = n->a.chunks;
    if (f->stored_inline && n->tail_len) {
        f->inl = malloc(n->tail_len);
        if (!f->inl) {
            fs_buf_free(&f->home);
            free(f);
            return -ENOMEM;
        }
        memcpy(f->inl, n->tail, n->tail_len);
        f->inl_len = n->tail_len;
    }
    f->mtime = n->a.mtime;
    f->ctime = n->a.ctime;
    unsigned bk = bucket(f->ino);
    f->next = fs->open[bk];
    fs->open[bk] = f;
    *out = f;
    return 0;
}

static int type_error(mode_t mode)
{
    if (S_ISDIR(mode))
        return -EISDIR;
    if (S_ISLNK(mode))
        return -ELOOP;
    return -EINVAL;
}

static int truncate_locked(fs_file *f, uint64_t size);

/* The shared file of node n, resolved with result r: it must be a regular file. */
static int get_regular_locked(fscore *fs, const fs_node *n, int r, fs_file **out)
{
    if (r == 0 && !S_ISREG(n->a.mode))
        r = type_error(n->a.mode);
    return r ? r : fs_file_get_locked(fs, n, out);
}

int fs_file_open(fscore *fs, const char *path, int trunc, fs_file **out)
{
    fs_node n;
    fs_node_init(&n);
    pthread_rwlock_wrlock(&fs->lock);
    int r = get_regular_locked(fs, &n, fs_resolve_locked(fs, path, &n), out);
    /* even an empty file: O_TRUNC of an existing file marks mtime and ctime (POSIX open) */
    if (r == 0 && trunc) {
        r = truncate_locked(*out, 0);
        if (r)
            fs_file_put_locked(*out); /* a failed open must not keep the file */
    }
    pthread_rwlock_unlock(&fs->lock);
    fs_node_free(&n);
    if (r)
        *out = NULL;
    return r;
}

int fs_file_open_ino(fscore *fs, uint64_t ino, fs_file **out)
{
    fs_node n;
    fs_node_init(&n);
    pthread_rwlock_wrlock(&fs->lock);
    int r = get_regular_locked(fs, &n, fs_resolve_node_locked(fs, NULL, ino, &n), out);
    pthread_rwlock_unlock(&fs->lock);
    fs_node_free(&n);
    if (r)
        *out = NULL;
    return r;
}

int fs_file_create(fscore *fs, const char *path, mode_t mode, int excl, const fs_cred *who,
                   fs_file **out)
{
    fs_node n;
    fs_node_init(&n);
    pthread_rwlock_wrlock(&fs->lock);
    int r = fs_resolve_locked(fs, path, &n);
    if (r == 0) {
        if (excl)
            r = -EEXIST;
        else if (!S_ISREG(n.a.mode))
            r = type_error(n.a.mode);
    } else if (r == -ENOENT) {
        r = fs_create_locked(fs, path, S_IFREG | (mode & 07777), 0, who, NULL, &n);
    }
    if (r == 0)
        r = fs_file_get_locked(fs, &n, out);
    pthread_rwlock_unlock(&fs->lock);
    fs_node_free(&n);
    if (r)
        *out = NULL;
    return r;
}

/* Bytes [in, in + m) of stored chunk idx into out: zeros for a hole or past the stored value.
 * A read from the chunk's start goes from the table file straight into out (lsm_get_into: no
 * block buffer, no copy), which is how a big sequential read meets every chunk; a read
 * from inside a chunk takes a copy.  Chunk contents bypass the block cache: the kernel's page
 * cache keeps what was read (keep_cache), and streaming a big file through the cache would only
 * evict the entry and index blocks that lookups and listings need. */
static int read_stored(fs_file *f, fs_buf *k, uint64_t idx, size_t in, size_t m, char *out)
{
    lsm_read_options ro;
    lsm_read_options_init(&ro);
    ro.fill_cache = 0;
    int r = fs_key_chunk(k, f->ino, idx);
    size_t vl = 0, have = 0;
    if (r == 0 && in == 0) {
        r = lsm_get_into(f->fs->db, &ro, k->data, k->len, out, m, &vl);
        have = vl < m ? vl : m;
    } else if (r == 0) {
        void *v = NULL;
        r = lsm_get(f->fs->db, &ro, k->data, k->len, &v, &vl);
        have = r == 0 && in < vl ? (vl - in < m ? vl - in : m) : 0;
        if (have)
            memcpy(out, (const char *)v + in, have);
        lsm_free(v);
    }
    if (r == -ENOENT)
        r = 0; /* a hole */
    if (r == 0)
        memset(out + have, 0, m - have); /* a hole, or a short chunk past its end */
    return r;
}

ssize_t fs_file_read(fs_file *f, void *buf, size_t n, off_t off)
{
    fscore *fs = f->fs;
    if (off < 0)
        return -EINVAL;
    pthread_rwlock_rdlock(&fs->lock);
    while (f->ing && (uint64_t)off / FS_CHUNK_SIZE < f->ing_next &&
           ((uint64_t)off + n + FS_CHUNK_SIZE - 1) / FS_CHUNK_SIZE > f->ing_lo) {
        /* the ingest's chunks are readable only once committed, which needs the lock
         * exclusive */
        pthread_rwlock_unlock(&fs->lock);
        pthread_rwlock_wrlock(&fs->lock);
        int e = f->ing ? fs_file_commit_locked(f, 0, 0) : 0;
        pthread_rwlock_unlock(&fs->lock);
        if (e)
            return e;
        pthread_rwlock_rdlock(&fs->lock);
    }
    uint64_t size = f->size;
    ssize_t r = 0;
    if ((uint64_t)off >= size) {
        pthread_rwlock_unlock(&fs->lock);
        return 0;
    }
    if (n > size - (uint64_t)off)
        n = (size_t)(size - (uint64_t)off);
    char *out = buf;
    uint64_t pos = (uint64_t)off, end = pos + n;
    fs_buf k;
    fs_buf_init(&k);
    while (r == 0 && pos < end) {
        uint64_t idx = pos / FS_CHUNK_SIZE;
        size_t in = (size_t)(pos % FS_CHUNK_SIZE);
        size_t m = FS_CHUNK_SIZE - in;
        if (m > end - pos)
            m = (size_t)(end - pos);
        fs_chunk *c = find_chunk(f, idx);
        if (c) {
            memcpy(out, c->data + in, m);
        } else if (f->stored_inline || idx * FS_CHUNK_SIZE >= f->stored_size) {
            memset(out, 0, m);
            if (f->stored_inline && idx == 0 && in < f->inl_len) {
                size_t have = f->inl_len - in < m ? f->inl_len - in : m;
                memcpy(out, f->inl + in, have);
            }
        } else {
            int e = read_stored(f, &k, idx, in, m, out);
            if (e) {
                r = e;
                break;
            }
        }
        out += m;
        pos += m;
    }
    fs_buf_free(&k);
    pthread_rwlock_unlock(&fs->lock);
    if (r < 0 && pos == (uint64_t)off)
        return r;
    return (ssize_t)(pos - (uint64_t)off);
}

/* Whether the write [off, off + n) goes whole into the open ingest, chunk after chunk from its
 * end on, so that nothing can refuse it any more (only the table's write can fail). */
static int ingest_append(const fs_file *f, size_t n, uint64_t off)
{
    return f->ing && n > 0 && off % FS_CHUNK_SIZE == 0 && n % FS_CHUNK_SIZE == 0 &&
           off / FS_CHUNK_SIZE == f->ing_next && !f->fs->read_only;
}

ssize_t fs_file_write(fs_file *f, const void *buf, size_t n, off_t off)
{
    int acked;
    return fs_file_write_ack(f, buf, n, off, NULL, NULL, &acked);
}

ssize_t fs_file_write_ack(fs_file *f, const void *buf, size_t n, off_t off,
                          void (*ack)(void *arg), void *arg, int *acked)
{
    fscore *fs = f->fs;
    *acked = 0;
    if (off < 0)
        return -EINVAL;
    if (fs->read_only)
        return -EROFS;
    if ((uint64_t)off + n > (uint64_t)INT64_MAX)
        return -EFBIG;
    pthread_rwlock_wrlock(&fs->lock);
    if (ack && ingest_append(f, n, (uint64_t)off)) {
        /* The lock is held until the chunks are in the ingest: nobody sees the file before. */
        ack(arg);
        *acked = 1;
    }
    const char *in = buf;
    uint64_t pos = (uint64_t)off, end = pos + n;
    int r = 0;
    fs_buf k;
    fs_buf_init(&k);
    while (r == 0 && pos < end) {
        uint64_t idx = pos / FS_CHUNK_SIZE;
        size_t lo = (size_t)(pos % FS_CHUNK_SIZE);
        size_t m = FS_CHUNK_SIZE - lo;
        if (m > end - pos)
            m = (size_t)(end - pos);
        int in_ing = f->ing && idx >= f->ing_lo && idx < f->ing_next;
        if (in_ing && m < FS_CHUNK_SIZE) {
            /* part of a chunk the ingest may hold: its bytes must be stored to be kept */
            r = fs_file_commit_locked(f, 0, 0);
            in_ing = 0;
        }
        if (r)
            break;
        if (f->ing && m == FS_CHUNK_SIZE && idx == f->ing_next) {
            /* the next whole chunk of the ingest: straight from the caller's buffer */
            fs_chunk *old = find_chunk(f, idx);
            if (old)
                drop_chunk(f, old);
            r = ingest_put(f, idx, in, &k);
        } else {
            /* (A whole chunk over one the ingest may hold is buffered: the batch with it
             * comes after the ingest's table, so it wins -- the kernel's writeback cache
             * does send some ranges twice.) */
            fs_chunk *c;
            r = get_chunk(f, idx, lo, lo + m, &c);
            if (r == 0 && in_ing)
                c->stored = -1; /* the commit learns whether the ingest had it */
            if (r == 0)
                memcpy(c->data + lo, in, m);
        }
        if (r)
            break;
        in += m;
        pos += m;
        if (pos > f->size)
            f->size = pos;
        if (fs->kernel_times)
            f->dirty = 1;
        else
            touch(f);
    }
    /* Chunks that arrived ahead of the ingest's end (the kernel may send the writes of one
     * writer out of order) follow it once the gap is filled. */
    for (fs_chunk *c; r == 0 && f->ing && (c = find_chunk(f, f->ing_next)) &&
                      (c->idx + 1) * FS_CHUNK_SIZE <= f->size;) {
        r = ingest_put(f, c->idx, c->data, &k);
        if (r == 0)
            drop_chunk(f, c);
    }
    fs_buf_free(&k);
    if (r == 0 && f->nchunks * (size_t)FS_CHUNK_SIZE >= FS_DIRTY_MAX)
        r = ingest_take(f);
    if (r == 0 && (f->nchunks * (size_t)FS_CHUNK_SIZE >= FS_DIRTY_MAX ||
                   (f->ing && lsm_ingest_bytes(f->ing) >= FS_INGEST_MAX)))
        r = fs_file_commit_locked(f, 0, 0);
    if (r == 0 && fs->dirty_chunks * (size_t)FS_CHUNK_SIZE >= FS_DIRTY_TOTAL_MAX)
        r = fs_open_commit_all_locked(fs); /* many files each under their own bound */
    if (r && *acked && !f->late_err)
        f->late_err = r; /* the writer was told it worked: tell its flush or fsync */
    pthread_rwlock_unlock(&fs->lock);
    if (r && pos == (uint64_t)off)
        return r;
    return (ssize_t)(pos - (uint64_t)off);
}

/* Before chunks are deleted or partly rewritten: an open ingest's chunks must be in the store,
 * and so must the size that covers them, since get_chunk reads only chunks below the stored
 * size (committing the table alone would leave them there but unseen, and a partial rewrite
 * would start from zeros). */
static int ingest_commit_all(fs_file *f)
{
    return f->ing ? fs_file_commit_locked(f, 0, 0) : 0;
}

/* Zero [lo, hi) of f (hi <= size): whole chunks are dropped and deleted from the store, the
 * partial ones at each end are zeroed in the buffer; commits. */
static int zero_range_locked(fs_file *f, uint64_t lo, uint64_t hi)
{
    uint64_t del_lo = UINT64_MAX, del_hi = 0;
    int r = ingest_commit_all(f);
    for (uint64_t idx = lo / FS_CHUNK_SIZE; r == 0 && idx * FS_CHUNK_SIZE < hi; idx++) {
        uint64_t cs = idx * FS_CHUNK_SIZE, ce = cs + FS_CHUNK_SIZE;
        uint64_t a = lo > cs ? lo : cs, z = hi < ce ? hi : ce;
        int whole = a == cs && (z == ce || hi >= f->size) && !(f->stored_inline && idx == 0);
        if (whole) {
            fs_chunk *c = find_chunk(f, idx);
            if (c)
                drop_chunk(f, c);
            if (idx < del_lo)
                del_lo = idx;
            del_hi = idx + 1;
        } else {
            fs_chunk *c;
            r = get_chunk(f, idx, 0, 0, &c);
            if (r == 0)
                memset(c->data + (a - cs), 0, (size_t)(z - a));
        }
    }
    if (r)
        return r;
    touch(f);
    return fs_file_commit_locked(f, del_lo, del_hi);
}

static int truncate_locked(fs_file *f, uint64_t size)
{
    int r = ingest_commit_all(f);
    if (r)
        return r;
    if (size < f->size) {
        /* drop buffered chunks past the end, zero the tail of the last one, delete the
         * stored chunks past the end in the commit */
        for (size_t i = 0; i < f->nchunks;) {
            if (f->chunks[i].idx * FS_CHUNK_SIZE >= size)
                drop_chunk(f, &f->chunks[i]);
            else
                i++;
        }
        uint64_t first_gone = chunk_count(size);
        if (size % FS_CHUNK_SIZE) {
            uint64_t idx = size / FS_CHUNK_SIZE;
            fs_chunk *c;
            r = get_chunk(f, idx, 0, 0, &c);
            if (r)
                return r;
            size_t cut = (size_t)(size % FS_CHUNK_SIZE);
            memset(c->data + cut, 0, FS_CHUNK_SIZE - cut);
        }
        f->size = size;
        touch(f);
        return fs_file_commit_locked(f, first_gone, UINT64_MAX);
    }
    if (size > f->size) {
        f->size = size;
        touch(f);
        return fs_file_commit_locked(f, 0, 0);
    }
    touch(f); /* truncate to the same size still updates the times (POSIX) */
    /* and, as on ext4, frees what fallocate allocated past the end */
    return f->beyond ? fs_file_commit_locked(f, chunk_count(size), UINT64_MAX) : 0;
}

int fs_file_truncate(fs_file *f, off_t size)
{
    if (size < 0)
        return -EINVAL;
    if (f->fs->read_only)
        return -EROFS;
    pthread_rwlock_wrlock(&f->fs->lock);
    int r = truncate_locked(f, (uint64_t)size);
    pthread_rwlock_unlock(&f->fs->lock);
    return r;
}

/* The chunk keys of one file with index in [first, end), read in order without filling the
 * block cache (a scan of chunk keys touches blocks nobody reads next). */
typedef struct chunk_scan {
    fs_buf lo, hi;
    lsm_iter *it;
} chunk_scan;

static int chunk_scan_open(fs_file *f, uint64_t first, uint64_t end, chunk_scan *s)
{
    fs_buf_init(&s->lo);
    fs_buf_init(&s->hi);
    s->it = NULL;
    int r = fs_key_chunk(&s->lo, f->ino, first);
    if (r == 0)
        r = fs_key_chunk(&s->hi, f->ino, end);
    return r ? r : fs_iter_range(f->fs, &s->lo, &s->hi, 0, &s->it);
}

/* The index of the key at s's position (its value length in *vl), or UINT64_MAX at the end. */
static uint64_t chunk_scan_at(const chunk_scan *s, size_t *vl)
{
    size_t kl;
    while (lsm_iter_valid(s->it)) {
        const char *k = lsm_iter_key(s->it, &kl);
        lsm_iter_value(s->it, vl);
        if (kl == s->lo.len)
            return fs_get_be64(k + kl - 8);
        lsm_iter_next(s->it); /* not a chunk key of this schema */
    }
    return UINT64_MAX;
}

/* Close s; returns the iterator's status (0, or the error that ended the scan early). */
static int chunk_scan_close(chunk_scan *s)
{
    int r = s->it ? lsm_iter_status(s->it) : 0;
    lsm_iter_free(s->it);
    fs_buf_free(&s->lo);
    fs_buf_free(&s->hi);
    return r;
}

/* Call fn(f, idx, arg) for every chunk index in [first, end) that the store holds no key for;
 * stops at the first non-zero return. */
static int for_each_hole(fs_file *f, uint64_t first, uint64_t end,
                         int (*fn)(fs_file *f, uint64_t idx, void *arg), void *arg)
{
    chunk_scan s;
    int r = chunk_scan_open(f, first, end, &s);
    uint64_t next = first;
    size_t vl;
    for (uint64_t at; r == 0 && (at = chunk_scan_at(&s, &vl)) != UINT64_MAX;
         lsm_iter_next(s.it)) {
        for (; r == 0 && next < at; next++)
            r = fn(f, next, arg);
        next = at + 1;
    }
    if (r == 0)
        r = lsm_iter_status(s.it); /* an error ends the scan early: those are no holes */
    for (; r == 0 && next < end; next++)
        r = fn(f, next, arg);
    int r2 = chunk_scan_close(&s);
    return r ? r : r2;
}

static int count_hole(fs_file *f, uint64_t idx, void *arg)
{
    (*(uint64_t *)arg)++;
    return 0;
}

/* Chunks allocated by alloc_range_locked go to the store in batches of this many. */
#define FS_ALLOC_BATCH 4096

struct alloc_state {
    lsm_batch *b;
    fs_buf k;
    long n; /* empty chunks in b */
};

/* Write the allocations gathered in st->b, with the record's chunk count, as one batch. */
static int alloc_flush(fs_file *f, struct alloc_state *st)
{
    if (st->n == 0)
        return 0;
    fs_node n;
    fs_node_init(&n);
    int r = fs_load_locked(f->fs, f->home.data, f->home.len, &n);
    fs_attr a = n.a;
    a.chunks = f->stored_chunks + (uint64_t)st->n;
    if (r == 0)
        r = fs_batch_put_rec(st->b, &n, &a, n.tail, n.tail_len);
    if (r == 0)
        r = fs_write_delta_locked(f->fs, st->b, &(fs_delta){.unwritten = st->n});
    if (r == 0)
        f->stored_chunks = a.chunks;
    lsm_batch_clear(st->b);
    st->n = 0;
    fs_node_free(&n);
    return r;
}

static int alloc_hole(fs_file *f, uint64_t idx, void *arg)
{
    struct alloc_state *st = arg;
    int r = fs_key_chunk(&st->k, f->ino, idx);
    if (r == 0)
        r = lsm_batch_put(st->b, st->k.data, st->k.len, "", 0);
    if (r == 0 && ++st->n == FS_ALLOC_BATCH)
        r = alloc_flush(f, st);
    return r;
}

/* Allocate the chunks of bytes [lo, hi) (hi <= size, or f->beyond) that the store holds nothing
 * for, as ext4 allocates unwritten extents: each gets an empty value, which reads as zeros, counts
 * in st_blocks and, as promised space, in statfs (fs->unwritten).  -ENOSPC, allocating nothing, if
 * they do not fit in the free space.  Commits f first, so that no buffer covers them. */
static int alloc_range_locked(fs_file *f, uint64_t lo, uint64_t hi)
{
    int r = fs_file_commit_locked(f, 0, 0);
    if (r || lo >= hi || f->stored_inline)
        return r; /* contents inline: nothing to allocate (the record holds them) */
    uint64_t first = lo / FS_CHUNK_SIZE, end = chunk_count(hi), need = 0;
    uint64_t avail;
    r = for_each_hole(f, first, end, count_hole, &need);
    if (r == 0)
        r = fs_space_avail_locked(f->fs, &avail);
    if (r == 0 && need > avail / FS_CHUNK_SIZE)
        r = -ENOSPC;
    if (r || need == 0)
        return r;
    struct alloc_state st = {.b = lsm_batch_new()};
    fs_buf_init(&st.k);
    if (!st.b)
        r = -ENOMEM;
    if (r == 0)
        r = for_each_hole(f, first, end, alloc_hole, &st);
    if (r == 0)
        r = alloc_flush(f, &st);
    lsm_batch_free(st.b);
    fs_buf_free(&st.k);
    return r;
}

/* FALLOC_FL_KEEP_SIZE past the last chunk: first FS_FLAG_BEYOND goes into the record (inline
 * contents move to a chunk), so that no commit makes the file inline or ingests over the
 * chunks; then [lo, hi) is allocated like any range. */
static int alloc_beyond_locked(fs_file *f, uint64_t lo, uint64_t hi)
{
    if (!f->beyond) {
        int r = fs_format_raise_locked(f->fs, FS_FORMAT_BEYOND);
        if (r)
            return r;
        f->beyond = 1;
        f->dirty = 1;
        r = fs_file_commit_locked(f, 0, 0);
        if (r) {
            f->beyond = 0;
            return r;
        }
    }
    return alloc_range_locked(f, lo, hi);
}

int fs_file_fallocate(fs_file *f, int mode, off_t off, off_t len)
{
    if (off < 0 || len <= 0)
        return -EINVAL;
    if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE))
        return -EOPNOTSUPP;
    if ((mode & FALLOC_FL_PUNCH_HOLE) && !(mode & FALLOC_FL_KEEP_SIZE))
        return -EOPNOTSUPP;
    if ((mode & FALLOC_FL_PUNCH_HOLE) && (mode & FALLOC_FL_ZERO_RANGE))
        return -EOPNOTSUPP;
    if (f->fs->read_only)
        return -EROFS;
    uint64_t lo = (uint64_t)off, hi = (uint64_t)off + (uint64_t)len;
    pthread_rwlock_wrlock(&f->fs->lock);
    /* Every fallocate moves mtime and ctime, as ext4's does (file_modified, before it
     * allocates): also one that only allocates, or punches past the size and changes nothing. */
    touch(f);
    int r = 0;
    if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
        uint64_t zhi = hi < f->size ? hi : f->size;
        if (lo < zhi)
            r = zero_range_locked(f, lo, zhi);
    }
    if (r == 0 && !(mode & FALLOC_FL_KEEP_SIZE) && hi > f->size) {
        f->size = hi;
        touch(f);
        r = fs_file_commit_locked(f, 0, 0);
    }
    /* PUNCH_HOLE stops at the size, as on ext4: what fallocate allocated past it stays */
    if (r == 0 && !(mode & FALLOC_FL_PUNCH_HOLE)) {
        if (chunk_count(hi) > chunk_count(f->size))
            r = alloc_beyond_locked(f, lo, hi); /* FALLOC_FL_KEEP_SIZE: else the size covers hi */
        else
            r = alloc_range_locked(f, lo, hi < f->size ? hi : f->size);
    }
    if (r == 0)
        r = fs_file_commit_locked(f, 0, 0); /* the times, if no step above committed them */
    pthread_rwlock_unlock(&f->fs->lock);
    return r;
}

/* The first chunk index >= idx that holds data (a chunk key with a non-empty value), or
 * UINT64_MAX; with want_hole, the first index >= idx that does not.  One range scan over the
 * file's chunk keys: no chunk is read beyond what the iterator has at hand. */
static int scan_chunks(fs_file *f, uint64_t idx, int want_hole, uint64_t *out)
{
    chunk_scan s;
    int r = chunk_scan_open(f, idx, UINT64_MAX, &s);
    *out = want_hole ? idx : UINT64_MAX;
    size_t vl;
    for (uint64_t at; r == 0 && (at = chunk_scan_at(&s, &vl)) != UINT64_MAX;
         lsm_iter_next(s.it)) {
        if (vl == 0)
            continue; /* an allocated, unwritten chunk reads as zeros: a hole */
        if (!want_hole) {
            *out = at;
            break;
        }
        if (at != *out)
            break;
        (*out)++;
    }
    int r2 = chunk_scan_close(&s);
    return r ? r : r2;
}

int fs_file_seek(fs_file *f, off_t off, int whence, off_t *out)
{
    if (whence != SEEK_DATA && whence != SEEK_HOLE)
        return -EINVAL;
    if (off < 0)
        return -ENXIO;
    pthread_rwlock_wrlock(&f->fs->lock);
    /* buffered chunks and an unfinished ingest are data: put them where the scan sees them */
    int r = f->fs->read_only ? 0 : fs_file_commit_locked(f, 0, 0);
    uint64_t pos = (uint64_t)off, size = f->size, found = 0, idx = 0;
    uint64_t nidx = chunk_count(size); /* chunks below the size */
    if (r == 0 && pos >= size)
        r = -ENXIO;
    if (r == 0 && (f->stored_inline || size <= FS_INLINE_MAX)) {
        found = whence == SEEK_DATA ? pos : size; /* inline contents: all data */
    } else if (r == 0) {
        r = scan_chunks(f, pos / FS_CHUNK_SIZE, whence == SEEK_HOLE, &idx);
        if (r == 0 && whence == SEEK_DATA && idx >= nidx)
            r = -ENXIO; /* only holes up to the end */
        found = idx >= nidx ? size : idx * FS_CHUNK_SIZE;
        if (found < pos)
            found = pos;
    }
    pthread_rwlock_unlock(&f->fs->lock);
    if (r == 0)
        *out = (off_t)found;
    return r;
}

int fs_file_stat(fs_file *f, struct stat *st)
{
    fs_node n;
    fs_node_init(&n);
    pthread_rwlock_rdlock(&f->fs->lock);
    int r = fs_load_locked(f->fs, f->home.data, f->home.len, &n);
    if (r == 0 && n.a.ino != f->ino)
        r = -ESTALE;
    if (r == 0) {
        fs_attr_to_stat(&n.a, st);
        fs_open_overlay_locked(f->fs, st);
    }
    pthread_rwlock_unlock(&f->fs->lock);
    fs_node_free(&n);
    return r;
}

int fscore_stat_open(fscore *fs, uint64_t ino, struct stat *st)
{
    fs_node n;
    fs_node_init(&n);
    pthread_rwlock_rdlock(&fs->lock);
    int r = fs_resolve_node_locked(fs, NULL, ino, &n);
    if (r == 0) {
        fs_attr_to_stat(&n.a, st);
        fs_open_overlay_locked(fs, st);
    }
    pthread_rwlock_unlock(&fs->lock);
    fs_node_free(&n);
    return r;
}

/* r, or before it the failure of an early-acknowledged write (reported once). */
static int take_late_err(fs_file *f, int r)
{
    int e = f->late_err;
    f->late_err = 0;
    return e ? e : r;
}

int fs_file_commit(fs_file *f, int sync)
{
    pthread_rwlock_wrlock(&f->fs->lock);
    int r = take_late_err(f, f->fs->read_only ? 0 : fs_file_commit_locked(f, 0, 0));
    pthread_rwlock_unlock(&f->fs->lock);
    if (r == 0 && sync && !f->fs->read_only)
        r = fs_store_error(f->fs, lsm_sync(f->fs->db));
    return r;
}

int fs_file_put_locked(fs_file *f)
{
    fscore *fs = f->fs;
    int r = 0;
    if (--f->refs == 0) {
        if (!fs->read_only && f->home.len && f->home.data[0] == FS_KEY_ORPHAN) {
            /* the last close of a file without names: its data goes now */
            lsm_batch *b = lsm_batch_new();
            int r2 = b ? lsm_batch_delete(b, f->home.data, f->home.len) : -ENOMEM;
            fs_delta d = {0};
            /* chunks only if the record says so, as an unlink decides; below the committed
             * size unless a table of chunks past it may have reached the store */
            uint64_t below = f->stored_inline ? 0
                             : f->ing || f->pending
                                 ? UINT64_MAX
                                 : fs_chunks_below(f->stored_size, f->beyond);
            if (r2 == 0)
                r2 = fs_batch_delete_data(fs, b, f->ino, below, &d);
            if (r2 == 0)
                r2 = fs_write_delta_locked(fs, b, &d);
            lsm_batch_free(b);
            if (r == 0)
                r = r2;
        }
        fs_file **pp = &fs->open[bucket(f->ino)];
        while (*pp != f)
            pp = &(*pp)->next;
        *pp = f->next;
        lsm_ingest_abandon(f->ing); /* only if its commit never came (read-only or error) */
        drop_all_chunks(f);
        free(f->chunks);
        free(f->inl);
        fs_buf_free(&f->home);
        free(f);
    }
    return r;
}

int fs_file_close(fs_file *f)
{
    fscore *fs = f->fs;
    pthread_rwlock_wrlock(&fs->lock);
    int r = take_late_err(f, fs->read_only ? 0 : fs_file_commit_locked(f, 0, 0));
    int r2 = fs_file_put_locked(f);
    pthread_rwlock_unlock(&fs->lock);
    return r ? r : r2;
}

/* Attribute change through an open file: commit first so the record is current, then edit. */
static int file_update(fs_file *f, int what, mode_t mode, uid_t uid, gid_t gid,
                       const struct timespec *tv)
{
    fscore *fs = f->fs;
    if (fs->read_only)
        return -EROFS;
    fs_node n;
    fs_node_init(&n);
    lsm_batch *b = lsm_batch_new();
    if (!b)
        return -ENOMEM;
    pthread_rwlock_wrlock(&fs->lock);
    int r = fs_file_commit_locked(f, 0, 0);
    if (r == 0)
        r = fs_load_locked(fs, f->home.data, f->home.len, &n);
    if (r == 0) {
        fs_attr a = n.a;
        struct timespec now;
        fs_now(f->fs, &now);
        if (what == 0) {
            a.mode = (a.mode & S_IFMT) | (mode & 07777);
        } else if (what == 1) {
            if (uid != (uid_t)-1)
                a.uid = uid;
            if (gid != (gid_t)-1)
                a.gid = gid;
        } else {
            if (tv[0].tv_nsec == UTIME_NOW)
                a.atime = now;
            else if (tv[0].tv_nsec != UTIME_OMIT)
                a.atime = tv[0];
            if (tv[1].tv_nsec == UTIME_NOW)
                a.mtime = now;
            else if (tv[1].tv_nsec != UTIME_OMIT)
                a.mtime = tv[1];
        }
        a.ctime = now;
        f->mtime = a.mtime;
        f->ctime = a.ctime;
        r = fs_batch_put_rec(b, &n, &a, n.tail, n.tail_len);
        if (r == 0)
            r = fs_write_locked(fs, b);
    }
    pthread_rwlock_unlock(&fs->lock);
    lsm_batch_free(b);
    fs_node_free(&n);
    return r;
}

int fs_file_chmod(fs_file *f, mode_t mode) { return file_update(f, 0, mode, 0, 0, NULL); }
int fs_file_chown(fs_file *f, uid_t uid, gid_t gid) { return file_update(f, 1, 0, uid, gid, NULL); }

/* A change of mtime alone (what the kernel's writeback cache sends while a file is being
 * written) is buffered with the file's other changes instead of committing them: a commit per
 * such call would cut a big write's ingest into many small tables. */
static int buffer_mtime(fs_file *f, const struct timespec *mtime)
{
    if (f->fs->read_only)
        return -EROFS;
    pthread_rwlock_wrlock(&f->fs->lock);
    struct timespec now;
    fs_now(f->fs, &now);
    if (mtime->tv_nsec != UTIME_OMIT)
        f->mtime = mtime->tv_nsec == UTIME_NOW ? now : *mtime;
    f->ctime = now;
    f->times_dirty = 1;
    f->dirty = 1;
    pthread_rwlock_unlock(&f->fs->lock);
    return 0;
}

int fs_file_utimens(fs_file *f, const struct timespec tv[2])
{
    struct timespec t[2];
    if (tv) {
        t[0] = tv[0];
        t[1] = tv[1];
    } else {
        t[0].tv_nsec = t[1].tv_nsec = UTIME_NOW;
    }
    if (t[0].tv_nsec == UTIME_OMIT)
        return buffer_mtime(f, &t[1]);
    return file_update(f, 2, 0, 0, 0, t);
}

/* What the mount's cleanup scans carry: the batch they fill and the counts it changes. */
struct cleanup {
    fscore *fs;
    lsm_batch *b;
    fs_delta d;
};

/* An 'O' record left by a crash: the file and its data go. */
static int drop_orphan(void *arg, const char *k, size_t kl, const char *v, size_t vl)
{
    struct cleanup *c = arg;
    if (kl != 9)
        return 0;
    int r = lsm_batch_delete(c->b, k, kl);
    return r ? r : fs_batch_delete_data(c->fs, c->b, fs_get_be64(k + 1), UINT64_MAX, &c->d);
}

/* A 'P' record left by a crash in a big write: the chunks it names were never committed. */
static int drop_pending(void *arg, const char *k, size_t kl, const char *v, size_t vl)
{
    struct cleanup *c = arg;
    if (kl != 9 || vl != 8)
        return 0;
    long r = fs_batch_delete_chunks(c->fs, c->b, fs_get_be64(k + 1), fs_get_be64(v), UINT64_MAX,
                                    &c->d);
    if (r >= 0)
        r = lsm_batch_delete(c->b, k, kl);
    return (int)r;
}

int fs_orphans_cleanup(fscore *fs)
{
    lsm_batch *b = lsm_batch_new();
    if (!b)
        return -ENOMEM;
    struct cleanup c = {.fs = fs, .b = b};
    int r = fs_scan_kind(fs, FS_KEY_PENDING, drop_pending, &c);
    if (r == 0)
        r = fs_scan_kind(fs, FS_KEY_ORPHAN, drop_orphan, &c);
    if (r == 0)
        r = fs_write_delta_locked(fs, b, &c.d);
    lsm_batch_free(b);
    return r;
}
