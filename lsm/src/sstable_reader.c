/*
 * sstable_reader.c — serves an SSTable: point lookups, a two-level iterator, verification.
 *
 * Opening reads the 64-byte footer, then the index, filter and properties blocks, verifying
 * every checksum; the index and filter stay in memory for the reader's life.  A lookup asks
 * the bloom filter, seeks the in-memory index, and reads exactly one data block: from the block
 * cache (pinned by a handle, no copy) or with a single pread, checksum verified every time
 * before anything in it is parsed.  Nothing in the file is trusted: handles are checked
 * against the file's extent and blocks against their CRC, so a damaged file yields
 * LSM_ECORRUPT with a message "PATH: block at offset N: why", never a crash or wrong data.
 * A lookup into the caller's buffer (sst_reader_get_into) reads a big value that is alone in
 * its block from the file straight into that buffer, around it only the block's few head and
 * tail bytes (see get_direct): a big sequential read of lsmfs then copies each byte once
 * from the page cache instead of into a block buffer and out again.
 */
#include <errno.h>
#include <fcntl.h>
#include <lz4.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bloom.h"
#include "crc32c.h"
#include "sstable.h"
#include "sstable_format.h"
#include "status.h"

struct sst_reader {
    lsm_env *env;
    int fd;
    char *path;
    uint64_t file_number;
    uint64_t file_size;
    uint64_t footer_off; /* blocks must end at or before this */
    uint64_t data_end;   /* first byte after the data blocks */
    block_cache *cache;
    sst_block *index;
    sst_block *filter;   /* NULL: table has no filter */
    uint64_t index_off;
    uint64_t num_entries;
};

static int corrupt_at(const sst_reader *r, uint64_t off, const char *why)
{
    return lsm_error(LSM_ECORRUPT, "%s: block at offset %llu: %s", r->path,
                     (unsigned long long)off, why);
}

/* Read, verify and (if compressed) decompress the block at h; parse: also block_init it. */
static int read_block(const sst_reader *r, sst_handle h, int parse, sst_block **out)
{
    *out = NULL;
    if (h.size > r->footer_off || h.offset > r->footer_off - h.size ||
        r->footer_off - h.size - h.offset < SST_BLOCK_TRAILER)
        return corrupt_at(r, h.offset, "block handle points outside the file");
    size_t n = (size_t)h.size + SST_BLOCK_TRAILER;
    sst_block *blk = malloc(sizeof *blk + n);
    if (!blk) return lsm_error(LSM_ENOMEM, "%s: out of memory for a %zu-byte block", r->path, n);
    int rc = env_read_full(r->env, r->fd, blk->data, n, (off_t)h.offset);
    if (rc) {
        free(blk);
        if (rc == -ENODATA) return corrupt_at(r, h.offset, "file ends inside the block");
        return lsm_error(rc, "%s: read of block at offset %llu: %s", r->path,
                         (unsigned long long)h.offset, strerror(-rc));
    }
    const uint8_t *payload = blk->data;
    size_t plen = (size_t)h.size;
    uint32_t stored = crc32c_unmask(get_fixed32(payload + plen + 1));
    if (crc32c_value(payload, plen + 1) != stored) { /* payload and type byte */
        free(blk);
        return corrupt_at(r, h.offset, "checksum mismatch");
    }
    uint8_t type = payload[plen];
    if (type == SST_BLOCK_RAW) {
        blk->len = plen;
    } else if (type == SST_BLOCK_LZ4) {
        uint32_t raw_len;
        const uint8_t *p = get_varint32(payload, payload + plen, &raw_len);
        size_t clen = p ? plen - (size_t)(p - payload) : 0;
        if (!p || raw_len > SST_MAX_BLOCK || clen > INT32_MAX || raw_len > clen * 255 + 64) {
            free(blk);
            return corrupt_at(r, h.offset, "bad compressed length");
        }
        sst_block *dec = malloc(sizeof *dec + raw_len);
        if (!dec) {
            free(blk);
            return lsm_error(LSM_ENOMEM, "%s: out of memory for a %u-byte block", r->path, raw_len);
        }
        int got = LZ4_decompress_safe((const char *)p, (char *)dec->data, (int)clen, (int)raw_len);
        free(blk);
        if (got < 0 || (uint32_t)got != raw_len) {
            free(dec);
            return corrupt_at(r, h.offset, "LZ4 data does not decompress");
        }
        dec->len = raw_len;
        blk = dec;
    } else {
        free(blk);
        return corrupt_at(r, h.offset, "unknown compression type");
    }
    if (parse && block_init(&blk->b, blk->data, blk->len)) {
        free(blk);
        return lsm_error_prefix(LSM_ECORRUPT, "%s: block at offset %llu", r->path,
                                (unsigned long long)h.offset);
    }
    *out = blk;
    return 0;
}

