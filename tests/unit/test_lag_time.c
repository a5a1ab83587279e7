/* test_lag_time.c — the age of the oldest unread message, from high watermark samples. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "runtime/lag_time.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* 10 messages a second, sampled every second from t = 1000 s: hw = 10 * (t - 1000 s) */
static int64_t t10[] = {1000000, 1001000, 1002000, 1003000, 1004000, 1005000};
static int64_t hw10[] = {0, 10, 20, 30, 40, 50};

static void test_a_reader_five_seconds_behind_a_steady_stream_is_five_seconds_late(void **state)
{
        (void)state;
        int lb = -1;
        /* offset 9 was the 10th message, written just before t = 1001 s */
        int64_t age = kp_lag_time_ms(t10, hw10, N(t10), 9, 1006000, &lb);
        assert_int_equal(lb, 0);
        assert_true(age >= 5000 && age <= 5100);
        /* half-way between two samples: offset 24 written at about 1002.5 s */
        age = kp_lag_time_ms(t10, hw10, N(t10), 24, 1005000, &lb);
        assert_true(age >= 2400 && age <= 2600);
}

static void test_a_caught_up_reader_is_zero_seconds_late(void **state)
{
        (void)state;
        int lb = -1;
        assert_int_equal(kp_lag_time_ms(t10, hw10, N(t10), 50, 1009000, &lb), 0);
        assert_int_equal(lb, 0);
        assert_int_equal(kp_lag_time_ms(t10, hw10, N(t10), 70, 1009000, &lb), 0);
}

static void test_a_reader_behind_the_whole_window_gets_a_lower_bound(void **state)
{
        (void)state;
        int64_t t[] = {2000, 3000, 4000}, hw[] = {100, 110, 120};
        int lb = 0;
        int64_t age = kp_lag_time_ms(t, hw, N(t), 40, 9000, &lb);
        assert_int_equal(lb, 1);
        assert_int_equal(age, 7000); /* at least since the first sample */
}

static void test_unknown_samples_are_skipped_and_nothing_known_is_unknown(void **state)
{
        (void)state;
        int lb = 0;
        int64_t t[] = {1000, 2000, 3000, 4000}, hw[] = {-1, 10, -1, 30};
        /* offset 19 written when hw passed 20: half-way between 2 s and 4 s */
        int64_t age = kp_lag_time_ms(t, hw, N(t), 19, 5000, &lb);
        assert_true(age >= 1900 && age <= 2100);
        int64_t none[] = {-1, -1, -1, -1};
        assert_int_equal(kp_lag_time_ms(t, none, N(t), 5, 5000, &lb), -1);
        assert_int_equal(kp_lag_time_ms(t, hw, 0, 5, 5000, &lb), -1);
        assert_int_equal(kp_lag_time_ms(t, hw, N(t), -1, 5000, &lb), -1);
}

static void test_a_high_watermark_that_went_down_restarts_the_window(void **state)
{
        (void)state;
        /* topic re-created at 3 s: samples before the drop belong to another topic */
        int64_t t[] = {1000, 2000, 3000, 4000, 5000}, hw[] = {500, 600, 0, 10, 20};
        int lb = 0;
        int64_t age = kp_lag_time_ms(t, hw, N(t), 5, 6000, &lb);
        assert_int_equal(lb, 0);
        assert_true(age >= 2300 && age <= 2500); /* offset 5 written at about 3.6 s */
        /* an offset below the new window's start is older than it, not matched to old samples */
        int64_t hw2[] = {500, 600, 100, 110, 120};
        age = kp_lag_time_ms(t, hw2, N(t), 50, 6000, &lb);
        assert_int_equal(lb, 1);
        assert_int_equal(age, 3000);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(
                        test_a_reader_five_seconds_behind_a_steady_stream_is_five_seconds_late),
                cmocka_unit_test(test_a_caught_up_reader_is_zero_seconds_late),
                cmocka_unit_test(test_a_reader_behind_the_whole_window_gets_a_lower_bound),
                cmocka_unit_test(test_unknown_samples_are_skipped_and_nothing_known_is_unknown),
                cmocka_unit_test(test_a_high_watermark_that_went_down_restarts_the_window),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
