/*
 * manifest.h — the durable record of which tables are live: MANIFEST-NNNNNN files of version
 * edits, and the CURRENT file naming the live manifest.
 *
 * A manifest is a log of version edits framed exactly like WAL records (wal.h), each a
 * version_edit encoding.  Its first record is a full snapshot of the state (every table, the
 * counters); later records are incremental edits, each fsynced before the change it describes
 * takes effect.  CURRENT holds "MANIFEST-NNNNNN\n"; it is replaced by writing CURRENT.tmp,
 * fsyncing it, renaming it over CURRENT and fsyncing the directory, so it always names a
 * complete manifest.  Each open of a writable store starts a fresh manifest, so a manifest
 * never grows beyond one session's edits.  Layout: lsm/FORMAT.md "Manifest".
 */
#ifndef LSM_MANIFEST_H
#define LSM_MANIFEST_H

#include "version.h"

/* Write MANIFEST-number holding a snapshot of vs (current version, counters, pointers), sync
 * it, point CURRENT at it, and make it vs's open manifest (closing and deleting the previous
 * one).  On error nothing changes for readers: CURRENT still names the old manifest. */
int manifest_write_snapshot(vset *vs, uint64_t number);

/* Append e to vs's open manifest and fsync.  After an error the manifest refuses appends. */
int manifest_log(vset *vs, const version_edit *e);

/* Read CURRENT and replay the manifest it names into vs (freshly vset_init'ed).  Errors name
 * the file and, for a damaged record, the offset. */
int manifest_recover(vset *vs);

/* Point dir/CURRENT at MANIFEST-number (temp file, fsync, rename, directory fsync). */
int current_write(lsm_env *env, const char *dir, uint64_t number);
/* Read dir/CURRENT into *number.  LSM_ECORRUPT naming CURRENT if it is malformed. */
int current_read(lsm_env *env, const char *dir, uint64_t *number);

#endif
