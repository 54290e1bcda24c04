/* test_sstable_corruption.c — a damaged table never crashes the reader and never yields wrong
 * data.  A small multi-block table (bloom filter, LZ4, several versions and tombstones per key)
 * is written once; then, in a copy each time, every byte is flipped and the file is truncated
 * at every length.  Opening, iterating both ways, seeking, point lookups and verify must each
 * return success or LSM_ECORRUPT (with a message naming the file), and every entry or value
 * they do return must equal the original: a flip must be caught by a checksum, not read. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache.h"
#include "env.h"
#include "ikey.h"
#include "lsm.h"
#include "sstable.h"
#include "testutil.h"

typedef struct entry {
    uint8_t ikey[64];
    size_t klen;
    uint8_t val[128];
    size_t vlen;
} entry;

/* The model: entries in table order, and the index of each user key's first (newest) entry. */
typedef struct model {
    entry e[200];
    size_t n;
    size_t key_start[64];
    size_t nkeys;
} model;

static void model_build(model *m, tu_rng *rng)
{
    m->n = m->nkeys = 0;
    uint64_t seq = 1000000;
    for (int k = 0; k < 48; k++) {
        char ukey[32];
        int ulen = snprintf(ukey, sizeof ukey, "user-key-%04d", k * 3);
        int versions = 1 + (int)tu_uniform(rng, 3);
        m->key_start[m->nkeys++] = m->n;
        for (int v = 0; v < versions; v++) {
            seq -= 1 + tu_uniform(rng, 50); /* descending within the key: newest first */
            entry *e = &m->e[m->n++];
            int del = tu_uniform(rng, 5) == 0;
            e->klen = ikey_build(e->ikey, (const uint8_t *)ukey, (size_t)ulen, seq,
                                 del ? IKEY_TYPE_DELETE : IKEY_TYPE_VALUE);
            e->vlen = 0;
            if (!del) {
                /* Compressible text of varying length, sometimes empty. */
                size_t len = tu_uniform(rng, 6) == 0 ? 0 : 20 + tu_uniform(rng, 100);
                for (size_t i = 0; i < len; i++)
                    e->val[i] = (uint8_t)("abcabcabd"[i % 9] + (k % 3));
                e->vlen = len;
            }
        }
    }
}

static char *copy_path(const char *dir, uint64_t number)
{
    char name[32];
    snprintf(name, sizeof name, "%06llu.sst", (unsigned long long)number);
    return tu_path(dir, name);
}

static char *write_table(const model *m, const char *dir, uint64_t number, size_t *size)
{
    char name[32];
    snprintf(name, sizeof name, "%06llu.sst", (unsigned long long)number);
    char *path = tu_path(dir, name);
    sst_options o = {.block_size = 256,
                     .restart_interval = 4,
                     .bloom_bits_per_key = 10,
                     .compression = LSM_COMPRESSION_LZ4};
    sst_builder *b;
    cr_assert_eq(sst_builder_open(lsm_env_posix(), path, number, &o, &b), 0, "%s",
                 lsm_last_error());
    for (size_t i = 0; i < m->n; i++)
        cr_assert_eq(sst_builder_add(b, m->e[i].ikey, m->e[i].klen, m->e[i].val, m->e[i].vlen),
                     0, "%s", lsm_last_error());
    sst_meta meta;
    cr_assert_eq(sst_builder_finish(b, &meta), 0, "%s", lsm_last_error());
    cr_assert_eq(meta.num_entries, m->n);
    *size = meta.file_size;
    sst_meta_clear(&meta);
    return path;
}

/* What the state of the table claims vs the model; counts what the damage was caught by. */
typedef struct outcome {
    int corrupt_seen; /* some call reported LSM_ECORRUPT */
} outcome;

static void expect_status(int rc, const char *msg, const char *path, const char *what, size_t pos,
                          outcome *oc)
{
    cr_assert(rc == 0 || rc == LSM_ECORRUPT, "damage at %zu: %s returned %d (%s)", pos, what, rc,
              msg);
    if (rc == LSM_ECORRUPT) {
        oc->corrupt_seen = 1;
        cr_assert_not_null(strstr(msg, path), "damage at %zu: %s message does not name the file: %s",
                           pos, what, msg);
    }
}

static void check_entry(const model *m, size_t j, slice k, slice v, size_t pos, const char *dir)
{
    cr_assert_lt(j, m->n, "damage at %zu: %s iteration yielded an extra entry", pos, dir);
    const entry *e = &m->e[j];
    cr_assert(k.len == e->klen && memcmp(k.data, e->ikey, k.len) == 0,
              "damage at %zu: %s iteration entry %zu has a wrong key", pos, dir, j);
    cr_assert(v.len == e->vlen && (v.len == 0 || memcmp(v.data, e->val, v.len) == 0),
              "damage at %zu: %s iteration entry %zu has a wrong value", pos, dir, j);
}

