/*
 * sstable.h — immutable sorted tables: the builder that writes one, the reader that serves it.
 *
 * A table holds internal keys (ikey.h) in ikey_compare order, in LZ4-compressed data blocks
 * with prefix-compressed keys and restart points, a one-entry-per-block index, a bloom filter
 * over user keys, a properties block and a footer with magic and version.  Every block carries
 * a masked CRC32C.  The exact bytes are in lsm/FORMAT.md.
 */
#ifndef LSM_SSTABLE_H
#define LSM_SSTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "env.h"
#include "iterator.h"

typedef struct sst_options {
    size_t block_size;       /* target uncompressed data block size */
    int restart_interval;    /* keys between restart points */
    int bloom_bits_per_key;  /* 0: no filter */
    int compression;         /* enum lsm_compression */
    int direct;              /* write with O_DIRECT where possible (direct_writer.h): for
                              * tables whose pages nobody will read soon (ingests) */
} sst_options;

/* What the manifest records about a finished table. */
typedef struct sst_meta {
    uint64_t file_number;
    uint64_t file_size;
    uint64_t num_entries;
    uint64_t num_deletions;
    uint64_t raw_key_bytes, raw_value_bytes; /* uncompressed user bytes */
    uint8_t *smallest; size_t smallest_len;  /* internal keys, malloc'd */
    uint8_t *largest; size_t largest_len;
    uint64_t direct_bytes;                   /* of file_size, written with O_DIRECT (not kept) */
} sst_meta;
void sst_meta_clear(sst_meta *m); /* free the key copies */

typedef struct sst_builder sst_builder;

/* Start a table whose final name is path; bytes go to path + ".tmp" until sst_builder_finish.
 * file_number is recorded in the meta. */
int sst_builder_open(lsm_env *env, const char *path, uint64_t file_number,
                     const sst_options *opt, sst_builder **out);
/* Append an entry.  REQUIRES: ikey > every key added before (ikey_compare). */
int sst_builder_add(sst_builder *b, const uint8_t *ikey, size_t ikey_len, const uint8_t *value,
                    size_t value_len);
uint64_t sst_builder_entries(const sst_builder *b);
/* Bytes written so far plus the pending block: for splitting output at a target size. */
uint64_t sst_builder_file_size(const sst_builder *b);
/* Write filter, index, properties and footer; fsync; rename path.tmp -> path; fsync the
 * directory; fill *meta (caller owns its keys) and free b.  On error the temp file is removed,
 * b is freed and nothing is left behind.  REQUIRES: at least one entry was added. */
int sst_builder_finish(sst_builder *b, sst_meta *meta);
/* As sst_builder_finish, but without the fsync and the rename: the complete table is left
 * at path.tmp, closed, its writeback started, for a caller that finishes several tables and
 * then makes them durable at once (an ingest): sst_table_publish each, then fsync the
 * directory.  On error the temp file is removed and b freed. */
int sst_builder_finish_unsynced(sst_builder *b, sst_meta *meta);
/* Make the table that sst_builder_finish_unsynced left at path.tmp durable under path: fsync
 * it, rename it.  The caller fsyncs the directory after.  On error path.tmp may remain. */
int sst_table_publish(lsm_env *env, const char *path);
/* Give up: remove the temp file and free b. */
void sst_builder_abandon(sst_builder *b);

typedef struct sst_reader sst_reader;

/* Open path, read and verify footer, index and filter.  cache may be NULL.  Errors name the
 * file and offset.  The reader holds one descriptor until sst_reader_close. */
int sst_reader_open(lsm_env *env, const char *path, uint64_t file_number, block_cache *cache,
                    sst_reader **out);
void sst_reader_close(sst_reader *r);

/* Result of a point lookup. */
enum sst_get_result { SST_GET_ABSENT = 0, SST_GET_VALUE = 1, SST_GET_DELETED = 2 };
/* Find the newest entry for user key ukey with sequence <= seq.  On SST_GET_VALUE, *value is
 * malloc'd (caller frees).  Returns the enum value (>= 0) or a negative error.  Uses the bloom
 * filter first; *bloom_checked / *bloom_negative (may be NULL) are set to 1 when the filter
 * was consulted / ruled the key out. */
int sst_reader_get(sst_reader *r, const uint8_t *ukey, size_t ukey_len, uint64_t seq,
                   int fill_cache, void **value, size_t *value_len, int *bloom_checked,
                   int *bloom_negative);
/* A caller's buffer for a looked-up value: cap bytes at buf. */
typedef struct sst_value_dst {
    uint8_t *buf;
    size_t cap;
} sst_value_dst;
/* As sst_reader_get, but with dst non-NULL a value found goes into dst->buf instead of a
 * malloc'd copy: its first min(length, dst->cap) bytes, with *value = dst->buf and
 * *value_len its whole length.  A big value alone in its block (a file chunk) that is not in
 * the cache, or not to be cached, is read from the file straight into dst->buf with one
 * preadv around it, the block's checksum verified as for any read. */
int sst_reader_get_into(sst_reader *r, const uint8_t *ukey, size_t ukey_len, uint64_t seq,
                        int fill_cache, const sst_value_dst *dst, void **value,
                        size_t *value_len, int *bloom_checked, int *bloom_negative);
/* True if the filter says ukey may be present (always true without a filter). */
int sst_reader_may_contain(sst_reader *r, const uint8_t *ukey, size_t ukey_len);

/* Iterator over every entry; it holds no reference on r, so r must outlive it. */
iter *sst_reader_iter(sst_reader *r, int fill_cache);

/* A forward-only iterator for salvage (lsm_repair): like sst_reader_iter without the block
 * cache, except that a damaged data block is reported through report(arg, message) and
 * skipped, so the entries of every readable block are yielded.  A damaged index still ends it
 * with an error.  Seeking backwards (seek_last, prev) behaves as in sst_reader_iter. */
iter *sst_reader_salvage_iter(sst_reader *r, void (*report)(void *arg, const char *line),
                              void *arg);

/* Read every block and check every checksum and the key order; report problems through
 * report(arg, line) and add the bytes checked to *done.  Returns 0 or LSM_ECORRUPT. */
int sst_reader_verify(sst_reader *r, void (*report)(void *arg, const char *line), void *arg,
                      uint64_t *done);
uint64_t sst_reader_file_size(const sst_reader *r);
/* Approximate byte offset in the file where ikey would be. */
uint64_t sst_reader_approx_offset(sst_reader *r, const uint8_t *ikey, size_t len);

#endif
