/*
 * nodes_model — the daemon's node table (fs/nodes.c) against a model of a small file tree.
 *
 * usage: nodes_model SEED
 *
 * A random sequence of what the kernel does — create, lookup (every component of a path, as
 * the kernel walks it), link, unlink, rmdir, rename (also over a target and RENAME_EXCHANGE,
 * directories with their subtrees), forget of any number of lookups at any time — runs on
 * the table and on a model tree (path -> inode).  After every step, every node the kernel
 * still holds must either have a path that names that very file in the model, or report that
 * it has no name (-ENOENT): never a wrong file, never -ESTALE.  A node just looked up must have
 * a path.  Files are marked now and then as having pages in the kernel's cache: a node holds
 * its mark until the kernel forgets it, and a forgotten file reads as "may have pages" (the
 * cautious answer for an unknown node).  At the end every lookup is forgotten and the table
 * must be back to the root alone.
 * Exit 0 on success; the first failure prints the seed and step.
 */
#include "../../fs/nodes.c"

#include <errno.h>
#include <stdio.h>

#define MAXE 400
#define MAXID 4096
#define STEPS 100000

struct ment {
    char path[128];
    uint64_t id;
    int dir;
};

static struct ment tree[MAXE];
static int ntree;
static uint64_t nlookup[MAXID];
static int held[MAXID]; /* fs_nodes_hold'd, token &held[id] */
static int is_dir[MAXID];
static int pages[MAXID]; /* fs_nodes_note_pages since the kernel learned the node */
static uint64_t next_id = 2;
static unsigned long long rng;
static long step;
static unsigned long seed;
static long trace_from = -1; /* NODES_MODEL_TRACE=step: print operations from that step on */

static unsigned rnd(unsigned n)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (unsigned)((rng >> 33) % n);
}

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "nodes_model: FAIL at step %ld (seed %lu): %s %s\n", step, seed, what,
            detail ? detail : "");
    exit(1);
}

static int find(const char *path)
{
    for (int i = 0; i < ntree; i++)
        if (strcmp(tree[i].path, path) == 0)
            return i;
    return -1;
}

/* Inode of a directory path ("/" is the root), 0 if absent. */
static uint64_t dir_id(const char *path)
{
    if (strcmp(path, "/") == 0)
        return FS_NODES_ROOT;
    int i = find(path);
    return i >= 0 && tree[i].dir ? tree[i].id : 0;
}

static int links(uint64_t id)
{
    int n = 0;
    for (int i = 0; i < ntree; i++)
        n += tree[i].id == id;
    return n;
}

static void split(const char *path, char *parent, const char **name)
{
    const char *slash = strrchr(path, '/');
    size_t pl = (size_t)(slash - path);
    memcpy(parent, path, pl ? pl : 1);
    parent[pl ? pl : 1] = '\0';
    *name = slash + 1;
}

static int has_children(const char *dir)
{
    size_t l = strlen(dir);
    for (int i = 0; i < ntree; i++)
        if (strncmp(tree[i].path, dir, l) == 0 && tree[i].path[l] == '/')
            return 1;
    return 0;
}

/* One LOOKUP (or entry reply) of path: parent must already be known to the table. */
static void ref_one(fs_nodes *t, const char *path)
{
    int i = find(path);
    char parent[128];
    const char *name;
    split(path, parent, &name);
    int multi = !tree[i].dir && links(tree[i].id) > 1;
    if (trace_from >= 0 && step >= trace_from)
        fprintf(stderr, "%ld: ref %s (%llu) in %llu%s\n", step, path,
                (unsigned long long)tree[i].id, (unsigned long long)dir_id(parent),
                multi ? " multi" : "");
    if (fs_nodes_ref(t, tree[i].id, dir_id(parent), name, multi) != 0)
        die("ref failed for", path);
    nlookup[tree[i].id]++;
}

