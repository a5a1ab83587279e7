/* runtime_worker.c — the threads of a running group: workers hand batches of records to
 * sinks, the control thread commits what the sinks acknowledged. */
#include "base/config.h"
#include "base/err.h"
#include "base/util.h"
#include "runtime/lag_eval.h"
#include "runtime/runtime_int.h"
#include "runtime/runtime_lane.h"
#include "sinks/sink_dlq.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* What a task's sink took from one partition and has not acknowledged all of. */
typedef struct rt_taken {
        rt_part_t *p;
        int64_t taken; /* the offset after the last record taken */
        int64_t acked; /* the offset after the acknowledged prefix (the last precommit) */
} rt_taken_t;

/* Opens @p t's dead-letter sink (tolerance "all"), and the group's state of it first. */
static int task_dlq_open(rt_group_t *g, rt_task_t *t, char *errstr, size_t errstr_size)
{
        char why[256] = "no dead-letter sink";
        if (g->dlq_conf && !g->dlq_sinks)
                g->dlq_sinks = kp_sink_group_open(g->dlq_conf, g->name, why, sizeof(why));
        if (g->dlq_sinks)
                t->dlq = kp_sink_open(g->dlq_sinks, t->index, why, sizeof(why));
        if (t->dlq)
                return kp_sink_dead_letters_hold(t->sink, t->dlq);
        snprintf(errstr, errstr_size, "errors.dead_letter: %s", why);
        return KP_ERR_INVALID;
}

int rt_task_sink_open(rt_group_t *g, rt_task_t *t, char *errstr, size_t errstr_size)
{
        if (!g->sinks &&
            !(g->sinks = kp_sink_group_open(g->sink_conf, g->name, errstr, errstr_size)))
                return KP_ERR_INVALID;
        t->sink = kp_sink_open(g->sinks, t->index, errstr, errstr_size);
        if (!t->sink)
                return KP_ERR_INVALID;
        if (g->tolerate && task_dlq_open(g, t, errstr, errstr_size)) {
                kp_sink_close(t->sink);
                t->sink = NULL;
                return KP_ERR_INVALID;
        }
        return 0;
}

void rt_task_sink_close(rt_task_t *t)
{
        kp_sink_close(t->sink);
        t->sink = NULL;
        free(t->taken);
        t->taken = NULL;
        t->ntaken = t->taken_cap = 0;
        kp_sink_close(t->dlq);
        t->dlq = NULL;
        free(t->dlq_taken);
        t->dlq_taken = NULL;
        t->dlq_ntaken = t->dlq_taken_cap = 0;
}

void rt_group_sinks_close(rt_group_t *g)
{
        kp_sink_group_close(g->sinks);
        g->sinks = NULL;
        kp_sink_group_close(g->dlq_sinks);
        g->dlq_sinks = NULL;
}

/* ---- workers ---- */

/* A worker's scratch: the messages of one queue read, the batch being built for one task
 * (its records' headers in one pool). Allocated once per worker thread. */
typedef struct worker {
        rt_lane_t *lane;
        rt_cluster_t *cl; /* the cluster of the run in hand (its group's) */
        rd_kafka_message_t *rkms[KP_RUNTIME_WORKER_BATCH];
        kp_sink_msg_t msgs[KP_RUNTIME_WORKER_BATCH];
        size_t hdr_at[KP_RUNTIME_WORKER_BATCH]; /* msgs[i]'s first header in hdrs */
        size_t nmsgs;
        kp_sink_header_t *hdrs;
        size_t nhdrs, hdrs_cap;
} worker_t;

/* The partition a message belongs to, through its topic handle's opaque: O(1), no lock. */
static rt_part_t *message_part(const rd_kafka_message_t *rkm)
{
        rt_topic_t *tp = rd_kafka_topic_opaque(rkm->rkt);
        rt_ptable_t *t;
        if (!tp)
                return NULL;
        t = atomic_load_explicit(&tp->table, memory_order_acquire);
        if (!t || rkm->partition < 0 || rkm->partition >= t->cnt)
                return NULL;
        /* a slot of a lane's table is set and cleared in place (runtime_lane.c) */
        return atomic_load_explicit((_Atomic(rt_part_t *) *)&t->parts[rkm->partition],
                                    memory_order_acquire);
}

/* 1 when @p p (locked) takes the record at @p offset, its position being @p next:
 * not a record already taken (a re-fetch after a reset), nor one past a record dropped
 * (paused or held) before the re-read from the seek reaches it again (refetch), nor one
 * fetched before the seek of a re-read after a failed owner (what reaches the floor before
 * the re-read does; the message just below the floor exists, so the re-read itself
 * reaches it first). */
static int part_wants(rt_part_t *p, int64_t offset, int64_t next)
{
        if (next >= 0 && offset < next)
                return 0;
        if (p->refetch >= 0) {
                if (offset > p->refetch)
                        return 0; /* fetched before the seek: the re-read brings it again */
                p->refetch = -1;
        }
        if (p->resync_floor >= 0) {
                if (next < p->resync_floor && offset >= p->resync_floor)
                        return 0;
                if (next >= p->resync_floor)
                        p->resync_floor = -1;
        }
        return 1;
}

/* @p p (locked) drops its record at @p offset, wanted and not taken (paused or held): it is
 * fetched again from a seek at or below it, and nothing past it is taken before that. */
static void part_dropped(rt_part_t *p, int64_t offset)
{
        if (p->refetch < 0 || offset < p->refetch)
                p->refetch = offset;
}

