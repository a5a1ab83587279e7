/* sink.c — the sink registry, the discard sink and base64 shared by the sinks. */
#include "sinks/sink.h"

#include "base/config.h"
#include "base/err.h"
#include "base/util.h"
#include "sinks/sink_kafka.h"
#include "sinks/sink_kinds.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct kp_sink_group {
        const kp_sink_ops_t *ops;
        json_t *conf; /* a copy; NULL: discard */
        void *state;
};

struct kp_sink {
        const kp_sink_ops_t *ops;
        kp_sink_group_t *group;
        void *state;
        /* Counters (kp_sink_stats_t), written under the caller's serialisation and read
         * from any thread. taken_at_flush: records_in when the last flush answered OK. */
        _Atomic int64_t records_in, bytes_in, failures, retries, dead_letters, refused;
        _Atomic int64_t taken_at_flush;
        kp_sink_t *dlq; /* where its refused records go (kp_sink_dead_letters_hold) */
};

/* Every kind a sink document may name; a new kind is one more line here. */
static const kp_sink_ops_t *const sink_kinds[] = {&kp_sink_discard_ops, &kp_sink_file_ops,
                                                  &kp_sink_http_ops, &kp_sink_kafka_ops};
/* Kinds added at start-up (kp_sink_kind_add). */
static const kp_sink_ops_t *sink_kinds_added[KP_SINK_KINDS_ADDED_MAX];
static size_t sink_nkinds_added;

static const kp_sink_ops_t *sink_kind_named(const char *type)
{
        size_t i;
        for (i = 0; i < sizeof(sink_kinds) / sizeof(sink_kinds[0]); i++)
                if (!strcmp(sink_kinds[i]->type, type))
                        return sink_kinds[i];
        for (i = 0; i < sink_nkinds_added; i++)
                if (!strcmp(sink_kinds_added[i]->type, type))
                        return sink_kinds_added[i];
        return NULL;
}

int kp_sink_kind_add(const kp_sink_ops_t *ops)
{
        if (sink_kind_named(ops->type))
                return KP_ERR_EXISTS;
        if (sink_nkinds_added == KP_SINK_KINDS_ADDED_MAX)
                return KP_ERR_TOO_LARGE;
        sink_kinds_added[sink_nkinds_added++] = ops;
        return 0;
}

/* Finds the kind named by @p conf's "type" (NULL conf: discard). */
static const kp_sink_ops_t *sink_kind(const json_t *conf, char *errstr, size_t errstr_size)
{
        const kp_sink_ops_t *ops;
        const char *type;

        if (!conf)
                return &kp_sink_discard_ops;
        if (!json_is_object(conf)) {
                snprintf(errstr, errstr_size, "sink: must be an object");
                return NULL;
        }
        type = json_string_value(json_object_get(conf, "type"));
        if (!type) {
                snprintf(errstr, errstr_size, "sink.type: must be a string");
                return NULL;
        }
        if (!(ops = sink_kind_named(type)))
                snprintf(errstr, errstr_size, "sink.type: unknown sink type \"%s\"", type);
        return ops;
}

int64_t kp_sink_max_in_flight_bytes(const json_t *conf)
{
        json_t *v = conf ? json_object_get(conf, "max_in_flight_bytes") : NULL;
        return json_is_integer(v) ? (int64_t)json_integer_value(v) : KP_SINK_IN_FLIGHT_DEFAULT;
}

/* Checks the fields common to every kind, then the kind's own on a copy without them
 * (a kind refuses fields it does not know). */
