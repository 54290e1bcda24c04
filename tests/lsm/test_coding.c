/* test_coding.c — fixed-width and varint encodings round-trip, and the decoders reject
 * truncated or overlong input without reading past the limit. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "coding.h"
#include "ikey.h"

Test(coding, fixed_round_trip)
{
    uint8_t b[8];
    put_fixed32(b, 0x04030201u);
    cr_assert_eq(b[0], 1);
    cr_assert_eq(b[3], 4);
    cr_assert_eq(get_fixed32(b), 0x04030201u);
    put_fixed64(b, 0x0807060504030201ull);
    cr_assert_eq(b[7], 8);
    cr_assert_eq(get_fixed64(b), 0x0807060504030201ull);
}

Test(coding, varint64_round_trip_every_width)
{
    uint8_t b[10];
    for (int shift = 0; shift < 64; shift++) {
        uint64_t vals[3] = {(1ull << shift) - 1, 1ull << shift, (1ull << shift) + 1};
        for (int i = 0; i < 3; i++) {
            uint64_t v = vals[i], got = 0;
            int n = put_varint64(b, v);
            cr_assert_eq(n, varint_length(v));
            const uint8_t *end = get_varint64(b, b + n, &got);
            cr_assert_eq(end, b + n);
            cr_assert_eq(got, v);
            /* Every truncation of it fails cleanly. */
            for (int k = 0; k < n; k++)
                cr_assert_null(get_varint64(b, b + k, &got));
        }
    }
    uint64_t got;
    int n = put_varint64(b, UINT64_MAX);
    cr_assert_eq(n, 10);
    cr_assert_eq(get_varint64(b, b + n, &got), b + n);
    cr_assert_eq(got, UINT64_MAX);
}

Test(coding, varint32_limits)
{
    uint8_t b[10];
    uint32_t got;
    int n = put_varint32(b, UINT32_MAX);
    cr_assert_eq(n, 5);
    cr_assert_eq(get_varint32(b, b + n, &got), b + n);
    cr_assert_eq(got, UINT32_MAX);
    /* A 64-bit value does not decode as a 32-bit one. */
    n = put_varint64(b, 1ull << 32);
    cr_assert_null(get_varint32(b, b + n, &got));
    /* An endless continuation run is malformed, not read forever. */
    memset(b, 0xff, sizeof b);
    cr_assert_null(get_varint32(b, b + sizeof b, &got));
    uint64_t g64;
    cr_assert_null(get_varint64(b, b + sizeof b, &g64));
}

Test(coding, buf_appends)
{
    buf b = {0};
    for (uint32_t i = 0; i < 10000; i++)
        cr_assert_eq(buf_append_varint32(&b, i), 0);
    cr_assert_eq(buf_append_fixed32(&b, 7), 0);
    cr_assert_eq(buf_append_fixed64(&b, 9), 0);
    cr_assert_eq(buf_append_varint64(&b, UINT64_MAX), 0);
    cr_assert_eq(buf_append(&b, "xyz", 3), 0);
    const uint8_t *p = b.data, *lim = b.data + b.len;
    for (uint32_t i = 0; i < 10000; i++) {
        uint32_t v;
        p = get_varint32(p, lim, &v);
        cr_assert_not_null(p);
        cr_assert_eq(v, i);
    }
    cr_assert_eq(get_fixed32(p), 7);
    cr_assert_eq(get_fixed64(p + 4), 9);
    uint64_t v64;
    p = get_varint64(p + 12, lim, &v64);
    cr_assert_eq(v64, UINT64_MAX);
    cr_assert_eq(memcmp(p, "xyz", 3), 0);
    cr_assert_eq(p + 3, lim);
    buf_free(&b);
    cr_assert_null(b.data);
}

Test(ikey, order_user_then_newest_first)
{
    uint8_t a[16], b[16];
    size_t al = ikey_build(a, (const uint8_t *)"abc", 3, 5, IKEY_TYPE_VALUE);
    size_t bl = ikey_build(b, (const uint8_t *)"abc", 3, 7, IKEY_TYPE_VALUE);
    cr_assert_gt(ikey_compare(a, al, b, bl), 0, "newer sequence sorts first");
    bl = ikey_build(b, (const uint8_t *)"abd", 3, 1, IKEY_TYPE_VALUE);
    cr_assert_lt(ikey_compare(a, al, b, bl), 0);
    bl = ikey_build(b, (const uint8_t *)"ab", 2, 1, IKEY_TYPE_VALUE);
    cr_assert_gt(ikey_compare(a, al, b, bl), 0, "shorter user key first");
    bl = ikey_build(b, (const uint8_t *)"abc", 3, 5, IKEY_TYPE_DELETE);
    cr_assert_lt(ikey_compare(a, al, b, bl), 0, "value before delete at equal seq");
    cr_assert_eq(ikey_seq(a, al), 5);
    cr_assert_eq(ikey_kind(b, bl), IKEY_TYPE_DELETE);
    cr_assert_eq(ikey_user(a, al).len, 3);
    cr_assert_eq(ukey_compare(NULL, 0, (const uint8_t *)"a", 1), -1);
    cr_assert_eq(ukey_compare(NULL, 0, NULL, 0), 0);
}

static int sign(int v) { return (v > 0) - (v < 0); }

/* ukey_compare against memcmp-then-length on random pairs that share a prefix and differ in
 * one byte, for every length up to 40 (the word, half-word and byte paths and their tails). */
/* ukey_equal is checked on the same pairs, over their common length. */
Test(ikey, ukey_compare_matches_memcmp)
{
    uint8_t a[48], b[48];
    unsigned seed = 12345;
    for (int round = 0; round < 200000; round++) {
        seed = seed * 1103515245u + 12345u;
        size_t alen = (seed >> 8) % 41, blen = alen;
        seed = seed * 1103515245u + 12345u;
        if (seed & 0x10000)
            blen = (seed >> 17) % 41; /* sometimes of another length */
        for (size_t i = 0; i < sizeof a; i++) {
            seed = seed * 1103515245u + 12345u;
            a[i] = b[i] = (uint8_t)(seed >> 16);
        }
        seed = seed * 1103515245u + 12345u;
        size_t m = alen < blen ? alen : blen;
        if (m && (seed & 3)) /* one differing byte anywhere, often high-bit ones */
            b[(seed >> 8) % m] ^= (uint8_t)(1u << ((seed >> 20) % 8));
        int want = memcmp(a, b, m);
        want = want ? sign(want) : (alen < blen ? -1 : alen > blen);
        cr_assert_eq(sign(ukey_compare(a, alen, b, blen)), want, "lengths %zu and %zu", alen,
                     blen);
        cr_assert_eq(sign(ukey_compare(b, blen, a, alen)), -want);
        cr_assert_eq(ukey_equal(a, b, m), memcmp(a, b, m) == 0, "ukey_equal, length %zu", m);
    }
}
