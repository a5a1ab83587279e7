/* http_listen.h — the listening socket, and the thread that accepts on it and hands each
 * connection to the MHD worker serving the fewest. */
#ifndef KP_HTTP_LISTEN_H
#define KP_HTTP_LISTEN_H

#include <netinet/in.h>
#include <stddef.h>

#include <microhttpd.h>

/*
 * Each MHD worker serves its own connections in turn, so a client waits for the other
 * connections of its worker. MHD's workers accept for themselves (up to ten in a row per
 * wake-up), and a burst of connections lands unevenly: wrk's 64 split 44/20 and worse,
 * and the 44 then waited twice as long as the 20 (the what-if's p99, issue 17). Here one
 * thread accepts and gives each connection to the worker holding the fewest.
 *
 * MHD_add_connection gives a connection to worker fd % workers (the next one when that
 * one is full): the accepted descriptor is moved (F_DUPFD) to a number that names the
 * chosen worker. Counts go up when a connection is handed over and down at its CLOSED
 * notification (kp_http_listen_closed); a connection MHD drops without that
 * notification (a refusal after hand-over) stays counted, which only skews the balance.
 */
typedef struct kp_http_listen kp_http_listen_t;

/* @returns a socket bound to @p sin and listening, for @p workers MHD workers (start
 * it with kp_http_listen_start, free it with kp_http_listen_destroy), or NULL with
 * errstr (@p what names the address in it). */
kp_http_listen_t *kp_http_listen_new(const struct sockaddr_in *sin, const char *what,
                                     unsigned workers, char *errstr, size_t errstr_size);
/* The port bound (the one the kernel chose for port 0). */
int kp_http_listen_port(const kp_http_listen_t *l);
/* Starts accepting into @p daemon (started with MHD_USE_NO_LISTEN_SOCKET and a pool of
 * the workers given to kp_http_listen_new). @returns 0 or a negative kp_err with errstr. */
int kp_http_listen_start(kp_http_listen_t *l, struct MHD_Daemon *daemon, char *errstr,
                         size_t errstr_size);
/* A connection's CLOSED notification: its worker holds one fewer. */
void kp_http_listen_closed(kp_http_listen_t *l, int fd);
/* Stops accepting (joins the thread) and closes the socket: call it before
 * MHD_stop_daemon. Again, or NULL, does nothing. */
void kp_http_listen_stop(kp_http_listen_t *l);
/* Stops (kp_http_listen_stop) and frees: call it after MHD_stop_daemon, whose CLOSED
 * notifications still count. NULL does nothing. */
void kp_http_listen_destroy(kp_http_listen_t *l);

#endif /* KP_HTTP_LISTEN_H */
