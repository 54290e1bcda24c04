/* test_db_iter.c — the public iterator: prefix and range scans, reverse scans, direction
 * changes, snapshots (an iterator and a snapshot see the past while writes go on), lower and
 * upper bounds, seek_for_prev, and tombstones/overwrites spread across memtable and tables. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsm.h"
#include "testutil.h"

static char *dir;
static lsm_db *db;

static void setup(void)
{
    dir = tu_tmpdir("db_iter");
    lsm_options o;
    lsm_options_init(&o);
    o.memtable_size = 16 * 1024;
    o.disable_background = 1;
    cr_assert_eq(lsm_open(dir, &o, &db), 0, "%s", lsm_last_error());
}
static void teardown(void)
{
    if (db) lsm_close(db);
    tu_rmrf(dir);
    free(dir);
}
TestSuite(db_iter, .init = setup, .fini = teardown, .timeout = 120);

static void put(const char *k, const char *v)
{
    cr_assert_eq(lsm_put(db, NULL, k, strlen(k), v, strlen(v)), 0, "%s", lsm_last_error());
}

static void is_at(lsm_iter *it, const char *k, const char *v)
{
    cr_assert(lsm_iter_valid(it), "expected %s, iterator invalid (%d)", k, lsm_iter_status(it));
    size_t kl, vl;
    const char *kk = lsm_iter_key(it, &kl), *vv = lsm_iter_value(it, &vl);
    cr_assert(kl == strlen(k) && memcmp(kk, k, kl) == 0, "expected key %s, got %.*s", k,
              (int)kl, kk);
    if (v) cr_assert(vl == strlen(v) && memcmp(vv, v, vl) == 0, "key %s: value %.*s", k, (int)vl, vv);
}

static void fill(void)
{
    /* Spread over tables and the memtable: write, flush, overwrite, delete. */
    put("user/alice", "1");
    put("user/bob", "2");
    put("user/carol", "3");
    put("group/admins", "g1");
    put("zeta", "z");
    cr_assert_eq(lsm_flush(db), 0);
    put("user/bob", "2b");
    cr_assert_eq(lsm_delete(db, NULL, "user/carol", 10), 0);
    put("user/dave", "4");
    cr_assert_eq(lsm_flush(db), 0);
    put("user/erin", "5");
    cr_assert_eq(lsm_delete(db, NULL, "zeta", 4), 0);
}

Test(db_iter, prefix_scan)
{
    fill();
    lsm_iter *it;
    cr_assert_eq(lsm_iter_new(db, NULL, &it), 0);
    const char *exp[][2] = {{"user/alice", "1"}, {"user/bob", "2b"}, {"user/dave", "4"},
                            {"user/erin", "5"}};
    int i = 0;
    for (lsm_iter_seek(it, "user/", 5); lsm_iter_valid(it); lsm_iter_next(it), i++) {
        size_t kl;
        const char *k = lsm_iter_key(it, &kl);
        if (kl < 5 || memcmp(k, "user/", 5) != 0) break;
        cr_assert_lt(i, 4);
        is_at(it, exp[i][0], exp[i][1]);
    }
    cr_assert_eq(i, 4);
    cr_assert(!lsm_iter_valid(it), "zeta is deleted: nothing after user/erin");
    cr_assert_eq(lsm_iter_status(it), 0);
    lsm_iter_free(it);
}

