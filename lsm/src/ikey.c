/*
 * ikey.c — internal key packing (layout and order described in ikey.h; the comparisons are
 * inline there).
 */
#include "ikey.h"
#include "coding.h"

int ukey_memcmp_long(const uint8_t *a, const uint8_t *b, size_t n) { return memcmp(a, b, n); }

uint64_t ikey_seq(const uint8_t *ik, size_t len) { return get_fixed64(ik + len - IKEY_TRAILER) >> 8; }

int ikey_kind(const uint8_t *ik, size_t len) { return (int)(ik[len - IKEY_TRAILER] & 0xff); }

size_t ikey_build(uint8_t *dst, const uint8_t *ukey, size_t ulen, uint64_t seq, int type)
{
    if (ulen) memcpy(dst, ukey, ulen);
    put_fixed64(dst + ulen, ikey_pack(seq, type));
    return ulen + IKEY_TRAILER;
}
