/*
 * plantchunks — recreate, in an unmounted lsmfs store, what a crash between an ingested table
 * and its commit batch leaves (fs/file.c, "Big sequential writes"): chunks of inode INO from
 * index FROM on (COUNT of them, every byte 0xAB) that the file's size does not cover, and,
 * unless "nopending" is given, the 'P' record naming them (fs/SCHEMA.md).
 *
 *   plantchunks STORE INO FROM COUNT [nopending]
 *
 * bigfile.sh then checks that the mount deletes them: growing the file reads zeros.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsm.h"

static void be64(char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (char)(v & 0xff);
}

int main(int argc, char **argv)
{
    if (argc != 5 && !(argc == 6 && strcmp(argv[5], "nopending") == 0)) {
        fprintf(stderr, "usage: plantchunks STORE INO FROM COUNT [nopending]\n");
        return 2;
    }
    uint64_t ino = strtoull(argv[2], NULL, 10), from = strtoull(argv[3], NULL, 10);
    uint64_t count = strtoull(argv[4], NULL, 10);
    lsm_options o;
    lsm_options_init(&o);
    o.create_if_missing = 0;
    lsm_db *db;
    int r = lsm_open(argv[1], &o, &db);
    lsm_batch *b = lsm_batch_new();
    static char chunk[65536];
    memset(chunk, 0xab, sizeof chunk);
    char k[17];
    for (uint64_t i = 0; r == 0 && i < count; i++) {
        k[0] = 'C';
        be64(k + 1, ino);
        be64(k + 9, from + i);
        r = lsm_batch_put(b, k, 17, chunk, sizeof chunk);
    }
    if (r == 0 && argc == 5) {
        char v[8];
        k[0] = 'P';
        be64(k + 1, ino);
        be64(v, from);
        r = lsm_batch_put(b, k, 9, v, 8);
    }
    if (r == 0)
        r = lsm_write(db, NULL, b);
    lsm_batch_free(b);
    if (r) {
        fprintf(stderr, "plantchunks: %s\n", lsm_last_error());
        if (db)
            lsm_close(db);
        return 1;
    }
    return lsm_close(db) ? 1 : 0;
}
