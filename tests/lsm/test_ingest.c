/* test_ingest.c — lsm_ingest_*: a sorted run added as a table of its own.
 *  - entries are invisible until commit, then all visible, durable across reopen, and a
 *    sequential load lands at the bottom level (nothing to compact);
 *  - versions: an ingest shadows writes that completed before it began; a write made while it
 *    was open (here: flushed into a newer table) is kept by the fallback path's ordering rules;
 *  - abandon and a crash before commit leave nothing, not even a file;
 *  - keys out of order are refused;
 *  - size-tiered: an ingested run never lands above older writes still in a memtable;
 *  - a big ingest in a leveled store rolls over to several tables, unsynced until commit, which
 *    adds all of them at once (or, when a newer table overlaps, falls back for all of them);
 *    a commit failing at any one of its file operations, then a power cut, leaves all of the
 *    ingest or none of it (all if commit succeeded) and no temporary file;
 *  - a random model: puts, deletes, ingests over random (often overlapping) ranges, flushes,
 *    compactions and reopens, every key checked against an array after each step. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fault_env.h"
#include "lsm.h"
#include "testutil.h"

#define VAL 65536

static void key_of(int i, char *k) { snprintf(k, 16, "c%08d", i); }

static void value_of(int i, int version, char *v, size_t n)
{
    uint64_t h = (uint64_t)(i + 1) * 0x9e3779b97f4a7c15ull ^ (uint64_t)(version + 1) * 0xbf58476d1ce4e5b9ull;
    for (size_t j = 0; j < n; j++) {
        h ^= h << 13;
        h ^= h >> 7;
        h ^= h << 17;
        v[j] = (char)h;
    }
}

static lsm_db *open_db(const char *dir, size_t memtable)
{
    lsm_options o;
    lsm_options_init(&o);
    if (memtable) o.memtable_size = memtable;
    lsm_db *db;
    cr_assert_eq(lsm_open(dir, &o, &db), 0, "open: %s", lsm_last_error());
    return db;
}

static int files_at(lsm_db *db, int level)
{
    char name[64], *s;
    snprintf(name, sizeof name, "lsm.num-files-at-level%d", level);
    cr_assert_eq(lsm_property(db, name, &s), 0);
    int n = atoi(s);
    lsm_free(s);
    return n;
}

static int g_step = -1; /* the random model's step, for failure messages */

/* Whether key i holds value (i, version) (version < 0: absent). */
static void expect(lsm_db *db, int i, int version, size_t n)
{
    char k[16], *want = malloc(n);
    key_of(i, k);
    void *v;
    size_t vl;
    int r = lsm_get(db, NULL, k, strlen(k), &v, &vl);
    if (version < 0) {
        cr_assert_eq(r, LSM_ENOTFOUND, "key %d: expected absent, got %d (step %d)", i, r, g_step);
    } else {
        cr_assert_eq(r, 0, "key %d: %s (step %d)", i, lsm_last_error(), g_step);
        value_of(i, version, want, n);
        cr_assert(vl == n && memcmp(v, want, n) == 0, "key %d: wrong value (len %zu, step %d)", i,
                  vl, g_step);
        lsm_free(v);
    }
    free(want);
}

static int count_files(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    cr_assert(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name), s = strlen(suffix);
        n += l > s && strcmp(e->d_name + l - s, suffix) == 0;
    }
    closedir(d);
    return n;
}

static void ingest_range(lsm_db *db, int lo, int hi, int version, size_t n)
{
    lsm_ingest *in;
    cr_assert_eq(lsm_ingest_begin(db, &in), 0, "%s", lsm_last_error());
    char k[16], *v = malloc(n);
    for (int i = lo; i < hi; i++) {
        key_of(i, k);
        value_of(i, version, v, n);
        cr_assert_eq(lsm_ingest_put(in, k, strlen(k), v, n), 0, "%s", lsm_last_error());
    }
    free(v);
    cr_assert_eq(lsm_ingest_commit(in), 0, "commit: %s", lsm_last_error());
}

