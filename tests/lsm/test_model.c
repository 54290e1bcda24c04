/* test_model.c — randomized model test: puts, deletes, batches, gets, iterations (both
 * directions, seeks, lower and upper bounds) and snapshots checked against an in-memory ordered map,
 * with flushes, manual compactions and close+reopen in between, a 64 KiB memtable so that
 * many tables and compactions happen, for leveled and tiered compaction.
 * LSM_TEST_SEED overrides the seed, LSM_TEST_SCALE scales the number of operations. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsm.h"
#include "model_map.h"
#include "testutil.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SAN_DIVISOR 10
#else
#define SAN_DIVISOR 1
#endif

#define MAX_SNAPS 4

typedef struct run {
    lsm_db *db;
    lsm_options o;
    char *dir;
    model_map *m;
    tu_rng rng;
    uint32_t counter;
    const lsm_snapshot *snap[MAX_SNAPS];
    uint32_t *snap_ver[MAX_SNAPS];
    int nsnap;
    uint64_t gets, iters, steps;
} run;

static void reopen(run *r)
{
    for (int i = 0; i < r->nsnap; i++) {
        lsm_snapshot_release(r->db, r->snap[i]);
        free(r->snap_ver[i]);
    }
    r->nsnap = 0;
    if (r->db) cr_assert_eq(lsm_close(r->db), 0, "close: %s", lsm_last_error());
    int rc = lsm_open(r->dir, &r->o, &r->db);
    cr_assert_eq(rc, 0, "open: %s", lsm_last_error());
}

static void check_value(run *r, size_t rank, uint32_t ver, const void *v, size_t n,
                        const char *what)
{
    uint8_t exp[MM_MAX_VALUE];
    size_t len = mm_value(rank, ver, exp);
    cr_assert(n == len && memcmp(v, exp, n) == 0,
              "%s: key rank %zu: value mismatch (len %zu, expected version %u len %zu)", what,
              rank, n, ver, len);
    (void)r;
}

static void do_get(run *r, int si)
{
    size_t rank = tu_uniform(&r->rng, r->m->n);
    const uint32_t *ver = si < 0 ? r->m->ver : r->snap_ver[si];
    lsm_read_options ro;
    lsm_read_options_init(&ro);
    ro.snapshot = si < 0 ? NULL : r->snap[si];
    void *v;
    size_t n;
    const mm_key *k = &r->m->keys[rank];
    int rc = lsm_get(r->db, &ro, k->data, k->len, &v, &n);
    if (ver[rank] == 0) {
        cr_assert_eq(rc, LSM_ENOTFOUND, "get rank %zu (snapshot %d): expected absent, rc %d %s",
                     rank, si, rc, lsm_last_error());
    } else {
        cr_assert_eq(rc, 0, "get rank %zu (snapshot %d): rc %d %s", rank, si, rc,
                     lsm_last_error());
        check_value(r, rank, ver[rank], v, n, "get");
        lsm_free(v);
    }
    r->gets++;
}

static void random_key(run *r, uint8_t *buf, size_t *len)
{
    *len = 1 + tu_uniform(&r->rng, 12);
    for (size_t j = 0; j < *len; j++) {
        uint64_t x = tu_uniform(&r->rng, 8);
        buf[j] = x < 6 ? (uint8_t)('a' + x) : x == 6 ? 0x00 : 0xff;
    }
}

static void do_iter(run *r, int si)
{
    const model_map *m = r->m;
    const uint32_t *ver = si < 0 ? m->ver : r->snap_ver[si];
    lsm_read_options ro;
    lsm_read_options_init(&ro);
    ro.snapshot = si < 0 ? NULL : r->snap[si];
    size_t limit = m->n;
    if (tu_uniform(&r->rng, 3) == 0) {
        limit = tu_uniform(&r->rng, m->n);
        ro.upper_bound = m->keys[limit].data;
        ro.upper_bound_len = m->keys[limit].len;
    }
    size_t low = 0; /* rank of the first key at or past the lower bound */
    uint8_t lbk[16];
    if (tu_uniform(&r->rng, 3) == 0) {
        size_t lbl;
        if (tu_uniform(&r->rng, 2)) {
            random_key(r, lbk, &lbl);
            low = mm_lower_bound(m, lbk, lbl);
        } else {
            low = tu_uniform(&r->rng, m->n);
            lbl = m->keys[low].len;
            memcpy(lbk, m->keys[low].data, lbl);
        }
        ro.lower_bound = lbk;
        ro.lower_bound_len = lbl;
    }
    lsm_iter *it;
    cr_assert_eq(lsm_iter_new(r->db, &ro, &it), 0, "iter_new: %s", lsm_last_error());
    size_t pos;
    uint8_t kb[16];
    size_t kl;
    const char *how;
    switch (tu_uniform(&r->rng, 5)) {
    case 0:
        how = "seek_first";
        lsm_iter_seek_first(it);
        pos = mm_next_present(m, ver, low);
        break;
    case 1:
        how = "seek_last";
        lsm_iter_seek_last(it);
        pos = limit ? mm_prev_present(m, ver, limit - 1) : SIZE_MAX;
        break;
    case 2: {
        how = "seek";
        size_t at = tu_uniform(&r->rng, m->n);
        lsm_iter_seek(it, m->keys[at].data, m->keys[at].len);
        pos = mm_next_present(m, ver, at > low ? at : low);
        break;
    }
    case 3: {
        how = "seek(random)";
        random_key(r, kb, &kl);
        lsm_iter_seek(it, kb, kl);
        size_t at = mm_lower_bound(m, kb, kl);
        pos = mm_next_present(m, ver, at > low ? at : low);
        break;
    }
    default: {
        how = "seek_for_prev";
        random_key(r, kb, &kl);
        if (tu_uniform(&r->rng, 2)) {
            size_t at = tu_uniform(&r->rng, m->n);
            memcpy(kb, m->keys[at].data, m->keys[at].len);
            kl = m->keys[at].len;
        }
        lsm_iter_seek_for_prev(it, kb, kl);
        size_t lb = mm_lower_bound(m, kb, kl);
        size_t start = lb < m->n && mm_keycmp(m->keys[lb].data, m->keys[lb].len, kb, kl) == 0
                           ? lb : lb - 1; /* lb == 0 gives SIZE_MAX */
        if (start != SIZE_MAX && start >= limit) start = limit - 1;
        pos = start == SIZE_MAX ? SIZE_MAX : mm_prev_present(m, ver, start);
        break;
    }
    }
    int steps = (int)tu_uniform(&r->rng, 40);
    for (int s = 0;; s++) {
        int exp_valid = pos != SIZE_MAX && pos < limit && pos >= low;
        cr_assert_eq(lsm_iter_valid(it), exp_valid,
                     "%s (snapshot %d, bounds %zu..%zu) step %d: valid %d, expected %d (rank "
                     "%zu) %s",
                     how, si, low, limit, s, lsm_iter_valid(it), exp_valid, pos,
                     lsm_last_error());
        if (!exp_valid) break;
        size_t klen, vlen;
        const void *k = lsm_iter_key(it, &klen);
        const void *v = lsm_iter_value(it, &vlen);
        cr_assert(mm_keycmp(k, klen, m->keys[pos].data, m->keys[pos].len) == 0,
                  "%s step %d: wrong key (expected rank %zu)", how, s, pos);
        check_value(r, pos, ver[pos], v, vlen, how);
        r->steps++;
        if (s == steps) break;
        if (tu_uniform(&r->rng, 3) == 0) {
            lsm_iter_prev(it);
            pos = pos == 0 ? SIZE_MAX : mm_prev_present(m, ver, pos - 1);
        } else {
            lsm_iter_next(it);
            pos = mm_next_present(m, ver, pos + 1);
        }
    }
    cr_assert_eq(lsm_iter_status(it), 0, "iterator status: %s", lsm_last_error());
    lsm_iter_free(it);
    r->iters++;
}

