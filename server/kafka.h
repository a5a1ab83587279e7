/* kafka.h — kplane's librdkafka helpers: client config validation and bounded metadata reads. */
#ifndef KP_KAFKA_H
#define KP_KAFKA_H

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Validates @p config (a JSON object of librdkafka client properties; string, number or
 * boolean values; borrowed, may be NULL) with librdkafka itself: every property is set
 * on a fresh rd_kafka_conf_t. @returns 0, or KP_ERR_INVALID with errstr naming the
 * first bad property and librdkafka's reason ("config.foo.bar: No such configuration
 * property"). bootstrap.servers / group.id / enable.auto.* are kplane's to set and are
 * refused here.
 */
int kp_kafka_config_validate(const json_t *config, char *errstr, size_t errstr_size);

/*
 * Builds a client configuration: @p bootstrap, then @p config's properties, then
 * kplane's defaults for a short-lived admin/metadata client. @returns a new conf
 * (hand it to rd_kafka_new, which takes ownership) or NULL with errstr set.
 */
rd_kafka_conf_t *kp_kafka_conf_new(const char *bootstrap, const json_t *config,
                                   char *errstr, size_t errstr_size);

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
        kp_kafka_topic_t *topics;   /* sorted by name; internal topics (__*) left out */
        size_t topic_cnt;
} kp_kafka_metadata_t;

/*
 * Reads the cluster's metadata now, waiting at most @p timeout_ms in total (connect
 * included). @p topic NULL reads all topics; otherwise only that one (a topic absent
 * on the cluster comes back with error RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART and
 * 0 partitions; it is never auto-created).
 * @returns 0 with *mdp set (free with kp_kafka_metadata_destroy), KP_ERR_UNAVAILABLE
 * when the cluster did not answer in time, KP_ERR_INVALID for a bad config.
 */
int kp_kafka_metadata_fetch(const char *bootstrap, const json_t *config, const char *topic,
                            int timeout_ms, kp_kafka_metadata_t **mdp, char *errstr,
                            size_t errstr_size);
/* NULL does nothing. */
void kp_kafka_metadata_destroy(kp_kafka_metadata_t *md);

/* @returns the partition count of @p name in @p md, or -1 when absent/errored. */
int32_t kp_kafka_metadata_partitions(const kp_kafka_metadata_t *md, const char *name);

#endif /* KP_KAFKA_H */
