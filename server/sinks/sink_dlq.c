/* sink_dlq.c — the "errors" document of a group and the dead letters' headers. */
#include "sinks/sink_dlq.h"

#include "base/err.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The headers a dead letter gets besides its own: see kp_sink_dead_letter_put. */
#define DLQ_HEADERS 6

/* kp_sink_validate's "sink.<field>: ..." as "errors.dead_letter.<field>: ...". */
static void dlq_field_rename(char *errstr, size_t errstr_size)
{
        char copy[512];
        if (strncmp(errstr, "sink", 4))
                return;
        snprintf(copy, sizeof(copy), "%s", errstr + 4);
        snprintf(errstr, errstr_size, "errors.dead_letter%s", copy);
}

static int dlq_validate(const json_t *dl, char *errstr, size_t errstr_size)
{
        const char *type = json_string_value(json_object_get(dl, "type"));
        int err;
        if (!json_is_object(dl)) {
                snprintf(errstr, errstr_size, "errors.dead_letter: must be a sink document");
                return KP_ERR_INVALID;
        }
        if (type && strcmp(type, "kafka") && strcmp(type, "file")) {
                snprintf(errstr, errstr_size,
                         "errors.dead_letter.type: must be \"kafka\" or \"file\" (a dead letter "
                         "must be kept, and kept as it was)");
                return KP_ERR_INVALID;
        }
        if (json_object_get(dl, "source_headers")) {
                snprintf(errstr, errstr_size,
                         "errors.dead_letter.source_headers: a dead letter always carries the "
                         "kplane.source.* headers");
                return KP_ERR_INVALID;
        }
        if ((err = kp_sink_validate(dl, errstr, errstr_size)))
                dlq_field_rename(errstr, errstr_size);
        return err;
}

int kp_sink_errors_validate(const json_t *errors, char *errstr, size_t errstr_size)
{
        const char *key, *tol;
        const json_t *v, *dl;
        if (!errors || json_is_null(errors))
                return 0;
        if (!json_is_object(errors)) {
                snprintf(errstr, errstr_size, "errors: must be an object");
                return KP_ERR_INVALID;
        }
        json_object_foreach((json_t *)errors, key, v)
        {
                if (strcmp(key, "tolerance") && strcmp(key, "dead_letter")) {
                        snprintf(errstr, errstr_size, "errors.%s: unknown field", key);
                        return KP_ERR_INVALID;
                }
        }
        v = json_object_get(errors, "tolerance");
        tol = json_string_value(v);
        if (v && (!tol || (strcmp(tol, "none") && strcmp(tol, "all")))) {
                snprintf(errstr, errstr_size, "errors.tolerance: must be \"none\" or \"all\"");
                return KP_ERR_INVALID;
        }
        dl = json_object_get(errors, "dead_letter");
        if (tol && !strcmp(tol, "all") && !dl) {
                snprintf(errstr, errstr_size,
                         "errors.dead_letter: required with tolerance \"all\" (a kafka or file "
                         "sink document)");
                return KP_ERR_INVALID;
        }
        if (dl && !(tol && !strcmp(tol, "all"))) {
                snprintf(errstr, errstr_size,
                         "errors.dead_letter: only with tolerance \"all\" (with \"none\" a "
                         "refused record fails its task)");
                return KP_ERR_INVALID;
        }
        return dl ? dlq_validate(dl, errstr, errstr_size) : 0;
}

int kp_sink_errors_tolerate(const json_t *errors)
{
        const char *tol = json_string_value(json_object_get(errors, "tolerance"));
        return tol && !strcmp(tol, "all");
}

const json_t *kp_sink_errors_dead_letter(const json_t *errors)
{
        const json_t *dl = json_object_get(errors, "dead_letter");
        return json_is_object(dl) ? dl : NULL;
}

json_t *kp_sink_errors_redact(const json_t *errors)
{
        json_t *copy, *dl;
        if (!errors)
                return NULL;
        copy = json_deep_copy(errors);
        dl = kp_sink_redact(json_object_get(errors, "dead_letter"));
        if (copy && dl)
                json_object_set_new(copy, "dead_letter", dl);
        else
                json_decref(dl);
        return copy;
}

void kp_sink_errors_unredact(json_t *errors, const json_t *old)
{
        json_t *dl = json_object_get(errors, "dead_letter");
        if (dl && old)
                kp_sink_unredact(dl, json_object_get(old, "dead_letter"));
}

/* The dead letter of @p r: its record with @p h (room for its headers and DLQ_HEADERS) as
 * headers, the numbers written into @p num (2 x 24 bytes). */
static void dlq_letter(const kp_sink_refused_t *r, kp_sink_msg_t *out, kp_sink_header_t *h,
                       char *num)
{
        const kp_sink_msg_t *m = &r->msg;
        size_t k = m->nheaders;
        if (k)
                memcpy(h, m->headers, sizeof(*h) * k);
        snprintf(num, 24, "%" PRId32, m->partition);
        snprintf(num + 24, 24, "%" PRId64, m->offset);
        const char *vals[DLQ_HEADERS] = {r->reason, r->status, m->cluster, m->topic, num, num + 24};
        static const char *const names[DLQ_HEADERS] = {
                "kplane.error.reason", "kplane.error.status",     "kplane.source.cluster",
                "kplane.source.topic", "kplane.source.partition", "kplane.source.offset"};
        for (int i = 0; i < DLQ_HEADERS; i++, k++)
                h[k] = (kp_sink_header_t){.name = names[i],
                                          .value = vals[i] ? vals[i] : "",
                                          .value_len = vals[i] ? strlen(vals[i]) : 0};
        *out = *m;
        out->headers = h;
        out->nheaders = k;
}

kp_sink_status_t kp_sink_dead_letter_put(kp_sink_t *dlq, const kp_sink_refused_t *recs, size_t n,
                                         size_t *taken, char *errstr, size_t errstr_size)
{
        size_t nh = 0, i, at = 0;
        kp_sink_status_t st;
        for (i = 0; i < n; i++)
                nh += recs[i].msg.nheaders + DLQ_HEADERS;
        kp_sink_msg_t *msgs = malloc(sizeof(*msgs) * (n ? n : 1));
        kp_sink_header_t *hdrs = malloc(sizeof(*hdrs) * (nh ? nh : 1));
        char *nums = malloc(48 * (n ? n : 1));
        *taken = 0;
        if (!msgs || !hdrs || !nums) {
                snprintf(errstr, errstr_size, "dead letters: out of memory");
                st = KP_SINK_FATAL;
                goto out;
        }
        for (i = 0; i < n; i++) {
                dlq_letter(&recs[i], &msgs[i], hdrs + at, nums + 48 * i);
                at += msgs[i].nheaders;
        }
        st = kp_sink_put(dlq, msgs, n, taken, errstr, errstr_size);
out:
        free(msgs);
        free(hdrs);
        free(nums);
        return st;
}
