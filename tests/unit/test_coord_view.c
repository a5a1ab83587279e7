/* test_coord_view.c — who is in the service: live members joined with their status records. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/config.h"
#include "base/err.h"
#include "coord/coord_status.h"
#include "coord/coord_view.h"

static void apply(kp_coord_statuses_t *t, const char *key, const char *value, int expect)
{
        assert_int_equal(
                kp_coord_statuses_apply(t, key, strlen(key), value, value ? strlen(value) : 0),
                expect);
}

static void test_only_live_members_are_listed_sorted_with_their_records(void **state)
{
        (void)state;
        kp_coord_statuses_t t = {0};
        apply(&t, "b",
              "{\"id\":\"b\",\"url\":\"http://b\",\"joined_at\":\"T1\",\"last_seen\":\"T2\"}", 0);
        apply(&t, "dead",
              "{\"id\":\"dead\",\"url\":\"http://d\",\"joined_at\":\"T0\",\"last_seen\":\"T0\"}",
              0);
        kp_coord_member_t members[] = {{"c", 0}, {"b", 1}, {"a", 0}};
        kp_coord_view_t v;
        assert_int_equal(kp_coord_view_build(&v, members, 3, t.rows, t.cnt), 0);
        assert_int_equal(v.cnt, 3); /* "dead" has a record but is no member: not listed */
        assert_string_equal(v.items[0].id, "a");
        assert_null(v.items[0].url); /* its record not read yet */
        assert_string_equal(v.items[1].id, "b");
        assert_string_equal(v.items[1].url, "http://b");
        assert_string_equal(v.items[1].joined_at, "T1");
        assert_string_equal(v.items[1].last_seen, "T2");
        assert_string_equal(v.items[2].id, "c");
        assert_string_equal(v.leader, "b");
        kp_coord_view_cleanup(&v);
        kp_coord_statuses_cleanup(&t);
}

static void test_no_leader_mid_rebalance_and_the_first_by_id_when_two_claim(void **state)
{
        (void)state;
        kp_coord_view_t v;
        kp_coord_member_t none[] = {{"a", 0}, {"b", 0}};
        assert_int_equal(kp_coord_view_build(&v, none, 2, NULL, 0), 0);
        assert_null(v.leader);
        kp_coord_view_cleanup(&v);
        kp_coord_member_t two[] = {{"z", 1}, {"m", 1}};
        assert_int_equal(kp_coord_view_build(&v, two, 2, NULL, 0), 0);
        assert_string_equal(v.leader, "m");
        kp_coord_view_cleanup(&v);
        assert_int_equal(kp_coord_view_build(&v, NULL, 0, NULL, 0), 0);
        assert_int_equal(v.cnt, 0);
        kp_coord_view_cleanup(&v);
}

static void test_a_newer_record_replaces_and_a_tombstone_removes(void **state)
{
        (void)state;
        kp_coord_statuses_t t = {0};
        apply(&t, "a",
              "{\"id\":\"a\",\"url\":\"http://1\",\"joined_at\":\"T\",\"last_seen\":\"T1\"}", 0);
        apply(&t, "a",
              "{\"id\":\"a\",\"url\":\"http://2\",\"joined_at\":\"T\",\"last_seen\":\"T2\"}", 0);
        assert_int_equal(t.cnt, 1);
        assert_string_equal(t.rows[0].url, "http://2");
        assert_string_equal(t.rows[0].last_seen, "T2");
        apply(&t, "a", NULL, 0);
        assert_int_equal(t.cnt, 0);
        apply(&t, "never-seen", NULL, 0); /* a tombstone of nothing is fine */
        kp_coord_statuses_cleanup(&t);
}

static void test_records_that_do_not_describe_their_key_are_ignored(void **state)
{
        (void)state;
        kp_coord_statuses_t t = {0};
        /* another instance's id under this key, a missing field, not JSON, a number */
        apply(&t, "a", "{\"id\":\"b\",\"url\":\"u\",\"joined_at\":\"T\",\"last_seen\":\"T\"}",
              KP_ERR_INVALID);
        apply(&t, "a", "{\"id\":\"a\",\"joined_at\":\"T\",\"last_seen\":\"T\"}", KP_ERR_INVALID);
        apply(&t, "a", "not json", KP_ERR_INVALID);
        apply(&t, "a", "{\"id\":\"a\",\"url\":1,\"joined_at\":\"T\",\"last_seen\":\"T\"}",
              KP_ERR_INVALID);
        assert_int_equal(kp_coord_statuses_apply(&t, NULL, 0, "{}", 2), KP_ERR_INVALID);
        assert_int_equal(t.cnt, 0);
        kp_coord_statuses_cleanup(&t);
}

