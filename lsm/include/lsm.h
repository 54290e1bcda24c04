/*
 * lsm.h — the whole public surface of liblsm, an embedded LSM-tree key-value store.
 *
 * A store is a directory holding a write-ahead log, immutable sorted tables (SSTables) and a
 * manifest that lists the live tables.  Keys and values are arbitrary byte strings; keys are
 * ordered by memcmp (shorter first on a common prefix).  Every function that can fail returns 0
 * on success or a negative errno-style code (see LSM_E* below) and leaves a readable message,
 * naming the file, offset or key involved, in a per-thread buffer read with lsm_last_error().
 *
 * Threads: an lsm_db may be used by any number of threads at once.  An lsm_iter or lsm_batch
 * belongs to one thread at a time.  One process owns a store at a time (a lock file); a second
 * lsm_open of the same directory fails with LSM_EINUSE.
 *
 * The on-disk formats are described byte by byte in lsm/FORMAT.md.
 */
#ifndef LSM_H
#define LSM_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LSM_VERSION_STRING "0.1.0"

/* Status codes: 0 is success, the rest are negative errno values so callers (the FUSE daemon in
 * particular) can pass them on unchanged. */
#define LSM_OK 0
#define LSM_ENOTFOUND (-ENOENT)    /* key absent (lsm_get) */
#define LSM_EINVAL (-EINVAL)       /* bad argument or option */
#define LSM_ETOOBIG (-E2BIG)       /* key or value over the limits below */
#define LSM_EINUSE (-EBUSY)        /* store locked by another process or handle */
#define LSM_ENOTSTORE (-EMEDIUMTYPE) /* directory exists but is not an lsm store */
#define LSM_EEXIST (-EEXIST)       /* error_if_exists and the store exists */
#define LSM_ECORRUPT (-EBADMSG)    /* a checksum, magic or structure check failed */
#define LSM_EIO (-EIO)             /* I/O error from the OS (also -ENOSPC, -EACCES, ...) */
#define LSM_ENOMEM (-ENOMEM)
#define LSM_ECLOSED (-ESHUTDOWN)   /* store hit an earlier fatal write error; reopen to recover */

/* Limits, enforced with LSM_ETOOBIG. */
#define LSM_MAX_KEY_SIZE (64u * 1024u)
#define LSM_MAX_VALUE_SIZE (64u * 1024u * 1024u)

typedef struct lsm_db lsm_db;             /* opaque: an open store */
typedef struct lsm_iter lsm_iter;         /* opaque: an iterator over a consistent snapshot */
typedef struct lsm_batch lsm_batch;       /* opaque: an atomic group of puts and deletes */
typedef struct lsm_snapshot lsm_snapshot; /* opaque: a frozen point in the store's history */
typedef struct lsm_env lsm_env;           /* opaque: file-system shim (lsm/src/env.h) */

enum lsm_sync_policy {
    LSM_SYNC_NONE = 0,     /* never fsync the WAL on write; data is durable after lsm_sync/close */
    LSM_SYNC_ALWAYS = 1,   /* every write is fsynced before it returns (group-committed) */
    LSM_SYNC_EXPLICIT = 2, /* writes fsync only when lsm_write_options.sync is set or on lsm_sync */
};

enum lsm_compression { LSM_COMPRESSION_NONE = 0, LSM_COMPRESSION_LZ4 = 1 };

enum lsm_compaction_style {
    LSM_COMPACTION_LEVELED = 0, /* LevelDB-style levels, each 10x the one above */
    LSM_COMPACTION_TIERED = 1,  /* size-tiered: merge runs of similar size */
};