Test(ingest, visible_at_commit_durable_and_at_the_bottom)
{
    char *dir = tu_tmpdir("ingest_basic");
    lsm_db *db = open_db(dir, 0);
    lsm_ingest *in;
    cr_assert_eq(lsm_ingest_begin(db, &in), 0);
    char k[16], *v = malloc(VAL);
    for (int i = 0; i < 64; i++) {
        key_of(i, k);
        value_of(i, 1, v, VAL);
        cr_assert_eq(lsm_ingest_put(in, k, strlen(k), v, VAL), 0);
    }
    cr_assert_eq(lsm_ingest_bytes(in), 64 * (uint64_t)(VAL + strlen(k)));
    expect(db, 5, -1, VAL); /* not before commit */
    lsm_iter *it;
    cr_assert_eq(lsm_iter_new(db, NULL, &it), 0); /* an iterator from before the commit */
    cr_assert_eq(lsm_ingest_commit(in), 0, "%s", lsm_last_error());
    lsm_iter_seek_first(it);
    cr_assert(!lsm_iter_valid(it), "an older iterator must not see the ingest");
    lsm_iter_free(it);
    for (int i = 0; i < 64; i++) expect(db, i, 1, VAL);
    cr_assert_eq(files_at(db, 6), 1, "a load into an empty store goes to the bottom level");
    cr_assert_eq(files_at(db, 0), 0);
    cr_assert_eq(lsm_close(db), 0);
    db = open_db(dir, 0);
    for (int i = 0; i < 64; i++) expect(db, i, 1, VAL);
    /* an adjacent load does not overlap: it goes to the bottom too */
    ingest_range(db, 64, 128, 1, 1000);
    cr_assert_eq(files_at(db, 6), 2);
    /* later puts win over ingested entries, and survive a reopen */
    key_of(70, k);
    value_of(70, 2, v, 1000);
    cr_assert_eq(lsm_put(db, NULL, k, strlen(k), v, 1000), 0);
    expect(db, 70, 2, 1000);
    cr_assert_eq(lsm_close(db), 0);
    db = open_db(dir, 0);
    expect(db, 70, 2, 1000);
    expect(db, 71, 1, 1000);
    cr_assert_eq(lsm_close(db), 0);
    free(v);
    tu_rmrf(dir);
    free(dir);
}

/* Keys 0-19 after shadows_older_writes...: 5-14 ingested (version 2) over the rest's history:
 * version 0 everywhere, version 1 on even keys, key 3 deleted. */
static void expect_shadowed(lsm_db *db)
{
    for (int i = 0; i < 20; i++)
        expect(db, i, i >= 5 && i < 15 ? 2 : i == 3 ? -1 : i % 2 == 0 ? 1 : 0, 100);
}

Test(ingest, shadows_older_writes_in_memtable_and_tables)
{
    char *dir = tu_tmpdir("ingest_shadow");
    lsm_db *db = open_db(dir, 0);
    char k[16], v[100];
    for (int i = 0; i < 20; i++) { /* version 0 in a table, version 1 of some in the memtable */
        key_of(i, k);
        value_of(i, 0, v, 100);
        cr_assert_eq(lsm_put(db, NULL, k, strlen(k), v, 100), 0);
    }
    cr_assert_eq(lsm_flush(db), 0);
    for (int i = 0; i < 20; i += 2) {
        key_of(i, k);
        value_of(i, 1, v, 100);
        cr_assert_eq(lsm_put(db, NULL, k, strlen(k), v, 100), 0);
    }
    key_of(3, k);
    cr_assert_eq(lsm_delete(db, NULL, k, strlen(k)), 0);
    ingest_range(db, 5, 15, 2, 100);
    expect_shadowed(db);
    cr_assert_eq(lsm_compact_range(db, NULL, 0, NULL, 0), 0);
    expect_shadowed(db);
    cr_assert_eq(lsm_close(db), 0);
    db = open_db(dir, 0);
    expect_shadowed(db);
    cr_assert_eq(lsm_close(db), 0);
    tu_rmrf(dir);
    free(dir);
}

