/* handlers.h — the resource handlers the router in api.c dispatches to (internal to api/). */
#ifndef KP_HANDLERS_H
#define KP_HANDLERS_H

#include <jansson.h>

#include "api/api.h"
#include "planner/planner.h"

/* p[] holds the path parameters captured by the route, in order (borrowed). */
typedef void(kp_handler_t)(kp_api_t *api, const kp_http_req_t *req, kp_http_resp_t *resp, char **p);

kp_handler_t kp_h_livez, kp_h_readyz, kp_h_metrics, kp_h_openapi, kp_h_asset;
kp_handler_t kp_h_clusters_list, kp_h_cluster_create, kp_h_cluster_get, kp_h_cluster_put,
        kp_h_cluster_delete, kp_h_cluster_metadata;
kp_handler_t kp_h_topics_list, kp_h_topic_create, kp_h_topic_get, kp_h_topic_delete,
        kp_h_topic_post;
kp_handler_t kp_h_groups_list, kp_h_group_create, kp_h_group_get, kp_h_group_put, kp_h_group_delete,
        kp_h_group_start, kp_h_group_stop, kp_h_group_status;
kp_handler_t kp_h_overview;
kp_handler_t kp_h_group_history;
kp_handler_t kp_h_plans_list, kp_h_plan_create, kp_h_plan_get, kp_h_plan_diff, kp_h_whatif,
        kp_h_sweep;

/* Helpers shared by handlers (clusters.c). */

/* @returns the live bootstrap address of cluster @p doc (embedded: its mock address),
 * malloc'd, or NULL when an embedded cluster is not running. */
char *kp_api_cluster_bootstrap(kp_api_t *api, const json_t *doc);
/* @returns cluster @p name's stored doc, or NULL after answering 404 (or the store's
 * error). */
json_t *kp_api_cluster_or_404(kp_api_t *api, const char *name, kp_http_resp_t *resp);
/* @returns an object name → {"bootstrap_servers","config"} of every cluster in @p names
 * (array of strings) for the runtime, or NULL with errstr. */
json_t *kp_api_clusters_for_runtime(kp_api_t *api, const json_t *names, char *errstr,
                                    size_t errstr_size);

/* Plans (plans.c): computes and stores the group's next plan. @p opts may be NULL or
 * hold "parallelism", "strategy", "weights". *planp = the stored plan doc.
 * @returns 0 or kp_err_t with errstr (and *errorsp field errors, may be NULL). */
int kp_api_group_replan(kp_api_t *api, const char *group, const json_t *opts, json_t **planp,
                        json_t **errorsp, char *errstr, size_t errstr_size);

/* Plans (plans.c): resolves group @p group's topic entries to the partitions they read
 * now: *outp = new array of {"cluster", "topic", "partitions"} in the group's order (a
 * pattern's topics in name order), each (cluster, topic) once. A registration that is
 * gone, or no partitions at all, is KP_ERR_UNPROCESSABLE, unless @p lenient (status of a
 * stopped group): then it is left out. @returns 0 or kp_err_t with errstr. */
int kp_api_group_partitions(kp_api_t *api, const json_t *group, int lenient, json_t **outp,
                            char *errstr, size_t errstr_size);

/* Plans (plans.c): @returns a new array (free()) of @p arr's {"cluster", "topic",
 * "partitions"} entries (as kp_api_group_partitions makes them) as plan topics, names
 * borrowed from @p arr, or NULL when out of memory; *totalp = their partitions in all. */
kp_plan_topic_t *kp_api_plan_topics(const json_t *arr, int64_t *totalp);

/* Groups (groups.c): hands @p plan to the runtime: a start (@p apply 0, @p group is
 * the group doc) or a live change of a running group (@p apply 1). */
int kp_api_group_run(kp_api_t *api, const char *name, const json_t *group, const json_t *plan,
                     int apply, char *errstr, size_t errstr_size);

#endif /* KP_HANDLERS_H */
