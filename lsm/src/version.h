/*
 * version.h — versions (the set of live tables per level) and the version set that owns the
 * current one.
 *
 * A version is immutable once built and reference-counted: readers and iterators pin the
 * version they started with, so a compaction can install a new one without waiting for them;
 * tables a version holds stay on disk until the last version referring to them is released
 * (file_meta refs, version_edit.h).  Level 0 is ordered newest first (by largest sequence,
 * then file number) and its tables may overlap; levels 1.. are sorted by smallest key and
 * never overlap, not even in one user key.  With size-tiered compaction every table is a
 * sorted run in level 0.
 *
 * The vset fields are protected by the db mutex; the version set does no locking of its own.
 */
#ifndef LSM_VERSION_H
#define LSM_VERSION_H

#include <stddef.h>
#include <stdint.h>

#include "env.h"
#include "table_cache.h"
#include "version_edit.h"
#include "wal.h"

struct vset;

typedef struct version {
    int refs; /* atomic */
    file_meta **files[LSM_NUM_LEVELS];
    size_t nfiles[LSM_NUM_LEVELS];
} version;

typedef struct vset {
    lsm_env *env;
    char *dir;
    table_cache *tc;
    version *current;
    uint64_t next_file, last_seq, log_number, manifest_number;
    buf pointer[LSM_NUM_LEVELS]; /* round-robin compaction pointer per level (ikey) */
    wal_writer *manifest;        /* open manifest, NULL when read-only */
    uint64_t manifest_bytes;     /* bytes written to manifests (for write amplification) */
} vset;

/* An empty version with refs = 1; NULL on out of memory. */
version *version_new(void);
void version_ref(version *v);
void version_unref(version *v); /* frees at zero, unref'ing its tables */

uint64_t version_level_bytes(const version *v, int level);
size_t version_total_files(const version *v);

/* User key of a file's smallest / largest internal key. */
slice file_smallest_user(const file_meta *f);
slice file_largest_user(const file_meta *f);

/* Index of the first table of a sorted level (>= 1) whose largest user key >= ukey
 * (nfiles if none). */
size_t version_find_file(const version *v, int level, const uint8_t *ukey, size_t len);

/* True when table f may hold a user key in [lo, hi), or [lo, hi] when hi_inclusive (lo or hi
 * NULL: unbounded on that side). */
int file_overlaps(const file_meta *f, const slice *lo, const slice *hi, int hi_inclusive);

/* The tables of a sorted level (>= 1) that may hold a user key in [lo, hi) (NULL: unbounded):
 * files[level][*first .. *first + n), n returned (0: none). */
size_t version_level_span(const version *v, int level, const slice *lo, const slice *hi,
                          size_t *first);

/* Tables of level that overlap the user-key range [begin, end] (NULL = unbounded), in level
 * order, as a malloc'd array of borrowed pointers (*out NULL when *n == 0).  0 or LSM_ENOMEM. */
int version_overlapping(const version *v, int level, const slice *begin, const slice *end,
                        file_meta ***out, size_t *n);

/* How many tables of level overlap the user-key range [begin, end] (NULL = unbounded). */
size_t version_overlap_count(const version *v, int level, const slice *begin, const slice *end);

/* True when some table in a level deeper than level may contain ukey. */
int version_deeper_may_hold(const version *v, int level, const uint8_t *ukey, size_t len);

typedef struct read_stats {
    uint64_t bloom_checked, bloom_useful, tables_probed;
} read_stats;

/* Look ukey up in v's tables at sequence seq: SST_GET_* (value malloc'd, or in dst when dst
 * is not NULL: sst_reader_get_into) or a negative error naming the table.  stats may be
 * NULL. */
int version_get(const version *v, table_cache *tc, const uint8_t *ukey, size_t len,
                uint64_t seq, int fill_cache, const sst_value_dst *dst, void **value,
                size_t *value_len, read_stats *stats);

/* Initialise / free a version set (vs->current is an empty version). */
int vset_init(vset *vs, lsm_env *env, const char *dir, table_cache *tc);
void vset_destroy(vset *vs);

/* Build the version vs->current + e into *out (refs = 1); updates the compaction pointers and
 * counters of vs that e carries.  0, LSM_ENOMEM, or LSM_ECORRUPT if e deletes a table that is
 * not there. */
int vset_apply(vset *vs, const version_edit *e, version **out);
/* Make v current (takes over the caller's reference).  With mark_obsolete, tables of the old
 * current that v no longer holds are deleted from disk once unreferenced. */
void vset_install(vset *vs, version *v, int mark_obsolete);
/* Delete table number from disk and from the table cache (called at its last unref). */
void vset_delete_table(vset *vs, uint64_t number);
/* Allocate a new file number.  REQUIRES: the db mutex. */
uint64_t vset_new_file_number(vset *vs);

#endif
