/* groups.c — starting, applying to, stopping and resuming a group's tasks. */
#include "app/groups.h"

#include <stdio.h>
#include <string.h>

#include "app/cluster.h"
#include "app/plans.h"
#include "app/sinks.h"
#include "app/work.h"
#include "sinks/sink_dlq.h"
#include "base/err.h"
#include "db/store.h"
#include "runtime/runtime.h"
#include "runtime/runtime_plan.h"

/* The cluster names a plan reads from (for the runtime's client configs). */
static json_t *plan_clusters(const json_t *plan)
{
        json_t *names = json_array(), *seen = json_object();
        size_t i, j;
        json_t *t, *pt;
        json_array_foreach(json_object_get(plan, "tasks"), i, t)
        {
                json_array_foreach(json_object_get(t, "partitions"), j, pt)
                {
                        const char *c = json_string_value(json_object_get(pt, "cluster"));
                        if (c && !json_object_get(seen, c)) {
                                json_object_set_new(seen, c, json_true());
                                json_array_append_new(names, json_string(c));
                        }
                }
        }
        json_decref(seen);
        return names;
}

static kp_work_t *app_work(kp_app_t *app)
{
        return __atomic_load_n(&app->work, __ATOMIC_ACQUIRE);
}

/* Hands @p plan to the runtime: a start of group doc @p group (@p group non-NULL) or a
 * live change of running group @p name; with several instances, only the tasks this one runs
 * (kp_work_mask: the others are absent). */
static int group_run(kp_app_t *app, const char *name, const json_t *group, const json_t *plan,
                     const unsigned char *absent, char *errstr, size_t errstr_size)
{
        json_t *names = plan_clusters(plan);
        json_t *clusters =
                kp_app_clusters_for_runtime(app->store, app->emb, names, errstr, errstr_size);
        json_decref(names);
        if (!clusters)
                return KP_ERR_UNAVAILABLE;
        /* the stored plan document, read once into the runtime's typed plan */
        kp_rt_plan_t rp = {0};
        int err = kp_rt_plan_from_json(plan, clusters, &rp, errstr, errstr_size);
        /* an absent task reads nothing here: its partitions are another instance's */
        for (int t = 0; !err && absent && t < rp.ntasks; t++)
                if (absent[t])
                        rp.tasks[t].nparts = 0;
        rp.absent = absent;
        if (!err)
                err = group ? kp_runtime_start(app->rt, group, &rp, errstr, errstr_size)
                            : kp_runtime_apply(app->rt, name, &rp, errstr, errstr_size);
        kp_rt_plan_cleanup(&rp);
        json_decref(clusters);
        return err;
}

int kp_app_group_apply_locked(kp_app_t *app, const char *name, const json_t *plan, char *errstr,
                              size_t errstr_size)
{
        /* A plan may read a topic the running one did not (a pattern matched a new one):
         * its kafka sink target must exist as at start, or the change is refused and the
         * group runs on (else the new topic's tasks would fail at delivery timeout). */
        json_t *doc = NULL;
        int err = kp_store_group_get(app->store, name, &doc, errstr, errstr_size);
        if (!err)
                err = kp_app_sink_check_targets(app, json_object_get(doc, "sink"), plan, errstr,
                                                errstr_size);
        unsigned char *absent = NULL;
        int present = 0;
        if (app_work(app)) { /* several instances: the work loops apply it, placement first */
                json_decref(doc);
                kp_work_kick(app_work(app));
                return err;
        }
        if (!err)
                err = kp_work_mask(app_work(app), name,
                                   (int)json_integer_value(json_object_get(plan, "parallelism")),
                                   json_is_true(json_object_get(doc, "rebalance")), &absent,
                                   &present);
        json_decref(doc);
        /* several instances: no task of it here, nothing to change (each instance applies the
         * new version to its own tasks in its work loop) */
        if (!err && present)
                err = group_run(app, name, NULL, plan, absent, errstr, errstr_size);
        free(absent);
        kp_work_kick(app_work(app));
        return err;
}

/* A kafka dead letter's target topics must exist too (kp_app_sink_check_targets). */
static int group_check_dead_letter(kp_app_t *app, const json_t *doc, const json_t *plan,
                                   char *errstr, size_t errstr_size)
{
        const json_t *dl = kp_sink_errors_dead_letter(json_object_get(doc, "errors"));
        char why[512];
        int err = dl ? kp_app_sink_check_targets(app, dl, plan, why, sizeof(why)) : 0;
        if (err)
                snprintf(errstr, errstr_size, "errors.dead_letter%.400s",
                         strncmp(why, "sink", 4) ? why : why + 4);
        return err;
}

/* Starts this instance's share of group doc @p doc's tasks on @p plan (every task for a single
 * process); none here: 0, nothing started. */
