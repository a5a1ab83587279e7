/* test_store.c — unit tests of the SQLite store: resources, plans, migrations, crashes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "base/err.h"
#include "db/migrations.h"
#include "db/plan_cache.h"
#include "db/store.h"

/* Per-test state: a fresh directory under /tmp holding the database. */
struct fixture {
        char dir[64];
        char path[128];
        kp_store_t *st;
        char err[512];
};

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        if (!f)
                return -1;
        snprintf(f->dir, sizeof(f->dir), "/tmp/kp_store_test_XXXXXX");
        if (!mkdtemp(f->dir)) {
                free(f);
                return -1;
        }
        snprintf(f->path, sizeof(f->path), "%s/kplane.db", f->dir);
        f->st = kp_store_open(f->path, f->err, sizeof(f->err));
        if (!f->st) {
                fprintf(stderr, "open: %s\n", f->err);
                return -1;
        }
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        char p[192];
        kp_store_close(f->st);
        snprintf(p, sizeof(p), "%s-wal", f->path);
        unlink(p);
        snprintf(p, sizeof(p), "%s-shm", f->path);
        unlink(p);
        unlink(f->path);
        rmdir(f->dir);
        free(f);
        return 0;
}

/* A JSON value from text (test data is always valid). */
static json_t *js(const char *text)
{
        json_error_t jerr;
        json_t *v = json_loads(text, 0, &jerr);
        if (!v)
                fail_msg("bad test JSON %s: %s", text, jerr.text);
        return v;
}

/* Registers cluster @p name with a minimal doc. */
static void add_cluster(struct fixture *f, const char *name)
{
        json_t *doc = json_pack("{s:s, s:s}", "name", name, "bootstrap_servers", "k:9092");
        assert_int_equal(kp_store_cluster_create(f->st, name, doc, f->err, sizeof(f->err)), 0);
        json_decref(doc);
}

/* Creates group @p name reading @p topics (a JSON array text). */
static int add_group(struct fixture *f, const char *name, const char *topics)
{
        json_t *doc =
                json_pack("{s:s, s:o, s:i}", "name", name, "topics", js(topics), "parallelism", 4);
        int err = kp_store_group_create(f->st, name, doc, f->err, sizeof(f->err));
        json_decref(doc);
        return err;
}

/* A plan document like the API's, for group @p group with parallelism @p par. */
static json_t *make_plan(const char *group, int par)
{
        return json_pack("{s:s, s:i, s:s, s:s, s:[{s:i, s:[]}], s:{s:s, s:i, s:i, s:i, s:f, s:i}}",
                         "group", group, "parallelism", par, "strategy", "balanced", "created_at",
                         "2026-11-25T20:00:00Z", "tasks", "task", 0, "partitions", "analysis",
                         "case", "partitions_below_parallelism", "partitions", 3, "tasks", par,
                         "idle_tasks", par - 3, "skew", 1.0, "moved_from_previous", 0);
}

/* ---- migrations ---- */

/* Counts rows of schema_migrations with a raw connection. */
static int count_migration_rows(const char *path)
{
        sqlite3 *db = NULL;
        sqlite3_stmt *stmt = NULL;
        int n = -1;
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        assert_int_equal(
                sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM schema_migrations", -1, &stmt, NULL),
                SQLITE_OK);
        if (sqlite3_step(stmt) == SQLITE_ROW)
                n = sqlite3_column_int(stmt, 0);
        sqlite3_finalize(stmt);
        sqlite3_close(db);
        return n;
}

static void test_open_empty_db_applies_every_migration(void **state)
{
        struct fixture *f = *state;
        assert_int_equal(kp_store_schema_version(f->st), (int)kp_migrations_count);
        assert_int_equal(count_migration_rows(f->path), (int)kp_migrations_count);
        assert_int_equal(kp_store_ping(f->st, f->err, sizeof(f->err)), 0);
}

static void test_reopen_of_migrated_db_is_a_noop_keeping_schema_version(void **state)
{
        struct fixture *f = *state;
        add_cluster(f, "a");
        kp_store_close(f->st);
        f->st = kp_store_open(f->path, f->err, sizeof(f->err));
        assert_non_null(f->st);
        assert_int_equal(kp_store_schema_version(f->st), (int)kp_migrations_count);
        assert_int_equal(count_migration_rows(f->path), (int)kp_migrations_count);
        json_t *doc = NULL;
        assert_int_equal(kp_store_cluster_get(f->st, "a", &doc, f->err, sizeof(f->err)), 0);
        json_decref(doc);
}

/* 1 when table @p name exists in @p db. */
static int table_exists(sqlite3 *db, const char *name)
{
        sqlite3_stmt *stmt = NULL;
        int found;
        assert_int_equal(sqlite3_prepare_v2(db,
                                            "SELECT 1 FROM sqlite_schema WHERE type = 'table'"
                                            " AND name = ?1",
                                            -1, &stmt, NULL),
                         SQLITE_OK);
        sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
        found = sqlite3_step(stmt) == SQLITE_ROW;
        sqlite3_finalize(stmt);
        return found;
}

static const kp_migration_t test_list[] = {
        {1, "one", "CREATE TABLE t1 (a INTEGER)"},
        {2, "two", "CREATE TABLE t2 (a INTEGER); INSERT INTO t1 VALUES (2)"},
        {3, "three", "CREATE TABLE t3 (a INTEGER); INSERT INTO t1 VALUES (3)"},
};

