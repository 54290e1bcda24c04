/*
 * sstable_builder.c — writes an SSTable (layout in sstable_format.h and lsm/FORMAT.md).
 *
 * Entries stream into a data block; when it reaches block_size it is compressed (LZ4, kept only
 * if that saves at least 1/8; a big block is tried on a sample first), framed with a type byte
 * and masked CRC, and appended to an output buffer that is written out in 64 KiB pieces (a
 * block of 64 KiB or more is written from where it is).  A value of 64 KiB or more arriving at
 * an empty block that would not be compressed (a file chunk of random or compressed data) is
 * not even copied into the block: its block is written around it, from the caller's buffer.
 * With sst_options.direct the bytes go to the file through a direct_writer (O_DIRECT, staged
 * in aligned buffers) instead of the page cache.  The index entry for a block is added
 * when the NEXT key arrives, so that it can be a short separator between the two blocks (as
 * LevelDB's FindShortestSeparator) instead of a full key.  The bloom filter is built at the end
 * from one 32-bit hash per distinct user key.  Bytes go to PATH.tmp; finish fsyncs it, renames
 * it to PATH and fsyncs the directory, so a table is either complete under its name or absent.
 */
#include <errno.h>
#include <fcntl.h>
#include <lz4.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block_builder.h"
#include "bloom.h"
#include "crc32c.h"
#include "direct_writer.h"
#include "helper_thread.h"
#include "sstable.h"
#include "sstable_format.h"
#include "status.h"

#define OUT_FLUSH (64 * 1024)
/* A big table (a bulk ingest, a large memtable) asks the kernel to start writing back every
 * WRITEBACK_STEP bytes, so the fsync in finish does not wait for all of it at once. */
#define WRITEBACK_STEP (4u << 20)
/* ... and the helper makes it durable every SYNC_STEP bytes.  Started writeback lands in the
 * disk's volatile cache (a VM's host page cache), and the fsync at the end then waited for a
 * cache flush of all of it: 1.5 s of a 1 GiB table set's 3.7 s on this machine's virtual disk.
 * Flushed as it goes, a big load runs at the disk's speed with the writer, and the final fsync
 * takes 0.05 s: 1 GiB written and fsynced through lsmfs went from 272-323 MB/s to 343-375 MB/s
 * (4, 8 and 16 MiB steps alike; 64 MiB was slower). */
#define SYNC_STEP (8u << 20)

/* Writeback hints from a helper thread.  sync_file_range(SYNC_FILE_RANGE_WRITE) is where ext4
 * allocates the blocks of delayed-allocation pages and submits their I/O: about a tenth of
 * the time of writing a big table, spent by the writer itself (lsmfs answering a WRITE, its
 * fs lock held).  A table big enough to be hinted gets a helper thread that gives the hints
 * instead, so the writer goes on meanwhile; the helper gives its last hint and ends before
 * the file is synced or closed.  Only the POSIX environment's hint is given from another
 * thread (a test environment need not be thread-safe); the others are hinted inline. */
typedef struct wb_helper {
    helper_thread t;     /* t.mu guards the fields below */
    uint64_t want, done; /* the helper hints [done, want) next */
    uint64_t synced;     /* file offset up to which the helper's fdatasync made data durable */
    int err;             /* the helper's first fdatasync error (it consumed the file's report) */
} wb_helper;

struct sst_builder {
    lsm_env *env;
    char *path, *tmp_path;
    int fd;
    sst_options opt;
    uint64_t file_number;
    uint64_t offset;     /* file offset of the next block (including bytes still in out) */
    uint64_t out_off;    /* file offset of out.data[0] */
    buf out;             /* framed blocks not yet written */
    direct_writer dw;    /* where written bytes go: to the file, or staged for O_DIRECT */
    buf cbuf;            /* compression scratch */
    block_builder data, index;
    buf last_key;        /* the last internal key added */
    int pending_index;   /* a data block was written; its index entry awaits the next key */
    sst_handle pending;
    buf hashes;          /* uint32_t bloom hashes, one per distinct user key */
    buf smallest;
    uint64_t entries, deletions, raw_key_bytes, raw_value_bytes, data_blocks;
    uint64_t written_back; /* file offset up to which writeback was started (or asked for) */
    wb_helper wb;
    int err;             /* first error; sticky */
};

