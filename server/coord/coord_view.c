/* coord_view.c — the instances of the service: live members joined with their status records. */
#include "coord/coord_view.h"

#include <stdlib.h>
#include <string.h>

#include "base/err.h"

static int instance_cmp(const void *a, const void *b)
{
        const kp_coord_instance_t *x = a, *y = b;
        return strcmp(x->id, y->id);
}

/* @returns a copy of @p s, or NULL when @p s is NULL; *@p oom set when the copy failed. */
static char *dup_or_null(const char *s, int *oom)
{
        char *d = s ? strdup(s) : NULL;
        if (s && !d)
                *oom = 1;
        return d;
}

/* The record of instance @p id among @p status (the last one: later records are newer). */
static const kp_coord_status_t *status_of(const char *id, const kp_coord_status_t *status,
                                          size_t nstatus)
{
        for (size_t i = nstatus; i-- > 0;)
                if (status[i].id && !strcmp(status[i].id, id))
                        return &status[i];
        return NULL;
}

/* Fills @p it from member @p m and its record. @returns 0 or KP_ERR_NOMEM. */
static int instance_fill(kp_coord_instance_t *it, const kp_coord_member_t *m,
                         const kp_coord_status_t *status, size_t nstatus)
{
        int oom = 0;
        const kp_coord_status_t *st = status_of(m->instance_id, status, nstatus);
        it->id = dup_or_null(m->instance_id, &oom);
        if (st) {
                it->url = dup_or_null(st->url, &oom);
                it->joined_at = dup_or_null(st->joined_at, &oom);
                it->last_seen = dup_or_null(st->last_seen, &oom);
                it->epoch = st->epoch;
                if (kp_coord_tasks_copy(&it->tasks, st->tasks, st->ntasks))
                        oom = 1;
        }
        return oom ? KP_ERR_NOMEM : 0;
}

int kp_coord_view_build(kp_coord_view_t *view, const kp_coord_member_t *members, size_t nmembers,
                        const kp_coord_status_t *status, size_t nstatus)
{
        const char *leader = NULL;
        view->items = NULL;
        view->cnt = 0;
        view->leader = NULL;
        view->protocol = view->group_state = NULL;
        view->session_timeout_ms = 0;
        if (nmembers) {
                view->items = calloc(nmembers, sizeof(*view->items));
                if (!view->items)
                        return KP_ERR_NOMEM;
        }
        for (size_t i = 0; i < nmembers; i++) {
                if (!members[i].instance_id)
                        continue;
                if (instance_fill(&view->items[view->cnt++], &members[i], status, nstatus))
                        goto oom;
                if (members[i].leads && (!leader || strcmp(members[i].instance_id, leader) < 0))
                        leader = members[i].instance_id;
        }
        if (view->cnt)
                qsort(view->items, view->cnt, sizeof(*view->items), instance_cmp);
        if (leader && !(view->leader = strdup(leader)))
                goto oom;
        return 0;
oom:
        kp_coord_view_cleanup(view);
        return KP_ERR_NOMEM;
}

void kp_coord_view_cleanup(kp_coord_view_t *view)
{
        for (size_t i = 0; i < view->cnt; i++) {
                free(view->items[i].id);
                free(view->items[i].url);
                free(view->items[i].joined_at);
                free(view->items[i].last_seen);
                kp_coord_tasks_free(&view->items[i].tasks);
        }
        free(view->items);
        free(view->leader);
        view->items = NULL;
        view->cnt = 0;
        view->leader = NULL;
}