static void test_migration_framework_applies_later_migrations_in_order(void **state)
{
        struct fixture *f = *state;
        char path[192];
        sqlite3 *db = NULL;
        sqlite3_stmt *stmt = NULL;
        int version = -1;

        snprintf(path, sizeof(path), "%s/fw.db", f->dir);
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        /* An old binary knew only migration 1. */
        assert_int_equal(kp_migrations_apply(db, test_list, 1, &version, f->err, sizeof(f->err)),
                         0);
        assert_int_equal(version, 1);
        assert_false(table_exists(db, "t2"));
        /* The new one applies 2 then 3 (3 inserts after 2: the order shows in t1). */
        assert_int_equal(kp_migrations_apply(db, test_list, 3, &version, f->err, sizeof(f->err)),
                         0);
        assert_int_equal(version, 3);
        assert_true(table_exists(db, "t2") && table_exists(db, "t3"));
        assert_int_equal(sqlite3_prepare_v2(db, "SELECT group_concat(a) FROM t1", -1, &stmt, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
        assert_string_equal((const char *)sqlite3_column_text(stmt, 0), "2,3");
        sqlite3_finalize(stmt);
        /* Again: nothing to do, version unchanged, no duplicate inserts. */
        assert_int_equal(kp_migrations_apply(db, test_list, 3, &version, f->err, sizeof(f->err)),
                         0);
        assert_int_equal(version, 3);
        assert_int_equal(sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM t1", -1, &stmt, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int(stmt, 0), 2);
        sqlite3_finalize(stmt);
        /* Older code refuses the newer database. */
        assert_int_equal(kp_migrations_apply(db, test_list, 2, &version, f->err, sizeof(f->err)),
                         KP_ERR_INVALID);
        assert_non_null(strstr(f->err, "newer"));
        sqlite3_close(db);
        unlink(path);
}

static void test_failing_migration_rolls_back_to_previous_version(void **state)
{
        struct fixture *f = *state;
        static const kp_migration_t bad[] = {
                {1, "one", "CREATE TABLE t1 (a INTEGER)"},
                {2, "broken", "CREATE TABLE t2 (a INTEGER); INSERT INTO nowhere VALUES (1)"},
        };
        static const kp_migration_t gap[] = {
                {1, "one", "CREATE TABLE t1 (a INTEGER)"},
                {3, "three", "CREATE TABLE t3 (a INTEGER)"},
        };
        char path[192];
        sqlite3 *db = NULL;
        int version = -1;

        snprintf(path, sizeof(path), "%s/fw.db", f->dir);
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        assert_int_equal(kp_migrations_apply(db, bad, 2, &version, f->err, sizeof(f->err)),
                         KP_ERR_INTERNAL);
        assert_non_null(strstr(f->err, "migration 2"));
        assert_int_equal(version, 1);
        assert_true(table_exists(db, "t1"));
        assert_false(table_exists(db, "t2")); /* the half of migration 2 that ran is gone */
        assert_int_equal(kp_migrations_version(db, &version, f->err, sizeof(f->err)), 0);
        assert_int_equal(version, 1);
        assert_int_equal(kp_migrations_apply(db, gap, 2, &version, f->err, sizeof(f->err)),
                         KP_ERR_INVALID);
        assert_false(table_exists(db, "t3"));
        sqlite3_close(db);
        unlink(path);
}

/* ---- clusters ---- */

static void test_cluster_create_get_update_delete(void **state)
{
        struct fixture *f = *state;
        json_t *doc = js("{\"name\":\"eu\",\"bootstrap_servers\":\"k1:9092\","
                         "\"config\":{\"sasl.password\":\"s3cret\"},\"embedded\":null,"
                         "\"created_at\":\"2026-01-01T00:00:00Z\"}");
        json_t *got = NULL;
        char *a, *b;

        assert_int_equal(kp_store_cluster_create(f->st, "eu", doc, f->err, sizeof(f->err)), 0);
        assert_int_equal(kp_store_cluster_get(f->st, "eu", &got, f->err, sizeof(f->err)), 0);
        /* Kept as given, secrets and key order included. */
        a = json_dumps(doc, JSON_COMPACT);
        b = json_dumps(got, JSON_COMPACT);
        assert_string_equal(a, b);
        free(a);
        free(b);
        json_decref(got);

        json_object_set_new(doc, "bootstrap_servers", json_string("k2:9092"));
        assert_int_equal(kp_store_cluster_update(f->st, "eu", doc, f->err, sizeof(f->err)), 0);
        assert_int_equal(kp_store_cluster_get(f->st, "eu", &got, f->err, sizeof(f->err)), 0);
        assert_string_equal(json_string_value(json_object_get(got, "bootstrap_servers")),
                            "k2:9092");
        json_decref(got);

        assert_int_equal(kp_store_cluster_delete(f->st, "eu", f->err, sizeof(f->err)), 0);
        assert_int_equal(kp_store_cluster_get(f->st, "eu", &got, f->err, sizeof(f->err)),
                         KP_ERR_NOT_FOUND);
        assert_null(got);
        assert_int_equal(kp_store_cluster_delete(f->st, "eu", f->err, sizeof(f->err)),
                         KP_ERR_NOT_FOUND);
        assert_int_equal(kp_store_cluster_update(f->st, "eu", doc, f->err, sizeof(f->err)),
                         KP_ERR_NOT_FOUND);
        json_decref(doc);
}

static void test_cluster_name_conflict_is_exists_and_keeps_first(void **state)
{
        struct fixture *f = *state;
        json_t *other = js("{\"name\":\"eu\",\"bootstrap_servers\":\"other:1\"}");
        json_t *got = NULL;
        add_cluster(f, "eu");
        assert_int_equal(kp_store_cluster_create(f->st, "eu", other, f->err, sizeof(f->err)),
                         KP_ERR_EXISTS);
        assert_non_null(strstr(f->err, "eu"));
        assert_int_equal(kp_store_cluster_get(f->st, "eu", &got, f->err, sizeof(f->err)), 0);
        assert_string_equal(json_string_value(json_object_get(got, "bootstrap_servers")), "k:9092");
        json_decref(got);
        json_decref(other);
}

static void test_cluster_list_is_in_name_order(void **state)
{
        struct fixture *f = *state;
        json_t *arr = NULL;
        add_cluster(f, "b");
        add_cluster(f, "C");
        add_cluster(f, "a");
        assert_int_equal(kp_store_cluster_list(f->st, &arr, f->err, sizeof(f->err)), 0);
        assert_int_equal(json_array_size(arr), 3);
        /* Byte order: upper case sorts first. */
        static const char *const want[] = {"C", "a", "b"};
        for (size_t i = 0; i < 3; i++)
                assert_string_equal(
                        json_string_value(json_object_get(json_array_get(arr, i), "name")),
                        want[i]);
        json_decref(arr);
}

static void test_non_object_doc_is_invalid(void **state)
{
        struct fixture *f = *state;
        json_t *arr = json_array();
        assert_int_equal(kp_store_cluster_create(f->st, "x", arr, f->err, sizeof(f->err)),
                         KP_ERR_INVALID);
        assert_int_equal(kp_store_cluster_create(f->st, NULL, arr, NULL, 0), KP_ERR_INVALID);
        json_decref(arr);
}

/* ---- topics and patterns ---- */

static void test_topic_put_upserts_and_reports_created(void **state)
{
        struct fixture *f = *state;
        json_t *doc = NULL;
        int created = -1;
        add_cluster(f, "eu");
        assert_int_equal(kp_store_topic_put(f->st, "eu", "orders", 10, "2026-01-01T00:00:00Z",
                                            &created, f->err, sizeof(f->err)),
                         0);
        assert_int_equal(created, 1);
        assert_int_equal(kp_store_topic_put(f->st, "eu", "orders", 12, NULL, &created, f->err,
                                            sizeof(f->err)),
                         0);
        assert_int_equal(created, 0);
        assert_int_equal(kp_store_topic_get(f->st, "eu", "orders", &doc, f->err, sizeof(f->err)),
                         0);
        assert_string_equal(json_string_value(json_object_get(doc, "cluster")), "eu");
        assert_string_equal(json_string_value(json_object_get(doc, "name")), "orders");
        assert_int_equal(json_integer_value(json_object_get(doc, "partitions")), 12);
        assert_non_null(json_string_value(json_object_get(doc, "discovered_at")));
        json_decref(doc);
}

static void test_topic_of_absent_cluster_is_not_found(void **state)
{
        struct fixture *f = *state;
        json_t *doc = NULL, *arr = NULL;
        assert_int_equal(
                kp_store_topic_put(f->st, "nope", "orders", 1, NULL, NULL, f->err, sizeof(f->err)),
                KP_ERR_NOT_FOUND);
        assert_int_equal(kp_store_topic_list(f->st, "nope", &arr, f->err, sizeof(f->err)),
                         KP_ERR_NOT_FOUND);
        assert_null(arr);
        add_cluster(f, "eu");
        assert_int_equal(kp_store_topic_get(f->st, "eu", "orders", &doc, f->err, sizeof(f->err)),
                         KP_ERR_NOT_FOUND);
        assert_int_equal(kp_store_topic_delete(f->st, "eu", "orders", f->err, sizeof(f->err)),
                         KP_ERR_NOT_FOUND);
}

static void test_topic_list_gives_topics_then_patterns_in_name_order(void **state)
{
        struct fixture *f = *state;
        json_t *arr = NULL, *resolved = js("[{\"name\":\"pay.a\",\"partitions\":3}]");
        add_cluster(f, "eu");
        add_cluster(f, "us");
        assert_int_equal(
                kp_store_topic_put(f->st, "eu", "zeta", 1, NULL, NULL, f->err, sizeof(f->err)), 0);
        assert_int_equal(
                kp_store_topic_put(f->st, "eu", "alpha", 2, NULL, NULL, f->err, sizeof(f->err)), 0);
        assert_int_equal(
                kp_store_topic_put(f->st, "us", "other", 2, NULL, NULL, f->err, sizeof(f->err)), 0);
        assert_int_equal(kp_store_pattern_put(f->st, "eu", "^pay", resolved, NULL, NULL, f->err,
                                              sizeof(f->err)),
                         0);
        assert_int_equal(kp_store_topic_list(f->st, "eu", &arr, f->err, sizeof(f->err)), 0);
        assert_int_equal(json_array_size(arr), 3);
        assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0), "name")),
                            "alpha");
        assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 1), "name")),
                            "zeta");
        assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 2), "pattern")),
                            "^pay");
        assert_true(json_equal(json_object_get(json_array_get(arr, 2), "topics"), resolved));
        json_decref(arr);

        assert_int_equal(kp_store_registrations_all(f->st, &arr, f->err, sizeof(f->err)), 0);
        assert_int_equal(json_array_size(arr), 4); /* 3 topics of both clusters + 1 pattern */
        assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 2), "cluster")),
                            "us");
        assert_non_null(json_object_get(json_array_get(arr, 3), "pattern"));
        json_decref(arr);
        json_decref(resolved);
}

