/* sink_kafka_offsets.c — exactly_once across clusters: the source positions kept, inside each
 * transaction, in a compacted topic on the sink's cluster, and read back where a task resumes. */
/*
 * Kafka cannot commit one cluster's consumer offsets in another cluster's transaction, so
 * MirrorMaker 2 (KIP-618, Kafka 3.5) writes a source task's positions as records of its
 * offsets topic inside the transaction that carries the copied records: both become
 * visible together or not at all. kplane does the same: one record per source partition a
 * transaction moved, key {"group","cluster","topic","partition"} (one spelling, so
 * compaction keeps the last), value {"offset": next offset to read}. A task assigned a
 * partition resumes from the last record of its key, read with read_committed to the end
 * of the topic (ks_offsets_read).
 */
#include "base/config.h"
#include "base/err.h"
#include "base/util.h"
#include "kafka/kafka.h"
#include "sinks/sink_clusters.h"
#include "sinks/sink_kafka_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ks_offsets_key(const char *group, const char *cluster, const char *topic, int32_t partition,
                   char *out, size_t size)
{
        int n = snprintf(
                out, size,
                "{\"group\":\"%s\",\"cluster\":\"%s\",\"topic\":\"%s\",\"partition\":%" PRId32 "}",
                group, cluster, topic, partition);
        return n < 0 || (size_t)n >= size ? KP_ERR_INVALID : 0;
}

/* 1 when @p topic is in the cluster's metadata (all topics asked for: naming one would ask
 * a broker that allows it to create it), 0 when not, negative when unreadable. */
static int offsets_topic_exists(rd_kafka_t *rk, const char *topic, char *errstr, size_t errstr_size)
{
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, KP_KAFKA_METADATA_TIMEOUT_MS);
        int found = 0;
        if (err) {
                snprintf(errstr, errstr_size, "sink.offsets_topic: metadata: %s",
                         rd_kafka_err2str(err));
                return KP_ERR_UNAVAILABLE;
        }
        for (int i = 0; i < md->topic_cnt && !found; i++)
                found = !strcmp(md->topics[i].topic, topic) && !md->topics[i].err;
        rd_kafka_metadata_destroy(md);
        return found;
}

/* Creates @p topic compacted (CreateTopics; one that exists meanwhile is fine). */
static int offsets_topic_create(rd_kafka_t *rk, const char *topic, char *errstr, size_t errstr_size)
{
        char rderr[256];
        rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, KP_SINK_KAFKA_OFFSETS_PARTITIONS, -1,
                                                        rderr, sizeof(rderr));
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_event_t *ev = NULL;
        int ret = KP_ERR_UNAVAILABLE;
        if (!nt) {
                snprintf(errstr, errstr_size, "sink.offsets_topic: %s", rderr);
                goto out;
        }
        rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
        rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
        ev = rd_kafka_queue_poll(q, KP_SINK_KAFKA_TXN_WAIT_MS);
        const rd_kafka_CreateTopics_result_t *res =
                ev ? rd_kafka_event_CreateTopics_result(ev) : NULL;
        size_t cnt = 0;
        const rd_kafka_topic_result_t **tr =
                res ? rd_kafka_CreateTopics_result_topics(res, &cnt) : NULL;
        rd_kafka_resp_err_t err = !ev                        ? RD_KAFKA_RESP_ERR__TIMED_OUT
                                  : rd_kafka_event_error(ev) ? rd_kafka_event_error(ev)
                                  : cnt == 1                 ? rd_kafka_topic_result_error(tr[0])
                                                             : RD_KAFKA_RESP_ERR__BAD_MSG;
        if (!err || err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                ret = 0;
        else
                snprintf(errstr, errstr_size, "sink.offsets_topic: cannot create %s: %s", topic,
                         rd_kafka_err2str(err));
out:
        if (ev)
                rd_kafka_event_destroy(ev);
        rd_kafka_queue_destroy(q);
        rd_kafka_NewTopic_destroy(nt);
        return ret;
}

/* Makes @p topic on cluster @p name: through its owner when that is an embedded cluster
 * (the mock answers no CreateTopics: a start there waited for the admin call's timeout and
 * failed), else with CreateTopics, compacted. */
static int offsets_topic_make(rd_kafka_t *rk, const char *name, const char *topic, char *errstr,
                              size_t errstr_size)
{
        int r = kp_sink_cluster_topic_create(name, topic, KP_SINK_KAFKA_OFFSETS_PARTITIONS, errstr,
                                             errstr_size);
        if (r == 0 || r == KP_ERR_EXISTS)
                return 0;
        if (r != KP_ERR_NOT_FOUND) {
                char why[256];
                snprintf(why, sizeof(why), "%s", errstr);
                snprintf(errstr, errstr_size, "sink.offsets_topic: cannot create %s: %s", topic,
                         why);
                return KP_ERR_UNAVAILABLE;
        }
        return offsets_topic_create(rk, topic, errstr, errstr_size);
}

