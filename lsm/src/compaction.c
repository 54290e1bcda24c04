/*
 * compaction.c — choosing and running compactions, leveled and size-tiered.
 *
 * Leveled (LevelDB-like).  Level 0 scores its table count / l0_compaction_trigger; level n >= 1
 * scores its bytes / (level1_max_bytes * multiplier^(n-1)).  The highest score >= 1 is
 * compacted: for level 0, every L0 table plus the L1 tables overlapping them, into L1; for a
 * level n, the next table after that level's round-robin pointer plus the overlapping tables of
 * n+1, into n+1 — or, when nothing in n+1 overlaps and the tables under it in n+2 are small
 * enough, a trivial move of the table down one level (a manifest edit, no I/O).  Level 0
 * tables that overlap neither another L0 table nor L1 (sequential inserts, or a range that a
 * flush cut apart at a partition: lsmfs's file chunks) also move down as they are, before the
 * rest of L0 is merged, unless they span partitions.  Outputs are split at target_file_size,
 * when they would overlap more than 10 x target_file_size of the level below the output (so
 * a later compaction of that output stays bounded) and where the partition_prefix of the keys
 * changes (so a range written apart later overlaps no output), and only between user keys, so
 * no user key ever spans two tables of a level.  (Level 0 does not jump the queue when
 * writers are slowed down: with L1 left to grow, every L0 compaction would rewrite more of
 * it, and write amplification ran away in the bounded_l0 test.)
 *
 * Size-tiered.  Every table is a sorted run in level 0, newest first; runs hold disjoint
 * sequence ranges, and only adjacent runs are merged so that stays true.  Rules, first match:
 *   1. space amplification: if the runs other than the oldest add up to more than 20% of the
 *      oldest, merge everything into one run (as RocksDB universal compaction's size-amp rule,
 *      at 1.2): an update-heavy workload stays near its live size;
 *   2. too many runs (>= l0_slowdown_trigger): merge the adjacent tiered_min_merge_width runs
 *      with the smallest total size, to keep reads and stalls bounded;
 *   3. similar sizes: the first window of >= tiered_min_merge_width adjacent runs whose largest
 *      is at most twice its smallest.
 * A tiered output is one table (a run is never split).  lsm_compact_range merges the runs that
 * overlap its range and those between them, no others.
 *
 * Idle work.  When the background thread has had nothing to do for IDLE_WAIT_MS and nothing
 * read or wrote meanwhile, it also compacts what a busy store leaves for later, one ordinary
 * compaction at a time and only until the next read or write: leveled, level 0 into L1 below
 * its trigger, then, while the tables outweigh the live-data estimate (the deepest level) by
 * more than IDLE_SPACE_AMP, the shallowest level's next table one level down; tiered, all runs
 * into one once the newer runs add IDLE_TIERED_SHARE of the oldest.  So an update-heavy store
 * settles near its live size without a manual compaction.
 *
 * Subcompactions.  A leveled compaction of at least SPLIT_MIN_TARGETS x target_file_size is
 * cut at table boundaries of its sorted input level into up to max_subcompactions key spans,
 * merged by as many threads at once (the background thread takes the first and alone flushes
 * memtables in between); the spans share no user key, so their outputs go into the level
 * together, in the compaction's one manifest edit.
 *
 * Merging is a streaming k-way merge (merge_iter) with bounded memory.  For each user key the
 * newest entry is kept, older entries only while a snapshot may still read them (sequence above
 * the oldest snapshot); a tombstone is dropped when no snapshot needs it AND no table outside
 * the compaction that is older than it may hold the key ("bottom").
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db_impl.h"
#include "filename.h"
#include "level_iter.h"
#include "merge_iter.h"
#include "status.h"

#define ENTRIES_BETWEEN_FLUSH_CHECKS 1024
/* Subcompactions: at most this many threads share one compaction, and only one of at least
 * this many target_file_size of input (a smaller one is not worth a thread). */
#define MAX_SPANS 4
#define SPLIT_MIN_TARGETS 4
/* Idle compaction: the store is idle after IDLE_WAIT_MS without reads or writes; leveled idle
 * work goes on while tables exceed IDLE_SPACE_AMP x the live-data estimate, tiered idle work
 * merges all runs once the newer ones add IDLE_TIERED_SHARE of the oldest. */
#define IDLE_WAIT_MS 500
#define IDLE_SPACE_AMP 1.2
#define IDLE_TIERED_SHARE 0.05

