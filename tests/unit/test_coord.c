/* test_coord.c — instances of one service on librdkafka's mock cluster: one leader, a clean
 * leave hands leadership over, the lease, the allow-list, a single process's view. (The mock
 * answers no DescribeConsumerGroups: the member lists are proven on real brokers,
 * tests/kafka/test_instances_real.py.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "base/err.h"
#include "base/util.h"
#include "coord/coord.h"

#define SESSION_MS 3000

typedef struct mock {
        rd_kafka_t *rk; /* hosts the mock cluster */
        rd_kafka_mock_cluster_t *mc;
        char bootstrap[256];
} mock_t;

/* A mock cluster holding the service's topics (the mock answers no CreateTopics). */
static void mock_start(mock_t *m, const char *service)
{
        char err[256], topic[128];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
        m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
        assert_non_null(m->rk);
        m->mc = rd_kafka_mock_cluster_new(m->rk, 1);
        assert_non_null(m->mc);
        snprintf(m->bootstrap, sizeof(m->bootstrap), "%s", rd_kafka_mock_cluster_bootstraps(m->mc));
        snprintf(topic, sizeof(topic), "_kplane-%s-work", service);
        assert_int_equal(rd_kafka_mock_topic_create(m->mc, topic, 1, 1), 0);
        snprintf(topic, sizeof(topic), "_kplane-%s-status", service);
        assert_int_equal(rd_kafka_mock_topic_create(m->mc, topic, 1, 1), 0);
        snprintf(topic, sizeof(topic), "_kplane-%s-state", service);
        assert_int_equal(rd_kafka_mock_topic_create(m->mc, topic, 1, 1), 0);
}

static void mock_stop(mock_t *m)
{
        rd_kafka_mock_cluster_destroy(m->mc);
        rd_kafka_destroy(m->rk);
}

static kp_coord_t *start(mock_t *m, const char *id, const json_t *config)
{
        char errstr[512], url[64];
        snprintf(url, sizeof(url), "http://%s", id);
        kp_coord_opts_t o = {.bootstrap = m->bootstrap,
                             .config = config,
                             .service = "svc",
                             .instance_id = id,
                             .url = url,
                             .session_timeout_ms = SESSION_MS,
                             .protocol = KP_COORD_CLASSIC};
        kp_coord_t *c = kp_coord_start(&o, errstr, sizeof(errstr));
        if (!c)
                fail_msg("kp_coord_start: %s", errstr);
        return c;
}

/* Waits up to @p ms for exactly one of @p n coordinators to lead. @returns its index or -1. */
static int wait_one_leader(kp_coord_t **cs, int n, int ms)
{
        int64_t deadline = kp_time_mono_ms() + ms;
        while (kp_time_mono_ms() < deadline) {
                int leaders = 0, at = -1;
                for (int i = 0; i < n; i++)
                        if (cs[i] && kp_coord_leads(cs[i]))
                                leaders++, at = i;
                if (leaders == 1)
                        return at;
                usleep(50 * 1000);
        }
        return -1;
}

static void test_two_instances_elect_one_leader_and_a_clean_leave_hands_it_over(void **state)
{
        (void)state;
        mock_t m;
        mock_start(&m, "svc");
        kp_coord_t *cs[2] = {start(&m, "kp-1", NULL), start(&m, "kp-2", NULL)};
        int leader = wait_one_leader(cs, 2, 30000);
        assert_true(leader >= 0);
        assert_true(kp_coord_lease_held(cs[leader]));
        int64_t t0 = kp_time_mono_ms();
        kp_coord_stop(cs[leader]); /* LeaveGroup: no session timeout to wait for */
        cs[leader] = NULL;
        int next = wait_one_leader(cs, 2, 30000);
        assert_int_equal(next, 1 - leader);
        /* how soon is for real brokers to show (the mock waits out a rebalance timer) */
        printf("leadership handed over %lld ms after a clean stop\n",
               (long long)(kp_time_mono_ms() - t0));
        kp_coord_stop(cs[next]);
        mock_stop(&m);
}

static void test_the_lease_ends_when_the_coordinator_is_gone_for_a_session(void **state)
{
        (void)state;
        mock_t m;
        mock_start(&m, "svc");
        kp_coord_t *c = start(&m, "kp-1", NULL);
        assert_int_equal(wait_one_leader(&c, 1, 30000), 0);
        assert_true(kp_coord_lease_held(c));
        rd_kafka_mock_broker_set_down(m.mc, 1);
        int64_t deadline = kp_time_mono_ms() + 3 * SESSION_MS;
        while (kp_coord_lease_held(c) && kp_time_mono_ms() < deadline)
                usleep(50 * 1000);
        /* never longer than a session with no word from the coordinator */
        assert_false(kp_coord_lease_held(c));
        rd_kafka_mock_broker_set_up(m.mc, 1);
        kp_coord_stop(c);
        mock_stop(&m);
}

static void test_the_coordination_config_passes_the_allow_list(void **state)
{
        (void)state;
        char errstr[512];
        json_t *config = json_pack("{s:s}", "group.id", "mine");
        kp_coord_opts_t o = {.bootstrap = "127.0.0.1:1",
                             .config = config,
                             .service = "svc",
                             .instance_id = "kp-1",
                             .url = "http://kp-1",
                             .session_timeout_ms = SESSION_MS};
        assert_null(kp_coord_start(&o, errstr, sizeof(errstr)));
        assert_non_null(strstr(errstr, "group.id"));
        json_decref(config);
        o.config = NULL;
        o.service = "bad/name";
        assert_null(kp_coord_start(&o, errstr, sizeof(errstr)));
        assert_non_null(strstr(errstr, "KPLANE_SERVICE"));
        o.service = "svc";
        o.session_timeout_ms = 10;
        assert_null(kp_coord_start(&o, errstr, sizeof(errstr)));
        assert_non_null(strstr(errstr, "KPLANE_SESSION_TIMEOUT_MS"));
}

static void test_a_single_process_lists_itself_as_leader(void **state)
{
        (void)state;
        kp_coord_t *c = kp_coord_solo_new("vm:8080", "http://127.0.0.1:8080");
        kp_coord_view_t v;
        assert_int_equal(kp_coord_view(c, &v), 0);
        assert_int_equal(v.cnt, 1);
        assert_string_equal(v.items[0].id, "vm:8080");
        assert_string_equal(v.items[0].url, "http://127.0.0.1:8080");
        assert_non_null(v.items[0].joined_at);
        assert_string_equal(v.leader, "vm:8080");
        assert_null(v.protocol);
        assert_int_equal(v.session_timeout_ms, 0);
        assert_true(kp_coord_lease_held(c));
        kp_coord_view_cleanup(&v);
        kp_coord_stop(c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(
                        test_two_instances_elect_one_leader_and_a_clean_leave_hands_it_over),
                cmocka_unit_test(test_the_lease_ends_when_the_coordinator_is_gone_for_a_session),
                cmocka_unit_test(test_the_coordination_config_passes_the_allow_list),
                cmocka_unit_test(test_a_single_process_lists_itself_as_leader),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