/* A data block through the cache.  On success *blk is usable until the caller releases *ch
 * (when non-NULL) or frees *blk (when *ch is NULL). */
static int get_block(const sst_reader *r, sst_handle h, int fill_cache, sst_block **blk,
                     cache_handle **ch)
{
    *ch = NULL;
    if (r->cache) {
        cache_handle *hit = cache_lookup(r->cache, r->file_number, h.offset);
        if (hit) {
            *blk = cache_value(hit);
            *ch = hit;
            return 0;
        }
    }
    int rc = read_block(r, h, 1, blk);
    if (rc || !r->cache || !fill_cache) return rc;
    *ch = cache_insert(r->cache, r->file_number, h.offset, *blk, sizeof **blk + (*blk)->len, free);
    if (!*ch) {
        *blk = NULL;
        return lsm_error(LSM_ENOMEM, "%s: out of memory caching a block", r->path);
    }
    return 0;
}

static void put_block(const sst_reader *r, sst_block *blk, cache_handle *ch)
{
    if (ch)
        cache_release(r->cache, ch);
    else
        free(blk);
}

static int parse_properties(sst_reader *r, const sst_block *p, uint64_t off)
{
    const uint8_t *q = p->data, *end = p->data + p->len;
    uint64_t v[5];
    for (int i = 0; i < 5; i++)
        if (!(q = get_varint64(q, end, &v[i]))) return corrupt_at(r, off, "bad properties");
    for (int i = 0; i < 2; i++) { /* smallest and largest keys: only checked here */
        uint32_t klen;
        if (!(q = get_varint32(q, end, &klen)) || klen > (size_t)(end - q))
            return corrupt_at(r, off, "bad properties");
        q += klen;
    }
    r->num_entries = v[0];
    return 0;
}

int sst_reader_open(lsm_env *env, const char *path, uint64_t file_number, block_cache *cache,
                    sst_reader **out)
{
    *out = NULL;
    sst_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) {
        free(r);
        return lsm_error(LSM_ENOMEM, "%s: out of memory", path);
    }
    r->env = env ? env : lsm_env_posix();
    r->file_number = file_number;
    r->cache = cache;
    int rc;
    r->fd = r->env->open(r->env, path, O_RDONLY, 0);
    if (r->fd < 0) {
        rc = lsm_error(r->fd, "%s: open: %s", path, strerror(-r->fd));
        r->fd = -1;
        goto fail;
    }
    if ((rc = r->env->fsize(r->env, r->fd, &r->file_size))) {
        rc = lsm_error(rc, "%s: size: %s", path, strerror(-rc));
        goto fail;
    }
    if (r->file_size < SST_FOOTER_SIZE) {
        rc = lsm_error(LSM_ECORRUPT, "%s: file of %llu bytes is too short for a table", path,
                       (unsigned long long)r->file_size);
        goto fail;
    }
    r->footer_off = r->file_size - SST_FOOTER_SIZE;
    uint8_t foot[SST_FOOTER_SIZE];
    if ((rc = env_read_full(r->env, r->fd, foot, sizeof foot, (off_t)r->footer_off))) {
        rc = rc == -ENODATA ? corrupt_at(r, r->footer_off, "file ends inside the footer")
                            : lsm_error(rc, "%s: read of footer: %s", path, strerror(-rc));
        goto fail;
    }
    if (get_fixed64(foot + 56) != SST_MAGIC) {
        rc = lsm_error(LSM_ECORRUPT, "%s: footer at offset %llu: bad magic (not a table, or "
                       "truncated)", path, (unsigned long long)r->footer_off);
        goto fail;
    }
    if (crc32c_unmask(get_fixed32(foot + 52)) != crc32c_value(foot, 52)) {
        rc = lsm_error(LSM_ECORRUPT, "%s: footer at offset %llu: checksum mismatch", path,
                       (unsigned long long)r->footer_off);
        goto fail;
    }
    if (get_fixed32(foot + 48) != SST_FORMAT_VERSION) {
        rc = lsm_error(LSM_ECORRUPT, "%s: footer at offset %llu: unknown format version %u",
                       path, (unsigned long long)r->footer_off, get_fixed32(foot + 48));
        goto fail;
    }
    sst_handle index = {get_fixed64(foot), get_fixed64(foot + 8)};
    sst_handle filter = {get_fixed64(foot + 16), get_fixed64(foot + 24)};
    sst_handle props = {get_fixed64(foot + 32), get_fixed64(foot + 40)};
    if ((rc = read_block(r, index, 1, &r->index))) goto fail;
    r->index_off = index.offset;
    sst_block *pb;
    if ((rc = read_block(r, props, 0, &pb))) goto fail;
    rc = parse_properties(r, pb, props.offset);
    free(pb);
    if (rc) goto fail;
    r->data_end = props.offset < index.offset ? props.offset : index.offset;
    if (filter.size) {
        if ((rc = read_block(r, filter, 0, &r->filter))) goto fail;
        if (filter.offset < r->data_end) r->data_end = filter.offset;
    }
    *out = r;
    return 0;
