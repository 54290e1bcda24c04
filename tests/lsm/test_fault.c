/* test_fault.c — I/O failures injected with fault_env across a whole workload (WAL appends
 * and syncs, flushes, compactions, manifest edits, store creation): a failing operation makes
 * the write fail, never acknowledged; the store then reopens with the normal environment and
 * holds every acknowledged write.  And a simulated power cut after synced writes loses none of
 * them. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fault_env.h"
#include "lsm.h"
#include "testutil.h"

#define NKEYS 60
#define NOPS 300

static void key_of(int i, char *k) { snprintf(k, 16, "key%03d", i % NKEYS); }
static int is_delete(int i) { return i % 7 == 3; }
static size_t value_of(int i, char *v)
{
    int n = snprintf(v, 300, "value-of-op-%d-", i);
    for (int j = n; j < 200 + i % 50; j++) v[j] = (char)('a' + (i + j) % 26);
    return (size_t)(200 + i % 50);
}

static void opts(lsm_options *o, lsm_env *env)
{
    lsm_options_init(o);
    o->env = env;
    o->memtable_size = 8 * 1024;
    o->target_file_size = 4 * 1024;
    o->partition_prefix = 4; /* "key0".."key5": flushes and compactions write several tables */
    o->level1_max_bytes = 64 * 1024;
    o->disable_background = 1; /* operation counts must be the same in every run */
    o->sync_policy = LSM_SYNC_ALWAYS;
}

/* Run the workload; ok[i] = 1 for acknowledged ops.  Returns the number of the first failure. */
static void workload(const char *dir, lsm_env *env, int *ok)
{
    memset(ok, 0, NOPS * sizeof *ok);
    lsm_options o;
    opts(&o, env);
    lsm_db *db;
    if (lsm_open(dir, &o, &db) != 0) return;
    char k[16], v[300];
    for (int i = 0; i < NOPS; i++) {
        key_of(i, k);
        int rc = is_delete(i) ? lsm_delete(db, NULL, k, strlen(k))
                              : lsm_put(db, NULL, k, strlen(k), v, value_of(i, v));
        ok[i] = rc == 0;
        if (rc) cr_assert(strlen(lsm_last_error()) > 0, "failed write without a message");
        if (i == 150) lsm_compact_range(db, NULL, 0, NULL, 0);
        if (i % 97 == 0) lsm_flush(db);
    }
    lsm_close(db);
}

/* Reopen with the real env; each key must hold its last acknowledged value, or the value of
 * a later failed op (a failed write may still have reached the disk). */
static void check(const char *dir, const int *ok, const char *what)
{
    lsm_options o;
    opts(&o, NULL);
    lsm_db *db;
    int rc = lsm_open(dir, &o, &db);
    cr_assert_eq(rc, 0, "%s: reopen failed: %s", what, lsm_last_error());
    char k[16], v[300];
    for (int kk = 0; kk < NKEYS; kk++) {
        key_of(kk, k);
        int last = -1;
        for (int i = kk; i < NOPS; i += NKEYS)
            if (ok[i]) last = i;
        void *got;
        size_t n;
        rc = lsm_get(db, NULL, k, strlen(k), &got, &n);
        cr_assert(rc == 0 || rc == LSM_ENOTFOUND, "%s: get %s: %s", what, k, lsm_last_error());
        int good = 0;
        for (int i = last < 0 ? kk : last; i < NOPS && !good; i += NKEYS) {
            if (i != last && ok[i]) continue;
            if (i == last || !ok[i]) {
                if (is_delete(i)) good = rc == LSM_ENOTFOUND;
                else good = rc == 0 && n == value_of(i, v) && memcmp(got, v, n) == 0;
            }
        }
        if (last < 0 && rc == LSM_ENOTFOUND) good = 1;
        cr_assert(good, "%s: key %s lost its acknowledged value (op %d), rc %d", what, k, last, rc);
        if (rc == 0) lsm_free(got);
    }
    cr_assert_eq(lsm_close(db), 0, "%s: close: %s", what, lsm_last_error());
}

