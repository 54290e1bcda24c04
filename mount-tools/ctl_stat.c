/*
 * ctl_stat.c — `lsmfs-ctl stat MNT|STORE`: the engine's statistics.
 *
 * A mounted store is asked through the daemon's control channel ("stat" / "stat-json"); an
 * unmounted one is opened read-only and asked for lsm_property("lsm.stats"/"lsm.stats.json").
 * Either way the figures come from the same engine code.  --json prints one object:
 *   {"store": PATH, "mounted": BOOL, "mountpoint": PATH|null, "stats": <lsm.stats.json>}
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

struct stat_buf {
    char *data;
    size_t len, cap;
};

static void stat_collect(void *arg, const char *line)
{
    struct stat_buf *b = arg;
    size_t n = strlen(line);
    if (b->len + n + 2 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + n + 2)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p)
            return; /* keep what we have; the output will be short, not wrong */
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, line, n);
    b->len += n;
    b->data[b->len++] = '\n';
    b->data[b->len] = '\0';
}

static void stat_usage(FILE *out)
{
    fprintf(out, "usage: lsmfs-ctl stat [--json] MNT|STORE\n"
                 "Print the store's statistics: levels with files and bytes, memtable and WAL\n"
                 "size, write and space amplification, compactions, stalls, cache hit rate,\n"
                 "bloom filter usefulness, key and file counts.  A mounted store is asked\n"
                 "through its daemon; an unmounted one is opened read-only.\n");
}

int ctl_cmd_stat(int argc, char **argv)
{
    int json = 0;
    int done = ctl_parse_json_opts(argc, argv, stat_usage, 1, &json);
    if (done >= 0)
        return done;
    ctl_target t;
    if (ctl_target_resolve(argv[optind], 0, &t) != 0)
        return CTL_EXIT_FAIL;

    char *text = NULL;
    if (t.mounted) {
        struct stat_buf b = {0};
        char err[512];
        int rc = ctl_control_request(t.store, json ? "stat-json" : "stat", stat_collect, &b, err,
                                     sizeof(err));
        if (rc != 0) {
            ctl_errorf("%s (mounted at %s): %s", t.store, t.mountpoint, err);
            free(b.data);
            return CTL_EXIT_FAIL;
        }
        text = b.data ? b.data : strdup("");
    } else {
        lsm_options opt;
        lsm_options_init(&opt);
        opt.read_only = 1;
        opt.create_if_missing = 0;
        lsm_db *db;
        int rc = ctl_store_open(&t, &opt, &db);
        if (rc != 0)
            return ctl_exit_for(rc);
        char *prop = NULL;
        rc = lsm_property(db, json ? "lsm.stats.json" : "lsm.stats", &prop);
        if (rc != 0) {
            ctl_errorf("%s: %s", t.store, ctl_lsm_message(rc));
            lsm_close(db);
            return CTL_EXIT_FAIL;
        }
        text = strdup(prop);
        lsm_free(prop);
        lsm_close(db);
    }
    if (!text) {
        ctl_errorf("out of memory");
        return CTL_EXIT_FAIL;
    }
    if (json) {
        size_t n = strlen(text);
        while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' '))
            text[--n] = '\0';
        printf("{\"store\":");
        ctl_json_string(stdout, t.store, strlen(t.store));
        printf(",\"mounted\":%s,\"mountpoint\":", t.mounted ? "true" : "false");
        if (t.mounted)
            ctl_json_string(stdout, t.mountpoint, strlen(t.mountpoint));
        else
            printf("null");
        printf(",\"stats\":%s}\n", n ? text : "null");
    } else {
        if (t.mounted)
            printf("store %s (mounted at %s)\n", t.store, t.mountpoint);
        else
            printf("store %s (not mounted)\n", t.store);
        fputs(text, stdout);
        if (text[0] && text[strlen(text) - 1] != '\n')
            putchar('\n');
    }
    free(text);
    return fflush(stdout) == 0 ? CTL_EXIT_OK : CTL_EXIT_FAIL;
}
