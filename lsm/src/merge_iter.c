/*
 * merge_iter.c — heap merge of internal iterators (see merge_iter.h).
 *
 * heap[] holds indexes of the valid children: a min-heap on key when moving forward, a
 * max-heap when moving backward; the current entry is always heap[0].
 *
 * After seek_scan (a forward scan that stops at an upper bound) the heap leaves out the
 * children that the seek left at or past the bound.  A scan of one directory's entries then
 * steps its one source, without a comparison per step against each source that holds nothing
 * of the directory.  (A child that steps past the bound later stays: checking every step for
 * it would cost more than the comparisons it costs until the scan ends.)  Any other
 * positioning (another seek, or prev, which repositions every child) ends the pruning.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coding.h"
#include "lsm.h"
#include "merge_iter.h"

typedef struct merge_iter {
    iter base;
    iter **child;
    int n, hn;
    int *heap;
    slice *keys; /* keys[i]: current key of child i while it is in the heap (saves calls) */
    int reverse;
    int status;
    buf tmp; /* copy of the current key while repositioning children */
    const uint8_t *ub; /* seek_scan's bound (a user key, the caller's) while pruning */
    size_t ub_len;
    int pruning;
} merge_iter;

/* While pruning: whether internal key k lies at or past the bound. */
static int past_bound(const merge_iter *m, slice k)
{
    slice u = ikey_user(k.data, k.len);
    return m->pruning && ukey_compare(u.data, u.len, m->ub, m->ub_len) >= 0;
}

static inline int mi_less(const merge_iter *m, int a, int b)
{
    const slice *ka = &m->keys[a], *kb = &m->keys[b];
    int c = ikey_compare(ka->data, ka->len, kb->data, kb->len);
    if (c == 0) c = a - b; /* never expected; keep the order total anyway */
    return m->reverse ? c > 0 : c < 0;
}

static void sift_down(merge_iter *m, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, best = i;
        if (l < m->hn && mi_less(m, m->heap[l], m->heap[best])) best = l;
        if (r < m->hn && mi_less(m, m->heap[r], m->heap[best])) best = r;
        if (best == i) return;
        int t = m->heap[i];
        m->heap[i] = m->heap[best];
        m->heap[best] = t;
        i = best;
    }
}

/* Record the child's error if it stopped on one; returns 1 if it did. */
static int check_child(merge_iter *m, int c)
{
    if (m->status) return 1;
    int st = iter_status(m->child[c]);
    if (st) {
        m->status = st;
        memcpy(m->base.errmsg, m->child[c]->errmsg, sizeof m->base.errmsg);
        return 1;
    }
    return 0;
}

static void rebuild(merge_iter *m)
{
    m->hn = 0;
    for (int i = 0; i < m->n; i++) {
        if (iter_valid(m->child[i])) {
            m->keys[i] = iter_key(m->child[i]);
            if (past_bound(m, m->keys[i]))
                continue; /* nothing of it is in the scan's range */
            m->heap[m->hn++] = i;
        } else {
            check_child(m, i);
        }
    }
    for (int i = m->hn / 2 - 1; i >= 0; i--) sift_down(m, i);
}

static void mi_seek_first(iter *it)
{
    merge_iter *m = (merge_iter *)it;
    for (int i = 0; i < m->n; i++) iter_seek_first(m->child[i]);
    m->reverse = 0;
    m->pruning = 0;
    rebuild(m);
}

static void mi_seek_last(iter *it)
{
    merge_iter *m = (merge_iter *)it;
    for (int i = 0; i < m->n; i++) iter_seek_last(m->child[i]);
    m->reverse = 1;
    m->pruning = 0;
    rebuild(m);
}

static void mi_seek(iter *it, const uint8_t *t, size_t len)
{
    merge_iter *m = (merge_iter *)it;
    for (int i = 0; i < m->n; i++) iter_seek(m->child[i], t, len);
    m->reverse = 0;
    m->pruning = 0;
    rebuild(m);
}

static void mi_seek_scan(iter *it, const uint8_t *t, size_t len, const uint8_t *ub,
                         size_t ub_len)
{
    merge_iter *m = (merge_iter *)it;
    for (int i = 0; i < m->n; i++) iter_seek(m->child[i], t, len);
    m->reverse = 0;
    m->ub = ub;
    m->ub_len = ub_len;
    m->pruning = 1;
    rebuild(m);
}

static int mi_valid(const iter *it)
{
    const merge_iter *m = (const merge_iter *)it;
    return m->hn > 0 && m->status == 0;
}

/* Advance the top child one step in the heap's direction (forward with by_key: past its
 * entries of the current user key, iter_next_key) and restore the heap. */
static void step_top(merge_iter *m, int by_key)
{
    int c = m->heap[0];
    if (m->reverse) iter_prev(m->child[c]);
    else if (by_key) iter_next_key(m->child[c]);
    else iter_next(m->child[c]);
    if (iter_valid(m->child[c])) {
        m->keys[c] = iter_key(m->child[c]);
        /* one source: nothing to reorder; two (a listing of entries that were rewritten since
         * their table was written): one comparison, without sift_down's call */
        if (m->hn == 2) {
            if (mi_less(m, m->heap[1], c)) {
                m->heap[0] = m->heap[1];
                m->heap[1] = c;
            }
        } else if (m->hn > 2) {
            sift_down(m, 0);
        }
    } else {
        check_child(m, c);
        m->heap[0] = m->heap[--m->hn];
        sift_down(m, 0);
    }
}

