/* store_placement.h — the leader's placement of running tasks over instances (issue 15 step 3),
 * one document in the shared state. */
#ifndef KP_STORE_PLACEMENT_H
#define KP_STORE_PLACEMENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct kp_store;

/*
 * Writes the placement: @p epoch and @p doc ({"group": ["instance of task 0", ...], ...}),
 * when the stored epoch is still @p prev_epoch (-1: none stored yet), so a deposed leader's
 * late write cannot replace a newer placement. In log mode it travels through the state log
 * like every write (one record, key placement/tasks). @returns 0, KP_ERR_CONFLICT (another
 * epoch is stored) or the store's errors.
 */
int kp_store_placement_put(struct kp_store *st, int64_t prev_epoch, int64_t epoch,
                           const json_t *doc, char *errstr, size_t errstr_size);

/* *epochp and *docp (a new reference) = the stored placement. @returns 0, KP_ERR_NOT_FOUND
 * (none yet: *epochp -1, *docp NULL) or the store's errors. */
int kp_store_placement_get(struct kp_store *st, int64_t *epochp, json_t **docp, char *errstr,
                           size_t errstr_size);

#endif /* KP_STORE_PLACEMENT_H */
