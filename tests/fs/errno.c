/*
 * errno — POSIX semantics and error codes of each file-system operation, checked on a real
 * directory (an lsmfs mount, and natively on ext4 where the same program must pass: that is
 * what keeps the expectations honest).
 *
 * usage: errno DIR      (DIR must exist and be empty; run as root: part of the suite drops to
 *                        uid/gid nobody in a child process to check EACCES/EPERM; on an lsmfs
 *                        mount that needs -o allow_other so other users may enter it.)
 * Environment (set by errno.sh): ERRNO_SPACE_DIR, see space_free; ERRNO_WRITEBACK=1 on a mount
 * with the kernel's writeback cache, which takes writes past the largest file size itself.
 *
 * Every check prints one line, "ok   ..." or "FAIL ...", with what was expected and what
 * happened (errno names via strerrorname_np).  Exit status 1 if any check failed.  Timestamps
 * are compared after short sleeps (30 ms) because kernels stamp times with a coarse clock.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/falloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

/* Test context: the base directory and the failure count (passed around, no globals). */
struct ctx {
    const char *base;
    int fails, checks;
};

static void check(struct ctx *c, int ok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    c->checks++;
    if (!ok) c->fails++;
    printf("%s ", ok ? "ok  " : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
    va_end(ap);
}

static const char *ename(int e) { return e ? strerrorname_np(e) : "success"; }

/* expect_err: r is a syscall result captured with its errno: passes iff r == -1 && e == want. */
#define EXPECT_ERR(c, call, want, what)                                                      \
    do {                                                                                     \
        errno = 0;                                                                           \
        long r_ = (long)(call);                                                              \
        int e_ = errno;                                                                      \
        check((c), r_ == -1 && e_ == (want), "%s: expect %s, got %s", (what), ename(want),   \
              r_ == -1 ? ename(e_) : "success");                                             \
    } while (0)

#define EXPECT_OK(c, call, what)                                                             \
    do {                                                                                     \
        errno = 0;                                                                           \
        long r_ = (long)(call);                                                              \
        int e_ = errno;                                                                      \
        check((c), r_ != -1, "%s: expect success, got %s", (what), r_ == -1 ? ename(e_) : "success"); \
    } while (0)

static char *P(struct ctx *c, char *buf, const char *fmt, ...)
{
    int n = snprintf(buf, PATH_MAX, "%s/", c->base);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + n, PATH_MAX - n, fmt, ap);
    va_end(ap);
    return buf;
}

static int write_file(const char *path, const void *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return -1;
    ssize_t w = write(fd, data, n);
    int rc = (w == (ssize_t)n) ? 0 : -1;
    if (close(fd) != 0) rc = -1;
    return rc;
}

/* Reads up to cap bytes of path into buf; returns bytes read or -1. */
static ssize_t read_file(const char *path, void *buf, size_t cap)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    size_t got = 0;
    for (;;) {
        ssize_t r = read(fd, (char *)buf + got, cap - got);
        if (r < 0) { close(fd); return -1; }
        if (r == 0 || got + r == cap) { got += r; break; }
        got += r;
    }
    close(fd);
    return (ssize_t)got;
}

static int content_is(const char *path, const char *want)
{
    char buf[4096];
    ssize_t n = read_file(path, buf, sizeof buf);
    return n == (ssize_t)strlen(want) && memcmp(buf, want, n) == 0;
}

static void nap(void) { struct timespec ts = {0, 30 * 1000 * 1000}; nanosleep(&ts, NULL); }

static int ts_cmp(struct timespec a, struct timespec b)
{
    if (a.tv_sec != b.tv_sec) return a.tv_sec < b.tv_sec ? -1 : 1;
    if (a.tv_nsec != b.tv_nsec) return a.tv_nsec < b.tv_nsec ? -1 : 1;
    return 0;
}

static struct stat st_of(const char *path)
{
    struct stat st;
    memset(&st, 0, sizeof st);
    if (lstat(path, &st) != 0) st.st_ino = 0;
    return st;
}

/* ---------------------------------------------------------------------------------------- */

static void t_enoent(struct ctx *c)
{
    char p[PATH_MAX], q[PATH_MAX];
    struct stat st;
    char buf[16];
    printf("== ENOENT\n");
    P(c, p, "nope");
    EXPECT_ERR(c, open(p, O_RDONLY), ENOENT, "open absent");
    EXPECT_ERR(c, stat(p, &st), ENOENT, "stat absent");
    EXPECT_ERR(c, unlink(p), ENOENT, "unlink absent");
    EXPECT_ERR(c, rmdir(p), ENOENT, "rmdir absent");
    EXPECT_ERR(c, rename(p, P(c, q, "nope2")), ENOENT, "rename absent source");
    EXPECT_ERR(c, open(P(c, q, "nodir/x"), O_CREAT | O_WRONLY, 0644), ENOENT, "create in absent dir");
    EXPECT_ERR(c, mkdir(P(c, q, "nodir/x"), 0755), ENOENT, "mkdir in absent dir");
    EXPECT_ERR(c, readlink(p, buf, sizeof buf), ENOENT, "readlink absent");
    EXPECT_ERR(c, chmod(p, 0600), ENOENT, "chmod absent");
    EXPECT_ERR(c, link(p, P(c, q, "l")), ENOENT, "link from absent");
    EXPECT_ERR(c, getxattr(p, "user.x", buf, sizeof buf), ENOENT, "getxattr on absent");
    EXPECT_ERR(c, truncate(p, 10), ENOENT, "truncate absent");
    P(c, q, "dangling");
    EXPECT_OK(c, symlink("does-not-exist", q), "symlink dangling");
    EXPECT_ERR(c, stat(q, &st), ENOENT, "stat through dangling symlink");
    EXPECT_OK(c, lstat(q, &st), "lstat dangling symlink");
    unlink(q);
}

static void t_eexist(struct ctx *c)
{
    char d[PATH_MAX], f[PATH_MAX], g[PATH_MAX], s[PATH_MAX];
    printf("== EEXIST\n");
    P(c, d, "ex");
    mkdir(d, 0755);
    P(c, f, "ex/f");
    write_file(f, "x", 1);
    P(c, s, "ex/s");
    symlink("f", s);
    EXPECT_ERR(c, open(f, O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST, "O_CREAT|O_EXCL on file");
    EXPECT_ERR(c, open(s, O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST, "O_CREAT|O_EXCL on symlink");
    EXPECT_ERR(c, open(d, O_CREAT | O_EXCL | O_RDONLY, 0644), EEXIST, "O_CREAT|O_EXCL on dir");
    EXPECT_ERR(c, mkdir(d, 0755), EEXIST, "mkdir existing dir");
    EXPECT_ERR(c, mkdir(f, 0755), EEXIST, "mkdir over file");
    EXPECT_ERR(c, mkdir(s, 0755), EEXIST, "mkdir over symlink");
    EXPECT_ERR(c, link(f, s), EEXIST, "link onto existing name");
    EXPECT_ERR(c, symlink("t", f), EEXIST, "symlink onto existing file");
    EXPECT_ERR(c, mknod(f, S_IFIFO | 0644, 0), EEXIST, "mknod FIFO onto existing");
    P(c, g, "ex/g");
    EXPECT_OK(c, open(g, O_CREAT | O_EXCL | O_WRONLY, 0644), "O_CREAT|O_EXCL new name");
    check(c, content_is(f, "x"), "existing file untouched by failed creates");
}

static void t_enotdir_eisdir(struct ctx *c)
{
    char d[PATH_MAX], f[PATH_MAX], q[PATH_MAX], e[PATH_MAX];
    struct stat st;
    printf("== ENOTDIR / EISDIR\n");
    P(c, d, "nd");
    mkdir(d, 0755);
    P(c, f, "nd/file");
    write_file(f, "data", 4);
    P(c, e, "nd/emptydir");
    mkdir(e, 0755);
    EXPECT_ERR(c, open(P(c, q, "nd/file/x"), O_RDONLY), ENOTDIR, "open file/x");
    EXPECT_ERR(c, open(P(c, q, "nd/file/x"), O_CREAT | O_WRONLY, 0644), ENOTDIR, "create file/x");
    EXPECT_ERR(c, mkdir(P(c, q, "nd/file/x"), 0755), ENOTDIR, "mkdir file/x");
    EXPECT_ERR(c, stat(P(c, q, "nd/file/"), &st), ENOTDIR, "stat file/");
    EXPECT_ERR(c, rmdir(f), ENOTDIR, "rmdir on a file");
    EXPECT_ERR(c, open(f, O_RDONLY | O_DIRECTORY), ENOTDIR, "O_DIRECTORY on a file");
    EXPECT_ERR(c, rename(e, f), ENOTDIR, "rename dir over file");
    EXPECT_ERR(c, open(d, O_WRONLY), EISDIR, "open dir O_WRONLY");
    EXPECT_ERR(c, open(d, O_RDWR), EISDIR, "open dir O_RDWR");
    EXPECT_ERR(c, unlink(e), EISDIR, "unlink a dir");
    EXPECT_ERR(c, rename(f, e), EISDIR, "rename file over dir");
    EXPECT_ERR(c, truncate(d, 0), EISDIR, "truncate a dir");
    int fd = open(d, O_RDONLY | O_DIRECTORY);
    char b[8];
    EXPECT_ERR(c, read(fd, b, sizeof b), EISDIR, "read() on a dir fd");
    close(fd);
    check(c, content_is(f, "data"), "file intact after failed ops");
}

static void t_enotempty_einval(struct ctx *c)
{
    char a[PATH_MAX], ab[PATH_MAX], abc[PATH_MAX], q[PATH_MAX], x[PATH_MAX];
    printf("== ENOTEMPTY / EINVAL (rename into own subtree)\n");
    P(c, a, "ne");
    P(c, ab, "ne/b");
    P(c, abc, "ne/b/c");
    mkdir(a, 0755);
    mkdir(ab, 0755);
    mkdir(abc, 0755);
    write_file(P(c, q, "ne/b/c/file"), "z", 1);
    EXPECT_ERR(c, rmdir(a), ENOTEMPTY, "rmdir non-empty dir");
    EXPECT_ERR(c, rmdir(abc), ENOTEMPTY, "rmdir dir holding one file");
    P(c, x, "ne2");
    mkdir(x, 0755);
    write_file(P(c, q, "ne2/f"), "y", 1);
    EXPECT_ERR(c, rename(P(c, q, "ne/b"), x), ENOTEMPTY, "rename dir over non-empty dir");
    EXPECT_ERR(c, rename(a, P(c, q, "ne/b/sub")), EINVAL, "rename dir into its own child");
    EXPECT_ERR(c, rename(a, P(c, q, "ne/b/c/deeper")), EINVAL, "rename dir into its own grandchild");
    EXPECT_ERR(c, rename(ab, abc), EINVAL, "rename dir onto its own child");
    EXPECT_ERR(c, rename(abc, a), ENOTEMPTY, "rename dir onto its non-empty ancestor");
    EXPECT_OK(c, rename(a, a), "rename dir onto itself (no-op)");
    check(c, content_is(P(c, q, "ne/b/c/file"), "z"), "subtree intact after failed renames");
    EXPECT_ERR(c, rmdir(P(c, q, "ne/b/.")), EINVAL, "rmdir dir/.");
    /* An empty target directory is replaced by rename. */
    P(c, x, "ne3");
    mkdir(x, 0755);
    EXPECT_OK(c, rename(abc, x), "rename dir over empty dir");
    check(c, content_is(P(c, q, "ne3/file"), "z"), "moved dir content readable at new name");
    struct stat st;
    EXPECT_ERR(c, stat(abc, &st), ENOENT, "old dir name gone");
}

static void t_nametoolong(struct ctx *c)
{
    char name[300], p[2 * PATH_MAX], q[PATH_MAX];
    struct stat st;
    printf("== ENAMETOOLONG\n");
    P(c, q, "ntl");
    mkdir(q, 0755);
    memset(name, 'n', 256);
    name[256] = 0;
    snprintf(p, sizeof p, "%s/%s", q, name);
    EXPECT_ERR(c, open(p, O_CREAT | O_WRONLY, 0644), ENAMETOOLONG, "create 256-byte name");
    EXPECT_ERR(c, mkdir(p, 0755), ENAMETOOLONG, "mkdir 256-byte name");
    EXPECT_ERR(c, stat(p, &st), ENAMETOOLONG, "stat 256-byte name");
    EXPECT_ERR(c, symlink("x", p), ENAMETOOLONG, "symlink 256-byte name");
    name[255] = 0;
    snprintf(p, sizeof p, "%s/%s", q, name);
    int fd = open(p, O_CREAT | O_WRONLY, 0644);
    check(c, fd >= 0, "create 255-byte name: %s", fd >= 0 ? "success" : ename(errno));
    if (fd >= 0) close(fd);
    EXPECT_OK(c, stat(p, &st), "stat 255-byte name");
    DIR *dp = opendir(q);
    int seen = 0;
    struct dirent *de;
    while (dp && (de = readdir(dp))) if (strcmp(de->d_name, name) == 0) seen++;
    if (dp) closedir(dp);
    check(c, seen == 1, "readdir lists the 255-byte name once (seen %d)", seen);
    /* A path longer than PATH_MAX, built from short valid components. */
    char *lp = malloc(PATH_MAX + 100);
    int n = snprintf(lp, PATH_MAX + 100, "%s", q);
    while (n < PATH_MAX + 10) n += snprintf(lp + n, PATH_MAX + 100 - n, "/.");
    EXPECT_ERR(c, stat(lp, &st), ENAMETOOLONG, "stat path > PATH_MAX");
    EXPECT_ERR(c, open(lp, O_CREAT | O_WRONLY, 0644), ENAMETOOLONG, "create path > PATH_MAX");
    free(lp);
    /* A path just under PATH_MAX built from 200-byte components works, also after renaming
     * the top of that deep subtree. */
    {
        char *chain = malloc(2 * PATH_MAX), *fp = malloc(2 * PATH_MAX), *np = malloc(2 * PATH_MAX);
        char comp[201];
        memset(comp, 'd', 200);
        comp[200] = 0;
        int depth = 0, ok = 1;
        snprintf(chain, 2 * PATH_MAX, "%s/deeptop", q);
        ok = mkdir(chain, 0755) == 0;
        while (ok && strlen(chain) + 201 < PATH_MAX - 64) {
            size_t l = strlen(chain);
            snprintf(chain + l, 2 * PATH_MAX - l, "/%s", comp);
            ok = mkdir(chain, 0755) == 0;
            depth++;
        }
        check(c, ok, "mkdir a %d-deep chain of 200-byte names (path %zu bytes): %s", depth, strlen(chain), ok ? "success" : ename(errno));
        snprintf(fp, 2 * PATH_MAX, "%s/file", chain);
        check(c, strlen(fp) < PATH_MAX && write_file(fp, "deep", 4) == 0 && content_is(fp, "deep"), "file at the bottom (path %zu bytes) written and read", strlen(fp));
        snprintf(np, 2 * PATH_MAX, "%s/deeptop2", q);
        snprintf(chain, 2 * PATH_MAX, "%s/deeptop", q);
        EXPECT_OK(c, rename(chain, np), "rename the top of the deep subtree");
        snprintf(fp, 2 * PATH_MAX, "%s/deeptop2", q);
        for (int i = 0; i < depth; i++) { size_t l = strlen(fp); snprintf(fp + l, 2 * PATH_MAX - l, "/%s", comp); }
        size_t l = strlen(fp);
        snprintf(fp + l, 2 * PATH_MAX - l, "/file");
        check(c, content_is(fp, "deep"), "bottom file readable under the renamed top");
        unlink(fp);
        for (int i = depth; i >= 0; i--) {
            char *slash = strrchr(fp, '/');
            *slash = 0;
            if (rmdir(fp) != 0) { ok = 0; break; }
        }
        check(c, ok, "deep chain removed bottom-up");
        free(chain);
        free(fp);
        free(np);
    }
    /* Long symlink targets round-trip exactly (ext4 allows up to 4095 bytes). */
    char *tgt = malloc(4096);
    for (int i = 0; i < 4000; i++) tgt[i] = (i % 50 == 49) ? '/' : 'a' + i % 26;
    tgt[4000] = 0;
    char lbuf[4200];
    EXPECT_OK(c, symlink(tgt, P(c, q, "ntl/longlink")), "symlink with 4000-byte target");
    ssize_t rl = readlink(q, lbuf, sizeof lbuf);
    check(c, rl == 4000 && memcmp(lbuf, tgt, 4000) == 0, "readlink returns the 4000-byte target (got %zd)", rl);
    int lr = lstat(q, &st);
    check(c, lr == 0 && st.st_size == 4000, "lstat size of symlink == target length (%lld)", (long long)st.st_size);
    free(tgt);
}

static void t_xattr(struct ctx *c)
{
    char f[PATH_MAX], d[PATH_MAX], buf[256];
    printf("== xattrs\n");
    P(c, f, "xf");
    write_file(f, "x", 1);
    EXPECT_ERR(c, getxattr(f, "user.absent", buf, sizeof buf), ENODATA, "getxattr absent name");
    EXPECT_ERR(c, removexattr(f, "user.absent"), ENODATA, "removexattr absent name");
    EXPECT_ERR(c, setxattr(f, "user.a", "1", 1, XATTR_REPLACE), ENODATA, "XATTR_REPLACE absent name");
    EXPECT_OK(c, setxattr(f, "user.a", "hello", 5, XATTR_CREATE), "XATTR_CREATE new name");
    EXPECT_ERR(c, setxattr(f, "user.a", "2", 1, XATTR_CREATE), EEXIST, "XATTR_CREATE existing name");
    ssize_t n = getxattr(f, "user.a", buf, sizeof buf);
    check(c, n == 5 && memcmp(buf, "hello", 5) == 0, "getxattr value round trip (n=%zd)", n);
    check(c, getxattr(f, "user.a", NULL, 0) == 5, "getxattr size query returns 5");
    EXPECT_ERR(c, getxattr(f, "user.a", buf, 3), ERANGE, "getxattr buffer too small");
    EXPECT_OK(c, setxattr(f, "user.a", "bye", 3, XATTR_REPLACE), "XATTR_REPLACE existing name");
    n = getxattr(f, "user.a", buf, sizeof buf);
    check(c, n == 3 && memcmp(buf, "bye", 3) == 0, "replaced value read back (n=%zd)", n);
    char bin[200];
    for (int i = 0; i < 200; i++) bin[i] = (char)(i * 7);
    bin[10] = 0;
    EXPECT_OK(c, setxattr(f, "user.bin", bin, sizeof bin, 0), "setxattr 200-byte binary value with NUL");
    n = getxattr(f, "user.bin", buf, sizeof buf);
    check(c, n == 200 && memcmp(buf, bin, 200) == 0, "binary value round trip (n=%zd)", n);
    EXPECT_OK(c, setxattr(f, "user.empty", "", 0, 0), "setxattr empty value");
    check(c, getxattr(f, "user.empty", buf, sizeof buf) == 0, "empty value has length 0");
    ssize_t ln = listxattr(f, NULL, 0);
    const char want[] = "user.a\0user.bin\0user.empty\0";
    check(c, ln == (ssize_t)sizeof want - 1, "listxattr size query (%zd, want %zu)", ln, sizeof want - 1);
    EXPECT_ERR(c, listxattr(f, buf, 5), ERANGE, "listxattr buffer too small");
    ln = listxattr(f, buf, sizeof buf);
    int has_a = 0, has_bin = 0, has_empty = 0, other = 0;
    for (ssize_t i = 0; i < ln; i += strlen(buf + i) + 1) {
        if (!strcmp(buf + i, "user.a")) has_a++;
        else if (!strcmp(buf + i, "user.bin")) has_bin++;
        else if (!strcmp(buf + i, "user.empty")) has_empty++;
        else if (!strncmp(buf + i, "user.", 5)) other++;
    }
    check(c, has_a == 1 && has_bin == 1 && has_empty == 1 && other == 0, "listxattr lists exactly the 3 user names");
    EXPECT_OK(c, removexattr(f, "user.a"), "removexattr");
    EXPECT_ERR(c, getxattr(f, "user.a", buf, sizeof buf), ENODATA, "getxattr after remove");
    P(c, d, "xd");
    mkdir(d, 0755);
    EXPECT_OK(c, setxattr(d, "user.dirattr", "v", 1, 0), "setxattr on a directory");
    check(c, getxattr(d, "user.dirattr", buf, sizeof buf) == 1, "getxattr on a directory");
    /* xattrs follow the inode through rename and hard links. */
    char g[PATH_MAX], h[PATH_MAX];
    P(c, g, "xf.renamed");
    EXPECT_OK(c, rename(f, g), "rename file with xattrs");
    n = getxattr(g, "user.bin", buf, sizeof buf);
    check(c, n == 200 && memcmp(buf, bin, 200) == 0, "xattr survives rename");
    P(c, h, "xf.link");
    EXPECT_OK(c, link(g, h), "link file with xattrs");
    EXPECT_OK(c, setxattr(h, "user.vialink", "L", 1, 0), "setxattr through second name");
    check(c, getxattr(g, "user.vialink", buf, sizeof buf) == 1, "xattr set via one name visible via the other");
}

static void t_rename2(struct ctx *c)
{
    char a[PATH_MAX], b[PATH_MAX], d[PATH_MAX], q[PATH_MAX];
    struct stat st;
    printf("== rename, RENAME_NOREPLACE, RENAME_EXCHANGE\n");
    P(c, a, "rn_a");
    P(c, b, "rn_b");
    write_file(a, "AAA", 3);
    write_file(b, "BB", 2);
    EXPECT_ERR(c, renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_NOREPLACE), EEXIST, "RENAME_NOREPLACE onto existing");
    check(c, content_is(a, "AAA") && content_is(b, "BB"), "both files intact after refused rename");
    EXPECT_OK(c, renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE), "RENAME_EXCHANGE two files");
    check(c, content_is(a, "BB") && content_is(b, "AAA"), "contents swapped by RENAME_EXCHANGE");
    EXPECT_ERR(c, renameat2(AT_FDCWD, a, AT_FDCWD, P(c, q, "rn_absent"), RENAME_EXCHANGE), ENOENT, "RENAME_EXCHANGE with absent target");
    EXPECT_ERR(c, renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE | RENAME_NOREPLACE), EINVAL, "EXCHANGE|NOREPLACE together");
    P(c, d, "rn_dir");
    mkdir(d, 0755);
    write_file(P(c, q, "rn_dir/inner"), "in", 2);
    EXPECT_OK(c, renameat2(AT_FDCWD, a, AT_FDCWD, d, RENAME_EXCHANGE), "RENAME_EXCHANGE file <-> dir");
    check(c, stat(a, &st) == 0 && S_ISDIR(st.st_mode) && content_is(P(c, q, "rn_a/inner"), "in"), "dir now at the file's name, with its content");
    check(c, stat(d, &st) == 0 && S_ISREG(st.st_mode) && content_is(d, "BB"), "file now at the dir's name");
    EXPECT_OK(c, renameat2(AT_FDCWD, b, AT_FDCWD, P(c, q, "rn_new"), RENAME_NOREPLACE), "RENAME_NOREPLACE onto absent name");
    check(c, content_is(q, "AAA") && stat(b, &st) != 0, "file moved by RENAME_NOREPLACE");
    /* Plain rename over an existing file replaces it atomically. */
    write_file(P(c, b, "rn_over"), "OLD", 3);
    EXPECT_OK(c, rename(q, b), "rename over existing file");
    check(c, content_is(b, "AAA") && stat(q, &st) != 0, "target replaced, source name gone");
    /* rename of a hard link onto its other name is a no-op that keeps both names. */
    P(c, q, "rn_over.link");
    link(b, q);
    EXPECT_OK(c, rename(b, q), "rename onto another name of the same inode");
    check(c, stat(b, &st) == 0 && st.st_nlink == 2 && stat(q, &st) == 0, "both names still exist (POSIX no-op)");
    /* Rename a directory with contents into another directory and back. */
    P(c, q, "rn_a");
    char to[PATH_MAX];
    P(c, to, "rn_dir2");
    mkdir(to, 0755);
    P(c, to, "rn_dir2/moved");
    EXPECT_OK(c, rename(q, to), "rename dir into another dir");
    check(c, content_is(P(c, q, "rn_dir2/moved/inner"), "in"), "content reachable via new path");
}

