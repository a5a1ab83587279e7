/* runtime_health.c — a cluster's health as a running group sees it: errors recorded by
 * librdkafka's callback, workers and commits, cleared when the cluster answers again. */
#include "runtime/runtime_int.h"
#include "base/util.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

void rt_cluster_error(rt_cluster_t *cl, const char *fmt, ...)
{
        va_list ap;
        char at[24];
        kp_time_iso8601(at, sizeof(at));
        pthread_mutex_lock(&cl->g->err_lock);
        va_start(ap, fmt);
        vsnprintf(cl->last_error, sizeof(cl->last_error), fmt, ap);
        va_end(ap);
        if (!cl->last_error[0]) /* an empty text would read as healthy */
                snprintf(cl->last_error, sizeof(cl->last_error), "error");
        snprintf(cl->last_error_at, sizeof(cl->last_error_at), "%s", at);
        cl->err_gen++;
        pthread_mutex_unlock(&cl->g->err_lock);
}

uint64_t rt_cluster_error_gen(rt_cluster_t *cl, int *failed)
{
        uint64_t gen;
        pthread_mutex_lock(&cl->g->err_lock);
        gen = cl->err_gen;
        if (failed)
                *failed = cl->last_error[0] != 0;
        pthread_mutex_unlock(&cl->g->err_lock);
        return gen;
}

void rt_cluster_ok(rt_cluster_t *cl, uint64_t gen)
{
        pthread_mutex_lock(&cl->g->err_lock);
        if (cl->err_gen == gen) {
                cl->last_error[0] = 0;
                cl->last_error_at[0] = 0;
        }
        pthread_mutex_unlock(&cl->g->err_lock);
}

int rt_cluster_health_read(rt_cluster_t *cl, char *last_error, size_t last_error_size, char *at,
                           size_t at_size)
{
        int bad;
        pthread_mutex_lock(&cl->g->err_lock);
        bad = cl->last_error[0] != 0;
        if (bad && last_error)
                snprintf(last_error, last_error_size, "%s", cl->last_error);
        if (bad && at)
                snprintf(at, at_size, "%s", cl->last_error_at);
        pthread_mutex_unlock(&cl->g->err_lock);
        return bad;
}
