/* sink_kafka_txn.c — exactly_once: a transactional producer per task; a transaction holds what
 * a task put between two commit rounds and commits with the consumed positions inside it. */
/*
 * The design of Kafka Connect's exactly-once source tasks (KIP-618) and MirrorMaker 2:
 *
 *   - Each task has its own producer with transactional.id <service>:<group>.<task>
 *     (kp_sink_kafka_txn_id; the service is KPLANE_SERVICE), stable across restarts and plan
 *     changes, and another service's group of the same name never shares it: init_transactions at
 * the task's open fences the zombie of the same id (a killed kplane's task, a task still running
 * elsewhere) and ends its open transaction, so it can never commit after us.
 *   - put begins a transaction when none is open; the runtime's commit round (every
 *     second, before a plan change moves a partition, at stop) calls flush, which puts the
 *     consumed positions in the transaction and commits it: with the source's cluster,
 *     send_offsets_to_transaction with the group's metadata (its committed offsets change
 *     with the transaction); with another cluster, records of the offsets topic
 *     (sink_kafka_offsets.c). Records and positions become visible together or not at all.
 *   - precommit then says the positions of the committed transactions, so the runtime
 *     commits (another cluster: the source group's offsets, for lag only) nothing past
 *     them; with the source's cluster it marks them committed by the sink, so the runtime
 *     never writes an older snapshot over the transaction's offsets.
 *   - Where a task resumes a partition (ks_txn_resume): the group's committed offset
 *     (waiting while a transaction still holds it: UNSTABLE_OFFSET_COMMIT), or the last
 *     record of the offsets topic.
 *   - A commit that times out is asked again by the next flush (puts answer RETRY until
 *     it finished). An abortable error (a record refused, the transaction timed out on the
 *     broker) aborts the transaction and fails the task: nothing past the last committed
 *     transaction is committed anywhere, and a restart resumes from it. A fatal one (fenced
 *     by a newer producer of the same id) fails the task too.
 *
 * Records of one partition dealt over several tasks (a group with rebalance fan-out) would
 * commit each task's positions independently, and a partition handed over while its old
 * owner's commit has not finished could be committed past records that transaction then
 * loses: the group keeps which task holds each partition in an open transaction
 * (ks_txn_hold), and a second task putting it fails instead.
 */
#include "base/config.h"
#include "base/err.h"
#include "base/util.h"
#include "kafka/kafka.h"
#include "sinks/sink_clusters.h"
#include "sinks/sink_kafka.h"
#include "sinks/sink_kafka_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The task's init_transactions, on its own thread: it blocks for a round trip or more to
 * the transaction coordinator (seconds when the broker first creates its transaction state
 * topic), and a group's tasks used to run theirs one after another at its start. */
