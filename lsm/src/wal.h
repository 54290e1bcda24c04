/*
 * wal.h — the write-ahead log: an append-only file of checksummed records.
 *
 * Each record is framed with its length and CRC32C so the reader can tell a record torn by a
 * crash at the tail of the file (dropped silently: it was never acknowledged) from a damaged
 * record in the middle (an error naming the file and offset, unless salvage is asked for).
 * Record contents are opaque here (the db stores encoded write batches).  Byte layout in
 * lsm/FORMAT.md.
 */
#ifndef LSM_WAL_H
#define LSM_WAL_H

#include <stddef.h>
#include <stdint.h>

#include "env.h"

/* Every record is a 12-byte header followed by its payload; payloads up to WAL_MAX_RECORD
 * bytes (larger appends fail with LSM_ETOOBIG and leave the writer usable). */
#define WAL_HEADER_SIZE 12
#define WAL_MAX_RECORD (1u << 30)

typedef struct wal_writer wal_writer;

/* Create path (truncating any old file) and fsync its directory. */
int wal_writer_open(lsm_env *env, const char *path, wal_writer **out);
/* From now on keep zeros written ahead of the end while the log is being synced, so that a
 * sync writes data only, not the grown file's inode (wal.c, "Prefill").  For logs that are
 * synced often (the db's WALs); the reader drops the zeros as a crash's tail. */
void wal_writer_prefill(wal_writer *w);
/* Append one record.  Not durable until wal_sync.  Not thread-safe: the db's group commit has
 * one writer at a time (wal_sync may run in other threads meanwhile).  A short write is
 * continued; the error that stops it (e.g. -ENOSPC) is returned, never acknowledged.  After a failed append the file is truncated back to the end of
 * the last good record: if that works the writer stays usable (later appends may succeed);
 * if it fails the writer is finished (wal_failed() != 0) and every later wal_append / wal_sync
 * returns that first error.  A failed wal_sync also finishes the writer (the kernel may have
 * dropped the unsynced pages). */
int wal_append(wal_writer *w, const void *rec, size_t n);
int wal_sync(wal_writer *w);
/* 0 while the writer is usable, else the error that finished it. */
int wal_failed(const wal_writer *w);
/* Offset just past the last record (prefilled zeros beyond it are not counted). */
uint64_t wal_size(const wal_writer *w);
/* Close without syncing (the caller syncs first when it must). */
int wal_writer_close(wal_writer *w);

typedef struct wal_reader wal_reader;

/* Open path for replay.  salvage: see wal_read. */
int wal_reader_open(lsm_env *env, const char *path, int salvage, wal_reader **out);
/* Read the next record into *rec / *n (valid until the next call).  Returns 1 for a record, 0
 * at the end (including a torn tail, which is dropped), or LSM_ECORRUPT for a damaged record
 * followed by more data — message "PATH: corrupt WAL record at offset N: why".  With salvage,
 * that case instead returns 0 and sets wal_reader_dropped() to the bytes abandoned. */
int wal_read(wal_reader *r, const uint8_t **rec, size_t *n);
uint64_t wal_reader_dropped(const wal_reader *r);
/* Bytes of torn tail dropped at the end of the file (0 if the file ended cleanly). */
uint64_t wal_reader_torn(const wal_reader *r);
/* Offset just past the last good record read. */
uint64_t wal_reader_offset(const wal_reader *r);
void wal_reader_close(wal_reader *r);

#endif
