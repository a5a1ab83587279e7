/* test_sink.c — the sinks: validation, base64, the file sink's lines and files, discard. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "base/err.h"
#include "sinks/sink.h"
#include "sinks/sink_dlq.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Every file sink of these tests lives under a fresh root: its path is relative to it. */
static char root[] = "/tmp/kp-sinkroot-XXXXXX";

/* A record without timestamp or headers (designated: the fields after them stay zero). */
#define MSG(c, t, p, o, k, kl, v, vl)                                                              \
        {                                                                                          \
                .cluster = c, .topic = t, .partition = p, .offset = o, .key = k, .key_len = kl,    \
                .value = v, .value_len = vl, .timestamp = -1                                       \
        }

/* The group instance of the one task sink a test has open (a group of one task). */
static kp_sink_group_t *open_group;

static kp_sink_t *task_open(const json_t *conf, int task, char *err, size_t err_size)
{
        kp_sink_t *s;
        open_group = kp_sink_group_open(conf, "g", err, err_size);
        if (!open_group)
                return NULL;
        s = kp_sink_open(open_group, task, err, err_size);
        if (!s) {
                kp_sink_group_close(open_group);
                open_group = NULL;
        }
        return s;
}

static void task_close(kp_sink_t *s)
{
        kp_sink_close(s);
        kp_sink_group_close(open_group);
        open_group = NULL;
}

/* One record in a batch of one: 0 when taken. */
static int put1(kp_sink_t *s, const kp_sink_msg_t *m, char *err, size_t err_size)
{
        size_t taken = 0;
        kp_sink_status_t st = kp_sink_put(s, m, 1, &taken, err, err_size);
        return st == KP_SINK_OK && taken == 1 ? 0 : -1;
}

static int flush_now(kp_sink_t *s, char *err, size_t err_size)
{
        return kp_sink_flush(s, 0, err, err_size) == KP_SINK_OK ? 0 : -1;
}