Test(ingest, a_newer_table_in_the_range_takes_the_fallback)
{
    char *dir = tu_tmpdir("ingest_fallback");
    lsm_db *db = open_db(dir, 0);
    lsm_ingest *in;
    cr_assert_eq(lsm_ingest_begin(db, &in), 0);
    char k[16], v[100];
    for (int i = 0; i < 10; i++) {
        key_of(i, k);
        value_of(i, 1, v, 100);
        cr_assert_eq(lsm_ingest_put(in, k, strlen(k), v, 100), 0);
    }
    /* written after begin, flushed: a table newer than the ingest overlaps its range */
    value_of(4, 0, v, 100);
    cr_assert_eq(lsm_put(db, NULL, "c00000004x", 10, v, 100), 0);
    cr_assert_eq(lsm_flush(db), 0);
    cr_assert_eq(lsm_ingest_commit(in), 0, "%s", lsm_last_error());
    for (int i = 0; i < 10; i++) expect(db, i, 1, 100);
    void *got;
    size_t gl;
    cr_assert_eq(lsm_get(db, NULL, "c00000004x", 10, &got, &gl), 0);
    lsm_free(got);
    cr_assert_eq(count_files(dir, ".sst"), 1, "the fallback's table file must be gone");
    cr_assert_eq(lsm_close(db), 0);
    db = open_db(dir, 0);
    for (int i = 0; i < 10; i++) expect(db, i, 1, 100);
    cr_assert_eq(lsm_close(db), 0);
    tu_rmrf(dir);
    free(dir);
}

/* Two keys around the range, "a" and "z", flushed into one table that spans it. */
static void put_spanning_table(lsm_db *db, int version)
{
    char v[100];
    value_of(0, version, v, 100);
    cr_assert_eq(lsm_put(db, NULL, "a", 1, v, 100), 0);
    cr_assert_eq(lsm_put(db, NULL, "z", 1, v, 100), 0);
    cr_assert_eq(lsm_flush(db), 0, "%s", lsm_last_error());
}

/* lsmfs's case: a big file's chunk keys sort between the keys of older tables without any of
 * them holding one.  A table that only spans the range, older or newer than the ingest, must
 * neither pull the ingest up to level 0 (where a big file's tables stall every writer) nor
 * send it down the fallback path. */
Test(ingest, a_table_spanning_the_range_without_its_keys_does_not_hold_it_up)
{
    char *dir = tu_tmpdir("ingest_span");
    lsm_db *db = open_db(dir, 0);
    put_spanning_table(db, 0);
    ingest_range(db, 0, 10, 1, 100);
    cr_assert_eq(files_at(db, 6), 1, "the ingest goes to the bottom, under the spanning table");
    lsm_ingest *in;
    cr_assert_eq(lsm_ingest_begin(db, &in), 0);
    char k[16], v[100];
    for (int i = 20; i < 30; i++) {
        key_of(i, k);
        value_of(i, 1, v, 100);
        cr_assert_eq(lsm_ingest_put(in, k, strlen(k), v, 100), 0);
    }
    put_spanning_table(db, 1); /* newer than the ingest, spanning it */
    int before = count_files(dir, ".sst");
    cr_assert_eq(lsm_ingest_commit(in), 0, "%s", lsm_last_error());
    cr_assert_eq(count_files(dir, ".sst"), before + 1, "placed, not written through batches");
    cr_assert_eq(files_at(db, 6), 2);
    for (int i = 0; i < 30; i++) expect(db, i, i < 10 || i >= 20 ? 1 : -1, 100);
    void *got;
    size_t gl;
    cr_assert_eq(lsm_get(db, NULL, "z", 1, &got, &gl), 0);
    value_of(0, 1, v, 100);
    cr_assert(gl == 100 && memcmp(got, v, 100) == 0, "the newer spanning write wins");
    lsm_free(got);
    cr_assert_eq(lsm_close(db), 0);
    cr_assert_eq(lsm_verify(dir, NULL, NULL, NULL), 0, "%s", lsm_last_error());
    db = open_db(dir, 0);
    for (int i = 0; i < 30; i++) expect(db, i, i < 10 || i >= 20 ? 1 : -1, 100);
    cr_assert_eq(lsm_close(db), 0);
    tu_rmrf(dir);
    free(dir);
}

