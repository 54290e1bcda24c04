/*
 * merge_iter.h — a k-way merge of internal iterators into one ordered stream.
 *
 * The children are ordered newest source first (memtable, immutables, L0 tables, levels), but
 * internal keys are unique across sources (every write has its own sequence number), so the
 * merge is a plain heap merge on ikey_compare.  Both directions are supported; switching
 * direction repositions every child around the current key (as LevelDB does).  Memory is one
 * heap slot per child.  The first child error stops the merge (invalid, status set), so a
 * damaged table can never silently drop entries from a scan.
 */
#ifndef LSM_MERGE_ITER_H
#define LSM_MERGE_ITER_H

#include "iterator.h"

/* Takes ownership of the n children (and of the array itself, which must be malloc'd); they
 * are destroyed with the merge.  NULL on out of memory (children destroyed too). */
iter *merge_iter_new(iter **children, int n);

#endif
