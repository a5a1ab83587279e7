/* runtime.c — the group registry and a group's life: start, plan apply, stop; queries. */
#include "runtime/runtime.h"

#include "base/config.h"
#include "base/err.h"
#include "runtime/runtime_apply.h"
#include "runtime/runtime_int.h"
#include "runtime/runtime_lane.h"
#include "runtime/runtime_objects.h"
#include "runtime/runtime_plan.h"
#include "sinks/sink.h"
#include "sinks/sink_dlq.h"
#include "base/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Groups are shared between the registry and callers: the last put frees it. */
static void group_put(rt_group_t *g)
{
        if (!g || atomic_fetch_sub(&g->refcnt, 1) != 1)
                return;
        pthread_mutex_destroy(&g->op_lock);
        pthread_mutex_destroy(&g->lock);
        pthread_mutex_destroy(&g->err_lock);
        json_decref(g->sink_conf);
        json_decref(g->dlq_conf);
        free(g->name);
        free(g);
}

/* Finds @p name in the registry (no reference taken: group_get takes one). Caller holds
 * rt->lock. */
static rt_group_t *group_find_locked(kp_runtime_t *rt, const char *name)
{
        rt_group_t *g;
        for (g = rt->groups; g; g = g->next)
                if (!strcmp(g->name, name))
                        return g;
        return NULL;
}

static rt_group_t *group_get(kp_runtime_t *rt, const char *name)
{
        rt_group_t *g;
        pthread_mutex_lock(&rt->lock);
        g = group_find_locked(rt, name);
        if (g)
                atomic_fetch_add(&g->refcnt, 1);
        pthread_mutex_unlock(&rt->lock);
        return g;
}

/*
 * Takes @p add more tasks out of the process's cap (a lock-free leaf: callable under any
 * lock). @returns 0, or KP_ERR_UNPROCESSABLE with errstr naming the limit and the value.
 */
static int tasks_reserve(kp_runtime_t *rt, const char *group, int add, char *errstr,
                         size_t errstr_size)
{
        int cur = atomic_load(&rt->tasks);
        do {
                if (add > 0 && cur + add > rt->max_tasks) {
                        snprintf(errstr, errstr_size,
                                 "group %s needs %d more tasks but %d run already: over the "
                                 "process's limit KPLANE_MAX_TASKS=%d",
                                 group, add, cur, rt->max_tasks);
                        return KP_ERR_UNPROCESSABLE;
                }
        } while (!atomic_compare_exchange_weak(&rt->tasks, &cur, cur + add));
        return 0;
}

static void group_unregister(kp_runtime_t *rt, rt_group_t *g)
{
        rt_group_t **pp;
        atomic_fetch_sub(&rt->tasks, atomic_exchange(&g->tasks_reserved, 0));
        pthread_mutex_lock(&rt->lock);
        for (pp = &rt->groups; *pp; pp = &(*pp)->next) {
                if (*pp == g) {
                        *pp = g->next;
                        pthread_mutex_unlock(&rt->lock);
                        group_put(g);
                        return;
                }
        }
        pthread_mutex_unlock(&rt->lock);
}

/* Stops the group: workers drop its records (a record in hand is finished), the control
 * thread leaves it. */
static void group_signal_stop(rt_group_t *g)
{
        atomic_store(&g->stop, 1);
        rt_ctl_kick(g->rt);
}

/* Takes every partition of the group off its lane (unassigned, out of the lane's table,
 * no worker holding a record of it): next_offset is final. Caller holds op_lock. */
static void group_unassign_all(rt_group_t *g, int64_t deadline_ms)
{
        rt_part_t **parts = calloc((size_t)g->nparts + 1, sizeof(*parts));
        int n = 0;
        if (!parts)
                return; /* freed with the lanes' users unchanged: never closed */
        for (int i = 0; i < g->nparts; i++)
                if (g->parts[i]->lane)
                        parts[n++] = g->parts[i];
        rt_parts_unassign(g, parts, n, deadline_ms);
        free(parts);
}

/*
 * The group's clusters leave their home lanes, which close when no other group uses them,
 * until @p deadline_ms at most: a consumer whose cluster is down can take a minute to
 * close (rd_kafka_consumer_close waits for its coordinator); the handle is then destroyed
 * without a close (nothing is lost: commits were explicit). A cluster whose last commit
 * found no coordinator is not waited for at all (manual assignment: nothing to leave,
 * nothing left to commit). Caller holds op_lock, not g->lock (librdkafka serves callbacks
 * from inside close).
 */
