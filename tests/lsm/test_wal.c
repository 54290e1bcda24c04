/* test_wal.c — the write-ahead log: round trip of many records (empty to multi-MiB and one of
 * 256 MiB), a torn tail at every truncation length of the last record (and zero-filled tails),
 * every byte of a small log flipped (detected with a clear error, or dropped only when the flip
 * is in the last record — never a wrong record), salvage, and write errors through fault_env
 * (ENOSPC, short write, failed fsync: nothing acknowledged, earlier records intact); the
 * prefill of zeros ahead of a synced log (only while synced, only with room, given back by a
 * failed append, never hiding damage in the middle). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fault_env.h"
#include "lsm.h"
#include "testutil.h"
#include "wal.h"

static char *dir;
static void setup(void) { dir = tu_tmpdir("wal"); cr_assert(dir); }
static void teardown(void) { tu_rmrf(dir); free(dir); }

/* A record's content, regenerated from its index so that nothing need be kept. */
static size_t rec_len(tu_rng *r, int i)
{
    if (i % 97 == 0) return 0;
    if (i % 211 == 5) return (1u << 20) + (size_t)tu_uniform(r, 3u << 20); /* 1..4 MiB */
    if (i % 13 == 0) return (size_t)tu_uniform(r, 70000);
    return (size_t)tu_uniform(r, 300);
}

static void rec_fill(uint8_t *p, size_t n, int i)
{
    tu_rng r;
    tu_rng_init(&r, (uint64_t)i * 7919 + 1);
    tu_fill(&r, p, n);
}

/* Write records 0..count-1 with lengths lens[] to path; returns end offsets in ends[]. */
static void write_log(lsm_env *env, const char *path, const size_t *lens, int count, uint64_t *ends)
{
    wal_writer *w;
    cr_assert_eq(wal_writer_open(env, path, &w), 0, "%s", lsm_last_error());
    size_t maxlen = 1;
    for (int i = 0; i < count; i++) if (lens[i] > maxlen) maxlen = lens[i];
    uint8_t *buf = malloc(maxlen);
    cr_assert(buf);
    for (int i = 0; i < count; i++) {
        rec_fill(buf, lens[i], i);
        cr_assert_eq(wal_append(w, buf, lens[i]), 0, "%s", lsm_last_error());
        if (ends) ends[i] = wal_size(w);
    }
    cr_assert_eq(wal_sync(w), 0);
    cr_assert_eq(wal_writer_close(w), 0);
    free(buf);
}

/* Read path; check the records read are exactly records 0..k-1 (right content) and return k.
 * *rc gets the final wal_read status (0 or negative). */
static int read_log(const char *path, const size_t *lens, int count, int salvage, int *rc,
                    uint64_t *dropped, uint64_t *torn)
{
    wal_reader *r;
    cr_assert_eq(wal_reader_open(lsm_env_posix(), path, salvage, &r), 0, "%s", lsm_last_error());
    int k = 0;
    const uint8_t *rec;
    size_t n;
    int st;
    uint8_t *want = NULL;
    while ((st = wal_read(r, &rec, &n)) == 1) {
        cr_assert_lt(k, count, "more records than were written");
        cr_assert_eq(n, lens[k], "record %d: length %zu, wrote %zu", k, n, lens[k]);
        want = realloc(want, n ? n : 1);
        rec_fill(want, n, k);
        cr_assert(n == 0 || memcmp(rec, want, n) == 0, "record %d: wrong content", k);
        k++;
    }
    free(want);
    *rc = st;
    if (dropped) *dropped = wal_reader_dropped(r);
    if (torn) *torn = wal_reader_torn(r);
    wal_reader_close(r);
    return k;
}

TestSuite(wal, .init = setup, .fini = teardown, .timeout = 240);

