/*
 * main.c — the lsmfs daemon: `lsmfs [options] STORE_DIR MOUNTPOINT`.
 *
 * Start-up order matters for "one clear error line, never a half-mounted filesystem":
 *   1. parse options, check the mount point (exists, is a directory, empty unless -o nonempty);
 *   2. fork unless -f (before any thread or lock exists: liblsm's threads and its fcntl lock do
 *      not survive a fork); the parent waits on a pipe for the child's verdict;
 *   3. the child opens the store (creating it, 0700), mounts, starts the control socket, and
 *      only then writes "OK" to the pipe, or one error line; the parent prints it and exits 1,
 *      or exits 0 once the mount works;
 *   4. serve until unmounted or signalled (SIGTERM/SIGINT/SIGHUP end the loop), then unmount,
 *      commit open files and close the store (lsm_close flushes the memtable).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "control.h"
#include "fscore.h"
#include "fuse_loop.h"
#include "fuse_ops.h"
#include "fuse_uring.h"
#include "mountinfo.h"
#include "readahead.h"

#define LSMFS_VERSION "0.1.0"
#define LOOP_THREADS 10    /* request threads: libfuse's default maximum */
/* fuse_loop.c: a create's requests come 5-20 us apart, but on a VM that wakes a halted CPU
 * slowly a stat's reply reaches its process and the next stat comes back 40-100 us later
 * (KVM's own halt polling defaults to 200 us for the same reason) */
#define DEFAULT_POLL_US 200

struct lsmfs_args {
    char *store;
    char *mnt;
    int nonopts;
    int foreground, debug, single, nonempty, help, version;
    int atime, nodiratime; /* enum lsmfs_atime */
    char *memtable_size, *cache_size, *compaction, *sync, *compression, *max_open_tables;
    char *writeback, *readdirplus, *opens, *poll_us, *readahead, *direct_creates, *uring;
};

enum {
    KEY_FG, KEY_DEBUG, KEY_SINGLE, KEY_HELP, KEY_VERSION, KEY_NONEMPTY,
    KEY_NOATIME, KEY_ATIME, KEY_RELATIME, KEY_STRICTATIME, KEY_NODIRATIME,
};

#define OPT(t, p) {t, offsetof(struct lsmfs_args, p), 0}
static const struct fuse_opt opt_spec[] = {
    OPT("memtable_size=%s", memtable_size),
    OPT("cache_size=%s", cache_size),
    OPT("compaction=%s", compaction),
    OPT("sync=%s", sync),
    OPT("compression=%s", compression),
    OPT("max_open_tables=%s", max_open_tables),
    OPT("writeback=%s", writeback),
    OPT("readdirplus=%s", readdirplus),
    OPT("opens=%s", opens),
    OPT("poll_us=%s", poll_us),
    OPT("readahead=%s", readahead),
    OPT("direct_creates=%s", direct_creates),
    OPT("uring=%s", uring),
    FUSE_OPT_KEY("-f", KEY_FG),
    FUSE_OPT_KEY("-d", KEY_DEBUG),
    FUSE_OPT_KEY("debug", KEY_DEBUG),
    FUSE_OPT_KEY("-s", KEY_SINGLE),
    FUSE_OPT_KEY("-h", KEY_HELP),
    FUSE_OPT_KEY("--help", KEY_HELP),
    FUSE_OPT_KEY("-V", KEY_VERSION),
    FUSE_OPT_KEY("--version", KEY_VERSION),
    FUSE_OPT_KEY("nonempty", KEY_NONEMPTY),
    FUSE_OPT_KEY("noatime", KEY_NOATIME),
    FUSE_OPT_KEY("atime", KEY_ATIME),
    FUSE_OPT_KEY("relatime", KEY_RELATIME),
    FUSE_OPT_KEY("strictatime", KEY_STRICTATIME),
    FUSE_OPT_KEY("norelatime", KEY_STRICTATIME),
    FUSE_OPT_KEY("nodiratime", KEY_NODIRATIME),
    FUSE_OPT_END,
};

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
    struct lsmfs_args *a = data;
    switch (key) {
    case FUSE_OPT_KEY_NONOPT:
        if (a->nonopts == 0)
            a->store = strdup(arg);
        else if (a->nonopts == 1)
            a->mnt = strdup(arg);
        a->nonopts++;
        return 0;
    case KEY_FG:
        a->foreground = 1;
        return 0;
    case KEY_DEBUG:
        a->foreground = a->debug = 1;
        return 0;
    case KEY_SINGLE:
        a->single = 1;
        return 0;
    case KEY_HELP:
        a->help = 1;
        return 0;
    case KEY_VERSION:
        a->version = 1;
        return 0;
    case KEY_NONEMPTY:
        a->nonempty = 1;
        return 0;
    /* atime policy is the daemon's (the kernel never moves a FUSE inode's atime); libfuse
     * knows only noatime and atime, which it also hands to the kernel */
    case KEY_NOATIME:
        a->atime = LSMFS_ATIME_NEVER;
        return 1;
    case KEY_ATIME:
        a->atime = LSMFS_ATIME_RELATIME;
        return 1;
    case KEY_RELATIME:
        a->atime = LSMFS_ATIME_RELATIME;
        return 0;
    case KEY_STRICTATIME:
        a->atime = LSMFS_ATIME_STRICT;
        return 0;
    case KEY_NODIRATIME:
        a->nodiratime = 1;
        return 0;
    }
    return 1;
}

