/* plan_request_plain.c — a what-if body in its plain form read straight into a request, without
 * building a jansson tree first. */
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/err.h"
#include "base/util.h"
#include "planner/plan_json.h"

/*
 * Why: under wrk, json_loadb of the 220-byte what-if body was 15% of the server's CPU and
 * kp_plan_request_parse's walk of the tree 8% (docs/BENCHMARKS.md, issue 17). This reads
 * the common form in one pass and gives up, leaving the body to the general path, on
 * anything it does not take: so every answer, error or not, is the general path's.
 *
 * Taken: one object with "topics" (a non-empty array of objects with "topic",
 * "partitions" and optionally "cluster"), "parallelism" and optionally "strategy" and
 * "rebalance", each once; strings of printable ASCII without escapes; integers without
 * sign, leading zero, fraction or exponent; JSON whitespace; nothing after the object.
 * The values must be ones kp_plan_request_parse accepts; "weights" is left to it.
 */

typedef struct rd {
        const char *p, *end;
} rd_t;

static void ws(rd_t *r)
{
        while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
                r->p++;
}

/* Consumes @p c after whitespace. @returns 1 when it was there. */
static int eat(rd_t *r, char c)
{
        ws(r);
        if (r->p < r->end && *r->p == c) {
                r->p++;
                return 1;
        }
        return 0;
}

/* A plain string, in place: @returns 0 with its bytes at *@p sp (*@p lenp of them, the
 * quotes left out), or -1 when it is not plain. */
static int span(rd_t *r, const char **sp, size_t *lenp)
{
        if (!eat(r, '"'))
                return -1;
        const char *s = r->p;
        while (r->p < r->end && *r->p != '"') {
                unsigned char c = (unsigned char)*r->p;
                if (c < 0x20 || c > 0x7e || c == '\\')
                        return -1;
                r->p++;
        }
        if (r->p == r->end)
                return -1;
        *sp = s;
        *lenp = (size_t)(r->p++ - s);
        return 0;
}

/* A plain string: @returns a NUL-terminated copy, or NULL (not plain, or no memory). */
static char *str(rd_t *r)
{
        const char *s;
        size_t len;
        return span(r, &s, &len) ? NULL : strndup(s, len);
}

/* A key and its colon: @returns the index of the key in @p keys, or -1. Compared where it
 * lies: a copy per key was a tenth of the parse. */
static int key(rd_t *r, const char *const *keys)
{
        const char *k;
        size_t len;
        if (span(r, &k, &len) || !eat(r, ':'))
                return -1;
        /* a plain string holds no NUL: equal over len bytes, keys[i] has len of them */
        for (int i = 0; keys[i]; i++)
                if (!strncmp(keys[i], k, len) && !keys[i][len])
                        return i;
        return -1;
}

/* A plain integer in 1..@p max, or -1. */
static int64_t num(rd_t *r, int64_t max)
{
        int64_t v = 0;
        int digits = 0;
        ws(r);
        if (r->p < r->end && *r->p == '0')
                return -1;
        while (r->p < r->end && *r->p >= '0' && *r->p <= '9' && digits < 12) {
                v = v * 10 + (*r->p++ - '0');
                digits++;
        }
        if (!digits || (r->p < r->end && (*r->p == '.' || *r->p == 'e' || *r->p == 'E' ||
                                          (*r->p >= '0' && *r->p <= '9'))))
                return -1;
        return v >= 1 && v <= max ? v : -1;
}

/* One topics[] entry into @p t (owning its strings). @returns 0, or 1: not plain. */
static int topic(rd_t *r, kp_plan_topic_t *t)
{
        static const char *const keys[] = {"cluster", "topic", "partitions", NULL};
        int seen = 0;
        if (!eat(r, '{'))
                return 1;
        do {
                int k = key(r, keys);
                if (k < 0 || seen & (1 << k))
                        return 1;
                seen |= 1 << k;
                if (k == 2) {
                        int64_t p = num(r, KP_PARTITIONS_PER_TOPIC_MAX);
                        if (p < 0)
                                return 1;
                        t->partitions = (int32_t)p;
                        continue;
                }
                char *s = str(r);
                if (!s || !(k == 0 ? kp_name_valid(s) : kp_topic_name_valid(s))) {
                        free(s);
                        return 1;
                }
                *(k == 0 ? &t->cluster : &t->topic) = s;
        } while (eat(r, ','));
        if (!eat(r, '}') || (seen & 6) != 6)
                return 1;
        if (!t->cluster && !(t->cluster = strdup("default")))
                return 1;
        return 0;
}

