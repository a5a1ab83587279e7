/* runtime_int.h — internal: the runtime's data structures, shared by the runtime_*.c files. */
#ifndef KP_RUNTIME_INT_H
#define KP_RUNTIME_INT_H

#include "base/config.h"
#include "runtime/runtime.h"
#include "sinks/sink.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

/*
 * Locks, outermost first: rt->lock (registry) > g->op_lock (one slow operation at a
 * time: start, apply, commit round, stop) > rt->lanes_lock (runtime_lane.c) > g->lock
 * (the arrays below) > part->lock
 * (several only in apply, for librdkafka's seek and resume of those it moved) > task->lock
 * > lane->mlock > g->err_lock (leaf). Workers take one part->lock and then one task->lock at a time
 * per batch; nothing holds a part->lock across a sink flush or a commit (a plan change marks the
 * partitions it moves held instead, runtime_apply.c). Arrays change only with both op_lock and lock
 * held, so holding either reads them.
 */

typedef struct rt_group rt_group_t;
typedef struct rt_cluster rt_cluster_t;
typedef struct rt_lane rt_lane_t;

typedef enum rt_task_state {
        RT_TASK_RUNNING = 0,
        RT_TASK_IDLE = 1,
        RT_TASK_STOPPED = 2,
        RT_TASK_FAILED = 3
} rt_task_state_t;

/* Records and key+value bytes a task's sink took in all, after some put. */
typedef struct rt_flow_mark {
        int64_t rec, bytes;
} rt_flow_mark_t;

/* What a task's sink holds unacknowledged, in bytes (runtime_flow.c): the totals taken and
 * the totals after each put not yet acknowledged (marks), above the last acknowledged
 * one (base). The sink counts acknowledged records; the marks turn that into bytes. */
typedef struct rt_flow {
        rt_flow_mark_t total, base;
        rt_flow_mark_t marks[KP_RUNTIME_FLOW_MARKS];
        int nmarks;
} rt_flow_t;

typedef struct rt_task {
        int index;
        pthread_mutex_t lock; /* serialises its sink */
        kp_sink_t *sink;      /* under lock */
        /* Under lock: the partitions its sink took records from and has not acknowledged
         * all of (runtime_worker.c: the worker adds, the commit round clears). */
        struct rt_taken *taken;
        int ntaken, taken_cap;
        _Atomic int state; /* rt_task_state_t */
        int partitions;    /* owned partitions; under g->lock */
        _Atomic int64_t messages;
        _Atomic int64_t bytes;
        _Atomic double rate; /* messages/s, smoothed by the control thread */
        int64_t rate_last;   /* control thread only */
        char error[256];     /* under lock, set when failed */
        rt_flow_t flow;      /* under lock */
        /* Taken and not acknowledged, as last computed (status, metrics). */
        _Atomic int64_t in_flight_bytes;
        char sink_error[256]; /* under g->err_lock: the sink's last error ("" none) */
        /* errors.tolerance "all" (runtime_worker.c): the dead-letter sink (under lock), the
         * partitions it took records from and has not acknowledged all of, as taken above,
         * and the records it took (status, metrics). */
        kp_sink_t *dlq;
        struct rt_taken *dlq_taken;
        int dlq_ntaken, dlq_taken_cap;
        _Atomic int64_t dead_letters;
} rt_task_t;

/* The tasks records of a partition are dealt to in rebalance fan-out; immutable once
 * published, kept until the group ends (retired sets are chained). */
typedef struct rt_taskset {
        int n;
        struct rt_taskset *retired_next;
        rt_task_t *tasks[];
} rt_taskset_t;

typedef struct rt_topic rt_topic_t;

