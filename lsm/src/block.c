/*
 * block.c — cursor over a prefix-compressed block (format in block_builder.h / FORMAT.md).
 *
 * Seeking binary-searches the restart array, whose keys are stored whole (shared = 0) and can
 * be compared where they lie, then scans forward at most restart_interval entries.  Moving
 * backwards re-scans from the restart point before the current entry, as LevelDB does.
 * Entries are parsed with explicit limits: a corrupt block stops the cursor with
 * LSM_ECORRUPT instead of reading out of bounds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "coding.h"
#include "status.h"

int block_init(block *b, const uint8_t *data, size_t size)
{
    if (size < 4 || size > UINT32_MAX)
        return lsm_error(LSM_ECORRUPT, "block of %zu bytes is too short or too long", size);
    uint32_t n = get_fixed32(data + size - 4);
    if (n == 0 || n > (size - 4) / 4)
        return lsm_error(LSM_ECORRUPT, "bad restart count %u in a block of %zu bytes", n, size);
    b->data = data;
    b->size = size;
    b->num_restarts = n;
    b->restarts = (uint32_t)(size - 4 - 4 * (size_t)n);
    return 0;
}

static inline uint32_t restart_point(const block_iter *it, uint32_t i)
{
    const uint8_t *p = it->b.data + it->b.restarts + 4 * (size_t)i;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
#else
    return get_fixed32(p);
#endif
}

/* Move restart_index up to the restart block of the current entry. */
static void catch_up_restart(block_iter *it)
{
    while (it->restart_index + 1 < it->b.num_restarts &&
           restart_point(it, it->restart_index + 1) <= it->current)
        it->restart_index++;
}

static void set_invalid(block_iter *it)
{
    it->current = it->b.restarts;
    it->next = it->b.restarts;
}

static void corrupt(block_iter *it, uint32_t off, const char *why)
{
    it->status = lsm_error(LSM_ECORRUPT, "bad block entry at offset %u: %s", off, why);
    set_invalid(it);
}

/* The three varints that open an entry.  Fast path: all three fit in one byte each (keys and
 * values under 128 bytes), the common case on every seek and scan step. */
static inline const uint8_t *entry_header(const uint8_t *p, const uint8_t *limit,
                                          uint32_t *shared, uint32_t *non_shared, uint32_t *vlen)
{
    if (limit - p >= 3 && ((p[0] | p[1] | p[2]) & 0x80) == 0) {
        *shared = p[0];
        *non_shared = p[1];
        *vlen = p[2];
        return p + 3;
    }
    if ((p = get_varint32(p, limit, shared)) && (p = get_varint32(p, limit, non_shared)))
        p = get_varint32(p, limit, vlen);
    return p;
}

/* Make room for a key of klen bytes in kbuf, keeping the first `keep` bytes of the current
 * key (which may lie in the block or in kbuf). */
static int grow_key(block_iter *it, size_t klen, size_t keep)
{
    if (klen <= it->kcap) {
        if (keep && it->key != it->kbuf) memcpy(it->kbuf, it->key, keep);
        return 0;
    }
    size_t cap = it->kcap * 2 > klen ? it->kcap * 2 : klen;
    uint8_t *nb = malloc(cap);
    if (!nb) {
        it->status = lsm_error(LSM_ENOMEM, "out of memory for a %zu-byte key", klen);
        set_invalid(it);
        return -1;
    }
    if (keep) memcpy(nb, it->key, keep);
    if (it->kbuf != it->kinline) free(it->kbuf);
    it->kbuf = nb;
    it->kcap = cap;
    return 0;
}

/* Parse the entry at off, whose shared prefix comes from the current key.  Returns 0, or -1
 * with the cursor invalid and status set.  Inlined: it is most of every step of a scan, and
 * as a call it costs a fifth of itself in saved registers. */
