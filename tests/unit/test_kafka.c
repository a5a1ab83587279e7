/* test_kafka.c — config checks, bounded metadata and group-offset reads, on embedded clusters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kafka/client_conf.h"
#include "base/config.h"
#include "kafka/embedded.h"
#include "base/err.h"
#include "kafka/kafka.h"
#include "base/util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static json_t *parse(const char *text)
{
        json_error_t jerr;
        json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);
        assert_non_null(j);
        return j;
}

/* Validates @p text and @returns the kp_err, leaving the message in @p errstr. */
static int validate(const char *text, char *errstr, size_t size)
{
        json_t *config = parse(text);
        int err;

        errstr[0] = '\0';
        err = kp_kafka_config_validate(config, errstr, size);
        json_decref(config);
        return err;
}

static void test_config_validate_accepts_known_properties_of_any_scalar_type(void **state)
{
        char errstr[512];
        (void)state;

        assert_int_equal(validate("{\"security.protocol\": \"PLAINTEXT\","
                                  " \"session.timeout.ms\": 45000,"
                                  " \"socket.keepalive.enable\": true,"
                                  " \"fetch.wait.max.ms\": 100.0,"
                                  " \"client.id\": \"reporting\","
                                  " \"auto.offset.reset\": \"earliest\"}",
                                  errstr, sizeof(errstr)),
                         0);
        assert_int_equal(validate("{}", errstr, sizeof(errstr)), 0);
        assert_int_equal(kp_kafka_config_validate(NULL, errstr, sizeof(errstr)), 0);
}

static void test_config_validate_rejects_unknown_property_naming_it(void **state)
{
        char errstr[512];
        (void)state;

        assert_int_equal(
                validate("{\"client.id\": \"x\", \"no.such.prop\": 1}", errstr, sizeof(errstr)),
                KP_ERR_INVALID);
        assert_non_null(strstr(errstr, "config.no.such.prop"));
}

static void test_config_validate_rejects_bad_value_naming_the_property(void **state)
{
        char errstr[512];
        (void)state;

        assert_int_equal(validate("{\"session.timeout.ms\": \"abc\"}", errstr, sizeof(errstr)),
                         KP_ERR_INVALID);
        assert_non_null(strstr(errstr, "session.timeout.ms"));
        assert_int_equal(
                validate("{\"security.protocol\": \"CARRIER_PIGEON\"}", errstr, sizeof(errstr)),
                KP_ERR_INVALID);
        assert_non_null(strstr(errstr, "security.protocol"));
        /* Out of librdkafka's range (1..3600000). */
        assert_int_equal(validate("{\"session.timeout.ms\": -5}", errstr, sizeof(errstr)),
                         KP_ERR_INVALID);
}

static void test_config_validate_refuses_properties_kplane_owns(void **state)
{
        static const char *owned[] = {
                "{\"bootstrap.servers\": \"k:9092\"}",
                "{\"metadata.broker.list\": \"k:9092\"}",
                "{\"group.id\": \"g\"}",
                "{\"enable.auto.commit\": true}",
                "{\"enable.auto.offset.store\": false}",
                "{\"test.mock.num.brokers\": 3}",
        };
        char errstr[512];
        size_t i;
        (void)state;

        for (i = 0; i < sizeof(owned) / sizeof(owned[0]); i++) {
                assert_int_equal(validate(owned[i], errstr, sizeof(errstr)), KP_ERR_INVALID);
                assert_non_null(strstr(errstr, "set by kplane"));
        }
}

static void test_config_validate_refuses_non_objects_and_nested_values(void **state)
{
        static const char *bad[] = {
                "[]",
                "\"client.id=x\"",
                "42",
                "{\"client.id\": null}",
                "{\"client.id\": [\"a\"]}",
                "{\"client.id\": {\"a\": 1}}",
        };
        char errstr[512];
        size_t i;
        (void)state;

        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_int_equal(validate(bad[i], errstr, sizeof(errstr)), KP_ERR_INVALID);
}

