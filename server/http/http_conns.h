/* http_conns.h — the open HTTP connections, and a reaper that closes those whose request
 * outlives its deadline. */
#ifndef KP_HTTP_CONNS_H
#define KP_HTTP_CONNS_H

#include <stdint.h>

#include <microhttpd.h>

/*
 * libmicrohttpd only knows an inactivity timeout, and every byte a client sends resets
 * it: a client dripping a byte every few seconds holds a connection for ever. This table
 * gives each connection an absolute deadline instead: its request's headers and body must
 * arrive within deadline_ms of the connection opening or of its previous response
 * completing. The clock stops while a handler runs and while a response is sent
 * (kp_http_conns_busy) and restarts when the response is done (kp_http_conns_idle). A
 * reaper thread shuts down (shutdown(2), SHUT_RDWR) every connection past its deadline;
 * MHD then sees the end of the stream and closes it as usual.
 *
 * The reaper holds the table's lock while it calls shutdown(), and MHD's CLOSED
 * notification (which MHD sends before it closes the socket) takes the same lock to
 * remove the connection: a file descriptor is never shut down after MHD let it go.
 */
typedef struct kp_http_conns kp_http_conns_t;

/* @returns a new table with its reaper running (kp_http_conns_destroy), or NULL with
 * errstr. */
kp_http_conns_t *kp_http_conns_new(int64_t deadline_ms, char *errstr, size_t errstr_size);
/* Stops the reaper and frees the table: call it after MHD_stop_daemon (whose CLOSED
 * notifications still use the table). NULL does nothing. */
void kp_http_conns_destroy(kp_http_conns_t *conns);

/* The MHD_OPTION_NOTIFY_CONNECTION callback; its closure is the table. */
void kp_http_conns_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code);
/* @p conn's request is complete (its handler runs) or an answer is queued: its clock
 * stops. */
void kp_http_conns_busy(struct MHD_Connection *conn);
/* @p conn's response is done (or its request ended): the next request's clock starts. */
void kp_http_conns_idle(struct MHD_Connection *conn);

/* @returns how many connections the reaper closed so far. */
uint64_t kp_http_conns_reaped(const kp_http_conns_t *conns);

#endif /* KP_HTTP_CONNS_H */
