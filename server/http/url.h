/* url.h — request URLs: percent-decoding that remembers what a C string cannot carry. */
#ifndef KP_URL_H
#define KP_URL_H

#include <stddef.h>

struct MHD_Connection;

/*
 * libmicrohttpd's unescape callback (MHD_OPTION_UNESCAPE_CALLBACK, cls unused):
 * decodes %XX in place like MHD's own, and when one decodes to a NUL byte marks the
 * request, because "/clusters/c1%00junk" would otherwise reach handlers as "c1".
 * @returns the decoded length.
 */
size_t kp_url_unescape(void *cls, struct MHD_Connection *conn, char *s);

/* @returns 1 when the current request's path or query held a %00 (kp_url_unescape saw
 * it), else 0; NULL @p conn is 0. */
int kp_url_had_nul(struct MHD_Connection *conn);

#endif /* KP_URL_H */
