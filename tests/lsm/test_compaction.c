/* test_compaction.c — what compaction must achieve, for leveled and size-tiered:
 *  - update-heavy: 1000 keys x 1000 overwrites of 1 KiB values; after compaction the tables
 *    take at most 1.2 x the live data (the factor is printed; LSM_TEST_SCALE scales the
 *    number of overwrites);
 *  - delete-all: many small keys written then all deleted; after compaction almost nothing is
 *    left on disk;
 *  - a snapshot keeps the versions it can see alive through compactions, and they go once it
 *    is released;
 *  - background compaction keeps level 0 / the number of runs bounded while writing;
 *  - update-heavy again, without a manual compaction: left idle, background compaction alone
 *    brings the tables within 1.2x of a full compaction's (leveled and tiered);
 *  - tiered lsm_compact_range(begin, end) merges only the runs overlapping the range;
 *  - with partition_prefix, a big range written apart from small keys it is interleaved with
 *    (lsmfs's chunks and names) moves down the levels without being rewritten. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lsm.h"
#include "testutil.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SAN_DIVISOR 20
#else
#define SAN_DIVISOR 1
#endif

static uint64_t prop_u64(lsm_db *db, const char *name)
{
    char *s;
    cr_assert_eq(lsm_property(db, name, &s), 0, "%s", name);
    uint64_t v = strtoull(s, NULL, 10);
    lsm_free(s);
    return v;
}

static void value_of(int key, int round, char *v, size_t n)
{
    /* Half compressible, half not, different every round. */
    uint64_t h = (uint64_t)key * 0x9e3779b97f4a7c15ull ^ (uint64_t)round * 0xbf58476d1ce4e5b9ull;
    for (size_t i = 0; i < n; i++) {
        h = h * 6364136223846793005ull + 1442695040888963407ull;
        v[i] = i % 2 ? (char)(h >> 56) : 'x';
    }
}

/* keys keys ("key%06d") each overwritten rounds times with 1 KiB values. */
/* Round r of write_overwrites: every key gets its value for r. */
static void write_round(lsm_db *db, int keys, int r)
{
    char k[16], v[1024];
    for (int i = 0; i < keys; i++) {
        snprintf(k, sizeof k, "key%06d", i);
        value_of(i, r, v, sizeof v);
        cr_assert_eq(lsm_put(db, NULL, k, strlen(k), v, sizeof v), 0, "%s", lsm_last_error());
    }
}

static void write_overwrites(lsm_db *db, int keys, int rounds)
{
    for (int r = 0; r < rounds; r++)
        write_round(db, keys, r);
}

/* Every 37th key of write_overwrites still has its last value. */
static void check_last_values(lsm_db *db, int keys, int rounds)
{
    char k[16], v[1024];
    for (int i = 0; i < keys; i += 37) {
        snprintf(k, sizeof k, "key%06d", i);
        void *got;
        size_t n;
        cr_assert_eq(lsm_get(db, NULL, k, strlen(k), &got, &n), 0, "%s", k);
        value_of(i, rounds - 1, v, sizeof v);
        cr_assert(n == sizeof v && memcmp(got, v, n) == 0, "%s: stale value", k);
        lsm_free(got);
    }
}

static void update_heavy(int style, const char *name)
{
    char *dir = tu_tmpdir(name);
    lsm_options o;
    lsm_options_init(&o);
    o.compaction_style = style;
    lsm_db *db;
    cr_assert_eq(lsm_open(dir, &o, &db), 0, "%s", lsm_last_error());
    int keys = 1000, rounds = (int)(1000 * tu_scale() / SAN_DIVISOR);
    if (rounds < 5) rounds = 5;
    write_overwrites(db, keys, rounds);
    uint64_t live = (uint64_t)keys * (1024 + strlen("key000000"));
    uint64_t before = prop_u64(db, "lsm.total-sst-bytes");
    cr_assert_eq(lsm_compact_range(db, NULL, 0, NULL, 0), 0, "%s", lsm_last_error());
    uint64_t after = prop_u64(db, "lsm.total-sst-bytes");
    double factor = (double)after / (double)live;
    char *stats;
    cr_assert_eq(lsm_property(db, "lsm.stats", &stats), 0);
    fprintf(stderr, "%s: %d keys x %d overwrites of 1 KiB: tables %llu bytes before the final "
            "compaction (%.2fx live), %llu after: space amplification %.3f\n%s", name, keys,
            rounds, (unsigned long long)before, (double)before / (double)live,
            (unsigned long long)after, factor, stats);
    lsm_free(stats);
    cr_assert_leq(factor, 1.2, "%s: on-disk / live = %.3f", name, factor);
    check_last_values(db, keys, rounds);
    cr_assert_eq(lsm_close(db), 0);
    tu_rmrf(dir);
    free(dir);
}

