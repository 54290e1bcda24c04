/*
 * table_cache.h — a bounded LRU of open SSTable readers, keyed by file number.
 *
 * Every table access in the db goes through here, so the number of open descriptors stays at
 * most max_open_tables (plus readers still pinned by running lookups and iterators, which are
 * closed as soon as they are released).  Thread-safe: one mutex around the map; tables are
 * opened outside it.
 */
#ifndef LSM_TABLE_CACHE_H
#define LSM_TABLE_CACHE_H

#include <stdint.h>

#include "cache.h"
#include "env.h"
#include "iterator.h"
#include "sstable.h"

typedef struct table_cache table_cache;
typedef struct tc_handle tc_handle;

/* Tables live in dir as NNNNNN.sst; capacity >= 1; blocks go to bc (may be NULL). */
table_cache *tc_new(lsm_env *env, const char *dir, int capacity, block_cache *bc);
void tc_free(table_cache *tc); /* REQUIRES: no handle or iterator outstanding */

/* Pin the reader of table number (opening it if needed).  0, or the open error (message names
 * the file). */
int tc_acquire(table_cache *tc, uint64_t number, tc_handle **h, sst_reader **r);
void tc_release(table_cache *tc, tc_handle *h);

/* sst_reader_get_into through the cache (same results and ownership; dst may be NULL). */
int tc_get(table_cache *tc, uint64_t number, const uint8_t *ukey, size_t ukey_len, uint64_t seq,
           int fill_cache, const sst_value_dst *dst, void **value, size_t *value_len,
           int *bloom_checked, int *bloom_negative);

/* An iterator over table number that keeps it pinned until destroyed; on an open error, an
 * empty iterator carrying the error.  NULL only on out of memory. */
iter *tc_iter(table_cache *tc, uint64_t number, int fill_cache);

/* Forget table number (it was deleted): close it once unpinned, drop its cached blocks. */
void tc_evict(table_cache *tc, uint64_t number);

/* Number of readers currently open (cached or pinned). */
int tc_open_count(table_cache *tc);

#endif
