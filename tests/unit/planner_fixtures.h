/* planner_fixtures.h — what the planner's unit tests share: a seeded PRNG, random topologies, a
 * plan call that fails the test, and the invariant and balance checks. Included by the
 * test_planner*.c programs only (static inline: each takes what it uses). */
#ifndef KP_PLANNER_FIXTURES_H
#define KP_PLANNER_FIXTURES_H

#include "planner/planner.h"

/* splitmix64: a seeded PRNG, so every run checks the same topologies */
static uint64_t rng_state;

static inline uint64_t rnd(void)
{
        uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
}

/* uniform in [lo, hi] */
static inline int32_t rnd_in(int32_t lo, int32_t hi)
{
        return lo + (int32_t)(rnd() % (uint64_t)(hi - lo + 1));
}

static inline kp_plan_t *plan_of(const kp_plan_topic_t *topics, size_t K, int32_t T,
                                 kp_strategy_t s, const double *w, const int32_t *prev)
{
        char errstr[256];
        kp_plan_input_t in = {.topics = topics,
                              .topic_cnt = K,
                              .parallelism = T,
                              .strategy = s,
                              .weights = w,
                              .previous_owner = prev};
        kp_plan_t *plan = kp_planner_plan(&in, errstr, sizeof(errstr));
        if (!plan)
                fail_msg("plan failed: %s", errstr);
        return plan;
}

static inline size_t total_partitions(const kp_plan_topic_t *topics, size_t K)
{
        size_t P = 0;
        for (size_t t = 0; t < K; t++)
                P += (size_t)topics[t].partitions;
        return P;
}

/* Every partition has exactly one owner in 0..T-1 (owner is one entry per partition, so
 * "exactly once" means in range) and the analysis agrees with a recount. */
static inline void check_invariants(const kp_plan_t *plan, const kp_plan_topic_t *topics, size_t K,
                                    int32_t T, const int32_t *prev)
{
        size_t P = total_partitions(topics, K);
        int64_t *cnt = calloc((size_t)T, sizeof(*cnt));
        assert_non_null(cnt);
        assert_int_equal(plan->partition_cnt, P);
        assert_int_equal(plan->parallelism, T);
        for (size_t i = 0; i < P; i++) {
                assert_true(plan->owner[i] >= 0 && plan->owner[i] < T);
                cnt[plan->owner[i]]++;
        }
        int64_t mn = INT64_MAX, mx = 0, idle = 0, sum = 0;
        for (int32_t j = 0; j < T; j++) {
                mn = cnt[j] < mn ? cnt[j] : mn;
                mx = cnt[j] > mx ? cnt[j] : mx;
                idle += !cnt[j];
                sum += cnt[j];
        }
        assert_int_equal(sum, (int64_t)P);
        const kp_plan_analysis_t *a = &plan->analysis;
        assert_int_equal(a->partitions, (int64_t)P);
        assert_int_equal(a->tasks, T);
        assert_int_equal(a->idle_tasks, idle);
        assert_int_equal(a->min_partitions_per_task, mn);
        assert_int_equal(a->max_partitions_per_task, mx);
        assert_int_equal(a->plan_case, (int64_t)P == T  ? KP_CASE_EQUAL
                                       : (int64_t)P < T ? KP_CASE_BELOW
                                                        : KP_CASE_ABOVE);
        if (prev) {
                int64_t moved = 0;
                for (size_t i = 0; i < P; i++)
                        moved += prev[i] >= 0 && prev[i] != plan->owner[i];
                assert_int_equal(a->moved_from_previous, moved);
        } else {
                assert_int_equal(a->moved_from_previous, -1);
        }
        free(cnt);
}

/* balanced: floor/ceil of P/T per task, and of p_t/T per task for every topic */
static inline void check_balanced(const kp_plan_t *plan, const kp_plan_topic_t *topics, size_t K,
                                  int32_t T)
{
        size_t P = total_partitions(topics, K);
        int64_t *cnt = calloc((size_t)T, sizeof(*cnt));
        assert_non_null(cnt);
        int64_t F = (int64_t)P / T;
        assert_in_range(plan->analysis.min_partitions_per_task, F, F);
        assert_in_range(plan->analysis.max_partitions_per_task, F, F + ((int64_t)P % T != 0));
        size_t off = 0;
        for (size_t t = 0; t < K; t++) {
                int32_t p = topics[t].partitions;
                memset(cnt, 0, (size_t)T * sizeof(*cnt));
                for (int32_t k = 0; k < p; k++)
                        cnt[plan->owner[off + (size_t)k]]++;
                for (int32_t j = 0; j < T; j++)
                        assert_in_range(cnt[j], p / T, p / T + (p % T != 0));
                off += (size_t)p;
        }
        free(cnt);
}

static inline kp_plan_topic_t *random_topics(size_t *Kp, int32_t maxp)
{
        static const char *const clusters[] = {"a", "b", "c"};
        static char names[16][16];
        size_t K = (size_t)rnd_in(1, 8);
        kp_plan_topic_t *t = calloc(K, sizeof(*t));
        assert_non_null(t);
        for (size_t i = 0; i < K; i++) {
                snprintf(names[i], sizeof(names[i]), "topic%d", rnd_in(0, 9));
                t[i].topic = names[i];
                t[i].cluster = clusters[i % 3];
                /* (cluster, topic) may repeat: the planner does not care */
                t[i].partitions = rnd_in(1, maxp);
        }
        *Kp = K;
        return t;
}

static const kp_plan_topic_t seed3[] = {
        {"demo-a", "orders", 10}, {"demo-b", "payments", 10}, {"demo-c", "clicks", 10}};

#endif /* KP_PLANNER_FIXTURES_H */
