/*
 * fsx — a random-operation file exerciser for lsmfs (after the classic fsx of NeXT/Apple/
 * Linux xfstests, written from scratch for this project).
 *
 * One file is driven through a long random sequence of operations — pread at random offsets
 * (also past EOF), pwrite at random offsets (extending the file), ftruncate up and down,
 * mmap(MAP_SHARED) reads and writes with msync, fallocate mode 0 / KEEP_SIZE / PUNCH_HOLE /
 * ZERO_RANGE, fsync, close + reopen, and lseek SEEK_DATA / SEEK_HOLE — while an in-memory copy
 * of the file (the "model") receives the same changes.  Every read, and the size after every
 * operation, is checked against the model; a full-file comparison runs after each reopen and at
 * the end.  A file system may place holes where it likes (or nowhere), but every range that
 * lseek calls a hole must be zeros in the model, and SEEK_DATA may skip only zeros.
 *
 * Invariant of the model: bytes at or beyond the current size are zero, so growing the file
 * (truncate, write past EOF, fallocate) needs no special zero-filling.
 *
 * Deterministic given the seed (printed first; -s to replay).  On the first difference it
 * prints the offset, expected and actual bytes, and the tail of the operation log, and exits 1.
 *
 * usage: fsx [-n OPS] [-s SEED] [-l MAXLEN] [-o MAXOP] [-M] [-F] [-q] [-d DUMP] FILE
 *   -n OPS     number of operations (default 100000)
 *   -d DUMP    after a passing run, write the model (the expected final content) to DUMP, so a
 *              caller can compare the file again later (e.g. after a remount)
 *   -l MAXLEN  maximum file size (default 1 MiB)
 *   -o MAXOP   maximum length of one read/write (default 64 KiB)
 *   -M         no mmap operations          -F  no fallocate operations
 *   -2         two descriptors: every operation uses one of two separate opens of the file at
 *              random (so data written through one open must be seen through the other), and
 *              some reopens replace only the second descriptor
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum op_kind {
    OP_READ, OP_WRITE, OP_TRUNCATE, OP_MAPREAD, OP_MAPWRITE, OP_PUNCH, OP_ZERO,
    OP_FALLOC, OP_FSYNC, OP_REOPEN, OP_SEEK, OP_NKINDS
};
static const char *op_names[OP_NKINDS] = {
    "read", "write", "truncate", "mapread", "mapwrite", "punch_hole", "zero_range",
    "fallocate", "fsync", "reopen", "seek"
};

#define LOG_SIZE 64

struct log_entry {
    long n;
    enum op_kind kind;
    uint64_t off, len;
    uint64_t size_before, size_after;
    int flag;               /* KEEP_SIZE for fallocate-family ops */
    int fdn;                /* which descriptor (1 or 2) */
};

/* All state of one run: no globals, so the helpers take it explicitly. */
struct fsx {
    const char *path;
    int fd, fd2, two, cur_fdn;    /* cur_fdn: descriptor (1/2) of the current operation */
    uint64_t rng;
    uint64_t maxlen, maxop, size;
    unsigned char *model, *buf;
    long page;
    int use_mmap, use_falloc, quiet;
    struct log_entry log[LOG_SIZE];
    long nlog;
    long counts[OP_NKINDS];
};

static uint64_t rnd(struct fsx *f)
{
    /* xorshift64*: fast, good enough, and identical on every platform for a given seed. */
    f->rng ^= f->rng >> 12;
    f->rng ^= f->rng << 25;
    f->rng ^= f->rng >> 27;
    return f->rng * 2685821657736338717ULL;
}

static uint64_t rnd_below(struct fsx *f, uint64_t n) { return n ? rnd(f) % n : 0; }

/* The descriptor for the next operation: with -2 one of the two opens, at random. */
static int xfd(struct fsx *f)
{
    f->cur_fdn = (f->two && (rnd(f) & 1)) ? 2 : 1;
    return f->cur_fdn == 2 ? f->fd2 : f->fd;
}

static void log_op(struct fsx *f, enum op_kind k, uint64_t off, uint64_t len, int flag,
                   uint64_t before)
{
    struct log_entry *e = &f->log[f->nlog % LOG_SIZE];
    e->n = f->nlog;
    e->kind = k;
    e->off = off;
    e->len = len;
    e->flag = flag;
    e->size_before = before;
    e->size_after = f->size;
    e->fdn = f->cur_fdn;
    f->nlog++;
    f->counts[k]++;
}

