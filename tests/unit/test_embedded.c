/* test_embedded.c — embedded clusters: lifecycle, faults, outside clients, `kplane mock`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/config.h"
#include "kafka/embedded.h"
#include "base/err.h"
#include "kafka/kafka.h"
#include "base/util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static json_t *parse(const char *text)
{
        json_error_t jerr;
        json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);
        assert_non_null(j);
        return j;
}

/* @returns the metadata of @p bootstrap (asserting it answers). */
static kp_kafka_metadata_t *metadata(const char *bootstrap)
{
        kp_kafka_metadata_t *md = NULL;
        char errstr[512];

        assert_int_equal(
                kp_kafka_metadata_fetch(bootstrap, NULL, NULL, 3000, &md, errstr, sizeof(errstr)),
                0);
        assert_non_null(md);
        return md;
}

/* @returns the kp_err of a 1 s metadata read of @p bootstrap. */
static int metadata_err(const char *bootstrap)
{
        kp_kafka_metadata_t *md = NULL;
        char errstr[512];
        int err = kp_kafka_metadata_fetch(bootstrap, NULL, NULL, 1000, &md, errstr, sizeof(errstr));
        kp_kafka_metadata_destroy(md);
        return err;
}

static void test_start_gives_bootstrap_and_stop_removes_the_cluster(void **state)
{
        kp_embedded_t *emb = kp_embedded_new();
        json_t *topics = parse("[{\"name\": \"orders\", \"partitions\": 10}]");
        char *bootstrap = NULL, *again;
        char errstr[512];
        kp_kafka_metadata_t *md;
        (void)state;

        assert_int_equal(
                kp_embedded_start(emb, "demo-a", 2, topics, &bootstrap, errstr, sizeof(errstr)), 0);
        assert_non_null(bootstrap);
        assert_non_null(strstr(bootstrap, "127.0.0.1:"));
        again = kp_embedded_bootstrap(emb, "demo-a");
        assert_string_equal(again, bootstrap);
        free(again);
        assert_null(kp_embedded_bootstrap(emb, "demo-b"));

        md = metadata(bootstrap);
        assert_int_equal(md->broker_cnt, 2);
        assert_int_equal(kp_kafka_metadata_partitions(md, "orders"), 10);
        kp_kafka_metadata_destroy(md);

        assert_int_equal(kp_embedded_stop(emb, "demo-a"), 0);
        assert_null(kp_embedded_bootstrap(emb, "demo-a"));
        assert_int_equal(kp_embedded_stop(emb, "demo-a"), KP_ERR_NOT_FOUND);
        assert_int_equal(metadata_err(bootstrap), KP_ERR_UNAVAILABLE);
        free(bootstrap);
        json_decref(topics);
        kp_embedded_destroy(emb);
        kp_embedded_destroy(NULL);
}

static void test_start_rejects_bad_names_broker_counts_and_topics(void **state)
{
        static const char *bad_topics[] = {
                "{\"name\": \"orders\"}",
                "[{\"name\": \"orders\"}]",
                "[{\"name\": \"orders\", \"partitions\": 0}]",
                "[{\"name\": \"orders\", \"partitions\": 10001}]",
                "[{\"name\": \"bad topic\", \"partitions\": 1}]",
                "[{\"name\": \"a\", \"partitions\": 1}, {\"name\": \"a\", \"partitions\": 2}]",
        };
        kp_embedded_t *emb = kp_embedded_new();
        char *bootstrap = NULL;
        char errstr[512];
        json_t *topics;
        size_t i;
        (void)state;

        assert_int_equal(kp_embedded_start(emb, "x", 0, NULL, &bootstrap, errstr, sizeof(errstr)),
                         KP_ERR_INVALID);
        assert_int_equal(kp_embedded_start(emb, "x", KP_EMBEDDED_BROKERS_MAX + 1, NULL, &bootstrap,
                                           errstr, sizeof(errstr)),
                         KP_ERR_INVALID);
        assert_int_equal(kp_embedded_start(emb, "-x", 1, NULL, &bootstrap, errstr, sizeof(errstr)),
                         KP_ERR_INVALID);
        for (i = 0; i < sizeof(bad_topics) / sizeof(bad_topics[0]); i++) {
                topics = parse(bad_topics[i]);
                assert_int_equal(
                        kp_embedded_start(emb, "x", 1, topics, &bootstrap, errstr, sizeof(errstr)),
                        KP_ERR_INVALID);
                json_decref(topics);
        }
        assert_null(bootstrap);
        assert_null(kp_embedded_bootstrap(emb, "x"));
        kp_embedded_destroy(emb);
}