static void test_config_validate_refuses_combination_the_consumer_refuses(void **state)
{
        char errstr[512];
        (void)state;

        /* Each property is valid alone; rd_kafka_new of the consumer refuses the pair
         * (message.max.bytes defaults to 1000000). */
        assert_int_equal(validate("{\"fetch.max.bytes\": \"1000\"}", errstr, sizeof(errstr)),
                         KP_ERR_INVALID);
        assert_true(!strncmp(errstr, "config: ", 8));
        assert_non_null(strstr(errstr, "fetch.max.bytes"));
        /* The same property in a combination that holds is fine. */
        assert_int_equal(validate("{\"fetch.max.bytes\": 1000, \"message.max.bytes\": 1000}",
                                  errstr, sizeof(errstr)),
                         0);
}

static void test_config_validate_refuses_combination_the_metadata_producer_refuses(void **state)
{
        char errstr[512];
        (void)state;

        /* A consumer ignores both; the producer kplane reads metadata with refuses them. */
        assert_int_equal(
                validate("{\"enable.idempotence\": true, \"acks\": \"1\"}", errstr, sizeof(errstr)),
                KP_ERR_INVALID);
        assert_true(!strncmp(errstr, "config: ", 8));
        assert_non_null(strstr(errstr, "acks"));
}

static void test_config_validate_of_a_whole_config_takes_milliseconds(void **state)
{
        char errstr[512];
        int64_t t0, elapsed;
        int i;
        (void)state;

        t0 = kp_time_mono_ms();
        for (i = 0; i < 10; i++)
                assert_int_equal(validate("{\"security.protocol\": \"PLAINTEXT\","
                                          " \"fetch.max.bytes\": 2000000,"
                                          " \"session.timeout.ms\": 45000}",
                                          errstr, sizeof(errstr)),
                                 0);
        elapsed = kp_time_mono_ms() - t0;
        print_message("    10 validations with two throwaway clients each: %lld ms\n",
                      (long long)elapsed);
        /* No connection is made: it costs client starts, not a network wait. */
        assert_true(elapsed < 2000);
}

static void test_consumer_conf_new_puts_kplane_properties_after_the_users(void **state)
{
        json_t *config = parse("{\"client.id\": \"mine\", \"queued.max.messages.kbytes\": 1024,"
                               " \"auto.offset.reset\": \"latest\"}");
        char errstr[512], v[256];
        size_t vsize;
        rd_kafka_conf_t *conf;
        static const char *const want[][2] = {
                {"bootstrap.servers", "h:1"},
                {"group.id", "orders"},
                {"enable.auto.commit", "false"},
                {"enable.auto.offset.store", "false"},
                {"enable.partition.eof", "false"},
                {"client.id", "kplane-orders"},
                /* the user's value of a default kplane only suggests */
                {"queued.max.messages.kbytes", "1024"},
        };
        size_t i;
        (void)state;

        conf = kp_kafka_consumer_conf_new("h:1", config, "orders", "earliest", errstr,
                                          sizeof(errstr));
        assert_non_null(conf);
        for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
                vsize = sizeof(v);
                assert_int_equal(rd_kafka_conf_get(conf, want[i][0], v, &vsize), 0);
                assert_string_equal(v, want[i][1]);
        }
        /* auto.offset.reset is a topic property: the default topic conf holds it. */
        rd_kafka_topic_conf_t *tconf = rd_kafka_conf_get_default_topic_conf(conf);
        assert_non_null(tconf);
        vsize = sizeof(v);
        assert_int_equal(rd_kafka_topic_conf_get(tconf, "auto.offset.reset", v, &vsize), 0);
        assert_string_equal(v, "smallest");
        rd_kafka_conf_destroy(conf);
        json_decref(config);

        conf = kp_kafka_consumer_conf_new(NULL, NULL, "g", NULL, errstr, sizeof(errstr));
        assert_non_null(conf);
        vsize = sizeof(v);
        assert_int_equal(rd_kafka_conf_get(conf, "queued.max.messages.kbytes", v, &vsize), 0);
        snprintf(errstr, sizeof(errstr), "%d", KP_RUNTIME_QUEUED_MAX_KBYTES);
        assert_string_equal(v, errstr);
        rd_kafka_conf_destroy(conf);

        config = parse("{\"group.id\": \"other\"}");
        assert_null(kp_kafka_consumer_conf_new("h:1", config, "g", NULL, errstr, sizeof(errstr)));
        assert_non_null(strstr(errstr, "set by kplane"));
        json_decref(config);
}

