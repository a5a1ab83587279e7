/* test_planner_strategy.c — the strategy table: names round-trip, errors list every name, and
 * the OpenAPI document and the page compiled into the binary name the same strategies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "base/config.h"
#include "base/err.h"
#include "http/assets.h"
#include "planner/plan_json.h"
#include "planner/planner.h"

/* The names in table order, joined by @p sep (the test's own join, not the table's). */
static void names_joined(const char *sep, char *buf, size_t size)
{
        size_t len = 0;
        buf[0] = '\0';
        for (int s = 0; s < KP_STRATEGY__CNT; s++)
                len += (size_t)snprintf(buf + len, size - len, "%s%s", s ? sep : "",
                                        kp_strategy_desc((kp_strategy_t)s)->name);
}

static json_t *load(const char *text)
{
        json_error_t e;
        json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &e);
        if (!j)
                fail_msg("bad JSON: %s", e.text);
        return j;
}

static void test_strategy_names_parse_back(void **state)
{
        (void)state;
        for (int s = 0; s < KP_STRATEGY__CNT; s++) {
                kp_strategy_t back;
                assert_non_null(kp_strategy_name((kp_strategy_t)s));
                assert_int_equal(kp_strategy_parse(kp_strategy_name((kp_strategy_t)s), &back), 0);
                assert_int_equal(back, s);
        }
        kp_strategy_t x;
        assert_int_equal(kp_strategy_parse("sticky", &x), -1);
        assert_int_equal(kp_strategy_parse(NULL, &x), -1);
        assert_null(kp_strategy_name(KP_STRATEGY__CNT));
        assert_null(kp_strategy_desc(KP_STRATEGY__CNT));
        assert_null(kp_strategy_desc((kp_strategy_t)-1));
        assert_string_equal(kp_plan_case_name(KP_CASE_BELOW), "partitions_below_parallelism");
}

/* Each entry sits at its own enum value, with a distinct name, a summary and a function. */
static void test_every_entry_is_complete_and_at_its_value(void **state)
{
        (void)state;
        for (int s = 0; s < KP_STRATEGY__CNT; s++) {
                const kp_strategy_desc_t *d = kp_strategy_desc((kp_strategy_t)s);
                assert_non_null(d);
                assert_int_equal(d->strategy, s);
                assert_non_null(d->name);
                assert_non_null(d->summary);
                assert_true(strlen(d->summary) > 0 && !strchr(d->summary, '\n'));
                assert_non_null(d->plan);
                for (int o = 0; o < s; o++)
                        assert_string_not_equal(d->name, kp_strategy_name((kp_strategy_t)o));
        }
        /* what the callers switch on */
        assert_true(kp_strategy_desc(KP_STRATEGY_WEIGHTED)->flags & KP_STRATEGY_F_WEIGHTS);
        assert_false(kp_strategy_desc(KP_STRATEGY_BALANCED)->flags & KP_STRATEGY_F_WEIGHTS);
        assert_true(kp_strategy_desc(KP_STRATEGY_BALANCED)->flags & KP_STRATEGY_F_STICKY);
        assert_true(kp_strategy_desc(KP_STRATEGY_FLINK)->flags & KP_STRATEGY_F_EXTERNAL);
        assert_false(kp_strategy_desc(KP_STRATEGY_FLINK)->flags & KP_STRATEGY_F_STICKY);
}

/* The joined list is every name in order, and a short buffer is cut, never overrun. */
static void test_names_lists_every_strategy_in_order(void **state)
{
        (void)state;
        char buf[256], want[256];
        assert_string_equal(kp_strategy_names(", ", buf, sizeof(buf)),
                            "balanced, weighted, flink, range, roundrobin");
        names_joined("|", want, sizeof(want));
        assert_string_equal(kp_strategy_names("|", buf, sizeof(buf)), want);
        char small[12];
        memset(small, 'x', sizeof(small));
        assert_string_equal(kp_strategy_names(", ", small, 8), "balance");
        assert_int_equal(small[8], 'x');
}