static void test_restart_recreates_the_same_topics_empty_on_a_new_address(void **state)
{
        kp_embedded_t *emb = kp_embedded_new();
        json_t *topics = parse("[{\"name\": \"orders\", \"partitions\": 4},"
                               " {\"name\": \"refunds\", \"partitions\": 1}]");
        char *first = NULL, *second = NULL, *third = NULL;
        char errstr[512];
        kp_kafka_metadata_t *md;
        (void)state;

        assert_int_equal(kp_embedded_start(emb, "r", 1, topics, &first, errstr, sizeof(errstr)), 0);
        assert_int_equal(kp_embedded_stop(emb, "r"), 0);
        assert_int_equal(kp_embedded_start(emb, "r", 1, topics, &second, errstr, sizeof(errstr)),
                         0);
        md = metadata(second);
        assert_int_equal(md->topic_cnt, 2);
        assert_int_equal(kp_kafka_metadata_partitions(md, "orders"), 4);
        assert_int_equal(kp_kafka_metadata_partitions(md, "refunds"), 1);
        kp_kafka_metadata_destroy(md);

        /* Starting a running name replaces it: the old brokers go away. */
        assert_int_equal(kp_embedded_start(emb, "r", 1, topics, &third, errstr, sizeof(errstr)), 0);
        assert_string_not_equal(second, third);
        assert_int_equal(metadata_err(second), KP_ERR_UNAVAILABLE);
        md = metadata(third);
        assert_int_equal(kp_kafka_metadata_partitions(md, "orders"), 4);
        kp_kafka_metadata_destroy(md);

        free(first);
        free(second);
        free(third);
        json_decref(topics);
        kp_embedded_destroy(emb);
}

static void test_two_clusters_run_at_once_with_their_own_topics(void **state)
{
        kp_embedded_t *emb = kp_embedded_new();
        json_t *ta = parse("[{\"name\": \"orders\", \"partitions\": 10}]");
        json_t *tb = parse("[{\"name\": \"payments\", \"partitions\": 7}]");
        char *a = NULL, *b = NULL;
        char errstr[512];
        kp_kafka_metadata_t *md;
        (void)state;

        assert_int_equal(kp_embedded_start(emb, "a", 3, ta, &a, errstr, sizeof(errstr)), 0);
        assert_int_equal(kp_embedded_start(emb, "b", 1, tb, &b, errstr, sizeof(errstr)), 0);
        assert_string_not_equal(a, b);

        md = metadata(a);
        assert_int_equal(md->broker_cnt, 3);
        assert_int_equal(md->topic_cnt, 1);
        assert_int_equal(kp_kafka_metadata_partitions(md, "orders"), 10);
        kp_kafka_metadata_destroy(md);
        md = metadata(b);
        assert_int_equal(md->broker_cnt, 1);
        assert_int_equal(md->topic_cnt, 1);
        assert_int_equal(kp_kafka_metadata_partitions(md, "payments"), 7);
        kp_kafka_metadata_destroy(md);

        /* Stopping one leaves the other serving. */
        assert_int_equal(kp_embedded_stop(emb, "a"), 0);
        md = metadata(b);
        assert_int_equal(kp_kafka_metadata_partitions(md, "payments"), 7);
        kp_kafka_metadata_destroy(md);

        free(a);
        free(b);
        json_decref(ta);
        json_decref(tb);
        kp_embedded_destroy(emb);
}

