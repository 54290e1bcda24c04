/*
 * wal.c — the write-ahead log of wal.h.  Byte layout: lsm/FORMAT.md, section "WAL".
 *
 * A record is a 12-byte header — masked CRC32C of the record's offset and the next 8 header
 * bytes, payload length, masked CRC32C of the payload — and the payload.  The header has its own checksum so that a
 * damaged length is caught as damage, rather than read as "the record runs past the end of
 * the file", which would look like a torn tail and silently lose everything after it.
 *
 * Torn tail or corruption?  When the record at offset N fails its checks, the reader looks
 * for any complete, valid record starting after it (after the record's end when the header
 * is intact and the length can be trusted, else at any byte after N).  If there is one, the
 * log was damaged in the middle: an error naming the file and N (or, with salvage, the end of
 * replay with the rest counted as dropped).  If there is none, the damage is the last thing in
 * the file — what a crash during an append leaves, including a zero-filled or partially
 * written tail — and it is dropped silently: such a record was never acknowledged.
 *
 * The writer sends header and payload in one pwrite at the tracked end offset (continuing a
 * short write until it completes or fails).  A failed append is taken back by truncating the
 * file to the end of the last good record, so a full disk costs the failed record only: the
 * writer goes on once there is room again.
 *
 * Prefill.  An fdatasync after an append must also write the inode (the file grew); one after
 * an overwrite of blocks already written need not.  So a log that is being synced keeps
 * WAL_PREFILL_STEP bytes of zeros written ahead of its end: its appends then overwrite zeros
 * and its syncs write data only (ext4 here, 64 KiB record + fdatasync: 1500-2200 syncs/s
 * appending, 2900-4100 over zeros).  The zeros are what a crash during an append leaves
 * anyway, so the reader needs no new rule: a zero-filled tail is dropped (quickly: see
 * zero_tail).  A log that is not synced between two prefills gets no more of them, so a bulk
 * load does not write its log twice.  Nor does a file system short of room get any: there the
 * zeros would take space a flush needs to free the log's own.
 */
#include "wal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>

#include "coding.h"
#include "crc32c.h"
#include "lsm.h"
#include "status.h"

#define WAL_READ_WINDOW (256u * 1024u)   /* bytes the reader fetches per pread */
#define WAL_KEEP_BUFFER (4u * 1024u * 1024u) /* larger buffers are freed after use */
#define WAL_PREFILL_STEP (1u << 20)  /* zeros written ahead at a time (prefill, above) */
#define WAL_PREFILL_LOW (256u << 10) /* fewer zeros ahead than this start the next step */
#define WAL_PREFILL_MIN_FREE (256ull << 20) /* no prefill on a file system with less room */

static const uint8_t zeros[64 * 1024];

/* The header checksum covers the record's own file offset as well as its length and payload
 * checksum, so a copy of a valid record stored INSIDE another record's payload (lsmfs may well
 * hold a file that contains a WAL) does not look valid at the place it was copied to: the
 * torn-tail test below relies on "a valid record after the damage" meaning a real one. */
static uint32_t header_crc(uint64_t off, const uint8_t *h)
{
    uint8_t o[8];
    put_fixed64(o, off);
    return crc32c_extend(crc32c_value(o, 8), h + 4, 8);
}

/* ---- writer ---- */

struct wal_writer {
    lsm_env *env;
    int fd;
    char *path;
    uint64_t end;   /* offset just past the last good record */
    int failed;     /* first error of a failed append or sync, or 0 (atomic: see failed_*) */
    uint8_t *buf;   /* header + payload of the record being written */
    size_t cap;
    int prefill;             /* wal_writer_prefill was called */
    uint64_t zeroed;         /* bytes [end, zeroed) of the file are prefilled zeros */
    uint64_t syncs;          /* successful syncs (atomic: wal_sync runs beside appends) */
    uint64_t syncs_at_fill;  /* syncs when the last prefill was written */
};

/* wal_sync may run beside wal_append: the error that finishes the writer is the only state
 * both touch.  The first one stays. */
static int failed_get(const wal_writer *w)
{
    return __atomic_load_n(&w->failed, __ATOMIC_ACQUIRE);
}