/* kp_sink_cluster_use_fn of ks_offsets_ensure: @p arg is the group. */
static int offsets_ensure_use(const kp_cluster_ref_t *ref, void *arg, char *errstr,
                              size_t errstr_size)
{
        ks_group_t *g = arg;
        char rderr[256];
        rd_kafka_conf_t *conf = kp_kafka_conf_new(ref->bootstrap, ref->config, errstr, errstr_size);
        rd_kafka_t *rk;
        int r;
        if (!conf)
                return KP_ERR_INVALID;
        if (!(rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, rderr, sizeof(rderr)))) {
                rd_kafka_conf_destroy(conf);
                snprintf(errstr, errstr_size, "sink.offsets_topic: %s", rderr);
                return KP_ERR_INVALID;
        }
        r = offsets_topic_exists(rk, g->offsets_topic, errstr, errstr_size);
        if (r == 0)
                r = offsets_topic_make(rk, ref->name, g->offsets_topic, errstr, errstr_size);
        rd_kafka_destroy(rk);
        return r < 0 ? r : 0;
}

int ks_offsets_ensure(ks_group_t *g, char *errstr, size_t errstr_size)
{
        int r = 0;
        pthread_mutex_lock(&g->lock);
        if (!g->offsets_ready &&
            !(r = kp_sink_cluster_with(g->cluster, offsets_ensure_use, g, errstr, errstr_size)))
                g->offsets_ready = 1;
        pthread_mutex_unlock(&g->lock);
        return r;
}

int ks_offsets_produce(ks_task_t *t, char *errstr, size_t errstr_size)
{
        ks_group_t *g = t->grp;
        char key[KP_NAME_MAX * 2 + KP_SINK_KAFKA_TOPIC_MAX + 96], val[48];
        int r = ks_offsets_ensure(g, errstr, errstr_size);
        if (r)
                return r;
        if (!t->offsets_rkt &&
            !(t->offsets_rkt = rd_kafka_topic_new(t->prod->rk, g->offsets_topic, NULL))) {
                snprintf(errstr, errstr_size, "sink.offsets_topic: out of memory");
                return KP_ERR_NOMEM;
        }
        for (ks_part_t *kp = t->parts; kp; kp = kp->next) {
                if (kp->txn_next < 0 || !strcmp(kp->cluster, g->cluster))
                        continue;
                if (ks_offsets_key(g->name, kp->cluster, kp->topic, kp->partition, key,
                                   sizeof(key)))
                        return KP_ERR_INVALID;
                snprintf(val, sizeof(val), "{\"offset\":%" PRId64 "}", kp->txn_next);
                rd_kafka_resp_err_t err = rd_kafka_producev(
                        t->prod->rk, RD_KAFKA_V_RKT(t->offsets_rkt),
                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, strlen(key)),
                        RD_KAFKA_V_VALUE(val, strlen(val)), RD_KAFKA_V_OPAQUE(NULL),
                        RD_KAFKA_V_END);
                if (err) {
                        snprintf(errstr, errstr_size, "sink.offsets_topic: produce: %s",
                                 rd_kafka_err2str(err));
                        return KP_ERR_UNAVAILABLE;
                }
        }
        return 0;
}

/* What ks_offsets_read looks for: the cross-cluster entries of offs and their keys. */
typedef struct offsets_want {
        ks_group_t *g;
        kp_sink_offset_t *offs;
        size_t n;
        char **keys; /* per offs[i]; NULL: not an entry of the offsets topic */
} offsets_want_t;

/* One record of the offsets topic: the entry whose key it is takes its offset. */
static void offsets_record(offsets_want_t *w, const rd_kafka_message_t *rkm)
{
        json_t *v = NULL;
        int64_t off = -1;
        if (rkm->payload && (v = json_loadb(rkm->payload, rkm->len, 0, NULL)) &&
            json_is_integer(json_object_get(v, "offset")))
                off = json_integer_value(json_object_get(v, "offset"));
        json_decref(v);
        for (size_t i = 0; i < w->n; i++)
                if (w->keys[i] && rkm->key_len == strlen(w->keys[i]) &&
                    !memcmp(rkm->key, w->keys[i], rkm->key_len))
                        w->offs[i].acked = off >= 0 ? off : -1;
}

/* The offsets topic's partitions, assigned from the beginning; NULL with errstr. */
static rd_kafka_topic_partition_list_t *offsets_parts(rd_kafka_t *rk, const char *topic,
                                                      char *errstr, size_t errstr_size)
{
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_partition_list_t *l = NULL;
        rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, KP_KAFKA_METADATA_TIMEOUT_MS);
        if (err) {
                snprintf(errstr, errstr_size, "sink.offsets_topic: metadata: %s",
                         rd_kafka_err2str(err));
                return NULL;
        }
        for (int i = 0; i < md->topic_cnt && !l; i++) {
                if (strcmp(md->topics[i].topic, topic) || md->topics[i].err)
                        continue;
                l = rd_kafka_topic_partition_list_new(md->topics[i].partition_cnt);
                for (int p = 0; p < md->topics[i].partition_cnt; p++)
                        rd_kafka_topic_partition_list_add(l, topic, md->topics[i].partitions[p].id)
                                ->offset = RD_KAFKA_OFFSET_BEGINNING;
        }
        rd_kafka_metadata_destroy(md);
        if (!l)
                snprintf(errstr, errstr_size, "sink.offsets_topic: %s does not exist", topic);
        return l;
}

