/* test_runtime_absent.c — several instances (issue 15 step 3): the runtime runs a subset of a
 * group's tasks. An absent task reads nothing and has no sink open (an exactly_once producer
 * with its transactional.id would fence the instance that runs it); a live plan change hands
 * tasks out (their partitions committed, their sinks closed) and in (sinks opened, partitions
 * resumed from the committed offsets); and no commit happens while the commit guard says the
 * lease is gone, not even a stop's last one. A fake sink ("test-absent") counts its opens,
 * closes and the records each task took. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "base/err.h"
#include "base/util.h"
#include "runtime/runtime.h"
#include "sinks/sink.h"

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NP 4 /* partitions, and tasks: task t reads partition t */

static pthread_mutex_t fk_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
        int opens[NP], closes[NP], open_now[NP];
        int64_t got[NP];     /* records put, per partition */
        int64_t by_task[NP]; /* records put, per task */
} fk;

typedef struct inst {
        int task;
        int64_t taken[NP];
} inst_t;

static int fk_validate(const json_t *conf, char *errstr, size_t errstr_size)
{
        (void)conf, (void)errstr, (void)errstr_size;
        return 0;
}

static int fk_open(const json_t *conf, void *group, int task, void **statep, char *errstr,
                   size_t errstr_size)
{
        (void)conf, (void)group, (void)errstr, (void)errstr_size;
        inst_t *s = calloc(1, sizeof(*s));
        assert_non_null(s);
        s->task = task;
        pthread_mutex_lock(&fk_lock);
        fk.opens[task]++;
        fk.open_now[task] = 1;
        pthread_mutex_unlock(&fk_lock);
        *statep = s;
        return 0;
}

/* Takes and acknowledges every record at once. */
static kp_sink_status_t fk_put(void *state, const kp_sink_msg_t *msgs, size_t n, size_t *taken,
                               char *errstr, size_t errstr_size)
{
        inst_t *s = state;
        (void)errstr, (void)errstr_size;
        pthread_mutex_lock(&fk_lock);
        for (size_t i = 0; i < n; i++) {
                fk.got[msgs[i].partition]++;
                fk.by_task[s->task]++;
                s->taken[msgs[i].partition] = msgs[i].offset + 1;
        }
        pthread_mutex_unlock(&fk_lock);
        *taken = n;
        return KP_SINK_OK;
}

static kp_sink_status_t fk_flush(void *state, int64_t deadline_ms, char *errstr, size_t errstr_size)
{
        (void)state, (void)deadline_ms, (void)errstr, (void)errstr_size;
        return KP_SINK_OK;
}

static void fk_precommit(void *state, kp_sink_offset_t *offs, size_t n)
{
        inst_t *s = state;
        for (size_t i = 0; i < n; i++)
                if (s->taken[offs[i].partition] > offs[i].acked)
                        offs[i].acked = s->taken[offs[i].partition];
}

static void fk_close(void *state)
{
        inst_t *s = state;
        pthread_mutex_lock(&fk_lock);
        fk.closes[s->task]++;
        fk.open_now[s->task] = 0;
        pthread_mutex_unlock(&fk_lock);
        free(s);
}

static const kp_sink_ops_t fk_ops = {
        .type = "test-absent",
        .validate = fk_validate,
        .open = fk_open,
        .put = fk_put,
        .flush = fk_flush,
        .precommit = fk_precommit,
        .close = fk_close,
};

static int64_t fk_got(int p)
{
        pthread_mutex_lock(&fk_lock);
        int64_t n = fk.got[p];
        pthread_mutex_unlock(&fk_lock);
        return n;
}

static int wait_got(int p, int64_t n)
{
        int64_t deadline = kp_time_mono_ms() + 30000;
        while (fk_got(p) < n && kp_time_mono_ms() < deadline)
                usleep(20 * 1000);
        return fk_got(p) >= n;
}

/* @p n records into partition @p p, delivered before it returns. */
static void produce(const char *bootstrap, int p, int n)
{
        char err[256];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof(err));
        rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
        assert_non_null(rk);
        for (int i = 0; i < n; i++)
                assert_int_equal(
                        rd_kafka_producev(rk, RD_KAFKA_V_TOPIC("absent"), RD_KAFKA_V_PARTITION(p),
                                          RD_KAFKA_V_VALUE("x", 1),
                                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                        0);
        assert_int_equal(rd_kafka_flush(rk, 30000), 0);
        rd_kafka_destroy(rk);
}

/* Partition @p p's committed offset in the group's status (-1: none). */
static int64_t status_committed(kp_runtime_t *rt, int p)
{
        json_t *st = kp_runtime_group_status(rt, "g-absent"), *row;
        int64_t c = -1;
        size_t k;
        assert_non_null(st);
        json_array_foreach(json_object_get(st, "partitions"), k, row)
        {
                json_t *v = json_object_get(row, "committed");
                if (json_integer_value(json_object_get(row, "partition")) == p &&
                    json_is_integer(v))
                        c = json_integer_value(v);
        }
        json_decref(st);
        return c;
}

static int wait_committed(kp_runtime_t *rt, int p, int64_t want)
{
        int64_t deadline = kp_time_mono_ms() + 30000;
        while (status_committed(rt, p) < want && kp_time_mono_ms() < deadline)
                usleep(50 * 1000);
        return status_committed(rt, p) >= want;
}

static atomic_int lease = 1;

static int lease_held(void *arg)
{
        (void)arg;
        return atomic_load(&lease);
}

/* The typed plan: task t reads partition t of topic "absent" on cluster @p ref. */
typedef struct plan_store {
        kp_rt_plan_part_t parts[NP];
        kp_rt_plan_task_t tasks[NP];
        unsigned char absent[NP];
        kp_rt_plan_t plan;
} plan_store_t;

