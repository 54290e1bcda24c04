/*
 * fscore.h — the lsmfs filesystem on top of a liblsm store, without FUSE.
 *
 * An fscore is an open store seen as a POSIX tree: every path is a key holding the entry's
 * attributes (and a small file's contents), large files are split into chunks under separate
 * keys, hard-linked files keep their attributes in an inode record.  The byte layout is in
 * fs/SCHEMA.md.  The FUSE daemon (fs/fuse_*.c, fs/main.c) and the offline tools (lsmfs-ctl)
 * both work through this interface; it is archived in build/libfscore.a and needs no libfuse.
 *
 * Paths are absolute ("/", "/a/b"), without trailing slash, no "." or ".." components.
 * Every function returns 0 (or a documented count) on success and a negative errno value on
 * failure, with the POSIX meaning of that errno (ENOENT, ENOTDIR, EEXIST, ENOTEMPTY, ...).
 * Store failures pass liblsm's code through (e.g. -EIO, -ENOSPC, -EBADMSG); the liblsm message
 * is then available from lsm_last_error() in the same thread.
 *
 * Threads: an fscore may be used by any number of threads at once; each call is atomic with
 * respect to the others (an internal reader/writer lock), and every mutation is one lsm batch,
 * so a crash leaves either the old or the new state of each call.
 */
#ifndef FSCORE_H
#define FSCORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <time.h>

#include "lsm.h"

typedef struct fscore fscore; /* opaque: an open filesystem store */
typedef struct fs_file fs_file; /* opaque: an open regular file (see fs_file_* below) */

/* Open the filesystem in store_dir (created if missing and not read_only, mode 0700, with an
 * empty root directory owned by the caller).  opt NULL means liblsm defaults; read_only opens
 * the store without writing (tools).  Files left open-but-unlinked by a previous run are
 * removed at a read-write open.  On success *out owns the store until fscore_close.
 * -EMEDIUMTYPE: not an lsmfs store; -EPROTONOSUPPORT: a store format newer than this code. */
int fscore_open(const char *store_dir, const lsm_options *opt, int read_only, fscore **out);

/* Commit what open files still buffer, close the store (lsm_close flushes the memtable) and
 * free fs.  Returns the first error met; fs is freed whatever the result. */
int fscore_close(fscore *fs);

/* The underlying store (for properties, compaction, checkpoints).  Owned by fs. */
lsm_db *fscore_db(fscore *fs);

/* The store directory given to fscore_open (absolute if it was given absolute). */
const char *fscore_store_dir(fscore *fs);

/* ---- whole-file operations (tools and the daemon) ---- */

/* Attributes of path (lstat semantics: a symlink is not followed). */
int fscore_stat(fscore *fs, const char *path, struct stat *st);

/* Stream the contents of the regular file path through sink, in order, at most 64 KiB per
 * call; holes come as zeros.  A non-zero return of sink stops the read and is returned. */
int fscore_read_file(fscore *fs, const char *path,
                     int (*sink)(void *arg, const void *data, size_t n), void *arg);

/* Create or replace the regular file path with n bytes of data and the given permission bits
 * (replacing keeps the old mode/owner only if mode is (mode_t)-1).  The parent must exist;
 * -EISDIR if path is a directory. */
int fscore_write_file(fscore *fs, const char *path, const void *data, size_t n, mode_t mode);

int fscore_mkdir(fscore *fs, const char *path, mode_t mode);
int fscore_symlink(fscore *fs, const char *target, const char *path);
/* Remove a name of a non-directory (files, symlinks, FIFOs); -EISDIR for directories. */
int fscore_unlink(fscore *fs, const char *path);
/* Remove an empty directory; -ENOTEMPTY otherwise, -ENOTDIR for non-directories. */
int fscore_rmdir(fscore *fs, const char *path);
/* The same, and when the node lost its last name, *gone gets the attributes it has now (link
 * count 0, ctime now), for a caller that still answers for it (the kernel may hold the node:
 * a removed directory that is a cwd, an open FIFO); gone->st_ino is 0 otherwise. */
