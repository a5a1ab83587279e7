/* test_runtime_handoff.c — a live plan change does not stall the partitions it does not move,
 * even when the hand-over's flush of the moving task's sink takes long, and still delivers
 * every record once; when that flush fails, nothing the old owner did not deliver is
 * committed or skipped. A fake sink ("test-handoff") keeps a ledger of every record put and
 * blocks (or fails) the hand-over's flush of task 0 (the old owner) as the test says. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "base/util.h"
#include "runtime/runtime.h"
#include "sinks/sink.h"

#include <errno.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HP         4     /* partitions */
#define MAXO       65536 /* records per partition the ledger holds */
#define GATE_MAX_S 120   /* a flush never blocks longer, so a broken run ends */

/* ---- the fake sink ---- */

typedef struct inst {
        int task;
        int64_t taken[HP]; /* offset after the last record taken, per partition (-1 none) */
        int64_t acked[HP]; /* offset after the last record acknowledged */
        int64_t nacked;    /* records acknowledged */
} inst_t;

static pthread_mutex_t fk_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fk_cond = PTHREAD_COND_INITIALIZER;
static struct {
        unsigned short count[HP][MAXO]; /* puts of each record */
        signed char task[HP][MAXO];     /* the task that took it first */
        int64_t got[HP];                /* records put, per partition */
        int out_of_order;               /* a record put past one not put yet */
        int64_t moved_at_ms;            /* when task 2 first put a record of partition 0 */
        int armed, entered, released;   /* the gate on task 0's waiting flush */
        kp_sink_status_t fail;          /* instead: task 0's first waiting flush answers this */
        int failed;                     /* ... and it did */
} fk;

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
        for (int p = 0; p < HP; p++)
                s->taken[p] = s->acked[p] = -1;
        *statep = s;
        return 0;
}

/* Takes every record and notes it in the ledger. Task 0 acknowledges only at a flush that
 * waits (a hand-over's, a stop's), so it always holds records of the partition it gives
 * up; the other tasks acknowledge as they take. */
static kp_sink_status_t fk_put(void *state, const kp_sink_msg_t *msgs, size_t n, size_t *taken,
                               char *errstr, size_t errstr_size)
{
        inst_t *s = state;
        (void)errstr, (void)errstr_size;
        pthread_mutex_lock(&fk_lock);
        for (size_t i = 0; i < n; i++) {
                int p = msgs[i].partition;
                int64_t o = msgs[i].offset;
                assert_true(p >= 0 && p < HP && o >= 0 && o < MAXO);
                if (o > 0 && !fk.count[p][o - 1])
                        fk.out_of_order++;
                if (!fk.count[p][o]++)
                        fk.task[p][o] = (signed char)s->task;
                if (p == 0 && s->task == 2 && !fk.moved_at_ms)
                        fk.moved_at_ms = kp_time_mono_ms();
                fk.got[p]++;
                s->taken[p] = o + 1;
                if (s->task) {
                        s->acked[p] = o + 1;
                        s->nacked++;
                }
        }
        pthread_mutex_unlock(&fk_lock);
        *taken = n;
        return KP_SINK_OK;
}

/* A flush that waits (@p deadline_ms set) acknowledges all; task 0's first one while the gate
 * is armed blocks until the test releases it, or with fk.fail set answers that and
 * acknowledges nothing. A periodic flush of task 0 acknowledges nothing. */
static kp_sink_status_t fk_flush(void *state, int64_t deadline_ms, char *errstr, size_t errstr_size)
{
        inst_t *s = state;
        kp_sink_status_t st = KP_SINK_OK;
        pthread_mutex_lock(&fk_lock);
        if (s->task == 0 && deadline_ms > 0 && fk.fail != KP_SINK_OK && !fk.failed) {
                /* acknowledges nothing: the records stay with task 0 (a retry), or are lost
                 * with it (fatal) */
                fk.failed = 1;
                snprintf(errstr, errstr_size, "the receiver is down");
                pthread_mutex_unlock(&fk_lock);
                return fk.fail;
        }
        if (s->task == 0 && deadline_ms > 0 && fk.armed && !fk.released) {
                struct timespec until;
                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_sec += GATE_MAX_S;
                fk.entered = 1;
                pthread_cond_broadcast(&fk_cond);
                while (!fk.released &&
                       pthread_cond_timedwait(&fk_cond, &fk_lock, &until) != ETIMEDOUT)
                        ;
        }
        for (int p = 0; p < HP; p++) {
                if (s->acked[p] >= s->taken[p])
                        continue;
                if (deadline_ms > 0) {
                        s->nacked += s->taken[p] - (s->acked[p] > 0 ? s->acked[p] : 0);
                        s->acked[p] = s->taken[p];
                } else {
                        snprintf(errstr, errstr_size, "partition %d waits for a hand-over", p);
                        st = KP_SINK_RETRY;
                }
        }
        pthread_mutex_unlock(&fk_lock);
        return st;
}

