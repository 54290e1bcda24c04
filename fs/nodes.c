/*
 * nodes.c — the node table (see nodes.h).
 *
 * Two chained hash tables that double as they fill: entries by node id, and names by
 * (parent id, name).  An entry lists its names; the first is the one paths are built from.
 * Each name holds a reference on its parent entry ("kids"), so a directory stays in the table
 * while a child does, whatever the kernel forgets first; freeing an entry drops its names and
 * may free parents in turn.  Paths are built leaf to root into the end of the caller's buffer
 * after a first pass has measured them, so no allocation happens on the lookup path.
 */
#include "nodes.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct nent;

struct nname {
    struct nname *hnext; /* chain in the name hash */
    struct nname *next;  /* the entry's other names */
    struct nent *node;
    struct nent *parent;
    size_t len;
    char name[];
};

struct nent {
    struct nent *hnext; /* chain in the id hash */
    uint64_t id;
    uint64_t nlookup;
    uint64_t kids; /* names (of other entries) whose parent this entry is */
    struct nname *names;
    void *held; /* fs_nodes_hold */
    int pages;  /* fs_nodes_note_pages */
};

struct fs_nodes {
    pthread_mutex_t mu;
    struct nent **ids;
    size_t id_buckets, count;
    struct nname **names;
    size_t name_buckets, nnames;
    struct nent *root;
};

static size_t hash_id(uint64_t id) { return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 17); }

static size_t hash_name(uint64_t parent, const char *name, size_t len)
{
    uint64_t h = 1469598103934665603ull ^ (parent * 0x9E3779B97F4A7C15ull);
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)name[i]) * 1099511628211ull;
    return (size_t)(h ^ (h >> 29));
}

static struct nent *ent_find(fs_nodes *t, uint64_t id)
{
    struct nent *e = t->ids[hash_id(id) & (t->id_buckets - 1)];
    while (e && e->id != id)
        e = e->hnext;
    return e;
}

static struct nname *name_find(fs_nodes *t, uint64_t parent, const char *name, size_t len)
{
    struct nname *n = t->names[hash_name(parent, name, len) & (t->name_buckets - 1)];
    while (n && !(n->parent->id == parent && n->len == len && memcmp(n->name, name, len) == 0))
        n = n->hnext;
    return n;
}

/* Double the id hash when it is full; a failed allocation only keeps chains longer. */
static void ids_grow(fs_nodes *t)
{
    size_t nb = t->id_buckets * 2;
    struct nent **ids = calloc(nb, sizeof *ids);
    if (!ids)
        return;
    for (size_t i = 0; i < t->id_buckets; i++) {
        for (struct nent *e = t->ids[i], *next; e; e = next) {
            next = e->hnext;
            size_t b = hash_id(e->id) & (nb - 1);
            e->hnext = ids[b];
            ids[b] = e;
        }
    }
    free(t->ids);
    t->ids = ids;
    t->id_buckets = nb;
}

static void names_grow(fs_nodes *t)
{
    size_t nb = t->name_buckets * 2;
    struct nname **names = calloc(nb, sizeof *names);
    if (!names)
        return;
    for (size_t i = 0; i < t->name_buckets; i++) {
        for (struct nname *n = t->names[i], *next; n; n = next) {
            next = n->hnext;
            size_t b = hash_name(n->parent->id, n->name, n->len) & (nb - 1);
            n->hnext = names[b];
            names[b] = n;
        }
    }
    free(t->names);
    t->names = names;
    t->name_buckets = nb;
}

static struct nent *ent_new(fs_nodes *t, uint64_t id)
{
    struct nent *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->id = id;
    if (t->count >= t->id_buckets)
        ids_grow(t);
    size_t b = hash_id(id) & (t->id_buckets - 1);
    e->hnext = t->ids[b];
    t->ids[b] = e;
    t->count++;
    return e;
}

