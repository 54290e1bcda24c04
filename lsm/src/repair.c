/*
 * repair.c — lsm_repair: rebuild a store that no longer opens (or lost tables).
 *
 * The manifest is not trusted.  Every table in the directory is opened and read in full:
 * the entries of every block that passes its checksum are kept (a damaged block is reported
 * and skipped; a table whose footer or index does not open is lost and reported).  Every
 * WAL is replayed with salvage (records after a damaged one are dropped and reported).  All
 * those entries are merged (newest version of each key first, every version kept: repair does
 * not know about snapshots and drops nothing) into ONE new level-0 table; a fresh manifest
 * naming just that table and CURRENT are written, and then the old tables, WALs and manifests
 * are deleted.  Until CURRENT is switched the old files are untouched, so a failed repair
 * leaves the store as it was.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filename.h"
#include "manifest.h"
#include "memtable.h"
#include "merge_iter.h"
#include "sstable.h"
#include "status.h"
#include "version.h"
#include "write_batch.h"

typedef struct rctx {
    void (*report)(void *, const char *);
    void *arg;
} rctx;

static void rreport(rctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rreport(rctx *c, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (c->report) c->report(c->arg, line);
}

/* A salvaged table ends quietly at an error its salvage iterator cannot step over (a damaged
 * index): repair keeps what was read instead of stopping the whole merge. */
typedef struct prefix_iter {
    iter base;
    iter *in;
} prefix_iter;

static void pi_seek_first(iter *it) { iter_seek_first(((prefix_iter *)it)->in); }
static void pi_seek_last(iter *it) { iter_seek_last(((prefix_iter *)it)->in); }
static void pi_seek(iter *it, const uint8_t *t, size_t n) { iter_seek(((prefix_iter *)it)->in, t, n); }
static void pi_next(iter *it) { iter_next(((prefix_iter *)it)->in); }
static void pi_prev(iter *it) { iter_prev(((prefix_iter *)it)->in); }
static int pi_valid(const iter *it) { return iter_valid(((const prefix_iter *)it)->in); }
static slice pi_key(const iter *it) { return iter_key(((const prefix_iter *)it)->in); }
static slice pi_value(const iter *it) { return iter_value(((const prefix_iter *)it)->in); }
static int pi_status(const iter *it) { (void)it; return 0; } /* errors end the table quietly */
static void pi_destroy(iter *it)
{
    iter_destroy(((prefix_iter *)it)->in);
    free(it);
}
static const struct iter_ops prefix_ops = {pi_seek_first, pi_seek_last, pi_seek, pi_next,
                                           pi_prev, pi_valid, pi_key, pi_value, pi_status,
                                           pi_destroy, NULL, NULL};

/* A damaged block skipped while a table is salvaged: its entries are lost. */
static void salvage_report(void *arg, const char *line)
{
    rreport(arg, "%s: block skipped, its entries are lost", line);
}

