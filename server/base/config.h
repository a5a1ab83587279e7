/* config.h — every limit and default of kplane, named and explained in one place: a section
 * per room, in the order of their ranks (docs/ARCHITECTURE.md, "Modules"). A limit is
 * defined here once; code, messages and tests use the name, never its value. */
#ifndef KP_CONFIG_H
#define KP_CONFIG_H

#define KP_VERSION "0.1.0"

/* Quotes a limit in a fixed string (a message, a librdkafka property): KP_STR(KP_X) is
 * the text of its value, so the string follows the limit. */
#define KP_STR_(x) #x
#define KP_STR(x)  KP_STR_(x)

/* ---- base: names (server/base/util.c) ---- */
/* Cluster and group names: they appear in URLs, file names and Kafka client ids.
 * KP_NAME_RULE says the same in the words of an error message (63 = KP_NAME_MAX - 1;
 * tests/unit/test_util.c checks they agree). */
#define KP_NAME_MAX  64
#define KP_NAME_RULE "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
/* Kafka's own limit on a topic name, and its rule as a message says it. */
#define KP_TOPIC_NAME_MAX  249
#define KP_TOPIC_NAME_RULE "^[A-Za-z0-9._-]{1,249}$"

/* kp_buf_t (server/base/util.c): a buffer this large or larger asks the kernel for
 * transparent huge pages (madvise), one page fault per 2 MiB instead of per 4 KiB. 4 MiB:
 * glibc mmaps blocks of this size afresh, and below it the faults are too few to show. */
#define KP_BUF_HUGE_MIN ((size_t)4 << 20)
/* ... and one freed block of KP_BUF_HUGE_MIN up to this size is kept for the next large
 * buffer (kp_buf_free): glibc hands such a block back to the kernel, and the next answer of
 * that size paid a page fault and the kernel's zeroing per page again (a 1M-partition
 * what-if answer, 57 MB: 31 ms against 19 ms in kept memory). The process holds at most
 * this much for it: a buffer of 64 MiB (buffers double) with the allocator's own bytes. */
#define KP_BUF_KEEP_MAX ((size_t)65 << 20)

/* What an answer shows in place of a secret (a cluster's SASL password, an HTTP sink's
 * header); a replace that sends it back keeps the stored value. */
#define KP_SECRET_MASK "******"

/* ---- base: topic patterns (server/base/pattern.c) ---- */
#define KP_PATTERN_MAX 1024 /* topic pattern regex */
/* A topic pattern compiles to at most this many NFA states (server/base/pattern.c) and a
 * match costs O(topic length x states), at most ~4 VM steps a state a character: a
 * 249-character topic against a 2,040-state program with every state live,
 * ((.*){1,255}(.*){1,255}x), took 890k steps, 18-28 ms on the shared 2-core box under
 * load (4,096 states doubled it); ^orders\..* is 10 states and microseconds. A
 * 1,024-character pattern without counted repetition needs at most 2,048 (a stacked
 * star costs two a character); {m,n} copies its operand, so (a{1,100}){1,100} is
 * refused here before anything is expanded (glibc took 10 s to compile
 * (a*){1,100}{1,100}). */
#define KP_PATTERN_STATES_MAX 2048
/* Largest count in {m,n}: POSIX's _POSIX_RE_DUP_MAX. A topic name has at most 249
 * characters, so a higher count of anything non-empty matches nothing anyway. */
#define KP_PATTERN_REPEAT_MAX 255

/* ---- base: the circuit breaker (server/base/breaker.c) ---- */
/* Keys one breaker remembers (the least recently used healthy or expired one is reused):
 * a key is a cluster's bootstrap address, and 64 is more clusters than one kplane holds.
 * A failure's reason is kept up to KP_BREAKER_WHY_MAX bytes (a librdkafka error line). */
#define KP_BREAKER_KEYS    64
#define KP_BREAKER_WHY_MAX 256

/* ---- http: the front door (server/http/http.c, http_admit.c, http_conns.c) ---- */
#define KP_DEFAULT_LISTEN "127.0.0.1:8080"
/* Request bodies above this are refused by Content-Length (413) before a byte is
 * read; chunked bodies are cut off at the same size. The 413's detail names it in MiB. */
#define KP_HTTP_MAX_BODY_MIB 1
#define KP_HTTP_MAX_BODY     (KP_HTTP_MAX_BODY_MIB * 1024 * 1024)
/* An idle or slow client is dropped after this many seconds. */
#define KP_HTTP_CONNECTION_TIMEOUT_S 30
/* Concurrent connections; beyond this MHD refuses new ones. */
#define KP_HTTP_CONNECTION_LIMIT 1024
/* Per-connection memory MHD may use for headers and buffers (headers past about
 * 16 KiB get MHD's own 431; nginx's default stops a header line at 8 KiB). MHD 0.9.75
 * zeroes the whole pool between keep-alive requests: at 128 KiB that memset was 15% of
 * the server's CPU under wrk, at 32 KiB still 12% of a GET's (perf), at 16 KiB 4% (the
 * 64 connections' pools then stay in cache). */