typedef struct compaction {
    int level, out_level;
    file_meta **in[2];
    size_t nin[2];
    int bottom;       /* tiered: includes the oldest run */
    int trivial_move;
    version *v;       /* referenced input version */
} compaction;

static void compaction_free(compaction *c)
{
    if (!c) return;
    free(c->in[0]);
    free(c->in[1]);
    version_unref(c->v);
    free(c);
}

static uint64_t level_max_bytes(const lsm_options *o, int level)
{
    uint64_t m = o->level1_max_bytes;
    for (int i = 1; i < level; i++) m *= (uint64_t)o->level_multiplier;
    return m;
}

static uint64_t total_size(file_meta *const *f, size_t n)
{
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++) s += f[i]->size;
    return s;
}

/* User-key range covered by files. */
static void range_of(file_meta *const *f, size_t n, slice *lo, slice *hi)
{
    *lo = file_smallest_user(f[0]);
    *hi = file_largest_user(f[0]);
    for (size_t i = 1; i < n; i++) {
        slice s = file_smallest_user(f[i]), l = file_largest_user(f[i]);
        if (ukey_compare(s.data, s.len, lo->data, lo->len) < 0) *lo = s;
        if (ukey_compare(l.data, l.len, hi->data, hi->len) > 0) *hi = l;
    }
}

static compaction *new_compaction(version *v, int level, int out_level)
{
    compaction *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->v = v;
    version_ref(v);
    c->level = level;
    c->out_level = out_level;
    return c;
}

static int copy_files(file_meta ***dst, size_t *n, file_meta *const *src, size_t count)
{
    *dst = malloc((count ? count : 1) * sizeof **dst);
    if (!*dst) return -1;
    memcpy(*dst, src, count * sizeof **dst);
    *n = count;
    return 0;
}

/* Inputs: files[] of level, plus the overlapping tables of out_level.  NULL on OOM. */
static compaction *make_compaction(version *v, int level, int out_level, file_meta *const *files,
                                   size_t n)
{
    compaction *c = new_compaction(v, level, out_level);
    if (!c || copy_files(&c->in[0], &c->nin[0], files, n)) {
        compaction_free(c);
        return NULL;
    }
    if (out_level != level) {
        slice lo, hi;
        range_of(files, n, &lo, &hi);
        if (version_overlapping(v, out_level, &lo, &hi, &c->in[1], &c->nin[1])) {
            compaction_free(c);
            return NULL;
        }
    }
    return c;
}

static int cmp_smallest(const void *a, const void *b)
{
    const file_meta *x = *(file_meta *const *)a, *y = *(file_meta *const *)b;
    return ikey_compare(x->smallest, x->smallest_len, y->smallest, y->smallest_len);
}

/* Whether table f holds keys of more than one partition (lsm_options partition_prefix).  Such a
 * table (only a flush writes one) is merged, never moved: below L0 its range would overlap
 * the tables that later flushes cut apart, and keep them from moving. */
static int spans_partitions(size_t prefix, const file_meta *f)
{
    slice lo = file_smallest_user(f), hi = file_largest_user(f);
    return ukey_partition_differs(prefix, lo.data, lo.len, hi.data, hi.len);
}

/* The L0 tables that overlap no other L0 table and nothing in L1 and lie within one partition
 * (a range written apart, such as a big file's chunks cut off by partition_prefix), as a
 * trivial move into L1; NULL if there are none, or on OOM.  Moving them first keeps them out
 * of the merge of the rest, which would rewrite them for nothing. */
static compaction *pick_l0_isolated(version *v, size_t prefix)
{
    size_t n = v->nfiles[0], k = 0;
    file_meta **sel = malloc((n ? n : 1) * sizeof *sel);
    if (!sel) return NULL;
    for (size_t i = 0; i < n; i++) {
        file_meta *f = v->files[0][i];
        slice lo = file_smallest_user(f), hi = file_largest_user(f);
        if (version_overlap_count(v, 0, &lo, &hi) == 1 && /* (itself) */
            version_overlap_count(v, 1, &lo, &hi) == 0 && !spans_partitions(prefix, f))
            sel[k++] = f;
    }
    compaction *c = NULL;
    if (k > 0) {
        c = new_compaction(v, 0, 1);
        if (c && copy_files(&c->in[0], &c->nin[0], sel, k) == 0) {
            c->trivial_move = 1;
        } else {
            compaction_free(c);
            c = NULL;
        }
    }
    free(sel);
    return c;
}