static void test_base64_matches_rfc4648_vectors(void **state)
{
        static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
        static const char *const want[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                           "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
        char out[32];
        size_t i;
        (void)state;
        for (i = 0; i < 7; i++) {
                size_t n = kp_base64_encode(in[i], strlen(in[i]), out);
                assert_string_equal(out, want[i]);
                assert_int_equal(n, strlen(want[i]));
        }
}

static void test_validate_rejects_unknown_type_and_missing_path(void **state)
{
        char err[256];
        json_t *c;
        (void)state;
        assert_int_equal(kp_sink_validate(NULL, err, sizeof(err)), 0);
        c = json_pack("{s:s}", "type", "discard");
        assert_int_equal(kp_sink_validate(c, err, sizeof(err)), 0);
        json_decref(c);
        c = json_pack("{s:s}", "type", "kafka-ish");
        assert_int_equal(kp_sink_validate(c, err, sizeof(err)), KP_ERR_INVALID);
        assert_non_null(strstr(err, "sink.type"));
        json_decref(c);
        c = json_pack("{s:s}", "type", "file");
        assert_int_equal(kp_sink_validate(c, err, sizeof(err)), KP_ERR_INVALID);
        assert_non_null(strstr(err, "sink.path"));
        json_decref(c);
        c = json_pack("{s:s, s:s, s:i}", "type", "file", "path", "x", "bogus", 1);
        assert_int_equal(kp_sink_validate(c, err, sizeof(err)), KP_ERR_INVALID);
        assert_non_null(strstr(err, "sink.bogus"));
        json_decref(c);
}

static void test_file_sink_writes_one_base64_json_line_per_message_in_a_task_file(void **state)
{
        char dir[] = "/tmp/kp-sink-XXXXXX", sub[300], path[400], line[512], err[256];
        json_t *conf, *o;
        kp_sink_t *s;
        FILE *f;
        kp_sink_msg_t m = MSG("eu", "orders", 3, 42, "k1", 2, "hello", 5);
        (void)state;

        assert_non_null(mkdtemp(dir));
        assert_int_equal(kp_sink_dir_set(dir), 0);
        /* A directory that does not exist yet is created. */
        snprintf(sub, sizeof(sub), "%s/a/b", dir);
        conf = json_pack("{s:s, s:s}", "type", "file", "path", "a/b");
        s = task_open(conf, 7, err, sizeof(err));
        assert_non_null(s);
        assert_string_equal(kp_sink_type(s), "file");
        assert_int_equal(put1(s, &m, err, sizeof(err)), 0);
        m.key = NULL;
        m.key_len = 0;
        m.offset = 43;
        assert_int_equal(put1(s, &m, err, sizeof(err)), 0);
        snprintf(path, sizeof(path), "%s/task-0007.jsonl", sub);
        /* Nothing reaches the file before a flush: offsets wait for it. */
        f = fopen(path, "r");
        assert_non_null(f);
        assert_null(fgets(line, sizeof(line), f));
        fclose(f);
        assert_int_equal(flush_now(s, err, sizeof(err)), 0);

        f = fopen(path, "r");
        assert_non_null(fgets(line, sizeof(line), f));
        o = json_loads(line, 0, NULL);
        assert_non_null(o);
        assert_string_equal(json_string_value(json_object_get(o, "cluster")), "eu");
        assert_string_equal(json_string_value(json_object_get(o, "topic")), "orders");
        assert_int_equal(json_integer_value(json_object_get(o, "partition")), 3);
        assert_int_equal(json_integer_value(json_object_get(o, "offset")), 42);
        assert_string_equal(json_string_value(json_object_get(o, "key")), "azE=");
        assert_string_equal(json_string_value(json_object_get(o, "value")), "aGVsbG8=");
        json_decref(o);
        assert_non_null(fgets(line, sizeof(line), f));
        o = json_loads(line, 0, NULL);
        assert_true(json_is_null(json_object_get(o, "key")));
        assert_int_equal(json_integer_value(json_object_get(o, "offset")), 43);
        json_decref(o);
        assert_null(fgets(line, sizeof(line), f));
        fclose(f);
        task_close(s);
        json_decref(conf);
        assert_int_equal(kp_sink_dir_set(root), 0);
}

static void test_file_sink_handles_values_larger_than_its_buffer(void **state)
{
        char dir[400], path[500], err[256];
        size_t big = 300 * 1024, n = 0;
        char *val = malloc(big), *buf = malloc(2 * big);
        json_t *conf, *o;
        kp_sink_t *s;
        FILE *f;
        (void)state;

        memset(val, 'x', big);
        snprintf(dir, sizeof(dir), "%s/big-XXXXXX", root);
        assert_non_null(mkdtemp(dir));
        conf = json_pack("{s:s, s:s}", "type", "file", "path", dir + strlen(root) + 1);
        s = task_open(conf, 0, err, sizeof(err));
        assert_non_null(s);
        kp_sink_msg_t m = MSG("c", "t", 0, 1, NULL, 0, val, big);
        assert_int_equal(put1(s, &m, err, sizeof(err)), 0);
        m.offset = 2;
        m.value_len = 3;
        assert_int_equal(put1(s, &m, err, sizeof(err)), 0);
        task_close(s); /* close flushes */
        snprintf(path, sizeof(path), "%s/task-0000.jsonl", dir);
        f = fopen(path, "r");
        assert_non_null(f);
        assert_non_null(fgets(buf, (int)(2 * big), f));
        o = json_loads(buf, 0, NULL);
        assert_non_null(o);
        assert_int_equal(strlen(json_string_value(json_object_get(o, "value"))),
                         4 * ((big + 2) / 3));
        json_decref(o);
        while (fgets(buf, (int)(2 * big), f))
                n++;
        assert_int_equal(n, 1);
        fclose(f);
        json_decref(conf);
        free(val);
        free(buf);
}

static void test_discard_sink_takes_everything(void **state)
{
        char err[256];
        kp_sink_t *s = task_open(NULL, 0, err, sizeof(err));
        kp_sink_msg_t m = MSG("c", "t", 0, 1, NULL, 0, "v", 1);
        (void)state;
        assert_non_null(s);
        assert_string_equal(kp_sink_type(s), "discard");
        assert_int_equal(put1(s, &m, err, sizeof(err)), 0);
        assert_int_equal(flush_now(s, err, sizeof(err)), 0);
        task_close(s);
        kp_sink_close(NULL);
        kp_sink_group_close(NULL);
}

/* A discard task acknowledges what it takes at once: its status shows nothing in flight
 * between two commit rounds (before, records stayed "in flight" until the next flush). */
static void test_discard_sink_acknowledges_on_put(void **state)
{
        char err[256];
        kp_sink_t *s = task_open(NULL, 0, err, sizeof(err));
        kp_sink_msg_t m[3] = {MSG("c", "t", 0, 1, NULL, 0, "v", 1),
                              MSG("c", "t", 0, 2, "k", 1, "vv", 2),
                              MSG("c", "t", 1, 7, NULL, 0, NULL, 0)};
        kp_sink_stats_t st;
        size_t taken = 0;
        (void)state;
        assert_non_null(s);
        assert_int_equal(kp_sink_put(s, m, 3, &taken, err, sizeof(err)), KP_SINK_OK);
        assert_int_equal(taken, 3);
        kp_sink_stats(s, &st); /* no flush yet */
        assert_int_equal(st.records_in, 3);
        assert_int_equal(st.bytes_in, 4);
        assert_int_equal(st.acked, 3);
        assert_int_equal(st.in_flight, 0);
        assert_int_equal(put1(s, &m[0], err, sizeof(err)), 0);
        kp_sink_stats(s, &st);
        assert_int_equal(st.acked, 4);
        assert_int_equal(st.in_flight, 0);
        /* a commit round still acknowledges every partition up to what was taken */
        kp_sink_offset_t offs[2] = {{.partition = 0, .taken = 3, .acked = 1},
                                    {.partition = 1, .taken = 8, .acked = 7}};
        assert_int_equal(flush_now(s, err, sizeof(err)), 0);
        kp_sink_precommit(s, offs, 2);
        assert_int_equal(offs[0].acked, 3);
        assert_int_equal(offs[1].acked, 8);
        task_close(s);
}

static void test_file_sink_open_fails_on_unwritable_path(void **state)
{
        char err[256], file[400];
        json_t *conf = json_pack("{s:s, s:s}", "type", "file", "path", "plain-file/x");
        (void)state;
        snprintf(file, sizeof(file), "%s/plain-file", root);
        FILE *f = fopen(file, "w");
        assert_non_null(f);
        fclose(f);
        assert_null(task_open(conf, 0, err, sizeof(err)));
        assert_non_null(strstr(err, "sink.path"));
        json_decref(conf);
        unlink(file);
}

static void test_file_sink_path_that_leaves_the_sink_dir_is_refused_by_validate(void **state)
{
        static const char *const bad[] = {"/tmp/x", "../x", "a/../../x", "a/..", ".."};
        static const char *const good[] = {"x", "a/b", "./a", "a..b/c", "a/.hidden"};
        char err[256];
        (void)state;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                json_t *c = json_pack("{s:s, s:s}", "type", "file", "path", bad[i]);
                assert_int_equal(kp_sink_validate(c, err, sizeof(err)), KP_ERR_INVALID);
                assert_non_null(strstr(err, "sink.path"));
                assert_null(task_open(c, 0, err, sizeof(err)));
                json_decref(c);
        }
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
                json_t *c = json_pack("{s:s, s:s}", "type", "file", "path", good[i]);
                assert_int_equal(kp_sink_validate(c, err, sizeof(err)), 0);
                json_decref(c);
        }
}