static void plan_make(plan_store_t *ps, kp_cluster_ref_t *ref, int version, const char *absent)
{
        memset(ps, 0, sizeof(*ps));
        for (int t = 0; t < NP; t++) {
                ps->absent[t] = absent[t] == '1';
                ps->parts[t] = (kp_rt_plan_part_t){0, "absent", t};
                ps->tasks[t] = (kp_rt_plan_task_t){&ps->parts[t], ps->absent[t] ? 0 : 1};
        }
        ps->plan = (kp_rt_plan_t){.version = version,
                                  .parallelism = NP,
                                  .tasks = ps->tasks,
                                  .ntasks = NP,
                                  .clusters = ref,
                                  .nclusters = 1,
                                  .absent = ps->absent};
}

static void test_absent_tasks_read_nothing_open_no_sink_and_hand_over_by_apply(void **state)
{
        char err[256];
        plan_store_t ps;
        (void)state;
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
        rd_kafka_t *host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
        assert_non_null(host);
        rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(host, 1);
        assert_non_null(mc);
        assert_int_equal(rd_kafka_mock_topic_create(mc, "absent", NP, 1), 0);
        const char *bootstrap = rd_kafka_mock_cluster_bootstraps(mc);
        for (int p = 0; p < NP; p++)
                produce(bootstrap, p, 100);
        kp_cluster_ref_t ref = {.name = "a", .bootstrap = bootstrap};
        json_t *grp = json_pack("{s:s, s:b, s:s, s:{s:s}}", "name", "g-absent", "rebalance", 0,
                                "start_offset", "earliest", "sink", "type", "test-absent");
        kp_runtime_t *rt = kp_runtime_new(err, sizeof(err));
        assert_non_null(rt);
        kp_runtime_set_commit_guard(rt, lease_held, NULL);

        /* tasks 1 and 2 run elsewhere */
        plan_make(&ps, &ref, 1, "0110");
        if (kp_runtime_start(rt, grp, &ps.plan, err, sizeof(err)))
                fail_msg("start: %s", err);
        assert_true(wait_got(0, 100) && wait_got(3, 100));
        assert_true(wait_committed(rt, 0, 100) && wait_committed(rt, 3, 100));
        usleep(1500 * 1000); /* a commit round or more: partitions 1 and 2 are not read */
        pthread_mutex_lock(&fk_lock);
        assert_int_equal(fk.opens[1] + fk.opens[2], 0);
        assert_int_equal(fk.got[1] + fk.got[2], 0);
        assert_int_equal(fk.opens[0] + fk.opens[3], 2);
        pthread_mutex_unlock(&fk_lock);
        assert_int_equal(status_committed(rt, 1), -1);

        /* hand 0 and 3 out, 1 and 2 in: the same version, applied again */
        plan_make(&ps, &ref, 1, "1001");
        if (kp_runtime_apply(rt, "g-absent", &ps.plan, err, sizeof(err)))
                fail_msg("apply: %s", err);
        pthread_mutex_lock(&fk_lock);
        assert_int_equal(fk.closes[0] + fk.closes[3], 2);
        assert_int_equal(fk.open_now[0] + fk.open_now[3], 0);
        assert_int_equal(fk.open_now[1] + fk.open_now[2], 2);
        pthread_mutex_unlock(&fk_lock);
        assert_true(wait_got(1, 100) && wait_got(2, 100));
        assert_true(wait_committed(rt, 1, 100));

        /* no lease: the periodic rounds commit nothing more, nor does the stop */
        atomic_store(&lease, 0);
        produce(bootstrap, 1, 50);
        assert_true(wait_got(1, 150));
        usleep(2500 * 1000);
        assert_int_equal(status_committed(rt, 1), 100);
        assert_int_equal(kp_runtime_group_stop(rt, "g-absent", 10000, err, sizeof(err)), 0);
        pthread_mutex_lock(&fk_lock);
        assert_int_equal(fk.open_now[1] + fk.open_now[2], 0);
        pthread_mutex_unlock(&fk_lock);

        /* back with the lease, every task here: partition 1 resumes at 100, what was not
         * committed is read again (at least once), 0 and 3 at 100 (their hand-over's commit) */
        atomic_store(&lease, 1);
        plan_make(&ps, &ref, 1, "0000");
        ps.plan.absent = NULL;
        if (kp_runtime_start(rt, grp, &ps.plan, err, sizeof(err)))
                fail_msg("restart: %s", err);
        assert_true(wait_got(1, 200));
        usleep(1000 * 1000);
        assert_int_equal(fk_got(1), 200);
        assert_int_equal(fk_got(0), 100);
        assert_int_equal(fk_got(3), 100);
        assert_int_equal(kp_runtime_group_stop(rt, "g-absent", 10000, err, sizeof(err)), 0);

        /* a fan-out group deals records to every task: it runs whole or not at all */
        json_t *fan = json_pack("{s:s, s:b, s:s, s:{s:s}}", "name", "g-fan", "rebalance", 1,
                                "start_offset", "earliest", "sink", "type", "test-absent");
        plan_make(&ps, &ref, 1, "0110");
        assert_int_equal(kp_runtime_start(rt, fan, &ps.plan, err, sizeof(err)), KP_ERR_INVALID);
        json_decref(fan);

        kp_runtime_destroy(rt);
        json_decref(grp);
        rd_kafka_mock_cluster_destroy(mc);
        rd_kafka_destroy(host);
}

int main(void)
{
        assert_int_equal(kp_sink_kind_add(&fk_ops), 0);
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(
                        test_absent_tasks_read_nothing_open_no_sink_and_hand_over_by_apply),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