Test(fault, fail_every_nth_operation, .timeout = 600)
{
    uint64_t seed = tu_seed("fault", 1);
    tu_rng rng;
    tu_rng_init(&rng, seed);
    lsm_env *env = fault_env_new();
    char *dir = tu_tmpdir("fault");
    char *store = tu_path(dir, "s");
    int ok[NOPS];
    workload(store, env, ok);
    uint64_t total = fault_env_count(env);
    for (int i = 0; i < NOPS; i++) cr_assert(ok[i], "fault-free run: op %d failed", i);
    check(store, ok, "fault-free");
    tu_rmrf(store);
#if defined(__SANITIZE_ADDRESS__)
    uint64_t step = total / 100 + 1;
#else
    uint64_t step = 2; /* every other operation (the start is random) */
#endif
    int runs = 0;
    for (uint64_t n = 1 + tu_uniform(&rng, step); n <= total; n += step, runs++) {
        int err = runs % 2 ? -EIO : -ENOSPC;
        fault_env_reset_counts(env);
        fault_env_fail(env, FAULT_OPS_ALL, n, err, (int)(n % 3 == 0));
        workload(store, env, ok);
        fault_env_clear(env);
        char what[64];
        snprintf(what, sizeof what, "fail op %llu/%llu (%s)", (unsigned long long)n,
                 (unsigned long long)total, err == -EIO ? "EIO" : "ENOSPC");
        /* an open that failed before creating anything leaves no store: nothing to check */
        char *cur = tu_path(store, "CURRENT");
        int exists = access(cur, F_OK) == 0 || access(store, F_OK) == 0;
        free(cur);
        if (exists) check(store, ok, what);
        tu_rmrf(store);
    }
    fprintf(stderr, "fault: %llu operations in the workload, %d failure runs\n",
            (unsigned long long)total, runs);
    fault_env_free(env);
    tu_rmrf(dir);
    free(dir);
    free(store);
}