#define KP_HTTP_CONNECTION_MEMORY_LIMIT (16 * 1024)
/* Worker threads answering requests: by default one per online CPU, at least
 * KP_HTTP_THREADS_MIN (a handler waiting on a slow cluster must not stall the rest) and
 * at most KP_HTTP_THREADS (more threads than cores only lengthen the latency tail under
 * load, docs/BENCHMARKS.md). KPLANE_HTTP_THREADS sets it, up to KP_HTTP_THREADS_MAX. */
#define KP_HTTP_THREADS_MIN 2
#define KP_HTTP_THREADS     8
#define KP_HTTP_THREADS_MAX 64
/* The accept thread (server/http/http_listen.c) moves a connection's descriptor to a
 * number naming the worker it chose; a number already taken costs one more try, and
 * after this many the connection stays where it is (only the balance suffers). */
#define KP_HTTP_ACCEPT_DUP_TRIES 4
/* accept() out of descriptors or memory: the accept thread waits this long before it
 * tries again, the connections meanwhile in the listen backlog. */
#define KP_HTTP_ACCEPT_RETRY_MS 10
/* Longest request URL we route. */
#define KP_HTTP_MAX_URL 2048
/* Longest Location header a handler may set (kp_http_resp_t.location): a route of names
 * of at most KP_NAME_MAX bytes and a plan version, far below it. */
#define KP_HTTP_LOCATION_MAX 512
/* A request's headers and body must arrive within this many seconds of its connection
 * opening or of the previous response on it completing (server/http/http_conns.c; the clock
 * stops while a handler runs and while the answer is sent). The inactivity timeout above
 * is reset by every byte: 1,100 connections dripping a byte every 2 s held every slot.
 * 10 s lets a full KP_HTTP_MAX_BODY through at 100 KiB/s; an idle keep-alive connection
 * is closed after as long. */
#define KP_HTTP_REQUEST_DEADLINE_S 10
/* How often the reaper looks for connections past their deadline. */
#define KP_HTTP_REAP_INTERVAL_MS 250
/* Connections one client address may hold: an eighth of KP_HTTP_CONNECTION_LIMIT, so one
 * client cannot take the slots of the others (twice the 64 connections of the wrk
 * benchmarks). Behind a reverse proxy every client has the proxy's address: the proxy
 * must then limit per client itself. */
#define KP_HTTP_PER_IP_CONNECTION_LIMIT (KP_HTTP_CONNECTION_LIMIT / 8)
/* File descriptors: at start-up the soft limit is raised to the hard one (at most
 * KP_HTTP_NOFILE_MAX when unlimited); below KP_HTTP_NOFILE_MIN kplane warns, since the
 * connections, the database and the Kafka clients would not all fit. */
#define KP_HTTP_NOFILE_MAX 65536
#define KP_HTTP_NOFILE_MIN (KP_HTTP_CONNECTION_LIMIT + 256)

/* ---- http: worker pools (server/http/http_pool.c) ---- */
/* A handler that asks (resp->offload) runs there, its connection suspended, so no MHD
 * thread (and no GET behind it) waits for it.
 * CPU pool, heavy planning: by default one thread per online CPU but one, so a core stays
 * for the MHD threads, and at most KP_HTTP_CPU_THREADS_MAX (a what-if at the limits peaks
 * at 95 MB: four at once stay under 400 MB); KPLANE_HTTP_CPU_THREADS sets it (0: no pool,
 * heavy planning on the MHD threads as before). Its threads run KP_HTTP_CPU_NICE below
 * the process (nice 10 weighs ~1/10 of nice 0 in Linux's scheduler), so a GET wins a
 * contended core. A request finding KP_HTTP_CPU_QUEUE waiting (KPLANE_HTTP_CPU_QUEUE) is a
 * 503: at ~1.5 s for the dearest sweep admitted, the last of 8 behind one thread still
 * answers within 15 s, and waiting bodies hold at most 8 x KP_HTTP_MAX_BODY. */
#define KP_HTTP_CPU_THREADS_MAX 4
#define KP_HTTP_CPU_NICE        10
#define KP_HTTP_CPU_QUEUE       8
#define KP_HTTP_CPU_QUEUE_MAX   1024
/* I/O pool, handlers that wait on a cluster (metadata, discovery, committed offsets), a
 * rate sample's sleep or a group's stop: threads that mostly sleep cost a stack each, so
 * 16 of them; an unreachable cluster holds one for KP_KAFKA_METADATA_TIMEOUT_MS, so ~5
 * such reads a second are served, and beyond KP_HTTP_IO_QUEUE waiting it is a 503. */
#define KP_HTTP_IO_THREADS 16
#define KP_HTTP_IO_QUEUE   64
/* Retry-After (seconds) of a pool's 503: about one dear job's time. */
#define KP_HTTP_POOL_RETRY_AFTER_S "2"

/* ---- http: the API token (server/http/token.c) ---- */
/* Listening beyond loopback with no KPLANE_API_TOKEN, kplane generates a token of this
 * many random bytes (getrandom) and keeps it, hex, in this file of the database's
 * directory (0600): a public address is never open by accident. An operator may write a
 * token of their own there, of at most KP_TOKEN_FILE_MAX bytes (a longer file is refused
 * at start-up, never cut). */
