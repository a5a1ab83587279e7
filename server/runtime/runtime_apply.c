/* runtime_apply.c — bringing a running group to a plan as named steps: the partitions that
 * change owner are handed over (committed first), released ones unassigned, new ones
 * assigned at their committed offsets. */
#include "runtime/runtime_apply.h"

#include "base/err.h"
#include "base/util.h"
#include "runtime/runtime_lane.h"
#include "runtime/runtime_objects.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The distinct lanes of @p n partitions (placed ones; a group's partitions of a cluster
 * are on one lane unless other groups read them too), *@p nl of them; NULL when out of
 * memory (*@p nl 0: nothing is done). Free it. */
static rt_lane_t **parts_lanes(rt_part_t **parts, int n, int *nl)
{
        rt_lane_t **lanes = calloc((size_t)n + 1, sizeof(*lanes));
        *nl = 0;
        for (int i = 0; lanes && i < n; i++) {
                int j;
                if (!parts[i]->lane)
                        continue;
                for (j = *nl - 1; j >= 0 && lanes[j] != parts[i]->lane; j--)
                        ;
                if (j < 0)
                        lanes[(*nl)++] = parts[i]->lane;
        }
        return lanes;
}

/* The list of those of @p n partitions that are on @p lane. */
static rd_kafka_topic_partition_list_t *lane_list(rt_lane_t *lane, rt_part_t **parts, int n)
{
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
        for (int i = 0; i < n; i++)
                if (parts[i]->lane == lane)
                        rd_kafka_topic_partition_list_add(l, parts[i]->tp->name,
                                                          parts[i]->partition);
        return l;
}

/*
 * Seeks each of @p n partitions to @p at[i] (RD_KAFKA_OFFSET_INVALID: not at all), lane by
 * lane, while they are paused. A seek bumps librdkafka's fetch version, so messages
 * fetched before it are discarded when polled; those a worker holds already are dropped by
 * its refetch and resync floors. A failed seek is logged: the floors still keep the
 * partition from skipping a record (it stalls instead).
 */
static void parts_seek(rt_group_t *g, rt_part_t **parts, int n, const int64_t *at)
{
        int nl;
        rt_lane_t **lanes = parts_lanes(parts, n, &nl);
        for (int c = 0; c < nl; c++) {
                rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
                for (int i = 0; i < n; i++)
                        if (parts[i]->lane == lanes[c] && at[i] != RD_KAFKA_OFFSET_INVALID)
                                rd_kafka_topic_partition_list_add(l, parts[i]->tp->name,
                                                                  parts[i]->partition)
                                        ->offset = at[i];
                if (l->cnt) {
                        rd_kafka_error_t *error = rd_kafka_seek_partitions(
                                lanes[c]->rk, l, KP_RUNTIME_COMMIT_TIMEOUT_MS);
                        if (error) {
                                fprintf(stderr, "kplane: runtime: group %s: cluster %s: seek: %s\n",
                                        g->name, lanes[c]->cluster, rd_kafka_error_string(error));
                                rd_kafka_error_destroy(error);
                        }
                }
                rd_kafka_topic_partition_list_destroy(l);
        }
        free(lanes);
}

/* Pauses (@p pause) @p n partitions in librdkafka, lane by lane, or resumes those of them
 * that backpressure has not paused (p->paused: the control thread resumes those). */
static void parts_pause(rt_group_t *g, rt_part_t **parts, int n, int pause)
{
        int nl;
        rt_lane_t **lanes = parts_lanes(parts, n, &nl);
        for (int c = 0; c < nl; c++) {
                rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
                rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
                for (int i = 0; i < n; i++)
                        if (parts[i]->lane == lanes[c] &&
                            (pause || !atomic_load(&parts[i]->paused)))
                                rd_kafka_topic_partition_list_add(l, parts[i]->tp->name,
                                                                  parts[i]->partition);
                if (l->cnt)
                        err = pause ? rd_kafka_pause_partitions(lanes[c]->rk, l)
                                    : rd_kafka_resume_partitions(lanes[c]->rk, l);
                if (err)
                        fprintf(stderr, "kplane: runtime: group %s: cluster %s: %s: %s\n", g->name,
                                lanes[c]->cluster, pause ? "pause" : "resume",
                                rd_kafka_err2str(err));
                rd_kafka_topic_partition_list_destroy(l);
        }
        free(lanes);
}

