/*
 * testutil.c — helpers for the unit tests (see testutil.h).
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lsm.h"

char *tu_tmpdir(const char *tag)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    char *path = NULL;
    if (asprintf(&path, "%s/lsmtest-%s-XXXXXX", base, tag) < 0) return NULL;
    if (!mkdtemp(path)) {
        free(path);
        return NULL;
    }
    return path;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

void tu_rmrf(const char *path)
{
    if (path) nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *tu_path(const char *dir, const char *name)
{
    char *p = NULL;
    if (asprintf(&p, "%s/%s", dir, name) < 0) return NULL;
    return p;
}

uint64_t tu_seed(const char *test_name, uint64_t default_seed)
{
    const char *s = getenv("LSM_TEST_SEED");
    uint64_t seed = s && *s ? strtoull(s, NULL, 0) : default_seed;
    fprintf(stderr, "%s: seed %llu (set LSM_TEST_SEED to repeat)\n", test_name,
            (unsigned long long)seed);
    return seed;
}

double tu_scale(void)
{
    const char *s = getenv("LSM_TEST_SCALE");
    double v = s && *s ? strtod(s, NULL) : 1.0;
    return v > 0 ? v : 1.0;
}

void tu_rng_init(tu_rng *r, uint64_t seed) { r->s = seed * 0x9e3779b97f4a7c15ull + 0x2545f4914f6cdd1dull; if (!r->s) r->s = 1; }

uint64_t tu_rand(tu_rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545f4914f6cdd1dull;
}

uint64_t tu_uniform(tu_rng *r, uint64_t n) { return tu_rand(r) % n; }

void tu_fill(tu_rng *r, void *buf, size_t n)
{
    uint8_t *p = buf;
    while (n >= 8) {
        uint64_t v = tu_rand(r);
        memcpy(p, &v, 8);
        p += 8;
        n -= 8;
    }
    if (n) {
        uint64_t v = tu_rand(r);
        memcpy(p, &v, n);
    }
}

uint8_t *tu_read_file(const char *path, size_t *n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        close(fd);
        return NULL;
    }
    size_t len = (size_t)st.st_size;
    uint8_t *buf = malloc(len ? len : 1);
    size_t got = 0;
    while (buf && got < len) {
        ssize_t r = read(fd, buf + got, len - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            free(buf);
            buf = NULL;
            break;
        }
        got += (size_t)r;
    }
    close(fd);
    if (buf) *n = len;
    return buf;
}

int tu_write_file(const char *path, const void *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return -errno;
    const uint8_t *p = data;
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, p + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) {
            int e = -errno;
            close(fd);
            return e;
        }
        done += (size_t)w;
    }
    return close(fd) < 0 ? -errno : 0;
}

uint64_t tu_stats_field(lsm_db *db, const char *field)
{
    char *s;
    if (lsm_property(db, "lsm.stats.json", &s)) return UINT64_MAX;
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", field);
    const char *p = strstr(s, pat);
    uint64_t v = p ? strtoull(p + strlen(pat), NULL, 10) : UINT64_MAX;
    lsm_free(s);
    return v;
}

int tu_dir_takes_direct(const char *dir)
{
    char *p = tu_path(dir, "direct-probe");
    if (!p) return 0;
    int fd = open(p, O_WRONLY | O_CREAT | O_DIRECT, 0600);
    if (fd >= 0) close(fd);
    unlink(p);
    free(p);
    return fd >= 0;
}
