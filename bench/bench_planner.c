/* bench_planner.c — how fast the planner and its JSON are, against baselines measured in the same
 * run. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "planner/plan_json.h"
#include "planner/planner.h"

/*
 * Baseline: memcpy of an owner array of the same size (P int32), the least any planner
 * must do to write its answer; "x memcpy" is the planner's time over that. Each figure
 * is the best of a few runs (fewer for big inputs) so the whole bench stays well under
 * a minute on 2 cores. Topologies: topics of 1,000 partitions (1 topic for 1k), names
 * "topic-N", one cluster; weighted gets exponential random weights.
 */

static double now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

typedef struct topo {
        kp_plan_topic_t *topics;
        size_t K;
        size_t P;
        char (*names)[32];
        double *w;
} topo_t;

static void topo_init(topo_t *t, size_t P)
{
        t->P = P;
        t->K = P < 1000 ? 1 : P / 1000;
        t->topics = calloc(t->K, sizeof(*t->topics));
        t->names = calloc(t->K, sizeof(*t->names));
        t->w = malloc(P * sizeof(*t->w));
        for (size_t k = 0; k < t->K; k++) {
                snprintf(t->names[k], sizeof(t->names[k]), "topic-%zu", k);
                t->topics[k] = (kp_plan_topic_t){"bench", t->names[k], (int32_t)(P / t->K)};
        }
        uint64_t x = 88172645463325252ull;
        for (size_t i = 0; i < P; i++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                t->w[i] = -log(((double)(x % 1000000) + 1) / 1000001.0);
        }
}

static void topo_cleanup(topo_t *t)
{
        free(t->w);
        free(t->names);
        free(t->topics);
}

/* best-of time of one plan (ms); *planp keeps the last plan when wanted */
static double time_plan(const kp_plan_input_t *in, int reps, kp_plan_t **planp)
{
        double best = INFINITY;
        char errstr[256];
        for (int r = 0; r < reps; r++) {
                double t0 = now_ms();
                kp_plan_t *plan = kp_planner_plan(in, errstr, sizeof(errstr));
                double dt = now_ms() - t0;
                if (!plan) {
                        fprintf(stderr, "plan failed: %s\n", errstr);
                        exit(1);
                }
                best = dt < best ? dt : best;
                if (planp && r == reps - 1)
                        *planp = plan;
                else
                        kp_plan_destroy(plan);
        }
        return best;
}

static double time_memcpy(size_t P, int reps)
{
        int32_t *a = malloc(P * sizeof(*a)), *b = malloc(P * sizeof(*b));
        double best = INFINITY;
        for (size_t i = 0; i < P; i++)
                a[i] = (int32_t)i;
        for (int r = 0; r < reps + 2; r++) {
                double t0 = now_ms();
                memcpy(b, a, P * sizeof(*a));
                __asm__ __volatile__("" : : "r"(b) : "memory");
                double dt = now_ms() - t0;
                best = dt < best ? dt : best;
        }
        free(b);
        free(a);
        return best;
}