/* Free bytes for the space checks.  With ERRNO_SPACE_DIR set (the lsmfs store directory, by
 * errno.sh), minus the bytes allocated to the files under it: that measures the store alone,
 * unaffected by other processes writing to the same disk.  Otherwise statfs of the directory. */
static double space_free(const struct ctx *c)
{
    const char *sd = getenv("ERRNO_SPACE_DIR");
    if (!sd || !*sd) {
        struct statvfs sv;
        if (statvfs(c->base, &sv) != 0) return 0;
        return (double)sv.f_bfree * sv.f_frsize;
    }
    double used = 0;
    DIR *d = opendir(sd);
    struct dirent *de;
    char p[PATH_MAX];
    struct stat st;
    while (d && (de = readdir(d))) {
        snprintf(p, sizeof p, "%s/%s", sd, de->d_name);
        if (lstat(p, &st) == 0 && S_ISREG(st.st_mode)) used += (double)st.st_blocks * 512;
    }
    if (d) closedir(d);
    return -used;
}

static void t_unlink_open(struct ctx *c)
{
    char f[PATH_MAX], buf[8192];
    struct stat st;
    double before, during, after;
    printf("== unlink of an open file\n");
    P(c, f, "uo");
    int fd = open(f, O_RDWR | O_CREAT | O_TRUNC, 0644);
    check(c, fd >= 0, "create");
    const size_t big = 32 << 20;
    /* Incompressible data, so that a compressing store really uses ~32 MiB for it. */
    char *blk = malloc(1 << 20);
    uint64_t x = 88172645463325252ULL;
    for (size_t i = 0; i < (1 << 20); i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        blk[i] = (char)(x >> 24);
    }
    before = space_free(c);
    for (size_t off = 0; off < big; off += 1 << 20) if (write(fd, blk, 1 << 20) != 1 << 20) break;
    fsync(fd);
    EXPECT_OK(c, unlink(f), "unlink while open");
    EXPECT_ERR(c, stat(f, &st), ENOENT, "name gone after unlink");
    DIR *dp = opendir(c->base);
    int seen = 0;
    struct dirent *de;
    while (dp && (de = readdir(dp))) if (!strcmp(de->d_name, "uo")) seen++;
    if (dp) closedir(dp);
    check(c, seen == 0, "readdir no longer lists it");
    int fr = fstat(fd, &st);
    check(c, fr == 0 && st.st_nlink == 0 && st.st_size == (off_t)big, "fstat: nlink 0, size kept (%lu, %lld)", (unsigned long)st.st_nlink, (long long)st.st_size);
    ssize_t n = pread(fd, buf, 4096, (5 << 20) + 4096);
    check(c, n == 4096 && memcmp(buf, blk + 4096, 4096) == 0, "read through fd after unlink");
    check(c, pwrite(fd, "NEWDATA", 7, big) == 7, "write through fd after unlink");
    n = pread(fd, buf, 7, big);
    check(c, n == 7 && memcmp(buf, "NEWDATA", 7) == 0, "read back the write after unlink");
    check(c, fsync(fd) == 0, "fsync of unlinked file");
    during = space_free(c);
    close(fd);
    /* Space must come back once the last descriptor is closed (give a store up to ~10 s; the
     * disk is shared with other processes, so any one sample showing it is enough). */
    double freed = 0;
    for (int i = 0; i < 300; i++) {
        sync();
        after = space_free(c);
        freed = after - during;
        if (freed >= big / 2) break;
        nap();
    }
    check(c, freed >= big / 2, "space freed after close: %.1f MiB of %zu MiB (%s: before create %.1f MiB, while open %.1f MiB, after %.1f MiB)",
          freed / 1048576.0, big >> 20, getenv("ERRNO_SPACE_DIR") ? "minus store usage" : "statfs free",
          before / 1048576.0, during / 1048576.0, after / 1048576.0);
    free(blk);
}

static void t_hardlinks(struct ctx *c)
{
    char a[PATH_MAX], b[PATH_MAX], d[PATH_MAX], q[PATH_MAX];
    printf("== hard links: nlink, ctime, shared data\n");
    P(c, a, "hl_a");
    P(c, b, "hl_b");
    write_file(a, "one", 3);
    struct stat s0 = st_of(a);
    check(c, s0.st_nlink == 1, "new file nlink 1 (%lu)", (unsigned long)s0.st_nlink);
    nap();
    EXPECT_OK(c, link(a, b), "link");
    struct stat sa = st_of(a), sb = st_of(b);
    check(c, sa.st_nlink == 2 && sb.st_nlink == 2, "nlink 2 on both names (%lu, %lu)", (unsigned long)sa.st_nlink, (unsigned long)sb.st_nlink);
    check(c, sa.st_ino == sb.st_ino, "same inode number");
    check(c, ts_cmp(sa.st_ctim, s0.st_ctim) > 0, "link updates ctime");
    check(c, ts_cmp(sa.st_mtim, s0.st_mtim) == 0, "link keeps mtime");
    int fd = open(b, O_WRONLY | O_APPEND);
    check(c, fd >= 0 && write(fd, "+two", 4) == 4, "append through second name");
    if (fd >= 0) close(fd);
    check(c, content_is(a, "one+two"), "write via one name visible via the other");
    sa = st_of(a);
    check(c, sa.st_size == 7, "size via first name updated (%lld)", (long long)sa.st_size);
    EXPECT_OK(c, chmod(b, 0600), "chmod via second name");
    sa = st_of(a);
    check(c, (sa.st_mode & 07777) == 0600, "mode change visible via first name (%o)", sa.st_mode & 07777);
    P(c, q, "hl_c");
    EXPECT_OK(c, link(b, q), "third link");
    check(c, st_of(a).st_nlink == 3, "nlink 3");
    struct stat before = st_of(a);
    nap();
    EXPECT_OK(c, unlink(b), "unlink one name");
    sa = st_of(a);
    check(c, sa.st_nlink == 2 && content_is(a, "one+two"), "other names keep data, nlink 2 (%lu)", (unsigned long)sa.st_nlink);
    check(c, ts_cmp(sa.st_ctim, before.st_ctim) > 0, "unlink of one name updates ctime of the inode");
    /* rename a different file over a linked name: the inode loses one link. */
    write_file(b, "other", 5);
    EXPECT_OK(c, rename(b, q), "rename another file over a linked name");
    sa = st_of(a);
    check(c, sa.st_nlink == 1 && content_is(a, "one+two") && content_is(q, "other"), "linked inode now nlink 1, replaced name has new content (%lu)", (unsigned long)sa.st_nlink);
    P(c, d, "hl_dir");
    mkdir(d, 0755);
    EXPECT_ERR(c, link(d, P(c, q, "hl_dirlink")), EPERM, "link to a directory");
    /* Links to symlinks and FIFOs. */
    P(c, q, "hl_sym");
    symlink("hl_a", q);
    char l2[PATH_MAX];
    EXPECT_OK(c, linkat(AT_FDCWD, q, AT_FDCWD, P(c, l2, "hl_sym2"), 0), "hard link to a symlink");
    struct stat ss = st_of(l2);
    check(c, S_ISLNK(ss.st_mode) && ss.st_nlink == 2, "linked symlink is a symlink with nlink 2");
    P(c, q, "hl_fifo");
    mknod(q, S_IFIFO | 0644, 0);
    EXPECT_OK(c, link(q, P(c, l2, "hl_fifo2")), "hard link to a FIFO");
    ss = st_of(l2);
    check(c, S_ISFIFO(ss.st_mode) && ss.st_nlink == 2, "linked FIFO is a FIFO with nlink 2");
    /* Directory link counts as on ext4: 2 + number of subdirectories. */
    struct stat ds = st_of(d);
    check(c, ds.st_nlink == 2, "new dir nlink 2 (%lu)", (unsigned long)ds.st_nlink);
    mkdir(P(c, q, "hl_dir/s1"), 0755);
    mkdir(P(c, q, "hl_dir/s2"), 0755);
    write_file(P(c, q, "hl_dir/f"), "", 0);
    ds = st_of(d);
    check(c, ds.st_nlink == 4, "dir with 2 subdirs and a file: nlink 4 (%lu)", (unsigned long)ds.st_nlink);
    rmdir(P(c, q, "hl_dir/s1"));
    ds = st_of(d);
    check(c, ds.st_nlink == 3, "after rmdir of one subdir: nlink 3 (%lu)", (unsigned long)ds.st_nlink);
}

