/* runtime_worker.c — the threads of a running group: workers hand messages to sinks, control
 * commits. */
#include "base/config.h"
#include "base/err.h"
#include "runtime/lag_eval.h"
#include "runtime/runtime_int.h"
#include "base/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The partition a message belongs to, through its topic handle's opaque: O(1), no lock. */
static rt_part_t *message_part(const rd_kafka_message_t *rkm)
{
        rt_topic_t *tp = rd_kafka_topic_opaque(rkm->rkt);
        rt_ptable_t *t;
        if (!tp)
                return NULL;
        t = atomic_load_explicit(&tp->table, memory_order_acquire);
        return t && rkm->partition >= 0 && rkm->partition < t->cnt ? t->parts[rkm->partition]
                                                                   : NULL;
}

/*
 * Hands one message to the sink of the task that owns its partition (or, in
 * rebalance fan-out, to the next task in turn). next_offset moves past it only once
 * the sink took it: that is what gets committed.
 */
static void worker_handle(rt_cluster_t *cl, const rd_kafka_message_t *rkm)
{
        rt_part_t *p;
        rt_task_t *task;
        int64_t next;
        kp_sink_msg_t m;
        char err[256];

        if (rkm->err) {
                if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
                        return;
                rt_cluster_error(cl, "%s", rd_kafka_message_errstr(rkm));
                return;
        }
        p = message_part(rkm);
        if (!p)
                return;
        pthread_mutex_lock(&p->lock);
        next = atomic_load_explicit(&p->next_offset, memory_order_relaxed);
        /* Released partition, or a message already taken (a re-fetch after a reset). */
        if (!p->owner || (next >= 0 && rkm->offset < next))
                goto out;
        /* Re-reading after a failed owner: what reaches the floor before the re-read does
         * was fetched before the seek (the message just below the floor exists, so the
         * re-read itself reaches it first). */
        if (p->resync_floor >= 0) {
                if (next < p->resync_floor && rkm->offset >= p->resync_floor)
                        goto out;
                if (next >= p->resync_floor)
                        p->resync_floor = -1;
        }
        /* A failed owner stalls its partition: nothing past its last good message is
         * committed, so nothing is lost. With fan-out the records go round-robin to the
         * tasks that still work: skipping a failed one's turn would skip its message. */
        for (int tries = 0;; tries++) {
                if (p->fan) {
                        if (tries >= p->fan->n)
                                goto out;
                        task = p->fan->tasks[p->rr++ % (uint64_t)p->fan->n];
                } else {
                        if (tries)
                                goto out;
                        task = p->owner;
                }
                pthread_mutex_lock(&task->lock);
                if (atomic_load_explicit(&task->state, memory_order_relaxed) != RT_TASK_FAILED)
                        break;
                pthread_mutex_unlock(&task->lock);
        }
        m.cluster = cl->name;
        m.topic = rd_kafka_topic_name(rkm->rkt);
        m.partition = rkm->partition;
        m.offset = rkm->offset;
        m.key = rkm->key;
        m.key_len = rkm->key_len;
        m.value = rkm->payload;
        m.value_len = rkm->len;
        if (kp_sink_write(task->sink, &m, err, sizeof(err))) {
                snprintf(task->error, sizeof(task->error), "%s", err);
                atomic_store(&task->state, RT_TASK_FAILED);
                pthread_mutex_unlock(&task->lock);
                goto out;
        }
        atomic_fetch_add_explicit(&task->messages, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&task->bytes, (int64_t)(rkm->len + rkm->key_len),
                                  memory_order_relaxed);
        pthread_mutex_unlock(&task->lock);
        atomic_fetch_add_explicit(&p->messages, 1, memory_order_relaxed);
        atomic_store_explicit(&p->next_offset, rkm->offset + 1, memory_order_release);
out:
        pthread_mutex_unlock(&p->lock);
}

void *rt_worker_main(void *arg)
{
        rt_worker_arg_t *a = arg;
        rt_cluster_t *cl = a->cl;
        rd_kafka_queue_t *q = cl->wq[a->index];
        rt_group_t *g = cl->g;

        free(a);
        while (!atomic_load_explicit(&g->stop, memory_order_relaxed)) {
                rd_kafka_message_t *rkm = rd_kafka_consume_queue(q, KP_RUNTIME_POLL_MS);
                if (!rkm)
                        continue;
                worker_handle(cl, rkm);
                rd_kafka_message_destroy(rkm);
        }
        return NULL;
}

