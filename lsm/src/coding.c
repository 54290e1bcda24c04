/*
 * coding.c — little-endian fixed-width integers, LEB128 varints and the growable buf.
 *
 * The decoders take an explicit limit and never read at or past it: every on-disk length in
 * liblsm is decoded through them, which is what keeps corrupt files from causing overreads.
 */
#include <stdlib.h>
#include <string.h>

#include "coding.h"
#include "lsm.h"

void put_fixed32(uint8_t *dst, uint32_t v)
{
    dst[0] = (uint8_t)v;
    dst[1] = (uint8_t)(v >> 8);
    dst[2] = (uint8_t)(v >> 16);
    dst[3] = (uint8_t)(v >> 24);
}

void put_fixed64(uint8_t *dst, uint64_t v)
{
    put_fixed32(dst, (uint32_t)v);
    put_fixed32(dst + 4, (uint32_t)(v >> 32));
}

uint32_t get_fixed32(const uint8_t *src)
{
    return (uint32_t)src[0] | ((uint32_t)src[1] << 8) | ((uint32_t)src[2] << 16) |
           ((uint32_t)src[3] << 24);
}

uint64_t get_fixed64(const uint8_t *src)
{
    return (uint64_t)get_fixed32(src) | ((uint64_t)get_fixed32(src + 4) << 32);
}

int put_varint32(uint8_t *dst, uint32_t v)
{
    return put_varint64(dst, v);
}

int put_varint64(uint8_t *dst, uint64_t v)
{
    int n = 0;
    while (v >= 0x80) {
        dst[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    dst[n++] = (uint8_t)v;
    return n;
}

int varint_length(uint64_t v)
{
    int n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

const uint8_t *get_varint64(const uint8_t *p, const uint8_t *limit, uint64_t *v)
{
    uint64_t result = 0;
    for (unsigned shift = 0; shift <= 63 && p < limit; shift += 7) {
        uint64_t byte = *p++;
        /* The 10th byte may only carry the top bit of a 64-bit value. */
        if (shift == 63 && byte > 1)
            return NULL;
        result |= (byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *v = result;
            return p;
        }
    }
    return NULL;
}

const uint8_t *get_varint32(const uint8_t *p, const uint8_t *limit, uint32_t *v)
{
    /* Fast path: one-byte varints are by far the most common (shared/unshared lengths). */
    if (p < limit && !(*p & 0x80)) {
        *v = *p;
        return p + 1;
    }
    uint32_t result = 0;
    for (unsigned shift = 0; shift <= 28 && p < limit; shift += 7) {
        uint32_t byte = *p++;
        if (shift == 28 && byte > 0x0f)
            return NULL; /* would overflow 32 bits */
        result |= (byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *v = result;
            return p;
        }
    }
    return NULL;
}

int buf_reserve(buf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len)
        return LSM_ENOMEM;
    size_t need = b->len + extra;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    uint8_t *d = realloc(b->data, cap);
    if (!d)
        return LSM_ENOMEM;
    b->data = d;
    b->cap = cap;
    return 0;
}

int buf_append(buf *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    int rc = buf_reserve(b, n);
    if (rc)
        return rc;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int buf_append_varint32(buf *b, uint32_t v)
{
    int rc = buf_reserve(b, 5);
    if (rc)
        return rc;
    b->len += (size_t)put_varint32(b->data + b->len, v);
    return 0;
}

int buf_append_varint64(buf *b, uint64_t v)
{
    int rc = buf_reserve(b, 10);
    if (rc)
        return rc;
    b->len += (size_t)put_varint64(b->data + b->len, v);
    return 0;
}

int buf_append_fixed32(buf *b, uint32_t v)
{
    int rc = buf_reserve(b, 4);
    if (rc)
        return rc;
    put_fixed32(b->data + b->len, v);
    b->len += 4;
    return 0;
}

int buf_append_fixed64(buf *b, uint64_t v)
{
    int rc = buf_reserve(b, 8);
    if (rc)
        return rc;
    put_fixed64(b->data + b->len, v);
    b->len += 8;
    return 0;
}

void buf_free(buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