static void t_open_flags(struct ctx *c)
{
    char f[PATH_MAX], buf[64];
    printf("== O_APPEND, O_TRUNC, ftruncate\n");
    P(c, f, "of");
    write_file(f, "abc", 3);
    int fd = open(f, O_WRONLY | O_APPEND);
    lseek(fd, 0, SEEK_SET);
    check(c, write(fd, "def", 3) == 3, "write with O_APPEND");
    close(fd);
    check(c, content_is(f, "abcdef"), "O_APPEND wrote at the end despite lseek(0)");
    int f1 = open(f, O_WRONLY | O_APPEND), f2 = open(f, O_WRONLY | O_APPEND);
    for (int i = 0; i < 10; i++) {
        if (write(f1, "1", 1) != 1) break;
        if (write(f2, "2", 1) != 1) break;
    }
    close(f1);
    close(f2);
    check(c, content_is(f, "abcdef12121212121212121212"), "two O_APPEND fds interleave without overwriting");
    struct stat s0 = st_of(f);
    nap();
    fd = open(f, O_WRONLY | O_TRUNC);
    close(fd);
    struct stat s1 = st_of(f);
    check(c, s1.st_size == 0, "O_TRUNC empties the file");
    check(c, ts_cmp(s1.st_mtim, s0.st_mtim) > 0 && ts_cmp(s1.st_ctim, s0.st_ctim) > 0, "O_TRUNC updates mtime and ctime");

    /* ftruncate down then up across chunk-sized boundaries must read zeros, not stale data. */
    const size_t n = 300000;
    unsigned char *pat = malloc(n), *got = malloc(n);
    for (size_t i = 0; i < n; i++) pat[i] = (unsigned char)(1 + i % 251);
    fd = open(f, O_RDWR | O_TRUNC);
    check(c, write(fd, pat, 200000) == 200000, "write 200000 bytes");
    EXPECT_OK(c, ftruncate(fd, 70000), "ftruncate shrink to 70000");
    EXPECT_OK(c, ftruncate(fd, 300000), "ftruncate grow to 300000");
    ssize_t r = pread(fd, got, n, 0);
    int ok = r == (ssize_t)n && memcmp(got, pat, 70000) == 0;
    for (size_t i = 70000; ok && i < n; i++) if (got[i]) ok = 0;
    check(c, ok, "shrink+grow: old data up to 70000 then zeros (read %zd)", r);
    close(fd);
    fd = open(f, O_RDONLY);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    r = pread(fd, got, n, 0);
    ok = r == (ssize_t)n && memcmp(got, pat, 70000) == 0;
    for (size_t i = 70000; ok && i < n; i++) if (got[i]) ok = 0;
    check(c, ok, "same after reopen and dropping the page cache (read %zd)", r);
    close(fd);
    EXPECT_OK(c, truncate(f, 5), "truncate(path) to 5");
    check(c, st_of(f).st_size == 5 && read_file(f, buf, sizeof buf) == 5 && memcmp(buf, pat, 5) == 0, "5 bytes remain");
    free(pat);
    free(got);
}

static void t_times(struct ctx *c)
{
    char f[PATH_MAX], d[PATH_MAX], q[PATH_MAX];
    printf("== timestamps: utimensat, mtime/ctime updates\n");
    P(c, d, "tm");
    mkdir(d, 0755);
    P(c, f, "tm/f");
    write_file(f, "x", 1);
    struct timespec ts[2] = {{1000, 500}, {2000, 250000000}};
    EXPECT_OK(c, utimensat(AT_FDCWD, f, ts, 0), "utimensat explicit times");
    struct stat s = st_of(f);
    check(c, s.st_atim.tv_sec == 1000 && s.st_atim.tv_nsec == 500 && s.st_mtim.tv_sec == 2000 && s.st_mtim.tv_nsec == 250000000,
          "explicit atime/mtime stored with nanoseconds (%ld.%09ld %ld.%09ld)", (long)s.st_atim.tv_sec, s.st_atim.tv_nsec, (long)s.st_mtim.tv_sec, s.st_mtim.tv_nsec);
    struct timespec t2[2] = {{0, UTIME_OMIT}, {3000, 0}};
    EXPECT_OK(c, utimensat(AT_FDCWD, f, t2, 0), "utimensat atime UTIME_OMIT");
    s = st_of(f);
    check(c, s.st_atim.tv_sec == 1000 && s.st_atim.tv_nsec == 500 && s.st_mtim.tv_sec == 3000, "UTIME_OMIT kept atime, mtime set");
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct timespec t3[2] = {{0, UTIME_NOW}, {0, UTIME_OMIT}};
    EXPECT_OK(c, utimensat(AT_FDCWD, f, t3, 0), "utimensat atime UTIME_NOW, mtime UTIME_OMIT");
    s = st_of(f);
    check(c, labs((long)(s.st_atim.tv_sec - now.tv_sec)) <= 2 && s.st_mtim.tv_sec == 3000, "UTIME_NOW set atime to now, mtime kept");
    EXPECT_OK(c, utimensat(AT_FDCWD, f, NULL, 0), "utimensat(NULL) = both now");
    s = st_of(f);
    check(c, labs((long)(s.st_mtim.tv_sec - now.tv_sec)) <= 2, "mtime now");
    /* Symlink times with AT_SYMLINK_NOFOLLOW. */
    P(c, q, "tm/sl");
    symlink("f", q);
    EXPECT_OK(c, utimensat(AT_FDCWD, q, ts, AT_SYMLINK_NOFOLLOW), "utimensat AT_SYMLINK_NOFOLLOW");
    s = st_of(q);
    check(c, s.st_mtim.tv_sec == 2000, "symlink's own mtime set");

    struct stat b = st_of(f), bd = st_of(d);
    nap();
    int fd = open(f, O_WRONLY);
    check(c, write(fd, "more", 4) == 4, "write");
    close(fd);
    s = st_of(f);
    check(c, ts_cmp(s.st_mtim, b.st_mtim) > 0 && ts_cmp(s.st_ctim, b.st_ctim) > 0, "write updates mtime and ctime");
    check(c, ts_cmp(st_of(d).st_mtim, bd.st_mtim) == 0, "write leaves the parent dir mtime alone");
    b = s;
    nap();
    truncate(f, 1);
    s = st_of(f);
    check(c, ts_cmp(s.st_mtim, b.st_mtim) > 0 && ts_cmp(s.st_ctim, b.st_ctim) > 0, "truncate updates mtime and ctime");
    b = s;
    nap();
    chmod(f, 0640);
    s = st_of(f);
    check(c, ts_cmp(s.st_mtim, b.st_mtim) == 0 && ts_cmp(s.st_ctim, b.st_ctim) > 0, "chmod updates ctime only");
    b = s;
    nap();
    chown(f, 1234, 5678);
    s = st_of(f);
    check(c, s.st_uid == 1234 && s.st_gid == 5678, "chown as root sets uid/gid");
    check(c, ts_cmp(s.st_mtim, b.st_mtim) == 0 && ts_cmp(s.st_ctim, b.st_ctim) > 0, "chown updates ctime only");
    b = s;
    bd = st_of(d);
    nap();
    P(c, q, "tm/f2");
    rename(f, q);
    s = st_of(q);
    check(c, ts_cmp(s.st_mtim, b.st_mtim) == 0 && ts_cmp(s.st_ctim, b.st_ctim) > 0, "rename updates ctime of the file (as ext4)");
    struct stat sd = st_of(d);
    check(c, ts_cmp(sd.st_mtim, bd.st_mtim) > 0 && ts_cmp(sd.st_ctim, bd.st_ctim) > 0, "rename updates parent dir mtime/ctime");
    bd = sd;
    nap();
    write_file(P(c, q, "tm/new"), "n", 1);
    sd = st_of(d);
    check(c, ts_cmp(sd.st_mtim, bd.st_mtim) > 0, "create updates parent dir mtime");
    bd = sd;
    nap();
    unlink(q);
    sd = st_of(d);
    check(c, ts_cmp(sd.st_mtim, bd.st_mtim) > 0, "unlink updates parent dir mtime");
    bd = sd;
    nap();
    mkdir(P(c, q, "tm/sub"), 0755);
    sd = st_of(d);
    check(c, ts_cmp(sd.st_mtim, bd.st_mtim) > 0, "mkdir updates parent dir mtime");
    /* Reading updates atime only under strictatime-like policies; we do not require it. */
}

static void t_fifo_mknod(struct ctx *c)
{
    char f[PATH_MAX], r[PATH_MAX];
    printf("== mknod: FIFO and regular\n");
    P(c, f, "fifo");
    EXPECT_OK(c, mknod(f, S_IFIFO | 0640, 0), "mknod S_IFIFO");
    struct stat s = st_of(f);
    check(c, S_ISFIFO(s.st_mode) && (s.st_mode & 0777) == 0640, "it is a FIFO with mode 0640 (%o)", s.st_mode);
    int rd = open(f, O_RDONLY | O_NONBLOCK);
    int wr = open(f, O_WRONLY | O_NONBLOCK);
    char buf[8] = {0};
    check(c, rd >= 0 && wr >= 0 && write(wr, "pipe", 4) == 4 && read(rd, buf, sizeof buf) == 4 && !memcmp(buf, "pipe", 4), "data flows through the FIFO");
    if (rd >= 0) close(rd);
    if (wr >= 0) close(wr);
    EXPECT_OK(c, mkfifo(P(c, r, "fifo2"), 0600), "mkfifo");
    EXPECT_OK(c, mknod(P(c, r, "regnode"), S_IFREG | 0600, 0), "mknod S_IFREG");
    s = st_of(r);
    check(c, S_ISREG(s.st_mode) && s.st_size == 0, "regular empty file from mknod");
}

/* Names of the directory's entries other than . and .., via a fresh opendir. */
static int list_names(const char *dir, char names[][32], int cap)
{
    DIR *dp = opendir(dir);
    if (!dp) return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(dp))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        if (n < cap) snprintf(names[n], 32, "%.31s", de->d_name);
        n++;
    }
    closedir(dp);
    return n;
}

static void t_readdir(struct ctx *c)
{
    char d[PATH_MAX], q[PATH_MAX];
    enum { N = 3000 };
    printf("== readdir while the directory changes; telldir/seekdir\n");
    P(c, d, "rd");
    mkdir(d, 0755);
    /* Long-ish names so the listing spans many getdents buffers. */
    for (int i = 0; i < N; i++) write_file(P(c, q, "rd/entry-%05d-padding-padding-padding", i), "", 0);
    static char names[N * 2][32];
    int n = list_names(d, names, N * 2);
    check(c, n == N, "fresh listing has exactly %d entries (%d)", N, n);

    static unsigned char seen[N + 1000];
    memset(seen, 0, sizeof seen);
    DIR *dp = opendir(d);
    struct dirent *de;
    int got = 0, dots = 0, bad = 0;
    long pos = -1;
    char after_pos[300] = "";
    int changed = 0;
    while ((de = readdir(dp))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) { dots++; continue; }
        int k;
        if (sscanf(de->d_name, "entry-%d-", &k) != 1 || k < 0 || k >= N + 1000) { bad++; continue; }
        seen[k]++;
        got++;
        if (got == 1000 && pos < 0) {
            /* Peek at the next entry, seek back, and the same entry must come again. */
            pos = telldir(dp);
            struct dirent *nx = readdir(dp);
            if (nx) snprintf(after_pos, sizeof after_pos, "%s", nx->d_name);
            seekdir(dp, pos);
            nx = readdir(dp);
            check(c, nx && !strcmp(nx->d_name, after_pos), "seekdir(telldir()) mid-listing returns the same next entry (%s vs %s)",
                  nx ? nx->d_name : "(end)", after_pos);
            seekdir(dp, pos);
        }
        if (got == 1500 && !changed) {
            /* Mid-listing: remove entries 2000..2499 (maybe not yet returned), add 1000 new. */
            for (int i = 2000; i < 2500; i++) unlink(P(c, q, "rd/entry-%05d-padding-padding-padding", i));
            for (int i = N; i < N + 1000; i++) write_file(P(c, q, "rd/entry-%05d-padding-padding-padding", i), "", 0);
            changed = 1;
        }
    }
    /* POSIX: entries neither added nor removed during the scan are returned exactly once;
     * removed/added ones may or may not be returned, but never twice. */
    int missing = 0, dup = 0;
    for (int k = 0; k < N + 1000; k++) {
        int stable = k < 2000 || (k >= 2500 && k < N);
        if (stable && seen[k] != 1) missing++;
        if (seen[k] > 1) dup++;
    }
    check(c, dots == 2 && bad == 0, "'.' and '..' once each, no foreign names (dots %d, bad %d)", dots, bad);
    check(c, missing == 0 && dup == 0, "stable entries returned exactly once, none twice (wrong %d, duplicates %d)", missing, dup);
    /* seekdir back to a telldir position resumes at the same entry. */
    int ka = -1;
    sscanf(after_pos, "entry-%d-", &ka);
    if (ka >= 0 && (ka < 2000 || ka >= 2500)) {
        seekdir(dp, pos);
        de = readdir(dp);
        check(c, de && !strcmp(de->d_name, after_pos), "seekdir to an old telldir position after changes resumes at the same (still existing) entry (%s vs %s)",
              de ? de->d_name : "(end)", after_pos);
    }
    rewinddir(dp);
    int total = 0;
    while ((de = readdir(dp))) total++;
    check(c, total == N - 500 + 1000 + 2, "after rewinddir the listing is exact: %d (want %d)", total, N - 500 + 1000 + 2);
    closedir(dp);
    n = list_names(d, names, N * 2);
    check(c, n == N + 500, "fresh listing exact after changes: %d (want %d)", n, N + 500);
    for (int i = 0; i < N + 1000; i++) unlink(P(c, q, "rd/entry-%05d-padding-padding-padding", i));
    n = list_names(d, names, N * 2);
    check(c, n == 0, "empty after deleting everything (%d)", n);
    EXPECT_OK(c, rmdir(d), "rmdir the emptied dir");
}

static int child_lock_probe(const char *f, int use_flock, off_t start, off_t len)
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(f, O_RDWR);
        if (fd < 0) _exit(100);
        if (use_flock) _exit(flock(fd, LOCK_EX | LOCK_NB) == 0 ? 0 : (errno == EWOULDBLOCK ? 1 : 101));
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
        if (fcntl(fd, F_SETLK, &fl) == 0) _exit(0);
        _exit(errno == EAGAIN || errno == EACCES ? 1 : 102);
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 200;
}

static void t_locks(struct ctx *c)
{
    char f[PATH_MAX];
    printf("== flock / fcntl locks between processes\n");
    P(c, f, "lk");
    write_file(f, "0123456789", 10);
    int fd = open(f, O_RDWR);
    EXPECT_OK(c, flock(fd, LOCK_EX), "flock LOCK_EX");
    int r = child_lock_probe(f, 1, 0, 0);
    check(c, r == 1, "second process flock LOCK_EX|LOCK_NB -> EWOULDBLOCK (child status %d)", r);
    flock(fd, LOCK_UN);
    r = child_lock_probe(f, 1, 0, 0);
    check(c, r == 0, "after LOCK_UN the other process gets the lock (child status %d)", r);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 100};
    EXPECT_OK(c, fcntl(fd, F_SETLK, &fl), "fcntl F_WRLCK on [0,100)");
    r = child_lock_probe(f, 0, 50, 10);
    check(c, r == 1, "overlapping F_SETLK in another process refused (child status %d)", r);
    r = child_lock_probe(f, 0, 200, 10);
    check(c, r == 0, "disjoint range locked by another process (child status %d)", r);
    pid_t me = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        int fd2 = open(f, O_RDWR);
        struct flock q = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 10, .l_len = 5};
        if (fcntl(fd2, F_GETLK, &q) != 0) _exit(100);
        _exit(q.l_type == F_WRLCK && q.l_pid == me && q.l_start == 0 && q.l_len == 100 ? 0 : 1);
    }
    int st;
    waitpid(pid, &st, 0);
    check(c, WIFEXITED(st) && WEXITSTATUS(st) == 0, "F_GETLK reports the holder's pid and range");
    close(fd);   /* closing releases the POSIX lock */
    r = child_lock_probe(f, 0, 50, 10);
    check(c, r == 0, "lock released on close (child status %d)", r);
}

