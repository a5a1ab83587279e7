/* test_dead_letters.c — errors and dead letters through the runtime: an http sink whose target
 * (a receiver in this program) refuses poison records with 400, a file dead-letter sink,
 * commits past the dead letters only; tolerance none fails the task and a restart resumes
 * at the poison record. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "base/util.h"
#include "runtime/runtime.h"
#include "sinks/sink.h"
#include "sinks/sink_clusters.h"

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NP 2   /* partitions */
#define NR 300 /* records per partition */

/* Poison records: at the start, in a run, at the end, alone. */
static int is_poison(int p, int i)
{
        return (p == 0 && (i == 0 || i == 40 || i == 41 || i == 42 || i == NR - 1)) ||
               (p == 1 && (i == 77 || i == 150));
}

static int npoison(void)
{
        int n = 0;
        for (int p = 0; p < NP; p++)
                for (int i = 0; i < NR; i++)
                        n += is_poison(p, i);
        return n;
}

/* ---- the receiver: 400 for a body holding a poison record, else 200 ---- */

static struct {
        pthread_mutex_t mu;
        int delivered[NP][NR]; /* times each record was in a body answered 200 */
        int refusals;          /* 400s answered */
        struct MHD_Daemon *d;
        int port;
} srv = {.mu = PTHREAD_MUTEX_INITIALIZER};

typedef struct upload {
        char *body;
        size_t len;
} upload_t;

/* Counts the records of an accepted json_lines body. Caller holds srv.mu. */
static void srv_count_body(const char *body)
{
        for (const char *l = body; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
                json_t *o = json_loads(l, JSON_DISABLE_EOF_CHECK, NULL);
                json_int_t p = json_integer_value(json_object_get(o, "partition"));
                json_int_t off = json_integer_value(json_object_get(o, "offset"));
                if (o && p >= 0 && p < NP && off >= 0 && off < NR)
                        srv.delivered[p][off]++;
                json_decref(o);
        }
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *size, void **con_cls)
{
        upload_t *u = *con_cls;
        (void)cls, (void)url, (void)method, (void)version;
        if (!u) {
                *con_cls = calloc(1, sizeof(*u));
                return MHD_YES;
        }
        if (*size) {
                u->body = realloc(u->body, u->len + *size + 1);
                memcpy(u->body + u->len, data, *size);
                u->len += *size;
                u->body[u->len] = '\0';
                *size = 0;
                return MHD_YES;
        }
        /* "poison" in base64, as the line carries a value */
        int refuse = u->body && strstr(u->body, "\"cG9pc29u\"");
        pthread_mutex_lock(&srv.mu);
        if (refuse)
                srv.refusals++;
        else
                srv_count_body(u->body);
        pthread_mutex_unlock(&srv.mu);
        const char *text = refuse ? "poison" : "ok";
        struct MHD_Response *resp =
                MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
        enum MHD_Result ret = MHD_queue_response(c, refuse ? 400 : 200, resp);
        MHD_destroy_response(resp);
        return ret;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode code)
{
        upload_t *u = *con_cls;
        (void)cls, (void)c, (void)code;
        if (u)
                free(u->body);
        free(u);
        *con_cls = NULL;
}

static void srv_start(void)
{
        memset(srv.delivered, 0, sizeof(srv.delivered));
        srv.refusals = 0;
        srv.d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0,
                                 NULL, NULL, handler, NULL, MHD_OPTION_NOTIFY_COMPLETED, completed,
                                 NULL, MHD_OPTION_END);
        assert_non_null(srv.d);
        srv.port = MHD_get_daemon_info(srv.d, MHD_DAEMON_INFO_BIND_PORT)->port;
}

static int srv_refusals(void)
{
        pthread_mutex_lock(&srv.mu);
        int n = srv.refusals;
        pthread_mutex_unlock(&srv.mu);
        return n;
}

/* ---- a mock cluster with the records ---- */

typedef struct mock {
        rd_kafka_t *rk;
        rd_kafka_mock_cluster_t *mc;
        char bootstrap[256];
} mock_t;

