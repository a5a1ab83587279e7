/* bench_http_consume.c — the HTTP sink benchmark's honest baseline: a plain program that reads a
 * topic with librdkafka, formats the http sink's json_lines batches and POSTs them with libcurl. */
#include "sinks/sink_line.h"

#include <curl/curl.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * What an engineer would write to push a topic to an HTTP service without kplane: one
 * consumer (librdkafka, every partition assigned from the beginning, prefetching raised:
 * a tuned consumer), each record written as the http sink writes it (kp_sink_line_write,
 * the sink's own function: base64 key and value, the same fields, a '\n'), BATCH records of
 * one partition to a body (as one task's batch holds them), each full body POSTed on one
 * keep-alive easy handle with the sink's headers; the rest of each partition's records
 * POSTed at the end. Reading overlaps posting only through librdkafka's prefetch (its own
 * threads fetch while this one formats and posts). The clock starts before rd_kafka_new,
 * as kplane's starts at `POST .../start`, and stops when the last request answered.
 *
 * Usage: bench_http_consume URL BOOTSTRAP CLUSTER TOPIC PARTITIONS COUNT [BATCH (500)
 *        [TIMEOUT_S (120)]]
 * Output: http_consume records=<n> requests=<n> bytes=<n> seconds=<s> msgs_per_s=<r>
 *         t0_ns=<CLOCK_REALTIME> t1_ns=<CLOCK_REALTIME>
 * Exit: 0, 1 on an error (a request answered other than 2xx, the count not reached in
 * time), 2 usage.
 */

typedef struct body {
        char *data;
        size_t len, cap;
        int n;
} body_t;

typedef struct poster {
        CURL *easy;
        struct curl_slist *hdrs;
        long long requests, bytes;
} poster_t;

static long long now_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static size_t discard(char *p, size_t size, size_t n, void *u)
{
        (void)p, (void)u;
        return size * n;
}

static int poster_init(poster_t *p, const char *url)
{
        memset(p, 0, sizeof(*p));
        if (!(p->easy = curl_easy_init()))
                return -1;
        p->hdrs = curl_slist_append(NULL, "Content-Type: application/x-ndjson");
        p->hdrs = curl_slist_append(p->hdrs, "Expect:");
        curl_easy_setopt(p->easy, CURLOPT_URL, url);
        curl_easy_setopt(p->easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(p->easy, CURLOPT_POST, 1L);
        curl_easy_setopt(p->easy, CURLOPT_HTTPHEADER, p->hdrs);
        curl_easy_setopt(p->easy, CURLOPT_WRITEFUNCTION, discard);
        return 0;
}

/* POSTs @p b and empties it. @returns 0 or -1 (no answer, or not 2xx). */
static int post(poster_t *p, body_t *b)
{
        long code = 0;
        curl_easy_setopt(p->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)b->len);
        curl_easy_setopt(p->easy, CURLOPT_POSTFIELDS, b->data);
        CURLcode rc = curl_easy_perform(p->easy);
        curl_easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &code);
        if (rc != CURLE_OK || code / 100 != 2) {
                fprintf(stderr, "bench_http_consume: request %lld: %s, HTTP %ld\n", p->requests,
                        curl_easy_strerror(rc), code);
                return -1;
        }
        p->requests++;
        p->bytes += (long long)b->len;
        b->len = 0;
        b->n = 0;
        return 0;
}

/* Appends @p rkm's line (as the http sink writes it) to @p b. @returns 0 or -1 (memory). */
static int append(body_t *b, const char *cluster, const rd_kafka_message_t *rkm)
{
        rd_kafka_timestamp_type_t tst;
        int64_t ts = rd_kafka_message_timestamp(rkm, &tst);
        kp_sink_msg_t m = {.cluster = cluster,
                           .topic = rd_kafka_topic_name(rkm->rkt),
                           .partition = rkm->partition,
                           .offset = rkm->offset,
                           .key = rkm->key,
                           .key_len = rkm->key_len,
                           .value = rkm->payload,
                           .value_len = rkm->len,
                           .timestamp = ts,
                           .timestamp_type = (kp_sink_ts_type_t)tst};
        size_t need = b->len + kp_sink_line_max(&m) + 1;
        if (need > b->cap) {
                size_t cap = b->cap ? b->cap : 1 << 16;
                while (cap < need)
                        cap *= 2;
                char *d = realloc(b->data, cap);
                if (!d)
                        return -1;
                b->data = d, b->cap = cap;
        }
        b->len += kp_sink_line_write(b->data + b->len, &m);
        b->data[b->len++] = '\n';
        b->n++;
        return 0;
}

