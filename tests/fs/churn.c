/*
 * churn — concurrent namespace churn: several processes create, remove, rename, link and
 * rewrite names in one small shared tree at once, then the tree is checked for consistency.
 *
 * usage: churn [-t SECONDS] [-p PROCS] [-s SEED] DIR        run, then check DIR/ns
 *        churn -c DIR                                         check DIR/ns only
 *        churn -l DIR                                         print DIR/ns's listing (sorted)
 *
 * For SECONDS (default 10), PROCS (default 6) processes pick random operations on random
 * paths of at most three levels over five names ("a".."e"), so that they collide all the time:
 * create/append/truncate/unlink files, mkdir/rmdir, rename (plain, RENAME_NOREPLACE,
 * RENAME_EXCHANGE; files and directories, across directories, into their own subtree), link,
 * symlink/readlink, stat, readdir, chmod, utimensat and extended attributes.  Each operation
 * may fail only with the errno values its collisions explain (ENOENT, EEXIST, ENOTEMPTY,
 * ENOTDIR, EISDIR, EINVAL, ELOOP, EPERM for a link to a directory, ENODATA for a missing
 * attribute); any other error, a short read of a stable file or an operation that takes more
 * than 60 s is a failure.
 *
 * The check walks DIR/ns after every process has ended and requires what a local file system
 * guarantees: every listed name can be stat'ed and its type matches the listing; a directory's
 * link count is 2 plus its subdirectories; a file's link count is the number of its names in
 * the tree; a regular file reads back exactly st_size bytes.  -l prints one line per name
 * (path, type, size, link count, inode number) for a persistence comparison across a remount.
 * Exit 0 if everything held; the seed is printed so a failing run can be replayed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#define RENAME_EXCHANGE (1 << 1)
#endif

#define OP_TIMEOUT_S 60

static uint64_t rng;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static unsigned pick(unsigned n) { return (unsigned)(next() % n); }

static char base[4096];
static int failures;

/* A random path under base of 1..3 components. */
static void rand_path(char *out, size_t cap)
{
    int depth = 1 + (int)pick(3);
    size_t len = (size_t)snprintf(out, cap, "%s", base);
    for (int i = 0; i < depth; i++)
        len += (size_t)snprintf(out + len, cap - len, "/%c", 'a' + (char)pick(5));
}

/* Whether err is one that colliding operations explain for this operation. */
static int expected(int err, const char *allowed)
{
    static const struct { int e; char c; } map[] = {
        {ENOENT, 'n'}, {EEXIST, 'x'}, {ENOTEMPTY, 'm'}, {ENOTDIR, 'd'}, {EISDIR, 'i'},
        {EINVAL, 'v'}, {EPERM, 'p'}, {ENODATA, 'a'},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (map[i].e == err)
            return strchr(allowed, map[i].c) != NULL;
    return 0;
}

static void fail(const char *op, const char *path, int err)
{
    fprintf(stderr, "churn[%d]: %s %s: %s\n", (int)getpid(), op, path, strerror(err));
    failures++;
}

/* Run one result through the errno rules: r < 0 with errno not explained is a failure. */
static void judge(long r, const char *op, const char *path, const char *allowed)
{
    /* Any component on the way may be a symlink that loops: ELOOP is always explained. */
    if (r < 0 && errno != ELOOP && !expected(errno, allowed))
        fail(op, path, errno);
}

static void op_write(const char *p, int mode)
{
    int flags = O_WRONLY | O_CREAT | (mode == 0 ? O_TRUNC : mode == 1 ? O_APPEND : 0);
    int fd = open(p, flags, 0644);
    if (fd < 0) {
        judge(-1, "open for writing", p, "ndi");
        return;
    }
    static char buf[200000];
    size_t n = pick(4) == 0 ? pick(sizeof buf) : pick(3000);
    memset(buf, 'a' + (int)pick(26), n);
    off_t at = mode == 2 ? (off_t)pick(300000) : 0;
    ssize_t w = mode == 2 ? pwrite(fd, buf, n, at) : write(fd, buf, n);
    if (w != (ssize_t)n)
        fail("write", p, w < 0 ? errno : EIO);
    if (pick(8) == 0 && ftruncate(fd, (off_t)pick(100000)) != 0)
        fail("ftruncate", p, errno);
    if (pick(16) == 0 && fsync(fd) != 0)
        fail("fsync", p, errno);
    if (close(fd) != 0)
        fail("close", p, errno);
}

static void op_read(const char *p)
{
    int fd = open(p, O_RDONLY | O_NONBLOCK);
    if (fd < 0) {
        judge(-1, "open for reading", p, "nd");
        return;
    }
    char buf[65536];
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0)
        ;
    if (r < 0 && errno != EISDIR)
        fail("read", p, errno);
    close(fd);
}

static void op_list(const char *p)
{
    DIR *d = opendir(p);
    if (!d) {
        judge(-1, "opendir", p, "nd");
        return;
    }
    struct dirent *e;
    errno = 0;
    while ((e = readdir(d)) != NULL)
        errno = 0;
    if (errno)
        fail("readdir", p, errno);
    closedir(d);
}

