/*
 * version_edit.c — building, encoding and decoding version edits (format in version_edit.h).
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "sstable.h"
#include "status.h"
#include "version.h"
#include "version_edit.h"

enum { TAG_LOG = 1, TAG_NEXT = 2, TAG_SEQ = 3, TAG_POINTER = 4, TAG_DELETED = 5,
       TAG_NEW = 6, TAG_STYLE = 7 };

file_meta *file_meta_new(uint64_t number, uint64_t size, const uint8_t *smallest,
                         size_t smallest_len, const uint8_t *largest, size_t largest_len)
{
    file_meta *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->smallest = malloc(smallest_len ? smallest_len : 1);
    f->largest = malloc(largest_len ? largest_len : 1);
    if (!f->smallest || !f->largest) {
        free(f->smallest);
        free(f->largest);
        free(f);
        return NULL;
    }
    memcpy(f->smallest, smallest, smallest_len);
    memcpy(f->largest, largest, largest_len);
    f->smallest_len = smallest_len;
    f->largest_len = largest_len;
    f->number = number;
    f->size = size;
    f->refs = 1;
    return f;
}

file_meta *file_meta_of_table(uint64_t number, const sst_meta *m, uint64_t min_seq,
                              uint64_t max_seq, struct vset *vs)
{
    file_meta *f = file_meta_new(number, m->file_size, m->smallest, m->smallest_len, m->largest,
                                 m->largest_len);
    if (f) {
        f->entries = m->num_entries;
        f->deletions = m->num_deletions;
        f->raw_key_bytes = m->raw_key_bytes;
        f->raw_value_bytes = m->raw_value_bytes;
        f->smallest_seq = min_seq;
        f->largest_seq = max_seq;
        f->vs = vs;
    }
    return f;
}

void file_meta_ref(file_meta *f) { __atomic_fetch_add(&f->refs, 1, __ATOMIC_RELAXED); }

void file_meta_unref(file_meta *f)
{
    if (!f) return;
    if (__atomic_sub_fetch(&f->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
    if (__atomic_load_n(&f->obsolete, __ATOMIC_ACQUIRE) && f->vs)
        vset_delete_table(f->vs, f->number);
    free(f->smallest);
    free(f->largest);
    free(f);
}

void edit_init(version_edit *e) { memset(e, 0, sizeof *e); }

void edit_clear(version_edit *e)
{
    for (size_t i = 0; i < e->nadded; i++) file_meta_unref(e->added[i].f);
    free(e->added);
    free(e->deleted);
    for (int l = 0; l < LSM_NUM_LEVELS; l++) buf_free(&e->pointer[l]);
    memset(e, 0, sizeof *e);
}

void edit_set_log_number(version_edit *e, uint64_t n) { e->has_log_number = 1, e->log_number = n; }
void edit_set_next_file(version_edit *e, uint64_t n) { e->has_next_file = 1, e->next_file = n; }
void edit_set_last_seq(version_edit *e, uint64_t s) { e->has_last_seq = 1, e->last_seq = s; }

static int grow(edit_file **a, size_t n, size_t *cap)
{
    if (n < *cap) return 0;
    size_t nc = *cap ? *cap * 2 : 8;
    edit_file *p = realloc(*a, nc * sizeof *p);
    if (!p) return lsm_error(LSM_ENOMEM, "version edit: out of memory");
    *a = p;
    *cap = nc;
    return 0;
}

int edit_add_file(version_edit *e, int level, file_meta *f)
{
    int rc = grow(&e->added, e->nadded, &e->cap_added);
    if (rc) return rc;
    file_meta_ref(f);
    e->added[e->nadded].level = level;
    e->added[e->nadded].f = f;
    e->added[e->nadded++].number = f->number;
    return 0;
}

int edit_delete_file(version_edit *e, int level, uint64_t number)
{
    int rc = grow(&e->deleted, e->ndeleted, &e->cap_deleted);
    if (rc) return rc;
    e->deleted[e->ndeleted].level = level;
    e->deleted[e->ndeleted].f = NULL;
    e->deleted[e->ndeleted++].number = number;
    return 0;
}

int edit_set_pointer(version_edit *e, int level, const uint8_t *ikey, size_t len)
{
    e->pointer[level].len = 0;
    if (buf_append(&e->pointer[level], ikey, len) != 0)
        return lsm_error(LSM_ENOMEM, "version edit: out of memory");
    e->has_pointer[level] = 1;
    return 0;
}

static int put_bytes(buf *o, const uint8_t *p, size_t n)
{
    return buf_append_varint32(o, (uint32_t)n) || buf_append(o, p, n);
}

int edit_encode(const version_edit *e, buf *o)
{
    int bad = 0;
    if (e->has_log_number) bad |= buf_append_varint32(o, TAG_LOG) | buf_append_varint64(o, e->log_number);
    if (e->has_next_file) bad |= buf_append_varint32(o, TAG_NEXT) | buf_append_varint64(o, e->next_file);
    if (e->has_last_seq) bad |= buf_append_varint32(o, TAG_SEQ) | buf_append_varint64(o, e->last_seq);
    for (int l = 0; l < LSM_NUM_LEVELS; l++)
        if (e->has_pointer[l])
            bad |= buf_append_varint32(o, TAG_POINTER) | buf_append_varint32(o, (uint32_t)l) |
                   put_bytes(o, e->pointer[l].data, e->pointer[l].len);
    for (size_t i = 0; i < e->ndeleted; i++)
        bad |= buf_append_varint32(o, TAG_DELETED) |
               buf_append_varint32(o, (uint32_t)e->deleted[i].level) |
               buf_append_varint64(o, e->deleted[i].number);
    for (size_t i = 0; i < e->nadded; i++) {
        const file_meta *f = e->added[i].f;
        bad |= buf_append_varint32(o, TAG_NEW) | buf_append_varint32(o, (uint32_t)e->added[i].level);
        uint64_t v[] = {f->number, f->size, f->entries, f->deletions, f->raw_key_bytes,
                        f->raw_value_bytes, f->smallest_seq, f->largest_seq};
        for (size_t j = 0; j < sizeof v / sizeof v[0]; j++) bad |= buf_append_varint64(o, v[j]);
        bad |= put_bytes(o, f->smallest, f->smallest_len) | put_bytes(o, f->largest, f->largest_len);
    }
    return bad ? lsm_error(LSM_ENOMEM, "version edit: out of memory") : 0;
}

static const uint8_t *get_bytes(const uint8_t *p, const uint8_t *end, const uint8_t **s, size_t *n)
{
    uint32_t len;
    p = get_varint32(p, end, &len);
    if (!p || len > (size_t)(end - p)) return NULL;
    *s = p;
    *n = len;
    return p + len;
}

int edit_decode(version_edit *e, const uint8_t *p, size_t n)
{
    const uint8_t *end = p + n;
    while (p < end) {
        uint32_t tag, level;
        uint64_t v;
        const char *what = "tag";
        p = get_varint32(p, end, &tag);
        if (!p) goto bad;
        switch (tag) {
        case TAG_LOG: case TAG_NEXT: case TAG_SEQ:
            what = tag == TAG_LOG ? "log number" : tag == TAG_NEXT ? "next file" : "last sequence";
            if (!(p = get_varint64(p, end, &v))) goto bad;
            if (tag == TAG_LOG) edit_set_log_number(e, v);
            else if (tag == TAG_NEXT) edit_set_next_file(e, v);
            else edit_set_last_seq(e, v);
            break;
        case TAG_STYLE:
            what = "compaction style";
            if (!(p = get_varint32(p, end, &level))) goto bad;
            break;
        case TAG_POINTER: {
            const uint8_t *k;
            size_t kl;
            what = "compaction pointer";
            if (!(p = get_varint32(p, end, &level)) || level >= LSM_NUM_LEVELS) goto bad;
            if (!(p = get_bytes(p, end, &k, &kl))) goto bad;
            if (edit_set_pointer(e, (int)level, k, kl)) return LSM_ENOMEM;
            break;
        }
        case TAG_DELETED:
            what = "deleted table";
            if (!(p = get_varint32(p, end, &level)) || level >= LSM_NUM_LEVELS) goto bad;
            if (!(p = get_varint64(p, end, &v))) goto bad;
            if (edit_delete_file(e, (int)level, v)) return LSM_ENOMEM;
            break;
        case TAG_NEW: {
            uint64_t f[8];
            const uint8_t *sk, *lk;
            size_t sl, ll;
            what = "new table";
            if (!(p = get_varint32(p, end, &level)) || level >= LSM_NUM_LEVELS) goto bad;
            for (int j = 0; j < 8; j++)
                if (!(p = get_varint64(p, end, &f[j]))) goto bad;
            if (!(p = get_bytes(p, end, &sk, &sl)) || !(p = get_bytes(p, end, &lk, &ll))) goto bad;
            if (sl < IKEY_TRAILER || ll < IKEY_TRAILER) goto bad;
            file_meta *fm = file_meta_new(f[0], f[1], sk, sl, lk, ll);
            if (!fm) return lsm_error(LSM_ENOMEM, "version edit: out of memory");
            fm->entries = f[2], fm->deletions = f[3], fm->raw_key_bytes = f[4];
            fm->raw_value_bytes = f[5], fm->smallest_seq = f[6], fm->largest_seq = f[7];
            int rc = edit_add_file(e, (int)level, fm);
            file_meta_unref(fm);
            if (rc) return rc;
            break;
        }
        default:
            return lsm_error(LSM_ECORRUPT, "unknown manifest field tag %u", tag);
        }
        continue;
    bad:
        return lsm_error(LSM_ECORRUPT, "malformed manifest field (%s)", what);
    }
    return 0;
}
