/*
 * db_bench.c — a db_bench-style benchmark of liblsm against LevelDB and RocksDB.
 *
 * Three modes, each running every selected engine in the same invocation:
 *
 *   (default)       fillseq, fillsync, fillrandom, overwrite, readrandom, readmissing, readseq,
 *                   seekrandom, deleterandom, with --num keys (default 1,000,000).
 *   --open-test     fill a store (per --open-sizes, default 1M and 10M keys), then time lsm_open
 *                   (a) after a clean close and (b) after SIGKILL of a writer whose memtable was
 *                   nearly full and never flushed, with the WAL size it had to replay.
 *   --compaction    fillrandom (default N = 5,000,000), overwrite and readrandom per compaction
 *                   strategy (liblsm leveled and tiered, LevelDB, RocksDB) with write and space
 *                   amplification, then the update-heavy case (1,000 keys x 1,000 overwrites of
 *                   1 KiB values) and its space amplification right after the writes, after the
 *                   store was left idle until its tables stop changing (background compaction
 *                   alone), and after a full compaction.
 *
 * Method.  Keys are 16 decimal digits, values 100 bytes of which half is random and half a repeat
 * of it (so LZ4/Snappy roughly halve them), as LevelDB's db_bench does.  Every engine gets the
 * same memtable (4 MiB), block size (4 KiB), bloom bits (10), block cache (8 MiB) and compression
 * family (see bench_engine.h).  Each engine runs in its own forked child, so the child's
 * ru_maxrss (from wait4) is that engine's peak memory and one engine's caches, threads or
 * crashes cannot disturb another.  The child reports "metric<TAB>value" lines over a pipe; with
 * --repeat K the parent runs engines round-robin K times and reports the median of each metric.
 * Random keys come from a splitmix64 stream seeded by --seed (printed), so runs are repeatable.
 *
 * Write amplification is given two ways: as the engine itself counts it (table bytes written by
 * flushes and compactions, from lsm.stats.json / leveldb.stats / rocksdb.stats, divided by user
 * bytes key+value), and uniformly from /proc/self/io wchar (every byte the process handed to
 * write/pwrite, WAL included).  Space amplification is table bytes on disk divided by the live
 * logical bytes (distinct keys written x (key+value)), which the benchmark knows exactly because
 * it tracks which keys exist; compression can make it below 1.
 *
 * Output: a human table on stdout (with liblsm/LevelDB and liblsm/RocksDB ratios) and a TSV file
 * (--out, default tests/bench/results/db_bench[_open|_compaction].tsv) that plot.sh reads.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_engine.h"

#define KEY_SIZE 16
#define VALUE_SIZE 100
#define MAX_REPEAT 32
#define MAX_ENGINES 8
#define SEEK_NEXTS 10

enum bench_mode { MODE_STD, MODE_OPEN, MODE_COMPACTION };

typedef struct bench_args {
    int mode;
    uint64_t num;
    uint64_t reads;
    uint64_t sync_ops;
    int repeat;
    uint64_t seed;
    const char *dir;
    const char *out;
    const char *stats_dir;
    const bench_engine *engines[MAX_ENGINES];
    int n_engines;
    bench_config cfg;
    uint64_t open_sizes[8];
    int n_open_sizes;
    uint64_t update_keys;
    uint64_t update_rounds;
    size_t update_value;
    char benchmarks[512];
} bench_args;

/* ---- small utilities ------------------------------------------------------------------------ */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* splitmix64: a tiny, well-mixed generator; the whole stream follows from the seed. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rng_below(uint64_t *s, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)rng_next(s) * n) >> 64);
}

/* Key i as 16 decimal digits (what db_bench's "%016d" gives), without snprintf's cost. */
static void make_key(char *k, uint64_t i)
{
    for (int p = KEY_SIZE - 1; p >= 0; p--) {
        k[p] = (char)('0' + i % 10);
        i /= 10;
    }
}

/* A key that sorts among the existing keys but is never written: key i with its last digit
 * replaced by '.', which lies between key i-1... and key i (so range checks cannot reject it
 * and only the bloom filter or a block read can). */
static void make_missing_key(char *k, uint64_t i)
{
    make_key(k, i);
    k[KEY_SIZE - 1] = '.';
}

/* Values are cut from a pool: half-compressible (db_bench's generator: each 100-byte piece is 50
 * random printable bytes written twice) or incompressible (random bytes). */
typedef struct value_pool {
    char *data;
    size_t size;
    size_t pos;
} value_pool;

static int pool_init(value_pool *vp, size_t size, int compressible, uint64_t seed)
{
    vp->data = malloc(size);
    if (vp->data == NULL)
        return -1;
    vp->size = size;
    vp->pos = 0;
    uint64_t s = seed;
    if (compressible) {
        for (size_t off = 0; off < size; off += VALUE_SIZE) {
            char raw[VALUE_SIZE / 2];
            for (size_t i = 0; i < sizeof(raw); i++)
                raw[i] = (char)(' ' + rng_below(&s, 95));
            for (size_t i = 0; i < VALUE_SIZE && off + i < size; i++)
                vp->data[off + i] = raw[i % sizeof(raw)];
        }
    } else {
        for (size_t i = 0; i < size; i++)
            vp->data[i] = (char)rng_next(&s);
    }
    return 0;
}

/* The next len bytes of the pool (len <= size / 2), wrapping around. */
static const char *pool_take(value_pool *vp, size_t len)
{
    if (vp->pos + len > vp->size)
        vp->pos = 0;
    const char *p = vp->data + vp->pos;
    vp->pos += len;
    return p;
}

static uint64_t g_dir_bytes[3]; /* per bench_file_class, filled by dir_size's callback */
static int (*g_dir_class)(const char *name);

static int dir_size_cb(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    if (type == FTW_F) {
        int c = g_dir_class ? g_dir_class(path + ftw->base) : BENCH_FILE_OTHER;
        g_dir_bytes[c] += (uint64_t)st->st_size;
    }
    return 0;
}

