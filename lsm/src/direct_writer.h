/*
 * direct_writer.h — appending a file's bytes with O_DIRECT, through an aligned staging buffer.
 *
 * A table that nobody will read soon (an ingest of a big file's chunks) gains nothing from the
 * page cache, and filling it costs: every page is allocated, copied into, tracked dirty and
 * written back, and evicts pages that others use.  A direct writer copies the bytes into one
 * aligned buffer instead and writes it straight to the device whenever it is full, at an
 * aligned offset, from a helper thread while the caller fills a second buffer.  What does not
 * fill a whole buffer (the end of the file) is written through the page cache.  Where the environment or the file system cannot write directly (no
 * set_direct hook, a file system without O_DIRECT, an alignment it refuses), the writer falls
 * back to plain writes for the rest of the file: direct I/O is a speed-up, never a new way to
 * fail.  At most a few direct writers live in a process at once (each holds 2 MiB and a
 * thread); the writers started beyond them write plainly.  Durability is unchanged: the caller
 * still fsyncs the file.
 */
#ifndef LSM_DIRECT_WRITER_H
#define LSM_DIRECT_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "env.h"
#include "helper_thread.h"

/* Staging buffer size: a multiple of every logical block size, big enough that the device
 * sees few, large writes. */
#define DIRECT_WRITER_BUF (1u << 20)

typedef struct direct_writer {
    lsm_env *env;
    int fd;
    int direct;       /* O_DIRECT is set on fd: full buffers go straight to the device */
    uint8_t *buf;     /* aligned staging buffer being filled (NULL: plain writes) */
    size_t len;       /* bytes staged in buf */
    uint64_t off;     /* file offset of buf[0] (of the next byte when not staging) */
    uint64_t direct_bytes; /* bytes written with O_DIRECT so far (the helper's, once idle) */
    /* the helper thread that writes full buffers while the caller fills the other one */
    helper_thread t;  /* t.mu guards the fields marked [mu] */
    uint8_t *out;     /* the buffer the helper writes (or last wrote) */
    size_t out_len;
    uint64_t out_off;
    int busy;         /* [mu] out is being written */
    int err;          /* [mu] the helper's first write error, sticky */
    uint64_t err_off; /* [mu] where it failed */
} direct_writer;

/* Start appending to the empty file fd.  With direct != 0, try to turn on direct writes; if
 * that fails (or direct is 0, or the process has its most direct writers already), every
 * append is a plain write.  Never fails. */
void direct_writer_init(direct_writer *w, lsm_env *env, int fd, int direct);

/* Append n bytes at the end: staged, and written out whenever the buffer fills.  Returns 0 or
 * a negative errno from a write (then *fail_off, if not NULL, is the file offset where writing
 * stopped).  A failure of the helper's write of an earlier buffer shows at the next append
 * that fills a buffer, or at the flush; the helper's errors are sticky. */
int direct_writer_append(direct_writer *w, const void *p, size_t n, uint64_t *fail_off);

/* Write what is staged (through the page cache, direct writes turned off) so that the file
 * holds every byte appended.  Returns 0 or a negative errno (*fail_off as above). */
int direct_writer_flush(direct_writer *w, uint64_t *fail_off);

/* End the helper (after its current write) and free the buffers (staged bytes not flushed
 * are dropped). */
void direct_writer_free(direct_writer *w);

#endif
