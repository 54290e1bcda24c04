/*
 * mountinfo.c — reading /proc/self/mountinfo (mountinfo.h).
 *
 * A line is "ID PARENT MAJOR:MINOR ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - TYPE SOURCE
 * SUPEROPTIONS"; the optional fields vary in number, so the part after " - " is found by
 * its separator, not by counting fields.
 */
#include "mountinfo.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Decode mountinfo's \ooo escapes of s in place. */
static void unescape(char *s)
{
    char *o = s;
    for (const char *i = s; *i; o++) {
        if (i[0] == '\\' && i[1] >= '0' && i[1] <= '3' && i[2] >= '0' && i[2] <= '7' &&
            i[3] >= '0' && i[3] <= '7') {
            *o = (char)((i[1] - '0') * 64 + (i[2] - '0') * 8 + (i[3] - '0'));
            i += 4;
        } else {
            *o = *i++;
        }
    }
    *o = '\0';
}

/* Fill e from one line; -1 if the line is not one this parser understands. */
static int parse_line(char *line, mountinfo_entry *e)
{
    char *sep = strstr(line, " - ");
    if (!sep)
        return -1;
    *sep = '\0';
    if (sscanf(line, "%*s %*s %u:%u %*s %4095s", &e->major, &e->minor, e->mnt) != 3)
        return -1;
    e->source[0] = '\0';
    if (sscanf(sep + 3, "%63s %4095s", e->type, e->source) < 1)
        return -1;
    unescape(e->mnt);
    unescape(e->source);
    return 0;
}

int mountinfo_each(const char *type, int (*fn)(const mountinfo_entry *e, void *arg),
                   void *arg)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return -errno;
    char line[PATH_MAX * 3];
    mountinfo_entry e;
    int r = 0;
    while (r == 0 && fgets(line, (int)sizeof line, f)) {
        size_t len = strlen(line);
        if (len && line[len - 1] != '\n' && !feof(f)) {
            int c; /* a line longer than the buffer: skip the rest of it */
            while ((c = getc(f)) != EOF && c != '\n') {
            }
            continue;
        }
        if (parse_line(line, &e) == 0 && (!type || strcmp(e.type, type) == 0))
            r = fn(&e, arg);
    }
    fclose(f);
    return r;
}
