/*
 * skiplist.c — the concurrent skiplist of skiplist.h, after LevelDB's db/skiplist.h.
 *
 * Searching descends from the top level of the sentinel head: at each level it moves right
 * while the next node is smaller than the target, then drops a level.  Insert does the same
 * search remembering the last node before the target on every level, builds the new node with
 * relaxed stores (nobody can see it yet), and then links it bottom-up with release stores.
 * The list height is raised before the new levels are linked; a reader that sees the new
 * height but not yet the links finds NULL in the head there and simply drops a level.
 *
 * Keys are compared as (user key memcmp, then trailer descending): the same order as
 * ikey_compare, without re-parsing the trailer of the target at every step.
 */
#include "skiplist.h"

#include "lsm.h"

static inline const uint8_t *node_key(const sl_node *n)
{
    return (const uint8_t *)&n->next[n->height];
}

/* Compare node n with (ukey, trailer): <0 if n sorts before it, 0 if equal, >0 after. */
static inline int node_cmp(const sl_node *n, const uint8_t *ukey, size_t ulen, uint64_t trailer)
{
    size_t nlen = n->key_len - IKEY_TRAILER;
    int r = ukey_compare(node_key(n), nlen, ukey, ulen); /* inline, word at a time */
    if (r) return r;
    uint64_t t = ikey_load_le64(node_key(n) + nlen);
    return t > trailer ? -1 : t < trailer; /* larger trailer (newer) first */
}

static inline sl_node *load_next(const sl_node *n, int level)
{
    return atomic_load_explicit(&((sl_node *)n)->next[level], memory_order_acquire);
}

static sl_node *node_alloc(arena *a, int height, size_t payload)
{
    sl_node *n = arena_alloc(a, sizeof(sl_node) + (size_t)height * sizeof(n->next[0]) + payload);
    if (!n) return NULL;
    n->height = (uint32_t)height;
    return n;
}

int skiplist_init(skiplist *s, arena *a, uint64_t seed)
{
    s->arena = a;
    s->head = node_alloc(a, SKIPLIST_MAX_HEIGHT, 0);
    if (!s->head) return LSM_ENOMEM;
    s->head->key_len = IKEY_TRAILER; /* never compared: the head is not an entry */
    s->head->value_len = 0;
    s->head->key_last = s->head;
    for (int i = 0; i < SKIPLIST_MAX_HEIGHT; i++)
        atomic_init(&s->head->next[i], NULL);
    atomic_init(&s->height, 1);
    s->rnd = seed ? seed : 0x9e3779b97f4a7c15ull;
    return 0;
}

/* Height with P(h) = (1/4)^(h-1) * 3/4, capped. */
static int random_height(skiplist *s)
{
    int h = 1;
    while (h < SKIPLIST_MAX_HEIGHT) {
        s->rnd ^= s->rnd << 13;
        s->rnd ^= s->rnd >> 7;
        s->rnd ^= s->rnd << 17;
        if ((s->rnd >> 32) % SKIPLIST_BRANCHING) break;
        h++;
    }
    return h;
}

/* Last node < target at every level into prev[] (head where none); returns the node after
 * prev[0] at level 0 (first node >= target) or NULL.  The node that stopped a level often
 * stops the next one down too: it is known to be >= target, so it is not compared again
 * (RocksDB's InlineSkipList does the same). */
static sl_node *find_ge(const skiplist *s, const uint8_t *ukey, size_t ulen, uint64_t trailer,
                        sl_node **prev)
{
    sl_node *x = s->head, *stop = NULL;
    int level = atomic_load_explicit(&((skiplist *)s)->height, memory_order_relaxed) - 1;
    for (;;) {
        sl_node *next = load_next(x, level);
        if (next && next != stop && node_cmp(next, ukey, ulen, trailer) < 0) {
            x = next;
            continue;
        }
        if (prev) prev[level] = x;
        if (level == 0) return next;
        stop = next;
        level--;
    }
}

const sl_node *skiplist_insert(skiplist *s, const uint8_t *ukey, size_t ukey_len,
                               uint64_t trailer, const uint8_t *value, size_t value_len)
{
    sl_node *prev[SKIPLIST_MAX_HEIGHT];
    sl_node *after = find_ge(s, ukey, ukey_len, trailer, prev);

    int height = random_height(s);
    size_t klen = ukey_len + IKEY_TRAILER;
    sl_node *n = node_alloc(s->arena, height, klen + value_len);
    if (!n) return NULL;
    n->key_len = (uint32_t)klen;
    n->value_len = (uint32_t)value_len;
    uint8_t *p = (uint8_t *)&n->next[height];
    if (ukey_len) memcpy(p, ukey, ukey_len);
    for (int i = 0; i < IKEY_TRAILER; i++) p[ukey_len + i] = (uint8_t)(trailer >> (8 * i));
    if (value_len) memcpy(p + klen, value, value_len);
    /* an older version of the key follows: its group's last node is ours too */
    int same = after && after->key_len == klen && memcmp(node_key(after), ukey, ukey_len) == 0;
    n->key_last = same ? after->key_last : n;

    int cur = atomic_load_explicit(&s->height, memory_order_relaxed);
    if (height > cur) {
        for (int i = cur; i < height; i++) prev[i] = s->head;
        /* Readers may see the new height before the links: they find NULL and descend. */
        atomic_store_explicit(&s->height, height, memory_order_relaxed);
    }
    for (int i = 0; i < height; i++) {
        /* n is private until the release store below publishes it. */
        atomic_store_explicit(&n->next[i], load_next(prev[i], i), memory_order_relaxed);
        atomic_store_explicit(&prev[i]->next[i], n, memory_order_release);
    }
    return n;
}

const sl_node *skiplist_seek(const skiplist *s, const uint8_t *ukey, size_t ukey_len,
                             uint64_t trailer)
{
    return find_ge(s, ukey, ukey_len, trailer, NULL);
}

const sl_node *skiplist_seek_before(const skiplist *s, const uint8_t *ukey, size_t ukey_len,
                                    uint64_t trailer)
{
    sl_node *prev[SKIPLIST_MAX_HEIGHT];
    find_ge(s, ukey, ukey_len, trailer, prev);
    return prev[0] == s->head ? NULL : prev[0];
}

const sl_node *skiplist_first(const skiplist *s) { return load_next(s->head, 0); }

const sl_node *skiplist_last(const skiplist *s)
{
    sl_node *x = s->head;
    int level = atomic_load_explicit(&((skiplist *)s)->height, memory_order_relaxed) - 1;
    for (;;) {
        sl_node *next = load_next(x, level);
        if (next) {
            x = next;
            continue;
        }
        if (level == 0) return x == s->head ? NULL : x;
        level--;
    }
}
