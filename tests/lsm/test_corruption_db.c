/* test_corruption_db.c — damage every kind of file of a store (CURRENT, manifest, WAL,
 * tables): flipped bytes at many positions and truncations.  lsm_open, lsm_get and iteration
 * must either work and return correct data, or report LSM_ECORRUPT with the damaged file named
 * in lsm_last_error(); never crash, never return wrong data.  wal_salvage opens a store whose
 * WAL is damaged in the middle with the records before the damage. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lsm.h"
#include "testutil.h"

#define NKEYS 1500
#define NWAL 200 /* keys rewritten in the WAL of the unclean template */

static void key_of(int i, char *k) { snprintf(k, 16, "k%05d", i); }
static size_t value_of(int i, int gen, char *v)
{
    int n = snprintf(v, 200, "value-%d-gen%d-", i, gen);
    for (int j = n; j < 60 + i % 40; j++) v[j] = (char)('a' + (i * j) % 26);
    return (size_t)(60 + i % 40);
}

static void opts(lsm_options *o)
{
    lsm_options_init(o);
    o->memtable_size = 16 * 1024;
    o->target_file_size = 16 * 1024;
    o->disable_background = 1;
}

/* clean: everything in tables, closed.  unclean: plus NWAL rewrites left in a WAL. */
static void build(const char *dir, int unclean)
{
    lsm_options o;
    opts(&o);
    lsm_db *db;
    cr_assert_eq(lsm_open(dir, &o, &db), 0);
    char k[16], v[200];
    for (int i = 0; i < NKEYS; i++) {
        key_of(i, k);
        cr_assert_eq(lsm_put(db, NULL, k, strlen(k), v, value_of(i, 1, v)), 0);
    }
    cr_assert_eq(lsm_close(db), 0);
    if (!unclean) return;
    pid_t pid = fork();
    if (pid == 0) {
        o.memtable_size = 1 << 20;
        if (lsm_open(dir, &o, &db)) _exit(1);
        for (int i = 0; i < NWAL; i++) {
            key_of(i, k);
            if (lsm_put(db, NULL, k, strlen(k), v, value_of(i, 2, v))) _exit(2);
        }
        if (lsm_sync(db)) _exit(3);
        _exit(0); /* no close: the rewrites stay in the WAL */
    }
    int st;
    waitpid(pid, &st, 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void copy_dir(const char *from, const char *to)
{
    tu_rmrf(to);
    cr_assert_eq(mkdir(to, 0700), 0);
    DIR *d = opendir(from);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *a = tu_path(from, e->d_name), *b = tu_path(to, e->d_name);
        size_t n;
        uint8_t *data = tu_read_file(a, &n);
        cr_assert_not_null(data, "read %s", a);
        cr_assert_eq(tu_write_file(b, data, n), 0);
        free(data);
        free(a);
        free(b);
    }
    closedir(d);
}

static int names_file(const char *file)
{
    const char *msg = lsm_last_error();
    if (strstr(msg, file)) return 1;
    /* a damaged CURRENT may name a manifest that does not exist */
    if (strcmp(file, "CURRENT") == 0 && strstr(msg, "CURRENT") != NULL) return 1;
    /* a manifest whose last edit lost its header reads as torn: the older state it replays
     * then names tables that are gone, which is reported as such */
    return strncmp(file, "MANIFEST", 8) == 0 && strstr(msg, "listed in the manifest is missing");
}

typedef struct tally {
    int opened, open_errors, read_errors;
} tally;

/* Open the damaged copy and read everything; assert the contract. */
static void check_store(const char *dir, const char *file, int unclean, const char *what,
                        tally *t)
{
    lsm_options o;
    opts(&o);
    lsm_db *db;
    int rc = lsm_open(dir, &o, &db);
    if (rc) {
        cr_assert_eq(rc, LSM_ECORRUPT, "%s: open rc %d: %s", what, rc, lsm_last_error());
        cr_assert(names_file(file), "%s: open error does not name %s: %s", what, file,
                  lsm_last_error());
        t->open_errors++;
        return;
    }
    t->opened++;
    char k[16], v[200];
    for (int i = 0; i < NKEYS; i += 7) {
        key_of(i, k);
        void *got;
        size_t n;
        rc = lsm_get(db, NULL, k, strlen(k), &got, &n);
        if (rc == LSM_ECORRUPT) {
            cr_assert(names_file(file), "%s: get error does not name %s: %s", what, file,
                      lsm_last_error());
            t->read_errors++;
            continue;
        }
        cr_assert_eq(rc, 0, "%s: get %s: rc %d %s", what, k, rc, lsm_last_error());
        int ok = n == value_of(i, 1, v) && memcmp(got, v, n) == 0;
        if (!ok && unclean && i < NWAL) ok = n == value_of(i, 2, v) && memcmp(got, v, n) == 0;
        cr_assert(ok, "%s: get %s returned wrong data", what, k);
        lsm_free(got);
    }
    lsm_iter *it;
    cr_assert_eq(lsm_iter_new(db, NULL, &it), 0);
    int i = 0;
    for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it), i++) {
        size_t kl, vl;
        const char *kk = lsm_iter_key(it, &kl);
        const char *vv = lsm_iter_value(it, &vl);
        key_of(i, k);
        cr_assert(kl == strlen(k) && memcmp(kk, k, kl) == 0, "%s: scan: wrong key at %d", what, i);
        int ok = vl == value_of(i, 1, v) && memcmp(vv, v, vl) == 0;
        if (!ok && unclean && i < NWAL) ok = vl == value_of(i, 2, v) && memcmp(vv, v, vl) == 0;
        cr_assert(ok, "%s: scan: wrong value at %d", what, i);
    }
    rc = lsm_iter_status(it);
    if (rc) {
        cr_assert_eq(rc, LSM_ECORRUPT, "%s: scan rc %d", what, rc);
        cr_assert(names_file(file), "%s: scan error does not name %s: %s", what, file,
                  lsm_last_error());
        t->read_errors++;
    } else {
        cr_assert_eq(i, NKEYS, "%s: scan ended early at %d without an error", what, i);
    }
    lsm_iter_free(it);
    lsm_close(db);
}

