/* test_app.c — the application layer against a temporary store and an embedded mock
 * cluster: resolving a group's partitions and its clusters, replanning, starting,
 * applying, resuming and following changed partitions. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "app/app.h"
#include "app/cluster.h"
#include "app/discovery.h"
#include "app/groups.h"
#include "app/partitions.h"
#include "app/plans.h"
#include "app/status.h"
#include "base/err.h"
#include "base/util.h"
#include "db/store.h"
#include "kafka/embedded.h"
#include "runtime/runtime.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TIMEOUT_MS 5000

typedef struct fixture {
        kp_app_t app;
        char dir[64];
        char db[128];
} fixture_t;

/* Stores embedded cluster "c" (started, topic "orders" of 6 partitions) and registers
 * "orders" and the pattern "^ev-.*" on it. */
static void seed_cluster(fixture_t *f)
{
        char errstr[512];
        json_t *doc =
                json_pack("{s:s, s:n, s:{s:i, s:[{s:s, s:i}]}, s:{}, s:s, s:s}", "name", "c",
                          "bootstrap_servers", "embedded", "brokers", 1, "topics", "name", "orders",
                          "partitions", 6, "config", "created_at", "x", "updated_at", "x");
        assert_int_equal(kp_app_cluster_embedded_start(f->app.emb, doc, errstr, sizeof(errstr)), 0);
        assert_int_equal(kp_store_cluster_create(f->app.store, "c", doc, errstr, sizeof(errstr)),
                         0);
        json_decref(doc);
        assert_int_equal(kp_discovery_topic(f->app.store, f->app.emb, "c", "orders", 1, TIMEOUT_MS,
                                            NULL, NULL, errstr, sizeof(errstr)),
                         0);
        assert_int_equal(kp_discovery_pattern(f->app.store, f->app.emb, "c", "^ev-.*", 1,
                                              TIMEOUT_MS, NULL, NULL, errstr, sizeof(errstr)),
                         0);
}

/* Stores group @p name reading @p topics (a JSON array text) with @p parallelism. */
static void seed_group(fixture_t *f, const char *name, const char *topics, int parallelism)
{
        char errstr[512];
        json_t *doc = json_pack("{s:s, s:o, s:i, s:s, s:b, s:s, s:{s:s}, s:s, s:s}", "name", name,
                                "topics", json_loads(topics, 0, NULL), "parallelism", parallelism,
                                "strategy", "balanced", "rebalance", 0, "start_offset", "earliest",
                                "sink", "type", "discard", "created_at", "x", "updated_at", "x");
        assert_int_equal(kp_store_group_create(f->app.store, name, doc, errstr, sizeof(errstr)), 0);
        json_decref(doc);
}

static int setup(void **state)
{
        char errstr[512];
        fixture_t *f = calloc(1, sizeof(*f));
        snprintf(f->dir, sizeof(f->dir), "/tmp/kp-test-app-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->db, sizeof(f->db), "%s/kplane.db", f->dir);
        assert_int_equal(kp_app_init(&f->app), 0);
        f->app.metadata_timeout_ms = TIMEOUT_MS;
        f->app.store = kp_store_open(f->db, errstr, sizeof(errstr));
        assert_non_null(f->app.store);
        f->app.emb = kp_embedded_new();
        f->app.rt = kp_runtime_new(errstr, sizeof(errstr));
        assert_non_null(f->app.emb);
        assert_non_null(f->app.rt);
        seed_cluster(f);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        fixture_t *f = *state;
        char path[160];
        kp_runtime_destroy(f->app.rt);
        kp_embedded_destroy(f->app.emb);
        kp_store_close(f->app.store);
        kp_app_cleanup(&f->app);
        static const char *const files[] = {"kplane.db", "kplane.db-wal", "kplane.db-shm"};
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
                snprintf(path, sizeof(path), "%s/%s", f->dir, files[i]);
                unlink(path);
        }
        rmdir(f->dir);
        free(f);
        return 0;
}

/* @returns the current plan version of group @p name (0: none). */
static int current_version(fixture_t *f, const char *name)
{
        char errstr[512];
        json_t *plan = NULL;
        if (kp_store_plan_get(f->app.store, name, 0, &plan, errstr, sizeof(errstr)))
                return 0;
        int v = (int)json_integer_value(json_object_get(plan, "version"));
        json_decref(plan);
        return v;
}

/* @returns the plan version group @p name runs (-1: not running). */
static int running_version(fixture_t *f, const char *name)
{
        json_t *st = kp_runtime_group_status(f->app.rt, name);
        int v = st ? (int)json_integer_value(json_object_get(st, "plan_version")) : -1;
        json_decref(st);
        return v;
}

