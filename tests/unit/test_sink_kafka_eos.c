/* test_sink_kafka_eos.c — the Kafka sink's exactly_once on an embedded mock cluster (it speaks
 * transactions): acknowledged only by the commit round's transaction, each record once, a
 * zombie of the same transactional.id fenced, positions across clusters read back. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "base/err.h"
#include "base/util.h"
#include "kafka/kafka.h"
#include "sinks/sink.h"
#include "sinks/sink_clusters.h"
#include "sinks/sink_kafka.h"

#include <jansson.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Our own mock cluster (not kp_embedded's), to inject broker errors: cluster "dst" with
 * topics out (3 partitions), in (2) and the offsets topic (the mock has no CreateTopics: made
 * here, as an operator may). */
static rd_kafka_t *mock_rk;
static rd_kafka_mock_cluster_t *mcluster;
static char *bootstrap;

static int resolve(void *ctx, const char *name, kp_sink_cluster_use_fn use, void *arg, char *errstr,
                   size_t errstr_size)
{
        (void)ctx;
        if (strcmp(name, "dst")) {
                snprintf(errstr, errstr_size, "no cluster named %s", name);
                return KP_ERR_NOT_FOUND;
        }
        kp_cluster_ref_t ref = {.name = "dst", .bootstrap = bootstrap, .config = NULL};
        return use(&ref, arg, errstr, errstr_size);
}

/* The creator the app installs for its embedded clusters, over our mock ("dst"). */
static int create(void *ctx, const char *name, const char *topic, int partitions, char *errstr,
                  size_t errstr_size)
{
        (void)ctx;
        if (strcmp(name, "dst"))
                return KP_ERR_NOT_FOUND;
        rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mcluster, topic, partitions, 1);
        snprintf(errstr, errstr_size, "%s", rd_kafka_err2str(err));
        return err ? KP_ERR_INVALID : 0;
}

static int setup(void **state)
{
        char err[256];
        (void)state;
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
        if (!(mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err))) ||
            !(mcluster = rd_kafka_mock_cluster_new(mock_rk, 1)))
                return -1;
        rd_kafka_mock_topic_create(mcluster, "out", 3, 1);
        rd_kafka_mock_topic_create(mcluster, "in", 2, 1);
        rd_kafka_mock_topic_create(mcluster, "__kplane-offsets", 1, 1);
        bootstrap = strdup(rd_kafka_mock_cluster_bootstraps(mcluster));
        kp_sink_clusters_set(resolve, NULL);
        kp_sink_clusters_set_creator(create);
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        kp_sink_clusters_set(NULL, NULL);
        kp_sink_clusters_set_creator(NULL);
        rd_kafka_mock_cluster_destroy(mcluster);
        rd_kafka_destroy(mock_rk);
        free(bootstrap);
        return 0;
}

#define EOS_DOC                                                                                    \
        "{\"type\":\"kafka\",\"cluster\":\"dst\",\"topic\":\"out\",\"delivery\":\"exactly_once\"}"

static kp_sink_group_t *group_open(const char *doc, const char *group)
{
        char err[512];
        json_t *conf = json_loads(doc, 0, NULL);
        assert_non_null(conf);
        if (kp_sink_validate(conf, err, sizeof(err)))
                fail_msg("validate: %s", err);
        kp_sink_group_t *sg = kp_sink_group_open(conf, group, err, sizeof(err));
        json_decref(conf);
        if (!sg)
                fail_msg("group open: %s", err);
        return sg;
}

static kp_sink_t *task_open(kp_sink_group_t *sg, int task)
{
        char err[512];
        kp_sink_t *s = kp_sink_open(sg, task, err, sizeof(err));
        if (!s)
                fail_msg("task open: %s", err);
        return s;
}

/* Records [from, to) of source @p cluster/topic partition @p partition, identified by
 * @p part, values "<partition>:<offset>". */