#define KP_TOKEN_FILE     "api-token"
#define KP_TOKEN_BYTES    32
#define KP_TOKEN_FILE_MAX 4096

/* ---- kafka: clients (server/kafka/kafka.c) ---- */
/* Metadata requests give up after this: an unreachable cluster is a 503 within it. */
#define KP_KAFKA_METADATA_TIMEOUT_MS 3000
/* librdkafka log lines above this syslog level (4 = LOG_WARNING) are dropped;
 * connection failures are dropped too (the caller gets them as errors). */
#define KP_KAFKA_LOG_LEVEL 4
/* Properties in one cluster `config` object, and the longest value of one. */
#define KP_KAFKA_CONFIG_PROPS_MAX 256
#define KP_KAFKA_CONFIG_VALUE_MAX 8192
/* A short-lived client's socket timeout is its whole timeout, within librdkafka's bounds
 * (socket.timeout.ms >= 10, api.version.request.timeout.ms <= 300 s), and its connection
 * setup timeout at least librdkafka's floor of 1 s. */
#define KP_KAFKA_SOCKET_TIMEOUT_MIN_MS 10
#define KP_KAFKA_SOCKET_TIMEOUT_MAX_MS 300000
#define KP_KAFKA_SETUP_TIMEOUT_MIN_MS  1000
/* A short-lived client retries a refused connection after 50 ms, backing off to 500 ms,
 * so a broker that comes up within the timeout is still seen. */
#define KP_KAFKA_RECONNECT_BACKOFF_MS     50
#define KP_KAFKA_RECONNECT_BACKOFF_MAX_MS 500
/* A long-lived client (consumer lanes, kafka sinks' producers) refreshes the metadata of its
 * topics this often, not librdkafka's 5 min: librdkafka 2.14 drops a leader update that names
 * a broker it does not know yet (a Fetch/Produce answer's new leader, KIP-951) and leaves the
 * partition with no leader until the next full refresh (confluentinc/librdkafka#5430); a
 * real-broker test once saw a partition never fetched for 150 s. A cluster's config may
 * still set topic.metadata.refresh.interval.ms. */
#define KP_KAFKA_METADATA_REFRESH_MS 10000

/* ---- kafka: client configuration (server/kafka/client_conf.c) ---- */
/* A secret given as `${env:NAME}` may only name a variable with this prefix, so a client
 * cannot read the rest of kplane's environment (KPLANE_API_TOKEN, cloud credentials);
 * names are at most KP_CLIENT_ENV_NAME_MAX bytes. */
#define KP_CLIENT_ENV_PREFIX   "KPLANE_SECRET_"
#define KP_CLIENT_ENV_NAME_MAX 128
/* Names KPLANE_CLIENT_CONFIG_ALLOW may add to the allow-list, and the longest of them
 * (librdkafka's longest property name is under 60 bytes). */
#define KP_CLIENT_ALLOW_MAX      64
#define KP_CLIENT_ALLOW_NAME_MAX 255

/* ---- kafka: embedded clusters (server/kafka/embedded.c) ---- */
#define KP_EMBEDDED_BROKERS_MAX 16
/* Replicas of an embedded topic: up to 3, as a small real cluster. */
#define KP_EMBEDDED_REPLICATION_MAX 3
/* An embedded cluster keeps every partition in memory: cap what one may ask for. */
#define KP_EMBEDDED_PARTITIONS_MAX 10000 /* per topic */
#define KP_EMBEDDED_TOPICS_MAX     1000  /* per cluster */
/* Embedded clusters stopped side by side at shutdown (each takes ~1 s). */
#define KP_EMBEDDED_STOP_PARALLEL 32
/* Partitions of one embedded cluster, and of all of them in the process: the mock keeps
 * every partition (3 replicas) in memory, ~250 bytes each: 10 topics x 10,000 measured
 * 25 MB and 0.02 s of CPU, so the process's 200k stay ~50 MB (1,000 x 10,000 took
 * 2.36 GB before). Creation's wall time is the mock's per-topic round trips (40-300 ms a
 * topic on a loaded box, not CPU), bounded by KP_EMBEDDED_TOPICS_MAX. */
#define KP_EMBEDDED_CLUSTER_PARTITIONS_MAX 100000
#define KP_EMBEDDED_PROCESS_PARTITIONS_MAX 200000
/* `kplane mock`: longest command line on stdin (a longer one is answered with an error
 * and skipped), and how often its loop looks at its run flag (a signal's latency). */
#define KP_EMBEDDED_MOCK_LINE_MAX 1024
#define KP_EMBEDDED_MOCK_POLL_MS  200

/* ---- db: the store (db/store.c, db/store_pool.c, db/plan_cache.c) ---- */
#define KP_DEFAULT_DB "./kplane.db"
/* Connections in the store's pool: one per HTTP worker plus the background threads
 * (discovery, runtime, demo); a caller beyond that waits for a free one. */
#define KP_STORE_POOL_SIZE (KP_HTTP_THREADS + 4)
/* How long a write waits for another process's write lock before giving up with
 * KP_ERR_UNAVAILABLE (503). Writers inside one process queue on a mutex instead. */