Test(db_iter, reverse_and_direction_changes)
{
    fill();
    lsm_iter *it;
    cr_assert_eq(lsm_iter_new(db, NULL, &it), 0);
    lsm_iter_seek_last(it);
    is_at(it, "user/erin", "5");
    lsm_iter_prev(it);
    is_at(it, "user/dave", "4");
    lsm_iter_prev(it);
    is_at(it, "user/bob", "2b");
    lsm_iter_next(it);
    is_at(it, "user/dave", "4");
    lsm_iter_prev(it);
    is_at(it, "user/bob", "2b");
    lsm_iter_prev(it);
    is_at(it, "user/alice", "1");
    lsm_iter_prev(it);
    is_at(it, "group/admins", "g1");
    lsm_iter_prev(it);
    cr_assert(!lsm_iter_valid(it));
    lsm_iter_seek_first(it);
    is_at(it, "group/admins", "g1");
    lsm_iter_seek_for_prev(it, "user/c", 6);
    is_at(it, "user/bob", "2b");
    lsm_iter_seek_for_prev(it, "user/dave", 9);
    is_at(it, "user/dave", "4");
    lsm_iter_seek_for_prev(it, "a", 1);
    cr_assert(!lsm_iter_valid(it));
    lsm_iter_free(it);
}

/* A new iterator showing only keys in [lo, hi) (NULL: unbounded). */
static lsm_iter *bounded(const char *lo, const char *hi)
{
    lsm_read_options ro;
    lsm_read_options_init(&ro);
    if (lo) {
        ro.lower_bound = lo;
        ro.lower_bound_len = strlen(lo);
    }
    if (hi) {
        ro.upper_bound = hi;
        ro.upper_bound_len = strlen(hi);
    }
    lsm_iter *it;
    cr_assert_eq(lsm_iter_new(db, &ro, &it), 0, "%s", lsm_last_error());
    return it;
}

Test(db_iter, upper_bound)
{
    fill();
    lsm_iter *it = bounded(NULL, "user/c");
    int n = 0;
    for (lsm_iter_seek(it, "user/", 5); lsm_iter_valid(it); lsm_iter_next(it)) n++;
    cr_assert_eq(n, 2);
    lsm_iter_seek_last(it);
    is_at(it, "user/bob", "2b");
    lsm_iter_seek_for_prev(it, "zzz", 3);
    is_at(it, "user/bob", "2b");
    lsm_iter_seek(it, "user/d", 6);
    cr_assert(!lsm_iter_valid(it));
    lsm_iter_free(it);
}

Test(db_iter, lower_bound)
{
    fill();
    lsm_iter *it = bounded("user/b", NULL);
    lsm_iter_seek_first(it);
    is_at(it, "user/bob", "2b");
    lsm_iter_prev(it); /* user/alice lies before the bound */
    cr_assert(!lsm_iter_valid(it));
    lsm_iter_seek(it, "group/", 6);
    is_at(it, "user/bob", "2b");
    lsm_iter_seek_for_prev(it, "user/alice", 10);
    cr_assert(!lsm_iter_valid(it));
    lsm_iter_seek_for_prev(it, "user/c", 6);
    is_at(it, "user/bob", "2b");
    lsm_iter_seek_last(it);
    is_at(it, "user/erin", "5"); /* zeta is deleted */
    int n = 1;
    for (lsm_iter_prev(it); lsm_iter_valid(it); lsm_iter_prev(it)) n++;
    cr_assert_eq(n, 3, "bob, dave, erin: got %d", n);
    lsm_iter_free(it);

    it = bounded("user/b", "user/e");
    lsm_iter_seek_last(it);
    is_at(it, "user/dave", "4");
    lsm_iter_prev(it);
    is_at(it, "user/bob", "2b");
    lsm_iter_next(it);
    is_at(it, "user/dave", "4");
    lsm_iter_next(it);
    cr_assert(!lsm_iter_valid(it));
    cr_assert_eq(lsm_iter_status(it), 0);
    lsm_iter_free(it);
}

/* Bounds leave out the tables that lie wholly outside them: what remains still shows every
 * key of the range, its newest version, across the memtable, level 0 and sorted levels. */
