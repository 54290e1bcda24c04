/* test_block.c — data blocks: random round trips across restart intervals, seek to every key
 * and between keys, backwards iteration, the empty block, and damaged blocks that must stop
 * with LSM_ECORRUPT (never a crash or an out-of-bounds read: run under ASan). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "block_builder.h"
#include "coding.h"
#include "lsm.h"
#include "testutil.h"

typedef struct kv {
    uint8_t k[48];
    size_t klen;
    uint8_t v[40];
    size_t vlen;
} kv;

static int kv_cmp(const void *a, const void *b)
{
    const kv *x = a, *y = b;
    return ikey_compare(x->k, x->klen, y->k, y->klen);
}

/* n sorted, distinct internal keys with shared prefixes (a 4-letter alphabet) and random
 * values; returns the count after removing duplicates. */
static size_t make_kvs(tu_rng *r, kv *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t u[32];
        size_t ul = 1 + tu_uniform(r, 24);
        for (size_t j = 0; j < ul; j++) u[j] = (uint8_t)('a' + tu_uniform(r, 4));
        e[i].klen = ikey_build(e[i].k, u, ul, tu_uniform(r, 1000), (int)tu_uniform(r, 2));
        e[i].vlen = tu_uniform(r, sizeof e[i].v + 1);
        tu_fill(r, e[i].v, e[i].vlen);
    }
    qsort(e, n, sizeof *e, kv_cmp);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (m == 0 || kv_cmp(&e[m - 1], &e[i]) != 0) e[m++] = e[i];
    return m;
}

static void build(block_builder *bb, const kv *e, size_t n, int interval, block *b)
{
    block_builder_init(bb, interval);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(block_builder_add(bb, e[i].k, e[i].klen, e[i].v, e[i].vlen), 0);
    const uint8_t *data;
    size_t len;
    cr_assert_eq(block_builder_finish(bb, &data, &len), 0);
    cr_assert_eq(len, block_builder_size(bb));
    cr_assert_eq(block_init(b, data, len), 0);
}

static void expect_at(const block_iter *it, const kv *e)
{
    cr_assert(block_iter_valid(it));
    cr_assert_eq(it->key_len, e->klen);
    cr_assert_eq(memcmp(it->key, e->k, e->klen), 0);
    cr_assert_eq(it->val_len, e->vlen);
    cr_assert(e->vlen == 0 || memcmp(it->val, e->v, e->vlen) == 0);
}

Test(block, round_trip_seek_every_key_and_between_keys_prev)
{
    tu_rng r;
    tu_rng_init(&r, tu_seed("block.round_trip", 1));
    static kv e[3000];
    const int intervals[] = {1, 2, 3, 16, 100, 5000};
    for (size_t t = 0; t < sizeof intervals / sizeof *intervals; t++) {
        size_t n = make_kvs(&r, e, 1 + tu_uniform(&r, 3000));
        block_builder bb;
        block b;
        build(&bb, e, n, intervals[t], &b);
        block_iter it;
        block_iter_init(&it, &b);
        cr_assert(!block_iter_valid(&it));

        size_t i = 0;
        for (block_iter_seek_first(&it); block_iter_valid(&it); block_iter_next(&it)) expect_at(&it, &e[i++]);
        cr_assert_eq(i, n);
        cr_assert_eq(it.status, 0);
        for (block_iter_seek_last(&it); block_iter_valid(&it); block_iter_prev(&it)) expect_at(&it, &e[--i]);
        cr_assert_eq(i, 0);
        cr_assert_eq(it.status, 0);

        for (size_t j = 0; j < n; j++) {
            block_iter_seek(&it, e[j].k, e[j].klen);
            expect_at(&it, &e[j]);
            /* Between e[j] and e[j+1]: same user key, one sequence older (sorts after e[j]);
             * the first entry >= it is e[j+1] unless that exact key exists. */
            uint8_t probe[64];
            uint64_t seq = ikey_seq(e[j].k, e[j].klen);
            int kind = ikey_kind(e[j].k, e[j].klen);
            size_t pl = ikey_build(probe, e[j].k, e[j].klen - IKEY_TRAILER, kind ? seq : seq - 1,
                                   kind ? 0 : 1);
            if (kind == 0 && seq == 0) continue;
            block_iter_seek(&it, probe, pl);
            if (j + 1 < n)
                expect_at(&it, &e[j + 1]);
            else
                cr_assert(!block_iter_valid(&it));
            /* prev from every position lands on the entry before it */
            block_iter_seek(&it, e[j].k, e[j].klen);
            block_iter_prev(&it);
            if (j > 0)
                expect_at(&it, &e[j - 1]);
            else
                cr_assert(!block_iter_valid(&it));
        }
        /* before the first key and after the last */
        uint8_t lo[IKEY_TRAILER + 1];
        size_t ll = ikey_build(lo, (const uint8_t *)"", 0, IKEY_MAX_SEQ, 1);
        block_iter_seek(&it, lo, ll);
        expect_at(&it, &e[0]);
        uint8_t hi[IKEY_TRAILER + 1];
        size_t hl = ikey_build(hi, (const uint8_t *)"z", 1, 0, 0);
        block_iter_seek(&it, hi, hl);
        cr_assert(!block_iter_valid(&it));
        cr_assert_eq(it.status, 0);
        block_iter_release(&it);
        block_builder_free(&bb);
    }
}

