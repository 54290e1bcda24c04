/*
 * bench_engine.h — the small vtable db_bench drives, one adapter per key-value engine.
 *
 * db_bench.c runs the same workloads against liblsm (bench_lsm.c), LevelDB (bench_leveldb.c,
 * through <leveldb/c.h>) and RocksDB (bench_rocksdb.c, through <rocksdb/c.h>).  Each adapter
 * maps one shared bench_config onto its engine's options, so that the comparison uses the same
 * memtable size, block size, bloom bits, block cache and compression family; everything else
 * stays at the engine's own defaults (that is what a user of the engine gets).
 *
 * Error convention: functions returning int give 0 on success and a negative value on failure,
 * after printing one line naming the engine, the operation and the engine's message to stderr.
 * The benchmark treats any failure as fatal for that engine's run.
 */
#ifndef BENCH_ENGINE_H
#define BENCH_ENGINE_H

#include <stddef.h>
#include <stdint.h>

/* What "compression" means per engine: BENCH_COMPRESS_FAST is LZ4 for liblsm and RocksDB and
 * Snappy for LevelDB (LevelDB 1.23 has only Snappy or nothing; Snappy is the same family of
 * fast byte-oriented LZ77 coders, so it is the closest match).  BENCH_COMPRESS_NONE turns it off
 * for every engine, which is the strictly like-for-like configuration. */
enum bench_compress { BENCH_COMPRESS_FAST = 0, BENCH_COMPRESS_NONE = 1 };

typedef struct bench_config {
    size_t memtable_size;  /* write buffer before a flush (4 MiB) */
    size_t block_size;     /* SSTable data block target (4 KiB) */
    size_t cache_size;     /* block cache of uncompressed blocks (8 MiB) */
    int bloom_bits;        /* bloom filter bits per key (10) */
    int compress;          /* enum bench_compress */
    int max_open_files;    /* open table files the engine may keep */
    int tiered;            /* liblsm only: 1 selects size-tiered compaction */
} bench_config;

/* Classes of files in a store directory, so on-disk size can be split into tables, logs and
 * the rest (manifests, info logs, lock files). */
enum bench_file_class { BENCH_FILE_OTHER = 0, BENCH_FILE_TABLE = 1, BENCH_FILE_WAL = 2 };

typedef struct bench_engine {
    const char *name;          /* "lsm", "lsm-tiered", "leveldb", "rocksdb" */
    const char *stats_property; /* the engine's human-readable statistics property */

    /* Open (creating if missing) the store in dir; *db receives the handle. */
    int (*open)(const bench_config *cfg, const char *dir, void **db);
    /* Close cleanly (flushes what the engine flushes on close) and free the handle. */
    int (*close)(void *db);
    /* Write one key; sync=1 makes the write durable (fsync) before returning. */
    int (*put)(void *db, const char *key, size_t key_len, const char *val, size_t val_len,
               int sync);
    int (*del)(void *db, const char *key, size_t key_len, int sync);
    /* Point lookup: 1 found (value length in *val_len), 0 absent, negative on error. */
    int (*get)(void *db, const char *key, size_t key_len, size_t *val_len);

    /* Iterators over the latest state. */
    void *(*iter_new)(void *db);
    void (*iter_seek_first)(void *it);
    void (*iter_seek)(void *it, const char *key, size_t key_len);
    int (*iter_valid)(void *it);
    void (*iter_next)(void *it);
    /* Key and value of a valid iterator; pointers valid until the next move. */
    const char *(*iter_key)(void *it, size_t *len);
    const char *(*iter_value)(void *it, size_t *len);
    /* 0, or negative if the iterator stopped on an error. */
    int (*iter_status)(void *it);
    void (*iter_free)(void *it);

    /* A property as a malloc'd string the caller frees with free(), or NULL if unknown. */
    char *(*property)(void *db, const char *name);
    /* Compact the whole key space down to the last level; waits until done. */
    int (*compact_all)(void *db);
    /* Bytes of SSTables the engine itself says it has written so far (flushes + compactions),
     * parsed from its statistics; negative if unavailable.  Used for write amplification. */
    double (*table_bytes_written)(void *db);
    /* Optional (NULL if the engine has none): the engine's own write and space amplification
     * figures, as its statistics define them. */
    int (*reported_amp)(void *db, double *wamp, double *samp);
    /* Classify a file name found in a store directory. */
    int (*file_class)(const char *name);
} bench_engine;

extern const bench_engine bench_engine_lsm;
extern const bench_engine bench_engine_lsm_tiered;
extern const bench_engine bench_engine_leveldb;
extern const bench_engine bench_engine_rocksdb;

#endif
