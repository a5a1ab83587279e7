/* groups.c — starting, applying to, stopping and resuming a group's tasks. */
#include "app/groups.h"

#include <stdio.h>
#include <string.h>

#include "app/cluster.h"
#include "app/plans.h"
#include "app/sinks.h"
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

/* Hands @p plan to the runtime: a start of group doc @p group (@p group non-NULL) or a
 * live change of running group @p name. */
static int group_run(kp_app_t *app, const char *name, const json_t *group, const json_t *plan,
                     char *errstr, size_t errstr_size)
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
        json_decref(doc);
        return err ? err : group_run(app, name, NULL, plan, errstr, errstr_size);
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

/* Starts group @p name with its current plan, made first when there is none; the caller
 * holds the group's lock. @p clear_failed: a failed run is stopped first. */
static int group_start_locked(kp_app_t *app, const char *name, int clear_failed, char *errstr,
                              size_t errstr_size)
{
        json_t *doc = NULL, *plan = NULL;
        int err = kp_store_group_get(app->store, name, &doc, errstr, errstr_size);
        if (err) {
                if (err == KP_ERR_NOT_FOUND)
                        snprintf(errstr, errstr_size, "no group named %s", name);
                return err;
        }
        err = kp_store_plan_get(app->store, name, 0, &plan, errstr, errstr_size);
        if (err == KP_ERR_NOT_FOUND)
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
        if (!err)
                err = group_run(app, name, doc, plan, errstr, errstr_size);
        json_decref(plan);
        json_decref(doc);
        return err;
}

int kp_app_group_start(kp_app_t *app, const char *name, char *errstr, size_t errstr_size)
{
        char ignored[256];
        kp_app_group_lock(app, name);
        int err = group_start_locked(app, name, 1, errstr, errstr_size);
        if (!err)
                kp_store_group_set_desired(app->store, name, 1, ignored, sizeof(ignored));
        kp_app_group_unlock(app, name);
        return err;
}

void kp_app_group_stop(kp_app_t *app, const char *name)
{
        char errstr[512];
        kp_app_group_lock(app, name);
        kp_store_group_set_desired(app->store, name, 0, errstr, sizeof(errstr));
        if (app->rt)
                kp_runtime_group_stop(app->rt, name, 0, errstr, sizeof(errstr));
        kp_app_group_unlock(app, name);
}

int kp_app_group_resume(kp_app_t *app, const char *name, char *errstr, size_t errstr_size)
{
        kp_app_group_lock(app, name);
        int err = group_start_locked(app, name, 0, errstr, errstr_size);
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
