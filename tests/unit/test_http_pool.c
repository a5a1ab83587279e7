/* test_http_pool.c — the HTTP layer's worker pools: bounded queue, every job once, a clean stop. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/err.h"
#include "http/http_pool.h"

/* A job that blocks on a gate until the test opens it, and counts what happened to it. */
typedef struct gate {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        int open;
        int started; /* jobs that entered run */
} gate_t;

typedef struct job {
        gate_t *gate;
        int ran;       /* run calls (atomic) */
        int cancelled; /* cancel calls (atomic) */
        int nice;      /* the thread's nice value seen by run */
} job_t;

static void gate_init(gate_t *g)
{
        memset(g, 0, sizeof(*g));
        pthread_mutex_init(&g->lock, NULL);
        pthread_cond_init(&g->cond, NULL);
}

static void gate_open(gate_t *g)
{
        pthread_mutex_lock(&g->lock);
        g->open = 1;
        pthread_cond_broadcast(&g->cond);
        pthread_mutex_unlock(&g->lock);
}

/* A thread that opens the gate after a moment (while the test is inside a stop). */
static void *gate_open_later(void *arg)
{
        usleep(100 * 1000);
        gate_open(arg);
        return NULL;
}

/* Waits until @p n jobs are inside run (polls, 10 s at most). */
static void gate_wait_started(gate_t *g, int n)
{
        for (int i = 0; i < 10000; i++) {
                pthread_mutex_lock(&g->lock);
                int s = g->started;
                pthread_mutex_unlock(&g->lock);
                if (s >= n)
                        return;
                usleep(1000);
        }
        fail_msg("%d jobs did not start", n);
}

static void job_run(void *arg)
{
        job_t *j = arg;
        errno = 0;
        j->nice = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
        __atomic_fetch_add(&j->ran, 1, __ATOMIC_SEQ_CST);
        if (!j->gate)
                return;
        pthread_mutex_lock(&j->gate->lock);
        j->gate->started++;
        pthread_cond_broadcast(&j->gate->cond);
        while (!j->gate->open)
                pthread_cond_wait(&j->gate->cond, &j->gate->lock);
        pthread_mutex_unlock(&j->gate->lock);
}

/* Waits until @p j ran (polls, 10 s at most). */
static void wait_ran(job_t *j)
{
        for (int i = 0; i < 10000 && !__atomic_load_n(&j->ran, __ATOMIC_SEQ_CST); i++)
                usleep(1000);
        assert_int_equal(__atomic_load_n(&j->ran, __ATOMIC_SEQ_CST), 1);
}

static void job_cancel(void *arg)
{
        job_t *j = arg;
        __atomic_fetch_add(&j->cancelled, 1, __ATOMIC_SEQ_CST);
}

static kp_http_pool_t *pool_new(unsigned threads, unsigned queue, int nice)
{
        char errstr[256];
        kp_http_pool_opts_t o = {
                .name = "test-pool", .threads = threads, .queue_max = queue, .nice = nice};
        kp_http_pool_t *pool = kp_http_pool_new(&o, errstr, sizeof(errstr));
        assert_non_null(pool);
        return pool;
}

static void test_a_full_queue_refuses_and_counts_the_refusal(void **state)
{
        (void)state;
        gate_t g;
        gate_init(&g);
        job_t jobs[5] = {{.gate = &g}, {.gate = &g}, {.gate = &g}, {.gate = &g}, {.gate = &g}};
        kp_http_pool_t *pool = pool_new(2, 2, 0);
        /* two run (blocked on the gate), two wait, the fifth finds the queue full */
        assert_int_equal(kp_http_pool_submit(pool, job_run, job_cancel, &jobs[0]), 0);
        assert_int_equal(kp_http_pool_submit(pool, job_run, job_cancel, &jobs[1]), 0);
        gate_wait_started(&g, 2);
        assert_int_equal(kp_http_pool_submit(pool, job_run, job_cancel, &jobs[2]), 0);
        assert_int_equal(kp_http_pool_submit(pool, job_run, job_cancel, &jobs[3]), 0);
        assert_int_equal(kp_http_pool_submit(pool, job_run, job_cancel, &jobs[4]),
                         KP_ERR_UNAVAILABLE);
        kp_http_pool_stats_t st;
        kp_http_pool_stats(pool, &st);
        assert_int_equal(st.running, 2);
        assert_int_equal(st.queued, 2);
        assert_int_equal(st.rejected, 1);
        /* the queue drains once the threads are free, and takes jobs again */
        gate_open(&g);
        gate_wait_started(&g, 4);
        for (int i = 0; i < 1000; i++) {
                kp_http_pool_stats(pool, &st);
                if (!st.queued && !st.running)
                        break;
                usleep(1000);
        }
        assert_int_equal(st.queued + st.running, 0);
        assert_int_equal(kp_http_pool_submit(pool, job_run, job_cancel, &jobs[4]), 0);
        wait_ran(&jobs[4]);
        kp_http_pool_destroy(pool);
        for (int i = 0; i < 5; i++) {
                assert_int_equal(jobs[i].ran, 1);
                assert_int_equal(jobs[i].cancelled, 0);
        }
}

