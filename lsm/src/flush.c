/*
 * flush.c — turning immutable memtables into level-0 tables, and the background thread.
 *
 * The background thread does one unit of work at a time under db->work_mu: flushing the
 * oldest immutable memtable always comes first (writers may be stalled on it), then at most
 * one compaction, then it looks again.  A flush writes the memtable with an sst_builder
 * (temp file, fsync, rename, directory fsync) -- or several, cut where the partition_prefix of
 * the keys changes if the table so far overlaps nothing in L0 or L1, so that a range written
 * apart moves down the levels without a rewrite (compaction.c) -- then logs ONE manifest edit
 * that adds the tables and advances the log number past the memtable's WAL; only after that
 * edit is durable is the WAL deleted.  A crash at any point leaves either the WAL (replayed at
 * open) or the tables in the manifest, and at worst orphan tables or temp files, which open
 * deletes.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db_impl.h"
#include "filename.h"
#include "manifest.h"
#include "merge_iter.h"
#include "status.h"


/* An iterator over the n memtables ms (oldest first), merged. */
static iter *memtables_iter(memtable **ms, int n)
{
    if (n == 1) return memtable_iter(ms[0]);
    iter **ch = malloc((size_t)n * sizeof *ch);
    if (!ch) return NULL;
    for (int i = 0; i < n; i++) {
        ch[i] = memtable_iter(ms[n - 1 - i]); /* newest first */
        if (!ch[i]) {
            for (int j = 0; j < i; j++) iter_destroy(ch[j]);
            free(ch);
            return NULL;
        }
    }
    return merge_iter_new(ch, n);
}

/* One table of a flush, being written. */
typedef struct flush_out {
    sst_builder *b;
    uint64_t number, min_seq, max_seq;
} flush_out;

static int flush_out_open(lsm_db *db, flush_out *o)
{
    pthread_mutex_lock(&db->mu);
    o->number = vset_new_file_number(&db->vs);
    pthread_mutex_unlock(&db->mu);
    o->b = NULL;
    o->min_seq = UINT64_MAX;
    o->max_seq = 0;
    char *path = table_file_name(db->dir, o->number);
    sst_options so = {db->opt.block_size, db->opt.block_restart_interval,
                      db->opt.bloom_bits_per_key, db->opt.compression, 0};
    int rc = path ? sst_builder_open(db->env, path, o->number, &so, &o->b)
                  : lsm_error(LSM_ENOMEM, "flush: out of memory");
    free(path);
    return rc;
}

/* Finish o's table and append its meta to out[*n] (room for it is the caller's). */
static int flush_out_finish(lsm_db *db, flush_out *o, file_meta **out, size_t *n)
{
    sst_meta meta;
    memset(&meta, 0, sizeof meta);
    int rc = sst_builder_finish(o->b, &meta);
    o->b = NULL;
    if (rc) return rc;
    file_meta *f = file_meta_of_table(o->number, &meta, o->min_seq, o->max_seq, &db->vs);
    sst_meta_clear(&meta);
    if (!f) return lsm_error(LSM_ENOMEM, "flush: out of memory");
    stat_add(&db->stats.flush_bytes, f->size);
    out[(*n)++] = f;
    return 0;
}

void flush_tables_drop(file_meta **fs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        __atomic_store_n(&fs[i]->obsolete, 1, __ATOMIC_RELEASE);
        file_meta_unref(fs[i]);
    }
}

/* Whether user keys [lo, hi] overlap no table of level 0 or 1 now: a table of just them would
 * move down alone (compaction.c). */
static int range_alone(lsm_db *db, slice lo, slice hi)
{
    pthread_mutex_lock(&db->mu);
    version *v = db->vs.current;
    version_ref(v);
    pthread_mutex_unlock(&db->mu);
    int alone = version_overlap_count(v, 0, &lo, &hi) == 0 && version_overlap_count(v, 1, &lo, &hi) == 0;
    version_unref(v);
    return alone;
}

