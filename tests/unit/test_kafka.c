/* test_kafka.c — config validation and bounded metadata reads, against embedded clusters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config.h"
#include "embedded.h"
#include "err.h"
#include "kafka.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        /* A user asking for auto-creation must not get it either. */
        json_t *config = parse("{\"allow.auto.create.topics\": true}");

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

static void test_metadata_of_black_holed_address_is_unavailable_within_bound(void **state)
{
        (void)state;
        /* TEST-NET-1 (RFC 5737): nothing answers there, SYNs vanish or are refused. */
        assert_unavailable_within_bound("192.0.2.1:9092", 1000);
        /* A name that does not resolve. */
        assert_unavailable_within_bound("no-such-host.invalid:9092", 1000);
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

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_config_validate_accepts_known_properties_of_any_scalar_type),
                cmocka_unit_test(test_config_validate_rejects_unknown_property_naming_it),
                cmocka_unit_test(test_config_validate_rejects_bad_value_naming_the_property),
                cmocka_unit_test(test_config_validate_refuses_properties_kplane_owns),
                cmocka_unit_test(test_config_validate_refuses_non_objects_and_nested_values),
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
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
