/* discovery.c — reading partition counts from clusters: on demand and periodically. */
#include "app/discovery.h"

#include "coord/coord.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/cluster.h"
#include "base/config.h"
#include "kafka/embedded.h"
#include "base/err.h"
#include "kafka/kafka.h"
#include "base/pattern.h"
#include "db/store.h"
#include "base/ticker.h"
#include "base/util.h"

/* Reads metadata (one topic or all) of the stored cluster @p cluster. */
static int cluster_metadata(kp_store_t *st, kp_embedded_t *emb, const char *cluster,
                            const char *topic, int timeout_ms, kp_kafka_metadata_t **mdp,
                            char *errstr, size_t errstr_size)
{
        kp_app_cluster_t c;
        int err = kp_app_cluster_resolve(st, emb, cluster, &c, errstr, errstr_size);
        if (err == KP_ERR_NOT_FOUND)
                snprintf(errstr, errstr_size, "no cluster named %s", cluster);
        if (!err)
                err = kp_app_cluster_metadata(&c, topic, timeout_ms, mdp, errstr, errstr_size);
        kp_app_cluster_cleanup(&c);
        return err;
}

int kp_discovery_topic(kp_store_t *st, kp_embedded_t *emb, const char *cluster, const char *topic,
                       int create, int timeout_ms, json_t **docp, int *changedp, char *errstr,
                       size_t errstr_size)
{
        json_t *old = NULL;
        kp_kafka_metadata_t *md = NULL;
        int err;
        if (changedp)
                *changedp = 0;
        err = kp_store_topic_get(st, cluster, topic, &old, errstr, errstr_size);
        if (create && !err) {
                snprintf(errstr, errstr_size, "topic %s is already registered on cluster %s", topic,
                         cluster);
                err = KP_ERR_EXISTS;
                goto out;
        }
        if (!create && err)
                goto out;
        err = cluster_metadata(st, emb, cluster, topic, timeout_ms, &md, errstr, errstr_size);
        if (err)
                goto out;
        int32_t parts = kp_kafka_metadata_partitions(md, topic);
        if (parts <= 0) {
                snprintf(errstr, errstr_size, "topic %s does not exist on cluster %s", topic,
                         cluster);
                err = KP_ERR_UNPROCESSABLE;
                goto out;
        }
        if (old && json_integer_value(json_object_get(old, "partitions")) != parts && changedp)
                *changedp = 1;
        char now[32];
        kp_time_iso8601(now, sizeof(now));
        err = kp_store_topic_put(st, cluster, topic, parts, now, NULL, errstr, errstr_size);
        if (!err && docp)
                err = kp_store_topic_get(st, cluster, topic, docp, errstr, errstr_size);
out:
        kp_kafka_metadata_destroy(md);
        json_decref(old);
        return err;
}

int kp_discovery_pattern(kp_store_t *st, kp_embedded_t *emb, const char *cluster,
                         const char *pattern, int create, int timeout_ms, json_t **docp,
                         int *changedp, char *errstr, size_t errstr_size)
{
        json_t *old = NULL, *topics = NULL;
        kp_kafka_metadata_t *md = NULL;
        int err;
        if (changedp)
                *changedp = 0;
        /* the same engine validated it at registration; a pattern stored by an older
         * version that this one refuses stays as it was */
        kp_pattern_t *pat = kp_pattern_compile(pattern, errstr, errstr_size);
        if (!pat)
                return KP_ERR_INVALID;
        err = kp_store_pattern_get(st, cluster, pattern, &old, errstr, errstr_size);
        if (create && !err) {
                snprintf(errstr, errstr_size, "pattern %s is already registered on cluster %s",
                         pattern, cluster);
                err = KP_ERR_EXISTS;
                goto out;
        }
        if (!create && err)
                goto out;
        err = cluster_metadata(st, emb, cluster, NULL, timeout_ms, &md, errstr, errstr_size);
        if (err)
                goto out;
        topics = json_array();
        /* linear in each name's length x the pattern's states (server/base/pattern.h) */
        for (size_t i = 0; i < md->topic_cnt; i++) {
                if (md->topics[i].error || md->topics[i].partitions <= 0)
                        continue;
                int m = kp_pattern_match(pat, md->topics[i].name);
                if (m < 0) {
                        snprintf(errstr, errstr_size, "out of memory matching pattern %s", pattern);
                        err = m;
                        goto out;
                }
                if (!m)
                        continue;
                json_array_append_new(topics, json_pack("{s:s, s:i}", "name", md->topics[i].name,
                                                        "partitions", md->topics[i].partitions));
        }
        if (old && !json_equal(json_object_get(old, "topics"), topics) && changedp)
                *changedp = 1;
        char now[32];
        kp_time_iso8601(now, sizeof(now));
        err = kp_store_pattern_put(st, cluster, pattern, topics, now, NULL, errstr, errstr_size);
        if (!err && docp)
                err = kp_store_pattern_get(st, cluster, pattern, docp, errstr, errstr_size);
out:
        kp_pattern_destroy(pat);
        kp_kafka_metadata_destroy(md);
        json_decref(topics);
        json_decref(old);
        return err;
}