static int sink_validate_kind(const kp_sink_ops_t *ops, const json_t *conf, char *errstr,
                              size_t errstr_size)
{
        json_t *v = json_object_get(conf, "max_in_flight_bytes"), *own;
        int ret;

        if (!v)
                return ops->validate(conf, errstr, errstr_size);
        if (!json_is_integer(v) || json_integer_value(v) < KP_SINK_IN_FLIGHT_MIN ||
            json_integer_value(v) > KP_SINK_IN_FLIGHT_MAX) {
                snprintf(errstr, errstr_size,
                         "sink.max_in_flight_bytes: must be an integer from %lld to %lld",
                         (long long)KP_SINK_IN_FLIGHT_MIN, (long long)KP_SINK_IN_FLIGHT_MAX);
                return KP_ERR_INVALID;
        }
        if (!(own = json_copy((json_t *)conf))) {
                snprintf(errstr, errstr_size, "out of memory");
                return KP_ERR_NOMEM;
        }
        json_object_del(own, "max_in_flight_bytes");
        ret = ops->validate(own, errstr, errstr_size);
        json_decref(own);
        return ret;
}

/* The service this process is part of (KPLANE_SERVICE); set at start-up. */
static char sink_service[KP_NAME_MAX] = KP_COORD_SERVICE_DEFAULT;

int kp_sink_service_set(const char *service)
{
        if (!service || !kp_name_valid(service) || strlen(service) >= sizeof(sink_service))
                return KP_ERR_INVALID;
        snprintf(sink_service, sizeof(sink_service), "%s", service);
        return 0;
}

const char *kp_sink_service(void)
{
        return sink_service;
}

int kp_sink_group_validate(const json_t *conf, int rebalance, char *errstr, size_t errstr_size)
{
        if (!rebalance || !kp_sink_kafka_exactly_once(conf))
                return 0;
        snprintf(errstr, errstr_size,
                 "rebalance: must be false with a kafka sink's \"delivery\": \"exactly_once\" "
                 "(a transaction is one task's: a partition's records dealt over several tasks "
                 "cannot be committed exactly once, and a consumer-group rebalance cannot hand "
                 "an open transaction over)");
        return KP_ERR_INVALID;
}

int kp_sink_validate(const json_t *conf, char *errstr, size_t errstr_size)
{
        const kp_sink_ops_t *ops = sink_kind(conf, errstr, errstr_size);
        if (!ops)
                return KP_ERR_INVALID;
        return conf ? sink_validate_kind(ops, conf, errstr, errstr_size) : 0;
}

json_t *kp_sink_redact(const json_t *conf)
{
        char ignored[256];
        const kp_sink_ops_t *ops = conf ? sink_kind(conf, ignored, sizeof(ignored)) : NULL;
        if (!conf)
                return NULL;
        return ops && ops->redact ? ops->redact(conf) : json_deep_copy(conf);
}

void kp_sink_unredact(json_t *conf, const json_t *old)
{
        char ignored[256];
        const kp_sink_ops_t *ops = conf ? sink_kind(conf, ignored, sizeof(ignored)) : NULL;
        if (ops && ops->unredact && old && ops == sink_kind(old, ignored, sizeof(ignored)))
                ops->unredact(conf, old);
}