Test(compaction, update_heavy_leveled, .timeout = 900)
{
    update_heavy(LSM_COMPACTION_LEVELED, "update_heavy_leveled");
}

Test(compaction, update_heavy_tiered, .timeout = 900)
{
    update_heavy(LSM_COMPACTION_TIERED, "update_heavy_tiered");
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Update-heavy without a manual compaction: left idle (no reads or writes), the store's
 * background compaction alone brings its tables to within 1.2x of what a full compaction
 * leaves.  The wait is polled with a generous bound (against a hang, not a speed check). */
static void idle_settles(int style, const char *name)
{
    char *dir = tu_tmpdir(name);
    lsm_options o;
    lsm_options_init(&o);
    o.compaction_style = style;
    /* Level 0 holds up to 7 tables without a regular compaction, so some are left after the
     * writes for the idle compaction alone to take (asserted). */
    o.l0_compaction_trigger = 8;
    o.l0_slowdown_trigger = 12;
    o.l0_stop_trigger = 16;
    lsm_db *db;
    cr_assert_eq(lsm_open(dir, &o, &db), 0, "%s", lsm_last_error());
    int keys = 1000, rounds = 200 / (SAN_DIVISOR > 1 ? 5 : 1);
    write_overwrites(db, keys, rounds);
    cr_assert_eq(lsm_flush(db), 0, "%s", lsm_last_error());
    if (style == LSM_COMPACTION_LEVELED) {
        /* Compaction may lag behind the writes and leave level 0 at its trigger, and then a
         * regular compaction takes what the idle one should: let those finish, then write the
         * last round again (same values) until two tables below the trigger are left. */
        for (int ms = 0; ms < 60000 && prop_u64(db, "lsm.num-files-at-level0") >= 8; ms += 100)
            sleep_ms(100);
        for (int i = 0; i < 4 && prop_u64(db, "lsm.num-files-at-level0") < 2; i++) {
            write_round(db, keys, rounds - 1);
            cr_assert_eq(lsm_flush(db), 0, "%s", lsm_last_error());
        }
    }
    uint64_t l0 = prop_u64(db, "lsm.num-files-at-level0");
    uint64_t before = prop_u64(db, "lsm.total-sst-bytes");
    if (style == LSM_COMPACTION_LEVELED) cr_assert_gt(l0, 1, "nothing left for idle work");
    /* Properties are neither reads nor writes: polling them leaves the store idle.  Level 0
     * empties first, then idle steps push levels down: wait until the table bytes have not
     * changed for 3 s (six idle timers), so a slow, loaded machine is not caught mid-way. */
    int waited_ms = 0, still_ms = 0;
    uint64_t last = 0;
    while (waited_ms < 120000 && still_ms < 3000) {
        sleep_ms(100);
        waited_ms += 100;
        uint64_t now = prop_u64(db, "lsm.total-sst-bytes");
        int l0_left = prop_u64(db, "lsm.num-files-at-level0") > (style == LSM_COMPACTION_TIERED);
        still_ms = (now == last && !l0_left) ? still_ms + 100 : 0;
        last = now;
    }
    uint64_t idle = prop_u64(db, "lsm.total-sst-bytes"), idle_work = 0;
    if (style == LSM_COMPACTION_LEVELED) idle_work = tu_stats_field(db, "idle_compactions");
    cr_assert_eq(lsm_compact_range(db, NULL, 0, NULL, 0), 0, "%s", lsm_last_error());
    uint64_t full = prop_u64(db, "lsm.total-sst-bytes");
    fprintf(stderr, "%s: %d keys x %d overwrites: %" PRIu64 " table bytes (%" PRIu64 " L0 "
            "tables) after the writes, %" PRIu64 " after %d ms idle (%" PRIu64 " idle "
            "compactions), %" PRIu64 " after a full compaction\n", name, keys, rounds, before, l0,
            idle, waited_ms, idle_work, full);
    if (style == LSM_COMPACTION_LEVELED) cr_assert_gt(idle_work, 0, "no idle compaction ran");
    cr_assert_leq((double)idle, 1.2 * (double)full, "%s: idle left %" PRIu64 " bytes, a full "
                  "compaction %" PRIu64, name, idle, full);
    check_last_values(db, keys, rounds);
    cr_assert_eq(lsm_close(db), 0);
    tu_rmrf(dir);
    free(dir);
}

Test(compaction, update_heavy_settles_when_idle_leveled, .timeout = 600)
{
    idle_settles(LSM_COMPACTION_LEVELED, "idle_leveled");
}

Test(compaction, update_heavy_settles_when_idle_tiered, .timeout = 600)
{
    idle_settles(LSM_COMPACTION_TIERED, "idle_tiered");
}

/* n keys prefix%05d with values of round, then a flush: one new tiered run. */
static void write_run(lsm_db *db, const char *prefix, int n, int round)
{
    char k[16], v[100];
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof k, "%s%05d", prefix, i);
        value_of(i, round, v, sizeof v);
        cr_assert_eq(lsm_put(db, NULL, k, strlen(k), v, sizeof v), 0, "%s", lsm_last_error());
    }
    cr_assert_eq(lsm_flush(db), 0, "%s", lsm_last_error());
}

