/*
 * crashwriter — the write workload of the crash test, and its verifier.
 *
 *   crashwriter write DIR LOG SEED   runs until killed (or until an operation fails, e.g.
 *                                    because the daemon died: exit 3) doing, in DIR:
 *                                    create files (sizes from 0 to 4 MiB, written in random
 *                                    pieces, then closed), replace files (write NAME.tmp, close,
 *                                    rename over NAME), delete files, make directories, rename
 *                                    whole directories.  Each operation is logged to LOG as
 *                                    "B op args" BEFORE it starts and "C" only AFTER it fully
 *                                    succeeded (close/rename returned 0).
 *   crashwriter verify DIR LOG       replays LOG into a model of DIR and compares: every file
 *                                    of a committed operation must exist with exactly its
 *                                    content (regenerated from its seed), deleted files must be
 *                                    gone, no unknown files or directories may appear.  The one
 *                                    operation that may have been interrupted (a trailing B
 *                                    without C) may have happened or not — but a directory
 *                                    rename must be all or nothing.  Exit 0 if all is well.
 *
 * LOG lives on a native file system: the test kills the daemon, not the machine.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAXF 20000
#define MAXD 256

struct file { char path[128]; uint64_t seed, size; int live; };
struct model {
    struct file f[MAXF];
    int nf;
    char dirs[MAXD][64];
    int nd;
};

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Content of a file: bytes of splitmix(seed) — the same function as gen.c. */
static void fill(uint64_t seed, uint64_t off, unsigned char *buf, size_t n)
{
    /* Position-addressable: state after k outputs is seed + k*golden. */
    uint64_t first = off / 8;
    uint64_t s = seed + first * 0x9e3779b97f4a7c15ULL;
    size_t skip = off % 8, i = 0;
    while (i < n) {
        uint64_t r = splitmix(&s);
        for (size_t j = skip; j < 8 && i < n; j++) buf[i++] = (unsigned char)(r >> (8 * j));
        skip = 0;
    }
}

static struct file *find_file(struct model *m, const char *path)
{
    for (int i = 0; i < m->nf; i++) if (m->f[i].live && !strcmp(m->f[i].path, path)) return &m->f[i];
    return NULL;
}

static int find_dir(struct model *m, const char *d)
{
    for (int i = 0; i < m->nd; i++) if (!strcmp(m->dirs[i], d)) return i;
    return -1;
}

/* Applies one logged operation (already parsed into words) to the model. */
static void apply(struct model *m, char *op, char *a1, char *a2, char *a3)
{
    if (!strcmp(op, "NEW") || !strcmp(op, "REPLACE")) {
        struct file *f = find_file(m, a1);
        if (!f && m->nf < MAXF) f = &m->f[m->nf++];
        if (!f) return;
        snprintf(f->path, sizeof f->path, "%s", a1);
        f->seed = strtoull(a2, NULL, 10);
        f->size = strtoull(a3, NULL, 10);
        f->live = 1;
    } else if (!strcmp(op, "DEL")) {
        struct file *f = find_file(m, a1);
        if (f) f->live = 0;
    } else if (!strcmp(op, "MKDIR")) {
        if (m->nd < MAXD) snprintf(m->dirs[m->nd++], 64, "%s", a1);
    } else if (!strcmp(op, "RENDIR")) {
        int k = find_dir(m, a1);
        if (k >= 0) snprintf(m->dirs[k], 64, "%s", a2);
        size_t l = strlen(a1);
        for (int i = 0; i < m->nf; i++) {
            if (m->f[i].live && !strncmp(m->f[i].path, a1, l) && m->f[i].path[l] == '/') {
                char np[128];
                snprintf(np, sizeof np, "%s%s", a2, m->f[i].path + l);
                snprintf(m->f[i].path, sizeof m->f[i].path, "%s", np);
            }
        }
    }
}

struct pending { int has; char op[16], a1[128], a2[128], a3[32]; };