Test(wal, round_trip)
{
    tu_rng r;
    tu_rng_init(&r, tu_seed("wal::round_trip", 11));
    int count = (int)(3000 * tu_scale());
    size_t *lens = calloc((size_t)count, sizeof *lens);
    uint64_t *ends = calloc((size_t)count, sizeof *ends);
    uint64_t total = 0;
    for (int i = 0; i < count; i++) {
        lens[i] = rec_len(&r, i);
        total += WAL_HEADER_SIZE + lens[i];
    }
    char *path = tu_path(dir, "000001.log");
    write_log(lsm_env_posix(), path, lens, count, ends);
    cr_assert_eq(ends[count - 1], total, "wal_size must be the byte count of all records");
    int rc;
    uint64_t dropped, torn;
    int k = read_log(path, lens, count, 0, &rc, &dropped, &torn);
    cr_assert_eq(rc, 0, "%s", lsm_last_error());
    cr_assert_eq(k, count);
    cr_assert_eq(dropped, 0);
    cr_assert_eq(torn, 0);

    /* An empty log reads as empty. */
    char *empty = tu_path(dir, "empty.log");
    write_log(lsm_env_posix(), empty, lens, 0, NULL);
    cr_assert_eq(read_log(empty, lens, 0, 0, &rc, NULL, NULL), 0);
    cr_assert_eq(rc, 0);
    free(empty);
    free(path);
    free(lens);
    free(ends);
}

Test(wal, record_of_256_mib)
{
    size_t big = 256u << 20;
    size_t lens[3] = {10, big, 0};
    char *path = tu_path(dir, "big.log");
    write_log(lsm_env_posix(), path, lens, 3, NULL);
    int rc;
    cr_assert_eq(read_log(path, lens, 3, 0, &rc, NULL, NULL), 3);
    cr_assert_eq(rc, 0, "%s", lsm_last_error());
    free(path);
}

Test(wal, too_big_record_refused_writer_still_usable)
{
    char *path = tu_path(dir, "x.log");
    wal_writer *w;
    cr_assert_eq(wal_writer_open(lsm_env_posix(), path, &w), 0);
    uint8_t b[1] = {1};
    /* The size is checked before the bytes are touched. */
    cr_assert_eq(wal_append(w, b, (size_t)WAL_MAX_RECORD + 1), LSM_ETOOBIG);
    cr_assert_eq(wal_append(w, b, 1), 0);
    cr_assert_eq(wal_writer_close(w), 0);
    free(path);
}

Test(wal, torn_tail_every_length)
{
    /* Four records, then a last one cut at every length (and one with a zero-filled tail):
     * the reader returns exactly the first four and reports the torn bytes. */
    size_t lens[5] = {5, 0, 40, 17, 150};
    uint64_t ends[5];
    char *path = tu_path(dir, "full.log"), *cut = tu_path(dir, "cut.log");
    write_log(lsm_env_posix(), path, lens, 5, ends);
    size_t n;
    uint8_t *img = tu_read_file(path, &n);
    cr_assert(img && n == ends[4]);
    uint8_t *padded = calloc(1, n + 4096);
    for (uint64_t len = ends[3]; len < ends[4]; len++) {
        for (int pad = 0; pad < 2; pad++) {
            /* pad: the file size was extended past the torn record but its bytes never
             * reached the disk (zeros), as a crash after a size update can leave. */
            memcpy(padded, img, len);
            memset(padded + len, 0, 4096);
            size_t flen = (size_t)len + (pad ? 4096 - (len % 512) : 0);
            cr_assert_eq(tu_write_file(cut, padded, flen), 0);
            int rc;
            uint64_t dropped, torn;
            int k = read_log(cut, lens, 5, 0, &rc, &dropped, &torn);
            cr_assert_eq(rc, 0, "cut at %llu pad %d: %s", (unsigned long long)len, pad, lsm_last_error());
            cr_assert_eq(k, 4, "cut at %llu pad %d: %d records", (unsigned long long)len, pad, k);
            cr_assert_eq(torn, flen - ends[3]);
            cr_assert_eq(dropped, 0);
        }
    }
    free(padded);
    free(img);
    free(path);
    free(cut);
}

