/* kafka.c — librdkafka helpers: config checks, quiet logs, bounded metadata and offset reads. */
#include "kafka/kafka.h"

#include "kafka/client_conf.h"
#include "base/config.h"
#include "base/err.h"
#include "base/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

/* Facilities librdkafka uses for connection failures: they repeat at every retry
 * and the caller sees the failure as an error code anyway. AUTOCREATE warns, once per
 * client, that a broker speaking Metadata < v4 (the mock cluster) may create a topic a
 * request names: kplane's reads name only topics seen in an all-topics answer, its
 * consumers only registered topics. */
static const char *const kp_kafka_quiet_fac[] = {"FAIL", "ERROR", "BROKERFAIL", "CONFWARN",
                                                 "AUTOCREATE"};

void kp_kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
        size_t i;

        if (level > KP_KAFKA_LOG_LEVEL)
                return;
        for (i = 0; i < sizeof(kp_kafka_quiet_fac) / sizeof(kp_kafka_quiet_fac[0]); i++)
                if (level > LOG_CRIT && !strcmp(fac, kp_kafka_quiet_fac[i]))
                        return;
        fprintf(stderr, "kplane: librdkafka %s %s: %s\n", rk ? rd_kafka_name(rk) : "-", fac, buf);
}

/* Checks the shape of a whole config object (NULL is fine: no properties). */
static int kp_kafka_config_shape(const json_t *config, char *errstr, size_t errstr_size)
{
        if (config && !json_is_object(config)) {
                snprintf(errstr, errstr_size, "config: must be an object of properties");
                return KP_ERR_INVALID;
        }
        if (config && json_object_size(config) > KP_KAFKA_CONFIG_PROPS_MAX) {
                snprintf(errstr, errstr_size, "config: more than %d properties",
                         KP_KAFKA_CONFIG_PROPS_MAX);
                return KP_ERR_INVALID;
        }
        return 0;
}

/* Cluster configs feed both kinds of client kplane makes, with the installed policy. */
static const kp_client_conf_ctx_t kp_kafka_cluster_ctx = {KP_CLIENT_ANY, NULL};

/* Sets user property @p key = @p value on @p conf: the allow-list first (kplane's own
 * properties, code, commands, files, logging are refused, env references resolved), then
 * librdkafka judges the value. */
static int kp_kafka_prop_set(rd_kafka_conf_t *conf, const char *key, const json_t *value,
                             char *errstr, size_t errstr_size)
{
        char val[KP_KAFKA_CONFIG_VALUE_MAX];
        char rderr[512];
        int err, from_env;

        err = kp_client_conf_value(key, value, &kp_kafka_cluster_ctx, val, sizeof(val), &from_env,
                                   errstr, errstr_size);
        if (!err && rd_kafka_conf_set(conf, key, val, rderr, sizeof(rderr)) != RD_KAFKA_CONF_OK) {
                /* librdkafka's reason may quote the value: not one from the environment. */
                if (from_env)
                        snprintf(errstr, errstr_size,
                                 "config.%s: librdkafka refused the value of the environment "
                                 "variable it names",
                                 key);
                else
                        snprintf(errstr, errstr_size, "config.%s: %s", key, rderr);
                err = KP_ERR_INVALID;
        }
        explicit_bzero(val, sizeof(val));
        return err;
}

/* Sets every property of @p config on @p conf, once all of them passed the allow-list
 * (so a refused property never meets librdkafka, whatever its place in the object).
 * Costs one rd_kafka_conf_set each. */
static int kp_kafka_conf_apply(rd_kafka_conf_t *conf, const json_t *config, char *errstr,
                               size_t errstr_size)
{
        const char *key;
        json_t *value;
        int err;

        if ((err = kp_kafka_config_shape(config, errstr, errstr_size)))
                return err;
        if (!config)
                return 0;
        if ((err = kp_client_conf_check(config, &kp_kafka_cluster_ctx, errstr, errstr_size)))
                return err;
        json_object_foreach((json_t *)config, key, value)
        {
                if ((err = kp_kafka_prop_set(conf, key, value, errstr, errstr_size)))
                        return err;
        }
        return 0;
}

static int kp_kafka_config_check_clients(const json_t *config, char *errstr, size_t errstr_size);

