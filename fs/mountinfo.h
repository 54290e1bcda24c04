/*
 * mountinfo.h — the mounts of this mount namespace, as /proc/self/mountinfo lists them.
 *
 * The daemon asks two questions of the table without sending its own filesystem a request:
 * whether a store is still mounted (start-up waits for a daemon that is only closing), and
 * which device a new mount got (its readahead lives in /sys/class/bdi/MAJOR:MINOR).
 */
#ifndef FS_MOUNTINFO_H
#define FS_MOUNTINFO_H

#include <limits.h>

/* One line of the table; paths are unescaped (mountinfo writes space, tab, newline and
 * backslash as \ooo). */
typedef struct mountinfo_entry {
    unsigned major, minor;      /* the device, st_dev of files on the mount */
    char mnt[PATH_MAX];         /* the mount point */
    char type[64];              /* e.g. "fuse.lsmfs" */
    char source[PATH_MAX];      /* the "mount source": lsmfs's fsname, the store's path */
} mountinfo_entry;

/* Calls fn(entry, arg) for every mount of the type named type (every mount if type is NULL),
 * oldest first, until fn returns non-zero.  Returns that value, 0 when fn never stopped the
 * walk, or -errno when the table cannot be read.  Lines too long or malformed are skipped. */
int mountinfo_each(const char *type, int (*fn)(const mountinfo_entry *e, void *arg),
                   void *arg);

#endif
