/* test_runtime.c — running groups against in-process mock clusters: delivery, offsets, plan
 * changes, faults. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "kafka/client_conf.h"
#include "base/err.h"
#include "runtime/runtime.h"
#include "sinks/sink.h"
#include "base/util.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* TSan builds: librdkafka's C11 threads and locks are routed to pthreads by the
 * definitions at the end of server/kafka/kafka.c, which every binary linking the runtime gets. */

/* ---- a mock cluster and a producer of keyed, sequence-numbered messages ---- */

typedef struct mock {
        rd_kafka_t *rk; /* hosts the mock cluster */
        rd_kafka_mock_cluster_t *mc;
        char bootstrap[256];
} mock_t;

static void mock_start(mock_t *m, int brokers)
{
        char err[256];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
        m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
        assert_non_null(m->rk);
        m->mc = rd_kafka_mock_cluster_new(m->rk, brokers);
        assert_non_null(m->mc);
        snprintf(m->bootstrap, sizeof(m->bootstrap), "%s", rd_kafka_mock_cluster_bootstraps(m->mc));
}

static void mock_topic(mock_t *m, const char *topic, int partitions)
{
        assert_int_equal(rd_kafka_mock_topic_create(m->mc, topic, partitions, 1), 0);
}

static void mock_stop(mock_t *m)
{
        rd_kafka_mock_cluster_destroy(m->mc);
        rd_kafka_destroy(m->rk);
}

static atomic_int dr_failed;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
        (void)rk, (void)opaque;
        if (rkm->err)
                atomic_fetch_add(&dr_failed, 1);
}

static rd_kafka_t *producer_new(const char *bootstrap)
{
        char err[256];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof(err));
        rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof(err));
        rd_kafka_conf_set(conf, "message.timeout.ms", "60000", err, sizeof(err));
        rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
        rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
        assert_non_null(rk);
        return rk;
}

/* Produces @p n messages per partition, key "p<part>-<seq>", value "<seq>", seq from @p from. */
static void produce(rd_kafka_t *rk, const char *topic, int partitions, int from, int n)
{
        int p, i;
        for (i = from; i < from + n; i++) {
                for (p = 0; p < partitions; p++) {
                        char key[32], val[32];
                        snprintf(key, sizeof(key), "p%d-%d", p, i);
                        snprintf(val, sizeof(val), "%d", i);
                        while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
                                                 RD_KAFKA_V_PARTITION(p),
                                                 RD_KAFKA_V_KEY(key, strlen(key)),
                                                 RD_KAFKA_V_VALUE(val, strlen(val)),
                                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                                 RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                                rd_kafka_poll(rk, 10);
                }
                rd_kafka_poll(rk, 0);
        }
}

static void produce_all(const char *bootstrap, const char *topic, int partitions, int from, int n)
{
        rd_kafka_t *rk = producer_new(bootstrap);
        produce(rk, topic, partitions, from, n);
        assert_int_equal(rd_kafka_flush(rk, 30000), 0);
        rd_kafka_destroy(rk);
        assert_int_equal(atomic_load(&dr_failed), 0);
}

/* ---- documents ---- */

static json_t *clusters_doc(const char *name, const char *bootstrap)
{
        return json_pack("{s:{s:s, s:{s:s}}}", name, "bootstrap_servers", bootstrap, "config",
                         "log_level", "0");
}

/* A plan where partition p of @p topic goes to task p % tasks. */
static json_t *plan_doc(int version, const char *cluster, const char *topic, int partitions,
                        int tasks)
{
        json_t *plan =
                json_pack("{s:i, s:i, s:[]}", "version", version, "parallelism", tasks, "tasks");
        json_t *ta = json_object_get(plan, "tasks");
        int t, p;
        for (t = 0; t < tasks; t++)
                json_array_append_new(ta, json_pack("{s:i, s:[]}", "task", t, "partitions"));
        for (p = 0; p < partitions; p++)
                json_array_append_new(
                        json_object_get(json_array_get(ta, (size_t)(p % tasks)), "partitions"),
                        json_pack("{s:s, s:s, s:i}", "cluster", cluster, "topic", topic,
                                  "partition", p));
        return plan;
}

/* The file sinks of these tests live in /tmp/kp-*: /tmp is their sink directory. */
#define SINK_ROOT "/tmp"

/* A sink file whose every append fails (EFBIG), for the tests of tasks that cannot write:
 * the process may not grow files past FULL_AT (SIGXFSZ ignored, set in main), and this one
 * is already that long (sparse) ending in a newline, so opening it keeps it whole. File
 * sinks follow no symlink, so /dev/full can no longer stand in. */
#define FULL_AT (1LL << 30)
static void plant_full_file(const char *path)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0640);
        assert_true(fd >= 0);
        assert_int_equal(pwrite(fd, "\n", 1, FULL_AT - 1), 1);
        close(fd);
}

static json_t *group_doc(const char *name, const char *dir, int rebalance, const char *start)
{
        json_t *g = json_pack("{s:s, s:b, s:s}", "name", name, "rebalance", rebalance,
                              "start_offset", start);
        json_object_set_new(
                g, "sink",
                dir ? json_pack("{s:s, s:s}", "type", "file", "path", dir + strlen(SINK_ROOT "/"))
                    : json_pack("{s:s}", "type", "discard"));
        return g;
}

/* ---- reading what the file sink wrote ---- */

#define MAXP 64
#define MAXO 20000

/* For each (partition, offset): how often it was delivered and by which task first. */
typedef struct seen {
        int count[MAXP][MAXO];
        int task[MAXP][MAXO];
        int bad_value; /* value did not match the key's sequence number */
} seen_t;

static seen_t *read_sink_dir(const char *dir, const char *topic)
{
        seen_t *s = calloc(1, sizeof(*s));
        DIR *d = opendir(dir);
        struct dirent *de;
        char path[512], line[1024];
        assert_non_null(d);
        while ((de = readdir(d))) {
                int task;
                FILE *f;
                if (sscanf(de->d_name, "task-%d.jsonl", &task) != 1)
                        continue;
                snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
                f = fopen(path, "r");
                assert_non_null(f);
                while (fgets(line, sizeof(line), f)) {
                        json_t *o = json_loads(line, 0, NULL);
                        int p, off;
                        assert_non_null(o);
                        if (strcmp(json_string_value(json_object_get(o, "topic")), topic)) {
                                json_decref(o);
                                continue;
                        }
                        p = (int)json_integer_value(json_object_get(o, "partition"));
                        off = (int)json_integer_value(json_object_get(o, "offset"));
                        assert_true(p < MAXP && off < MAXO);
                        if (s->count[p][off]++ == 0)
                                s->task[p][off] = task;
                        /* value is base64 of the decimal sequence number == offset here */
                        if (!json_is_string(json_object_get(o, "value")))
                                s->bad_value++;
                        json_decref(o);
                }
                fclose(f);
        }
        closedir(d);
        return s;
}

/* The status row of @p partition in status @p st (borrowed), or NULL. */
static json_t *status_part(const json_t *st, int partition)
{
        size_t k;
        json_t *p;
        json_array_foreach(json_object_get(st, "partitions"), k, p)
        {
                if (json_integer_value(json_object_get(p, "partition")) == partition)
                        return p;
        }
        return NULL;
}