static void test_pattern_put_get_delete(void **state)
{
        struct fixture *f = *state;
        json_t *first = js("[{\"name\":\"pay.a\",\"partitions\":3}]");
        json_t *second = js("[{\"name\":\"pay.a\",\"partitions\":3},"
                            "{\"name\":\"pay.b\",\"partitions\":5}]");
        json_t *doc = NULL;
        int created = -1;
        add_cluster(f, "eu");
        assert_int_equal(kp_store_pattern_put(f->st, "eu", "^pay\\.", first, NULL, &created, f->err,
                                              sizeof(f->err)),
                         0);
        assert_int_equal(created, 1);
        assert_int_equal(kp_store_pattern_put(f->st, "eu", "^pay\\.", second,
                                              "2026-02-02T00:00:00Z", &created, f->err,
                                              sizeof(f->err)),
                         0);
        assert_int_equal(created, 0);
        assert_int_equal(kp_store_pattern_get(f->st, "eu", "^pay\\.", &doc, f->err, sizeof(f->err)),
                         0);
        assert_string_equal(json_string_value(json_object_get(doc, "pattern")), "^pay\\.");
        assert_true(json_equal(json_object_get(doc, "topics"), second));
        assert_string_equal(json_string_value(json_object_get(doc, "discovered_at")),
                            "2026-02-02T00:00:00Z");
        json_decref(doc);
        assert_int_equal(
                kp_store_pattern_put(f->st, "eu", "x", NULL, NULL, NULL, f->err, sizeof(f->err)),
                KP_ERR_INVALID);
        assert_int_equal(kp_store_pattern_delete(f->st, "eu", "^pay\\.", f->err, sizeof(f->err)),
                         0);
        assert_int_equal(kp_store_pattern_get(f->st, "eu", "^pay\\.", &doc, f->err, sizeof(f->err)),
                         KP_ERR_NOT_FOUND);
        assert_int_equal(kp_store_pattern_delete(f->st, "eu", "^pay\\.", f->err, sizeof(f->err)),
                         KP_ERR_NOT_FOUND);
        json_decref(first);
        json_decref(second);
}

static void test_cluster_delete_takes_its_topics_and_patterns(void **state)
{
        struct fixture *f = *state;
        json_t *arr = NULL, *none = json_array();
        add_cluster(f, "eu");
        assert_int_equal(
                kp_store_topic_put(f->st, "eu", "orders", 3, NULL, NULL, f->err, sizeof(f->err)),
                0);
        assert_int_equal(
                kp_store_pattern_put(f->st, "eu", "^x", none, NULL, NULL, f->err, sizeof(f->err)),
                0);
        assert_int_equal(kp_store_cluster_delete(f->st, "eu", f->err, sizeof(f->err)), 0);
        assert_int_equal(kp_store_registrations_all(f->st, &arr, f->err, sizeof(f->err)), 0);
        assert_int_equal(json_array_size(arr), 0);
        json_decref(arr);
        /* Re-created, it starts empty. */
        add_cluster(f, "eu");
        assert_int_equal(kp_store_topic_list(f->st, "eu", &arr, f->err, sizeof(f->err)), 0);
        assert_int_equal(json_array_size(arr), 0);
        json_decref(arr);
        json_decref(none);
}

