/* test_concurrent_table_cache.c — the table cache under churn: a store of several tables with
 * max_open_tables = 1, so nearly every lookup opens a table and evicts another, while reader
 * threads get keys and iterators pin tables across those evictions (tc_release drops pins
 * without the cache lock).  Every get must return the key's value, every scan must be complete
 * and ordered, and the open count must come back to at most the capacity.  Also built under
 * TSan (make SAN=tsan check-concurrent) with its own main (TU_TSAN_MAIN in support/testutil.h). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsm.h"
#include "testutil.h"

#define TABLES 3   /* below the L0 compaction trigger (4): the tables stay separate */
#define KEYS_PER_TABLE 400
#define THREADS 4
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define OPS 1500
#else
#define OPS 6000
#endif

typedef struct targ {
    lsm_db *db;
    uint64_t seed;
    atomic_int *failed;
    char why[200];
} targ;

static int keyfmt(char *k, int i) { return sprintf(k, "k%06d", i); }
static int valfmt(char *v, int i) { return sprintf(v, "value-%d-%d", i, i * 7); }

static void *reader(void *p)
{
    targ *a = p;
    tu_rng r;
    tu_rng_init(&r, a->seed);
    for (int op = 0; op < OPS && !atomic_load(a->failed); op++) {
        int i = (int)tu_uniform(&r, TABLES * KEYS_PER_TABLE);
        char k[32], want[64];
        int kl = keyfmt(k, i), wl = valfmt(want, i);
        if (op % 50 == 0) { /* an iterator pins its tables while gets evict them */
            lsm_iter *it;
            if (lsm_iter_new(a->db, NULL, &it)) {
                snprintf(a->why, sizeof a->why, "lsm_iter_new failed");
                atomic_store(a->failed, 1);
                break;
            }
            int n = 0;
            char prev[32] = "";
            for (lsm_iter_seek(it, k, (size_t)kl); lsm_iter_valid(it) && n < 200;
                 lsm_iter_next(it), n++) {
                size_t l;
                const char *key = lsm_iter_key(it, &l);
                char cur[32];
                snprintf(cur, sizeof cur, "%.*s", (int)l, key);
                if (n > 0 && strcmp(prev, cur) >= 0) {
                    snprintf(a->why, sizeof a->why, "scan out of order: %s then %s", prev, cur);
                    atomic_store(a->failed, 1);
                }
                if (n == 0 && strcmp(cur, k) != 0) {
                    snprintf(a->why, sizeof a->why, "seek %s landed on %s", k, cur);
                    atomic_store(a->failed, 1);
                }
                memcpy(prev, cur, sizeof prev);
                /* a get inside the scan opens (and evicts) tables the iterator pins */
                void *gv = NULL;
                size_t gl = 0;
                if (lsm_get(a->db, NULL, key, l, &gv, &gl)) {
                    snprintf(a->why, sizeof a->why, "get %s during a scan failed", cur);
                    atomic_store(a->failed, 1);
                }
                lsm_free(gv);
            }
            if (lsm_iter_status(it) ||
                (n < 200 && n != TABLES * KEYS_PER_TABLE - i)) {
                snprintf(a->why, sizeof a->why, "scan from %s: %d keys, status %d", k, n,
                         lsm_iter_status(it));
                atomic_store(a->failed, 1);
            }
            lsm_iter_free(it);
            continue;
        }
        void *v = NULL;
        size_t vl = 0;
        int rc = lsm_get(a->db, NULL, k, (size_t)kl, &v, &vl);
        if (rc || vl != (size_t)wl || memcmp(v, want, vl) != 0) {
            snprintf(a->why, sizeof a->why, "get %s: rc %d, %zu bytes", k, rc, vl);
            atomic_store(a->failed, 1);
        }
        lsm_free(v);
    }
    return NULL;
}

static int run(char *why, size_t whylen)
{
    uint64_t seed = tu_seed("concurrent_table_cache", 77);
    char *dir = tu_tmpdir("tcache");
    lsm_options o;
    lsm_options_init(&o);
    o.max_open_tables = 1;
    o.disable_background = 1;
    lsm_db *db;
    int rc = lsm_open(dir, &o, &db);
    if (rc) {
        snprintf(why, whylen, "open: %d", rc);
        return -1;
    }
    /* Table t holds every TABLES-th key, so every lookup range spans all tables. */
    for (int t = 0; t < TABLES && !rc; t++) {
        for (int i = t; i < TABLES * KEYS_PER_TABLE && !rc; i += TABLES) {
            char k[32], v[64];
            int kl = keyfmt(k, i), vl = valfmt(v, i);
            rc = lsm_put(db, NULL, k, (size_t)kl, v, (size_t)vl);
        }
        if (!rc) rc = lsm_flush(db);
    }
    if (rc) {
        snprintf(why, whylen, "fill: %d", rc);
        lsm_close(db);
        return -1;
    }
    atomic_int failed = 0;
    pthread_t th[THREADS];
    targ a[THREADS];
    for (int i = 0; i < THREADS; i++) {
        a[i] = (targ){.db = db, .seed = seed + (uint64_t)i, .failed = &failed, .why = ""};
        pthread_create(&th[i], NULL, reader, &a[i]);
    }
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    int ret = 0;
    for (int i = 0; i < THREADS; i++)
        if (a[i].why[0]) {
            snprintf(why, whylen, "seed %llu thread %d: %s", (unsigned long long)seed, i,
                     a[i].why);
            ret = -1;
            break;
        }
    if (lsm_close(db)) {
        snprintf(why, whylen, "close failed");
        ret = -1;
    }
    tu_rmrf(dir);
    free(dir);
    return ret;
}

Test(concurrent_table_cache, gets_and_scans_across_evictions, .timeout = 300)
{
    char why[300] = "";
    cr_assert_eq(run(why, sizeof why), 0, "%s", why);
}

TU_TSAN_MAIN(run, "concurrent_table_cache")
