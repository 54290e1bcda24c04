/*
 * arena.h — a bump allocator for the memtable: many small allocations carved out of large
 * blocks, all freed at once when the arena is.
 *
 * The memtable allocates one skiplist node per insert and frees nothing until it is retired,
 * so a bump allocator removes the per-insert malloc and its per-allocation overhead.  Requests
 * larger than a quarter of a block get a block of their own, so a big value never wastes the
 * remainder of a shared block.  Memory usage (arena_usage) counts every block allocated plus
 * its bookkeeping, so it is an accurate, monotonically growing figure the db can use as its
 * flush trigger.
 *
 * Threads: allocation is single-threaded (the memtable's one writer); arena_usage may be read
 * from any thread at any time.
 */
#ifndef LSM_ARENA_H
#define LSM_ARENA_H

#include <stdatomic.h>
#include <stddef.h>

#define ARENA_BLOCK_SIZE (64u * 1024u) /* shared blocks; requests > 1/4 of this get their own */

typedef struct arena_block arena_block;

typedef struct arena {
    char *ptr;              /* next free byte in the current shared block */
    size_t remaining;       /* bytes left after ptr in the current shared block */
    arena_block *blocks;    /* every block, newest first, for arena_destroy */
    size_t used;            /* writer's copy of usage */
    atomic_size_t usage;    /* published copy of used, for readers on other threads */
} arena;

/* Start an empty arena (allocates nothing yet). */
void arena_init(arena *a);
/* Free every block.  Pointers returned by the arena become invalid. */
void arena_destroy(arena *a);

/* n bytes aligned for any pointer or 8-byte integer (alignof(max_align_t)), or NULL on out of
 * memory (the arena stays usable).  REQUIRES: n > 0; single caller at a time. */
void *arena_alloc(arena *a, size_t n);

/* Bytes of memory the arena accounts for (see above).  Safe from any thread. */
size_t arena_usage(const arena *a);

#endif