fail:
    sst_reader_close(r);
    return rc;
}

void sst_reader_close(sst_reader *r)
{
    if (!r) return;
    if (r->fd >= 0) r->env->close(r->env, r->fd);
    free(r->index);
    free(r->filter);
    free(r->path);
    free(r);
}

uint64_t sst_reader_file_size(const sst_reader *r) { return r->file_size; }

int sst_reader_may_contain(sst_reader *r, const uint8_t *ukey, size_t ukey_len)
{
    return !r->filter || bloom_may_contain(r->filter->data, r->filter->len, ukey, ukey_len);
}

/* Decode the block handle under the index cursor. */
static int index_handle(const sst_reader *r, const block_iter *ix, sst_handle *h)
{
    if (sst_handle_decode(ix->val, ix->val + ix->val_len, h))
        return corrupt_at(r, r->index_off, "bad block handle in the index");
    return 0;
}

/* Name the file and block in the message a block cursor left (index cursor: its offset). */
static int cursor_error(const sst_reader *r, const block_iter *bi, uint64_t block_off)
{
    return lsm_error_prefix(bi->status, "%s: block at offset %llu", r->path,
                            (unsigned long long)block_off);
}

/* Reading a value straight into the caller's buffer.  A block holding one entry is laid out
 * as head (shared = 0, key length, value length: three varints), internal key, value, then
 * the restart array (0, 1) and the trailer; from the handle's size and the key's length the
 * value's place follows.  One preadv puts head and key, value, and the rest in three buffers,
 * the value's being the caller's, and the CRC runs over the three pieces.  Anything that is
 * not exactly such a block of this key, visible at seq, raw and intact, gives DIRECT_NO and
 * the caller reads the block the usual way (which also reports damage with its message). */
#define DIRECT_MIN 16384 /* smaller values: the usual read costs no more */
#define DIRECT_NO 3      /* not an sst_get_result: "read it the usual way" */

/* The value length of a one-entry block of payload size `size` whose internal key has klen
 * bytes, and the length of the head before the key; 0 if no such layout exists. */
static int direct_layout(uint64_t size, size_t klen, size_t *hlen, size_t *vlen)
{
    for (int vv = 1; vv <= 5; vv++) {
        size_t h = 1 + (size_t)varint_length(klen) + (size_t)vv;
        if (size < h + klen + 8)
            return 0;
        uint64_t v = size - h - klen - 8;
        if (varint_length(v) == vv && v <= UINT32_MAX) {
            *hlen = h;
            *vlen = (size_t)v;
            return 1;
        }
    }
    return 0;
}

/* Whether the head and key read into hk, and the tail, are those of a one-entry block of
 * ukey's value of vlen bytes visible at seq. */