static void test_topic_create_adds_a_topic_and_refuses_duplicates(void **state)
{
        kp_embedded_t *emb = kp_embedded_new();
        char *bootstrap = NULL;
        char errstr[512];
        kp_kafka_metadata_t *md;
        (void)state;

        assert_int_equal(kp_embedded_start(emb, "t", 2, NULL, &bootstrap, errstr, sizeof(errstr)),
                         0);
        assert_int_equal(kp_embedded_topic_create(emb, "t", "fresh", 6, errstr, sizeof(errstr)), 0);
        assert_int_equal(kp_embedded_topic_create(emb, "t", "fresh", 6, errstr, sizeof(errstr)),
                         KP_ERR_EXISTS);
        assert_int_equal(kp_embedded_topic_create(emb, "nope", "x", 1, errstr, sizeof(errstr)),
                         KP_ERR_NOT_FOUND);
        assert_int_equal(kp_embedded_topic_create(emb, "t", "y", 0, errstr, sizeof(errstr)),
                         KP_ERR_INVALID);
        assert_int_equal(kp_embedded_topic_create(emb, "t", "a/b", 1, errstr, sizeof(errstr)),
                         KP_ERR_INVALID);
        md = metadata(bootstrap);
        assert_int_equal(md->topic_cnt, 1);
        assert_int_equal(kp_kafka_metadata_partitions(md, "fresh"), 6);
        kp_kafka_metadata_destroy(md);
        free(bootstrap);
        kp_embedded_destroy(emb);
}

/* @returns "host:port" of broker @p id of the cluster at @p bootstrap (malloc'd). */
static char *broker_address(const char *bootstrap, int32_t id)
{
        kp_kafka_metadata_t *md = metadata(bootstrap);
        char *addr = NULL;
        size_t i;

        for (i = 0; i < md->broker_cnt; i++)
                if (md->brokers[i].id == id)
                        assert_true(asprintf(&addr, "%s:%d", md->brokers[i].host,
                                             md->brokers[i].port) > 0);
        kp_kafka_metadata_destroy(md);
        assert_non_null(addr);
        return addr;
}

static void test_broker_down_stops_answering_and_up_answers_again(void **state)
{
        kp_embedded_t *emb = kp_embedded_new();
        char *bootstrap = NULL, *b2;
        char errstr[512];
        (void)state;

        assert_int_equal(kp_embedded_start(emb, "f", 3, NULL, &bootstrap, errstr, sizeof(errstr)),
                         0);
        b2 = broker_address(bootstrap, 2);
        assert_int_equal(metadata_err(b2), 0);

        assert_int_equal(kp_embedded_broker_set_up(emb, "f", 2, 0, errstr, sizeof(errstr)), 0);
        assert_int_equal(metadata_err(b2), KP_ERR_UNAVAILABLE);
        /* The others still answer through the full bootstrap list. */
        assert_int_equal(metadata_err(bootstrap), 0);

        assert_int_equal(kp_embedded_broker_set_up(emb, "f", 2, 1, errstr, sizeof(errstr)), 0);
        assert_int_equal(metadata_err(b2), 0);

        assert_int_equal(kp_embedded_broker_set_up(emb, "f", 4, 0, errstr, sizeof(errstr)),
                         KP_ERR_NOT_FOUND);
        assert_int_equal(kp_embedded_broker_set_up(emb, "f", 0, 0, errstr, sizeof(errstr)),
                         KP_ERR_NOT_FOUND);
        assert_int_equal(kp_embedded_broker_set_up(emb, "g", 1, 0, errstr, sizeof(errstr)),
                         KP_ERR_NOT_FOUND);
        free(b2);
        free(bootstrap);
        kp_embedded_destroy(emb);
}

