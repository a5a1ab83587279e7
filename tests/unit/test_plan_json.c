/* test_plan_json.c — what-if/sweep request parsing and validation, plan documents, previous owners.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/config.h"
#include "base/err.h"
#include "planner/plan_json.h"
#include "planner/planner.h"

static json_t *load(const char *text)
{
        json_error_t e;
        json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &e);
        if (!j)
                fail_msg("bad test JSON: %s", e.text);
        return j;
}

/* 1 when @p errors holds {"field": field, "message" containing msg}. */
static int has_error(const json_t *errors, const char *field, const char *msg)
{
        size_t i;
        json_t *e;
        json_array_foreach(errors, i, e)
        {
                const char *f = json_string_value(json_object_get(e, "field"));
                const char *m = json_string_value(json_object_get(e, "message"));
                if (f && m && !strcmp(f, field) && strstr(m, msg))
                        return 1;
        }
        return 0;
}

static void test_whatif_request_parses_all_fields(void **state)
{
        (void)state;
        json_t *body = load("{\"topics\": [{\"cluster\": \"a\", \"topic\": \"orders\", "
                            "\"partitions\": 3}, {\"cluster\": \"b\", \"topic\": \"orders\", "
                            "\"partitions\": 2}], \"parallelism\": 4, \"strategy\": \"weighted\", "
                            "\"rebalance\": true, \"weights\": [{\"cluster\": \"b\", \"topic\": "
                            "\"orders\", \"partition\": 1, \"weight\": 5.5}]}");
        json_t *errors = json_array();
        kp_plan_request_t req;
        assert_int_equal(kp_plan_request_parse(body, &req, errors), 0);
        assert_int_equal(json_array_size(errors), 0);
        assert_int_equal(req.input.topic_cnt, 2);
        assert_string_equal(req.input.topics[1].cluster, "b");
        assert_int_equal(req.input.topics[0].partitions, 3);
        assert_int_equal(req.input.parallelism, 4);
        assert_int_equal(req.input.strategy, KP_STRATEGY_WEIGHTED);
        assert_true(req.input.rebalance);
        assert_non_null(req.input.weights);
        double expect[] = {1, 1, 1, 1, 5.5};
        assert_memory_equal(req.input.weights, expect, sizeof(expect));
        assert_null(req.input.previous_owner);
        /* the request owns its strings: the body may go first */
        json_decref(body);
        assert_string_equal(req.input.topics[0].topic, "orders");
        kp_plan_request_cleanup(&req);
        kp_plan_request_cleanup(&req); /* twice is harmless */
        json_decref(errors);
}

static void test_whatif_defaults_cluster_and_strategy(void **state)
{
        (void)state;
        json_t *body = load("{\"topics\": [{\"topic\": \"t\", \"partitions\": 1}], "
                            "\"parallelism\": 1}");
        json_t *errors = json_array();
        kp_plan_request_t req;
        assert_int_equal(kp_plan_request_parse(body, &req, errors), 0);
        assert_string_equal(req.input.topics[0].cluster, "default");
        assert_int_equal(req.input.strategy, KP_STRATEGY_BALANCED);
        assert_null(req.input.weights);
        assert_false(req.input.rebalance);
        kp_plan_request_cleanup(&req);
        json_decref(errors);
        json_decref(body);
}

