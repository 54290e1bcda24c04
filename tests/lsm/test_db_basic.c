/* test_db_basic.c — lsm_open/close/put/get/delete, limits, store detection, the process
 * lock, error_if_exists, read-only opens and reopen (recovery from the WAL and from tables),
 * lsm_get_into. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "env.h"
#include "lsm.h"
#include "testutil.h"

static char *dir;

static void setup(void) { dir = tu_tmpdir("db_basic"); }
static void teardown(void)
{
    tu_rmrf(dir);
    free(dir);
}

TestSuite(db_basic, .init = setup, .fini = teardown, .timeout = 120);

static lsm_db *open_db(const lsm_options *o)
{
    lsm_db *db = NULL;
    int rc = lsm_open(dir, o, &db);
    cr_assert_eq(rc, 0, "lsm_open: %d %s", rc, lsm_last_error());
    return db;
}

static void expect(lsm_db *db, const char *k, const char *v)
{
    void *val;
    size_t n;
    int rc = lsm_get(db, NULL, k, strlen(k), &val, &n);
    if (!v) {
        cr_assert_eq(rc, LSM_ENOTFOUND, "key %s: expected absent, got %d", k, rc);
        return;
    }
    cr_assert_eq(rc, 0, "key %s: %d %s", k, rc, lsm_last_error());
    cr_assert_eq(n, strlen(v), "key %s: length %zu", k, n);
    cr_assert(memcmp(val, v, n) == 0, "key %s: wrong value", k);
    lsm_free(val);
}

static void put(lsm_db *db, const char *k, const char *v)
{
    int rc = lsm_put(db, NULL, k, strlen(k), v, strlen(v));
    cr_assert_eq(rc, 0, "put %s: %s", k, lsm_last_error());
}

Test(db_basic, put_get_delete_reopen)
{
    lsm_db *db = open_db(NULL);
    put(db, "a", "1");
    put(db, "b", "2");
    put(db, "a", "3");
    cr_assert_eq(lsm_delete(db, NULL, "b", 1), 0);
    cr_assert_eq(lsm_delete(db, NULL, "zz", 2), 0); /* absent key: fine */
    put(db, "empty", "");
    expect(db, "a", "3");
    expect(db, "b", NULL);
    expect(db, "empty", "");
    expect(db, "c", NULL);
    cr_assert_eq(lsm_close(db), 0, "%s", lsm_last_error());
    db = open_db(NULL);
    expect(db, "a", "3");
    expect(db, "b", NULL);
    expect(db, "empty", "");
    put(db, "c", "4");
    cr_assert_eq(lsm_flush(db), 0, "%s", lsm_last_error());
    put(db, "d", "5");
    cr_assert_eq(lsm_close(db), 0);
    db = open_db(NULL);
    expect(db, "a", "3");
    expect(db, "c", "4");
    expect(db, "d", "5");
    cr_assert_eq(lsm_close(db), 0);
}

