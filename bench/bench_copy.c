/* bench_copy.c — the Kafka → Kafka copy benchmark's own tools: topics, the source's messages, and
 * the one counter every copier (kplane, MirrorMaker 2, kcat) is timed by. */
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * Usage:
 *   bench_copy create BOOTSTRAP PARTITIONS TOPIC...
 *       creates the topics (replication factor 1); one that exists already is fine
 *   bench_copy fill BOOTSTRAP TOPIC PARTITIONS COUNT
 *       COUNT values of 100 bytes, sequence number s (10 digits, then 'x's) to partition
 *       s % PARTITIONS, idempotent producer with acks=all
 *   bench_copy count BOOTSTRAP TOPIC PARTITIONS COUNT TIMEOUT_S [read_committed]
 *       reads every partition from the beginning until each sequence number 0..COUNT-1 was
 *       seen; prints "ready" on stderr once assigned (start the copier after it), then
 *       copy_count unique=<u> dups=<d> other=<o> first_ns=<t> p10_ns=<t> p90_ns=<t> last_ns=<t>
 *       (CLOCK_REALTIME: when the first message, a tenth and nine tenths of the set, and the
 *       one that completed it arrived, comparable with `date +%s%N` in the script that
 *       started the copier); BENCH_COPY_PROGRESS=1 adds a progress line a second on stderr
 * Exit: 0, 1 on error or when COUNT was not reached within TIMEOUT_S, 2 usage.
 */

#define VALUE_LEN  100
#define SEQ_DIGITS 10

static long long now_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static rd_kafka_t *client_new(rd_kafka_type_t type, const char *bootstrap, const char *const *kv)
{
        char errstr[512];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_t *rk;
        if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof(errstr)) ||
            rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr)))
                goto fail;
        for (; kv && kv[0]; kv += 2)
                if (rd_kafka_conf_set(conf, kv[0], kv[1], errstr, sizeof(errstr)))
                        goto fail;
        if ((rk = rd_kafka_new(type, conf, errstr, sizeof(errstr))))
                return rk;
fail:
        fprintf(stderr, "bench_copy: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return NULL;
}

static int topics_create(const char *bootstrap, int partitions, char **names, int n)
{
        char errstr[512];
        rd_kafka_t *rk = client_new(RD_KAFKA_PRODUCER, bootstrap, NULL);
        rd_kafka_NewTopic_t **nt = calloc((size_t)n, sizeof(*nt));
        rd_kafka_queue_t *q = rk ? rd_kafka_queue_new(rk) : NULL;
        rd_kafka_event_t *ev = NULL;
        int ret = 1;
        if (!rk || !nt || !q)
                goto out;
        for (int i = 0; i < n; i++)
                if (!(nt[i] = rd_kafka_NewTopic_new(names[i], partitions, 1, errstr,
                                                    sizeof(errstr)))) {
                        fprintf(stderr, "bench_copy: %s: %s\n", names[i], errstr);
                        goto out;
                }
        rd_kafka_CreateTopics(rk, nt, (size_t)n, NULL, q);
        ev = rd_kafka_queue_poll(q, 60000);
        const rd_kafka_CreateTopics_result_t *res =
                ev ? rd_kafka_event_CreateTopics_result(ev) : NULL;
        if (!res) {
                fprintf(stderr, "bench_copy: create: %s\n",
                        ev ? rd_kafka_event_error_string(ev) : "timed out");
                goto out;
        }
        size_t cnt;
        const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &cnt);
        ret = 0;
        for (size_t i = 0; i < cnt; i++) {
                rd_kafka_resp_err_t err = rd_kafka_topic_result_error(tr[i]);
                if (err && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                        fprintf(stderr, "bench_copy: %s: %s\n", rd_kafka_topic_result_name(tr[i]),
                                rd_kafka_topic_result_error_string(tr[i]));
                        ret = 1;
                }
        }
out:
        if (ev)
                rd_kafka_event_destroy(ev);
        for (int i = 0; nt && i < n; i++)
                if (nt[i])
                        rd_kafka_NewTopic_destroy(nt[i]);
        free(nt);
        if (q)
                rd_kafka_queue_destroy(q);
        if (rk)
                rd_kafka_destroy(rk);
        return ret;
}

static void value_make(char *v, long long seq)
{
        char digits[24];
        memset(v, 'x', VALUE_LEN);
        snprintf(digits, sizeof(digits), "%0*lld", SEQ_DIGITS, seq);
        memcpy(v, digits, SEQ_DIGITS);
}

static int fill(const char *bootstrap, const char *topic, int partitions, long long count)
{
        static const char *const kv[] = {
                "enable.idempotence", "true",    "linger.ms", "20", "batch.num.messages", "10000",
                "batch.size",         "1000000", NULL};
        rd_kafka_t *rk = client_new(RD_KAFKA_PRODUCER, bootstrap, kv);
        char v[VALUE_LEN];
        int ret = 0;
        if (!rk)
                return 1;
        for (long long s = 0; s < count && !ret;) {
                value_make(v, s);
                rd_kafka_resp_err_t err =
                        rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
                                          RD_KAFKA_V_PARTITION((int32_t)(s % partitions)),
                                          RD_KAFKA_V_VALUE(v, VALUE_LEN),
                                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
                if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                        rd_kafka_poll(rk, 10);
                        continue;
                }
                if (err) {
                        fprintf(stderr, "bench_copy: produce: %s\n", rd_kafka_err2str(err));
                        ret = 1;
                }
                rd_kafka_poll(rk, 0);
                s++;
        }
        if (rd_kafka_flush(rk, 120000) || rd_kafka_outq_len(rk)) {
                fprintf(stderr, "bench_copy: %d messages not delivered\n", rd_kafka_outq_len(rk));
                ret = 1;
        }
        rd_kafka_destroy(rk);
        return ret;
}

