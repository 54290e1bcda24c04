/*
 * db.c — opening, recovering and closing a store; the write path (group commit); point reads;
 * iterators; sync and flush.
 *
 * Write path (LevelDB style group commit).  Writers queue on db->mu.  The writer at the head
 * is the leader: it makes room (switching to a new memtable/WAL when the active one is full,
 * stalling while too many memtables wait for flush or level 0 is over its stop trigger), then
 * merges the batches of the writers behind it (up to ~1 MiB) into one batch, assigns sequence
 * numbers, and with the mutex released appends ONE WAL record, fsyncs it if any member asked
 * for sync (or the policy is ALWAYS), and inserts the operations into the memtable.  It then
 * publishes the new last sequence, marks the members done with the shared result, and hands
 * the lead to the next queued writer.  A failed WAL append or sync fails every member (none is
 * acknowledged).  If the WAL writer took the failed record back (a full disk: wal.h), the
 * store goes on and later writes may succeed; otherwise (failed fsync, tail not restored) the
 * WAL tail is unknown and the store refuses writes until a reopen (which replays the valid
 * prefix).
 *
 * Recovery.  Open reads CURRENT and replays the manifest, then replays every WAL whose number
 * is >= the manifest's log number, each into an immutable memtable that the background thread
 * flushes later; it starts a new WAL and a fresh manifest.  Open writes no table: its cost is
 * bounded by the size of the WALs, and it succeeds on a full disk (ENOSPC/EDQUOT creating the
 * WAL or the manifest is tolerated: writes then fail until there is room).  Files nothing
 * references (old WALs and manifests, tables from interrupted flushes/compactions, *.tmp) are
 * deleted.  Background work that fails for lack of space is retried with backoff (flush.c);
 * reads go on meanwhile.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "db_impl.h"
#include "db_iter.h"
#include "filename.h"
#include "manifest.h"
#include "merge_iter.h"
#include "level_iter.h"
#include "status.h"

#define GROUP_MAX_BYTES (1u << 20)

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int db_error_transient(int rc) { return rc == -ENOSPC || rc == -EDQUOT; }

void db_set_bg_error(lsm_db *db, int rc)
{
    if (db_error_transient(rc)) {
        db->bg_soft_error = rc;
        snprintf(db->bg_soft_msg, sizeof db->bg_soft_msg, "%s", lsm_last_error());
        pthread_cond_broadcast(&db->done_cv);
        return;
    }
    if (db->bg_error) return;
    db->bg_error = rc;
    snprintf(db->bg_msg, sizeof db->bg_msg, "%s", lsm_last_error());
    pthread_cond_broadcast(&db->done_cv);
}

/* ---------------------------------------------------------------- open / recovery */

static int validate_options(const lsm_options *o)
{
    if (o->memtable_size < 4096 || o->block_size < 256 || o->block_restart_interval < 1 ||
        o->max_open_tables < 1 || o->bloom_bits_per_key < 0 || o->max_immutable_memtables < 1 ||
        o->max_immutable_memtables > DB_MAX_IMM - 1 || o->l0_compaction_trigger < 1 ||
        o->l0_slowdown_trigger < 1 || o->l0_stop_trigger < 1 || o->target_file_size < 4096 ||
        o->level1_max_bytes < 4096 || o->level_multiplier < 2 || o->tiered_min_merge_width < 2 ||
        (o->compression != LSM_COMPRESSION_NONE && o->compression != LSM_COMPRESSION_LZ4) ||
        (o->compaction_style != LSM_COMPACTION_LEVELED &&
         o->compaction_style != LSM_COMPACTION_TIERED) ||
        o->sync_policy < LSM_SYNC_NONE || o->sync_policy > LSM_SYNC_EXPLICIT)
        return lsm_error(LSM_EINVAL, "invalid options (a size, trigger or enum is out of range)");
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct replay_state {
    memtable *mem;
    uint64_t max_seq;
} replay_state;

static int replay_op(void *arg, uint64_t seq, int type, const uint8_t *k, size_t kl,
                     const uint8_t *v, size_t vl)
{
    replay_state *st = arg;
    if (seq > st->max_seq) st->max_seq = seq;
    int rc = memtable_add(st->mem, seq, type, k, kl, v, vl);
    return rc ? lsm_error(rc, "WAL replay: out of memory") : 0;
}

/* Replay WALs numbered >= vs.log_number, in order, each into its own immutable memtable
 * (db->imm, oldest first, with that WAL's number), as if the session that wrote them had just
 * switched memtables.  Nothing is written: open needs no free space, and its cost is bounded by
 * the WALs (which hold at most max_immutable_memtables + 1 memtables' worth).  The background
 * thread flushes them.  Should there be more WALs than immutable slots, the newest ones share
 * the last memtable (a flush advances the log number past all of them; the extra WAL files are
 * deleted at close or the next open).  With salvage, replay stops at the first WAL whose tail
 * was dropped: replaying later WALs would keep newer writes while losing older ones. */
static int replay_wals(lsm_db *db, char **names, size_t count)
{
    uint64_t *logs = malloc((count + 1) * sizeof *logs);
    if (!logs) return lsm_error(LSM_ENOMEM, "out of memory");
    size_t nlogs = 0;
    for (size_t i = 0; i < count; i++) {
        uint64_t num;
        if (parse_file_name(names[i], &num) == FILE_WAL && num >= db->vs.log_number)
            logs[nlogs++] = num;
    }
    qsort(logs, nlogs, sizeof *logs, cmp_u64);
    replay_state st = {NULL, db->vs.last_seq};
    int rc = 0, stop = 0;
    int max_imm = db->opt.max_immutable_memtables;
    for (size_t i = 0; i < nlogs && !rc && !stop; i++) {
        if (db->nimm == 0 || (db->nimm < max_imm &&
                              memtable_entries(db->imm[db->nimm - 1].mem) > 0)) {
            memtable *m = memtable_new();
            if (!m) {
                rc = lsm_error(LSM_ENOMEM, "WAL replay: out of memory");
                break;
            }
            db->imm[db->nimm++] = (imm_entry){.mem = m, .log = logs[i]};
        } else if (memtable_entries(db->imm[db->nimm - 1].mem) == 0) {
            db->imm[db->nimm - 1].log = logs[i]; /* an empty WAL's slot is reused */
        }
        st.mem = db->imm[db->nimm - 1].mem;
        char *path = wal_file_name(db->dir, logs[i]);
        wal_reader *r = NULL;
        if (!path) {
            rc = lsm_error(LSM_ENOMEM, "out of memory");
            break;
        }
        rc = wal_reader_open(db->env, path, db->opt.wal_salvage, &r);
        while (!rc) {
            const uint8_t *rec;
            size_t n;
            uint64_t off = wal_reader_offset(r);
            int got = wal_read(r, &rec, &n);
            if (got < 0) {
                rc = got;
                break;
            }
            if (got == 0) break;
            rc = wb_iterate(rec, n, NULL, replay_op, &st);
            if (rc) {
                lsm_error_prefix(rc, "%s: WAL record at offset %llu", path,
                                 (unsigned long long)off);
                break;
            }
        }
        if (r) {
            uint64_t dropped = wal_reader_dropped(r);
            stat_add(&db->stats.salvaged_bytes, dropped);
            stop = dropped > 0;
            wal_reader_close(r);
        }
        free(path);
    }
    free(logs);
    /* A trailing empty memtable (an empty WAL) needs no flush. */
    if (db->nimm > 0 && memtable_entries(db->imm[db->nimm - 1].mem) == 0)
        memtable_unref(db->imm[--db->nimm].mem);
    if (st.max_seq > db->vs.last_seq) db->vs.last_seq = st.max_seq;
    return rc;
}

/* Delete every file of the store that nothing references.  REQUIRES: no concurrency yet. */
static void delete_obsolete_files(lsm_db *db, char **names, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        uint64_t num = 0;
        enum file_kind k = parse_file_name(names[i], &num);
        int keep = 1;
        if (k == FILE_TABLE) {
            keep = 0;
            const version *v = db->vs.current;
            for (int l = 0; l < LSM_NUM_LEVELS && !keep; l++)
                for (size_t j = 0; j < v->nfiles[l] && !keep; j++)
                    keep = v->files[l][j]->number == num;
        } else if (k == FILE_WAL) {
            keep = num == db->mem_log || num >= db->vs.log_number; /* (replayed, unflushed) */
        } else if (k == FILE_MANIFEST) {
            keep = num == db->vs.manifest_number;
        } else if (k == FILE_TEMP) {
            keep = 0;
        }
        if (!keep) {
            char *p = dir_file_name(db->dir, names[i]);
            if (p) db->env->unlink(db->env, p);
            free(p);
        }
    }
}

