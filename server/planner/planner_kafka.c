/* planner_kafka.c — the placements of others, reproduced exactly: Flink's KafkaSource, Kafka's
 * Range and RoundRobin assignors. */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "planner/planner_int.h"

/* Java int arithmetic wraps; C's unsigned does the same, so hashes are computed in
 * uint32_t and converted at the end without relying on implementation-defined casts. */
static int32_t java_int(uint32_t h)
{
        if (h <= (uint32_t)INT32_MAX)
                return (int32_t)h;
        return (int32_t)(h - 2147483648u) - INT32_MAX - 1;
}

/*
 * Java's String.hashCode: h = 31 * h + c over UTF-16 code units. The topic name
 * reaches Java as bytes decoded by the JDK's UTF-8 decoder (String.decodeUTF8_UTF16),
 * which replaces each maximal ill-formed subpart by one U+FFFD, except that an encoded
 * surrogate (ED A0..BF xx) is one unit, replaced whole (or its first two bytes when the
 * third is not a continuation); supplementary characters become surrogate pairs.
 * Checked against Java 17 and 25 on 20,000 random byte strings. Cost: O(length).
 */
int32_t kp_java_string_hash(const char *utf8)
{
        const unsigned char *s = (const unsigned char *)utf8;
        uint32_t h = 0;
        size_t i = 0;
        if (!s)
                return 0;
        while (s[i]) {
                unsigned c = s[i];
                unsigned lo = 0x80, hi = 0xBF;
                uint32_t cp;
                int need, k;
                if (c < 0x80) {
                        h = h * 31u + c;
                        i++;
                        continue;
                }
                if (c >= 0xC2 && c <= 0xDF) {
                        need = 1;
                        cp = c & 0x1F;
                } else if (c >= 0xE0 && c <= 0xEF) {
                        need = 2;
                        cp = c & 0x0F;
                        if (c == 0xE0)
                                lo = 0xA0; /* overlong */
                        /* ED A0..BF (an encoded surrogate) is read whole like any other
                         * 3-byte sequence and then replaced: the JDK's decoder does so */
                } else if (c >= 0xF0 && c <= 0xF4) {
                        need = 3;
                        cp = c & 0x07;
                        if (c == 0xF0)
                                lo = 0x90; /* overlong */
                        if (c == 0xF4)
                                hi = 0x8F; /* above U+10FFFF */
                } else {
                        /* a continuation byte alone, C0/C1 (always overlong), F5..FF */
                        h = h * 31u + 0xFFFDu;
                        i++;
                        continue;
                }
                i++;
                for (k = 0; k < need; k++) {
                        unsigned b = s[i];
                        if (b < lo || b > hi) /* also stops at the terminating NUL */
                                break;
                        cp = (cp << 6) | (b & 0x3F);
                        i++;
                        lo = 0x80;
                        hi = 0xBF;
                }
                if (k < need) {
                        /* the valid prefix read so far is one maximal subpart */
                        h = h * 31u + 0xFFFDu;
                        continue;
                }
                if (cp >= 0xD800 && cp <= 0xDFFF) {
                        h = h * 31u + 0xFFFDu;
                } else if (cp >= 0x10000) {
                        cp -= 0x10000;
                        h = h * 31u + (0xD800u + (cp >> 10));
                        h = h * 31u + (0xDC00u + (cp & 0x3FF));
                } else {
                        h = h * 31u + cp;
                }
        }
        return java_int(h);
}

/* Flink's startIndex = ((topic.hashCode() * 31) & 0x7FFFFFFF) % numReaders, in Java
 * int arithmetic (the product wraps before the mask). */
static int32_t flink_start(int32_t hash, int32_t T)
{
        uint32_t x = ((uint32_t)hash * 31u) & 0x7FFFFFFFu;
        return (int32_t)(x % (uint32_t)T);
}

int32_t kp_flink_owner(const char *topic, int32_t partition, int32_t parallelism)
{
        if (parallelism < 1 || partition < 0)
                return -1;
        int64_t start = flink_start(kp_java_string_hash(topic), parallelism);
        return (int32_t)((start + partition) % parallelism);
}

/* Per topic: partition k goes to (start + k) % T; walked without a division per
 * partition. Topics of different clusters are placed by name alone, as Flink runs one
 * source (with the same T readers) per cluster. Cost: O(P + K * name length). */
