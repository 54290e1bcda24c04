/* test_sstable.c — SSTable round trips against an in-memory model: 100k random internal keys
 * with deletions and several versions per user key (point gets at many snapshot sequences,
 * full iteration both ways, seeks), with and without LZ4, empty values, 64 KiB keys and 1 MiB
 * values; big values written in place from the caller's buffer; the block cache (fill_cache on/off); the bloom filter report; builder I/O errors
 * (the .tmp file is removed, the message names it); checksum errors naming file and offset;
 * get_into: big values read from the file straight into the caller's buffer, same results as
 * get, damage caught; big tables with the writeback helper thread. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cache.h"
#include "env.h"
#include "lsm.h"
#include "sstable.h"
#include "testutil.h"

typedef struct ent {
    uint8_t k[24];  /* internal key */
    size_t klen;
    uint8_t *v;
    size_t vlen;
} ent;

static int ent_cmp(const void *a, const void *b)
{
    const ent *x = a, *y = b;
    return ikey_compare(x->k, x->klen, y->k, y->klen);
}

static sst_options default_opts(void)
{
    sst_options o = {.block_size = 4096, .restart_interval = 16, .bloom_bits_per_key = 10,
                     .compression = LSM_COMPRESSION_LZ4};
    return o;
}

/* n entries over about n/3 user keys "u%08u", 1..5 versions each, ~20% deletions, values of
 * 0..120 bytes drawn from a small alphabet (compressible).  Sorted by ikey_compare. */
static ent *make_model(tu_rng *r, size_t n, size_t *out_n)
{
    ent *e = calloc(n, sizeof *e);
    size_t m = 0;
    uint64_t seq = 1;
    for (uint32_t u = 0; m < n; u++) {
        char uk[16];
        int ul = snprintf(uk, sizeof uk, "u%08u", (unsigned)(u * 7 + tu_uniform(r, 7)));
        size_t versions = 1 + tu_uniform(r, 5);
        for (size_t v = 0; v < versions && m < n; v++) {
            int type = tu_uniform(r, 5) == 0 ? IKEY_TYPE_DELETE : IKEY_TYPE_VALUE;
            seq += 1 + tu_uniform(r, 3);
            e[m].klen = ikey_build(e[m].k, (const uint8_t *)uk, (size_t)ul, seq, type);
            e[m].vlen = type == IKEY_TYPE_VALUE ? tu_uniform(r, 121) : 0;
            e[m].v = malloc(e[m].vlen + 1);
            for (size_t i = 0; i < e[m].vlen; i++) e[m].v[i] = (uint8_t)('a' + tu_uniform(r, 3));
            m++;
        }
    }
    qsort(e, m, sizeof *e, ent_cmp);
    *out_n = m;
    return e;
}

static void free_model(ent *e, size_t n)
{
    for (size_t i = 0; i < n; i++) free(e[i].v);
    free(e);
}

static void build_table(const char *path, const sst_options *o, const ent *e, size_t n,
                        sst_meta *meta)
{
    sst_builder *b;
    cr_assert_eq(sst_builder_open(NULL, path, 12, o, &b), 0, "%s", lsm_last_error());
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(sst_builder_add(b, e[i].k, e[i].klen, e[i].v, e[i].vlen), 0, "%s",
                     lsm_last_error());
    cr_assert_eq(sst_builder_entries(b), n);
    cr_assert_eq(sst_builder_finish(b, meta), 0, "%s", lsm_last_error());
}

/* Expected result of get(ukey, seq) from the model. */
static int model_get(const ent *e, size_t n, const uint8_t *uk, size_t ul, uint64_t seq,
                     const ent **hit)
{
    uint8_t t[32];
    size_t tl = ikey_build(t, uk, ul, seq, IKEY_TYPE_SEEK);
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (ikey_compare(e[mid].k, e[mid].klen, t, tl) < 0) lo = mid + 1;
        else hi = mid;
    }
    if (lo == n) return SST_GET_ABSENT;
    slice u = ikey_user(e[lo].k, e[lo].klen);
    if (ukey_compare(u.data, u.len, uk, ul) != 0) return SST_GET_ABSENT;
    *hit = &e[lo];
    return ikey_kind(e[lo].k, e[lo].klen) == IKEY_TYPE_DELETE ? SST_GET_DELETED : SST_GET_VALUE;
}

static void check_get(sst_reader *r, const ent *e, size_t n, const uint8_t *uk, size_t ul,
                      uint64_t seq, int fill)
{
    const ent *hit = NULL;
    int want = model_get(e, n, uk, ul, seq, &hit);
    void *v = NULL;
    size_t vl = 0;
    int got = sst_reader_get(r, uk, ul, seq, fill, &v, &vl, NULL, NULL);
    cr_assert_eq(got, want, "get %.*s @%llu: got %d want %d (%s)", (int)ul, uk,
                 (unsigned long long)seq, got, want, lsm_last_error());
    if (got == SST_GET_VALUE) {
        cr_assert_eq(vl, hit->vlen);
        cr_assert(vl == 0 || memcmp(v, hit->v, vl) == 0);
        free(v);
    }
}