/* Appends @p rkm to the batch: borrowed pointers, headers (when @p headers: the task's
 * sinks read them) copied into the pool. */
static int worker_add(worker_t *w, rt_part_t *p, const rd_kafka_message_t *rkm, int headers)
{
        kp_sink_msg_t *m = &w->msgs[w->nmsgs];
        rd_kafka_headers_t *hdrs = NULL;
        rd_kafka_timestamp_type_t tstype;
        size_t i, n = 0;

        m->cluster = w->cl->name;
        m->topic = p->tp->name;
        m->partition = rkm->partition;
        m->offset = rkm->offset;
        m->key = rkm->key;
        m->key_len = rkm->key_len;
        m->value = rkm->payload;
        m->value_len = rkm->len;
        m->timestamp = rd_kafka_message_timestamp(rkm, &tstype);
        m->timestamp_type = tstype == RD_KAFKA_TIMESTAMP_CREATE_TIME       ? KP_SINK_TS_CREATE
                            : tstype == RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME ? KP_SINK_TS_LOG_APPEND
                                                                           : KP_SINK_TS_NONE;
        m->part = p;
        if (headers && !rd_kafka_message_headers(rkm, &hdrs))
                n = rd_kafka_header_cnt(hdrs);
        if (w->nhdrs + n > w->hdrs_cap) {
                size_t cap = (w->nhdrs + n) * 2;
                kp_sink_header_t *h = realloc(w->hdrs, sizeof(*h) * cap);
                if (!h)
                        return KP_ERR_NOMEM;
                w->hdrs = h;
                w->hdrs_cap = cap;
        }
        w->hdr_at[w->nmsgs] = w->nhdrs;
        for (i = 0; i < n; i++) {
                kp_sink_header_t *h = &w->hdrs[w->nhdrs++];
                rd_kafka_header_get_all(hdrs, i, &h->name, &h->value, &h->value_len);
        }
        m->nheaders = n;
        w->nmsgs++;
        return 0;
}

/* Records that a sink of a task (locked) took from @p p up to offset @p next - 1, in the
 * task's array @p v of *@p n (room for *@p cap); @p first: the first of them. */
static int taken_note(rt_taken_t **v, int *n, int *cap, rt_part_t *p, int64_t first, int64_t next)
{
        int i;
        for (i = *n - 1; i >= 0; i--) {
                if ((*v)[i].p == p) {
                        (*v)[i].taken = next;
                        return 0;
                }
        }
        if (*n == *cap) {
                int c = *cap ? *cap * 2 : 8;
                rt_taken_t *nv = realloc(*v, sizeof(*nv) * (size_t)c);
                if (!nv)
                        return KP_ERR_NOMEM;
                *v = nv;
                *cap = c;
        }
        (*v)[(*n)++] = (rt_taken_t){.p = p, .taken = next, .acked = first};
        return 0;
}

/* taken_note for @p t's sink. */
static int task_note_taken(rt_task_t *t, rt_part_t *p, int64_t first, int64_t next)
{
        return taken_note(&t->taken, &t->ntaken, &t->taken_cap, p, first, next);
}

/* Fails @p t (locked) with @p why (after @p prefix) as its error; a long one is cut. */
static void task_fail(rt_task_t *t, const char *prefix, const char *why)
{
        if (snprintf(t->error, sizeof(t->error), "%s%s", prefix, why) < 0)
                t->error[0] = '\0';
        atomic_store(&t->state, RT_TASK_FAILED);
}

/* Notes the first @p n of @p recs as taken by @p t's dead-letter sink (t locked): each
 * holds its source partition's commit at its offset until that sink acknowledges it. */
static int task_dlq_taken(rt_task_t *t, const kp_sink_refused_t *recs, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                rt_part_t *p = (rt_part_t *)recs[i].msg.part;
                if (taken_note(&t->dlq_taken, &t->dlq_ntaken, &t->dlq_taken_cap, p,
                               recs[i].msg.offset, recs[i].msg.offset + 1))
                        return KP_ERR_NOMEM;
                atomic_fetch_add_explicit(&t->dead_letters, 1, memory_order_relaxed);
        }
        return 0;
}

/* Puts @p n refused records into @p t's dead-letter sink (t locked) and notes what it
 * took (*taken). DEAD_LETTER from it (a dead letter it cannot take) is FATAL. */
static kp_sink_status_t task_dlq_put(rt_task_t *t, const kp_sink_refused_t *recs, size_t n,
                                     size_t *taken, char *err, size_t err_size)
{
        char why[256];
        kp_sink_status_t st = kp_sink_dead_letter_put(t->dlq, recs, n, taken, why, sizeof(why));
        if (task_dlq_taken(t, recs, *taken)) {
                snprintf(why, sizeof(why), "out of memory");
                st = KP_SINK_FATAL;
        }
        if (st != KP_SINK_OK)
                snprintf(err, err_size, "dead letters: %.230s", why);
        return st == KP_SINK_DEAD_LETTER ? KP_SINK_FATAL : st;
}

/*
 * What @p t's sink refused after taking it (t locked; its flush answered DEAD_LETTER) goes
 * to the dead-letter sink, KP_RUNTIME_DLQ_BATCH records at a time; a sink's refused record
 * holds its partition's commit until it is handed over, then the dead-letter sink's
 * acknowledgement does. @returns OK, RETRY (the dead-letter sink is full: the rest waits
 * for the next round) or FATAL with @p err.
 */
