/*
 * smoke_corrupt.c — damage a closed lsmfs store on purpose, for tests/fs/smoke_daemon.sh:
 * `smoke_corrupt STORE` adds an orphan chunk (inode 999999999, which no entry names), an xattr
 * of that missing inode, and an open-unlinked record left as if by a crash, straight through
 * liblsm (the key layout is fs/SCHEMA.md).  The filesystem check must report all three and
 * --repair must remove them.
 */
#include <stdio.h>
#include <string.h>

#include "lsm.h"

static void le(char *p, unsigned long long v, int n)
{
    for (int i = 0; i < n; i++) {
        p[i] = (char)(v & 0xff);
        v >>= 8;
    }
}

static void be64(char *p, unsigned long long v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (char)(v & 0xff);
        v >>= 8;
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: smoke_corrupt STORE\n");
        return 2;
    }
    lsm_options o;
    lsm_options_init(&o);
    o.create_if_missing = 0;
    lsm_db *db;
    int r = lsm_open(argv[1], &o, &db);
    if (r) {
        fprintf(stderr, "smoke_corrupt: %s: %s\n", argv[1], lsm_last_error());
        return 1;
    }
    char chunk[17], xattr[9 + 6], orphan[9];
    chunk[0] = 'C';
    be64(chunk + 1, 999999999ULL);
    be64(chunk + 9, 0);
    xattr[0] = 'X';
    be64(xattr + 1, 999999999ULL);
    memcpy(xattr + 9, "user.x", 6);
    orphan[0] = 'O';
    be64(orphan + 1, 999999998ULL);
    /* a full record (version 1, kind 0, 90-byte header) of a 0-byte regular file */
    char rec[90];
    memset(rec, 0, sizeof rec);
    rec[0] = 1;
    le(rec + 2, 0100644, 4);       /* mode */
    le(rec + 6, 999999998ULL, 8);  /* inode number */
    r = lsm_put(db, NULL, chunk, sizeof chunk, "junk", 4);
    if (!r)
        r = lsm_put(db, NULL, xattr, sizeof xattr, "v", 1);
    if (!r)
        r = lsm_put(db, NULL, orphan, sizeof orphan, rec, sizeof rec);
    int c = lsm_close(db);
    if (r || c) {
        fprintf(stderr, "smoke_corrupt: write failed: %s\n", lsm_last_error());
        return 1;
    }
    return 0;
}
