/*
 * skiplist.h — the memtable's sorted index: a concurrent skiplist of internal-key entries
 * allocated in an arena.
 *
 * Each node holds one entry: an internal key (user key + 8-byte little-endian trailer, ikey.h)
 * and a value, stored inline after the node's links with their two lengths in front.  The
 * versions of a user key are adjacent, newest first; each node also points to the last of
 * them when it was inserted (key_last), so a scan done with a key jumps over its older
 * versions instead of visiting each (each visit is a cache miss in a big memtable).  Nodes
 * are ordered by ikey_compare: user key ascending (memcmp, shorter first), then trailer
 * descending.  Max height SKIPLIST_MAX_HEIGHT, branching factor 4 (each level holds ~1/4 of
 * the nodes of the level below).
 *
 * Concurrency: ONE writer (skiplist_insert callers serialise among themselves) runs alongside
 * any number of readers that take no lock.  A node is fully built before it is linked, and
 * each link is published with a release store that readers load with acquire, so a reader
 * that reaches a node sees its bytes.  Nodes are never unlinked or freed before the arena is.
 * Readers therefore see, at any moment, a set of inserts that is a prefix of the insert order
 * at each level-0 position they traverse.
 */
#ifndef LSM_SKIPLIST_H
#define LSM_SKIPLIST_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "arena.h"
#include "ikey.h"

#define SKIPLIST_MAX_HEIGHT 12
#define SKIPLIST_BRANCHING 4

typedef struct sl_node sl_node;
struct sl_node {
    uint32_t key_len;   /* internal key bytes: user key + IKEY_TRAILER */
    uint32_t value_len;
    uint32_t height;    /* number of links in next[] */
    /* The last node of this user key when this one was linked (itself if none followed):
     * every node from here to it has this user key.  Set before linking, never changed. */
    const sl_node *key_last;
    _Atomic(sl_node *) next[]; /* then key_len key bytes, then value_len value bytes */
};

typedef struct skiplist {
    arena *arena;
    sl_node *head;      /* sentinel with SKIPLIST_MAX_HEIGHT links and no entry */
    atomic_int height;  /* levels in use (1..SKIPLIST_MAX_HEIGHT) */
    uint64_t rnd;       /* writer-only xorshift state for node heights */
} skiplist;

/* Set up an empty list whose nodes come from a (which must outlive it).  seed varies the node
 * heights.  Returns 0 or LSM_ENOMEM. */
int skiplist_init(skiplist *s, arena *a, uint64_t seed);

/* Copy (ukey + trailer, value) into a new node and link it.  Returns the node, or NULL on out
 * of memory (the list is unchanged).  REQUIRES: single writer; no entry with the same
 * (ukey, trailer) is in the list; ukey_len + IKEY_TRAILER and value_len fit in 32 bits. */
const sl_node *skiplist_insert(skiplist *s, const uint8_t *ukey, size_t ukey_len,
                               uint64_t trailer, const uint8_t *value, size_t value_len);

/* First node >= (ukey, trailer) in ikey order, or NULL. */
const sl_node *skiplist_seek(const skiplist *s, const uint8_t *ukey, size_t ukey_len,
                             uint64_t trailer);
/* Last node < (ukey, trailer) in ikey order, or NULL. */
const sl_node *skiplist_seek_before(const skiplist *s, const uint8_t *ukey, size_t ukey_len,
                                    uint64_t trailer);
/* First / last node, or NULL when empty. */
const sl_node *skiplist_first(const skiplist *s);
const sl_node *skiplist_last(const skiplist *s);

/* The node after n at level 0, or NULL. */
static inline const sl_node *sl_node_next(const sl_node *n)
{
    return atomic_load_explicit(&((sl_node *)n)->next[0], memory_order_acquire);
}
/* The first node after n not of n's user key, or a node of it linked after n's key_last (an
 * older version inserted late), or NULL at the end. */
static inline const sl_node *sl_node_next_key(const sl_node *n)
{
    return sl_node_next(n->key_last);
}
/* The node's internal key and value (valid while the arena lives). */
static inline slice sl_node_key(const sl_node *n)
{
    slice k = {(const uint8_t *)&n->next[n->height], n->key_len};
    return k;
}
static inline slice sl_node_value(const sl_node *n)
{
    slice v = {(const uint8_t *)&n->next[n->height] + n->key_len, n->value_len};
    return v;
}
/* The trailer (seq << 8 | type) of a node's key. */
static inline uint64_t sl_node_trailer(const sl_node *n)
{
    const uint8_t *p = (const uint8_t *)&n->next[n->height] + n->key_len - IKEY_TRAILER;
    return ikey_load_le64(p);
}

#endif