static void t_dirent(struct ctx *c)
{
    char d[PATH_MAX], q[PATH_MAX + 300], r[PATH_MAX];
    printf("== readdir d_type / d_ino, inode numbers\n");
    P(c, d, "de");
    mkdir(d, 0755);
    write_file(P(c, q, "de/file"), "f", 1);
    mkdir(P(c, q, "de/dir"), 0755);
    symlink("file", P(c, q, "de/link"));
    mkfifo(P(c, q, "de/fifo"), 0644);
    DIR *dp = opendir(d);
    struct dirent *de;
    int seen = 0, bad_type = 0, bad_ino = 0;
    while (dp && (de = readdir(dp))) {
        if (de->d_name[0] == '.') continue;
        snprintf(q, sizeof q, "%s/%s", d, de->d_name);
        struct stat st = st_of(q);
        unsigned want = S_ISREG(st.st_mode) ? DT_REG : S_ISDIR(st.st_mode) ? DT_DIR :
                        S_ISLNK(st.st_mode) ? DT_LNK : S_ISFIFO(st.st_mode) ? DT_FIFO : DT_UNKNOWN;
        seen++;
        if (de->d_type != DT_UNKNOWN && de->d_type != want) { bad_type++; printf("     %s: d_type %u, want %u\n", de->d_name, de->d_type, want); }
        if (de->d_ino != st.st_ino) { bad_ino++; printf("     %s: d_ino %lu, st_ino %lu\n", de->d_name, (unsigned long)de->d_ino, (unsigned long)st.st_ino); }
    }
    if (dp) closedir(dp);
    check(c, seen == 4 && bad_type == 0, "d_type right (or DT_UNKNOWN) for file, dir, symlink, FIFO (%d seen, %d wrong)", seen, bad_type);
    check(c, bad_ino == 0, "readdir d_ino equals stat st_ino (%d differ)", bad_ino);
    struct stat a = st_of(P(c, q, "de/file"));
    EXPECT_OK(c, rename(q, P(c, r, "de/dir/renamed")), "rename file into a subdir");
    struct stat b = st_of(r);
    check(c, a.st_ino != 0 && a.st_ino == b.st_ino, "inode number unchanged by rename (%lu, %lu)", (unsigned long)a.st_ino, (unsigned long)b.st_ino);
    struct stat s1 = st_of(P(c, q, "de/dir")), s2 = st_of(P(c, r, "de/link"));
    check(c, s1.st_ino != b.st_ino && s1.st_ino != s2.st_ino && s2.st_ino != b.st_ino, "distinct objects have distinct inode numbers");
    /* A second fd sees an O_TRUNC made through another open. */
    int f1 = open(P(c, q, "de/dir/renamed"), O_RDONLY);
    int f2 = open(q, O_WRONLY | O_TRUNC);
    struct stat fs1;
    int fr = fstat(f1, &fs1);
    char buf[4];
    check(c, f1 >= 0 && f2 >= 0 && fr == 0 && fs1.st_size == 0 && read(f1, buf, sizeof buf) == 0, "O_TRUNC through one fd is seen through another");
    if (f1 >= 0) close(f1);
    if (f2 >= 0) close(f2);
}

static void t_statfs(struct ctx *c)
{
    struct statvfs sv;
    printf("== statfs\n");
    EXPECT_OK(c, statvfs(c->base, &sv), "statvfs");
    check(c, sv.f_bsize > 0 && sv.f_frsize > 0 && sv.f_blocks > 0, "block size and count positive (bsize %lu, frsize %lu, blocks %lu)", sv.f_bsize, sv.f_frsize, (unsigned long)sv.f_blocks);
    check(c, sv.f_bfree <= sv.f_blocks && sv.f_bavail <= sv.f_bfree, "bavail <= bfree <= blocks (%lu %lu %lu)", (unsigned long)sv.f_bavail, (unsigned long)sv.f_bfree, (unsigned long)sv.f_blocks);
    check(c, sv.f_namemax == 255, "name max 255 (%lu)", sv.f_namemax);
    check(c, sv.f_ffree <= sv.f_files, "ffree <= files (%lu %lu)", (unsigned long)sv.f_ffree, (unsigned long)sv.f_files);
}

/* Inodes in use on c->base as statfs reports them (f_files - f_ffree), or -1. */
static long long inodes_used(const struct ctx *c)
{
    struct statvfs sv;
    return statvfs(c->base, &sv) == 0 ? (long long)sv.f_files - (long long)sv.f_ffree : -1;
}

/* Wait up to ~3 s for the inode count to reach want, and return the last count seen: a FUSE
 * daemon hears of a last close (release) after close(2) returns, and with kernel opens
 * (lsmfs -o opens=kernel) it keeps a removed file until the kernel forgets the node. */
static long long inodes_settle(const struct ctx *c, long long want)
{
    long long n = inodes_used(c);
    for (int i = 0; i < 100 && n != want; i++) {
        nap();
        n = inodes_used(c);
    }
    return n;
}

static void t_statfs_inodes(struct ctx *c)
{
    char p[PATH_MAX], q[PATH_MAX];
    printf("== statfs inode counts follow creates and deletes\n");
    long long base = inodes_used(c);
    mkdir(P(c, p, "ic"), 0755);
    for (int i = 0; i < 5; i++) {
        snprintf(q, sizeof q, "%s/ic/f%d", c->base, i);
        write_file(q, "x", 1);
    }
    symlink("f0", P(c, q, "ic/s"));
    mkfifo(P(c, q, "ic/p"), 0644);
    mkdir(P(c, q, "ic/d"), 0755);
    long long n = inodes_used(c);
    check(c, n == base + 9, "9 new nodes: %lld more inodes in use (%lld)", n - base, n);
    EXPECT_OK(c, link(P(c, p, "ic/f0"), P(c, q, "ic/f0.link")), "a second name");
    n = inodes_used(c);
    check(c, n == base + 9, "a hard link is no new inode (%lld)", n - base);
    unlink(P(c, p, "ic/f0"));
    n = inodes_used(c);
    check(c, n == base + 9, "removing one of two names frees none (%lld)", n - base);
    unlink(P(c, p, "ic/f0.link"));
    unlink(P(c, p, "ic/s"));
    unlink(P(c, p, "ic/p"));
    rmdir(P(c, p, "ic/d"));
    n = inodes_settle(c, base + 5);
    check(c, n == base + 5, "unlink of the last names and rmdir free theirs (%lld)", n - base);
    EXPECT_OK(c, rename(P(c, p, "ic/f1"), P(c, q, "ic/f2")), "rename over a file");
    n = inodes_settle(c, base + 4);
    check(c, n == base + 4, "the replaced file's inode is free (%lld)", n - base);
    int fd = open(P(c, p, "ic/f3"), O_RDWR);
    EXPECT_OK(c, unlink(p), "unlink an open file");
    n = inodes_used(c);
    check(c, n == base + 4, "an open file without a name still holds its inode (%lld)", n - base);
    close(fd);
    n = inodes_settle(c, base + 3);
    check(c, n == base + 3, "its inode is free after the last close (%lld)", n - base);
    unlink(P(c, p, "ic/f2"));
    unlink(P(c, p, "ic/f4"));
    rmdir(P(c, p, "ic"));
    n = inodes_settle(c, base);
    check(c, n == base, "all gone: back to the count before (%lld)", n - base);
}