/* Every L0 table (and the L1 tables they overlap) into L1, after any that can move alone. */
static compaction *pick_l0(version *v, size_t prefix)
{
    compaction *moved = pick_l0_isolated(v, prefix);
    if (moved) return moved;
    compaction *c = make_compaction(v, 0, 1, v->files[0], v->nfiles[0]);
    if (c && c->nin[1] == 0) {
        /* Nothing in L1 overlaps: if the L0 tables do not overlap one another either
         * (sequential inserts), they move down as they are. */
        file_meta **f = malloc(c->nin[0] * sizeof *f);
        if (f) {
            memcpy(f, c->in[0], c->nin[0] * sizeof *f);
            qsort(f, c->nin[0], sizeof *f, cmp_smallest);
            int disjoint = 1;
            for (size_t i = 1; i < c->nin[0] && disjoint; i++) {
                slice a = file_largest_user(f[i - 1]), b = file_smallest_user(f[i]);
                disjoint = ukey_compare(a.data, a.len, b.data, b.len) < 0;
            }
            for (size_t i = 0; i < c->nin[0] && disjoint; i++)
                disjoint = !spans_partitions(prefix, f[i]);
            c->trivial_move = disjoint;
            free(f);
        }
    }
    return c;
}

static compaction *pick_level_file(lsm_db *db, version *v, int l);

static compaction *pick_leveled(lsm_db *db, version *v)
{
    const lsm_options *o = &db->opt;
    double best = 0;
    int best_level = -1;
    for (int l = 0; l < LSM_NUM_LEVELS - 1; l++) {
        double score = l == 0 ? (double)v->nfiles[0] / o->l0_compaction_trigger
                              : (double)version_level_bytes(v, l) / (double)level_max_bytes(o, l);
        if (score > best) best = score, best_level = l;
    }
    if (best < 1.0) return NULL;
    return best_level == 0 ? pick_l0(v, db_partition_prefix(db)) : pick_level_file(db, v, best_level);
}

/* The next table of level l >= 1 (round robin) into l+1, as a trivial move when it can be. */
static compaction *pick_level_file(lsm_db *db, version *v, int l)
{
    const lsm_options *o = &db->opt;
    /* The first table after the level's compaction pointer, round robin. */
    size_t i = 0;
    const buf *p = &db->vs.pointer[l];
    if (p->len)
        while (i < v->nfiles[l] &&
               ikey_compare(v->files[l][i]->largest, v->files[l][i]->largest_len, p->data,
                            p->len) <= 0)
            i++;
    if (i == v->nfiles[l]) i = 0;
    compaction *c = make_compaction(v, l, l + 1, &v->files[l][i], 1);
    if (c && c->nin[1] == 0 && l + 2 < LSM_NUM_LEVELS) {
        slice lo = file_smallest_user(v->files[l][i]), hi = file_largest_user(v->files[l][i]);
        file_meta **gp;
        size_t ngp;
        if (version_overlapping(v, l + 2, &lo, &hi, &gp, &ngp) == 0) {
            c->trivial_move = total_size(gp, ngp) <= 10 * (uint64_t)o->target_file_size;
            free(gp);
        }
    } else if (c && c->nin[1] == 0) {
        c->trivial_move = 1;
    }
    return c;
}

static compaction *pick_tiered(lsm_db *db, version *v)
{
    const lsm_options *o = &db->opt;
    size_t n = v->nfiles[0];
    file_meta **r = v->files[0]; /* newest first */
    if (n < 2) return NULL;
    size_t lo = 0, hi = 0; /* window [lo, hi) */
    uint64_t oldest = r[n - 1]->size, others = total_size(r, n - 1);
    size_t w = (size_t)o->tiered_min_merge_width;
    if ((double)others > 0.2 * (double)oldest) {
        lo = 0, hi = n;
    } else if (n >= (size_t)o->l0_slowdown_trigger && n >= w) {
        uint64_t best = UINT64_MAX;
        for (size_t i = 0; i + w <= n; i++) {
            uint64_t s = total_size(r + i, w);
            if (s < best) best = s, lo = i, hi = i + w;
        }
    } else {
        for (size_t i = 0; i < n && hi == 0; i++) {
            uint64_t mn = r[i]->size, mx = r[i]->size;
            size_t j = i + 1;
            for (; j < n; j++) {
                uint64_t s = r[j]->size;
                uint64_t nmn = s < mn ? s : mn, nmx = s > mx ? s : mx;
                if (nmx > 2 * nmn) break;
                mn = nmn, mx = nmx;
            }
            if (j - i >= w) lo = i, hi = j;
        }
    }
    if (hi - lo < 2) return NULL;
    compaction *c = make_compaction(v, 0, 0, r + lo, hi - lo);
    if (c) c->bottom = hi == n;
    return c;
}

