/*
 * ctl_fs.h — helpers for the lsmfs-ctl commands that work on the filesystem view of an
 * unmounted store through fscore (get/put/rm/ls/scan in ctl_kv.c, import, export).
 * Implemented in ctl_kv.c.
 */
#ifndef LSMFS_CTL_FS_H
#define LSMFS_CTL_FS_H

#include <sys/stat.h>

#include "ctl.h"
#include "fscore.h"

/* Normalise a user-given store path: must start with '/', repeated and trailing slashes
 * dropped, "." and ".." refused.  Prints a message and returns -EINVAL/-ENAMETOOLONG. */
int ctl_fs_normalize(const char *in, char *out, size_t outlen);

/* Resolve arg (store or mount point) and fscore_open it (create: may create a new store).
 * A mounted or locked store gives LSM_EINUSE with a message naming the mount point.  All
 * failures print one line.  Returns 0 or the error. */
int ctl_fs_open(const char *arg, int read_only, int create, ctl_target *t, fscore **out);
/* Text for an fscore failure rc: liblsm's message for store errors (corruption, I/O, space),
 * where it describes this failure; a plain description otherwise (liblsm's thread message may
 * be left over from an earlier call when fscore itself detected the problem). */
const char *ctl_fs_message(int rc);

/* fscore_close, printing the message on failure. */
int ctl_fs_close(fscore *fs, const char *store);

/* One directory's entries, copied out of fscore_readdir so the caller may recurse or modify
 * the store while walking it. */
typedef struct ctl_fs_entry {
    char *name;
    struct stat st;
} ctl_fs_entry;
typedef struct ctl_fs_list {
    ctl_fs_entry *e;
    size_t n, cap;
} ctl_fs_list;

/* Fill l with the entries of directory path (byte order).  On error l is left empty. */
int ctl_fs_list_dir(fscore *fs, const char *path, ctl_fs_list *l);
void ctl_fs_list_free(ctl_fs_list *l);

/* out = dir + "/" + name (dir "/" gives "/name"); -ENAMETOOLONG if it does not fit. */
int ctl_fs_join(char *out, size_t outlen, const char *dir, const char *name);
/* ls-style type letter: '-', 'd', 'l', 'p', 's', 'c', 'b'. */
char ctl_fs_type_char(mode_t m);
/* mkdir -p of every parent of path (not path itself). */
int ctl_fs_mkdir_parents(fscore *fs, const char *path);
/* Remove directory path and everything below it (the root itself is kept, emptied). */
int ctl_fs_remove_tree(fscore *fs, const char *path);

#endif