static void test_whatif_validation_names_each_field(void **state)
{
        (void)state;
        json_t *body =
                load("{\"topics\": [{\"cluster\": \"a\", \"topic\": \"x\", \"partitions\": 1},"
                     " {\"cluster\": \"a\", \"topic\": \"bad name\", \"partitions\": 1},"
                     " {\"cluster\": \"a\", \"topic\": \"y\", \"partitions\": 0, \"extra\": 1}],"
                     " \"parallelism\": 0, \"strategy\": \"sticky\", \"rebalance\": 1,"
                     " \"colour\": \"red\"}");
        json_t *errors = json_array();
        kp_plan_request_t req;
        assert_int_equal(kp_plan_request_parse(body, &req, errors), KP_ERR_INVALID);
        assert_true(has_error(errors, "topics[2].partitions", "must be 1..1000000"));
        assert_true(has_error(errors, "topics[1].topic", "must be a topic name"));
        assert_true(has_error(errors, "topics[2].extra", "unknown field"));
        assert_true(has_error(errors, "parallelism", "must be 1..100000"));
        assert_true(has_error(errors, "strategy", "must be one of"));
        assert_true(has_error(errors, "rebalance", "true or false"));
        assert_true(has_error(errors, "colour", "unknown field"));
        assert_null(req.topics); /* left clean */
        json_decref(errors);
        json_decref(body);

        /* parallelism over the limit, missing topics */
        body = load("{\"parallelism\": 100001}");
        errors = json_array();
        assert_int_equal(kp_plan_request_parse(body, &req, errors), KP_ERR_INVALID);
        assert_true(has_error(errors, "parallelism", "must be 1..100000"));
        assert_true(has_error(errors, "topics", "non-empty array"));
        json_decref(errors);
        json_decref(body);

        /* not an object */
        body = load("[1]");
        errors = json_array();
        assert_int_equal(kp_plan_request_parse(body, &req, errors), KP_ERR_INVALID);
        assert_int_equal(json_array_size(errors), 1);
        json_decref(errors);
        json_decref(body);
}

static void test_whatif_refuses_duplicate_topics(void **state)
{
        (void)state;
        json_t *body =
                load("{\"topics\": [{\"cluster\": \"a\", \"topic\": \"x\", \"partitions\": 1},"
                     " {\"cluster\": \"b\", \"topic\": \"x\", \"partitions\": 1},"
                     " {\"cluster\": \"a\", \"topic\": \"x\", \"partitions\": 2}],"
                     " \"parallelism\": 2}");
        json_t *errors = json_array();
        kp_plan_request_t req;
        assert_int_equal(kp_plan_request_parse(body, &req, errors), KP_ERR_INVALID);
        assert_true(has_error(errors, "topics[2]", "duplicate of topics[0]"));
        assert_int_equal(json_array_size(errors), 1);
        json_decref(errors);
        json_decref(body);
}

static void test_whatif_weights_are_checked_against_topics(void **state)
{
        (void)state;
        json_t *body =
                load("{\"topics\": [{\"cluster\": \"a\", \"topic\": \"x\", \"partitions\": 2}],"
                     " \"parallelism\": 2, \"weights\": ["
                     " {\"cluster\": \"a\", \"topic\": \"nope\", \"partition\": 0, \"weight\": 1},"
                     " {\"cluster\": \"a\", \"topic\": \"x\", \"partition\": 2, \"weight\": 1},"
                     " {\"cluster\": \"a\", \"topic\": \"x\", \"partition\": 0, \"weight\": -1},"
                     " {\"cluster\": \"a\", \"topic\": \"x\", \"partition\": 1, \"weight\": 2, "
                     "\"w\": 1}]}");
        json_t *errors = json_array();
        kp_plan_request_t req;
        assert_int_equal(kp_plan_request_parse(body, &req, errors), KP_ERR_INVALID);
        assert_true(has_error(errors, "weights[0].topic", "not one of topics"));
        assert_true(has_error(errors, "weights[1].partition", "must be 0..1"));
        assert_true(has_error(errors, "weights[2].weight", "must be a number >= 0"));
        assert_true(has_error(errors, "weights[3].w", "unknown field"));
        json_decref(errors);
        json_decref(body);
}

static void test_whatif_huge_and_repeated_weights_are_refused_naming_the_entry(void **state)
{
        (void)state;
        json_t *body =
                load("{\"topics\": [{\"cluster\": \"a\", \"topic\": \"x\", \"partitions\": 2}],"
                     " \"parallelism\": 2, \"strategy\": \"weighted\", \"weights\": ["
                     " {\"cluster\": \"a\", \"topic\": \"x\", \"partition\": 0, \"weight\": 1e308},"
                     " {\"cluster\": \"a\", \"topic\": \"x\", \"partition\": 1, \"weight\": 2},"
                     " {\"cluster\": \"a\", \"topic\": \"x\", \"partition\": 1, \"weight\": 3}]}");
        json_t *errors = json_array();
        kp_plan_request_t req;
        assert_int_equal(kp_plan_request_parse(body, &req, errors), KP_ERR_INVALID);
        assert_true(has_error(errors, "weights[0].weight", "at most 1e+12"));
        assert_true(has_error(errors, "weights[2]", "weighted twice"));
        assert_int_equal(json_array_size(errors), 2);
        json_decref(errors);
        json_decref(body);
}