static void t_symlinks(struct ctx *c)
{
    char s[PATH_MAX], q[PATH_MAX], buf[64];
    struct stat st;
    printf("== symlinks\n");
    P(c, s, "sym");
    write_file(P(c, q, "symtarget"), "T", 1);
    EXPECT_OK(c, symlink("symtarget", s), "symlink");
    ssize_t n = readlink(s, buf, sizeof buf);
    check(c, n == 9 && !memcmp(buf, "symtarget", 9), "readlink");
    check(c, lstat(s, &st) == 0 && S_ISLNK(st.st_mode) && st.st_size == 9, "lstat: link, size 9");
    check(c, stat(s, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 1, "stat follows the link");
    check(c, content_is(s, "T"), "open follows the link");
    EXPECT_ERR(c, readlink(q, buf, sizeof buf), EINVAL, "readlink on a regular file");
    EXPECT_ERR(c, open(s, O_RDONLY | O_NOFOLLOW), ELOOP, "O_NOFOLLOW on a symlink");
    P(c, q, "loop1");
    char q2[PATH_MAX];
    symlink("loop2", q);
    symlink("loop1", P(c, q2, "loop2"));
    EXPECT_ERR(c, stat(q, &st), ELOOP, "symlink loop");
}

static void t_setgid(struct ctx *c)
{
    char d[PATH_MAX], q[PATH_MAX];
    printf("== setgid directories, new-file ownership\n");
    P(c, d, "sg");
    mkdir(d, 0755);
    chown(d, 0, 4321);
    chmod(d, 02775);
    struct stat s = st_of(d);
    check(c, (s.st_mode & 02000) && s.st_gid == 4321, "dir has S_ISGID and gid 4321 (%o, %u)", s.st_mode, s.st_gid);
    write_file(P(c, q, "sg/f"), "", 0);
    s = st_of(q);
    check(c, s.st_gid == 4321 && s.st_uid == 0, "file in setgid dir inherits gid (%u)", s.st_gid);
    mkdir(P(c, q, "sg/sub"), 0755);
    s = st_of(q);
    check(c, s.st_gid == 4321 && (s.st_mode & 02000), "subdir inherits gid and S_ISGID (%o, %u)", s.st_mode, s.st_gid);
}

/* Run fn(c, arg) in a child process as uid:gid with the one supplementary group extra (or none
 * when extra is (gid_t)-1); the child's check lines are copied to our output and counted in c,
 * and one more check says whether it ran at least min_checks of them and exited as its lines
 * say. */
static void as_user_in(struct ctx *c, uid_t uid, gid_t gid, gid_t extra,
                       void (*fn)(struct ctx *c, void *arg), void *arg, int min_checks)
{
    fflush(stdout);
    int pipefd[2];
    if (pipe(pipefd) != 0) { check(c, 0, "pipe"); return; }
    pid_t pid = fork();
    if (pid == 0) {
        close(pipefd[0]);
        dup2(pipefd[1], 1);
        struct ctx cc = {.base = c->base};
        int ngroups = extra != (gid_t)-1;
        if (setgroups((size_t)ngroups, &extra) != 0 || setgid(gid) != 0 || setuid(uid) != 0) { printf("FAIL setuid %u\n", (unsigned)uid); _exit(1); }
        fn(&cc, arg);
        fflush(stdout);
        _exit(cc.fails ? 1 : 0);
    }
    close(pipefd[1]);
    char line[512];
    FILE *in = fdopen(pipefd[0], "r");
    int child_checks = 0, child_fails = 0;
    while (fgets(line, sizeof line, in)) {
        fputs(line, stdout);
        child_checks++;
        if (!strncmp(line, "FAIL", 4)) child_fails++;
    }
    fclose(in);
    int st;
    waitpid(pid, &st, 0);
    c->checks += child_checks;
    c->fails += child_fails;
    check(c, WIFEXITED(st) && (WEXITSTATUS(st) == 0) == (child_fails == 0) && child_checks >= min_checks,
          "child as uid %u ran all its checks (%d checks, exit %d)", (unsigned)uid, child_checks, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

/* as_user_in without supplementary groups. */
static void as_user(struct ctx *c, uid_t uid, gid_t gid, void (*fn)(struct ctx *c, void *arg),
                    void *arg, int min_checks)
{
    as_user_in(c, uid, gid, (gid_t)-1, fn, arg, min_checks);
}

/* The paths t_perms prepares as root for its uid-nobody child. */
struct perm_paths {
    char f[PATH_MAX], pf[PATH_MAX], pd[PATH_MAX];
};

static void perms_as_nobody(struct ctx *c, void *arg)
{
    const struct perm_paths *pp = arg;
    const char *f = pp->f, *pf = pp->pf, *pd = pp->pd;
    char q[PATH_MAX];
    struct stat st;
    char buf[16];
    EXPECT_OK(c, stat(f, &st), "nobody: stat a 0644 file in a 0755 dir");
    check(c, content_is(f, "secret"), "nobody: read a 0644 file");
    EXPECT_ERR(c, open(f, O_WRONLY), EACCES, "nobody: open 0644 root file for writing");
    EXPECT_ERR(c, access(f, W_OK), EACCES, "nobody: access(W_OK) on 0644 root file");
    EXPECT_OK(c, access(f, R_OK), "nobody: access(R_OK) on 0644 root file");
    EXPECT_ERR(c, open(pf, O_RDONLY), EACCES, "nobody: open 0600 root file");
    EXPECT_ERR(c, open(P(c, q, "perm/new"), O_CREAT | O_WRONLY, 0644), EACCES, "nobody: create in 0755 root dir");
    EXPECT_ERR(c, mkdir(P(c, q, "perm/newdir"), 0755), EACCES, "nobody: mkdir in 0755 root dir");
    EXPECT_ERR(c, unlink(f), EACCES, "nobody: unlink in 0755 root dir");
    EXPECT_ERR(c, stat(P(c, q, "perm/privdir/inner"), &st), EACCES, "nobody: stat inside a 0700 dir");
    EXPECT_ERR(c, opendir(pd) ? 0 : -1, EACCES, "nobody: opendir a 0700 dir");
    EXPECT_ERR(c, chmod(f, 0777), EPERM, "nobody: chmod a root file");
    EXPECT_ERR(c, chown(f, 65534, 65534), EPERM, "nobody: chown a root file");
    struct timespec ts[2] = {{1, 0}, {1, 0}};
    EXPECT_ERR(c, utimensat(AT_FDCWD, f, ts, 0), EPERM, "nobody: set explicit times on a root file");
    EXPECT_ERR(c, utimensat(AT_FDCWD, f, NULL, 0), EACCES, "nobody: utimensat(NULL) without write access");
    EXPECT_OK(c, utimensat(AT_FDCWD, P(c, q, "perm/sticky/rootowned"), NULL, 0), "nobody: utimensat(NULL) on a 0666 file");
    EXPECT_ERR(c, unlink(q), EPERM, "nobody: unlink root's file in a sticky dir");
    struct timespec now_omit[2] = {{0, UTIME_NOW}, {0, UTIME_OMIT}}, omit2[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
    EXPECT_ERR(c, utimensat(AT_FDCWD, q, now_omit, 0), EPERM, "nobody: utimensat(UTIME_NOW, UTIME_OMIT) on a 0666 file it does not own");
    EXPECT_OK(c, utimensat(AT_FDCWD, q, omit2, 0), "nobody: utimensat(UTIME_OMIT, UTIME_OMIT) on it");
    char mine[PATH_MAX], other[PATH_MAX];
    P(c, mine, "perm/sticky/mine");
    check(c, write_file(mine, "m", 1) == 0, "nobody: create in the sticky dir");
    EXPECT_ERR(c, rename(q, P(c, other, "perm/sticky/moved")), EPERM, "nobody: rename root's file in a sticky dir");
    EXPECT_ERR(c, rename(mine, q), EPERM, "nobody: rename own file over root's in a sticky dir");
    EXPECT_ERR(c, rmdir(P(c, other, "perm/sticky/rootdir")), EPERM, "nobody: rmdir root's dir in a sticky dir");
    EXPECT_OK(c, rename(mine, P(c, other, "perm/sticky/mine2")), "nobody: rename own file in a sticky dir");
    EXPECT_OK(c, unlink(other), "nobody: unlink own file in a sticky dir");
    EXPECT_ERR(c, setxattr(f, "user.n", "v", 1, 0), EACCES, "nobody: setxattr on a 0644 root file");
    EXPECT_ERR(c, getxattr(pf, "user.n", buf, sizeof buf), EACCES, "nobody: getxattr on a 0600 root file");
    int fd = open(P(c, q, "perm/open/mine"), O_CREAT | O_WRONLY, 0640);
    check(c, fd >= 0, "nobody: create in a 0777 dir");
    if (fd >= 0) close(fd);
    int sr = stat(q, &st);
    check(c, sr == 0 && st.st_uid == 65534 && st.st_gid == 65534, "nobody: new file owned by nobody:nogroup (%u:%u)", st.st_uid, st.st_gid);
    EXPECT_OK(c, chmod(q, 0600), "nobody: chmod own file");
    EXPECT_ERR(c, chown(q, 0, 0), EPERM, "nobody: give own file to root");
    EXPECT_OK(c, mkdir(P(c, q, "perm/open/mydir"), 0700), "nobody: mkdir in 0777 dir");
    char q2[PATH_MAX];
    EXPECT_OK(c, rename(q, P(c, q2, "perm/open/mydir2")), "nobody: rename own dir");
}

static void t_perms(struct ctx *c)
{
    struct perm_paths pp;
    char d[PATH_MAX], sd[PATH_MAX], q[PATH_MAX];
    char *f = pp.f, *pf = pp.pf, *pd = pp.pd;
    printf("== permissions as uid nobody (default_permissions)\n");
    if (geteuid() != 0) { check(c, 0, "permission tests need root"); return; }
    P(c, d, "perm");
    mkdir(d, 0755);
    chmod(c->base, 0755);
    P(c, f, "perm/rootfile");
    write_file(f, "secret", 6);
    chmod(f, 0644);
    P(c, pf, "perm/private");
    write_file(pf, "p", 1);
    chmod(pf, 0600);
    P(c, pd, "perm/privdir");
    mkdir(pd, 0700);
    write_file(P(c, q, "perm/privdir/inner"), "i", 1);
    P(c, sd, "perm/sticky");
    mkdir(sd, 01777);
    chmod(sd, 01777);
    write_file(P(c, q, "perm/sticky/rootowned"), "r", 1);
    chmod(q, 0666);
    mkdir(P(c, q, "perm/sticky/rootdir"), 0777);
    chmod(q, 0777);
    char open_dir[PATH_MAX];
    P(c, open_dir, "perm/open");
    mkdir(open_dir, 0777);
    chmod(open_dir, 0777);
    as_user(c, 65534, 65534, perms_as_nobody, &pp, 30);
}

static void t_fallocate_sparse(struct ctx *c)
{
    char f[PATH_MAX];
    printf("== sparse files and fallocate\n");
    P(c, f, "sparse");
    int fd = open(f, O_RDWR | O_CREAT | O_TRUNC, 0644);
    check(c, pwrite(fd, "end", 3, (off_t)1 << 30) == 3, "write 3 bytes at 1 GiB");
    struct stat s;
    fstat(fd, &s);
    check(c, s.st_size == ((off_t)1 << 30) + 3, "size 1 GiB + 3");
    check(c, (long long)s.st_blocks * 512 < (8 << 20), "sparse: st_blocks small (%lld blocks)", (long long)s.st_blocks);
    char buf[4096], zero[4096] = {0};
    check(c, pread(fd, buf, sizeof buf, 512 << 20) == 4096 && !memcmp(buf, zero, 4096), "hole reads as zeros");
    check(c, pwrite(fd, "XXXXXXXX", 8, 100) == 8, "write in the hole");
    EXPECT_OK(c, fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096), "punch hole over it");
    check(c, pread(fd, buf, 16, 96) == 16 && !memcmp(buf, zero, 16), "punched range reads zeros");
    fstat(fd, &s);
    check(c, s.st_size == ((off_t)1 << 30) + 3, "punch hole keeps size");
    EXPECT_ERR(c, fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, 4096), EOPNOTSUPP, "PUNCH_HOLE without KEEP_SIZE");
    /* Offsets far beyond 4 GiB (64-bit chunk indexes). */
    const off_t far[2] = {((off_t)5 << 30) + 123, ((off_t)1 << 40) - 7};
    for (int i = 0; i < 2; i++) {
        char w[32];
        snprintf(w, sizeof w, "far-%d", i);
        check(c, pwrite(fd, w, strlen(w), far[i]) == (ssize_t)strlen(w), "write at offset %lld", (long long)far[i]);
        memset(buf, 0, 32);
        check(c, pread(fd, buf, 32, far[i]) == (ssize_t)strlen(w) && !memcmp(buf, w, strlen(w)), "read back at offset %lld", (long long)far[i]);
    }
    fstat(fd, &s);
    check(c, s.st_size == far[1] + 5, "size %lld after the far write", (long long)s.st_size);
    check(c, pread(fd, buf, 16, ((off_t)3 << 30)) == 16 && !memcmp(buf, zero, 16), "hole between far writes reads zeros");
    const off_t max = 17592186040320LL; /* ext4's largest file with 4 KiB blocks, and lsmfs's */
    if (getenv("ERRNO_WRITEBACK")) {
        /* the kernel's writeback cache takes the write before the daemon can refuse it */
        printf("     writes past the largest file size not tried: writeback cache\n");
    } else {
        check(c, pwrite(fd, "ab", 2, max - 1) == 1, "a write across the largest file size is cut short at it");
        EXPECT_ERR(c, pwrite(fd, "a", 1, max), EFBIG, "a write at the largest file size");
        EXPECT_ERR(c, pwrite(fd, "a", 1, 999999999999999999LL), EFBIG, "a write at 10^18");
    }
    EXPECT_ERR(c, ftruncate(fd, 999999999999999999LL), EFBIG, "ftruncate to 10^18 bytes");
    EXPECT_ERR(c, truncate(f, 999999999999999999LL), EFBIG, "truncate to 10^18 bytes");
    EXPECT_OK(c, ftruncate(fd, 4096), "truncate the 1 TiB file to 4 KiB");
    check(c, pread(fd, buf, 16, far[0]) == 0, "nothing past the new end");
    close(fd);
}

/* ---------------------------------------------------------------------------------------- */
/* Differences from ext4 found by differential runs, and the rules around them. */

static mode_t mode_of(const char *p) { return st_of(p).st_mode & 07777; }

/* 1 if value of xattr name of the open file fd is want (NUL-terminated). */
static int fxattr_is(int fd, const char *name, const char *want)
{
    char buf[64];
    ssize_t n = fgetxattr(fd, name, buf, sizeof buf);
    return n == (ssize_t)strlen(want) && memcmp(buf, want, (size_t)n) == 0;
}

static void t_xattr_unlinked(struct ctx *c)
{
    char f[PATH_MAX], buf[64];
    printf("== xattrs of an open file whose last name is gone\n");
    P(c, f, "xu");
    int fd = open(f, O_RDWR | O_CREAT | O_TRUNC, 0644);
    check(c, fd >= 0 && write(fd, "data", 4) == 4, "create and write");
    EXPECT_OK(c, fsetxattr(fd, "user.before", "B", 1, 0), "fsetxattr while named");
    EXPECT_OK(c, unlink(f), "unlink while open");
    check(c, fxattr_is(fd, "user.before", "B"), "fgetxattr after unlink reads the value set before");
    EXPECT_OK(c, fsetxattr(fd, "user.after", "AA", 2, 0), "fsetxattr after unlink");
    check(c, fxattr_is(fd, "user.after", "AA"), "fgetxattr reads it back");
    EXPECT_ERR(c, fsetxattr(fd, "user.after", "x", 1, XATTR_CREATE), EEXIST, "XATTR_CREATE on an existing name after unlink");
    ssize_t n = flistxattr(fd, buf, sizeof buf);
    const char want[] = "user.after\0user.before\0";
    int seen = 0;
    for (ssize_t i = 0; n > 0 && i < n; i += (ssize_t)strlen(buf + i) + 1)
        seen += !strcmp(buf + i, "user.after") || !strcmp(buf + i, "user.before");
    check(c, n == (ssize_t)sizeof want - 1 && seen == 2, "flistxattr after unlink lists both names (%zd bytes)", n);
    struct stat a, b;
    fstat(fd, &a);
    nap();
    EXPECT_OK(c, fremovexattr(fd, "user.before"), "fremovexattr after unlink");
    fstat(fd, &b);
    check(c, ts_cmp(b.st_ctim, a.st_ctim) > 0, "fremovexattr after unlink moves ctime");
    EXPECT_ERR(c, fgetxattr(fd, "user.before", buf, sizeof buf), ENODATA, "removed name is gone");
    EXPECT_ERR(c, fremovexattr(fd, "user.before"), ENODATA, "fremovexattr of a missing name after unlink");
    close(fd);
    /* a file with two names, one of them removed while a descriptor holds the file */
    char g[PATH_MAX];
    write_file(f, "two", 3);
    EXPECT_OK(c, link(f, P(c, g, "xu.other")), "second name");
    fd = open(f, O_RDONLY);
    EXPECT_OK(c, unlink(f), "unlink the name the descriptor was opened by");
    EXPECT_OK(c, fsetxattr(fd, "user.l", "L", 1, 0), "fsetxattr through the descriptor");
    check(c, getxattr(g, "user.l", buf, sizeof buf) == 1, "visible through the remaining name");
    EXPECT_OK(c, fchmod(fd, 0600), "fchmod through the descriptor");
    check(c, mode_of(g) == 0600, "the mode shows through the remaining name (%o)", mode_of(g));
    close(fd);
}

/* Whether c->base is on a FUSE file system (some kernel answers differ there by design). */
static int on_fuse(const struct ctx *c)
{
    struct statfs sf;
    return statfs(c->base, &sf) == 0 && sf.f_type == 0x65735546; /* FUSE_SUPER_MAGIC */
}

static void xattr_ns_as_nobody(struct ctx *c, void *arg)
{
    const char *f = arg;
    char buf[1024];
    ssize_t n = listxattr(f, buf, sizeof buf), sz = listxattr(f, NULL, 0);
    int t = 0, u = 0;
    for (ssize_t i = 0; n > 0 && i < n; i += (ssize_t)strlen(buf + i) + 1) {
        t += !strncmp(buf + i, "trusted.", 8);
        u += !strcmp(buf + i, "user.u");
    }
    check(c, n > 0 && t == 0 && u == 1, "nobody: listxattr hides trusted.* names, shows user.u");
    check(c, sz == n, "nobody: listxattr size query agrees with the list (%zd, %zd)", sz, n);
    EXPECT_ERR(c, getxattr(f, "trusted.t", buf, sizeof buf), ENODATA, "nobody: getxattr trusted.t");
    EXPECT_ERR(c, setxattr(f, "trusted.n", "1", 1, 0), EPERM, "nobody: setxattr trusted.*");
    EXPECT_ERR(c, setxattr(f, "security.n", "1", 1, 0), EPERM, "nobody: setxattr security.*");
}

static void t_xattr_namespaces(struct ctx *c)
{
    char f[PATH_MAX], s[PATH_MAX], q[PATH_MAX], buf[256];
    printf("== xattr namespaces and limits\n");
    P(c, f, "xn");
    write_file(f, "x", 1);
    EXPECT_ERR(c, setxattr(f, "foo.bar", "1", 1, 0), EOPNOTSUPP, "setxattr in an unknown namespace");
    EXPECT_ERR(c, getxattr(f, "foo.bar", buf, sizeof buf), EOPNOTSUPP, "getxattr in an unknown namespace");
    EXPECT_ERR(c, removexattr(f, "foo.bar"), EOPNOTSUPP, "removexattr in an unknown namespace");
    EXPECT_ERR(c, setxattr(f, "system.foo", "1", 1, 0), EOPNOTSUPP, "setxattr system.foo");
    EXPECT_ERR(c, getxattr(f, "system.foo", buf, sizeof buf), EOPNOTSUPP, "getxattr system.foo");
    EXPECT_ERR(c, setxattr(f, "user.", "1", 1, 0), EINVAL, "setxattr of a bare \"user.\"");
    EXPECT_ERR(c, getxattr(f, "user.", buf, sizeof buf), EINVAL, "getxattr of a bare \"user.\"");
    EXPECT_ERR(c, removexattr(f, "trusted."), EINVAL, "removexattr of a bare \"trusted.\"");
    EXPECT_OK(c, setxattr(f, "trusted.t", "T", 1, 0), "root: setxattr trusted.t");
    EXPECT_OK(c, setxattr(f, "security.s", "S", 1, 0), "root: setxattr security.s");
    EXPECT_OK(c, setxattr(f, "user.u", "U", 1, 0), "root: setxattr user.u");
    ssize_t n = listxattr(f, buf, sizeof buf);
    int t = 0, sec = 0, u = 0;
    for (ssize_t i = 0; n > 0 && i < n; i += (ssize_t)strlen(buf + i) + 1) {
        t += !strcmp(buf + i, "trusted.t");
        sec += !strcmp(buf + i, "security.s");
        u += !strcmp(buf + i, "user.u");
    }
    check(c, t == 1 && sec == 1 && u == 1, "root: listxattr shows trusted.t, security.s and user.u");
    chmod(f, 0644);
    /* user.* only on regular files and directories */
    P(c, s, "xn.sym");
    symlink("xn", s);
    EXPECT_ERR(c, lsetxattr(s, "user.x", "1", 1, 0), EPERM, "lsetxattr user.* on a symlink");
    EXPECT_ERR(c, lgetxattr(s, "user.x", buf, sizeof buf), ENODATA, "lgetxattr user.* on a symlink");
    EXPECT_OK(c, lsetxattr(s, "trusted.x", "1", 1, 0), "root: lsetxattr trusted.* on a symlink");
    check(c, lgetxattr(s, "trusted.x", buf, sizeof buf) == 1 && getxattr(s, "trusted.x", buf, sizeof buf) < 0,
          "the symlink's own trusted.x, not its target's");
    P(c, q, "xn.fifo");
    mkfifo(q, 0666);
    EXPECT_ERR(c, setxattr(q, "user.x", "1", 1, 0), EPERM, "setxattr user.* on a FIFO");
    /* limits: names of 255 bytes, values of 64 KiB (a bigger value is E2BIG before any store) */
    char name[300];
    memcpy(name, "user.", 5);
    memset(name + 5, 'n', 250);
    name[255] = 0;
    EXPECT_OK(c, setxattr(f, name, "v", 1, 0), "255-byte name");
    check(c, getxattr(f, name, buf, sizeof buf) == 1, "255-byte name read back");
    name[255] = 'n';
    name[256] = 0;
    EXPECT_ERR(c, setxattr(f, name, "v", 1, 0), ERANGE, "256-byte name");
    EXPECT_ERR(c, getxattr(f, name, buf, sizeof buf), ERANGE, "getxattr of a 256-byte name");
    char *big = calloc(1, 65537);
    EXPECT_ERR(c, setxattr(f, "user.big", big, 65537, 0), E2BIG, "value of 64 KiB + 1");
    free(big);
    as_user(c, 65534, 65534, xattr_ns_as_nobody, f, 5);
}


/* The paths t_suid prepares for its unprivileged children. */
struct suid_paths {
    char wr[PATH_MAX], tr[PATH_MAX], other[PATH_MAX], sg[PATH_MAX], otr[PATH_MAX], otr_other[PATH_MAX];
    char new_ug[PATH_MAX], new_u[PATH_MAX], new_g[PATH_MAX]; /* created by nobody */
};

/* open(path, O_WRONLY | O_TRUNC) as who, then check that its mode bits are want. */
static void otrunc_then_mode(struct ctx *c, const char *path, const char *who, mode_t want)
{
    int fd = open(path, O_WRONLY | O_TRUNC);
    check(c, fd >= 0, "%s: O_TRUNC open of a %o file", who, mode_of(path));
    if (fd >= 0) close(fd);
    check(c, mode_of(path) == want && st_of(path).st_size == 0, "%s: after O_TRUNC the mode is %o (%o)", who, want, mode_of(path));
}

/* Append a byte to path as who, then check that its mode bits are want. */
static void append_then_mode(struct ctx *c, const char *path, const char *who, mode_t want)
{
    int fd = open(path, O_WRONLY | O_APPEND);
    check(c, fd >= 0 && write(fd, "x", 1) == 1, "%s: append to a %o file", who, mode_of(path));
    if (fd >= 0) close(fd);
    check(c, mode_of(path) == want, "%s: after the write the mode is %o (%o)", who, want, mode_of(path));
}

/* Create path write-only as who, set its mode to mode (the umask may have cut it), write twice
 * through that descriptor and check that the mode is want after each write.  On lsmfs such a
 * handle writes directly (fs/fuse_ops.c, direct_create): the daemon, not the kernel, clears the
 * bits there. */
static void create_write_mode(struct ctx *c, const char *path, const char *who, mode_t mode,
                              mode_t want)
{
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, mode);
    check(c, fd >= 0 && fchmod(fd, mode) == 0, "%s: create a %o file write-only", who, mode);
    for (int i = 0; i < 2 && fd >= 0; i++) {
        check(c, write(fd, "x", 1) == 1, "%s: write %d to the new %o file", who, i + 1, mode);
        struct stat st;
        check(c, mode_of(path) == want && fstat(fd, &st) == 0 && (st.st_mode & 07777) == want,
              "%s: after write %d the mode is %o (%o)", who, i + 1, want, mode_of(path));
    }
    if (fd >= 0) close(fd);
}

static void suid_as_nobody(struct ctx *c, void *arg)
{
    const struct suid_paths *sp = arg;
    create_write_mode(c, sp->new_ug, "nobody", 06775, 0775);
    create_write_mode(c, sp->new_u, "nobody", 04745, 0745);
    create_write_mode(c, sp->new_g, "nobody", 02745, 02745); /* no group execute: S_ISGID stays */
    append_then_mode(c, sp->wr, "nobody (owner)", 0775);
    otrunc_then_mode(c, sp->otr, "nobody (owner)", 0775);
    EXPECT_OK(c, truncate(sp->tr, 0), "nobody: truncate own 06777 file");
    check(c, mode_of(sp->tr) == 0777, "nobody: the truncate cleared S_ISUID and S_ISGID (%o)", mode_of(sp->tr));
    EXPECT_OK(c, chmod(sp->sg, 02755), "nobody: chmod g+s of own file of a group it is not in");
    check(c, mode_of(sp->sg) == 0755, "nobody: S_ISGID silently dropped (%o)", mode_of(sp->sg));
}

static void suid_as_other(struct ctx *c, void *arg)
{
    const struct suid_paths *sp = arg;
    append_then_mode(c, sp->other, "uid 1000 (not the owner)", 0777);
    otrunc_then_mode(c, sp->otr_other, "uid 1000 (not the owner)", 0777);
}

/* A write removes a file's security.capability, whoever writes (the kernel asks before a
 * write through the page cache; for the direct handle of a write-only create the lsmfs daemon
 * does it): one file created write-only, one opened write-only after its create. */
static void caps_killed_by_write(struct ctx *c)
{
    /* struct vfs_cap_data, revision 2, permitting CAP_NET_RAW: little-endian words */
    static const unsigned char cap[20] = {0, 0, 0, 2, 0, 0x20};
    char f[PATH_MAX], buf[64];
    for (int created = 1; created >= 0; created--) {
        P(c, f, created ? "sid/caps-created" : "sid/caps-opened");
        int fd = created ? open(f, O_CREAT | O_EXCL | O_WRONLY, 0755) : -1;
        if (!created) {
            write_file(f, "a", 1);
            fd = open(f, O_WRONLY);
        }
        check(c, fd >= 0 && write(fd, "a", 1) == 1, "%s file: write", created ? "created" : "opened");
        EXPECT_OK(c, setxattr(f, "security.capability", cap, sizeof cap, 0), "root: set security.capability");
        check(c, getxattr(f, "security.capability", buf, sizeof buf) == (ssize_t)sizeof cap, "security.capability is there");
        check(c, fd >= 0 && write(fd, "b", 1) == 1, "write with security.capability set");
        EXPECT_ERR(c, getxattr(f, "security.capability", buf, sizeof buf), ENODATA,
                   created ? "the write to the created file removed security.capability"
                           : "the write to the opened file removed security.capability");
        if (fd >= 0) close(fd);
    }
}

/* Set-id bits: cleared by writes and truncates of callers without CAP_FSETID, by chown. */
static void t_suid(struct ctx *c)
{
    struct suid_paths sp;
    char f[PATH_MAX], d[PATH_MAX];
    printf("== set-user-ID and set-group-ID bits\n");
    P(c, d, "sid");
    mkdir(d, 0777);
    chmod(d, 0777);
    P(c, f, "sid/root");
    write_file(f, "", 0);
    chmod(f, 06775);
    append_then_mode(c, f, "root (CAP_FSETID)", 06775);
    otrunc_then_mode(c, f, "root (CAP_FSETID)", 06775);
    EXPECT_OK(c, chown(f, 65534, -1), "root: chown a 06775 file");
    check(c, mode_of(f) == 0775, "chown cleared S_ISUID and S_ISGID (%o)", mode_of(f));
    chmod(f, 06755);
    EXPECT_OK(c, chown(f, -1, 65534), "root: chgrp a 06755 file");
    check(c, !(mode_of(f) & S_ISUID), "chgrp cleared S_ISUID (%o)", mode_of(f));
    P(c, d, "sid/dir");
    mkdir(d, 02775);
    chmod(d, 06775);
    EXPECT_OK(c, chown(d, 65534, -1), "root: chown a 06775 directory");
    check(c, mode_of(d) == 06775, "chown keeps the bits of a directory (%o)", mode_of(d));
    P(c, sp.wr, "sid/nobody-w");
    P(c, sp.tr, "sid/nobody-t");
    P(c, sp.sg, "sid/nobody-sg");
    P(c, sp.other, "sid/other");
    P(c, sp.otr, "sid/nobody-otrunc");
    P(c, sp.otr_other, "sid/other-otrunc");
    P(c, sp.new_ug, "sid/nobody-new-ug");
    P(c, sp.new_u, "sid/nobody-new-u");
    P(c, sp.new_g, "sid/nobody-new-g");
    const char *own[] = {sp.wr, sp.tr, sp.sg, sp.otr};
    for (int i = 0; i < 4; i++) {
        write_file(own[i], "y", 1);
        chown(own[i], 65534, 65534);
    }
    chown(sp.sg, 65534, 4444);
    chmod(sp.wr, 06775);
    chmod(sp.tr, 06777);
    chmod(sp.sg, 0755);
    chmod(sp.otr, 06775);
    write_file(sp.other, "z", 1);
    chmod(sp.other, 06777);
    write_file(sp.otr_other, "z", 1);
    chmod(sp.otr_other, 06777);
    P(c, f, "sid/root-new");
    create_write_mode(c, f, "root (CAP_FSETID)", 06775, 06775);
    caps_killed_by_write(c);
    as_user(c, 65534, 65534, suid_as_nobody, &sp, 23);
    as_user(c, 1000, 1000, suid_as_other, &sp, 4);
}

/* The files t_sgid_nonmember prepares: owned by nobody, group 4444, mode 02745. */
struct sgid_paths {
    char app[PATH_MAX], tr[PATH_MAX], otr[PATH_MAX], own[PATH_MAX], ut[PATH_MAX], mem[PATH_MAX];
};

static void sgid_as_nonmember(struct ctx *c, void *arg)
{
    const struct sgid_paths *sp = arg;
    append_then_mode(c, sp->app, "nobody (not in the group)", 0745);
    EXPECT_OK(c, truncate(sp->tr, 0), "nobody: truncate own 02745 file of another group");
    check(c, mode_of(sp->tr) == 0745, "nobody: the truncate cleared S_ISGID (%o)", mode_of(sp->tr));
    otrunc_then_mode(c, sp->otr, "nobody (not in the group)", 0745);
    EXPECT_OK(c, chown(sp->own, -1, -1), "nobody: chown(-1, -1) of own 02745 file");
    check(c, mode_of(sp->own) == 0745, "nobody: the chown cleared S_ISGID (%o)", mode_of(sp->own));
    EXPECT_OK(c, utimensat(AT_FDCWD, sp->ut, NULL, 0), "nobody: utimensat of own 02745 file");
    check(c, mode_of(sp->ut) == 02745, "nobody: utimensat kept S_ISGID (%o)", mode_of(sp->ut));
}

static void sgid_as_member(struct ctx *c, void *arg)
{
    const struct sgid_paths *sp = arg;
    append_then_mode(c, sp->mem, "nobody (in the group as a supplementary one)", 02745);
    EXPECT_OK(c, truncate(sp->mem, 0), "nobody in the group: truncate");
    check(c, mode_of(sp->mem) == 02745, "nobody in the group: S_ISGID kept (%o)", mode_of(sp->mem));
}

/* S_ISGID without group execute (not set-group-ID, but kept by chmod as a mode bit): a write,
 * truncate or chown by a caller who is neither root nor in the file's group clears it (Linux's
 * setattr_should_drop_sgid, as ext4 has it since 6.2); a member of the group keeps it. */
static void t_sgid_nonmember(struct ctx *c)
{
    struct sgid_paths sp;
    char d[PATH_MAX];
    printf("== S_ISGID of a file that is not group-executable\n");
    P(c, d, "sgnm");
    mkdir(d, 0777);
    chmod(d, 0777);
    P(c, sp.app, "sgnm/append");
    P(c, sp.tr, "sgnm/truncate");
    P(c, sp.otr, "sgnm/otrunc");
    P(c, sp.own, "sgnm/chown");
    P(c, sp.ut, "sgnm/utime");
    P(c, sp.mem, "sgnm/member");
    const char *all[] = {sp.app, sp.tr, sp.otr, sp.own, sp.ut, sp.mem};
    for (int i = 0; i < 6; i++) {
        write_file(all[i], "y", 1);
        chown(all[i], 65534, 4444);
        chmod(all[i], 02745);
    }
    as_user(c, 65534, 65534, sgid_as_nonmember, &sp, 9);
    as_user_in(c, 65534, 65534, 4444, sgid_as_member, &sp, 3);
}

static void t_attr_ctime(struct ctx *c)
{
    char f[PATH_MAX];
    printf("== attribute calls that change nothing still move ctime\n");
    P(c, f, "ac");
    write_file(f, "x", 1);
    struct stat a = st_of(f);
    nap();
    EXPECT_OK(c, chown(f, -1, -1), "chown(f, -1, -1)");
    struct stat b = st_of(f);
    check(c, ts_cmp(b.st_ctim, a.st_ctim) > 0 && ts_cmp(b.st_mtim, a.st_mtim) == 0, "chown(-1, -1) moves ctime only");
    nap();
    EXPECT_OK(c, chmod(f, a.st_mode & 07777), "chmod to the same mode");
    struct stat d = st_of(f);
    check(c, ts_cmp(d.st_ctim, b.st_ctim) > 0, "chmod to the same mode moves ctime");
    nap();
    struct timespec omit[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
    EXPECT_OK(c, utimensat(AT_FDCWD, f, omit, 0), "utimensat(UTIME_OMIT, UTIME_OMIT)");
    struct stat e = st_of(f);
    check(c, ts_cmp(e.st_ctim, d.st_ctim) == 0, "UTIME_OMIT for both changes nothing, not even ctime");
}

/* A file open with a write buffered in the daemon, and times set while it is open: link, rename
 * and unlink of its names still move its ctime, and its close does not put an older one back. */
static void t_open_ctime(struct ctx *c)
{
    char f[PATH_MAX], g[PATH_MAX], h[PATH_MAX];
    struct stat a, b;
    printf("== names of an open file with buffered writes move its ctime\n");
    P(c, f, "oc");
    P(c, g, "oc.link");
    P(c, h, "oc.moved");
    int fd = open(f, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    check(c, fd >= 0 && write(fd, "more", 4) == 4, "create and write oc");
    struct timespec old[2] = {{1, 0}, {1, 0}};
    EXPECT_OK(c, utimensat(AT_FDCWD, f, old, 0), "utimensat of the open file");
    fstat(fd, &a);
    const char *what[3] = {"link", "rename of the second name", "unlink of the second name"};
    for (int i = 0; i < 3; i++) {
        nap();
        int r = i == 0 ? link(f, g) : i == 1 ? rename(g, h) : unlink(h);
        check(c, r == 0, "%s (%s)", what[i], r == 0 ? "ok" : strerror(errno));
        fstat(fd, &b);
        check(c, ts_cmp(b.st_ctim, a.st_ctim) > 0, "%s moves the open file's ctime", what[i]);
        check(c, b.st_mtim.tv_sec == 1, "%s keeps the mtime set while open", what[i]);
        a = b;
    }
    if (fd >= 0) close(fd);
    b = st_of(f);
    check(c, ts_cmp(b.st_ctim, a.st_ctim) == 0 && b.st_mtim.tv_sec == 1,
          "after close: the same ctime and mtime");
}

static void t_rename_dots(struct ctx *c)
{
    char a[PATH_MAX], q[PATH_MAX], r[PATH_MAX];
    printf("== rename and rmdir of \".\" and \"..\", directory link counts across moves\n");
    P(c, a, "rd2/a/b");
    mkdir(P(c, q, "rd2"), 0755);
    mkdir(P(c, q, "rd2/a"), 0755);
    mkdir(a, 0755);
    EXPECT_ERR(c, rename(P(c, q, "rd2/a/."), P(c, r, "rd2/z")), EBUSY, "rename dir/. elsewhere");
    EXPECT_ERR(c, rename(P(c, q, "rd2/a/.."), P(c, r, "rd2/z")), EBUSY, "rename dir/.. elsewhere");
    EXPECT_ERR(c, rename(P(c, q, "rd2/a/b"), P(c, r, "rd2/a/.")), EBUSY, "rename onto dir/.");
    EXPECT_ERR(c, rmdir(P(c, q, "rd2/a/b/..")), ENOTEMPTY, "rmdir dir/..");
    EXPECT_ERR(c, rename(P(c, q, "rd2/a"), P(c, r, "rd2/a/b/c")), EINVAL, "rename dir into its own subtree");
    /* moving a directory to another parent moves one link from the old parent to the new */
    mkdir(P(c, q, "rd2/p1"), 0755);
    mkdir(P(c, q, "rd2/p2"), 0755);
    mkdir(P(c, q, "rd2/p1/m"), 0755);
    struct stat m0 = st_of(q);
    nap();
    EXPECT_OK(c, rename(q, P(c, r, "rd2/p2/m")), "move a directory to another parent");
    struct stat m1 = st_of(r);
    check(c, st_of(P(c, q, "rd2/p1")).st_nlink == 2 && st_of(P(c, q, "rd2/p2")).st_nlink == 3,
          "old parent nlink 2, new parent nlink 3 (%lu, %lu)", (unsigned long)st_of(P(c, q, "rd2/p1")).st_nlink,
          (unsigned long)st_of(P(c, r, "rd2/p2")).st_nlink);
    check(c, ts_cmp(m1.st_ctim, m0.st_ctim) > 0, "the moved directory's ctime moves");
    struct stat dd, p2;
    check(c, stat(P(c, q, "rd2/p2/m/.."), &dd) == 0 && stat(P(c, r, "rd2/p2"), &p2) == 0 && dd.st_ino == p2.st_ino,
          "\"..\" of the moved directory is its new parent");
    /* replacing an empty directory drops the replaced one's link from its parent */
    mkdir(P(c, q, "rd2/p1/e"), 0755);
    EXPECT_OK(c, rename(P(c, q, "rd2/p2/m"), P(c, r, "rd2/p1/e")), "move a directory over an empty one");
    check(c, st_of(P(c, q, "rd2/p1")).st_nlink == 3 && st_of(P(c, r, "rd2/p2")).st_nlink == 2,
          "link counts after replacing: 3 and 2 (%lu, %lu)", (unsigned long)st_of(P(c, q, "rd2/p1")).st_nlink,
          (unsigned long)st_of(P(c, r, "rd2/p2")).st_nlink);
    check(c, st_of(P(c, q, "rd2")).st_nlink == 5, "grandparent nlink unchanged at 5 (%lu)", (unsigned long)st_of(q).st_nlink);
}

static void t_open_flags2(struct ctx *c)
{
    char f[PATH_MAX], s[PATH_MAX], d[PATH_MAX], q[PATH_MAX], buf[16];
    struct stat st;
    printf("== O_NOFOLLOW, O_DIRECTORY, O_PATH, O_TMPFILE, O_CREAT through symlinks, O_APPEND pwrite\n");
    P(c, f, "of2");
    write_file(f, "hello", 5);
    P(c, s, "of2.sl");
    symlink("of2", s);
    P(c, d, "of2.d");
    mkdir(d, 0755);
    P(c, q, "of2.sld");
    symlink("of2.d", q);
    EXPECT_ERR(c, open(s, O_NOFOLLOW | O_CREAT | O_WRONLY, 0644), ELOOP, "O_NOFOLLOW|O_CREAT on a symlink");
    EXPECT_ERR(c, open(q, O_DIRECTORY | O_NOFOLLOW | O_RDONLY), ENOTDIR, "O_DIRECTORY|O_NOFOLLOW on a symlink to a dir");
    int fd = open(q, O_DIRECTORY | O_RDONLY);
    check(c, fd >= 0, "O_DIRECTORY through a symlink to a dir");
    if (fd >= 0) close(fd);
    EXPECT_ERR(c, open(P(c, q, "of2.new"), O_CREAT | O_DIRECTORY | O_RDWR, 0644), EINVAL, "O_CREAT|O_DIRECTORY");
    fd = open(s, O_PATH | O_NOFOLLOW);
    check(c, fd >= 0 && fstat(fd, &st) == 0 && S_ISLNK(st.st_mode), "O_PATH|O_NOFOLLOW opens the symlink itself");
    if (fd >= 0) close(fd);
    fd = open(f, O_PATH);
    check(c, fd >= 0 && fstat(fd, &st) == 0 && st.st_size == 5, "O_PATH: fstat works");
    EXPECT_ERR(c, read(fd, buf, 1), EBADF, "O_PATH: read is EBADF");
    if (fd >= 0) close(fd);
    P(c, q, "of2.dang");
    symlink("of2.target", q);
    fd = open(q, O_CREAT | O_WRONLY, 0644);
    check(c, fd >= 0 && stat(P(c, d, "of2.target"), &st) == 0 && S_ISREG(st.st_mode), "O_CREAT through a dangling symlink creates its target");
    if (fd >= 0) close(fd);
    P(c, q, "of2.dang2");
    symlink("of2.target2", q);
    EXPECT_ERR(c, open(q, O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST, "O_CREAT|O_EXCL on a dangling symlink");
    fd = open(f, O_WRONLY | O_APPEND);
    check(c, fd >= 0 && pwrite(fd, "XY", 2, 0) == 2, "pwrite at 0 on an O_APPEND fd");
    if (fd >= 0) close(fd);
    check(c, content_is(f, "helloXY"), "pwrite on an O_APPEND fd appends (Linux)");
    P(c, d, "of2.d");
    fd = open(d, O_TMPFILE | O_RDWR, 0600);
    if (fd < 0 && errno == EOPNOTSUPP && on_fuse(c)) {
        check(c, 1, "O_TMPFILE: EOPNOTSUPP (no FUSE operation for it in libfuse 3.14)");
    } else {
        check(c, fd >= 0 && write(fd, "tmp", 3) == 3 && fstat(fd, &st) == 0 && st.st_nlink == 0, "O_TMPFILE: a nameless file");
        char proc[64];
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        check(c, fd >= 0 && linkat(AT_FDCWD, proc, AT_FDCWD, P(c, q, "of2.d/linked"), AT_SYMLINK_FOLLOW) == 0 && content_is(q, "tmp"),
              "O_TMPFILE file linked into the tree");
        if (fd >= 0) close(fd);
    }
}

static void t_readlink_sizes(struct ctx *c)
{
    char s[PATH_MAX], buf[16];
    printf("== readlink buffer sizes, symlink target limits\n");
    P(c, s, "rls");
    symlink("abcdefgh", s);
    memset(buf, '#', sizeof buf);
    EXPECT_ERR(c, readlink(s, buf, 0), EINVAL, "readlink with bufsiz 0");
    check(c, readlink(s, buf, 1) == 1 && buf[0] == 'a' && buf[1] == '#', "bufsiz 1: one byte, no NUL");
    check(c, readlink(s, buf, 3) == 3 && !memcmp(buf, "abc", 3) && buf[3] == '#', "bufsiz 3: truncated to 3 bytes");
    check(c, readlink(s, buf, 8) == 8 && !memcmp(buf, "abcdefgh", 8), "bufsiz 8: the whole target");
    check(c, readlink(s, buf, sizeof buf) == 8, "bigger buffer: length 8");
    char *t = malloc(4097);
    memset(t, 'x', 4096);
    t[4095] = 0;
    char q[PATH_MAX];
    EXPECT_OK(c, symlink(t, P(c, q, "rls.4095")), "symlink with a 4095-byte target");
    char *back = malloc(5000);
    check(c, readlink(q, back, 5000) == 4095 && !memcmp(back, t, 4095), "4095-byte target read back");
    t[4095] = 'x';
    t[4096] = 0;
    EXPECT_ERR(c, symlink(t, P(c, q, "rls.4096")), ENAMETOOLONG, "symlink with a 4096-byte target");
    EXPECT_ERR(c, symlink("", P(c, q, "rls.empty")), ENOENT, "symlink with an empty target");
    free(t);
    free(back);
}

static void t_nametoolong2(struct ctx *c)
{
    char name[300], p[PATH_MAX + 300], f[PATH_MAX];
    printf("== ENAMETOOLONG for link, rename, mknod and xattr-less calls\n");
    P(c, f, "ntl2");
    write_file(f, "x", 1);
    memset(name, 'm', 256);
    name[256] = 0;
    snprintf(p, sizeof p, "%s/%s", c->base, name);
    EXPECT_ERR(c, link(f, p), ENAMETOOLONG, "link to a 256-byte name");
    EXPECT_ERR(c, rename(f, p), ENAMETOOLONG, "rename to a 256-byte name");
    EXPECT_ERR(c, mknod(p, S_IFIFO | 0644, 0), ENAMETOOLONG, "mknod a 256-byte name");
    EXPECT_ERR(c, unlink(p), ENAMETOOLONG, "unlink a 256-byte name");
    EXPECT_ERR(c, rmdir(p), ENAMETOOLONG, "rmdir a 256-byte name");
    name[255] = 0;
    snprintf(p, sizeof p, "%s/%s", c->base, name);
    EXPECT_OK(c, link(f, p), "link to a 255-byte name");
    EXPECT_OK(c, rename(p, f), "rename the 255-byte name back onto its other name (no-op)");
    EXPECT_OK(c, unlink(p), "unlink the 255-byte name");
}

static void t_mknod_dev(struct ctx *c)
{
    char q[PATH_MAX];
    printf("== device nodes (root), chmod of a symlink\n");
    EXPECT_OK(c, mknod(P(c, q, "dev.c"), S_IFCHR | 0640, makedev(1, 3)), "mknod a character device 1,3");
    struct stat s = st_of(q);
    check(c, S_ISCHR(s.st_mode) && (s.st_mode & 07777) == 0640 && major(s.st_rdev) == 1 && minor(s.st_rdev) == 3 && s.st_size == 0,
          "char device: type, mode 0640, rdev 1,3 (%o, %u,%u)", s.st_mode, major(s.st_rdev), minor(s.st_rdev));
    EXPECT_OK(c, mknod(P(c, q, "dev.b"), S_IFBLK | 0600, makedev(259, 70000)), "mknod a block device 259,70000");
    s = st_of(q);
    check(c, S_ISBLK(s.st_mode) && major(s.st_rdev) == 259 && minor(s.st_rdev) == 70000, "block device rdev 259,70000 (%u,%u)", major(s.st_rdev), minor(s.st_rdev));
    EXPECT_OK(c, mknod(P(c, q, "dev.s"), S_IFSOCK | 0644, 0), "mknod a socket");
    check(c, S_ISSOCK(st_of(q).st_mode), "it is a socket");
    EXPECT_ERR(c, mknod(P(c, q, "dev.x"), 0170000 | 0644, 0), EINVAL, "mknod with an invalid type");
    char f[PATH_MAX];
    write_file(P(c, f, "chs.target"), "t", 1);
    chmod(f, 0644);
    symlink("chs.target", P(c, q, "chs.link"));
    EXPECT_OK(c, chmod(q, 0600), "chmod through a symlink");
    check(c, mode_of(f) == 0600 && (st_of(q).st_mode & 07777) == 0777, "the target changed, the link stays 0777");
    EXPECT_ERR(c, fchmodat(AT_FDCWD, q, 0600, AT_SYMLINK_NOFOLLOW), EOPNOTSUPP, "fchmodat(AT_SYMLINK_NOFOLLOW) on a symlink");
    EXPECT_OK(c, lchown(q, 1234, 5678), "lchown a symlink");
    s = st_of(q);
    check(c, s.st_uid == 1234 && s.st_gid == 5678 && st_of(f).st_uid == 0, "lchown changed the link, not its target");
}

static void t_copy_range(struct ctx *c)
{
    char a[PATH_MAX], b[PATH_MAX];
    printf("== copy_file_range\n");
    enum { N = 300000 };
    unsigned char *pat = malloc(N), *got = malloc(N);
    for (int i = 0; i < N; i++) pat[i] = (unsigned char)(i * 13 + 7);
    P(c, a, "cfr.src");
    P(c, b, "cfr.dst");
    int fd = open(a, O_RDWR | O_CREAT | O_TRUNC, 0644);
    check(c, fd >= 0 && write(fd, pat, N) == N, "write the source");
    int out = open(b, O_RDWR | O_CREAT | O_TRUNC, 0644);
    loff_t in_off = 1000, out_off = 70000;
    ssize_t done = 0;
    while (done < 200000) {
        ssize_t r = copy_file_range(fd, &in_off, out, &out_off, 200000 - done, 0);
        if (r <= 0) break;
        done += r;
    }
    check(c, done == 200000 && in_off == 201000 && out_off == 270000, "copied 200000 bytes, offsets advanced (%zd)", done);
    struct stat s;
    fstat(out, &s);
    check(c, s.st_size == 270000, "destination size 270000 (%lld)", (long long)s.st_size);
    ssize_t r = pread(out, got, N, 0);
    int ok = r == 270000 && !memcmp(got + 70000, pat + 1000, 200000);
    for (int i = 0; ok && i < 70000; i++) ok = got[i] == 0;
    check(c, ok, "destination: zeros then the copied range (read %zd)", r);
    loff_t o1 = 0, o2 = 100;
    EXPECT_ERR(c, copy_file_range(fd, &o1, fd, &o2, 1000, 0), EINVAL, "overlapping ranges of one file");
    o1 = N + 10;
    o2 = 0;
    check(c, copy_file_range(fd, &o1, out, &o2, 100, 0) == 0, "copy from past the end copies nothing");
    int ro = open(a, O_RDONLY);
    o1 = 0;
    EXPECT_ERR(c, copy_file_range(fd, &o1, ro, NULL, 10, 0), EBADF, "destination not open for writing");
    close(ro);
    close(fd);
    close(out);
    free(pat);
    free(got);
}

static void t_blocks(struct ctx *c)
{
    char f[PATH_MAX];
    printf("== st_blocks and st_blksize\n");
    P(c, f, "blk");
    write_file(f, "", 0);
    struct stat s = st_of(f);
    check(c, s.st_blocks == 0, "empty file: 0 blocks (%lld)", (long long)s.st_blocks);
    check(c, s.st_blksize >= 512 && (s.st_blksize & (s.st_blksize - 1)) == 0, "st_blksize a power of two >= 512 (%ld)", (long)s.st_blksize);
    static char data[100000];
    memset(data, 'd', sizeof data);
    /* what du shows on ext4 (4 KiB blocks): each file its size rounded up to a block */
    const size_t sizes[] = {5, 3000, 10000, 70000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        write_file(f, data, sizes[i]);
        s = st_of(f);
        long long want = (long long)(sizes[i] + 4095) / 4096 * 8;
        check(c, s.st_blocks == want, "a %zu-byte file: %lld blocks, as ext4 (%lld)", sizes[i], want, (long long)s.st_blocks);
    }
    write_file(f, data, sizeof data);
    s = st_of(f);
    check(c, s.st_blocks * 512 >= (blkcnt_t)sizeof data && s.st_blocks * 512 < (blkcnt_t)sizeof data + (1 << 20),
          "dense 100000-byte file: blocks cover it, not much more (%lld)", (long long)s.st_blocks);
    int fd = open(f, O_RDWR | O_TRUNC);
    EXPECT_OK(c, fallocate(fd, 0, 0, 1 << 20), "fallocate mode 0 of 1 MiB");
    fstat(fd, &s);
    check(c, s.st_size == 1 << 20, "size 1 MiB after fallocate (%lld)", (long long)s.st_size);
    char buf[4096], zero[4096] = {0};
    check(c, pread(fd, buf, sizeof buf, 500000) == 4096 && !memcmp(buf, zero, sizeof buf), "fallocated range reads zeros");
    struct statvfs sv;
    statvfs(c->base, &sv);
    off_t avail = (off_t)sv.f_bavail * (off_t)sv.f_frsize, beyond = avail + ((off_t)1 << 30);
    if (on_fuse(c) || avail < ((off_t)2 << 30)) {
        /* natively only on a small file system (errno.sh's ext4 image): ext4 fills the disk
         * before it fails, and keeps what it allocated (and the size it reached) */
        EXPECT_ERR(c, fallocate(fd, 0, 0, beyond), ENOSPC, "fallocate of more than the free space");
        int pr = posix_fallocate(fd, 0, beyond);
        check(c, pr == ENOSPC, "posix_fallocate of more than the free space: ENOSPC (%s)", ename(pr));
        fstat(fd, &s);
        off_t was = s.st_size; /* ext4 keeps the size its failed allocations reached */
        EXPECT_ERR(c, fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, beyond), ENOSPC, "KEEP_SIZE fallocate of more than the free space");
        fstat(fd, &s);
        check(c, s.st_size == was, "KEEP_SIZE: the size stays %lld (%lld)", (long long)was, (long long)s.st_size);
        EXPECT_OK(c, ftruncate(fd, 0), "give the space back");
    } else {
        printf("     fallocate past the free space not tried: %lld MiB free on a disk that is not ours\n", (long long)(avail >> 20));
    }
    EXPECT_ERR(c, fallocate(fd, 0, 999999999999999999LL, 4096), EFBIG, "fallocate past the largest file size");
    close(fd);
}

static long long blocks_of_fd(int fd)
{
    struct stat s;
    return fstat(fd, &s) == 0 ? (long long)s.st_blocks : -1;
}

static long long size_of_fd(int fd)
{
    struct stat s;
    return fstat(fd, &s) == 0 ? (long long)s.st_size : -1;
}

/* Free bytes that statfs reports on c->base. */
static double statfs_free(const struct ctx *c)
{
    struct statvfs sv;
    return statvfs(c->base, &sv) == 0 ? (double)sv.f_bfree * (double)sv.f_frsize : 0;
}

/* statfs counts allocated space as used: fallocate(fd, mode, 0, 64 MiB) of an empty file must
 * take free space and ftruncate(fd, 0) give it back.  Other processes may write to a shared
 * disk at the same time: up to 20 tries, one of them must see 64 MiB (+- 16) go and come back. */
static void statfs_takes_and_gives_back(struct ctx *c, int fd, int mode)
{
    const off_t big = (off_t)64 << 20;
    int seen = 0;
    double went = 0, back = 0;
    for (int i = 0; i < 20 && !seen; i++) {
        fsync(fd);
        double before = statfs_free(c);
        if (fallocate(fd, mode, 0, big) != 0)
            break;
        fsync(fd);
        double during = statfs_free(c);
        ftruncate(fd, 0);
        fsync(fd);
        double after = statfs_free(c);
        went = before - during;
        back = after - during;
        seen = went > 48.0 * (1 << 20) && went < 80.0 * (1 << 20) && back > 48.0 * (1 << 20);
    }
    check(c, seen, "statfs: fallocate (mode %d) of 64 MiB takes free space, truncate gives it back (%.1f MiB, %.1f MiB)", mode, went / 1048576, back / 1048576);
}

static void t_fallocate_blocks(struct ctx *c)
{
    char f[PATH_MAX], buf[4096], zero[4096] = {0};
    printf("== fallocate allocates: st_blocks, statfs, holes, zero range, punch\n");
    P(c, f, "fab");
    int fd = open(f, O_RDWR | O_CREAT | O_TRUNC, 0644);
    const off_t mib = 1 << 20;
    EXPECT_OK(c, fallocate(fd, 0, 0, mib), "fallocate mode 0 of 1 MiB");
    long long b = blocks_of_fd(fd);
    check(c, b * 512 >= mib && b * 512 < mib + (128 << 10), "st_blocks cover the allocated 1 MiB (%lld)", b);
    if (!getenv("ERRNO_WRITEBACK")) /* lsmfs sees no holes then (t_seek) */
        EXPECT_ERR(c, lseek(fd, 0, SEEK_DATA), ENXIO, "allocated, never written: SEEK_DATA finds no data");
    check(c, pwrite(fd, "abcd", 4, 300000) == 4, "write inside the allocated range");
    check(c, blocks_of_fd(fd) == b, "a write into allocated space allocates nothing more (%lld)", blocks_of_fd(fd));
    check(c, pread(fd, buf, sizeof buf, 600000) == sizeof buf && !memcmp(buf, zero, sizeof buf), "the rest still reads zeros");
    EXPECT_OK(c, fallocate(fd, FALLOC_FL_ZERO_RANGE, 262144, 262144), "FALLOC_FL_ZERO_RANGE over the write");
    check(c, pread(fd, buf, 4, 300000) == 4 && !memcmp(buf, zero, 4), "the zeroed range reads zeros");
    check(c, blocks_of_fd(fd) == b, "ZERO_RANGE keeps the space allocated (%lld)", blocks_of_fd(fd));
    EXPECT_OK(c, fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 262144, 262144), "punch 256 KiB out");
    check(c, blocks_of_fd(fd) == b - 512, "punching frees its blocks (%lld -> %lld)", b, blocks_of_fd(fd));
    EXPECT_OK(c, fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, mib), "FALLOC_FL_KEEP_SIZE over the hole");
    check(c, blocks_of_fd(fd) == b, "allocated again (%lld)", blocks_of_fd(fd));
    struct stat s;
    check(c, fstat(fd, &s) == 0 && s.st_size == mib, "KEEP_SIZE kept the size (%lld)", (long long)s.st_size);
    EXPECT_OK(c, ftruncate(fd, 0), "truncate to 0");
    check(c, blocks_of_fd(fd) == 0, "no blocks left (%lld)", blocks_of_fd(fd));
    statfs_takes_and_gives_back(c, fd, 0);
    close(fd);
    unlink(f);
}

/* FALLOC_FL_KEEP_SIZE past the end of file allocates there, as ext4 preallocates: the size
 * stays, the blocks count, writes into the space add none, and a truncate (even to the same
 * size) frees them. */
static void t_fallocate_beyond(struct ctx *c)
{
    char f[PATH_MAX], buf[8];
    printf("== fallocate KEEP_SIZE past the end of file: preallocation\n");
    P(c, f, "fbe");
    const off_t mib = 1 << 20;
    write_file(f, "hello", 5); /* small enough to be kept inline by lsmfs */
    int fd = open(f, O_RDWR);
    EXPECT_OK(c, fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, mib), "KEEP_SIZE 1 MiB over a 5-byte file");
    long long sz = size_of_fd(fd);
    check(c, sz == 5, "the size stays 5 (%lld)", sz);
    long long b = blocks_of_fd(fd);
    check(c, b * 512 >= mib && b * 512 < mib + (128 << 10), "st_blocks cover the 1 MiB past the end (%lld)", b);
    check(c, pread(fd, buf, sizeof buf, 0) == 5 && !memcmp(buf, "hello", 5), "the contents are intact");
    close(fd);
    fd = open(f, O_RDWR);
    check(c, blocks_of_fd(fd) == b, "the blocks stay across close and open (%lld)", blocks_of_fd(fd));
    check(c, pwrite(fd, "abcd", 4, 300000) == 4, "write past the end, into the allocated space");
    sz = size_of_fd(fd);
    check(c, sz == 300004, "the write grew the file (%lld)", sz);
    check(c, blocks_of_fd(fd) == b, "and allocated nothing more (%lld)", blocks_of_fd(fd));
    check(c, pread(fd, buf, 4, 200000) == 4 && !memcmp(buf, "\0\0\0\0", 4), "the gap reads zeros");
    EXPECT_OK(c, fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 2 * mib), "punch a hole over it all");
    sz = size_of_fd(fd);
    check(c, sz == 300004, "the size stays (%lld)", sz);
    check(c, pread(fd, buf, 4, 300000) == 4 && !memcmp(buf, "\0\0\0\0", 4), "the data is gone");
    check(c, pwrite(fd, "abcd", 4, 300000) == 4, "write it again");
    EXPECT_OK(c, fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 2 * mib), "KEEP_SIZE 2 MiB");
    check(c, blocks_of_fd(fd) * 512 >= 2 * mib, "2 MiB allocated (%lld)", blocks_of_fd(fd));
    EXPECT_OK(c, ftruncate(fd, 300004), "truncate to the same size");
    long long kept = blocks_of_fd(fd);
    check(c, kept * 512 >= 300004 && kept * 512 < 300004 + (128 << 10), "frees what lay past the end (%lld)", kept);
    sz = size_of_fd(fd);
    check(c, sz == 300004, "the size stays (%lld)", sz);
    check(c, pread(fd, buf, 4, 300000) == 4 && !memcmp(buf, "abcd", 4), "the data stays");
    EXPECT_OK(c, fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 0, mib), "ZERO_RANGE|KEEP_SIZE 1 MiB");
    sz = size_of_fd(fd);
    check(c, sz == 300004 && blocks_of_fd(fd) * 512 >= mib, "allocates past the end too (%lld blocks)", blocks_of_fd(fd));
    check(c, pread(fd, buf, 4, 300000) == 4 && !memcmp(buf, "\0\0\0\0", 4), "and zeroes what lies inside");
    EXPECT_OK(c, ftruncate(fd, 100), "truncate down to 100 bytes");
    check(c, blocks_of_fd(fd) * 512 >= 100 && blocks_of_fd(fd) * 512 < (128 << 10), "frees everything past 100 bytes (%lld)", blocks_of_fd(fd));
    EXPECT_OK(c, ftruncate(fd, 0), "truncate to 0");
    statfs_takes_and_gives_back(c, fd, FALLOC_FL_KEEP_SIZE);
    sz = size_of_fd(fd);
    check(c, sz == 0, "KEEP_SIZE left the size 0 (%lld)", sz);
    close(fd);
    unlink(f);
}

