/*
 * bench_lsm.c — the liblsm adapter of db_bench (two engines: leveled and size-tiered).
 *
 * bench_config maps one to one onto lsm_options (memtable_size, block_size, block_cache_size,
 * bloom_bits_per_key, compression LZ4 or none, max_open_tables, compaction_style); the other
 * options keep liblsm's defaults.  Writes use sync_policy EXPLICIT, so a put is durable only
 * when the benchmark asks for sync (fillsync), like LevelDB's and RocksDB's default.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsm.h"

#include "bench_engine.h"

typedef struct lsm_handle {
    lsm_db *db;
    lsm_write_options wopt;
    lsm_write_options wopt_sync;
    lsm_read_options ropt;
} lsm_handle;

static int lsmb_check(const char *op, int rc)
{
    if (rc == 0)
        return 0;
    fprintf(stderr, "lsm: %s: %s (%d)\n", op, lsm_last_error(), rc);
    return -1;
}

static int lsmb_open_style(const bench_config *cfg, const char *dir, void **out, int style)
{
    lsm_handle *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return -1;
    lsm_options opt;
    lsm_options_init(&opt);
    opt.create_if_missing = 1;
    opt.memtable_size = cfg->memtable_size;
    opt.block_size = cfg->block_size;
    opt.block_cache_size = cfg->cache_size;
    opt.bloom_bits_per_key = cfg->bloom_bits;
    opt.compression = cfg->compress == BENCH_COMPRESS_NONE ? LSM_COMPRESSION_NONE
                                                            : LSM_COMPRESSION_LZ4;
    opt.max_open_tables = cfg->max_open_files;
    opt.sync_policy = LSM_SYNC_EXPLICIT;
    opt.compaction_style = style;
    lsm_write_options_init(&h->wopt);
    lsm_write_options_init(&h->wopt_sync);
    h->wopt_sync.sync = 1;
    lsm_read_options_init(&h->ropt);
    if (lsmb_check("open", lsm_open(dir, &opt, &h->db)) < 0) {
        free(h);
        return -1;
    }
    *out = h;
    return 0;
}

static int lsmb_open_leveled(const bench_config *cfg, const char *dir, void **out)
{
    return lsmb_open_style(cfg, dir, out, LSM_COMPACTION_LEVELED);
}

static int lsmb_open_tiered(const bench_config *cfg, const char *dir, void **out)
{
    return lsmb_open_style(cfg, dir, out, LSM_COMPACTION_TIERED);
}

static int lsmb_close(void *db)
{
    lsm_handle *h = db;
    int rc = lsm_close(h->db);
    free(h);
    return lsmb_check("close", rc);
}

static int lsmb_put(void *db, const char *k, size_t kl, const char *v, size_t vl, int sync)
{
    lsm_handle *h = db;
    return lsmb_check("put", lsm_put(h->db, sync ? &h->wopt_sync : &h->wopt, k, kl, v, vl));
}

static int lsmb_del(void *db, const char *k, size_t kl, int sync)
{
    lsm_handle *h = db;
    return lsmb_check("delete", lsm_delete(h->db, sync ? &h->wopt_sync : &h->wopt, k, kl));
}

static int lsmb_get(void *db, const char *k, size_t kl, size_t *vl)
{
    lsm_handle *h = db;
    void *v = NULL;
    int rc = lsm_get(h->db, &h->ropt, k, kl, &v, vl);
    if (rc == LSM_ENOTFOUND)
        return 0;
    if (lsmb_check("get", rc) < 0)
        return -1;
    lsm_free(v);
    return 1;
}

static void *lsmb_iter_new(void *db)
{
    lsm_handle *h = db;
    lsm_iter *it = NULL;
    if (lsmb_check("iter_new", lsm_iter_new(h->db, &h->ropt, &it)) < 0)
        return NULL;
    return it;
}

static void lsmb_iter_seek_first(void *it) { lsm_iter_seek_first(it); }
static void lsmb_iter_seek(void *it, const char *k, size_t kl) { lsm_iter_seek(it, k, kl); }
static int lsmb_iter_valid(void *it) { return lsm_iter_valid(it); }
static void lsmb_iter_next(void *it) { lsm_iter_next(it); }
static const char *lsmb_iter_key(void *it, size_t *len) { return lsm_iter_key(it, len); }
static const char *lsmb_iter_value(void *it, size_t *len) { return lsm_iter_value(it, len); }
static int lsmb_iter_status(void *it) { return lsmb_check("iterator", lsm_iter_status(it)); }
static void lsmb_iter_free(void *it) { lsm_iter_free(it); }

static char *lsmb_property(void *db, const char *name)
{
    lsm_handle *h = db;
    char *v = NULL;
    if (lsm_property(h->db, name, &v) != 0)
        return NULL;
    char *copy = strdup(v);
    lsm_free(v);
    return copy;
}

static int lsmb_compact_all(void *db)
{
    lsm_handle *h = db;
    return lsmb_check("compact_range", lsm_compact_range(h->db, NULL, 0, NULL, 0));
}

/* The sum of the values of every "name": <number> in a JSON text, or -1 if there is none. */
static double json_sum(const char *json, const char *name)
{
    char pat[128];
    snprintf(pat, sizeof(pat), "\"%s\"", name);
    double sum = -1;
    for (const char *p = strstr(json, pat); p != NULL; p = strstr(p, pat)) {
        p += strlen(pat);
        while (*p == ' ' || *p == ':')
            p++;
        char *end = NULL;
        double v = strtod(p, &end);
        if (end != p)
            sum = (sum < 0 ? 0 : sum) + v;
    }
    return sum;
}