static void test_sweep_request_defaults_and_limits(void **state)
{
        (void)state;
        json_t *body =
                load("{\"topics\": [{\"cluster\": \"a\", \"topic\": \"x\", \"partitions\": 10}],"
                     " \"parallelism\": {\"from\": 1, \"to\": 64}}");
        json_t *errors = json_array();
        kp_sweep_request_t sr;
        assert_int_equal(kp_sweep_request_parse(body, &sr, errors), 0);
        assert_int_equal(sr.from, 1);
        assert_int_equal(sr.to, 64);
        assert_int_equal(sr.strategy_cnt, KP_STRATEGY__CNT);
        assert_int_equal(sr.input.topic_cnt, 1);
        assert_true(sr.input.skip_recommendations);
        /* the input drives the planner as is */
        char errstr[128];
        kp_plan_input_t in = sr.input;
        in.parallelism = 7;
        kp_plan_t *plan = kp_planner_plan(&in, errstr, sizeof(errstr));
        assert_non_null(plan);
        assert_int_equal(plan->analysis.recommendation_cnt, 0);
        kp_plan_destroy(plan);
        kp_sweep_request_cleanup(&sr);
        json_decref(body);

        body = load("{\"topics\": [{\"cluster\": \"a\", \"topic\": \"x\", \"partitions\": 10}],"
                    " \"parallelism\": {\"from\": 9, \"to\": 3}, \"strategies\": [\"flink\", "
                    "\"flink\", \"x\"]}");
        assert_int_equal(kp_sweep_request_parse(body, &sr, errors), KP_ERR_INVALID);
        assert_true(has_error(errors, "parallelism.to", "must be from.."));
        assert_true(has_error(errors, "strategies[1]", "duplicate"));
        assert_true(has_error(errors, "strategies[2]", "must be one of"));
        json_decref(body);
        json_array_clear(errors);

        body = load("{\"topics\": [{\"cluster\": \"a\", \"topic\": \"x\", \"partitions\": 10}],"
                    " \"parallelism\": {\"from\": 1, \"to\": 5000}}");
        assert_int_equal(kp_sweep_request_parse(body, &sr, errors), KP_ERR_INVALID);
        assert_true(has_error(errors, "parallelism.to", "at most 4096 steps"));
        json_decref(body);
        json_array_clear(errors);

        json_decref(errors);
}

/* The limits that bound the work are 422s naming the limit and the value, checked after a
 * request parsed: partitions in all, and a sweep's partition-steps (parallelism x range
 * counts, and weighted counts more). */
