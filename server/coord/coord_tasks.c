/* coord_tasks.c — the leader's placement of running tasks, and each instance's start/stop rule. */
#include "coord/coord_tasks.h"

#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/err.h"
#include "planner/placement.h"

static int task_cmp(const kp_coord_task_t *a, const kp_coord_task_t *b)
{
        int c = strcmp(a->group, b->group);
        return c ? c : (a->task > b->task) - (a->task < b->task);
}

/* @returns the index of @p t in the sorted @p v, or where it would go (~index, negative). */
static long tasks_find(const kp_coord_task_t *v, size_t n, kp_coord_task_t t)
{
        size_t lo = 0, hi = n;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = task_cmp(&v[mid], &t);
                if (!c)
                        return (long)mid;
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return ~(long)lo;
}

int kp_coord_tasks_has(const kp_coord_task_t *v, size_t n, kp_coord_task_t t)
{
        return tasks_find(v, n, t) >= 0;
}

int kp_coord_tasks_add(kp_coord_tasks_t *s, kp_coord_task_t t)
{
        long at = tasks_find(s->items, s->cnt, t);
        if (at >= 0)
                return 0;
        size_t i = (size_t)~at;
        if (s->cnt == s->cap) {
                size_t cap = s->cap ? s->cap * 2 : 16;
                kp_coord_task_t *items = realloc(s->items, cap * sizeof(*items));
                if (!items)
                        return KP_ERR_NOMEM;
                s->items = items;
                s->cap = cap;
        }
        memmove(&s->items[i + 1], &s->items[i], (s->cnt - i) * sizeof(*s->items));
        s->items[i] = t;
        s->cnt++;
        return 0;
}

void kp_coord_tasks_cleanup(kp_coord_tasks_t *s)
{
        free(s->items);
        memset(s, 0, sizeof(*s));
}

void kp_coord_tasks_free(kp_coord_tasks_t *s)
{
        /* sorted by group: the tasks of one group are adjacent and share its copy */
        for (size_t i = 0; i < s->cnt; i++)
                if (!i || s->items[i].group != s->items[i - 1].group)
                        free((char *)s->items[i].group);
        kp_coord_tasks_cleanup(s);
}

int kp_coord_tasks_copy(kp_coord_tasks_t *dst, const kp_coord_task_t *v, size_t n)
{
        memset(dst, 0, sizeof(*dst));
        if (!n)
                return 0;
        if (!(dst->items = malloc(n * sizeof(*dst->items))))
                return KP_ERR_NOMEM;
        dst->cap = n;
        for (size_t i = 0; i < n; i++) {
                const char *g = i && !strcmp(v[i].group, v[i - 1].group) ? dst->items[i - 1].group
                                                                         : strdup(v[i].group);
                if (!g) {
                        kp_coord_tasks_free(dst);
                        return KP_ERR_NOMEM;
                }
                dst->items[dst->cnt++] = (kp_coord_task_t){g, v[i].task};
        }
        return 0;
}

json_t *kp_coord_tasks_json(const kp_coord_task_t *v, size_t n)
{
        json_t *o = json_object(), *arr = NULL;
        for (size_t i = 0; o && i < n; i++) {
                if (!i || strcmp(v[i].group, v[i - 1].group)) {
                        arr = json_array();
                        json_object_set_new(o, v[i].group, arr);
                }
                json_array_append_new(arr, json_integer(v[i].task));
        }
        return o;
}

/* Adds the tasks of @p arr for group @p group (copied once) to @p dst. */
static int tasks_parse_group(const char *group, const json_t *arr, size_t max,
                             kp_coord_tasks_t *dst)
{
        size_t len = strlen(group), i;
        json_t *t;
        if (!json_is_array(arr) || !len || len >= KP_NAME_MAX ||
            dst->cnt + json_array_size(arr) > max)
                return KP_ERR_INVALID;
        if (!json_array_size(arr))
                return 0;
        char *g = strdup(group);
        int used = 0; /* once a task holds g, dst frees it */
        if (!g)
                return KP_ERR_NOMEM;
        json_array_foreach(arr, i, t)
        {
                json_int_t v = json_integer_value(t);
                int err = !json_is_integer(t) || v < 0 || v > INT32_MAX
                                  ? KP_ERR_INVALID
                                  : kp_coord_tasks_add(dst, (kp_coord_task_t){g, (int)v});
                if (err) {
                        if (!used)
                                free(g);
                        return err;
                }
                used = 1;
        }
        return 0;
}