typedef struct lsm_options {
    int create_if_missing;        /* default 1: create the directory and an empty store */
    int error_if_exists;          /* default 0: fail with LSM_EEXIST if the store exists */
    int read_only;                /* default 0: open without writing anything (tools, check) */
    size_t memtable_size;         /* default 4 MiB: a memtable this big becomes immutable */
    int max_immutable_memtables;  /* default 2: writers stall when this many wait for flush */
    size_t block_size;            /* default 4096: uncompressed data block target */
    int block_restart_interval;   /* default 16 keys between full (unshared) keys */
    size_t block_cache_size;      /* default 8 MiB of uncompressed blocks, LRU */
    int max_open_tables;          /* default 256: open SSTable file descriptors, LRU */
    int bloom_bits_per_key;       /* default 10; 0 disables filters */
    int compression;              /* enum lsm_compression, default LZ4 */
    int sync_policy;              /* enum lsm_sync_policy, default LSM_SYNC_EXPLICIT */
    int wal_salvage;              /* default 0: a corrupt WAL record mid-file fails open; 1 keeps
                                     the records before it, drops the rest, and reports it */
    int compaction_style;         /* enum lsm_compaction_style, default leveled */
    int l0_compaction_trigger;    /* default 4 L0 tables start a compaction */
    int l0_slowdown_trigger;      /* default 8: each write group is delayed, 0.2 ms at the
                                     trigger growing to 1 ms one table short of the stop */
    int l0_stop_trigger;          /* default 12: writes wait for compaction (bounded wait) */
    size_t target_file_size;      /* default 2 MiB: compaction output tables split here */
    uint64_t level1_max_bytes;    /* default 10 MiB */
    int level_multiplier;         /* default 10 */
    int tiered_min_merge_width;   /* default 4 similar-sized runs trigger a merge */
    int max_subcompactions;       /* default 2: threads that share one large leveled compaction,
                                     each merging its own key range (1: the background thread
                                     alone) */
    size_t partition_prefix;      /* default 0; n > 0 (leveled only): a compaction output is
                                     cut wherever the first n bytes of two adjacent user keys
                                     differ, and a flush output there if it overlaps no table
                                     in L0 or L1.  A range written apart (lsmfs: a file's
                                     chunks, beside its record) then gets tables of its own,
                                     which move down without a rewrite (as does any level-0
                                     table that overlaps no other and nothing in L1, unless it
                                     spans partitions: such a table is always merged) */
    int disable_background;       /* default 0; 1 runs flush/compaction inline (tests) */
    lsm_env *env;                 /* default NULL: the POSIX file system */
} lsm_options;

typedef struct lsm_read_options {
    const lsm_snapshot *snapshot; /* NULL: read the latest state */
    int fill_cache;               /* default 1: blocks read are added to the block cache */
    const void *upper_bound;      /* iterators only: stop before the first key >= this */
    size_t upper_bound_len;
    const void *lower_bound;      /* iterators only: show no key < this (seek_first and
                                     any seek before it land on it; prev stops before it) */
    size_t lower_bound_len;
    /* With a bound, an iterator leaves out every table whose keys all lie outside
     * [lower_bound, upper_bound): a scan of a short range costs the tables it overlaps, not
     * every table of the store. */
} lsm_read_options;

typedef struct lsm_write_options {
    int sync; /* 1: the WAL is fsynced before the call returns, whatever the sync policy */
} lsm_write_options;

/* Fill *opt with the defaults documented above. */
void lsm_options_init(lsm_options *opt);
void lsm_read_options_init(lsm_read_options *ropt);
void lsm_write_options_init(lsm_write_options *wopt);

/* The calling thread's message for its most recent failed call; "" if none.  Valid until the
 * thread's next liblsm call. */
const char *lsm_last_error(void);

/* Open (or create, per opt) the store in directory dir; opt NULL means defaults.  Replays the
 * manifest and the WAL, and deletes files nothing references.  On success *out owns the store
 * until lsm_close. */
int lsm_open(const char *dir, const lsm_options *opt, lsm_db **out);

/* Flush the memtable to an SSTable, stop background work, sync, release the lock and free db.
 * Returns the first error met; db is freed whatever the result. */
int lsm_close(lsm_db *db);

/* Store value under key, replacing any earlier value.  wopt NULL means defaults.  On success
 * the write is in the WAL (and on disk per the sync policy / wopt->sync). */
int lsm_put(lsm_db *db, const lsm_write_options *wopt, const void *key, size_t key_len,
            const void *value, size_t value_len);

