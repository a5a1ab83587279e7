/* plans.c — a group's next plan: computed from a snapshot, stored, applied. */
#include "app/plans.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/groups.h"
#include "app/partitions.h"
#include "app/rates.h"
#include "base/config.h"
#include "base/err.h"
#include "base/util.h"
#include "db/store.h"
#include "planner/plan_json.h"
#include "planner/planner.h"
#include "runtime/runtime.h"

/* What a replan reads, all at once before any work: the group, the registrations its
 * topics resolve against and the plan in force (NULL: none yet). */
typedef struct replan_src {
        json_t *group;
        kp_app_regs_t regs;
        json_t *prev;
} replan_src_t;

static int replan_src_load(kp_app_t *app, const char *group, replan_src_t *src, char *errstr,
                           size_t errstr_size)
{
        char ignored[256];
        memset(src, 0, sizeof(*src));
        int err = kp_store_group_get(app->store, group, &src->group, errstr, errstr_size);
        if (err) {
                if (err == KP_ERR_NOT_FOUND)
                        snprintf(errstr, errstr_size, "no group named %s", group);
                return err;
        }
        err = kp_app_regs_load(app->store, &src->regs, errstr, errstr_size);
        if (!err && kp_store_plan_get(app->store, group, 0, &src->prev, ignored, sizeof(ignored)))
                src->prev = NULL; /* never planned */
        return err;
}

static void replan_src_cleanup(replan_src_t *src)
{
        json_decref(src->group);
        kp_app_regs_cleanup(&src->regs);
        json_decref(src->prev);
}

/* Weights in flat order from an array of {cluster, topic, partition, weight}; NULL
 * when @p list is empty. Unknown partitions are ignored; missing ones weigh @p dflt. */
static double *weights_flat(const json_t *list, const kp_plan_topic_t *topics, size_t n,
                            double dflt)
{
        size_t total = 0;
        if (!json_array_size(list))
                return NULL;
        for (size_t i = 0; i < n; i++)
                total += (size_t)topics[i].partitions;
        double *w = malloc(total * sizeof(*w));
        if (!w)
                return NULL;
        for (size_t i = 0; i < total; i++)
                w[i] = dflt;
        size_t k;
        json_t *e;
        json_array_foreach(list, k, e)
        {
                const char *c = json_string_value(json_object_get(e, "cluster"));
                const char *t = json_string_value(json_object_get(e, "topic"));
                json_int_t p = json_integer_value(json_object_get(e, "partition"));
                size_t off = 0;
                for (size_t i = 0; i < n; off += (size_t)topics[i].partitions, i++) {
                        if (c && t && !strcmp(topics[i].cluster, c) &&
                            !strcmp(topics[i].topic, t) && p >= 0 && p < topics[i].partitions) {
                                w[off + (size_t)p] =
                                        json_number_value(json_object_get(e, "weight"));
                                break;
                        }
                }
        }
        return w;
}

/* Parallelism and strategy of the next plan: asked for in @p opts, else the group's
 * (else one task per partition, balanced). */
static void replan_shape(const json_t *opts, const json_t *group, int64_t total, int32_t *parp,
                         kp_strategy_t *strategyp)
{
        json_t *jp = json_object_get(opts, "parallelism");
        if (!json_is_integer(jp))
                jp = json_object_get(group, "parallelism");
        *parp = json_is_integer(jp)
                        ? (int32_t)json_integer_value(jp)
                        : (int32_t)(total < KP_PARALLELISM_MAX ? total : KP_PARALLELISM_MAX);
        json_t *js = json_object_get(opts, "strategy");
        if (!json_is_string(js))
                js = json_object_get(group, "strategy");
        *strategyp = KP_STRATEGY_BALANCED;
        if (json_is_string(js))
                kp_strategy_parse(json_string_value(js), strategyp);
}

/* The weights a plan of @p strategy balances (NULL: none): asked for, else the running
 * group's measured messages/s, else (weighted, not running) sampled from the log ends. */
static double *replan_weights(kp_app_t *app, const char *group, const json_t *opts,
                              kp_strategy_t strategy, const kp_plan_topic_t *topics, size_t n)
{
        json_t *rates = NULL;
        json_t *jw = json_object_get(opts, "weights");
        const int wants_weights = (kp_strategy_desc(strategy)->flags & KP_STRATEGY_F_WEIGHTS) != 0;
        if (wants_weights && !json_array_size(jw) && app->rt &&
            !kp_runtime_group_rates(app->rt, group, &rates))
                jw = rates;
        /* a partition never measured weighs a little, so it still gets spread */
        double *weights = weights_flat(jw, topics, n, 0.001);
        json_decref(rates);
        if (wants_weights && !weights)
                kp_app_rates_sample(app->store, app->emb, app->metadata_timeout_ms, topics, n,
                                    &weights);
        return weights;
}

/* Stores @p plan as group @p group's next version; *planp = the stored doc. */
static int replan_store(kp_app_t *app, const char *group, const kp_plan_t *plan,
                        const kp_plan_topic_t *topics, size_t n, json_t **planp, char *errstr,
                        size_t errstr_size)
{
        char now[32];
        json_t *pj = kp_plan_to_json(plan, topics, n);
        if (!pj)
                return KP_ERR_NOMEM;
        kp_time_iso8601(now, sizeof(now));
        /* key order of the answer: group, version (set by the store), parallelism, ... */
        json_t *full = json_pack("{s:s, s:O, s:O, s:s, s:O, s:O}", "group", group, "parallelism",
                                 json_object_get(pj, "parallelism"), "strategy",
                                 json_object_get(pj, "strategy"), "created_at", now, "tasks",
                                 json_object_get(pj, "tasks"), "analysis",
                                 json_object_get(pj, "analysis"));
        json_decref(pj);
        if (!full)
                return KP_ERR_NOMEM;
        int version = 0;
        int err = kp_store_plan_add(app->store, group, full, &version, errstr, errstr_size);
        json_decref(full);
        /* answer what is stored: "version" sits after "group" there */
        if (!err)
                err = kp_store_plan_get(app->store, group, version, planp, errstr, errstr_size);
        return err;
}