/* Apparent bytes of the files under dir, split by class.  (Apparent, not allocated: RocksDB
 * preallocates its WAL, which would count space that holds nothing.)  Single-threaded use
 * only: nftw has no context argument, so the tallies live in the two statics above. */
static void dir_size(const char *dir, int (*cls)(const char *), uint64_t out[3])
{
    memset(g_dir_bytes, 0, sizeof(g_dir_bytes));
    g_dir_class = cls;
    nftw(dir, dir_size_cb, 16, FTW_PHYS);
    memcpy(out, g_dir_bytes, sizeof(g_dir_bytes));
}

static int rm_cb(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

static int destroy_dir(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return 0;
    if (nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS) != 0) {
        fprintf(stderr, "db_bench: cannot remove %s: %s\n", dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* Bytes this process has passed to write-family syscalls so far (all threads). */
static double proc_wchar(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    if (f == NULL)
        return -1;
    char line[128];
    double v = -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "wchar:", 6) == 0)
            v = strtod(line + 6, NULL);
    fclose(f);
    return v;
}

/* ---- the child side: run workloads, report metrics --------------------------------------------*/

typedef struct run_ctx {
    const bench_args *a;
    const bench_engine *e;
    char dir[4096];
    int out_fd;
    void *db;
    uint64_t rng;
    value_pool vals;
    uint8_t *live;    /* one bit per key index: written and not deleted */
    uint64_t n_live;
} run_ctx;

static void emit(run_ctx *c, const char *fmt_metric, double v, ...)
{
    char metric[128];
    va_list ap;
    va_start(ap, v);
    vsnprintf(metric, sizeof(metric), fmt_metric, ap);
    va_end(ap);
    dprintf(c->out_fd, "%s\t%.9g\n", metric, v);
}

static void emit_rate(run_ctx *c, const char *name, uint64_t ops, double bytes, double secs)
{
    double ops_s = secs > 0 ? (double)ops / secs : 0;
    double mb_s = secs > 0 ? bytes / 1048576.0 / secs : 0;
    emit(c, "%s.ops_s", ops_s, name);
    emit(c, "%s.mb_s", mb_s, name);
    emit(c, "%s.secs", secs, name);
    fprintf(stderr, "  %-10s %-12s %10" PRIu64 " ops %8.2f s %12.0f ops/s %8.1f MB/s\n",
            c->e->name, name, ops, secs, ops_s, mb_s);
}

static void live_set(run_ctx *c, uint64_t i, int on)
{
    uint8_t bit = (uint8_t)(1u << (i & 7));
    int was = (c->live[i >> 3] & bit) != 0;
    if (on && !was) {
        c->live[i >> 3] |= bit;
        c->n_live++;
    } else if (!on && was) {
        c->live[i >> 3] &= (uint8_t)~bit;
        c->n_live--;
    }
}

static int ctx_open(run_ctx *c)
{
    return c->e->open(&c->a->cfg, c->dir, &c->db);
}

static int ctx_close(run_ctx *c)
{
    int rc = c->e->close(c->db);
    c->db = NULL;
    return rc;
}

static int ctx_fresh(run_ctx *c, uint64_t nkeys)
{
    if (destroy_dir(c->dir) < 0)
        return -1;
    free(c->live);
    c->live = calloc(nkeys / 8 + 1, 1);
    c->n_live = 0;
    if (c->live == NULL)
        return -1;
    return ctx_open(c);
}

/* Write n keys: sequential indexes 0..n-1 or uniform random ones in [0, range). */
static int do_write(run_ctx *c, const char *name, uint64_t n, uint64_t range, int random,
                    int sync)
{
    char key[KEY_SIZE];
    double t0 = now_s();
    for (uint64_t i = 0; i < n; i++) {
        uint64_t k = random ? rng_below(&c->rng, range) : i;
        make_key(key, k);
        if (c->e->put(c->db, key, KEY_SIZE, pool_take(&c->vals, VALUE_SIZE), VALUE_SIZE,
                      sync) < 0)
            return -1;
        live_set(c, k, 1);
    }
    emit_rate(c, name, n, (double)n * (KEY_SIZE + VALUE_SIZE), now_s() - t0);
    return 0;
}

static int do_readrandom(run_ctx *c, const char *name, uint64_t n, uint64_t range, int missing)
{
    char key[KEY_SIZE];
    uint64_t found = 0;
    double bytes = 0;
    double t0 = now_s();
    for (uint64_t i = 0; i < n; i++) {
        uint64_t k = rng_below(&c->rng, range);
        if (missing)
            make_missing_key(key, k);
        else
            make_key(key, k);
        size_t vl = 0;
        int rc = c->e->get(c->db, key, KEY_SIZE, &vl);
        if (rc < 0)
            return -1;
        if (rc == 1) {
            found++;
            bytes += KEY_SIZE + (double)vl;
        }
    }
    double secs = now_s() - t0;
    emit_rate(c, name, n, bytes, secs);
    emit(c, "%s.found", (double)found / (double)(n ? n : 1), name);
    if (missing && found != 0) {
        fprintf(stderr, "%s: %s found %" PRIu64 " keys that were never written\n", c->e->name,
                name, found);
        return -1;
    }
    return 0;
}

static int do_readseq(run_ctx *c, uint64_t limit)
{
    void *it = c->e->iter_new(c->db);
    if (it == NULL)
        return -1;
    uint64_t n = 0;
    double bytes = 0;
    double t0 = now_s();
    for (c->e->iter_seek_first(it); n < limit && c->e->iter_valid(it); c->e->iter_next(it)) {
        size_t kl, vl;
        c->e->iter_key(it, &kl);
        c->e->iter_value(it, &vl);
        bytes += (double)(kl + vl);
        n++;
    }
    double secs = now_s() - t0;
    int rc = c->e->iter_status(it);
    c->e->iter_free(it);
    if (rc < 0)
        return -1;
    emit_rate(c, "readseq", n, bytes, secs);
    return 0;
}

static int do_seekrandom(run_ctx *c, uint64_t n, uint64_t range)
{
    void *it = c->e->iter_new(c->db);
    if (it == NULL)
        return -1;
    char key[KEY_SIZE];
    double bytes = 0;
    uint64_t found = 0;
    double t0 = now_s();
    for (uint64_t i = 0; i < n; i++) {
        make_key(key, rng_below(&c->rng, range));
        c->e->iter_seek(it, key, KEY_SIZE);
        if (c->e->iter_valid(it))
            found++;
        for (int j = 0; j <= SEEK_NEXTS && c->e->iter_valid(it); j++) {
            size_t kl, vl;
            c->e->iter_key(it, &kl);
            c->e->iter_value(it, &vl);
            bytes += (double)(kl + vl);
            if (j < SEEK_NEXTS)
                c->e->iter_next(it);
        }
    }
    double secs = now_s() - t0;
    int rc = c->e->iter_status(it);
    c->e->iter_free(it);
    if (rc < 0)
        return -1;
    emit_rate(c, "seekrandom", n, bytes, secs);
    emit(c, "seekrandom.found", (double)found / (double)(n ? n : 1));
    return 0;
}

static int do_deleterandom(run_ctx *c, uint64_t n, uint64_t range)
{
    char key[KEY_SIZE];
    double t0 = now_s();
    for (uint64_t i = 0; i < n; i++) {
        uint64_t k = rng_below(&c->rng, range);
        make_key(key, k);
        if (c->e->del(c->db, key, KEY_SIZE, 0) < 0)
            return -1;
        live_set(c, k, 0);
    }
    emit_rate(c, "deleterandom", n, (double)n * KEY_SIZE, now_s() - t0);
    return 0;
}

static int wants(const bench_args *a, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = a->benchmarks; (p = strstr(p, name)) != NULL; p += n)
        if ((p == a->benchmarks || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
            return 1;
    return 0;
}

static void emit_disk(run_ctx *c, const char *prefix)
{
    uint64_t b[3];
    dir_size(c->dir, c->e->file_class, b);
    emit(c, "%s.disk_mb", (double)(b[0] + b[1] + b[2]) / 1048576.0, prefix);
    emit(c, "%s.table_mb", (double)b[BENCH_FILE_TABLE] / 1048576.0, prefix);
    emit(c, "%s.wal_mb", (double)b[BENCH_FILE_WAL] / 1048576.0, prefix);
}

/* Save the engine's own statistics text next to the results (stats_dir/db_bench_MODE_ENGINE
 * .stats.txt), so each figure in the table can be checked against the engine's view. */
static void dump_stats(run_ctx *c, const char *mode, const char *when)
{
    if (c->a->stats_dir == NULL)
        return;
    char *s = c->e->property(c->db, c->e->stats_property);
    char path[4200];
    snprintf(path, sizeof(path), "%s/db_bench_%s_%s.stats.txt", c->a->stats_dir, mode,
             c->e->name);
    FILE *f = fopen(path, "w");
    if (f != NULL) {
        fprintf(f, "# %s %s, num=%" PRIu64 "\n%s\n", c->e->stats_property, when, c->a->num,
                s ? s : "(property unavailable)");
        fclose(f);
    }
    free(s);
}

/* The standard workloads, in db_bench's order; fillrandom's store is reused by the rest. */
static int run_std(run_ctx *c)
{
    const bench_args *a = c->a;
    uint64_t n = a->num;
    if (wants(a, "fillseq")) {
        if (ctx_fresh(c, n) < 0 || do_write(c, "fillseq", n, n, 0, 0) < 0 || ctx_close(c) < 0)
            return -1;
    }
    if (wants(a, "fillsync")) {
        if (ctx_fresh(c, n) < 0 || do_write(c, "fillsync", a->sync_ops, n, 1, 1) < 0 ||
            ctx_close(c) < 0)
            return -1;
    }
    if (ctx_fresh(c, n) < 0 || do_write(c, "fillrandom", n, n, 1, 0) < 0)
        return -1;
    if (wants(a, "overwrite") && do_write(c, "overwrite", n, n, 1, 0) < 0)
        return -1;
    if (wants(a, "readrandom") && do_readrandom(c, "readrandom", a->reads, n, 0) < 0)
        return -1;
    if (wants(a, "readmissing") && do_readrandom(c, "readmissing", a->reads, n, 1) < 0)
        return -1;
    if (wants(a, "readseq") && do_readseq(c, n) < 0)
        return -1;
    if (wants(a, "seekrandom") && do_seekrandom(c, a->reads, n) < 0)
        return -1;
    emit_disk(c, "store");
    emit(c, "store.live_mb", (double)c->n_live * (KEY_SIZE + VALUE_SIZE) / 1048576.0);
    dump_stats(c, "std", "after fillrandom, overwrite and the read workloads");
    if (wants(a, "deleterandom") && do_deleterandom(c, n, n) < 0)
        return -1;
    return ctx_close(c);
}

/* Leave the store alone (no reads or writes) until its table bytes have not changed for
 * IDLE_STABLE_S, at most IDLE_MAX_S: what an engine compacts when idle, it compacts now.
 * Returns the seconds waited; b gets the final sizes. */
#define IDLE_POLL_S 0.25
#define IDLE_STABLE_S 1.5
#define IDLE_MAX_S 20.0
static double wait_idle_settled(run_ctx *c, uint64_t b[3])
{
    double t0 = now_s(), stable = 0;
    uint64_t prev = b[BENCH_FILE_TABLE];
    while (stable < IDLE_STABLE_S && now_s() - t0 < IDLE_MAX_S) {
        struct timespec ts = {0, (long)(IDLE_POLL_S * 1e9)};
        nanosleep(&ts, NULL);
        dir_size(c->dir, c->e->file_class, b);
        stable = b[BENCH_FILE_TABLE] == prev ? stable + IDLE_POLL_S : 0;
        prev = b[BENCH_FILE_TABLE];
    }
    return now_s() - t0;
}

/* Compaction mode: the fill/overwrite/read cycle with amplification figures, then the
 * update-heavy case. */
static int run_compaction(run_ctx *c)
{
    const bench_args *a = c->a;
    uint64_t n = a->num;
    if (ctx_fresh(c, n) < 0)
        return -1;
    double w0 = proc_wchar();
    if (do_write(c, "fillrandom", n, n, 1, 0) < 0 || do_write(c, "overwrite", n, n, 1, 0) < 0 ||
        do_readrandom(c, "readrandom", a->reads, n, 0) < 0)
        return -1;
    double user = 2.0 * (double)n * (KEY_SIZE + VALUE_SIZE);
    double wchar = proc_wchar() - w0;
    double tables = c->e->table_bytes_written(c->db);
    uint64_t b[3];
    dir_size(c->dir, c->e->file_class, b);
    double live = (double)c->n_live * (KEY_SIZE + VALUE_SIZE);
    emit(c, "cycle.user_mb", user / 1048576.0);
    emit(c, "cycle.live_mb", live / 1048576.0);
    emit(c, "cycle.table_mb", (double)b[BENCH_FILE_TABLE] / 1048576.0);
    emit(c, "cycle.disk_mb", (double)(b[0] + b[1] + b[2]) / 1048576.0);
    emit(c, "cycle.wamp_engine", tables >= 0 ? tables / user : -1);
    emit(c, "cycle.wamp_io", wchar >= 0 ? wchar / user : -1);
    emit(c, "cycle.samp", (double)b[BENCH_FILE_TABLE] / live);
    double rw, rs;
    if (c->e->reported_amp != NULL && c->e->reported_amp(c->db, &rw, &rs) == 0) {
        emit(c, "cycle.wamp_reported", rw);
        emit(c, "cycle.samp_reported", rs);
    }
    fprintf(stderr, "  %-10s wamp(engine stats) %.2f  wamp(wchar) %.2f  samp(tables/live) %.2f\n",
            c->e->name, tables >= 0 ? tables / user : -1, wchar / user,
            (double)b[BENCH_FILE_TABLE] / live);
    dump_stats(c, "compaction", "after fillrandom+overwrite+readrandom");
    if (ctx_close(c) < 0)
        return -1;

    /* Update-heavy: few keys, many overwrites of incompressible 1 KiB values, so the live data
     * is tiny and every byte above it is garbage compaction has not yet collected. */
    value_pool big;
    if (pool_init(&big, 8u << 20, 0, a->seed ^ 0x5eed) < 0)
        return -1;
    if (ctx_fresh(c, a->update_keys) < 0)
        return -1;
    char key[KEY_SIZE];
    uint64_t ops = a->update_keys * a->update_rounds;
    double t0 = now_s();
    for (uint64_t r = 0; r < a->update_rounds; r++)
        for (uint64_t k = 0; k < a->update_keys; k++) {
            make_key(key, k);
            if (c->e->put(c->db, key, KEY_SIZE, pool_take(&big, a->update_value),
                          a->update_value, 0) < 0)
                return -1;
        }
    emit_rate(c, "update_heavy", ops, (double)ops * (double)(KEY_SIZE + a->update_value),
              now_s() - t0);
    live = (double)a->update_keys * (double)(KEY_SIZE + a->update_value);
    dir_size(c->dir, c->e->file_class, b);
    emit(c, "update_heavy.samp_tables", (double)b[BENCH_FILE_TABLE] / live);
    emit(c, "update_heavy.samp_all", (double)(b[0] + b[1] + b[2]) / live);
    emit(c, "update_heavy.idle_secs", wait_idle_settled(c, b));
    emit(c, "update_heavy.samp_tables_idle", (double)b[BENCH_FILE_TABLE] / live);
    if (c->e->compact_all(c->db) < 0)
        return -1;
    dir_size(c->dir, c->e->file_class, b);
    emit(c, "update_heavy.samp_tables_compacted", (double)b[BENCH_FILE_TABLE] / live);
    if (ctx_close(c) < 0)
        return -1;
    dir_size(c->dir, c->e->file_class, b);
    emit(c, "update_heavy.samp_all_closed", (double)(b[0] + b[1] + b[2]) / live);
    free(big.data);
    return 0;
}

/* ---- the parent side: fork per engine, collect, take medians -----------------------------------*/

typedef struct metric_rec {
    char engine[24];
    char metric[64];
    double vals[MAX_REPEAT];
    int n;
} metric_rec;

typedef struct metric_set {
    metric_rec *recs;
    size_t n, cap;
} metric_set;

static metric_rec *ms_find(metric_set *ms, const char *engine, const char *metric, int create)
{
    for (size_t i = 0; i < ms->n; i++)
        if (strcmp(ms->recs[i].engine, engine) == 0 && strcmp(ms->recs[i].metric, metric) == 0)
            return &ms->recs[i];
    if (!create)
        return NULL;
    if (ms->n == ms->cap) {
        size_t cap = ms->cap ? ms->cap * 2 : 64;
        metric_rec *r = realloc(ms->recs, cap * sizeof(*r));
        if (r == NULL)
            return NULL;
        ms->recs = r;
        ms->cap = cap;
    }
    metric_rec *r = &ms->recs[ms->n++];
    memset(r, 0, sizeof(*r));
    snprintf(r->engine, sizeof(r->engine), "%s", engine);
    snprintf(r->metric, sizeof(r->metric), "%s", metric);
    return r;
}

static void ms_add(metric_set *ms, const char *engine, const char *metric, double v)
{
    metric_rec *r = ms_find(ms, engine, metric, 1);
    if (r != NULL && r->n < MAX_REPEAT)
        r->vals[r->n++] = v;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* Median of a metric, or -1 when it was never reported. */
static double ms_median(metric_set *ms, const char *engine, const char *metric)
{
    metric_rec *r = ms_find(ms, engine, metric, 0);
    if (r == NULL || r->n == 0)
        return -1;
    double v[MAX_REPEAT];
    memcpy(v, r->vals, sizeof(double) * (size_t)r->n);
    qsort(v, (size_t)r->n, sizeof(double), cmp_double);
    return r->n % 2 ? v[r->n / 2] : (v[r->n / 2 - 1] + v[r->n / 2]) / 2;
}

/* Parse the child's "metric\tvalue" lines into ms under engine (prefixing metric). */
static void parse_child_output(metric_set *ms, const char *engine, const char *prefix,
                               char *buf)
{
    for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char *tab = strchr(line, '\t');
        if (tab == NULL)
            continue;
        *tab = '\0';
        if (strcmp(line, "ready") == 0) /* the crash child's handshake, not a metric */
            continue;
        char metric[64];
        snprintf(metric, sizeof(metric), "%s%s", prefix, line);
        ms_add(ms, engine, metric, strtod(tab + 1, NULL));
    }
}

typedef int (*child_fn)(run_ctx *c, void *arg);

/* Run fn for engine e in a forked child; read its report; add peak RSS.  Returns the child's
 * exit status (0 = success).  If ready_fd_out is non-NULL the child is left running until it
 * writes "ready\n" on its report pipe; the parent then SIGKILLs it (crash simulation). */
static int run_child(const bench_args *a, const bench_engine *e, child_fn fn, void *arg,
                     metric_set *ms, const char *prefix, int kill_when_ready)
{
    int pfd[2];
    if (pipe(pfd) != 0)
        return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(pfd[0]);
        run_ctx c;
        memset(&c, 0, sizeof(c));
        c.a = a;
        c.e = e;
        c.out_fd = pfd[1];
        snprintf(c.dir, sizeof(c.dir), "%s/%s", a->dir, e->name);
        /* A per-engine stream, so every engine sees the same keys in the same order. */
        c.rng = a->seed;
        if (pool_init(&c.vals, 1u << 20, 1, a->seed ^ 0xa5a5) < 0)
            _exit(2);
        int rc = fn(&c, arg);
        _exit(rc == 0 ? 0 : 1);
    }
    close(pfd[1]);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    int killed = 0;
    for (;;) {
        if (len + 4096 > cap) {
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (nb == NULL)
                break;
            buf = nb;
        }
        ssize_t r = read(pfd[0], buf + len, cap - len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
        buf[len] = '\0';
        if (kill_when_ready && !killed && strstr(buf, "ready\t") != NULL) {
            kill(pid, SIGKILL);
            killed = 1;
        }
    }
    buf[len] = '\0';
    close(pfd[0]);
    int status = 0;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR)
        ;
    parse_child_output(ms, e->name, prefix, buf);
    free(buf);
    if (!kill_when_ready) {
        char metric[64];
        snprintf(metric, sizeof(metric), "%smaxrss_mb", prefix);
        ms_add(ms, e->name, metric, (double)ru.ru_maxrss / 1024.0);
    }
    if (kill_when_ready)
        return killed && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL ? 0 : -1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "db_bench: %s run failed (status 0x%x)\n", e->name, status);
        return -1;
    }
    return 0;
}