/* Create the WAL numbered log in the store, with zeros kept ahead of its end while it is
 * synced (wal_writer_prefill).  Returns 0 or a negative error; *w is NULL on failure. */
static int open_db_wal(lsm_db *db, uint64_t log, wal_writer **w)
{
    *w = NULL;
    char *path = wal_file_name(db->dir, log);
    int rc = path ? wal_writer_open(db->env, path, w)
                  : lsm_error(LSM_ENOMEM, "out of memory naming WAL %llu",
                              (unsigned long long)log);
    free(path);
    if (!rc) wal_writer_prefill(*w);
    return rc;
}

static int open_store_files(lsm_db *db, int fresh)
{
    lsm_env *env = db->env;
    int rc;
    if (fresh) {
        /* A new store: an empty manifest and CURRENT make the directory recognisable. */
        rc = manifest_write_snapshot(&db->vs, 1);
        if (rc) return rc;
        wal_writer_close(db->vs.manifest);
        db->vs.manifest = NULL;
    }
    rc = manifest_recover(&db->vs);
    if (rc) return rc;

    char **names = NULL;
    size_t count = 0;
    rc = env->list_dir(env, db->dir, &names, &count);
    if (rc < 0) return lsm_error(rc, "%s: cannot list directory: %s", db->dir, strerror(-rc));
    for (size_t i = 0; i < count; i++) { /* never reuse a number found on disk */
        uint64_t num;
        enum file_kind k = parse_file_name(names[i], &num);
        if ((k == FILE_TABLE || k == FILE_WAL || k == FILE_MANIFEST) && num >= db->vs.next_file)
            db->vs.next_file = num + 1;
    }
    db->mem = memtable_new();
    if (!db->mem) rc = lsm_error(LSM_ENOMEM, "out of memory");
    if (!rc) rc = replay_wals(db, names, count);
    db->last_seq = db->vs.last_seq;
    if (!rc && !db->read_only) {
        /* Writes go to a new WAL, and the session gets a fresh manifest.  Neither is needed to
         * serve reads: on a full disk (ENOSPC/EDQUOT) the store opens without them, writes fail
         * with that error until a WAL can be created, and the first manifest edit writes the
         * snapshot first.  Every other failure fails the open as before. */
        uint64_t log = vset_new_file_number(&db->vs);
        uint64_t mnum = vset_new_file_number(&db->vs);
        db->mem_log = log;
        if (db->nimm == 0) db->vs.log_number = log; /* no replayed WAL holds anything */
        int wrc = open_db_wal(db, log, &db->wal);
        if (wrc && !db_error_transient(wrc)) rc = wrc;
        if (!rc) {
            int mrc = manifest_write_snapshot(&db->vs, mnum);
            if (mrc && !db_error_transient(mrc)) rc = mrc;
            if (mrc && !rc) db->manifest_stale = 1;
        }
        if (!rc) delete_obsolete_files(db, names, count);
    }
    env_free_list(names, count);
    return rc;
}

