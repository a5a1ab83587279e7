/* sink.h — where a consumer task puts the records it read: a small vtable so new kinds plug in. */
#ifndef KP_SINK_H
#define KP_SINK_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The life of a record, the way Kafka Connect's WorkerSinkTask drives a SinkTask (put,
 * flush, preCommit; offsets committed only after them):
 *
 *   taken         put() accepted it. The sink owns a copy from then on (every pointer of a
 *                 record is borrowed for the put call only) and may deliver it later.
 *   acknowledged  the destination has it durably (the file sink: handed to the kernel
 *                 with write(2); a Kafka sink: its delivery report; an HTTP sink: a 2xx).
 *   committed     the runtime commits a source partition's offset only up to the first
 *                 record of it that a sink took and has not acknowledged, never up to
 *                 what a sink merely took. A crash re-delivers what was not committed:
 *                 at least once.
 *   refused       the destination refused it for good after the put (an HTTP 4xx for the
 *                 record alone, retries exhausted, a failed delivery report). The sink
 *                 keeps it, holding its partition's precommit at it, until the runtime
 *                 takes it back (kp_sink_refused, kp_sink_refused_done) and fails the task
 *                 (errors.tolerance "none") or puts it into the group's dead-letter sink
 *                 ("all"), whose acknowledgement then holds the commit instead.
 *
 * A commit round (every second, before a plan change moves a partition, at stop) calls,
 * per task: flush (push out what is buffered; wait for acknowledgements until the
 * deadline) and then precommit (how far each partition is acknowledged). Records of a
 * partition reach a sink in offset order; with rebalance fan-out one partition's records
 * are dealt over several tasks, and the runtime commits the lowest position any of them
 * still holds.
 */

/* How a record's timestamp was set (librdkafka's RD_KAFKA_TIMESTAMP_*). */
typedef enum kp_sink_ts_type {
        KP_SINK_TS_NONE = 0,       /* the record has none (timestamp is -1) */
        KP_SINK_TS_CREATE = 1,     /* set by the producer */
        KP_SINK_TS_LOG_APPEND = 2, /* set by the broker when it appended the record */
} kp_sink_ts_type_t;

/* One record header: @p value NULL is a header without a value (not an empty one). */
typedef struct kp_sink_header {
        const char *name;
        const void *value;
        size_t value_len;
} kp_sink_header_t;

/*
 * One record handed to a sink. Every pointer is borrowed for the duration of the put call
 * only; key/value are NULL when the record has none. @p part identifies the source
 * partition for the group's lifetime (the same pointer for every record of it, whichever
 * task takes it): a sink that acknowledges later keys its positions by it.
 */
typedef struct kp_sink_msg {
        const char *cluster;
        const char *topic;
        int32_t partition;
        int64_t offset;
        const void *key;
        size_t key_len;
        const void *value;
        size_t value_len;
        int64_t timestamp; /* unix ms, -1 when none */
        kp_sink_ts_type_t timestamp_type;
        const kp_sink_header_t *headers; /* in record order; NULL when nheaders is 0 */
        size_t nheaders;
        const void *part;
} kp_sink_msg_t;

/*
 * What a put or a flush says. Anything but OK comes with errstr set.
 *   RETRY        nothing went wrong for good (a full buffer, a target busy): the runtime
 *                offers the records not taken again after a back-off, then pauses the
 *                partition and offers them again later, for as long as it takes (a sink
 *                whose own retries run out answers DEAD_LETTER or FATAL). From flush: not
 *                everything was acknowledged by the deadline; precommit says how far it got.
 *   DEAD_LETTER  From put: the first record not taken can never be delivered (a poison
 *                record: a record too large for the target). From flush: records taken
 *                before were refused for good since (an HTTP 400 for a record alone):
 *                kp_sink_refused lists them. With errors.tolerance "all" the runtime
 *                routes them to the group's dead-letter sink and goes on; with "none" the
 *                task fails as on FATAL.
 *   FATAL        the sink cannot go on: the task fails, its partitions stall uncommitted
 *                and are read again from their committed offset when a plan moves them.
 */