typedef struct commit_req {
        rt_cluster_t *cl;
        rd_kafka_queue_t *q;
        uint64_t gen; /* errors the cluster had recorded when it was sent */
        int sent;
} commit_req_t;

int rt_part_owner_failed(const rt_part_t *p)
{
        if (p->fan) {
                for (int i = 0; i < p->fan->n; i++)
                        if (atomic_load(&p->fan->tasks[i]->state) == RT_TASK_FAILED)
                                return 1;
                return 0;
        }
        return p->owner && atomic_load(&p->owner->state) == RT_TASK_FAILED;
}

/* A commit to @p cl failed: status shows it, the log says it once until commits work
 * again. Its offsets stay pending (next_offset is ahead of committed), so the next
 * round sends them again. Caller holds op_lock. */
static void commit_failed(rt_cluster_t *cl, const char *why)
{
        rt_cluster_error(cl, "commit: %s", why);
        if (!cl->commit_failing)
                fprintf(stderr,
                        "kplane: runtime: group %s: cluster %s: commit failed: %s; retrying "
                        "every round\n",
                        cl->g->name, cl->name, why);
        cl->commit_failing = 1;
}

static void commit_done(rt_cluster_t *cl, uint64_t gen)
{
        rt_cluster_ok(cl, gen);
        if (cl->commit_failing)
                fprintf(stderr, "kplane: runtime: group %s: cluster %s: commits work again\n",
                        cl->g->name, cl->name);
        cl->commit_failing = 0;
}

/* Looks a committed partition up again from the result list (topic by name). */
static rt_part_t *cluster_part(rt_cluster_t *cl, const char *topic, int32_t partition)
{
        int i;
        for (i = 0; i < cl->ntopics; i++) {
                if (!strcmp(cl->topics[i]->name, topic)) {
                        rt_ptable_t *t = atomic_load(&cl->topics[i]->table);
                        return t && partition < t->cnt ? t->parts[partition] : NULL;
                }
        }
        return NULL;
}

