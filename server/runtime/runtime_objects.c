/* runtime_objects.c — a running group's objects: each cluster's consumer, worker queues and
 * threads, topics with their lock-free partition tables, partitions, tasks and tasksets. */
#include "runtime/runtime_objects.h"

#include "base/err.h"
#include "kafka/kafka.h"
#include "sinks/sink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * One consumer handle per (group, cluster): manual assignment, no auto commit, no auto
 * offset store; kplane commits what the sinks took. The configuration is the one cluster
 * registration checked (kp_kafka_consumer_conf_new), so what was accepted starts.
 */
static rd_kafka_t *cluster_consumer_new(rt_group_t *g, rt_cluster_t *cl,
                                        const kp_cluster_ref_t *ref, char *errstr,
                                        size_t errstr_size)
{
        char err[256];
        rd_kafka_t *rk;
        rd_kafka_conf_t *conf = kp_kafka_consumer_conf_new(ref->bootstrap, ref->config, g->name,
                                                           g->start_latest ? "latest" : "earliest",
                                                           errstr, errstr_size);
        if (!conf)
                return NULL;
        rd_kafka_conf_set_error_cb(conf, rt_cluster_error_cb);
        rd_kafka_conf_set_opaque(conf, cl);
        rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
        if (!rk) {
                snprintf(errstr, errstr_size, "cluster %s: %s", cl->name, err);
                goto fail;
        }
        conf = NULL; /* owned by rk now */
        /* Errors and callbacks arrive on the consumer queue, polled by the control thread;
         * messages never do: every partition queue is forwarded to a worker queue. */
        rd_kafka_poll_set_consumer(rk);
        return rk;
fail:
        rd_kafka_conf_destroy(conf);
        return NULL;
}

static void *worker_start_trampoline(void *arg)
{
        return rt_worker_main(arg);
}

/* Frees a cluster whose workers have stopped (its consumer closed, or never used). */
void rt_cluster_destroy(rt_cluster_t *cl)
{
        int i;
        if (!cl)
                return;
        if (cl->rk) {
                for (i = 0; i < cl->nworkers; i++)
                        if (cl->wq[i])
                                rd_kafka_queue_destroy(cl->wq[i]);
                for (i = 0; i < cl->ntopics; i++)
                        rd_kafka_topic_destroy(cl->topics[i]->rkt);
                if (cl->close_q)
                        rd_kafka_queue_destroy(cl->close_q);
                /* Closed above, or it would block on a cluster that does not answer. */
                rd_kafka_destroy_flags(cl->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
        }
        for (i = 0; i < cl->ntopics; i++) {
                rt_ptable_t *t = atomic_load(&cl->topics[i]->table);
                free(t);
                free(cl->topics[i]->name);
                free(cl->topics[i]);
        }
        free(cl->topics);
        free(cl->wq);
        free(cl->workers);
        free(cl->name);
        free(cl);
}

void *rt_cluster_reap(void *arg)
{
        rt_cluster_destroy(arg);
        return NULL;
}

/* Creates cluster @p ref of the group with its consumer and worker queues (the threads
 * start in rt_cluster_workers_start). */
rt_cluster_t *rt_cluster_new(rt_group_t *g, const kp_cluster_ref_t *ref, char *errstr,
                             size_t errstr_size)
{
        rt_cluster_t *cl = calloc(1, sizeof(*cl));
        int i;

        if (!cl || !(cl->name = strdup(ref->name))) {
                free(cl);
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        cl->g = g;
        cl->nworkers = KP_RUNTIME_WORKERS_PER_CLUSTER;
        cl->wq = calloc((size_t)cl->nworkers, sizeof(*cl->wq));
        cl->workers = calloc((size_t)cl->nworkers, sizeof(*cl->workers));
        if (!cl->wq || !cl->workers) {
                snprintf(errstr, errstr_size, "out of memory");
                goto fail;
        }
        cl->rk = cluster_consumer_new(g, cl, ref, errstr, errstr_size);
        if (!cl->rk)
                goto fail;
        for (i = 0; i < cl->nworkers; i++)
                cl->wq[i] = rd_kafka_queue_new(cl->rk);
        return cl;
fail:
        rt_cluster_destroy(cl);
        return NULL;
}

/* Starts the cluster's worker threads (each gets its own arg and frees it). */
int rt_cluster_workers_start(rt_cluster_t *cl, char *errstr, size_t errstr_size)
{
        int i;
        for (i = 0; i < cl->nworkers; i++) {
                rt_worker_arg_t *a = malloc(sizeof(*a));
                if (!a) {
                        snprintf(errstr, errstr_size, "out of memory");
                        return KP_ERR_NOMEM;
                }
                a->cl = cl;
                a->index = i;
                if (pthread_create(&cl->workers[i], NULL, worker_start_trampoline, a)) {
                        free(a);
                        snprintf(errstr, errstr_size, "cannot start a worker thread");
                        return KP_ERR_INTERNAL;
                }
                cl->workers_started = i + 1;
        }
        return 0;
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

/* Finds or creates the topic; its librdkafka handle carries it as opaque. Caller
 * holds op_lock and g->lock. */
rt_topic_t *rt_cluster_topic_add(rt_cluster_t *cl, const char *name)
{
        rt_topic_t *tp = cluster_topic(cl, name), **topics;
        rd_kafka_topic_conf_t *tconf;

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
        tconf = rd_kafka_topic_conf_new();
        rd_kafka_topic_conf_set_opaque(tconf, tp);
        tp->rkt = rd_kafka_topic_new(cl->rk, name, tconf);
        if (!tp->rkt) {
                free(tp->name);
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

rt_task_t *rt_task_new(rt_group_t *g, int index, char *errstr, size_t errstr_size)
{
        rt_task_t *t = calloc(1, sizeof(*t));
        if (!t) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        t->index = index;
        pthread_mutex_init(&t->lock, NULL);
        if (rt_task_sink_open(g, t, errstr, errstr_size)) {
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
        p->worker = cl->next_worker++ % cl->nworkers;
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