#define KP_STORE_BUSY_TIMEOUT_MS 5000
/* Several instances: the leader makes its writes one at a time (each decides on all before
 * it, db/store_log.c); a write that waited this long for the ones before it gives up with
 * a 503 rather than hold its client past the follower's forwarding timeout. */
#define KP_STORE_LOG_QUEUE_MS 10000
/* Current plans kept as text beside the store (db/plan_cache.c): slots (groups, direct-
 * mapped) and the longest text kept (a 1M-partition plan is ~50 MB: read from the database
 * each time rather than held twice). At most 1,024 x 256 KiB = 256 MiB, in practice the
 * few KiB of each group's plan. */
#define KP_PLAN_CACHE_SLOTS    1024
#define KP_PLAN_CACHE_TEXT_MAX (256 * 1024)

/* ---- planner (server/planner/) ---- */
#define KP_PARALLELISM_MAX          100000 /* tasks in one plan */
#define KP_PARTITIONS_PER_TOPIC_MAX 1000000
#define KP_PLAN_PARTITIONS_MAX      10000000 /* partitions in one plan, all topics */
#define KP_SWEEP_STEPS_MAX          4096     /* parallelism values in one sweep */
#define KP_FLINK_EVEN_SEARCH        4096     /* how far the Flink advice looks for an even T */
/* weighted + previous plan: a partition keeps its owner while the owner's load stays
 * within this fraction above the balanced bound max(heaviest, total/T). */
#define KP_WEIGHTED_STICKY_SLACK 0.02
/* weighted: a sticky plan more than this fraction over the bound is replaced by a fresh
 * LPT plan when that one is better balanced. */
#define KP_WEIGHTED_TOLERANCE 0.05
/* weighted: at most this many move/swap steps off the busiest task after LPT. */
#define KP_WEIGHTED_IMPROVE_STEPS 256
/* Flink advice: total topic-steps the search for an even parallelism may spend (each
 * candidate parallelism costs about one step per topic), so a what-if stays fast. */
#define KP_FLINK_ADVICE_WORK 200000
/* Sweep: partition-steps one sweep may compute (kp_sweep_request_work: per strategy the
 * sum of P + T over the range, so parallelism x range counts; weighted counted
 * KP_SWEEP_WEIGHTED_COST times). Measured at the limit on a shared 2-core box (curl
 * against kplane serve, server CPU from /proc): 1M partitions x T 1..399 took 0.36 s
 * (balanced), 0.47 s (flink, roundrobin), 0.93 s (range, the dearest), 17 MB peak RSS;
 * 1 partition x T 96001..100000 (the tasks are the work) 0.51 s. Before, a weighted
 * sweep of 100k partitions x 1..4000 passed and took 42 s. */
#define KP_SWEEP_WORK_MAX 400000000LL
/* What-if and sweep: partitions in all topics of one request (422 above). A what-if at
 * the limit (1M partitions, T 100000) measured 0.06 s (balanced, flink, range,
 * roundrobin) to 0.37 s (weighted with 15k weights, a full 1 MiB body) of CPU, a 51 MB
 * answer and 95 MB peak RSS; 10M (the old bound) answered 456 MB and peaked at 619 MB. */
#define KP_WHATIF_PARTITIONS_MAX 1000000
/* A weighted partition-step costs this many of the others (LPT with a heap, then moves):
 * 100k partitions x 1..100 took 0.57 s weighted against 0.01-0.03 s for the others, and
 * 57-120 ns a partition-step at T ~4000 with 15k weights against ~2.5 ns for range. At
 * 64 the dearest weighted sweep admitted (100k partitions x T 3941..4000, 15k weights)
 * measured 1.52 s of CPU and 26 MB peak RSS. */
#define KP_SWEEP_WEIGHTED_COST 64
/* A what-if or sweep of more partition-steps than this leaves the MHD threads for the
 * HTTP layer's CPU pool (resp->offload): a 50k-partition what-if is ~3 ms with its answer
 * (60 ns a partition measured at 1M), about what a GET queued behind it may wait. */
#define KP_PLAN_OFFLOAD_WORK 50000
/* Largest weight (messages/s or any load unit) of one partition: 1e308 summed to inf
 * and the analysis (skew = max / mean) came out NaN, a 500. 1e12 x the 10M partitions a
 * plan may hold stays far inside a double. */
#define KP_WEIGHT_MAX 1e12

/* ---- sinks (server/sinks/) ---- */
/* File sink: bytes buffered per task before write(2). */
#define KP_SINK_FILE_BUFFER (64 * 1024)
/* File sinks live under this directory (KPLANE_SINK_DIR): a sink's path is relative to
 * it and may not leave it (no "/...", no "..", no symlink followed). */
#define KP_SINK_DIR_DEFAULT "./sinks"
/* Sink kinds a process may add to the built-in ones (kp_sink_kind_add: a test's fake
 * sink); past it the add fails, it does not stop silently. */
#define KP_SINK_KINDS_ADDED_MAX 8
/* A put that answers RETRY (a full queue, a busy target: nothing wrong for good) is
 * offered again in place after a back-off that starts here and doubles, this many times
 * (25 + 50 + 100 ms: the worker holds the partition, and the other partitions of its
 * queue, while it waits). Still RETRY: the partition is paused at the first record not
 * taken and offered again after KP_SINK_RETRY_PAUSE_MS, as long as it takes; only FATAL
 * and DEAD_LETTER fail a task, so a slow target slows its tasks and loses nothing. */