static void usage(const char *prog)
{
    printf("usage: %s [options] STORE_DIR MOUNTPOINT\n"
           "\n"
           "Mount the lsmfs store in STORE_DIR (created if missing) on MOUNTPOINT.\n"
           "\n"
           "general options:\n"
           "    -f                     stay in the foreground\n"
           "    -d, -o debug           debug output (implies -f)\n"
           "    -s                     single-threaded\n"
           "    -h, --help             this help\n"
           "    -V, --version          print the version\n"
           "\n"
           "lsmfs options:\n"
           "    -o memtable_size=N     memtable size (bytes, K/M/G suffix; default 64M)\n"
           "    -o cache_size=N        block cache size (default 32M)\n"
           "    -o compaction=S        leveled (default) or tiered\n"
           "    -o sync=S              none, always or explicit (default: fsync is durable)\n"
           "    -o compression=S       lz4 (default) or none\n"
           "    -o max_open_tables=N   table files kept open (default 256)\n"
           "    -o writeback=on|off    kernel writeback cache (default off): on, the kernel\n"
           "                           merges small writes and keeps size and mtime while it\n"
           "                           has dirty pages, but big sequential writes get slower\n"
           "    -o readdirplus=S       listings also return attributes: auto (default: when\n"
           "                           the kernel sees entries looked up after a listing),\n"
           "                           on (always) or off (never; a bare listing is fastest)\n"
           "    -o opens=daemon|kernel who opens regular files (default kernel, or daemon\n"
           "                           with writeback=on or strictatime).  kernel: the kernel\n"
           "                           opens, reads cached pages and closes without asking\n"
           "                           the daemon (fastest re-reads), and every write is\n"
           "                           committed as it arrives.  daemon: every open asks\n"
           "                           the daemon, and big writes are acknowledged early\n"
           "    -o poll_us=N           after a request, poll up to N microseconds for the\n"
           "                           next one before sleeping, while CPU time is spare\n"
           "                           (default 200; 0: never)\n"
           "    -o readahead=N         the kernel's readahead window for sequential reads\n"
           "                           (4K..1G, default 1M; 0: the kernel's own, 128 KiB;\n"
           "                           root only)\n"
           "    -o direct_creates=on|off  files created write-only are written without the\n"
           "                           page cache: one round trip less per small file, but\n"
           "                           see README, Limits (default off)\n"
           "    -o uring=auto|on|off   serve requests through FUSE over io_uring, one queue\n"
           "                           per CPU, when the kernel offers it (the fuse module's\n"
           "                           enable_uring parameter; Linux 6.14+).  auto (the\n"
           "                           default): when offered; on: refuse to mount without\n"
           "                           it\n"
           "    -o nonempty            allow mounting over a non-empty directory\n"
           "    -o relatime|strictatime|noatime|nodiratime  when reads move atime (default\n"
           "                           relatime: the first read after a change, or daily)\n"
           "\n"
           "Unmount with `fusermount3 -u MOUNTPOINT` (or umount, or SIGTERM).\n"
           "FUSE options (-o allow_other, auto_unmount, ...) are passed to libfuse:\n\n",
           prog);
}

static int parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -1;
    switch (*end) {
    case 'k': case 'K': v <<= 10; end++; break;
    case 'm': case 'M': v <<= 20; end++; break;
    case 'g': case 'G': v <<= 30; end++; break;
    default: break;
    }
    if (*end == 'i' && end[-1] != 'i')
        end++;
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end)
        return -1;
    *out = (size_t)v;
    return 0;
}

