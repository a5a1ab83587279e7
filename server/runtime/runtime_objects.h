/* runtime_objects.h — internal: a running group's objects (clusters with their consumer and
 * workers, topics, partitions, tasks, tasksets), made and freed for runtime.c and apply. */
#ifndef KP_RUNTIME_OBJECTS_H
#define KP_RUNTIME_OBJECTS_H

#include "runtime/runtime_int.h"

/* A new cluster @p ref of @p g on its home lane (runtime_lane.c); NULL with errstr set. */
rt_cluster_t *rt_cluster_new(rt_group_t *g, const kp_cluster_ref_t *ref, char *errstr,
                             size_t errstr_size);
/* Frees a cluster whose partitions are off their lanes (leaves its home lane if it had
 * not, without waiting for a close). */
void rt_cluster_destroy(rt_cluster_t *cl);
/* @p g's cluster named @p name, or NULL. Caller holds op_lock or g->lock. */
rt_cluster_t *rt_group_cluster(rt_group_t *g, const char *name);
/* @p cl's topic @p name (the group's partitions of it), created when new; NULL when out of
 * memory. Caller holds op_lock and g->lock. */
rt_topic_t *rt_cluster_topic_add(rt_cluster_t *cl, const char *name);
/* The partition @p partition of @p tp, or NULL. Lock-free. */
rt_part_t *rt_topic_part(rt_topic_t *tp, int32_t partition);
/* A new partition of @p g, released (no owner) and published in its topic's table; NULL
 * when out of memory. Caller holds op_lock and g->lock. */
rt_part_t *rt_part_new(rt_group_t *g, rt_cluster_t *cl, rt_topic_t *tp, int32_t partition);
/* Task @p index of @p g with its own sink, idle; NULL with errstr set. */
rt_task_t *rt_task_new(rt_group_t *g, int index, int absent, char *errstr, size_t errstr_size);
/* Closes the task's sink and frees it. NULL does nothing. */
void rt_task_destroy(rt_task_t *t);
/* A taskset of @p tasks for rebalance fan-out, kept in g->tasksets until the group ends.
 * Caller holds op_lock. */
rt_taskset_t *rt_taskset_new(rt_group_t *g, rt_task_t **tasks, int n);

#endif /* KP_RUNTIME_OBJECTS_H */