void sst_meta_clear(sst_meta *m)
{
    free(m->smallest);
    free(m->largest);
    m->smallest = m->largest = NULL;
    m->smallest_len = m->largest_len = 0;
}

static int fail(sst_builder *b, int rc, const char *what)
{
    if (!b->err) b->err = lsm_error(rc, "%s: %s: %s", b->tmp_path, what, strerror(-rc));
    return b->err;
}

static void *wb_main(void *arg)
{
    sst_builder *b = arg;
    wb_helper *w = &b->wb;
    pthread_mutex_lock(&w->t.mu);
    for (;;) {
        while (!w->t.stop && w->want == w->done) pthread_cond_wait(&w->t.cv, &w->t.mu);
        if (w->want == w->done) break; /* stopped, nothing left */
        uint64_t lo = w->done, hi = w->want;
        pthread_mutex_unlock(&w->t.mu);
        b->env->start_writeback(b->env, b->fd, (off_t)lo, (off_t)(hi - lo));
        int sync = hi - w->synced >= SYNC_STEP;
        int rc = sync ? b->env->fdatasync(b->env, b->fd) : 0;
        pthread_mutex_lock(&w->t.mu);
        w->done = hi;
        if (rc && !w->err) w->err = rc;
        if (sync && !rc) w->synced = hi;
    }
    pthread_mutex_unlock(&w->t.mu);
    return NULL;
}

/* Start b's helper; 0 if there is none (another environment, or no thread to be had). */
static int wb_start(sst_builder *b)
{
    wb_helper *w = &b->wb;
    if (b->env != lsm_env_posix()) return 0;
    w->want = w->done = w->synced = b->written_back;
    w->err = 0;
    return helper_thread_start(&w->t, wb_main, b);
}

/* Wait until the helper has given every hint asked for, and end it; returns its fdatasync
 * error (0 if none, or if there was no helper). */
static int wb_stop(sst_builder *b)
{
    if (!b->wb.t.running) return 0;
    helper_thread_stop(&b->wb.t);
    return b->wb.err;
}

/* Hint the kernel to write back what was written since the last hint, every WRITEBACK_STEP,
 * through the helper when there is one.  Only a hint: a failure is not an error (the fsync in
 * finish reports real ones). */
static void maybe_start_writeback(sst_builder *b)
{
    if (!b->env->start_writeback || b->out_off - b->written_back < WRITEBACK_STEP) return;
    if (b->wb.t.running || wb_start(b)) {
        pthread_mutex_lock(&b->wb.t.mu);
        b->wb.want = b->out_off;
        pthread_cond_signal(&b->wb.t.cv);
        pthread_mutex_unlock(&b->wb.t.mu);
    } else {
        b->env->start_writeback(b->env, b->fd, (off_t)b->written_back,
                                (off_t)(b->out_off - b->written_back));
    }
    b->written_back = b->out_off;
}

static int fail_write(sst_builder *b, int rc, uint64_t at)
{
    char what[64];
    snprintf(what, sizeof what, "write at offset %llu", (unsigned long long)at);
    return fail(b, rc, what);
}

/* Append n bytes at p to the file (at out_off). */
static int emit(sst_builder *b, const uint8_t *p, size_t n)
{
    uint64_t at = b->out_off;
    int rc = direct_writer_append(&b->dw, p, n, &at);
    if (rc) return fail_write(b, rc, at);
    b->out_off += n;
    maybe_start_writeback(b);
    return 0;
}

static int flush_out(sst_builder *b)
{
    if (b->err) return b->err;
    if (!b->out.len) return 0;
    int rc = emit(b, b->out.data, b->out.len);
    if (!rc) b->out.len = 0;
    return rc;
}

