/*
 * treesum — a canonical description of a directory tree, one line per entry, for comparing
 * trees (before/after remount, crash, lsmfs vs native) with diff or a checksum of the output.
 *
 * usage: treesum [-t] [-o] [-x] DIR
 *   Each line (entries sorted by path, bytewise; names escaped as \xHH where not printable):
 *     PATH TYPE mode=OOOO nlink=N uid=U gid=G size=S data=HASH link=TARGET xattr=NAME:HASH...
 *       [mtime=SEC.NSEC with -t]  [hardlink=FIRSTPATH for the 2nd+ name of an inode]
 *   -t  include mtimes (not for copies made without preserving times)
 *   -o  omit uid/gid      -x  omit xattrs      -n  omit directory link counts
 *   Contents are hashed with two independent 64-bit FNV-1a variants (128 bits together).
 * The root itself is listed as ".".  Exit 0 on success, 1 on any error reading the tree.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

struct entry {
    char *path;          /* relative to the root, "." for the root */
    struct stat st;
};

/* Collected entries; nftw's callback gets no user pointer, so this one list is file-static
 * in a test program (not a library). */
static struct entry *ents;
static size_t nents, capents;
static size_t rootlen;
static int errors;

static int collect(const char *fpath, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)ftw;
    if (type == FTW_NS || type == FTW_DNR) {
        fprintf(stderr, "treesum: cannot read %s: %s\n", fpath, strerror(errno));
        errors++;
        return 0;
    }
    if (nents == capents) {
        capents = capents ? capents * 2 : 1024;
        ents = realloc(ents, capents * sizeof *ents);
        if (!ents) { fprintf(stderr, "treesum: out of memory\n"); exit(1); }
    }
    const char *rel = fpath + rootlen;
    while (*rel == '/') rel++;
    ents[nents].path = strdup(*rel ? rel : ".");
    ents[nents].st = *sb;
    nents++;
    return 0;
}

static int by_path(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->path, ((const struct entry *)b)->path);
}

static void put_escaped(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p <= ' ' || *p == '\\' || *p >= 0x7f) printf("\\x%02x", *p);
        else putchar(*p);
    }
}

struct hash { uint64_t a, b; };

static void hash_init(struct hash *h) { h->a = 0xcbf29ce484222325ULL; h->b = 0x84222325cbf29ce4ULL; }

static void hash_add(struct hash *h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h->a = (h->a ^ p[i]) * 0x100000001b3ULL;
        h->b = (h->b ^ (p[i] + 0x5bu)) * 0x1000000019dULL;   /* a different odd multiplier */
    }
}

static void hash_file(const char *full, struct hash *h, off_t *len)
{
    static unsigned char buf[1 << 16];
    hash_init(h);
    *len = 0;
    int fd = open(full, O_RDONLY | O_NOFOLLOW);
    if (fd < 0) { fprintf(stderr, "treesum: open %s: %s\n", full, strerror(errno)); errors++; return; }
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0) { fprintf(stderr, "treesum: read %s: %s\n", full, strerror(errno)); errors++; break; }
        if (r == 0) break;
        hash_add(h, buf, (size_t)r);
        *len += r;
    }
    close(fd);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void put_xattrs(const char *full)
{
    char list[65536];
    ssize_t n = llistxattr(full, list, sizeof list);
    if (n < 0) {
        if (errno != ENOTSUP) { fprintf(stderr, "treesum: listxattr %s: %s\n", full, strerror(errno)); errors++; }
        return;
    }
    char *names[1024];
    int k = 0;
    for (ssize_t i = 0; i < n && k < 1024; i += strlen(list + i) + 1) names[k++] = list + i;
    qsort(names, k, sizeof *names, cmp_str);
    for (int i = 0; i < k; i++) {
        /* Security/system namespaces (e.g. ACLs, SELinux labels) are not user data. */
        if (strncmp(names[i], "user.", 5) != 0 && strncmp(names[i], "trusted.", 8) != 0) continue;
        static unsigned char val[65536];
        ssize_t vn = lgetxattr(full, names[i], val, sizeof val);
        if (vn < 0) { fprintf(stderr, "treesum: getxattr %s %s: %s\n", full, names[i], strerror(errno)); errors++; continue; }
        struct hash h;
        hash_init(&h);
        hash_add(&h, val, (size_t)vn);
        printf(" xattr=");
        put_escaped(names[i]);
        printf(":%zd:%016" PRIx64 "%016" PRIx64, vn, h.a, h.b);
    }
}

