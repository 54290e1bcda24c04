/*
 * ctl_check.c — `lsmfs-ctl check STORE [--repair]`: fsck for an unmounted store.
 *
 * Two layers are checked in order:
 *   1. the engine (lsm_verify): every checksum of every file, the manifest, every listed table
 *      present and readable in key order;
 *   2. the filesystem (fscore_check): every entry's parent exists and is a directory, chunks lie
 *      within their file's size, link counts match, no orphan chunks/inodes/xattrs.
 * With --repair, the engine is repaired first (lsm_repair salvages readable tables and WAL
 * records), then the filesystem invariants are repaired, then both are checked again to decide
 * the exit status.  Exit status follows fsck(8): 0 clean, 1 errors corrected, 4 errors left
 * uncorrected, 8 operational error (could not check: store missing, mounted, I/O), 16 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ctl_fs.h"

struct check_state {
    int json;
    const char *layer;   /* "engine" or "fs": which check is reporting */
    const char *phase;   /* "check", "repair" or "recheck" */
    char **lines;        /* JSON mode: "layer\tphase\tmessage" of every report, in order */
    size_t nlines, cap;
    size_t count;        /* reports in the current phase */
    ctl_progress progress;
};

static void check_report(void *arg, const char *line)
{
    struct check_state *s = arg;
    s->count++;
    if (!s->json) {
        ctl_progress_finish(&s->progress);
        printf("%s%s: %s\n", s->layer,
               !strcmp(s->phase, "repair")    ? " (repair)"
               : !strcmp(s->phase, "recheck") ? " (after repair)"
                                              : "",
               line);
        fflush(stdout);
        return;
    }
    if (s->nlines == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        char **p = realloc(s->lines, cap * sizeof(*p));
        if (!p)
            return;
        s->lines = p;
        s->cap = cap;
    }
    size_t n = strlen(s->layer) + strlen(s->phase) + strlen(line) + 3;
    char *l = malloc(n);
    if (!l)
        return;
    snprintf(l, n, "%s\t%s\t%s", s->layer, s->phase, line);
    s->lines[s->nlines++] = l;
}

static void check_progress(void *arg, uint64_t done, uint64_t total)
{
    struct check_state *s = arg;
    ctl_progress_update(&s->progress, done, total);
}

/* Engine layer: returns the number of problems (>= 0) or a negative operational error. */
static long check_engine(struct check_state *s, const char *store)
{
    s->layer = "engine";
    s->count = 0;
    int rc = lsm_verify(store, check_report, check_progress, s);
    ctl_progress_finish(&s->progress);
    if (rc == 0)
        return (long)s->count;
    if (rc == LSM_ECORRUPT)
        return s->count ? (long)s->count : 1;
    ctl_errorf("%s: cannot verify: %s", store, ctl_fs_message(rc));
    return rc;
}

/* Filesystem layer: returns the number of problems, or a negative error when the store could
 * not be opened as a filesystem (itself a problem if the engine layer found corruption). */
static long check_fs(struct check_state *s, const char *store, int repair)
{
    s->layer = "fs";
    s->count = 0;
    lsm_options opt;
    lsm_options_init(&opt);
    opt.create_if_missing = 0;
    fscore *fs;
    int rc = fscore_open(store, &opt, !repair, &fs);
    if (rc != 0) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "cannot open as a filesystem: %s", ctl_fs_message(rc));
        if (rc == LSM_EINUSE || rc == -EPROTONOSUPPORT) { /* nothing to check or repair */
            ctl_errorf("%s: %s", store, msg);
            return rc;
        }
        check_report(s, msg);
        return 1;
    }
    int n = fscore_check(fs, check_report, s, repair);
    int crc = fscore_close(fs);
    if (n < 0) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "filesystem check stopped: %s", ctl_fs_message(n));
        check_report(s, msg);
        return s->count ? (long)s->count : 1;
    }
    if (crc != 0 && repair) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "close after repair failed: %s", ctl_lsm_message(crc));
        check_report(s, msg);
        return n + 1;
    }
    return n;
}

static void check_usage(FILE *out)
{
    fprintf(out,
            "usage: lsmfs-ctl check [--repair] [--json] STORE\n"
            "Verify every checksum in every file of an unmounted store, its manifest, and the\n"
            "filesystem's invariants.  --repair salvages what is readable and reports what\n"
            "was lost.  Exit status (fsck): 0 clean, 1 errors corrected, 4 errors left\n"
            "uncorrected, 8 operational error, 16 usage error.\n");
}