/* Waits until the group's status counts at least @p n messages. */
static int64_t wait_messages(kp_runtime_t *rt, const char *group, int64_t n, int timeout_ms)
{
        int64_t deadline = kp_time_mono_ms() + timeout_ms, got = -1;
        while (kp_time_mono_ms() < deadline) {
                json_t *st = kp_runtime_group_status(rt, group);
                assert_non_null(st);
                got = json_integer_value(
                        json_object_get(json_object_get(st, "totals"), "messages"));
                json_decref(st);
                if (got >= n)
                        return got;
                usleep(50 * 1000);
        }
        return got;
}

/* Waits until @p n partitions of the group report a high watermark: their consumer has
 * resolved its start offset and fetches. A group starting at "latest" resolves the end
 * offset asynchronously after kp_runtime_group_start returns; what is produced before
 * that is behind its start. @returns how many partitions reported one. */
static int wait_fetching(kp_runtime_t *rt, const char *group, int n, int timeout_ms)
{
        int64_t deadline = kp_time_mono_ms() + timeout_ms;
        int got = 0;
        while (kp_time_mono_ms() < deadline) {
                json_t *st = kp_runtime_group_status(rt, group), *p;
                size_t k;
                assert_non_null(st);
                got = 0;
                json_array_foreach(json_object_get(st, "partitions"), k, p)
                {
                        if (json_is_integer(json_object_get(p, "high_watermark")))
                                got++;
                }
                json_decref(st);
                if (got >= n)
                        return got;
                usleep(50 * 1000);
        }
        return got;
}

/* Reads the group's committed offsets from the cluster with a separate client. */
static void committed_offsets(const char *bootstrap, const char *group, const char *topic,
                              int partitions, int64_t *out)
{
        char err[256];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(partitions);
        rd_kafka_t *rk;
        int p;
        rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof(err));
        rd_kafka_conf_set(conf, "group.id", group, err, sizeof(err));
        rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
        rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
        assert_non_null(rk);
        for (p = 0; p < partitions; p++)
                rd_kafka_topic_partition_list_add(l, topic, p);
        assert_int_equal(rd_kafka_committed(rk, l, 10000), 0);
        for (p = 0; p < partitions; p++)
                out[p] = l->elems[p].offset;
        rd_kafka_topic_partition_list_destroy(l);
        rd_kafka_destroy(rk);
}

static void tmpdir(char *buf, size_t size)
{
        snprintf(buf, size, "/tmp/kp-rt-XXXXXX");
        assert_non_null(mkdtemp(buf));
}

/* ---- tests ---- */

static void test_every_message_reaches_file_sink_and_stop_commits_end(void **state)
{
        mock_t m;
        char dir[64], err[256];
        kp_runtime_t *rt = kp_runtime_new(err, sizeof(err));
        json_t *cls, *plan, *grp, *st;
        seen_t *s;
        int64_t committed[6];
        int p, o;
        (void)state;

        mock_start(&m, 1);
        mock_topic(&m, "orders", 6);
        tmpdir(dir, sizeof(dir));
        produce_all(m.bootstrap, "orders", 6, 0, 200);
        cls = clusters_doc("a", m.bootstrap);
        plan = plan_doc(1, "a", "orders", 6, 3);
        grp = group_doc("g1", dir, 0, "earliest");
        assert_int_equal(kp_runtime_group_start(rt, grp, plan, cls, err, sizeof(err)), 0);
        /* Starting it again is a conflict. */
        assert_int_equal(kp_runtime_group_start(rt, grp, plan, cls, err, sizeof(err)),
                         KP_ERR_CONFLICT);
        assert_int_equal(kp_runtime_group_state(rt, "g1", NULL, 0), KP_GROUP_RUNNING);
        assert_int_equal(wait_messages(rt, "g1", 1200, 20000), 1200);

        st = kp_runtime_group_status(rt, "g1");
        assert_string_equal(json_string_value(json_object_get(st, "state")), "running");
        assert_int_equal(json_integer_value(json_object_get(st, "plan_version")), 1);
        assert_int_equal(json_array_size(json_object_get(st, "tasks")), 3);
        assert_int_equal(json_array_size(json_object_get(st, "partitions")), 6);
        for (p = 0; p < 3; p++) {
                json_t *t = json_array_get(json_object_get(st, "tasks"), (size_t)p);
                assert_int_equal(json_integer_value(json_object_get(t, "messages")), 400);
                assert_int_equal(json_integer_value(json_object_get(t, "partitions")), 2);
        }
        {
                json_t *pp = json_array_get(json_object_get(st, "partitions"), 0);
                assert_int_equal(json_integer_value(json_object_get(pp, "position")), 200);
                assert_int_equal(json_integer_value(json_object_get(pp, "task")), 0);
        }
        json_decref(st);

        assert_int_equal(kp_runtime_group_stop(rt, "g1", 10000, err, sizeof(err)), 0);
        assert_int_equal(kp_runtime_group_state(rt, "g1", NULL, 0), KP_GROUP_STOPPED);
        assert_null(kp_runtime_group_status(rt, "g1"));
        assert_int_equal(kp_runtime_group_stop(rt, "g1", 1000, err, sizeof(err)), KP_ERR_NOT_FOUND);

        s = read_sink_dir(dir, "orders");
        for (p = 0; p < 6; p++)
                for (o = 0; o < 200; o++) {
                        assert_int_equal(s->count[p][o], 1);
                        assert_int_equal(s->task[p][o], p % 3);
                }
        assert_int_equal(s->bad_value, 0);
        free(s);
        committed_offsets(m.bootstrap, "g1", "orders", 6, committed);
        for (p = 0; p < 6; p++)
                assert_int_equal(committed[p], 200);

        /* Restart from committed offsets: a clean stop means nothing is delivered again. */
        {
                char dir2[64];
                json_t *grp2;
                tmpdir(dir2, sizeof(dir2));
                grp2 = group_doc("g1", dir2, 0, "earliest");
                produce_all(m.bootstrap, "orders", 6, 200, 50);
                assert_int_equal(kp_runtime_group_start(rt, grp2, plan, cls, err, sizeof(err)), 0);
                assert_int_equal(wait_messages(rt, "g1", 300, 20000), 300);
                usleep(300 * 1000); /* anything re-delivered would show up now */
                assert_int_equal(wait_messages(rt, "g1", 0, 1000), 300);
                assert_int_equal(kp_runtime_group_stop(rt, "g1", 10000, err, sizeof(err)), 0);
                s = read_sink_dir(dir2, "orders");
                for (p = 0; p < 6; p++)
                        for (o = 0; o < 250; o++)
                                assert_int_equal(s->count[p][o], o >= 200);
                free(s);
                json_decref(grp2);
        }

        kp_runtime_destroy(rt);
        json_decref(cls);
        json_decref(plan);
        json_decref(grp);
        mock_stop(&m);
}

/* A producer thread that keeps writing while the plan changes. */
typedef struct prod_arg {
        const char *bootstrap;
        const char *topic;
        int partitions;
        int rounds;
        int pause_ms; /* between rounds of 10 messages per partition */
} prod_arg_t;

static void *producer_thread(void *arg)
{
        prod_arg_t *a = arg;
        rd_kafka_t *rk = producer_new(a->bootstrap);
        int i;
        for (i = 0; i < a->rounds; i++) {
                produce(rk, a->topic, a->partitions, i * 10, 10);
                rd_kafka_flush(rk, 10000);
                usleep((useconds_t)a->pause_ms * 1000);
        }
        rd_kafka_flush(rk, 30000);
        rd_kafka_destroy(rk);
        return NULL;
}