/* Idle work, leveled: level 0 goes down to L1 whatever its table count, then, while the
 * tables outweigh the live-data estimate (the deepest level) by more than IDLE_SPACE_AMP, the
 * shallowest level above the deepest passes its next table down.  Each pick is one ordinary,
 * bounded compaction. */
static compaction *pick_idle_leveled(lsm_db *db, version *v)
{
    if (v->nfiles[0]) return pick_l0(v, db_partition_prefix(db));
    uint64_t total = 0, live = 0;
    int deepest = 0, shallowest = 0;
    for (int l = 1; l < LSM_NUM_LEVELS; l++) {
        uint64_t b = version_level_bytes(v, l);
        if (!v->nfiles[l]) continue;
        if (!shallowest) shallowest = l;
        deepest = l;
        live = b;
        total += b;
    }
    if (shallowest == deepest || (double)total <= IDLE_SPACE_AMP * (double)live) return NULL;
    return pick_level_file(db, v, shallowest);
}

/* Idle work, size-tiered: merge every run into one once the newer runs add IDLE_TIERED_SHARE
 * of the oldest (one rewrite of the store per idle period at most). */
static compaction *pick_idle_tiered(version *v)
{
    size_t n = v->nfiles[0];
    if (n < 2) return NULL;
    uint64_t oldest = v->files[0][n - 1]->size, others = total_size(v->files[0], n - 1);
    if ((double)others < IDLE_TIERED_SHARE * (double)oldest) return NULL;
    compaction *c = make_compaction(v, 0, 0, v->files[0], n);
    if (c) c->bottom = 1;
    return c;
}

/* Reads and writes so far: unchanged over IDLE_WAIT_MS means the store is idle. */
static uint64_t db_activity(lsm_db *db)
{
    return stat_get(&db->stats.user_ops) + stat_get(&db->stats.gets);
}

/* Whether reads and writes have stayed away since the background thread found the store
 * idle.  REQUIRES: mu, or being the background thread (the only writer of the idle fields). */
static int still_idle(lsm_db *db)
{
    return db->idle_work && db_activity(db) == db->idle_activity;
}

static compaction *pick_idle(lsm_db *db, version *v)
{
    return db->opt.compaction_style == LSM_COMPACTION_TIERED ? pick_idle_tiered(v)
                                                             : pick_idle_leveled(db, v);
}

static compaction *pick(lsm_db *db, version *v)
{
    compaction *c = db->opt.compaction_style == LSM_COMPACTION_TIERED ? pick_tiered(db, v)
                                                                      : pick_leveled(db, v);
    if (!c && still_idle(db)) {
        c = pick_idle(db, v);
        if (c) stat_add(&db->stats.idle_compactions, 1);
    }
    return c;
}

void compaction_wait_for_work(lsm_db *db)
{
    if (db->bg_error || db->shutting_down || db->opt.disable_background) {
        pthread_cond_wait(&db->bg_cv, &db->mu);
        return;
    }
    compaction *c = pick_idle(db, db->vs.current);
    int candidate = c != NULL;
    compaction_free(c);
    db->idle_work = 0;
    if (!candidate) {
        pthread_cond_wait(&db->bg_cv, &db->mu);
        return;
    }
    uint64_t before = db_activity(db);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += IDLE_WAIT_MS * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    if (pthread_cond_timedwait(&db->bg_cv, &db->mu, &ts) != ETIMEDOUT) return;
    if (db_activity(db) == before) {
        db->idle_work = 1;
        db->idle_activity = before;
    }
}

int compaction_needed(lsm_db *db)
{
    compaction *c = pick(db, db->vs.current);
    int need = c != NULL;
    compaction_free(c);
    return need;
}

/* ------------------------------------------------------------------ running a compaction */

typedef struct output_state {
    lsm_db *db;
    compaction *c;
    sst_builder *b;
    uint64_t number, min_seq, max_seq;
    version_edit *edit;
    uint64_t written;
} output_state;