Test(wal, flip_every_byte)
{
    size_t lens[6] = {3, 0, 25, 1, 60, 9};
    uint64_t ends[6];
    char *path = tu_path(dir, "good.log"), *bad = tu_path(dir, "bad.log");
    write_log(lsm_env_posix(), path, lens, 6, ends);
    size_t n;
    uint8_t *img = tu_read_file(path, &n);
    cr_assert(img);
    const uint8_t masks[3] = {0x01, 0x80, 0xff};
    int detected = 0, dropped_last = 0;
    for (size_t pos = 0; pos < n; pos++) {
        int victim = 0; /* record holding pos */
        while (pos >= ends[victim]) victim++;
        uint64_t start = victim ? ends[victim - 1] : 0;
        for (int mi = 0; mi < 3; mi++) {
            img[pos] ^= masks[mi];
            cr_assert_eq(tu_write_file(bad, img, n), 0);
            img[pos] ^= masks[mi];
            int rc;
            int k = read_log(bad, lens, 6, 0, &rc, NULL, NULL); /* asserts content of what it read */
            cr_assert_eq(k, victim, "flip at %zu: read %d records, damage is in record %d", pos, k, victim);
            if (victim < 5) {
                cr_assert_eq(rc, LSM_ECORRUPT, "flip at %zu (record %d of 6) not reported", pos, victim);
                char want[512];
                snprintf(want, sizeof want, "%s: corrupt WAL record at offset %llu: ", bad,
                         (unsigned long long)start);
                cr_assert(strncmp(lsm_last_error(), want, strlen(want)) == 0,
                          "message \"%s\" should start \"%s\"", lsm_last_error(), want);
                detected++;
            } else {
                cr_assert(rc == 0 || rc == LSM_ECORRUPT);
                dropped_last += rc == 0;
            }
        }
    }
    cr_assert_gt(detected, 0);
    cr_assert_gt(dropped_last, 0);
    free(img);
    free(path);
    free(bad);
}

Test(wal, salvage_keeps_prefix)
{
    size_t lens[6] = {30, 30, 30, 30, 30, 30};
    uint64_t ends[6];
    char *path = tu_path(dir, "s.log");
    write_log(lsm_env_posix(), path, lens, 6, ends);
    size_t n;
    uint8_t *img = tu_read_file(path, &n);
    /* Damage record 2's payload and, separately, its length field. */
    for (int where = 0; where < 2; where++) {
        size_t pos = (size_t)ends[1] + (where ? 5 : WAL_HEADER_SIZE + 3);
        img[pos] ^= 0x10;
        cr_assert_eq(tu_write_file(path, img, n), 0);
        img[pos] ^= 0x10;
        int rc;
        uint64_t dropped, torn;
        cr_assert_eq(read_log(path, lens, 6, 0, &rc, NULL, NULL), 2);
        cr_assert_eq(rc, LSM_ECORRUPT);
        int k = read_log(path, lens, 6, 1, &rc, &dropped, &torn);
        cr_assert_eq(rc, 0, "salvage must not fail: %s", lsm_last_error());
        cr_assert_eq(k, 2);
        cr_assert_eq(dropped, n - ends[1]);
        cr_assert_eq(torn, 0);
    }
    free(img);
    free(path);
}

Test(wal, enospc_nothing_acknowledged)
{
    lsm_env *env = fault_env_new();
    cr_assert(env);
    char *path = tu_path(dir, "f.log");
    wal_writer *w;
    cr_assert_eq(wal_writer_open(env, path, &w), 0);
    size_t lens[8];
    uint8_t buf[200];
    for (int i = 0; i < 5; i++) {
        lens[i] = 20 + (size_t)i * 30;
        rec_fill(buf, lens[i], i);
        cr_assert_eq(wal_append(w, buf, lens[i]), 0);
    }
    cr_assert_eq(wal_sync(w), 0);
    uint64_t good = wal_size(w);
    fault_env_fail(env, FAULT_MASK(FAULT_OP_WRITE), 1, -ENOSPC, 0);
    lens[5] = 100;
    rec_fill(buf, 100, 5);
    cr_assert_eq(wal_append(w, buf, 100), -ENOSPC);
    cr_assert(strstr(lsm_last_error(), path), "message names the file: %s", lsm_last_error());
    cr_assert_eq(fault_env_injected(env), 1);
    cr_assert_eq(wal_size(w), good);
    cr_assert_eq(wal_failed(w), 0, "nothing partial was left: the writer stays usable");
    /* The disk has room again: the same record is appended as record 5. */
    cr_assert_eq(wal_append(w, buf, 100), 0);
    cr_assert_eq(wal_sync(w), 0);
    cr_assert_eq(wal_size(w), good + WAL_HEADER_SIZE + 100);
    cr_assert_eq(wal_writer_close(w), 0);
    int rc;
    uint64_t torn;
    cr_assert_eq(read_log(path, lens, 8, 0, &rc, NULL, &torn), 6);
    cr_assert_eq(rc, 0);
    cr_assert_eq(torn, 0, "a failed write leaves nothing behind");
    fault_env_free(env);
    free(path);
}

