/* coord_view.h — who is in the service: the group's members joined with their status records. */
#ifndef KP_COORD_VIEW_H
#define KP_COORD_VIEW_H

#include <stddef.h>
#include <stdint.h>

#include "coord/coord_tasks.h"

/* One member of the group as the coordinator lists it (or as an instance knows itself). */
typedef struct kp_coord_member {
        const char *instance_id; /* its client.id: the instance id (borrowed) */
        int leads;               /* 1 when it owns partition 0 of the work topic */
} kp_coord_member_t;

/* One instance's record of the status topic (every field borrowed; any may be NULL). */
typedef struct kp_coord_status {
        const char *id, *url, *joined_at, *last_seen;
        /* the placement epoch it has acted on and the tasks it runs (sorted): its report
         * (coord_tasks.h); 0 and none before it ran anything */
        int64_t epoch;
        const kp_coord_task_t *tasks;
        size_t ntasks;
} kp_coord_status_t;

/* One live instance as GET /api/v1/instances shows it (owned by the view). */
typedef struct kp_coord_instance {
        char *id;
        char *url, *joined_at, *last_seen; /* NULL: no status record read yet */
        int64_t epoch;                     /* its report (kp_coord_status_t) */
        kp_coord_tasks_t tasks;            /* groups owned: free each, then the set */
} kp_coord_instance_t;

/* The service as one instance sees it (kp_coord_view_cleanup frees it). */
typedef struct kp_coord_view {
        kp_coord_instance_t *items; /* sorted by id */
        size_t cnt;
        char *leader;         /* the leading instance's id; NULL while none is known */
        const char *protocol; /* "classic" or "consumer"; NULL: single process (static) */
        /* the group's state as the coordinator last said it ("Stable", "PreparingRebalance",
         * ...; static); NULL: single process, or not known */
        const char *group_state;
        int session_timeout_ms; /* 0: single process */
} kp_coord_view_t;

/*
 * Builds the instances of @p view from the @p nmembers members (the live ones: only they are
 * listed) and the @p nstatus status records (a member's record is the one with its id; a
 * record without a member is an instance that died or left, and is not listed). The leader
 * is the member that owns partition 0 (the first by id should two claim it, as a group
 * caught mid-rebalance may). Pure. @returns 0 or KP_ERR_NOMEM (@p view then holds nothing).
 */
int kp_coord_view_build(kp_coord_view_t *view, const kp_coord_member_t *members, size_t nmembers,
                        const kp_coord_status_t *status, size_t nstatus);

/* Frees what a view holds and empties it; an empty view does nothing. */
void kp_coord_view_cleanup(kp_coord_view_t *view);

#endif /* KP_COORD_VIEW_H */
