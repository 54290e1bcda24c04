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
 * Tables.  In a leveled store an ingest rolls over to a new table every INGEST_TABLE_TARGETS
 * x target_file_size bytes, so a big load does not become one huge table that any later overlapping compaction
 * would have to rewrite whole.  A rolled table is finished but not synced (its writeback is
 * started, sst_builder_finish_unsynced): the writer never waits for the disk in the middle of
 * a load.  Commit places all of them in one manifest edit (or falls back for all of them).  A
 * size-tiered store keeps one table per ingest: its runs must hold disjoint sequence ranges.
 *
 * Tables are written with O_DIRECT where the file system allows (direct_writer.h): a big file's
 * chunks would otherwise fill the page cache with pages that its readers do not use (the
 * FUSE client caches the file itself) and that cost an allocation and a copy each.
 *
 * Durability.  Commit fsyncs every table (most of each is on disk by then), renames it from
 * its temporary name and fsyncs the directory once; the manifest edit is synced before commit
 * returns.  A crash before that leaves temporary or orphan tables that open deletes.
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
/* A leveled store's ingest rolls over to a new table at this many target_file_size (64 MiB
 * by default): small enough that a compaction meeting one rewrites little, big enough that a
 * load makes few manifest entries. */
#define INGEST_TABLE_TARGETS 32

/* A finished table of an ingest, not yet durable: at path + ".tmp" until published. */
typedef struct ingest_table {
    uint64_t number;
    char *path;
    sst_meta meta;
} ingest_table;