/* Remove key (a tombstone); removing an absent key succeeds. */
int lsm_delete(lsm_db *db, const lsm_write_options *wopt, const void *key, size_t key_len);

/* Look key up.  On success *value is a malloc'd copy the caller frees with lsm_free (a
 * zero-length value still yields a non-NULL pointer) and *value_len its length.  Returns
 * LSM_ENOTFOUND if the key is absent (no message is set for that). */
int lsm_get(lsm_db *db, const lsm_read_options *ropt, const void *key, size_t key_len,
            void **value, size_t *value_len);
/* As lsm_get, but into the caller's buffer: the first min(length, cap) bytes of the value go
 * to out and *value_len is its whole length (a longer value is cut: call again with more
 * room).  A big value stored alone in its block (an lsmfs file chunk) is read from the table
 * file straight into out, without a block buffer or a copy, its checksum verified as always.
 * With cap 0, out may be NULL: only the length is wanted.  LSM_ENOTFOUND if the key is absent. */
int lsm_get_into(lsm_db *db, const lsm_read_options *ropt, const void *key, size_t key_len,
                 void *out, size_t cap, size_t *value_len);

/* Write batches: all of a batch's operations become visible together and survive a crash
 * together or not at all. Later operations on the same key within a batch win. */
lsm_batch *lsm_batch_new(void); /* NULL on out of memory */
int lsm_batch_put(lsm_batch *b, const void *key, size_t key_len, const void *value,
                  size_t value_len);
int lsm_batch_delete(lsm_batch *b, const void *key, size_t key_len);
void lsm_batch_clear(lsm_batch *b);
size_t lsm_batch_count(const lsm_batch *b);
size_t lsm_batch_size(const lsm_batch *b); /* bytes of encoded operations */
void lsm_batch_free(lsm_batch *b);
/* Apply b atomically.  b is not modified and may be reused. */
int lsm_write(lsm_db *db, const lsm_write_options *wopt, const lsm_batch *b);

/* Snapshots: reads through a snapshot see the store as it was when the snapshot was taken.
 * Returns NULL on out of memory.  Release every snapshot before lsm_close. */
const lsm_snapshot *lsm_snapshot_new(lsm_db *db);
void lsm_snapshot_release(lsm_db *db, const lsm_snapshot *snap);

/* Iterators see a consistent snapshot (ropt->snapshot, or the state at creation).  A new
 * iterator is not positioned (not valid) until a seek.  key/value pointers stay valid until the
 * next move or free.  Free every iterator before lsm_close. */
int lsm_iter_new(lsm_db *db, const lsm_read_options *ropt, lsm_iter **out);
void lsm_iter_seek_first(lsm_iter *it);
void lsm_iter_seek_last(lsm_iter *it);
/* Position at the first key >= key. */
void lsm_iter_seek(lsm_iter *it, const void *key, size_t key_len);
/* Position at the last key <= key. */
void lsm_iter_seek_for_prev(lsm_iter *it, const void *key, size_t key_len);
void lsm_iter_next(lsm_iter *it); /* REQUIRES: valid */
void lsm_iter_prev(lsm_iter *it); /* REQUIRES: valid */
int lsm_iter_valid(const lsm_iter *it);
const void *lsm_iter_key(const lsm_iter *it, size_t *len);   /* REQUIRES: valid */
const void *lsm_iter_value(const lsm_iter *it, size_t *len); /* REQUIRES: valid */
/* 0, or the error (e.g. LSM_ECORRUPT) that made the iterator stop early.  An iterator that
 * stops on an error is not valid; callers must check this after a scan. */
int lsm_iter_status(const lsm_iter *it);
void lsm_iter_free(lsm_iter *it);