static void group_leave_lanes(rt_group_t *g, int64_t deadline_ms)
{
        int64_t budget = kp_time_mono_ms() + KP_RUNTIME_CLOSE_TIMEOUT_MS;
        if (deadline_ms > budget)
                deadline_ms = budget;
        for (int i = 0; i < g->nclusters; i++)
                rt_lane_leave(g->clusters[i], deadline_ms, g->clusters[i]->commit_failing);
}

/* 1 when a cluster whose commits fail was read from since they began failing. Caller
 * holds op_lock. */
static int group_failing_cluster_answers(rt_group_t *g)
{
        for (int i = 0; i < g->nclusters; i++) {
                rt_cluster_t *cl = g->clusters[i];
                if (cl->commit_failing && cl->lane &&
                    atomic_load(&cl->lane->last_read_ms) > cl->failing_since_ms)
                        return 1;
        }
        return 0;
}

/* The last commit of a stop, bounded by @p deadline_ms (monotonic). Caller holds op_lock. */
static void group_commit_last(rt_group_t *g, int64_t deadline_ms)
{
        /* Leave a quarter of the wait for closing: a cluster that does not answer
         * costs at most KP_RUNTIME_COMMIT_TIMEOUT_MS, and what was not committed is
         * read again (at least once). A coordinator that just came back (broker
         * restart) can fail the first commit: try again while three quarters of the
         * wait remain; each round only sends what is not committed yet. */
        int64_t commit_until = kp_time_mono_ms() + (deadline_ms - kp_time_mono_ms()) * 3 / 4;
        atomic_store(&g->final_commit, 1);
        while (g->nparts) {
                int64_t left = commit_until - kp_time_mono_ms();
                int64_t started = kp_time_mono_ms();
                if (left > KP_RUNTIME_COMMIT_TIMEOUT_MS)
                        left = KP_RUNTIME_COMMIT_TIMEOUT_MS;
                if (left < 100)
                        left = 100;
                if (!rt_commit(g, NULL, 0, (int)left) || kp_time_mono_ms() + 200 >= commit_until)
                        break;
                /* No answer in the whole wait, and nothing read from a failing cluster
                 * since its commits began failing: it is gone, not moving or loading its
                 * coordinator (a restarted broker: read from, commits not answered yet);
                 * asking again would only hold the stop (`docker stop` gives 10 s). */
                if (kp_time_mono_ms() - started >= left - KP_RUNTIME_COMMIT_WAIT_SLICE_MS &&
                    !group_failing_cluster_answers(g))
                        break;
                struct timespec pause = {0, 200 * 1000000L};
                nanosleep(&pause, NULL);
        }
}

/* Frees the clusters (off their lanes), tasks, partitions and retired tables of a stopped
 * group. Caller holds op_lock and g->lock. */
static void group_free_arrays(rt_group_t *g)
{
        rt_taskset_t *ts;
        rt_ptable_t *t;
        int i;
        for (i = 0; i < g->nclusters; i++)
                rt_cluster_destroy(g->clusters[i]);
        free(g->clusters);
        g->clusters = NULL;
        g->nclusters = 0;
        for (i = 0; i < g->ntasks; i++)
                rt_task_destroy(g->tasks[i]);
        free(g->tasks);
        g->tasks = NULL;
        g->ntasks = 0;
        rt_group_sinks_close(g);
        for (i = 0; i < g->nparts; i++) {
                pthread_mutex_destroy(&g->parts[i]->lock);
                free(g->parts[i]);
        }
        free(g->parts);
        g->parts = NULL;
        g->nparts = 0;
        while ((ts = g->tasksets)) {
                g->tasksets = ts->retired_next;
                free(ts);
        }
        while ((t = g->retired_tables)) {
                g->retired_tables = t->retired_next;
                free(t);
        }
}

/* Second half of a stop: off the lanes, last commit (bounded by @p deadline_ms,
 * monotonic), lanes left (closed when no other group uses them), sinks closed, everything
 * but the group struct freed. */
static void group_finish_stop(rt_group_t *g, int64_t deadline_ms)
{
        /* the control thread's round of it (under op_lock) ends before the last commit */
        pthread_mutex_lock(&g->op_lock);
        group_unassign_all(g, deadline_ms);
        group_commit_last(g, deadline_ms);
        group_leave_lanes(g, deadline_ms);
        pthread_mutex_lock(&g->lock);
        group_free_arrays(g);
        pthread_mutex_unlock(&g->lock);
        pthread_mutex_unlock(&g->op_lock);
}