typedef struct counter {
        long long count, unique, dups, other, first_ns, last_ns;
        long long p10_ns, p90_ns; /* when a tenth, nine tenths of the set had arrived */
        long long progress_ns;    /* BENCH_COPY_PROGRESS: the last progress line */
        unsigned char *seen;      /* a bit per sequence number */
} counter_t;

static void counter_take(counter_t *c, const rd_kafka_message_t *m)
{
        const char *v = m->payload;
        long long seq = 0;
        if (!c->first_ns)
                c->first_ns = now_ns();
        for (int i = 0; i < SEQ_DIGITS && v && m->len >= SEQ_DIGITS; i++) {
                if (v[i] < '0' || v[i] > '9') {
                        v = NULL;
                        break;
                }
                seq = seq * 10 + (v[i] - '0');
        }
        if (!v || m->len < SEQ_DIGITS || seq >= c->count) {
                c->other++;
                return;
        }
        if (c->seen[seq >> 3] & (1u << (seq & 7))) {
                c->dups++;
                return;
        }
        c->seen[seq >> 3] |= (unsigned char)(1u << (seq & 7));
        if (++c->unique == c->count)
                c->last_ns = now_ns();
        if (c->unique == c->count / 10)
                c->p10_ns = now_ns();
        if (c->unique == c->count - c->count / 10)
                c->p90_ns = now_ns();
}

/* BENCH_COPY_PROGRESS=1: a line a second on stderr, to watch a copier ramp up. */
static void counter_progress(counter_t *c)
{
        long long t = now_ns();
        if (t - c->progress_ns < 1000000000LL)
                return;
        c->progress_ns = t;
        fprintf(stderr, "progress %lld.%03lld unique=%lld\n", t / 1000000000LL,
                (t / 1000000) % 1000, c->unique);
}

static int count(const char *bootstrap, const char *topic, int partitions, long long n,
                 double timeout_s, int committed)
{
        const char *kv[] = {"group.id",
                            "bench-copy-count",
                            "enable.auto.commit",
                            "false",
                            "fetch.wait.max.ms",
                            "50",
                            "isolation.level",
                            committed ? "read_committed" : "read_uncommitted",
                            NULL};
        counter_t c = {.count = n, .seen = calloc((size_t)n / 8 + 1, 1)};
        rd_kafka_t *rk = client_new(RD_KAFKA_CONSUMER, bootstrap, kv);
        rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(partitions);
        long long deadline = now_ns() + (long long)(timeout_s * 1e9);
        int ret = 1;
        for (int p = 0; p < partitions; p++)
                rd_kafka_topic_partition_list_add(parts, topic, p)->offset =
                        RD_KAFKA_OFFSET_BEGINNING;
        if (!rk || !c.seen || rd_kafka_assign(rk, parts))
                goto out;
        fprintf(stderr, "ready\n");
        const char *progress = getenv("BENCH_COPY_PROGRESS");
        while (c.unique < n && now_ns() < deadline) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
                if (progress && *progress == '1')
                        counter_progress(&c);
                if (!m)
                        continue;
                if (!m->err)
                        counter_take(&c, m);
                else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                        fprintf(stderr, "bench_copy: %s\n", rd_kafka_message_errstr(m));
                rd_kafka_message_destroy(m);
        }
        ret = c.unique < n;
        printf("copy_count unique=%lld dups=%lld other=%lld first_ns=%lld p10_ns=%lld p90_ns=%lld "
               "last_ns=%lld\n",
               c.unique, c.dups, c.other, c.first_ns, c.p10_ns, c.p90_ns, c.last_ns);
out:
        rd_kafka_topic_partition_list_destroy(parts);
        if (rk) {
                rd_kafka_consumer_close(rk);
                rd_kafka_destroy(rk);
        }
        free(c.seen);
        return ret;
}

int main(int argc, char **argv)
{
        if (argc >= 5 && !strcmp(argv[1], "create"))
                return topics_create(argv[2], atoi(argv[3]), argv + 4, argc - 4);
        if (argc == 6 && !strcmp(argv[1], "fill"))
                return fill(argv[2], argv[3], atoi(argv[4]), atoll(argv[5]));
        if ((argc == 7 || argc == 8) && !strcmp(argv[1], "count"))
                return count(argv[2], argv[3], atoi(argv[4]), atoll(argv[5]), atof(argv[6]),
                             argc == 8 && !strcmp(argv[7], "read_committed"));
        fprintf(stderr, "usage: bench_copy create BOOTSTRAP PARTITIONS TOPIC...\n"
                        "       bench_copy fill BOOTSTRAP TOPIC PARTITIONS COUNT\n"
                        "       bench_copy count BOOTSTRAP TOPIC PARTITIONS COUNT TIMEOUT_S "
                        "[read_committed]\n");
        return 2;
}