/* Whether a block of n bytes is worth compressing: blocks of SAMPLE_MIN bytes or more (big
 * values, such as file chunks) compress a SAMPLE-byte piece of their middle first, and are
 * stored raw at once when it does not shrink by the 1/8 a whole block must save: random or
 * already compressed data then costs no full LZ4 pass. */
#define SAMPLE 4096
#define SAMPLE_MIN (4 * SAMPLE)
static int sample_shrinks(sst_builder *b, const uint8_t *sample)
{
    if (buf_reserve(&b->cbuf, (size_t)LZ4_compressBound(SAMPLE))) return 1;
    int c = LZ4_compress_default((const char *)sample, (char *)b->cbuf.data, SAMPLE,
                                 LZ4_compressBound(SAMPLE));
    return c > 0 && (size_t)c < SAMPLE - SAMPLE / 8;
}

static int sample_compresses(sst_builder *b, const uint8_t *contents, size_t n)
{
    return n < SAMPLE_MIN || sample_shrinks(b, contents + n / 2 - SAMPLE / 2);
}

/* Frame contents as a block (compressing when allowed and worth it), queue it for writing,
 * and return its handle. */
static int write_block(sst_builder *b, const uint8_t *contents, size_t n, int may_compress,
                       sst_handle *h)
{
    if (b->err) return b->err;
    const uint8_t *payload = contents;
    size_t plen = n;
    uint8_t type = SST_BLOCK_RAW;
    int rc;
    if (may_compress && b->opt.compression == LSM_COMPRESSION_LZ4 && n >= 64 &&
        n <= LZ4_MAX_INPUT_SIZE && sample_compresses(b, contents, n)) {
        if ((rc = buf_reserve(&b->cbuf, 5 + (size_t)LZ4_compressBound((int)n))))
            return fail(b, rc, "out of memory");
        int hdr = put_varint32(b->cbuf.data, (uint32_t)n);
        int c = LZ4_compress_default((const char *)contents, (char *)b->cbuf.data + hdr, (int)n,
                                     LZ4_compressBound((int)n));
        if (c > 0 && (size_t)c + (size_t)hdr < n - n / 8) {
            payload = b->cbuf.data;
            plen = (size_t)c + (size_t)hdr;
            type = SST_BLOCK_LZ4;
        }
    }
    uint8_t trailer[SST_BLOCK_TRAILER];
    trailer[0] = type;
    put_fixed32(trailer + 1, crc32c_mask(crc32c_extend(crc32c_value(payload, plen), &type, 1)));
    if (plen >= OUT_FLUSH) {
        /* a big block (a file chunk) goes to the file from where it is, not through out */
        if ((rc = flush_out(b))) return rc;
        if ((rc = emit(b, payload, plen))) return rc;
    } else if ((rc = buf_append(&b->out, payload, plen))) {
        return fail(b, rc, "out of memory");
    }
    if ((rc = buf_append(&b->out, trailer, 5))) return fail(b, rc, "out of memory");
    h->offset = b->offset;
    h->size = plen;
    b->offset += plen + SST_BLOCK_TRAILER;
    return b->out.len >= OUT_FLUSH ? flush_out(b) : 0;
}

/* Whether write_block would try to compress a block holding only this entry: the same test on
 * the same sample bytes (the block's middle lies in the value). */
static int will_compress(sst_builder *b, size_t ikey_len, const uint8_t *value, size_t vlen)
{
    size_t hlen = 1 + (size_t)varint_length(ikey_len) + (size_t)varint_length(vlen) + ikey_len;
    size_t n = hlen + vlen + 8; /* header, value, one restart and the restart count */
    if (b->opt.compression != LSM_COMPRESSION_LZ4 || n > LZ4_MAX_INPUT_SIZE) return 0;
    if (n < SAMPLE_MIN || n / 2 - SAMPLE / 2 < hlen) return 1; /* (callers pass big values) */
    return sample_shrinks(b, value + (n / 2 - SAMPLE / 2 - hlen));
}

/* Write a data block holding exactly one entry (ikey, value), as block_builder would lay it
 * out, without copying the value: header and restart array around it, the CRC over the three
 * pieces.  Then its index entry waits for the next key, as after flush_data_block. */
