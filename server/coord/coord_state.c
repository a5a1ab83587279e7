/* coord_state.c — the service's state log: the leader's transactional writes, every instance's
 * applier. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "base/util.h"
#include "coord/coord_int.h"
#include "db/store_log.h"
#include "kafka/kafka.h"

/*
 * Kafka Connect's config topic (KafkaConfigBackingStore): one compacted partition, written
 * only by the leader with a transactional producer whose transactional.id is the service's,
 * read to its end by everyone. The applier thread reads it with read_committed from the
 * offset this database stored with its rows and applies each batch in one SQLite
 * transaction (kp_store_log_apply). A write on the leader (db/store_log.c) asks ready(): the
 * first write after it became leader runs init_transactions (which fences the previous
 * leader's producer: it can no longer commit) and appends a barrier record `leader/<id>`,
 * then waits until its applier passed the barrier — so every earlier record is applied
 * before it decides anything.
 */
struct kp_coord_state {
        kp_coord_t *c;
        kp_store_t *store;
        char txn_id[KP_COORD_ID_MAX + 32];
        rd_kafka_t *reader;   /* the applier's */
        rd_kafka_t *producer; /* the leader's, made by the first write it decides; writers only
                               * (serialised by the store's log lock) */
        pthread_t thread;
        int thread_started;
        int stop;          /* atomic */
        int apply_failing; /* logged once */

        pthread_mutex_t lock; /* next, with cond */
        pthread_cond_t cond;
        int64_t next; /* the offset after the last record applied */
};

/* ---- the applier ---- */

static void state_set_next(struct kp_coord_state *s, int64_t next)
{
        pthread_mutex_lock(&s->lock);
        s->next = next;
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->lock);
}

/* Applies @p msgs (n, in log order) in one transaction, retrying while the database is
 * busy and the applier is not stopped: a record skipped would be lost to this instance. */
static void apply_batch(struct kp_coord_state *s, rd_kafka_message_t **msgs, size_t n)
{
        kp_store_rec_t *recs = calloc(n, sizeof(*recs));
        char errstr[512];
        size_t k = 0;
        if (!recs)
                return; /* out of memory: the messages are dropped with the batch, see below */
        for (size_t i = 0; i < n; i++) {
                if (msgs[i]->err || !msgs[i]->key)
                        continue;
                recs[k].key = strndup(msgs[i]->key, msgs[i]->key_len);
                recs[k].value = msgs[i]->payload ? strndup(msgs[i]->payload, msgs[i]->len) : NULL;
                recs[k].value_len = msgs[i]->payload ? msgs[i]->len : 0;
                k++;
        }
        int64_t next = msgs[n - 1]->offset + 1;
        while (kp_store_log_apply(s->store, recs, k, next, errstr, sizeof(errstr))) {
                if (!s->apply_failing++)
                        fprintf(stderr, "kplane: state log: applying up to offset %lld: %s\n",
                                (long long)next, errstr);
                if (__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE))
                        goto out;
                usleep(KP_COORD_POLL_MS * 1000);
        }
        s->apply_failing = 0;
        state_set_next(s, next);
out:
        for (size_t i = 0; i < k; i++) {
                free(recs[i].key);
                free(recs[i].value);
        }
        free(recs);
}

static void *applier_main(void *arg)
{
        struct kp_coord_state *s = arg;
        rd_kafka_message_t *msgs[KP_COORD_STATE_BATCH];
        while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
                size_t n = 0;
                rd_kafka_message_t *m = rd_kafka_consumer_poll(s->reader, KP_COORD_POLL_MS);
                while (m) {
                        if (m->err) { /* a broker going away: librdkafka retries by itself */
                                rd_kafka_message_destroy(m);
                        } else {
                                msgs[n++] = m;
                                if (n == KP_COORD_STATE_BATCH)
                                        break;
                        }
                        m = rd_kafka_consumer_poll(s->reader, 0);
                }
                if (n)
                        apply_batch(s, msgs, n);
                for (size_t i = 0; i < n; i++)
                        rd_kafka_message_destroy(msgs[i]);
        }
        return NULL;
}

