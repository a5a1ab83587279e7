/* test_planner.c — the planner's entry point: invariants over random topologies for every
 * strategy, validation, the analysis and its advice. */
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

/* The seed: 3 clusters x 1 topic x 10 partitions at 30 (equal), 20 (above), 40 (below). */
static void test_balanced_seed_three_cases(void **state)
{
        (void)state;
        kp_plan_topic_t topics[] = {
                {"demo-a", "orders", 10}, {"demo-b", "payments", 10}, {"demo-c", "clicks", 10}};
        struct {
                int32_t T;
                kp_plan_case_t c;
                int32_t idle;
                int64_t mn, mx;
        } cases[] = {{30, KP_CASE_EQUAL, 0, 1, 1},
                     {20, KP_CASE_ABOVE, 0, 1, 2},
                     {40, KP_CASE_BELOW, 10, 0, 1}};
        for (size_t c = 0; c < 3; c++) {
                kp_plan_t *plan = plan_of(topics, 3, cases[c].T, KP_STRATEGY_BALANCED, NULL, NULL);
                check_invariants(plan, topics, 3, cases[c].T, NULL);
                check_balanced(plan, topics, 3, cases[c].T);
                assert_int_equal(plan->analysis.plan_case, cases[c].c);
                assert_int_equal(plan->analysis.idle_tasks, cases[c].idle);
                assert_int_equal(plan->analysis.min_partitions_per_task, cases[c].mn);
                assert_int_equal(plan->analysis.max_partitions_per_task, cases[c].mx);
                kp_plan_destroy(plan);
        }
}

/* The advice as figures agrees with Flink's own placement, at T and at the even T it names. */
static void test_flink_advice_figures_match_flink_placement(void **state)
{
        (void)state;
        kp_plan_topic_t topics[] = {
                {"demo-a", "orders", 10}, {"demo-b", "payments", 10}, {"demo-c", "clicks", 10}};
        kp_flink_advice_t fa;
        assert_int_equal(kp_planner_flink_advice(topics, 3, 30, &fa), 0);
        kp_plan_t *plan = plan_of(topics, 3, 30, KP_STRATEGY_FLINK, NULL, NULL);
        assert_int_equal(fa.idle_tasks, plan->analysis.idle_tasks);
        assert_int_equal(fa.max_partitions, plan->analysis.max_partitions_per_task);
        assert_int_equal(fa.min_partitions, plan->analysis.min_partitions_per_task);
        assert_false(fa.even);
        kp_plan_destroy(plan);
        assert_true(fa.even_below > 0 && fa.even_below < 30);
        assert_true(fa.even_above > 30);
        for (int32_t T = fa.even_below; T <= fa.even_above; T++) {
                kp_flink_advice_t at;
                assert_int_equal(kp_planner_flink_advice(topics, 3, T, &at), 0);
                assert_int_equal(at.even, T == fa.even_below || T == fa.even_above);
                if (at.even)
                        assert_true(at.even_below == 0 && at.even_above == 0);
        }
        /* one topic: Flink deals a single run round the ring, always even */
        assert_int_equal(kp_planner_flink_advice(topics, 1, 7, &fa), 0);
        assert_true(fa.even);
        assert_int_equal(fa.idle_tasks, 0);
}