int kp_kafka_config_validate(const json_t *config, char *errstr, size_t errstr_size)
{
        const char *key;
        json_t *value;
        rd_kafka_conf_t *conf;
        int err;

        if ((err = kp_kafka_config_shape(config, errstr, errstr_size)))
                return err;
        if (!config)
                return 0;
        /* The allow-list, for every property, before librdkafka sees any of them. */
        if ((err = kp_client_conf_check(config, &kp_kafka_cluster_ctx, errstr, errstr_size)))
                return err;
        /* A fresh conf per property: one property's value must not make another look
         * valid or invalid (librdkafka checks combinations only at rd_kafka_new). */
        json_object_foreach((json_t *)config, key, value)
        {
                conf = rd_kafka_conf_new();
                err = kp_kafka_prop_set(conf, key, value, errstr, errstr_size);
                rd_kafka_conf_destroy(conf);
                if (err)
                        return err;
        }
        /* Each property is fine alone; now the combinations, as the clients kplane will
         * make from them see them (e.g. fetch.max.bytes below message.max.bytes). */
        return kp_kafka_config_check_clients(config, errstr, errstr_size);
}

/* Sets one property kplane chose; a failure is a bug, reported as such. */
static int kp_kafka_conf_put(rd_kafka_conf_t *conf, const char *name, const char *value,
                             char *errstr, size_t errstr_size)
{
        char rderr[256];

        if (rd_kafka_conf_set(conf, name, value, rderr, sizeof(rderr)) != RD_KAFKA_CONF_OK) {
                snprintf(errstr, errstr_size, "%s: %s", name, rderr);
                return KP_ERR_INTERNAL;
        }
        return 0;
}

/* One property kplane sets: name, value. */
typedef const char *kp_kafka_prop_t[2];

/*
 * A conf with kplane's logger: @p bootstrap (may be NULL), @p pre (defaults the user's
 * properties may override), @p config's properties, then @p post (kplane's own, which
 * they may not). @returns a new conf or NULL with errstr set.
 */
static rd_kafka_conf_t *kp_kafka_conf_build(const char *bootstrap, const kp_kafka_prop_t *pre,
                                            size_t npre, const json_t *config,
                                            const kp_kafka_prop_t *post, size_t npost, char *errstr,
                                            size_t errstr_size)
{
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        size_t i;

        rd_kafka_conf_set_log_cb(conf, kp_kafka_log_cb);
        if ((bootstrap &&
             kp_kafka_conf_put(conf, "bootstrap.servers", bootstrap, errstr, errstr_size)) ||
            kp_kafka_conf_put(conf, "log.connection.close", "false", errstr, errstr_size))
                goto fail;
        for (i = 0; i < npre; i++)
                if (kp_kafka_conf_put(conf, pre[i][0], pre[i][1], errstr, errstr_size))
                        goto fail;
        if (kp_kafka_conf_apply(conf, config, errstr, errstr_size))
                goto fail;
        for (i = 0; i < npost; i++)
                if (kp_kafka_conf_put(conf, post[i][0], post[i][1], errstr, errstr_size))
                        goto fail;
        return conf;
fail:
        rd_kafka_conf_destroy(conf);
        return NULL;
}

rd_kafka_conf_t *kp_kafka_client_conf_new(const char *bootstrap, const json_t *config, char *errstr,
                                          size_t errstr_size)
{
        /* Before the user's properties, so a client.id of theirs wins. */
        static const kp_kafka_prop_t pre[] = {{"client.id", "kplane"}};

        return kp_kafka_conf_build(bootstrap, pre, 1, config, NULL, 0, errstr, errstr_size);
}

rd_kafka_conf_t *kp_kafka_consumer_conf_new(const char *bootstrap, const json_t *config,
                                            const char *group_id, const char *offset_reset,
                                            char *errstr, size_t errstr_size)
{
        char kbytes[16], client_id[KP_NAME_MAX + 16];

        snprintf(kbytes, sizeof(kbytes), "%d", KP_RUNTIME_QUEUED_MAX_KBYTES);
        snprintf(client_id, sizeof(client_id), "kplane-%s", group_id);
        const kp_kafka_prop_t pre[] = {
                {"queued.max.messages.kbytes", kbytes},
                {"fetch.queue.backoff.ms", KP_STR(KP_RUNTIME_FETCH_QUEUE_BACKOFF_MS)},
                {"topic.metadata.refresh.interval.ms", KP_STR(KP_KAFKA_METADATA_REFRESH_MS)}};
        /* Last, so a cluster's config cannot undo them: kplane stores and commits what
         * the sinks took, itself. */
        const kp_kafka_prop_t post[] = {
                {"group.id", group_id},
                {"enable.auto.commit", "false"},
                {"enable.auto.offset.store", "false"},
                {"enable.partition.eof", "false"},
                {"auto.offset.reset", offset_reset ? offset_reset : "earliest"},
                {"client.id", client_id},
        };
        return kp_kafka_conf_build(bootstrap, pre, sizeof(pre) / sizeof(pre[0]), config, post,
                                   sizeof(post) / sizeof(post[0]), errstr, errstr_size);
}