/* @returns 1 when @p err is the coordinator moving or loading, which asking again cures. */
static int coordinator_retriable(rd_kafka_resp_err_t err)
{
        return err == RD_KAFKA_RESP_ERR_NOT_COORDINATOR ||
               err == RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS ||
               err == RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE ||
               err == RD_KAFKA_RESP_ERR__WAIT_COORD || err == RD_KAFKA_RESP_ERR__TIMED_OUT ||
               err == RD_KAFKA_RESP_ERR__TRANSPORT;
}

/* Reads @p cl's group's committed offsets of @p l, asking again while the coordinator
 * moves or loads, for at most KP_RUNTIME_START_OFFSETS_TIMEOUT_MS. */
static rd_kafka_resp_err_t committed_read(rt_cluster_t *cl, rd_kafka_topic_partition_list_t *l)
{
        int64_t deadline = kp_time_mono_ms() + KP_RUNTIME_START_OFFSETS_TIMEOUT_MS;
        for (;;) {
                rd_kafka_resp_err_t err =
                        rt_offsets_read(cl->rk, cl->g->name, l, KP_RUNTIME_COMMIT_TIMEOUT_MS);
                for (int i = 0; !err && i < l->cnt; i++)
                        if (coordinator_retriable(l->elems[i].err))
                                err = l->elems[i].err;
                if (!coordinator_retriable(err) || kp_time_mono_ms() >= deadline)
                        return err;
                struct timespec pause = {0, KP_RUNTIME_START_OFFSETS_RETRY_MS * 1000000L};
                nanosleep(&pause, NULL);
                for (int i = 0; i < l->cnt; i++)
                        l->elems[i].err = RD_KAFKA_RESP_ERR_NO_ERROR;
        }
}

/*
 * Asks the group's sink where @p parts resume (an exactly-once sink: its last committed
 * transaction, kp_sink_ops_t.resume) into @p at (-1: the group's committed offset).
 * @returns 0 or a negative kp_err_t with errstr set.
 */
static int parts_resume(rt_group_t *g, rt_part_t **parts, int n, int64_t *at, char *errstr,
                        size_t errstr_size)
{
        kp_sink_offset_t *offs = calloc((size_t)n + 1, sizeof(*offs));
        int r;
        if (!offs) {
                snprintf(errstr, errstr_size, "out of memory");
                return KP_ERR_NOMEM;
        }
        for (int i = 0; i < n; i++)
                offs[i] = (kp_sink_offset_t){.part = parts[i],
                                             .cluster = parts[i]->cl->name,
                                             .topic = parts[i]->tp->name,
                                             .partition = parts[i]->partition};
        r = kp_sink_resume(g->sinks, offs, (size_t)n, errstr, errstr_size);
        for (int i = 0; i < n; i++)
                at[i] = r ? -1 : offs[i].acked;
        free(offs);
        return r;
}

/* Reads committed offsets of @p parts (all on @p cl) into p->committed and sets
 * p->next_offset, where the sink says (@p at, -1: none) over the committed offsets;
 * @returns the list of them (in order), each at its start offset, or NULL with errstr
 * when the committed offsets could not be read. */
static rd_kafka_topic_partition_list_t *cluster_start_offsets(rt_cluster_t *cl, rt_part_t **parts,
                                                              int n, const int64_t *at,
                                                              int64_t fallback, char *errstr,
                                                              size_t errstr_size)
{
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
        rd_kafka_resp_err_t err;
        int i;

        for (i = 0; i < n; i++)
                rd_kafka_topic_partition_list_add(l, parts[i]->tp->name, parts[i]->partition);
        err = committed_read(cl, l);
        for (i = 0; !err && i < l->cnt; i++)
                if (l->elems[i].err && at[i] < 0)
                        err = l->elems[i].err;
        if (err) {
                /* A lane's handle cannot fetch them itself (its group.id is not the
                 * group's): starting without them could skip or repeat what was committed. */
                snprintf(errstr, errstr_size, "cluster %s: committed offsets of group %s: %s",
                         cl->name, cl->g->name, rd_kafka_err2str(err));
                rd_kafka_topic_partition_list_destroy(l);
                return NULL;
        }
        for (i = 0; i < l->cnt; i++) {
                rd_kafka_topic_partition_t *e = &l->elems[i];
                int64_t c = at[i] >= 0 ? at[i] : e->offset;
                atomic_store(&parts[i]->committed, c >= 0 ? c : -1);
                atomic_store(&parts[i]->next_offset, c >= 0 ? c : -1);
                e->offset = c >= 0 ? c : fallback;
                e->err = 0;
        }
        return l;
}

