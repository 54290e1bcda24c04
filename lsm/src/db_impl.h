/*
 * db_impl.h — the lsm_db structure shared by the db's own files (db.c: open/close/write/read;
 * flush.c: memtable -> L0; compaction.c; snapshot.c; db_stats.c; checkpoint.c).
 *
 * Locking.  db->mu guards the fields marked [mu]: the writer queue, the memtable list, the
 * current version pointer, sequence numbers, snapshots, error state.  It is held only for
 * short bookkeeping, never during I/O except where noted.  db->work_mu serialises everything
 * that changes the set of tables (flushes, compactions, manifest edits): whoever holds it may
 * read vs->current without mu (only work_mu holders replace it) but must take mu to replace it.
 * Lock order: work_mu before mu.  Readers take mu just long enough to reference the memtables
 * and the current version, then read without locks.
 */
#ifndef LSM_DB_IMPL_H
#define LSM_DB_IMPL_H

#include <pthread.h>

#include "cache.h"
#include "db_stats.h"
#include "lsm.h"
#include "memtable.h"
#include "table_cache.h"
#include "version.h"
#include "wal.h"
#include "write_batch.h"

#define DB_MAX_IMM 16

typedef struct db_writer {
    const lsm_batch *batch; /* NULL: a request to switch the memtable (lsm_flush) */
    int sync;
    int done, status;
    char msg[512];
    pthread_cond_t cv;
    struct db_writer *next;
} db_writer;

struct lsm_snapshot {
    uint64_t seq;
    struct lsm_snapshot *prev, *next;
};

typedef struct imm_entry {
    memtable *mem;
    uint64_t log;    /* WAL holding its data, deleted once it is in a table */
    wal_writer *wal; /* that WAL, still open if it was written in this session, else NULL */
    int wal_dirty;   /* the WAL holds writes no fsync has covered yet */
} imm_entry;

struct lsm_db {
    lsm_options opt;
    lsm_env *env;
    char *dir;
    int lock_fd;
    int read_only;
    block_cache *bcache;
    table_cache *tc;
    vset vs;         /* current version [mu to replace; work_mu holders read freely] */

    pthread_mutex_t mu;
    pthread_mutex_t work_mu;
    pthread_cond_t bg_cv;   /* background thread waits here for work */
    pthread_cond_t done_cv; /* stalled writers / lsm_flush wait here for background progress */

    memtable *mem;          /* [mu] active memtable */
    uint64_t mem_log;       /* [mu] its WAL number */
    wal_writer *wal;        /* the write leader's; replaced under mu, which lsm_sync takes */
    /* lsm_sync fsyncs db->wal beside the writer queue, not in it: see lsm_sync. */
    uint64_t wal_end;       /* [mu] bytes of db->wal appended by writes that have returned */
    uint64_t wal_synced;    /* [mu] bytes of db->wal known durable; below wal_end: dirty */
    int wal_syncers;        /* [mu] syncs in an fsync of some WAL (current or an imm's),
                               which a flush closes only once they are done */
    pthread_cond_t sync_cv; /* the flush waits here for wal_syncers to reach 0 */
    imm_entry imm[DB_MAX_IMM]; /* [mu] oldest first */
    int nimm;
    uint64_t last_seq;      /* [mu] newest sequence visible to readers */

    db_writer *wq_head, *wq_tail; /* [mu] */
    lsm_batch group;        /* write leader's merged batch */

    struct lsm_snapshot snapshots; /* [mu] list sentinel, oldest at snapshots.next */

    int bg_error;           /* [mu] sticky background error (flush/compaction/manifest) */
    char bg_msg[512];
    /* [mu] the last background step failed for lack of space (ENOSPC/EDQUOT): not sticky.
     * The background thread retries with backoff; writers that would wait for it get this
     * error instead of stalling; cleared by the next successful step. */
    int bg_soft_error;
    char bg_soft_msg[512];
    uint64_t bg_steps;      /* [mu] background steps finished (a writer waits for the next) */
    int bg_retry_now;
    int want_switch;        /* [mu] a flush failed for lack of space: switch the memtable */       /* [mu] a writer asks the backing-off thread to retry at once */
    int manifest_stale;     /* [work_mu] the manifest writer failed: snapshot before next edit */
    int write_error;        /* [mu] sticky WAL error: writes fail with LSM_ECLOSED */
    char write_msg[512];
    int shutting_down;      /* [mu] */
    int idle_work;          /* [mu, written by the background thread only] store found idle */
    uint64_t idle_activity; /* [same] db activity (reads + writes) when it was found idle */
    pthread_t bg_thread;
    int bg_started;