int kp_app_group_replan_locked(kp_app_t *app, const char *group, const json_t *opts, json_t **planp,
                               char *errstr, size_t errstr_size)
{
        replan_src_t src;
        kp_plan_topic_t *topics = NULL;
        int32_t *prev_owner = NULL;
        double *weights = NULL;
        kp_plan_t *plan = NULL;
        size_t n = 0;
        int64_t total = 0;
        int32_t par;
        kp_strategy_t strategy;
        int err = replan_src_load(app, group, &src, errstr, errstr_size);
        if (!err)
                err = kp_app_group_topics(&src.regs, src.group, 0, &topics, &n, errstr,
                                          errstr_size);
        if (err)
                goto out;
        for (size_t i = 0; i < n; i++)
                total += topics[i].partitions;
        replan_shape(opts, src.group, total, &par, &strategy);
        if (src.prev && kp_plan_previous_owners(src.prev, topics, n, &prev_owner)) {
                err = KP_ERR_NOMEM;
                goto out;
        }
        weights = replan_weights(app, group, opts, strategy, topics, n);
        kp_plan_input_t in = {.topics = topics,
                              .topic_cnt = n,
                              .parallelism = par,
                              .strategy = strategy,
                              .weights = weights,
                              .previous_owner = prev_owner,
                              .rebalance = json_is_true(json_object_get(src.group, "rebalance"))};
        plan = kp_planner_plan(&in, errstr, errstr_size);
        if (!plan) {
                err = KP_ERR_UNPROCESSABLE;
                goto out;
        }
        err = replan_store(app, group, plan, topics, n, planp, errstr, errstr_size);
out:
        kp_plan_destroy(plan);
        free(weights);
        free(prev_owner);
        free(topics);
        replan_src_cleanup(&src);
        return err;
}

int kp_app_group_replan(kp_app_t *app, const char *group, const json_t *opts, json_t **planp,
                        char *errstr, size_t errstr_size)
{
        kp_app_group_lock(app, group);
        int err = kp_app_group_replan_locked(app, group, opts, planp, errstr, errstr_size);
        kp_app_group_unlock(app, group);
        return err;
}

/* 1 when group @p group has tasks a plan can be applied to. */
static int group_takes_plans(kp_app_t *app, const char *group)
{
        int st = app->rt ? kp_runtime_group_state(app->rt, group, NULL, 0) : KP_GROUP_STOPPED;
        return st == KP_GROUP_RUNNING || st == KP_GROUP_STARTING;
}

int kp_app_group_plan(kp_app_t *app, const char *group, const json_t *opts, int apply,
                      json_t **planp, int *apply_errp, char *errstr, size_t errstr_size)
{
        *apply_errp = 0;
        kp_app_group_lock(app, group);
        int err = kp_app_group_replan_locked(app, group, opts, planp, errstr, errstr_size);
        if (!err && apply && group_takes_plans(app, group))
                *apply_errp = kp_app_group_apply_locked(app, group, *planp, errstr, errstr_size);
        kp_app_group_unlock(app, group);
        return err;
}

/* 1 when group doc @p g reads a topic of cluster @p cluster. */
static int group_uses(const json_t *g, const char *cluster)
{
        size_t j;
        json_t *t;
        json_array_foreach(json_object_get(g, "topics"), j, t)
        {
                const char *c = json_string_value(json_object_get(t, "cluster"));
                if (c && !strcmp(c, cluster))
                        return 1;
        }
        return 0;
}

/* Replans group @p name with the parallelism and strategy of its plan in force (none:
 * nothing to do) and applies it when the group runs, under the group's lock. */
static void group_follow_partitions(kp_app_t *app, const char *name, const char *cluster)
{
        char errstr[512];
        json_t *cur = NULL, *plan = NULL, *opts = NULL;
        kp_app_group_lock(app, name);
        if (kp_store_plan_get(app->store, name, 0, &cur, errstr, sizeof(errstr)))
                goto out;
        /* same parallelism and strategy as the plan in force, sticky */
        opts = json_pack("{s:O, s:O}", "parallelism", json_object_get(cur, "parallelism"),
                         "strategy", json_object_get(cur, "strategy"));
        if (kp_app_group_replan_locked(app, name, opts, &plan, errstr, sizeof(errstr)))
                goto out;
        fprintf(stderr,
                "kplane: partitions of cluster %s changed: group %s re-planned as version %d\n",
                cluster, name, (int)json_integer_value(json_object_get(plan, "version")));
        if (group_takes_plans(app, name) &&
            kp_app_group_apply_locked(app, name, plan, errstr, sizeof(errstr)))
                fprintf(stderr, "kplane: group %s: cannot apply: %s\n", name, errstr);
out:
        kp_app_group_unlock(app, name);
        json_decref(opts);
        json_decref(plan);
        json_decref(cur);
}

void kp_app_partitions_changed(void *opaque, const char *cluster)
{
        kp_app_t *app = opaque;
        char errstr[512];
        json_t *groups = NULL, *g;
        size_t i;
        if (kp_store_group_list(app->store, &groups, errstr, sizeof(errstr)))
                return;
        json_array_foreach(groups, i, g)
        {
                const char *name = json_string_value(json_object_get(g, "name"));
                if (name && group_uses(g, cluster))
                        group_follow_partitions(app, name, cluster);
        }
        json_decref(groups);
}
