/*
 * ikey.h — internal keys: how user keys carry versions inside the engine.
 *
 * Every entry in a memtable or SSTable is keyed by an internal key: the user key followed by
 * an 8-byte little-endian trailer (sequence << 8 | type).  Internal keys order by user key
 * ascending (memcmp, shorter first), then by sequence DESCENDING, then type descending, so the
 * newest version of a key comes first and a seek to (key, snapshot_seq, IKEY_TYPE_SEEK) lands on
 * the newest version visible at that snapshot.
 */
#ifndef LSM_IKEY_H
#define LSM_IKEY_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum ikey_type { IKEY_TYPE_DELETE = 0, IKEY_TYPE_VALUE = 1 };
#define IKEY_TYPE_SEEK IKEY_TYPE_VALUE /* highest type: seeks land before every same-seq entry */
#define IKEY_TRAILER 8
#define IKEY_MAX_SEQ ((UINT64_C(1) << 56) - 1)

static inline uint64_t ikey_pack(uint64_t seq, int type) { return (seq << 8) | (uint64_t)type; }

/* A slice: borrowed bytes. */
typedef struct slice {
    const uint8_t *data;
    size_t len;
} slice;

/* Load 8 bytes as a big-endian / little-endian integer (any alignment).  memcpy compiles to a
 * single load; the byte swap makes integer order equal memcmp order. */
static inline uint64_t ikey_load_be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#elif !(defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__)
    v = 0;
    for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
#endif
    return v;
}
static inline uint32_t ikey_load_be32(const uint8_t *p)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint32_t v;
    memcpy(&v, p, 4);
    return __builtin_bswap32(v);
#else
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
#endif
}
static inline uint64_t ikey_load_le64(const uint8_t *p)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
#else
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
#endif
}

/* memcmp(a, b, n), out of line: the long-key path of ukey_compare (keeping it out of the
 * inlined code also keeps gcc's bounds warnings from firing on callers' short arrays). */
int ukey_memcmp_long(const uint8_t *a, const uint8_t *b, size_t n);

/* Compare two byte strings as memcmp with shorter-first on a common prefix.  Returns <0, 0 or
 * >0 (only the sign is meaningful).  Inline because it is the innermost operation of every
 * skiplist, block and merge step: short keys (the common case) are compared 8 bytes at a time
 * as big-endian words, without a call; long common prefixes go to memcmp.  A tail shorter than
 * a word is compared as the word that ends with it (keys under 8 bytes: as two half words):
 * its first bytes are already known equal, so the word's order is the tail's. */
static inline int ukey_compare(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    size_t i = 0;
    if (n <= 32) {
        for (; i + 8 <= n; i += 8) {
            uint64_t x = ikey_load_be64(a + i), y = ikey_load_be64(b + i);
            if (x != y) return x < y ? -1 : 1;
        }
        if (i == n) {
            /* a whole number of words, all equal */
        } else if (n >= 8) {
            uint64_t x = ikey_load_be64(a + n - 8), y = ikey_load_be64(b + n - 8);
            if (x != y) return x < y ? -1 : 1;
        } else if (n >= 4) { /* i == 0: two half words, overlapping */
            uint32_t x = ikey_load_be32(a), y = ikey_load_be32(b);
            if (x != y) return x < y ? -1 : 1;
            x = ikey_load_be32(a + n - 4);
            y = ikey_load_be32(b + n - 4);
            if (x != y) return x < y ? -1 : 1;
        } else {
            for (; i < n; i++)
                if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
        }
    } else {
        int r = ukey_memcmp_long(a, b, n);
        if (r) return r;
    }
    return alen < blen ? -1 : alen > blen;
}

/* Whether the n bytes at a and at b are equal: as ukey_compare(a, n, b, n) == 0, with no byte
 * order to work out (the words are compared as they lie). */
static inline int ukey_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    if (n < 8 || n > 32) return memcmp(a, b, n) == 0;
    size_t i = 0;
    uint64_t x, y, d = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        d |= x ^ y;
    }
    memcpy(&x, a + n - 8, 8); /* the tail, as the word that ends the key */
    memcpy(&y, b + n - 8, 8);
    return (d | (x ^ y)) == 0;
}

/* Whether user keys a and b lie in different partitions of prefix length n (lsm_options
 * partition_prefix): their first n bytes (all of a shorter key) differ.  Never for n == 0. */
static inline int ukey_partition_differs(size_t n, const uint8_t *a, size_t alen,
                                         const uint8_t *b, size_t blen)
{
    if (n == 0) return 0;
    size_t la = alen < n ? alen : n, lb = blen < n ? blen : n;
    return la != lb || memcmp(a, b, la) != 0;
}

/* Compare two internal keys (each >= IKEY_TRAILER bytes) in the order described above.
 * Returns <0, 0 or >0 (only the sign is meaningful). */
static inline int ikey_compare(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    int r = ukey_compare(a, alen - IKEY_TRAILER, b, blen - IKEY_TRAILER);
    if (r) return r;
    uint64_t ta = ikey_load_le64(a + alen - IKEY_TRAILER);
    uint64_t tb = ikey_load_le64(b + blen - IKEY_TRAILER);
    return ta > tb ? -1 : ta < tb; /* newer (larger trailer) first */
}

/* Parts of an internal key.  REQUIRES: len >= IKEY_TRAILER. */
static inline slice ikey_user(const uint8_t *ik, size_t len)
{
    slice s = {ik, len - IKEY_TRAILER};
    return s;
}
uint64_t ikey_seq(const uint8_t *ik, size_t len);
int ikey_kind(const uint8_t *ik, size_t len);

/* Write ukey + trailer into dst (room for ulen + 8); return ulen + 8. */
size_t ikey_build(uint8_t *dst, const uint8_t *ukey, size_t ulen, uint64_t seq, int type);

#endif