static void check_all(sst_reader *r, const ent *e, size_t n, tu_rng *rng)
{
    /* forward and backward iteration */
    iter *it = sst_reader_iter(r, 1);
    size_t i = 0;
    for (iter_seek_first(it); iter_valid(it); iter_next(it), i++) {
        slice k = iter_key(it), v = iter_value(it);
        cr_assert_eq(k.len, e[i].klen);
        cr_assert_eq(memcmp(k.data, e[i].k, k.len), 0, "entry %zu", i);
        cr_assert_eq(v.len, e[i].vlen);
        cr_assert(v.len == 0 || memcmp(v.data, e[i].v, v.len) == 0);
    }
    cr_assert_eq(iter_status(it), 0, "%s", it->errmsg);
    cr_assert_eq(i, n);
    for (iter_seek_last(it); iter_valid(it); iter_prev(it)) {
        slice k = iter_key(it);
        --i;
        cr_assert_eq(memcmp(k.data, e[i].k, k.len), 0, "entry %zu backwards", i);
    }
    cr_assert_eq(i, 0);
    cr_assert_eq(iter_status(it), 0);
    /* seeks: to every 97th key exactly, and to random (mostly absent) keys */
    for (size_t j = 0; j < n; j += 97) {
        iter_seek(it, e[j].k, e[j].klen);
        cr_assert(iter_valid(it));
        cr_assert_eq(memcmp(iter_key(it).data, e[j].k, e[j].klen), 0);
        if (j > 0) {
            iter_prev(it);
            cr_assert_eq(memcmp(iter_key(it).data, e[j - 1].k, e[j - 1].klen), 0);
        }
    }
    for (int s = 0; s < 2000; s++) {
        char uk[16];
        int ul = snprintf(uk, sizeof uk, "u%08u", (unsigned)tu_uniform(rng, (uint32_t)n * 3));
        uint8_t t[32];
        size_t tl = ikey_build(t, (const uint8_t *)uk, (size_t)ul, tu_uniform(rng, n * 3), 1);
        size_t lo = 0, hi = n;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (ikey_compare(e[mid].k, e[mid].klen, t, tl) < 0) lo = mid + 1;
            else hi = mid;
        }
        iter_seek(it, t, tl);
        if (lo == n) {
            cr_assert(!iter_valid(it));
        } else {
            cr_assert(iter_valid(it));
            cr_assert_eq(memcmp(iter_key(it).data, e[lo].k, e[lo].klen), 0);
        }
    }
    iter_destroy(it);

    /* point gets: every user key at the newest snapshot, at each version's sequence and just
     * below it; plus absent keys */
    for (size_t j = 0; j < n; j++) {
        slice u = ikey_user(e[j].k, e[j].klen);
        uint64_t seq = ikey_seq(e[j].k, e[j].klen);
        if (j % 3 == 0) check_get(r, e, n, u.data, u.len, IKEY_MAX_SEQ, 1);
        check_get(r, e, n, u.data, u.len, seq, j & 1);
        check_get(r, e, n, u.data, u.len, seq - 1, 1);
    }
    for (int s = 0; s < 5000; s++) {
        char uk[16];
        int ul = snprintf(uk, sizeof uk, "x%08u", (unsigned)s);
        check_get(r, e, n, (const uint8_t *)uk, (size_t)ul, IKEY_MAX_SEQ, 1);
    }
}