/* Give e the name (parent, name), first among its names if first.  NULL on -ENOMEM. */
static struct nname *name_add(fs_nodes *t, struct nent *e, struct nent *parent,
                              const char *name, size_t len, int first)
{
    struct nname *n = malloc(sizeof *n + len + 1);
    if (!n)
        return NULL;
    n->node = e;
    n->parent = parent;
    n->len = len;
    memcpy(n->name, name, len);
    n->name[len] = '\0';
    parent->kids++;
    if (t->nnames >= t->name_buckets)
        names_grow(t);
    size_t b = hash_name(parent->id, name, len) & (t->name_buckets - 1);
    n->hnext = t->names[b];
    t->names[b] = n;
    t->nnames++;
    struct nname **pp = &e->names;
    while (!first && *pp)
        pp = &(*pp)->next;
    n->next = *pp;
    *pp = n;
    return n;
}

static void ent_maybe_free(fs_nodes *t, struct nent *e);

/* Remove name n from its entry and the hash; its parent may go (not n's entry: the caller
 * decides about that). */
static void name_drop(fs_nodes *t, struct nname *n)
{
    struct nname **pp = &t->names[hash_name(n->parent->id, n->name, n->len) &
                                  (t->name_buckets - 1)];
    while (*pp != n)
        pp = &(*pp)->hnext;
    *pp = n->hnext;
    for (pp = &n->node->names; *pp != n; pp = &(*pp)->next)
        ;
    *pp = n->next;
    t->nnames--;
    struct nent *parent = n->parent;
    parent->kids--;
    free(n);
    ent_maybe_free(t, parent);
}

