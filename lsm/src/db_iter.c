/*
 * db_iter.c — version-collapsing public iterator (see db_iter.h).
 *
 * Forward: the internal iterator sits ON the entry being shown; key/value come from it.
 * Backward: the internal iterator sits just BEFORE all entries of the shown key, whose user
 * key and value are copied into saved_key / saved_value.
 */
#include <stdlib.h>
#include <string.h>

#include "coding.h"
#include "db_iter.h"
#include "ikey.h"
#include "status.h"

struct lsm_iter {
    iter *it;
    uint64_t seq;
    int reverse;
    int valid;
    buf saved_key, saved_value;
    buf ub, lb;
    int has_ub, has_lb;
    int status; /* our own failure (out of memory) */
    void (*release)(void *);
    void *arg;
};

static int set_buf(lsm_iter *d, buf *b, const uint8_t *p, size_t n)
{
    if (n && n <= b->cap) { /* every step copies a key: no call when it fits */
        memcpy(b->data, p, n);
        b->len = n;
        return 0;
    }
    b->len = 0;
    if (buf_append(b, p, n) != 0) {
        d->status = LSM_ENOMEM;
        d->valid = 0;
        return -1;
    }
    return 0;
}

static int over_bound(const lsm_iter *d, slice u)
{
    return d->has_ub && ukey_compare(u.data, u.len, d->ub.data, d->ub.len) >= 0;
}

static int under_bound(const lsm_iter *d, const void *u, size_t len)
{
    return d->has_lb && ukey_compare(u, len, d->lb.data, d->lb.len) < 0;
}

/* Forward: from the current internal entry, find the next visible user entry.  With skipping,
 * entries with user key <= saved_key are hidden. */
static void find_next(lsm_iter *d, int skipping)
{
    iter *it = d->it;
    do {
        slice k = iter_key(it);
        slice u = ikey_user(k.data, k.len);
        if (over_bound(d, u)) break;
        uint64_t tr = ikey_load_le64(k.data + k.len - IKEY_TRAILER);
        if ((tr >> 8) > d->seq) { /* too new: an older version of u may be visible */
            iter_next(it);
            continue;
        }
        if ((tr & 0xff) == IKEY_TYPE_DELETE) {
            if (set_buf(d, &d->saved_key, u.data, u.len)) return;
            skipping = 1;
        } else if (!(skipping && ukey_compare(u.data, u.len, d->saved_key.data,
                                              d->saved_key.len) <= 0)) {
            d->valid = 1;
            d->saved_key.len = 0;
            return;
        }
        iter_next_key(it); /* u is hidden from here on */
    } while (iter_valid(it));
    d->saved_key.len = 0;
    d->valid = 0;
}

/* Backward: collect the newest visible value of the user key before the internal position. */
static void find_prev(lsm_iter *d)
{
    iter *it = d->it;
    int type = IKEY_TYPE_DELETE;
    while (iter_valid(it)) {
        slice k = iter_key(it);
        slice u = ikey_user(k.data, k.len);
        if (under_bound(d, u.data, u.len))
            break; /* nothing before the bound is shown: as if the entries ended here */
        uint64_t tr = ikey_load_le64(k.data + k.len - IKEY_TRAILER);
        if ((tr >> 8) <= d->seq) {
            if (type != IKEY_TYPE_DELETE &&
                ukey_compare(u.data, u.len, d->saved_key.data, d->saved_key.len) < 0)
                break;
            type = (int)(tr & 0xff);
            if (type == IKEY_TYPE_DELETE) {
                d->saved_key.len = 0;
                d->saved_value.len = 0;
            } else {
                slice v = iter_value(it);
                if (set_buf(d, &d->saved_key, u.data, u.len) ||
                    set_buf(d, &d->saved_value, v.data, v.len))
                    return;
            }
        }
        iter_prev(it);
    }
    if (type == IKEY_TYPE_DELETE) {
        d->valid = 0;
        d->saved_key.len = 0;
        d->saved_value.len = 0;
        d->reverse = 0;
    } else {
        d->valid = 1;
    }
}