static void mock_start(mock_t *m)
{
        char err[256];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
        m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
        assert_non_null(m->rk);
        m->mc = rd_kafka_mock_cluster_new(m->rk, 1);
        assert_non_null(m->mc);
        snprintf(m->bootstrap, sizeof(m->bootstrap), "%s", rd_kafka_mock_cluster_bootstraps(m->mc));
        assert_int_equal(rd_kafka_mock_topic_create(m->mc, "orders", NP, 1), 0);

        conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "bootstrap.servers", m->bootstrap, err, sizeof(err));
        rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
        rd_kafka_t *prod = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
        assert_non_null(prod);
        for (int i = 0; i < NR; i++) {
                for (int p = 0; p < NP; p++) {
                        char val[32];
                        snprintf(val, sizeof(val), is_poison(p, i) ? "poison" : "v%d", i);
                        assert_int_equal(rd_kafka_producev(prod, RD_KAFKA_V_TOPIC("orders"),
                                                           RD_KAFKA_V_PARTITION(p),
                                                           RD_KAFKA_V_VALUE(val, strlen(val)),
                                                           RD_KAFKA_V_HEADER("trace", "t", 1),
                                                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                                           RD_KAFKA_V_END),
                                         0);
                }
        }
        assert_int_equal(rd_kafka_flush(prod, 30000), 0);
        rd_kafka_destroy(prod);
}

static void mock_stop(mock_t *m)
{
        rd_kafka_mock_cluster_destroy(m->mc);
        rd_kafka_destroy(m->rk);
}

/* ---- documents and status ---- */

static json_t *plan_doc(void)
{
        json_t *plan = json_pack("{s:i, s:i, s:[]}", "version", 1, "parallelism", NP, "tasks");
        for (int p = 0; p < NP; p++)
                json_array_append_new(json_object_get(plan, "tasks"),
                                      json_pack("{s:i, s:[{s:s, s:s, s:i}]}", "task", p,
                                                "partitions", "cluster", "a", "topic", "orders",
                                                "partition", p));
        return plan;
}

/* The group: an http sink to the receiver (batches of 50) and @p errors (NULL: none). */
static json_t *group_doc(const char *name, json_t *errors)
{
        char url[64];
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/in", srv.port);
        json_t *g = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:i, s:i}}}", "name", name,
                              "start_offset", "earliest", "sink", "type", "http", "url", url,
                              "batch", "max_messages", 50, "linger_ms", 5);
        if (errors)
                json_object_set_new(g, "errors", errors);
        return g;
}

static int64_t status_committed(kp_runtime_t *rt, const char *group, int p)
{
        json_t *st = kp_runtime_group_status(rt, group), *row;
        int64_t c = -1;
        size_t k;
        json_array_foreach(json_object_get(st, "partitions"), k, row)
        {
                json_t *v = json_object_get(row, "committed");
                if (json_integer_value(json_object_get(row, "partition")) == p &&
                    json_is_integer(v))
                        c = json_integer_value(v);
        }
        json_decref(st);
        return c;
}

/* The sum over tasks of sink.<field>, or, with @p failed, the number of failed tasks. */
static int64_t status_tasks_sum(kp_runtime_t *rt, const char *group, const char *field)
{
        json_t *st = kp_runtime_group_status(rt, group), *row;
        int64_t n = 0;
        size_t k;
        json_array_foreach(json_object_get(st, "tasks"), k, row)
        {
                if (!strcmp(field, "failed"))
                        n += !strcmp(json_string_value(json_object_get(row, "state")), "failed");
                else
                        n += json_integer_value(
                                json_object_get(json_object_get(row, "sink"), field));
        }
        json_decref(st);
        return n;
}

/* ---- tests ---- */

/* The dead letters of the file sink under @p dir: each line's (partition, offset) counted
 * in @p seen, its headers checked: the record's own, then kplane.error.* and
 * kplane.source.*. @returns the lines. */