Test(block, long_keys_use_heap_buffer)
{
    /* Keys longer than the inline buffer, sharing long prefixes. */
    block_builder bb;
    block_builder_init(&bb, 4);
    static uint8_t keys[20][3000];
    for (int i = 0; i < 20; i++) {
        memset(keys[i], 'k', 2990);
        keys[i][2990] = (uint8_t)('a' + i);
        ikey_build(keys[i], keys[i], 2991, 7, 1);
        cr_assert_eq(block_builder_add(&bb, keys[i], 2999, (const uint8_t *)"v", 1), 0);
    }
    const uint8_t *data;
    size_t len;
    cr_assert_eq(block_builder_finish(&bb, &data, &len), 0);
    block b;
    cr_assert_eq(block_init(&b, data, len), 0);
    block_iter it;
    block_iter_init(&it, &b);
    int i = 0;
    for (block_iter_seek_first(&it); block_iter_valid(&it); block_iter_next(&it), i++)
        cr_assert_eq(memcmp(it.key, keys[i], 2999), 0);
    cr_assert_eq(i, 20);
    block_iter_seek(&it, keys[13], 2999);
    cr_assert_eq(memcmp(it.key, keys[13], 2999), 0);
    block_iter_prev(&it);
    cr_assert_eq(memcmp(it.key, keys[12], 2999), 0);
    block_iter_release(&it);
    block_builder_free(&bb);
}

Test(block, empty_block)
{
    block_builder bb;
    block_builder_init(&bb, 16);
    const uint8_t *data;
    size_t len;
    cr_assert_eq(block_builder_finish(&bb, &data, &len), 0);
    cr_assert_eq(len, 8); /* one restart (offset 0) and the count */
    block b;
    cr_assert_eq(block_init(&b, data, len), 0);
    block_iter it;
    block_iter_init(&it, &b);
    block_iter_seek_first(&it);
    cr_assert(!block_iter_valid(&it));
    block_iter_seek_last(&it);
    cr_assert(!block_iter_valid(&it));
    uint8_t k[9];
    block_iter_seek(&it, k, ikey_build(k, (const uint8_t *)"a", 1, 1, 1));
    cr_assert(!block_iter_valid(&it));
    cr_assert_eq(it.status, 0);
    block_builder_free(&bb);
}

Test(block, bad_trailers_are_rejected)
{
    uint8_t d[16] = {0};
    block b;
    cr_assert_eq(block_init(&b, d, 3), LSM_ECORRUPT);
    cr_assert_eq(block_init(&b, d, 8), LSM_ECORRUPT); /* zero restarts */
    put_fixed32(d + 12, 1000);                        /* more restarts than fit */
    cr_assert_eq(block_init(&b, d, 16), LSM_ECORRUPT);
    cr_assert_neq(strstr(lsm_last_error(), "restart"), NULL);
}

/* Walk the whole block both ways and seek a few keys; every outcome must be a valid entry or
 * a stop with status 0 or LSM_ECORRUPT.  ASan/UBSan do the real checking. */
static void exercise(const block *b, const kv *e, size_t n)
{
    block_iter it;
    block_iter_init(&it, b);
    size_t steps = 0;
    for (block_iter_seek_first(&it); block_iter_valid(&it) && steps < 100000; block_iter_next(&it)) steps++;
    cr_assert(it.status == 0 || it.status == LSM_ECORRUPT);
    for (block_iter_seek_last(&it); block_iter_valid(&it) && steps < 200000; block_iter_prev(&it)) steps++;
    cr_assert(it.status == 0 || it.status == LSM_ECORRUPT);
    for (size_t j = 0; j < n; j += 7) {
        block_iter_release(&it);
        block_iter_init(&it, b);
        block_iter_seek(&it, e[j].k, e[j].klen);
        if (block_iter_valid(&it)) {
            block_iter_next(&it);
            if (block_iter_valid(&it)) block_iter_prev(&it);
        }
        cr_assert(it.status == 0 || it.status == LSM_ECORRUPT);
    }
    block_iter_release(&it);
}

Test(block, damaged_blocks_never_crash)
{
    tu_rng r;
    tu_rng_init(&r, tu_seed("block.damaged", 2));
    static kv e[200];
    size_t n = make_kvs(&r, e, 200);
    block_builder bb;
    block b;
    build(&bb, e, n, 4, &b);
    size_t len = b.size;
    uint8_t *copy = malloc(len);
    for (int round = 0; round < 20000; round++) {
        memcpy(copy, b.data, len);
        int flips = 1 + (int)tu_uniform(&r, 4);
        for (int f = 0; f < flips; f++) copy[tu_uniform(&r, len)] ^= (uint8_t)(1 + tu_uniform(&r, 255));
        size_t cut = round % 3 == 0 ? tu_uniform(&r, len + 1) : len;
        /* a fresh allocation of exactly cut bytes, so ASan sees any overread */
        uint8_t *exact = malloc(cut ? cut : 1);
        memcpy(exact, copy, cut);
        block d;
        if (block_init(&d, exact, cut) == 0) exercise(&d, e, n);
        free(exact);
    }
    free(copy);
    block_builder_free(&bb);
}

Test(block, heap_iterator_wraps_the_cursor)
{
    tu_rng r;
    tu_rng_init(&r, 3);
    static kv e[100];
    size_t n = make_kvs(&r, e, 100);
    block_builder bb;
    block b;
    build(&bb, e, n, 16, &b);
    iter *it = block_iter_new(&b, NULL);
    cr_assert_not_null(it);
    size_t i = 0;
    for (iter_seek_first(it); iter_valid(it); iter_next(it), i++) {
        slice k = iter_key(it), v = iter_value(it);
        cr_assert_eq(k.len, e[i].klen);
        cr_assert_eq(memcmp(k.data, e[i].k, k.len), 0);
        cr_assert_eq(v.len, e[i].vlen);
    }
    cr_assert_eq(i, n);
    cr_assert_eq(iter_status(it), 0);
    iter_destroy(it);
    block_builder_free(&bb);
}