Test(wal, short_write_truncated_back)
{
    lsm_env *env = fault_env_new();
    cr_assert(env);
    char *path = tu_path(dir, "sh.log");
    wal_writer *w;
    cr_assert_eq(wal_writer_open(env, path, &w), 0);
    size_t lens[3] = {50, 60, 70};
    uint8_t buf[100];
    for (int i = 0; i < 2; i++) {
        rec_fill(buf, lens[i], i);
        cr_assert_eq(wal_append(w, buf, lens[i]), 0);
    }
    uint64_t good = wal_size(w);
    /* A short write whose continuation fails with ENOSPC: ENOSPC is reported (not EIO) and
     * the 30 bytes already written are taken back. */
    fault_env_short_write(env, 1, 30);
    fault_env_fail(env, FAULT_MASK(FAULT_OP_WRITE), 2, -ENOSPC, 0);
    rec_fill(buf, lens[2], 2);
    cr_assert_eq(wal_append(w, buf, lens[2]), -ENOSPC, "%s", lsm_last_error());
    cr_assert(strstr(lsm_last_error(), "after 30 bytes"), "%s", lsm_last_error());
    cr_assert_eq(wal_failed(w), 0);
    cr_assert_eq(wal_size(w), good);
    cr_assert_eq(wal_writer_close(w), 0);
    size_t n;
    uint8_t *img = tu_read_file(path, &n);
    cr_assert(img);
    cr_assert_eq(n, good, "the partial record was truncated away (size %zu, good %llu)", n, (unsigned long long)good);
    free(img);
    int rc;
    cr_assert_eq(read_log(path, lens, 3, 0, &rc, NULL, NULL), 2);
    cr_assert_eq(rc, 0);
    fault_env_free(env);
    free(path);
}

Test(wal, short_write_is_continued)
{
    lsm_env *env = fault_env_new();
    cr_assert(env);
    char *path = tu_path(dir, "sc.log");
    wal_writer *w;
    cr_assert_eq(wal_writer_open(env, path, &w), 0);
    size_t lens[2] = {50, 80};
    uint8_t buf[100];
    rec_fill(buf, lens[0], 0);
    cr_assert_eq(wal_append(w, buf, lens[0]), 0);
    fault_env_short_write(env, 1, 7);
    rec_fill(buf, lens[1], 1);
    cr_assert_eq(wal_append(w, buf, lens[1]), 0, "%s", lsm_last_error());
    cr_assert_eq(fault_env_injected(env), 1, "the short write happened");
    cr_assert_eq(wal_size(w), 2 * WAL_HEADER_SIZE + 130);
    cr_assert_eq(wal_writer_close(w), 0);
    int rc;
    cr_assert_eq(read_log(path, lens, 2, 0, &rc, NULL, NULL), 2);
    cr_assert_eq(rc, 0);
    fault_env_free(env);
    free(path);
}

Test(wal, failed_fsync_refuses)
{
    lsm_env *env = fault_env_new();
    cr_assert(env);
    char *path = tu_path(dir, "fs.log");
    wal_writer *w;
    cr_assert_eq(wal_writer_open(env, path, &w), 0);
    cr_assert_eq(wal_append(w, "abc", 3), 0);
    fault_env_fail(env, FAULT_MASK(FAULT_OP_FSYNC), 1, -EIO, 0);
    cr_assert_eq(wal_sync(w), -EIO);
    cr_assert_eq(wal_append(w, "def", 3), -EIO);
    cr_assert_eq(wal_writer_close(w), 0);
    fault_env_free(env);
    free(path);
}

