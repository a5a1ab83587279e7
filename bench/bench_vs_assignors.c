/* bench_vs_assignors.c — times kplane's balanced planner on exactly the topologies
 * bench/assignors/run.sh gives Kafka's assignors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "planner.h"

/*
 * bench_planner spreads P over P/1000 topics; Kafka's assignors are timed on 10 topics of
 * P/10 partitions ("topic-00".."topic-09", every task subscribed to all, a fresh group).
 * For a fair ratio this program plans that same layout and reports the same figures in
 * the same line format: the median of RUNS timed plans (after a warm-up, as the Java side
 * warms its JIT), and the busiest and idlest task's partition count.
 * Recommendations are skipped: Kafka's assignors give no advice either.
 *
 * Usage: bench_vs_assignors [strategy (balanced)]
 * Output: planner=<s> partitions=<P> tasks=<T> ms=<median> max_per_task=<n>
 *         min_per_task=<n> topics=10 runs=<n>
 */

#define TOPICS 10
#define RUNS   5

static double now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

/* Plans one topology RUNS times. @returns 0, or -1 when the planner failed. */
static int bench_one(kp_strategy_t strategy, int32_t partitions, int32_t tasks)
{
        kp_plan_topic_t topics[TOPICS];
        char names[TOPICS][16];
        double ms[RUNS];
        char errstr[256];
        int64_t *counts = NULL;
        int64_t max = 0, min = INT64_MAX;
        kp_plan_t *plan = NULL;
        int r, ret = -1;

        for (int t = 0; t < TOPICS; t++) {
                snprintf(names[t], sizeof(names[t]), "topic-%02d", t);
                topics[t] = (kp_plan_topic_t){"bench", names[t], partitions / TOPICS};
        }
        kp_plan_input_t in = {.topics = topics,
                              .topic_cnt = TOPICS,
                              .parallelism = tasks,
                              .strategy = strategy,
                              .skip_recommendations = 1};
        for (r = 0; r < RUNS; r++) {
                double t0 = now_ms();
                plan = kp_planner_plan(&in, errstr, sizeof(errstr));
                ms[r] = now_ms() - t0;
                if (!plan) {
                        fprintf(stderr, "bench_vs_assignors: plan failed: %s\n", errstr);
                        goto out;
                }
                if (r < RUNS - 1) {
                        kp_plan_destroy(plan);
                        plan = NULL;
                }
        }
        qsort(ms, RUNS, sizeof(ms[0]), cmp_double);

        /* Counted from the owners themselves, not taken from the analysis, so the
         * balance figure is checked the same way the Java side checks Kafka's. */
        counts = calloc((size_t)tasks, sizeof(*counts));
        if (!counts)
                goto out;
        for (size_t i = 0; i < plan->partition_cnt; i++)
                counts[plan->owner[i]]++;
        for (int32_t t = 0; t < tasks; t++) {
                max = counts[t] > max ? counts[t] : max;
                min = counts[t] < min ? counts[t] : min;
        }
        printf("planner=%s partitions=%d tasks=%d ms=%.3f max_per_task=%lld "
               "min_per_task=%lld topics=%d runs=%d\n",
               kp_strategy_name(strategy), partitions, tasks, ms[RUNS / 2], (long long)max,
               (long long)min, TOPICS, RUNS);
        fflush(stdout);
        ret = 0;
out:
        free(counts);
        kp_plan_destroy(plan);
        return ret;
}

int main(int argc, char **argv)
{
        static const int32_t Ps[] = {1000, 100000, 1000000};
        static const int32_t Ts[] = {10, 1000, 10000};
        kp_strategy_t strategy = KP_STRATEGY_BALANCED;

        if (argc > 1 && kp_strategy_parse(argv[1], &strategy)) {
                fprintf(stderr, "usage: bench_vs_assignors [balanced|weighted|flink|range|"
                                "roundrobin]\n");
                return 2;
        }
        /* warm-up: page in the allocator and the code, as the JVM side warms its JIT */
        for (int w = 0; w < 3; w++) {
                kp_plan_topic_t t = {"bench", "warm", 10000};
                kp_plan_input_t in = {.topics = &t,
                                      .topic_cnt = 1,
                                      .parallelism = 100,
                                      .strategy = strategy,
                                      .skip_recommendations = 1};
                char errstr[128];
                kp_plan_destroy(kp_planner_plan(&in, errstr, sizeof(errstr)));
        }
        for (size_t pi = 0; pi < sizeof(Ps) / sizeof(Ps[0]); pi++)
                for (size_t ti = 0; ti < sizeof(Ts) / sizeof(Ts[0]); ti++)
                        if (bench_one(strategy, Ps[pi], Ts[ti]))
                                return 1;
        return 0;
}
