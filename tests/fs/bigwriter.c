/*
 * bigwriter — big sequential files for the crash test of lsmfs's big-write path (bigfile.sh).
 *
 *   bigwriter write DIR LOG SEED   write files DIR/f0, DIR/f1, ... of 1-40 MiB (unaligned sizes)
 *                                  sequentially, with writes of 1 MiB, 128 KiB, 10,240 bytes or a
 *                                  random length; now and then rewrite an earlier file with
 *                                  O_TRUNC.  Before a file: "S name seed size" in LOG; after its
 *                                  close() returned: "C name seed size" (LOG fsynced each time).
 *                                  Runs until killed.
 *   bigwriter verify DIR LOG [--holes-ok]
 *                                  after a crash and remount: every file whose last LOG line is C
 *                                  has exactly that size and content; the file in progress (last
 *                                  line S) holds a prefix of what was being written, and once
 *                                  grown by 32 MiB with ftruncate it reads zeros past that prefix
 *                                  (no stale or uncommitted chunk may surface).  --holes-ok (for
 *                                  the writeback cache) lets that prefix hold pages of zeros.
 * Content is a function of (seed, offset), so any misplaced or stale byte is found.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MIB (1024 * 1024)
#define GROW (32 * MIB)

static void die(const char *what, const char *path)
{
    fprintf(stderr, "bigwriter: %s %s: %s\n", what, path, strerror(errno));
    exit(1);
}

static uint64_t next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* The byte of file `seed` at offset off (one hash per 8-byte word, never all zero). */
static void fill(uint64_t seed, uint64_t off, char *buf, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint64_t w = (off + i) / 8, x = (w + 1) * 0x9e3779b97f4a7c15ull ^ seed;
        x ^= x >> 31;
        x *= 0xbf58476d1ce4e5b9ull;
        x ^= x >> 29;
        x |= 1;
        for (size_t b = (off + i) % 8; b < 8 && i < n; b++, i++)
            buf[i] = (char)(x >> (8 * b));
    }
}

static void log_line(int fd, const char *kind, const char *name, uint64_t seed, uint64_t size)
{
    char line[256];
    int n = snprintf(line, sizeof line, "%s %s %llu %llu\n", kind, name,
                     (unsigned long long)seed, (unsigned long long)size);
    if (write(fd, line, (size_t)n) != n || fsync(fd) != 0)
        die("log", "");
}

