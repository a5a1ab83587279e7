/* sink_kafka.c — the Kafka sink: records produced to a registered cluster's topic, acknowledged by
 * their delivery reports. */
/*
 * Delivery at_least_once (the only one so far; exactly_once is refused by validate): an
 * idempotent producer with acks=all. put hands each record to librdkafka
 * (rd_kafka_produceva, copied) and remembers it, per source partition, in a list in offset
 * order; its delivery report removes it. precommit says, per source partition, the offset
 * of the first record still in the list (every record below it is delivered), or, when
 * the list is empty, everything taken: the committer commits only that. A delivery
 * report with an error (librdkafka already retried what retrying could fix, until
 * message.timeout.ms) leaves its record in the list for good and fails the task: nothing
 * past it is committed, and a restart reads it again.
 *
 * One producer per group (ks_producer_t, in the group state), shared by the group's
 * tasks; each task keeps its own records' lists, so a delivery report finds its task
 * through the record. Why not one per task as Kafka Connect and MirrorMaker 2 do: a
 * librdkafka producer costs a main thread and a thread per broker, so 100 tasks copying
 * to a 3-broker cluster would run ~400 threads and 400 connections, where one producer
 * batches every task's records into the same requests. Connect's tasks are units that
 * may run on other machines; kplane's share a process. exactly_once needs one
 * transactional producer per task (a transaction is a producer's): that is a ks_producer_t
 * owned by the task state (ks_task_t.prod then points to its own, made in kafka_open with
 * transactional.id <group>.<task>), with begin/commit around flush; nothing else here
 * assumes the producer is shared.
 *
 * Threads: the producer's poller thread (one per producer) serves rd_kafka_poll, so
 * delivery reports arrive while tasks put; the group close stops it and serves the rest
 * with rd_kafka_flush.
 */
#include "base/config.h"
#include "base/err.h"
#include "base/util.h"
#include "kafka/client_conf.h"
#include "kafka/kafka.h"
#include "sinks/sink.h"
#include "sinks/sink_clusters.h"
#include "sinks/sink_kafka.h"
#include "sinks/sink_kafka_int.h"
#include "sinks/sink_kinds.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const ks_partitionings[] = {"source", "key", "round_robin"};

static void ks_task_free(ks_task_t *t);

typedef struct ks_refused {
        struct ks_refused *next;
        ks_msg_t *m;
        kp_sink_msg_t *rec; /* owned */
        char status[48];
        char reason[256];
} ks_refused_t;

/* ---- the document ---- */

int kp_sink_kafka_topic(const char *tmpl, const char *cluster, const char *topic, char *out,
                        size_t size)
{
        size_t o = 0;
        for (const char *c = tmpl; *c;) {
                const char *s = c;
                size_t n = 1;
                if (!strncmp(c, "{cluster}", 9)) {
                        s = cluster, n = strlen(cluster), c += 9;
                } else if (!strncmp(c, "{topic}", 7)) {
                        s = topic, n = strlen(topic), c += 7;
                } else {
                        c++;
                }
                if (o + n >= size)
                        return KP_ERR_INVALID;
                memcpy(out + o, s, n);
                o += n;
        }
        if (!size)
                return KP_ERR_INVALID;
        out[o] = '\0';
        if (o > KP_SINK_KAFKA_TOPIC_MAX || !kp_topic_name_valid(out) || !strcmp(out, ".") ||
            !strcmp(out, ".."))
                return KP_ERR_INVALID;
        return 0;
}

static int ks_partitioning_of(const json_t *conf, ks_partitioning_t *out)
{
        const json_t *p = json_object_get(conf, "partitioning");
        *out = KS_SOURCE;
        if (!p)
                return 0;
        for (size_t i = 0; i < sizeof(ks_partitionings) / sizeof(ks_partitionings[0]); i++) {
                if (json_is_string(p) && !strcmp(json_string_value(p), ks_partitionings[i])) {
                        *out = (ks_partitioning_t)i;
                        return 0;
                }
        }
        return KP_ERR_INVALID;
}

/* The producer properties kplane owns for at_least_once: a user value would break it. */
static const char *const ks_owned[][2] = {
        {"enable.idempotence", "kplane sets it to true (at_least_once)"},
        {"acks", "kplane sets it to all (at_least_once)"},
        {"request.required.acks", "kplane sets it to all (at_least_once)"},
        {"partitioner", "set \"partitioning\" instead"},
};

static const kp_client_conf_ctx_t ks_ctx = {KP_CLIENT_PRODUCER, NULL};

/* Sets sink property @p key on @p conf (NULL: a fresh one, only to let librdkafka judge
 * the value), through the allow-list for producers. */
static int ks_prop_set(rd_kafka_conf_t *conf, const char *key, const json_t *value, char *errstr,
                       size_t errstr_size)
{
        char val[KP_KAFKA_CONFIG_VALUE_MAX], rderr[256], why[512];
        int from_env, err;
        rd_kafka_conf_t *c = conf ? conf : rd_kafka_conf_new();

        err = kp_client_conf_value(key, value, &ks_ctx, val, sizeof(val), &from_env, why,
                                   sizeof(why));
        if (err)
                snprintf(errstr, errstr_size, "sink.%s", why);
        else if (rd_kafka_conf_set(c, key, val, rderr, sizeof(rderr)) != RD_KAFKA_CONF_OK) {
                snprintf(errstr, errstr_size, "sink.config.%s: %s", key,
                         from_env ? "librdkafka refused the value of the variable it names"
                                  : rderr);
                err = KP_ERR_INVALID;
        }
        explicit_bzero(val, sizeof(val));
        if (!conf)
                rd_kafka_conf_destroy(c);
        return err;
}