static int output_finish(output_state *o)
{
    if (!o->b) return 0;
    sst_meta meta;
    memset(&meta, 0, sizeof meta);
    int rc = sst_builder_finish(o->b, &meta);
    o->b = NULL;
    if (rc) return rc;
    file_meta *f = file_meta_of_table(o->number, &meta, o->min_seq, o->max_seq, &o->db->vs);
    sst_meta_clear(&meta);
    if (!f) return lsm_error(LSM_ENOMEM, "compaction: out of memory");
    o->written += f->size;
    rc = edit_add_file(o->edit, o->c->out_level, f);
    if (rc) __atomic_store_n(&f->obsolete, 1, __ATOMIC_RELEASE);
    file_meta_unref(f);
    return rc;
}

static int output_add(output_state *o, slice k, slice v, uint64_t seq)
{
    lsm_db *db = o->db;
    if (!o->b) {
        pthread_mutex_lock(&db->mu);
        o->number = vset_new_file_number(&db->vs);
        pthread_mutex_unlock(&db->mu);
        char *path = table_file_name(db->dir, o->number);
        if (!path) return lsm_error(LSM_ENOMEM, "compaction: out of memory");
        sst_options so = {db->opt.block_size, db->opt.block_restart_interval,
                          db->opt.bloom_bits_per_key, db->opt.compression, 0};
        int rc = sst_builder_open(db->env, path, o->number, &so, &o->b);
        free(path);
        if (rc) {
            o->b = NULL;
            return rc;
        }
        o->min_seq = UINT64_MAX;
        o->max_seq = 0;
    }
    if (seq < o->min_seq) o->min_seq = seq;
    if (seq > o->max_seq) o->max_seq = seq;
    return sst_builder_add(o->b, k.data, k.len, v.data, v.len);
}

static iter *input_iter(lsm_db *db, compaction *c)
{
    size_t cap = c->nin[0] + 1;
    iter **ch = malloc(cap * sizeof *ch);
    if (!ch) return NULL;
    int n = 0;
    if (c->level == 0) {
        for (size_t i = 0; i < c->nin[0]; i++) ch[n++] = tc_iter(db->tc, c->in[0][i]->number, 0);
    } else {
        ch[n++] = level_iter_new(db->tc, c->in[0], c->nin[0], 0);
    }
    if (c->nin[1]) ch[n++] = level_iter_new(db->tc, c->in[1], c->nin[1], 0);
    for (int i = 0; i < n; i++)
        if (!ch[i]) {
            for (int j = 0; j < n; j++) iter_destroy(ch[j]);
            free(ch);
            return NULL;
        }
    return merge_iter_new(ch, n);
}

/* Flush pending immutable memtables in the middle of a long compaction: writers may be
 * stalled on them, and flushes have priority. */
static int maybe_flush(lsm_db *db)
{
    pthread_mutex_lock(&db->mu);
    int n = db->nimm;
    pthread_mutex_unlock(&db->mu);
    int rc = 0;
    while (!rc && n-- > 0) rc = flush_oldest_imm(db);
    return rc;
}

/* One key span of a compaction: the user keys in (lo, hi] (NULL: unbounded), merged by one
 * thread into output tables of its own edit.  Spans of one compaction never share a user key,
 * so their outputs never overlap and go into the level together in one manifest edit. */
typedef struct span {
    lsm_db *db;
    compaction *c;
    const buf *lo, *hi;
    int may_flush;              /* the calling thread's span flushes memtables in between */
    uint64_t smallest_snapshot;
    version_edit edit;          /* the span's output tables */
    uint64_t written;
    int rc;
    char msg[512];
    pthread_t thread;
} span;

/* Position it at the first entry of span s. */
static int span_seek(span *s, iter *it)
{
    if (!s->lo) {
        iter_seek_first(it);
        return 0;
    }
    uint8_t *k = malloc(s->lo->len + IKEY_TRAILER);
    if (!k) return lsm_error(LSM_ENOMEM, "compaction: out of memory");
    /* (lo, seq 0, delete) is the last internal key lo can have: what follows is > lo. */
    size_t n = ikey_build(k, s->lo->data, s->lo->len, 0, IKEY_TYPE_DELETE);
    iter_seek(it, k, n);
    free(k);
    while (iter_valid(it)) {
        slice u = ikey_user(iter_key(it).data, iter_key(it).len);
        if (ukey_compare(u.data, u.len, s->lo->data, s->lo->len) > 0) break;
        iter_next(it);
    }
    return 0;
}

/* Merge span s's inputs into its outputs: newest version of each key, older ones only while a
 * snapshot needs them, tombstones only while something older below may hold the key. */