/* A lane's partitions all forward to a few worker queues, and librdkafka checks its queue
 * thresholds there: a partition that finds the queue full asks again after
 * fetch.queue.backoff.ms, which kplane shortens from librdkafka's 1 s (the ~1 s stalls of
 * issue 17's consumption bench); a cluster's config may set its own. Before, it was 1 s
 * and a cluster could not set it. */
static void test_consumer_conf_new_looks_at_a_full_fetch_queue_again_soon(void **state)
{
        json_t *config = parse("{\"fetch.queue.backoff.ms\": 100}");
        char errstr[512], v[64];
        size_t vsize = sizeof(v);
        rd_kafka_conf_t *conf;
        (void)state;

        conf = kp_kafka_consumer_conf_new("h:1", NULL, "g", NULL, errstr, sizeof(errstr));
        assert_non_null(conf);
        assert_int_equal(rd_kafka_conf_get(conf, "fetch.queue.backoff.ms", v, &vsize), 0);
        assert_string_equal(v, KP_STR(KP_RUNTIME_FETCH_QUEUE_BACKOFF_MS));
        assert_true(KP_RUNTIME_FETCH_QUEUE_BACKOFF_MS < 1000);
        rd_kafka_conf_destroy(conf);

        conf = kp_kafka_consumer_conf_new("h:1", config, "g", NULL, errstr, sizeof(errstr));
        if (!conf)
                fail_msg("conf: %s", errstr);
        vsize = sizeof(v);
        assert_int_equal(rd_kafka_conf_get(conf, "fetch.queue.backoff.ms", v, &vsize), 0);
        assert_string_equal(v, "100");
        rd_kafka_conf_destroy(conf);
        json_decref(config);
}

static void test_conf_new_sets_bootstrap_user_properties_and_no_auto_create(void **state)
{
        json_t *config = parse("{\"client.id\": \"mine\", \"socket.keepalive.enable\": true}");
        char errstr[512], v[256];
        size_t vsize;
        rd_kafka_conf_t *conf;
        (void)state;

        conf = kp_kafka_conf_new("h1:9092,h2:9092", config, errstr, sizeof(errstr));
        assert_non_null(conf);
        vsize = sizeof(v);
        assert_int_equal(rd_kafka_conf_get(conf, "bootstrap.servers", v, &vsize), 0);
        assert_string_equal(v, "h1:9092,h2:9092");
        vsize = sizeof(v);
        assert_int_equal(rd_kafka_conf_get(conf, "client.id", v, &vsize), 0);
        assert_string_equal(v, "mine");
        vsize = sizeof(v);
        assert_int_equal(rd_kafka_conf_get(conf, "allow.auto.create.topics", v, &vsize), 0);
        assert_string_equal(v, "false");
        rd_kafka_conf_destroy(conf);
        json_decref(config);

        config = parse("{\"group.id\": \"g\"}");
        assert_null(kp_kafka_conf_new("h:1", config, errstr, sizeof(errstr)));
        assert_null(kp_kafka_client_conf_new("h:1", config, errstr, sizeof(errstr)));
        json_decref(config);
}

/* Fixture: one embedded 3-broker cluster with two topics and an internal one. */
typedef struct fixture {
        kp_embedded_t *emb;
        char *bootstrap;
} fixture_t;

static int setup_cluster(void **state)
{
        fixture_t *f = calloc(1, sizeof(*f));
        json_t *topics = parse("[{\"name\": \"payments\", \"partitions\": 3},"
                               " {\"name\": \"orders\", \"partitions\": 10},"
                               " {\"name\": \"__internal\", \"partitions\": 2}]");
        char errstr[512];

        assert_non_null(f);
        f->emb = kp_embedded_new();
        assert_non_null(f->emb);
        assert_int_equal(
                kp_embedded_start(f->emb, "meta", 3, topics, &f->bootstrap, errstr, sizeof(errstr)),
                0);
        json_decref(topics);
        *state = f;
        return 0;
}

static int teardown_cluster(void **state)
{
        fixture_t *f = *state;
        kp_embedded_destroy(f->emb);
        free(f->bootstrap);
        free(f);
        return 0;
}