/* Sets the properties that bound a short-lived client to @p timeout_ms. */
static int kp_kafka_conf_bound(rd_kafka_conf_t *conf, int timeout_ms, char *errstr,
                               size_t errstr_size)
{
        char sock[16], setup[16];
        const char *props[][2] = {
                /* librdkafka's floors: socket timeout >= 10 ms, connection setup >= 1 s. */
                {"socket.timeout.ms", sock},
                {"api.version.request.timeout.ms", sock},
                {"socket.connection.setup.timeout.ms", setup},
                /* Retry a refused connection quickly, so a broker that comes up within
                 * the window is still seen. */
                {"reconnect.backoff.ms", KP_STR(KP_KAFKA_RECONNECT_BACKOFF_MS)},
                {"reconnect.backoff.max.ms", KP_STR(KP_KAFKA_RECONNECT_BACKOFF_MAX_MS)},
                /* Connect to every bootstrap broker at once: with sparse connections
                 * librdkafka tries one, and after a failure the next only at its 1 s
                 * timer, so one dead broker in the list could eat the whole window. */
                {"enable.sparse.connections", "false"},
                /* Never create a topic by asking about it. */
                {"allow.auto.create.topics", "false"},
                /* The client lives for one request: no periodic refreshes. */
                {"topic.metadata.refresh.interval.ms", "-1"},
        };
        size_t i;
        int err;

        /* ... and api.version.request.timeout.ms <= 300 s. */
        snprintf(sock, sizeof(sock), "%d",
                 timeout_ms < KP_KAFKA_SOCKET_TIMEOUT_MIN_MS   ? KP_KAFKA_SOCKET_TIMEOUT_MIN_MS
                 : timeout_ms > KP_KAFKA_SOCKET_TIMEOUT_MAX_MS ? KP_KAFKA_SOCKET_TIMEOUT_MAX_MS
                                                               : timeout_ms);
        snprintf(setup, sizeof(setup), "%d",
                 timeout_ms < KP_KAFKA_SETUP_TIMEOUT_MIN_MS ? KP_KAFKA_SETUP_TIMEOUT_MIN_MS
                                                            : timeout_ms);
        for (i = 0; i < sizeof(props) / sizeof(props[0]); i++)
                if ((err = kp_kafka_conf_put(conf, props[i][0], props[i][1], errstr, errstr_size)))
                        return err;
        return 0;
}

rd_kafka_conf_t *kp_kafka_conf_new(const char *bootstrap, const json_t *config, char *errstr,
                                   size_t errstr_size)
{
        rd_kafka_conf_t *conf;

        conf = kp_kafka_client_conf_new(bootstrap, config, errstr, errstr_size);
        if (!conf)
                return NULL;
        if (kp_kafka_conf_bound(conf, KP_KAFKA_METADATA_TIMEOUT_MS, errstr, errstr_size)) {
                rd_kafka_conf_destroy(conf);
                return NULL;
        }
        return conf;
}

static int kp_kafka_broker_cmp(const void *a, const void *b)
{
        const kp_kafka_broker_t *x = a, *y = b;
        return x->id < y->id ? -1 : x->id > y->id;
}

static int kp_kafka_topic_cmp(const void *a, const void *b)
{
        const kp_kafka_topic_t *x = a, *y = b;
        return strcmp(x->name, y->name);
}

/* Copies librdkafka's metadata into kplane's own (sorted, internal topics left out);
 * with @p only set, just that topic, present with an error when the cluster lacks it.
 * @returns a new kp_kafka_metadata_t or NULL when out of memory. */