static void fk_precommit(void *state, kp_sink_offset_t *offs, size_t n)
{
        inst_t *s = state;
        pthread_mutex_lock(&fk_lock);
        for (size_t i = 0; i < n; i++)
                if (s->acked[offs[i].partition] > offs[i].acked)
                        offs[i].acked = s->acked[offs[i].partition];
        pthread_mutex_unlock(&fk_lock);
}

static int64_t fk_acked(void *state)
{
        inst_t *s = state;
        pthread_mutex_lock(&fk_lock);
        int64_t n = s->nacked;
        pthread_mutex_unlock(&fk_lock);
        return n;
}

static void fk_close(void *state)
{
        free(state);
}

static const kp_sink_ops_t fk_ops = {
        .type = "test-handoff",
        .validate = fk_validate,
        .open = fk_open,
        .put = fk_put,
        .flush = fk_flush,
        .precommit = fk_precommit,
        .acked = fk_acked,
        .close = fk_close,
};

static int64_t fk_got(int p)
{
        pthread_mutex_lock(&fk_lock);
        int64_t n = fk.got[p];
        pthread_mutex_unlock(&fk_lock);
        return n;
}

/* Waits until task 0's hand-over flush blocks at the gate. */
static int gate_wait_entered(int timeout_s)
{
        struct timespec until;
        int entered;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += timeout_s;
        pthread_mutex_lock(&fk_lock);
        while (!fk.entered && pthread_cond_timedwait(&fk_cond, &fk_lock, &until) != ETIMEDOUT)
                ;
        entered = fk.entered;
        pthread_mutex_unlock(&fk_lock);
        return entered;
}

static void gate_release(void)
{
        pthread_mutex_lock(&fk_lock);
        fk.released = 1;
        pthread_cond_broadcast(&fk_cond);
        pthread_mutex_unlock(&fk_lock);
}

/* ---- a mock cluster and a steady producer ---- */

typedef struct prod {
        const char *bootstrap;
        atomic_int stop;
        _Atomic int64_t delivered[HP];
        atomic_int failed;
} prod_t;

static void prod_dr(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
        prod_t *pr = opaque;
        (void)rk;
        if (rkm->err)
                atomic_fetch_add(&pr->failed, 1);
        else
                atomic_fetch_add(&pr->delivered[rkm->partition], 1);
}

/* One record into every partition each 5 ms until told to stop. */
static void *prod_main(void *arg)
{
        prod_t *pr = arg;
        char err[256];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "bootstrap.servers", pr->bootstrap, err, sizeof(err));
        rd_kafka_conf_set(conf, "linger.ms", "1", err, sizeof(err));
        rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
        rd_kafka_conf_set_dr_msg_cb(conf, prod_dr);
        rd_kafka_conf_set_opaque(conf, pr);
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
        assert_non_null(rk);
        for (int i = 0; i < MAXO - 1 && !atomic_load(&pr->stop); i++) {
                for (int p = 0; p < HP; p++) {
                        char val[16];
                        snprintf(val, sizeof(val), "%d", i);
                        while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC("handoff"),
                                                 RD_KAFKA_V_PARTITION(p),
                                                 RD_KAFKA_V_VALUE(val, strlen(val)),
                                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                                 RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                                rd_kafka_poll(rk, 10);
                }
                rd_kafka_poll(rk, 0);
                usleep(5 * 1000);
        }
        rd_kafka_flush(rk, 60000);
        rd_kafka_destroy(rk);
        return NULL;
}

/* Version @p version over @p ntasks tasks, task t taking the partitions of @p parts[t]
 * (-1 ends a list). */
