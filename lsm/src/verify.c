/*
 * verify.c — lsm_verify: offline check of a closed store.
 *
 * Checks, reporting each problem as one line: CURRENT and the manifest parse and replay; every
 * table the manifest lists exists, opens (footer, index, filter, properties checksums), has
 * every data block's checksum right and its keys in order (sst_reader_verify), and lies within
 * the key range the manifest records; tables of a level >= 1 do not overlap; every WAL that
 * would be replayed reads to its end without a damaged record.  Takes the store's lock so a
 * running process is not checked under its feet.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filename.h"
#include "manifest.h"
#include "sstable.h"
#include "status.h"
#include "version.h"

typedef struct vctx {
    void (*report)(void *, const char *);
    void (*progress)(void *, uint64_t, uint64_t);
    void *arg;
    int problems;
    uint64_t done, total;
} vctx;

static void vreport(void *arg, const char *line)
{
    vctx *c = arg;
    c->problems++;
    if (c->report) c->report(c->arg, line);
}

static void vreportf(vctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void vreportf(vctx *c, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    vreport(c, line);
}

static void check_table(vctx *c, lsm_env *env, const char *dir, int level, const file_meta *f)
{
    char *path = table_file_name(dir, f->number);
    if (!path) return;
    sst_reader *r;
    int rc = sst_reader_open(env, path, f->number, NULL, &r);
    if (rc) {
        vreportf(c, "%s", lsm_last_error());
        free(path);
        return;
    }
    if (sst_reader_file_size(r) != f->size)
        vreportf(c, "%s: size %llu, manifest says %llu", path,
                 (unsigned long long)sst_reader_file_size(r), (unsigned long long)f->size);
    sst_reader_verify(r, vreport, c, &c->done);
    iter *it = sst_reader_iter(r, 0);
    if (it) {
        iter_seek_first(it);
        if (iter_valid(it)) {
            slice k = iter_key(it);
            if (ikey_compare(k.data, k.len, f->smallest, f->smallest_len) != 0)
                vreportf(c, "%s: first key differs from the manifest's smallest key", path);
        }
        iter_seek_last(it);
        if (iter_valid(it)) {
            slice k = iter_key(it);
            if (ikey_compare(k.data, k.len, f->largest, f->largest_len) != 0)
                vreportf(c, "%s: last key differs from the manifest's largest key", path);
        }
        iter_destroy(it);
    }
    sst_reader_close(r);
    (void)level;
    if (c->progress) c->progress(c->arg, c->done, c->total);
    free(path);
}

int lsm_verify(const char *dir, void (*report)(void *arg, const char *line),
               void (*progress)(void *arg, uint64_t done, uint64_t total), void *arg)
{
    lsm_env *env = lsm_env_posix();
    vctx c = {report, progress, arg, 0, 0, 0};
    char *lock = dir_file_name(dir, "LOCK");
    int lock_fd = lock ? env->lock(env, lock) : LSM_ENOMEM;
    free(lock);
    if (lock_fd < 0)
        return lock_fd == -EBUSY ? lsm_error(LSM_EINUSE, "%s: store in use by another process", dir)
                                 : lsm_error(lock_fd, "%s: cannot lock store", dir);
    vset vs;
    int rc = vset_init(&vs, env, dir, NULL);
    if (rc) {
        env->close(env, lock_fd);
        return rc;
    }
    rc = manifest_recover(&vs);
    if (rc) {
        vreportf(&c, "%s", lsm_last_error());
        vset_destroy(&vs);
        env->close(env, lock_fd);
        return c.problems ? LSM_ECORRUPT : rc;
    }
    const version *v = vs.current;
    for (int l = 0; l < LSM_NUM_LEVELS; l++) c.total += version_level_bytes(v, l);
    for (int l = 0; l < LSM_NUM_LEVELS; l++)
        for (size_t i = 0; i < v->nfiles[l]; i++) {
            check_table(&c, env, dir, l, v->files[l][i]);
            if (l > 0 && i > 0) {
                slice a = file_largest_user(v->files[l][i - 1]);
                slice b = file_smallest_user(v->files[l][i]);
                if (ukey_compare(a.data, a.len, b.data, b.len) >= 0)
                    vreportf(&c, "level %d: tables %06llu and %06llu overlap", l,
                             (unsigned long long)v->files[l][i - 1]->number,
                             (unsigned long long)v->files[l][i]->number);
            }
        }
    char **names;
    size_t count;
    if (env->list_dir(env, dir, &names, &count) >= 0) {
        for (size_t i = 0; i < count; i++) {
            uint64_t num;
            if (parse_file_name(names[i], &num) != FILE_WAL || num < vs.log_number) continue;
            char *p = dir_file_name(dir, names[i]);
            wal_reader *r;
            if (p && wal_reader_open(env, p, 0, &r) == 0) {
                const uint8_t *rec;
                size_t n;
                int got;
                while ((got = wal_read(r, &rec, &n)) > 0) {}
                if (got < 0) vreportf(&c, "%s", lsm_last_error());
                wal_reader_close(r);
            } else if (p) {
                vreportf(&c, "%s", lsm_last_error());
            }
            free(p);
        }
        env_free_list(names, count);
    }
    vset_destroy(&vs);
    env->close(env, lock_fd);
    return c.problems ? lsm_error(LSM_ECORRUPT, "%s: %d problem(s) found", dir, c.problems) : 0;
}