static void dump_log(struct fsx *f)
{
    long first = f->nlog > LOG_SIZE ? f->nlog - LOG_SIZE : 0;
    fprintf(stderr, "fsx: last %ld operations (op# kind offset length size-before size-after):\n",
            f->nlog - first);
    for (long i = first; i < f->nlog; i++) {
        struct log_entry *e = &f->log[i % LOG_SIZE];
        fprintf(stderr, "  %7ld %-10s off=%-8" PRIu64 " len=%-7" PRIu64 " size %" PRIu64
                " -> %" PRIu64 "%s fd%d\n", e->n, op_names[e->kind], e->off, e->len,
                e->size_before, e->size_after, e->flag ? " KEEP_SIZE" : "", e->fdn);
    }
}

static void die(struct fsx *f, const char *fmt, const char *what, int err)
{
    fprintf(stderr, "fsx: FAIL at op %ld: ", f->nlog);
    fprintf(stderr, fmt, what);
    if (err) fprintf(stderr, ": %s", strerror(err));
    fprintf(stderr, "\n");
    dump_log(f);
    exit(1);
}

/* Compare n bytes read at off with the model; report the first difference. */
static void check_bytes(struct fsx *f, const char *what, uint64_t off, const unsigned char *got,
                        uint64_t n)
{
    if (memcmp(got, f->model + off, n) == 0) return;
    uint64_t i = 0;
    while (got[i] == f->model[off + i]) i++;
    uint64_t j = i;
    while (j < n && got[j] != f->model[off + j]) j++;
    fprintf(stderr, "fsx: FAIL at op %ld: %s: data mismatch at file offset %" PRIu64
            " (0x%" PRIx64 "): expected 0x%02x got 0x%02x; %" PRIu64
            " differing bytes from there (read covered %" PRIu64 "+%" PRIu64 ", size %" PRIu64
            ")\n", f->nlog, what, off + i, off + i, f->model[off + i], got[i], j - i, off, n,
           f->size);
    fprintf(stderr, "  expected:");
    for (uint64_t k = i; k < i + 16 && k < n; k++) fprintf(stderr, " %02x", f->model[off + k]);
    fprintf(stderr, "\n  got:     ");
    for (uint64_t k = i; k < i + 16 && k < n; k++) fprintf(stderr, " %02x", got[k]);
    fprintf(stderr, "\n");
    dump_log(f);
    exit(1);
}

static void check_size(struct fsx *f, const char *when)
{
    struct stat st;
    if (fstat(f->fd, &st) != 0) die(f, "fstat after %s", when, errno);
    if ((uint64_t)st.st_size != f->size) {
        fprintf(stderr, "fsx: FAIL at op %ld: size after %s is %lld, expected %" PRIu64 "\n",
                f->nlog, when, (long long)st.st_size, f->size);
        dump_log(f);
        exit(1);
    }
}

static void full_check(struct fsx *f, const char *when)
{
    check_size(f, when);
    uint64_t off = 0;
    while (off < f->size) {
        uint64_t n = f->size - off < f->maxop ? f->size - off : f->maxop;
        ssize_t r = pread(xfd(f), f->buf, n, (off_t)off);
        if (r < 0) die(f, "pread in full check after %s", when, errno);
        if ((uint64_t)r != n) die(f, "short pread in full check after %s", when, 0);
        check_bytes(f, when, off, f->buf, n);
        off += n;
    }
}

static void do_open(struct fsx *f, int flags)
{
    f->fd = open(f->path, O_RDWR | flags, 0644);
    if (f->fd < 0) die(f, "open %s", f->path, errno);
    if (f->two) {
        f->fd2 = open(f->path, O_RDWR);
        if (f->fd2 < 0) die(f, "open (second) %s", f->path, errno);
    }
}

/* Random length: half the operations small (< 4 KiB), the rest up to maxop. */
static uint64_t rand_len(struct fsx *f)
{
    uint64_t lim = (rnd(f) & 1) ? 4096 : f->maxop;
    if (lim > f->maxop) lim = f->maxop;
    return 1 + rnd_below(f, lim);
}

static void op_read(struct fsx *f)
{
    uint64_t len = rand_len(f);
    /* Mostly inside the file; sometimes straddling or past EOF to check short reads. */
    uint64_t span = f->size + (rnd_below(f, 8) == 0 ? f->maxop : 0);
    uint64_t off = rnd_below(f, span + 1);
    log_op(f, OP_READ, off, len, 0, f->size);
    ssize_t r = pread(xfd(f), f->buf, len, (off_t)off);
    if (r < 0) die(f, "%s", "pread", errno);
    uint64_t want = off >= f->size ? 0 : (f->size - off < len ? f->size - off : len);
    if ((uint64_t)r != want) {
        fprintf(stderr, "fsx: FAIL at op %ld: pread(off=%" PRIu64 ", len=%" PRIu64
                ") returned %zd, expected %" PRIu64 " (size %" PRIu64 ")\n",
                f->nlog, off, len, r, want, f->size);
        dump_log(f);
        exit(1);
    }
    check_bytes(f, "read", off, f->buf, want);
}