int rt_commit(rt_group_t *g, rt_part_t **only, int n, int timeout_ms)
{
        int64_t *offs = NULL;
        commit_req_t *reqs = NULL;
        int64_t deadline = kp_time_mono_ms() + timeout_ms;
        int i, c, r = 0;
        char err[256];

        if (!only) {
                only = g->parts;
                n = g->nparts;
        }
        if (n <= 0)
                return 0;
        offs = malloc(sizeof(*offs) * (size_t)n);
        reqs = calloc((size_t)g->nclusters + 1, sizeof(*reqs));
        if (!offs || !reqs) {
                r = KP_ERR_NOMEM;
                goto out;
        }
        /* Offsets first, flush second: every message below a snapshot offset was in a
         * sink before the snapshot, so the flush covers it. */
        for (i = 0; i < n; i++)
                offs[i] = atomic_load_explicit(&only[i]->next_offset, memory_order_acquire);
        for (i = 0; i < g->ntasks; i++) {
                rt_task_t *t = g->tasks[i];
                pthread_mutex_lock(&t->lock);
                if (atomic_load(&t->state) != RT_TASK_FAILED &&
                    kp_sink_flush(t->sink, err, sizeof(err))) {
                        snprintf(t->error, sizeof(t->error), "%s", err);
                        atomic_store(&t->state, RT_TASK_FAILED);
                        r = KP_ERR_INTERNAL;
                }
                pthread_mutex_unlock(&t->lock);
        }
        if (r)
                goto out; /* a failed flush: commit nothing this round */

        for (c = 0; c < g->nclusters; c++) {
                rt_cluster_t *cl = g->clusters[c];
                rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(16);
                reqs[c].cl = cl;
                for (i = 0; i < n; i++) {
                        /* A failed task may have taken messages below the snapshot into
                         * a buffer it never wrote: its partitions keep the offset of the
                         * last commit made while it worked, so they are read again. */
                        if (only[i]->cl != cl || offs[i] < 0 ||
                            offs[i] <= atomic_load(&only[i]->committed) ||
                            rt_part_owner_failed(only[i]))
                                continue;
                        rd_kafka_topic_partition_list_add(l, only[i]->tp->name, only[i]->partition)
                                ->offset = offs[i];
                }
                /* Nothing pending on a whole round: no commit is failing any more
                 * (the probe decides the cluster's health). */
                if (!l->cnt && only == g->parts)
                        cl->commit_failing = 0;
                if (l->cnt) {
                        rd_kafka_resp_err_t cerr;
                        reqs[c].gen = rt_cluster_error_gen(cl, NULL);
                        reqs[c].q = rd_kafka_queue_new(cl->rk);
                        cerr = rd_kafka_commit_queue(cl->rk, l, reqs[c].q, NULL, NULL);
                        if (cerr) {
                                commit_failed(cl, rd_kafka_err2str(cerr));
                                r = KP_ERR_UNAVAILABLE;
                        } else {
                                reqs[c].sent = 1;
                        }
                }
                rd_kafka_topic_partition_list_destroy(l);
        }
        /* All clusters commit at once; wait for each within the one deadline. */
        for (c = 0; c < g->nclusters; c++) {
                rd_kafka_event_t *ev;
                const rd_kafka_topic_partition_list_t *res;
                int64_t left = deadline - kp_time_mono_ms();
                char why[256] = "";
                if (!reqs[c].sent)
                        goto next;
                ev = rd_kafka_queue_poll(reqs[c].q, left > 0 ? (int)left : 0);
                if (!ev) {
                        /* librdkafka keeps it waiting for the coordinator; the next
                         * round's commit carries the same offsets or newer ones. */
                        snprintf(why, sizeof(why), "no answer within %d ms", timeout_ms);
                        r = KP_ERR_UNAVAILABLE;
                        goto next;
                }
                if (rd_kafka_event_type(ev) != RD_KAFKA_EVENT_OFFSET_COMMIT)
                        snprintf(why, sizeof(why), "unexpected answer %s", rd_kafka_event_name(ev));
                else if (rd_kafka_event_error(ev))
                        snprintf(why, sizeof(why), "%s", rd_kafka_event_error_string(ev));
                if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_OFFSET_COMMIT &&
                    (res = rd_kafka_event_topic_partition_list(ev))) {
                        for (i = 0; i < res->cnt; i++) {
                                const rd_kafka_topic_partition_t *e = &res->elems[i];
                                rt_part_t *p;
                                int64_t cur;
                                if (e->err) {
                                        if (!why[0])
                                                snprintf(why, sizeof(why), "%s [%d]: %s", e->topic,
                                                         (int)e->partition,
                                                         rd_kafka_err2str(e->err));
                                        r = KP_ERR_UNAVAILABLE;
                                        continue;
                                }
                                p = cluster_part(reqs[c].cl, e->topic, e->partition);
                                if (!p)
                                        continue;
                                cur = atomic_load(&p->committed);
                                while (e->offset > cur && !atomic_compare_exchange_weak(
                                                                  &p->committed, &cur, e->offset))
                                        ;
                        }
                }
                if (why[0])
                        r = KP_ERR_UNAVAILABLE;
                rd_kafka_event_destroy(ev);
        next:
                if (reqs[c].sent) {
                        if (why[0])
                                commit_failed(reqs[c].cl, why);
                        else
                                commit_done(reqs[c].cl, reqs[c].gen);
                }
                if (reqs[c].q)
                        rd_kafka_queue_destroy(reqs[c].q);
        }
out:
        free(offs);
        free(reqs);
        return r;
}