static void *ctl_trampoline(void *arg)
{
        return rt_ctl_main(arg);
}

rt_group_t **rt_groups_hold(kp_runtime_t *rt, int *n)
{
        rt_group_t *g, **all;
        int i = 0;
        *n = 0;
        pthread_mutex_lock(&rt->lock);
        for (g = rt->groups; g; g = g->next)
                i++;
        all = i ? calloc((size_t)i, sizeof(*all)) : NULL;
        for (g = rt->groups; g && all; g = g->next) {
                atomic_fetch_add(&g->refcnt, 1);
                all[(*n)++] = g;
        }
        pthread_mutex_unlock(&rt->lock);
        return all;
}

void rt_groups_release(rt_group_t **all, int n)
{
        for (int i = 0; i < n; i++)
                group_put(all[i]);
        free(all);
}

kp_runtime_t *kp_runtime_new(char *errstr, size_t errstr_size)
{
        kp_runtime_t *rt = calloc(1, sizeof(*rt));
        if (!rt) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        pthread_mutex_init(&rt->lock, NULL);
        pthread_mutex_init(&rt->ctl_lock, NULL);
        pthread_cond_init(&rt->ctl_cond, NULL);
        pthread_mutex_init(&rt->lanes_lock, NULL);
        rt->max_tasks = KP_MAX_TASKS_DEFAULT;
        rt->history_samples = KP_HISTORY_SAMPLES;
        if (pthread_create(&rt->ctl, NULL, ctl_trampoline, rt)) {
                snprintf(errstr, errstr_size, "cannot start the runtime's control thread");
                pthread_cond_destroy(&rt->ctl_cond);
                pthread_mutex_destroy(&rt->ctl_lock);
                pthread_mutex_destroy(&rt->lanes_lock);
                pthread_mutex_destroy(&rt->lock);
                free(rt);
                return NULL;
        }
        rt->ctl_started = 1;
        return rt;
}

/* Stops the control thread (after every group: it serves them until then). */
static void runtime_ctl_stop(kp_runtime_t *rt)
{
        pthread_mutex_lock(&rt->ctl_lock);
        rt->ctl_stop = 1;
        pthread_cond_signal(&rt->ctl_cond);
        pthread_mutex_unlock(&rt->ctl_lock);
        if (rt->ctl_started)
                pthread_join(rt->ctl, NULL);
        rt->ctl_started = 0;
        pthread_cond_destroy(&rt->ctl_cond);
        pthread_mutex_destroy(&rt->ctl_lock);
}

void kp_runtime_set_max_tasks(kp_runtime_t *rt, int max_tasks)
{
        rt->max_tasks = max_tasks > 0 ? max_tasks : KP_MAX_TASKS_DEFAULT;
}

void kp_runtime_set_commit_guard(kp_runtime_t *rt, int (*held)(void *arg), void *arg)
{
        /* the control thread reads the function, then its argument: a new pair is published
         * argument first, and a guard removed function first */
        if (held)
                __atomic_store_n(&rt->commit_guard_arg, arg, __ATOMIC_RELEASE);
        __atomic_store_n(&rt->commit_guard, held, __ATOMIC_RELEASE);
        if (!held)
                __atomic_store_n(&rt->commit_guard_arg, arg, __ATOMIC_RELEASE);
}

int rt_commit_allowed(kp_runtime_t *rt)
{
        int (*held)(void *) = __atomic_load_n(&rt->commit_guard, __ATOMIC_ACQUIRE);
        return !held || held(__atomic_load_n(&rt->commit_guard_arg, __ATOMIC_ACQUIRE));
}

int kp_runtime_task_count(kp_runtime_t *rt)
{
        return atomic_load(&rt->tasks);
}

