/*
 * ikey.h — internal keys: how user keys carry versions inside the engine.
 *
 * Every entry in a memtable or SSTable is keyed by an internal key: the user key followed by
 * an 8-byte little-endian trailer (sequence << 8 | type).  Internal keys order by user key
 * ascending (memcmp, shorter first), then by sequence DESCENDING, then type descending, so the
 * newest version of a key comes first and a seek to (key, snapshot_seq, IKEY_TYPE_SEEK) lands on
 * the newest version visible at that snapshot.
 */
#ifndef LSM_IKEY_H
#define LSM_IKEY_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum ikey_type { IKEY_TYPE_DELETE = 0, IKEY_TYPE_VALUE = 1 };
#define IKEY_TYPE_SEEK IKEY_TYPE_VALUE /* highest type: seeks land before every same-seq entry */
#define IKEY_TRAILER 8
#define IKEY_MAX_SEQ ((UINT64_C(1) << 56) - 1)

static inline uint64_t ikey_pack(uint64_t seq, int type) { return (seq << 8) | (uint64_t)type; }

/* A slice: borrowed bytes. */
typedef struct slice {
    const uint8_t *data;
    size_t len;
} slice;

/* Compare two byte strings as memcmp with shorter-first on a common prefix. */
int ukey_compare(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);

/* Compare two internal keys (each >= IKEY_TRAILER bytes) in the order described above. */
int ikey_compare(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);

/* Parts of an internal key.  REQUIRES: len >= IKEY_TRAILER. */
static inline slice ikey_user(const uint8_t *ik, size_t len)
{
    slice s = {ik, len - IKEY_TRAILER};
    return s;
}
uint64_t ikey_seq(const uint8_t *ik, size_t len);
int ikey_kind(const uint8_t *ik, size_t len);

/* Write ukey + trailer into dst (room for ulen + 8); return ulen + 8. */
size_t ikey_build(uint8_t *dst, const uint8_t *ukey, size_t ulen, uint64_t seq, int type);

#endif