static int check_finish(struct check_state *s, const char *store, int repair, long found,
                        long remaining, int code)
{
    if (s->json) {
        printf("{\"store\":");
        ctl_json_string(stdout, store, strlen(store));
        printf(",\"repair\":%s,\"problems_found\":%ld,\"problems_remaining\":%ld,\"exit\":%d,"
               "\"reports\":[",
               repair ? "true" : "false", found, remaining, code);
        for (size_t i = 0; i < s->nlines; i++) {
            char *l = s->lines[i];
            char *t1 = strchr(l, '\t');
            char *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
            if (!t1 || !t2)
                continue;
            *t1 = *t2 = '\0';
            printf("%s{\"layer\":\"%s\",\"phase\":\"%s\",\"message\":", i ? "," : "", l, t1 + 1);
            ctl_json_string(stdout, t2 + 1, strlen(t2 + 1));
            printf("}");
        }
        printf("]}\n");
    } else if (code == CTL_FSCK_OK) {
        printf("%s: clean\n", store);
    } else if (code == CTL_FSCK_CORRECTED) {
        printf("%s: %ld problem(s) found and corrected\n", store, found);
    } else if (code == CTL_FSCK_UNCORRECTED) {
        printf("%s: %ld problem(s) %s\n", store, remaining,
               repair ? "left after repair" : "found; run with --repair to salvage");
    }
    for (size_t i = 0; i < s->nlines; i++)
        free(s->lines[i]);
    free(s->lines);
    fflush(stdout);
    return code;
}

int ctl_cmd_check(int argc, char **argv)
{
    static const struct option longopts[] = {{"repair", no_argument, NULL, 'r'},
                                             {"json", no_argument, NULL, 'j'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int json = 0, repair = 0, c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "rjhy", longopts, NULL)) != -1) {
        if (c == 'j')
            json = 1;
        else if (c == 'r' || c == 'y')
            repair = 1;
        else if (c == 'h') {
            check_usage(stdout);
            return CTL_FSCK_OK;
        } else {
            check_usage(stderr);
            return CTL_FSCK_USAGE;
        }
    }
    if (argc - optind != 1) {
        check_usage(stderr);
        return CTL_FSCK_USAGE;
    }
    ctl_target t;
    if (ctl_target_resolve(argv[optind], 0, &t) != 0)
        return CTL_FSCK_OPERATIONAL;
    if (t.mounted) {
        ctl_errorf("%s: store is mounted at %s; unmount it before checking", t.store,
                   t.mountpoint);
        return CTL_FSCK_OPERATIONAL;
    }
    if (ctl_store_wait_released(&t) != 0) {
        ctl_errorf("%s: store in use by another process; it must be unmounted and closed to "
                   "be checked",
                   t.store);
        return CTL_FSCK_OPERATIONAL;
    }
    struct check_state s = {.json = json, .phase = "check"};
    ctl_progress_init(&s.progress, "verifying", !json);
    s.progress.bytes = 1;

    long engine = check_engine(&s, t.store);
    if (engine < 0)
        return check_finish(&s, t.store, repair, 0, 0, CTL_FSCK_OPERATIONAL);
    long fsp = check_fs(&s, t.store, 0);
    if (fsp < 0)
        return check_finish(&s, t.store, repair, engine, engine, CTL_FSCK_OPERATIONAL);
    long found = engine + fsp;
    if (found == 0)
        return check_finish(&s, t.store, repair, 0, 0, CTL_FSCK_OK);
    if (!repair)
        return check_finish(&s, t.store, repair, found, found, CTL_FSCK_UNCORRECTED);

    s.phase = "repair";
    if (engine > 0) {
        s.layer = "engine";
        int rc = lsm_repair(t.store, check_report, &s);
        if (rc != 0) {
            char msg[1024];
            snprintf(msg, sizeof(msg), "repair failed: %s",
                     ctl_fs_message(rc));
            check_report(&s, msg);
        }
    }
    long fixed = check_fs(&s, t.store, 1);
    if (fixed < 0)
        return check_finish(&s, t.store, repair, found, found, CTL_FSCK_OPERATIONAL);

    s.phase = "recheck";
    ctl_progress_init(&s.progress, "re-verifying", !json);
    s.progress.bytes = 1;
    long engine2 = check_engine(&s, t.store);
    long fs2 = engine2 < 0 ? 0 : check_fs(&s, t.store, 0);
    if (engine2 < 0 || fs2 < 0)
        return check_finish(&s, t.store, repair, found, found, CTL_FSCK_OPERATIONAL);
    long remaining = engine2 + fs2;
    return check_finish(&s, t.store, repair, found, remaining,
                        remaining == 0 ? CTL_FSCK_CORRECTED : CTL_FSCK_UNCORRECTED);
}