static void test_work_limits_name_the_limit_and_the_value(void **state)
{
        char errstr[256], text[512];
        json_t *errors = json_array();
        kp_plan_request_t pr;
        kp_sweep_request_t sr;
        (void)state;
        /* a what-if at the limit passes, one partition more does not */
        snprintf(text, sizeof(text),
                 "{\"topics\": [{\"topic\": \"x\", \"partitions\": %d}, {\"topic\": \"y\", "
                 "\"partitions\": %d}], \"parallelism\": 1000}",
                 KP_WHATIF_PARTITIONS_MAX / 2, KP_WHATIF_PARTITIONS_MAX / 2);
        json_t *body = load(text);
        assert_int_equal(kp_plan_request_parse(body, &pr, errors), 0);
        assert_int_equal(kp_plan_request_check_work(&pr, errstr, sizeof(errstr)), 0);
        assert_int_equal(kp_plan_request_work(&pr), KP_WHATIF_PARTITIONS_MAX + 1000);
        kp_plan_request_cleanup(&pr);
        json_decref(body);
        snprintf(text, sizeof(text),
                 "{\"topics\": [{\"topic\": \"x\", \"partitions\": %d}, {\"topic\": \"y\", "
                 "\"partitions\": %d}], \"parallelism\": 1000}",
                 KP_WHATIF_PARTITIONS_MAX / 2, KP_WHATIF_PARTITIONS_MAX / 2 + 1);
        body = load(text);
        assert_int_equal(kp_plan_request_parse(body, &pr, errors), 0);
        assert_int_equal(kp_plan_request_check_work(&pr, errstr, sizeof(errstr)),
                         KP_ERR_UNPROCESSABLE);
        snprintf(text, sizeof(text), "%d partitions in all: over the limit of %d",
                 KP_WHATIF_PARTITIONS_MAX + 1, KP_WHATIF_PARTITIONS_MAX);
        assert_non_null(strstr(errstr, text));
        kp_plan_request_cleanup(&pr);
        json_decref(body);

        /* a sweep of few partitions over a high range: the tasks are the work */
        body = load("{\"topics\": [{\"topic\": \"x\", \"partitions\": 1}],"
                    " \"parallelism\": {\"from\": 96000, \"to\": 100000}}");
        assert_int_equal(kp_sweep_request_parse(body, &sr, errors), 0);
        assert_true(kp_sweep_request_work(&sr) >= 4001LL * 96000 * KP_STRATEGY__CNT);
        assert_int_equal(kp_sweep_request_check_work(&sr, errstr, sizeof(errstr)),
                         KP_ERR_UNPROCESSABLE);
        snprintf(text, sizeof(text), "over the limit of %lld", (long long)KP_SWEEP_WORK_MAX);
        assert_non_null(strstr(errstr, text));
        assert_non_null(strstr(errstr, "96000..100000"));
        kp_sweep_request_cleanup(&sr);
        json_decref(body);

        /* weighted costs more than balanced over the same range */
        body = load("{\"topics\": [{\"topic\": \"x\", \"partitions\": 1000}],"
                    " \"parallelism\": {\"from\": 1, \"to\": 10}, \"strategies\": [\"weighted\"]}");
        assert_int_equal(kp_sweep_request_parse(body, &sr, errors), 0);
        int64_t weighted = kp_sweep_request_work(&sr);
        kp_sweep_request_cleanup(&sr);
        json_decref(body);
        body = load("{\"topics\": [{\"topic\": \"x\", \"partitions\": 1000}],"
                    " \"parallelism\": {\"from\": 1, \"to\": 10}, \"strategies\": [\"balanced\"]}");
        assert_int_equal(kp_sweep_request_parse(body, &sr, errors), 0);
        assert_int_equal(kp_sweep_request_work(&sr), 10 * 1000 + 55);
        assert_int_equal(weighted, KP_SWEEP_WEIGHTED_COST * (10 * 1000 + 55));
        assert_int_equal(kp_sweep_request_check_work(&sr, errstr, sizeof(errstr)), 0);
        kp_sweep_request_cleanup(&sr);
        json_decref(body);
        assert_int_equal(json_array_size(errors), 0);
        json_decref(errors);
}

/* Every task 0..T-1 appears, idle ones with [], and every partition exactly once. */
static void test_plan_json_lists_every_task_and_partition_once(void **state)
{
        (void)state;
        kp_plan_topic_t topics[] = {{"a", "orders", 5}, {"b", "clicks", 3}};
        kp_plan_input_t in = {
                .topics = topics, .topic_cnt = 2, .parallelism = 10, .strategy = KP_STRATEGY_FLINK};
        char errstr[128];
        kp_plan_t *plan = kp_planner_plan(&in, errstr, sizeof(errstr));
        assert_non_null(plan);
        json_t *j = kp_plan_to_json(plan, topics, 2);
        assert_non_null(j);
        assert_int_equal(json_integer_value(json_object_get(j, "parallelism")), 10);
        assert_string_equal(json_string_value(json_object_get(j, "strategy")), "flink");
        json_t *tasks = json_object_get(j, "tasks");
        assert_int_equal(json_array_size(tasks), 10);
        int seen[8] = {0};
        size_t i, k;
        json_t *task, *p;
        json_array_foreach(tasks, i, task)
        {
                assert_int_equal(json_integer_value(json_object_get(task, "task")), (json_int_t)i);
                json_array_foreach(json_object_get(task, "partitions"), k, p)
                {
                        const char *c = json_string_value(json_object_get(p, "cluster"));
                        const char *t = json_string_value(json_object_get(p, "topic"));
                        int part = (int)json_integer_value(json_object_get(p, "partition"));
                        int flat = !strcmp(t, "orders") ? part : 5 + part;
                        assert_string_equal(c, !strcmp(t, "orders") ? "a" : "b");
                        assert_int_equal(plan->owner[flat], (int32_t)i);
                        seen[flat]++;
                }
        }
        for (int x = 0; x < 8; x++)
                assert_int_equal(seen[x], 1);
        json_t *an = json_object_get(j, "analysis");
        assert_string_equal(json_string_value(json_object_get(an, "case")),
                            "partitions_below_parallelism");
        assert_int_equal(json_integer_value(json_object_get(an, "partitions")), 8);
        assert_int_equal(json_integer_value(json_object_get(an, "tasks")), 10);
        assert_int_equal(json_integer_value(json_object_get(an, "idle_tasks")),
                         plan->analysis.idle_tasks);
        assert_true(json_is_null(json_object_get(an, "moved_from_previous")));
        assert_true(json_is_real(json_object_get(an, "skew")));
        assert_true(json_array_size(json_object_get(an, "recommendations")) >= 1);
        json_decref(j);
        kp_plan_destroy(plan);
}