Test(wal, open_errors_name_the_file)
{
    lsm_env *env = fault_env_new();
    cr_assert(env);
    char *path = tu_path(dir, "o.log");
    wal_writer *w = NULL;
    fault_env_fail(env, FAULT_MASK(FAULT_OP_CREATE), 1, -ENOSPC, 0);
    cr_assert_eq(wal_writer_open(env, path, &w), -ENOSPC);
    cr_assert_null(w);
    cr_assert(strstr(lsm_last_error(), path));
    fault_env_fail(env, FAULT_MASK(FAULT_OP_FSYNC_DIR), 1, -EIO, 0);
    cr_assert_eq(wal_writer_open(env, path, &w), -EIO);
    cr_assert_null(w);
    wal_reader *r = NULL;
    char *missing = tu_path(dir, "missing.log");
    cr_assert_eq(wal_reader_open(lsm_env_posix(), missing, 0, &r), -ENOENT);
    cr_assert_null(r);
    cr_assert(strstr(lsm_last_error(), missing));
    fault_env_free(env);
    free(path);
    free(missing);
}

Test(wal, power_cut_keeps_synced_records)
{
    /* Records synced before a power cut survive it; unsynced ones vanish cleanly. */
    lsm_env *env = fault_env_new();
    cr_assert(env);
    char *path = tu_path(dir, "p.log");
    wal_writer *w;
    cr_assert_eq(wal_writer_open(env, path, &w), 0);
    size_t lens[6] = {10, 20, 30, 40, 50, 60};
    uint8_t buf[64];
    for (int i = 0; i < 6; i++) {
        rec_fill(buf, lens[i], i);
        cr_assert_eq(wal_append(w, buf, lens[i]), 0);
        if (i == 3) cr_assert_eq(wal_sync(w), 0);
    }
    cr_assert_eq(wal_writer_close(w), 0);
    cr_assert_eq(fault_env_drop_unsynced(env), 0);
    int rc;
    uint64_t torn;
    cr_assert_eq(read_log(path, lens, 6, 0, &rc, NULL, &torn), 4);
    cr_assert_eq(rc, 0);
    cr_assert_eq(torn, 0);
    fault_env_free(env);
    free(path);
}

/* One WAL workload through env: open, 20 appends with a sync after every fifth, close;
 * stops at the first error, like the db.  Reports how many appends and how many synced
 * appends were acknowledged. */
static int wal_workload(lsm_env *env, const char *path, const size_t *lens, int *acked, int *synced)
{
    *acked = *synced = 0;
    wal_writer *w;
    int rc = wal_writer_open(env, path, &w);
    if (rc) return rc;
    uint8_t buf[400];
    for (int i = 0; i < 20 && !rc; i++) {
        rec_fill(buf, lens[i], i);
        rc = wal_append(w, buf, lens[i]);
        if (!rc) *acked = i + 1;
        if (!rc && i % 5 == 4) {
            rc = wal_sync(w);
            if (!rc) *synced = i + 1;
        }
    }
    wal_writer_close(w);
    return rc;
}

Test(wal, fail_every_operation_in_turn)
{
    size_t lens[20];
    for (int i = 0; i < 20; i++) lens[i] = (size_t)(i * 37 % 300);
    char *path = tu_path(dir, "e.log");
    lsm_env *env = fault_env_new();
    cr_assert(env);
    int acked, synced;
    cr_assert_eq(wal_workload(env, path, lens, &acked, &synced), 0);
    uint64_t total = fault_env_count(env);
    cr_assert_geq(total, 20 + 4 + 2, "create, dir sync, 20 writes, 4 syncs: %llu", (unsigned long long)total);
    fault_env_free(env);
    unlink(path);
    for (int sticky = 0; sticky < 2; sticky++) {
        for (uint64_t n = 1; n <= total; n++) {
            for (int cut = 0; cut < 2; cut++) {
                env = fault_env_new();
                cr_assert(env);
                fault_env_fail(env, FAULT_OPS_ALL, n, n % 2 ? -ENOSPC : -EIO, sticky);
                int rc = wal_workload(env, path, lens, &acked, &synced);
                cr_assert_neq(rc, 0, "operation %llu failed but the workload did not notice", (unsigned long long)n);
                fault_env_clear(env);
                if (cut) cr_assert_eq(fault_env_drop_unsynced(env), 0);
                int st;
                uint64_t torn;
                wal_reader *r = NULL;
                if (wal_reader_open(lsm_env_posix(), path, 0, &r) != 0) {
                    /* Only possible when the file's creation was lost or never happened. */
                    cr_assert_eq(synced, 0, "op %llu: synced records but no file", (unsigned long long)n);
                    fault_env_free(env);
                    continue;
                }
                wal_reader_close(r);
                int k = read_log(path, lens, 20, 0, &st, NULL, &torn);
                cr_assert_eq(st, 0, "op %llu cut %d: %s", (unsigned long long)n, cut, lsm_last_error());
                if (!cut) {
                    cr_assert_eq(k, acked, "op %llu: %d records readable, %d acknowledged",
                                 (unsigned long long)n, k, acked);
                    cr_assert_eq(torn, 0);
                } else {
                    cr_assert(k >= synced && k <= acked, "op %llu after power cut: %d records, "
                              "synced %d, acknowledged %d", (unsigned long long)n, k, synced, acked);
                }
                fault_env_free(env);
                unlink(path);
            }
        }
    }
    free(path);
}