static void test_metadata_lists_brokers_and_topics_sorted_without_internal(void **state)
{
        fixture_t *f = *state;
        kp_kafka_metadata_t *md = NULL;
        char errstr[512];
        size_t i;

        assert_int_equal(kp_kafka_metadata_fetch(f->bootstrap, NULL, NULL, 3000, &md, errstr,
                                                 sizeof(errstr)),
                         0);
        assert_non_null(md);
        assert_int_equal(md->broker_cnt, 3);
        for (i = 0; i < 3; i++) {
                assert_int_equal(md->brokers[i].id, (int32_t)i + 1);
                assert_true(md->brokers[i].port > 0);
                assert_non_null(strstr(f->bootstrap, md->brokers[i].host));
        }
        assert_int_equal(md->topic_cnt, 2);
        assert_string_equal(md->topics[0].name, "orders");
        assert_int_equal(md->topics[0].partitions, 10);
        assert_int_equal(md->topics[0].error, 0);
        assert_string_equal(md->topics[1].name, "payments");
        assert_int_equal(md->topics[1].partitions, 3);
        assert_int_equal(kp_kafka_metadata_partitions(md, "orders"), 10);
        assert_int_equal(kp_kafka_metadata_partitions(md, "__internal"), -1);
        assert_int_equal(kp_kafka_metadata_partitions(md, "absent"), -1);
        kp_kafka_metadata_destroy(md);
}

static void test_metadata_of_one_topic_reads_only_that_topic(void **state)
{
        fixture_t *f = *state;
        kp_kafka_metadata_t *md = NULL;
        char errstr[512];

        assert_int_equal(kp_kafka_metadata_fetch(f->bootstrap, NULL, "payments", 3000, &md, errstr,
                                                 sizeof(errstr)),
                         0);
        assert_int_equal(md->topic_cnt, 1);
        assert_string_equal(md->topics[0].name, "payments");
        assert_int_equal(kp_kafka_metadata_partitions(md, "payments"), 3);
        kp_kafka_metadata_destroy(md);
}

