/*
 * ctl_store.c — opening a store for offline work, with messages a user can act on.
 *
 * The store's lock file makes a second opener fail with LSM_EINUSE; when that happens because
 * an lsmfs daemon has it mounted, we say where, and that the mount point is the way in.
 */
#include <errno.h>
#include <string.h>

#include "ctl.h"

int ctl_store_open(const ctl_target *t, const lsm_options *opt, lsm_db **out)
{
    *out = NULL;
    if (t->mounted) {
        ctl_errorf("%s: store is mounted at %s; use the mount point (or unmount it first)",
                   t->store, t->mountpoint);
        return LSM_EINUSE;
    }
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
