/*
 * bench_leveldb.c — the LevelDB adapter of db_bench, through LevelDB's C API (<leveldb/c.h>).
 *
 * Compression: LevelDB 1.23 offers only Snappy or nothing.  BENCH_COMPRESS_FAST maps to Snappy
 * (the same family of fast LZ77 coders as LZ4); BENCH_COMPRESS_NONE to no compression.
 * Gets go through leveldb_get, which returns a malloc'd copy of the value (the only read path
 * the C API has; liblsm's lsm_get also copies).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <leveldb/c.h>

#include "bench_engine.h"

typedef struct ldb_handle {
    leveldb_t *db;
    leveldb_options_t *opt;
    leveldb_cache_t *cache;
    leveldb_filterpolicy_t *filter;
    leveldb_readoptions_t *ropt;
    leveldb_writeoptions_t *wopt;
    leveldb_writeoptions_t *wopt_sync;
} ldb_handle;

/* Report and free a LevelDB error string; returns -1 if there was one. */
static int ldb_check(const char *op, char *err)
{
    if (err == NULL)
        return 0;
    fprintf(stderr, "leveldb: %s: %s\n", op, err);
    leveldb_free(err);
    return -1;
}

static void ldb_free_handle(ldb_handle *h)
{
    if (h->opt)
        leveldb_options_destroy(h->opt);
    if (h->filter)
        leveldb_filterpolicy_destroy(h->filter);
    if (h->cache)
        leveldb_cache_destroy(h->cache);
    if (h->ropt)
        leveldb_readoptions_destroy(h->ropt);
    if (h->wopt)
        leveldb_writeoptions_destroy(h->wopt);
    if (h->wopt_sync)
        leveldb_writeoptions_destroy(h->wopt_sync);
    free(h);
}

static int ldb_open(const bench_config *cfg, const char *dir, void **out)
{
    ldb_handle *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return -1;
    h->opt = leveldb_options_create();
    h->cache = leveldb_cache_create_lru(cfg->cache_size);
    h->filter = cfg->bloom_bits > 0 ? leveldb_filterpolicy_create_bloom(cfg->bloom_bits) : NULL;
    leveldb_options_set_create_if_missing(h->opt, 1);
    leveldb_options_set_write_buffer_size(h->opt, cfg->memtable_size);
    leveldb_options_set_block_size(h->opt, cfg->block_size);
    leveldb_options_set_cache(h->opt, h->cache);
    if (h->filter)
        leveldb_options_set_filter_policy(h->opt, h->filter);
    leveldb_options_set_max_open_files(h->opt, cfg->max_open_files);
    leveldb_options_set_compression(h->opt, cfg->compress == BENCH_COMPRESS_NONE
                                                ? leveldb_no_compression
                                                : leveldb_snappy_compression);
    h->ropt = leveldb_readoptions_create();
    h->wopt = leveldb_writeoptions_create();
    h->wopt_sync = leveldb_writeoptions_create();
    leveldb_writeoptions_set_sync(h->wopt_sync, 1);

    char *err = NULL;
    h->db = leveldb_open(h->opt, dir, &err);
    if (ldb_check("open", err) < 0 || h->db == NULL) {
        ldb_free_handle(h);
        return -1;
    }
    *out = h;
    return 0;
}

static int ldb_close(void *db)
{
    ldb_handle *h = db;
    leveldb_close(h->db);
    ldb_free_handle(h);
    return 0;
}

static int ldb_put(void *db, const char *k, size_t kl, const char *v, size_t vl, int sync)
{
    ldb_handle *h = db;
    char *err = NULL;
    leveldb_put(h->db, sync ? h->wopt_sync : h->wopt, k, kl, v, vl, &err);
    return ldb_check("put", err);
}

static int ldb_del(void *db, const char *k, size_t kl, int sync)
{
    ldb_handle *h = db;
    char *err = NULL;
    leveldb_delete(h->db, sync ? h->wopt_sync : h->wopt, k, kl, &err);
    return ldb_check("delete", err);
}