static inline __attribute__((always_inline)) int parse_at(block_iter *it, uint32_t off)
{
    const uint8_t *base = it->b.data;
    const uint8_t *limit = base + it->b.restarts;
    const uint8_t *p = base + off;
    uint32_t shared, non_shared, vlen;
    if (off >= it->b.restarts) {
        corrupt(it, off, "offset past the entries");
        return -1;
    }
    if (!(p = entry_header(p, limit, &shared, &non_shared, &vlen))) {
        corrupt(it, off, "truncated entry header");
        return -1;
    }
    if (shared > it->key_len) {
        corrupt(it, off, "shared prefix longer than the previous key");
        return -1;
    }
    if (non_shared > (size_t)(limit - p) || vlen > (size_t)(limit - p) - non_shared) {
        corrupt(it, off, "entry runs past the end of the block");
        return -1;
    }
    size_t klen = (size_t)shared + non_shared;
    if (klen < IKEY_TRAILER) {
        corrupt(it, off, "key shorter than an internal key");
        return -1;
    }
    if (shared == 0) {
        it->key = p; /* whole key in place: no copy */
    } else {
        if ((klen > it->kcap || it->key != it->kbuf) && grow_key(it, klen, shared)) return -1;
        /* Short suffixes (the common case with prefix compression) are copied as one fixed
         * 16-byte move, which compiles to two loads and stores instead of a libc call; the
         * bytes past non_shared are garbage that the key length excludes.  Only when 16 bytes
         * are readable in the block and writable in kbuf. */
        if (non_shared <= 16 && (size_t)(limit - p) >= 16 && (size_t)shared + 16 <= it->kcap)
            memcpy(it->kbuf + shared, p, 16);
        else
            memcpy(it->kbuf + shared, p, non_shared);
        it->key = it->kbuf;
    }
    it->key_len = klen;
    it->val = p + non_shared;
    it->val_len = vlen;
    it->current = off;
    it->next = (uint32_t)(p + non_shared + vlen - base);
    return 0;
}

/* Position at restart point i (its entry must have shared = 0). */
static int seek_restart(block_iter *it, uint32_t i)
{
    uint32_t off = restart_point(it, i);
    it->restart_index = i;
    it->key_len = 0;
    if (off == it->b.restarts && i == 0) { /* an empty block */
        set_invalid(it);
        return -1;
    }
    return parse_at(it, off);
}

void block_iter_init(block_iter *it, const block *b)
{
    it->b = *b;
    it->status = 0;
    it->key = NULL;
    it->key_len = 0;
    it->val = NULL;
    it->val_len = 0;
    it->restart_index = 0;
    it->kbuf = it->kinline;
    it->kcap = sizeof it->kinline;
    set_invalid(it);
}

void block_iter_release(block_iter *it)
{
    if (it->kbuf != it->kinline) free(it->kbuf);
    it->kbuf = it->kinline;
    it->kcap = sizeof it->kinline;
}

void block_iter_seek_first(block_iter *it) { seek_restart(it, 0); }

void block_iter_seek_last(block_iter *it)
{
    if (seek_restart(it, it->b.num_restarts - 1)) return;
    while (it->next < it->b.restarts)
        if (parse_at(it, it->next)) return;
}

void block_iter_next(block_iter *it)
{
    if (it->next >= it->b.restarts) {
        set_invalid(it);
        return;
    }
    parse_at(it, it->next); /* restart_index stays behind: only prev needs it (every scan step
                             * would otherwise load a restart point) */
}

void block_iter_prev(block_iter *it)
{
    uint32_t original = it->current;
    catch_up_restart(it);
    uint32_t i = it->restart_index;
    while (restart_point(it, i) >= original) {
        if (i == 0) {
            set_invalid(it);
            return;
        }
        i--;
    }
    if (seek_restart(it, i)) return;
    while (it->next < original)
        if (parse_at(it, it->next)) return;
    if (it->next != original) corrupt(it, it->current, "entries do not chain to the next one");
}

