/* sink_kafka_int.h — internal: the Kafka sink's state, shared by sink_kafka.c (documents, the
 * producer, at_least_once) and sink_kafka_txn.c / sink_kafka_offsets.c (exactly_once). */
#ifndef KP_SINK_KAFKA_INT_H
#define KP_SINK_KAFKA_INT_H

#include "base/config.h"
#include "sinks/sink.h"

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

/* How a record's target partition is chosen (the document's "partitioning"). */
typedef enum ks_partitioning {
        KS_SOURCE = 0,      /* the source partition's number modulo the target's count */
        KS_KEY = 1,         /* murmur2 of the key, as Kafka's default partitioner */
        KS_ROUND_ROBIN = 2, /* one partition after the other */
} ks_partitioning_t;

typedef struct ks_producer {
        rd_kafka_t *rk;
        ks_partitioning_t partitioning;
        _Atomic uint32_t next; /* round_robin's counter */
        pthread_t poller;
        int poller_started;
        atomic_int stop;
        atomic_int fatal; /* librdkafka's fatal error: the producer cannot go on */
        pthread_mutex_t err_lock;
        char fatal_err[256]; /* under err_lock */
        int txn;             /* transactional (exactly_once): close aborts, never flushes */
} ks_producer_t;

struct ks_task;

/* Buckets of a group's table of source partitions in open transactions (by part pointer). */
#define KS_HOLDER_BUCKETS 256

/* A source partition in a task's open transaction (exactly_once). */
typedef struct ks_holder {
        const void *part;
        struct ks_task *task;
        struct ks_holder *next;
} ks_holder_t;

/* A record produced and not yet delivered: the producer's msg_opaque (NULL: a record of
 * the offsets topic, exactly_once across clusters). */
typedef struct ks_msg {
        struct ks_msg *prev, *next;
        struct ks_part *kp;
        int64_t offset;
        int32_t src_partition;
} ks_msg_t;

/* One source partition of a task: its records in flight, in offset order. */
typedef struct ks_part {
        const void *part; /* kp_sink_msg_t.part */
        struct ks_task *task;
        rd_kafka_topic_t *rkt; /* the target topic */
        ks_msg_t *head, *tail; /* under task->lock */
        struct ks_part *next;
        char *cluster, *topic; /* the source's (copies) */
        int32_t partition;
        /* exactly_once, used by the task's thread only: the offset after the last record
         * put in the open transaction, and after the last one of a committed one (-1:
         * none). */
        int64_t txn_next, done;
} ks_part_t;

typedef struct ks_group {
        const char *tmpl; /* borrowed from the document, which outlives the group */
        int source_headers;
        ks_producer_t *prod; /* at_least_once: the group's one producer; exactly_once: NULL */
        /* closed tasks whose records were still in flight (a task's lock, then this) */
        pthread_mutex_t lock;
        struct ks_task *orphans; /* doubly linked by prev_orphan/next_orphan */
        /* exactly_once */
        int eos;
        const json_t *conf;  /* the document (borrowed, outlives the group) */
        char *name;          /* the kplane group (its Kafka group.id) */
        const char *cluster; /* the sink's cluster (in conf) */
        const char *offsets_topic;
        int offsets_ready; /* under lock: the offsets topic is known to exist */
        /* under lock: which task holds each source partition in its open transaction */
        struct ks_holder *holders[KS_HOLDER_BUCKETS];
        /* under lock: tasks whose init_transactions still runs (ks_txn_task_open);
         * init_cond is signalled as each one ends */
        int inits_running;
        pthread_cond_t init_cond;
} ks_group_t;

typedef struct ks_task {
        ks_group_t *grp;
        ks_producer_t *prod; /* the group's; a task's own for exactly_once */
        pthread_mutex_t lock;
        pthread_cond_t cond; /* a delivery report arrived */
        ks_part_t *parts, *last;
        int64_t in_flight; /* under lock */
        _Atomic int64_t acked;
        int failed;      /* under lock: a record could not be delivered */
        char error[256]; /* under lock */
        /* under lock: records whose delivery failed for good, oldest first, handed back
         * (kp_sink_refused); each one's ks_msg_t stays in flight, holding precommit, until
         * refused_done */
        struct ks_refused *ref_head, *ref_tail;
        int orphan; /* under lock: closed, freed by its last delivery report */
        struct ks_task *prev_orphan, *next_orphan; /* under grp->lock */
        /* exactly_once, the task's thread only: a transaction is open; its commit was
         * asked and did not finish (retried by the next flush); records put in it. */
        int txn_open, committing;
        int64_t txn_records;
        rd_kafka_topic_t *offsets_rkt; /* the offsets topic, once used */
        /* exactly_once: init_transactions runs on a thread of its own from the open
         * (init_started) until the task's thread first needs the producer and joins it
         * (ks_txn_ready); init_error ("" when it succeeded) is written by that thread
         * before it ends, read only after the join. */
        pthread_t init_thread;
        int init_started;
        char init_error[512];
} ks_task_t;