static int dlq_read(const char *dir, int seen[NP][NR], const char *status_b64)
{
        int lines = 0;
        for (int t = 0; t < NP; t++) {
                char path[512], line[8192];
                snprintf(path, sizeof(path), "%s/dlq/task-%04d.jsonl", dir, t);
                FILE *f = fopen(path, "r");
                if (!f)
                        continue;
                while (fgets(line, sizeof(line), f)) {
                        json_t *o = json_loads(line, JSON_DISABLE_EOF_CHECK, NULL), *h;
                        assert_non_null(o);
                        json_int_t p = json_integer_value(json_object_get(o, "partition"));
                        json_int_t off = json_integer_value(json_object_get(o, "offset"));
                        assert_true(p >= 0 && p < NP && off >= 0 && off < NR);
                        seen[p][off]++;
                        assert_string_equal(json_string_value(json_object_get(o, "value")),
                                            "cG9pc29u");
                        h = json_object_get(o, "headers");
                        assert_int_equal(json_array_size(h), 7);
                        static const char *const names[] = {"trace",
                                                            "kplane.error.reason",
                                                            "kplane.error.status",
                                                            "kplane.source.cluster",
                                                            "kplane.source.topic",
                                                            "kplane.source.partition",
                                                            "kplane.source.offset"};
                        for (size_t i = 0; i < 7; i++)
                                assert_string_equal(json_string_value(json_object_get(
                                                            json_array_get(h, i), "key")),
                                                    names[i]);
                        /* the status and "orders" in base64 */
                        assert_string_equal(
                                json_string_value(json_object_get(json_array_get(h, 2), "value")),
                                status_b64);
                        assert_string_equal(
                                json_string_value(json_object_get(json_array_get(h, 4), "value")),
                                "b3JkZXJz");
                        json_decref(o);
                        lines++;
                }
                fclose(f);
        }
        return lines;
}

/* tolerance "all": exactly the poison records end in the dead letters (with why), every
 * other record is delivered, and every partition is committed to its end. */
static void test_poison_records_go_to_the_dead_letters_and_the_rest_is_committed(void **state)
{
        mock_t m;
        char err[256], dir[] = "/tmp/kp-dlq-XXXXXX";
        static int seen[NP][NR];
        (void)state;
        assert_non_null(mkdtemp(dir));
        assert_int_equal(kp_sink_dir_set(dir), 0);
        srv_start();
        mock_start(&m);
        kp_runtime_t *rt = kp_runtime_new(err, sizeof(err));
        json_t *cls = json_pack("{s:{s:s}}", "a", "bootstrap_servers", m.bootstrap);
        json_t *plan = plan_doc();
        json_t *grp = group_doc("g-dlq", json_pack("{s:s, s:{s:s, s:s}}", "tolerance", "all",
                                                   "dead_letter", "type", "file", "path", "dlq"));
        if (kp_runtime_group_start(rt, grp, plan, cls, err, sizeof(err)))
                fail_msg("start: %s", err);
        int64_t deadline = kp_time_mono_ms() + 90000;
        while (kp_time_mono_ms() < deadline &&
               (status_committed(rt, "g-dlq", 0) < NR || status_committed(rt, "g-dlq", 1) < NR))
                usleep(100 * 1000);
        assert_int_equal(status_committed(rt, "g-dlq", 0), NR);
        assert_int_equal(status_committed(rt, "g-dlq", 1), NR);
        assert_int_equal(status_tasks_sum(rt, "g-dlq", "failed"), 0);
        assert_int_equal(status_tasks_sum(rt, "g-dlq", "dead_letters"), npoison());
        assert_int_equal(status_tasks_sum(rt, "g-dlq", "delivered"), NP * NR - npoison());
        assert_int_equal(kp_runtime_group_stop(rt, "g-dlq", 0, err, sizeof(err)), 0);

        memset(seen, 0, sizeof(seen));
        assert_int_equal(dlq_read(dir, seen, "NDAw"), npoison()); /* "400" */
        for (int p = 0; p < NP; p++)
                for (int i = 0; i < NR; i++) {
                        if (seen[p][i] != is_poison(p, i))
                                fail_msg("dead letters: %d/%d %d times", p, i, seen[p][i]);
                        if (!is_poison(p, i) && srv.delivered[p][i] < 1)
                                fail_msg("record %d/%d never delivered", p, i);
                        if (is_poison(p, i) && srv.delivered[p][i])
                                fail_msg("poison %d/%d delivered", p, i);
                }
        kp_runtime_destroy(rt);
        json_decref(cls);
        json_decref(plan);
        json_decref(grp);
        mock_stop(&m);
        MHD_stop_daemon(srv.d);
}

/* tolerance "none" (the default): the poison record fails its task, nothing past it is
 * committed, and a restart reads it again (and fails again) rather than skip it. */
