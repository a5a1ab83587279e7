/* runtime.c — the group registry and a group's life: start, live plan change, stop. */
#include "runtime/runtime.h"

#include "base/config.h"
#include "base/err.h"
#include "kafka/kafka.h"
#include "runtime/runtime_int.h"
#include "runtime/runtime_plan.h"
#include "sinks/sink.h"
#include "base/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Groups are shared between the registry and callers: the last put frees it. */
static void group_put(rt_group_t *g)
{
        if (!g || atomic_fetch_sub(&g->refcnt, 1) != 1)
                return;
        pthread_mutex_destroy(&g->op_lock);
        pthread_mutex_destroy(&g->lock);
        pthread_mutex_destroy(&g->ctl_lock);
        pthread_mutex_destroy(&g->err_lock);
        pthread_cond_destroy(&g->ctl_cond);
        json_decref(g->sink_conf);
        free(g->name);
        free(g);
}

/* Finds @p name in the registry (no reference taken: group_get takes one). Caller holds
 * rt->lock. */
static rt_group_t *group_find_locked(kp_runtime_t *rt, const char *name)
{
        rt_group_t *g;
        for (g = rt->groups; g; g = g->next)
                if (!strcmp(g->name, name))
                        return g;
        return NULL;
}

static rt_group_t *group_get(kp_runtime_t *rt, const char *name)
{
        rt_group_t *g;
        pthread_mutex_lock(&rt->lock);
        g = group_find_locked(rt, name);
        if (g)
                atomic_fetch_add(&g->refcnt, 1);
        pthread_mutex_unlock(&rt->lock);
        return g;
}

/*
 * Takes @p add more tasks out of the process's cap (a lock-free leaf: callable under any
 * lock). @returns 0, or KP_ERR_UNPROCESSABLE with errstr naming the limit and the value.
 */
static int tasks_reserve(kp_runtime_t *rt, const char *group, int add, char *errstr,
                         size_t errstr_size)
{
        int cur = atomic_load(&rt->tasks);
        do {
                if (add > 0 && cur + add > rt->max_tasks) {
                        snprintf(errstr, errstr_size,
                                 "group %s needs %d more tasks but %d run already: over the "
                                 "process's limit KPLANE_MAX_TASKS=%d",
                                 group, add, cur, rt->max_tasks);
                        return KP_ERR_UNPROCESSABLE;
                }
        } while (!atomic_compare_exchange_weak(&rt->tasks, &cur, cur + add));
        return 0;
}

static void group_unregister(kp_runtime_t *rt, rt_group_t *g)
{
        rt_group_t **pp;
        atomic_fetch_sub(&rt->tasks, atomic_exchange(&g->tasks_reserved, 0));
        pthread_mutex_lock(&rt->lock);
        for (pp = &rt->groups; *pp; pp = &(*pp)->next) {
                if (*pp == g) {
                        *pp = g->next;
                        pthread_mutex_unlock(&rt->lock);
                        group_put(g);
                        return;
                }
        }
        pthread_mutex_unlock(&rt->lock);
}

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
static void cluster_destroy(rt_cluster_t *cl)
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

static void *cluster_reap(void *arg)
{
        cluster_destroy(arg);
        return NULL;
}

/* Creates cluster @p ref of the group with its consumer and worker queues (the threads
 * start in cluster_workers_start). */
static rt_cluster_t *cluster_new(rt_group_t *g, const kp_cluster_ref_t *ref, char *errstr,
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
        cluster_destroy(cl);
        return NULL;
}

/* Starts the cluster's worker threads (each gets its own arg and frees it). */
static int cluster_workers_start(rt_cluster_t *cl, char *errstr, size_t errstr_size)
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

static rt_cluster_t *group_cluster(rt_group_t *g, const char *name)
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
static rt_topic_t *cluster_topic_add(rt_cluster_t *cl, const char *name)
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

static rt_part_t *topic_part(rt_topic_t *tp, int32_t partition)
{
        rt_ptable_t *t = atomic_load(&tp->table);
        return t && partition < t->cnt ? t->parts[partition] : NULL;
}

static rt_task_t *task_new(rt_group_t *g, int index, char *errstr, size_t errstr_size)
{
        rt_task_t *t = calloc(1, sizeof(*t));
        if (!t) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        t->index = index;
        pthread_mutex_init(&t->lock, NULL);
        t->sink = kp_sink_open(g->sink_conf, index, errstr, errstr_size);
        if (!t->sink) {
                pthread_mutex_destroy(&t->lock);
                free(t);
                return NULL;
        }
        atomic_store(&t->state, RT_TASK_IDLE);
        return t;
}

static void task_destroy(rt_task_t *t)
{
        if (!t)
                return;
        kp_sink_close(t->sink);
        pthread_mutex_destroy(&t->lock);
        free(t);
}

/* A taskset of every task, for rebalance fan-out. Caller holds op_lock. */
static rt_taskset_t *taskset_new(rt_group_t *g, rt_task_t **tasks, int n)
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

/*
 * Seeks those of @p n partitions marked in @p again (by index: moved away from a failed
 * task) back to their committed offset, or to the log start when nothing is committed
 * (the group's position before the failed task took anything). A seek bumps librdkafka's fetch
 * version, so messages fetched before it are discarded when polled. A failed seek is logged: the
 * resync floor still keeps the partition from skipping what the failed task lost.
 */
static void restart_seek(rt_group_t *g, rt_part_t **parts, int n, const char *again)
{
        for (int c = 0; c < g->nclusters; c++) {
                rt_cluster_t *cl = g->clusters[c];
                rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
                for (int i = 0; i < n; i++) {
                        int64_t off = atomic_load(&parts[i]->committed);
                        if (parts[i]->cl == cl && again[parts[i]->index])
                                rd_kafka_topic_partition_list_add(l, parts[i]->tp->name,
                                                                  parts[i]->partition)
                                        ->offset = off >= 0 ? off : RD_KAFKA_OFFSET_BEGINNING;
                }
                if (l->cnt) {
                        rd_kafka_error_t *error =
                                rd_kafka_seek_partitions(cl->rk, l, KP_RUNTIME_COMMIT_TIMEOUT_MS);
                        if (error) {
                                fprintf(stderr, "kplane: runtime: group %s: cluster %s: seek: %s\n",
                                        g->name, cl->name, rd_kafka_error_string(error));
                                rd_kafka_error_destroy(error);
                        }
                }
                rd_kafka_topic_partition_list_destroy(l);
        }
}