static int ks_config_validate(const json_t *config, char *errstr, size_t errstr_size)
{
        const char *key;
        json_t *v;
        char why[512];

        if (!config)
                return 0;
        if (!json_is_object(config) || json_object_size(config) > KP_KAFKA_CONFIG_PROPS_MAX) {
                snprintf(errstr, errstr_size,
                         "sink.config: must be an object of at most %d producer properties",
                         KP_KAFKA_CONFIG_PROPS_MAX);
                return KP_ERR_INVALID;
        }
        json_object_foreach((json_t *)config, key, v)
        {
                for (size_t i = 0; i < sizeof(ks_owned) / sizeof(ks_owned[0]); i++) {
                        if (!strcmp(key, ks_owned[i][0])) {
                                snprintf(errstr, errstr_size, "sink.config.%s: %s", key,
                                         ks_owned[i][1]);
                                return KP_ERR_INVALID;
                        }
                }
        }
        /* the allow-list for every property before librdkafka sees any */
        if (kp_client_conf_check(config, &ks_ctx, why, sizeof(why))) {
                snprintf(errstr, errstr_size, "sink.%s", why);
                return KP_ERR_INVALID;
        }
        json_object_foreach((json_t *)config, key, v)
        {
                if (ks_prop_set(NULL, key, v, errstr, errstr_size))
                        return KP_ERR_INVALID;
        }
        return 0;
}

int ks_eos(const json_t *conf)
{
        const char *d = json_string_value(json_object_get(conf, "delivery"));
        return d && !strcmp(d, "exactly_once");
}

int kp_sink_kafka_exactly_once(const json_t *conf)
{
        const char *type = json_string_value(json_object_get(conf, "type"));
        return type && !strcmp(type, "kafka") && ks_eos(conf);
}

int kp_sink_kafka_txn_id(const char *service, const char *group, int task, char *out, size_t size)
{
        int n = snprintf(out, size, "%s:%s.%d", service, group, task);
        return n < 0 || (size_t)n >= size ? KP_ERR_INVALID : 0;
}

/* "offsets_topic": a topic name, only with exactly_once (where it holds the positions of
 * a copy across clusters; KP_SINK_KAFKA_OFFSETS_TOPIC when absent). */
static int ks_offsets_topic_validate(const json_t *conf, char *errstr, size_t errstr_size)
{
        const json_t *ot = json_object_get(conf, "offsets_topic");
        const char *name = json_string_value(ot);
        if (!ot)
                return 0;
        if (!name || strlen(name) > KP_SINK_KAFKA_TOPIC_MAX || !kp_topic_name_valid(name) ||
            !strcmp(name, ".") || !strcmp(name, ".."))
                snprintf(errstr, errstr_size,
                         "sink.offsets_topic: must be a topic name (characters [A-Za-z0-9._-], "
                         "at most %d)",
                         KP_SINK_KAFKA_TOPIC_MAX);
        else if (!ks_eos(conf))
                snprintf(errstr, errstr_size,
                         "sink.offsets_topic: only used with \"delivery\": \"exactly_once\"");
        else
                return 0;
        return KP_ERR_INVALID;
}

/* Fields other than config: names, the template, the enums. */
static int ks_fields_validate(const json_t *conf, char *errstr, size_t errstr_size)
{
        const char *cluster = json_string_value(json_object_get(conf, "cluster"));
        const char *tmpl = json_string_value(json_object_get(conf, "topic"));
        const json_t *delivery = json_object_get(conf, "delivery");
        const json_t *sh = json_object_get(conf, "source_headers");
        char name[KP_SINK_KAFKA_TOPIC_MAX + 1];
        ks_partitioning_t p;

        if (!cluster || !kp_name_valid(cluster))
                snprintf(errstr, errstr_size, "sink.cluster: must be a registered cluster's name");
        else if (!tmpl || kp_sink_kafka_topic(tmpl, "c", "t", name, sizeof(name)))
                snprintf(errstr, errstr_size,
                         "sink.topic: must be a topic name, may use {cluster} and {topic} "
                         "(characters [A-Za-z0-9._-], at most %d)",
                         KP_SINK_KAFKA_TOPIC_MAX);
        else if (ks_partitioning_of(conf, &p))
                snprintf(errstr, errstr_size,
                         "sink.partitioning: must be \"source\", \"key\" or \"round_robin\"");
        else if (delivery && (!json_is_string(delivery) ||
                              (strcmp(json_string_value(delivery), "at_least_once") &&
                               strcmp(json_string_value(delivery), "exactly_once"))))
                snprintf(errstr, errstr_size,
                         "sink.delivery: must be \"at_least_once\" or \"exactly_once\"");
        else if (sh && !json_is_boolean(sh))
                snprintf(errstr, errstr_size, "sink.source_headers: must be true or false");
        else
                return ks_offsets_topic_validate(conf, errstr, errstr_size);
        return KP_ERR_INVALID;
}