static kp_sink_status_t task_route_refused(rt_task_t *t, char *err, size_t err_size)
{
        kp_sink_refused_t recs[KP_RUNTIME_DLQ_BATCH];
        kp_sink_status_t st = KP_SINK_OK;
        size_t n, taken;
        while (st == KP_SINK_OK && (n = kp_sink_refused(t->sink, recs, KP_RUNTIME_DLQ_BATCH))) {
                st = task_dlq_put(t, recs, n, &taken, err, err_size);
                kp_sink_refused_done(t->sink, taken);
        }
        return st;
}

/* Puts the batch from record @p from on, offering what was not taken again while the sink
 * says RETRY. @returns the sink's last answer; *taken: records taken from @p from. */
static kp_sink_status_t worker_put_retrying(worker_t *w, rt_task_t *t, size_t from, size_t *taken,
                                            char *err, size_t err_size)
{
        kp_sink_status_t st;
        size_t done = from, n;
        int attempt;

        for (attempt = 0;; attempt++) {
                st = kp_sink_put(t->sink, w->msgs + done, w->nmsgs - done, &n, err, err_size);
                done += n;
                if (st != KP_SINK_RETRY || attempt == KP_SINK_RETRY_ATTEMPTS ||
                    atomic_load_explicit(&w->cl->g->stop, memory_order_relaxed))
                        break;
                struct timespec pause = {0, (long)KP_SINK_RETRY_BACKOFF_MS * 1000000L << attempt};
                nanosleep(&pause, NULL);
        }
        *taken = done - from;
        return st;
}

/* What the sink said of a batch it did not take all of: FATAL and DEAD_LETTER (no
 * dead-letter sink: errors.tolerance "none") fail the task; RETRY (a full queue, a slow target)
 * pauses @p p at @p first, the first record not taken, to be offered again later (a partition that
 * cannot be paused fails the task: it stalls, nothing is lost). */
static void worker_put_failed(worker_t *w, rt_part_t *p, rt_task_t *t, kp_sink_status_t st,
                              int64_t first, const char *err)
{
        rt_task_sink_error(w->cl->g, t, err);
        if (st == KP_SINK_DEAD_LETTER) /* tolerance "none" */
                task_fail(t, "poison record: ", err);
        else if (st != KP_SINK_RETRY)
                task_fail(t, "", err);
        else if (atomic_load(&w->cl->g->stop))
                return;
        else if (rt_part_pause(p, first, kp_time_mono_ms() + KP_SINK_RETRY_PAUSE_MS))
                task_fail(t, "cannot pause after retries: ", err);
        else
                part_dropped(p, first);
}

/* Counts records [@p from, @p from + @p n) of the batch as taken by @p t's sink (t
 * locked) and moves @p p's next_offset past them. */
static void worker_took(worker_t *w, rt_part_t *p, rt_task_t *t, size_t from, size_t n)
{
        int64_t bytes = 0;
        size_t i;
        if (!n)
                return;
        for (i = from; i < from + n; i++)
                bytes += (int64_t)(w->msgs[i].key_len + w->msgs[i].value_len);
        int64_t next = w->msgs[from + n - 1].offset + 1;
        if (task_note_taken(t, p, w->msgs[from].offset, next))
                task_fail(t, "", "out of memory");
        atomic_fetch_add_explicit(&t->messages, (int64_t)n, memory_order_relaxed);
        atomic_fetch_add_explicit(&t->bytes, bytes, memory_order_relaxed);
        atomic_fetch_add_explicit(&p->messages, (int64_t)n, memory_order_relaxed);
        atomic_store_explicit(&p->next_offset, next, memory_order_release);
        rt_flow_taken(t, (int64_t)n, bytes);
}

/* Record @p i of the batch, which @p t's sink called poison at its put (@p why), goes to
 * the dead-letter sink (tolerance "all"). @returns OK once it took it (the partition moves
 * past it), else RETRY or FATAL with @p err. */
static kp_sink_status_t worker_dead_letter(worker_t *w, rt_part_t *p, rt_task_t *t, size_t i,
                                           const char *why, char *err, size_t err_size)
{
        kp_sink_refused_t r = {.msg = w->msgs[i], .reason = why, .status = "none"};
        size_t taken;
        kp_sink_status_t st = task_dlq_put(t, &r, 1, &taken, err, err_size);
        if (!taken)
                return st == KP_SINK_OK ? KP_SINK_RETRY : st;
        atomic_fetch_add_explicit(&t->messages, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&p->messages, 1, memory_order_relaxed);
        atomic_store_explicit(&p->next_offset, w->msgs[i].offset + 1, memory_order_release);
        return KP_SINK_OK;
}

/*
 * Hands the batch to task @p t (locked), then moves @p p's next_offset past what its sink
 * took: that, once acknowledged, is what gets committed. A record the sink calls poison
 * goes to the dead-letter sink when the group has one, and the rest of the batch after
 * it. See worker_put_failed for what the rest becomes otherwise. @returns 0 when all was
 * taken, else -1 (the rest of the batch was not: the caller takes nothing more of the
 * partition from this task).
 */