typedef struct rt_part {
        rt_cluster_t *cl;
        rt_topic_t *tp; /* the group's topic (its name) */
        int32_t partition;
        int index; /* in g->parts */
        /* The lane it is assigned on and that lane's topic (runtime_lane.c), NULL while
         * out of the plan; written under op_lock and g->lock. */
        rt_lane_t *lane;
        rt_topic_t *ltp;
        int worker;              /* index of the lane worker whose queue it feeds */
        pthread_mutex_t lock;    /* held while one of its messages is handed to a sink */
        rt_task_t *owner;        /* under lock; NULL: released, messages are dropped */
        rt_taskset_t *fan;       /* under lock; non-NULL: records dealt round-robin */
        uint64_t rr;             /* under lock: next fan-out slot */
        _Atomic int owner_index; /* task number of owner, -1: none (for status) */
        int in_plan;             /* under g->lock */
        /* Next offset to hand to a sink: everything below it was taken. -1 unknown. */
        _Atomic int64_t next_offset;
        _Atomic int64_t committed; /* last offset committed by us or read at start */
        /* Under lock: after a move away from a failed task, the failed task's next_offset
         * (-1: none). Until the re-read reaches it, messages at or past it are ones fetched
         * before the seek, and are dropped. */
        int64_t resync_floor;
        /* A plan change hands it over (runtime_apply.c; written under lock): the worker
         * drops its records instead of waiting for the hand-over's commit. */
        _Atomic int held;
        /* Under lock: the first record the worker dropped, wanted, because the partition
         * was paused or held (-1: none). It is fetched again from a seek at or below it;
         * until a record at or below it arrives, records past it were fetched before that
         * seek (in the worker's hands already) and are dropped too, so none is taken past it. */
        int64_t refetch;
        /* Backpressure (runtime_flow.c): paused in librdkafka (written under lock, read
         * anywhere), to be resumed not before resume_at (mono ms; under lock). */
        _Atomic int paused;
        int64_t resume_at;
        _Atomic int64_t messages;
        _Atomic double rate;
        int64_t rate_last; /* control thread only */
        /* The last win_n (<= KP_LAG_WINDOW) (committed offset, high watermark) samples,
         * oldest first, written by the control thread only (under g->lock), and their
         * judgement for status. */
        int64_t win_pos[KP_LAG_WINDOW], win_hw[KP_LAG_WINDOW];
        int win_n;
        _Atomic int lag_state; /* kp_lag_state_t */
        /* Lag history (runtime_history.c), written by the control thread under g->lock:
         * the lag at the last sample (-1 unknown), and one lag every KP_HISTORY_PART_EVERY
         * samples in slot (partition sample number % g->hist.pcap); hist_n of them were
         * written since the partition joined (older slots are not its). */
        int64_t last_lag;
        int64_t hist_lag[KP_HISTORY_PART_SAMPLES];
        uint64_t hist_n;
        /* Lag in time (lag_time.c): the high watermark and the position at the last sample,
         * the high watermark at each partition sample (beside hist_lag), and the age in ms of
         * the oldest unread message they give (-1 unknown), for status and the overview. */
        int64_t last_hw, last_from;
        int64_t hist_hw[KP_HISTORY_PART_SAMPLES];
        _Atomic int64_t lag_ms;
} rt_part_t;

/* A running group's lag history: rings of the last cap samples of total lag (-1 none
 * known) and messages/s at unix ms t, and the times of the last pcap partition samples.
 * Fixed arrays in the group: sampling allocates nothing. Under g->lock. */
typedef struct rt_history {
        int cap, pcap;  /* slots in use: <= KP_HISTORY_SAMPLES, KP_HISTORY_PART_SAMPLES */
        uint64_t n, pn; /* samples taken since the start: group, partition */
        uint64_t pfrom; /* group samples before the partition samples began */
        int64_t t[KP_HISTORY_SAMPLES], lag[KP_HISTORY_SAMPLES];
        double rate[KP_HISTORY_SAMPLES];
        int64_t pt[KP_HISTORY_PART_SAMPLES];
} rt_history_t;

/* A lock-free lookup table partition number -> part for one topic: workers read the
 * published table, apply publishes a grown copy and retires the old one. */
typedef struct rt_ptable {
        int32_t cnt;
        struct rt_ptable *retired_next;
        rt_part_t *parts[];
} rt_ptable_t;

/* A topic of a group's cluster (its partitions of it) or of a lane (the partitions
 * assigned on the lane, any group's: rkt set, its opaque this struct, so message ->
 * partition is O(1)). */
struct rt_topic {
        char *name;
        rd_kafka_topic_t *rkt;
        _Atomic(rt_ptable_t *) table;
};