static int kafka_validate(const json_t *conf, char *errstr, size_t errstr_size)
{
        static const char *const fields[] = {"type",          "cluster",  "topic",
                                             "partitioning",  "delivery", "source_headers",
                                             "offsets_topic", "config",   NULL};
        const char *key;
        json_t *v;

        json_object_foreach((json_t *)conf, key, v)
        {
                size_t i = 0;
                while (fields[i] && strcmp(fields[i], key))
                        i++;
                if (!fields[i]) {
                        snprintf(errstr, errstr_size, "sink.%s: unknown field", key);
                        return KP_ERR_INVALID;
                }
        }
        if (ks_fields_validate(conf, errstr, errstr_size))
                return KP_ERR_INVALID;
        return ks_config_validate(json_object_get(conf, "config"), errstr, errstr_size);
}

/* ---- the producer ---- */

/* Every partitioning in one partitioner, so librdkafka learns the target's partition
 * count itself (and keeps records of a topic it has no metadata for yet until it has). */
static int32_t ks_partitioner(const rd_kafka_topic_t *rkt, const void *key, size_t keylen,
                              int32_t cnt, void *rkt_opaque, void *msg_opaque)
{
        ks_producer_t *prod = rkt_opaque;
        const ks_msg_t *m = msg_opaque;
        if (!m) /* the offsets topic's records: by key, so a key stays on one partition */
                return rd_kafka_msg_partitioner_murmur2_random(rkt, key, keylen, cnt, rkt_opaque,
                                                               msg_opaque);
        switch (prod->partitioning) {
        case KS_KEY:
                return rd_kafka_msg_partitioner_murmur2_random(rkt, key, keylen, cnt, rkt_opaque,
                                                               msg_opaque);
        case KS_ROUND_ROBIN: return (int32_t)(atomic_fetch_add(&prod->next, 1) % (uint32_t)cnt);
        default: return m->src_partition % cnt;
        }
}

/* @p m leaves its partition's in-flight list and is freed (its task's lock held). */
static void ks_msg_unlink(ks_msg_t *m)
{
        if (m->prev)
                m->prev->next = m->next;
        else
                m->kp->head = m->next;
        if (m->next)
                m->next->prev = m->prev;
        else
                m->kp->tail = m->prev;
        free(m);
}

/* A failed report of @p m (t->lock held): the record, as produced, goes on the task's
 * refused list (kp_sink_refused) and @m stays in flight. @returns 0, or -1 when it cannot
 * be refused (a purge at close, the producer's fatal error, no memory): the task fails. */
static int ks_refuse(ks_task_t *t, ks_msg_t *m, const rd_kafka_message_t *rkm)
{
        kp_sink_header_t h[64];
        rd_kafka_headers_t *hdrs = NULL;
        rd_kafka_timestamp_type_t tst;
        kp_sink_msg_t rec = {.cluster = m->kp->cluster,
                             .topic = m->kp->topic,
                             .partition = m->src_partition,
                             .offset = m->offset,
                             .key = rkm->key,
                             .key_len = rkm->key_len,
                             .value = rkm->payload,
                             .value_len = rkm->len,
                             .headers = h,
                             .part = m->kp->part};
        ks_refused_t *r;
        /* exactly_once: the record failed inside a transaction, which can only abort (and
         * fail the task, a restart resuming from the last commit), not go on without it */
        if (t->grp->eos)
                return -1;
        if (rkm->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
            rkm->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT || rkm->err == RD_KAFKA_RESP_ERR__FATAL)
                return -1;
        rec.timestamp = rd_kafka_message_timestamp(rkm, &tst);
        rec.timestamp_type = (kp_sink_ts_type_t)tst;
        if (!rd_kafka_message_headers(rkm, &hdrs))
                for (size_t i = 0; rec.nheaders < 64 && i < rd_kafka_header_cnt(hdrs); i++) {
                        kp_sink_header_t *e = &h[rec.nheaders];
                        rd_kafka_header_get_all(hdrs, i, &e->name, &e->value, &e->value_len);
                        rec.nheaders += strncmp(e->name, "kplane.source.", 14) != 0;
                }
        if (!(r = calloc(1, sizeof(*r))) || !(r->rec = kp_sink_msg_dup(&rec))) {
                free(r);
                return -1;
        }
        r->m = m;
        snprintf(r->status, sizeof(r->status), "%s", rd_kafka_err2name(rkm->err));
        snprintf(r->reason, sizeof(r->reason),
                 "delivery to %s failed: %s (source partition %" PRId32 " offset %" PRId64 ")",
                 rd_kafka_topic_name(rkm->rkt), rd_kafka_err2str(rkm->err), m->src_partition,
                 m->offset);
        if (t->ref_tail)
                t->ref_tail->next = r;
        else
                t->ref_head = r;
        t->ref_tail = r;
        return 0;
}

/* Delivery report (the poller thread, or the close's flush): the record leaves its
 * partition's list, or, failed, stays there and is refused (ks_refuse) or fails its task. */
