/* plans.h — a group's next plan: computed from a snapshot, stored, applied. */
#ifndef KP_APP_PLANS_H
#define KP_APP_PLANS_H

#include <jansson.h>
#include <stddef.h>

#include "app/app.h"

/*
 * Computes and stores group @p group's next plan from one snapshot of the group, the
 * registrations and its current plan (sticky to it). @p opts may be NULL or hold
 * "parallelism", "strategy", "weights" (validated by the caller). A weighted plan
 * without weights takes the running group's rates, else samples the log ends (a
 * KP_WEIGHT_SAMPLE_MS sleep). *planp = the stored plan doc. Takes the group's lock.
 * @returns 0 or kp_err_t with errstr (KP_ERR_NOT_FOUND: no such group).
 */
int kp_app_group_replan(kp_app_t *app, const char *group, const json_t *opts, json_t **planp,
                        char *errstr, size_t errstr_size);
/* The same for a caller that holds the group's lock already. */
int kp_app_group_replan_locked(kp_app_t *app, const char *group, const json_t *opts, json_t **planp,
                               char *errstr, size_t errstr_size);

/*
 * POST .../plans: replans as kp_app_group_replan and, with @p apply, hands the plan to
 * the group's tasks when it runs, both under the group's lock (so what runs is what is
 * current). @returns 0 or the replan's kp_err_t with errstr; *apply_errp = 0 or the
 * apply's kp_err_t (errstr says why; the plan is stored all the same).
 */
int kp_app_group_plan(kp_app_t *app, const char *group, const json_t *opts, int apply,
                      json_t **planp, int *apply_errp, char *errstr, size_t errstr_size);

/*
 * Partition counts of cluster @p cluster changed (discovery or refresh): every group
 * reading one of its topics gets a new sticky plan of the same parallelism and strategy,
 * applied to its running tasks. @p opaque is a kp_app_t (a kp_discovery_changed_cb_t).
 */
void kp_app_partitions_changed(void *opaque, const char *cluster);

#endif /* KP_APP_PLANS_H */
