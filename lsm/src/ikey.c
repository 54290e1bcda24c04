/*
 * ikey.c — internal key comparison and packing (layout and order described in ikey.h).
 */
#include "ikey.h"
#include "coding.h"

int ukey_compare(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int r = n ? memcmp(a, b, n) : 0;
    if (r) return r;
    return alen < blen ? -1 : alen > blen;
}

int ikey_compare(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    int r = ukey_compare(a, alen - IKEY_TRAILER, b, blen - IKEY_TRAILER);
    if (r) return r;
    uint64_t ta = get_fixed64(a + alen - IKEY_TRAILER);
    uint64_t tb = get_fixed64(b + blen - IKEY_TRAILER);
    return ta > tb ? -1 : ta < tb; /* newer (larger trailer) first */
}

uint64_t ikey_seq(const uint8_t *ik, size_t len) { return get_fixed64(ik + len - IKEY_TRAILER) >> 8; }

int ikey_kind(const uint8_t *ik, size_t len) { return (int)(ik[len - IKEY_TRAILER] & 0xff); }

size_t ikey_build(uint8_t *dst, const uint8_t *ukey, size_t ulen, uint64_t seq, int type)
{
    if (ulen) memcpy(dst, ukey, ulen);
    put_fixed64(dst + ulen, ikey_pack(seq, type));
    return ulen + IKEY_TRAILER;
}
