/* work.c — several instances (issue 15 step 3): the placement of running tasks over the live
 * instances, and each instance's loop that stops and starts its share of them. */
#include "app/work.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/groups.h"
#include "base/config.h"
#include "base/err.h"
#include "base/ticker.h"
#include "base/util.h"
#include "coord/coord.h"
#include "coord/coord_tasks.h"
#include "db/store.h"
#include "db/store_placement.h"
#include "runtime/runtime.h"

struct kp_work {
        kp_app_t *app;
        kp_ticker_t ticker;
        int started;
        pthread_mutex_t lock;
        /* under lock: the tasks this instance runs (handed to its runtime), groups owned */
        kp_coord_tasks_t mine;
        /* loop thread only: what was last reported, and when a group whose start failed is
         * tried again (name -> mono ms), so a bad sink is not retried every pass */
        int64_t reported_epoch;
        int reported;
        json_t *retry_at;
};

/* ---- the placement document: {"group": ["owner of task 0", ...]} ---- */

/* Reads the stored placement into @p pl (ids and groups borrowed from *@p docp: keep it while
 * @p pl is used). None stored: epoch 0, no task. @returns 0 or a kp_err_t. */
static int placement_load(kp_store_t *st, json_t **docp, kp_coord_placement_t *pl)
{
        char errstr[256];
        int64_t epoch;
        const char *group;
        json_t *owners;
        size_t i;
        memset(pl, 0, sizeof(*pl));
        *docp = NULL;
        int err = kp_store_placement_get(st, &epoch, docp, errstr, sizeof(errstr));
        if (err)
                return err == KP_ERR_NOT_FOUND ? 0 : err;
        pl->epoch = epoch;
        json_object_foreach(*docp, group, owners)
        {
                json_t *o;
                json_array_foreach(
                        owners, i,
                        o) if (json_is_string(o) &&
                               kp_coord_tasks_add(
                                       &pl->tasks,
                                       (kp_coord_task_t){group, (int)i})) return KP_ERR_NOMEM;
        }
        pl->owner = calloc(pl->tasks.cnt + 1, sizeof(*pl->owner));
        if (!pl->owner)
                return KP_ERR_NOMEM;
        for (i = 0; i < pl->tasks.cnt; i++) {
                kp_coord_task_t t = pl->tasks.items[i];
                pl->owner[i] = json_string_value(
                        json_array_get(json_object_get(*docp, t.group), (size_t)t.task));
        }
        return 0;
}

/* The document of placement @p pl. */
static json_t *placement_doc(const kp_coord_placement_t *pl)
{
        json_t *doc = json_object();
        for (size_t i = 0; doc && i < pl->tasks.cnt; i++) {
                kp_coord_task_t t = pl->tasks.items[i];
                json_t *arr = json_object_get(doc, t.group);
                if (!arr) {
                        arr = json_array();
                        json_object_set_new(doc, t.group, arr);
                }
                while (arr && json_array_size(arr) < (size_t)t.task)
                        json_array_append_new(arr, json_null());
                json_array_append_new(arr, json_string(pl->owner[i]));
        }
        return doc;
}

/* Every task of every group marked to run, into @p out (groups borrowed from @p names): tasks
 * 0..parallelism-1 of its current plan; a rebalance fan-out group is one unit, task 0 (it deals
 * records to every task, so it runs whole on one instance). */
static int running_tasks(kp_store_t *st, json_t *names, json_t *plans, kp_coord_tasks_t *out)
{
        char errstr[256];
        size_t i;
        json_t *n;
        json_array_foreach(names, i, n)
        {
                const char *name = json_string_value(n);
                json_t *doc = NULL, *sum = json_object_get(plans, name);
                int p = (int)json_integer_value(json_object_get(sum, "parallelism"));
                if (!sum || p < 1 || kp_store_group_get(st, name, &doc, errstr, sizeof(errstr)))
                        continue; /* no plan yet: its start makes one */
                if (json_is_true(json_object_get(doc, "rebalance")))
                        p = 1;
                json_decref(doc);
                for (int t = 0; t < p; t++)
                        if (kp_coord_tasks_add(out, (kp_coord_task_t){name, t}))
                                return KP_ERR_NOMEM;
        }
        return 0;
}

/* The leader: places every running task over the live instances of @p view and writes the
 * placement when it changed (a new epoch). */
