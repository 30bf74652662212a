/* test_timestamp.c - unit tests of timestamp.h (step10_timer on).
 *
 * Built by tests/Makefile (UNIT_MODULES "timestamp:timestamp.c") against
 * every step that has timestamp.c. By hand:
 *
 *   cc -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -g \
 *      -fsanitize=address,undefined -Istep10_timer \
 *      tests/unit/test_timestamp.c tests/unit/unit_main.c \
 *      step10_timer/timestamp.c $(pkg-config --cflags --libs check) \
 *      -o /tmp/ts-10 && /tmp/ts-10
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <time.h>

#include "timestamp.h"
#include "unit.h"

START_TEST(is_monotonic_milliseconds)
{
    /* The same clock as CLOCK_MONOTONIC, in milliseconds (not seconds,
     * not microseconds, not the wall clock). */
    uint64_t before = mono_ms();
    uint64_t t = timestamp_now_ms();
    uint64_t after = mono_ms();
    ck_assert_uint_le(before, t);
    ck_assert_uint_le(t, after + 1);
}
END_TEST

START_TEST(never_goes_back)
{
    uint64_t last = timestamp_now_ms();
    for (int i = 0; i < 200000; i++) {
        uint64_t t = timestamp_now_ms();
        ck_assert_uint_ge(t, last);
        last = t;
    }
}
END_TEST

START_TEST(measures_a_sleep)
{
    struct timespec ts = { 0, 150 * 1000000L };
    uint64_t t0 = timestamp_now_ms();
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
    uint64_t dt = timestamp_now_ms() - t0;
    ck_assert_uint_ge(dt, 149);
    ck_assert_uint_lt(dt, 2000);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("timestamp");
    TCase *tc = tcase_create("clock");
    tcase_add_test(tc, is_monotonic_milliseconds);
    tcase_add_test(tc, never_goes_back);
    tcase_add_test(tc, measures_a_sleep);
    suite_add_tcase(s, tc);
    return s;
}
