/* rates.c — messages/s per partition of a group that is not running, sampled from the
 * log ends of its clusters. */
#include "app/rates.h"

#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/cluster.h"
#include "base/config.h"
#include "base/util.h"
#include "db/store.h"
#include "kafka/embedded.h"
#include "kafka/kafka.h"

/* One cluster's partitions of a plan, for end-offset readings. */
typedef struct sample {
        kp_app_cluster_t c;
        rd_kafka_topic_partition_list_t *first, *second;
} sample_t;

typedef struct sampling {
        kp_store_t *st;
        kp_embedded_t *emb;
        int timeout_ms;
        sample_t *s;
        size_t ns;
} sampling_t;

/* Groups @p topics' partitions by cluster into @p sg, each resolved once; every
 * partition's list entry carries its flat index. @returns 0, or -1 when a cluster
 * cannot be resolved. */
static int sampling_build(sampling_t *sg, const kp_plan_topic_t *topics, size_t n)
{
        char errstr[512];
        for (size_t i = 0, off = 0; i < n; off += (size_t)topics[i].partitions, i++) {
                size_t k;
                for (k = 0; k < sg->ns && strcmp(sg->s[k].c.ref.name, topics[i].cluster); k++)
                        ;
                if (k == sg->ns) {
                        sample_t *s = &sg->s[k];
                        int err = kp_app_cluster_resolve(sg->st, sg->emb, topics[i].cluster, &s->c,
                                                         errstr, sizeof(errstr));
                        s->first = rd_kafka_topic_partition_list_new(16);
                        sg->ns++;
                        if (err)
                                return -1;
                }
                for (int32_t p = 0; p < topics[i].partitions; p++)
                        rd_kafka_topic_partition_list_add(sg->s[k].first, topics[i].topic, p)
                                ->opaque = (void *)(uintptr_t)(off + (size_t)p);
        }
        for (size_t k = 0; k < sg->ns; k++)
                sg->s[k].second = rd_kafka_topic_partition_list_copy(sg->s[k].first);
        return 0;
}

/* Reads every cluster's end offsets into its first list (@p second 0) or its second.
 * @returns 1 when all answered. */
static int sampling_read(sampling_t *sg, int second)
{
        char errstr[512];
        for (size_t k = 0; k < sg->ns; k++) {
                sample_t *s = &sg->s[k];
                if (kp_kafka_end_offsets(s->c.ref.bootstrap, s->c.ref.config,
                                         second ? s->second : s->first, sg->timeout_ms, errstr,
                                         sizeof(errstr)))
                        return 0;
        }
        return 1;
}

/* @returns new flat weights (messages/s over @p secs) of @p total partitions, or NULL
 * when nothing moved. */
static double *sampling_rates(const sampling_t *sg, size_t total, double secs)
{
        double *w = calloc(total, sizeof(*w));
        double sum = 0;
        if (!w || secs <= 0) {
                free(w);
                return NULL;
        }
        for (size_t k = 0; k < sg->ns; k++)
                for (int e = 0; e < sg->s[k].first->cnt; e++) {
                        rd_kafka_topic_partition_t *a = &sg->s[k].first->elems[e],
                                                   *b = &sg->s[k].second->elems[e];
                        size_t flat = (size_t)(uintptr_t)a->opaque;
                        if (a->offset >= 0 && b->offset >= a->offset && flat < total) {
                                w[flat] = (double)(b->offset - a->offset) / secs;
                                sum += w[flat];
                        }
                }
        if (sum <= 0) {
                free(w);
                return NULL;
        }
        /* a partition that was quiet in the sample still weighs a little */
        for (size_t i = 0; i < total; i++)
                if (w[i] <= 0)
                        w[i] = 0.001;
        return w;
}

void kp_app_rates_sample(kp_store_t *st, kp_embedded_t *emb, int timeout_ms,
                         const kp_plan_topic_t *topics, size_t n, double **weightsp)
{
        sampling_t sg = {.st = st, .emb = emb, .timeout_ms = timeout_ms};
        size_t total = 0;
        *weightsp = NULL;
        for (size_t i = 0; i < n; i++)
                total += (size_t)topics[i].partitions;
        sg.s = calloc(n ? n : 1, sizeof(*sg.s));
        if (!sg.s || !total || total > KP_WEIGHT_SAMPLE_PARTITIONS_MAX ||
            sampling_build(&sg, topics, n) || !sampling_read(&sg, 0))
                goto out;
        int64_t t0 = kp_time_mono_ms();
        struct timespec ts = {KP_WEIGHT_SAMPLE_MS / 1000, (KP_WEIGHT_SAMPLE_MS % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        if (sampling_read(&sg, 1))
                *weightsp = sampling_rates(&sg, total, (double)(kp_time_mono_ms() - t0) / 1000.0);
out:
        for (size_t k = 0; k < sg.ns; k++) {
                kp_app_cluster_cleanup(&sg.s[k].c);
                if (sg.s[k].first)
                        rd_kafka_topic_partition_list_destroy(sg.s[k].first);
                if (sg.s[k].second)
                        rd_kafka_topic_partition_list_destroy(sg.s[k].second);
        }
        free(sg.s);
}
