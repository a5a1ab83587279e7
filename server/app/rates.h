/* rates.h — messages/s per partition of a group that is not running, sampled from the
 * log ends of its clusters. */
#ifndef KP_APP_RATES_H
#define KP_APP_RATES_H

#include <stddef.h>

#include "planner/planner.h"

struct kp_store;
struct kp_embedded;

/*
 * Measures messages/s per partition of @p topics from two end-offset readings
 * KP_WEIGHT_SAMPLE_MS apart (the caller's thread sleeps that long): what the weighted
 * strategy balances when the group is not running. Costs two ListOffsets rounds per
 * cluster and the wait. *weightsp = flat weights (free()), or NULL when nothing moved
 * (or a cluster did not answer: counts are then balanced instead).
 */
void kp_app_rates_sample(struct kp_store *st, struct kp_embedded *emb, int timeout_ms,
                         const kp_plan_topic_t *topics, size_t n, double **weightsp);

#endif /* KP_APP_RATES_H */
