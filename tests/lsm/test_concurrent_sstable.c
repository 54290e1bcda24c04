/* test_concurrent_sstable.c — one table, one shared block cache far smaller than the table,
 * four threads doing point lookups (present and absent keys, with and without fill_cache) and
 * short scans at once.  Every answer must match the table's contents while blocks are
 * inserted, evicted and pinned concurrently.  A second table of big values, built past the
 * writeback step (its hints go through the builder's helper thread), is read at the same time
 * with sst_reader_get_into (values straight into each thread's buffer).  Run under
 * ThreadSanitizer by `make SAN=tsan check-concurrent`. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "env.h"
#include "ikey.h"
#include "lsm.h"
#include "sstable.h"
#include "testutil.h"

#define THREADS 4
#define NKEYS 20000
#define NBIG 96         /* values of the big table: 6 MiB, past the 4 MiB writeback step */
#define BIG 65536

/* Big value i: bytes that depend on i. */
static void big_value(uint8_t *dst, uint32_t i)
{
    for (size_t j = 0; j < BIG; j += 8)
        memcpy(dst + j, &(uint64_t){(uint64_t)i * 0x9e3779b97f4a7c15ull ^ j}, 8);
}

/* Key i (0 <= i < NKEYS) is "k%08u" of 2*i; odd numbers are absent.  Its value depends on i. */
static size_t ukey(uint8_t *dst, uint32_t n) { return (size_t)sprintf((char *)dst, "k%08u", n); }
static size_t value(uint8_t *dst, uint32_t i)
{
    size_t len = i % 97;
    for (size_t j = 0; j < len; j++)
        dst[j] = (uint8_t)(i * 31 + j);
    return len;
}

typedef struct worker {
    sst_reader *r, *big;
    uint64_t seed;
    char why[256];
} worker;

static void *run_worker(void *arg)
{
    worker *w = arg;
    tu_rng rng;
    tu_rng_init(&rng, w->seed);
    uint8_t k[32], want[128];
    uint8_t *got = malloc(BIG), *exp = malloc(BIG);
    for (int op = 0; op < 200 && got && exp; op++) {
        uint32_t i = (uint32_t)tu_uniform(&rng, NBIG);
        size_t kl = ukey(k, i), vl = 0;
        void *v = NULL;
        sst_value_dst dst = {got, BIG};
        int rc = sst_reader_get_into(w->big, k, kl, IKEY_MAX_SEQ, 0, &dst, &v, &vl, NULL, NULL);
        big_value(exp, i);
        if (rc != SST_GET_VALUE || v != got || vl != BIG || memcmp(got, exp, BIG) != 0) {
            snprintf(w->why, sizeof w->why, "big key %u: got %d len %zu (%.150s)", i, rc, vl,
                     rc < 0 ? lsm_last_error() : "");
            break;
        }
    }
    free(got);
    free(exp);
    if (w->why[0])
        return w->why;
    for (int op = 0; op < 6000; op++) {
        uint32_t i = (uint32_t)tu_uniform(&rng, NKEYS);
        if (op % 100 == 99) {
            /* A short scan from key i. */
            iter *it = sst_reader_iter(w->r, (int)tu_uniform(&rng, 2));
            uint8_t target[40];
            size_t tl = ikey_build(target, k, ukey(k, 2 * i), IKEY_MAX_SEQ, IKEY_TYPE_SEEK);
            iter_seek(it, target, tl);
            for (uint32_t j = i; j < i + 50 && j < NKEYS; j++, iter_next(it)) {
                if (!iter_valid(it)) {
                    snprintf(w->why, sizeof w->why, "scan from %u ended at %u: %d %.150s", i, j,
                             iter_status(it), it->errmsg);
                    iter_destroy(it);
                    return w->why;
                }
                slice key = iter_key(it), val = iter_value(it);
                size_t kl = ukey(k, 2 * j), vl = value(want, j);
                if (key.len != kl + IKEY_TRAILER || memcmp(key.data, k, kl) != 0 ||
                    val.len != vl || (vl && memcmp(val.data, want, vl) != 0)) {
                    snprintf(w->why, sizeof w->why, "scan from %u: wrong entry at %u", i, j);
                    iter_destroy(it);
                    return w->why;
                }
            }
            iter_destroy(it);
            continue;
        }
        int absent = tu_uniform(&rng, 4) == 0;
        size_t kl = ukey(k, 2 * i + (uint32_t)absent);
        void *v = NULL;
        size_t vl = 0;
        int rc = sst_reader_get(w->r, k, kl, IKEY_MAX_SEQ, (int)tu_uniform(&rng, 4) != 0, &v, &vl,
                                NULL, NULL);
        if (absent) {
            if (rc != SST_GET_ABSENT) {
                snprintf(w->why, sizeof w->why, "absent key %.*s: got %d (%.150s)", (int)kl,
                         (const char *)k, rc, lsm_last_error());
                free(v);
                return w->why;
            }
            continue;
        }
        size_t wl = value(want, i);
        if (rc != SST_GET_VALUE || vl != wl || (wl && memcmp(v, want, wl) != 0)) {
            snprintf(w->why, sizeof w->why, "key %.*s: got %d len %zu (%.150s)", (int)kl,
                     (const char *)k, rc, vl, rc < 0 ? lsm_last_error() : "");
            free(v);
            return w->why;
        }
        free(v);
    }
    return NULL;
}

