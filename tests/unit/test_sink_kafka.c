/* test_sink_kafka.c — the Kafka sink against an embedded mock cluster: what arrives, and that
 * precommit is never ahead of the delivery reports. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "base/err.h"
#include "base/util.h"
#include "kafka/embedded.h"
#include "kafka/kafka.h"
#include "sinks/sink.h"
#include "sinks/sink_clusters.h"
#include "sinks/sink_kafka.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static kp_embedded_t *emb;
static char *bootstrap; /* cluster "dst": topics out (3 partitions), keyed (4) */

/* The app's resolver, reduced to the one embedded cluster. */
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

static int setup(void **state)
{
        char err[256];
        (void)state;
        json_t *topics =
                json_pack("[{s:s,s:i},{s:s,s:i},{s:s,s:i}]", "name", "out", "partitions", 3, "name",
                          "keyed", "partitions", 4, "name", "down", "partitions", 1);
        emb = kp_embedded_new();
        int r = kp_embedded_start(emb, "dst", 1, topics, &bootstrap, err, sizeof(err));
        json_decref(topics);
        kp_sink_clusters_set(resolve, NULL);
        return r;
}

static int teardown(void **state)
{
        (void)state;
        kp_sink_clusters_set(NULL, NULL);
        kp_embedded_destroy(emb);
        free(bootstrap);
        return 0;
}

/* The reader of consume(): destroyed only after its messages (rd_kafka_destroy waits for them). */
static rd_kafka_t *reader;

/* Reads @p want records of @p topic (@p nparts partitions) from the beginning into @p out
 * (destroy each, then reader_close); @returns how many arrived within 30 s. */
static int consume(const char *topic, int nparts, int want, rd_kafka_message_t **out)
{
        char err[256];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof(err));
        rd_kafka_conf_set(conf, "group.id", "reader", err, sizeof(err));
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
        assert_non_null(rk);
        rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(nparts);
        for (int p = 0; p < nparts; p++)
                rd_kafka_topic_partition_list_add(parts, topic, p)->offset =
                        RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_assign(rk, parts);
        rd_kafka_topic_partition_list_destroy(parts);
        int n = 0;
        int64_t until = kp_time_mono_ms() + 30000;
        while (n < want && kp_time_mono_ms() < until) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
                if (m && m->err)
                        rd_kafka_message_destroy(m);
                else if (m)
                        out[n++] = m;
        }
        reader = rk;
        return n;
}

static void reader_close(void)
{
        rd_kafka_consumer_close(reader);
        rd_kafka_destroy(reader);
        reader = NULL;
}

static kp_sink_t *sink_open(const char *doc, kp_sink_group_t **sgp)
{
        char err[512];
        json_t *conf = json_loads(doc, 0, NULL);
        assert_non_null(conf);
        assert_int_equal(kp_sink_validate(conf, err, sizeof(err)), 0);
        *sgp = kp_sink_group_open(conf, "g", err, sizeof(err));
        json_decref(conf);
        if (!*sgp)
                fail_msg("group open: %s", err);
        kp_sink_t *s = kp_sink_open(*sgp, 0, err, sizeof(err));
        assert_non_null(s);
        return s;
}

/* A header's value as a string ("" when absent). */
static const char *header(rd_kafka_message_t *m, const char *name, char *buf, size_t size)
{
        rd_kafka_headers_t *h = NULL;
        const void *v;
        size_t len;
        buf[0] = '\0';
        if (!rd_kafka_message_headers(m, &h) && !rd_kafka_header_get_last(h, name, &v, &len) && v &&
            len < size) {
                memcpy(buf, v, len);
                buf[len] = '\0';
        }
        return buf;
}