/* ---- groups ---- */

/* Clusters eu (topics orders, refunds; pattern ^pay) and us (topic orders). */
static void add_registrations(struct fixture *f)
{
        json_t *none = json_array();
        add_cluster(f, "eu");
        add_cluster(f, "us");
        assert_int_equal(
                kp_store_topic_put(f->st, "eu", "orders", 10, NULL, NULL, f->err, sizeof(f->err)),
                0);
        assert_int_equal(
                kp_store_topic_put(f->st, "eu", "refunds", 2, NULL, NULL, f->err, sizeof(f->err)),
                0);
        assert_int_equal(
                kp_store_topic_put(f->st, "us", "orders", 4, NULL, NULL, f->err, sizeof(f->err)),
                0);
        assert_int_equal(
                kp_store_pattern_put(f->st, "eu", "^pay", none, NULL, NULL, f->err, sizeof(f->err)),
                0);
        json_decref(none);
}

static void test_group_create_get_update_list_delete(void **state)
{
        struct fixture *f = *state;
        json_t *doc = NULL, *arr = NULL;
        add_registrations(f);
        assert_int_equal(add_group(f, "g2", "[{\"cluster\":\"eu\",\"topic\":\"orders\"}]"), 0);
        assert_int_equal(add_group(f, "g1",
                                   "[{\"cluster\":\"us\",\"topic\":\"orders\"},"
                                   "{\"cluster\":\"eu\",\"pattern\":\"^pay\"}]"),
                         0);
        assert_int_equal(add_group(f, "g1", "[]"), KP_ERR_EXISTS);
        assert_int_equal(kp_store_group_get(f->st, "g1", &doc, f->err, sizeof(f->err)), 0);
        assert_int_equal(json_array_size(json_object_get(doc, "topics")), 2);
        json_object_set_new(doc, "parallelism", json_integer(9));
        assert_int_equal(kp_store_group_update(f->st, "g1", doc, f->err, sizeof(f->err)), 0);
        assert_int_equal(kp_store_group_update(f->st, "zz", doc, f->err, sizeof(f->err)),
                         KP_ERR_NOT_FOUND);
        json_decref(doc);
        assert_int_equal(kp_store_group_get(f->st, "g1", &doc, f->err, sizeof(f->err)), 0);
        assert_int_equal(json_integer_value(json_object_get(doc, "parallelism")), 9);
        json_decref(doc);
        assert_int_equal(kp_store_group_list(f->st, &arr, f->err, sizeof(f->err)), 0);
        assert_int_equal(json_array_size(arr), 2);
        assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0), "name")),
                            "g1");
        json_decref(arr);
        assert_int_equal(kp_store_group_delete(f->st, "g1", f->err, sizeof(f->err)), 0);
        assert_int_equal(kp_store_group_get(f->st, "g1", &doc, f->err, sizeof(f->err)),
                         KP_ERR_NOT_FOUND);
        assert_int_equal(kp_store_group_delete(f->st, "g1", f->err, sizeof(f->err)),
                         KP_ERR_NOT_FOUND);
}

static void test_group_with_unregistered_topic_is_refused_and_nothing_written(void **state)
{
        struct fixture *f = *state;
        json_t *doc = NULL;
        add_registrations(f);
        /* The first entry is fine, the second is not: the group row inserted before the
         * check must be rolled back with everything else. */
        assert_int_equal(add_group(f, "g",
                                   "[{\"cluster\":\"eu\",\"topic\":\"orders\"},"
                                   "{\"cluster\":\"eu\",\"topic\":\"missing\"}]"),
                         KP_ERR_UNPROCESSABLE);
        assert_non_null(strstr(f->err, "missing"));
        assert_int_equal(kp_store_group_get(f->st, "g", &doc, f->err, sizeof(f->err)),
                         KP_ERR_NOT_FOUND);
        assert_int_equal(add_group(f, "g", "[{\"cluster\":\"eu\"}]"), KP_ERR_INVALID);
        assert_int_equal(add_group(f, "g",
                                   "[{\"cluster\":\"eu\",\"topic\":\"orders\","
                                   "\"pattern\":\"^pay\"}]"),
                         KP_ERR_INVALID);
        /* Nothing of the failed attempts blocks a delete. */
        assert_int_equal(kp_store_topic_delete(f->st, "eu", "orders", f->err, sizeof(f->err)), 0);
}

static void test_delete_of_used_cluster_topic_pattern_is_in_use_naming_group(void **state)
{
        struct fixture *f = *state;
        json_t *doc = NULL;
        add_registrations(f);
        assert_int_equal(add_group(f, "analytics",
                                   "[{\"cluster\":\"eu\",\"topic\":\"orders\"},"
                                   "{\"cluster\":\"eu\",\"pattern\":\"^pay\"}]"),
                         0);
        assert_int_equal(kp_store_cluster_delete(f->st, "eu", f->err, sizeof(f->err)),
                         KP_ERR_IN_USE);
        assert_non_null(strstr(f->err, "analytics"));
        assert_int_equal(kp_store_topic_delete(f->st, "eu", "orders", f->err, sizeof(f->err)),
                         KP_ERR_IN_USE);
        assert_non_null(strstr(f->err, "analytics"));
        assert_int_equal(kp_store_pattern_delete(f->st, "eu", "^pay", f->err, sizeof(f->err)),
                         KP_ERR_IN_USE);
        assert_non_null(strstr(f->err, "analytics"));
        /* Refusals changed nothing. */
        assert_int_equal(kp_store_topic_get(f->st, "eu", "orders", &doc, f->err, sizeof(f->err)),
                         0);
        json_decref(doc);
        /* Unused neighbours can go. */
        assert_int_equal(kp_store_topic_delete(f->st, "eu", "refunds", f->err, sizeof(f->err)), 0);
        assert_int_equal(kp_store_cluster_delete(f->st, "us", f->err, sizeof(f->err)), 0);

        /* An update that stops reading the topic frees it; the pattern stays in use. */
        assert_int_equal(kp_store_group_get(f->st, "analytics", &doc, f->err, sizeof(f->err)), 0);
        json_object_set_new(doc, "topics", js("[{\"cluster\":\"eu\",\"pattern\":\"^pay\"}]"));
        assert_int_equal(kp_store_group_update(f->st, "analytics", doc, f->err, sizeof(f->err)), 0);
        json_decref(doc);
        assert_int_equal(kp_store_topic_delete(f->st, "eu", "orders", f->err, sizeof(f->err)), 0);
        assert_int_equal(kp_store_cluster_delete(f->st, "eu", f->err, sizeof(f->err)),
                         KP_ERR_IN_USE);
        /* Deleting the group frees everything. */
        assert_int_equal(kp_store_group_delete(f->st, "analytics", f->err, sizeof(f->err)), 0);
        assert_int_equal(kp_store_cluster_delete(f->st, "eu", f->err, sizeof(f->err)), 0);
}