/* The direct writer answers what-if requests: its text must be byte for byte what
 * json_dumps of the jansson tree gives, for every strategy, idle tasks, a NULL cluster
 * (the default), names jansson escapes, weights and a previous plan. */
static void test_plan_json_writer_matches_jansson_byte_for_byte(void **state)
{
        (void)state;
        static const char *names[] = {"orders",
                                      "a.b_c-9",
                                      "quo\"te\\back",
                                      "tab\there",
                                      "\x01"
                                      "ctl",
                                      "caf\xc3\xa9/x",
                                      "t"};
        unsigned seed = 12345;
        for (int round = 0; round < 300; round++) {
                kp_plan_topic_t topics[7];
                size_t K = 1 + (size_t)(rand_r(&seed) % 7), P = 0;
                for (size_t t = 0; t < K; t++) {
                        topics[t].cluster = (t % 3 == 2) ? NULL : (t % 2 ? "eu" : "us-\"1\"");
                        topics[t].topic = names[(t + (size_t)round) % 7];
                        topics[t].partitions = 1 + rand_r(&seed) % 40;
                        P += (size_t)topics[t].partitions;
                }
                /* distinct (cluster, topic) pairs: the index pattern above can repeat */
                if (K > 1 && topics[0].topic == topics[K - 1].topic)
                        K--;
                P = 0;
                for (size_t t = 0; t < K; t++)
                        P += (size_t)topics[t].partitions;
                double *w = malloc(P * sizeof(*w));
                int32_t *prev = malloc(P * sizeof(*prev));
                assert_non_null(w);
                assert_non_null(prev);
                int32_t T = 1 + rand_r(&seed) % 60;
                for (size_t i = 0; i < P; i++) {
                        w[i] = 0.5 + rand_r(&seed) % 1000 / 7.0;
                        prev[i] = (int32_t)(rand_r(&seed) % (unsigned)(T + 3)) - 1;
                }
                kp_plan_input_t in = {.topics = topics,
                                      .topic_cnt = K,
                                      .parallelism = T,
                                      .strategy = (kp_strategy_t)(round % KP_STRATEGY__CNT),
                                      .weights = round % 2 ? w : NULL,
                                      .previous_owner = round % 3 ? prev : NULL};
                char errstr[128];
                kp_plan_t *plan = kp_planner_plan(&in, errstr, sizeof(errstr));
                assert_non_null(plan);
                json_t *j = kp_plan_to_json(plan, topics, K);
                char *want = json_dumps(j, JSON_COMPACT);
                assert_non_null(want);
                kp_buf_t b;
                kp_buf_init(&b);
                kp_buf_append(&b, "x", 1); /* appends after what is there */
                assert_int_equal(kp_plan_json_write(&b, plan, topics, K), 0);
                assert_int_equal(b.len, strlen(want) + 1);
                assert_string_equal(b.data + 1, want);
                kp_buf_cleanup(&b);
                free(want);
                json_decref(j);
                kp_plan_destroy(plan);
                free(prev);
                free(w);
        }
}

