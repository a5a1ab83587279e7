/* bench_vs_assignors.c — times kplane's balanced planner on exactly the topologies and re-plans
 * bench/assignors/run.sh gives Kafka's assignors. */
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "planner/planner.h"

/*
 * bench_planner spreads P over P/1000 topics; Kafka's assignors are timed on 10 topics of
 * P/10 partitions ("topic-00".."topic-09", every task subscribed to all, a fresh group).
 * For a fair ratio this program plans that same layout and reports the same figures in
 * the same line format: the median of RUNS timed plans (after a warm-up, as the Java side
 * warms its JIT), and the busiest and idlest task's partition count.
 * Recommendations are skipped: Kafka's assignors give no advice either.
 *
 * "replan": the hard case, a group that already owns partitions. Every side starts from
 * the same balanced assignment (flat index i owned by task i % T: topic-00's partitions
 * first, as Kafka's Java harness builds it too) and re-plans for one of three changes:
 *   add_task        T -> T + 1 (a new, empty task)
 *   remove_task     T -> T - 1 (task T - 1 leaves; its partitions must move)
 *   add_partitions  every topic grows by a tenth (new partitions owned by no one)
 * kplane gets that assignment as previous_owner (what api/plans.c passes from the stored
 * plan). "moved" counts partitions that existed before and whose owner differs
 * afterwards, counted from the owners (and checked against the analysis' own count);
 * "min_moves" is a lower bound any plan with max - min <= 1 partitions per task must
 * pay: the partitions of a removed task, plus what a task holds above ceil(P'/T'), or
 * what tasks below floor(P'/T') lack beyond the new partitions, whichever is more.
 *
 * Usage: bench_vs_assignors [--quick] [replan] [strategy (balanced)]
 *   --quick: small topologies only (1k, 10k partitions x 10, 100 tasks), for a smoke run
 * Output: planner=<s> partitions=<P> tasks=<T> ms=<median> max_per_task=<n>
 *         min_per_task=<n> topics=10 runs=<n>
 * replan: planner=<s> case=<c> partitions=<P> tasks=<T> to_partitions=<P'>
 *         to_tasks=<T'> ms=<median> moved=<n> min_moves=<n> max_per_task=<n>
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

/* Plans @p in RUNS times; @returns the last plan (the caller's) with the sorted times in
 * @p ms (median at RUNS / 2), or NULL when the planner failed (said on stderr). */
static kp_plan_t *plan_timed(const kp_plan_input_t *in, double ms[RUNS], const char *what)
{
        char errstr[256];
        kp_plan_t *plan = NULL;
        for (int r = 0; r < RUNS; r++) {
                kp_plan_destroy(plan);
                double t0 = now_ms();
                plan = kp_planner_plan(in, errstr, sizeof(errstr));
                ms[r] = now_ms() - t0;
                if (!plan) {
                        fprintf(stderr, "bench_vs_assignors: %s failed: %s\n", what, errstr);
                        return NULL;
                }
        }
        qsort(ms, RUNS, sizeof(ms[0]), cmp_double);
        return plan;
}

