/*
 * counts.c — store-wide counts that statfs reports, kept exact by the batches that change them.
 *
 *   'M' "inodes"     inodes in use (statfs f_files - f_ffree)
 *   'M' "unwritten"  chunks allocated by fallocate and not written since (empty chunk values):
 *                    space promised to files, which statfs counts as used
 *
 * A batch that brings inodes into use or frees them, or allocates, fills or deletes unwritten
 * chunks, is written through fs_write_delta_locked with what it changes (an fs_delta, which
 * fs_batch_delete_data and the chunk deletions fill in): the new counts go into that same batch,
 * so a crash can never leave them disagreeing with the records, and the in-memory copies follow
 * only a write that succeeded.  An open file whose last name went keeps counting (its 'O' record
 * is a full record) until its last close, as on ext4.
 *
 * An inode in use is exactly one full record: the root, an entry that is not a stub, an 'I' or
 * an 'O' record.  A store written before a count existed is counted that way once, at open
 * (unwritten chunks did not exist then: 0); fscore_check (check.c) counts both and compares.
 */
#include "fscore_int.h"

#include <errno.h>
#include <string.h>

static int count_full(void *arg, const char *k, size_t kl, const char *v, size_t vl)
{
    *(uint64_t *)arg += vl >= 2 && (unsigned char)v[1] == FS_REC_FULL;
    return 0;
}

/* Count the full records of the store (see the top of the file). */
static int count_inodes(fscore *fs, uint64_t *n)
{
    static const char kinds[] = {FS_KEY_ROOT, FS_KEY_ENTRY, FS_KEY_INODE, FS_KEY_ORPHAN};
    *n = 0;
    for (size_t i = 0; i < sizeof kinds; i++) {
        int r = fs_scan_kind(fs, kinds[i], count_full, n);
        if (r)
            return r;
    }
    return 0;
}

/* Put value n at 'M' name into b. */
static int put_count(lsm_batch *b, const char *name, uint64_t n)
{
    fs_buf k;
    fs_buf_init(&k);
    char v[8];
    fs_put_be64(v, n);
    int r = fs_key_meta(&k, name);
    if (r == 0)
        r = lsm_batch_put(b, k.data, k.len, v, sizeof v);
    fs_buf_free(&k);
    return r;
}

/* *n = the count at 'M' name; -ENOENT if the store has none. */
static int get_count(fscore *fs, const char *name, uint64_t *n)
{
    fs_buf k;
    fs_buf_init(&k);
    void *v = NULL;
    size_t vl = 0;
    int r = fs_key_meta(&k, name);
    if (r == 0)
        r = lsm_get(fs->db, NULL, k.data, k.len, &v, &vl);
    fs_buf_free(&k);
    if (r == 0 && vl != 8)
        r = -EBADMSG;
    if (r == 0)
        *n = fs_get_be64(v);
    if (v)
        lsm_free(v);
    return r;
}

int fs_counts_load(fscore *fs)
{
    int r = get_count(fs, "unwritten", &fs->unwritten);
    if (r == -ENOENT) {
        fs->unwritten = 0;
        r = 0;
    }
    if (r == 0)
        r = get_count(fs, "inodes", &fs->inodes);
    if (r != -ENOENT)
        return r;
    /* a store from before the count: count once, and keep it if we may write */
    uint64_t n;
    r = count_inodes(fs, &n);
    if (r == 0 && fs->read_only)
        fs->inodes = n;
    if (r || fs->read_only)
        return r;
    lsm_batch *b = lsm_batch_new();
    if (!b)
        return -ENOMEM;
    r = put_count(b, "inodes", n);
    if (r == 0)
        r = fs_store_error(fs, lsm_write(fs->db, &fs->wo, b));
    lsm_batch_free(b);
    if (r == 0)
        fs->inodes = n;
    return r;
}

int fs_counts_set(fscore *fs, lsm_batch *b, uint64_t inodes, uint64_t unwritten)
{
    int r = put_count(b, "inodes", inodes);
    if (r == 0)
        r = put_count(b, "unwritten", unwritten);
    if (r == 0) {
        fs->inodes = inodes;
        fs->unwritten = unwritten;
    }
    return r;
}

/* n + d, never below 0 (a count that drifted stays usable until check repairs it). */
static uint64_t add(uint64_t n, long d)
{
    return d < 0 && n < (uint64_t)-d ? 0 : n + (uint64_t)d;
}

int fs_write_delta_locked(fscore *fs, lsm_batch *b, const fs_delta *d)
{
    if (d->inodes == 0 && d->unwritten == 0)
        return fs_write_locked(fs, b);
    if (fs->read_only)
        return -EROFS;
    uint64_t inodes = add(fs->inodes, d->inodes), unwritten = add(fs->unwritten, d->unwritten);
    int r = d->inodes ? put_count(b, "inodes", inodes) : 0;
    if (r == 0 && d->unwritten)
        r = put_count(b, "unwritten", unwritten);
    if (r == 0)
        r = fs_write_locked(fs, b);
    if (r == 0) {
        fs->inodes = inodes;
        fs->unwritten = unwritten;
    }
    return r;
}
