/* sink.c — the sink registry, the discard sink and base64 shared by the sinks. */
#include "sinks/sink.h"

#include "base/err.h"
#include "sinks/sink_kinds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct kp_sink {
        const kp_sink_ops_t *ops;
        void *state;
};

/* Every kind a sink document may name; a new kind is one more line here. */
static const kp_sink_ops_t *const sink_kinds[] = {&kp_sink_discard_ops, &kp_sink_file_ops};

/* Finds the kind named by @p conf's "type" (NULL conf: discard). */
static const kp_sink_ops_t *sink_kind(const json_t *conf, char *errstr, size_t errstr_size)
{
        const char *type;
        size_t i;

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
        for (i = 0; i < sizeof(sink_kinds) / sizeof(sink_kinds[0]); i++)
                if (!strcmp(sink_kinds[i]->type, type))
                        return sink_kinds[i];
        snprintf(errstr, errstr_size, "sink.type: unknown sink type \"%s\"", type);
        return NULL;
}

int kp_sink_validate(const json_t *conf, char *errstr, size_t errstr_size)
{
        const kp_sink_ops_t *ops = sink_kind(conf, errstr, errstr_size);
        if (!ops)
                return KP_ERR_INVALID;
        return conf ? ops->validate(conf, errstr, errstr_size) : 0;
}

kp_sink_t *kp_sink_open(const json_t *conf, int task, char *errstr, size_t errstr_size)
{
        const kp_sink_ops_t *ops = sink_kind(conf, errstr, errstr_size);
        kp_sink_t *sink;

        if (!ops)
                return NULL;
        if (conf && ops->validate(conf, errstr, errstr_size))
                return NULL;
        sink = calloc(1, sizeof(*sink));
        if (!sink) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        sink->ops = ops;
        if (ops->open(conf, task, &sink->state, errstr, errstr_size)) {
                free(sink);
                return NULL;
        }
        return sink;
}

int kp_sink_write(kp_sink_t *sink, const kp_sink_msg_t *msg, char *errstr, size_t errstr_size)
{
        return sink->ops->write(sink->state, msg, errstr, errstr_size);
}

int kp_sink_flush(kp_sink_t *sink, char *errstr, size_t errstr_size)
{
        return sink->ops->flush(sink->state, errstr, errstr_size);
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

size_t kp_base64_encode(const void *data, size_t len, char *out)
{
        static const char tbl[] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const unsigned char *in = data;
        size_t i, o = 0;

        for (i = 0; i + 2 < len; i += 3) {
                unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
                out[o++] = tbl[v >> 18];
                out[o++] = tbl[(v >> 12) & 63];
                out[o++] = tbl[(v >> 6) & 63];
                out[o++] = tbl[v & 63];
        }
        if (i < len) {
                unsigned v = (unsigned)in[i] << 16;
                if (i + 1 < len)
                        v |= (unsigned)in[i + 1] << 8;
                out[o++] = tbl[v >> 18];
                out[o++] = tbl[(v >> 12) & 63];
                out[o++] = i + 1 < len ? tbl[(v >> 6) & 63] : '=';
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

static int discard_open(const json_t *conf, int task, void **statep, char *errstr,
                        size_t errstr_size)
{
        (void)conf, (void)task, (void)errstr, (void)errstr_size;
        *statep = NULL;
        return 0;
}

static int discard_write(void *state, const kp_sink_msg_t *msg, char *errstr, size_t errstr_size)
{
        (void)state, (void)msg, (void)errstr, (void)errstr_size;
        return 0;
}

static int discard_flush(void *state, char *errstr, size_t errstr_size)
{
        (void)state, (void)errstr, (void)errstr_size;
        return 0;
}

static void discard_close(void *state)
{
        (void)state;
}

const kp_sink_ops_t kp_sink_discard_ops = {
        .type = "discard",
        .validate = discard_validate,
        .open = discard_open,
        .write = discard_write,
        .flush = discard_flush,
        .close = discard_close,
};
