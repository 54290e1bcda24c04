/*
 * write_batch.c — building, merging and decoding write batches (format in write_batch.h).
 *
 * Batches are validated against the key/value limits as operations are added, so a batch that
 * reaches the WAL is always well-formed; decoding still checks every length because WAL
 * records come back from disk.
 */
#include <stdlib.h>
#include <string.h>

#include "ikey.h"
#include "status.h"
#include "write_batch.h"

int wb_init(lsm_batch *b)
{
    memset(b, 0, sizeof *b);
    uint8_t hdr[WB_HEADER] = {0};
    if (buf_append(&b->rep, hdr, sizeof hdr) != 0)
        return lsm_error(LSM_ENOMEM, "write batch: out of memory");
    return 0;
}

void wb_destroy(lsm_batch *b) { buf_free(&b->rep); }

uint64_t wb_seq(const lsm_batch *b) { return get_fixed64(b->rep.data); }
void wb_set_seq(lsm_batch *b, uint64_t seq) { put_fixed64(b->rep.data, seq); }
uint32_t wb_count(const lsm_batch *b) { return get_fixed32(b->rep.data + 8); }
static void wb_set_count(lsm_batch *b, uint32_t n) { put_fixed32(b->rep.data + 8, n); }

lsm_batch *lsm_batch_new(void)
{
    lsm_batch *b = malloc(sizeof *b);
    if (!b) return NULL;
    if (wb_init(b) != 0) {
        free(b);
        return NULL;
    }
    return b;
}

void lsm_batch_free(lsm_batch *b)
{
    if (!b) return;
    wb_destroy(b);
    free(b);
}

static int check_limits(size_t klen, const size_t *vlen)
{
    if (klen > LSM_MAX_KEY_SIZE)
        return lsm_error(LSM_ETOOBIG, "key of %zu bytes exceeds the limit of %u bytes", klen,
                         LSM_MAX_KEY_SIZE);
    if (vlen && *vlen > LSM_MAX_VALUE_SIZE)
        return lsm_error(LSM_ETOOBIG, "value of %zu bytes exceeds the limit of %u bytes", *vlen,
                         LSM_MAX_VALUE_SIZE);
    return 0;
}

static int wb_add(lsm_batch *b, int type, const void *key, size_t klen, const void *val,
                  size_t vlen)
{
    int rc = check_limits(klen, type == IKEY_TYPE_VALUE ? &vlen : NULL);
    if (rc) return rc;
    if (wb_count(b) == UINT32_MAX)
        return lsm_error(LSM_ETOOBIG, "write batch: too many operations");
    size_t old = b->rep.len;
    uint8_t t = (uint8_t)type;
    if (buf_reserve(&b->rep, 1 + 10 + klen + vlen) != 0 || buf_append(&b->rep, &t, 1) != 0 ||
        buf_append_varint32(&b->rep, (uint32_t)klen) != 0 ||
        buf_append(&b->rep, key, klen) != 0 ||
        (type == IKEY_TYPE_VALUE && (buf_append_varint32(&b->rep, (uint32_t)vlen) != 0 ||
                                     buf_append(&b->rep, val, vlen) != 0))) {
        b->rep.len = old;
        return lsm_error(LSM_ENOMEM, "write batch: out of memory");
    }
    wb_set_count(b, wb_count(b) + 1);
    return 0;
}

int lsm_batch_put(lsm_batch *b, const void *key, size_t key_len, const void *value,
                  size_t value_len)
{
    return wb_add(b, IKEY_TYPE_VALUE, key, key_len, value, value_len);
}

int lsm_batch_delete(lsm_batch *b, const void *key, size_t key_len)
{
    return wb_add(b, IKEY_TYPE_DELETE, key, key_len, NULL, 0);
}

void lsm_batch_clear(lsm_batch *b)
{
    b->rep.len = WB_HEADER;
    memset(b->rep.data, 0, WB_HEADER);
}

size_t lsm_batch_count(const lsm_batch *b) { return wb_count(b); }
size_t lsm_batch_size(const lsm_batch *b) { return b->rep.len - WB_HEADER; }

int wb_append(lsm_batch *dst, const lsm_batch *src)
{
    if (buf_append(&dst->rep, src->rep.data + WB_HEADER, src->rep.len - WB_HEADER) != 0)
        return lsm_error(LSM_ENOMEM, "write batch: out of memory");
    wb_set_count(dst, wb_count(dst) + wb_count(src));
    return 0;
}

int wb_iterate(const uint8_t *rep, size_t len, uint64_t *seq_out, wb_op_fn fn, void *arg)
{
    if (len < WB_HEADER)
        return lsm_error(LSM_ECORRUPT, "write batch: %zu bytes is shorter than its header", len);
    uint64_t seq = get_fixed64(rep);
    uint32_t count = get_fixed32(rep + 8);
    if (seq_out) *seq_out = seq;
    const uint8_t *p = rep + WB_HEADER, *end = rep + len;
    uint32_t i;
    for (i = 0; p < end; i++) {
        int type = *p++;
        uint32_t klen, vlen = 0;
        const uint8_t *k, *v = NULL;
        if (type != IKEY_TYPE_VALUE && type != IKEY_TYPE_DELETE)
            return lsm_error(LSM_ECORRUPT, "write batch: op %u has unknown type %d", i, type);
        p = get_varint32(p, end, &klen);
        if (!p || klen > (size_t)(end - p))
            return lsm_error(LSM_ECORRUPT, "write batch: op %u: truncated key", i);
        k = p;
        p += klen;
        if (type == IKEY_TYPE_VALUE) {
            p = get_varint32(p, end, &vlen);
            if (!p || vlen > (size_t)(end - p))
                return lsm_error(LSM_ECORRUPT, "write batch: op %u: truncated value", i);
            v = p;
            p += vlen;
        }
        if (i >= count)
            return lsm_error(LSM_ECORRUPT, "write batch: more operations than its count %u",
                             count);
        int rc = fn(arg, seq + i, type, k, klen, v, vlen);
        if (rc) return rc;
    }
    if (i != count)
        return lsm_error(LSM_ECORRUPT, "write batch: %u operations, header says %u", i, count);
    return 0;
}

static int insert_op(void *arg, uint64_t seq, int type, const uint8_t *key, size_t klen,
                     const uint8_t *val, size_t vlen)
{
    int rc = memtable_add(arg, seq, type, key, klen, val, vlen);
    if (rc) return lsm_error(rc, "memtable insert: out of memory");
    return 0;
}

int wb_insert_into(const uint8_t *rep, size_t len, memtable *m)
{
    return wb_iterate(rep, len, NULL, insert_op, m);
}