static void check_run(lsm_db *db, const char *prefix, int n, int round)
{
    char k[16], v[100];
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof k, "%s%05d", prefix, i);
        value_of(i, round, v, sizeof v);
        void *got;
        size_t len;
        cr_assert_eq(lsm_get(db, NULL, k, strlen(k), &got, &len), 0, "%s", k);
        cr_assert(len == sizeof v && memcmp(got, v, len) == 0, "%s: wrong value", k);
        lsm_free(got);
    }
}

Test(compaction, tiered_compact_range_merges_only_overlapping_runs, .timeout = 300)
{
    char *dir = tu_tmpdir("tiered_range");
    lsm_options o;
    lsm_options_init(&o);
    o.compaction_style = LSM_COMPACTION_TIERED;
    o.disable_background = 1; /* deterministic: no idle work, compactions run at once */
    lsm_db *db;
    cr_assert_eq(lsm_open(dir, &o, &db), 0, "%s", lsm_last_error());
    /* One big old run and three small ones (3% of it: no space-amplification merge, and too
     * few similar runs to merge on their own).  Newest first: z, b, a, m. */
    write_run(db, "m", 5000, 1);
    write_run(db, "a", 50, 2);
    write_run(db, "b", 50, 3);
    write_run(db, "z", 50, 4);
    cr_assert_eq(prop_u64(db, "lsm.num-files-at-level0"), 4);
    /* Only the newest run overlaps: nothing to merge it with, nothing to drop. */
    cr_assert_eq(lsm_compact_range(db, "z", 1, "zz", 2), 0, "%s", lsm_last_error());
    cr_assert_eq(prop_u64(db, "lsm.num-files-at-level0"), 4);
    /* The a and b runs overlap [a, bz]: they become one run; z and m stay. */
    cr_assert_eq(lsm_compact_range(db, "a", 1, "bz", 2), 0, "%s", lsm_last_error());
    cr_assert_eq(prop_u64(db, "lsm.num-files-at-level0"), 3, "runs outside [a, bz] were merged");
    check_run(db, "m", 5000, 1);
    check_run(db, "a", 50, 2);
    check_run(db, "b", 50, 3);
    check_run(db, "z", 50, 4);
    cr_assert_eq(lsm_compact_range(db, NULL, 0, NULL, 0), 0, "%s", lsm_last_error());
    cr_assert_eq(prop_u64(db, "lsm.num-files-at-level0"), 1);
    check_run(db, "m", 5000, 1);
    check_run(db, "z", 50, 4);
    cr_assert_eq(lsm_close(db), 0);
    tu_rmrf(dir);
    free(dir);
}