static void db_free(lsm_db *db)
{
    if (db->wal) wal_writer_close(db->wal);
    if (db->mem) memtable_unref(db->mem);
    for (int i = 0; i < db->nimm; i++) {
        memtable_unref(db->imm[i].mem);
        wal_writer_close(db->imm[i].wal);
    }
    vset_destroy(&db->vs);
    tc_free(db->tc);
    if (db->bcache) cache_free(db->bcache);
    if (db->lock_fd >= 0) db->env->close(db->env, db->lock_fd);
    wb_destroy(&db->group);
    pthread_mutex_destroy(&db->mu);
    pthread_mutex_destroy(&db->work_mu);
    pthread_cond_destroy(&db->bg_cv);
    pthread_cond_destroy(&db->done_cv);
    pthread_cond_destroy(&db->sync_cv);
    free(db->dir);
    free(db);
}

/* Is dir a store, empty (create one), or something else? */
static int classify_dir(lsm_db *db, const lsm_options *o, int *fresh)
{
    lsm_env *env = db->env;
    int is_dir = 0;
    *fresh = 0;
    int rc = env->stat(env, db->dir, &is_dir);
    if (rc == -ENOENT) {
        if (!o->create_if_missing || o->read_only)
            return lsm_error(-ENOENT, "%s: store does not exist", db->dir);
        rc = env->mkdir(env, db->dir, 0700);
        if (rc < 0 && rc != -EEXIST)
            return lsm_error(rc, "%s: cannot create store directory: %s", db->dir, strerror(-rc));
        *fresh = 1;
        return 0;
    }
    if (rc < 0) return lsm_error(rc, "%s: cannot stat: %s", db->dir, strerror(-rc));
    if (!is_dir) return lsm_error(LSM_ENOTSTORE, "%s: not a directory, not an lsm store", db->dir);
    char *cur = dir_file_name(db->dir, "CURRENT");
    if (!cur) return lsm_error(LSM_ENOMEM, "out of memory");
    rc = env->stat(env, cur, NULL);
    free(cur);
    if (rc == 0) {
        if (o->error_if_exists) return lsm_error(LSM_EEXIST, "%s: store already exists", db->dir);
        return 0;
    }
    if (rc != -ENOENT) return lsm_error(rc, "%s/CURRENT: cannot stat: %s", db->dir, strerror(-rc));
    char **names;
    size_t count;
    rc = env->list_dir(env, db->dir, &names, &count);
    if (rc < 0) return lsm_error(rc, "%s: cannot list directory: %s", db->dir, strerror(-rc));
    /* Only what an interrupted creation leaves (the lock, the first manifest, a CURRENT.tmp)
     * still counts as empty: creating the store again is safe. */
    int empty = 1;
    for (size_t i = 0; i < count; i++) {
        uint64_t num = 0;
        enum file_kind k = parse_file_name(names[i], &num);
        if (!(k == FILE_LOCK || (k == FILE_MANIFEST && num == 1) ||
              strcmp(names[i], "CURRENT.tmp") == 0))
            empty = 0;
    }
    env_free_list(names, count);
    if (!empty)
        return lsm_error(LSM_ENOTSTORE, "%s: directory is not empty and is not an lsm store "
                         "(no CURRENT file)", db->dir);
    if (!o->create_if_missing || o->read_only)
        return lsm_error(LSM_ENOTSTORE, "%s: empty directory, not an lsm store", db->dir);
    *fresh = 1;
    return 0;
}

int lsm_open(const char *dir, const lsm_options *opt, lsm_db **out)
{
    lsm_options o;
    *out = NULL;
    if (opt) o = *opt;
    else lsm_options_init(&o);
    if (!dir || !*dir) return lsm_error(LSM_EINVAL, "lsm_open: empty directory name");
    int rc = validate_options(&o);
    if (rc) return rc;
    lsm_db *db = calloc(1, sizeof *db);
    if (!db) return lsm_error(LSM_ENOMEM, "out of memory");
    db->opt = o;
    db->env = o.env ? o.env : lsm_env_posix();
    db->read_only = o.read_only;
    db->lock_fd = -1;
    db->dir = strdup(dir);
    pthread_mutex_init(&db->mu, NULL);
    pthread_mutex_init(&db->work_mu, NULL);
    pthread_cond_init(&db->bg_cv, NULL);
    pthread_cond_init(&db->done_cv, NULL);
    pthread_cond_init(&db->sync_cv, NULL);
    db->snapshots.next = db->snapshots.prev = &db->snapshots;
    db->bcache = cache_new(o.block_cache_size);
    db->tc = db->dir && db->bcache ? tc_new(db->env, dir, o.max_open_tables, db->bcache) : NULL;
    if (!db->dir || !db->tc || wb_init(&db->group) != 0 ||
        vset_init(&db->vs, db->env, dir, db->tc) != 0) {
        db_free(db);
        return lsm_error(LSM_ENOMEM, "out of memory opening %s", dir);
    }
    int fresh;
    rc = classify_dir(db, &o, &fresh);
    if (rc) {
        db_free(db);
        return rc;
    }
    char *lock = dir_file_name(dir, "LOCK");
    db->lock_fd = lock ? db->env->lock(db->env, lock) : LSM_ENOMEM;
    free(lock);
    if (db->lock_fd < 0) {
        rc = db->lock_fd == -EBUSY
                 ? lsm_error(LSM_EINUSE, "%s: store in use by another process", dir)
                 : lsm_error(db->lock_fd, "%s/LOCK: cannot lock: %s", dir, strerror(-db->lock_fd));
        db_free(db);
        return rc;
    }
    rc = open_store_files(db, fresh);
    if (rc) {
        db_free(db);
        return rc;
    }
    if (!db->read_only && !o.disable_background) {
        if (pthread_create(&db->bg_thread, NULL, db_background_main, db) != 0) {
            db_free(db);
            return lsm_error(LSM_ENOMEM, "%s: cannot start background thread", dir);
        }
        db->bg_started = 1;
        pthread_mutex_lock(&db->mu);
        pthread_cond_signal(&db->bg_cv); /* the recovered tree may need a compaction */
        pthread_mutex_unlock(&db->mu);
    } else if (!db->read_only) {
        rc = db_work_inline(db);
        if (rc && db_error_transient(rc)) rc = 0; /* the recovered data waits in memory */
        if (rc) {
            db_free(db);
            return rc;
        }
    }
    *out = db;
    return 0;
}

