/* overview.c — GET /api/v1/overview: every group and cluster in figures, from what kplane knows
 * already (store, runtime, planner), without contacting a cluster. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/err.h"
#include "api/handlers.h"
#include "app/cluster.h"
#include "app/partitions.h"
#include "runtime/lag_eval.h"
#include "planner/planner.h"
#include "api/respond.h"
#include "runtime/runtime.h"
#include "db/store.h"
#include "base/util.h"

/* The lag window the runtime judges over, in seconds, for the rules' texts. */
#define LAG_WINDOW_S (KP_LAG_WINDOW * KP_RUNTIME_RATE_INTERVAL_MS / 1000)

/* What every group and cluster is read from: loaded once per request. */
typedef struct overview_src {
        json_t *groups;     /* stored group docs, name order */
        json_t *plans;      /* group name -> current plan summary */
        kp_app_regs_t regs; /* every registration, what the groups' topics resolve to */
} overview_src_t;

static void src_cleanup(overview_src_t *src)
{
        json_decref(src->groups);
        json_decref(src->plans);
        kp_app_regs_cleanup(&src->regs);
}

/* Three queries in all, whatever the number of groups. */
static int src_load(kp_app_t *app, overview_src_t *src, char *errstr, size_t errstr_size)
{
        int err;
        memset(src, 0, sizeof(*src));
        if ((err = kp_store_group_list(app->store, &src->groups, errstr, errstr_size)) ||
            (err = kp_store_plan_current_all(app->store, &src->plans, errstr, errstr_size)) ||
            (err = kp_app_regs_load(app->store, &src->regs, errstr, errstr_size)))
                return err;
        return 0;
}

/* {idle_tasks, even, even_below, even_above, nearest_even_parallelism}: what Flink's
 * KafkaSource would do with the same topics at @p T; null when nothing to place. */
static json_t *flink_view(const kp_plan_topic_t *topics, size_t n, int32_t T)
{
        kp_flink_advice_t fa;
        if (!n || T < 1 || T > KP_PARALLELISM_MAX || kp_planner_flink_advice(topics, n, T, &fa))
                return json_null();
        int32_t nearest = T;
        if (!fa.even) {
                nearest = 0;
                if (fa.even_below && (!fa.even_above || T - fa.even_below <= fa.even_above - T))
                        nearest = fa.even_below;
                else if (fa.even_above)
                        nearest = fa.even_above;
        }
        return json_pack("{s:i, s:b, s:I, s:I, s:o, s:o, s:o}", "idle_tasks", (int)fa.idle_tasks,
                         "even", fa.even, "max_partitions_per_task", (json_int_t)fa.max_partitions,
                         "min_partitions_per_task", (json_int_t)fa.min_partitions, "even_below",
                         fa.even_below ? json_integer(fa.even_below) : json_null(), "even_above",
                         fa.even_above ? json_integer(fa.even_above) : json_null(),
                         "nearest_even_parallelism", nearest ? json_integer(nearest) : json_null());
}

/*
 * The group's lag state in Burrow's terms and the rule that gave it: STOP (nothing
 * reads), ERR (failed, a task failed, a cluster in error), STALL (a partition's offset
 * does not move while messages wait), WARN (a partition's lag grew at every sample),
 * OK, or UNKNOWN (too few samples yet).
 */
static const char *lag_state(int state, const kp_runtime_summary_t *s, char *rule, size_t size)
{
        int stalled = s->lag_states[KP_LAG_STALLED], behind = s->lag_states[KP_LAG_FALLING_BEHIND];
        int unknown = s->lag_states[KP_LAG_UNKNOWN];
        if (state == KP_GROUP_FAILED) {
                snprintf(rule, size, "the group failed: %s", s->error[0] ? s->error : "error");
                return "ERR";
        }
        if (state != KP_GROUP_RUNNING) {
                snprintf(rule, size, "the group is %s: no task reads its partitions",
                         kp_group_state_name(state));
                return state == KP_GROUP_STARTING ? "UNKNOWN" : "STOP";
        }
        if (s->tasks_failed) {
                snprintf(rule, size, "%d of %d tasks failed", s->tasks_failed, s->tasks);
                return "ERR";
        }
        if (s->clusters_in_error) {
                snprintf(rule, size, "%d cluster%s in error (commits or fetches fail)",
                         s->clusters_in_error, s->clusters_in_error == 1 ? "" : "s");
                return "ERR";
        }
        if (stalled) {
                snprintf(rule, size,
                         "%d of %d partitions stalled: the offset did not move over the last "
                         "%d s while messages wait",
                         stalled, s->partitions, LAG_WINDOW_S);
                return "STALL";
        }
        if (behind) {
                snprintf(rule, size,
                         "%d of %d partitions falling behind: the lag grew between every two "
                         "samples of the last %d s",
                         behind, s->partitions, LAG_WINDOW_S);
                return "WARN";
        }
        if (s->partitions && unknown == s->partitions) {
                snprintf(rule, size, "fewer than %d samples of the offsets yet",
                         KP_LAG_MIN_SAMPLES);
                return "UNKNOWN";
        }
        snprintf(rule, size, "every partition caught up, or is catching up, over the last %d s",
                 LAG_WINDOW_S);
        return "OK";
}

