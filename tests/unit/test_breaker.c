/* test_breaker.c — the per-key circuit breaker: open after a failure, one half-open try, closed by
 * success. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/breaker.h"
#include "base/config.h"

static void test_a_failed_key_is_open_with_its_reason_then_lets_one_caller_try(void **state)
{
        (void)state;
        kp_breaker_t *b = kp_breaker_new(200);
        char why[64];
        int64_t at = 0;
        assert_non_null(b);
        assert_int_equal(kp_breaker_check(b, "k1:9092", why, sizeof(why), &at), 0);
        int64_t before = (int64_t)time(NULL) * 1000;
        kp_breaker_report(b, "k1:9092", "connection refused");
        /* open: answered at once, with the reason and when it failed */
        assert_int_equal(kp_breaker_check(b, "k1:9092", why, sizeof(why), &at), 1);
        assert_string_equal(why, "connection refused");
        assert_true(at >= before - 1000 && at <= before + 2000);
        /* other keys are not affected */
        assert_int_equal(kp_breaker_check(b, "k2:9092", why, sizeof(why), &at), 0);
        usleep(250 * 1000);
        /* half-open: exactly one caller tries, the others still see it open */
        assert_int_equal(kp_breaker_check(b, "k1:9092", why, sizeof(why), &at), 0);
        assert_int_equal(kp_breaker_check(b, "k1:9092", why, sizeof(why), &at), 1);
        /* the try failed again: open for another period */
        kp_breaker_report(b, "k1:9092", "timed out");
        assert_int_equal(kp_breaker_check(b, "k1:9092", why, sizeof(why), &at), 1);
        assert_string_equal(why, "timed out");
        usleep(250 * 1000);
        assert_int_equal(kp_breaker_check(b, "k1:9092", why, sizeof(why), &at), 0);
        /* the try worked: closed for everyone */
        kp_breaker_report(b, "k1:9092", NULL);
        assert_int_equal(kp_breaker_check(b, "k1:9092", why, sizeof(why), &at), 0);
        assert_int_equal(kp_breaker_check(b, "k1:9092", why, sizeof(why), &at), 0);
        kp_breaker_destroy(b);
}

static void test_more_failing_keys_than_slots_reuse_the_least_recently_used(void **state)
{
        (void)state;
        kp_breaker_t *b = kp_breaker_new(60000);
        char key[32], why[64];
        int64_t at;
        for (int i = 0; i < KP_BREAKER_KEYS + 10; i++) {
                snprintf(key, sizeof(key), "h%d:1", i);
                kp_breaker_report(b, key, "down");
        }
        /* the newest failures are remembered, the oldest were overwritten */
        int open_new = 0, open_old = 0;
        for (int i = 0; i < KP_BREAKER_KEYS + 10; i++) {
                snprintf(key, sizeof(key), "h%d:1", i);
                int o = kp_breaker_check(b, key, why, sizeof(why), &at);
                if (i >= 10)
                        open_new += o;
                else
                        open_old += o;
        }
        assert_int_equal(open_new, KP_BREAKER_KEYS);
        assert_int_equal(open_old, 0);
        /* a NULL breaker never blocks */
        assert_int_equal(kp_breaker_check(NULL, "x", why, sizeof(why), &at), 0);
        kp_breaker_report(NULL, "x", "ignored");
        kp_breaker_destroy(b);
}

typedef struct hammer {
        kp_breaker_t *b;
        int tries; /* times this thread was let through */
} hammer_t;

static void *hammer_main(void *arg)
{
        hammer_t *h = arg;
        char why[64];
        int64_t at;
        for (int i = 0; i < 2000; i++) {
                if (!kp_breaker_check(h->b, "shared:1", why, sizeof(why), &at)) {
                        h->tries++;
                        kp_breaker_report(h->b, "shared:1", "still down");
                }
        }
        return NULL;
}

/* Many callers at once on a key that stays down: while it is open nobody is let through
 * (the open period outlasts the run), so the failure is tried once, not once per caller. */
static void test_concurrent_callers_share_one_try_of_a_dead_key(void **state)
{
        (void)state;
        kp_breaker_t *b = kp_breaker_new(60000);
        kp_breaker_report(b, "shared:1", "down");
        hammer_t h[4];
        pthread_t t[4];
        for (int i = 0; i < 4; i++) {
                h[i] = (hammer_t){b, 0};
                assert_int_equal(pthread_create(&t[i], NULL, hammer_main, &h[i]), 0);
        }
        int tries = 0;
        for (int i = 0; i < 4; i++) {
                pthread_join(t[i], NULL);
                tries += h[i].tries;
        }
        assert_int_equal(tries, 0);
        kp_breaker_destroy(b);
}

/* A bootstrap list of many brokers is one long key: it is remembered whole (a key of 512
 * bytes or more was never remembered, so its callers waited out every timeout), and two
 * keys differing only past 512 bytes are two keys. */
static void test_a_key_of_any_length_is_remembered(void **state)
{
        (void)state;
        kp_breaker_t *b = kp_breaker_new(60000);
        char why[64];
        int64_t at;
        size_t n = 4000;
        char *k1 = malloc(n + 2), *k2 = malloc(n + 2);
        memset(k1, 'b', n);
        memcpy(k2, k1, n);
        k1[n] = '1';
        k2[n] = '2';
        k1[n + 1] = k2[n + 1] = '\0';
        assert_int_equal(kp_breaker_check(b, k1, why, sizeof(why), &at), 0);
        kp_breaker_report(b, k1, "all brokers down");
        assert_int_equal(kp_breaker_check(b, k1, why, sizeof(why), &at), 1);
        assert_string_equal(why, "all brokers down");
        assert_int_equal(kp_breaker_check(b, k2, why, sizeof(why), &at), 0);
        free(k1);
        free(k2);
        kp_breaker_destroy(b);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(
                        test_a_failed_key_is_open_with_its_reason_then_lets_one_caller_try),
                cmocka_unit_test(test_more_failing_keys_than_slots_reuse_the_least_recently_used),
                cmocka_unit_test(test_concurrent_callers_share_one_try_of_a_dead_key),
                cmocka_unit_test(test_a_key_of_any_length_is_remembered),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