/* A symlink planted in the tree (a directory of the path) is refused, and nothing is
 * created or written where it points. */
static void test_file_sink_does_not_follow_a_symlink_in_the_tree(void **state)
{
        char err[256], outside[] = "/tmp/kp-outside-XXXXXX", link[400], probe[500];
        struct stat sb;
        (void)state;
        assert_non_null(mkdtemp(outside));
        snprintf(link, sizeof(link), "%s/evil", root);
        assert_int_equal(symlink(outside, link), 0);
        json_t *c = json_pack("{s:s, s:s}", "type", "file", "path", "evil/sub");
        assert_null(task_open(c, 0, err, sizeof(err)));
        assert_non_null(strstr(err, "sink.path"));
        snprintf(probe, sizeof(probe), "%s/sub", outside);
        assert_int_not_equal(stat(probe, &sb), 0); /* not created through the link */
        json_decref(c);
        unlink(link);
        rmdir(outside);
}

/* A symlink planted at the task file itself is refused: its target is neither
 * truncated nor appended to. */
static void test_file_sink_does_not_follow_a_symlink_at_the_file(void **state)
{
        char err[256], target[] = "/tmp/kp-target-XXXXXX", dir[400], link[500];
        struct stat sb;
        (void)state;
        int fd = mkstemp(target);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "precious", 8), 8); /* no newline: a "torn" tail */
        close(fd);
        snprintf(dir, sizeof(dir), "%s/planted", root);
        assert_int_equal(mkdir(dir, 0750), 0);
        snprintf(link, sizeof(link), "%s/task-0000.jsonl", dir);
        assert_int_equal(symlink(target, link), 0);
        json_t *c = json_pack("{s:s, s:s}", "type", "file", "path", "planted");
        assert_null(task_open(c, 0, err, sizeof(err)));
        assert_int_equal(stat(target, &sb), 0);
        assert_int_equal(sb.st_size, 8);
        json_decref(c);
        unlink(link);
        rmdir(dir);
        unlink(target);
}