static int ldb_get(void *db, const char *k, size_t kl, size_t *vl)
{
    ldb_handle *h = db;
    char *err = NULL;
    char *v = leveldb_get(h->db, h->ropt, k, kl, vl, &err);
    if (ldb_check("get", err) < 0)
        return -1;
    if (v == NULL)
        return 0;
    leveldb_free(v);
    return 1;
}

static void *ldb_iter_new(void *db)
{
    ldb_handle *h = db;
    return leveldb_create_iterator(h->db, h->ropt);
}

static void ldb_iter_seek_first(void *it) { leveldb_iter_seek_to_first(it); }
static void ldb_iter_seek(void *it, const char *k, size_t kl) { leveldb_iter_seek(it, k, kl); }
static int ldb_iter_valid(void *it) { return leveldb_iter_valid(it); }
static void ldb_iter_next(void *it) { leveldb_iter_next(it); }
static const char *ldb_iter_key(void *it, size_t *len) { return leveldb_iter_key(it, len); }
static const char *ldb_iter_value(void *it, size_t *len) { return leveldb_iter_value(it, len); }
static void ldb_iter_free(void *it) { leveldb_iter_destroy(it); }

static int ldb_iter_status(void *it)
{
    char *err = NULL;
    leveldb_iter_get_error(it, &err);
    return ldb_check("iterator", err);
}

static char *ldb_property(void *db, const char *name)
{
    ldb_handle *h = db;
    char *v = leveldb_property_value(h->db, name);
    if (v == NULL)
        return NULL;
    /* leveldb_property_value's result is malloc'd by the library: hand over a copy we own. */
    char *copy = strdup(v);
    leveldb_free(v);
    return copy;
}

static int ldb_compact_all(void *db)
{
    ldb_handle *h = db;
    leveldb_compact_range(h->db, NULL, 0, NULL, 0);
    return 0;
}

/* "leveldb.stats" has a table "Level Files Size(MB) Time(sec) Read(MB) Write(MB)" after a line of
 * dashes; the Write column of every level summed is what flushes and compactions wrote. */
static double ldb_table_bytes_written(void *db)
{
    char *s = ldb_property(db, "leveldb.stats");
    if (s == NULL)
        return -1;
    double total = 0;
    int in_table = 0;
    for (char *line = strtok(s, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        if (strncmp(line, "----", 4) == 0) {
            in_table = 1;
            continue;
        }
        int level, files;
        double size, secs, rd, wr;
        if (in_table && sscanf(line, "%d %d %lf %lf %lf %lf", &level, &files, &size, &secs, &rd,
                               &wr) == 6)
            total += wr;
    }
    free(s);
    return in_table ? total * 1048576.0 : -1;
}

static int ldb_file_class(const char *name)
{
    size_t n = strlen(name);
    if (n > 4 && (strcmp(name + n - 4, ".ldb") == 0 || strcmp(name + n - 4, ".sst") == 0))
        return BENCH_FILE_TABLE;
    if (n > 4 && strcmp(name + n - 4, ".log") == 0)
        return BENCH_FILE_WAL;
    return BENCH_FILE_OTHER;
}

const bench_engine bench_engine_leveldb = {
    .name = "leveldb",
    .stats_property = "leveldb.stats",
    .open = ldb_open,
    .close = ldb_close,
    .put = ldb_put,
    .del = ldb_del,
    .get = ldb_get,
    .iter_new = ldb_iter_new,
    .iter_seek_first = ldb_iter_seek_first,
    .iter_seek = ldb_iter_seek,
    .iter_valid = ldb_iter_valid,
    .iter_next = ldb_iter_next,
    .iter_key = ldb_iter_key,
    .iter_value = ldb_iter_value,
    .iter_status = ldb_iter_status,
    .iter_free = ldb_iter_free,
    .property = ldb_property,
    .compact_all = ldb_compact_all,
    .table_bytes_written = ldb_table_bytes_written,
    .file_class = ldb_file_class,
};