static int replay(const char *log, struct model *m, struct pending *p)
{
    FILE *in = fopen(log, "r");
    if (!in) return errno == ENOENT ? 0 : -1;
    char line[512];
    memset(p, 0, sizeof *p);
    while (fgets(line, sizeof line, in)) {
        if (line[0] == 'B') {
            memset(p, 0, sizeof *p);
            if (sscanf(line, "B %15s %127s %127s %31s", p->op, p->a1, p->a2, p->a3) < 2) continue;
            p->has = 1;
        } else if (line[0] == 'C' && p->has) {
            apply(m, p->op, p->a1, p->a2, p->a3);
            p->has = 0;
        }
    }
    fclose(in);
    return 0;
}

static void logline(int fd, const char *fmt, const char *a, const char *b, const char *c)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf, fmt, a, b, c);
    if (write(fd, buf, n) != n) { perror("crashwriter: log write"); exit(2); }
}

static int write_content(const char *path, uint64_t seed, uint64_t size, uint64_t *rng)
{
    static unsigned char buf[1 << 18];
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return -1;
    uint64_t off = 0;
    while (off < size) {
        size_t n = 1 + splitmix(rng) % sizeof buf;
        if (n > size - off) n = size - off;
        fill(seed, off, buf, n);
        ssize_t w = write(fd, buf, n);
        if (w != (ssize_t)n) { close(fd); return -1; }
        off += n;
    }
    return close(fd);
}

static int do_write(const char *dir, const char *log, uint64_t seed)
{
    static struct model m;
    struct pending p;
    if (replay(log, &m, &p) != 0) { perror("crashwriter: read log"); return 2; }
    int lfd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (lfd < 0) { perror("crashwriter: open log"); return 2; }
    uint64_t rng = seed;
    char path[512], tmp[600], a2[64], a3[32];
    long nops = 0, counter = 0;
    for (;;) {
        uint64_t r = splitmix(&rng) % 100;
        int live = 0;
        for (int i = 0; i < m.nf; i++) live += m.f[i].live;
        if (m.nd < 4 || (r < 3 && m.nd < MAXD - 1)) {
            char d[64];
            snprintf(d, sizeof d, "d%ld", counter++);
            snprintf(path, sizeof path, "%s/%s", dir, d);
            logline(lfd, "B MKDIR %s\n", d, "", "");
            if (mkdir(path, 0755) != 0) { fprintf(stderr, "crashwriter: mkdir %s: %s\n", path, strerror(errno)); return 3; }
            logline(lfd, "C\n", "", "", "");
            apply(&m, "MKDIR", d, NULL, NULL);
        } else if (r < 6) {
            int k = (int)(splitmix(&rng) % m.nd);
            char nd[64], od[64];
            snprintf(od, sizeof od, "%s", m.dirs[k]);
            snprintf(nd, sizeof nd, "r%ld", counter++);
            snprintf(path, sizeof path, "%s/%s", dir, od);
            snprintf(tmp, sizeof tmp, "%s/%s", dir, nd);
            logline(lfd, "B RENDIR %s %s\n", od, nd, "");
            if (rename(path, tmp) != 0) { fprintf(stderr, "crashwriter: rename %s: %s\n", path, strerror(errno)); return 3; }
            logline(lfd, "C\n", "", "", "");
            apply(&m, "RENDIR", od, nd, NULL);
        } else if (r < 16 && live > 10) {
            struct file *f;
            do f = &m.f[splitmix(&rng) % m.nf]; while (!f->live);
            char victim[128];
            snprintf(victim, sizeof victim, "%s", f->path);
            snprintf(path, sizeof path, "%s/%s", dir, victim);
            logline(lfd, "B DEL %s\n", victim, "", "");
            if (unlink(path) != 0) { fprintf(stderr, "crashwriter: unlink %s: %s\n", path, strerror(errno)); return 3; }
            logline(lfd, "C\n", "", "", "");
            apply(&m, "DEL", victim, NULL, NULL);
        } else {
            int replace = r < 30 && live > 0;
            char rel[128];
            if (replace) {
                struct file *f;
                do f = &m.f[splitmix(&rng) % m.nf]; while (!f->live);
                snprintf(rel, sizeof rel, "%s", f->path);
            } else {
                if (m.nf >= MAXF - 1) return 0;
                snprintf(rel, sizeof rel, "%s/f%ld", m.dirs[splitmix(&rng) % m.nd], counter++);
            }
            uint64_t sz_class = splitmix(&rng) % 100;
            uint64_t size = sz_class < 30 ? splitmix(&rng) % 4096 : sz_class < 70 ? splitmix(&rng) % 65536 :
                            sz_class < 95 ? splitmix(&rng) % (1 << 20) : splitmix(&rng) % (4 << 20);
            uint64_t fseed = splitmix(&rng);
            snprintf(a2, sizeof a2, "%llu", (unsigned long long)fseed);
            snprintf(a3, sizeof a3, "%llu", (unsigned long long)size);
            snprintf(path, sizeof path, "%s/%s", dir, rel);
            logline(lfd, replace ? "B REPLACE %s %s %s\n" : "B NEW %s %s %s\n", rel, a2, a3);
            if (replace) {
                snprintf(tmp, sizeof tmp, "%s.tmp", path);
                if (write_content(tmp, fseed, size, &rng) != 0) { fprintf(stderr, "crashwriter: write %s: %s\n", tmp, strerror(errno)); return 3; }
                if (rename(tmp, path) != 0) { fprintf(stderr, "crashwriter: rename %s: %s\n", tmp, strerror(errno)); return 3; }
            } else if (write_content(path, fseed, size, &rng) != 0) {
                fprintf(stderr, "crashwriter: write %s: %s\n", path, strerror(errno));
                return 3;
            }
            logline(lfd, "C\n", "", "", "");
            apply(&m, replace ? "REPLACE" : "NEW", rel, a2, a3);
        }
        nops++;
    }
}

