/*
 * keyhash.h — the memtable's point-lookup index: user key -> its newest skiplist node.
 *
 * A get in a memtable of a few hundred thousand entries descends the skiplist through some 25
 * nodes, each a cache miss; a filesystem's create makes five or six such gets (the path's
 * directories, the name, the parent's attributes).  The index answers with a slot or two and
 * the node.  Open addressing with linear probing; each slot holds a node pointer with 16 bits
 * of the key's hash in its unused top bits, so a probe dereferences only nodes whose tag
 * matches.  The load factor stays at most 1/2: the table doubles by building a new slot array
 * and publishing it.  The old one stays readable for lookups that loaded it before; it is freed
 * once no lookup is running (a count of running lookups, checked by the writer).
 *
 * Concurrency: as for the skiplist, ONE writer (keyhash_put callers serialise among
 * themselves) alongside any number of readers that take no lock.  The writer publishes a node
 * only after it is linked into the skiplist, with a release store that readers load with
 * acquire.  A reader may miss a put that races with it, never one that finished before it
 * started.
 *
 * Should memory run out while the table grows, or a pointer not fit beside its tag, the index
 * turns itself off for good and keyhash_get reports that; the skiplist still has everything.
 */
#ifndef LSM_KEYHASH_H
#define LSM_KEYHASH_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "skiplist.h"

typedef struct keyhash_table keyhash_table;

typedef struct keyhash {
    _Atomic(keyhash_table *) cur; /* the table lookups use */
    keyhash_table *old;           /* writer-only: replaced tables not yet freed */
    atomic_size_t keys;           /* distinct user keys in cur (written by the writer only) */
    atomic_int readers;           /* lookups running */
    atomic_int off;               /* the index gave up (see above) */
} keyhash;

/* Start an empty index.  Returns 0 or LSM_ENOMEM. */
int keyhash_init(keyhash *h);
/* Free every table.  REQUIRES: no reader or writer left. */
void keyhash_destroy(keyhash *h);

/* Record n, whose user key is ukey, as that key's newest node, unless the index already holds
 * a newer node of it.  REQUIRES: single writer; n linked in the skiplist and never freed before
 * the index.  Never fails: on out of memory the index turns off. */
void keyhash_put(keyhash *h, const uint8_t *ukey, size_t ukey_len, const sl_node *n);

/* Look ukey up: returns 1 and sets *n to its newest node (NULL if the index has no node of
 * ukey), or returns 0 if the index is off and the caller must search the skiplist. */
int keyhash_get(const keyhash *h, const uint8_t *ukey, size_t ukey_len, const sl_node **n);

/* The index's memory as the memtable counts it: KEYHASH_BYTES_PER_KEY a key, the slot array's
 * size when a quarter full, its emptiest (so the figure grows smoothly with the keys instead
 * of doubling with the table).  Safe from any thread. */
#define KEYHASH_BYTES_PER_KEY 32
size_t keyhash_bytes(const keyhash *h);

#endif
