/*
 * status.h — error reporting inside liblsm.
 *
 * Functions return 0 or a negative errno-style code (LSM_E* in lsm.h).  The human-readable
 * detail (file, offset, key) goes to a per-thread buffer that lsm_last_error() returns: the one
 * piece of global state in the library, per thread like errno, so that a message needs no
 * allocation and cannot race between threads.
 */
#ifndef LSM_STATUS_H
#define LSM_STATUS_H

#include "lsm.h"

/* Format a message into the calling thread's error buffer and return code unchanged, so that
 * callers write `return lsm_error(LSM_ECORRUPT, "%s: bad block at offset %llu", ...)`. */
int lsm_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefix the current thread message with "what: " (e.g. a file name) and return code. */
int lsm_error_prefix(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Clear the calling thread's message. */
void lsm_error_clear(void);

#endif
