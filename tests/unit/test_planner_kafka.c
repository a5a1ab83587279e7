/* test_planner_kafka.c — the flink, range and roundrobin strategies: Java's hash and Flink's owner
 * formula, Kafka's assignor examples. */
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

/* Vectors computed by Java 17 (new String(bytes, UTF_8).hashCode()). */
static void test_java_hash_matches_java_vectors(void **state)
{
        (void)state;
        assert_int_equal(kp_java_string_hash("topic1"), -868034334);
        assert_int_equal(kp_java_string_hash("orders"), -1008770331);
        assert_int_equal(kp_java_string_hash("payments"), 1382682413);
        assert_int_equal(kp_java_string_hash("clicks"), -1357714453);
        assert_int_equal(kp_java_string_hash(""), 0);
        /* differing only in the last character: hashes differ by the code unit gap */
        assert_int_equal(kp_java_string_hash("topic2") - kp_java_string_hash("topic1"), 1);
        assert_int_not_equal(kp_java_string_hash("orders1"), kp_java_string_hash("orders2"));
        /* non-ASCII: BMP, and a supplementary character (surrogate pair) */
        assert_int_equal(kp_java_string_hash("za\xc5\xbc\xc3\xb3\xc5\x82\xc4\x87"), -701064989);
        assert_int_equal(kp_java_string_hash("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x83\x88"
                                             "\xe3\x83\x94\xe3\x83\x83\xe3\x82\xaf"),
                         -304544657);
        assert_int_equal(kp_java_string_hash("\xf0\x9f\x98\x80"
                                             "emoji"),
                         -1233692477);
        /* invalid UTF-8: U+FFFD per the JDK decoder's rules */
        assert_int_equal(kp_java_string_hash("\xff\xfe"), 2097056);
        assert_int_equal(kp_java_string_hash("\xed\xa0\x80"), 65533);
        assert_int_equal(kp_java_string_hash("\xe0\x80\x80"), 65074269);
        assert_int_equal(kp_java_string_hash("\xf0\x9f\x98"), 65533);
        assert_int_equal(kp_java_string_hash("\xc0\xaf"), 2097056);
        assert_int_equal(kp_java_string_hash("a\x80"
                                             "b"),
                         2124838);
        assert_int_equal(kp_java_string_hash("\xf4\x90\x80\x80"), 2017367872);
        assert_int_equal(kp_java_string_hash("\xe2\x82"), 65533);
        assert_int_equal(kp_java_string_hash("\xe2\x82x"), 2031643);
        assert_int_equal(kp_java_string_hash("\xf0\x9f\x98\x80\x80"), 55025402);
}

/* Start indexes at 30 readers computed by Java with Flink's formula. */
static void test_flink_owner_matches_java_start_index(void **state)
{
        (void)state;
        assert_int_equal(kp_flink_owner("topic1", 0, 30), 20);
        assert_int_equal(kp_flink_owner("orders", 0, 30), 9);
        assert_int_equal(kp_flink_owner("payments", 0, 30), 21);
        assert_int_equal(kp_flink_owner("clicks", 0, 30), 27);
        assert_int_equal(kp_flink_owner("clicks", 5, 30), 2); /* wraps */
        assert_int_equal(kp_flink_owner("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x83\x88"
                                        "\xe3\x83\x94\xe3\x83\x83\xe3\x82\xaf",
                                        0, 30),
                         23);
        assert_int_equal(kp_flink_owner("\xf4\x90\x80\x80", 0, 30), 0);
        /* startIndex = ((hash * 31) & 0x7FFFFFFF) % T with int overflow, by hand */
        int64_t h = -868034334;
        uint32_t x = ((uint32_t)h * 31u) & 0x7FFFFFFFu;
        for (int32_t T = 1; T < 200; T++)
                assert_int_equal(kp_flink_owner("topic1", 7, T),
                                 (int32_t)((x % (uint32_t)T + 7) % (uint32_t)T));
}

/* kp_planner_flink_counts (used by the advice) agrees with the owners. */
static void test_flink_counts_match_flink_owners(void **state)
{
        (void)state;
        rng_state = 7;
        for (int iter = 0; iter < 500; iter++) {
                size_t K;
                kp_plan_topic_t *topics = random_topics(&K, 100);
                int32_t T = rnd_in(1, 120);
                kp_plan_t *plan = plan_of(topics, K, T, KP_STRATEGY_FLINK, NULL, NULL);
                int64_t *c1 = calloc((size_t)T, sizeof(*c1)), *c2 = malloc((size_t)T * sizeof(*c2));
                for (size_t i = 0; i < plan->partition_cnt; i++)
                        c1[plan->owner[i]]++;
                kp_planner_flink_counts(topics, K, T, c2);
                assert_memory_equal(c1, c2, (size_t)T * sizeof(*c1));
                free(c2);
                free(c1);
                kp_plan_destroy(plan);
                free(topics);
        }
}

