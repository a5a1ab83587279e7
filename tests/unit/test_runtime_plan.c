/* test_runtime_plan.c — the runtime's typed plan: the adapter from plan documents, its checks,
 * a running group that refuses an older plan and runs the plan's parallelism, cluster health
 * and the metric sections. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "kafka/client_conf.h"
#include "base/err.h"
#include "runtime/runtime.h"
#include "runtime/runtime_int.h"
#include "runtime/runtime_plan.h"
#include "base/util.h"

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static json_t *load(const char *text)
{
        json_error_t e;
        json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &e);
        if (!j)
                fail_msg("fixture: %s", e.text);
        return j;
}

static const char *const CLUSTERS =
        "{\"a\": {\"bootstrap_servers\": \"h1:9092\", \"config\": {\"log_level\": \"0\"}},"
        " \"b\": {\"bootstrap_servers\": \"h2:9092\"}}";

/* @returns the adapter's result for plan document @p plan_text over CLUSTERS, the error
 * text in @p err; a plan read is released at once (the errors are what is looked at). */
static int from_json(const char *plan_text, kp_rt_plan_t *out, char *err, size_t err_size)
{
        json_t *plan = load(plan_text), *cls = load(CLUSTERS);
        int r = kp_rt_plan_from_json(plan, cls, out, err, err_size);
        if (!r)
                kp_rt_plan_cleanup(out);
        json_decref(plan);
        json_decref(cls);
        return r;
}

static void
test_plan_document_reads_into_tasks_by_number_with_clusters_by_first_mention(void **state)
{
        json_t *plan = load("{\"version\": 4, \"parallelism\": 5, \"tasks\": ["
                            " {\"task\": 1, \"partitions\": [{\"cluster\": \"b\", \"topic\": "
                            "\"t\", \"partition\": 3}]},"
                            " {\"task\": 0, \"partitions\": [{\"cluster\": \"a\", \"topic\": "
                            "\"t\", \"partition\": 0}, {\"cluster\": \"b\", \"topic\": \"u\", "
                            "\"partition\": 1}]},"
                            " {\"task\": 2, \"partitions\": []}]}");
        json_t *cls = load(CLUSTERS);
        kp_rt_plan_t p;
        char err[256];
        (void)state;

        assert_int_equal(kp_rt_plan_from_json(plan, cls, &p, err, sizeof(err)), 0);
        assert_int_equal(p.version, 4);
        assert_int_equal(p.parallelism, 5); /* the plan's, not the 3 tasks listed */
        assert_int_equal(p.ntasks, 3);
        assert_int_equal(p.tasks[0].nparts, 2);
        assert_int_equal(p.tasks[1].nparts, 1);
        assert_int_equal(p.tasks[2].nparts, 0);
        /* b is named first (task element 0 is task 1) */
        assert_int_equal(p.nclusters, 2);
        assert_string_equal(p.clusters[0].name, "b");
        assert_string_equal(p.clusters[0].bootstrap, "h2:9092");
        assert_null(p.clusters[0].config);
        assert_string_equal(p.clusters[1].name, "a");
        assert_string_equal(p.clusters[1].bootstrap, "h1:9092");
        assert_string_equal(json_string_value(json_object_get(p.clusters[1].config, "log_level")),
                            "0");
        assert_int_equal(p.tasks[1].parts[0].cluster, 0);
        assert_string_equal(p.tasks[1].parts[0].topic, "t");
        assert_int_equal(p.tasks[1].parts[0].partition, 3);
        assert_int_equal(p.tasks[0].parts[0].cluster, 1);
        assert_int_equal(p.tasks[0].parts[1].cluster, 0);
        assert_string_equal(p.tasks[0].parts[1].topic, "u");
        assert_int_equal(p.tasks[0].parts[1].partition, 1);
        assert_int_equal(kp_rt_plan_check(&p, err, sizeof(err)), 0);
        kp_rt_plan_cleanup(&p);
        assert_null(p.tasks);
        kp_rt_plan_cleanup(NULL);
        json_decref(plan);
        json_decref(cls);
}

static void
test_plan_document_without_parallelism_or_task_numbers_runs_the_tasks_listed(void **state)
{
        json_t *plan = load("{\"tasks\": [{\"partitions\": [{\"cluster\": \"a\", \"topic\": "
                            "\"t\", \"partition\": 0}]}, {}]}");
        json_t *cls = load(CLUSTERS);
        kp_rt_plan_t p;
        char err[256];
        (void)state;
        assert_int_equal(kp_rt_plan_from_json(plan, cls, &p, err, sizeof(err)), 0);
        assert_int_equal(p.version, 0);
        assert_int_equal(p.parallelism, 2);
        assert_int_equal(p.ntasks, 2);
        assert_int_equal(p.tasks[0].nparts, 1);
        assert_int_equal(p.tasks[1].nparts, 0);
        kp_rt_plan_cleanup(&p);
        json_decref(plan);
        json_decref(cls);
}

