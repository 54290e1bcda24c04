/* test_status.c — error messages: lsm_error formats and returns its code, lsm_error_prefix
 * prepends context, messages are per thread, and the empty iterator reports its status. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>

#include "iterator.h"
#include "status.h"

Test(status, error_and_prefix)
{
    lsm_error_clear();
    cr_assert_str_eq(lsm_last_error(), "");
    cr_assert_eq(lsm_error(LSM_ECORRUPT, "block at offset %d: %s", 4096, "checksum mismatch"),
                 LSM_ECORRUPT);
    cr_assert_str_eq(lsm_last_error(), "block at offset 4096: checksum mismatch");
    cr_assert_eq(lsm_error_prefix(LSM_ECORRUPT, "%s", "/d/000012.sst"), LSM_ECORRUPT);
    cr_assert_str_eq(lsm_last_error(), "/d/000012.sst: block at offset 4096: checksum mismatch");
    lsm_error_clear();
    lsm_error_prefix(LSM_EIO, "only");
    cr_assert_str_eq(lsm_last_error(), "only");
}

Test(status, own_message_as_argument)
{
    lsm_error(LSM_EIO, "inner %d", 1);
    lsm_error(LSM_EIO, "outer: %s", lsm_last_error());
    cr_assert_str_eq(lsm_last_error(), "outer: inner 1");
    lsm_error_prefix(LSM_EIO, "again %s", lsm_last_error());
    cr_assert_str_eq(lsm_last_error(), "again outer: inner 1: outer: inner 1");
}

Test(status, long_messages_are_truncated_not_overflowed)
{
    char big[3000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    lsm_error(LSM_EIO, "%s", big);
    size_t n = strlen(lsm_last_error());
    cr_assert_gt(n, 500);
    cr_assert_lt(n, sizeof big);
    lsm_error_prefix(LSM_EIO, "%s", big);
    cr_assert_lt(strlen(lsm_last_error()), sizeof big);
    lsm_error(LSM_EIO, "short");
    lsm_error_prefix(LSM_EIO, "%s", big);
    cr_assert_eq(lsm_last_error()[0], 'x');
}

static void *other_thread(void *arg)
{
    lsm_error(LSM_EIO, "from the other thread");
    return (void *)(strcmp(lsm_last_error(), "from the other thread") == 0 ? arg : NULL);
}

Test(status, messages_are_per_thread)
{
    lsm_error(LSM_ECORRUPT, "mine");
    pthread_t t;
    void *ok = NULL;
    cr_assert_eq(pthread_create(&t, NULL, other_thread, (void *)1), 0);
    pthread_join(t, &ok);
    cr_assert_not_null(ok);
    cr_assert_str_eq(lsm_last_error(), "mine");
}

Test(iterator, empty)
{
    iter *it = iter_new_empty(0, NULL);
    iter_seek_first(it);
    cr_assert_not(iter_valid(it));
    iter_seek(it, (const uint8_t *)"abcdefgh", 8);
    cr_assert_not(iter_valid(it));
    cr_assert_eq(iter_status(it), 0);
    iter_destroy(it);
    it = iter_new_empty(LSM_ECORRUPT, "x.sst: bad");
    iter_seek_last(it);
    cr_assert_not(iter_valid(it));
    cr_assert_eq(iter_status(it), LSM_ECORRUPT);
    cr_assert_str_eq(it->errmsg, "x.sst: bad");
    iter_destroy(it);
}