static int span_merge(span *s)
{
    lsm_db *db = s->db;
    compaction *c = s->c;
    int leveled = db->opt.compaction_style != LSM_COMPACTION_TIERED;
    uint64_t target = leveled ? db->opt.target_file_size : UINT64_MAX;
    uint64_t gp_limit = 10 * (uint64_t)db->opt.target_file_size;
    size_t prefix = db_partition_prefix(db);
    int gp_level = c->out_level + 1;
    size_t gp_i = 0;
    uint64_t gp_overlap = 0;
    int gp_seen = 0;

    iter *it = input_iter(db, c);
    if (!it) return lsm_error(LSM_ENOMEM, "compaction: out of memory");
    output_state out = {.db = db, .c = c, .edit = &s->edit};
    buf cur = {0};
    int have_cur = 0, rc = span_seek(s, it);
    uint64_t last_seq_for_key = 0, count = 0;
    for (; !rc && iter_valid(it); iter_next(it)) {
        if (s->may_flush && ++count % ENTRIES_BETWEEN_FLUSH_CHECKS == 0 && (rc = maybe_flush(db)))
            break;
        slice k = iter_key(it);
        slice u = ikey_user(k.data, k.len);
        uint64_t tr = get_fixed64(k.data + k.len - IKEY_TRAILER);
        uint64_t seq = tr >> 8;
        int type = (int)(tr & 0xff);
        if (!have_cur || ukey_compare(u.data, u.len, cur.data, cur.len) != 0) {
            /* A new user key: the only place an output may be cut, or the span end. */
            if (s->hi && ukey_compare(u.data, u.len, s->hi->data, s->hi->len) > 0) break;
            int part = have_cur && ukey_partition_differs(prefix, cur.data, cur.len, u.data, u.len);
            cur.len = 0;
            if (buf_append(&cur, u.data, u.len)) {
                rc = lsm_error(LSM_ENOMEM, "compaction: out of memory");
                break;
            }
            have_cur = 1;
            last_seq_for_key = UINT64_MAX;
            if (leveled && gp_level < LSM_NUM_LEVELS) {
                const version *v = c->v;
                while (gp_i < v->nfiles[gp_level]) {
                    const file_meta *g = v->files[gp_level][gp_i];
                    slice gl = file_largest_user(g);
                    if (ukey_compare(u.data, u.len, gl.data, gl.len) <= 0) break;
                    if (gp_seen) gp_overlap += g->size;
                    gp_i++;
                }
                gp_seen = 1;
            }
            if (out.b && (sst_builder_file_size(out.b) >= target || gp_overlap > gp_limit || part)) {
                rc = output_finish(&out);
                gp_overlap = 0;
                if (rc) break;
            }
        }
        int drop = 0;
        if (last_seq_for_key <= s->smallest_snapshot) {
            drop = 1; /* a newer entry of this key is visible to every reader */
        } else if (type == IKEY_TYPE_DELETE && seq <= s->smallest_snapshot) {
            /* (A tiered store opened before with leveled compaction may still hold deeper
             * levels: they count as older data too.) */
            int bottom = (leveled || c->bottom) &&
                         !version_deeper_may_hold(c->v, c->out_level, u.data, u.len);
            drop = bottom;
        }
        last_seq_for_key = seq;
        if (!drop) rc = output_add(&out, k, iter_value(it), seq);
    }
    if (!rc && iter_status(it)) rc = lsm_error(iter_status(it), "compaction input: %s", it->errmsg);
    iter_destroy(it);
    buf_free(&cur);
    if (!rc) rc = output_finish(&out);
    else if (out.b) sst_builder_abandon(out.b);
    s->written = out.written;
    return rc;
}

static void *span_thread(void *arg)
{
    span *s = arg;
    s->rc = span_merge(s);
    if (s->rc) snprintf(s->msg, sizeof s->msg, "%s", lsm_last_error());
    return NULL;
}

/* Split points for a compaction big enough to share between threads: the largest user keys of
 * evenly spaced input tables of a sorted level (the output level's, else the input level's).
 * Returns how many spans (1: no split); splits[] gets spans - 1 keys, each < the next. */
