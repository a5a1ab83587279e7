/* test_plan_request_plain.c — the what-if body's plain reader: it takes the common bodies, and
 * whatever it takes it reads exactly as json_loadb + kp_plan_request_parse do. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/config.h"
#include "planner/plan_json.h"

/* The general path, as kp_h_whatif takes it. @returns 0 with @p req filled, or -1. */
static int general(const char *body, size_t len, kp_plan_request_t *req)
{
        json_error_t jerr;
        json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
        json_t *errors = json_array();
        int err = !doc || !json_is_object(doc) || kp_plan_request_parse(doc, req, errors);
        json_decref(errors);
        json_decref(doc);
        return err ? -1 : 0;
}

static void assert_same_request(const kp_plan_request_t *a, const kp_plan_request_t *b)
{
        assert_int_equal(a->input.topic_cnt, b->input.topic_cnt);
        for (size_t i = 0; i < a->input.topic_cnt; i++) {
                assert_string_equal(a->input.topics[i].cluster, b->input.topics[i].cluster);
                assert_string_equal(a->input.topics[i].topic, b->input.topics[i].topic);
                assert_int_equal(a->input.topics[i].partitions, b->input.topics[i].partitions);
        }
        assert_ptr_equal(a->input.topics, a->topics);
        assert_int_equal(a->input.parallelism, b->input.parallelism);
        assert_int_equal(a->input.strategy, b->input.strategy);
        assert_int_equal(a->input.rebalance, b->input.rebalance);
        assert_null(a->input.weights);
        assert_null(b->input.weights);
        assert_null(a->input.previous_owner);
        assert_int_equal(a->input.skip_recommendations, b->input.skip_recommendations);
}

/* @returns what the plain reader said; when it took the body, the general path must
 * have taken it too, into the same request. */
static int check_body(const char *body, size_t len)
{
        kp_plan_request_t p, g;
        int rc = kp_plan_request_parse_plain(body, len, &p);
        if (rc == 0) {
                if (general(body, len, &g))
                        fail_msg("plain took a body the general path refuses: %.*s", (int)len,
                                 body);
                assert_same_request(&p, &g);
                kp_plan_request_cleanup(&g);
        } else {
                assert_int_equal(rc, 1);
                assert_null(p.topics); /* left clean */
        }
        kp_plan_request_cleanup(&p);
        return rc;
}

static const char *const taken[] = {
        /* scripts/bench.sh's what-if body */
        "{\"topics\":[{\"cluster\":\"bench-a\",\"topic\":\"orders\",\"partitions\":10},"
        "{\"cluster\":\"bench-b\",\"topic\":\"orders\",\"partitions\":10},"
        "{\"cluster\":\"bench-c\",\"topic\":\"orders\",\"partitions\":10}],"
        "\"parallelism\":30,\"strategy\":\"balanced\"}",
        " {\n \"parallelism\" : 7 ,\r\n\t\"topics\" : [ { \"partitions\" : 3 , \"topic\" : "
        "\"a.b_c-d\" } ] , \"rebalance\" : true } \n",
        "{\"topics\":[{\"topic\":\"t\",\"partitions\":1000000}],\"parallelism\":100000,"
        "\"strategy\":\"weighted\",\"rebalance\":false}",
        "{\"topics\":[{\"topic\":\"t\",\"partitions\":5},{\"cluster\":\"default\",\"topic\":"
        "\"u\",\"partitions\":5}],\"parallelism\":2,\"strategy\":\"roundrobin\"}",
        "{\"strategy\":\"flink\",\"parallelism\":1,\"topics\":[{\"topic\":\"x\",\"partitions\":1}]"
        "}",
};

/* Bodies the plain reader leaves to the general path: valid ones outside its form, and
 * every kind of refusal. */