static int sync_closed_wals(lsm_db *db);

int lsm_close(lsm_db *db)
{
    if (!db) return 0;
    int rc = 0;
    pthread_mutex_lock(&db->mu);
    db->shutting_down = 1;
    pthread_cond_broadcast(&db->bg_cv);
    pthread_mutex_unlock(&db->mu);
    if (db->bg_started) pthread_join(db->bg_thread, NULL);
    if (!db->read_only) {
        /* Put every memtable into a table, so the next open has no WAL to replay. */
        pthread_mutex_lock(&db->work_mu);
        while (!rc && !db->bg_error && !db->write_error && db->nimm > 0) rc = flush_oldest_imm(db);
        if (!rc && !db->bg_error && !db->write_error && memtable_entries(db->mem) > 0) {
            pthread_mutex_lock(&db->mu);
            /* (db->wal stays its writer: closed below) */
            db->imm[db->nimm++] = (imm_entry){.mem = db->mem, .log = db->mem_log};
            db->mem_log = vset_new_file_number(&db->vs); /* no WAL: nothing more is written */
            db->mem = memtable_new();
            pthread_mutex_unlock(&db->mu);
            if (!db->mem) rc = lsm_error(LSM_ENOMEM, "out of memory");
            else rc = flush_oldest_imm(db);
        }
        /* End with a one-record manifest: then any damage to a closed store's manifest is
         * detected (a damaged last edit of a longer manifest reads like a torn append). */
        if (!rc && !db->bg_error && !db->write_error) {
            pthread_mutex_lock(&db->mu);
            uint64_t mnum = vset_new_file_number(&db->vs);
            pthread_mutex_unlock(&db->mu);
            rc = manifest_write_snapshot(&db->vs, mnum);
        }
        pthread_mutex_unlock(&db->work_mu);
        if (db->write_error && !rc) rc = lsm_error(LSM_ECLOSED, "%s", db->write_msg);
        if (db->bg_error && !rc) rc = lsm_error(db->bg_error, "%s", db->bg_msg);
        if (rc || db->nimm > 0) { /* keep what could not be flushed durable */
            int src = sync_closed_wals(db);
            if (src && !rc) rc = src;
        }
        if (db->wal) {
            if (rc || db->nimm > 0 || memtable_entries(db->mem) > 0) {
                int src = wal_sync(db->wal); /* and the current WAL's */
                if (src && !rc) rc = src;
            }
            wal_writer_close(db->wal);
            db->wal = NULL;
        }
        if (!rc) { /* the WAL's data is in tables now */
            char **names;
            size_t count;
            if (db->env->list_dir(db->env, db->dir, &names, &count) >= 0) {
                for (size_t i = 0; i < count; i++) {
                    uint64_t num;
                    if (parse_file_name(names[i], &num) == FILE_WAL && num < db->vs.log_number) {
                        char *p = dir_file_name(db->dir, names[i]);
                        if (p) db->env->unlink(db->env, p);
                        free(p);
                    }
                }
                env_free_list(names, count);
            }
        }
    }
    db_free(db);
    return rc;
}

/* ---------------------------------------------------------------- write path */

/* A WAL append or fsync failed with rc: refuse every later write (only a reopen can tell what
 * the log holds).  The first failure's message stays.  REQUIRES: mu. */
static void set_write_error(lsm_db *db, int rc)
{
    if (db->write_error) return;
    db->write_error = rc;
    snprintf(db->write_msg, sizeof db->write_msg,
             "store stopped accepting writes after a WAL failure: %s", lsm_last_error());
}

/* Why writes are refused now (LSM_ECLOSED with the reason), or 0.  REQUIRES: mu. */
static int writes_refused(lsm_db *db)
{
    if (db->write_error) return lsm_error(LSM_ECLOSED, "%s", db->write_msg);
    if (db->bg_error)
        return lsm_error(LSM_ECLOSED, "store stopped after a background error: %s", db->bg_msg);
    return 0;
}

/* Fsync the WALs of immutable memtables that hold writes no fsync has covered (see
 * switch_memtable), so that a sync covers every write before it, not only those in the
 * current WAL.  Returns 0, or the error of a failed fsync (write_error is then set).
 * REQUIRES: mu not held. */
static int sync_closed_wals(lsm_db *db)
{
    wal_writer *w[DB_MAX_IMM];
    int n = 0;
    pthread_mutex_lock(&db->mu);
    for (int i = 0; i < db->nimm; i++)
        if (db->imm[i].wal && db->imm[i].wal_dirty) w[n++] = db->imm[i].wal;
    if (n == 0) {
        pthread_mutex_unlock(&db->mu);
        return 0;
    }
    db->wal_syncers++; /* keeps them open: flush_imms waits for us */
    pthread_mutex_unlock(&db->mu);
    int rc = 0, done = 0;
    while (done < n && !rc) rc = wal_sync(w[done++]);
    pthread_mutex_lock(&db->mu);
    stat_add(&db->stats.wal_syncs, (uint64_t)done);
    if (rc) set_write_error(db, rc);
    for (int i = 0; i < db->nimm && !rc; i++)
        for (int k = 0; k < n; k++)
            if (db->imm[i].wal == w[k]) db->imm[i].wal_dirty = 0;
    if (--db->wal_syncers == 0) pthread_cond_broadcast(&db->sync_cv);
    pthread_mutex_unlock(&db->mu);
    return rc;
}

/* Make the active memtable immutable and start a new one with a new WAL.  The old WAL is not
 * synced here, in the write path, where the leader would hold up every writer (and lsmfs every
 * operation) while it fsyncs up to a memtable's worth of data: it stays open with its
 * memtable, marked dirty, and the next lsm_sync or sync write fsyncs it (sync_closed_wals),
 * unless a flush puts its memtable into a table first.  Returns 0, or a negative error
 * (nothing changed).  REQUIRES: mu held, caller is the write leader. */