static int run_all(char *why, size_t whylen)
{
    uint64_t seed = tu_seed("concurrent_sstable::shared_reader_and_cache", 77);
    char *dir = tu_tmpdir("concsst");
    char *path = tu_path(dir, "000001.sst");
    sst_options o = {.block_size = 1024,
                     .restart_interval = 16,
                     .bloom_bits_per_key = 10,
                     .compression = LSM_COMPRESSION_LZ4};
    sst_builder *b;
    int rc = sst_builder_open(lsm_env_posix(), path, 1, &o, &b);
    uint8_t k[32], ik[48], v[128];
    for (uint32_t i = 0; !rc && i < NKEYS; i++) {
        size_t il = ikey_build(ik, k, ukey(k, 2 * i), 100 + i, IKEY_TYPE_VALUE);
        rc = sst_builder_add(b, ik, il, v, value(v, i));
    }
    sst_meta meta;
    if (!rc)
        rc = sst_builder_finish(b, &meta);
    if (rc) {
        snprintf(why, whylen, "building the table: %s", lsm_last_error());
        return 1;
    }
    sst_meta_clear(&meta);
    char *bigpath = tu_path(dir, "000002.sst");
    uint8_t *bv = malloc(BIG);
    rc = bv ? sst_builder_open(lsm_env_posix(), bigpath, 2, &o, &b) : LSM_ENOMEM;
    for (uint32_t i = 0; !rc && i < NBIG; i++) {
        size_t il = ikey_build(ik, k, ukey(k, i), 100 + i, IKEY_TYPE_VALUE);
        big_value(bv, i);
        rc = sst_builder_add(b, ik, il, bv, BIG);
    }
    free(bv);
    if (!rc)
        rc = sst_builder_finish(b, &meta);
    sst_reader *big = NULL;
    if (!rc) {
        sst_meta_clear(&meta);
        rc = sst_reader_open(lsm_env_posix(), bigpath, 2, NULL, &big);
    }
    free(bigpath);
    if (rc) {
        snprintf(why, whylen, "the big table: %s", lsm_last_error());
        return 1;
    }
    /* About a tenth of the table's blocks fit: constant insertion and eviction. */
    block_cache *cache = cache_new(128 << 10);
    sst_reader *r;
    if (sst_reader_open(lsm_env_posix(), path, 1, cache, &r)) {
        snprintf(why, whylen, "open: %s", lsm_last_error());
        return 1;
    }
    pthread_t t[THREADS];
    worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){.r = r, .big = big, .seed = seed + (uint64_t)i};
        w[i].why[0] = 0;
        pthread_create(&t[i], NULL, run_worker, &w[i]);
    }
    int failed = 0;
    for (int i = 0; i < THREADS; i++) {
        void *res;
        pthread_join(t[i], &res);
        if (res && !failed) {
            snprintf(why, whylen, "thread %d: %s", i, (char *)res);
            failed = 1;
        }
    }
    uint64_t hits, misses;
    cache_stats(cache, &hits, &misses);
    printf("cache: %llu hits, %llu misses\n", (unsigned long long)hits,
           (unsigned long long)misses);
    if (!failed && (hits == 0 || misses == 0)) {
        snprintf(why, whylen, "cache was not exercised: %llu hits %llu misses",
                 (unsigned long long)hits, (unsigned long long)misses);
        failed = 1;
    }
    sst_reader_close(r);
    sst_reader_close(big);
    cache_free(cache);
    tu_rmrf(dir);
    free(path);
    free(dir);
    return failed;
}

Test(concurrent_sstable, shared_reader_and_cache, .timeout = 300)
{
    char why[512] = "";
    cr_assert_eq(run_all(why, sizeof why), 0, "%s", why);
}

TU_TSAN_MAIN(run_all, "concurrent_sstable::shared_reader_and_cache")