/* One plan change in progress: rt_group_apply_plan's steps share it. The arrays by part index
 * cover every part that exists once the plan's are created. */
typedef struct apply {
        rt_group_t *g;
        const kp_rt_plan_t *plan;
        int initial; /* the group is starting: new partitions begin at start_offset */
        int old_ntasks;
        size_t n;               /* partitions in the plan */
        size_t nplan;           /* of them found or created so far */
        rt_part_t **want_parts; /* the plan's partitions, in plan order */
        int *want_task;         /* the task the plan gives each of want_parts */
        int *want;              /* by part index: the task the plan gives it, -1 none */
        rt_part_t **moved, **added, **removed;
        int nmoved, nadded, nremoved, nagain;
        char *again; /* by part index: moved away from a failed task, read again */
        int64_t *at; /* per handed-over partition: where it is fetched again from */
        rt_taskset_t *fan;
        char *errstr;
        size_t errstr_size;
} apply_t;

static int apply_oom(apply_t *a)
{
        snprintf(a->errstr, a->errstr_size, "out of memory");
        return KP_ERR_NOMEM;
}

/* Adds the cluster of @p ref to the group, on its home lane, unless it is there already. */
static int apply_cluster(apply_t *a, const kp_cluster_ref_t *ref)
{
        rt_group_t *g = a->g;
        rt_cluster_t *cl, **cls;

        if (rt_group_cluster(g, ref->name))
                return 0;
        cl = rt_cluster_new(g, ref, a->errstr, a->errstr_size);
        if (!cl)
                return KP_ERR_INVALID;
        pthread_mutex_lock(&g->lock);
        cls = realloc(g->clusters, sizeof(*cls) * (size_t)(g->nclusters + 1));
        if (cls) {
                g->clusters = cls;
                g->clusters[g->nclusters++] = cl;
        }
        pthread_mutex_unlock(&g->lock);
        if (!cls) {
                rt_cluster_destroy(cl);
                return apply_oom(a);
        }
        return 0;
}

/* 1 when task @p t of @p plan runs on another instance (kp_rt_plan_t.absent). */
static int plan_absent(const kp_rt_plan_t *plan, int t)
{
        return plan->absent && plan->absent[t];
}

/* The sinks of the tasks that run here and had none (run elsewhere until now), opened before
 * any partition is theirs. An absent task reads nothing, and a fan-out group deals records
 * to every task: it runs whole here or not at all. */
static int apply_sinks_open(apply_t *a)
{
        rt_group_t *g = a->g;
        for (int i = 0; i < a->plan->parallelism && a->plan->absent; i++) {
                rt_task_t *t = g->tasks[i];
                int r = 0;
                if (plan_absent(a->plan, i) &&
                    (g->rebalance || (i < a->plan->ntasks && a->plan->tasks[i].nparts))) {
                        snprintf(a->errstr, a->errstr_size,
                                 "task %d runs on another instance but %s", i,
                                 g->rebalance ? "the group deals records to every task"
                                              : "the plan gives it partitions");
                        return KP_ERR_INVALID;
                }
                if (plan_absent(a->plan, i) || t->sink)
                        continue;
                /* opened aside (an exactly_once producer's set-up takes a while), published
                 * under g->lock: status reads t->sink under it (runtime_status.c) */
                rt_task_t aside = {.index = t->index};
                if ((r = rt_task_sink_open(g, &aside, a->errstr, a->errstr_size)))
                        return r;
                pthread_mutex_lock(&g->lock);
                pthread_mutex_lock(&t->lock);
                t->sink = aside.sink;
                t->dlq = aside.dlq;
                pthread_mutex_unlock(&t->lock);
                pthread_mutex_unlock(&g->lock);
        }
        return 0;
}

/* The sinks of the tasks handed to another instance, closed once their partitions were
 * committed and released (the hand-over): the new owner's exactly_once producer starts only
 * after this instance said it let go (coord_tasks.h). */