static void work_place(kp_work_t *w, const kp_coord_view_t *view)
{
        char errstr[256];
        kp_store_t *st = w->app->store;
        json_t *names = NULL, *plans = NULL, *doc = NULL, *ndoc = NULL;
        kp_coord_placement_t prev = {0}, next = {0};
        kp_coord_tasks_t run = {0};
        const char **live = calloc(view->cnt + 1, sizeof(*live));
        if (!live || kp_store_group_list_desired(st, &names, errstr, sizeof(errstr)) ||
            kp_store_plan_current_all(st, &plans, errstr, sizeof(errstr)) ||
            placement_load(st, &doc, &prev) || running_tasks(st, names, plans, &run))
                goto out;
        for (size_t i = 0; i < view->cnt; i++)
                live[i] = view->items[i].id;
        int have = doc != NULL;
        if (kp_coord_placement_next(have ? &prev : NULL, &run, live, view->cnt, &next))
                goto out;
        if (have && next.epoch == prev.epoch)
                goto out; /* nothing changed */
        ndoc = placement_doc(&next);
        if (!ndoc || kp_store_placement_put(st, have ? prev.epoch : -1, next.epoch, ndoc, errstr,
                                            sizeof(errstr)))
                fprintf(stderr, "kplane: work: placement %lld not written: %s\n",
                        (long long)next.epoch, ndoc ? errstr : "out of memory");
        else
                fprintf(stderr, "kplane: work: placement %lld: %zu tasks over %zu instances\n",
                        (long long)next.epoch, next.tasks.cnt, view->cnt);
out:
        free(live);
        kp_coord_placement_cleanup(&prev);
        kp_coord_placement_cleanup(&next);
        kp_coord_tasks_cleanup(&run);
        json_decref(names);
        json_decref(plans);
        json_decref(doc);
        json_decref(ndoc);
}

/* ---- this instance's share ---- */

/* Sets mine to @p next (copied; NULL: unchanged) and brings each group of @p touched to it in
 * the runtime: started, handed tasks in or out (commits first), or stopped. */
static void work_set(kp_work_t *w, const kp_coord_tasks_t *next, const kp_coord_tasks_t *touched)
{
        kp_coord_tasks_t copy;
        char errstr[512];
        if (next) {
                if (kp_coord_tasks_copy(&copy, next->items, next->cnt))
                        return;
                pthread_mutex_lock(&w->lock);
                kp_coord_tasks_free(&w->mine);
                w->mine = copy;
                pthread_mutex_unlock(&w->lock);
        }
        for (size_t i = 0; i < touched->cnt; i++) {
                const char *g = touched->items[i].group;
                if (i && !strcmp(g, touched->items[i - 1].group))
                        continue;
                if (kp_app_group_sync(w->app, g, errstr, sizeof(errstr)))
                        fprintf(stderr, "kplane: work: group %s: %s\n", g, errstr);
        }
}

/* @p a with @p b's tasks removed (@p drop) or added, into @p out (groups borrowed). */
static int tasks_merge(const kp_coord_tasks_t *a, const kp_coord_tasks_t *b, int drop,
                       kp_coord_tasks_t *out)
{
        for (size_t i = 0; i < a->cnt; i++)
                if ((!drop || !kp_coord_tasks_has(b->items, b->cnt, a->items[i])) &&
                    kp_coord_tasks_add(out, a->items[i]))
                        return KP_ERR_NOMEM;
        for (size_t i = 0; !drop && i < b->cnt; i++)
                if (kp_coord_tasks_add(out, b->items[i]))
                        return KP_ERR_NOMEM;
        return 0;
}

static void work_report(kp_work_t *w, int64_t epoch)
{
        pthread_mutex_lock(&w->lock);
        kp_coord_report(w->app->coord, epoch, w->mine.items, w->mine.cnt);
        pthread_mutex_unlock(&w->lock);
        w->reported_epoch = epoch;
        w->reported = 1;
}

/* The groups this instance runs whose runtime lags the stored plan (a new version: applied
 * with this instance's share) or that are not running although tasks of theirs are here (a
 * start that failed: tried again after KP_APP_WORK_RETRY_MS), into @p out. */