Test(ingest, abandon_and_bad_order)
{
    char *dir = tu_tmpdir("ingest_abandon");
    lsm_db *db = open_db(dir, 0);
    lsm_ingest *in;
    cr_assert_eq(lsm_ingest_begin(db, &in), 0);
    cr_assert_eq(lsm_ingest_put(in, "b", 1, "1", 1), 0);
    cr_assert_eq(lsm_ingest_put(in, "a", 1, "1", 1), LSM_EINVAL);
    cr_assert_eq(lsm_ingest_put(in, "b", 1, "1", 1), LSM_EINVAL);
    cr_assert_eq(lsm_ingest_put(in, "c", 1, "1", 1), 0);
    lsm_ingest_abandon(in);
    cr_assert_eq(count_files(dir, ".tmp"), 0);
    void *v;
    size_t vl;
    cr_assert_eq(lsm_get(db, NULL, "c", 1, &v, &vl), LSM_ENOTFOUND);
    cr_assert_eq(lsm_ingest_begin(db, &in), 0); /* empty: commit just frees it */
    cr_assert_eq(lsm_ingest_commit(in), 0);
    cr_assert_eq(count_files(dir, ".tmp") + count_files(dir, ".sst"), 0);
    cr_assert_eq(lsm_close(db), 0);
    tu_rmrf(dir);
    free(dir);
}

Test(ingest, crash_before_commit_leaves_nothing)
{
    char *dir = tu_tmpdir("ingest_crash");
    lsm_db *db = open_db(dir, 0);
    cr_assert_eq(lsm_put(db, NULL, "a", 1, "1", 1), 0);
    cr_assert_eq(lsm_close(db), 0);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        lsm_options o;
        lsm_options_init(&o);
        lsm_db *cdb;
        lsm_ingest *in;
        char k[16], *v = malloc(VAL);
        if (lsm_open(dir, &o, &cdb) || lsm_ingest_begin(cdb, &in)) _exit(2);
        for (int i = 0; i < 100; i++) {
            key_of(i, k);
            value_of(i, 1, v, VAL);
            if (lsm_ingest_put(in, k, strlen(k), v, VAL)) _exit(3);
        }
        kill(getpid(), SIGKILL);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFSIGNALED(st), "child exited with %d", WEXITSTATUS(st));
    db = open_db(dir, 0);
    expect(db, 0, -1, VAL);
    cr_assert_eq(count_files(dir, ".tmp"), 0, "open removes the unfinished table");
    cr_assert_eq(lsm_close(db), 0);
    tu_rmrf(dir);
    free(dir);
}

/* The model: version of each key, -1 if absent. */
#define MKEYS 400

static lsm_db *open_styled(const char *dir, int style)
{
    lsm_options o;
    lsm_options_init(&o);
    o.memtable_size = 64 * 1024;
    o.compaction_style = style;
    lsm_db *db;
    cr_assert_eq(lsm_open(dir, &o, &db), 0, "open: %s", lsm_last_error());
    return db;
}