static void test_group_desired_state_is_remembered(void **state)
{
        struct fixture *f = *state;
        json_t *arr = NULL;
        assert_int_equal(add_group(f, "b", "[]"), 0);
        assert_int_equal(add_group(f, "a", "[]"), 0);
        assert_int_equal(add_group(f, "c", "[]"), 0);
        assert_int_equal(kp_store_group_set_desired(f->st, "c", 1, f->err, sizeof(f->err)), 0);
        assert_int_equal(kp_store_group_set_desired(f->st, "a", 1, f->err, sizeof(f->err)), 0);
        assert_int_equal(kp_store_group_set_desired(f->st, "b", 0, f->err, sizeof(f->err)), 0);
        assert_int_equal(kp_store_group_set_desired(f->st, "x", 1, f->err, sizeof(f->err)),
                         KP_ERR_NOT_FOUND);
        kp_store_close(f->st);
        f->st = kp_store_open(f->path, f->err, sizeof(f->err));
        assert_non_null(f->st);
        assert_int_equal(kp_store_group_list_desired(f->st, &arr, f->err, sizeof(f->err)), 0);
        assert_int_equal(json_array_size(arr), 2);
        assert_string_equal(json_string_value(json_array_get(arr, 0)), "a");
        assert_string_equal(json_string_value(json_array_get(arr, 1)), "c");
        json_decref(arr);
        assert_int_equal(kp_store_group_set_desired(f->st, "a", 0, f->err, sizeof(f->err)), 0);
        assert_int_equal(kp_store_group_list_desired(f->st, &arr, f->err, sizeof(f->err)), 0);
        assert_int_equal(json_array_size(arr), 1);
        json_decref(arr);
}

/* ---- plans ---- */

static void test_plan_versions_grow_1_2_3_and_current_is_highest(void **state)
{
        struct fixture *f = *state;
        char *text = NULL;
        size_t len = 0;
        json_t *doc = NULL;
        int v = 0;

        assert_int_equal(add_group(f, "g", "[]"), 0);
        for (int i = 1; i <= 3; i++) {
                json_t *plan = make_plan("g", 10 * i);
                assert_int_equal(kp_store_plan_add(f->st, "g", plan, &v, f->err, sizeof(f->err)),
                                 0);
                assert_int_equal(v, i);
                json_decref(plan);
        }
        assert_int_equal(kp_store_plan_get_text(f->st, "g", 0, &text, &len, f->err, sizeof(f->err)),
                         0);
        assert_int_equal(len, strlen(text));
        /* "version" sits right after "group"; the rest keeps the caller's order. */
        assert_true(strncmp(text,
                            "{\"group\":\"g\",\"version\":3,\"parallelism\":30,"
                            "\"strategy\":\"balanced\",\"created_at\":",
                            strlen("{\"group\":\"g\",\"version\":3,\"parallelism\":30,"
                                   "\"strategy\":\"balanced\",\"created_at\":")) == 0);
        free(text);
        assert_int_equal(kp_store_plan_get(f->st, "g", 2, &doc, f->err, sizeof(f->err)), 0);
        assert_int_equal(json_integer_value(json_object_get(doc, "version")), 2);
        assert_int_equal(json_integer_value(json_object_get(doc, "parallelism")), 20);
        json_decref(doc);
}

static void test_plan_version_in_given_doc_is_replaced(void **state)
{
        struct fixture *f = *state;
        json_t *plan = js("{\"version\":99,\"parallelism\":2,\"group\":\"g\"}");
        char *text = NULL;
        int v = 0;
        assert_int_equal(add_group(f, "g", "[]"), 0);
        assert_int_equal(kp_store_plan_add(f->st, "g", plan, &v, f->err, sizeof(f->err)), 0);
        assert_int_equal(v, 1);
        /* The caller's doc is borrowed: untouched. */
        assert_int_equal(json_integer_value(json_object_get(plan, "version")), 99);
        assert_int_equal(kp_store_plan_get_text(f->st, "g", 1, &text, NULL, f->err, sizeof(f->err)),
                         0);
        assert_string_equal(text, "{\"parallelism\":2,\"group\":\"g\",\"version\":1}");
        free(text);
        json_decref(plan);
}

static void test_plan_of_absent_group_or_version_is_not_found(void **state)
{
        struct fixture *f = *state;
        json_t *plan = make_plan("g", 4), *arr = NULL;
        char *text = NULL;
        int v = -1;
        assert_int_equal(kp_store_plan_add(f->st, "g", plan, &v, f->err, sizeof(f->err)),
                         KP_ERR_NOT_FOUND);
        assert_int_equal(kp_store_plan_get_text(f->st, "g", 0, &text, NULL, f->err, sizeof(f->err)),
                         KP_ERR_NOT_FOUND);
        assert_non_null(strstr(f->err, "group 'g' not found"));
        assert_int_equal(kp_store_plan_list(f->st, "g", &arr, f->err, sizeof(f->err)),
                         KP_ERR_NOT_FOUND);
        assert_int_equal(add_group(f, "g", "[]"), 0);
        assert_int_equal(kp_store_plan_get_text(f->st, "g", 0, &text, NULL, f->err, sizeof(f->err)),
                         KP_ERR_NOT_FOUND);
        assert_non_null(strstr(f->err, "no plan"));
        assert_int_equal(kp_store_plan_add(f->st, "g", plan, &v, f->err, sizeof(f->err)), 0);
        assert_int_equal(kp_store_plan_get_text(f->st, "g", 2, &text, NULL, f->err, sizeof(f->err)),
                         KP_ERR_NOT_FOUND);
        assert_null(text);
        assert_int_equal(kp_store_plan_list(f->st, "g", &arr, f->err, sizeof(f->err)), 0);
        assert_int_equal(json_array_size(arr), 1);
        json_decref(arr);
        json_decref(plan);
}