/* 1 if path is a whiteout: a character device 0/0 with no permission bits. */
static int is_whiteout(const char *path)
{
    struct stat s = st_of(path);
    return s.st_ino && S_ISCHR(s.st_mode) && (s.st_mode & 07777) == 0 && s.st_rdev == makedev(0, 0);
}

static void whiteout_as_nobody(struct ctx *c, void *arg)
{
    const char *d = arg;
    char a[PATH_MAX], b[PATH_MAX];
    snprintf(a, sizeof a, "%s/nobody-a", d);
    snprintf(b, sizeof b, "%s/nobody-b", d);
    write_file(a, "n", 1);
    EXPECT_OK(c, renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_WHITEOUT), "nobody: RENAME_WHITEOUT (unprivileged since Linux 5.8)");
    struct stat s = st_of(a);
    check(c, is_whiteout(a) && s.st_uid == 65534 && s.st_gid == 65534, "nobody: the whiteout is nobody's (%u:%u)", s.st_uid, s.st_gid);
}

static void t_whiteout(struct ctx *c)
{
    char d[PATH_MAX], a[PATH_MAX], b[PATH_MAX], q[PATH_MAX];
    printf("== RENAME_WHITEOUT (overlayfs)\n");
    P(c, d, "wo");
    mkdir(d, 0777);
    chmod(d, 0777);
    P(c, a, "wo/a");
    P(c, b, "wo/b");
    write_file(a, "A", 1);
    EXPECT_OK(c, renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_WHITEOUT), "RENAME_WHITEOUT to a new name");
    check(c, content_is(b, "A"), "the file is at the new name");
    check(c, is_whiteout(a), "the old name is a whiteout (char 0/0, mode 0: %o)", st_of(a).st_mode);
    check(c, st_of(a).st_ino != st_of(b).st_ino, "the whiteout is an inode of its own");
    write_file(P(c, q, "wo/c"), "C", 1);
    EXPECT_OK(c, renameat2(AT_FDCWD, q, AT_FDCWD, b, RENAME_WHITEOUT), "RENAME_WHITEOUT over an existing file");
    check(c, content_is(b, "C") && is_whiteout(q), "target replaced, old name a whiteout");
    EXPECT_ERR(c, renameat2(AT_FDCWD, b, AT_FDCWD, a, RENAME_WHITEOUT | RENAME_EXCHANGE), EINVAL, "RENAME_WHITEOUT|RENAME_EXCHANGE");
    mkdir(P(c, q, "wo/sub"), 0755);
    write_file(P(c, a, "wo/sub/in"), "in", 2);
    mkdir(P(c, b, "wo/other"), 0755);
    nlink_t before = st_of(d).st_nlink;
    EXPECT_OK(c, renameat2(AT_FDCWD, q, AT_FDCWD, P(c, b, "wo/other/sub"), RENAME_WHITEOUT), "RENAME_WHITEOUT of a directory");
    check(c, is_whiteout(q) && content_is(P(c, a, "wo/other/sub/in"), "in"), "directory moved with its content, whiteout left");
    check(c, st_of(d).st_nlink == before - 1, "parent lost the directory's link (%lu -> %lu)", (unsigned long)before, (unsigned long)st_of(d).st_nlink);
    EXPECT_OK(c, unlink(q), "a whiteout can be unlinked");
    as_user(c, 65534, 65534, whiteout_as_nobody, d, 2);
}