static int direct_entry_ok(const uint8_t *hk, size_t hlen, size_t klen, size_t vlen,
                           const uint8_t *tail, const uint8_t *ukey, size_t ukey_len, uint64_t seq)
{
    uint32_t shared, nonshared, vl;
    const uint8_t *p = get_varint32(hk, hk + hlen, &shared);
    if (p) p = get_varint32(p, hk + hlen, &nonshared);
    if (p) p = get_varint32(p, hk + hlen, &vl);
    if (!p || p != hk + hlen || shared != 0 || nonshared != klen || vl != vlen) return 0;
    const uint8_t *key = hk + hlen;
    return memcmp(key, ukey, ukey_len) == 0 && ikey_kind(key, klen) == IKEY_TYPE_VALUE &&
           ikey_seq(key, klen) <= seq && get_fixed32(tail) == 0 && get_fixed32(tail + 4) == 1;
}

/* The value of ukey from the block at h straight into dst: SST_GET_VALUE, DIRECT_NO, or a
 * negative error of the read itself. */
static int get_direct(const sst_reader *r, sst_handle h, const uint8_t *ukey, size_t ukey_len,
                      uint64_t seq, const sst_value_dst *dst, size_t *value_len)
{
    size_t klen = ukey_len + IKEY_TRAILER, hlen = 0, vlen = 0;
    uint8_t hk[64], tail[8 + SST_BLOCK_TRAILER];
    if (h.size > r->footer_off || h.offset > r->footer_off - h.size ||
        r->footer_off - h.size - h.offset < SST_BLOCK_TRAILER)
        return DIRECT_NO; /* the usual read reports the bad handle */
    if (!direct_layout(h.size, klen, &hlen, &vlen) || vlen > dst->cap || hlen + klen > sizeof hk)
        return DIRECT_NO;
    struct iovec iov[3] = {{hk, hlen + klen}, {dst->buf, vlen}, {tail, sizeof tail}};
    size_t n = hlen + klen + vlen + sizeof tail;
    ssize_t got = r->env->preadv(r->env, r->fd, iov, 3, (off_t)h.offset);
    if (got < 0)
        return lsm_error((int)got, "%s: read of block at offset %llu: %s", r->path,
                         (unsigned long long)h.offset, strerror((int)-got));
    if ((size_t)got != n) return DIRECT_NO;
    uint32_t crc = crc32c_extend(crc32c_value(hk, hlen + klen), dst->buf, vlen);
    crc = crc32c_extend(crc, tail, 8 + 1); /* restart array and type byte */
    if (tail[8] != SST_BLOCK_RAW || crc != crc32c_unmask(get_fixed32(tail + 9)) ||
        !direct_entry_ok(hk, hlen, klen, vlen, tail, ukey, ukey_len, seq))
        return DIRECT_NO;
    *value_len = vlen;
    return SST_GET_VALUE;
}

/* Whether the block at h is worth reading straight into dst (big, and not to come from or go
 * to the cache). */
static int want_direct(const sst_reader *r, sst_handle h, int fill_cache, const sst_value_dst *dst)
{
    if (!dst || !r->env->preadv || h.size < DIRECT_MIN || dst->cap < DIRECT_MIN) return 0;
    if (!r->cache) return 1;
    if (fill_cache) return 0;
    cache_handle *hit = cache_lookup(r->cache, r->file_number, h.offset);
    if (hit) cache_release(r->cache, hit);
    return hit == NULL;
}

/* The value the block iterator di stands on, to the caller: copied into dst or malloc'd. */
static int give_value(const sst_reader *r, const block_iter *di, const sst_value_dst *dst,
                      void **value, size_t *value_len)
{
    void *v = dst ? dst->buf : malloc(di->val_len ? di->val_len : 1);
    if (!v && !dst) return lsm_error(LSM_ENOMEM, "%s: out of memory for a value", r->path);
    size_t n = dst && di->val_len > dst->cap ? dst->cap : di->val_len;
    if (n) memcpy(v, di->val, n);
    *value = v;
    *value_len = di->val_len;
    return SST_GET_VALUE;
}

int sst_reader_get(sst_reader *r, const uint8_t *ukey, size_t ukey_len, uint64_t seq,
                   int fill_cache, void **value, size_t *value_len, int *bloom_checked,
                   int *bloom_negative)
{
    return sst_reader_get_into(r, ukey, ukey_len, seq, fill_cache, NULL, value, value_len,
                               bloom_checked, bloom_negative);
}

