/*
 * db_stats.c — lsm_property: the stats table, its JSON form, and the simple numeric
 * properties.
 *
 * Definitions used in the figures:
 *   write amplification = (WAL bytes + flushed table bytes + compaction output bytes +
 *                          manifest bytes) / user bytes (keys + values given to writes), since
 *                          this open
 *   live data (estimate) = leveled: the bytes of the deepest non-empty level (in a settled
 *                          leveled tree ~90% of the data lives there, and it holds at most one
 *                          version per key); tiered: the bytes of the oldest run.  Exact after a
 *                          full compaction (lsm_compact_range), rough while everything is still
 *                          in level 0.
 *   space amplification  = table bytes / live data estimate
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_impl.h"
#include "status.h"

typedef struct figures {
    size_t files[LSM_NUM_LEVELS];
    uint64_t bytes[LSM_NUM_LEVELS];
    double score[LSM_NUM_LEVELS];
    uint64_t total_bytes, live_bytes, entries, mem_bytes, wal_bytes, cache_hits, cache_misses;
    double write_amp, space_amp;
} figures;

static void gather(lsm_db *db, figures *f)
{
    memset(f, 0, sizeof *f);
    pthread_mutex_lock(&db->mu);
    version *v = db->vs.current;
    version_ref(v);
    f->mem_bytes = memtable_bytes(db->mem);
    uint64_t mem_entries = memtable_entries(db->mem);
    for (int i = 0; i < db->nimm; i++) {
        f->mem_bytes += memtable_bytes(db->imm[i].mem);
        mem_entries += memtable_entries(db->imm[i].mem);
    }
    f->wal_bytes = db->wal ? wal_size(db->wal) : 0;
    pthread_mutex_unlock(&db->mu);

    uint64_t m = db->opt.level1_max_bytes;
    int deepest = -1;
    for (int l = 0; l < LSM_NUM_LEVELS; l++) {
        f->files[l] = v->nfiles[l];
        f->bytes[l] = version_level_bytes(v, l);
        f->total_bytes += f->bytes[l];
        for (size_t i = 0; i < v->nfiles[l]; i++) f->entries += v->files[l][i]->entries;
        if (l == 0) f->score[l] = (double)v->nfiles[0] / db->opt.l0_compaction_trigger;
        else {
            f->score[l] = (double)f->bytes[l] / (double)m;
            m *= (uint64_t)db->opt.level_multiplier;
        }
        if (v->nfiles[l]) deepest = l;
    }
    if (db->opt.compaction_style == LSM_COMPACTION_TIERED) {
        if (v->nfiles[0]) f->live_bytes = v->files[0][v->nfiles[0] - 1]->size;
    } else if (deepest >= 0) {
        f->live_bytes = f->bytes[deepest];
    }
    f->entries += mem_entries;
    version_unref(v);
    cache_stats(db->bcache, &f->cache_hits, &f->cache_misses);
    const db_stats *s = &db->stats;
    uint64_t written = stat_get(&s->wal_bytes) + stat_get(&s->flush_bytes) +
                       __atomic_load_n(&db->vs.manifest_bytes, __ATOMIC_RELAXED);
    for (int l = 0; l < LSM_NUM_LEVELS; l++) written += stat_get(&s->comp_written[l]);
    uint64_t user = stat_get(&s->user_bytes);
    f->write_amp = user ? (double)written / (double)user : 0.0;
    f->space_amp = f->live_bytes ? (double)f->total_bytes / (double)f->live_bytes : 0.0;
}

typedef struct out_buf {
    char *p;
    size_t len, cap;
    int oom;
} out_buf;

static void outf(out_buf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void outf(out_buf *o, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->p ? o->p + o->len : NULL, o->p ? o->cap - o->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if (o->p && o->len + (size_t)n < o->cap) {
            o->len += (size_t)n;
            return;
        }
        size_t nc = (o->cap ? o->cap * 2 : 1024) + (size_t)n;
        char *np = realloc(o->p, nc);
        if (!np) {
            o->oom = 1;
            return;
        }
        o->p = np;
        o->cap = nc;
    }
}

int db_stats_render(lsm_db *db, int json, char **out)
{
    figures f;
    gather(db, &f);
    const db_stats *s = &db->stats;
    out_buf o = {0};
    if (json) {
        outf(&o, "{\"levels\":[");
        for (int l = 0; l < LSM_NUM_LEVELS; l++)
            outf(&o, "%s{\"level\":%d,\"files\":%zu,\"bytes\":%" PRIu64 ",\"score\":%.3f,"
                 "\"compaction_read_bytes\":%" PRIu64 ",\"compaction_written_bytes\":%" PRIu64
                 ",\"compactions\":%" PRIu64 "}",
                 l ? "," : "", l, f.files[l], f.bytes[l], f.score[l],
                 stat_get(&s->comp_read[l]), stat_get(&s->comp_written[l]),
                 stat_get(&s->comp_count[l]));
        outf(&o, "],\"compaction_style\":\"%s\",\"total_sst_bytes\":%" PRIu64
             ",\"live_data_bytes\":%" PRIu64 ",\"user_bytes\":%" PRIu64 ",\"user_ops\":%" PRIu64
             ",\"wal_bytes_written\":%" PRIu64 ",\"wal_syncs\":%" PRIu64
             ",\"bytes_flushed\":%" PRIu64 ",\"flushes\":%" PRIu64 ",\"trivial_moves\":%" PRIu64 ",\"subcompactions\":%" PRIu64 ",\"idle_compactions\":%" PRIu64
             ",\"write_amplification\":%.3f,\"space_amplification\":%.3f"
             ",\"stall_count\":%" PRIu64 ",\"stall_us\":%" PRIu64 ",\"slowdown_count\":%" PRIu64
             ",\"slowdown_us\":%" PRIu64 ",\"bloom_checked\":%" PRIu64 ",\"bloom_useful\":%" PRIu64
             ",\"block_cache_hits\":%" PRIu64 ",\"block_cache_misses\":%" PRIu64
             ",\"memtable_bytes\":%" PRIu64 ",\"wal_bytes\":%" PRIu64 ",\"num_keys\":%" PRIu64
             ",\"gets\":%" PRIu64 ",\"wal_salvaged_bytes\":%" PRIu64
             ",\"ingest_bytes\":%" PRIu64 ",\"ingest_direct_bytes\":%" PRIu64 "}",
             db->opt.compaction_style == LSM_COMPACTION_TIERED ? "tiered" : "leveled",
             f.total_bytes, f.live_bytes, stat_get(&s->user_bytes), stat_get(&s->user_ops),
             stat_get(&s->wal_bytes), stat_get(&s->wal_syncs), stat_get(&s->flush_bytes),
             stat_get(&s->flushes), stat_get(&s->trivial_moves),
             stat_get(&s->subcompactions), stat_get(&s->idle_compactions), f.write_amp, f.space_amp,
             stat_get(&s->stall_count), stat_get(&s->stall_us), stat_get(&s->slowdown_count),
             stat_get(&s->slowdown_us), stat_get(&s->bloom_checked), stat_get(&s->bloom_useful),
             f.cache_hits, f.cache_misses, f.mem_bytes, f.wal_bytes, f.entries,
             stat_get(&s->gets), stat_get(&s->salvaged_bytes), stat_get(&s->ingest_bytes),
             stat_get(&s->ingest_direct_bytes));
    } else {
        outf(&o, "Level  Files        Bytes   Score   CompRead(B)  CompWritten(B)  Compactions\n");
        for (int l = 0; l < LSM_NUM_LEVELS; l++)
            outf(&o, "L%-5d %5zu %12" PRIu64 " %7.2f %13" PRIu64 " %15" PRIu64 " %12" PRIu64 "\n",
                 l, f.files[l], f.bytes[l], f.score[l], stat_get(&s->comp_read[l]),
                 stat_get(&s->comp_written[l]), stat_get(&s->comp_count[l]));
        outf(&o, "compaction style:     %s\n",
             db->opt.compaction_style == LSM_COMPACTION_TIERED ? "tiered" : "leveled");
        outf(&o, "total sst bytes:      %" PRIu64 "\n", f.total_bytes);
        outf(&o, "live data (estimate): %" PRIu64 "\n", f.live_bytes);
        outf(&o, "user bytes written:   %" PRIu64 " (%" PRIu64 " ops)\n",
             stat_get(&s->user_bytes), stat_get(&s->user_ops));
        outf(&o, "wal bytes written:    %" PRIu64 " (%" PRIu64 " syncs)\n",
             stat_get(&s->wal_bytes), stat_get(&s->wal_syncs));
        outf(&o, "bytes flushed:        %" PRIu64 " (%" PRIu64 " flushes)\n",
             stat_get(&s->flush_bytes), stat_get(&s->flushes));
        outf(&o, "bytes ingested:       %" PRIu64 " (%" PRIu64 " written directly)\n",
             stat_get(&s->ingest_bytes), stat_get(&s->ingest_direct_bytes));
        outf(&o, "trivial moves:        %" PRIu64 "\n", stat_get(&s->trivial_moves));
        outf(&o, "subcompactions:       %" PRIu64 "\n", stat_get(&s->subcompactions));
        outf(&o, "idle compactions:     %" PRIu64 "\n", stat_get(&s->idle_compactions));
        outf(&o, "write amplification:  %.3f\n", f.write_amp);
        outf(&o, "space amplification:  %.3f\n", f.space_amp);
        outf(&o, "stalls:               %" PRIu64 " (%" PRIu64 " us), slowdowns %" PRIu64
             " (%" PRIu64 " us)\n", stat_get(&s->stall_count), stat_get(&s->stall_us),
             stat_get(&s->slowdown_count), stat_get(&s->slowdown_us));
        outf(&o, "bloom checks:         %" PRIu64 " (%" PRIu64 " useful)\n",
             stat_get(&s->bloom_checked), stat_get(&s->bloom_useful));
        outf(&o, "block cache:          %" PRIu64 " hits, %" PRIu64 " misses\n", f.cache_hits,
             f.cache_misses);
        outf(&o, "memtable bytes:       %" PRIu64 "\n", f.mem_bytes);
        outf(&o, "wal bytes (current):  %" PRIu64 "\n", f.wal_bytes);
        outf(&o, "keys (estimate):      %" PRIu64 "\n", f.entries);
    }
    if (o.oom || !o.p) {
        free(o.p);
        return lsm_error(LSM_ENOMEM, "lsm_property: out of memory");
    }
    *out = o.p;
    return 0;
}

static int number_out(uint64_t v, char **out)
{
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%" PRIu64, v);
    *out = strdup(tmp);
    return *out ? 0 : lsm_error(LSM_ENOMEM, "lsm_property: out of memory");
}

int lsm_property(lsm_db *db, const char *name, char **out)
{
    *out = NULL;
    if (!name) return lsm_error(LSM_EINVAL, "lsm_property: NULL name");
    if (strcmp(name, "lsm.stats") == 0) return db_stats_render(db, 0, out);
    if (strcmp(name, "lsm.stats.json") == 0) return db_stats_render(db, 1, out);
    figures f;
    const char *lvl = "lsm.num-files-at-level";
    if (strncmp(name, lvl, strlen(lvl)) == 0) {
        const char *p = name + strlen(lvl);
        if (p[0] >= '0' && p[0] < '0' + LSM_NUM_LEVELS && p[1] == '\0') {
            gather(db, &f);
            return number_out(f.files[p[0] - '0'], out);
        }
        return lsm_error(LSM_EINVAL, "unknown property %s", name);
    }
    gather(db, &f);
    if (strcmp(name, "lsm.total-sst-bytes") == 0) return number_out(f.total_bytes, out);
    if (strcmp(name, "lsm.live-data-bytes") == 0) return number_out(f.live_bytes, out);
    if (strcmp(name, "lsm.memtable-bytes") == 0) return number_out(f.mem_bytes, out);
    if (strcmp(name, "lsm.wal-bytes") == 0) return number_out(f.wal_bytes, out);
    if (strcmp(name, "lsm.num-keys") == 0) return number_out(f.entries, out);
    return lsm_error(LSM_EINVAL, "unknown property %s", name);
}