static void test_tolerance_none_fails_the_task_and_a_restart_resumes_at_the_poison(void **state)
{
        mock_t m;
        char err[256];
        (void)state;
        srv_start();
        mock_start(&m);
        kp_runtime_t *rt = kp_runtime_new(err, sizeof(err));
        json_t *cls = json_pack("{s:{s:s}}", "a", "bootstrap_servers", m.bootstrap);
        json_t *plan = plan_doc();
        json_t *grp = group_doc("g-none", json_pack("{s:s}", "tolerance", "none"));
        for (int run = 0; run < 2; run++) {
                int before = srv_refusals();
                if (kp_runtime_group_start(rt, grp, plan, cls, err, sizeof(err)))
                        fail_msg("start: %s", err);
                int64_t deadline = kp_time_mono_ms() + 60000;
                while (kp_time_mono_ms() < deadline &&
                       status_tasks_sum(rt, "g-none", "failed") < NP)
                        usleep(100 * 1000);
                assert_int_equal(status_tasks_sum(rt, "g-none", "failed"), NP);
                assert_true(srv_refusals() > before); /* the poison was sent (again) */
                json_t *st = kp_runtime_group_status(rt, "g-none");
                const char *e = json_string_value(
                        json_object_get(json_array_get(json_object_get(st, "tasks"), 1), "error"));
                assert_non_null(e);
                assert_non_null(strstr(e, "refused for good: 400"));
                json_decref(st);
                /* partition 1's first poison is at 77, partition 0's at 0 */
                assert_true(status_committed(rt, "g-none", 0) <= 0);
                assert_true(status_committed(rt, "g-none", 1) <= 77);
                assert_int_equal(status_tasks_sum(rt, "g-none", "dead_letters"), 0);
                assert_int_equal(kp_runtime_group_stop(rt, "g-none", 0, err, sizeof(err)), 0);
        }
        kp_runtime_destroy(rt);
        json_decref(cls);
        json_decref(plan);
        json_decref(grp);
        mock_stop(&m);
        MHD_stop_daemon(srv.d);
}

/* ---- a sink that calls poison records poison at its put ("test-poison") ---- */

static _Atomic int poison_taken; /* records it took */

static int poison_validate(const json_t *conf, char *errstr, size_t errstr_size)
{
        (void)conf, (void)errstr, (void)errstr_size;
        return 0;
}

static int poison_open(const json_t *conf, void *group, int task, void **statep, char *errstr,
                       size_t errstr_size)
{
        (void)conf, (void)group, (void)task, (void)errstr, (void)errstr_size;
        *statep = NULL;
        return 0;
}

/* Takes records up to the first poison one and answers DEAD_LETTER for it. */
static kp_sink_status_t poison_put(void *state, const kp_sink_msg_t *msgs, size_t n, size_t *taken,
                                   char *errstr, size_t errstr_size)
{
        size_t i;
        (void)state;
        for (i = 0; i < n; i++)
                if (msgs[i].value_len == 6 && !memcmp(msgs[i].value, "poison", 6))
                        break;
        *taken = i;
        atomic_fetch_add(&poison_taken, (int)i);
        if (i == n)
                return KP_SINK_OK;
        snprintf(errstr, errstr_size, "test-poison: record at offset %lld is poison",
                 (long long)msgs[i].offset);
        return KP_SINK_DEAD_LETTER;
}

static kp_sink_status_t poison_flush(void *state, int64_t deadline_ms, char *errstr,
                                     size_t errstr_size)
{
        (void)state, (void)deadline_ms, (void)errstr, (void)errstr_size;
        return KP_SINK_OK;
}

static void poison_close(void *state)
{
        (void)state;
}

static const kp_sink_ops_t poison_ops = {.type = "test-poison",
                                         .validate = poison_validate,
                                         .open = poison_open,
                                         .put = poison_put,
                                         .flush = poison_flush,
                                         .close = poison_close};

/* A record the sink calls poison at its put (not after): the worker puts it into the
 * dead-letter sink (status "none", the sink's words as reason) and offers the sink the rest
 * of its batch; everything is committed. */
