/*
 * fs_bench.c — the filesystem benchmark's worker: runs every phase on one target directory.
 *
 * tests/bench/fs_bench.sh mounts lsmfs and libfuse's passthrough example and runs this program
 * once per target (lsmfs, passthrough, a native directory) with the same arguments, then puts
 * the three reports side by side.  Phases, in order (issue 4's list):
 *
 *   create       N files of 1 KiB spread over D directories (open O_CREAT, write, close)
 *   stat         stat every file right after the create phase (the kernel may answer from its
 *                dentry/attr cache; Linux's FUSE drops a file's cached size, times and blocks
 *                after a write or close, so on a FUSE mount each first stat asks the daemon)
 *   stat_warm    stat every file again: attributes now cached wherever the kernel keeps them
 *   read         open, read 1 KiB, close every file (the first read since the write)
 *   read_warm    read every file again: contents now cached wherever the kernel keeps them
 *   stat_cold    the same after dropping the kernel's caches (echo 3 > drop_caches)
 *   read_cold    the same after dropping the kernel's caches
 *   readdir      list every one of the D directories (ops are entries)
 *   flat_create  M empty files in one directory
 *   flat_list    list that directory of M entries (ops are entries)
 *   bigwrite     one file of S MiB written sequentially with 1 MiB writes, fsync, close
 *   bigread      read it back sequentially with 1 MiB reads, after dropping caches
 *   rename       rename R of the small files within their directories
 *   delete       unlink every file and remove every directory
 *
 * "Cold" means the kernel's page, dentry and inode caches were dropped just before (root only;
 * if that fails the phase is still run and reported with cold=0).  A FUSE daemon's own caches
 * (lsmfs's block cache) are not dropped: they are part of the filesystem being measured.
 *
 * Output: one line per phase on stdout, "label phase ops bytes seconds cold" separated by tabs,
 * and a human-readable line per phase on stderr.  Every check that fails (a short read, a wrong
 * entry count, a byte that differs) aborts with a message: a benchmark of a broken filesystem
 * is worthless.  With --fd-pid PID the number of open descriptors of process PID (the daemon)
 * is reported after the create phase as phase "daemon_fds".
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SMALL_SIZE 1024
#define BIG_CHUNK (1u << 20)

typedef struct fsb_args {
    const char *dir;
    const char *label;
    long files;
    long dirs;
    long flat;
    long big_mib;
    long renames;
    long fd_pid;
} fsb_args;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, const char *path)
{
    fprintf(stderr, "fs_bench: %s %s: %s\n", what, path, strerror(errno));
    exit(1);
}

/* Drop the kernel's clean caches; returns 1 on success, 0 if not permitted. */
static int drop_caches(void)
{
    sync();
    int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
    if (fd < 0)
        return 0;
    int ok = write(fd, "3\n", 2) == 2;
    close(fd);
    return ok;
}

static void report(const fsb_args *a, const char *phase, long ops, double bytes, double secs,
                   int cold)
{
    printf("%s\t%s\t%ld\t%.0f\t%.6f\t%d\n", a->label, phase, ops, bytes, secs, cold);
    fflush(stdout);
    fprintf(stderr, "  %-12s %-12s %9ld ops %8.2f s %12.0f ops/s %9.1f MB/s%s\n", a->label,
            phase, ops, secs, secs > 0 ? (double)ops / secs : 0,
            secs > 0 ? bytes / 1048576.0 / secs : 0, cold ? " (cold)" : "");
}

/* File i lives in directory i * dirs / files: each directory's files are created together, as
 * cp -r or tar x would create them. */
static void small_path(const fsb_args *a, char *buf, size_t n, long i, int renamed)
{
    long d = (long)((long long)i * a->dirs / a->files);
    snprintf(buf, n, "%s/d%03ld/f%07ld%s", a->dir, d, i, renamed ? ".renamed" : "");
}

/* File i's contents: 1 KiB derived from i, so a read can be checked without keeping copies. */
static void small_data(char *buf, long i)
{
    uint64_t x = (uint64_t)i * 0x9e3779b97f4a7c15ull + 1;
    for (int j = 0; j < SMALL_SIZE; j++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[j] = (char)('a' + x % 26);
    }
}

static void phase_create(const fsb_args *a)
{
    char path[4096], data[SMALL_SIZE];
    double t0 = now_s();
    for (long d = 0; d < a->dirs; d++) {
        snprintf(path, sizeof(path), "%s/d%03ld", a->dir, d);
        if (mkdir(path, 0755) != 0)
            die("mkdir", path);
    }
    for (long i = 0; i < a->files; i++) {
        small_path(a, path, sizeof(path), i, 0);
        small_data(data, i);
        int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0644);
        if (fd < 0)
            die("create", path);
        if (write(fd, data, SMALL_SIZE) != SMALL_SIZE)
            die("write", path);
        if (close(fd) != 0)
            die("close", path);
    }
    report(a, "create", a->files, (double)a->files * SMALL_SIZE, now_s() - t0, 0);
}