Test(sstable, round_trip_100k_versions_and_deletions, .timeout = 120)
{
    tu_rng rng;
    tu_rng_init(&rng, tu_seed("sstable.round_trip", 11));
    size_t n;
    ent *e = make_model(&rng, 100000, &n);
    char *dir = tu_tmpdir("sst");
    char *path = tu_path(dir, "000012.sst");
    sst_options o = default_opts();
    sst_meta meta;
    build_table(path, &o, e, n, &meta);
    cr_assert_eq(meta.file_number, 12);
    cr_assert_eq(meta.num_entries, n);
    uint64_t dels = 0, kb = 0, vb = 0;
    for (size_t i = 0; i < n; i++) {
        dels += ikey_kind(e[i].k, e[i].klen) == IKEY_TYPE_DELETE;
        kb += e[i].klen - IKEY_TRAILER;
        vb += e[i].vlen;
    }
    cr_assert_eq(meta.num_deletions, dels);
    cr_assert_eq(meta.raw_key_bytes, kb);
    cr_assert_eq(meta.raw_value_bytes, vb);
    cr_assert_eq(meta.smallest_len, e[0].klen);
    cr_assert_eq(memcmp(meta.smallest, e[0].k, e[0].klen), 0);
    cr_assert_eq(memcmp(meta.largest, e[n - 1].k, e[n - 1].klen), 0);

    char *tmp = tu_path(dir, "000012.sst.tmp");
    cr_assert_null(fopen(tmp, "r"), "the .tmp file must be gone after finish");
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600, "tables are private to the store's owner");

    block_cache *c = cache_new(8 << 20);
    sst_reader *r;
    cr_assert_eq(sst_reader_open(NULL, path, 12, c, &r), 0, "%s", lsm_last_error());
    cr_assert_eq(sst_reader_file_size(r), meta.file_size);
    check_all(r, e, n, &rng);

    uint64_t done = 0;
    cr_assert_eq(sst_reader_verify(r, NULL, NULL, &done), 0, "%s", lsm_last_error());
    cr_assert_eq(done, meta.file_size);
    /* approximate offsets grow with the key */
    uint64_t last = 0;
    for (size_t j = 0; j < n; j += 1000) {
        uint64_t off = sst_reader_approx_offset(r, e[j].k, e[j].klen);
        cr_assert_geq(off, last);
        cr_assert_lt(off, meta.file_size);
        last = off;
    }
    cr_assert_gt(last, meta.file_size / 2);

    sst_reader_close(r);
    cache_free(c);
    /* and without any cache */
    cr_assert_eq(sst_reader_open(NULL, path, 12, NULL, &r), 0);
    check_all(r, e, n, &rng);
    sst_reader_close(r);

    sst_meta_clear(&meta);
    free_model(e, n);
    free(tmp);
    free(path);
    tu_rmrf(dir);
    free(dir);
}

Test(sstable, compression_on_and_off)
{
    tu_rng rng;
    tu_rng_init(&rng, tu_seed("sstable.compression", 12));
    size_t n;
    ent *e = make_model(&rng, 20000, &n);
    char *dir = tu_tmpdir("sstc");
    char *p1 = tu_path(dir, "1.sst"), *p2 = tu_path(dir, "2.sst");
    sst_options o = default_opts();
    sst_meta m1, m2;
    o.compression = LSM_COMPRESSION_NONE;
    build_table(p1, &o, e, n, &m1);
    o.compression = LSM_COMPRESSION_LZ4;
    build_table(p2, &o, e, n, &m2);
    cr_assert_lt(m2.file_size, m1.file_size * 3 / 4, "LZ4 %llu vs raw %llu",
                 (unsigned long long)m2.file_size, (unsigned long long)m1.file_size);
    const char *paths[] = {p1, p2};
    for (int i = 0; i < 2; i++) {
        sst_reader *r;
        cr_assert_eq(sst_reader_open(NULL, paths[i], 1, NULL, &r), 0);
        check_all(r, e, n, &rng);
        sst_reader_close(r);
    }
    /* incompressible values are stored raw: the LZ4 table is no bigger than the raw one */
    for (size_t i = 0; i < n; i++) tu_fill(&rng, e[i].v, e[i].vlen);
    o.compression = LSM_COMPRESSION_NONE;
    sst_meta m3, m4;
    build_table(p1, &o, e, n, &m3);
    o.compression = LSM_COMPRESSION_LZ4;
    build_table(p2, &o, e, n, &m4);
    cr_assert_leq(m4.file_size, m3.file_size);
    sst_meta_clear(&m1);
    sst_meta_clear(&m2);
    sst_meta_clear(&m3);
    sst_meta_clear(&m4);
    free_model(e, n);
    free(p1);
    free(p2);
    tu_rmrf(dir);
    free(dir);
}

/* Values that fill a block by themselves and will not be compressed go to the file from the
 * caller's buffer (a block laid out as block_builder would, its CRC over the pieces).  A model
 * mixing them with small values, with compressible big values (compressed, the usual path)
 * and with big values that share a block with a small one, with and without LZ4: every
 * entry reads back (iteration both ways, seeks, gets) and every block checks out. */
