/* test_planner.c — the planner: invariants over random topologies, balance, stickiness, Flink/Kafka
 * parity, analysis. */
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

/* splitmix64: a seeded PRNG, so every run checks the same topologies */
static uint64_t rng_state;

static uint64_t rnd(void)
{
        uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
}

/* uniform in [lo, hi] */
static int32_t rnd_in(int32_t lo, int32_t hi)
{
        return lo + (int32_t)(rnd() % (uint64_t)(hi - lo + 1));
}

static kp_plan_t *plan_of(const kp_plan_topic_t *topics, size_t K, int32_t T, kp_strategy_t s,
                          const double *w, const int32_t *prev)
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

static size_t total_partitions(const kp_plan_topic_t *topics, size_t K)
{
        size_t P = 0;
        for (size_t t = 0; t < K; t++)
                P += (size_t)topics[t].partitions;
        return P;
}

/* Every partition has exactly one owner in 0..T-1 (owner is one entry per partition, so
 * "exactly once" means in range) and the analysis agrees with a recount. */
static void check_invariants(const kp_plan_t *plan, const kp_plan_topic_t *topics, size_t K,
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
static void check_balanced(const kp_plan_t *plan, const kp_plan_topic_t *topics, size_t K,
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

/* Lower bounds on moves for a balanced re-plan: partitions of removed tasks always
 * move; a task may keep at most ceil(P/T) in all (only R of them ceil) and at most
 * ceil(p_t/T) of topic t. */
static int64_t moves_lower_bound(const kp_plan_topic_t *topics, size_t K, int32_t T,
                                 const int32_t *prev)
{
        size_t P = total_partitions(topics, K);
        int64_t *cnt = calloc((size_t)T, sizeof(*cnt));
        int64_t gone = 0, lb_topic = 0, lb_global = 0;
        size_t off = 0;
        assert_non_null(cnt);
        for (size_t i = 0; i < P; i++)
                gone += prev[i] >= T;
        for (size_t t = 0; t < K; t++) {
                int32_t p = topics[t].partitions;
                int64_t ceil_t = p / T + (p % T != 0);
                memset(cnt, 0, (size_t)T * sizeof(*cnt));
                for (int32_t k = 0; k < p; k++)
                        if (prev[off + (size_t)k] >= 0 && prev[off + (size_t)k] < T)
                                cnt[prev[off + (size_t)k]]++;
                for (int32_t j = 0; j < T; j++)
                        lb_topic += cnt[j] > ceil_t ? cnt[j] - ceil_t : 0;
                off += (size_t)p;
        }
        memset(cnt, 0, (size_t)T * sizeof(*cnt));
        for (size_t i = 0; i < P; i++)
                if (prev[i] >= 0 && prev[i] < T)
                        cnt[prev[i]]++;
        /* the R fullest tasks may keep F + 1, the rest F */
        int64_t F = (int64_t)P / T, R = (int64_t)P % T;
        for (int64_t r = 0; r < T; r++) {
                int32_t best = 0;
                for (int32_t j = 1; j < T; j++)
                        if (cnt[j] > cnt[best])
                                best = j;
                int64_t keep = F + (r < R);
                lb_global += cnt[best] > keep ? cnt[best] - keep : 0;
                cnt[best] = -1;
        }
        free(cnt);
        return gone + (lb_topic > lb_global ? lb_topic : lb_global);
}

/*
 * The exact minimum of moves for a balanced re-plan, by min-cost flow (a reference for
 * the tests, small inputs only). Task j holds f_t (+1 for r_t tasks: the "extras") of
 * topic t and, with E = P/T - sum(f_t), takes E extras (E + 1 for P % T tasks). An
 * extra at (t, j) keeps one more partition in place when j held more than f_t of t
 * before. Network: S -> topic t (r_t) -> task j (1, cost -1 when useful) -> sink (E),
 * and task j -> X (1) -> sink (P % T). Moves = previously placed partitions - kept.
 */
typedef struct mcf_edge {
        int to, cap, cost, rev;
} mcf_edge_t;

typedef struct mcf {
        mcf_edge_t *e;
        int *head_cnt, **adj, n, ne;
} mcf_t;

static void mcf_add(mcf_edge_t *e, int *ne, int **adj, int *deg, int a, int b, int cap, int cost)
{
        e[*ne] = (mcf_edge_t){b, cap, cost, *ne + 1};
        e[*ne + 1] = (mcf_edge_t){a, 0, -cost, *ne};
        adj[a][deg[a]++] = *ne;
        adj[b][deg[b]++] = *ne + 1;
        *ne += 2;
}

static int64_t moves_optimum(const kp_plan_topic_t *topics, size_t K, int32_t T,
                             const int32_t *prev)
{
        size_t P = total_partitions(topics, K);
        int64_t F = (int64_t)P / T, R = (int64_t)P % T, sum_f = 0, placed = 0, base = 0;
        int n = (int)K + T + 3, S = (int)K + T, X = S + 1, D = S + 2;
        int me = 2 * ((int)K * T + (int)K + 2 * T + 1);
        mcf_edge_t *e = malloc((size_t)me * sizeof(*e));
        int **adj = malloc((size_t)n * sizeof(*adj)), *deg = calloc((size_t)n, sizeof(int));
        int64_t *cnt = calloc((size_t)T, sizeof(*cnt));
        for (int v = 0; v < n; v++)
                adj[v] = malloc((size_t)(K + (size_t)T + 3) * sizeof(int));
        int ne = 0;
        for (size_t t = 0; t < K; t++)
                sum_f += topics[t].partitions / T;
        int E = (int)(F - sum_f);
        size_t off = 0;
        for (size_t t = 0; t < K; t++) {
                int32_t p = topics[t].partitions, f = p / T;
                memset(cnt, 0, (size_t)T * sizeof(*cnt));
                for (int32_t k = 0; k < p; k++) {
                        int32_t o = prev[off + (size_t)k];
                        placed += o >= 0;
                        if (o >= 0 && o < T)
                                cnt[o]++;
                }
                mcf_add(e, &ne, adj, deg, S, (int)t, p % T, 0);
                for (int32_t j = 0; j < T; j++) {
                        base += cnt[j] < f ? cnt[j] : f;
                        mcf_add(e, &ne, adj, deg, (int)t, (int)K + j, 1, cnt[j] > f ? -1 : 0);
                }
                off += (size_t)p;
        }
        for (int32_t j = 0; j < T; j++) {
                mcf_add(e, &ne, adj, deg, (int)K + j, D, E, 0);
                mcf_add(e, &ne, adj, deg, (int)K + j, X, 1, 0);
        }
        mcf_add(e, &ne, adj, deg, X, D, (int)R, 0);
        /* successive shortest paths with Bellman-Ford (graphs here are tiny) */
        int64_t cost = 0;
        int *dist = malloc((size_t)n * sizeof(int)), *pe = malloc((size_t)n * sizeof(int));
        for (;;) {
                for (int v = 0; v < n; v++)
                        dist[v] = INT32_MAX, pe[v] = -1;
                dist[S] = 0;
                for (int it = 0, ch = 1; it < n && ch; it++) {
                        ch = 0;
                        for (int v = 0; v < n; v++) {
                                if (dist[v] == INT32_MAX)
                                        continue;
                                for (int x = 0; x < deg[v]; x++) {
                                        mcf_edge_t *ed = &e[adj[v][x]];
                                        if (ed->cap > 0 && dist[v] + ed->cost < dist[ed->to]) {
                                                dist[ed->to] = dist[v] + ed->cost;
                                                pe[ed->to] = adj[v][x];
                                                ch = 1;
                                        }
                                }
                        }
                }
                if (dist[D] == INT32_MAX)
                        break;
                for (int v = D; v != S; v = e[e[pe[v]].rev].to) {
                        e[pe[v]].cap--;
                        e[e[pe[v]].rev].cap++;
                }
                cost += dist[D];
        }
        for (int v = 0; v < n; v++)
                free(adj[v]);
        free(pe);
        free(dist);
        free(cnt);
        free(deg);
        free(adj);
        free(e);
        return placed - (base - cost);
}

static kp_plan_topic_t *random_topics(size_t *Kp, int32_t maxp)
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

static kp_plan_topic_t seed3[] = {
        {"demo-a", "orders", 10}, {"demo-b", "payments", 10}, {"demo-c", "clicks", 10}};

static void test_sticky_30_to_31_moves_nothing(void **state)
{
        (void)state;
        kp_plan_t *p30 = plan_of(seed3, 3, 30, KP_STRATEGY_BALANCED, NULL, NULL);
        kp_plan_t *p31 = plan_of(seed3, 3, 31, KP_STRATEGY_BALANCED, NULL, p30->owner);
        check_invariants(p31, seed3, 3, 31, p30->owner);
        check_balanced(p31, seed3, 3, 31);
        assert_int_equal(p31->analysis.moved_from_previous, 0);
        assert_int_equal(p31->analysis.idle_tasks, 1);
        kp_plan_destroy(p31);
        kp_plan_destroy(p30);
}

static void test_sticky_30_to_15_moves_exactly_15(void **state)
{
        (void)state;
        kp_plan_t *p30 = plan_of(seed3, 3, 30, KP_STRATEGY_BALANCED, NULL, NULL);
        kp_plan_t *p15 = plan_of(seed3, 3, 15, KP_STRATEGY_BALANCED, NULL, p30->owner);
        check_invariants(p15, seed3, 3, 15, p30->owner);
        check_balanced(p15, seed3, 3, 15);
        assert_int_equal(p15->analysis.moved_from_previous, 15);
        /* and back up: 15 -> 30 moves exactly the 15 that must land on new tasks */
        kp_plan_t *back = plan_of(seed3, 3, 30, KP_STRATEGY_BALANCED, NULL, p15->owner);
        check_balanced(back, seed3, 3, 30);
        assert_int_equal(back->analysis.moved_from_previous, 15);
        kp_plan_destroy(back);
        kp_plan_destroy(p15);
        kp_plan_destroy(p30);
}

/* Every topic grows by 10% on a group where each task held one partition: the new
 * partitions fit on tasks that lack their topic, so nothing moves (Kafka's assignors
 * move none here either; the capacities once all went to one topic's holders and ten
 * partitions moved). */
static void test_sticky_topics_grown_by_a_tenth_move_nothing(void **state)
{
        (void)state;
        enum { K = 10, OLD = 100, NEW = 110, T = 1000 };
        kp_plan_topic_t topics[K];
        char names[K][16];
        int32_t prev[K * NEW];
        for (int t = 0; t < K; t++) {
                snprintf(names[t], sizeof(names[t]), "topic-%02d", t);
                topics[t] = (kp_plan_topic_t){"c", names[t], NEW};
                for (int p = 0; p < NEW; p++)
                        prev[t * NEW + p] = p < OLD ? t * OLD + p : -1;
        }
        kp_plan_t *plan = plan_of(topics, K, T, KP_STRATEGY_BALANCED, NULL, prev);
        check_invariants(plan, topics, K, T, prev);
        check_balanced(plan, topics, K, T);
        assert_int_equal(plan->analysis.moved_from_previous, 0);
        kp_plan_destroy(plan);
}

/* Re-planning with the same input and its own plan as previous moves nothing. */
static void test_sticky_replan_of_itself_moves_nothing(void **state)
{
        (void)state;
        rng_state = 99;
        for (int iter = 0; iter < 500; iter++) {
                size_t K;
                kp_plan_topic_t *topics = random_topics(&K, 60);
                int32_t T = rnd_in(1, 80);
                kp_strategy_t s = rnd() % 2 ? KP_STRATEGY_BALANCED : KP_STRATEGY_WEIGHTED;
                kp_plan_t *a = plan_of(topics, K, T, s, NULL, NULL);
                kp_plan_t *b = plan_of(topics, K, T, s, NULL, a->owner);
                assert_int_equal(b->analysis.moved_from_previous, 0);
                kp_plan_destroy(b);
                kp_plan_destroy(a);
                free(topics);
        }
}

/* Random previous plans (from another parallelism, a random scatter, or a plan with new
 * partitions): balance always holds, and moves stay at or near the lower bound. */
static void test_sticky_random_moves_near_minimal(void **state)
{
        (void)state;
        rng_state = 1234;
        int64_t total_moved = 0, total_lb = 0, exact = 0, runs = 2000;
        for (int iter = 0; iter < runs; iter++) {
                size_t K;
                kp_plan_topic_t *topics = random_topics(&K, 50);
                size_t P = total_partitions(topics, K);
                int32_t T = rnd_in(1, 60);
                int32_t *prev = malloc(P * sizeof(*prev));
                int kind = iter % 3;
                if (kind == 0) {
                        /* a balanced plan at another parallelism */
                        int32_t T0 = rnd_in(1, 60);
                        kp_plan_t *p0 = plan_of(topics, K, T0, KP_STRATEGY_BALANCED, NULL, NULL);
                        memcpy(prev, p0->owner, P * sizeof(*prev));
                        kp_plan_destroy(p0);
                } else if (kind == 1) {
                        for (size_t i = 0; i < P; i++)
                                prev[i] = rnd_in(0, T + 2);
                } else {
                        /* a flink plan, with some partitions new */
                        kp_plan_t *p0 = plan_of(topics, K, T, KP_STRATEGY_FLINK, NULL, NULL);
                        for (size_t i = 0; i < P; i++)
                                prev[i] = rnd() % 5 ? p0->owner[i] : -1;
                        kp_plan_destroy(p0);
                }
                kp_plan_t *plan = plan_of(topics, K, T, KP_STRATEGY_BALANCED, NULL, prev);
                check_invariants(plan, topics, K, T, prev);
                check_balanced(plan, topics, K, T);
                int64_t lb = moves_optimum(topics, K, T, prev);
                int64_t moved = plan->analysis.moved_from_previous;
                assert_true(moves_lower_bound(topics, K, T, prev) <= lb);
                assert_true(moved >= lb);
                /* near-minimal: within P/8 of the optimum in the worst case */
                if (moved > lb + (int64_t)P / 8 + 1)
                        fail_msg("kind %d K %zu P %zu T %d: moved %lld, optimum %lld", kind, K, P,
                                 T, (long long)moved, (long long)lb);
                exact += moved == lb;
                total_moved += moved;
                total_lb += lb;
                kp_plan_destroy(plan);
                free(prev);
                free(topics);
        }
        print_message("sticky balanced: %lld/%lld runs at the optimum; moved %lld vs optimum "
                      "%lld in all\n",
                      (long long)exact, (long long)runs, (long long)total_moved,
                      (long long)total_lb);
        /* at least 90% of the runs exactly minimal, 1% over the optimum in all */
        assert_true(exact * 100 >= runs * 90);
        assert_true(total_moved <= total_lb + total_lb / 100);
}

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
                cmocka_unit_test(test_java_hash_matches_java_vectors),
                cmocka_unit_test(test_flink_owner_matches_java_start_index),
                cmocka_unit_test(test_balanced_seed_three_cases),
                cmocka_unit_test(test_flink_seed_leaves_tasks_idle_and_advice_names_it),
                cmocka_unit_test(test_no_flink_warning_when_flink_is_even),
                cmocka_unit_test(test_flink_advice_names_the_true_nearest_even_parallelism),
                cmocka_unit_test(test_recommendations_on_parallelism),
                cmocka_unit_test(test_invalid_input_is_refused_with_reason),
                cmocka_unit_test(test_random_topologies_keep_invariants),
                cmocka_unit_test(test_flink_counts_match_flink_owners),
                cmocka_unit_test(test_sticky_30_to_31_moves_nothing),
                cmocka_unit_test(test_sticky_topics_grown_by_a_tenth_move_nothing),
                cmocka_unit_test(test_sticky_30_to_15_moves_exactly_15),
                cmocka_unit_test(test_sticky_replan_of_itself_moves_nothing),
                cmocka_unit_test(test_sticky_random_moves_near_minimal),
                cmocka_unit_test(test_weighted_within_5_percent_of_bound),
                cmocka_unit_test(test_weighted_without_weights_balances_counts),
                cmocka_unit_test(test_weighted_sticky_adding_a_task),
                cmocka_unit_test(test_range_matches_kafka_examples),
                cmocka_unit_test(test_roundrobin_matches_kafka_examples),
                cmocka_unit_test(test_skew_uses_load_when_weights_given),
                cmocka_unit_test(test_flink_advice_figures_match_flink_placement),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
