/* test_sink_http.c — the http sink against a receiver in this program (libmicrohttpd): bodies,
 * retries (500, 429 with Retry-After, a stalled answer), final refusals, acknowledgements. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "base/err.h"
#include "base/util.h"
#include "sinks/sink.h"

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What the receiver answers, request by request (then 200): a status, or STALL (answers
 * after the sink's timeout, so the sink gives up on it). */
#define STALL    (-1)
#define RECS_MAX 4096

typedef struct rec {
        char *body;
        size_t len;
        int status; /* what it was answered */
        int64_t at_ms;
        char method[8], key[128], ctype[64], auth[64];
        int has_key;
} rec_t;

static struct {
        pthread_mutex_t mu;
        int script[64], nscript, next;
        const char *retry_after; /* sent with every 429 */
        const char *reject;      /* a body holding it is answered 400 (a poison record) */
        int stall_ms;
        rec_t recs[RECS_MAX];
        int nrecs;
        struct MHD_Daemon *d;
        int port;
} srv = {.mu = PTHREAD_MUTEX_INITIALIZER};

typedef struct upload {
        char *body;
        size_t len;
        int64_t at_ms;
} upload_t;

static void header_copy(struct MHD_Connection *c, const char *name, char *out, size_t size,
                        int *found)
{
        const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
        snprintf(out, size, "%s", v ? v : "");
        if (found)
                *found = v != NULL;
}

/* Records the request and answers it as the script says. */
static enum MHD_Result answer(struct MHD_Connection *c, const char *method, upload_t *u)
{
        int status;
        char echo[64];
        header_copy(c, "Authorization", echo, sizeof(echo), NULL);
        pthread_mutex_lock(&srv.mu);
        status = srv.next < srv.nscript ? srv.script[srv.next] : 200;
        srv.next++;
        if (status == 200 && srv.reject && u->body && strstr(u->body, srv.reject))
                status = 400;
        if (srv.nrecs < RECS_MAX) {
                rec_t *r = &srv.recs[srv.nrecs++];
                r->body = u->body;
                r->len = u->len;
                u->body = NULL;
                r->status = status;
                r->at_ms = u->at_ms;
                snprintf(r->method, sizeof(r->method), "%s", method);
                header_copy(c, "X-Kplane-Key", r->key, sizeof(r->key), &r->has_key);
                header_copy(c, "Content-Type", r->ctype, sizeof(r->ctype), NULL);
                header_copy(c, "Authorization", r->auth, sizeof(r->auth), NULL);
        }
        const char *after = srv.retry_after;
        int stall = srv.stall_ms;
        pthread_mutex_unlock(&srv.mu);
        if (status == STALL) {
                usleep((useconds_t)stall * 1000);
                status = 200;
        }
        /* a 400 echoes the request's Authorization, as a careless target might */
        char body[128];
        snprintf(body, sizeof(body), "bad request from %s", status == 400 ? echo : "?");
        struct MHD_Response *resp =
                MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
        if (status == 429 && after)
                MHD_add_response_header(resp, "Retry-After", after);
        enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, resp);
        MHD_destroy_response(resp);
        return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *size, void **con_cls)
{
        upload_t *u = *con_cls;
        (void)cls, (void)url, (void)version;
        if (!u) {
                u = calloc(1, sizeof(*u));
                u->at_ms = kp_time_mono_ms();
                *con_cls = u;
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
        return answer(c, method, u);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode code)
{
        upload_t *u = *con_cls;
        (void)cls, (void)c, (void)code;
        if (u) {
                free(u->body);
                free(u);
        }
        *con_cls = NULL;
}

/* A fresh receiver answering @p script (n entries) before 200s. */
static void srv_start(const int *script, int n)
{
        srv.nscript = n;
        memcpy(srv.script, script, sizeof(int) * (size_t)n);
        srv.next = srv.nrecs = 0;
        srv.retry_after = NULL;
        srv.reject = NULL;
        srv.stall_ms = 0;
        srv.d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0,
                                 NULL, NULL, handler, NULL, MHD_OPTION_NOTIFY_COMPLETED, completed,
                                 NULL, MHD_OPTION_END);
        assert_non_null(srv.d);
        srv.port = MHD_get_daemon_info(srv.d, MHD_DAEMON_INFO_BIND_PORT)->port;
}

static void srv_stop(void)
{
        MHD_stop_daemon(srv.d);
        for (int i = 0; i < srv.nrecs; i++)
                free(srv.recs[i].body);
        srv.nrecs = 0;
}

static int srv_count(void)
{
        pthread_mutex_lock(&srv.mu);
        int n = srv.nrecs;
        pthread_mutex_unlock(&srv.mu);
        return n;
}