Test(db_basic, store_files_are_private)
{
    tu_rmrf(dir);
    lsm_db *db = open_db(NULL);
    put(db, "k", "v");
    cr_assert_eq(lsm_flush(db), 0);
    struct stat st;
    cr_assert_eq(stat(dir, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0700, "dir mode %o", st.st_mode & 0777);
    char *cur = tu_path(dir, "CURRENT");
    cr_assert_eq(stat(cur, &st), 0);
    cr_assert_eq(st.st_mode & 0077, 0, "CURRENT mode %o", st.st_mode & 0777);
    free(cur);
    cr_assert_eq(lsm_close(db), 0);
}

Test(db_basic, limits)
{
    lsm_db *db = open_db(NULL);
    size_t big = LSM_MAX_KEY_SIZE + 1;
    char *k = calloc(1, big);
    int rc = lsm_put(db, NULL, k, big, "v", 1);
    cr_assert_eq(rc, LSM_ETOOBIG);
    cr_assert(strstr(lsm_last_error(), "65537") != NULL, "message: %s", lsm_last_error());
    rc = lsm_put(db, NULL, k, LSM_MAX_KEY_SIZE, "v", 1);
    cr_assert_eq(rc, 0, "%s", lsm_last_error());
    void *v;
    size_t n;
    cr_assert_eq(lsm_get(db, NULL, k, big, &v, &n), LSM_ETOOBIG);
    cr_assert_eq(lsm_get(db, NULL, k, LSM_MAX_KEY_SIZE, &v, &n), 0);
    lsm_free(v);
    free(k);
    char *val = malloc(LSM_MAX_VALUE_SIZE + 1);
    memset(val, 'x', LSM_MAX_VALUE_SIZE + 1);
    rc = lsm_put(db, NULL, "big", 3, val, LSM_MAX_VALUE_SIZE + 1);
    cr_assert_eq(rc, LSM_ETOOBIG);
    cr_assert(strstr(lsm_last_error(), "67108865") != NULL, "message: %s", lsm_last_error());
    free(val);
    cr_assert_eq(lsm_close(db), 0);
}

Test(db_basic, not_a_store)
{
    char *f = tu_path(dir, "somefile");
    cr_assert_eq(tu_write_file(f, "x", 1), 0);
    lsm_db *db = NULL;
    int rc = lsm_open(dir, NULL, &db);
    cr_assert_eq(rc, LSM_ENOTSTORE, "rc %d", rc);
    cr_assert(strstr(lsm_last_error(), dir) != NULL, "message: %s", lsm_last_error());
    cr_assert_null(db);
    /* a regular file is not a store either */
    rc = lsm_open(f, NULL, &db);
    cr_assert_eq(rc, LSM_ENOTSTORE, "rc %d", rc);
    free(f);
}

Test(db_basic, missing_without_create)
{
    char *sub = tu_path(dir, "nope");
    lsm_options o;
    lsm_options_init(&o);
    o.create_if_missing = 0;
    lsm_db *db;
    cr_assert_eq(lsm_open(sub, &o, &db), -ENOENT);
    o.create_if_missing = 1;
    cr_assert_eq(lsm_open(sub, &o, &db), 0, "%s", lsm_last_error());
    cr_assert_eq(lsm_close(db), 0);
    free(sub);
}

Test(db_basic, error_if_exists)
{
    lsm_db *db = open_db(NULL);
    cr_assert_eq(lsm_close(db), 0);
    lsm_options o;
    lsm_options_init(&o);
    o.error_if_exists = 1;
    cr_assert_eq(lsm_open(dir, &o, &db), LSM_EEXIST);
}

Test(db_basic, in_use)
{
    lsm_db *db = open_db(NULL);
    lsm_db *db2 = NULL;
    int rc = lsm_open(dir, NULL, &db2);
    cr_assert_eq(rc, LSM_EINUSE, "rc %d", rc);
    cr_assert(strstr(lsm_last_error(), "in use") != NULL, "message: %s", lsm_last_error());
    pid_t pid = fork();
    if (pid == 0) {
        lsm_db *d3;
        _exit(lsm_open(dir, NULL, &d3) == LSM_EINUSE ? 0 : 1);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child could open a locked store");
    cr_assert_eq(lsm_close(db), 0);
    db = open_db(NULL); /* released on close */
    cr_assert_eq(lsm_close(db), 0);
}

Test(db_basic, read_only)
{
    lsm_db *db = open_db(NULL);
    put(db, "t", "table");
    cr_assert_eq(lsm_flush(db), 0);
    put(db, "w", "wal");
    /* leave "w" in the WAL: simulate a crash by syncing and not closing */
    cr_assert_eq(lsm_sync(db), 0);
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    waitpid(pid, NULL, 0);
    cr_assert_eq(lsm_close(db), 0);
    lsm_options o;
    lsm_options_init(&o);
    o.read_only = 1;
    db = open_db(&o);
    expect(db, "t", "table");
    expect(db, "w", "wal");
    cr_assert_eq(lsm_put(db, NULL, "x", 1, "y", 1), LSM_EINVAL);
    cr_assert_eq(lsm_close(db), 0);
}

Test(db_basic, batch_atomic_and_order)
{
    lsm_db *db = open_db(NULL);
    lsm_batch *b = lsm_batch_new();
    cr_assert_eq(lsm_batch_put(b, "k", 1, "1", 1), 0);
    cr_assert_eq(lsm_batch_put(b, "k", 1, "2", 1), 0);
    cr_assert_eq(lsm_batch_put(b, "j", 1, "x", 1), 0);
    cr_assert_eq(lsm_batch_delete(b, "j", 1), 0);
    cr_assert_eq(lsm_batch_count(b), 4);
    cr_assert_eq(lsm_write(db, NULL, b), 0);
    expect(db, "k", "2");
    expect(db, "j", NULL);
    lsm_batch_clear(b);
    cr_assert_eq(lsm_batch_count(b), 0);
    cr_assert_eq(lsm_write(db, NULL, b), 0); /* empty batch */
    lsm_batch_free(b);
    cr_assert_eq(lsm_close(db), 0);
    db = open_db(NULL);
    expect(db, "k", "2");
    expect(db, "j", NULL);
    cr_assert_eq(lsm_close(db), 0);
}

Test(db_basic, many_flushes_and_reopen)
{
    lsm_options o;
    lsm_options_init(&o);
    o.memtable_size = 64 * 1024;
    lsm_db *db = open_db(&o);
    char k[32], v[128];
    for (int i = 0; i < 20000; i++) {
        snprintf(k, sizeof k, "key%08d", (i * 7919) % 20000);
        snprintf(v, sizeof v, "value-%d-%0100d", i, i);
        put(db, k, v);
    }
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 20000; i += 37) {
            snprintf(k, sizeof k, "key%08d", (i * 7919) % 20000);
            snprintf(v, sizeof v, "value-%d-%0100d", i, i);
            expect(db, k, v);
        }
        char *s;
        cr_assert_eq(lsm_property(db, "lsm.stats", &s), 0);
        lsm_free(s);
        cr_assert_eq(lsm_close(db), 0, "%s", lsm_last_error());
        db = open_db(&o);
    }
    cr_assert_eq(lsm_close(db), 0);
}