/* Waits (up to 30 s) until group @p name's tasks run: a plan applies only then. */
static void wait_running(fixture_t *f, const char *name)
{
        for (int i = 0; i < 3000; i++) {
                if (kp_runtime_group_state(f->app.rt, name, NULL, 0) == KP_GROUP_RUNNING)
                        return;
                usleep(10000);
        }
        fail_msg("group %s did not run within 30 s", name);
}

static void test_cluster_resolves_an_embedded_cluster_to_its_live_address(void **state)
{
        fixture_t *f = *state;
        char errstr[512];
        kp_app_cluster_t c;
        assert_int_equal(
                kp_app_cluster_resolve(f->app.store, f->app.emb, "c", &c, errstr, sizeof(errstr)),
                0);
        assert_string_equal(c.ref.name, "c");
        char *bs = kp_embedded_bootstrap(f->app.emb, "c");
        assert_string_equal(c.ref.bootstrap, bs);
        free(bs);
        assert_true(json_is_object(c.ref.config));
        kp_app_cluster_cleanup(&c);
        assert_int_equal(kp_app_cluster_resolve(f->app.store, f->app.emb, "nope", &c, errstr,
                                                sizeof(errstr)),
                         KP_ERR_NOT_FOUND);
        kp_app_cluster_cleanup(&c);
        kp_embedded_stop(f->app.emb, "c");
        assert_int_equal(
                kp_app_cluster_resolve(f->app.store, f->app.emb, "c", &c, errstr, sizeof(errstr)),
                KP_ERR_UNAVAILABLE);
        assert_null(c.ref.bootstrap);
        assert_string_equal(errstr, "embedded cluster c is not running");
        kp_app_cluster_cleanup(&c);
}

static void test_group_topics_resolve_each_topic_once_in_the_groups_order(void **state)
{
        fixture_t *f = *state;
        char errstr[512];
        kp_app_regs_t regs;
        kp_plan_topic_t *topics = NULL;
        size_t n = 0;
        assert_int_equal(
                kp_embedded_topic_create(f->app.emb, "c", "ev-a", 2, errstr, sizeof(errstr)), 0);
        assert_int_equal(kp_discovery_pattern(f->app.store, f->app.emb, "c", "^ev-.*", 0,
                                              TIMEOUT_MS, NULL, NULL, errstr, sizeof(errstr)),
                         0);
        json_t *g = json_loads("{\"topics\": [{\"cluster\": \"c\", \"pattern\": \"^ev-.*\"},"
                               "{\"cluster\": \"c\", \"topic\": \"orders\"},"
                               "{\"cluster\": \"c\", \"topic\": \"orders\"}]}",
                               0, NULL);
        assert_int_equal(kp_app_regs_load(f->app.store, &regs, errstr, sizeof(errstr)), 0);
        assert_int_equal(kp_app_group_topics(&regs, g, 0, &topics, &n, errstr, sizeof(errstr)), 0);
        assert_int_equal(n, 2);
        assert_string_equal(topics[0].topic, "ev-a");
        assert_int_equal(topics[0].partitions, 2);
        assert_string_equal(topics[1].topic, "orders");
        assert_int_equal(topics[1].partitions, 6);
        free(topics);
        json_decref(g);

        /* a registration that is gone fails a plan, and is left out of a view */
        g = json_loads("{\"topics\": [{\"cluster\": \"c\", \"topic\": \"gone\"},"
                       "{\"cluster\": \"c\", \"topic\": \"orders\"}]}",
                       0, NULL);
        assert_int_equal(kp_app_group_topics(&regs, g, 0, &topics, &n, errstr, sizeof(errstr)),
                         KP_ERR_UNPROCESSABLE);
        assert_string_equal(errstr, "topic gone of cluster c is not registered");
        assert_int_equal(kp_app_group_topics(&regs, g, 1, &topics, &n, errstr, sizeof(errstr)), 0);
        assert_int_equal(n, 1);
        free(topics);
        json_decref(g);
        kp_app_regs_cleanup(&regs);
}

static void test_replan_is_sticky_and_numbers_versions(void **state)
{
        fixture_t *f = *state;
        char errstr[512];
        json_t *p1 = NULL, *p2 = NULL;
        seed_group(f, "g", "[{\"cluster\": \"c\", \"topic\": \"orders\"}]", 3);
        assert_int_equal(kp_app_group_replan(&f->app, "g", NULL, &p1, errstr, sizeof(errstr)), 0);
        assert_int_equal(json_integer_value(json_object_get(p1, "version")), 1);
        assert_int_equal(json_array_size(json_object_get(p1, "tasks")), 3);
        json_t *opts = json_pack("{s:i}", "parallelism", 6);
        assert_int_equal(kp_app_group_replan(&f->app, "g", opts, &p2, errstr, sizeof(errstr)), 0);
        assert_int_equal(json_integer_value(json_object_get(p2, "version")), 2);
        assert_int_equal(json_integer_value(json_object_get(p2, "parallelism")), 6);
        assert_int_equal(current_version(f, "g"), 2);
        json_decref(opts);
        json_decref(p2);
        json_decref(p1);

        json_t *p = NULL;
        assert_int_equal(kp_app_group_replan(&f->app, "nope", NULL, &p, errstr, sizeof(errstr)),
                         KP_ERR_NOT_FOUND);
        assert_string_equal(errstr, "no group named nope");
        seed_group(f, "empty", "[{\"cluster\": \"c\", \"pattern\": \"^ev-.*\"}]", 1);
        assert_int_equal(kp_app_group_replan(&f->app, "empty", NULL, &p, errstr, sizeof(errstr)),
                         KP_ERR_UNPROCESSABLE);
        assert_non_null(strstr(errstr, "no partitions"));
}

