/*
 * fscore_int.h — shared internals of the filesystem core (fscore.c, namespace.c, file.c,
 * xattr.c, check.c).  Not for users of libfscore: they use fscore.h.
 *
 * Locking: one reader/writer lock per fscore.  Calls that only read the store and the open
 * files' buffers take it shared; every call that writes (a batch, an open file's buffer, the
 * open-file table, the inode counter) takes it exclusive.  Functions named *_locked expect the
 * caller to hold it in the right mode.
 */
#ifndef FSCORE_INT_H
#define FSCORE_INT_H

#include <pthread.h>

#include "fscore.h"
#include "schema.h"

#define FS_OPEN_BUCKETS 256
#define FS_INO_RANGE 1024u               /* inode numbers reserved per persisted step */
/* An open file commits when it buffers this much.  2 MiB rather than 8: the batch, the chunk
 * buffers and the WAL write then stay in the CPU caches (measured with dd of 256 MiB, 1 MiB
 * writes: wall 2.58 -> 2.03 s, daemon CPU 1.10 -> 0.85 s, medians of 3). */
#define FS_DIRTY_MAX (2u * 1024 * 1024)
#define FS_DIRTY_TOTAL_MAX (64u * 1024 * 1024) /* all open files together: then all commit */
/* A file written sequentially past its stored size streams its whole chunks into tables of
 * their own (lsm_ingest) instead of the WAL + memtable + flush, once it has buffered
 * FS_DIRTY_MAX of them; the ingest is committed at every commit of the file or at this size.
 * Committing waits for the disk (fsync), so it is rare: the engine splits an ingest into
 * tables of a bounded size by itself.  (At 64 MiB, a commit every 64 MiB left the writer
 * waiting about a third of a 512 MiB write.) */
#define FS_INGEST_MAX (1024ull * 1024 * 1024)
#define FS_RECLAIM_MIN_CHUNKS 64         /* deleting this many chunks (4 MiB) compacts them away */
#define FS_RECLAIM_QUEUE 16

struct fscore {
    lsm_db *db;
    char *dir;
    int read_only;
    pthread_rwlock_t lock;
    uint64_t next_ino, ino_limit; /* [next_ino, ino_limit) reserved in 'M' "ino" */
    uint64_t inodes;              /* inodes in use, as in 'M' "inodes" (counts.c) */
    uint64_t unwritten;           /* chunks allocated, never written, as in 'M' "unwritten" */
    fs_file *open[FS_OPEN_BUCKETS]; /* open files by inode number */
    lsm_write_options wo;
    int kernel_times; /* writes leave mtime/ctime to the caller (FUSE writeback cache) */
    uint64_t format;  /* 'M' "format": FS_FORMAT_VERSION or FS_FORMAT_BEYOND */
    int fatal;        /* first write error that closed the store (e.g. -ENOSPC), or 0 */
    size_t dirty_chunks; /* chunk buffers held by all open files (memory bound) */
    /* reclaim.c: inodes whose deleted chunks are compacted away in the background */
    pthread_mutex_t rmu;
    pthread_cond_t rcond;
    pthread_t rthread;
    uint64_t rq[FS_RECLAIM_QUEUE]; /* UINT64_MAX: every chunk */
    int rn, rstop, rrunning;
};

/* What one batch changes in the store-wide counts (counts.c): inodes brought into use
 * (negative: freed), unwritten chunks allocated (negative: written or deleted). */
typedef struct fs_delta {
    long inodes;
    long unwritten;
} fs_delta;

#define FS_CHUNK_UNWRITTEN 2 /* fs_chunk.stored: stored with an empty value (fallocate) */

/* A chunk buffered by an open file: always FS_CHUNK_SIZE bytes, zeros past what was written. */
typedef struct fs_chunk {
    uint64_t idx;
    char *data;
    /* the store holds a chunk key for idx: 1 yes, FS_CHUNK_UNWRITTEN yes and it was allocated
     * but never written, 0 no, -1 not known yet */
    int stored;
} fs_chunk;

struct fs_file {
    fscore *fs;
    fs_file *next; /* hash chain */
    int refs;
    uint64_t ino;
    fs_buf home;          /* key of the record holding the attributes (entry, 'I' or 'O') */
    uint64_t size;        /* current size, buffered writes included */
    uint64_t stored_size; /* size as committed to the store */
    int stored_inline;    /* the store holds the contents inline in the record */
    int beyond;           /* FS_FLAG_BEYOND: allocated, unwritten chunks may lie past the size */
    uint64_t stored_chunks; /* chunk keys in the store (record field "chunks") */
    char *inl;            /* copy of the stored inline contents (stored_inline) */
    size_t inl_len;
    fs_chunk *chunks; /* dirty chunks, unordered */
    size_t nchunks, cap;
    int dirty;            /* size/times/chunks differ from the store */
    struct timespec mtime, ctime;
    int times_dirty;
    lsm_ingest *ing;      /* whole chunks past stored_size being written to a table, or NULL */
    uint64_t ing_lo, ing_next; /* ing holds chunks of index in [ing_lo, ing_next) only */
    uint64_t ing_chunks;  /* chunks added to ing */
    int pending;          /* a 'P' record for this file is in the store (see file.c) */
    int late_err;         /* failure after fs_file_write_ack acknowledged a write, or 0 */
};

