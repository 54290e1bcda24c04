/*
 * crc32c.h — CRC-32C (Castagnoli), hardware-accelerated (SSE4.2) where the CPU has it.
 * Stored checksums are masked (as LevelDB does) so that a CRC over data that itself contains
 * CRCs does not degenerate.
 */
#ifndef LSM_CRC32C_H
#define LSM_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* CRC of data appended to a stream whose CRC so far is crc (start with 0). */
uint32_t crc32c_extend(uint32_t crc, const void *data, size_t n);
/* The same CRC by the table method whatever the CPU (for tests that compare both paths). */
uint32_t crc32c_extend_portable(uint32_t crc, const void *data, size_t n);
/* The same function computed with the portable table path, whatever the CPU (for tests). */
uint32_t crc32c_extend_portable(uint32_t crc, const void *data, size_t n);
static inline uint32_t crc32c_value(const void *data, size_t n) { return crc32c_extend(0, data, n); }
static inline uint32_t crc32c_mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }
static inline uint32_t crc32c_unmask(uint32_t m)
{
    uint32_t rot = m - 0xa282ead8u;
    return (rot >> 17) | (rot << 15);
}

#endif
