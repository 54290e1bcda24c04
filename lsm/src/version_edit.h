/*
 * version_edit.h — one change to the set of live tables, as recorded in the manifest.
 *
 * An edit says: these tables were added (with their metadata), these were removed, and
 * optionally the new WAL number, next file number, last sequence and per-level compaction
 * pointers.  Replaying every edit of a manifest in order rebuilds the store's state.
 * Encoding (one manifest record each, lsm/FORMAT.md "Manifest"): a sequence of tagged fields,
 * tag varint32 then the field:
 *   1 log_number varint64        2 next_file varint64         3 last_seq varint64
 *   4 compact pointer: level varint32, ikey (varint32 len + bytes)
 *   5 deleted table: level varint32, file number varint64
 *   6 new table: level varint32, number, size, entries, deletions, raw_key_bytes,
 *     raw_value_bytes, smallest_seq, largest_seq (varint64 each), smallest ikey, largest ikey
 *     (varint32 len + bytes each)
 *   7 compaction style varint32 (informational)
 */
#ifndef LSM_VERSION_EDIT_H
#define LSM_VERSION_EDIT_H

#include <stddef.h>
#include <stdint.h>

#include "coding.h"

#define LSM_NUM_LEVELS 7

/* Metadata of one table.  Shared (ref-counted) between versions: see version.h. */
typedef struct file_meta {
    int refs; /* atomic; owners: versions, edits, compaction jobs */
    int obsolete; /* set once a committed edit removed it: delete the file at refs == 0 */
    uint64_t number, size;
    uint64_t entries, deletions, raw_key_bytes, raw_value_bytes;
    uint64_t smallest_seq, largest_seq;
    uint8_t *smallest, *largest; /* internal keys */
    size_t smallest_len, largest_len;
    struct vset *vs; /* who deletes the file when it becomes obsolete (may be NULL) */
} file_meta;

/* A new file_meta with refs = 1 and copies of the keys; NULL on out of memory. */
file_meta *file_meta_new(uint64_t number, uint64_t size, const uint8_t *smallest,
                         size_t smallest_len, const uint8_t *largest, size_t largest_len);
struct sst_meta;
/* The file_meta (refs = 1, the file deleted through vs once obsolete; vs may be NULL) of table
 * number, which an sst_builder finished into *m, holding sequences [min_seq, max_seq].  *m
 * stays the caller's.  NULL on out of memory. */
file_meta *file_meta_of_table(uint64_t number, const struct sst_meta *m, uint64_t min_seq,
                              uint64_t max_seq, struct vset *vs);
void file_meta_ref(file_meta *f);
/* Drop a reference; at zero, an obsolete file is deleted from disk (and from the table
 * cache) through f->vs, then f is freed. */
void file_meta_unref(file_meta *f);

typedef struct edit_file {
    int level;
    file_meta *f; /* added tables: a reference owned by the edit */
    uint64_t number; /* deleted tables */
} edit_file;

typedef struct version_edit {
    int has_log_number, has_next_file, has_last_seq;
    uint64_t log_number, next_file, last_seq;
    edit_file *added; size_t nadded, cap_added;
    edit_file *deleted; size_t ndeleted, cap_deleted;
    int has_pointer[LSM_NUM_LEVELS];
    buf pointer[LSM_NUM_LEVELS];
} version_edit;

void edit_init(version_edit *e);
void edit_clear(version_edit *e); /* frees everything; e can be reused after edit_init */
void edit_set_log_number(version_edit *e, uint64_t n);
void edit_set_next_file(version_edit *e, uint64_t n);
void edit_set_last_seq(version_edit *e, uint64_t s);
/* Each returns 0 or LSM_ENOMEM.  add_file takes a new reference on f. */
int edit_add_file(version_edit *e, int level, file_meta *f);
int edit_delete_file(version_edit *e, int level, uint64_t number);
int edit_set_pointer(version_edit *e, int level, const uint8_t *ikey, size_t len);

/* Append the encoding of e to out.  0 or LSM_ENOMEM. */
int edit_encode(const version_edit *e, buf *out);
/* Decode a record into e (freshly edit_init'ed).  LSM_ECORRUPT with a message saying which
 * field is malformed (the caller prefixes file and offset), or LSM_ENOMEM. */
int edit_decode(version_edit *e, const uint8_t *p, size_t n);

#endif
