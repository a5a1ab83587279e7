/* bench_growth.c — how the planner's and the what-if's time grows with partitions and tasks: a
 * log-log least-squares slope per strategy, beside the slopes its claimed cost would give. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "planner/plan_json.h"
#include "planner/planner.h"

/*
 * server/planner/planner.h claims O(P + T + K log K) for flink (and range, roundrobin) and for a
 * fresh balanced plan (flat index % T), plus O(T log T) for a sticky balanced re-plan,
 * and O(P log P) for weighted; a what-if answer is O(P + T) bytes (plan_json.h). The
 * slope of time against P (or T) on a log-log scale reads those claims directly, once
 * set beside "ref": the slope the claimed cost function itself has over the same points
 * (1.00 for O(P); a little more for O(P log P), how much depending on the range; near
 * 0 against T with P fixed for O(P + T), until T approaches P).
 *
 * Layout: 10 topics of P/10 partitions (as bench_vs_assignors), "topic-NN" in one
 * cluster; weighted gets exponential random weights. Each point is the best of several
 * runs (see measure()): the fit is about shape, and the best run is the one least
 * disturbed by the other work on a shared machine. Recommendations (the advice)
 * are off for the planner rows, as in the assignor comparison; the what-if keeps them,
 * as POST /api/v1/plan does, and runs parse + plan + write of the answer in-process.
 * The sticky re-plan adds one task to a fresh plan of T - 1 tasks.
 *
 * Usage: bench_growth [--quick]   (--quick: small sweeps for a smoke run)
 * Output, one line per point, then one per fit:
 *   point=<series> axis=<P|T> partitions=<P> tasks=<T> ms=<best>
 *   slope=<series> axis=<P|T> value=<b> r2=<r2> points=<n> from=<x0> to=<x1>
 *         fixed=<the other one> ref=<slope of the claimed cost> claim=<text>
 */

#define TOPICS 10

typedef enum series { S_BALANCED, S_STICKY, S_FLINK, S_WEIGHTED, S_WHATIF, S__CNT } series_t;

static const char *const series_names[S__CNT] = {"balanced", "balanced_sticky", "flink", "weighted",
                                                 "whatif"};
static const char *const series_claims[S__CNT] = {"O(P+T+K_log_K)", "O(P+T_log_T+K_log_K)",
                                                  "O(P+T+K_log_K)", "O(P_log_P)", "O(P+T)"};

/* The claimed cost at P, T (K = 10 is fixed here, so K log K drops out). */
static double claimed(series_t s, double P, double T)
{
        switch (s) {
        case S_STICKY: return P + T * log2(T > 2 ? T : 2);
        case S_WEIGHTED: return P * log2(P);
        default: return P + T;
        }
}

static double now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

typedef struct topo {
        kp_plan_topic_t topics[TOPICS];
        char names[TOPICS][16];
        double *w;
} topo_t;

/* @returns 0, or -1 out of memory */
static int topo_init(topo_t *t, int32_t P)
{
        uint64_t x = 88172645463325252ull;
        for (int k = 0; k < TOPICS; k++) {
                snprintf(t->names[k], sizeof(t->names[k]), "topic-%02d", k);
                t->topics[k] = (kp_plan_topic_t){"bench", t->names[k], P / TOPICS};
        }
        t->w = malloc((size_t)P * sizeof(*t->w));
        if (!t->w)
                return -1;
        for (int32_t i = 0; i < P; i++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                t->w[i] = -log(((double)(x % 1000000) + 1) / 1000001.0);
        }
        return 0;
}

/* One what-if as POST /api/v1/plan runs it besides HTTP: parse the body, plan with the
 * advice, write the answer. @returns its time in ms, or -1 on failure. */
static double time_whatif(const topo_t *t, int32_t T)
{
        kp_buf_t body, out;
        kp_plan_request_t req;
        json_t *doc = NULL, *errors = json_array();
        kp_plan_t *plan = NULL;
        char errstr[128];
        double ms = -1;

        kp_buf_init(&body);
        kp_buf_init(&out);
        memset(&req, 0, sizeof(req));
        kp_buf_append(&body, "{\"topics\":[", 11);
        for (int k = 0; k < TOPICS; k++)
                kp_buf_printf(&body, "%s{\"cluster\":\"bench\",\"topic\":\"%s\",\"partitions\":%d}",
                              k ? "," : "", t->names[k], (int)t->topics[k].partitions);
        kp_buf_printf(&body, "],\"parallelism\":%d}", (int)T);
        double t0 = now_ms();
        /* as kp_h_whatif parses: the plain form, else through jansson */
        if (kp_plan_request_parse_plain(body.data, body.len, &req) &&
            (!(doc = json_loadb(body.data, body.len, 0, NULL)) ||
             kp_plan_request_parse(doc, &req, errors)))
                goto out;
        plan = kp_planner_plan(&req.input, errstr, sizeof(errstr));
        if (!plan || kp_plan_json_write(&out, plan, req.input.topics, req.input.topic_cnt))
                goto out;
        ms = now_ms() - t0;
out:
        kp_plan_destroy(plan);
        kp_plan_request_cleanup(&req);
        json_decref(errors);
        json_decref(doc);
        kp_buf_cleanup(&out);
        kp_buf_cleanup(&body);
        return ms;
}

/* Best of at least MIN_REPS runs of series @p s at P, T, more (up to MAX_REPS) while they
 * take less than REPS_MS in all: cheap points get many tries at an undisturbed run.
 * @returns ms, or -1 on failure. */