static void
test_records_arrive_with_key_value_headers_timestamp_on_the_source_partition(void **state)
{
        static const int part_ids[6];
        kp_sink_msg_t msgs[6];
        kp_sink_header_t hdrs[6][2];
        char keys[6][8], vals[6][8], hv[6][8], err[256], buf[64];
        kp_sink_group_t *sg;
        size_t taken;
        (void)state;
        kp_sink_t *s = sink_open("{\"type\":\"kafka\",\"cluster\":\"dst\",\"topic\":\"{topic}\","
                                 "\"source_headers\":true}",
                                 &sg);
        for (int i = 0; i < 6; i++) {
                snprintf(keys[i], sizeof(keys[i]), "k%d", i);
                snprintf(vals[i], sizeof(vals[i]), "v%d", i);
                snprintf(hv[i], sizeof(hv[i]), "x%d", i);
                hdrs[i][0] = (kp_sink_header_t){"h", hv[i], strlen(hv[i])};
                hdrs[i][1] = (kp_sink_header_t){"empty", NULL, 0};
                msgs[i] = (kp_sink_msg_t){.cluster = "src",
                                          .topic = "out",
                                          .partition = i,
                                          .offset = 100 + i,
                                          .key = keys[i],
                                          .key_len = strlen(keys[i]),
                                          .value = vals[i],
                                          .value_len = strlen(vals[i]),
                                          .timestamp = 1700000000000 + i,
                                          .timestamp_type = KP_SINK_TS_CREATE,
                                          .headers = hdrs[i],
                                          .nheaders = 2,
                                          .part = &part_ids[i]};
        }
        assert_int_equal(kp_sink_put(s, msgs, 6, &taken, err, sizeof(err)), KP_SINK_OK);
        assert_int_equal(kp_sink_flush(s, kp_time_mono_ms() + 30000, err, sizeof(err)), KP_SINK_OK);
        kp_sink_offset_t offs[6];
        for (int i = 0; i < 6; i++)
                offs[i] = (kp_sink_offset_t){
                        .part = &part_ids[i], .taken = 101 + i, .acked = 100 + i};
        kp_sink_precommit(s, offs, 6);
        for (int i = 0; i < 6; i++)
                assert_int_equal(offs[i].acked, 101 + i);

        rd_kafka_message_t *got[6];
        assert_int_equal(consume("out", 3, 6, got), 6);
        for (int j = 0; j < 6; j++) {
                rd_kafka_message_t *m = got[j];
                int i = ((const char *)m->key)[1] - '0';
                rd_kafka_timestamp_type_t tt;
                assert_int_equal(m->key_len, 2);
                assert_memory_equal(m->payload, vals[i], 2);
                assert_int_equal(m->partition, i % 3); /* source partitioning */
                assert_int_equal(rd_kafka_message_timestamp(m, &tt), 1700000000000 + i);
                assert_string_equal(header(m, "h", buf, sizeof(buf)), hv[i]);
                assert_string_equal(header(m, "kplane.source.cluster", buf, sizeof(buf)), "src");
                assert_string_equal(header(m, "kplane.source.topic", buf, sizeof(buf)), "out");
                char want[24];
                snprintf(want, sizeof(want), "%d", i);
                assert_string_equal(header(m, "kplane.source.partition", buf, sizeof(buf)), want);
                snprintf(want, sizeof(want), "%d", 100 + i);
                assert_string_equal(header(m, "kplane.source.offset", buf, sizeof(buf)), want);
                rd_kafka_headers_t *h = NULL;
                const void *v = "x";
                size_t len = 1;
                rd_kafka_message_headers(m, &h);
                assert_int_equal(rd_kafka_header_get_last(h, "empty", &v, &len), 0);
                assert_null(v); /* a header without a value stays without one */
                rd_kafka_message_destroy(m);
        }
        reader_close();
        kp_sink_stats_t st;
        kp_sink_stats(s, &st);
        assert_int_equal(st.acked, 6);
        assert_int_equal(st.in_flight, 0);
        kp_sink_close(s);
        kp_sink_group_close(sg);
}

static void test_key_partitioning_keeps_a_key_on_one_partition(void **state)
{
        static const int part_id;
        kp_sink_msg_t msgs[40];
        char keys[40][8], err[256];
        kp_sink_group_t *sg;
        size_t taken;
        (void)state;
        kp_sink_t *s = sink_open("{\"type\":\"kafka\",\"cluster\":\"dst\",\"topic\":\"keyed\","
                                 "\"partitioning\":\"key\"}",
                                 &sg);
        for (int i = 0; i < 40; i++) {
                snprintf(keys[i], sizeof(keys[i]), "key%d", i % 8);
                msgs[i] = (kp_sink_msg_t){.cluster = "src",
                                          .topic = "t",
                                          .partition = 0,
                                          .offset = i,
                                          .key = keys[i],
                                          .key_len = strlen(keys[i]),
                                          .value = "v",
                                          .value_len = 1,
                                          .timestamp = -1,
                                          .part = &part_id};
        }
        assert_int_equal(kp_sink_put(s, msgs, 40, &taken, err, sizeof(err)), KP_SINK_OK);
        assert_int_equal(kp_sink_flush(s, kp_time_mono_ms() + 30000, err, sizeof(err)), KP_SINK_OK);
        rd_kafka_message_t *got[40];
        int on[8], used = 0, seen[4] = {0};
        for (int k = 0; k < 8; k++)
                on[k] = -1;
        assert_int_equal(consume("keyed", 4, 40, got), 40);
        for (int j = 0; j < 40; j++) {
                int k = ((const char *)got[j]->key)[3] - '0';
                if (on[k] < 0)
                        on[k] = got[j]->partition;
                assert_int_equal(on[k], got[j]->partition);
                used += !seen[got[j]->partition];
                seen[got[j]->partition] = 1;
                rd_kafka_message_destroy(got[j]);
        }
        reader_close();
        assert_true(used > 1); /* 8 keys over 4 partitions: not all on one */
        kp_sink_close(s);
        kp_sink_group_close(sg);
}

