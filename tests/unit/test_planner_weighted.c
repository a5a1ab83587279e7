/* test_planner_weighted.c — the weighted strategy: load within 5% of the bound, counts without
 * weights, sticky re-plans. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/config.h"
#include "planner/planner.h"
#include "planner/planner_int.h"

#include "planner_fixtures.h"

static double weighted_bound(const double *w, size_t P, int32_t T)
{
        double total = 0, heaviest = 0;
        for (size_t i = 0; i < P; i++) {
                total += w[i];
                heaviest = w[i] > heaviest ? w[i] : heaviest;
        }
        return fmax(heaviest, total / T);
}

static void fill_weights(double *w, size_t P, int kind)
{
        for (size_t i = 0; i < P; i++) {
                double u = (double)(rnd() % 1000000 + 1) / 1000001.0;
                if (kind == 0)
                        w[i] = u * 100; /* uniform */
                else if (kind == 1)
                        w[i] = -log(u) * 50; /* exponential */
                else
                        w[i] = 1000.0 / (double)(i % 97 + 1); /* Zipf-like */
        }
}

/* weighted: busiest task within 5% of max(heaviest, total/T) on ordinary inputs. */
static void test_weighted_within_5_percent_of_bound(void **state)
{
        (void)state;
        rng_state = 5;
        double worst = 0;
        for (int iter = 0; iter < 600; iter++) {
                int32_t T = rnd_in(1, 100);
                kp_plan_topic_t topics[2] = {{"a", "orders", rnd_in(4 * T, 4 * T + 200)},
                                             {"b", "clicks", rnd_in(1, 300)}};
                size_t P = total_partitions(topics, 2);
                double *w = malloc(P * sizeof(*w));
                fill_weights(w, P, iter % 3);
                kp_plan_t *plan = plan_of(topics, 2, T, KP_STRATEGY_WEIGHTED, w, NULL);
                check_invariants(plan, topics, 2, T, NULL);
                double lb = weighted_bound(w, P, T);
                double ratio = plan->analysis.max_load / lb;
                worst = ratio > worst ? ratio : worst;
                assert_true(ratio <= 1.05);
                assert_true(fabs(plan->analysis.skew -
                                 plan->analysis.max_load / plan->analysis.mean_load) < 1e-9);
                kp_plan_destroy(plan);
                free(w);
        }
        print_message("weighted: worst busiest/bound %.4f\n", worst);
}

/* Without weights, weighted balances counts like balanced does. */
static void test_weighted_without_weights_balances_counts(void **state)
{
        (void)state;
        kp_plan_t *plan = plan_of(seed3, 3, 20, KP_STRATEGY_WEIGHTED, NULL, NULL);
        assert_int_equal(plan->analysis.max_partitions_per_task, 2);
        assert_int_equal(plan->analysis.min_partitions_per_task, 1);
        kp_plan_destroy(plan);
}

/* weighted + previous: adding a task keeps balance and moves few partitions. */
static void test_weighted_sticky_adding_a_task(void **state)
{
        (void)state;
        rng_state = 77;
        for (int iter = 0; iter < 200; iter++) {
                int32_t T = rnd_in(2, 50);
                kp_plan_topic_t topics[] = {{"a", "orders", rnd_in(8 * T, 8 * T + 100)}};
                size_t P = (size_t)topics[0].partitions;
                double *w = malloc(P * sizeof(*w));
                fill_weights(w, P, iter % 2);
                kp_plan_t *a = plan_of(topics, 1, T, KP_STRATEGY_WEIGHTED, w, NULL);
                kp_plan_t *b = plan_of(topics, 1, T + 1, KP_STRATEGY_WEIGHTED, w, a->owner);
                check_invariants(b, topics, 1, T + 1, a->owner);
                assert_true(b->analysis.max_load <= weighted_bound(w, P, T + 1) * 1.05);
                /* every old task is over the new bound and must shed something, and the
                 * new task needs a 1/(T+1) share: sticky stays within one partition per
                 * old task plus that share's count (a fresh plan would move most) */
                assert_true(b->analysis.moved_from_previous <= T + (int64_t)P / (T + 1));
                kp_plan_destroy(b);
                kp_plan_destroy(a);
                free(w);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_weighted_within_5_percent_of_bound),
                cmocka_unit_test(test_weighted_without_weights_balances_counts),
                cmocka_unit_test(test_weighted_sticky_adding_a_task),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