#define KP_SINK_RETRY_BACKOFF_MS 25
#define KP_SINK_RETRY_ATTEMPTS   3
#define KP_SINK_RETRY_PAUSE_MS   500
/* Backpressure (sink field max_in_flight_bytes): key and value bytes a task keeps read
 * but not acknowledged by its sink; beyond it the task's partitions are paused (one
 * worker batch may pass it) and resumed once it is below half (a low-water mark, so a
 * sink that acknowledges in bursts does not make them flap). 16 MiB: the prefetch of one
 * worker queue (KP_RUNTIME_QUEUED_MAX_KBYTES), so a stalled sink at most doubles what a
 * task costs. The range: below 64 KiB one batch of small records passes it every time;
 * above 1 GiB a typo ("16 GB") would defeat the bound. */
#define KP_SINK_IN_FLIGHT_DEFAULT (16LL * 1024 * 1024)
#define KP_SINK_IN_FLIGHT_MIN     (64LL * 1024)
#define KP_SINK_IN_FLIGHT_MAX     (1024LL * 1024 * 1024)
/* HTTP sink (sink_http*.c). Document limits: a URL, the configured headers (each a secret,
 * held in memory per group and sent with every request). */
#define KP_SINK_HTTP_URL_MAX          4096
#define KP_SINK_HTTP_HEADERS_MAX      64
#define KP_SINK_HTTP_HEADER_NAME_MAX  256
#define KP_SINK_HTTP_HEADER_VALUE_MAX 8192
/* batch.max_messages (default 500), batch.max_bytes (default 1 MiB: most ingest endpoints
 * take that; 64 MiB at most, a body is held in memory until a 2xx), batch.linger_ms
 * (default 20: a batch waits that long for more records before it goes). */
#define KP_SINK_HTTP_BATCH_MESSAGES_DEFAULT 500
#define KP_SINK_HTTP_BATCH_MESSAGES_MAX     100000
#define KP_SINK_HTTP_BATCH_BYTES_DEFAULT    (1024 * 1024)
#define KP_SINK_HTTP_BATCH_BYTES_MAX        (64 * 1024 * 1024)
#define KP_SINK_HTTP_LINGER_MS_DEFAULT      20
#define KP_SINK_HTTP_LINGER_MS_MAX          60000
/* timeout_ms: one request, connect to last byte of the answer (default 10 s, 10 min at most). */
#define KP_SINK_HTTP_TIMEOUT_MS_DEFAULT 10000
#define KP_SINK_HTTP_TIMEOUT_MS_MAX     600000
/* retry: attempts per batch (the first included) and the full-jitter back-off's base and
 * cap, AWS's "exponential backoff and jitter": sleep = random(0, min(cap, base * 2^n)). */
#define KP_SINK_HTTP_ATTEMPTS_DEFAULT       10
#define KP_SINK_HTTP_ATTEMPTS_MAX           1000
#define KP_SINK_HTTP_BACKOFF_MS_DEFAULT     100
#define KP_SINK_HTTP_BACKOFF_CAP_MS_DEFAULT 30000
#define KP_SINK_HTTP_BACKOFF_MS_MAX         3600000
/* A Retry-After further out than this (a far-off date) is waited only this long, so a
 * bogus answer cannot park a task for good; retries still count toward max_attempts. */
#define KP_SINK_HTTP_RETRY_AFTER_MAX_MS 600000
/* Request bodies a task holds unacknowledged (open, waiting, on the wire): past it a put
 * takes nothing more and answers RETRY. At least two full batches (one on the wire, one
 * filling); the runtime's max_in_flight_bytes pauses partitions well before. */
#define KP_SINK_HTTP_TASK_HELD_MIN (32 * 1024 * 1024)
/* Bytes of a refused answer's body kept for the task's error (what the target said). */
#define KP_SINK_HTTP_ANSWER_SNIPPET 200
/* Kafka sink: what its producer may buffer (queue.buffering.max.kbytes; a sink's config
 * may change it). librdkafka's default is 1 GiB per producer, which a stalled target would
 * fill with records kplane already read; 64 MiB keeps a copy's memory bounded and is a
 * few seconds of a fast link. */
#define KP_SINK_KAFKA_QUEUE_KBYTES 65536
/* A put that finds the producer's queue full waits this long for delivery reports to free
 * room before it answers RETRY (the runtime's back-off then takes over). */
#define KP_SINK_KAFKA_QUEUE_WAIT_MS 100
/* A group's Kafka producer, at close, waits at most this long for the delivery reports
 * of what its tasks produced, then purges the rest: it was never acknowledged, so never
 * committed, and is read again. */
#define KP_SINK_KAFKA_CLOSE_WAIT_MS 10000
/* Longest target topic name a template may give (Kafka's own limit). */
#define KP_SINK_KAFKA_TOPIC_MAX 249
/* exactly_once: a transactional call (init, send offsets, commit, abort) waits at least
 * this long, also in a periodic commit round that waits for nothing else: a transaction
 * must end before the next begins, and librdkafka's own request timeouts are 30 s. */
