/*
 * block_builder.c — prefix-compressed block writer (format in block_builder.h / FORMAT.md).
 */
#include <string.h>

#include "block_builder.h"
#include "lsm.h"

void block_builder_init(block_builder *bb, int restart_interval)
{
    memset(bb, 0, sizeof *bb);
    bb->interval = restart_interval < 1 ? 1 : restart_interval;
}

void block_builder_reset(block_builder *bb)
{
    bb->data.len = 0;
    bb->restarts.len = 0;
    bb->last_key.len = 0;
    bb->counter = 0;
    bb->entries = 0;
    bb->finished = 0;
}

void block_builder_free(block_builder *bb)
{
    buf_free(&bb->data);
    buf_free(&bb->restarts);
    buf_free(&bb->last_key);
}

int block_builder_add(block_builder *bb, const uint8_t *key, size_t klen, const uint8_t *value,
                      size_t vlen)
{
    size_t shared = 0;
    int rc;
    if (bb->counter >= bb->interval || bb->entries == 0) {
        rc = buf_append_fixed32(&bb->restarts, (uint32_t)bb->data.len);
        if (rc) return rc;
        bb->counter = 0;
    } else {
        size_t n = bb->last_key.len < klen ? bb->last_key.len : klen;
        while (shared < n && bb->last_key.data[shared] == key[shared]) shared++;
    }
    if ((rc = buf_reserve(&bb->data, 15 + (klen - shared) + vlen))) return rc;
    uint8_t *p = bb->data.data + bb->data.len;
    p += put_varint32(p, (uint32_t)shared);
    p += put_varint32(p, (uint32_t)(klen - shared));
    p += put_varint32(p, (uint32_t)vlen);
    memcpy(p, key + shared, klen - shared);
    p += klen - shared;
    if (vlen) memcpy(p, value, vlen);
    p += vlen;
    bb->data.len = (size_t)(p - bb->data.data);

    bb->last_key.len = shared;
    if ((rc = buf_append(&bb->last_key, key + shared, klen - shared))) return rc;
    bb->counter++;
    bb->entries++;
    return 0;
}

int block_builder_finish(block_builder *bb, const uint8_t **out, size_t *len)
{
    if (!bb->finished) {
        if (bb->restarts.len == 0) {
            int rc = buf_append_fixed32(&bb->restarts, 0); /* an empty block still has one */
            if (rc) return rc;
        }
        int rc = buf_append(&bb->data, bb->restarts.data, bb->restarts.len);
        if (!rc) rc = buf_append_fixed32(&bb->data, (uint32_t)(bb->restarts.len / 4));
        if (rc) return rc;
        bb->finished = 1;
    }
    *out = bb->data.data;
    *len = bb->data.len;
    return 0;
}