static int write_single_entry_block(sst_builder *b, const uint8_t *ikey, size_t klen,
                                    const uint8_t *value, size_t vlen)
{
    uint8_t head[20 + 3], tail[8];
    uint8_t *p = head;
    p += put_varint32(p, 0); /* shared */
    p += put_varint32(p, (uint32_t)klen);
    p += put_varint32(p, (uint32_t)vlen);
    size_t hlen = (size_t)(p - head);
    put_fixed32(tail, 0); /* the one restart, at offset 0 */
    put_fixed32(tail + 4, 1);
    uint8_t trailer[SST_BLOCK_TRAILER];
    trailer[0] = SST_BLOCK_RAW;
    uint32_t crc = crc32c_extend(crc32c_value(head, hlen), ikey, klen);
    crc = crc32c_extend(crc32c_extend(crc, value, vlen), tail, sizeof tail);
    put_fixed32(trailer + 1, crc32c_mask(crc32c_extend(crc, trailer, 1)));
    int rc = buf_append(&b->out, head, hlen);
    if (!rc) rc = buf_append(&b->out, ikey, klen);
    if (rc) return fail(b, rc, "out of memory");
    if ((rc = flush_out(b)) || (rc = emit(b, value, vlen))) return rc;
    if ((rc = buf_append(&b->out, tail, sizeof tail)) ||
        (rc = buf_append(&b->out, trailer, sizeof trailer)))
        return fail(b, rc, "out of memory");
    size_t n = hlen + klen + vlen + sizeof tail;
    b->pending.offset = b->offset;
    b->pending.size = n;
    b->offset += n + SST_BLOCK_TRAILER;
    b->pending_index = 1;
    b->data_blocks++;
    return b->out.len >= OUT_FLUSH ? flush_out(b) : 0;
}

static int flush_data_block(sst_builder *b)
{
    const uint8_t *contents;
    size_t n;
    int rc = block_builder_finish(&b->data, &contents, &n);
    if (rc) return fail(b, rc, "out of memory");
    if ((rc = write_block(b, contents, n, 1, &b->pending))) return rc;
    block_builder_reset(&b->data);
    b->pending_index = 1;
    b->data_blocks++;
    return 0;
}

static int add_index_entry(sst_builder *b, const uint8_t *key, size_t klen)
{
    uint8_t enc[20];
    int n = sst_handle_encode(enc, b->pending);
    int rc = block_builder_add(&b->index, key, klen, enc, (size_t)n);
    if (rc) return fail(b, rc, "out of memory");
    b->pending_index = 0;
    return 0;
}

/* dst = user-key prefix u[0..i) + (u[i] + 1), with the largest trailer (newest sequence),
 * which sorts first among that user key's versions. */
static int bumped_key(buf *dst, const uint8_t *u, size_t i)
{
    uint8_t c = (uint8_t)(u[i] + 1);
    int rc = buf_append(dst, u, i);
    if (!rc) rc = buf_append(dst, &c, 1);
    if (!rc) rc = buf_append_fixed64(dst, ikey_pack(IKEY_MAX_SEQ, IKEY_TYPE_SEEK));
    return rc;
}

/* Into dst: an internal key k with last <= k < next (next NULL: any k >= last), as short as
 * the user keys allow (LevelDB's FindShortestSeparator / FindShortSuccessor on user keys).
 * The bumped user key is > user(last) and < user(next), so the order against both neighbours
 * holds whatever their sequences. */
static int separator(buf *dst, const uint8_t *last, size_t llen, const uint8_t *next, size_t nlen)
{
    slice a = ikey_user(last, llen);
    size_t i = 0;
    dst->len = 0;
    if (next) {
        slice z = ikey_user(next, nlen);
        size_t m = a.len < z.len ? a.len : z.len;
        while (i < m && a.data[i] == z.data[i]) i++;
        if (i < m && a.data[i] < 0xff && a.data[i] + 1 < z.data[i]) return bumped_key(dst, a.data, i);
    } else {
        while (i < a.len && a.data[i] == 0xff) i++;
        if (i < a.len) return bumped_key(dst, a.data, i);
    }
    return buf_append(dst, last, llen); /* cannot shorten: the last key itself */
}

