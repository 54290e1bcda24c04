/*
 * sstable_format.h — constants and small codecs shared by the SSTable builder and reader.
 * Every byte is described in lsm/FORMAT.md ("SSTable"); this header is the code side of it.
 *
 * File:   data block* | filter block? | properties block | index block | footer (64 bytes)
 * Block on disk: payload | type (1 byte: 0 raw, 1 LZ4) | masked crc32c(payload + type) (fixed32)
 * Block handle:  varint64 offset | varint64 payload size (trailer not included)
 */
#ifndef LSM_SSTABLE_FORMAT_H
#define LSM_SSTABLE_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "block.h"
#include "coding.h"

#define SST_MAGIC UINT64_C(0x31305453534d534c) /* bytes "LSMSST01" little-endian */
#define SST_FORMAT_VERSION 1u
#define SST_FOOTER_SIZE 64
#define SST_BLOCK_TRAILER 5
#define SST_BLOCK_RAW 0
#define SST_BLOCK_LZ4 1
/* Largest uncompressed block a reader accepts: one maximal key and value plus headers. */
#define SST_MAX_BLOCK ((size_t)1 << 30)

typedef struct sst_handle {
    uint64_t offset, size;
} sst_handle;

static inline int sst_handle_encode(uint8_t *dst, sst_handle h)
{
    int n = put_varint64(dst, h.offset);
    return n + put_varint64(dst + n, h.size);
}

/* Decode a handle that must fill [p, limit) exactly.  Returns 0 or -1. */
static inline int sst_handle_decode(const uint8_t *p, const uint8_t *limit, sst_handle *h)
{
    p = get_varint64(p, limit, &h->offset);
    if (p) p = get_varint64(p, limit, &h->size);
    return p == limit ? 0 : -1;
}

/* A block read from a table: the uncompressed contents follow the header in one allocation,
 * which is also what the block cache holds (freed with free()). */
typedef struct sst_block {
    block b;      /* parsed view over data (data / index blocks only) */
    size_t len;   /* bytes of contents in data[] */
    uint8_t data[];
} sst_block;

#endif
