/* coord.h — several kplane instances as one service: membership through a Kafka consumer group. */
#ifndef KP_COORD_H
#define KP_COORD_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "coord/coord_view.h"

struct kp_store;

typedef struct kp_coord kp_coord_t;

/* The group protocol membership runs on (KPLANE_GROUP_PROTOCOL). */
typedef enum kp_coord_protocol {
        KP_COORD_CLASSIC = 0,  /* classic, cooperative-sticky: sessions down to 6 s */
        KP_COORD_CONSUMER = 1, /* KIP-848: the broker's session timeout (45 s at least) */
} kp_coord_protocol_t;

/* What an instance joins with (every pointer borrowed for the call only). */
typedef struct kp_coord_opts {
        const char *bootstrap; /* the coordination cluster (KPLANE_COORDINATION) */
        const json_t *config;  /* its librdkafka properties, allow-listed; may be NULL */
        const char *service;   /* KPLANE_SERVICE: group _kplane-<service>, its topics */
        const char *instance_id, *url;
        int session_timeout_ms;
        kp_coord_protocol_t protocol;
        /* the database the state log is applied to and written through (the service's
         * shared state); NULL: membership only */
        struct kp_store *store;
} kp_coord_opts_t;

/*
 * Joins the service: checks the config against the allow-list, creates the work and status
 * topics if absent (admin API), then starts the coordination thread, which stays a member of
 * group _kplane-<service> (heartbeats, assign/revoke), keeps the lease, writes this instance's
 * status record every KP_COORD_STATUS_INTERVAL_MS and reads everyone's. Blocks up to
 * KP_COORD_START_TIMEOUT_MS. @returns the coordinator (kp_coord_stop it) or NULL with errstr.
 */
kp_coord_t *kp_coord_start(const kp_coord_opts_t *o, char *errstr, size_t errstr_size);

/* A single process (no KPLANE_COORDINATION): no Kafka, no thread; its view lists only
 * itself, as leader. @returns it (kp_coord_stop it) or NULL when out of memory. */
kp_coord_t *kp_coord_solo_new(const char *instance_id, const char *url);

/*
 * Leaves the service cleanly: closes the membership (LeaveGroup, so the others rebalance at
 * once rather than after the session timeout), writes a tombstone for this instance's status
 * record (bounded by KP_COORD_STOP_TIMEOUT_MS), joins the thread, frees. NULL does nothing.
 */
void kp_coord_stop(kp_coord_t *c);

/*
 * The service as this instance sees it now: the live members (DescribeConsumerGroups,
 * refreshed every KP_COORD_DESCRIBE_INTERVAL_MS; only this instance until it answered, or
 * when it did not for a session timeout) joined with the status records. Thread-safe, no I/O.
 * @returns 0 with @p view filled (kp_coord_view_cleanup it) or KP_ERR_NOMEM.
 */
int kp_coord_view(kp_coord_t *c, kp_coord_view_t *view);

/*
 * 1 while this instance may act as a member: the coordinator listed it (its current member
 * id) less than a session timeout minus a heartbeat interval ago, on the monotonic clock, and
 * librdkafka has not reported its assignment lost since. Always 1 for a single process.
 * What a commit checks first (a stopped or cut-off process wakes up with no lease).
 */
int kp_coord_lease_held(kp_coord_t *c);

/* 1 when this instance is one of several (KPLANE_COORDINATION), 0 for a single process. */
int kp_coord_shared(const kp_coord_t *c);

/* 1 when this instance owns partition 0 of the work topic (the leader). */
int kp_coord_leads(kp_coord_t *c);

/*
 * Says what this instance runs (issue 15's shared work): the placement @p epoch it has acted
 * on and the @p n sorted tasks @p running (copied). Written with its status record at once,
 * so the others see it (coord_tasks.h: a task moves only once its old owner said it let go).
 * @returns 0 or KP_ERR_NOMEM (the previous report stays).
 */
int kp_coord_report(kp_coord_t *c, int64_t epoch, const kp_coord_task_t *running, size_t n);

/*
 * The state log (issue 15 step 2). Where this instance sends a write: 1 when it leads (it
 * writes itself), 0 with @p url filled when another instance leads (forward it there),
 * KP_ERR_UNAVAILABLE when no leader is known yet or its URL is not (no status record read).
 * Always 1 for a single process or without a shared state.
 */
int kp_coord_write_target(kp_coord_t *c, char *url, size_t url_size);
/* The offset after the last state record this database applied; -1 without a state log. */
int64_t kp_coord_state_next(kp_coord_t *c);
/* Waits up to @p timeout_ms until kp_coord_state_next reaches @p next. @returns 0, or
 * KP_ERR_UNAVAILABLE on timeout or stop (0 at once without a state log). */
int kp_coord_state_wait(kp_coord_t *c, int64_t next, int timeout_ms);

/* This instance's id (borrowed, lives as long as @p c). */
const char *kp_coord_instance_id(const kp_coord_t *c);

#endif /* KP_COORD_H */