/* Free e if neither the kernel nor a child needs it any more. */
static void ent_maybe_free(fs_nodes *t, struct nent *e)
{
    if (e == t->root || e->nlookup > 0 || e->kids > 0)
        return;
    struct nent **pp = &t->ids[hash_id(e->id) & (t->id_buckets - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    t->count--;
    while (e->names)
        name_drop(t, e->names);
    free(e);
}

int fs_nodes_new(fs_nodes **out)
{
    fs_nodes *t = calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    t->id_buckets = t->name_buckets = 1024;
    t->ids = calloc(t->id_buckets, sizeof *t->ids);
    t->names = calloc(t->name_buckets, sizeof *t->names);
    if (t->ids && t->names)
        t->root = ent_new(t, FS_NODES_ROOT);
    if (!t->root) {
        free(t->ids);
        free(t->names);
        free(t);
        return -ENOMEM;
    }
    pthread_mutex_init(&t->mu, NULL);
    *out = t;
    return 0;
}

void fs_nodes_free(fs_nodes *t, void (*release)(void *held))
{
    if (!t)
        return;
    for (size_t i = 0; release && i < t->id_buckets; i++)
        for (struct nent *e = t->ids[i]; e; e = e->hnext)
            if (e->held)
                release(e->held);
    for (size_t i = 0; i < t->name_buckets; i++)
        for (struct nname *n = t->names[i], *next; n; n = next) {
            next = n->hnext;
            free(n);
        }
    for (size_t i = 0; i < t->id_buckets; i++)
        for (struct nent *e = t->ids[i], *next; e; e = next) {
            next = e->hnext;
            free(e);
        }
    free(t->names);
    free(t->ids);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

static int ref_locked(fs_nodes *t, uint64_t id, uint64_t parent_id, const char *name, int multi)
{
    struct nent *parent = ent_find(t, parent_id);
    if (!parent)
        return -ENOENT;
    struct nent *e = ent_find(t, id);
    if (!e && !(e = ent_new(t, id)))
        return -ENOMEM;
    size_t len = strlen(name);
    struct nname *n = name_find(t, parent_id, name, len);
    if (!n || n->node != e) {
        /* a name the table still gave another file lost it unseen; add the new one first, so
         * that the parent keeps a reference throughout */
        struct nname *stale = n;
        n = name_add(t, e, parent, name, len, 1); /* the newest name is surely valid */
        if (!n) {
            ent_maybe_free(t, e);
            return -ENOMEM;
        }
        if (stale) {
            struct nent *old = stale->node;
            name_drop(t, stale);
            ent_maybe_free(t, old);
        }
    }
    if (!multi) /* one name only: any other one the table had is out of date */
        while (e->names != n || n->next) {
            struct nname *other = e->names != n ? e->names : n->next;
            name_drop(t, other);
        }
    e->nlookup++;
    return 0;
}

int fs_nodes_ref(fs_nodes *t, uint64_t id, uint64_t parent, const char *name, int multi)
{
    if (id == FS_NODES_ROOT)
        return 0; /* the root is never forgotten, and has no name */
    pthread_mutex_lock(&t->mu);
    int r = ref_locked(t, id, parent, name, multi);
    pthread_mutex_unlock(&t->mu);
    return r;
}

void *fs_nodes_forget(fs_nodes *t, uint64_t id, uint64_t n)
{
    void *held = NULL;
    pthread_mutex_lock(&t->mu);
    struct nent *e = ent_find(t, id);
    if (e && e != t->root) {
        e->nlookup = n < e->nlookup ? e->nlookup - n : 0;
        if (e->nlookup == 0) {
            held = e->held;
            e->held = NULL;
        }
        ent_maybe_free(t, e);
    }
    pthread_mutex_unlock(&t->mu);
    return held;
}

int fs_nodes_hold(fs_nodes *t, uint64_t id, void *obj)
{
    pthread_mutex_lock(&t->mu);
    struct nent *e = ent_find(t, id);
    int r = !e ? -ESTALE : e->held ? -EBUSY : 0;
    if (r == 0)
        e->held = obj;
    pthread_mutex_unlock(&t->mu);
    return r;
}

/* Path of e through its name first into the end of buf; *start is where it begins.  The walk
 * is bounded by the buffer (every component costs at least 2 bytes), so even a cycle could not
 * loop.  Directories have one name; only the leaf may have others (see path_locked). */
static int path_via(fs_nodes *t, struct nent *e, struct nname *first, char *buf, size_t size,
                    size_t *start)
{
    if (size < 2)
        return -ENAMETOOLONG;
    size_t pos = size - 1;
    buf[pos] = '\0';
    if (e == t->root) {
        buf[--pos] = '/';
        *start = pos;
        return 0;
    }
    for (struct nname *n = first; e != t->root; n = e->names) {
        if (!n)
            return -ENOENT;
        if (n->len + 1 > pos)
            return -ENAMETOOLONG;
        pos -= n->len;
        memcpy(buf + pos, n->name, n->len);
        buf[--pos] = '/';
        e = n->parent;
    }
    *start = pos;
    return 0;
}

/* Path of e through the first of its names that still leads to the root. */
static int path_locked(fs_nodes *t, struct nent *e, char *buf, size_t size, size_t *start)
{
    if (e == t->root || !e->names)
        return path_via(t, e, e->names, buf, size, start);
    int r = -ENOENT;
    for (struct nname *n = e->names; n && r != 0; n = n->next)
        r = path_via(t, e, n, buf, size, start);
    return r;
}

int fs_nodes_path(fs_nodes *t, uint64_t id, char *buf, size_t size)
{
    pthread_mutex_lock(&t->mu);
    struct nent *e = ent_find(t, id);
    size_t start = 0;
    int r = e ? path_locked(t, e, buf, size, &start) : -ESTALE;
    pthread_mutex_unlock(&t->mu);
    if (r == 0)
        memmove(buf, buf + start, size - start);
    return r;
}

int fs_nodes_child_path(fs_nodes *t, uint64_t parent, const char *name, char *buf, size_t size)
{
    int r = fs_nodes_path(t, parent, buf, size);
    if (r)
        return r;
    size_t pl = strlen(buf), nl = strlen(name);
    if (pl == 1)
        pl = 0; /* the root: "/" + name */
    if (pl + 1 + nl + 1 > size)
        return -ENAMETOOLONG;
    buf[pl] = '/';
    memcpy(buf + pl + 1, name, nl + 1);
    return 0;
}

uint64_t fs_nodes_parent(fs_nodes *t, uint64_t id)
{
    if (id == FS_NODES_ROOT)
        return FS_NODES_ROOT;
    pthread_mutex_lock(&t->mu);
    struct nent *e = ent_find(t, id);
    uint64_t p = e && e->names ? e->names->parent->id : 0;
    pthread_mutex_unlock(&t->mu);
    return p;
}

void fs_nodes_unname(fs_nodes *t, uint64_t parent, const char *name)
{
    pthread_mutex_lock(&t->mu);
    struct nname *n = name_find(t, parent, name, strlen(name));
    if (n) {
        struct nent *e = n->node;
        name_drop(t, n);
        ent_maybe_free(t, e);
    }
    pthread_mutex_unlock(&t->mu);
}

/* Move name n to (np, name); n is freed.  -ENOMEM drops the name instead. */
static int name_move(fs_nodes *t, struct nname *n, struct nent *np, const char *name)
{
    struct nent *e = n->node;
    struct nname *moved = name_add(t, e, np, name, strlen(name), e->names == n);
    name_drop(t, n);
    ent_maybe_free(t, e);
    return moved ? 0 : -ENOMEM;
}

/* Move name n to (np, name), or forget it when the directory np is not in the table. */
static int move_or_drop(fs_nodes *t, struct nname *n, struct nent *np, const char *name)
{
    if (np)
        return name_move(t, n, np, name);
    struct nent *e = n->node;
    name_drop(t, n);
    ent_maybe_free(t, e);
    return 0;
}

static int rename_locked(fs_nodes *t, uint64_t parent, const char *name, uint64_t newparent,
                         const char *newname, int exchange)
{
    struct nname *a = name_find(t, parent, name, strlen(name));
    struct nname *b = name_find(t, newparent, newname, strlen(newname));
    struct nent *pa = ent_find(t, parent), *pb = ent_find(t, newparent);
    if (exchange && a && b) {
        /* the names stay, their files swap: re-point each name to the other entry */
        struct nent *ea = a->node, *eb = b->node;
        if (ea == eb)
            return 0;
        int a_first = ea->names == a, b_first = eb->names == b;
        struct nname *na = name_add(t, eb, pa, name, strlen(name), b_first);
        struct nname *nb = name_add(t, ea, pb, newname, strlen(newname), a_first);
        name_drop(t, a);
        name_drop(t, b);
        if (!na || !nb) { /* keep no half-swapped state: forget both names */
            if (na)
                name_drop(t, na);
            if (nb)
                name_drop(t, nb);
        }
        ent_maybe_free(t, ea);
        ent_maybe_free(t, eb);
        return na && nb ? 0 : -ENOMEM;
    }
    if (exchange) /* one of the names is unknown: the other simply moves there */
        return a ? move_or_drop(t, a, pb, newname) : (b ? move_or_drop(t, b, pa, name) : 0);
    if (a && b && a->node == b->node)
        return 0; /* two names of one file: rename(2) does nothing */
    int r = a ? move_or_drop(t, a, pb, newname) : 0; /* first: pb keeps a reference */
    if (b) {
        struct nent *eb = b->node;
        name_drop(t, b);
        ent_maybe_free(t, eb);
    }
    return r;
}

int fs_nodes_rename(fs_nodes *t, uint64_t parent, const char *name, uint64_t newparent,
                    const char *newname, int exchange)
{
    pthread_mutex_lock(&t->mu);
    int r = rename_locked(t, parent, name, newparent, newname, exchange);
    pthread_mutex_unlock(&t->mu);
    return r;
}

void fs_nodes_note_pages(fs_nodes *t, uint64_t id)
{
    pthread_mutex_lock(&t->mu);
    struct nent *e = ent_find(t, id);
    if (e)
        e->pages = 1;
    pthread_mutex_unlock(&t->mu);
}

int fs_nodes_may_have_pages(fs_nodes *t, uint64_t id)
{
    pthread_mutex_lock(&t->mu);
    struct nent *e = ent_find(t, id);
    int r = !e || e->pages;
    pthread_mutex_unlock(&t->mu);
    return r;
}

size_t fs_nodes_count(fs_nodes *t)
{
    pthread_mutex_lock(&t->mu);
    size_t n = t->count;
    pthread_mutex_unlock(&t->mu);
    return n;
}
