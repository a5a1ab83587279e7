/* discovery.h — reading partition counts from clusters: on demand and periodically. */
#ifndef KP_DISCOVERY_H
#define KP_DISCOVERY_H

#include <jansson.h>
#include <stddef.h>

struct kp_store;
struct kp_embedded;

/*
 * Reads topic @p topic's partition count from cluster @p cluster now and stores it.
 * @p create: 1 registers it (KP_ERR_EXISTS when already registered), 0 refreshes an
 * existing registration (KP_ERR_NOT_FOUND when absent). KP_ERR_UNPROCESSABLE when the
 * topic does not exist on the cluster, KP_ERR_UNAVAILABLE when the cluster does not
 * answer within @p timeout_ms. *docp (may be NULL) = the stored topic doc;
 * *changedp (may be NULL) = 1 when the partition count changed.
 */
int kp_discovery_topic(struct kp_store *st, struct kp_embedded *emb, const char *cluster,
                       const char *topic, int create, int timeout_ms, json_t **docp, int *changedp,
                       char *errstr, size_t errstr_size);

/* Same for a topic pattern @p pattern (POSIX extended regex, server/base/pattern.h):
 * resolves it against the cluster's topics (KP_ERR_INVALID, with why, when
 * kp_pattern_compile refuses it). */
int kp_discovery_pattern(struct kp_store *st, struct kp_embedded *emb, const char *cluster,
                         const char *pattern, int create, int timeout_ms, json_t **docp,
                         int *changedp, char *errstr, size_t errstr_size);

/* Called from the discovery thread after a registration's partitions changed. */
typedef void(kp_discovery_changed_cb_t)(void *opaque, const char *cluster);

typedef struct kp_discovery kp_discovery_t;

/* Starts a thread re-reading every registration each @p interval_s seconds.
 * @returns the thread's handle (stop with kp_discovery_stop) or NULL. */
kp_discovery_t *kp_discovery_start(struct kp_store *st, struct kp_embedded *emb, int interval_s,
                                   int timeout_ms, kp_discovery_changed_cb_t *cb, void *opaque);
/* Several instances: from now on a pass runs only while @p c leads the service (the leader's
 * pass records what changed for every instance; @p c must outlive the passes: call
 * kp_discovery_stop_begin before it stops). */
struct kp_coord;
void kp_discovery_leader_only(kp_discovery_t *d, struct kp_coord *c);
/* Wakes the thread for a pass now (e.g. after a registration). */
void kp_discovery_kick(kp_discovery_t *d);
/* Stops and joins the thread. NULL does nothing. */
/* Asks the thread to stop without waiting for it (a pass ends after its current read):
 * call kp_discovery_stop later to join and free. NULL does nothing. */
void kp_discovery_stop_begin(kp_discovery_t *d);
void kp_discovery_stop(kp_discovery_t *d);

#endif /* KP_DISCOVERY_H */