static void failed_set(wal_writer *w, int err)
{
    int none = 0;
    __atomic_compare_exchange_n(&w->failed, &none, err, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

/* The directory part of path ("." when there is none), malloc'd. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    if (slash == path) return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

int wal_writer_open(lsm_env *env, const char *path, wal_writer **out)
{
    *out = NULL;
    wal_writer *w = calloc(1, sizeof *w);
    char *dir = dir_of(path);
    if (!w || !dir || !(w->path = strdup(path))) {
        free(dir);
        if (w) free(w->path);
        free(w);
        return lsm_error(LSM_ENOMEM, "%s: out of memory opening WAL", path);
    }
    w->env = env;
    int fd = env->open(env, path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        lsm_error(fd, "%s: cannot create WAL: %s", path, strerror(-fd));
        goto fail;
    }
    w->fd = fd;
    /* The new name must survive a crash, or the records in it would be lost with it. */
    int rc = env->fsync_dir(env, dir);
    if (rc < 0) {
        lsm_error(rc, "%s: cannot sync directory for new WAL %s: %s", dir, path, strerror(-rc));
        env->close(env, fd);
        fd = rc;
        goto fail;
    }
    free(dir);
    *out = w;
    return 0;
fail:
    free(dir);
    free(w->path);
    free(w);
    return fd;
}

void wal_writer_prefill(wal_writer *w) { w->prefill = 1; }

/* Keep zeros ahead of the end while the log is being synced (prefill, above).  Best effort:
 * a failed zero write only leaves fewer zeros, and a failed append truncates the file to its
 * end, zeros and all. */
static void prefill(wal_writer *w)
{
    if (!w->prefill || w->zeroed >= w->end + WAL_PREFILL_LOW) return;
    uint64_t syncs = __atomic_load_n(&w->syncs, __ATOMIC_ACQUIRE), room = 0;
    if (syncs == w->syncs_at_fill) return;
    w->syncs_at_fill = syncs;
    if (!w->env->free_space || w->env->free_space(w->env, w->fd, &room) < 0 ||
        room < WAL_PREFILL_MIN_FREE)
        return;
    uint64_t at = w->zeroed > w->end ? w->zeroed : w->end;
    uint64_t to = (w->end + WAL_PREFILL_STEP) & ~(uint64_t)4095; /* whole pages */
    while (at < to) {
        size_t n = to - at < sizeof zeros ? (size_t)(to - at) : sizeof zeros;
        ssize_t wr = w->env->pwrite(w->env, w->fd, zeros, n, (off_t)at);
        if (wr <= 0) break;
        at += (uint64_t)wr;
    }
    w->zeroed = at;
}

int wal_append(wal_writer *w, const void *rec, size_t n)
{
    int failed = failed_get(w);
    if (failed)
        return lsm_error(failed, "%s: WAL refuses appends after an earlier write error (%s)",
                         w->path, strerror(-failed));
    if (n > WAL_MAX_RECORD)
        return lsm_error(LSM_ETOOBIG, "%s: WAL record of %zu bytes exceeds the %u-byte limit",
                         w->path, n, WAL_MAX_RECORD);
    size_t total = WAL_HEADER_SIZE + n;
    if (total > w->cap) {
        uint8_t *nb = malloc(total);
        if (!nb)
            return lsm_error(LSM_ENOMEM, "%s: out of memory for a %zu-byte WAL record", w->path, n);
        free(w->buf);
        w->buf = nb;
        w->cap = total;
    }
    uint8_t *h = w->buf;
    put_fixed32(h + 4, (uint32_t)n);
    put_fixed32(h + 8, crc32c_mask(crc32c_value(rec, n)));
    put_fixed32(h, crc32c_mask(header_crc(w->end, h)));
    if (n) memcpy(h + WAL_HEADER_SIZE, rec, n);

    /* A short write is retried for the rest (the kernel may stop part-way for reasons that
     * do not repeat); it is the error that ends the loop, usually ENOSPC, that is reported. */
    size_t done = 0;
    int err = 0;
    while (done < total) {
        ssize_t wr = w->env->pwrite(w->env, w->fd, w->buf + done, total - done,
                                    (off_t)(w->end + done));
        if (wr < 0) {
            err = (int)wr;
            break;
        }
        if (wr == 0) { /* no progress and no reason: do not spin */
            err = LSM_EIO;
            break;
        }
        done += (size_t)wr;
    }
    if (w->cap > WAL_KEEP_BUFFER) {
        free(w->buf);
        w->buf = NULL;
        w->cap = 0;
    }
    if (!err) {
        w->end += total;
        prefill(w);
        return 0;
    }
    /* Take back any partial record.  When that works the file ends with the last good record
     * and the writer stays usable (a full disk may have room again later); when it does not,
     * the tail holds garbage that a later append would bury, so the writer refuses for good
     * (replay drops the partial record as a torn tail). */
    int tr = done || w->zeroed > w->end ? w->env->ftruncate(w->env, w->fd, (off_t)w->end) : 0;
    if (tr < 0) failed_set(w, err);
    else w->zeroed = w->end; /* (a full disk gets the prefill's space back too) */
    return lsm_error(err, "%s: WAL append of %zu bytes at offset %llu failed after %zu bytes: "
                     "%s%s", w->path, total, (unsigned long long)w->end, done, strerror(-err),
                     tr < 0 ? " (and truncating the partial record failed)" : "");
}

int wal_failed(const wal_writer *w) { return failed_get(w); }

int wal_sync(wal_writer *w)
{
    int failed = failed_get(w);
    if (failed)
        return lsm_error(failed, "%s: WAL refuses to sync after an earlier write error (%s)",
                         w->path, strerror(-failed));
    /* The log only ever grows by appends: fdatasync covers its data and size. */
    int rc = w->env->fdatasync ? w->env->fdatasync(w->env, w->fd) : w->env->fsync(w->env, w->fd);
    if (rc < 0) {
        /* After a failed fsync the kernel may have dropped the dirty pages: nothing written
         * since the last good sync can be trusted, so the log is finished. */
        failed_set(w, rc);
        return lsm_error(rc, "%s: WAL fsync failed: %s", w->path, strerror(-rc));
    }
    __atomic_fetch_add(&w->syncs, 1, __ATOMIC_RELEASE);
    return 0;
}

uint64_t wal_size(const wal_writer *w) { return w->end; }

int wal_writer_close(wal_writer *w)
{
    if (!w) return 0;
    int rc = w->env->close(w->env, w->fd);
    if (rc < 0) lsm_error(rc, "%s: closing WAL: %s", w->path, strerror(-rc));
    free(w->buf);
    free(w->path);
    free(w);
    return rc;
}

/* ---- reader ---- */

struct wal_reader {
    lsm_env *env;
    int fd;
    char *path;
    int salvage;
    uint64_t size;     /* file size at open */
    uint64_t off;      /* offset of the next record */
    uint64_t dropped;  /* bytes abandoned after mid-file corruption (salvage) */
    uint64_t torn;     /* bytes of torn tail dropped */
    int state;         /* 0 reading, 1 finished, <0 the error to repeat */
    uint8_t *win;      /* bytes [win_off, win_off + win_len) of the file */
    uint64_t win_off;
    size_t win_len, win_cap;
};

int wal_reader_open(lsm_env *env, const char *path, int salvage, wal_reader **out)
{
    *out = NULL;
    wal_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) {
        free(r);
        return lsm_error(LSM_ENOMEM, "%s: out of memory opening WAL", path);
    }
    r->env = env;
    r->salvage = salvage;
    int fd = env->open(env, path, O_RDONLY, 0);
    if (fd < 0) {
        lsm_error(fd, "%s: cannot open WAL: %s", path, strerror(-fd));
        free(r->path);
        free(r);
        return fd;
    }
    r->fd = fd;
    int rc = env->fsize(env, fd, &r->size);
    if (rc < 0) {
        lsm_error(rc, "%s: cannot get WAL size: %s", path, strerror(-rc));
        wal_reader_close(r);
        return rc;
    }
    *out = r;
    return 0;
}

