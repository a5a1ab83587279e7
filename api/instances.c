/* instances.c — GET /api/v1/instances: the instances of the service, as this one sees them. */
#include "api/handlers.h"
#include "api/respond.h"
#include "coord/coord.h"
#include "db/store.h"
#include "runtime/runtime.h"

/* @returns @p s as a JSON string, or null when it is unknown. */
static json_t *string_or_null(const char *s)
{
        return s ? json_string(s) : json_null();
}

/* One instance, with the tasks it says it runs ([{"group", "task"}], by group and task). */
static json_t *instance_json(const kp_coord_instance_t *it)
{
        json_t *tasks = json_array();
        for (size_t i = 0; i < it->tasks.cnt; i++)
                json_array_append_new(tasks,
                                      json_pack("{s:s, s:i}", "group", it->tasks.items[i].group,
                                                "task", it->tasks.items[i].task));
        json_t *o = json_object();
        json_object_set_new(o, "id", json_string(it->id));
        json_object_set_new(o, "url", string_or_null(it->url));
        json_object_set_new(o, "state", json_string("alive"));
        json_object_set_new(o, "tasks", tasks);
        json_object_set_new(o, "joined_at", string_or_null(it->joined_at));
        json_object_set_new(o, "last_seen", string_or_null(it->last_seen));
        return o;
}

/* A single process runs every task of its running groups: [{"group", "task"}] from its
 * runtime (no work loop reports them). */
static json_t *solo_tasks(kp_app_t *app)
{
        char errstr[256];
        json_t *names = NULL, *n, *tasks = json_array();
        size_t i;
        if (!app->rt || kp_store_group_list(app->store, &names, errstr, sizeof(errstr)))
                return tasks;
        json_array_foreach(names, i, n)
        {
                const char *name = json_string_value(json_object_get(n, "name"));
                kp_runtime_summary_t s;
                if (!name || kp_runtime_group_summary(app->rt, name, &s) ||
                    (s.state != KP_GROUP_RUNNING && s.state != KP_GROUP_STARTING))
                        continue;
                for (int t = 0; t < s.tasks; t++)
                        json_array_append_new(tasks,
                                              json_pack("{s:s, s:i}", "group", name, "task", t));
        }
        json_decref(names);
        return tasks;
}

json_t *kp_instances_doc(kp_app_t *app)
{
        kp_coord_view_t view = {0};
        kp_coord_t *coord = __atomic_load_n(&app->coord, __ATOMIC_ACQUIRE);
        if (!coord || kp_coord_view(coord, &view))
                return NULL;
        json_t *items = json_array();
        for (size_t i = 0; i < view.cnt; i++)
                json_array_append_new(items, instance_json(&view.items[i]));
        if (!kp_coord_shared(coord) && json_array_size(items) == 1)
                json_object_set_new(json_array_get(items, 0), "tasks", solo_tasks(app));
        json_t *doc = json_object();
        json_object_set_new(doc, "items", items);
        json_object_set_new(doc, "protocol", string_or_null(view.protocol));
        json_object_set_new(doc, "session_timeout_ms",
                            view.session_timeout_ms ? json_integer(view.session_timeout_ms)
                                                    : json_null());
        json_object_set_new(doc, "leader", string_or_null(view.leader));
        json_object_set_new(doc, "group_state", string_or_null(view.group_state));
        kp_coord_view_cleanup(&view);
        return doc;
}

void kp_h_instances(kp_app_t *app, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        (void)req;
        (void)p;
        json_t *doc = kp_instances_doc(app);
        if (!doc) {
                kp_resp_problem(resp, 503, "the instances cannot be listed now");
                return;
        }
        kp_resp_json(resp, 200, doc);
}
