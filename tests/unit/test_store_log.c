/* test_store_log.c — the store in log mode: records of each write, their apply, the offset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "db/store.h"
#include "db/store_log.h"
#include "db/store_placement.h"

/*
 * A fake log: publish appends to an in-memory list and applies the records to the writing
 * store at once (its "applier"), as coord_state.c does through Kafka. Other stores replay
 * the list (or a compacted copy) to show that what the log carries rebuilds the same state.
 */
struct fixture {
        char dir[64];
        kp_store_t *a, *b;
        kp_store_recs_t log;
        int ready_err, publishes;
        char err[512];
};

static int fake_ready(void *ctx, char *errstr, size_t errstr_size)
{
        struct fixture *f = ctx;
        if (f->ready_err)
                snprintf(errstr, errstr_size, "not the leader");
        return f->ready_err;
}

static int fake_publish(void *ctx, const kp_store_rec_t *recs, size_t n, int64_t *offsetp,
                        char *errstr, size_t errstr_size)
{
        struct fixture *f = ctx;
        for (size_t i = 0; i < n; i++)
                assert_int_equal(
                        kp_store_recs_add(&f->log, recs[i].key, recs[i].value, recs[i].value_len),
                        0);
        f->publishes++;
        *offsetp = (int64_t)f->log.cnt - 1;
        return kp_store_log_apply(f->a, recs, n, (int64_t)f->log.cnt, errstr, errstr_size);
}

static int fake_wait(void *ctx, int64_t offset, char *errstr, size_t errstr_size)
{
        (void)ctx, (void)offset, (void)errstr, (void)errstr_size;
        return 0;
}

static kp_store_t *open_at(struct fixture *f, const char *name)
{
        char path[128];
        snprintf(path, sizeof(path), "%s/%s", f->dir, name);
        kp_store_t *st = kp_store_open(path, f->err, sizeof(f->err));
        assert_non_null(st);
        return st;
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        snprintf(f->dir, sizeof(f->dir), "/tmp/kp_store_log_XXXXXX");
        if (!f || !mkdtemp(f->dir))
                return -1;
        f->a = open_at(f, "a.db");
        f->b = open_at(f, "b.db");
        kp_store_log_ops_t ops = {fake_ready, fake_publish, fake_wait, f};
        kp_store_set_log(f->a, &ops);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        char cmd[128];
        kp_store_close(f->a);
        kp_store_close(f->b);
        kp_store_recs_cleanup(&f->log);
        snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
        assert_int_equal(system(cmd), 0);
        free(f);
        return 0;
}

static json_t *js(const char *text)
{
        json_t *v = json_loads(text, 0, NULL);
        assert_non_null(v);
        return v;
}

/* A state: a cluster "c/1" (a slash in a name), a topic, a pattern, a group reading them,
 * three plans, the group set running. */
static void write_state(struct fixture *f)
{
        json_t *c = js("{\"name\":\"c/1\",\"bootstrap_servers\":\"k:9092\",\"config\":{}}");
        json_t *g = js("{\"name\":\"g%\",\"topics\":[{\"cluster\":\"c/1\",\"topic\":\"t\"},"
                       "{\"cluster\":\"c/1\",\"pattern\":\"p.*\"}],\"parallelism\":4}");
        json_t *topics = js("[{\"name\":\"p1\",\"partitions\":2}]");
        int version;
        if (kp_store_cluster_create(f->a, "c/1", c, f->err, sizeof(f->err)))
                fail_msg("%s", f->err);
        assert_int_equal(
                kp_store_topic_put(f->a, "c/1", "t", 6, NULL, NULL, f->err, sizeof(f->err)), 0);
        assert_int_equal(kp_store_pattern_put(f->a, "c/1", "p.*", topics, NULL, NULL, f->err,
                                              sizeof(f->err)),
                         0);
        assert_int_equal(kp_store_group_create(f->a, "g%", g, f->err, sizeof(f->err)), 0);
        for (int i = 1; i <= 3; i++) {
                json_t *plan =
                        json_pack("{s:s, s:i, s:s, s:{s:f, s:i}}", "group", "g%", "parallelism", 4,
                                  "strategy", "balanced", "analysis", "skew", 1.0 / 3, "tasks", 4);
                assert_int_equal(
                        kp_store_plan_add(f->a, "g%", plan, &version, f->err, sizeof(f->err)), 0);
                assert_int_equal(version, i);
                json_decref(plan);
        }
        assert_int_equal(kp_store_group_set_desired(f->a, "g%", 1, f->err, sizeof(f->err)), 0);
        json_decref(c);
        json_decref(g);
        json_decref(topics);
}