static void put_range(kp_sink_t *s, const char *cluster, const void *part, int32_t partition,
                      int64_t from, int64_t to)
{
        kp_sink_msg_t m[64];
        char vals[64][24], err[256];
        size_t taken;
        assert_true(to - from <= 64);
        for (int64_t o = from; o < to; o++) {
                size_t i = (size_t)(o - from);
                snprintf(vals[i], sizeof(vals[i]), "%d:%lld", (int)partition, (long long)o);
                m[i] = (kp_sink_msg_t){.cluster = cluster,
                                       .topic = "in",
                                       .partition = partition,
                                       .offset = o,
                                       .value = vals[i],
                                       .value_len = strlen(vals[i]),
                                       .timestamp = -1,
                                       .part = part};
        }
        kp_sink_status_t st = kp_sink_put(s, m, (size_t)(to - from), &taken, err, sizeof(err));
        if (st != KP_SINK_OK)
                fail_msg("put: %s", err);
}

/* Reads topic out from the beginning with read_committed until @p want records or 20 s;
 * counts each value in @p seen (values "<p>:<o>", o < 64, p < 4). @returns records read. */
static int read_out(int want, int seen[4][64])
{
        char err[256];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof(err));
        rd_kafka_conf_set(conf, "group.id", "reader", err, sizeof(err));
        rd_kafka_conf_set(conf, "isolation.level", "read_committed", err, sizeof(err));
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
        assert_non_null(rk);
        rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(3);
        for (int p = 0; p < 3; p++)
                rd_kafka_topic_partition_list_add(parts, "out", p)->offset =
                        RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_assign(rk, parts);
        rd_kafka_topic_partition_list_destroy(parts);
        int n = 0;
        int64_t until = kp_time_mono_ms() + 20000;
        while (n < want && kp_time_mono_ms() < until) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
                int p, o;
                char v[32];
                if (m && !m->err && m->len < sizeof(v)) {
                        memcpy(v, m->payload, m->len);
                        v[m->len] = '\0';
                        if (sscanf(v, "%d:%d", &p, &o) == 2 && p >= 0 && p < 4 && o >= 0 && o < 64)
                                seen[p][o]++;
                        n++;
                }
                if (m)
                        rd_kafka_message_destroy(m);
        }
        /* a moment more: a record twice would come now */
        for (int64_t more = kp_time_mono_ms() + 500; kp_time_mono_ms() < more;) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
                if (m && !m->err)
                        n++;
                if (m)
                        rd_kafka_message_destroy(m);
        }
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        return n;
}

/* Precommit of one partition: acked out, and whether the sink committed it itself. */
static int64_t precommit_one(kp_sink_t *s, const void *part, const char *cluster, int32_t partition,
                             int64_t first, int64_t taken, int *committed)
{
        kp_sink_offset_t off = {.part = part,
                                .cluster = cluster,
                                .topic = "in",
                                .partition = partition,
                                .taken = taken,
                                .acked = first};
        kp_sink_precommit(s, &off, 1);
        if (committed)
                *committed = off.committed;
        return off.acked;
}