/* Delivery reports: each message's opaque is where its offset goes. */
static void state_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
        (void)rk, (void)opaque;
        int64_t *offsetp = m->_private;
        if (offsetp)
                *offsetp = m->err ? -2 : m->offset;
}

/* @returns a client of @p type with @p props (pairs, NULL-ended) or NULL with errstr. */
static rd_kafka_t *state_client(kp_coord_t *c, rd_kafka_type_t type, const char *const *props,
                                char *errstr, size_t errstr_size)
{
        char rderr[512];
        rd_kafka_conf_t *conf =
                kp_kafka_client_conf_new(c->bootstrap, c->config, errstr, errstr_size);
        if (!conf)
                return NULL;
        if (type == RD_KAFKA_PRODUCER)
                rd_kafka_conf_set_dr_msg_cb(conf, state_dr);
        for (size_t i = 0; props[i]; i += 2)
                if (rd_kafka_conf_set(conf, props[i], props[i + 1], errstr, errstr_size) !=
                    RD_KAFKA_CONF_OK) {
                        rd_kafka_conf_destroy(conf);
                        return NULL;
                }
        rd_kafka_t *rk = rd_kafka_new(type, conf, rderr, sizeof(rderr));
        if (!rk) {
                rd_kafka_conf_destroy(conf);
                snprintf(errstr, errstr_size, "state log client: %s", rderr);
        }
        return rk;
}

/* The reader of the state topic from @p next (0: its beginning). */
static int reader_open(struct kp_coord_state *s, int64_t next, char *errstr, size_t errstr_size)
{
        kp_coord_t *c = s->c;
        char group[sizeof(c->group) + 8], maxb[32];
        snprintf(group, sizeof(group), "%s-state", c->group); /* assign wants one; never joined */
        snprintf(maxb, sizeof(maxb), "%d", KP_COORD_STATE_RECORD_MAX);
        const char *props[] = {"client.id",
                               c->id,
                               "group.id",
                               group,
                               "enable.auto.commit",
                               "false",
                               "enable.partition.eof",
                               "false",
                               "auto.offset.reset",
                               "earliest",
                               "isolation.level",
                               "read_committed",
                               "max.partition.fetch.bytes",
                               maxb,
                               "fetch.max.bytes",
                               maxb,
                               "receive.message.max.bytes",
                               "134217728",
                               NULL};
        s->reader = state_client(c, RD_KAFKA_CONSUMER, props, errstr, errstr_size);
        if (!s->reader)
                return KP_ERR_INVALID;
        rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(parts, c->state_topic, 0)->offset =
                next > 0 ? next : RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_resp_err_t err = rd_kafka_assign(s->reader, parts);
        rd_kafka_topic_partition_list_destroy(parts);
        if (err) {
                snprintf(errstr, errstr_size, "read %s: %s", c->state_topic, rd_kafka_err2str(err));
                return KP_ERR_UNAVAILABLE;
        }
        return 0;
}

/* ---- the leader's writes (the store's log ops) ---- */

static void producer_drop(struct kp_coord_state *s)
{
        if (s->producer) {
                rd_kafka_destroy(s->producer);
                s->producer = NULL;
        }
}

/* Says why @p error failed @p what into errstr, frees it. @returns KP_ERR_UNAVAILABLE. */
static int txn_failed(rd_kafka_error_t *error, const char *what, char *errstr, size_t errstr_size)
{
        snprintf(errstr, errstr_size, "state log: %s: %s", what,
                 error ? rd_kafka_error_string(error) : "no delivery report");
        if (error)
                rd_kafka_error_destroy(error);
        return KP_ERR_UNAVAILABLE;
}

/* Produces @p recs in one transaction; *offsetp = the last one's offset. On failure the
 * producer is dropped (a fenced one is dead; any other is remade with a clean state). */
