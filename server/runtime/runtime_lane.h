/* runtime_lane.h — internal: consumer lanes, one librdkafka consumer and its worker threads
 * shared by every running group that reads a cluster (issue 12: threads grow with clusters,
 * not with groups). */
#ifndef KP_RUNTIME_LANE_H
#define KP_RUNTIME_LANE_H

#include "kafka/cluster_ref.h"
#include "runtime/runtime_int.h"

/*
 * A lane: one consumer handle of a cluster with one consumer configuration (its key), its
 * worker queues and threads, and its topics, whose tables map a partition to the one group
 * partition assigned on the handle (a partition can be assigned once per handle, so two
 * groups reading it take two lanes). Groups are never members of a Kafka group through it:
 * manual assignment, and commits go through the admin API under each group's own id.
 * Registry and users under rt->lanes_lock; tables published for lock-free readers.
 */
struct rt_lane {
        kp_runtime_t *rt;
        char *key; /* cluster name, bootstrap, configuration, offset reset */
        char *cluster;
        rd_kafka_t *rk;
        int nworkers;
        rd_kafka_queue_t **wq; /* one per worker; partition queues forward here */
        pthread_t *workers;
        int workers_started;
        /* Per worker: odd while it handles a batch (rt_lane_quiesce waits for those). */
        _Atomic uint64_t *busy;
        int next_worker;
        rt_topic_t **topics;
        int ntopics;
        rt_ptable_t *retired_tables;
        int users; /* group clusters at home here + partitions placed here; lanes_lock */
        _Atomic int stop;
        /* The last time a worker read a message (monotonic). */
        _Atomic int64_t last_read_ms;
        /* Group clusters that hear its errors (librdkafka's error callback), under mlock
         * (outside lanes_lock and g->op_lock, above g->err_lock). */
        pthread_mutex_t mlock;
        rt_cluster_t **members;
        int nmembers, members_cap;
        rt_lane_t *next;
};

/* The first lane of @p ref's cluster with @p g's consumer configuration, created with its
 * worker threads when none; @p cl becomes one of its users and members. NULL with errstr. */
rt_lane_t *rt_lane_home(rt_cluster_t *cl, const kp_cluster_ref_t *ref, char *errstr,
                        size_t errstr_size);
/* Places new partition @p p of @p cl (not placed) on the first lane of cl's home key where
 * its partition is not assigned yet (a new lane when none), publishes it in that lane's
 * table and forwards its queue to one of the lane's workers; then assign it there. Caller
 * holds op_lock (not g->lock). @returns 0 or a negative kp_err_t with errstr. */
int rt_lane_place(rt_cluster_t *cl, rt_part_t *p, char *errstr, size_t errstr_size);
/* Takes placed partitions @p parts (unassigned from their lanes already) off their lanes:
 * out of the tables, waits until no worker holds one of their records, and gives the lanes
 * back (a lane without users closes, until @p deadline_ms). Caller holds op_lock. */
void rt_lane_unplace(rt_group_t *g, rt_part_t **parts, int n, int64_t deadline_ms);
/* @p cl leaves its home lane (which closes when it has no users left, waiting at most until
 * @p deadline_ms, not at all with @p nowait) and every lane's members. */
void rt_lane_leave(rt_cluster_t *cl, int64_t deadline_ms, int nowait);
/* Serves every lane's own queue (error callbacks, logs); the control thread's. */
void rt_lanes_serve(kp_runtime_t *rt);
/* Before @p l is assigned on @p lane: when any of its offsets is logical (earliest, latest,
 * none), holds a handle of each of its topics and asks the cluster for their leaders (at
 * most KP_RUNTIME_LEADERS_WAIT_MS), so the assign's offset lookups go out at once. (Assigned
 * before the lane knows a partition's leader, librdkafka parks the lookup on a 500 ms timer
 * that the leader's arrival does not cut short: every fresh group read from earliest began
 * half a second late.) @returns the handles for rt_lane_topics_release (NULL: none held);
 * a failure only costs the wait it would have saved. */
rd_kafka_topic_t **rt_lane_learn_leaders(rt_lane_t *lane, const rd_kafka_topic_partition_list_t *l,
                                         int *n);
/* Releases rt_lane_learn_leaders's @p n handles (after the assign). */
void rt_lane_topics_release(rd_kafka_topic_t **h, int n);
/* Records an error of lane @p lane (printf format) for its members. */
void rt_lane_error(rt_lane_t *lane, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif /* KP_RUNTIME_LANE_H */