/* Sink documents: an http sink to the receiver, with @p extra members. */
static json_t *conf_new(const char *extra)
{
        char buf[1024];
        snprintf(buf, sizeof(buf),
                 "{\"type\":\"http\",\"url\":\"http://127.0.0.1:%d/in?token=q\"%s%s}", srv.port,
                 extra[0] ? "," : "", extra);
        json_t *c = json_loads(buf, 0, NULL);
        assert_non_null(c);
        return c;
}

static kp_sink_group_t *grp;

static kp_sink_t *sink_open(const json_t *conf)
{
        char err[256];
        grp = kp_sink_group_open(conf, "g", err, sizeof(err));
        if (!grp)
                fail_msg("group_open: %s", err);
        kp_sink_t *s = kp_sink_open(grp, 0, err, sizeof(err));
        if (!s)
                fail_msg("open: %s", err);
        return s;
}

static void sink_close(kp_sink_t *s)
{
        kp_sink_close(s);
        kp_sink_group_close(grp);
        grp = NULL;
}

/* Partition handles (kp_sink_msg_t.part). */
static int part_a, part_b;

static kp_sink_msg_t msg(const void *part, int32_t partition, int64_t offset, const char *key,
                         const char *value)
{
        return (kp_sink_msg_t){.cluster = "eu",
                               .topic = "orders",
                               .partition = partition,
                               .offset = offset,
                               .key = key,
                               .key_len = key ? strlen(key) : 0,
                               .value = value,
                               .value_len = value ? strlen(value) : 0,
                               .timestamp = -1,
                               .part = part};
}

static void put_all(kp_sink_t *s, const kp_sink_msg_t *m, size_t n)
{
        char err[256];
        size_t taken;
        kp_sink_status_t st = kp_sink_put(s, m, n, &taken, err, sizeof(err));
        if (st != KP_SINK_OK)
                fail_msg("put: %d %s", st, err);
        assert_int_equal(taken, n);
}

static kp_sink_status_t flush_wait(kp_sink_t *s, char *err, size_t err_size)
{
        return kp_sink_flush(s, kp_time_mono_ms() + 60000, err, err_size);
}

/* ---- documents ---- */

static void expect_invalid(const char *doc, const char *field)
{
        char err[256];
        json_t *c = json_loads(doc, 0, NULL);
        assert_non_null(c);
        assert_int_equal(kp_sink_validate(c, err, sizeof(err)), KP_ERR_INVALID);
        if (strncmp(err, field, strlen(field)))
                fail_msg("%s: wanted %s..., got %s", doc, field, err);
        json_decref(c);
}

static void test_bad_documents_name_the_field(void **state)
{
        (void)state;
        expect_invalid("{\"type\":\"http\"}", "sink.url");
        expect_invalid("{\"type\":\"http\",\"url\":\"ftp://h/x\"}", "sink.url");
        expect_invalid("{\"type\":\"http\",\"url\":\"h:80/x\"}", "sink.url");
        expect_invalid("{\"type\":\"http\",\"url\":\"http://a b/\"}", "sink.url");
        expect_invalid("{\"type\":\"http\",\"url\":\"http://u:p@h/\"}", "sink.url");
        expect_invalid("{\"type\":\"http\",\"url\":\"http://h/\",\"method\":\"GET\"}",
                       "sink.method");
        expect_invalid("{\"type\":\"http\",\"url\":\"http://h/\",\"format\":\"csv\"}",
                       "sink.format");
        expect_invalid("{\"type\":\"http\",\"url\":\"http://h/\",\"batch\":{\"max_messages\":0}}",
                       "sink.batch.max_messages");
        expect_invalid("{\"type\":\"http\",\"url\":\"http://h/\",\"batch\":{\"max_bytes\":"
                       "1000000000}}",
                       "sink.batch.max_bytes");
        expect_invalid("{\"type\":\"http\",\"url\":\"http://h/\",\"batch\":{\"linger_ms\":-1}}",
                       "sink.batch.linger_ms");
        expect_invalid("{\"type\":\"http\",\"url\":\"http://h/\",\"batch\":{\"size\":1}}",
                       "sink.batch.size");
        expect_invalid("{\"type\":\"http\",\"url\":\"http://h/\",\"timeout_ms\":0}",
                       "sink.timeout_ms");
        expect_invalid("{\"type\":\"http\",\"url\":\"http://h/\",\"retry\":{\"max_attempts\":0}}",
                       "sink.retry.max_attempts");
        expect_invalid("{\"type\":\"http\",\"url\":\"http://h/\",\"retry\":"
                       "{\"initial_backoff_ms\":500,\"max_backoff_ms\":100}}",
                       "sink.retry.max_backoff_ms");
        expect_invalid("{\"type\":\"http\",\"url\":\"http://h/\",\"headers\":{\"A\":\"x\\r\\ny\"}}",
                       "sink.headers.A");
        expect_invalid("{\"type\":\"http\",\"url\":\"http://h/\",\"headers\":{\"a b\":\"x\"}}",
                       "sink.headers");
        expect_invalid("{\"type\":\"http\",\"url\":\"http://h/\",\"headers\":"
                       "{\"Content-Length\":\"1\"}}",
                       "sink.headers.Content-Length");
        expect_invalid("{\"type\":\"http\",\"url\":\"http://h/\",\"colour\":1}", "sink.colour");
}