/* The seed under flink at 30: tasks idle while others read two, and the advice says so. */
static void test_flink_seed_leaves_tasks_idle_and_advice_names_it(void **state)
{
        (void)state;
        kp_plan_topic_t topics[] = {
                {"demo-a", "orders", 10}, {"demo-b", "payments", 10}, {"demo-c", "clicks", 10}};
        kp_plan_t *plan = plan_of(topics, 3, 30, KP_STRATEGY_FLINK, NULL, NULL);
        check_invariants(plan, topics, 3, 30, NULL);
        assert_int_equal(plan->analysis.idle_tasks, 4);
        assert_int_equal(plan->analysis.max_partitions_per_task, 2);
        int found = 0;
        for (size_t i = 0; i < plan->analysis.recommendation_cnt; i++) {
                const char *r = plan->analysis.recommendations[i];
                const char *p = strstr(r, "even at parallelism ");
                if (!strstr(r, "Flink"))
                        continue;
                found = 1;
                assert_non_null(strstr(r, "4 tasks would sit idle"));
                assert_non_null(strstr(r, "2 partitions each"));
                assert_non_null(p);
                int below = 0, above = 0;
                assert_int_equal(
                        sscanf(p, "even at parallelism %d (below) or %d (above)", &below, &above),
                        2);
                /* the named values are even for Flink, everything between is not */
                for (int32_t T = below; T <= above; T++) {
                        kp_plan_t *f = plan_of(topics, 3, T, KP_STRATEGY_FLINK, NULL, NULL);
                        int64_t spread = f->analysis.max_partitions_per_task -
                                         f->analysis.min_partitions_per_task;
                        if (T == below || T == above)
                                assert_true(spread <= 1);
                        else
                                assert_true(spread > 1);
                        kp_plan_destroy(f);
                }
        }
        assert_true(found);
        kp_plan_destroy(plan);

        /* one topic name in three clusters: Flink stacks them on the same 10 tasks */
        kp_plan_topic_t same[] = {{"a", "orders", 10}, {"b", "orders", 10}, {"c", "orders", 10}};
        plan = plan_of(same, 3, 30, KP_STRATEGY_FLINK, NULL, NULL);
        assert_int_equal(plan->analysis.idle_tasks, 20);
        assert_int_equal(plan->analysis.max_partitions_per_task, 3);
        kp_plan_destroy(plan);
}

/* Flink's spread at T computed from kp_flink_owner alone (the test's own reference). */
static int flink_even_ref(const kp_plan_topic_t *topics, size_t K, int32_t T)
{
        int64_t *c = calloc((size_t)T, sizeof(*c));
        assert_non_null(c);
        for (size_t t = 0; t < K; t++)
                for (int32_t p = 0; p < topics[t].partitions; p++)
                        c[kp_flink_owner(topics[t].topic, p, T)]++;
        int64_t mn = INT64_MAX, mx = 0;
        for (int32_t j = 0; j < T; j++) {
                mn = c[j] < mn ? c[j] : mn;
                mx = c[j] > mx ? c[j] : mx;
        }
        free(c);
        return mx - mn <= 1;
}

/* The advice's nearest even Flink parallelism (below and above) is the true nearest,
 * also when topic names repeat across clusters (where the upward search is cut short
 * past the partition count) and when no T above is even at all. */
static void test_flink_advice_names_the_true_nearest_even_parallelism(void **state)
{
        (void)state;
        static const char *names[] = {"orders", "payments", "clicks", "a.b", "x-1"};
        static const char *clusters[] = {"c0", "c1", "c2", "c3", "c4"};
        unsigned seed = 7;
        int checked = 0;
        for (int round = 0; round < 60; round++) {
                kp_plan_topic_t topics[5];
                size_t K = 2 + (size_t)(rand_r(&seed) % 4);
                size_t P = 0;
                for (size_t t = 0; t < K; t++) {
                        /* names drawn from a small set: repeats are common */
                        topics[t] = (kp_plan_topic_t){clusters[t], names[rand_r(&seed) % 3],
                                                      1 + (int32_t)(rand_r(&seed) % 12)};
                        P += (size_t)topics[t].partitions;
                }
                int32_t T = 2 + (int32_t)(rand_r(&seed) % 40);
                kp_plan_t *plan = plan_of(topics, K, T, KP_STRATEGY_FLINK, NULL, NULL);
                const char *r = NULL;
                for (size_t i = 0; i < plan->analysis.recommendation_cnt; i++)
                        if (strstr(plan->analysis.recommendations[i], "Flink's KafkaSource"))
                                r = plan->analysis.recommendations[i];
                if (flink_even_ref(topics, K, T)) {
                        assert_null(r);
                        kp_plan_destroy(plan);
                        continue;
                }
                assert_non_null(r);
                int32_t want_below = 0, want_above = 0;
                for (int32_t d = T - 1; d >= 1 && !want_below; d--)
                        if (flink_even_ref(topics, K, d))
                                want_below = d;
                for (int32_t d = T + 1; d <= T + KP_FLINK_EVEN_SEARCH && !want_above; d++)
                        if (flink_even_ref(topics, K, d))
                                want_above = d;
                int below = 0, above = 0, one = 0;
                const char *p;
                if ((p = strstr(r, "even at parallelism ")))
                        assert_int_equal(sscanf(p, "even at parallelism %d (below) or %d (above)",
                                                &below, &above),
                                         2);
                else if ((p = strstr(r, "placement is even is ")))
                        assert_int_equal(sscanf(p, "placement is even is %d", &one), 1);
                else
                        assert_non_null(strstr(r, "No parallelism near"));
                if (one) {
                        assert_true(!want_below || !want_above);
                        assert_int_equal(one, want_below ? want_below : want_above);
                } else {
                        assert_int_equal(below, want_below);
                        assert_int_equal(above, want_above);
                }
                checked++;
                (void)P;
                kp_plan_destroy(plan);
        }
        assert_true(checked >= 20);
}