static void random_model(int style, const char *name)
{
    uint64_t seed = tu_seed(name, 4242);
    tu_rng rng;
    tu_rng_init(&rng, seed);
    char *dir = tu_tmpdir("ingest_model");
    lsm_db *db = open_styled(dir, style);
    int model[MKEYS];
    for (int i = 0; i < MKEYS; i++) model[i] = -1;
    int version = 0;
    char k[16], v[512];
    int steps = (int)(300 * tu_scale());
    for (int step = 0; step < steps; step++) {
        int op = (int)tu_uniform(&rng, 10);
        g_step = step;
        version++;
        if (op < 4) { /* a few puts and deletes */
            for (int j = 0; j < 20; j++) {
                int i = (int)tu_uniform(&rng, MKEYS);
                key_of(i, k);
                if (tu_uniform(&rng, 4) == 0) {
                    cr_assert_eq(lsm_delete(db, NULL, k, strlen(k)), 0);
                    model[i] = -1;
                } else {
                    value_of(i, version, v, 300);
                    cr_assert_eq(lsm_put(db, NULL, k, strlen(k), v, 300), 0);
                    model[i] = version;
                }
            }
        } else if (op < 8) { /* an ingest of a random range, some keys skipped */
            int lo = (int)tu_uniform(&rng, MKEYS), len = 1 + (int)tu_uniform(&rng, 60);
            lsm_ingest *in;
            cr_assert_eq(lsm_ingest_begin(db, &in), 0);
            for (int i = lo; i < lo + len && i < MKEYS; i++) {
                if (tu_uniform(&rng, 5) == 0) continue;
                key_of(i, k);
                value_of(i, version, v, 300);
                cr_assert_eq(lsm_ingest_put(in, k, strlen(k), v, 300), 0);
                model[i] = version;
            }
            cr_assert_eq(lsm_ingest_commit(in), 0, "step %d: %s", step, lsm_last_error());
        } else if (op == 8) {
            cr_assert_eq(lsm_compact_range(db, NULL, 0, NULL, 0), 0);
        } else {
            cr_assert_eq(lsm_close(db), 0);
            db = open_styled(dir, style);
        }
        if (style == LSM_COMPACTION_TIERED)
            for (int l = 1; l < 7; l++)
                cr_assert_eq(files_at(db, l), 0, "tiered: a table in level %d", l);
        for (int i = 0; i < MKEYS; i++) expect(db, i, model[i], 300);
    }
    /* one scan agrees with the model too */
    lsm_iter *it;
    cr_assert_eq(lsm_iter_new(db, NULL, &it), 0);
    int i = 0;
    for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it)) {
        while (i < MKEYS && model[i] < 0) i++;
        cr_assert(i < MKEYS, "scan returns a key the model lacks");
        size_t kl;
        const char *got = lsm_iter_key(it, &kl);
        key_of(i, k);
        cr_assert(kl == strlen(k) && memcmp(got, k, kl) == 0, "scan: expected %s", k);
        i++;
    }
    cr_assert_eq(lsm_iter_status(it), 0);
    while (i < MKEYS && model[i] < 0) i++;
    cr_assert_eq(i, MKEYS, "scan misses keys");
    lsm_iter_free(it);
    cr_assert_eq(lsm_close(db), 0);
    tu_rmrf(dir);
    free(dir);
}

Test(ingest, random_model_leveled) { random_model(LSM_COMPACTION_LEVELED, "ingest::random_model_leveled"); }
Test(ingest, random_model_tiered) { random_model(LSM_COMPACTION_TIERED, "ingest::random_model_tiered"); }

/* Waits (bounded) for the background thread to leave n tables in level 0. */
static void wait_for_l0_tables(lsm_db *db, int n)
{
    for (int i = 0; i < 3000 && files_at(db, 0) != n; i++) usleep(10000);
    cr_assert_eq(files_at(db, 0), n, "the background compaction did not run");
}

/* Size-tiered: a run ingested while the memtable held an older tombstone of another key, then
 * merged with the older run holding that key's value before the memtable was flushed, used to
 * sort above the tombstone's table (merged runs take the newest sequence): the key came back.
 * The ingest now flushes the memtables first. */
Test(ingest, tiered_ingest_after_older_unflushed_writes)
{
    char *dir = tu_tmpdir("ingest_tiered_order");
    lsm_db *db = open_styled(dir, LSM_COMPACTION_TIERED);
    char k[16], v[1000];
    for (int i = 0; i < 10; i++) {
        key_of(i, k);
        value_of(i, 0, v, sizeof v);
        cr_assert_eq(lsm_put(db, NULL, k, strlen(k), v, sizeof v), 0);
    }
    cr_assert_eq(lsm_flush(db), 0);
    key_of(5, k);
    cr_assert_eq(lsm_delete(db, NULL, k, strlen(k)), 0); /* stays in the memtable */
    ingest_range(db, 100, 140, 1, sizeof v); /* 4x the older run: all runs are merged */
    wait_for_l0_tables(db, 1);
    cr_assert_eq(lsm_flush(db), 0);
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < 10; i++) expect(db, i, i == 5 ? -1 : 0, sizeof v);
        for (int i = 100; i < 140; i++) expect(db, i, 1, sizeof v);
        cr_assert_eq(lsm_close(db), 0);
        db = open_styled(dir, LSM_COMPACTION_TIERED);
    }
    cr_assert_eq(lsm_close(db), 0);
    tu_rmrf(dir);
    free(dir);
}