static void *txn_init_main(void *arg)
{
        ks_task_t *t = arg;
        ks_group_t *g = t->grp;
        char id[2 * KP_NAME_MAX + 32];
        snprintf(id, sizeof(id), "%.*s", (int)sizeof(id) - 1, t->init_error);
        rd_kafka_error_t *error =
                rd_kafka_init_transactions(t->prod->rk, KP_SINK_KAFKA_TXN_WAIT_MS);
        if (error) {
                snprintf(t->init_error, sizeof(t->init_error),
                         "sink: transactional.id %s: init_transactions: %s", id,
                         rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
        } else {
                t->init_error[0] = '\0';
        }
        pthread_mutex_lock(&g->lock);
        g->inits_running--;
        pthread_cond_broadcast(&g->init_cond);
        pthread_mutex_unlock(&g->lock);
        return NULL;
}

int ks_txn_task_open(ks_task_t *t, int task, char *errstr, size_t errstr_size)
{
        char id[2 * KP_NAME_MAX + 32];
        ks_group_t *g = t->grp;
        if (kp_sink_kafka_txn_id(kp_sink_service(), g->name, task, id, sizeof(id))) {
                snprintf(errstr, errstr_size, "sink: transactional.id too long");
                return KP_ERR_INVALID;
        }
        if (!(t->prod = ks_producer_new(g->conf, g->name, id, errstr, errstr_size)))
                return KP_ERR_UNAVAILABLE;
        /* the id, for the thread's error message */
        snprintf(t->init_error, sizeof(t->init_error), "%s", id);
        pthread_mutex_lock(&g->lock);
        g->inits_running++;
        pthread_mutex_unlock(&g->lock);
        if (pthread_create(&t->init_thread, NULL, txn_init_main, t)) {
                pthread_mutex_lock(&g->lock);
                g->inits_running--;
                pthread_cond_broadcast(&g->init_cond);
                pthread_mutex_unlock(&g->lock);
                snprintf(errstr, errstr_size, "sink: cannot start init_transactions' thread");
                ks_producer_destroy(t->prod);
                t->prod = NULL;
                return KP_ERR_UNAVAILABLE;
        }
        t->init_started = 1;
        return 0;
}

/* Waits for @p t's init_transactions (the first call joins its thread). @returns 0, or
 * KP_ERR_UNAVAILABLE with errstr when it failed: the task is failed then (its producer
 * can do nothing). */
static int txn_ready(ks_task_t *t, char *errstr, size_t errstr_size)
{
        if (t->init_started) {
                pthread_join(t->init_thread, NULL);
                t->init_started = 0;
                if (t->init_error[0])
                        ks_task_fail(t, t->init_error);
        }
        if (!t->init_error[0])
                return 0;
        snprintf(errstr, errstr_size, "%s", t->init_error);
        return KP_ERR_UNAVAILABLE;
}

/* Waits until no task of @p g runs its init_transactions: every zombie of the group's
 * open tasks is fenced and its open transaction aborted, so what the group committed is
 * stable to read. */
static void txn_inits_wait(ks_group_t *g)
{
        pthread_mutex_lock(&g->lock);
        while (g->inits_running)
                pthread_cond_wait(&g->init_cond, &g->lock);
        pthread_mutex_unlock(&g->lock);
}

static size_t holder_bucket(const void *part)
{
        uintptr_t h = (uintptr_t)part;
        return (size_t)((h >> 4) ^ (h >> 12)) % KS_HOLDER_BUCKETS;
}

kp_sink_status_t ks_txn_hold(ks_task_t *t, ks_part_t *kp, char *errstr, size_t errstr_size)
{
        ks_group_t *g = t->grp;
        ks_holder_t **b = &g->holders[holder_bucket(kp->part)], *h;
        pthread_mutex_lock(&g->lock);
        for (h = *b; h && h->part != kp->part; h = h->next)
                ;
        if (!h && (h = malloc(sizeof(*h)))) {
                *h = (ks_holder_t){kp->part, t, *b};
                *b = h;
        }
        int other = h && h->task != t;
        pthread_mutex_unlock(&g->lock);
        if (h && !other)
                return KP_SINK_OK;
        if (!h)
                snprintf(errstr, errstr_size, "out of memory");
        else
                snprintf(errstr, errstr_size,
                         "sink: exactly_once: %s/%s partition %d is in another task's open "
                         "transaction: one task per partition (no rebalance fan-out)",
                         kp->cluster, kp->topic, (int)kp->partition);
        ks_task_fail(t, errstr);
        return KP_SINK_FATAL;
}

/* @p t's open transaction ended: the partitions it held are free for other tasks. */
static void txn_release(ks_task_t *t)
{
        ks_group_t *g = t->grp;
        pthread_mutex_lock(&g->lock);
        for (ks_part_t *kp = t->parts; kp; kp = kp->next) {
                if (kp->txn_next < 0)
                        continue;
                for (ks_holder_t **h = &g->holders[holder_bucket(kp->part)]; *h; h = &(*h)->next) {
                        if ((*h)->part == kp->part && (*h)->task == t) {
                                ks_holder_t *gone = *h;
                                *h = gone->next;
                                free(gone);
                                break;
                        }
                }
        }
        pthread_mutex_unlock(&g->lock);
}

void ks_txn_holders_free(ks_group_t *g)
{
        for (size_t i = 0; i < KS_HOLDER_BUCKETS; i++)
                for (ks_holder_t *h = g->holders[i], *n; h; h = n) {
                        n = h->next;
                        free(h);
                }
}

/* The open transaction ended without a commit: its records are nobody's. */
static void txn_ended(ks_task_t *t)
{
        txn_release(t);
        for (ks_part_t *kp = t->parts; kp; kp = kp->next)
                kp->txn_next = -1;
        t->txn_records = 0;
        t->txn_open = t->committing = 0;
}

static void txn_abort(ks_task_t *t, int wait_ms)
{
        rd_kafka_error_t *error = rd_kafka_abort_transaction(t->prod->rk, wait_ms);
        if (error) /* the broker aborts it after transaction.timeout.ms, or a fence does */
                fprintf(stderr, "kplane: sink: group %s: abort_transaction: %s\n", t->grp->name,
                        rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
        txn_ended(t);
}

/* What librdkafka's transactional @p error (freed here) of call @p what means for the
 * task: retriable -> RETRY; needing an abort -> aborted, task failed; fatal -> failed. */
static kp_sink_status_t txn_error(ks_task_t *t, const char *what, rd_kafka_error_t *error,
                                  int wait_ms, char *errstr, size_t errstr_size)
{
        kp_sink_status_t st = KP_SINK_FATAL;
        snprintf(errstr, errstr_size, "sink: transaction: %s: %s", what,
                 rd_kafka_error_string(error));
        if (rd_kafka_error_is_retriable(error)) {
                st = KP_SINK_RETRY;
        } else {
                if (rd_kafka_error_txn_requires_abort(error))
                        txn_abort(t, wait_ms);
                ks_task_fail(t, errstr);
        }
        rd_kafka_error_destroy(error);
        return st;
}

kp_sink_status_t ks_txn_begin(ks_task_t *t, char *errstr, size_t errstr_size)
{
        rd_kafka_error_t *error;
        if (txn_ready(t, errstr, errstr_size))
                return KP_SINK_FATAL;
        if (t->committing) {
                snprintf(errstr, errstr_size,
                         "sink: the last transaction's commit has not finished (asked again at "
                         "the next commit round)");
                return KP_SINK_RETRY;
        }
        if (t->txn_open)
                return KP_SINK_OK;
        if ((error = rd_kafka_begin_transaction(t->prod->rk)))
                return txn_error(t, "begin", error, KP_SINK_KAFKA_TXN_WAIT_MS, errstr, errstr_size);
        t->txn_open = 1;
        return KP_SINK_OK;
}

/* Puts the positions the open transaction moved in it: the source's cluster's through
 * send_offsets_to_transaction, the others' as records of the offsets topic. */
static kp_sink_status_t txn_send_offsets(ks_task_t *t, int wait_ms, char *errstr,
                                         size_t errstr_size)
{
        ks_group_t *g = t->grp;
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
        kp_sink_status_t st = KP_SINK_OK;
        int cross = 0;
        for (ks_part_t *kp = t->parts; kp; kp = kp->next) {
                if (kp->txn_next < 0)
                        continue;
                if (strcmp(kp->cluster, g->cluster))
                        cross = 1;
                else
                        rd_kafka_topic_partition_list_add(l, kp->topic, kp->partition)->offset =
                                kp->txn_next;
        }
        if (cross && ks_offsets_produce(t, errstr, errstr_size))
                st = KP_SINK_RETRY; /* nothing asked to commit yet: the next round tries again */
        if (st == KP_SINK_OK && l->cnt) {
                /* kplane's consumers never join their group (manual assignment), so the
                 * group has no generation to check: the plain metadata of its id */
                rd_kafka_consumer_group_metadata_t *cgmd =
                        rd_kafka_consumer_group_metadata_new(g->name);
                rd_kafka_error_t *error =
                        rd_kafka_send_offsets_to_transaction(t->prod->rk, l, cgmd, wait_ms);
                rd_kafka_consumer_group_metadata_destroy(cgmd);
                if (error)
                        st = txn_error(t, "send offsets", error, wait_ms, errstr, errstr_size);
        }
        rd_kafka_topic_partition_list_destroy(l);
        return st;
}

/* The open transaction committed: what it held is acknowledged. */
static void txn_committed(ks_task_t *t)
{
        txn_release(t);
        for (ks_part_t *kp = t->parts; kp; kp = kp->next) {
                if (kp->txn_next >= 0)
                        kp->done = kp->txn_next;
                kp->txn_next = -1;
        }
        atomic_fetch_add_explicit(&t->acked, t->txn_records, memory_order_relaxed);
        t->txn_records = 0;
        t->txn_open = t->committing = 0;
}

kp_sink_status_t ks_txn_flush(ks_task_t *t, int64_t deadline_ms, char *errstr, size_t errstr_size)
{
        int64_t left = deadline_ms - kp_time_mono_ms();
        int wait_ms = left > KP_SINK_KAFKA_TXN_WAIT_MS ? (int)left : KP_SINK_KAFKA_TXN_WAIT_MS;
        kp_sink_status_t st = txn_ready(t, errstr, errstr_size) ? KP_SINK_FATAL
                                                                : ks_state(t, errstr, errstr_size);
        rd_kafka_error_t *error;
        if (st != KP_SINK_OK) {
                if (t->txn_open && !atomic_load(&t->prod->fatal))
                        txn_abort(t, wait_ms);
                else if (t->txn_open) /* it can commit nothing any more */
                        txn_ended(t);
                return st;
        }
        if (!t->txn_open)
                return KP_SINK_OK;
        if (!t->committing) {
                if ((st = txn_send_offsets(t, wait_ms, errstr, errstr_size)) != KP_SINK_OK)
                        return st;
                t->committing = 1;
        }
        /* flushes the transaction's records first */
        if ((error = rd_kafka_commit_transaction(t->prod->rk, wait_ms)))
                return txn_error(t, "commit", error, wait_ms, errstr, errstr_size);
        txn_committed(t);
        return KP_SINK_OK;
}

void ks_txn_precommit(ks_task_t *t, kp_sink_offset_t *offs, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                ks_part_t *kp;
                for (kp = t->parts; kp && kp->part != offs[i].part; kp = kp->next)
                        ;
                if (!kp || kp->done < 0)
                        continue;
                offs[i].acked = kp->done;
                offs[i].committed = !strcmp(kp->cluster, t->grp->cluster);
        }
}

void ks_txn_task_close(ks_task_t *t)
{
        char ignored[256];
        if (!t->prod)
                return;
        txn_ready(t, ignored, sizeof(ignored));
        if (t->txn_open && !atomic_load(&t->prod->fatal))
                txn_abort(t, KP_SINK_KAFKA_CLOSE_WAIT_MS);
        if (t->txn_open)
                txn_ended(t);
        if (t->offsets_rkt)
                rd_kafka_topic_destroy(t->offsets_rkt);
        t->offsets_rkt = NULL;
        /* the part handles first: the producer's destroy waits for every topic handle */
        for (ks_part_t *kp = t->parts; kp; kp = kp->next) {
                if (kp->rkt)
                        rd_kafka_topic_destroy(kp->rkt);
                kp->rkt = NULL;
        }
        ks_producer_destroy(t->prod);
        t->prod = NULL;
}

/* @returns 1 when @p err is a group coordinator moving, loading, or a transaction still
 * holding the offsets (KIP-447: committed offsets are stable only once it ended). */
static int resume_retriable(rd_kafka_resp_err_t err)
{
        return err == RD_KAFKA_RESP_ERR_UNSTABLE_OFFSET_COMMIT ||
               err == RD_KAFKA_RESP_ERR_NOT_COORDINATOR ||
               err == RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS ||
               err == RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE ||
               err == RD_KAFKA_RESP_ERR__WAIT_COORD || err == RD_KAFKA_RESP_ERR__TIMED_OUT ||
               err == RD_KAFKA_RESP_ERR__TRANSPORT;
}

typedef struct resume_arg {
        ks_group_t *g;
        kp_sink_offset_t *offs;
        size_t n;
} resume_arg_t;

/* Reads @p l's committed offsets until none is unstable or the wait is over. */
static rd_kafka_resp_err_t resume_committed_read(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *l)
{
        int64_t deadline = kp_time_mono_ms() + KP_SINK_KAFKA_RESUME_WAIT_MS;
        for (;;) {
                rd_kafka_resp_err_t err = rd_kafka_committed(rk, l, KP_SINK_KAFKA_TXN_WAIT_MS);
                for (int i = 0; !err && i < l->cnt; i++)
                        if (l->elems[i].err)
                                err = l->elems[i].err;
                if (!resume_retriable(err) || kp_time_mono_ms() >= deadline)
                        return err;
                struct timespec pause = {0, 200 * 1000000L};
                nanosleep(&pause, NULL);
                for (int i = 0; i < l->cnt; i++)
                        l->elems[i].err = RD_KAFKA_RESP_ERR_NO_ERROR;
        }
}

/* kp_sink_cluster_use_fn: the group's committed offsets of the entries on the sink's
 * cluster, read as the runtime's consumer would, stable ones only. */
static int resume_committed_use(const kp_cluster_ref_t *ref, void *arg, char *errstr,
                                size_t errstr_size)
{
        resume_arg_t *a = arg;
        char rderr[256];
        rd_kafka_conf_t *conf = kp_kafka_consumer_conf_new(ref->bootstrap, ref->config, a->g->name,
                                                           "earliest", errstr, errstr_size);
        rd_kafka_t *rk;
        if (!conf)
                return KP_ERR_INVALID;
        if (rd_kafka_conf_set(conf, "isolation.level", "read_committed", rderr, sizeof(rderr)) ||
            !(rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, rderr, sizeof(rderr)))) {
                rd_kafka_conf_destroy(conf);
                snprintf(errstr, errstr_size, "sink: %s", rderr);
                return KP_ERR_INVALID;
        }
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)a->n);
        for (size_t i = 0; i < a->n; i++)
                if (!strcmp(a->offs[i].cluster, a->g->cluster))
                        rd_kafka_topic_partition_list_add(l, a->offs[i].topic,
                                                          a->offs[i].partition);
        rd_kafka_resp_err_t err = resume_committed_read(rk, l);
        for (size_t i = 0, j = 0; !err && i < a->n; i++)
                if (!strcmp(a->offs[i].cluster, a->g->cluster)) {
                        int64_t off = l->elems[j++].offset;
                        a->offs[i].acked = off >= 0 ? off : -1;
                }
        if (err)
                snprintf(errstr, errstr_size, "sink: group %s: committed offsets: %s", a->g->name,
                         rd_kafka_err2str(err));
        rd_kafka_topic_partition_list_destroy(l);
        rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
        return err ? KP_ERR_UNAVAILABLE : 0;
}

int ks_txn_resume(void *group, kp_sink_offset_t *offs, size_t n, char *errstr, size_t errstr_size)
{
        ks_group_t *g = group;
        resume_arg_t a = {g, offs, n};
        size_t same = 0;
        int r = 0;
        if (!g->eos) /* at_least_once: the group's committed offsets, as the runtime reads */
                return 0;
        txn_inits_wait(g);
        for (size_t i = 0; i < n; i++)
                same += !strcmp(offs[i].cluster, g->cluster);
        if (same)
                r = kp_sink_cluster_with(g->cluster, resume_committed_use, &a, errstr, errstr_size);
        if (!r && same < n)
                r = ks_offsets_read(g, offs, n, errstr, errstr_size);
        return r;
}