Test(db_basic, close_while_background_work_runs, .timeout = 120)
{
    /* Close right after writes that start flushes and compactions, many times: close must
     * neither hang nor lose data (a lost wakeup once made the background thread sleep through
     * the shutdown). */
    lsm_options o;
    lsm_options_init(&o);
    o.memtable_size = 8 * 1024;
    o.target_file_size = 8 * 1024;
    o.level1_max_bytes = 32 * 1024;
    char k[32], v[64];
    for (int round = 0; round < 60; round++) {
        lsm_db *db = open_db(&o);
        for (int i = 0; i < 300; i++) {
            snprintf(k, sizeof k, "k%03d-%03d", i % 150, round);
            snprintf(v, sizeof v, "v%d-%d", i, round);
            put(db, k, v);
        }
        /* a manual compaction leaves the background thread a step with nothing to do */
        if (round % 2) cr_assert_eq(lsm_compact_range(db, NULL, 0, NULL, 0), 0);
        cr_assert_eq(lsm_close(db), 0, "round %d: %s", round, lsm_last_error());
    }
    lsm_db *db = open_db(&o);
    for (int round = 0; round < 60; round += 7) {
        snprintf(k, sizeof k, "k%03d-%03d", 149, round);
        snprintf(v, sizeof v, "v%d-%d", 299, round);
        expect(db, k, v);
    }
    cr_assert_eq(lsm_close(db), 0);
}

/* An env that counts opens of table files, to prove lsm_open never reads tables. */
static int sst_opens;
static lsm_env counting_env;
static int counting_open(lsm_env *env, const char *path, int flags, mode_t mode)
{
    size_t n = strlen(path);
    if (n > 4 && strcmp(path + n - 4, ".sst") == 0) __atomic_fetch_add(&sst_opens, 1, __ATOMIC_RELAXED);
    return lsm_env_posix()->open(env, path, flags, mode);
}

Test(db_basic, open_reads_no_tables)
{
    lsm_options o;
    lsm_options_init(&o);
    o.memtable_size = 16 * 1024;
    o.l0_compaction_trigger = 100; /* keep every table where it is */
    o.l0_slowdown_trigger = 100;
    o.l0_stop_trigger = 100;
    lsm_db *db = open_db(&o);
    char k[32], v[256];
    memset(v, 'v', sizeof v - 1);
    v[sizeof v - 1] = 0;
    for (int i = 0; i < 2000; i++) {
        snprintf(k, sizeof k, "key%06d", i);
        put(db, k, v);
    }
    cr_assert_eq(lsm_close(db), 0);
    char *s;
    counting_env = *lsm_env_posix();
    counting_env.open = counting_open;
    o.env = &counting_env;
    for (int ro = 0; ro < 2; ro++) {
        o.read_only = ro;
        sst_opens = 0;
        db = open_db(&o);
        int during_open = __atomic_load_n(&sst_opens, __ATOMIC_RELAXED);
        cr_assert_eq(lsm_property(db, "lsm.num-files-at-level0", &s), 0);
        cr_assert_gt(atoi(s), 10, "expected many tables, got %s", s);
        lsm_free(s);
        cr_assert_eq(during_open, 0, "lsm_open (read_only=%d) opened %d tables", ro, during_open);
        expect(db, "key000123", v); /* and reads do open them */
        cr_assert_gt(__atomic_load_n(&sst_opens, __ATOMIC_RELAXED), 0);
        cr_assert_eq(lsm_close(db), 0);
    }
}

/* Name and size of the store's newest manifest (a roll in progress may briefly leave two). */
static void manifest_of(char *name, size_t cap, size_t *size)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && ls -1 MANIFEST-* | sort | tail -1 | xargs stat -c '%%n %%s' 2>/dev/null",
             dir);
    for (int attempt = 0; attempt < 20; attempt++) {
        FILE *f = popen(cmd, "r");
        cr_assert_not_null(f);
        char n[256];
        int got = fscanf(f, "%255s %zu", n, size);
        pclose(f);
        if (got == 2) {
            snprintf(name, cap, "%s", n);
            return;
        }
        usleep(10000); /* it was replaced between ls and stat */
    }
    cr_assert_fail("no manifest found in %s", dir);
}