/* A cluster as one group reads it: its partitions are placed on the cluster's lanes
 * (runtime_lane.c); commits and committed-offset reads go through the home lane's handle
 * (admin API, under the group's id). */
struct rt_cluster {
        rt_group_t *g;
        char *name;
        char *bootstrap; /* and config: what its lanes are made with */
        json_t *config;
        rt_lane_t *lane; /* home: the first lane of its key, held until the group stops */
        rd_kafka_t *rk;  /* lane->rk */
        rt_topic_t **topics;
        int ntopics;
        /* Health, under g->err_lock: the last error seen ("" once the cluster worked
         * again: a commit or a probe answered after it), when it was seen (UTC), and how
         * many errors were recorded (a success clears only when none came after it started). */
        char last_error[256];
        char last_error_at[24];
        uint64_t err_gen;
        int commit_failing;       /* under op_lock: the last commit round here failed (logged) */
        int64_t failing_since_ms; /* under op_lock: when its commits began failing (monotonic) */
        /* under op_lock: a commit sent and not answered within its round, awaited by the
         * next round before it sends another, and the error count when it was sent */
        rd_kafka_queue_t *pending_q;
        uint64_t pending_gen;
};

/* When a group's periodic work is due next (mono ms), on the runtime's control thread. */
typedef struct rt_ctl_sched {
        int64_t next_commit, last_rate, next_rate, next_resume;
        int first; /* no rate sampled yet */
} rt_ctl_sched_t;

typedef struct rt_worker_arg {
        rt_lane_t *lane;
        int index;
} rt_worker_arg_t;

struct rt_group {
        kp_runtime_t *rt;
        char *name;
        json_t *sink_conf;      /* NULL: discard */
        kp_sink_group_t *sinks; /* under op_lock: the sink's group state, opened with task 0 */
        /* errors: tolerance "all" routes refused records to the dead-letter sink
         * (dlq_conf; its group state opened with task 0 too), "none" fails their task. */
        int tolerate;
        json_t *dlq_conf;
        kp_sink_group_t *dlq_sinks;
        int rebalance;
        int start_latest;
        int64_t max_in_flight; /* per task: sink max_in_flight_bytes */
        _Atomic int npaused;   /* partitions paused by backpressure */
        _Atomic int state;
        _Atomic int refcnt; /* registry + each caller holding it */
        char error[256];    /* under err_lock */
        /* A leaf lock for error texts: librdkafka calls the error callback from inside
         * its own calls (consumer_close too), where other locks may be held. */
        pthread_mutex_t err_lock;
        int plan_version;         /* under lock */
        int64_t retired_messages; /* under lock: counted by tasks a plan change removed */

        pthread_mutex_t op_lock;
        pthread_mutex_t lock;
        rt_task_t **tasks;
        int ntasks;
        rt_cluster_t **clusters;
        int nclusters;
        rt_part_t **parts; /* every partition ever assigned (released ones too) */
        int nparts;
        int parts_cap;
        rt_taskset_t *tasksets; /* current first, then retired */
        rt_ptable_t *retired_tables;
        rt_history_t hist; /* under lock */

        _Atomic int stop; /* workers and control thread leave */
        /* Set by a stop's last commit: until then a commit round stops waiting for its
         * answers once stop is set (the last commit sends the same offsets again), so a
         * cluster that does not answer costs a stop one commit timeout, not two. */
        _Atomic int final_commit;
        /* The control thread's schedule of it (runtime_ctl.c), from ctl_on (set once its
         * first plan is in force). */
        _Atomic int ctl_on;
        rt_ctl_sched_t sched;       /* control thread only */
        _Atomic int tasks_reserved; /* counted in rt->tasks for this group */
        rt_group_t *next;           /* registry */
};

struct kp_runtime {
        pthread_mutex_t lock;
        rt_group_t *groups;
        _Atomic int tasks;   /* tasks of every registered group, reserved before they start */
        int max_tasks;       /* KPLANE_MAX_TASKS */
        int history_samples; /* KPLANE_HISTORY_SAMPLES: a group's history ring */
        /* kp_runtime_set_commit_guard: asked before every commit (NULL: none) */
        int (*commit_guard)(void *arg);
        void *commit_guard_arg;
        /* The control thread (runtime_ctl.c), one for every group: woken early by a kick
         * (ctl_kicked under ctl_lock) and stopped by ctl_stop. */
        pthread_t ctl;
        int ctl_started;
        pthread_mutex_t ctl_lock;
        pthread_cond_t ctl_cond;
        int ctl_kicked, ctl_stop;
        /* Consumer lanes (runtime_lane.c): the registry and each lane's users. */
        pthread_mutex_t lanes_lock;
        rt_lane_t *lanes;
};