static lsm_db *open_small_tables_env(const char *dir, lsm_env *env)
{
    lsm_options o;
    lsm_options_init(&o);
    o.env = env;
    o.target_file_size = 4096; /* an ingest rolls over every 32 x 4 KiB */
    o.disable_background = 1;  /* the same operations in every run */
    lsm_db *db;
    cr_assert_eq(lsm_open(dir, &o, &db), 0, "open: %s", lsm_last_error());
    return db;
}

static lsm_db *open_small_tables(const char *dir) { return open_small_tables_env(dir, NULL); }

static int total_files(lsm_db *db)
{
    int n = 0;
    for (int l = 0; l < 7; l++) n += files_at(db, l);
    return n;
}

/* An open ingest of keys 0 .. n-1, version 1, 64 KiB values. */
static lsm_ingest *begin_filled(lsm_db *db, int n)
{
    lsm_ingest *in;
    cr_assert_eq(lsm_ingest_begin(db, &in), 0);
    char k[16], *v = malloc(VAL);
    for (int i = 0; i < n; i++) {
        key_of(i, k);
        value_of(i, 1, v, VAL);
        cr_assert_eq(lsm_ingest_put(in, k, strlen(k), v, VAL), 0, "%s", lsm_last_error());
    }
    free(v);
    return in;
}

/* Keys 0 .. n-1 hold version 1 (64 KiB), also after a reopen; closes db and removes dir. */
static void expect_filled_and_finish(lsm_db *db, char *dir, int n)
{
    for (int i = 0; i < n; i++) expect(db, i, 1, VAL);
    cr_assert_eq(lsm_close(db), 0);
    db = open_small_tables(dir);
    for (int i = 0; i < n; i++) expect(db, i, 1, VAL);
    cr_assert_eq(lsm_close(db), 0);
    tu_rmrf(dir);
    free(dir);
}

/* 40 MiB into one table of the POSIX environment: its writeback helper starts writeback every
 * 4 MiB and fdatasyncs every 8 MiB while the writer goes on appending, and where the file
 * system takes O_DIRECT the table's full megabytes are written directly; every value reads
 * back at commit and after a reopen. */
Test(ingest, a_big_table_synced_as_it_is_written_reads_back)
{
    char *dir = tu_tmpdir("ingest_big_sync");
    lsm_db *db = open_db(dir, 0);
    ingest_range(db, 0, 640, 1, VAL);
    cr_assert_eq(count_files(dir, ".tmp"), 0);
    uint64_t all = tu_stats_field(db, "ingest_bytes");
    uint64_t direct = tu_stats_field(db, "ingest_direct_bytes");
    cr_assert(all >= 640ull * VAL && all != UINT64_MAX, "ingest_bytes %llu",
              (unsigned long long)all);
    if (tu_dir_takes_direct(dir))
        cr_assert_eq(direct, all / (1u << 20) * (1u << 20), "%llu of %llu bytes directly",
                     (unsigned long long)direct, (unsigned long long)all);
    else
        cr_assert_eq(direct, 0);
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < 640; i++) expect(db, i, 1, VAL);
        cr_assert_eq(lsm_close(db), 0);
        db = open_db(dir, 0);
    }
    cr_assert_eq(lsm_close(db), 0);
    tu_rmrf(dir);
    free(dir);
}

/* 100 values of 64 KiB with tables rolling every 128 KiB: about 50 tables, none visible or
 * named before commit, all of them after it (at the bottom), and after a reopen. */
Test(ingest, a_big_ingest_rolls_over_to_several_tables)
{
    char *dir = tu_tmpdir("ingest_roll");
    lsm_db *db = open_small_tables(dir);
    lsm_ingest *in = begin_filled(db, 100);
    cr_assert_eq(count_files(dir, ".sst"), 0, "rolled tables keep their temporary names");
    cr_assert_gt(count_files(dir, ".tmp"), 10, "the ingest rolled over");
    expect(db, 0, -1, VAL);
    cr_assert_eq(lsm_ingest_commit(in), 0, "%s", lsm_last_error());
    cr_assert_eq(count_files(dir, ".tmp"), 0);
    int n = files_at(db, 6);
    cr_assert_gt(n, 10);
    cr_assert_eq(total_files(db), n, "every table at the bottom");
    expect_filled_and_finish(db, dir, 100);
}

