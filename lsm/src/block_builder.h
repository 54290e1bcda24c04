/*
 * block_builder.h — builds one block: sorted entries with shared-prefix key compression.
 *
 * Each entry is  varint32 shared | varint32 non_shared | varint32 value_len |
 *                key[shared..] (non_shared bytes) | value (value_len bytes)
 * where shared is the length of the prefix this key has in common with the previous key.
 * Every restart_interval entries the prefix is reset (shared = 0) and the entry's offset is
 * recorded; the block ends with those offsets (fixed32 each) and their count (fixed32), so a
 * reader can binary-search the restart points.  There is always at least one restart (offset
 * 0).  The byte layout is in lsm/FORMAT.md.
 */
#ifndef LSM_BLOCK_BUILDER_H
#define LSM_BLOCK_BUILDER_H

#include <stddef.h>
#include <stdint.h>

#include "coding.h"

typedef struct block_builder {
    buf data;        /* entries, then (after finish) the restart array */
    buf restarts;    /* uint32_t offsets of restart entries */
    buf last_key;    /* the previous key, for prefix sharing */
    int interval;    /* entries between restart points (>= 1) */
    int counter;     /* entries since the last restart */
    uint64_t entries;
    int finished;
} block_builder;

/* Prepare an empty builder.  restart_interval < 1 is taken as 1. */
void block_builder_init(block_builder *bb, int restart_interval);
/* Empty the builder for the next block, keeping its memory. */
void block_builder_reset(block_builder *bb);
void block_builder_free(block_builder *bb);

/* Append an entry.  REQUIRES: not finished since the last reset; key sorts after the previous
 * key.  Returns 0 or LSM_ENOMEM. */
int block_builder_add(block_builder *bb, const uint8_t *key, size_t klen, const uint8_t *value,
                      size_t vlen);
/* Append the restart array and return the block contents in *out and *len (valid until the next
 * reset or free).  Returns 0 or LSM_ENOMEM. */
int block_builder_finish(block_builder *bb, const uint8_t **out, size_t *len);

/* Size of the block if it were finished now (its exact size once finished). */
static inline size_t block_builder_size(const block_builder *bb)
{
    if (bb->finished) return bb->data.len;
    return bb->data.len + (bb->restarts.len ? bb->restarts.len : 4) + 4;
}
static inline int block_builder_empty(const block_builder *bb) { return bb->entries == 0; }

#endif