static int part_cmp(const void *a, const void *b)
{
        const rt_part_t *x = *(rt_part_t *const *)a, *y = *(rt_part_t *const *)b;
        return x < y ? -1 : x > y;
}

/* @returns 1 when @p err is the coordinator moving or loading, which asking again cures. */
static int coordinator_retriable(rd_kafka_resp_err_t err)
{
        return err == RD_KAFKA_RESP_ERR_NOT_COORDINATOR ||
               err == RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS ||
               err == RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE ||
               err == RD_KAFKA_RESP_ERR__WAIT_COORD || err == RD_KAFKA_RESP_ERR__TIMED_OUT ||
               err == RD_KAFKA_RESP_ERR__TRANSPORT;
}

/* Reads the committed offsets of @p l, asking again while the coordinator moves or loads,
 * for at most KP_RUNTIME_START_OFFSETS_TIMEOUT_MS. librdkafka 2.14 does not retry the
 * offset fetch of a partition assigned at RD_KAFKA_OFFSET_INVALID after NOT_COORDINATOR:
 * the partition is never fetched, so the fallback below must stay the exception. */
static rd_kafka_resp_err_t committed_read(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *l)
{
        int64_t deadline = kp_time_mono_ms() + KP_RUNTIME_START_OFFSETS_TIMEOUT_MS;
        for (;;) {
                rd_kafka_resp_err_t err = rd_kafka_committed(rk, l, KP_RUNTIME_COMMIT_TIMEOUT_MS);
                for (int i = 0; !err && i < l->cnt; i++)
                        if (coordinator_retriable(l->elems[i].err))
                                err = l->elems[i].err;
                if (!coordinator_retriable(err) || kp_time_mono_ms() >= deadline)
                        return err;
                struct timespec pause = {0, KP_RUNTIME_START_OFFSETS_RETRY_MS * 1000000L};
                nanosleep(&pause, NULL);
                for (int i = 0; i < l->cnt; i++)
                        l->elems[i].err = RD_KAFKA_RESP_ERR_NO_ERROR;
        }
}

/* Reads committed offsets of @p parts (all on @p cl) into p->committed and sets
 * p->next_offset; @returns the list to assign, each at its start offset. */
static rd_kafka_topic_partition_list_t *cluster_start_offsets(rt_cluster_t *cl, rt_part_t **parts,
                                                              int n, int64_t fallback)
{
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
        rd_kafka_resp_err_t err;
        int i;

        for (i = 0; i < n; i++)
                rd_kafka_topic_partition_list_add(l, parts[i]->tp->name, parts[i]->partition);
        err = committed_read(cl->rk, l);
        for (i = 0; i < l->cnt; i++) {
                rd_kafka_topic_partition_t *e = &l->elems[i];
                int64_t c = !err && !e->err ? e->offset : RD_KAFKA_OFFSET_INVALID;
                atomic_store(&parts[i]->committed, c >= 0 ? c : -1);
                atomic_store(&parts[i]->next_offset, c >= 0 ? c : -1);
                /* Unknown committed offset (cluster slow to answer): let librdkafka
                 * fetch it and fall back to auto.offset.reset (start_offset). */
                e->offset = c >= 0 ? c : err ? RD_KAFKA_OFFSET_INVALID : fallback;
                e->err = 0;
        }
        if (err)
                fprintf(stderr, "kplane: runtime: group %s cluster %s: committed offsets: %s\n",
                        cl->g->name, cl->name, rd_kafka_err2str(err));
        return l;
}

/* One plan change in progress: group_apply_plan's steps share it. The arrays by part index
 * cover every part that exists once the plan's are created. */
typedef struct apply {
        rt_group_t *g;
        const kp_rt_plan_t *plan;
        int initial; /* the group is starting: new partitions begin at start_offset */
        int old_ntasks;
        size_t n;               /* partitions in the plan */
        size_t nplan;           /* of them found or created so far */
        rt_part_t **want_parts; /* the plan's partitions, in plan order */
        int *want_task;         /* the task the plan gives each of want_parts */
        int *want;              /* by part index: the task the plan gives it, -1 none */
        rt_part_t **moved, **added, **removed;
        int nmoved, nadded, nremoved, nagain;
        char *again; /* by part index: moved away from a failed task, read again */
        rt_taskset_t *fan;
        char *errstr;
        size_t errstr_size;
} apply_t;

static int apply_oom(apply_t *a)
{
        snprintf(a->errstr, a->errstr_size, "out of memory");
        return KP_ERR_NOMEM;
}

/* Adds the cluster of @p ref to the group, with its consumer and worker threads, unless it
 * is there already. */
static int apply_cluster(apply_t *a, const kp_cluster_ref_t *ref)
{
        rt_group_t *g = a->g;
        rt_cluster_t *cl, **cls;

        if (group_cluster(g, ref->name))
                return 0;
        cl = cluster_new(g, ref, a->errstr, a->errstr_size);
        if (!cl)
                return KP_ERR_INVALID;
        pthread_mutex_lock(&g->lock);
        cls = realloc(g->clusters, sizeof(*cls) * (size_t)(g->nclusters + 1));
        if (cls) {
                g->clusters = cls;
                g->clusters[g->nclusters++] = cl;
        }
        pthread_mutex_unlock(&g->lock);
        if (!cls) {
                cluster_destroy(cl);
                return apply_oom(a);
        }
        /* Joined at stop, also when only some started. */
        if (cluster_workers_start(cl, a->errstr, a->errstr_size))
                return KP_ERR_INTERNAL;
        return 0;
}

/* The clusters the plan's partitions name, in order of first mention, and the tasks of its
 * parallelism that the group lacks: everything the plan needs, before anything moves. */
