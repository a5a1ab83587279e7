/* kafka.h — kplane's librdkafka helpers: config checks, bounded metadata and offset reads. */
#ifndef KP_KAFKA_H
#define KP_KAFKA_H

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

/* The library scripts/rdkafka.sh builds (Makefile): Debian 12's 2.0.2 loses messages around
 * pause/resume and seek in the batch APIs. Its headers in /usr/include must not be picked. */
#if RD_KAFKA_VERSION < 0x020e0000
#error "kplane needs librdkafka >= 2.14 (scripts/rdkafka.sh), found older headers"
#endif

/*
 * Validates @p config (a JSON object of librdkafka client properties; string, number or
 * boolean values; borrowed, may be NULL): first every property against the allow-list of
 * client_conf.h (for consumers and producers, with the installed policy), before
 * librdkafka sees any; then with librdkafka itself: every property is set on a fresh
 * rd_kafka_conf_t, then the whole config is checked by building (and at once
 * destroying, unconnected) the clients kplane makes from it: the consumer of
 * kp_kafka_consumer_conf_new and the short-lived producer of metadata reads. @returns 0,
 * or KP_ERR_INVALID with errstr naming the first bad property and librdkafka's reason
 * ("config.foo.bar: No such configuration property"), or, for a combination that
 * rd_kafka_new refuses, "config: " and its reason ("config: `fetch.max.bytes` must be
 * >= `message.max.bytes`"). bootstrap.servers / group.id / enable.auto.* are kplane's
 * to set and are refused here. Costs about 2 ms (two client starts).
 */
int kp_kafka_config_validate(const json_t *config, char *errstr, size_t errstr_size);

/*
 * The builders below pass @p config through the same allow-list first (a config stored
 * before a property was refused is refused when used), and give librdkafka the resolved
 * values: file paths as realpath, `${env:KPLANE_SECRET_*}` references as the variable's
 * value, read now.
 *
 * Builds a client configuration: @p bootstrap, then @p config's properties, then
 * kplane's defaults for a short-lived admin/metadata client. @returns a new conf
 * (hand it to rd_kafka_new, which takes ownership) or NULL with errstr set.
 */
rd_kafka_conf_t *kp_kafka_conf_new(const char *bootstrap, const json_t *config, char *errstr,
                                   size_t errstr_size);

/*
 * Builds a plain client configuration for long-lived clients (consumers, producers):
 * @p bootstrap (may be NULL), then @p config's properties (validated as above), with
 * kp_kafka_log_cb as the logger and nothing else of kplane's. The caller adds group.id
 * etc. @returns a new conf (rd_kafka_new takes ownership) or NULL with errstr set.
 */
rd_kafka_conf_t *kp_kafka_client_conf_new(const char *bootstrap, const json_t *config, char *errstr,
                                          size_t errstr_size);

/*
 * Builds the configuration of kplane's consumers of group @p group_id (borrowed; the
 * runtime's, and the status reader's): @p bootstrap (may be NULL), kplane's
 * queued.max.messages.kbytes (KP_RUNTIME_QUEUED_MAX_KBYTES, which @p config may
 * override), @p config's properties (validated as above), then kplane's own, last so a
 * config cannot undo them: group.id @p group_id, enable.auto.commit,
 * enable.auto.offset.store and enable.partition.eof false, auto.offset.reset
 * @p offset_reset ("earliest" when NULL), client.id "kplane-<group_id>".
 * @returns a new conf (rd_kafka_new takes ownership) or NULL with errstr set.
 */
rd_kafka_conf_t *kp_kafka_consumer_conf_new(const char *bootstrap, const json_t *config,
                                            const char *group_id, const char *offset_reset,
                                            char *errstr, size_t errstr_size);

/*
 * kplane's librdkafka log callback (rd_kafka_conf_set_log_cb): lines at or below
 * KP_KAFKA_LOG_LEVEL go to stderr, except connection failures ("FAIL", "ERROR",
 * "BROKERFAIL", "CONFWARN"), which repeat at every retry and reach callers as errors.
 * Called from librdkafka's threads; writes only to stderr.
 */
void kp_kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf);

typedef struct kp_kafka_broker {
        int32_t id;
        char *host;
        int port;
} kp_kafka_broker_t;

