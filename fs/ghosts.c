/*
 * ghosts.c — the bounded table of nameless nodes' attributes (see ghosts.h).
 *
 * An array in insertion order.  Every last name removed adds an entry, but the kernel forgets
 * an unlinked node as soon as nothing holds it, so when the array is full a sweep of the
 * forgotten ones empties it nearly.  Lookups are linear: they happen only for nodes without a
 * name, which are rare.  A node never gets a name back, so it is never put twice.
 *
 * Extended attributes set on a ghost (ext4 lets a process set them on a removed directory it
 * holds open) live in a short list per entry, bounded by FS_GHOST_XATTR_MAX bytes.
 */
#include "ghosts.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <time.h>

typedef struct ghost_xattr {
    struct ghost_xattr *next;
    size_t size;   /* of the value, which follows the name's NUL in data */
    char data[];   /* name, NUL, value */
} ghost_xattr;

typedef struct ghost {
    struct stat st;
    ghost_xattr *xa;
    size_t xa_bytes; /* names + values, for the bound */
} ghost;

struct fs_ghosts {
    pthread_mutex_t mu;
    ghost *e; /* e[0..n), oldest first */
    size_t n;
};

static void ghost_clear(ghost *e)
{
    while (e->xa) {
        ghost_xattr *x = e->xa;
        e->xa = x->next;
        free(x);
    }
    e->xa_bytes = 0;
}

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
    for (size_t i = 0; i < g->n; i++)
        ghost_clear(&g->e[i]);
    pthread_mutex_destroy(&g->mu);
    free(g->e);
    free(g);
}

/* Index of ino in g, or g->n.  Under the mutex. */
static size_t find(const fs_ghosts *g, uint64_t ino)
{
    size_t i = 0;
    while (i < g->n && (uint64_t)g->e[i].st.st_ino != ino)
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
        for (size_t j = 0; j < g->n; j++) {
            if (known(arg, (uint64_t)g->e[j].st.st_ino))
                g->e[kept++] = g->e[j];
            else
                ghost_clear(&g->e[j]);
        }
        g->n = kept;
        if (g->n > FS_GHOSTS_MAX / 2) {
            size_t drop = g->n - FS_GHOSTS_MAX / 2;
            for (size_t j = 0; j < drop; j++)
                ghost_clear(&g->e[j]);
            memmove(g->e, g->e + drop, (g->n - drop) * sizeof *g->e);
            g->n -= drop;
        }
    }
    memset(&g->e[g->n], 0, sizeof g->e[g->n]);
    g->e[g->n++].st = *st;
    pthread_mutex_unlock(&g->mu);
}

int fs_ghosts_get(fs_ghosts *g, uint64_t ino, struct stat *st)
{
    pthread_mutex_lock(&g->mu);
    size_t i = find(g, ino);
    if (i < g->n)
        *st = g->e[i].st;
    pthread_mutex_unlock(&g->mu);
    return i < g->n ? 0 : -ENOENT;
}

int fs_ghosts_set(fs_ghosts *g, uint64_t ino, const struct stat *st)
{
    pthread_mutex_lock(&g->mu);
    size_t i = find(g, ino);
    if (i < g->n)
        g->e[i].st = *st;
    pthread_mutex_unlock(&g->mu);
    return i < g->n ? 0 : -ENOENT;
}

/* The attribute name of ghost e, or NULL; *prev gets the link that points to it. */
static ghost_xattr *xattr_find(ghost *e, const char *name, ghost_xattr ***prev)
{
    ghost_xattr **pp = &e->xa;
    while (*pp && strcmp((*pp)->data, name) != 0)
        pp = &(*pp)->next;
    if (prev)
        *prev = pp;
    return *pp;
}

/* An xattr call changes the ghost's ctime, as on any inode. */
static void touch_ctime(ghost *e) { clock_gettime(CLOCK_REALTIME, &e->st.st_ctim); }

static int set_locked(ghost *e, const char *name, const void *value, size_t size, int flags)
{
    size_t nl = strlen(name);
    if (nl == 0)
        return -EINVAL;
    if (nl > 255)
        return -ERANGE;
    if (size > FS_GHOST_XATTR_MAX)
        return -E2BIG;
    ghost_xattr **pp, *old = xattr_find(e, name, &pp);
    if (old && (flags & XATTR_CREATE))
        return -EEXIST;
    if (!old && (flags & XATTR_REPLACE))
        return -ENODATA;
    size_t freed = old ? strlen(old->data) + 1 + old->size : 0;
    if (e->xa_bytes - freed + nl + 1 + size > FS_GHOST_XATTR_MAX)
        return -ENOSPC;
    ghost_xattr *x = malloc(sizeof *x + nl + 1 + size);
    if (!x)
        return -ENOMEM;
    memcpy(x->data, name, nl + 1);
    if (size)
        memcpy(x->data + nl + 1, value, size);
    x->size = size;
    x->next = old ? old->next : NULL;
    *pp = x;
    free(old);
    e->xa_bytes = e->xa_bytes - freed + nl + 1 + size;
    touch_ctime(e);
    return 0;
}

int fs_ghosts_setxattr(fs_ghosts *g, uint64_t ino, const char *name, const void *value,
                       size_t size, int flags)
{
    pthread_mutex_lock(&g->mu);
    size_t i = find(g, ino);
    int r = i < g->n ? set_locked(&g->e[i], name, value, size, flags) : -ENOENT;
    pthread_mutex_unlock(&g->mu);
    return r;
}

int fs_ghosts_getxattr(fs_ghosts *g, uint64_t ino, const char *name, void *buf, size_t size)
{
    pthread_mutex_lock(&g->mu);
    size_t i = find(g, ino);
    ghost_xattr *x = i < g->n ? xattr_find(&g->e[i], name, NULL) : NULL;
    int r = i == g->n ? -ENOENT : !x ? -ENODATA : (int)x->size;
    if (x && size) {
        if (x->size > size)
            r = -ERANGE;
        else if (x->size)
            memcpy(buf, x->data + strlen(x->data) + 1, x->size);
    }
    pthread_mutex_unlock(&g->mu);
    return r;
}

int fs_ghosts_listxattr(fs_ghosts *g, uint64_t ino, char *list, size_t size)
{
    pthread_mutex_lock(&g->mu);
    size_t i = find(g, ino), n = 0;
    int r = i < g->n ? 0 : -ENOENT;
    for (ghost_xattr *x = r ? NULL : g->e[i].xa; x; x = x->next) {
        size_t nl = strlen(x->data) + 1;
        if (size && n + nl > size) {
            r = -ERANGE;
            break;
        }
        if (size)
            memcpy(list + n, x->data, nl);
        n += nl;
    }
    pthread_mutex_unlock(&g->mu);
    return r ? r : (int)n;
}

int fs_ghosts_removexattr(fs_ghosts *g, uint64_t ino, const char *name)
{
    pthread_mutex_lock(&g->mu);
    size_t i = find(g, ino);
    ghost_xattr **pp, *x = i < g->n ? xattr_find(&g->e[i], name, &pp) : NULL;
    int r = i == g->n ? -ENOENT : !x ? -ENODATA : 0;
    if (x) {
        *pp = x->next;
        g->e[i].xa_bytes -= strlen(x->data) + 1 + x->size;
        free(x);
        touch_ctime(&g->e[i]);
    }
    pthread_mutex_unlock(&g->mu);
    return r;
}
