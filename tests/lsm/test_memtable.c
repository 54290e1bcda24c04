/* test_memtable.c — the memtable against a sorted-array model: random versions and deletions
 * of a small key space, point lookups at many snapshots, full iteration both ways, seeks to
 * arbitrary internal keys, memory accounting, big and empty entries, reference counting. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "ikey.h"
#include "memtable.h"
#include "sstable.h"
#include "testutil.h"

typedef struct entry {
    uint8_t ikey[32 + IKEY_TRAILER];
    size_t ilen;
    uint8_t value[64];
    size_t vlen;
} entry;

static int cmp_entry(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    return ikey_compare(x->ikey, x->ilen, y->ikey, y->ilen);
}

/* Index of the first model entry >= target, or n. */
static size_t lower_bound(const entry *m, size_t n, const uint8_t *t, size_t tlen)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (ikey_compare(m[mid].ikey, m[mid].ilen, t, tlen) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static void random_ukey(tu_rng *r, uint8_t *k, size_t *len)
{
    /* Small alphabet and short lengths: many shared prefixes and many versions per key. */
    *len = (size_t)tu_uniform(r, 6); /* 0..5 bytes, the empty key included */
    for (size_t i = 0; i < *len; i++) k[i] = (uint8_t)('a' + tu_uniform(r, 3));
}

Test(memtable, model_random)
{
    tu_rng r;
    tu_rng_init(&r, tu_seed("memtable::model_random", 42));
    size_t n = (size_t)(20000 * tu_scale());
    entry *model = calloc(n, sizeof *model);
    cr_assert(model);
    memtable *m = memtable_new();
    cr_assert(m);
    size_t raw = 0;
    for (size_t i = 0; i < n; i++) {
        entry *e = &model[i];
        uint8_t uk[8];
        size_t ulen;
        random_ukey(&r, uk, &ulen);
        int type = tu_uniform(&r, 4) == 0 ? IKEY_TYPE_DELETE : IKEY_TYPE_VALUE;
        uint64_t seq = i + 1;
        e->ilen = ikey_build(e->ikey, uk, ulen, seq, type);
        e->vlen = type == IKEY_TYPE_VALUE ? (size_t)tu_uniform(&r, 65) : 0;
        tu_fill(&r, e->value, e->vlen);
        cr_assert_eq(memtable_add(m, seq, type, uk, ulen, e->value, e->vlen), 0);
        raw += e->ilen + e->vlen;
    }
    cr_assert_eq(memtable_entries(m), n);
    size_t bytes = memtable_bytes(m);
    cr_assert_geq(bytes, raw, "memtable_bytes %zu below the %zu raw bytes stored", bytes, raw);
    cr_assert_leq(bytes, raw + n * 128 + 2 * ARENA_BLOCK_SIZE, "memtable_bytes %zu implausibly big", bytes);

    qsort(model, n, sizeof *model, cmp_entry);

    /* Forward and backward iteration match the model exactly. */
    iter *it = memtable_iter(m);
    size_t i = 0;
    for (iter_seek_first(it); iter_valid(it); iter_next(it), i++) {
        cr_assert_lt(i, n);
        slice k = iter_key(it), v = iter_value(it);
        cr_assert_eq(k.len, model[i].ilen);
        cr_assert(memcmp(k.data, model[i].ikey, k.len) == 0, "key mismatch at %zu", i);
        cr_assert_eq(v.len, model[i].vlen);
        cr_assert(v.len == 0 || memcmp(v.data, model[i].value, v.len) == 0);
    }
    cr_assert_eq(i, n);
    cr_assert_eq(iter_status(it), 0);
    i = n;
    for (iter_seek_last(it); iter_valid(it); iter_prev(it)) {
        cr_assert_gt(i, 0);
        i--;
        slice k = iter_key(it);
        cr_assert(k.len == model[i].ilen && memcmp(k.data, model[i].ikey, k.len) == 0,
                  "backward key mismatch at %zu", i);
    }
    cr_assert_eq(i, 0);

    /* Seeks to random internal keys (present or not) land on the model's lower bound; one
     * step back lands on the entry before it. */
    for (int q = 0; q < 5000; q++) {
        uint8_t uk[8], t[8 + IKEY_TRAILER];
        size_t ulen;
        random_ukey(&r, uk, &ulen);
        size_t tlen = ikey_build(t, uk, ulen, tu_uniform(&r, n + 2), (int)tu_uniform(&r, 2));
        size_t lb = lower_bound(model, n, t, tlen);
        iter_seek(it, t, tlen);
        if (lb == n) {
            cr_assert(!iter_valid(it));
            continue;
        }
        cr_assert(iter_valid(it));
        slice k = iter_key(it);
        cr_assert(k.len == model[lb].ilen && memcmp(k.data, model[lb].ikey, k.len) == 0,
                  "seek landed wrong (query %d)", q);
        iter_prev(it);
        if (lb == 0) {
            cr_assert(!iter_valid(it));
        } else {
            cr_assert(iter_valid(it));
            k = iter_key(it);
            cr_assert(k.len == model[lb - 1].ilen && memcmp(k.data, model[lb - 1].ikey, k.len) == 0);
        }
    }
    iter_destroy(it);

    /* Gets at random snapshots: the newest version with seq <= snapshot decides. */
    for (int q = 0; q < 20000; q++) {
        uint8_t uk[8], t[8 + IKEY_TRAILER];
        size_t ulen;
        random_ukey(&r, uk, &ulen);
        uint64_t snap = tu_uniform(&r, n + 2);
        size_t tlen = ikey_build(t, uk, ulen, snap, IKEY_TYPE_SEEK);
        size_t lb = lower_bound(model, n, t, tlen);
        int want = SST_GET_ABSENT;
        if (lb < n && ukey_compare(model[lb].ikey, model[lb].ilen - IKEY_TRAILER, uk, ulen) == 0)
            want = ikey_kind(model[lb].ikey, model[lb].ilen) == IKEY_TYPE_VALUE ? SST_GET_VALUE
                                                                                : SST_GET_DELETED;
        void *v = NULL;
        size_t vlen = 0;
        int got = memtable_get(m, uk, ulen, snap, &v, &vlen);
        cr_assert_eq(got, want, "get(snapshot %llu) = %d, model says %d", (unsigned long long)snap, got, want);
        if (got == SST_GET_VALUE) {
            cr_assert_not_null(v);
            cr_assert_eq(vlen, model[lb].vlen);
            cr_assert(vlen == 0 || memcmp(v, model[lb].value, vlen) == 0);
            free(v);
        }
    }
    /* The latest view: a snapshot beyond every sequence, including UINT64_MAX. */
    for (size_t j = 0; j < n; j++) {
        if (j > 0 && ukey_compare(model[j].ikey, model[j].ilen - 8, model[j - 1].ikey, model[j - 1].ilen - 8) == 0)
            continue; /* model[j] is the newest version of its key only when first */
        void *v = NULL;
        size_t vlen = 0;
        int got = memtable_get(m, model[j].ikey, model[j].ilen - IKEY_TRAILER, UINT64_MAX, &v, &vlen);
        int want = ikey_kind(model[j].ikey, model[j].ilen) == IKEY_TYPE_VALUE ? SST_GET_VALUE : SST_GET_DELETED;
        cr_assert_eq(got, want);
        if (got == SST_GET_VALUE) {
            cr_assert(vlen == model[j].vlen && (vlen == 0 || memcmp(v, model[j].value, vlen) == 0));
            free(v);
        }
    }
    memtable_unref(m);
    free(model);
}

/* Check iter_next_key from every entry of a memtable of n random versions added with sequence
 * numbers seqs[0..n): it moves forward, over entries of the current user key only.  Returns
 * how many jumps landed exactly on the next user key. */
static size_t check_next_key(tu_rng *r, size_t n, const uint64_t *seqs)
{
    entry *model = calloc(n, sizeof *model);
    cr_assert(model);
    memtable *m = memtable_new();
    cr_assert(m);
    for (size_t i = 0; i < n; i++) {
        uint8_t uk[8];
        size_t ulen;
        random_ukey(r, uk, &ulen);
        model[i].ilen = ikey_build(model[i].ikey, uk, ulen, seqs[i], IKEY_TYPE_VALUE);
        cr_assert_eq(memtable_add(m, seqs[i], IKEY_TYPE_VALUE, uk, ulen, NULL, 0), 0);
    }
    qsort(model, n, sizeof *model, cmp_entry);
    iter *it = memtable_iter(m);
    size_t exact = 0;
    for (size_t i = 0; i < n; i++) {
        iter_seek(it, model[i].ikey, model[i].ilen);
        cr_assert(iter_valid(it));
        iter_next_key(it);
        size_t other = i + 1; /* first model entry of another user key */
        while (other < n && ukey_compare(model[other].ikey, model[other].ilen - IKEY_TRAILER,
                                         model[i].ikey, model[i].ilen - IKEY_TRAILER) == 0)
            other++;
        if (!iter_valid(it)) {
            cr_assert_eq(other, n, "next_key from entry %zu ran off the end early", i);
            exact++;
            continue;
        }
        slice k = iter_key(it);
        size_t j = lower_bound(model, n, k.data, k.len);
        cr_assert(j < n && j > i, "next_key from entry %zu did not move forward", i);
        cr_assert_leq(j, other, "next_key from entry %zu skipped entry %zu of another key", i,
                      other);
        exact += j == other;
    }
    iter_destroy(it);
    memtable_unref(m);
    free(model);
    return exact;
}

/* Versions added in sequence order (as the write path adds them): every jump reaches the next
 * user key.  Added out of order (an older version after newer ones): jumps may stop short at
 * the late version, but never skip an entry of another key. */
Test(memtable, next_key_skips_only_versions_of_the_current_key)
{
    tu_rng r;
    tu_rng_init(&r, tu_seed("memtable::next_key", 7));
    size_t n = (size_t)(5000 * tu_scale());
    uint64_t *seqs = calloc(n, sizeof *seqs);
    cr_assert(seqs);
    for (size_t i = 0; i < n; i++) seqs[i] = i + 1;
    size_t exact = check_next_key(&r, n, seqs);
    cr_assert_eq(exact, n, "only %zu of %zu in-order jumps reached the next key", exact, n);
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)tu_uniform(&r, i);
        uint64_t t = seqs[i - 1];
        seqs[i - 1] = seqs[j];
        seqs[j] = t;
    }
    check_next_key(&r, n, seqs);
    free(seqs);
}