static void test_live_change_30_to_20_tasks_loses_nothing_and_never_shares_a_partition(void **state)
{
        mock_t m;
        char dir[64], err[256];
        kp_runtime_t *rt = kp_runtime_new(err, sizeof(err));
        json_t *cls, *plan30, *plan20, *grp, *st;
        pthread_t th;
        prod_arg_t pa;
        seen_t *s;
        int64_t committed[30];
        int p, o, total, moved = 0;
        (void)state;

        mock_start(&m, 3);
        mock_topic(&m, "events", 30);
        tmpdir(dir, sizeof(dir));
        cls = clusters_doc("a", m.bootstrap);
        plan30 = plan_doc(1, "a", "events", 30, 30);
        plan20 = plan_doc(2, "a", "events", 30, 20);
        grp = group_doc("g-live", dir, 0, "earliest");
        assert_int_equal(kp_runtime_group_start(rt, grp, plan30, cls, err, sizeof(err)), 0);

        pa = (prod_arg_t){m.bootstrap, "events", 30, 30, 100};
        assert_int_equal(pthread_create(&th, NULL, producer_thread, &pa), 0);
        /* Change the plan while messages flow. */
        assert_true(wait_messages(rt, "g-live", 1500, 20000) >= 1500);
        assert_int_equal(kp_runtime_group_apply(rt, "g-live", plan20, cls, err, sizeof(err)), 0);
        st = kp_runtime_group_status(rt, "g-live");
        assert_int_equal(json_array_size(json_object_get(st, "tasks")), 20);
        assert_int_equal(json_integer_value(json_object_get(st, "plan_version")), 2);
        json_decref(st);
        pthread_join(th, NULL);
        total = 30 * 30 * 10;
        assert_int_equal(wait_messages(rt, "g-live", total, 30000), total);
        assert_int_equal(kp_runtime_group_stop(rt, "g-live", 10000, err, sizeof(err)), 0);

        s = read_sink_dir(dir, "events");
        for (p = 0; p < 30; p++) {
                int phase = 0; /* 0: old owner, 1: new owner; never back */
                for (o = 0; o < 300; o++) {
                        int t = s->task[p][o];
                        /* Exactly once here: the hand-over is in memory, nothing re-read. */
                        assert_int_equal(s->count[p][o], 1);
                        if (t == p % 20 && t != p % 30)
                                phase = 1;
                        else
                                assert_int_equal(phase, 0);
                        assert_true(t == p % 30 || t == p % 20);
                }
                if (p % 20 != p % 30 && s->task[p][299] == p % 20)
                        moved++;
        }
        /* Partitions 20..29 changed owner after the change and kept flowing. */
        assert_int_equal(moved, 10);
        free(s);
        committed_offsets(m.bootstrap, "g-live", "events", 30, committed);
        for (p = 0; p < 30; p++)
                assert_int_equal(committed[p], 300);

        kp_runtime_destroy(rt);
        json_decref(cls);
        json_decref(plan30);
        json_decref(plan20);
        json_decref(grp);
        mock_stop(&m);
}

static void test_broker_down_and_up_loses_nothing(void **state)
{
        mock_t m;
        char dir[64], err[256];
        kp_runtime_t *rt = kp_runtime_new(err, sizeof(err));
        json_t *cls, *plan, *grp;
        pthread_t th;
        prod_arg_t pa;
        seen_t *s;
        int64_t committed[6];
        int p, o;
        (void)state;

        mock_start(&m, 3);
        mock_topic(&m, "pay", 6);
        tmpdir(dir, sizeof(dir));
        cls = clusters_doc("a", m.bootstrap);
        plan = plan_doc(1, "a", "pay", 6, 4);
        grp = group_doc("g-fault", dir, 0, "earliest");
        assert_int_equal(kp_runtime_group_start(rt, grp, plan, cls, err, sizeof(err)), 0);
        pa = (prod_arg_t){m.bootstrap, "pay", 6, 40, 50};
        assert_int_equal(pthread_create(&th, NULL, producer_thread, &pa), 0);
        assert_true(wait_messages(rt, "g-fault", 300, 20000) >= 300);
        assert_int_equal(rd_kafka_mock_broker_set_down(m.mc, 2), 0);
        usleep(1500 * 1000);
        assert_int_equal(rd_kafka_mock_broker_set_up(m.mc, 2), 0);
        pthread_join(th, NULL);
        assert_int_equal(wait_messages(rt, "g-fault", 6 * 400, 60000), 6 * 400);
        assert_int_equal(kp_runtime_group_stop(rt, "g-fault", 10000, err, sizeof(err)), 0);
        assert_int_equal(atomic_load(&dr_failed), 0);

        s = read_sink_dir(dir, "pay");
        for (p = 0; p < 6; p++)
                for (o = 0; o < 400; o++)
                        assert_true(s->count[p][o] >= 1);
        free(s);
        committed_offsets(m.bootstrap, "g-fault", "pay", 6, committed);
        for (p = 0; p < 6; p++)
                assert_int_equal(committed[p], 400);
        kp_runtime_destroy(rt);
        json_decref(cls);
        json_decref(plan);
        json_decref(grp);
        mock_stop(&m);
}

/* Entry @p i of the group's status "clusters" (a copy: the caller decrefs it). */
static json_t *cluster_status(kp_runtime_t *rt, const char *group, int i)
{
        json_t *st = kp_runtime_group_status(rt, group), *c;
        assert_non_null(st);
        c = json_deep_copy(json_array_get(json_object_get(st, "clusters"), (size_t)i));
        json_decref(st);
        assert_non_null(c);
        return c;
}

/* Waits until cluster @p i of the group's status is in @p state ("ok", "error"). */
static int wait_cluster_state(kp_runtime_t *rt, const char *group, int i, const char *state,
                              int timeout_ms)
{
        int64_t deadline = kp_time_mono_ms() + timeout_ms;
        while (kp_time_mono_ms() < deadline) {
                json_t *c = cluster_status(rt, group, i);
                int got = !strcmp(json_string_value(json_object_get(c, "state")), state);
                json_decref(c);
                if (got)
                        return 1;
                usleep(100 * 1000);
        }
        return 0;
}

/* Sum of the "committed" offsets in the group's status (unknown counts 0). */
static int64_t status_committed(kp_runtime_t *rt, const char *group)
{
        json_t *st = kp_runtime_group_status(rt, group), *p;
        int64_t sum = 0;
        size_t i;
        assert_non_null(st);
        json_array_foreach(json_object_get(st, "partitions"), i, p)
        {
                sum += json_integer_value(json_object_get(p, "committed"));
        }
        json_decref(st);
        return sum;
}

static int wait_committed(kp_runtime_t *rt, const char *group, int64_t n, int timeout_ms)
{
        int64_t deadline = kp_time_mono_ms() + timeout_ms;
        while (kp_time_mono_ms() < deadline) {
                if (status_committed(rt, group) == n)
                        return 1;
                usleep(100 * 1000);
        }
        return 0;
}