Test(sstable, big_values_written_in_place, .timeout = 120)
{
    tu_rng rng;
    tu_rng_init(&rng, tu_seed("sstable.inplace", 13));
    size_t n;
    ent *e = make_model(&rng, 3000, &n);
    for (size_t i = 0; i < n; i++) {
        if (e[i].vlen == 0 || i % 4 == 1) continue; /* deletions, and small values between */
        e[i].vlen = 65536 + tu_uniform(&rng, 3) * 4099;
        e[i].v = realloc(e[i].v, e[i].vlen);
        if (i % 7 == 0)
            for (size_t j = 0; j < e[i].vlen; j++) e[i].v[j] = (uint8_t)('a' + j % 3);
        else
            tu_fill(&rng, e[i].v, e[i].vlen);
    }
    char *dir = tu_tmpdir("sstinplace");
    char *path = tu_path(dir, "3.sst");
    for (int lz4 = 0; lz4 < 2; lz4++) {
        sst_options o = default_opts();
        o.compression = lz4 ? LSM_COMPRESSION_LZ4 : LSM_COMPRESSION_NONE;
        sst_meta m;
        build_table(path, &o, e, n, &m);
        sst_reader *r;
        cr_assert_eq(sst_reader_open(NULL, path, 3, NULL, &r), 0, "%s", lsm_last_error());
        check_all(r, e, n, &rng);
        uint64_t checked = 0;
        cr_assert_eq(sst_reader_verify(r, NULL, NULL, &checked), 0, "%s", lsm_last_error());
        cr_assert_gt(checked, 0);
        sst_reader_close(r);
        sst_meta_clear(&m);
    }
    free_model(e, n);
    free(path);
    tu_rmrf(dir);
    free(dir);
}

Test(sstable, empty_values_huge_keys_and_values, .timeout = 60)
{
    char *dir = tu_tmpdir("sstbig");
    char *path = tu_path(dir, "7.sst");
    const size_t KEY = LSM_MAX_KEY_SIZE, VAL = 1 << 20;
    uint8_t *key = malloc(KEY + IKEY_TRAILER), *val = malloc(VAL);
    tu_rng rng;
    tu_rng_init(&rng, 5);
    tu_fill(&rng, val, VAL);
    sst_options o = default_opts();
    sst_builder *b;
    cr_assert_eq(sst_builder_open(NULL, path, 7, &o, &b), 0);
    /* key i: 64 KiB of 'k' then i (so they share a 64 KiB prefix); values alternate empty and
     * 1 MiB */
    for (int i = 0; i < 6; i++) {
        memset(key, 'k', KEY);
        key[KEY - 1] = (uint8_t)('0' + i);
        ikey_build(key, key, KEY, 100, IKEY_TYPE_VALUE);
        cr_assert_eq(sst_builder_add(b, key, KEY + IKEY_TRAILER, val, i % 2 ? VAL : 0), 0);
    }
    const uint8_t small[] = "zz\0\0\0\0\0\0\0";
    uint8_t sk[16];
    size_t sl = ikey_build(sk, small, 2, 1, IKEY_TYPE_VALUE);
    cr_assert_eq(sst_builder_add(b, sk, sl, NULL, 0), 0);
    sst_meta m;
    cr_assert_eq(sst_builder_finish(b, &m), 0, "%s", lsm_last_error());
    cr_assert_eq(m.num_entries, 7);

    sst_reader *r;
    block_cache *c = cache_new(4 << 20);
    cr_assert_eq(sst_reader_open(NULL, path, 7, c, &r), 0, "%s", lsm_last_error());
    for (int i = 0; i < 6; i++) {
        memset(key, 'k', KEY);
        key[KEY - 1] = (uint8_t)('0' + i);
        void *v = NULL;
        size_t vl = 99;
        cr_assert_eq(sst_reader_get(r, key, KEY, 200, 1, &v, &vl, NULL, NULL), SST_GET_VALUE,
                     "%s", lsm_last_error());
        cr_assert_not_null(v, "an empty value is still a non-NULL pointer");
        cr_assert_eq(vl, i % 2 ? VAL : 0);
        cr_assert(vl == 0 || memcmp(v, val, VAL) == 0);
        free(v);
        /* older snapshot than the only version: absent */
        cr_assert_eq(sst_reader_get(r, key, KEY, 99, 1, &v, &vl, NULL, NULL), SST_GET_ABSENT);
    }
    void *v;
    size_t vl;
    cr_assert_eq(sst_reader_get(r, small, 2, 5, 1, &v, &vl, NULL, NULL), SST_GET_VALUE);
    cr_assert_eq(vl, 0);
    free(v);
    iter *it = sst_reader_iter(r, 0);
    int count = 0;
    for (iter_seek_last(it); iter_valid(it); iter_prev(it)) count++;
    cr_assert_eq(count, 7);
    cr_assert_eq(iter_status(it), 0);
    iter_destroy(it);
    cr_assert_eq(sst_reader_verify(r, NULL, NULL, NULL), 0);
    sst_reader_close(r);
    cache_free(c);
    sst_meta_clear(&m);
    free(key);
    free(val);
    free(path);
    tu_rmrf(dir);
    free(dir);
}