#define KP_SINK_KAFKA_TXN_WAIT_MS 30000
/* exactly_once across clusters: the compacted topic on the sink's cluster holding the
 * source positions (MirrorMaker 2's offsets topic), unless the sink's offsets_topic says
 * otherwise, and the partitions kplane creates it with (one record per partition and
 * second per group; compaction keeps one per partition). */
#define KP_SINK_KAFKA_OFFSETS_TOPIC      "__kplane-offsets"
#define KP_SINK_KAFKA_OFFSETS_PARTITIONS 1
/* A task assigned a partition waits at most this long for where to resume it: for the
 * transactions of a killed kplane to end (a transactional.id kplane no longer uses is only
 * aborted by the broker after transaction.timeout.ms, librdkafka's default 60 s). */
#define KP_SINK_KAFKA_RESUME_WAIT_MS 90000

/* ---- coord: several instances (server/coord/) ---- */
/* KPLANE_SERVICE when unset: the group is _kplane-kplane, its topics _kplane-kplane-*. */
#define KP_COORD_SERVICE_DEFAULT "kplane"
/* KPLANE_SESSION_TIMEOUT_MS when unset: Kafka Connect's, so a dead instance is noticed as
 * fast as a dead Connect worker. Brokers hold classic groups to group.min.session.timeout.ms
 * (6 s by default) .. group.max.session.timeout.ms (30 min): the bounds accepted here. */
#define KP_COORD_SESSION_TIMEOUT_DEFAULT_MS 10000
#define KP_COORD_SESSION_TIMEOUT_MIN_MS     1000
#define KP_COORD_SESSION_TIMEOUT_MAX_MS     1800000
/* Heartbeats per session timeout (classic protocol): Kafka's advice is at most a third; a
 * fifth lets a survivor hear of a rebalance within 2 s of a 10 s session's expiry. */
#define KP_COORD_HEARTBEATS_PER_SESSION 5
/* Partitions of the work topic: its owner of partition 0 leads. Tasks are placed over the
 * instances by the leader (kp_placement_balance), not one per partition: a fixed set of
 * partition slots cannot keep every mix of groups within one task per instance. */
#define KP_COORD_WORK_PARTITIONS 1
/* The coordination thread waits this long in one poll: how soon it sees a stop, a status
 * record or a membership answer. */
#define KP_COORD_POLL_MS 100
/* Every instance rewrites its status record this often (last_seen), and lists the group's
 * members (DescribeConsumerGroups: one round trip to the coordinator) this often. */
#define KP_COORD_STATUS_INTERVAL_MS   3000
#define KP_COORD_DESCRIBE_INTERVAL_MS 1000
/* Start-up (topics read and created) and a clean stop (the tombstone delivered) give up
 * after this; a coordination cluster that does not answer at start-up stops the start. */
#define KP_COORD_START_TIMEOUT_MS 15000
#define KP_COORD_STOP_TIMEOUT_MS  5000
/* Longest instance id (KPLANE_INSTANCE_ID, also the members' client.id) and advertised URL;
 * status records with longer fields are ignored. */
#define KP_COORD_ID_MAX  255
#define KP_COORD_URL_MAX 2048
/* Status records kept (one per instance id ever seen and not tombstoned): beyond it new ids
 * are ignored, so a topic flooded with ids cannot grow the table without bound. */
#define KP_COORD_STATUS_MAX 1024
/* Tasks one status record may list (the tasks an instance runs, {"group": [task, ...]}: ~6
 * bytes a task, so 100,000 stay within Kafka's default 1 MB message); a record listing more
 * is ignored. Far above KP_MAX_TASKS_DEFAULT, a process's own cap. */
#define KP_COORD_REPORT_TASKS_MAX 100000
/* The state log (coord_state.c). A record is one row's state: the largest is a plan of a
 * group reading ~100,000 partitions (a few MB of JSON); the topic, the producer and the
 * reader are set to carry this much in one record. */
#define KP_COORD_STATE_RECORD_MAX (64 * 1024 * 1024)
/* Records applied in one SQLite transaction (a rebuild from the log's start commits once per
 * this many, not per record). */
#define KP_COORD_STATE_BATCH 500
/* A write's leader waits this long for init_transactions / commit, and any instance this long
 * for its database to reach the offset of a write it made or forwarded; past it the write
 * answers 503 (made but not yet visible here: the client may read it elsewhere or retry). */
#define KP_COORD_STATE_TIMEOUT_MS 10000
/* A follower forwarding a write to the leader gives up after this (503 with Retry-After). */
#define KP_COORD_FORWARD_TIMEOUT_MS    30000
#define KP_COORD_FORWARD_RETRY_AFTER_S "1"
/* Longest answer body a forwarded write passes back (a plan's JSON). */
#define KP_COORD_FORWARD_BODY_MAX (64 * 1024 * 1024)

/* ---- app: discovery, weight samples, status of a stopped group (server/app/, api/) ---- */
#define KP_DISCOVERY_INTERVAL_S 60
/* The weighted strategy without weights, for a group that is not running, measures
 * messages/s per partition from two end-offset readings this far apart. */