kp_sink_group_t *kp_sink_group_open(const json_t *conf, const char *group, char *errstr,
                                    size_t errstr_size)
{
        const kp_sink_ops_t *ops = sink_kind(conf, errstr, errstr_size);
        kp_sink_group_t *sg;

        if (!ops)
                return NULL;
        if (conf && sink_validate_kind(ops, conf, errstr, errstr_size))
                return NULL;
        sg = calloc(1, sizeof(*sg));
        if (!sg || (conf && !(sg->conf = json_deep_copy(conf)))) {
                free(sg);
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        sg->ops = ops;
        if (ops->group_open && ops->group_open(sg->conf, group, &sg->state, errstr, errstr_size)) {
                json_decref(sg->conf);
                free(sg);
                return NULL;
        }
        return sg;
}

void kp_sink_group_close(kp_sink_group_t *sg)
{
        if (!sg)
                return;
        if (sg->ops->group_close)
                sg->ops->group_close(sg->state);
        json_decref(sg->conf);
        free(sg);
}

kp_sink_t *kp_sink_open(kp_sink_group_t *sg, int task, char *errstr, size_t errstr_size)
{
        kp_sink_t *sink = calloc(1, sizeof(*sink));
        if (!sink) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        sink->ops = sg->ops;
        sink->group = sg;
        if (sg->ops->open(sg->conf, sg->state, task, &sink->state, errstr, errstr_size)) {
                free(sink);
                return NULL;
        }
        return sink;
}

static void sink_count(_Atomic int64_t *c, int64_t n)
{
        atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

kp_sink_status_t kp_sink_put(kp_sink_t *sink, const kp_sink_msg_t *msgs, size_t n, size_t *taken,
                             char *errstr, size_t errstr_size)
{
        int64_t bytes = 0;
        size_t i;

        *taken = 0;
        kp_sink_status_t st = sink->ops->put(sink->state, msgs, n, taken, errstr, errstr_size);
        if (st == KP_SINK_OK)
                *taken = n;
        else if (*taken > n)
                *taken = n;
        for (i = 0; i < *taken; i++)
                bytes += (int64_t)(msgs[i].key_len + msgs[i].value_len);
        sink_count(&sink->records_in, (int64_t)*taken);
        sink_count(&sink->bytes_in, bytes);
        if (st == KP_SINK_RETRY)
                sink_count(&sink->retries, 1);
        else if (st == KP_SINK_DEAD_LETTER)
                sink_count(&sink->dead_letters, 1);
        if (st == KP_SINK_DEAD_LETTER || st == KP_SINK_FATAL)
                sink_count(&sink->failures, 1);
        return st;
}

kp_sink_status_t kp_sink_flush(kp_sink_t *sink, int64_t deadline_ms, char *errstr,
                               size_t errstr_size)
{
        int64_t in = atomic_load_explicit(&sink->records_in, memory_order_relaxed);
        kp_sink_status_t st = sink->ops->flush(sink->state, deadline_ms, errstr, errstr_size);
        if (st == KP_SINK_OK)
                atomic_store_explicit(&sink->taken_at_flush, in, memory_order_relaxed);
        else if (st != KP_SINK_RETRY)
                sink_count(&sink->failures, 1);
        return st;
}

void kp_sink_precommit(kp_sink_t *sink, kp_sink_offset_t *offs, size_t n)
{
        size_t i;
        if (sink->ops->precommit) {
                if (n)
                        sink->ops->precommit(sink->state, offs, n);
        } else if (atomic_load_explicit(&sink->taken_at_flush, memory_order_relaxed) ==
                   atomic_load_explicit(&sink->records_in, memory_order_relaxed)) {
                for (i = 0; i < n; i++)
                        offs[i].acked = offs[i].taken;
        }
        for (i = 0; i < n; i++)
                if (offs[i].acked > offs[i].taken)
                        offs[i].acked = offs[i].taken;
}

int kp_sink_resume(kp_sink_group_t *sg, kp_sink_offset_t *offs, size_t n, char *errstr,
                   size_t errstr_size)
{
        for (size_t i = 0; i < n; i++)
                offs[i].acked = -1;
        if (!sg || !sg->ops->resume || !n)
                return 0;
        return sg->ops->resume(sg->state, offs, n, errstr, errstr_size);
}

void kp_sink_stats(kp_sink_t *sink, kp_sink_stats_t *out)
{
        out->records_in = atomic_load_explicit(&sink->records_in, memory_order_relaxed);
        out->bytes_in = atomic_load_explicit(&sink->bytes_in, memory_order_relaxed);
        out->failures = atomic_load_explicit(&sink->failures, memory_order_relaxed);
        out->retries = atomic_load_explicit(&sink->retries, memory_order_relaxed) +
                       (sink->ops->own_retries ? sink->ops->own_retries(sink->state) : 0);
        out->dead_letters = atomic_load_explicit(&sink->dead_letters, memory_order_relaxed);
        out->refused = atomic_load_explicit(&sink->refused, memory_order_relaxed);
        out->acked = sink->ops->acked
                             ? sink->ops->acked(sink->state)
                             : atomic_load_explicit(&sink->taken_at_flush, memory_order_relaxed);
        if (sink->dlq) {
                /* dead letters not yet acknowledged are still held: not done with */
                kp_sink_stats_t d;
                kp_sink_stats(sink->dlq, &d);
                out->refused -= d.in_flight < out->refused ? d.in_flight : out->refused;
        }
        int64_t done = out->acked + out->refused;
        out->in_flight = out->records_in > done ? out->records_in - done : 0;
}

int kp_sink_dead_letters_hold(kp_sink_t *sink, kp_sink_t *dlq)
{
        if (sink != dlq)
                sink->dlq = dlq;
        return 0;
}

void kp_sink_retry_error(kp_sink_t *sink, char *buf, size_t size)
{
        if (!size)
                return;
        buf[0] = '\0';
        if (sink && sink->ops->retry_error)
                sink->ops->retry_error(sink->state, buf, size);
}

size_t kp_sink_refused(kp_sink_t *sink, kp_sink_refused_t *out, size_t max)
{
        return sink->ops->refused && max ? sink->ops->refused(sink->state, out, max) : 0;
}

void kp_sink_refused_done(kp_sink_t *sink, size_t n)
{
        if (!n || !sink->ops->refused_done)
                return;
        sink->ops->refused_done(sink->state, n);
        sink_count(&sink->refused, (int64_t)n);
}

size_t kp_sink_msg_size(const kp_sink_msg_t *m)
{
        size_t size = sizeof(*m) + sizeof(kp_sink_header_t) * m->nheaders + strlen(m->cluster) +
                      strlen(m->topic) + 2 + m->key_len + m->value_len;
        for (size_t i = 0; i < m->nheaders; i++)
                size += strlen(m->headers[i].name) + 1 + m->headers[i].value_len;
        return (size + 7) & ~(size_t)7; /* the next copy in a buffer stays aligned */
}

/* Points @p d's fields into the bytes after it (the layout kp_sink_msg_copy writes), from
 * the lengths and the NULL-ness its fields had; @p src: where the bytes come from (NULL:
 * already there). */
static void msg_place(kp_sink_msg_t *d, const kp_sink_msg_t *src)
{
        kp_sink_header_t *h = (kp_sink_header_t *)(d + 1);
        char *o = (char *)(h + d->nheaders);
        size_t n;
#define PLACE(field, len)                                                                          \
        do {                                                                                       \
                n = (len);                                                                         \
                if (src && n)                                                                      \
                        memcpy(o, (src)->field, n);                                                \
                d->field = d->field ? o : NULL;                                                    \
                o += n;                                                                            \
        } while (0)
        PLACE(cluster, strlen(src ? src->cluster : o) + 1);
        PLACE(topic, strlen(src ? src->topic : o) + 1);
        PLACE(key, d->key_len);
        PLACE(value, d->value_len);
#undef PLACE
        for (size_t i = 0; i < d->nheaders; i++) {
                const kp_sink_header_t *sh = src ? &src->headers[i] : &h[i];
                n = strlen(src ? sh->name : o) + 1;
                if (src)
                        memcpy(o, sh->name, n), h[i] = *sh;
                h[i].name = o, o += n;
                if (src && sh->value_len)
                        memcpy(o, sh->value, sh->value_len);
                h[i].value = h[i].value ? o : NULL, o += h[i].value_len;
        }
        d->headers = d->nheaders ? h : NULL;
}

kp_sink_msg_t *kp_sink_msg_copy(void *at, const kp_sink_msg_t *m)
{
        kp_sink_msg_t *d = at;
        *d = *m;
        msg_place(d, m);
        return d;
}

void kp_sink_msg_rebase(kp_sink_msg_t *d)
{
        msg_place(d, NULL);
}

kp_sink_msg_t *kp_sink_msg_dup(const kp_sink_msg_t *m)
{
        void *at = malloc(kp_sink_msg_size(m));
        return at ? kp_sink_msg_copy(at, m) : NULL;
}

void kp_sink_close(kp_sink_t *sink)
{
        if (!sink)
                return;
        sink->ops->close(sink->state);
        free(sink);
}

const char *kp_sink_type(const kp_sink_t *sink)
{
        return sink->ops->type;
}

int kp_sink_reads_headers(const kp_sink_t *sink)
{
        return !sink->ops->ignores_headers;
}

/* Every pair of base64 characters, by the 12 bits they encode: one lookup and one 2-byte
 * store per 12 bits instead of two of each (base64 was the http sink's largest cost per
 * record). Built once. */
static uint16_t b64_pairs[4096];
static pthread_once_t b64_once = PTHREAD_ONCE_INIT;
static const char b64_tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void b64_pairs_build(void)
{
        for (unsigned v = 0; v < 4096; v++) {
                char two[2] = {b64_tbl[v >> 6], b64_tbl[v & 63]};
                memcpy(&b64_pairs[v], two, 2);
        }
}

size_t kp_base64_encode(const void *data, size_t len, char *out)
{
        const unsigned char *in = data;
        size_t i, o = 0;

        pthread_once(&b64_once, b64_pairs_build);
        for (i = 0; i + 2 < len; i += 3, o += 4) {
                unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
                memcpy(out + o, &b64_pairs[v >> 12], 2);
                memcpy(out + o + 2, &b64_pairs[v & 4095], 2);
        }
        if (i < len) {
                unsigned v = (unsigned)in[i] << 16;
                if (i + 1 < len)
                        v |= (unsigned)in[i + 1] << 8;
                out[o++] = b64_tbl[v >> 18];
                out[o++] = b64_tbl[(v >> 12) & 63];
                out[o++] = i + 1 < len ? b64_tbl[(v >> 6) & 63] : '=';
                out[o++] = '=';
        }
        out[o] = '\0';
        return o;
}

/* discard: takes everything, keeps nothing; the runtime counts messages and bytes. */

static int discard_validate(const json_t *conf, char *errstr, size_t errstr_size)
{
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)conf, key, v)
        {
                if (strcmp(key, "type")) {
                        snprintf(errstr, errstr_size, "sink.%s: unknown field", key);
                        return KP_ERR_INVALID;
                }
        }
        return 0;
}

