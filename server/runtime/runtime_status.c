/* runtime_status.c — what a running group reports: the status document, its summary and
 * Prometheus lines. Reads the group only. */
#include "runtime/lag_eval.h"
#include "runtime/runtime_int.h"
#include "runtime/runtime_lane.h"
#include "base/util.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

const char *kp_group_state_name(int state)
{
        switch (state) {
        case KP_GROUP_STARTING: return "starting";
        case KP_GROUP_RUNNING: return "running";
        case KP_GROUP_STOPPING: return "stopping";
        case KP_GROUP_FAILED: return "failed";
        default: return "stopped";
        }
}

static const char *task_state_name(int st)
{
        switch (st) {
        case RT_TASK_RUNNING: return "running";
        case RT_TASK_IDLE: return "idle";
        case RT_TASK_FAILED: return "failed";
        default: return "stopped";
        }
}

/* A running group's live state: STARTING and STOPPING groups have arrays in flux. */
static int group_readable(rt_group_t *g)
{
        int st = atomic_load(&g->state);
        return st == KP_GROUP_RUNNING || st == KP_GROUP_FAILED;
}

/* Position, high watermark (librdkafka's cached value, no request) and lag of @p p;
 * -1 for what is not known yet. Lag is counted from the position (what the tasks have
 * taken), else from the committed offset. */
static void part_offsets(rt_part_t *p, int64_t *pos, int64_t *committed, int64_t *hw, int64_t *lag)
{
        int64_t lo = -1, hi = -1;
        *pos = atomic_load(&p->next_offset);
        *committed = atomic_load(&p->committed);
        if (!p->lane ||
            rd_kafka_get_watermark_offsets(p->lane->rk, p->tp->name, p->partition, &lo, &hi) ||
            hi < 0)
                hi = -1;
        *hw = hi;
        *lag = -1;
        if (hi >= 0 && *pos >= 0)
                *lag = hi > *pos ? hi - *pos : 0;
        else if (hi >= 0 && *committed >= 0)
                *lag = hi > *committed ? hi - *committed : 0;
}

static json_t *offset_json(int64_t v)
{
        return v >= 0 ? json_integer(v) : json_null();
}

/* Partitions of task @p index paused by backpressure. Caller holds g->lock. */
static int task_paused(rt_group_t *g, int index)
{
        int n = 0;
        for (int i = 0; i < g->nparts && atomic_load(&g->npaused) > 0; i++)
                n += g->parts[i]->in_plan && atomic_load(&g->parts[i]->paused) &&
                     atomic_load(&g->parts[i]->owner_index) == index;
        return n;
}

/* Task @p t's "sink" counters (API.md "Sinks"): the sink's own and what backpressure
 * knows. Caller holds g->lock (tasks stay); takes err_lock only, never t->lock, so a put
 * in progress does not hold status up. */
static json_t *status_sink(rt_group_t *g, rt_task_t *t)
{
        kp_sink_stats_t st = {0};
        char err[sizeof(t->sink_error)];
        if (t->sink)
                kp_sink_stats(t->sink, &st);
        st.dead_letters = atomic_load(&t->dead_letters); /* routed to the dead-letter sink */
        pthread_mutex_lock(&g->err_lock);
        memcpy(err, t->sink_error, sizeof(err));
        pthread_mutex_unlock(&g->err_lock);
        if (!err[0] && t->sink) /* nothing failed: what it retried past, if anything */
                kp_sink_retry_error(t->sink, err, sizeof(err));
        return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:i, s:o}", "type",
                         t->sink ? kp_sink_type(t->sink) : "discard", "delivered",
                         (json_int_t)st.acked, "in_flight", (json_int_t)st.in_flight,
                         "in_flight_bytes", (json_int_t)atomic_load(&t->in_flight_bytes), "retries",
                         (json_int_t)st.retries, "dead_letters", (json_int_t)st.dead_letters,
                         "paused_partitions", task_paused(g, t->index), "last_error",
                         err[0] ? json_string(err) : json_null());
}

