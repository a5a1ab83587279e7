/* planner.c — the planner's entry point: validates the input, runs a strategy, analyses the result
 * and advises. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/err.h"
#include "planner/planner_int.h"

const char *kp_plan_case_name(kp_plan_case_t c)
{
        switch (c) {
        case KP_CASE_EQUAL: return "partitions_equal_parallelism";
        case KP_CASE_BELOW: return "partitions_below_parallelism";
        case KP_CASE_ABOVE: return "partitions_above_parallelism";
        }
        return "unknown";
}

void kp_plan_destroy(kp_plan_t *plan)
{
        if (!plan)
                return;
        for (size_t i = 0; i < plan->analysis.recommendation_cnt; i++)
                free(plan->analysis.recommendations[i]);
        free(plan->analysis.recommendations);
        free(plan->owner);
        free(plan);
}

/* Appends one formatted recommendation. @returns 0 or KP_ERR_NOMEM. */
__attribute__((format(printf, 2, 3))) static int rec_add(kp_plan_analysis_t *a, const char *fmt,
                                                         ...)
{
        char buf[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        char **r = realloc(a->recommendations, (a->recommendation_cnt + 1) * sizeof(*r));
        if (!r)
                return KP_ERR_NOMEM;
        a->recommendations = r;
        if (!(r[a->recommendation_cnt] = strdup(buf)))
                return KP_ERR_NOMEM;
        a->recommendation_cnt++;
        return 0;
}

/* Flink's startIndex for a precomputed Java hash (see planner_kafka.c). */
static int32_t start_of(int32_t hash, int32_t T)
{
        return (int32_t)((((uint32_t)hash * 31u) & 0x7FFFFFFFu) % (uint32_t)T);
}

/* A topic's run at @p T: its partitions mod T. This and start_of run for every topic at
 * every candidate T, and a division costs tens of cycles: most topics have fewer
 * partitions than T, which needs none. */
static int32_t run_of(int32_t partitions, int32_t T)
{
        return partitions < T ? partitions : partitions % T;
}

typedef struct ev {
        int32_t pos;
        int32_t delta;
} ev_t;

static int ev_cmp(const void *a, const void *b)
{
        const ev_t *x = a, *y = b;
        return (x->pos > y->pos) - (x->pos < y->pos);
}

/*
 * Topics whose names hash alike (one topic name in several clusters, as in most
 * multi-cluster groups) start their runs at one task s at every T. Coverage steps at s
 * by the runs starting there less the runs ending there (a run shorter than T never
 * covers both s - 1 and s by starting at s); a step of 2 or more puts the busiest task
 * 2 above the least busy, so Flink is uneven. One O(K) look at s (the start of the
 * twins' hash @p hs) spares the sort and sweep of flink_even_at for most candidate T.
 * @returns 1 when it proves @p T uneven.
 */
static int flink_step_uneven(const kp_plan_topic_t *topics, const int32_t *hash, size_t K,
                             int32_t T, int32_t hs)
{
        const int32_t s = start_of(hs, T);
        int64_t step = 0;
        for (size_t t = 0; t < K; t++) {
                int32_t r = run_of(topics[t].partitions, T);
                if (!r)
                        continue;
                /* the twins' start is known: no division for them */
                int32_t st = hash[t] == hs ? s : start_of(hash[t], T), end = st + r; /* < 2T */
                step += (st == s) - ((end >= T ? end - T : end) == s);
        }
        return step >= 2;
}

/*
 * 1 when Flink places these topics evenly at @p T (busiest minus least busy <= 1).
 * Every task gets sum(p / T); what differs is the cyclic run of p % T tasks after each
 * topic's start, so only the coverage of those runs is swept. Cost O(K log K).
 */
static int flink_even_at(const kp_plan_topic_t *topics, const int32_t *hash, size_t K, int32_t T,
                         const int32_t *twin, ev_t *ev)
{
        size_t n = 0;
        if (twin[0] >= 0 && run_of(topics[twin[0]].partitions, T) &&
            run_of(topics[twin[1]].partitions, T) &&
            flink_step_uneven(topics, hash, K, T, hash[twin[0]]))
                return 0;
        for (size_t t = 0; t < K; t++) {
                int32_t r = run_of(topics[t].partitions, T);
                if (!r)
                        continue;
                int32_t s = start_of(hash[t], T);
                ev[n++] = (ev_t){s, 1};
                if (s + r <= T) {
                        ev[n++] = (ev_t){s + r, -1};
                } else {
                        ev[n++] = (ev_t){0, 1};
                        ev[n++] = (ev_t){s + r - T, -1};
                }
        }
        if (!n)
                return 1;
        /* This runs for thousands of candidate T per plan: for the few events of a
         * handful of topics an insertion sort beats qsort's call overhead by far. */
        if (n <= 48) {
                for (size_t x = 1; x < n; x++) {
                        ev_t e = ev[x];
                        size_t y = x;
                        for (; y > 0 && ev[y - 1].pos > e.pos; y--)
                                ev[y] = ev[y - 1];
                        ev[y] = e;
                }
        } else {
                qsort(ev, n, sizeof(*ev), ev_cmp);
        }
        int64_t cov = 0, lo = INT64_MAX, hi = INT64_MIN;
        int32_t at = 0;
        for (size_t x = 0; x < n; x++) {
                if (ev[x].pos > at) {
                        /* the segment [at, pos) has coverage cov */
                        if (cov < lo)
                                lo = cov;
                        if (cov > hi)
                                hi = cov;
                        at = ev[x].pos;
                }
                cov += ev[x].delta;
        }
        if (at < T) {
                if (cov < lo)
                        lo = cov;
                if (cov > hi)
                        hi = cov;
        }
        return hi - lo <= 1;
}

/*
 * Finds two topics whose names hash alike (into @p twin, else -1s; flink_step_uneven
 * uses them) in @p ev (room for K). @returns how far up the search for an even T may
 * look: above P (all partitions) every task's share is just the runs covering it and
 * some task has none, so Flink is even only where no two runs overlap, and twins start
 * at the same task at every T and always overlap: past P the upward search cannot
 * succeed, so it stops there instead of walking its range.
 */
static int32_t flink_twins(const int32_t *hash, size_t K, size_t P, ev_t *ev, int32_t *twin)
{
        twin[0] = twin[1] = -1;
        if (K < 2)
                return KP_PARALLELISM_MAX;
        /* (hash, topic) pairs sorted by hash */
        for (size_t t = 0; t < K; t++)
                ev[t] = (ev_t){hash[t], (int32_t)t};
        qsort(ev, K, sizeof(*ev), ev_cmp);
        for (size_t t = 1; t < K; t++)
                if (ev[t].pos == ev[t - 1].pos) {
                        twin[0] = ev[t - 1].delta;
                        twin[1] = ev[t].delta;
                        return P < (size_t)KP_PARALLELISM_MAX ? (int32_t)P : KP_PARALLELISM_MAX;
                }
        return KP_PARALLELISM_MAX;
}

int kp_planner_flink_advice(const kp_plan_topic_t *topics, size_t topic_cnt, int32_t T,
                            kp_flink_advice_t *out)
{
        const size_t K = topic_cnt;
        int64_t *counts = malloc((size_t)T * sizeof(*counts));
        int32_t *hash = malloc(K * sizeof(*hash));
        ev_t *ev = malloc(3 * K * sizeof(*ev));
        size_t P = 0;
        int err = KP_ERR_NOMEM;
        memset(out, 0, sizeof(*out));
        if (!counts || !hash || !ev)
                goto out;
        for (size_t t = 0; t < K; t++)
                P += (size_t)topics[t].partitions;
        kp_planner_flink_counts(topics, K, T, counts);
        int64_t mx = 0, mn = INT64_MAX;
        for (int32_t j = 0; j < T; j++) {
                if (counts[j] > mx) {
                        mx = counts[j];
                        out->busiest_tasks = 0;
                }
                if (counts[j] == mx)
                        out->busiest_tasks++;
                if (counts[j] < mn)
                        mn = counts[j];
                if (!counts[j])
                        out->idle_tasks++;
        }
        out->max_partitions = mx;
        out->min_partitions = mn;
        out->even = mx - mn <= 1;
        err = 0;
        if (out->even)
                goto out;
        for (size_t t = 0; t < K; t++)
                hash[t] = kp_java_string_hash(topics[t].topic);
        int32_t twin[2];
        int32_t above_max = flink_twins(hash, K, P, ev, twin);
        int32_t below = 0, above = 0;
        int64_t work = 0;
        /* alternate below and above so the budget is shared by both directions */
        for (int32_t d = 1; d <= KP_FLINK_EVEN_SEARCH && work < KP_FLINK_ADVICE_WORK; d++) {
                if (!below && T - d >= 1) {
                        work += (int64_t)K + 1;
                        if (flink_even_at(topics, hash, K, T - d, twin, ev))
                                below = T - d;
                }
                if (!above && T + d <= above_max) {
                        work += (int64_t)K + 1;
                        if (flink_even_at(topics, hash, K, T + d, twin, ev))
                                above = T + d;
                }
                if ((below || T - d < 1) && (above || T + d > above_max))
                        break;
        }
        out->even_below = below;
        out->even_above = above;
out:
        free(ev);
        free(hash);
        free(counts);
        return err;
}

/*
 * Whatever the chosen strategy, says whether Flink's KafkaSource would place these
 * partitions unevenly at T, and where (nearest below and above, within
 * KP_FLINK_EVEN_SEARCH and KP_FLINK_ADVICE_WORK) it would be even.
 */
static int advise_flink(const kp_plan_ctx_t *ctx, kp_plan_analysis_t *a)
{
        const int32_t T = ctx->T;
        kp_flink_advice_t fa;
        int err = kp_planner_flink_advice(ctx->in->topics, ctx->in->topic_cnt, T, &fa);
        if (err || fa.even)
                return err;
        int32_t below = fa.even_below, above = fa.even_above;
        char tail[256];
        if (below && above)
                snprintf(tail, sizeof(tail),
                         "Flink's placement is even at parallelism %d "
                         "(below) or %d (above).",
                         below, above);
        else if (below || above)
                snprintf(tail, sizeof(tail),
                         "The nearest parallelism at which Flink's "
                         "placement is even is %d.",
                         below ? below : above);
        else
                snprintf(tail, sizeof(tail),
                         "No parallelism near %d gives an even Flink "
                         "placement.",
                         T);
        if (fa.idle_tasks)
                return rec_add(a,
                               "Apache Flink's KafkaSource would place these partitions "
                               "unevenly at parallelism %d: %d tasks would sit idle while "
                               "the busiest %d read %lld partitions each. %s",
                               T, fa.idle_tasks, fa.busiest_tasks, (long long)fa.max_partitions,
                               tail);
        return rec_add(a,
                       "Apache Flink's KafkaSource would place these partitions "
                       "unevenly at parallelism %d: the busiest %d tasks would read "
                       "%lld partitions each and the least busy %lld. %s",
                       T, fa.busiest_tasks, (long long)fa.max_partitions,
                       (long long)fa.min_partitions, tail);
}

/* Advice on the parallelism itself: idle tasks, the ideal, or the nearest even splits. */
static int advise_parallelism(const kp_plan_ctx_t *ctx, kp_plan_analysis_t *a)
{
        const kp_plan_input_t *in = ctx->in;
        const long long P = (long long)ctx->P;
        const int32_t T = ctx->T;
        int err = 0;
        if (a->plan_case == KP_CASE_BELOW) {
                if (!in->rebalance)
                        err = rec_add(a,
                                      "%d of %d tasks have no partition to read: the topics "
                                      "have %lld partitions in all. Lower parallelism to "
                                      "%lld (the ideal: one partition per task), or set "
                                      "\"rebalance\": true so the idle tasks share the work.",
                                      a->idle_tasks, T, P, P);
                else
                        err = rec_add(a,
                                      "%d tasks hold no partition of their own (%lld "
                                      "partitions, parallelism %d); with \"rebalance\": true "
                                      "they share the others' work.",
                                      a->idle_tasks, P, T);
        } else if (a->plan_case == KP_CASE_EQUAL) {
                if (a->max_partitions_per_task == 1)
                        err = rec_add(a,
                                      "Parallelism equals the partition count (%lld): every "
                                      "task reads exactly one partition, the ideal.",
                                      P);
        } else if (P % T) {
                int32_t lo = 1, hi = 0;
                for (int32_t d = T - 1; d >= 1; d--) {
                        if (P % d == 0) {
                                lo = d;
                                break;
                        }
                }
                for (long long d = T + 1;
                     d <= P && d <= (long long)T + KP_FLINK_EVEN_SEARCH && d <= KP_PARALLELISM_MAX;
                     d++) {
                        if (P % d == 0) {
                                hi = (int32_t)d;
                                break;
                        }
                }
                long long fl = P / T;
                if (hi)
                        err = rec_add(a,
                                      "%lld partitions do not divide evenly among %d tasks "
                                      "(%lld tasks read %lld, the rest %lld). Parallelism %d "
                                      "or %d splits them evenly; %lld gives the ideal of one "
                                      "partition per task.",
                                      P, T, P % T, fl + 1, fl, lo, hi, P);
                else
                        err = rec_add(a,
                                      "%lld partitions do not divide evenly among %d tasks "
                                      "(%lld tasks read %lld, the rest %lld). Parallelism %d "
                                      "splits them evenly; %lld gives the ideal of one "
                                      "partition per task.",
                                      P, T, P % T, fl + 1, fl, lo, P);
        }
        return err;
}

/* Advice on the parallelism and on the chosen strategy. */
static int advise(const kp_plan_ctx_t *ctx, kp_plan_analysis_t *a, double heaviest, double total)
{
        const kp_plan_input_t *in = ctx->in;
        const long long P = (long long)ctx->P;
        const int32_t T = ctx->T;
        int err = advise_parallelism(ctx, a);
        if (err)
                return err;
        long long ceil_pt = (P + T - 1) / T;
        if ((kp_strategy_desc(in->strategy)->flags & KP_STRATEGY_F_EXTERNAL) &&
            a->max_partitions_per_task > ceil_pt)
                err = rec_add(a,
                              "The %s strategy gives the busiest task %lld partitions; the "
                              "balanced strategy would give at most %lld.",
                              kp_strategy_name(in->strategy), (long long)a->max_partitions_per_task,
                              ceil_pt);
        if (!err && in->weights && total > 0 && heaviest > total / T * 1.05)
                err = rec_add(a,
                              "The heaviest partition carries %.3g of the load, more than "
                              "a task's fair share (%.3g): the busiest task cannot carry "
                              "less than that partition, so load skew stays above 1; "
                              "parallelism %d or lower makes the fair share cover it.",
                              heaviest, total / T,
                              (int)floor(total / heaviest) > 0 ? (int)floor(total / heaviest) : 1);
        if (!err)
                err = advise_flink(ctx, a);
        return err;
}

/*
 * Partitions per task into @p cnt (zeroed, T entries); with @p w also the load per task
 * (@p load, zeroed), the total and the heaviest weight; with @p prev @returns the
 * partitions that moved (new ones, -1, not counted), else 0. Always inlined with constant
 * NULLs, so each case compiles to its own loop. Cost O(P).
 */
static inline __attribute__((always_inline)) int64_t tally(const int32_t *owner, size_t P,
                                                           const double *w, const int32_t *prev,
                                                           int64_t *cnt, double *load,
                                                           double *totalp, double *heaviestp)
{
        double total = 0, heaviest = 0;
        int64_t moved = 0;
        for (size_t i = 0; i < P; i++) {
                const int32_t o = owner[i];
                cnt[o]++;
                if (w) {
                        load[o] += w[i];
                        total += w[i];
                        if (w[i] > heaviest)
                                heaviest = w[i];
                }
                if (prev)
                        moved += prev[i] >= 0 && prev[i] != o;
        }
        *totalp = total;
        *heaviestp = heaviest;
        return moved;
}

int kp_planner_analyse(const kp_plan_ctx_t *ctx, kp_plan_t *plan)
{
        const kp_plan_input_t *in = ctx->in;
        const int32_t T = ctx->T;
        const size_t P = ctx->P;
        kp_plan_analysis_t *a = &plan->analysis;
        /* the strategy's own counts when it has them and no load is asked for */
        const int known = ctx->tally && ctx->tally->filled && !in->weights;
        int64_t *cnt = known ? ctx->tally->cnt : calloc((size_t)T, sizeof(*cnt));
        double *load = in->weights ? calloc((size_t)T, sizeof(*load)) : NULL;
        double total = 0, heaviest = 0;
        int err = KP_ERR_NOMEM;
        if (!cnt || (in->weights && !load))
                goto out;
        const int32_t *owner = plan->owner, *prev = in->previous_owner;
        int64_t moved = -1;
        /* one pass over the owners whatever the inputs: the tally for each case is its own
         * loop once inlined */
        if (known)
                moved = prev ? ctx->tally->moved : -1;
        else if (load && prev)
                moved = tally(owner, P, in->weights, prev, cnt, load, &total, &heaviest);
        else if (load)
                tally(owner, P, in->weights, NULL, cnt, load, &total, &heaviest);
        else if (prev)
                moved = tally(owner, P, NULL, prev, cnt, NULL, &total, &heaviest);
        else
                tally(owner, P, NULL, NULL, cnt, NULL, &total, &heaviest);
        a->plan_case = (int64_t)P == T  ? KP_CASE_EQUAL
                       : (int64_t)P < T ? KP_CASE_BELOW
                                        : KP_CASE_ABOVE;
        a->partitions = (int64_t)P;
        a->tasks = T;
        a->idle_tasks = 0;
        a->min_partitions_per_task = INT64_MAX;
        a->max_partitions_per_task = 0;
        double maxl = 0;
        for (int32_t j = 0; j < T; j++) {
                if (!cnt[j])
                        a->idle_tasks++;
                if (cnt[j] < a->min_partitions_per_task)
                        a->min_partitions_per_task = cnt[j];
                if (cnt[j] > a->max_partitions_per_task)
                        a->max_partitions_per_task = cnt[j];
                if (load && load[j] > maxl)
                        maxl = load[j];
        }
        if (load) {
                a->max_load = maxl;
                a->mean_load = total / T;
        } else {
                a->max_load = (double)a->max_partitions_per_task;
                a->mean_load = (double)P / T;
        }
        /* all-zero weights: nothing to balance, call it even */
        a->skew = a->mean_load > 0 ? a->max_load / a->mean_load : 1.0;
        a->moved_from_previous = moved;
        err = in->skip_recommendations ? 0 : advise(ctx, a, heaviest, total);
out:
        free(load);
        if (!known)
                free(cnt);
        return err;
}

static int validate(const kp_plan_input_t *in, size_t *Pp, char *errstr, size_t errstr_size)
{
        size_t P = 0;
        if (!in || !in->topics || !in->topic_cnt) {
                snprintf(errstr, errstr_size, "no topics to plan");
                return KP_ERR_INVALID;
        }
        if (in->parallelism < 1 || in->parallelism > KP_PARALLELISM_MAX) {
                snprintf(errstr, errstr_size, "parallelism must be 1..%d", KP_PARALLELISM_MAX);
                return KP_ERR_INVALID;
        }
        if (!kp_strategy_name(in->strategy)) {
                snprintf(errstr, errstr_size, "unknown strategy %d", (int)in->strategy);
                return KP_ERR_INVALID;
        }
        for (size_t t = 0; t < in->topic_cnt; t++) {
                if (!in->topics[t].topic || in->topics[t].partitions < 1 ||
                    in->topics[t].partitions > KP_PARTITIONS_PER_TOPIC_MAX) {
                        snprintf(errstr, errstr_size,
                                 "topic %zu: needs a name and 1..%d partitions", t,
                                 KP_PARTITIONS_PER_TOPIC_MAX);
                        return KP_ERR_INVALID;
                }
                P += (size_t)in->topics[t].partitions;
                if (P > KP_PLAN_PARTITIONS_MAX) {
                        snprintf(errstr, errstr_size, "more than %d partitions in one plan",
                                 KP_PLAN_PARTITIONS_MAX);
                        return KP_ERR_TOO_LARGE;
                }
        }
        if (in->weights) {
                for (size_t i = 0; i < P; i++) {
                        if (!isfinite(in->weights[i]) || in->weights[i] < 0) {
                                snprintf(errstr, errstr_size,
                                         "weight of partition %zu must be a number >= 0", i);
                                return KP_ERR_INVALID;
                        }
                }
        }
        *Pp = P;
        return 0;
}

kp_plan_t *kp_planner_plan(const kp_plan_input_t *in, char *errstr, size_t errstr_size)
{
        kp_plan_t *plan = NULL;
        size_t *offset = NULL, P = 0;
        int err;
        if (validate(in, &P, errstr, errstr_size))
                return NULL;
        offset = malloc((in->topic_cnt + 1) * sizeof(*offset));
        plan = calloc(1, sizeof(*plan));
        kp_plan_tally_t tally = {.cnt = calloc((size_t)in->parallelism, sizeof(*tally.cnt))};
        if (!offset || !plan || !tally.cnt || !(plan->owner = malloc(P * sizeof(*plan->owner)))) {
                err = KP_ERR_NOMEM;
                goto out;
        }
        offset[0] = 0;
        for (size_t t = 0; t < in->topic_cnt; t++)
                offset[t + 1] = offset[t] + (size_t)in->topics[t].partitions;
        plan->parallelism = in->parallelism;
        plan->strategy = in->strategy;
        plan->partition_cnt = P;
        kp_plan_ctx_t ctx = {
                .in = in, .offset = offset, .P = P, .T = in->parallelism, .tally = &tally};
        err = kp_strategy_desc(in->strategy)->plan(&ctx, plan->owner);
        if (!err)
                err = kp_planner_analyse(&ctx, plan);
out:
        free(tally.cnt);
        free(offset);
        if (err) {
                snprintf(errstr, errstr_size, "%s",
                         err == KP_ERR_NOMEM ? "out of memory" : "planner invariant broken");
                kp_plan_destroy(plan);
                return NULL;
        }
        return plan;
}