Test(wal, embedded_log_in_payload_is_not_a_record)
{
    /* A payload carrying a whole valid log (lsmfs may store a file that contains a WAL).  If
     * the header of that record is lost in a crash (zeroed: its page never reached the disk
     * while later pages did), the copies inside must not count as "valid data after the
     * damage": the record is a torn tail, dropped, not a corruption that blocks open. */
    size_t inner_lens[4] = {10, 0, 100, 33};
    char *inner = tu_path(dir, "inner.log"), *outer = tu_path(dir, "outer.log");
    write_log(lsm_env_posix(), inner, inner_lens, 4, NULL);
    size_t inner_n;
    uint8_t *inner_img = tu_read_file(inner, &inner_n);
    cr_assert(inner_img);

    wal_writer *w;
    cr_assert_eq(wal_writer_open(lsm_env_posix(), outer, &w), 0);
    cr_assert_eq(wal_append(w, "first", 5), 0);
    uint64_t second = wal_size(w);
    uint8_t payload[4096];
    memset(payload, 0x5a, sizeof payload);
    memcpy(payload + 100, inner_img, inner_n); /* a copy of a log in the middle of a value */
    cr_assert_eq(wal_append(w, payload, sizeof payload), 0);
    cr_assert_eq(wal_writer_close(w), 0);

    size_t n;
    uint8_t *img = tu_read_file(outer, &n);
    memset(img + second, 0, WAL_HEADER_SIZE);
    cr_assert_eq(tu_write_file(outer, img, n), 0);
    wal_reader *r;
    cr_assert_eq(wal_reader_open(lsm_env_posix(), outer, 0, &r), 0);
    const uint8_t *rec;
    size_t len;
    cr_assert_eq(wal_read(r, &rec, &len), 1);
    cr_assert(len == 5 && memcmp(rec, "first", 5) == 0);
    cr_assert_eq(wal_read(r, &rec, &len), 0, "embedded copies taken for real records: %s", lsm_last_error());
    cr_assert_eq(wal_reader_torn(r), n - second);
    wal_reader_close(r);
    free(img);
    free(inner_img);
    free(inner);
    free(outer);
}

/* An env over POSIX that counts fsync and fdatasync calls. */
typedef struct sync_count {
    lsm_env env;
    int fsyncs, datasyncs;
} sync_count;

static int sc_fsync(lsm_env *env, int fd)
{
    ((sync_count *)env->ctx)->fsyncs++;
    return lsm_env_posix()->fsync(lsm_env_posix(), fd);
}

static int sc_fdatasync(lsm_env *env, int fd)
{
    ((sync_count *)env->ctx)->datasyncs++;
    return lsm_env_posix()->fdatasync(lsm_env_posix(), fd);
}

