/*
 * check.c — fscore_check: verify (and optionally repair) the filesystem invariants.
 *
 * Keys sort by their first byte, so the check reads the store in a few range scans:
 *   1. 'R' and 'E': every record decodes; every entry's parent exists and is a directory;
 *      a directory's link count is 2 + its subdirectories (children are contiguous, so this is
 *      counted while scanning); inode numbers are remembered with their type and size.
 *   2. 'I': each inode record is referenced by as many stubs as its link count says.
 *   3. 'C': each chunk belongs to a chunked regular file and lies within its size.
 *      Chunks that a pending record ('P' ino -> first index, fs/SCHEMA.md) covers are not
 *      misplaced: a crash between a big write's ingested table and its commit batch leaves
 *      them, and the next mount deletes them with the record.  They are reported as such, one
 *      line per record, and --repair does what the mount does.
 *   4. 'X': each xattr belongs to a live inode.   5. 'O': no open-unlinked leftovers.
 *   6. 'M' "ino": the inode counter is above every inode number in use.
 *   7. 'M' "inodes" and "unwritten" (statfs): the number of full records and of empty chunks.
 * Repairs go into one batch written at the end: orphans are deleted, counts corrected.
 */
#include "fscore_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the scans learn about one inode number. */
struct ino_info {
    uint64_t ino; /* 0: free slot */
    uint64_t size;
    uint32_t mode;
    uint32_t nlink;   /* of its full record */
    uint32_t stubs;   /* names pointing to 'I' ino */
    uint8_t inline_;  /* contents inline: no chunk may exist */
    uint8_t beyond;   /* FS_FLAG_BEYOND: empty chunks may lie past the size */
    uint8_t has_full; /* a full record (entry or 'I') was seen */
    uint8_t in_inode; /* the full record is an 'I' record */
    uint8_t pending;  /* a 'P' record names chunks from pending_from on as uncommitted */
    uint8_t orphan;   /* its full record is an 'O' record */
    uint64_t pending_from;
    uint64_t pending_chunks; /* chunks it covers */
};

struct ino_map {
    struct ino_info *slots;
    size_t cap, n;
};

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

static struct ino_info *map_get(struct ino_map *m, uint64_t ino, int create)
{
    if (create && (m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 1024;
        struct ino_info *s = calloc(cap, sizeof *s);
        if (!s)
            return NULL;
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->slots[i].ino)
                continue;
            size_t j = mix(m->slots[i].ino) & (cap - 1);
            while (s[j].ino)
                j = (j + 1) & (cap - 1);
            s[j] = m->slots[i];
        }
        free(m->slots);
        m->slots = s;
        m->cap = cap;
    }
    if (!m->cap)
        return NULL;
    size_t j = mix(ino) & (m->cap - 1);
    while (m->slots[j].ino) {
        if (m->slots[j].ino == ino)
            return &m->slots[j];
        j = (j + 1) & (m->cap - 1);
    }
    if (!create)
        return NULL;
    m->slots[j].ino = ino;
    m->n++;
    return &m->slots[j];
}

/* Directory link counts: children of one parent are contiguous in the 'E' scan. */
struct dir_state {
    fs_buf parent_key; /* key of the parent currently being counted */
    fs_attr parent;
    int parent_ok;
    uint32_t subdirs;
    fs_buf parent_val;
};

struct checker {
    fscore *fs;
    void (*report)(void *arg, const char *line);
    void *arg;
    int repair;
    long problems;
    lsm_batch *fix;
    struct ino_map inos;
    uint64_t max_ino;
    uint64_t dropped;   /* inodes the repair deletes (crash leftovers) */
    uint64_t unwritten; /* empty (allocated, unwritten) chunks that stay */
    uint64_t orphan_unwritten; /* of those, the ones of 'O' files (a repair drops them) */
    fs_buf tmp;
    struct dir_state ds;
};

static void problem(struct checker *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct checker *c, const char *fmt, ...)
{
    c->problems++;
    if (!c->report)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    c->report(c->arg, line);
}

/* A printable form of a key: the path for entries, kind + numbers otherwise. */
static const char *key_name(struct checker *c, const char *k, size_t kl)
{
    static const char hex[] = "0123456789abcdef";
    if (fs_key_to_path(k, kl, &c->tmp) == 0)
        return c->tmp.data;
    fs_buf_reset(&c->tmp);
    for (size_t i = 0; i < kl && i < 40; i++) {
        unsigned char ch = (unsigned char)k[i];
        if (ch >= 0x20 && ch < 0x7f) {
            fs_buf_add(&c->tmp, &k[i], 1);
        } else {
            char h[4] = {'\\', 'x', hex[ch >> 4], hex[ch & 15]};
            fs_buf_add(&c->tmp, h, 4);
        }
    }
    return c->tmp.data ? c->tmp.data : "";
}