/* Seconds until the lag is read at the window's net rate: 0 caught up, null when the
 * lag is not shrinking (or nothing runs). */
static json_t *drain_seconds(int state, const kp_runtime_summary_t *s)
{
        if (state != KP_GROUP_RUNNING)
                return json_null();
        if (!s->lag)
                return json_real(0);
        double net = s->consumed_per_s - s->produced_per_s;
        return net > 0 ? json_real((double)s->lag / net) : json_null();
}

/* "at_least_once" where the sink keeps messages (offsets are committed after its flush),
 * "none" where it drops them. */
static const char *sink_delivery(const char *type)
{
        return type && !strcmp(type, "discard") ? "none" : "at_least_once";
}

/* A new reference to @p v, or null when it is absent. */
static json_t *ref_or_null(json_t *v)
{
        return v ? json_incref(v) : json_null();
}

/* Adds @p by to the number at @p key of @p totals. */
static void total_add(json_t *totals, const char *key, double by)
{
        json_t *v = json_object_get(totals, key);
        if (json_is_integer(v))
                json_integer_set(v, json_integer_value(v) + (json_int_t)by);
        else
                json_real_set(v, json_real_value(v) + by);
}

/* The overview row of group @p g; adds to @p totals. */
static json_t *group_row(kp_app_t *app, const overview_src_t *src, const json_t *g, json_t *totals)
{
        const char *name = json_string_value(json_object_get(g, "name"));
        const json_t *plan = json_object_get(src->plans, name);
        const json_t *an = json_object_get(plan, "analysis");
        kp_runtime_summary_t s;
        char rule[512];
        int state = app->rt && name && !kp_runtime_group_summary(app->rt, name, &s)
                            ? s.state
                            : (memset(&s, 0, sizeof(s)), KP_GROUP_STOPPED);
        int running = state == KP_GROUP_RUNNING;
        /* the plan in force says how the group reads; the group doc what it asks for */
        json_t *par = json_object_get(plan ? plan : g, "parallelism");
        json_t *strat = json_object_get(plan ? plan : g, "strategy");
        size_t n = 0;
        kp_plan_topic_t *topics = NULL;
        char ignored[256];
        /* lenient: a registration that is gone is left out, nothing fails */
        kp_app_group_topics(&src->regs, g, 1, &topics, &n, ignored, sizeof(ignored));
        int64_t parts = 0;
        for (size_t i = 0; i < n; i++)
                parts += topics[i].partitions;
        const char *ls = lag_state(state, &s, rule, sizeof(rule));
        const char *sink = json_string_value(json_object_get(json_object_get(g, "sink"), "type"));
        json_t *clusters = json_array(), *seen = json_object();
        for (size_t i = 0; i < n; i++)
                if (!json_object_get(seen, topics[i].cluster)) {
                        json_object_set_new(seen, topics[i].cluster, json_true());
                        json_array_append_new(clusters, json_string(topics[i].cluster));
                }
        json_decref(seen);
        json_t *row = json_pack(
                "{s:s, s:s, s:o, s:o, s:o, s:i, s:o, s:I, s:o, s:o, s:o, s:s, s:s, s:o, s:f, "
                "s:{s:s, s:s}, s:o, s:o}",
                "name", name, "state", kp_group_state_name(state), "parallelism", ref_or_null(par),
                "strategy", ref_or_null(strat), "plan_version",
                ref_or_null(json_object_get(plan, "version")), "tasks_running",
                running ? s.tasks_running : 0, "tasks_idle",
                running ? json_integer(s.tasks_idle)
                        : ref_or_null(json_object_get(an, "idle_tasks")),
                "partitions", (json_int_t)(running ? s.partitions : parts), "skew",
                ref_or_null(json_object_get(an, "skew")), "lag",
                running ? json_integer(s.lag) : json_null(), "drain_seconds",
                drain_seconds(state, &s), "lag_state", ls, "lag_rule", rule, "messages",
                running ? json_integer(s.messages) : json_null(), "messages_per_s",
                running ? s.messages_per_s : 0.0, "sink", "type", sink ? sink : "discard",
                "delivery", sink_delivery(sink), "clusters", clusters, "flink",
                flink_view(topics, n, (int32_t)json_integer_value(par)));
        free(topics);
        if (!row)
                return NULL;
        json_object_set_new(row, "lag_seconds",
                            running && s.lag_ms >= 0 ? json_real((double)s.lag_ms / 1000.0)
                                                     : json_null());
        if (state == KP_GROUP_FAILED && s.error[0])
                json_object_set_new(row, "error", json_string(s.error));
        total_add(totals, "groups", 1);
        if (running || state == KP_GROUP_STARTING)
                total_add(totals, "groups_running", 1);
        if (state == KP_GROUP_FAILED)
                total_add(totals, "groups_failed", 1);
        if (running) {
                total_add(totals, "lag", (double)s.lag);
                total_add(totals, "messages_per_s", s.messages_per_s);
        }
        return row;
}

