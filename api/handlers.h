/* handlers.h — the resource handlers the router in api.c dispatches to (internal to api/). */
#ifndef KP_HANDLERS_H
#define KP_HANDLERS_H

#include <jansson.h>

#include "api/api.h"
#include "app/app.h"

/* p[] holds the path parameters captured by the route, in order (borrowed). */
typedef void(kp_handler_t)(kp_app_t *app, const kp_http_req_t *req, kp_http_resp_t *resp, char **p);

kp_handler_t kp_h_livez, kp_h_readyz, kp_h_metrics, kp_h_openapi, kp_h_asset;
kp_handler_t kp_h_clusters_list, kp_h_cluster_create, kp_h_cluster_get, kp_h_cluster_put,
        kp_h_cluster_delete, kp_h_cluster_metadata;
kp_handler_t kp_h_topics_list, kp_h_topic_create, kp_h_topic_get, kp_h_topic_delete,
        kp_h_topic_post;
kp_handler_t kp_h_groups_list, kp_h_group_create, kp_h_group_get, kp_h_group_put, kp_h_group_delete,
        kp_h_group_start, kp_h_group_stop, kp_h_group_status;
kp_handler_t kp_h_overview;
kp_handler_t kp_h_instances;
/* The document GET /api/v1/instances answers (the overview carries it too), or NULL when
 * the coordinator cannot list them now. */
json_t *kp_instances_doc(kp_app_t *app);
kp_handler_t kp_h_group_history;
kp_handler_t kp_h_plans_list, kp_h_plan_create, kp_h_plan_get, kp_h_plan_diff, kp_h_whatif,
        kp_h_sweep;

/* Several instances (forward.c): on a follower, answers a write by forwarding it to the
 * leader (asking first to be called again in the I/O pool). @returns 1 when it answered. */
int kp_api_forward(kp_app_t *app, const char *pattern, const kp_http_req_t *req,
                   kp_http_resp_t *resp);
/* Says in @p resp (Kplane-State-Offset) how far this database applied the state log, on
 * the answer to a write, so a follower that forwarded it can wait until it is there too. */
void kp_api_state_offset(kp_app_t *app, const kp_http_req_t *req, kp_http_resp_t *resp);

/* Helpers shared by handlers (clusters.c). */

/* @returns cluster @p name's stored doc, or NULL after answering 404 (or the store's
 * error). */
json_t *kp_api_cluster_or_404(kp_app_t *app, const char *name, kp_http_resp_t *resp);

#endif /* KP_HANDLERS_H */
