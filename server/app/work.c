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
        json_t *pending; /* groups synced to let go only, to be synced in full (name -> true) */
};

/* ---- the placement document: {"group": ["owner of task 0", ...]} ---- */

/* Reads the stored placement into @p pl (ids and groups borrowed from *@p docp: keep it while
 * @p pl is used). None stored: epoch 0, no task. @returns 0 or a kp_err_t. The document:
 * {"owners": {"group": ["owner of task 0", ...]}, "versions": {"group": plan version}}. */
static int placement_load(kp_store_t *st, json_t **docp, kp_coord_placement_t *pl)
{
        char errstr[256];
        int64_t epoch;
        const char *group;
        json_t *owners, *o;
        size_t i;
        memset(pl, 0, sizeof(*pl));
        *docp = NULL;
        int err = kp_store_placement_get(st, &epoch, docp, errstr, sizeof(errstr));
        if (err)
                return err == KP_ERR_NOT_FOUND ? 0 : err;
        pl->epoch = epoch;
        json_t *all = json_object_get(*docp, "owners");
        json_object_foreach(all, group, owners)
        {
                json_array_foreach(owners, i, o)
                {
                        kp_coord_task_t t = {group, (int)i};
                        if (json_is_string(o) && kp_coord_tasks_add(&pl->tasks, t))
                                return KP_ERR_NOMEM;
                }
        }
        pl->owner = calloc(pl->tasks.cnt + 1, sizeof(*pl->owner));
        if (!pl->owner)
                return KP_ERR_NOMEM;
        for (i = 0; i < pl->tasks.cnt; i++) {
                kp_coord_task_t t = pl->tasks.items[i];
                pl->owner[i] = json_string_value(
                        json_array_get(json_object_get(all, t.group), (size_t)t.task));
        }
        return 0;
}

/* The plan version placement document @p doc runs group @p name at (0: none). */
static int placement_version(const json_t *doc, const char *name)
{
        return (int)json_integer_value(json_object_get(json_object_get(doc, "versions"), name));
}

