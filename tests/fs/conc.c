/*
 * conc — concurrent readers and writers on one file system, then verification.
 *
 * usage: conc [-t SECONDS] [-w WRITERS] [-r READERS] [-k STRIPERS] [-a APPENDERS] [-s SEED] DIR
 *
 * For SECONDS (default 20), in parallel processes:
 *   - WRITERS (4) each own DIR/wN: create files (header {magic, seed, size} + deterministic body,
 *     sizes 0..1 MiB) as NAME.tmp then rename to NAME, replace some the same way, delete some;
 *     at the end each verifies that its directory holds exactly its model, byte for byte.
 *   - READERS (4) list random writer directories, open random finished files and verify them
 *     against their self-describing header (a vanished file is fine: it was deleted); they also
 *     read random ranges of the shared file (each byte must be 0 or its final value).
 *   - STRIPERS (3) write disjoint stripes of one shared file DIR/shared, in random order and
 *     random piece sizes, with pwrite and (every 4th piece) through a MAP_SHARED mapping,
 *     several passes; afterwards the whole file must equal the expected content.
 *   - APPENDERS (3) append 64-byte records (writer id, sequence number, checksum) to DIR/log
 *     with O_APPEND; afterwards every record is intact and each appender's sequence is complete
 *     and in order.
 * Exit 0 if every check passed; prints per-process statistics and the seed.
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAGIC 0x6c736d6673636f6eULL   /* "lsmfscon" */
#define STRIPE (3u << 20)             /* bytes per striper */
#define RECORD 64

struct cfg { const char *dir; double secs; int writers, readers, stripers, appenders; uint64_t seed; };

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void fill(uint64_t seed, uint64_t off, unsigned char *buf, size_t n)
{
    uint64_t s = seed + (off / 8) * 0x9e3779b97f4a7c15ULL;
    size_t skip = off % 8, i = 0;
    while (i < n) {
        uint64_t r = splitmix(&s);
        for (size_t j = skip; j < 8 && i < n; j++) buf[i++] = (unsigned char)(r >> (8 * j));
        skip = 0;
    }
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

#define FAILX(...) do { fprintf(stderr, "conc: FAIL: " __VA_ARGS__); fprintf(stderr, "\n"); _exit(1); } while (0)

/* Verifies a self-describing file; 0 ok, 1 vanished (ENOENT), exits on corruption. */
static int verify_file(const char *path, unsigned char *buf, unsigned char *exp, size_t cap)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        if (errno == ENOENT) return 1;
        FAILX("open %s: %s", path, strerror(errno));
    }
    uint64_t hdr[3];
    ssize_t r = pread(fd, hdr, sizeof hdr, 0);
    if (r != (ssize_t)sizeof hdr || hdr[0] != MAGIC) FAILX("%s: bad header (read %zd)", path, r);
    uint64_t size = hdr[2];
    struct stat st;
    if (fstat(fd, &st) != 0) FAILX("fstat of open %s: %s", path, strerror(errno));
    if ((uint64_t)st.st_size != size + sizeof hdr)
        FAILX("%s: size %lld, header says %" PRIu64, path, (long long)st.st_size, size + sizeof hdr);
    uint64_t off = 0;
    while (off < size) {
        size_t n = size - off < cap ? size - off : cap;
        r = pread(fd, buf, n, (off_t)(off + sizeof hdr));
        if (r != (ssize_t)n) FAILX("%s: short read at %" PRIu64 ": %zd", path, off, r);
        fill(hdr[1], off, exp, n);
        if (memcmp(buf, exp, n)) FAILX("%s: content differs in [%" PRIu64 ", +%zu)", path, off, n);
        off += n;
    }
    close(fd);
    return 0;
}

static int write_file(const char *path, uint64_t seed, uint64_t size, unsigned char *buf, size_t cap)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return -1;
    uint64_t hdr[3] = {MAGIC, seed, size};
    if (write(fd, hdr, sizeof hdr) != (ssize_t)sizeof hdr) { close(fd); return -1; }
    uint64_t off = 0;
    while (off < size) {
        size_t n = size - off < cap ? size - off : cap;
        fill(seed, off, buf, n);
        if (write(fd, buf, n) != (ssize_t)n) { close(fd); return -1; }
        off += n;
    }
    return close(fd);
}

struct wfile { char name[32]; uint64_t seed, size; int live; };