/* The kernel walks a path component by component, looking up each. */
static void lookup_path(fs_nodes *t, const char *path)
{
    char prefix[128];
    for (const char *p = path + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            memcpy(prefix, path, (size_t)(p - path));
            prefix[p - path] = '\0';
            ref_one(t, prefix);
            if (!*p)
                break;
        }
    }
    char buf[256];
    int r = fs_nodes_path(t, tree[find(path)].id, buf, sizeof buf);
    if (r != 0)
        die(strerror(-r), path);
}

static void check(fs_nodes *t)
{
    char buf[256];
    for (uint64_t id = 2; id < next_id; id++) {
        /* a forgotten directory may stay for its children: only files are sure to be gone */
        if ((nlookup[id] || !is_dir[id]) &&
            fs_nodes_may_have_pages(t, id) != (nlookup[id] ? pages[id] : 1))
            die("fs_nodes_may_have_pages disagrees with the model", NULL);
        if (!nlookup[id])
            continue;
        int r = fs_nodes_path(t, id, buf, sizeof buf);
        if (r == -ENOENT)
            continue;
        if (r != 0)
            die("fs_nodes_path failed for a held node", strerror(-r));
        int i = find(buf);
        if (i < 0 || tree[i].id != id) {
            char m[400];
            snprintf(m, sizeof m, "node %llu has path %s, which is %s", (unsigned long long)id,
                     buf, i < 0 ? "absent" : "another file");
            for (int j = 0; j < ntree; j++)
                if (tree[j].id == id || j == i)
                    fprintf(stderr, "  model: %s is %llu%s\n", tree[j].path,
                            (unsigned long long)tree[j].id, tree[j].dir ? " (dir)" : "");
            die(m, NULL);
        }
    }
}

static void random_path(char *out, size_t size)
{
    /* a random existing directory, and a name in it */
    const char *dir = "/";
    int k = rnd((unsigned)ntree + 1);
    if (k < ntree && tree[k].dir && strlen(tree[k].path) < 100)
        dir = tree[k].path;
    snprintf(out, size, "%s/%c%u", strcmp(dir, "/") ? dir : "", "abcd"[rnd(4)], rnd(3));
}

/* A new name p for inode id, as CREATE/MKDIR/LINK reply it (the parent is looked up first). */
static void add_name(fs_nodes *t, const char *p, uint64_t id, int dir)
{
    char parent[128];
    const char *name;
    split(p, parent, &name);
    if (strcmp(parent, "/"))
        lookup_path(t, parent);
    struct ment *e = &tree[ntree++];
    snprintf(e->path, sizeof e->path, "%s", p);
    e->id = id;
    e->dir = dir;
    is_dir[id] = dir;
    if (trace_from >= 0 && step >= trace_from)
        fprintf(stderr, "%ld: new name %s (%llu)\n", step, p, (unsigned long long)id);
    ref_one(t, p);
}

static void op_create(fs_nodes *t)
{
    char p[128];
    random_path(p, sizeof p);
    if (find(p) >= 0 || ntree >= MAXE || next_id >= MAXID)
        return;
    add_name(t, p, next_id++, rnd(3) == 0);
}

static void op_link(fs_nodes *t)
{
    if (!ntree)
        return;
    int i = rnd((unsigned)ntree);
    char p[128];
    random_path(p, sizeof p);
    if (tree[i].dir || find(p) >= 0 || ntree >= MAXE)
        return;
    add_name(t, p, tree[i].id, 0);
}

static void op_remove(fs_nodes *t)
{
    if (!ntree)
        return;
    int i = rnd((unsigned)ntree);
    if (tree[i].dir && has_children(tree[i].path))
        return;
    char parent[128];
    const char *name;
    split(tree[i].path, parent, &name);
    uint64_t pid = dir_id(parent);
    char nm[128];
    snprintf(nm, sizeof nm, "%s", name);
    if (trace_from >= 0 && step >= trace_from)
        fprintf(stderr, "%ld: remove %s (%llu)\n", step, tree[i].path, (unsigned long long)tree[i].id);
    tree[i] = tree[--ntree];
    fs_nodes_unname(t, pid, nm);
}