/* The status rows of @p g's tasks; adds their messages to *total. Caller holds g->lock. */
static json_t *status_tasks(rt_group_t *g, int64_t *total)
{
        json_t *tasks = json_array();
        for (int i = 0; i < g->ntasks; i++) {
                rt_task_t *t = g->tasks[i];
                int64_t m = atomic_load(&t->messages);
                int tst = atomic_load(&t->state);
                json_t *o = json_pack("{s:i, s:s, s:i, s:I, s:I, s:f}", "task", t->index, "state",
                                      task_state_name(tst), "partitions", t->partitions, "messages",
                                      (json_int_t)m, "bytes", (json_int_t)atomic_load(&t->bytes),
                                      "messages_per_s", atomic_load(&t->rate));
                if (tst == RT_TASK_FAILED) {
                        pthread_mutex_lock(&t->lock);
                        json_object_set_new(o, "error", json_string(t->error));
                        pthread_mutex_unlock(&t->lock);
                }
                json_object_set_new(o, "sink", status_sink(g, t));
                json_array_append_new(tasks, o);
                *total += m;
        }
        return tasks;
}

static json_t *seconds_json(int64_t ms)
{
        return ms >= 0 ? json_real((double)ms / 1000.0) : json_null();
}

/* The status row of partition @p p; raises *worst to its lag state and *max_lag_ms to its lag
 * in time, adds its lag to *total_lag. */
static json_t *status_part(rt_part_t *p, int *worst, int64_t *total_lag, int64_t *max_lag_ms)
{
        int64_t pos, committed, hw, lag;
        json_t *o;
        int ls = atomic_load(&p->lag_state);

        part_offsets(p, &pos, &committed, &hw, &lag);
        o = json_pack("{s:s, s:s, s:i, s:i}", "cluster", p->cl->name, "topic", p->tp->name,
                      "partition", (int)p->partition, "task", atomic_load(&p->owner_index));
        json_object_set_new(o, "position", offset_json(pos));
        json_object_set_new(o, "committed", offset_json(committed));
        json_object_set_new(o, "high_watermark", offset_json(hw));
        json_object_set_new(o, "lag", offset_json(lag));
        int64_t lag_ms = atomic_load(&p->lag_ms);
        json_object_set_new(o, "lag_seconds", seconds_json(lag_ms));
        if (lag_ms > *max_lag_ms)
                *max_lag_ms = lag_ms;
        json_object_set_new(o, "messages_per_s", json_real(atomic_load(&p->rate)));
        json_object_set_new(o, "lag_state", json_string(kp_lag_state_name(ls)));
        if (ls > *worst)
                *worst = ls;
        if (lag > 0)
                *total_lag += lag;
        return o;
}

/* The status rows of @p g's clusters. Caller holds g->lock. */
static json_t *status_clusters(rt_group_t *g)
{
        json_t *cls = json_array();
        for (int i = 0; i < g->nclusters; i++) {
                rt_cluster_t *cl = g->clusters[i];
                char last_error[sizeof(cl->last_error)], at[sizeof(cl->last_error_at)];
                /* "error" until the cluster answered a commit or a probe after its
                 * last error; then the error is gone (what happened is in the log). */
                int bad =
                        rt_cluster_health_read(cl, last_error, sizeof(last_error), at, sizeof(at));
                json_array_append_new(cls, json_pack("{s:s, s:s, s:o, s:o}", "cluster", cl->name,
                                                     "state", bad ? "error" : "ok", "last_error",
                                                     bad ? json_string(last_error) : json_null(),
                                                     "last_error_at",
                                                     bad ? json_string(at) : json_null()));
        }
        return cls;
}

void rt_group_status_fill(rt_group_t *g, json_t *doc)
{
        json_t *tasks = NULL, *parts = json_array(), *cls = NULL;
        int64_t total_msgs = 0, total_lag = 0, max_lag_ms = -1;
        int st, i, worst = KP_LAG_UNKNOWN; /* the states order from harmless to worst */

        pthread_mutex_lock(&g->lock);
        st = atomic_load(&g->state);
        json_object_set_new(doc, "state", json_string(kp_group_state_name(st)));
        if (st == KP_GROUP_FAILED) {
                pthread_mutex_lock(&g->err_lock);
                json_object_set_new(doc, "error", json_string(g->error));
                pthread_mutex_unlock(&g->err_lock);
        }
        json_object_set_new(doc, "plan_version", json_integer(g->plan_version));
        if (group_readable(g)) {
                total_msgs = g->retired_messages;
                tasks = status_tasks(g, &total_msgs);
                for (i = 0; i < g->nparts; i++)
                        if (g->parts[i]->in_plan)
                                json_array_append_new(parts, status_part(g->parts[i], &worst,
                                                                         &total_lag, &max_lag_ms));
                json_object_set_new(doc, "lag_state", json_string(kp_lag_state_name(worst)));
                cls = status_clusters(g);
        }
        pthread_mutex_unlock(&g->lock);
        json_object_set_new(doc, "tasks", tasks ? tasks : json_array());
        json_object_set_new(doc, "partitions", parts);
        json_object_set_new(doc, "clusters", cls ? cls : json_array());
        json_object_set_new(doc, "totals",
                            json_pack("{s:I, s:I, s:o}", "messages", (json_int_t)total_msgs, "lag",
                                      (json_int_t)total_lag, "lag_seconds",
                                      seconds_json(max_lag_ms)));
}