static void test_a_record_refused_at_its_put_goes_to_the_dead_letters(void **state)
{
        mock_t m;
        char err[256], dir[] = "/tmp/kp-dlq-put-XXXXXX";
        static int seen[NP][NR];
        (void)state;
        assert_non_null(mkdtemp(dir));
        assert_int_equal(kp_sink_dir_set(dir), 0);
        mock_start(&m);
        atomic_store(&poison_taken, 0);
        kp_runtime_t *rt = kp_runtime_new(err, sizeof(err));
        json_t *cls = json_pack("{s:{s:s}}", "a", "bootstrap_servers", m.bootstrap);
        json_t *plan = plan_doc();
        json_t *grp = json_pack("{s:s, s:s, s:{s:s}, s:{s:s, s:{s:s, s:s}}}", "name", "g-put",
                                "start_offset", "earliest", "sink", "type", "test-poison", "errors",
                                "tolerance", "all", "dead_letter", "type", "file", "path", "dlq");
        if (kp_runtime_group_start(rt, grp, plan, cls, err, sizeof(err)))
                fail_msg("start: %s", err);
        int64_t deadline = kp_time_mono_ms() + 60000;
        while (kp_time_mono_ms() < deadline &&
               (status_committed(rt, "g-put", 0) < NR || status_committed(rt, "g-put", 1) < NR))
                usleep(100 * 1000);
        assert_int_equal(status_committed(rt, "g-put", 0), NR);
        assert_int_equal(status_committed(rt, "g-put", 1), NR);
        assert_int_equal(status_tasks_sum(rt, "g-put", "dead_letters"), npoison());
        assert_int_equal(kp_runtime_group_stop(rt, "g-put", 0, err, sizeof(err)), 0);
        assert_int_equal(atomic_load(&poison_taken), NP * NR - npoison());
        memset(seen, 0, sizeof(seen));
        assert_int_equal(dlq_read(dir, seen, "bm9uZQ=="), npoison()); /* "none" */
        for (int p = 0; p < NP; p++)
                for (int i = 0; i < NR; i++)
                        if (seen[p][i] != is_poison(p, i))
                                fail_msg("dead letters: %d/%d %d times", p, i, seen[p][i]);
        kp_runtime_destroy(rt);
        json_decref(cls);
        json_decref(plan);
        json_decref(grp);
        mock_stop(&m);
}

/* ---- a stalled dead-letter target: the dead letters it holds pause the source ---- */

#define BIG_N   1000 /* records of topic "big" (one partition) */
#define BIG_LEN 2000 /* key bytes of each: every one poison, 2 MB against a 64 KB limit */

/* What a paused task may have read: the limit's worth (32 records) and a worker batch
 * (KP_RUNTIME_WORKER_BATCH, 256) handed on before the check. */
#define READ_MAX (32 + 256)

static char dlq_bootstrap[256];

static int dlq_resolve(void *ctx, const char *name, kp_sink_cluster_use_fn use, void *arg,
                       char *errstr, size_t errstr_size)
{
        (void)ctx;
        kp_cluster_ref_t ref = {.name = name, .bootstrap = dlq_bootstrap};
        return use(&ref, arg, errstr, errstr_size);
}

static int64_t status_task0(kp_runtime_t *rt, const char *group, const char *field, int sink)
{
        json_t *st = kp_runtime_group_status(rt, group);
        json_t *t = json_array_get(json_object_get(st, "tasks"), 0);
        int64_t v =
                json_integer_value(json_object_get(sink ? json_object_get(t, "sink") : t, field));
        json_decref(st);
        return v;
}

/*
 * Every record is refused (400) and goes to a kafka dead-letter sink whose broker is down:
 * the refused records stay in flight until their dead letters are acknowledged, so the
 * task pauses its partition at max_in_flight_bytes (64 KB) instead of reading all 2 MB
 * into a producer queue that does not move; once the broker is back, everything reaches
 * the dead letters and the partition is committed to its end.
 */
