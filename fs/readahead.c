/*
 * readahead.c — setting a mount's readahead window (readahead.h).
 */
#include "readahead.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mountinfo.h"

struct newest {
    const char *mnt;
    int found;
    unsigned major, minor;
};

/* Remember the device of every mount on the wanted point: the last one is on top. */
static int note_mount(const mountinfo_entry *e, void *arg)
{
    struct newest *n = arg;
    if (strcmp(e->mnt, n->mnt) == 0) {
        n->found = 1;
        n->major = e->major;
        n->minor = e->minor;
    }
    return 0;
}

int fs_readahead_set(const char *mnt, size_t bytes)
{
    struct newest n = {.mnt = mnt};
    int r = mountinfo_each("fuse.lsmfs", note_mount, &n);
    if (r)
        return r;
    if (!n.found)
        return -ENOENT;
    char path[96], val[32];
    snprintf(path, sizeof path, "/sys/class/bdi/%u:%u/read_ahead_kb", n.major, n.minor);
    int len = snprintf(val, sizeof val, "%zu\n", bytes >> 10);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t w = write(fd, val, (size_t)len);
    r = w == len ? 0 : w < 0 ? -errno : -EIO;
    close(fd);
    return r;
}
