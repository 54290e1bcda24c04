/* test_write_batch.c — the write batch encoding: building, counting, appending, decoding,
 * and rejecting every truncation and malformed header of an encoded batch. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "ikey.h"
#include "lsm.h"
#include "write_batch.h"

typedef struct op {
    uint64_t seq;
    int type;
    char key[32], val[64];
    size_t klen, vlen;
} op;

typedef struct collected {
    op ops[64];
    int n;
} collected;

static int collect(void *arg, uint64_t seq, int type, const uint8_t *k, size_t kl,
                   const uint8_t *v, size_t vl)
{
    collected *c = arg;
    op *o = &c->ops[c->n++];
    o->seq = seq;
    o->type = type;
    memcpy(o->key, k, kl);
    o->klen = kl;
    if (v) memcpy(o->val, v, vl);
    o->vlen = vl;
    return 0;
}

Test(write_batch, encode_decode)
{
    lsm_batch *b = lsm_batch_new();
    cr_assert_eq(lsm_batch_count(b), 0);
    cr_assert_eq(lsm_batch_size(b), 0);
    cr_assert_eq(lsm_batch_put(b, "alpha", 5, "one", 3), 0);
    cr_assert_eq(lsm_batch_delete(b, "beta", 4), 0);
    cr_assert_eq(lsm_batch_put(b, "", 0, "", 0), 0);
    cr_assert_eq(lsm_batch_count(b), 3);
    cr_assert_eq(lsm_batch_size(b), (1 + 1 + 5 + 1 + 3) + (1 + 1 + 4) + (1 + 1 + 1));
    wb_set_seq(b, 100);
    collected c = {.n = 0};
    uint64_t seq;
    cr_assert_eq(wb_iterate(b->rep.data, b->rep.len, &seq, collect, &c), 0);
    cr_assert_eq(seq, 100);
    cr_assert_eq(c.n, 3);
    cr_assert_eq(c.ops[0].seq, 100);
    cr_assert_eq(c.ops[0].type, IKEY_TYPE_VALUE);
    cr_assert(c.ops[0].klen == 5 && memcmp(c.ops[0].key, "alpha", 5) == 0);
    cr_assert(c.ops[0].vlen == 3 && memcmp(c.ops[0].val, "one", 3) == 0);
    cr_assert_eq(c.ops[1].seq, 101);
    cr_assert_eq(c.ops[1].type, IKEY_TYPE_DELETE);
    cr_assert(c.ops[1].klen == 4 && memcmp(c.ops[1].key, "beta", 4) == 0);
    cr_assert_eq(c.ops[2].seq, 102);
    cr_assert_eq(c.ops[2].klen, 0);
    lsm_batch_clear(b);
    cr_assert_eq(lsm_batch_count(b), 0);
    cr_assert_eq(lsm_batch_size(b), 0);
    lsm_batch_free(b);
}

Test(write_batch, append)
{
    lsm_batch *a = lsm_batch_new(), *b = lsm_batch_new();
    cr_assert_eq(lsm_batch_put(a, "k1", 2, "v1", 2), 0);
    cr_assert_eq(lsm_batch_put(b, "k2", 2, "v2", 2), 0);
    cr_assert_eq(lsm_batch_delete(b, "k1", 2), 0);
    cr_assert_eq(wb_append(a, b), 0);
    cr_assert_eq(lsm_batch_count(a), 3);
    collected c = {.n = 0};
    cr_assert_eq(wb_iterate(a->rep.data, a->rep.len, NULL, collect, &c), 0);
    cr_assert_eq(c.n, 3);
    cr_assert(memcmp(c.ops[1].key, "k2", 2) == 0);
    cr_assert_eq(c.ops[2].type, IKEY_TYPE_DELETE);
    lsm_batch_free(a);
    lsm_batch_free(b);
}

Test(write_batch, limits)
{
    lsm_batch *b = lsm_batch_new();
    static char big[LSM_MAX_KEY_SIZE + 1];
    cr_assert_eq(lsm_batch_put(b, big, sizeof big, "v", 1), LSM_ETOOBIG);
    cr_assert_eq(lsm_batch_delete(b, big, sizeof big), LSM_ETOOBIG);
    cr_assert_eq(lsm_batch_count(b), 0, "a rejected op must not be added");
    cr_assert_eq(lsm_batch_put(b, big, LSM_MAX_KEY_SIZE, "v", 1), 0);
    lsm_batch_free(b);
}

Test(write_batch, every_truncation_is_rejected)
{
    lsm_batch *b = lsm_batch_new();
    for (int i = 0; i < 5; i++) {
        char k[8], v[16];
        snprintf(k, sizeof k, "key%d", i);
        snprintf(v, sizeof v, "value%d", i);
        if (i == 2) cr_assert_eq(lsm_batch_delete(b, k, strlen(k)), 0);
        else cr_assert_eq(lsm_batch_put(b, k, strlen(k), v, strlen(v)), 0);
    }
    for (size_t len = 0; len < b->rep.len; len++) {
        collected c = {.n = 0};
        int rc = wb_iterate(b->rep.data, len, NULL, collect, &c);
        cr_assert_eq(rc, LSM_ECORRUPT, "truncated to %zu: rc %d", len, rc);
    }
    /* wrong count, bad type */
    uint8_t *copy = malloc(b->rep.len);
    memcpy(copy, b->rep.data, b->rep.len);
    copy[8] = 6;
    collected c = {.n = 0};
    cr_assert_eq(wb_iterate(copy, b->rep.len, NULL, collect, &c), LSM_ECORRUPT);
    memcpy(copy, b->rep.data, b->rep.len);
    copy[WB_HEADER] = 7;
    cr_assert_eq(wb_iterate(copy, b->rep.len, NULL, collect, &c), LSM_ECORRUPT);
    cr_assert(strstr(lsm_last_error(), "type") != NULL, "%s", lsm_last_error());
    free(copy);
    lsm_batch_free(b);
}
