/*
 * block.h — reading one uncompressed block written by block_builder: validation and a cursor.
 *
 * Blocks in this format hold INTERNAL keys (data and index blocks) and are ordered by
 * ikey_compare.  A block comes from disk, so nothing in it is trusted: every varint, length and
 * restart offset is bounds-checked as it is used, and a key shorter than an internal-key
 * trailer is corruption.  A problem makes the cursor invalid with status LSM_ECORRUPT and a
 * message (without a file name: the table reader prefixes it) in lsm_last_error.
 *
 * block_iter is a plain struct meant to live on the stack or inside another iterator, so a
 * point lookup needs no allocation: keys at restart points are read in place, other keys are
 * rebuilt in a small inline buffer (a heap buffer only for keys over BLOCK_ITER_INLINE bytes).
 * Do not copy a block_iter by value.
 */
#ifndef LSM_BLOCK_H
#define LSM_BLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "ikey.h"
#include "iterator.h"

typedef struct block {
    const uint8_t *data;   /* the whole block, restart array included */
    size_t size;
    uint32_t restarts;     /* offset of the restart array = end of the entries */
    uint32_t num_restarts; /* >= 1 */
} block;

/* Check the block's trailer (restart count and array fit in size) and fill *b; data must
 * outlive b.  Returns 0 or LSM_ECORRUPT with a message. */
int block_init(block *b, const uint8_t *data, size_t size);

#define BLOCK_ITER_INLINE 256

typedef struct block_iter {
    block b;
    uint32_t current;       /* offset of the current entry; b.restarts when not valid */
    uint32_t next;          /* offset just past the current entry */
    uint32_t restart_index; /* a restart block at or before the current entry's (next does not
                             * keep it up; prev catches up from it) */
    const uint8_t *key;     /* points into the block or into kbuf */
    size_t key_len;
    const uint8_t *val;     /* always points into the block */
    size_t val_len;
    int status;             /* 0 or LSM_ECORRUPT */
    uint8_t *kbuf;          /* == kinline unless a key outgrew it */
    size_t kcap;
    uint8_t kinline[BLOCK_ITER_INLINE];
} block_iter;

/* Start a cursor over b (copied; its data must outlive the cursor).  Not positioned. */
void block_iter_init(block_iter *it, const block *b);
/* Free any heap key buffer.  The cursor may be re-initialised afterwards. */
void block_iter_release(block_iter *it);

static inline int block_iter_valid(const block_iter *it) { return it->current < it->b.restarts; }
void block_iter_seek_first(block_iter *it);
void block_iter_seek_last(block_iter *it);
/* First entry with key >= target (an internal key). */
void block_iter_seek(block_iter *it, const uint8_t *target, size_t tlen);
void block_iter_next(block_iter *it); /* REQUIRES: valid */
void block_iter_prev(block_iter *it); /* REQUIRES: valid */

/* The same cursor as a heap-allocated iter (iterator.h) over b, which must outlive it.  If
 * owned is non-NULL it is freed when the iterator is destroyed.  NULL on out of memory. */
iter *block_iter_new(const block *b, void *owned);

#endif