/* An unknown name is refused with a message that lists every valid one (what-if and sweep). */
static void test_unknown_strategy_error_lists_every_name(void **state)
{
        (void)state;
        char names[256], want[300];
        names_joined(", ", names, sizeof(names));
        snprintf(want, sizeof(want), "must be one of %s", names);
        json_t *body = load("{\"topics\":[{\"topic\":\"a\",\"partitions\":3}],\"parallelism\":2,"
                            "\"strategy\":\"sticky\"}");
        json_t *errors = json_array();
        kp_plan_request_t req;
        assert_int_equal(kp_plan_request_parse(body, &req, errors), KP_ERR_INVALID);
        assert_int_equal(json_array_size(errors), 1);
        assert_string_equal(
                json_string_value(json_object_get(json_array_get(errors, 0), "message")), want);
        json_decref(errors);
        json_decref(body);

        body = load("{\"topics\":[{\"topic\":\"a\",\"partitions\":3}],"
                    "\"parallelism\":{\"from\":1,\"to\":2},\"strategies\":[\"sticky\"]}");
        errors = json_array();
        kp_sweep_request_t sw;
        assert_int_equal(kp_sweep_request_parse(body, &sw, errors), KP_ERR_INVALID);
        assert_string_equal(json_string_value(json_object_get(json_array_get(errors, 0), "field")),
                            "strategies[0]");
        assert_string_equal(
                json_string_value(json_object_get(json_array_get(errors, 0), "message")), want);
        json_decref(errors);
        json_decref(body);

        /* a sweep without strategies runs every one, in table order */
        body = load("{\"topics\":[{\"topic\":\"a\",\"partitions\":3}],"
                    "\"parallelism\":{\"from\":1,\"to\":2}}");
        errors = json_array();
        assert_int_equal(kp_sweep_request_parse(body, &sw, errors), 0);
        assert_int_equal(sw.strategy_cnt, KP_STRATEGY__CNT);
        for (size_t k = 0; k < sw.strategy_cnt; k++)
                assert_int_equal(sw.strategies[k], (kp_strategy_t)k);
        kp_sweep_request_cleanup(&sw);
        json_decref(errors);
        json_decref(body);
}

/* openapi.json (as compiled in): the Strategy enum is the table's names in order, its
 * description is "name: summary; ...", and a sweep takes at most every strategy once. */
static void test_openapi_strategy_schema_matches_the_table(void **state)
{
        (void)state;
        const kp_asset_t *a = kp_asset_find("openapi.json");
        assert_non_null(a);
        json_t *doc = load((const char *)a->data);
        json_t *schemas = json_object_get(json_object_get(doc, "components"), "schemas");
        json_t *st = json_object_get(schemas, "Strategy");
        json_t *en = json_object_get(st, "enum");
        assert_int_equal(json_array_size(en), KP_STRATEGY__CNT);
        char desc[2048];
        size_t len = 0;
        for (int s = 0; s < KP_STRATEGY__CNT; s++) {
                const kp_strategy_desc_t *d = kp_strategy_desc((kp_strategy_t)s);
                assert_string_equal(json_string_value(json_array_get(en, (size_t)s)), d->name);
                len += (size_t)snprintf(desc + len, sizeof(desc) - len, "%s%s: %s", s ? "; " : "",
                                        d->name, d->summary);
        }
        snprintf(desc + len, sizeof(desc) - len, ".");
        assert_string_equal(json_string_value(json_object_get(st, "description")), desc);
        /* every array of strategies (the sweep's) allows each strategy once */
        int arrays = 0;
        const char *name;
        json_t *schema;
        json_object_foreach(schemas, name, schema)
        {
                json_t *arr = json_object_get(json_object_get(schema, "properties"), "strategies");
                if (!arr)
                        continue;
                arrays++;
                assert_int_equal(json_integer_value(json_object_get(arr, "maxItems")),
                                 KP_STRATEGY__CNT);
        }
        assert_true(arrays >= 1);
        json_decref(doc);
}

/* The page's list (web/app.js `const STRATEGIES = [...]`, as compiled in) is the table's. */
static void test_page_strategy_list_matches_the_table(void **state)
{
        (void)state;
        const kp_asset_t *a = kp_asset_find("app.js");
        assert_non_null(a);
        const char *at = strstr((const char *)a->data, "const STRATEGIES = [");
        assert_non_null(at);
        at = strchr(at, '[');
        const char *end = strchr(at, ']');
        assert_non_null(end);
        /* a JS array of single-quoted names: as JSON once the quotes are swapped */
        char *js = strndup(at, (size_t)(end - at + 1));
        for (char *c = js; *c; c++)
                if (*c == '\'')
                        *c = '"';
        json_t *list = load(js);
        assert_int_equal(json_array_size(list), KP_STRATEGY__CNT);
        for (int s = 0; s < KP_STRATEGY__CNT; s++)
                assert_string_equal(json_string_value(json_array_get(list, (size_t)s)),
                                    kp_strategy_name((kp_strategy_t)s));
        json_decref(list);
        free(js);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_strategy_names_parse_back),
                cmocka_unit_test(test_every_entry_is_complete_and_at_its_value),
                cmocka_unit_test(test_names_lists_every_strategy_in_order),
                cmocka_unit_test(test_unknown_strategy_error_lists_every_name),
                cmocka_unit_test(test_openapi_strategy_schema_matches_the_table),
                cmocka_unit_test(test_page_strategy_list_matches_the_table),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
