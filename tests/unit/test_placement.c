/* test_placement.c — tasks over instances: balanced to one task, fewest moves, deterministic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "planner/placement.h"

static void counts(const int32_t *owners, size_t n, size_t k, size_t *c)
{
        memset(c, 0, k * sizeof(*c));
        for (size_t t = 0; t < n; t++) {
                assert_true(owners[t] >= 0 && (size_t)owners[t] < k);
                c[owners[t]]++;
        }
}

static void assert_balanced(const int32_t *owners, size_t n, size_t k)
{
        size_t c[64], lo = SIZE_MAX, hi = 0;
        counts(owners, n, k, c);
        for (size_t i = 0; i < k; i++) {
                lo = c[i] < lo ? c[i] : lo;
                hi = c[i] > hi ? c[i] : hi;
        }
        assert_true(hi - lo <= 1);
}

/* The fewest moves of any balanced placement, by brute force over which instances hold the
 * larger share (k <= 12). */
static long min_moves(const int32_t *owners, size_t n, size_t k)
{
        size_t c[64] = {0}, unowned = 0, base = n / k, extra = n % k;
        long best = -1;
        for (size_t t = 0; t < n; t++) {
                if (owners[t] >= 0 && (size_t)owners[t] < k)
                        c[owners[t]]++;
                else
                        unowned++;
        }
        for (unsigned mask = 0; mask < (1u << k); mask++) {
                if ((size_t)__builtin_popcount(mask) != extra)
                        continue;
                long m = (long)unowned;
                for (size_t i = 0; i < k; i++) {
                        size_t q = base + ((mask >> i) & 1);
                        m += c[i] > q ? (long)(c[i] - q) : 0;
                }
                best = best < 0 || m < best ? m : best;
        }
        return best;
}

static void test_three_instances_share_twelve_tasks_four_each(void **state)
{
        (void)state;
        int32_t o[12];
        for (int i = 0; i < 12; i++)
                o[i] = -1;
        assert_int_equal(kp_placement_balance(o, 12, 3), 12);
        assert_balanced(o, 12, 3);
        /* a second call with nothing changed moves nothing */
        assert_int_equal(kp_placement_balance(o, 12, 3), 0);
}

static void
test_a_dead_instance_s_tasks_go_to_the_survivors_and_come_back_to_fewer_than_half(void **state)
{
        (void)state;
        int32_t o[12], before[12];
        for (int i = 0; i < 12; i++)
                o[i] = i % 3;
        memcpy(before, o, sizeof(o));
        /* instance 2 dies: the caller marks its tasks unowned and the survivors stay 0 and 1 */
        for (int i = 0; i < 12; i++)
                if (o[i] == 2)
                        o[i] = -1;
        assert_int_equal(kp_placement_balance(o, 12, 2), 4);
        assert_balanced(o, 12, 2);
        for (int i = 0; i < 12; i++)
                if (before[i] != 2)
                        assert_int_equal(o[i], before[i]); /* the survivors' own tasks stay */
        /* it comes back as instance 2: 4 of 12 move to it */
        assert_int_equal(kp_placement_balance(o, 12, 3), 4);
        assert_balanced(o, 12, 3);
}

static void test_tasks_of_a_gone_instance_index_are_unowned(void **state)
{
        (void)state;
        int32_t o[] = {0, 1, 7, 7, 1, 0};
        assert_int_equal(kp_placement_balance(o, 6, 2), 2);
        assert_balanced(o, 6, 2);
        int32_t none[] = {-1, -1};
        assert_int_equal(kp_placement_balance(none, 2, 0), -1);
        assert_int_equal(none[0], -1); /* nothing changed */
        assert_int_equal(kp_placement_balance(NULL, 0, 0), 0);
}

/* Property: for random placements, instance counts and task counts, the answer is balanced,
 * moves exactly the brute-force minimum, keeps every task of an instance at or under its
 * share, and is the same when computed again from the same input. */
static void test_random_placements_are_balanced_with_the_fewest_moves(void **state)
{
        (void)state;
        srand(13);
        for (int round = 0; round < 3000; round++) {
                size_t k = 1 + (size_t)(rand() % 8), n = (size_t)(rand() % 60);
                int32_t o[60], again[60], before[60];
                for (size_t t = 0; t < n; t++)
                        o[t] = (int32_t)(rand() % (int)(k + 3)) - 1; /* -1, valid, or gone */
                memcpy(before, o, sizeof(o));
                memcpy(again, o, sizeof(o));
                long want = min_moves(o, n, k);
                long moved = kp_placement_balance(o, n, k);
                assert_int_equal(moved, want);
                if (n)
                        assert_balanced(o, n, k);
                long changed = 0;
                for (size_t t = 0; t < n; t++)
                        changed += o[t] != before[t];
                assert_int_equal(changed, moved);
                assert_int_equal(kp_placement_balance(again, n, k), moved);
                assert_memory_equal(again, o, n * sizeof(*o));
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_three_instances_share_twelve_tasks_four_each),
                cmocka_unit_test(
                        test_a_dead_instance_s_tasks_go_to_the_survivors_and_come_back_to_fewer_than_half),
                cmocka_unit_test(test_tasks_of_a_gone_instance_index_are_unowned),
                cmocka_unit_test(test_random_placements_are_balanced_with_the_fewest_moves),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