/* A path resolved to its record. */
typedef struct fs_node {
    fs_attr a;          /* attributes (from the inode record when the entry is a stub) */
    int linked;         /* the entry is a stub; attributes live in 'I' ino */
    fs_buf ekey;        /* the entry key of the path */
    fs_buf hkey;        /* the key holding the attributes */
    void *val;          /* raw value at hkey (lsm_free) */
    size_t val_len;
    const void *tail;   /* symlink target / inline data, inside val */
    size_t tail_len;
} fs_node;

void fs_node_init(fs_node *n);
void fs_node_free(fs_node *n);

/* Validate an absolute path: -ENAMETOOLONG for a component over 255 bytes or a path of PATH_MAX
 * bytes or more, -EINVAL if it does not start with '/'. */
int fs_path_check(const char *path);

/* Resolve path to its record.  -ENOENT if absent, -ENOTDIR if an ancestor is not a directory. */
int fs_resolve_locked(fscore *fs, const char *path, fs_node *n);

/* Resolve a node as the FUSE daemon names it: path if not NULL, else the open file with inode
 * number ino (also after its last name is gone: its 'O' record), else the inode record of the
 * hard-linked file ino (reached after the name the kernel knew went).  -ENOENT if none. */
int fs_resolve_node_locked(fscore *fs, const char *path, uint64_t ino, fs_node *n);

/* Fetch and decode the full record at key into n (n->ekey/hkey set to key). */
int fs_load_locked(fscore *fs, const char *key, size_t key_len, fs_node *n);
/* fs_load_locked of the inode record 'I' ino of a hard-linked file; -ENOENT if it has none. */
int fs_load_inode_locked(fscore *fs, uint64_t ino, fs_node *n);

/* Resolve the parent directory of path (must exist and be a directory). */
int fs_resolve_parent_locked(fscore *fs, const char *path, fs_node *parent);

/* Attributes of a new node of type and permissions mode in directory parent, owned by who
 * (NULL: the calling process), with a fresh inode number and all times now.  The gid is the
 * parent's when the parent is setgid, and a new directory then is setgid too. */
int fs_attr_new_locked(fscore *fs, const fs_attr *parent, mode_t mode, dev_t rdev,
                       const fs_cred *who, const struct timespec *now, fs_attr *a);

/* Create a node at path (no directory may exist there): type and permissions in mode, rdev for
 * devices, target for symlinks; owned by who.  Updates the parent's times (and link count for a
 * directory) in the same batch.  On success fills *out (may be NULL) with the new node. */
int fs_create_locked(fscore *fs, const char *path, mode_t mode, dev_t rdev, const fs_cred *who,
                     const char *target, fs_node *out);

/* Append a put of n's attributes a (with tail) at n->hkey to batch. */
int fs_batch_put_rec(lsm_batch *b, const fs_node *n, const fs_attr *a, const void *tail,
                     size_t tail_len);

/* Delete every key in [lo, hi) into batch b; returns the count deleted or -errno. */
long fs_batch_delete_range(fscore *fs, lsm_batch *b, const char *lo, size_t lo_len,
                           const char *hi, size_t hi_len);

/* *ro for a scan of the keys in [lo, hi) (fill_cache as in lsm_read_options): both bounds set,
 * so that the iterator leaves out every table that holds nothing of the range. */
void fs_range_options(lsm_read_options *ro, const void *lo, size_t lo_len, const void *hi,
                      size_t hi_len, int fill_cache);

/* A new iterator over the keys in [lo, hi), positioned at lo; fill_cache as in
 * lsm_read_options. */
int fs_iter_range(fscore *fs, const fs_buf *lo, const fs_buf *hi, int fill_cache,
                  lsm_iter **out);

/* Call fn(arg, key, value) for every key of the one-byte prefix kind, in order, until it
 * returns non-zero (that is returned). */
int fs_scan_kind(fscore *fs, char kind,
                 int (*fn)(void *arg, const char *k, size_t kl, const char *v, size_t vl),
                 void *arg);

/* end = the smallest key greater than every key starting with prefix p. */
int fs_prefix_end(const fs_buf *p, fs_buf *end);

/* Delete every chunk and xattr of ino into batch b: the inode is freed (d->inodes - 1), and
 * the unwritten chunks among them are subtracted from d->unwritten.  chunks_below: no chunk
 * key of ino lies at or past this index (fs_chunks_below; 0 when it can have none, as
 * fs_may_have_chunks says; UINT64_MAX when unknown): a small bound saves a range scan. */
int fs_batch_delete_data(fscore *fs, lsm_batch *b, uint64_t ino, uint64_t chunks_below,
                         fs_delta *d);

/* Raise the store's format to `format` (durably, before anything that needs it is written) if
 * it is lower.  0 or -errno. */
