/*
 * version.c — versions and the version set (see version.h).
 */
#include <stdlib.h>
#include <string.h>

#include "filename.h"
#include "ikey.h"
#include "sstable.h"
#include "status.h"
#include "version.h"

version *version_new(void)
{
    version *v = calloc(1, sizeof *v);
    if (v) v->refs = 1;
    return v;
}

void version_ref(version *v) { __atomic_fetch_add(&v->refs, 1, __ATOMIC_RELAXED); }

void version_unref(version *v)
{
    if (!v || __atomic_sub_fetch(&v->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
    for (int l = 0; l < LSM_NUM_LEVELS; l++) {
        for (size_t i = 0; i < v->nfiles[l]; i++) file_meta_unref(v->files[l][i]);
        free(v->files[l]);
    }
    free(v);
}

uint64_t version_level_bytes(const version *v, int level)
{
    uint64_t s = 0;
    for (size_t i = 0; i < v->nfiles[level]; i++) s += v->files[level][i]->size;
    return s;
}

size_t version_total_files(const version *v)
{
    size_t n = 0;
    for (int l = 0; l < LSM_NUM_LEVELS; l++) n += v->nfiles[l];
    return n;
}

slice file_smallest_user(const file_meta *f) { return ikey_user(f->smallest, f->smallest_len); }
slice file_largest_user(const file_meta *f) { return ikey_user(f->largest, f->largest_len); }

size_t version_find_file(const version *v, int level, const uint8_t *ukey, size_t len)
{
    size_t lo = 0, hi = v->nfiles[level];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        slice l = file_largest_user(v->files[level][mid]);
        if (ukey_compare(l.data, l.len, ukey, len) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

int file_overlaps(const file_meta *f, const slice *lo, const slice *hi, int hi_inclusive)
{
    slice s = file_smallest_user(f), l = file_largest_user(f);
    if (lo && ukey_compare(l.data, l.len, lo->data, lo->len) < 0) return 0;
    return !hi || ukey_compare(s.data, s.len, hi->data, hi->len) < hi_inclusive;
}

size_t version_level_span(const version *v, int level, const slice *lo, const slice *hi,
                          size_t *first)
{
    size_t b = lo ? version_find_file(v, level, lo->data, lo->len) : 0;
    size_t e = v->nfiles[level];
    if (hi) { /* the first table from b on that starts at or past hi */
        size_t l = b;
        while (l < e) {
            size_t mid = l + (e - l) / 2;
            slice sm = file_smallest_user(v->files[level][mid]);
            if (ukey_compare(sm.data, sm.len, hi->data, hi->len) < 0) l = mid + 1;
            else e = mid;
        }
    }
    *first = b;
    return e - b;
}

int version_overlapping(const version *v, int level, const slice *begin, const slice *end,
                        file_meta ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (v->nfiles[level] == 0) return 0;
    file_meta **a = malloc(v->nfiles[level] * sizeof *a);
    if (!a) return lsm_error(LSM_ENOMEM, "version: out of memory");
    size_t k = 0;
    for (size_t i = 0; i < v->nfiles[level]; i++)
        if (file_overlaps(v->files[level][i], begin, end, 1)) a[k++] = v->files[level][i];
    if (k == 0) {
        free(a);
        return 0;
    }
    *out = a;
    *n = k;
    return 0;
}

size_t version_overlap_count(const version *v, int level, const slice *begin, const slice *end)
{
    size_t k = 0;
    for (size_t i = 0; i < v->nfiles[level]; i++) k += (size_t)file_overlaps(v->files[level][i], begin, end, 1);
    return k;
}

int version_deeper_may_hold(const version *v, int level, const uint8_t *ukey, size_t len)
{
    for (int l = level + 1; l < LSM_NUM_LEVELS; l++) {
        if (l == 0) continue;
        size_t i = version_find_file(v, l, ukey, len);
        if (i < v->nfiles[l]) {
            slice s = file_smallest_user(v->files[l][i]);
            if (ukey_compare(s.data, s.len, ukey, len) <= 0) return 1;
        }
    }
    return 0;
}

static int probe(table_cache *tc, const file_meta *f, const uint8_t *ukey, size_t len,
                 uint64_t seq, int fill, const sst_value_dst *dst, void **value, size_t *vlen,
                 read_stats *st)
{
    int checked = 0, negative = 0;
    int rc = tc_get(tc, f->number, ukey, len, seq, fill, dst, value, vlen, &checked, &negative);
    if (st) {
        st->tables_probed++;
        st->bloom_checked += (uint64_t)checked;
        st->bloom_useful += (uint64_t)negative;
    }
    return rc;
}

int version_get(const version *v, table_cache *tc, const uint8_t *ukey, size_t len,
                uint64_t seq, int fill_cache, const sst_value_dst *dst, void **value,
                size_t *value_len, read_stats *st)
{
    /* Level 0 newest first: its tables hold disjoint sequence ranges, so the first table with
     * an entry for the key has the newest one. */
    for (size_t i = 0; i < v->nfiles[0]; i++) {
        const file_meta *f = v->files[0][i];
        if (f->smallest_seq > seq) continue;
        slice s = file_smallest_user(f), l = file_largest_user(f);
        if (ukey_compare(ukey, len, s.data, s.len) < 0 || ukey_compare(ukey, len, l.data, l.len) > 0)
            continue;
        int rc = probe(tc, f, ukey, len, seq, fill_cache, dst, value, value_len, st);
        if (rc != SST_GET_ABSENT) return rc;
    }
    for (int lv = 1; lv < LSM_NUM_LEVELS; lv++) {
        size_t i = version_find_file(v, lv, ukey, len);
        if (i >= v->nfiles[lv]) continue;
        const file_meta *f = v->files[lv][i];
        slice s = file_smallest_user(f);
        if (ukey_compare(ukey, len, s.data, s.len) < 0) continue;
        int rc = probe(tc, f, ukey, len, seq, fill_cache, dst, value, value_len, st);
        if (rc != SST_GET_ABSENT) return rc;
    }
    return SST_GET_ABSENT;
}

int vset_init(vset *vs, lsm_env *env, const char *dir, table_cache *tc)
{
    memset(vs, 0, sizeof *vs);
    vs->env = env;
    vs->tc = tc;
    vs->dir = strdup(dir);
    vs->current = version_new();
    vs->next_file = 2;
    if (!vs->dir || !vs->current) {
        free(vs->dir);
        version_unref(vs->current);
        return lsm_error(LSM_ENOMEM, "version set: out of memory");
    }
    return 0;
}

void vset_destroy(vset *vs)
{
    if (vs->manifest) wal_writer_close(vs->manifest);
    version_unref(vs->current);
    for (int l = 0; l < LSM_NUM_LEVELS; l++) buf_free(&vs->pointer[l]);
    free(vs->dir);
    memset(vs, 0, sizeof *vs);
}

static int cmp_l0(const void *a, const void *b)
{
    const file_meta *x = *(file_meta *const *)a, *y = *(file_meta *const *)b;
    if (x->largest_seq != y->largest_seq) return x->largest_seq > y->largest_seq ? -1 : 1;
    return x->number > y->number ? -1 : x->number < y->number;
}

static int cmp_sorted(const void *a, const void *b)
{
    const file_meta *x = *(file_meta *const *)a, *y = *(file_meta *const *)b;
    return ikey_compare(x->smallest, x->smallest_len, y->smallest, y->smallest_len);
}

static int is_deleted(const version_edit *e, int level, uint64_t number)
{
    for (size_t i = 0; i < e->ndeleted; i++)
        if (e->deleted[i].level == level && e->deleted[i].number == number) return 1;
    return 0;
}

int vset_apply(vset *vs, const version_edit *e, version **out)
{
    const version *base = vs->current;
    version *v = version_new();
    if (!v) return lsm_error(LSM_ENOMEM, "version: out of memory");
    for (size_t i = 0; i < e->ndeleted; i++) {
        int found = 0, l = e->deleted[i].level;
        for (size_t j = 0; j < base->nfiles[l] && !found; j++)
            found = base->files[l][j]->number == e->deleted[i].number;
        if (!found) {
            version_unref(v);
            return lsm_error(LSM_ECORRUPT, "manifest edit deletes table %06llu, not in level %d",
                             (unsigned long long)e->deleted[i].number, l);
        }
    }
    for (int l = 0; l < LSM_NUM_LEVELS; l++) {
        size_t cap = base->nfiles[l];
        for (size_t i = 0; i < e->nadded; i++) cap += e->added[i].level == l;
        if (cap == 0) continue;
        v->files[l] = malloc(cap * sizeof(file_meta *));
        if (!v->files[l]) {
            version_unref(v);
            return lsm_error(LSM_ENOMEM, "version: out of memory");
        }
        size_t n = 0;
        for (size_t j = 0; j < base->nfiles[l]; j++) {
            file_meta *f = base->files[l][j];
            if (is_deleted(e, l, f->number)) continue;
            file_meta_ref(f);
            v->files[l][n++] = f;
        }
        for (size_t i = 0; i < e->nadded; i++) {
            if (e->added[i].level != l) continue;
            file_meta *f = e->added[i].f;
            f->vs = vs;
            file_meta_ref(f);
            v->files[l][n++] = f;
        }
        v->nfiles[l] = n;
        qsort(v->files[l], n, sizeof(file_meta *), l == 0 ? cmp_l0 : cmp_sorted);
    }
    for (int l = 0; l < LSM_NUM_LEVELS; l++) {
        if (!e->has_pointer[l]) continue;
        vs->pointer[l].len = 0;
        if (buf_append(&vs->pointer[l], e->pointer[l].data, e->pointer[l].len) != 0) {
            version_unref(v);
            return lsm_error(LSM_ENOMEM, "version: out of memory");
        }
    }
    if (e->has_log_number) vs->log_number = e->log_number;
    if (e->has_next_file && e->next_file > vs->next_file) vs->next_file = e->next_file;
    if (e->has_last_seq && e->last_seq > vs->last_seq) vs->last_seq = e->last_seq;
    *out = v;
    return 0;
}

static int holds(const version *v, uint64_t number)
{
    for (int l = 0; l < LSM_NUM_LEVELS; l++)
        for (size_t i = 0; i < v->nfiles[l]; i++)
            if (v->files[l][i]->number == number) return 1;
    return 0;
}

void vset_install(vset *vs, version *v, int mark_obsolete)
{
    version *old = vs->current;
    if (mark_obsolete)
        for (int l = 0; l < LSM_NUM_LEVELS; l++)
            for (size_t i = 0; i < old->nfiles[l]; i++) {
                file_meta *f = old->files[l][i];
                if (!holds(v, f->number)) {
                    f->vs = vs;
                    __atomic_store_n(&f->obsolete, 1, __ATOMIC_RELEASE);
                }
            }
    vs->current = v;
    version_unref(old);
}

void vset_delete_table(vset *vs, uint64_t number)
{
    char *path = table_file_name(vs->dir, number);
    if (path) {
        vs->env->unlink(vs->env, path);
        free(path);
    }
    if (vs->tc) tc_evict(vs->tc, number);
}

uint64_t vset_new_file_number(vset *vs) { return vs->next_file++; }