static void apply_sinks_close(apply_t *a)
{
        rt_group_t *g = a->g;
        for (int i = 0; i < g->ntasks && a->plan->absent; i++) {
                rt_task_t *t = g->tasks[i];
                if (!plan_absent(a->plan, i) || !t->sink)
                        continue;
                /* status reads t->sink under g->lock (runtime_status.c) */
                pthread_mutex_lock(&g->lock);
                pthread_mutex_lock(&t->lock);
                rt_task_sink_close(t);
                pthread_mutex_unlock(&t->lock);
                pthread_mutex_unlock(&g->lock);
        }
}

/* The clusters the plan's partitions name, in order of first mention, and the tasks of its
 * parallelism that the group lacks: everything the plan needs, before anything moves. */
static int apply_clusters_and_tasks(apply_t *a)
{
        const kp_rt_plan_t *plan = a->plan;
        rt_group_t *g = a->g;
        rt_task_t **tasks;
        int t, i, r;

        for (t = 0; t < plan->ntasks; t++)
                for (size_t j = 0; j < plan->tasks[t].nparts; j++)
                        if ((r = apply_cluster(a,
                                               &plan->clusters[plan->tasks[t].parts[j].cluster])))
                                return r;
        if (plan->parallelism <= g->ntasks)
                return 0;
        tasks = calloc((size_t)plan->parallelism, sizeof(*tasks));
        if (!tasks)
                return apply_oom(a);
        memcpy(tasks, g->tasks, sizeof(*tasks) * (size_t)g->ntasks);
        for (i = g->ntasks; i < plan->parallelism; i++) {
                tasks[i] = rt_task_new(g, i, plan_absent(plan, i), a->errstr, a->errstr_size);
                if (!tasks[i]) {
                        while (--i >= g->ntasks)
                                rt_task_destroy(tasks[i]);
                        free(tasks);
                        return KP_ERR_INVALID;
                }
        }
        pthread_mutex_lock(&g->lock);
        free(g->tasks);
        g->tasks = tasks;
        g->ntasks = plan->parallelism;
        pthread_mutex_unlock(&g->lock);
        return 0;
}

static int apply_alloc(apply_t *a)
{
        size_t nparts = (size_t)a->g->nparts;
        for (int t = 0; t < a->plan->ntasks; t++)
                a->n += a->plan->tasks[t].nparts;
        a->want = malloc(sizeof(*a->want) * (nparts + a->n + 1));
        a->want_parts = calloc(a->n + 1, sizeof(*a->want_parts));
        a->want_task = calloc(a->n + 1, sizeof(*a->want_task));
        a->moved = calloc(nparts + a->n + 1, sizeof(*a->moved));
        a->added = calloc(a->n + 1, sizeof(*a->added));
        a->removed = calloc(nparts + 1, sizeof(*a->removed));
        a->again = calloc(nparts + a->n + 1, 1);
        a->at = calloc(nparts + a->n + 1, sizeof(*a->at));
        if (!a->want || !a->want_parts || !a->want_task || !a->moved || !a->added || !a->removed ||
            !a->again || !a->at)
                return apply_oom(a);
        return 0;
}

static void apply_free(apply_t *a)
{
        free(a->want);
        free(a->want_parts);
        free(a->want_task);
        free(a->moved);
        free(a->added);
        free(a->removed);
        free(a->again);
        free(a->at);
}

/* The group's partition for plan partition @p e, created when new. Caller holds g->lock. */
static rt_part_t *apply_part(apply_t *a, const kp_rt_plan_part_t *e)
{
        rt_cluster_t *cl = rt_group_cluster(a->g, a->plan->clusters[e->cluster].name);
        rt_topic_t *tp = rt_cluster_topic_add(cl, e->topic);
        rt_part_t *p;
        if (!tp)
                return NULL;
        p = rt_topic_part(tp, e->partition);
        return p ? p : rt_part_new(a->g, cl, tp, e->partition);
}

/* Finds or creates a partition struct for every partition of the plan, and marks the task
 * the plan gives each; a partition named twice is refused. */
