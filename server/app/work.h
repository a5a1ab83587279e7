/* work.h — several instances (issue 15 step 3): which running tasks this instance runs. */
#ifndef KP_APP_WORK_H
#define KP_APP_WORK_H

#include <jansson.h>
#include <stddef.h>

#include "app/app.h"

typedef struct kp_work kp_work_t;

/*
 * Starts the work loop of a service instance (app->coord shared): a thread that every
 * KP_APP_WORK_INTERVAL_MS, on the leader, places every task of every group marked to run
 * over the live instances (kp_coord_placement_next) and writes the placement to the shared
 * state when it changed; and on every instance reads that placement, the other live
 * instances' reports and its own tasks, stops (flush, commit) the tasks it must give up,
 * reports, then starts the tasks it may start (kp_coord_tasks_decide). Without its lease it
 * stops every task without committing. @returns it or NULL (out of memory, no thread).
 */
kp_work_t *kp_work_start(kp_app_t *app);

/* Wakes the loop now (a group started or stopped, a plan changed). NULL does nothing. */
void kp_work_kick(kp_work_t *w);

/* Stops the loop (the tasks keep running: the runtime's stop ends them). NULL does nothing. */
void kp_work_stop(kp_work_t *w);

/*
 * The tasks of group @p name (plan parallelism @p parallelism) this instance runs, as the
 * runtime's absent mask (kp_rt_plan_t.absent): *@p absentp a new array of @p parallelism
 * bytes (free it), 1 for a task another instance runs; *@p present how many run here. With
 * no work loop (a single process) every task runs here: *@p absentp NULL. @returns 0 or
 * KP_ERR_NOMEM.
 */
int kp_work_mask(kp_work_t *w, const char *name, int parallelism, int rebalance,
                 unsigned char **absentp, int *present);

/* Adds "instance" (its owner's id under the placement in force) to each task of group
 * status @p status ("tasks": [{"task": n, ...}]); a single process names itself. */
void kp_work_annotate(kp_app_t *app, const char *name, json_t *status);

#endif /* KP_APP_WORK_H */