static int switch_memtable(lsm_db *db)
{
    uint64_t log = vset_new_file_number(&db->vs);
    /* Creating the WAL (and fsyncing its directory) is done without mu, so readers, which
     * take mu to pin the memtables, do not wait for the disk.  Only the leader touches
     * db->wal and db->mem, and the imm slot is taken after relocking. */
    pthread_mutex_unlock(&db->mu);
    memtable *m = memtable_new();
    wal_writer *w = NULL;
    int rc = m ? open_db_wal(db, log, &w)
               : lsm_error(LSM_ENOMEM, "out of memory switching memtable");
    pthread_mutex_lock(&db->mu);
    if (!rc && db->nimm >= DB_MAX_IMM) { /* (cannot happen: callers check, flushes only shrink) */
        wal_writer_close(w);
        rc = lsm_error(LSM_EIO, "internal: no immutable memtable slot");
    }
    if (rc) {
        if (m) memtable_unref(m);
        return rc;
    }
    db->imm[db->nimm++] = (imm_entry){.mem = db->mem, .log = db->mem_log, .wal = db->wal,
                                      .wal_dirty = db->wal_synced < db->wal_end};
    db->wal = w;
    db->wal_end = db->wal_synced = 0;
    db->mem = m;
    db->mem_log = log;
    db->want_switch = 0;
    return 0;
}

/* The delay of one write group while level 0 holds l0 >= l0_slowdown_trigger tables: it grows
 * from a fifth of a millisecond at the trigger to a full millisecond one table short of the
 * stop, so writes yield to a compaction that is only just behind without being held up as
 * if it were far behind. */
static unsigned slowdown_delay_us(const lsm_db *db, size_t l0)
{
    size_t first = (size_t)db->opt.l0_slowdown_trigger, stop = (size_t)db->opt.l0_stop_trigger;
    if (stop <= first + 1 || l0 + 1 >= stop) return 1000;
    return (unsigned)(200 + 800 * (l0 - first) / (stop - first - 1));
}

/* Make room in the memtable for a write.  REQUIRES: mu held, caller is the write leader. */
static int make_room(lsm_db *db, int force)
{
    int allow_delay = !force;
    int kicked = 0; /* asked the background thread for an immediate retry */
    for (;;) {
        int refused = writes_refused(db);
        if (refused) return refused;
        if (!db->wal) {
            /* Open (or an earlier switch) could not create the WAL for lack of space: try
             * again now, the write fails if it still cannot. */
            int rc = open_db_wal(db, db->mem_log, &db->wal);
            if (rc) return rc;
        }
        size_t l0 = db->vs.current->nfiles[0];
        int inline_work = db->opt.disable_background;
        /* A flush failed for lack of space and asks for the active memtable too (flush.c):
         * switch now, even past max_immutable_memtables (bounded by the array). */
        int do_switch = db->want_switch && db->nimm < DB_MAX_IMM &&
                        memtable_entries(db->mem) > 0;
        if (allow_delay && !do_switch && !inline_work &&
            l0 >= (size_t)db->opt.l0_slowdown_trigger) {
            /* Spread the wait for compaction over many writes rather than one long stall. */
            unsigned us = slowdown_delay_us(db, l0);
            pthread_mutex_unlock(&db->mu);
            usleep(us);
            pthread_mutex_lock(&db->mu);
            stat_add(&db->stats.slowdown_count, 1);
            stat_add(&db->stats.slowdown_us, us);
            allow_delay = 0;
        } else if (!force && !do_switch && memtable_bytes(db->mem) < db->opt.memtable_size) {
            return 0;
        } else if (!do_switch && (db->nimm >= db->opt.max_immutable_memtables ||
                                  (!inline_work && l0 >= (size_t)db->opt.l0_stop_trigger &&
                                   compaction_needed(db)))) { /* (only wait for work that will happen) */
            if (db->bg_soft_error && !inline_work) {
                /* The background work this write waits for failed for lack of space.  Ask
                 * for one retry now (there may be room again) and wait for it; if that fails
                 * too, fail the write rather than stall without bound. */
                if (kicked)
                    return lsm_error(db->bg_soft_error, "no room for the write: %s",
                                     db->bg_soft_msg);
                uint64_t steps = db->bg_steps;
                kicked = 1;
                db->bg_retry_now = 1;
                pthread_cond_broadcast(&db->bg_cv);
                while (db->bg_steps == steps && !db->shutting_down && !db->bg_error)
                    pthread_cond_wait(&db->done_cv, &db->mu);
                continue;
            }
            uint64_t t0 = now_us();
            if (inline_work) {
                pthread_mutex_unlock(&db->mu);
                int wrc = db_work_inline(db);
                pthread_mutex_lock(&db->mu);
                if (wrc && db_error_transient(wrc)) return wrc; /* (message set by the work) */
            } else {
                pthread_cond_signal(&db->bg_cv);
                pthread_cond_wait(&db->done_cv, &db->mu);
            }
            stat_add(&db->stats.stall_count, 1);
            stat_add(&db->stats.stall_us, now_us() - t0);
        } else {
            if (force && memtable_entries(db->mem) == 0) return 0;
            int rc = switch_memtable(db);
            if (rc) return rc;
            force = 0;
            if (inline_work) {
                pthread_mutex_unlock(&db->mu);
                db_work_inline(db);
                pthread_mutex_lock(&db->mu);
            } else {
                pthread_cond_signal(&db->bg_cv);
            }
        }
    }
}

static void writer_finish(db_writer *w, int status, const char *msg)
{
    w->status = status;
    if (status) snprintf(w->msg, sizeof w->msg, "%s", msg);
    w->done = 1;
    pthread_cond_signal(&w->cv);
}