static void test_plan_list_is_newest_first_with_summary(void **state)
{
        struct fixture *f = *state;
        json_t *arr = NULL, *first, *an;
        assert_int_equal(add_group(f, "g", "[]"), 0);
        for (int i = 1; i <= 3; i++) {
                json_t *plan = make_plan("g", 10 * i);
                assert_int_equal(kp_store_plan_add(f->st, "g", plan, NULL, f->err, sizeof(f->err)),
                                 0);
                json_decref(plan);
        }
        assert_int_equal(kp_store_plan_list(f->st, "g", &arr, f->err, sizeof(f->err)), 0);
        assert_int_equal(json_array_size(arr), 3);
        first = json_array_get(arr, 0);
        assert_int_equal(json_integer_value(json_object_get(first, "version")), 3);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, 2), "version")), 1);
        assert_int_equal(json_integer_value(json_object_get(first, "parallelism")), 30);
        assert_string_equal(json_string_value(json_object_get(first, "strategy")), "balanced");
        assert_string_equal(json_string_value(json_object_get(first, "created_at")),
                            "2026-11-25T20:00:00Z");
        an = json_object_get(first, "analysis");
        assert_string_equal(json_string_value(json_object_get(an, "case")),
                            "partitions_below_parallelism");
        assert_int_equal(json_integer_value(json_object_get(an, "partitions")), 3);
        assert_int_equal(json_integer_value(json_object_get(an, "tasks")), 30);
        assert_int_equal(json_integer_value(json_object_get(an, "idle_tasks")), 27);
        assert_true(json_is_real(json_object_get(an, "skew")));
        assert_true(json_real_value(json_object_get(an, "skew")) == 1.0);
        assert_int_equal(json_integer_value(json_object_get(an, "moved_from_previous")), 0);
        assert_null(json_object_get(first, "tasks")); /* summaries only */
        json_decref(arr);
}

static void test_group_delete_deletes_its_plans(void **state)
{
        struct fixture *f = *state;
        json_t *plan = make_plan("g", 4);
        char *text = NULL;
        int v = 0;
        assert_int_equal(add_group(f, "g", "[]"), 0);
        assert_int_equal(kp_store_plan_add(f->st, "g", plan, &v, f->err, sizeof(f->err)), 0);
        assert_int_equal(kp_store_plan_add(f->st, "g", plan, &v, f->err, sizeof(f->err)), 0);
        assert_int_equal(kp_store_group_delete(f->st, "g", f->err, sizeof(f->err)), 0);
        assert_int_equal(add_group(f, "g", "[]"), 0);
        assert_int_equal(kp_store_plan_get_text(f->st, "g", 1, &text, NULL, f->err, sizeof(f->err)),
                         KP_ERR_NOT_FOUND);
        assert_int_equal(kp_store_plan_add(f->st, "g", plan, &v, f->err, sizeof(f->err)), 0);
        assert_int_equal(v, 1);
        json_decref(plan);
}

/* ---- durability ---- */

static void test_data_survives_close_and_reopen(void **state)
{
        struct fixture *f = *state;
        json_t *plan = make_plan("g", 4), *arr = NULL, *doc = NULL;
        char *text = NULL;
        add_registrations(f);
        assert_int_equal(add_group(f, "g", "[{\"cluster\":\"eu\",\"topic\":\"orders\"}]"), 0);
        assert_int_equal(kp_store_plan_add(f->st, "g", plan, NULL, f->err, sizeof(f->err)), 0);
        assert_int_equal(kp_store_plan_add(f->st, "g", plan, NULL, f->err, sizeof(f->err)), 0);
        kp_store_close(f->st);
        f->st = kp_store_open(f->path, f->err, sizeof(f->err));
        assert_non_null(f->st);
        assert_int_equal(kp_store_cluster_list(f->st, &arr, f->err, sizeof(f->err)), 0);
        assert_int_equal(json_array_size(arr), 2);
        json_decref(arr);
        assert_int_equal(kp_store_topic_list(f->st, "eu", &arr, f->err, sizeof(f->err)), 0);
        assert_int_equal(json_array_size(arr), 3);
        json_decref(arr);
        assert_int_equal(kp_store_group_get(f->st, "g", &doc, f->err, sizeof(f->err)), 0);
        json_decref(doc);
        assert_int_equal(kp_store_plan_get_text(f->st, "g", 0, &text, NULL, f->err, sizeof(f->err)),
                         0);
        assert_non_null(strstr(text, "\"version\":2"));
        free(text);
        /* The refs survived too: the topic is still protected. */
        assert_int_equal(kp_store_topic_delete(f->st, "eu", "orders", f->err, sizeof(f->err)),
                         KP_ERR_IN_USE);
        json_decref(plan);
}

/* @returns the permission bits of @p path, or -1 when it does not exist. */
static int file_mode(const char *path)
{
        struct stat sb;
        return stat(path, &sb) ? -1 : (int)(sb.st_mode & 07777);
}

static void test_db_and_its_wal_and_shm_are_0600_even_with_a_lax_umask(void **state)
{
        struct fixture *f = *state;
        char p[192];
        mode_t old = umask(0);
        kp_store_close(f->st);
        unlink(f->path);
        f->st = kp_store_open(f->path, f->err, sizeof(f->err));
        umask(old);
        assert_non_null(f->st);
        add_registrations(f); /* writes: the WAL and its index exist now */
        assert_int_equal(file_mode(f->path), 0600);
        snprintf(p, sizeof(p), "%s-wal", f->path);
        assert_int_equal(file_mode(p), 0600);
        snprintf(p, sizeof(p), "%s-shm", f->path);
        assert_int_equal(file_mode(p), 0600);
}

static void test_reopen_narrows_a_0644_db_and_wal_to_0600(void **state)
{
        struct fixture *f = *state;
        char wal[192];
        add_registrations(f);
        snprintf(wal, sizeof(wal), "%s-wal", f->path);
        /* what an older kplane left behind */
        assert_int_equal(chmod(f->path, 0644), 0);
        assert_int_equal(chmod(wal, 0644), 0);
        kp_store_close(f->st);
        f->st = kp_store_open(f->path, f->err, sizeof(f->err));
        assert_non_null(f->st);
        assert_int_equal(file_mode(f->path), 0600);
        if (file_mode(wal) >= 0) /* the last close may have checkpointed it away */
                assert_int_equal(file_mode(wal), 0600);
}