static void work_stale(kp_work_t *w, const kp_coord_tasks_t *mine, kp_coord_tasks_t *out)
{
        char errstr[256];
        json_t *plans = NULL;
        int64_t now = kp_time_mono_ms();
        if (kp_store_plan_current_all(w->app->store, &plans, errstr, sizeof(errstr)))
                return;
        for (size_t i = 0; i < mine->cnt; i++) {
                const char *g = mine->items[i].group;
                kp_runtime_summary_t s;
                if (i && !strcmp(g, mine->items[i - 1].group))
                        continue;
                int v = (int)json_integer_value(
                        json_object_get(json_object_get(plans, g), "version"));
                int run = !kp_runtime_group_summary(w->app->rt, g, &s) &&
                          (s.state == KP_GROUP_RUNNING || s.state == KP_GROUP_STARTING);
                if (run && s.plan_version >= v)
                        continue;
                json_t *at = json_object_get(w->retry_at, g);
                if (!run && at && json_integer_value(at) > now)
                        continue;
                if (!run)
                        json_object_set_new(w->retry_at, g,
                                            json_integer(now + KP_APP_WORK_RETRY_MS));
                kp_coord_tasks_add(out, mine->items[i]);
        }
        json_decref(plans);
}

/* The other live instances' reports in @p view (borrowed), into @p out (room for cnt). */
static size_t others_of(const kp_coord_view_t *view, const char *self, kp_coord_report_t *out)
{
        size_t n = 0;
        for (size_t i = 0; i < view->cnt; i++)
                if (strcmp(view->items[i].id, self))
                        out[n++] = (kp_coord_report_t){view->items[i].id, view->items[i].epoch,
                                                       view->items[i].tasks.items,
                                                       view->items[i].tasks.cnt};
        return n;
}

/* Stops what the placement took away, reports, starts what it may start. */
static void work_follow(kp_work_t *w, const kp_coord_view_t *view, const kp_coord_placement_t *pl)
{
        kp_coord_t *c = w->app->coord;
        kp_coord_tasks_t mine = {0}, start = {0}, stop = {0}, next = {0}, stale = {0};
        kp_coord_report_t *others = calloc(view->cnt + 1, sizeof(*others));
        pthread_mutex_lock(&w->lock);
        int err = kp_coord_tasks_copy(&mine, w->mine.items, w->mine.cnt);
        pthread_mutex_unlock(&w->lock);
        if (err || !others)
                goto out;
        size_t n = others_of(view, kp_coord_instance_id(c), others);
        if (kp_coord_tasks_decide(pl, kp_coord_instance_id(c), &mine, others, n, &start, &stop))
                goto out;
        if (stop.cnt) {
                if (tasks_merge(&mine, &stop, 1, &next))
                        goto out;
                work_set(w, &next, &stop);
                next.cnt = 0;
        }
        if (stop.cnt || !w->reported || w->reported_epoch != pl->epoch)
                work_report(w, pl->epoch);
        if (start.cnt) {
                pthread_mutex_lock(&w->lock);
                err = tasks_merge(&w->mine, &start, 0, &next);
                pthread_mutex_unlock(&w->lock);
                if (err)
                        goto out;
                work_set(w, &next, &start);
                work_report(w, pl->epoch);
        }
        /* loop thread only writes mine: read without the lock */
        work_stale(w, &w->mine, &stale);
        if (stale.cnt)
                work_set(w, NULL, &stale);
out:
        free(others);
        kp_coord_tasks_cleanup(&next);
        kp_coord_tasks_cleanup(&start);
        kp_coord_tasks_cleanup(&stop);
        kp_coord_tasks_cleanup(&stale);
        kp_coord_tasks_free(&mine);
}

/* No lease (cut off past the session, or SIGSTOPped): the others may run these tasks already.
 * Every group stops at once; the runtime's commit guard skips their commits. */
static void work_drop_all(kp_work_t *w)
{
        kp_coord_tasks_t none = {0}, all = {0};
        if (!w->mine.cnt)
                return;
        if (kp_coord_tasks_copy(&all, w->mine.items, w->mine.cnt))
                return;
        fprintf(stderr, "kplane: work: lease lost: stopping %zu tasks without committing\n",
                all.cnt);
        work_set(w, &none, &all);
        work_report(w, w->reported_epoch);
        kp_coord_tasks_free(&all);
}

static void work_pass(kp_work_t *w)
{
        kp_coord_t *c = __atomic_load_n(&w->app->coord, __ATOMIC_ACQUIRE);
        kp_coord_view_t view = {0};
        kp_coord_placement_t pl = {0};
        json_t *doc = NULL;
        if (!c)
                return;
        if (!kp_coord_lease_held(c)) {
                work_drop_all(w);
                return;
        }
        if (kp_coord_view(c, &view))
                return;
        if (kp_coord_leads(c))
                work_place(w, &view);
        if (!placement_load(w->app->store, &doc, &pl))
                work_follow(w, &view, &pl);
        kp_coord_placement_cleanup(&pl);
        json_decref(doc);
        kp_coord_view_cleanup(&view);
}