static int child_std(run_ctx *c, void *arg) { return run_std(c); }
static int child_compaction(run_ctx *c, void *arg) { return run_compaction(c); }

/* Open test children.  arg points at the key count. */
static int child_open_fill(run_ctx *c, void *arg)
{
    uint64_t n = *(uint64_t *)arg;
    if (ctx_fresh(c, n) < 0 || do_write(c, "fill", n, n, 1, 0) < 0)
        return -1;
    double t0 = now_s();
    if (ctx_close(c) < 0)
        return -1;
    emit(c, "close_s", now_s() - t0);
    emit_disk(c, "store");
    return 0;
}

static int child_open_clean(run_ctx *c, void *arg)
{
    double t0 = now_s();
    if (ctx_open(c) < 0)
        return -1;
    emit(c, "open_clean_s", now_s() - t0);
    return ctx_close(c);
}

/* Write about 80% of a memtable of fresh keys (so nothing flushes them), tell the parent we are
 * ready, and wait to be killed. */
static int child_open_dirty(run_ctx *c, void *arg)
{
    uint64_t n = *(uint64_t *)arg;
    if (ctx_open(c) < 0)
        return -1;
    uint64_t m = c->a->cfg.memtable_size * 8 / 10 / (KEY_SIZE + VALUE_SIZE + 16);
    char key[KEY_SIZE];
    for (uint64_t i = 0; i < m; i++) {
        make_key(key, n + i); /* beyond the fill's range: provably only in the WAL */
        if (c->e->put(c->db, key, KEY_SIZE, pool_take(&c->vals, VALUE_SIZE), VALUE_SIZE, 0) < 0)
            return -1;
    }
    emit(c, "dirty_keys", (double)m);
    dprintf(c->out_fd, "ready\t1\n");
    for (;;)
        pause();
}