/* Plans one topology RUNS times. @returns 0, or -1 when the planner failed. */
static int bench_one(kp_strategy_t strategy, int32_t partitions, int32_t tasks)
{
        kp_plan_topic_t topics[TOPICS];
        char names[TOPICS][16];
        double ms[RUNS];
        int64_t *counts = NULL;
        int64_t max = 0, min = INT64_MAX;
        kp_plan_t *plan = NULL;
        int ret = -1;

        for (int t = 0; t < TOPICS; t++) {
                snprintf(names[t], sizeof(names[t]), "topic-%02d", t);
                topics[t] = (kp_plan_topic_t){"bench", names[t], partitions / TOPICS};
        }
        kp_plan_input_t in = {.topics = topics,
                              .topic_cnt = TOPICS,
                              .parallelism = tasks,
                              .strategy = strategy,
                              .skip_recommendations = 1};
        if (!(plan = plan_timed(&in, ms, "plan")))
                goto out;

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

typedef enum replan_case { ADD_TASK, REMOVE_TASK, ADD_PARTITIONS, CASE_CNT } replan_case_t;

static const char *const case_names[CASE_CNT] = {"add_task", "remove_task", "add_partitions"};

/* The lower bound on moved partitions described at the top, for counts[t] partitions
 * previously owned per task (t < T), orphaned ones owned by tasks >= T', new_cnt
 * partitions new and P', T' after the change. */
static int64_t min_moves(const int64_t *counts, int32_t T, int32_t T2, int64_t P2, int64_t orphaned,
                         int64_t new_cnt)
{
        int64_t floor_ = P2 / T2, ceil_ = (P2 + T2 - 1) / T2, over = 0, under = 0;
        for (int32_t t = 0; t < T2; t++) {
                int64_t c = t < T ? counts[t] : 0;
                over += c > ceil_ ? c - ceil_ : 0;
                under += c < floor_ ? floor_ - c : 0;
        }
        under -= new_cnt;
        over += orphaned;
        return over > under ? over : under;
}

/*
 * One re-plan of P partitions (10 topics) held by T tasks, for case @p c. @returns 0, or
 * -1 when the planner failed or its own moved count disagrees with the owners.
 */
static int bench_replan(kp_strategy_t strategy, replan_case_t c, int32_t partitions, int32_t tasks)
{
        kp_plan_topic_t topics[TOPICS];
        char names[TOPICS][16];
        double ms[RUNS];
        const int32_t per = partitions / TOPICS;
        const int32_t per2 = c == ADD_PARTITIONS ? per + per / 10 : per;
        const int32_t T2 = c == ADD_TASK ? tasks + 1 : c == REMOVE_TASK ? tasks - 1 : tasks;
        const size_t P2 = (size_t)per2 * TOPICS;
        int32_t *prev = malloc(P2 * sizeof(*prev));
        int64_t *before = calloc((size_t)tasks, sizeof(*before));
        int64_t *counts = calloc((size_t)T2, sizeof(*counts));
        int64_t moved = 0, orphaned = 0, new_cnt = 0, max = 0, min = INT64_MAX;
        kp_plan_t *plan = NULL;
        int ret = -1;

        if (!prev || !before || !counts)
                goto out;
        for (int t = 0; t < TOPICS; t++) {
                snprintf(names[t], sizeof(names[t]), "topic-%02d", t);
                topics[t] = (kp_plan_topic_t){"bench", names[t], per2};
                for (int32_t p = 0; p < per2; p++) {
                        size_t i = (size_t)t * (size_t)per2 + (size_t)p;
                        /* the owner in the layout before the change: flat (t * per + p) % T */
                        prev[i] = p < per ? (int32_t)(((int64_t)t * per + p) % tasks) : -1;
                        if (prev[i] < 0)
                                new_cnt++;
                        else if (prev[i] >= T2)
                                orphaned++;
                        else
                                before[prev[i]]++;
                }
        }
        kp_plan_input_t in = {.topics = topics,
                              .topic_cnt = TOPICS,
                              .parallelism = T2,
                              .strategy = strategy,
                              .previous_owner = prev,
                              .skip_recommendations = 1};
        if (!(plan = plan_timed(&in, ms, "re-plan")))
                goto out;
        for (size_t i = 0; i < plan->partition_cnt; i++) {
                counts[plan->owner[i]]++;
                if (prev[i] >= 0 && prev[i] != plan->owner[i])
                        moved++;
        }
        if (moved != plan->analysis.moved_from_previous) {
                fprintf(stderr, "bench_vs_assignors: counted %lld moves, the analysis says %lld\n",
                        (long long)moved, (long long)plan->analysis.moved_from_previous);
                goto out;
        }
        for (int32_t t = 0; t < T2; t++) {
                max = counts[t] > max ? counts[t] : max;
                min = counts[t] < min ? counts[t] : min;
        }
        printf("planner=%s case=%s partitions=%d tasks=%d to_partitions=%zu to_tasks=%d "
               "ms=%.3f moved=%lld min_moves=%lld max_per_task=%lld min_per_task=%lld "
               "topics=%d runs=%d\n",
               kp_strategy_name(strategy), case_names[c], partitions, tasks, P2, T2, ms[RUNS / 2],
               (long long)moved,
               (long long)min_moves(before, tasks, T2, (int64_t)P2, orphaned, new_cnt),
               (long long)max, (long long)min, TOPICS, RUNS);
        fflush(stdout);
        ret = 0;
out:
        kp_plan_destroy(plan);
        free(counts);
        free(before);
        free(prev);
        return ret;
}

int main(int argc, char **argv)
{
        static const int32_t Ps[] = {1000, 100000, 1000000}, quick_Ps[] = {1000, 10000};
        static const int32_t Ts[] = {10, 1000, 10000}, quick_Ts[] = {10, 100};
        kp_strategy_t strategy = KP_STRATEGY_BALANCED;
        int quick = 0, replan = 0, a = 1;

        for (; a < argc; a++) {
                if (!strcmp(argv[a], "--quick"))
                        quick = 1;
                else if (!strcmp(argv[a], "replan"))
                        replan = 1;
                else if (kp_strategy_parse(argv[a], &strategy))
                        break;
        }
        if (a < argc) {
                fprintf(stderr, "usage: bench_vs_assignors [--quick] [replan] [balanced|weighted|"
                                "flink|range|roundrobin]\n");
                return 2;
        }
        /* A warm heap, as the Java side has after its warm-up (the JVM keeps its heap): by
         * default glibc gives the ~9 MB a 1M x 10k re-plan frees back to the kernel (its trim
         * threshold follows the largest block freed) and the next run faults every page in
         * again, 2 of its 6.6 ms. The server process keeps glibc's defaults. */
        mallopt(M_MMAP_THRESHOLD, 32 << 20);
        mallopt(M_TRIM_THRESHOLD, 64 << 20);
        const int32_t *P = quick ? quick_Ps : Ps, *T = quick ? quick_Ts : Ts;
        const size_t np = quick ? 2 : 3, nt = quick ? 2 : 3;
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
        for (size_t pi = 0; pi < np; pi++)
                for (size_t ti = 0; ti < nt; ti++) {
                        if (!replan) {
                                if (bench_one(strategy, P[pi], T[ti]))
                                        return 1;
                                continue;
                        }
                        for (int c = 0; c < CASE_CNT; c++)
                                if (bench_replan(strategy, (replan_case_t)c, P[pi], T[ti]))
                                        return 1;
                }
        return 0;
}