Test(fault, power_cut_keeps_synced_writes, .timeout = 300)
{
    uint64_t seed = tu_seed("power_cut", 2);
    char *dir = tu_tmpdir("powercut");
    for (int round = 0; round < 6; round++) {
        int p[2];
        cr_assert_eq(pipe(p), 0);
        pid_t pid = fork();
        if (pid == 0) {
            /* Child: writes (a third of them synced) through the fault env, then the power
             * goes: everything not fsynced is dropped.  It reports each acknowledged op and
             * whether it was a synced one. */
            close(p[0]);
            lsm_env *env = fault_env_new();
            lsm_options o;
            opts(&o, env);
            o.sync_policy = LSM_SYNC_EXPLICIT;
            lsm_db *db;
            if (lsm_open(dir, &o, &db) != 0) _exit(2);
            tu_rng rng;
            tu_rng_init(&rng, seed + (uint64_t)round);
            int n = 50 + (int)tu_uniform(&rng, 300);
            char k[16], v[300];
            for (int i = round * 1000; i < round * 1000 + n; i++) {
                lsm_write_options wo = {.sync = tu_uniform(&rng, 3) == 0};
                key_of(i, k);
                int rc = is_delete(i) ? lsm_delete(db, &wo, k, strlen(k))
                                      : lsm_put(db, &wo, k, strlen(k), v, value_of(i, v));
                if (rc) _exit(3);
                int rec[2] = {i, wo.sync};
                if (write(p[1], rec, sizeof rec) != sizeof rec) _exit(4);
            }
            if (fault_env_drop_unsynced(env) != 0) _exit(5);
            _exit(0);
        }
        close(p[1]);
        int st;
        waitpid(pid, &st, 0);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child failed: %d", WEXITSTATUS(st));
        /* Ops up to the last synced one are durable (the WAL is sequential); later ones may
         * or may not be. */
        static int ops[2000], nops;
        int rec[2], last_sync = -1;
        nops = 0;
        while (read(p[0], rec, sizeof rec) == sizeof rec) {
            ops[nops++] = rec[0];
            if (rec[1]) last_sync = nops - 1;
        }
        close(p[0]);
        lsm_options o;
        opts(&o, NULL);
        lsm_db *db;
        cr_assert_eq(lsm_open(dir, &o, &db), 0, "round %d: %s", round, lsm_last_error());
        char k[16], v[300];
        for (int kk = 0; kk < NKEYS; kk++) {
            key_of(kk, k);
            void *got;
            size_t n;
            int rc = lsm_get(db, NULL, k, strlen(k), &got, &n);
            int durable = -1, good = 0;
            for (int j = 0; j <= last_sync; j++)
                if (ops[j] % NKEYS == kk) durable = ops[j];
            /* candidates: the durable op, or any later unsynced op on this key */
            for (int j = last_sync; j < nops && !good; j++) {
                int i = j == last_sync || j < 0 ? durable : ops[j];
                if (j > last_sync && ops[j] % NKEYS != kk) continue;
                if (i < 0) good = 1; /* key not durably written this round: skip */
                else if (is_delete(i)) good = rc == LSM_ENOTFOUND;
                else good = rc == 0 && n == value_of(i, v) && memcmp(got, v, n) == 0;
            }
            if (last_sync < 0) good = 1;
            cr_assert(good, "round %d: key %s lost synced op %d", round, k, durable);
            if (rc == 0) lsm_free(got);
        }
        fprintf(stderr, "power cut round %d: %d ops, last synced at %d\n", round, nops, last_sync);
        cr_assert_eq(lsm_close(db), 0);
    }
    tu_rmrf(dir);
    free(dir);
}

Test(fault, lsm_sync_covers_earlier_wals, .timeout = 120)
{
    /* Unsynced writes spanning several memtable switches, then one lsm_sync, then a power
     * cut: every write made before lsm_sync must survive, also those in WALs that stopped
     * being current before the sync. */
    char *dir = tu_tmpdir("sync_wals");
    pid_t pid = fork();
    if (pid == 0) {
        lsm_env *env = fault_env_new();
        lsm_options o;
        opts(&o, env);
        o.sync_policy = LSM_SYNC_NONE;
        o.max_immutable_memtables = 4;
        o.disable_background = 0; /* flushes may lag behind: WALs stay around */
        lsm_db *db;
        if (lsm_open(dir, &o, &db) != 0) _exit(2);
        char k[16], v[300];
        for (int i = 0; i < 3 * NKEYS; i++) {
            snprintf(k, sizeof k, "s%05d", i);
            if (lsm_put(db, NULL, k, strlen(k), v, value_of(i, v))) _exit(3);
        }
        if (lsm_sync(db)) _exit(4);
        /* power_off, not drop_unsynced: the background thread is still running, and in a real
         * power cut nothing it does afterwards (a manifest edit, a WAL unlink) reaches disk. */
        if (fault_env_power_off(env) != 0) _exit(5);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child failed: %d", WEXITSTATUS(st));
    lsm_options o;
    opts(&o, NULL);
    lsm_db *db;
    cr_assert_eq(lsm_open(dir, &o, &db), 0, "%s", lsm_last_error());
    char k[16], v[300];
    for (int i = 0; i < 3 * NKEYS; i++) {
        snprintf(k, sizeof k, "s%05d", i);
        void *got;
        size_t n;
        cr_assert_eq(lsm_get(db, NULL, k, strlen(k), &got, &n), 0, "lost %s", k);
        cr_assert(n == value_of(i, v) && memcmp(got, v, n) == 0);
        lsm_free(got);
    }
    cr_assert_eq(lsm_close(db), 0);
    tu_rmrf(dir);
    free(dir);
}
