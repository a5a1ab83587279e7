/* runtime.c — the group registry and a group's life: start, live plan change, stop. */
#include "runtime/runtime.h"

#include "base/config.h"
#include "base/err.h"
#include "kafka/kafka.h"
#include "runtime/runtime_int.h"
#include "sinks/sink.h"
#include "base/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One partition of a plan document, in plan order. */
typedef struct plan_entry {
        const char *cluster;
        const char *topic;
        int32_t partition;
        int task;
} plan_entry_t;

typedef struct plan_doc {
        plan_entry_t *e;
        size_t n;
        int ntasks;
        int version;
} plan_doc_t;

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

/* Reads a plan document. Entry strings are borrowed from @p plan. */
static int plan_parse(const json_t *plan, const json_t *clusters, plan_doc_t *pd, char *errstr,
                      size_t errstr_size)
{
        json_t *tasks = json_object_get(plan, "tasks");
        json_t *t, *p;
        size_t i, j, n = 0;
        int *seen = NULL;
        int r = KP_ERR_INVALID;

        memset(pd, 0, sizeof(*pd));
        if (!json_is_object(plan) || !json_is_array(tasks) || json_array_size(tasks) == 0 ||
            json_array_size(tasks) > KP_PARALLELISM_MAX) {
                snprintf(errstr, errstr_size, "plan.tasks: must be a non-empty array");
                return KP_ERR_INVALID;
        }
        if (!json_is_object(clusters)) {
                snprintf(errstr, errstr_size, "clusters: must be an object");
                return KP_ERR_INVALID;
        }
        pd->version = (int)json_integer_value(json_object_get(plan, "version"));
        pd->ntasks = (int)json_array_size(tasks);
        json_array_foreach(tasks, i, t) n += json_array_size(json_object_get(t, "partitions"));
        pd->e = calloc(n ? n : 1, sizeof(*pd->e));
        seen = calloc((size_t)pd->ntasks, sizeof(*seen));
        if (!pd->e || !seen) {
                snprintf(errstr, errstr_size, "out of memory");
                r = KP_ERR_NOMEM;
                goto out;
        }
        json_array_foreach(tasks, i, t)
        {
                json_t *parts = json_object_get(t, "partitions");
                json_t *ti = json_object_get(t, "task");
                int task = ti ? (int)json_integer_value(ti) : (int)i;
                if ((ti && !json_is_integer(ti)) || task < 0 || task >= pd->ntasks ||
                    seen[task]++) {
                        snprintf(errstr, errstr_size,
                                 "plan.tasks[%zu].task: must be a unique number 0..%d", i,
                                 pd->ntasks - 1);
                        goto out;
                }
                if (parts && !json_is_array(parts)) {
                        snprintf(errstr, errstr_size, "plan.tasks[%zu].partitions: not an array",
                                 i);
                        goto out;
                }
                json_array_foreach(parts, j, p)
                {
                        plan_entry_t *e = &pd->e[pd->n];
                        json_t *pn = json_object_get(p, "partition");
                        json_t *cl;
                        e->cluster = json_string_value(json_object_get(p, "cluster"));
                        e->topic = json_string_value(json_object_get(p, "topic"));
                        if (!e->cluster || !e->topic || !json_is_integer(pn) ||
                            json_integer_value(pn) < 0 ||
                            json_integer_value(pn) >= KP_PARTITIONS_PER_TOPIC_MAX ||
                            !kp_topic_name_valid(e->topic)) {
                                snprintf(errstr, errstr_size,
                                         "plan.tasks[%zu].partitions[%zu]: needs cluster, "
                                         "topic and partition",
                                         i, j);
                                goto out;
                        }
                        cl = json_object_get(clusters, e->cluster);
                        if (!json_is_string(json_object_get(cl, "bootstrap_servers"))) {
                                snprintf(errstr, errstr_size,
                                         "plan.tasks[%zu].partitions[%zu]: cluster \"%s\" has "
                                         "no bootstrap_servers",
                                         i, j, e->cluster);
                                goto out;
                        }
                        e->partition = (int32_t)json_integer_value(pn);
                        e->task = task;
                        pd->n++;
                }
        }
        r = 0;
out:
        free(seen);
        if (r) {
                free(pd->e);
                pd->e = NULL;
        }
        return r;
}

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