int kp_coord_tasks_parse(const json_t *o, size_t max, kp_coord_tasks_t *dst)
{
        const char *group;
        json_t *arr;
        memset(dst, 0, sizeof(*dst));
        if (!json_is_object(o))
                return KP_ERR_INVALID;
        json_object_foreach((json_t *)o, group, arr)
        {
                int err = tasks_parse_group(group, arr, max, dst);
                if (err) {
                        kp_coord_tasks_free(dst);
                        return err;
                }
        }
        return 0;
}

void kp_coord_placement_cleanup(kp_coord_placement_t *p)
{
        kp_coord_tasks_cleanup(&p->tasks);
        free(p->owner);
        memset(p, 0, sizeof(*p));
}

/* @returns the index of instance @p id among the @p n ids of @p live, or -1. */
static int32_t live_index(const char *const *live, size_t n, const char *id)
{
        for (size_t i = 0; id && i < n; i++)
                if (!strcmp(live[i], id))
                        return (int32_t)i;
        return -1;
}

/* @returns the owner of @p t in @p prev (NULL: none, or no previous placement). */
static const char *prev_owner(const kp_coord_placement_t *prev, kp_coord_task_t t)
{
        long at = prev ? tasks_find(prev->tasks.items, prev->tasks.cnt, t) : -1;
        return at >= 0 ? prev->owner[at] : NULL;
}

int kp_coord_placement_next(const kp_coord_placement_t *prev, const kp_coord_tasks_t *running,
                            const char *const *live, size_t nlive, kp_coord_placement_t *next)
{
        size_t n = running->cnt;
        if (n && !nlive)
                return KP_ERR_INVALID;
        int32_t *idx = malloc((n ? n : 1) * sizeof(*idx));
        kp_coord_placement_t p = {.epoch = prev ? prev->epoch : 0};
        p.owner = malloc((n ? n : 1) * sizeof(*p.owner));
        p.tasks.items = malloc((n ? n : 1) * sizeof(*p.tasks.items));
        if (!idx || !p.owner || !p.tasks.items) {
                free(idx);
                kp_coord_placement_cleanup(&p);
                return KP_ERR_NOMEM;
        }
        p.tasks.cnt = p.tasks.cap = n;
        if (n)
                memcpy(p.tasks.items, running->items, n * sizeof(*p.tasks.items));
        for (size_t i = 0; i < n; i++)
                idx[i] = live_index(live, nlive, prev_owner(prev, running->items[i]));
        if (n && kp_placement_balance(idx, n, nlive) < 0) {
                free(idx);
                kp_coord_placement_cleanup(&p);
                return KP_ERR_NOMEM;
        }
        int changed = !prev || prev->tasks.cnt != n;
        for (size_t i = 0; i < n; i++) {
                p.owner[i] = live[idx[i]];
                const char *was = prev_owner(prev, running->items[i]);
                changed |= !was || strcmp(was, p.owner[i]);
        }
        free(idx);
        p.epoch += changed;
        *next = p;
        return 0;
}

/* 1 when no other report can still be running @p t under @p pl: each acted on its epoch and
 * none lists the task. */
static int nobody_else_runs(const kp_coord_placement_t *pl, const kp_coord_report_t *others,
                            size_t nothers, kp_coord_task_t t)
{
        for (size_t i = 0; i < nothers; i++)
                if (others[i].epoch < pl->epoch ||
                    kp_coord_tasks_has(others[i].running, others[i].nrunning, t))
                        return 0;
        return 1;
}

int kp_coord_tasks_decide(const kp_coord_placement_t *pl, const char *self,
                          const kp_coord_tasks_t *mine, const kp_coord_report_t *others,
                          size_t nothers, kp_coord_tasks_t *start, kp_coord_tasks_t *stop)
{
        start->cnt = stop->cnt = 0;
        for (size_t i = 0; i < mine->cnt; i++) {
                long at = tasks_find(pl->tasks.items, pl->tasks.cnt, mine->items[i]);
                if ((at < 0 || strcmp(pl->owner[at], self)) &&
                    kp_coord_tasks_add(stop, mine->items[i]))
                        return KP_ERR_NOMEM;
        }
        for (size_t i = 0; i < pl->tasks.cnt; i++) {
                kp_coord_task_t t = pl->tasks.items[i];
                if (strcmp(pl->owner[i], self) || kp_coord_tasks_has(mine->items, mine->cnt, t))
                        continue;
                if (nobody_else_runs(pl, others, nothers, t) && kp_coord_tasks_add(start, t))
                        return KP_ERR_NOMEM;
        }
        return 0;
}
