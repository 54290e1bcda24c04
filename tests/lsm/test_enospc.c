/* test_enospc.c — a full disk (ENOSPC from the Nth allocating operation on, through
 * fault_env) is not fatal: the writer gets ENOSPC for what it could not write, nothing
 * acknowledged is lost, reads go on, the store reopens while the disk is still full, and once
 * there is room again writes work (without a reopen, and after one). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fault_env.h"
#include "lsm.h"
#include "testutil.h"

#define NKEYS 50
#define PHASE1 200 /* ops before the disk fills */
#define PHASE2 200 /* ops while it may be full */
#define PHASE3 100 /* ops after room is made */
#define NOPS (PHASE1 + PHASE2 + PHASE3)
/* What a full disk refuses: writing data and creating files. */
#define FULL_MASK (FAULT_MASK(FAULT_OP_WRITE) | FAULT_MASK(FAULT_OP_CREATE))

static void key_of(int i, char *k) { snprintf(k, 16, "key%03d", i % NKEYS); }
static int is_delete(int i) { return i % 7 == 3; }
static size_t value_of(int i, char *v)
{
    int n = snprintf(v, 300, "value-of-op-%d-", i);
    for (int j = n; j < 200 + i % 50; j++) v[j] = (char)('a' + (i + j) % 26);
    return (size_t)(200 + i % 50);
}

static void opts(lsm_options *o, lsm_env *env, int background)
{
    lsm_options_init(o);
    o->env = env;
    o->memtable_size = 8 * 1024;
    o->target_file_size = 16 * 1024;
    o->level1_max_bytes = 64 * 1024;
    o->max_immutable_memtables = 2;
    o->disable_background = !background;
    o->sync_policy = LSM_SYNC_ALWAYS;
}

static int do_op(lsm_db *db, int i)
{
    char k[16], v[300];
    key_of(i, k);
    return is_delete(i) ? lsm_delete(db, NULL, k, strlen(k))
                        : lsm_put(db, NULL, k, strlen(k), v, value_of(i, v));
}

/* Each key holds its last acknowledged op's value, or that of a later failed op (a failed
 * write may still have reached the disk), or (for a key never written) nothing. */
static void check(lsm_db *db, const int *ok, int upto, const char *what)
{
    char k[16], v[300];
    for (int kk = 0; kk < NKEYS; kk++) {
        key_of(kk, k);
        int last = -1;
        for (int i = kk; i < upto; i += NKEYS)
            if (ok[i]) last = i;
        void *got;
        size_t n;
        int rc = lsm_get(db, NULL, k, strlen(k), &got, &n);
        cr_assert(rc == 0 || rc == LSM_ENOTFOUND, "%s: get %s: %s", what, k, lsm_last_error());
        int good = 0;
        for (int i = last < 0 ? kk : last; i < upto && !good; i += NKEYS) {
            if (i != last && ok[i]) break;
            if (i != last && last >= 0 && i < last) continue;
            if (is_delete(i)) good = rc == LSM_ENOTFOUND;
            else good = rc == 0 && n == value_of(i, v) && memcmp(got, v, n) == 0;
        }
        if (last < 0 && rc == LSM_ENOTFOUND) good = 1;
        cr_assert(good, "%s: key %s: last acknowledged op %d, got rc %d", what, k, last, rc);
        if (rc == 0) lsm_free(got);
    }
}

/* Phase 1 normal; then the disk fills at allocating operation n (counted from the end of
 * phase 1) and stays full through phase 2; the store is closed and reopened while full (open
 * must succeed and serve reads; a write gets ENOSPC); the disk gets room; phase 3 writes must
 * all succeed without a reopen; then a clean reopen holds everything acknowledged. */
