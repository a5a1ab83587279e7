/* runtime.h — managed consumer tasks that apply a plan: start, live plan change, stop, status. */
#ifndef KP_RUNTIME_H
#define KP_RUNTIME_H

#include "base/util.h"
#include "kafka/cluster_ref.h"
#include "runtime/lag_eval.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The runtime runs groups. A running group has one task per plan task; each task reads
 * exactly the partitions the plan gives it (from any number of clusters) and hands
 * every message to its own sink instance. Offsets are committed under the group's name
 * as Kafka group.id, at least once: an offset is committed only after the sink took
 * (and flushed) the message. All functions are thread-safe.
 */
typedef struct kp_runtime kp_runtime_t;

typedef enum kp_group_state {
        KP_GROUP_STOPPED = 0,
        KP_GROUP_STARTING = 1,
        KP_GROUP_RUNNING = 2,
        KP_GROUP_STOPPING = 3,
        KP_GROUP_FAILED = 4
} kp_group_state_t;

/* @returns the API name of @p state ("running"), a static string. */
const char *kp_group_state_name(int state);

/* @returns a new runtime with no groups, or NULL with errstr set. */
kp_runtime_t *kp_runtime_new(char *errstr, size_t errstr_size);
/*
 * Caps the tasks of every running group together at @p max_tasks (KPLANE_MAX_TASKS;
 * default KP_MAX_TASKS_DEFAULT). A start or apply that would pass it is
 * KP_ERR_UNPROCESSABLE and changes nothing. Call before groups start.
 */
void kp_runtime_set_max_tasks(kp_runtime_t *rt, int max_tasks);
/*
 * Several instances (issue 15): every commit (a periodic round, a plan change's hand-over, a
 * stop's last commit) first asks @p held(@p arg); when it answers 0 the commit is skipped
 * (nothing flushed, nothing committed: an instance that lost its lease may have lost its
 * tasks, and their new owner's offsets must never go backwards). NULL: always commit.
 * Call before groups start.
 */
void kp_runtime_set_commit_guard(kp_runtime_t *rt, int (*held)(void *arg), void *arg);

/* @returns the tasks of every running group together (what the cap counts). */
int kp_runtime_task_count(kp_runtime_t *rt);

/* Stops every group (drain, commit, close; all groups at once, within
 * KP_RUNTIME_STOP_WAIT_MS) and frees the runtime. NULL does nothing. */
void kp_runtime_destroy(kp_runtime_t *rt);

/* One partition of a plan: its cluster by index in the plan's clusters[]. */
typedef struct kp_rt_plan_part {
        int cluster;
        const char *topic; /* borrowed */
        int32_t partition;
} kp_rt_plan_part_t;

/* The partitions one task of a plan reads. */
typedef struct kp_rt_plan_task {
        kp_rt_plan_part_t *parts;
        size_t nparts;
} kp_rt_plan_task_t;

/*
 * A plan as the runtime runs it: parallelism tasks run; task i reads tasks[i] for
 * i < ntasks (<= parallelism), the tasks from ntasks to parallelism - 1 read nothing (idle,
 * or dealt records in rebalance fan-out, like a task with an empty list). Every partition
 * appears at most once. clusters[] holds every cluster a partition names (each gets one
 * consumer). Everything is borrowed from whoever built the plan (kp_rt_plan_from_json in
 * runtime_plan.h builds one from a plan document).
 */
typedef struct kp_rt_plan {
        int version;
        int parallelism;
        kp_rt_plan_task_t *tasks;
        int ntasks;
        kp_cluster_ref_t *clusters;
        int nclusters;
        /* Several instances (issue 15): parallelism entries, 1 for a task another instance
         * runs: it reads nothing here and opens no sink (an exactly_once producer with its
         * transactional.id would fence the real owner's). NULL: every task runs here. A
         * rebalance fan-out group runs whole or not at all (KP_ERR_INVALID otherwise). */
        const unsigned char *absent;
} kp_rt_plan_t;

/*
 * Starts group @p group on @p plan (both borrowed) and returns once every task runs.
 * @p group: the group document (name, rebalance, start_offset "earliest"|"latest",
 *   sink {...}; other fields ignored). Each partition starts at the group's committed
 *   offset, else at start_offset.
 * @returns 0; KP_ERR_CONFLICT when the group runs already; KP_ERR_INVALID for a bad
 * document, plan (kp_rt_plan_check) or client config; KP_ERR_UNAVAILABLE when a cluster
 * cannot be set up; KP_ERR_UNPROCESSABLE when its parallelism would pass the process's
 * task cap (errstr names it).
 */
int kp_runtime_start(kp_runtime_t *rt, const json_t *group, const kp_rt_plan_t *plan, char *errstr,
                     size_t errstr_size);

/*
 * Switches running group @p group to @p plan (borrowed). Only partitions whose owner
 * changes move: the old owner finishes the message in hand, its sink is flushed and the
 * offset committed before the new owner reads the partition, so no partition is read by
 * two tasks at any moment and nothing is lost. Partitions new to the group start at their
 * committed offset, else at the earliest offset (they were discovered while running).
 * Partitions the plan no longer names are committed and released. Tasks are added or
 * removed to match the plan's parallelism.
 * A plan older than the one running (a lower version) is refused: two replans racing to
 * apply cannot leave the older one in force. The same version is applied again (what
 * already runs moves nothing).
 * @returns 0, KP_ERR_NOT_FOUND when the group is not running, KP_ERR_CONFLICT when it is
 * starting or runs a newer plan (nothing changes), KP_ERR_INVALID,
 * KP_ERR_UNPROCESSABLE when more tasks would pass the process's cap (nothing changes).
 */