static void test_file_sink_files_are_0640_and_dirs_0750(void **state)
{
        char err[256], file[500], dir[400];
        struct stat sb;
        mode_t old = umask(022);
        (void)state;
        json_t *c = json_pack("{s:s, s:s}", "type", "file", "path", "modes");
        kp_sink_t *s = task_open(c, 3, err, sizeof(err));
        umask(old);
        assert_non_null(s);
        task_close(s);
        snprintf(dir, sizeof(dir), "%s/modes", root);
        snprintf(file, sizeof(file), "%s/task-0003.jsonl", dir);
        assert_int_equal(stat(file, &sb), 0);
        assert_int_equal(sb.st_mode & 0777, 0640);
        assert_int_equal(stat(dir, &sb), 0);
        assert_int_equal(sb.st_mode & 0777, 0750);
        json_decref(c);
        unlink(file);
        rmdir(dir);
}

static void test_file_sink_cuts_a_torn_last_line_left_by_a_crash(void **state)
{
        char dir[400], path[500], err[256], data[512];
        kp_sink_msg_t m = MSG("eu", "orders", 0, 7, NULL, 0, "v", 1);
        (void)state;
        snprintf(dir, sizeof(dir), "%s/torn-XXXXXX", root);
        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/task-0000.jsonl", dir);
        /* what a kill -9 in the middle of write(2) leaves: a line without its newline */
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs("{\"offset\":5}\n{\"cluster\":\"eu\",\"off", f);
        fclose(f);
        json_t *conf = json_pack("{s:s, s:s}", "type", "file", "path", dir + strlen(root) + 1);
        kp_sink_t *s = task_open(conf, 0, err, sizeof(err));
        assert_non_null(s);
        assert_int_equal(put1(s, &m, err, sizeof(err)), 0);
        task_close(s);
        f = fopen(path, "r");
        size_t n = fread(data, 1, sizeof(data) - 1, f);
        fclose(f);
        data[n] = '\0';
        /* the complete line stays, the torn one is gone, the new one starts a line */
        assert_true(!strncmp(data, "{\"offset\":5}\n{\"cluster\":\"eu\",\"topic\"", 36));
        assert_int_equal(data[n - 1], '\n');
        assert_null(strstr(data, "\"off{"));
        json_decref(conf);
        unlink(path);
        rmdir(dir);
}

