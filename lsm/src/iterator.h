/*
 * iterator.h — the internal iterator interface that memtables, blocks, tables, levels and
 * merges all implement, so that they compose (a merging iterator over table iterators over
 * block iterators).
 *
 * Internal iterators yield INTERNAL keys (ikey.h) in ikey_compare order, including every
 * version and tombstone; the public lsm_iter (db_iter) collapses versions on top of them.
 * Slices returned by key/value stay valid until the iterator moves or is destroyed.
 * An iterator that meets an error becomes invalid and reports it through status; the message
 * was set in lsm_last_error at the time, and is also kept in errmsg for later readers.
 */
#ifndef LSM_ITERATOR_H
#define LSM_ITERATOR_H

#include "ikey.h"

typedef struct iter iter;

struct iter_ops {
    void (*seek_first)(iter *it);
    void (*seek_last)(iter *it);
    /* First entry with ikey >= target (an internal key). */
    void (*seek)(iter *it, const uint8_t *target, size_t len);
    void (*next)(iter *it); /* REQUIRES: valid */
    void (*prev)(iter *it); /* REQUIRES: valid */
    int (*valid)(const iter *it);
    slice (*key)(const iter *it);   /* REQUIRES: valid */
    slice (*value)(const iter *it); /* REQUIRES: valid */
    int (*status)(const iter *it);  /* 0 or the negative error that stopped it */
    void (*destroy)(iter *it);      /* frees it and releases what it holds */
    /* Optional (NULL: next).  Move past the current entry and possibly past further entries
     * of the same user key, never past an entry of another user key: for a caller done with
     * the current user key, which may thus skip its older versions without visiting them.
     * REQUIRES: valid, and moving forward. */
    void (*next_key)(iter *it);
    /* Optional (NULL: seek).  seek, for a forward scan that stops before user key ub (which
     * must stay valid until the iterator is positioned again): until the next seek, seek_first,
     * seek_last or prev, entries at or past ub may be left out, so that once the last entry
     * before ub is passed the iterator may stand on any entry at or past ub, or end.  A merge
     * leaves out the sources that have nothing before ub. */
    void (*seek_scan)(iter *it, const uint8_t *target, size_t len, const uint8_t *ub,
                      size_t ub_len);
};

/* Every iterator struct begins with this header. */
struct iter {
    const struct iter_ops *ops;
    char errmsg[256]; /* message for status() != 0 */
};

static inline void iter_seek_first(iter *it) { it->ops->seek_first(it); }
static inline void iter_seek_last(iter *it) { it->ops->seek_last(it); }
static inline void iter_seek(iter *it, const uint8_t *t, size_t n) { it->ops->seek(it, t, n); }
static inline void iter_next(iter *it) { it->ops->next(it); }
static inline void iter_prev(iter *it) { it->ops->prev(it); }
static inline void iter_next_key(iter *it)
{
    if (it->ops->next_key) it->ops->next_key(it);
    else it->ops->next(it);
}
static inline void iter_seek_scan(iter *it, const uint8_t *t, size_t n, const uint8_t *ub,
                                  size_t ub_len)
{
    if (it->ops->seek_scan) it->ops->seek_scan(it, t, n, ub, ub_len);
    else it->ops->seek(it, t, n);
}
static inline int iter_valid(const iter *it) { return it->ops->valid(it); }
static inline slice iter_key(const iter *it) { return it->ops->key(it); }
static inline slice iter_value(const iter *it) { return it->ops->value(it); }
static inline int iter_status(const iter *it) { return it->ops->status(it); }
static inline void iter_destroy(iter *it)
{
    if (it) it->ops->destroy(it);
}

/* An iterator with nothing in it and the given status (0 for plain empty).  Never NULL: if it
 * cannot be allocated, a shared static iterator with status LSM_ENOMEM is returned instead
 * (destroying that one is a no-op). */
iter *iter_new_empty(int status, const char *errmsg);

#endif