static void test_start_then_apply_runs_the_current_plan(void **state)
{
        fixture_t *f = *state;
        char errstr[512];
        json_t *plan = NULL;
        int apply_err = -1;
        seed_group(f, "g", "[{\"cluster\": \"c\", \"topic\": \"orders\"}]", 3);
        assert_int_equal(kp_app_group_start(&f->app, "g", errstr, sizeof(errstr)), 0);
        wait_running(f, "g");
        assert_int_equal(current_version(f, "g"), 1); /* the first plan made on start */
        assert_int_equal(running_version(f, "g"), 1);
        assert_int_equal(kp_app_group_start(&f->app, "g", errstr, sizeof(errstr)), KP_ERR_CONFLICT);
        json_t *opts = json_pack("{s:i}", "parallelism", 2);
        assert_int_equal(
                kp_app_group_plan(&f->app, "g", opts, 1, &plan, &apply_err, errstr, sizeof(errstr)),
                0);
        assert_int_equal(apply_err, 0);
        assert_int_equal(running_version(f, "g"), 2);
        json_decref(plan);
        json_decref(opts);
        kp_app_group_stop(&f->app, "g");
        assert_int_equal(running_version(f, "g"), -1);
}

static void test_resume_starts_the_groups_marked_to_run(void **state)
{
        fixture_t *f = *state;
        char errstr[512];
        seed_group(f, "a", "[{\"cluster\": \"c\", \"topic\": \"orders\"}]", 2);
        seed_group(f, "b", "[{\"cluster\": \"c\", \"topic\": \"orders\"}]", 2);
        assert_int_equal(kp_store_group_set_desired(f->app.store, "a", 1, errstr, sizeof(errstr)),
                         0);
        kp_app_groups_resume(&f->app);
        assert_int_equal(running_version(f, "a"), 1);
        assert_int_equal(running_version(f, "b"), -1);
}

static void test_changed_partitions_replan_and_apply_running_groups(void **state)
{
        fixture_t *f = *state;
        char errstr[512];
        int changed = 0;
        seed_group(f, "g",
                   "[{\"cluster\": \"c\", \"topic\": \"orders\"},"
                   "{\"cluster\": \"c\", \"pattern\": \"^ev-.*\"}]",
                   4);
        seed_group(f, "idle", "[{\"cluster\": \"c\", \"pattern\": \"^ev-.*\"}]", 1);
        assert_int_equal(kp_app_group_start(&f->app, "g", errstr, sizeof(errstr)), 0);
        wait_running(f, "g");
        assert_int_equal(
                kp_embedded_topic_create(f->app.emb, "c", "ev-new", 3, errstr, sizeof(errstr)), 0);
        assert_int_equal(kp_discovery_pattern(f->app.store, f->app.emb, "c", "^ev-.*", 0,
                                              TIMEOUT_MS, NULL, &changed, errstr, sizeof(errstr)),
                         0);
        assert_true(changed);
        kp_app_partitions_changed(&f->app, "c");
        assert_int_equal(current_version(f, "g"), 2);
        assert_int_equal(running_version(f, "g"), 2);
        json_t *st = kp_runtime_group_status(f->app.rt, "g");
        assert_int_equal(json_array_size(json_object_get(st, "partitions")), 9);
        json_decref(st);
        /* a group never planned keeps no plan: nothing to follow */
        assert_int_equal(current_version(f, "idle"), 0);
        kp_app_group_stop(&f->app, "g");
}

