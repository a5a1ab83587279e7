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

#endif /* KP_RUNTIME_APPLY_H */