struct lsm_ingest {
    lsm_db *db;
    sst_builder *b;  /* the table being written */
    char *path;      /* its final name */
    uint64_t number, seq;
    ingest_table *done; /* finished tables, in key order */
    size_t ndone, cap;
    uint64_t table_max; /* roll over at this table size; 0: never */
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

/* Start in's next table (in->b, in->path, in->number).  REQUIRES: no table open. */
static int table_open(lsm_ingest *in)
{
    lsm_db *db = in->db;
    pthread_mutex_lock(&db->mu);
    in->number = vset_new_file_number(&db->vs);
    pthread_mutex_unlock(&db->mu);
    in->path = table_file_name(db->dir, in->number);
    if (!in->path) return lsm_error(LSM_ENOMEM, "ingest: out of memory");
    sst_options so = {db->opt.block_size, db->opt.block_restart_interval,
                      db->opt.bloom_bits_per_key, db->opt.compression, 1};
    int rc = sst_builder_open(db->env, in->path, in->number, &so, &in->b);
    if (rc) {
        free(in->path);
        in->path = NULL;
    }
    return rc;
}

/* Finish the open table, unsynced, onto in->done. */
static int table_close(lsm_ingest *in)
{
    if (in->ndone == in->cap) {
        size_t cap = in->cap ? in->cap * 2 : 4;
        ingest_table *n = realloc(in->done, cap * sizeof *n);
        if (!n) return lsm_error(LSM_ENOMEM, "ingest: out of memory");
        in->done = n;
        in->cap = cap;
    }
    ingest_table *t = &in->done[in->ndone];
    int rc = sst_builder_finish_unsynced(in->b, &t->meta);
    in->b = NULL;
    if (rc) return rc; /* (the builder removed its file) */
    stat_add(&in->db->stats.ingest_bytes, t->meta.file_size);
    stat_add(&in->db->stats.ingest_direct_bytes, t->meta.direct_bytes);
    t->number = in->number;
    t->path = in->path;
    in->path = NULL;
    in->ndone++;
    return 0;
}

int lsm_ingest_begin(lsm_db *db, lsm_ingest **out)
{
    *out = NULL;
    if (db->read_only) return lsm_error(LSM_EINVAL, "%s: store is open read-only", db->dir);
    lsm_ingest *in = calloc(1, sizeof *in);
    if (!in) return lsm_error(LSM_ENOMEM, "ingest: out of memory");
    in->db = db;
    if (db->opt.compaction_style != LSM_COMPACTION_TIERED)
        in->table_max = INGEST_TABLE_TARGETS * (uint64_t)db->opt.target_file_size;
    int rc = table_open(in);
    if (rc) {
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
    if (in->table_max && sst_builder_file_size(in->b) >= in->table_max) {
        /* roll over before this key: the tables' key ranges stay disjoint and in order */
        if ((rc = table_close(in)) || (rc = table_open(in))) return in->err = rc;
    }
    rc = sst_builder_add(in->b, in->ikey.data, in->ikey.len, value, value_len);
    if (rc) return in->err = rc;
    in->entries++;
    in->bytes += key_len + value_len;
    return 0;
}

uint64_t lsm_ingest_bytes(const lsm_ingest *in) { return in->bytes; }

static void ingest_free(lsm_ingest *in)
{
    for (size_t i = 0; i < in->ndone; i++) {
        free(in->done[i].path);
        sst_meta_clear(&in->done[i].meta);
    }
    free(in->done);
    buf_free(&in->ikey);
    buf_free(&in->last);
    free(in->path);
    free(in);
}

/* Remove the files of the finished tables from index i on, under either name. */
static void unlink_tables(lsm_ingest *in, size_t i)
{
    lsm_env *env = in->db->env;
    for (; i < in->ndone; i++) {
        char *p = in->done[i].path;
        size_t n = strlen(p);
        char *tmp = malloc(n + 5);
        if (tmp) {
            memcpy(tmp, p, n);
            memcpy(tmp + n, ".tmp", 5);
            env->unlink(env, tmp);
            free(tmp);
        }
        env->unlink(env, p);
    }
}

void lsm_ingest_abandon(lsm_ingest *in)
{
    if (!in) return;
    if (in->b) sst_builder_abandon(in->b);
    unlink_tables(in, 0);
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

/* Whether table f holds an entry whose user key lies in [lo, hi].  Its range may span
 * [lo, hi] with no key inside: lsmfs's chunk keys of a new big file sort between the chunks
 * of older files, so every table of small files spans them.  1, 0 or a negative error. */
static int table_holds(table_cache *tc, const file_meta *f, slice lo, slice hi, buf *scratch)
{
    iter *it = tc_iter(tc, f->number, 0);
    if (!it) return lsm_error(LSM_ENOMEM, "ingest: out of memory");
    int rc = buf_reserve(scratch, lo.len + IKEY_TRAILER);
    if (!rc) {
        size_t n = ikey_build(scratch->data, lo.data, lo.len, IKEY_MAX_SEQ, IKEY_TYPE_SEEK);
        iter_seek(it, scratch->data, n);
        if (iter_valid(it)) {
            slice k = iter_key(it);
            slice u = ikey_user(k.data, k.len);
            rc = ukey_compare(u.data, u.len, hi.data, hi.len) <= 0;
        } else {
            rc = iter_status(it);
        }
    }
    iter_destroy(it);
    return rc;
}

/* The level for a table of range [lo, hi] whose entries have sequence seq in version v, or
 * -1 if a table there may hold a newer version of one of its keys.  Size-tiered stores keep
 * every run in level 0.  A leveled store puts it at the deepest level l >= 1 that no table
 * overlaps (levels above 0 hold disjoint ranges) and above every table holding one of its
 * keys; tables that merely span the range do not hold it up, so a big file written after
 * many small ones still lands below level 0 instead of stalling writers there.  Reads tables
 * (I/O): REQUIRES work_mu, so v cannot change.  0 or a negative error in *rc. */
static int pick_level(lsm_db *db, const version *v, slice lo, slice hi, uint64_t seq,
                      int tiered, buf *scratch, int *rc)
{
    int deepest_free = 0; /* the deepest level >= 1 no table overlaps, above any holder */
    int below_holder = 0; /* a shallower level holds a key: deeper levels are not candidates */
    *rc = 0;
    /* Every level is read: a newer version may sit below an older key's level (keys written
     * during the ingest and compacted down), and the ingest must not shadow it. */
    for (int l = 0; l < LSM_NUM_LEVELS; l++) {
        file_meta **fs = NULL;
        size_t n = 0;
        if ((*rc = version_overlapping(v, l, &lo, &hi, &fs, &n))) return -1;
        int held = 0, newer = 0;
        for (size_t i = 0; i < n && !*rc && !newer; i++) {
            int h = tiered ? 1 : table_holds(db->tc, fs[i], lo, hi, scratch);
            if (h < 0) *rc = h;
            held |= h > 0;
            newer |= h > 0 && fs[i]->largest_seq >= seq;
        }
        free(fs);
        if (*rc || newer) return -1;
        below_holder |= held;
        if (l > 0 && n == 0 && !below_holder) deepest_free = l;
    }
    return tiered ? 0 : deepest_free;
}

/* Whether any memtable holds an entry.  REQUIRES: mu. */
static int memtables_hold_entries(const lsm_db *db)
{
    return db->nimm > 0 || memtable_entries(db->mem) > 0;
}

/* Try to add the n tables t (disjoint key ranges in order, all of sequence seq, their
 * metadata f) to the tree in one manifest edit.  Returns 0 when installed, 1 when they must
 * fall back, or a negative error; *logged is set once an edit was attempted.
 *
 * Size-tiered runs must hold disjoint sequence ranges in the order of level 0, since merges
 * of adjacent runs take the largest sequence of the newest: a run added while a memtable
 * still held older entries of other keys would let a merge of it with older runs jump over
 * those entries, and their table, flushed later, would sort below the merged run and lose
 * to older versions there (a deleted key came back).  So a tiered store flushes every
 * memtable before the run goes in; after that flush (begun after the sequence was reserved)
 * the memtables hold only newer writes. */
static int install(lsm_db *db, const ingest_table *t, file_meta **f, size_t n, uint64_t seq,
                   int *logged)
{
    buf scratch = {0};
    int rc = 0;
    int *level = calloc(n, sizeof *level);
    if (!level) return lsm_error(LSM_ENOMEM, "ingest: out of memory");
    slice lo = ikey_user(t[0].meta.smallest, t[0].meta.smallest_len);
    slice hi = ikey_user(t[n - 1].meta.largest, t[n - 1].meta.largest_len);
    for (int attempt = 0;; attempt++) {
        pthread_mutex_lock(&db->work_mu);
        pthread_mutex_lock(&db->mu);
        int tiered = db->opt.compaction_style == LSM_COMPACTION_TIERED;
        /* (tiered: after the first flush, entries in the memtables are all newer) */
        int busy = memtables_overlap(db, lo, hi, &scratch) ||
                   (tiered && attempt == 0 && memtables_hold_entries(db));
        pthread_mutex_unlock(&db->mu);
        int placed = !busy;
        for (size_t i = 0; placed && !rc && i < n; i++) {
            slice a = ikey_user(t[i].meta.smallest, t[i].meta.smallest_len);
            slice z = ikey_user(t[i].meta.largest, t[i].meta.largest_len);
            level[i] = pick_level(db, db->vs.current, a, z, seq, tiered, &scratch, &rc);
            placed = level[i] >= 0;
        }
        if (placed && !rc) {
            version_edit e;
            edit_init(&e);
            for (size_t i = 0; !rc && i < n; i++) rc = edit_add_file(&e, level[i], f[i]);
            if (!rc) {
                *logged = 1;
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
        if (rc || placed) break;
        if (!busy || attempt > 0) {
            rc = 1;
            break;
        }
        /* An older version of a key in the range (tiered: an older entry of any key) may sit
         * in a memtable: flush, then retry. */
        if ((rc = lsm_flush(db))) break;
    }
    free(level);
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

/* Make every finished table of in durable under its final name: fsync and rename each, then
 * fsync the directory once. */
static int publish_all(lsm_ingest *in)
{
    lsm_db *db = in->db;
    int rc = 0;
    for (size_t i = 0; !rc && i < in->ndone; i++) rc = sst_table_publish(db->env, in->done[i].path);
    if (!rc && (rc = db->env->fsync_dir(db->env, db->dir)))
        rc = lsm_error(rc, "%s: directory fsync failed: %s", db->dir, strerror(-rc));
    return rc;
}

/* The entries of every table of in through write batches (install said they cannot go in). */
static int rewrite_all(lsm_ingest *in)
{
    int rc = 0;
    for (size_t i = 0; !rc && i < in->ndone; i++)
        rc = rewrite_through_batches(in->db, in->done[i].path, in->done[i].number);
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
    rc = table_close(in);
    if (!rc) rc = publish_all(in);
    if (rc) {
        lsm_ingest_abandon(in);
        return rc;
    }
    size_t n = in->ndone;
    file_meta **f = calloc(n, sizeof *f);
    if (!f) rc = lsm_error(LSM_ENOMEM, "ingest: out of memory");
    uint64_t file_bytes = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        const sst_meta *m = &in->done[i].meta;
        f[i] = file_meta_of_table(in->done[i].number, m, in->seq, in->seq, NULL);
        if (!f[i]) {
            rc = lsm_error(LSM_ENOMEM, "ingest: out of memory");
            break;
        }
        file_bytes += m->file_size;
    }
    int logged = 0; /* a manifest edit adding the tables was attempted */
    if (!rc) {
        rc = install(db, in->done, f, n, in->seq, &logged);
        if (rc == 1) rc = rewrite_all(in);
    }
    if (!logged) {
        /* in no edit (fell back or failed before one): the files go now.  A failed edit is
         * db_log_and_apply's to judge: its record may be on disk, and then the files stay. */
        for (size_t i = 0; f && i < n; i++)
            if (f[i]) __atomic_store_n(&f[i]->obsolete, 1, __ATOMIC_RELEASE);
        if (!f) unlink_tables(in, 0);
        else
            for (size_t i = 0; i < n; i++)
                if (!f[i]) db->env->unlink(db->env, in->done[i].path);
    } else if (!rc) {
        stat_add(&db->stats.user_bytes, in->bytes);
        stat_add(&db->stats.user_ops, in->entries);
        stat_add(&db->stats.flush_bytes, file_bytes);
    }
    for (size_t i = 0; f && i < n; i++) {
        if (f[i]) {
            f[i]->vs = &db->vs;
            file_meta_unref(f[i]);
        }
    }
    free(f);
    ingest_free(in);
    return rc < 0 ? rc : 0;
}