/* A broker's round-trip delay: answers later than a 1 s metadata timeout, then on time again. */
static void test_broker_rtt_delays_its_answers_until_set_back(void **state)
{
        kp_embedded_t *emb = kp_embedded_new();
        char *bootstrap = NULL;
        char errstr[512];
        (void)state;

        assert_int_equal(kp_embedded_start(emb, "r", 1, NULL, &bootstrap, errstr, sizeof(errstr)),
                         0);
        assert_int_equal(metadata_err(bootstrap), 0);
        assert_int_equal(kp_embedded_broker_set_rtt(emb, "r", 1, 3000, errstr, sizeof(errstr)), 0);
        assert_int_equal(metadata_err(bootstrap), KP_ERR_UNAVAILABLE);
        assert_int_equal(kp_embedded_broker_set_rtt(emb, "r", 1, 0, errstr, sizeof(errstr)), 0);
        assert_int_equal(metadata_err(bootstrap), 0);
        assert_int_equal(kp_embedded_broker_set_rtt(emb, "r", 2, 10, errstr, sizeof(errstr)),
                         KP_ERR_NOT_FOUND);
        assert_int_equal(kp_embedded_broker_set_rtt(emb, "nope", 1, 10, errstr, sizeof(errstr)),
                         KP_ERR_NOT_FOUND);
        free(bootstrap);
        kp_embedded_destroy(emb);
}

/* A plain librdkafka client of @p type on @p bootstrap, with extra "k=v" properties. */
static rd_kafka_t *client_new(rd_kafka_type_t type, const char *bootstrap, const char **props)
{
        rd_kafka_conf_t *conf;
        char errstr[512];
        rd_kafka_t *rk;

        conf = kp_kafka_client_conf_new(bootstrap, NULL, errstr, sizeof(errstr));
        assert_non_null(conf);
        for (; props && props[0]; props += 2)
                assert_int_equal(
                        rd_kafka_conf_set(conf, props[0], props[1], errstr, sizeof(errstr)),
                        RD_KAFKA_CONF_OK);
        rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
        assert_non_null(rk);
        if (type == RD_KAFKA_CONSUMER)
                rd_kafka_poll_set_consumer(rk);
        return rk;
}

/* Subscribes a consumer of group @p group to @p topic and reads until @p want messages
 * arrived or 15 s passed. @returns the count read. */
static int consume(rd_kafka_t *rk, const char *topic, int want)
{
        rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
        int64_t deadline = kp_time_mono_ms() + 15000;
        int got = 0;

        rd_kafka_topic_partition_list_add(sub, topic, RD_KAFKA_PARTITION_UA);
        assert_int_equal(rd_kafka_subscribe(rk, sub), 0);
        rd_kafka_topic_partition_list_destroy(sub);
        while (got < want && kp_time_mono_ms() < deadline) {
                rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rk, 200);
                if (!rkm)
                        continue;
                if (!rkm->err)
                        got++;
                rd_kafka_message_destroy(rkm);
        }
        return got;
}

/* @returns the sum over @p partitions of the group's committed offsets of @p topic. */
static int64_t committed_sum(rd_kafka_t *rk, const char *topic, int partitions)
{
        rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(partitions);
        int64_t sum = 0;
        int p;

        for (p = 0; p < partitions; p++)
                rd_kafka_topic_partition_list_add(parts, topic, p);
        assert_int_equal(rd_kafka_committed(rk, parts, 10000), 0);
        for (p = 0; p < parts->cnt; p++) {
                assert_int_equal(parts->elems[p].err, 0);
                if (parts->elems[p].offset > 0)
                        sum += parts->elems[p].offset;
        }
        rd_kafka_topic_partition_list_destroy(parts);
        return sum;
}