static void delete_all(int style, const char *name)
{
    char *dir = tu_tmpdir(name);
    lsm_options o;
    lsm_options_init(&o);
    o.compaction_style = style;
    lsm_db *db;
    cr_assert_eq(lsm_open(dir, &o, &db), 0);
    int n = (int)(1000000 * tu_scale() / SAN_DIVISOR);
    char k[16];
    lsm_batch *b = lsm_batch_new();
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < n; i++) {
            snprintf(k, sizeof k, "k%09d", (int)(((uint64_t)i * 7919) % (uint64_t)n));
            cr_assert_eq(pass ? lsm_batch_delete(b, k, strlen(k)) : lsm_batch_put(b, k, strlen(k), "v0123456789", 11), 0);
            if (lsm_batch_count(b) == 100 || i == n - 1) {
                cr_assert_eq(lsm_write(db, NULL, b), 0, "%s", lsm_last_error());
                lsm_batch_clear(b);
            }
        }
    lsm_batch_free(b);
    uint64_t before = prop_u64(db, "lsm.total-sst-bytes");
    cr_assert_eq(lsm_compact_range(db, NULL, 0, NULL, 0), 0, "%s", lsm_last_error());
    uint64_t after = prop_u64(db, "lsm.total-sst-bytes");
    fprintf(stderr, "%s: %d keys written then deleted: %llu table bytes before compaction, %llu "
            "after\n", name, n, (unsigned long long)before, (unsigned long long)after);
    cr_assert_lt(after, 4096, "%s: %llu bytes left after deleting everything", name,
                 (unsigned long long)after);
    lsm_iter *it;
    cr_assert_eq(lsm_iter_new(db, NULL, &it), 0);
    lsm_iter_seek_first(it);
    cr_assert(!lsm_iter_valid(it));
    lsm_iter_free(it);
    cr_assert_eq(lsm_close(db), 0);
    tu_rmrf(dir);
    free(dir);
}

Test(compaction, delete_all_leveled, .timeout = 900) { delete_all(LSM_COMPACTION_LEVELED, "delete_all_leveled"); }
Test(compaction, delete_all_tiered, .timeout = 900) { delete_all(LSM_COMPACTION_TIERED, "delete_all_tiered"); }

static void snapshot_keeps(int style)
{
    char *dir = tu_tmpdir("snapshot_keeps");
    lsm_options o;
    lsm_options_init(&o);
    o.compaction_style = style;
    o.memtable_size = 64 * 1024;
    lsm_db *db;
    cr_assert_eq(lsm_open(dir, &o, &db), 0);
    char k[16], v[512];
    for (int i = 0; i < 200; i++) {
        snprintf(k, sizeof k, "key%04d", i);
        value_of(i, 0, v, sizeof v);
        cr_assert_eq(lsm_put(db, NULL, k, strlen(k), v, sizeof v), 0);
    }
    const lsm_snapshot *s = lsm_snapshot_new(db);
    for (int r = 1; r < 20; r++)
        for (int i = 0; i < 200; i++) {
            snprintf(k, sizeof k, "key%04d", i);
            if (i % 2) {
                cr_assert_eq(lsm_delete(db, NULL, k, strlen(k)), 0);
            } else {
                value_of(i, r, v, sizeof v);
                cr_assert_eq(lsm_put(db, NULL, k, strlen(k), v, sizeof v), 0);
            }
        }
    cr_assert_eq(lsm_compact_range(db, NULL, 0, NULL, 0), 0);
    uint64_t with_snapshot = prop_u64(db, "lsm.total-sst-bytes");
    lsm_read_options ro;
    lsm_read_options_init(&ro);
    ro.snapshot = s;
    for (int i = 0; i < 200; i++) {
        snprintf(k, sizeof k, "key%04d", i);
        void *got;
        size_t n;
        cr_assert_eq(lsm_get(db, &ro, k, strlen(k), &got, &n), 0, "snapshot lost key %d", i);
        value_of(i, 0, v, sizeof v);
        cr_assert(n == sizeof v && memcmp(got, v, n) == 0, "snapshot value of key %d", i);
        lsm_free(got);
        int rc = lsm_get(db, NULL, k, strlen(k), &got, &n);
        if (i % 2) cr_assert_eq(rc, LSM_ENOTFOUND);
        else {
            cr_assert_eq(rc, 0);
            lsm_free(got);
        }
    }
    lsm_snapshot_release(db, s);
    cr_assert_eq(lsm_compact_range(db, NULL, 0, NULL, 0), 0);
    uint64_t without = prop_u64(db, "lsm.total-sst-bytes");
    fprintf(stderr, "snapshot (%s): %llu table bytes while held, %llu after release\n",
            style ? "tiered" : "leveled", (unsigned long long)with_snapshot,
            (unsigned long long)without);
    cr_assert_lt(without * 3, with_snapshot * 2, "old versions not dropped after release");
    cr_assert_eq(lsm_close(db), 0);
    tu_rmrf(dir);
    free(dir);
}