typedef enum kp_sink_status {
        KP_SINK_OK = 0,
        KP_SINK_RETRY = 1,
        KP_SINK_DEAD_LETTER = 2,
        KP_SINK_FATAL = 3,
} kp_sink_status_t;

/* One source partition's positions, for precommit: see kp_sink_ops_t.precommit. */
typedef struct kp_sink_offset {
        const void *part; /* as in kp_sink_msg_t */
        const char *cluster;
        const char *topic;
        int32_t partition;
        int64_t taken; /* the offset after the last record of it the sink took */
        /* In: what the previous precommit said (the first offset taken, before any).
         * Out: the offset after the acknowledged prefix: every record of the partition
         * the sink took below it is acknowledged. At most taken. */
        int64_t acked;
        /* Out of precommit, optional (0 unless set): the sink itself committed acked as the
         * group's offset of the partition (an exactly-once Kafka sink on the source's cluster:
         * the offsets ride in its transaction). The runtime records it and never commits an
         * older position over it. */
        int committed;
} kp_sink_offset_t;

/* A sink instance's counters; read from any thread (kp_sink_stats). */
typedef struct kp_sink_stats {
        int64_t records_in;   /* records taken */
        int64_t bytes_in;     /* key and value bytes of them */
        int64_t acked;        /* records acknowledged */
        int64_t in_flight;    /* taken and neither acknowledged nor refused */
        int64_t failures;     /* puts and flushes that answered FATAL or DEAD_LETTER */
        int64_t retries;      /* puts that answered RETRY, and requests the sink sent again */
        int64_t dead_letters; /* records a put called poison */
        int64_t refused;      /* records taken, then refused and handed back (refused_done) */
} kp_sink_stats_t;

/* ---- refused records (errors and dead letters) ---- */

/*
 * A record a sink took and then refused for good (a final 4xx, retries exhausted, a Kafka
 * error retrying cannot fix): the sink learnt it after the put, so it hands the record
 * back through kp_sink_refused. Every pointer is the sink's, valid until the next
 * kp_sink_refused_done or close of that sink.
 */
typedef struct kp_sink_refused {
        kp_sink_msg_t msg;  /* the record as it was put (part included) */
        const char *reason; /* what the target said, as the task's error would show it */
        const char *status; /* the target's status: "400", "503", a Kafka error's name;
                               "none" when it gave none (a connection error) */
} kp_sink_refused_t;

/*
 * A sink kind. The runtime opens one group instance per running group (shared state such
 * as one producer for all of the group's tasks), then one task instance per task; a task
 * instance is used from one thread at a time (the task's lock serialises put, flush,
 * precommit), a group instance from all of its tasks' threads at once. Only validate,
 * open, put, flush and close are required.
 */