/* Rename every path at or under from to lie under to. */
static void move_paths(const char *from, const char *to, int skip)
{
    size_t fl = strlen(from);
    for (int i = 0; i < ntree; i++) {
        if (i == skip || strncmp(tree[i].path, from, fl) != 0 ||
            (tree[i].path[fl] != '\0' && tree[i].path[fl] != '/'))
            continue;
        size_t tl = strlen(to), rl = strlen(tree[i].path + fl);
        if (tl + rl >= sizeof tree[i].path)
            die("path too long in the model", to);
        memmove(tree[i].path + tl, tree[i].path + fl, rl + 1);
        memcpy(tree[i].path, to, tl);
    }
}

/* Length of the longest path at or under p. */
static size_t deepest(const char *p)
{
    size_t l = strlen(p), m = l;
    for (int i = 0; i < ntree; i++)
        if (strncmp(tree[i].path, p, l) == 0 && tree[i].path[l] == '/' && strlen(tree[i].path) > m)
            m = strlen(tree[i].path);
    return m;
}

static int under(const char *p, const char *dir)
{
    size_t l = strlen(dir);
    return strncmp(p, dir, l) == 0 && (p[l] == '/' || p[l] == '\0');
}

static void op_rename(fs_nodes *t, int exchange)
{
    if (!ntree)
        return;
    int a = rnd((unsigned)ntree);
    char to[128], from[128], pa[128], pb[128];
    const char *na, *nb;
    if (exchange) {
        int b = rnd((unsigned)ntree);
        snprintf(to, sizeof to, "%s", tree[b].path);
    } else {
        random_path(to, sizeof to);
    }
    snprintf(from, sizeof from, "%s", tree[a].path);
    if (under(to, from) || under(from, to) || strlen(to) > 100 ||
        deepest(from) - strlen(from) + strlen(to) > 120 ||
        (exchange && deepest(to) - strlen(to) + strlen(from) > 120))
        return;
    int b = find(to);
    if (exchange && b < 0)
        return;
    if (!exchange && b >= 0) {
        if (tree[a].id == tree[b].id)
            return; /* rename(2) of two names of one file: nothing happens; not modelled */
        if (tree[a].dir != tree[b].dir || (tree[b].dir && has_children(to)))
            return;
    }
    split(from, pa, &na);
    split(to, pb, &nb);
    uint64_t ida = dir_id(pa), idb = dir_id(pb);
    char sa[128], sb[128];
    snprintf(sa, sizeof sa, "%s", na);
    snprintf(sb, sizeof sb, "%s", nb);
    if (trace_from >= 0 && step >= trace_from) {
        char t1[256], t2[256];
        int r1 = fs_nodes_path(t, tree[a].id, t1, sizeof t1);
        int r2 = b >= 0 ? fs_nodes_path(t, tree[b].id, t2, sizeof t2) : -1;
        fprintf(stderr, "  before: %llu -> %d %s ; %llu -> %d %s (parents %llu %llu)\n",
                (unsigned long long)tree[a].id, r1, r1 ? "" : t1,
                (unsigned long long)(b >= 0 ? tree[b].id : 0), r2, r2 ? "" : t2,
                (unsigned long long)ida, (unsigned long long)idb);
    }
    if (exchange) {
        move_paths(from, "\x01tmp", -1);
        move_paths(to, from, -1);
        move_paths("\x01tmp", to, -1);
    } else {
        if (b >= 0)
            tree[b] = tree[--ntree];
        move_paths(from, to, -1);
    }
    if (trace_from >= 0 && step >= trace_from)
        fprintf(stderr, "%ld: rename%s %s (%llu) -> %s\n", step, exchange ? " exchange" : "", from,
                (unsigned long long)tree[find(to)].id, to);
    fs_nodes_rename(t, ida, sa, idb, sb, exchange);
}

