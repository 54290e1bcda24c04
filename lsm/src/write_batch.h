/*
 * write_batch.h — the public lsm_batch, and its encoding, which is also the WAL record format.
 *
 * A batch is one contiguous byte string ("rep"):
 *     fixed64 sequence     sequence number of the first operation (set by the db at commit)
 *     fixed32 count        number of operations
 *     count x op           op = type byte (1 = put, 0 = delete)
 *                               varint32 key_len, key bytes
 *                               put only: varint32 value_len, value bytes
 * Operation i gets sequence number sequence + i, so later operations on the same key win.
 * The db writes exactly this rep as one WAL record (lsm/FORMAT.md, "Write batch").
 */
#ifndef LSM_WRITE_BATCH_H
#define LSM_WRITE_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "coding.h"
#include "lsm.h"
#include "memtable.h"

#define WB_HEADER 12

struct lsm_batch {
    buf rep; /* always at least WB_HEADER bytes once initialised */
};

/* Initialise an embedded batch (empty, header present).  Returns 0 or LSM_ENOMEM. */
int wb_init(lsm_batch *b);
/* Free the rep of an embedded batch (not b itself). */
void wb_destroy(lsm_batch *b);

uint64_t wb_seq(const lsm_batch *b);
void wb_set_seq(lsm_batch *b, uint64_t seq);
uint32_t wb_count(const lsm_batch *b);

/* Append src's operations after dst's (counts add up).  Returns 0 or LSM_ENOMEM. */
int wb_append(lsm_batch *dst, const lsm_batch *src);

/* Call fn for each operation of an encoded rep (e.g. a WAL record), in order, stopping at the
 * first non-zero return, which is passed back.  A malformed rep (short header, truncated op,
 * unknown type, count mismatch) gives LSM_ECORRUPT with a message saying what is wrong.
 * *seq_out (may be NULL) receives the header sequence. */
typedef int (*wb_op_fn)(void *arg, uint64_t seq, int type, const uint8_t *key, size_t klen,
                        const uint8_t *val, size_t vlen);
int wb_iterate(const uint8_t *rep, size_t len, uint64_t *seq_out, wb_op_fn fn, void *arg);

/* Insert every operation of rep into m with consecutive sequences from the header's.
 * Returns 0, LSM_ECORRUPT (malformed rep) or LSM_ENOMEM. */
int wb_insert_into(const uint8_t *rep, size_t len, memtable *m);

#endif