static void op_write(struct fsx *f)
{
    uint64_t len = rand_len(f);
    uint64_t off = rnd_below(f, f->maxlen - len + 1);
    uint64_t before = f->size;
    for (uint64_t i = 0; i < len; i++) f->buf[i] = (unsigned char)(rnd(f) >> 56);
    memcpy(f->model + off, f->buf, len);
    if (off + len > f->size) f->size = off + len;
    log_op(f, OP_WRITE, off, len, 0, before);
    ssize_t r = pwrite(xfd(f), f->buf, len, (off_t)off);
    if (r < 0) die(f, "%s", "pwrite", errno);
    if ((uint64_t)r != len) die(f, "%s", "short pwrite", 0);
}

static void set_size(struct fsx *f, uint64_t newsize)
{
    if (newsize < f->size) memset(f->model + newsize, 0, f->size - newsize);
    f->size = newsize;
}

static void op_truncate(struct fsx *f)
{
    uint64_t before = f->size;
    uint64_t ns = rnd_below(f, f->maxlen + 1);
    if (rnd_below(f, 4) == 0) ns = rnd_below(f, 4096);   /* exercise small / inline sizes */
    set_size(f, ns);
    log_op(f, OP_TRUNCATE, 0, ns, 0, before);
    if (ftruncate(xfd(f), (off_t)ns) != 0) die(f, "%s", "ftruncate", errno);
}

static void op_mapread(struct fsx *f)
{
    if (f->size == 0) { op_read(f); return; }
    uint64_t len = rand_len(f);
    uint64_t off = rnd_below(f, f->size);
    if (off + len > f->size) len = f->size - off;
    uint64_t pg = off - off % (uint64_t)f->page;
    log_op(f, OP_MAPREAD, off, len, 0, f->size);
    void *p = mmap(NULL, len + (off - pg), PROT_READ, MAP_SHARED, xfd(f), (off_t)pg);
    if (p == MAP_FAILED) die(f, "%s", "mmap(PROT_READ, MAP_SHARED)", errno);
    memcpy(f->buf, (unsigned char *)p + (off - pg), len);
    if (munmap(p, len + (off - pg)) != 0) die(f, "%s", "munmap", errno);
    check_bytes(f, "mapread", off, f->buf, len);
}

static void op_mapwrite(struct fsx *f)
{
    uint64_t len = rand_len(f);
    uint64_t off = rnd_below(f, f->maxlen - len + 1);
    uint64_t before = f->size;
    /* A mapping cannot extend a file: grow it first, as fsx does. */
    if (off + len > f->size) {
        if (ftruncate(xfd(f), (off_t)(off + len)) != 0) die(f, "%s", "ftruncate before mapwrite", errno);
        f->size = off + len;
    }
    for (uint64_t i = 0; i < len; i++) f->buf[i] = (unsigned char)(rnd(f) >> 56);
    memcpy(f->model + off, f->buf, len);
    log_op(f, OP_MAPWRITE, off, len, 0, before);
    uint64_t pg = off - off % (uint64_t)f->page;
    void *p = mmap(NULL, len + (off - pg), PROT_READ | PROT_WRITE, MAP_SHARED, xfd(f), (off_t)pg);
    if (p == MAP_FAILED) die(f, "%s", "mmap(PROT_WRITE, MAP_SHARED)", errno);
    memcpy((unsigned char *)p + (off - pg), f->buf, len);
    if (msync(p, len + (off - pg), MS_SYNC) != 0) die(f, "%s", "msync", errno);
    if (munmap(p, len + (off - pg)) != 0) die(f, "%s", "munmap", errno);
}

static void op_falloc(struct fsx *f, enum op_kind k)
{
    uint64_t len = rand_len(f);
    uint64_t off = rnd_below(f, f->maxlen - len + 1);
    uint64_t before = f->size;
    int keep = k == OP_PUNCH ? 1 : (int)(rnd(f) & 1);
    int mode = keep ? FALLOC_FL_KEEP_SIZE : 0;
    if (k == OP_PUNCH) mode |= FALLOC_FL_PUNCH_HOLE;
    if (k == OP_ZERO) mode |= FALLOC_FL_ZERO_RANGE;
    uint64_t end = off + len;
    if (k != OP_FALLOC) {
        uint64_t zend = end < f->size ? end : f->size;
        if (off < zend) memset(f->model + off, 0, zend - off);
    }
    if (!keep && end > f->size) f->size = end;
    log_op(f, k, off, len, keep, before);
    if (fallocate(xfd(f), mode, (off_t)off, (off_t)len) != 0)
        die(f, "fallocate(%s)", op_names[k], errno);
}

