/* url.c — request URLs: percent-decoding that remembers what a C string cannot carry. */
#include "http/url.h"

#include <microhttpd.h>
#include <string.h>

/* The mark lives among the request's own values, under a kind MHD never fills from the
 * wire (we use no post processor), so a client cannot set or clear it; MHD drops it
 * with the request. */
#define NUL_MARK_KIND MHD_POSTDATA_KIND
#define NUL_MARK_KEY  "kplane-url-nul"

size_t kp_url_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
        (void)cls;
        /* %00 always decodes to NUL, and nothing else does: a raw NUL never reaches here */
        if (strstr(s, "%00"))
                MHD_set_connection_value(conn, NUL_MARK_KIND, NUL_MARK_KEY, "1");
        return MHD_http_unescape(s);
}

int kp_url_had_nul(struct MHD_Connection *conn)
{
        return conn && MHD_lookup_connection_value(conn, NUL_MARK_KIND, NUL_MARK_KEY) != NULL;
}