/* Each bad document, and the field its error names. */
static void test_plan_document_errors_name_the_field(void **state)
{
        static const struct {
                const char *plan, *want;
        } cases[] = {
                {"[]", "plan.tasks: must be a non-empty array"},
                {"{\"tasks\": []}", "plan.tasks: must be a non-empty array"},
                {"{\"tasks\": [{}, {}], \"parallelism\": 1}", "plan.parallelism: must be 2.."},
                {"{\"tasks\": [{}], \"parallelism\": \"2\"}", "plan.parallelism"},
                {"{\"tasks\": [{\"task\": 0}, {\"task\": 0}]}",
                 "plan.tasks[1].task: must be a unique number 0..1"},
                {"{\"tasks\": [{\"task\": 2}, {}]}", "plan.tasks[0].task"},
                {"{\"tasks\": [{\"task\": \"0\"}]}", "plan.tasks[0].task"},
                {"{\"tasks\": [{\"partitions\": {}}]}", "plan.tasks[0].partitions: not an array"},
                {"{\"tasks\": [{\"partitions\": [{\"cluster\": \"a\", \"topic\": \"t\"}]}]}",
                 "plan.tasks[0].partitions[0]: needs cluster, topic and partition"},
                {"{\"tasks\": [{}, {\"partitions\": [{\"cluster\": \"a\", \"topic\": \"t\", "
                 "\"partition\": -1}]}]}",
                 "plan.tasks[1].partitions[0]: needs cluster, topic and partition"},
                {"{\"tasks\": [{\"partitions\": [{\"cluster\": \"a\", \"topic\": \"bad topic\", "
                 "\"partition\": 0}]}]}",
                 "plan.tasks[0].partitions[0]: needs"},
                {"{\"tasks\": [{\"partitions\": [{\"cluster\": \"a\", \"topic\": \"t\", "
                 "\"partition\": 0}, {\"cluster\": \"zzz\", \"topic\": \"t\", \"partition\": "
                 "1}]}]}",
                 "plan.tasks[0].partitions[1]: cluster \"zzz\" has no bootstrap_servers"},
        };
        (void)state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                kp_rt_plan_t p;
                char err[256] = "";
                int r = from_json(cases[i].plan, &p, err, sizeof(err));
                if (r != KP_ERR_INVALID || !strstr(err, cases[i].want))
                        fail_msg("%s: got %d \"%s\", want \"%s\"", cases[i].plan, r, err,
                                 cases[i].want);
                assert_null(p.tasks); /* nothing left to free after an error */
                assert_null(p.clusters);
        }
        {
                json_t *plan = load("{\"tasks\": [{}]}"), *cls = json_array();
                kp_rt_plan_t p;
                char err[256];
                assert_int_equal(kp_rt_plan_from_json(plan, cls, &p, err, sizeof(err)),
                                 KP_ERR_INVALID);
                assert_non_null(strstr(err, "clusters: must be an object"));
                json_decref(plan);
                json_decref(cls);
        }
}

/* A plan built in C (not from a document) is checked the same way. */
static void test_typed_plan_check_refuses_what_the_runtime_cannot_run(void **state)
{
        kp_rt_plan_part_t parts[] = {{0, "t", 0}};
        kp_rt_plan_task_t tasks[] = {{parts, 1}};
        kp_cluster_ref_t cls[] = {{"a", "h1:9092", NULL}};
        kp_rt_plan_t p = {1, 2, tasks, 1, cls, 1, NULL};
        char err[256];
        (void)state;

        assert_int_equal(kp_rt_plan_check(&p, err, sizeof(err)), 0);
        p.parallelism = 0;
        assert_int_equal(kp_rt_plan_check(&p, err, sizeof(err)), KP_ERR_INVALID);
        assert_non_null(strstr(err, "plan.parallelism"));
        p.parallelism = 2;
        p.ntasks = 3;
        assert_int_equal(kp_rt_plan_check(&p, err, sizeof(err)), KP_ERR_INVALID);
        assert_non_null(strstr(err, "plan.tasks"));
        p.ntasks = 1;
        parts[0].cluster = 1;
        assert_int_equal(kp_rt_plan_check(&p, err, sizeof(err)), KP_ERR_INVALID);
        assert_non_null(strstr(err, "plan.tasks[0].partitions[0].cluster"));
        parts[0].cluster = 0;
        parts[0].partition = -2;
        assert_int_equal(kp_rt_plan_check(&p, err, sizeof(err)), KP_ERR_INVALID);
        parts[0].partition = 0;
        cls[0].bootstrap = NULL;
        assert_int_equal(kp_rt_plan_check(&p, err, sizeof(err)), KP_ERR_INVALID);
        assert_non_null(strstr(err, "cluster \"a\" has no bootstrap_servers"));
        assert_int_equal(kp_rt_plan_check(NULL, err, sizeof(err)), KP_ERR_INVALID);
}