int flush_build_merged(lsm_db *db, memtable **ms, int n, file_meta **out, size_t *nout)
{
    *nout = 0;
    iter *it = memtables_iter(ms, n);
    if (!it) return lsm_error(LSM_ENOMEM, "flush: out of memory");
    iter_seek_first(it);
    if (!iter_valid(it)) {
        iter_destroy(it);
        return 0;
    }
    /* Cut at a partition change when the table so far overlaps nothing in L0 or L1: a range
     * written apart (a file's chunks) gets a table of its own, which moves down without a
     * rewrite.  No cut otherwise: each table counts towards the level-0 trigger, and a cut
     * that moves nothing would only bring the next L0 merge sooner.  A table that spans
     * partitions is always merged, never moved (compaction.c), so it cannot sit below L0
     * across a range that later flushes would cut apart. */
    size_t prefix = db_partition_prefix(db);
    flush_out o;
    int rc = flush_out_open(db, &o);
    /* Versions shadowed by a newer one that every reader can see are not written (as in a
     * compaction): an update-heavy memtable flushes to about its live size. */
    pthread_mutex_lock(&db->mu);
    uint64_t smallest_snapshot = snapshot_oldest(db);
    pthread_mutex_unlock(&db->mu);
    slice prev_user = {NULL, 0}, first_user = {NULL, 0}; /* first_user: of the current table */
    uint64_t prev_seq = 0;
    for (; !rc && iter_valid(it); iter_next(it)) {
        slice k = iter_key(it), v = iter_value(it);
        uint64_t s = ikey_seq(k.data, k.len);
        slice u = ikey_user(k.data, k.len);
        int same = prev_user.data && ukey_compare(u.data, u.len, prev_user.data, prev_user.len) == 0;
        int shadowed = same && prev_seq <= smallest_snapshot;
        if (!same && prev_user.data && *nout + 1 < FLUSH_MAX_TABLES &&
            ukey_partition_differs(prefix, prev_user.data, prev_user.len, u.data, u.len) &&
            range_alone(db, first_user, prev_user)) {
            rc = flush_out_finish(db, &o, out, nout);
            if (!rc) rc = flush_out_open(db, &o);
            if (rc) break;
            first_user.data = NULL;
        }
        if (!first_user.data) first_user = u;
        prev_user = u; /* memtable entries stay put while the memtable lives */
        prev_seq = s;
        if (shadowed) continue;
        if (s < o.min_seq) o.min_seq = s;
        if (s > o.max_seq) o.max_seq = s;
        rc = sst_builder_add(o.b, k.data, k.len, v.data, v.len);
    }
    iter_destroy(it);
    if (!rc) rc = flush_out_finish(db, &o, out, nout);
    if (rc) {
        if (o.b) sst_builder_abandon(o.b);
        flush_tables_drop(out, *nout);
        *nout = 0;
        return rc;
    }
    stat_add(&db->stats.flushes, 1);
    return 0;
}

