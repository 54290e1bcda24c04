/* test_db_tools.c — lsm_checkpoint (an openable, independent copy of a live store),
 * lsm_verify (clean stores pass; a damaged table, manifest or WAL is reported, naming the
 * file) and lsm_repair (a store whose manifest is lost or whose table is damaged opens again
 * with everything that was readable, and the loss is reported). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lsm.h"
#include "testutil.h"

static char *base;
static void setup(void) { base = tu_tmpdir("db_tools"); }
static void teardown(void)
{
    tu_rmrf(base);
    free(base);
}
TestSuite(db_tools, .init = setup, .fini = teardown, .timeout = 300);

#define N 3000

static void key_of(int i, char *k) { snprintf(k, 16, "key%06d", i); }
static size_t val_of(int i, int gen, char *v) { return (size_t)snprintf(v, 64, "value-%d-%d-padding-padding", i, gen); }

static lsm_db *open_small(const char *dir)
{
    lsm_options o;
    lsm_options_init(&o);
    o.memtable_size = 32 * 1024;
    o.target_file_size = 32 * 1024;
    lsm_db *db;
    cr_assert_eq(lsm_open(dir, &o, &db), 0, "%s: %s", dir, lsm_last_error());
    return db;
}

static void fill(lsm_db *db, int gen)
{
    char k[16], v[64];
    for (int i = 0; i < N; i++) {
        key_of(i, k);
        cr_assert_eq(lsm_put(db, NULL, k, strlen(k), v, val_of(i, gen, v)), 0);
    }
}

/* Count keys holding generation gen; fail on wrong data. */
static int count_gen(lsm_db *db, int gen)
{
    char k[16], v[64];
    int c = 0;
    for (int i = 0; i < N; i++) {
        key_of(i, k);
        void *got;
        size_t n;
        int rc = lsm_get(db, NULL, k, strlen(k), &got, &n);
        if (rc == LSM_ENOTFOUND) continue;
        cr_assert_eq(rc, 0, "get %s: %s", k, lsm_last_error());
        if (n == val_of(i, gen, v) && memcmp(got, v, n) == 0) c++;
        lsm_free(got);
    }
    return c;
}

typedef struct lines {
    char text[8192];
    int n;
} lines;

static void collect(void *arg, const char *line)
{
    lines *l = arg;
    l->n++;
    size_t len = strlen(l->text);
    snprintf(l->text + len, sizeof l->text - len, "%s\n", line);
}

Test(db_tools, checkpoint)
{
    char *src = tu_path(base, "src"), *cp = tu_path(base, "cp");
    lsm_db *db = open_small(src);
    fill(db, 1);
    cr_assert_eq(lsm_checkpoint(db, cp), 0, "%s", lsm_last_error());
    cr_assert_eq(lsm_checkpoint(db, cp), LSM_EEXIST);
    fill(db, 2); /* the source moves on; the copy must not */
    cr_assert_eq(lsm_compact_range(db, NULL, 0, NULL, 0), 0);
    lsm_db *copy = open_small(cp);
    cr_assert_eq(count_gen(copy, 1), N);
    cr_assert_eq(count_gen(db, 2), N);
    cr_assert_eq(lsm_close(copy), 0);
    cr_assert_eq(lsm_close(db), 0);
    cr_assert_eq(lsm_verify(cp, NULL, NULL, NULL), 0, "%s", lsm_last_error());
    free(src);
    free(cp);
}

static void progress(void *arg, uint64_t done, uint64_t total)
{
    uint64_t *last = arg;
    cr_assert_leq(done, total);
    *last = done;
}

Test(db_tools, verify_clean_and_damaged)
{
    char *dir = tu_path(base, "v");
    lsm_db *db = open_small(dir);
    fill(db, 1);
    cr_assert_eq(lsm_close(db), 0);
    uint64_t last = 0;
    cr_assert_eq(lsm_verify(dir, NULL, progress, &last), 0, "%s", lsm_last_error());
    cr_assert_gt(last, 0);
    /* damage the largest table in its middle */
    DIR *d = opendir(dir);
    struct dirent *e;
    char name[256] = "";
    size_t best = 0;
    while ((e = readdir(d))) {
        if (!strstr(e->d_name, ".sst")) continue;
        char *p = tu_path(dir, e->d_name);
        size_t n;
        uint8_t *data = tu_read_file(p, &n);
        if (n > best) best = n, snprintf(name, sizeof name, "%s", e->d_name);
        free(data);
        free(p);
    }
    closedir(d);
    cr_assert(name[0]);
    char *p = tu_path(dir, name);
    size_t n;
    uint8_t *data = tu_read_file(p, &n);
    data[n / 3] ^= 0x55;
    cr_assert_eq(tu_write_file(p, data, n), 0);
    free(data);
    lines l = {"", 0};
    cr_assert_eq(lsm_verify(dir, collect, NULL, &l), LSM_ECORRUPT);
    cr_assert_gt(l.n, 0);
    cr_assert(strstr(l.text, name) != NULL, "report does not name %s:\n%s", name, l.text);

    /* repair: the damaged table keeps every readable block, the store opens, loss is reported */
    lines r = {"", 0};
    cr_assert_eq(lsm_repair(dir, collect, &r), 0, "%s", lsm_last_error());
    cr_assert(strstr(r.text, name) != NULL, "repair report does not name %s:\n%s", name, r.text);
    cr_assert_eq(lsm_verify(dir, NULL, NULL, NULL), 0, "after repair: %s", lsm_last_error());
    db = open_small(dir);
    int kept = count_gen(db, 1);
    fprintf(stderr, "repair kept %d of %d keys\n%s", kept, N, r.text);
    /* Only the one damaged block's entries may go: the blocks after it are salvaged too. */
    cr_assert(strstr(r.text, "block skipped") != NULL, "no skipped block reported:\n%s", r.text);
    cr_assert_geq(kept, N - 150, "repair kept only %d of %d keys", kept, N);
    cr_assert_lt(kept, N + 1);
    cr_assert_eq(lsm_close(db), 0);
    free(p);
    free(dir);
}

Test(db_tools, repair_lost_manifest_and_wal)
{
    char *dir = tu_path(base, "r");
    lsm_db *db = open_small(dir);
    fill(db, 1);
    cr_assert_eq(lsm_close(db), 0);
    db = open_small(dir);
    char k[16], v[64];
    for (int i = 0; i < 100; i++) { /* generation 2 of the first 100 keys stays in the WAL */
        key_of(i, k);
        cr_assert_eq(lsm_put(db, NULL, k, strlen(k), v, val_of(i, 2, v)), 0);
    }
    cr_assert_eq(lsm_sync(db), 0);
    /* simulate losing the manifest of a crashed process: copy the files aside */
    char *copy = tu_path(base, "r2");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cp -a '%s' '%s' && rm -f '%s'/MANIFEST-* '%s'/LOCK", dir, copy,
             copy, copy);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(lsm_close(db), 0);
    lsm_options o;
    lsm_options_init(&o);
    cr_assert_eq(lsm_open(copy, &o, &db), LSM_ECORRUPT);
    lines r = {"", 0};
    cr_assert_eq(lsm_repair(copy, collect, &r), 0, "%s", lsm_last_error());
    db = open_small(copy);
    cr_assert_eq(count_gen(db, 2), 100, "WAL records lost by repair");
    cr_assert_eq(count_gen(db, 1), N - 100);
    cr_assert_eq(lsm_close(db), 0);
    free(copy);
    free(dir);
}