/* Records 10..19 of one source partition. */
static void put_ten(kp_sink_t *s, const void *part)
{
        kp_sink_msg_t msgs[10];
        char err[256];
        size_t taken;
        for (int i = 0; i < 10; i++)
                msgs[i] = (kp_sink_msg_t){.cluster = "src",
                                          .topic = "t",
                                          .partition = 0,
                                          .offset = 10 + i,
                                          .value = "v",
                                          .value_len = 1,
                                          .timestamp = -1,
                                          .part = part};
        assert_int_equal(kp_sink_put(s, msgs, 10, &taken, err, sizeof(err)), KP_SINK_OK);
        assert_int_equal(taken, 10);
}

static int64_t acked_of(kp_sink_t *s, const void *part)
{
        kp_sink_offset_t off = {.part = part, .taken = 20, .acked = 10};
        kp_sink_precommit(s, &off, 1);
        return off.acked;
}

static void test_precommit_is_never_ahead_of_delivery_reports_with_the_broker_down(void **state)
{
        static const int part_id;
        char err[256];
        kp_sink_group_t *sg;
        kp_sink_stats_t st;
        (void)state;
        kp_sink_t *s =
                sink_open("{\"type\":\"kafka\",\"cluster\":\"dst\",\"topic\":\"down\"}", &sg);
        assert_int_equal(kp_embedded_broker_set_up(emb, "dst", 1, 0, err, sizeof(err)), 0);
        put_ten(s, &part_id);
        assert_int_equal(kp_sink_flush(s, kp_time_mono_ms() + 1500, err, sizeof(err)),
                         KP_SINK_RETRY);
        assert_int_equal(acked_of(s, &part_id), 10); /* nothing acknowledged */
        kp_sink_stats(s, &st);
        assert_int_equal(st.in_flight, 10);
        assert_int_equal(kp_embedded_broker_set_up(emb, "dst", 1, 1, err, sizeof(err)), 0);
        assert_int_equal(kp_sink_flush(s, kp_time_mono_ms() + 60000, err, sizeof(err)), KP_SINK_OK);
        assert_int_equal(acked_of(s, &part_id), 20); /* everything, once reported */
        kp_sink_close(s);
        kp_sink_group_close(sg);
}

/* A full producer queue is a RETRY with the prefix taken, for records without headers too
 * (the sink freed a NULL header list there and crashed: the demo's mirror found it). */
static void test_a_full_queue_is_a_retry_of_what_was_not_taken(void **state)
{
        static const int part_id;
        char err[256];
        kp_sink_group_t *sg;
        kp_sink_msg_t msgs[10];
        size_t taken = 0;
        (void)state;
        kp_sink_t *s = sink_open("{\"type\":\"kafka\",\"cluster\":\"dst\",\"topic\":\"down\","
                                 "\"config\":{\"queue.buffering.max.messages\":\"3\"}}",
                                 &sg);
        for (int i = 0; i < 10; i++)
                msgs[i] = (kp_sink_msg_t){.cluster = "src",
                                          .topic = "t",
                                          .offset = 10 + i,
                                          .value = "v",
                                          .value_len = 1,
                                          .timestamp = -1,
                                          .part = &part_id};
        assert_int_equal(kp_embedded_broker_set_up(emb, "dst", 1, 0, err, sizeof(err)), 0);
        assert_int_equal(kp_sink_put(s, msgs, 10, &taken, err, sizeof(err)), KP_SINK_RETRY);
        assert_int_equal(taken, 3);
        assert_non_null(strstr(err, "offset 13"));
        assert_int_equal(kp_embedded_broker_set_up(emb, "dst", 1, 1, err, sizeof(err)), 0);
        assert_int_equal(kp_sink_flush(s, kp_time_mono_ms() + 60000, err, sizeof(err)), KP_SINK_OK);
        assert_int_equal(kp_sink_put(s, msgs + 3, 3, &taken, err, sizeof(err)), KP_SINK_OK);
        assert_int_equal(kp_sink_flush(s, kp_time_mono_ms() + 60000, err, sizeof(err)), KP_SINK_OK);
        kp_sink_offset_t off = {.part = &part_id, .taken = 16, .acked = 10};
        kp_sink_precommit(s, &off, 1);
        assert_int_equal(off.acked, 16);
        kp_sink_close(s);
        kp_sink_group_close(sg);
}