/* With "whatif" as its argument only the what-if figure runs (for quick checks). */
int main(int argc, char **argv)
{
        static const size_t Ps[] = {1000, 100000, 1000000};
        const int whatif_only = argc > 1 && !strcmp(argv[1], "whatif");
        static const int32_t Ts[] = {10, 1000, 10000};
        double start = now_ms();

        printf("kplane planner benchmark (ms, best of runs; baseline = memcpy of the P-entry "
               "owner array in the same run)\n\n");
        printf("%-11s %9s %6s %10s %10s %11s %10s %10s\n", "strategy", "partitions", "tasks",
               "plan", "x memcpy", "plan+advice", "sticky+1", "x memcpy");
        for (size_t pi = 0; pi < 3 && !whatif_only; pi++) {
                topo_t tp;
                topo_init(&tp, Ps[pi]);
                int reps = Ps[pi] >= 1000000 ? 3 : Ps[pi] >= 100000 ? 5 : 20;
                double base = time_memcpy(tp.P, reps);
                for (int s = 0; s < KP_STRATEGY__CNT; s++) {
                        for (size_t ti = 0; ti < 3; ti++) {
                                kp_plan_input_t in = {.topics = tp.topics,
                                                      .topic_cnt = tp.K,
                                                      .parallelism = Ts[ti],
                                                      .strategy = (kp_strategy_t)s,
                                                      .weights = s == KP_STRATEGY_WEIGHTED ? tp.w
                                                                                           : NULL,
                                                      .skip_recommendations = 1};
                                kp_plan_t *prev = NULL;
                                double t_plan = time_plan(&in, reps, &prev);
                                in.skip_recommendations = 0;
                                double t_adv = time_plan(&in, reps > 3 ? 3 : reps, NULL);
                                /* sticky re-plan after one task is added */
                                double t_sticky = NAN;
                                if (s == KP_STRATEGY_BALANCED || s == KP_STRATEGY_WEIGHTED) {
                                        in.skip_recommendations = 1;
                                        in.parallelism = Ts[ti] + 1;
                                        in.previous_owner = prev->owner;
                                        t_sticky = time_plan(&in, reps, NULL);
                                }
                                if (isnan(t_sticky))
                                        printf("%-11s %9zu %6d %10.3f %10.1f %11.3f %10s %10s\n",
                                               kp_strategy_name((kp_strategy_t)s), tp.P, Ts[ti],
                                               t_plan, t_plan / base, t_adv, "-", "-");
                                else
                                        printf("%-11s %9zu %6d %10.3f %10.1f %11.3f %10.3f "
                                               "%10.1f\n",
                                               kp_strategy_name((kp_strategy_t)s), tp.P, Ts[ti],
                                               t_plan, t_plan / base, t_adv, t_sticky,
                                               t_sticky / base);
                                fflush(stdout);
                                kp_plan_destroy(prev);
                        }
                }
                printf("%-11s %9zu %6s %10.3f\n", "(memcpy)", tp.P, "", base);
                topo_cleanup(&tp);
        }

        /* what-if: 10 topics x 1,000 partitions, 1,000 tasks, recommendations on: what
         * POST /plan does besides HTTP (parse the body, plan, write the answer), beside
         * the jansson tree + json_dumps the answer used to be built with */
        {
                topo_t tp;
                topo_init(&tp, 10000);
                kp_buf_t body;
                kp_buf_init(&body);
                kp_buf_append(&body, "{\"topics\":[", 11);
                for (size_t k = 0; k < tp.K; k++)
                        kp_buf_printf(&body,
                                      "%s{\"cluster\":\"bench\",\"topic\":\"%s\","
                                      "\"partitions\":%d}",
                                      k ? "," : "", tp.names[k], (int)tp.topics[k].partitions);
                kp_buf_append(&body, "],\"parallelism\":1000}", 21);
                double best_parse = INFINITY, best_plan = INFINITY, best_write = INFINITY;
                double best_tree = INFINITY;
                size_t out_len = 0;
                char errstr[128];
                for (int r = 0; r < 20; r++) {
                        double t0 = now_ms();
                        /* as kp_h_whatif parses: the plain form, else through jansson */
                        json_t *doc = NULL;
                        json_t *errors = json_array();
                        kp_plan_request_t req;
                        if (kp_plan_request_parse_plain(body.data, body.len, &req) &&
                            (!(doc = json_loadb(body.data, body.len, 0, NULL)) ||
                             kp_plan_request_parse(doc, &req, errors))) {
                                fprintf(stderr, "what-if body refused\n");
                                return 1;
                        }
                        double t1 = now_ms();
                        kp_plan_t *plan = kp_planner_plan(&req.input, errstr, sizeof(errstr));
                        double t2 = now_ms();
                        kp_buf_t out;
                        kp_buf_init(&out);
                        if (!plan ||
                            kp_plan_json_write(&out, plan, req.input.topics, req.input.topic_cnt)) {
                                fprintf(stderr, "what-if failed\n");
                                return 1;
                        }
                        double t3 = now_ms();
                        json_t *j = kp_plan_to_json(plan, req.input.topics, req.input.topic_cnt);
                        char *s = json_dumps(j, JSON_COMPACT);
                        double t4 = now_ms();
                        if (!s || strcmp(s, out.data)) {
                                fprintf(stderr, "writer and jansson disagree\n");
                                return 1;
                        }
                        best_parse = fmin(best_parse, t1 - t0);
                        best_plan = fmin(best_plan, t2 - t1);
                        best_write = fmin(best_write, t3 - t2);
                        best_tree = fmin(best_tree, t4 - t3);
                        out_len = out.len;
                        free(s);
                        json_decref(j);
                        kp_buf_cleanup(&out);
                        kp_plan_destroy(plan);
                        kp_plan_request_cleanup(&req);
                        json_decref(errors);
                        json_decref(doc);
                }
                printf("\nwhat-if, 10,000 partitions x 1,000 tasks (balanced, with advice, "
                       "%zu KiB out): parse %.3f ms + plan %.3f ms + write %.3f ms = %.3f ms "
                       "(target <= 5 ms); jansson tree + json_dumps %.3f ms\n",
                       out_len / 1024, best_parse, best_plan, best_write,
                       best_parse + best_plan + best_write, best_tree);
                kp_buf_cleanup(&body);
                topo_cleanup(&tp);
        }
        printf("total bench time %.1f s\n", (now_ms() - start) / 1e3);
        return 0;
}