Test(compaction, snapshot_keeps_versions_leveled, .timeout = 300) { snapshot_keeps(LSM_COMPACTION_LEVELED); }
Test(compaction, snapshot_keeps_versions_tiered, .timeout = 300) { snapshot_keeps(LSM_COMPACTION_TIERED); }

static void bounded_l0(int style)
{
    char *dir = tu_tmpdir("bounded_l0");
    lsm_options o;
    lsm_options_init(&o);
    o.compaction_style = style;
    o.memtable_size = 32 * 1024;
    o.target_file_size = 64 * 1024;
    o.level1_max_bytes = 256 * 1024;
    lsm_db *db;
    cr_assert_eq(lsm_open(dir, &o, &db), 0);
    tu_rng rng;
    tu_rng_init(&rng, 9);
    char k[16], v[100];
    uint64_t max_l0 = 0;
    int n = 200000 / SAN_DIVISOR;
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof k, "k%08llu", (unsigned long long)tu_uniform(&rng, 100000));
        value_of(i, 0, v, sizeof v);
        cr_assert_eq(lsm_put(db, NULL, k, strlen(k), v, sizeof v), 0);
        if (i % 1000 == 0) {
            uint64_t l0 = prop_u64(db, "lsm.num-files-at-level0");
            if (l0 > max_l0) max_l0 = l0;
        }
    }
    char *json;
    cr_assert_eq(lsm_property(db, "lsm.stats.json", &json), 0);
    fprintf(stderr, "%s: max L0 tables/runs seen %llu\n%s\n", style ? "tiered" : "leveled",
            (unsigned long long)max_l0, json);
    cr_assert(strstr(json, "\"write_amplification\":") != NULL);
    lsm_free(json);
    /* stop trigger 12 (+ at most max_immutable flushes in flight, + the one being merged) */
    cr_assert_leq(max_l0, (uint64_t)o.l0_stop_trigger + 3, "L0 grew to %llu",
                  (unsigned long long)max_l0);
    cr_assert_eq(lsm_close(db), 0);
    tu_rmrf(dir);
    free(dir);
}

Test(compaction, bounded_l0_leveled, .timeout = 300) { bounded_l0(LSM_COMPACTION_LEVELED); }
Test(compaction, bounded_runs_tiered, .timeout = 300) { bounded_l0(LSM_COMPACTION_TIERED); }