static kp_kafka_metadata_t *kp_kafka_metadata_copy(const struct rd_kafka_metadata *rmd,
                                                   const char *only)
{
        kp_kafka_metadata_t *md;
        int i;

        md = calloc(1, sizeof(*md));
        if (!md)
                return NULL;
        if (rmd->broker_cnt > 0) {
                md->brokers = calloc((size_t)rmd->broker_cnt, sizeof(*md->brokers));
                if (!md->brokers)
                        goto fail;
        }
        for (i = 0; i < rmd->broker_cnt; i++) {
                kp_kafka_broker_t *b = &md->brokers[md->broker_cnt];
                b->id = rmd->brokers[i].id;
                b->port = rmd->brokers[i].port;
                b->host = strdup(rmd->brokers[i].host ? rmd->brokers[i].host : "");
                if (!b->host)
                        goto fail;
                md->broker_cnt++;
        }
        /* One more slot for a requested topic the cluster does not have. */
        md->topics = calloc((size_t)rmd->topic_cnt + 1, sizeof(*md->topics));
        if (!md->topics)
                goto fail;
        for (i = 0; i < rmd->topic_cnt; i++) {
                const rd_kafka_metadata_topic_t *rt = &rmd->topics[i];
                kp_kafka_topic_t *t = &md->topics[md->topic_cnt];

                if (!rt->topic || !strncmp(rt->topic, "__", 2) || (only && strcmp(only, rt->topic)))
                        continue;
                t->name = strdup(rt->topic);
                if (!t->name)
                        goto fail;
                t->error = rt->err;
                t->partitions = rt->err ? 0 : rt->partition_cnt;
                md->topic_cnt++;
        }
        if (only && md->topic_cnt == 0 && strncmp(only, "__", 2)) {
                md->topics[0].name = strdup(only);
                if (!md->topics[0].name)
                        goto fail;
                md->topics[0].error = RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
                md->topic_cnt = 1;
        }
        qsort(md->brokers, md->broker_cnt, sizeof(*md->brokers), kp_kafka_broker_cmp);
        qsort(md->topics, md->topic_cnt, sizeof(*md->topics), kp_kafka_topic_cmp);
        return md;
fail:
        kp_kafka_metadata_destroy(md);
        return NULL;
}

/*
 * A short-lived client whose every wait is bounded by @p timeout_ms: a producer, the
 * cheapest client (no group, no fetcher). @returns it (rd_kafka_destroy it) or NULL
 * with errstr set; cross-property checks (e.g. sasl without credentials) fail here.
 */
static rd_kafka_t *kp_kafka_short_client(const char *bootstrap, const json_t *config,
                                         int timeout_ms, char *errstr, size_t errstr_size)
{
        char rderr[512];
        rd_kafka_conf_t *conf = kp_kafka_client_conf_new(bootstrap, config, errstr, errstr_size);
        if (!conf)
                return NULL;
        if (kp_kafka_conf_bound(conf, timeout_ms, errstr, errstr_size)) {
                rd_kafka_conf_destroy(conf);
                return NULL;
        }
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, rderr, sizeof(rderr));
        if (!rk) {
                snprintf(errstr, errstr_size, "config: %s", rderr);
                rd_kafka_conf_destroy(conf); /* not taken on failure */
                return NULL;
        }
        return rk;
}

int kp_kafka_metadata_fetch(const char *bootstrap, const json_t *config, const char *topic,
                            int timeout_ms, kp_kafka_metadata_t **mdp, char *errstr,
                            size_t errstr_size)
{
        rd_kafka_t *rk = NULL;
        const struct rd_kafka_metadata *rmd = NULL;
        rd_kafka_resp_err_t rerr;
        int64_t deadline;
        int64_t left;
        int err = 0;

        *mdp = NULL;
        if (!bootstrap || !bootstrap[0]) {
                snprintf(errstr, errstr_size, "bootstrap servers: empty");
                return KP_ERR_INVALID;
        }
        if (timeout_ms <= 0)
                timeout_ms = KP_KAFKA_METADATA_TIMEOUT_MS;
        deadline = kp_time_mono_ms() + timeout_ms;

        rk = kp_kafka_short_client(bootstrap, config, timeout_ms, errstr, errstr_size);
        if (!rk) {
                err = KP_ERR_INVALID;
                goto out;
        }

        /* All topics, even for one: naming a topic in a producer's metadata request asks
         * for its creation (allow.auto.create.topics defaults to true for producers), which
         * the embedded mock and brokers with auto.create.topics.enable grant, and
         * brokers answering Metadata < v4 do regardless. Asking for all topics never
         * creates one. (No rd_kafka_topic_t either: a topic handle
         * makes the producer ask for that topic in the background.) */
        left = deadline - kp_time_mono_ms();
        if (left < 1)
                left = 1;
        rerr = rd_kafka_metadata(rk, 1, NULL, &rmd, (int)left);
        if (rerr) {
                snprintf(errstr, errstr_size, "cluster %s did not answer within %d ms: %s",
                         bootstrap, timeout_ms, rd_kafka_err2str(rerr));
                err = KP_ERR_UNAVAILABLE;
                goto out;
        }
        *mdp = kp_kafka_metadata_copy(rmd, topic);
        if (!*mdp) {
                snprintf(errstr, errstr_size, "out of memory");
                err = KP_ERR_NOMEM;
                goto out;
        }
out:
        if (rmd)
                rd_kafka_metadata_destroy(rmd);
        /* Nothing is queued in this producer, so destroy only closes sockets and joins
         * threads: it does not wait for an unreachable cluster. */
        if (rk)
                rd_kafka_destroy(rk);
        return err;
}