static void test_no_flink_warning_when_flink_is_even(void **state)
{
        (void)state;
        kp_plan_topic_t topics[] = {{"a", "orders", 12}};
        kp_plan_t *plan = plan_of(topics, 1, 5, KP_STRATEGY_BALANCED, NULL, NULL);
        for (size_t i = 0; i < plan->analysis.recommendation_cnt; i++)
                assert_null(strstr(plan->analysis.recommendations[i], "Flink"));
        kp_plan_destroy(plan);
}

static int has_rec(const kp_plan_t *plan, const char *needle)
{
        for (size_t i = 0; i < plan->analysis.recommendation_cnt; i++)
                if (strstr(plan->analysis.recommendations[i], needle))
                        return 1;
        return 0;
}

static void test_recommendations_on_parallelism(void **state)
{
        (void)state;
        kp_plan_topic_t topics[] = {{"a", "orders", 30}};
        char errstr[128];
        kp_plan_input_t in = {.topics = topics, .topic_cnt = 1, .parallelism = 40};
        kp_plan_t *plan = kp_planner_plan(&in, errstr, sizeof(errstr));
        assert_non_null(plan);
        assert_true(has_rec(plan, "10 of 40 tasks have no partition"));
        assert_true(has_rec(plan, "\"rebalance\": true"));
        assert_true(has_rec(plan, "Lower parallelism to 30"));
        kp_plan_destroy(plan);

        in.rebalance = 1;
        plan = kp_planner_plan(&in, errstr, sizeof(errstr));
        assert_false(has_rec(plan, "Lower parallelism"));
        kp_plan_destroy(plan);

        /* 30 over 20 tasks: divisors 15 and 30 are the even choices */
        in.rebalance = 0;
        in.parallelism = 20;
        plan = kp_planner_plan(&in, errstr, sizeof(errstr));
        assert_true(has_rec(plan, "Parallelism 15 or 30 splits them evenly"));
        kp_plan_destroy(plan);

        in.skip_recommendations = 1;
        plan = kp_planner_plan(&in, errstr, sizeof(errstr));
        assert_int_equal(plan->analysis.recommendation_cnt, 0);
        kp_plan_destroy(plan);
}

static void test_invalid_input_is_refused_with_reason(void **state)
{
        (void)state;
        kp_plan_topic_t topics[] = {{"a", "orders", 3}};
        double w[3] = {1, -1, 1};
        char errstr[128] = "";
        kp_plan_input_t in = {.topics = topics, .topic_cnt = 1, .parallelism = 0};
        assert_null(kp_planner_plan(&in, errstr, sizeof(errstr)));
        assert_non_null(strstr(errstr, "parallelism"));
        in.parallelism = KP_PARALLELISM_MAX + 1;
        assert_null(kp_planner_plan(&in, errstr, sizeof(errstr)));
        in.parallelism = 2;
        in.topic_cnt = 0;
        assert_null(kp_planner_plan(&in, errstr, sizeof(errstr)));
        in.topic_cnt = 1;
        in.weights = w;
        assert_null(kp_planner_plan(&in, errstr, sizeof(errstr)));
        assert_non_null(strstr(errstr, "weight"));
        in.weights = NULL;
        in.strategy = KP_STRATEGY__CNT;
        assert_null(kp_planner_plan(&in, errstr, sizeof(errstr)));
        kp_plan_destroy(NULL);
}

/* Thousands of random topologies, every strategy, with and without weights and a
 * previous plan: the invariants always hold; balanced bounds always hold; flink, range
 * and roundrobin agree with independent reference implementations. */