int sst_builder_open(lsm_env *env, const char *path, uint64_t file_number,
                     const sst_options *opt, sst_builder **out)
{
    *out = NULL;
    sst_builder *b = calloc(1, sizeof *b);
    size_t plen = strlen(path);
    if (!b || !(b->path = strdup(path)) || !(b->tmp_path = malloc(plen + 5))) {
        if (b) free(b->path);
        free(b);
        return lsm_error(LSM_ENOMEM, "%s: out of memory", path);
    }
    memcpy(b->tmp_path, path, plen);
    memcpy(b->tmp_path + plen, ".tmp", 5);
    b->env = env ? env : lsm_env_posix();
    b->opt = *opt;
    if (b->opt.block_size == 0) b->opt.block_size = 4096;
    if (b->opt.restart_interval < 1) b->opt.restart_interval = 16;
    b->file_number = file_number;
    block_builder_init(&b->data, b->opt.restart_interval);
    block_builder_init(&b->index, 1); /* every index key whole: seeks compare in place */
    b->fd = b->env->open(b->env, b->tmp_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (b->fd < 0) {
        int rc = lsm_error(b->fd, "%s: create: %s", b->tmp_path, strerror(-b->fd));
        b->fd = -1;
        sst_builder_abandon(b);
        return rc;
    }
    direct_writer_init(&b->dw, b->env, b->fd, b->opt.direct);
    *out = b;
    return 0;
}

int sst_builder_add(sst_builder *b, const uint8_t *ikey, size_t ikey_len, const uint8_t *value,
                    size_t value_len)
{
    if (b->err) return b->err;
    if (ikey_len < IKEY_TRAILER || ikey_len - IKEY_TRAILER > LSM_MAX_KEY_SIZE)
        return lsm_error(LSM_EINVAL, "%s: bad internal key length %zu", b->tmp_path, ikey_len);
    int first = b->entries == 0;
    if (!first && ikey_compare(b->last_key.data, b->last_key.len, ikey, ikey_len) >= 0)
        return lsm_error(LSM_EINVAL, "%s: keys added out of order", b->tmp_path);
    if (b->pending_index) {
        buf sep = {0};
        int rc = separator(&sep, b->last_key.data, b->last_key.len, ikey, ikey_len);
        if (rc) {
            buf_free(&sep);
            return fail(b, rc, "out of memory");
        }
        rc = add_index_entry(b, sep.data, sep.len);
        buf_free(&sep);
        if (rc) return rc;
    }
    slice u = ikey_user(ikey, ikey_len);
    int rc = 0;
    int new_user_key = first;
    if (!first) {
        slice lu = ikey_user(b->last_key.data, b->last_key.len);
        new_user_key = ukey_compare(lu.data, lu.len, u.data, u.len) != 0;
    }
    if (b->opt.bloom_bits_per_key > 0 && new_user_key) {
        uint32_t h = bloom_hash(u.data, u.len);
        rc = buf_append(&b->hashes, &h, sizeof h);
    }
    if (!rc && first) rc = buf_append(&b->smallest, ikey, ikey_len);
    /* A value that fills a block by itself, in an empty block, that will not be compressed
     * (a file chunk of random or compressed data) goes to the file from the caller's buffer. */
    int direct = block_builder_empty(&b->data) && value_len >= b->opt.block_size &&
                 value_len >= OUT_FLUSH && !will_compress(b, ikey_len, value, value_len);
    if (!rc && !direct) rc = block_builder_add(&b->data, ikey, ikey_len, value, value_len);
    if (!rc) {
        b->last_key.len = 0;
        rc = buf_append(&b->last_key, ikey, ikey_len);
    }
    if (rc) return fail(b, rc, "out of memory");
    b->entries++;
    if (ikey_kind(ikey, ikey_len) == IKEY_TYPE_DELETE) b->deletions++;
    b->raw_key_bytes += u.len;
    b->raw_value_bytes += value_len;
    if (direct) return write_single_entry_block(b, ikey, ikey_len, value, value_len);
    if (block_builder_size(&b->data) >= b->opt.block_size) return flush_data_block(b);
    return 0;
}

uint64_t sst_builder_entries(const sst_builder *b) { return b->entries; }

uint64_t sst_builder_file_size(const sst_builder *b)
{
    return b->offset + (block_builder_empty(&b->data) ? 0 : block_builder_size(&b->data));
}

static int encode_properties(sst_builder *b, buf *p)
{
    int rc = 0;
    uint64_t v[5] = {b->entries, b->deletions, b->raw_key_bytes, b->raw_value_bytes,
                     b->data_blocks};
    for (int i = 0; i < 5 && !rc; i++) rc = buf_append_varint64(p, v[i]);
    if (!rc) rc = buf_append_varint32(p, (uint32_t)b->smallest.len);
    if (!rc) rc = buf_append(p, b->smallest.data, b->smallest.len);
    if (!rc) rc = buf_append_varint32(p, (uint32_t)b->last_key.len);
    if (!rc) rc = buf_append(p, b->last_key.data, b->last_key.len);
    return rc;
}

static void builder_free(sst_builder *b)
{
    block_builder_free(&b->data);
    block_builder_free(&b->index);
    direct_writer_free(&b->dw);
    buf_free(&b->out);
    buf_free(&b->cbuf);
    buf_free(&b->last_key);
    buf_free(&b->hashes);
    buf_free(&b->smallest);
    free(b->path);
    free(b->tmp_path);
    free(b);
}

static void dir_of(const char *path, char *dir, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, cap, ".");
        return;
    }
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    snprintf(dir, cap, "%.*s", (int)n, path);
}

