/* bench_http_loop.c — the HTTP sink benchmark's baseline: a plain libcurl loop POSTing the same
 * json_lines batches the sink would send, built before the clock starts. */
#include "sinks/sink_line.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * Usage: bench_http_loop URL CLUSTER TOPIC PARTITIONS COUNT [BATCH (500)]
 * The records are the ones `bench_copy fill` writes (partition p, offset o holds sequence
 * number o * PARTITIONS + p, 100-byte values), each as the http sink writes it
 * (kp_sink_line_write, the sink's own function, and a '\n'), BATCH to a body, one
 * partition's records per body as one task's batch holds them. Every body is built first;
 * the clock then runs over one easy handle (keep-alive) POSTing them one after the other,
 * with the sink's headers (Content-Type: application/x-ndjson, no Expect: 100-continue).
 * Output: http_loop records=<n> requests=<n> bytes=<n> seconds=<s> msgs_per_s=<r>
 *         t0_ns=<CLOCK_REALTIME> t1_ns=<CLOCK_REALTIME>
 * Exit: 0, 1 on a failed request (any answer but 2xx), 2 usage.
 */

#define VALUE_LEN 100

typedef struct body {
        char *data;
        size_t len;
        long long records;
} body_t;

static long long now_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The bodies of one partition's @p per records, @p batch to a body, appended at @p out. */
static size_t partition_bodies(body_t *out, const char *cluster, const char *topic, int p,
                               int partitions, long long per, int batch)
{
        char value[VALUE_LEN], digits[24];
        kp_sink_msg_t m = {.cluster = cluster,
                           .topic = topic,
                           .partition = p,
                           .value = value,
                           .value_len = VALUE_LEN,
                           .timestamp = now_ns() / 1000000,
                           .timestamp_type = KP_SINK_TS_CREATE};
        size_t n = 0, line_max = kp_sink_line_max(&m) + 1;
        memset(value, 'x', VALUE_LEN);
        for (long long o = 0; o < per; o += batch, n++) {
                body_t *b = &out[n];
                long long k = per - o < batch ? per - o : batch;
                if (!(b->data = malloc(line_max * (size_t)k)))
                        return 0;
                for (long long i = 0; i < k; i++) {
                        m.offset = o + i;
                        snprintf(digits, sizeof(digits), "%010lld",
                                 (long long)(m.offset * partitions + p));
                        memcpy(value, digits, 10);
                        b->len += kp_sink_line_write(b->data + b->len, &m);
                        b->data[b->len++] = '\n';
                }
                b->records = k;
        }
        return n;
}

static size_t discard(char *p, size_t size, size_t n, void *u)
{
        (void)p, (void)u;
        return size * n;
}

static int post_all(const char *url, const body_t *bodies, size_t n, long long *bytes)
{
        CURL *e = curl_easy_init();
        struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/x-ndjson");
        long code = 0;
        int ret = 0;
        h = curl_slist_append(h, "Expect:");
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
        for (size_t i = 0; i < n && !ret; i++) {
                curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)bodies[i].len);
                curl_easy_setopt(e, CURLOPT_POSTFIELDS, bodies[i].data);
                CURLcode rc = curl_easy_perform(e);
                curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
                if (rc != CURLE_OK || code / 100 != 2) {
                        fprintf(stderr, "bench_http_loop: request %zu: %s, HTTP %ld\n", i,
                                curl_easy_strerror(rc), code);
                        ret = 1;
                }
                *bytes += (long long)bodies[i].len;
        }
        curl_slist_free_all(h);
        curl_easy_cleanup(e);
        return ret;
}

int main(int argc, char **argv)
{
        if (argc < 6 || argc > 7) {
                fprintf(stderr,
                        "usage: bench_http_loop URL CLUSTER TOPIC PARTITIONS COUNT [BATCH]\n");
                return 2;
        }
        int partitions = atoi(argv[4]), batch = argc > 6 ? atoi(argv[6]) : 500;
        long long count = atoll(argv[5]), per = count / partitions, bytes = 0, records = 0;
        if (partitions < 1 || batch < 1 || per < 1)
                return 2;
        size_t cap = (size_t)partitions * (size_t)((per + batch - 1) / batch), n = 0;
        body_t *bodies = calloc(cap, sizeof(*bodies));
        for (int p = 0; bodies && p < partitions; p++) {
                size_t got =
                        partition_bodies(bodies + n, argv[2], argv[3], p, partitions, per, batch);
                if (!got) {
                        fprintf(stderr, "bench_http_loop: out of memory\n");
                        return 1;
                }
                n += got;
        }
        for (size_t i = 0; i < n; i++)
                records += bodies[i].records;
        curl_global_init(CURL_GLOBAL_DEFAULT);
        long long t0 = now_ns();
        int ret = post_all(argv[1], bodies, n, &bytes);
        long long t1 = now_ns();
        double secs = (double)(t1 - t0) / 1e9;
        if (!ret)
                printf("http_loop records=%lld requests=%zu bytes=%lld seconds=%.3f "
                       "msgs_per_s=%.0f "
                       "t0_ns=%lld t1_ns=%lld\n",
                       records, n, bytes, secs, (double)records / secs, t0, t1);
        for (size_t i = 0; i < n; i++)
                free(bodies[i].data);
        free(bodies);
        curl_global_cleanup();
        return ret;
}