static int group_run_share(kp_app_t *app, const char *name, const json_t *doc, const json_t *plan,
                           int *present, char *errstr, size_t errstr_size)
{
        unsigned char *absent = NULL;
        int err = kp_work_mask(app_work(app), name,
                               (int)json_integer_value(json_object_get(plan, "parallelism")),
                               json_is_true(json_object_get(doc, "rebalance")), &absent, present);
        if (!err && *present)
                err = group_run(app, name, doc, plan, absent, errstr, errstr_size);
        free(absent);
        return err;
}

/* Starts group @p name with its current plan, made first when there is none; the caller
 * holds the group's lock. @p clear_failed: a failed run is stopped first. With several
 * instances (app->work) the checks run and the plan is made, but tasks start in each
 * instance's work loop: @p run 0 starts nothing here. */
static int group_start_locked(kp_app_t *app, const char *name, int clear_failed, int run,
                              int version, char *errstr, size_t errstr_size)
{
        json_t *doc = NULL, *plan = NULL;
        int err = kp_store_group_get(app->store, name, &doc, errstr, errstr_size);
        if (err) {
                if (err == KP_ERR_NOT_FOUND)
                        snprintf(errstr, errstr_size, "no group named %s", name);
                return err;
        }
        err = kp_store_plan_get(app->store, name, version, &plan, errstr, errstr_size);
        if (err == KP_ERR_NOT_FOUND && !version)
                err = kp_app_group_replan_locked(app, name, NULL, &plan, errstr, errstr_size);
        /* a failed group stays registered until stopped: clear it to start afresh */
        if (!err && clear_failed &&
            kp_runtime_group_state(app->rt, name, NULL, 0) == KP_GROUP_FAILED)
                kp_runtime_group_stop(app->rt, name, 0, errstr, errstr_size);
        /* a kafka sink's target topics must exist: refused now, not by a failed task */
        if (!err)
                err = kp_app_sink_check_targets(app, json_object_get(doc, "sink"), plan, errstr,
                                                errstr_size);
        /* and so must a kafka dead letter's (the message names it: errors.dead_letter...) */
        if (!err)
                err = group_check_dead_letter(app, doc, plan, errstr, errstr_size);
        int present = 0;
        if (!err && run)
                err = group_run_share(app, name, doc, plan, &present, errstr, errstr_size);
        json_decref(plan);
        json_decref(doc);
        return err;
}

/* "cluster/topic/partition" of plan or status entry @p pt into @p buf. */
static const char *part_key(const json_t *pt, char *buf, size_t size)
{
        snprintf(buf, size, "%s/%s/%lld", json_string_value(json_object_get(pt, "cluster")),
                 json_string_value(json_object_get(pt, "topic")),
                 (long long)json_integer_value(json_object_get(pt, "partition")));
        return buf;
}

/*
 * Several instances, a new plan version: *@p somep = @p plan with only the partitions this
 * instance may take before the others let go: those its runtime reads now and those the plan
 * running here does not name (new to the group: no one reads them). The others' are taken by
 * the full sync, once every instance reported the placement that carries the version.
 */
static int group_let_go(kp_app_t *app, const char *name, const json_t *plan, json_t **somep,
                        char *errstr, size_t errstr_size)
{
        char key[1024];
        kp_runtime_summary_t sum;
        json_t *old = NULL, *here = json_object(), *named = json_object(), *t, *pt;
        json_t *status = kp_runtime_group_status(app->rt, name);
        size_t i, j;
        int err = kp_runtime_group_summary(app->rt, name, &sum);
        if (!err)
                err = kp_store_plan_get(app->store, name, sum.plan_version, &old, errstr,
                                        errstr_size);
        json_array_foreach(json_object_get(status, "partitions"), i, pt)
                json_object_set_new(here, part_key(pt, key, sizeof(key)), json_true());
        json_array_foreach(json_object_get(old, "tasks"), i, t)
                json_array_foreach(json_object_get(t, "partitions"), j, pt)
                        json_object_set_new(named, part_key(pt, key, sizeof(key)), json_true());
        *somep = err ? NULL : json_deep_copy(plan);
        json_array_foreach(json_object_get(*somep, "tasks"), i, t)
        {
                json_t *keep = json_array();
                json_array_foreach(json_object_get(t, "partitions"), j, pt)
                {
                        part_key(pt, key, sizeof(key));
                        if (json_object_get(here, key) || !json_object_get(named, key))
                                json_array_append(keep, pt);
                }
                json_object_set_new(t, "partitions", keep);
        }
        json_decref(status);
        json_decref(old);
        json_decref(here);
        json_decref(named);
        return err;
}