/* Hand-worked examples from Kafka's RangeAssignorTest. */
static void test_range_matches_kafka_examples(void **state)
{
        (void)state;
        /* testTwoConsumersTwoTopicsSixPartitions: c0 t1p0 t1p1 t2p0 t2p1, c1 t1p2 t2p2 */
        kp_plan_topic_t two[] = {{"c", "topic1", 3}, {"c", "topic2", 3}};
        kp_plan_t *plan = plan_of(two, 2, 2, KP_STRATEGY_RANGE, NULL, NULL);
        int32_t e1[] = {0, 0, 1, 0, 0, 1};
        assert_memory_equal(plan->owner, e1, sizeof(e1));
        kp_plan_destroy(plan);
        /* testStaticMemberRangeAssignmentPersistent: topic1:5, topic2:4, 4 consumers:
         * c0 t1p0 t1p1 t2p0; c1 t1p2 t2p1; c2 t1p3 t2p2; c3 t1p4 t2p3 */
        kp_plan_topic_t five[] = {{"c", "topic1", 5}, {"c", "topic2", 4}};
        plan = plan_of(five, 2, 4, KP_STRATEGY_RANGE, NULL, NULL);
        int32_t e2[] = {0, 0, 1, 2, 3, 0, 1, 2, 3};
        assert_memory_equal(plan->owner, e2, sizeof(e2));
        kp_plan_destroy(plan);
        /* testTwoConsumersOneTopicOnePartition: c0 gets it, c1 nothing */
        kp_plan_topic_t one[] = {{"c", "topic1", 1}};
        plan = plan_of(one, 1, 2, KP_STRATEGY_RANGE, NULL, NULL);
        assert_int_equal(plan->owner[0], 0);
        assert_int_equal(plan->analysis.idle_tasks, 1);
        kp_plan_destroy(plan);
        /* testOneConsumerMultipleTopics: topic1:1, topic2:2, one consumer takes all */
        kp_plan_topic_t multi[] = {{"c", "topic1", 1}, {"c", "topic2", 2}};
        plan = plan_of(multi, 2, 1, KP_STRATEGY_RANGE, NULL, NULL);
        int32_t e3[] = {0, 0, 0};
        assert_memory_equal(plan->owner, e3, sizeof(e3));
        kp_plan_destroy(plan);
}

/* Hand-worked examples from Kafka's RoundRobinAssignorTest. */
static void test_roundrobin_matches_kafka_examples(void **state)
{
        (void)state;
        /* testTwoDynamicConsumersTwoTopicsSixPartitions:
         * c0 t1p0 t1p2 t2p1; c1 t1p1 t2p0 t2p2 */
        kp_plan_topic_t two[] = {{"c", "topic1", 3}, {"c", "topic2", 3}};
        kp_plan_t *plan = plan_of(two, 2, 2, KP_STRATEGY_ROUNDROBIN, NULL, NULL);
        int32_t e1[] = {0, 1, 0, 1, 0, 1};
        assert_memory_equal(plan->owner, e1, sizeof(e1));
        kp_plan_destroy(plan);
        /* testStaticMemberAssignmentPersistent (4 consumers): c0 t1p0 t2p1; c1 t1p1 t2p2;
         * c2 t1p2; c3 t2p0 */
        plan = plan_of(two, 2, 4, KP_STRATEGY_ROUNDROBIN, NULL, NULL);
        int32_t e2[] = {0, 1, 2, 3, 0, 1};
        assert_memory_equal(plan->owner, e2, sizeof(e2));
        kp_plan_destroy(plan);
        /* the input order does not matter: topics are sorted by name, then cluster */
        kp_plan_topic_t rev[] = {{"c", "topic2", 3}, {"c", "topic1", 3}};
        plan = plan_of(rev, 2, 2, KP_STRATEGY_ROUNDROBIN, NULL, NULL);
        int32_t e3[] = {1, 0, 1, 0, 1, 0}; /* topic2's owners first (flat order) */
        assert_memory_equal(plan->owner, e3, sizeof(e3));
        kp_plan_destroy(plan);
        kp_plan_topic_t clusters[] = {{"zz", "orders", 2}, {"aa", "orders", 1}};
        plan = plan_of(clusters, 2, 2, KP_STRATEGY_ROUNDROBIN, NULL, NULL);
        int32_t e4[] = {1, 0, 0}; /* aa/orders p0 -> 0, then zz/orders p0 -> 1, p1 -> 0 */
        assert_memory_equal(plan->owner, e4, sizeof(e4));
        kp_plan_destroy(plan);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_java_hash_matches_java_vectors),
                cmocka_unit_test(test_flink_owner_matches_java_start_index),
                cmocka_unit_test(test_flink_counts_match_flink_owners),
                cmocka_unit_test(test_range_matches_kafka_examples),
                cmocka_unit_test(test_roundrobin_matches_kafka_examples),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