static int apply_clusters_and_tasks(apply_t *a)
{
        const kp_rt_plan_t *plan = a->plan;
        rt_group_t *g = a->g;
        rt_task_t **tasks;
        int t, i, r;

        for (t = 0; t < plan->ntasks; t++)
                for (size_t j = 0; j < plan->tasks[t].nparts; j++)
                        if ((r = apply_cluster(a,
                                               &plan->clusters[plan->tasks[t].parts[j].cluster])))
                                return r;
        if (plan->parallelism <= g->ntasks)
                return 0;
        tasks = calloc((size_t)plan->parallelism, sizeof(*tasks));
        if (!tasks)
                return apply_oom(a);
        memcpy(tasks, g->tasks, sizeof(*tasks) * (size_t)g->ntasks);
        for (i = g->ntasks; i < plan->parallelism; i++) {
                tasks[i] = task_new(g, i, a->errstr, a->errstr_size);
                if (!tasks[i]) {
                        while (--i >= g->ntasks)
                                task_destroy(tasks[i]);
                        free(tasks);
                        return KP_ERR_INVALID;
                }
        }
        pthread_mutex_lock(&g->lock);
        free(g->tasks);
        g->tasks = tasks;
        g->ntasks = plan->parallelism;
        pthread_mutex_unlock(&g->lock);
        return 0;
}

static int apply_alloc(apply_t *a)
{
        size_t nparts = (size_t)a->g->nparts;
        for (int t = 0; t < a->plan->ntasks; t++)
                a->n += a->plan->tasks[t].nparts;
        a->want = malloc(sizeof(*a->want) * (nparts + a->n + 1));
        a->want_parts = calloc(a->n + 1, sizeof(*a->want_parts));
        a->want_task = calloc(a->n + 1, sizeof(*a->want_task));
        a->moved = calloc(nparts + a->n + 1, sizeof(*a->moved));
        a->added = calloc(a->n + 1, sizeof(*a->added));
        a->removed = calloc(nparts + 1, sizeof(*a->removed));
        a->again = calloc(nparts + a->n + 1, 1);
        if (!a->want || !a->want_parts || !a->want_task || !a->moved || !a->added || !a->removed ||
            !a->again)
                return apply_oom(a);
        return 0;
}

static void apply_free(apply_t *a)
{
        free(a->want);
        free(a->want_parts);
        free(a->want_task);
        free(a->moved);
        free(a->added);
        free(a->removed);
        free(a->again);
}

/* A new partition of @p g, released (no owner) and published in its topic's table; NULL
 * when out of memory (it may be in g->parts already: freed at stop). Caller holds op_lock
 * and g->lock. */
static rt_part_t *part_new(rt_group_t *g, rt_cluster_t *cl, rt_topic_t *tp, int32_t partition)
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
        g->parts[g->nparts++] = p;
        return topic_table_put(g, tp, p) ? NULL : p;
}

/* The group's partition for plan partition @p e, created when new. Caller holds g->lock. */
static rt_part_t *apply_part(apply_t *a, const kp_rt_plan_part_t *e)
{
        rt_cluster_t *cl = group_cluster(a->g, a->plan->clusters[e->cluster].name);
        rt_topic_t *tp = cluster_topic_add(cl, e->topic);
        rt_part_t *p;
        if (!tp)
                return NULL;
        p = topic_part(tp, e->partition);
        return p ? p : part_new(a->g, cl, tp, e->partition);
}

/* Finds or creates a partition struct for every partition of the plan, and marks the task
 * the plan gives each; a partition named twice is refused. */
static int apply_parts(apply_t *a)
{
        rt_group_t *g = a->g;
        const kp_rt_plan_t *plan = a->plan;
        int t, i;

        pthread_mutex_lock(&g->lock);
        for (t = 0; t < plan->ntasks; t++) {
                for (size_t j = 0; j < plan->tasks[t].nparts; j++) {
                        rt_part_t *p = apply_part(a, &plan->tasks[t].parts[j]);
                        if (!p) {
                                pthread_mutex_unlock(&g->lock);
                                return apply_oom(a);
                        }
                        a->want_task[a->nplan] = t;
                        a->want_parts[a->nplan++] = p;
                }
        }
        pthread_mutex_unlock(&g->lock);
        for (i = 0; i < g->nparts; i++)
                a->want[i] = -1;
        for (size_t k = 0; k < a->nplan; k++) {
                rt_part_t *p = a->want_parts[k];
                if (a->want[p->index] != -1) {
                        snprintf(a->errstr, a->errstr_size, "plan: %s/%s/%d appears twice",
                                 p->cl->name, p->tp->name, (int)p->partition);
                        return KP_ERR_INVALID;
                }
                a->want[p->index] = a->want_task[k];
        }
        return 0;
}

/* In rebalance mode, when tasks outnumber partitions, every task works: records are dealt
 * round-robin over a taskset of all tasks (the current one when the tasks did not change). */
static int apply_fan(apply_t *a)
{
        rt_group_t *g = a->g;
        int T = a->plan->parallelism;

        if (!g->rebalance || (size_t)T <= a->nplan)
                return 0;
        a->fan = g->tasksets && g->tasksets->n == T && a->old_ntasks == T
                         ? g->tasksets
                         : taskset_new(g, g->tasks, T);
        return a->fan ? 0 : apply_oom(a);
}

/* Sorts the partitions: added (new to the plan), removed (no longer in it) and moved (in it
 * before, with a new owner or fan-out). */
static void apply_classify(apply_t *a)
{
        rt_group_t *g = a->g;
        for (int i = 0; i < g->nparts; i++) {
                rt_part_t *p = g->parts[i];
                int cur = atomic_load(&p->owner_index);
                if (!p->in_plan && a->want[i] >= 0)
                        a->added[a->nadded++] = p;
                else if (p->in_plan && a->want[i] < 0)
                        a->removed[a->nremoved++] = p;
                else if (p->in_plan && (cur != a->want[i] || p->fan != a->fan)) {
                        a->moved[a->nmoved++] = p;
                        /* Its old owner failed with messages maybe unwritten: the new
                         * owner must not go on from next_offset but from the committed
                         * offset (a seek, in apply_hand_over). */
                        if (rt_part_owner_failed(p)) {
                                a->again[i] = 1;
                                a->nagain++;
                        }
                }
        }
}

/* Gives locked partition @p p the owner the plan wants (none when released). */
static void part_set_owner(apply_t *a, rt_part_t *p)
{
        int w = a->want[p->index];
        p->owner = w >= 0 ? a->g->tasks[w] : NULL;
        p->fan = w >= 0 ? a->fan : NULL;
        atomic_store(&p->owner_index, w);
        if (a->again[p->index]) {
                /* Read again from the committed offset. Messages at or past the failed
                 * owner's next_offset still queued (or fetched before the seek) are
                 * dropped until the re-read reaches it: the worker's resync_floor. */
                int64_t c = atomic_load(&p->committed);
                int64_t old = atomic_load(&p->next_offset);
                p->resync_floor = old >= 0 && old > c ? old : -1;
                atomic_store(&p->next_offset, c >= 0 ? c : -1);
        }
}