/* ---- a running group on an in-process mock cluster ---- */

static json_t *status_of(kp_runtime_t *rt, const char *group)
{
        json_t *st = kp_runtime_group_status(rt, group);
        assert_non_null(st);
        return st;
}

static int plan_version_of(kp_runtime_t *rt, const char *group)
{
        json_t *st = status_of(rt, group);
        int v = (int)json_integer_value(json_object_get(st, "plan_version"));
        json_decref(st);
        return v;
}

static size_t tasks_of(kp_runtime_t *rt, const char *group)
{
        json_t *st = status_of(rt, group);
        size_t n = json_array_size(json_object_get(st, "tasks"));
        json_decref(st);
        return n;
}

/*
 * A typed plan: version @p version, @p parallelism tasks of which the first @p listed are
 * listed, partition p of topic "ver" (of @p partitions) going to task p % listed.
 */
typedef struct typed {
        kp_rt_plan_part_t parts[8];
        kp_rt_plan_task_t tasks[8];
        kp_cluster_ref_t cluster;
        kp_rt_plan_t plan;
} typed_t;

static void typed_init(typed_t *t, const char *bootstrap, int version, int parallelism, int listed,
                       int partitions)
{
        memset(t, 0, sizeof(*t));
        t->cluster = (kp_cluster_ref_t){"a", bootstrap, NULL};
        for (int i = 0; i < listed; i++)
                t->tasks[i].parts = &t->parts[i * partitions];
        for (int p = 0; p < partitions; p++) {
                kp_rt_plan_task_t *task = &t->tasks[p % listed];
                task->parts[task->nparts++] = (kp_rt_plan_part_t){0, "ver", p};
        }
        t->plan = (kp_rt_plan_t){version, parallelism, t->tasks, listed, &t->cluster, 1, NULL};
}

/* Two replans racing to apply: the runtime keeps the newer one, and refuses the older with
 * a conflict that changes nothing. The same version applies again. */
static void test_apply_refuses_a_plan_older_than_the_one_running_and_changes_nothing(void **state)
{
        char err[256];
        kp_runtime_t *rt = kp_runtime_new(err, sizeof(err));
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_t *rk;
        rd_kafka_mock_cluster_t *mc;
        json_t *grp = json_pack("{s:s, s:{s:s}}", "name", "g-ver", "sink", "type", "discard");
        typed_t v2, v1, v2b, v3;
        (void)state;

        rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
        assert_non_null(rk);
        mc = rd_kafka_mock_cluster_new(rk, 1);
        assert_non_null(mc);
        assert_int_equal(rd_kafka_mock_topic_create(mc, "ver", 2, 1), 0);
        const char *bootstrap = rd_kafka_mock_cluster_bootstraps(mc);

        /* parallelism 3 with 2 tasks listed: the third runs idle */
        typed_init(&v2, bootstrap, 2, 3, 2, 2);
        assert_int_equal(kp_runtime_start(rt, grp, &v2.plan, err, sizeof(err)), 0);
        assert_int_equal(tasks_of(rt, "g-ver"), 3);
        assert_int_equal(kp_runtime_task_count(rt), 3);
        {
                json_t *st = status_of(rt, "g-ver");
                json_t *t2 = json_array_get(json_object_get(st, "tasks"), 2);
                assert_string_equal(json_string_value(json_object_get(t2, "state")), "idle");
                json_decref(st);
        }

        typed_init(&v1, bootstrap, 1, 1, 1, 2);
        assert_int_equal(kp_runtime_apply(rt, "g-ver", &v1.plan, err, sizeof(err)),
                         KP_ERR_CONFLICT);
        assert_non_null(strstr(err, "runs plan version 2"));
        assert_non_null(strstr(err, "version 1 is older"));
        assert_int_equal(plan_version_of(rt, "g-ver"), 2);
        assert_int_equal(tasks_of(rt, "g-ver"), 3);
        assert_int_equal(kp_runtime_task_count(rt), 3);

        /* the document adapter refuses the same way */
        json_t *doc = json_pack("{s:i, s:i, s:[{s:i, s:[{s:s, s:s, s:i}, {s:s, s:s, s:i}]}]}",
                                "version", 1, "parallelism", 1, "tasks", "task", 0, "partitions",
                                "cluster", "a", "topic", "ver", "partition", 0, "cluster", "a",
                                "topic", "ver", "partition", 1);
        json_t *cls = json_pack("{s:{s:s}}", "a", "bootstrap_servers", bootstrap);
        assert_int_equal(kp_runtime_group_apply(rt, "g-ver", doc, cls, err, sizeof(err)),
                         KP_ERR_CONFLICT);
        assert_int_equal(tasks_of(rt, "g-ver"), 3);

        /* the same version again: applied (what runs moves nothing) */
        typed_init(&v2b, bootstrap, 2, 3, 2, 2);
        assert_int_equal(kp_runtime_apply(rt, "g-ver", &v2b.plan, err, sizeof(err)), 0);
        assert_int_equal(plan_version_of(rt, "g-ver"), 2);

        /* a newer one: applied, its parallelism runs */
        typed_init(&v3, bootstrap, 3, 1, 1, 2);
        assert_int_equal(kp_runtime_apply(rt, "g-ver", &v3.plan, err, sizeof(err)), 0);
        assert_int_equal(plan_version_of(rt, "g-ver"), 3);
        assert_int_equal(tasks_of(rt, "g-ver"), 1);
        assert_int_equal(kp_runtime_task_count(rt), 1);

        assert_int_equal(kp_runtime_group_stop(rt, "g-ver", 0, err, sizeof(err)), 0);
        kp_runtime_destroy(rt);
        json_decref(doc);
        json_decref(cls);
        json_decref(grp);
        rd_kafka_mock_cluster_destroy(mc);
        rd_kafka_destroy(rk);
}