static int db_write(lsm_db *db, const lsm_write_options *wopt, const lsm_batch *b)
{
    if (db->read_only) return lsm_error(LSM_EINVAL, "%s: store is open read-only", db->dir);
    /* Refused before it joins a group: it would fail the whole group at the WAL. */
    if (b && b->rep.len > WAL_MAX_RECORD)
        return lsm_error(LSM_ETOOBIG, "%s: batch of %zu bytes exceeds the %u-byte WAL record "
                         "limit", db->dir, b->rep.len, WAL_MAX_RECORD);
    db_writer w;
    memset(&w, 0, sizeof w);
    w.batch = b;
    w.sync = (wopt && wopt->sync) || db->opt.sync_policy == LSM_SYNC_ALWAYS;
    pthread_cond_init(&w.cv, NULL);

    pthread_mutex_lock(&db->mu);
    if (db->wq_tail) db->wq_tail->next = &w;
    else db->wq_head = &w;
    db->wq_tail = &w;
    while (!w.done && db->wq_head != &w) pthread_cond_wait(&w.cv, &db->mu);
    if (w.done) {
        pthread_mutex_unlock(&db->mu);
        pthread_cond_destroy(&w.cv);
        return w.status ? lsm_error(w.status, "%s", w.msg) : 0;
    }

    /* This thread leads a group starting with its own write. */
    int rc = make_room(db, b == NULL);
    db_writer *last = &w;
    if (!rc && b) {
        lsm_batch *g = &db->group;
        lsm_batch_clear(g);
        int sync = 0;
        size_t bytes = 0;
        for (db_writer *x = &w; x; x = x->next) {
            if (!x->batch) break; /* a flush request waits for its own turn */
            if (x != &w && bytes + x->batch->rep.len > GROUP_MAX_BYTES) break;
            if (wb_append(g, x->batch)) {
                rc = LSM_ENOMEM;
                break;
            }
            bytes += x->batch->rep.len;
            sync |= x->sync;
            last = x;
        }
        uint32_t count = wb_count(g);
        wb_set_seq(g, db->last_seq + 1);
        memtable *mem = db->mem;
        wal_writer *wal = db->wal;
        pthread_mutex_unlock(&db->mu);
        int wal_touched = !rc, wal_rc = 0;
        if (!rc && count > 0) {
            uint64_t before = wal_size(wal);
            rc = wal_rc = wal_append(wal, g->rep.data, g->rep.len);
            /* The disk is full.  If memtables wait for a flush (which may free WAL space, e.g.
             * after the user deleted data), have the background thread try now and retry the
             * append after it -- a few rounds, since a failed flush may first ask for the
             * active memtable (want_switch: its tombstones can shadow the older data), which
             * the leader switches here.  The active memtable is switched too when nothing else
             * is pending and its WAL could hold this group: a delete may sit in it, next to the
             * data it deleted.  Before each retry the store's directory is synced: a journaling
             * file system (ext4) reuses the blocks of a deleted file (a flushed WAL, a compacted
             * table) only once the deletion is committed, as ext4 itself forces before it gives
             * its own writers ENOSPC. */
            for (int round = 0; round < 3 && rc && db_error_transient(rc) && !wal_failed(wal) &&
                                db->bg_started; round++) {
                pthread_mutex_lock(&db->mu);
                int worth = db->want_switch || (round == 0 && db->nimm == 0 &&
                                                 db->wal_end >= g->rep.len);
                if (worth && db->nimm < DB_MAX_IMM && memtable_entries(db->mem) > 0 &&
                    switch_memtable(db) == 0) {
                    mem = db->mem;
                    wal = db->wal;
                }
                int pending = db->nimm > 0 && !db->bg_error && !db->write_error;
                uint64_t steps = db->bg_steps;
                if (pending) {
                    db->bg_retry_now = 1;
                    pthread_cond_broadcast(&db->bg_cv);
                }
                while (pending && db->bg_steps == steps && !db->shutting_down && !db->bg_error)
                    pthread_cond_wait(&db->done_cv, &db->mu);
                pthread_mutex_unlock(&db->mu);
                if (!pending && round > 0) break;
                db->env->fsync_dir(db->env, db->dir); /* (best effort: the retry tells) */
                before = wal_size(wal);
                rc = wal_rc = wal_append(wal, g->rep.data, g->rep.len);
            }
            stat_add(&db->stats.wal_bytes, wal_size(wal) - before);
        }
        int synced = 0;
        if (!rc && sync) rc = sync_closed_wals(db); /* (sets write_error itself) */
        if (!rc && sync) {
            rc = wal_rc = wal_sync(wal);
            stat_add(&db->stats.wal_syncs, 1);
            synced = !rc;
        }
        if (!rc && count > 0) rc = wb_insert_into(g->rep.data, g->rep.len, mem);
        pthread_mutex_lock(&db->mu);
        if (wal_touched) { /* (only the leader switches, so wal is still db->wal) */
            db->wal_end = wal_size(wal);
            if (synced) db->wal_synced = db->wal_end;
        }
        if (rc && wal_touched && (wal_failed(wal) || wal_rc == 0)) {
            /* The WAL tail is unknown (or, if the memtable insert failed, the WAL holds a batch
             * the memtable only partly has): only a reopen can continue.  An append that
             * failed cleanly (the writer took its partial record back, e.g. on a full disk)
             * only fails this group: nothing of it is in the WAL or the memtable. */
            set_write_error(db, rc);
        }
        if (!rc) {
            db->last_seq += count;
            stat_add(&db->stats.user_ops, count);
            stat_add(&db->stats.user_bytes, g->rep.len - WB_HEADER);
        }
    }
    const char *msg = lsm_last_error();
    for (;;) {
        db_writer *x = db->wq_head;
        db->wq_head = x->next;
        if (!db->wq_head) db->wq_tail = NULL;
        if (x != &w) writer_finish(x, rc, msg);
        if (x == last) break;
    }
    if (db->wq_head) pthread_cond_signal(&db->wq_head->cv);
    pthread_mutex_unlock(&db->mu);
    pthread_cond_destroy(&w.cv);
    return rc;
}

