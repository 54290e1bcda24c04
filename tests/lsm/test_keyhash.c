/* test_keyhash.c — the memtable's hash index against a model: every key's newest node through
 * many doublings of the table, absent keys, an older version inserted after a newer one, the
 * smooth memory figure; and three readers looking keys up while the writer adds keys and the
 * table doubles under them: every key published before a lookup starts is found.  (Under
 * ThreadSanitizer the index runs in test_concurrent_memtable, through memtable_get.) */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "ikey.h"
#include "keyhash.h"
#include "skiplist.h"
#include "testutil.h"

typedef struct fixture {
    arena a;
    skiplist s;
    keyhash h;
} fixture;

static void fx_init(fixture *f)
{
    arena_init(&f->a);
    cr_assert_eq(skiplist_init(&f->s, &f->a, 7), 0);
    cr_assert_eq(keyhash_init(&f->h), 0);
}

static void fx_destroy(fixture *f)
{
    keyhash_destroy(&f->h);
    arena_destroy(&f->a);
}

static const sl_node *put(fixture *f, const char *k, uint64_t seq)
{
    size_t kl = strlen(k);
    const sl_node *n = skiplist_insert(&f->s, (const uint8_t *)k, kl,
                                       ikey_pack(seq, IKEY_TYPE_VALUE), (const uint8_t *)"v", 1);
    cr_assert(n);
    keyhash_put(&f->h, (const uint8_t *)k, kl, n);
    return n;
}

static const sl_node *get(fixture *f, const char *k)
{
    const sl_node *n = (const sl_node *)1;
    cr_assert_eq(keyhash_get(&f->h, (const uint8_t *)k, strlen(k), &n), 1, "index is off");
    return n;
}

Test(keyhash, newest_node_of_every_key_through_growth)
{
    fixture f;
    fx_init(&f);
    tu_rng r;
    tu_rng_init(&r, tu_seed("keyhash::newest_node_of_every_key_through_growth", 5));
    enum { KEYS = 20000, PUTS = 60000 };
    const sl_node **newest = calloc(KEYS, sizeof *newest);
    cr_assert(newest);
    char k[32];
    for (uint64_t i = 1; i <= PUTS; i++) {
        size_t which = (size_t)tu_uniform(&r, KEYS);
        snprintf(k, sizeof k, "key/%zu", which);
        newest[which] = put(&f, k, i);
        if (i % 997 == 0) /* spot checks while the table grows */
            cr_assert_eq(get(&f, k), newest[which]);
    }
    size_t present = 0;
    for (size_t i = 0; i < KEYS; i++) {
        snprintf(k, sizeof k, "key/%zu", i);
        cr_assert_eq(get(&f, k), newest[i], "key %zu: wrong node", i);
        present += newest[i] != NULL;
        snprintf(k, sizeof k, "nokey/%zu", i);
        cr_assert_null(get(&f, k));
    }
    cr_assert_eq(keyhash_bytes(&f.h), present * KEYHASH_BYTES_PER_KEY);
    cr_assert_null(get(&f, ""));
    free(newest);
    fx_destroy(&f);
}

Test(keyhash, an_older_version_inserted_late_does_not_hide_the_newer)
{
    fixture f;
    fx_init(&f);
    const sl_node *n9 = put(&f, "k", 9);
    put(&f, "k", 4);
    cr_assert_eq(get(&f, "k"), n9);
    const sl_node *n12 = put(&f, "k", 12);
    cr_assert_eq(get(&f, "k"), n12);
    cr_assert_eq(keyhash_bytes(&f.h), KEYHASH_BYTES_PER_KEY, "versions are one key");
    /* keys that differ only in length or in their last byte stay apart */
    const sl_node *a = put(&f, "ab", 13), *b = put(&f, "abc", 14), *c = put(&f, "abd", 15);
    cr_assert(get(&f, "ab") == a && get(&f, "abc") == b && get(&f, "abd") == c);
    cr_assert_null(get(&f, "a"));
    fx_destroy(&f);
}

typedef struct shared {
    fixture *f;
    atomic_size_t done;                 /* keys published so far */
    atomic_int stop;
    atomic_int bad;                     /* set by a failing reader */
} shared;

enum { CONC_KEYS = 200000 };

static void *reader(void *arg)
{
    shared *sh = arg;
    char k[32];
    uint64_t x = (uint64_t)(uintptr_t)&k | 1;
    while (!atomic_load(&sh->stop)) {
        size_t done = atomic_load(&sh->done);
        if (done == 0) continue;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t i = (size_t)(x % done);
        snprintf(k, sizeof k, "c%zu", i);
        const sl_node *n;
        if (!keyhash_get(&sh->f->h, (const uint8_t *)k, strlen(k), &n) || n == NULL) {
            atomic_store(&sh->bad, 1); /* a key published before this lookup began was not found */
            break;
        }
        slice nk = sl_node_key(n);
        if (nk.len - IKEY_TRAILER != strlen(k) || memcmp(nk.data, k, strlen(k)) != 0) {
            atomic_store(&sh->bad, 2);
            break;
        }
    }
    return NULL;
}

Test(keyhash, readers_find_every_published_key_while_the_table_grows, .timeout = 300)
{
    fixture f;
    fx_init(&f);
    shared sh = {.f = &f};
    atomic_init(&sh.done, 0);
    atomic_init(&sh.stop, 0);
    atomic_init(&sh.bad, 0);
    pthread_t t[3];
    for (int i = 0; i < 3; i++) cr_assert_eq(pthread_create(&t[i], NULL, reader, &sh), 0);
    char k[32];
    for (size_t i = 0; i < CONC_KEYS && !atomic_load(&sh.bad); i++) {
        snprintf(k, sizeof k, "c%zu", i);
        put(&f, k, i + 1);
        atomic_store(&sh.done, i + 1);
    }
    atomic_store(&sh.stop, 1);
    for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
    int bad = atomic_load(&sh.bad);
    cr_assert_eq(bad, 0, "a reader failed (%d)", bad);
    fx_destroy(&f);
}