static void t_seek(struct ctx *c)
{
    char f[PATH_MAX];
    printf("== lseek SEEK_DATA / SEEK_HOLE\n");
    P(c, f, "seek");
    int fd = open(f, O_RDWR | O_CREAT | O_TRUNC, 0644);
    static char blk[65536];
    memset(blk, 's', sizeof blk);
    check(c, pwrite(fd, blk, sizeof blk, 1 << 20) == (ssize_t)sizeof blk, "write 64 KiB at 1 MiB");
    EXPECT_OK(c, ftruncate(fd, 4 << 20), "size 4 MiB");
    off_t o = lseek(fd, 0, SEEK_DATA);
    check(c, o >= 0 && o <= (1 << 20), "SEEK_DATA from 0: at or before the data (%lld)", (long long)o);
    o = lseek(fd, (1 << 20) + 100, SEEK_DATA);
    check(c, o == (1 << 20) + 100, "SEEK_DATA inside data: the offset itself (%lld)", (long long)o);
    o = lseek(fd, (1 << 20) + 100, SEEK_HOLE);
    check(c, o >= (1 << 20) + 65536 && o <= (4 << 20), "SEEK_HOLE inside data: at or after its end, at most the size (%lld)", (long long)o);
    EXPECT_ERR(c, lseek(fd, 4 << 20, SEEK_DATA), ENXIO, "SEEK_DATA at the end of file");
    EXPECT_ERR(c, lseek(fd, 4 << 20, SEEK_HOLE), ENXIO, "SEEK_HOLE at the end of file");
    EXPECT_ERR(c, lseek(fd, 5 << 20, SEEK_DATA), ENXIO, "SEEK_DATA past the end of file");
    EXPECT_ERR(c, lseek(fd, -1, SEEK_DATA), ENXIO, "SEEK_DATA at a negative offset");
    o = lseek(fd, (4 << 20) - 1, SEEK_HOLE);
    check(c, o == (4 << 20) - 1 || o == (4 << 20), "SEEK_HOLE in the trailing hole: the offset itself, or the size (%lld)", (long long)o);
    if (getenv("ERRNO_WRITEBACK")) {
        /* POSIX lets a file system see no holes; lsmfs does so under the writeback cache,
         * whose dirty pages it cannot see (fs/fuse_ops.c, ll_lseek) */
        printf("     hole positions not checked: writeback cache\n");
        close(fd);
        return;
    }
    /* Where ext4 (4 KiB blocks) and lsmfs (64 KiB chunks) agree: 64 KiB-aligned data. */
    check(c, lseek(fd, 0, SEEK_DATA) == 1 << 20, "SEEK_DATA from 0: the start of the data (%lld)", (long long)lseek(fd, 0, SEEK_DATA));
    check(c, lseek(fd, 0, SEEK_HOLE) == 0, "SEEK_HOLE from 0 in a leading hole: 0 (%lld)", (long long)lseek(fd, 0, SEEK_HOLE));
    check(c, lseek(fd, (1 << 20) + 100, SEEK_HOLE) == (1 << 20) + 65536, "SEEK_HOLE inside data: its end (%lld)", (long long)lseek(fd, (1 << 20) + 100, SEEK_HOLE));
    check(c, lseek(fd, (4 << 20) - 1, SEEK_HOLE) == (4 << 20) - 1, "SEEK_HOLE in the trailing hole: the offset itself (%lld)", (long long)lseek(fd, (4 << 20) - 1, SEEK_HOLE));
    EXPECT_ERR(c, lseek(fd, (1 << 20) + 65536, SEEK_DATA), ENXIO, "SEEK_DATA after the last data");
    check(c, pwrite(fd, blk, sizeof blk, 3 << 20) == (ssize_t)sizeof blk, "write 64 KiB at 3 MiB");
    check(c, lseek(fd, (1 << 20) + 65536, SEEK_DATA) == 3 << 20, "SEEK_DATA finds the next data (%lld)", (long long)lseek(fd, (1 << 20) + 65536, SEEK_DATA));
    check(c, lseek(fd, 3 << 20, SEEK_HOLE) == (3 << 20) + 65536, "SEEK_HOLE after it (%lld)", (long long)lseek(fd, 3 << 20, SEEK_HOLE));
    EXPECT_OK(c, fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 1 << 20, 65536), "punch the first data out");
    check(c, lseek(fd, 0, SEEK_DATA) == 3 << 20, "SEEK_DATA skips the punched hole (%lld)", (long long)lseek(fd, 0, SEEK_DATA));
    EXPECT_OK(c, ftruncate(fd, (3 << 20) + 100), "cut the file inside the data");
    check(c, lseek(fd, 3 << 20, SEEK_HOLE) == (3 << 20) + 100, "SEEK_HOLE: the end of file (%lld)", (long long)lseek(fd, 3 << 20, SEEK_HOLE));
    EXPECT_OK(c, ftruncate(fd, 0), "empty it");
    EXPECT_OK(c, ftruncate(fd, 1 << 20), "1 MiB of hole");
    EXPECT_ERR(c, lseek(fd, 0, SEEK_DATA), ENXIO, "SEEK_DATA in a file that is all hole");
    check(c, pwrite(fd, "tiny", 4, 0) == 4 && lseek(fd, 0, SEEK_DATA) == 0, "SEEK_DATA at a short write at 0: 0");
    close(fd);
}