static void writer(const struct cfg *c, int id)
{
    char dir[4096], path[4200], tmp[4300];
    snprintf(dir, sizeof dir, "%s/w%d", c->dir, id);
    if (mkdir(dir, 0755) != 0) FAILX("mkdir %s: %s", dir, strerror(errno));
    uint64_t rng = c->seed * 1000 + id;
    static struct wfile f[4096];
    int nf = 0, created = 0, replaced = 0, deleted = 0;
    unsigned char *buf = malloc(1 << 16);
    double end = now() + c->secs;
    while (now() < end && nf < 4096) {
        uint64_t r = splitmix(&rng) % 10;
        int k = -1;
        if (nf > 0 && r < 4) {
            k = (int)(splitmix(&rng) % nf);
            if (!f[k].live) continue;
        }
        if (k >= 0 && r < 1) {
            snprintf(path, sizeof path, "%s/%.31s", dir, f[k].name);
            if (unlink(path) != 0) FAILX("unlink %s: %s", path, strerror(errno));
            f[k].live = 0;
            deleted++;
            continue;
        }
        struct wfile *w = k >= 0 ? &f[k] : &f[nf];
        if (k < 0) snprintf(w->name, sizeof w->name, "f%d", nf);
        uint64_t cls = splitmix(&rng) % 10;
        w->size = cls < 5 ? splitmix(&rng) % 4096 : cls < 9 ? splitmix(&rng) % 65536 : splitmix(&rng) % (1 << 20);
        w->seed = splitmix(&rng);
        snprintf(path, sizeof path, "%s/%.31s", dir, w->name);
        snprintf(tmp, sizeof tmp, "%s/.%.31s.tmp", dir, w->name);
        if (write_file(tmp, w->seed, w->size, buf, 1 << 16) != 0) FAILX("write %s: %s", tmp, strerror(errno));
        if (rename(tmp, path) != 0) FAILX("rename %s: %s", tmp, strerror(errno));
        w->live = 1;
        if (k < 0) { nf++; created++; } else replaced++;
    }
    /* Final check: the directory holds exactly the live files, each intact. */
    unsigned char *exp = malloc(1 << 16);
    int live = 0;
    for (int i = 0; i < nf; i++) {
        if (!f[i].live) continue;
        live++;
        snprintf(path, sizeof path, "%s/%.31s", dir, f[i].name);
        if (verify_file(path, buf, exp, 1 << 16) != 0) FAILX("%s vanished", path);
        int fd = open(path, O_RDONLY);
        uint64_t hdr[3];
        if (fd < 0 || pread(fd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr || hdr[1] != f[i].seed) FAILX("%s: not the last version written", path);
        close(fd);
    }
    DIR *d = opendir(dir);
    struct dirent *de;
    int listed = 0;
    while (d && (de = readdir(d))) if (de->d_name[0] != '.') listed++;
    if (d) closedir(d);
    if (listed != live) FAILX("%s lists %d files, expected %d", dir, listed, live);
    printf("writer %d: %d created, %d replaced, %d deleted, %d verified at the end\n", id, created, replaced, deleted, live);
    fflush(stdout);
    _exit(0);
}

static void reader(const struct cfg *c, int id)
{
    uint64_t rng = c->seed * 2000 + id;
    unsigned char *buf = malloc(1 << 16), *exp = malloc(1 << 16);
    char dir[4096], path[4400];
    long ok = 0, vanished = 0, shared_reads = 0;
    double end = now() + c->secs;
    while (now() < end) {
        if (c->stripers && splitmix(&rng) % 4 == 0) {
            snprintf(path, sizeof path, "%s/shared", c->dir);
            int fd = open(path, O_RDONLY);
            if (fd < 0) continue;
            uint64_t total = (uint64_t)STRIPE * c->stripers;
            uint64_t off = splitmix(&rng) % total, n = 1 + splitmix(&rng) % 65536;
            if (off + n > total) n = total - off;
            ssize_t r = pread(fd, buf, n, (off_t)off);
            if (r < 0) FAILX("read shared: %s", strerror(errno));
            fill(c->seed ^ 0x5555, off, exp, r);
            for (ssize_t i = 0; i < r; i++)
                if (buf[i] != 0 && buf[i] != exp[i]) FAILX("shared file byte %" PRIu64 " is 0x%02x, neither 0 nor 0x%02x", off + i, buf[i], exp[i]);
            close(fd);
            shared_reads++;
            continue;
        }
        if (!c->writers) { usleep(1000); continue; }
        snprintf(dir, sizeof dir, "%s/w%d", c->dir, (int)(splitmix(&rng) % c->writers));
        DIR *d = opendir(dir);
        if (!d) continue;
        struct dirent *de;
        char names[64][32];
        int n = 0;
        while ((de = readdir(d)) && n < 64)
            if (de->d_name[0] != '.' && splitmix(&rng) % 3 == 0) snprintf(names[n++], 32, "%.31s", de->d_name);
        closedir(d);
        for (int i = 0; i < n && i < 4; i++) {
            snprintf(path, sizeof path, "%s/%.31s", dir, names[splitmix(&rng) % n]);
            if (verify_file(path, buf, exp, 1 << 16) == 0) ok++; else vanished++;
        }
    }
    printf("reader %d: %ld files verified, %ld vanished under it, %ld shared-file reads checked\n", id, ok, vanished, shared_reads);
    if (c->writers && ok == 0) FAILX("reader %d verified no file at all", id);
    fflush(stdout);
    _exit(0);
}

static void striper(const struct cfg *c, int id)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/shared", c->dir);
    int fd = open(path, O_RDWR);
    if (fd < 0) FAILX("open shared: %s", strerror(errno));
    uint64_t rng = c->seed * 3000 + id;
    uint64_t base = (uint64_t)id * STRIPE;
    unsigned char *buf = malloc(1 << 16);
    long page = sysconf(_SC_PAGESIZE);
    int passes = 0;
    long pieces = 0, mapped = 0;
    double end = now() + c->secs / 2;
    do {
        /* One pass: pieces of the stripe in a random order (a shuffled list of 64 KiB slots,
         * each written as 1..4 random-sized pieces). */
        enum { SLOTS = STRIPE / 65536 };
        int order[SLOTS];
        for (int i = 0; i < SLOTS; i++) order[i] = i;
        for (int i = SLOTS - 1; i > 0; i--) { int j = (int)(splitmix(&rng) % (i + 1)), t = order[i]; order[i] = order[j]; order[j] = t; }
        for (int s = 0; s < SLOTS; s++) {
            uint64_t off = base + (uint64_t)order[s] * 65536, left = 65536;
            while (left > 0) {
                uint64_t n = 1 + splitmix(&rng) % left;
                fill(c->seed ^ 0x5555, off, buf, n);
                if (++pieces % 4 == 0) {
                    uint64_t pg = off - off % page;
                    unsigned char *m = mmap(NULL, n + (off - pg), PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)pg);
                    if (m == MAP_FAILED) FAILX("mmap shared: %s", strerror(errno));
                    memcpy(m + (off - pg), buf, n);
                    if (msync(m, n + (off - pg), MS_SYNC) != 0) FAILX("msync: %s", strerror(errno));
                    munmap(m, n + (off - pg));
                    mapped++;
                } else if (pwrite(fd, buf, n, (off_t)off) != (ssize_t)n) {
                    FAILX("pwrite shared: %s", strerror(errno));
                }
                off += n;
                left -= n;
            }
        }
        passes++;
    } while (now() < end);
    if (fsync(fd) != 0) FAILX("fsync shared: %s", strerror(errno));
    close(fd);
    printf("striper %d: %d passes over its %u-byte stripe, %ld pieces (%ld via mmap)\n", id, passes, STRIPE, pieces, mapped);
    fflush(stdout);
    _exit(0);
}

