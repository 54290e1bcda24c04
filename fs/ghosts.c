/*
 * ghosts.c — the bounded table of nameless nodes' attributes (see ghosts.h).
 *
 * An array in insertion order.  Every last name removed adds an entry, but the kernel forgets
 * an unlinked node as soon as nothing holds it, so when the array is full a sweep of the
 * forgotten ones empties it nearly.  Lookups are linear: they happen only for nodes without a
 * name, which are rare.  A node never gets a name back, so it is never put twice.
 */
#include "ghosts.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct fs_ghosts {
    pthread_mutex_t mu;
    struct stat *e; /* e[0..n), oldest first */
    size_t n;
};

int fs_ghosts_new(fs_ghosts **out)
{
    fs_ghosts *g = calloc(1, sizeof *g);
    if (g)
        g->e = calloc(FS_GHOSTS_MAX, sizeof *g->e);
    if (!g || !g->e) {
        free(g);
        *out = NULL;
        return -ENOMEM;
    }
    pthread_mutex_init(&g->mu, NULL);
    *out = g;
    return 0;
}

void fs_ghosts_free(fs_ghosts *g)
{
    if (!g)
        return;
    pthread_mutex_destroy(&g->mu);
    free(g->e);
    free(g);
}

/* Index of ino in g, or g->n.  Under the mutex. */
static size_t find(const fs_ghosts *g, uint64_t ino)
{
    size_t i = 0;
    while (i < g->n && (uint64_t)g->e[i].st_ino != ino)
        i++;
    return i;
}

void fs_ghosts_put(fs_ghosts *g, const struct stat *st, int (*known)(void *arg, uint64_t ino),
                   void *arg)
{
    pthread_mutex_lock(&g->mu);
    if (g->n == FS_GHOSTS_MAX) {
        /* Usually the kernel has forgotten nearly all of them by now; if it still holds more
         * than half, the oldest half goes, so that a put costs O(1) amortized. */
        size_t kept = 0;
        for (size_t j = 0; j < g->n; j++)
            if (known(arg, (uint64_t)g->e[j].st_ino))
                g->e[kept++] = g->e[j];
        g->n = kept;
        if (g->n > FS_GHOSTS_MAX / 2) {
            size_t drop = g->n - FS_GHOSTS_MAX / 2;
            memmove(g->e, g->e + drop, (g->n - drop) * sizeof *g->e);
            g->n -= drop;
        }
    }
    g->e[g->n++] = *st;
    pthread_mutex_unlock(&g->mu);
}

int fs_ghosts_get(fs_ghosts *g, uint64_t ino, struct stat *st)
{
    pthread_mutex_lock(&g->mu);
    size_t i = find(g, ino);
    if (i < g->n)
        *st = g->e[i];
    pthread_mutex_unlock(&g->mu);
    return i < g->n ? 0 : -ENOENT;
}

int fs_ghosts_set(fs_ghosts *g, uint64_t ino, const struct stat *st)
{
    pthread_mutex_lock(&g->mu);
    size_t i = find(g, ino);
    if (i < g->n)
        g->e[i] = *st;
    pthread_mutex_unlock(&g->mu);
    return i < g->n ? 0 : -ENOENT;
}
