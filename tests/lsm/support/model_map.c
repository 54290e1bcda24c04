/*
 * model_map.c — the reference ordered map for randomized tests (see model_map.h).
 */
#include <stdlib.h>
#include <string.h>

#include "model_map.h"

int mm_keycmp(const void *a, size_t alen, const void *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c) return c;
    return alen < blen ? -1 : alen > blen;
}

static int cmp_key(const void *x, const void *y)
{
    const mm_key *a = x, *b = y;
    return mm_keycmp(a->data, a->len, b->data, b->len);
}

model_map *mm_new(tu_rng *rng, size_t n, size_t max_len)
{
    model_map *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->keys = calloc(n, sizeof *m->keys);
    m->ver = calloc(n, sizeof *m->ver);
    if (!m->keys || !m->ver) {
        mm_free(m);
        return NULL;
    }
    size_t have = 0;
    while (have < n) {
        /* Draw keys, sort, drop duplicates, repeat until there are n distinct ones. */
        for (size_t i = have; i < n; i++) {
            size_t len = 1 + tu_uniform(rng, max_len);
            m->keys[i].data = malloc(len);
            m->keys[i].len = len;
            if (!m->keys[i].data) {
                m->n = i;
                mm_free(m);
                return NULL;
            }
            /* A small alphabet makes shared prefixes and prefix keys common. */
            for (size_t j = 0; j < len; j++) {
                uint64_t r = tu_uniform(rng, 8);
                m->keys[i].data[j] = r < 6 ? (uint8_t)('a' + r) : r == 6 ? 0x00 : 0xff;
            }
        }
        qsort(m->keys, n, sizeof *m->keys, cmp_key);
        have = 0;
        for (size_t i = 0; i < n; i++) {
            if (have && cmp_key(&m->keys[have - 1], &m->keys[i]) == 0) {
                free(m->keys[i].data);
                continue;
            }
            m->keys[have++] = m->keys[i];
        }
    }
    m->n = n;
    return m;
}

void mm_free(model_map *m)
{
    if (!m) return;
    if (m->keys)
        for (size_t i = 0; i < m->n; i++) free(m->keys[i].data);
    free(m->keys);
    free(m->ver);
    free(m);
}

size_t mm_lower_bound(const model_map *m, const void *k, size_t len)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (mm_keycmp(m->keys[mid].data, m->keys[mid].len, k, len) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

size_t mm_next_present(const model_map *m, const uint32_t *ver, size_t i)
{
    while (i < m->n && ver[i] == 0) i++;
    return i;
}

size_t mm_prev_present(const model_map *m, const uint32_t *ver, size_t i)
{
    (void)m;
    while (i != SIZE_MAX && ver[i] == 0) i--;
    return i;
}

size_t mm_count(const model_map *m, const uint32_t *ver)
{
    size_t c = 0;
    for (size_t i = 0; i < m->n; i++) c += ver[i] != 0;
    return c;
}

size_t mm_value(size_t rank, uint32_t version, uint8_t *buf)
{
    uint64_t h = (uint64_t)rank * 0x9e3779b97f4a7c15ull ^ (uint64_t)version * 0xc2b2ae3d27d4eb4full;
    h ^= h >> 29;
    size_t len = (size_t)(h % MM_MAX_VALUE);
    for (size_t i = 0; i < len; i++) {
        /* Half repetitive (compressible), half varying, and the identity in the bytes. */
        h = h * 6364136223846793005ull + 1442695040888963407ull;
        buf[i] = i % 8 < 4 ? (uint8_t)(rank + version + i / 8) : (uint8_t)(h >> 56);
    }
    if (len >= 8) {
        memcpy(buf, &version, 4);
        uint32_t r = (uint32_t)rank;
        memcpy(buf + 4, &r, 4);
    }
    return len;
}