static void fix_delete(struct checker *c, const char *k, size_t kl)
{
    if (c->repair)
        lsm_batch_delete(c->fix, k, kl);
}

/* Iterate over keys starting with byte kind, calling fn for each. */
static int scan(struct checker *c, char kind,
                int (*fn)(struct checker *c, const char *k, size_t kl, const char *v, size_t vl))
{
    char lo = kind, hi = (char)(kind + 1);
    lsm_read_options ro;
    fs_range_options(&ro, &lo, 1, &hi, 1, 0);
    lsm_iter *it;
    int r = lsm_iter_new(c->fs->db, &ro, &it);
    if (r)
        return r;
    for (lsm_iter_seek(it, &lo, 1); r == 0 && lsm_iter_valid(it); lsm_iter_next(it)) {
        size_t kl, vl;
        const char *k = lsm_iter_key(it, &kl);
        const char *v = lsm_iter_value(it, &vl);
        r = fn(c, k, kl, v, vl);
    }
    if (r == 0)
        r = lsm_iter_status(it);
    lsm_iter_free(it);
    return r;
}

static void finish_parent(struct checker *c)
{
    if (!c->ds.parent_ok)
        return;
    uint32_t want = 2 + c->ds.subdirs;
    if (c->ds.parent.nlink != want) {
        problem(c, "%s: directory link count %u, expected %u (2 + %u subdirectories)",
                key_name(c, c->ds.parent_key.data, c->ds.parent_key.len), c->ds.parent.nlink, want,
                c->ds.subdirs);
        if (c->repair) {
            fs_attr a = c->ds.parent;
            a.nlink = want;
            const void *tail;
            size_t tl;
            fs_attr dummy;
            fs_buf v;
            fs_buf_init(&v);
            if (fs_rec_decode(c->ds.parent_val.data, c->ds.parent_val.len, &dummy, &tail, &tl) == 0 &&
                fs_rec_encode(&v, &a, tail, tl) == 0)
                lsm_batch_put(c->fix, c->ds.parent_key.data, c->ds.parent_key.len, v.data, v.len);
            fs_buf_free(&v);
        }
    }
    c->ds.parent_ok = 0;
}

/* Start counting the children of the parent whose entry key is pk; returns 0 if the parent
 * exists and is a directory. */
static int start_parent(struct checker *c, const char *pk, size_t pkl)
{
    finish_parent(c);
    fs_buf_reset(&c->ds.parent_key);
    fs_buf_add(&c->ds.parent_key, pk, pkl);
    c->ds.subdirs = 0;
    void *v;
    size_t vl;
    int r = lsm_get(c->fs->db, NULL, pk, pkl, &v, &vl);
    if (r)
        return r;
    fs_attr a;
    r = fs_rec_decode(v, vl, &a, NULL, NULL);
    if (r == 0 && (a.kind != FS_REC_FULL || !S_ISDIR(a.mode)))
        r = -ENOTDIR;
    if (r == 0) {
        c->ds.parent = a;
        c->ds.parent_ok = 1;
        fs_buf_reset(&c->ds.parent_val);
        fs_buf_add(&c->ds.parent_val, v, vl);
    }
    lsm_free(v);
    return r;
}

static int note_full(struct checker *c, const fs_attr *a, int in_inode)
{
    struct ino_info *in = map_get(&c->inos, a->ino, 1);
    if (!in)
        return -ENOMEM;
    if (in->has_full) {
        problem(c, "inode %llu has more than one full record", (unsigned long long)a->ino);
        return 0;
    }
    in->has_full = 1;
    in->in_inode = (uint8_t)in_inode;
    in->size = a->size;
    in->mode = a->mode;
    in->nlink = a->nlink;
    in->inline_ = (a->flags & FS_FLAG_INLINE) != 0;
    in->beyond = (a->flags & FS_FLAG_BEYOND) != 0;
    if (a->ino > c->max_ino)
        c->max_ino = a->ino;
    return 0;
}