static void
test_commits_resume_and_the_cluster_error_clears_when_the_coordinator_returns(void **state)
{
        mock_t m;
        char dir[64], err[256];
        kp_runtime_t *rt = kp_runtime_new(err, sizeof(err));
        json_t *cls, *plan, *grp, *c;
        seen_t *s;
        int64_t committed[4], t0;
        int p, o;
        (void)state;

        /* Partitions led by brokers 1 and 2, the group's coordinator is broker 3: with
         * 3 down, messages still flow but nothing can be committed. */
        mock_start(&m, 3);
        mock_topic(&m, "co", 4);
        for (p = 0; p < 4; p++)
                assert_int_equal(rd_kafka_mock_partition_set_leader(m.mc, "co", p, 1 + p % 2), 0);
        assert_int_equal(rd_kafka_mock_coordinator_set(m.mc, "group", "g-coord", 3), 0);
        tmpdir(dir, sizeof(dir));
        produce_all(m.bootstrap, "co", 4, 0, 100);
        cls = clusters_doc("a", m.bootstrap);
        plan = plan_doc(1, "a", "co", 4, 2);
        grp = group_doc("g-coord", dir, 0, "earliest");
        assert_int_equal(kp_runtime_group_start(rt, grp, plan, cls, err, sizeof(err)), 0);
        assert_int_equal(wait_messages(rt, "g-coord", 400, 20000), 400);
        assert_true(wait_committed(rt, "g-coord", 400, 10000));
        assert_true(wait_cluster_state(rt, "g-coord", 0, "ok", 10000));

        assert_int_equal(rd_kafka_mock_broker_set_down(m.mc, 3), 0);
        produce_all(m.bootstrap, "co", 4, 100, 100);
        assert_int_equal(wait_messages(rt, "g-coord", 800, 20000), 800);
        assert_true(wait_cluster_state(rt, "g-coord", 0, "error", 15000));
        c = cluster_status(rt, "g-coord", 0);
        assert_true(strlen(json_string_value(json_object_get(c, "last_error"))) > 0);
        assert_true(json_is_string(json_object_get(c, "last_error_at")));
        json_decref(c);
        usleep(2500 * 1000); /* failed rounds keep their offsets pending */
        assert_int_equal(status_committed(rt, "g-coord"), 400);
        assert_true(wait_cluster_state(rt, "g-coord", 0, "error", 100));

        /* Back: the running group commits the rest by itself, and the error clears. */
        assert_int_equal(rd_kafka_mock_broker_set_up(m.mc, 3), 0);
        t0 = kp_time_mono_ms();
        assert_true(wait_committed(rt, "g-coord", 800, 30000));
        assert_true(wait_cluster_state(rt, "g-coord", 0, "ok", 10000));
        print_message("commits resumed %lld ms after the coordinator came back\n",
                      (long long)(kp_time_mono_ms() - t0));
        c = cluster_status(rt, "g-coord", 0);
        assert_true(json_is_null(json_object_get(c, "last_error")));
        assert_true(json_is_null(json_object_get(c, "last_error_at")));
        json_decref(c);
        committed_offsets(m.bootstrap, "g-coord", "co", 4, committed);
        for (p = 0; p < 4; p++)
                assert_int_equal(committed[p], 200);
        assert_int_equal(kp_runtime_group_state(rt, "g-coord", NULL, 0), KP_GROUP_RUNNING);

        assert_int_equal(kp_runtime_group_stop(rt, "g-coord", 10000, err, sizeof(err)), 0);
        s = read_sink_dir(dir, "co");
        for (p = 0; p < 4; p++)
                for (o = 0; o < 200; o++)
                        assert_int_equal(s->count[p][o], 1);
        free(s);
        kp_runtime_destroy(rt);
        json_decref(cls);
        json_decref(plan);
        json_decref(grp);
        mock_stop(&m);
}
/* The group coordinator answers NOT_COORDINATOR while it loads (a fresh broker's
 * __consumer_offsets, a moved coordinator): the start's committed-offset read must not
 * leave the partitions unread. Seen on real Kafka with librdkafka 2.14: one cluster of
 * three read nothing for 120 s after "committed offsets: Broker: Not coordinator". */
static void test_start_reads_everything_when_the_coordinator_is_not_ready_at_first(void **state)
{
        mock_t m;
        char dir[64], err[256];
        kp_runtime_t *rt = kp_runtime_new(err, sizeof(err));
        json_t *cls, *plan, *grp;
        (void)state;

        mock_start(&m, 1);
        mock_topic(&m, "nc", 4);
        tmpdir(dir, sizeof(dir));
        produce_all(m.bootstrap, "nc", 4, 0, 100);
        /* OffsetFetch is Kafka API key 9 */
        rd_kafka_mock_push_request_errors(
                m.mc, 9, 4, RD_KAFKA_RESP_ERR_NOT_COORDINATOR, RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
                RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS, RD_KAFKA_RESP_ERR_NOT_COORDINATOR);
        cls = clusters_doc("a", m.bootstrap);
        plan = plan_doc(1, "a", "nc", 4, 2);
        grp = group_doc("g-nc", dir, 0, "earliest");
        assert_int_equal(kp_runtime_group_start(rt, grp, plan, cls, err, sizeof(err)), 0);
        assert_int_equal(wait_messages(rt, "g-nc", 400, 20000), 400);
        assert_true(wait_committed(rt, "g-nc", 400, 10000));
        assert_int_equal(kp_runtime_group_stop(rt, "g-nc", 10000, err, sizeof(err)), 0);
        json_decref(grp);
        json_decref(plan);
        json_decref(cls);
        kp_runtime_destroy(rt);
        mock_stop(&m);
}

/*
 * A group read from earliest delivers its first message soon after it starts. Assigned
 * before the lane's consumer knows the partitions' leaders, librdkafka parks the offset
 * lookup (ListOffsets) on a 500 ms timer that the leaders' arrival does not cut short: every
 * fresh group's first message came more than half a second after its start (a real broker:
 * 580 ms after POST start; 90 ms once the lane asks for the leaders before the assign).
 * Here, with the mock's Metadata answers 100 ms late, the first message must come inside
 * those 500 ms (it came after 5 ms; after 503 ms without the leaders asked for first).
 */
static void test_a_fresh_group_reads_without_waiting_out_a_timer(void **state)
{
        mock_t m;
        char dir[64], err[256];
        kp_runtime_t *rt = kp_runtime_new(err, sizeof(err));
        json_t *cls, *plan, *grp;
        int64_t t0, first = -1;
        (void)state;

        mock_start(&m, 1);
        mock_topic(&m, "fl", 4);
        tmpdir(dir, sizeof(dir));
        produce_all(m.bootstrap, "fl", 4, 0, 100);
        cls = clusters_doc("a", m.bootstrap);
        plan = plan_doc(1, "a", "fl", 4, 2);
        grp = group_doc("g-fl", dir, 0, "earliest");
        /* Metadata answered 100 ms late, as a real broker's can be: the assign would come
         * before the leaders (the mock otherwise answers first). Kafka API key 3. */
        for (int i = 0; i < 10; i++)
                rd_kafka_mock_broker_push_request_error_rtts(m.mc, 1, 3, 1,
                                                             RD_KAFKA_RESP_ERR_NO_ERROR, 100);
        t0 = kp_time_mono_ms();
        assert_int_equal(kp_runtime_group_start(rt, grp, plan, cls, err, sizeof(err)), 0);
        while (first < 0 && kp_time_mono_ms() < t0 + 20000) {
                json_t *st = kp_runtime_group_status(rt, "g-fl");
                assert_non_null(st);
                if (json_integer_value(json_object_get(json_object_get(st, "totals"), "messages")) >
                    0)
                        first = kp_time_mono_ms() - t0;
                json_decref(st);
                usleep(2 * 1000);
        }
        printf("# the first message %lld ms after the start\n", (long long)first);
        assert_true(first >= 0);
        assert_true(first < 450);
        assert_int_equal(wait_messages(rt, "g-fl", 400, 20000), 400);
        assert_int_equal(kp_runtime_group_stop(rt, "g-fl", 10000, err, sizeof(err)), 0);
        json_decref(grp);
        json_decref(plan);
        json_decref(cls);
        kp_runtime_destroy(rt);
        mock_stop(&m);
}