/* Internal key (ukey, seq, type) into d->saved_key. */
static int build_target(lsm_iter *d, const void *key, size_t len, uint64_t seq, int type)
{
    d->saved_key.len = 0;
    if (buf_reserve(&d->saved_key, len + IKEY_TRAILER) != 0) {
        d->status = LSM_ENOMEM;
        d->valid = 0;
        return -1;
    }
    d->saved_key.len = ikey_build(d->saved_key.data, key, len, seq, type);
    return 0;
}

void lsm_iter_seek_first(lsm_iter *d)
{
    if (d->has_lb) {
        lsm_iter_seek(d, d->lb.data, d->lb.len);
        return;
    }
    d->reverse = 0;
    d->saved_value.len = 0;
    d->saved_key.len = 0;
    iter_seek_first(d->it);
    if (iter_valid(d->it)) find_next(d, 0);
    else d->valid = 0;
}

void lsm_iter_seek(lsm_iter *d, const void *key, size_t len)
{
    if (under_bound(d, key, len)) {
        key = d->lb.data;
        len = d->lb.len;
    }
    d->reverse = 0;
    d->saved_value.len = 0;
    if (build_target(d, key, len, d->seq, IKEY_TYPE_SEEK)) return;
    if (d->has_ub) /* find_next stops at the bound: what lies past it need not be merged */
        iter_seek_scan(d->it, d->saved_key.data, d->saved_key.len, d->ub.data, d->ub.len);
    else
        iter_seek(d->it, d->saved_key.data, d->saved_key.len);
    d->saved_key.len = 0;
    if (iter_valid(d->it)) find_next(d, 0);
    else d->valid = 0;
}

/* Position the internal iterator on the last entry whose user key is < limit (or <= limit
 * when inclusive), or at the very last entry when limit is NULL. */
static void position_before(lsm_iter *d, const void *limit, size_t len, int inclusive)
{
    if (!limit) {
        iter_seek_last(d->it);
        return;
    }
    /* (limit, MAX_SEQ) sorts before every entry of limit; (limit, 0, DELETE) after them. */
    if (build_target(d, limit, len, inclusive ? 0 : IKEY_MAX_SEQ,
                     inclusive ? IKEY_TYPE_DELETE : IKEY_TYPE_SEEK))
        return;
    iter_seek(d->it, d->saved_key.data, d->saved_key.len);
    if (inclusive)
        while (iter_valid(d->it)) { /* skip a (limit, 0, DELETE) entry itself */
            slice k = iter_key(d->it);
            slice u = ikey_user(k.data, k.len);
            if (ukey_compare(u.data, u.len, limit, len) > 0) break;
            iter_next(d->it);
        }
    if (iter_valid(d->it)) iter_prev(d->it);
    else if (iter_status(d->it) == 0) iter_seek_last(d->it);
}

void lsm_iter_seek_last(lsm_iter *d)
{
    d->reverse = 1;
    d->saved_value.len = 0;
    if (d->has_ub) position_before(d, d->ub.data, d->ub.len, 0);
    else position_before(d, NULL, 0, 0);
    if (d->status) return;
    d->saved_key.len = 0;
    find_prev(d);
}

void lsm_iter_seek_for_prev(lsm_iter *d, const void *key, size_t len)
{
    if (d->has_ub && ukey_compare(key, len, d->ub.data, d->ub.len) >= 0) {
        lsm_iter_seek_last(d);
        return;
    }
    d->reverse = 1;
    d->saved_value.len = 0;
    position_before(d, key, len, 1);
    if (d->status) return;
    d->saved_key.len = 0;
    find_prev(d);
}