Test(sstable, cache_fill_and_bloom_report)
{
    tu_rng rng;
    tu_rng_init(&rng, 21);
    size_t n;
    ent *e = make_model(&rng, 5000, &n);
    char *dir = tu_tmpdir("sstcache");
    char *path = tu_path(dir, "3.sst");
    sst_options o = default_opts();
    sst_meta m;
    build_table(path, &o, e, n, &m);
    block_cache *c = cache_new(1 << 20);
    sst_reader *r;
    cr_assert_eq(sst_reader_open(NULL, path, 3, c, &r), 0);
    slice u = ikey_user(e[n / 2].k, e[n / 2].klen);
    void *v = NULL;
    size_t vl;
    int checked = -1, negative = -1;
    /* fill_cache 0: nothing is inserted */
    int rc = sst_reader_get(r, u.data, u.len, IKEY_MAX_SEQ, 0, &v, &vl, &checked, &negative);
    cr_assert_geq(rc, 0);
    if (rc == SST_GET_VALUE) free(v);
    cr_assert_eq(checked, 1);
    cr_assert_eq(negative, 0);
    cr_assert_eq(cache_usage(c), 0);
    /* fill_cache 1: one block is inserted; the second get hits */
    rc = sst_reader_get(r, u.data, u.len, IKEY_MAX_SEQ, 1, &v, &vl, NULL, NULL);
    if (rc == SST_GET_VALUE) free(v);
    cr_assert_gt(cache_usage(c), 0);
    uint64_t hits0, misses0, hits1, misses1;
    cache_stats(c, &hits0, &misses0);
    rc = sst_reader_get(r, u.data, u.len, IKEY_MAX_SEQ, 1, &v, &vl, NULL, NULL);
    if (rc == SST_GET_VALUE) free(v);
    cache_stats(c, &hits1, &misses1);
    cr_assert_eq(hits1, hits0 + 1);
    cr_assert_eq(misses1, misses0);
    /* absent keys: the filter rules out about 99% of them without touching a block */
    int neg = 0;
    for (int i = 0; i < 1000; i++) {
        char k[16];
        int kl = snprintf(k, sizeof k, "absent%d", i);
        cr_assert_eq(sst_reader_get(r, (const uint8_t *)k, (size_t)kl, IKEY_MAX_SEQ, 1, &v, &vl,
                                    &checked, &negative), SST_GET_ABSENT);
        neg += negative;
        cr_assert_eq(negative, !sst_reader_may_contain(r, (const uint8_t *)k, (size_t)kl));
    }
    cr_assert_gt(neg, 950);
    sst_reader_close(r);

    /* a table without a filter reports that the filter was not consulted */
    o.bloom_bits_per_key = 0;
    sst_meta m2;
    build_table(path, &o, e, n, &m2);
    cr_assert_eq(sst_reader_open(NULL, path, 4, NULL, &r), 0);
    cr_assert_eq(sst_reader_get(r, (const uint8_t *)"nope", 4, IKEY_MAX_SEQ, 1, &v, &vl,
                                &checked, &negative), SST_GET_ABSENT);
    cr_assert_eq(checked, 0);
    cr_assert_eq(negative, 0);
    cr_assert(sst_reader_may_contain(r, (const uint8_t *)"nope", 4));
    sst_reader_close(r);
    cache_free(c);
    sst_meta_clear(&m);
    sst_meta_clear(&m2);
    free_model(e, n);
    free(path);
    tu_rmrf(dir);
    free(dir);
}

/* An env over the POSIX one whose pwrite fails with ENOSPC after a byte budget, or whose
 * fsync fails with EIO. */
static long write_budget;
static int fail_fsync;
static ssize_t budget_pwrite(lsm_env *env, int fd, const void *b, size_t n, off_t off)
{
    if (write_budget <= 0) return -ENOSPC;
    if ((long)n > write_budget) n = (size_t)write_budget; /* short write, then ENOSPC */
    write_budget -= (long)n;
    return lsm_env_posix()->pwrite(lsm_env_posix(), fd, b, n, off);
}
static int failing_fsync(lsm_env *env, int fd)
{
    return fail_fsync ? -EIO : lsm_env_posix()->fsync(lsm_env_posix(), fd);
}

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

