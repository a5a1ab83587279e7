/* config.h — every limit and default of kplane, named and explained in one place. */
#ifndef KP_CONFIG_H
#define KP_CONFIG_H

#define KP_VERSION "0.1.0"

/* HTTP */
#define KP_DEFAULT_LISTEN "127.0.0.1:8080"
#define KP_DEFAULT_DB "./kplane.db"
/* Request bodies above this are refused by Content-Length (413) before a byte is
 * read; chunked bodies are cut off at the same size. */
#define KP_HTTP_MAX_BODY (1024 * 1024)
/* An idle or slow client is dropped after this many seconds. */
#define KP_HTTP_CONNECTION_TIMEOUT_S 30
/* Concurrent connections; beyond this MHD refuses new ones. */
#define KP_HTTP_CONNECTION_LIMIT 1024
/* Per-connection memory MHD may use for headers and buffers. */
#define KP_HTTP_CONNECTION_MEMORY_LIMIT (128 * 1024)
/* Worker threads answering requests (each with its own SQLite connection). */
#define KP_HTTP_THREADS 4
/* Longest request URL we route. */
#define KP_HTTP_MAX_URL 2048

/* Names */
#define KP_NAME_MAX 64          /* cluster and group names */
#define KP_TOPIC_NAME_MAX 249   /* Kafka's own limit */
#define KP_PATTERN_MAX 1024     /* topic pattern regex */

/* Planner */
#define KP_PARALLELISM_MAX 100000       /* tasks in one plan */
#define KP_PARTITIONS_PER_TOPIC_MAX 1000000
#define KP_PLAN_PARTITIONS_MAX 10000000 /* partitions in one plan, all topics */
#define KP_SWEEP_STEPS_MAX 4096         /* parallelism values in one sweep */
#define KP_FLINK_EVEN_SEARCH 4096       /* how far the Flink advice looks for an even T */

/* Kafka */
/* Metadata requests give up after this: an unreachable cluster is a 503 within it. */
#define KP_KAFKA_METADATA_TIMEOUT_MS 3000
#define KP_DISCOVERY_INTERVAL_S 60
#define KP_EMBEDDED_BROKERS_MAX 16

#endif /* KP_CONFIG_H */