Test(memtable, empty)
{
    memtable *m = memtable_new();
    cr_assert(m);
    iter *it = memtable_iter(m);
    iter_seek_first(it);
    cr_assert(!iter_valid(it));
    iter_seek_last(it);
    cr_assert(!iter_valid(it));
    uint8_t t[IKEY_TRAILER];
    iter_seek(it, t, ikey_build(t, NULL, 0, 5, IKEY_TYPE_SEEK));
    cr_assert(!iter_valid(it));
    void *v;
    size_t vlen;
    cr_assert_eq(memtable_get(m, (const uint8_t *)"x", 1, 100, &v, &vlen), SST_GET_ABSENT);
    cr_assert_eq(memtable_entries(m), 0);
    iter_destroy(it);
    memtable_unref(m);
}

Test(memtable, big_and_empty_entries)
{
    memtable *m = memtable_new();
    cr_assert(m);
    size_t big = 1u << 20;
    uint8_t *val = malloc(big), *key = malloc(64 * 1024);
    cr_assert(val && key);
    tu_rng r;
    tu_rng_init(&r, 7);
    tu_fill(&r, val, big);
    tu_fill(&r, key, 64 * 1024);
    size_t before = memtable_bytes(m);
    cr_assert_eq(memtable_add(m, 1, IKEY_TYPE_VALUE, key, 64 * 1024, val, big), 0);
    size_t after = memtable_bytes(m);
    cr_assert_geq(after - before, big + 64 * 1024);
    cr_assert_leq(after - before, big + 64 * 1024 + 4096, "a big entry should cost about its size");
    cr_assert_eq(memtable_add(m, 2, IKEY_TYPE_VALUE, (const uint8_t *)"", 0, (const uint8_t *)"", 0), 0);
    cr_assert_eq(memtable_add(m, 3, IKEY_TYPE_DELETE, key, 64 * 1024, NULL, 0), 0);

    void *v = NULL;
    size_t vlen = 99;
    cr_assert_eq(memtable_get(m, (const uint8_t *)"", 0, 10, &v, &vlen), SST_GET_VALUE);
    cr_assert_not_null(v, "a zero-length value still yields a pointer");
    cr_assert_eq(vlen, 0);
    free(v);
    cr_assert_eq(memtable_get(m, key, 64 * 1024, 10, &v, &vlen), SST_GET_DELETED);
    cr_assert_eq(memtable_get(m, key, 64 * 1024, 2, &v, &vlen), SST_GET_VALUE);
    cr_assert_eq(vlen, big);
    cr_assert(memcmp(v, val, big) == 0);
    free(v);
    cr_assert_eq(memtable_get(m, key, 64 * 1024, 0, &v, &vlen), SST_GET_ABSENT);
    free(val);
    free(key);
    memtable_unref(m);
}

