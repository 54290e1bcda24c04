/*
 * coding.h — little-endian fixed-width and LEB128 varint encodings used by every file format.
 */
#ifndef LSM_CODING_H
#define LSM_CODING_H

#include <stddef.h>
#include <stdint.h>

void put_fixed32(uint8_t *dst, uint32_t v);
void put_fixed64(uint8_t *dst, uint64_t v);
uint32_t get_fixed32(const uint8_t *src);
uint64_t get_fixed64(const uint8_t *src);

/* Encode v at dst (room for 5 / 10 bytes); return the number of bytes written. */
int put_varint32(uint8_t *dst, uint32_t v);
int put_varint64(uint8_t *dst, uint64_t v);
int varint_length(uint64_t v);

/* Decode from [p, limit); return the byte after the varint, or NULL if it is truncated or
 * malformed.  Never reads at or past limit. */
const uint8_t *get_varint32(const uint8_t *p, const uint8_t *limit, uint32_t *v);
const uint8_t *get_varint64(const uint8_t *p, const uint8_t *limit, uint64_t *v);

/* A growable byte buffer; zero-initialise it, free with buf_free.  Appends return 0 or
 * LSM_ENOMEM. */
typedef struct buf {
    uint8_t *data;
    size_t len, cap;
} buf;
int buf_reserve(buf *b, size_t extra);
int buf_append(buf *b, const void *p, size_t n);
int buf_append_varint32(buf *b, uint32_t v);
int buf_append_varint64(buf *b, uint64_t v);
int buf_append_fixed32(buf *b, uint32_t v);
int buf_append_fixed64(buf *b, uint64_t v);
void buf_free(buf *b);

#endif
