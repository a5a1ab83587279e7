/* runtime_ctl.c — the runtime's control thread: one for every running group (issue 12:
 * threads grow with clusters, not with groups). On each group's schedule it commits what
 * the sinks acknowledged, smooths rates, samples lag, resumes paused partitions and probes
 * clusters in error; it serves the consumers' own queues (error callbacks) too. */
#include "base/config.h"
#include "base/err.h"
#include "base/util.h"
#include "runtime/lag_eval.h"
#include "runtime/runtime_int.h"
#include "runtime/runtime_lane.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * A cluster in error with nothing to commit would never show it works again: ask a
 * coordinator for one committed offset (read-only; rd_kafka_committed on the home lane, of
 * the lane's own group: the question is only whether the cluster answers; it survives a
 * coordinator that goes away, unlike 2.14's admin coordinator requests) and clear the
 * error when it answers. Blocks the control thread at most
 * KP_RUNTIME_PROBE_TIMEOUT_MS per cluster in error. Caller holds op_lock, which keeps the
 * group's arrays as they are.
 */
static void ctl_probe_clusters(rt_group_t *g)
{
        for (int i = 0; i < g->nclusters && !atomic_load(&g->stop); i++) {
                rt_cluster_t *cl = g->clusters[i];
                rd_kafka_topic_partition_list_t *probe;
                int failed, j;
                uint64_t gen = rt_cluster_error_gen(cl, &failed);
                /* A failing commit is retried every round: its answer decides. */
                if (!failed || cl->commit_failing)
                        continue;
                for (j = 0; j < g->nparts && g->parts[j]->cl != cl; j++)
                        ;
                if (j == g->nparts)
                        continue;
                probe = rd_kafka_topic_partition_list_new(1);
                rd_kafka_topic_partition_list_add(probe, g->parts[j]->tp->name,
                                                  g->parts[j]->partition);
                if (!rd_kafka_committed(cl->rk, probe, KP_RUNTIME_PROBE_TIMEOUT_MS) &&
                    !probe->elems[0].err)
                        rt_cluster_ok(cl, gen);
                rd_kafka_topic_partition_list_destroy(probe);
        }
}

static double ewma(double old, double sample, int first)
{
        return first ? sample : KP_RUNTIME_RATE_ALPHA * sample + (1 - KP_RUNTIME_RATE_ALPHA) * old;
}

/*
 * Adds one (committed offset, high watermark) sample to @p p's window and judges it
 * (Burrow's rules, lag_eval.c). Committed, not the read position, as Burrow does: what
 * matters is what a restart would not read again, so a task that reads but cannot
 * flush its sink (commits stop) is stalled too. The high watermark is librdkafka's
 * cached one (no request). Nothing committed yet counts as the log start, so a group
 * that never commits is seen as stalled, not unknown. Caller: the control thread,
 * holding g->lock.
 */
static void ctl_lag_sample(rt_part_t *p)
{
        int64_t lo = -1, hi = -1;
        if (!p->in_plan) {
                p->win_n = 0;
                p->last_lag = p->last_hw = p->last_from = -1;
                atomic_store(&p->lag_state, KP_LAG_UNKNOWN);
                return;
        }
        if (!p->lane ||
            rd_kafka_get_watermark_offsets(p->lane->rk, p->tp->name, p->partition, &lo, &hi))
                lo = hi = -1;
        int64_t at = atomic_load(&p->committed);
        /* The history's lag is the status's: from the position (else committed), so the
         * chart matches status and the overview, without the commit round's sawtooth. */
        int64_t from = atomic_load(&p->next_offset);
        if (from < 0)
                from = at;
        p->last_lag = hi >= 0 && from >= 0 ? (hi > from ? hi - from : 0) : -1;
        p->last_hw = hi;
        p->last_from = from;
        if (p->win_n == KP_LAG_WINDOW) { /* oldest out: the window stays oldest first */
                p->win_n--;
                memmove(p->win_pos, p->win_pos + 1, sizeof(p->win_pos[0]) * (size_t)p->win_n);
                memmove(p->win_hw, p->win_hw + 1, sizeof(p->win_hw[0]) * (size_t)p->win_n);
        }
        p->win_pos[p->win_n] = at >= 0 ? at : lo;
        p->win_hw[p->win_n++] = hi;
        atomic_store(&p->lag_state, kp_lag_eval(p->win_pos, p->win_hw, (size_t)p->win_n));
}

/* Samples counters into smoothed messages/s for tasks and partitions, and lag windows. */
static void ctl_rates(rt_group_t *g, int64_t dt_ms, int first)
{
        int i;
        pthread_mutex_lock(&g->lock);
        for (i = 0; i < g->ntasks; i++) {
                rt_task_t *t = g->tasks[i];
                int64_t m = atomic_load(&t->messages);
                atomic_store(&t->rate,
                             ewma(atomic_load(&t->rate),
                                  (double)(m - t->rate_last) * 1000.0 / (double)dt_ms, first));
                t->rate_last = m;
        }
        for (i = 0; i < g->nparts; i++) {
                rt_part_t *p = g->parts[i];
                int64_t m = atomic_load(&p->messages);
                atomic_store(&p->rate,
                             ewma(atomic_load(&p->rate),
                                  (double)(m - p->rate_last) * 1000.0 / (double)dt_ms, first));
                p->rate_last = m;
                ctl_lag_sample(p);
        }
        rt_history_sample(g);
        pthread_mutex_unlock(&g->lock);
}

/* The work of group @p g that is due at @p now. A group busy with a slow operation (start,
 * plan change, stop: op_lock held) is looked at again soon rather than waited for, so no
 * group's plan change holds another's commits. @returns when it is due next (mono ms). */
static int64_t ctl_group_tick(rt_group_t *g, int64_t now)
{
        rt_ctl_sched_t *s = &g->sched;
        int64_t wake;

        if (!atomic_load(&g->ctl_on) || atomic_load(&g->stop))
                return INT64_MAX;
        if (pthread_mutex_trylock(&g->op_lock))
                return now + KP_RUNTIME_RESUME_CHECK_MS;
        if (atomic_load(&g->stop)) {
                pthread_mutex_unlock(&g->op_lock);
                return INT64_MAX;
        }
        if (atomic_load(&g->npaused) > 0 && now >= s->next_resume) {
                rt_flow_resume(g);
                s->next_resume = now + KP_RUNTIME_RESUME_CHECK_MS;
        }
        if (now >= s->next_rate) {
                ctl_rates(g, now - s->last_rate > 0 ? now - s->last_rate : 1, s->first);
                s->first = 0;
                s->last_rate = now;
                s->next_rate = now + KP_RUNTIME_RATE_INTERVAL_MS;
        }
        if (now >= s->next_commit) {
                rt_commit(g, NULL, 0, KP_RUNTIME_COMMIT_TIMEOUT_MS);
                /* After the commits: a cluster they cleared needs no probe. */
                ctl_probe_clusters(g);
                s->next_commit = kp_time_mono_ms() + KP_RUNTIME_COMMIT_INTERVAL_MS;
        }
        pthread_mutex_unlock(&g->op_lock);
        wake = s->next_commit < s->next_rate ? s->next_commit : s->next_rate;
        if (atomic_load(&g->npaused) > 0 && s->next_resume < wake)
                wake = s->next_resume;
        return wake;
}

void rt_ctl_sched_init(rt_group_t *g)
{
        int64_t now = kp_time_mono_ms();
        g->sched = (rt_ctl_sched_t){.next_commit = now + KP_RUNTIME_COMMIT_INTERVAL_MS,
                                    .last_rate = now,
                                    .next_rate = now + KP_RUNTIME_RATE_INTERVAL_MS,
                                    .next_resume = now,
                                    .first = 1};
}

void rt_ctl_kick(kp_runtime_t *rt)
{
        pthread_mutex_lock(&rt->ctl_lock);
        rt->ctl_kicked = 1;
        pthread_cond_signal(&rt->ctl_cond);
        pthread_mutex_unlock(&rt->ctl_lock);
}

/* One pass over every registered group. @returns when the next work is due (mono ms). */
static int64_t ctl_pass(kp_runtime_t *rt)
{
        int n = 0;
        rt_group_t **all = rt_groups_hold(rt, &n);
        int64_t wake = kp_time_mono_ms() + KP_RUNTIME_RATE_INTERVAL_MS;
        rt_lanes_serve(rt);
        for (int i = 0; i < n; i++) {
                int64_t w = ctl_group_tick(all[i], kp_time_mono_ms());
                if (w < wake)
                        wake = w;
        }
        rt_groups_release(all, n);
        return wake;
}

void *rt_ctl_main(void *arg)
{
        kp_runtime_t *rt = arg;
        pthread_mutex_lock(&rt->ctl_lock);
        while (!rt->ctl_stop) {
                int64_t wake, now;
                pthread_mutex_unlock(&rt->ctl_lock);
                wake = ctl_pass(rt);
                pthread_mutex_lock(&rt->ctl_lock);
                now = kp_time_mono_ms();
                /* a worker that pauses a partition, a group that starts or stops kicks */
                if (wake > now && !rt->ctl_kicked && !rt->ctl_stop) {
                        struct timespec ts;
                        clock_gettime(CLOCK_REALTIME, &ts);
                        int64_t ns = ts.tv_nsec + (wake - now) * 1000000;
                        ts.tv_sec += ns / 1000000000;
                        ts.tv_nsec = ns % 1000000000;
                        pthread_cond_timedwait(&rt->ctl_cond, &rt->ctl_lock, &ts);
                }
                rt->ctl_kicked = 0;
        }
        pthread_mutex_unlock(&rt->ctl_lock);
        return NULL;
}
