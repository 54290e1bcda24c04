/*
 * bench_rocksdb.c — the RocksDB adapter of db_bench, through RocksDB's C API (<rocksdb/c.h>).
 *
 * Mapping of bench_config: write_buffer_size = memtable size; a block-based table with the
 * given block size, an LRU block cache of cache_size and a full bloom filter of bloom_bits;
 * LZ4 (BENCH_COMPRESS_FAST) or no compression.  Everything else stays at RocksDB's defaults
 * (leveled compaction, 2 background jobs, 2 write buffers), which is what a RocksDB user gets.
 * Gets use rocksdb_get_pinned, RocksDB's copy-free read path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rocksdb/c.h>

#include "bench_engine.h"

typedef struct rdb_handle {
    rocksdb_t *db;
    rocksdb_options_t *opt;
    rocksdb_block_based_table_options_t *topt;
    rocksdb_cache_t *cache;
    rocksdb_readoptions_t *ropt;
    rocksdb_writeoptions_t *wopt;
    rocksdb_writeoptions_t *wopt_sync;
} rdb_handle;

static int rdb_check(const char *op, char *err)
{
    if (err == NULL)
        return 0;
    fprintf(stderr, "rocksdb: %s: %s\n", op, err);
    rocksdb_free(err);
    return -1;
}

static void rdb_free_handle(rdb_handle *h)
{
    if (h->opt)
        rocksdb_options_destroy(h->opt);
    if (h->topt)
        rocksdb_block_based_options_destroy(h->topt); /* also drops its filter policy */
    if (h->cache)
        rocksdb_cache_destroy(h->cache);
    if (h->ropt)
        rocksdb_readoptions_destroy(h->ropt);
    if (h->wopt)
        rocksdb_writeoptions_destroy(h->wopt);
    if (h->wopt_sync)
        rocksdb_writeoptions_destroy(h->wopt_sync);
    free(h);
}

static int rdb_open(const bench_config *cfg, const char *dir, void **out)
{
    rdb_handle *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return -1;
    h->opt = rocksdb_options_create();
    h->topt = rocksdb_block_based_options_create();
    h->cache = rocksdb_cache_create_lru(cfg->cache_size);
    rocksdb_block_based_options_set_block_size(h->topt, cfg->block_size);
    rocksdb_block_based_options_set_block_cache(h->topt, h->cache);
    if (cfg->bloom_bits > 0)
        rocksdb_block_based_options_set_filter_policy(
            h->topt, rocksdb_filterpolicy_create_bloom_full(cfg->bloom_bits));
    rocksdb_options_set_block_based_table_factory(h->opt, h->topt);
    rocksdb_options_set_create_if_missing(h->opt, 1);
    rocksdb_options_set_write_buffer_size(h->opt, cfg->memtable_size);
    rocksdb_options_set_max_open_files(h->opt, cfg->max_open_files);
    rocksdb_options_set_compression(h->opt, cfg->compress == BENCH_COMPRESS_NONE
                                                ? rocksdb_no_compression
                                                : rocksdb_lz4_compression);
    h->ropt = rocksdb_readoptions_create();
    h->wopt = rocksdb_writeoptions_create();
    h->wopt_sync = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(h->wopt_sync, 1);

    char *err = NULL;
    h->db = rocksdb_open(h->opt, dir, &err);
    if (rdb_check("open", err) < 0 || h->db == NULL) {
        rdb_free_handle(h);
        return -1;
    }
    *out = h;
    return 0;
}

static int rdb_close(void *db)
{
    rdb_handle *h = db;
    rocksdb_close(h->db);
    rdb_free_handle(h);
    return 0;
}

static int rdb_put(void *db, const char *k, size_t kl, const char *v, size_t vl, int sync)
{
    rdb_handle *h = db;
    char *err = NULL;
    rocksdb_put(h->db, sync ? h->wopt_sync : h->wopt, k, kl, v, vl, &err);
    return rdb_check("put", err);
}

static int rdb_del(void *db, const char *k, size_t kl, int sync)
{
    rdb_handle *h = db;
    char *err = NULL;
    rocksdb_delete(h->db, sync ? h->wopt_sync : h->wopt, k, kl, &err);
    return rdb_check("delete", err);
}

static int rdb_get(void *db, const char *k, size_t kl, size_t *vl)
{
    rdb_handle *h = db;
    char *err = NULL;
    rocksdb_pinnableslice_t *p = rocksdb_get_pinned(h->db, h->ropt, k, kl, &err);
    if (rdb_check("get", err) < 0)
        return -1;
    if (p == NULL)
        return 0;
    rocksdb_pinnableslice_value(p, vl);
    rocksdb_pinnableslice_destroy(p);
    return 1;
}