/* The expected sst_reader_get answer for user key number k at snapshot seq. */
static int model_get(const model *m, size_t k, uint64_t seq, const entry **found)
{
    size_t end = k + 1 < m->nkeys ? m->key_start[k + 1] : m->n;
    for (size_t i = m->key_start[k]; i < end; i++) {
        const entry *e = &m->e[i];
        if (ikey_seq(e->ikey, e->klen) <= seq) {
            *found = e;
            return ikey_kind(e->ikey, e->klen) == IKEY_TYPE_VALUE ? SST_GET_VALUE
                                                                  : SST_GET_DELETED;
        }
    }
    return SST_GET_ABSENT;
}

static void check_get(sst_reader *r, const model *m, const uint8_t *ukey, size_t ulen, size_t k,
                      uint64_t seq, const char *path, size_t pos, outcome *oc)
{
    void *val = NULL;
    size_t vlen = 0;
    int checked = 0, negative = 0;
    int rc = sst_reader_get(r, ukey, ulen, seq, 1, &val, &vlen, &checked, &negative);
    if (rc < 0) {
        expect_status(rc, lsm_last_error(), path, "get", pos, oc);
        return;
    }
    const entry *e = NULL;
    int want = k < m->nkeys ? model_get(m, k, seq, &e) : SST_GET_ABSENT;
    cr_assert_eq(rc, want, "damage at %zu: get %.*s @%llu gave %d, expected %d", pos, (int)ulen,
                 (const char *)ukey, (unsigned long long)seq, rc, want);
    if (rc == SST_GET_VALUE) {
        cr_assert(vlen == e->vlen && (vlen == 0 || memcmp(val, e->val, vlen) == 0),
                  "damage at %zu: get %.*s returned a wrong value", pos, (int)ulen,
                  (const char *)ukey);
        free(val);
    }
}

static void noop_report(void *arg, const char *line)
{
    (void)arg;
    (void)line;
}

/* Run every read path over the (possibly damaged) file at path.  pos is the damaged offset
 * (for messages; SIZE_MAX for the intact file). */
static outcome exercise(const model *m, const char *path, uint64_t number, block_cache *cache,
                        size_t pos)
{
    outcome oc = {0};
    sst_reader *r = NULL;
    int rc = sst_reader_open(lsm_env_posix(), path, number, cache, &r);
    expect_status(rc, lsm_last_error(), path, "open", pos, &oc);
    if (rc)
        return oc;

    /* Forward: a clean finish must have produced exactly the model. */
    iter *it = sst_reader_iter(r, 1);
    size_t j = 0;
    for (iter_seek_first(it); iter_valid(it); iter_next(it), j++)
        check_entry(m, j, iter_key(it), iter_value(it), pos, "forward");
    rc = iter_status(it);
    expect_status(rc, it->errmsg, path, "forward iteration", pos, &oc);
    if (rc == 0)
        cr_assert_eq(j, m->n, "damage at %zu: forward iteration silently lost entries", pos);
    iter_destroy(it);

    /* Backward, with a cache-less iterator this time. */
    it = sst_reader_iter(r, 0);
    j = m->n;
    for (iter_seek_last(it); iter_valid(it); iter_prev(it)) {
        cr_assert_gt(j, 0, "damage at %zu: backward iteration yielded an extra entry", pos);
        check_entry(m, --j, iter_key(it), iter_value(it), pos, "backward");
    }
    rc = iter_status(it);
    expect_status(rc, it->errmsg, path, "backward iteration", pos, &oc);
    if (rc == 0)
        cr_assert_eq(j, 0, "damage at %zu: backward iteration silently lost entries", pos);

    /* Seeks to every other entry, each followed by one step. */
    for (size_t i = 0; i < m->n; i += 2) {
        iter_seek(it, m->e[i].ikey, m->e[i].klen);
        if (!iter_valid(it)) {
            rc = iter_status(it);
            expect_status(rc, it->errmsg, path, "seek", pos, &oc);
            cr_assert_neq(rc, 0, "damage at %zu: seek to entry %zu found nothing", pos, i);
            continue;
        }
        check_entry(m, i, iter_key(it), iter_value(it), pos, "seek");
        iter_next(it);
        if (iter_valid(it))
            check_entry(m, i + 1, iter_key(it), iter_value(it), pos, "seek+next");
        else
            expect_status(iter_status(it), it->errmsg, path, "seek+next", pos, &oc);
    }
    iter_destroy(it);

    /* Point lookups: every key at the latest snapshot and just below each version, plus keys
     * that are absent (between and beyond the table's keys). */
    for (size_t k = 0; k < m->nkeys; k++) {
        const entry *first = &m->e[m->key_start[k]];
        slice u = ikey_user(first->ikey, first->klen);
        check_get(r, m, u.data, u.len, k, IKEY_MAX_SEQ, path, pos, &oc);
        size_t end = k + 1 < m->nkeys ? m->key_start[k + 1] : m->n;
        for (size_t i = m->key_start[k]; i < end; i++)
            check_get(r, m, u.data, u.len, k, ikey_seq(m->e[i].ikey, m->e[i].klen) - 1, path,
                      pos, &oc);
        char absent[32];
        int alen = snprintf(absent, sizeof absent, "user-key-%04zu", k * 3 + 1);
        check_get(r, m, (const uint8_t *)absent, (size_t)alen, SIZE_MAX, IKEY_MAX_SEQ, path, pos,
                  &oc);
    }

    uint64_t done = 0;
    rc = sst_reader_verify(r, noop_report, NULL, &done);
    cr_assert(rc == 0 || rc == LSM_ECORRUPT, "damage at %zu: verify returned %d", pos, rc);
    if (rc == LSM_ECORRUPT)
        oc.corrupt_seen = 1;
    sst_reader_close(r);
    return oc;
}