static void t_nameless(struct ctx *c)
{
    char d[PATH_MAX], q[PATH_MAX], r[PATH_MAX];
    struct stat s;
    printf("== nodes held after their last name went (removed cwd, open FIFO, O_PATH)\n");
    P(c, d, "nl.dir");
    mkdir(d, 0755);
    int fd = open(d, O_RDONLY | O_DIRECTORY);
    EXPECT_OK(c, rmdir(d), "rmdir a directory that is open");
    check(c, fstat(fd, &s) == 0 && S_ISDIR(s.st_mode) && s.st_nlink == 0, "fstat of the removed directory: a directory, nlink 0 (%lu)", (unsigned long)s.st_nlink);
    EXPECT_OK(c, fchmod(fd, 0700), "fchmod of the removed directory");
    check(c, fstat(fd, &s) == 0 && (s.st_mode & 07777) == 0700, "the mode change shows (%o)", s.st_mode & 07777);
    /* ext4 keeps the inode, xattrs included, until the last reference goes */
    struct stat before = s;
    nap();
    EXPECT_OK(c, fsetxattr(fd, "user.gone", "G", 1, 0), "fsetxattr on the removed directory");
    check(c, fxattr_is(fd, "user.gone", "G"), "fgetxattr reads it back");
    check(c, fstat(fd, &s) == 0 && ts_cmp(s.st_ctim, before.st_ctim) > 0, "fsetxattr moves its ctime");
    EXPECT_ERR(c, fsetxattr(fd, "user.gone", "H", 1, XATTR_CREATE), EEXIST, "XATTR_CREATE on an existing name of the removed directory");
    char names[32];
    ssize_t ln = flistxattr(fd, names, sizeof names);
    check(c, ln == (ssize_t)sizeof "user.gone" && !strcmp(names, "user.gone"), "flistxattr lists it (%zd bytes)", ln);
    EXPECT_OK(c, fremovexattr(fd, "user.gone"), "fremovexattr on the removed directory");
    EXPECT_ERR(c, fgetxattr(fd, "user.gone", names, sizeof names), ENODATA, "the removed name is gone");
    EXPECT_ERR(c, fremovexattr(fd, "user.gone"), ENODATA, "fremovexattr of a missing name");
    EXPECT_ERR(c, openat(fd, "x", O_CREAT | O_WRONLY, 0644), ENOENT, "create in the removed directory");
    DIR *dp = fdopendir(fd);
    int n = 0;
    struct dirent *de;
    while (dp && (de = readdir(dp)))
        n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    check(c, dp && n == 0, "listing the removed directory gives no entries");
    if (dp) closedir(dp);
    else close(fd);
    /* a process whose working directory is removed */
    P(c, d, "nl.cwd");
    mkdir(d, 0755);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        struct stat cs;
        _exit(chdir(d) == 0 && rmdir(d) == 0 && stat(".", &cs) == 0 && cs.st_nlink == 0 ? 0 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    check(c, WIFEXITED(status) && WEXITSTATUS(status) == 0, "stat(\".\") in a removed working directory: nlink 0");
    /* an open FIFO, unlinked, and one replaced by rename */
    P(c, q, "nl.fifo");
    mkfifo(q, 0644);
    int rd = open(q, O_RDONLY | O_NONBLOCK), wr = open(q, O_WRONLY | O_NONBLOCK);
    EXPECT_OK(c, unlink(q), "unlink an open FIFO");
    check(c, fstat(rd, &s) == 0 && S_ISFIFO(s.st_mode) && s.st_nlink == 0, "fstat of the unlinked FIFO: nlink 0");
    char buf[4];
    check(c, write(wr, "ok", 2) == 2 && read(rd, buf, sizeof buf) == 2, "the unlinked FIFO still carries data");
    close(rd);
    close(wr);
    mkfifo(q, 0644);
    rd = open(q, O_RDONLY | O_NONBLOCK);
    write_file(P(c, r, "nl.new"), "n", 1);
    EXPECT_OK(c, rename(r, q), "rename a file over an open FIFO");
    check(c, fstat(rd, &s) == 0 && S_ISFIFO(s.st_mode) && s.st_nlink == 0, "fstat of the replaced FIFO: nlink 0");
    close(rd);
    /* an O_PATH descriptor of an unlinked symlink */
    P(c, q, "nl.sym");
    symlink("somewhere", q);
    fd = open(q, O_PATH | O_NOFOLLOW);
    EXPECT_OK(c, unlink(q), "unlink a symlink held by O_PATH");
    check(c, fstat(fd, &s) == 0 && S_ISLNK(s.st_mode) && s.st_nlink == 0, "fstat through O_PATH: the symlink, nlink 0");
    close(fd);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: errno DIR\n");
        return 2;
    }
    struct ctx c = {.base = argv[1]};
    struct stat st;
    if (stat(c.base, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "errno: %s is not a directory\n", c.base);
        return 2;
    }
    umask(022);
    t_enoent(&c);
    t_eexist(&c);
    t_enotdir_eisdir(&c);
    t_enotempty_einval(&c);
    t_nametoolong(&c);
    t_xattr(&c);
    t_rename2(&c);
    t_unlink_open(&c);
    t_hardlinks(&c);
    t_open_flags(&c);
    t_times(&c);
    t_fifo_mknod(&c);
    t_symlinks(&c);
    t_readdir(&c);
    t_locks(&c);
    t_dirent(&c);
    t_statfs(&c);
    t_statfs_inodes(&c);
    t_setgid(&c);
    t_sgid_nonmember(&c);
    t_fallocate_sparse(&c);
    t_perms(&c);
    t_xattr_unlinked(&c);
    t_xattr_namespaces(&c);
    t_suid(&c);
    t_attr_ctime(&c);
    t_open_ctime(&c);
    t_rename_dots(&c);
    t_open_flags2(&c);
    t_readlink_sizes(&c);
    t_nametoolong2(&c);
    t_mknod_dev(&c);
    t_copy_range(&c);
    t_blocks(&c);
    t_fallocate_blocks(&c);
    t_fallocate_beyond(&c);
    t_whiteout(&c);
    t_seek(&c);
    t_nameless(&c);
    printf("errno: %d checks, %d failed\n", c.checks, c.fails);
    return c.fails ? 1 : 0;
}