int db_log_and_apply(lsm_db *db, version_edit *e)
{
    version *v = NULL;
    int rc = 0, logged = 0;
    pthread_mutex_lock(&db->mu);
    if (!db->vs.manifest || db->manifest_stale) {
        /* No usable manifest (open could not write one on a full disk, or an append to it
         * failed leaving its tail unknown): start a fresh one from the current state before
         * logging this edit.  Under mu: it reads the counters writers advance; rare. */
        rc = manifest_write_snapshot(&db->vs, vset_new_file_number(&db->vs));
        if (!rc) db->manifest_stale = 0;
    }
    /* vset_apply advances the log number at once; a failed edit must not leave it advanced,
     * or a later snapshot would drop a WAL whose memtable is in no table. */
    uint64_t old_log = db->vs.log_number;
    edit_set_next_file(e, db->vs.next_file);
    if (!e->has_last_seq) edit_set_last_seq(e, db->last_seq);
    if (!rc) rc = vset_apply(&db->vs, e, &v);
    pthread_mutex_unlock(&db->mu);
    if (!rc) {
        rc = manifest_log(&db->vs, e);
        /* The record may be on disk only if the manifest writer is finished (a failed
         * fsync, or a partial record it could not take back). */
        logged = rc && wal_failed(db->vs.manifest);
        if (logged) db->manifest_stale = 1;
    }
    pthread_mutex_lock(&db->mu);
    if (!rc) {
        vset_install(&db->vs, v, 1);
        /* A long session's edits are folded into a fresh snapshot now and then, so the
         * manifest (replayed at open) stays small: past 8 memtables' worth (32 MiB by
         * default; small test memtables make it roll often).  Under mu: it reads the
         * counters that writers advance; rare, so the I/O under mu is fine. */
        uint64_t roll = 8 * (uint64_t)db->opt.memtable_size;
        if (roll < 64 * 1024) roll = 64 * 1024;
        if (wal_size(db->vs.manifest) > roll) {
            int mrc = manifest_write_snapshot(&db->vs, vset_new_file_number(&db->vs));
            if (mrc) db_set_bg_error(db, mrc);
        }
    } else {
        if (v) version_unref(v);
        db->vs.log_number = old_log;
        /* Tables written for this edit are not live: delete them once released -- unless
         * the manifest append was attempted: the record may be on disk even though the
         * append or its fsync failed, and then a reopen needs these tables (if it does not,
         * the reopen deletes them as orphans). */
        for (size_t i = 0; i < e->nadded && !logged; i++) {
            file_meta *f = e->added[i].f;
            int live = 0;
            for (int l = 0; l < LSM_NUM_LEVELS && !live; l++)
                for (size_t j = 0; j < db->vs.current->nfiles[l] && !live; j++)
                    live = db->vs.current->files[l][j] == f;
            if (!live) {
                f->vs = &db->vs;
                __atomic_store_n(&f->obsolete, 1, __ATOMIC_RELEASE);
            }
        }
        db_set_bg_error(db, rc);
    }
    pthread_cond_broadcast(&db->done_cv);
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int flush_oldest_imm(lsm_db *db) { return flush_imms(db, 0); }

int flush_imms(lsm_db *db, int all)
{
    memtable *ms[DB_MAX_IMM];
    uint64_t logs[DB_MAX_IMM];
    pthread_mutex_lock(&db->mu);
    int n = all ? db->nimm : 1;
    for (int i = 0; i < n; i++) {
        ms[i] = db->imm[i].mem;
        logs[i] = db->imm[i].log;
    }
    uint64_t next_log = db->nimm > n ? db->imm[n].log : db->mem_log;
    pthread_mutex_unlock(&db->mu);

    file_meta *fs[FLUSH_MAX_TABLES];
    size_t nf = 0;
    int rc = flush_build_merged(db, ms, n, fs, &nf);
    version_edit e;
    edit_init(&e);
    for (size_t i = 0; !rc && i < nf; i++) rc = edit_add_file(&e, 0, fs[i]);
    if (rc) flush_tables_drop(fs, nf);
    else
        for (size_t i = 0; i < nf; i++) file_meta_unref(fs[i]);
    if (!rc) {
        edit_set_log_number(&e, next_log);
        rc = db_log_and_apply(db, &e);
    }
    edit_clear(&e);
    if (rc) {
        pthread_mutex_lock(&db->mu);
        db_set_bg_error(db, rc);
        pthread_mutex_unlock(&db->mu);
        return rc;
    }
    wal_writer *wals[DB_MAX_IMM];
    pthread_mutex_lock(&db->mu);
    /* Their data is in a table now: their WALs go, once no sync is in one (lsm_sync) */
    while (db->wal_syncers > 0) pthread_cond_wait(&db->sync_cv, &db->mu);
    for (int i = 0; i < n; i++) wals[i] = db->imm[i].wal;
    for (int i = n; i < db->nimm; i++) db->imm[i - n] = db->imm[i];
    db->nimm -= n;
    pthread_cond_broadcast(&db->done_cv);
    pthread_mutex_unlock(&db->mu);
    for (int i = 0; i < n; i++) {
        wal_writer_close(wals[i]);
        memtable_unref(ms[i]);
        char *path = wal_file_name(db->dir, logs[i]);
        if (path) db->env->unlink(db->env, path);
        free(path);
    }
    return 0;
}

int db_background_step(lsm_db *db)
{
    pthread_mutex_lock(&db->mu);
    int has_imm = db->nimm > 0, err = db->bg_error;
    /* After a flush failed for lack of space, flush every immutable memtable as one table:
     * versions shadowed by newer ones (e.g. data the user deleted to make room) are not
     * written, so the table may fit where the oldest memtable alone did not, and then all
     * their WALs go. */
    int merged = has_imm && db->bg_soft_error && db->nimm > 1;
    pthread_mutex_unlock(&db->mu);
    if (err) return err;
    int rc = has_imm ? flush_imms(db, merged) : compaction_run_one(db);
    pthread_mutex_lock(&db->mu);
    if (rc < 0) {
        db_set_bg_error(db, rc);
        /* Ask the next writer to move the active memtable to the immutable ones, so the
         * next (merged) attempt includes its newer versions and tombstones. */
        if (has_imm && db_error_transient(rc) && memtable_entries(db->mem) > 0)
            db->want_switch = 1;
    } else if (rc > 0 || has_imm) {
        db->bg_soft_error = 0; /* there was room after all */
    }
    pthread_mutex_unlock(&db->mu);
    if (rc < 0) return rc;
    return has_imm ? 1 : rc;
}

int db_work_inline(lsm_db *db)
{
    int rc;
    pthread_mutex_lock(&db->work_mu);
    do rc = db_background_step(db);
    while (rc > 0);
    pthread_mutex_unlock(&db->work_mu);
    return rc < 0 ? rc : 0;
}

/* Backoff between retries of a step that failed for lack of space: from 10 ms, doubling, up
 * to 1 s.  Only shutdown or a writer that is about to fail for lack of space (bg_retry_now)
 * ends the wait early, so a full disk does not turn into a busy loop. */
#define BG_RETRY_MIN_MS 10
#define BG_RETRY_MAX_MS 1000

static void backoff_wait(lsm_db *db, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    while (!db->shutting_down && !db->bg_retry_now &&
           pthread_cond_timedwait(&db->bg_cv, &db->mu, &ts) == 0) {
    }
    db->bg_retry_now = 0;
}

void *db_background_main(void *arg)
{
    lsm_db *db = arg;
    int idle = 0; /* the last step found nothing to do: wait for a change */
    int retry_ms = 0; /* current backoff after a lack-of-space failure, 0 if none */
    pthread_mutex_lock(&db->mu);
    /* Every wait is preceded, under mu, by the shutdown and work checks, so a signal sent
     * while a step ran is never lost. */
    while (!db->shutting_down) {
        if (db->bg_error || idle || (db->nimm == 0 && !compaction_needed(db))) {
            compaction_wait_for_work(db); /* (may find the store idle: see compaction.c) */
            idle = 0;
            continue;
        }
        pthread_mutex_unlock(&db->mu);
        pthread_mutex_lock(&db->work_mu);
        int rc = db_background_step(db);
        pthread_mutex_unlock(&db->work_mu);
        pthread_mutex_lock(&db->mu);
        db->bg_steps++;
        pthread_cond_broadcast(&db->done_cv);
        idle = rc == 0 && db->nimm == 0;
        if (rc < 0 && db_error_transient(rc) && !db->bg_error) {
            retry_ms = retry_ms ? retry_ms * 2 : BG_RETRY_MIN_MS;
            if (retry_ms > BG_RETRY_MAX_MS) retry_ms = BG_RETRY_MAX_MS;
            backoff_wait(db, retry_ms);
        } else {
            retry_ms = 0;
        }
    }
    pthread_mutex_unlock(&db->mu);
    return NULL;
}