static void put_rank(run *r, lsm_batch *b, size_t rank)
{
    uint8_t v[MM_MAX_VALUE];
    uint32_t ver = ++r->counter;
    size_t n = mm_value(rank, ver, v);
    const mm_key *k = &r->m->keys[rank];
    int rc = b ? lsm_batch_put(b, k->data, k->len, v, n) : lsm_put(r->db, NULL, k->data, k->len, v, n);
    cr_assert_eq(rc, 0, "put: %s", lsm_last_error());
    r->m->ver[rank] = ver;
}

static void del_rank(run *r, lsm_batch *b, size_t rank)
{
    const mm_key *k = &r->m->keys[rank];
    int rc = b ? lsm_batch_delete(b, k->data, k->len) : lsm_delete(r->db, NULL, k->data, k->len);
    cr_assert_eq(rc, 0, "delete: %s", lsm_last_error());
    r->m->ver[rank] = 0;
}

static void model_run(const char *name, int style, int inline_bg, uint64_t default_seed,
                      size_t nkeys, long ops)
{
    run r;
    memset(&r, 0, sizeof r);
    uint64_t seed = tu_seed(name, default_seed);
    tu_rng_init(&r.rng, seed);
    ops = (long)(ops * tu_scale() / SAN_DIVISOR);
    if (ops < 1000) ops = 1000;
    r.dir = tu_tmpdir(name);
    r.m = mm_new(&r.rng, nkeys, 10);
    cr_assert_not_null(r.m);
    lsm_options_init(&r.o);
    r.o.memtable_size = 64 * 1024;
    r.o.compaction_style = style;
    r.o.target_file_size = 64 * 1024;
    r.o.level1_max_bytes = 256 * 1024;
    r.o.block_size = 1024;
    r.o.max_open_tables = 64;
    r.o.block_cache_size = 256 * 1024;
    r.o.disable_background = inline_bg;
    reopen(&r);
    long reopen_every = ops / 6 + 1, compact_every = ops / 5 + 7, flush_every = ops / 13 + 3;
    for (long i = 1; i <= ops; i++) {
        uint64_t op = tu_uniform(&r.rng, 100);
        int si = r.nsnap && tu_uniform(&r.rng, 4) == 0 ? (int)tu_uniform(&r.rng, (uint64_t)r.nsnap) : -1;
        if (op < 45) {
            put_rank(&r, NULL, tu_uniform(&r.rng, r.m->n));
        } else if (op < 55) {
            del_rank(&r, NULL, tu_uniform(&r.rng, r.m->n));
        } else if (op < 60) {
            lsm_batch *b = lsm_batch_new();
            int n = 1 + (int)tu_uniform(&r.rng, 16);
            for (int j = 0; j < n; j++) {
                size_t rank = tu_uniform(&r.rng, r.m->n);
                if (tu_uniform(&r.rng, 4)) put_rank(&r, b, rank);
                else del_rank(&r, b, rank);
            }
            cr_assert_eq(lsm_write(r.db, NULL, b), 0, "write: %s", lsm_last_error());
            lsm_batch_free(b);
        } else if (op < 88) {
            do_get(&r, si);
        } else if (op < 92) {
            do_iter(&r, si);
        } else if (op < 93) {
            if (r.nsnap < MAX_SNAPS) {
                r.snap[r.nsnap] = lsm_snapshot_new(r.db);
                r.snap_ver[r.nsnap] = malloc(r.m->n * sizeof(uint32_t));
                memcpy(r.snap_ver[r.nsnap], r.m->ver, r.m->n * sizeof(uint32_t));
                r.nsnap++;
            } else {
                int k = (int)tu_uniform(&r.rng, MAX_SNAPS);
                lsm_snapshot_release(r.db, r.snap[k]);
                free(r.snap_ver[k]);
                r.snap[k] = r.snap[--r.nsnap];
                r.snap_ver[k] = r.snap_ver[r.nsnap];
            }
        } else {
            do_get(&r, si);
        }
        if (i % flush_every == 0) cr_assert_eq(lsm_flush(r.db), 0, "flush: %s", lsm_last_error());
        if (i % compact_every == 0) {
            size_t a = tu_uniform(&r.rng, r.m->n), b = tu_uniform(&r.rng, r.m->n);
            if (a > b) { size_t t = a; a = b; b = t; }
            int rc = lsm_compact_range(r.db, r.m->keys[a].data, r.m->keys[a].len,
                                       r.m->keys[b].data, r.m->keys[b].len);
            cr_assert_eq(rc, 0, "compact_range: %s", lsm_last_error());
        }
        if (i % reopen_every == 0) reopen(&r);
    }
    /* Final full check: everything, forward and backward. */
    reopen(&r);
    lsm_iter *it;
    cr_assert_eq(lsm_iter_new(r.db, NULL, &it), 0);
    size_t pos = mm_next_present(r.m, r.m->ver, 0), seen = 0;
    for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it), seen++) {
        cr_assert(pos < r.m->n, "scan: extra key");
        size_t kl, vl;
        const void *k = lsm_iter_key(it, &kl), *v = lsm_iter_value(it, &vl);
        cr_assert(mm_keycmp(k, kl, r.m->keys[pos].data, r.m->keys[pos].len) == 0, "scan: key");
        check_value(&r, pos, r.m->ver[pos], v, vl, "scan");
        pos = mm_next_present(r.m, r.m->ver, pos + 1);
    }
    cr_assert_eq(lsm_iter_status(it), 0);
    cr_assert_eq(seen, mm_count(r.m, r.m->ver));
    lsm_iter_free(it);
    char *stats;
    cr_assert_eq(lsm_property(r.db, "lsm.stats", &stats), 0);
    fprintf(stderr, "%s: seed %llu, %ld ops, %llu gets, %llu iterations (%llu steps), %zu live "
            "keys\n%s", name, (unsigned long long)seed, ops, (unsigned long long)r.gets,
            (unsigned long long)r.iters, (unsigned long long)r.steps, seen, stats);
    lsm_free(stats);
    cr_assert_eq(lsm_close(r.db), 0, "close: %s", lsm_last_error());
    mm_free(r.m);
    tu_rmrf(r.dir);
    free(r.dir);
}

Test(model, leveled, .timeout = 600)
{
    model_run("model_leveled", LSM_COMPACTION_LEVELED, 0, 11, 4000, 600000);
}

Test(model, tiered, .timeout = 600)
{
    model_run("model_tiered", LSM_COMPACTION_TIERED, 0, 22, 4000, 400000);
}

Test(model, inline_small, .timeout = 600)
{
    model_run("model_inline", LSM_COMPACTION_LEVELED, 1, 33, 300, 150000);
}