int lsm_repair(const char *dir, void (*report)(void *arg, const char *line), void *arg)
{
    lsm_env *env = lsm_env_posix();
    rctx c = {report, arg};
    char *lock = dir_file_name(dir, "LOCK");
    int lock_fd = lock ? env->lock(env, lock) : LSM_ENOMEM;
    free(lock);
    if (lock_fd < 0)
        return lock_fd == -EBUSY ? lsm_error(LSM_EINUSE, "%s: store in use by another process", dir)
                                 : lsm_error(lock_fd, "%s: cannot lock store", dir);
    char **names = NULL;
    size_t count = 0;
    int rc = env->list_dir(env, dir, &names, &count);
    if (rc < 0) {
        env->close(env, lock_fd);
        return lsm_error(rc, "%s: cannot list directory: %s", dir, strerror(-rc));
    }
    rc = 0;
    uint64_t max_number = 1;
    for (size_t i = 0; i < count; i++) {
        uint64_t num;
        enum file_kind k = parse_file_name(names[i], &num);
        if ((k == FILE_TABLE || k == FILE_WAL || k == FILE_MANIFEST) && num > max_number)
            max_number = num;
    }
    sst_reader **readers = calloc(count + 1, sizeof *readers);
    iter **ch = calloc(count + 2, sizeof *ch);
    memtable *mem = memtable_new();
    int n = 0, nr = 0;
    if (!readers || !ch || !mem) rc = lsm_error(LSM_ENOMEM, "repair: out of memory");
    /* WALs, oldest first (names are zero-padded, but sort numerically to be sure). */
    for (int pass = 0; !rc && pass < 2; pass++)
        for (size_t i = 0; !rc && i < count; i++) {
            uint64_t num;
            enum file_kind k = parse_file_name(names[i], &num);
            char *path = dir_file_name(dir, names[i]);
            if (!path) {
                rc = lsm_error(LSM_ENOMEM, "repair: out of memory");
                break;
            }
            if (pass == 0 && k == FILE_WAL) {
                wal_reader *r;
                if (wal_reader_open(env, path, 1, &r) == 0) {
                    const uint8_t *rec;
                    size_t len;
                    int got;
                    uint64_t recs = 0;
                    while ((got = wal_read(r, &rec, &len)) > 0) {
                        if (wb_insert_into(rec, len, mem) == 0) recs++;
                        else rreport(&c, "%s: undecodable record dropped", path);
                    }
                    if (got < 0) rreport(&c, "%s", lsm_last_error());
                    if (wal_reader_dropped(r))
                        rreport(&c, "%s: %llu damaged bytes dropped after %llu good records", path,
                                (unsigned long long)wal_reader_dropped(r),
                                (unsigned long long)recs);
                    wal_reader_close(r);
                } else {
                    rreport(&c, "%s", lsm_last_error());
                }
            } else if (pass == 1 && k == FILE_TABLE) {
                sst_reader *r;
                if (sst_reader_open(env, path, num, NULL, &r) != 0) {
                    rreport(&c, "%s: table lost: %s", path, lsm_last_error());
                } else {
                    int bad = 0;
                    if (sst_reader_verify(r, NULL, NULL, NULL) != 0) bad = 1;
                    iter *it = sst_reader_salvage_iter(r, salvage_report, &c);
                    prefix_iter *p = it ? calloc(1, sizeof *p) : NULL;
                    if (!p) {
                        iter_destroy(it);
                        sst_reader_close(r);
                        rc = lsm_error(LSM_ENOMEM, "repair: out of memory");
                    } else {
                        p->base.ops = &prefix_ops;
                        p->in = it;
                        readers[nr++] = r;
                        ch[n++] = &p->base;
                        if (bad)
                            rreport(&c, "%s: damaged; the entries of its readable blocks are kept",
                                    path);
                    }
                }
            }
            free(path);
        }
    if (!rc) ch[n++] = memtable_iter(mem);
    iter *merged = !rc ? merge_iter_new(ch, n) : NULL;
    if (!rc) ch = NULL; /* owned by merged */
    if (!rc && !merged) rc = lsm_error(LSM_ENOMEM, "repair: out of memory");

    vset vs;
    int vs_ok = !rc && vset_init(&vs, env, dir, NULL) == 0;
    if (!rc && !vs_ok) rc = LSM_ENOMEM;
    uint64_t table = max_number + 1, kept = 0, max_seq = 0, min_seq = UINT64_MAX;
    sst_builder *b = NULL;
    sst_meta meta;
    memset(&meta, 0, sizeof meta);
    int have_table = 0;
    if (!rc) {
        lsm_options o;
        lsm_options_init(&o);
        sst_options so = {o.block_size, o.block_restart_interval, o.bloom_bits_per_key,
                          o.compression, 0};
        char *path = table_file_name(dir, table);
        buf prev = {0};
        rc = path ? sst_builder_open(env, path, table, &so, &b) : LSM_ENOMEM;
        free(path);
        for (iter_seek_first(merged); !rc && iter_valid(merged); iter_next(merged)) {
            slice k = iter_key(merged);
            /* The same entry may survive in two tables (a compaction's input and output). */
            if (prev.len && ikey_compare(prev.data, prev.len, k.data, k.len) == 0) continue;
            prev.len = 0;
            if (buf_append(&prev, k.data, k.len)) {
                rc = LSM_ENOMEM;
                break;
            }
            uint64_t s = ikey_seq(k.data, k.len);
            if (s > max_seq) max_seq = s;
            if (s < min_seq) min_seq = s;
            slice v = iter_value(merged);
            rc = sst_builder_add(b, k.data, k.len, v.data, v.len);
            kept++;
        }
        buf_free(&prev);
        if (!rc && kept) {
            rc = sst_builder_finish(b, &meta);
            have_table = rc == 0;
        } else if (b) {
            sst_builder_abandon(b);
        }
        b = NULL;
    }
    iter_destroy(merged);
    for (int i = 0; i < nr; i++) sst_reader_close(readers[i]);
    if (ch)
        for (int i = 0; i < n; i++) iter_destroy(ch[i]);
    free(ch);
    free(readers);
    if (mem) memtable_unref(mem);

    if (!rc) {
        version_edit e;
        edit_init(&e);
        version *v = NULL;
        if (have_table) {
            file_meta *f = file_meta_of_table(table, &meta, min_seq, max_seq, NULL);
            if (!f) rc = LSM_ENOMEM;
            else {
                rc = edit_add_file(&e, 0, f);
                file_meta_unref(f);
            }
        }
        edit_set_log_number(&e, table + 2);
        edit_set_next_file(&e, table + 3);
        edit_set_last_seq(&e, max_seq);
        if (!rc) rc = vset_apply(&vs, &e, &v);
        if (!rc) vset_install(&vs, v, 0);
        edit_clear(&e);
        if (!rc) rc = manifest_write_snapshot(&vs, table + 1);
        if (!rc) {
            for (size_t i = 0; i < count; i++) {
                uint64_t num;
                enum file_kind k = parse_file_name(names[i], &num);
                if (k == FILE_TABLE || k == FILE_WAL || k == FILE_MANIFEST || k == FILE_TEMP) {
                    char *p = dir_file_name(dir, names[i]);
                    if (p) env->unlink(env, p);
                    free(p);
                }
            }
            rreport(&c, "%s: rebuilt with %llu entries in one table", dir,
                    (unsigned long long)kept);
        }
    }
    sst_meta_clear(&meta);
    if (vs_ok) vset_destroy(&vs);
    env_free_list(names, count);
    env->close(env, lock_fd);
    if (rc && rc != LSM_ENOMEM && strlen(lsm_last_error()) == 0)
        lsm_error(rc, "%s: repair failed", dir);
    return rc;
}
