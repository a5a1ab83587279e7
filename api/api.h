/* api.h — the REST API: routes requests to resource handlers (one file per resource). */
#ifndef KP_API_H
#define KP_API_H

#include "http/http.h"

/* The kp_http_handler_t of kplane: @p opaque is the kp_app_t (server/app/app.h) every
 * handler works with. */
void kp_api_handle(void *opaque, const kp_http_req_t *req, kp_http_resp_t *resp);

#endif /* KP_API_H */