typedef struct kp_sink_ops {
        const char *type; /* "discard", "file": the "type" of the sink document */
        /* Checks @p conf (the whole sink document) without side effects. */
        int (*validate)(const json_t *conf, char *errstr, size_t errstr_size);
        /* Opens the group's shared state (*groupp; NULL op: none) for group @p group.
         * @p conf is borrowed and outlives the group instance. */
        int (*group_open)(const json_t *conf, const char *group, void **groupp, char *errstr,
                          size_t errstr_size);
        /* Frees the group's shared state, after every task instance closed. */
        void (*group_close)(void *group);
        /* Opens an instance for task @p task; *statep is the instance's state. */
        int (*open)(const json_t *conf, void *group, int task, void **statep, char *errstr,
                    size_t errstr_size);
        /* Takes records from @p msgs[0] on; sets *taken to how many (a prefix of @p n).
         * OK means all @p n. */
        kp_sink_status_t (*put)(void *state, const kp_sink_msg_t *msgs, size_t n, size_t *taken,
                                char *errstr, size_t errstr_size);
        /* Pushes out what is buffered and waits for acknowledgements until @p deadline_ms
         * (kp_time_mono_ms; already past: wait for nothing). OK: every record taken is
         * acknowledged. */
        kp_sink_status_t (*flush)(void *state, int64_t deadline_ms, char *errstr,
                                  size_t errstr_size);
        /*
         * Called after flush with each partition this instance took records from since it
         * last acknowledged all it took of it: sets each acked (see kp_sink_offset_t).
         * NULL op: a flush that answered OK acknowledged everything taken before it (file,
         * discard), nothing else is.
         */
        void (*precommit)(void *state, kp_sink_offset_t *offs, size_t n);
        /* Records acknowledged so far (NULL op: every record taken before the last flush
         * that answered OK). Called from any thread. */
        int64_t (*acked)(void *state);
        /* Delivers what it can and frees the state. */
        void (*close)(void *state);
        /* A copy of @p conf as answers show it: secrets (http headers) as "******". NULL op:
         * the document holds none. */
        json_t *(*redact)(const json_t *conf);
        /* Puts back into @p conf (a replace) the stored secrets, from @p old (the stored
         * document of the same type), that @p conf sends back as "******". */
        void (*unredact)(json_t *conf, const json_t *old);
        /*
         * Refused records (NULL op: a sink never refuses after taking). A sink that learns
         * after a put that records it took are refused for good keeps them, oldest first,
         * and, while any is kept: its flush answers DEAD_LETTER (errstr: the first one's
         * reason) and its precommit keeps each partition at or below its first refused
         * record kept (so nothing past it is committed before the runtime decided).
         * refused copies the first (up to @p max) records kept into @p out and @returns
         * how many; refused_done drops the first @p n of them: the runtime failed the task
         * or routed them to the dead-letter sink, and they count as done (no longer in
         * flight) from then on. The driver may refuse more in between: they go after.
         */
        size_t (*refused)(void *state, kp_sink_refused_t *out, size_t max);
        void (*refused_done)(void *state, size_t n);
        /*
         * Where the group's tasks start the source partitions of @p offs (part, cluster,
         * topic, partition in; taken unused) when they are assigned: sets each acked to the
         * offset after what the sink holds durably of it (an exactly-once sink: its last
         * committed transaction), or -1 when it knows none. Called on @p group (the group
         * state) with no transaction of its tasks open. NULL op: every acked -1, the runtime
         * starts from the group's committed offset. @returns 0 or a negative kp_err_t with
         * errstr (the assignment fails: starting anywhere else could lose or double).
         */
        int (*resume)(void *group, kp_sink_offset_t *offs, size_t n, char *errstr,
                      size_t errstr_size);
        /* Requests the sink sent again on its own since it opened (an HTTP batch after a 5xx,
         * a 429, a timeout); added to the stats' retries. NULL op: none. Any thread. */
        int64_t (*own_retries)(void *state);
        /* Copies into @p buf the error the sink is retrying past ("" when none, or once a
         * request got through), so that a task delivering slowly says why before anything
         * fails. NULL op: "". Any thread. */
        void (*retry_error)(void *state, char *buf, size_t size);
        /* 1: the kind never looks at a record's headers (discard), so the runtime leaves
         * them unread (nheaders 0): librdkafka parses them on first access, an allocation
         * per record even when it has none. 0 (every other kind): they are read. */
        int ignores_headers;
} kp_sink_ops_t;

typedef struct kp_sink_group kp_sink_group_t;
typedef struct kp_sink kp_sink_t;

/*
 * Validates a sink document ({"type": "discard"} or {"type": "file", "path": dir}; dir
 * relative to the sink directory, without ".."). @p conf NULL means discard.
 * @returns 0 or KP_ERR_INVALID with errstr starting with the field ("sink.path: ...").
 */
int kp_sink_validate(const json_t *conf, char *errstr, size_t errstr_size);

/* @returns a copy of sink document @p conf (NULL: NULL) as API answers show it: secrets
 * (an http sink's header values) as "******". */