/* The document of placement @p pl at plan @p versions (borrowed). */
static json_t *placement_doc(const kp_coord_placement_t *pl, json_t *versions)
{
        json_t *owners = json_object();
        json_t *doc = json_pack("{s:o, s:O}", "owners", owners, "versions", versions);
        for (size_t i = 0; doc && i < pl->tasks.cnt; i++) {
                kp_coord_task_t t = pl->tasks.items[i];
                json_t *arr = json_object_get(owners, t.group);
                if (!arr) {
                        arr = json_array();
                        json_object_set_new(owners, t.group, arr);
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
static int running_tasks(kp_store_t *st, json_t *names, json_t *plans, kp_coord_tasks_t *out,
                         json_t *versions)
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
                json_object_set(versions, name, json_object_get(sum, "version"));
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
        json_t *versions = json_object();
        kp_coord_placement_t prev = {0}, next = {0};
        kp_coord_tasks_t run = {0};
        const char **live = calloc(view->cnt + 1, sizeof(*live));
        if (!live || kp_store_group_list_desired(st, &names, errstr, sizeof(errstr)) ||
            kp_store_plan_current_all(st, &plans, errstr, sizeof(errstr)) ||
            placement_load(st, &doc, &prev) || running_tasks(st, names, plans, &run, versions))
                goto out;
        for (size_t i = 0; i < view->cnt; i++)
                live[i] = view->items[i].id;
        int have = doc != NULL;
        if (kp_coord_placement_next(have ? &prev : NULL, &run, live, view->cnt, &next))
                goto out;
        /* a new plan version of a running group is a new epoch too: its partitions may move
         * between tasks of two instances, released by one before the other reads them */
        if (have && next.epoch == prev.epoch &&
            json_equal(versions, json_object_get(doc, "versions")))
                goto out; /* nothing changed */
        if (have && next.epoch == prev.epoch)
                next.epoch++;
        ndoc = placement_doc(&next, versions);
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
        json_decref(versions);
}

/* ---- this instance's share ---- */

/* Sets mine to @p next (copied; NULL: unchanged) and brings each group of @p touched to it in
 * the runtime at placement @p doc's plan version: started, handed tasks in or out (commits
 * first), or stopped. @p release: only let go (KP_APP_SYNC_RELEASE: nothing another instance
 * reads now is taken); the group is then pending until a full sync. */
static void work_set(kp_work_t *w, const kp_coord_tasks_t *next, const kp_coord_tasks_t *touched,
                     const json_t *doc, int release)
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
                if (release)
                        json_object_set_new(w->pending, g, json_true());
                else
                        json_object_del(w->pending, g);
                if (kp_app_group_sync(w->app, g, placement_version(doc, g), release, errstr,
                                      sizeof(errstr)))
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

/* The groups of @p mine (one task each, into @p out) whose runtime lags placement @p doc's
 * plan version (@p lagging: a new version, let go of first) or, else, that are pending a full
 * sync or not running although tasks of theirs are here (a start that failed: tried again
 * after KP_APP_WORK_RETRY_MS). */
static void work_stale(kp_work_t *w, const kp_coord_tasks_t *mine, const json_t *doc, int lagging,
                       kp_coord_tasks_t *out)
{
        int64_t now = kp_time_mono_ms();
        for (size_t i = 0; i < mine->cnt; i++) {
                const char *g = mine->items[i].group;
                kp_runtime_summary_t s;
                if (i && !strcmp(g, mine->items[i - 1].group))
                        continue;
                int run = !kp_runtime_group_summary(w->app->rt, g, &s) &&
                          (s.state == KP_GROUP_RUNNING || s.state == KP_GROUP_STARTING);
                if (lagging) {
                        if (run && s.plan_version < placement_version(doc, g))
                                kp_coord_tasks_add(out, mine->items[i]);
                        continue;
                }
                if (run && !json_object_get(w->pending, g))
                        continue;
                json_t *at = json_object_get(w->retry_at, g);
                if (!run && at && json_integer_value(at) > now)
                        continue;
                if (!run)
                        json_object_set_new(w->retry_at, g,
                                            json_integer(now + KP_APP_WORK_RETRY_MS));
                kp_coord_tasks_add(out, mine->items[i]);
        }
}

/* 1 when every other live instance has acted on epoch @p epoch (let go of what it gave up). */
static int others_acted(const kp_coord_report_t *others, size_t n, int64_t epoch)
{
        for (size_t i = 0; i < n; i++)
                if (others[i].epoch < epoch)
                        return 0;
        return 1;
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

/* Stops what the placement took away and lets go of what a new plan version moves away,
 * reports, then, once every other instance did as much, starts what it may start and takes
 * what the new versions give it. */
static void work_follow(kp_work_t *w, const kp_coord_view_t *view, const kp_coord_placement_t *pl,
                        const json_t *doc)
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
        if (kp_coord_tasks_decide(pl, kp_coord_instance_id(c), &mine, others, n, &start, &stop) ||
            tasks_merge(&mine, &stop, 1, &next))
                goto out;
        work_stale(w, &next, doc, 1, &stale); /* groups that stay, on a new plan version */
        for (size_t i = 0; i < stale.cnt; i++)
                if (kp_coord_tasks_add(&stop, stale.items[i]))
                        goto out;
        if (stop.cnt)
                work_set(w, &next, &stop, doc, 1);
        if (stop.cnt || !w->reported || w->reported_epoch != pl->epoch)
                work_report(w, pl->epoch);
        if (!others_acted(others, n, pl->epoch))
                goto out; /* what they let go of may still be read there */
        if (start.cnt) {
                next.cnt = 0;
                pthread_mutex_lock(&w->lock);
                err = tasks_merge(&w->mine, &start, 0, &next);
                pthread_mutex_unlock(&w->lock);
                if (err)
                        goto out;
                work_set(w, &next, &start, doc, 0);
                work_report(w, pl->epoch);
        }
        stale.cnt = 0;
        /* loop thread only writes mine: read without the lock */
        work_stale(w, &w->mine, doc, 0, &stale);
        if (stale.cnt)
                work_set(w, NULL, &stale, doc, 0);
out:
        free(others);
        kp_coord_tasks_cleanup(&next);
        kp_coord_tasks_cleanup(&start);
        kp_coord_tasks_cleanup(&stop);
        kp_coord_tasks_cleanup(&stale);
        kp_coord_tasks_free(&mine);
}

/* Stops every task this instance runs (each commits if the lease still allows) and reports
 * that it runs none. */
static void work_stop_mine(kp_work_t *w)
{
        kp_coord_tasks_t none = {0}, all = {0};
        if (!w->mine.cnt || kp_coord_tasks_copy(&all, w->mine.items, w->mine.cnt))
                return;
        work_set(w, &none, &all, NULL, 0);
        work_report(w, w->reported_epoch);
        kp_coord_tasks_free(&all);
}

/* No lease (cut off past the session, or SIGSTOPped): the others may run these tasks already.
 * Every group stops at once; the runtime's commit guard skips their commits. */
static void work_drop_all(kp_work_t *w)
{
        if (!w->mine.cnt)
                return;
        fprintf(stderr, "kplane: work: lease lost: stopping %zu tasks without committing\n",
                w->mine.cnt);
        work_stop_mine(w);
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
                work_follow(w, &view, &pl, doc);
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
        if (!w || !(w->retry_at = json_object()) || !(w->pending = json_object())) {
                if (w)
                        json_decref(w->retry_at);
                free(w);
                return NULL;
        }
        w->app = app;
        pthread_mutex_init(&w->lock, NULL);
        if (kp_ticker_start(&w->ticker, work_main, w)) {
                pthread_mutex_destroy(&w->lock);
                json_decref(w->retry_at);
                json_decref(w->pending);
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
        work_stop_mine(w); /* stopped and committed before this instance leaves */
        kp_coord_tasks_free(&w->mine);
        json_decref(w->retry_at);
        json_decref(w->pending);
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
        json_t *owners = json_object_get(json_object_get(doc, "owners"), name);
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