#define MIN_REPS 3
#define MAX_REPS 25
#define REPS_MS  150.0
static double measure(series_t s, const topo_t *t, int32_t T)
{
        double spent = 0;
        char errstr[256];
        double best = INFINITY;
        kp_plan_t *prev = NULL;
        kp_plan_input_t in = {.topics = t->topics,
                              .topic_cnt = TOPICS,
                              .parallelism = T,
                              .strategy = s == S_FLINK      ? KP_STRATEGY_FLINK
                                          : s == S_WEIGHTED ? KP_STRATEGY_WEIGHTED
                                                            : KP_STRATEGY_BALANCED,
                              .weights = s == S_WEIGHTED ? t->w : NULL,
                              .skip_recommendations = 1};
        if (s == S_STICKY) {
                in.parallelism = T > 1 ? T - 1 : 1;
                prev = kp_planner_plan(&in, errstr, sizeof(errstr));
                if (!prev)
                        return -1;
                in.parallelism = T;
                in.previous_owner = prev->owner;
        }
        for (int r = 0; r < MAX_REPS && (r < MIN_REPS || spent < REPS_MS); r++) {
                double dt;
                if (s == S_WHATIF) {
                        dt = time_whatif(t, T);
                } else {
                        double t0 = now_ms();
                        kp_plan_t *plan = kp_planner_plan(&in, errstr, sizeof(errstr));
                        dt = now_ms() - t0;
                        if (!plan)
                                dt = -1;
                        kp_plan_destroy(plan);
                }
                if (dt < 0) {
                        best = -1;
                        break;
                }
                best = dt < best ? dt : best;
                spent += dt;
        }
        kp_plan_destroy(prev);
        return best;
}

/* Least-squares slope of log(y) on log(x), and r². */
static void fit(const double *x, const double *y, size_t n, double *slope, double *r2)
{
        double mx = 0, my = 0, sxx = 0, sxy = 0, syy = 0;
        for (size_t i = 0; i < n; i++) {
                mx += log(x[i]);
                my += log(y[i]);
        }
        mx /= (double)n;
        my /= (double)n;
        for (size_t i = 0; i < n; i++) {
                double dx = log(x[i]) - mx, dy = log(y[i]) - my;
                sxx += dx * dx;
                sxy += dx * dy;
                syy += dy * dy;
        }
        *slope = sxx > 0 ? sxy / sxx : NAN;
        *r2 = sxx > 0 && syy > 0 ? sxy * sxy / (sxx * syy) : NAN;
}

/* Sweeps series @p s along one axis: @p xs are P (axis 'P', T = @p fixed) or T (axis
 * 'T', P = @p fixed). Prints the points and the fit. @returns 0 or -1. */
static int sweep(series_t s, char axis, const int32_t *xs, size_t n, int32_t fixed)
{
        double x[16], y[16], ref[16], slope, r2, ref_slope, ref_r2;
        topo_t t;
        int have = 0;

        for (size_t i = 0; i < n; i++) {
                int32_t P = axis == 'P' ? xs[i] : fixed, T = axis == 'P' ? fixed : xs[i];
                if (!have || axis == 'P') {
                        if (have)
                                free(t.w);
                        if (topo_init(&t, P))
                                return -1;
                        have = 1;
                }
                double ms = measure(s, &t, T);
                if (ms < 0) {
                        fprintf(stderr, "bench_growth: %s failed at P=%d T=%d\n", series_names[s],
                                (int)P, (int)T);
                        free(t.w);
                        return -1;
                }
                /* a point below the clock's reach would bend the fit: 1 ns floor */
                x[i] = xs[i];
                y[i] = ms > 1e-6 ? ms : 1e-6;
                ref[i] = claimed(s, P, T);
                printf("point=%s axis=%c partitions=%d tasks=%d ms=%.4f\n", series_names[s], axis,
                       (int)P, (int)T, ms);
                fflush(stdout);
        }
        free(t.w);
        fit(x, y, n, &slope, &r2);
        fit(x, ref, n, &ref_slope, &ref_r2);
        printf("slope=%s axis=%c value=%.3f r2=%.3f points=%zu from=%d to=%d fixed=%d ref=%.3f "
               "claim=%s\n",
               series_names[s], axis, slope, r2, n, (int)xs[0], (int)xs[n - 1], (int)fixed,
               ref_slope, series_claims[s]);
        fflush(stdout);
        return 0;
}

int main(int argc, char **argv)
{
        static const int32_t Ps[] = {10000, 20000, 50000, 100000, 200000, 500000, 1000000};
        static const int32_t Ts[] = {10, 100, 1000, 10000, 100000};
        static const int32_t quick_Ps[] = {10000, 20000, 50000, 100000};
        static const int32_t quick_Ts[] = {10, 100, 1000, 10000};
        const int quick = argc > 1 && !strcmp(argv[1], "--quick");
        const int32_t *P = quick ? quick_Ps : Ps, *T = quick ? quick_Ts : Ts;
        const size_t np = quick ? 4 : 7, nt = quick ? 4 : 5;
        /* T sweeps at P = 100k (10k quick): large enough that P dominates at small T, small
         * enough that T = P is in range, where a T term would show */
        const int32_t t_fixed_p = quick ? 10000 : 100000, p_fixed_t = 1000;
        double start = now_ms();

        if (argc > 1 && !quick) {
                fprintf(stderr, "usage: bench_growth [--quick]\n");
                return 2;
        }
        for (int s = 0; s < S__CNT; s++) {
                if (sweep((series_t)s, 'P', P, np, p_fixed_t) ||
                    sweep((series_t)s, 'T', T, nt, t_fixed_p))
                        return 1;
        }
        printf("# total %.1f s\n", (now_ms() - start) / 1e3);
        return 0;
}