json_t *kp_sink_redact(const json_t *conf);
/* For a replace: every secret of @p conf sent back as "******" gets its stored value from
 * @p old (the stored sink document) when both are of one type and the kind allows it (an
 * http sink: the same url). What stays "******" is refused by kp_sink_validate. */
void kp_sink_unredact(json_t *conf, const json_t *old);

/*
 * Fields every sink document may carry beside its kind's (kp_sink_validate checks them and
 * hands the kind's validate the document without them):
 *   max_in_flight_bytes  key and value bytes a task keeps taken but not acknowledged
 *                        before its partitions pause (KP_SINK_IN_FLIGHT_*).
 * @returns @p conf's max_in_flight_bytes, or the default (also for NULL conf).
 */
int64_t kp_sink_max_in_flight_bytes(const json_t *conf);

/*
 * Adds a sink kind beyond the built-in ones (a test's fake sink). Call at start-up,
 * before any sink document is validated: it is not synchronised. @p ops is borrowed for
 * the process's life. @returns 0, KP_ERR_EXISTS (type taken) or KP_ERR_TOO_LARGE (more than
 * KP_SINK_KINDS_ADDED_MAX added).
 */
int kp_sink_kind_add(const kp_sink_ops_t *ops);

/*
 * Opens the group-level instance of the sink @p conf describes (a copy is kept; NULL
 * means discard) for group @p group. @returns a new group sink (close with
 * kp_sink_group_close after every task sink of it) or NULL with errstr set.
 */
kp_sink_group_t *kp_sink_group_open(const json_t *conf, const char *group, char *errstr,
                                    size_t errstr_size);
/* Frees the group instance. NULL does nothing. */
void kp_sink_group_close(kp_sink_group_t *sg);

/*
 * Opens the instance of task number @p task of group sink @p sg (borrowed; it must outlive
 * the task sink). The file sink creates its directory inside the sink directory if
 * needed (never following a symlink) and appends to <sink dir>/<path>/task-NNNN.jsonl
 * (0640). @returns a new sink (close with kp_sink_close) or NULL with errstr set.
 */
kp_sink_t *kp_sink_open(kp_sink_group_t *sg, int task, char *errstr, size_t errstr_size);

/*
 * Sets the directory every file sink's path is under (KPLANE_SINK_DIR, default
 * KP_SINK_DIR_DEFAULT; a copy is kept). Call at start-up, before any sink opens: it is
 * not synchronised. @returns 0 or KP_ERR_INVALID (empty or too long).
 */
int kp_sink_dir_set(const char *dir);
/* @returns the sink directory (borrowed, valid until the next kp_sink_dir_set). */
const char *kp_sink_dir(void);

/*
 * Sets the name of the service this process is part of (KPLANE_SERVICE, default
 * KP_COORD_SERVICE_DEFAULT; a copy is kept): an exactly-once Kafka sink names its
 * producers' transactional.id after it, so two services on one cluster never fence each
 * other's producers. Call at start-up, before any sink opens: it is not synchronised.
 * @returns 0 or KP_ERR_INVALID (not a name: KP_NAME_RULE).
 */
int kp_sink_service_set(const char *service);
/* @returns the service name (borrowed, valid until the next kp_sink_service_set). */
const char *kp_sink_service(void);

/*
 * Checks sink document @p conf (already valid on its own) against the rest of its group:
 * @p rebalance is the group's "rebalance". An exactly-once Kafka sink needs every source
 * partition in one task's transaction, which rebalance fan-out (one partition's records
 * dealt over several tasks) breaks. @returns 0 or KP_ERR_INVALID with errstr starting with
 * the field ("rebalance: ...").
 */
int kp_sink_group_validate(const json_t *conf, int rebalance, char *errstr, size_t errstr_size);

/* Hands @p n records to the sink (kp_sink_ops_t.put) and counts them. Not thread-safe:
 * the caller serialises per sink. */