/* 1 when group @p name is marked to run. */
static int group_desired(kp_app_t *app, const char *name)
{
        char errstr[256];
        json_t *names = NULL, *n;
        size_t i;
        int found = 0;
        if (kp_store_group_list_desired(app->store, &names, errstr, sizeof(errstr)))
                return 0;
        json_array_foreach(names, i, n) found |= !strcmp(json_string_value(n), name);
        json_decref(names);
        return found;
}

int kp_app_group_start(kp_app_t *app, const char *name, char *errstr, size_t errstr_size)
{
        char ignored[256];
        kp_work_t *w = app_work(app);
        kp_app_group_lock(app, name);
        int err = group_start_locked(app, name, 1, !w, 0, errstr, errstr_size);
        if (!err && w && group_desired(app, name)) {
                snprintf(errstr, errstr_size, "group %s is already running", name);
                err = KP_ERR_CONFLICT; /* several instances: the work loops start its tasks */
        }
        if (!err && w)
                err = kp_store_group_set_desired(app->store, name, 1, errstr, errstr_size);
        else if (!err)
                kp_store_group_set_desired(app->store, name, 1, ignored, sizeof(ignored));
        kp_app_group_unlock(app, name);
        kp_work_kick(w);
        return err;
}

void kp_app_group_stop(kp_app_t *app, const char *name)
{
        char errstr[512];
        kp_app_group_lock(app, name);
        kp_store_group_set_desired(app->store, name, 0, errstr, sizeof(errstr));
        /* several instances: the work loops stop its tasks once the placement drops them */
        if (app->rt && !app_work(app))
                kp_runtime_group_stop(app->rt, name, 0, errstr, sizeof(errstr));
        kp_app_group_unlock(app, name);
        kp_work_kick(app_work(app));
}

int kp_app_group_sync(kp_app_t *app, const char *name, int version, int release, char *errstr,
                      size_t errstr_size)
{
        json_t *doc = NULL, *plan = NULL, *some = NULL;
        unsigned char *absent = NULL;
        int present = 0;
        kp_app_group_lock(app, name);
        int st = kp_runtime_group_state(app->rt, name, NULL, 0);
        int err = kp_store_group_get(app->store, name, &doc, errstr, errstr_size);
        if (!err)
                err = kp_store_plan_get(app->store, name, version, &plan, errstr, errstr_size);
        if (!err)
                err = kp_work_mask(app_work(app), name,
                                   (int)json_integer_value(json_object_get(plan, "parallelism")),
                                   json_is_true(json_object_get(doc, "rebalance")), &absent,
                                   &present);
        if (err || !present) { /* none of it here (or the group is gone): stop what runs */
                char why[256];
                if (st != KP_GROUP_STOPPED)
                        kp_runtime_group_stop(app->rt, name, 0, why, sizeof(why));
                err = err == KP_ERR_NOT_FOUND ? 0 : err;
                goto out;
        }
        if (release && (st == KP_GROUP_STOPPED || st == KP_GROUP_FAILED))
                goto out;          /* nothing read here to let go of; the full sync starts it */
        if (st == KP_GROUP_FAILED) /* cleared to start afresh */
                kp_runtime_group_stop(app->rt, name, 0, errstr, errstr_size);
        if (st == KP_GROUP_FAILED || st == KP_GROUP_STOPPED)
                err = group_start_locked(app, name, 0, 1, version, errstr, errstr_size);
        else if (release && !(err = group_let_go(app, name, plan, &some, errstr, errstr_size)))
                err = group_run(app, name, NULL, some, absent, errstr, errstr_size);
        else if (!release)
                err = group_run(app, name, NULL, plan, absent, errstr, errstr_size);
out:
        kp_app_group_unlock(app, name);
        free(absent);
        json_decref(some);
        json_decref(plan);
        json_decref(doc);
        return err;
}

int kp_app_group_resume(kp_app_t *app, const char *name, char *errstr, size_t errstr_size)
{
        kp_app_group_lock(app, name);
        int err = group_start_locked(app, name, 0, 1, 0, errstr, errstr_size);
        kp_app_group_unlock(app, name);
        return err;
}

void kp_app_groups_resume(kp_app_t *app)
{
        char errstr[512];
        json_t *names = NULL, *n;
        size_t i;
        if (!app->rt || kp_store_group_list_desired(app->store, &names, errstr, sizeof(errstr)))
                return;
        json_array_foreach(names, i, n)
        {
                const char *name = json_string_value(n);
                if (kp_app_group_resume(app, name, errstr, sizeof(errstr)))
                        fprintf(stderr, "kplane: cannot resume group %s: %s\n", name, errstr);
                else
                        fprintf(stderr, "kplane: resumed group %s\n", name);
        }
        json_decref(names);
}