/* Fill o from the -o options; an invalid value gives a message in err. */
static int store_options(const struct lsmfs_args *a, lsm_options *o, char *err, size_t n)
{
    lsm_options_init(o);
    /* A filesystem streams whole files through the store: a bigger memtable than liblsm's
     * default halves the flushes and level-0 churn of large writes (measured: 42 -> 80 MB/s
     * for a 256 MiB sequential write). */
    o->memtable_size = 64u << 20;
    o->block_cache_size = 32u << 20;
    size_t v;
    if (a->memtable_size) {
        if (parse_size(a->memtable_size, &v) || v < 64 * 1024) {
            snprintf(err, n, "invalid memtable_size '%s' (a size >= 64K)", a->memtable_size);
            return -1;
        }
        o->memtable_size = v;
    }
    if (a->cache_size) {
        if (parse_size(a->cache_size, &v)) {
            snprintf(err, n, "invalid cache_size '%s'", a->cache_size);
            return -1;
        }
        o->block_cache_size = v;
    }
    if (a->max_open_tables) {
        if (parse_size(a->max_open_tables, &v) || v < 16 || v > 100000) {
            snprintf(err, n, "invalid max_open_tables '%s' (16..100000)", a->max_open_tables);
            return -1;
        }
        o->max_open_tables = (int)v;
    }
    if (a->compaction) {
        if (strcmp(a->compaction, "leveled") == 0)
            o->compaction_style = LSM_COMPACTION_LEVELED;
        else if (strcmp(a->compaction, "tiered") == 0)
            o->compaction_style = LSM_COMPACTION_TIERED;
        else {
            snprintf(err, n, "invalid compaction '%s' (leveled or tiered)", a->compaction);
            return -1;
        }
    }
    if (a->sync) {
        if (strcmp(a->sync, "none") == 0)
            o->sync_policy = LSM_SYNC_NONE;
        else if (strcmp(a->sync, "always") == 0)
            o->sync_policy = LSM_SYNC_ALWAYS;
        else if (strcmp(a->sync, "explicit") == 0)
            o->sync_policy = LSM_SYNC_EXPLICIT;
        else {
            snprintf(err, n, "invalid sync '%s' (none, always or explicit)", a->sync);
            return -1;
        }
    }
    if (a->compression) {
        if (strcmp(a->compression, "lz4") == 0)
            o->compression = LSM_COMPRESSION_LZ4;
        else if (strcmp(a->compression, "none") == 0)
            o->compression = LSM_COMPRESSION_NONE;
        else {
            snprintf(err, n, "invalid compression '%s' (lz4 or none)", a->compression);
            return -1;
        }
    }
    return 0;
}

/* The mount point must be an existing directory, and empty unless nonempty. */
static int check_mountpoint(const char *mnt, int nonempty, char *err, size_t n)
{
    struct stat st;
    if (stat(mnt, &st) != 0) {
        snprintf(err, n, "mountpoint %s: %s", mnt, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, n, "mountpoint %s: %s", mnt, strerror(ENOTDIR));
        return -1;
    }
    if (nonempty)
        return 0;
    DIR *d = opendir(mnt);
    if (!d) {
        snprintf(err, n, "mountpoint %s: %s", mnt, strerror(errno));
        return -1;
    }
    struct dirent *e;
    int empty = 1;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            empty = 0;
            break;
        }
    closedir(d);
    if (!empty) {
        snprintf(err, n, "mountpoint %s is not empty (use -o nonempty to mount over it)", mnt);
        return -1;
    }
    return 0;
}

static void store_error(int r, const char *store, char *err, size_t n)
{
    const char *m = lsm_last_error();
    if (r == LSM_EINUSE)
        snprintf(err, n, "store %s is in use by another process (already mounted?)", store);
    else if (r == -EPROTONOSUPPORT)
        snprintf(err, n, "store %s was written by a newer lsmfs (its format is unknown here)",
                 store);
    else if (r == LSM_ENOTSTORE)
        snprintf(err, n, "%s is not an lsmfs store%s%s", store, m && *m ? ": " : "", m);
    else if (r == LSM_ECORRUPT)
        snprintf(err, n, "store %s is corrupted: %s (try `lsmfs-ctl check --repair`)", store,
                 m && *m ? m : "checksum or structure check failed");
    else
        snprintf(err, n, "cannot open store %s: %s%s%s", store, strerror(-r),
                 m && *m ? ": " : "", m);
}

