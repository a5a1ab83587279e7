/* sink_kafka.h — the Kafka sink's public helpers: target topic names from its template. */
#ifndef KP_SINK_KAFKA_H
#define KP_SINK_KAFKA_H

#include <jansson.h>
#include <stddef.h>

/*
 * Writes the target topic of source @p cluster / @p topic into @p out: template @p tmpl
 * with "{cluster}" and "{topic}" replaced (the sink document's "topic"). O(length).
 * @returns 0, or KP_ERR_INVALID when the result is not a Kafka topic name (empty, over
 * KP_SINK_KAFKA_TOPIC_MAX, a character outside [A-Za-z0-9._-], "." or "..") or does not
 * fit @p size.
 */
int kp_sink_kafka_topic(const char *tmpl, const char *cluster, const char *topic, char *out,
                        size_t size);

/* @returns 1 when kafka sink document @p conf says "delivery": "exactly_once", else 0 (any
 * other document too). */
int kp_sink_kafka_exactly_once(const json_t *conf);

/*
 * Writes into @p out the transactional.id of task @p task of group @p group in service
 * @p service: "<service>:<group>.<task>". The service first, so two services on one
 * cluster never fence each other's producers; ':' is not in a name (KP_NAME_RULE) while
 * '.' is, so no two (service, group, task) share an id. @returns 0 or KP_ERR_INVALID (does
 * not fit @p size).
 */
int kp_sink_kafka_txn_id(const char *service, const char *group, int task, char *out, size_t size);

#endif /* KP_SINK_KAFKA_H */