static void
test_records_are_acknowledged_by_the_commit_round_and_a_read_committed_reader_sees_each_once(
        void **state)
{
        static const int part0, part1;
        char err[256];
        int seen[4][64] = {{0}}, committed = -1;
        (void)state;
        kp_sink_group_t *sg = group_open(EOS_DOC, "copy");
        kp_sink_t *s = task_open(sg, 0);

        put_range(s, "dst", &part0, 0, 0, 30);
        put_range(s, "dst", &part1, 1, 0, 20);
        /* delivered is not acknowledged: only the transaction's commit acknowledges */
        struct timespec pause = {0, 300 * 1000000L};
        nanosleep(&pause, NULL);
        assert_int_equal(precommit_one(s, &part0, "dst", 0, 0, 30, &committed), 0);
        assert_int_equal(committed, 0);
        if (kp_sink_flush(s, 0, err, sizeof(err)) != KP_SINK_OK)
                fail_msg("flush: %s", err);
        /* the source's cluster: the offsets rode in the transaction */
        assert_int_equal(precommit_one(s, &part0, "dst", 0, 0, 30, &committed), 30);
        assert_int_equal(committed, 1);
        assert_int_equal(precommit_one(s, &part1, "dst", 1, 0, 20, NULL), 20);
        /* a second transaction */
        put_range(s, "dst", &part0, 0, 30, 40);
        if (kp_sink_flush(s, 0, err, sizeof(err)) != KP_SINK_OK)
                fail_msg("flush: %s", err);
        assert_int_equal(precommit_one(s, &part0, "dst", 0, 30, 40, NULL), 40);
        kp_sink_stats_t st;
        kp_sink_stats(s, &st);
        assert_int_equal(st.acked, 60);
        assert_int_equal(st.in_flight, 0);
        kp_sink_close(s);
        kp_sink_group_close(sg);

        assert_int_equal(read_out(60, seen), 60);
        for (int o = 0; o < 40; o++)
                assert_int_equal(seen[0][o], 1);
        for (int o = 0; o < 20; o++)
                assert_int_equal(seen[1][o], 1);
}

/* The mock gives every InitProducerId a new producer id instead of bumping the epoch of the
 * transactional.id's (tests/kafka shows the fence on real brokers): the broker's answer to
 * a fenced zombie is injected here, and the zombie's task must fail having acknowledged
 * nothing of its transaction. */
static void test_a_fenced_zombie_fails_its_task_and_acknowledges_nothing(void **state)
{
        static const int part0;
        char err[256];
        (void)state;
        kp_sink_group_t *old = group_open(EOS_DOC, "fence");
        kp_sink_t *zombie = task_open(old, 3);
        put_range(zombie, "dst", &part0, 0, 0, 10);
        rd_kafka_mock_push_request_errors(mcluster, 26 /* EndTxn */, 1,
                                          RD_KAFKA_RESP_ERR_PRODUCER_FENCED);
        assert_int_equal(kp_sink_flush(zombie, 0, err, sizeof(err)), KP_SINK_FATAL);
        assert_non_null(strstr(err, "transaction"));
        assert_int_equal(precommit_one(zombie, &part0, "dst", 0, 0, 10, NULL), 0);
        kp_sink_stats_t st;
        kp_sink_stats(zombie, &st);
        assert_int_equal(st.acked, 0);
        /* it takes nothing more */
        kp_sink_msg_t m = {.cluster = "dst", .topic = "in", .offset = 10, .part = &part0};
        size_t taken;
        assert_int_equal(kp_sink_put(zombie, &m, 1, &taken, err, sizeof(err)), KP_SINK_FATAL);
        kp_sink_close(zombie);
        kp_sink_group_close(old);

        /* the task's next life (same transactional.id) goes on */
        kp_sink_group_t *sg = group_open(EOS_DOC, "fence");
        kp_sink_t *s = task_open(sg, 3);
        put_range(s, "dst", &part0, 0, 0, 10);
        assert_int_equal(kp_sink_flush(s, 0, err, sizeof(err)), KP_SINK_OK);
        assert_int_equal(precommit_one(s, &part0, "dst", 0, 0, 10, NULL), 10);
        kp_sink_close(s);
        kp_sink_group_close(sg);
}