static int child_open_crash(run_ctx *c, void *arg)
{
    uint64_t n = *(uint64_t *)arg;
    uint64_t m = c->a->cfg.memtable_size * 8 / 10 / (KEY_SIZE + VALUE_SIZE + 16);
    double t0 = now_s();
    if (ctx_open(c) < 0)
        return -1;
    emit(c, "open_crash_s", now_s() - t0);
    /* The last unsynced write must have survived a process kill (it reached the OS). */
    char key[KEY_SIZE];
    size_t vl;
    make_key(key, n + m - 1);
    int rc = c->e->get(c->db, key, KEY_SIZE, &vl);
    emit(c, "crash_last_key_found", rc == 1 ? 1 : 0);
    return ctx_close(c) < 0 || rc < 0 ? -1 : 0;
}

/* ---- reporting ------------------------------------------------------------------------------ */

static const char *STD_WORKLOADS[] = {"fillseq",  "fillsync",   "fillrandom",
                                      "overwrite", "readrandom", "readmissing",
                                      "readseq",  "seekrandom", "deleterandom"};

static void fmt_ops(char *buf, size_t n, double v)
{
    if (v < 0)
        snprintf(buf, n, "-");
    else if (v >= 1e6)
        snprintf(buf, n, "%.2fM", v / 1e6);
    else if (v >= 1e3)
        snprintf(buf, n, "%.1fk", v / 1e3);
    else
        snprintf(buf, n, "%.0f", v);
}

