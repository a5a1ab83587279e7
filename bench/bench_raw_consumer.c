/* bench_raw_consumer.c — the baseline for kplane's consumption figures: one plain librdkafka
 * consumer reading a topic to a count. */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * What any Kafka application would write: one consumer, every partition assigned from the
 * beginning, rd_kafka_consumer_poll until @p count messages arrived, nothing done with
 * them. The clock starts before rd_kafka_new, as it starts at `POST .../start` for the
 * kplane group it is compared with (connecting is part of both), and stops at the count.
 *
 * Usage: bench_raw_consumer BOOTSTRAP TOPIC PARTITIONS COUNT [TIMEOUT_S (60) [KEY=VALUE...]]
 * KEY=VALUE pairs are librdkafka properties set after the defaults above, e.g. raised
 * prefetch limits (queued.max.messages.kbytes), for a tuned baseline beside the default one.
 * Output: raw_consumer messages=<n> bytes=<b> seconds=<s> msgs_per_s=<r>
 * Exit: 0, 1 on error or when the count is not reached within the timeout.
 */

static double now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
        char errstr[512], group[64];
        rd_kafka_conf_t *conf = NULL;
        rd_kafka_t *rk = NULL;
        rd_kafka_topic_partition_list_t *parts = NULL;
        long long n = 0, bytes = 0, count;
        int partitions, ret = 1;
        double t0, deadline, secs;

        if (argc < 5) {
                fprintf(stderr, "usage: bench_raw_consumer BOOTSTRAP TOPIC PARTITIONS COUNT "
                                "[TIMEOUT_S [KEY=VALUE...]]\n");
                return 2;
        }
        partitions = atoi(argv[3]);
        count = atoll(argv[4]);
        t0 = now_s();
        deadline = t0 + (argc > 5 ? atof(argv[5]) : 60.0);

        /* A group of its own that commits nothing: every run reads from the beginning. */
        snprintf(group, sizeof(group), "bench-raw-%ld", (long)(t0 * 1e6));
        conf = rd_kafka_conf_new();
        if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], errstr, sizeof(errstr)) ||
            rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof(errstr)) ||
            rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr)) ||
            rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr))) {
                fprintf(stderr, "bench_raw_consumer: %s\n", errstr);
                goto out;
        }
        for (int i = 6; i < argc; i++) {
                char key[256];
                const char *eq = strchr(argv[i], '=');
                if (!eq || (size_t)(eq - argv[i]) >= sizeof(key)) {
                        fprintf(stderr, "bench_raw_consumer: %s is not KEY=VALUE\n", argv[i]);
                        goto out;
                }
                memcpy(key, argv[i], (size_t)(eq - argv[i]));
                key[eq - argv[i]] = '\0';
                if (rd_kafka_conf_set(conf, key, eq + 1, errstr, sizeof(errstr))) {
                        fprintf(stderr, "bench_raw_consumer: %s\n", errstr);
                        goto out;
                }
        }
        rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
        if (!rk) {
                fprintf(stderr, "bench_raw_consumer: %s\n", errstr);
                goto out;
        }
        conf = NULL; /* owned by rk */
        rd_kafka_poll_set_consumer(rk);
        parts = rd_kafka_topic_partition_list_new(partitions);
        for (int p = 0; p < partitions; p++)
                rd_kafka_topic_partition_list_add(parts, argv[2], p)->offset =
                        RD_KAFKA_OFFSET_BEGINNING;
        if (rd_kafka_assign(rk, parts)) {
                fprintf(stderr, "bench_raw_consumer: assign failed\n");
                goto out;
        }
        while (n < count) {
                rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rk, 100);
                if (now_s() > deadline) {
                        if (rkm)
                                rd_kafka_message_destroy(rkm);
                        fprintf(stderr, "bench_raw_consumer: timeout after %lld of %lld\n", n,
                                count);
                        goto out;
                }
                if (!rkm)
                        continue;
                if (!rkm->err) {
                        n++;
                        bytes += (long long)(rkm->len + rkm->key_len);
                }
                rd_kafka_message_destroy(rkm);
        }
        secs = now_s() - t0;
        printf("raw_consumer messages=%lld bytes=%lld seconds=%.3f msgs_per_s=%.0f\n", n, bytes,
               secs, (double)n / secs);
        ret = 0;
out:
        if (parts)
                rd_kafka_topic_partition_list_destroy(parts);
        if (rk) {
                rd_kafka_consumer_close(rk);
                rd_kafka_destroy(rk);
        }
        if (conf)
                rd_kafka_conf_destroy(conf);
        return ret;
}