static void test_header_values_are_masked_and_kept_on_a_replace_to_the_same_url(void **state)
{
        char err[256];
        json_t *stored = json_loads("{\"type\":\"http\",\"url\":\"https://h/x\",\"headers\":"
                                    "{\"Authorization\":\"Bearer s3cr3t\"}}",
                                    0, NULL);
        (void)state;
        assert_int_equal(kp_sink_validate(stored, err, sizeof(err)), 0);
        json_t *shown = kp_sink_redact(stored);
        char *text = json_dumps(shown, 0);
        assert_null(strstr(text, "s3cr3t"));
        assert_non_null(strstr(text, "\"******\""));
        free(text);
        /* the answer sent back as it is keeps the secret */
        json_t *back = json_deep_copy(shown);
        assert_int_equal(kp_sink_validate(back, err, sizeof(err)), KP_ERR_INVALID);
        kp_sink_unredact(back, stored);
        assert_true(json_equal(back, stored));
        /* to another URL the mask is refused: the secret is not sent to a new place */
        json_object_set_new(shown, "url", json_string("https://elsewhere/x"));
        kp_sink_unredact(shown, stored);
        assert_int_equal(kp_sink_validate(shown, err, sizeof(err)), KP_ERR_INVALID);
        assert_non_null(strstr(err, "sink.headers.Authorization"));
        json_decref(back);
        json_decref(shown);
        json_decref(stored);
}

/* ---- bodies ---- */

static void test_json_lines_body_is_exact(void **state)
{
        char err[256];
        kp_sink_header_t h = {"trace", "abc", 3};
        kp_sink_msg_t m[2] = {msg(&part_a, 3, 42, "k1", "hello"), msg(&part_a, 3, 43, NULL, "")};
        (void)state;
        srv_start(NULL, 0);
        m[0].timestamp = 1700000000123;
        m[0].headers = &h;
        m[0].nheaders = 1;
        json_t *c = conf_new("\"headers\":{\"Authorization\":\"Bearer s3cr3t\"},"
                             "\"batch\":{\"max_messages\":2,\"linger_ms\":60000}");
        kp_sink_t *s = sink_open(c);
        put_all(s, m, 2);
        assert_int_equal(flush_wait(s, err, sizeof(err)), KP_SINK_OK);
        assert_int_equal(srv_count(), 1);
        assert_string_equal(srv.recs[0].method, "POST");
        assert_string_equal(srv.recs[0].ctype, "application/x-ndjson");
        assert_string_equal(srv.recs[0].auth, "Bearer s3cr3t");
        assert_string_equal(
                srv.recs[0].body,
                "{\"cluster\":\"eu\",\"topic\":\"orders\",\"partition\":3,\"offset\":42,"
                "\"timestamp\":1700000000123,\"headers\":[{\"key\":\"trace\",\"value\":"
                "\"YWJj\"}],\"key\":\"azE=\",\"value\":\"aGVsbG8=\"}\n"
                "{\"cluster\":\"eu\",\"topic\":\"orders\",\"partition\":3,\"offset\":43,"
                "\"timestamp\":null,\"headers\":[],\"key\":null,\"value\":\"\"}\n");
        sink_close(s);
        json_decref(c);
        srv_stop();
}

static void test_json_array_body_is_exact_and_batches_by_count(void **state)
{
        char err[256];
        kp_sink_msg_t m[3] = {msg(&part_a, 0, 1, "a", "x"), msg(&part_a, 0, 2, "b", "y"),
                              msg(&part_a, 0, 3, "c", "z")};
        (void)state;
        srv_start(NULL, 0);
        json_t *c = conf_new("\"format\":\"json_array\",\"method\":\"PUT\","
                             "\"batch\":{\"max_messages\":2,\"linger_ms\":60000}");
        kp_sink_t *s = sink_open(c);
        put_all(s, m, 3);
        assert_int_equal(flush_wait(s, err, sizeof(err)), KP_SINK_OK);
        assert_int_equal(srv_count(), 2);
        assert_string_equal(srv.recs[0].method, "PUT");
        assert_string_equal(srv.recs[0].ctype, "application/json");
        assert_string_equal(
                srv.recs[0].body,
                "[{\"cluster\":\"eu\",\"topic\":\"orders\",\"partition\":0,\"offset\":1,"
                "\"timestamp\":null,\"headers\":[],\"key\":\"YQ==\",\"value\":\"eA==\"},"
                "{\"cluster\":\"eu\",\"topic\":\"orders\",\"partition\":0,\"offset\":2,"
                "\"timestamp\":null,\"headers\":[],\"key\":\"Yg==\",\"value\":\"eQ==\"}]");
        json_t *arr = json_loads(srv.recs[1].body, 0, NULL);
        assert_int_equal(json_array_size(arr), 1);
        json_decref(arr);
        sink_close(s);
        json_decref(c);
        srv_stop();
}