static void test_positions_across_clusters_are_read_back_from_the_offsets_topic(void **state)
{
        static const int a0, a1, a2;
        char err[256];
        int committed = -1;
        (void)state;
        kp_sink_group_t *sg = group_open(EOS_DOC, "cross");
        kp_sink_t *s = task_open(sg, 0);
        /* source cluster "src" is not the sink's: the positions go to the offsets topic */
        put_range(s, "src", &a0, 0, 0, 12);
        put_range(s, "src", &a1, 1, 0, 7);
        assert_int_equal(kp_sink_flush(s, 0, err, sizeof(err)), KP_SINK_OK);
        assert_int_equal(precommit_one(s, &a0, "src", 0, 0, 12, &committed), 12);
        assert_int_equal(committed, 0); /* the source group's offsets follow, for lag only */
        put_range(s, "src", &a0, 0, 12, 15);
        assert_int_equal(kp_sink_flush(s, 0, err, sizeof(err)), KP_SINK_OK);
        kp_sink_close(s);
        kp_sink_group_close(sg);

        /* a restarted group resumes from there; another group knows nothing of it */
        kp_sink_offset_t offs[3] = {
                {.part = &a0, .cluster = "src", .topic = "in", .partition = 0},
                {.part = &a1, .cluster = "src", .topic = "in", .partition = 1},
                {.part = &a2, .cluster = "src", .topic = "in", .partition = 2},
        };
        sg = group_open(EOS_DOC, "cross");
        if (kp_sink_resume(sg, offs, 3, err, sizeof(err)))
                fail_msg("resume: %s", err);
        assert_int_equal(offs[0].acked, 15);
        assert_int_equal(offs[1].acked, 7);
        assert_int_equal(offs[2].acked, -1);
        kp_sink_group_close(sg);
        sg = group_open(EOS_DOC, "other");
        assert_int_equal(kp_sink_resume(sg, offs, 3, err, sizeof(err)), 0);
        assert_int_equal(offs[0].acked, -1);
        kp_sink_group_close(sg);
        /* at_least_once has no resume of its own: the group's committed offsets */
        sg = group_open("{\"type\":\"kafka\",\"cluster\":\"dst\",\"topic\":\"out\"}", "cross");
        assert_int_equal(kp_sink_resume(sg, offs, 3, err, sizeof(err)), 0);
        assert_int_equal(offs[0].acked, -1);
        kp_sink_group_close(sg);
}

static void test_a_partition_in_another_tasks_open_transaction_fails_the_task(void **state)
{
        static const int part0;
        char err[256];
        size_t taken;
        (void)state;
        kp_sink_group_t *sg = group_open(EOS_DOC, "fan");
        kp_sink_t *a = task_open(sg, 0), *b = task_open(sg, 1), *c = task_open(sg, 2);
        put_range(a, "dst", &part0, 0, 0, 5);
        /* records of one partition dealt to a second task while the first holds it in an
         * open transaction (rebalance fan-out): each would commit its own position */
        kp_sink_msg_t m = {.cluster = "dst", .topic = "in", .offset = 5, .part = &part0};
        assert_int_equal(kp_sink_put(b, &m, 1, &taken, err, sizeof(err)), KP_SINK_FATAL);
        assert_int_equal(taken, 0);
        assert_non_null(strstr(err, "another task's open transaction"));
        assert_int_equal(kp_sink_flush(b, 0, err, sizeof(err)), KP_SINK_FATAL);
        /* once the holder committed, a hand-over is fine */
        assert_int_equal(kp_sink_flush(a, 0, err, sizeof(err)), KP_SINK_OK);
        put_range(c, "dst", &part0, 0, 5, 10);
        assert_int_equal(kp_sink_flush(c, 0, err, sizeof(err)), KP_SINK_OK);
        assert_int_equal(precommit_one(c, &part0, "dst", 0, 5, 10, NULL), 10);
        /* and so is the partition back to the first task */
        put_range(a, "dst", &part0, 0, 10, 12);
        assert_int_equal(kp_sink_flush(a, 0, err, sizeof(err)), KP_SINK_OK);
        kp_sink_close(a);
        kp_sink_close(b);
        kp_sink_close(c);
        kp_sink_group_close(sg);
}