int sst_reader_get_into(sst_reader *r, const uint8_t *ukey, size_t ukey_len, uint64_t seq,
                        int fill_cache, const sst_value_dst *dst, void **value,
                        size_t *value_len, int *bloom_checked, int *bloom_negative)
{
    if (bloom_checked) *bloom_checked = r->filter != NULL;
    if (bloom_negative) *bloom_negative = 0;
    if (r->filter && !bloom_may_contain(r->filter->data, r->filter->len, ukey, ukey_len)) {
        if (bloom_negative) *bloom_negative = 1;
        return SST_GET_ABSENT;
    }
    uint8_t small[256];
    uint8_t *target = ukey_len + IKEY_TRAILER <= sizeof small ? small
                                                               : malloc(ukey_len + IKEY_TRAILER);
    if (!target) return lsm_error(LSM_ENOMEM, "%s: out of memory", r->path);
    size_t tlen = ikey_build(target, ukey, ukey_len, seq > IKEY_MAX_SEQ ? IKEY_MAX_SEQ : seq,
                             IKEY_TYPE_SEEK);
    int rc = SST_GET_ABSENT;
    block_iter ix, di;
    block_iter_init(&ix, &r->index->b);
    block_iter_seek(&ix, target, tlen);
    if (!block_iter_valid(&ix)) {
        if (ix.status) rc = cursor_error(r, &ix, r->index_off);
        goto out_ix;
    }
    sst_handle h;
    if ((rc = index_handle(r, &ix, &h))) goto out_ix;
    if (want_direct(r, h, fill_cache, dst)) {
        rc = get_direct(r, h, ukey, ukey_len, seq, dst, value_len);
        if (rc != DIRECT_NO) {
            if (rc == SST_GET_VALUE) *value = dst->buf;
            goto out_ix;
        }
    }
    sst_block *blk;
    cache_handle *ch;
    if ((rc = get_block(r, h, fill_cache, &blk, &ch))) goto out_ix;
    block_iter_init(&di, &blk->b);
    block_iter_seek(&di, target, tlen);
    rc = SST_GET_ABSENT;
    if (block_iter_valid(&di)) {
        slice u = ikey_user(di.key, di.key_len);
        if (ukey_compare(u.data, u.len, ukey, ukey_len) == 0) {
            if (ikey_kind(di.key, di.key_len) == IKEY_TYPE_DELETE) {
                rc = SST_GET_DELETED;
            } else if (ikey_kind(di.key, di.key_len) != IKEY_TYPE_VALUE) {
                rc = lsm_error(LSM_ECORRUPT, "%s: block at offset %llu: unknown entry type %d",
                               r->path, (unsigned long long)h.offset,
                               ikey_kind(di.key, di.key_len));
            } else {
                rc = give_value(r, &di, dst, value, value_len);
            }
        }
    } else if (di.status) {
        rc = cursor_error(r, &di, h.offset);
    }
    block_iter_release(&di);
    put_block(r, blk, ch);
out_ix:
    block_iter_release(&ix);
    if (target != small) free(target);
    return rc;
}

uint64_t sst_reader_approx_offset(sst_reader *r, const uint8_t *ikey, size_t len)
{
    block_iter ix;
    sst_handle h;
    uint64_t off = r->data_end;
    block_iter_init(&ix, &r->index->b);
    block_iter_seek(&ix, ikey, len);
    if (block_iter_valid(&ix) && !sst_handle_decode(ix.val, ix.val + ix.val_len, &h))
        off = h.offset;
    block_iter_release(&ix);
    return off;
}

/* ---- the two-level iterator: index cursor -> data block cursor ---- */

typedef struct sst_iter {
    iter base;
    sst_reader *r;
    int fill_cache;
    int status;
    block_iter index;
    sst_block *blk;     /* current data block, or NULL */
    cache_handle *ch;   /* its pin, or NULL when the iterator owns blk */
    uint64_t blk_off;
    block_iter data;
    /* Salvage mode (repair): a damaged data block is reported and stepped over going forward,
     * instead of ending the scan. */
    int salvage;
    void (*report)(void *arg, const char *line);
    void *report_arg;
} sst_iter;

static void drop_block(sst_iter *it)
{
    if (!it->blk) return;
    block_iter_release(&it->data);
    put_block(it->r, it->blk, it->ch);
    it->blk = NULL;
    it->ch = NULL;
}

