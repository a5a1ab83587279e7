/* embedded.h — in-process Kafka clusters (librdkafka's mock cluster) for demos and tests. */
#ifndef KP_EMBEDDED_H
#define KP_EMBEDDED_H

#include <jansson.h>
#include <stddef.h>

/*
 * A registry of named mock clusters living in this process. Each is a real
 * Kafka-protocol server on 127.0.0.1 (random ports), reachable by any Kafka client. Its
 * data is in memory only. Thread-safe: one mutex guards the registry.
 *
 * What the mock of the librdkafka we build (2.14, scripts/rdkafka.sh) does and does not
 * do (measured, see test_embedded.c): produce, fetch, list offsets, metadata, consumer
 * groups (join/sync/heartbeat, and KIP-848's ConsumerGroupHeartbeat), transactions,
 * offset commit/fetch all work; committed offsets and data survive client reconnects;
 * PLAINTEXT only. It answers Metadata up to v12 and honours AllowAutoTopicCreation, so a
 * consumer naming an unknown topic no longer creates it (2.0.2's mock, Metadata v2 only,
 * did), but a producer does (allow.auto.create.topics defaults to true there): its topic
 * handle or a metadata request naming the topic creates it with 4 partitions;
 * kp_kafka_metadata_fetch() avoids that by always asking for all topics. No
 * CreateTopics/CreatePartitions/DeleteTopics over the protocol (admin requests go
 * unanswered; topics come only from kp_embedded_start / kp_embedded_topic_create);
 * partitions never change count; no leader fail-over: partitions led by a broker that
 * is down stay unavailable until it is up again. Stopping a cluster is immediate (2.0.2's
 * took about 1 s when no client was connected).
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
 * The cluster may hold KP_EMBEDDED_CLUSTER_PARTITIONS_MAX partitions, all embedded
 * clusters of the process KP_EMBEDDED_PROCESS_PARTITIONS_MAX (the one replaced counted
 * as gone); checked before anything starts.
 * @returns 0 with *bootstrapp = its bootstrap.servers (malloc'd, caller frees; may be
 * NULL to not ask), or KP_ERR_INVALID / KP_ERR_UNPROCESSABLE (over a partition limit) /
 * KP_ERR_INTERNAL with errstr set.
 */
int kp_embedded_start(kp_embedded_t *emb, const char *name, int brokers, const json_t *topics,
                      char **bootstrapp, char *errstr, size_t errstr_size);
/* Creates a topic on a running cluster (within the partition limits of kp_embedded_start).
 * KP_ERR_NOT_FOUND, KP_ERR_EXISTS, KP_ERR_INVALID, KP_ERR_UNPROCESSABLE. */
int kp_embedded_topic_create(kp_embedded_t *emb, const char *name, const char *topic,
                             int partitions, char *errstr, size_t errstr_size);
/* Stops cluster @p name. KP_ERR_NOT_FOUND when it is not running. */
int kp_embedded_stop(kp_embedded_t *emb, const char *name);
/* @returns a malloc'd copy of the cluster's bootstrap.servers, or NULL when absent. */
char *kp_embedded_bootstrap(kp_embedded_t *emb, const char *name);
/* Takes broker @p broker_id (1-based) down (@p up 0) or up again (1): for fault tests. */
int kp_embedded_broker_set_up(kp_embedded_t *emb, const char *name, int broker_id, int up,
                              char *errstr, size_t errstr_size);
/* Delays every answer of broker @p broker_id by @p rtt_ms (0: none again): a slow broker, for
 * the demo's slow phases. KP_ERR_NOT_FOUND as kp_embedded_broker_set_up. */
int kp_embedded_broker_set_rtt(kp_embedded_t *emb, const char *name, int broker_id, int rtt_ms,
                               char *errstr, size_t errstr_size);

/*
 * `kplane mock` : runs one standalone cluster in the foreground until SIGINT/SIGTERM,
 * printing its bootstrap address as the first line of stdout. argv as after "mock":
 * --brokers N --topic NAME:PARTITIONS ... (--help prints the usage).
 * Control for tests that run it as a separate process: one command per line on stdin,
 * each answered by one line on stdout, "ok <command>" or "error <command>: <why>":
 *   down ID | up ID            take broker ID (1..N) down / up again
 *   topic NAME:PARTITIONS      create a topic
 *   stop                       stop and exit 0, like SIGTERM
 * EOF on stdin is ignored (the cluster keeps running until a signal).
 * Installs SIGINT/SIGTERM handlers and ignores SIGPIPE: call it only as a process main.
 * @returns the process exit code: 0 after a clean stop, 2 for usage errors, 1 when the
 * cluster could not start.
 */
int kp_embedded_mock_main(int argc, char **argv);

#endif /* KP_EMBEDDED_H */
