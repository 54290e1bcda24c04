/* test_concurrent_memtable.c — one writer inserts while three readers iterate and look up
 * without locks; every read must be consistent with the writes published so far.
 *
 * Phase "append": keys arrive in ascending order, so every forward scan must see exactly a
 * prefix of the writes in order: entries 1..k for some k no smaller than the count published
 * before the scan began, and no larger than the count started before it ended.
 * Phase "random": versions of a small key space arrive in random key order; scans (both
 * directions) must be strictly ordered, hold only entries already started, include every
 * entry published before the scan, and carry the right value for each key and sequence; gets
 * at a snapshot no newer than the published count must return exactly the model's answer.
 * Run under ThreadSanitizer by `make SAN=tsan check-concurrent`. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coding.h"
#include "ikey.h"
#include "memtable.h"
#include "sstable.h"
#include "testutil.h"

#define READERS 3
#define NKEYS 512

typedef struct shared {
    memtable *m;
    int random_keys;          /* phase */
    uint64_t n;               /* writes in the schedule */
    uint32_t *key_of;         /* key index written by seq s (1-based), random phase */
    uint8_t *type_of;         /* IKEY_TYPE_* by seq */
    uint64_t *by_key;         /* random phase: seqs grouped by key, ascending within a key */
    uint64_t key_start[NKEYS + 1]; /* key i's seqs are by_key[key_start[i] .. key_start[i+1]) */
    atomic_uint_fast64_t published; /* writes completed (seq <= published are all in) */
    atomic_int done;
    uint64_t seed;
} shared;

typedef struct reader {
    shared *sh;
    int id;
    char why[256];
    uint64_t scans, gets;
} reader;

static void key_for(const shared *sh, uint64_t seq, uint8_t *k, size_t *len)
{
    /* Append phase: big-endian seq, so key order is write order.  Random phase: key index. */
    uint64_t v = sh->random_keys ? sh->key_of[seq] : seq;
    for (int i = 0; i < 8; i++) k[i] = (uint8_t)(v >> (56 - 8 * i));
    *len = 8;
}

/* The value of write seq: its seq repeated, length depending on seq (0..40 bytes). */
static size_t value_for(uint64_t seq, uint8_t *v)
{
    size_t len = (size_t)(seq % 41);
    for (size_t i = 0; i < len; i++) v[i] = (uint8_t)(seq * 31 + i);
    return len;
}

static int check_entry(const shared *sh, slice k, slice v, uint64_t *seq_out, char *why, size_t wsz)
{
    if (k.len != 8 + IKEY_TRAILER) return snprintf(why, wsz, "key length %zu", k.len), 1;
    uint64_t seq = ikey_seq(k.data, k.len);
    if (seq == 0 || seq > sh->n) return snprintf(why, wsz, "sequence %llu out of range", (unsigned long long)seq), 1;
    uint8_t want[8];
    size_t wl;
    key_for(sh, seq, want, &wl);
    if (memcmp(want, k.data, 8) != 0) return snprintf(why, wsz, "seq %llu under the wrong key", (unsigned long long)seq), 1;
    if (ikey_kind(k.data, k.len) != sh->type_of[seq]) return snprintf(why, wsz, "seq %llu wrong type", (unsigned long long)seq), 1;
    uint8_t val[64];
    size_t vl = sh->type_of[seq] == IKEY_TYPE_VALUE ? value_for(seq, val) : 0;
    if (v.len != vl || (vl && memcmp(v.data, val, vl) != 0))
        return snprintf(why, wsz, "seq %llu has a wrong value", (unsigned long long)seq), 1;
    *seq_out = seq;
    return 0;
}