static const bench_engine *find_engine(const bench_args *a, const char *name)
{
    for (int i = 0; i < a->n_engines; i++)
        if (strcmp(a->engines[i]->name, name) == 0)
            return a->engines[i];
    return NULL;
}

static void print_ratio(metric_set *ms, const char *base, const char *other, const char *metric)
{
    double x = ms_median(ms, base, metric), y = ms_median(ms, other, metric);
    if (x > 0 && y > 0)
        printf(" %9.2fx", x / y);
    else
        printf(" %10s", "-");
}

/* One row per metric: a column per engine, then liblsm/LevelDB and liblsm/RocksDB ratios. */
static void print_table(const bench_args *a, metric_set *ms, const char *title,
                        const char *const *rows, size_t n_rows, const char *suffix, int is_ops)
{
    int has_lsm = find_engine(a, "lsm") != NULL;
    int has_ldb = find_engine(a, "leveldb") != NULL, has_rdb = find_engine(a, "rocksdb") != NULL;
    printf("\n%s\n%-28s", title, "");
    for (int i = 0; i < a->n_engines; i++)
        printf(" %12s", a->engines[i]->name);
    if (has_lsm && has_ldb)
        printf(" %10s", "lsm/ldb");
    if (has_lsm && has_rdb)
        printf(" %10s", "lsm/rdb");
    printf("\n");
    for (size_t r = 0; r < n_rows; r++) {
        char metric[96];
        snprintf(metric, sizeof(metric), "%s%s", rows[r], suffix);
        int any = 0;
        for (int i = 0; i < a->n_engines; i++)
            any |= ms_median(ms, a->engines[i]->name, metric) >= 0;
        if (!any)
            continue;
        printf("%-28s", metric);
        for (int i = 0; i < a->n_engines; i++) {
            double v = ms_median(ms, a->engines[i]->name, metric);
            char buf[32];
            if (is_ops)
                fmt_ops(buf, sizeof(buf), v);
            else if (v < 0)
                snprintf(buf, sizeof(buf), "-");
            else
                snprintf(buf, sizeof(buf), "%.3g", v);
            printf(" %12s", buf);
        }
        if (has_lsm && has_ldb)
            print_ratio(ms, "lsm", "leveldb", metric);
        if (has_lsm && has_rdb)
            print_ratio(ms, "lsm", "rocksdb", metric);
        printf("\n");
    }
}