Test(wal, sync_uses_fdatasync)
{
    sync_count sc = {*lsm_env_posix(), 0, 0};
    sc.env.fsync = sc_fsync;
    sc.env.fdatasync = sc_fdatasync;
    sc.env.ctx = &sc;
    char *path = tu_path(dir, "ds.log");
    wal_writer *w;
    cr_assert_eq(wal_writer_open(&sc.env, path, &w), 0);
    cr_assert_eq(wal_append(w, "abc", 3), 0);
    cr_assert_eq(wal_sync(w), 0);
    cr_assert_eq(sc.datasyncs, 1);
    cr_assert_eq(sc.fsyncs, 0, "the log's syncs are data syncs");
    cr_assert_eq(wal_writer_close(w), 0);
    /* Without the hook, fsync. */
    sc.env.fdatasync = NULL;
    cr_assert_eq(wal_writer_open(&sc.env, path, &w), 0);
    cr_assert_eq(wal_append(w, "abc", 3), 0);
    cr_assert_eq(wal_sync(w), 0);
    cr_assert_eq(sc.fsyncs, 1);
    cr_assert_eq(wal_writer_close(w), 0);
    /* fault_env counts it as an fsync. */
    lsm_env *env = fault_env_new();
    cr_assert(env);
    cr_assert_eq(wal_writer_open(env, path, &w), 0);
    cr_assert_eq(wal_append(w, "abc", 3), 0);
    uint64_t before = fault_env_count_op(env, FAULT_OP_FSYNC);
    cr_assert_eq(wal_sync(w), 0);
    cr_assert_eq(fault_env_count_op(env, FAULT_OP_FSYNC), before + 1);
    cr_assert_eq(wal_writer_close(w), 0);
    fault_env_free(env);
    free(path);
}

static uint64_t file_size(const char *path)
{
    size_t n;
    uint8_t *img = tu_read_file(path, &n);
    cr_assert(img, "read %s", path);
    free(img);
    return n;
}

/* 1 if bytes [from, to) of path are all zero. */
static int zeros_in(const char *path, uint64_t from, uint64_t to)
{
    size_t n;
    uint8_t *img = tu_read_file(path, &n);
    cr_assert(img && to <= n);
    int z = 1;
    for (uint64_t i = from; i < to && z; i++) z = img[i] == 0;
    free(img);
    return z;
}

/* The prefill wants 256 MiB free: these tests must not depend on the disk they run on. */
static int plenty_of_room(lsm_env *env, int fd, uint64_t *bytes)
{
    *bytes = 1ull << 40;
    return 0;
}

static lsm_env roomy_env(void)
{
    lsm_env e = *lsm_env_posix();
    e.free_space = plenty_of_room;
    return e;
}

/* A new log at path through env, with the prefill on. */
static wal_writer *open_prefilled(lsm_env *env, const char *path)
{
    wal_writer *w;
    cr_assert_eq(wal_writer_open(env, path, &w), 0, "%s", lsm_last_error());
    wal_writer_prefill(w);
    return w;
}

Test(wal, prefill_only_while_synced)
{
    char *path = tu_path(dir, "pf.log");
    lsm_env env = roomy_env();
    wal_writer *w = open_prefilled(&env, path);
    size_t lens[401];
    uint8_t buf[4000];
    int k = 0;
    for (; k < 20; k++) { /* never synced: no zeros */
        lens[k] = 1000;
        rec_fill(buf, lens[k], k);
        cr_assert_eq(wal_append(w, buf, lens[k]), 0);
    }
    cr_assert_eq(file_size(path), wal_size(w), "a log that is not synced gets no prefill");
    cr_assert_eq(wal_sync(w), 0);
    lens[k] = 10;
    rec_fill(buf, lens[k], k);
    cr_assert_eq(wal_append(w, buf, lens[k++]), 0);
    uint64_t end = wal_size(w), size = file_size(path);
    cr_assert_eq(size, (end + (1u << 20)) & ~(uint64_t)4095, "a megabyte of zeros ahead: %llu",
                 (unsigned long long)size);
    cr_assert(zeros_in(path, end, size));
    /* Appends overwrite the zeros; without another sync, no new ones come, past the first. */
    for (; k < 400; k++) {
        lens[k] = 4000;
        rec_fill(buf, lens[k], k);
        cr_assert_eq(wal_append(w, buf, lens[k]), 0);
    }
    cr_assert_gt(wal_size(w), size, "the appends went past the zeros");
    cr_assert_eq(file_size(path), wal_size(w), "no sync since the last prefill: no more zeros");
    cr_assert_eq(wal_sync(w), 0);
    lens[k] = 1;
    rec_fill(buf, 1, k);
    cr_assert_eq(wal_append(w, buf, 1), 0);
    cr_assert_gt(file_size(path), wal_size(w) + (256u << 10), "synced again: zeros again");
    /* Read while the writer is open, as replay after a kill would: every record, then the
     * zeros are the (dropped) tail. */
    int rc;
    uint64_t torn;
    cr_assert_eq(read_log(path, lens, 401, 0, &rc, NULL, &torn), 401);
    cr_assert_eq(rc, 0);
    cr_assert_eq(torn, file_size(path) - wal_size(w), "the zeros are the tail");
    cr_assert_eq(wal_writer_close(w), 0);
    free(path);
}