/* One forward or backward scan; returns 0 or 1 with why filled. */
static int scan(reader *rd, int backward, uint8_t *seen)
{
    shared *sh = rd->sh;
    uint64_t before = atomic_load_explicit(&sh->published, memory_order_acquire);
    memset(seen, 0, sh->n + 1);
    iter *it = memtable_iter(sh->m);
    uint64_t count = 0, prev_seq = 0;
    uint8_t prev_key[8 + IKEY_TRAILER];
    size_t prev_len = 0;
    for (backward ? iter_seek_last(it) : iter_seek_first(it); iter_valid(it);
         backward ? iter_prev(it) : iter_next(it)) {
        slice k = iter_key(it), v = iter_value(it);
        uint64_t seq;
        if (check_entry(sh, k, v, &seq, rd->why, sizeof rd->why)) goto fail;
        if (prev_len) {
            int c = ikey_compare(prev_key, prev_len, k.data, k.len);
            if (backward ? c <= 0 : c >= 0) {
                snprintf(rd->why, sizeof rd->why, "scan out of order at seq %llu", (unsigned long long)seq);
                goto fail;
            }
        }
        memcpy(prev_key, k.data, k.len);
        prev_len = k.len;
        if (seen[seq]) {
            snprintf(rd->why, sizeof rd->why, "seq %llu seen twice", (unsigned long long)seq);
            goto fail;
        }
        seen[seq] = 1;
        count++;
        if (!sh->random_keys && !backward) {
            /* Ascending keys: a forward scan sees writes 1, 2, 3, ... in order. */
            if (seq != prev_seq + 1) {
                snprintf(rd->why, sizeof rd->why, "append phase: seq %llu after %llu, not a prefix",
                         (unsigned long long)seq, (unsigned long long)prev_seq);
                goto fail;
            }
            prev_seq = seq;
        }
    }
    uint64_t after = atomic_load_explicit(&sh->published, memory_order_acquire);
    iter_destroy(it);
    for (uint64_t s = 1; s <= before; s++)
        if (!seen[s]) {
            snprintf(rd->why, sizeof rd->why, "seq %llu published before the scan but not seen", (unsigned long long)s);
            return 1;
        }
    /* At most one write can be in flight beyond what was published when the scan ended. */
    if (count > after + 1) {
        snprintf(rd->why, sizeof rd->why, "scan saw %llu entries, only %llu written", (unsigned long long)count, (unsigned long long)after);
        return 1;
    }
    rd->scans++;
    return 0;
fail:
    iter_destroy(it);
    return 1;
}

/* A get at a snapshot no newer than what is published: the exact model answer. */
static int check_get(reader *rd, tu_rng *r)
{
    shared *sh = rd->sh;
    uint64_t pub = atomic_load_explicit(&sh->published, memory_order_acquire);
    if (pub == 0) return 0;
    uint64_t snap = 1 + tu_uniform(r, pub);
    uint64_t probe = 1 + tu_uniform(r, snap); /* a key that exists by snap */
    uint8_t k[8];
    size_t kl;
    key_for(sh, probe, k, &kl);
    uint64_t want_seq = 0; /* newest write of that key with seq <= snap */
    if (sh->random_keys) {
        /* The last of the key's writes that is <= snap (binary search). */
        uint32_t key = sh->key_of[probe];
        uint64_t lo = sh->key_start[key], hi = sh->key_start[key + 1];
        while (lo < hi) {
            uint64_t mid = (lo + hi) / 2;
            if (sh->by_key[mid] <= snap) lo = mid + 1;
            else hi = mid;
        }
        want_seq = sh->by_key[lo - 1];
    } else {
        want_seq = probe;
    }
    void *v = NULL;
    size_t vl = 0;
    int got = memtable_get(sh->m, k, kl, snap, &v, &vl);
    int want = sh->type_of[want_seq] == IKEY_TYPE_VALUE ? SST_GET_VALUE : SST_GET_DELETED;
    int bad = got != want;
    if (!bad && got == SST_GET_VALUE) {
        uint8_t val[64];
        size_t wl = value_for(want_seq, val);
        bad = vl != wl || (wl && memcmp(v, val, wl) != 0);
    }
    free(v);
    if (bad)
        return snprintf(rd->why, sizeof rd->why, "get at snapshot %llu: result %d, model says seq %llu",
                        (unsigned long long)snap, got, (unsigned long long)want_seq), 1;
    rd->gets++;
    return 0;
}

static void *reader_main(void *arg)
{
    reader *rd = arg;
    shared *sh = rd->sh;
    tu_rng r;
    tu_rng_init(&r, sh->seed + (uint64_t)rd->id);
    uint8_t *seen = malloc(sh->n + 1);
    if (!seen) {
        snprintf(rd->why, sizeof rd->why, "out of memory");
        return NULL;
    }
    int last = 0;
    for (;;) {
        /* One more round after the writer finishes, to check the final state. */
        if (atomic_load_explicit(&sh->done, memory_order_acquire)) last = 1;
        if (scan(rd, (int)tu_uniform(&r, 2), seen)) break;
        int bad = 0;
        for (int g = 0; g < 200 && !bad; g++) bad = check_get(rd, &r);
        if (bad || last) break;
    }
    free(seen);
    return NULL;
}

