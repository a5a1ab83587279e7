/* test_ticker.c — base/ticker: a thread woken by its interval, by a kick, and stopped on request.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/ticker.h"
#include "base/util.h"

/* A ticker thread that counts its wake-ups; each wait is @p interval_ms. */
typedef struct counter {
        kp_ticker_t ticker;
        int64_t interval_ms;
        int wakes; /* atomic */
        int returned;
} counter_t;

static void *count_wakes(void *arg)
{
        counter_t *c = arg;
        while (!kp_ticker_wait(&c->ticker, c->interval_ms))
                __atomic_fetch_add(&c->wakes, 1, __ATOMIC_SEQ_CST);
        c->returned = 1;
        return NULL;
}

/* Waits until @p c woke @p n times (polls, 20 s at most). */
static void wait_wakes(counter_t *c, int n)
{
        for (int i = 0; i < 20000; i++) {
                if (__atomic_load_n(&c->wakes, __ATOMIC_SEQ_CST) >= n)
                        return;
                usleep(1000);
        }
        fail_msg("the ticker did not wake %d times", n);
}

static void test_the_interval_wakes_the_thread_again_and_again(void **state)
{
        (void)state;
        counter_t c = {.interval_ms = 20};
        int64_t t0 = kp_time_mono_ms();
        assert_int_equal(kp_ticker_start(&c.ticker, count_wakes, &c), 0);
        wait_wakes(&c, 3);
        /* three intervals cannot pass in less than three intervals */
        assert_true(kp_time_mono_ms() - t0 >= 3 * c.interval_ms - 1);
        kp_ticker_stop(&c.ticker);
        assert_true(c.returned);
}

static void test_a_kick_wakes_the_thread_long_before_its_interval(void **state)
{
        (void)state;
        counter_t c = {.interval_ms = 60 * 60 * 1000}; /* an hour: only a kick wakes it */
        assert_int_equal(kp_ticker_start(&c.ticker, count_wakes, &c), 0);
        kp_ticker_kick(&c.ticker);
        wait_wakes(&c, 1);
        kp_ticker_kick(&c.ticker);
        wait_wakes(&c, 2);
        /* a stop ends the hour's wait at once, and the thread returns */
        int64_t t0 = kp_time_mono_ms();
        kp_ticker_stop(&c.ticker);
        assert_true(c.returned);
        assert_true(kp_time_mono_ms() - t0 < 10000);
}

static void *nothing(void *arg)
{
        (void)arg;
        return NULL;
}

/* A kick given while nobody waits (the thread busy) is not lost: the next wait returns at
 * once, and only that one. The waits run on the test's thread. */
static void test_a_kick_is_remembered_until_the_next_wait(void **state)
{
        (void)state;
        kp_ticker_t t;
        assert_int_equal(kp_ticker_start(&t, nothing, NULL), 0);
        kp_ticker_kick(&t);
        int64_t t0 = kp_time_mono_ms();
        assert_int_equal(kp_ticker_wait(&t, 60 * 60 * 1000), 0);
        assert_true(kp_time_mono_ms() - t0 < 10000);
        t0 = kp_time_mono_ms();
        assert_int_equal(kp_ticker_wait(&t, 50), 0);
        assert_true(kp_time_mono_ms() - t0 >= 49); /* ms clock: the start was truncated */
        kp_ticker_stop(&t);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_the_interval_wakes_the_thread_again_and_again),
                cmocka_unit_test(test_a_kick_wakes_the_thread_long_before_its_interval),
                cmocka_unit_test(test_a_kick_is_remembered_until_the_next_wait),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