/* The file sink's line, byte for byte, is the contract's (API.md "Sinks"): cluster, topic,
 * partition, offset, timestamp, headers, key, value; binary parts base64, a header without a
 * value null. */
static void test_file_sink_line_carries_timestamp_and_headers(void **state)
{
        char dir[400], path[500], err[256], data[512];
        kp_sink_header_t h[2] = {{"trace", "abc", 3}, {"empty", NULL, 0}};
        kp_sink_msg_t m = MSG("eu", "orders", 3, 42, "k1", 2, "hello", 5);
        (void)state;
        m.timestamp = 1700000000123;
        m.timestamp_type = KP_SINK_TS_CREATE;
        m.headers = h;
        m.nheaders = 2;
        snprintf(dir, sizeof(dir), "%s/exact-XXXXXX", root);
        assert_non_null(mkdtemp(dir));
        json_t *conf = json_pack("{s:s, s:s}", "type", "file", "path", dir + strlen(root) + 1);
        kp_sink_t *s = task_open(conf, 0, err, sizeof(err));
        assert_non_null(s);
        assert_int_equal(put1(s, &m, err, sizeof(err)), 0);
        task_close(s);
        snprintf(path, sizeof(path), "%s/task-0000.jsonl", dir);
        FILE *f = fopen(path, "r");
        size_t n = fread(data, 1, sizeof(data) - 1, f);
        fclose(f);
        data[n] = '\0';
        assert_string_equal(data,
                            "{\"cluster\":\"eu\",\"topic\":\"orders\",\"partition\":3,"
                            "\"offset\":42,\"timestamp\":1700000000123,\"headers\":[{\"key\":"
                            "\"trace\",\"value\":\"YWJj\"},{\"key\":\"empty\",\"value\":null}],"
                            "\"key\":\"azE=\",\"value\":\"aGVsbG8=\"}\n");
        json_decref(conf);
        unlink(path);
        rmdir(dir);
}

/* A batch is taken whole; the stats count it in flight until a flush acknowledges it. */
static void test_file_sink_takes_a_batch_and_acknowledges_it_at_flush(void **state)
{
        char dir[400], path[500], err[256];
        kp_sink_msg_t m[3] = {MSG("c", "t", 0, 1, "k", 1, "vv", 2),
                              MSG("c", "t", 0, 2, NULL, 0, "vvv", 3),
                              MSG("c", "t", 0, 3, "kk", 2, NULL, 0)};
        kp_sink_stats_t st;
        size_t taken = 0;
        (void)state;
        snprintf(dir, sizeof(dir), "%s/batch-XXXXXX", root);
        assert_non_null(mkdtemp(dir));
        json_t *conf = json_pack("{s:s, s:s}", "type", "file", "path", dir + strlen(root) + 1);
        kp_sink_t *s = task_open(conf, 0, err, sizeof(err));
        assert_non_null(s);
        assert_int_equal(kp_sink_put(s, m, 3, &taken, err, sizeof(err)), KP_SINK_OK);
        assert_int_equal(taken, 3);
        kp_sink_stats(s, &st);
        assert_int_equal(st.records_in, 3);
        assert_int_equal(st.bytes_in, 1 + 2 + 3 + 2);
        assert_int_equal(st.acked, 0);
        assert_int_equal(st.in_flight, 3);
        assert_int_equal(kp_sink_flush(s, 0, err, sizeof(err)), KP_SINK_OK);
        kp_sink_stats(s, &st);
        assert_int_equal(st.acked, 3);
        assert_int_equal(st.in_flight, 0);
        assert_int_equal(st.failures, 0);
        task_close(s);
        snprintf(path, sizeof(path), "%s/task-0000.jsonl", dir);
        json_decref(conf);
        unlink(path);
        rmdir(dir);
}

/* ---- an added kind: group state shared by its tasks ---- */

typedef struct shared {
        int opened, tasks;
} shared_t;

static int shared_closed;

static int shared_validate(const json_t *conf, char *errstr, size_t errstr_size)
{
        (void)conf, (void)errstr, (void)errstr_size;
        return 0;
}

