/* coord_records.c — the status topic: this instance's record written, everyone's read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/util.h"
#include "coord/coord_int.h"
#include "kafka/kafka.h"

/* @returns a client of @p type on the coordination cluster, named after this instance, with
 * @p props set too, or NULL with errstr. */
static rd_kafka_t *records_client(kp_coord_t *c, rd_kafka_type_t type, const char *(*props)[2],
                                  size_t n, char *errstr, size_t errstr_size)
{
        char rderr[512];
        rd_kafka_conf_t *conf =
                kp_kafka_client_conf_new(c->bootstrap, c->config, errstr, errstr_size);
        if (!conf)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                if (rd_kafka_conf_set(conf, props[i][0], props[i][1], errstr, errstr_size) !=
                    RD_KAFKA_CONF_OK) {
                        rd_kafka_conf_destroy(conf);
                        return NULL;
                }
        }
        rd_kafka_t *rk = rd_kafka_new(type, conf, rderr, sizeof(rderr));
        if (!rk) {
                rd_kafka_conf_destroy(conf); /* not taken on failure */
                snprintf(errstr, errstr_size, "coordination client: %s", rderr);
        }
        return rk;
}

int kp_coord_records_open(kp_coord_t *c, char *errstr, size_t errstr_size)
{
        const char *produce[][2] = {{"client.id", c->id}, {"acks", "all"}, {"linger.ms", "0"}};
        /* a reader of the whole topic from its beginning: it assigns, never joins nor
         * commits (librdkafka's assign still wants a group.id) */
        char group[sizeof(c->group) + 8];
        snprintf(group, sizeof(group), "%s-status", c->group);
        const char *read[][2] = {{"client.id", c->id},
                                 {"group.id", group},
                                 {"enable.partition.eof", "false"},
                                 {"enable.auto.commit", "false"}};
        c->producer = records_client(c, RD_KAFKA_PRODUCER, produce, 3, errstr, errstr_size);
        if (!c->producer)
                return KP_ERR_INVALID;
        c->reader = records_client(c, RD_KAFKA_CONSUMER, read, 4, errstr, errstr_size);
        if (!c->reader)
                return KP_ERR_INVALID;
        rd_kafka_topic_partition_list_t *parts =
                rd_kafka_topic_partition_list_new(c->status_partitions);
        for (int p = 0; p < c->status_partitions; p++)
                rd_kafka_topic_partition_list_add(parts, c->status_topic, p)->offset =
                        RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_resp_err_t err = rd_kafka_assign(c->reader, parts);
        rd_kafka_topic_partition_list_destroy(parts);
        if (err) {
                snprintf(errstr, errstr_size, "read %s: %s", c->status_topic,
                         rd_kafka_err2str(err));
                return KP_ERR_UNAVAILABLE;
        }
        return 0;
}

/* Writes this instance's record (@p value NULL: its tombstone). */
static void record_write(kp_coord_t *c, const char *value)
{
        rd_kafka_resp_err_t err =
                rd_kafka_producev(c->producer, RD_KAFKA_V_TOPIC(c->status_topic),
                                  RD_KAFKA_V_KEY(c->id, strlen(c->id)),
                                  RD_KAFKA_V_VALUE((void *)value, value ? strlen(value) : 0),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (err)
                fprintf(stderr, "kplane: coordination: status record: %s\n", rd_kafka_err2str(err));
}

/* Writes this instance's record, last seen now, with its report. */
static void record_publish(kp_coord_t *c)
{
        char now[32];
        kp_time_iso8601(now, sizeof(now));
        pthread_mutex_lock(&c->lock);
        kp_coord_status_t st = kp_coord_status_self(c, now);
        char *value = kp_coord_status_json(&st);
        __atomic_store_n(&c->report_dirty, 0, __ATOMIC_RELEASE);
        pthread_mutex_unlock(&c->lock);
        if (value)
                record_write(c, value);
        free(value);
}

/* Applies every status record that has arrived. */
static void records_drain(kp_coord_t *c)
{
        rd_kafka_message_t *rkm;
        while ((rkm = rd_kafka_consumer_poll(c->reader, 0))) {
                if (!rkm->err) {
                        pthread_mutex_lock(&c->lock);
                        kp_coord_statuses_apply(&c->statuses, rkm->key, rkm->key_len, rkm->payload,
                                                rkm->len);
                        pthread_mutex_unlock(&c->lock);
                }
                rd_kafka_message_destroy(rkm);
        }
}

void kp_coord_records_turn(kp_coord_t *c)
{
        records_drain(c);
        int64_t now = kp_time_mono_ms();
        if (now >= c->next_status_ms || __atomic_load_n(&c->report_dirty, __ATOMIC_ACQUIRE)) {
                record_publish(c);
                c->next_status_ms = now + KP_COORD_STATUS_INTERVAL_MS;
        }
        rd_kafka_poll(c->producer, 0);
}

void kp_coord_records_close(kp_coord_t *c)
{
        if (c->producer) {
                if (c->thread_started) /* it joined: it leaves a tombstone */
                        record_write(c, NULL);
                if (rd_kafka_flush(c->producer, KP_COORD_STOP_TIMEOUT_MS))
                        fprintf(stderr,
                                "kplane: coordination: the status tombstone of %s was "
                                "not delivered\n",
                                c->id);
                rd_kafka_destroy(c->producer);
                c->producer = NULL;
        }
        if (c->reader) {
                rd_kafka_consumer_close(c->reader);
                rd_kafka_destroy(c->reader);
                c->reader = NULL;
        }
}
