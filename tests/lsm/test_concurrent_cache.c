/* test_concurrent_cache.c — several threads hammer one small cache with lookups, inserts,
 * releases and file erases; every value read must match its key, and every value must be
 * freed exactly once.  Run under ThreadSanitizer by `make SAN=tsan check-concurrent`. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "cache.h"
#include "testutil.h"

typedef struct val {
    uint64_t file, offset;
} val;

static atomic_long created, freed;

static void del_val(void *v)
{
    atomic_fetch_add(&freed, 1);
    free(v);
}

typedef struct worker {
    block_cache *c;
    unsigned seed;
    long errors;
} worker;

#define THREADS 4
#define OPS 100000

static void *hammer(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < OPS; i++) {
        unsigned r = (unsigned)rand_r(&w->seed);
        uint64_t file = r % 4, off = (r >> 2) % 512;
        if ((r >> 12) % 97 == 0) {
            cache_erase_file(w->c, file);
            continue;
        }
        cache_handle *h = cache_lookup(w->c, file, off);
        if (!h) {
            val *v = malloc(sizeof *v);
            v->file = file;
            v->offset = off;
            atomic_fetch_add(&created, 1);
            h = cache_insert(w->c, file, off, v, 64 + (r >> 20) % 64, del_val);
        }
        if (!h) {
            w->errors++;
            continue;
        }
        val *v = cache_value(h);
        if (v->file != file || v->offset != off)
            w->errors++;
        cache_release(w->c, h);
    }
    return NULL;
}

/* The whole check, returning 0 or a description of the first failure in why. */
static int run_hammer(char *why, size_t whylen)
{
    unsigned seed = 20261125;
    printf("seed %u\n", seed);
    block_cache *c = cache_new(16 * 4096);
    if (!c)
        return snprintf(why, whylen, "cache_new failed"), 1;
    pthread_t t[THREADS];
    worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){.c = c, .seed = seed + (unsigned)i, .errors = 0};
        if (pthread_create(&t[i], NULL, hammer, &w[i]) != 0)
            return snprintf(why, whylen, "pthread_create failed"), 1;
    }
    long errors = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        errors += w[i].errors;
    }
    if (errors)
        return snprintf(why, whylen, "%ld lookups returned a wrong value", errors), 1;
    if (cache_usage(c) > 16 * 4096)
        return snprintf(why, whylen, "usage %zu over capacity", cache_usage(c)), 1;
    uint64_t hits, misses;
    cache_stats(c, &hits, &misses);
    if (hits == 0 || misses == 0)
        return snprintf(why, whylen, "stats: %llu hits %llu misses", (unsigned long long)hits,
                        (unsigned long long)misses), 1;
    cache_free(c);
    if (atomic_load(&created) != atomic_load(&freed))
        return snprintf(why, whylen, "%ld values created, %ld freed", atomic_load(&created),
                        atomic_load(&freed)), 1;
    return 0;
}

Test(concurrent_cache, hammer)
{
    char why[256] = "";
    cr_assert_eq(run_hammer(why, sizeof why), 0, "%s", why);
}

TU_TSAN_MAIN(run_hammer, "concurrent_cache::hammer")