static int shared_group_open(const json_t *conf, const char *group, void **groupp, char *errstr,
                             size_t errstr_size)
{
        shared_t *sh = calloc(1, sizeof(*sh));
        (void)conf, (void)errstr, (void)errstr_size;
        assert_string_equal(group, "g");
        sh->opened = 1;
        *groupp = sh;
        return 0;
}

static void shared_group_close(void *group)
{
        shared_t *sh = group;
        assert_int_equal(sh->tasks, 0); /* after every task */
        shared_closed++;
        free(sh);
}

static int shared_open(const json_t *conf, void *group, int task, void **statep, char *errstr,
                       size_t errstr_size)
{
        shared_t *sh = group;
        (void)conf, (void)task, (void)errstr, (void)errstr_size;
        sh->tasks++;
        *statep = sh;
        return 0;
}

static kp_sink_status_t shared_put(void *st, const kp_sink_msg_t *msgs, size_t n, size_t *taken,
                                   char *errstr, size_t errstr_size)
{
        (void)st, (void)msgs, (void)errstr, (void)errstr_size;
        *taken = n;
        return KP_SINK_OK;
}

static kp_sink_status_t shared_flush(void *st, int64_t deadline_ms, char *errstr,
                                     size_t errstr_size)
{
        (void)st, (void)deadline_ms, (void)errstr, (void)errstr_size;
        return KP_SINK_OK;
}

static void shared_close(void *st)
{
        ((shared_t *)st)->tasks--;
}

static const kp_sink_ops_t shared_ops = {
        .type = "test-shared",
        .validate = shared_validate,
        .group_open = shared_group_open,
        .group_close = shared_group_close,
        .open = shared_open,
        .put = shared_put,
        .flush = shared_flush,
        .close = shared_close,
};

/* A kind whose type is a built-in's: refused. */
static const kp_sink_ops_t kp_sink_discard_like = {.type = "discard"};

static void test_an_added_kind_opens_one_group_state_shared_by_its_tasks(void **state)
{
        char err[256];
        json_t *c = json_pack("{s:s}", "type", "test-shared");
        (void)state;
        assert_int_equal(kp_sink_validate(c, err, sizeof(err)), KP_ERR_INVALID);
        assert_int_equal(kp_sink_kind_add(&shared_ops), 0);
        assert_int_equal(kp_sink_kind_add(&shared_ops), KP_ERR_EXISTS);
        assert_int_equal(kp_sink_kind_add(&kp_sink_discard_like), KP_ERR_EXISTS);
        assert_int_equal(kp_sink_validate(c, err, sizeof(err)), 0);
        kp_sink_group_t *sg = kp_sink_group_open(c, "g", err, sizeof(err));
        assert_non_null(sg);
        kp_sink_t *a = kp_sink_open(sg, 0, err, sizeof(err));
        kp_sink_t *b = kp_sink_open(sg, 1, err, sizeof(err));
        assert_non_null(a);
        assert_non_null(b);
        assert_string_equal(kp_sink_type(a), "test-shared");
        kp_sink_close(a);
        kp_sink_close(b);
        assert_int_equal(shared_closed, 0);
        kp_sink_group_close(sg);
        assert_int_equal(shared_closed, 1);
        json_decref(c);
}

/* exactly_once with rebalance fan-out: one partition's records in several tasks'
 * transactions cannot be committed exactly once, so the group is refused naming rebalance. */
static void test_exactly_once_refuses_rebalance_naming_the_field(void **state)
{
        char err[512] = "";
        (void)state;
        json_t *eos = json_pack("{s:s, s:s, s:s, s:s}", "type", "kafka", "cluster", "b", "topic",
                                "t", "delivery", "exactly_once");
        json_t *alo = json_pack("{s:s, s:s, s:s}", "type", "kafka", "cluster", "b", "topic", "t");
        assert_int_equal(kp_sink_group_validate(eos, 1, err, sizeof(err)), KP_ERR_INVALID);
        assert_true(!strncmp(err, "rebalance: ", 11));
        assert_non_null(strstr(err, "exactly_once"));
        assert_int_equal(kp_sink_group_validate(eos, 0, err, sizeof(err)), 0);
        assert_int_equal(kp_sink_group_validate(alo, 1, err, sizeof(err)), 0);
        assert_int_equal(kp_sink_group_validate(NULL, 1, err, sizeof(err)), 0);
        json_decref(eos);
        json_decref(alo);
}