static int check_entry(struct checker *c, const char *k, size_t kl, const char *v, size_t vl)
{
    fs_attr a;
    if (fs_rec_decode(v, vl, &a, NULL, NULL) != 0) {
        problem(c, "%s: undecodable record (%zu bytes)", key_name(c, k, kl), vl);
        fix_delete(c, k, kl);
        return 0;
    }
    if (k[0] == FS_KEY_ROOT) {
        if (a.kind != FS_REC_FULL || !S_ISDIR(a.mode))
            problem(c, "/: the root is not a directory record");
        return note_full(c, &a, 0);
    }
    /* parent key: the entry key of the parent path (root for "") */
    const char *z = memchr(k + 1, '\0', kl - 1);
    if (!z || z == k + kl - 1) {
        problem(c, "%s: malformed entry key", key_name(c, k, kl));
        fix_delete(c, k, kl);
        return 0;
    }
    size_t plen = (size_t)(z - (k + 1));
    fs_buf pk;
    fs_buf_init(&pk);
    int r = fs_key_path(&pk, plen ? k + 1 : "/", plen ? plen : 1);
    if (r == 0 && !(c->ds.parent_key.len == pk.len && memcmp(c->ds.parent_key.data, pk.data, pk.len) == 0)) {
        int pr = start_parent(c, pk.data, pk.len);
        if (pr == -ENOENT || pr == -ENOTDIR || pr == -EBADMSG)
            c->ds.parent_ok = 0;
        else if (pr)
            r = pr;
        if (pr)
            fs_buf_add(&c->ds.parent_key, "", 0);
    }
    fs_buf_free(&pk);
    if (r)
        return r;
    if (!c->ds.parent_ok) {
        problem(c, "%s: parent directory missing or not a directory", key_name(c, k, kl));
        fix_delete(c, k, kl);
        return 0; /* its inode's data will show up as orphans */
    }
    if (S_ISDIR(a.mode))
        c->ds.subdirs++;
    if (a.kind == FS_REC_STUB) {
        struct ino_info *in = map_get(&c->inos, a.ino, 1);
        if (!in)
            return -ENOMEM;
        in->stubs++;
        if (a.ino > c->max_ino)
            c->max_ino = a.ino;
        return 0;
    }
    return note_full(c, &a, 0);
}

static int check_inode(struct checker *c, const char *k, size_t kl, const char *v, size_t vl)
{
    fs_attr a;
    if (kl != 9 || fs_rec_decode(v, vl, &a, NULL, NULL) != 0 || a.kind != FS_REC_FULL ||
        a.ino != fs_get_be64(k + 1)) {
        problem(c, "%s: bad inode record", key_name(c, k, kl));
        fix_delete(c, k, kl);
        return 0;
    }
    return note_full(c, &a, 1);
}

/* After 'E' and 'I': link counts of hard-linked inodes, stubs without a record. */
static int check_links(struct checker *c)
{
    fs_buf k, val;
    fs_buf_init(&k);
    fs_buf_init(&val);
    int r = 0;
    for (size_t i = 0; r == 0 && i < c->inos.cap; i++) {
        struct ino_info *in = &c->inos.slots[i];
        if (!in->ino)
            continue;
        if (in->stubs && !(in->has_full && in->in_inode)) {
            problem(c, "inode %llu: %u names point to a missing inode record",
                    (unsigned long long)in->ino, in->stubs);
            continue; /* repairing needs the names: left to a later version */
        }
        if (in->in_inode && in->stubs != in->nlink) {
            r = fs_key_inode(&k, FS_KEY_INODE, in->ino);
            if (r)
                break;
            if (in->stubs == 0) {
                problem(c, "inode %llu: inode record without any name",
                        (unsigned long long)in->ino);
                if (c->repair) {
                    lsm_batch_delete(c->fix, k.data, k.len);
                    r = fs_batch_delete_data(c->fs, c->fix, in->ino, UINT64_MAX, &(fs_delta){0});
                }
                in->has_full = 0; /* its chunks and xattrs are orphans now */
                continue;
            }
            problem(c, "inode %llu: link count %u but %u names", (unsigned long long)in->ino,
                    in->nlink, in->stubs);
            if (c->repair) {
                void *v;
                size_t vl;
                r = lsm_get(c->fs->db, NULL, k.data, k.len, &v, &vl);
                if (r == 0) {
                    fs_attr a;
                    const void *tail;
                    size_t tl;
                    if (fs_rec_decode(v, vl, &a, &tail, &tl) == 0) {
                        a.nlink = in->stubs;
                        if (fs_rec_encode(&val, &a, tail, tl) == 0)
                            lsm_batch_put(c->fix, k.data, k.len, val.data, val.len);
                    }
                    lsm_free(v);
                }
            }
        }
    }
    fs_buf_free(&k);
    fs_buf_free(&val);
    return r;
}

