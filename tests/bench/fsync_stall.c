/*
 * fsync_stall.c — how much one process's fsyncs slow down another process's metadata work on
 * the same file system.
 *
 * usage: fsync_stall DIR LABEL SECONDS
 *
 * Two rounds of SECONDS each in DIR (which must exist):
 *   alone   one worker creates a 100-byte file (open O_CREAT, write, close), stats it and,
 *           500 files later, unlinks it, as fast as it can;
 *   beside  the same worker while a second process rewrites 4 KiB at a random offset of a
 *           1 MiB file and fdatasyncs it, in a loop (a database committing).
 * Results go to stdout in fs_bench's format (target, phase, ops, bytes, seconds, cold), as
 * phases meta_alone and meta_fsync (the worker's operations: create, stat and unlink count
 * one each) and fsyncs (the syncer's); fs_bench.sh runs it after fs_bench on every target.
 * The worker's latencies (median, 99th and 99.9th percentile, maximum) go to stderr.  A file
 * system whose fsync blocks unrelated work shows it in meta_fsync and its tail latencies.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KEEP 500           /* files the worker keeps before unlinking the oldest */
#define SYNC_FILE_SIZE (1 << 20)
#define MAX_SAMPLES 4000000

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(const char *what, const char *path)
{
    fprintf(stderr, "fsync_stall: %s %s: %s\n", what, path, strerror(errno));
    exit(1);
}

/* The syncer: rewrite and fdatasync until killed; writes its sync count to fd report on
 * SIGTERM. */
static volatile sig_atomic_t stop_syncer;
static void on_term(int sig) { (void)sig; stop_syncer = 1; }

static void syncer(const char *dir, int report)
{
    char path[4096], buf[4096];
    snprintf(path, sizeof path, "%s/syncer.dat", dir);
    int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0644);
    if (fd < 0)
        die("open", path);
    memset(buf, 'x', sizeof buf);
    for (off_t o = 0; o < SYNC_FILE_SIZE; o += (off_t)sizeof buf)
        if (pwrite(fd, buf, sizeof buf, o) != (ssize_t)sizeof buf)
            die("pwrite", path);
    if (fsync(fd) != 0)
        die("fsync", path);
    unsigned seed = 1;
    long n = 0;
    while (!stop_syncer) {
        off_t o = (off_t)(rand_r(&seed) % (SYNC_FILE_SIZE / sizeof buf)) * (off_t)sizeof buf;
        buf[0] = (char)n;
        if (pwrite(fd, buf, sizeof buf, o) != (ssize_t)sizeof buf)
            die("pwrite", path);
        if (fdatasync(fd) != 0)
            die("fdatasync", path);
        n++;
    }
    close(fd);
    unlink(path);
    if (write(report, &n, sizeof n) != (ssize_t)sizeof n)
        die("write", "report pipe");
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double *samples;
static long nsamples;

static void sample(double t0)
{
    if (nsamples < MAX_SAMPLES)
        samples[nsamples++] = (now_s() - t0) * 1e6;
}

/* The worker's loop for secs seconds; returns its operation count. */
static long worker(const char *dir, double secs)
{
    char path[4096], data[100];
    memset(data, 'w', sizeof data);
    long ops = 0, i = 0;
    double end = now_s() + secs;
    while (now_s() < end) {
        snprintf(path, sizeof path, "%s/w%ld", dir, i);
        double t = now_s();
        int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
        if (fd < 0 || write(fd, data, sizeof data) != (ssize_t)sizeof data || close(fd) != 0)
            die("create", path);
        sample(t);
        struct stat st;
        t = now_s();
        if (stat(path, &st) != 0)
            die("stat", path);
        sample(t);
        ops += 2;
        if (i >= KEEP) {
            snprintf(path, sizeof path, "%s/w%ld", dir, i - KEEP);
            t = now_s();
            if (unlink(path) != 0)
                die("unlink", path);
            sample(t);
            ops++;
        }
        i++;
    }
    for (long j = i > KEEP ? i - KEEP : 0; j < i; j++) {
        snprintf(path, sizeof path, "%s/w%ld", dir, j);
        unlink(path);
    }
    return ops;
}

static void round_of(const char *label, const char *phase, const char *dir, double secs,
                     int with_syncer)
{
    int p[2];
    if (pipe(p) != 0)
        die("pipe", "");
    pid_t pid = -1;
    if (with_syncer) {
        pid = fork();
        if (pid < 0)
            die("fork", "");
        if (pid == 0) {
            close(p[0]);
            signal(SIGTERM, on_term);
            syncer(dir, p[1]);
            _exit(0);
        }
        usleep(200000); /* let the syncer write its file and get going */
    }
    close(p[1]);
    nsamples = 0;
    double t0 = now_s();
    long ops = worker(dir, secs);
    double took = now_s() - t0;
    long syncs = 0;
    if (with_syncer) {
        kill(pid, SIGTERM);
        ssize_t got = read(p[0], &syncs, sizeof syncs);
        int status = 0;
        waitpid(pid, &status, 0);
        if (got != (ssize_t)sizeof syncs || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            /* a broken syncer must fail the benchmark, not post a number */
            fprintf(stderr, "fsync_stall: the syncer in %s failed (status %d)\n", dir, status);
            exit(1);
        }
    }
    close(p[0]);
    qsort(samples, (size_t)nsamples, sizeof *samples, cmp_double);
    double p50 = nsamples ? samples[nsamples / 2] : 0;
    double p99 = nsamples ? samples[(long)(nsamples * 0.99)] : 0;
    double p999 = nsamples ? samples[(long)(nsamples * 0.999)] : 0;
    double max = nsamples ? samples[nsamples - 1] : 0;
    printf("%s\t%s\t%ld\t0\t%.6f\t0\n", label, phase, ops, took);
    if (with_syncer)
        printf("%s\tfsyncs\t%ld\t0\t%.6f\t0\n", label, syncs, took);
    fflush(stdout);
    fprintf(stderr,
            "fsync_stall %s %s: %.0f ops/s, latency us p50 %.0f p99 %.0f p99.9 %.0f max %.0f; "
            "%.0f fsyncs/s beside\n",
            label, phase, ops / took, p50, p99, p999, max, syncs / took);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: fsync_stall DIR LABEL SECONDS\n");
        return 2;
    }
    double secs = atof(argv[3]);
    samples = malloc(sizeof *samples * MAX_SAMPLES);
    if (!samples || secs <= 0)
        return 2;
    round_of(argv[2], "meta_alone", argv[1], secs, 0);
    round_of(argv[2], "meta_fsync", argv[1], secs, 1);
    free(samples);
    return 0;
}