int kp_runtime_apply(kp_runtime_t *rt, const char *group, const kp_rt_plan_t *plan, char *errstr,
                     size_t errstr_size);

/*
 * kp_runtime_start with the plan as a document (kp_rt_plan_from_json: version,
 * parallelism, tasks[].partitions[] of {cluster, topic, partition}) and @p clusters an
 * object cluster name -> {"bootstrap_servers": str, "config": {props}} holding at least
 * every cluster the plan names. All borrowed. Same results.
 */
int kp_runtime_group_start(kp_runtime_t *rt, const json_t *group, const json_t *plan,
                           const json_t *clusters, char *errstr, size_t errstr_size);

/* kp_runtime_apply with the plan as a document, like kp_runtime_group_start. */
int kp_runtime_group_apply(kp_runtime_t *rt, const char *group, const json_t *plan,
                           const json_t *clusters, char *errstr, size_t errstr_size);

/*
 * Stops group @p group: every task finishes the message in hand, sinks are flushed,
 * offsets committed and the consumers closed, waiting at most @p wait_ms (<= 0: the
 * default KP_RUNTIME_STOP_WAIT_MS) for the clusters. @returns 0 (also when a commit
 * timed out: what was not committed is read again, at least once), KP_ERR_NOT_FOUND
 * when it is not running, KP_ERR_CONFLICT when a stop is already under way.
 */
int kp_runtime_group_stop(kp_runtime_t *rt, const char *group, int wait_ms, char *errstr,
                          size_t errstr_size);

/*
 * @returns the kp_group_state_t of @p group (KP_GROUP_STOPPED when unknown); when it
 * is KP_GROUP_FAILED and @p errstr is given, the reason is written there.
 */
int kp_runtime_group_state(kp_runtime_t *rt, const char *group, char *errstr, size_t errstr_size);

/*
 * @returns the status document of API.md ("Running groups": group, state,
 * plan_version, tasks[], partitions[], totals; "error" when failed) as a new reference
 * (caller json_decref's), or NULL when the group is not running. Reads nothing from
 * the network: high watermarks are librdkafka's cached values from fetch responses.
 */
json_t *kp_runtime_group_status(kp_runtime_t *rt, const char *group);

/* A running group in figures: what an overview of many groups needs, without the
 * per-partition arrays of the status document. */
typedef struct kp_runtime_summary {
        int state; /* kp_group_state_t */
        int plan_version;
        int tasks, tasks_running, tasks_idle, tasks_failed;
        int partitions;        /* in the plan */
        int64_t messages;      /* taken since the start */
        double messages_per_s; /* the tasks' smoothed rates together */
        int64_t lag;           /* sum of the known lags */
        int64_t lag_ms;        /* age of the oldest unread message of any partition, -1 unknown */
        int lag_unknown;       /* partitions whose lag is not known yet */
        /* partitions by their kp_lag_state_t (Burrow's rules over the lag window) */
        int lag_states[KP_LAG_STALLED + 1];
        /* the window's growth, in messages/s over all partitions: of the high watermarks
         * (produced) and of the positions (consumed); 0 with fewer than two samples */
        double produced_per_s, consumed_per_s;
        int clusters_in_error;
        char error[256]; /* why, when failed; else "" */
} kp_runtime_summary_t;

/*
 * Fills @p out for running group @p group. Reads nothing from the network; O(tasks +
 * partitions) under the group's lock. @returns 0, or KP_ERR_NOT_FOUND (not running: *out
 * zeroed, state KP_GROUP_STOPPED).
 */
int kp_runtime_group_summary(kp_runtime_t *rt, const char *group, kp_runtime_summary_t *out);

/*
 * Fills @p doc with running group @p group's lag history (API.md "Lag history": "state",
 * "interval_ms", "capacity", "samples" {t, lag, messages_per_s} after unix ms @p since,
 * "partition_interval_ms", "partition_capacity", "partition_t", and "partitions": the
 * @p top most lagging, each with its "lag" per partition_t). Reads nothing from the
 * network; O(partitions x top) under the group's lock. @returns 0, or KP_ERR_NOT_FOUND
 * (not running: @p doc untouched).
 */
int kp_runtime_group_history(kp_runtime_t *rt, const char *group, int64_t since, int top,
                             json_t *doc);

/* Shortens every group's history ring to @p samples (<= KP_HISTORY_SAMPLES; tests). */
void kp_runtime_set_history_samples(kp_runtime_t *rt, int samples);

/*
 * What the running groups know of cluster @p cluster: @returns 1 when some group reads it
 * and none has it in error, 0 when one has it in error (its text and UTC time copied to
 * @p last_error and @p at, either may be NULL), -1 when no running group reads it.
 * Reads nothing from the network.
 */
int kp_runtime_cluster_health(kp_runtime_t *rt, const char *cluster, char *last_error,
                              size_t last_error_size, char *at, size_t at_size);

/*
 * Measured rates of @p group for the weighted strategy: *ratesp = new array of
 * {"cluster", "topic", "partition", "weight": messages/s} (caller json_decref's).
 * @returns 0 or KP_ERR_NOT_FOUND.
 */
int kp_runtime_group_rates(kp_runtime_t *rt, const char *group, json_t **ratesp);

/*
 * Appends the runtime's Prometheus lines (with HELP/TYPE) to @p out:
 * kplane_group_state{group,state}, kplane_task_messages_total{group,task},
 * kplane_task_bytes_total{group,task},
 * kplane_consumergroup_lag{group,cluster,topic,partition}.
 */
void kp_runtime_metrics_write(kp_runtime_t *rt, kp_buf_t *out);

#endif /* KP_RUNTIME_H */
