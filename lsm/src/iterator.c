/*
 * iterator.c — the empty iterator: what a table or level with nothing to offer returns, and how
 * an error found while building an iterator is handed to the caller (status != 0).
 */
#include <stdio.h>
#include <stdlib.h>

#include "iterator.h"
#include "lsm.h"

typedef struct empty_iter {
    iter base;
    int status;
} empty_iter;

static void e_nop(iter *it) { (void)it; }
static void e_seek(iter *it, const uint8_t *t, size_t n) { (void)it, (void)t, (void)n; }
static int e_valid(const iter *it) { (void)it; return 0; }
static slice e_slice(const iter *it)
{
    (void)it;
    slice s = {NULL, 0};
    return s;
}
static int e_status(const iter *it) { return ((const empty_iter *)it)->status; }
static void e_destroy(iter *it) { free(it); }

static const struct iter_ops empty_ops = {
    .seek_first = e_nop, .seek_last = e_nop, .seek = e_seek,  .next = e_nop,
    .prev = e_nop,       .valid = e_valid,   .key = e_slice,  .value = e_slice,
    .status = e_status,  .destroy = e_destroy,
};

/* Handed out when even an empty iterator cannot be allocated, so that callers never get NULL:
 * a read-only iterator reporting LSM_ENOMEM whose destroy frees nothing. */
static void e_keep(iter *it) { (void)it; }
static const struct iter_ops enomem_ops = {
    .seek_first = e_nop, .seek_last = e_nop, .seek = e_seek,  .next = e_nop,
    .prev = e_nop,       .valid = e_valid,   .key = e_slice,  .value = e_slice,
    .status = e_status,  .destroy = e_keep,
};
static const empty_iter enomem_iter = {
    .base = {.ops = &enomem_ops, .errmsg = "out of memory creating an iterator"},
    .status = LSM_ENOMEM,
};

iter *iter_new_empty(int status, const char *errmsg)
{
    empty_iter *e = calloc(1, sizeof *e);
    if (!e) return (iter *)&enomem_iter.base; /* never written: every op above only reads */
    e->base.ops = &empty_ops;
    e->status = status;
    if (errmsg) snprintf(e->base.errmsg, sizeof e->base.errmsg, "%s", errmsg);
    return &e->base;
}