/* Bulk ingestion: new entries written once, straight into a table of their own, instead of
 * through the WAL, the memtable and its flush.  For large sorted loads (lsmfs writes a big
 * file's chunks this way).
 *
 * lsm_ingest_begin starts one (it creates a temporary table file; a leveled store rolls a
 * big ingest over to a new table every 32 x target_file_size bytes).  The entries get one
 * sequence number, taken at begin: they are newer than every write that completed before
 * lsm_ingest_begin and older than every write that starts after it (a later put of the same
 * key wins).  Nothing is visible until lsm_ingest_commit, which makes its tables durable
 * (fsynced, logged in the manifest) and adds them to the store in one step: readers see
 * all of its entries or none, and a crash before commit returns leaves no trace after reopen.  Each
 * table is placed as deep in the tree as nothing above overlaps it, so sequential loads are
 * not compacted again.  If a table newer than the ingest overlaps its key range (a concurrent
 * writer to the same keys), commit instead applies the entries through ordinary write batches
 * of about 4 MiB, each atomic but not all together, and newer than every write before commit
 * (so then they win over a put made while the ingest was open).  A snapshot taken between begin and commit
 * sees the entries once they are committed.  An lsm_ingest belongs to one thread; commit or
 * abandon every ingest before lsm_close. */
typedef struct lsm_ingest lsm_ingest; /* opaque: a table being built */
int lsm_ingest_begin(lsm_db *db, lsm_ingest **out);
/* Add an entry.  REQUIRES: key > every key added to this ingest before (LSM_EINVAL if not). */
int lsm_ingest_put(lsm_ingest *in, const void *key, size_t key_len, const void *value,
                   size_t value_len);
/* Key and value bytes added so far. */
uint64_t lsm_ingest_bytes(const lsm_ingest *in);
/* Make the entries durable and visible, as described above, and free in (whatever the
 * result).  An ingest with no entries just goes away.  On error nothing of it is visible,
 * except batches the fallback already wrote. */
int lsm_ingest_commit(lsm_ingest *in);
/* Drop in and its temporary file; nothing of it becomes visible.  NULL is ignored. */
void lsm_ingest_abandon(lsm_ingest *in);

/* Make every write so far durable: fsync the WAL. */
int lsm_sync(lsm_db *db);

/* Write the memtable to an SSTable and wait until it is durable in the manifest. */
int lsm_flush(lsm_db *db);

/* Compact every table overlapping [begin, end] (NULL = unbounded on that side) down to the
 * bottom of the tree, dropping overwritten values and tombstones no snapshot still needs.
 * Waits for completion. */
int lsm_compact_range(lsm_db *db, const void *begin, size_t begin_len, const void *end,
                      size_t end_len);

/* Read a property; *out is a malloc'd NUL-terminated string (free with lsm_free).
 *   "lsm.stats"        human-readable table: levels, files, bytes, amplification, stalls, caches
 *   "lsm.stats.json"   the same figures as one JSON object
 *   "lsm.num-files-at-level<N>", "lsm.total-sst-bytes", "lsm.live-data-bytes" (estimate),
 *   "lsm.memtable-bytes", "lsm.wal-bytes", "lsm.num-keys" (estimate)
 * Unknown names give LSM_EINVAL. */
int lsm_property(lsm_db *db, const char *name, char **out);

/* Make dest_dir (which must not exist) an openable, consistent copy of the store as of now,
 * hard-linking the immutable tables and copying the rest, without blocking writers long. */
int lsm_checkpoint(lsm_db *db, const char *dest_dir);

/* Offline verification of a closed store: every checksum of every file, the manifest, and that
 * every table the manifest lists exists and is readable in key order.  Problems are reported
 * one per line through report(arg, line); progress(arg, done, total) is called as bytes are
 * checked (either callback may be NULL).  Returns 0 if all is well, LSM_ECORRUPT if any
 * problem was found, or another error if the check itself could not run. */
int lsm_verify(const char *dir, void (*report)(void *arg, const char *line),
               void (*progress)(void *arg, uint64_t done, uint64_t total), void *arg);

/* Offline repair of a closed store: rebuild the manifest from the tables whose checksums pass,
 * salvage readable WAL records and readable blocks of damaged tables, and report what was lost
 * through report().  Returns 0 when the store opens afterwards. */
int lsm_repair(const char *dir, void (*report)(void *arg, const char *line), void *arg);

void lsm_free(void *p);
const char *lsm_version(void);

#ifdef __cplusplus
}
#endif

#endif /* LSM_H */