void kp_runtime_destroy(kp_runtime_t *rt)
{
        rt_group_t *g, **all = NULL;
        int n = 0, i;
        int64_t deadline = kp_time_mono_ms() + KP_RUNTIME_STOP_WAIT_MS;

        if (!rt)
                return;
        /* Signal every group first so they drain at the same time, then finish each. */
        pthread_mutex_lock(&rt->lock);
        for (g = rt->groups; g; g = g->next)
                n++;
        all = calloc((size_t)n + 1, sizeof(*all));
        for (g = rt->groups, i = 0; g && all; g = g->next) {
                int st = atomic_load(&g->state);
                if (st == KP_GROUP_RUNNING || st == KP_GROUP_FAILED) {
                        atomic_store(&g->state, KP_GROUP_STOPPING);
                        atomic_fetch_add(&g->refcnt, 1);
                        all[i++] = g;
                }
        }
        n = all ? i : 0;
        pthread_mutex_unlock(&rt->lock);
        for (i = 0; i < n; i++)
                group_signal_stop(all[i]);
        for (i = 0; i < n; i++) {
                group_finish_stop(all[i], deadline);
                atomic_store(&all[i]->state, KP_GROUP_STOPPED);
                group_unregister(rt, all[i]);
                group_put(all[i]);
        }
        free(all);
        runtime_ctl_stop(rt);
        /* Groups still starting or stopping belong to their callers' threads; the
         * owner of the runtime stops callers before destroying it. */
        pthread_mutex_destroy(&rt->lanes_lock);
        pthread_mutex_destroy(&rt->lock);
        free(rt);
}

/* What a group document says the runtime needs (strings borrowed from it). */
typedef struct group_conf {
        const char *name;
        const json_t *sink;   /* NULL: discard */
        const json_t *errors; /* NULL: tolerance none */
        int rebalance;
        int start_latest;
} group_conf_t;

static int group_conf_parse(const json_t *group, group_conf_t *c, char *errstr, size_t errstr_size)
{
        const char *start = json_string_value(json_object_get(group, "start_offset"));
        const json_t *rebalance = json_object_get(group, "rebalance");

        c->name = json_string_value(json_object_get(group, "name"));
        c->sink = json_object_get(group, "sink");
        if (!c->name || !kp_name_valid(c->name)) {
                snprintf(errstr, errstr_size, "name: must match " KP_NAME_RULE);
                return KP_ERR_INVALID;
        }
        if (start && strcmp(start, "earliest") && strcmp(start, "latest")) {
                snprintf(errstr, errstr_size, "start_offset: must be \"earliest\" or \"latest\"");
                return KP_ERR_INVALID;
        }
        if (rebalance && !json_is_boolean(rebalance)) {
                snprintf(errstr, errstr_size, "rebalance: must be a boolean");
                return KP_ERR_INVALID;
        }
        if (json_is_null(c->sink))
                c->sink = NULL;
        c->rebalance = json_is_true(rebalance);
        c->start_latest = start && !strcmp(start, "latest");
        c->errors = json_object_get(group, "errors");
        if (kp_sink_errors_validate(c->errors, errstr, errstr_size))
                return KP_ERR_INVALID;
        return kp_sink_validate(c->sink, errstr, errstr_size);
}

/* A new group in state STARTING, not registered, with two references (the registry's and
 * the starter's). NULL when out of memory. */
static rt_group_t *group_new(kp_runtime_t *rt, const group_conf_t *c)
{
        rt_group_t *g = calloc(1, sizeof(*g));
        if (!g || !(g->name = strdup(c->name))) {
                free(g);
                return NULL;
        }
        g->rt = rt;
        g->sink_conf = c->sink ? json_deep_copy(c->sink) : NULL;
        g->tolerate = kp_sink_errors_tolerate(c->errors);
        if (kp_sink_errors_dead_letter(c->errors))
                g->dlq_conf = json_deep_copy(kp_sink_errors_dead_letter(c->errors));
        g->rebalance = c->rebalance;
        g->start_latest = c->start_latest;
        g->max_in_flight = kp_sink_max_in_flight_bytes(c->sink);
        atomic_store(&g->state, KP_GROUP_STARTING);
        atomic_store(&g->refcnt, 2);
        pthread_mutex_init(&g->op_lock, NULL);
        pthread_mutex_init(&g->lock, NULL);
        pthread_mutex_init(&g->err_lock, NULL);
        rt_history_init(&g->hist, rt->history_samples);
        return g;
}

/* Registers @p g with @p ntasks taken from the process's cap. @returns 0, KP_ERR_CONFLICT
 * when a group of its name is registered, KP_ERR_UNPROCESSABLE past the cap. */
