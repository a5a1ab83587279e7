/* http_pool.c — bounded worker pools: a ring of waiting jobs, a few threads, a clean stop. */
#include "http/http_pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/err.h"

typedef struct pool_job {
        kp_http_pool_fn_t *run;
        kp_http_pool_fn_t *cancel;
        void *arg;
} pool_job_t;

struct kp_http_pool {
        pthread_mutex_t lock;
        pthread_cond_t cond; /* a job was queued, or the pool is stopping */
        pool_job_t *ring;    /* queue_max slots, FIFO from head */
        unsigned queue_max, head, queued, running;
        uint64_t rejected;
        int stopping; /* set once by kp_http_pool_stop: submit refuses, threads exit */
        pthread_t *threads;
        unsigned nthreads; /* started */
        int nice;
        char name[16];
};

/* Lowers this thread's priority: on Linux a nice value belongs to a thread (its tid),
 * so MHD's threads, at the process's priority, win a contended CPU. Lowering needs no
 * privilege; a failure only leaves the thread at the normal priority. */
static void thread_lower_priority(int nice)
{
        if (nice <= 0)
                return;
        pid_t tid = (pid_t)syscall(SYS_gettid);
        errno = 0;
        int cur = getpriority(PRIO_PROCESS, (id_t)tid);
        if (cur == -1 && errno)
                cur = 0;
        (void)setpriority(PRIO_PROCESS, (id_t)tid, cur + nice > 19 ? 19 : cur + nice);
}

/* Takes the oldest job, waiting for one. @returns 0, or -1 when the pool stops. */
static int job_take(kp_http_pool_t *pool, pool_job_t *job)
{
        pthread_mutex_lock(&pool->lock);
        while (!pool->queued && !pool->stopping)
                pthread_cond_wait(&pool->cond, &pool->lock);
        if (pool->stopping) {
                pthread_mutex_unlock(&pool->lock);
                return -1;
        }
        *job = pool->ring[pool->head];
        pool->head = (pool->head + 1) % pool->queue_max;
        pool->queued--;
        pool->running++;
        pthread_mutex_unlock(&pool->lock);
        return 0;
}

static void *pool_thread(void *opaque)
{
        kp_http_pool_t *pool = opaque;
        pool_job_t job;
        thread_lower_priority(pool->nice);
        while (!job_take(pool, &job)) {
                job.run(job.arg);
                pthread_mutex_lock(&pool->lock);
                pool->running--;
                pthread_mutex_unlock(&pool->lock);
        }
        return NULL;
}

kp_http_pool_t *kp_http_pool_new(const kp_http_pool_opts_t *opts, char *errstr, size_t errstr_size)
{
        if (!opts->threads || !opts->queue_max) {
                snprintf(errstr, errstr_size, "pool %s: threads and queue must be >= 1",
                         opts->name);
                return NULL;
        }
        kp_http_pool_t *pool = calloc(1, sizeof(*pool));
        if (!pool) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        pthread_mutex_init(&pool->lock, NULL);
        pthread_cond_init(&pool->cond, NULL);
        pool->queue_max = opts->queue_max;
        pool->nice = opts->nice;
        snprintf(pool->name, sizeof(pool->name), "%s", opts->name ? opts->name : "kp-pool");
        pool->ring = calloc(opts->queue_max, sizeof(*pool->ring));
        pool->threads = calloc(opts->threads, sizeof(*pool->threads));
        if (!pool->ring || !pool->threads) {
                snprintf(errstr, errstr_size, "out of memory");
                goto fail;
        }
        for (unsigned i = 0; i < opts->threads; i++) {
                int rc = pthread_create(&pool->threads[i], NULL, pool_thread, pool);
                if (rc) {
                        snprintf(errstr, errstr_size, "pool %s: cannot start a thread: %s",
                                 pool->name, strerror(rc));
                        goto fail;
                }
                pthread_setname_np(pool->threads[i], pool->name);
                pool->nthreads++;
        }
        return pool;
fail:
        kp_http_pool_destroy(pool);
        return NULL;
}

int kp_http_pool_submit(kp_http_pool_t *pool, kp_http_pool_fn_t *run, kp_http_pool_fn_t *cancel,
                        void *arg)
{
        int err = 0;
        pthread_mutex_lock(&pool->lock);
        if (pool->stopping || pool->queued >= pool->queue_max) {
                pool->rejected++;
                err = KP_ERR_UNAVAILABLE;
        } else {
                unsigned tail = (pool->head + pool->queued) % pool->queue_max;
                pool->ring[tail] = (pool_job_t){.run = run, .cancel = cancel, .arg = arg};
                pool->queued++;
                pthread_cond_signal(&pool->cond);
        }
        pthread_mutex_unlock(&pool->lock);
        return err;
}

void kp_http_pool_stop(kp_http_pool_t *pool)
{
        if (!pool)
                return;
        pthread_mutex_lock(&pool->lock);
        if (pool->stopping) {
                pthread_mutex_unlock(&pool->lock);
                return;
        }
        pool->stopping = 1;
        unsigned n = pool->queued, head = pool->head;
        pthread_cond_broadcast(&pool->cond);
        pthread_mutex_unlock(&pool->lock);
        /* The ring is frozen now (no thread takes from a stopping pool, no submit adds
         * to it): the waiting jobs are cancelled in place, outside the lock, since a
         * cancel callback may take locks of its own (http.c's). */
        for (unsigned i = 0; i < n; i++) {
                pool_job_t *job = &pool->ring[(head + i) % pool->queue_max];
                job->cancel(job->arg);
        }
        pthread_mutex_lock(&pool->lock);
        pool->queued = 0;
        pthread_mutex_unlock(&pool->lock);
        for (unsigned i = 0; i < pool->nthreads; i++)
                pthread_join(pool->threads[i], NULL);
}

void kp_http_pool_stats(kp_http_pool_t *pool, kp_http_pool_stats_t *stats)
{
        pthread_mutex_lock(&pool->lock);
        stats->queued = pool->queued;
        stats->running = pool->running;
        stats->rejected = pool->rejected;
        pthread_mutex_unlock(&pool->lock);
}

void kp_http_pool_destroy(kp_http_pool_t *pool)
{
        if (!pool)
                return;
        kp_http_pool_stop(pool);
        free(pool->threads);
        free(pool->ring);
        pthread_cond_destroy(&pool->cond);
        pthread_mutex_destroy(&pool->lock);
        free(pool);
}