static void test_json_lines_batches_by_bytes(void **state)
{
        char err[256], v[200];
        kp_sink_msg_t m[10];
        (void)state;
        memset(v, 'v', sizeof(v) - 1);
        v[sizeof(v) - 1] = '\0';
        for (int i = 0; i < 10; i++)
                m[i] = msg(&part_a, 0, i, NULL, v);
        srv_start(NULL, 0);
        json_t *c = conf_new("\"batch\":{\"max_bytes\":1000,\"linger_ms\":60000}");
        kp_sink_t *s = sink_open(c);
        put_all(s, m, 10);
        assert_int_equal(flush_wait(s, err, sizeof(err)), KP_SINK_OK);
        int lines = 0;
        for (int i = 0; i < srv_count(); i++) {
                assert_true(srv.recs[i].len <= 1000);
                for (size_t j = 0; j < srv.recs[i].len; j++)
                        lines += srv.recs[i].body[j] == '\n';
        }
        assert_int_equal(lines, 10);
        assert_true(srv_count() >= 3); /* a line is ~380 bytes: two per request */
        sink_close(s);
        json_decref(c);
        srv_stop();
}

static void test_raw_sends_one_request_per_message_with_its_key(void **state)
{
        char err[256];
        kp_sink_msg_t m[2] = {msg(&part_a, 0, 1, "k1", "first body"),
                              msg(&part_a, 0, 2, NULL, "second")};
        (void)state;
        srv_start(NULL, 0);
        json_t *c = conf_new("\"format\":\"raw\"");
        kp_sink_t *s = sink_open(c);
        put_all(s, m, 2);
        assert_int_equal(flush_wait(s, err, sizeof(err)), KP_SINK_OK);
        assert_int_equal(srv_count(), 2);
        assert_string_equal(srv.recs[0].body, "first body");
        assert_string_equal(srv.recs[0].ctype, "application/octet-stream");
        assert_true(srv.recs[0].has_key);
        assert_string_equal(srv.recs[0].key, "azE=");
        assert_string_equal(srv.recs[1].body, "second");
        assert_false(srv.recs[1].has_key);
        sink_close(s);
        json_decref(c);
        srv_stop();
}

/* A batch short of its limits goes once it lingered linger_ms, without a flush. */
static void test_a_partial_batch_goes_after_its_linger(void **state)
{
        kp_sink_msg_t m = msg(&part_a, 0, 0, NULL, "x");
        (void)state;
        srv_start(NULL, 0);
        json_t *c = conf_new("\"batch\":{\"max_messages\":100,\"linger_ms\":50}");
        kp_sink_t *s = sink_open(c);
        int64_t t0 = kp_time_mono_ms();
        put_all(s, &m, 1);
        while (!srv_count() && kp_time_mono_ms() - t0 < 30000)
                usleep(5000);
        assert_int_equal(srv_count(), 1);
        assert_true(srv.recs[0].at_ms - t0 >= 50);
        kp_sink_stats_t stats;
        for (kp_sink_stats(s, &stats); stats.acked != 1 && kp_time_mono_ms() - t0 < 30000;
             kp_sink_stats(s, &stats))
                usleep(5000);
        assert_int_equal(stats.acked, 1);
        sink_close(s);
        json_decref(c);
        srv_stop();
}

/* The next batch goes as soon as the one before is answered: 40 batches, 40 requests,
 * well within a second each (a driver that waited for its next tick took ~1 s a batch). */
static void test_batches_go_back_to_back(void **state)
{
        enum { N = 400 };
        kp_sink_msg_t m[N];
        char err[256];
        (void)state;
        for (int i = 0; i < N; i++)
                m[i] = msg(&part_a, 0, i, NULL, "x");
        srv_start(NULL, 0);
        json_t *c = conf_new("\"batch\":{\"max_messages\":10,\"linger_ms\":60000}");
        kp_sink_t *s = sink_open(c);
        int64_t t0 = kp_time_mono_ms();
        put_all(s, m, N);
        assert_int_equal(flush_wait(s, err, sizeof(err)), KP_SINK_OK);
        int64_t took = kp_time_mono_ms() - t0;
        assert_int_equal(srv_count(), N / 10);
        if (took > 10000)
                fail_msg("40 batches took %lld ms", (long long)took);
        sink_close(s);
        json_decref(c);
        srv_stop();
}

/* linger_ms 0 sends at once, and what is put while a request is out waits for it as one
 * batch: a request held 300 ms, 50 puts of one record each meanwhile, then 2 requests in
 * all (a sink that closed a batch per put sent 51, one after the other). */
