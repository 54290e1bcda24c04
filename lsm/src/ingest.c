/*
 * ingest.c — adding a sorted run of new entries as a finished table (lsm_ingest_*, lsm.h).
 *
 * A bulk writer (lsmfs streaming a big file) would otherwise pay for every byte three times:
 * in the WAL, in the memtable flush and in compactions.  An ingest writes the entries once,
 * into a table of their own, and adds that table to the tree with one manifest edit, like
 * RocksDB's IngestExternalFile.
 *
 * Versions.  lsm_ingest_begin reserves one sequence number S for every entry of the table,
 * taken when no write group is in flight, so every write that completed before it is older
 * and every write that starts after it is newer.  At commit the table must go where readers
 * meet it after everything older and before everything newer for the same keys:
 *   - a memtable holding a key of the table's range may hold an older version, which reads
 *     would find first: the memtables are flushed (once) before the table is placed;
 *   - a table that overlaps the range and holds a sequence >= S may hold a newer version that
 *     a deep placement would hide: then the ingest is not placed (see the fallback below);
 *   - otherwise the table goes to level 0 if a level-0 table overlaps (level 0 is ordered by
 *     largest sequence, and every overlapping table is older), else to the deepest level
 *     such that no table of that level or any level above it overlaps the range (as LevelDB
 *     places flush output, PickLevelForMemTableOutput): sequential bulk data lands at the
 *     bottom and is never compacted again until something overwrites it.  With size-tiered
 *     compaction every run lives in level 0, and so does an ingested one, and
 *     every memtable is flushed first: runs must hold disjoint sequence ranges (install()).
 * The choice and the manifest edit happen under work_mu, so no flush or compaction changes
 * the tree in between.
 *
 * Fallback.  When the table cannot be placed, its entries are read back and written through
 * the normal write path in batches (each atomic), and the table file is deleted.  Slow, rare:
 * it needs a concurrent writer to the same key range.
 *
 * Durability.  sst_builder_finish fsyncs the table and its directory and the manifest edit is
 * synced before commit returns.  A crash before that leaves an orphan table that open deletes.
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "db_impl.h"
#include "filename.h"
#include "ikey.h"
#include "sstable.h"
#include "status.h"

#define INGEST_FALLBACK_BATCH (4u << 20) /* bytes per batch when the table cannot be placed */

struct lsm_ingest {
    lsm_db *db;
    sst_builder *b;
    char *path;
    uint64_t number, seq;
    buf ikey;      /* scratch for the internal key being added */
    buf last;      /* the last user key added */
    uint64_t entries, bytes;
    int err;       /* first error of a put; sticky, commit returns it */
};

/* The next sequence number, reserved for an ingest: taken under mu while no write group is
 * between choosing its sequence numbers and publishing them (the queue is empty then). */
static uint64_t reserve_sequence(lsm_db *db)
{
    pthread_mutex_lock(&db->mu);
    while (db->wq_head) {
        pthread_mutex_unlock(&db->mu);
        sched_yield();
        pthread_mutex_lock(&db->mu);
    }
    uint64_t s = ++db->last_seq;
    pthread_mutex_unlock(&db->mu);
    return s;
}

int lsm_ingest_begin(lsm_db *db, lsm_ingest **out)
{
    *out = NULL;
    if (db->read_only) return lsm_error(LSM_EINVAL, "%s: store is open read-only", db->dir);
    lsm_ingest *in = calloc(1, sizeof *in);
    if (!in) return lsm_error(LSM_ENOMEM, "ingest: out of memory");
    in->db = db;
    pthread_mutex_lock(&db->mu);
    in->number = vset_new_file_number(&db->vs);
    pthread_mutex_unlock(&db->mu);
    in->path = table_file_name(db->dir, in->number);
    if (!in->path) {
        free(in);
        return lsm_error(LSM_ENOMEM, "ingest: out of memory");
    }
    sst_options so = {db->opt.block_size, db->opt.block_restart_interval,
                      db->opt.bloom_bits_per_key, db->opt.compression};
    int rc = sst_builder_open(db->env, in->path, in->number, &so, &in->b);
    if (rc) {
        free(in->path);
        free(in);
        return rc;
    }
    in->seq = reserve_sequence(db);
    *out = in;
    return 0;
}

