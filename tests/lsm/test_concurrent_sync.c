/* test_concurrent_sync.c — lsm_sync from several threads while writers keep writing and the
 * memtable keeps switching (lsm_sync runs beside the writer queue, and a switch must not close
 * a WAL that a sync is still in), then a power cut: every write acknowledged before an
 * lsm_sync that returned must survive.  Also built under TSan (make SAN=tsan
 * check-concurrent), where it has its own main (TU_TSAN_MAIN in support/testutil.h).
 *
 * Writer w puts keys "w<w>-<i>" for i = 1, 2, ... without sync.  A syncer reads how far each
 * writer's acknowledgements go, calls lsm_sync, and then counts that far as durable.  The work
 * runs in a child process whose files go through the fault env; after the power cut it
 * reports the durable counts and the parent reopens the store with the plain env.  Each fsync
 * takes 300 us there, so that writers append to the WAL while a sync is in it. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fault_env.h"
#include "lsm.h"
#include "testutil.h"

#define WRITERS 2
#define SYNCERS 2
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define PUTS 4000
#define ROUNDS 3
#else
#define PUTS 20000
#define ROUNDS 6
#endif

typedef struct shared {
    lsm_db *db;
    lsm_env *env;
    long cut_after;               /* the first sync to cover this many of writer 0's puts
                                     cuts the power when it returns */
    atomic_int cut;               /* the power is off: calls fail from now on */
    atomic_long acked[WRITERS];   /* writer w's puts 1..acked[w] have returned */
    atomic_long durable[WRITERS]; /* and 1..durable[w] were covered by a finished lsm_sync */
    atomic_int writers_done;
    atomic_int failed;            /* a call failed: the child exits with 3 */
} shared;

typedef struct targ {
    shared *sh;
    int id;
} targ;

static int key_of(int w, long i, char *k) { return snprintf(k, 32, "w%d-%07ld", w, i); }

/* Some hundred bytes that depend on the key, so that memtables fill and switch often. */
static size_t value_of(int w, long i, char *v)
{
    size_t n = 100 + (size_t)(i % 200);
    for (size_t j = 0; j < n; j++) v[j] = (char)('a' + (w * 7 + i + (long)j) % 26);
    return n;
}

static void *writer(void *arg)
{
    targ *t = arg;
    char k[32], v[320];
    for (long i = 1; i <= PUTS && !atomic_load(&t->sh->failed); i++) {
        int kl = key_of(t->id, i, k);
        if (lsm_put(t->sh->db, NULL, k, (size_t)kl, v, value_of(t->id, i, v))) {
            if (!atomic_load(&t->sh->cut)) { /* after the cut, writes fail: that is expected */
                fprintf(stderr, "put %s: %s\n", k, lsm_last_error());
                atomic_store(&t->sh->failed, 1);
            }
            break; /* a put that failed is never acknowledged */
        }
        atomic_store(&t->sh->acked[t->id], i);
    }
    atomic_fetch_add(&t->sh->writers_done, 1);
    return NULL;
}

static void *syncer(void *arg)
{
    targ *t = arg;
    shared *sh = t->sh;
    while (atomic_load(&sh->writers_done) < WRITERS && !atomic_load(&sh->failed) &&
           !atomic_load(&sh->cut)) {
        long floor[WRITERS];
        for (int w = 0; w < WRITERS; w++) floor[w] = atomic_load(&sh->acked[w]);
        if (lsm_sync(sh->db)) {
            if (atomic_load(&sh->cut)) break;
            fprintf(stderr, "lsm_sync: %s\n", lsm_last_error());
            atomic_store(&sh->failed, 1);
            break;
        }
        for (int w = 0; w < WRITERS; w++) {
            long d = atomic_load(&sh->durable[w]);
            while (d < floor[w] && !atomic_compare_exchange_weak(&sh->durable[w], &d, floor[w]))
                ;
        }
        /* Cut right after a sync, with the writers still going: a sync that claimed more
         * than it made durable shows now, before a later one covers for it. */
        if (floor[0] >= sh->cut_after && !atomic_exchange(&sh->cut, 1) &&
            fault_env_power_off(sh->env) != 0)
            atomic_store(&sh->failed, 1);
    }
    return NULL;
}

static void opts(lsm_options *o, lsm_env *env)
{
    lsm_options_init(o);
    o->env = env;
    o->memtable_size = 32 * 1024;
    o->target_file_size = 64 * 1024;
    o->level1_max_bytes = 256 * 1024;
    o->sync_policy = LSM_SYNC_EXPLICIT;
}