static void test_records_put_during_a_request_go_in_the_next_one(void **state)
{
        static const int script[] = {STALL};
        enum { N = 50 };
        kp_sink_msg_t m[N + 1];
        char err[256];
        (void)state;
        for (int i = 0; i <= N; i++)
                m[i] = msg(&part_a, 0, i, NULL, "x");
        srv_start(script, 1);
        srv.stall_ms = 300;
        json_t *c = conf_new("\"batch\":{\"max_messages\":500,\"linger_ms\":0}");
        kp_sink_t *s = sink_open(c);
        int64_t t0 = kp_time_mono_ms();
        put_all(s, m, 1);
        while (!srv_count() && kp_time_mono_ms() - t0 < 30000)
                usleep(1000);
        assert_int_equal(srv_count(), 1);
        for (int i = 1; i <= N; i++)
                put_all(s, m + i, 1);
        assert_int_equal(flush_wait(s, err, sizeof(err)), KP_SINK_OK);
        assert_int_equal(srv_count(), 2);
        int lines = 0;
        for (size_t i = 0; i < srv.recs[1].len; i++)
                lines += srv.recs[1].body[i] == '\n';
        assert_int_equal(lines, N);
        assert_non_null(strstr(srv.recs[1].body, "\"offset\":1,"));
        assert_non_null(strstr(srv.recs[1].body, "\"offset\":50,"));
        sink_close(s);
        json_decref(c);
        srv_stop();
}

/* ---- retries and refusals ---- */

/* Every record answered 2xx exactly once, over 500s, 429s and a stalled answer; precommit
 * says all is acknowledged; retries counted in the receiver's eyes. */
static void test_failures_are_retried_and_every_record_arrives_once(void **state)
{
        static const int script[] = {500, 200, 429, 503, 200, STALL, 200, 500, 408, 200, 502};
        enum { N = 300 };
        static char vals[N][8];
        kp_sink_msg_t m[N];
        char err[256];
        int seen[N] = {0};
        (void)state;
        srv_start(script, sizeof(script) / sizeof(script[0]));
        srv.retry_after = "0";
        srv.stall_ms = 1500;
        for (int i = 0; i < N; i++) {
                snprintf(vals[i], sizeof(vals[i]), "%d", i);
                m[i] = msg(i % 2 ? &part_b : &part_a, i % 2, i / 2, NULL, vals[i]);
        }
        json_t *c = conf_new("\"timeout_ms\":500,\"batch\":{\"max_messages\":20,\"linger_ms\":5},"
                             "\"retry\":{\"max_attempts\":5,\"initial_backoff_ms\":1,"
                             "\"max_backoff_ms\":20}");
        kp_sink_t *s = sink_open(c);
        for (int i = 0; i < N; i += 30)
                put_all(s, m + i, 30);
        kp_sink_status_t st = flush_wait(s, err, sizeof(err));
        if (st != KP_SINK_OK)
                fail_msg("flush: %s", err);
        int ok = 0, retried = 0;
        for (int i = 0; i < srv_count(); i++) {
                rec_t *r = &srv.recs[i];
                if (r->status != 200) {
                        retried++;
                        continue;
                }
                ok++;
                for (char *l = r->body; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
                        json_t *o = json_loads(l, JSON_DISABLE_EOF_CHECK, NULL);
                        assert_non_null(o);
                        const char *b64 = json_string_value(json_object_get(o, "value"));
                        /* values are "0".."299": decode by matching the base64 of each */
                        char enc[16];
                        int found = -1;
                        for (int k = 0; k < N && found < 0; k++) {
                                kp_base64_encode(vals[k], strlen(vals[k]), enc);
                                if (!strcmp(enc, b64))
                                        found = k;
                        }
                        assert_true(found >= 0);
                        seen[found]++;
                        json_decref(o);
                }
        }
        for (int i = 0; i < N; i++)
                if (seen[i] != 1)
                        fail_msg("record %d answered 2xx %d times", i, seen[i]);
        /* 500, 429, 503, the stall (answered after the sink gave up), 500, 408, 502: each
         * retried, none in the ledger of what was delivered */
        assert_int_equal(retried, 7);
        assert_true(ok >= N / 20);
        kp_sink_offset_t offs[2] = {{.part = &part_a, .taken = N / 2, .acked = 0},
                                    {.part = &part_b, .taken = N / 2, .acked = 0}};
        kp_sink_precommit(s, offs, 2);
        assert_int_equal(offs[0].acked, N / 2);
        assert_int_equal(offs[1].acked, N / 2);
        kp_sink_stats_t stats;
        kp_sink_stats(s, &stats);
        assert_int_equal(stats.acked, N);
        assert_int_equal(stats.in_flight, 0);
        sink_close(s);
        json_decref(c);
        srv_stop();
}

