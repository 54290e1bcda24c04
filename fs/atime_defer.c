/*
 * atime_defer.c — the set of nodes whose owed atime the kernel does not know of
 * (atime_defer.h).
 *
 * An array under a mutex: it holds a node from a create until that node's first WRITE or the
 * next request about another node, so it rarely holds more than one.  The count is read
 * without the mutex first, because every request the daemon reads asks whether the set is
 * empty.
 */
#include "atime_defer.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

struct fs_atime_defer {
    pthread_mutex_t mu;
    size_t n; /* written under mu, read without it by fs_atime_defer_take */
    uint64_t ino[FS_ATIME_DEFER_MAX];
};

int fs_atime_defer_new(fs_atime_defer **out)
{
    fs_atime_defer *d = calloc(1, sizeof *d);
    if (!d)
        return -ENOMEM;
    pthread_mutex_init(&d->mu, NULL);
    *out = d;
    return 0;
}

void fs_atime_defer_free(fs_atime_defer *d)
{
    if (!d)
        return;
    pthread_mutex_destroy(&d->mu);
    free(d);
}

static int empty(const fs_atime_defer *d) { return __atomic_load_n(&d->n, __ATOMIC_ACQUIRE) == 0; }

int fs_atime_defer_add(fs_atime_defer *d, uint64_t ino)
{
    int r = -ENOSPC;
    pthread_mutex_lock(&d->mu);
    if (d->n < FS_ATIME_DEFER_MAX) {
        d->ino[d->n] = ino;
        __atomic_store_n(&d->n, d->n + 1, __ATOMIC_RELEASE);
        r = 0;
    }
    pthread_mutex_unlock(&d->mu);
    return r;
}

void fs_atime_defer_drop(fs_atime_defer *d, uint64_t ino)
{
    if (empty(d))
        return;
    pthread_mutex_lock(&d->mu);
    size_t kept = 0;
    for (size_t i = 0; i < d->n; i++)
        if (d->ino[i] != ino)
            d->ino[kept++] = d->ino[i];
    __atomic_store_n(&d->n, kept, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&d->mu);
}

size_t fs_atime_defer_take(fs_atime_defer *d, uint64_t keep, uint64_t *out)
{
    if (empty(d))
        return 0;
    pthread_mutex_lock(&d->mu);
    size_t kept = 0, taken = 0;
    for (size_t i = 0; i < d->n; i++) {
        if (d->ino[i] == keep)
            d->ino[kept++] = d->ino[i];
        else
            out[taken++] = d->ino[i];
    }
    __atomic_store_n(&d->n, kept, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&d->mu);
    return taken;
}
