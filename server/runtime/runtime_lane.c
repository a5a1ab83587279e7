/* runtime_lane.c — consumer lanes: one librdkafka consumer and its worker threads per
 * (cluster, consumer configuration, n), shared by every running group reading the cluster,
 * made on first use and closed when its last user leaves. */
#include "runtime/runtime_lane.h"

#include "base/err.h"
#include "base/util.h"
#include "kafka/kafka.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The group.id of a lane's handle: never joined (manual assignment) nor committed to (the
 * admin API commits under each group's id); librdkafka's incremental assign wants one. */
#define LANE_GROUP_ID "kplane-lane"

/* The lane key of @p ref read by @p g: handles differ by cluster, address, properties and
 * offset reset (what an out-of-range fetch falls back to). NULL when out of memory. */
static char *lane_key(const rt_group_t *g, const kp_cluster_ref_t *ref)
{
        char *conf = ref->config ? json_dumps(ref->config, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
        char *key = NULL;
        if (asprintf(&key, "%s\n%s\n%s\n%s", ref->name, ref->bootstrap, conf ? conf : "{}",
                     g->start_latest ? "latest" : "earliest") < 0)
                key = NULL;
        free(conf);
        return key;
}

/* librdkafka's error callback of a lane's consumer: every member group hears it; a fatal
 * one fails them. Runs from rd_kafka_consumer_poll (rt_lanes_serve) or a close. */
static void lane_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
        rt_lane_t *lane = opaque;
        (void)rk;
        pthread_mutex_lock(&lane->mlock);
        for (int i = 0; i < lane->nmembers; i++) {
                rt_cluster_t *cl = lane->members[i];
                rt_cluster_error(cl, "%s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
                if (err == RD_KAFKA_RESP_ERR__FATAL) {
                        int st = KP_GROUP_RUNNING;
                        pthread_mutex_lock(&cl->g->err_lock);
                        snprintf(cl->g->error, sizeof(cl->g->error), "cluster %s: %s", cl->name,
                                 reason);
                        pthread_mutex_unlock(&cl->g->err_lock);
                        atomic_compare_exchange_strong(&cl->g->state, &st, KP_GROUP_FAILED);
                }
        }
        pthread_mutex_unlock(&lane->mlock);
}

void rt_lane_error(rt_lane_t *lane, const char *fmt, ...)
{
        char why[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, sizeof(why), fmt, ap);
        va_end(ap);
        pthread_mutex_lock(&lane->mlock);
        for (int i = 0; i < lane->nmembers; i++)
                rt_cluster_error(lane->members[i], "%s", why);
        pthread_mutex_unlock(&lane->mlock);
}

static void lane_member_add(rt_lane_t *lane, rt_cluster_t *cl)
{
        pthread_mutex_lock(&lane->mlock);
        int i;
        for (i = 0; i < lane->nmembers && lane->members[i] != cl; i++)
                ;
        if (i == lane->nmembers && lane->nmembers == lane->members_cap) {
                int cap = lane->members_cap ? lane->members_cap * 2 : 8;
                rt_cluster_t **m = realloc(lane->members, sizeof(*m) * (size_t)cap);
                if (m) {
                        lane->members = m;
                        lane->members_cap = cap;
                }
        }
        if (i == lane->nmembers && lane->nmembers < lane->members_cap)
                lane->members[lane->nmembers++] = cl;
        pthread_mutex_unlock(&lane->mlock);
}

static void lane_member_remove(rt_lane_t *lane, rt_cluster_t *cl)
{
        pthread_mutex_lock(&lane->mlock);
        for (int i = 0; i < lane->nmembers; i++) {
                if (lane->members[i] == cl) {
                        lane->members[i] = lane->members[--lane->nmembers];
                        break;
                }
        }
        pthread_mutex_unlock(&lane->mlock);
}

/* Frees a lane whose workers have stopped (its consumer closed, or given up on). */
static void lane_destroy(rt_lane_t *lane)
{
        rt_ptable_t *t;
        int i;
        if (!lane)
                return;
        if (lane->rk) {
                for (i = 0; i < lane->nworkers; i++)
                        if (lane->wq[i])
                                rd_kafka_queue_destroy(lane->wq[i]);
                for (i = 0; i < lane->ntopics; i++)
                        rd_kafka_topic_destroy(lane->topics[i]->rkt);
                /* Closed before, or it would block on a cluster that does not answer. */
                rd_kafka_destroy_flags(lane->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
        }
        for (i = 0; i < lane->ntopics; i++) {
                free(atomic_load(&lane->topics[i]->table));
                free(lane->topics[i]->name);
                free(lane->topics[i]);
        }
        while ((t = lane->retired_tables)) {
                lane->retired_tables = t->retired_next;
                free(t);
        }
        pthread_mutex_destroy(&lane->mlock);
        free(lane->topics);
        free(lane->members);
        free((void *)lane->busy);
        free(lane->wq);
        free(lane->workers);
        free(lane->cluster);
        free(lane->key);
        free(lane);
}

static void *lane_reap(void *arg)
{
        lane_destroy(arg);
        return NULL;
}

static void *worker_trampoline(void *arg)
{
        return rt_worker_main(arg);
}

/* Starts the lane's worker threads (each gets its own arg and frees it). */
static int lane_workers_start(rt_lane_t *lane, char *errstr, size_t errstr_size)
{
        for (int i = 0; i < lane->nworkers; i++) {
                rt_worker_arg_t *a = malloc(sizeof(*a));
                if (!a) {
                        snprintf(errstr, errstr_size, "out of memory");
                        return KP_ERR_NOMEM;
                }
                a->lane = lane;
                a->index = i;
                if (pthread_create(&lane->workers[i], NULL, worker_trampoline, a)) {
                        free(a);
                        snprintf(errstr, errstr_size, "cannot start a worker thread");
                        return KP_ERR_INTERNAL;
                }
                lane->workers_started = i + 1;
        }
        return 0;
}

/* Stops the workers, closes the consumer (until @p deadline_ms at most: a consumer whose
 * cluster is down can take a minute, so close through a queue and give up; manual
 * assignment leaves nothing behind) and frees the lane (by a detached thread when the
 * close did not finish: rd_kafka_destroy would wait for it). Caller holds no lock. */
static void lane_close(rt_lane_t *lane, int64_t deadline_ms)
{
        rd_kafka_queue_t *q = rd_kafka_queue_new(lane->rk);
        rd_kafka_error_t *error;
        int closed;

        atomic_store(&lane->stop, 1);
        for (int i = 0; i < lane->nworkers; i++)
                rd_kafka_queue_yield(lane->wq[i]);
        for (int i = 0; i < lane->workers_started; i++)
                pthread_join(lane->workers[i], NULL);
        if ((error = rd_kafka_consumer_close_queue(lane->rk, q)))
                rd_kafka_error_destroy(error);
        while (!rd_kafka_consumer_closed(lane->rk)) {
                int64_t left = deadline_ms - kp_time_mono_ms();
                rd_kafka_event_t *ev;
                if (left <= 0)
                        break;
                if ((ev = rd_kafka_queue_poll(q, left > 100 ? 100 : (int)left)))
                        rd_kafka_event_destroy(ev);
        }
        closed = rd_kafka_consumer_closed(lane->rk);
        rd_kafka_queue_destroy(q);
        if (!closed) {
                pthread_t th;
                pthread_attr_t attr;
                pthread_attr_init(&attr);
                pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
                if (!pthread_create(&th, &attr, lane_reap, lane))
                        lane = NULL;
                pthread_attr_destroy(&attr);
        }
        lane_destroy(lane);
}

/* A new lane of @p ref with key @p key (taken), its consumer and running workers, linked
 * into the registry. Caller holds lanes_lock. NULL with errstr. */
static rt_lane_t *lane_new(kp_runtime_t *rt, const rt_group_t *g, const kp_cluster_ref_t *ref,
                           char *key, char *errstr, size_t errstr_size)
{
        rt_lane_t *lane = calloc(1, sizeof(*lane));
        rd_kafka_conf_t *conf;
        char err[256];

        if (!lane) {
                free(key);
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        lane->rt = rt;
        lane->key = key;
        pthread_mutex_init(&lane->mlock, NULL);
        lane->nworkers = KP_RUNTIME_WORKERS_PER_CLUSTER;
        lane->cluster = strdup(ref->name);
        lane->wq = calloc((size_t)lane->nworkers, sizeof(*lane->wq));
        lane->workers = calloc((size_t)lane->nworkers, sizeof(*lane->workers));
        lane->busy = calloc((size_t)lane->nworkers, sizeof(*lane->busy));
        if (!lane->cluster || !lane->wq || !lane->workers || !lane->busy) {
                snprintf(errstr, errstr_size, "out of memory");
                goto fail;
        }
        conf = kp_kafka_consumer_conf_new(ref->bootstrap, ref->config, LANE_GROUP_ID,
                                          g->start_latest ? "latest" : "earliest", errstr,
                                          errstr_size);
        if (!conf)
                goto fail;
        rd_kafka_conf_set_error_cb(conf, lane_error_cb);
        rd_kafka_conf_set_opaque(conf, lane);
        if (!(lane->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err)))) {
                rd_kafka_conf_destroy(conf);
                snprintf(errstr, errstr_size, "cluster %s: %s", ref->name, err);
                goto fail;
        }
        /* Errors and callbacks arrive on the consumer queue, served by the control thread;
         * messages never do: every partition queue is forwarded to a worker queue. */
        rd_kafka_poll_set_consumer(lane->rk);
        for (int i = 0; i < lane->nworkers; i++)
                lane->wq[i] = rd_kafka_queue_new(lane->rk);
        if (lane_workers_start(lane, errstr, errstr_size)) {
                lane_close(lane, kp_time_mono_ms());
                return NULL;
        }
        lane->next = rt->lanes;
        rt->lanes = lane;
        return lane;
fail:
        lane_destroy(lane);
        return NULL;
}

rt_lane_t *rt_lane_home(rt_cluster_t *cl, const kp_cluster_ref_t *ref, char *errstr,
                        size_t errstr_size)
{
        kp_runtime_t *rt = cl->g->rt;
        char *key = lane_key(cl->g, ref);
        rt_lane_t *lane;

        if (!key) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        pthread_mutex_lock(&rt->lanes_lock);
        /* the oldest lane of the key: new lanes are linked first */
        rt_lane_t *home = NULL;
        for (lane = rt->lanes; lane; lane = lane->next)
                if (!strcmp(lane->key, key))
                        home = lane;
        if (home)
                free(key);
        else
                home = lane_new(rt, cl->g, ref, key, errstr, errstr_size);
        if (home)
                home->users++;
        pthread_mutex_unlock(&rt->lanes_lock);
        if (home)
                lane_member_add(home, cl);
        return home;
}

static rt_topic_t *lane_topic(rt_lane_t *lane, const char *name)
{
        for (int i = 0; i < lane->ntopics; i++)
                if (!strcmp(lane->topics[i]->name, name))
                        return lane->topics[i];
        return NULL;
}

/* Finds or makes @p lane's topic @p name (its handle's opaque: the topic). Caller holds
 * lanes_lock. */
static rt_topic_t *lane_topic_add(rt_lane_t *lane, const char *name)
{
        rt_topic_t *tp = lane_topic(lane, name), **topics;
        rd_kafka_topic_conf_t *tconf;
        if (tp)
                return tp;
        topics = realloc(lane->topics, sizeof(*topics) * (size_t)(lane->ntopics + 1));
        if (!topics)
                return NULL;
        lane->topics = topics;
        if (!(tp = calloc(1, sizeof(*tp))) || !(tp->name = strdup(name))) {
                free(tp);
                return NULL;
        }
        tconf = rd_kafka_topic_conf_new();
        rd_kafka_topic_conf_set_opaque(tconf, tp);
        if (!(tp->rkt = rd_kafka_topic_new(lane->rk, name, tconf))) {
                free(tp->name);
                free(tp);
                return NULL;
        }
        lane->topics[lane->ntopics++] = tp;
        return tp;
}

/* Sets slot @p partition of @p tp's table to @p p (NULL: frees it), growing the table by
 * copy (workers keep reading the old one, retired until the lane goes). lanes_lock held. */
static int lane_table_set(rt_lane_t *lane, rt_topic_t *tp, int32_t partition, rt_part_t *p)
{
        rt_ptable_t *old = atomic_load(&tp->table), *t;
        int32_t cnt = old ? old->cnt : 0;

        if (partition < cnt) {
                atomic_store((_Atomic(rt_part_t *) *)&old->parts[partition], p);
                return 0;
        }
        if (!p)
                return 0;
        cnt = partition + 1 > cnt * 2 ? partition + 1 : cnt * 2;
        if (!(t = calloc(1, sizeof(*t) + sizeof(rt_part_t *) * (size_t)cnt)))
                return KP_ERR_NOMEM;
        t->cnt = cnt;
        if (old)
                memcpy(t->parts, old->parts, sizeof(rt_part_t *) * (size_t)old->cnt);
        t->parts[partition] = p;
        atomic_store(&tp->table, t);
        if (old) {
                old->retired_next = lane->retired_tables;
                lane->retired_tables = old;
        }
        return 0;
}

/* 1 when @p lane has @p topic's @p partition assigned. lanes_lock held. */
static int lane_has(rt_lane_t *lane, const char *topic, int32_t partition)
{
        rt_topic_t *tp = lane_topic(lane, topic);
        rt_ptable_t *t = tp ? atomic_load(&tp->table) : NULL;
        return t && partition < t->cnt && t->parts[partition];
}

/* The lane @p p goes on: the first of its cluster's home key where its partition is free,
 * oldest first (a new one when none). Caller holds lanes_lock. */
static rt_lane_t *lane_pick(rt_cluster_t *cl, rt_part_t *p, const kp_cluster_ref_t *ref,
                            char *errstr, size_t errstr_size)
{
        kp_runtime_t *rt = cl->g->rt;
        rt_lane_t *lane, *pick = NULL;
        char *key;
        for (lane = rt->lanes; lane; lane = lane->next)
                if (!strcmp(lane->key, cl->lane->key) && !lane->stop &&
                    !lane_has(lane, p->tp->name, p->partition))
                        pick = lane; /* the last seen is the oldest */
        if (pick)
                return pick;
        if (!(key = strdup(cl->lane->key))) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        return lane_new(rt, cl->g, ref, key, errstr, errstr_size);
}

int rt_lane_place(rt_cluster_t *cl, rt_part_t *p, char *errstr, size_t errstr_size)
{
        kp_runtime_t *rt = cl->g->rt;
        kp_cluster_ref_t ref = {.name = cl->name, .bootstrap = cl->bootstrap, .config = cl->config};
        rt_lane_t *lane;
        rt_topic_t *tp = NULL;
        rd_kafka_queue_t *pq;
        int worker = 0;

        pthread_mutex_lock(&rt->lanes_lock);
        lane = lane_pick(cl, p, &ref, errstr, errstr_size);
        if (lane && (!(tp = lane_topic_add(lane, p->tp->name)) ||
                     lane_table_set(lane, tp, p->partition, p))) {
                snprintf(errstr, errstr_size, "out of memory");
                lane = NULL;
        }
        if (lane) {
                lane->users++;
                worker = lane->next_worker++ % lane->nworkers;
        }
        pthread_mutex_unlock(&rt->lanes_lock);
        if (!lane)
                return KP_ERR_NOMEM;
        lane_member_add(lane, cl);
        pthread_mutex_lock(&cl->g->lock);
        p->lane = lane;
        p->ltp = tp;
        p->worker = worker;
        pthread_mutex_unlock(&cl->g->lock);
        /* before the assign: librdkafka keeps an application's forward */
        if ((pq = rd_kafka_queue_get_partition(lane->rk, p->tp->name, p->partition))) {
                rd_kafka_queue_forward(pq, lane->wq[worker]);
                rd_kafka_queue_destroy(pq);
        }
        return 0;
}

rd_kafka_topic_t **rt_lane_learn_leaders(rt_lane_t *lane, const rd_kafka_topic_partition_list_t *l,
                                         int *n)
{
        rd_kafka_topic_t **h;
        const struct rd_kafka_metadata *md = NULL;
        int i, logical = 0;

        *n = 0;
        for (i = 0; i < l->cnt && !logical; i++)
                logical = l->elems[i].offset < 0;
        if (!logical || !(h = calloc((size_t)l->cnt, sizeof(*h))))
                return NULL;
        /* One handle per run of a topic (lists come grouped by topic): a handle keeps the
         * topic among the lane's known ones, which one request then covers. */
        for (i = 0; i < l->cnt; i++)
                if ((!i || strcmp(l->elems[i].topic, l->elems[i - 1].topic)) &&
                    (h[*n] = rd_kafka_topic_new(lane->rk, l->elems[i].topic, NULL)))
                        (*n)++;
        if (*n && !rd_kafka_metadata(lane->rk, 0, NULL, &md, KP_RUNTIME_LEADERS_WAIT_MS))
                rd_kafka_metadata_destroy(md);
        return h;
}

void rt_lane_topics_release(rd_kafka_topic_t **h, int n)
{
        for (int i = 0; i < n; i++)
                rd_kafka_topic_destroy(h[i]);
        free(h);
}

/* Waits until no worker of @p lane is in a batch it began before now (a grace period:
 * what it took out of a table before the caller changed it is no longer in its hands). */
static void lane_quiesce(rt_lane_t *lane)
{
        uint64_t seen[64];
        int n = lane->nworkers < 64 ? lane->nworkers : 64;
        for (int i = 0; i < n; i++)
                seen[i] = atomic_load(&lane->busy[i]);
        for (int i = 0; i < n; i++) {
                while ((seen[i] & 1) && atomic_load(&lane->busy[i]) == seen[i]) {
                        struct timespec pause = {0, 1000000L};
                        nanosleep(&pause, NULL);
                }
        }
}

/* Gives one use of @p lane back; @returns 1 when it was the last (the lane is out of the
 * registry and the caller closes it). Caller holds lanes_lock. */
static int lane_put_locked(kp_runtime_t *rt, rt_lane_t *lane)
{
        rt_lane_t **pp;
        if (--lane->users > 0)
                return 0;
        for (pp = &rt->lanes; *pp && *pp != lane; pp = &(*pp)->next)
                ;
        if (*pp)
                *pp = lane->next;
        atomic_store(&lane->stop, 1);
        return 1;
}

void rt_lane_unplace(rt_group_t *g, rt_part_t **parts, int n, int64_t deadline_ms)
{
        kp_runtime_t *rt = g->rt;
        rt_lane_t *lanes[16], **closing = calloc((size_t)n + 1, sizeof(*closing));
        int nl = 0, nclose = 0;

        pthread_mutex_lock(&rt->lanes_lock);
        for (int i = 0; i < n; i++) {
                rt_part_t *p = parts[i];
                if (!p->lane)
                        continue;
                lane_table_set(p->lane, p->ltp, p->partition, NULL);
                int j;
                for (j = 0; j < nl && lanes[j] != p->lane; j++)
                        ;
                if (j == nl && nl < 16)
                        lanes[nl++] = p->lane;
        }
        pthread_mutex_unlock(&rt->lanes_lock);
        /* Lanes are freed only by the last put below, so each is alive here. */
        for (int j = 0; j < nl; j++)
                lane_quiesce(lanes[j]);
        if (nl == 16) /* more lanes than tracked: wait for each part's */
                for (int i = 0; i < n; i++)
                        if (parts[i]->lane)
                                lane_quiesce(parts[i]->lane);
        pthread_mutex_lock(&rt->lanes_lock);
        pthread_mutex_lock(&g->lock);
        for (int i = 0; i < n; i++) {
                rt_part_t *p = parts[i];
                if (!p->lane)
                        continue;
                if (lane_put_locked(rt, p->lane) && closing)
                        closing[nclose++] = p->lane;
                p->lane = NULL;
                p->ltp = NULL;
        }
        pthread_mutex_unlock(&g->lock);
        pthread_mutex_unlock(&rt->lanes_lock);
        for (int i = 0; i < nclose; i++)
                lane_close(closing[i], deadline_ms);
        free(closing);
}

void rt_lane_leave(rt_cluster_t *cl, int64_t deadline_ms, int nowait)
{
        kp_runtime_t *rt = cl->g->rt;
        rt_lane_t *lane;
        int last = 0;
        if (cl->pending_q) /* a queue of the handle, which may go now */
                rd_kafka_queue_destroy(cl->pending_q);
        cl->pending_q = NULL;
        if (!cl->lane)
                return;
        pthread_mutex_lock(&rt->lanes_lock);
        for (lane = rt->lanes; lane; lane = lane->next)
                lane_member_remove(lane, cl);
        lane_member_remove(cl->lane, cl);
        last = lane_put_locked(rt, cl->lane);
        pthread_mutex_unlock(&rt->lanes_lock);
        if (last)
                lane_close(cl->lane, nowait ? kp_time_mono_ms() : deadline_ms);
        cl->lane = NULL;
        cl->rk = NULL;
}

void rt_lanes_serve(kp_runtime_t *rt)
{
        pthread_mutex_lock(&rt->lanes_lock);
        for (rt_lane_t *lane = rt->lanes; lane; lane = lane->next) {
                rd_kafka_message_t *rkm;
                int budget = 100;
                while (budget-- > 0 && (rkm = rd_kafka_consumer_poll(lane->rk, 0))) {
                        if (rkm->err && rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                                fprintf(stderr, "kplane: runtime: cluster %s: %s\n", lane->cluster,
                                        rd_kafka_message_errstr(rkm));
                        rd_kafka_message_destroy(rkm);
                }
        }
        pthread_mutex_unlock(&rt->lanes_lock);
}