void rt_group_summary_fill(rt_group_t *g, kp_runtime_summary_t *out)
{
        int i;
        double dpos = 0, dhw = 0;
        pthread_mutex_lock(&g->lock);
        out->state = atomic_load(&g->state);
        out->plan_version = g->plan_version;
        if (out->state == KP_GROUP_FAILED) {
                pthread_mutex_lock(&g->err_lock);
                snprintf(out->error, sizeof(out->error), "%s", g->error);
                pthread_mutex_unlock(&g->err_lock);
        }
        if (!group_readable(g))
                goto out;
        out->messages = g->retired_messages;
        out->tasks = g->ntasks;
        for (i = 0; i < g->ntasks; i++) {
                rt_task_t *t = g->tasks[i];
                int tst = atomic_load(&t->state);
                out->tasks_running += tst == RT_TASK_RUNNING;
                out->tasks_idle += tst == RT_TASK_IDLE;
                out->tasks_failed += tst == RT_TASK_FAILED;
                out->messages += atomic_load(&t->messages);
                out->messages_per_s += atomic_load(&t->rate);
        }
        for (i = 0; i < g->nparts; i++) {
                rt_part_t *p = g->parts[i];
                int64_t pos, committed, hw, lag;
                if (!p->in_plan)
                        continue;
                out->partitions++;
                part_offsets(p, &pos, &committed, &hw, &lag);
                if (lag >= 0)
                        out->lag += lag;
                else
                        out->lag_unknown++;
                int64_t lag_ms = atomic_load(&p->lag_ms);
                if (lag_ms > out->lag_ms)
                        out->lag_ms = lag_ms;
                int ls = atomic_load(&p->lag_state);
                if (ls >= 0 && ls < (int)(sizeof(out->lag_states) / sizeof(out->lag_states[0])))
                        out->lag_states[ls]++;
                /* the window is written under g->lock, which we hold */
                int n = p->win_n;
                if (n >= 2 && p->win_pos[0] >= 0 && p->win_hw[0] >= 0 && p->win_pos[n - 1] >= 0 &&
                    p->win_hw[n - 1] >= 0) {
                        double secs = (double)(n - 1) * KP_RUNTIME_RATE_INTERVAL_MS / 1000.0;
                        dpos += (double)(p->win_pos[n - 1] - p->win_pos[0]) / secs;
                        dhw += (double)(p->win_hw[n - 1] - p->win_hw[0]) / secs;
                }
        }
        out->consumed_per_s = dpos;
        out->produced_per_s = dhw;
        for (i = 0; i < g->nclusters; i++)
                out->clusters_in_error += rt_cluster_health_read(g->clusters[i], NULL, 0, NULL, 0);
out:
        pthread_mutex_unlock(&g->lock);
}

