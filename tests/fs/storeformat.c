/*
 * storeformat — read or set the format version of an unmounted lsmfs store ('M' "format",
 * fs/SCHEMA.md), for tests of what a daemon does with a format it does or does not know.
 *
 *   storeformat STORE        print the format version
 *   storeformat STORE N      set it to N
 *
 * Exit 0 on success, 1 on a store error (message on stderr), 2 on usage.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "lsm.h"

static const char key[] = "Mformat";

int main(int argc, char **argv)
{
    if (argc != 2 && argc != 3) {
        fprintf(stderr, "usage: storeformat STORE [N]\n");
        return 2;
    }
    lsm_options opt;
    lsm_options_init(&opt);
    opt.create_if_missing = 0;
    lsm_db *db;
    int r = lsm_open(argv[1], &opt, &db);
    if (r) {
        fprintf(stderr, "storeformat: %s: %s\n", argv[1], lsm_last_error());
        return 1;
    }
    if (argc == 3) {
        uint64_t n = strtoull(argv[2], NULL, 10);
        char v[8];
        for (int i = 7; i >= 0; i--, n >>= 8)
            v[i] = (char)(n & 0xff);
        lsm_write_options wo;
        lsm_write_options_init(&wo);
        wo.sync = 1;
        r = lsm_put(db, &wo, key, sizeof key - 1, v, sizeof v);
    } else {
        void *v = NULL;
        size_t vl = 0;
        r = lsm_get(db, NULL, key, sizeof key - 1, &v, &vl);
        if (r == 0 && vl == 8) {
            uint64_t n = 0;
            for (int i = 0; i < 8; i++)
                n = n << 8 | ((const unsigned char *)v)[i];
            printf("%llu\n", (unsigned long long)n);
        } else if (r == 0) {
            r = -1;
        }
        lsm_free(v);
    }
    if (r)
        fprintf(stderr, "storeformat: %s: %s\n", argv[1], r == -1 ? "bad format value" : lsm_last_error());
    int c = lsm_close(db);
    return r || c ? 1 : 0;
}