static const char *const left[] = {
        "",
        "[]",
        "{}",
        "{\"topics\":[],\"parallelism\":1}",
        "{\"topics\":[{\"topic\":\"t\",\"partitions\":1}]}",
        "{\"parallelism\":1}",
        /* weights */
        "{\"topics\":[{\"topic\":\"t\",\"partitions\":2}],\"parallelism\":1,\"weights\":[]}",
        /* a repeated key, at the top and in an entry */
        "{\"topics\":[{\"topic\":\"t\",\"partitions\":1}],\"parallelism\":1,\"parallelism\":2}",
        "{\"topics\":[{\"topic\":\"t\",\"topic\":\"u\",\"partitions\":1}],\"parallelism\":1}",
        /* an escape, non-ASCII, an unknown field */
        "{\"topics\":[{\"topic\":\"t\\u0041\",\"partitions\":1}],\"parallelism\":1}",
        "{\"topics\":[{\"topic\":\"t\xc3\xa9\",\"partitions\":1}],\"parallelism\":1}",
        "{\"topics\":[{\"topic\":\"t\",\"partitions\":1,\"x\":1}],\"parallelism\":1}",
        "{\"topics\":[{\"topic\":\"t\",\"partitions\":1}],\"parallelism\":1,\"x\":null}",
        /* numbers: fraction, exponent, zero, leading zero, sign, too big */
        "{\"topics\":[{\"topic\":\"t\",\"partitions\":1.0}],\"parallelism\":1}",
        "{\"topics\":[{\"topic\":\"t\",\"partitions\":1e1}],\"parallelism\":1}",
        "{\"topics\":[{\"topic\":\"t\",\"partitions\":0}],\"parallelism\":1}",
        "{\"topics\":[{\"topic\":\"t\",\"partitions\":01}],\"parallelism\":1}",
        "{\"topics\":[{\"topic\":\"t\",\"partitions\":-1}],\"parallelism\":1}",
        "{\"topics\":[{\"topic\":\"t\",\"partitions\":1000001}],\"parallelism\":1}",
        "{\"topics\":[{\"topic\":\"t\",\"partitions\":1}],\"parallelism\":100001}",
        "{\"topics\":[{\"topic\":\"t\",\"partitions\":1}],\"parallelism\":99999999999999}",
        /* names, strategy, rebalance, duplicates, trailing bytes */
        "{\"topics\":[{\"topic\":\"a b\",\"partitions\":1}],\"parallelism\":1}",
        "{\"topics\":[{\"cluster\":\"\",\"topic\":\"t\",\"partitions\":1}],\"parallelism\":1}",
        "{\"topics\":[{\"topic\":\"t\",\"partitions\":1}],\"parallelism\":1,\"strategy\":\"x\"}",
        "{\"topics\":[{\"topic\":\"t\",\"partitions\":1}],\"parallelism\":1,\"rebalance\":null}",
        "{\"topics\":[{\"topic\":\"t\",\"partitions\":1},{\"cluster\":\"default\",\"topic\":\"t\","
        "\"partitions\":2}],\"parallelism\":1}",
        "{\"topics\":[{\"topic\":\"t\",\"partitions\":1}],\"parallelism\":1} x",
        "{\"topics\":[{\"topic\":\"t\",\"partitions\":1}],\"parallelism\":1",
};

static void test_plain_takes_the_common_bodies_as_the_general_path(void **state)
{
        (void)state;
        for (size_t i = 0; i < sizeof(taken) / sizeof(taken[0]); i++)
                if (check_body(taken[i], strlen(taken[i])))
                        fail_msg("plain left a body in its form: %s", taken[i]);
}

static void test_plain_leaves_every_other_body(void **state)
{
        (void)state;
        for (size_t i = 0; i < sizeof(left) / sizeof(left[0]); i++)
                if (!check_body(left[i], strlen(left[i])))
                        fail_msg("plain took %s", left[i]);
        kp_plan_request_t p;
        assert_int_equal(kp_plan_request_parse_plain(NULL, 0, &p), 1);
}

/* Every truncation and every one-byte change of the bodies it takes: whatever the plain
 * reader still takes, the general path reads the same. */
static void test_plain_never_disagrees_on_mutated_bodies(void **state)
{
        static const char subst[] = "{}[]\":,0123456789 .-eEtfnx\\a";
        (void)state;
        char buf[512];
        size_t took = 0;
        for (size_t i = 0; i < sizeof(taken) / sizeof(taken[0]); i++) {
                const size_t len = strlen(taken[i]);
                assert_true(len < sizeof(buf));
                for (size_t cut = 0; cut < len; cut++)
                        check_body(taken[i], cut);
                for (size_t at = 0; at < len; at++)
                        for (size_t s = 0; s < sizeof(subst) - 1; s++) {
                                memcpy(buf, taken[i], len);
                                buf[at] = subst[s];
                                took += !check_body(buf, len);
                        }
        }
        /* a digit for a digit, a space for a space: some mutations stay plain */
        assert_true(took > 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_plain_takes_the_common_bodies_as_the_general_path),
                cmocka_unit_test(test_plain_leaves_every_other_body),
                cmocka_unit_test(test_plain_never_disagrees_on_mutated_bodies),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