/*
 * The overview row of cluster @p c. Reachability is what kplane knows without asking:
 * an embedded cluster runs in-process or not; another one is judged by the running groups
 * that read it (their last fetch, commit or probe), else it is unknown (null).
 */
static json_t *cluster_row(kp_app_t *app, const overview_src_t *src, const json_t *c,
                           const json_t *readers)
{
        const char *name = json_string_value(json_object_get(c, "name"));
        const json_t *emb = json_object_get(c, "embedded");
        char why[256] = "", at[32] = "";
        json_t *reachable = json_null(), *last_error = json_null();
        const char *source = "none";
        int down = 0;
        if (json_is_object(emb)) {
                char ignored[256];
                kp_app_cluster_t rc;
                down = kp_app_cluster_from_doc(app->emb, c, &rc, ignored, sizeof(ignored)) != 0;
                kp_app_cluster_cleanup(&rc);
        }
        if (down) {
                reachable = json_false();
                last_error = json_string("embedded cluster is not running");
                source = "embedded";
        } else if (json_is_object(emb)) {
                /* running in-process; its groups may still see a broker down */
                reachable = json_true();
                source = "embedded";
        }
        if (down) {
                /* nothing more to learn */
        } else if (app->rt) {
                int h = kp_runtime_cluster_health(app->rt, name, why, sizeof(why), at, sizeof(at));
                if (h >= 0) {
                        json_decref(reachable);
                        reachable = json_boolean(h);
                        source = "running_groups";
                        if (!h)
                                last_error = json_string(why);
                }
        }
        int64_t topics = 0, partitions = 0;
        const char *key;
        json_t *v;
        size_t len = strlen(name);
        json_object_foreach(src->regs.topics, key, v)
        {
                if (!strncmp(key, name, len) && key[len] == '/') {
                        topics++;
                        partitions += json_integer_value(v);
                }
        }
        json_t *brokers =
                json_is_object(emb) ? ref_or_null(json_object_get(emb, "brokers")) : json_null();
        json_t *groups = json_object_get(readers, name);
        return json_pack("{s:s, s:b, s:o, s:s, s:o, s:o, s:o, s:I, s:I, s:o}", "name", name,
                         "embedded", json_is_object(emb), "reachable", reachable, "reachable_from",
                         source, "last_error", last_error, "last_error_at",
                         at[0] && !json_is_null(last_error) ? json_string(at) : json_null(),
                         "brokers", brokers, "topics", (json_int_t)topics, "partitions",
                         (json_int_t)partitions, "groups",
                         groups ? json_incref(groups) : json_array());
}

void kp_h_overview(kp_app_t *app, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        char errstr[512], now[32];
        overview_src_t src;
        json_t *clusters = NULL, *rows = json_array(), *crows = json_array();
        json_t *readers = json_object(); /* cluster -> names of the groups reading it */
        json_t *totals = json_pack("{s:i, s:i, s:i, s:i, s:f}", "groups", 0, "groups_running", 0,
                                   "groups_failed", 0, "lag", 0, "messages_per_s", 0.0);
        size_t i, j;
        json_t *g, *c, *cn;
        (void)req;
        (void)p;
        int err = src_load(app, &src, errstr, sizeof(errstr));
        if (!err)
                err = kp_store_cluster_list(app->store, &clusters, errstr, sizeof(errstr));
        if (err) {
                kp_resp_error(resp, err, errstr);
                goto out;
        }
        json_array_foreach(src.groups, i, g)
        {
                json_t *row = group_row(app, &src, g, totals);
                if (!row)
                        continue;
                json_array_foreach(json_object_get(row, "clusters"), j, cn)
                {
                        const char *cname = json_string_value(cn);
                        json_t *list = json_object_get(readers, cname);
                        if (!list)
                                json_object_set_new(readers, cname, list = json_array());
                        json_array_append_new(
                                list, json_string(json_string_value(json_object_get(row, "name"))));
                }
                json_array_append_new(rows, row);
        }
        json_array_foreach(clusters, i, c)
                json_array_append_new(crows, cluster_row(app, &src, c, readers));
        kp_time_iso8601(now, sizeof(now));
        json_t *inst = kp_instances_doc(app);
        kp_resp_json(resp, 200,
                     json_pack("{s:s, s:o, s:o, s:O, s:o}", "generated_at", now, "groups", rows,
                               "clusters", crows, "totals", totals, "instances",
                               inst ? inst : json_null()));
        rows = crows = NULL;
out:
        json_decref(rows);
        json_decref(crows);
        json_decref(readers);
        json_decref(totals);
        json_decref(clusters);
        src_cleanup(&src);
}