int lsm_write(lsm_db *db, const lsm_write_options *wopt, const lsm_batch *b)
{
    if (!b) return lsm_error(LSM_EINVAL, "lsm_write: NULL batch");
    return db_write(db, wopt, b);
}

/* A one-operation batch for lsm_put / lsm_delete.  Small ones live on the caller's stack
 * (no allocation on the hot path): the buffer is sized so that adding the operation never
 * needs to grow it. */
#define SINGLE_OP_STACK 512
static int single_op_init(lsm_batch *b, uint8_t *stack, size_t klen, size_t vlen)
{
    if (klen <= SINGLE_OP_STACK && vlen <= SINGLE_OP_STACK &&
        WB_HEADER + 11 + klen + vlen <= SINGLE_OP_STACK) {
        memset(stack, 0, WB_HEADER);
        b->rep.data = stack;
        b->rep.len = WB_HEADER;
        b->rep.cap = SINGLE_OP_STACK;
        return 0;
    }
    return wb_init(b);
}

static void single_op_done(lsm_batch *b, const uint8_t *stack)
{
    if (b->rep.data != stack) wb_destroy(b);
}

int lsm_put(lsm_db *db, const lsm_write_options *wopt, const void *key, size_t key_len,
            const void *value, size_t value_len)
{
    uint8_t stack[SINGLE_OP_STACK];
    lsm_batch b;
    int rc = single_op_init(&b, stack, key_len, value_len);
    if (!rc) rc = lsm_batch_put(&b, key, key_len, value, value_len);
    if (!rc) rc = db_write(db, wopt, &b);
    single_op_done(&b, stack);
    return rc;
}

int lsm_delete(lsm_db *db, const lsm_write_options *wopt, const void *key, size_t key_len)
{
    uint8_t stack[SINGLE_OP_STACK];
    lsm_batch b;
    int rc = single_op_init(&b, stack, key_len, 0);
    if (!rc) rc = lsm_batch_delete(&b, key, key_len);
    if (!rc) rc = db_write(db, wopt, &b);
    single_op_done(&b, stack);
    return rc;
}

/* The fsync runs beside the writer queue rather than in it, as a write group of its own would:
 * writers that queue behind a sync leader wait for its fsync, and so (in lsmfs) does every
 * operation waiting for the file system lock those writers hold.  Only the appends of writes
 * that have returned need covering, and wal_end counts exactly those.  A fsync of a file
 * that the leader appends to at the same time is safe.  Then the WALs of immutable memtables
 * that a switch left unsynced (sync_closed_wals); a flush closes a WAL only once no sync is in
 * one (flush_imms). */
int lsm_sync(lsm_db *db)
{
    if (db->read_only) return 0;
    /* The current WAL first: if a switch makes it an immutable memtable's meanwhile, it is
     * still dirty there, and sync_closed_wals below covers it. */
    pthread_mutex_lock(&db->mu);
    int rc = writes_refused(db);
    wal_writer *wal = db->wal;
    uint64_t target = db->wal_end;
    if (!rc && wal && db->wal_synced < target) {
        db->wal_syncers++;
        pthread_mutex_unlock(&db->mu);
        rc = wal_sync(wal);
        pthread_mutex_lock(&db->mu);
        stat_add(&db->stats.wal_syncs, 1);
        if (rc) set_write_error(db, rc);
        else if (db->wal == wal && target > db->wal_synced) db->wal_synced = target;
        if (--db->wal_syncers == 0) pthread_cond_broadcast(&db->sync_cv);
    }
    pthread_mutex_unlock(&db->mu);
    return rc ? rc : sync_closed_wals(db);
}

int lsm_flush(lsm_db *db)
{
    if (db->read_only) return 0;
    int rc = db_write(db, NULL, NULL); /* switch the memtable in writer order */
    if (rc) return rc;
    if (db->opt.disable_background) return db_work_inline(db);
    pthread_mutex_lock(&db->mu);
    while (db->nimm > 0 && !db->bg_error && !db->bg_soft_error) {
        pthread_cond_signal(&db->bg_cv);
        pthread_cond_wait(&db->done_cv, &db->mu);
    }
    rc = db->bg_error ? lsm_error(db->bg_error, "%s", db->bg_msg)
         : db->nimm > 0 && db->bg_soft_error
             ? lsm_error(db->bg_soft_error, "flush pending: %s", db->bg_soft_msg) : 0;
    pthread_mutex_unlock(&db->mu);
    return rc;
}

/* ---------------------------------------------------------------- reads */

typedef struct read_view {
    memtable *mem;
    memtable *imm[DB_MAX_IMM]; /* newest first */
    int nimm;
    version *v;
    uint64_t seq;
} read_view;

static void view_acquire(lsm_db *db, const lsm_read_options *ropt, read_view *rv)
{
    pthread_mutex_lock(&db->mu);
    rv->mem = db->mem;
    memtable_ref(rv->mem);
    rv->nimm = db->nimm;
    for (int i = 0; i < db->nimm; i++) {
        rv->imm[i] = db->imm[db->nimm - 1 - i].mem;
        memtable_ref(rv->imm[i]);
    }
    rv->v = db->vs.current;
    version_ref(rv->v);
    rv->seq = ropt && ropt->snapshot ? ropt->snapshot->seq : db->last_seq;
    pthread_mutex_unlock(&db->mu);
}

static void view_release(read_view *rv)
{
    memtable_unref(rv->mem);
    for (int i = 0; i < rv->nimm; i++) memtable_unref(rv->imm[i]);
    version_unref(rv->v);
}

/* A lookup: the newest value of key at the read view, from the memtables (a malloc'd copy) or
 * the tables (malloc'd, or in dst when dst is not NULL).  SST_GET_* or a negative error. */