static void ks_delivered(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
        ks_msg_t *m = rkm->_private;
        (void)rk, (void)opaque;
        if (!m) /* an offsets record: its error fails the transaction's commit */
                return;
        ks_task_t *t = m->kp->task;
        pthread_mutex_lock(&t->lock);
        if (rkm->err && (t->failed || t->orphan || ks_refuse(t, m, rkm))) {
                if (!t->failed)
                        snprintf(t->error, sizeof(t->error),
                                 "delivery to %s failed: %s (source partition %" PRId32
                                 " offset %" PRId64 ")",
                                 rd_kafka_topic_name(rkm->rkt), rd_kafka_err2str(rkm->err),
                                 m->src_partition, m->offset);
                t->failed = 1;
        } else if (!rkm->err) { /* (else refused: in flight until refused_done) */
                ks_msg_unlink(m);
                /* exactly_once: acknowledged by the transaction's commit, not here */
                if (!t->grp->eos)
                        atomic_fetch_add_explicit(&t->acked, 1, memory_order_relaxed);
        }
        t->in_flight--;
        pthread_cond_broadcast(&t->cond);
        int last = t->orphan && !t->in_flight;
        if (last) { /* a closed task's last report: nothing points into it any more */
                pthread_mutex_lock(&t->grp->lock);
                if (t->prev_orphan)
                        t->prev_orphan->next_orphan = t->next_orphan;
                else
                        t->grp->orphans = t->next_orphan;
                if (t->next_orphan)
                        t->next_orphan->prev_orphan = t->prev_orphan;
                pthread_mutex_unlock(&t->grp->lock);
        }
        pthread_mutex_unlock(&t->lock);
        if (last)
                ks_task_free(t);
}

/* Errors librdkafka cannot retry away (an idempotent producer's fatal error) stop the
 * producer; the rest (a broker down) are retried and show in delivery reports if not. */
static void ks_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
        ks_producer_t *prod = opaque;
        char buf[200];
        if (err != RD_KAFKA_RESP_ERR__FATAL)
                return;
        rd_kafka_fatal_error(rk, buf, sizeof(buf));
        pthread_mutex_lock(&prod->err_lock);
        snprintf(prod->fatal_err, sizeof(prod->fatal_err), "producer failed: %s (%s)", buf, reason);
        pthread_mutex_unlock(&prod->err_lock);
        atomic_store(&prod->fatal, 1);
}

static void *ks_poll_main(void *arg)
{
        ks_producer_t *prod = arg;
        while (!atomic_load(&prod->stop))
                rd_kafka_poll(prod->rk, 100);
        return NULL;
}

/* kplane's producer properties: defaults before the sink's config, then its own after. */
static int ks_conf_set(rd_kafka_conf_t *conf, ks_producer_t *prod, const json_t *config,
                       const char *group, const char *txn_id, char *errstr, size_t errstr_size)
{
        char client_id[KP_NAME_MAX + 32], rderr[256];
        const char *key;
        json_t *v;
        snprintf(client_id, sizeof(client_id), "kplane-sink-%s", txn_id ? txn_id : group);
        const char *pre[][2] = {
                {"client.id", client_id},
                {"queue.buffering.max.kbytes", KP_STR(KP_SINK_KAFKA_QUEUE_KBYTES)},
                {"topic.metadata.refresh.interval.ms", KP_STR(KP_KAFKA_METADATA_REFRESH_MS)}};
        /* last: the sink's config cannot undo them */
        const char *post[][2] = {{"enable.idempotence", "true"},
                                 {"acks", "all"},
                                 {"allow.auto.create.topics", "false"}};
        for (size_t i = 0; i < sizeof(pre) / sizeof(pre[0]); i++)
                if (rd_kafka_conf_set(conf, pre[i][0], pre[i][1], rderr, sizeof(rderr)))
                        goto bug;
        json_object_foreach((json_t *)config, key, v)
        {
                if (ks_prop_set(conf, key, v, errstr, errstr_size))
                        return KP_ERR_INVALID;
        }
        for (size_t i = 0; i < sizeof(post) / sizeof(post[0]); i++)
                if (rd_kafka_conf_set(conf, post[i][0], post[i][1], rderr, sizeof(rderr)))
                        goto bug;
        if (txn_id && rd_kafka_conf_set(conf, "transactional.id", txn_id, rderr, sizeof(rderr)))
                goto bug;
        rd_kafka_conf_set_opaque(conf, prod);
        rd_kafka_conf_set_dr_msg_cb(conf, ks_delivered);
        rd_kafka_conf_set_error_cb(conf, ks_error);
        /* topic-level properties set above (acks, message.timeout.ms, ...) live in the
         * default topic conf: add to it, never replace it */
        rd_kafka_topic_conf_t *tconf = rd_kafka_conf_get_default_topic_conf(conf);
        if (!tconf) {
                tconf = rd_kafka_topic_conf_new();
                rd_kafka_conf_set_default_topic_conf(conf, tconf);
        }
        rd_kafka_topic_conf_set_partitioner_cb(tconf, ks_partitioner);
        rd_kafka_topic_conf_set_opaque(tconf, prod);
        return 0;
bug:
        snprintf(errstr, errstr_size, "sink: %s", rderr);
        return KP_ERR_INTERNAL;
}

typedef struct ks_make {
        const json_t *conf;
        const char *group;
        const char *txn_id;
        ks_producer_t *prod;
} ks_make_t;