Test(db_iter, bounds_leave_out_tables)
{
    char k[32], v[32];
    for (int round = 0; round < 3; round++) {
        for (char p = 'a'; p <= 'e'; p++) {
            for (int i = 0; i < 200; i++) {
                snprintf(k, sizeof k, "%c%05d", p, i);
                snprintf(v, sizeof v, "%d-%d", round, i);
                put(k, v);
            }
            cr_assert_eq(lsm_flush(db), 0);
        }
        if (round == 0) /* round 0 goes to the sorted levels, the others stay in level 0 */
            cr_assert_eq(lsm_compact_range(db, NULL, 0, NULL, 0), 0, "%s", lsm_last_error());
    }
    put("c00100", "memtable");
    lsm_iter *it = bounded("c", "d");
    int n = 0;
    for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it), n++) {
        snprintf(k, sizeof k, "c%05d", n);
        if (n == 100) strcpy(v, "memtable");
        else snprintf(v, sizeof v, "2-%d", n);
        is_at(it, k, v);
    }
    cr_assert_eq(n, 200);
    cr_assert_eq(lsm_iter_status(it), 0);
    lsm_iter_free(it);
    it = bounded("f", NULL); /* past every table: only the memtable is left, it ends before */
    lsm_iter_seek_first(it);
    cr_assert(!lsm_iter_valid(it));
    lsm_iter_seek_last(it);
    cr_assert(!lsm_iter_valid(it));
    cr_assert_eq(lsm_iter_status(it), 0);
    lsm_iter_free(it);
}

Test(db_iter, snapshots_and_iterators_see_the_past)
{
    fill();
    const lsm_snapshot *s = lsm_snapshot_new(db);
    lsm_iter *old;
    cr_assert_eq(lsm_iter_new(db, NULL, &old), 0);
    put("user/alice", "changed");
    cr_assert_eq(lsm_delete(db, NULL, "user/bob", 8), 0);
    put("user/aaron", "new");
    /* push everything through flush and compaction while the old views are open */
    for (int i = 0; i < 2000; i++) {
        char k[32];
        snprintf(k, sizeof k, "x/%05d", i);
        put(k, "filler-filler-filler-filler");
    }
    cr_assert_eq(lsm_compact_range(db, NULL, 0, NULL, 0), 0, "%s", lsm_last_error());
    lsm_read_options ro;
    lsm_read_options_init(&ro);
    ro.snapshot = s;
    void *v;
    size_t n;
    cr_assert_eq(lsm_get(db, &ro, "user/alice", 10, &v, &n), 0);
    cr_assert(n == 1 && memcmp(v, "1", 1) == 0);
    lsm_free(v);
    cr_assert_eq(lsm_get(db, &ro, "user/bob", 8, &v, &n), 0);
    lsm_free(v);
    cr_assert_eq(lsm_get(db, &ro, "user/aaron", 10, &v, &n), LSM_ENOTFOUND);
    cr_assert_eq(lsm_get(db, NULL, "user/bob", 8, &v, &n), LSM_ENOTFOUND);
    lsm_iter_seek(old, "user/", 5);
    is_at(old, "user/alice", "1");
    lsm_iter_next(old);
    is_at(old, "user/bob", "2b");
    lsm_iter_free(old);
    lsm_iter *snap_it;
    cr_assert_eq(lsm_iter_new(db, &ro, &snap_it), 0);
    int count = 0;
    for (lsm_iter_seek_first(snap_it); lsm_iter_valid(snap_it); lsm_iter_next(snap_it)) count++;
    cr_assert_eq(count, 5, "snapshot sees the 5 live keys of fill(), got %d", count);
    lsm_iter_free(snap_it);
    lsm_snapshot_release(db, s);
}

Test(db_iter, empty_store)
{
    lsm_iter *it;
    cr_assert_eq(lsm_iter_new(db, NULL, &it), 0);
    lsm_iter_seek_first(it);
    cr_assert(!lsm_iter_valid(it));
    lsm_iter_seek_last(it);
    cr_assert(!lsm_iter_valid(it));
    lsm_iter_seek(it, "a", 1);
    cr_assert(!lsm_iter_valid(it));
    cr_assert_eq(lsm_iter_status(it), 0);
    lsm_iter_free(it);
}