#define KP_WEIGHT_SAMPLE_MS 1000
/* Groups with more partitions than this are not sampled (counts are balanced). */
#define KP_WEIGHT_SAMPLE_PARTITIONS_MAX 100000
/* Status of a stopped group: committed offsets and high watermarks are read from this
 * many clusters at once (one short-lived consumer and thread each), every cluster within
 * KP_KAFKA_METADATA_TIMEOUT_MS. */
#define KP_STATUS_CLUSTERS_PARALLEL 16
/* Status of a stopped group: a cluster that did not answer is not asked again for this
 * long (its rows show the last failure at once) so pollers like the web page do not hold
 * an HTTP thread for the whole metadata timeout on every poll. */
#define KP_STATUS_BREAKER_OPEN_MS 10000
/* Replan + apply of one group run under its lock (server/app/app.c): groups share
 * KP_APP_GROUP_LOCKS mutexes by a hash of their name, so the table stays fixed whatever
 * the number of groups; two groups on one stripe only wait for each other. */
#define KP_APP_GROUP_LOCKS 64
/* Several instances (server/app/work.c): each instance's work loop looks at the placement, the
 * others' reports and its own tasks this often (and at once when kicked). A task moves after
 * its old owner's pass and its new owner's, so this is added twice to a hand-over; each pass
 * reads a few rows of the local database and the coordinator's view (no network). */
#define KP_APP_WORK_INTERVAL_MS 250
/* A group whose tasks were placed here but whose start failed (a sink's target missing, a
 * cluster down) is tried again this much later, not at every pass. */
#define KP_APP_WORK_RETRY_MS 5000

/* `kplane serve --demo`: messages a second its producer writes over the three clusters. */
#define KP_DEMO_RATE 300
/* The demo's lag moves: for KP_DEMO_SLOW_S of every KP_DEMO_SLOW_PERIOD_S (the first
 * after KP_DEMO_SLOW_PERIOD_S - KP_DEMO_SLOW_S), demo-b's broker answers
 * KP_DEMO_SLOW_RTT_MS late, and the mirror group's producer may hold
 * KP_DEMO_MIRROR_QUEUE_MESSAGES undelivered: 4 a 0.2 s round trip is 20 messages/s, below
 * the ~50/s demo-a gets, so the copy falls behind by ~30/s (analytics, reading demo-b, by
 * ~25/s), then both catch up within a second or two. At 0.5 s a stopped group's status,
 * a new client's half a dozen round trips to demo-b, passed KP_KAFKA_METADATA_TIMEOUT_MS
 * and showed demo-b in error; at 0.2 s it took 1.8 s. */
#define KP_DEMO_SLOW_PERIOD_S         30
#define KP_DEMO_SLOW_S                15
#define KP_DEMO_SLOW_RTT_MS           200
#define KP_DEMO_MIRROR_QUEUE_MESSAGES 4

/* ---- api: the router (api/api.c) ---- */
/* Captures one route may hold ({name}, {version}, ...) and path segments a request may have;
 * a longer path is a 404 (no route is that deep). */
#define KP_ROUTE_PARAMS_MAX 4
#define KP_ROUTE_SEGS_MAX   16

/* ---- cli (server/cli/) ---- */
/* kplane plan --batch: longest input line. */
#define KP_PLAN_BATCH_LINE_MAX (16 * 1024 * 1024)

/* ---- runtime: consumer tasks (server/runtime/) ---- */
/* Worker threads per consumer lane (runtime_lane.c: a cluster's consumer shared by the
 * running groups): they serve every task of every group on the lane, so 1,000 tasks or
 * 100 groups need a handful of threads, not 1,000. */
#define KP_RUNTIME_WORKERS_PER_CLUSTER 2
/* Offsets of what the sinks took are committed this often (and on stop/plan change). */
#define KP_RUNTIME_COMMIT_INTERVAL_MS 1000
/* A commit (or committed-offset read) waits at most this long for the cluster. */
#define KP_RUNTIME_COMMIT_TIMEOUT_MS 3000
/* A commit round waits for its answers in slices this long, looking in between whether
 * its group is stopping (then the stop's last commit takes over). */
#define KP_RUNTIME_COMMIT_WAIT_SLICE_MS 100
/* A cluster in error with nothing to commit is probed once per commit round (a
 * committed-offset read) for at most this long; the error clears when it answers. */
#define KP_RUNTIME_PROBE_TIMEOUT_MS 500
/* A group's start (and a plan adding partitions) reads their committed offsets; while the
 * coordinator moves or loads (NOT_COORDINATOR on a fresh broker's __consumer_offsets) it
 * asks again every KP_RUNTIME_START_OFFSETS_RETRY_MS for at most this long: a partition
 * assigned without its offset is never fetched by librdkafka 2.14 after that error. */
#define KP_RUNTIME_START_OFFSETS_TIMEOUT_MS 15000
#define KP_RUNTIME_START_OFFSETS_RETRY_MS   200
/* Default wait of a stop (SIGTERM included): drain, commit, close within it. */
#define KP_RUNTIME_STOP_WAIT_MS 10000
/* Closing a consumer waits at most this long (within the stop's wait); one whose
 * cluster does not answer is then destroyed in the background. */
