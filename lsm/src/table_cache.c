/*
 * table_cache.c — LRU of open sst_readers (see table_cache.h).
 *
 * Entries are reference-counted: the cache holds one reference while an entry is in the map,
 * and every tc_acquire adds one.  Eviction (over capacity, or tc_evict) unlinks the entry and
 * drops the cache's reference, so a reader in use by a lookup or iterator is closed only when
 * that user releases it.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "filename.h"
#include "status.h"
#include "table_cache.h"

struct tc_handle {
    uint64_t number;
    sst_reader *reader;
    int refs;      /* atomic: taken under tc->mu (only while in the map, so never from 0),
                    * dropped without the lock by tc_release */
    int in_cache;
    tc_handle *hnext;             /* hash chain */
    tc_handle *lru_prev, *lru_next; /* most recent at head.next */
};

struct table_cache {
    lsm_env *env;
    char *dir;
    block_cache *bc;
    int capacity, count, open;
    pthread_mutex_t mu;
    tc_handle **buckets;
    size_t nbuckets;
    tc_handle lru; /* sentinel */
};

table_cache *tc_new(lsm_env *env, const char *dir, int capacity, block_cache *bc)
{
    table_cache *tc = calloc(1, sizeof *tc);
    if (!tc) return NULL;
    tc->env = env;
    tc->bc = bc;
    tc->capacity = capacity < 1 ? 1 : capacity;
    tc->nbuckets = 64;
    while (tc->nbuckets < (size_t)tc->capacity * 2) tc->nbuckets *= 2;
    tc->buckets = calloc(tc->nbuckets, sizeof *tc->buckets);
    tc->dir = strdup(dir);
    if (!tc->buckets || !tc->dir) {
        free(tc->buckets);
        free(tc->dir);
        free(tc);
        return NULL;
    }
    pthread_mutex_init(&tc->mu, NULL);
    tc->lru.lru_next = tc->lru.lru_prev = &tc->lru;
    return tc;
}

static size_t bucket_of(const table_cache *tc, uint64_t n)
{
    return (size_t)((n * 0x9e3779b97f4a7c15ull) >> 20) & (tc->nbuckets - 1);
}

static void lru_unlink(tc_handle *h)
{
    h->lru_prev->lru_next = h->lru_next;
    h->lru_next->lru_prev = h->lru_prev;
}

static void lru_push_front(table_cache *tc, tc_handle *h)
{
    h->lru_next = tc->lru.lru_next;
    h->lru_prev = &tc->lru;
    tc->lru.lru_next->lru_prev = h;
    tc->lru.lru_next = h;
}

/* Remove h from map and LRU; returns 1 if its last reference went (caller closes it). */
static int unlink_entry(table_cache *tc, tc_handle *h)
{
    tc_handle **pp = &tc->buckets[bucket_of(tc, h->number)];
    while (*pp != h) pp = &(*pp)->hnext;
    *pp = h->hnext;
    lru_unlink(h);
    h->in_cache = 0;
    tc->count--;
    return __atomic_sub_fetch(&h->refs, 1, __ATOMIC_ACQ_REL) == 0;
}

static void close_entry(table_cache *tc, tc_handle *h)
{
    sst_reader_close(h->reader);
    free(h);
    __atomic_fetch_sub(&tc->open, 1, __ATOMIC_RELAXED);
}

void tc_free(table_cache *tc)
{
    if (!tc) return;
    while (tc->lru.lru_next != &tc->lru) {
        tc_handle *h = tc->lru.lru_next;
        if (unlink_entry(tc, h)) close_entry(tc, h);
    }
    pthread_mutex_destroy(&tc->mu);
    free(tc->buckets);
    free(tc->dir);
    free(tc);
}

static tc_handle *find(table_cache *tc, uint64_t number)
{
    for (tc_handle *h = tc->buckets[bucket_of(tc, number)]; h; h = h->hnext)
        if (h->number == number) return h;
    return NULL;
}