/* Builds the producer on the resolved target cluster (kp_sink_cluster_use_fn). */
static int ks_producer_make(const kp_cluster_ref_t *ref, void *arg, char *errstr,
                            size_t errstr_size)
{
        ks_make_t *mk = arg;
        char rderr[512];
        rd_kafka_conf_t *conf =
                kp_kafka_client_conf_new(ref->bootstrap, ref->config, errstr, errstr_size);
        if (!conf)
                return KP_ERR_INVALID;
        if (ks_conf_set(conf, mk->prod, json_object_get(mk->conf, "config"), mk->group, mk->txn_id,
                        errstr, errstr_size)) {
                rd_kafka_conf_destroy(conf);
                return KP_ERR_INVALID;
        }
        mk->prod->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, rderr, sizeof(rderr));
        if (!mk->prod->rk) {
                rd_kafka_conf_destroy(conf);
                snprintf(errstr, errstr_size, "sink.config: %s", rderr);
                return KP_ERR_INVALID;
        }
        conf = NULL; /* owned by rk now */
        return 0;
}

void ks_producer_destroy(ks_producer_t *prod)
{
        if (!prod)
                return;
        if (prod->poller_started) {
                atomic_store(&prod->stop, 1);
                pthread_join(prod->poller, NULL);
        }
        if (prod->rk && prod->txn) {
                /* what is not committed is not acknowledged: the task's close aborted it,
                 * and no report is served once the poller stopped */
                rd_kafka_destroy(prod->rk);
        } else if (prod->rk) {
                /* deliver what is queued, then give up on the rest: it was never
                 * acknowledged, so never committed */
                rd_kafka_flush(prod->rk, KP_SINK_KAFKA_CLOSE_WAIT_MS);
                rd_kafka_purge(prod->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
                rd_kafka_flush(prod->rk, KP_SINK_KAFKA_CLOSE_WAIT_MS);
                rd_kafka_destroy(prod->rk);
        }
        pthread_mutex_destroy(&prod->err_lock);
        free(prod);
}

/* A producer on the cluster sink document @p conf names, its poller running. */
ks_producer_t *ks_producer_new(const json_t *conf, const char *group, const char *txn_id,
                               char *errstr, size_t errstr_size)
{
        ks_producer_t *prod = calloc(1, sizeof(*prod));
        if (!prod) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        pthread_mutex_init(&prod->err_lock, NULL);
        ks_partitioning_of(conf, &prod->partitioning);
        prod->txn = txn_id != NULL;
        ks_make_t mk = {conf, group, txn_id, prod};
        if (kp_sink_cluster_with(json_string_value(json_object_get(conf, "cluster")),
                                 ks_producer_make, &mk, errstr, errstr_size))
                goto fail;
        if (pthread_create(&prod->poller, NULL, ks_poll_main, prod)) {
                snprintf(errstr, errstr_size, "sink: cannot start the producer's poller");
                goto fail;
        }
        prod->poller_started = 1;
        return prod;
fail:
        ks_producer_destroy(prod);
        return NULL;
}

/* ---- group and task state ---- */

static void ks_task_free(ks_task_t *t)
{
        ks_part_t *kp, *nkp;
        while (t->ref_head) {
                ks_refused_t *r = t->ref_head;
                t->ref_head = r->next;
                free(r->rec);
                free(r);
        }
        for (kp = t->parts; kp; kp = nkp) {
                nkp = kp->next;
                for (ks_msg_t *m = kp->head, *nm; m; m = nm) {
                        nm = m->next;
                        free(m);
                }
                if (kp->rkt)
                        rd_kafka_topic_destroy(kp->rkt);
                free(kp->cluster);
                free(kp->topic);
                free(kp);
        }
        pthread_cond_destroy(&t->cond);
        pthread_mutex_destroy(&t->lock);
        free(t);
}

static int kafka_group_open(const json_t *conf, const char *group, void **groupp, char *errstr,
                            size_t errstr_size)
{
        ks_group_t *g = calloc(1, sizeof(*g));
        if (!g) {
                snprintf(errstr, errstr_size, "out of memory");
                return KP_ERR_NOMEM;
        }
        g->tmpl = json_string_value(json_object_get(conf, "topic"));
        g->source_headers = json_is_true(json_object_get(conf, "source_headers"));
        g->conf = conf;
        g->eos = ks_eos(conf);
        g->cluster = json_string_value(json_object_get(conf, "cluster"));
        g->offsets_topic = json_string_value(json_object_get(conf, "offsets_topic"));
        if (!g->offsets_topic)
                g->offsets_topic = KP_SINK_KAFKA_OFFSETS_TOPIC;
        pthread_mutex_init(&g->lock, NULL);
        pthread_cond_init(&g->init_cond, NULL);
        /* exactly_once: each task makes its own transactional producer */
        if (!(g->name = strdup(group)) ||
            (!g->eos && !(g->prod = ks_producer_new(conf, group, NULL, errstr, errstr_size)))) {
                if (!g->name)
                        snprintf(errstr, errstr_size, "out of memory");
                pthread_cond_destroy(&g->init_cond);
                pthread_mutex_destroy(&g->lock);
                free(g->name);
                free(g);
                return KP_ERR_UNAVAILABLE;
        }
        *groupp = g;
        return 0;
}

static void kafka_group_close(void *state)
{
        ks_group_t *g = state;
        ks_task_t *t, *nt;
        /* after the producer: no delivery report can reach an orphan any more */
        ks_producer_destroy(g->prod);
        for (t = g->orphans; t; t = nt) {
                nt = t->next_orphan;
                ks_task_free(t);
        }
        ks_txn_holders_free(g);
        pthread_cond_destroy(&g->init_cond);
        pthread_mutex_destroy(&g->lock);
        free(g->name);
        free(g);
}

static int kafka_open(const json_t *conf, void *group, int task, void **statep, char *errstr,
                      size_t errstr_size)
{
        ks_task_t *t = calloc(1, sizeof(*t));
        pthread_condattr_t ca;
        (void)conf;
        if (!t) {
                snprintf(errstr, errstr_size, "out of memory");
                return KP_ERR_NOMEM;
        }
        t->grp = group;
        t->prod = t->grp->prod;
        pthread_mutex_init(&t->lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&t->cond, &ca);
        pthread_condattr_destroy(&ca);
        if (t->grp->eos && ks_txn_task_open(t, task, errstr, errstr_size)) {
                ks_task_free(t);
                return KP_ERR_UNAVAILABLE;
        }
        *statep = t;
        return 0;
}

/* Waits on @p t's condition (lock held) at most @p ms. */
static void ks_wait(ks_task_t *t, int64_t ms)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += (time_t)(ms / 1000);
        ts.tv_nsec += (long)(ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&t->cond, &t->lock, &ts);
}

