/* demo.c — `kplane serve --demo`: three embedded clusters, two groups, an uneven stream, and a
 * broker that is slow in phases so the lag rises and falls. */
#include "app/demo.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/config.h"
#include "app/discovery.h"
#include "kafka/embedded.h"
#include "base/err.h"
#include "app/cluster.h"
#include "app/plans.h"
#include "db/store.h"
#include "base/ticker.h"
#include "base/util.h"

#define DEMO_PARTITIONS 10
#define DEMO_CLUSTERS   3
#define DEMO_GROUP      "analytics"
/* The second group copies demo-a's orders to demo-b, so the demo shows a live copy. */
#define DEMO_MIRROR_GROUP   "mirror"
#define DEMO_MIRROR_CLUSTER "demo-b"
#define DEMO_MIRROR_TOPIC   "mirror.demo-a.orders"

static const char *const demo_clusters[DEMO_CLUSTERS] = {"demo-a", "demo-b", "demo-c"};
static const char *const demo_topics[DEMO_CLUSTERS] = {"orders", "payments", "clicks"};

struct kp_demo {
        kp_app_t *app;
        int rate;
        rd_kafka_t *producers[DEMO_CLUSTERS];
        kp_ticker_t ticker;
};

/* The embedded topics of demo cluster @p i: its own, and on demo-b the mirror group's target. */
static json_t *demo_cluster_topics(int i)
{
        json_t *t =
                json_pack("[{s:s, s:i}]", "name", demo_topics[i], "partitions", DEMO_PARTITIONS);
        if (!strcmp(demo_clusters[i], DEMO_MIRROR_CLUSTER))
                json_array_append_new(t, json_pack("{s:s, s:i}", "name", DEMO_MIRROR_TOPIC,
                                                   "partitions", DEMO_PARTITIONS));
        return t;
}

/* Registers demo cluster @p i (started embedded) and its topic, when missing. */
static int demo_seed_cluster(kp_app_t *app, int i, const char *now, char *errstr,
                             size_t errstr_size)
{
        json_t *doc = NULL;
        int err = 0;
        if (kp_store_cluster_get(app->store, demo_clusters[i], &doc, errstr, errstr_size)) {
                json_t *emb =
                        json_pack("{s:i, s:o}", "brokers", 1, "topics", demo_cluster_topics(i));
                doc = json_pack("{s:s, s:n, s:o, s:{}, s:s, s:s}", "name", demo_clusters[i],
                                "bootstrap_servers", "embedded", emb, "config", "created_at", now,
                                "updated_at", now);
                err = kp_embedded_start(app->emb, demo_clusters[i], 1,
                                        json_object_get(emb, "topics"), NULL, errstr, errstr_size);
                if (!err)
                        err = kp_store_cluster_create(app->store, demo_clusters[i], doc, errstr,
                                                      errstr_size);
        }
        json_decref(doc);
        doc = NULL;
        if (!err && kp_store_topic_get(app->store, demo_clusters[i], demo_topics[i], &doc, errstr,
                                       errstr_size))
                err = kp_discovery_topic(app->store, app->emb, demo_clusters[i], demo_topics[i], 1,
                                         app->metadata_timeout_ms, NULL, NULL, errstr, errstr_size);
        json_decref(doc);
        return err;
}

/* Registers group @p name (reading @p topics with @p sink: both stolen) and plans it, when
 * missing; marks it to run, so the start-up's resume of desired groups starts it (a stop
 * lasts until the next --demo start). */