static uint64_t rec_sum(const unsigned char *r)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int i = 0; i < RECORD - 8; i++) h = (h ^ r[i]) * 0x100000001b3ULL;
    return h;
}

static void appender(const struct cfg *c, int id)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/log", c->dir);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd < 0) FAILX("open log: %s", strerror(errno));
    double end = now() + c->secs;
    uint64_t seq = 0;
    unsigned char rec[RECORD];
    while (now() < end) {
        memset(rec, 'a' + id, sizeof rec);
        memcpy(rec, &id, sizeof id);
        memcpy(rec + 8, &seq, sizeof seq);
        uint64_t h = rec_sum(rec);
        memcpy(rec + RECORD - 8, &h, 8);
        if (write(fd, rec, RECORD) != RECORD) FAILX("append: %s", strerror(errno));
        seq++;
        if (seq % 64 == 0) usleep(1000);
    }
    close(fd);
    printf("appender %d: %" PRIu64 " records\n", id, seq);
    /* The parent checks counts through the exit status channel: write the count to a file. */
    snprintf(path, sizeof path, "%s/.count%d", c->dir, id);
    FILE *o = fopen(path, "w");
    if (!o) FAILX("count file: %s", strerror(errno));
    fprintf(o, "%" PRIu64 "\n", seq);
    fclose(o);
    fflush(stdout);
    _exit(0);
}