static rd_kafka_t *consumer_new(const char *bootstrap, const char *topic, int partitions)
{
        char err[512], group[64];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        snprintf(group, sizeof(group), "bench-http-consume-%lld", now_ns());
        const char *props[][2] = {{"bootstrap.servers", bootstrap},
                                  {"group.id", group},
                                  {"enable.auto.commit", "false"},
                                  {"enable.auto.offset.store", "false"},
                                  {"queued.max.messages.kbytes", "262144"},
                                  {"fetch.message.max.bytes", "4194304"},
                                  {"log_level", "3"}};
        for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++)
                if (rd_kafka_conf_set(conf, props[i][0], props[i][1], err, sizeof(err))) {
                        fprintf(stderr, "bench_http_consume: %s\n", err);
                        rd_kafka_conf_destroy(conf);
                        return NULL;
                }
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
        if (!rk) {
                fprintf(stderr, "bench_http_consume: %s\n", err);
                rd_kafka_conf_destroy(conf);
                return NULL;
        }
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(partitions);
        for (int p = 0; p < partitions; p++)
                rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_poll_set_consumer(rk);
        rd_kafka_assign(rk, l);
        rd_kafka_topic_partition_list_destroy(l);
        return rk;
}

/* Reads until @p count records went out in full batches or the rest, posted at the end. */
static int run(rd_kafka_t *rk, poster_t *p, body_t *bodies, int partitions, const char *cluster,
               long long count, int batch, long long deadline)
{
        long long n = 0;
        while (n < count) {
                rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rk, 100);
                /* the clock read once in 4096 records: a read per record costs 10% */
                if ((!rkm || !(n & 4095)) && now_ns() > deadline) {
                        fprintf(stderr, "bench_http_consume: %lld of %lld read in time\n", n,
                                count);
                        if (rkm)
                                rd_kafka_message_destroy(rkm);
                        return -1;
                }
                if (!rkm)
                        continue;
                if (rkm->err || rkm->partition < 0 || rkm->partition >= partitions) {
                        rd_kafka_message_destroy(rkm);
                        continue;
                }
                body_t *b = &bodies[rkm->partition];
                int bad = append(b, cluster, rkm);
                rd_kafka_message_destroy(rkm);
                n++;
                if (bad || (b->n >= batch && post(p, b)))
                        return -1;
        }
        for (int i = 0; i < partitions; i++)
                if (bodies[i].n && post(p, &bodies[i]))
                        return -1;
        return 0;
}

int main(int argc, char **argv)
{
        if (argc < 7 || argc > 9) {
                fprintf(stderr, "usage: bench_http_consume URL BOOTSTRAP CLUSTER TOPIC "
                                "PARTITIONS COUNT [BATCH [TIMEOUT_S]]\n");
                return 2;
        }
        int partitions = atoi(argv[5]), batch = argc > 7 ? atoi(argv[7]) : 500;
        long long count = atoll(argv[6]);
        double timeout = argc > 8 ? atof(argv[8]) : 120.0;
        if (partitions < 1 || batch < 1 || count < 1)
                return 2;
        body_t *bodies = calloc((size_t)partitions, sizeof(*bodies));
        poster_t p;
        curl_global_init(CURL_GLOBAL_DEFAULT);
        if (!bodies || poster_init(&p, argv[1]))
                return 1;
        long long t0 = now_ns();
        rd_kafka_t *rk = consumer_new(argv[2], argv[4], partitions);
        int ret = rk ? run(rk, &p, bodies, partitions, argv[3], count, batch,
                           t0 + (long long)(timeout * 1e9))
                     : -1;
        long long t1 = now_ns();
        double secs = (double)(t1 - t0) / 1e9;
        if (!ret)
                printf("http_consume records=%lld requests=%lld bytes=%lld seconds=%.3f "
                       "msgs_per_s=%.0f t0_ns=%lld t1_ns=%lld\n",
                       count, p.requests, p.bytes, secs, (double)count / secs, t0, t1);
        if (rk) {
                rd_kafka_consumer_close(rk);
                rd_kafka_destroy(rk);
        }
        for (int i = 0; i < partitions; i++)
                free(bodies[i].data);
        free(bodies);
        curl_slist_free_all(p.hdrs);
        curl_easy_cleanup(p.easy);
        curl_global_cleanup();
        return ret ? 1 : 0;
}
