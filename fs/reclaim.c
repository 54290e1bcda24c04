/*
 * reclaim.c — give the space of deleted large files back soon.
 *
 * In an LSM tree a delete only writes a tombstone; the chunk bytes stay in the tables until a
 * compaction merges the two.  Users expect `rm bigfile` (or the last close of an unlinked file)
 * to free space, so when a delete or truncation drops many chunks, the inode's chunk range is
 * queued here and a background thread compacts exactly that range (lsm_compact_range, which
 * flushes the memtable first).  Chunk keys of one inode are contiguous, so the compaction
 * rewrites little else.  The queue is small and coalesces: an overflowing queue compacts the
 * whole chunk range once.
 */
#include "fscore_int.h"

#include <errno.h>
#include <string.h>

static void compact_chunks(fscore *fs, uint64_t ino)
{
    fs_buf lo, hi;
    fs_buf_init(&lo);
    fs_buf_init(&hi);
    int r;
    if (ino == UINT64_MAX) {
        char c = FS_KEY_CHUNK, d = (char)(FS_KEY_CHUNK + 1);
        r = fs_buf_add(&lo, &c, 1) || fs_buf_add(&hi, &d, 1) ? -ENOMEM : 0;
    } else {
        r = fs_key_chunk(&lo, ino, 0);
        if (r == 0)
            r = fs_key_chunk(&hi, ino, UINT64_MAX);
    }
    /* The batch holding the tombstones was queued under the write lock: taking the lock once
     * makes sure it has been written before we compact. */
    pthread_rwlock_rdlock(&fs->lock);
    pthread_rwlock_unlock(&fs->lock);
    if (r == 0)
        lsm_compact_range(fs->db, lo.data, lo.len, hi.data, hi.len);
    fs_buf_free(&lo);
    fs_buf_free(&hi);
}

static void *reclaim_main(void *arg)
{
    fscore *fs = arg;
    pthread_mutex_lock(&fs->rmu);
    for (;;) {
        while (fs->rn == 0 && !fs->rstop)
            pthread_cond_wait(&fs->rcond, &fs->rmu);
        if (fs->rstop)
            break;
        uint64_t ino = fs->rq[--fs->rn];
        pthread_mutex_unlock(&fs->rmu);
        compact_chunks(fs, ino);
        pthread_mutex_lock(&fs->rmu);
    }
    pthread_mutex_unlock(&fs->rmu);
    return NULL;
}

int fs_reclaim_start(fscore *fs)
{
    pthread_mutex_init(&fs->rmu, NULL);
    pthread_cond_init(&fs->rcond, NULL);
    fs->rn = 0;
    fs->rstop = 0;
    int r = pthread_create(&fs->rthread, NULL, reclaim_main, fs);
    fs->rrunning = r == 0;
    return -r;
}

void fs_reclaim_stop(fscore *fs)
{
    if (!fs->rrunning)
        return;
    pthread_mutex_lock(&fs->rmu);
    fs->rstop = 1;
    pthread_cond_signal(&fs->rcond);
    pthread_mutex_unlock(&fs->rmu);
    pthread_join(fs->rthread, NULL);
    pthread_cond_destroy(&fs->rcond);
    pthread_mutex_destroy(&fs->rmu);
    fs->rrunning = 0;
}

void fs_reclaim_note(fscore *fs, uint64_t ino, long chunks)
{
    if (!fs->rrunning || chunks < FS_RECLAIM_MIN_CHUNKS)
        return;
    pthread_mutex_lock(&fs->rmu);
    int dup = 0;
    for (int i = 0; i < fs->rn; i++)
        dup |= fs->rq[i] == ino || fs->rq[i] == UINT64_MAX;
    if (!dup) {
        if (fs->rn == FS_RECLAIM_QUEUE) {
            fs->rq[0] = UINT64_MAX; /* too many: compact all chunks once */
            fs->rn = 1;
        } else {
            fs->rq[fs->rn++] = ino;
        }
        pthread_cond_signal(&fs->rcond);
    }
    pthread_mutex_unlock(&fs->rmu);
}