/* Finds @p name in the registry and takes a reference. Caller holds rt->lock. */
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

/* librdkafka calls this from rd_kafka_consumer_poll on the control thread. */
static void cluster_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
        rt_cluster_t *cl = opaque;
        (void)rk;
        rt_cluster_error(cl, "%s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
        if (err == RD_KAFKA_RESP_ERR__FATAL) {
                int st = KP_GROUP_RUNNING;
                pthread_mutex_lock(&cl->g->err_lock);
                snprintf(cl->g->error, sizeof(cl->g->error), "cluster %s: %s", cl->name, reason);
                pthread_mutex_unlock(&cl->g->err_lock);
                atomic_compare_exchange_strong(&cl->g->state, &st, KP_GROUP_FAILED);
        }
}

/*
 * One consumer handle per (group, cluster): manual assignment, no auto commit, no auto
 * offset store; kplane commits what the sinks took. The configuration is the one cluster
 * registration checked (kp_kafka_consumer_conf_new), so what was accepted starts.
 */
static rd_kafka_t *cluster_consumer_new(rt_group_t *g, rt_cluster_t *cl, const json_t *desc,
                                        char *errstr, size_t errstr_size)
{
        char err[256];
        rd_kafka_t *rk;
        rd_kafka_conf_t *conf = kp_kafka_consumer_conf_new(
                json_string_value(json_object_get(desc, "bootstrap_servers")),
                json_object_get(desc, "config"), g->name, g->start_latest ? "latest" : "earliest",
                errstr, errstr_size);
        if (!conf)
                return NULL;
        rd_kafka_conf_set_error_cb(conf, cluster_error_cb);
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

/* Creates cluster @p name of the group with its consumer and worker threads. */
static rt_cluster_t *cluster_new(rt_group_t *g, const char *name, const json_t *clusters,
                                 char *errstr, size_t errstr_size)
{
        rt_cluster_t *cl = calloc(1, sizeof(*cl));
        int i;

        if (!cl || !(cl->name = strdup(name))) {
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
        cl->rk = cluster_consumer_new(g, cl, json_object_get(clusters, name), errstr, errstr_size);
        if (!cl->rk)
                goto fail;
        for (i = 0; i < cl->nworkers; i++)
                cl->wq[i] = rd_kafka_queue_new(cl->rk);
        return cl;
fail:
        cluster_destroy(cl);
        return NULL;
}

/* Starts the cluster's worker threads (their args live in one array per cluster). */
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
        if (rt_task_sink_open(g, t, errstr, errstr_size)) {
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
        rt_task_sink_close(t);
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

/*
 * Brings the group to @p pd. @p initial: the group is starting (new partitions begin at
 * start_offset rather than at the earliest offset). Caller holds op_lock.
 */
static int group_apply_plan(rt_group_t *g, const plan_doc_t *pd, const json_t *clusters,
                            int initial, char *errstr, size_t errstr_size)
{
        rt_part_t **moved = NULL, **added = NULL, **removed = NULL, **want_parts = NULL;
        char *again = NULL; /* by part index: moved away from a failed task, read again */
        int *want = NULL;
        int nmoved = 0, nadded = 0, nremoved = 0, nagain = 0, nplan = 0;
        rt_task_t **tasks = NULL;
        rt_taskset_t *fan = NULL;
        int old_ntasks = g->ntasks, i, r = 0;
        size_t k;

        /* 1. Clusters and tasks the plan needs (nothing moves yet). */
        for (k = 0; k < pd->n; k++) {
                rt_cluster_t *cl, **cls;
                if (group_cluster(g, pd->e[k].cluster))
                        continue;
                cl = cluster_new(g, pd->e[k].cluster, clusters, errstr, errstr_size);
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
                        snprintf(errstr, errstr_size, "out of memory");
                        return KP_ERR_NOMEM;
                }
                /* Joined at stop, also when only some started. */
                if (cluster_workers_start(cl, errstr, errstr_size))
                        return KP_ERR_INTERNAL;
        }
        if (pd->ntasks > g->ntasks) {
                tasks = calloc((size_t)pd->ntasks, sizeof(*tasks));
                if (!tasks) {
                        snprintf(errstr, errstr_size, "out of memory");
                        return KP_ERR_NOMEM;
                }
                memcpy(tasks, g->tasks, sizeof(*tasks) * (size_t)g->ntasks);
                for (i = g->ntasks; i < pd->ntasks; i++) {
                        tasks[i] = task_new(g, i, errstr, errstr_size);
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
                g->ntasks = pd->ntasks;
                pthread_mutex_unlock(&g->lock);
        }

        /* 2. Partition structs for every partition of the plan; desired owner of each. */
        want = malloc(sizeof(*want) * (size_t)(g->nparts + (int)pd->n + 1));
        want_parts = calloc(pd->n + 1, sizeof(*want_parts));
        moved = calloc((size_t)g->nparts + pd->n + 1, sizeof(*moved));
        added = calloc(pd->n + 1, sizeof(*added));
        removed = calloc((size_t)g->nparts + 1, sizeof(*removed));
        again = calloc((size_t)g->nparts + pd->n + 1, 1);
        if (!want || !want_parts || !moved || !added || !removed || !again) {
                snprintf(errstr, errstr_size, "out of memory");
                r = KP_ERR_NOMEM;
                goto out;
        }
        pthread_mutex_lock(&g->lock);
        for (k = 0; k < pd->n; k++) {
                const plan_entry_t *e = &pd->e[k];
                rt_cluster_t *cl = group_cluster(g, e->cluster);
                rt_topic_t *tp = cluster_topic_add(cl, e->topic);
                rt_part_t *p = tp ? topic_part(tp, e->partition) : NULL;
                if (!tp) {
                        snprintf(errstr, errstr_size, "out of memory");
                        r = KP_ERR_NOMEM;
                        break;
                }
                if (!p) {
                        if (g->nparts == g->parts_cap) {
                                int cap = g->parts_cap ? g->parts_cap * 2 : 64;
                                rt_part_t **np = realloc(g->parts, sizeof(*np) * (size_t)cap);
                                if (np)
                                        g->parts = np;
                                if (!np) {
                                        snprintf(errstr, errstr_size, "out of memory");
                                        r = KP_ERR_NOMEM;
                                        break;
                                }
                                g->parts_cap = cap;
                        }
                        p = calloc(1, sizeof(*p));
                        if (!p) {
                                snprintf(errstr, errstr_size, "out of memory");
                                r = KP_ERR_NOMEM;
                                break;
                        }
                        p->cl = cl;
                        p->tp = tp;
                        p->partition = e->partition;
                        p->worker = cl->next_worker++ % cl->nworkers;
                        p->rr = (uint64_t)g->nparts;
                        p->index = g->nparts;
                        pthread_mutex_init(&p->lock, NULL);
                        atomic_store(&p->next_offset, -1);
                        atomic_store(&p->committed, -1);
                        atomic_store(&p->owner_index, -1);
                        p->resync_floor = -1;
                        g->parts[g->nparts++] = p;
                        if (topic_table_put(g, tp, p)) {
                                snprintf(errstr, errstr_size, "out of memory");
                                r = KP_ERR_NOMEM;
                                break;
                        }
                }
                want_parts[nplan++] = p;
        }
        pthread_mutex_unlock(&g->lock);
        if (r)
                goto out;
        for (i = 0; i < g->nparts; i++)
                want[i] = -1;
        for (i = 0; i < nplan; i++) {
                if (want[want_parts[i]->index] != -1) {
                        snprintf(errstr, errstr_size, "plan: %s/%s/%d appears twice",
                                 want_parts[i]->cl->name, want_parts[i]->tp->name,
                                 (int)want_parts[i]->partition);
                        r = KP_ERR_INVALID;
                        goto out;
                }
                want[want_parts[i]->index] = pd->e[i].task;
        }

        /* 3. Fan-out in rebalance mode when tasks outnumber partitions: every task works. */
        if (g->rebalance && pd->ntasks > nplan) {
                fan = g->tasksets && g->tasksets->n == pd->ntasks && old_ntasks == pd->ntasks
                              ? g->tasksets
                              : taskset_new(g, g->tasks, pd->ntasks);
                if (!fan) {
                        snprintf(errstr, errstr_size, "out of memory");
                        r = KP_ERR_NOMEM;
                        goto out;
                }
        }

        /* 4. Classify: moved (in plan before, owner or fan-out changes), released, new. */
        for (i = 0; i < g->nparts; i++) {
                rt_part_t *p = g->parts[i];
                int cur = atomic_load(&p->owner_index);
                if (!p->in_plan && want[i] >= 0)
                        added[nadded++] = p;
                else if (p->in_plan && want[i] < 0)
                        removed[nremoved++] = p;
                else if (p->in_plan && (cur != want[i] || p->fan != fan)) {
                        moved[nmoved++] = p;
                        /* Its old owner failed with messages maybe unwritten: the new
                         * owner must not go on from next_offset but from the committed
                         * offset (a seek, in step 5). */
                        if (rt_part_owner_failed(p)) {
                                again[i] = 1;
                                nagain++;
                        }
                }
        }

        /* 5. Hand over: the old owners finish the message in hand (we hold the partition
         * locks), their sinks are flushed and the offsets committed, then the new owner
         * is set. Released partitions are committed the same way. */
        if (nmoved || nremoved) {
                rt_part_t **locked = moved;
                int nlocked = nmoved;
                memcpy(moved + nmoved, removed, sizeof(*removed) * (size_t)nremoved);
                nlocked += nremoved;
                qsort(locked, (size_t)nlocked, sizeof(*locked), part_cmp);
                for (i = 0; i < nlocked; i++)
                        pthread_mutex_lock(&locked[i]->lock);
                if (rt_commit(g, locked, nlocked, KP_RUNTIME_COMMIT_TIMEOUT_MS))
                        /* The hand-over is in memory (next_offset), so nothing is lost
                         * or read twice; only a crash now would re-deliver. */
                        fprintf(stderr,
                                "kplane: runtime: group %s: commit before plan change "
                                "failed; continuing\n",
                                g->name);
                for (i = 0; i < nlocked; i++) {
                        rt_part_t *p = locked[i];
                        int w = want[p->index];
                        p->owner = w >= 0 ? g->tasks[w] : NULL;
                        p->fan = w >= 0 ? fan : NULL;
                        atomic_store(&p->owner_index, w);
                        if (again[p->index]) {
                                /* Read again from the committed offset. Messages at or
                                 * past the failed owner's next_offset still queued (or
                                 * fetched before the seek below) are dropped until the
                                 * re-read reaches it: the worker's resync_floor. */
                                int64_t c = atomic_load(&p->committed);
                                int64_t old = atomic_load(&p->next_offset);
                                p->resync_floor = old >= 0 && old > c ? old : -1;
                                atomic_store(&p->next_offset, c >= 0 ? c : -1);
                        }
                        pthread_mutex_unlock(&p->lock);
                }
                if (nagain)
                        restart_seek(g, locked, nlocked, again);
        }

        /* 6. Release partitions no longer in the plan. */
        for (i = 0; i < g->nclusters; i++) {
                rt_cluster_t *cl = g->clusters[i];
                rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
                rd_kafka_error_t *error;
                int j;
                for (j = 0; j < nremoved; j++)
                        if (removed[j]->cl == cl)
                                rd_kafka_topic_partition_list_add(l, removed[j]->tp->name,
                                                                  removed[j]->partition);
                if (l->cnt && (error = rd_kafka_incremental_unassign(cl->rk, l))) {
                        fprintf(stderr, "kplane: runtime: unassign: %s\n",
                                rd_kafka_error_string(error));
                        rd_kafka_error_destroy(error);
                }
                rd_kafka_topic_partition_list_destroy(l);
        }
        pthread_mutex_lock(&g->lock);
        for (i = 0; i < nremoved; i++)
                removed[i]->in_plan = 0;
        pthread_mutex_unlock(&g->lock);

        /* 7. New partitions: owner set before any message can arrive, queue forwarded to
         * its worker before assign (librdkafka keeps an application's forward), then
         * assigned at the committed offset, else start_offset (initial) or earliest. */
        for (i = 0; i < g->nclusters; i++) {
                rt_cluster_t *cl = g->clusters[i];
                rt_part_t **mine = calloc((size_t)nadded + 1, sizeof(*mine));
                rd_kafka_topic_partition_list_t *l;
                rd_kafka_error_t *error;
                int j, n = 0;
                if (!mine) {
                        snprintf(errstr, errstr_size, "out of memory");
                        r = KP_ERR_NOMEM;
                        goto out;
                }
                for (j = 0; j < nadded; j++) {
                        rt_part_t *p = added[j];
                        rd_kafka_queue_t *pq;
                        if (p->cl != cl)
                                continue;
                        pthread_mutex_lock(&p->lock);
                        p->owner = g->tasks[want[p->index]];
                        p->fan = fan;
                        atomic_store(&p->owner_index, want[p->index]);
                        pthread_mutex_unlock(&p->lock);
                        pq = rd_kafka_queue_get_partition(cl->rk, p->tp->name, p->partition);
                        if (pq) {
                                rd_kafka_queue_forward(pq, cl->wq[p->worker]);
                                rd_kafka_queue_destroy(pq);
                        }
                        mine[n++] = p;
                }
                if (n) {
                        l = cluster_start_offsets(cl, mine, n,
                                                  initial && g->start_latest
                                                          ? RD_KAFKA_OFFSET_END
                                                          : RD_KAFKA_OFFSET_BEGINNING);
                        error = rd_kafka_incremental_assign(cl->rk, l);
                        rd_kafka_topic_partition_list_destroy(l);
                        if (error) {
                                snprintf(errstr, errstr_size, "cluster %s: assign: %s", cl->name,
                                         rd_kafka_error_string(error));
                                rd_kafka_error_destroy(error);
                                free(mine);
                                r = KP_ERR_UNAVAILABLE;
                                goto out;
                        }
                }
                free(mine);
        }

        /* 8. Tasks beyond the plan own nothing any more: close them. Counts and states. */
        pthread_mutex_lock(&g->lock);
        for (i = 0; i < nadded; i++)
                added[i]->in_plan = 1;
        for (i = pd->ntasks; i < g->ntasks; i++) {
                g->retired_messages += atomic_load(&g->tasks[i]->messages);
                task_destroy(g->tasks[i]);
                g->tasks[i] = NULL;
        }
        if (g->ntasks > pd->ntasks)
                g->ntasks = pd->ntasks;
        for (i = 0; i < g->ntasks; i++)
                g->tasks[i]->partitions = 0;
        for (i = 0; i < g->nparts; i++)
                if (g->parts[i]->in_plan && want[i] >= 0)
                        g->tasks[want[i]]->partitions++;
        for (i = 0; i < g->ntasks; i++) {
                rt_task_t *t = g->tasks[i];
                if (atomic_load(&t->state) != RT_TASK_FAILED)
                        atomic_store(&t->state,
                                     t->partitions || fan ? RT_TASK_RUNNING : RT_TASK_IDLE);
        }
        g->plan_version = pd->version;
        pthread_mutex_unlock(&g->lock);
out:
        free(want);
        free(want_parts);
        free(moved);
        free(added);
        free(removed);
        free(again);
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

/* Second half of a stop: join, last commit (bounded by @p deadline_ms, monotonic),
 * close consumers and sinks, free everything but the group struct. */
static void group_finish_stop(rt_group_t *g, int64_t deadline_ms)
{
        int i, j;
        int64_t left;
        rt_taskset_t *ts;
        rt_ptable_t *t;

        for (i = 0; i < g->nclusters; i++)
                for (j = 0; j < g->clusters[i]->workers_started; j++)
                        pthread_join(g->clusters[i]->workers[j], NULL);
        if (g->ctl_started)
                pthread_join(g->ctl, NULL);
        g->ctl_started = 0;

        pthread_mutex_lock(&g->op_lock);
        /* Leave a quarter of the wait for closing: a cluster that does not answer
         * costs at most KP_RUNTIME_COMMIT_TIMEOUT_MS, and what was not committed is
         * read again (at least once). */
        /* A coordinator that just came back (broker restart) can fail the first
         * commit: try again while three quarters of the wait remain; each round only
         * sends what is not committed yet. */
        int64_t commit_until = kp_time_mono_ms() + (deadline_ms - kp_time_mono_ms()) * 3 / 4;
        while (g->nparts) {
                left = commit_until - kp_time_mono_ms();
                if (left > KP_RUNTIME_COMMIT_TIMEOUT_MS)
                        left = KP_RUNTIME_COMMIT_TIMEOUT_MS;
                if (!rt_commit(g, NULL, 0, left > 100 ? (int)left : 100) ||
                    kp_time_mono_ms() + 200 >= commit_until)
                        break;
                struct timespec pause = {0, 200 * 1000000L};
                nanosleep(&pause, NULL);
        }
        group_close_consumers(g, deadline_ms);
        pthread_mutex_lock(&g->lock);
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
        rt_group_sinks_close(g);
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

int kp_runtime_group_start(kp_runtime_t *rt, const json_t *group, const json_t *plan,
                           const json_t *clusters, char *errstr, size_t errstr_size)
{
        const char *name = json_string_value(json_object_get(group, "name"));
        const char *start = json_string_value(json_object_get(group, "start_offset"));
        json_t *sink = json_object_get(group, "sink");
        json_t *rebalance = json_object_get(group, "rebalance");
        plan_doc_t pd;
        rt_group_t *g;
        int r;

        if (!name || !kp_name_valid(name)) {
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
        if (json_is_null(sink))
                sink = NULL;
        if ((r = kp_sink_validate(sink, errstr, errstr_size)))
                return r;
        if ((r = plan_parse(plan, clusters, &pd, errstr, errstr_size)))
                return r;

        g = calloc(1, sizeof(*g));
        if (!g || !(g->name = strdup(name))) {
                free(g);
                free(pd.e);
                snprintf(errstr, errstr_size, "out of memory");
                return KP_ERR_NOMEM;
        }
        g->rt = rt;
        g->sink_conf = sink ? json_deep_copy(sink) : NULL;
        g->rebalance = json_is_true(rebalance);
        g->start_latest = start && !strcmp(start, "latest");
        atomic_store(&g->state, KP_GROUP_STARTING);
        atomic_store(&g->refcnt, 2); /* the registry's and ours */
        pthread_mutex_init(&g->op_lock, NULL);
        pthread_mutex_init(&g->lock, NULL);
        pthread_mutex_init(&g->ctl_lock, NULL);
        pthread_mutex_init(&g->err_lock, NULL);
        pthread_cond_init(&g->ctl_cond, NULL);
        rt_history_init(&g->hist, rt->history_samples);

        pthread_mutex_lock(&rt->lock);
        r = group_find_locked(rt, name) ? KP_ERR_CONFLICT : 0;
        if (r)
                snprintf(errstr, errstr_size, "group %s is running", name);
        else
                r = tasks_reserve(rt, name, pd.ntasks, errstr, errstr_size);
        if (r) {
                pthread_mutex_unlock(&rt->lock);
                free(pd.e);
                atomic_store(&g->refcnt, 1);
                group_put(g);
                return r;
        }
        atomic_store(&g->tasks_reserved, pd.ntasks); /* given back by group_unregister */
        g->next = rt->groups;
        rt->groups = g;
        pthread_mutex_unlock(&rt->lock);

        pthread_mutex_lock(&g->op_lock);
        r = group_apply_plan(g, &pd, clusters, 1, errstr, errstr_size);
        if (!r) {
                if (pthread_create(&g->ctl, NULL, ctl_trampoline, g)) {
                        snprintf(errstr, errstr_size, "cannot start the control thread");
                        r = KP_ERR_INTERNAL;
                } else {
                        g->ctl_started = 1;
                }
        }
        pthread_mutex_unlock(&g->op_lock);
        free(pd.e);
        if (r) {
                atomic_store(&g->state, KP_GROUP_STOPPING);
                group_signal_stop(g);
                group_finish_stop(g, kp_time_mono_ms() + KP_RUNTIME_COMMIT_TIMEOUT_MS);
                group_unregister(rt, g);
                group_put(g);
                return r;
        }
        /* A fatal error may already have failed it: keep that. */
        {
                int st = KP_GROUP_STARTING;
                atomic_compare_exchange_strong(&g->state, &st, KP_GROUP_RUNNING);
        }
        group_put(g);
        return 0;
}

int kp_runtime_group_apply(kp_runtime_t *rt, const char *group, const json_t *plan,
                           const json_t *clusters, char *errstr, size_t errstr_size)
{
        rt_group_t *g;
        plan_doc_t pd;
        int r, st;

        if ((r = plan_parse(plan, clusters, &pd, errstr, errstr_size)))
                return r;
        g = group_get(rt, group);
        if (!g) {
                free(pd.e);
                snprintf(errstr, errstr_size, "group %s is not running", group);
                return KP_ERR_NOT_FOUND;
        }
        pthread_mutex_lock(&g->op_lock);
        st = atomic_load(&g->state);
        if (st != KP_GROUP_RUNNING && st != KP_GROUP_FAILED) {
                snprintf(errstr, errstr_size, "group %s is %s", group, kp_group_state_name(st));
                r = st == KP_GROUP_STARTING ? KP_ERR_CONFLICT : KP_ERR_NOT_FOUND;
        } else {
                /* more tasks are taken from the cap before they start; fewer are given
                 * back once the plan is in force (op_lock: no other apply meanwhile) */
                int had = atomic_load(&g->tasks_reserved);
                r = pd.ntasks > had ? tasks_reserve(rt, group, pd.ntasks - had, errstr, errstr_size)
                                    : 0;
                if (!r && pd.ntasks > had)
                        atomic_store(&g->tasks_reserved, pd.ntasks);
                if (!r)
                        r = group_apply_plan(g, &pd, clusters, 0, errstr, errstr_size);
                /* what runs now is what counts, whether the apply worked or not */
                pthread_mutex_lock(&g->lock);
                int now = g->ntasks;
                pthread_mutex_unlock(&g->lock);
                int held = atomic_load(&g->tasks_reserved);
                if (now < held && held > 0) {
                        atomic_fetch_sub(&rt->tasks, held - now);
                        atomic_store(&g->tasks_reserved, now);
                }
        }
        pthread_mutex_unlock(&g->op_lock);
        free(pd.e);
        group_put(g);
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
                pthread_mutex_lock(&g->err_lock);
                if (cl->last_error[0]) {
                        h->health = 0;
                        if (h->last_error)
                                snprintf(h->last_error, h->last_error_size, "%s", cl->last_error);
                        if (h->at)
                                snprintf(h->at, h->at_size, "%s", cl->last_error_at);
                } else {
                        h->health = 1;
                }
                pthread_mutex_unlock(&g->err_lock);
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
        int section;
} metrics_arg_t;

static void metrics_one(rt_group_t *g, void *arg)
{
        metrics_arg_t *m = arg;
        rt_metrics_group(g, m->out, m->section);
}

void kp_runtime_metrics_write(kp_runtime_t *rt, kp_buf_t *out)
{
        static const char *const head[] = {
                "# HELP kplane_group_state 1 for the state a running group is in.\n"
                "# TYPE kplane_group_state gauge\n",
                "# HELP kplane_task_messages_total Messages a task handed to its sink.\n"
                "# TYPE kplane_task_messages_total counter\n",
                "# HELP kplane_task_bytes_total Key and value bytes a task handed to its sink.\n"
                "# TYPE kplane_task_bytes_total counter\n",
                "# HELP kplane_consumergroup_lag Messages behind the high watermark per "
                "partition.\n"
                "# TYPE kplane_consumergroup_lag gauge\n",
                "# HELP kplane_consumergroup_committed_offset The offset the group last committed "
                "per partition.\n"
                "# TYPE kplane_consumergroup_committed_offset gauge\n",
                "# HELP kplane_partition_high_watermark The log end offset of each partition a "
                "running group reads.\n"
                "# TYPE kplane_partition_high_watermark gauge\n",
                "# HELP kplane_cluster_up 1 while a running group's cluster answers, 0 while it is "
                "in error.\n"
                "# TYPE kplane_cluster_up gauge\n",
                "# HELP kplane_consumergroup_partitions Partitions of a running group by lag "
                "state (Burrow's rules over the last 10 s: ok, falling_behind, stalled).\n"
                "# TYPE kplane_consumergroup_partitions gauge\n",
        };
        int s;
        for (s = 0; s < (int)(sizeof(head) / sizeof(head[0])); s++) {
                metrics_arg_t m = {out, s};
                kp_buf_append(out, head[s], strlen(head[s]));
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
