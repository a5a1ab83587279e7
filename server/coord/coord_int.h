/* coord_int.h — the coordinator's state, shared by the files of server/coord/ (internal). */
#ifndef KP_COORD_INT_H
#define KP_COORD_INT_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdint.h>

#include "base/config.h"
#include "coord/coord.h"
#include "coord/coord_status.h"
#include "db/store.h"

/* One member the last DescribeConsumerGroups listed. */
typedef struct kp_coord_seen {
        char *instance_id; /* client.id */
        int leads;
} kp_coord_seen_t;

struct kp_coord {
        /* set at start, read-only afterwards */
        int solo;
        kp_coord_protocol_t protocol;
        int session_ms, heartbeat_ms;
        char *id, *url, *bootstrap;
        json_t *config;
        char group[KP_COORD_ID_MAX + 16], work_topic[KP_COORD_ID_MAX + 16],
                status_topic[KP_COORD_ID_MAX + 16], state_topic[KP_COORD_ID_MAX + 16];
        char joined_at[32];
        int status_partitions;
        int32_t broker_id; /* one broker of the coordination cluster, -1: none known */

        /* the coordination thread's own (created before it starts, destroyed after it ends) */
        rd_kafka_t *member, *producer, *reader;
        rd_kafka_queue_t *describe_q;
        int describe_pending;
        int64_t describe_sent_ms, next_describe_ms, next_status_ms;
        int describe_failing; /* logged once until it answers again */
        int member_err;       /* the membership's last error, logged once */
        pthread_t thread;
        int thread_started;
        int stop; /* atomic: set by kp_coord_stop */

        /* shared with readers (kp_coord_view): under lock */
        pthread_mutex_t lock;
        kp_coord_statuses_t statuses;
        kp_coord_seen_t *seen;
        size_t nseen;
        int64_t described_ms;    /* monotonic: last DescribeConsumerGroups answer, 0 none */
        const char *group_state; /* its state then (librdkafka's static name) */
        int self_leads;          /* from this instance's own assignment */
        /* this instance's report (kp_coord_report): written with its status record, at once
         * when it changed (report_dirty) */
        int64_t report_epoch;
        kp_coord_tasks_t report_tasks; /* owns its groups */
        int report_dirty;

        /* atomic: monotonic ms until which the lease holds (0: none) */
        int64_t lease_until_ms;

        /* the shared state (coord_state.c); NULL without a store */
        struct kp_coord_state *state;
};

/* This instance's own status record, last seen @p now, with its report (c->lock held: the
 * report's fields are read; every pointer borrowed). */
kp_coord_status_t kp_coord_status_self(const kp_coord_t *c, const char *now);

/* coord_member.c: the membership */

/* Creates the member consumer of @p c, subscribed to the work topic (classic cooperative-sticky
 * or KIP-848). @returns 0 or an error with errstr. */
int kp_coord_member_open(kp_coord_t *c, char *errstr, size_t errstr_size);
/* Polls the membership for up to KP_COORD_POLL_MS (rebalances are served here) and lists the
 * group's members when due. From the coordination thread only. */
void kp_coord_member_turn(kp_coord_t *c);
/* Closes the membership (LeaveGroup) and destroys the consumer. NULL member does nothing. */
void kp_coord_member_close(kp_coord_t *c);

/* coord_records.c: the status topic */

/* Creates the status producer and the status reader of @p c (every status partition from the
 * beginning). @returns 0 or an error with errstr. */
int kp_coord_records_open(kp_coord_t *c, char *errstr, size_t errstr_size);
/* Applies the status records that arrived, writes this instance's when due, serves delivery
 * reports. Never waits. From the coordination thread only. */
void kp_coord_records_turn(kp_coord_t *c);
/* Writes a tombstone for this instance and waits for it up to KP_COORD_STOP_TIMEOUT_MS, then
 * destroys the producer and the reader. */
void kp_coord_records_close(kp_coord_t *c);

/* coord_topics.c */

/* @returns a short-lived admin client of the coordination cluster (rd_kafka_destroy it) or
 * NULL with errstr. */
rd_kafka_t *kp_coord_admin_new(kp_coord_t *c, char *errstr, size_t errstr_size);

/* Creates the work and status topics of @p c when absent and reads the status topic's
 * partition count into c->status_partitions. @returns 0 or an error with errstr. */
int kp_coord_topics_ensure(kp_coord_t *c, char *errstr, size_t errstr_size);

/* coord_state.c: the state log */

/* Starts the applier of the state topic into @p store (from the offset it stored) and makes
 * the store write through the log (the leader's transactional producer). @returns 0 or an
 * error with errstr (kp_coord_state_close cleans up what was made). */
int kp_coord_state_open(kp_coord_t *c, struct kp_store *store, char *errstr, size_t errstr_size);
/* Refuses writes from now on (after the one in flight), stops the applier, drops the
 * producer. Nothing without a state. */
void kp_coord_state_close(kp_coord_t *c);

/* coord_broker.c */

/*
 * KIP-848 groups: the broker, not the member, decides the session timeout and the heartbeat
 * interval. Reads group.consumer.session.timeout.ms and group.consumer.heartbeat.interval.ms
 * of one broker (DescribeConfigs, within KP_KAFKA_METADATA_TIMEOUT_MS) into c->session_ms
 * and c->heartbeat_ms, so the list says the session that really applies and the lease is
 * not longer than it; kept as configured (and said) when they cannot be read.
 */
void kp_coord_broker_session(kp_coord_t *c);

#endif /* KP_COORD_INT_H */