#define KP_RUNTIME_CLOSE_TIMEOUT_MS 2000
/* Rates (messages/s) are sampled this often and smoothed (EWMA weight of a sample). */
#define KP_RUNTIME_RATE_INTERVAL_MS 1000
#define KP_RUNTIME_RATE_ALPHA       0.3
/* While a partition is paused (backpressure), the control thread looks this often
 * whether its tasks' sinks acknowledged enough to resume it. */
#define KP_RUNTIME_RESUME_CHECK_MS 50
/* A task's in-flight bytes are known at the boundaries of its last this many puts not
 * acknowledged (between two, interpolated); more puts halve the resolution, not grow it. */
#define KP_RUNTIME_FLOW_MARKS 64
/* How long a worker blocks on its queue before looking at its stop flag. */
#define KP_RUNTIME_POLL_MS 500
/* Prefetch bound (librdkafka queued.max.messages.kbytes). librdkafka checks it against
 * the queue a partition forwards to, i.e. per worker queue, not per partition: memory
 * stays ~workers x this per (group, cluster) however many partitions. 4 MiB starved a
 * single worker of 30 partitions (fetch back-off); 16 MiB reads at raw-consumer speed.
 * The operator's cluster config may override it. */
#define KP_RUNTIME_QUEUED_MAX_KBYTES 16384
/* librdkafka checks queued.min.messages (100,000, left as it is: with small records it is
 * what bounds the queue's memory, librdkafka's own op of each record besides the record)
 * against that same worker queue too, and a partition that finds the queue over either
 * threshold asks again only after fetch.queue.backoff.ms (default 1 s). One fetch round of
 * a dozen partitions fills it; the worker drains it in well under 100 ms and then waited
 * out the second (measured: ~1 s stalls mid-read, kplane 0.76x rdkafka_performance from
 * the first message). After this many ms instead: about the time a worker takes to work
 * through a few MiB, so the next fetch is under way before the queue runs dry. It costs a
 * fetch decision per partition this often only while the queue is full. The operator's
 * cluster config may override it. */
#define KP_RUNTIME_FETCH_QUEUE_BACKOFF_MS 20
/* Before partitions are assigned at a logical offset (earliest, latest), a lane asks the
 * cluster for their leaders and waits at most this long (runtime_lane.c,
 * rt_lane_learn_leaders): without them librdkafka waits 500 ms before it looks the offsets
 * up. A cluster that does not answer costs this wait once per assign, and the 500 ms after. */
#define KP_RUNTIME_LEADERS_WAIT_MS 1000
/* Running tasks of the whole process (KPLANE_MAX_TASKS): a start or an applied plan that
 * would pass it is a 422 and starts nothing. A task is a record (sink, counters, lock),
 * about 10 KB with 1,000 idle tasks (bench/bench_runtime.c), plus a 64 KiB file buffer
 * once it writes: 10,000 is ~100 MB idle, ~750 MB with every file sink busy. */
#define KP_MAX_TASKS_DEFAULT 10000

/* Lag evaluation of running groups (server/runtime/lag_eval.c): one sample per partition each
 * KP_RUNTIME_RATE_INTERVAL_MS; a state needs KP_LAG_MIN_SAMPLES and looks back over
 * KP_LAG_WINDOW (so a stall shows within about 10 s). */
#define KP_LAG_WINDOW      10
#define KP_LAG_MIN_SAMPLES 3

/* Lag history of a running group (server/runtime/runtime_history.c, GET .../history): the group's
 * total lag and messages/s every KP_RUNTIME_RATE_INTERVAL_MS, KP_HISTORY_SAMPLES of them
 * (5 minutes; 24 B each: 7.2 KB per group), and each partition's lag every
 * KP_HISTORY_PART_EVERY samples, KP_HISTORY_PART_SAMPLES of them (the same 5 minutes at
 * 5 s; 8 B each: 480 B per partition, so 100,000 partitions cost 48 MB, where 1 s would
 * cost 240 MB). A response names at most KP_HISTORY_TOP_MAX partitions (the most lagging;
 * KP_HISTORY_TOP_DEFAULT unless ?top= says), so it stays small at any partition count.
 * KPLANE_HISTORY_SAMPLES may shorten the ring (tests); never lengthen it. */
#define KP_HISTORY_SAMPLES      300
#define KP_HISTORY_PART_EVERY   5
#define KP_HISTORY_PART_SAMPLES (KP_HISTORY_SAMPLES / KP_HISTORY_PART_EVERY)
#define KP_HISTORY_TOP_DEFAULT  5
#define KP_HISTORY_TOP_MAX      100
/* A worker takes at most this many messages from its queue at once and hands each
 * task's run of them to the sink as one batch (one lock round per run, not per record). */
#define KP_RUNTIME_WORKER_BATCH 256
/* Refused records a commit round takes back from a sink per put into the dead-letter sink
 * (errors.tolerance "all"): a buffer on the control thread's stack; more go in more puts. */
#define KP_RUNTIME_DLQ_BATCH 64

#endif /* KP_CONFIG_H */