Test(compaction, sequential_inserts_move_down_without_rewrites, .timeout = 300)
{
    char *dir = tu_tmpdir("seq_moves");
    lsm_options o;
    lsm_options_init(&o);
    o.memtable_size = 32 * 1024;
    o.level1_max_bytes = 1 << 20;
    o.disable_background = 1; /* deterministic: every compaction runs at once */
    lsm_db *db;
    cr_assert_eq(lsm_open(dir, &o, &db), 0);
    char k[16], v[100];
    int n = 20000;
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof k, "k%08d", i);
        value_of(i, 0, v, sizeof v);
        cr_assert_eq(lsm_put(db, NULL, k, strlen(k), v, sizeof v), 0);
    }
    char *json;
    cr_assert_eq(lsm_property(db, "lsm.stats.json", &json), 0);
    const char *t = strstr(json, "\"trivial_moves\":");
    cr_assert_not_null(t);
    long moves = strtol(t + strlen("\"trivial_moves\":"), NULL, 10);
    const char *l1 = strstr(json, "{\"level\":1,");
    cr_assert_not_null(l1);
    const char *w = strstr(l1, "\"compaction_written_bytes\":");
    long l1_written = strtol(w + strlen("\"compaction_written_bytes\":"), NULL, 10);
    fprintf(stderr, "sequential inserts: %ld trivial moves, %ld bytes rewritten into L1\n", moves,
            l1_written);
    lsm_free(json);
    cr_assert_gt(moves, 0, "non-overlapping L0 tables were rewritten instead of moved");
    cr_assert_eq(l1_written, 0, "L0 -> L1 rewrote %ld bytes of non-overlapping tables", l1_written);
    cr_assert_eq(lsm_close(db), 0);
    cr_assert_eq(lsm_open(dir, &o, &db), 0);
    lsm_iter *it;
    cr_assert_eq(lsm_iter_new(db, NULL, &it), 0);
    int i = 0;
    for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it), i++) {
        size_t kl, vl;
        const char *kk = lsm_iter_key(it, &kl);
        const char *vv = lsm_iter_value(it, &vl);
        snprintf(k, sizeof k, "k%08d", i);
        value_of(i, 0, v, sizeof v);
        cr_assert(kl == strlen(k) && memcmp(kk, k, kl) == 0 && vl == sizeof v &&
                  memcmp(vv, v, vl) == 0, "entry %d wrong", i);
    }
    cr_assert_eq(i, n);
    lsm_iter_free(it);
    cr_assert_eq(lsm_close(db), 0);
    cr_assert_eq(lsm_verify(dir, NULL, NULL, NULL), 0, "%s", lsm_last_error());
    tu_rmrf(dir);
    free(dir);
}

/* Bytes written by compactions into every level, from lsm.stats.json. */
static uint64_t compaction_written(lsm_db *db)
{
    char *json;
    cr_assert_eq(lsm_property(db, "lsm.stats.json", &json), 0);
    uint64_t sum = 0;
    const char *tag = "\"compaction_written_bytes\":";
    for (const char *p = strstr(json, tag); p; p = strstr(p + 1, tag))
        sum += strtoull(p + strlen(tag), NULL, 10);
    lsm_free(json);
    return sum;
}

#define APART_CHUNKS (SAN_DIVISOR > 1 ? 500 : 2000) /* 4 KiB chunks that chunks_apart writes */

/* lsmfs's pattern: names ("E...") in place, then a big file appended: its chunks ("C" + index)
 * interleaved with updates of its name's record and a counter ("M").  Returns the bytes
 * compaction wrote; checks every value after a reopen. */