struct kp_discovery {
        kp_store_t *st;
        kp_embedded_t *emb;
        int interval_s;
        int timeout_ms;
        kp_discovery_changed_cb_t *cb;
        void *opaque;
        kp_ticker_t ticker;
        /* several instances: passes run only while this instance leads (atomic; NULL: always) */
        struct kp_coord *leader_only;
};

/* One pass over every registration; calls back once per cluster that changed. */
static void discovery_pass(kp_discovery_t *d)
{
        char errstr[512];
        json_t *regs = NULL;
        struct kp_coord *c = __atomic_load_n(&d->leader_only, __ATOMIC_ACQUIRE);
        /* a follower's writes would be forwarded copies of the leader's own pass */
        if (c && (kp_ticker_stopping(&d->ticker) || !kp_coord_leads(c)))
                return;
        json_t *changed = json_object();
        if (kp_store_registrations_all(d->st, &regs, errstr, sizeof(errstr))) {
                json_decref(changed);
                return;
        }
        json_t *unreachable = json_object();
        size_t i;
        json_t *r;
        json_array_foreach(regs, i, r)
        {
                const char *cluster = json_string_value(json_object_get(r, "cluster"));
                const char *name = json_string_value(json_object_get(r, "name"));
                const char *pattern = json_string_value(json_object_get(r, "pattern"));
                int ch = 0, err = 0;
                /* A stop waits for one metadata read at most, not for the whole pass. */
                if (kp_ticker_stopping(&d->ticker))
                        break;
                /* A cluster that did not answer is not asked again in this pass: each of
                 * its registrations would hold the pass for the whole timeout. */
                if (!cluster || json_object_get(unreachable, cluster))
                        continue;
                if (name)
                        err = kp_discovery_topic(d->st, d->emb, cluster, name, 0, d->timeout_ms,
                                                 NULL, &ch, errstr, sizeof(errstr));
                else if (pattern)
                        err = kp_discovery_pattern(d->st, d->emb, cluster, pattern, 0,
                                                   d->timeout_ms, NULL, &ch, errstr,
                                                   sizeof(errstr));
                if (err == KP_ERR_UNAVAILABLE)
                        json_object_set_new(unreachable, cluster, json_true());
                if (ch)
                        json_object_set_new(changed, cluster, json_true());
        }
        json_decref(unreachable);
        json_decref(regs);
        const char *cluster;
        json_t *v;
        json_object_foreach(changed, cluster, v)
        {
                if (d->cb && !kp_ticker_stopping(&d->ticker))
                        d->cb(d->opaque, cluster);
        }
        json_decref(changed);
}

static void *discovery_main(void *arg)
{
        kp_discovery_t *d = arg;
        while (!kp_ticker_wait(&d->ticker, (int64_t)d->interval_s * 1000))
                discovery_pass(d);
        return NULL;
}

kp_discovery_t *kp_discovery_start(kp_store_t *st, kp_embedded_t *emb, int interval_s,
                                   int timeout_ms, kp_discovery_changed_cb_t *cb, void *opaque)
{
        kp_discovery_t *d = calloc(1, sizeof(*d));
        if (!d)
                return NULL;
        d->st = st;
        d->emb = emb;
        d->interval_s = interval_s > 0 ? interval_s : KP_DISCOVERY_INTERVAL_S;
        d->timeout_ms = timeout_ms;
        d->cb = cb;
        d->opaque = opaque;
        if (kp_ticker_start(&d->ticker, discovery_main, d)) {
                free(d);
                return NULL;
        }
        return d;
}

void kp_discovery_leader_only(kp_discovery_t *d, struct kp_coord *c)
{
        if (d)
                __atomic_store_n(&d->leader_only, c, __ATOMIC_RELEASE);
}

void kp_discovery_kick(kp_discovery_t *d)
{
        if (d)
                kp_ticker_kick(&d->ticker);
}

void kp_discovery_stop_begin(kp_discovery_t *d)
{
        if (d)
                kp_ticker_stop_begin(&d->ticker);
}

void kp_discovery_stop(kp_discovery_t *d)
{
        if (!d)
                return;
        kp_ticker_stop(&d->ticker);
        free(d);
}