static void test_outside_clients_produce_consume_commit_and_reconnect(void **state)
{
        static const char *consumer_props[] = {
                "group.id", "g1", "auto.offset.reset", "earliest", "enable.auto.commit",
                "false",    NULL};
        static const char *other_group_props[] = {"group.id", "g2", "auto.offset.reset", "earliest",
                                                  NULL};
        kp_embedded_t *emb = kp_embedded_new();
        json_t *topics = parse("[{\"name\": \"orders\", \"partitions\": 3}]");
        char *bootstrap = NULL;
        char errstr[512], key[16];
        rd_kafka_t *producer, *consumer;
        const int n = 30;
        int i;
        (void)state;

        assert_int_equal(
                kp_embedded_start(emb, "io", 3, topics, &bootstrap, errstr, sizeof(errstr)), 0);

        producer = client_new(RD_KAFKA_PRODUCER, bootstrap, NULL);
        for (i = 0; i < n; i++) {
                snprintf(key, sizeof(key), "k%d", i);
                assert_int_equal(rd_kafka_producev(producer, RD_KAFKA_V_TOPIC("orders"),
                                                   RD_KAFKA_V_KEY(key, strlen(key)),
                                                   RD_KAFKA_V_VALUE("v", 1), RD_KAFKA_V_END),
                                 0);
        }
        assert_int_equal(rd_kafka_flush(producer, 10000), 0);
        assert_int_equal(rd_kafka_outq_len(producer), 0);
        rd_kafka_destroy(producer);

        consumer = client_new(RD_KAFKA_CONSUMER, bootstrap, consumer_props);
        assert_int_equal(consume(consumer, "orders", n), n);
        assert_int_equal(rd_kafka_commit(consumer, NULL, 0), 0);
        assert_int_equal(committed_sum(consumer, "orders", 3), n);
        rd_kafka_consumer_close(consumer);
        rd_kafka_destroy(consumer);

        /* A new connection sees the same data and the committed offsets. */
        consumer = client_new(RD_KAFKA_CONSUMER, bootstrap, consumer_props);
        assert_int_equal(committed_sum(consumer, "orders", 3), n);
        rd_kafka_consumer_close(consumer);
        rd_kafka_destroy(consumer);
        consumer = client_new(RD_KAFKA_CONSUMER, bootstrap, other_group_props);
        assert_int_equal(consume(consumer, "orders", n), n);
        rd_kafka_consumer_close(consumer);
        rd_kafka_destroy(consumer);

        free(bootstrap);
        json_decref(topics);
        kp_embedded_destroy(emb);
}

static void test_mock_main_usage_errors_exit_2(void **state)
{
        char *a1[] = {"--brokers", "0"};
        char *a2[] = {"--brokers", "many"};
        char *a3[] = {"--topic", "orders"};
        char *a4[] = {"--topic", "orders:0"};
        char *a5[] = {"--bogus"};
        char *a6[] = {"--brokers"};
        (void)state;

        assert_int_equal(kp_embedded_mock_main(2, a1), 2);
        assert_int_equal(kp_embedded_mock_main(2, a2), 2);
        assert_int_equal(kp_embedded_mock_main(2, a3), 2);
        assert_int_equal(kp_embedded_mock_main(2, a4), 2);
        assert_int_equal(kp_embedded_mock_main(1, a5), 2);
        assert_int_equal(kp_embedded_mock_main(1, a6), 2);
}

/* Reads one line from @p fp into @p buf, failing the test on EOF. */
static void read_line(FILE *fp, char *buf, size_t size)
{
        assert_non_null(fgets(buf, (int)size, fp));
        buf[strcspn(buf, "\n")] = '\0';
}

/* Runs `kcat -b @p bootstrap -L` and @returns its output (malloc'd) or NULL. */
static char *kcat_list(const char *bootstrap)
{
        char cmd[1024], chunk[4096];
        size_t len = 0, r;
        char *out = calloc(1, 65536);
        FILE *p;

        snprintf(cmd, sizeof(cmd), "timeout 10 kcat -b '%s' -L -m 5 2>&1", bootstrap);
        p = popen(cmd, "r");
        assert_non_null(p);
        while ((r = fread(chunk, 1, sizeof(chunk), p)) > 0 && len + r < 65535) {
                memcpy(out + len, chunk, r);
                len += r;
        }
        pclose(p);
        return out;
}

