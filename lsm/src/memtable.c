/*
 * memtable.c — the memtable of memtable.h: a skiplist (skiplist.h) of internal-key entries in
 * an arena (arena.h), a reference count, and an iterator.
 *
 * Inserts cost one arena allocation (and now and then a bigger hash table).  A lookup asks
 * the hash index (keyhash.h) for the key's newest node; when that is newer than the lookup's
 * sequence number (a read at an old snapshot), it seeks the skiplist to (ukey, seq, SEEK
 * type): because internal keys sort newest first within a user key, the first entry at or
 * after that target is the newest version visible at seq, if it has the same user key.  The
 * iterator walks level 0 forwards; backwards it searches again for the last entry before the
 * current one (O(log n) per step, as in LevelDB), which keeps nodes free of back links.
 */
#include "memtable.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "keyhash.h"
#include "lsm.h"
#include "skiplist.h"
#include "sstable.h"
#include "status.h"

struct memtable {
    atomic_int refs;
    atomic_uint_fast64_t entries;
    arena arena;
    skiplist list;
    keyhash index;
};

memtable *memtable_new(void)
{
    memtable *m = malloc(sizeof *m);
    if (!m) return NULL;
    atomic_init(&m->refs, 1);
    atomic_init(&m->entries, 0);
    arena_init(&m->arena);
    if (keyhash_init(&m->index) != 0) {
        free(m);
        return NULL;
    }
    /* The address makes heights differ between memtables without any global state. */
    if (skiplist_init(&m->list, &m->arena, (uint64_t)(uintptr_t)m * 0x9e3779b97f4a7c15ull) < 0) {
        keyhash_destroy(&m->index);
        arena_destroy(&m->arena);
        free(m);
        return NULL;
    }
    return m;
}

void memtable_ref(memtable *m) { atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed); }

void memtable_unref(memtable *m)
{
    if (!m) return;
    /* acq_rel: the freeing thread must see every other holder's last use. */
    if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1) {
        keyhash_destroy(&m->index);
        arena_destroy(&m->arena);
        free(m);
    }
}

