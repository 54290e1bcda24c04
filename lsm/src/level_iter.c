/*
 * level_iter.c — concatenating iterator over a sorted level (see level_iter.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "level_iter.h"
#include "lsm.h"

typedef struct level_iter {
    iter base;
    table_cache *tc;
    file_meta *const *files;
    size_t n, idx; /* idx == n: no table open */
    iter *cur;
    int fill_cache;
    int status;
} level_iter;

static void set_error(level_iter *li, int st, const char *msg)
{
    if (li->status) return;
    li->status = st;
    snprintf(li->base.errmsg, sizeof li->base.errmsg, "%s", msg);
}

/* Open table i as the current one (closing the previous); 0 or -1 on error. */
static int open_table(level_iter *li, size_t i)
{
    if (li->cur && li->idx == i) return 0;
    iter_destroy(li->cur);
    li->cur = NULL;
    li->idx = li->n;
    if (i >= li->n) return -1;
    li->cur = tc_iter(li->tc, li->files[i]->number, li->fill_cache);
    if (!li->cur) {
        set_error(li, LSM_ENOMEM, "level iterator: out of memory");
        return -1;
    }
    li->idx = i;
    return 0;
}

/* When the current table is exhausted (or failed), record its error or move on. */
static int cur_failed(level_iter *li)
{
    int st = iter_status(li->cur);
    if (st) set_error(li, st, li->cur->errmsg);
    return st != 0;
}

static void skip_forward(level_iter *li)
{
    while (li->cur && !iter_valid(li->cur)) {
        if (cur_failed(li) || li->idx + 1 >= li->n) {
            iter_destroy(li->cur);
            li->cur = NULL;
            li->idx = li->n;
            return;
        }
        if (open_table(li, li->idx + 1)) return;
        iter_seek_first(li->cur);
    }
}

static void skip_backward(level_iter *li)
{
    while (li->cur && !iter_valid(li->cur)) {
        if (cur_failed(li) || li->idx == 0) {
            iter_destroy(li->cur);
            li->cur = NULL;
            li->idx = li->n;
            return;
        }
        if (open_table(li, li->idx - 1)) return;
        iter_seek_last(li->cur);
    }
}

static void li_seek_first(iter *it)
{
    level_iter *li = (level_iter *)it;
    if (li->status || open_table(li, 0)) return;
    iter_seek_first(li->cur);
    skip_forward(li);
}

static void li_seek_last(iter *it)
{
    level_iter *li = (level_iter *)it;
    if (li->status || li->n == 0 || open_table(li, li->n - 1)) return;
    iter_seek_last(li->cur);
    skip_backward(li);
}

static void li_seek(iter *it, const uint8_t *t, size_t len)
{
    level_iter *li = (level_iter *)it;
    if (li->status) return;
    size_t lo = 0, hi = li->n;
    while (lo < hi) { /* first table whose largest key >= t */
        size_t mid = lo + (hi - lo) / 2;
        const file_meta *f = li->files[mid];
        if (ikey_compare(f->largest, f->largest_len, t, len) < 0) lo = mid + 1;
        else hi = mid;
    }
    if (open_table(li, lo)) return;
    iter_seek(li->cur, t, len);
    skip_forward(li);
}

static void li_next(iter *it)
{
    level_iter *li = (level_iter *)it;
    iter_next(li->cur);
    skip_forward(li);
}

static void li_prev(iter *it)
{
    level_iter *li = (level_iter *)it;
    iter_prev(li->cur);
    skip_backward(li);
}

static int li_valid(const iter *it)
{
    const level_iter *li = (const level_iter *)it;
    return li->status == 0 && li->cur && iter_valid(li->cur);
}

static slice li_key(const iter *it) { return iter_key(((const level_iter *)it)->cur); }
static slice li_value(const iter *it) { return iter_value(((const level_iter *)it)->cur); }
static int li_status(const iter *it) { return ((const level_iter *)it)->status; }

static void li_destroy(iter *it)
{
    level_iter *li = (level_iter *)it;
    iter_destroy(li->cur);
    free(li);
}

static const struct iter_ops level_ops = {
    .seek_first = li_seek_first, .seek_last = li_seek_last, .seek = li_seek, .next = li_next,
    .prev = li_prev, .valid = li_valid, .key = li_key, .value = li_value,
    .status = li_status, .destroy = li_destroy,
};

iter *level_iter_new(table_cache *tc, file_meta *const *files, size_t n, int fill_cache)
{
    level_iter *li = calloc(1, sizeof *li);
    if (!li) return NULL;
    li->base.ops = &level_ops;
    li->tc = tc;
    li->files = files;
    li->n = n;
    li->idx = n;
    li->fill_cache = fill_cache;
    return &li->base;
}
