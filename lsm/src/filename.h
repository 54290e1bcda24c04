/*
 * filename.h — names of the files in a store directory, and parsing them back.
 *
 *   NNNNNN.sst        a table            NNNNNN.wal      a write-ahead log
 *   MANIFEST-NNNNNN   a manifest         CURRENT         names the live manifest
 *   LOCK              the process lock   *.tmp           unfinished writes (deleted at open)
 * NNNNNN is the file number in decimal, at least six digits; every file number is unique
 * within a store (one counter, recorded in the manifest).
 */
#ifndef LSM_FILENAME_H
#define LSM_FILENAME_H

#include <stdint.h>

enum file_kind { FILE_OTHER = 0, FILE_TABLE, FILE_WAL, FILE_MANIFEST, FILE_CURRENT, FILE_LOCK,
                 FILE_TEMP };

/* malloc'd "dir/NNNNNN.sst" etc.; NULL on out of memory. */
char *table_file_name(const char *dir, uint64_t number);
char *wal_file_name(const char *dir, uint64_t number);
char *manifest_file_name(const char *dir, uint64_t number);
char *dir_file_name(const char *dir, const char *name); /* "dir/name" */

/* Classify a directory entry name; *number is set for tables, WALs and manifests. */
enum file_kind parse_file_name(const char *name, uint64_t *number);

#endif