int fscore_unlink_gone(fscore *fs, const char *path, struct stat *gone);
/* fscore_unlink_gone that, when path names a regular file and kept is not NULL, also opens it
 * into *kept (as fs_file_open; NULL otherwise) before its name goes: if that was its last
 * name, the file lives on, unlinked, until fs_file_close (the FUSE daemon answers for it until
 * the kernel forgets it).  The caller closes *kept, whether or not the unlink succeeded. */
int fscore_unlink_keep(fscore *fs, const char *path, struct stat *gone, fs_file **kept);
int fscore_rmdir_gone(fscore *fs, const char *path, struct stat *gone);

/* Call cb for every entry of directory path (not "." and ".."), in byte order of the names,
 * with its attributes; name is len bytes (no NUL), valid during the call.  A non-zero
 * return of cb stops the scan and is returned. */
typedef int (*fscore_entry_fn)(void *arg, const char *name, size_t len, const struct stat *st);
int fscore_readdir(fscore *fs, const char *path, fscore_entry_fn cb, void *arg);

/* Like fscore_readdir, but starting after the entry named after (NULL: from the first), and
 * with plus == 0 only st_mode and st_ino are filled (no inode record is read).  A listing can
 * thus resume by name, whatever was added or removed meanwhile. */
int fscore_readdir_after(fscore *fs, const char *path, const char *after, int plus,
                         fscore_entry_fn cb, void *arg);

/* Check the filesystem invariants: every entry's parent exists and is a directory, entry and
 * inode records decode, chunks lie within their file's size, no orphan chunks, inode records,
 * xattrs or open-unlinked records, hard-link counts match the names.  Each problem is reported
 * as one line through report (may be NULL).  With repair, problems that can be fixed are fixed
 * (orphans deleted, counts and sizes corrected) in the same run.  Returns the number of problems
 * found (0 = clean) or a negative errno if the check could not run. */
int fscore_check(fscore *fs, void (*report)(void *arg, const char *line), void *arg,
                 int repair);

/* ---- finer operations (the FUSE daemon) ---- */

/* Who is acting: new entries are owned by uid/gid (gid replaced by the parent's gid when the
 * parent directory is setgid). */
typedef struct fs_cred {
    uid_t uid;
    gid_t gid;
} fs_cred;

/* Create a non-directory node: regular file (S_IFREG), FIFO, socket, or device (rdev).
 * -EEXIST if the name exists. */
int fscore_mknod(fscore *fs, const char *path, mode_t mode, dev_t rdev, const fs_cred *who);
int fscore_mkdir_as(fscore *fs, const char *path, mode_t mode, const fs_cred *who);
int fscore_symlink_as(fscore *fs, const char *target, const char *path, const fs_cred *who);

/* Contents of symlink path, NUL-terminated, truncated to size-1 bytes. */
int fscore_readlink(fscore *fs, const char *path, char *buf, size_t size);

/* Hard link: a new name newpath for the non-directory oldpath. */
int fscore_link(fscore *fs, const char *oldpath, const char *newpath);
/* fscore_link, or with oldpath NULL, of the hard-linked file ino through its inode record
 * ('I' ino): link(2) of a descriptor whose name went while the file kept another one, which
 * the caller does not know.  -ENOENT if ino has no inode record (no name left, or one name). */
int fscore_link_node(fscore *fs, const char *oldpath, uint64_t ino, const char *newpath);

/* rename(2) / renameat2(2): flags 0, RENAME_NOREPLACE or RENAME_EXCHANGE.  A directory moves
 * with its whole subtree in one batch. */
int fscore_rename(fscore *fs, const char *from, const char *to, unsigned int flags);
/* The same; with RENAME_WHITEOUT (not with RENAME_EXCHANGE) the old name becomes a whiteout,
 * a character device 0/0 with mode 0 owned by who (NULL: the calling process), in the batch
 * of the rename.  gone (may be NULL): as for fscore_unlink_gone, for a replaced target. */
int fscore_rename_as(fscore *fs, const char *from, const char *to, unsigned int flags,
                     const fs_cred *who, struct stat *gone);

/* Attribute changes.  mode: permission bits (type bits ignored).  uid/gid: (uid_t)-1 keeps.
 * Times: tv_nsec UTIME_NOW / UTIME_OMIT as in utimensat.  Each updates ctime. */