int kp_kafka_end_offsets(const char *bootstrap, const json_t *config,
                         rd_kafka_topic_partition_list_t *parts, int timeout_ms, char *errstr,
                         size_t errstr_size)
{
        int err = 0;
        if (timeout_ms <= 0)
                timeout_ms = KP_KAFKA_METADATA_TIMEOUT_MS;
        rd_kafka_t *rk = kp_kafka_short_client(bootstrap, config, timeout_ms, errstr, errstr_size);
        if (!rk)
                return KP_ERR_INVALID;
        /* ListOffsets with timestamp -1 (RD_KAFKA_OFFSET_END) answers the log end
         * offset: one request per leader for the whole list, not one per partition. */
        for (int i = 0; i < parts->cnt; i++)
                parts->elems[i].offset = RD_KAFKA_OFFSET_END;
        rd_kafka_resp_err_t rerr = rd_kafka_offsets_for_times(rk, parts, timeout_ms);
        if (rerr) {
                snprintf(errstr, errstr_size, "cluster %s: end offsets not read within %d ms: %s",
                         bootstrap, timeout_ms, rd_kafka_err2str(rerr));
                err = KP_ERR_UNAVAILABLE;
        }
        rd_kafka_destroy(rk);
        return err;
}

/*
 * rd_kafka_new checks the combinations of properties that rd_kafka_conf_set cannot see
 * one by one. Builds, and destroys at once, the two clients kplane makes from a cluster's
 * config: the runtime's consumer and the short-lived producer of metadata reads. No
 * bootstrap address: nothing connects. Costs two client starts (a few threads each),
 * measured at about 2 ms.
 */
static int kp_kafka_config_check_clients(const json_t *config, char *errstr, size_t errstr_size)
{
        char rderr[512];
        rd_kafka_conf_t *conf;
        rd_kafka_t *rk;

        conf = kp_kafka_consumer_conf_new(NULL, config, "kplane-config-check", "earliest", errstr,
                                          errstr_size);
        if (!conf)
                return KP_ERR_INVALID;
        rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, rderr, sizeof(rderr));
        if (!rk) {
                rd_kafka_conf_destroy(conf); /* not taken on failure */
                snprintf(errstr, errstr_size, "config: %s", rderr);
                return KP_ERR_INVALID;
        }
        /* Never joined a group: nothing to leave or commit. */
        rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);

        rk = kp_kafka_short_client(NULL, config, KP_KAFKA_METADATA_TIMEOUT_MS, errstr, errstr_size);
        if (!rk)
                return KP_ERR_INVALID;
        rd_kafka_destroy(rk);
        return 0;
}

/* Marks every entry of @p offs as unread with @p err. */
static void kp_kafka_offsets_fail(kp_kafka_group_offset_t *offs, size_t cnt, int err)
{
        for (size_t i = 0; i < cnt; i++) {
                offs[i].committed = -1;
                offs[i].high_watermark = -1;
                offs[i].err = err;
        }
}

/* @returns the partition count of @p topic in @p rmd, -1 when absent or errored;
 * @p hint remembers the last topic found (entries usually come topic by topic). */
static int kp_kafka_rmd_partitions(const struct rd_kafka_metadata *rmd, const char *topic,
                                   int *hint)
{
        int i;

        for (i = 0; i < rmd->topic_cnt; i++) {
                int k = (*hint + i) % rmd->topic_cnt;
                if (rmd->topics[k].topic && !strcmp(rmd->topics[k].topic, topic)) {
                        *hint = k;
                        return rmd->topics[k].err ? -1 : rmd->topics[k].partition_cnt;
                }
        }
        return -1;
}