static int check_chunk(struct checker *c, const char *k, size_t kl, const char *v, size_t vl)
{
    if (kl != 17) {
        problem(c, "%s: malformed chunk key", key_name(c, k, kl));
        fix_delete(c, k, kl);
        return 0;
    }
    uint64_t ino = fs_get_be64(k + 1), idx = fs_get_be64(k + 9);
    struct ino_info *in = map_get(&c->inos, ino, 0);
    if (in && in->pending && idx >= in->pending_from) {
        in->pending_chunks++;
        fix_delete(c, k, kl); /* what the mount does: see note_pending */
        return 0;
    }
    if (!in || !in->has_full || !S_ISREG(in->mode)) {
        problem(c, "chunk %llu of inode %llu: no such regular file (orphan chunk)",
                (unsigned long long)idx, (unsigned long long)ino);
        fix_delete(c, k, kl);
        return 0;
    }
    if (in->inline_) {
        problem(c, "chunk %llu of inode %llu: the file keeps its contents inline",
                (unsigned long long)idx, (unsigned long long)ino);
        fix_delete(c, k, kl);
        return 0;
    }
    uint64_t start = idx * FS_CHUNK_SIZE;
    int allocated_beyond = vl == 0 && in->beyond; /* fallocate -n past the end of file */
    if (!allocated_beyond && (start >= in->size || vl > FS_CHUNK_SIZE || start + vl > in->size)) {
        problem(c, "chunk %llu of inode %llu (%zu bytes) lies beyond the file size %llu",
                (unsigned long long)idx, (unsigned long long)ino, vl,
                (unsigned long long)in->size);
        fix_delete(c, k, kl);
    } else if (vl == 0) {
        c->unwritten++;
        c->orphan_unwritten += in->orphan;
    }
    return 0;
}

/* A 'P' record: remember which chunks of its inode it covers (before the 'C' scan). */
static int note_pending(struct checker *c, const char *k, size_t kl, const char *v, size_t vl)
{
    if (kl != 9 || vl != 8) {
        problem(c, "%s: malformed pending record (%zu bytes)", key_name(c, k, kl), vl);
        fix_delete(c, k, kl);
        return 0;
    }
    struct ino_info *in = map_get(&c->inos, fs_get_be64(k + 1), 1);
    if (!in)
        return -ENOMEM;
    in->pending = 1;
    in->pending_from = fs_get_be64(v);
    return 0;
}

/* After the 'C' scan: one report per pending record.  The mount deletes the chunks it covers
 * and the record (fs_orphans_cleanup); --repair does the same (the chunks went into the fix
 * batch during the scan). */
static int report_pending(struct checker *c)
{
    fs_buf k;
    fs_buf_init(&k);
    int r = 0;
    for (size_t i = 0; r == 0 && i < c->inos.cap; i++) {
        struct ino_info *in = &c->inos.slots[i];
        if (!in->ino || !in->pending)
            continue;
        problem(c,
                "inode %llu: a big write was cut short by a crash: its pending record covers "
                "%llu uncommitted chunk(s) from index %llu on (removed at next mount)",
                (unsigned long long)in->ino, (unsigned long long)in->pending_chunks,
                (unsigned long long)in->pending_from);
        r = fs_key_inode(&k, FS_KEY_PENDING, in->ino);
        if (r == 0)
            fix_delete(c, k.data, k.len);
    }
    fs_buf_free(&k);
    return r;
}

static int check_xattr(struct checker *c, const char *k, size_t kl, const char *v, size_t vl)
{
    uint64_t ino = kl >= 9 ? fs_get_be64(k + 1) : 0;
    struct ino_info *in = map_get(&c->inos, ino, 0);
    if (kl <= 9 || !in || !(in->has_full || in->stubs)) {
        problem(c, "%s: xattr of a missing inode %llu", key_name(c, k, kl),
                (unsigned long long)ino);
        fix_delete(c, k, kl);
    }
    return 0;
}

static int check_orphan(struct checker *c, const char *k, size_t kl, const char *v, size_t vl)
{
    uint64_t ino = kl == 9 ? fs_get_be64(k + 1) : 0;
    problem(c, "inode %llu: open-but-unlinked file left by a crash (removed at next mount)",
            (unsigned long long)ino);
    if (c->repair) {
        lsm_batch_delete(c->fix, k, kl);
        if (ino)
            fs_batch_delete_data(c->fs, c->fix, ino, UINT64_MAX, &(fs_delta){0});
        c->dropped++;
    }
    return 0;
}