Test(wal, prefilled_log_damaged_in_the_middle_is_still_corrupt)
{
    char *path = tu_path(dir, "pm.log");
    lsm_env env = roomy_env();
    wal_writer *w = open_prefilled(&env, path);
    size_t lens[3] = {100, 200, 300};
    uint64_t ends[3];
    uint8_t buf[300];
    for (int i = 0; i < 3; i++) {
        rec_fill(buf, lens[i], i);
        cr_assert_eq(wal_append(w, buf, lens[i]), 0);
        cr_assert_eq(wal_sync(w), 0);
        ends[i] = wal_size(w);
    }
    cr_assert_gt(file_size(path), ends[2], "prefilled");
    cr_assert_eq(wal_writer_close(w), 0);
    /* Record 1 zeroed: zeros, then a valid record, then zeros.  Not a tail. */
    size_t n;
    uint8_t *img = tu_read_file(path, &n);
    cr_assert(img);
    memset(img + ends[0], 0, (size_t)(ends[1] - ends[0]));
    tu_write_file(path, img, n);
    free(img);
    int rc;
    cr_assert_eq(read_log(path, lens, 3, 0, &rc, NULL, NULL), 1);
    cr_assert_eq(rc, LSM_ECORRUPT, "%s", lsm_last_error());
    cr_assert(strstr(lsm_last_error(), "offset"), "%s", lsm_last_error());
    free(path);
}

Test(wal, failed_append_gives_the_prefill_back)
{
    lsm_env *env = fault_env_new();
    cr_assert(env);
    env->free_space = plenty_of_room; /* (fault_env forwards it to the real disk otherwise) */
    char *path = tu_path(dir, "pe.log");
    wal_writer *w = open_prefilled(env, path);
    size_t lens[3] = {100, 100, 100};
    uint8_t buf[100];
    rec_fill(buf, 100, 0);
    cr_assert_eq(wal_append(w, buf, 100), 0);
    cr_assert_eq(wal_sync(w), 0);
    rec_fill(buf, 100, 1);
    cr_assert_eq(wal_append(w, buf, 100), 0);
    uint64_t good = wal_size(w);
    cr_assert_gt(file_size(path), good, "prefilled");
    fault_env_fail(env, FAULT_MASK(FAULT_OP_WRITE), 1, -ENOSPC, 0);
    rec_fill(buf, 100, 2);
    cr_assert_eq(wal_append(w, buf, 100), -ENOSPC);
    cr_assert_eq(wal_failed(w), 0);
    cr_assert_eq(file_size(path), good, "the file ends at the last good record again");
    cr_assert_eq(wal_append(w, buf, 100), 0);
    cr_assert_eq(wal_writer_close(w), 0);
    int rc;
    cr_assert_eq(read_log(path, lens, 3, 0, &rc, NULL, NULL), 3);
    cr_assert_eq(rc, 0);
    fault_env_free(env);
    free(path);
}

static int little_room(lsm_env *env, int fd, uint64_t *bytes)
{
    *bytes = 100u << 20; /* under the 256 MiB the prefill wants */
    return 0;
}

Test(wal, no_prefill_without_room)
{
    lsm_env env = *lsm_env_posix();
    char *path = tu_path(dir, "nr.log");
    for (int round = 0; round < 2; round++) {
        env.free_space = round == 0 ? little_room : NULL; /* short of room; room unknown */
        wal_writer *w = open_prefilled(&env, path);
        for (int i = 0; i < 10; i++) {
            cr_assert_eq(wal_append(w, "record", 6), 0);
            cr_assert_eq(wal_sync(w), 0);
        }
        cr_assert_eq(file_size(path), wal_size(w), "round %d: no zeros written", round);
        cr_assert_eq(wal_writer_close(w), 0);
    }
    free(path);
}
