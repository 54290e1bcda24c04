/*
 * cache.c — the block cache: a sharded, reference-counted LRU bounded by total charge.
 *
 * Keys (file number, block offset) hash to one of CACHE_SHARDS shards, each with its own mutex,
 * chained hash table and LRU list, so concurrent readers rarely contend.  The capacity is split
 * evenly across shards.  An entry holds one reference for being in the cache and one per
 * outstanding handle.  Only entries referenced by the cache alone sit on the shard's LRU list,
 * so eviction never has to step over pinned blocks: when usage exceeds the shard's capacity the
 * least recently released unpinned entries are dropped.  A pinned entry that is replaced or
 * erased leaves the table at once but lives until its last handle is released.
 */
#include <pthread.h>
#include <stdlib.h>

#include "cache.h"

#define CACHE_SHARDS 16

struct cache_handle {
    uint64_t file, offset;
    uint32_t hash;
    void *value;
    size_t charge;
    void (*deleter)(void *value);
    unsigned refs;          /* handles + 1 while in_cache */
    int in_cache;           /* reachable from the shard's table */
    cache_handle *next_hash; /* chain in the shard's table */
    cache_handle *lru_prev, *lru_next; /* on the LRU list iff in_cache && refs == 1 */
};

typedef struct cache_shard {
    pthread_mutex_t mu;
    size_t capacity, usage;
    cache_handle **table;
    size_t buckets, elems;
    cache_handle lru; /* sentinel: lru.lru_next is the oldest */
    uint64_t hits, misses;
} cache_shard;

struct block_cache {
    cache_shard shards[CACHE_SHARDS];
};

static uint32_t cache_hash(uint64_t file, uint64_t offset)
{
    /* splitmix64 finaliser over both halves of the key. */
    uint64_t x = file * 0x9e3779b97f4a7c15ull ^ offset;
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return (uint32_t)x;
}

static cache_shard *cache_shard_for(block_cache *c, uint32_t hash)
{
    return &c->shards[hash >> 28]; /* top 4 bits: CACHE_SHARDS == 16 */
}

static void lru_remove(cache_handle *e)
{
    e->lru_next->lru_prev = e->lru_prev;
    e->lru_prev->lru_next = e->lru_next;
    e->lru_next = e->lru_prev = NULL;
}

static void lru_append(cache_shard *s, cache_handle *e)
{
    e->lru_next = &s->lru;
    e->lru_prev = s->lru.lru_prev;
    e->lru_prev->lru_next = e;
    e->lru_next->lru_prev = e;
}

static cache_handle **table_find(cache_shard *s, uint64_t file, uint64_t offset, uint32_t hash)
{
    cache_handle **p = &s->table[hash & (s->buckets - 1)];
    while (*p && ((*p)->hash != hash || (*p)->file != file || (*p)->offset != offset))
        p = &(*p)->next_hash;
    return p;
}

/* Double the bucket array; on allocation failure keep the longer chains (still correct). */
static void table_grow(cache_shard *s)
{
    size_t nb = s->buckets * 2;
    cache_handle **nt = calloc(nb, sizeof *nt);
    if (!nt)
        return;
    for (size_t i = 0; i < s->buckets; i++) {
        cache_handle *e = s->table[i];
        while (e) {
            cache_handle *next = e->next_hash;
            cache_handle **head = &nt[e->hash & (nb - 1)];
            e->next_hash = *head;
            *head = e;
            e = next;
        }
    }
    free(s->table);
    s->table = nt;
    s->buckets = nb;
}

/* Drop one reference; returns the entry if it must now be freed (outside the lock). */
static cache_handle *entry_unref(cache_shard *s, cache_handle *e)
{
    e->refs--;
    if (e->refs == 0)
        return e;
    if (e->in_cache && e->refs == 1)
        lru_append(s, e);
    return NULL;
}

static void entry_free(cache_handle *e)
{
    if (e->deleter)
        e->deleter(e->value);
    free(e);
}

/* Remove e from the table (caller holds the lock and found it there); returns the entry if it
 * must be freed. */
static cache_handle *entry_detach(cache_shard *s, cache_handle **slot)
{
    cache_handle *e = *slot;
    *slot = e->next_hash;
    e->next_hash = NULL;
    s->elems--;
    s->usage -= e->charge;
    e->in_cache = 0;
    if (e->lru_next)
        lru_remove(e);
    return entry_unref(s, e);
}

/* Drop least recently used unpinned entries while the shard is over capacity, chaining the
 * ones to free onto *dead (their deleters run after the lock is released). */
static void cache_evict_locked(cache_shard *s, cache_handle **dead)
{
    while (s->usage > s->capacity && s->lru.lru_next != &s->lru) {
        cache_handle *victim = s->lru.lru_next;
        cache_handle *gone =
            entry_detach(s, table_find(s, victim->file, victim->offset, victim->hash));
        if (gone) {
            gone->next_hash = *dead;
            *dead = gone;
        }
    }
}

static void cache_free_list(cache_handle *dead)
{
    while (dead) {
        cache_handle *next = dead->next_hash;
        entry_free(dead);
        dead = next;
    }
}

