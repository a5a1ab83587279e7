/* api.h — the REST API: routes requests to resource handlers (one file per resource). */
#ifndef KP_API_H
#define KP_API_H

#include "http/http.h"

struct kp_store;
struct kp_embedded;
struct kp_runtime;
struct kp_discovery;

/* What the handlers work with. Every pointer is borrowed and outlives the server. */
typedef struct kp_api {
        struct kp_store *store;
        struct kp_embedded *emb;
        struct kp_runtime *rt; /* NULL: groups cannot be started */
        struct kp_discovery *discovery;
        kp_http_t *http; /* set once listening: for /metrics */
        int metadata_timeout_ms;
        /* clusters that did not answer a stopped group's status read lately (may be
         * NULL: every read asks) */
        struct kp_breaker *status_breaker;
} kp_api_t;

/* The kp_http_handler_t of kplane: @p opaque is a kp_api_t. */
void kp_api_handle(void *opaque, const kp_http_req_t *req, kp_http_resp_t *resp);

/*
 * Partition counts of cluster @p cluster changed (discovery or refresh): every group
 * reading one of its topics gets a new sticky plan of the same parallelism and strategy,
 * applied to its running tasks. @p opaque is a kp_api_t (a kp_discovery_changed_cb_t).
 */
void kp_api_partitions_changed(void *opaque, const char *cluster);

/* Starts group @p name with its current plan (making one if none), as on boot for groups
 * that were running when kplane stopped. @returns 0 or kp_err_t with errstr. */
int kp_api_group_resume(kp_api_t *api, const char *name, char *errstr, size_t errstr_size);

#endif /* KP_API_H */