static void test_mock_command_serves_kcat_takes_commands_and_stops_on_sigterm(void **state)
{
        int in[2], out[2], status;
        char line[512];
        char *listing;
        FILE *from;
        pid_t pid;
        int64_t t0;
        (void)state;

        if (system("command -v kcat >/dev/null 2>&1") != 0)
                skip();
        assert_int_equal(pipe(in), 0);
        assert_int_equal(pipe(out), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                /* exec a fresh copy of this program: no librdkafka state across fork. */
                dup2(in[0], STDIN_FILENO);
                dup2(out[1], STDOUT_FILENO);
                close(in[1]);
                close(out[0]);
                execl("/proc/self/exe", "test_embedded", "--mock", "--brokers", "2", "--topic",
                      "orders:10", "--topic", "payments:3", (char *)NULL);
                _exit(127);
        }
        close(in[0]);
        close(out[1]);
        from = fdopen(out[0], "r");
        assert_non_null(from);

        read_line(from, line, sizeof(line));
        assert_non_null(strstr(line, "127.0.0.1:"));
        listing = kcat_list(line);
        print_message("    kcat -L against %s:\n%s", line, listing);
        assert_non_null(strstr(listing, "2 brokers"));
        assert_non_null(strstr(listing, "topic \"orders\" with 10 partitions"));
        assert_non_null(strstr(listing, "topic \"payments\" with 3 partitions"));
        free(listing);

        assert_true(write(in[1], "down 1\n", 7) == 7);
        read_line(from, line, sizeof(line));
        assert_string_equal(line, "ok down 1");
        assert_true(write(in[1], "up 1\ntopic extra:2\ndown 9\nfly\n", 30) == 30);
        read_line(from, line, sizeof(line));
        assert_string_equal(line, "ok up 1");
        read_line(from, line, sizeof(line));
        assert_string_equal(line, "ok topic extra:2");
        read_line(from, line, sizeof(line));
        assert_true(!strncmp(line, "error down", 10));
        read_line(from, line, sizeof(line));
        assert_true(!strncmp(line, "error fly", 9));

        t0 = kp_time_mono_ms();
        assert_int_equal(kill(pid, SIGTERM), 0);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        print_message("    SIGTERM to exit: %lld ms\n", (long long)(kp_time_mono_ms() - t0));
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        assert_true(kp_time_mono_ms() - t0 < 3000);
        close(in[1]);
        fclose(from);
}

/* A command line over KP_EMBEDDED_MOCK_LINE_MAX is answered with an error and skipped
 * whole: its first bytes were dropped silently and the rest ran as a command of its own. */
static void test_mock_answers_a_line_too_long_and_skips_all_of_it(void **state)
{
        int in[2], out[2], status;
        char line[512];
        FILE *from;
        pid_t pid;
        (void)state;

        assert_int_equal(pipe(in), 0);
        assert_int_equal(pipe(out), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                dup2(in[0], STDIN_FILENO);
                dup2(out[1], STDOUT_FILENO);
                close(in[1]);
                close(out[0]);
                execl("/proc/self/exe", "test_embedded", "--mock", (char *)NULL);
                _exit(127);
        }
        close(in[0]);
        close(out[1]);
        from = fdopen(out[0], "r");
        assert_non_null(from);
        read_line(from, line, sizeof(line));
        assert_non_null(strstr(line, "127.0.0.1:"));

        /* "topic " and a name far past the limit: no part of it may create a topic */
        size_t n = 3 * KP_EMBEDDED_MOCK_LINE_MAX;
        char *cmd = malloc(n + 2);
        memcpy(cmd, "topic ", 6);
        memset(cmd + 6, 'a', n - 6);
        memcpy(cmd + n - 2, ":1", 2);
        cmd[n] = '\n';
        cmd[n + 1] = '\0';
        assert_true(write(in[1], cmd, n + 1) == (ssize_t)(n + 1));
        assert_true(write(in[1], "up 1\nstop\n", 10) == 10);
        read_line(from, line, sizeof(line));
        char want[64];
        snprintf(want, sizeof(want), "error line: longer than %d bytes", KP_EMBEDDED_MOCK_LINE_MAX);
        assert_string_equal(line, want);
        read_line(from, line, sizeof(line));
        assert_string_equal(line, "ok up 1");
        read_line(from, line, sizeof(line));
        assert_string_equal(line, "ok stop");
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        free(cmd);
        close(in[1]);
        fclose(from);
}

