/* runtime_status.c — what a running group reports: the status document and Prometheus lines. */
#include "runtime/lag_eval.h"
#include "runtime/runtime_int.h"
#include "base/util.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

void rt_cluster_error(rt_cluster_t *cl, const char *fmt, ...)
{
        va_list ap;
        char at[24];
        kp_time_iso8601(at, sizeof(at));
        pthread_mutex_lock(&cl->g->err_lock);
        va_start(ap, fmt);
        vsnprintf(cl->last_error, sizeof(cl->last_error), fmt, ap);
        va_end(ap);
        if (!cl->last_error[0]) /* an empty text would read as healthy */
                snprintf(cl->last_error, sizeof(cl->last_error), "error");
        snprintf(cl->last_error_at, sizeof(cl->last_error_at), "%s", at);
        cl->err_gen++;
        pthread_mutex_unlock(&cl->g->err_lock);
}

uint64_t rt_cluster_error_gen(rt_cluster_t *cl, int *failed)
{
        uint64_t gen;
        pthread_mutex_lock(&cl->g->err_lock);
        gen = cl->err_gen;
        if (failed)
                *failed = cl->last_error[0] != 0;
        pthread_mutex_unlock(&cl->g->err_lock);
        return gen;
}

void rt_cluster_ok(rt_cluster_t *cl, uint64_t gen)
{
        pthread_mutex_lock(&cl->g->err_lock);
        if (cl->err_gen == gen) {
                cl->last_error[0] = 0;
                cl->last_error_at[0] = 0;
        }
        pthread_mutex_unlock(&cl->g->err_lock);
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
        if (rd_kafka_get_watermark_offsets(p->cl->rk, p->tp->name, p->partition, &lo, &hi) ||
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

void rt_group_status_fill(rt_group_t *g, json_t *doc)
{
        json_t *tasks = json_array(), *parts = json_array(), *totals, *cls = json_array();
        int64_t total_msgs = 0, total_lag = 0;
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
        if (!group_readable(g))
                goto out;
        total_msgs = g->retired_messages;
        for (i = 0; i < g->ntasks; i++) {
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
                json_array_append_new(tasks, o);
                total_msgs += m;
        }
        for (i = 0; i < g->nparts; i++) {
                rt_part_t *p = g->parts[i];
                int64_t pos, committed, hw, lag;
                json_t *o;
                if (!p->in_plan)
                        continue;
                part_offsets(p, &pos, &committed, &hw, &lag);
                o = json_pack("{s:s, s:s, s:i, s:i}", "cluster", p->cl->name, "topic", p->tp->name,
                              "partition", (int)p->partition, "task", atomic_load(&p->owner_index));
                json_object_set_new(o, "position", offset_json(pos));
                json_object_set_new(o, "committed", offset_json(committed));
                json_object_set_new(o, "high_watermark", offset_json(hw));
                json_object_set_new(o, "lag", offset_json(lag));
                json_object_set_new(o, "messages_per_s", json_real(atomic_load(&p->rate)));
                int ls = atomic_load(&p->lag_state);
                json_object_set_new(o, "lag_state", json_string(kp_lag_state_name(ls)));
                if (ls > worst)
                        worst = ls;
                json_array_append_new(parts, o);
                if (lag > 0)
                        total_lag += lag;
        }
        json_object_set_new(doc, "lag_state", json_string(kp_lag_state_name(worst)));
        for (i = 0; i < g->nclusters; i++) {
                rt_cluster_t *cl = g->clusters[i];
                json_t *o = json_pack("{s:s}", "cluster", cl->name);
                int bad;
                /* "error" until the cluster answered a commit or a probe after its
                 * last error; then the error is gone (what happened is in the log). */
                pthread_mutex_lock(&g->err_lock);
                bad = cl->last_error[0] != 0;
                json_object_set_new(o, "state", json_string(bad ? "error" : "ok"));
                json_object_set_new(o, "last_error",
                                    bad ? json_string(cl->last_error) : json_null());
                json_object_set_new(o, "last_error_at",
                                    bad ? json_string(cl->last_error_at) : json_null());
                pthread_mutex_unlock(&g->err_lock);
                json_array_append_new(cls, o);
        }
out:
        pthread_mutex_unlock(&g->lock);
        totals = json_pack("{s:I, s:I}", "messages", (json_int_t)total_msgs, "lag",
                           (json_int_t)total_lag);
        json_object_set_new(doc, "tasks", tasks);
        json_object_set_new(doc, "partitions", parts);
        json_object_set_new(doc, "clusters", cls);
        json_object_set_new(doc, "totals", totals);
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
        for (i = 0; i < g->nclusters; i++) {
                pthread_mutex_lock(&g->err_lock);
                out->clusters_in_error += g->clusters[i]->last_error[0] != 0;
                pthread_mutex_unlock(&g->err_lock);
        }
out:
        pthread_mutex_unlock(&g->lock);
}

/* Label values are validated names ([A-Za-z0-9._-]), so they need no escaping. */
void rt_metrics_group(rt_group_t *g, kp_buf_t *out, int section)
{
        int i, st;

        pthread_mutex_lock(&g->lock);
        st = atomic_load(&g->state);
        if (section == 0) {
                for (i = KP_GROUP_STOPPED; i <= KP_GROUP_FAILED; i++)
                        kp_buf_printf(out, "kplane_group_state{group=\"%s\",state=\"%s\"} %d\n",
                                      g->name, kp_group_state_name(i), i == st);
                goto out;
        }
        if (!group_readable(g))
                goto out;
        if (section == 1 || section == 2) {
                for (i = 0; i < g->ntasks; i++) {
                        rt_task_t *t = g->tasks[i];
                        kp_buf_printf(
                                out, "%s{group=\"%s\",task=\"%d\"} %lld\n",
                                section == 1 ? "kplane_task_messages_total"
                                             : "kplane_task_bytes_total",
                                g->name, t->index,
                                (long long)atomic_load(section == 1 ? &t->messages : &t->bytes));
                }
                goto out;
        }
        if (section == 7) {
                int n[KP_LAG_STALLED + 1] = {0};
                for (i = 0; i < g->nparts; i++)
                        if (g->parts[i]->in_plan)
                                n[atomic_load(&g->parts[i]->lag_state)]++;
                for (i = KP_LAG_UNKNOWN; i <= KP_LAG_STALLED; i++)
                        kp_buf_printf(out,
                                      "kplane_consumergroup_partitions{group=\"%s\","
                                      "lag_state=\"%s\"} %d\n",
                                      g->name, kp_lag_state_name(i), n[i]);
                goto out;
        }
        if (section == 6) {
                for (i = 0; i < g->nclusters; i++) {
                        int failed = 0;
                        rt_cluster_error_gen(g->clusters[i], &failed);
                        kp_buf_printf(out, "kplane_cluster_up{group=\"%s\",cluster=\"%s\"} %d\n",
                                      g->name, g->clusters[i]->name, !failed);
                }
                goto out;
        }
        static const char *const names[] = {"kplane_consumergroup_lag",
                                            "kplane_consumergroup_committed_offset",
                                            "kplane_partition_high_watermark"};
        for (i = 0; i < g->nparts; i++) {
                rt_part_t *p = g->parts[i];
                int64_t pos, committed, hw, lag, v;
                if (!p->in_plan)
                        continue;
                part_offsets(p, &pos, &committed, &hw, &lag);
                v = section == 3 ? lag : section == 4 ? committed : hw;
                if (v < 0)
                        continue;
                kp_buf_printf(out,
                              "%s{group=\"%s\",cluster=\"%s\",topic=\"%s\",partition=\"%d\"} "
                              "%lld\n",
                              names[section - 3], g->name, p->cl->name, p->tp->name,
                              (int)p->partition, (long long)v);
        }
out:
        pthread_mutex_unlock(&g->lock);
}
