/*
 * keyhash.c — the memtable's point-lookup index of keyhash.h.
 *
 * A slot is 0 (empty) or a node pointer with the top 16 bits of the key's 64-bit hash in bits
 * 48..63; the slot's position comes from the low bits.  Keys are never removed (a memtable only
 * grows), so a probe ends at the first empty slot.  A table twice the size is built by
 * re-inserting every slot of the current one, which only the writer changes.
 */
#include "keyhash.h"

#include <stdlib.h>
#include <string.h>

#include "ikey.h"
#include "lsm.h"

#define KEYHASH_FIRST_SLOTS 64
#define TAG_SHIFT 48
#define PTR_MASK ((UINT64_C(1) << TAG_SHIFT) - 1)

struct keyhash_table {
    size_t mask;              /* slots - 1 (a power of two) */
    keyhash_table *older;     /* the writer's chain of retired tables */
    _Atomic uint64_t slot[];
};

/* 64-bit hash of a short byte string, eight bytes at a time (multiply and fold). */
static uint64_t hash_key(const uint8_t *p, size_t n)
{
    const uint64_t m = 0x9e3779b97f4a7c15ull;
    uint64_t h = n * m;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * m;
        h ^= h >> 29;
        p += 8;
        n -= 8;
    }
    if (n) {
        uint64_t w = 0;
        memcpy(&w, p, n);
        h = (h ^ w) * m;
        h ^= h >> 29;
    }
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 31);
}

static keyhash_table *table_new(size_t slots)
{
    keyhash_table *t = malloc(sizeof(keyhash_table) + slots * sizeof(uint64_t));
    if (!t) return NULL;
    t->mask = slots - 1;
    t->older = NULL;
    for (size_t i = 0; i < slots; i++) atomic_init(&t->slot[i], 0);
    return t;
}

static void free_chain(keyhash_table *t)
{
    while (t) {
        keyhash_table *next = t->older;
        free(t);
        t = next;
    }
}

/* Free the replaced tables if no lookup is running.  A lookup that starts after the check loads
 * the current table: the check and the lookups' count and table loads are sequentially
 * consistent, and every replaced table was unpublished before the check.  Writer only. */
static void reclaim(keyhash *h)
{
    if (h->old && atomic_load(&h->readers) == 0) {
        free_chain(h->old);
        h->old = NULL;
    }
}

static inline const sl_node *slot_node(uint64_t s) { return (const sl_node *)(uintptr_t)(s & PTR_MASK); }

static inline int node_has_key(const sl_node *n, const uint8_t *ukey, size_t ulen)
{
    slice k = sl_node_key(n);
    return k.len - IKEY_TRAILER == ulen && ukey_compare(k.data, ulen, ukey, ulen) == 0;
}

int keyhash_init(keyhash *h)
{
    memset(h, 0, sizeof *h);
    atomic_init(&h->keys, 0);
    atomic_init(&h->readers, 0);
    atomic_init(&h->off, 0);
    keyhash_table *t = table_new(KEYHASH_FIRST_SLOTS);
    if (!t) return LSM_ENOMEM;
    atomic_init(&h->cur, t);
    return 0;
}

void keyhash_destroy(keyhash *h)
{
    free(atomic_load_explicit(&h->cur, memory_order_relaxed));
    free_chain(h->old);
    h->old = NULL;
    atomic_store_explicit(&h->cur, NULL, memory_order_relaxed);
}

/* Put slot value v (a node of a key with hash hv) into t, which has room.  Writer only. */
static void table_place(keyhash_table *t, uint64_t hv, uint64_t v)
{
    for (size_t i = hv & t->mask;; i = (i + 1) & t->mask) {
        if (atomic_load_explicit(&t->slot[i], memory_order_relaxed) == 0) {
            atomic_store_explicit(&t->slot[i], v, memory_order_release);
            return;
        }
    }
}

/* Double the table: 0, or -1 (out of memory; the index is off). */
static int grow(keyhash *h, keyhash_table *t)
{
    keyhash_table *bigger = table_new((t->mask + 1) * 2);
    if (!bigger) return -1;
    for (size_t i = 0; i <= t->mask; i++) {
        uint64_t s = atomic_load_explicit(&t->slot[i], memory_order_relaxed);
        if (!s) continue;
        slice k = sl_node_key(slot_node(s));
        table_place(bigger, hash_key(k.data, k.len - IKEY_TRAILER), s);
    }
    t->older = h->old;
    h->old = t;
    atomic_store(&h->cur, bigger);
    reclaim(h);
    return 0;
}

void keyhash_put(keyhash *h, const uint8_t *ukey, size_t ukey_len, const sl_node *n)
{
    if (atomic_load_explicit(&h->off, memory_order_relaxed)) return;
    uintptr_t p = (uintptr_t)n;
    if ((uint64_t)p & ~PTR_MASK) {
        atomic_store_explicit(&h->off, 1, memory_order_release);
        return;
    }
    reclaim(h);
    keyhash_table *t = atomic_load_explicit(&h->cur, memory_order_relaxed);
    size_t keys = atomic_load_explicit(&h->keys, memory_order_relaxed);
    if ((keys + 1) * 2 > t->mask + 1) {
        if (grow(h, t) != 0) {
            atomic_store_explicit(&h->off, 1, memory_order_release);
            return;
        }
        t = atomic_load_explicit(&h->cur, memory_order_relaxed);
    }
    uint64_t hv = hash_key(ukey, ukey_len);
    uint64_t tag = hv >> TAG_SHIFT << TAG_SHIFT;
    uint64_t v = tag | (uint64_t)p;
    for (size_t i = hv & t->mask;; i = (i + 1) & t->mask) {
        uint64_t s = atomic_load_explicit(&t->slot[i], memory_order_relaxed);
        if (s == 0) {
            atomic_store_explicit(&t->slot[i], v, memory_order_release);
            atomic_store_explicit(&h->keys, keys + 1, memory_order_relaxed);
            return;
        }
        if ((s & ~PTR_MASK) == tag && node_has_key(slot_node(s), ukey, ukey_len)) {
            /* an older version inserted late must not hide the newer one */
            if (sl_node_trailer(n) > sl_node_trailer(slot_node(s)))
                atomic_store_explicit(&t->slot[i], v, memory_order_release);
            return;
        }
    }
}

int keyhash_get(const keyhash *h, const uint8_t *ukey, size_t ukey_len, const sl_node **n)
{
    keyhash *w = (keyhash *)h; /* the lookup count changes; the index does not */
    if (atomic_load_explicit(&w->off, memory_order_acquire)) return 0;
    uint64_t hv = hash_key(ukey, ukey_len);
    uint64_t tag = hv >> TAG_SHIFT << TAG_SHIFT;
    atomic_fetch_add(&w->readers, 1);
    keyhash_table *t = atomic_load(&w->cur);
    const sl_node *found = NULL;
    for (size_t i = hv & t->mask;; i = (i + 1) & t->mask) {
        uint64_t s = atomic_load_explicit(&t->slot[i], memory_order_acquire);
        if (s == 0) break;
        if ((s & ~PTR_MASK) == tag && node_has_key(slot_node(s), ukey, ukey_len)) {
            found = slot_node(s);
            break;
        }
    }
    atomic_fetch_sub_explicit(&w->readers, 1, memory_order_release);
    *n = found;
    return 1;
}

size_t keyhash_bytes(const keyhash *h)
{
    return atomic_load_explicit(&((keyhash *)h)->keys, memory_order_relaxed) *
           KEYHASH_BYTES_PER_KEY;
}
