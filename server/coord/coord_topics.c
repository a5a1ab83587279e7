/* coord_topics.c — the service's topics on the coordination cluster, created when absent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "base/util.h"
#include "coord/coord_int.h"
#include "kafka/kafka.h"

/* Fills @p out with creation requests for the service's topics absent from @p md.
 * @returns how many. */
static size_t topics_missing(const kp_coord_t *c, const kp_kafka_metadata_t *md,
                             rd_kafka_NewTopic_t **out)
{
        char err[256];
        size_t n = 0;
        if (kp_kafka_metadata_partitions(md, c->work_topic) < 0)
                out[n++] = rd_kafka_NewTopic_new(c->work_topic, KP_COORD_WORK_PARTITIONS, -1, err,
                                                 sizeof(err));
        if (kp_kafka_metadata_partitions(md, c->status_topic) < 0) {
                /* compacted: each instance's latest record stays, a tombstone removes it */
                out[n] = rd_kafka_NewTopic_new(c->status_topic, 1, -1, err, sizeof(err));
                rd_kafka_NewTopic_set_config(out[n++], "cleanup.policy", "compact");
        }
        if (kp_kafka_metadata_partitions(md, c->state_topic) < 0) {
                /* compacted: each row's latest state stays, a tombstone removes it; one
                 * partition: one order of every write (coord_state.c) */
                char maxb[32];
                snprintf(maxb, sizeof(maxb), "%d", KP_COORD_STATE_RECORD_MAX);
                out[n] = rd_kafka_NewTopic_new(c->state_topic, 1, -1, err, sizeof(err));
                rd_kafka_NewTopic_set_config(out[n], "cleanup.policy", "compact");
                rd_kafka_NewTopic_set_config(out[n++], "max.message.bytes", maxb);
        }
        return n;
}

rd_kafka_t *kp_coord_admin_new(kp_coord_t *c, char *errstr, size_t errstr_size)
{
        char rderr[512];
        rd_kafka_conf_t *conf = kp_kafka_conf_new(c->bootstrap, c->config, errstr, errstr_size);
        rd_kafka_t *rk = conf ? rd_kafka_new(RD_KAFKA_PRODUCER, conf, rderr, sizeof(rderr)) : NULL;
        if (!rk && conf) {
                rd_kafka_conf_destroy(conf); /* not taken on failure */
                snprintf(errstr, errstr_size, "%s", rderr);
        }
        return rk;
}

/* Creates @p topics (n) with an admin client, waiting up to @p timeout_ms; a topic another
 * instance created meanwhile is fine. @returns 0 or KP_ERR_UNAVAILABLE with errstr. */
static int topics_create(kp_coord_t *c, rd_kafka_NewTopic_t **topics, size_t n, int timeout_ms,
                         char *errstr, size_t errstr_size)
{
        char rderr[512];
        int err = KP_ERR_UNAVAILABLE;
        rd_kafka_t *rk = kp_coord_admin_new(c, errstr, errstr_size);
        if (!rk)
                return KP_ERR_INVALID;
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_AdminOptions_t *opts =
                rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, rderr, sizeof(rderr));
        rd_kafka_CreateTopics(rk, topics, n, opts, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 1000);
        const rd_kafka_CreateTopics_result_t *res =
                ev ? rd_kafka_event_CreateTopics_result(ev) : NULL;
        size_t cnt = 0;
        const rd_kafka_topic_result_t **rs =
                res ? rd_kafka_CreateTopics_result_topics(res, &cnt) : NULL;
        if (!ev)
                snprintf(errstr, errstr_size, "creating the service's topics timed out");
        else if (rd_kafka_event_error(ev))
                snprintf(errstr, errstr_size, "creating the service's topics: %s",
                         rd_kafka_event_error_string(ev));
        else
                err = 0;
        for (size_t i = 0; !err && i < cnt; i++) {
                rd_kafka_resp_err_t e = rd_kafka_topic_result_error(rs[i]);
                if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                        snprintf(errstr, errstr_size, "creating topic %s: %s",
                                 rd_kafka_topic_result_name(rs[i]),
                                 rd_kafka_topic_result_error_string(rs[i]));
                        err = KP_ERR_UNAVAILABLE;
                }
        }
        if (ev)
                rd_kafka_event_destroy(ev);
        rd_kafka_AdminOptions_destroy(opts);
        rd_kafka_queue_destroy(q);
        rd_kafka_destroy(rk);
        return err;
}

int kp_coord_topics_ensure(kp_coord_t *c, char *errstr, size_t errstr_size)
{
        int64_t deadline = kp_time_mono_ms() + KP_COORD_START_TIMEOUT_MS;
        rd_kafka_NewTopic_t *missing[3];
        int err;
        for (;;) {
                kp_kafka_metadata_t *md = NULL;
                int left = (int)(deadline - kp_time_mono_ms());
                err = kp_kafka_metadata_fetch(c->bootstrap, c->config, NULL, left > 1 ? left : 1,
                                              &md, errstr, errstr_size);
                if (err) /* unreachable within the start-up timeout, or a bad config */
                        return err;
                size_t n = topics_missing(c, md, missing);
                c->status_partitions = kp_kafka_metadata_partitions(md, c->status_topic);
                c->broker_id = md->broker_cnt ? md->brokers[0].id : -1;
                kp_kafka_metadata_destroy(md);
                if (!n)
                        return 0;
                left = (int)(deadline - kp_time_mono_ms());
                err = left > 0 ? topics_create(c, missing, n, left, errstr, errstr_size) : 0;
                rd_kafka_NewTopic_destroy_array(missing, n);
                if (err)
                        return err;
                if (kp_time_mono_ms() >= deadline) {
                        snprintf(errstr, errstr_size, "the topics %s, %s and %s did not appear",
                                 c->work_topic, c->status_topic, c->state_topic);
                        return KP_ERR_UNAVAILABLE;
                }
                /* read again once metadata shows the created topics and their partitions */
                usleep(100 * 1000);
        }
}
