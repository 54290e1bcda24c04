/* test_crash.c — kill -9 a writer at random moments; after reopen every acknowledged write is
 * there, nothing that was never written appears, and no orphan file is left.
 *
 * The child writes with LSM_SYNC_ALWAYS a deterministic sequence of operations (op i is a
 * function of the seed and i: a put of "key:i" or a delete, on one of NKEYS keys, 1 KiB
 * values, a 16 KiB memtable so flushes and compactions run all the time) and reports each
 * acknowledged op index through a pipe.  The parent kills it after a random delay, replays the
 * reports into a model, reopens the store and compares every key.  The one op in flight at
 * the kill (index = number of reports) may or may not have happened; anything else must match
 * the model exactly.  Several rounds continue the same store. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lsm.h"
#include "testutil.h"

#define NKEYS 500
#define VALUE_LEN 1024

static uint64_t mix(uint64_t x)
{
    x ^= x >> 31;
    x *= 0x7fb5d329728ea185ull;
    x ^= x >> 27;
    x *= 0x81dadef4bc2dd44dull;
    x ^= x >> 33;
    return x;
}

typedef struct opdesc {
    int key;
    int is_delete;
} opdesc;

static opdesc op_of(uint64_t seed, uint64_t i)
{
    uint64_t h = mix(seed ^ mix(i + 1));
    opdesc d = {(int)(h % NKEYS), (h >> 20) % 8 == 0};
    return d;
}

static void key_of(int k, char *buf) { snprintf(buf, 16, "key%05d", k); }

static size_t value_of(uint64_t i, int key, char *buf)
{
    int n = snprintf(buf, VALUE_LEN, "%d:%llu:", key, (unsigned long long)i);
    for (int j = n; j < VALUE_LEN; j++) buf[j] = (char)('a' + (j * 7 + (int)i) % 26);
    return VALUE_LEN;
}

static void set_opts(lsm_options *o, int style)
{
    lsm_options_init(o);
    o->sync_policy = LSM_SYNC_ALWAYS;
    o->memtable_size = 16 * 1024;
    o->target_file_size = 32 * 1024;
    o->level1_max_bytes = 128 * 1024;
    o->compaction_style = style;
}

static void child(const char *dir, int style, uint64_t seed, uint64_t start, int fd)
{
    lsm_options o;
    set_opts(&o, style);
    lsm_db *db;
    if (lsm_open(dir, &o, &db) != 0) _exit(2);
    char k[16], v[VALUE_LEN];
    for (uint64_t i = start;; i++) {
        opdesc d = op_of(seed, i);
        key_of(d.key, k);
        int rc = d.is_delete ? lsm_delete(db, NULL, k, strlen(k))
                             : lsm_put(db, NULL, k, strlen(k), v, value_of(i, d.key, v));
        if (rc) _exit(3);
        if (write(fd, &i, sizeof i) != sizeof i) _exit(4);
    }
}

static void crash_rounds(const char *name, int style, uint64_t default_seed)
{
    uint64_t seed = tu_seed(name, default_seed);
    tu_rng rng;
    tu_rng_init(&rng, seed);
    char *dir = tu_tmpdir(name);
    int64_t model[NKEYS]; /* op index of the key's latest acknowledged op, -1 = never */
    for (int i = 0; i < NKEYS; i++) model[i] = -1;
    uint64_t next = 0;
    int rounds = 8;
    for (int round = 0; round < rounds; round++) {
        int p[2];
        cr_assert_eq(pipe(p), 0);
        pid_t pid = fork();
        cr_assert_neq(pid, -1);
        if (pid == 0) {
            close(p[0]);
            child(dir, style, seed, next, p[1]);
        }
        close(p[1]);
        struct timespec ts = {0, (long)(150 + tu_uniform(&rng, 750)) * 1000000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        cr_assert(WIFSIGNALED(st), "child exited by itself (status %d): open or write failed",
                  WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        uint64_t i;
        uint64_t acked = 0;
        while (read(p[0], &i, sizeof i) == sizeof i) {
            cr_assert_eq(i, next, "acks out of order");
            opdesc d = op_of(seed, i);
            model[d.key] = d.is_delete ? -1 : (int64_t)i;
            next++;
            acked++;
        }
        close(p[0]);
        /* The op in flight: may have reached the WAL before the kill. */
        opdesc inflight = op_of(seed, next);
        lsm_options o;
        set_opts(&o, style);
        o.disable_background = 1; /* the file count below must not race a compaction */
        lsm_db *db;
        cr_assert_eq(lsm_open(dir, &o, &db), 0, "round %d: reopen: %s", round, lsm_last_error());
        int inflight_done = -1;
        for (int kk = 0; kk < NKEYS; kk++) {
            char k[16], v[VALUE_LEN];
            key_of(kk, k);
            void *got;
            size_t n;
            int rc = lsm_get(db, NULL, k, strlen(k), &got, &n);
            cr_assert(rc == 0 || rc == LSM_ENOTFOUND, "get %s: %s", k, lsm_last_error());
            int matches_model = model[kk] < 0
                                    ? rc == LSM_ENOTFOUND
                                    : rc == 0 && n == value_of((uint64_t)model[kk], kk, v) &&
                                          memcmp(got, v, n) == 0;
            int matches_inflight = 0;
            if (kk == inflight.key) {
                matches_inflight = inflight.is_delete
                                       ? rc == LSM_ENOTFOUND
                                       : rc == 0 && n == value_of(next, kk, v) &&
                                             memcmp(got, v, n) == 0;
                if (matches_inflight && !matches_model) inflight_done = 1;
            }
            cr_assert(matches_model || matches_inflight,
                      "round %d (seed %llu): key %s does not hold its last acknowledged value "
                      "(op %lld)", round, (unsigned long long)seed, k, (long long)model[kk]);
            if (rc == 0) lsm_free(got);
        }
        if (inflight_done == 1) { /* it did happen: it is part of history now */
            model[inflight.key] = inflight.is_delete ? -1 : (int64_t)next;
            next++;
        }
        /* No orphans: every .sst is a live table, no temp files, one manifest. */
        uint64_t live = 0;
        for (int l = 0; l < 7; l++) {
            char prop[64], *s;
            snprintf(prop, sizeof prop, "lsm.num-files-at-level%d", l);
            cr_assert_eq(lsm_property(db, prop, &s), 0);
            live += strtoull(s, NULL, 10);
            lsm_free(s);
        }
        char cmd[4096];
        snprintf(cmd, sizeof cmd, "ls %s | grep -c '\\.sst$'", dir);
        FILE *f = popen(cmd, "r");
        unsigned long ssts = 0;
        cr_assert_eq(fscanf(f, "%lu", &ssts), 1);
        pclose(f);
        snprintf(cmd, sizeof cmd, "ls %s | grep -c -E 'tmp|MANIFEST'", dir);
        f = popen(cmd, "r");
        unsigned long other = 0;
        cr_assert_eq(fscanf(f, "%lu", &other), 1);
        pclose(f);
        cr_assert_eq(ssts, live, "round %d: %lu .sst files but %llu live tables", round, ssts,
                     (unsigned long long)live);
        cr_assert_eq(other, 1, "round %d: temp files or more than one manifest left", round);
        fprintf(stderr, "%s round %d: %llu writes acknowledged, %llu tables\n", name, round,
                (unsigned long long)acked, (unsigned long long)live);
        cr_assert_eq(lsm_close(db), 0, "%s", lsm_last_error());
    }
    tu_rmrf(dir);
    free(dir);
}

Test(crash, leveled, .timeout = 300) { crash_rounds("crash_leveled", LSM_COMPACTION_LEVELED, 5); }
Test(crash, tiered, .timeout = 300) { crash_rounds("crash_tiered", LSM_COMPACTION_TIERED, 6); }