int main(int argc, char **argv)
{
    struct cfg c = {.secs = 20, .writers = 4, .readers = 4, .stripers = 3, .appenders = 3, .seed = (uint64_t)time(NULL)};
    int opt;
    while ((opt = getopt(argc, argv, "t:w:r:k:a:s:")) != -1) {
        switch (opt) {
        case 't': c.secs = atof(optarg); break;
        case 'w': c.writers = atoi(optarg); break;
        case 'r': c.readers = atoi(optarg); break;
        case 'k': c.stripers = atoi(optarg); break;
        case 'a': c.appenders = atoi(optarg); break;
        case 's': c.seed = strtoull(optarg, NULL, 0); break;
        default: fprintf(stderr, "usage: conc [-t S] [-w N] [-r N] [-k N] [-a N] [-s SEED] DIR\n"); return 2;
        }
    }
    if (optind != argc - 1) { fprintf(stderr, "usage: conc [-t S] [-w N] [-r N] [-k N] [-a N] [-s SEED] DIR\n"); return 2; }
    c.dir = argv[optind];
    printf("conc: %s, %.0f s, %d writers, %d readers, %d stripers, %d appenders, seed %" PRIu64 "\n",
           c.dir, c.secs, c.writers, c.readers, c.stripers, c.appenders, c.seed);
    fflush(stdout);
    char path[4200];
    if (c.stripers) {
        snprintf(path, sizeof path, "%s/shared", c.dir);
        int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || ftruncate(fd, (off_t)STRIPE * c.stripers) != 0) { perror("conc: shared"); return 1; }
        close(fd);
    }
    pid_t pids[64];
    int np = 0;
    for (int i = 0; i < c.writers && np < 64; i++) if ((pids[np++] = fork()) == 0) writer(&c, i);
    for (int i = 0; i < c.stripers && np < 64; i++) if ((pids[np++] = fork()) == 0) striper(&c, i);
    for (int i = 0; i < c.appenders && np < 64; i++) if ((pids[np++] = fork()) == 0) appender(&c, i);
    for (int i = 0; i < c.readers && np < 64; i++) if ((pids[np++] = fork()) == 0) reader(&c, i);
    int failed = 0;
    for (int i = 0; i < np; i++) {
        int st;
        if (waitpid(pids[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) failed++;
    }
    if (failed) { fprintf(stderr, "conc: FAIL: %d processes failed\n", failed); return 1; }

    /* Shared file: exactly the expected content everywhere. */
    if (c.stripers) {
        snprintf(path, sizeof path, "%s/shared", c.dir);
        int fd = open(path, O_RDONLY);
        unsigned char *a = malloc(1 << 16), *b = malloc(1 << 16);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0 || st.st_size != (off_t)STRIPE * c.stripers) { fprintf(stderr, "conc: FAIL: shared file size\n"); return 1; }
        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        for (uint64_t off = 0; off < (uint64_t)st.st_size; off += 1 << 16) {
            if (pread(fd, a, 1 << 16, (off_t)off) != 1 << 16) { fprintf(stderr, "conc: FAIL: shared read at %" PRIu64 "\n", off); return 1; }
            fill(c.seed ^ 0x5555, off, b, 1 << 16);
            if (memcmp(a, b, 1 << 16)) { fprintf(stderr, "conc: FAIL: shared file differs in [%" PRIu64 ", +65536)\n", off); return 1; }
        }
        close(fd);
        free(a);
        free(b);
        printf("shared file: %lld bytes exact\n", (long long)st.st_size);
    }
    /* Append log: every record intact, each appender's sequence complete and in order. */
    if (c.appenders) {
        snprintf(path, sizeof path, "%s/log", c.dir);
        FILE *in = fopen(path, "r");
        if (!in) { perror("conc: log"); return 1; }
        uint64_t next[64] = {0};
        unsigned char rec[RECORD];
        long n = 0;
        size_t r;
        while ((r = fread(rec, 1, RECORD, in)) == RECORD) {
            int id;
            uint64_t seq, h;
            memcpy(&id, rec, sizeof id);
            memcpy(&seq, rec + 8, 8);
            memcpy(&h, rec + RECORD - 8, 8);
            if (id < 0 || id >= c.appenders || h != rec_sum(rec)) { fprintf(stderr, "conc: FAIL: torn/corrupt append record #%ld\n", n); return 1; }
            if (seq != next[id]) { fprintf(stderr, "conc: FAIL: appender %d record %" PRIu64 " where %" PRIu64 " expected\n", id, seq, next[id]); return 1; }
            next[id]++;
            n++;
        }
        if (r != 0) { fprintf(stderr, "conc: FAIL: log ends with a partial record (%zu bytes)\n", r); return 1; }
        fclose(in);
        for (int i = 0; i < c.appenders; i++) {
            snprintf(path, sizeof path, "%s/.count%d", c.dir, i);
            FILE *cf = fopen(path, "r");
            unsigned long long want = 0;
            if (!cf || fscanf(cf, "%llu", &want) != 1) { fprintf(stderr, "conc: FAIL: no count from appender %d\n", i); return 1; }
            fclose(cf);
            if (next[i] != want) { fprintf(stderr, "conc: FAIL: appender %d wrote %llu records, log has %" PRIu64 "\n", i, want, next[i]); return 1; }
        }
        printf("append log: %ld records, all intact and in order\n", n);
    }
    printf("conc: PASS\n");
    return 0;
}