/* A write flushed into a newer table in the middle of a rolled ingest's range: commit falls
 * back for every table (its entries through batches, newer than that write), and no table
 * file of the ingest is left. */
Test(ingest, a_rolled_ingest_falls_back_whole)
{
    char *dir = tu_tmpdir("ingest_roll_fallback");
    lsm_db *db = open_small_tables(dir);
    lsm_ingest *in = begin_filled(db, 40);
    char k[16], *v = malloc(VAL);
    key_of(20, k);
    value_of(20, 2, v, VAL);
    cr_assert_eq(lsm_put(db, NULL, k, strlen(k), v, VAL), 0);
    cr_assert_eq(lsm_flush(db), 0);
    int before = total_files(db);
    cr_assert_eq(lsm_ingest_commit(in), 0, "%s", lsm_last_error());
    cr_assert_eq(count_files(dir, ".tmp"), 0);
    cr_assert_eq(total_files(db), before, "no ingested table was added (all in the memtable)");
    cr_assert_eq(count_files(dir, ".sst"), before, "the ingest's files are gone");
    free(v);
    expect_filled_and_finish(db, dir, 40);
}

/* Fill a fresh store at dir through env with a rolled ingest of 12 keys and commit it, the nth
 * file operation of the commit failing (n = 0: none).  Returns commit's result. */
static int commit_failing_at(const char *dir, lsm_env *env, uint64_t n, int err)
{
    lsm_db *db = open_small_tables_env(dir, env);
    lsm_ingest *in = begin_filled(db, 12);
    fault_env_reset_counts(env);
    if (n) fault_env_fail(env, FAULT_OPS_ALL, n, err, (int)(n % 2));
    int rc = lsm_ingest_commit(in);
    fault_env_clear(env);
    lsm_close(db); /* may report the failure again */
    return rc;
}

Test(ingest, a_rolled_commit_failing_anywhere_is_all_or_nothing, .timeout = 300)
{
    char *dir = tu_tmpdir("ingest_roll_fault");
    char *store = tu_path(dir, "s");
    lsm_env *env = fault_env_new();
    cr_assert_eq(commit_failing_at(store, env, 0, 0), 0, "%s", lsm_last_error());
    uint64_t total = fault_env_count(env);
    cr_assert_gt(total, 12, "the commit publishes several tables");
    tu_rmrf(store);
    for (uint64_t n = 1; n <= total; n++) {
        int err = n % 3 ? -EIO : -ENOSPC;
        int rc = commit_failing_at(store, env, n, err);
        cr_assert_eq(fault_env_drop_unsynced(env), 0);
        lsm_db *db = open_small_tables(store);
        int present = 0;
        char k[16];
        for (int i = 0; i < 12; i++) {
            void *v;
            size_t vl;
            key_of(i, k);
            int r = lsm_get(db, NULL, k, strlen(k), &v, &vl);
            cr_assert(r == 0 || r == LSM_ENOTFOUND, "op %llu: %s", (unsigned long long)n,
                      lsm_last_error());
            if (r == 0) {
                present++;
                lsm_free(v);
            }
        }
        cr_assert(present == 0 || present == 12, "op %llu: %d of 12 keys after the power cut",
                  (unsigned long long)n, present);
        cr_assert(rc != 0 || present == 12, "op %llu: commit succeeded but keys are gone",
                  (unsigned long long)n);
        if (present) for (int i = 0; i < 12; i++) expect(db, i, 1, VAL);
        cr_assert_eq(count_files(store, ".tmp"), 0, "op %llu", (unsigned long long)n);
        cr_assert_eq(lsm_close(db), 0);
        tu_rmrf(store);
    }
    fprintf(stderr, "ingest: a rolled commit failed at each of its %llu file operations\n",
            (unsigned long long)total);
    fault_env_free(env);
    tu_rmrf(dir);
    free(store);
    free(dir);
}