static void test_an_idle_cluster_error_clears_once_the_cluster_answers_again(void **state)
{
        mock_t m;
        char err[256];
        kp_runtime_t *rt = kp_runtime_new(err, sizeof(err));
        json_t *cls, *plan, *grp;
        (void)state;

        /* Nothing to read and nothing ever committed: no commit can show the way back,
         * only the probe. */
        mock_start(&m, 1);
        mock_topic(&m, "quiet", 2);
        cls = clusters_doc("a", m.bootstrap);
        plan = plan_doc(1, "a", "quiet", 2, 2);
        grp = group_doc("g-quiet", NULL, 0, "latest");
        assert_int_equal(kp_runtime_group_start(rt, grp, plan, cls, err, sizeof(err)), 0);
        usleep(1500 * 1000);
        assert_true(wait_cluster_state(rt, "g-quiet", 0, "ok", 100));
        assert_int_equal(rd_kafka_mock_broker_set_down(m.mc, 1), 0);
        assert_true(wait_cluster_state(rt, "g-quiet", 0, "error", 15000));
        usleep(2000 * 1000);
        assert_true(wait_cluster_state(rt, "g-quiet", 0, "error", 100));
        assert_int_equal(rd_kafka_mock_broker_set_up(m.mc, 1), 0);
        assert_true(wait_cluster_state(rt, "g-quiet", 0, "ok", 30000));
        assert_int_equal(status_committed(rt, "g-quiet"), 0); /* still nothing committed */
        assert_int_equal(kp_runtime_group_stop(rt, "g-quiet", 10000, err, sizeof(err)), 0);
        kp_runtime_destroy(rt);
        json_decref(cls);
        json_decref(plan);
        json_decref(grp);
        mock_stop(&m);
}

static void test_rebalance_keeps_40_tasks_of_30_partitions_within_20_percent(void **state)
{
        mock_t m;
        char err[256];
        kp_runtime_t *rt = kp_runtime_new(err, sizeof(err));
        json_t *cls, *plan, *grp, *st, *t;
        int64_t committed[30], min = -1, max = 0;
        size_t i;
        int p;
        (void)state;

        mock_start(&m, 1);
        mock_topic(&m, "clicks", 30);
        produce_all(m.bootstrap, "clicks", 30, 0, 100);
        cls = clusters_doc("a", m.bootstrap);
        plan = plan_doc(1, "a", "clicks", 30, 40);
        grp = group_doc("g-fan", NULL, 1, "earliest");
        assert_int_equal(kp_runtime_group_start(rt, grp, plan, cls, err, sizeof(err)), 0);
        assert_int_equal(wait_messages(rt, "g-fan", 3000, 20000), 3000);
        st = kp_runtime_group_status(rt, "g-fan");
        assert_int_equal(json_array_size(json_object_get(st, "tasks")), 40);
        json_array_foreach(json_object_get(st, "tasks"), i, t)
        {
                int64_t n = json_integer_value(json_object_get(t, "messages"));
                assert_string_equal(json_string_value(json_object_get(t, "state")), "running");
                if (min < 0 || n < min)
                        min = n;
                if (n > max)
                        max = n;
        }
        json_decref(st);
        /* mean 75: everyone works, within 20% of each other */
        assert_true(min > 0);
        assert_true((double)max <= 1.2 * (double)min);
        assert_int_equal(kp_runtime_group_stop(rt, "g-fan", 10000, err, sizeof(err)), 0);
        committed_offsets(m.bootstrap, "g-fan", "clicks", 30, committed);
        for (p = 0; p < 30; p++)
                assert_int_equal(committed[p], 100);
        kp_runtime_destroy(rt);
        json_decref(cls);
        json_decref(plan);
        json_decref(grp);
        mock_stop(&m);
}

static void test_latest_start_skips_old_but_discovered_partitions_start_at_earliest(void **state)
{
        mock_t m;
        char dir[64], err[256];
        kp_runtime_t *rt = kp_runtime_new(err, sizeof(err));
        json_t *cls, *plan, *plan2, *grp, *rates;
        seen_t *s;
        int o;
        (void)state;

        mock_start(&m, 1);
        mock_topic(&m, "old", 2);
        tmpdir(dir, sizeof(dir));
        produce_all(m.bootstrap, "old", 2, 0, 30); /* before start: skipped (latest) */
        cls = clusters_doc("a", m.bootstrap);
        plan = plan_doc(1, "a", "old", 2, 2);
        grp = group_doc("g-disc", dir, 0, "latest");
        assert_int_equal(kp_runtime_group_start(rt, grp, plan, cls, err, sizeof(err)), 0);
        /* "latest" is the end when the consumer resolves it, after start returns (raced
         * and lost once on a loaded machine with librdkafka 2.14): produce after that. */
        assert_int_equal(wait_fetching(rt, "g-disc", 2, 20000), 2);
        produce_all(m.bootstrap, "old", 2, 30, 10);
        assert_int_equal(wait_messages(rt, "g-disc", 20, 20000), 20);

        /* A topic appears and gets data before the plan names it. */
        mock_topic(&m, "fresh", 2);
        produce_all(m.bootstrap, "fresh", 2, 0, 25);
        plan2 = plan_doc(2, "a", "old", 2, 2);
        json_array_append_new(
                json_object_get(json_array_get(json_object_get(plan2, "tasks"), 0), "partitions"),
                json_pack("{s:s, s:s, s:i}", "cluster", "a", "topic", "fresh", "partition", 0));
        json_array_append_new(
                json_object_get(json_array_get(json_object_get(plan2, "tasks"), 1), "partitions"),
                json_pack("{s:s, s:s, s:i}", "cluster", "a", "topic", "fresh", "partition", 1));
        assert_int_equal(kp_runtime_group_apply(rt, "g-disc", plan2, cls, err, sizeof(err)), 0);
        assert_int_equal(wait_messages(rt, "g-disc", 70, 20000), 70);
        assert_int_equal(kp_runtime_group_rates(rt, "g-disc", &rates), 0);
        assert_int_equal(json_array_size(rates), 4);
        json_decref(rates);
        assert_int_equal(kp_runtime_group_apply(rt, "nope", plan2, cls, err, sizeof(err)),
                         KP_ERR_NOT_FOUND);
        assert_int_equal(kp_runtime_group_stop(rt, "g-disc", 10000, err, sizeof(err)), 0);

        s = read_sink_dir(dir, "old");
        for (o = 0; o < 40; o++)
                assert_int_equal(s->count[0][o], o >= 30);
        free(s);
        s = read_sink_dir(dir, "fresh");
        for (o = 0; o < 25; o++)
                assert_int_equal(s->count[1][o], 1);
        free(s);
        kp_runtime_destroy(rt);
        json_decref(cls);
        json_decref(plan);
        json_decref(plan2);
        json_decref(grp);
        mock_stop(&m);
}