static int write_tsv(const bench_args *a, metric_set *ms, const char *cmdline)
{
    FILE *f = fopen(a->out, "w");
    if (f == NULL) {
        fprintf(stderr, "db_bench: cannot write %s: %s\n", a->out, strerror(errno));
        return -1;
    }
    time_t t = time(NULL);
    char date[64];
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    fprintf(f, "# db_bench %s\n# date %s  num %" PRIu64 "  reads %" PRIu64
               "  repeat %d  seed %" PRIu64 "  compression %s  cpus %ld\n",
            cmdline, date, a->num, a->reads, a->repeat, a->seed,
            a->cfg.compress == BENCH_COMPRESS_NONE ? "none" : "fast(lz4; leveldb snappy)",
            sysconf(_SC_NPROCESSORS_ONLN));
    fprintf(f, "engine\tmetric\tmedian\tn\tvalues\n");
    for (size_t i = 0; i < ms->n; i++) {
        metric_rec *r = &ms->recs[i];
        fprintf(f, "%s\t%s\t%.6g\t%d\t", r->engine, r->metric,
                ms_median(ms, r->engine, r->metric), r->n);
        for (int j = 0; j < r->n; j++)
            fprintf(f, "%s%.6g", j ? "," : "", r->vals[j]);
        fprintf(f, "\n");
    }
    fclose(f);
    printf("\nresults written to %s\n", a->out);
    return 0;
}

/* ---- main ------------------------------------------------------------------------------------*/

static void usage(void)
{
    fprintf(stderr,
            "usage: db_bench [--open-test | --compaction] [options]\n"
            "  --num N            keys (default 1000000; 5000000 with --compaction)\n"
            "  --reads N          reads/seeks (default = num)\n"
            "  --repeat K         run everything K times, report medians (default 1)\n"
            "  --engines LIST     lsm,lsm-tiered,leveldb,rocksdb (default lsm,leveldb,rocksdb;\n"
            "                     with --compaction all four)\n"
            "  --benchmarks LIST  subset of fillseq,fillsync,fillrandom,overwrite,readrandom,\n"
            "                     readmissing,readseq,seekrandom,deleterandom\n"
            "  --compression fast|none   fast = LZ4 (LevelDB: Snappy); none for all engines\n"
            "  --sync-ops N       fillsync operations (default 10000)\n"
            "  --open-sizes LIST  key counts for --open-test (default 1000000,10000000)\n"
            "  --update-keys N --update-rounds N --update-value BYTES  (default 1000 1000 1024)\n"
            "  --dir DIR          scratch directory (default /tmp/lsm_db_bench)\n"
            "  --out FILE         TSV results (default tests/bench/results/db_bench*.tsv)\n"
            "  --seed S           random seed (default 301)\n");
}