/* Waits (lock held) until nothing of @p t is in flight, a record failed, or
 * @p deadline_ms passed. */
static void ks_wait_delivered(ks_task_t *t, int64_t deadline_ms)
{
        while (t->in_flight > 0 && !t->failed && !atomic_load(&t->prod->fatal)) {
                int64_t left = deadline_ms - kp_time_mono_ms();
                if (left <= 0)
                        break;
                ks_wait(t, left < 100 ? left : 100);
        }
}

/* No wait here: a stop or a hand-over flushed the task until its deadline before
 * closing it, and the group's producer goes on delivering what is left. */
static void kafka_close(void *state)
{
        ks_task_t *t = state;
        ks_group_t *g = t->grp;
        if (g->eos) { /* its own producer: every report is served before it is freed */
                ks_txn_task_close(t);
                ks_task_free(t);
                return;
        }
        /* now, while the producer lives (records in flight hold their own references) */
        for (ks_part_t *kp = t->parts; kp; kp = kp->next) {
                rd_kafka_topic_destroy(kp->rkt);
                kp->rkt = NULL;
        }
        pthread_mutex_lock(&t->lock);
        if (!t->in_flight) {
                pthread_mutex_unlock(&t->lock);
                ks_task_free(t);
                return;
        }
        /* reports still to come point into it: the last one frees it, or the group's
         * close after its producer */
        t->orphan = 1;
        pthread_mutex_lock(&g->lock);
        t->prev_orphan = NULL;
        t->next_orphan = g->orphans;
        if (g->orphans)
                g->orphans->prev_orphan = t;
        g->orphans = t;
        pthread_mutex_unlock(&g->lock);
        pthread_mutex_unlock(&t->lock);
}

/* ---- put, flush, precommit ---- */

void ks_task_fail(ks_task_t *t, const char *why)
{
        pthread_mutex_lock(&t->lock);
        if (!t->failed)
                snprintf(t->error, sizeof(t->error), "%s", why);
        t->failed = 1;
        pthread_mutex_unlock(&t->lock);
}

/* @returns FATAL with errstr when @p t cannot take records any more. */
kp_sink_status_t ks_state(ks_task_t *t, char *errstr, size_t errstr_size)
{
        kp_sink_status_t st = KP_SINK_OK;
        pthread_mutex_lock(&t->lock);
        if (t->failed) {
                snprintf(errstr, errstr_size, "%s", t->error);
                st = KP_SINK_FATAL;
        }
        pthread_mutex_unlock(&t->lock);
        if (!st && atomic_load(&t->prod->fatal)) {
                pthread_mutex_lock(&t->prod->err_lock);
                snprintf(errstr, errstr_size, "%s", t->prod->fatal_err);
                pthread_mutex_unlock(&t->prod->err_lock);
                st = KP_SINK_FATAL;
        }
        return st;
}

/* The state of source partition @p m->part in @p t, made on its first record (with the
 * target topic's handle). NULL with errstr when the template gives no topic name. */
static ks_part_t *ks_part_get(ks_task_t *t, const kp_sink_msg_t *m, char *errstr,
                              size_t errstr_size)
{
        char name[KP_SINK_KAFKA_TOPIC_MAX + 1];
        ks_part_t *kp;
        if (t->last && t->last->part == m->part)
                return t->last;
        for (kp = t->parts; kp && kp->part != m->part; kp = kp->next)
                ;
        if (kp)
                return t->last = kp;
        if (kp_sink_kafka_topic(t->grp->tmpl, m->cluster, m->topic, name, sizeof(name))) {
                snprintf(errstr, errstr_size, "sink.topic: gives no topic name for %s/%s",
                         m->cluster, m->topic);
                return NULL;
        }
        if (!(kp = calloc(1, sizeof(*kp))) || !(kp->cluster = strdup(m->cluster)) ||
            !(kp->topic = strdup(m->topic)) ||
            !(kp->rkt = rd_kafka_topic_new(t->prod->rk, name, NULL))) {
                if (kp) {
                        free(kp->cluster);
                        free(kp->topic);
                }
                free(kp);
                snprintf(errstr, errstr_size, "sink: cannot make topic %s: out of memory", name);
                return NULL;
        }
        kp->partition = m->partition;
        kp->txn_next = kp->done = -1;
        kp->part = m->part;
        kp->task = t;
        pthread_mutex_lock(&t->lock); /* precommit walks the list */
        kp->next = t->parts;
        t->parts = kp;
        pthread_mutex_unlock(&t->lock);
        return t->last = kp;
}