int lsm_ingest_put(lsm_ingest *in, const void *key, size_t key_len, const void *value,
                   size_t value_len)
{
    if (in->err) return in->err;
    if (key_len > LSM_MAX_KEY_SIZE || value_len > LSM_MAX_VALUE_SIZE)
        return lsm_error(LSM_ETOOBIG, "ingest: entry of %zu + %zu bytes exceeds the limits",
                         key_len, value_len);
    if (in->entries && ukey_compare(key, key_len, in->last.data, in->last.len) <= 0)
        return lsm_error(LSM_EINVAL, "ingest: keys must be added in strictly increasing order");
    in->ikey.len = 0;
    int rc = buf_reserve(&in->ikey, key_len + IKEY_TRAILER);
    if (!rc) {
        in->ikey.len = ikey_build(in->ikey.data, key, key_len, in->seq, IKEY_TYPE_VALUE);
        in->last.len = 0;
        rc = buf_append(&in->last, key, key_len);
    }
    if (rc) return in->err = lsm_error(LSM_ENOMEM, "ingest: out of memory");
    rc = sst_builder_add(in->b, in->ikey.data, in->ikey.len, value, value_len);
    if (rc) return in->err = rc;
    in->entries++;
    in->bytes += key_len + value_len;
    return 0;
}

uint64_t lsm_ingest_bytes(const lsm_ingest *in) { return in->bytes; }

static void ingest_free(lsm_ingest *in)
{
    buf_free(&in->ikey);
    buf_free(&in->last);
    free(in->path);
    free(in);
}

void lsm_ingest_abandon(lsm_ingest *in)
{
    if (!in) return;
    if (in->b) sst_builder_abandon(in->b);
    ingest_free(in);
}

/* Whether memtable m holds a key in [lo, hi] (user keys). */
static int memtable_overlaps(memtable *m, slice lo, slice hi, buf *scratch)
{
    if (buf_reserve(scratch, lo.len + IKEY_TRAILER)) return 1; /* unknown: assume it does */
    size_t n = ikey_build(scratch->data, lo.data, lo.len, IKEY_MAX_SEQ, IKEY_TYPE_SEEK);
    iter *it = memtable_iter(m);
    if (!it) return 1;
    iter_seek(it, scratch->data, n);
    int hit = 0;
    if (iter_valid(it)) {
        slice k = iter_key(it);
        slice u = ikey_user(k.data, k.len);
        hit = ukey_compare(u.data, u.len, hi.data, hi.len) <= 0;
    }
    iter_destroy(it);
    return hit;
}

/* Whether any memtable holds a key in [lo, hi].  REQUIRES: mu. */
static int memtables_overlap(lsm_db *db, slice lo, slice hi, buf *scratch)
{
    if (memtable_overlaps(db->mem, lo, hi, scratch)) return 1;
    for (int i = 0; i < db->nimm; i++)
        if (memtable_overlaps(db->imm[i].mem, lo, hi, scratch)) return 1;
    return 0;
}

/* The level for a table of range [lo, hi] whose entries have sequence seq in version v, or
 * -1 if a table there may hold a newer version of one of its keys.  Size-tiered stores keep
 * every run in level 0.  0 or LSM_ENOMEM in *rc. */
static int pick_level(const version *v, slice lo, slice hi, uint64_t seq, int tiered, int *rc)
{
    int first = LSM_NUM_LEVELS; /* the shallowest level with an overlapping table */
    *rc = 0;
    for (int l = 0; l < LSM_NUM_LEVELS; l++) {
        file_meta **fs = NULL;
        size_t n = 0;
        if ((*rc = version_overlapping(v, l, &lo, &hi, &fs, &n))) return -1;
        int newer = 0;
        for (size_t i = 0; i < n; i++) newer |= fs[i]->largest_seq >= seq;
        free(fs);
        if (newer) return -1;
        if (n && l < first) first = l;
    }
    if (first == 0 || tiered) return 0;
    return first - 1;
}

/* Whether any memtable holds an entry.  REQUIRES: mu. */
static int memtables_hold_entries(const lsm_db *db)
{
    return db->nimm > 0 || memtable_entries(db->mem) > 0;
}

/* Try to add f (range [lo, hi], sequence seq) to the tree.  Returns 0 when installed, 1 when
 * it must fall back, or a negative error.
 *
 * Size-tiered runs must hold disjoint sequence ranges in the order of level 0, since merges
 * of adjacent runs take the largest sequence of the newest: a run added while a memtable
 * still held older entries of other keys would let a merge of it with older runs jump over
 * those entries, and their table, flushed later, would sort below the merged run and lose
 * to older versions there (a deleted key came back).  So a tiered store flushes every
 * memtable before the run goes in; after that flush (begun after the sequence was reserved)
 * the memtables hold only newer writes. */
