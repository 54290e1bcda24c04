/*
 * level_iter.h — one iterator over a whole sorted level (>= 1): the concatenation of its
 * tables, which never overlap, opening each table (through the table cache) only when the
 * scan reaches it, so a scan holds one table of the level open at a time.
 */
#ifndef LSM_LEVEL_ITER_H
#define LSM_LEVEL_ITER_H

#include "table_cache.h"
#include "version_edit.h"

/* files[0..n) sorted by key, borrowed: the caller keeps the version holding them alive until
 * the iterator is destroyed.  NULL on out of memory. */
iter *level_iter_new(table_cache *tc, file_meta *const *files, size_t n, int fill_cache);

#endif
