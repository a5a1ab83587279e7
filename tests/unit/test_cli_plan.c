/* test_cli_plan.c — `kplane plan`: its usage names the strategy table's strategies, flags are
 * checked with exit code 2, and a plan prints as text and as JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "cli/cli_plan.h"
#include "planner/planner.h"

typedef struct run {
        int rc;
        char out[16384], err[4096];
} run_t;

/* Everything @p f wrote to its file since the start, NUL-terminated into @p buf. */
static void slurp(FILE *f, char *buf, size_t size)
{
        rewind(f);
        size_t n = fread(buf, 1, size - 1, f);
        buf[n] = '\0';
        fclose(f);
}

/* Runs kp_cli_plan_main with @p argv (NULL-terminated) and captures stdout and stderr. */
static void run_cli(run_t *r, const char **argv)
{
        int argc = 0;
        while (argv[argc])
                argc++;
        FILE *out = tmpfile(), *err = tmpfile();
        assert_non_null(out);
        assert_non_null(err);
        fflush(stdout);
        fflush(stderr);
        int so = dup(STDOUT_FILENO), se = dup(STDERR_FILENO);
        dup2(fileno(out), STDOUT_FILENO);
        dup2(fileno(err), STDERR_FILENO);
        r->rc = kp_cli_plan_main(argc, (char **)argv);
        fflush(stdout);
        fflush(stderr);
        dup2(so, STDOUT_FILENO);
        dup2(se, STDERR_FILENO);
        close(so);
        close(se);
        slurp(out, r->out, sizeof(r->out));
        slurp(err, r->err, sizeof(r->err));
}

/* The usage line lists every strategy of the table, in order, as a|b|c. */
static void test_usage_lists_every_strategy_of_the_table(void **state)
{
        (void)state;
        static run_t r;
        char want[512];
        size_t len = (size_t)snprintf(want, sizeof(want), "[--strategy ");
        for (int s = 0; s < KP_STRATEGY__CNT; s++)
                len += (size_t)snprintf(want + len, sizeof(want) - len, "%s%s", s ? "|" : "",
                                        kp_strategy_name((kp_strategy_t)s));
        snprintf(want + len, sizeof(want) - len, "]\n");
        run_cli(&r, (const char *[]){"plan", "--help", NULL});
        assert_int_equal(r.rc, 0);
        assert_non_null(strstr(r.out, want));
        assert_string_equal(r.err, "");
}

/* An unknown strategy exits 2 and names every valid one. */
static void test_unknown_strategy_exits_2_listing_every_name(void **state)
{
        (void)state;
        static run_t r;
        char names[256], want[512];
        snprintf(want, sizeof(want), "kplane plan: strategy: must be one of %s\n",
                 kp_strategy_names(", ", names, sizeof(names)));
        run_cli(&r, (const char *[]){"plan", "--topic", "a:3", "-p", "2", "-s", "sticky", NULL});
        assert_int_equal(r.rc, 2);
        assert_string_equal(r.err, want);
        assert_string_equal(r.out, "");
}

/* Malformed or conflicting flags exit 2 with a reason and print no plan. */
static void test_bad_flags_exit_2_with_a_reason(void **state)
{
        (void)state;
        static run_t r;
        run_cli(&r, (const char *[]){"plan", "--topic", "a", "-p", "2", NULL});
        assert_int_equal(r.rc, 2);
        assert_string_equal(r.err, "kplane plan: --topic wants [CLUSTER/]NAME:PARTITIONS, got a\n");
        run_cli(&r, (const char *[]){"plan", "--topic", "a:3", "--parallelism=x", NULL});
        assert_int_equal(r.rc, 2);
        assert_string_equal(r.err, "kplane plan: --parallelism wants a number\n");
        run_cli(&r, (const char *[]){"plan", "--batch", "--topic", "a:1", NULL});
        assert_int_equal(r.rc, 2);
        assert_string_equal(r.err, "kplane plan: --batch takes no other options\n");
        run_cli(&r, (const char *[]){"plan", "--topic", "a:0", "-p", "2", NULL});
        assert_int_equal(r.rc, 2);
        assert_non_null(strstr(r.err, "kplane plan: --topic: "));
        run_cli(&r, (const char *[]){"--format", "xml", NULL});
        assert_int_equal(r.rc, 2);
        assert_string_equal(r.err, "kplane plan: --format is text or json\n");
        assert_string_equal(r.out, "");
}

/* Text: a header, one line per task with its partitions as runs, then the analysis. */
static void test_plan_prints_tasks_and_analysis_as_text(void **state)
{
        (void)state;
        static run_t r;
        run_cli(&r, (const char *[]){"plan", "--topic", "orders:5", "--topic", "c2/pay:2", "-p",
                                     "2", "--strategy=range", NULL});
        assert_int_equal(r.rc, 0);
        assert_string_equal(r.err, "");
        assert_non_null(strstr(r.out, "strategy range, parallelism 2, 7 partitions in 2 topics\n"));
        /* range: task 0 takes orders 0-2 and pay 0, task 1 orders 3-4 and pay 1 */
        assert_non_null(strstr(r.out, "     0          4  default/orders[0-2] c2/pay[0]\n"));
        assert_non_null(strstr(r.out, "     1          3  default/orders[3-4] c2/pay[1]\n"));
        assert_non_null(strstr(r.out, "  partitions per task      3..4\n"));
}

/* JSON: the plan document, every task listed, sticky to --previous when given. */
static void test_plan_prints_json_sticky_to_previous(void **state)
{
        (void)state;
        static run_t r;
        char path[] = "/tmp/test_cli_plan_XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        const char *prev = "{\"tasks\":[{\"task\":1,\"partitions\":[{\"cluster\":\"default\","
                           "\"topic\":\"a\",\"partition\":0}]}]}";
        assert_int_equal(write(fd, prev, strlen(prev)), (ssize_t)strlen(prev));
        close(fd);
        run_cli(&r, (const char *[]){"plan", "--topic", "a:4", "-p", "3", "--format", "json",
                                     "--previous", path, NULL});
        unlink(path);
        assert_int_equal(r.rc, 0);
        json_error_t e;
        json_t *doc = json_loads(r.out, 0, &e);
        assert_non_null(doc);
        assert_string_equal(json_string_value(json_object_get(doc, "strategy")), "balanced");
        json_t *tasks = json_object_get(doc, "tasks");
        assert_int_equal(json_array_size(tasks), 3);
        /* partition 0 stays on task 1, its previous owner */
        json_t *t1 = json_object_get(json_array_get(tasks, 1), "partitions");
        int kept = 0;
        for (size_t i = 0; i < json_array_size(t1); i++)
                kept |= json_integer_value(json_object_get(json_array_get(t1, i), "partition")) ==
                        0;
        assert_true(kept);
        json_t *an = json_object_get(doc, "analysis");
        assert_int_equal(json_integer_value(json_object_get(an, "moved_from_previous")), 0);
        json_decref(doc);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_usage_lists_every_strategy_of_the_table),
                cmocka_unit_test(test_unknown_strategy_exits_2_listing_every_name),
                cmocka_unit_test(test_bad_flags_exit_2_with_a_reason),
                cmocka_unit_test(test_plan_prints_tasks_and_analysis_as_text),
                cmocka_unit_test(test_plan_prints_json_sticky_to_previous),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