/* Everything a reader can see of @p st, as one comparable text. */
static char *dump(struct fixture *f, kp_store_t *st)
{
        json_t *all = json_object(), *v = NULL;
        char *text = NULL;
        size_t len;
        assert_int_equal(kp_store_cluster_list(st, &v, f->err, sizeof(f->err)), 0);
        json_object_set_new(all, "clusters", v);
        assert_int_equal(kp_store_registrations_all(st, &v, f->err, sizeof(f->err)), 0);
        json_object_set_new(all, "registrations", v);
        assert_int_equal(kp_store_group_list(st, &v, f->err, sizeof(f->err)), 0);
        json_object_set_new(all, "groups", v);
        assert_int_equal(kp_store_group_list_desired(st, &v, f->err, sizeof(f->err)), 0);
        json_object_set_new(all, "desired", v);
        assert_int_equal(kp_store_plan_current_all(st, &v, f->err, sizeof(f->err)), 0);
        json_object_set_new(all, "plans", v);
        if (!kp_store_plan_get_text(st, "g%", 2, &text, &len, f->err, sizeof(f->err))) {
                json_object_set_new(all, "plan2", json_string(text));
                free(text);
        }
        text = json_dumps(all, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(all);
        return text;
}

static void assert_same(struct fixture *f, kp_store_t *x, kp_store_t *y)
{
        char *dx = dump(f, x), *dy = dump(f, y);
        assert_string_equal(dx, dy);
        free(dx);
        free(dy);
}

static void test_keys_round_trip_with_slashes_and_percents(void **state)
{
        (void)state;
        char key[128], buf[160];
        const char *kind, *a, *b;
        assert_int_equal(kp_store_log_key(key, sizeof(key), "topic", "c/1", "t%2"), 17);
        assert_string_equal(key, "topic/c%2F1/t%252");
        assert_int_equal(kp_store_log_key_parse(key, buf, sizeof(buf), &kind, &a, &b), 0);
        assert_string_equal(kind, "topic");
        assert_string_equal(a, "c/1");
        assert_string_equal(b, "t%2");
        assert_int_equal(kp_store_log_key_parse("group/g", buf, sizeof(buf), &kind, &a, &b), 0);
        assert_string_equal(a, "g");
        assert_null(b);
        assert_int_equal(kp_store_log_key_parse("group", buf, sizeof(buf), &kind, &a, &b), -1);
        assert_int_equal(kp_store_log_key_parse("a/b/c/d", buf, sizeof(buf), &kind, &a, &b), -1);
        assert_int_equal(kp_store_log_key_parse("a/%zz", buf, sizeof(buf), &kind, &a, &b), -1);
        assert_int_equal(kp_store_log_key(key, 8, "cluster", "long", NULL), -1);
}

/* One record per changed row, keyed by it, carrying its full state. */
static void test_each_write_publishes_the_rows_it_changed(void **state)
{
        struct fixture *f = *state;
        write_state(f);
        /* cluster, topic, pattern, group, 3 plans, the group again (set running) */
        assert_int_equal(f->log.cnt, 8);
        assert_string_equal(f->log.items[0].key, "cluster/c%2F1");
        assert_string_equal(f->log.items[1].key, "topic/c%2F1/t");
        assert_string_equal(f->log.items[2].key, "pattern/c%2F1/p.*");
        assert_string_equal(f->log.items[3].key, "group/g%25");
        assert_string_equal(f->log.items[6].key, "plan/g%25/3");
        assert_string_equal(f->log.items[7].key, "group/g%25");
        json_t *g = js(f->log.items[7].value);
        assert_int_equal(json_integer_value(json_object_get(g, "desired_running")), 1);
        assert_true(json_is_object(json_object_get(g, "doc")));
        json_decref(g);
        int64_t next;
        assert_int_equal(kp_store_log_next(f->a, &next, f->err, sizeof(f->err)), 0);
        assert_int_equal(next, 8);
}

/* A replica that applies the log, all at once or record by record, reads as the writer. */
static void test_a_replica_applying_the_log_reads_the_same(void **state)
{
        struct fixture *f = *state;
        write_state(f);
        for (size_t i = 0; i < f->log.cnt; i++)
                assert_int_equal(kp_store_log_apply(f->b, &f->log.items[i], 1, (int64_t)i + 1,
                                                    f->err, sizeof(f->err)),
                                 0);
        assert_same(f, f->a, f->b);
        char *ta = NULL, *tb = NULL;
        size_t la, lb;
        assert_int_equal(kp_store_plan_get_text(f->a, "g%", 0, &ta, &la, f->err, sizeof(f->err)),
                         0);
        assert_int_equal(kp_store_plan_get_text(f->b, "g%", 0, &tb, &lb, f->err, sizeof(f->err)),
                         0);
        assert_string_equal(ta, tb); /* byte for byte: the skew's double survives */
        free(ta);
        free(tb);
}

/* A refused write publishes nothing; a write while not ready fails with its error. */
static void test_refusals_publish_nothing(void **state)
{
        struct fixture *f = *state;
        write_state(f);
        size_t n = f->log.cnt;
        json_t *c = js("{\"name\":\"c/1\",\"bootstrap_servers\":\"x:1\"}");
        int version = 0;
        assert_int_equal(kp_store_cluster_create(f->a, "c/1", c, f->err, sizeof(f->err)),
                         KP_ERR_EXISTS);
        assert_int_equal(kp_store_cluster_delete(f->a, "c/1", f->err, sizeof(f->err)),
                         KP_ERR_IN_USE);
        assert_int_equal(kp_store_plan_add(f->a, "nope", c, &version, f->err, sizeof(f->err)),
                         KP_ERR_NOT_FOUND);
        assert_int_equal(f->log.cnt, n);
        f->ready_err = KP_ERR_UNAVAILABLE;
        assert_int_equal(kp_store_cluster_update(f->a, "c/1", c, f->err, sizeof(f->err)),
                         KP_ERR_UNAVAILABLE);
        assert_string_equal(f->err, "not the leader");
        assert_int_equal(f->log.cnt, n);
        /* joining or stopping: every write refused, none reaches the database */
        kp_store_log_refuse(f->b, "joining");
        assert_int_equal(kp_store_cluster_create(f->b, "c/1", c, f->err, sizeof(f->err)),
                         KP_ERR_UNAVAILABLE);
        assert_string_equal(f->err, "joining");
        json_t *arr = NULL;
        assert_int_equal(kp_store_cluster_list(f->b, &arr, f->err, sizeof(f->err)), 0);
        assert_int_equal(json_array_size(arr), 0);
        json_decref(arr);
        json_decref(c);
}

/* Deletes are tombstones for the row and everything its delete cascaded to. */
static void test_deletes_are_tombstones_of_every_row_removed(void **state)
{
        struct fixture *f = *state;
        write_state(f);
        size_t n = f->log.cnt;
        assert_int_equal(kp_store_group_delete(f->a, "g%", f->err, sizeof(f->err)), 0);
        assert_int_equal(f->log.cnt, n + 4); /* the group, its 3 plans */
        for (size_t i = n; i < f->log.cnt; i++)
                assert_null(f->log.items[i].value);
        n = f->log.cnt;
        assert_int_equal(kp_store_cluster_delete(f->a, "c/1", f->err, sizeof(f->err)), 0);
        assert_int_equal(f->log.cnt, n + 3); /* its topic, its pattern, the cluster */
        assert_int_equal(kp_store_log_apply(f->b, f->log.items, f->log.cnt, (int64_t)f->log.cnt,
                                            f->err, sizeof(f->err)),
                         0);
        assert_same(f, f->a, f->b);
        json_t *arr = NULL;
        assert_int_equal(kp_store_cluster_list(f->b, &arr, f->err, sizeof(f->err)), 0);
        assert_int_equal(json_array_size(arr), 0);
        json_decref(arr);
}

/* Compaction keeps each key's last record (in its place) and drops tombstones: a topic's
 * record then comes before its cluster's, and the replay still reads as the writer. */
static void test_a_compacted_log_rebuilds_the_same_state(void **state)
{
        struct fixture *f = *state;
        write_state(f);
        json_t *c = js("{\"name\":\"c/1\",\"bootstrap_servers\":\"k2:9092\"}");
        assert_int_equal(kp_store_cluster_update(f->a, "c/1", c, f->err, sizeof(f->err)), 0);
        json_decref(c);
        kp_store_recs_t compacted = {0};
        for (size_t i = 0; i < f->log.cnt; i++) {
                int later = 0;
                for (size_t j = i + 1; j < f->log.cnt; j++)
                        later |= !strcmp(f->log.items[i].key, f->log.items[j].key);
                if (!later && f->log.items[i].value)
                        assert_int_equal(kp_store_recs_add(&compacted, f->log.items[i].key,
                                                           f->log.items[i].value,
                                                           f->log.items[i].value_len),
                                         0);
        }
        assert_string_equal(compacted.items[0].key, "topic/c%2F1/t");
        assert_int_equal(kp_store_log_apply(f->b, compacted.items, compacted.cnt, 99, f->err,
                                            sizeof(f->err)),
                         0);
        assert_same(f, f->a, f->b);
        kp_store_recs_cleanup(&compacted);
}

/* The offset is stored with the rows: a failed apply keeps neither. */
static void test_the_offset_is_stored_with_the_rows(void **state)
{
        struct fixture *f = *state;
        int64_t next = -1;
        assert_int_equal(kp_store_log_next(f->b, &next, f->err, sizeof(f->err)), 0);
        assert_int_equal(next, 0);
        write_state(f);
        assert_int_equal(kp_store_log_apply(f->b, f->log.items, 2, 2, f->err, sizeof(f->err)), 0);
        kp_store_recs_t bad = {0};
        assert_int_equal(kp_store_recs_add(&bad, f->log.items[2].key, f->log.items[2].value,
                                           f->log.items[2].value_len),
                         0);
        assert_int_equal(kp_store_recs_add(&bad, "cluster/x", "[1]", 3), 0);
        assert_int_equal(kp_store_log_apply(f->b, bad.items, bad.cnt, 4, f->err, sizeof(f->err)),
                         KP_ERR_INVALID);
        assert_int_equal(kp_store_log_next(f->b, &next, f->err, sizeof(f->err)), 0);
        assert_int_equal(next, 2);
        json_t *doc = NULL;
        assert_int_equal(kp_store_pattern_get(f->b, "c/1", "p.*", &doc, f->err, sizeof(f->err)),
                         KP_ERR_NOT_FOUND);
        assert_int_equal(kp_store_topic_get(f->b, "c/1", "t", &doc, f->err, sizeof(f->err)), 0);
        json_decref(doc);
        /* records of kinds it does not know (a leader's barrier) change nothing but the offset */
        assert_int_equal(kp_store_recs_add(&bad, "leader/kp-1", "{}", 2), 0);
        assert_int_equal(kp_store_log_apply(f->b, &bad.items[2], 1, 5, f->err, sizeof(f->err)), 0);
        assert_int_equal(kp_store_log_next(f->b, &next, f->err, sizeof(f->err)), 0);
        assert_int_equal(next, 5);
        kp_store_recs_cleanup(&bad);
}

/* The current plan read after each add is that add's (the applier drops the cache). */
static void test_the_plan_cache_follows_applied_plans(void **state)
{
        struct fixture *f = *state;
        write_state(f);
        for (int i = 4; i <= 6; i++) {
                json_t *plan = json_pack("{s:s, s:i}", "group", "g%", "parallelism", i);
                json_t *cur = NULL;
                int version;
                assert_int_equal(
                        kp_store_plan_add(f->a, "g%", plan, &version, f->err, sizeof(f->err)), 0);
                assert_int_equal(kp_store_plan_get(f->a, "g%", 0, &cur, f->err, sizeof(f->err)), 0);
                assert_int_equal(json_integer_value(json_object_get(cur, "version")), i);
                json_decref(cur);
                json_decref(plan);
        }
}

/* The placement (issue 15 step 3) travels as one record, placement/tasks, that a replica
 * applies; a write on a stale epoch is a 409 that publishes nothing. */
static void test_the_placement_is_one_record_and_stale_epochs_conflict(void **state)
{
        struct fixture *f = *state;
        json_t *doc = js("{\"owners\": {\"g\": [\"kp-1\", \"kp-2\"]}, \"versions\": {\"g\": 3}}");
        int64_t epoch = 0;
        json_t *got = NULL;
        assert_int_equal(kp_store_placement_get(f->a, &epoch, &got, f->err, sizeof(f->err)),
                         KP_ERR_NOT_FOUND);
        assert_int_equal(kp_store_placement_put(f->a, -1, 1, doc, f->err, sizeof(f->err)), 0);
        assert_int_equal(f->log.cnt, 1);
        assert_string_equal(f->log.items[0].key, "placement/tasks");
        assert_int_equal(kp_store_placement_put(f->a, 0, 2, doc, f->err, sizeof(f->err)),
                         KP_ERR_CONFLICT);
        assert_int_equal(kp_store_placement_put(f->a, -1, 2, doc, f->err, sizeof(f->err)),
                         KP_ERR_CONFLICT);
        assert_int_equal(f->log.cnt, 1);
        assert_int_equal(kp_store_placement_put(f->a, 1, 2, doc, f->err, sizeof(f->err)), 0);
        assert_int_equal(f->log.cnt, 2);
        assert_int_equal(
                kp_store_log_apply(f->b, f->log.items, f->log.cnt, 2, f->err, sizeof(f->err)), 0);
        assert_int_equal(kp_store_placement_get(f->b, &epoch, &got, f->err, sizeof(f->err)), 0);
        assert_int_equal(epoch, 2);
        assert_true(json_equal(got, doc));
        json_decref(got);
        json_decref(doc);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_keys_round_trip_with_slashes_and_percents),
                T(test_each_write_publishes_the_rows_it_changed),
                T(test_a_replica_applying_the_log_reads_the_same),
                T(test_refusals_publish_nothing),
                T(test_deletes_are_tombstones_of_every_row_removed),
                T(test_a_compacted_log_rebuilds_the_same_state),
                T(test_the_offset_is_stored_with_the_rows),
                T(test_the_plan_cache_follows_applied_plans),
                T(test_the_placement_is_one_record_and_stale_epochs_conflict),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