static void run(const char *store, uint64_t n, int background, uint64_t *count)
{
    lsm_env *env = fault_env_new();
    cr_assert(env);
    int ok[NOPS];
    memset(ok, 0, sizeof ok);
    lsm_options o;
    opts(&o, env, background);
    lsm_db *db;
    cr_assert_eq(lsm_open(store, &o, &db), 0, "%s", lsm_last_error());
    for (int i = 0; i < PHASE1; i++) {
        ok[i] = do_op(db, i) == 0;
        cr_assert(ok[i], "phase 1 op %d: %s", i, lsm_last_error());
    }
    fault_env_reset_counts(env);
    if (n) fault_env_fail(env, FULL_MASK, n, -ENOSPC, 1);
    char what[64];
    snprintf(what, sizeof what, "full from op %llu%s", (unsigned long long)n,
             background ? " (background)" : "");
    for (int i = PHASE1; i < PHASE1 + PHASE2; i++) {
        int rc = do_op(db, i);
        ok[i] = rc == 0;
        cr_assert(rc == 0 || rc == -ENOSPC, "%s: op %d: rc %d, not ENOSPC: %s", what, i, rc,
                  lsm_last_error());
    }
    if (count) *count = fault_env_count(env);
    check(db, ok, PHASE1 + PHASE2, what); /* reads work on the full disk */
    lsm_close(db); /* may fail to flush: the WAL keeps the data */
    cr_assert_eq(lsm_open(store, &o, &db), 0, "%s: reopen on the full disk: %s", what,
                 lsm_last_error());
    check(db, ok, PHASE1 + PHASE2, what);
    if (fault_env_injected(env) > 0) { /* the disk is full by now (the fault is sticky) */
        int rc = do_op(db, PHASE1 + PHASE2);
        cr_assert_eq(rc, -ENOSPC, "%s: write on the reopened full store: %d %s", what, rc,
                     lsm_last_error());
    }
    fault_env_clear(env); /* room again */
    for (int i = PHASE1 + PHASE2; i < NOPS; i++) {
        ok[i] = do_op(db, i) == 0;
        cr_assert(ok[i], "%s: op %d after room was made: %s", what, i, lsm_last_error());
    }
    check(db, ok, NOPS, what);
    cr_assert_eq(lsm_close(db), 0, "%s: close: %s", what, lsm_last_error());
    opts(&o, NULL, 0);
    cr_assert_eq(lsm_open(store, &o, &db), 0, "%s: %s", what, lsm_last_error());
    check(db, ok, NOPS, what);
    cr_assert_eq(lsm_close(db), 0);
    fault_env_free(env);
}

Test(enospc, full_from_every_nth_operation, .timeout = 300)
{
    uint64_t seed = tu_seed("enospc", 1);
    tu_rng rng;
    tu_rng_init(&rng, seed);
    char *dir = tu_tmpdir("enospc");
    char *store = tu_path(dir, "s");
    uint64_t total = 0;
    run(store, 0, 0, &total);
    tu_rmrf(store);
    cr_assert_gt(total, 10);
#if defined(__SANITIZE_ADDRESS__)
    uint64_t step = total / 20 + 1;
#else
    uint64_t step = total / 60 + 1;
#endif
    int runs = 0;
    for (uint64_t n = 1 + tu_uniform(&rng, step); n <= total; n += step, runs++) {
        run(store, n, 0, NULL);
        tu_rmrf(store);
    }
    fprintf(stderr, "enospc: %llu allocating operations in phase 2, %d runs\n",
            (unsigned long long)total, runs);
    tu_rmrf(dir);
    free(dir);
    free(store);
}

Test(enospc, background_flush_retries, .timeout = 120)
{
    char *dir = tu_tmpdir("enospc_bg");
    char *store = tu_path(dir, "s");
    uint64_t seed = tu_seed("enospc_bg", 2);
    tu_rng rng;
    tu_rng_init(&rng, seed);
    for (int r = 0; r < 4; r++) {
        run(store, 1 + tu_uniform(&rng, 40), 1, NULL);
        tu_rmrf(store);
    }
    tu_rmrf(dir);
    free(dir);
    free(store);
}

/* A disk of limit bytes: pwrite fails with ENOSPC (writing nothing) when the files of dir
 * would grow past it.  Deleting files gives room back, as on a real full disk -- with journal
 * set, only once an fsync_dir has committed the deletion, as on ext4 (held: the bytes of files
 * deleted since the last fsync_dir). */
typedef struct quota {
    lsm_env env;
    const char *dir;
    uint64_t limit;
    int journal;
    uint64_t held;
} quota;

