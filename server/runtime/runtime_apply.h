/* runtime_apply.h — internal: bringing a running group to a plan (start and live change). */
#ifndef KP_RUNTIME_APPLY_H
#define KP_RUNTIME_APPLY_H

#include "runtime/runtime_int.h"

/*
 * Brings @p g to @p plan (checked): clusters and tasks it needs, then moved partitions
 * handed over (committed first), released ones unassigned, new ones assigned, tasks beyond
 * its parallelism closed. @p initial: the group is starting (new partitions begin at
 * start_offset rather than at the earliest offset). Caller holds op_lock. @returns 0 or a
 * negative kp_err_t with errstr set (what already changed stays; a stop frees it).
 */
int rt_group_apply_plan(rt_group_t *g, const kp_rt_plan_t *plan, int initial, char *errstr,
                        size_t errstr_size);

/* Unassigns @p n partitions of @p g from their lanes and takes them off (rt_lane_unplace;
 * a lane left without users closes, until @p deadline_ms). Caller holds op_lock. */
void rt_parts_unassign(rt_group_t *g, rt_part_t **parts, int n, int64_t deadline_ms);

#endif /* KP_RUNTIME_APPLY_H */