/* runtime_worker.c: a lane worker's body (arg: its rt_worker_arg_t, freed by it). */
void *rt_worker_main(void *arg);
/* runtime_offsets.c: reads group @p group's committed offsets of @p l through @p rk's admin
 * API (any client of the cluster: a lane's handle is not the group's), waiting at most
 * @p timeout_ms, into l's offsets (-1: none committed) and errs, as rd_kafka_committed.
 * @returns the request's error (per-partition errors in l). */
rd_kafka_resp_err_t rt_offsets_read(rd_kafka_t *rk, const char *group,
                                    rd_kafka_topic_partition_list_t *l, int timeout_ms);
/* runtime_ctl.c: the control thread's body (arg: the runtime); a group's schedule from now,
 * set before ctl_on; a kick wakes the thread now (a paused partition, a new group). */
void *rt_ctl_main(void *arg);
void rt_ctl_sched_init(rt_group_t *g);
void rt_ctl_kick(kp_runtime_t *rt);
/* runtime.c: 0 when the commit guard (kp_runtime_set_commit_guard) says this instance may
 * not commit now. */
int rt_commit_allowed(kp_runtime_t *rt);
/* runtime.c: every registered group, each with a reference held (*n of them; NULL when
 * none or out of memory), and their release. */
rt_group_t **rt_groups_hold(kp_runtime_t *rt, int *n);
void rt_groups_release(rt_group_t **all, int n);
/*
 * A commit round. Snapshots each partition's next_offset (of @p only, or all when NULL
 * with @p n ignored), flushes every task's sink (with @p only: those holding records of
 * them) and asks it how far each partition it took from is acknowledged, then commits per
 * partition the lower of the two when it is ahead of what was committed, waiting at most
 * @p timeout_ms per cluster. Sinks wait for
 * acknowledgements within that time on a hand-over (@p only) and at stop (g->stop), not
 * in the periodic rounds. Caller holds g->op_lock. @returns 0, or a negative kp_err_t when
 * a sink or a commit failed.
 */
int rt_commit(rt_group_t *g, rt_part_t **only, int n, int timeout_ms);
/*
 * A hand-over's first half without its commit: flushes the sinks of the tasks holding
 * records of the @p n partitions @p only (waiting for acknowledgements at most
 * @p timeout_ms) and notes what they acknowledged, as rt_commit does; the next round
 * commits it. Caller holds g->op_lock. @returns 0, or a negative kp_err_t when a sink failed.
 */
int rt_flush(rt_group_t *g, rt_part_t **only, int n, int timeout_ms);
/* Opens task @p t's sink (and the group's sink state first, with the first task). Caller
 * holds op_lock. @returns 0 or a negative kp_err_t with errstr set. */
int rt_task_sink_open(rt_group_t *g, rt_task_t *t, char *errstr, size_t errstr_size);
/* Closes @p t's sink (it delivers what it can) and frees what tracked it. */
void rt_task_sink_close(rt_task_t *t);
/* Closes the group's sink state, after every task's sink. */
void rt_group_sinks_close(rt_group_t *g);

/* runtime_flow.c: backpressure. rt_flow_taken notes a put of @p t (locked) that took
 * @p rec records of @p bytes. rt_task_in_flight @returns the bytes @p t's sink (locked)
 * holds unacknowledged and stores it for status. rt_task_over_limit: 1 when @p t (locked)
 * holds at least the group's max_in_flight_bytes even after a flush that waits for
 * nothing. rt_part_pause pauses @p p (locked) in librdkafka, its next fetch at @p offset,
 * not to be resumed before @p resume_at (mono ms; 0: when its tasks are below half the
 * limit); @returns 0, or -1 when it could not (not paused: the caller hands its records on,
 * nothing was dropped). rt_part_unpause resumes @p p (locked) if paused. rt_flow_resume (control
 * thread, op_lock held) resumes the paused partitions whose tasks are below half the
 * limit. rt_task_sink_error records @p t's sink's last error (takes err_lock). */
