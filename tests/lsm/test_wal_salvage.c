/* test_wal_salvage.c — replay with wal_salvage stops at the first WAL whose tail was dropped:
 * a later WAL holds newer writes, and keeping them while older ones are lost would give a state
 * that never existed. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "filename.h"
#include "lsm.h"
#include "testutil.h"
#include "wal.h"
#include "write_batch.h"

/* Write a WAL numbered num in store holding one record per key (a put of key -> "v"), with
 * sequence numbers from seq. */
static void write_wal(const char *store, uint64_t num, const char **keys, int n, uint64_t seq)
{
    char *path = wal_file_name(store, num);
    wal_writer *w;
    cr_assert_eq(wal_writer_open(lsm_env_posix(), path, &w), 0, "%s", lsm_last_error());
    for (int i = 0; i < n; i++) {
        lsm_batch b;
        cr_assert_eq(wb_init(&b), 0);
        cr_assert_eq(lsm_batch_put(&b, keys[i], strlen(keys[i]), "v", 1), 0);
        wb_set_seq(&b, seq + (uint64_t)i);
        cr_assert_eq(wal_append(w, b.rep.data, b.rep.len), 0);
        wb_destroy(&b);
    }
    cr_assert_eq(wal_sync(w), 0);
    cr_assert_eq(wal_writer_close(w), 0);
    free(path);
}

static int present(lsm_db *db, const char *k)
{
    void *v;
    size_t n;
    int rc = lsm_get(db, NULL, k, strlen(k), &v, &n);
    cr_assert(rc == 0 || rc == LSM_ENOTFOUND, "%s", lsm_last_error());
    if (rc == 0) lsm_free(v);
    return rc == 0;
}

Test(wal_salvage, stops_at_first_damaged_wal)
{
    char *dir = tu_tmpdir("walsalv");
    char *store = tu_path(dir, "s");
    lsm_options o;
    lsm_options_init(&o);
    lsm_db *db;
    cr_assert_eq(lsm_open(store, &o, &db), 0, "%s", lsm_last_error());
    cr_assert_eq(lsm_put(db, NULL, "old", 3, "v", 1), 0);
    cr_assert_eq(lsm_close(db), 0);
    /* Two WALs newer than anything in the store, as a crash leaves them. */
    const char *k1[] = {"a", "b", "c"}, *k2[] = {"d"};
    write_wal(store, 1000, k1, 3, 100);
    write_wal(store, 1001, k2, 1, 103);
    /* Damage the payload of b's record (the second) in the first WAL. */
    char *p1 = wal_file_name(store, 1000);
    int fd = open(p1, O_RDWR);
    cr_assert(fd >= 0);
    off_t rec = 0;
    {
        size_t len;
        uint8_t *img = tu_read_file(p1, &len);
        cr_assert(img);
        rec = (off_t)len / 3; /* equal-sized records */
        uint8_t byte = img[rec + WAL_HEADER_SIZE + 2] ^ 0x55;
        cr_assert_eq(pwrite(fd, &byte, 1, rec + WAL_HEADER_SIZE + 2), 1);
        free(img);
    }
    close(fd);
    /* Without salvage: an error naming the WAL. */
    cr_assert_eq(lsm_open(store, &o, &db), LSM_ECORRUPT);
    cr_assert(strstr(lsm_last_error(), p1), "%s", lsm_last_error());
    o.wal_salvage = 1;
    cr_assert_eq(lsm_open(store, &o, &db), 0, "%s", lsm_last_error());
    cr_assert(present(db, "old"));
    cr_assert(present(db, "a"), "the prefix before the damage is kept");
    cr_assert(!present(db, "b"));
    cr_assert(!present(db, "c"));
    cr_assert(!present(db, "d"), "a later WAL must not be replayed after a dropped tail");
    cr_assert_eq(lsm_close(db), 0);
    o.wal_salvage = 0;
    cr_assert_eq(lsm_open(store, &o, &db), 0, "%s", lsm_last_error());
    cr_assert(present(db, "a") && !present(db, "d"));
    cr_assert_eq(lsm_close(db), 0);
    free(p1);
    tu_rmrf(dir);
    free(dir);
    free(store);
}