Test(db_basic, manifest_rolls_during_a_long_session)
{
    lsm_options o;
    lsm_options_init(&o);
    o.memtable_size = 8 * 1024; /* manifest rolls past 64 KiB */
    o.target_file_size = 8 * 1024;
    o.level1_max_bytes = 32 * 1024;
    lsm_db *db = open_db(&o);
    char first[256], now[256], k[32], v[64];
    size_t size;
    manifest_of(first, sizeof first, &size);
    size_t max_size = 0;
    for (int i = 0; i < 60000; i++) {
        snprintf(k, sizeof k, "k%06d", (i * 7919) % 20000);
        snprintf(v, sizeof v, "value-%d", i);
        put(db, k, v);
        if (i % 5000 == 0) {
            manifest_of(now, sizeof now, &size);
            if (size > max_size) max_size = size;
        }
    }
    cr_assert_eq(lsm_flush(db), 0);
    manifest_of(now, sizeof now, &size);
    cr_assert(strcmp(first, now) != 0, "manifest never rolled (%s, %zu bytes)", now, size);
    cr_assert_lt(max_size, 256 * 1024, "manifest grew to %zu bytes", max_size);
    cr_assert_eq(lsm_close(db), 0);
    db = open_db(&o);
    for (int i = 60000 - 20000; i < 60000; i += 97) {
        snprintf(k, sizeof k, "k%06d", (i * 7919) % 20000);
        snprintf(v, sizeof v, "value-%d", i);
        expect(db, k, v);
    }
    cr_assert_eq(lsm_close(db), 0);
}

/* lsm_get_into agrees with lsm_get for a value in the memtable and in a table (big ones are
 * read in place there), cuts a value longer than the buffer, gives the length alone with no
 * buffer, and reports absent and deleted keys as LSM_ENOTFOUND. */
Test(db_basic, get_into)
{
    lsm_db *db = open_db(NULL);
    size_t big = 65536;
    char *v = malloc(big), *out = malloc(big + 16);
    tu_rng rng;
    tu_rng_init(&rng, 5);
    tu_fill(&rng, v, big);
    for (int flushed = 0; flushed < 2; flushed++) {
        cr_assert_eq(lsm_put(db, NULL, "big", 3, v, big), 0, "%s", lsm_last_error());
        put(db, "small", "xyz");
        put(db, "gone", "1");
        cr_assert_eq(lsm_delete(db, NULL, "gone", 4), 0);
        if (flushed)
            cr_assert_eq(lsm_flush(db), 0, "%s", lsm_last_error());
        lsm_read_options ro;
        lsm_read_options_init(&ro);
        ro.fill_cache = 0;
        size_t n = 0;
        memset(out, 0, big + 16);
        cr_assert_eq(lsm_get_into(db, &ro, "big", 3, out, big + 16, &n), 0, "%s", lsm_last_error());
        cr_assert_eq(n, big);
        cr_assert(memcmp(out, v, big) == 0, "big value differs (flushed %d)", flushed);
        memset(out, 0, big + 16);
        cr_assert_eq(lsm_get_into(db, NULL, "big", 3, out, 1000, &n), 0);
        cr_assert_eq(n, big, "the whole length is reported");
        cr_assert(memcmp(out, v, 1000) == 0 && out[1000] == 0, "exactly 1000 bytes copied");
        cr_assert_eq(lsm_get_into(db, &ro, "small", 5, out, big, &n), 0);
        cr_assert(n == 3 && memcmp(out, "xyz", 3) == 0);
        cr_assert_eq(lsm_get_into(db, &ro, "gone", 4, out, big, &n), LSM_ENOTFOUND);
        cr_assert_eq(lsm_get_into(db, &ro, "never", 5, out, big, &n), LSM_ENOTFOUND);
        /* the length alone: no buffer at all */
        cr_assert_eq(lsm_get_into(db, &ro, "big", 3, NULL, 0, &n), 0, "%s", lsm_last_error());
        cr_assert_eq(n, big);
        cr_assert_eq(lsm_get_into(db, NULL, "small", 5, NULL, 0, &n), 0, "%s", lsm_last_error());
        cr_assert_eq(n, 3);
        cr_assert_eq(lsm_get_into(db, &ro, "gone", 4, NULL, 0, &n), LSM_ENOTFOUND);
        v[0]++; /* the second round overwrites with a different value */
    }
    free(v);
    free(out);
    cr_assert_eq(lsm_close(db), 0);
}
