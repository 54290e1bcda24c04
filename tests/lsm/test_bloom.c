/* test_bloom.c — the bloom filter has no false negatives and, measured over 100,000 absent
 * keys, a false-positive rate near its design rate (~1% at 10 bits per key). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bloom.h"

static size_t make_key(uint8_t *dst, uint32_t i, int absent)
{
    /* Present keys are "key-<i>" and absent keys "miss-<i>": similar, structured keys, the hard
     * case for a weak hash. */
    return (size_t)sprintf((char *)dst, "%s%08u", absent ? "miss-" : "key-", i);
}

/* Build a filter over n keys at bpk bits per key; return the measured false-positive rate over
 * 100,000 absent keys, after checking every present key is found. */
static double measure(size_t n, int bpk, buf *f)
{
    uint32_t *h = malloc(n * sizeof *h + 1);
    uint8_t k[32];
    for (size_t i = 0; i < n; i++)
        h[i] = bloom_hash(k, make_key(k, (uint32_t)i, 0));
    f->len = 0;
    cr_assert_eq(bloom_build(f, h, n, bpk), 0);
    for (size_t i = 0; i < n; i++) {
        size_t kl = make_key(k, (uint32_t)i, 0);
        cr_assert(bloom_may_contain(f->data, f->len, k, kl), "false negative for key %zu", i);
    }
    const uint32_t probes = 100000;
    uint32_t fp = 0;
    for (uint32_t i = 0; i < probes; i++) {
        size_t kl = make_key(k, i, 1);
        fp += (uint32_t)bloom_may_contain(f->data, f->len, k, kl);
    }
    free(h);
    return (double)fp / probes;
}

Test(bloom, false_positive_rate_10_bits)
{
    buf f = {0};
    size_t sizes[] = {1000, 10000, 100000};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        double rate = measure(sizes[s], 10, &f);
        printf("bloom: %zu keys, 10 bits/key, %zu filter bytes: false positives %.3f%%\n",
               sizes[s], f.len, rate * 100);
        cr_assert_eq(f.data[f.len - 1], 7, "k = round(10 * ln 2) = 7");
        cr_assert_lt(rate, 0.02, "%zu keys: fp rate %.4f", sizes[s], rate);
        /* A filter that answers "maybe" too little would mean it is broken differently. */
        cr_assert_gt(rate, 0.001, "%zu keys: fp rate %.4f implausibly low", sizes[s], rate);
    }
    buf_free(&f);
}

Test(bloom, more_bits_fewer_false_positives)
{
    buf f = {0};
    double r5 = measure(20000, 5, &f);
    double r10 = measure(20000, 10, &f);
    double r20 = measure(20000, 20, &f);
    printf("bloom: fp rate at 5/10/20 bits per key: %.3f%% %.3f%% %.3f%%\n", r5 * 100, r10 * 100,
           r20 * 100);
    cr_assert_gt(r5, r10);
    cr_assert_gt(r10, r20);
    cr_assert_lt(r5, 0.15);
    cr_assert_lt(r20, 0.002);
    buf_free(&f);
}

Test(bloom, tiny_and_empty_filters)
{
    buf f = {0};
    cr_assert_eq(bloom_build(&f, NULL, 0, 10), 0);
    cr_assert_eq(f.len, 8 + 1, "at least 64 bits");
    cr_assert_not(bloom_may_contain(f.data, f.len, (const uint8_t *)"x", 1));
    f.len = 0;
    uint32_t one = bloom_hash((const uint8_t *)"hello", 5);
    cr_assert_eq(bloom_build(&f, &one, 1, 10), 0);
    cr_assert(bloom_may_contain(f.data, f.len, (const uint8_t *)"hello", 5));
    cr_assert_not(bloom_may_contain(f.data, f.len, (const uint8_t *)"world", 5));
    buf_free(&f);
}

Test(bloom, unparseable_filters_never_rule_out)
{
    uint8_t f[16] = {0};
    /* Too short to hold bits and k, and k outside 1..30: both must answer "maybe". */
    cr_assert(bloom_may_contain(f, 0, (const uint8_t *)"a", 1));
    cr_assert(bloom_may_contain(f, 1, (const uint8_t *)"a", 1));
    f[15] = 31;
    cr_assert(bloom_may_contain(f, 16, (const uint8_t *)"a", 1));
    f[15] = 0;
    cr_assert(bloom_may_contain(f, 16, (const uint8_t *)"a", 1));
    f[15] = 1; /* valid k, all bits clear: rules out */
    cr_assert_not(bloom_may_contain(f, 16, (const uint8_t *)"a", 1));
}

Test(bloom, hash_is_stable)
{
    /* The hash is part of the file format: pin a few values so a change is caught. */
    cr_assert_eq(bloom_hash((const uint8_t *)"", 0), 0xbc9f1d34u);
    /* LevelDB's util/hash_test.cc vectors for Hash(data, n, 0xbc9f1d34). */
    static const uint8_t d1[] = {0x62}, d2[] = {0xc3, 0x97}, d3[] = {0xe2, 0x99, 0xa5},
                         d4[] = {0xe1, 0x80, 0xb9, 0x32};
    cr_assert_eq(bloom_hash(d1, 1), 0xef1345c4u);
    cr_assert_eq(bloom_hash(d2, 2), 0x5b663814u);
    cr_assert_eq(bloom_hash(d3, 3), 0x323c078fu);
    cr_assert_eq(bloom_hash(d4, 4), 0xed21633au);
    uint32_t a = bloom_hash((const uint8_t *)"a", 1);
    uint32_t b = bloom_hash((const uint8_t *)"abcdefgh", 8);
    cr_assert_eq(a, 0x286e9db0u);
    cr_assert_eq(b, 0xb2ce35ddu);
}