/* Check 7: the stored counts against the full records and empty chunks seen. */
static int check_counts(struct checker *c)
{
    uint64_t n = 0;
    for (size_t i = 0; i < c->inos.cap; i++)
        n += c->inos.slots[i].ino && c->inos.slots[i].has_full;
    if (n != c->fs->inodes)
        problem(c, "inode count %llu (statfs) is not the %llu inodes in use",
                (unsigned long long)c->fs->inodes, (unsigned long long)n);
    if (c->unwritten != c->fs->unwritten)
        problem(c, "unwritten chunk count %llu (statfs) is not the %llu empty chunks",
                (unsigned long long)c->fs->unwritten, (unsigned long long)c->unwritten);
    int off = n != c->fs->inodes || c->unwritten != c->fs->unwritten;
    if (c->repair && (off || c->dropped))
        return fs_counts_set(c->fs, c->fix, n - c->dropped,
                             c->unwritten - (c->dropped ? c->orphan_unwritten : 0));
    return 0;
}

static int orphans_pending(struct checker *c, const char *k, size_t kl, const char *v, size_t vl)
{
    /* register open-unlinked inodes first so their chunks are not reported twice */
    fs_attr a;
    if (kl == 9 && fs_rec_decode(v, vl, &a, NULL, NULL) == 0 && a.kind == FS_REC_FULL) {
        struct ino_info *in = map_get(&c->inos, a.ino, 1);
        if (!in)
            return -ENOMEM;
        in->has_full = 1;
        in->orphan = 1;
        in->mode = a.mode;
        in->size = a.size;
        in->inline_ = (a.flags & FS_FLAG_INLINE) != 0;
        in->beyond = (a.flags & FS_FLAG_BEYOND) != 0;
    }
    return 0;
}

int fscore_check(fscore *fs, void (*report)(void *arg, const char *line), void *arg,
                 int repair)
{
    if (repair && fs->read_only)
        return -EROFS;
    struct checker c;
    memset(&c, 0, sizeof c);
    c.fs = fs;
    c.report = report;
    c.arg = arg;
    c.repair = repair;
    fs_buf_init(&c.tmp);
    fs_buf_init(&c.ds.parent_key);
    fs_buf_init(&c.ds.parent_val);
    c.fix = lsm_batch_new();
    if (!c.fix)
        return -ENOMEM;
    pthread_rwlock_wrlock(&fs->lock);
    /* open files' buffers first, so that sizes and chunks agree in the store */
    int r = fs->read_only ? 0 : fs_open_commit_all_locked(fs);
    if (r == 0)
        r = scan(&c, FS_KEY_ROOT, check_entry);
    if (r == 0)
        r = scan(&c, FS_KEY_ENTRY, check_entry);
    finish_parent(&c);
    if (r == 0)
        r = scan(&c, FS_KEY_INODE, check_inode);
    if (r == 0)
        r = check_links(&c);
    if (r == 0)
        r = scan(&c, FS_KEY_ORPHAN, orphans_pending);
    if (r == 0)
        r = scan(&c, FS_KEY_PENDING, note_pending);
    if (r == 0)
        r = scan(&c, FS_KEY_CHUNK, check_chunk);
    if (r == 0)
        r = report_pending(&c);
    if (r == 0)
        r = scan(&c, FS_KEY_XATTR, check_xattr);
    if (r == 0) {
        /* open files legitimately have 'O' records while mounted */
        int any_open = 0;
        for (int i = 0; i < FS_OPEN_BUCKETS; i++)
            any_open |= fs->open[i] != NULL;
        if (!any_open)
            r = scan(&c, FS_KEY_ORPHAN, check_orphan);
    }
    if (r == 0)
        r = check_counts(&c);
    if (r == 0 && c.max_ino >= fs->ino_limit) {
        problem(&c, "inode counter %llu is not above the largest inode number %llu",
                (unsigned long long)fs->ino_limit, (unsigned long long)c.max_ino);
        if (repair) {
            char num[8];
            fs_put_be64(num, c.max_ino + 1);
            fs_buf k;
            fs_buf_init(&k);
            if (fs_key_meta(&k, "ino") == 0)
                lsm_batch_put(c.fix, k.data, k.len, num, 8);
            fs_buf_free(&k);
            fs->next_ino = fs->ino_limit = c.max_ino + 1;
        }
    }
    if (r == 0 && repair && lsm_batch_count(c.fix) > 0) {
        lsm_write_options wo = fs->wo;
        wo.sync = 1;
        r = lsm_write(fs->db, &wo, c.fix);
    }
    pthread_rwlock_unlock(&fs->lock);
    lsm_batch_free(c.fix);
    free(c.inos.slots);
    fs_buf_free(&c.tmp);
    fs_buf_free(&c.ds.parent_key);
    fs_buf_free(&c.ds.parent_val);
    return r ? r : (int)(c.problems > 0x7fffffff ? 0x7fffffff : c.problems);
}