Test(memtable, iterator_keeps_table_alive)
{
    memtable *m = memtable_new();
    cr_assert(m);
    cr_assert_eq(memtable_add(m, 1, IKEY_TYPE_VALUE, (const uint8_t *)"k", 1, (const uint8_t *)"v", 1), 0);
    iter *it = memtable_iter(m);
    memtable_ref(m);
    memtable_unref(m);
    memtable_unref(m); /* the iterator holds the last reference now */
    iter_seek_first(it);
    cr_assert(iter_valid(it));
    slice v = iter_value(it);
    cr_assert(v.len == 1 && v.data[0] == 'v');
    iter_destroy(it); /* frees the memtable (ASan checks both directions) */
}

Test(memtable, bytes_grow_smoothly)
{
    /* The db compares memtable_bytes against memtable_size (as small as 64 KiB in tests):
     * the figure must track the data, not jump by whole blocks. */
    memtable *m = memtable_new();
    cr_assert(m);
    size_t prev = memtable_bytes(m);
    uint8_t val[100] = {0};
    for (uint64_t i = 0; i < 5000; i++) {
        char k[16];
        int kl = snprintf(k, sizeof k, "key%06llu", (unsigned long long)i);
        cr_assert_eq(memtable_add(m, i + 1, IKEY_TYPE_VALUE, (const uint8_t *)k, (size_t)kl, val, sizeof val), 0);
        size_t now = memtable_bytes(m);
        cr_assert_gt(now, prev);
        cr_assert_leq(now - prev, 512, "one 100-byte insert grew memtable_bytes by %zu", now - prev);
        prev = now;
    }
    memtable_unref(m);
}