Test(sstable, builder_errors_remove_the_temp_file)
{
    tu_rng rng;
    tu_rng_init(&rng, 31);
    size_t n;
    ent *e = make_model(&rng, 30000, &n);
    char *dir = tu_tmpdir("sstfail");
    char *path = tu_path(dir, "000009.sst");
    lsm_env env = *lsm_env_posix();
    env.pwrite = budget_pwrite;
    env.fsync = failing_fsync;
    sst_options o = default_opts();
    const long budgets[] = {0, 1000, 70000, 200000};
    for (int t = 0; t < 5; t++) {
        write_budget = t < 4 ? budgets[t] : 1L << 40;
        fail_fsync = t == 4;
        sst_builder *b;
        cr_assert_eq(sst_builder_open(&env, path, 9, &o, &b), 0);
        int rc = 0;
        for (size_t i = 0; i < n && !rc; i++) rc = sst_builder_add(b, e[i].k, e[i].klen, e[i].v, e[i].vlen);
        sst_meta m;
        if (!rc) {
            rc = sst_builder_finish(b, &m);
        } else {
            cr_assert_eq(sst_builder_finish(b, &m), rc, "finish repeats the first error");
        }
        cr_assert_eq(rc, t < 4 ? -ENOSPC : -EIO, "case %d: %d %s", t, rc, lsm_last_error());
        cr_assert_neq(strstr(lsm_last_error(), "000009.sst.tmp"), NULL, "%s", lsm_last_error());
        cr_assert_eq(count_files(dir), 0, "case %d left a file behind", t);
    }
    /* abandon removes the temp file too */
    sst_builder *b;
    cr_assert_eq(sst_builder_open(NULL, path, 9, &o, &b), 0);
    cr_assert_eq(sst_builder_add(b, e[0].k, e[0].klen, e[0].v, e[0].vlen), 0);
    sst_builder_abandon(b);
    cr_assert_eq(count_files(dir), 0);
    /* keys out of order are refused */
    cr_assert_eq(sst_builder_open(NULL, path, 9, &o, &b), 0);
    cr_assert_eq(sst_builder_add(b, e[1].k, e[1].klen, NULL, 0), 0);
    cr_assert_eq(sst_builder_add(b, e[0].k, e[0].klen, NULL, 0), LSM_EINVAL);
    sst_builder_abandon(b);
    free_model(e, n);
    free(path);
    tu_rmrf(dir);
    free(dir);
}

static const char *verify_path;
static void count_line(void *arg, const char *line)
{
    cr_assert_neq(strstr(line, verify_path), NULL, "%s", line);
    ++*(int *)arg;
}

Test(sstable, open_errors_name_the_file_and_offset)
{
    tu_rng rng;
    tu_rng_init(&rng, 41);
    size_t n;
    ent *e = make_model(&rng, 3000, &n);
    char *dir = tu_tmpdir("sstbad");
    char *path = tu_path(dir, "000012.sst");
    verify_path = path;
    sst_reader *r;
    cr_assert_eq(sst_reader_open(NULL, path, 12, NULL, &r), -ENOENT);
    cr_assert_neq(strstr(lsm_last_error(), path), NULL);
    sst_options o = default_opts();
    sst_meta m;
    build_table(path, &o, e, n, &m);
    size_t len;
    uint8_t *good = tu_read_file(path, &len);
    /* a byte of the first data block */
    good[100] ^= 1;
    cr_assert_eq(tu_write_file(path, good, len), 0);
    cr_assert_eq(sst_reader_open(NULL, path, 12, NULL, &r), 0, "data blocks are read lazily");
    iter *it = sst_reader_iter(r, 1);
    iter_seek_first(it);
    cr_assert(!iter_valid(it));
    cr_assert_eq(iter_status(it), LSM_ECORRUPT);
    char want[600];
    snprintf(want, sizeof want, "%s: block at offset 0: checksum mismatch", path);
    cr_assert_str_eq(it->errmsg, want);
    iter_destroy(it);
    slice u = ikey_user(e[0].k, e[0].klen);
    void *v;
    size_t vl;
    cr_assert_eq(sst_reader_get(r, u.data, u.len, IKEY_MAX_SEQ, 1, &v, &vl, NULL, NULL),
                 LSM_ECORRUPT);
    cr_assert_str_eq(lsm_last_error(), want);
    int lines = 0;
    cr_assert_eq(sst_reader_verify(r, count_line, &lines, NULL), LSM_ECORRUPT);
    cr_assert_eq(lines, 1);
    sst_reader_close(r);
    good[100] ^= 1;
    /* the last byte (magic) and a truncated copy */
    good[len - 1] ^= 0x40;
    cr_assert_eq(tu_write_file(path, good, len), 0);
    cr_assert_eq(sst_reader_open(NULL, path, 12, NULL, &r), LSM_ECORRUPT);
    cr_assert_neq(strstr(lsm_last_error(), "magic"), NULL, "%s", lsm_last_error());
    cr_assert_neq(strstr(lsm_last_error(), path), NULL);
    good[len - 1] ^= 0x40;
    cr_assert_eq(tu_write_file(path, good, 40), 0);
    cr_assert_eq(sst_reader_open(NULL, path, 12, NULL, &r), LSM_ECORRUPT);
    cr_assert_neq(strstr(lsm_last_error(), path), NULL);
    free(good);
    sst_meta_clear(&m);
    free_model(e, n);
    free(path);
    tu_rmrf(dir);
    free(dir);
}