/* The analysis writer against json_dumps of kp_plan_analysis_to_json: reals of every
 * magnitude (jansson's ".0" for integral values, exponents without '+' or leading
 * zeros), no previous plan (null), and advice with characters jansson escapes. */
static void test_analysis_writer_matches_jansson_byte_for_byte(void **state)
{
        (void)state;
        static const double reals[] = {0.0,  1.0,     1.5,       0.333333, 1e-7,    2.5e-5,
                                       1e21, 1.25e17, 123456.7,  1e300,    -0.0,    7e-300,
                                       1e15, 1e16,    99.999999, 4.0e-3,   31.0 / 7};
        static char rec0[] = "lower parallelism to 30 (\"x\" \\ y)", rec1[] = "tab\tnew\nline\x01",
                    rec2[] = "caf\xc3\xa9 \xe2\x80\x94 /slash";
        char *recs[] = {rec0, rec1, rec2};
        const size_t nr = sizeof(reals) / sizeof(reals[0]);
        for (size_t i = 0; i < nr * 3; i++) {
                kp_plan_analysis_t a = {.plan_case = (kp_plan_case_t)(i % 3),
                                        .partitions = (int64_t)i * 1000003,
                                        .tasks = (int32_t)i,
                                        .idle_tasks = (int32_t)(i / 2),
                                        .min_partitions_per_task = (int64_t)i,
                                        .max_partitions_per_task = (int64_t)i * 7,
                                        .skew = reals[i % nr],
                                        .max_load = reals[(i + 5) % nr],
                                        .mean_load = reals[(i + 11) % nr],
                                        .moved_from_previous = i % 4 ? (int64_t)i * 3 : -1,
                                        .recommendations = recs,
                                        .recommendation_cnt = i % 4};
                json_t *j = kp_plan_analysis_to_json(&a);
                assert_non_null(j);
                char *want = json_dumps(j, JSON_COMPACT);
                assert_non_null(want);
                kp_buf_t b;
                kp_buf_init(&b);
                assert_int_equal(kp_plan_analysis_write(&b, &a), 0);
                assert_string_equal(b.data, want);
                kp_buf_cleanup(&b);
                free(want);
                json_decref(j);
        }
}

/* The string writer skips eight bytes at a time past those that need no escape: a byte
 * to escape (or one at the edge of what needs none) at every offset of a long sentence,
 * and strings of every length around the word size, read as jansson writes them. */
static void test_analysis_writer_escapes_at_every_offset(void **state)
{
        (void)state;
        static const char *const odd[] = {"\"",           "\\",   "\b",   "\f",  "\n",   "\r",
                                          "\t",           "\x01", "\x1f", " ",   "\x7f", "\xc3\xa9",
                                          "\xe2\x80\x94", "!",    "\\\"", "\n\n"};
        for (size_t len = 1; len <= 41; len++) {
                for (size_t at = 0; at < len; at++) {
                        for (size_t k = 0; k < sizeof(odd) / sizeof(odd[0]); k++) {
                                char rec[64];
                                char *recs[] = {rec};
                                memset(rec, 'a' + (int)(at % 26), at);
                                snprintf(rec + at, sizeof(rec) - at, "%s%.*s", odd[k],
                                         (int)(len - at),
                                         "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz");
                                kp_plan_analysis_t a = {.plan_case = KP_CASE_EQUAL,
                                                        .recommendations = recs,
                                                        .recommendation_cnt = 1};
                                json_t *j = kp_plan_analysis_to_json(&a);
                                assert_non_null(j);
                                assert_int_equal(
                                        json_array_size(json_object_get(j, "recommendations")), 1);
                                char *want = json_dumps(j, JSON_COMPACT);
                                assert_non_null(want);
                                kp_buf_t b;
                                kp_buf_init(&b);
                                assert_int_equal(kp_plan_analysis_write(&b, &a), 0);
                                assert_string_equal(b.data, want);
                                kp_buf_cleanup(&b);
                                free(want);
                                json_decref(j);
                        }
                }
        }
}

/* A plan document maps back to the same owners; new partitions are -1; owners beyond
 * a smaller parallelism are kept for the planner to treat as removed tasks. */