static uint64_t chunks_apart(size_t prefix)
{
    char *dir = tu_tmpdir("chunks_apart");
    lsm_options o;
    lsm_options_init(&o);
    o.memtable_size = 256 * 1024;
    o.target_file_size = 64 * 1024;
    o.level1_max_bytes = 1 << 20;
    o.partition_prefix = prefix;
    o.disable_background = 1; /* deterministic: every flush and compaction runs at once */
    lsm_db *db;
    cr_assert_eq(lsm_open(dir, &o, &db), 0);
    char k[32], v[4096];
    int names = 5000, chunks = APART_CHUNKS;
    for (int i = 0; i < names; i++) {
        snprintf(k, sizeof k, "E%08d", (i * 7919) % names);
        value_of(i, 0, v, 200);
        cr_assert_eq(lsm_put(db, NULL, k, strlen(k), v, 200), 0);
    }
    cr_assert_eq(lsm_compact_range(db, NULL, 0, NULL, 0), 0);
    uint64_t before = compaction_written(db);
    for (int i = 0; i < chunks; i++) {
        snprintf(k, sizeof k, "C%08d", i);
        value_of(i, 1, v, sizeof v);
        cr_assert_eq(lsm_put(db, NULL, k, strlen(k), v, sizeof v), 0);
        snprintf(v, sizeof v, "size %d", i);
        cr_assert_eq(lsm_put(db, NULL, "E00000042", 9, v, strlen(v)), 0);
        cr_assert_eq(lsm_put(db, NULL, "M", 1, v, strlen(v)), 0);
    }
    uint64_t written = compaction_written(db) - before;
    fprintf(stderr, "partition_prefix %zu: %d chunks of 4 KiB, compactions wrote %" PRIu64
            " bytes\n", prefix, chunks, written);
    cr_assert_eq(lsm_close(db), 0);
    cr_assert_eq(lsm_open(dir, &o, &db), 0);
    for (int i = 0; i < chunks; i++) {
        snprintf(k, sizeof k, "C%08d", i);
        value_of(i, 1, v, sizeof v);
        void *got;
        size_t gl;
        cr_assert_eq(lsm_get(db, NULL, k, strlen(k), &got, &gl), 0, "%s", k);
        cr_assert(gl == sizeof v && memcmp(got, v, gl) == 0, "%s differs", k);
        lsm_free(got);
    }
    void *got;
    size_t gl;
    cr_assert_eq(lsm_get(db, NULL, "E00000042", 9, &got, &gl), 0);
    snprintf(v, sizeof v, "size %d", chunks - 1);
    cr_assert(gl == strlen(v) && memcmp(got, v, gl) == 0);
    lsm_free(got);
    for (int i = 0; i < names; i++) { /* every name is still there */
        snprintf(k, sizeof k, "E%08d", i);
        cr_assert_eq(lsm_get(db, NULL, k, strlen(k), &got, &gl), 0, "%s", k);
        lsm_free(got);
    }
    cr_assert_eq(lsm_close(db), 0);
    cr_assert_eq(lsm_verify(dir, NULL, NULL, NULL), 0, "%s", lsm_last_error());
    tu_rmrf(dir);
    free(dir);
    return written;
}

Test(compaction, a_partition_written_apart_moves_down_without_rewrites, .timeout = 300)
{
    uint64_t mixed = chunks_apart(0), apart = chunks_apart(1);
    uint64_t chunk_bytes = (uint64_t)APART_CHUNKS * 4096;
    /* Cut apart, the chunk tables move down as they are: compactions only merge the small
     * tables of names and counters.  Mixed, every level-0 merge rewrites chunks. */
    cr_assert_lt(apart, chunk_bytes / 10, "compactions wrote %" PRIu64 " bytes for %" PRIu64
                 " bytes of chunks", apart, chunk_bytes);
    cr_assert_gt(mixed, 2 * apart, "without partitions compactions wrote %" PRIu64
                 ", with %" PRIu64, mixed, apart);
}

/* Five flushes of memtables holding names "E..." and counters "M..." (random, so each kind
 * overlaps its kind in the last flush) and, with chunks, a run of "C..." keys continuing the
 * last flush's: returns the level-0 tables. */
static uint64_t l0_tables_after_flushes(int chunks)
{
    char *dir = tu_tmpdir("flush_cuts");
    lsm_options o;
    lsm_options_init(&o);
    o.memtable_size = 4 << 20; /* only lsm_flush switches memtables */
    o.target_file_size = 16 * 1024;
    o.partition_prefix = 1;
    o.l0_compaction_trigger = 100; /* nothing moves or merges: count what the flushes wrote */
    o.l0_slowdown_trigger = 200;
    o.l0_stop_trigger = 300;
    o.disable_background = 1;
    lsm_db *db;
    cr_assert_eq(lsm_open(dir, &o, &db), 0);
    tu_rng rng;
    tu_rng_init(&rng, 5);
    char k[32], v[1024];
    for (int f = 0, c = 0; f < 5; f++) {
        for (int i = 0; i < 100; i++) {
            snprintf(k, sizeof k, "E%08llu", (unsigned long long)tu_uniform(&rng, 100000));
            value_of(i, f, v, 200);
            cr_assert_eq(lsm_put(db, NULL, k, strlen(k), v, 200), 0);
            k[0] = 'M';
            cr_assert_eq(lsm_put(db, NULL, k, strlen(k), v, 200), 0);
            for (int j = 0; chunks && j < 2; j++, c++) {
                snprintf(k, sizeof k, "C%08d", c);
                value_of(c, 0, v, sizeof v);
                cr_assert_eq(lsm_put(db, NULL, k, strlen(k), v, sizeof v), 0);
            }
        }
        cr_assert_eq(lsm_flush(db), 0);
    }
    uint64_t n = prop_u64(db, "lsm.num-files-at-level0");
    cr_assert_eq(lsm_close(db), 0);
    tu_rmrf(dir);
    free(dir);
    return n;
}