/* Report the start-up verdict to the waiting parent (or stderr in the foreground). */
static void verdict(int fd, const char *msg)
{
    if (fd < 0) {
        if (msg)
            fprintf(stderr, "lsmfs: %s\n", msg);
        return;
    }
    const char *text = msg ? msg : "OK";
    ssize_t w = write(fd, text, strlen(text));
    (void)w;
    close(fd);
}

/* mountinfo_each's callback: whether e is a mount of the store arg. */
static int is_store(const mountinfo_entry *e, void *arg)
{
    return strcmp(e->source, arg) == 0;
}

/* True if /proc/self/mountinfo lists a fuse.lsmfs mount whose source is store: a daemon that
 * still serves it, as opposed to one that is unmounted and only finishing its close. */
static int store_is_mounted(const char *store)
{
    int r = mountinfo_each("fuse.lsmfs", is_store, (void *)store);
    return r != 0; /* a table that cannot be read (r < 0): cannot tell, do not wait */
}

/* Open the store.  A store locked by a daemon that is no longer mounted is one still closing
 * after `umount` (which returns before the daemon has flushed and released the store), so
 * `umount; lsmfs ...` waits for it, up to 10 s, instead of failing with "in use". */
static int open_store(const char *store, const lsm_options *opt, fscore **fs)
{
    int r = fscore_open(store, opt, 0, fs);
    for (int tries = 0; r == LSM_EINUSE && tries < 100 && !store_is_mounted(store); tries++) {
        usleep(100 * 1000);
        r = fscore_open(store, opt, 0, fs);
    }
    return r;
}