static int apply_parts(apply_t *a)
{
        rt_group_t *g = a->g;
        const kp_rt_plan_t *plan = a->plan;
        int t, i;

        pthread_mutex_lock(&g->lock);
        for (t = 0; t < plan->ntasks; t++) {
                for (size_t j = 0; j < plan->tasks[t].nparts; j++) {
                        rt_part_t *p = apply_part(a, &plan->tasks[t].parts[j]);
                        if (!p) {
                                pthread_mutex_unlock(&g->lock);
                                return apply_oom(a);
                        }
                        a->want_task[a->nplan] = t;
                        a->want_parts[a->nplan++] = p;
                }
        }
        pthread_mutex_unlock(&g->lock);
        for (i = 0; i < g->nparts; i++)
                a->want[i] = -1;
        for (size_t k = 0; k < a->nplan; k++) {
                rt_part_t *p = a->want_parts[k];
                if (a->want[p->index] != -1) {
                        snprintf(a->errstr, a->errstr_size, "plan: %s/%s/%d appears twice",
                                 p->cl->name, p->tp->name, (int)p->partition);
                        return KP_ERR_INVALID;
                }
                a->want[p->index] = a->want_task[k];
        }
        return 0;
}

/* In rebalance mode, when tasks outnumber partitions, every task works: records are dealt
 * round-robin over a taskset of all tasks (the current one when the tasks did not change). */
static int apply_fan(apply_t *a)
{
        rt_group_t *g = a->g;
        int T = a->plan->parallelism;

        if (!g->rebalance || (size_t)T <= a->nplan)
                return 0;
        a->fan = g->tasksets && g->tasksets->n == T && a->old_ntasks == T
                         ? g->tasksets
                         : rt_taskset_new(g, g->tasks, T);
        return a->fan ? 0 : apply_oom(a);
}

/* Sorts the partitions: added (new to the plan), removed (no longer in it) and moved (in it
 * before, with a new owner or fan-out). */
static void apply_classify(apply_t *a)
{
        rt_group_t *g = a->g;
        for (int i = 0; i < g->nparts; i++) {
                rt_part_t *p = g->parts[i];
                int cur = atomic_load(&p->owner_index);
                if (!p->in_plan && a->want[i] >= 0)
                        a->added[a->nadded++] = p;
                else if (p->in_plan && a->want[i] < 0)
                        a->removed[a->nremoved++] = p;
                else if (p->in_plan && (cur != a->want[i] || p->fan != a->fan)) {
                        a->moved[a->nmoved++] = p;
                        /* Its old owner failed with messages maybe unwritten: the new
                         * owner must not go on from next_offset but from the committed
                         * offset (a seek, in apply_hand_over). */
                        if (rt_part_owner_failed(p)) {
                                a->again[i] = 1;
                                a->nagain++;
                        }
                }
        }
}

/* Gives locked partition @p p the owner the plan wants (none when released). */
static void part_set_owner(apply_t *a, rt_part_t *p)
{
        int w = a->want[p->index];
        p->owner = w >= 0 ? a->g->tasks[w] : NULL;
        p->fan = w >= 0 ? a->fan : NULL;
        atomic_store(&p->owner_index, w);
        if (a->again[p->index]) {
                /* Read again from the committed offset. Messages at or past the failed
                 * owner's next_offset still queued (or fetched before the seek) are
                 * dropped until the re-read reaches it: the worker's resync_floor. */
                int64_t c = atomic_load(&p->committed);
                int64_t old = atomic_load(&p->next_offset);
                p->resync_floor = old >= 0 && old > c ? old : -1;
                atomic_store(&p->next_offset, c >= 0 ? c : -1);
        }
}

/* The partitions of @p locked read again (moved away from a failed task) restart where the
 * sink resumes them, when it says (an exactly-once sink across clusters: its offsets topic,
 * ahead of the source group's committed offset): that becomes their committed offset. */
static void again_resume(apply_t *a, rt_part_t **locked, int n)
{
        rt_part_t **parts = calloc((size_t)n + 1, sizeof(*parts));
        int64_t *at = calloc((size_t)n + 1, sizeof(*at));
        char err[256] = "out of memory";
        int k = 0;
        for (int i = 0; parts && i < n; i++)
                if (a->again[locked[i]->index])
                        parts[k++] = locked[i];
        if (!parts || !at || parts_resume(a->g, parts, k, at, err, sizeof(err)))
                /* the seek goes to the committed offset: at least once */
                fprintf(stderr, "kplane: runtime: group %s: resume: %s\n", a->g->name, err);
        else
                for (int i = 0; i < k; i++)
                        if (at[i] >= 0)
                                atomic_store(&parts[i]->committed, at[i]);
        free(parts);
        free(at);
}