static void phase_stat(const fsb_args *a, const char *name, int cold)
{
    char path[4096];
    struct stat st;
    double t0 = now_s();
    for (long i = 0; i < a->files; i++) {
        small_path(a, path, sizeof(path), i, 0);
        if (stat(path, &st) != 0)
            die("stat", path);
        if (st.st_size != SMALL_SIZE || !S_ISREG(st.st_mode)) {
            fprintf(stderr, "fs_bench: %s: size %lld, expected %d\n", path,
                    (long long)st.st_size, SMALL_SIZE);
            exit(1);
        }
    }
    report(a, name, a->files, 0, now_s() - t0, cold);
}

static void phase_read(const fsb_args *a, const char *name, int cold)
{
    char path[4096], data[SMALL_SIZE + 1], expect[SMALL_SIZE];
    double t0 = now_s();
    for (long i = 0; i < a->files; i++) {
        small_path(a, path, sizeof(path), i, 0);
        int fd = open(path, O_RDONLY);
        if (fd < 0)
            die("open", path);
        ssize_t r = read(fd, data, sizeof(data));
        if (r != SMALL_SIZE)
            die("read (short)", path);
        close(fd);
        small_data(expect, i);
        if (memcmp(data, expect, SMALL_SIZE) != 0) {
            fprintf(stderr, "fs_bench: %s: contents differ from what was written\n", path);
            exit(1);
        }
    }
    report(a, name, a->files, (double)a->files * SMALL_SIZE, now_s() - t0, cold);
}

/* Entries in a directory, "." and ".." excluded. */
static long count_entries(const char *path)
{
    DIR *d = opendir(path);
    if (d == NULL)
        die("opendir", path);
    long n = 0;
    struct dirent *de;
    errno = 0;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    if (errno != 0)
        die("readdir", path);
    closedir(d);
    return n;
}

static void phase_readdir(const fsb_args *a)
{
    char path[4096];
    long total = 0;
    double t0 = now_s();
    for (long d = 0; d < a->dirs; d++) {
        snprintf(path, sizeof(path), "%s/d%03ld", a->dir, d);
        total += count_entries(path);
    }
    double secs = now_s() - t0;
    if (total != a->files) {
        fprintf(stderr, "fs_bench: listing found %ld entries, expected %ld\n", total, a->files);
        exit(1);
    }
    report(a, "readdir", total, 0, secs, 0);
}

static void phase_flat(const fsb_args *a)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/flat", a->dir);
    if (mkdir(path, 0755) != 0)
        die("mkdir", path);
    double t0 = now_s();
    for (long i = 0; i < a->flat; i++) {
        snprintf(path, sizeof(path), "%s/flat/e%07ld", a->dir, i);
        int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0644);
        if (fd < 0)
            die("create", path);
        close(fd);
    }
    report(a, "flat_create", a->flat, 0, now_s() - t0, 0);
    snprintf(path, sizeof(path), "%s/flat", a->dir);
    t0 = now_s();
    long n = count_entries(path);
    double secs = now_s() - t0;
    if (n != a->flat) {
        fprintf(stderr, "fs_bench: %s lists %ld entries, expected %ld\n", path, n, a->flat);
        exit(1);
    }
    report(a, "flat_list", n, 0, secs, 0);
}

static void phase_big(const fsb_args *a)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/big", a->dir);
    char *buf = malloc(BIG_CHUNK), *back = malloc(BIG_CHUNK);
    if (buf == NULL || back == NULL)
        die("malloc", "");
    /* Incompressible, chunk-dependent data: no filesystem gets a free ride from compression,
     * and a misplaced chunk is detected on the way back. */
    uint64_t x = 88172645463325252ull;
    for (size_t j = 0; j < BIG_CHUNK; j++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[j] = (char)x;
    }
    double t0 = now_s();
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    if (fd < 0)
        die("create", path);
    for (long c = 0; c < a->big_mib; c++) {
        memcpy(buf, &c, sizeof(c));
        if (write(fd, buf, BIG_CHUNK) != (ssize_t)BIG_CHUNK)
            die("write", path);
    }
    if (fsync(fd) != 0)
        die("fsync", path);
    if (close(fd) != 0)
        die("close", path);
    double bytes = (double)a->big_mib * BIG_CHUNK;
    report(a, "bigwrite", a->big_mib, bytes, now_s() - t0, 0);
    int cold = drop_caches();
    t0 = now_s();
    fd = open(path, O_RDONLY);
    if (fd < 0)
        die("open", path);
    for (long c = 0; c < a->big_mib; c++) {
        size_t got = 0;
        while (got < BIG_CHUNK) {
            ssize_t r = read(fd, back + got, BIG_CHUNK - got);
            if (r <= 0)
                die("read (short)", path);
            got += (size_t)r;
        }
        memcpy(buf, &c, sizeof(c));
        if (memcmp(buf, back, BIG_CHUNK) != 0) {
            fprintf(stderr, "fs_bench: %s: MiB %ld differs from what was written\n", path, c);
            exit(1);
        }
    }
    close(fd);
    report(a, "bigread", a->big_mib, bytes, now_s() - t0, cold);
    free(buf);
    free(back);
}