static void test_metadata_of_unknown_topic_is_an_error_and_does_not_create_it(void **state)
{
        fixture_t *f = *state;
        kp_kafka_metadata_t *md = NULL;
        char errstr[512];
        /* A user asking for auto-creation must not get it either (not in the allow-list:
         * an operator would have to add it). */
        json_t *config = parse("{\"allow.auto.create.topics\": true}");
        kp_client_policy_install(
                kp_client_policy_new("allow.auto.create.topics", NULL, errstr, sizeof(errstr)));

        assert_int_equal(kp_kafka_metadata_fetch(f->bootstrap, config, "ghost", 3000, &md, errstr,
                                                 sizeof(errstr)),
                         0);
        assert_int_equal(md->topic_cnt, 1);
        assert_string_equal(md->topics[0].name, "ghost");
        assert_int_equal(md->topics[0].error, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
        assert_int_equal(md->topics[0].partitions, 0);
        assert_int_equal(kp_kafka_metadata_partitions(md, "ghost"), -1);
        kp_kafka_metadata_destroy(md);
        json_decref(config);
        kp_client_policy_install(NULL);

        md = NULL;
        assert_int_equal(kp_kafka_metadata_fetch(f->bootstrap, NULL, NULL, 3000, &md, errstr,
                                                 sizeof(errstr)),
                         0);
        assert_int_equal(md->topic_cnt, 2);
        assert_int_equal(kp_kafka_metadata_partitions(md, "ghost"), -1);
        kp_kafka_metadata_destroy(md);
}

static void test_metadata_with_bad_config_is_invalid(void **state)
{
        fixture_t *f = *state;
        kp_kafka_metadata_t *md = NULL;
        char errstr[512];
        json_t *config = parse("{\"no.such.prop\": 1}");

        assert_int_equal(kp_kafka_metadata_fetch(f->bootstrap, config, NULL, 3000, &md, errstr,
                                                 sizeof(errstr)),
                         KP_ERR_INVALID);
        assert_null(md);
        assert_non_null(strstr(errstr, "no.such.prop"));
        json_decref(config);
}

/* Fetches from @p bootstrap with @p timeout_ms and asserts KP_ERR_UNAVAILABLE within the
 * timeout plus 1.5 s (client start and destroy included). */
static void assert_unavailable_within_bound(const char *bootstrap, int timeout_ms)
{
        kp_kafka_metadata_t *md = NULL;
        char errstr[512];
        int64_t t0, elapsed;

        t0 = kp_time_mono_ms();
        assert_int_equal(kp_kafka_metadata_fetch(bootstrap, NULL, "orders", timeout_ms, &md, errstr,
                                                 sizeof(errstr)),
                         KP_ERR_UNAVAILABLE);
        elapsed = kp_time_mono_ms() - t0;
        print_message("    %s, timeout %d ms: unavailable after %lld ms (%s)\n", bootstrap,
                      timeout_ms, (long long)elapsed, errstr);
        assert_null(md);
        assert_true(elapsed <= timeout_ms + 1500);
}

static void test_metadata_of_refusing_address_is_unavailable_within_bound(void **state)
{
        (void)state;
        assert_unavailable_within_bound("127.0.0.1:1", 1000);
        assert_unavailable_within_bound("127.0.0.1:1", 2500);
}

/* A "black hole" on loopback: a listening socket nobody accepts on or answers. The
 * kernel completes the handshake (backlog), so the client connects, sends ApiVersion
 * and waits: the slowest failure a cluster can show. (Tests send nothing beyond
 * 127.0.0.1.) @returns the socket; *bootstrapp = "127.0.0.1:PORT" (free it). */
static int silent_listener(char **bootstrapp)
{
        struct sockaddr_in a;
        socklen_t alen = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        char buf[64];

        assert_true(fd >= 0);
        memset(&a, 0, sizeof(a));
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        assert_int_equal(listen(fd, 16), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
        snprintf(buf, sizeof(buf), "127.0.0.1:%d", ntohs(a.sin_port));
        *bootstrapp = strdup(buf);
        return fd;
}

static void test_metadata_of_black_holed_address_is_unavailable_within_bound(void **state)
{
        char *bootstrap = NULL;
        int fd = silent_listener(&bootstrap);
        (void)state;

        assert_unavailable_within_bound(bootstrap, 1000);
        close(fd);
        free(bootstrap);
}

static void test_metadata_of_stopped_embedded_cluster_is_unavailable(void **state)
{
        kp_embedded_t *emb = kp_embedded_new();
        char *bootstrap = NULL;
        char errstr[512];
        (void)state;

        assert_int_equal(
                kp_embedded_start(emb, "gone", 1, NULL, &bootstrap, errstr, sizeof(errstr)), 0);
        assert_int_equal(kp_embedded_stop(emb, "gone"), 0);
        assert_unavailable_within_bound(bootstrap, 1000);
        free(bootstrap);
        kp_embedded_destroy(emb);
}

/* Produces @p n one-byte messages into @p topic [@p partition] and waits for them. */
static void produce_n(const char *bootstrap, const char *topic, int32_t partition, int n)
{
        char errstr[512];
        rd_kafka_conf_t *conf = kp_kafka_client_conf_new(bootstrap, NULL, errstr, sizeof(errstr));
        rd_kafka_t *rk;
        int i;

        assert_non_null(conf);
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        assert_non_null(rk);
        for (i = 0; i < n; i++)
                assert_int_equal(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
                                                   RD_KAFKA_V_PARTITION(partition),
                                                   RD_KAFKA_V_VALUE("x", 1), RD_KAFKA_V_END),
                                 0);
        assert_int_equal(rd_kafka_flush(rk, 10000), 0);
        rd_kafka_destroy(rk);
}

/* Commits @p offset for group @p group on @p topic [@p partition], as kplane's runtime
 * does (a consumer of the group that never joins it). */
static void commit_offset(const char *bootstrap, const char *group, const char *topic,
                          int32_t partition, int64_t offset)
{
        char errstr[512];
        rd_kafka_conf_t *conf =
                kp_kafka_consumer_conf_new(bootstrap, NULL, group, NULL, errstr, sizeof(errstr));
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_t *rk;

        assert_non_null(conf);
        rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
        assert_non_null(rk);
        rd_kafka_topic_partition_list_add(l, topic, partition)->offset = offset;
        assert_int_equal(rd_kafka_commit(rk, l, 0), 0);
        rd_kafka_topic_partition_list_destroy(l);
        rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
}

static void test_group_offsets_reads_committed_offsets_and_high_watermarks(void **state)
{
        fixture_t *f = *state;
        kp_kafka_group_offset_t offs[] = {
                {.topic = "payments", .partition = 0},
                {.topic = "payments", .partition = 1},
                {.topic = "payments", .partition = 2},
                {.topic = "orders", .partition = 7},
        };
        char errstr[512];
        int64_t t0;

        produce_n(f->bootstrap, "payments", 0, 10);
        produce_n(f->bootstrap, "payments", 1, 4);
        produce_n(f->bootstrap, "orders", 7, 3);
        commit_offset(f->bootstrap, "reporting", "payments", 0, 6);
        commit_offset(f->bootstrap, "reporting", "orders", 7, 3);

        t0 = kp_time_mono_ms();
        assert_int_equal(kp_kafka_group_offsets(f->bootstrap, NULL, "reporting", offs, 4, 3000,
                                                errstr, sizeof(errstr)),
                         0);
        print_message("    committed offsets and high watermarks of 4 partitions: %lld ms\n",
                      (long long)(kp_time_mono_ms() - t0));
        assert_int_equal(offs[0].committed, 6);
        assert_int_equal(offs[0].high_watermark, 10);
        assert_int_equal(offs[0].err, 0);
        /* Nothing committed there: -1, and no error. */
        assert_int_equal(offs[1].committed, -1);
        assert_int_equal(offs[1].high_watermark, 4);
        assert_int_equal(offs[1].err, 0);
        assert_int_equal(offs[2].committed, -1);
        assert_int_equal(offs[2].high_watermark, 0);
        assert_int_equal(offs[2].err, 0);
        assert_int_equal(offs[3].committed, 3);
        assert_int_equal(offs[3].high_watermark, 3);

        /* Another group's offsets are its own. */
        assert_int_equal(kp_kafka_group_offsets(f->bootstrap, NULL, "never-ran", offs, 4, 3000,
                                                errstr, sizeof(errstr)),
                         0);
        for (size_t i = 0; i < 4; i++) {
                assert_int_equal(offs[i].committed, -1);
                assert_int_equal(offs[i].err, 0);
        }
        assert_int_equal(offs[0].high_watermark, 10);
}

static void test_group_offsets_of_unknown_partition_is_an_error_and_creates_nothing(void **state)
{
        fixture_t *f = *state;
        kp_kafka_group_offset_t offs[] = {
                {.topic = "payments", .partition = 0},
                {.topic = "payments", .partition = 99},
                {.topic = "ghost", .partition = 0},
        };
        kp_kafka_metadata_t *md = NULL;
        char errstr[512];

        assert_int_equal(kp_kafka_group_offsets(f->bootstrap, NULL, "reporting", offs, 3, 3000,
                                                errstr, sizeof(errstr)),
                         0);
        assert_int_equal(offs[0].err, 0);
        assert_int_equal(offs[0].high_watermark, 0);
        assert_int_equal(offs[1].err, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
        assert_int_equal(offs[1].high_watermark, -1);
        assert_int_equal(offs[2].err, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
        assert_int_equal(offs[2].high_watermark, -1);
        /* Asking did not create the topic (the mock creates what a request names). */
        assert_int_equal(kp_kafka_metadata_fetch(f->bootstrap, NULL, NULL, 3000, &md, errstr,
                                                 sizeof(errstr)),
                         0);
        assert_int_equal(kp_kafka_metadata_partitions(md, "ghost"), -1);
        kp_kafka_metadata_destroy(md);
}

static void test_group_offsets_with_bad_config_is_invalid(void **state)
{
        kp_kafka_group_offset_t offs[] = {{.topic = "t", .partition = 0}};
        json_t *config = parse("{\"fetch.max.bytes\": 1000}");
        char errstr[512];
        (void)state;

        assert_int_equal(kp_kafka_group_offsets("127.0.0.1:1", config, "g", offs, 1, 1000, errstr,
                                                sizeof(errstr)),
                         KP_ERR_INVALID);
        assert_non_null(strstr(errstr, "fetch.max.bytes"));
        assert_int_equal(offs[0].committed, -1);
        json_decref(config);
        assert_int_equal(
                kp_kafka_group_offsets("", NULL, "g", offs, 1, 1000, errstr, sizeof(errstr)),
                KP_ERR_INVALID);
}

/* Reads group offsets from @p bootstrap, which does not answer, and asserts
 * KP_ERR_UNAVAILABLE within the timeout plus 1.5 s, every entry unread. */
static void assert_group_offsets_unavailable_within_bound(const char *bootstrap, int timeout_ms)
{
        kp_kafka_group_offset_t offs[] = {{.topic = "orders", .partition = 0},
                                          {.topic = "orders", .partition = 1}};
        char errstr[512];
        int64_t t0, elapsed;

        t0 = kp_time_mono_ms();
        assert_int_equal(kp_kafka_group_offsets(bootstrap, NULL, "g", offs, 2, timeout_ms, errstr,
                                                sizeof(errstr)),
                         KP_ERR_UNAVAILABLE);
        elapsed = kp_time_mono_ms() - t0;
        print_message("    group offsets of %s, timeout %d ms: unavailable after %lld ms (%s)\n",
                      bootstrap, timeout_ms, (long long)elapsed, errstr);
        assert_true(elapsed <= timeout_ms + 1500);
        for (size_t i = 0; i < 2; i++) {
                assert_int_not_equal(offs[i].err, 0);
                assert_int_equal(offs[i].committed, -1);
                assert_int_equal(offs[i].high_watermark, -1);
        }
}

static void test_group_offsets_of_unreachable_cluster_is_unavailable_within_bound(void **state)
{
        char *bootstrap = NULL;
        int fd = silent_listener(&bootstrap);
        (void)state;

        assert_group_offsets_unavailable_within_bound("127.0.0.1:1", 1000);
        assert_group_offsets_unavailable_within_bound(bootstrap, 1000);
        assert_group_offsets_unavailable_within_bound(bootstrap, 2500);
        close(fd);
        free(bootstrap);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_config_validate_accepts_known_properties_of_any_scalar_type),
                cmocka_unit_test(test_config_validate_rejects_unknown_property_naming_it),
                cmocka_unit_test(test_config_validate_rejects_bad_value_naming_the_property),
                cmocka_unit_test(test_config_validate_refuses_properties_kplane_owns),
                cmocka_unit_test(test_config_validate_refuses_non_objects_and_nested_values),
                cmocka_unit_test(test_config_validate_refuses_combination_the_consumer_refuses),
                cmocka_unit_test(
                        test_config_validate_refuses_combination_the_metadata_producer_refuses),
                cmocka_unit_test(test_config_validate_of_a_whole_config_takes_milliseconds),
                cmocka_unit_test(test_consumer_conf_new_puts_kplane_properties_after_the_users),
                cmocka_unit_test(test_consumer_conf_new_looks_at_a_full_fetch_queue_again_soon),
                cmocka_unit_test(test_conf_new_sets_bootstrap_user_properties_and_no_auto_create),
                cmocka_unit_test_setup_teardown(
                        test_metadata_lists_brokers_and_topics_sorted_without_internal,
                        setup_cluster, teardown_cluster),
                cmocka_unit_test_setup_teardown(test_metadata_of_one_topic_reads_only_that_topic,
                                                setup_cluster, teardown_cluster),
                cmocka_unit_test_setup_teardown(
                        test_metadata_of_unknown_topic_is_an_error_and_does_not_create_it,
                        setup_cluster, teardown_cluster),
                cmocka_unit_test_setup_teardown(test_metadata_with_bad_config_is_invalid,
                                                setup_cluster, teardown_cluster),
                cmocka_unit_test(test_metadata_of_refusing_address_is_unavailable_within_bound),
                cmocka_unit_test(test_metadata_of_black_holed_address_is_unavailable_within_bound),
                cmocka_unit_test(test_metadata_of_stopped_embedded_cluster_is_unavailable),
                cmocka_unit_test_setup_teardown(
                        test_group_offsets_reads_committed_offsets_and_high_watermarks,
                        setup_cluster, teardown_cluster),
                cmocka_unit_test_setup_teardown(
                        test_group_offsets_of_unknown_partition_is_an_error_and_creates_nothing,
                        setup_cluster, teardown_cluster),
                cmocka_unit_test(test_group_offsets_with_bad_config_is_invalid),
                cmocka_unit_test(
                        test_group_offsets_of_unreachable_cluster_is_unavailable_within_bound),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