static void damage_all(int unclean, uint64_t seed)
{
    tu_rng rng;
    tu_rng_init(&rng, seed);
    char *base = tu_tmpdir(unclean ? "corrupt_unclean" : "corrupt_clean");
    char *tmpl = tu_path(base, "template"), *work = tu_path(base, "work");
    build(tmpl, unclean);
    DIR *d = opendir(tmpl);
    struct dirent *e;
    char names[64][256];
    int nn = 0;
    while ((e = readdir(d)) && nn < 64)
        if (e->d_name[0] != '.' && strcmp(e->d_name, "LOCK") != 0)
            snprintf(names[nn++], 256, "%s", e->d_name);
    closedir(d);
    tally t = {0, 0, 0};
    for (int f = 0; f < nn; f++) {
        char *src = tu_path(tmpl, names[f]);
        size_t len;
        uint8_t *orig = tu_read_file(src, &len);
        free(src);
        cr_assert_not_null(orig);
        if (len == 0) {
            free(orig);
            continue;
        }
        /* flips: every byte of small files, ~40 spread positions of big ones */
        size_t step = len <= 256 ? 1 : len / 40;
        for (size_t pos = tu_uniform(&rng, step); pos < len; pos += step) {
            copy_dir(tmpl, work);
            char *p = tu_path(work, names[f]);
            uint8_t *copy = malloc(len);
            memcpy(copy, orig, len);
            copy[pos] ^= (uint8_t)(1u << tu_uniform(&rng, 8));
            cr_assert_eq(tu_write_file(p, copy, len), 0);
            free(copy);
            free(p);
            char what[512];
            snprintf(what, sizeof what, "%.200s flipped at %zu", names[f], pos);
            check_store(work, names[f], unclean, what, &t);
        }
        size_t cuts[] = {0, 1, len / 3, len / 2, len - 1, tu_uniform(&rng, len)};
        for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
            copy_dir(tmpl, work);
            char *p = tu_path(work, names[f]);
            cr_assert_eq(tu_write_file(p, orig, cuts[c]), 0);
            free(p);
            char what[512];
            snprintf(what, sizeof what, "%.200s truncated to %zu", names[f], cuts[c]);
            check_store(work, names[f], unclean, what, &t);
        }
        free(orig);
    }
    fprintf(stderr, "%s store: %d files damaged, %d opens ok, %d open errors, %d read errors\n",
            unclean ? "unclean" : "clean", nn, t.opened, t.open_errors, t.read_errors);
    cr_assert_gt(t.open_errors + t.read_errors, 0);
    tu_rmrf(base);
    free(base);
    free(tmpl);
    free(work);
}

Test(corruption_db, clean_store, .timeout = 600) { damage_all(0, tu_seed("corruption_clean", 3)); }
Test(corruption_db, unclean_store, .timeout = 600) { damage_all(1, tu_seed("corruption_unclean", 4)); }

Test(corruption_db, wal_salvage, .timeout = 120)
{
    char *base = tu_tmpdir("salvage");
    char *dir = tu_path(base, "s");
    build(dir, 1);
    DIR *d = opendir(dir);
    struct dirent *e;
    char wal[256] = "";
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".wal")) snprintf(wal, sizeof wal, "%s", e->d_name);
    closedir(d);
    cr_assert(wal[0], "no WAL in the unclean store");
    char *p = tu_path(dir, wal);
    size_t len;
    uint8_t *data = tu_read_file(p, &len);
    cr_assert_gt(len, 1000);
    data[len / 2] ^= 0x10; /* damage a record in the middle: more records follow */
    cr_assert_eq(tu_write_file(p, data, len), 0);
    free(data);
    lsm_options o;
    opts(&o);
    lsm_db *db;
    int rc = lsm_open(dir, &o, &db);
    cr_assert_eq(rc, LSM_ECORRUPT, "rc %d", rc);
    cr_assert(strstr(lsm_last_error(), wal) && strstr(lsm_last_error(), "offset"), "%s",
              lsm_last_error());
    o.wal_salvage = 1;
    cr_assert_eq(lsm_open(dir, &o, &db), 0, "%s", lsm_last_error());
    char k[16], v[200];
    int gen2 = 0;
    for (int i = 0; i < NKEYS; i++) {
        key_of(i, k);
        void *got;
        size_t n;
        cr_assert_eq(lsm_get(db, NULL, k, strlen(k), &got, &n), 0);
        if (n == value_of(i, 2, v) && memcmp(got, v, n) == 0) gen2++;
        else cr_assert(n == value_of(i, 1, v) && memcmp(got, v, n) == 0, "key %d wrong", i);
        lsm_free(got);
    }
    /* the records before the damage were kept, and they are a prefix */
    cr_assert_gt(gen2, 0);
    cr_assert_lt(gen2, NWAL);
    for (int i = 0; i < gen2; i++) {
        key_of(i, k);
        void *got;
        size_t n;
        cr_assert_eq(lsm_get(db, NULL, k, strlen(k), &got, &n), 0);
        cr_assert(n == value_of(i, 2, v) && memcmp(got, v, n) == 0, "salvage not a prefix at %d", i);
        lsm_free(got);
    }
    cr_assert_eq(lsm_close(db), 0);
    free(p);
    tu_rmrf(base);
    free(base);
    free(dir);
}