/* The parent of a backgrounded daemon: wait for the child's verdict and exit with it. */
static int parent_wait(int rfd, pid_t child)
{
    char buf[1024];
    size_t n = 0;
    for (;;) {
        ssize_t r = read(rfd, buf + n, sizeof buf - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
        if (n == sizeof buf - 1)
            break;
    }
    buf[n] = '\0';
    if (strcmp(buf, "OK") == 0)
        return 0;
    if (n == 0) {
        int status = 0;
        waitpid(child, &status, 0);
        fprintf(stderr, "lsmfs: the daemon exited before the filesystem was mounted\n");
    } else {
        fprintf(stderr, "lsmfs: %s\n", buf);
        waitpid(child, NULL, 0);
    }
    return 1;
}

static void args_free(struct lsmfs_args *a, struct fuse_args *args)
{
    fuse_opt_free_args(args);
    free(a->store);
    free(a->mnt);
    free(a->memtable_size);
    free(a->cache_size);
    free(a->compaction);
    free(a->sync);
    free(a->compression);
    free(a->max_open_tables);
    free(a->writeback);
    free(a->opens);
    free(a->readdirplus);
    free(a->poll_us);
    free(a->readahead);
    free(a->direct_creates);
    free(a->uring);
}

static int lsmfs_main(struct lsmfs_args *ap, struct fuse_args *args, char *argv[]);

/* The daemon's lines in `lsmfs-ctl stat`: the node table follows what the kernel caches. */
static void daemon_info(void *arg, char *buf, size_t size)
{
    snprintf(buf, size, "lsmfs daemon: %zu nodes known to the kernel\n",
             lsmfs_ctx_nodes(arg));
}

int main(int argc, char *argv[])
{
    struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
    struct lsmfs_args a;
    memset(&a, 0, sizeof a);
    int rc;
    /* One malloc arena for all threads: which thread serves a request changes over time, and
     * memory freed in one thread's arena (the node table after the kernel forgets a directory
     * of inodes) would otherwise stay there while another thread's arena grows. */
    mallopt(M_ARENA_MAX, 1);
    /* Keep READ and WRITE buffers (up to max_write, 1 MiB) on the heap and the heap's top in
     * place: by default a buffer of 128 KiB or more is a fresh mmap, and every page of every
     * big READ reply was faulted in and zeroed again (a fifth of the daemon's time in a
     * streaming read). */
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
    mallopt(M_TRIM_THRESHOLD, 16 << 20);
    if (fuse_opt_parse(&args, &a, opt_spec, opt_proc) != 0) {
        fprintf(stderr, "lsmfs: invalid options (see lsmfs --help)\n");
        rc = 1;
    } else {
        rc = lsmfs_main(&a, &args, argv);
    }
    args_free(&a, &args);
    return rc;
}

/* Everything after option parsing; returns the exit status (main frees the arguments). */
static int lsmfs_main(struct lsmfs_args *ap, struct fuse_args *args, char *argv[])
{
    const struct lsmfs_args a = *ap;
    if (a.help) {
        usage(argv[0]);
        fuse_lowlevel_help();
        return 0;
    }
    if (a.version) {
        printf("lsmfs %s (liblsm %s, libfuse %s)\n", LSMFS_VERSION, lsm_version(),
               fuse_pkgversion());
        return 0;
    }
    if (a.nonopts != 2) {
        fprintf(stderr, "lsmfs: need STORE_DIR and MOUNTPOINT (see lsmfs --help)\n");
        return 1;
    }
    char err[PATH_MAX * 3] = "";
    lsm_options lopt;
    /* Off by default: with it the kernel sends a big file's pages late and out of order, so
     * they miss the direct-to-table path (fs/file.c) and go through the WAL; measured 4x
     * slower for a sequential 512 MiB write, and no faster for small files. */
    int wb = 0;
    if (a.writeback) {
        if (strcmp(a.writeback, "on") == 0)
            wb = 1;
        else if (strcmp(a.writeback, "off") == 0)
            wb = 0;
        else {
            fprintf(stderr, "lsmfs: invalid writeback '%s' (on or off)\n", a.writeback);
            return 1;
        }
    }
    /* The kernel opens files by default: a cached re-read then costs no round trip (5x
     * faster measured).  Not possible with the writeback cache, whose flush at close the
     * daemon must see, nor with strictatime, where every read moves atime: those default to
     * daemon opens, and asking for kernel opens with them is an error. */
    int kernel_opens = !wb && a.atime != LSMFS_ATIME_STRICT;
    if (a.opens) {
        if (strcmp(a.opens, "kernel") == 0)
            kernel_opens = 1;
        else if (strcmp(a.opens, "daemon") == 0)
            kernel_opens = 0;
        else {
            fprintf(stderr, "lsmfs: invalid opens '%s' (daemon or kernel)\n", a.opens);
            return 1;
        }
    }
    if (kernel_opens && (wb || a.atime == LSMFS_ATIME_STRICT)) {
        fprintf(stderr, "lsmfs: opens=kernel cannot be combined with %s\n",
                wb ? "writeback=on" : "strictatime");
        return 1;
    }
    int direct_creates = 0;
    if (a.direct_creates) {
        if (strcmp(a.direct_creates, "on") == 0)
            direct_creates = 1;
        else if (strcmp(a.direct_creates, "off") != 0) {
            fprintf(stderr, "lsmfs: invalid direct_creates '%s' (on or off)\n",
                    a.direct_creates);
            return 1;
        }
    }
    if (direct_creates && (!kernel_opens || a.single)) {
        fprintf(stderr, "lsmfs: direct_creates=on needs opens=kernel and cannot be combined "
                        "with -s\n");
        return 1;
    }
    int uring = -1; /* auto */
    if (a.uring) {
        uring = strcmp(a.uring, "on") == 0 ? 1 : strcmp(a.uring, "off") == 0 ? 0 : -2;
        if (uring == -2 && strcmp(a.uring, "auto") == 0)
            uring = -1;
        if (uring == -2) {
            fprintf(stderr, "lsmfs: invalid uring '%s' (auto, on or off)\n", a.uring);
            return 1;
        }
    }
    if (uring == 1 && a.single) {
        fprintf(stderr, "lsmfs: uring=on cannot be combined with -s\n");
        return 1;
    }
    if (uring == 1 && lsmfs_uring_offered() != 1) {
        fprintf(stderr, "lsmfs: uring=on: the kernel does not offer FUSE over io_uring "
                        "(/sys/module/fuse/parameters/enable_uring is not Y)\n");
        return 1;
    }
    long poll_us = DEFAULT_POLL_US;
    if (a.poll_us) {
        char *end;
        errno = 0;
        poll_us = strtol(a.poll_us, &end, 10);
        if (errno || end == a.poll_us || *end || poll_us < 0 || poll_us > 1000000) {
            fprintf(stderr, "lsmfs: invalid poll_us '%s' (0..1000000)\n", a.poll_us);
            return 1;
        }
    }
    /* 1 MiB: a sequential reader keeps a whole READ (max_write, 1 MiB) in flight beside the
     * one the daemon answers; with the kernel's 128 KiB a cold 1 GiB read measured about half
     * as fast (fs/readahead.h) */
    size_t readahead = 1u << 20;
    /* The kernel counts the window in KiB: below 4K it would be 0, which turns readahead off
     * rather than leaving the kernel's */
    if (a.readahead && (parse_size(a.readahead, &readahead) || readahead > (1u << 30) ||
                        (readahead > 0 && readahead < 4096))) {
        fprintf(stderr, "lsmfs: invalid readahead '%s' (0, or 4K..1G)\n", a.readahead);
        return 1;
    }
    enum lsmfs_rdplus rdplus = LSMFS_RDPLUS_AUTO;
    if (a.readdirplus) {
        if (strcmp(a.readdirplus, "on") == 0)
            rdplus = LSMFS_RDPLUS_ON;
        else if (strcmp(a.readdirplus, "off") == 0)
            rdplus = LSMFS_RDPLUS_OFF;
        else if (strcmp(a.readdirplus, "auto") != 0) {
            fprintf(stderr, "lsmfs: invalid readdirplus '%s' (auto, on or off)\n",
                    a.readdirplus);
            return 1;
        }
    }
    if (store_options(&a, &lopt, err, sizeof err) || check_mountpoint(a.mnt, a.nonempty, err,
                                                                        sizeof err)) {
        fprintf(stderr, "lsmfs: %s\n", err);
        return 1;
    }
    /* fsname is the absolute store path, so /proc/mounts and `lsmfs-ctl` can find the store */
    if (mkdir(a.store, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "lsmfs: cannot create store %s: %s\n", a.store, strerror(errno));
        return 1;
    }
    char store_abs[PATH_MAX], mnt_abs[PATH_MAX];
    if (!realpath(a.store, store_abs)) {
        fprintf(stderr, "lsmfs: store %s: %s\n", a.store, strerror(errno));
        return 1;
    }
    if (!realpath(a.mnt, mnt_abs)) {
        fprintf(stderr, "lsmfs: mountpoint %s: %s\n", a.mnt, strerror(errno));
        return 1;
    }
    char extra[PATH_MAX + 128];
    if (strchr(store_abs, ',')) {
        fprintf(stderr, "lsmfs: store path %s must not contain ','\n", store_abs);
        return 1;
    }
    snprintf(extra, sizeof extra, "-ofsname=%s,subtype=lsmfs,default_permissions%s",
             store_abs, geteuid() == 0 ? ",allow_other" : "");
    fuse_opt_add_arg(args, extra);
    if (a.debug)
        fuse_opt_add_arg(args, "-odebug");

    int vfd = -1;
    if (!a.foreground) {
        int p[2];
        /* O_CLOEXEC: fusermount3 (auto_unmount) must not inherit the write end, or the parent
         * never sees EOF after "OK" and never returns. */
        if (pipe2(p, O_CLOEXEC) != 0) {
            fprintf(stderr, "lsmfs: pipe: %s\n", strerror(errno));
            return 1;
        }
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        if (pid < 0) {
            fprintf(stderr, "lsmfs: fork: %s\n", strerror(errno));
            return 1;
        }
        if (pid > 0) {
            close(p[1]);
            return parent_wait(p[0], pid);
        }
        close(p[0]);
        vfd = p[1];
        setsid();
    }

    /* The signals that end the loop stay blocked in every thread the daemon starts (liblsm's,
     * the control socket's, the loop's): lsmfs_loop takes them with sigwaitinfo.  Only the
     * mount (whose fusermount3 child inherits the mask) and a single-threaded loop (which
     * needs libfuse's handlers to interrupt its read) see them unblocked. */
    sigset_t ends, old_mask;
    sigemptyset(&ends);
    sigaddset(&ends, SIGTERM);
    sigaddset(&ends, SIGINT);
    sigaddset(&ends, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &ends, &old_mask);

    fscore *fs = NULL;
    int r = open_store(store_abs, &lopt, &fs);
    if (r) {
        store_error(r, store_abs, err, sizeof err);
        verdict(vfd, err);
        return 1;
    }
    lsmfs_ctx *ctx = lsmfs_ctx_new(fs, wb, rdplus);
    if (ctx) {
        lsmfs_ctx_set_atime(ctx, (enum lsmfs_atime)a.atime, a.nodiratime);
        lsmfs_ctx_set_kernel_opens(ctx, kernel_opens);
        lsmfs_ctx_set_readahead(ctx, (unsigned)readahead);
        lsmfs_ctx_set_hooked(ctx, !a.single); /* lsmfs_loop calls lsmfs_before_request */
        lsmfs_ctx_set_direct_creates(ctx, direct_creates);
    }
    struct fuse_session *se =
        ctx ? fuse_session_new(args, &lsmfs_ll_ops, sizeof lsmfs_ll_ops, ctx) : NULL;
    if (!se) {
        lsmfs_ctx_free(ctx);
        fscore_close(fs);
        verdict(vfd, "invalid FUSE options (see lsmfs --help)");
        return 1;
    }
    lsmfs_ctx_set_session(ctx, se);
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    int mounted = fuse_session_mount(se, mnt_abs) == 0;
    pthread_sigmask(SIG_BLOCK, &ends, NULL);
    if (!mounted) {
        fuse_session_destroy(se);
        lsmfs_ctx_free(ctx);
        fscore_close(fs);
        snprintf(err, sizeof err, "cannot mount on %s (see the message above or syslog)",
                 mnt_abs);
        verdict(vfd, err);
        return 1;
    }
    /* Not fatal: the mount works with the kernel's window.  Said only when asked for, since a
     * daemon that is not root cannot (EACCES) and the default must not warn there. */
    r = readahead ? fs_readahead_set(mnt_abs, readahead) : 0;
    if (r && a.readahead)
        fprintf(stderr, "lsmfs: cannot set readahead on %s: %s\n", mnt_abs, strerror(-r));
    if (fuse_set_signal_handlers(se) != 0) {
        fuse_session_unmount(se);
        fuse_session_destroy(se);
        lsmfs_ctx_free(ctx);
        fscore_close(fs);
        verdict(vfd, "cannot install signal handlers");
        return 1;
    }
    lsmfs_uring *ring = NULL;
    if (!a.single && uring != 0 && lsmfs_uring_offered() == 1) {
        r = lsmfs_uring_attach(se, a.debug, lsmfs_before_request, ctx, &ring);
        if (r)
            fprintf(stderr, "lsmfs: cannot use io_uring (%s): serving through /dev/fuse\n",
                    strerror(-r));
    }
    fsctl *ctl = NULL;
    r = fsctl_start(fs, daemon_info, ctx, &ctl);
    if (r) {
        fuse_remove_signal_handlers(se);
        lsmfs_uring_free(ring);
        fuse_session_unmount(se);
        fuse_session_destroy(se);
        lsmfs_ctx_free(ctx);
        fscore_close(fs);
        snprintf(err, sizeof err, "cannot create the control socket in %s: %s", store_abs,
                 strerror(-r));
        verdict(vfd, err);
        return 1;
    }
    openlog("lsmfs", LOG_PID, LOG_DAEMON);
    if (vfd >= 0) {
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2);
            if (null > 2)
                close(null);
        }
        if (chdir("/") != 0) { /* not fatal: only keeps the daemon off the caller's cwd */
        }
    }
    verdict(vfd, NULL);

    if (a.single) {
        pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
        r = fuse_session_loop(se);
    } else {
        /* with the rings, /dev/fuse carries only forgets, interrupts and what comes before
         * they start: polling it would take CPU time from the queue threads */
        r = lsmfs_loop(se, LOOP_THREADS, ring ? 0 : poll_us, lsmfs_before_request, ctx);
    }
    if (r > 0)
        r = 0; /* ended by SIGTERM/SIGINT/SIGHUP: a clean unmount */
    fsctl_stop(ctl);
    fuse_remove_signal_handlers(se);
    /* before the unmount, which closes the descriptor the queues' commands name */
    lsmfs_uring_free(ring);
    fuse_session_unmount(se);
    fuse_session_destroy(se);
    lsmfs_ctx_free(ctx);
    int rc = fscore_close(fs);
    if (rc) {
        syslog(LOG_ERR, "closing store %s: %s: %s", store_abs, strerror(-rc), lsm_last_error());
        if (a.foreground)
            fprintf(stderr, "lsmfs: closing store %s: %s: %s\n", store_abs, strerror(-rc),
                    lsm_last_error());
    }
    return (r != 0 || rc != 0) ? 1 : 0;
}