static void test_metrics_have_help_type_and_per_task_and_lag_lines(void **state)
{
        mock_t m;
        char err[256];
        kp_runtime_t *rt = kp_runtime_new(err, sizeof(err));
        json_t *cls, *plan, *grp;
        kp_buf_t b;
        (void)state;

        mock_start(&m, 1);
        mock_topic(&m, "mt", 2);
        produce_all(m.bootstrap, "mt", 2, 0, 10);
        cls = clusters_doc("a", m.bootstrap);
        plan = plan_doc(7, "a", "mt", 2, 3);
        grp = group_doc("g-met", NULL, 0, "earliest");
        assert_int_equal(kp_runtime_group_start(rt, grp, plan, cls, err, sizeof(err)), 0);
        assert_int_equal(wait_messages(rt, "g-met", 20, 20000), 20);
        kp_buf_init(&b);
        kp_runtime_metrics_write(rt, &b);
        assert_non_null(strstr(b.data, "# TYPE kplane_task_messages_total counter"));
        assert_non_null(strstr(b.data, "kplane_group_state{group=\"g-met\",state=\"running\"} 1"));
        assert_non_null(
                strstr(b.data, "kplane_task_messages_total{group=\"g-met\",task=\"0\"} 10"));
        assert_non_null(strstr(b.data, "kplane_task_messages_total{group=\"g-met\",task=\"2\"} 0"));
        assert_non_null(strstr(b.data, "kplane_task_bytes_total{group=\"g-met\",task=\"1\"}"));
        assert_non_null(strstr(b.data, "kplane_consumergroup_lag{group=\"g-met\",cluster=\"a\","
                                       "topic=\"mt\",partition=\"1\"} 0"));
        assert_non_null(strstr(b.data, "kplane_partition_high_watermark{group=\"g-met\","
                                       "cluster=\"a\",topic=\"mt\",partition=\"0\"} 10"));
        assert_non_null(strstr(b.data, "kplane_cluster_up{group=\"g-met\",cluster=\"a\"} 1"));
        assert_non_null(strstr(b.data, "# TYPE kplane_consumergroup_committed_offset gauge"));
        /* the committed offsets show once the next interval commit has run */
        for (int i = 0; i < 50; i++) {
                b.len = 0;
                kp_runtime_metrics_write(rt, &b);
                if (strstr(b.data, "kplane_consumergroup_committed_offset{group=\"g-met\","
                                   "cluster=\"a\",topic=\"mt\",partition=\"1\"} 10"))
                        break;
                usleep(100 * 1000);
        }
        assert_non_null(strstr(b.data, "kplane_consumergroup_committed_offset{group=\"g-met\","
                                       "cluster=\"a\",topic=\"mt\",partition=\"1\"} 10"));
        kp_buf_cleanup(&b);
        /* An idle task says so. */
        {
                json_t *st = kp_runtime_group_status(rt, "g-met");
                json_t *t2 = json_array_get(json_object_get(st, "tasks"), 2);
                assert_string_equal(json_string_value(json_object_get(t2, "state")), "idle");
                json_decref(st);
        }
        kp_runtime_destroy(rt); /* stops the running group */
        {
                int64_t committed[2];
                committed_offsets(m.bootstrap, "g-met", "mt", 2, committed);
                assert_int_equal(committed[0], 10);
                assert_int_equal(committed[1], 10);
        }
        json_decref(cls);
        json_decref(plan);
        json_decref(grp);
        mock_stop(&m);
}

/* A task that cannot write (its sink file is full): its partition is never committed
 * (at least once), its lag_state is stalled while the neighbour read to the end is ok,
 * and a plan moving it to a working task reads it again from the committed offset. */
static void test_a_partition_whose_task_cannot_write_is_stalled_uncommitted_and_reread(void **state)
{
        mock_t m;
        char err[256], dir[] = "/tmp/kp-stall-XXXXXX", link_path[512];
        kp_runtime_t *rt = kp_runtime_new(err, sizeof(err));
        json_t *cls, *plan, *grp, *st = NULL;
        const char *s0 = NULL, *s1 = NULL, *sg = NULL;
        (void)state;

        assert_non_null(mkdtemp(dir));
        snprintf(link_path, sizeof(link_path), "%s/task-0001.jsonl", dir);
        plant_full_file(link_path);
        mock_start(&m, 1);
        mock_topic(&m, "stall", 2);
        produce_all(m.bootstrap, "stall", 2, 0, 50);
        cls = clusters_doc("a", m.bootstrap);
        plan = plan_doc(1, "a", "stall", 2, 2); /* p0 -> task 0, p1 -> task 1 (full) */
        grp = group_doc("g-stall", dir, 0, "earliest");
        assert_int_equal(kp_runtime_group_start(rt, grp, plan, cls, err, sizeof(err)), 0);
        /* a window of KP_LAG_MIN_SAMPLES one-second samples at least */
        for (int i = 0; i < 150; i++) {
                json_decref(st);
                st = kp_runtime_group_status(rt, "g-stall");
                s0 = json_string_value(json_object_get(status_part(st, 0), "lag_state"));
                s1 = json_string_value(json_object_get(status_part(st, 1), "lag_state"));
                sg = json_string_value(json_object_get(st, "lag_state"));
                if (s0 && s1 && !strcmp(s0, "ok") && !strcmp(s1, "stalled"))
                        break;
                usleep(100 * 1000);
        }
        assert_non_null(s0);
        assert_non_null(s1);
        assert_string_equal(s0, "ok");
        assert_string_equal(s1, "stalled");
        assert_string_equal(sg, "stalled");
        /* and the task that cannot write says why */
        json_t *t1 = json_array_get(json_object_get(st, "tasks"), 1);
        assert_string_equal(json_string_value(json_object_get(t1, "state")), "failed");
        kp_buf_t b;
        kp_buf_init(&b);
        kp_runtime_metrics_write(rt, &b);
        assert_non_null(strstr(b.data, "kplane_consumergroup_partitions{group=\"g-stall\","
                                       "lag_state=\"stalled\"} 1"));
        assert_non_null(strstr(b.data, "kplane_consumergroup_partitions{group=\"g-stall\","
                                       "lag_state=\"ok\"} 1"));
        kp_buf_cleanup(&b);
        /* At least once: the failed task took p1's messages into a buffer it could never
         * write, so p1 was never committed (it was, before the fix: data loss). */
        json_t *p1 = status_part(st, 1);
        assert_non_null(p1);
        assert_true(json_is_null(json_object_get(p1, "committed")));
        json_decref(st);

        /* Moving p1 to a working task reads it again from its committed offset (here the
         * start), not from where the failed task's buffer ended. */
        json_t *plan2 = plan_doc(2, "a", "stall", 2, 1);
        assert_int_equal(kp_runtime_group_apply(rt, "g-stall", plan2, cls, err, sizeof(err)), 0);
        int64_t c1 = -1;
        for (int i = 0; i < 150 && c1 != 50; i++) {
                st = kp_runtime_group_status(rt, "g-stall");
                json_t *c = json_object_get(status_part(st, 1), "committed");
                if (json_is_integer(c))
                        c1 = json_integer_value(c);
                json_decref(st);
                usleep(100 * 1000);
        }
        assert_int_equal(c1, 50);
        kp_runtime_destroy(rt);
        {
                int64_t committed[2];
                committed_offsets(m.bootstrap, "g-stall", "stall", 2, committed);
                assert_int_equal(committed[0], 50);
                assert_int_equal(committed[1], 50);
        }
        unlink(link_path); /* a gigabyte of zeros: not a file to read */
        seen_t *seen = read_sink_dir(dir, "stall");
        for (int o = 0; o < 50; o++) {
                assert_int_equal(seen->count[0][o], 1);
                assert_int_equal(seen->count[1][o], 1);
                assert_int_equal(seen->task[1][o], 0);
        }
        free(seen);
        snprintf(link_path, sizeof(link_path), "%s/task-0000.jsonl", dir);
        unlink(link_path);
        rmdir(dir);
        json_decref(cls);
        json_decref(plan);
        json_decref(plan2);
        json_decref(grp);
        mock_stop(&m);
}

