/* metrics.c — the Prometheus text exposition of /metrics, gathered from every module. */
#include "app/metrics.h"

#include <jansson.h>
#include <stdio.h>

#include "http/http.h"
#include "runtime/runtime.h"
#include "db/store.h"

/* Prometheus label values escape backslash, quote and newline. Names here are
 * validated ([A-Za-z0-9._-]) so they never need it. */
static void plan_gauges(kp_app_t *app, kp_buf_t *out)
{
        char errstr[256];
        json_t *groups = NULL;
        if (kp_store_group_list(app->store, &groups, errstr, sizeof(errstr)))
                return;
        kp_buf_t skew, idle;
        kp_buf_init(&skew);
        kp_buf_init(&idle);
        size_t i;
        json_t *g;
        json_array_foreach(groups, i, g)
        {
                const char *name = json_string_value(json_object_get(g, "name"));
                json_t *plans = NULL;
                if (!name || kp_store_plan_list(app->store, name, &plans, errstr, sizeof(errstr)))
                        continue;
                json_t *cur = json_array_get(plans, 0);
                json_t *an = json_object_get(cur, "analysis");
                if (an) {
                        kp_buf_printf(&skew, "kplane_plan_skew{group=\"%s\"} %g\n", name,
                                      json_number_value(json_object_get(an, "skew")));
                        kp_buf_printf(
                                &idle, "kplane_plan_idle_tasks{group=\"%s\"} %lld\n", name,
                                (long long)json_integer_value(json_object_get(an, "idle_tasks")));
                }
                json_decref(plans);
        }
        json_decref(groups);
        kp_buf_printf(out, "# HELP kplane_plan_skew Busiest task's partitions (or load) over "
                           "the mean, current plan.\n# TYPE kplane_plan_skew gauge\n");
        if (skew.len)
                kp_buf_append(out, skew.data, skew.len);
        kp_buf_printf(out, "# HELP kplane_plan_idle_tasks Tasks without partitions in the "
                           "current plan.\n# TYPE kplane_plan_idle_tasks gauge\n");
        if (idle.len)
                kp_buf_append(out, idle.data, idle.len);
        kp_buf_cleanup(&skew);
        kp_buf_cleanup(&idle);
}

void kp_metrics_write(kp_app_t *app, kp_buf_t *out)
{
        kp_http_t *http = __atomic_load_n(&app->http, __ATOMIC_ACQUIRE);
        if (http)
                kp_http_metrics_write(http, out);
        plan_gauges(app, out);
        if (app->rt)
                kp_runtime_metrics_write(app->rt, out);
}