static int parse_engines(bench_args *a, const char *list)
{
    static const bench_engine *const all[] = {&bench_engine_lsm, &bench_engine_lsm_tiered,
                                              &bench_engine_leveldb, &bench_engine_rocksdb};
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", list);
    a->n_engines = 0;
    for (char *save = NULL, *w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
        const bench_engine *e = NULL;
        for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
            if (strcmp(all[i]->name, w) == 0)
                e = all[i];
        if (e == NULL || a->n_engines == MAX_ENGINES) {
            fprintf(stderr, "db_bench: unknown engine '%s'\n", w);
            return -1;
        }
        a->engines[a->n_engines++] = e;
    }
    return a->n_engines > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    bench_args a;
    memset(&a, 0, sizeof(a));
    a.mode = MODE_STD;
    a.repeat = 1;
    a.seed = 301;
    a.sync_ops = 10000;
    a.dir = "/tmp/lsm_db_bench";
    a.cfg.memtable_size = 4u << 20;
    a.cfg.block_size = 4096;
    a.cfg.cache_size = 8u << 20;
    a.cfg.bloom_bits = 10;
    a.cfg.compress = BENCH_COMPRESS_FAST;
    a.cfg.max_open_files = 1000;
    a.update_keys = 1000;
    a.update_rounds = 1000;
    a.update_value = 1024;
    a.open_sizes[0] = 1000000;
    a.open_sizes[1] = 10000000;
    a.n_open_sizes = 2;
    snprintf(a.benchmarks, sizeof(a.benchmarks), "%s",
             "fillseq,fillsync,fillrandom,overwrite,readrandom,readmissing,readseq,seekrandom,"
             "deleterandom");
    const char *engines = NULL;
    char cmdline[1024] = "";
    for (int i = 1; i < argc; i++) {
        size_t l = strlen(cmdline);
        snprintf(cmdline + l, sizeof(cmdline) - l, "%s%s", i > 1 ? " " : "", argv[i]);
    }
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 1;
        if (strcmp(o, "--open-test") == 0) {
            a.mode = MODE_OPEN;
            takes = 0;
        } else if (strcmp(o, "--compaction") == 0) {
            a.mode = MODE_COMPACTION;
            takes = 0;
        } else if (strcmp(o, "--help") == 0 || strcmp(o, "-h") == 0) {
            usage();
            return 0;
        } else if (v == NULL) {
            usage();
            return 2;
        } else if (strcmp(o, "--num") == 0) {
            a.num = strtoull(v, NULL, 10);
        } else if (strcmp(o, "--reads") == 0) {
            a.reads = strtoull(v, NULL, 10);
        } else if (strcmp(o, "--repeat") == 0) {
            a.repeat = atoi(v);
        } else if (strcmp(o, "--engines") == 0) {
            engines = v;
        } else if (strcmp(o, "--benchmarks") == 0) {
            snprintf(a.benchmarks, sizeof(a.benchmarks), "%s", v);
        } else if (strcmp(o, "--compression") == 0) {
            if (strcmp(v, "none") == 0)
                a.cfg.compress = BENCH_COMPRESS_NONE;
            else if (strcmp(v, "fast") == 0 || strcmp(v, "lz4") == 0)
                a.cfg.compress = BENCH_COMPRESS_FAST;
            else {
                usage();
                return 2;
            }
        } else if (strcmp(o, "--sync-ops") == 0) {
            a.sync_ops = strtoull(v, NULL, 10);
        } else if (strcmp(o, "--open-sizes") == 0) {
            char buf[256];
            snprintf(buf, sizeof(buf), "%s", v);
            a.n_open_sizes = 0;
            for (char *save = NULL, *w = strtok_r(buf, ",", &save); w && a.n_open_sizes < 8;
                 w = strtok_r(NULL, ",", &save))
                a.open_sizes[a.n_open_sizes++] = strtoull(w, NULL, 10);
        } else if (strcmp(o, "--update-keys") == 0) {
            a.update_keys = strtoull(v, NULL, 10);
        } else if (strcmp(o, "--update-rounds") == 0) {
            a.update_rounds = strtoull(v, NULL, 10);
        } else if (strcmp(o, "--update-value") == 0) {
            a.update_value = strtoull(v, NULL, 10);
        } else if (strcmp(o, "--dir") == 0) {
            a.dir = v;
        } else if (strcmp(o, "--out") == 0) {
            a.out = v;
        } else if (strcmp(o, "--seed") == 0) {
            a.seed = strtoull(v, NULL, 10);
        } else {
            usage();
            return 2;
        }
        i += takes;
    }
    if (a.num == 0)
        a.num = a.mode == MODE_COMPACTION ? 5000000 : 1000000;
    if (a.reads == 0)
        a.reads = a.num;
    if (a.repeat < 1 || a.repeat > MAX_REPEAT || a.update_value == 0 ||
        a.update_value > (4u << 20)) {
        usage();
        return 2;
    }
    if (engines == NULL)
        engines = a.mode == MODE_COMPACTION ? "lsm,lsm-tiered,leveldb,rocksdb"
                                            : "lsm,leveldb,rocksdb";
    if (parse_engines(&a, engines) < 0)
        return 2;
    if (a.out == NULL)
        a.out = a.mode == MODE_OPEN         ? "tests/bench/results/db_bench_open.tsv"
                : a.mode == MODE_COMPACTION ? "tests/bench/results/db_bench_compaction.tsv"
                                            : "tests/bench/results/db_bench.tsv";
    /* Engine statistics dumps go next to the TSV file. */
    static char stats_dir[4096];
    snprintf(stats_dir, sizeof(stats_dir), "%s", a.out);
    char *slash = strrchr(stats_dir, '/');
    if (slash != NULL)
        *slash = '\0';
    else
        snprintf(stats_dir, sizeof(stats_dir), ".");
    a.stats_dir = stats_dir;
    if (mkdir(a.dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "db_bench: cannot create %s: %s\n", a.dir, strerror(errno));
        return 1;
    }

    printf("db_bench: mode %s, num %" PRIu64 ", reads %" PRIu64 ", repeat %d, seed %" PRIu64
           ", compression %s, memtable %zu, block %zu, cache %zu, bloom %d bits\n",
           a.mode == MODE_OPEN ? "open-test" : a.mode == MODE_COMPACTION ? "compaction" : "std",
           a.num, a.reads, a.repeat, a.seed,
           a.cfg.compress == BENCH_COMPRESS_NONE ? "none" : "lz4 (leveldb: snappy)",
           a.cfg.memtable_size, a.cfg.block_size, a.cfg.cache_size, a.cfg.bloom_bits);
    fflush(stdout);
    metric_set ms = {0};
    int failures = 0;
    for (int rep = 0; rep < a.repeat; rep++) {
        for (int ei = 0; ei < a.n_engines; ei++) {
            const bench_engine *e = a.engines[ei];
            fprintf(stderr, "== %s, run %d/%d\n", e->name, rep + 1, a.repeat);
            if (a.mode == MODE_STD) {
                failures += run_child(&a, e, child_std, NULL, &ms, "", 0) != 0;
            } else if (a.mode == MODE_COMPACTION) {
                failures += run_child(&a, e, child_compaction, NULL, &ms, "", 0) != 0;
            } else {
                for (int si = 0; si < a.n_open_sizes; si++) {
                    uint64_t n = a.open_sizes[si];
                    char prefix[32];
                    snprintf(prefix, sizeof(prefix), "n%" PRIu64 ".", n);
                    char dir[4200];
                    snprintf(dir, sizeof(dir), "%s/%s", a.dir, e->name);
                    if (run_child(&a, e, child_open_fill, &n, &ms, prefix, 0) != 0 ||
                        run_child(&a, e, child_open_clean, &n, &ms, prefix, 0) != 0 ||
                        run_child(&a, e, child_open_dirty, &n, &ms, prefix, 1) != 0) {
                        failures++;
                        continue;
                    }
                    uint64_t b[3];
                    dir_size(dir, e->file_class, b);
                    char metric[64];
                    snprintf(metric, sizeof(metric), "%swal_mb_at_crash", prefix);
                    ms_add(&ms, e->name, metric, (double)b[BENCH_FILE_WAL] / 1048576.0);
                    snprintf(metric, sizeof(metric), "%sdisk_mb_at_crash", prefix);
                    ms_add(&ms, e->name, metric, (double)(b[0] + b[1] + b[2]) / 1048576.0);
                    if (run_child(&a, e, child_open_crash, &n, &ms, prefix, 0) != 0)
                        failures++;
                    char m_clean[64], m_crash[64];
                    snprintf(m_clean, sizeof(m_clean), "%sopen_clean_s", prefix);
                    snprintf(m_crash, sizeof(m_crash), "%sopen_crash_s", prefix);
                    fprintf(stderr, "  %-10s n=%" PRIu64 " open clean %.4f s, after kill %.4f s "
                                    "(WAL %.1f MB)\n",
                            e->name, n, ms_median(&ms, e->name, m_clean),
                            ms_median(&ms, e->name, m_crash), (double)b[BENCH_FILE_WAL] / 1048576.0);
                }
            }
        }
    }

    if (a.mode == MODE_STD) {
        print_table(&a, &ms, "ops/s (median)", STD_WORKLOADS,
                    sizeof(STD_WORKLOADS) / sizeof(STD_WORKLOADS[0]), ".ops_s", 1);
        print_table(&a, &ms, "MB/s (median)", STD_WORKLOADS,
                    sizeof(STD_WORKLOADS) / sizeof(STD_WORKLOADS[0]), ".mb_s", 0);
        static const char *const misc[] = {"readrandom.found", "store.disk_mb", "store.table_mb",
                                           "store.live_mb", "maxrss_mb"};
        print_table(&a, &ms, "store after fillrandom+overwrite+reads; peak memory", misc,
                    sizeof(misc) / sizeof(misc[0]), "", 0);
    } else if (a.mode == MODE_COMPACTION) {
        static const char *const ops[] = {"fillrandom", "overwrite", "readrandom",
                                          "update_heavy"};
        print_table(&a, &ms, "ops/s (median)", ops, sizeof(ops) / sizeof(ops[0]), ".ops_s", 1);
        static const char *const amp[] = {
            "cycle.wamp_engine", "cycle.wamp_io", "cycle.wamp_reported", "cycle.samp",
            "cycle.samp_reported", "cycle.table_mb",
            "cycle.live_mb", "update_heavy.samp_tables", "update_heavy.samp_all",
            "update_heavy.samp_tables_idle", "update_heavy.samp_tables_compacted",
            "update_heavy.samp_all_closed", "maxrss_mb"};
        print_table(&a, &ms, "amplification (median)", amp, sizeof(amp) / sizeof(amp[0]), "", 0);
    } else {
        for (int si = 0; si < a.n_open_sizes; si++) {
            char title[64], rows[6][64];
            const char *rp[6];
            static const char *const names[] = {"fill.ops_s", "store.disk_mb", "open_clean_s",
                                                "wal_mb_at_crash", "open_crash_s",
                                                "crash_last_key_found"};
            for (int r = 0; r < 6; r++) {
                snprintf(rows[r], sizeof(rows[r]), "n%" PRIu64 ".%s", a.open_sizes[si], names[r]);
                rp[r] = rows[r];
            }
            snprintf(title, sizeof(title), "open test, %" PRIu64 " keys (median)",
                     a.open_sizes[si]);
            print_table(&a, &ms, title, rp, 6, "", 0);
        }
    }
    write_tsv(&a, &ms, cmdline);
    free(ms.recs);
    destroy_dir(a.dir);
    if (failures)
        fprintf(stderr, "db_bench: %d engine run(s) failed\n", failures);
    return failures ? 1 : 0;
}