static int group_register(kp_runtime_t *rt, rt_group_t *g, int ntasks, char *errstr,
                          size_t errstr_size)
{
        int r;
        pthread_mutex_lock(&rt->lock);
        r = group_find_locked(rt, g->name) ? KP_ERR_CONFLICT : 0;
        if (r)
                snprintf(errstr, errstr_size, "group %s is running", g->name);
        else
                r = tasks_reserve(rt, g->name, ntasks, errstr, errstr_size);
        if (!r) {
                atomic_store(&g->tasks_reserved, ntasks); /* given back by group_unregister */
                g->next = rt->groups;
                rt->groups = g;
        }
        pthread_mutex_unlock(&rt->lock);
        return r;
}

/* Brings registered group @p g to its first plan and hands it to the control thread. */
static int group_launch(rt_group_t *g, const kp_rt_plan_t *plan, char *errstr, size_t errstr_size)
{
        int r;
        pthread_mutex_lock(&g->op_lock);
        r = rt_group_apply_plan(g, plan, 1, errstr, errstr_size);
        if (!r) {
                rt_ctl_sched_init(g);
                atomic_store(&g->ctl_on, 1);
        }
        pthread_mutex_unlock(&g->op_lock);
        if (!r)
                rt_ctl_kick(g->rt);
        return r;
}

/* Starts the group of @p c on @p plan (both checked). */
static int group_start(kp_runtime_t *rt, const group_conf_t *c, const kp_rt_plan_t *plan,
                       char *errstr, size_t errstr_size)
{
        rt_group_t *g = group_new(rt, c);
        int r, st = KP_GROUP_STARTING;

        if (!g) {
                snprintf(errstr, errstr_size, "out of memory");
                return KP_ERR_NOMEM;
        }
        if ((r = group_register(rt, g, plan->parallelism, errstr, errstr_size))) {
                atomic_store(&g->refcnt, 1); /* never registered */
                group_put(g);
                return r;
        }
        if ((r = group_launch(g, plan, errstr, errstr_size))) {
                atomic_store(&g->state, KP_GROUP_STOPPING);
                group_signal_stop(g);
                group_finish_stop(g, kp_time_mono_ms() + KP_RUNTIME_COMMIT_TIMEOUT_MS);
                group_unregister(rt, g);
                group_put(g);
                return r;
        }
        /* A fatal error may already have failed it: keep that. */
        atomic_compare_exchange_strong(&g->state, &st, KP_GROUP_RUNNING);
        group_put(g);
        return 0;
}

int kp_runtime_start(kp_runtime_t *rt, const json_t *group, const kp_rt_plan_t *plan, char *errstr,
                     size_t errstr_size)
{
        group_conf_t c;
        int r;
        if ((r = group_conf_parse(group, &c, errstr, errstr_size)) ||
            (r = kp_rt_plan_check(plan, errstr, errstr_size)))
                return r;
        return group_start(rt, &c, plan, errstr, errstr_size);
}

int kp_runtime_group_start(kp_runtime_t *rt, const json_t *group, const json_t *plan,
                           const json_t *clusters, char *errstr, size_t errstr_size)
{
        group_conf_t c;
        kp_rt_plan_t p;
        int r;
        if ((r = group_conf_parse(group, &c, errstr, errstr_size)) ||
            (r = kp_rt_plan_from_json(plan, clusters, &p, errstr, errstr_size)))
                return r;
        r = group_start(rt, &c, &p, errstr, errstr_size);
        kp_rt_plan_cleanup(&p);
        return r;
}

/* Applies @p plan to running group @p g, taking more tasks from the cap before they start
 * and giving fewer back once the plan is in force. Caller holds op_lock (so no other apply
 * changes the reservation meanwhile). */
static int group_apply_reserved(rt_group_t *g, const kp_rt_plan_t *plan, char *errstr,
                                size_t errstr_size)
{
        kp_runtime_t *rt = g->rt;
        int had = atomic_load(&g->tasks_reserved), now, held, r = 0;

        if (plan->parallelism > had) {
                r = tasks_reserve(rt, g->name, plan->parallelism - had, errstr, errstr_size);
                if (!r)
                        atomic_store(&g->tasks_reserved, plan->parallelism);
        }
        if (!r)
                r = rt_group_apply_plan(g, plan, 0, errstr, errstr_size);
        /* what runs now is what counts, whether the apply worked or not */
        pthread_mutex_lock(&g->lock);
        now = g->ntasks;
        pthread_mutex_unlock(&g->lock);
        held = atomic_load(&g->tasks_reserved);
        if (now < held && held > 0) {
                atomic_fetch_sub(&rt->tasks, held - now);
                atomic_store(&g->tasks_reserved, now);
        }
        return r;
}

