/* sink_kafka.h — the Kafka sink's public helpers: target topic names from its template. */
#ifndef KP_SINK_KAFKA_H
#define KP_SINK_KAFKA_H

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

#endif /* KP_SINK_KAFKA_H */