/* Where handed-over partition @p p (locked, its new owner set) is fetched again from: a
 * partition moved away from a failed task from its committed offset (its log start when
 * none), one whose records the worker dropped while it was held from the first of them,
 * else not at all (librdkafka's pause kept its position: after the last record polled,
 * which the worker took or still holds). A removed one is not fetched again. */
static int64_t part_refetch_at(apply_t *a, rt_part_t *p)
{
        int64_t c = atomic_load(&p->committed);
        if (!p->owner)
                return RD_KAFKA_OFFSET_INVALID;
        if (a->again[p->index])
                return c >= 0 ? c : RD_KAFKA_OFFSET_BEGINNING;
        return p->refetch >= 0 ? p->refetch : RD_KAFKA_OFFSET_INVALID;
}

/*
 * 1 when every partition of the hand-over stays in this process: moved (none released) to a
 * task that runs here, from a task that did not fail. Its new owner reads on from
 * next_offset in memory, so the old owner's sinks are flushed (the two tasks' records of a
 * partition stay in order) but the commit is left to the next periodic round (within
 * KP_RUNTIME_COMMIT_INTERVAL_MS): the partitions stop only for the flush, not for a round
 * trip to the group coordinator. A crash before that round re-delivers from the last commit,
 * as for any partition. Any other hand-over commits first: another instance, or a re-read
 * from the committed offset, starts from what was committed.
 */
static int apply_hand_over_local(const apply_t *a)
{
        if (a->nremoved || a->nagain)
                return 0;
        for (int i = 0; i < a->nmoved; i++)
                if (plan_absent(a->plan, a->want[a->moved[i]->index]))
                        return 0;
        return 1;
}

/*
 * Hands moved and removed partitions over without making a worker wait for it: under each
 * one's lock (the old owner finishes the batch in hand) it is marked held, and librdkafka
 * pauses it (dropping what it fetched); from then on the worker drops a held partition's
 * records and goes on with the other partitions of its queue. Their sinks are flushed and
 * the offsets committed (next_offset stays put: nothing is taken while held). A hand-over
 * within the process (apply_hand_over_local) neither pauses nor commits: its hold is one
 * flush, a record that arrives meanwhile is dropped and fetched again from a seek, and the
 * others flow on without a fetch restarting. Then, under
 * their locks again, the new owner is set (none for removed ones) and the hold ends; the
 * partitions whose records were dropped are seeked back to the first of them and all are
 * resumed, so the new owner reads on from where the old one stopped.
 */
static void apply_hand_over(apply_t *a)
{
        rt_group_t *g = a->g;
        rt_part_t **parts = a->moved;
        int n = a->nmoved + a->nremoved, i, local = apply_hand_over_local(a);

        if (!n)
                return;
        memcpy(a->moved + a->nmoved, a->removed, sizeof(*a->removed) * (size_t)a->nremoved);
        for (i = 0; i < n; i++) {
                pthread_mutex_lock(&parts[i]->lock);
                atomic_store(&parts[i]->held, 1);
                pthread_mutex_unlock(&parts[i]->lock);
        }
        if (!local)
                parts_pause(g, parts, n, 1);
        if (local ? rt_flush(g, parts, n, KP_RUNTIME_COMMIT_TIMEOUT_MS)
                  : rt_commit(g, parts, n, KP_RUNTIME_COMMIT_TIMEOUT_MS))
                /* The hand-over is in memory (next_offset), so nothing is lost or read
                 * twice; only a crash now would re-deliver. */
                fprintf(stderr,
                        "kplane: runtime: group %s: %s before plan change failed; "
                        "continuing\n",
                        g->name, local ? "sink flush" : "commit");
        /* An old owner whose sink failed in that flush failed its task, and what it took
         * and did not deliver no longer bounds the commit: its partitions are read again
         * from the committed offset, as those of an owner that had failed before. */
        for (i = 0; i < a->nmoved; i++)
                if (!a->again[parts[i]->index] && rt_part_owner_failed(parts[i])) {
                        a->again[parts[i]->index] = 1;
                        a->nagain++;
                }
        if (a->nagain)
                again_resume(a, parts, n);
        /* All locked across the seek and the resume (librdkafka's answers, not the sinks'),
         * so that no worker pauses one of them in between for backpressure. */
        for (i = 0; i < n; i++) {
                pthread_mutex_lock(&parts[i]->lock);
                part_set_owner(a, parts[i]);
                a->at[i] = part_refetch_at(a, parts[i]);
                atomic_store(&parts[i]->held, 0);
        }
        parts_seek(g, parts, n, a->at);
        if (!local)
                parts_pause(g, parts, n, 0);
        for (i = 0; i < n; i++)
                pthread_mutex_unlock(&parts[i]->lock);
}