static void test_random_topologies_keep_invariants(void **state)
{
        (void)state;
        rng_state = 42;
        for (int iter = 0; iter < 3000; iter++) {
                size_t K;
                kp_plan_topic_t *topics = random_topics(&K, iter % 3 ? 40 : 300);
                size_t P = total_partitions(topics, K);
                int32_t T = rnd_in(1, iter % 4 ? 64 : 400);
                kp_strategy_t s = (kp_strategy_t)rnd_in(0, KP_STRATEGY__CNT - 1);
                double *w = NULL;
                int32_t *prev = NULL;
                if (rnd() % 3 == 0) {
                        w = malloc(P * sizeof(*w));
                        for (size_t i = 0; i < P; i++)
                                w[i] = (double)(rnd() % 1000) / 10.0;
                }
                if (rnd() % 2 == 0) {
                        int32_t T0 = rnd_in(1, 2 * T + 1);
                        prev = malloc(P * sizeof(*prev));
                        for (size_t i = 0; i < P; i++)
                                prev[i] = rnd() % 10 == 0 ? -1 : rnd_in(0, T0 - 1);
                }
                kp_plan_t *plan = plan_of(topics, K, T, s, w, prev);
                check_invariants(plan, topics, K, T, prev);
                size_t off = 0;
                switch (s) {
                case KP_STRATEGY_BALANCED: check_balanced(plan, topics, K, T); break;
                case KP_STRATEGY_FLINK:
                        for (size_t t = 0; t < K; t++)
                                for (int32_t k = 0; k < topics[t].partitions; k++)
                                        assert_int_equal(plan->owner[off++],
                                                         kp_flink_owner(topics[t].topic, k, T));
                        break;
                case KP_STRATEGY_RANGE:
                        for (size_t t = 0; t < K; t++) {
                                /* consumer i: n (+1 if i < extra) contiguous partitions */
                                int32_t p = topics[t].partitions, n = p / T, extra = p % T, k = 0;
                                for (int32_t c = 0; c < T; c++)
                                        for (int32_t x = 0; x < n + (c < extra); x++)
                                                assert_int_equal(plan->owner[off + (size_t)k++], c);
                                assert_int_equal(k, p);
                                off += (size_t)p;
                        }
                        break;
                case KP_STRATEGY_ROUNDROBIN: {
                        /* selection order: smallest (topic, cluster, index) not yet dealt */
                        char *done = calloc(K, 1);
                        int32_t c = 0;
                        for (size_t u = 0; u < K; u++) {
                                size_t best = K;
                                for (size_t t = 0; t < K; t++) {
                                        if (done[t])
                                                continue;
                                        if (best == K)
                                                best = t;
                                        int d = strcmp(topics[t].topic, topics[best].topic);
                                        if (!d)
                                                d = strcmp(topics[t].cluster, topics[best].cluster);
                                        if (d < 0)
                                                best = t;
                                }
                                done[best] = 1;
                                size_t o = 0;
                                for (size_t t = 0; t < best; t++)
                                        o += (size_t)topics[t].partitions;
                                for (int32_t k = 0; k < topics[best].partitions; k++) {
                                        assert_int_equal(plan->owner[o + (size_t)k], c);
                                        c = (c + 1) % T;
                                }
                        }
                        free(done);
                        break;
                }
                default: break;
                }
                kp_plan_destroy(plan);
                free(prev);
                free(w);
                free(topics);
        }
}

/* Weights given to a count strategy: skew is load-based. */
static void test_skew_uses_load_when_weights_given(void **state)
{
        (void)state;
        kp_plan_topic_t topics[] = {{"a", "orders", 4}};
        double w[] = {10, 1, 1, 0};
        kp_plan_t *plan = plan_of(topics, 1, 2, KP_STRATEGY_BALANCED, w, NULL);
        /* round-robin: task 0 gets p0 p2 (11), task 1 p1 p3 (1): mean 6 */
        assert_true(fabs(plan->analysis.max_load - 11) < 1e-9);
        assert_true(fabs(plan->analysis.skew - 11.0 / 6.0) < 1e-9);
        kp_plan_destroy(plan);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_balanced_seed_three_cases),
                cmocka_unit_test(test_flink_seed_leaves_tasks_idle_and_advice_names_it),
                cmocka_unit_test(test_no_flink_warning_when_flink_is_even),
                cmocka_unit_test(test_flink_advice_names_the_true_nearest_even_parallelism),
                cmocka_unit_test(test_recommendations_on_parallelism),
                cmocka_unit_test(test_invalid_input_is_refused_with_reason),
                cmocka_unit_test(test_random_topologies_keep_invariants),
                cmocka_unit_test(test_skew_uses_load_when_weights_given),
                cmocka_unit_test(test_flink_advice_figures_match_flink_placement),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