/* ---- cluster health and the metric sections ---- */

static void test_cluster_error_clears_only_with_the_generation_it_was_read_at(void **state)
{
        rt_group_t g;
        rt_cluster_t cl;
        char text[256], at[24];
        (void)state;
        memset(&g, 0, sizeof(g));
        memset(&cl, 0, sizeof(cl));
        pthread_mutex_init(&g.err_lock, NULL);
        cl.g = &g;
        cl.name = "a";

        assert_int_equal(rt_cluster_health_read(&cl, text, sizeof(text), at, sizeof(at)), 0);
        uint64_t before = rt_cluster_error_gen(&cl, NULL);
        rt_cluster_error(&cl, "broker %d down", 1);
        assert_int_equal(rt_cluster_health_read(&cl, text, sizeof(text), at, sizeof(at)), 1);
        assert_string_equal(text, "broker 1 down");
        assert_int_equal(strlen(at), 20); /* 2026-01-02T03:04:05Z */
        rt_cluster_ok(&cl, before);       /* a success that started before the error */
        assert_int_equal(rt_cluster_health_read(&cl, NULL, 0, NULL, 0), 1);
        int failed = 0;
        uint64_t now = rt_cluster_error_gen(&cl, &failed);
        assert_int_equal(failed, 1);
        rt_cluster_ok(&cl, now);
        assert_int_equal(rt_cluster_health_read(&cl, NULL, 0, NULL, 0), 0);
        rt_cluster_error(&cl, "%s", ""); /* an empty text still reads as an error */
        assert_int_equal(rt_cluster_health_read(&cl, text, sizeof(text), NULL, 0), 1);
        assert_string_equal(text, "error");
        pthread_mutex_destroy(&g.err_lock);
}

static void test_every_metric_section_has_help_and_type_text(void **state)
{
        (void)state;
        for (int m = 0; m < RT_METRIC_COUNT; m++) {
                const char *h = rt_metrics_head((rt_metric_t)m);
                assert_non_null(h);
                assert_true(!strncmp(h, "# HELP kplane_", 14));
                assert_non_null(strstr(h, "\n# TYPE kplane_"));
        }
        assert_string_equal(rt_metrics_head(RT_METRIC_COUNT), "");
}

int main(void)
{
        char errstr[256];
        /* The documents quiet librdkafka with log_level, which only an operator may allow. */
        kp_client_policy_install(kp_client_policy_new("log_level", NULL, errstr, sizeof(errstr)));
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(
                        test_plan_document_reads_into_tasks_by_number_with_clusters_by_first_mention),
                cmocka_unit_test(
                        test_plan_document_without_parallelism_or_task_numbers_runs_the_tasks_listed),
                cmocka_unit_test(test_plan_document_errors_name_the_field),
                cmocka_unit_test(test_typed_plan_check_refuses_what_the_runtime_cannot_run),
                cmocka_unit_test(
                        test_apply_refuses_a_plan_older_than_the_one_running_and_changes_nothing),
                cmocka_unit_test(test_cluster_error_clears_only_with_the_generation_it_was_read_at),
                cmocka_unit_test(test_every_metric_section_has_help_and_type_text),
        };
        int rc = cmocka_run_group_tests(tests, NULL, NULL);
        kp_client_policy_install(NULL);
        return rc;
}