static void *work_main(void *arg)
{
        kp_work_t *w = arg;
        while (!kp_ticker_wait(&w->ticker, KP_APP_WORK_INTERVAL_MS))
                work_pass(w);
        return NULL;
}

kp_work_t *kp_work_start(kp_app_t *app)
{
        kp_work_t *w = calloc(1, sizeof(*w));
        if (!w || !(w->retry_at = json_object())) {
                free(w);
                return NULL;
        }
        w->app = app;
        pthread_mutex_init(&w->lock, NULL);
        if (kp_ticker_start(&w->ticker, work_main, w)) {
                pthread_mutex_destroy(&w->lock);
                json_decref(w->retry_at);
                free(w);
                return NULL;
        }
        return w;
}

void kp_work_kick(kp_work_t *w)
{
        if (w)
                kp_ticker_kick(&w->ticker);
}

void kp_work_stop(kp_work_t *w)
{
        if (!w)
                return;
        kp_ticker_stop(&w->ticker);
        if (w->mine.cnt) { /* stopped and committed before this instance leaves */
                kp_coord_tasks_t none = {0}, all = {0};
                if (!kp_coord_tasks_copy(&all, w->mine.items, w->mine.cnt)) {
                        work_set(w, &none, &all);
                        work_report(w, w->reported_epoch);
                        kp_coord_tasks_free(&all);
                }
        }
        kp_coord_tasks_free(&w->mine);
        json_decref(w->retry_at);
        pthread_mutex_destroy(&w->lock);
        free(w);
}

int kp_work_mask(kp_work_t *w, const char *name, int parallelism, int rebalance,
                 unsigned char **absentp, int *present)
{
        *absentp = NULL;
        *present = parallelism > 0 ? parallelism : 1; /* a single process: all of them */
        if (!w)
                return 0;
        unsigned char *absent = malloc((size_t)parallelism + 1);
        if (!absent)
                return KP_ERR_NOMEM;
        *present = 0;
        pthread_mutex_lock(&w->lock);
        int whole = rebalance &&
                    kp_coord_tasks_has(w->mine.items, w->mine.cnt, (kp_coord_task_t){name, 0});
        for (int i = 0; i < parallelism; i++) {
                absent[i] =
                        !whole && (rebalance || !kp_coord_tasks_has(w->mine.items, w->mine.cnt,
                                                                    (kp_coord_task_t){name, i}));
                *present += !absent[i];
        }
        pthread_mutex_unlock(&w->lock);
        *absentp = absent;
        return 0;
}

void kp_work_annotate(kp_app_t *app, const char *name, json_t *status)
{
        kp_coord_t *c = __atomic_load_n(&app->coord, __ATOMIC_ACQUIRE);
        kp_coord_placement_t pl = {0};
        json_t *doc = NULL, *t;
        size_t i;
        const char *state = json_string_value(json_object_get(status, "state"));
        if (!c)
                return;
        int shared = kp_coord_shared(c);
        if (!shared && state && !strcmp(state, "stopped"))
                return; /* runs nowhere */
        if (shared && placement_load(app->store, &doc, &pl))
                return;
        json_t *owners = json_object_get(doc, name);
        json_t *tasks = json_object_get(status, "tasks");
        if (shared && json_array_size(owners) && !json_array_size(tasks)) {
                /* its tasks run on other instances only: say so, and where */
                tasks = json_array();
                for (i = 0; i < json_array_size(owners); i++)
                        json_array_append_new(
                                tasks, json_pack("{s:i, s:s}", "task", (int)i, "state", "running"));
                json_object_set_new(status, "tasks", tasks);
                json_object_set_new(status, "state", json_string("running"));
        }
        json_array_foreach(tasks, i, t)
        {
                int task = (int)json_integer_value(json_object_get(t, "task"));
                json_t *o = !shared ? json_string(kp_coord_instance_id(c))
                            : json_array_size(owners) == 1
                                    ? json_incref(json_array_get(owners, 0))
                                    : json_incref(json_array_get(owners, (size_t)task));
                json_object_set_new(t, "instance", o ? o : json_null());
        }
        kp_coord_placement_cleanup(&pl);
        json_decref(doc);
}