/* Rebalance fan-out (4 tasks, 2 partitions) with one task that cannot write: once it has
 * failed, every later record goes to a task that works (none skipped), nothing is
 * committed while the failed task may hold unwritten records, and a restart with the sink
 * fixed delivers every message. */
static void test_fan_out_deals_around_a_failed_task_and_loses_nothing(void **state)
{
        mock_t m;
        char err[256], dir[] = "/tmp/kp-fan-XXXXXX", link_path[512];
        kp_runtime_t *rt = kp_runtime_new(err, sizeof(err));
        json_t *cls, *plan, *grp;
        (void)state;

        assert_non_null(mkdtemp(dir));
        snprintf(link_path, sizeof(link_path), "%s/task-0001.jsonl", dir);
        plant_full_file(link_path);
        mock_start(&m, 1);
        mock_topic(&m, "fan", 2);
        produce_all(m.bootstrap, "fan", 2, 0, 100);
        cls = clusters_doc("a", m.bootstrap);
        plan = plan_doc(1, "a", "fan", 2, 4);
        grp = group_doc("g-fan", dir, 1, "earliest");
        assert_int_equal(kp_runtime_group_start(rt, grp, plan, cls, err, sizeof(err)), 0);
        /* task 1 fails at its first flush (a commit round, about a second in) */
        int failed = 0;
        for (int i = 0; i < 100 && !failed; i++) {
                json_t *st = kp_runtime_group_status(rt, "g-fan");
                json_t *t1 = json_array_get(json_object_get(st, "tasks"), 1);
                failed = !strcmp(json_string_value(json_object_get(t1, "state")), "failed");
                json_decref(st);
                usleep(100 * 1000);
        }
        assert_true(failed);
        produce_all(m.bootstrap, "fan", 2, 100, 100);
        assert_true(wait_messages(rt, "g-fan", 400, 20000) >= 300);
        usleep(1500 * 1000); /* a commit round or two */
        {
                json_t *st = kp_runtime_group_status(rt, "g-fan");
                json_t *parts = json_object_get(st, "partitions");
                for (size_t k = 0; k < json_array_size(parts); k++)
                        assert_true(json_is_null(
                                json_object_get(json_array_get(parts, k), "committed")));
                json_decref(st);
        }
        kp_runtime_destroy(rt);
        unlink(link_path);
        seen_t *seen = read_sink_dir(dir, "fan");
        /* everything produced after the failure reached a working task */
        for (int p = 0; p < 2; p++)
                for (int o = 100; o < 200; o++) {
                        assert_int_equal(seen->count[p][o], 1);
                        assert_true(seen->task[p][o] != 1);
                }
        free(seen);
        {
                int64_t committed[2];
                committed_offsets(m.bootstrap, "g-fan", "fan", 2, committed);
                assert_true(committed[0] < 0 && committed[1] < 0);
        }
        /* the sink works again: a new run reads everything from the start */
        rt = kp_runtime_new(err, sizeof(err));
        assert_int_equal(kp_runtime_group_start(rt, grp, plan, cls, err, sizeof(err)), 0);
        assert_true(wait_messages(rt, "g-fan", 400, 20000) >= 400);
        kp_runtime_destroy(rt);
        seen = read_sink_dir(dir, "fan");
        for (int p = 0; p < 2; p++)
                for (int o = 0; o < 200; o++)
                        assert_true(seen->count[p][o] >= 1);
        free(seen);
        for (int t = 0; t < 4; t++) {
                snprintf(link_path, sizeof(link_path), "%s/task-%04d.jsonl", dir, t);
                unlink(link_path);
        }
        rmdir(dir);
        json_decref(cls);
        json_decref(plan);
        json_decref(grp);
        mock_stop(&m);
}

/* KPLANE_MAX_TASKS: a start or apply past the process's cap is refused naming it, nothing
 * starts or changes, and what stopped groups held is free again. */
static void test_task_cap_refuses_a_start_or_apply_past_it_and_starts_nothing(void **state)
{
        mock_t m;
        char err[256];
        kp_runtime_t *rt = kp_runtime_new(err, sizeof(err));
        (void)state;
        kp_runtime_set_max_tasks(rt, 5);
        mock_start(&m, 1);
        mock_topic(&m, "cap", 2);
        json_t *cls = clusters_doc("a", m.bootstrap);
        json_t *six = plan_doc(1, "a", "cap", 2, 6), *three = plan_doc(1, "a", "cap", 2, 3);
        json_t *two = plan_doc(1, "a", "cap", 2, 2), *four = plan_doc(2, "a", "cap", 2, 4);
        json_t *one = plan_doc(2, "a", "cap", 2, 1);
        json_t *g1 = group_doc("g-cap1", NULL, 0, "earliest");
        json_t *g2 = group_doc("g-cap2", NULL, 0, "earliest");

        assert_int_equal(kp_runtime_group_start(rt, g1, six, cls, err, sizeof(err)),
                         KP_ERR_UNPROCESSABLE);
        assert_non_null(strstr(err, "KPLANE_MAX_TASKS=5"));
        assert_non_null(strstr(err, "6"));
        assert_int_equal(kp_runtime_group_state(rt, "g-cap1", NULL, 0), KP_GROUP_STOPPED);
        assert_int_equal(kp_runtime_task_count(rt), 0);

        assert_int_equal(kp_runtime_group_start(rt, g1, three, cls, err, sizeof(err)), 0);
        assert_int_equal(kp_runtime_group_start(rt, g2, two, cls, err, sizeof(err)), 0);
        assert_int_equal(kp_runtime_task_count(rt), 5);
        /* growing g-cap1 to 4 tasks needs one more than is left: refused, still 3 tasks */
        assert_int_equal(kp_runtime_group_apply(rt, "g-cap1", four, cls, err, sizeof(err)),
                         KP_ERR_UNPROCESSABLE);
        assert_non_null(strstr(err, "KPLANE_MAX_TASKS=5"));
        json_t *st = kp_runtime_group_status(rt, "g-cap1");
        assert_int_equal(json_array_size(json_object_get(st, "tasks")), 3);
        json_decref(st);
        /* shrinking gives tasks back; a stop gives all of them back */
        assert_int_equal(kp_runtime_group_apply(rt, "g-cap2", one, cls, err, sizeof(err)), 0);
        assert_int_equal(kp_runtime_task_count(rt), 4);
        assert_int_equal(kp_runtime_group_apply(rt, "g-cap1", four, cls, err, sizeof(err)), 0);
        assert_int_equal(kp_runtime_task_count(rt), 5);
        assert_int_equal(kp_runtime_group_stop(rt, "g-cap1", 0, err, sizeof(err)), 0);
        assert_int_equal(kp_runtime_task_count(rt), 1);
        kp_runtime_destroy(rt);
        json_decref(g1);
        json_decref(g2);
        json_decref(six);
        json_decref(three);
        json_decref(two);
        json_decref(four);
        json_decref(one);
        json_decref(cls);
        mock_stop(&m);
}