static void test_a_stalled_dead_letter_target_pauses_the_source(void **state)
{
        mock_t src, dst;
        char err[256], val[BIG_LEN];
        (void)state;
        srv_start();
        mock_start(&src);
        mock_start(&dst);
        assert_int_equal(rd_kafka_mock_topic_create(src.mc, "big", 1, 1), 0);
        assert_int_equal(rd_kafka_mock_topic_create(dst.mc, "dlq", 1, 1), 0);
        snprintf(dlq_bootstrap, sizeof(dlq_bootstrap), "%s", dst.bootstrap);
        kp_sink_clusters_set(dlq_resolve, NULL);
        memset(val, 'k', sizeof(val)); /* the key: the bytes; the value "poison": a 400 */
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "bootstrap.servers", src.bootstrap, err, sizeof(err));
        rd_kafka_t *prod = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
        assert_non_null(prod);
        for (int i = 0; i < BIG_N; i++)
                assert_int_equal(
                        rd_kafka_producev(prod, RD_KAFKA_V_TOPIC("big"), RD_KAFKA_V_PARTITION(0),
                                          RD_KAFKA_V_KEY(val, sizeof(val)),
                                          RD_KAFKA_V_VALUE("poison", 6),
                                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                        0);
        assert_int_equal(rd_kafka_flush(prod, 30000), 0);
        rd_kafka_destroy(prod);
        assert_int_equal(rd_kafka_mock_broker_set_down(dst.mc, 1), 0);

        kp_runtime_t *rt = kp_runtime_new(err, sizeof(err));
        json_t *cls = json_pack("{s:{s:s}}", "a", "bootstrap_servers", src.bootstrap);
        json_t *plan = json_pack("{s:i, s:i, s:[{s:i, s:[{s:s, s:s, s:i}]}]}", "version", 1,
                                 "parallelism", 1, "tasks", "task", 0, "partitions", "cluster", "a",
                                 "topic", "big", "partition", 0);
        json_t *grp = group_doc("g-stall", json_pack("{s:s, s:{s:s, s:s, s:s}}", "tolerance", "all",
                                                     "dead_letter", "type", "kafka", "cluster", "b",
                                                     "topic", "dlq"));
        json_object_set_new(json_object_get(grp, "sink"), "max_in_flight_bytes",
                            json_integer(64 * 1024));
        if (kp_runtime_group_start(rt, grp, plan, cls, err, sizeof(err)))
                fail_msg("start: %s", err);
        int64_t deadline = kp_time_mono_ms() + 60000;
        while (kp_time_mono_ms() < deadline && !status_task0(rt, "g-stall", "paused_partitions", 1))
                usleep(50 * 1000);
        assert_int_equal(status_task0(rt, "g-stall", "paused_partitions", 1), 1);
        /* it stays paused while the dead letters wait: a few seconds read nothing more than
         * the limit and a worker batch (it read them all when they counted as done) */
        deadline = kp_time_mono_ms() + 6000;
        while (kp_time_mono_ms() < deadline &&
               status_task0(rt, "g-stall", "messages", 0) <= 2 * READ_MAX)
                usleep(100 * 1000);
        int64_t read = status_task0(rt, "g-stall", "messages", 0);
        if (read > READ_MAX)
                fail_msg("read %lld records while the dead-letter target was down (limit and a "
                         "worker batch: %d)",
                         (long long)read, READ_MAX);
        assert_true(srv_refusals() > 0);

        assert_int_equal(rd_kafka_mock_broker_set_up(dst.mc, 1), 0);
        deadline = kp_time_mono_ms() + 90000;
        while (kp_time_mono_ms() < deadline && status_committed(rt, "g-stall", 0) < BIG_N)
                usleep(100 * 1000);
        assert_int_equal(status_committed(rt, "g-stall", 0), BIG_N);
        assert_int_equal(status_task0(rt, "g-stall", "dead_letters", 1), BIG_N);
        assert_int_equal(kp_runtime_group_stop(rt, "g-stall", 0, err, sizeof(err)), 0);
        kp_runtime_destroy(rt);
        kp_sink_clusters_set(NULL, NULL);
        json_decref(cls);
        json_decref(plan);
        json_decref(grp);
        mock_stop(&dst);
        mock_stop(&src);
        MHD_stop_daemon(srv.d);
}

int main(void)
{
        if (kp_sink_kind_add(&poison_ops))
                return 1;
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_a_record_refused_at_its_put_goes_to_the_dead_letters),
                cmocka_unit_test(
                        test_poison_records_go_to_the_dead_letters_and_the_rest_is_committed),
                cmocka_unit_test(
                        test_tolerance_none_fails_the_task_and_a_restart_resumes_at_the_poison),
                cmocka_unit_test(test_a_stalled_dead_letter_target_pauses_the_source),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