static void test_retry_after_is_honoured(void **state)
{
        static const int script[] = {429};
        kp_sink_msg_t m = msg(&part_a, 0, 0, NULL, "x");
        char err[256];
        (void)state;
        srv_start(script, 1);
        srv.retry_after = "1";
        json_t *c = conf_new("\"retry\":{\"initial_backoff_ms\":1,\"max_backoff_ms\":1}");
        kp_sink_t *s = sink_open(c);
        put_all(s, &m, 1);
        assert_int_equal(flush_wait(s, err, sizeof(err)), KP_SINK_OK);
        assert_int_equal(srv_count(), 2);
        int64_t gap = srv.recs[1].at_ms - srv.recs[0].at_ms;
        if (gap < 1000)
                fail_msg("retried %lld ms after a 429 with Retry-After: 1", (long long)gap);
        sink_close(s);
        json_decref(c);
        srv_stop();
}

/* A 400 is final: the batch is split until the poison record goes alone; it comes back
 * refused (flush says DEAD_LETTER, precommit keeps its partition at it until the runtime
 * takes it back), the others are delivered; the answer's secrets stay out of the reason. */
static void test_a_400_splits_the_batch_and_refuses_only_the_poison_record(void **state)
{
        kp_sink_msg_t m[4] = {msg(&part_a, 0, 10, NULL, "a"), msg(&part_a, 0, 11, NULL, "b"),
                              msg(&part_a, 0, 12, NULL, "poison"), msg(&part_a, 0, 13, NULL, "d")};
        kp_sink_refused_t ref[4];
        char err[256];
        (void)state;
        srv_start(NULL, 0);
        srv.reject = "cG9pc29u"; /* "poison" in base64, as the line carries it */
        json_t *c = conf_new("\"headers\":{\"Authorization\":\"Bearer s3cr3t\"},"
                             "\"batch\":{\"max_messages\":4,\"linger_ms\":0}");
        kp_sink_t *s = sink_open(c);
        put_all(s, m, 4);
        assert_int_equal(flush_wait(s, err, sizeof(err)), KP_SINK_DEAD_LETTER);
        assert_non_null(strstr(err, "refused for good: 400"));
        assert_null(strstr(err, "s3cr3t"));
        assert_non_null(strstr(err, "withheld"));
        assert_null(strstr(err, "token=q")); /* the query may hold a secret too */
        /* [a b poison d] 400, [a b] 200, [poison d] 400, [poison] 400, [d] 200 */
        assert_int_equal(srv_count(), 5);
        kp_sink_offset_t off = {.part = &part_a, .taken = 14, .acked = 10};
        kp_sink_precommit(s, &off, 1);
        assert_int_equal(off.acked, 12);
        assert_int_equal(kp_sink_refused(s, ref, 4), 1);
        assert_int_equal(ref[0].msg.offset, 12);
        assert_ptr_equal(ref[0].msg.part, &part_a);
        assert_memory_equal(ref[0].msg.value, "poison", 6);
        assert_int_equal(ref[0].msg.value_len, 6);
        assert_string_equal(ref[0].status, "400");
        assert_non_null(strstr(ref[0].reason, "refused for good: 400"));
        kp_sink_refused_done(s, 1);
        assert_int_equal(kp_sink_refused(s, ref, 4), 0);
        kp_sink_precommit(s, &off, 1);
        assert_int_equal(off.acked, 14);
        assert_int_equal(flush_wait(s, err, sizeof(err)), KP_SINK_OK);
        kp_sink_stats_t st;
        kp_sink_stats(s, &st);
        assert_int_equal(st.acked, 3);
        assert_int_equal(st.refused, 1);
        assert_int_equal(st.in_flight, 0);
        sink_close(s);
        json_decref(c);
        srv_stop();
}

/* Values of the splitting test: "v<i>", and "poison" at the poison offsets. */
static int is_poison(int i)
{
        return i == 0 || i == 7 || i == 8 || i == 61 || i == 62 || i == 63 || i == 199;
}

/* Counts, in the receiver's 2xx bodies (json_lines or json_array), each record by its
 * offset into @p seen; @returns how many records the 2xx bodies held. */
static int delivered_offsets(int *seen, int n)
{
        int total = 0;
        for (int i = 0; i < srv_count(); i++) {
                rec_t *r = &srv.recs[i];
                json_error_t je;
                if (r->status != 200)
                        continue;
                json_t *doc = r->body[0] == '[' ? json_loads(r->body, 0, &je) : NULL;
                for (char *l = r->body; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
                        json_t *arr = doc ? json_incref(doc) : json_array();
                        if (!doc)
                                json_array_append_new(arr,
                                                      json_loads(l, JSON_DISABLE_EOF_CHECK, &je));
                        for (size_t k = 0; k < json_array_size(arr); k++) {
                                json_int_t off = json_integer_value(
                                        json_object_get(json_array_get(arr, k), "offset"));
                                assert_true(off >= 0 && off < n);
                                seen[off]++;
                                total++;
                        }
                        json_decref(arr);
                        if (doc)
                                break;
                }
                json_decref(doc);
        }
        return total;
}