int fs_format_raise_locked(fscore *fs, uint64_t format);

/* Whether a node with attributes a can have chunk keys: only a regular file whose contents are
 * not inline (a chunk of an inline file is damage to lsmfs-ctl check). */
int fs_may_have_chunks(const fs_attr *a);
/* The bound on the chunk indexes of a committed file of this size (SCHEMA.md: no chunk lies
 * at or past the size), or UINT64_MAX when chunks may lie past it (FS_FLAG_BEYOND). */
uint64_t fs_chunks_below(uint64_t size, int beyond);

/* Delete the chunks of ino with index in [lo, hi) into b; returns the count deleted or -errno,
 * and subtracts the unwritten (empty) ones from d->unwritten. */
long fs_batch_delete_chunks(fscore *fs, lsm_batch *b, uint64_t ino, uint64_t lo, uint64_t hi,
                            fs_delta *d);

/* Allocate a fresh inode number (persists a new range when needed). */
int fs_alloc_ino_locked(fscore *fs, uint64_t *ino);

/* st_blocks of a regular file of size bytes with chunks chunk keys and record flags flags
 * (FS_FLAG_INLINE: contents inline; FS_FLAG_BEYOND: some chunks lie past the size). */
uint64_t fs_file_blocks(uint64_t size, uint64_t chunks, uint32_t flags);

/* The time now, for timestamps.  With the writeback cache (kernel_times) the kernel stamps
 * writes from its coarse clock, so the store's own stamps come from that clock too: stamps from
 * two clocks can be out of order (a write's mtime before the create's atime), and relatime
 * compares them. */
void fs_now(const fscore *fs, struct timespec *t);
void fs_attr_to_stat(const fs_attr *a, struct stat *st);

/* Bytes the store may still grow by: the free space of the filesystem under it (for users)
 * minus the chunks fallocate promised (fs->unwritten). */
int fs_space_avail_locked(fscore *fs, uint64_t *bytes);

/* Apply batch b with the store's write options. */
int fs_write_locked(fscore *fs, lsm_batch *b);

/* A store error as the caller should see it: after a fatal write error (ENOSPC, EIO) liblsm
 * answers every later write with ESHUTDOWN; writers keep getting the original error instead. */
int fs_store_error(fscore *fs, int r);

/* ---- store-wide counts (counts.c) ---- */
/* Read the counts into fs->inodes / fs->unwritten; a store without the inode count is counted
 * (and, read-write, the count written).  At open, before anything else writes. */
int fs_counts_load(fscore *fs);
/* Write batch b with the counts changed by d put into it; fs's copies follow only if the write
 * succeeds. */
int fs_write_delta_locked(fscore *fs, lsm_batch *b, const fs_delta *d);
/* Put the counts inodes and unwritten into b and take them as fs's (check.c's repair). */
int fs_counts_set(fscore *fs, lsm_batch *b, uint64_t inodes, uint64_t unwritten);

/* ---- open files (file.c) ---- */
/* Find or create the shared fs_file of the regular file resolved in n; takes a reference. */
int fs_file_get_locked(fscore *fs, const fs_node *n, fs_file **out);
/* Drop one reference; the last one deletes an orphan's data and frees f.  Returns the first
 * error of that deletion. */
int fs_file_put_locked(fs_file *f);
fs_file *fs_open_find_locked(fscore *fs, uint64_t ino);
/* Overlay the buffered size/times of an open file on st. */
void fs_open_overlay_locked(fscore *fs, struct stat *st);
/* a, the attributes about to be stored for an inode with a new ctime, meets the buffered times
 * of the inode's open file (if it buffers any): a takes the buffered mtime and the file takes
 * a's ctime, so that neither a stat nor the file's next commit brings the old ctime back. */
void fs_open_merge_times_locked(fscore *fs, fs_attr *a);
/* The attributes of ino now live at key (rename, link, unlink of an open file). */
int fs_open_rehome_locked(fscore *fs, uint64_t ino, const char *key, size_t key_len);
/* Path from was renamed to to (exchange: and to to from): open files whose attributes live in
 * an entry at or under the moved paths follow them. */
int fs_open_rename_locked(fscore *fs, const char *from, const char *to, int exchange);
/* Commit a file's buffer; also delete stored chunks [del_lo, del_hi) in the same batch. */
int fs_file_commit_locked(fs_file *f, uint64_t del_lo, uint64_t del_hi);
/* Commit every open file (close, sync). */
int fs_open_commit_all_locked(fscore *fs);
/* ---- background space reclamation (reclaim.c) ---- */
int fs_reclaim_start(fscore *fs);
void fs_reclaim_stop(fscore *fs);
/* chunks of ino were just deleted (in a batch being written under the write lock) */
void fs_reclaim_note(fscore *fs, uint64_t ino, long chunks);

/* Remove the data of orphan inodes, and the uncommitted chunks that pending ('P') records name,
 * left by an earlier run. */
int fs_orphans_cleanup(fscore *fs);

#endif