static json_t *plan_doc(int version, int ntasks, const int parts[][HP + 1])
{
        json_t *plan =
                json_pack("{s:i, s:i, s:[]}", "version", version, "parallelism", ntasks, "tasks");
        for (int t = 0; t < ntasks; t++) {
                json_t *list = json_array();
                for (int k = 0; parts[t][k] >= 0; k++)
                        json_array_append_new(list,
                                              json_pack("{s:s, s:s, s:i}", "cluster", "a", "topic",
                                                        "handoff", "partition", parts[t][k]));
                json_array_append_new(json_object_get(plan, "tasks"),
                                      json_pack("{s:i, s:o}", "task", t, "partitions", list));
        }
        return plan;
}

/* Partition @p p's committed offset in the group's status (-1: none). */
static int64_t status_committed(kp_runtime_t *rt, const char *group, int p)
{
        json_t *st = kp_runtime_group_status(rt, group), *row;
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

typedef struct apply_arg {
        kp_runtime_t *rt;
        json_t *plan, *clusters;
        int rc;
        char err[256];
} apply_arg_t;

static void *apply_main(void *arg)
{
        apply_arg_t *a = arg;
        a->rc = kp_runtime_group_apply(a->rt, "g-handoff", a->plan, a->clusters, a->err,
                                       sizeof(a->err));
        return NULL;
}

/* 1 once every partition but 0 got @p more records past @p from, within @p timeout_ms. */
static int unmoved_advance(const int64_t *from, int64_t more, int timeout_ms)
{
        int64_t deadline = kp_time_mono_ms() + timeout_ms;
        for (;;) {
                int ok = 1;
                for (int p = 1; p < HP; p++)
                        ok &= fk_got(p) >= from[p] + more;
                if (ok)
                        return 1;
                if (kp_time_mono_ms() >= deadline)
                        return 0;
                usleep(20 * 1000);
        }
}

/* One run: a mock cluster, a steady producer, group g-handoff running plan 1 (partition 0 on
 * task 0), and plan 2 (partition 0 on task 2) ready. */
typedef struct run {
        rd_kafka_mock_cluster_t *mc;
        rd_kafka_t *host;
        kp_runtime_t *rt;
        prod_t pr;
        pthread_t prod_th;
        json_t *cls, *grp, *plan1, *plan2;
} run_t;

/* Starts @p r and waits until every partition delivered 20 records. */
static void run_start(run_t *r)
{
        static const int v1[3][HP + 1] = {{0, -1}, {1, 3, -1}, {2, -1}};
        static const int v2[3][HP + 1] = {{-1}, {1, 3, -1}, {2, 0, -1}};
        char err[256];

        memset(&fk, 0, sizeof(fk));
        memset(r, 0, sizeof(*r));
        r->rt = kp_runtime_new(err, sizeof(err));
        assert_non_null(r->rt);
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
        r->host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
        assert_non_null(r->host);
        /* two brokers: the partitions' leader 1, the group's coordinator 2 (a slow commit
         * answer on a connection would hold the fetch answers behind it) */
        r->mc = rd_kafka_mock_cluster_new(r->host, 2);
        assert_non_null(r->mc);
        assert_int_equal(rd_kafka_mock_topic_create(r->mc, "handoff", HP, 1), 0);
        for (int p = 0; p < HP; p++)
                assert_int_equal(rd_kafka_mock_partition_set_leader(r->mc, "handoff", p, 1), 0);
        assert_int_equal(rd_kafka_mock_coordinator_set(r->mc, "group", "g-handoff", 2), 0);
        r->pr.bootstrap = rd_kafka_mock_cluster_bootstraps(r->mc);
        r->cls = json_pack("{s:{s:s}}", "a", "bootstrap_servers", r->pr.bootstrap);
        r->grp = json_pack("{s:s, s:b, s:s, s:{s:s}}", "name", "g-handoff", "rebalance", 0,
                           "start_offset", "earliest", "sink", "type", "test-handoff");
        r->plan1 = plan_doc(1, 3, v1);
        r->plan2 = plan_doc(2, 3, v2);
        assert_int_equal(pthread_create(&r->prod_th, NULL, prod_main, &r->pr), 0);
        if (kp_runtime_group_start(r->rt, r->grp, r->plan1, r->cls, err, sizeof(err)))
                fail_msg("start: %s", err);
        for (int p = 0; p < HP; p++) {
                int64_t deadline = kp_time_mono_ms() + 30000;
                while (fk_got(p) < 20 && kp_time_mono_ms() < deadline)
                        usleep(20 * 1000);
                assert_true(fk_got(p) >= 20);
        }
}

/* Partition 0 flows again from task 2; then the producer stops, everything it delivered
 * arrives, the group stops, and the ledger holds every record exactly once, in order,
 * partition 0's from task 0 and then from task 2 — except partition 0's first @p twice,
 * which task 0 took and lost and task 2 read again: twice, task 0 first. */
static void run_finish(run_t *r, int64_t twice)
{
        char err[256];
        int64_t deadline = kp_time_mono_ms() + 30000;
        int64_t at = fk_got(0);
        int p;

        while (fk_got(0) < at + 50 && kp_time_mono_ms() < deadline)
                usleep(20 * 1000);
        assert_true(fk_got(0) >= at + 50);
        atomic_store(&r->pr.stop, 1);
        pthread_join(r->prod_th, NULL);
        assert_int_equal(atomic_load(&r->pr.failed), 0);
        for (p = 0; p < HP; p++) {
                int64_t want = atomic_load(&r->pr.delivered[p]);
                deadline = kp_time_mono_ms() + 60000;
                while (fk_got(p) < want + (p == 0 ? twice : 0) && kp_time_mono_ms() < deadline)
                        usleep(20 * 1000);
        }
        assert_int_equal(kp_runtime_group_stop(r->rt, "g-handoff", 10000, err, sizeof(err)), 0);

        pthread_mutex_lock(&fk_lock);
        for (p = 0; p < HP; p++) {
                int64_t want = atomic_load(&r->pr.delivered[p]), o;
                int phase = 0; /* partition 0: task 0, then task 2, never back */
                assert_int_equal(fk.got[p], want + (p == 0 ? twice : 0));
                for (o = 0; o < want; o++) {
                        int times = p == 0 && o < twice ? 2 : 1;
                        if (fk.count[p][o] != times)
                                fail_msg("partition %d offset %lld put %d times, not %d", p,
                                         (long long)o, fk.count[p][o], times);
                        if (p != 0)
                                continue;
                        if (o < twice) {
                                assert_int_equal(fk.task[p][o], 0);
                                continue;
                        }
                        if (fk.task[p][o] == 2) {
                                phase = 1;
                        } else {
                                assert_int_equal(fk.task[p][o], 0);
                                assert_int_equal(phase, 0);
                        }
                }
        }
        assert_int_equal(fk.out_of_order, 0);
        pthread_mutex_unlock(&fk_lock);

        kp_runtime_destroy(r->rt);
        json_decref(r->cls);
        json_decref(r->grp);
        json_decref(r->plan1);
        json_decref(r->plan2);
        rd_kafka_mock_cluster_destroy(r->mc);
        rd_kafka_destroy(r->host);
}

/*
 * Partition 0 moves from task 0 to task 2 while records flow into all four, and task 0's
 * flush in the hand-over blocks until the test lets it go. Meanwhile partitions 1..3 (one of
 * them served by partition 0's worker thread) keep arriving, and partition 0 is not committed
 * past what task 0 acknowledged. Afterwards every record arrived exactly once, partition 0's
 * from task 0 and then from task 2. Before, the worker that serves partition 0 waited on its
 * lock for the whole hand-over, and its other partitions with it.
 */
static void test_a_slow_hand_over_does_not_stall_the_partitions_that_stay(void **state)
{
        run_t r;
        pthread_t apply_th;
        apply_arg_t aa = {0};
        int64_t before[HP], committed0;
        int p, advanced;
        (void)state;

        run_start(&r);
        pthread_mutex_lock(&fk_lock);
        fk.armed = 1;
        pthread_mutex_unlock(&fk_lock);
        aa = (apply_arg_t){.rt = r.rt, .plan = r.plan2, .clusters = r.cls};
        assert_int_equal(pthread_create(&apply_th, NULL, apply_main, &aa), 0);
        int entered = gate_wait_entered(30);
        for (p = 0; p < HP; p++)
                before[p] = fk_got(p);
        /* The hand-over is blocked in task 0's flush: the others go on. */
        advanced = entered && unmoved_advance(before, 50, 20000);
        committed0 = status_committed(r.rt, "g-handoff", 0);
        printf("# while the hand-over was blocked: partitions 1..3 got %lld, %lld, %lld more "
               "(needed 50); partition 0 committed %lld\n",
               (long long)(fk_got(1) - before[1]), (long long)(fk_got(2) - before[2]),
               (long long)(fk_got(3) - before[3]), (long long)committed0);
        gate_release();
        pthread_join(apply_th, NULL);
        assert_true(entered);
        assert_true(advanced);
        /* Task 0 acknowledged nothing of partition 0 before the hand-over's flush. */
        assert_true(committed0 <= 0);
        assert_int_equal(aa.rc, 0);
        /* What task 0 took is committed (it acknowledged it in the hand-over's flush). */
        pthread_mutex_lock(&fk_lock);
        int64_t took0 = 0;
        while (took0 < MAXO && fk.count[0][took0] && fk.task[0][took0] == 0)
                took0++;
        pthread_mutex_unlock(&fk_lock);
        /* (by the next periodic round: a hand-over within the process does not commit) */
        int64_t until = kp_time_mono_ms() + 15000;
        while (status_committed(r.rt, "g-handoff", 0) < took0 && kp_time_mono_ms() < until)
                usleep(50 * 1000);
        assert_true(status_committed(r.rt, "g-handoff", 0) >= took0);
        run_finish(&r, 0);
}

/*
 * The same move while the group coordinator (broker 2; the partitions' leader is broker 1)
 * answers every OffsetCommit 2.5 s late: partition
 * 0 is back, from task 2, well within those 2.5 s of the hand-over's flush (it waited for
 * the flush, not for a commit), and still every record arrives once and in order. Before,
 * the hand-over committed and waited for the answer: the partition stood at least 2.5 s.
 */
static void test_a_hand_over_within_the_process_does_not_wait_for_the_coordinator(void **state)
{
        run_t r;
        pthread_t apply_th;
        apply_arg_t aa;
        (void)state;

        run_start(&r);
        for (int i = 0; i < 50; i++) /* 8: OffsetCommit (rdkafka_protocol.h, not public) */
                rd_kafka_mock_broker_push_request_error_rtts(r.mc, 2, 8, 1,
                                                             RD_KAFKA_RESP_ERR_NO_ERROR, 2500);
        pthread_mutex_lock(&fk_lock);
        fk.armed = 1;
        pthread_mutex_unlock(&fk_lock);
        aa = (apply_arg_t){.rt = r.rt, .plan = r.plan2, .clusters = r.cls};
        assert_int_equal(pthread_create(&apply_th, NULL, apply_main, &aa), 0);
        assert_true(gate_wait_entered(30));
        int64_t flushed = kp_time_mono_ms();
        gate_release();
        int64_t deadline = flushed + 20000;
        while (kp_time_mono_ms() < deadline) {
                pthread_mutex_lock(&fk_lock);
                int64_t at = fk.moved_at_ms;
                pthread_mutex_unlock(&fk_lock);
                if (at)
                        break;
                usleep(5 * 1000);
        }
        pthread_join(apply_th, NULL);
        assert_int_equal(aa.rc, 0);
        pthread_mutex_lock(&fk_lock);
        int64_t back = fk.moved_at_ms ? fk.moved_at_ms - flushed : -1;
        pthread_mutex_unlock(&fk_lock);
        printf("# partition 0 back from task 2 %lld ms after the hand-over's flush "
               "(commits answered after 2500 ms)\n",
               (long long)back);
        assert_true(back >= 0);
        assert_true(back < 1500);
        rd_kafka_mock_clear_request_errors(r.mc, 8);
        run_finish(&r, 0);
}

/* Task 0's records of partition 0: the first offset it did not take (it took 0..n-1). */
static int64_t task0_took(void)
{
        int64_t n = 0;
        pthread_mutex_lock(&fk_lock);
        while (n < MAXO && fk.count[0][n] && fk.task[0][n] == 0)
                n++;
        pthread_mutex_unlock(&fk_lock);
        return n;
}

/* Waits until partition 0 came from task 2 and @p more records after that. */
static void wait_moved(int64_t more)
{
        int64_t deadline = kp_time_mono_ms() + 20000, at = -1;
        while (kp_time_mono_ms() < deadline) {
                pthread_mutex_lock(&fk_lock);
                int moved = fk.moved_at_ms != 0;
                pthread_mutex_unlock(&fk_lock);
                if (moved && at < 0)
                        at = fk_got(0);
                if (at >= 0 && fk_got(0) >= at + more)
                        break;
                usleep(20 * 1000);
        }
        assert_true(at >= 0 && fk_got(0) >= at + more);
}

/* 1 once partitions 1..3 are committed to at least @p at, within @p timeout_ms. */
static int others_committed(kp_runtime_t *rt, int64_t at, int timeout_ms)
{
        int64_t deadline = kp_time_mono_ms() + timeout_ms;
        for (;;) {
                int ok = 1;
                for (int p = 1; p < HP; p++)
                        ok &= status_committed(rt, "g-handoff", p) >= at;
                if (ok || kp_time_mono_ms() >= deadline)
                        return ok;
                usleep(50 * 1000);
        }
}

/* Starts @p r and applies plan 2 with task 0's hand-over flush answering @p fail. */
static void apply_failing_flush(run_t *r, kp_sink_status_t fail)
{
        char err[256];
        run_start(r);
        pthread_mutex_lock(&fk_lock);
        fk.fail = fail;
        pthread_mutex_unlock(&fk_lock);
        if (kp_runtime_group_apply(r->rt, "g-handoff", r->plan2, r->cls, err, sizeof(err)))
                fail_msg("apply: %s", err);
        pthread_mutex_lock(&fk_lock);
        assert_true(fk.failed);
        pthread_mutex_unlock(&fk_lock);
}

/*
 * Partition 0 moves from task 0 to task 2 and task 0's flush in the hand-over fails without
 * failing the task (its receiver is down; the sink keeps the records to send again). The
 * plan still applies and partition 0 flows from task 2, but nothing of partition 0 is
 * committed while task 0 holds records of it it has not delivered — rounds later, with
 * partitions 1..3 committed far ahead — and once it delivers them (the stop's flush),
 * every record arrived exactly once.
 */
static void test_a_hand_over_whose_flush_fails_commits_nothing_the_old_owner_holds(void **state)
{
        run_t r;
        (void)state;

        apply_failing_flush(&r, KP_SINK_RETRY);
        wait_moved(50);
        int64_t took0 = task0_took(), beyond = fk_got(1);
        assert_true(took0 > 0);
        /* three periodic rounds (1 s apart) commit the others past what they had then */
        assert_true(others_committed(r.rt, beyond, 15000));
        int64_t c0 = status_committed(r.rt, "g-handoff", 0);
        printf("# task 0 took partition 0's offsets 0..%lld and delivered none; committed %lld "
               "while partitions 1..3 passed %lld\n",
               (long long)(took0 - 1), (long long)c0, (long long)beyond);
        assert_true(c0 <= 0);
        run_finish(&r, 0);
}

/*
 * The same, but the flush's failure fails task 0 (its records are gone with it): the new
 * owner reads partition 0 again from what was committed, so the records task 0 took and
 * never delivered arrive (from task 2) after all. Before, the new owner went on from
 * where task 0 had taken to, and the commit, no longer held by the failed task, passed
 * records nobody had delivered.
 */
static void test_an_old_owner_failing_in_the_hand_over_is_read_again(void **state)
{
        run_t r;
        (void)state;

        apply_failing_flush(&r, KP_SINK_FATAL);
        int64_t took0 = task0_took();
        assert_true(took0 > 0);
        wait_moved(50);
        /* what task 0 lost was put again, from the first of it */
        pthread_mutex_lock(&fk_lock);
        int again = fk.count[0][0] == 2 && fk.count[0][took0 - 1] == 2;
        pthread_mutex_unlock(&fk_lock);
        printf("# task 0 failed holding partition 0's offsets 0..%lld: put again %s\n",
               (long long)(took0 - 1), again ? "yes" : "no");
        assert_true(again);
        run_finish(&r, took0);
}

int main(void)
{
        if (kp_sink_kind_add(&fk_ops))
                return 1;
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_a_slow_hand_over_does_not_stall_the_partitions_that_stay),
                cmocka_unit_test(
                        test_a_hand_over_within_the_process_does_not_wait_for_the_coordinator),
                cmocka_unit_test(
                        test_a_hand_over_whose_flush_fails_commits_nothing_the_old_owner_holds),
                cmocka_unit_test(test_an_old_owner_failing_in_the_hand_over_is_read_again),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