/* Exactly the poison records come back refused, every other record is delivered once,
 * in both batch formats, with poison at a batch's edges and in runs. */
static void split_case(const char *format)
{
        enum { N = 200 };
        static char vals[N][16];
        kp_sink_msg_t m[N];
        kp_sink_refused_t ref[N];
        int seen[N] = {0}, refused[N] = {0};
        char err[256], extra[256];
        srv_start(NULL, 0);
        srv.reject = "cG9pc29u";
        for (int i = 0; i < N; i++) {
                snprintf(vals[i], sizeof(vals[i]), is_poison(i) ? "poison" : "v%d", i);
                m[i] = msg(&part_a, 0, i, NULL, vals[i]);
        }
        snprintf(extra, sizeof(extra),
                 "\"format\":\"%s\",\"batch\":{\"max_messages\":64,\"linger_ms\":0}", format);
        json_t *c = conf_new(extra);
        kp_sink_t *s = sink_open(c);
        put_all(s, m, N);
        assert_int_equal(flush_wait(s, err, sizeof(err)), KP_SINK_DEAD_LETTER);
        size_t n = kp_sink_refused(s, ref, N);
        for (size_t i = 0; i < n; i++) {
                assert_memory_equal(ref[i].msg.value, "poison", 6);
                assert_string_equal(ref[i].status, "400");
                refused[ref[i].msg.offset]++;
                if (i)
                        assert_true(ref[i].msg.offset > ref[i - 1].msg.offset);
        }
        kp_sink_refused_done(s, n);
        assert_int_equal(delivered_offsets(seen, N) + (int)n, N);
        for (int i = 0; i < N; i++) {
                if (refused[i] != is_poison(i) || seen[i] != !is_poison(i))
                        fail_msg("%s: record %d: refused %d delivered %d", format, i, refused[i],
                                 seen[i]);
        }
        kp_sink_offset_t off = {.part = &part_a, .taken = N, .acked = 0};
        kp_sink_precommit(s, &off, 1);
        assert_int_equal(off.acked, N);
        sink_close(s);
        json_decref(c);
        srv_stop();
}

static void test_split_batches_refuse_exactly_the_poison_records(void **state)
{
        (void)state;
        split_case("json_lines");
        split_case("json_array");
}

/* A raw record refused: it is one request already, it comes back as it was. */
static void test_a_raw_record_refused_comes_back_with_its_key(void **state)
{
        kp_sink_msg_t m[2] = {msg(&part_a, 0, 3, "k1", "poison"), msg(&part_a, 0, 4, "k2", "ok")};
        kp_sink_refused_t ref[2];
        char err[256];
        (void)state;
        srv_start(NULL, 0);
        srv.reject = "poison";
        json_t *c = conf_new("\"format\":\"raw\"");
        kp_sink_t *s = sink_open(c);
        put_all(s, m, 2);
        assert_int_equal(flush_wait(s, err, sizeof(err)), KP_SINK_DEAD_LETTER);
        assert_int_equal(kp_sink_refused(s, ref, 2), 1);
        assert_int_equal(ref[0].msg.offset, 3);
        assert_memory_equal(ref[0].msg.key, "k1", 2);
        assert_int_equal(srv_count(), 2);
        sink_close(s);
        json_decref(c);
        srv_stop();
}

/* Retries exhausted: the batch comes back refused whole, not split (the target is not
 * refusing a record, it is failing), with the last status. */
static void test_retries_exhausted_refuse_the_batch_whole(void **state)
{
        static const int script[] = {500, 503, 500};
        kp_sink_msg_t m[2] = {msg(&part_a, 0, 0, NULL, "x"), msg(&part_a, 0, 1, NULL, "y")};
        kp_sink_refused_t ref[2];
        char err[256];
        (void)state;
        srv_start(script, 3);
        json_t *c = conf_new("\"retry\":{\"max_attempts\":2,\"initial_backoff_ms\":1},"
                             "\"batch\":{\"linger_ms\":0,\"max_messages\":2}");
        kp_sink_t *s = sink_open(c);
        put_all(s, m, 2);
        assert_int_equal(flush_wait(s, err, sizeof(err)), KP_SINK_DEAD_LETTER);
        assert_non_null(strstr(err, "retries exhausted after 2 attempts"));
        assert_int_equal(srv_count(), 2);
        assert_int_equal(kp_sink_refused(s, ref, 2), 2);
        assert_string_equal(ref[0].status, "503");
        assert_int_equal(ref[1].msg.offset, 1);
        sink_close(s);
        json_decref(c);
        srv_stop();
}

/* A target that does not answer: a flush at its deadline says RETRY and acknowledges
 * nothing; closing the task does not wait for the answer. */
