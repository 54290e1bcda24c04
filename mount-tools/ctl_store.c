/*
 * ctl_store.c — opening a store for offline work, with messages a user can act on.
 *
 * The store's lock file makes a second opener fail with LSM_EINUSE; when that happens because
 * an lsmfs daemon has it mounted, we say where, and that the mount point is the way in.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"

int ctl_store_wait_released(const ctl_target *t)
{
    if (t->mounted)
        return LSM_EINUSE;
    char path[PATH_MAX + 8];
    snprintf(path, sizeof(path), "%s/LOCK", t->store);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0; /* no lock file: nothing to wait for (or a new store) */
    int rc = LSM_EINUSE;
    for (int i = 0; i < 100; i++) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
            flock(fd, LOCK_UN);
            rc = 0;
            break;
        }
        if (errno != EWOULDBLOCK && errno != EINTR) {
            rc = 0; /* cannot tell: let the open report whatever is wrong */
            break;
        }
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    close(fd);
    return rc;
}

int ctl_store_open(const ctl_target *t, const lsm_options *opt, lsm_db **out)
{
    *out = NULL;
    if (t->mounted) {
        ctl_errorf("%s: store is mounted at %s; use the mount point (or unmount it first)",
                   t->store, t->mountpoint);
        return LSM_EINUSE;
    }
    ctl_store_wait_released(t);
    int rc = lsm_open(t->store, opt, out);
    if (rc == LSM_EINUSE)
        ctl_errorf("%s: store in use by another process (mounted, or another lsmfs-ctl); "
                   "use the mount point or try again later",
                   t->store);
    else if (rc != 0)
        ctl_errorf("%s: %s", t->store, ctl_lsm_message(rc));
    return rc;
}

const char *ctl_lsm_message(int rc)
{
    const char *m = lsm_last_error();
    return m && m[0] ? m : strerror(rc < 0 ? -rc : rc);
}

int ctl_exit_for(int status)
{
    if (status == 0)
        return CTL_EXIT_OK;
    if (status == LSM_EINUSE)
        return CTL_EXIT_BUSY;
    if (status == -ENOENT)
        return CTL_EXIT_NOTFOUND;
    return CTL_EXIT_FAIL;
}