/* The milliseconds left until @p deadline (monotonic), at least 1: a librdkafka call
 * given 0 would not wait at all, not even for an answer already on its way. */
static int kp_kafka_left_ms(int64_t deadline)
{
        int64_t left = deadline - kp_time_mono_ms();
        return (int)(left < 1 ? 1 : left);
}

/* The consumer kp_kafka_group_offsets asks with: the group's own consumer configuration,
 * so OffsetFetch goes to its coordinator with the same group.id, but bounded by
 * @p timeout_ms, and never subscribed: it joins nothing and cannot take partitions from a
 * member of the group. @returns it, or NULL with errstr (a bad config or address). */
static rd_kafka_t *kp_kafka_offsets_client(const char *bootstrap, const json_t *config,
                                           const char *group_id, int timeout_ms, char *errstr,
                                           size_t errstr_size)
{
        char rderr[512];
        rd_kafka_t *rk;
        rd_kafka_conf_t *conf = kp_kafka_consumer_conf_new(bootstrap, config, group_id, "earliest",
                                                           errstr, errstr_size);

        if (!conf)
                return NULL;
        if (kp_kafka_conf_bound(conf, timeout_ms, errstr, errstr_size)) {
                rd_kafka_conf_destroy(conf);
                return NULL;
        }
        rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, rderr, sizeof(rderr));
        if (!rk) {
                rd_kafka_conf_destroy(conf); /* not taken on failure */
                snprintf(errstr, errstr_size, "config: %s", rderr);
        }
        return rk;
}

/* OffsetFetch of every entry of @p offs: the coordinator first, then one request for the
 * whole list, within @p deadline. @returns 0 (per-partition errors in err) or
 * KP_ERR_UNAVAILABLE with errstr (every entry failed). */
static int kp_kafka_offsets_committed(rd_kafka_t *rk, const char *bootstrap,
                                      kp_kafka_group_offset_t *offs, size_t cnt, int64_t deadline,
                                      int timeout_ms, char *errstr, size_t errstr_size)
{
        rd_kafka_topic_partition_list_t *committed = rd_kafka_topic_partition_list_new((int)cnt);
        rd_kafka_resp_err_t rerr;
        size_t i;

        /* Each element's opaque is its index in offs: librdkafka updates the list in
         * place, but that is how an answer is matched whatever the order. */
        for (i = 0; i < cnt; i++)
                rd_kafka_topic_partition_list_add(committed, offs[i].topic, offs[i].partition)
                        ->opaque = (void *)(uintptr_t)i;
        rerr = rd_kafka_committed(rk, committed, kp_kafka_left_ms(deadline));
        if (rerr) {
                kp_kafka_offsets_fail(offs, cnt, rerr);
                snprintf(errstr, errstr_size,
                         "cluster %s: committed offsets not read within %d ms: %s", bootstrap,
                         timeout_ms, rd_kafka_err2str(rerr));
        }
        for (i = 0; !rerr && i < (size_t)committed->cnt; i++) {
                rd_kafka_topic_partition_t *c = &committed->elems[i];
                kp_kafka_group_offset_t *o = &offs[(uintptr_t)c->opaque];
                o->err = c->err;
                /* RD_KAFKA_OFFSET_INVALID (-1001): the group has committed nothing here. */
                o->committed = !c->err && c->offset >= 0 ? c->offset : -1;
        }
        rd_kafka_topic_partition_list_destroy(committed);
        return rerr ? KP_ERR_UNAVAILABLE : 0;
}

/* ListOffsets at the log end of every entry of @p offs the cluster has (one request per
 * leader), within @p deadline; an entry it lacks gets UNKNOWN_TOPIC_OR_PART. Leaders come
 * from a metadata request for all topics: naming a topic the cluster lacks would create it
 * on the mock cluster and on brokers answering Metadata < v4 (see kp_kafka_metadata_fetch);
 * this way ListOffsets finds them in the cache. @returns 0 or KP_ERR_UNAVAILABLE with
 * errstr (entries not read get the error; committed offsets are kept). */