/* The record's headers, and the kplane.source.* ones when asked. NULL: none. */
static rd_kafka_headers_t *ks_headers(const ks_group_t *g, const kp_sink_msg_t *m)
{
        char num[24];
        rd_kafka_headers_t *hdrs;
        if (!m->nheaders && !g->source_headers)
                return NULL;
        hdrs = rd_kafka_headers_new(m->nheaders + 4);
        for (size_t i = 0; i < m->nheaders; i++)
                rd_kafka_header_add(hdrs, m->headers[i].name, -1, m->headers[i].value,
                                    m->headers[i].value ? (ssize_t)m->headers[i].value_len : 0);
        if (g->source_headers) {
                rd_kafka_header_add(hdrs, "kplane.source.cluster", -1, m->cluster, -1);
                rd_kafka_header_add(hdrs, "kplane.source.topic", -1, m->topic, -1);
                snprintf(num, sizeof(num), "%" PRId32, m->partition);
                rd_kafka_header_add(hdrs, "kplane.source.partition", -1, num, -1);
                snprintf(num, sizeof(num), "%" PRId64, m->offset);
                rd_kafka_header_add(hdrs, "kplane.source.offset", -1, num, -1);
        }
        return hdrs;
}

/* Links @p km at the tail of its partition's list (or, @p add 0, unlinks it again). */
static void ks_track(ks_task_t *t, ks_msg_t *km, int add)
{
        ks_part_t *kp = km->kp;
        pthread_mutex_lock(&t->lock);
        if (add) {
                km->prev = kp->tail;
                if (kp->tail)
                        kp->tail->next = km;
                else
                        kp->head = km;
                kp->tail = km;
                t->in_flight++;
        } else {
                /* never delivered: it is still the tail */
                kp->tail = km->prev;
                if (kp->tail)
                        kp->tail->next = NULL;
                else
                        kp->head = NULL;
                t->in_flight--;
        }
        pthread_mutex_unlock(&t->lock);
}

/* Hands one record to librdkafka, waiting once for room when its queue is full. */
static rd_kafka_resp_err_t ks_send(ks_task_t *t, ks_msg_t *km, const kp_sink_msg_t *m,
                                   rd_kafka_headers_t *hdrs)
{
        rd_kafka_vu_t vu[8];
        size_t n = 0;
        vu[n].vtype = RD_KAFKA_VTYPE_RKT, vu[n++].u.rkt = km->kp->rkt;
        vu[n].vtype = RD_KAFKA_VTYPE_PARTITION, vu[n++].u.i32 = RD_KAFKA_PARTITION_UA;
        vu[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS, vu[n++].u.i = RD_KAFKA_MSG_F_COPY;
        vu[n].vtype = RD_KAFKA_VTYPE_KEY, vu[n].u.mem.ptr = (void *)m->key,
        vu[n++].u.mem.size = m->key_len;
        vu[n].vtype = RD_KAFKA_VTYPE_VALUE, vu[n].u.mem.ptr = (void *)m->value,
        vu[n++].u.mem.size = m->value_len;
        /* 0 is librdkafka's "now": a record without a timestamp gets the copy's */
        vu[n].vtype = RD_KAFKA_VTYPE_TIMESTAMP, vu[n++].u.i64 = m->timestamp > 0 ? m->timestamp : 0;
        vu[n].vtype = RD_KAFKA_VTYPE_OPAQUE, vu[n++].u.ptr = km;
        if (hdrs)
                vu[n].vtype = RD_KAFKA_VTYPE_HEADERS, vu[n++].u.headers = hdrs;
        for (int waited = 0;; waited = 1) {
                rd_kafka_error_t *error = rd_kafka_produceva(t->prod->rk, vu, n);
                rd_kafka_resp_err_t err = error ? rd_kafka_error_code(error) : 0;
                rd_kafka_error_destroy(error);
                if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || waited)
                        return err;
                pthread_mutex_lock(&t->lock);
                ks_wait(t, KP_SINK_KAFKA_QUEUE_WAIT_MS);
                pthread_mutex_unlock(&t->lock);
        }
}

