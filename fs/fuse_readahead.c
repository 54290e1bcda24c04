/*
 * fuse_readahead.c — widen the kernel's readahead window of a mount (see fuse_readahead.h).
 *
 * The mount's bdi is named by its device number, which /proc/self/mountinfo gives without
 * touching the mount itself: a stat of the mount point would wait for the INIT reply that this
 * daemon has not sent yet.
 */
#include "fuse_readahead.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Undo mountinfo's octal escapes (\040 for a space, ...) of s in place. */
static void unescape(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
            p[3] >= '0' && p[3] <= '7') {
            *o++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
            p += 3;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
}

/* Into dev ("MAJ:MIN"): the device of the last mount at mountpoint; 0 or -ENOENT. */
static int mount_device(const char *mountpoint, char *dev, size_t cap)
{
    FILE *mi = fopen("/proc/self/mountinfo", "re");
    if (!mi)
        return -errno;
    char line[8192];
    int r = -ENOENT;
    while (fgets(line, sizeof line, mi)) {
        char d[64], mp[4096];
        /* id parent MAJ:MIN root mountpoint ... */
        if (sscanf(line, "%*s %*s %63s %*s %4095s", d, mp) != 2)
            continue;
        unescape(mp);
        if (strcmp(mp, mountpoint) == 0 && strlen(d) < cap) {
            strcpy(dev, d); /* the last match is the mount on top */
            r = 0;
        }
    }
    fclose(mi);
    return r;
}

int lsmfs_readahead_set(const char *mountpoint, unsigned kib)
{
    char dev[64], path[128];
    int r = mount_device(mountpoint, dev, sizeof dev);
    if (r)
        return r;
    snprintf(path, sizeof path, "/sys/class/bdi/%s/read_ahead_kb", dev);
    FILE *f = fopen(path, "we");
    if (!f)
        return -errno;
    int w = fprintf(f, "%u\n", kib);
    int c = fclose(f);
    return w < 0 || c != 0 ? -EIO : 0;
}