static int kp_kafka_offsets_ends(rd_kafka_t *rk, const char *bootstrap,
                                 kp_kafka_group_offset_t *offs, size_t cnt, int64_t deadline,
                                 int timeout_ms, char *errstr, size_t errstr_size)
{
        rd_kafka_topic_partition_list_t *ends = rd_kafka_topic_partition_list_new((int)cnt);
        const struct rd_kafka_metadata *rmd = NULL;
        rd_kafka_resp_err_t rerr;
        int hint = 0;
        size_t i;

        rerr = rd_kafka_metadata(rk, 1, NULL, &rmd, kp_kafka_left_ms(deadline));
        for (i = 0; !rerr && i < cnt; i++) {
                int n = kp_kafka_rmd_partitions(rmd, offs[i].topic, &hint);
                if (offs[i].partition < 0 || offs[i].partition >= n) {
                        offs[i].err = RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
                        continue;
                }
                rd_kafka_topic_partition_list_add(ends, offs[i].topic, offs[i].partition)->opaque =
                        (void *)(uintptr_t)i;
        }
        for (i = 0; i < (size_t)ends->cnt; i++)
                ends->elems[i].offset = RD_KAFKA_OFFSET_END;
        if (!rerr && ends->cnt)
                rerr = rd_kafka_offsets_for_times(rk, ends, kp_kafka_left_ms(deadline));
        for (i = 0; i < (size_t)ends->cnt && !rerr; i++) {
                rd_kafka_topic_partition_t *e = &ends->elems[i];
                kp_kafka_group_offset_t *o = &offs[(uintptr_t)e->opaque];
                o->high_watermark = !e->err && e->offset >= 0 ? e->offset : -1;
                if (!o->err && o->high_watermark < 0)
                        o->err = e->err ? e->err : RD_KAFKA_RESP_ERR__FAIL;
        }
        if (rerr) {
                for (i = 0; i < cnt; i++)
                        if (!offs[i].err)
                                offs[i].err = rerr;
                snprintf(errstr, errstr_size, "cluster %s: end offsets not read within %d ms: %s",
                         bootstrap, timeout_ms, rd_kafka_err2str(rerr));
        }
        if (rmd)
                rd_kafka_metadata_destroy(rmd);
        rd_kafka_topic_partition_list_destroy(ends);
        return rerr ? KP_ERR_UNAVAILABLE : 0;
}

int kp_kafka_group_offsets(const char *bootstrap, const json_t *config, const char *group_id,
                           kp_kafka_group_offset_t *offs, size_t cnt, int timeout_ms, char *errstr,
                           size_t errstr_size)
{
        rd_kafka_t *rk;
        int64_t deadline;
        int err;

        kp_kafka_offsets_fail(offs, cnt, RD_KAFKA_RESP_ERR__TIMED_OUT);
        if (!bootstrap || !bootstrap[0]) {
                snprintf(errstr, errstr_size, "bootstrap servers: empty");
                return KP_ERR_INVALID;
        }
        if (cnt == 0)
                return 0;
        if (cnt > INT32_MAX) {
                snprintf(errstr, errstr_size, "too many partitions");
                return KP_ERR_INVALID;
        }
        if (timeout_ms <= 0)
                timeout_ms = KP_KAFKA_METADATA_TIMEOUT_MS;
        deadline = kp_time_mono_ms() + timeout_ms;

        rk = kp_kafka_offsets_client(bootstrap, config, group_id, timeout_ms, errstr, errstr_size);
        if (!rk)
                return KP_ERR_INVALID;
        err = kp_kafka_offsets_committed(rk, bootstrap, offs, cnt, deadline, timeout_ms, errstr,
                                         errstr_size);
        if (!err)
                err = kp_kafka_offsets_ends(rk, bootstrap, offs, cnt, deadline, timeout_ms, errstr,
                                            errstr_size);
        /* No consumer close: nothing was joined or assigned, and a close would wait for a
         * coordinator that may not answer. */
        rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
        return err;
}

void kp_kafka_metadata_destroy(kp_kafka_metadata_t *md)
{
        size_t i;

        if (!md)
                return;
        for (i = 0; i < md->broker_cnt; i++)
                free(md->brokers[i].host);
        for (i = 0; i < md->topic_cnt; i++)
                free(md->topics[i].name);
        free(md->brokers);
        free(md->topics);
        free(md);
}

int32_t kp_kafka_metadata_partitions(const kp_kafka_metadata_t *md, const char *name)
{
        size_t i;

        if (!md || !name)
                return -1;
        for (i = 0; i < md->topic_cnt; i++)
                if (!strcmp(md->topics[i].name, name))
                        return md->topics[i].error ? -1 : md->topics[i].partitions;
        return -1;
}