/* Point *p at file bytes [off, off + n).  REQUIRES: off + n <= size.  Returns 0 or -errno. */
static int read_at(wal_reader *r, uint64_t off, size_t n, const uint8_t **p)
{
    if (off >= r->win_off && off + n <= r->win_off + r->win_len) {
        *p = r->win + (off - r->win_off);
        return 0;
    }
    size_t want = n > WAL_READ_WINDOW ? n : WAL_READ_WINDOW;
    if (want > r->size - off) want = (size_t)(r->size - off);
    if (want > r->win_cap || (r->win_cap > WAL_KEEP_BUFFER && want <= WAL_READ_WINDOW)) {
        uint8_t *nb = malloc(want ? want : 1);
        if (!nb)
            return lsm_error(LSM_ENOMEM, "%s: out of memory reading %zu bytes at offset %llu",
                             r->path, want, (unsigned long long)off);
        free(r->win);
        r->win = nb;
        r->win_cap = want;
    }
    r->win_len = 0;
    int rc = env_read_full(r->env, r->fd, r->win, want, (off_t)off);
    if (rc < 0)
        return lsm_error(rc == -ENODATA ? LSM_EIO : rc, "%s: read at offset %llu failed: %s",
                         r->path, (unsigned long long)off,
                         rc == -ENODATA ? "file shrank during replay" : strerror(-rc));
    r->win_off = off;
    r->win_len = want;
    *p = r->win;
    return 0;
}

enum { REC_BAD_HEADER = 0, REC_BAD_BODY = 1, REC_OK = 2 };

/* Check the record at off.  Returns REC_OK (*len set), REC_BAD_HEADER (header unusable: length
 * unknown), REC_BAD_BODY (header intact, *len set, but the payload is torn or damaged), or a
 * negative error.  *why says what failed. */