/* Applies checked @p plan to group @p group: refused unless it runs (or failed) and runs
 * no newer plan. */
static int group_apply(kp_runtime_t *rt, const char *group, const kp_rt_plan_t *plan, char *errstr,
                       size_t errstr_size)
{
        rt_group_t *g = group_get(rt, group);
        int r, st;

        if (!g) {
                snprintf(errstr, errstr_size, "group %s is not running", group);
                return KP_ERR_NOT_FOUND;
        }
        pthread_mutex_lock(&g->op_lock);
        st = atomic_load(&g->state);
        if (st != KP_GROUP_RUNNING && st != KP_GROUP_FAILED) {
                snprintf(errstr, errstr_size, "group %s is %s", group, kp_group_state_name(st));
                r = st == KP_GROUP_STARTING ? KP_ERR_CONFLICT : KP_ERR_NOT_FOUND;
        } else if (plan->version < g->plan_version) {
                /* plan_version changes only under op_lock, which we hold */
                snprintf(errstr, errstr_size,
                         "group %s runs plan version %d: version %d is older, not applied", group,
                         g->plan_version, plan->version);
                r = KP_ERR_CONFLICT;
        } else {
                r = group_apply_reserved(g, plan, errstr, errstr_size);
        }
        pthread_mutex_unlock(&g->op_lock);
        group_put(g);
        return r;
}

int kp_runtime_apply(kp_runtime_t *rt, const char *group, const kp_rt_plan_t *plan, char *errstr,
                     size_t errstr_size)
{
        int r = kp_rt_plan_check(plan, errstr, errstr_size);
        return r ? r : group_apply(rt, group, plan, errstr, errstr_size);
}

int kp_runtime_group_apply(kp_runtime_t *rt, const char *group, const json_t *plan,
                           const json_t *clusters, char *errstr, size_t errstr_size)
{
        kp_rt_plan_t p;
        int r = kp_rt_plan_from_json(plan, clusters, &p, errstr, errstr_size);
        if (r)
                return r;
        r = group_apply(rt, group, &p, errstr, errstr_size);
        kp_rt_plan_cleanup(&p);
        return r;
}

int kp_runtime_group_stop(kp_runtime_t *rt, const char *group, int wait_ms, char *errstr,
                          size_t errstr_size)
{
        rt_group_t *g = group_get(rt, group);
        int st;

        if (!g) {
                snprintf(errstr, errstr_size, "group %s is not running", group);
                return KP_ERR_NOT_FOUND;
        }
        st = atomic_load(&g->state);
        while ((st == KP_GROUP_RUNNING || st == KP_GROUP_FAILED) &&
               !atomic_compare_exchange_weak(&g->state, &st, KP_GROUP_STOPPING))
                ;
        if (st != KP_GROUP_RUNNING && st != KP_GROUP_FAILED) {
                snprintf(errstr, errstr_size, "group %s is %s", group, kp_group_state_name(st));
                group_put(g);
                return KP_ERR_CONFLICT;
        }
        group_signal_stop(g);
        group_finish_stop(g, kp_time_mono_ms() + (wait_ms > 0 ? wait_ms : KP_RUNTIME_STOP_WAIT_MS));
        atomic_store(&g->state, KP_GROUP_STOPPED);
        group_unregister(rt, g);
        group_put(g);
        return 0;
}

int kp_runtime_group_state(kp_runtime_t *rt, const char *group, char *errstr, size_t errstr_size)
{
        rt_group_t *g = group_get(rt, group);
        int st;
        if (!g)
                return KP_GROUP_STOPPED;
        st = atomic_load(&g->state);
        if (st == KP_GROUP_FAILED && errstr && errstr_size) {
                pthread_mutex_lock(&g->err_lock);
                snprintf(errstr, errstr_size, "%s", g->error);
                pthread_mutex_unlock(&g->err_lock);
        }
        group_put(g);
        return st;
}

json_t *kp_runtime_group_status(kp_runtime_t *rt, const char *group)
{
        rt_group_t *g = group_get(rt, group);
        json_t *doc;
        if (!g)
                return NULL;
        doc = json_object();
        json_object_set_new(doc, "group", json_string(g->name));
        rt_group_status_fill(g, doc);
        group_put(g);
        return doc;
}

