/* groups.h — starting, applying to, stopping and resuming a group's tasks. */
#ifndef KP_APP_GROUPS_H
#define KP_APP_GROUPS_H

#include <jansson.h>
#include <stddef.h>

#include "app/app.h"

/* Hands plan doc @p plan to running group @p name's tasks (a live change). The caller
 * holds the group's lock. @returns 0 or kp_err_t with errstr. */
int kp_app_group_apply_locked(kp_app_t *app, const char *name, const json_t *plan, char *errstr,
                              size_t errstr_size);

/*
 * POST .../start: starts group @p name with its current plan (making one if none; a
 * failed run is cleared first) and marks it to run on the next boot. app->rt must be
 * set. @returns 0 or kp_err_t with errstr (KP_ERR_CONFLICT: it runs already).
 */
int kp_app_group_start(kp_app_t *app, const char *name, char *errstr, size_t errstr_size);

/* POST .../stop: marks group @p name not to run and stops its tasks (drain, commit). */
void kp_app_group_stop(kp_app_t *app, const char *name);

/* Starts group @p name with its current plan (making one if none), as on boot for groups
 * that were running when kplane stopped. @returns 0 or kp_err_t with errstr. */
int kp_app_group_resume(kp_app_t *app, const char *name, char *errstr, size_t errstr_size);

/*
 * Several instances: brings group @p name's tasks in this instance's runtime to the share the
 * work loop gives it (kp_work_mask) on its current plan: started, applied (tasks handed in or
 * out: what leaves is committed first), or stopped when none is here. Takes the group's lock.
 * @p version: the plan version to run (the placement's; 0: current). @p release: only let go —
 * of a new version's partitions, take none that another instance may still read (those this
 * runtime does not read now and the running plan names); start nothing.
 * @returns 0 or kp_err_t with errstr.
 */
int kp_app_group_sync(kp_app_t *app, const char *name, int version, int release, char *errstr,
                      size_t errstr_size);

/* Resumes every group marked to run (at boot), saying each outcome on stderr. */
void kp_app_groups_resume(kp_app_t *app);

#endif /* KP_APP_GROUPS_H */