static void one_op(void)
{
    char a[4096], b[4096], buf[4096];
    rand_path(a, sizeof a);
    rand_path(b, sizeof b);
    struct stat st;
    struct timespec ts[2] = {{1000000000 + (time_t)pick(1000), 0}, {0, UTIME_NOW}};
    unsigned flags;
    switch (pick(20)) {
    case 0: case 1: op_write(a, 0); break;
    case 2: op_write(a, 1); break;
    case 3: op_write(a, 2); break;
    case 4: judge(truncate(a, (off_t)pick(200000)), "truncate", a, "ndi"); break;
    case 5: judge(unlink(a), "unlink", a, "ndi"); break;
    case 6: case 7: judge(mkdir(a, 0755), "mkdir", a, "ndx"); break;
    case 8: judge(rmdir(a), "rmdir", a, "ndmv"); break;
    case 9: case 10: judge(rename(a, b), "rename", a, "ndmvix"); break;
    case 11:
        flags = pick(2) ? RENAME_NOREPLACE : RENAME_EXCHANGE;
        judge(syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, flags),
              flags == RENAME_NOREPLACE ? "rename(NOREPLACE)" : "rename(EXCHANGE)", a, "ndmvix");
        break;
    case 12: judge(link(a, b), "link", a, "ndxp"); break;
    case 13:
        judge(symlink(pick(2) ? "a/b" : "../c", a), "symlink", a, "ndx");
        break;
    case 14:
        judge(readlink(a, buf, sizeof buf), "readlink", a, "ndv");
        judge(lstat(a, &st), "lstat", a, "nd");
        break;
    case 15: op_read(a); break;
    case 16: op_list(pick(3) ? a : base); break;
    case 17:
        judge(chmod(a, 0600 | (mode_t)pick(0100)), "chmod", a, "nd");
        judge(utimensat(AT_FDCWD, a, ts, AT_SYMLINK_NOFOLLOW), "utimensat", a, "nd");
        break;
    case 18:
        judge(lsetxattr(a, "user.churn", "v", 1 + pick(100), 0), "setxattr", a, "ndp");
        judge(lgetxattr(a, "user.churn", buf, sizeof buf), "getxattr", a, "ndap");
        break;
    default:
        judge(lremovexattr(a, "user.churn"), "removexattr", a, "ndap");
        judge(stat(a, &st), "stat", a, "nd");
        break;
    }
}

static int run_child(double secs)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long ops = 0;
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9 >= secs)
            break;
        alarm(OP_TIMEOUT_S); /* SIGALRM's default action ends the child: a hang */
        one_op();
        ops++;
    }
    alarm(0);
    printf("churn[%d]: %ld operations, %d failures\n", (int)getpid(), ops, failures);
    fflush(stdout);
    return failures ? 1 : 0;
}

/* ---- the check ---- */

typedef struct node {
    ino_t ino;
    nlink_t nlink;
} node;

/* One element per non-directory name found by the walk. */
static node *nodes;
static size_t nnodes, cap_nodes;

static void note_name(const struct stat *st)
{
    if (nnodes == cap_nodes) {
        cap_nodes = cap_nodes ? 2 * cap_nodes : 1024;
        nodes = realloc(nodes, cap_nodes * sizeof *nodes);
        if (!nodes) {
            perror("realloc");
            exit(2);
        }
    }
    nodes[nnodes++] = (node){st->st_ino, st->st_nlink};
}

static int cmp_ino(const void *x, const void *y)
{
    const node *a = x, *b = y;
    return a->ino < b->ino ? -1 : a->ino > b->ino;
}

static int check_file_size(const char *p, const struct stat *st)
{
    int fd = open(p, O_RDONLY);
    if (fd < 0) {
        fail("open in check", p, errno);
        return -1;
    }
    char buf[65536];
    off_t total = 0;
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0)
        total += r;
    close(fd);
    if (r < 0) {
        fail("read in check", p, errno);
        return -1;
    }
    if (total != st->st_size) {
        fprintf(stderr, "churn: %s: read %jd bytes, st_size %jd\n", p, (intmax_t)total,
                (intmax_t)st->st_size);
        failures++;
    }
    return 0;
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Read dir's names (without "." and "..") into names[], sorted; returns how many, or -1.
 * *dup is set if a name came twice, and the listing is then printed to stderr. */
static int read_names(const char *dir, char *names[64], int *dup)
{
    DIR *d = opendir(dir);
    if (!d) {
        fail("opendir in check", dir, errno);
        return -1;
    }
    char seen[64 * 48];
    size_t used = 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (n == 64) {
            fprintf(stderr, "churn: %s: more than 64 names\n", dir);
            failures++;
            break;
        }
        names[n++] = strdup(e->d_name);
        int w = snprintf(seen + used, sizeof seen - used, " %s(ino %ju, off %jd)", e->d_name,
                         (uintmax_t)e->d_ino, (intmax_t)e->d_off);
        if (w > 0 && (size_t)w < sizeof seen - used)
            used += (size_t)w;
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], cmp_str);
    *dup = 0;
    for (int i = 1; i < n; i++)
        *dup |= !strcmp(names[i], names[i - 1]);
    if (*dup)
        fprintf(stderr, "churn: %s: a name listed twice:%s\n", dir, seen);
    return n;
}

