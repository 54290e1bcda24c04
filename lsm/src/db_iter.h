/*
 * db_iter.h — the public lsm_iter: user-visible keys over an internal iterator.
 *
 * The internal iterator yields every version and tombstone; this layer shows, for each user
 * key, only the newest version with sequence <= the iterator's sequence, hides keys whose
 * newest visible version is a tombstone, and shows nothing outside [lower_bound, upper_bound).  (Algorithm as LevelDB's
 * DBIter: forward it skips by user key; backward it walks to the oldest entry of the previous
 * user key, remembering the newest visible value.)
 */
#ifndef LSM_DB_ITER_H
#define LSM_DB_ITER_H

#include "iterator.h"
#include "lsm.h"

/* Wrap internal (ownership taken).  release(arg) runs when the iterator is freed, after
 * internal is destroyed (the db drops its version/memtable references there).
 * ropt's bounds are copied (ropt NULL, or a bound NULL: none).  NULL on out of memory
 * (internal destroyed, release run). */
lsm_iter *db_iter_new(iter *internal, uint64_t seq, const lsm_read_options *ropt,
                      void (*release)(void *arg), void *arg);

#endif
