/* runtime_flow.c — backpressure: how many bytes each task's sink holds unacknowledged, and
 * pausing a task's partitions beyond the group's max_in_flight_bytes until it is below half. */
#include "base/config.h"
#include "base/util.h"
#include "runtime/runtime_int.h"
#include "runtime/runtime_lane.h"

#include <stdio.h>
#include <string.h>

void rt_flow_taken(rt_task_t *t, int64_t rec, int64_t bytes)
{
        rt_flow_t *f = &t->flow;
        int i, k = 0;

        f->total.rec += rec;
        f->total.bytes += bytes;
        if (f->nmarks == KP_RUNTIME_FLOW_MARKS) {
                /* Every second mark (the last one too): coarser, never larger. */
                for (i = 1; i < f->nmarks; i += 2)
                        f->marks[k++] = f->marks[i];
                f->nmarks = k;
        }
        f->marks[f->nmarks++] = f->total;
}

/* The key+value bytes of the first @p acked records @p f's sink took: exact at a put's
 * boundary, interpolated inside one (records of a put taken as one size). */
static int64_t flow_acked_bytes(rt_flow_t *f, int64_t acked)
{
        int k = 0;
        while (k < f->nmarks && f->marks[k].rec <= acked)
                f->base = f->marks[k++];
        memmove(f->marks, f->marks + k, sizeof(f->marks[0]) * (size_t)(f->nmarks - k));
        f->nmarks -= k;
        if (!f->nmarks || acked <= f->base.rec)
                return f->base.bytes;
        rt_flow_mark_t n = f->marks[0];
        return f->base.bytes +
               (int64_t)((double)(acked - f->base.rec) * (double)(n.bytes - f->base.bytes) /
                         (double)(n.rec - f->base.rec));
}

int64_t rt_task_in_flight(rt_task_t *t)
{
        kp_sink_stats_t st;
        rt_flow_t *f = &t->flow;
        int64_t in;

        if (!t->sink)
                return 0;
        kp_sink_stats(t->sink, &st);
        st.acked += st.refused; /* refused and handed back: done with, as acknowledged */
        if (st.acked >= f->total.rec) {
                f->base = f->total;
                f->nmarks = 0;
                in = 0;
        } else {
                in = f->total.bytes - flow_acked_bytes(f, st.acked);
        }
        atomic_store_explicit(&t->in_flight_bytes, in, memory_order_relaxed);
        return in;
}

int rt_task_over_limit(rt_group_t *g, rt_task_t *t)
{
        char err[256];
        if (rt_task_in_flight(t) < g->max_in_flight)
                return 0;
        /* Push out what the sink buffers (a file sink acknowledges at its write): only
         * what stays unacknowledged after that counts. A failure is the commit round's. */
        kp_sink_flush(t->sink, 0, err, sizeof(err));
        return rt_task_in_flight(t) >= g->max_in_flight;
}

static rd_kafka_topic_partition_list_t *part_list(rt_part_t *p)
{
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, p->tp->name, p->partition);
        return l;
}

/*
 * librdkafka's pause drops what it fetched of the partition and would go on from the last
 * message the worker polled; the worker drops the rest of its run, so the seek puts the
 * next fetch at the first record not taken. A failed seek resumes at once: then the
 * caller still holds its run and must hand it on (nothing was dropped past it).
 */
int rt_part_pause(rt_part_t *p, int64_t offset, int64_t resume_at)
{
        rt_group_t *g = p->cl->g;
        rd_kafka_topic_partition_list_t *l = part_list(p);
        rd_kafka_error_t *error = NULL;
        rd_kafka_resp_err_t err = rd_kafka_pause_partitions(p->lane->rk, l);
        int ret = -1;

        if (err || l->elems[0].err) {
                fprintf(stderr, "kplane: runtime: group %s: %s [%d]: pause: %s\n", g->name,
                        p->tp->name, (int)p->partition,
                        rd_kafka_err2str(err ? err : l->elems[0].err));
                goto out;
        }
        l->elems[0].offset = offset;
        if (offset >= 0 &&
            (error = rd_kafka_seek_partitions(p->lane->rk, l, KP_RUNTIME_COMMIT_TIMEOUT_MS))) {
                fprintf(stderr, "kplane: runtime: group %s: %s [%d]: seek: %s\n", g->name,
                        p->tp->name, (int)p->partition, rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
                rd_kafka_resume_partitions(p->lane->rk, l);
                goto out;
        }
        p->resume_at = resume_at;
        if (!atomic_exchange(&p->paused, 1))
                atomic_fetch_add(&g->npaused, 1);
        /* The control thread looks at paused partitions more often: wake it now. */
        rt_ctl_kick(g->rt);
        ret = 0;
out:
        rd_kafka_topic_partition_list_destroy(l);
        return ret;
}

void rt_part_unpause(rt_part_t *p)
{
        rd_kafka_topic_partition_list_t *l;
        if (!atomic_load(&p->paused))
                return;
        /* off its lane (out of the plan): nothing is paused in librdkafka any more */
        if (p->lane) {
                l = part_list(p);
                rd_kafka_resume_partitions(p->lane->rk, l);
                rd_kafka_topic_partition_list_destroy(l);
        }
        atomic_store(&p->paused, 0);
        atomic_fetch_sub(&p->cl->g->npaused, 1);
}

/* 1 when @p t works and holds less than half the limit (the low-water mark). */
static int task_has_room(rt_group_t *g, rt_task_t *t)
{
        int ok;
        pthread_mutex_lock(&t->lock);
        ok = atomic_load(&t->state) != RT_TASK_FAILED &&
             rt_task_in_flight(t) * 2 < g->max_in_flight;
        pthread_mutex_unlock(&t->lock);
        return ok;
}

/* 1 when paused @p p (locked) may go on: it left the plan, or its back-off is over and
 * every task it feeds has room. A failed task's partition stays paused until a plan moves
 * it (it would only be fetched to be dropped). */
static int part_may_resume(rt_group_t *g, rt_part_t *p, int64_t now)
{
        if (!p->in_plan || !p->owner)
                return 1;
        if (now < p->resume_at)
                return 0;
        if (p->fan) {
                for (int i = 0; i < p->fan->n; i++)
                        if (!task_has_room(g, p->fan->tasks[i]))
                                return 0;
                return 1;
        }
        return task_has_room(g, p->owner);
}

void rt_flow_resume(rt_group_t *g)
{
        int64_t now = kp_time_mono_ms();
        for (int i = 0; i < g->nparts && atomic_load(&g->npaused) > 0; i++) {
                rt_part_t *p = g->parts[i];
                if (!atomic_load(&p->paused))
                        continue;
                pthread_mutex_lock(&p->lock);
                if (part_may_resume(g, p, now))
                        rt_part_unpause(p);
                pthread_mutex_unlock(&p->lock);
        }
}

void rt_task_sink_error(rt_group_t *g, rt_task_t *t, const char *err)
{
        pthread_mutex_lock(&g->err_lock);
        snprintf(t->sink_error, sizeof(t->sink_error), "%s", err);
        pthread_mutex_unlock(&g->err_lock);
}
