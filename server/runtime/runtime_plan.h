/* runtime_plan.h — the runtime's typed plan: its checks, and the adapter from a plan document. */
#ifndef KP_RUNTIME_PLAN_H
#define KP_RUNTIME_PLAN_H

#include "runtime/runtime.h"

#include <jansson.h>
#include <stddef.h>

/*
 * Checks @p plan as kp_runtime_start / kp_runtime_apply take it: parallelism
 * 1..KP_PARALLELISM_MAX, ntasks 1..parallelism, every part naming a cluster of clusters[]
 * that has a name and a bootstrap address, a valid topic and a partition
 * 0..KP_PARTITIONS_PER_TOPIC_MAX-1. A partition named twice is found when the plan is
 * applied. O(partitions). @returns 0 or KP_ERR_INVALID with errstr naming the field.
 */
int kp_rt_plan_check(const kp_rt_plan_t *plan, char *errstr, size_t errstr_size);

/*
 * Reads plan document @p plan (version, parallelism, tasks[] of {task, partitions[] of
 * {cluster, topic, partition}}) with cluster documents @p clusters (object name ->
 * {"bootstrap_servers", "config"}) into @p out: tasks in "task" order (array order when
 * absent), parallelism from "parallelism" (the number of tasks listed when absent; never
 * fewer), clusters[] the ones the partitions name, in order of first mention. The strings
 * and configs in @p out are borrowed from @p plan and @p clusters: keep both while @p out
 * is used, and release @p out with kp_rt_plan_cleanup (also after an error). @returns 0,
 * KP_ERR_INVALID with errstr naming the field ("plan.tasks[1].partitions[0]: ..."),
 * KP_ERR_NOMEM.
 */
int kp_rt_plan_from_json(const json_t *plan, const json_t *clusters, kp_rt_plan_t *out,
                         char *errstr, size_t errstr_size);

/* Frees what kp_rt_plan_from_json allocated in @p plan and zeroes it. NULL does nothing. */
void kp_rt_plan_cleanup(kp_rt_plan_t *plan);

#endif /* KP_RUNTIME_PLAN_H */
