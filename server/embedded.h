/* embedded.h — in-process Kafka clusters (librdkafka's mock cluster) for demos and tests. */
#ifndef KP_EMBEDDED_H
#define KP_EMBEDDED_H

#include <jansson.h>
#include <stddef.h>

/*
 * A registry of named mock clusters living in this process. Each is a real
 * Kafka-protocol server on 127.0.0.1 (random ports), reachable by any Kafka client. Its
 * data is in memory only. Thread-safe: one mutex guards the registry.
 */
typedef struct kp_embedded kp_embedded_t;

/* @returns a new, empty registry, or NULL. Destroy with kp_embedded_destroy(). */
kp_embedded_t *kp_embedded_new(void);
/* Stops and frees every cluster. NULL does nothing. */
void kp_embedded_destroy(kp_embedded_t *emb);

/*
 * Starts cluster @p name with @p brokers brokers (1..KP_EMBEDDED_BROKERS_MAX) and the
 * topics of @p topics (array of {"name": str, "partitions": int}, borrowed).
 * A cluster of that name already running is stopped and replaced.
 * @returns 0 with *bootstrapp = its bootstrap.servers (malloc'd, caller frees; may be
 * NULL to not ask), or KP_ERR_INVALID / KP_ERR_INTERNAL with errstr set.
 */
int kp_embedded_start(kp_embedded_t *emb, const char *name, int brokers,
                      const json_t *topics, char **bootstrapp, char *errstr,
                      size_t errstr_size);
/* Creates a topic on a running cluster. KP_ERR_NOT_FOUND, KP_ERR_EXISTS, KP_ERR_INVALID. */
int kp_embedded_topic_create(kp_embedded_t *emb, const char *name, const char *topic,
                             int partitions, char *errstr, size_t errstr_size);
/* Stops cluster @p name. KP_ERR_NOT_FOUND when it is not running. */
int kp_embedded_stop(kp_embedded_t *emb, const char *name);
/* @returns a malloc'd copy of the cluster's bootstrap.servers, or NULL when absent. */
char *kp_embedded_bootstrap(kp_embedded_t *emb, const char *name);
/* Takes broker @p broker_id (1-based) down (@p up 0) or up again (1): for fault tests. */
int kp_embedded_broker_set_up(kp_embedded_t *emb, const char *name, int broker_id, int up,
                              char *errstr, size_t errstr_size);

/*
 * `kplane mock` : runs one standalone cluster in the foreground until SIGINT/SIGTERM,
 * printing its bootstrap address as the first line of stdout. argv as after "mock":
 * --brokers N --topic NAME:PARTITIONS ... @returns the process exit code.
 */
int kp_embedded_mock_main(int argc, char **argv);

#endif /* KP_EMBEDDED_H */