static int get_value(lsm_db *db, const lsm_read_options *ropt, const void *key, size_t key_len,
                     const sst_value_dst *dst, void **value, size_t *value_len)
{
    read_view rv;
    view_acquire(db, ropt, &rv);
    int fill = ropt ? ropt->fill_cache : 1;
    int rc = memtable_get(rv.mem, key, key_len, rv.seq, value, value_len);
    for (int i = 0; rc == SST_GET_ABSENT && i < rv.nimm; i++)
        rc = memtable_get(rv.imm[i], key, key_len, rv.seq, value, value_len);
    if (rc == SST_GET_ABSENT) {
        read_stats st = {0, 0, 0};
        rc = version_get(rv.v, db->tc, key, key_len, rv.seq, fill, dst, value, value_len, &st);
        if (st.bloom_checked) stat_add(&db->stats.bloom_checked, st.bloom_checked);
        if (st.bloom_useful) stat_add(&db->stats.bloom_useful, st.bloom_useful);
    }
    view_release(&rv);
    stat_add(&db->stats.gets, 1);
    return rc;
}

int lsm_get_into(lsm_db *db, const lsm_read_options *ropt, const void *key, size_t key_len,
                 void *out, size_t cap, size_t *value_len)
{
    *value_len = 0;
    if (key_len > LSM_MAX_KEY_SIZE)
        return lsm_error(LSM_ETOOBIG, "key of %zu bytes exceeds the limit of %u bytes", key_len,
                         LSM_MAX_KEY_SIZE);
    sst_value_dst dst = {out, cap};
    void *v = NULL;
    int rc = get_value(db, ropt, key, key_len, &dst, &v, value_len);
    if (rc == SST_GET_VALUE) {
        if (v != out) { /* from a memtable */
            if (cap)
                memcpy(out, v, *value_len < cap ? *value_len : cap);
            free(v);
        }
        return 0;
    }
    if (rc == SST_GET_ABSENT || rc == SST_GET_DELETED) return LSM_ENOTFOUND;
    return rc;
}

int lsm_get(lsm_db *db, const lsm_read_options *ropt, const void *key, size_t key_len,
            void **value, size_t *value_len)
{
    *value = NULL;
    *value_len = 0;
    if (key_len > LSM_MAX_KEY_SIZE)
        return lsm_error(LSM_ETOOBIG, "key of %zu bytes exceeds the limit of %u bytes", key_len,
                         LSM_MAX_KEY_SIZE);
    int rc = get_value(db, ropt, key, key_len, NULL, value, value_len);
    if (rc == SST_GET_VALUE) {
        if (!*value) { /* zero-length values still get a pointer */
            *value = malloc(1);
            if (!*value) return lsm_error(LSM_ENOMEM, "out of memory");
        }
        return 0;
    }
    if (rc == SST_GET_ABSENT || rc == SST_GET_DELETED) {
        *value = NULL;
        return LSM_ENOTFOUND;
    }
    return rc;
}

typedef struct iter_pin {
    read_view rv;
} iter_pin;

static void iter_pin_release(void *arg)
{
    iter_pin *p = arg;
    view_release(&p->rv);
    free(p);
}

/* Build the merged internal iterator of a read view, of the tables that may hold a key
 * within ropt's bounds (every table without ropt or bounds). */
static iter *view_iter(lsm_db *db, read_view *rv, const lsm_read_options *ropt)
{
    int fill = ropt ? ropt->fill_cache : 1;
    slice lo_s, hi_s, *lo = NULL, *hi = NULL;
    if (ropt && ropt->lower_bound) {
        lo_s = (slice){ropt->lower_bound, ropt->lower_bound_len};
        lo = &lo_s;
    }
    if (ropt && ropt->upper_bound) {
        hi_s = (slice){ropt->upper_bound, ropt->upper_bound_len};
        hi = &hi_s;
    }
    int cap = 1 + rv->nimm + (int)rv->v->nfiles[0] + LSM_NUM_LEVELS;
    iter **ch = malloc((size_t)cap * sizeof *ch);
    if (!ch) return NULL;
    int n = 0;
    ch[n++] = memtable_iter(rv->mem);
    for (int i = 0; i < rv->nimm; i++) ch[n++] = memtable_iter(rv->imm[i]);
    for (size_t i = 0; i < rv->v->nfiles[0]; i++)
        if (file_overlaps(rv->v->files[0][i], lo, hi, 0))
            ch[n++] = tc_iter(db->tc, rv->v->files[0][i]->number, fill);
    for (int l = 1; l < LSM_NUM_LEVELS; l++) {
        size_t first, k = version_level_span(rv->v, l, lo, hi, &first);
        if (k) ch[n++] = level_iter_new(db->tc, rv->v->files[l] + first, k, fill);
    }
    for (int i = 0; i < n; i++)
        if (!ch[i]) {
            for (int j = 0; j < n; j++) iter_destroy(ch[j]);
            free(ch);
            return NULL;
        }
    return merge_iter_new(ch, n);
}

int lsm_iter_new(lsm_db *db, const lsm_read_options *ropt, lsm_iter **out)
{
    *out = NULL;
    iter_pin *p = malloc(sizeof *p);
    if (!p) return lsm_error(LSM_ENOMEM, "out of memory");
    view_acquire(db, ropt, &p->rv);
    iter *it = view_iter(db, &p->rv, ropt);
    if (!it) {
        iter_pin_release(p);
        return lsm_error(LSM_ENOMEM, "out of memory creating iterator");
    }
    *out = db_iter_new(it, p->rv.seq, ropt, iter_pin_release, p);
    return *out ? 0 : lsm_error(LSM_ENOMEM, "out of memory creating iterator");
}

/* ---------------------------------------------------------------- manual compaction */

int lsm_compact_range(lsm_db *db, const void *begin, size_t begin_len, const void *end,
                      size_t end_len)
{
    if (db->read_only) return lsm_error(LSM_EINVAL, "%s: store is open read-only", db->dir);
    int rc = lsm_flush(db);
    if (rc) return rc;
    slice b = {begin, begin_len}, e = {end, end_len};
    pthread_mutex_lock(&db->work_mu);
    rc = compaction_range(db, begin ? &b : NULL, end ? &e : NULL);
    pthread_mutex_unlock(&db->work_mu);
    if (!rc && db->opt.disable_background) rc = db_work_inline(db);
    return rc;
}