int kp_runtime_group_history(kp_runtime_t *rt, const char *group, int64_t since, int top,
                             json_t *doc)
{
        rt_group_t *g = group_get(rt, group);
        if (!g)
                return KP_ERR_NOT_FOUND;
        rt_group_history_fill(g, doc, since, top);
        group_put(g);
        return 0;
}

void kp_runtime_set_history_samples(kp_runtime_t *rt, int samples)
{
        if (samples > 0)
                rt->history_samples = samples;
}

int kp_runtime_group_summary(kp_runtime_t *rt, const char *group, kp_runtime_summary_t *out)
{
        rt_group_t *g = group_get(rt, group);
        memset(out, 0, sizeof(*out));
        out->lag_ms = -1;
        if (!g)
                return KP_ERR_NOT_FOUND;
        rt_group_summary_fill(g, out);
        group_put(g);
        return 0;
}

/* Runs @p fn on every registered group (with a reference held, registry unlocked). */
static void each_group(kp_runtime_t *rt, void (*fn)(rt_group_t *, void *), void *arg)
{
        rt_group_t *g, **all;
        int n = 0, i;
        pthread_mutex_lock(&rt->lock);
        for (g = rt->groups; g; g = g->next)
                n++;
        all = calloc((size_t)n + 1, sizeof(*all));
        for (g = rt->groups, i = 0; g && all; g = g->next, i++) {
                atomic_fetch_add(&g->refcnt, 1);
                all[i] = g;
        }
        pthread_mutex_unlock(&rt->lock);
        if (!all)
                return;
        for (i = 0; i < n; i++) {
                fn(all[i], arg);
                group_put(all[i]);
        }
        free(all);
}

typedef struct health_arg {
        const char *cluster;
        int health; /* -1 unknown, 0 in error, 1 ok */
        char *last_error, *at;
        size_t last_error_size, at_size;
} health_arg_t;

static void health_one(rt_group_t *g, void *arg)
{
        health_arg_t *h = arg;
        int st = atomic_load(&g->state);
        if (h->health == 0 || (st != KP_GROUP_RUNNING && st != KP_GROUP_FAILED))
                return;
        pthread_mutex_lock(&g->lock);
        for (int i = 0; i < g->nclusters; i++) {
                rt_cluster_t *cl = g->clusters[i];
                if (strcmp(cl->name, h->cluster))
                        continue;
                h->health = !rt_cluster_health_read(cl, h->last_error, h->last_error_size, h->at,
                                                    h->at_size);
        }
        pthread_mutex_unlock(&g->lock);
}

int kp_runtime_cluster_health(kp_runtime_t *rt, const char *cluster, char *last_error,
                              size_t last_error_size, char *at, size_t at_size)
{
        health_arg_t h = {cluster, -1, last_error, at, last_error_size, at_size};
        each_group(rt, health_one, &h);
        return h.health;
}

typedef struct metrics_arg {
        kp_buf_t *out;
        rt_metric_t metric;
} metrics_arg_t;

static void metrics_one(rt_group_t *g, void *arg)
{
        metrics_arg_t *m = arg;
        rt_metrics_group(g, m->out, m->metric);
}

void kp_runtime_metrics_write(kp_runtime_t *rt, kp_buf_t *out)
{
        for (int s = 0; s < RT_METRIC_COUNT; s++) {
                metrics_arg_t m = {out, (rt_metric_t)s};
                const char *head = rt_metrics_head(m.metric);
                kp_buf_append(out, head, strlen(head));
                each_group(rt, metrics_one, &m);
        }
}

int kp_runtime_group_rates(kp_runtime_t *rt, const char *group, json_t **ratesp)
{
        rt_group_t *g = group_get(rt, group);
        json_t *a;
        int i;
        if (!g)
                return KP_ERR_NOT_FOUND;
        a = json_array();
        pthread_mutex_lock(&g->lock);
        for (i = 0; i < g->nparts; i++) {
                rt_part_t *p = g->parts[i];
                if (!p->in_plan)
                        continue;
                json_array_append_new(a, json_pack("{s:s, s:s, s:i, s:f}", "cluster", p->cl->name,
                                                   "topic", p->tp->name, "partition",
                                                   (int)p->partition, "weight",
                                                   atomic_load(&p->rate)));
        }
        pthread_mutex_unlock(&g->lock);
        group_put(g);
        *ratesp = a;
        return 0;
}
