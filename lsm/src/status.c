/*
 * status.c — the per-thread error message behind lsm_error() and lsm_last_error().
 *
 * Each thread owns a fixed buffer (like errno), so setting a message never allocates, never
 * fails, and never races with another thread's message.  Messages longer than the buffer are
 * truncated.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "status.h"

#define STATUS_MSG_MAX 1024

static _Thread_local char status_msg[STATUS_MSG_MAX];

int lsm_error(int code, const char *fmt, ...)
{
    /* Format into a local buffer first: an argument may be lsm_last_error() itself, and
     * vsnprintf into a buffer it is also reading from is undefined. */
    char msg[STATUS_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    memcpy(status_msg, msg, strnlen(msg, sizeof msg - 1) + 1);
    return code;
}

int lsm_error_prefix(int code, const char *fmt, ...)
{
    char msg[STATUS_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t len = n < 0 ? 0 : (size_t)n >= sizeof msg ? sizeof msg - 1 : (size_t)n;
    if (status_msg[0] && len + 2 < sizeof msg) {
        /* Append ": old message", truncating the old message to what still fits. */
        memcpy(msg + len, ": ", 2);
        len += 2;
        size_t old = strnlen(status_msg, sizeof status_msg - 1);
        if (old > sizeof msg - 1 - len)
            old = sizeof msg - 1 - len;
        memcpy(msg + len, status_msg, old);
        len += old;
    }
    msg[len] = '\0';
    memcpy(status_msg, msg, len + 1);
    return code;
}

void lsm_error_clear(void)
{
    status_msg[0] = '\0';
}

const char *lsm_last_error(void)
{
    return status_msg;
}
