/*
 * model_map.h — the reference model for randomized engine tests: an ordered map over a fixed
 * universe of keys.
 *
 * The universe is n distinct random byte strings (lengths 1..max_len, any byte values, so
 * prefixes, 0x00 and 0xff bytes all occur), sorted by memcmp-shorter-first — the engine's key
 * order — and addressed by rank.  The map holds, per key, a version number (0 = absent); the
 * value of (key rank, version) is generated deterministically by mm_value, so a snapshot of
 * the whole map is just a copy of the versions array, and any value read back can be checked
 * byte for byte.
 */
#ifndef LSM_TEST_MODEL_MAP_H
#define LSM_TEST_MODEL_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

typedef struct mm_key {
    uint8_t *data;
    size_t len;
} mm_key;

typedef struct model_map {
    size_t n;
    mm_key *keys;       /* sorted */
    uint32_t *ver;      /* ver[i] = version of keys[i]; 0 = absent */
} model_map;

/* A map over n random keys drawn from rng; all absent.  NULL on out of memory. */
model_map *mm_new(tu_rng *rng, size_t n, size_t max_len);
void mm_free(model_map *m);

/* Rank of the first key >= k (n if none). */
size_t mm_lower_bound(const model_map *m, const void *k, size_t len);
/* Next / previous present rank in ver[] from i inclusive; n (next) or SIZE_MAX (prev) if none. */
size_t mm_next_present(const model_map *m, const uint32_t *ver, size_t i);
size_t mm_prev_present(const model_map *m, const uint32_t *ver, size_t i);
/* Number of present keys. */
size_t mm_count(const model_map *m, const uint32_t *ver);

/* The value of (rank, version) into buf (room for MM_MAX_VALUE); returns its length, which
 * varies from 0 to MM_MAX_VALUE-1 with (rank, version). */
#define MM_MAX_VALUE 400
size_t mm_value(size_t rank, uint32_t version, uint8_t *buf);

/* Memcmp order, shorter first on a common prefix (the engine's key order). */
int mm_keycmp(const void *a, size_t alen, const void *b, size_t blen);

#endif