static void test_a_stalled_target_acknowledges_nothing_and_close_does_not_wait(void **state)
{
        static const int script[] = {STALL};
        kp_sink_msg_t m = msg(&part_a, 0, 5, NULL, "x");
        char err[256];
        (void)state;
        srv_start(script, 1);
        srv.stall_ms = 3000;
        json_t *c = conf_new("\"timeout_ms\":600000");
        kp_sink_t *s = sink_open(c);
        put_all(s, &m, 1);
        assert_int_equal(kp_sink_flush(s, kp_time_mono_ms() + 300, err, sizeof(err)),
                         KP_SINK_RETRY);
        kp_sink_offset_t off = {.part = &part_a, .taken = 6, .acked = 5};
        kp_sink_precommit(s, &off, 1);
        assert_int_equal(off.acked, 5);
        int64_t t0 = kp_time_mono_ms();
        sink_close(s);
        assert_true(kp_time_mono_ms() - t0 < 2000);
        json_decref(c);
        srv_stop();
}

/* Only a 400, 413 or 422 may be one record's fault and splits a batch; a 401, 403, 404 or
 * 405 is the endpoint's answer to any request: the batch is refused whole, in one request,
 * every record with that status (not bisected into one dead letter per request). */
static void test_an_endpoint_4xx_refuses_the_batch_whole_without_splitting(void **state)
{
        static const int statuses[] = {401, 403, 404, 405};
        kp_sink_msg_t m[4] = {msg(&part_a, 0, 0, NULL, "a"), msg(&part_a, 0, 1, NULL, "b"),
                              msg(&part_a, 0, 2, NULL, "c"), msg(&part_a, 0, 3, NULL, "d")};
        kp_sink_refused_t ref[4];
        char err[256], want[16];
        (void)state;
        for (size_t k = 0; k < sizeof(statuses) / sizeof(statuses[0]); k++) {
                srv_start(&statuses[k], 1);
                json_t *c = conf_new("\"batch\":{\"max_messages\":4,\"linger_ms\":0}");
                kp_sink_t *s = sink_open(c);
                put_all(s, m, 4);
                assert_int_equal(flush_wait(s, err, sizeof(err)), KP_SINK_DEAD_LETTER);
                assert_int_equal(srv_count(), 1);
                assert_int_equal(kp_sink_refused(s, ref, 4), 4);
                snprintf(want, sizeof(want), "%d", statuses[k]);
                for (int i = 0; i < 4; i++) {
                        assert_int_equal(ref[i].msg.offset, i);
                        assert_string_equal(ref[i].status, want);
                }
                kp_sink_refused_done(s, 4);
                sink_close(s);
                json_decref(c);
                srv_stop();
        }
        /* a 413 and a 422 split, as a 400 does */
        static const int split[] = {413, 200, 422, 200, 200};
        srv_start(split, 5);
        json_t *c = conf_new("\"batch\":{\"max_messages\":4,\"linger_ms\":0}");
        kp_sink_t *s = sink_open(c);
        put_all(s, m, 4);
        /* [a b c d] 413, [a b] 200, [c d] 422, [c] 200, [d] 200 */
        assert_int_equal(flush_wait(s, err, sizeof(err)), KP_SINK_OK);
        assert_int_equal(srv_count(), 5);
        assert_int_equal(kp_sink_refused(s, ref, 4), 0);
        sink_close(s);
        json_decref(c);
        srv_stop();
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_bad_documents_name_the_field),
                cmocka_unit_test(
                        test_header_values_are_masked_and_kept_on_a_replace_to_the_same_url),
                cmocka_unit_test(test_json_lines_body_is_exact),
                cmocka_unit_test(test_json_array_body_is_exact_and_batches_by_count),
                cmocka_unit_test(test_json_lines_batches_by_bytes),
                cmocka_unit_test(test_raw_sends_one_request_per_message_with_its_key),
                cmocka_unit_test(test_a_partial_batch_goes_after_its_linger),
                cmocka_unit_test(test_batches_go_back_to_back),
                cmocka_unit_test(test_records_put_during_a_request_go_in_the_next_one),
                cmocka_unit_test(test_failures_are_retried_and_every_record_arrives_once),
                cmocka_unit_test(test_retry_after_is_honoured),
                cmocka_unit_test(test_a_400_splits_the_batch_and_refuses_only_the_poison_record),
                cmocka_unit_test(test_split_batches_refuse_exactly_the_poison_records),
                cmocka_unit_test(test_a_raw_record_refused_comes_back_with_its_key),
                cmocka_unit_test(test_retries_exhausted_refuse_the_batch_whole),
                cmocka_unit_test(test_an_endpoint_4xx_refuses_the_batch_whole_without_splitting),
                cmocka_unit_test(
                        test_a_stalled_target_acknowledges_nothing_and_close_does_not_wait),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