void lsm_iter_next(lsm_iter *d)
{
    if (!d->valid) return;
    if (d->reverse) {
        d->reverse = 0;
        /* The internal iterator is just before the entries of saved_key: step into them and
         * let find_next skip past them (saved_key holds the key to skip). */
        if (!iter_valid(d->it)) {
            if (iter_status(d->it)) {
                d->valid = 0;
                return;
            }
            iter_seek_first(d->it);
        } else {
            iter_next(d->it);
        }
        if (!iter_valid(d->it)) {
            d->valid = 0;
            d->saved_key.len = 0;
            return;
        }
    } else {
        slice k = iter_key(d->it);
        if (set_buf(d, &d->saved_key, k.data, k.len - IKEY_TRAILER)) return;
        iter_next_key(d->it); /* the shown entry hides the rest of its key */
        if (!iter_valid(d->it)) {
            d->valid = 0;
            d->saved_key.len = 0;
            return;
        }
    }
    find_next(d, 1);
}

void lsm_iter_prev(lsm_iter *d)
{
    if (!d->valid) return;
    if (!d->reverse) {
        slice k = iter_key(d->it);
        if (set_buf(d, &d->saved_key, k.data, k.len - IKEY_TRAILER)) return;
        for (;;) {
            iter_prev(d->it);
            if (!iter_valid(d->it)) {
                d->valid = 0;
                d->saved_key.len = 0;
                d->saved_value.len = 0;
                return;
            }
            slice k2 = iter_key(d->it);
            slice u = ikey_user(k2.data, k2.len);
            if (ukey_compare(u.data, u.len, d->saved_key.data, d->saved_key.len) < 0) break;
        }
        d->reverse = 1;
    }
    find_prev(d);
}

int lsm_iter_valid(const lsm_iter *d) { return d->valid && d->status == 0 && iter_status(d->it) == 0; }

const void *lsm_iter_key(const lsm_iter *d, size_t *len)
{
    if (d->reverse) {
        *len = d->saved_key.len;
        return d->saved_key.data;
    }
    slice k = iter_key(d->it);
    *len = k.len - IKEY_TRAILER;
    return k.data;
}

const void *lsm_iter_value(const lsm_iter *d, size_t *len)
{
    if (d->reverse) {
        *len = d->saved_value.len;
        return d->saved_value.len ? d->saved_value.data : (const void *)"";
    }
    slice v = iter_value(d->it);
    *len = v.len;
    return v.data ? v.data : (const uint8_t *)"";
}

int lsm_iter_status(const lsm_iter *d)
{
    if (d->status) return lsm_error(d->status, "iterator: out of memory");
    int st = iter_status(d->it);
    if (st) return lsm_error(st, "%s", d->it->errmsg);
    return 0;
}

void lsm_iter_free(lsm_iter *d)
{
    if (!d) return;
    iter_destroy(d->it);
    if (d->release) d->release(d->arg);
    buf_free(&d->saved_key);
    buf_free(&d->saved_value);
    buf_free(&d->ub);
    buf_free(&d->lb);
    free(d);
}

lsm_iter *db_iter_new(iter *internal, uint64_t seq, const lsm_read_options *ropt,
                      void (*release)(void *arg), void *arg)
{
    lsm_iter *d = calloc(1, sizeof *d);
    const void *upper_bound = ropt ? ropt->upper_bound : NULL;
    const void *lower_bound = ropt ? ropt->lower_bound : NULL;
    if (!d || (upper_bound && buf_append(&d->ub, upper_bound, ropt->upper_bound_len) != 0) ||
        (lower_bound && buf_append(&d->lb, lower_bound, ropt->lower_bound_len) != 0)) {
        if (d) {
            buf_free(&d->ub);
            buf_free(&d->lb);
        }
        free(d);
        iter_destroy(internal);
        if (release) release(arg);
        return NULL;
    }
    d->it = internal;
    d->seq = seq;
    d->has_ub = upper_bound != NULL;
    d->has_lb = lower_bound != NULL;
    d->release = release;
    d->arg = arg;
    return d;
}