static kp_sink_status_t ks_produce(ks_task_t *t, const kp_sink_msg_t *m, char *errstr,
                                   size_t errstr_size)
{
        ks_part_t *kp = ks_part_get(t, m, errstr, errstr_size);
        ks_msg_t *km = kp ? calloc(1, sizeof(*km)) : NULL;
        if (!km) {
                if (kp)
                        snprintf(errstr, errstr_size, "out of memory");
                return KP_SINK_FATAL;
        }
        if (t->grp->eos && kp->txn_next < 0 && ks_txn_hold(t, kp, errstr, errstr_size)) {
                free(km);
                return KP_SINK_FATAL;
        }
        km->kp = kp;
        km->offset = m->offset;
        km->src_partition = m->partition;
        rd_kafka_headers_t *hdrs = ks_headers(t->grp, m);
        ks_track(t, km, 1); /* before the send: its report may come at once */
        rd_kafka_resp_err_t err = ks_send(t, km, m, hdrs);
        if (!err) {
                if (t->grp->eos) { /* in the open transaction */
                        kp->txn_next = m->offset + 1;
                        t->txn_records++;
                }
                return KP_SINK_OK;
        }
        ks_track(t, km, 0);
        free(km);
        if (hdrs) /* librdkafka's destroy does not take NULL */
                rd_kafka_headers_destroy(hdrs);
        snprintf(errstr, errstr_size, "sink: %s [source %s/%s offset %" PRId64 "]",
                 rd_kafka_err2str(err), m->cluster, m->topic, m->offset);
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                return KP_SINK_RETRY;
        if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
                return KP_SINK_DEAD_LETTER;
        return KP_SINK_FATAL;
}

static kp_sink_status_t kafka_put(void *state, const kp_sink_msg_t *msgs, size_t n, size_t *taken,
                                  char *errstr, size_t errstr_size)
{
        ks_task_t *t = state;
        kp_sink_status_t st = ks_state(t, errstr, errstr_size);
        size_t i;
        if (st == KP_SINK_OK && t->grp->eos)
                st = ks_txn_begin(t, errstr, errstr_size);
        for (i = 0; i < n && st == KP_SINK_OK; i++)
                if ((st = ks_produce(t, msgs + i, errstr, errstr_size)) != KP_SINK_OK)
                        break;
        *taken = i;
        return st;
}

/* Waits for the delivery reports of what was produced until @p deadline_ms; librdkafka
 * sends what it holds within linger.ms by itself. */
static kp_sink_status_t kafka_flush(void *state, int64_t deadline_ms, char *errstr,
                                    size_t errstr_size)
{
        ks_task_t *t = state;
        int64_t left;
        if (t->grp->eos)
                return ks_txn_flush(t, deadline_ms, errstr, errstr_size);
        pthread_mutex_lock(&t->lock);
        ks_wait_delivered(t, deadline_ms);
        left = t->in_flight;
        pthread_mutex_unlock(&t->lock);
        kp_sink_status_t st = ks_state(t, errstr, errstr_size);
        pthread_mutex_lock(&t->lock);
        if (st == KP_SINK_OK && t->ref_head) {
                snprintf(errstr, errstr_size, "%s", t->ref_head->reason);
                st = KP_SINK_DEAD_LETTER;
        }
        pthread_mutex_unlock(&t->lock);
        if (st == KP_SINK_OK && left > 0) {
                snprintf(errstr, errstr_size, "%" PRId64 " records not yet acknowledged", left);
                st = KP_SINK_RETRY;
        }
        return st;
}

static void kafka_precommit(void *state, kp_sink_offset_t *offs, size_t n)
{
        ks_task_t *t = state;
        if (t->grp->eos) {
                ks_txn_precommit(t, offs, n);
                return;
        }
        pthread_mutex_lock(&t->lock);
        for (size_t i = 0; i < n; i++) {
                ks_part_t *kp;
                for (kp = t->parts; kp && kp->part != offs[i].part; kp = kp->next)
                        ;
                if (kp) /* below the first record in flight, everything is delivered */
                        offs[i].acked = kp->head ? kp->head->offset : offs[i].taken;
        }
        pthread_mutex_unlock(&t->lock);
}

static size_t kafka_refused(void *state, kp_sink_refused_t *out, size_t max)
{
        ks_task_t *t = state;
        size_t n = 0;
        pthread_mutex_lock(&t->lock);
        for (ks_refused_t *r = t->ref_head; r && n < max; r = r->next)
                out[n++] = (kp_sink_refused_t){
                        .msg = *r->rec, .reason = r->reason, .status = r->status};
        pthread_mutex_unlock(&t->lock);
        return n;
}

/* The runtime took them: each record leaves its partition's list (ks_delivered's). */
static void kafka_refused_done(void *state, size_t n)
{
        ks_task_t *t = state;
        pthread_mutex_lock(&t->lock);
        while (n-- && t->ref_head) {
                ks_refused_t *r = t->ref_head;
                ks_msg_t *m = r->m;
                t->ref_head = r->next;
                ks_msg_unlink(m);
                free(r->rec);
                free(r);
        }
        if (!t->ref_head)
                t->ref_tail = NULL;
        pthread_mutex_unlock(&t->lock);
}

static int64_t kafka_acked(void *state)
{
        ks_task_t *t = state;
        return atomic_load_explicit(&t->acked, memory_order_relaxed);
}

/* Records are acknowledged by their delivery reports (acks=all): see the top. */
const kp_sink_ops_t kp_sink_kafka_ops = {
        .type = "kafka",
        .validate = kafka_validate,
        .group_open = kafka_group_open,
        .group_close = kafka_group_close,
        .open = kafka_open,
        .put = kafka_put,
        .flush = kafka_flush,
        .precommit = kafka_precommit,
        .acked = kafka_acked,
        .close = kafka_close,
        .refused = kafka_refused,
        .refused_done = kafka_refused_done,
        .resume = ks_txn_resume,
};