/*
 * Reads @p l's partitions until each reached, with read_committed, the high watermark it
 * had when first read to its end: every transaction open then (a killed kplane's, which
 * nothing will commit any more) has ended, so no later record of a key can become visible.
 * Each partition's end shows as a partition EOF (at the last stable offset).
 */
static int offsets_consume(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *l, offsets_want_t *w,
                           char *errstr, size_t errstr_size)
{
        int64_t *target = malloc(sizeof(*target) * (size_t)(l->cnt + 1));
        int left = l->cnt, ret = 0;
        int64_t deadline = kp_time_mono_ms() + KP_SINK_KAFKA_RESUME_WAIT_MS;
        if (!target)
                return KP_ERR_NOMEM;
        for (int i = 0; i < l->cnt; i++)
                target[i] = -1;
        while (left > 0 && !ret) {
                rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rk, 200);
                if (kp_time_mono_ms() > deadline) {
                        snprintf(errstr, errstr_size,
                                 "sink.offsets_topic: %s: not read to its end within %d ms (a "
                                 "transaction stays open)",
                                 w->g->offsets_topic, KP_SINK_KAFKA_RESUME_WAIT_MS);
                        ret = KP_ERR_UNAVAILABLE;
                }
                if (!rkm)
                        continue;
                int i = rkm->partition >= 0 && rkm->partition < l->cnt ? rkm->partition : -1;
                if (!rkm->err) {
                        offsets_record(w, rkm);
                } else if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF && i >= 0) {
                        int64_t lo, hi;
                        if (target[i] < 0 &&
                            !rd_kafka_get_watermark_offsets(rk, w->g->offsets_topic, rkm->partition,
                                                            &lo, &hi))
                                target[i] = hi;
                        if (target[i] >= 0 && rkm->offset >= target[i]) {
                                target[i] = INT64_MAX; /* done: a later EOF counts no more */
                                left--;
                        }
                }
                rd_kafka_message_destroy(rkm);
        }
        free(target);
        return ret;
}

/* kp_sink_cluster_use_fn of ks_offsets_read. */
static int offsets_read_use(const kp_cluster_ref_t *ref, void *arg, char *errstr,
                            size_t errstr_size)
{
        offsets_want_t *w = arg;
        char rderr[256];
        rd_kafka_conf_t *conf = kp_kafka_consumer_conf_new(ref->bootstrap, ref->config, w->g->name,
                                                           "earliest", errstr, errstr_size);
        rd_kafka_topic_partition_list_t *l = NULL;
        rd_kafka_t *rk;
        int r = KP_ERR_UNAVAILABLE;
        if (!conf)
                return KP_ERR_INVALID;
        if (rd_kafka_conf_set(conf, "enable.partition.eof", "true", rderr, sizeof(rderr)) ||
            rd_kafka_conf_set(conf, "isolation.level", "read_committed", rderr, sizeof(rderr)) ||
            !(rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, rderr, sizeof(rderr)))) {
                rd_kafka_conf_destroy(conf);
                snprintf(errstr, errstr_size, "sink.offsets_topic: %s", rderr);
                return KP_ERR_INVALID;
        }
        if ((l = offsets_parts(rk, w->g->offsets_topic, errstr, errstr_size))) {
                rd_kafka_resp_err_t err = rd_kafka_assign(rk, l);
                if (err) {
                        snprintf(errstr, errstr_size, "sink.offsets_topic: assign: %s",
                                 rd_kafka_err2str(err));
                } else {
                        r = offsets_consume(rk, l, w, errstr, errstr_size);
                }
                rd_kafka_topic_partition_list_destroy(l);
        }
        /* it never joined the group and committed nothing: no close to wait for */
        rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
        return r;
}

int ks_offsets_read(ks_group_t *g, kp_sink_offset_t *offs, size_t n, char *errstr,
                    size_t errstr_size)
{
        char key[KP_NAME_MAX * 2 + KP_SINK_KAFKA_TOPIC_MAX + 96];
        offsets_want_t w = {g, offs, n, calloc(n + 1, sizeof(char *))};
        int r = w.keys ? 0 : KP_ERR_NOMEM;
        for (size_t i = 0; i < n && !r; i++) {
                if (!strcmp(offs[i].cluster, g->cluster))
                        continue;
                if (ks_offsets_key(g->name, offs[i].cluster, offs[i].topic, offs[i].partition, key,
                                   sizeof(key)) ||
                    !(w.keys[i] = strdup(key)))
                        r = KP_ERR_NOMEM;
        }
        if (!r)
                r = ks_offsets_ensure(g, errstr, errstr_size);
        if (!r)
                r = kp_sink_cluster_with(g->cluster, offsets_read_use, &w, errstr, errstr_size);
        for (size_t i = 0; w.keys && i < n; i++)
                free(w.keys[i]);
        free(w.keys);
        return r;
}