static int state_publish(void *ctx, const kp_store_rec_t *recs, size_t n, int64_t *offsetp,
                         char *errstr, size_t errstr_size)
{
        struct kp_coord_state *s = ctx;
        int64_t *offsets = n ? calloc(n, sizeof(*offsets)) : NULL;
        rd_kafka_error_t *error;
        int err = 0;
        if (!offsets)
                return n ? KP_ERR_NOMEM : KP_ERR_INVALID;
        if ((error = rd_kafka_begin_transaction(s->producer))) {
                err = txn_failed(error, "begin", errstr, errstr_size);
                goto out;
        }
        for (size_t i = 0; i < n; i++) {
                offsets[i] = -1;
                rd_kafka_resp_err_t e = rd_kafka_producev(
                        s->producer, RD_KAFKA_V_TOPIC(s->c->state_topic), RD_KAFKA_V_PARTITION(0),
                        RD_KAFKA_V_KEY(recs[i].key, strlen(recs[i].key)),
                        RD_KAFKA_V_VALUE(recs[i].value, recs[i].value_len),
                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(&offsets[i]),
                        RD_KAFKA_V_END);
                if (e) {
                        snprintf(errstr, errstr_size, "state log: produce: %s",
                                 rd_kafka_err2str(e));
                        err = KP_ERR_UNAVAILABLE;
                        goto out;
                }
        }
        if ((error = rd_kafka_commit_transaction(s->producer, KP_COORD_STATE_TIMEOUT_MS))) {
                err = txn_failed(error, "commit", errstr, errstr_size);
                goto out;
        }
        /* committed: every message was delivered; their reports are served here */
        int64_t deadline = kp_time_mono_ms() + KP_COORD_STATE_TIMEOUT_MS;
        while (offsets[n - 1] == -1 && kp_time_mono_ms() < deadline)
                rd_kafka_poll(s->producer, 10);
        if (offsets[n - 1] < 0)
                err = txn_failed(NULL, "commit", errstr, errstr_size);
        *offsetp = offsets[n - 1];
out:
        if (err)
                producer_drop(s);
        free(offsets);
        return err;
}

static int state_wait_next(struct kp_coord_state *s, int64_t next, int timeout_ms)
{
        int64_t deadline = kp_time_mono_ms() + timeout_ms;
        int reached;
        pthread_mutex_lock(&s->lock);
        while (!(reached = s->next >= next) && !__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
                int64_t left = deadline - kp_time_mono_ms();
                if (left <= 0)
                        break;
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                int64_t ns = ts.tv_nsec + (left < 100 ? left : 100) * 1000000LL;
                ts.tv_sec += (time_t)(ns / 1000000000LL);
                ts.tv_nsec = (long)(ns % 1000000000LL);
                pthread_cond_timedwait(&s->cond, &s->lock, &ts);
        }
        pthread_mutex_unlock(&s->lock);
        return reached ? 0 : KP_ERR_UNAVAILABLE;
}

static int state_wait(void *ctx, int64_t offset, char *errstr, size_t errstr_size)
{
        int err = state_wait_next(ctx, offset + 1, KP_COORD_STATE_TIMEOUT_MS);
        if (err)
                snprintf(errstr, errstr_size,
                         "the write is in the state log but not yet applied here (offset %lld)",
                         (long long)offset);
        return err;
}

/* The first write of a new leader: its producer (fencing the previous leader's) and the
 * barrier that proves this database applied everything before it. */
