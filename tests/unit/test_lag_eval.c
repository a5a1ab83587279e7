/* test_lag_eval.c — Burrow-style judgement of a partition from a window of positions and high
 * watermarks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/config.h"
#include "runtime/lag_eval.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_a_partition_caught_up_once_in_the_window_is_ok(void **state)
{
        (void)state;
        /* lag 5, 0, 7: at zero once, whatever came after */
        int64_t pos[] = {10, 20, 25}, hw[] = {15, 20, 32};
        assert_int_equal(kp_lag_eval(pos, hw, N(pos)), KP_LAG_OK);
        /* steady reading with a lag that goes up and down */
        int64_t pos2[] = {100, 200, 300, 400}, hw2[] = {150, 240, 360, 430};
        assert_int_equal(kp_lag_eval(pos2, hw2, N(pos2)), KP_LAG_OK);
        /* catching up: the lag shrinks */
        int64_t pos3[] = {0, 100, 250}, hw3[] = {300, 320, 330};
        assert_int_equal(kp_lag_eval(pos3, hw3, N(pos3)), KP_LAG_OK);
}

static void test_no_progress_with_messages_waiting_is_stalled(void **state)
{
        (void)state;
        int64_t pos[] = {40, 40, 40, 40}, hw[] = {50, 60, 60, 75};
        assert_int_equal(kp_lag_eval(pos, hw, N(pos)), KP_LAG_STALLED);
        /* stalled with a fixed lag (nothing new arrives) is still stalled */
        int64_t hw2[] = {50, 50, 50, 50};
        assert_int_equal(kp_lag_eval(pos, hw2, N(pos)), KP_LAG_STALLED);
        /* no progress but nothing to read is fine */
        int64_t hw3[] = {40, 40, 40, 40};
        assert_int_equal(kp_lag_eval(pos, hw3, N(pos)), KP_LAG_OK);
}

static void test_reading_slower_than_the_writes_is_falling_behind(void **state)
{
        (void)state;
        int64_t pos[] = {0, 10, 20, 30}, hw[] = {5, 20, 40, 60};
        assert_int_equal(kp_lag_eval(pos, hw, N(pos)), KP_LAG_FALLING_BEHIND);
        /* equal lag between two samples still counts as not shrinking */
        int64_t hw2[] = {5, 20, 30, 60};
        assert_int_equal(kp_lag_eval(pos, hw2, N(pos)), KP_LAG_FALLING_BEHIND);
        /* one shrink in the window: not falling behind */
        int64_t hw3[] = {5, 20, 25, 60};
        assert_int_equal(kp_lag_eval(pos, hw3, N(pos)), KP_LAG_OK);
        /* a constant lag while reading keeps pace: ok */
        int64_t hw4[] = {5, 15, 25, 35};
        assert_int_equal(kp_lag_eval(pos, hw4, N(pos)), KP_LAG_OK);
}

static void test_too_few_or_unknown_samples_are_unknown(void **state)
{
        (void)state;
        int64_t pos[] = {1, 1, 1}, hw[] = {9, 9, 9};
        assert_int_equal(kp_lag_eval(pos, hw, KP_LAG_MIN_SAMPLES - 1), KP_LAG_UNKNOWN);
        assert_int_equal(kp_lag_eval(pos, hw, 0), KP_LAG_UNKNOWN);
        int64_t hw2[] = {9, -1, 9};
        assert_int_equal(kp_lag_eval(pos, hw2, N(pos)), KP_LAG_UNKNOWN);
        int64_t pos2[] = {-1, 1, 1};
        assert_int_equal(kp_lag_eval(pos2, hw, N(pos2)), KP_LAG_UNKNOWN);
        assert_string_equal(kp_lag_state_name(KP_LAG_STALLED), "stalled");
        assert_string_equal(kp_lag_state_name(KP_LAG_FALLING_BEHIND), "falling_behind");
        assert_string_equal(kp_lag_state_name(KP_LAG_OK), "ok");
        assert_string_equal(kp_lag_state_name(KP_LAG_UNKNOWN), "unknown");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_a_partition_caught_up_once_in_the_window_is_ok),
                cmocka_unit_test(test_no_progress_with_messages_waiting_is_stalled),
                cmocka_unit_test(test_reading_slower_than_the_writes_is_falling_behind),
                cmocka_unit_test(test_too_few_or_unknown_samples_are_unknown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