static void phase_rename(const fsb_args *a)
{
    char from[4096], to[4096];
    long n = a->renames < a->files ? a->renames : a->files;
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        small_path(a, from, sizeof(from), i, 0);
        small_path(a, to, sizeof(to), i, 1);
        if (rename(from, to) != 0)
            die("rename", from);
    }
    report(a, "rename", n, 0, now_s() - t0, 0);
}

static void phase_delete(const fsb_args *a)
{
    char path[4096];
    long n = a->renames < a->files ? a->renames : a->files;
    long ops = 0;
    double t0 = now_s();
    for (long i = 0; i < a->files; i++) {
        small_path(a, path, sizeof(path), i, i < n);
        if (unlink(path) != 0)
            die("unlink", path);
        ops++;
    }
    for (long d = 0; d < a->dirs; d++) {
        snprintf(path, sizeof(path), "%s/d%03ld", a->dir, d);
        if (rmdir(path) != 0)
            die("rmdir", path);
        ops++;
    }
    for (long i = 0; i < a->flat; i++) {
        snprintf(path, sizeof(path), "%s/flat/e%07ld", a->dir, i);
        if (unlink(path) != 0)
            die("unlink", path);
        ops++;
    }
    snprintf(path, sizeof(path), "%s/flat", a->dir);
    if (rmdir(path) != 0)
        die("rmdir", path);
    snprintf(path, sizeof(path), "%s/big", a->dir);
    if (unlink(path) != 0)
        die("unlink", path);
    ops += 2;
    report(a, "delete", ops, 0, now_s() - t0, 0);
    if (count_entries(a->dir) != 0) {
        fprintf(stderr, "fs_bench: %s is not empty after deleting everything\n", a->dir);
        exit(1);
    }
}

static void report_fds(const fsb_args *a)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/fd", a->fd_pid);
    DIR *d = opendir(path);
    if (d == NULL)
        return;
    long n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        n += de->d_name[0] != '.';
    closedir(d);
    printf("%s\tdaemon_fds\t%ld\t0\t0\t0\n", a->label, n);
    fprintf(stderr, "  %-12s daemon (pid %ld) holds %ld open descriptors after create\n",
            a->label, a->fd_pid, n);
}

static void usage(void)
{
    fprintf(stderr, "usage: fs_bench --dir DIR [--label NAME] [--files N] [--dirs D] "
                    "[--flat M] [--big-mib S] [--renames R] [--fd-pid PID]\n"
                    "defaults: 100000 files in 100 dirs, flat 100000, 1024 MiB, 10000 renames\n"
                    "DIR must exist and be empty.\n");
}

int main(int argc, char **argv)
{
    fsb_args a = {NULL, "target", 100000, 100, -1, 1024, 10000, 0};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            usage();
            return 0;
        }
        if (i + 1 >= argc) {
            usage();
            return 2;
        }
        const char *o = argv[i], *v = argv[++i];
        if (strcmp(o, "--dir") == 0)
            a.dir = v;
        else if (strcmp(o, "--label") == 0)
            a.label = v;
        else if (strcmp(o, "--files") == 0)
            a.files = atol(v);
        else if (strcmp(o, "--dirs") == 0)
            a.dirs = atol(v);
        else if (strcmp(o, "--flat") == 0)
            a.flat = atol(v);
        else if (strcmp(o, "--big-mib") == 0)
            a.big_mib = atol(v);
        else if (strcmp(o, "--renames") == 0)
            a.renames = atol(v);
        else if (strcmp(o, "--fd-pid") == 0)
            a.fd_pid = atol(v);
        else {
            usage();
            return 2;
        }
    }
    if (a.flat < 0)
        a.flat = a.files;
    if (a.dir == NULL || a.files < 1 || a.dirs < 1 || a.dirs > 1000 || a.big_mib < 1 ||
        a.renames < 0) {
        usage();
        return 2;
    }
    if (count_entries(a.dir) != 0) {
        fprintf(stderr, "fs_bench: %s is not empty\n", a.dir);
        return 2;
    }
    phase_create(&a);
    if (a.fd_pid > 0)
        report_fds(&a);
    phase_stat(&a, "stat", 0);
    phase_stat(&a, "stat_warm", 0);
    phase_read(&a, "read", 0);
    phase_read(&a, "read_warm", 0);
    int cold = drop_caches();
    phase_stat(&a, "stat_cold", cold);
    cold = drop_caches();
    phase_read(&a, "read_cold", cold);
    phase_readdir(&a);
    phase_flat(&a);
    phase_big(&a);
    phase_rename(&a);
    phase_delete(&a);
    return 0;
}