/* A delivery that fails for good (retries exhausted: message.timeout.ms) hands its records
 * back refused, as produced, and acknowledges nothing past the first until the runtime took
 * them; then the rest is acknowledged. */
static void
test_a_failed_delivery_hands_its_records_back_and_acknowledges_nothing_past_it(void **state)
{
        static const int part_id;
        char err[256];
        kp_sink_group_t *sg;
        kp_sink_refused_t ref[16];
        size_t taken;
        (void)state;
        kp_sink_t *s = sink_open("{\"type\":\"kafka\",\"cluster\":\"dst\",\"topic\":\"down\","
                                 "\"config\":{\"message.timeout.ms\":\"1000\"}}",
                                 &sg);
        /* one record delivered first: the producer knows the leader and has its id */
        kp_sink_msg_t first = {
                .cluster = "src", .topic = "t", .offset = 9, .timestamp = -1, .part = &part_id};
        assert_int_equal(kp_sink_put(s, &first, 1, &taken, err, sizeof(err)), KP_SINK_OK);
        assert_int_equal(kp_sink_flush(s, kp_time_mono_ms() + 30000, err, sizeof(err)), KP_SINK_OK);
        assert_int_equal(kp_embedded_broker_set_up(emb, "dst", 1, 0, err, sizeof(err)), 0);
        put_ten(s, &part_id);
        assert_int_equal(kp_sink_flush(s, kp_time_mono_ms() + 30000, err, sizeof(err)),
                         KP_SINK_DEAD_LETTER);
        assert_non_null(strstr(err, "delivery to down failed"));
        assert_int_equal(acked_of(s, &part_id), 10);
        size_t n = kp_sink_refused(s, ref, 16);
        assert_int_equal(n, 10);
        for (size_t i = 0; i < n; i++) {
                assert_int_equal(ref[i].msg.offset, 10 + (int64_t)i);
                assert_string_equal(ref[i].msg.cluster, "src");
                assert_string_equal(ref[i].msg.topic, "t");
                assert_ptr_equal(ref[i].msg.part, &part_id);
                assert_string_equal(ref[i].status, "_MSG_TIMED_OUT");
                assert_int_equal(ref[i].msg.value_len, 1);
                assert_memory_equal(ref[i].msg.value, "v", 1);
        }
        kp_sink_refused_done(s, n);
        assert_int_equal(acked_of(s, &part_id), 20);
        assert_int_equal(kp_embedded_broker_set_up(emb, "dst", 1, 1, err, sizeof(err)), 0);
        kp_sink_close(s);
        kp_sink_group_close(sg);
}

static void
test_a_task_closed_with_records_in_flight_does_not_wait_and_they_still_arrive(void **state)
{
        static const int part_id;
        char err[256];
        kp_sink_group_t *sg;
        size_t taken;
        (void)state;
        kp_sink_t *s =
                sink_open("{\"type\":\"kafka\",\"cluster\":\"dst\",\"topic\":\"down\"}", &sg);
        assert_int_equal(kp_embedded_broker_set_up(emb, "dst", 1, 0, err, sizeof(err)), 0);
        put_ten(s, &part_id);
        int64_t t0 = kp_time_mono_ms();
        kp_sink_close(s); /* the runtime flushed before; the group's producer goes on */
        assert_true(kp_time_mono_ms() - t0 < 1000);
        assert_int_equal(kp_embedded_broker_set_up(emb, "dst", 1, 1, err, sizeof(err)), 0);
        /* another task of the group: the producer delivers, the closed task's reports
         * (freeing it) come on the same poller */
        kp_sink_t *s2 = kp_sink_open(sg, 1, err, sizeof(err));
        assert_non_null(s2);
        kp_sink_msg_t m = {
                .cluster = "src", .topic = "t", .offset = 30, .timestamp = -1, .part = &part_id};
        assert_int_equal(kp_sink_put(s2, &m, 1, &taken, err, sizeof(err)), KP_SINK_OK);
        assert_int_equal(kp_sink_flush(s2, kp_time_mono_ms() + 60000, err, sizeof(err)),
                         KP_SINK_OK);
        kp_sink_close(s2);
        kp_sink_group_close(sg);
}