    db_stats stats;
};

/* Oldest sequence any snapshot needs (last_seq when none).  REQUIRES: mu. */
uint64_t snapshot_oldest(lsm_db *db);

/* Record a background failure from the current thread message: a lack of space
 * (db_error_transient) as the retryable bg_soft_error, anything else as the sticky bg_error.
 * REQUIRES: mu. */
void db_set_bg_error(lsm_db *db, int rc);
/* Whether rc is a failure that may go away on its own (a full disk or quota). */
int db_error_transient(int rc);

/* The partition_prefix that flushes and compactions honour: leveled stores only (a tiered
 * run is one table). */
static inline size_t db_partition_prefix(const lsm_db *db)
{
    return db->opt.compaction_style == LSM_COMPACTION_TIERED ? 0 : db->opt.partition_prefix;
}

/* flush.c */
/* Most level-0 tables one flush writes: past it, the last one takes everything left. */
#define FLUSH_MAX_TABLES 16
/* Write the n memtables ms (oldest first), merged, to new level-0 tables, without the versions
 * that newer ones shadow for every reader: one table, or more cut at partition changes
 * (lsm_options partition_prefix).  out[0..*nout) gets their metas, each with one reference
 * the caller owns (none if the memtables are empty).  On failure no table is left. */
int flush_build_merged(lsm_db *db, memtable **ms, int n, file_meta **out, size_t *nout);
/* Release tables a flush wrote but did not install: their files go with the last reference. */
void flush_tables_drop(file_meta **fs, size_t n);
/* Flush the oldest immutable memtable (all = 0) or all of them as one table (all = 1), as
 * flush_oldest_imm.  REQUIRES: work_mu held, mu not held, nimm > 0. */
int flush_imms(lsm_db *db, int all);
/* Flush the oldest immutable memtable and install it with a manifest edit, then delete its
 * WAL.  REQUIRES: work_mu held, mu not held, nimm > 0. */
int flush_oldest_imm(lsm_db *db);
/* One unit of background work: a flush if one is pending, else one compaction if needed.
 * Returns 1 if work was done, 0 if none was needed, or a negative error (also recorded as the
 * background error).  REQUIRES: work_mu held, mu not held. */
int db_background_step(lsm_db *db);
/* Run background work in the calling thread until none is left.  REQUIRES: mu not held. */
int db_work_inline(lsm_db *db);
void *db_background_main(void *arg);

/* compaction.c */
/* Whether the current version needs a compaction.  REQUIRES: mu or work_mu. */
int compaction_needed(lsm_db *db);
/* The background thread's wait for work when it has none: a plain wait on bg_cv, or, when an
 * idle compaction could be done, a wait of IDLE_WAIT_MS after which, if nothing read or wrote
 * meanwhile, compaction_needed/compaction_run_one also offer idle work (L0 into L1 and space
 * amplification above 1.2 pushed down, leveled; all runs merged, tiered) until the next read
 * or write.  REQUIRES: mu held, the background thread. */
void compaction_wait_for_work(lsm_db *db);
/* Pick and run one compaction: 1 done, 0 nothing to do, or negative error.
 * REQUIRES: work_mu held, mu not held. */
int compaction_run_one(lsm_db *db);
/* lsm_compact_range's work.  REQUIRES: work_mu held, mu not held. */
int compaction_range(lsm_db *db, const slice *begin, const slice *end);
/* Apply edit to the current version, log it to the manifest and install it.  On failure the
 * new tables of the edit are deleted.  REQUIRES: work_mu held, mu not held. */
int db_log_and_apply(lsm_db *db, version_edit *e);

#endif