/* Hands moved and removed partitions over: their old owners finish the message in hand (we
 * hold the partition locks), their sinks are flushed and the offsets committed, then the
 * new owner is set (none for removed ones). */
static void apply_hand_over(apply_t *a)
{
        rt_group_t *g = a->g;
        rt_part_t **locked = a->moved;
        int nlocked = a->nmoved + a->nremoved, i;

        if (!nlocked)
                return;
        memcpy(a->moved + a->nmoved, a->removed, sizeof(*a->removed) * (size_t)a->nremoved);
        qsort(locked, (size_t)nlocked, sizeof(*locked), part_cmp);
        for (i = 0; i < nlocked; i++)
                pthread_mutex_lock(&locked[i]->lock);
        if (rt_commit(g, locked, nlocked, KP_RUNTIME_COMMIT_TIMEOUT_MS))
                /* The hand-over is in memory (next_offset), so nothing is lost or read
                 * twice; only a crash now would re-deliver. */
                fprintf(stderr,
                        "kplane: runtime: group %s: commit before plan change failed; "
                        "continuing\n",
                        g->name);
        for (i = 0; i < nlocked; i++) {
                part_set_owner(a, locked[i]);
                pthread_mutex_unlock(&locked[i]->lock);
        }
        if (a->nagain)
                restart_seek(g, locked, nlocked, a->again);
}

/* Unassigns the partitions no longer in the plan from their consumers. */
static void apply_release(apply_t *a)
{
        rt_group_t *g = a->g;
        int i, j;
        for (i = 0; i < g->nclusters; i++) {
                rt_cluster_t *cl = g->clusters[i];
                rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
                rd_kafka_error_t *error;
                for (j = 0; j < a->nremoved; j++)
                        if (a->removed[j]->cl == cl)
                                rd_kafka_topic_partition_list_add(l, a->removed[j]->tp->name,
                                                                  a->removed[j]->partition);
                if (l->cnt && (error = rd_kafka_incremental_unassign(cl->rk, l))) {
                        fprintf(stderr, "kplane: runtime: unassign: %s\n",
                                rd_kafka_error_string(error));
                        rd_kafka_error_destroy(error);
                }
                rd_kafka_topic_partition_list_destroy(l);
        }
        pthread_mutex_lock(&g->lock);
        for (i = 0; i < a->nremoved; i++)
                a->removed[i]->in_plan = 0;
        pthread_mutex_unlock(&g->lock);
}

/* Starts the new partitions of @p cl: owner set before any message can arrive, queue
 * forwarded to its worker before assign (librdkafka keeps an application's forward), then
 * assigned at the committed offset, else start_offset (initial) or earliest. @p mine has
 * room for every added partition. */