static void test_offsets_topic_is_a_topic_name_and_only_for_exactly_once(void **state)
{
        char err[512];
        (void)state;
        static const char *const bad[] = {
                "{\"type\":\"kafka\",\"cluster\":\"dst\",\"topic\":\"out\","
                "\"offsets_topic\":\"positions\"}",
                "{\"type\":\"kafka\",\"cluster\":\"dst\",\"topic\":\"out\","
                "\"delivery\":\"exactly_once\",\"offsets_topic\":\"bad name\"}",
                "{\"type\":\"kafka\",\"cluster\":\"dst\",\"topic\":\"out\","
                "\"delivery\":\"exactly_once\",\"offsets_topic\":3}",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                json_t *conf = json_loads(bad[i], 0, NULL);
                assert_int_equal(kp_sink_validate(conf, err, sizeof(err)), KP_ERR_INVALID);
                assert_non_null(strstr(err, "sink.offsets_topic"));
                json_decref(conf);
        }
        json_t *conf = json_loads("{\"type\":\"kafka\",\"cluster\":\"dst\",\"topic\":\"out\","
                                  "\"delivery\":\"exactly_once\",\"offsets_topic\":\"pos.x\"}",
                                  0, NULL);
        assert_int_equal(kp_sink_validate(conf, err, sizeof(err)), 0);
        json_decref(conf);
}

/* A task's transactional.id carries the service's name (KPLANE_SERVICE), so a group of the
 * same name in another service on the same cluster never fences it; seen here in the error
 * of an init_transactions the broker refuses. */