static void test_write_lock_held_elsewhere_is_unavailable_after_busy_timeout(void **state)
{
        struct fixture *f = *state;
        sqlite3 *db = NULL;
        json_t *doc = NULL;
        add_cluster(f, "eu");
        kp_store_set_busy_timeout(f->st, 100);
        /* Another process's writer (a separate connection is the same to SQLite). */
        assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
        assert_int_equal(kp_store_cluster_delete(f->st, "eu", f->err, sizeof(f->err)),
                         KP_ERR_UNAVAILABLE);
        /* Reads go on (WAL). */
        assert_int_equal(kp_store_cluster_get(f->st, "eu", &doc, f->err, sizeof(f->err)), 0);
        json_decref(doc);
        assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
        assert_int_equal(kp_store_cluster_delete(f->st, "eu", f->err, sizeof(f->err)), 0);
}

/* ---- concurrency ---- */

#define WRITERS         4
#define ADDS_PER_WRITER 200
#define READERS         2

struct worker {
        kp_store_t *st;
        int versions[ADDS_PER_WRITER];
        int failures;
        volatile int *stop;
        int reads;
};

static void *writer_main(void *arg)
{
        struct worker *w = arg;
        json_t *plan = make_plan("g", 8);
        char err[256];
        for (int i = 0; i < ADDS_PER_WRITER; i++)
                if (kp_store_plan_add(w->st, "g", plan, &w->versions[i], err, sizeof(err)))
                        w->failures++;
        json_decref(plan);
        return NULL;
}

/* Reads the current plan while writers add: it never goes backwards. */
static void *reader_main(void *arg)
{
        struct worker *w = arg;
        char err[256];
        int last = 0;
        while (!__atomic_load_n(w->stop, __ATOMIC_ACQUIRE)) {
                char *text = NULL;
                json_t *doc = NULL;
                int rc = kp_store_plan_get_text(w->st, "g", 0, &text, NULL, err, sizeof(err));
                if (rc == KP_ERR_NOT_FOUND)
                        continue;
                if (rc) {
                        w->failures++;
                        continue;
                }
                doc = json_loads(text, 0, NULL);
                int v = (int)json_integer_value(json_object_get(doc, "version"));
                if (v < last || v < 1)
                        w->failures++;
                last = v;
                w->reads++;
                json_decref(doc);
                free(text);
        }
        return NULL;
}

static void test_concurrent_plan_adds_give_versions_without_gap_or_duplicate(void **state)
{
        struct fixture *f = *state;
        static struct worker writers[WRITERS], readers[READERS];
        pthread_t wt[WRITERS], rt[READERS];
        volatile int stop = 0;
        char *seen = calloc(WRITERS * ADDS_PER_WRITER + 1, 1);
        json_t *arr = NULL;

        assert_non_null(seen);
        assert_int_equal(add_group(f, "g", "[]"), 0);
        for (int i = 0; i < READERS; i++) {
                readers[i] = (struct worker){.st = f->st, .stop = &stop};
                assert_int_equal(pthread_create(&rt[i], NULL, reader_main, &readers[i]), 0);
        }
        for (int i = 0; i < WRITERS; i++) {
                writers[i] = (struct worker){.st = f->st, .stop = &stop};
                assert_int_equal(pthread_create(&wt[i], NULL, writer_main, &writers[i]), 0);
        }
        for (int i = 0; i < WRITERS; i++)
                pthread_join(wt[i], NULL);
        __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
        for (int i = 0; i < READERS; i++) {
                pthread_join(rt[i], NULL);
                assert_int_equal(readers[i].failures, 0);
        }
        for (int i = 0; i < WRITERS; i++) {
                int prev = 0;
                assert_int_equal(writers[i].failures, 0);
                for (int j = 0; j < ADDS_PER_WRITER; j++) {
                        int v = writers[i].versions[j];
                        assert_in_range(v, 1, WRITERS * ADDS_PER_WRITER);
                        assert_int_equal(seen[v], 0); /* no duplicate */
                        assert_true(v > prev);        /* one thread's adds are ordered */
                        seen[v] = 1;
                        prev = v;
                }
        }
        /* 800 distinct values in 1..800: no gap either. */
        assert_int_equal(kp_store_plan_list(f->st, "g", &arr, f->err, sizeof(f->err)), 0);
        assert_int_equal(json_array_size(arr), WRITERS * ADDS_PER_WRITER);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, 0), "version")),
                         WRITERS * ADDS_PER_WRITER);
        json_decref(arr);
        /* no reader that raced a write left an older text in the plan cache */
        json_t *cur = NULL;
        assert_int_equal(kp_store_plan_get(f->st, "g", 0, &cur, f->err, sizeof(f->err)), 0);
        assert_int_equal(json_integer_value(json_object_get(cur, "version")),
                         WRITERS * ADDS_PER_WRITER);
        json_decref(cur);
        free(seen);
}

/* The current plan is served from memory after a first read: every write that changes it
 * (a new version, the group's delete and re-creation) is seen by the next read. */
static void test_current_plan_reads_follow_every_write(void **state)
{
        struct fixture *f = *state;
        json_t *plan = make_plan("g", 4), *doc = NULL;
        int v = 0;
        assert_int_equal(add_group(f, "g", "[]"), 0);
        for (int i = 1; i <= 3; i++) {
                assert_int_equal(kp_store_plan_add(f->st, "g", plan, &v, f->err, sizeof(f->err)),
                                 0);
                for (int r = 0; r < 2; r++) { /* a miss that fills, then a hit */
                        assert_int_equal(
                                kp_store_plan_get(f->st, "g", 0, &doc, f->err, sizeof(f->err)), 0);
                        assert_int_equal(json_integer_value(json_object_get(doc, "version")), i);
                        json_decref(doc);
                }
        }
        assert_int_equal(kp_store_group_delete(f->st, "g", f->err, sizeof(f->err)), 0);
        assert_int_equal(add_group(f, "g", "[]"), 0);
        assert_int_equal(kp_store_plan_get(f->st, "g", 0, &doc, f->err, sizeof(f->err)),
                         KP_ERR_NOT_FOUND);
        assert_int_equal(kp_store_plan_add(f->st, "g", plan, &v, f->err, sizeof(f->err)), 0);
        assert_int_equal(kp_store_plan_get(f->st, "g", 0, &doc, f->err, sizeof(f->err)), 0);
        assert_int_equal(json_integer_value(json_object_get(doc, "version")), 1);
        json_decref(doc);
        json_decref(plan);
}

