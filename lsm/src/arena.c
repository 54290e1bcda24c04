/*
 * arena.c — bump allocation in large blocks (see arena.h).
 *
 * Every block starts with a small header linking it into the arena's list.  Shared blocks are
 * ARENA_BLOCK_SIZE bytes; when the current one cannot hold a request, the remainder is
 * abandoned (at most a quarter of a block, since bigger requests never use shared blocks) and
 * a fresh one is started.
 */
#include "arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>

struct arena_block {
    arena_block *next;
    alignas(max_align_t) char data[];
};

#define ARENA_ALIGN alignof(max_align_t)

void arena_init(arena *a)
{
    a->ptr = NULL;
    a->remaining = 0;
    a->blocks = NULL;
    a->used = 0;
    atomic_init(&a->usage, 0);
}

void arena_destroy(arena *a)
{
    arena_block *b = a->blocks;
    while (b) {
        arena_block *next = b->next;
        free(b);
        b = next;
    }
    a->blocks = NULL;
    a->ptr = NULL;
    a->remaining = 0;
}

/* A new block with room for n bytes of data, linked into the list. */
static char *arena_new_block(arena *a, size_t n)
{
    if (n > SIZE_MAX - sizeof(arena_block)) return NULL;
    arena_block *b = malloc(sizeof(arena_block) + n);
    if (!b) return NULL;
    b->next = a->blocks;
    a->blocks = b;
    return b->data;
}

void *arena_alloc(arena *a, size_t n)
{
    /* Round up so the next allocation stays aligned. */
    if (n > SIZE_MAX - ARENA_ALIGN) return NULL;
    size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    char *p;
    if (need <= a->remaining) {
        p = a->ptr;
        a->ptr += need;
        a->remaining -= need;
        a->used += need;
    } else if (need > ARENA_BLOCK_SIZE / 4) {
        p = arena_new_block(a, need);
        if (!p) return NULL;
        a->used += sizeof(arena_block) + need;
    } else {
        p = arena_new_block(a, ARENA_BLOCK_SIZE);
        if (!p) return NULL;
        /* The old block's tail is lost for good: count it as used. */
        a->used += a->remaining + sizeof(arena_block) + need;
        a->ptr = p + need;
        a->remaining = ARENA_BLOCK_SIZE - need;
    }
    /* Relaxed is enough: the figure is a statistic, it publishes no memory. */
    atomic_store_explicit(&a->usage, a->used, memory_order_relaxed);
    return p;
}

size_t arena_usage(const arena *a)
{
    return atomic_load_explicit(&((arena *)a)->usage, memory_order_relaxed);
}
