/*
 * filename.c — store file naming (see filename.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filename.h"

static char *fmt_name(const char *dir, const char *prefix, uint64_t number, const char *suffix)
{
    size_t n = strlen(dir) + strlen(prefix) + strlen(suffix) + 32;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s/%s%06" PRIu64 "%s", dir, prefix, number, suffix);
    return s;
}

char *table_file_name(const char *dir, uint64_t number) { return fmt_name(dir, "", number, ".sst"); }
char *wal_file_name(const char *dir, uint64_t number) { return fmt_name(dir, "", number, ".wal"); }
char *manifest_file_name(const char *dir, uint64_t number)
{
    return fmt_name(dir, "MANIFEST-", number, "");
}

char *dir_file_name(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s/%s", dir, name);
    return s;
}

static int parse_number(const char *s, size_t n, uint64_t *out)
{
    if (n == 0 || n > 19) return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 1;
}

enum file_kind parse_file_name(const char *name, uint64_t *number)
{
    size_t n = strlen(name);
    if (strcmp(name, "CURRENT") == 0) return FILE_CURRENT;
    if (strcmp(name, "LOCK") == 0) return FILE_LOCK;
    if (n > 4 && strcmp(name + n - 4, ".tmp") == 0) return FILE_TEMP;
    if (strncmp(name, "MANIFEST-", 9) == 0)
        return parse_number(name + 9, n - 9, number) ? FILE_MANIFEST : FILE_OTHER;
    if (n > 4 && strcmp(name + n - 4, ".sst") == 0)
        return parse_number(name, n - 4, number) ? FILE_TABLE : FILE_OTHER;
    if (n > 4 && strcmp(name + n - 4, ".wal") == 0)
        return parse_number(name, n - 4, number) ? FILE_WAL : FILE_OTHER;
    return FILE_OTHER;
}