/* A reader that missed waits for a plan write under way before it reads and fills: so it
 * can never fill a text older than one another reader already read. */
struct miss_arg {
        kp_plan_cache_t *c;
        int done;
};

static void *miss_main(void *arg)
{
        struct miss_arg *m = arg;
        kp_plan_cache_miss_begin(m->c);
        kp_plan_cache_fill(m->c, "g", "{\"version\":2}", 13);
        __atomic_store_n(&m->done, 1, __ATOMIC_RELEASE);
        kp_plan_cache_miss_end(m->c);
        return NULL;
}

static void test_plan_cache_fills_never_overlap_a_write(void **state)
{
        (void)state;
        struct miss_arg m = {kp_plan_cache_new(), 0};
        char *text = NULL;
        size_t len = 0;
        pthread_t th;
        assert_non_null(m.c);
        kp_plan_cache_write_begin(m.c);
        assert_int_equal(pthread_create(&th, NULL, miss_main, &m), 0);
        usleep(200 * 1000);
        assert_int_equal(__atomic_load_n(&m.done, __ATOMIC_ACQUIRE), 0); /* waits */
        kp_plan_cache_write_end(m.c, "g");
        pthread_join(th, NULL);
        assert_int_equal(m.done, 1);
        assert_int_equal(kp_plan_cache_get(m.c, "g", &text, &len), 1);
        assert_string_equal(text, "{\"version\":2}");
        free(text);
        kp_plan_cache_write_begin(m.c); /* a write drops the entry */
        kp_plan_cache_write_end(m.c, "g");
        assert_int_equal(kp_plan_cache_get(m.c, "g", &text, &len), 0);
        kp_plan_cache_destroy(m.c);
}

/* ---- crash safety ---- */

static void test_sigkill_mid_writes_keeps_every_committed_row(void **state)
{
        struct fixture *f = *state;
        int fds[2], status, v, last = 0, reported = 0;
        sqlite3 *db = NULL;
        sqlite3_stmt *stmt = NULL;
        pid_t pid;

        assert_int_equal(add_group(f, "g", "[]"), 0);
        /* The child opens its own store: connections must not cross fork(). */
        kp_store_close(f->st);
        f->st = NULL;
        assert_int_equal(pipe(fds), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                char err[256];
                kp_store_t *st = kp_store_open(f->path, err, sizeof(err));
                json_t *plan = make_plan("g", 200);
                close(fds[0]);
                if (!st)
                        _exit(2);
                for (;;) {
                        if (kp_store_plan_add(st, "g", plan, &v, err, sizeof(err)))
                                _exit(3);
                        /* Reported only after COMMIT returned. */
                        if (write(fds[1], &v, sizeof(v)) != sizeof(v))
                                _exit(4);
                }
        }
        close(fds[1]);
        while (reported < 300 && read(fds[0], &v, sizeof(v)) == sizeof(v)) {
                last = v;
                reported++;
        }
        /* Kill before any assert, so a failing test never leaves the child running. */
        assert_int_equal(kill(pid, SIGKILL), 0);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_int_equal(reported, 300);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        while (read(fds[0], &v, sizeof(v)) == sizeof(v))
                last = v;
        close(fds[0]);

        /* The database opens (recovering its WAL) and is consistent. */
        assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
        assert_string_equal((const char *)sqlite3_column_text(stmt, 0), "ok");
        sqlite3_finalize(stmt);
        sqlite3_close(db);

        f->st = kp_store_open(f->path, f->err, sizeof(f->err));
        assert_non_null(f->st);
        for (int i = 1; i <= last; i++) {
                char *text = NULL;
                assert_int_equal(
                        kp_store_plan_get_text(f->st, "g", i, &text, NULL, f->err, sizeof(f->err)),
                        0);
                free(text);
        }
        /* At most the one commit that was never reported follows, and writing goes on. */
        json_t *plan = make_plan("g", 2);
        assert_int_equal(kp_store_plan_add(f->st, "g", plan, &v, f->err, sizeof(f->err)), 0);
        assert_true(v == last + 1 || v == last + 2);
        json_decref(plan);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
                T(test_open_empty_db_applies_every_migration),
                T(test_reopen_of_migrated_db_is_a_noop_keeping_schema_version),
                T(test_migration_framework_applies_later_migrations_in_order),
                T(test_failing_migration_rolls_back_to_previous_version),
                T(test_cluster_create_get_update_delete),
                T(test_cluster_name_conflict_is_exists_and_keeps_first),
                T(test_cluster_list_is_in_name_order),
                T(test_non_object_doc_is_invalid),
                T(test_topic_put_upserts_and_reports_created),
                T(test_topic_of_absent_cluster_is_not_found),
                T(test_topic_list_gives_topics_then_patterns_in_name_order),
                T(test_pattern_put_get_delete),
                T(test_cluster_delete_takes_its_topics_and_patterns),
                T(test_group_create_get_update_list_delete),
                T(test_group_with_unregistered_topic_is_refused_and_nothing_written),
                T(test_delete_of_used_cluster_topic_pattern_is_in_use_naming_group),
                T(test_group_desired_state_is_remembered),
                T(test_plan_versions_grow_1_2_3_and_current_is_highest),
                T(test_plan_version_in_given_doc_is_replaced),
                T(test_plan_of_absent_group_or_version_is_not_found),
                T(test_plan_list_is_newest_first_with_summary),
                T(test_group_delete_deletes_its_plans),
                T(test_data_survives_close_and_reopen),
                T(test_db_and_its_wal_and_shm_are_0600_even_with_a_lax_umask),
                T(test_reopen_narrows_a_0644_db_and_wal_to_0600),
                T(test_write_lock_held_elsewhere_is_unavailable_after_busy_timeout),
                T(test_concurrent_plan_adds_give_versions_without_gap_or_duplicate),
                T(test_current_plan_reads_follow_every_write),
                cmocka_unit_test(test_plan_cache_fills_never_overlap_a_write),
                T(test_sigkill_mid_writes_keeps_every_committed_row),
#undef T
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