/* Walk dir; print one line per name if list. Returns the number of subdirectories.  A
 * listing with a name twice is read again: a second listing with the name twice is a
 * failure (the first was seen once on ext4 too, and not again). */
static int walk(const char *dir, int list)
{
    char *names[64];
    int dup, n = read_names(dir, names, &dup);
    if (n > 0 && dup) {
        for (int i = 0; i < n; i++)
            free(names[i]);
        n = read_names(dir, names, &dup);
        if (n > 0 && dup)
            failures++;
    }
    if (n < 0)
        return 0;
    int subdirs = 0;
    for (int i = 0; i < n; i++) {
        char p[4096];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        if (lstat(p, &st) != 0) {
            fail("lstat of a listed name", p, errno);
            free(names[i]);
            continue;
        }
        char type = S_ISDIR(st.st_mode) ? 'd' : S_ISREG(st.st_mode) ? 'f' :
                    S_ISLNK(st.st_mode) ? 'l' : '?';
        if (list)
            printf("%s %c %jd %ju %ju\n", p + strlen(base), type,
                   type == 'd' ? (intmax_t)0 : (intmax_t)st.st_size, (uintmax_t)st.st_nlink,
                   (uintmax_t)st.st_ino);
        if (type == 'd') {
            subdirs++;
            int sub = walk(p, list);
            if (st.st_nlink != (nlink_t)(2 + sub)) {
                fprintf(stderr, "churn: %s: link count %ju, but %d subdirectories\n", p,
                        (uintmax_t)st.st_nlink, sub);
                failures++;
            }
        } else {
            note_name(&st);
            if (type == 'f')
                check_file_size(p, &st);
        }
        free(names[i]);
    }
    return subdirs;
}

static int check(int list)
{
    struct stat st;
    int sub = walk(base, list);
    if (lstat(base, &st) != 0)
        fail("lstat", base, errno);
    else if (st.st_nlink != (nlink_t)(2 + sub)) {
        fprintf(stderr, "churn: %s: link count %ju, but %d subdirectories\n", base,
                (uintmax_t)st.st_nlink, sub);
        failures++;
    }
    qsort(nodes, nnodes, sizeof *nodes, cmp_ino);
    size_t inodes = 0;
    for (size_t i = 0, j; i < nnodes; i = j) {
        for (j = i; j < nnodes && nodes[j].ino == nodes[i].ino; j++)
            ;
        inodes++;
        if (nodes[i].nlink != (nlink_t)(j - i)) {
            fprintf(stderr, "churn: inode %ju has link count %ju but %zu names in the tree\n",
                    (uintmax_t)nodes[i].ino, (uintmax_t)nodes[i].nlink, j - i);
            failures++;
        }
    }
    if (!list)
        printf("churn: check of %s: %zu names of %zu inodes besides directories, %d failures\n",
               base, nnodes, inodes, failures);
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    double secs = 10;
    int procs = 6, opt, mode = 'r';
    uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    while ((opt = getopt(argc, argv, "t:p:s:cl")) != -1) {
        switch (opt) {
        case 't': secs = atof(optarg); break;
        case 'p': procs = atoi(optarg); break;
        case 's': seed = strtoull(optarg, NULL, 0); break;
        case 'c': case 'l': mode = opt; break;
        default: goto usage;
        }
    }
    if (optind != argc - 1 || procs < 1)
        goto usage;
    snprintf(base, sizeof base, "%s/ns", argv[optind]);
    if (mode == 'c' || mode == 'l')
        return check(mode == 'l');
    if (mkdir(base, 0755) != 0 && errno != EEXIST) {
        perror(base);
        return 2;
    }
    printf("churn: seed %" PRIu64 ", %d processes, %.0f s\n", seed, procs, secs);
    fflush(stdout);
    int bad = 0;
    for (int i = 0; i < procs; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 2;
        }
        if (pid == 0) {
            rng = seed * 2654435761u + (uint64_t)i * 0x9e3779b97f4a7c15ull + 1;
            _exit(run_child(secs));
        }
    }
    int status;
    pid_t pid;
    while ((pid = wait(&status)) > 0) {
        if (WIFSIGNALED(status)) {
            fprintf(stderr, "churn: process %d killed by signal %d%s\n", (int)pid,
                    WTERMSIG(status),
                    WTERMSIG(status) == SIGALRM ? " (an operation took over 60 s)" : "");
            bad = 1;
        } else if (WEXITSTATUS(status) != 0) {
            bad = 1;
        }
    }
    int c = check(0);
    return bad || c ? 1 : 0;
usage:
    fprintf(stderr, "usage: churn [-t SECONDS] [-p PROCS] [-s SEED] DIR | churn -c|-l DIR\n");
    return 2;
}