static int apply_assign_cluster(apply_t *a, rt_cluster_t *cl, rt_part_t **mine)
{
        rt_group_t *g = a->g;
        rd_kafka_topic_partition_list_t *l;
        rd_kafka_error_t *error;
        int j, n = 0;

        for (j = 0; j < a->nadded; j++) {
                rt_part_t *p = a->added[j];
                rd_kafka_queue_t *pq;
                if (p->cl != cl)
                        continue;
                pthread_mutex_lock(&p->lock);
                p->owner = g->tasks[a->want[p->index]];
                p->fan = a->fan;
                atomic_store(&p->owner_index, a->want[p->index]);
                pthread_mutex_unlock(&p->lock);
                pq = rd_kafka_queue_get_partition(cl->rk, p->tp->name, p->partition);
                if (pq) {
                        rd_kafka_queue_forward(pq, cl->wq[p->worker]);
                        rd_kafka_queue_destroy(pq);
                }
                mine[n++] = p;
        }
        if (!n)
                return 0;
        l = cluster_start_offsets(cl, mine, n,
                                  a->initial && g->start_latest ? RD_KAFKA_OFFSET_END
                                                                : RD_KAFKA_OFFSET_BEGINNING);
        error = rd_kafka_incremental_assign(cl->rk, l);
        rd_kafka_topic_partition_list_destroy(l);
        if (error) {
                snprintf(a->errstr, a->errstr_size, "cluster %s: assign: %s", cl->name,
                         rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
                return KP_ERR_UNAVAILABLE;
        }
        return 0;
}

static int apply_assign(apply_t *a)
{
        for (int i = 0; i < a->g->nclusters; i++) {
                rt_part_t **mine = calloc((size_t)a->nadded + 1, sizeof(*mine));
                int r = mine ? apply_assign_cluster(a, a->g->clusters[i], mine) : apply_oom(a);
                free(mine);
                if (r)
                        return r;
        }
        return 0;
}

/* The plan is in force: tasks beyond its parallelism own nothing any more and close; each
 * task's partition count and state, and the group's plan version, follow it. */
static void apply_finish(apply_t *a)
{
        rt_group_t *g = a->g;
        int T = a->plan->parallelism, i;

        pthread_mutex_lock(&g->lock);
        for (i = 0; i < a->nadded; i++)
                a->added[i]->in_plan = 1;
        for (i = T; i < g->ntasks; i++) {
                g->retired_messages += atomic_load(&g->tasks[i]->messages);
                task_destroy(g->tasks[i]);
                g->tasks[i] = NULL;
        }
        if (g->ntasks > T)
                g->ntasks = T;
        for (i = 0; i < g->ntasks; i++)
                g->tasks[i]->partitions = 0;
        for (i = 0; i < g->nparts; i++)
                if (g->parts[i]->in_plan && a->want[i] >= 0)
                        g->tasks[a->want[i]]->partitions++;
        for (i = 0; i < g->ntasks; i++) {
                rt_task_t *t = g->tasks[i];
                if (atomic_load(&t->state) != RT_TASK_FAILED)
                        atomic_store(&t->state,
                                     t->partitions || a->fan ? RT_TASK_RUNNING : RT_TASK_IDLE);
        }
        g->plan_version = a->plan->version;
        pthread_mutex_unlock(&g->lock);
}

/*
 * Brings the group to @p plan (checked). @p initial: the group is starting (new partitions
 * begin at start_offset rather than at the earliest offset). Caller holds op_lock.
 */
static int group_apply_plan(rt_group_t *g, const kp_rt_plan_t *plan, int initial, char *errstr,
                            size_t errstr_size)
{
        apply_t a = {.g = g,
                     .plan = plan,
                     .initial = initial,
                     .old_ntasks = g->ntasks,
                     .errstr = errstr,
                     .errstr_size = errstr_size};
        int r = apply_clusters_and_tasks(&a);

        if (!r)
                r = apply_alloc(&a);
        if (!r)
                r = apply_parts(&a);
        if (!r)
                r = apply_fan(&a);
        if (!r) {
                apply_classify(&a);
                apply_hand_over(&a);
                apply_release(&a);
                r = apply_assign(&a);
        }
        if (!r)
                apply_finish(&a);
        apply_free(&a);
        return r;
}

/* Stops workers and the control thread; they finish the message in hand. */
static void group_signal_stop(rt_group_t *g)
{
        int i, j;
        atomic_store(&g->stop, 1);
        pthread_mutex_lock(&g->ctl_lock);
        pthread_cond_broadcast(&g->ctl_cond);
        pthread_mutex_unlock(&g->ctl_lock);
        pthread_mutex_lock(&g->lock);
        for (i = 0; i < g->nclusters; i++)
                for (j = 0; j < g->clusters[i]->nworkers; j++)
                        if (g->clusters[i]->wq[j])
                                rd_kafka_queue_yield(g->clusters[i]->wq[j]);
        pthread_mutex_unlock(&g->lock);
}

/*
 * Closes every consumer of the group at once, until @p deadline_ms at most: a consumer
 * whose cluster is down can take a minute to close (rd_kafka_consumer_close waits for
 * its coordinator), so close through a queue and give up at the deadline; the handle
 * is then destroyed without a close (nothing is lost: commits were explicit).
 * Runs outside g->lock: librdkafka serves callbacks from inside close.
 */
static void group_close_consumers(rt_group_t *g, int64_t deadline_ms)
{
        int i;
        int64_t budget = kp_time_mono_ms() + KP_RUNTIME_CLOSE_TIMEOUT_MS;
        if (deadline_ms > budget)
                deadline_ms = budget;
        for (i = 0; i < g->nclusters; i++) {
                rt_cluster_t *cl = g->clusters[i];
                rd_kafka_error_t *error;
                cl->close_q = rd_kafka_queue_new(cl->rk);
                error = rd_kafka_consumer_close_queue(cl->rk, cl->close_q);
                if (error)
                        rd_kafka_error_destroy(error);
        }
        for (i = 0; i < g->nclusters; i++) {
                rt_cluster_t *cl = g->clusters[i];
                while (!rd_kafka_consumer_closed(cl->rk)) {
                        int64_t left = deadline_ms - kp_time_mono_ms();
                        rd_kafka_event_t *ev;
                        if (left <= 0)
                                break;
                        ev = rd_kafka_queue_poll(cl->close_q, left > 100 ? 100 : (int)left);
                        if (ev)
                                rd_kafka_event_destroy(ev);
                }
                cl->closed = rd_kafka_consumer_closed(cl->rk);
                if (!cl->closed)
                        fprintf(stderr,
                                "kplane: runtime: group %s: cluster %s did not close "
                                "in time\n",
                                g->name, cl->name);
        }
}

/* The last commit of a stop, bounded by @p deadline_ms (monotonic). Caller holds op_lock. */
static void group_commit_last(rt_group_t *g, int64_t deadline_ms)
{
        /* Leave a quarter of the wait for closing: a cluster that does not answer
         * costs at most KP_RUNTIME_COMMIT_TIMEOUT_MS, and what was not committed is
         * read again (at least once). */
        /* A coordinator that just came back (broker restart) can fail the first
         * commit: try again while three quarters of the wait remain; each round only
         * sends what is not committed yet. */
        int64_t commit_until = kp_time_mono_ms() + (deadline_ms - kp_time_mono_ms()) * 3 / 4;
        while (g->nparts) {
                int64_t left = commit_until - kp_time_mono_ms();
                if (left > KP_RUNTIME_COMMIT_TIMEOUT_MS)
                        left = KP_RUNTIME_COMMIT_TIMEOUT_MS;
                if (!rt_commit(g, NULL, 0, left > 100 ? (int)left : 100) ||
                    kp_time_mono_ms() + 200 >= commit_until)
                        break;
                struct timespec pause = {0, 200 * 1000000L};
                nanosleep(&pause, NULL);
        }
}

/* Frees the clusters (a closed one at once, one still closing by a detached thread), tasks,
 * partitions and retired tables of a stopped group. Caller holds op_lock and g->lock. */
static void group_free_arrays(rt_group_t *g)
{
        rt_taskset_t *ts;
        rt_ptable_t *t;
        int i;
        for (i = 0; i < g->nclusters; i++) {
                pthread_t th;
                pthread_attr_t attr;
                rt_cluster_t *cl = g->clusters[i];
                if (cl->closed) {
                        cluster_destroy(cl);
                        continue;
                }
                /* rd_kafka_destroy of a consumer whose coordinator is gone waits for its
                 * pending commit (socket.timeout.ms, a minute): let a detached thread
                 * wait for it so that stop keeps its deadline. */
                pthread_attr_init(&attr);
                pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
                if (pthread_create(&th, &attr, cluster_reap, cl))
                        cluster_destroy(cl);
                pthread_attr_destroy(&attr);
        }
        free(g->clusters);
        g->clusters = NULL;
        g->nclusters = 0;
        for (i = 0; i < g->ntasks; i++)
                task_destroy(g->tasks[i]);
        free(g->tasks);
        g->tasks = NULL;
        g->ntasks = 0;
        for (i = 0; i < g->nparts; i++) {
                pthread_mutex_destroy(&g->parts[i]->lock);
                free(g->parts[i]);
        }
        free(g->parts);
        g->parts = NULL;
        g->nparts = 0;
        while ((ts = g->tasksets)) {
                g->tasksets = ts->retired_next;
                free(ts);
        }
        while ((t = g->retired_tables)) {
                g->retired_tables = t->retired_next;
                free(t);
        }
}

/* Second half of a stop: join, last commit (bounded by @p deadline_ms, monotonic),
 * close consumers and sinks, free everything but the group struct. */
static void group_finish_stop(rt_group_t *g, int64_t deadline_ms)
{
        int i, j;
        for (i = 0; i < g->nclusters; i++)
                for (j = 0; j < g->clusters[i]->workers_started; j++)
                        pthread_join(g->clusters[i]->workers[j], NULL);
        if (g->ctl_started)
                pthread_join(g->ctl, NULL);
        g->ctl_started = 0;

        pthread_mutex_lock(&g->op_lock);
        group_commit_last(g, deadline_ms);
        group_close_consumers(g, deadline_ms);
        pthread_mutex_lock(&g->lock);
        group_free_arrays(g);
        pthread_mutex_unlock(&g->lock);
        pthread_mutex_unlock(&g->op_lock);
}

static void *ctl_trampoline(void *arg)
{
        return rt_ctl_main(arg);
}

kp_runtime_t *kp_runtime_new(char *errstr, size_t errstr_size)
{
        kp_runtime_t *rt = calloc(1, sizeof(*rt));
        if (!rt) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        pthread_mutex_init(&rt->lock, NULL);
        rt->max_tasks = KP_MAX_TASKS_DEFAULT;
        rt->history_samples = KP_HISTORY_SAMPLES;
        return rt;
}

void kp_runtime_set_max_tasks(kp_runtime_t *rt, int max_tasks)
{
        rt->max_tasks = max_tasks > 0 ? max_tasks : KP_MAX_TASKS_DEFAULT;
}

int kp_runtime_task_count(kp_runtime_t *rt)
{
        return atomic_load(&rt->tasks);
}

void kp_runtime_destroy(kp_runtime_t *rt)
{
        rt_group_t *g, **all = NULL;
        int n = 0, i;
        int64_t deadline = kp_time_mono_ms() + KP_RUNTIME_STOP_WAIT_MS;

        if (!rt)
                return;
        /* Signal every group first so they drain at the same time, then finish each. */
        pthread_mutex_lock(&rt->lock);
        for (g = rt->groups; g; g = g->next)
                n++;
        all = calloc((size_t)n + 1, sizeof(*all));
        for (g = rt->groups, i = 0; g && all; g = g->next) {
                int st = atomic_load(&g->state);
                if (st == KP_GROUP_RUNNING || st == KP_GROUP_FAILED) {
                        atomic_store(&g->state, KP_GROUP_STOPPING);
                        atomic_fetch_add(&g->refcnt, 1);
                        all[i++] = g;
                }
        }
        n = all ? i : 0;
        pthread_mutex_unlock(&rt->lock);
        for (i = 0; i < n; i++)
                group_signal_stop(all[i]);
        for (i = 0; i < n; i++) {
                group_finish_stop(all[i], deadline);
                atomic_store(&all[i]->state, KP_GROUP_STOPPED);
                group_unregister(rt, all[i]);
                group_put(all[i]);
        }
        free(all);
        /* Groups still starting or stopping belong to their callers' threads; the
         * owner of the runtime stops callers before destroying it. */
        pthread_mutex_destroy(&rt->lock);
        free(rt);
}

/* What a group document says the runtime needs (strings borrowed from it). */
typedef struct group_conf {
        const char *name;
        const json_t *sink; /* NULL: discard */
        int rebalance;
        int start_latest;
} group_conf_t;

static int group_conf_parse(const json_t *group, group_conf_t *c, char *errstr, size_t errstr_size)
{
        const char *start = json_string_value(json_object_get(group, "start_offset"));
        const json_t *rebalance = json_object_get(group, "rebalance");

        c->name = json_string_value(json_object_get(group, "name"));
        c->sink = json_object_get(group, "sink");
        if (!c->name || !kp_name_valid(c->name)) {
                snprintf(errstr, errstr_size, "name: must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$");
                return KP_ERR_INVALID;
        }
        if (start && strcmp(start, "earliest") && strcmp(start, "latest")) {
                snprintf(errstr, errstr_size, "start_offset: must be \"earliest\" or \"latest\"");
                return KP_ERR_INVALID;
        }
        if (rebalance && !json_is_boolean(rebalance)) {
                snprintf(errstr, errstr_size, "rebalance: must be a boolean");
                return KP_ERR_INVALID;
        }
        if (json_is_null(c->sink))
                c->sink = NULL;
        c->rebalance = json_is_true(rebalance);
        c->start_latest = start && !strcmp(start, "latest");
        return kp_sink_validate(c->sink, errstr, errstr_size);
}

/* A new group in state STARTING, not registered, with two references (the registry's and
 * the starter's). NULL when out of memory. */
static rt_group_t *group_new(kp_runtime_t *rt, const group_conf_t *c)
{
        rt_group_t *g = calloc(1, sizeof(*g));
        if (!g || !(g->name = strdup(c->name))) {
                free(g);
                return NULL;
        }
        g->rt = rt;
        g->sink_conf = c->sink ? json_deep_copy(c->sink) : NULL;
        g->rebalance = c->rebalance;
        g->start_latest = c->start_latest;
        atomic_store(&g->state, KP_GROUP_STARTING);
        atomic_store(&g->refcnt, 2);
        pthread_mutex_init(&g->op_lock, NULL);
        pthread_mutex_init(&g->lock, NULL);
        pthread_mutex_init(&g->ctl_lock, NULL);
        pthread_mutex_init(&g->err_lock, NULL);
        pthread_cond_init(&g->ctl_cond, NULL);
        rt_history_init(&g->hist, rt->history_samples);
        return g;
}

/* Registers @p g with @p ntasks taken from the process's cap. @returns 0, KP_ERR_CONFLICT
 * when a group of its name is registered, KP_ERR_UNPROCESSABLE past the cap. */
static int group_register(kp_runtime_t *rt, rt_group_t *g, int ntasks, char *errstr,
                          size_t errstr_size)
{
        int r;
        pthread_mutex_lock(&rt->lock);
        r = group_find_locked(rt, g->name) ? KP_ERR_CONFLICT : 0;
        if (r)
                snprintf(errstr, errstr_size, "group %s is running", g->name);
        else
                r = tasks_reserve(rt, g->name, ntasks, errstr, errstr_size);
        if (!r) {
                atomic_store(&g->tasks_reserved, ntasks); /* given back by group_unregister */
                g->next = rt->groups;
                rt->groups = g;
        }
        pthread_mutex_unlock(&rt->lock);
        return r;
}

/* Brings registered group @p g to its first plan and starts its control thread. */
static int group_launch(rt_group_t *g, const kp_rt_plan_t *plan, char *errstr, size_t errstr_size)
{
        int r;
        pthread_mutex_lock(&g->op_lock);
        r = group_apply_plan(g, plan, 1, errstr, errstr_size);
        if (!r) {
                if (pthread_create(&g->ctl, NULL, ctl_trampoline, g)) {
                        snprintf(errstr, errstr_size, "cannot start the control thread");
                        r = KP_ERR_INTERNAL;
                } else {
                        g->ctl_started = 1;
                }
        }
        pthread_mutex_unlock(&g->op_lock);
        return r;
}

/* Starts the group of @p c on @p plan (both checked). */
static int group_start(kp_runtime_t *rt, const group_conf_t *c, const kp_rt_plan_t *plan,
                       char *errstr, size_t errstr_size)
{
        rt_group_t *g = group_new(rt, c);
        int r, st = KP_GROUP_STARTING;

        if (!g) {
                snprintf(errstr, errstr_size, "out of memory");
                return KP_ERR_NOMEM;
        }
        if ((r = group_register(rt, g, plan->parallelism, errstr, errstr_size))) {
                atomic_store(&g->refcnt, 1); /* never registered */
                group_put(g);
                return r;
        }
        if ((r = group_launch(g, plan, errstr, errstr_size))) {
                atomic_store(&g->state, KP_GROUP_STOPPING);
                group_signal_stop(g);
                group_finish_stop(g, kp_time_mono_ms() + KP_RUNTIME_COMMIT_TIMEOUT_MS);
                group_unregister(rt, g);
                group_put(g);
                return r;
        }
        /* A fatal error may already have failed it: keep that. */
        atomic_compare_exchange_strong(&g->state, &st, KP_GROUP_RUNNING);
        group_put(g);
        return 0;
}

int kp_runtime_start(kp_runtime_t *rt, const json_t *group, const kp_rt_plan_t *plan, char *errstr,
                     size_t errstr_size)
{
        group_conf_t c;
        int r;
        if ((r = group_conf_parse(group, &c, errstr, errstr_size)) ||
            (r = kp_rt_plan_check(plan, errstr, errstr_size)))
                return r;
        return group_start(rt, &c, plan, errstr, errstr_size);
}

int kp_runtime_group_start(kp_runtime_t *rt, const json_t *group, const json_t *plan,
                           const json_t *clusters, char *errstr, size_t errstr_size)
{
        group_conf_t c;
        kp_rt_plan_t p;
        int r;
        if ((r = group_conf_parse(group, &c, errstr, errstr_size)) ||
            (r = kp_rt_plan_from_json(plan, clusters, &p, errstr, errstr_size)))
                return r;
        r = group_start(rt, &c, &p, errstr, errstr_size);
        kp_rt_plan_cleanup(&p);
        return r;
}

/* Applies @p plan to running group @p g, taking more tasks from the cap before they start
 * and giving fewer back once the plan is in force. Caller holds op_lock (so no other apply
 * changes the reservation meanwhile). */
static int group_apply_reserved(rt_group_t *g, const kp_rt_plan_t *plan, char *errstr,
                                size_t errstr_size)
{
        kp_runtime_t *rt = g->rt;
        int had = atomic_load(&g->tasks_reserved), now, held, r = 0;

        if (plan->parallelism > had) {
                r = tasks_reserve(rt, g->name, plan->parallelism - had, errstr, errstr_size);
                if (!r)
                        atomic_store(&g->tasks_reserved, plan->parallelism);
        }
        if (!r)
                r = group_apply_plan(g, plan, 0, errstr, errstr_size);
        /* what runs now is what counts, whether the apply worked or not */
        pthread_mutex_lock(&g->lock);
        now = g->ntasks;
        pthread_mutex_unlock(&g->lock);
        held = atomic_load(&g->tasks_reserved);
        if (now < held && held > 0) {
                atomic_fetch_sub(&rt->tasks, held - now);
                atomic_store(&g->tasks_reserved, now);
        }
        return r;
}

/* Applies checked @p plan to group @p group: refused unless it runs (or failed) and runs
 * no newer plan. */
static int group_apply(kp_runtime_t *rt, const char *group, const kp_rt_plan_t *plan, char *errstr,
                       size_t errstr_size)
{
        rt_group_t *g = group_get(rt, group);
        int r, st;

        if (!g) {
                snprintf(errstr, errstr_size, "group %s is not running", group);
                return KP_ERR_NOT_FOUND;
        }
        pthread_mutex_lock(&g->op_lock);
        st = atomic_load(&g->state);
        if (st != KP_GROUP_RUNNING && st != KP_GROUP_FAILED) {
                snprintf(errstr, errstr_size, "group %s is %s", group, kp_group_state_name(st));
                r = st == KP_GROUP_STARTING ? KP_ERR_CONFLICT : KP_ERR_NOT_FOUND;
        } else if (plan->version < g->plan_version) {
                /* plan_version changes only under op_lock, which we hold */
                snprintf(errstr, errstr_size,
                         "group %s runs plan version %d: version %d is older, not applied", group,
                         g->plan_version, plan->version);
                r = KP_ERR_CONFLICT;
        } else {
                r = group_apply_reserved(g, plan, errstr, errstr_size);
        }
        pthread_mutex_unlock(&g->op_lock);
        group_put(g);
        return r;
}

int kp_runtime_apply(kp_runtime_t *rt, const char *group, const kp_rt_plan_t *plan, char *errstr,
                     size_t errstr_size)
{
        int r = kp_rt_plan_check(plan, errstr, errstr_size);
        return r ? r : group_apply(rt, group, plan, errstr, errstr_size);
}

int kp_runtime_group_apply(kp_runtime_t *rt, const char *group, const json_t *plan,
                           const json_t *clusters, char *errstr, size_t errstr_size)
{
        kp_rt_plan_t p;
        int r = kp_rt_plan_from_json(plan, clusters, &p, errstr, errstr_size);
        if (r)
                return r;
        r = group_apply(rt, group, &p, errstr, errstr_size);
        kp_rt_plan_cleanup(&p);
        return r;
}

int kp_runtime_group_stop(kp_runtime_t *rt, const char *group, int wait_ms, char *errstr,
                          size_t errstr_size)
{
        rt_group_t *g = group_get(rt, group);
        int st;

        if (!g) {
                snprintf(errstr, errstr_size, "group %s is not running", group);
                return KP_ERR_NOT_FOUND;
        }
        st = atomic_load(&g->state);
        while ((st == KP_GROUP_RUNNING || st == KP_GROUP_FAILED) &&
               !atomic_compare_exchange_weak(&g->state, &st, KP_GROUP_STOPPING))
                ;
        if (st != KP_GROUP_RUNNING && st != KP_GROUP_FAILED) {
                snprintf(errstr, errstr_size, "group %s is %s", group, kp_group_state_name(st));
                group_put(g);
                return KP_ERR_CONFLICT;
        }
        group_signal_stop(g);
        group_finish_stop(g, kp_time_mono_ms() + (wait_ms > 0 ? wait_ms : KP_RUNTIME_STOP_WAIT_MS));
        atomic_store(&g->state, KP_GROUP_STOPPED);
        group_unregister(rt, g);
        group_put(g);
        return 0;
}

int kp_runtime_group_state(kp_runtime_t *rt, const char *group, char *errstr, size_t errstr_size)
{
        rt_group_t *g = group_get(rt, group);
        int st;
        if (!g)
                return KP_GROUP_STOPPED;
        st = atomic_load(&g->state);
        if (st == KP_GROUP_FAILED && errstr && errstr_size) {
                pthread_mutex_lock(&g->err_lock);
                snprintf(errstr, errstr_size, "%s", g->error);
                pthread_mutex_unlock(&g->err_lock);
        }
        group_put(g);
        return st;
}

json_t *kp_runtime_group_status(kp_runtime_t *rt, const char *group)
{
        rt_group_t *g = group_get(rt, group);
        json_t *doc;
        if (!g)
                return NULL;
        doc = json_object();
        json_object_set_new(doc, "group", json_string(g->name));
        rt_group_status_fill(g, doc);
        group_put(g);
        return doc;
}

int kp_runtime_group_history(kp_runtime_t *rt, const char *group, int64_t since, int top,
                             json_t *doc)
{
        rt_group_t *g = group_get(rt, group);
        if (!g)
                return KP_ERR_NOT_FOUND;
        rt_group_history_fill(g, doc, since, top);
        group_put(g);
        return 0;
}

void kp_runtime_set_history_samples(kp_runtime_t *rt, int samples)
{
        if (samples > 0)
                rt->history_samples = samples;
}

int kp_runtime_group_summary(kp_runtime_t *rt, const char *group, kp_runtime_summary_t *out)
{
        rt_group_t *g = group_get(rt, group);
        memset(out, 0, sizeof(*out));
        if (!g)
                return KP_ERR_NOT_FOUND;
        rt_group_summary_fill(g, out);
        group_put(g);
        return 0;
}

/* Runs @p fn on every registered group (with a reference held, registry unlocked). */
static void each_group(kp_runtime_t *rt, void (*fn)(rt_group_t *, void *), void *arg)
{
        rt_group_t *g, **all;
        int n = 0, i;
        pthread_mutex_lock(&rt->lock);
        for (g = rt->groups; g; g = g->next)
                n++;
        all = calloc((size_t)n + 1, sizeof(*all));
        for (g = rt->groups, i = 0; g && all; g = g->next, i++) {
                atomic_fetch_add(&g->refcnt, 1);
                all[i] = g;
        }
        pthread_mutex_unlock(&rt->lock);
        if (!all)
                return;
        for (i = 0; i < n; i++) {
                fn(all[i], arg);
                group_put(all[i]);
        }
        free(all);
}

typedef struct health_arg {
        const char *cluster;
        int health; /* -1 unknown, 0 in error, 1 ok */
        char *last_error, *at;
        size_t last_error_size, at_size;
} health_arg_t;

static void health_one(rt_group_t *g, void *arg)
{
        health_arg_t *h = arg;
        int st = atomic_load(&g->state);
        if (h->health == 0 || (st != KP_GROUP_RUNNING && st != KP_GROUP_FAILED))
                return;
        pthread_mutex_lock(&g->lock);
        for (int i = 0; i < g->nclusters; i++) {
                rt_cluster_t *cl = g->clusters[i];
                if (strcmp(cl->name, h->cluster))
                        continue;
                h->health = !rt_cluster_health_read(cl, h->last_error, h->last_error_size, h->at,
                                                    h->at_size);
        }
        pthread_mutex_unlock(&g->lock);
}

int kp_runtime_cluster_health(kp_runtime_t *rt, const char *cluster, char *last_error,
                              size_t last_error_size, char *at, size_t at_size)
{
        health_arg_t h = {cluster, -1, last_error, at, last_error_size, at_size};
        each_group(rt, health_one, &h);
        return h.health;
}

typedef struct metrics_arg {
        kp_buf_t *out;
        rt_metric_t metric;
} metrics_arg_t;

static void metrics_one(rt_group_t *g, void *arg)
{
        metrics_arg_t *m = arg;
        rt_metrics_group(g, m->out, m->metric);
}

void kp_runtime_metrics_write(kp_runtime_t *rt, kp_buf_t *out)
{
        for (int s = 0; s < RT_METRIC_COUNT; s++) {
                metrics_arg_t m = {out, (rt_metric_t)s};
                const char *head = rt_metrics_head(m.metric);
                kp_buf_append(out, head, strlen(head));
                each_group(rt, metrics_one, &m);
        }
}

int kp_runtime_group_rates(kp_runtime_t *rt, const char *group, json_t **ratesp)
{
        rt_group_t *g = group_get(rt, group);
        json_t *a;
        int i;
        if (!g)
                return KP_ERR_NOT_FOUND;
        a = json_array();
        pthread_mutex_lock(&g->lock);
        for (i = 0; i < g->nparts; i++) {
                rt_part_t *p = g->parts[i];
                if (!p->in_plan)
                        continue;
                json_array_append_new(a, json_pack("{s:s, s:s, s:i, s:f}", "cluster", p->cl->name,
                                                   "topic", p->tp->name, "partition",
                                                   (int)p->partition, "weight",
                                                   atomic_load(&p->rate)));
        }
        pthread_mutex_unlock(&g->lock);
        group_put(g);
        *ratesp = a;
        return 0;
}
