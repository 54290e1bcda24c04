/*
 * bloom.c — the per-table bloom filter (layout and probe sequence in bloom.h / FORMAT.md).
 *
 * One 32-bit hash per key drives all k probes by double hashing (Kirsch & Mitzenmacher): probe
 * i tests bit (h + i * delta) mod m, with the additions done in wrapping 32-bit arithmetic and
 * delta = h rotated right by 17.  That costs one hash per lookup instead of k, and for filters
 * of a few million bits behaves like k independent hashes.
 */
#include <string.h>

#include "bloom.h"
#include "lsm.h"

/* LevelDB's murmur-like hash with its filter seed: part of the file format, never change it. */
uint32_t bloom_hash(const uint8_t *key, size_t len)
{
    const uint32_t m = 0xc6a4a793u;
    const uint32_t seed = 0xbc9f1d34u;
    uint32_t h = seed ^ ((uint32_t)len * m);
    const uint8_t *p = key, *limit = key + len;
    while (limit - p >= 4) {
        uint32_t w = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
                     ((uint32_t)p[3] << 24);
        p += 4;
        h += w;
        h *= m;
        h ^= h >> 16;
    }
    switch (limit - p) {
    case 3:
        h += (uint32_t)p[2] << 16;
        /* fall through */
    case 2:
        h += (uint32_t)p[1] << 8;
        /* fall through */
    case 1:
        h += p[0];
        h *= m;
        h ^= h >> 24;
        break;
    default:
        break;
    }
    return h;
}

static int bloom_probes(int bits_per_key)
{
    /* round(bits_per_key * ln 2), in integers so the format does not depend on libm. */
    long k = ((long)bits_per_key * 693147 + 500000) / 1000000;
    return k < 1 ? 1 : k > 30 ? 30 : (int)k;
}

int bloom_build(buf *dst, const uint32_t *hashes, size_t n, int bits_per_key)
{
    if (bits_per_key < 1)
        bits_per_key = 1;
    uint64_t bits = (uint64_t)n * (uint64_t)bits_per_key;
    if (bits < 64)
        bits = 64;
    uint64_t bytes = (bits + 7) / 8;
    /* Probes are computed in 32-bit arithmetic, so m must fit in 32 bits. */
    if (bytes > UINT32_MAX / 8)
        bytes = UINT32_MAX / 8;
    bits = bytes * 8;
    int k = bloom_probes(bits_per_key);

    int rc = buf_reserve(dst, (size_t)bytes + 1);
    if (rc)
        return rc;
    uint8_t *array = dst->data + dst->len;
    memset(array, 0, (size_t)bytes);
    for (size_t i = 0; i < n; i++) {
        uint32_t h = hashes[i];
        const uint32_t delta = (h >> 17) | (h << 15);
        for (int j = 0; j < k; j++) {
            uint32_t pos = (uint32_t)(h % bits);
            array[pos / 8] |= (uint8_t)(1u << (pos % 8));
            h += delta;
        }
    }
    array[bytes] = (uint8_t)k;
    dst->len += (size_t)bytes + 1;
    return 0;
}

int bloom_may_contain_hash(const uint8_t *filter, size_t len, uint32_t h)
{
    if (len < 2)
        return 1;
    const int k = filter[len - 1];
    if (k < 1 || k > 30)
        return 1; /* a filter this code does not understand must never rule a key out */
    /* bloom_build never makes m >= 2^32; a filter claiming that is not ours to judge.  The
     * bound keeps the probe arithmetic in 32 bits, whose division is markedly cheaper. */
    if (len - 1 > UINT32_MAX / 8)
        return 1;
    const uint32_t bits = (uint32_t)(len - 1) * 8;
    const uint32_t delta = (h >> 17) | (h << 15);
    for (int j = 0; j < k; j++) {
        uint32_t pos = h % bits;
        if (!(filter[pos / 8] & (1u << (pos % 8))))
            return 0;
        h += delta;
    }
    return 1;
}