int tc_acquire(table_cache *tc, uint64_t number, tc_handle **out, sst_reader **r)
{
    pthread_mutex_lock(&tc->mu);
    tc_handle *h = find(tc, number);
    if (h) {
        __atomic_fetch_add(&h->refs, 1, __ATOMIC_RELAXED);
        if (tc->lru.lru_next != h) { /* already most recent: nothing to relink */
            lru_unlink(h);
            lru_push_front(tc, h);
        }
        pthread_mutex_unlock(&tc->mu);
        *out = h;
        *r = h->reader;
        return 0;
    }
    pthread_mutex_unlock(&tc->mu);

    char *path = table_file_name(tc->dir, number);
    if (!path) return lsm_error(LSM_ENOMEM, "table cache: out of memory");
    sst_reader *reader;
    int rc = sst_reader_open(tc->env, path, number, tc->bc, &reader);
    if (rc == -ENOENT) /* the manifest lists it: a missing table is a damaged store */
        rc = lsm_error(LSM_ECORRUPT, "%s: table listed in the manifest is missing", path);
    free(path);
    if (rc) return rc;
    tc_handle *nh = calloc(1, sizeof *nh);
    if (!nh) {
        sst_reader_close(reader);
        return lsm_error(LSM_ENOMEM, "table cache: out of memory");
    }
    nh->number = number;
    nh->reader = reader;
    __atomic_fetch_add(&tc->open, 1, __ATOMIC_RELAXED);

    tc_handle *victims = NULL;
    pthread_mutex_lock(&tc->mu);
    h = find(tc, number);
    if (h) { /* another thread opened it meanwhile: use theirs */
        __atomic_fetch_add(&h->refs, 1, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&tc->mu);
        close_entry(tc, nh);
        *out = h;
        *r = h->reader;
        return 0;
    }
    nh->refs = 2; /* the cache's and the caller's */
    nh->in_cache = 1;
    size_t b = bucket_of(tc, number);
    nh->hnext = tc->buckets[b];
    tc->buckets[b] = nh;
    lru_push_front(tc, nh);
    tc->count++;
    while (tc->count > tc->capacity) {
        tc_handle *v = tc->lru.lru_prev;
        if (unlink_entry(tc, v)) {
            v->hnext = victims;
            victims = v;
        }
    }
    pthread_mutex_unlock(&tc->mu);
    while (victims) {
        tc_handle *n = victims->hnext;
        close_entry(tc, victims);
        victims = n;
    }
    *out = nh;
    *r = reader;
    return 0;
}

/* No lock: while the entry is in the map the cache's own reference keeps refs above 0, so
 * reaching 0 here means the entry was already unlinked and nobody else can find it. */
void tc_release(table_cache *tc, tc_handle *h)
{
    if (__atomic_sub_fetch(&h->refs, 1, __ATOMIC_ACQ_REL) == 0) close_entry(tc, h);
}

int tc_get(table_cache *tc, uint64_t number, const uint8_t *ukey, size_t ukey_len, uint64_t seq,
           int fill_cache, const sst_value_dst *dst, void **value, size_t *value_len,
           int *bloom_checked, int *bloom_negative)
{
    tc_handle *h;
    sst_reader *r;
    int rc = tc_acquire(tc, number, &h, &r);
    if (rc) return rc;
    rc = sst_reader_get_into(r, ukey, ukey_len, seq, fill_cache, dst, value, value_len,
                             bloom_checked, bloom_negative);
    tc_release(tc, h);
    return rc;
}

void tc_evict(table_cache *tc, uint64_t number)
{
    pthread_mutex_lock(&tc->mu);
    tc_handle *h = find(tc, number);
    int last = h ? unlink_entry(tc, h) : 0;
    pthread_mutex_unlock(&tc->mu);
    if (last) close_entry(tc, h);
    if (tc->bc) cache_erase_file(tc->bc, number);
}

int tc_open_count(table_cache *tc) { return __atomic_load_n(&tc->open, __ATOMIC_RELAXED); }

/* An iterator wrapper that owns the pin on its table. */
typedef struct tc_iter_s {
    iter base;
    iter *inner;
    table_cache *tc;
    tc_handle *h;
} tc_iter_s;

#define INNER(it) (((tc_iter_s *)(it))->inner)
static void ti_seek_first(iter *it) { iter_seek_first(INNER(it)); }
static void ti_seek_last(iter *it) { iter_seek_last(INNER(it)); }
static void ti_seek(iter *it, const uint8_t *t, size_t n) { iter_seek(INNER(it), t, n); }
static void ti_next(iter *it) { iter_next(INNER(it)); }
static void ti_prev(iter *it) { iter_prev(INNER(it)); }
static int ti_valid(const iter *it) { return iter_valid(INNER(it)); }
static slice ti_key(const iter *it) { return iter_key(INNER(it)); }
static slice ti_value(const iter *it) { return iter_value(INNER(it)); }
static int ti_status(const iter *it)
{
    int rc = iter_status(INNER(it));
    if (rc) memcpy(((iter *)it)->errmsg, INNER(it)->errmsg, sizeof it->errmsg);
    return rc;
}
static void ti_destroy(iter *it)
{
    tc_iter_s *t = (tc_iter_s *)it;
    iter_destroy(t->inner);
    tc_release(t->tc, t->h);
    free(t);
}

static const struct iter_ops tc_iter_ops = {
    .seek_first = ti_seek_first, .seek_last = ti_seek_last, .seek = ti_seek,
    .next = ti_next, .prev = ti_prev, .valid = ti_valid, .key = ti_key, .value = ti_value,
    .status = ti_status, .destroy = ti_destroy,
};

iter *tc_iter(table_cache *tc, uint64_t number, int fill_cache)
{
    tc_handle *h;
    sst_reader *r;
    int rc = tc_acquire(tc, number, &h, &r);
    if (rc) return iter_new_empty(rc, lsm_last_error());
    tc_iter_s *t = calloc(1, sizeof *t);
    iter *inner = t ? sst_reader_iter(r, fill_cache) : NULL;
    if (!inner) {
        free(t);
        tc_release(tc, h);
        return NULL;
    }
    t->base.ops = &tc_iter_ops;
    t->inner = inner;
    t->tc = tc;
    t->h = h;
    return &t->base;
}
