/* http_listen.c — the listening socket, and the thread that accepts on it and hands each
 * connection to the MHD worker serving the fewest (why: http_listen.h). */
#include "http/http_listen.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/config.h"
#include "base/err.h"

struct kp_http_listen {
        int fd;
        int port;
        unsigned workers;
        struct MHD_Daemon *daemon;
        pthread_t thread;
        int started;
        int stop;        /* atomic: kp_http_listen_destroy asked the thread to end */
        unsigned open[]; /* atomic: connections handed to worker i and not yet closed */
};

kp_http_listen_t *kp_http_listen_new(const struct sockaddr_in *sin, const char *what,
                                     unsigned workers, char *errstr, size_t errstr_size)
{
        int one = 1;
        struct sockaddr_in bound;
        socklen_t len = sizeof(bound);
        workers = workers ? workers : 1;
        kp_http_listen_t *l = calloc(1, sizeof(*l) + workers * sizeof(l->open[0]));
        if (!l) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        l->workers = workers;
        l->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        /* SO_REUSEADDR, as MHD did: a restart binds while old connections sit in
         * TIME_WAIT. Not SO_REUSEPORT: a second kplane on the port would start silently
         * and take half the requests. */
        if (l->fd < 0 || setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
            bind(l->fd, (const struct sockaddr *)sin, sizeof(*sin)) || listen(l->fd, SOMAXCONN) ||
            getsockname(l->fd, (struct sockaddr *)&bound, &len)) {
                if (errno == EADDRINUSE)
                        snprintf(errstr, errstr_size,
                                 "cannot listen on %s: address in use (is another kplane "
                                 "serving on this port?)",
                                 what);
                else
                        snprintf(errstr, errstr_size, "cannot listen on %s: %s", what,
                                 strerror(errno));
                if (l->fd >= 0)
                        close(l->fd);
                free(l);
                return NULL;
        }
        l->port = ntohs(bound.sin_port);
        return l;
}

int kp_http_listen_port(const kp_http_listen_t *l)
{
        return l->port;
}

/* The worker with the fewest connections (the first of equals). */
static unsigned least_loaded(const kp_http_listen_t *l)
{
        unsigned best = 0, best_n = __atomic_load_n(&l->open[0], __ATOMIC_RELAXED);
        for (unsigned i = 1; i < l->workers; i++) {
                unsigned n = __atomic_load_n(&l->open[i], __ATOMIC_RELAXED);
                if (n < best_n) {
                        best = i;
                        best_n = n;
                }
        }
        return best;
}

/* @returns @p fd moved to a descriptor that is @p w modulo the workers (MHD's choice of
 * worker), or @p fd itself when no such number is free below the limit. Each try asks for
 * the lowest free number >= the next fitting one: one fcntl unless that one is taken. */
static int fd_for_worker(int fd, unsigned w, unsigned workers)
{
        int at = fd;
        for (int tries = 0; (unsigned)at % workers != w && tries < KP_HTTP_ACCEPT_DUP_TRIES;
             tries++) {
                int want = at + 1 + (int)((w + workers - (unsigned)(at + 1) % workers) % workers);
                int moved = fcntl(fd, F_DUPFD_CLOEXEC, want);
                if (moved < 0)
                        return fd;
                if ((unsigned)moved % workers == w) {
                        close(fd);
                        return moved;
                }
                close(moved);
                at = moved;
        }
        return fd;
}

static void hand_over(kp_http_listen_t *l, int fd, const struct sockaddr_storage *addr,
                      socklen_t len)
{
        fd = fd_for_worker(fd, least_loaded(l), l->workers);
        /* counted before MHD can close it, so the CLOSED notification's decrement never
         * comes first; MHD closes the socket itself when it refuses it */
        unsigned w = (unsigned)fd % l->workers;
        __atomic_fetch_add(&l->open[w], 1, __ATOMIC_RELAXED);
        if (MHD_add_connection(l->daemon, fd, (const struct sockaddr *)addr, len) != MHD_YES)
                __atomic_fetch_sub(&l->open[w], 1, __ATOMIC_RELAXED);
}

static void *accept_main(void *arg)
{
        kp_http_listen_t *l = arg;
        while (!__atomic_load_n(&l->stop, __ATOMIC_ACQUIRE)) {
                struct sockaddr_storage addr;
                socklen_t len = sizeof(addr);
                int fd = accept4(l->fd, (struct sockaddr *)&addr, &len,
                                 SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd >= 0) {
                        hand_over(l, fd, &addr, len);
                        continue;
                }
                /* out of descriptors or memory: the connections wait in the backlog
                 * meanwhile rather than this thread spinning */
                if (errno != EINTR && errno != ECONNABORTED && errno != EAGAIN)
                        poll(NULL, 0, KP_HTTP_ACCEPT_RETRY_MS);
        }
        return NULL;
}

int kp_http_listen_start(kp_http_listen_t *l, struct MHD_Daemon *daemon, char *errstr,
                         size_t errstr_size)
{
        l->daemon = daemon;
        int err = pthread_create(&l->thread, NULL, accept_main, l);
        if (err) {
                snprintf(errstr, errstr_size, "cannot start the HTTP accept thread: %s",
                         strerror(err));
                return KP_ERR_INTERNAL;
        }
        l->started = 1;
        return 0;
}

void kp_http_listen_closed(kp_http_listen_t *l, int fd)
{
        if (l && fd >= 0)
                __atomic_fetch_sub(&l->open[(unsigned)fd % l->workers], 1, __ATOMIC_RELAXED);
}

void kp_http_listen_stop(kp_http_listen_t *l)
{
        if (!l || l->fd < 0)
                return;
        if (l->started) {
                __atomic_store_n(&l->stop, 1, __ATOMIC_RELEASE);
                /* wakes the accept() the thread blocks in (it fails with EINVAL) */
                shutdown(l->fd, SHUT_RDWR);
                pthread_join(l->thread, NULL);
                l->started = 0;
        }
        close(l->fd);
        l->fd = -1;
}

void kp_http_listen_destroy(kp_http_listen_t *l)
{
        if (!l)
                return;
        kp_http_listen_stop(l);
        free(l);
}
