/*
 * ctl_output.c — JSON string literals and reversible escaping of raw key bytes.
 *
 * Keys and file names are arbitrary bytes; JSON needs valid escapes and terminals need
 * printable text.  Non-ASCII bytes go to JSON as \u00XX (one code point per byte), which keeps
 * the output valid JSON and lossless for byte strings.
 */
#include <ctype.h>
#include <getopt.h>
#include <string.h>

#include "ctl.h"

void ctl_json_string(FILE *out, const char *s, size_t n)
{
    fputc('"', out);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\t': fputs("\\t", out); break;
        case '\r': fputs("\\r", out); break;
        default:
            if (c < 0x20 || c >= 0x7f)
                fprintf(out, "\\u%04x", c);
            else
                fputc(c, out);
        }
    }
    fputc('"', out);
}

void ctl_escape(FILE *out, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\\')
            fputs("\\\\", out);
        else if (p[i] >= 0x20 && p[i] < 0x7f)
            fputc(p[i], out);
        else
            fprintf(out, "\\x%02x", p[i]);
    }
}

static int output_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

long ctl_unescape(char *s)
{
    size_t w = 0, n = strlen(s);
    for (size_t r = 0; r < n;) {
        if (s[r] != '\\') {
            s[w++] = s[r++];
            continue;
        }
        if (s[r + 1] == '\\') {
            s[w++] = '\\';
            r += 2;
        } else if (s[r + 1] == 'x' && r + 3 < n + 1 && output_hexval(s[r + 2]) >= 0 &&
                   output_hexval(s[r + 3]) >= 0) {
            s[w++] = (char)(output_hexval(s[r + 2]) * 16 + output_hexval(s[r + 3]));
            r += 4;
        } else {
            return -1;
        }
    }
    s[w] = '\0';
    return (long)w;
}

int ctl_parse_json_opts(int argc, char **argv, void (*usage)(FILE *out), int nargs, int *json)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "jh", longopts, NULL)) != -1) {
        if (c == 'j') {
            *json = 1;
        } else if (c == 'h') {
            usage(stdout);
            return CTL_EXIT_OK;
        } else {
            usage(stderr);
            return CTL_EXIT_USAGE;
        }
    }
    if (argc - optind != nargs) {
        usage(stderr);
        return CTL_EXIT_USAGE;
    }
    return -1;
}