/* Unassigns @p n partitions from their lanes and takes them off (rt_lane_unplace). */
void rt_parts_unassign(rt_group_t *g, rt_part_t **parts, int n, int64_t deadline_ms)
{
        int nl;
        rt_lane_t **lanes = parts_lanes(parts, n, &nl);
        for (int c = 0; c < nl; c++) {
                rd_kafka_topic_partition_list_t *l = lane_list(lanes[c], parts, n);
                rd_kafka_error_t *error = rd_kafka_incremental_unassign(lanes[c]->rk, l);
                if (error) {
                        fprintf(stderr, "kplane: runtime: group %s: unassign: %s\n", g->name,
                                rd_kafka_error_string(error));
                        rd_kafka_error_destroy(error);
                }
                rd_kafka_topic_partition_list_destroy(l);
        }
        free(lanes);
        rt_lane_unplace(g, parts, n, deadline_ms);
}

/* Unassigns the partitions no longer in the plan from their lanes. */
static void apply_release(apply_t *a)
{
        rt_group_t *g = a->g;
        int i;
        rt_parts_unassign(g, a->removed, a->nremoved,
                          kp_time_mono_ms() + KP_RUNTIME_CLOSE_TIMEOUT_MS);
        pthread_mutex_lock(&g->lock);
        for (i = 0; i < a->nremoved; i++)
                a->removed[i]->in_plan = 0;
        pthread_mutex_unlock(&g->lock);
}

/* Assigns @p l (at their start offsets) on the lanes of @p mine, lane by lane. */
static int assign_lanes(apply_t *a, rt_cluster_t *cl, rt_part_t **mine, int n,
                        rd_kafka_topic_partition_list_t *l)
{
        int nl, r = 0;
        rt_lane_t **lanes = parts_lanes(mine, n, &nl);
        if (!lanes)
                return apply_oom(a);
        for (int c = 0; c < nl && !r; c++) {
                rd_kafka_topic_partition_list_t *ll = rd_kafka_topic_partition_list_new(n);
                rd_kafka_error_t *error;
                for (int i = 0; i < n; i++)
                        if (mine[i]->lane == lanes[c])
                                rd_kafka_topic_partition_list_add(ll, l->elems[i].topic,
                                                                  l->elems[i].partition)
                                        ->offset = l->elems[i].offset;
                int nheld;
                rd_kafka_topic_t **held = rt_lane_learn_leaders(lanes[c], ll, &nheld);
                error = rd_kafka_incremental_assign(lanes[c]->rk, ll);
                rt_lane_topics_release(held, nheld);
                rd_kafka_topic_partition_list_destroy(ll);
                if (error) {
                        snprintf(a->errstr, a->errstr_size, "cluster %s: assign: %s", cl->name,
                                 rd_kafka_error_string(error));
                        rd_kafka_error_destroy(error);
                        r = KP_ERR_UNAVAILABLE;
                }
        }
        free(lanes);
        return r;
}

/* Starts the new partitions of @p cl: owner set before any message can arrive, placed on a
 * lane (its table, its queue forwarded to a worker) before assign, then assigned at the
 * committed offset, else start_offset (initial) or earliest. @p mine has room for every
 * added partition. */