/* sink_kafka.c: a producer on the cluster sink document @p conf names (transactional.id
 * @p txn_id unless NULL), its poller running; NULL with errstr. */
ks_producer_t *ks_producer_new(const json_t *conf, const char *group, const char *txn_id,
                               char *errstr, size_t errstr_size);
void ks_producer_destroy(ks_producer_t *prod);
/* sink_kafka.c: 1 when sink document @p conf asks for exactly_once. */
int ks_eos(const json_t *conf);
/* sink_kafka.c: FATAL with errstr when @p t cannot take records any more (a failed record,
 * the producer's fatal error), else OK. Takes its lock. */
kp_sink_status_t ks_state(ks_task_t *t, char *errstr, size_t errstr_size);
/* sink_kafka.c: marks @p t failed with @p why (takes its lock), first error kept. */
void ks_task_fail(ks_task_t *t, const char *why);

/* sink_kafka_txn.c: exactly_once. ks_txn_task_open makes task @p task's transactional
 * producer (transactional.id kp_sink_kafka_txn_id) and starts fencing its zombie
 * (init_transactions, on a thread of its own: a group's tasks fence theirs at once). ks_txn_begin
 * opens a transaction when none is. ks_txn_flush commits the open one with the consumed positions
 * inside. ks_txn_precommit reports what committed transactions hold. ks_txn_task_close aborts an
 * open one and frees the producer. */
int ks_txn_task_open(ks_task_t *t, int task, char *errstr, size_t errstr_size);
kp_sink_status_t ks_txn_begin(ks_task_t *t, char *errstr, size_t errstr_size);
kp_sink_status_t ks_txn_flush(ks_task_t *t, int64_t deadline_ms, char *errstr, size_t errstr_size);
void ks_txn_precommit(ks_task_t *t, kp_sink_offset_t *offs, size_t n);
/* sink_kafka_txn.c: @p kp's first record of a transaction: @p t holds its partition in its
 * open transaction, unless another task already does (records of one partition dealt over
 * tasks, or a hand-over whose commit did not finish): then FATAL with errstr, and @p t
 * fails. ks_txn_holders_free frees a closing group's table. */
kp_sink_status_t ks_txn_hold(ks_task_t *t, ks_part_t *kp, char *errstr, size_t errstr_size);
void ks_txn_holders_free(ks_group_t *g);
void ks_txn_task_close(ks_task_t *t);
/* sink_kafka_txn.c: kp_sink_ops_t.resume (same cluster: the group's committed offsets,
 * waiting for pending transactions; across: the offsets topic). */
int ks_txn_resume(void *group, kp_sink_offset_t *offs, size_t n, char *errstr, size_t errstr_size);

/* sink_kafka_offsets.c: the offsets topic of exactly_once across clusters. ks_offsets_ensure
 * creates it on @p g's cluster (compacted) unless it exists. ks_offsets_produce writes, in
 * @p t's open transaction, the position of each partition whose transaction moved it
 * (txn_next). ks_offsets_read fills each of @p n entries' acked with the last position
 * recorded for it (-1: none), read to the end of the topic with read_committed. */
int ks_offsets_ensure(ks_group_t *g, char *errstr, size_t errstr_size);
int ks_offsets_produce(ks_task_t *t, char *errstr, size_t errstr_size);
int ks_offsets_read(ks_group_t *g, kp_sink_offset_t *offs, size_t n, char *errstr,
                    size_t errstr_size);
/* The offsets topic's key of a source partition: {"group":...,"cluster":...,"topic":...,
 * "partition":n} (one spelling, so compaction keeps the last of each). */
int ks_offsets_key(const char *group, const char *cluster, const char *topic, int32_t partition,
                   char *out, size_t size);

#endif /* KP_SINK_KAFKA_INT_H */