static void test_stopped_status_reads_every_partition_and_its_cluster(void **state)
{
        fixture_t *f = *state;
        char errstr[512];
        json_t *plan = NULL, *g = NULL;
        seed_group(f, "g", "[{\"cluster\": \"c\", \"topic\": \"orders\"}]", 2);
        assert_int_equal(kp_app_group_replan(&f->app, "g", NULL, &plan, errstr, sizeof(errstr)), 0);
        assert_int_equal(kp_store_group_get(f->app.store, "g", &g, errstr, sizeof(errstr)), 0);
        json_t *st = kp_app_group_stopped_status(&f->app, g, "g");
        assert_string_equal(json_string_value(json_object_get(st, "state")), "stopped");
        assert_int_equal(json_integer_value(json_object_get(st, "plan_version")), 1);
        json_t *rows = json_object_get(st, "partitions");
        assert_int_equal(json_array_size(rows), 6);
        for (size_t i = 0; i < 6; i++) {
                json_t *row = json_array_get(rows, i);
                assert_int_equal(json_integer_value(json_object_get(row, "partition")), (int)i);
                assert_true(json_is_integer(json_object_get(row, "task")));
                assert_true(json_is_null(json_object_get(row, "committed"))); /* never read */
                assert_int_equal(json_integer_value(json_object_get(row, "high_watermark")), 0);
                assert_null(json_object_get(row, "error"));
        }
        json_t *cl = json_array_get(json_object_get(st, "clusters"), 0);
        assert_string_equal(json_string_value(json_object_get(cl, "state")), "ok");
        json_decref(st);

        /* a cluster that is not running: its rows say why, the answer still comes */
        kp_embedded_stop(f->app.emb, "c");
        st = kp_app_group_stopped_status(&f->app, g, "g");
        rows = json_object_get(st, "partitions");
        assert_int_equal(json_array_size(rows), 6);
        assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0), "error")),
                            "embedded cluster c is not running");
        cl = json_array_get(json_object_get(st, "clusters"), 0);
        assert_string_equal(json_string_value(json_object_get(cl, "state")), "error");
        json_decref(st);
        json_decref(g);
        json_decref(plan);
}

/* Set by on_changed: when the discovery pass reached the reachable cluster's change. */
static _Atomic int64_t changed_at_ms;

static void on_changed(void *opaque, const char *cluster)
{
        (void)opaque;
        if (!strcmp(cluster, "c"))
                changed_at_ms = kp_time_mono_ms();
}

/* A cluster that does not answer holds a discovery pass once, not once per registration:
 * four topics on a dead address ("a-dead" sorts first) and then a changed topic on "c" are
 * reached after one metadata timeout, where asking for each topic would take four. */
static void test_discovery_asks_a_dead_cluster_once_per_pass(void **state)
{
        fixture_t *f = *state;
        char errstr[512];
        const int timeout_ms = 1500;
        json_t *doc = json_pack("{s:s, s:s, s:{}, s:s, s:s}", "name", "a-dead", "bootstrap_servers",
                                "127.0.0.1:1", "config", "created_at", "x", "updated_at", "x");
        assert_int_equal(
                kp_store_cluster_create(f->app.store, "a-dead", doc, errstr, sizeof(errstr)), 0);
        json_decref(doc);
        static const char *const topics[] = {"t1", "t2", "t3", "t4"};
        for (size_t i = 0; i < 4; i++)
                assert_int_equal(kp_store_topic_put(f->app.store, "a-dead", topics[i], 3, "x", NULL,
                                                    errstr, sizeof(errstr)),
                                 0);
        /* "orders" has 6 partitions: the stored 2 make the pass see a change on "c". */
        assert_int_equal(kp_store_topic_put(f->app.store, "c", "orders", 2, "x", NULL, errstr,
                                            sizeof(errstr)),
                         0);
        changed_at_ms = 0;
        kp_discovery_t *d =
                kp_discovery_start(f->app.store, f->app.emb, 3600, timeout_ms, on_changed, NULL);
        assert_non_null(d);
        int64_t t0 = kp_time_mono_ms();
        kp_discovery_kick(d);
        while (!changed_at_ms && kp_time_mono_ms() - t0 < 8 * timeout_ms)
                usleep(10000);
        kp_discovery_stop(d);
        assert_true(changed_at_ms != 0);
        /* One timeout plus scheduling: well under the 4 timeouts of asking each topic. */
        assert_in_range(changed_at_ms - t0, 0, 3 * timeout_ms);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(
                        test_cluster_resolves_an_embedded_cluster_to_its_live_address, setup,
                        teardown),
                cmocka_unit_test_setup_teardown(
                        test_group_topics_resolve_each_topic_once_in_the_groups_order, setup,
                        teardown),
                cmocka_unit_test_setup_teardown(test_replan_is_sticky_and_numbers_versions, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_start_then_apply_runs_the_current_plan, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_resume_starts_the_groups_marked_to_run, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(
                        test_changed_partitions_replan_and_apply_running_groups, setup, teardown),
                cmocka_unit_test_setup_teardown(
                        test_stopped_status_reads_every_partition_and_its_cluster, setup, teardown),
                cmocka_unit_test_setup_teardown(test_discovery_asks_a_dead_cluster_once_per_pass,
                                                setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