/* The child: write and sync, cut the power after the first sync that covers cut_after puts
 * of writer 0, report durable[] on fd out. */
static void child(const char *dir, long cut_after, int out)
{
    lsm_env *env = fault_env_new();
    lsm_options o;
    opts(&o, env);
    shared *sh = calloc(1, sizeof *sh);
    if (!env || !sh || lsm_open(dir, &o, &sh->db) != 0) _exit(2);
    sh->env = env;
    sh->cut_after = cut_after;
    /* appends land while a sync is in its fsync, as they do on a real disk */
    fault_env_fsync_delay(env, 300);
    pthread_t th[WRITERS + SYNCERS];
    targ ta[WRITERS + SYNCERS];
    for (int i = 0; i < WRITERS + SYNCERS; i++) {
        ta[i] = (targ){sh, i < WRITERS ? i : i - WRITERS};
        if (pthread_create(&th[i], NULL, i < WRITERS ? writer : syncer, &ta[i]) != 0) _exit(2);
    }
    for (int i = 0; i < WRITERS + SYNCERS; i++) pthread_join(th[i], NULL);
    if (atomic_load(&sh->failed)) _exit(3);
    /* power_off: the background thread may still be flushing (see fault_env.h) */
    if (!atomic_load(&sh->cut) && fault_env_power_off(env) != 0) _exit(4);
    long d[WRITERS];
    for (int w = 0; w < WRITERS; w++) d[w] = atomic_load(&sh->durable[w]);
    if (write(out, d, sizeof d) != (ssize_t)sizeof d) _exit(5);
    _exit(0);
}

/* One child with the power cut at cut_after puts (see child), then the check.  Returns 0 if
 * every synced put survived, else 1 with the reason in why. */
static int one_round(const char *dir, long cut_after, char *why, size_t wsz)
{
    int p[2], bad = 0;
    if (pipe(p) != 0) {
        snprintf(why, wsz, "pipe failed");
        return 1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        child(dir, cut_after, p[1]);
    }
    close(p[1]);
    long d[WRITERS];
    ssize_t got = read(p[0], d, sizeof d);
    close(p[0]);
    int st;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || got != (ssize_t)sizeof d) {
        snprintf(why, wsz, "child failed (status %d)", st);
        bad = 1;
    }
    lsm_options o;
    opts(&o, NULL);
    lsm_db *db = NULL;
    if (!bad && lsm_open(dir, &o, &db) != 0) {
        snprintf(why, wsz, "reopen after the power cut: %s", lsm_last_error());
        bad = 1;
    }
    char k[32], v[320];
    for (int w = 0; w < WRITERS && !bad; w++) {
        fprintf(stderr, "concurrent_sync: cut at %ld puts: writer %d had %ld puts synced\n",
                cut_after, w, d[w]);
        for (long i = 1; i <= d[w] && !bad; i++) {
            int kl = key_of(w, i, k);
            void *val;
            size_t n;
            int rc = lsm_get(db, NULL, k, (size_t)kl, &val, &n);
            int same = rc == 0 && n == value_of(w, i, v) && memcmp(val, v, n) == 0;
            if (!same) {
                snprintf(why, wsz, "%s (synced before the power cut) is %s", k,
                         rc == 0 ? "wrong" : rc == LSM_ENOTFOUND ? "missing" : lsm_last_error());
                bad = 1;
            }
            if (rc == 0) lsm_free(val);
        }
    }
    if (db && lsm_close(db) != 0 && !bad) {
        snprintf(why, wsz, "close: %s", lsm_last_error());
        bad = 1;
    }
    return bad;
}

static int run(char *why, size_t wsz)
{
    uint64_t seed = tu_seed("concurrent_sync", 5);
    tu_rng rng;
    tu_rng_init(&rng, seed);
    int bad = 0;
    for (int round = 0; round < ROUNDS && !bad; round++) {
        char *dir = tu_tmpdir("concurrent_sync");
        bad = one_round(dir, PUTS / 8 + (long)tu_uniform(&rng, PUTS * 3 / 4), why, wsz);
        tu_rmrf(dir);
        free(dir);
    }
    if (bad) {
        size_t n = strlen(why);
        snprintf(why + n, wsz - n, " (seed %llu)", (unsigned long long)seed);
    }
    return bad;
}

Test(concurrent_sync, syncs_beside_writers_survive_power_cut, .timeout = 600)
{
    char why[600] = "";
    cr_assert_eq(run(why, sizeof why), 0, "%s", why);
}

TU_TSAN_MAIN(run, "concurrent_sync")
