/*
 * cache.h — the block cache: a sharded LRU of uncompressed SSTable blocks, bounded in bytes.
 *
 * Entries are keyed by (table file number, block offset) and reference-counted: a lookup or
 * insert returns a handle that pins the entry until cache_release, so an evicted block stays
 * alive while an iterator still reads it.  Thread-safe.
 */
#ifndef LSM_CACHE_H
#define LSM_CACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct block_cache block_cache;
typedef struct cache_handle cache_handle;

/* A cache holding at most capacity bytes of charge (0: nothing is kept; lookups miss). */
block_cache *cache_new(size_t capacity);
void cache_free(block_cache *c); /* REQUIRES: no handle outstanding */

/* Pinned entry for (file, offset), or NULL on a miss. */
cache_handle *cache_lookup(block_cache *c, uint64_t file, uint64_t offset);

/* Insert value (charge bytes); the cache owns value from now on and calls
 * deleter(value) when the last reference goes.  Returns a pinned handle, or NULL on allocation
 * failure (the deleter has then already run).  An entry already cached under the same key is
 * replaced (it lives on until its holders release it).  With capacity 0 the handle is valid but
 * nothing is cached; an entry bigger than its shard's share of the capacity is dropped as soon
 * as it is released. */
cache_handle *cache_insert(block_cache *c, uint64_t file, uint64_t offset, void *value,
                           size_t charge, void (*deleter)(void *value));
void *cache_value(cache_handle *h);
void cache_release(block_cache *c, cache_handle *h);
/* Drop every entry of a file (its table was deleted).  Pinned entries leave the cache at once
 * (lookups miss) but stay valid for their holders until released. */
void cache_erase_file(block_cache *c, uint64_t file);

size_t cache_usage(block_cache *c);
void cache_stats(block_cache *c, uint64_t *hits, uint64_t *misses);

#endif