/* Serves each consumer's own queue: error callbacks, logs; never messages. */
static void ctl_serve_consumers(rt_group_t *g)
{
        rd_kafka_t *rks[64];
        int n = 0, i;
        pthread_mutex_lock(&g->lock);
        for (i = 0; i < g->nclusters && n < 64; i++)
                rks[n++] = g->clusters[i]->rk;
        pthread_mutex_unlock(&g->lock);
        for (i = 0; i < n; i++) {
                rd_kafka_message_t *rkm;
                int budget = 100;
                while (budget-- > 0 && (rkm = rd_kafka_consumer_poll(rks[i], 0))) {
                        if (rkm->err && rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                                fprintf(stderr, "kplane: runtime: group %s: %s\n", g->name,
                                        rd_kafka_message_errstr(rkm));
                        rd_kafka_message_destroy(rkm);
                }
        }
}

/*
 * A cluster in error with nothing to commit would never show it works again: ask its
 * group coordinator for one committed offset (read-only; rd_kafka_committed, which
 * survives a coordinator that goes away, unlike 2.0's admin coordinator requests) and
 * clear the error when it answers. Blocks the control thread at most
 * KP_RUNTIME_PROBE_TIMEOUT_MS per cluster in error. Caller holds op_lock.
 */
static void ctl_probe_clusters(rt_group_t *g)
{
        rd_kafka_topic_partition_list_t *probe[64];
        rt_cluster_t *cls[64];
        uint64_t gens[64];
        int n = 0, i, j;
        pthread_mutex_lock(&g->lock);
        for (i = 0; i < g->nclusters && n < 64; i++) {
                rt_cluster_t *cl = g->clusters[i];
                int failed;
                uint64_t gen = rt_cluster_error_gen(cl, &failed);
                /* A failing commit is retried every round: its answer decides. */
                if (!failed || cl->commit_failing)
                        continue;
                for (j = 0; j < g->nparts && g->parts[j]->cl != cl; j++)
                        ;
                if (j == g->nparts)
                        continue;
                probe[n] = rd_kafka_topic_partition_list_new(1);
                rd_kafka_topic_partition_list_add(probe[n], g->parts[j]->tp->name,
                                                  g->parts[j]->partition);
                gens[n] = gen;
                cls[n++] = cl;
        }
        pthread_mutex_unlock(&g->lock);
        for (i = 0; i < n; i++) {
                if (!rd_kafka_committed(cls[i]->rk, probe[i], KP_RUNTIME_PROBE_TIMEOUT_MS) &&
                    !probe[i]->elems[0].err)
                        rt_cluster_ok(cls[i], gens[i]);
                rd_kafka_topic_partition_list_destroy(probe[i]);
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
                p->last_lag = -1;
                atomic_store(&p->lag_state, KP_LAG_UNKNOWN);
                return;
        }
        if (rd_kafka_get_watermark_offsets(p->cl->rk, p->tp->name, p->partition, &lo, &hi))
                lo = hi = -1;
        int64_t at = atomic_load(&p->committed);
        /* The history's lag is the status's: from the position (else committed), so the
         * chart matches status and the overview, without the commit round's sawtooth. */
        int64_t from = atomic_load(&p->next_offset);
        if (from < 0)
                from = at;
        p->last_lag = hi >= 0 && from >= 0 ? (hi > from ? hi - from : 0) : -1;
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

void *rt_ctl_main(void *arg)
{
        rt_group_t *g = arg;
        int64_t now = kp_time_mono_ms();
        int64_t next_commit = now + KP_RUNTIME_COMMIT_INTERVAL_MS;
        int64_t last_rate = now, next_rate = now + KP_RUNTIME_RATE_INTERVAL_MS;
        int first = 1;

        while (!atomic_load(&g->stop)) {
                int64_t wake = next_commit < next_rate ? next_commit : next_rate;
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                now = kp_time_mono_ms();
                if (wake > now) {
                        int64_t ns = ts.tv_nsec + (wake - now) * 1000000;
                        ts.tv_sec += ns / 1000000000;
                        ts.tv_nsec = ns % 1000000000;
                        pthread_mutex_lock(&g->ctl_lock);
                        if (!atomic_load(&g->stop))
                                pthread_cond_timedwait(&g->ctl_cond, &g->ctl_lock, &ts);
                        pthread_mutex_unlock(&g->ctl_lock);
                }
                if (atomic_load(&g->stop))
                        break;
                ctl_serve_consumers(g);
                now = kp_time_mono_ms();
                if (now >= next_rate) {
                        ctl_rates(g, now - last_rate > 0 ? now - last_rate : 1, first);
                        first = 0;
                        last_rate = now;
                        next_rate = now + KP_RUNTIME_RATE_INTERVAL_MS;
                }
                if (now >= next_commit) {
                        pthread_mutex_lock(&g->op_lock);
                        rt_commit(g, NULL, 0, KP_RUNTIME_COMMIT_TIMEOUT_MS);
                        /* After the commits: a cluster they cleared needs no probe. */
                        ctl_probe_clusters(g);
                        pthread_mutex_unlock(&g->op_lock);
                        next_commit = kp_time_mono_ms() + KP_RUNTIME_COMMIT_INTERVAL_MS;
                }
        }
        return NULL;
}