static void test_the_transactional_id_names_the_service(void **state)
{
        char err[512], id[256];
        (void)state;
        assert_int_equal(kp_sink_kafka_txn_id("kplane", "g", 3, id, sizeof(id)), 0);
        assert_string_equal(id, "kplane:g.3");
        /* no two (service, group) pairs share an id, dots in names or not */
        char other[256];
        assert_int_equal(kp_sink_kafka_txn_id("a.b", "c", 0, id, sizeof(id)), 0);
        assert_int_equal(kp_sink_kafka_txn_id("a", "b.c", 0, other, sizeof(other)), 0);
        assert_string_not_equal(id, other);
        assert_int_equal(kp_sink_kafka_txn_id("kplane", "g", 3, id, 8), KP_ERR_INVALID);
        assert_int_equal(kp_sink_service_set("bad name"), KP_ERR_INVALID);
        assert_int_equal(kp_sink_service_set("svc-a"), 0);
        assert_string_equal(kp_sink_service(), "svc-a");

        kp_sink_group_t *sg = group_open(EOS_DOC, "svcgroup");
        rd_kafka_mock_push_request_errors(mcluster, 22 /* InitProducerId */, 1,
                                          RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
        /* init_transactions runs beside the open: its failure fails the task's first put */
        kp_sink_t *s = task_open(sg, 3);
        kp_sink_msg_t m = {.cluster = "dst", .topic = "in", .value = "v", .value_len = 1};
        size_t taken;
        assert_int_equal(kp_sink_put(s, &m, 1, &taken, err, sizeof(err)), KP_SINK_FATAL);
        assert_int_equal(taken, 0);
        if (!strstr(err, "svc-a:svcgroup.3") || !strstr(err, "init_transactions"))
                fail_msg("the transactional.id does not name the service: %s", err);
        assert_int_equal(kp_sink_flush(s, 0, err, sizeof(err)), KP_SINK_FATAL);
        kp_sink_close(s);
        kp_sink_group_close(sg);
        assert_int_equal(kp_sink_service_set("kplane"), 0);
}

/* A group's tasks fence their zombies at once, not one after another: with every
 * InitProducerId answered after 2 s, opening 4 tasks returns before one answer came (it
 * took 4 x 2 s when each open waited for its init_transactions), and each task then
 * commits its transaction. */
static void test_tasks_run_init_transactions_side_by_side(void **state)
{
        static const int parts[4];
        char err[256];
        kp_sink_t *s[4];
        (void)state;
        kp_sink_group_t *sg = group_open(EOS_DOC, "parallel");
        for (int i = 0; i < 4; i++)
                rd_kafka_mock_broker_push_request_error_rtts(mcluster, 1, 22 /* InitProducerId */,
                                                             1, RD_KAFKA_RESP_ERR_NO_ERROR, 2000);
        int64_t t0 = kp_time_mono_ms();
        for (int i = 0; i < 4; i++)
                s[i] = task_open(sg, 10 + i);
        int64_t opened = kp_time_mono_ms() - t0;
        for (int i = 0; i < 4; i++)
                put_range(s[i], "src", &parts[i], i, 0, 5);
        int64_t ready = kp_time_mono_ms() - t0;
        if (opened >= 2000 || ready >= 4 * 2000)
                fail_msg("4 opens took %lld ms, the first puts %lld ms: one init after another",
                         (long long)opened, (long long)ready);
        for (int i = 0; i < 4; i++) {
                assert_int_equal(kp_sink_flush(s[i], 0, err, sizeof(err)), KP_SINK_OK);
                assert_int_equal(precommit_one(s[i], &parts[i], "src", i, 0, 5, NULL), 5);
                kp_sink_close(s[i]);
        }
        kp_sink_group_close(sg);
}

/* An offsets topic that does not exist is made by the first transaction that needs it, also
 * on librdkafka's mock cluster (kplane's embedded and `kplane mock` clusters), which has no
 * CreateTopics: then a copy across embedded clusters runs with exactly_once. */
static void test_a_missing_offsets_topic_is_made_on_a_mock_cluster(void **state)
{
        static const int part0;
        char err[256];
        (void)state;
        kp_sink_group_t *sg = group_open("{\"type\":\"kafka\",\"cluster\":\"dst\",\"topic\":"
                                         "\"out\",\"delivery\":\"exactly_once\","
                                         "\"offsets_topic\":\"made.offsets\"}",
                                         "made");
        kp_sink_t *s = task_open(sg, 0);
        put_range(s, "src", &part0, 0, 0, 7);
        kp_sink_status_t st = kp_sink_flush(s, kp_time_mono_ms() + 20000, err, sizeof(err));
        if (st != KP_SINK_OK)
                fail_msg("flush: %d %s", st, err);
        assert_int_equal(precommit_one(s, &part0, "src", 0, 0, 7, NULL), 7);
        kp_sink_close(s);
        kp_sink_group_close(sg);
        /* a new life of the group resumes from it */
        sg = group_open("{\"type\":\"kafka\",\"cluster\":\"dst\",\"topic\":\"out\","
                        "\"delivery\":\"exactly_once\",\"offsets_topic\":\"made.offsets\"}",
                        "made");
        kp_sink_offset_t off = {.part = &part0, .cluster = "src", .topic = "in", .partition = 0};
        if (kp_sink_resume(sg, &off, 1, err, sizeof(err)))
                fail_msg("resume: %s", err);
        assert_int_equal(off.acked, 7);
        kp_sink_group_close(sg);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(
                        test_records_are_acknowledged_by_the_commit_round_and_a_read_committed_reader_sees_each_once),
                cmocka_unit_test(test_a_fenced_zombie_fails_its_task_and_acknowledges_nothing),
                cmocka_unit_test(
                        test_positions_across_clusters_are_read_back_from_the_offsets_topic),
                cmocka_unit_test(test_a_partition_in_another_tasks_open_transaction_fails_the_task),
                cmocka_unit_test(test_offsets_topic_is_a_topic_name_and_only_for_exactly_once),
                cmocka_unit_test(test_the_transactional_id_names_the_service),
                cmocka_unit_test(test_tasks_run_init_transactions_side_by_side),
                cmocka_unit_test(test_a_missing_offsets_topic_is_made_on_a_mock_cluster),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