static void test_the_table_stops_at_its_limit(void **state)
{
        (void)state;
        kp_coord_statuses_t t = {0};
        char id[32], value[256];
        for (int i = 0; i <= KP_COORD_STATUS_MAX; i++) {
                snprintf(id, sizeof(id), "i%d", i);
                snprintf(value, sizeof(value),
                         "{\"id\":\"%s\",\"url\":\"u\",\"joined_at\":\"T\",\"last_seen\":\"T\"}",
                         id);
                apply(&t, id, value, i < KP_COORD_STATUS_MAX ? 0 : KP_ERR_INVALID);
        }
        assert_int_equal(t.cnt, KP_COORD_STATUS_MAX);
        /* a known id is still updated */
        apply(&t, "i0", "{\"id\":\"i0\",\"url\":\"v\",\"joined_at\":\"T\",\"last_seen\":\"T\"}", 0);
        kp_coord_statuses_cleanup(&t);
}

/* A record written with a report (the epoch acted on, the tasks run) is read back the same,
 * and the view lists those tasks for GET /api/v1/instances. */
static void test_a_record_written_is_read_back_with_its_report(void **state)
{
        (void)state;
        const kp_coord_task_t tasks[] = {{"analytics", 0}, {"analytics", 3}, {"mirror", 1}};
        kp_coord_status_t st = {"vm:8080",
                                "http://10.0.0.5:8080",
                                "2026-01-01T00:00:00Z",
                                "2026-01-01T00:00:03Z",
                                7,
                                tasks,
                                3};
        char *json = kp_coord_status_json(&st);
        assert_non_null(json);
        assert_non_null(strstr(json, "\"tasks\":{\"analytics\":[0,3],\"mirror\":[1]}"));
        kp_coord_statuses_t t = {0};
        apply(&t, "vm:8080", json, 0);
        assert_string_equal(t.rows[0].url, st.url);
        assert_string_equal(t.rows[0].joined_at, st.joined_at);
        assert_string_equal(t.rows[0].last_seen, st.last_seen);
        assert_int_equal(t.rows[0].epoch, 7);
        assert_int_equal(t.rows[0].ntasks, 3);
        for (size_t i = 0; i < 3; i++) {
                assert_string_equal(t.rows[0].tasks[i].group, tasks[i].group);
                assert_int_equal(t.rows[0].tasks[i].task, tasks[i].task);
        }
        kp_coord_member_t m = {"vm:8080", 1};
        kp_coord_view_t view;
        assert_int_equal(kp_coord_view_build(&view, &m, 1, t.rows, t.cnt), 0);
        assert_int_equal(view.items[0].epoch, 7);
        assert_int_equal(view.items[0].tasks.cnt, 3);
        assert_string_equal(view.items[0].tasks.items[2].group, "mirror");
        kp_coord_view_cleanup(&view);
        /* a record of an older kplane (no report) reads as epoch 0, running nothing */
        apply(&t, "vm:8080",
              "{\"id\":\"vm:8080\",\"url\":\"u\",\"joined_at\":\"T\",\"last_seen\":\"T\"}", 0);
        assert_int_equal(t.rows[0].epoch, 0);
        assert_int_equal(t.rows[0].ntasks, 0);
        free(json);
        kp_coord_statuses_cleanup(&t);
}

/* A report that is not the shape (negative epoch, a task that is not a task number, a group
 * name too long) is ignored whole: the instance's previous record stays. */
static void test_a_malformed_report_is_ignored(void **state)
{
        (void)state;
        kp_coord_statuses_t t = {0};
        apply(&t, "a",
              "{\"id\":\"a\",\"url\":\"u\",\"joined_at\":\"T\",\"last_seen\":\"T\","
              "\"epoch\":2,\"tasks\":{\"g\":[1]}}",
              0);
        static const char *const bad[] = {
                "\"epoch\":-1,\"tasks\":{}",
                "\"epoch\":\"3\",\"tasks\":{}",
                "\"epoch\":3,\"tasks\":{\"g\":[1,-2]}",
                "\"epoch\":3,\"tasks\":{\"g\":[\"x\"]}",
                "\"epoch\":3,\"tasks\":{\"g\":4}",
                "\"epoch\":3,\"tasks\":[1]",
                "\"epoch\":3,\"tasks\":{\"\":[1]}",
                "\"epoch\":3,\"tasks\":{\"g\":[1, 4294967296]}",
        };
        char value[512];
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                snprintf(value, sizeof(value),
                         "{\"id\":\"a\",\"url\":\"v\",\"joined_at\":\"T\",\"last_seen\":\"T\",%s}",
                         bad[i]);
                apply(&t, "a", value, KP_ERR_INVALID);
                assert_int_equal(t.rows[0].epoch, 2);
                assert_string_equal(t.rows[0].url, "u");
        }
        kp_coord_statuses_cleanup(&t);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_only_live_members_are_listed_sorted_with_their_records),
                cmocka_unit_test(test_no_leader_mid_rebalance_and_the_first_by_id_when_two_claim),
                cmocka_unit_test(test_a_newer_record_replaces_and_a_tombstone_removes),
                cmocka_unit_test(test_records_that_do_not_describe_their_key_are_ignored),
                cmocka_unit_test(test_the_table_stops_at_its_limit),
                cmocka_unit_test(test_a_record_written_is_read_back_with_its_report),
                cmocka_unit_test(test_a_malformed_report_is_ignored),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