static void op_forget(fs_nodes *t)
{
    uint64_t id = 2 + rnd((unsigned)(next_id - 2 + 1));
    if (id >= next_id || !nlookup[id])
        return;
    /* Now and then hold a token for the entry, as the daemon holds a file without names. */
    if (!held[id] && rnd(4) == 0) {
        if (fs_nodes_hold(t, id, &held[id]) != 0)
            die("fs_nodes_hold of a known entry failed", NULL);
        held[id] = 1;
        if (fs_nodes_hold(t, id, &held[id]) != -EBUSY)
            die("a second fs_nodes_hold did not fail with EBUSY", NULL);
    }
    uint64_t n = 1 + rnd((unsigned)nlookup[id]);
    nlookup[id] -= n;
    if (trace_from >= 0 && step >= trace_from)
        fprintf(stderr, "%ld: forget %llu x%llu\n", step, (unsigned long long)id,
                (unsigned long long)n);
    void *got = fs_nodes_forget(t, id, n);
    if (nlookup[id] == 0)
        pages[id] = 0; /* the kernel's inode, and its page cache, are gone */
    void *want = nlookup[id] == 0 && held[id] ? &held[id] : NULL;
    if (got != want)
        die("fs_nodes_forget returned the wrong held object", NULL);
    if (got)
        held[id] = 0;
}

/* The kernel was sent contents of a file it holds (a READ reply, a whole-page WRITE). */
static void op_pages(fs_nodes *t)
{
    uint64_t id = 2 + rnd((unsigned)(next_id - 2 + 1));
    if (id >= next_id || !nlookup[id] || is_dir[id])
        return;
    fs_nodes_note_pages(t, id);
    pages[id] = 1;
}

static void release_held(void *obj) { *(int *)obj = 0; }

int main(int argc, char **argv)
{
    seed = argc > 1 ? strtoul(argv[1], NULL, 10) : 1;
    if (getenv("NODES_MODEL_TRACE"))
        trace_from = atol(getenv("NODES_MODEL_TRACE"));
    rng = seed * 2654435761u + 1;
    fs_nodes *t;
    if (fs_nodes_new(&t) != 0)
        die("fs_nodes_new", NULL);
    for (step = 0; step < STEPS; step++) {
        unsigned k = rnd(100);
        if (k < 20)
            op_create(t);
        else if (k < 45 && ntree)
            lookup_path(t, tree[rnd((unsigned)ntree)].path);
        else if (k < 52)
            op_link(t);
        else if (k < 62)
            op_remove(t);
        else if (k < 72)
            op_rename(t, 0);
        else if (k < 76)
            op_rename(t, 1);
        else if (k < 82)
            op_pages(t);
        else
            op_forget(t);
        if (trace_from >= 0 || step % 16 == 0 || (k >= 62 && k < 76))
            check(t);
        if (next_id >= MAXID - 8) { /* start over with the same table: all forgotten */
            for (uint64_t id = 2; id < next_id; id++)
                if (nlookup[id] && fs_nodes_forget(t, id, nlookup[id]) != (held[id] ? &held[id] : NULL))
                    die("fs_nodes_forget returned the wrong held object", NULL);
            if (fs_nodes_count(t) != 1)
                die("entries left after forgetting everything", NULL);
            memset(nlookup, 0, sizeof nlookup);
            memset(held, 0, sizeof held);
            memset(pages, 0, sizeof pages);
            memset(is_dir, 0, sizeof is_dir);
            ntree = 0;
            next_id = 2;
        }
    }
    int kept = 0;
    for (uint64_t id = 2; id < next_id; id++)
        kept += held[id];
    fs_nodes_free(t, release_held); /* must release every object still held */
    for (uint64_t id = 2; id < next_id; id++)
        if (held[id])
            die("fs_nodes_free did not release a held object", NULL);
    printf("nodes_model: %d steps, seed %lu, %d objects released by free: ok\n", STEPS, seed,
           kept);
    return 0;
}