typedef struct kp_kafka_topic {
        char *name;
        int32_t partitions;
        int error; /* rd_kafka_resp_err_t of the topic, 0 when fine */
} kp_kafka_topic_t;

typedef struct kp_kafka_metadata {
        kp_kafka_broker_t *brokers; /* sorted by id */
        size_t broker_cnt;
        kp_kafka_topic_t *topics; /* sorted by name; internal topics (__*) left out */
        size_t topic_cnt;
} kp_kafka_metadata_t;

/*
 * Reads the cluster's metadata now, waiting at most @p timeout_ms in total (connect
 * included; <= 0 means KP_KAFKA_METADATA_TIMEOUT_MS). @p topic NULL reads all topics;
 * otherwise only that one (a topic absent on the cluster comes back with error
 * RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART and 0 partitions; it is never auto-created:
 * the request always asks for all topics and filters, because a producer naming a topic
 * asks for its creation, which the mock cluster and many brokers grant).
 * Internal topics (__*) never appear, even when asked for by name. Costs one
 * short-lived producer (a few threads) and one metadata round trip; measured: an
 * unreachable or black-holed address returns within timeout_ms + a few ms.
 * @returns 0 with *mdp set (free with kp_kafka_metadata_destroy), KP_ERR_UNAVAILABLE
 * when the cluster did not answer in time, KP_ERR_INVALID for a bad config.
 */
int kp_kafka_metadata_fetch(const char *bootstrap, const json_t *config, const char *topic,
                            int timeout_ms, kp_kafka_metadata_t **mdp, char *errstr,
                            size_t errstr_size);
/*
 * Reads the log end offset (high watermark) of every partition in @p parts (borrowed;
 * each element's offset is overwritten with it, or with a negative value and its err
 * set when that partition could not be read), in one ListOffsets round per leader,
 * waiting at most @p timeout_ms. @returns 0, KP_ERR_UNAVAILABLE, KP_ERR_INVALID.
 */
int kp_kafka_end_offsets(const char *bootstrap, const json_t *config,
                         rd_kafka_topic_partition_list_t *parts, int timeout_ms, char *errstr,
                         size_t errstr_size);

/* One partition's offsets for a consumer group, as kp_kafka_group_offsets reads them. */
typedef struct kp_kafka_group_offset {
        const char *topic;      /* in: borrowed from the caller */
        int32_t partition;      /* in */
        int64_t committed;      /* out: the group's committed offset; -1 when none (or not read) */
        int64_t high_watermark; /* out: the log end offset; -1 when not read */
        int err;                /* out: rd_kafka_resp_err_t of this partition, 0 when read */
} kp_kafka_group_offset_t;

/*
 * Reads what kafka-consumer-groups --describe shows of group @p group_id on one cluster:
 * for each of the @p cnt entries of @p offs (caller-owned; topic and partition in,
 * the rest written), the group's committed offset (OffsetFetch) and the high watermark
 * (ListOffsets at the log end). It never joins the group: a consumer with the group's
 * configuration (kp_kafka_consumer_conf_new) that only asks, then is destroyed without
 * a close. Waits at most @p timeout_ms in all (<= 0: KP_KAFKA_METADATA_TIMEOUT_MS):
 * one short-lived consumer, one coordinator lookup, one OffsetFetch, one ListOffsets
 * per leader. A committed offset of -1 with err 0 means the group committed nothing
 * there. @returns 0 (per-partition errors in err), KP_ERR_UNAVAILABLE with errstr when
 * the cluster did not answer in time (entries not read get err; committed offsets
 * already read are kept when only the high watermarks failed), KP_ERR_INVALID for a
 * bad config or address.
 */
int kp_kafka_group_offsets(const char *bootstrap, const json_t *config, const char *group_id,
                           kp_kafka_group_offset_t *offs, size_t cnt, int timeout_ms, char *errstr,
                           size_t errstr_size);

/* NULL does nothing. */
void kp_kafka_metadata_destroy(kp_kafka_metadata_t *md);

/* @returns the partition count of @p name in @p md, or -1 when absent/errored. */
int32_t kp_kafka_metadata_partitions(const kp_kafka_metadata_t *md, const char *name);

#endif /* KP_KAFKA_H */