static int check_record(wal_reader *r, uint64_t off, uint32_t *len, const char **why)
{
    const uint8_t *h;
    if (r->size - off < WAL_HEADER_SIZE) {
        *why = "incomplete header";
        return REC_BAD_HEADER;
    }
    int rc = read_at(r, off, WAL_HEADER_SIZE, &h);
    if (rc < 0) return rc;
    if (crc32c_unmask(get_fixed32(h)) != header_crc(off, h)) {
        *why = "header checksum mismatch";
        return REC_BAD_HEADER;
    }
    *len = get_fixed32(h + 4);
    uint32_t crc = crc32c_unmask(get_fixed32(h + 8));
    if (*len > WAL_MAX_RECORD) {
        *why = "length over the record limit";
        return REC_BAD_HEADER;
    }
    if (*len > r->size - off - WAL_HEADER_SIZE) {
        *why = "record runs past the end of the file";
        return REC_BAD_BODY;
    }
    const uint8_t *p;
    rc = read_at(r, off + WAL_HEADER_SIZE, *len, &p);
    if (rc < 0) return rc;
    if (crc32c_value(p, *len) != crc) {
        *why = "checksum mismatch";
        return REC_BAD_BODY;
    }
    return REC_OK;
}

/* 1 if bytes [from, size) are all zero (a prefilled tail, or a crash's), 0 if not, or a
 * negative error.  Spares the byte-by-byte search of valid_record_after a megabyte of zeros. */
static int zero_tail(wal_reader *r, uint64_t from)
{
    while (from < r->size) {
        size_t n = r->size - from < sizeof zeros ? (size_t)(r->size - from) : sizeof zeros;
        const uint8_t *p;
        int rc = read_at(r, from, n, &p);
        if (rc < 0) return rc;
        if (memcmp(p, zeros, n) != 0) return 0;
        from += n;
    }
    return 1;
}

/* 1 if a valid record starts anywhere in [from, size), 0 if not, or a negative error. */
static int valid_record_after(wal_reader *r, uint64_t from)
{
    for (uint64_t p = from; p + WAL_HEADER_SIZE <= r->size; p++) {
        const uint8_t *h;
        int rc = read_at(r, p, WAL_HEADER_SIZE, &h);
        if (rc < 0) return rc;
        /* Cheap header test first; only a matching header costs a payload check. */
        if (crc32c_unmask(get_fixed32(h)) != header_crc(p, h)) continue;
        uint32_t len;
        const char *why;
        rc = check_record(r, p, &len, &why);
        if (rc < 0) return rc;
        if (rc == REC_OK) return 1;
    }
    return 0;
}

int wal_read(wal_reader *r, const uint8_t **rec, size_t *n)
{
    if (r->state == 1) return 0;
    if (r->state < 0)
        return lsm_error(r->state, "%s: WAL replay already failed at offset %llu", r->path,
                         (unsigned long long)r->off);
    if (r->off == r->size) {
        r->state = 1;
        return 0;
    }
    uint32_t len = 0;
    const char *why = "";
    int rc = check_record(r, r->off, &len, &why);
    if (rc == REC_OK) {
        const uint8_t *p;
        rc = read_at(r, r->off + WAL_HEADER_SIZE, len, &p); /* already in the window */
        if (rc < 0) return rc;
        *rec = p;
        *n = len;
        r->off += WAL_HEADER_SIZE + (uint64_t)len;
        return 1;
    }
    if (rc < 0) return rc;
    uint64_t from = rc == REC_BAD_BODY ? r->off + WAL_HEADER_SIZE + (uint64_t)len : r->off + 1;
    int zeros_only = zero_tail(r, r->off);
    if (zeros_only < 0) return zeros_only;
    int more = from < r->size && !zeros_only ? valid_record_after(r, from) : 0;
    if (more < 0) return more;
    if (!more) {
        r->torn = r->size - r->off;
        r->state = 1;
        return 0;
    }
    if (r->salvage) {
        r->dropped = r->size - r->off;
        r->state = 1;
        return 0;
    }
    r->state = LSM_ECORRUPT;
    return lsm_error(LSM_ECORRUPT, "%s: corrupt WAL record at offset %llu: %s", r->path,
                     (unsigned long long)r->off, why);
}

uint64_t wal_reader_dropped(const wal_reader *r) { return r->dropped; }
uint64_t wal_reader_torn(const wal_reader *r) { return r->torn; }
uint64_t wal_reader_offset(const wal_reader *r) { return r->off; }

void wal_reader_close(wal_reader *r)
{
    if (!r) return;
    r->env->close(r->env, r->fd);
    free(r->win);
    free(r->path);
    free(r);
}