static void test_previous_owners_round_trip(void **state)
{
        (void)state;
        kp_plan_topic_t topics[] = {{"a", "orders", 6}, {"b", "clicks", 4}};
        kp_plan_input_t in = {.topics = topics, .topic_cnt = 2, .parallelism = 7};
        char errstr[128];
        kp_plan_t *plan = kp_planner_plan(&in, errstr, sizeof(errstr));
        json_t *doc = kp_plan_to_json(plan, topics, 2);
        int32_t *prev = NULL;
        assert_int_equal(kp_plan_previous_owners(doc, topics, 2, &prev), 0);
        assert_non_null(prev);
        assert_memory_equal(prev, plan->owner, 10 * sizeof(*prev));
        free(prev);

        /* grown topics, a new topic, and a topic that went away */
        kp_plan_topic_t grown[] = {{"c", "new", 2}, {"b", "clicks", 6}};
        assert_int_equal(kp_plan_previous_owners(doc, grown, 2, &prev), 0);
        assert_int_equal(prev[0], -1);
        assert_int_equal(prev[1], -1);
        for (int p = 0; p < 4; p++)
                assert_int_equal(prev[2 + p], plan->owner[6 + p]);
        assert_int_equal(prev[6], -1);
        assert_int_equal(prev[7], -1);

        /* a sticky re-plan at a lower parallelism from that document */
        kp_plan_input_t again = {
                .topics = grown, .topic_cnt = 2, .parallelism = 3, .previous_owner = prev};
        kp_plan_t *p2 = kp_planner_plan(&again, errstr, sizeof(errstr));
        assert_non_null(p2);
        for (int i = 0; i < 8; i++)
                assert_true(p2->owner[i] >= 0 && p2->owner[i] < 3);
        json_t *doc2 = kp_plan_to_json(p2, grown, 2);
        assert_true(json_is_integer(
                json_object_get(json_object_get(doc2, "analysis"), "moved_from_previous")));
        json_decref(doc2);
        kp_plan_destroy(p2);
        free(prev);

        json_t *empty = load("{\"version\": 1}");
        assert_int_equal(kp_plan_previous_owners(empty, topics, 2, &prev), 0);
        assert_null(prev);
        json_decref(empty);
        json_decref(doc);
        kp_plan_destroy(plan);
}

static void test_analysis_json_reports_moves_when_previous(void **state)
{
        (void)state;
        kp_plan_analysis_t a;
        memset(&a, 0, sizeof(a));
        a.plan_case = KP_CASE_EQUAL;
        a.partitions = 30;
        a.tasks = 30;
        a.skew = 1.0000000001;
        a.moved_from_previous = 4;
        char *rec = "one";
        a.recommendations = &rec;
        a.recommendation_cnt = 1;
        json_t *j = kp_plan_analysis_to_json(&a);
        assert_int_equal(json_integer_value(json_object_get(j, "moved_from_previous")), 4);
        assert_true(json_real_value(json_object_get(j, "skew")) == 1.0);
        assert_string_equal(
                json_string_value(json_array_get(json_object_get(j, "recommendations"), 0)), "one");
        json_decref(j);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_whatif_request_parses_all_fields),
                cmocka_unit_test(test_whatif_defaults_cluster_and_strategy),
                cmocka_unit_test(test_whatif_validation_names_each_field),
                cmocka_unit_test(test_whatif_refuses_duplicate_topics),
                cmocka_unit_test(test_whatif_weights_are_checked_against_topics),
                cmocka_unit_test(
                        test_whatif_huge_and_repeated_weights_are_refused_naming_the_entry),
                cmocka_unit_test(test_work_limits_name_the_limit_and_the_value),
                cmocka_unit_test(test_sweep_request_defaults_and_limits),
                cmocka_unit_test(test_plan_json_lists_every_task_and_partition_once),
                cmocka_unit_test(test_plan_json_writer_matches_jansson_byte_for_byte),
                cmocka_unit_test(test_analysis_writer_matches_jansson_byte_for_byte),
                cmocka_unit_test(test_analysis_writer_escapes_at_every_offset),
                cmocka_unit_test(test_previous_owners_round_trip),
                cmocka_unit_test(test_analysis_json_reports_moves_when_previous),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