static int save_key(merge_iter *m)
{
    slice k = iter_key(m->child[m->heap[0]]);
    m->tmp.len = 0;
    if (buf_append(&m->tmp, k.data, k.len) != 0) {
        m->status = LSM_ENOMEM;
        snprintf(m->base.errmsg, sizeof m->base.errmsg, "merge iterator: out of memory");
        return -1;
    }
    return 0;
}

static void mi_next(iter *it)
{
    merge_iter *m = (merge_iter *)it;
    if (m->reverse) {
        /* Put every other child at its first entry after the current key. */
        int cur = m->heap[0];
        if (save_key(m)) return;
        for (int i = 0; i < m->n; i++) {
            if (i == cur) continue;
            iter *c = m->child[i];
            iter_seek(c, m->tmp.data, m->tmp.len);
            if (iter_valid(c)) {
                slice k = iter_key(c);
                if (ikey_compare(k.data, k.len, m->tmp.data, m->tmp.len) == 0) iter_next(c);
            }
        }
        iter_next(m->child[cur]);
        m->reverse = 0;
        rebuild(m);
        return;
    }
    step_top(m, 0);
}

/* Whether internal keys a and b have the same user key. */
static int same_user_key(slice a, slice b)
{
    return a.len == b.len && ukey_equal(a.data, b.data, a.len - IKEY_TRAILER);
}

/* Step past the current user key every child but the top that stands on it (older versions
 * in other sources: a file's entry rewritten since its table was written).  Such children sit
 * right under the top (a heap entry lies between its parent and its children), so only
 * heap[1] and heap[2] are looked at; the top stays the least key, so the heap stays valid. */
static void skip_same_key(merge_iter *m)
{
    slice top = m->keys[m->heap[0]];
    for (int i = 1; i <= 2 && i < m->hn;) {
        int c = m->heap[i];
        if (!same_user_key(m->keys[c], top)) {
            i++;
            continue;
        }
        iter_next_key(m->child[c]);
        if (iter_valid(m->child[c])) {
            m->keys[c] = iter_key(m->child[c]);
        } else {
            if (check_child(m, c)) return;
            m->heap[i] = m->heap[--m->hn]; /* from below the root: not less than the top */
        }
        if (2 * i + 1 < m->hn) sift_down(m, i);
    }
}

/* Past the current user key: the other children's entries of it are skipped here, where one
 * comparison each finds them, rather than shown to the caller one by one. */
static void mi_next_key(iter *it)
{
    merge_iter *m = (merge_iter *)it;
    if (m->reverse) {
        mi_next(it);
        return;
    }
    if (m->hn > 1) skip_same_key(m);
    if (m->status == 0) step_top(m, 1);
}

static void mi_prev(iter *it)
{
    merge_iter *m = (merge_iter *)it;
    if (!m->reverse) {
        /* Put every other child at its last entry before the current key. */
        int cur = m->heap[0];
        if (save_key(m)) return;
        for (int i = 0; i < m->n; i++) {
            if (i == cur) continue;
            iter *c = m->child[i];
            iter_seek(c, m->tmp.data, m->tmp.len);
            if (iter_valid(c)) iter_prev(c);
            else if (!iter_status(c)) iter_seek_last(c);
        }
        iter_prev(m->child[cur]);
        m->reverse = 1;
        m->pruning = 0;
        rebuild(m);
        return;
    }
    step_top(m, 0);
}

static slice mi_key(const iter *it)
{
    const merge_iter *m = (const merge_iter *)it;
    return m->keys[m->heap[0]];
}

static slice mi_value(const iter *it)
{
    const merge_iter *m = (const merge_iter *)it;
    return iter_value(m->child[m->heap[0]]);
}

static int mi_status(const iter *it) { return ((const merge_iter *)it)->status; }

static void mi_destroy(iter *it)
{
    merge_iter *m = (merge_iter *)it;
    for (int i = 0; i < m->n; i++) iter_destroy(m->child[i]);
    free(m->child);
    free(m->heap);
    free(m->keys);
    buf_free(&m->tmp);
    free(m);
}

static const struct iter_ops merge_ops = {
    .seek_first = mi_seek_first, .seek_last = mi_seek_last, .seek = mi_seek, .next = mi_next,
    .prev = mi_prev, .valid = mi_valid, .key = mi_key, .value = mi_value,
    .status = mi_status, .destroy = mi_destroy, .next_key = mi_next_key,
    .seek_scan = mi_seek_scan,
};

iter *merge_iter_new(iter **children, int n)
{
    merge_iter *m = calloc(1, sizeof *m);
    int *heap = malloc((size_t)(n > 0 ? n : 1) * sizeof *heap);
    slice *keys = malloc((size_t)(n > 0 ? n : 1) * sizeof *keys);
    if (!m || !heap || !keys) {
        free(keys);
        for (int i = 0; i < n; i++) iter_destroy(children[i]);
        free(children);
        free(m);
        free(heap);
        return NULL;
    }
    m->base.ops = &merge_ops;
    m->child = children;
    m->n = n;
    m->heap = heap;
    m->keys = keys;
    return &m->base;
}