block_cache *cache_new(size_t capacity)
{
    block_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    size_t per = capacity / CACHE_SHARDS + (capacity % CACHE_SHARDS != 0);
    for (int i = 0; i < CACHE_SHARDS; i++) {
        cache_shard *s = &c->shards[i];
        s->buckets = 64;
        s->table = calloc(s->buckets, sizeof *s->table);
        if (!s->table || pthread_mutex_init(&s->mu, NULL) != 0) {
            free(s->table);
            for (int j = 0; j < i; j++) {
                free(c->shards[j].table);
                pthread_mutex_destroy(&c->shards[j].mu);
            }
            free(c);
            return NULL;
        }
        s->capacity = per;
        s->lru.lru_next = s->lru.lru_prev = &s->lru;
    }
    return c;
}

void cache_free(block_cache *c)
{
    if (!c)
        return;
    for (int i = 0; i < CACHE_SHARDS; i++) {
        cache_shard *s = &c->shards[i];
        for (size_t b = 0; b < s->buckets; b++) {
            cache_handle *e = s->table[b];
            while (e) {
                cache_handle *next = e->next_hash;
                entry_free(e);
                e = next;
            }
        }
        free(s->table);
        pthread_mutex_destroy(&s->mu);
    }
    free(c);
}

cache_handle *cache_lookup(block_cache *c, uint64_t file, uint64_t offset)
{
    uint32_t h = cache_hash(file, offset);
    cache_shard *s = cache_shard_for(c, h);
    pthread_mutex_lock(&s->mu);
    cache_handle *e = *table_find(s, file, offset, h);
    if (e) {
        if (e->refs == 1)
            lru_remove(e); /* becomes pinned */
        e->refs++;
        s->hits++;
    } else {
        s->misses++;
    }
    pthread_mutex_unlock(&s->mu);
    return e;
}

cache_handle *cache_insert(block_cache *c, uint64_t file, uint64_t offset, void *value,
                           size_t charge, void (*deleter)(void *value))
{
    cache_handle *e = calloc(1, sizeof *e);
    if (!e) {
        if (deleter)
            deleter(value);
        return NULL;
    }
    uint32_t h = cache_hash(file, offset);
    cache_shard *s = cache_shard_for(c, h);
    e->file = file;
    e->offset = offset;
    e->hash = h;
    e->value = value;
    e->charge = charge;
    e->deleter = deleter;
    e->refs = 1; /* the caller's handle */

    /* Entries freed by this insert are collected and their deleters run after unlocking. */
    cache_handle *dead = NULL;
    pthread_mutex_lock(&s->mu);
    if (s->capacity > 0) {
        cache_handle **slot = table_find(s, file, offset, h);
        if (*slot) {
            cache_handle *old = entry_detach(s, slot);
            if (old) {
                old->next_hash = dead;
                dead = old;
            }
            slot = table_find(s, file, offset, h);
        }
        e->refs++;
        e->in_cache = 1;
        e->next_hash = *slot;
        *slot = e;
        s->elems++;
        s->usage += charge;
        cache_evict_locked(s, &dead);
        if (s->elems > s->buckets)
            table_grow(s);
    }
    /* With capacity 0 the entry is never cached: the handle alone owns it. */
    pthread_mutex_unlock(&s->mu);
    cache_free_list(dead);
    return e;
}

void *cache_value(cache_handle *h)
{
    return h->value;
}

void cache_release(block_cache *c, cache_handle *h)
{
    if (!h)
        return;
    cache_shard *s = cache_shard_for(c, h->hash);
    pthread_mutex_lock(&s->mu);
    cache_handle *dead = entry_unref(s, h);
    if (dead)
        dead->next_hash = NULL;
    /* An entry bigger than the free space was kept while pinned; trim once it is not. */
    cache_evict_locked(s, &dead);
    pthread_mutex_unlock(&s->mu);
    cache_free_list(dead);
}

void cache_erase_file(block_cache *c, uint64_t file)
{
    for (int i = 0; i < CACHE_SHARDS; i++) {
        cache_shard *s = &c->shards[i];
        cache_handle *dead = NULL;
        pthread_mutex_lock(&s->mu);
        for (size_t b = 0; b < s->buckets; b++) {
            cache_handle **p = &s->table[b];
            while (*p) {
                if ((*p)->file == file) {
                    /* Pinned entries leave the table too; their last release frees them. */
                    cache_handle *gone = entry_detach(s, p);
                    if (gone) {
                        gone->next_hash = dead;
                        dead = gone;
                    }
                } else {
                    p = &(*p)->next_hash;
                }
            }
        }
        pthread_mutex_unlock(&s->mu);
        cache_free_list(dead);
    }
}

size_t cache_usage(block_cache *c)
{
    size_t total = 0;
    for (int i = 0; i < CACHE_SHARDS; i++) {
        pthread_mutex_lock(&c->shards[i].mu);
        total += c->shards[i].usage;
        pthread_mutex_unlock(&c->shards[i].mu);
    }
    return total;
}

void cache_stats(block_cache *c, uint64_t *hits, uint64_t *misses)
{
    uint64_t h = 0, m = 0;
    for (int i = 0; i < CACHE_SHARDS; i++) {
        pthread_mutex_lock(&c->shards[i].mu);
        h += c->shards[i].hits;
        m += c->shards[i].misses;
        pthread_mutex_unlock(&c->shards[i].mu);
    }
    if (hits)
        *hits = h;
    if (misses)
        *misses = m;
}