static void test_stop_cancels_waiting_jobs_finishes_running_ones_and_refuses_new(void **state)
{
        (void)state;
        gate_t g;
        gate_init(&g);
        job_t running = {.gate = &g}, waiting[3] = {{.gate = &g}, {.gate = &g}, {.gate = &g}};
        job_t late = {0};
        kp_http_pool_t *pool = pool_new(1, 3, 0);
        assert_int_equal(kp_http_pool_submit(pool, job_run, job_cancel, &running), 0);
        gate_wait_started(&g, 1);
        for (int i = 0; i < 3; i++)
                assert_int_equal(kp_http_pool_submit(pool, job_run, job_cancel, &waiting[i]), 0);
        /* the running job is released a little later, while stop waits for it */
        pthread_t opener;
        assert_int_equal(pthread_create(&opener, NULL, gate_open_later, &g), 0);
        kp_http_pool_stop(pool);
        pthread_join(opener, NULL);
        assert_int_equal(running.ran, 1);
        assert_int_equal(running.cancelled, 0);
        for (int i = 0; i < 3; i++) {
                assert_int_equal(waiting[i].ran, 0);
                assert_int_equal(waiting[i].cancelled, 1);
        }
        assert_int_equal(kp_http_pool_submit(pool, job_run, job_cancel, &late), KP_ERR_UNAVAILABLE);
        kp_http_pool_stop(pool); /* a second stop does nothing */
        kp_http_pool_destroy(pool);
        assert_int_equal(late.ran + late.cancelled, 0);
}

/* Submitters on several threads against a pool that stops midway: each accepted job ran
 * or was cancelled exactly once, each refused one neither. */
typedef struct storm {
        kp_http_pool_t *pool;
        job_t jobs[500];
        int accepted[500];
} storm_t;

static void *storm_submit(void *arg)
{
        storm_t *s = arg;
        for (int i = 0; i < 500; i++) {
                s->accepted[i] = !kp_http_pool_submit(s->pool, job_run, job_cancel, &s->jobs[i]);
                if (!(i % 50))
                        usleep(200);
        }
        return NULL;
}

static void test_every_accepted_job_runs_or_is_cancelled_exactly_once(void **state)
{
        (void)state;
        static storm_t storms[4];
        kp_http_pool_t *pool = pool_new(3, 16, 0);
        pthread_t t[4];
        for (int k = 0; k < 4; k++) {
                memset(&storms[k], 0, sizeof(storms[k]));
                storms[k].pool = pool;
                assert_int_equal(pthread_create(&t[k], NULL, storm_submit, &storms[k]), 0);
        }
        usleep(2000);
        kp_http_pool_stop(pool);
        for (int k = 0; k < 4; k++)
                pthread_join(t[k], NULL);
        int accepted = 0, ran = 0;
        for (int k = 0; k < 4; k++)
                for (int i = 0; i < 500; i++) {
                        job_t *j = &storms[k].jobs[i];
                        assert_int_equal(j->ran + j->cancelled, storms[k].accepted[i] ? 1 : 0);
                        accepted += storms[k].accepted[i];
                        ran += j->ran;
                }
        kp_http_pool_stats_t st;
        kp_http_pool_stats(pool, &st);
        assert_int_equal(st.queued, 0);
        assert_int_equal(st.running, 0);
        assert_int_equal((int)st.rejected, 4 * 500 - accepted);
        kp_http_pool_destroy(pool);
        printf("accepted %d of 2000, ran %d\n", accepted, ran);
}

static void test_threads_run_below_the_process_priority(void **state)
{
        (void)state;
        job_t j = {0};
        errno = 0;
        int base = getpriority(PRIO_PROCESS, 0);
        kp_http_pool_t *pool = pool_new(1, 1, 10);
        assert_int_equal(kp_http_pool_submit(pool, job_run, job_cancel, &j), 0);
        wait_ran(&j);
        kp_http_pool_destroy(pool);
        assert_int_equal(j.ran, 1);
        assert_int_equal(j.nice, base + 10 > 19 ? 19 : base + 10);
        /* the caller's own thread keeps its priority */
        assert_int_equal(getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid)), base);
}

static void test_new_refuses_zero_threads_or_queue_and_destroy_null_is_a_no_op(void **state)
{
        (void)state;
        char errstr[256];
        kp_http_pool_opts_t o = {.name = "x", .threads = 0, .queue_max = 1};
        assert_null(kp_http_pool_new(&o, errstr, sizeof(errstr)));
        assert_non_null(strstr(errstr, "threads and queue"));
        o.threads = 1;
        o.queue_max = 0;
        assert_null(kp_http_pool_new(&o, errstr, sizeof(errstr)));
        kp_http_pool_destroy(NULL);
        kp_http_pool_stop(NULL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_a_full_queue_refuses_and_counts_the_refusal),
                cmocka_unit_test(
                        test_stop_cancels_waiting_jobs_finishes_running_ones_and_refuses_new),
                cmocka_unit_test(test_every_accepted_job_runs_or_is_cancelled_exactly_once),
                cmocka_unit_test(test_threads_run_below_the_process_priority),
                cmocka_unit_test(
                        test_new_refuses_zero_threads_or_queue_and_destroy_null_is_a_no_op),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
