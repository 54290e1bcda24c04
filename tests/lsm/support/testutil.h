/*
 * testutil.h — small helpers shared by the unit tests: scratch directories that are removed
 * afterwards, a printed and overridable random seed, and a deterministic generator.
 */
#ifndef LSM_TEST_TESTUTIL_H
#define LSM_TEST_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* A fresh directory under $TMPDIR (or /tmp) named after tag, malloc'd path; NULL on failure. */
char *tu_tmpdir(const char *tag);
/* Remove path and everything under it (like rm -rf); errors are ignored. */
void tu_rmrf(const char *path);
/* Join dir and name into a malloc'd path. */
char *tu_path(const char *dir, const char *name);

/* The seed for a test: $LSM_TEST_SEED if set, else a fixed default; printed to stderr with
 * the test name so a failing run can be repeated. */
uint64_t tu_seed(const char *test_name, uint64_t default_seed);
/* Scale factor for workload sizes: $LSM_TEST_SCALE (a positive number, default 1.0). */
double tu_scale(void);

/* A deterministic xorshift64* generator (state must not be 0; tu_rng_init fixes that). */
typedef struct tu_rng {
    uint64_t s;
} tu_rng;
void tu_rng_init(tu_rng *r, uint64_t seed);
uint64_t tu_rand(tu_rng *r);
/* Uniform in [0, n); n > 0. */
uint64_t tu_uniform(tu_rng *r, uint64_t n);
/* Fill buf with n random bytes. */
void tu_fill(tu_rng *r, void *buf, size_t n);

/* Whether files in dir can be opened O_DIRECT (tmpfs before Linux 6.6 cannot). */
int tu_dir_takes_direct(const char *dir);

/* A number from db's "lsm.stats.json" property, or UINT64_MAX if it is missing. */
struct lsm_db;
uint64_t tu_stats_field(struct lsm_db *db, const char *field);

/* Whole-file helpers for tests that damage files: read into a malloc'd buffer (*n set) or
 * NULL; write (create/truncate) returning 0 or -errno. */
uint8_t *tu_read_file(const char *path, size_t *n);
int tu_write_file(const char *path, const void *data, size_t n);

/* TU_TSAN_MAIN(check, label): a concurrent test's main() for its ThreadSanitizer build, which
 * runs check(why, size) (0 = passed, else a reason in why) and prints label with the verdict.
 * Criterion's runner cannot start under ThreadSanitizer (its shared-memory arena collides with
 * TSan's address-space layout: Snaipe/Criterion issue #274), so that build supplies its own
 * main, which takes precedence over libcriterion's; criterion's arguments are ignored.  In
 * other builds it expands to nothing.  Needs <stdio.h>. */
#ifdef __SANITIZE_THREAD__
#define TU_TSAN_MAIN(check, label)                                                              \
    int main(void)                                                                              \
    {                                                                                           \
        char why[600] = "";                                                                     \
        if (check(why, sizeof why)) {                                                           \
            fprintf(stderr, "%s FAILED: %s\n", label, why);                                     \
            return 1;                                                                           \
        }                                                                                       \
        printf("%s passed\n", label);                                                           \
        return 0;                                                                               \
    }
#else
#define TU_TSAN_MAIN(check, label)
#endif

#endif