/* ---- dead letters held: a "refuser" kind that refuses every record it takes, a "stall"
 * kind (the dead-letter target) that takes and acknowledges only when told ---- */

static kp_sink_refused_t refuser_recs[16];
static size_t refuser_n;
static int64_t stall_acked;

static int fake_validate(const json_t *conf, char *errstr, size_t errstr_size)
{
        (void)conf, (void)errstr, (void)errstr_size;
        return 0;
}

static int fake_open(const json_t *conf, void *group, int task, void **statep, char *errstr,
                     size_t errstr_size)
{
        (void)conf, (void)group, (void)task, (void)errstr, (void)errstr_size;
        *statep = NULL;
        return 0;
}

static kp_sink_status_t refuser_put(void *state, const kp_sink_msg_t *msgs, size_t n, size_t *taken,
                                    char *errstr, size_t errstr_size)
{
        (void)state, (void)errstr, (void)errstr_size;
        for (size_t i = 0; i < n && refuser_n < 16; i++)
                refuser_recs[refuser_n++] =
                        (kp_sink_refused_t){.msg = msgs[i], .reason = "no", .status = "400"};
        *taken = n;
        return KP_SINK_OK;
}

static kp_sink_status_t fake_flush(void *state, int64_t deadline_ms, char *errstr,
                                   size_t errstr_size)
{
        (void)state, (void)deadline_ms, (void)errstr, (void)errstr_size;
        return KP_SINK_OK;
}

static size_t refuser_refused(void *state, kp_sink_refused_t *out, size_t max)
{
        (void)state;
        size_t n = refuser_n < max ? refuser_n : max;
        memcpy(out, refuser_recs, sizeof(*out) * n);
        return n;
}

static void refuser_refused_done(void *state, size_t n)
{
        (void)state;
        memmove(refuser_recs, refuser_recs + n, sizeof(refuser_recs[0]) * (refuser_n - n));
        refuser_n -= n;
}

static int64_t refuser_acked(void *state)
{
        (void)state;
        return 0;
}

static int64_t stall_acked_op(void *state)
{
        (void)state;
        return stall_acked;
}

static void fake_close(void *state)
{
        (void)state;
}

static const kp_sink_ops_t refuser_ops = {.type = "refuser",
                                          .validate = fake_validate,
                                          .open = fake_open,
                                          .put = refuser_put,
                                          .flush = fake_flush,
                                          .acked = refuser_acked,
                                          .close = fake_close,
                                          .refused = refuser_refused,
                                          .refused_done = refuser_refused_done};
static kp_sink_status_t stall_put(void *state, const kp_sink_msg_t *msgs, size_t n, size_t *taken,
                                  char *errstr, size_t errstr_size)
{
        (void)state, (void)msgs, (void)errstr, (void)errstr_size;
        *taken = n;
        return KP_SINK_OK;
}
static const kp_sink_ops_t stall_ops = {.type = "stall",
                                        .validate = fake_validate,
                                        .open = fake_open,
                                        .put = stall_put,
                                        .flush = fake_flush,
                                        .acked = stall_acked_op,
                                        .close = fake_close};

/* A record refused and put into a dead-letter sink that does not acknowledge it (a stalled
 * target) stays in flight for the task (the runtime pauses the source on acked + refused
 * beyond max_in_flight_bytes); it is done with once the dead letter is acknowledged. */