kp_sink_status_t kp_sink_put(kp_sink_t *sink, const kp_sink_msg_t *msgs, size_t n, size_t *taken,
                             char *errstr, size_t errstr_size);
/* kp_sink_ops_t.flush, counted. */
kp_sink_status_t kp_sink_flush(kp_sink_t *sink, int64_t deadline_ms, char *errstr,
                               size_t errstr_size);
/* kp_sink_ops_t.precommit, each acked kept at most taken (a sink cannot acknowledge
 * what it was not given). Without the op: everything is acknowledged when the last flush
 * answered OK and nothing was taken since, else acked stays. */
void kp_sink_precommit(kp_sink_t *sink, kp_sink_offset_t *offs, size_t n);
/* kp_sink_ops_t.resume of group sink @p sg: each acked set (-1 without the op). Caller
 * holds no task's sink in a put, flush or precommit. */
int kp_sink_resume(kp_sink_group_t *sg, kp_sink_offset_t *offs, size_t n, char *errstr,
                   size_t errstr_size);
/* Copies the last error @p sink retried past into @p buf ("" when none). Any thread. */
void kp_sink_retry_error(kp_sink_t *sink, char *buf, size_t size);
/* Fills @p out with @p sink's counters. Any thread. */
void kp_sink_stats(kp_sink_t *sink, kp_sink_stats_t *out);
/* Delivers what it can and frees. NULL does nothing. */
void kp_sink_close(kp_sink_t *sink);
/* @returns the sink's type name ("discard", "file"). */
const char *kp_sink_type(const kp_sink_t *sink);
/* @returns 1 unless @p sink's kind ignores headers (kp_sink_ops_t.ignores_headers). */
int kp_sink_reads_headers(const kp_sink_t *sink);

/* ---- refused records: see kp_sink_ops_t.refused ---- */

/* Copies into @p out the first (up to @p max) records @p sink took and then refused,
 * oldest first. @returns how many; 0 for a kind that never refuses after taking. Caller
 * serialises per sink. */
size_t kp_sink_refused(kp_sink_t *sink, kp_sink_refused_t *out, size_t max);
/* Drops the first @p n refused records, counted in kp_sink_stats_t.refused. */
void kp_sink_refused_done(kp_sink_t *sink, size_t n);
/*
 * Says that @p sink's refused records go to dead-letter sink @p dlq (kp_sink_dead_letter_put):
 * from then on kp_sink_stats of @p sink counts as refused (done with) only those whose dead
 * letter @p dlq acknowledged, so a record held by a stalled dead-letter target stays in
 * @p sink's in flight and the backpressure that pauses the source beyond
 * max_in_flight_bytes sees it. @p dlq must outlive @p sink. @returns 0.
 */
int kp_sink_dead_letters_hold(kp_sink_t *sink, kp_sink_t *dlq);
/* @returns a copy of @p m in one allocation (free() it): strings, key, value and headers
 * with it, part kept. NULL when out of memory. */
kp_sink_msg_t *kp_sink_msg_dup(const kp_sink_msg_t *m);
/* The same copy into a caller's buffer (a batch's, many records back to back): @p at
 * (8-byte aligned) holds kp_sink_msg_size(@p m) bytes, a multiple of 8. Once the bytes
 * moved (a buffer grown, a copy memcpy'd elsewhere), kp_sink_msg_rebase points the
 * copy's fields at its new place before it is read. */
size_t kp_sink_msg_size(const kp_sink_msg_t *m);
kp_sink_msg_t *kp_sink_msg_copy(void *at, const kp_sink_msg_t *m);
void kp_sink_msg_rebase(kp_sink_msg_t *d);

/*
 * Encodes @p len bytes of @p data as standard base64 (with padding) into @p out,
 * which must hold 4 * ((len + 2) / 3) + 1 bytes. @returns the length written.
 */
size_t kp_base64_encode(const void *data, size_t len, char *out);

#endif /* KP_SINK_H */