/* @returns topics of @p k x @p n partitions named <prefix>0.. (new reference). */
static json_t *topics_of(const char *prefix, int k, int n)
{
        json_t *a = json_array();
        for (int i = 0; i < k; i++) {
                char name[64];
                snprintf(name, sizeof(name), "%s%d", prefix, i);
                json_array_append_new(a, json_pack("{s:s, s:i}", "name", name, "partitions", n));
        }
        return a;
}

/* Partitions per embedded cluster and per process are capped before anything starts (a
 * 422 naming the limit and the value); a replaced cluster's partitions count as gone. */
static void test_partition_limits_refuse_before_starting_anything(void **state)
{
        char err[256];
        kp_embedded_t *emb = kp_embedded_new();
        (void)state;
        const int per_topic = KP_EMBEDDED_PARTITIONS_MAX;
        const int k = KP_EMBEDDED_CLUSTER_PARTITIONS_MAX / per_topic;
        json_t *too_big = topics_of("t", k + 1, per_topic), *full = topics_of("t", k, per_topic);
        json_t *one = topics_of("x", 1, 1);
        assert_int_equal(kp_embedded_start(emb, "big", 1, too_big, NULL, err, sizeof(err)),
                         KP_ERR_UNPROCESSABLE);
        assert_non_null(strstr(err, "per embedded cluster"));
        char want[64];
        snprintf(want, sizeof(want), "%d", (k + 1) * per_topic);
        assert_non_null(strstr(err, want));
        assert_null(kp_embedded_bootstrap(emb, "big"));
        /* fill the process's budget, then one partition more is refused */
        int n = 0;
        for (; (n + 1) * KP_EMBEDDED_CLUSTER_PARTITIONS_MAX <= KP_EMBEDDED_PROCESS_PARTITIONS_MAX;
             n++) {
                char name[16];
                snprintf(name, sizeof(name), "c%d", n);
                assert_int_equal(kp_embedded_start(emb, name, 1, full, NULL, err, sizeof(err)), 0);
        }
        assert_int_equal(kp_embedded_start(emb, "more", 1, one, NULL, err, sizeof(err)),
                         KP_ERR_UNPROCESSABLE);
        assert_non_null(strstr(err, "per process"));
        assert_null(kp_embedded_bootstrap(emb, "more"));
        assert_int_equal(kp_embedded_topic_create(emb, "c0", "extra", 1, err, sizeof(err)),
                         KP_ERR_UNPROCESSABLE);
        /* replacing a cluster by one as big fits; a stop frees its share */
        assert_int_equal(kp_embedded_start(emb, "c0", 1, full, NULL, err, sizeof(err)), 0);
        assert_int_equal(kp_embedded_stop(emb, "c0"), 0);
        assert_int_equal(kp_embedded_start(emb, "more", 1, one, NULL, err, sizeof(err)), 0);
        json_decref(too_big);
        json_decref(full);
        json_decref(one);
        kp_embedded_destroy(emb);
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_start_gives_bootstrap_and_stop_removes_the_cluster),
                cmocka_unit_test(test_start_rejects_bad_names_broker_counts_and_topics),
                cmocka_unit_test(test_partition_limits_refuse_before_starting_anything),
                cmocka_unit_test(test_restart_recreates_the_same_topics_empty_on_a_new_address),
                cmocka_unit_test(test_two_clusters_run_at_once_with_their_own_topics),
                cmocka_unit_test(test_topic_create_adds_a_topic_and_refuses_duplicates),
                cmocka_unit_test(test_broker_down_stops_answering_and_up_answers_again),
                cmocka_unit_test(test_broker_rtt_delays_its_answers_until_set_back),
                cmocka_unit_test(test_outside_clients_produce_consume_commit_and_reconnect),
                cmocka_unit_test(test_mock_main_usage_errors_exit_2),
                cmocka_unit_test(test_mock_command_serves_kcat_takes_commands_and_stops_on_sigterm),
                cmocka_unit_test(test_mock_answers_a_line_too_long_and_skips_all_of_it),
        };

        /* The child of the `kplane mock` test: this binary stands in for kplane. */
        if (argc > 1 && !strcmp(argv[1], "--mock"))
                return kp_embedded_mock_main(argc - 2, argv + 2);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