/* A discard task's state: the records it took, each acknowledged as it is taken, so its
 * status never shows records in flight between two commit rounds. */
typedef struct discard_task {
        _Atomic int64_t acked;
} discard_task_t;

static int discard_open(const json_t *conf, void *group, int task, void **statep, char *errstr,
                        size_t errstr_size)
{
        (void)conf, (void)group, (void)task;
        discard_task_t *t = calloc(1, sizeof(*t));
        if (!t) {
                snprintf(errstr, errstr_size, "out of memory");
                return KP_ERR_NOMEM;
        }
        *statep = t;
        return 0;
}

static kp_sink_status_t discard_put(void *state, const kp_sink_msg_t *msgs, size_t n, size_t *taken,
                                    char *errstr, size_t errstr_size)
{
        discard_task_t *t = state;
        (void)msgs, (void)errstr, (void)errstr_size;
        *taken = n;
        atomic_fetch_add_explicit(&t->acked, (int64_t)n, memory_order_relaxed);
        return KP_SINK_OK;
}

static kp_sink_status_t discard_flush(void *state, int64_t deadline_ms, char *errstr,
                                      size_t errstr_size)
{
        (void)state, (void)deadline_ms, (void)errstr, (void)errstr_size;
        return KP_SINK_OK;
}

static int64_t discard_acked(void *state)
{
        discard_task_t *t = state;
        return atomic_load_explicit(&t->acked, memory_order_relaxed);
}

static void discard_close(void *state)
{
        free(state);
}

/* Taking is acknowledging: nothing is kept, so there is nothing to lose. */
const kp_sink_ops_t kp_sink_discard_ops = {
        .type = "discard",
        .validate = discard_validate,
        .open = discard_open,
        .put = discard_put,
        .flush = discard_flush,
        .acked = discard_acked,
        .close = discard_close,
        .ignores_headers = 1,
};
