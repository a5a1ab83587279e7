/* bench_raw_consumer.c — the baselines for kplane's consumption figures: plain librdkafka
 * consumers reading a topic to a count, one or one per core. */
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * What any Kafka application would write: consumers with every partition assigned from the
 * beginning, rd_kafka_consumer_poll until @p count messages arrived in all, nothing done
 * with them. The clock starts before rd_kafka_new, as it starts at `POST .../start` for the
 * kplane group it is compared with (connecting is part of both), and stops at the count.
 *
 * Usage: bench_raw_consumer BOOTSTRAP TOPIC PARTITIONS COUNT [TIMEOUT_S (60) [KEY=VALUE...]]
 * KEY=VALUE pairs are librdkafka properties set after the defaults above, e.g. raised
 * prefetch limits (queued.max.messages.kbytes), for a tuned baseline beside the default one;
 * except `threads=N`: N consumers (an rd_kafka_t each) on N threads, partition p read by
 * consumer p % N — the tuned baseline a librdkafka engineer would write for N cores; and
 * `leaders=1`: each consumer asks for the topic's metadata before it assigns (assigned
 * before it knows the leaders, librdkafka looks the beginning up only after a 500 ms timer;
 * kplane asks first, so the tuned baseline does too).
 * Output: raw_consumer messages=<n> bytes=<b> seconds=<s> msgs_per_s=<r> threads=<t>
 *         steady_msgs_per_s=<r from the first message on, the clock rdkafka_performance uses>
 * Exit: 0, 1 on error or when the count is not reached within the timeout.
 */

#define MAX_THREADS 64

typedef struct bench {
        const char *bootstrap, *topic;
        int partitions, threads, nprops, leaders;
        char **props;
        long long count;
        double t0, deadline;
        atomic_llong n, bytes;
        atomic_llong first_ns; /* when the first message arrived (monotonic ns), 0 before */
        atomic_int failed;
} bench_t;

typedef struct reader {
        bench_t *b;
        int index;
        rd_kafka_t *rk;
} reader_t;

static double now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void first_mark(bench_t *b)
{
        long long zero = 0;
        if (!atomic_load(&b->first_ns))
                atomic_compare_exchange_strong(&b->first_ns, &zero, (long long)(now_s() * 1e9));
}

/* A consumer of a group of its own that commits nothing: every run reads from the start. */
static rd_kafka_t *consumer_new(const bench_t *b, int index)
{
        char errstr[512], group[96], key[256];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_t *rk;
        snprintf(group, sizeof(group), "bench-raw-%ld-%d", (long)(b->t0 * 1e6), index);
        if (rd_kafka_conf_set(conf, "bootstrap.servers", b->bootstrap, errstr, sizeof(errstr)) ||
            rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof(errstr)) ||
            rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr)) ||
            rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr)))
                goto fail;
        for (int i = 0; i < b->nprops; i++) {
                const char *eq = strchr(b->props[i], '=');
                memcpy(key, b->props[i], (size_t)(eq - b->props[i]));
                key[eq - b->props[i]] = '\0';
                if (rd_kafka_conf_set(conf, key, eq + 1, errstr, sizeof(errstr)))
                        goto fail;
        }
        rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
        if (rk)
                return rk; /* conf is rk's now; on failure it is still ours */
fail:
        fprintf(stderr, "bench_raw_consumer: %s\n", errstr);
        if (conf)
                rd_kafka_conf_destroy(conf);
        return NULL;
}

/* Assigns reader @p r its share of the partitions, from the beginning. */
static int reader_assign(reader_t *r)
{
        const bench_t *b = r->b;
        rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(b->partitions);
        for (int p = r->index; p < b->partitions; p += b->threads)
                rd_kafka_topic_partition_list_add(parts, b->topic, p)->offset =
                        RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_poll_set_consumer(r->rk);
        if (b->leaders) {
                const struct rd_kafka_metadata *md;
                rd_kafka_topic_t *rkt = rd_kafka_topic_new(r->rk, b->topic, NULL);
                if (rkt && !rd_kafka_metadata(r->rk, 0, rkt, &md, 5000))
                        rd_kafka_metadata_destroy(md);
                if (rkt)
                        rd_kafka_topic_destroy(rkt);
        }
        int err = rd_kafka_assign(r->rk, parts) ? -1 : 0;
        rd_kafka_topic_partition_list_destroy(parts);
        return err;
}