static int demo_seed_group(kp_app_t *app, const char *name, json_t *topics, int parallelism,
                           json_t *sink, const char *now, char *errstr, size_t errstr_size)
{
        json_t *doc = NULL;
        int err = 0;
        if (kp_store_group_get(app->store, name, &doc, errstr, errstr_size)) {
                doc = json_pack("{s:s, s:O, s:i, s:s, s:b, s:s, s:O, s:s, s:s}", "name", name,
                                "topics", topics, "parallelism", parallelism, "strategy",
                                "balanced", "rebalance", 0, "start_offset", "earliest", "sink",
                                sink, "created_at", now, "updated_at", now);
                err = kp_store_group_create(app->store, name, doc, errstr, errstr_size);
                json_t *plan = NULL;
                if (!err)
                        err = kp_app_group_replan(app, name, NULL, &plan, errstr, errstr_size);
                json_decref(plan);
        }
        json_decref(doc);
        json_decref(topics);
        json_decref(sink);
        return err ? err : kp_store_group_set_desired(app->store, name, 1, errstr, errstr_size);
}

/* Creates what is missing of the demo's state: three clusters, a group reading all of them,
 * and a group copying demo-a's topic to demo-b through the Kafka sink. */
static int demo_seed(kp_app_t *app, char *errstr, size_t errstr_size)
{
        char now[32];
        kp_time_iso8601(now, sizeof(now));
        for (int i = 0; i < DEMO_CLUSTERS; i++)
                if (demo_seed_cluster(app, i, now, errstr, errstr_size))
                        return -1;
        json_t *topics = json_array();
        for (int i = 0; i < DEMO_CLUSTERS; i++)
                json_array_append_new(topics, json_pack("{s:s, s:s}", "cluster", demo_clusters[i],
                                                        "topic", demo_topics[i]));
        if (demo_seed_group(app, DEMO_GROUP, topics, 30, json_pack("{s:s}", "type", "discard"), now,
                            errstr, errstr_size))
                return -1;
        return demo_seed_group(
                app, DEMO_MIRROR_GROUP,
                json_pack("[{s:s, s:s}]", "cluster", demo_clusters[0], "topic", demo_topics[0]),
                DEMO_PARTITIONS,
                json_pack("{s:s, s:s, s:s, s:s, s:{s:s}}", "type", "kafka", "cluster",
                          DEMO_MIRROR_CLUSTER, "topic", "mirror.{cluster}.{topic}", "partitioning",
                          "source", "config", "queue.buffering.max.messages",
                          KP_STR(KP_DEMO_MIRROR_QUEUE_MESSAGES)),
                now, errstr, errstr_size);
}

/* Partition p of cluster c gets weight (c + 1) * (1 + p % 4): hot and cold partitions,
 * a hot cluster: what real traffic looks like, and what weighted plans are for. */
static int demo_pick(unsigned *seed, int *cluster)
{
        static int weights[DEMO_CLUSTERS * DEMO_PARTITIONS];
        int total = 0;
        for (int c = 0; c < DEMO_CLUSTERS; c++)
                for (int p = 0; p < DEMO_PARTITIONS; p++)
                        total += weights[c * DEMO_PARTITIONS + p] = (c + 1) * (1 + p % 4);
        int r = (int)(rand_r(seed) % (unsigned)total);
        for (int i = 0; i < DEMO_CLUSTERS * DEMO_PARTITIONS; i++) {
                r -= weights[i];
                if (r < 0) {
                        *cluster = i / DEMO_PARTITIONS;
                        return i % DEMO_PARTITIONS;
                }
        }
        *cluster = 0;
        return 0;
}

/* At tick @p tick (100 ms each) of the demo: slows demo-b's broker down or speeds it up
 * when a phase begins (KP_DEMO_SLOW_*), so the mirror's lag rises and falls. */
static void demo_phase(kp_demo_t *d, long long tick)
{
        long long at = tick % (KP_DEMO_SLOW_PERIOD_S * 10);
        int rtt = -1;
        if (at == (KP_DEMO_SLOW_PERIOD_S - KP_DEMO_SLOW_S) * 10)
                rtt = KP_DEMO_SLOW_RTT_MS;
        else if (at == 0 && tick)
                rtt = 0;
        char errstr[256];
        if (rtt >= 0 && kp_embedded_broker_set_rtt(d->app->emb, DEMO_MIRROR_CLUSTER, 1, rtt, errstr,
                                                   sizeof(errstr)))
                fprintf(stderr, "kplane: demo: %s\n", errstr);
}

