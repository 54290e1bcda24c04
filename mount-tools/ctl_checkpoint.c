/*
 * ctl_checkpoint.c — `lsmfs-ctl checkpoint MNT|STORE DEST`: a consistent, openable copy.
 *
 * The engine does the work (lsm_checkpoint: hard-link the immutable tables, copy the rest).
 * A mounted store is checkpointed by its daemon, which owns the open lsm_db, through the
 * control channel ("checkpoint <absolute dest>"); an unmounted one is opened here.  DEST must
 * not exist; it is passed to the daemon as an absolute path because the daemon's working
 * directory is not ours.
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctl.h"

static void checkpoint_usage(FILE *out)
{
    fprintf(out, "usage: lsmfs-ctl checkpoint [--json] MNT|STORE DEST\n"
                 "Make DEST (which must not exist) a consistent copy of the store as of now,\n"
                 "without stopping a mounted file system.  DEST can be mounted on its own.\n"
                 "On the same file system the tables are hard links and cost no space.\n");
}

/* Absolute form of dest, whose parent must exist and which itself must not. */
static int checkpoint_dest(const char *dest, char *out, size_t outlen)
{
    struct stat st;
    if (lstat(dest, &st) == 0) {
        ctl_errorf("%s: already exists (the checkpoint destination must be a new path)", dest);
        return -EEXIST;
    }
    char a[PATH_MAX], b[PATH_MAX], parent[PATH_MAX];
    snprintf(a, sizeof(a), "%s", dest);
    snprintf(b, sizeof(b), "%s", dest);
    if (!realpath(dirname(a), parent)) {
        int e = errno;
        ctl_errorf("%s: parent directory: %s", dest, strerror(e));
        return -e;
    }
    const char *base = basename(b);
    if (!strcmp(base, ".") || !strcmp(base, "..") || !strcmp(base, "/")) {
        ctl_errorf("%s: not a usable destination name", dest);
        return -EINVAL;
    }
    if ((size_t)snprintf(out, outlen, "%s/%s", strcmp(parent, "/") ? parent : "", base) >= outlen)
        return -ENAMETOOLONG;
    return 0;
}

int ctl_cmd_checkpoint(int argc, char **argv)
{
    int json = 0;
    int done = ctl_parse_json_opts(argc, argv, checkpoint_usage, 2, &json);
    if (done >= 0)
        return done;
    ctl_target t;
    if (ctl_target_resolve(argv[optind], 0, &t) != 0)
        return CTL_EXIT_FAIL;
    char dest[PATH_MAX];
    if (checkpoint_dest(argv[optind + 1], dest, sizeof(dest)) != 0)
        return CTL_EXIT_FAIL;

    if (t.mounted) {
        char req[PATH_MAX + 32], err[512];
        snprintf(req, sizeof(req), "checkpoint %s", dest);
        if (ctl_control_request(t.store, req, NULL, NULL, err, sizeof(err)) != 0) {
            ctl_errorf("%s (mounted at %s): checkpoint failed: %s", t.store, t.mountpoint, err);
            return CTL_EXIT_FAIL;
        }
    } else {
        lsm_options opt;
        lsm_options_init(&opt);
        opt.create_if_missing = 0;
        lsm_db *db;
        int rc = ctl_store_open(&t, &opt, &db);
        if (rc != 0)
            return ctl_exit_for(rc);
        rc = lsm_checkpoint(db, dest);
        if (rc != 0)
            ctl_errorf("%s: checkpoint to %s failed: %s", t.store, dest, ctl_lsm_message(rc));
        int crc = lsm_close(db);
        if (rc == 0 && crc != 0) {
            ctl_errorf("%s: close: %s", t.store, ctl_lsm_message(crc));
            rc = crc;
        }
        if (rc != 0)
            return CTL_EXIT_FAIL;
    }
    if (json) {
        printf("{\"store\":");
        ctl_json_string(stdout, t.store, strlen(t.store));
        printf(",\"mounted\":%s,\"checkpoint\":", t.mounted ? "true" : "false");
        ctl_json_string(stdout, dest, strlen(dest));
        printf(",\"status\":\"ok\"}\n");
    } else {
        printf("checkpoint of %s written to %s\n", t.store, dest);
    }
    return CTL_EXIT_OK;
}