static void test_start_rejects_bad_documents(void **state)
{
        char err[256];
        kp_runtime_t *rt = kp_runtime_new(err, sizeof(err));
        json_t *cls = clusters_doc("a", "127.0.0.1:1");
        json_t *plan = plan_doc(1, "a", "t", 2, 2);
        json_t *grp = group_doc("g-bad", NULL, 0, "sometime");
        json_t *plan_unknown = plan_doc(1, "zzz", "t", 2, 2);
        json_t *grp_ok = group_doc("g-bad", NULL, 0, "earliest");
        (void)state;
        assert_int_equal(kp_runtime_group_start(rt, grp, plan, cls, err, sizeof(err)),
                         KP_ERR_INVALID);
        assert_non_null(strstr(err, "start_offset"));
        assert_int_equal(kp_runtime_group_start(rt, grp_ok, plan_unknown, cls, err, sizeof(err)),
                         KP_ERR_INVALID);
        assert_non_null(strstr(err, "zzz"));
        assert_int_equal(kp_runtime_group_state(rt, "g-bad", NULL, 0), KP_GROUP_STOPPED);
        kp_runtime_destroy(rt);
        json_decref(cls);
        json_decref(plan);
        json_decref(grp);
        json_decref(plan_unknown);
        json_decref(grp_ok);
}

static void test_stop_with_the_cluster_down_returns_within_10_seconds(void **state)
{
        mock_t m;
        char err[256];
        kp_runtime_t *rt = kp_runtime_new(err, sizeof(err));
        json_t *cls, *plan, *grp;
        int64_t t0;
        (void)state;

        mock_start(&m, 1);
        mock_topic(&m, "down", 4);
        produce_all(m.bootstrap, "down", 4, 0, 20);
        cls = clusters_doc("a", m.bootstrap);
        plan = plan_doc(1, "a", "down", 4, 2);
        grp = group_doc("g-down", NULL, 0, "earliest");
        assert_int_equal(kp_runtime_group_start(rt, grp, plan, cls, err, sizeof(err)), 0);
        assert_int_equal(wait_messages(rt, "g-down", 80, 20000), 80);
        assert_int_equal(rd_kafka_mock_broker_set_down(m.mc, 1), 0);
        t0 = kp_time_mono_ms();
        assert_int_equal(kp_runtime_group_stop(rt, "g-down", 10000, err, sizeof(err)), 0);
        t0 = kp_time_mono_ms() - t0;
        print_message("stop with the cluster down took %lld ms\n", (long long)t0);
        assert_true(t0 < 10000);
        assert_int_equal(kp_runtime_group_state(rt, "g-down", NULL, 0), KP_GROUP_STOPPED);
        kp_runtime_destroy(rt);
        json_decref(cls);
        json_decref(plan);
        json_decref(grp);
        mock_stop(&m);
}

static void test_rebalance_plan_change_turns_fan_out_on_and_loses_nothing(void **state)
{
        mock_t m;
        char dir[64], err[256];
        kp_runtime_t *rt = kp_runtime_new(err, sizeof(err));
        json_t *cls, *plan10, *plan15, *grp, *st, *t;
        seen_t *s;
        int64_t committed[10];
        size_t i;
        int p, o;
        (void)state;

        mock_start(&m, 1);
        mock_topic(&m, "fan", 10);
        tmpdir(dir, sizeof(dir));
        produce_all(m.bootstrap, "fan", 10, 0, 50);
        cls = clusters_doc("a", m.bootstrap);
        plan10 = plan_doc(1, "a", "fan", 10, 10);
        plan15 = plan_doc(2, "a", "fan", 10, 15);
        grp = group_doc("g-fan2", dir, 1, "earliest");
        assert_int_equal(kp_runtime_group_start(rt, grp, plan10, cls, err, sizeof(err)), 0);
        assert_int_equal(wait_messages(rt, "g-fan2", 500, 20000), 500);
        assert_int_equal(kp_runtime_group_apply(rt, "g-fan2", plan15, cls, err, sizeof(err)), 0);
        produce_all(m.bootstrap, "fan", 10, 50, 60);
        assert_int_equal(wait_messages(rt, "g-fan2", 1100, 20000), 1100);
        st = kp_runtime_group_status(rt, "g-fan2");
        /* The five tasks without partitions work too once fan-out is on. */
        json_array_foreach(json_object_get(st, "tasks"), i, t)
                assert_true(json_integer_value(json_object_get(t, "messages")) > 0);
        json_decref(st);
        assert_int_equal(kp_runtime_group_stop(rt, "g-fan2", 10000, err, sizeof(err)), 0);
        s = read_sink_dir(dir, "fan");
        for (p = 0; p < 10; p++)
                for (o = 0; o < 110; o++)
                        assert_int_equal(s->count[p][o], 1);
        free(s);
        committed_offsets(m.bootstrap, "g-fan2", "fan", 10, committed);
        for (p = 0; p < 10; p++)
                assert_int_equal(committed[p], 110);
        kp_runtime_destroy(rt);
        json_decref(cls);
        json_decref(plan10);
        json_decref(plan15);
        json_decref(grp);
        mock_stop(&m);
}

int main(void)
{
        char errstr[256];
        /* The documents quiet librdkafka with log_level, which only an operator may allow. */
        kp_client_policy_install(kp_client_policy_new("log_level", NULL, errstr, sizeof(errstr)));
        struct rlimit rl;
        signal(SIGXFSZ, SIG_IGN); /* a write past the limit fails with EFBIG instead */
        if (getrlimit(RLIMIT_FSIZE, &rl) ||
            (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < (rlim_t)FULL_AT))
                return 1;
        rl.rlim_cur = (rlim_t)FULL_AT;
        if (setrlimit(RLIMIT_FSIZE, &rl) || kp_sink_dir_set(SINK_ROOT))
                return 1;
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(
                        test_a_partition_whose_task_cannot_write_is_stalled_uncommitted_and_reread),
                cmocka_unit_test(test_fan_out_deals_around_a_failed_task_and_loses_nothing),
                cmocka_unit_test(test_task_cap_refuses_a_start_or_apply_past_it_and_starts_nothing),
                cmocka_unit_test(test_start_rejects_bad_documents),
                cmocka_unit_test(test_every_message_reaches_file_sink_and_stop_commits_end),
                cmocka_unit_test(
                        test_live_change_30_to_20_tasks_loses_nothing_and_never_shares_a_partition),
                cmocka_unit_test(test_broker_down_and_up_loses_nothing),
                cmocka_unit_test(
                        test_commits_resume_and_the_cluster_error_clears_when_the_coordinator_returns),
                cmocka_unit_test(
                        test_start_reads_everything_when_the_coordinator_is_not_ready_at_first),
                cmocka_unit_test(test_an_idle_cluster_error_clears_once_the_cluster_answers_again),
                cmocka_unit_test(test_a_fresh_group_reads_without_waiting_out_a_timer),
                cmocka_unit_test(test_rebalance_keeps_40_tasks_of_30_partitions_within_20_percent),
                cmocka_unit_test(test_rebalance_plan_change_turns_fan_out_on_and_loses_nothing),
                cmocka_unit_test(
                        test_latest_start_skips_old_but_discovered_partitions_start_at_earliest),
                cmocka_unit_test(test_metrics_have_help_type_and_per_task_and_lag_lines),
                cmocka_unit_test(test_stop_with_the_cluster_down_returns_within_10_seconds),
        };
        /* KP_TEST_FILTER=pattern runs only matching tests (cmocka glob). */
        if (getenv("KP_TEST_FILTER"))
                cmocka_set_test_filter(getenv("KP_TEST_FILTER"));
        int rc = cmocka_run_group_tests(tests, NULL, NULL);
        kp_client_policy_install(NULL);
        return rc;
}
