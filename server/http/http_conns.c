/* http_conns.c — the open HTTP connections, and a reaper that closes those whose request
 * outlives its deadline (slow clients such as slowloris). */
#include "http/http_conns.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "base/config.h"
#include "base/util.h"

/* One open connection; lives from MHD's STARTED notification to its CLOSED one. */
typedef struct conn_rec {
        struct conn_rec *prev, *next; /* under the table's lock */
        int fd;
        int reaped;       /* shutdown() done (under the lock) */
        int64_t since_ms; /* when the current request's clock started (atomic) */
        int busy;         /* clock stopped: handler running or answer queued (atomic) */
} conn_rec_t;

struct kp_http_conns {
        pthread_mutex_t lock;
        pthread_cond_t wake; /* the reaper's sleep; signalled to stop it */
        conn_rec_t *head;
        int stop;
        int64_t deadline_ms;
        uint64_t reaped; /* atomic */
        pthread_t reaper;
};

/* The record MHD keeps for us as the connection's socket context, or NULL. */
static conn_rec_t *conn_rec(struct MHD_Connection *conn)
{
        const union MHD_ConnectionInfo *ci =
                MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        return ci ? ci->socket_context : NULL;
}

void kp_http_conns_busy(struct MHD_Connection *conn)
{
        conn_rec_t *rec = conn_rec(conn);
        if (rec)
                __atomic_store_n(&rec->busy, 1, __ATOMIC_RELEASE);
}

void kp_http_conns_idle(struct MHD_Connection *conn)
{
        conn_rec_t *rec = conn_rec(conn);
        if (!rec)
                return;
        /* the new start first, so the reaper never sees "not busy" with the old one */
        __atomic_store_n(&rec->since_ms, kp_time_mono_ms(), __ATOMIC_RELEASE);
        __atomic_store_n(&rec->busy, 0, __ATOMIC_RELEASE);
}

void kp_http_conns_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
        kp_http_conns_t *conns = cls;
        conn_rec_t *rec = *socket_context;
        if (code == MHD_CONNECTION_NOTIFY_STARTED) {
                const union MHD_ConnectionInfo *ci =
                        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
                rec = ci ? calloc(1, sizeof(*rec)) : NULL;
                if (!rec) /* untracked: it keeps MHD's inactivity timeout only */
                        return;
                rec->fd = ci->connect_fd;
                rec->since_ms = kp_time_mono_ms();
                pthread_mutex_lock(&conns->lock);
                rec->next = conns->head;
                if (conns->head)
                        conns->head->prev = rec;
                conns->head = rec;
                pthread_mutex_unlock(&conns->lock);
                *socket_context = rec;
                return;
        }
        if (!rec)
                return;
        /* MHD closes the socket after this returns: once the record is out of the list
         * (under the lock the reaper holds while it calls shutdown) the fd is not ours. */
        pthread_mutex_lock(&conns->lock);
        if (rec->prev)
                rec->prev->next = rec->next;
        else
                conns->head = rec->next;
        if (rec->next)
                rec->next->prev = rec->prev;
        pthread_mutex_unlock(&conns->lock);
        free(rec);
        *socket_context = NULL;
}

/* Shuts down every connection whose clock passed the deadline. Costs one walk of the
 * list (at most KP_HTTP_CONNECTION_LIMIT records) under the lock. */
static void reap_expired(kp_http_conns_t *conns, int64_t now)
{
        for (conn_rec_t *rec = conns->head; rec; rec = rec->next) {
                if (rec->reaped || __atomic_load_n(&rec->busy, __ATOMIC_ACQUIRE))
                        continue;
                if (now - __atomic_load_n(&rec->since_ms, __ATOMIC_ACQUIRE) < conns->deadline_ms)
                        continue;
                /* MHD's epoll sees the end of the stream and closes the connection */
                shutdown(rec->fd, SHUT_RDWR);
                rec->reaped = 1;
                __atomic_fetch_add(&conns->reaped, 1, __ATOMIC_RELAXED);
        }
}

static void *reaper_main(void *arg)
{
        kp_http_conns_t *conns = arg;
        pthread_mutex_lock(&conns->lock);
        while (!conns->stop) {
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                ts.tv_nsec += (long)KP_HTTP_REAP_INTERVAL_MS * 1000000L;
                ts.tv_sec += ts.tv_nsec / 1000000000L;
                ts.tv_nsec %= 1000000000L;
                pthread_cond_timedwait(&conns->wake, &conns->lock, &ts);
                if (!conns->stop)
                        reap_expired(conns, kp_time_mono_ms());
        }
        pthread_mutex_unlock(&conns->lock);
        return NULL;
}

kp_http_conns_t *kp_http_conns_new(int64_t deadline_ms, char *errstr, size_t errstr_size)
{
        kp_http_conns_t *conns = calloc(1, sizeof(*conns));
        pthread_condattr_t ca;
        if (!conns) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        conns->deadline_ms = deadline_ms;
        pthread_mutex_init(&conns->lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&conns->wake, &ca);
        pthread_condattr_destroy(&ca);
        int err = pthread_create(&conns->reaper, NULL, reaper_main, conns);
        if (err) {
                snprintf(errstr, errstr_size, "cannot start the connection reaper: %s",
                         strerror(err));
                pthread_cond_destroy(&conns->wake);
                pthread_mutex_destroy(&conns->lock);
                free(conns);
                return NULL;
        }
        return conns;
}

void kp_http_conns_destroy(kp_http_conns_t *conns)
{
        if (!conns)
                return;
        pthread_mutex_lock(&conns->lock);
        conns->stop = 1;
        pthread_cond_signal(&conns->wake);
        pthread_mutex_unlock(&conns->lock);
        pthread_join(conns->reaper, NULL);
        /* MHD_stop_daemon notified CLOSED for every connection: nothing is left, but a
         * record whose notification never came must not leak */
        while (conns->head) {
                conn_rec_t *next = conns->head->next;
                free(conns->head);
                conns->head = next;
        }
        pthread_cond_destroy(&conns->wake);
        pthread_mutex_destroy(&conns->lock);
        free(conns);
}

uint64_t kp_http_conns_reaped(const kp_http_conns_t *conns)
{
        return conns ? __atomic_load_n(&conns->reaped, __ATOMIC_RELAXED) : 0;
}
