/*
 * ctl.h — shared pieces of lsmfs-ctl, the administration tool for lsmfs stores.
 *
 * lsmfs-ctl is one program with subcommands (stat, compact, check, checkpoint, get, put, rm,
 * ls, scan, import, export).  Each subcommand lives in its own file (ctl_<name>.c) and is
 * reached through the table in ctl_main.c.  The helpers declared here are what they share:
 *   - target resolution: is the argument a mount point or a store directory, and is the store
 *     mounted right now (ctl_target.c, from /proc/self/mountinfo);
 *   - the client side of the daemon's control channel, STORE/control.sock (ctl_control.c);
 *   - a progress bar that draws only on a terminal (ctl_progress.c);
 *   - JSON string output and C-style escaping for raw keys (ctl_output.c);
 *   - opening a store for offline work with a clear message when it is mounted (ctl_store.c).
 *
 * Exit codes are part of the interface (scripts rely on them) and are the CTL_EXIT_* values
 * below; `check` uses the fsck convention instead (CTL_FSCK_*).
 */
#ifndef LSMFS_CTL_H
#define LSMFS_CTL_H

#include <limits.h>
#include <stdint.h>
#include <stdio.h>

#include "lsm.h"

enum {
    CTL_EXIT_OK = 0,       /* the command did what was asked */
    CTL_EXIT_FAIL = 1,     /* it failed; one line on stderr says why */
    CTL_EXIT_USAGE = 2,    /* bad command line */
    CTL_EXIT_NOTFOUND = 3, /* get/rm/ls/export: the path does not exist in the store */
    CTL_EXIT_BUSY = 4,     /* the store is mounted or open elsewhere and the command needs it
                              offline (get/put/rm/ls/scan/import/export/check) */
};

enum { /* fsck(8) conventions, for `check` */
    CTL_FSCK_OK = 0,
    CTL_FSCK_CORRECTED = 1,
    CTL_FSCK_UNCORRECTED = 4,
    CTL_FSCK_OPERATIONAL = 8,
    CTL_FSCK_USAGE = 16,
};

/* A subcommand: argv[0] is the subcommand name; returns the process exit code. */
typedef int (*ctl_command_fn)(int argc, char **argv);

/* Parse the options of a subcommand that takes only --json (-j) and --help (-h), and check
 * that exactly nargs operands follow.  Returns -1 to go on (*json set, optind at the first
 * operand), or the exit status to return at once (usage printed: to stdout for --help). */
int ctl_parse_json_opts(int argc, char **argv, void (*usage)(FILE *out), int nargs, int *json);

int ctl_cmd_stat(int argc, char **argv);
int ctl_cmd_compact(int argc, char **argv);
int ctl_cmd_check(int argc, char **argv);
int ctl_cmd_checkpoint(int argc, char **argv);
int ctl_cmd_get(int argc, char **argv);
int ctl_cmd_put(int argc, char **argv);
int ctl_cmd_rm(int argc, char **argv);
int ctl_cmd_ls(int argc, char **argv);
int ctl_cmd_scan(int argc, char **argv);
int ctl_cmd_import(int argc, char **argv);
int ctl_cmd_export(int argc, char **argv);

/* Print "lsmfs-ctl: <message>\n" to stderr. */
void ctl_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- target resolution (ctl_target.c) ---- */

typedef struct ctl_target {
    char store[PATH_MAX];      /* absolute path of the store directory */
    char mountpoint[PATH_MAX]; /* where it is mounted, "" if it is not */
    int mounted;               /* 1 if an lsmfs daemon has this store mounted */
} ctl_target;

/* Resolve arg, a mount point of an lsmfs file system or a store directory, into *t by reading
 * /proc/self/mountinfo (type fuse.lsmfs; the source field is the absolute store path).  A path
 * that does not exist yet is accepted as an (unmounted) store if allow_missing is set.
 * Returns 0, or -errno with a message printed through ctl_errorf. */
int ctl_target_resolve(const char *arg, int allow_missing, ctl_target *t);

/* ---- control channel client (ctl_control.c) ---- */

/* Called for every reply line before the final OK/ERR (without the newline). */
typedef void (*ctl_reply_fn)(void *arg, const char *line);

/* Connect to STORE/control.sock of the daemon serving store_dir, send the single request line
 * `request` (no newline), pass each reply line to on_line, and return 0 when the daemon ends
 * with "OK".  On "ERR <message>" returns -EIO and copies the message into err (size errlen);
 * on connection failures returns -errno with a description in err. */
int ctl_control_request(const char *store_dir, const char *request, ctl_reply_fn on_line,
                        void *arg, char *err, size_t errlen);

/* ---- progress bar (ctl_progress.c) ---- */

typedef struct ctl_progress {
    int enabled;          /* draws only when stderr is a terminal and output is not JSON */
    const char *label;
    double last_draw;     /* monotonic seconds of the last redraw, for throttling */
    int drawn;            /* something is on the line and must be cleared at the end */
    int bytes;            /* done/total are bytes: show them as KiB/MiB/GiB */
} ctl_progress;

/* Prepare p (counts; set p->bytes for byte amounts); it draws only when enable is set and
 * stderr is a terminal. */
void ctl_progress_init(ctl_progress *p, const char *label, int enable);
/* Show done/total (total 0: an open-ended counter); redraws at most ~10 times a second. */
void ctl_progress_update(ctl_progress *p, uint64_t done, uint64_t total);
/* Clear the progress line. */
void ctl_progress_finish(ctl_progress *p);

/* ---- output helpers (ctl_output.c) ---- */

/* Write s (n bytes) as a JSON string literal, with quotes and escapes. */
void ctl_json_string(FILE *out, const char *s, size_t n);
/* Write n bytes as printable text: printable ASCII stays, backslash becomes "\\", anything
 * else "\xNN".  ctl_unescape reverses it in place and returns the new length or -1 on a bad
 * escape. */
void ctl_escape(FILE *out, const void *data, size_t n);
long ctl_unescape(char *s);

/* ---- opening stores offline (ctl_store.c) ---- */

/* A daemon that was just unmounted still flushes and closes its store for a moment after
 * umount(8) returns, holding the store's lock file (STORE/LOCK, flock).  When t is not
 * mounted, wait up to 10 s for that lock to be free so `umount MNT && lsmfs-ctl ... STORE`
 * works.  Returns 0 when free (or there is no lock file), LSM_EINUSE if still held. */
int ctl_store_wait_released(const ctl_target *t);

/* lsm_open(t->store) with opt; when the store is mounted or locked, prints a message that says
 * so (naming the mount point and telling the user to use it or unmount) and returns
 * LSM_EINUSE; other failures print lsm_last_error().  Returns 0 or the lsm error code. */
int ctl_store_open(const ctl_target *t, const lsm_options *opt, lsm_db **out);

/* The calling thread's liblsm message for a failure with status rc, or strerror(-rc) when the
 * library left no message. */
const char *ctl_lsm_message(int rc);

/* Map an lsm/errno status to an exit code (CTL_EXIT_BUSY for LSM_EINUSE, NOTFOUND for
 * -ENOENT, FAIL otherwise). */
int ctl_exit_for(int status);

#endif