/* Compares one file with its model content; returns 0 if equal, prints why not. */
static int same_content(const char *full, const struct file *f, int quiet)
{
    static unsigned char a[1 << 16], b[1 << 16];
    struct stat st;
    if (lstat(full, &st) != 0) { if (!quiet) printf("MISSING %s (%s)\n", full, strerror(errno)); return -1; }
    if (!S_ISREG(st.st_mode)) { if (!quiet) printf("NOT A FILE %s\n", full); return -1; }
    if ((uint64_t)st.st_size != f->size) {
        if (!quiet) printf("SIZE %s: %lld, expected %llu\n", full, (long long)st.st_size, (unsigned long long)f->size);
        return -1;
    }
    int fd = open(full, O_RDONLY);
    if (fd < 0) { if (!quiet) printf("OPEN %s: %s\n", full, strerror(errno)); return -1; }
    uint64_t off = 0;
    while (off < f->size) {
        size_t n = f->size - off < sizeof a ? f->size - off : sizeof a;
        ssize_t r = pread(fd, a, n, (off_t)off);
        if (r != (ssize_t)n) { if (!quiet) printf("READ %s at %llu: %s\n", full, (unsigned long long)off, r < 0 ? strerror(errno) : "short"); close(fd); return -1; }
        fill(f->seed, off, b, n);
        if (memcmp(a, b, n)) {
            size_t i = 0;
            while (a[i] == b[i]) i++;
            if (!quiet) printf("CONTENT %s differs at offset %llu\n", full, (unsigned long long)(off + i));
            close(fd);
            return -1;
        }
        off += n;
    }
    close(fd);
    return 0;
}

