/* coord_status.h — the status topic's records: each instance's id, URL and times, as JSON. */
#ifndef KP_COORD_STATUS_H
#define KP_COORD_STATUS_H

#include <stddef.h>

#include "coord/coord_view.h"

/* The latest record of every instance read from the status topic (strings owned). */
typedef struct kp_coord_statuses {
        kp_coord_status_t *rows;
        size_t cnt, cap;
} kp_coord_statuses_t;

/*
 * Applies one record of the status topic to @p t: a value replaces instance @p key's row, a
 * tombstone (@p value NULL) drops it. A value that is not {"id": key, "url", "joined_at",
 * "last_seen"} strings within KP_COORD_ID_MAX / KP_COORD_URL_MAX, with an optional report
 * ("epoch" >= 0, "tasks" {"group": [task, ...]} of at most KP_COORD_REPORT_TASKS_MAX), or a
 * new id beyond KP_COORD_STATUS_MAX rows, is ignored. @returns 0, KP_ERR_INVALID (ignored) or
 * KP_ERR_NOMEM.
 */
int kp_coord_statuses_apply(kp_coord_statuses_t *t, const char *key, size_t key_len,
                            const char *value, size_t value_len);

/* Frees every row; @p t is empty afterwards. */
void kp_coord_statuses_cleanup(kp_coord_statuses_t *t);

/* @returns the JSON value of record @p st (every field set; malloc'd, free it) or NULL. */
char *kp_coord_status_json(const kp_coord_status_t *st);

#endif /* KP_COORD_STATUS_H */