static void *reader_main(void *arg)
{
        reader_t *r = arg;
        bench_t *b = r->b;
        if (reader_assign(r)) {
                fprintf(stderr, "bench_raw_consumer: assign failed\n");
                atomic_store(&b->failed, 1);
                return NULL;
        }
        while (atomic_load(&b->n) < b->count && !atomic_load(&b->failed)) {
                rd_kafka_message_t *rkm = rd_kafka_consumer_poll(r->rk, 100);
                if (now_s() > b->deadline) {
                        if (rkm)
                                rd_kafka_message_destroy(rkm);
                        atomic_store(&b->failed, 1);
                        break;
                }
                if (!rkm)
                        continue;
                if (!rkm->err) {
                        first_mark(b);
                        atomic_fetch_add(&b->n, 1);
                        atomic_fetch_add(&b->bytes, (long long)(rkm->len + rkm->key_len));
                }
                rd_kafka_message_destroy(rkm);
        }
        return NULL;
}

/* Reads the arguments into @p b; `threads=N` is ours, every other KEY=VALUE librdkafka's. */
static int args_parse(bench_t *b, int argc, char **argv)
{
        if (argc < 5) {
                fprintf(stderr, "usage: bench_raw_consumer BOOTSTRAP TOPIC PARTITIONS COUNT "
                                "[TIMEOUT_S [threads=N] [leaders=1] [KEY=VALUE...]]\n");
                return -1;
        }
        b->bootstrap = argv[1];
        b->topic = argv[2];
        b->partitions = atoi(argv[3]);
        b->count = atoll(argv[4]);
        b->threads = 1;
        b->t0 = now_s();
        b->deadline = b->t0 + (argc > 5 ? atof(argv[5]) : 60.0);
        b->props = argv + 6;
        for (int i = 6; i < argc; i++) {
                const char *eq = strchr(argv[i], '=');
                if (!eq || eq - argv[i] >= 256) {
                        fprintf(stderr, "bench_raw_consumer: %s is not KEY=VALUE\n", argv[i]);
                        return -1;
                }
                if (!strncmp(argv[i], "threads=", 8))
                        b->threads = atoi(eq + 1);
                else if (!strncmp(argv[i], "leaders=", 8))
                        b->leaders = atoi(eq + 1);
                else
                        b->props[b->nprops++] = argv[i];
        }
        if (b->threads < 1 || b->threads > MAX_THREADS || b->threads > b->partitions) {
                fprintf(stderr, "bench_raw_consumer: threads must be 1..min(%d, partitions)\n",
                        MAX_THREADS);
                return -1;
        }
        return 0;
}

int main(int argc, char **argv)
{
        static bench_t b;
        reader_t r[MAX_THREADS] = {0};
        pthread_t th[MAX_THREADS];
        int started = 0, ret = 1;
        if (args_parse(&b, argc, argv))
                return 2;
        for (int i = 0; i < b.threads; i++) {
                r[i] = (reader_t){&b, i, consumer_new(&b, i)};
                if (!r[i].rk)
                        goto out;
        }
        for (; started < b.threads; started++)
                if (pthread_create(&th[started], NULL, reader_main, &r[started]))
                        goto out;
        ret = 0;
out:
        if (ret)
                atomic_store(&b.failed, 1);
        for (int i = 0; i < started; i++)
                pthread_join(th[i], NULL);
        double end = now_s(), secs = end - b.t0;
        double steady = end - (double)atomic_load(&b.first_ns) / 1e9;
        long long n = atomic_load(&b.n);
        if (!ret && n >= b.count)
                printf("raw_consumer messages=%lld bytes=%lld seconds=%.3f msgs_per_s=%.0f "
                       "threads=%d steady_msgs_per_s=%.0f\n",
                       n, (long long)atomic_load(&b.bytes), secs, (double)n / secs, b.threads,
                       (double)n / steady);
        else {
                fprintf(stderr, "bench_raw_consumer: %lld of %lld in %.1f s\n", n, b.count, secs);
                ret = 1;
        }
        for (int i = 0; i < b.threads; i++)
                if (r[i].rk) {
                        rd_kafka_consumer_close(r[i].rk);
                        rd_kafka_destroy(r[i].rk);
                }
        return ret;
}
