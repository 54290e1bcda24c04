/*
 * memtable.h — the in-memory sorted buffer of recent writes: a skiplist of internal keys in an
 * arena.
 *
 * One writer at a time (the db serialises inserts under its write lock) runs concurrently with
 * any number of lock-free readers: nodes are published with release stores and never freed
 * until the whole memtable is.  Reference-counted, because readers and iterators may hold an
 * immutable memtable while the flush thread retires it.
 */
#ifndef LSM_MEMTABLE_H
#define LSM_MEMTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "iterator.h"

typedef struct memtable memtable;

memtable *memtable_new(void); /* refcount 1; NULL on out of memory */
void memtable_ref(memtable *m);
void memtable_unref(memtable *m); /* frees at zero */

/* Insert (ukey, seq, type) -> value.  REQUIRES: the caller is the only inserter, and
 * (ukey, seq) is new.  Returns 0 or LSM_ENOMEM. */
int memtable_add(memtable *m, uint64_t seq, int type, const uint8_t *ukey, size_t ukey_len,
                 const uint8_t *value, size_t value_len);

/* Newest entry for ukey with sequence <= seq: SST_GET_* values from sstable.h semantics:
 * 0 absent, 1 value (*value malloc'd), 2 deleted; or negative on out of memory. */
int memtable_get(memtable *m, const uint8_t *ukey, size_t ukey_len, uint64_t seq, void **value,
                 size_t *value_len);

/* Bytes of memory used (arena), for the flush trigger and stats. */
size_t memtable_bytes(const memtable *m);
uint64_t memtable_entries(const memtable *m);

/* Iterator over all entries; it holds a reference on m until destroyed. */
iter *memtable_iter(memtable *m);

#endif