static void set_error(sst_iter *it, int rc)
{
    it->status = rc;
    snprintf(it->base.errmsg, sizeof it->base.errmsg, "%s", lsm_last_error());
    drop_block(it);
}

/* Load the data block the index cursor points at (kept if it is already loaded).  Returns 0,
 * or -1 with the iterator in error. */
static int load_block(sst_iter *it)
{
    sst_handle h;
    int rc = index_handle(it->r, &it->index, &h);
    if (rc) {
        set_error(it, rc);
        return -1;
    }
    if (it->blk && it->blk_off == h.offset) return 0;
    drop_block(it);
    if ((rc = get_block(it->r, h, it->fill_cache, &it->blk, &it->ch))) {
        it->blk = NULL;
        set_error(it, rc);
        return -1;
    }
    it->blk_off = h.offset;
    block_iter_init(&it->data, &it->blk->b);
    return 0;
}

/* In salvage mode, going forward: report the damaged block the iterator just failed on,
 * forget the error and move the index cursor past the block.  Returns 1 when the scan can go
 * on, 0 when the error stands. */
static int salvage_past(sst_iter *it, int forward)
{
    if (!it->salvage || !forward || !it->status || !block_iter_valid(&it->index)) return 0;
    if (it->report) it->report(it->report_arg, it->base.errmsg);
    it->status = 0;
    it->base.errmsg[0] = '\0';
    drop_block(it);
    block_iter_next(&it->index);
    return 1;
}

/* After a data cursor move: surface its error, or step over exhausted blocks. */
static void skip(sst_iter *it, int forward)
{
    for (;;) {
        if (it->status) return;
        if (it->blk && it->data.status) {
            set_error(it, cursor_error(it->r, &it->data, it->blk_off));
            if (salvage_past(it, forward)) continue;
            return;
        }
        if (it->blk && block_iter_valid(&it->data)) return;
        if (it->blk) {
            if (forward)
                block_iter_next(&it->index);
            else
                block_iter_prev(&it->index);
        }
        if (!block_iter_valid(&it->index)) {
            if (it->index.status) set_error(it, cursor_error(it->r, &it->index, it->r->index_off));
            drop_block(it);
            return;
        }
        if (load_block(it)) {
            if (salvage_past(it, forward)) continue;
            return;
        }
        if (forward)
            block_iter_seek_first(&it->data);
        else
            block_iter_seek_last(&it->data);
    }
}

static void si_seek_first(iter *b)
{
    sst_iter *it = (sst_iter *)b;
    if (it->status) return;
    drop_block(it);
    block_iter_seek_first(&it->index);
    skip(it, 1);
}

static void si_seek_last(iter *b)
{
    sst_iter *it = (sst_iter *)b;
    if (it->status) return;
    drop_block(it);
    block_iter_seek_last(&it->index);
    skip(it, 0);
}

static void si_seek(iter *b, const uint8_t *target, size_t len)
{
    sst_iter *it = (sst_iter *)b;
    if (it->status) return;
    block_iter_seek(&it->index, target, len);
    if (!block_iter_valid(&it->index)) {
        drop_block(it);
        skip(it, 1); /* reports an index error, or ends */
        return;
    }
    if (load_block(it)) return;
    block_iter_seek(&it->data, target, len);
    skip(it, 1);
}

static void si_next(iter *b)
{
    sst_iter *it = (sst_iter *)b;
    block_iter_next(&it->data);
    if (!it->data.status && block_iter_valid(&it->data))
        return; /* still within the block: the common case, without skip's call */
    skip(it, 1);
}

static void si_prev(iter *b)
{
    sst_iter *it = (sst_iter *)b;
    block_iter_prev(&it->data);
    skip(it, 0);
}

static int si_valid(const iter *b)
{
    const sst_iter *it = (const sst_iter *)b;
    return !it->status && it->blk && block_iter_valid(&it->data);
}

static slice si_key(const iter *b)
{
    const sst_iter *it = (const sst_iter *)b;
    slice s = {it->data.key, it->data.key_len};
    return s;
}

static slice si_value(const iter *b)
{
    const sst_iter *it = (const sst_iter *)b;
    slice s = {it->data.val, it->data.val_len};
    return s;
}