static int apply_assign_cluster(apply_t *a, rt_cluster_t *cl, rt_part_t **mine)
{
        rt_group_t *g = a->g;
        rd_kafka_topic_partition_list_t *l;
        int j, n = 0, r;

        for (j = 0; j < a->nadded; j++) {
                rt_part_t *p = a->added[j];
                if (p->cl != cl)
                        continue;
                pthread_mutex_lock(&p->lock);
                p->owner = g->tasks[a->want[p->index]];
                p->fan = a->fan;
                atomic_store(&p->owner_index, a->want[p->index]);
                /* back in the plan before the control thread resumed it */
                rt_part_unpause(p);
                p->refetch = -1; /* assigned afresh: nothing dropped is waited for */
                pthread_mutex_unlock(&p->lock);
                mine[n++] = p;
        }
        if (!n)
                return 0;
        int64_t *at = calloc((size_t)n, sizeof(*at));
        if (!at)
                return apply_oom(a);
        if (parts_resume(g, mine, n, at, a->errstr, a->errstr_size)) {
                free(at);
                return KP_ERR_UNAVAILABLE;
        }
        l = cluster_start_offsets(cl, mine, n, at,
                                  a->initial && g->start_latest ? RD_KAFKA_OFFSET_END
                                                                : RD_KAFKA_OFFSET_BEGINNING,
                                  a->errstr, a->errstr_size);
        free(at);
        if (!l)
                return KP_ERR_UNAVAILABLE;
        for (j = 0, r = 0; j < n && !r; j++)
                r = rt_lane_place(cl, mine[j], a->errstr, a->errstr_size);
        if (!r)
                r = assign_lanes(a, cl, mine, n, l);
        rd_kafka_topic_partition_list_destroy(l);
        if (r) /* none of them is read: off the lanes again (the apply failed) */
                rt_parts_unassign(g, mine, n, kp_time_mono_ms() + KP_RUNTIME_CLOSE_TIMEOUT_MS);
        return r;
}

static int apply_assign(apply_t *a)
{
        for (int i = 0; i < a->g->nclusters; i++) {
                rt_part_t **mine = calloc((size_t)a->nadded + 1, sizeof(*mine));
                int r = mine ? apply_assign_cluster(a, a->g->clusters[i], mine) : apply_oom(a);
                free(mine);
                if (r)
                        return r;
        }
        return 0;
}

/* The plan is in force: tasks beyond its parallelism own nothing any more and close; each
 * task's partition count and state, and the group's plan version, follow it. */
static void apply_finish(apply_t *a)
{
        rt_group_t *g = a->g;
        int T = a->plan->parallelism, i;

        pthread_mutex_lock(&g->lock);
        for (i = 0; i < a->nadded; i++)
                a->added[i]->in_plan = 1;
        for (i = T; i < g->ntasks; i++) {
                g->retired_messages += atomic_load(&g->tasks[i]->messages);
                rt_task_destroy(g->tasks[i]);
                g->tasks[i] = NULL;
        }
        if (g->ntasks > T)
                g->ntasks = T;
        for (i = 0; i < g->ntasks; i++)
                g->tasks[i]->partitions = 0;
        for (i = 0; i < g->nparts; i++)
                if (g->parts[i]->in_plan && a->want[i] >= 0)
                        g->tasks[a->want[i]]->partitions++;
        for (i = 0; i < g->ntasks; i++) {
                rt_task_t *t = g->tasks[i];
                if (atomic_load(&t->state) != RT_TASK_FAILED)
                        atomic_store(&t->state,
                                     t->partitions || a->fan ? RT_TASK_RUNNING : RT_TASK_IDLE);
        }
        g->plan_version = a->plan->version;
        pthread_mutex_unlock(&g->lock);
}

/*
 * Brings the group to @p plan (checked). @p initial: the group is starting (new partitions
 * begin at start_offset rather than at the earliest offset). Caller holds op_lock.
 */
int rt_group_apply_plan(rt_group_t *g, const kp_rt_plan_t *plan, int initial, char *errstr,
                        size_t errstr_size)
{
        apply_t a = {.g = g,
                     .plan = plan,
                     .initial = initial,
                     .old_ntasks = g->ntasks,
                     .errstr = errstr,
                     .errstr_size = errstr_size};
        int r = apply_clusters_and_tasks(&a);

        if (!r)
                r = apply_sinks_open(&a);
        if (!r)
                r = apply_alloc(&a);
        if (!r)
                r = apply_parts(&a);
        if (!r)
                r = apply_fan(&a);
        if (!r) {
                apply_classify(&a);
                apply_hand_over(&a);
                apply_release(&a);
                r = apply_assign(&a);
        }
        if (!r) {
                apply_finish(&a);
                apply_sinks_close(&a);
        }
        apply_free(&a);
        return r;
}