static int do_verify(const char *dir, const char *log)
{
    static struct model m, alt;
    struct pending p;
    if (replay(log, &m, &p) != 0) { perror("crashwriter: read log"); return 2; }
    int errors = 0, checked = 0;
    char full[512], ignore[128] = "", ignore2[140] = "";
    const struct file *either = NULL;      /* pending REPLACE/DEL: old content acceptable */
    struct file newf;
    int new_ok = 0;
    if (p.has) {
        printf("pending operation at the crash: %s %s %s %s\n", p.op, p.a1, p.a2, p.a3);
        if (!strcmp(p.op, "NEW") || !strcmp(p.op, "MKDIR")) {
            snprintf(ignore, sizeof ignore, "%s", p.a1);
        } else if (!strcmp(p.op, "REPLACE")) {
            snprintf(ignore2, sizeof ignore2, "%s.tmp", p.a1);
            either = find_file(&m, p.a1);
            snprintf(newf.path, sizeof newf.path, "%s", p.a1);
            newf.seed = strtoull(p.a2, NULL, 10);
            newf.size = strtoull(p.a3, NULL, 10);
            new_ok = 1;
        } else if (!strcmp(p.op, "DEL")) {
            either = find_file(&m, p.a1);
        } else if (!strcmp(p.op, "RENDIR")) {
            char o[600], n[600];
            struct stat st;
            snprintf(o, sizeof o, "%s/%s", dir, p.a1);
            snprintf(n, sizeof n, "%s/%s", dir, p.a2);
            int eo = lstat(o, &st) == 0, en = lstat(n, &st) == 0;
            if (en && !eo) {
                apply(&m, "RENDIR", p.a1, p.a2, NULL);
                printf("directory rename %s -> %s happened\n", p.a1, p.a2);
            } else if (!(eo && !en)) {
                printf("HALF-RENAMED directory: %s %s, %s %s\n", p.a1, eo ? "exists" : "absent", p.a2, en ? "exists" : "absent");
                errors++;
            }
        }
    }
    (void)alt;
    /* Every expected file present with its content. */
    for (int i = 0; i < m.nf; i++) {
        const struct file *f = &m.f[i];
        if (!f->live) continue;
        snprintf(full, sizeof full, "%s/%s", dir, f->path);
        if (either == f) {
            struct stat st;
            if (!strcmp(p.op, "DEL") && lstat(full, &st) != 0 && errno == ENOENT) { checked++; continue; }
            if (same_content(full, f, 1) == 0 || (new_ok && same_content(full, &newf, 1) == 0)) { checked++; continue; }
            printf("INTERRUPTED %s %s: neither old nor new content\n", p.op, full);
            errors++;
            continue;
        }
        if (same_content(full, f, 0) != 0) errors++;
        checked++;
    }
    /* Nothing unexpected in the tree. */
    DIR *top = opendir(dir);
    if (!top) { printf("OPENDIR %s: %s\n", dir, strerror(errno)); return 1; }
    struct dirent *de, *fe;
    while ((de = readdir(top))) {
        if (de->d_name[0] == '.') continue;
        if (find_dir(&m, de->d_name) < 0) {
            if (!strcmp(de->d_name, ignore)) continue;
            printf("UNEXPECTED directory %s/%s\n", dir, de->d_name);
            errors++;
            continue;
        }
        snprintf(full, sizeof full, "%s/%s", dir, de->d_name);
        DIR *sub = opendir(full);
        if (!sub) { printf("OPENDIR %s: %s\n", full, strerror(errno)); errors++; continue; }
        while ((fe = readdir(sub))) {
            if (fe->d_name[0] == '.') continue;
            char rel[600];
            snprintf(rel, sizeof rel, "%s/%s", de->d_name, fe->d_name);
            if (find_file(&m, rel) || !strcmp(rel, ignore) || !strcmp(rel, ignore2)) continue;
            printf("UNEXPECTED file %s/%s (deleted or never committed)\n", dir, rel);
            errors++;
        }
        closedir(sub);
    }
    closedir(top);
    for (int i = 0; i < m.nd; i++) {
        struct stat st;
        snprintf(full, sizeof full, "%s/%s", dir, m.dirs[i]);
        if (stat(full, &st) != 0 || !S_ISDIR(st.st_mode)) { printf("MISSING directory %s\n", full); errors++; }
    }
    printf("verify %s: %d files checked, %d directories, %d errors\n", dir, checked, m.nd, errors);
    return errors ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && !strcmp(argv[1], "write")) return do_write(argv[2], argv[3], strtoull(argv[4], NULL, 0));
    if (argc == 4 && !strcmp(argv[1], "verify")) return do_verify(argv[2], argv[3]);
    fprintf(stderr, "usage: crashwriter write DIR LOG SEED | crashwriter verify DIR LOG\n");
    return 2;
}
