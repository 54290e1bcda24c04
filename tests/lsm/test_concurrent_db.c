/* test_concurrent_db.c — writers, readers, iterators and snapshots on one store while flushes
 * and compactions run in the background (tiny memtable and tables), then lsm_verify and a
 * reopen that must hold exactly the last value of every key.  Also built under TSan
 * (make SAN=tsan check-concurrent), where it has its own main (TU_TSAN_MAIN in support/testutil.h).
 *
 * Each writer owns its keys and writes increasing counters into them; every value is
 * "<key>=<counter>".  A reader that saw counter c for a key must later never see less than c,
 * and never more than the writer has started; a snapshot must keep returning what it first
 * returned; iterators must be strictly ordered with well-formed values. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsm.h"
#include "testutil.h"

#define WRITERS 3
#define READERS 2
#define KEYS_PER_WRITER 300

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define OPS 3000
#else
#define OPS 25000
#endif

typedef struct shared {
    lsm_db *db;
    atomic_long acked[WRITERS][KEYS_PER_WRITER];   /* last acknowledged counter, 0 = none */
    atomic_long started[WRITERS][KEYS_PER_WRITER]; /* last counter a write was started with */
    atomic_int writers_done;
    char why[512];
    atomic_int failed;
    pthread_mutex_t why_mu;
} shared;

typedef struct targ {
    shared *sh;
    int id;
    uint64_t seed;
} targ;