static uint64_t dir_usage(const char *dir)
{
    lsm_env *px = lsm_env_posix();
    char **names;
    size_t count;
    uint64_t total = 0;
    if (px->list_dir(px, dir, &names, &count) < 0) return 0;
    for (size_t i = 0; i < count; i++) {
        char *p = tu_path(dir, names[i]);
        struct stat st;
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) total += (uint64_t)st.st_size;
        free(p);
    }
    env_free_list(names, count);
    return total;
}

/* (held is written by whichever thread unlinks, the background flush among them) */
static uint64_t quota_held(quota *q) { return __atomic_load_n(&q->held, __ATOMIC_RELAXED); }

static ssize_t quota_pwrite(lsm_env *env, int fd, const void *buf, size_t n, off_t off)
{
    quota *q = env->ctx;
    lsm_env *px = lsm_env_posix();
    uint64_t size = 0;
    px->fsize(px, fd, &size);
    uint64_t end = (uint64_t)off + n, growth = end > size ? end - size : 0;
    if (growth && dir_usage(q->dir) + quota_held(q) + growth > q->limit) return -ENOSPC;
    return px->pwrite(px, fd, buf, n, off);
}

static int quota_unlink(lsm_env *env, const char *path)
{
    quota *q = env->ctx;
    struct stat st;
    if (q->journal && stat(path, &st) == 0 && S_ISREG(st.st_mode))
        __atomic_add_fetch(&q->held, (uint64_t)st.st_size, __ATOMIC_RELAXED);
    return lsm_env_posix()->unlink(lsm_env_posix(), path);
}

static int quota_fsync_dir(lsm_env *env, const char *dir)
{
    quota *q = env->ctx;
    __atomic_store_n(&q->held, 0, __ATOMIC_RELAXED);
    return lsm_env_posix()->fsync_dir(lsm_env_posix(), dir);
}

/* The room the quota leaves: what a small disk would report. */
static int quota_free_space(lsm_env *env, int fd, uint64_t *bytes)
{
    quota *q = env->ctx;
    uint64_t used = dir_usage(q->dir) + quota_held(q);
    *bytes = used < q->limit ? q->limit - used : 0;
    return 0;
}

/* Incompressible contents for value i (so that a table is as big as its WAL data). */
static void fill_value(char *v, size_t n, int i)
{
    uint64_t x = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
    for (size_t j = 0; j < n; j++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v[j] = (char)x;
    }
}

/* Options for a store in dir whose disk is q (journal: see quota). */
static void quota_init(quota *q, lsm_options *o, const char *dir, int journal)
{
    q->env = *lsm_env_posix();
    q->env.pwrite = quota_pwrite;
    q->env.free_space = quota_free_space;
    q->env.unlink = quota_unlink;
    q->env.fsync_dir = quota_fsync_dir;
    q->env.ctx = q;
    q->dir = dir;
    q->limit = 640 * 1024;
    q->journal = journal;
    q->held = 0;
    lsm_options_init(o);
    o->env = &q->env;
    o->memtable_size = 4u << 20; /* everything stays in the WAL, as in lsmfs (64 MiB) */
    o->sync_policy = LSM_SYNC_ALWAYS;
}

/* Put "key%04d" with fill_value contents of n bytes until the disk is full; returns how many
 * were put (the first refused with ENOSPC). */
static int fill_until_full(lsm_db *db, char *v, size_t n)
{
    char k[32];
    int i = 0, rc;
    for (;; i++) {
        fill_value(v, n, i);
        snprintf(k, sizeof k, "key%04d", i);
        rc = lsm_put(db, NULL, k, strlen(k), v, n);
        if (rc) break;
    }
    cr_assert_eq(rc, -ENOSPC, "%d %s", rc, lsm_last_error());
    cr_assert_gt(i, 10);
    return i;
}

/* Delete the n keys fill_until_full put. */
static void delete_all(lsm_db *db, int n)
{
    char k[32];
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof k, "key%04d", i);
        cr_assert_eq(lsm_delete(db, NULL, k, strlen(k)), 0, "delete %s: %s", k, lsm_last_error());
    }
}

/* A store on a quota disk (journal: see quota), opened and filled until the disk is full:
 * n keys were put. */
typedef struct full_store {
    char *dir, *store;
    quota q;
    lsm_options o;
    lsm_db *db;
    int n;
} full_store;