int fscore_chmod(fscore *fs, const char *path, mode_t mode);
int fscore_chown(fscore *fs, const char *path, uid_t uid, gid_t gid);
int fscore_utimens(fscore *fs, const char *path, const struct timespec tv[2]);
/* Several attribute changes in one batch, as the FUSE SETATTR request brings them.  Fields
 * not named in valid are kept.  Times may be UTIME_NOW.  ctime becomes the given one with
 * FS_SET_CTIME (the kernel's writeback cache keeps ctime itself), else now, unless
 * FS_SET_KEEP_CTIME (an access-time update). */
enum {
    FS_SET_MODE = 1,
    FS_SET_UID = 2,
    FS_SET_GID = 4,
    FS_SET_ATIME = 8,
    FS_SET_MTIME = 16,
    FS_SET_CTIME = 32,
    FS_SET_KEEP_CTIME = 64,
};
typedef struct fs_setattr {
    unsigned valid; /* FS_SET_* */
    mode_t mode;    /* permission bits */
    uid_t uid;
    gid_t gid;
    struct timespec atime, mtime, ctime;
} fs_setattr;
/* Apply sa to path (whose inode number is ino), or, with path NULL, to the open regular file
 * with inode number ino (also after its last name is gone) or the hard-linked file ino (its
 * inode record); -ENOENT if neither.  A
 * change of only mtime/ctime of an open file is buffered with its writes (committed by
 * fs_file_commit, like them). */
int fscore_setattr(fscore *fs, const char *path, uint64_t ino, const fs_setattr *sa);
/* Apply sa to attributes st in memory, as fscore_setattr would to a record (a node that is no
 * longer in the store; the FUSE daemon's ghosts). */
void fscore_setattr_apply(const fscore *fs, const fs_setattr *sa, struct stat *st);

/* The largest file size, ext4's with 4 KiB blocks ((2^32 - 1) * 4096): sizes past it are
 * -EFBIG, as POSIX test suites expect of a size such as 10^18. */
#define FS_FILE_SIZE_MAX 17592186040320LL

/* Set the size of the regular file path (grow with zeros or shrink); -EFBIG past
 * FS_FILE_SIZE_MAX. */
int fscore_truncate(fscore *fs, const char *path, off_t size);

/* Extended attributes (Linux semantics).  flags: XATTR_CREATE / XATTR_REPLACE.
 * getxattr/listxattr with size 0 return the needed size; -ERANGE if size is too small;
 * -ENODATA for a missing attribute.  Return value of get/list is the byte count. */
int fscore_setxattr(fscore *fs, const char *path, const char *name, const void *value,
                    size_t size, int flags);
int fscore_getxattr(fscore *fs, const char *path, const char *name, void *value, size_t size);
int fscore_listxattr(fscore *fs, const char *path, char *list, size_t size);
int fscore_removexattr(fscore *fs, const char *path, const char *name);
/* The same for a node the FUSE daemon names: path, or with path NULL the open file with inode
 * number ino (also after its last name is gone) or the hard-linked file ino; -ENOENT if
 * neither.  Name policy (which namespaces exist) is the caller's: these store any name. */
int fscore_setxattr_node(fscore *fs, const char *path, uint64_t ino, const char *name,
                         const void *value, size_t size, int flags);
int fscore_getxattr_node(fscore *fs, const char *path, uint64_t ino, const char *name,
                         void *value, size_t size);
int fscore_listxattr_node(fscore *fs, const char *path, uint64_t ino, char *list, size_t size);
int fscore_removexattr_node(fscore *fs, const char *path, uint64_t ino, const char *name);
/* 1 if the file with inode number ino has the stored attribute name, 0 if not, or a negative
 * errno: one point lookup, without the filesystem's lock (for checks on every write). */
int fscore_has_xattr(fscore *fs, uint64_t ino, const char *name);

/* Figures for statfs: bytes used by the store's files and the underlying filesystem's. */
int fscore_statfs(fscore *fs, struct statvfs *sv);

/* on = 1: fs_file_write does not set mtime/ctime, because the caller (the kernel's writeback
 * cache, through FUSE) keeps them and sends them with fs_file_utimens.  Default 0. */
void fscore_set_kernel_times(fscore *fs, int on);

/* Make every committed write durable (lsm_sync). */
int fscore_sync(fscore *fs);

