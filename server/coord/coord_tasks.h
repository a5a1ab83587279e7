/* coord_tasks.h — shared work among instances: the leader's placement of every running task, and
 * each instance's decision of what to stop and what it may start (pure: no I/O, no clock). */
#ifndef KP_COORD_TASKS_H
#define KP_COORD_TASKS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* One task of a running group: the unit of shared work (group borrowed). */
typedef struct kp_coord_task {
        const char *group;
        int task;
} kp_coord_task_t;

/* A set of tasks (sorted by group, then task; kp_coord_tasks_cleanup frees the array). */
typedef struct kp_coord_tasks {
        kp_coord_task_t *items;
        size_t cnt, cap;
} kp_coord_tasks_t;

/*
 * The placement in force: task tasks.items[i] runs on instance owner[i] (borrowed ids). The
 * leader numbers each placement it publishes: epoch grows by one whenever an owner changes.
 */
typedef struct kp_coord_placement {
        int64_t epoch;
        kp_coord_tasks_t tasks;
        const char **owner; /* tasks.cnt entries */
} kp_coord_placement_t;

/* What another live instance last reported (its status record): the placement epoch it has
 * acted on (stopped every task that placement took from it) and the tasks it runs. */
typedef struct kp_coord_report {
        const char *id;
        int64_t epoch;
        const kp_coord_task_t *running; /* sorted like kp_coord_tasks_t */
        size_t nrunning;
} kp_coord_report_t;

/* Adds @p t (its group borrowed) to @p s, kept sorted; a task already in it is not added
 * twice. @returns 0 or KP_ERR_NOMEM. */
int kp_coord_tasks_add(kp_coord_tasks_t *s, kp_coord_task_t t);

/* 1 when @p t is in the @p n sorted tasks @p v. */
int kp_coord_tasks_has(const kp_coord_task_t *v, size_t n, kp_coord_task_t t);

void kp_coord_tasks_cleanup(kp_coord_tasks_t *s);

/* A set whose groups it owns (kp_coord_tasks_parse, kp_coord_tasks_copy): frees each group
 * once, then the set. */
void kp_coord_tasks_free(kp_coord_tasks_t *s);

/* @p dst = a copy of the @p n sorted tasks @p v that owns its groups (kp_coord_tasks_free
 * it). @returns 0 or KP_ERR_NOMEM (@p dst then empty). */
int kp_coord_tasks_copy(kp_coord_tasks_t *dst, const kp_coord_task_t *v, size_t n);

/* The @p n sorted tasks @p v as a status record says them: {"group": [task, ...], ...}. */
json_t *kp_coord_tasks_json(const kp_coord_task_t *v, size_t n);

/* Reads @p o ({"group": [task, ...]}, groups of 1..KP_NAME_MAX-1 bytes, tasks 0..INT_MAX, at
 * most @p max in all) into @p dst, which owns its groups (kp_coord_tasks_free it).
 * @returns 0, KP_ERR_INVALID (not that shape; @p dst empty) or KP_ERR_NOMEM. */
int kp_coord_tasks_parse(const json_t *o, size_t max, kp_coord_tasks_t *dst);

/*
 * The leader's next placement: every task of @p running (sorted) gets an owner among the
 * @p nlive instances @p live, the counts differ by at most one, and only what must move
 * moves (kp_placement_balance): a task keeps its owner in @p prev (may be NULL: none yet)
 * while that owner is live and under its share. @p next's epoch is prev's, plus one when any
 * owner differs from prev's (a task added or removed alone does not move anything, but still
 * counts as a change). @p next borrows the ids of @p live and the groups of @p running.
 * @returns 0, KP_ERR_INVALID (tasks but no live instance: @p next unchanged) or KP_ERR_NOMEM.
 */
int kp_coord_placement_next(const kp_coord_placement_t *prev, const kp_coord_tasks_t *running,
                            const char *const *live, size_t nlive, kp_coord_placement_t *next);

void kp_coord_placement_cleanup(kp_coord_placement_t *p);

/*
 * What instance @p self does under placement @p pl, running @p mine now, given the reports of
 * the other live instances @p others (a dead instance's report is left out by the caller: it
 * holds nothing back). @p stop gets the tasks of @p mine that @p pl does not give to @p self:
 * they stop first, their offsets committed, and only then does @p self report @p pl's epoch.
 * @p start gets the tasks @p pl gives to @p self that are not in @p mine and that no other
 * instance can still be running: every other report has acted on @p pl's epoch and does not
 * list the task. So a task never runs on two live instances, whatever order the reports
 * arrive in. Both sets are emptied first (their groups borrowed from @p pl and @p mine).
 * @returns 0 or KP_ERR_NOMEM.
 */
int kp_coord_tasks_decide(const kp_coord_placement_t *pl, const char *self,
                          const kp_coord_tasks_t *mine, const kp_coord_report_t *others,
                          size_t nothers, kp_coord_tasks_t *start, kp_coord_tasks_t *stop);

#endif /* KP_COORD_TASKS_H */