static int choose_splits(lsm_db *db, const compaction *c, buf *splits, int max_spans)
{
    uint64_t in_bytes = total_size(c->in[0], c->nin[0]) + total_size(c->in[1], c->nin[1]);
    if (max_spans < 2 || db->opt.compaction_style == LSM_COMPACTION_TIERED ||
        db->opt.disable_background || in_bytes < SPLIT_MIN_TARGETS * db->opt.target_file_size)
        return 1;
    file_meta *const *f = c->nin[1] >= 2 ? c->in[1] : c->in[0];
    size_t n = c->nin[1] >= 2 ? c->nin[1] : c->level > 0 ? c->nin[0] : 0;
    if (n < 2) return 1;
    int spans = (size_t)max_spans < n ? max_spans : (int)n;
    for (int j = 1; j < spans; j++) {
        slice u = file_largest_user(f[(size_t)j * n / (size_t)spans - 1]);
        splits[j - 1].len = 0;
        if (buf_append(&splits[j - 1], u.data, u.len)) return -1;
    }
    return spans;
}

/* Merge the spans' outputs into edit (on success) and free them; on failure mark every
 * output obsolete so its file is deleted.  Returns the first span error or rc. */
static int spans_collect(span *sp, int n, version_edit *edit, uint64_t *written, int rc)
{
    for (int i = 0; i < n; i++) {
        if (!rc && sp[i].rc) rc = lsm_error(sp[i].rc, "%s", sp[i].msg);
        *written += sp[i].written;
    }
    for (int i = 0; i < n; i++) {
        for (size_t j = 0; j < sp[i].edit.nadded; j++) {
            file_meta *f = sp[i].edit.added[j].f;
            if (!rc) rc = edit_add_file(edit, sp[i].edit.added[j].level, f);
            if (rc) __atomic_store_n(&f->obsolete, 1, __ATOMIC_RELEASE);
        }
        edit_clear(&sp[i].edit);
    }
    return rc;
}

/* Run the merge of c as up to max_subcompactions spans in parallel, the first in this thread.
 * Outputs go into edit. */
static int merge_spans(lsm_db *db, compaction *c, version_edit *edit, uint64_t *written)
{
    int max = db->opt.max_subcompactions > 0 ? db->opt.max_subcompactions : 1;
    if (max > MAX_SPANS) max = MAX_SPANS;
    buf splits[MAX_SPANS - 1];
    memset(splits, 0, sizeof splits);
    span sp[MAX_SPANS];
    memset(sp, 0, sizeof sp);
    int n = choose_splits(db, c, splits, max), rc = 0;
    if (n < 0) {
        n = 1;
        rc = lsm_error(LSM_ENOMEM, "compaction: out of memory");
    }
    pthread_mutex_lock(&db->mu);
    uint64_t smallest_snapshot = snapshot_oldest(db);
    pthread_mutex_unlock(&db->mu);
    for (int i = 0; i < n; i++) {
        sp[i] = (span){.db = db, .c = c, .lo = i ? &splits[i - 1] : NULL,
                       .hi = i < n - 1 ? &splits[i] : NULL, .may_flush = i == 0,
                       .smallest_snapshot = smallest_snapshot};
        edit_init(&sp[i].edit);
    }
    int started = 1; /* spans [1, started) run in threads */
    for (; !rc && started < n; started++)
        if (pthread_create(&sp[started].thread, NULL, span_thread, &sp[started]) != 0) break;
    /* (A span whose thread could not start runs here after the others.) */
    if (!rc) sp[0].rc = span_merge(&sp[0]);
    if (sp[0].rc) snprintf(sp[0].msg, sizeof sp[0].msg, "%s", lsm_last_error());
    for (int i = 1; i < started; i++) pthread_join(sp[i].thread, NULL);
    for (int i = started; !rc && i < n; i++) span_thread(&sp[i]);
    if (!rc && n > 1) stat_add(&db->stats.subcompactions, (uint64_t)n);
    rc = spans_collect(sp, n, edit, written, rc);
    for (int i = 0; i < MAX_SPANS - 1; i++) buf_free(&splits[i]);
    return rc;
}

