/*
 * ctl_compact.c — `lsmfs-ctl compact MNT|STORE`: full manual compaction.
 *
 * Mounted: the daemon runs it and streams "PROGRESS <done> <total>" lines, which drive the
 * bar.  Unmounted: we open the store and compact it ourselves.  lsm_compact_range reports no
 * progress, so we split the key space at distinct first bytes (lsmfs keys start with a
 * one-letter record type: entries, chunks, inodes, ...) and compact one range at a time; the
 * bar counts ranges.  The result is the same as one whole-range compaction.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static void compact_usage(FILE *out)
{
    fprintf(out, "usage: lsmfs-ctl compact [--json] MNT|STORE\n"
                 "Compact the whole store down to its bottom level, dropping overwritten\n"
                 "values and deletions.  Shows a progress bar on a terminal.\n");
}

static void compact_on_line(void *arg, const char *line)
{
    ctl_progress *p = arg;
    unsigned long long done, total;
    if (sscanf(line, "PROGRESS %llu %llu", &done, &total) == 2)
        ctl_progress_update(p, done, total);
}

static uint64_t compact_sst_bytes(lsm_db *db)
{
    char *v = NULL;
    uint64_t n = 0;
    if (lsm_property(db, "lsm.total-sst-bytes", &v) == 0) {
        n = strtoull(v, NULL, 10);
        lsm_free(v);
    }
    return n;
}

/* Collect the distinct first bytes of the keys present (one seek per distinct byte). */
static int compact_first_bytes(lsm_db *db, unsigned char *bytes, int *count)
{
    lsm_iter *it;
    int rc = lsm_iter_new(db, NULL, &it);
    if (rc != 0)
        return rc;
    *count = 0;
    unsigned next = 0;
    while (next < 256) {
        unsigned char k = (unsigned char)next;
        lsm_iter_seek(it, &k, 1);
        if (!lsm_iter_valid(it))
            break;
        size_t len;
        const unsigned char *key = lsm_iter_key(it, &len);
        /* The empty key sorts before {0}: count it in the first range. */
        unsigned b = len ? key[0] : 0;
        bytes[(*count)++] = (unsigned char)b;
        next = b + 1;
    }
    rc = lsm_iter_status(it);
    lsm_iter_free(it);
    return rc;
}

static int compact_offline(const ctl_target *t, ctl_progress *p, uint64_t *before,
                           uint64_t *after)
{
    lsm_options opt;
    lsm_options_init(&opt);
    opt.create_if_missing = 0;
    lsm_db *db;
    int rc = ctl_store_open(t, &opt, &db);
    if (rc != 0)
        return rc;
    *before = compact_sst_bytes(db);
    unsigned char bytes[256];
    int n = 0;
    rc = compact_first_bytes(db, bytes, &n);
    for (int i = 0; rc == 0 && i < n; i++) {
        ctl_progress_update(p, (uint64_t)i, (uint64_t)n);
        unsigned char lo = bytes[i], hi = (unsigned char)(bytes[i] + 1);
        /* [lo, hi] inclusive; the first range starts unbounded so the empty key is covered,
         * the range of 0xff ends unbounded. */
        rc = lsm_compact_range(db, i == 0 ? NULL : &lo, i == 0 ? 0 : 1, bytes[i] == 0xff ? NULL : &hi,
                               bytes[i] == 0xff ? 0 : 1);
    }
    if (rc == 0 && n == 0)
        rc = lsm_compact_range(db, NULL, 0, NULL, 0);
    if (rc == 0)
        ctl_progress_update(p, (uint64_t)n, (uint64_t)n);
    if (rc != 0)
        ctl_errorf("%s: compaction failed: %s", t->store, ctl_lsm_message(rc));
    *after = compact_sst_bytes(db);
    int crc = lsm_close(db);
    if (rc == 0 && crc != 0) {
        ctl_errorf("%s: close: %s", t->store, ctl_lsm_message(crc));
        rc = crc;
    }
    return rc;
}

int ctl_cmd_compact(int argc, char **argv)
{
    int json = 0;
    int done = ctl_parse_json_opts(argc, argv, compact_usage, 1, &json);
    if (done >= 0)
        return done;
    ctl_target t;
    if (ctl_target_resolve(argv[optind], 0, &t) != 0)
        return CTL_EXIT_FAIL;
    ctl_progress p;
    ctl_progress_init(&p, "compacting", !json);
    uint64_t before = 0, after = 0;
    int rc;
    if (t.mounted) {
        char err[512];
        rc = ctl_control_request(t.store, "compact", compact_on_line, &p, err, sizeof(err));
        ctl_progress_finish(&p);
        if (rc != 0) {
            ctl_errorf("%s (mounted at %s): compaction failed: %s", t.store, t.mountpoint, err);
            return CTL_EXIT_FAIL;
        }
    } else {
        rc = compact_offline(&t, &p, &before, &after);
        ctl_progress_finish(&p);
        if (rc != 0)
            return ctl_exit_for(rc);
    }
    if (json) {
        printf("{\"store\":");
        ctl_json_string(stdout, t.store, strlen(t.store));
        printf(",\"mounted\":%s,\"status\":\"ok\"", t.mounted ? "true" : "false");
        if (!t.mounted)
            printf(",\"sst_bytes_before\":%llu,\"sst_bytes_after\":%llu",
                   (unsigned long long)before, (unsigned long long)after);
        printf("}\n");
    } else if (t.mounted) {
        printf("compacted %s (mounted at %s)\n", t.store, t.mountpoint);
    } else {
        printf("compacted %s: table bytes %llu -> %llu\n", t.store, (unsigned long long)before,
               (unsigned long long)after);
    }
    return CTL_EXIT_OK;
}