static void test_dead_letters_held_by_a_stalled_target_stay_in_flight(void **state)
{
        char err[256], val[1000];
        size_t taken, n;
        kp_sink_refused_t recs[16];
        kp_sink_stats_t st;
        (void)state;
        assert_int_equal(kp_sink_kind_add(&refuser_ops), 0);
        assert_int_equal(kp_sink_kind_add(&stall_ops), 0);
        json_t *mc = json_pack("{s:s}", "type", "refuser"),
               *dc = json_pack("{s:s}", "type", "stall");
        kp_sink_group_t *mg = kp_sink_group_open(mc, "g", err, sizeof(err));
        kp_sink_group_t *dg = kp_sink_group_open(dc, "g", err, sizeof(err));
        kp_sink_t *main_sink = kp_sink_open(mg, 0, err, sizeof(err));
        kp_sink_t *dlq = kp_sink_open(dg, 0, err, sizeof(err));
        assert_non_null(main_sink);
        assert_non_null(dlq);
        assert_int_equal(kp_sink_dead_letters_hold(main_sink, dlq), 0);
        memset(val, 'x', sizeof(val));
        kp_sink_msg_t m[10];
        for (int i = 0; i < 10; i++)
                m[i] = (kp_sink_msg_t){.cluster = "c",
                                       .topic = "t",
                                       .offset = i,
                                       .value = val,
                                       .value_len = sizeof(val),
                                       .timestamp = -1};
        assert_int_equal(kp_sink_put(main_sink, m, 10, &taken, err, sizeof(err)), KP_SINK_OK);
        n = kp_sink_refused(main_sink, recs, 16);
        assert_int_equal(n, 10);
        assert_int_equal(kp_sink_dead_letter_put(dlq, recs, n, &taken, err, sizeof(err)),
                         KP_SINK_OK);
        assert_int_equal(taken, 10);
        kp_sink_refused_done(main_sink, n);
        kp_sink_stats(main_sink, &st);
        /* the dead letters are held by the stalled target: still in flight */
        assert_int_equal(st.in_flight, 10);
        assert_int_equal(st.acked + st.refused, 0);
        stall_acked = 4; /* the target takes some */
        kp_sink_stats(main_sink, &st);
        assert_int_equal(st.in_flight, 6);
        stall_acked = 10;
        kp_sink_stats(main_sink, &st);
        assert_int_equal(st.in_flight, 0);
        assert_int_equal(st.refused, 10);
        kp_sink_close(main_sink);
        kp_sink_close(dlq);
        kp_sink_group_close(mg);
        kp_sink_group_close(dg);
        json_decref(mc);
        json_decref(dc);
}

int main(void)
{
        if (!mkdtemp(root) || kp_sink_dir_set(root))
                return 1;
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_base64_matches_rfc4648_vectors),
                cmocka_unit_test(test_validate_rejects_unknown_type_and_missing_path),
                cmocka_unit_test(
                        test_file_sink_writes_one_base64_json_line_per_message_in_a_task_file),
                cmocka_unit_test(test_file_sink_handles_values_larger_than_its_buffer),
                cmocka_unit_test(test_discard_sink_takes_everything),
                cmocka_unit_test(test_discard_sink_acknowledges_on_put),
                cmocka_unit_test(test_file_sink_open_fails_on_unwritable_path),
                cmocka_unit_test(
                        test_file_sink_path_that_leaves_the_sink_dir_is_refused_by_validate),
                cmocka_unit_test(test_file_sink_does_not_follow_a_symlink_in_the_tree),
                cmocka_unit_test(test_file_sink_does_not_follow_a_symlink_at_the_file),
                cmocka_unit_test(test_file_sink_files_are_0640_and_dirs_0750),
                cmocka_unit_test(test_file_sink_cuts_a_torn_last_line_left_by_a_crash),
                cmocka_unit_test(test_file_sink_line_carries_timestamp_and_headers),
                cmocka_unit_test(test_file_sink_takes_a_batch_and_acknowledges_it_at_flush),
                cmocka_unit_test(test_an_added_kind_opens_one_group_state_shared_by_its_tasks),
                cmocka_unit_test(test_exactly_once_refuses_rebalance_naming_the_field),
                cmocka_unit_test(test_dead_letters_held_by_a_stalled_target_stay_in_flight),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