int kp_planner_flink(const kp_plan_ctx_t *ctx, int32_t *owner)
{
        const kp_plan_input_t *in = ctx->in;
        int32_t T = ctx->T;
        for (size_t t = 0; t < in->topic_cnt; t++) {
                int32_t o = flink_start(kp_java_string_hash(in->topics[t].topic), T);
                int32_t *out = owner + ctx->offset[t];
                for (int32_t k = 0; k < in->topics[t].partitions; k++) {
                        out[k] = o;
                        if (++o == T)
                                o = 0;
                }
        }
        return 0;
}

void kp_planner_flink_counts(const kp_plan_topic_t *topics, size_t topic_cnt, int32_t T,
                             int64_t *counts)
{
        /* counts doubles as a difference array: counts[j] - counts[j-1] */
        int64_t base = 0;
        memset(counts, 0, (size_t)T * sizeof(*counts));
        for (size_t t = 0; t < topic_cnt; t++) {
                int32_t p = topics[t].partitions;
                int32_t s = flink_start(kp_java_string_hash(topics[t].topic), T);
                int32_t r = p % T;
                base += p / T;
                if (!r)
                        continue;
                counts[s]++;
                if (s + r < T) {
                        counts[s + r]--;
                } else {
                        /* wraps: [s, T) and [0, s + r - T) */
                        counts[0]++;
                        if (s + r - T < T)
                                counts[s + r - T]--;
                }
        }
        int64_t run = base;
        for (int32_t j = 0; j < T; j++) {
                run += counts[j];
                counts[j] = run;
        }
}

/* Kafka RangeAssignor per (topic, cluster): consumers 0..T-1 in order, n = p / T,
 * extra = p % T, consumer i takes n (+1 when i < extra) contiguous partitions. Units
 * are independent of each other, so their sort order does not change the result. */
int kp_planner_range(const kp_plan_ctx_t *ctx, int32_t *owner)
{
        const kp_plan_input_t *in = ctx->in;
        int64_t T = ctx->T;
        for (size_t t = 0; t < in->topic_cnt; t++) {
                int64_t p = in->topics[t].partitions;
                int64_t n = p / T, extra = p % T;
                int64_t split = extra * (n + 1); /* first partition of the "n" tasks */
                int32_t *out = owner + ctx->offset[t];
                for (int64_t k = 0; k < p; k++)
                        out[k] = (int32_t)(k < split ? k / (n + 1) : extra + (k - split) / n);
        }
        return 0;
}

typedef struct rr_key {
        const char *topic;
        const char *cluster;
        size_t idx;
} rr_key_t;

static int rr_cmp(const void *a, const void *b)
{
        const rr_key_t *x = a, *y = b;
        int c = strcmp(x->topic, y->topic);
        if (!c)
                c = strcmp(x->cluster ? x->cluster : "", y->cluster ? y->cluster : "");
        if (!c)
                c = (x->idx > y->idx) - (x->idx < y->idx);
        return c;
}

/* Kafka RoundRobinAssignor: every consumer subscribes to every topic, so the circular
 * consumer iterator never skips: the i-th partition in (topic, cluster, partition)
 * order goes to task i % T. Cost: O(K log K + P). */
int kp_planner_roundrobin(const kp_plan_ctx_t *ctx, int32_t *owner)
{
        const kp_plan_input_t *in = ctx->in;
        rr_key_t *keys = malloc(in->topic_cnt * sizeof(*keys));
        int32_t o = 0;
        if (!keys)
                return KP_ERR_NOMEM;
        for (size_t t = 0; t < in->topic_cnt; t++) {
                keys[t].topic = in->topics[t].topic;
                keys[t].cluster = in->topics[t].cluster;
                keys[t].idx = t;
        }
        qsort(keys, in->topic_cnt, sizeof(*keys), rr_cmp);
        for (size_t u = 0; u < in->topic_cnt; u++) {
                size_t t = keys[u].idx;
                int32_t *out = owner + ctx->offset[t];
                for (int32_t k = 0; k < in->topics[t].partitions; k++) {
                        out[k] = o;
                        if (++o == ctx->T)
                                o = 0;
                }
        }
        free(keys);
        return 0;
}