static void *demo_main(void *arg)
{
        kp_demo_t *d = arg;
        unsigned seed = 42;
        long long seq = 0, tick = 0;
        /* send in ticks of 100 ms */
        int per_tick = d->rate / 10 > 0 ? d->rate / 10 : 1;
        do {
                demo_phase(d, tick++);
                for (int i = 0; i < per_tick; i++) {
                        int c;
                        int p = demo_pick(&seed, &c);
                        char key[32], value[96];
                        int kl = snprintf(key, sizeof(key), "k%d", (int)(rand_r(&seed) % 1000));
                        int vl = snprintf(value, sizeof(value), "{\"seq\":%lld,\"amount\":%d}",
                                          seq++, (int)(rand_r(&seed) % 10000));
                        if (d->producers[c])
                                rd_kafka_producev(d->producers[c], RD_KAFKA_V_TOPIC(demo_topics[c]),
                                                  RD_KAFKA_V_PARTITION(p),
                                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                                  RD_KAFKA_V_KEY(key, (size_t)kl),
                                                  RD_KAFKA_V_VALUE(value, (size_t)vl),
                                                  RD_KAFKA_V_END);
                }
                for (int c = 0; c < DEMO_CLUSTERS; c++)
                        if (d->producers[c])
                                rd_kafka_poll(d->producers[c], 0);
        } while (!kp_ticker_wait(&d->ticker, 100));
        return NULL;
}

/* A quiet producer for one demo cluster. */
static rd_kafka_t *demo_producer(kp_app_t *app, const char *cluster)
{
        char errstr[512];
        kp_app_cluster_t c;
        if (kp_app_cluster_resolve(app->store, app->emb, cluster, &c, errstr, sizeof(errstr))) {
                kp_app_cluster_cleanup(&c);
                return NULL;
        }
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "bootstrap.servers", c.ref.bootstrap, errstr, sizeof(errstr));
        rd_kafka_conf_set(conf, "linger.ms", "20", errstr, sizeof(errstr));
        rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
        kp_app_cluster_cleanup(&c);
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        if (!rk)
                rd_kafka_conf_destroy(conf);
        return rk;
}

kp_demo_t *kp_demo_start(kp_app_t *app, int rate, char *errstr, size_t errstr_size)
{
        if (demo_seed(app, errstr, errstr_size))
                return NULL;
        kp_demo_t *d = calloc(1, sizeof(*d));
        if (!d) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        d->app = app;
        d->rate = rate > 0 ? rate : 1;
        for (int c = 0; c < DEMO_CLUSTERS; c++)
                d->producers[c] = demo_producer(app, demo_clusters[c]);
        if (kp_ticker_start(&d->ticker, demo_main, d)) {
                snprintf(errstr, errstr_size, "cannot start the demo producer thread");
                for (int c = 0; c < DEMO_CLUSTERS; c++)
                        if (d->producers[c])
                                rd_kafka_destroy(d->producers[c]);
                free(d);
                return NULL;
        }
        return d;
}

void kp_demo_stop(kp_demo_t *d)
{
        if (!d)
                return;
        kp_ticker_stop(&d->ticker);
        /* the groups' stop commits to demo-b: not at a slow phase's pace */
        char errstr[256];
        kp_embedded_broker_set_rtt(d->app->emb, DEMO_MIRROR_CLUSTER, 1, 0, errstr, sizeof(errstr));
        for (int c = 0; c < DEMO_CLUSTERS; c++)
                if (d->producers[c]) {
                        rd_kafka_flush(d->producers[c], 1000);
                        rd_kafka_destroy(d->producers[c]);
                }
        free(d);
}
