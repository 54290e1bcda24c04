/*
 * schema.h — how lsmfs turns paths, attributes and file contents into liblsm keys and values.
 *
 * Every byte is documented in fs/SCHEMA.md; this module is the only code that knows it.
 *
 *   "R"                                  root directory record
 *   'E' parent_path '\0' name            entry record (parent_path "" for the root, else "/a/b")
 *   'I' ino(8 BE)                        inode record of a file with several names
 *   'O' ino(8 BE)                        inode record of an open file with no name left
 *   'C' ino(8 BE) chunk_index(8 BE)      64 KiB chunk of a large file (absent = hole)
 *   'X' ino(8 BE) name                   extended attribute value
 *   'M' name                             metadata: "ino" (next free inode range), "format"
 *
 * The direct children of a directory are exactly the keys starting with 'E' path '\0', which
 * no other key shares, so a listing is one range scan.  A directory's whole subtree is the two
 * ranges 'E' path '\0' and 'E' path '/'.
 */
#ifndef FS_SCHEMA_H
#define FS_SCHEMA_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define FS_CHUNK_SIZE 65536u      /* bytes per chunk of a large file */
/* Files up to FS_INLINE_MAX bytes keep their contents in their entry's record: `echo x > f` is
 * one put.  Small, because a listing reads every record of the directory: with 4 KiB inline, a
 * cold listing of 100 directories of 1,000 files of 1 KiB ran at 404k entries/s, with 512 bytes
 * at 880k (the 1 KiB contents went to a chunk key, outside the directory's range).  A record
 * written inline under a larger limit stays valid: the inline flag, not the size, decides. */
#define FS_INLINE_MAX 512u
#define FS_NAME_MAX 255u          /* longest name component */
/* Format 1, what a store is created with; format 2 once a record may carry FS_FLAG_BEYOND,
 * which a daemon that knows only format 1 must not write to (its big writes would go into a
 * table under the allocated chunks, which hide them).  A daemon opens both. */
#define FS_FORMAT_VERSION 1u
#define FS_FORMAT_BEYOND 2u
#define FS_REC_VERSION 1u

#define FS_KEY_ROOT 'R'
#define FS_KEY_ENTRY 'E'
#define FS_KEY_INODE 'I'
#define FS_KEY_ORPHAN 'O'
#define FS_KEY_CHUNK 'C'
#define FS_KEY_XATTR 'X'
#define FS_KEY_META 'M'
#define FS_KEY_PENDING 'P' /* chunks past the size an unfinished big write may leave */

#define FS_REC_FULL 0u  /* record kind: attributes (+ target or inline data) */
#define FS_REC_STUB 1u  /* record kind: a name of a hard-linked file; attributes in 'I' ino */

#define FS_FLAG_INLINE 1u /* regular file: the record's tail is the whole contents */
/* regular file: fallocate(FALLOC_FL_KEEP_SIZE) allocated chunks past the size (empty values);
 * never together with FS_FLAG_INLINE */
#define FS_FLAG_BEYOND 2u

#define FS_REC_HEADER 90u /* bytes before the tail of a full record */
#define FS_STUB_SIZE 14u

/* Decoded attributes of a full record (or the type and ino of a stub). */
typedef struct fs_attr {
    uint32_t kind;  /* FS_REC_FULL or FS_REC_STUB */
    uint32_t mode;  /* type and permission bits, as st_mode */
    uint64_t ino;
    uint32_t uid, gid;
    uint64_t size;  /* regular files: length; symlinks: target length; dirs: 0 */
    uint32_t nlink;
    uint64_t rdev;
    struct timespec atime, mtime, ctime;
    uint32_t flags; /* FS_FLAG_* */
    uint64_t chunks; /* regular files: chunk keys stored (for st_blocks) */
} fs_attr;

/* A growable byte buffer for building keys and values. */
typedef struct fs_buf {
    char *data;
    size_t len, cap;
} fs_buf;

void fs_buf_init(fs_buf *b);
void fs_buf_free(fs_buf *b);
void fs_buf_reset(fs_buf *b);
/* Append n bytes; -ENOMEM on allocation failure (the buffer is then unchanged). */
int fs_buf_add(fs_buf *b, const void *p, size_t n);

/* Big-endian fixed 64-bit (keys sort numerically) and little-endian fields (values). */
void fs_put_be64(char *p, uint64_t v);
uint64_t fs_get_be64(const char *p);

/* Key builders: reset b and write the key.  -ENOMEM only. */
int fs_key_root(fs_buf *b);
/* Entry key of the full path (which must start with '/'); "/" gives the root key. */
int fs_key_path(fs_buf *b, const char *path, size_t path_len);
/* Prefix of the direct children of directory dir ("/" or "/a/b"): 'E' dirpart '\0'. */
int fs_key_children(fs_buf *b, const char *dir, size_t dir_len);
/* Prefix of all deeper descendants of non-root directory dir: 'E' dir '/'. */
int fs_key_descendants(fs_buf *b, const char *dir, size_t dir_len);
int fs_key_inode(fs_buf *b, char kind, uint64_t ino); /* kind FS_KEY_INODE or FS_KEY_ORPHAN */
int fs_key_chunk(fs_buf *b, uint64_t ino, uint64_t index);
int fs_key_xattr(fs_buf *b, uint64_t ino, const char *name); /* name NULL: the prefix */
int fs_key_meta(fs_buf *b, const char *name);

/* Turn an entry key back into its path ("/" for the root key) into out (NUL-terminated).
 * Returns -EINVAL if key is not an entry/root key. */
int fs_key_to_path(const char *key, size_t key_len, fs_buf *out);

/* Encode a full record: header then tail (symlink target or inline data). */
int fs_rec_encode(fs_buf *b, const fs_attr *a, const void *tail, size_t tail_len);
/* Encode a stub naming inode a->ino of type a->mode. */
int fs_rec_encode_stub(fs_buf *b, const fs_attr *a);
/* Decode value v (len n) into *a; *tail and *tail_len point into v (full records only; stubs give
 * NULL/0).  Returns -EBADMSG if the value is not a valid record. */
int fs_rec_decode(const void *v, size_t n, fs_attr *a, const void **tail, size_t *tail_len);
/* Like fs_rec_decode, but only kind, ino and mode are filled (the rest of *a is left as it
 * was, except that a stub's is zeroed): what a bare listing needs, without reading the rest of
 * the header.  Same validation and errors. */
int fs_rec_decode_id(const void *v, size_t n, fs_attr *a);

#endif