/* Everything after the last data block, then make the file durable under its final name
 * (defer: leave it, closed, at its temporary name, for sst_table_publish). */
static int finish_file(sst_builder *b, int defer)
{
    int rc;
    sst_handle filter = {0, 0}, props, index;
    if (!block_builder_empty(&b->data) && (rc = flush_data_block(b))) return rc;
    if (b->pending_index) {
        buf sep = {0};
        rc = separator(&sep, b->last_key.data, b->last_key.len, NULL, 0);
        if (!rc) rc = add_index_entry(b, sep.data, sep.len);
        else fail(b, rc, "out of memory");
        buf_free(&sep);
        if (rc) return rc;
    }
    if (b->opt.bloom_bits_per_key > 0) {
        buf f = {0};
        rc = bloom_build(&f, (const uint32_t *)b->hashes.data, b->hashes.len / sizeof(uint32_t),
                         b->opt.bloom_bits_per_key);
        if (rc) fail(b, rc, "out of memory");
        else rc = write_block(b, f.data, f.len, 0, &filter);
        buf_free(&f);
        if (rc) return rc;
    }
    buf p = {0};
    rc = encode_properties(b, &p);
    if (rc) fail(b, rc, "out of memory");
    else rc = write_block(b, p.data, p.len, 0, &props);
    buf_free(&p);
    if (rc) return rc;
    const uint8_t *ic;
    size_t ilen;
    if ((rc = block_builder_finish(&b->index, &ic, &ilen))) return fail(b, rc, "out of memory");
    if ((rc = write_block(b, ic, ilen, 0, &index))) return rc;

    uint8_t foot[SST_FOOTER_SIZE];
    put_fixed64(foot + 0, index.offset);
    put_fixed64(foot + 8, index.size);
    put_fixed64(foot + 16, filter.offset);
    put_fixed64(foot + 24, filter.size);
    put_fixed64(foot + 32, props.offset);
    put_fixed64(foot + 40, props.size);
    put_fixed32(foot + 48, SST_FORMAT_VERSION);
    put_fixed32(foot + 52, crc32c_mask(crc32c_value(foot, 52)));
    put_fixed64(foot + 56, SST_MAGIC);
    if ((rc = buf_append(&b->out, foot, sizeof foot))) return fail(b, rc, "out of memory");
    b->offset += sizeof foot;
    if ((rc = flush_out(b))) return rc;
    uint64_t at = b->out_off;
    if ((rc = direct_writer_flush(&b->dw, &at))) return fail_write(b, rc, at);
    if ((rc = wb_stop(b))) return fail(b, rc, "fdatasync");
    if (defer) {
        /* the rest of the file goes to disk in the background until sst_table_publish */
        if (b->env->start_writeback && b->out_off > b->written_back)
            b->env->start_writeback(b->env, b->fd, (off_t)b->written_back,
                                    (off_t)(b->out_off - b->written_back));
        rc = b->env->close(b->env, b->fd);
        b->fd = -1;
        return rc ? fail(b, rc, "close") : 0;
    }

    if ((rc = b->env->fsync(b->env, b->fd))) return fail(b, rc, "fsync");
    rc = b->env->close(b->env, b->fd);
    b->fd = -1;
    if (rc) return fail(b, rc, "close");
    if ((rc = b->env->rename(b->env, b->tmp_path, b->path))) return fail(b, rc, "rename");
    char dir[4096];
    dir_of(b->path, dir, sizeof dir);
    if ((rc = b->env->fsync_dir(b->env, dir))) {
        b->env->unlink(b->env, b->path); /* not durable: leave nothing behind */
        return b->err = lsm_error(rc, "%s: fsync of directory %s: %s", b->path, dir,
                                  strerror(-rc));
    }
    return 0;
}

