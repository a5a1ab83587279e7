/* runtime_objects.c — a running group's objects: each cluster (on its home lane), topics
 * with their lock-free partition tables, partitions, tasks and tasksets. */
#include "runtime/runtime_objects.h"

#include "base/err.h"
#include "base/util.h"
#include "kafka/kafka.h"
#include "runtime/runtime_lane.h"
#include "sinks/sink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Frees a cluster of a group (its partitions off their lanes already): leaves its home
 * lane at once if it had not. */
void rt_cluster_destroy(rt_cluster_t *cl)
{
        int i;
        if (!cl)
                return;
        rt_lane_leave(cl, kp_time_mono_ms(), 1);
        for (i = 0; i < cl->ntopics; i++) {
                free(atomic_load(&cl->topics[i]->table));
                free(cl->topics[i]->name);
                free(cl->topics[i]);
        }
        free(cl->topics);
        free(cl->bootstrap);
        json_decref(cl->config);
        free(cl->name);
        free(cl);
}

/* Creates cluster @p ref of the group on its home lane (made with its consumer and workers
 * when no running group reads the cluster with the same configuration). */
rt_cluster_t *rt_cluster_new(rt_group_t *g, const kp_cluster_ref_t *ref, char *errstr,
                             size_t errstr_size)
{
        rt_cluster_t *cl = calloc(1, sizeof(*cl));

        if (!cl || !(cl->name = strdup(ref->name)) || !(cl->bootstrap = strdup(ref->bootstrap)) ||
            (ref->config && !(cl->config = json_deep_copy(ref->config)))) {
                if (cl) {
                        free(cl->name);
                        free(cl->bootstrap);
                }
                free(cl);
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        cl->g = g;
        if (!(cl->lane = rt_lane_home(cl, ref, errstr, errstr_size))) {
                rt_cluster_destroy(cl);
                return NULL;
        }
        cl->rk = cl->lane->rk;
        return cl;
}

rt_cluster_t *rt_group_cluster(rt_group_t *g, const char *name)
{
        int i;
        for (i = 0; i < g->nclusters; i++)
                if (!strcmp(g->clusters[i]->name, name))
                        return g->clusters[i];
        return NULL;
}

static rt_topic_t *cluster_topic(rt_cluster_t *cl, const char *name)
{
        int i;
        for (i = 0; i < cl->ntopics; i++)
                if (!strcmp(cl->topics[i]->name, name))
                        return cl->topics[i];
        return NULL;
}

/* Finds or creates the group's topic (its partitions of it; no handle: the lanes have
 * those). Caller holds op_lock and g->lock. */
rt_topic_t *rt_cluster_topic_add(rt_cluster_t *cl, const char *name)
{
        rt_topic_t *tp = cluster_topic(cl, name), **topics;

        if (tp)
                return tp;
        topics = realloc(cl->topics, sizeof(*topics) * (size_t)(cl->ntopics + 1));
        if (!topics)
                return NULL;
        cl->topics = topics;
        tp = calloc(1, sizeof(*tp));
        if (!tp || !(tp->name = strdup(name))) {
                free(tp);
                return NULL;
        }
        cl->topics[cl->ntopics++] = tp;
        return tp;
}

/* Publishes @p p in its topic's lookup table, growing it by copy (workers keep reading
 * the old one, which is retired until the group ends). */
static int topic_table_put(rt_group_t *g, rt_topic_t *tp, rt_part_t *p)
{
        rt_ptable_t *old = atomic_load(&tp->table), *t;
        int32_t cnt = old ? old->cnt : 0;

        if (p->partition < cnt) {
                old->parts[p->partition] = p;
                return 0;
        }
        cnt = p->partition + 1 > cnt * 2 ? p->partition + 1 : cnt * 2;
        t = calloc(1, sizeof(*t) + sizeof(rt_part_t *) * (size_t)cnt);
        if (!t)
                return KP_ERR_NOMEM;
        t->cnt = cnt;
        if (old)
                memcpy(t->parts, old->parts, sizeof(rt_part_t *) * (size_t)old->cnt);
        t->parts[p->partition] = p;
        atomic_store_explicit(&tp->table, t, memory_order_release);
        if (old) {
                old->retired_next = g->retired_tables;
                g->retired_tables = old;
        }
        return 0;
}

rt_part_t *rt_topic_part(rt_topic_t *tp, int32_t partition)
{
        rt_ptable_t *t = atomic_load(&tp->table);
        return t && partition < t->cnt ? t->parts[partition] : NULL;
}

rt_task_t *rt_task_new(rt_group_t *g, int index, int absent, char *errstr, size_t errstr_size)
{
        rt_task_t *t = calloc(1, sizeof(*t));
        if (!t) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        t->index = index;
        pthread_mutex_init(&t->lock, NULL);
        if (!absent && rt_task_sink_open(g, t, errstr, errstr_size)) {
                pthread_mutex_destroy(&t->lock);
                free(t);
                return NULL;
        }
        atomic_store(&t->state, RT_TASK_IDLE);
        return t;
}

void rt_task_destroy(rt_task_t *t)
{
        if (!t)
                return;
        rt_task_sink_close(t);
        pthread_mutex_destroy(&t->lock);
        free(t);
}

/* A taskset of every task, for rebalance fan-out. Caller holds op_lock. */
rt_taskset_t *rt_taskset_new(rt_group_t *g, rt_task_t **tasks, int n)
{
        rt_taskset_t *ts = calloc(1, sizeof(*ts) + sizeof(rt_task_t *) * (size_t)n);
        if (!ts)
                return NULL;
        ts->n = n;
        memcpy(ts->tasks, tasks, sizeof(rt_task_t *) * (size_t)n);
        ts->retired_next = g->tasksets;
        g->tasksets = ts;
        return ts;
}

/* A new partition of @p g, released (no owner) and published in its topic's table; NULL
 * when out of memory (it may be in g->parts already: freed at stop). Caller holds op_lock
 * and g->lock. */
rt_part_t *rt_part_new(rt_group_t *g, rt_cluster_t *cl, rt_topic_t *tp, int32_t partition)
{
        rt_part_t *p;
        if (g->nparts == g->parts_cap) {
                int cap = g->parts_cap ? g->parts_cap * 2 : 64;
                rt_part_t **np = realloc(g->parts, sizeof(*np) * (size_t)cap);
                if (!np)
                        return NULL;
                g->parts = np;
                g->parts_cap = cap;
        }
        p = calloc(1, sizeof(*p));
        if (!p)
                return NULL;
        p->cl = cl;
        p->tp = tp;
        p->partition = partition;
        p->rr = (uint64_t)g->nparts;
        p->index = g->nparts;
        pthread_mutex_init(&p->lock, NULL);
        atomic_store(&p->next_offset, -1);
        atomic_store(&p->committed, -1);
        atomic_store(&p->owner_index, -1);
        p->resync_floor = -1;
        p->refetch = -1;
        p->last_lag = p->last_hw = p->last_from = -1;
        atomic_store(&p->lag_ms, -1);
        g->parts[g->nparts++] = p;
        return topic_table_put(g, tp, p) ? NULL : p;
}