/* get_into: an env that counts preadv calls, so the test sees which read path was taken. */
static int preadv_calls;
static ssize_t counting_preadv(lsm_env *env, int fd, const struct iovec *iov, int n, off_t off)
{
    preadv_calls++;
    return lsm_env_posix()->preadv(env, fd, iov, n, off);
}

/* get and get_into agree on (ukey, seq): result, length, the first cap bytes. */
static void check_into(sst_reader *r, const uint8_t *uk, size_t ul, uint64_t seq, int fill,
                       size_t cap)
{
    void *v = NULL, *vi = NULL;
    size_t vl = 0, vil = 0;
    uint8_t *dbuf = malloc(cap);
    sst_value_dst dst = {dbuf, cap};
    int want = sst_reader_get(r, uk, ul, seq, fill, &v, &vl, NULL, NULL);
    int got = sst_reader_get_into(r, uk, ul, seq, fill, &dst, &vi, &vil, NULL, NULL);
    cr_assert_eq(got, want, "%.*s @%llu: get_into %d, get %d (%s)", (int)ul, uk,
                 (unsigned long long)seq, got, want, lsm_last_error());
    if (want == SST_GET_VALUE) {
        cr_assert_eq(vi, dbuf, "the value is in the caller's buffer");
        cr_assert_eq(vil, vl);
        cr_assert_eq(memcmp(dbuf, v, vl < cap ? vl : cap), 0, "%.*s: bytes differ", (int)ul, uk);
        free(v);
    }
    free(dbuf);
}

Test(sstable, get_into_reads_big_values_in_place)
{
    tu_rng rng;
    tu_rng_init(&rng, tu_seed("get_into", 77));
    char *dir = tu_tmpdir("sstinto");
    char *path = tu_path(dir, "5.sst");
    /* key i: random (in place, one entry per block) or compressible (LZ4) values of several
     * sizes, one deletion, and a key with two versions (seq 50 over seq 10) */
    enum { N = 24 };
    static const size_t sizes[] = {65536, 20000, 70000, 100, 65536, 16384};
    ent e[N + 1];
    size_t n = 0;
    for (uint32_t i = 0; i < N; i++) {
        char uk[16];
        int ul = snprintf(uk, sizeof uk, "c%04u", (unsigned)i);
        int del = i == 7;
        e[n].klen = ikey_build(e[n].k, (const uint8_t *)uk, (size_t)ul, i == 9 ? 50 : 100 + i,
                               del ? IKEY_TYPE_DELETE : IKEY_TYPE_VALUE);
        e[n].vlen = del ? 0 : sizes[i % 6];
        e[n].v = malloc(e[n].vlen + 1);
        if (i % 5 == 3) memset(e[n].v, 'a', e[n].vlen);
        else tu_fill(&rng, e[n].v, e[n].vlen);
        n++;
        if (i == 9) { /* the older version */
            e[n].klen = ikey_build(e[n].k, (const uint8_t *)uk, (size_t)ul, 10, IKEY_TYPE_VALUE);
            e[n].vlen = 65536;
            e[n].v = malloc(e[n].vlen);
            tu_fill(&rng, e[n].v, e[n].vlen);
            n++;
        }
    }
    sst_options o = default_opts();
    sst_meta m;
    build_table(path, &o, e, n, &m);
    lsm_env env = *lsm_env_posix();
    env.preadv = counting_preadv;
    block_cache *c = cache_new(4 << 20);
    for (int cached = 0; cached < 2; cached++) {
        sst_reader *r;
        cr_assert_eq(sst_reader_open(&env, path, 5, cached ? c : NULL, &r), 0, "%s", lsm_last_error());
        preadv_calls = 0;
        for (uint32_t i = 0; i < N; i++) {
            char uk[16];
            int ul = snprintf(uk, sizeof uk, "c%04u", (unsigned)i);
            for (int fill = 0; fill < 2; fill++) {
                check_into(r, (const uint8_t *)uk, (size_t)ul, IKEY_MAX_SEQ, fill, 65536);
                check_into(r, (const uint8_t *)uk, (size_t)ul, 20, fill, 65536); /* before most */
                check_into(r, (const uint8_t *)uk, (size_t)ul, IKEY_MAX_SEQ, fill, 1000);
            }
        }
        check_into(r, (const uint8_t *)"c9999", 5, IKEY_MAX_SEQ, 0, 65536); /* absent */
        /* (with a cache, blocks that fill_cache 1 put there are read from it instead) */
        cr_assert_gt(preadv_calls, cached ? 5 : 20, "big values are read in place (%d preadv)",
                     preadv_calls);
        sst_reader_close(r);
    }
    /* a flipped byte inside a value read in place: the checksum catches it, with the usual
     * message naming the file and the block */
    size_t flen;
    uint8_t *file = tu_read_file(path, &flen);
    uint8_t *at = memmem(file, flen, e[0].v + 30000, 64);
    cr_assert(at, "value bytes found in the file");
    at[10] ^= 0x40;
    FILE *fw = fopen(path, "wb");
    cr_assert(fw && fwrite(file, 1, flen, fw) == flen && fclose(fw) == 0);
    free(file);
    sst_reader *r;
    cr_assert_eq(sst_reader_open(&env, path, 6, NULL, &r), 0, "%s", lsm_last_error());
    slice u = ikey_user(e[0].k, e[0].klen);
    uint8_t *dbuf = malloc(65536);
    sst_value_dst dst = {dbuf, 65536};
    void *v = NULL;
    size_t vl = 0;
    preadv_calls = 0;
    int rc = sst_reader_get_into(r, u.data, u.len, IKEY_MAX_SEQ, 0, &dst, &v, &vl, NULL, NULL);
    cr_assert_eq(rc, LSM_ECORRUPT, "rc %d", rc);
    cr_assert_eq(preadv_calls, 1);
    cr_assert(strstr(lsm_last_error(), "checksum mismatch"), "%s", lsm_last_error());
    cr_assert(strstr(lsm_last_error(), "5.sst"), "%s", lsm_last_error());
    free(dbuf);
    sst_reader_close(r);
    cache_free(c);
    sst_meta_clear(&m);
    for (size_t i = 0; i < n; i++) free(e[i].v);
    free(path);
    tu_rmrf(dir);
    free(dir);
}

