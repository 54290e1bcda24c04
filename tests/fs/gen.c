/*
 * gen — deterministic pseudo-random bytes for test files.
 *
 * usage: gen SEED SIZE [text]   writes SIZE bytes to stdout; the same SEED gives the same bytes.
 *   With "text", the bytes are printable lines (lowercase words, spaces, newlines), useful for
 *   grep/sort/sed tests.  SIZE accepts K/M/G suffixes (powers of 1024).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t next(uint64_t *s)
{
    /* splitmix64: each output depends only on the seed and the position. */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int main(int argc, char **argv)
{
    if (argc < 3) { fprintf(stderr, "usage: gen SEED SIZE [text]\n"); return 2; }
    uint64_t s = strtoull(argv[1], NULL, 0);
    char *end;
    unsigned long long size = strtoull(argv[2], &end, 0);
    if (*end == 'K') size <<= 10; else if (*end == 'M') size <<= 20; else if (*end == 'G') size <<= 30;
    int text = argc > 3 && !strcmp(argv[3], "text");
    static unsigned char buf[1 << 16];
    while (size > 0) {
        size_t n = size < sizeof buf ? size : sizeof buf;
        for (size_t i = 0; i < n; i += 8) {
            uint64_t r = next(&s);
            for (size_t j = 0; j < 8 && i + j < n; j++, r >>= 8) {
                unsigned v = r & 0xff;
                if (text) buf[i + j] = v < 20 ? '\n' : v < 60 ? ' ' : 'a' + v % 26;
                else buf[i + j] = (unsigned char)v;
            }
        }
        if (fwrite(buf, 1, n, stdout) != n) { perror("gen: write"); return 1; }
        size -= n;
    }
    return 0;
}