static int producer_open(struct kp_coord_state *s, char *errstr, size_t errstr_size)
{
        char maxb[32], timeout[32], value[KP_COORD_ID_MAX * 2 + 64], key[KP_COORD_ID_MAX * 3 + 16];
        snprintf(maxb, sizeof(maxb), "%d", KP_COORD_STATE_RECORD_MAX);
        snprintf(timeout, sizeof(timeout), "%d", KP_COORD_STATE_TIMEOUT_MS * 6);
        const char *props[] = {"client.id",
                               s->c->id,
                               "transactional.id",
                               s->txn_id,
                               "message.max.bytes",
                               maxb,
                               "transaction.timeout.ms",
                               timeout,
                               "linger.ms",
                               "0",
                               NULL};
        rd_kafka_error_t *error;
        int64_t offset;
        s->producer = state_client(s->c, RD_KAFKA_PRODUCER, props, errstr, errstr_size);
        if (!s->producer)
                return KP_ERR_UNAVAILABLE;
        if ((error = rd_kafka_init_transactions(s->producer, KP_COORD_STATE_TIMEOUT_MS))) {
                producer_drop(s);
                return txn_failed(error, "init_transactions", errstr, errstr_size);
        }
        kp_store_log_key(key, sizeof(key), "leader", s->c->id, NULL);
        snprintf(value, sizeof(value), "{\"instance\":\"%s\"}", s->c->id);
        kp_store_rec_t barrier = {key, value, strlen(value)};
        int err = state_publish(s, &barrier, 1, &offset, errstr, errstr_size);
        if (!err && (err = state_wait(s, offset, errstr, errstr_size)))
                producer_drop(s); /* the next write tries again */
        return err;
}

static int state_ready(void *ctx, char *errstr, size_t errstr_size)
{
        struct kp_coord_state *s = ctx;
        if (__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
                snprintf(errstr, errstr_size, "this instance is stopping");
                return KP_ERR_UNAVAILABLE;
        }
        if (!kp_coord_leads(s->c)) {
                producer_drop(s); /* a leader again later starts over: init, barrier */
                snprintf(errstr, errstr_size, "this instance is not the service's leader");
                return KP_ERR_UNAVAILABLE;
        }
        return s->producer ? 0 : producer_open(s, errstr, errstr_size);
}

/* ---- start, stop, reads ---- */

int kp_coord_state_open(kp_coord_t *c, kp_store_t *store, char *errstr, size_t errstr_size)
{
        struct kp_coord_state *s = calloc(1, sizeof(*s));
        int64_t next = 0;
        int err;
        if (!s)
                return KP_ERR_NOMEM;
        s->c = c;
        s->store = store;
        snprintf(s->txn_id, sizeof(s->txn_id), "%s-state", c->group);
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->cond, NULL);
        c->state = s;
        if ((err = kp_store_log_next(store, &next, errstr, errstr_size)) ||
            (err = reader_open(s, next, errstr, errstr_size)))
                return err;
        s->next = next;
        if (pthread_create(&s->thread, NULL, applier_main, s)) {
                snprintf(errstr, errstr_size, "cannot start the state log's applier");
                return KP_ERR_INTERNAL;
        }
        s->thread_started = 1;
        kp_store_log_ops_t ops = {state_ready, state_publish, state_wait, s};
        kp_store_set_log(store, &ops);
        return 0;
}

void kp_coord_state_close(kp_coord_t *c)
{
        struct kp_coord_state *s = c->state;
        if (!s)
                return;
        __atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
        state_set_next(s, s->next); /* wakes a writer waiting: it sees the stop */
        if (s->thread_started) {
                /* after the write in flight; later ones are refused */
                kp_store_log_refuse(s->store, "this instance is stopping");
                pthread_join(s->thread, NULL);
        }
        producer_drop(s);
        if (s->reader)
                rd_kafka_destroy_flags(s->reader, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
        pthread_cond_destroy(&s->cond);
        pthread_mutex_destroy(&s->lock);
        free(s);
        c->state = NULL;
}

int64_t kp_coord_state_next(kp_coord_t *c)
{
        struct kp_coord_state *s = c->state;
        if (!s)
                return -1;
        pthread_mutex_lock(&s->lock);
        int64_t next = s->next;
        pthread_mutex_unlock(&s->lock);
        return next;
}

int kp_coord_state_wait(kp_coord_t *c, int64_t next, int timeout_ms)
{
        return c->state ? state_wait_next(c->state, next, timeout_ms) : 0;
}