/* 1 if the model holds only zeros in [lo, hi). */
static int model_zero(const struct fsx *f, uint64_t lo, uint64_t hi)
{
    for (uint64_t i = lo; i < hi; i++)
        if (f->model[i]) return 0;
    return 1;
}

/* Where lseek(whence) from off lands: the offset, or the size for ENXIO (no data up to the
 * end); dies on another error. */
static uint64_t seek_to(struct fsx *f, int fd, uint64_t off, int whence, const char *what)
{
    off_t r = lseek(fd, (off_t)off, whence);
    if (r < 0 && errno == ENXIO && whence == SEEK_DATA) return f->size;
    if (r < 0) die(f, "%s", what, errno);
    return (uint64_t)r;
}

/* SEEK_DATA and SEEK_HOLE from a random offset: results inside [off, size], only zeros
 * skipped, and the hole found reads as zeros up to the next data. */
static void op_seek(struct fsx *f)
{
    uint64_t off = rnd_below(f, f->size + 1);
    log_op(f, OP_SEEK, off, 0, 0, f->size);
    int fd = xfd(f);
    if (off == f->size) {
        errno = 0;
        if (lseek(fd, (off_t)off, SEEK_DATA) != -1 || errno != ENXIO)
            die(f, "%s", "SEEK_DATA at the end of file: expected ENXIO", errno);
        return;
    }
    uint64_t d = seek_to(f, fd, off, SEEK_DATA, "lseek(SEEK_DATA)");
    if (d < off || d > f->size || !model_zero(f, off, d)) {
        fprintf(stderr, "fsx: FAIL at op %ld: SEEK_DATA from %" PRIu64 " gave %" PRIu64
                " (size %" PRIu64 "), skipping data\n", f->nlog, off, d, f->size);
        dump_log(f);
        exit(1);
    }
    uint64_t h = seek_to(f, fd, off, SEEK_HOLE, "lseek(SEEK_HOLE)");
    uint64_t next = h < f->size ? seek_to(f, fd, h, SEEK_DATA, "lseek(SEEK_DATA) after the hole") : h;
    if (h < off || h > f->size || next < h || !model_zero(f, h, next)) {
        fprintf(stderr, "fsx: FAIL at op %ld: SEEK_HOLE from %" PRIu64 " gave %" PRIu64
                ", next data at %" PRIu64 " (size %" PRIu64 "): the hole holds data\n",
                f->nlog, off, h, next, f->size);
        dump_log(f);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    struct fsx f;
    memset(&f, 0, sizeof f);
    long nops = 100000;
    uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
    f.maxlen = 1 << 20;
    f.maxop = 64 << 10;
    f.use_mmap = 1;
    f.use_falloc = 1;
    const char *dump = NULL;
    int c;
    while ((c = getopt(argc, argv, "n:s:l:o:MFqd:2")) != -1) {
        switch (c) {
        case 'n': nops = atol(optarg); break;
        case 's': seed = strtoull(optarg, NULL, 0); break;
        case 'l': f.maxlen = strtoull(optarg, NULL, 0); break;
        case 'o': f.maxop = strtoull(optarg, NULL, 0); break;
        case 'M': f.use_mmap = 0; break;
        case 'F': f.use_falloc = 0; break;
        case 'q': f.quiet = 1; break;
        case 'd': dump = optarg; break;
        case '2': f.two = 1; break;
        default:
            fprintf(stderr, "usage: fsx [-n OPS] [-s SEED] [-l MAXLEN] [-o MAXOP] [-M] [-F] [-q] [-d DUMP] [-2] FILE\n");
            return 2;
        }
    }
    if (optind != argc - 1 || f.maxop == 0 || f.maxop > f.maxlen) {
        fprintf(stderr, "usage: fsx [-n OPS] [-s SEED] [-l MAXLEN] [-o MAXOP] [-M] [-F] [-q] [-d DUMP] [-2] FILE\n");
        return 2;
    }
    f.path = argv[optind];
    f.rng = seed ? seed : 1;
    f.page = sysconf(_SC_PAGESIZE);
    f.model = calloc(f.maxlen + f.maxop, 1);
    f.buf = malloc(f.maxlen + f.maxop);
    if (!f.model || !f.buf) { fprintf(stderr, "fsx: out of memory\n"); return 1; }
    printf("fsx: file %s, %ld ops, seed %" PRIu64 " (replay with -s %" PRIu64 "), maxlen %" PRIu64
           ", maxop %" PRIu64 "%s%s%s\n", f.path, nops, seed, seed, f.maxlen, f.maxop,
           f.use_mmap ? "" : ", no mmap", f.use_falloc ? "" : ", no fallocate", f.two ? ", two descriptors" : "");
    fflush(stdout);

    do_open(&f, O_CREAT | O_TRUNC);
    for (long i = 0; i < nops; i++) {
        uint64_t r = rnd_below(&f, 100);
        enum op_kind k;
        /* Weights: read 22, seek 3, write 25, truncate 6, mapread 10, mapwrite 10, punch 6,
         * zero 6, fallocate 4, fsync 3, reopen 5. */
        if (r < 22) k = OP_READ;
        else if (r < 25) k = OP_SEEK;
        else if (r < 50) k = OP_WRITE;
        else if (r < 56) k = OP_TRUNCATE;
        else if (r < 66) k = OP_MAPREAD;
        else if (r < 76) k = OP_MAPWRITE;
        else if (r < 82) k = OP_PUNCH;
        else if (r < 88) k = OP_ZERO;
        else if (r < 92) k = OP_FALLOC;
        else if (r < 95) k = OP_FSYNC;
        else k = OP_REOPEN;
        if (!f.use_mmap && (k == OP_MAPREAD || k == OP_MAPWRITE)) k = k == OP_MAPREAD ? OP_READ : OP_WRITE;
        if (!f.use_falloc && (k == OP_PUNCH || k == OP_ZERO || k == OP_FALLOC)) k = OP_TRUNCATE;
        switch (k) {
        case OP_READ: op_read(&f); break;
        case OP_WRITE: op_write(&f); break;
        case OP_TRUNCATE: op_truncate(&f); break;
        case OP_MAPREAD: op_mapread(&f); break;
        case OP_MAPWRITE: op_mapwrite(&f); break;
        case OP_PUNCH: case OP_ZERO: case OP_FALLOC: op_falloc(&f, k); break;
        case OP_SEEK: op_seek(&f); break;
        case OP_FSYNC:
            log_op(&f, OP_FSYNC, 0, 0, 0, f.size);
            if (fsync(xfd(&f)) != 0) die(&f, "%s", "fsync", errno);
            break;
        case OP_REOPEN:
            f.cur_fdn = 1;
            if (f.two && rnd_below(&f, 2) == 0) {
                /* Replace only the second open while the first may hold unflushed data. */
                f.cur_fdn = 2;
                log_op(&f, OP_REOPEN, 0, 0, 0, f.size);
                if (close(f.fd2) != 0) die(&f, "%s", "close (second)", errno);
                f.fd2 = open(f.path, O_RDWR);
                if (f.fd2 < 0) die(&f, "reopen (second) %s", f.path, errno);
                break;
            }
            log_op(&f, OP_REOPEN, 0, 0, 0, f.size);
            if (close(f.fd) != 0) die(&f, "%s", "close", errno);
            if (f.two && close(f.fd2) != 0) die(&f, "%s", "close (second)", errno);
            do_open(&f, 0);
            if (rnd_below(&f, 4) == 0) full_check(&f, "reopen");
            break;
        default: break;
        }
        check_size(&f, op_names[k]);
        if (!f.quiet && (i + 1) % 20000 == 0) {
            printf("fsx: %ld ops done\n", i + 1);
            fflush(stdout);
        }
    }
    if (close(f.fd) != 0) die(&f, "%s", "final close", errno);
    if (f.two && close(f.fd2) != 0) die(&f, "%s", "final close (second)", errno);
    do_open(&f, 0);
    full_check(&f, "final reopen");
    close(f.fd);
    if (f.two) close(f.fd2);
    if (dump) {
        FILE *o = fopen(dump, "w");
        if (!o || fwrite(f.model, 1, f.size, o) != f.size || fclose(o) != 0) {
            fprintf(stderr, "fsx: cannot write model to %s\n", dump);
            return 1;
        }
    }
    printf("fsx: PASS %ld ops, seed %" PRIu64 ":", nops, seed);
    for (int k = 0; k < OP_NKINDS; k++) printf(" %s=%ld", op_names[k], f.counts[k]);
    printf("\n");
    free(f.model);
    free(f.buf);
    return 0;
}