static void test_bad_documents_name_the_field(void **state)
{
        static const char *const bad[][2] = {
                {"{\"type\":\"kafka\",\"topic\":\"x\"}", "sink.cluster"},
                {"{\"type\":\"kafka\",\"cluster\":\"dst\"}", "sink.topic"},
                {"{\"type\":\"kafka\",\"cluster\":\"dst\",\"topic\":\"{x}\"}", "sink.topic"},
                {"{\"type\":\"kafka\",\"cluster\":\"dst\",\"topic\":\"a\",\"partitioning\":\"h\"}",
                 "sink.partitioning"},
                {"{\"type\":\"kafka\",\"cluster\":\"dst\",\"topic\":\"a\",\"delivery\":\"x\"}",
                 "sink.delivery"},
                {"{\"type\":\"kafka\",\"cluster\":\"dst\",\"topic\":\"a\",\"config\":{\"acks\":"
                 "\"1\"}}",
                 "sink.config.acks"},
                {"{\"type\":\"kafka\",\"cluster\":\"dst\",\"topic\":\"a\",\"config\":{\"plugin."
                 "library.paths\":\"x.so\"}}",
                 "sink.config.plugin.library.paths"},
                {"{\"type\":\"kafka\",\"cluster\":\"dst\",\"topic\":\"a\",\"config\":{\"linger."
                 "ms\":\"soon\"}}",
                 "sink.config.linger.ms"},
        };
        char err[512];
        (void)state;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                json_t *conf = json_loads(bad[i][0], 0, NULL);
                assert_non_null(conf);
                assert_int_equal(kp_sink_validate(conf, err, sizeof(err)), KP_ERR_INVALID);
                if (strncmp(err, bad[i][1], strlen(bad[i][1])))
                        fail_msg("%s: %s", bad[i][0], err);
                json_decref(conf);
        }
}

static void test_topic_templates(void **state)
{
        char out[300];
        (void)state;
        assert_int_equal(
                kp_sink_kafka_topic("mirror.{cluster}.{topic}", "eu", "orders", out, sizeof(out)),
                0);
        assert_string_equal(out, "mirror.eu.orders");
        assert_int_equal(kp_sink_kafka_topic("fixed", "eu", "orders", out, sizeof(out)), 0);
        assert_string_equal(out, "fixed");
        assert_int_equal(kp_sink_kafka_topic("{nope}", "eu", "o", out, sizeof(out)),
                         KP_ERR_INVALID);
        assert_int_equal(kp_sink_kafka_topic("", "eu", "o", out, sizeof(out)), KP_ERR_INVALID);
        assert_int_equal(kp_sink_kafka_topic(".", "eu", "o", out, sizeof(out)), KP_ERR_INVALID);
        char big[250];
        memset(big, 'a', 249);
        big[249] = '\0';
        assert_int_equal(kp_sink_kafka_topic("x{topic}", "eu", big, out, sizeof(out)),
                         KP_ERR_INVALID);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(
                        test_records_arrive_with_key_value_headers_timestamp_on_the_source_partition),
                cmocka_unit_test(test_key_partitioning_keeps_a_key_on_one_partition),
                cmocka_unit_test(
                        test_precommit_is_never_ahead_of_delivery_reports_with_the_broker_down),
                cmocka_unit_test(
                        test_a_failed_delivery_hands_its_records_back_and_acknowledges_nothing_past_it),
                cmocka_unit_test(
                        test_a_task_closed_with_records_in_flight_does_not_wait_and_they_still_arrive),
                cmocka_unit_test(test_a_full_queue_is_a_retry_of_what_was_not_taken),
                cmocka_unit_test(test_bad_documents_name_the_field),
                cmocka_unit_test(test_topic_templates),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