static int run_phase(int random_keys, uint64_t seed, char *why, size_t wsz)
{
    shared sh;
    memset(&sh, 0, sizeof sh);
    sh.random_keys = random_keys;
    sh.seed = seed;
    sh.n = (uint64_t)(60000 * tu_scale());
    sh.key_of = calloc(sh.n + 1, sizeof *sh.key_of);
    sh.type_of = calloc(sh.n + 1, 1);
    sh.by_key = calloc(sh.n + 1, sizeof *sh.by_key);
    sh.m = memtable_new();
    if (!sh.key_of || !sh.type_of || !sh.by_key || !sh.m) return snprintf(why, wsz, "out of memory"), 1;
    tu_rng r;
    tu_rng_init(&r, seed);
    for (uint64_t s = 1; s <= sh.n; s++) {
        sh.key_of[s] = (uint32_t)tu_uniform(&r, NKEYS);
        sh.type_of[s] = tu_uniform(&r, 5) == 0 ? IKEY_TYPE_DELETE : IKEY_TYPE_VALUE;
    }
    for (uint64_t s = 1; s <= sh.n; s++) sh.key_start[sh.key_of[s] + 1]++;
    for (int k = 0; k < NKEYS; k++) sh.key_start[k + 1] += sh.key_start[k];
    uint64_t fill[NKEYS];
    memcpy(fill, sh.key_start, sizeof fill);
    for (uint64_t s = 1; s <= sh.n; s++) sh.by_key[fill[sh.key_of[s]]++] = s;
    atomic_init(&sh.published, 0);
    atomic_init(&sh.done, 0);

    pthread_t th[READERS];
    reader rd[READERS];
    memset(rd, 0, sizeof rd);
    for (int i = 0; i < READERS; i++) {
        rd[i].sh = &sh;
        rd[i].id = i;
        pthread_create(&th[i], NULL, reader_main, &rd[i]);
    }
    int rc = 0;
    for (uint64_t s = 1; s <= sh.n; s++) {
        uint8_t k[8], v[64];
        size_t kl, vl = sh.type_of[s] == IKEY_TYPE_VALUE ? value_for(s, v) : 0;
        key_for(&sh, s, k, &kl);
        if (memtable_add(sh.m, s, sh.type_of[s], k, kl, v, vl) != 0) {
            snprintf(why, wsz, "memtable_add failed at seq %llu", (unsigned long long)s);
            rc = 1;
            break;
        }
        atomic_store_explicit(&sh.published, s, memory_order_release);
        /* Let the readers run while the list grows, not only after. */
        if (s % 128 == 0) sched_yield();
    }
    atomic_store_explicit(&sh.done, 1, memory_order_release);
    for (int i = 0; i < READERS; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < READERS && !rc; i++)
        if (rd[i].why[0]) {
            snprintf(why, wsz, "%s phase, reader %d: %s", random_keys ? "random" : "append", i, rd[i].why);
            rc = 1;
        }
    for (int i = 0; i < READERS && !rc; i++)
        fprintf(stderr, "%s phase reader %d: %llu scans, %llu gets\n", random_keys ? "random" : "append",
                i, (unsigned long long)rd[i].scans, (unsigned long long)rd[i].gets);
    memtable_unref(sh.m);
    free(sh.key_of);
    free(sh.type_of);
    free(sh.by_key);
    return rc;
}

static int run_all(char *why, size_t wsz)
{
    uint64_t seed = tu_seed("concurrent_memtable", 1234);
    return run_phase(0, seed, why, wsz) || run_phase(1, seed, why, wsz);
}

Test(concurrent_memtable, one_writer_three_readers, .timeout = 300)
{
    char why[256] = "";
    cr_assert_eq(run_all(why, sizeof why), 0, "%s", why);
}

TU_TSAN_MAIN(run_all, "concurrent_memtable::one_writer_three_readers")