static int worker_put(worker_t *w, rt_part_t *p, rt_task_t *t)
{
        kp_sink_status_t st;
        size_t taken, i, done = 0;
        int64_t first;
        char err[256], why[256];

        for (i = 0; i < w->nmsgs; i++)
                w->msgs[i].headers = w->msgs[i].nheaders ? w->hdrs + w->hdr_at[i] : NULL;
        for (;;) {
                st = worker_put_retrying(w, t, done, &taken, err, sizeof(err));
                worker_took(w, p, t, done, taken);
                done += taken;
                if (st != KP_SINK_DEAD_LETTER || !t->dlq || done == w->nmsgs)
                        break;
                snprintf(why, sizeof(why), "%s", err);
                if ((st = worker_dead_letter(w, p, t, done, why, err, sizeof(err))) != KP_SINK_OK)
                        break;
                if (++done == w->nmsgs)
                        break;
        }
        first = done < w->nmsgs ? w->msgs[done].offset : -1;
        w->nmsgs = 0;
        w->nhdrs = 0;
        if (st == KP_SINK_OK)
                return 0;
        worker_put_failed(w, p, t, st, first, err);
        return -1;
}

/* Puts @p t's batch (if any) and unlocks it. NULL does nothing. Once the group stops the
 * batch is dropped instead: a put cut short by the stop may have left records untaken,
 * and nothing after them may be taken (it would be committed past them). */
static void worker_release(worker_t *w, rt_part_t *p, rt_task_t *t)
{
        if (!t)
                return;
        if (w->nmsgs && !atomic_load_explicit(&w->cl->g->stop, memory_order_relaxed))
                worker_put(w, p, t);
        w->nmsgs = 0;
        w->nhdrs = 0;
        pthread_mutex_unlock(&t->lock);
}

/*
 * The task @p p's next record goes to, locked, or NULL when none works: a failed owner
 * stalls its partition (nothing past its last good record is committed, so nothing is
 * lost). With fan-out the records go round-robin to the tasks that still work: skipping a
 * failed one's turn would skip its record. @p held: the task whose batch is being built
 * (locked); when another is picked it is put and unlocked first (one task lock at a time).
 */
static rt_task_t *worker_task(worker_t *w, rt_part_t *p, rt_task_t *held)
{
        int n = p->fan ? p->fan->n : 1;
        for (int tries = 0; tries < n; tries++) {
                rt_task_t *t = p->fan ? p->fan->tasks[p->rr++ % (uint64_t)n] : p->owner;
                if (t != held) {
                        worker_release(w, p, held);
                        held = NULL;
                        pthread_mutex_lock(&t->lock);
                }
                if (atomic_load_explicit(&t->state, memory_order_relaxed) != RT_TASK_FAILED)
                        return t;
                pthread_mutex_unlock(&t->lock);
                held = NULL;
        }
        worker_release(w, p, held);
        return NULL;
}

/*
 * Hands @p n messages of one partition, in offset order, to the tasks that own it: runs
 * for one task go as one batch. The partition's lock is held throughout, so a plan change
 * waits for the batch in hand (and no longer: it holds the partitions it moves, whose
 * records are dropped here, see runtime_apply.c). After a stop the rest is left untaken
 * (read again later). A task that holds max_in_flight_bytes unacknowledged takes no more:
 * the partition is paused at the first record not taken (runtime_flow.c), and so is a
 * paused one's rest.
 */
static void worker_run(worker_t *w, rd_kafka_message_t **rkms, size_t n)
{
        rt_part_t *p = message_part(rkms[0]);
        rt_task_t *t = NULL, *held;
        int64_t next;
        size_t i;
        int headers = 0;

        if (!p)
                return;
        w->cl = p->cl;
        pthread_mutex_lock(&p->lock);
        next = atomic_load_explicit(&p->next_offset, memory_order_relaxed);
        for (i = 0; i < n; i++) {
                if (!p->owner || atomic_load_explicit(&w->cl->g->stop, memory_order_relaxed))
                        break;
                if (!part_wants(p, rkms[i]->offset, next))
                        continue;
                if (atomic_load_explicit(&p->paused, memory_order_relaxed) ||
                    atomic_load_explicit(&p->held, memory_order_relaxed)) {
                        part_dropped(p, rkms[i]->offset);
                        break;
                }
                held = t;
                if (!(t = worker_task(w, p, t)))
                        break;
                /* (releasing the batch held may have paused it) */
                if (atomic_load_explicit(&p->paused, memory_order_relaxed) ||
                    (t != held && rt_task_over_limit(w->cl->g, t) &&
                     !rt_part_pause(p, rkms[i]->offset, 0))) {
                        part_dropped(p, rkms[i]->offset);
                        pthread_mutex_unlock(&t->lock);
                        t = NULL;
                        break;
                }
                if (t != held) /* a dead letter carries its record's headers */
                        headers = t->dlq || kp_sink_reads_headers(t->sink);
                if (worker_add(w, p, rkms[i], headers)) {
                        /* This record is not taken: fail the task so that nothing after
                         * it is committed. */
                        if (w->nmsgs)
                                worker_put(w, p, t);
                        task_fail(t, "", "out of memory for record headers");
                        pthread_mutex_unlock(&t->lock);
                        t = NULL;
                        break;
                }
                next = rkms[i]->offset + 1;
        }
        worker_release(w, p, t);
        pthread_mutex_unlock(&p->lock);
}