static int si_status(const iter *b) { return ((const sst_iter *)b)->status; }

static void si_destroy(iter *b)
{
    sst_iter *it = (sst_iter *)b;
    drop_block(it);
    block_iter_release(&it->index);
    free(it);
}

static const struct iter_ops sst_iter_ops = {
    .seek_first = si_seek_first, .seek_last = si_seek_last, .seek = si_seek,
    .next = si_next,             .prev = si_prev,           .valid = si_valid,
    .key = si_key,               .value = si_value,         .status = si_status,
    .destroy = si_destroy,
};

iter *sst_reader_iter(sst_reader *r, int fill_cache)
{
    sst_iter *it = calloc(1, sizeof *it);
    if (!it) {
        lsm_error(LSM_ENOMEM, "%s: out of memory for an iterator", r->path);
        return iter_new_empty(LSM_ENOMEM, lsm_last_error());
    }
    it->base.ops = &sst_iter_ops;
    it->r = r;
    it->fill_cache = fill_cache;
    block_iter_init(&it->index, &r->index->b);
    return &it->base;
}

iter *sst_reader_salvage_iter(sst_reader *r, void (*report)(void *arg, const char *line),
                              void *arg)
{
    iter *b = sst_reader_iter(r, 0);
    if (b->ops == &sst_iter_ops) {
        sst_iter *it = (sst_iter *)b;
        it->salvage = 1;
        it->report = report;
        it->report_arg = arg;
    }
    return b;
}

/* ---- verification ---- */

static void reportf(void (*report)(void *, const char *), void *arg, const char *line)
{
    if (report) report(arg, line);
}

int sst_reader_verify(sst_reader *r, void (*report)(void *arg, const char *line), void *arg,
                      uint64_t *done)
{
    int bad = 0;
    uint64_t count = 0;
    buf prev = {0};
    char line[512];
    block_iter ix, di;
    block_iter_init(&ix, &r->index->b);
    /* The footer and the index, filter and properties blocks were verified by open. */
    if (done) *done += r->file_size - r->data_end;
    for (block_iter_seek_first(&ix); block_iter_valid(&ix); block_iter_next(&ix)) {
        sst_handle h;
        sst_block *blk;
        if (index_handle(r, &ix, &h) || read_block(r, h, 1, &blk)) {
            reportf(report, arg, lsm_last_error());
            bad++;
            continue;
        }
        if (done) *done += h.size + SST_BLOCK_TRAILER;
        block_iter_init(&di, &blk->b);
        for (block_iter_seek_first(&di); block_iter_valid(&di); block_iter_next(&di)) {
            count++;
            const char *why = NULL;
            if (prev.len && ikey_compare(prev.data, prev.len, di.key, di.key_len) >= 0)
                why = "key out of order";
            else if (ikey_compare(di.key, di.key_len, ix.key, ix.key_len) > 0)
                why = "key beyond its index entry";
            if (why) {
                snprintf(line, sizeof line, "%s: block at offset %llu: %s", r->path,
                         (unsigned long long)h.offset, why);
                reportf(report, arg, line);
                bad++;
                break;
            }
            prev.len = 0;
            if (buf_append(&prev, di.key, di.key_len)) {
                block_iter_release(&di);
                free(blk);
                block_iter_release(&ix);
                buf_free(&prev);
                return lsm_error(LSM_ENOMEM, "%s: out of memory", r->path);
            }
        }
        if (di.status) {
            cursor_error(r, &di, h.offset);
            reportf(report, arg, lsm_last_error());
            bad++;
        }
        block_iter_release(&di);
        free(blk);
    }
    if (ix.status) {
        cursor_error(r, &ix, r->index_off);
        reportf(report, arg, lsm_last_error());
        bad++;
    }
    if (!bad && count != r->num_entries) {
        snprintf(line, sizeof line, "%s: %llu entries found, properties say %llu", r->path,
                 (unsigned long long)count, (unsigned long long)r->num_entries);
        reportf(report, arg, line);
        bad++;
    }
    block_iter_release(&ix);
    buf_free(&prev);
    if (bad)
        return lsm_error(LSM_ECORRUPT, "%s: %d problem%s found", r->path, bad, bad > 1 ? "s" : "");
    return 0;
}