Test(compaction, partitions_cut_a_flush_only_where_a_part_moves_alone, .timeout = 120)
{
    /* 20 KB of names, then counters: cut only in the first flush, whose names overlapped
     * nothing yet; later names overlap the earlier ones, and their flushes stay one table */
    cr_assert_eq(l0_tables_after_flushes(0), 6);
    /* 200 KiB of chunks per flush, overlapping nothing: a table of their own every time */
    cr_assert_eq(l0_tables_after_flushes(1), 11);
}

/* A level-0 table that spans partitions (here one written before partition_prefix was set,
 * as by an older lsmfs) is merged into L1, cut where the partition changes, even when it
 * overlaps nothing: moved as it is, it would sit below L0 across ranges that later flushes
 * cut apart, and keep them from moving. */
Test(compaction, a_table_spanning_partitions_is_merged_not_moved, .timeout = 120)
{
    char *dir = tu_tmpdir("spanning");
    lsm_options o;
    lsm_options_init(&o);
    o.l0_compaction_trigger = 100; /* the first flush stays in L0 */
    o.disable_background = 1;     /* deterministic: every compaction runs at once */
    lsm_db *db;
    cr_assert_eq(lsm_open(dir, &o, &db), 0);
    char k[32], v[200];
    for (int i = 0; i < 200; i++) {
        value_of(i, 0, v, sizeof v);
        snprintf(k, sizeof k, "%c%08d", i % 2 ? 'B' : 'A', i);
        cr_assert_eq(lsm_put(db, NULL, k, strlen(k), v, sizeof v), 0);
    }
    cr_assert_eq(lsm_flush(db), 0);
    cr_assert_eq(prop_u64(db, "lsm.num-files-at-level0"), 1);
    cr_assert_eq(lsm_close(db), 0);

    o.partition_prefix = 1;
    o.l0_compaction_trigger = 1;
    cr_assert_eq(lsm_open(dir, &o, &db), 0);
    cr_assert_eq(lsm_put(db, NULL, "Z", 1, "z", 1), 0); /* a table that may move alone */
    cr_assert_eq(lsm_flush(db), 0);
    uint64_t l0 = prop_u64(db, "lsm.num-files-at-level0");
    uint64_t l1 = prop_u64(db, "lsm.num-files-at-level1");
    uint64_t written = compaction_written(db);
    fprintf(stderr, "spanning table: L0 %" PRIu64 ", L1 %" PRIu64 " tables, %" PRIu64
            " bytes rewritten\n", l0, l1, written);
    cr_assert_eq(l0, 0);
    cr_assert_eq(l1, 3, "L1 should hold the A keys, the B keys and Z apart, not %" PRIu64
                 " tables", l1);
    cr_assert_gt(written, 200 * sizeof v / 2, "the spanning table was not rewritten");
    for (int i = 0; i < 200; i++) {
        snprintf(k, sizeof k, "%c%08d", i % 2 ? 'B' : 'A', i);
        void *got;
        size_t gl;
        cr_assert_eq(lsm_get(db, NULL, k, strlen(k), &got, &gl), 0, "%s", k);
        value_of(i, 0, v, sizeof v);
        cr_assert(gl == sizeof v && memcmp(got, v, gl) == 0, "%s differs", k);
        lsm_free(got);
    }
    cr_assert_eq(lsm_close(db), 0);
    cr_assert_eq(lsm_verify(dir, NULL, NULL, NULL), 0, "%s", lsm_last_error());
    tu_rmrf(dir);
    free(dir);
}