static void *rdb_iter_new(void *db)
{
    rdb_handle *h = db;
    return rocksdb_create_iterator(h->db, h->ropt);
}

static void rdb_iter_seek_first(void *it) { rocksdb_iter_seek_to_first(it); }
static void rdb_iter_seek(void *it, const char *k, size_t kl) { rocksdb_iter_seek(it, k, kl); }
static int rdb_iter_valid(void *it) { return rocksdb_iter_valid(it); }
static void rdb_iter_next(void *it) { rocksdb_iter_next(it); }
static const char *rdb_iter_key(void *it, size_t *len) { return rocksdb_iter_key(it, len); }
static const char *rdb_iter_value(void *it, size_t *len) { return rocksdb_iter_value(it, len); }
static void rdb_iter_free(void *it) { rocksdb_iter_destroy(it); }

static int rdb_iter_status(void *it)
{
    char *err = NULL;
    rocksdb_iter_get_error(it, &err);
    return rdb_check("iterator", err);
}

static char *rdb_property(void *db, const char *name)
{
    rdb_handle *h = db;
    char *v = rocksdb_property_value(h->db, name);
    if (v == NULL)
        return NULL;
    char *copy = strdup(v);
    rocksdb_free(v);
    return copy;
}

static int rdb_compact_all(void *db)
{
    rdb_handle *h = db;
    rocksdb_compact_range(h->db, NULL, 0, NULL, 0);
    return 0;
}

/* In "rocksdb.stats" the compaction table has a header line starting with "Level" that names
 * the columns, and a row "Sum" over all levels whose "Write(GB)" column counts the bytes flushes
 * and compactions wrote.  That column has one decimal, too coarse below ~10 GB, so there the
 * product of the row's "Wr(MB/s)" and "Comp(sec)" columns (the same bytes, as a rate times the
 * time) is used instead: it keeps about three significant digits. */
static double rdb_table_bytes_written(void *db)
{
    char *s = rdb_property(db, "rocksdb.stats");
    if (s == NULL)
        return -1;
    int col_gb = -1, col_rate = -1, col_secs = -1;
    double result = -1;
    for (char *save = NULL, *line = strtok_r(s, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char *words[40];
        int n = 0;
        for (char *wsave = NULL, *w = strtok_r(line, " \t", &wsave); w != NULL && n < 40;
             w = strtok_r(NULL, " \t", &wsave))
            words[n++] = w;
        if (n == 0)
            continue;
        if (strcmp(words[0], "Level") == 0 && col_gb < 0) {
            for (int i = 0; i < n; i++) {
                if (strcmp(words[i], "Write(GB)") == 0)
                    col_gb = i;
                else if (strcmp(words[i], "Wr(MB/s)") == 0)
                    col_rate = i;
                else if (strcmp(words[i], "Comp(sec)") == 0)
                    col_secs = i;
            }
        } else if (strcmp(words[0], "Sum") == 0 && col_gb >= 0 && col_gb < n && result < 0) {
            /* Data rows have a "Size" column of two words ("4.13 MB") where the header has
             * one, so columns after it sit one word further right. */
            int shift = 1;
            double gb = col_gb + shift < n ? strtod(words[col_gb + shift], NULL) : -1;
            if (gb >= 10 || col_rate < 0 || col_secs < 0 || col_secs + shift >= n)
                result = gb * 1073741824.0;
            else
                result = strtod(words[col_rate + shift], NULL) *
                         strtod(words[col_secs + shift], NULL) * 1048576.0;
        }
    }
    free(s);
    return result;
}

static int rdb_file_class(const char *name)
{
    size_t n = strlen(name);
    if (n > 4 && strcmp(name + n - 4, ".sst") == 0)
        return BENCH_FILE_TABLE;
    if (n > 4 && strcmp(name + n - 4, ".log") == 0)
        return BENCH_FILE_WAL;
    return BENCH_FILE_OTHER;
}

const bench_engine bench_engine_rocksdb = {
    .name = "rocksdb",
    .stats_property = "rocksdb.stats",
    .open = rdb_open,
    .close = rdb_close,
    .put = rdb_put,
    .del = rdb_del,
    .get = rdb_get,
    .iter_new = rdb_iter_new,
    .iter_seek_first = rdb_iter_seek_first,
    .iter_seek = rdb_iter_seek,
    .iter_valid = rdb_iter_valid,
    .iter_next = rdb_iter_next,
    .iter_key = rdb_iter_key,
    .iter_value = rdb_iter_value,
    .iter_status = rdb_iter_status,
    .iter_free = rdb_iter_free,
    .property = rdb_property,
    .compact_all = rdb_compact_all,
    .table_bytes_written = rdb_table_bytes_written,
    .file_class = rdb_file_class,
};
