/*
 * compaction.c — choosing and running compactions, leveled and size-tiered.
 *
 * Leveled (LevelDB-like).  Level 0 scores its table count / l0_compaction_trigger; level n >= 1
 * scores its bytes / (level1_max_bytes * multiplier^(n-1)).  The highest score >= 1 is
 * compacted: for level 0, every L0 table plus the L1 tables overlapping them, into L1; for a
 * level n, the next table after that level's round-robin pointer plus the overlapping tables of
 * n+1, into n+1 — or, when nothing in n+1 overlaps and the tables under it in n+2 are small
 * enough, a trivial move of the table down one level (a manifest edit, no I/O).  Level 0
 * tables that overlap neither each other nor L1 (sequential inserts) also move down as they
 * are.  Outputs are
 * split at target_file_size and when they would overlap more than 10 x target_file_size of the
 * level below the output (so a later compaction of that output stays bounded), and only
 * between user keys, so no user key ever spans two tables of a level.
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
 * A tiered output is one table (a run is never split).
 *
 * Merging is a streaming k-way merge (merge_iter) with bounded memory.  For each user key the
 * newest entry is kept, older entries only while a snapshot may still read them (sequence above
 * the oldest snapshot); a tombstone is dropped when no snapshot needs it AND no table outside
 * the compaction that is older than it may hold the key ("bottom").
 */
#include <stdlib.h>
#include <string.h>

#include "db_impl.h"
#include "filename.h"
#include "level_iter.h"
#include "merge_iter.h"
#include "status.h"

#define ENTRIES_BETWEEN_FLUSH_CHECKS 1024

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
    int l = best_level;
    if (l == 0) {
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
                c->trivial_move = disjoint;
                free(f);
            }
        }
        return c;
    }
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

static compaction *pick(lsm_db *db, version *v)
{
    return db->opt.compaction_style == LSM_COMPACTION_TIERED ? pick_tiered(db, v)
                                                             : pick_leveled(db, v);
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
    file_meta *f = file_meta_new(o->number, meta.file_size, meta.smallest, meta.smallest_len,
                                 meta.largest, meta.largest_len);
    if (!f) {
        sst_meta_clear(&meta);
        return lsm_error(LSM_ENOMEM, "compaction: out of memory");
    }
    f->entries = meta.num_entries;
    f->deletions = meta.num_deletions;
    f->raw_key_bytes = meta.raw_key_bytes;
    f->raw_value_bytes = meta.raw_value_bytes;
    f->smallest_seq = o->min_seq;
    f->largest_seq = o->max_seq;
    f->vs = &o->db->vs;
    sst_meta_clear(&meta);
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
                          db->opt.bloom_bits_per_key, db->opt.compression};
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

    pthread_mutex_lock(&db->mu);
    uint64_t smallest_snapshot = snapshot_oldest(db);
    pthread_mutex_unlock(&db->mu);
    int leveled = db->opt.compaction_style != LSM_COMPACTION_TIERED;
    uint64_t target = leveled ? db->opt.target_file_size : UINT64_MAX;
    uint64_t gp_limit = 10 * (uint64_t)db->opt.target_file_size;
    int gp_level = c->out_level + 1;
    size_t gp_i = 0;
    uint64_t gp_overlap = 0;
    int gp_seen = 0;

    iter *it = input_iter(db, c);
    if (!it) {
        edit_clear(&edit);
        return lsm_error(LSM_ENOMEM, "compaction: out of memory");
    }
    output_state out = {.db = db, .c = c, .edit = &edit};
    buf cur = {0};
    int have_cur = 0;
    uint64_t last_seq_for_key = 0, count = 0;
    for (iter_seek_first(it); !rc && iter_valid(it); iter_next(it)) {
        if (++count % ENTRIES_BETWEEN_FLUSH_CHECKS == 0 && (rc = maybe_flush(db))) break;
        slice k = iter_key(it);
        slice u = ikey_user(k.data, k.len);
        uint64_t tr = get_fixed64(k.data + k.len - IKEY_TRAILER);
        uint64_t seq = tr >> 8;
        int type = (int)(tr & 0xff);
        if (!have_cur || ukey_compare(u.data, u.len, cur.data, cur.len) != 0) {
            /* A new user key: the only place an output may be cut. */
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
            if (out.b && (sst_builder_file_size(out.b) >= target || gp_overlap > gp_limit)) {
                rc = output_finish(&out);
                gp_overlap = 0;
                if (rc) break;
            }
        }
        int drop = 0;
        if (last_seq_for_key <= smallest_snapshot) {
            drop = 1; /* a newer entry of this key is visible to every reader */
        } else if (type == IKEY_TYPE_DELETE && seq <= smallest_snapshot) {
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
    if (!rc && leveled && c->level > 0)
        rc = edit_set_pointer(&edit, c->level, c->in[0][c->nin[0] - 1]->largest,
                              c->in[0][c->nin[0] - 1]->largest_len);
    if (!rc) rc = db_log_and_apply(db, &edit); /* deals with its outputs if it fails */
    else /* outputs already finished were never logged: delete them */
        for (size_t i = 0; i < edit.nadded; i++)
            __atomic_store_n(&edit.added[i].f->obsolete, 1, __ATOMIC_RELEASE);
    if (!rc) {
        stat_add(&db->stats.comp_read[c->out_level], in_bytes);
        stat_add(&db->stats.comp_written[c->out_level], out.written);
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

int compaction_range(lsm_db *db, const slice *begin, const slice *end)
{
    int rc = 0;
    if (db->opt.compaction_style == LSM_COMPACTION_TIERED) {
        version *v = db->vs.current;
        size_t n = v->nfiles[0];
        uint64_t dels = 0;
        for (size_t i = 0; i < n; i++) dels += v->files[0][i]->deletions;
        if (n == 0 || (n == 1 && dels == 0)) return 0;
        compaction *c = make_compaction(v, 0, 0, v->files[0], n);
        if (!c) return lsm_error(LSM_ENOMEM, "compaction: out of memory");
        c->bottom = 1;
        rc = run_compaction(db, c);
        compaction_free(c);
        return rc;
    }
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