/* Tables past the writeback step (4 MiB) hand their writeback hints to a helper thread: a 13
 * MiB table finished, one finished unsynced, and one abandoned half-way all end their helper
 * (ThreadSanitizer builds check the hand-off), and the finished ones read back whole. */
Test(sstable, big_tables_with_the_writeback_helper)
{
    char *dir = tu_tmpdir("sstwb");
    enum { N = 200, V = 65536 };
    uint8_t *v = malloc(V);
    for (int round = 0; round < 3; round++) {
        char name[16];
        snprintf(name, sizeof name, "%d.sst", round + 1);
        char *path = tu_path(dir, name);
        sst_options o = default_opts();
        sst_builder *b;
        cr_assert_eq(sst_builder_open(NULL, path, (uint64_t)round + 1, &o, &b), 0, "%s",
                     lsm_last_error());
        for (uint32_t i = 0; i < (round == 2 ? N / 2 : N); i++) {
            uint8_t k[32];
            char uk[16];
            int ul = snprintf(uk, sizeof uk, "k%05u", (unsigned)i);
            size_t kl = ikey_build(k, (const uint8_t *)uk, (size_t)ul, 1 + i, IKEY_TYPE_VALUE);
            tu_rng seeded;
            tu_rng_init(&seeded, 1000 + i);
            tu_fill(&seeded, v, V);
            cr_assert_eq(sst_builder_add(b, k, kl, v, V), 0, "%s", lsm_last_error());
        }
        sst_meta m;
        if (round == 2) {
            sst_builder_abandon(b);
            struct stat st;
            char *tmp = tu_path(dir, "3.sst.tmp");
            cr_assert_neq(stat(tmp, &st), 0, "an abandoned table leaves no file");
            free(tmp);
            free(path);
            continue;
        }
        int rc = round == 0 ? sst_builder_finish(b, &m) : sst_builder_finish_unsynced(b, &m);
        cr_assert_eq(rc, 0, "%s", lsm_last_error());
        cr_assert_gt(m.file_size, (uint64_t)N * V);
        if (round == 1)
            cr_assert_eq(sst_table_publish(lsm_env_posix(), path), 0, "%s", lsm_last_error());
        sst_reader *r;
        cr_assert_eq(sst_reader_open(NULL, path, (uint64_t)round + 1, NULL, &r), 0, "%s",
                     lsm_last_error());
        iter *it = sst_reader_iter(r, 0);
        uint32_t i = 0;
        for (iter_seek_first(it); iter_valid(it); iter_next(it), i++) {
            tu_rng seeded;
            tu_rng_init(&seeded, 1000 + i);
            tu_fill(&seeded, v, V);
            slice val = iter_value(it);
            cr_assert(val.len == V && memcmp(val.data, v, V) == 0, "value %u differs", i);
        }
        cr_assert_eq(iter_status(it), 0);
        cr_assert_eq(i, N);
        iter_destroy(it);
        sst_reader_close(r);
        sst_meta_clear(&m);
        free(path);
    }
    free(v);
    tu_rmrf(dir);
    free(dir);
}