/* liblsm's "lsm.stats.json" has "bytes_flushed" (L0 tables written by flushes) and a
 * "compaction_written_bytes" per level; together they are the table bytes written. */
static double lsmb_table_bytes_written(void *db)
{
    char *s = lsmb_property(db, "lsm.stats.json");
    if (s == NULL)
        return -1;
    double flushed = json_sum(s, "bytes_flushed");
    double compacted = json_sum(s, "compaction_written_bytes");
    free(s);
    if (flushed < 0 || compacted < 0)
        return -1;
    return flushed + compacted;
}

/* liblsm's own figures: write amplification counts WAL + flush + compaction bytes over user
 * bytes; space amplification is table bytes over its live-data estimate. */
static int lsmb_reported_amp(void *db, double *wamp, double *samp)
{
    char *s = lsmb_property(db, "lsm.stats.json");
    if (s == NULL)
        return -1;
    *wamp = json_sum(s, "write_amplification");
    *samp = json_sum(s, "space_amplification");
    free(s);
    return 0;
}

static int lsmb_file_class(const char *name)
{
    size_t n = strlen(name);
    if (n > 4 && strcmp(name + n - 4, ".sst") == 0)
        return BENCH_FILE_TABLE;
    if (n > 4 && (strcmp(name + n - 4, ".log") == 0 || strcmp(name + n - 4, ".wal") == 0))
        return BENCH_FILE_WAL;
    return BENCH_FILE_OTHER;
}

#define LSM_ENGINE_COMMON                                                                       \
    .stats_property = "lsm.stats", .close = lsmb_close, .put = lsmb_put, .del = lsmb_del,      \
    .get = lsmb_get, .iter_new = lsmb_iter_new, .iter_seek_first = lsmb_iter_seek_first,       \
    .iter_seek = lsmb_iter_seek, .iter_valid = lsmb_iter_valid, .iter_next = lsmb_iter_next,   \
    .iter_key = lsmb_iter_key, .iter_value = lsmb_iter_value, .iter_status = lsmb_iter_status, \
    .iter_free = lsmb_iter_free, .property = lsmb_property, .compact_all = lsmb_compact_all,   \
    .table_bytes_written = lsmb_table_bytes_written, .reported_amp = lsmb_reported_amp,         \
    .file_class = lsmb_file_class

const bench_engine bench_engine_lsm = {
    .name = "lsm",
    .open = lsmb_open_leveled,
    LSM_ENGINE_COMMON,
};

const bench_engine bench_engine_lsm_tiered = {
    .name = "lsm-tiered",
    .open = lsmb_open_tiered,
    LSM_ENGINE_COMMON,
};
