/*
 * bloom.h — the per-table bloom filter over USER keys (not internal keys), as in LevelDB.
 *
 * The table builder remembers one 32-bit hash per distinct user key (bloom_hash) and at the
 * end builds one filter for the whole table; sst_reader_get asks it before touching the index.
 * Filter bytes: a bit array of m = max(64, n * bits_per_key) bits rounded up to whole bytes,
 * then one byte k, the number of probes (k = round(bits_per_key * ln 2), clamped to [1, 30]).
 * Probe i (0 <= i < k) tests bit ((h + i * delta) mod 2^32) mod m, with delta = (h >> 17) |
 * (h << 15): double hashing over one 32-bit hash.  Bit b is (byte b / 8) & (1 << (b % 8)).
 * With 10 bits per key the false-positive rate is ~1%.
 */
#ifndef LSM_BLOOM_H
#define LSM_BLOOM_H

#include <stddef.h>
#include <stdint.h>

#include "coding.h"

/* The 32-bit hash filters are built and probed with (stable: it is part of the file format). */
uint32_t bloom_hash(const uint8_t *key, size_t len);

/* Append to dst the filter for n key hashes at bits_per_key (> 0).  Returns 0 or LSM_ENOMEM. */
int bloom_build(buf *dst, const uint32_t *hashes, size_t n, int bits_per_key);

/* 0 if the key whose hash is h is certainly absent from the keys filter was built over, 1 if it
 * may be present.  A filter too short to parse, or with a k this code does not know (> 30),
 * answers 1: a filter may only ever rule keys out. */
int bloom_may_contain_hash(const uint8_t *filter, size_t len, uint32_t h);
static inline int bloom_may_contain(const uint8_t *filter, size_t len, const uint8_t *key,
                                    size_t klen)
{
    return bloom_may_contain_hash(filter, len, bloom_hash(key, klen));
}

#endif