/* Splits what the queue gave into runs of one partition; errors go to cluster health. */
static void worker_handle(worker_t *w, size_t n)
{
        size_t i = 0, j;
        while (i < n) {
                rd_kafka_message_t *rkm = w->rkms[i];
                if (rkm->err) {
                        if (rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                                rt_lane_error(w->lane, "%s", rd_kafka_message_errstr(rkm));
                        i++;
                        continue;
                }
                for (j = i + 1; j < n && !w->rkms[j]->err && w->rkms[j]->rkt == rkm->rkt &&
                                w->rkms[j]->partition == rkm->partition;
                     j++)
                        ;
                worker_run(w, w->rkms + i, j - i);
                i = j;
        }
}

/* A worker of a lane blocks for one message, then takes what else is queued (up to
 * KP_RUNTIME_WORKER_BATCH) without waiting: batches where there is traffic, no added
 * latency where there is little. Its busy count is odd while it handles a batch, so that a
 * group leaving the lane can wait until no worker holds one of its partitions. */
void *rt_worker_main(void *arg)
{
        rt_worker_arg_t *a = arg;
        rt_lane_t *lane = a->lane;
        int index = a->index;
        rd_kafka_queue_t *q = lane->wq[index];
        worker_t *w = calloc(1, sizeof(*w));

        free(a); /* ours: lane_workers_start hands each worker its own */
        if (!w) {
                rt_lane_error(lane, "worker: out of memory");
                return NULL;
        }
        w->lane = lane;
        while (!atomic_load_explicit(&lane->stop, memory_order_relaxed)) {
                ssize_t more;
                size_t n, i;
                w->rkms[0] = rd_kafka_consume_queue(q, KP_RUNTIME_POLL_MS);
                if (!w->rkms[0])
                        continue;
                atomic_fetch_add(&lane->busy[index], 1); /* before any table lookup */
                if (!w->rkms[0]->err)
                        atomic_store_explicit(&lane->last_read_ms, kp_time_mono_ms(),
                                              memory_order_relaxed);
                more = rd_kafka_consume_batch_queue(q, 0, w->rkms + 1, KP_RUNTIME_WORKER_BATCH - 1);
                n = 1 + (more > 0 ? (size_t)more : 0);
                worker_handle(w, n);
                for (i = 0; i < n; i++)
                        rd_kafka_message_destroy(w->rkms[i]);
                atomic_fetch_add(&lane->busy[index], 1);
        }
        free(w->hdrs);
        free(w);
        return NULL;
}

/* ---- the commit round ---- */

typedef struct commit_req {
        rt_cluster_t *cl;
        rd_kafka_queue_t *q;
        uint64_t gen; /* errors the cluster had recorded when it was sent */
        int sent;
        /* The cluster's last commit, unanswered when the round began: this round's is sent
         * once it is answered (commit_await), never beside it. */
        rd_kafka_queue_t *old_q;
        uint64_t old_gen;
} commit_req_t;

/* One commit round's working state: what it may commit per partition. */
typedef struct commit_round {
        rt_group_t *g;
        rt_part_t **only;
        int n;
        int64_t *offs;      /* per only[i]: next_offset snapshot, then lowered to what is acked */
        int64_t *limit;     /* per g->parts index: lowest unacknowledged position of any task */
        char *mine;         /* per g->parts index on a hand-over (only given): 1 for only's */
        commit_req_t *reqs; /* per cluster */
        int64_t deadline;
        int timeout_ms;
} commit_round_t;

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
        if (!cl->commit_failing) {
                fprintf(stderr,
                        "kplane: runtime: group %s: cluster %s: commit failed: %s; retrying "
                        "every round\n",
                        cl->g->name, cl->name, why);
                cl->failing_since_ms = kp_time_mono_ms();
        }
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

/*
 * Asks @p sink (its task locked) how far each partition it took from (@p v, *@p n of them)
 * is acknowledged: lowers r->limit of those it still holds records of, forgets the others.
 */
static int commit_sink_acks(commit_round_t *r, kp_sink_t *sink, rt_taken_t *v, int *n)
{
        kp_sink_offset_t *offs;
        int i, kept = 0;
        if (!*n)
                return 0;
        if (!(offs = calloc((size_t)*n, sizeof(*offs))))
                return KP_ERR_NOMEM;
        for (i = 0; i < *n; i++) {
                rt_part_t *p = v[i].p;
                offs[i] = (kp_sink_offset_t){.part = p,
                                             .cluster = p->cl->name,
                                             .topic = p->tp->name,
                                             .partition = p->partition,
                                             .taken = v[i].taken,
                                             .acked = v[i].acked};
        }
        kp_sink_precommit(sink, offs, (size_t)*n);
        for (i = 0; i < *n; i++) {
                rt_taken_t e = v[i];
                /* The sink committed it (in its transaction): commit_send sends nothing at
                 * or below it, so no older snapshot overwrites it. */
                int64_t cur = atomic_load(&e.p->committed);
                while (offs[i].committed && offs[i].acked > cur &&
                       !atomic_compare_exchange_weak(&e.p->committed, &cur, offs[i].acked))
                        ;
                if (offs[i].acked >= e.taken)
                        continue;
                e.acked = offs[i].acked > e.acked ? offs[i].acked : e.acked;
                if (e.acked < r->limit[e.p->index])
                        r->limit[e.p->index] = e.acked;
                v[kept++] = e;
        }
        *n = kept;
        free(offs);
        return 0;
}

/* Both sinks of @p t (locked): a partition's commit is the lower of what each acknowledged
 * (a dead letter is committed once the dead-letter sink acknowledged it). */
static int commit_task_acks(commit_round_t *r, rt_task_t *t)
{
        if (commit_sink_acks(r, t->sink, t->taken, &t->ntaken))
                return KP_ERR_NOMEM;
        return t->dlq ? commit_sink_acks(r, t->dlq, t->dlq_taken, &t->dlq_ntaken) : 0;
}

/* Flushes @p t's sinks (t locked) until @p until: what the sink refused goes to the
 * dead-letter sink first (tolerance "all"), then the dead-letter sink is flushed. @returns
 * the worst answer: FATAL or DEAD_LETTER (tolerance "none") fail the task. */
static kp_sink_status_t commit_task_flush(rt_task_t *t, int64_t until, char *err, size_t err_size)
{
        kp_sink_status_t st = kp_sink_flush(t->sink, until, err, err_size);
        if (st == KP_SINK_DEAD_LETTER && t->dlq &&
            task_route_refused(t, err, err_size) != KP_SINK_FATAL)
                st = KP_SINK_OK;
        if (st != KP_SINK_FATAL && st != KP_SINK_DEAD_LETTER && t->dlq) {
                char why[256];
                kp_sink_status_t dst = kp_sink_flush(t->dlq, until, why, sizeof(why));
                if (dst == KP_SINK_FATAL || dst == KP_SINK_DEAD_LETTER) {
                        snprintf(err, err_size, "dead letters: %.230s", why);
                        st = KP_SINK_FATAL;
                }
        }
        return st;
}

/* 1 when @p t (locked) holds records of a partition the round commits. A hand-over flushes
 * only those tasks' sinks: no other's acknowledgement bounds its commit, and a flush that
 * waits holds its task's lock, and so its partitions' records, for as long as it waits. */
static int commit_task_concerned(const commit_round_t *r, const rt_task_t *t)
{
        int i;
        if (!r->mine)
                return 1;
        for (i = 0; i < t->ntaken; i++)
                if (r->mine[t->taken[i].p->index])
                        return 1;
        for (i = 0; i < t->dlq_ntaken; i++)
                if (r->mine[t->dlq_taken[i].p->index])
                        return 1;
        return 0;
}

/*
 * Flushes every working task's sink and collects what they acknowledged into r->limit.
 * Sinks wait for acknowledgements until the round's deadline on a hand-over and at stop;
 * a periodic round takes what has arrived. A sink that fails fails its task. @returns 0
 * or KP_ERR_INTERNAL (a sink failed: nothing is committed this round).
 */
static int commit_flush_sinks(commit_round_t *r)
{
        rt_group_t *g = r->g;
        int64_t wait_until = r->only != g->parts || atomic_load(&g->stop) ? r->deadline : 0;
        int i, ret = 0;
        char err[256];

        for (i = 0; i < g->nparts; i++)
                r->limit[i] = INT64_MAX;
        for (i = 0; i < g->ntasks; i++) {
                rt_task_t *t = g->tasks[i];
                kp_sink_status_t st;
                pthread_mutex_lock(&t->lock);
                if (atomic_load(&t->state) == RT_TASK_FAILED || !t->sink ||
                    !commit_task_concerned(r, t)) { /* no sink: a task run elsewhere */
                        pthread_mutex_unlock(&t->lock);
                        continue;
                }
                st = commit_task_flush(t, wait_until, err, sizeof(err));
                if (st == KP_SINK_FATAL || st == KP_SINK_DEAD_LETTER) {
                        rt_task_sink_error(g, t, err);
                        task_fail(t, "", err);
                        ret = KP_ERR_INTERNAL;
                } else if (commit_task_acks(r, t)) {
                        ret = KP_ERR_NOMEM;
                }
                rt_task_in_flight(t); /* for status, once a round at least */
                pthread_mutex_unlock(&t->lock);
        }
        return ret;
}

/*
 * Commits @p l for @p cl's group through the admin API (AlterConsumerGroupOffsets: the
 * OffsetCommit a consumer without members sends, generation -1), answered on @p q: the
 * lane's handle is shared, its group.id is not the group's. A group reading with manual
 * assignment has no members, so the coordinator takes it. @returns 0 or why not sent.
 */
static rd_kafka_resp_err_t commit_alter(rt_cluster_t *cl, rd_kafka_topic_partition_list_t *l,
                                        int timeout_ms, rd_kafka_queue_t *q)
{
        char err[256];
        rd_kafka_AdminOptions_t *opts =
                rd_kafka_AdminOptions_new(cl->rk, RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS);
        rd_kafka_AlterConsumerGroupOffsets_t *alter;
        if (!opts)
                return RD_KAFKA_RESP_ERR__INVALID_ARG;
        /* No request timeout of our own: librdkafka 2.14's admin timeout can fire while
         * its coordinator request is still out and then frees what the request's late
         * answer uses (confluentinc/librdkafka#4605, fix in PR #5397, not released):
         * the round stops waiting at its deadline instead, and keeps the request. */
        (void)timeout_ms;
        (void)err;
        alter = rd_kafka_AlterConsumerGroupOffsets_new(cl->g->name, l);
        rd_kafka_AlterConsumerGroupOffsets(cl->rk, &alter, 1, opts, q);
        rd_kafka_AlterConsumerGroupOffsets_destroy(alter);
        rd_kafka_AdminOptions_destroy(opts);
        return RD_KAFKA_RESP_ERR_NO_ERROR;
}

/*
 * Sends @p cl's commit: each of its partitions' snapshot, lowered to what the sinks
 * acknowledged, when ahead of what was committed. @returns 0 or KP_ERR_UNAVAILABLE.
 */
static int commit_send(commit_round_t *r, rt_cluster_t *cl, commit_req_t *req)
{
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(16);
        rd_kafka_resp_err_t cerr;
        int i, ret = 0;

        req->cl = cl;
        for (i = 0; i < r->n; i++) {
                rt_part_t *p = r->only[i];
                int64_t off = r->offs[i];
                if (r->limit[p->index] < off)
                        off = r->limit[p->index];
                /* A failed task may have taken messages below the snapshot into a buffer
                 * it never wrote: its partitions keep the offset of the last commit made
                 * while it worked, so they are read again. */
                if (p->cl != cl || off < 0 || off <= atomic_load(&p->committed) ||
                    rt_part_owner_failed(p))
                        continue;
                rd_kafka_topic_partition_list_add(l, p->tp->name, p->partition)->offset = off;
        }
        /* Nothing pending on a whole round: no commit is failing any more (the probe
         * decides the cluster's health). */
        if (!l->cnt && r->only == r->g->parts)
                cl->commit_failing = 0;
        if (l->cnt) {
                req->gen = rt_cluster_error_gen(cl, NULL);
                req->q = rd_kafka_queue_new(cl->rk);
                if ((cerr = commit_alter(cl, l, r->timeout_ms, req->q))) {
                        commit_failed(cl, rd_kafka_err2str(cerr));
                        ret = KP_ERR_UNAVAILABLE;
                } else {
                        req->sent = 1;
                }
        }
        rd_kafka_topic_partition_list_destroy(l);
        return ret;
}

/*
 * Starts @p cl's commit of the round: sent now, or, while the cluster's last commit is not
 * answered yet, once it is (commit_await: two requests out at once could be applied out of
 * order, an older offset over a newer). Either way within this round: a stop's last commit
 * has no next round. Only the slow cluster waits: the others' are all sent first.
 */
static int commit_start(commit_round_t *r, rt_cluster_t *cl, commit_req_t *req)
{
        req->cl = cl;
        if (!cl->pending_q)
                return commit_send(r, cl, req);
        req->old_q = cl->pending_q;
        req->old_gen = cl->pending_gen;
        cl->pending_q = NULL;
        return 0;
}

/* Moves each committed partition of @p res forward; the first error goes to @p why. */
static int commit_note_result(rt_cluster_t *cl, const rd_kafka_topic_partition_list_t *res,
                              char *why, size_t why_size)
{
        int i, ret = 0;
        for (i = 0; i < res->cnt; i++) {
                const rd_kafka_topic_partition_t *e = &res->elems[i];
                rt_part_t *p;
                int64_t cur;
                if (e->err) {
                        if (!why[0])
                                snprintf(why, why_size, "%s [%d]: %s", e->topic, (int)e->partition,
                                         rd_kafka_err2str(e->err));
                        ret = KP_ERR_UNAVAILABLE;
                        continue;
                }
                if (!(p = cluster_part(cl, e->topic, e->partition)))
                        continue;
                cur = atomic_load(&p->committed);
                while (e->offset > cur &&
                       !atomic_compare_exchange_weak(&p->committed, &cur, e->offset))
                        ;
        }
        return ret;
}

/* Waits for @p req's answer until the round's deadline and records it: the partitions'
 * committed offsets and the cluster's health. @returns 0 or KP_ERR_UNAVAILABLE. */
static int commit_wait(const commit_round_t *r, commit_req_t *req)
{
        const rd_kafka_topic_partition_list_t *res;
        rd_kafka_event_t *ev;
        int64_t left = r->deadline - kp_time_mono_ms();
        char why[256] = "";

        if (!req->sent)
                return 0;
        for (;;) {
                int slice = left > KP_RUNTIME_COMMIT_WAIT_SLICE_MS ? KP_RUNTIME_COMMIT_WAIT_SLICE_MS
                                                                   : (left > 0 ? (int)left : 0);
                ev = rd_kafka_queue_poll(req->q, slice);
                left = r->deadline - kp_time_mono_ms();
                if (ev || left <= 0)
                        break;
                if (atomic_load(&r->g->stop) && !atomic_load(&r->g->final_commit))
                        break; /* the stop's last commit waits for it */
        }
        if (!ev) {
                /* librdkafka keeps it waiting for the coordinator: the next round waits
                 * for its answer before it sends newer offsets. */
                req->cl->pending_q = req->q;
                req->cl->pending_gen = req->gen;
                req->q = NULL;
                if (left > 0)
                        return KP_ERR_UNAVAILABLE;
                snprintf(why, sizeof(why), "no answer within %d ms", r->timeout_ms);
        } else if (rd_kafka_event_type(ev) != RD_KAFKA_EVENT_ALTERCONSUMERGROUPOFFSETS_RESULT) {
                snprintf(why, sizeof(why), "unexpected answer %s", rd_kafka_event_name(ev));
        } else if (rd_kafka_event_error(ev)) {
                snprintf(why, sizeof(why), "%s", rd_kafka_event_error_string(ev));
        } else {
                size_t n = 0;
                const rd_kafka_group_result_t **gr =
                        rd_kafka_AlterConsumerGroupOffsets_result_groups(
                                rd_kafka_event_AlterConsumerGroupOffsets_result(ev), &n);
                const rd_kafka_error_t *gerr = n ? rd_kafka_group_result_error(gr[0]) : NULL;
                if (!n)
                        snprintf(why, sizeof(why), "no answer for the group");
                else if (gerr)
                        snprintf(why, sizeof(why), "%s", rd_kafka_error_string(gerr));
                if (n && (res = rd_kafka_group_result_partitions(gr[0])))
                        commit_note_result(req->cl, res, why, sizeof(why));
        }
        if (ev)
                rd_kafka_event_destroy(ev);
        if (why[0])
                commit_failed(req->cl, why);
        else
                commit_done(req->cl, req->gen);
        return why[0] ? KP_ERR_UNAVAILABLE : 0;
}

/* @p r, or for a cluster whose commits fail in a periodic round, @p now: @p r with no time
 * left. The control thread serves every group: a cluster that does not answer would cost
 * each group reading it a commit timeout every round, one group after another, and hold
 * every other group's commits, rates and resumes as long. Its request stays pending and
 * the next round looks at it again; a hand-over and a stop's last commit wait. */
static const commit_round_t *await_round(const commit_round_t *r, commit_round_t *now,
                                         const rt_cluster_t *cl)
{
        if (r->only != r->g->parts || atomic_load(&r->g->stop) || !cl->commit_failing)
                return r;
        *now = *r;
        now->deadline = kp_time_mono_ms();
        return now;
}

/* Waits for @p req's answer within the round; when the cluster's last commit was still
 * out, for that answer first, then sends this round's commit (its answer moved what is
 * committed) and waits for it. @returns 0 or KP_ERR_UNAVAILABLE. */
static int commit_await(commit_round_t *r, commit_req_t *req)
{
        commit_round_t now;
        if (req->old_q) {
                commit_req_t old = {.cl = req->cl, .q = req->old_q, .gen = req->old_gen, .sent = 1};
                req->old_q = NULL;
                commit_wait(await_round(r, &now, req->cl), &old);
                if (!old.q) /* no answer: commit_wait kept it pending */
                        return KP_ERR_UNAVAILABLE;
                rd_kafka_queue_destroy(old.q);
                /* up to a round later than the checks in rt_commit: the lease may have
                 * ended meanwhile, and these partitions be another instance's */
                if (!rt_commit_allowed(r->g->rt))
                        return 0;
                if (commit_send(r, req->cl, req))
                        return KP_ERR_UNAVAILABLE;
        }
        return commit_wait(await_round(r, &now, req->cl), req);
}

/* Sets @p r up for a round over @p only (NULL: all) with @p timeout_ms: what a flush needs
 * (the commit adds its offsets and requests). @returns 0 or KP_ERR_NOMEM (free it with
 * round_free either way). */
static int round_init(commit_round_t *r, rt_group_t *g, rt_part_t **only, int n, int timeout_ms)
{
        *r = (commit_round_t){.g = g, .only = only ? only : g->parts, .n = only ? n : g->nparts};
        r->deadline = kp_time_mono_ms() + timeout_ms;
        r->timeout_ms = timeout_ms;
        r->limit = malloc(sizeof(*r->limit) * (size_t)(g->nparts + 1));
        if (only && (r->mine = calloc((size_t)g->nparts + 1, 1)))
                for (int i = 0; i < r->n; i++)
                        r->mine[only[i]->index] = 1;
        return !r->limit || (only && !r->mine) ? KP_ERR_NOMEM : 0;
}

static void round_free(commit_round_t *r)
{
        free(r->offs);
        free(r->limit);
        free(r->mine);
        free(r->reqs);
}

int rt_commit(rt_group_t *g, rt_part_t **only, int n, int timeout_ms)
{
        commit_round_t r;
        int i, c, ret = 0;

        /* Without the lease the round is skipped, as done (a stop does not retry it): the
         * partitions may be another instance's already (kp_runtime_set_commit_guard). */
        if ((only ? n : g->nparts) <= 0 || !rt_commit_allowed(g->rt))
                return 0;
        if ((ret = round_init(&r, g, only, n, timeout_ms)))
                goto out;
        r.offs = malloc(sizeof(*r.offs) * (size_t)r.n);
        r.reqs = calloc((size_t)g->nclusters + 1, sizeof(*r.reqs));
        if (!r.offs || !r.reqs) {
                ret = KP_ERR_NOMEM;
                goto out;
        }
        /* Offsets first, flush second: every message below a snapshot offset was in a
         * sink before the snapshot, so the flush and the acknowledgements cover it. */
        for (i = 0; i < r.n; i++)
                r.offs[i] = atomic_load_explicit(&r.only[i]->next_offset, memory_order_acquire);
        if ((ret = commit_flush_sinks(&r)))
                goto out; /* a failed flush: commit nothing this round */
        if (!rt_commit_allowed(g->rt))
                goto out; /* the lease ended during the flush (a stop of the process) */
        /* All clusters commit at once; each answer is awaited within the one deadline. */
        for (c = 0; c < g->nclusters; c++)
                if (commit_start(&r, g->clusters[c], &r.reqs[c]))
                        ret = KP_ERR_UNAVAILABLE;
        for (c = 0; c < g->nclusters; c++) {
                if (commit_await(&r, &r.reqs[c]))
                        ret = KP_ERR_UNAVAILABLE;
                if (r.reqs[c].q)
                        rd_kafka_queue_destroy(r.reqs[c].q);
        }
out:
        round_free(&r);
        return ret;
}

int rt_flush(rt_group_t *g, rt_part_t **only, int n, int timeout_ms)
{
        commit_round_t r;
        int ret;
        if (n <= 0)
                return 0;
        if (!(ret = round_init(&r, g, only, n, timeout_ms)))
                ret = commit_flush_sinks(&r);
        round_free(&r);
        return ret;
}