static void full_store_open(full_store *f, const char *name, int journal, char *v, size_t vn)
{
    f->dir = tu_tmpdir(name);
    f->store = tu_path(f->dir, "s");
    quota_init(&f->q, &f->o, f->store, journal);
    cr_assert_eq(lsm_open(f->store, &f->o, &f->db), 0, "%s", lsm_last_error());
    f->n = fill_until_full(f->db, v, vn);
}

/* Remove f's files (its store is closed). */
static void full_store_free(full_store *f)
{
    tu_rmrf(f->dir);
    free(f->dir);
    free(f->store);
}

Test(enospc, deleting_data_makes_room, .timeout = 60)
{
    static char v[16384], w[16384];
    full_store f;
    full_store_open(&f, "enospc_quota", 0, v, sizeof v);
    char *store = f.store;
    lsm_options o = f.o;
    lsm_db *db = f.db;
    int n = f.n;
    char k[32];
    lsm_close(db); /* its flush cannot fit */
    cr_assert_eq(lsm_open(store, &o, &db), 0, "reopen on the full disk: %s", lsm_last_error());
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof k, "key%04d", i);
        void *got;
        size_t len;
        cr_assert_eq(lsm_get(db, NULL, k, strlen(k), &got, &len), 0, "%s: %s", k, lsm_last_error());
        fill_value(w, sizeof w, i);
        cr_assert(len == sizeof w && memcmp(got, w, len) == 0, "%s differs", k);
        lsm_free(got);
    }
    fill_value(v, sizeof v, -2);
    cr_assert_eq(lsm_put(db, NULL, "new", 3, v, sizeof v), -ENOSPC, "%s", lsm_last_error());
    delete_all(db, n); /* the user deletes everything (little room: tombstones) */
    for (int i = 0; i < 8; i++) { /* now there is room again */
        snprintf(k, sizeof k, "new%d", i);
        cr_assert_eq(lsm_put(db, NULL, k, strlen(k), v, sizeof v), 0, "%s: %s", k, lsm_last_error());
    }
    cr_assert_eq(lsm_close(db), 0, "%s", lsm_last_error());
    cr_assert_eq(lsm_open(store, &o, &db), 0, "%s", lsm_last_error());
    void *got;
    size_t len;
    cr_assert_eq(lsm_get(db, NULL, "key0000", 7, &got, &len), LSM_ENOTFOUND);
    cr_assert_eq(lsm_get(db, NULL, "key0001", 7, &got, &len), LSM_ENOTFOUND);
    cr_assert_eq(lsm_get(db, NULL, "new7", 4, &got, &len), 0);
    lsm_free(got);
    cr_assert_eq(lsm_close(db), 0);
    full_store_free(&f);
}

/* Without a reopen: the deletes land in the active memtable, next to the data they delete, and
 * nothing waits for a flush; the disk keeps a deleted file's blocks until the deletion is
 * committed (quota journal).  The next put that finds the disk full must flush that memtable
 * (the flush drops what the deletes shadow), and commit the WAL's deletion before it retries. */
Test(enospc, deletes_in_the_active_memtable_make_room, .timeout = 60)
{
    static char v[16384];
    full_store f;
    full_store_open(&f, "enospc_active", 1, v, sizeof v);
    char *store = f.store;
    lsm_options o = f.o;
    lsm_db *db = f.db;
    char k[32];
    delete_all(db, f.n);
    fill_value(v, sizeof v, -3);
    for (int i = 0; i < 8; i++) {
        snprintf(k, sizeof k, "new%d", i);
        cr_assert_eq(lsm_put(db, NULL, k, strlen(k), v, sizeof v), 0, "%s: %s", k, lsm_last_error());
    }
    cr_assert_eq(lsm_close(db), 0, "%s", lsm_last_error());
    cr_assert_eq(lsm_open(store, &o, &db), 0, "%s", lsm_last_error());
    void *got;
    size_t len;
    cr_assert_eq(lsm_get(db, NULL, "key0000", 7, &got, &len), LSM_ENOTFOUND);
    cr_assert_eq(lsm_get(db, NULL, "new7", 4, &got, &len), 0, "%s", lsm_last_error());
    cr_assert(len == sizeof v && memcmp(got, v, len) == 0, "new7 differs");
    lsm_free(got);
    cr_assert_eq(lsm_close(db), 0);
    full_store_free(&f);
}
