/* http_pool.h — bounded worker pools that run HTTP handlers off libmicrohttpd's threads. */
#ifndef KP_HTTP_POOL_H
#define KP_HTTP_POOL_H

#include <stddef.h>
#include <stdint.h>

typedef struct kp_http_pool kp_http_pool_t;

/* A job's callback; @p arg is what was submitted with it. */
typedef void(kp_http_pool_fn_t)(void *arg);

typedef struct kp_http_pool_opts {
        const char *name;   /* thread name (at most 15 bytes are used), for ps and gdb */
        unsigned threads;   /* >= 1 */
        unsigned queue_max; /* jobs waiting for a thread; beyond this submit refuses */
        int nice;           /* > 0 lowers each thread's priority by this much */
} kp_http_pool_opts_t;

typedef struct kp_http_pool_stats {
        unsigned queued;   /* waiting for a thread */
        unsigned running;  /* in a thread now */
        uint64_t rejected; /* refused by submit since the start (queue full or stopping) */
} kp_http_pool_stats_t;

/* Starts @p opts->threads threads. @returns a new pool (kp_http_pool_destroy) or NULL
 * with errstr. */
kp_http_pool_t *kp_http_pool_new(const kp_http_pool_opts_t *opts, char *errstr, size_t errstr_size);

/*
 * Queues a job: @p run(@p arg) will be called once in a pool thread, or, when the pool
 * stops before a thread took it, @p cancel(@p arg) once in the stopping thread instead.
 * Costs a lock and a signal, never waits for a thread.
 * @returns 0, or KP_ERR_UNAVAILABLE (neither callback will be called) when
 * queue_max jobs already wait or the pool is stopping.
 */
int kp_http_pool_submit(kp_http_pool_t *pool, kp_http_pool_fn_t *run, kp_http_pool_fn_t *cancel,
                        void *arg);

/* Refuses new jobs, cancels the queued ones (their cancel callbacks run here), waits for
 * the running ones and joins the threads. A second call, or NULL, does nothing. */
void kp_http_pool_stop(kp_http_pool_t *pool);

/* A snapshot of @p pool's counts. */
void kp_http_pool_stats(kp_http_pool_t *pool, kp_http_pool_stats_t *stats);

/* Stops (kp_http_pool_stop) and frees. NULL does nothing. */
void kp_http_pool_destroy(kp_http_pool_t *pool);

#endif /* KP_HTTP_POOL_H */