void rt_flow_taken(rt_task_t *t, int64_t rec, int64_t bytes);
int64_t rt_task_in_flight(rt_task_t *t);
int rt_task_over_limit(rt_group_t *g, rt_task_t *t);
int rt_part_pause(rt_part_t *p, int64_t offset, int64_t resume_at);
void rt_part_unpause(rt_part_t *p);
void rt_flow_resume(rt_group_t *g);
void rt_task_sink_error(rt_group_t *g, rt_task_t *t, const char *err);

/* runtime_health.c: a cluster's health, the only writer of cl->last_error*. rt_cluster_error
 * records an error (printf format) and stamps it; rt_cluster_error_gen says how many were
 * recorded so far, to pass to rt_cluster_ok when something that started then (a commit, a
 * probe) succeeded: that clears the error unless another came in between. All take
 * g->err_lock only (a leaf): callable from librdkafka callbacks. */
void rt_cluster_error(rt_cluster_t *cl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
uint64_t rt_cluster_error_gen(rt_cluster_t *cl, int *failed); /* @p failed: in error now */
void rt_cluster_ok(rt_cluster_t *cl, uint64_t gen);
/* runtime_health.c: @returns 1 when @p cl is in error, its text and UTC time copied to
 * @p last_error and @p at (either may be NULL), else 0. Takes g->err_lock. */
int rt_cluster_health_read(rt_cluster_t *cl, char *last_error, size_t last_error_size, char *at,
                           size_t at_size);

/* 1 when @p p's owner task failed (with fan-out: any task of its set): messages it took
 * may be in a sink buffer that was never written, so its offsets must not be committed
 * and a new owner must start again from the committed offset. Caller holds op_lock
 * (which every writer of p->owner and p->fan holds). */
int rt_part_owner_failed(const rt_part_t *p);

/* The runtime's Prometheus metrics, one section (HELP, TYPE, then a line per group and
 * label set) each, written in this order; each one's text and lines are in
 * runtime_status.c. A new metric is one more name here and its entry there. */
typedef enum rt_metric {
        RT_METRIC_GROUP_STATE,
        RT_METRIC_TASK_MESSAGES,
        RT_METRIC_TASK_BYTES,
        RT_METRIC_LAG,
        RT_METRIC_COMMITTED,
        RT_METRIC_HIGH_WATERMARK,
        RT_METRIC_CLUSTER_UP,
        RT_METRIC_PARTITIONS_BY_LAG_STATE,
        RT_METRIC_LAG_SECONDS,
        RT_METRIC_SINK_DELIVERED,
        RT_METRIC_SINK_RETRIES,
        RT_METRIC_SINK_DEAD_LETTERS,
        RT_METRIC_SINK_IN_FLIGHT_BYTES,
        RT_METRIC_COUNT
} rt_metric_t;

/* runtime_status.c, read-only over the group: fill @p doc (status); fill @p out (zeroed by
 * the caller); the HELP and TYPE lines of metric @p m; append @p g's lines of metric @p m. */
void rt_group_status_fill(rt_group_t *g, json_t *doc);
void rt_group_summary_fill(rt_group_t *g, kp_runtime_summary_t *out);
const char *rt_metrics_head(rt_metric_t m);
void rt_metrics_group(rt_group_t *g, kp_buf_t *out, rt_metric_t m);

/* runtime_history.c: sizes @p h's rings for @p samples (clamped to the compiled ones). */
void rt_history_init(rt_history_t *h, int samples);
/* runtime_history.c: takes one history sample of @p g from its partitions' last_lag and its
 * tasks' rates. Caller: the control thread, holding g->lock. O(tasks + partitions). */
void rt_history_sample(rt_group_t *g);
/* runtime_history.c: fills @p doc with @p g's history after unix ms @p since and its
 * @p top most lagging partitions (API.md "Lag history"). Takes g->lock. */
void rt_group_history_fill(rt_group_t *g, json_t *doc, int64_t since, int top);

#endif /* KP_RUNTIME_INT_H */