static void fail(shared *sh, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(shared *sh, const char *fmt, ...)
{
    pthread_mutex_lock(&sh->why_mu);
    if (!atomic_load(&sh->failed)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(sh->why, sizeof sh->why, fmt, ap);
        va_end(ap);
        atomic_store(&sh->failed, 1);
    }
    pthread_mutex_unlock(&sh->why_mu);
}

static int key_of(int w, int k, char *buf) { return snprintf(buf, 32, "w%d-%05d", w, k); }

/* Parse "<key>=<counter>"; -1 if malformed or for another key. */
static long parse(const char *key, size_t klen, const void *v, size_t vlen)
{
    if (vlen <= klen + 1 || memcmp(v, key, klen) != 0 || ((const char *)v)[klen] != '=') return -1;
    char tmp[64];
    size_t n = vlen - klen - 1;
    if (n >= sizeof tmp) return -1;
    memcpy(tmp, (const char *)v + klen + 1, n);
    tmp[n] = 0;
    return strtol(tmp, NULL, 10);
}

static void *writer(void *arg)
{
    targ *t = arg;
    shared *sh = t->sh;
    tu_rng rng;
    tu_rng_init(&rng, t->seed);
    char k[32], v[96];
    for (long i = 1; i <= OPS && !atomic_load(&sh->failed); i++) {
        int n = 1 + (tu_uniform(&rng, 5) == 0 ? (int)tu_uniform(&rng, 8) : 0);
        lsm_batch *b = n > 1 ? lsm_batch_new() : NULL;
        int keys[8];
        for (int j = 0; j < n; j++) {
            int kk = (int)tu_uniform(&rng, KEYS_PER_WRITER);
            keys[j] = kk;
            int kl = key_of(t->id, kk, k);
            long c = atomic_load(&sh->started[t->id][kk]) + 1;
            atomic_store(&sh->started[t->id][kk], c);
            int vl = snprintf(v, sizeof v, "%s=%ld", k, c);
            int rc = b ? lsm_batch_put(b, k, (size_t)kl, v, (size_t)vl)
                       : lsm_put(sh->db, NULL, k, (size_t)kl, v, (size_t)vl);
            if (rc) fail(sh, "put: %s", lsm_last_error());
        }
        if (b) {
            if (lsm_write(sh->db, NULL, b)) fail(sh, "write: %s", lsm_last_error());
            lsm_batch_free(b);
        }
        for (int j = 0; j < n; j++)
            atomic_store(&sh->acked[t->id][keys[j]], atomic_load(&sh->started[t->id][keys[j]]));
    }
    atomic_fetch_add(&sh->writers_done, 1);
    return NULL;
}

static void *reader(void *arg)
{
    targ *t = arg;
    shared *sh = t->sh;
    tu_rng rng;
    tu_rng_init(&rng, t->seed);
    char k[32];
    while (atomic_load(&sh->writers_done) < WRITERS && !atomic_load(&sh->failed)) {
        int w = (int)tu_uniform(&rng, WRITERS), kk = (int)tu_uniform(&rng, KEYS_PER_WRITER);
        int kl = key_of(w, kk, k);
        long lo = atomic_load(&sh->acked[w][kk]);
        void *v;
        size_t n;
        int rc = lsm_get(sh->db, NULL, k, (size_t)kl, &v, &n);
        long hi = atomic_load(&sh->started[w][kk]);
        if (rc == LSM_ENOTFOUND) {
            if (lo > 0) fail(sh, "get %s: absent after counter %ld was acknowledged", k, lo);
            continue;
        }
        if (rc) {
            fail(sh, "get %s: %s", k, lsm_last_error());
            continue;
        }
        long c = parse(k, (size_t)kl, v, n);
        if (c < lo || c > hi) fail(sh, "get %s: counter %ld outside [%ld, %ld]", k, c, lo, hi);
        lsm_free(v);
        if (tu_uniform(&rng, 50) == 0) { /* a snapshot keeps answering the same */
            const lsm_snapshot *s = lsm_snapshot_new(sh->db);
            lsm_read_options ro;
            lsm_read_options_init(&ro);
            ro.snapshot = s;
            void *v1, *v2;
            size_t n1, n2;
            int r1 = lsm_get(sh->db, &ro, k, (size_t)kl, &v1, &n1);
            for (int j = 0; j < 200; j++) {
                char fk[32];
                int fl = key_of(w, (int)tu_uniform(&rng, KEYS_PER_WRITER), fk);
                if (lsm_get(sh->db, NULL, fk, (size_t)fl, &v2, &n2) == 0) lsm_free(v2);
            }
            int r2 = lsm_get(sh->db, &ro, k, (size_t)kl, &v2, &n2);
            if (r1 != r2 || (r1 == 0 && (n1 != n2 || memcmp(v1, v2, n1) != 0)))
                fail(sh, "snapshot read of %s changed", k);
            if (r1 == 0) lsm_free(v1);
            if (r2 == 0) lsm_free(v2);
            lsm_snapshot_release(sh->db, s);
        }
    }
    return NULL;
}

static void *scanner(void *arg)
{
    targ *t = arg;
    shared *sh = t->sh;
    int scans = 0;
    while ((atomic_load(&sh->writers_done) < WRITERS || scans < 2) && !atomic_load(&sh->failed)) {
        lsm_iter *it;
        if (lsm_iter_new(sh->db, NULL, &it)) {
            fail(sh, "iter_new: %s", lsm_last_error());
            break;
        }
        char prev[64] = "";
        size_t prevlen = 0;
        int count = 0;
        int backward = scans % 2;
        if (backward) lsm_iter_seek_last(it);
        else lsm_iter_seek_first(it);
        for (; lsm_iter_valid(it); backward ? lsm_iter_prev(it) : lsm_iter_next(it), count++) {
            size_t kl, vl;
            const char *k = lsm_iter_key(it, &kl);
            const void *v = lsm_iter_value(it, &vl);
            if (kl >= sizeof prev || parse(k, kl, v, vl) < 1) {
                fail(sh, "scan: malformed entry %.*s", (int)kl, k);
                break;
            }
            if (prevlen) {
                int c = memcmp(prev, k, kl < prevlen ? kl : prevlen);
                if (c == 0) c = prevlen < kl ? -1 : prevlen > kl;
                if (backward ? c <= 0 : c >= 0) {
                    fail(sh, "scan: keys out of order at %.*s", (int)kl, k);
                    break;
                }
            }
            memcpy(prev, k, kl);
            prevlen = kl;
        }
        if (lsm_iter_status(it)) fail(sh, "scan: %s", lsm_last_error());
        lsm_iter_free(it);
        scans++;
    }
    return NULL;
}

static int run(char *why, size_t wsz)
{
    uint64_t seed = tu_seed("concurrent_db", 77);
    char *dir = tu_tmpdir("concurrent_db");
    shared *sh = calloc(1, sizeof *sh);
    pthread_mutex_init(&sh->why_mu, NULL);
    lsm_options o;
    lsm_options_init(&o);
    o.memtable_size = 32 * 1024;
    o.target_file_size = 32 * 1024;
    o.level1_max_bytes = 128 * 1024;
    o.max_open_tables = 16;
    o.block_cache_size = 128 * 1024;
    int rc = lsm_open(dir, &o, &sh->db);
    if (rc) {
        snprintf(why, wsz, "open: %s", lsm_last_error());
        return 1;
    }
    pthread_t th[WRITERS + READERS + 1];
    targ ta[WRITERS + READERS + 1];
    int n = 0;
    for (int i = 0; i < WRITERS; i++, n++) {
        ta[n] = (targ){sh, i, seed + (uint64_t)n};
        pthread_create(&th[n], NULL, writer, &ta[n]);
    }
    for (int i = 0; i < READERS; i++, n++) {
        ta[n] = (targ){sh, i, seed + (uint64_t)n};
        pthread_create(&th[n], NULL, reader, &ta[n]);
    }
    ta[n] = (targ){sh, 0, seed + (uint64_t)n};
    pthread_create(&th[n], NULL, scanner, &ta[n]);
    n++;
    for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
    char *stats = NULL;
    if (lsm_property(sh->db, "lsm.stats", &stats) == 0) {
        fprintf(stderr, "concurrent_db: seed %llu\n%s", (unsigned long long)seed, stats);
        lsm_free(stats);
    }
    if (lsm_close(sh->db)) fail(sh, "close: %s", lsm_last_error());
    if (!atomic_load(&sh->failed) && lsm_verify(dir, NULL, NULL, NULL) != 0)
        fail(sh, "verify: %s", lsm_last_error());
    if (!atomic_load(&sh->failed)) {
        lsm_db *db;
        if (lsm_open(dir, &o, &db)) fail(sh, "reopen: %s", lsm_last_error());
        else {
            char k[32];
            for (int w = 0; w < WRITERS; w++)
                for (int kk = 0; kk < KEYS_PER_WRITER; kk++) {
                    int kl = key_of(w, kk, k);
                    void *v;
                    size_t vn;
                    long want = atomic_load(&sh->acked[w][kk]);
                    int r = lsm_get(db, NULL, k, (size_t)kl, &v, &vn);
                    long got = r == 0 ? parse(k, (size_t)kl, v, vn) : 0;
                    if (r == 0) lsm_free(v);
                    if (got != want) fail(sh, "after reopen %s = %ld, want %ld", k, got, want);
                }
            lsm_close(db);
        }
    }
    int bad = atomic_load(&sh->failed);
    if (bad) snprintf(why, wsz, "%s (seed %llu)", sh->why, (unsigned long long)seed);
    pthread_mutex_destroy(&sh->why_mu);
    free(sh);
    tu_rmrf(dir);
    free(dir);
    return bad;
}

Test(concurrent_db, writers_readers_scanners, .timeout = 600)
{
    char why[600] = "";
    cr_assert_eq(run(why, sizeof why), 0, "%s", why);
}

TU_TSAN_MAIN(run, "concurrent_db")