/* Each metric's HELP and TYPE lines, by rt_metric_t. */
static const char *const metric_head[RT_METRIC_COUNT] = {
        [RT_METRIC_GROUP_STATE] =
                "# HELP kplane_group_state 1 for the state a running group is in.\n"
                "# TYPE kplane_group_state gauge\n",
        [RT_METRIC_TASK_MESSAGES] =
                "# HELP kplane_task_messages_total Messages a task handed to its sink.\n"
                "# TYPE kplane_task_messages_total counter\n",
        [RT_METRIC_TASK_BYTES] =
                "# HELP kplane_task_bytes_total Key and value bytes a task handed to its sink.\n"
                "# TYPE kplane_task_bytes_total counter\n",
        [RT_METRIC_LAG] = "# HELP kplane_consumergroup_lag Messages behind the high watermark per "
                          "partition.\n"
                          "# TYPE kplane_consumergroup_lag gauge\n",
        [RT_METRIC_COMMITTED] = "# HELP kplane_consumergroup_committed_offset The offset the group "
                                "last committed per partition.\n"
                                "# TYPE kplane_consumergroup_committed_offset gauge\n",
        [RT_METRIC_HIGH_WATERMARK] = "# HELP kplane_partition_high_watermark The log end offset of "
                                     "each partition a running group reads.\n"
                                     "# TYPE kplane_partition_high_watermark gauge\n",
        [RT_METRIC_CLUSTER_UP] = "# HELP kplane_cluster_up 1 while a running group's cluster "
                                 "answers, 0 while it is in error.\n"
                                 "# TYPE kplane_cluster_up gauge\n",
        [RT_METRIC_LAG_SECONDS] =
                "# HELP kplane_consumergroup_lag_seconds Age of the oldest unread message per "
                "partition, interpolated from high watermark samples (kafka-lag-exporter's "
                "estimate).\n"
                "# TYPE kplane_consumergroup_lag_seconds gauge\n",
        [RT_METRIC_SINK_DELIVERED] =
                "# HELP kplane_sink_delivered_total Records a task's sink acknowledged (the "
                "destination has them).\n"
                "# TYPE kplane_sink_delivered_total counter\n",
        [RT_METRIC_SINK_RETRIES] = "# HELP kplane_sink_retries_total Puts a task's sink answered "
                                   "with retry (a full queue, a busy target).\n"
                                   "# TYPE kplane_sink_retries_total counter\n",
        [RT_METRIC_SINK_DEAD_LETTERS] =
                "# HELP kplane_sink_dead_letters_total Records a task's sink refused for good "
                "that went to the group's dead-letter sink.\n"
                "# TYPE kplane_sink_dead_letters_total counter\n",
        [RT_METRIC_SINK_IN_FLIGHT_BYTES] =
                "# HELP kplane_sink_in_flight_bytes Key and value bytes a task's sink took and "
                "has not acknowledged (its partitions pause beyond max_in_flight_bytes).\n"
                "# TYPE kplane_sink_in_flight_bytes gauge\n",
        [RT_METRIC_PARTITIONS_BY_LAG_STATE] =
                "# HELP kplane_consumergroup_partitions Partitions of a running group by lag "
                "state (Burrow's rules over the last 10 s: ok, falling_behind, stalled).\n"
                "# TYPE kplane_consumergroup_partitions gauge\n",
};

const char *rt_metrics_head(rt_metric_t m)
{
        return m >= 0 && m < RT_METRIC_COUNT ? metric_head[m] : "";
}

/* Label values are validated names ([A-Za-z0-9._-]), so they need no escaping. The
 * writers below run under g->lock. */

static void metrics_state(rt_group_t *g, kp_buf_t *out)
{
        int st = atomic_load(&g->state);
        for (int i = KP_GROUP_STOPPED; i <= KP_GROUP_FAILED; i++)
                kp_buf_printf(out, "kplane_group_state{group=\"%s\",state=\"%s\"} %d\n", g->name,
                              kp_group_state_name(i), i == st);
}

static void metrics_tasks(rt_group_t *g, kp_buf_t *out, rt_metric_t m)
{
        for (int i = 0; i < g->ntasks; i++) {
                rt_task_t *t = g->tasks[i];
                kp_buf_printf(out, "%s{group=\"%s\",task=\"%d\"} %lld\n",
                              m == RT_METRIC_TASK_MESSAGES ? "kplane_task_messages_total"
                                                           : "kplane_task_bytes_total",
                              g->name, t->index,
                              (long long)atomic_load(m == RT_METRIC_TASK_MESSAGES ? &t->messages
                                                                                  : &t->bytes));
        }
}

static void metrics_sinks(rt_group_t *g, kp_buf_t *out, rt_metric_t m)
{
        const char *name = m == RT_METRIC_SINK_DELIVERED      ? "kplane_sink_delivered_total"
                           : m == RT_METRIC_SINK_RETRIES      ? "kplane_sink_retries_total"
                           : m == RT_METRIC_SINK_DEAD_LETTERS ? "kplane_sink_dead_letters_total"
                                                              : "kplane_sink_in_flight_bytes";
        for (int i = 0; i < g->ntasks; i++) {
                rt_task_t *t = g->tasks[i];
                kp_sink_stats_t st = {0};
                if (t->sink)
                        kp_sink_stats(t->sink, &st);
                st.dead_letters = atomic_load(&t->dead_letters);
                int64_t v = m == RT_METRIC_SINK_DELIVERED      ? st.acked
                            : m == RT_METRIC_SINK_RETRIES      ? st.retries
                            : m == RT_METRIC_SINK_DEAD_LETTERS ? st.dead_letters
                                                               : atomic_load(&t->in_flight_bytes);
                kp_buf_printf(out, "%s{group=\"%s\",task=\"%d\"} %lld\n", name, g->name, t->index,
                              (long long)v);
        }
}