/* Finish b (see finish_file), fill *meta and free b. */
static int finish(sst_builder *b, sst_meta *meta, int defer)
{
    int rc = b->err ? b->err : finish_file(b, defer);
    if (rc) {
        sst_builder_abandon(b);
        return rc;
    }
    memset(meta, 0, sizeof *meta);
    meta->file_number = b->file_number;
    meta->file_size = b->offset;
    meta->num_entries = b->entries;
    meta->num_deletions = b->deletions;
    meta->raw_key_bytes = b->raw_key_bytes;
    meta->raw_value_bytes = b->raw_value_bytes;
    meta->direct_bytes = b->dw.direct_bytes;
    /* Hand the key buffers over instead of copying them. */
    meta->smallest = b->smallest.data;
    meta->smallest_len = b->smallest.len;
    meta->largest = b->last_key.data;
    meta->largest_len = b->last_key.len;
    b->smallest.data = b->last_key.data = NULL;
    builder_free(b);
    return 0;
}

int sst_builder_finish(sst_builder *b, sst_meta *meta) { return finish(b, meta, 0); }

int sst_builder_finish_unsynced(sst_builder *b, sst_meta *meta) { return finish(b, meta, 1); }

int sst_table_publish(lsm_env *env, const char *path)
{
    size_t n = strlen(path);
    char *tmp = malloc(n + 5);
    if (!tmp) return lsm_error(LSM_ENOMEM, "%s: out of memory", path);
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".tmp", 5);
    int rc = 0;
    int fd = env->open(env, tmp, O_WRONLY, 0); /* (for writing: an env may track syncs by writer) */
    if (fd < 0) rc = lsm_error(fd, "%s: open: %s", tmp, strerror(-fd));
    if (!rc && (rc = env->fsync(env, fd))) rc = lsm_error(rc, "%s: fsync: %s", tmp, strerror(-rc));
    if (fd >= 0) {
        int c = env->close(env, fd);
        if (!rc && c) rc = lsm_error(c, "%s: close: %s", tmp, strerror(-c));
    }
    if (!rc && (rc = env->rename(env, tmp, path)))
        rc = lsm_error(rc, "%s: rename to %s: %s", tmp, path, strerror(-rc));
    free(tmp);
    return rc;
}

void sst_builder_abandon(sst_builder *b)
{
    if (!b) return;
    wb_stop(b);
    direct_writer_free(&b->dw); /* its helper may be writing to fd */
    if (b->fd >= 0) b->env->close(b->env, b->fd);
    if (b->tmp_path) b->env->unlink(b->env, b->tmp_path);
    builder_free(b);
}