static int install(lsm_db *db, file_meta *f, slice lo, slice hi, uint64_t seq, int *level)
{
    buf scratch = {0};
    int rc = 0;
    for (int attempt = 0;; attempt++) {
        pthread_mutex_lock(&db->work_mu);
        pthread_mutex_lock(&db->mu);
        int tiered = db->opt.compaction_style == LSM_COMPACTION_TIERED;
        /* (tiered: after the first flush, entries in the memtables are all newer) */
        int busy = memtables_overlap(db, lo, hi, &scratch) ||
                   (tiered && attempt == 0 && memtables_hold_entries(db));
        int l = busy ? -1 : pick_level(db->vs.current, lo, hi, seq, tiered, &rc);
        pthread_mutex_unlock(&db->mu);
        if (!busy && !rc && l >= 0) {
            version_edit e;
            edit_init(&e);
            rc = edit_add_file(&e, l, f);
            if (!rc) {
                *level = l;
                rc = db_log_and_apply(db, &e);
            }
            edit_clear(&e);
            if (!rc) { /* a new run may call for a compaction */
                pthread_mutex_lock(&db->mu);
                pthread_cond_signal(&db->bg_cv);
                pthread_mutex_unlock(&db->mu);
            }
        }
        pthread_mutex_unlock(&db->work_mu);
        if (rc || (!busy && l >= 0)) break;
        if (!busy || attempt > 0) {
            rc = 1;
            break;
        }
        /* An older version of a key in the range (tiered: an older entry of any key) may sit
         * in a memtable: flush, then retry. */
        if ((rc = lsm_flush(db))) break;
    }
    buf_free(&scratch);
    return rc;
}

/* Write the entries of the finished table at path through lsm_write, in batches. */
static int rewrite_through_batches(lsm_db *db, const char *path, uint64_t number)
{
    sst_reader *r = NULL;
    int rc = sst_reader_open(db->env, path, number, NULL, &r);
    if (rc) return rc;
    iter *it = sst_reader_iter(r, 0);
    lsm_batch *b = lsm_batch_new();
    if (!it || !b) rc = lsm_error(LSM_ENOMEM, "ingest: out of memory");
    for (iter_seek_first(it); !rc && iter_valid(it); iter_next(it)) {
        slice k = iter_key(it), v = iter_value(it);
        slice u = ikey_user(k.data, k.len);
        rc = lsm_batch_put(b, u.data, u.len, v.data, v.len);
        if (!rc && lsm_batch_size(b) >= INGEST_FALLBACK_BATCH) {
            rc = lsm_write(db, NULL, b);
            lsm_batch_clear(b);
        }
    }
    if (!rc && it) rc = iter_status(it);
    if (!rc && lsm_batch_count(b)) rc = lsm_write(db, NULL, b);
    lsm_batch_free(b);
    if (it) iter_destroy(it);
    sst_reader_close(r);
    return rc;
}

int lsm_ingest_commit(lsm_ingest *in)
{
    lsm_db *db = in->db;
    int rc = in->err;
    if (rc || in->entries == 0) {
        lsm_ingest_abandon(in);
        return rc;
    }
    sst_meta meta;
    memset(&meta, 0, sizeof meta);
    rc = sst_builder_finish(in->b, &meta);
    in->b = NULL;
    if (rc) {
        ingest_free(in);
        return rc;
    }
    file_meta *f = file_meta_new(in->number, meta.file_size, meta.smallest, meta.smallest_len,
                                 meta.largest, meta.largest_len);
    if (!f) rc = lsm_error(LSM_ENOMEM, "ingest: out of memory");
    int level = -1; /* >= 0 once a manifest edit adding f was attempted */
    if (!rc) {
        f->entries = meta.num_entries;
        f->raw_key_bytes = meta.raw_key_bytes;
        f->raw_value_bytes = meta.raw_value_bytes;
        f->smallest_seq = f->largest_seq = in->seq;
        slice lo = ikey_user(meta.smallest, meta.smallest_len);
        slice hi = ikey_user(meta.largest, meta.largest_len);
        rc = install(db, f, lo, hi, in->seq, &level);
        if (rc == 1) rc = rewrite_through_batches(db, in->path, in->number);
    }
    if (level < 0) {
        /* in no edit (fell back or failed before one): the file goes now.  A failed edit is
         * db_log_and_apply's to judge: its record may be on disk, and then the file stays. */
        if (f) __atomic_store_n(&f->obsolete, 1, __ATOMIC_RELEASE);
        else db->env->unlink(db->env, in->path);
    } else if (!rc) {
        stat_add(&db->stats.user_bytes, in->bytes);
        stat_add(&db->stats.user_ops, in->entries);
        stat_add(&db->stats.flush_bytes, meta.file_size);
    }
    if (f) {
        f->vs = &db->vs;
        file_meta_unref(f);
    }
    sst_meta_clear(&meta);
    ingest_free(in);
    return rc < 0 ? rc : 0;
}