static int run_compaction(lsm_db *db, compaction *c)
{
    version_edit edit;
    edit_init(&edit);
    int rc = 0;
    for (int w = 0; w < 2 && !rc; w++)
        for (size_t i = 0; i < c->nin[w] && !rc; i++)
            rc = edit_delete_file(&edit, w == 0 ? c->level : c->out_level, c->in[w][i]->number);
    if (rc) {
        edit_clear(&edit);
        return rc;
    }
    uint64_t in_bytes = total_size(c->in[0], c->nin[0]) + total_size(c->in[1], c->nin[1]);
    if (c->trivial_move) {
        for (size_t i = 0; i < c->nin[0] && !rc; i++)
            rc = edit_add_file(&edit, c->out_level, c->in[0][i]);
        if (!rc && c->level > 0)
            rc = edit_set_pointer(&edit, c->level, c->in[0][0]->largest,
                                  c->in[0][0]->largest_len);
        if (!rc) rc = db_log_and_apply(db, &edit);
        if (!rc) stat_add(&db->stats.trivial_moves, 1);
        edit_clear(&edit);
        return rc;
    }
    uint64_t written = 0;
    rc = merge_spans(db, c, &edit, &written);
    int leveled = db->opt.compaction_style != LSM_COMPACTION_TIERED;
    if (!rc && leveled && c->level > 0)
        rc = edit_set_pointer(&edit, c->level, c->in[0][c->nin[0] - 1]->largest,
                              c->in[0][c->nin[0] - 1]->largest_len);
    if (!rc) rc = db_log_and_apply(db, &edit); /* deals with its outputs if it fails */
    else /* outputs already finished were never logged: delete them */
        for (size_t i = 0; i < edit.nadded; i++)
            __atomic_store_n(&edit.added[i].f->obsolete, 1, __ATOMIC_RELEASE);
    if (!rc) {
        stat_add(&db->stats.comp_read[c->out_level], in_bytes);
        stat_add(&db->stats.comp_written[c->out_level], written);
        stat_add(&db->stats.comp_count[c->out_level], 1);
    }
    edit_clear(&edit);
    return rc;
}

int compaction_run_one(lsm_db *db)
{
    pthread_mutex_lock(&db->mu);
    compaction *c = pick(db, db->vs.current);
    pthread_mutex_unlock(&db->mu);
    if (!c) return 0;
    int rc = run_compaction(db, c);
    compaction_free(c);
    return rc < 0 ? rc : 1;
}

/* Tiered: merge the runs from the newest to the oldest that overlap [begin, end] (the runs
 * between them too, since only adjacent runs may merge), unless that is one run with nothing
 * to drop. */
static int tiered_range(lsm_db *db, const slice *begin, const slice *end)
{
    version *v = db->vs.current;
    size_t n = v->nfiles[0], lo = n, hi = 0;
    for (size_t i = 0; i < n; i++)
        if (file_overlaps(v->files[0][i], begin, end, 1)) {
            if (lo == n) lo = i;
            hi = i + 1;
        }
    if (lo == n) return 0;
    uint64_t dels = 0;
    for (size_t i = lo; i < hi; i++) dels += v->files[0][i]->deletions;
    if (hi - lo == 1 && (dels == 0 || hi < n)) return 0;
    compaction *c = make_compaction(v, 0, 0, v->files[0] + lo, hi - lo);
    if (!c) return lsm_error(LSM_ENOMEM, "compaction: out of memory");
    c->bottom = hi == n;
    int rc = run_compaction(db, c);
    compaction_free(c);
    return rc;
}

int compaction_range(lsm_db *db, const slice *begin, const slice *end)
{
    int rc = 0;
    if (db->opt.compaction_style == LSM_COMPACTION_TIERED) return tiered_range(db, begin, end);
    /* Leveled: push everything overlapping the range down, level by level, to one level below
     * the deepest level that holds any of it, where tombstones can finally be dropped. */
    int deepest = 0;
    for (int l = 1; l < LSM_NUM_LEVELS; l++) {
        file_meta **f;
        size_t n;
        if (version_overlapping(db->vs.current, l, begin, end, &f, &n))
            return lsm_error(LSM_ENOMEM, "compaction: out of memory");
        free(f);
        if (n) deepest = l;
    }
    int last = deepest < LSM_NUM_LEVELS - 1 ? deepest : LSM_NUM_LEVELS - 2;
    for (int l = 0; l <= last && !rc; l++) {
        version *v = db->vs.current;
        file_meta **f;
        size_t n;
        if (l == 0) {
            f = NULL;
            n = v->nfiles[0];
            if (n && !(f = malloc(n * sizeof *f))) return LSM_ENOMEM;
            if (n) memcpy(f, v->files[0], n * sizeof *f); /* overlap in L0 is transitive */
        } else if (version_overlapping(v, l, begin, end, &f, &n)) {
            return lsm_error(LSM_ENOMEM, "compaction: out of memory");
        }
        if (n == 0) {
            free(f);
            continue;
        }
        compaction *c = make_compaction(v, l, l + 1, f, n);
        free(f);
        if (!c) return lsm_error(LSM_ENOMEM, "compaction: out of memory");
        rc = run_compaction(db, c);
        compaction_free(c);
    }
    return rc;
}