#if defined(__SANITIZE_THREAD__)
/*
 * Only in -fsanitize=thread builds: librdkafka (scripts/rdkafka.sh builds it with
 * --enable-c11threads, as Debian does; glibc >= 2.34) makes its threads and locks with
 * C11 thrd_create / mtx_* / cnd_*, which gcc 12's ThreadSanitizer does not intercept: its
 * threads then run unregistered and crash in their first malloc. These definitions in
 * the executable take precedence over glibc's for the statically linked librdkafka.a
 * and go through the pthread calls the sanitizer does see. They live here because every
 * kplane binary links kafka.o.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <threads.h>

struct kp_kafka_tsan_start {
        thrd_start_t func;
        void *arg;
};

static void *kp_kafka_tsan_trampoline(void *p)
{
        struct kp_kafka_tsan_start s = *(struct kp_kafka_tsan_start *)p;

        free(p);
        return (void *)(intptr_t)s.func(s.arg);
}

int thrd_create(thrd_t *thr, thrd_start_t func, void *arg)
{
        struct kp_kafka_tsan_start *s = malloc(sizeof(*s));
        int r;

        if (!s)
                return thrd_nomem;
        s->func = func;
        s->arg = arg;
        r = pthread_create((pthread_t *)thr, NULL, kp_kafka_tsan_trampoline, s);
        if (r) {
                free(s);
                return r == ENOMEM ? thrd_nomem : thrd_error;
        }
        return thrd_success;
}

int thrd_join(thrd_t thr, int *res)
{
        void *r;

        if (pthread_join((pthread_t)thr, &r))
                return thrd_error;
        if (res)
                *res = (int)(intptr_t)r;
        return thrd_success;
}

int thrd_detach(thrd_t thr)
{
        return pthread_detach((pthread_t)thr) ? thrd_error : thrd_success;
}

int mtx_init(mtx_t *mtx, int type)
{
        pthread_mutexattr_t attr;
        int r;

        pthread_mutexattr_init(&attr);
        if (type & mtx_recursive)
                pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
        r = pthread_mutex_init((pthread_mutex_t *)mtx, &attr);
        pthread_mutexattr_destroy(&attr);
        return r ? thrd_error : thrd_success;
}

void mtx_destroy(mtx_t *mtx)
{
        pthread_mutex_destroy((pthread_mutex_t *)mtx);
}

int mtx_lock(mtx_t *mtx)
{
        return pthread_mutex_lock((pthread_mutex_t *)mtx) ? thrd_error : thrd_success;
}

int mtx_trylock(mtx_t *mtx)
{
        int r = pthread_mutex_trylock((pthread_mutex_t *)mtx);
        return !r ? thrd_success : r == EBUSY ? thrd_busy : thrd_error;
}

int mtx_unlock(mtx_t *mtx)
{
        return pthread_mutex_unlock((pthread_mutex_t *)mtx) ? thrd_error : thrd_success;
}

int cnd_init(cnd_t *cnd)
{
        int r = pthread_cond_init((pthread_cond_t *)cnd, NULL);
        return !r ? thrd_success : r == ENOMEM ? thrd_nomem : thrd_error;
}

void cnd_destroy(cnd_t *cnd)
{
        pthread_cond_destroy((pthread_cond_t *)cnd);
}

int cnd_signal(cnd_t *cnd)
{
        return pthread_cond_signal((pthread_cond_t *)cnd) ? thrd_error : thrd_success;
}

int cnd_broadcast(cnd_t *cnd)
{
        return pthread_cond_broadcast((pthread_cond_t *)cnd) ? thrd_error : thrd_success;
}

int cnd_wait(cnd_t *cnd, mtx_t *mtx)
{
        return pthread_cond_wait((pthread_cond_t *)cnd, (pthread_mutex_t *)mtx) ? thrd_error
                                                                                : thrd_success;
}

int cnd_timedwait(cnd_t *restrict cnd, mtx_t *restrict mtx, const struct timespec *restrict ts)
{
        int r = pthread_cond_timedwait((pthread_cond_t *)cnd, (pthread_mutex_t *)mtx, ts);
        return !r ? thrd_success : r == ETIMEDOUT ? thrd_timedout : thrd_error;
}
#endif /* __SANITIZE_THREAD__ */
