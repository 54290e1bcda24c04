/*
 * ctl_main.c — lsmfs-ctl entry point: the subcommand table and top-level help.
 *
 * Each subcommand parses its own options (getopt_long from its argv, so `lsmfs-ctl stat --json
 * MNT` and `lsmfs-ctl stat MNT --json` both work) and returns its exit code.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"

struct ctl_command {
    const char *name;
    ctl_command_fn fn;
    const char *summary;
};

static const struct ctl_command ctl_commands[] = {
    {"stat", ctl_cmd_stat, "MNT|STORE            statistics (levels, amplification, caches)"},
    {"compact", ctl_cmd_compact, "MNT|STORE         full manual compaction"},
    {"check", ctl_cmd_check, "STORE [--repair]    verify checksums and filesystem invariants"},
    {"checkpoint", ctl_cmd_checkpoint, "MNT|STORE DEST consistent copy of a live store"},
    {"get", ctl_cmd_get, "STORE /path           print a file's contents"},
    {"put", ctl_cmd_put, "STORE /path [FILE|-]  store a file from FILE or stdin"},
    {"rm", ctl_cmd_rm, "STORE /path [-r]        remove a file, link or directory"},
    {"ls", ctl_cmd_ls, "STORE [/dir] [-l]       list a directory"},
    {"scan", ctl_cmd_scan, "STORE [--prefix /dir] [--raw]  list everything (or raw keys)"},
    {"import", ctl_cmd_import, "DIR STORE         copy a directory tree into a new store"},
    {"export", ctl_cmd_export, "STORE DIR         copy a store's tree out to a directory"},
};

void ctl_errorf(const char *fmt, ...)
{
    va_list ap;
    fputs("lsmfs-ctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void ctl_usage(FILE *out)
{
    fprintf(out, "usage: lsmfs-ctl COMMAND [options] ARGS...\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(ctl_commands) / sizeof(ctl_commands[0]); i++)
        fprintf(out, "  %-10s %s\n", ctl_commands[i].name, ctl_commands[i].summary);
    fprintf(out,
            "\nEvery command takes --help; most take --json for machine-readable output.\n"
            "MNT is the mount point of a mounted lsmfs; STORE is a store directory.\n"
            "Exit status: 0 ok, 1 failed, 2 usage, 3 path not found, 4 store busy (mounted);\n"
            "check follows fsck: 0 clean, 1 corrected, 4 errors left, 8 could not check.\n"
            "See lsmfs-ctl(8).\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        ctl_usage(stderr);
        return CTL_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        ctl_usage(stdout);
        return CTL_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("lsmfs-ctl %s (liblsm %s)\n", LSM_VERSION_STRING, lsm_version());
        return CTL_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(ctl_commands) / sizeof(ctl_commands[0]); i++)
        if (!strcmp(argv[1], ctl_commands[i].name))
            return ctl_commands[i].fn(argc - 1, argv + 1);
    ctl_errorf("unknown command '%s' (try lsmfs-ctl --help)", argv[1]);
    return CTL_EXIT_USAGE;
}