int memtable_add(memtable *m, uint64_t seq, int type, const uint8_t *ukey, size_t ukey_len,
                 const uint8_t *value, size_t value_len)
{
    if (ukey_len > UINT32_MAX - IKEY_TRAILER || value_len > UINT32_MAX)
        return lsm_error(LSM_ETOOBIG, "memtable: entry too large (key %zu, value %zu bytes)",
                         ukey_len, value_len);
    const sl_node *n = skiplist_insert(&m->list, ukey, ukey_len, ikey_pack(seq, type), value,
                                       value_len);
    if (!n)
        return lsm_error(LSM_ENOMEM, "memtable: out of memory inserting %zu bytes",
                         ukey_len + value_len);
    keyhash_put(&m->index, ukey, ukey_len, n);
    atomic_store_explicit(&m->entries,
                          atomic_load_explicit(&m->entries, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    return 0;
}

int memtable_get(memtable *m, const uint8_t *ukey, size_t ukey_len, uint64_t seq, void **value,
                 size_t *value_len)
{
    if (seq > IKEY_MAX_SEQ) seq = IKEY_MAX_SEQ;
    uint64_t target = ikey_pack(seq, IKEY_TYPE_SEEK);
    const sl_node *n;
    if (!keyhash_get(&m->index, ukey, ukey_len, &n) || (n && sl_node_trailer(n) > target))
        n = skiplist_seek(&m->list, ukey, ukey_len, target);
    if (!n) return SST_GET_ABSENT;
    slice k = sl_node_key(n);
    if (ukey_compare(k.data, k.len - IKEY_TRAILER, ukey, ukey_len) != 0) return SST_GET_ABSENT;
    if ((sl_node_trailer(n) & 0xff) != IKEY_TYPE_VALUE) return SST_GET_DELETED;
    slice v = sl_node_value(n);
    void *copy = malloc(v.len ? v.len : 1);
    if (!copy) return lsm_error(LSM_ENOMEM, "memtable: out of memory copying a %zu-byte value", v.len);
    if (v.len) memcpy(copy, v.data, v.len);
    *value = copy;
    *value_len = v.len;
    return SST_GET_VALUE;
}

size_t memtable_bytes(const memtable *m)
{
    return arena_usage(&m->arena) + keyhash_bytes(&m->index);
}

uint64_t memtable_entries(const memtable *m)
{
    return atomic_load_explicit(&((memtable *)m)->entries, memory_order_relaxed);
}

/* ---- iterator ---- */

typedef struct mem_iter {
    iter base;
    memtable *m;
    const sl_node *node; /* NULL: not valid */
} mem_iter;

static void mi_seek_first(iter *it)
{
    mem_iter *mi = (mem_iter *)it;
    mi->node = skiplist_first(&mi->m->list);
}

static void mi_seek_last(iter *it)
{
    mem_iter *mi = (mem_iter *)it;
    mi->node = skiplist_last(&mi->m->list);
}

static void mi_seek(iter *it, const uint8_t *target, size_t len)
{
    mem_iter *mi = (mem_iter *)it;
    if (len < IKEY_TRAILER) {
        /* Not an internal key: treat it as a bare user key, before all of its versions. */
        mi->node = skiplist_seek(&mi->m->list, target, len, UINT64_MAX);
        return;
    }
    uint64_t trailer = 0;
    for (int i = IKEY_TRAILER - 1; i >= 0; i--) trailer = (trailer << 8) | target[len - IKEY_TRAILER + i];
    mi->node = skiplist_seek(&mi->m->list, target, len - IKEY_TRAILER, trailer);
}

static void mi_next(iter *it)
{
    mem_iter *mi = (mem_iter *)it;
    mi->node = sl_node_next(mi->node);
}

static void mi_next_key(iter *it)
{
    mem_iter *mi = (mem_iter *)it;
    const sl_node *n = sl_node_next_key(mi->node);
    /* The caller works on this entry before it asks for the next key: start loading the
     * node it will jump from meanwhile. */
    if (n && n->key_last != n) __builtin_prefetch(n->key_last);
    mi->node = n;
}

static void mi_prev(iter *it)
{
    mem_iter *mi = (mem_iter *)it;
    slice k = sl_node_key(mi->node);
    mi->node = skiplist_seek_before(&mi->m->list, k.data, k.len - IKEY_TRAILER,
                                    sl_node_trailer(mi->node));
}

static int mi_valid(const iter *it) { return ((const mem_iter *)it)->node != NULL; }
static slice mi_key(const iter *it) { return sl_node_key(((const mem_iter *)it)->node); }
static slice mi_value(const iter *it) { return sl_node_value(((const mem_iter *)it)->node); }
static int mi_status(const iter *it) { (void)it; return 0; }

static void mi_destroy(iter *it)
{
    mem_iter *mi = (mem_iter *)it;
    memtable_unref(mi->m);
    free(mi);
}

static const struct iter_ops mem_iter_ops = {
    .seek_first = mi_seek_first, .seek_last = mi_seek_last, .seek = mi_seek,
    .next = mi_next,             .prev = mi_prev,           .valid = mi_valid,
    .key = mi_key,               .value = mi_value,         .status = mi_status,
    .destroy = mi_destroy,        .next_key = mi_next_key,
};

iter *memtable_iter(memtable *m)
{
    mem_iter *mi = calloc(1, sizeof *mi);
    if (!mi) {
        lsm_error(LSM_ENOMEM, "memtable: out of memory creating an iterator");
        return iter_new_empty(LSM_ENOMEM, "memtable: out of memory creating an iterator");
    }
    mi->base.ops = &mem_iter_ops;
    memtable_ref(m);
    mi->m = m;
    mi->node = NULL;
    return &mi->base;
}