int main(int argc, char **argv)
{
    int with_mtime = 0, with_owner = 1, with_xattr = 1, with_dirnlink = 1, c;
    while ((c = getopt(argc, argv, "toxn")) != -1) {
        switch (c) {
        case 't': with_mtime = 1; break;
        case 'o': with_owner = 0; break;
        case 'x': with_xattr = 0; break;
        case 'n': with_dirnlink = 0; break;
        default: fprintf(stderr, "usage: treesum [-t] [-o] [-x] [-n] DIR\n"); return 2;
        }
    }
    if (optind != argc - 1) { fprintf(stderr, "usage: treesum [-t] [-o] [-x] [-n] DIR\n"); return 2; }
    const char *root = argv[optind];
    rootlen = strlen(root);
    if (nftw(root, collect, 64, FTW_PHYS) != 0) {
        fprintf(stderr, "treesum: walking %s: %s\n", root, strerror(errno));
        return 1;
    }
    qsort(ents, nents, sizeof *ents, by_path);
    char full[8192];
    for (size_t i = 0; i < nents; i++) {
        struct entry *e = &ents[i];
        struct stat *st = &e->st;
        snprintf(full, sizeof full, "%s/%s", root, e->path);
        const char *type = S_ISREG(st->st_mode) ? "file" : S_ISDIR(st->st_mode) ? "dir" :
                           S_ISLNK(st->st_mode) ? "symlink" : S_ISFIFO(st->st_mode) ? "fifo" :
                           S_ISSOCK(st->st_mode) ? "socket" : "device";
        put_escaped(e->path);
        printf(" %s mode=%04o", type, (unsigned)(st->st_mode & 07777));
        if (!S_ISDIR(st->st_mode) || with_dirnlink) printf(" nlink=%lu", (unsigned long)st->st_nlink);
        if (with_owner) printf(" uid=%u gid=%u", st->st_uid, st->st_gid);
        /* The 2nd+ name of a multiply-linked inode refers to the first name (in path order). */
        const char *first = NULL;
        if (!S_ISDIR(st->st_mode) && st->st_nlink > 1) {
            for (size_t j = 0; j < i && !first; j++)
                if (ents[j].st.st_ino == st->st_ino && ents[j].st.st_dev == st->st_dev) first = ents[j].path;
        }
        if (first) {
            printf(" hardlink=");
            put_escaped(first);
        } else if (S_ISREG(st->st_mode)) {
            struct hash h;
            off_t len;
            hash_file(full, &h, &len);
            if (len != st->st_size) {
                fprintf(stderr, "treesum: %s: stat size %lld but read %lld bytes\n", full,
                        (long long)st->st_size, (long long)len);
                errors++;
            }
            printf(" size=%lld data=%016" PRIx64 "%016" PRIx64, (long long)st->st_size, h.a, h.b);
        } else if (S_ISLNK(st->st_mode)) {
            char tgt[8192];
            ssize_t n = readlink(full, tgt, sizeof tgt - 1);
            if (n < 0) { fprintf(stderr, "treesum: readlink %s: %s\n", full, strerror(errno)); errors++; n = 0; }
            tgt[n] = 0;
            printf(" size=%lld link=", (long long)st->st_size);
            put_escaped(tgt);
        } else if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) {
            printf(" rdev=%llx", (unsigned long long)st->st_rdev);
        }
        if (with_xattr && !first) put_xattrs(full);
        if (with_mtime && !S_ISLNK(st->st_mode) && !first)
            printf(" mtime=%lld.%09ld", (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
        putchar('\n');
    }
    for (size_t i = 0; i < nents; i++) free(ents[i].path);
    free(ents);
    return errors ? 1 : 0;
}