static void metrics_lag_states(rt_group_t *g, kp_buf_t *out)
{
        int n[KP_LAG_STALLED + 1] = {0};
        for (int i = 0; i < g->nparts; i++)
                if (g->parts[i]->in_plan)
                        n[atomic_load(&g->parts[i]->lag_state)]++;
        for (int i = KP_LAG_UNKNOWN; i <= KP_LAG_STALLED; i++)
                kp_buf_printf(out,
                              "kplane_consumergroup_partitions{group=\"%s\","
                              "lag_state=\"%s\"} %d\n",
                              g->name, kp_lag_state_name(i), n[i]);
}

static void metrics_clusters(rt_group_t *g, kp_buf_t *out)
{
        for (int i = 0; i < g->nclusters; i++)
                kp_buf_printf(out, "kplane_cluster_up{group=\"%s\",cluster=\"%s\"} %d\n", g->name,
                              g->clusters[i]->name,
                              !rt_cluster_health_read(g->clusters[i], NULL, 0, NULL, 0));
}

/* One line per partition in the plan with a known value of @p m (lag, committed offset or
 * high watermark). */
static void metrics_parts(rt_group_t *g, kp_buf_t *out, rt_metric_t m)
{
        const char *name = m == RT_METRIC_LAG         ? "kplane_consumergroup_lag"
                           : m == RT_METRIC_COMMITTED ? "kplane_consumergroup_committed_offset"
                                                      : "kplane_partition_high_watermark";
        for (int i = 0; i < g->nparts; i++) {
                rt_part_t *p = g->parts[i];
                int64_t pos, committed, hw, lag, v;
                if (!p->in_plan)
                        continue;
                part_offsets(p, &pos, &committed, &hw, &lag);
                v = m == RT_METRIC_LAG ? lag : m == RT_METRIC_COMMITTED ? committed : hw;
                if (v < 0)
                        continue;
                kp_buf_printf(out,
                              "%s{group=\"%s\",cluster=\"%s\",topic=\"%s\",partition=\"%d\"} "
                              "%lld\n",
                              name, g->name, p->cl->name, p->tp->name, (int)p->partition,
                              (long long)v);
        }
}

static void metrics_lag_seconds(rt_group_t *g, kp_buf_t *out)
{
        for (int i = 0; i < g->nparts; i++) {
                rt_part_t *p = g->parts[i];
                int64_t ms = atomic_load(&p->lag_ms);
                if (!p->in_plan || ms < 0)
                        continue;
                kp_buf_printf(out,
                              "kplane_consumergroup_lag_seconds{group=\"%s\",cluster=\"%s\","
                              "topic=\"%s\",partition=\"%d\"} %.3f\n",
                              g->name, p->cl->name, p->tp->name, (int)p->partition,
                              (double)ms / 1000.0);
        }
}

void rt_metrics_group(rt_group_t *g, kp_buf_t *out, rt_metric_t m)
{
        pthread_mutex_lock(&g->lock);
        if (m == RT_METRIC_GROUP_STATE)
                metrics_state(g, out);
        else if (group_readable(g)) {
                switch (m) {
                case RT_METRIC_TASK_MESSAGES:
                case RT_METRIC_TASK_BYTES: metrics_tasks(g, out, m); break;
                case RT_METRIC_LAG:
                case RT_METRIC_COMMITTED:
                case RT_METRIC_HIGH_WATERMARK: metrics_parts(g, out, m); break;
                case RT_METRIC_CLUSTER_UP: metrics_clusters(g, out); break;
                case RT_METRIC_PARTITIONS_BY_LAG_STATE: metrics_lag_states(g, out); break;
                case RT_METRIC_LAG_SECONDS: metrics_lag_seconds(g, out); break;
                case RT_METRIC_SINK_DELIVERED:
                case RT_METRIC_SINK_RETRIES:
                case RT_METRIC_SINK_DEAD_LETTERS:
                case RT_METRIC_SINK_IN_FLIGHT_BYTES: metrics_sinks(g, out, m); break;
                default: break;
                }
        }
        pthread_mutex_unlock(&g->lock);
}