Test(sstable_corruption, intact_table_reads_back)
{
    tu_rng rng;
    tu_rng_init(&rng, tu_seed("sstable_corruption::intact", 42));
    model *m = calloc(1, sizeof *m);
    model_build(m, &rng);
    char *dir = tu_tmpdir("sstcorrupt");
    size_t size;
    char *path = write_table(m, dir, 12, &size);
    block_cache *cache = cache_new(1 << 20);
    outcome oc = exercise(m, path, 12, cache, SIZE_MAX);
    cr_assert_not(oc.corrupt_seen, "intact table reported corruption: %s", lsm_last_error());
    /* And it is multi-block and compressed, or this test would prove little. */
    size_t raw = 0;
    for (size_t i = 0; i < m->n; i++)
        raw += m->e[i].klen + m->e[i].vlen;
    printf("table: %zu entries, %zu raw bytes, %zu file bytes\n", m->n, raw, size);
    cr_assert_lt(size, raw, "LZ4 should shrink these values");
    cache_free(cache);
    tu_rmrf(dir);
    free(path);
    free(dir);
    free(m);
}

Test(sstable_corruption, every_byte_flipped, .timeout = 600)
{
    tu_rng rng;
    uint64_t seed = tu_seed("sstable_corruption::every_byte_flipped", 42);
    tu_rng_init(&rng, seed);
    model *m = calloc(1, sizeof *m);
    model_build(m, &rng);
    char *dir = tu_tmpdir("sstcorrupt");
    size_t size;
    char *orig_path = write_table(m, dir, 12, &size);
    size_t n;
    uint8_t *orig = tu_read_file(orig_path, &n);
    cr_assert_not_null(orig);
    cr_assert_eq(n, size);
    uint8_t *copy = malloc(n);
    block_cache *cache = cache_new(64 << 10);
    size_t undetected = 0;
    for (size_t pos = 0; pos < n; pos++) {
        memcpy(copy, orig, n);
        uint8_t mask = (uint8_t)(1u << tu_uniform(&rng, 8));
        copy[pos] ^= mask;
        /* A new file (and file number) each time, so cached blocks of earlier copies are never
         * reused, and unlinking rather than truncating keeps ext4 from flushing every copy. */
        char *path = copy_path(dir, 1000 + pos);
        cr_assert_eq(tu_write_file(path, copy, n), 0);
        outcome oc = exercise(m, path, 1000 + pos, cache, pos);
        unlink(path);
        free(path);
        if (!oc.corrupt_seen) {
            undetected++;
            printf("flip of bit mask %02x at offset %zu went unnoticed (data read was correct)\n",
                   mask, pos);
        }
    }
    printf("%zu byte flips, %zu not detected by any read path\n", n, undetected);
    cache_free(cache);
    tu_rmrf(dir);
    free(copy);
    free(orig);
    free(orig_path);
    free(dir);
    free(m);
}

Test(sstable_corruption, every_truncation, .timeout = 600)
{
    tu_rng rng;
    tu_rng_init(&rng, tu_seed("sstable_corruption::every_truncation", 42));
    model *m = calloc(1, sizeof *m);
    model_build(m, &rng);
    char *dir = tu_tmpdir("sstcorrupt");
    size_t size;
    char *orig_path = write_table(m, dir, 12, &size);
    size_t n;
    uint8_t *orig = tu_read_file(orig_path, &n);
    cr_assert_not_null(orig);
    for (size_t len = 0; len < n; len++) {
        char *path = copy_path(dir, 100000 + len);
        cr_assert_eq(tu_write_file(path, orig, len), 0);
        sst_reader *r = NULL;
        int rc = sst_reader_open(lsm_env_posix(), path, 2000 + len, NULL, &r);
        cr_assert_eq(rc, LSM_ECORRUPT, "truncated to %zu of %zu bytes: open returned %d", len, n,
                     rc);
        cr_assert_not_null(strstr(lsm_last_error(), path), "message does not name the file: %s",
                           lsm_last_error());
        unlink(path);
        free(path);
    }
    tu_rmrf(dir);
    free(orig);
    free(orig_path);
    free(dir);
    free(m);
}