/* ---- open regular files ----
 * An fs_file is shared by all opens of one inode (reference counted); it buffers dirty chunks
 * in memory and commits them, with the size and times, as one batch on fs_file_commit (flush,
 * fsync, release) or when the buffer passes a bound.  A file unlinked while open keeps working
 * through its fs_file; its data is removed at the last fs_file_close. */

/* Open the regular file path (-EISDIR / -ELOOP / -EINVAL for other types); trunc empties it. */
int fs_file_open(fscore *fs, const char *path, int trunc, fs_file **out);
/* Create path (O_CREAT): excl gives -EEXIST if it exists; an existing file is opened. */
int fs_file_create(fscore *fs, const char *path, mode_t mode, int excl, const fs_cred *who,
                   fs_file **out);
/* Read up to n bytes at off; returns the byte count (0 at or past end of file). */
ssize_t fs_file_read(fs_file *f, void *buf, size_t n, off_t off);
/* Write n bytes at off (extending the size); returns n or a negative errno. */
ssize_t fs_file_write(fs_file *f, const void *buf, size_t n, off_t off);
/* As fs_file_write, but when the write is whole chunks appended right at the end of the
 * file's open big-write ingest, ack(arg) is called before they are checksummed and written
 * to the ingest's table (the caller replies from it, so that the writer's next request is
 * on its way while this one is written).  After ack the write counts as done: a failure of
 * the rest is kept and returned by the file's next fs_file_commit (flush, fsync, close), as
 * a writeback error is.  *acked says whether ack was called; buf must stay valid until
 * the function returns either way. */
ssize_t fs_file_write_ack(fs_file *f, const void *buf, size_t n, off_t off,
                          void (*ack)(void *arg), void *arg, int *acked);
int fs_file_truncate(fs_file *f, off_t size);
/* fallocate(2) modes 0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE|KEEP_SIZE,
 * FALLOC_FL_ZERO_RANGE (|KEEP_SIZE); other modes -EOPNOTSUPP.  Mode 0, KEEP_SIZE and ZERO_RANGE
 * allocate the chunks of the range, past the size too with KEEP_SIZE (fs/SCHEMA.md: they count
 * in st_blocks and in statfs), -ENOSPC if they do not fit; PUNCH_HOLE frees them. */
int fs_file_fallocate(fs_file *f, int mode, off_t off, off_t len);
/* lseek(2) SEEK_DATA / SEEK_HOLE (whence) from off into *out, at chunk granularity: a hole is
 * an absent chunk or one allocated but never written (fallocate), the end of file is a hole,
 * contents kept inline are all data.  Commits the file's buffered writes first.  -ENXIO if off
 * is negative or at or past the end, or SEEK_DATA finds only holes; -EINVAL for another whence. */
int fs_file_seek(fs_file *f, off_t off, int whence, off_t *out);
/* Attributes as the file is now (buffered size included). */
int fs_file_stat(fs_file *f, struct stat *st);
/* Attributes of inode ino found without a name: the open file with that number (also after
 * its last name is gone), else the inode record of a hard-linked file ('I' ino), whose names
 * the caller may not know.  -ENOENT if neither exists. */
int fscore_stat_open(fscore *fs, uint64_t ino, struct stat *st);
/* Take one more reference to the open file with inode number ino (release it with
 * fs_file_close): the way to an open file that has no name left.  -ENOENT if not open. */
int fscore_file_get(fscore *fs, uint64_t ino, fs_file **out);
/* Like fscore_file_get, but a file that is not open is opened from its inode record when it
 * has one (a hard-linked file reached by a name the caller does not know).  -ENOENT if
 * neither, -EISDIR/-ELOOP/-EINVAL if ino is not a regular file. */
int fs_file_open_ino(fscore *fs, uint64_t ino, fs_file **out);
/* Commit buffered writes; with sync, also make them durable (lsm_sync).  Returns (once) the
 * failure of a write acknowledged early by fs_file_write_ack, if there was one. */
int fs_file_commit(fs_file *f, int sync);
/* Drop one reference: commits, and frees the file when it was the last. */
int fs_file_close(fs_file *f);
/* Attribute changes through an open file (works after unlink too). */
int fs_file_chmod(fs_file *f, mode_t mode);
int fs_file_chown(fs_file *f, uid_t uid, gid_t gid);
int fs_file_utimens(fs_file *f, const struct timespec tv[2]);

#endif
