/* planner_int.h — internal interface between the planner's files (not public API). */
#ifndef KP_PLANNER_INT_H
#define KP_PLANNER_INT_H

#include "planner/planner.h"

/*
 * The validated input of one planning call as the strategy files see it: P partitions
 * in flat order, offset[t] the flat index of topic t's partition 0 (offset[K] == P).
 */
typedef struct kp_plan_ctx {
        const kp_plan_input_t *in;
        const size_t *offset; /* topic_cnt + 1 entries */
        size_t P;
        int32_t T;
        struct kp_plan_tally *tally; /* a strategy may fill it (see below) */
} kp_plan_ctx_t;

/*
 * What the analysis counts in a pass over the owners, when a strategy already knows it:
 * partitions per task and the partitions moved from previous_owner (counted as the
 * analysis does: previous owner >= 0 and different). A strategy that fills cnt (T entries,
 * zeroed by the caller) and moved sets filled; the analysis then skips its pass unless it
 * needs the weights' loads. tests/unit/test_planner_balanced.c checks the figures against
 * the owners.
 */
typedef struct kp_plan_tally {
        int64_t *cnt;
        int64_t moved;
        int filled;
} kp_plan_tally_t;

/* Each strategy (kp_strategy_desc_t.plan) writes ctx->P owners into @p owner. @returns 0 or
 * KP_ERR_NOMEM (KP_ERR_INTERNAL for a broken invariant, which would be a bug); flink and
 * range cannot fail. */
int kp_planner_balanced(const kp_plan_ctx_t *ctx, int32_t *owner);
int kp_planner_weighted(const kp_plan_ctx_t *ctx, int32_t *owner);
int kp_planner_flink(const kp_plan_ctx_t *ctx, int32_t *owner);
int kp_planner_range(const kp_plan_ctx_t *ctx, int32_t *owner);
int kp_planner_roundrobin(const kp_plan_ctx_t *ctx, int32_t *owner);

/* Fills plan->analysis from plan->owner. @returns 0 or KP_ERR_NOMEM. */
int kp_planner_analyse(const kp_plan_ctx_t *ctx, kp_plan_t *plan);

/* Flink's per-task partition counts at @p T for these topics: counts[T] (caller's).
 * Cost O(K + T). */
void kp_planner_flink_counts(const kp_plan_topic_t *topics, size_t topic_cnt, int32_t T,
                             int64_t *counts);

#endif /* KP_PLANNER_INT_H */