static int pair_cmp(const void *a, const void *b)
{
        const kp_plan_topic_t *x = *(const kp_plan_topic_t *const *)a;
        const kp_plan_topic_t *y = *(const kp_plan_topic_t *const *)b;
        int c = strcmp(x->cluster, y->cluster);
        return c ? c : strcmp(x->topic, y->topic);
}

/* 1 when some (cluster, topic) is listed twice, or no memory to tell. */
static int topics_repeat(const kp_plan_topic_t *topics, size_t n)
{
        const kp_plan_topic_t **s = malloc(n * sizeof(*s));
        int rep = 0;
        if (!s)
                return 1;
        for (size_t i = 0; i < n; i++)
                s[i] = &topics[i];
        qsort(s, n, sizeof(*s), pair_cmp);
        for (size_t i = 1; i < n && !rep; i++)
                rep = !pair_cmp(&s[i - 1], &s[i]);
        free(s);
        return rep;
}

/* "topics": [...] into req. @returns 0, or 1: not plain (what was read stays in req). */
static int topics(rd_t *r, kp_plan_request_t *req)
{
        size_t cap = 4;
        int64_t total = 0;
        if (!eat(r, '[') || !(req->topics = calloc(cap, sizeof(*req->topics))))
                return 1;
        do {
                if (req->input.topic_cnt == cap) {
                        kp_plan_topic_t *more = realloc(req->topics, 2 * cap * sizeof(*more));
                        if (!more)
                                return 1;
                        memset(more + cap, 0, cap * sizeof(*more));
                        req->topics = more;
                        cap *= 2;
                }
                kp_plan_topic_t *t = &req->topics[req->input.topic_cnt++];
                if (topic(r, t))
                        return 1;
                total += t->partitions;
        } while (eat(r, ','));
        if (!eat(r, ']') || total > KP_PLAN_PARTITIONS_MAX)
                return 1;
        return topics_repeat(req->topics, req->input.topic_cnt);
}

/* One member of the body's object, key @p k. @returns 0, or 1: not plain. */
static int member(rd_t *r, int k, kp_plan_request_t *req)
{
        if (k == 0)
                return topics(r, req);
        if (k == 1) {
                int64_t v = num(r, KP_PARALLELISM_MAX);
                req->input.parallelism = (int32_t)v;
                return v < 0;
        }
        if (k == 3) {
                ws(r);
                if ((size_t)(r->end - r->p) >= 4 && !memcmp(r->p, "true", 4))
                        r->p += 4, req->input.rebalance = 1;
                else if ((size_t)(r->end - r->p) >= 5 && !memcmp(r->p, "false", 5))
                        r->p += 5;
                else
                        return 1;
                return 0;
        }
        char *s = str(r);
        int bad = !s || kp_strategy_parse(s, &req->input.strategy);
        free(s);
        return bad;
}

int kp_plan_request_parse_plain(const char *body, size_t len, kp_plan_request_t *req)
{
        static const char *const keys[] = {"topics", "parallelism", "strategy", "rebalance", NULL};
        rd_t r = {body, body + len};
        int seen = 0, k;
        memset(req, 0, sizeof(*req));
        req->input.strategy = KP_STRATEGY_BALANCED;
        if (!body || !eat(&r, '{'))
                goto plain_not;
        do {
                if ((k = key(&r, keys)) < 0 || seen & (1 << k))
                        goto plain_not;
                seen |= 1 << k;
                if (member(&r, k, req))
                        goto plain_not;
        } while (eat(&r, ','));
        if (!eat(&r, '}') || (seen & 3) != 3)
                goto plain_not;
        ws(&r);
        if (r.p != r.end)
                goto plain_not;
        req->input.topics = req->topics;
        return 0;
plain_not:
        kp_plan_request_cleanup(req);
        return 1;
}