/* The whole key stored at restart point i, in place.  Returns 0 or -1 (cursor corrupt). */
static int restart_key(block_iter *it, uint32_t i, const uint8_t **k, size_t *klen)
{
    uint32_t off = restart_point(it, i);
    const uint8_t *limit = it->b.data + it->b.restarts;
    const uint8_t *p = it->b.data + off;
    uint32_t shared, non_shared, vlen;
    if (off >= it->b.restarts) {
        corrupt(it, off, "restart point past the entries");
        return -1;
    }
    if (!(p = entry_header(p, limit, &shared, &non_shared, &vlen))) {
        corrupt(it, off, "truncated entry header");
        return -1;
    }
    if (shared != 0 || non_shared > (size_t)(limit - p) || non_shared < IKEY_TRAILER) {
        corrupt(it, off, "bad key at a restart point");
        return -1;
    }
    *k = p;
    *klen = non_shared;
    return 0;
}

void block_iter_seek(block_iter *it, const uint8_t *target, size_t tlen)
{
    uint32_t left = 0, right = it->b.num_restarts - 1;
    if (it->b.restarts == 0) { /* empty block */
        set_invalid(it);
        return;
    }
    while (left < right) {
        uint32_t mid = left + (right - left + 1) / 2;
        const uint8_t *k;
        size_t klen;
        if (restart_key(it, mid, &k, &klen)) return;
        if (ikey_compare(k, klen, target, tlen) < 0)
            left = mid;
        else
            right = mid - 1;
    }
    if (seek_restart(it, left)) return;
    /* Scan forward within restart interval `left`: the binary search guarantees the key at
     * restart left+1 (if any) is >= target, so the scan normally stops there at the latest;
     * restart_index stays at `left`, which prev catches up from. */
    while (ikey_compare(it->key, it->key_len, target, tlen) < 0) {
        if (it->next >= it->b.restarts) {
            set_invalid(it);
            return;
        }
        if (parse_at(it, it->next)) return;
    }
}

/* ---- as a heap iterator ---- */

typedef struct block_iter_heap {
    iter base;
    block b;
    void *owned;
    block_iter bi;
} block_iter_heap;

#define BI(it) (&((block_iter_heap *)(it))->bi)

static void keep_msg(iter *it)
{
    if (BI(it)->status) snprintf(it->errmsg, sizeof it->errmsg, "%s", lsm_last_error());
}
static void bh_seek_first(iter *it) { block_iter_seek_first(BI(it)); keep_msg(it); }
static void bh_seek_last(iter *it) { block_iter_seek_last(BI(it)); keep_msg(it); }
static void bh_seek(iter *it, const uint8_t *t, size_t n) { block_iter_seek(BI(it), t, n); keep_msg(it); }
static void bh_next(iter *it) { block_iter_next(BI(it)); keep_msg(it); }
static void bh_prev(iter *it) { block_iter_prev(BI(it)); keep_msg(it); }
static int bh_valid(const iter *it) { return block_iter_valid(&((const block_iter_heap *)it)->bi); }
static slice bh_key(const iter *it)
{
    const block_iter *bi = &((const block_iter_heap *)it)->bi;
    slice s = {bi->key, bi->key_len};
    return s;
}
static slice bh_value(const iter *it)
{
    const block_iter *bi = &((const block_iter_heap *)it)->bi;
    slice s = {bi->val, bi->val_len};
    return s;
}
static int bh_status(const iter *it) { return ((const block_iter_heap *)it)->bi.status; }
static void bh_destroy(iter *it)
{
    block_iter_heap *h = (block_iter_heap *)it;
    block_iter_release(&h->bi);
    free(h->owned);
    free(h);
}

static const struct iter_ops block_iter_ops = {
    .seek_first = bh_seek_first, .seek_last = bh_seek_last, .seek = bh_seek,
    .next = bh_next,             .prev = bh_prev,           .valid = bh_valid,
    .key = bh_key,               .value = bh_value,         .status = bh_status,
    .destroy = bh_destroy,
};

iter *block_iter_new(const block *b, void *owned)
{
    block_iter_heap *h = malloc(sizeof *h);
    if (!h) return NULL;
    h->base.ops = &block_iter_ops;
    h->base.errmsg[0] = '\0';
    h->b = *b;
    h->owned = owned;
    block_iter_init(&h->bi, &h->b);
    return &h->base;
}
