/* test_crc32c.c — CRC-32C against published vectors (RFC 3720 B.4, the "123456789" check
 * value), hardware (one and three streams) and table paths agree, extend composes, and
 * masking round-trips. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"

Test(crc32c, known_vectors)
{
    uint8_t b[48];
    cr_assert_eq(crc32c_value("123456789", 9), 0xe3069283u);
    memset(b, 0, 32);
    cr_assert_eq(crc32c_value(b, 32), 0x8a9136aau);
    memset(b, 0xff, 32);
    cr_assert_eq(crc32c_value(b, 32), 0x62a8ab43u);
    for (int i = 0; i < 32; i++)
        b[i] = (uint8_t)i;
    cr_assert_eq(crc32c_value(b, 32), 0x46dd794eu);
    for (int i = 0; i < 32; i++)
        b[i] = (uint8_t)(31 - i);
    cr_assert_eq(crc32c_value(b, 32), 0x113fdb5cu);
    /* An iSCSI read command PDU (RFC 3720 B.4). */
    static const uint8_t pdu[48] = {
        0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
        0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    };
    cr_assert_eq(crc32c_value(pdu, 48), 0xd9963a56u);
    cr_assert_eq(crc32c_extend_portable(0, pdu, 48), 0xd9963a56u);
    cr_assert_eq(crc32c_value("", 0), 0);
}

Test(crc32c, hardware_matches_table_and_extend_composes)
{
    unsigned seed = 12345;
    uint8_t data[1000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)rand_r(&seed);
    /* Every length and misalignment exercises the 8-byte loop and its tail. */
    for (size_t off = 0; off < 9; off++)
        for (size_t n = 0; n + off <= sizeof data; n += 7) {
            uint32_t h = crc32c_value(data + off, n);
            cr_assert_eq(h, crc32c_extend_portable(0, data + off, n), "off %zu n %zu", off, n);
            size_t half = n / 3;
            cr_assert_eq(crc32c_extend(crc32c_value(data + off, half), data + off + half, n - half),
                         h);
        }
}

/* Long buffers take the three-stream path (6 KiB rounds, joined by carry-less multiplies):
 * every length around the round boundaries, misaligned, up to past a 64 KiB chunk. */
Test(crc32c, three_streams_match_table)
{
    unsigned seed = 777;
    size_t cap = 70000;
    uint8_t *data = malloc(cap);
    cr_assert(data);
    for (size_t i = 0; i < cap; i++)
        data[i] = (uint8_t)rand_r(&seed);
    for (size_t off = 0; off < 3; off++)
        for (size_t n = 6000; n + off <= cap; n += n < 12400 ? 1 : 4093) {
            uint32_t h = crc32c_value(data + off, n);
            cr_assert_eq(h, crc32c_extend_portable(0, data + off, n), "off %zu n %zu", off, n);
            cr_assert_eq(crc32c_extend(crc32c_value(data + off, 5), data + off + 5, n - 5), h,
                         "extend: off %zu n %zu", off, n);
        }
    free(data);
}

Test(crc32c, mask)
{
    uint32_t c = crc32c_value("foo", 3);
    cr_assert_neq(crc32c_mask(c), c);
    cr_assert_neq(crc32c_mask(crc32c_mask(c)), c);
    cr_assert_eq(crc32c_unmask(crc32c_mask(c)), c);
    cr_assert_eq(crc32c_unmask(crc32c_unmask(crc32c_mask(crc32c_mask(c)))), c);
}
