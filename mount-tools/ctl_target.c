/*
 * ctl_target.c — decide whether a command-line argument names a mount point or a store, and
 * whether that store is mounted, from /proc/self/mountinfo.
 *
 * The lsmfs daemon mounts with fsname = absolute store path and subtype lsmfs, so its lines in
 * mountinfo read "... MOUNTPOINT OPTS ... - fuse.lsmfs /abs/store SUPEROPTS".  Paths there are
 * octal-escaped (space = \040), which we undo before comparing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"

/* Undo mountinfo's octal escapes (\040 space, \011 tab, \012 newline, \134 backslash). */
static void target_unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r;) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
            r[3] >= '0' && r[3] <= '7') {
            *w++ = (char)(((r[1] - '0') << 6) | ((r[2] - '0') << 3) | (r[3] - '0'));
            r += 4;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
}

/* Look for an lsmfs mount whose mount point (by_mountpoint) or store (otherwise) equals path;
 * fill the other field.  Returns 1 if found, 0 if not, -errno if mountinfo is unreadable. */
static int target_find_mount(const char *path, int by_mountpoint, ctl_target *t)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return -errno;
    char *line = NULL;
    size_t cap = 0;
    int found = 0;
    while (getline(&line, &cap, f) > 0) {
        /* fields: id parent maj:min root mountpoint options [optional...] - fstype source sb */
        char *save = NULL, *mnt = NULL, *fstype = NULL, *source = NULL;
        int field = 0, after_dash = 0;
        for (char *tok = strtok_r(line, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
            if (after_dash == 0) {
                if (field == 4)
                    mnt = tok;
                if (field >= 6 && !strcmp(tok, "-"))
                    after_dash = 1;
                field++;
            } else if (after_dash == 1) {
                fstype = tok;
                after_dash = 2;
            } else if (after_dash == 2) {
                source = tok;
                break;
            }
        }
        if (!mnt || !fstype || !source || strcmp(fstype, "fuse.lsmfs") != 0)
            continue;
        target_unescape(mnt);
        target_unescape(source);
        const char *key = by_mountpoint ? mnt : source;
        if (strcmp(key, path) != 0)
            continue;
        /* Last match wins: a later mount over the same point hides earlier ones. */
        snprintf(t->mountpoint, sizeof(t->mountpoint), "%s", mnt);
        snprintf(t->store, sizeof(t->store), "%s", source);
        found = 1;
    }
    free(line);
    fclose(f);
    return found;
}

int ctl_target_resolve(const char *arg, int allow_missing, ctl_target *t)
{
    memset(t, 0, sizeof(*t));
    char real[PATH_MAX];
    if (!realpath(arg, real)) {
        int err = errno;
        if (err == ENOENT && allow_missing) {
            /* A store that does not exist yet: make the path absolute for messages. */
            if (arg[0] == '/') {
                snprintf(t->store, sizeof(t->store), "%s", arg);
            } else {
                char cwd[PATH_MAX];
                if (!getcwd(cwd, sizeof(cwd)))
                    return -errno;
                if ((size_t)snprintf(t->store, sizeof(t->store), "%s/%s", cwd, arg) >=
                    sizeof(t->store))
                    return -ENAMETOOLONG;
            }
            return 0;
        }
        if (err == ENOTCONN)
            ctl_errorf("%s: %s (the lsmfs daemon of this mount died; unmount it with "
                       "fusermount3 -u, then check the store)",
                       arg, strerror(err));
        else
            ctl_errorf("%s: %s", arg, strerror(err));
        return -err;
    }
    int rc = target_find_mount(real, 1, t);
    if (rc == 0)
        rc = target_find_mount(real, 0, t);
    if (rc < 0) {
        ctl_errorf("/proc/self/mountinfo: %s", strerror(-rc));
        return rc;
    }
    if (rc == 1) {
        t->mounted = 1;
        return 0;
    }
    struct stat st;
    if (stat(real, &st) != 0 || !S_ISDIR(st.st_mode)) {
        ctl_errorf("%s: not a directory (expected a store directory or an lsmfs mount point)",
                   arg);
        return -ENOTDIR;
    }
    snprintf(t->store, sizeof(t->store), "%s", real);
    return 0;
}