static _Noreturn void do_write(const char *dir, const char *logp, uint64_t seed)
{
    int log = open(logp, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (log < 0)
        die("open", logp);
    uint64_t rng = seed * 2654435761u + 1;
    char *buf = malloc(MIB);
    if (!buf)
        die("malloc", "");
    for (int i = 0;; i++) {
        int nr = i > 2 && next(&rng) % 4 == 0 ? (int)(next(&rng) % (uint64_t)i) : i;
        char name[32], path[4096];
        snprintf(name, sizeof name, "f%d", nr);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        uint64_t fseed = next(&rng), size = MIB + next(&rng) % (39 * (uint64_t)MIB);
        int style = (int)(next(&rng) % 4);
        log_line(log, "S", name, fseed, size);
        int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
        if (fd < 0)
            die("create", path);
        for (uint64_t off = 0; off < size;) {
            size_t n = style == 0 ? MIB : style == 1 ? 128 * 1024 : style == 2 ? 10240
                                                                 : 1 + next(&rng) % MIB;
            if (n > size - off)
                n = (size_t)(size - off);
            fill(fseed, off, buf, n);
            if (write(fd, buf, n) != (ssize_t)n)
                die("write", path);
            off += n;
        }
        if (close(fd) != 0)
            die("close", path);
        log_line(log, "C", name, fseed, size);
    }
}

/* With the kernel's writeback cache the pages of a file still being written reach the daemon
 * in any order, so after a crash its committed size may cover pages that never arrived: then
 * (holes_ok) a 4 KiB page of zeros passes too. */
static int holes_ok;

static int zero_page_at(const char *got, size_t j, size_t m, uint64_t off)
{
    size_t p = (size_t)(((off + j) & ~(uint64_t)4095) - off);
    if (p > j || p + 4096 > m)
        return 0;
    for (size_t i = p; i < p + 4096; i++)
        if (got[i])
            return 0;
    return 1;
}

/* 0 if [0, n) of fd holds file seed's content (holes: or pages of zeros); else reports the
 * first bad offset. */
static int check_content(int fd, const char *path, uint64_t seed, uint64_t n, int holes)
{
    char *got = malloc(MIB), *want = malloc(MIB);
    if (!got || !want)
        die("malloc", "");
    int bad = 0;
    for (uint64_t off = 0; off < n && !bad;) {
        size_t m = n - off < MIB ? (size_t)(n - off) : MIB;
        if (pread(fd, got, m, (off_t)off) != (ssize_t)m)
            die("read", path);
        if (seed == 0)
            memset(want, 0, m);
        else
            fill(seed, off, want, m);
        size_t j = 0;
        while (j < m && memcmp(got + j, want + j, m - j) != 0) {
            while (got[j] == want[j])
                j++;
            if (!holes || !seed || !zero_page_at(got, j, m, off))
                break;
            j = (size_t)(((off + j) | 4095) + 1 - off); /* a whole page of zeros: a hole */
        }
        if (j < m && memcmp(got + j, want + j, m - j) != 0) {
            fprintf(stderr, "bigwriter: %s: byte %llu is %02x, expected %02x (%s)\n", path,
                    (unsigned long long)(off + j), (unsigned char)got[j],
                    (unsigned char)want[j], seed ? "data" : "zero past the committed size");
            bad = 1;
        }
        off += m;
    }
    free(got);
    free(want);
    return bad;
}

struct entry {
    char name[32];
    char kind;
    uint64_t seed, size;
    uint64_t prev_seed, prev_size; /* the closed version an O_TRUNC rewrite replaces (seed 0: none) */
};

static int do_verify(const char *dir, const char *logp)
{
    FILE *lf = fopen(logp, "r");
    if (!lf)
        die("open", logp);
    struct entry *e = NULL;
    size_t n = 0, cap = 0;
    char kind[4], name[32];
    unsigned long long seed, size;
    while (fscanf(lf, "%3s %31s %llu %llu", kind, name, &seed, &size) == 4) {
        size_t i = 0;
        while (i < n && strcmp(e[i].name, name) != 0)
            i++;
        if (i == n) {
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                e = realloc(e, cap * sizeof *e);
                if (!e)
                    die("realloc", "");
            }
            n++;
            e[i].kind = 0;
            e[i].prev_seed = 0;
        }
        if (kind[0] == 'S' && e[i].kind == 'C') {
            e[i].prev_seed = e[i].seed;
            e[i].prev_size = e[i].size;
        } else if (kind[0] == 'S') {
            e[i].prev_seed = 0;
        }
        snprintf(e[i].name, sizeof e[i].name, "%s", name);
        e[i].kind = kind[0];
        e[i].seed = seed;
        e[i].size = size;
    }
    fclose(lf);
    int bad = 0, closed = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e[i].name);
        int fd = open(path, O_RDWR);
        struct stat st;
        if (fd < 0 && e[i].kind == 'S' && errno == ENOENT)
            continue; /* its create never reached the store */
        if (fd < 0 || fstat(fd, &st) != 0)
            die("open", path);
        uint64_t have = (uint64_t)st.st_size;
        if (e[i].kind == 'C') {
            closed++;
            if (have != e[i].size) {
                fprintf(stderr, "bigwriter: %s: size %llu, expected %llu (closed before the crash)\n",
                        path, (unsigned long long)have, (unsigned long long)e[i].size);
                bad = 1;
            } else {
                bad |= check_content(fd, path, e[i].seed, have, 0);
            }
        } else {
            /* killed before the O_TRUNC of a rewrite was committed (it is, with the file's
             * first commit): the old version, whole, which may be longer than the new one */
            int old = e[i].prev_seed && have == e[i].prev_size &&
                      check_content(fd, path, e[i].prev_seed, have, 0) == 0;
            if (!old && have > e[i].size) {
                fprintf(stderr, "bigwriter: %s: size %llu beyond the %llu being written\n", path,
                        (unsigned long long)have, (unsigned long long)e[i].size);
                bad = 1;
            }
            if (!old)
                bad |= check_content(fd, path, e[i].seed, have, holes_ok);
            /* grow it: what lies past the committed size must read as zeros */
            if (ftruncate(fd, (off_t)(have + GROW)) != 0)
                die("ftruncate", path);
            char *z = malloc(GROW);
            if (!z)
                die("malloc", "");
            if (pread(fd, z, GROW, (off_t)have) != GROW)
                die("read", path);
            for (size_t j = 0; j < GROW && !bad; j++)
                if (z[j]) {
                    fprintf(stderr, "bigwriter: %s: byte %llu past the committed size %llu is "
                            "%02x after a truncate up: stale chunk data\n", path,
                            (unsigned long long)(have + j), (unsigned long long)have,
                            (unsigned char)z[j]);
                    bad = 1;
                }
            free(z);
            printf("in progress: %s at %llu of %llu bytes\n", e[i].name,
                   (unsigned long long)have, (unsigned long long)e[i].size);
        }
        close(fd);
    }
    printf("%d closed files intact\n", closed);
    free(e);
    return bad;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "write") == 0)
        do_write(argv[2], argv[3], strtoull(argv[4], NULL, 10));
    holes_ok = argc == 5 && strcmp(argv[1], "verify") == 0 && strcmp(argv[4], "--holes-ok") == 0;
    if ((argc == 4 || holes_ok) && strcmp(argv[1], "verify") == 0)
        return do_verify(argv[2], argv[3]);
    fprintf(stderr, "usage: bigwriter write DIR LOG SEED | verify DIR LOG [--holes-ok]\n");
    return 2;
}
