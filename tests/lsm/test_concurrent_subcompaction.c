/* test_concurrent_subcompaction.c — a large leveled compaction shared by several threads
 * (max_subcompactions), each merging its own key range, gives exactly the store a single thread
 * gives: the same random puts and deletes (with a snapshot held across the compactions) go into
 * a store with max_subcompactions 1 and one with 4; after background compaction and a full
 * lsm_compact_range both hold exactly the model's contents, the snapshot still reads its
 * versions in both, the parallel store really split compactions (its stats say so), and both
 * pass lsm_verify and read the same after a reopen.  Also built under TSan
 * (make SAN=tsan check-concurrent) with its own main (TU_TSAN_MAIN in support/testutil.h). */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsm.h"
#include "testutil.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define OPS 20000
#else
#define OPS 50000
#endif
#define KEYS 20000

#define CHECK(cond, ...)                                                                          \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            snprintf(why, n, __VA_ARGS__);                                                        \
            return -1;                                                                            \
        }                                                                                         \
    } while (0)

static void small_tree_options(lsm_options *o, int subcompactions)
{
    lsm_options_init(o);
    o->memtable_size = 64 << 10;
    o->target_file_size = 16 << 10;
    o->level1_max_bytes = 128 << 10;
    o->block_size = 1024;
    o->max_subcompactions = subcompactions;
}

static void key_of(uint64_t i, char *k, size_t n) { snprintf(k, n, "key%08" PRIu64, i); }

/* The value of key i at version ver (> 0): 20..199 bytes, half compressible. */
static size_t value_of(uint64_t i, uint32_t ver, char *v)
{
    uint64_t h = i * 0x9e3779b97f4a7c15ull ^ (uint64_t)ver * 0xbf58476d1ce4e5b9ull;
    size_t len = 20 + (size_t)(h % 180);
    for (size_t j = 0; j < len; j++) {
        h = h * 6364136223846793005ull + 1442695040888963407ull;
        v[j] = j % 2 ? (char)(h >> 56) : 'v';
    }
    return len;
}

/* Whether what the iterator (through ropt) sees is exactly the model: key i at version ver[i]
 * (0: absent).  0 or -1 with the reason in why. */
static int check_contents(lsm_db *db, const lsm_read_options *ropt, const uint32_t *ver,
                          char *why, size_t n)
{
    lsm_iter *it;
    CHECK(lsm_iter_new(db, ropt, &it) == 0, "iter_new: %s", lsm_last_error());
    char k[32], v[200];
    int rc = 0;
    lsm_iter_seek_first(it);
    for (uint64_t i = 0; i < KEYS && !rc; i++) {
        if (!ver[i]) continue;
        key_of(i, k, sizeof k);
        size_t kl, vl, len = value_of(i, ver[i], v);
        if (!lsm_iter_valid(it)) {
            snprintf(why, n, "store misses %s", k);
            rc = -1;
            break;
        }
        const void *gk = lsm_iter_key(it, &kl), *gv = lsm_iter_value(it, &vl);
        if (kl != strlen(k) || memcmp(gk, k, kl) != 0 || vl != len || memcmp(gv, v, len) != 0) {
            snprintf(why, n, "entry for %s differs", k);
            rc = -1;
        }
        lsm_iter_next(it);
    }
    if (!rc && lsm_iter_status(it)) snprintf(why, n, "iterator: %s", lsm_last_error()), rc = -1;
    if (!rc && lsm_iter_valid(it)) snprintf(why, n, "store has keys the model has not"), rc = -1;
    lsm_iter_free(it);
    return rc;
}

/* The same operations into db[0] and db[1] and the models now/then (then: at the snapshot). */
static int write_both(lsm_db **db, const lsm_snapshot **snap, uint32_t *now, uint32_t *then,
                      uint64_t seed, char *why, size_t n)
{
    tu_rng r;
    tu_rng_init(&r, seed);
    char k[32], v[200];
    for (uint32_t op = 1; op <= OPS; op++) {
        if (op == OPS / 2) { /* a snapshot both stores must keep readable */
            memcpy(then, now, KEYS * sizeof *now);
            for (int d = 0; d < 2; d++) CHECK((snap[d] = lsm_snapshot_new(db[d])), "snapshot");
        }
        uint64_t i = tu_uniform(&r, KEYS);
        int del = tu_uniform(&r, 8) == 0;
        key_of(i, k, sizeof k);
        now[i] = del ? 0 : op;
        size_t vl = del ? 0 : value_of(i, op, v);
        for (int d = 0; d < 2; d++) {
            int rc = del ? lsm_delete(db[d], NULL, k, strlen(k))
                         : lsm_put(db[d], NULL, k, strlen(k), v, vl);
            CHECK(rc == 0, "write %s: %s", k, lsm_last_error());
        }
    }
    return 0;
}

static int run(char *why, size_t n)
{
    uint64_t seed = tu_seed("subcompaction", 0x5bc0ull);
    char *dirs[2] = {tu_tmpdir("subcomp1"), tu_tmpdir("subcomp4")};
    lsm_db *db[2];
    for (int d = 0; d < 2; d++) {
        lsm_options o;
        small_tree_options(&o, d ? 4 : 1);
        CHECK(lsm_open(dirs[d], &o, &db[d]) == 0, "open: %s", lsm_last_error());
    }
    uint32_t *now = calloc(KEYS, sizeof *now), *then = calloc(KEYS, sizeof *then);
    CHECK(now && then, "out of memory");
    const lsm_snapshot *snap[2] = {NULL, NULL};
    if (write_both(db, snap, now, then, seed, why, n)) return -1;
    for (int d = 0; d < 2; d++) {
        CHECK(lsm_compact_range(db[d], NULL, 0, NULL, 0) == 0, "compact: %s", lsm_last_error());
        if (check_contents(db[d], NULL, now, why, n)) return -1;
        lsm_read_options ro;
        lsm_read_options_init(&ro);
        ro.snapshot = snap[d];
        if (check_contents(db[d], &ro, then, why, n)) return -1;
        lsm_snapshot_release(db[d], snap[d]);
    }
    CHECK(tu_stats_field(db[0], "subcompactions") == 0, "max_subcompactions 1 split anyway");
    uint64_t spans = tu_stats_field(db[1], "subcompactions");
    fprintf(stderr, "subcompaction: seed %" PRIu64 ", %d ops, %" PRIu64 " spans merged in "
            "parallel\n", seed, OPS, spans);
    CHECK(spans > 0 && spans != UINT64_MAX, "no compaction was split (seed %" PRIu64 ")", seed);
    for (int d = 0; d < 2; d++) {
        CHECK(lsm_close(db[d]) == 0, "close: %s", lsm_last_error());
        CHECK(lsm_verify(dirs[d], NULL, NULL, NULL) == 0, "verify: %s", lsm_last_error());
        lsm_options o;
        small_tree_options(&o, d ? 4 : 1);
        CHECK(lsm_open(dirs[d], &o, &db[d]) == 0, "reopen: %s", lsm_last_error());
        if (check_contents(db[d], NULL, now, why, n)) return -1;
        CHECK(lsm_close(db[d]) == 0, "close: %s", lsm_last_error());
        tu_rmrf(dirs[d]);
        free(dirs[d]);
    }
    free(now);
    free(then);
    return 0;
}

Test(subcompaction, parallel_spans_equal_single_thread, .timeout = 600)
{
    char why[300] = "";
    cr_assert_eq(run(why, sizeof why), 0, "%s", why);
}

TU_TSAN_MAIN(run, "subcompaction")
