/* embedded.c — in-process Kafka clusters (librdkafka's mock cluster) and `kplane mock`. */
#include "kafka/embedded.h"

#include "base/config.h"
#include "base/err.h"
#include "kafka/kafka.h"
#include "base/util.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One running mock cluster. Its rd_kafka_t exists only to host the mock: the mock's
 * brokers run on their own thread and serve any Kafka client over TCP. */
typedef struct kp_embedded_cluster {
        char *name;
        rd_kafka_t *rk;
        rd_kafka_mock_cluster_t *mcluster;
        char *bootstrap;
        int brokers;
        long partitions; /* of all its topics, under the registry's lock */
        struct kp_embedded_cluster *next;
} kp_embedded_cluster_t;

struct kp_embedded {
        pthread_mutex_t lock; /* guards clusters and partitions */
        kp_embedded_cluster_t *clusters;
        /* partitions of every cluster, plus those reserved by starts under way */
        long partitions;
};

kp_embedded_t *kp_embedded_new(void)
{
        kp_embedded_t *emb = calloc(1, sizeof(*emb));

        if (!emb)
                return NULL;
        if (pthread_mutex_init(&emb->lock, NULL)) {
                free(emb);
                return NULL;
        }
        return emb;
}

/* Stops the mock's brokers (closing their connections) and frees @p c. NULL does
 * nothing. Costs a join of the mock thread; never call it with the registry locked. */
static void kp_embedded_cluster_destroy(kp_embedded_cluster_t *c)
{
        if (!c)
                return;
        if (c->mcluster)
                rd_kafka_mock_cluster_destroy(c->mcluster);
        if (c->rk)
                rd_kafka_destroy(c->rk);
        free(c->bootstrap);
        free(c->name);
        free(c);
}

static void *kp_embedded_cluster_destroy_thread(void *arg)
{
        kp_embedded_cluster_destroy(arg);
        return NULL;
}

void kp_embedded_destroy(kp_embedded_t *emb)
{
        kp_embedded_cluster_t *c, *next;
        pthread_t threads[KP_EMBEDDED_STOP_PARALLEL];
        int n = 0, i;

        if (!emb)
                return;
        /* Clusters stop side by side: librdkafka 2.0.2's idle mock took about 1 s to stop
         * (its thread noticed only at its next poll timeout); 2.14's stops at once, but a
         * library whose mock is slow again costs no more than one cluster's stop. */
        for (c = emb->clusters; c; c = next) {
                next = c->next;
                if (n < KP_EMBEDDED_STOP_PARALLEL &&
                    !pthread_create(&threads[n], NULL, kp_embedded_cluster_destroy_thread, c))
                        n++;
                else
                        kp_embedded_cluster_destroy(c);
        }
        for (i = 0; i < n; i++)
                pthread_join(threads[i], NULL);
        pthread_mutex_destroy(&emb->lock);
        free(emb);
}

/* Replication factor of embedded topics: one per broker, up to KP_EMBEDDED_REPLICATION_MAX. */
static int kp_embedded_replication(int brokers)
{
        return brokers < KP_EMBEDDED_REPLICATION_MAX ? brokers : KP_EMBEDDED_REPLICATION_MAX;
}

/* Checks a topic name and partition count for an embedded cluster. */
static int kp_embedded_topic_check(const char *topic, json_int_t partitions, char *errstr,
                                   size_t errstr_size)
{
        if (!kp_topic_name_valid(topic)) {
                snprintf(errstr, errstr_size, "topic name %s: must match " KP_TOPIC_NAME_RULE,
                         topic ? topic : "(null)");
                return KP_ERR_INVALID;
        }
        if (partitions < 1 || partitions > KP_EMBEDDED_PARTITIONS_MAX) {
                snprintf(errstr, errstr_size, "topic %s: partitions must be 1..%d", topic,
                         KP_EMBEDDED_PARTITIONS_MAX);
                return KP_ERR_INVALID;
        }
        return 0;
}

/*
 * Takes @p add partitions out of the process's embedded budget for cluster @p name, that
 * holds @p has already (0 when new) and gives back @p freed (a cluster it replaces).
 * Caller holds emb->lock. @returns 0 or KP_ERR_UNPROCESSABLE naming the limit.
 */
static int kp_embedded_reserve_locked(kp_embedded_t *emb, const char *name, long has, long add,
                                      long freed, char *errstr, size_t errstr_size)
{
        if (has + add > KP_EMBEDDED_CLUSTER_PARTITIONS_MAX) {
                snprintf(errstr, errstr_size,
                         "embedded cluster %s would hold %ld partitions: over the limit of %d "
                         "per embedded cluster",
                         name, has + add, KP_EMBEDDED_CLUSTER_PARTITIONS_MAX);
                return KP_ERR_UNPROCESSABLE;
        }
        if (emb->partitions - freed + add > KP_EMBEDDED_PROCESS_PARTITIONS_MAX) {
                snprintf(errstr, errstr_size,
                         "embedded clusters would hold %ld partitions in all: over the limit of "
                         "%d per process",
                         emb->partitions - freed + add, KP_EMBEDDED_PROCESS_PARTITIONS_MAX);
                return KP_ERR_UNPROCESSABLE;
        }
        emb->partitions += add;
        return 0;
}

/* Validates the "topics" array of kp_embedded_start() before anything is started;
 * *totalp = their partitions. */
static int kp_embedded_topics_check(const json_t *topics, long *totalp, char *errstr,
                                    size_t errstr_size)
{
        size_t i, j;
        int err;

        *totalp = 0;
        if (!topics)
                return 0;
        if (!json_is_array(topics)) {
                snprintf(errstr, errstr_size, "topics: must be an array");
                return KP_ERR_INVALID;
        }
        if (json_array_size(topics) > KP_EMBEDDED_TOPICS_MAX) {
                snprintf(errstr, errstr_size, "topics: more than %d", KP_EMBEDDED_TOPICS_MAX);
                return KP_ERR_INVALID;
        }
        for (i = 0; i < json_array_size(topics); i++) {
                const json_t *t = json_array_get(topics, i);
                const json_t *name = json_object_get(t, "name");
                const json_t *parts = json_object_get(t, "partitions");

                if (!json_is_object(t) || !json_is_string(name) || !json_is_integer(parts)) {
                        snprintf(errstr, errstr_size,
                                 "topics[%zu]: must be {\"name\": string, \"partitions\": int}", i);
                        return KP_ERR_INVALID;
                }
                err = kp_embedded_topic_check(json_string_value(name), json_integer_value(parts),
                                              errstr, errstr_size);
                if (err)
                        return err;
                *totalp += (long)json_integer_value(parts);
                for (j = 0; j < i; j++) {
                        const json_t *other = json_object_get(json_array_get(topics, j), "name");
                        if (!strcmp(json_string_value(other), json_string_value(name))) {
                                snprintf(errstr, errstr_size, "topics[%zu]: %s given twice", i,
                                         json_string_value(name));
                                return KP_ERR_INVALID;
                        }
                }
        }
        return 0;
}

/* Starts a mock cluster with @p topics (already validated).
 * @returns a new cluster, not yet in any registry, or NULL with errstr set. */
static kp_embedded_cluster_t *kp_embedded_cluster_new(const char *name, int brokers,
                                                      const json_t *topics, char *errstr,
                                                      size_t errstr_size)
{
        kp_embedded_cluster_t *c;
        rd_kafka_conf_t *conf;
        rd_kafka_resp_err_t rerr;
        const char *bootstrap;
        char rderr[256];
        size_t i;

        c = calloc(1, sizeof(*c));
        if (!c || !(c->name = strdup(name))) {
                snprintf(errstr, errstr_size, "out of memory");
                goto fail;
        }
        c->brokers = brokers;

        conf = kp_kafka_client_conf_new(NULL, NULL, errstr, errstr_size);
        if (!conf)
                goto fail;
        rd_kafka_conf_set(conf, "client.id", "kplane-embedded", rderr, sizeof(rderr));
        c->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, rderr, sizeof(rderr));
        if (!c->rk) {
                rd_kafka_conf_destroy(conf);
                snprintf(errstr, errstr_size, "embedded cluster %s: %s", name, rderr);
                goto fail;
        }
        conf = NULL; /* rd_kafka_new took it */

        c->mcluster = rd_kafka_mock_cluster_new(c->rk, brokers);
        if (!c->mcluster) {
                snprintf(errstr, errstr_size, "embedded cluster %s: could not start %d brokers",
                         name, brokers);
                goto fail;
        }
        bootstrap = rd_kafka_mock_cluster_bootstraps(c->mcluster);
        if (!bootstrap || !(c->bootstrap = strdup(bootstrap))) {
                snprintf(errstr, errstr_size, "out of memory");
                goto fail;
        }

        for (i = 0; topics && i < json_array_size(topics); i++) {
                const json_t *t = json_array_get(topics, i);
                const char *topic = json_string_value(json_object_get(t, "name"));
                int parts = (int)json_integer_value(json_object_get(t, "partitions"));

                rerr = rd_kafka_mock_topic_create(c->mcluster, topic, parts,
                                                  kp_embedded_replication(brokers));
                if (rerr) {
                        snprintf(errstr, errstr_size, "embedded cluster %s: topic %s: %s", name,
                                 topic, rd_kafka_err2str(rerr));
                        goto fail;
                }
        }
        return c;
fail:
        kp_embedded_cluster_destroy(c);
        return NULL;
}

/* @returns the cluster named @p name; the caller holds emb->lock. */
static kp_embedded_cluster_t *kp_embedded_find(kp_embedded_t *emb, const char *name)
{
        kp_embedded_cluster_t *c;

        for (c = emb->clusters; c; c = c->next)
                if (!strcmp(c->name, name))
                        return c;
        return NULL;
}

/* Unlinks and @returns the cluster named @p name, or NULL; the caller holds emb->lock. */
static kp_embedded_cluster_t *kp_embedded_unlink(kp_embedded_t *emb, const char *name)
{
        kp_embedded_cluster_t **pp, *c;

        for (pp = &emb->clusters; *pp; pp = &(*pp)->next) {
                if (!strcmp((*pp)->name, name)) {
                        c = *pp;
                        *pp = c->next;
                        c->next = NULL;
                        return c;
                }
        }
        return NULL;
}

int kp_embedded_start(kp_embedded_t *emb, const char *name, int brokers, const json_t *topics,
                      char **bootstrapp, char *errstr, size_t errstr_size)
{
        kp_embedded_cluster_t *c, *old;
        char *bootstrap = NULL;
        long total = 0;
        int err;

        if (bootstrapp)
                *bootstrapp = NULL;
        if (!kp_name_valid(name)) {
                snprintf(errstr, errstr_size, "name: must match " KP_NAME_RULE);
                return KP_ERR_INVALID;
        }
        if (brokers < 1 || brokers > KP_EMBEDDED_BROKERS_MAX) {
                snprintf(errstr, errstr_size, "brokers: must be 1..%d", KP_EMBEDDED_BROKERS_MAX);
                return KP_ERR_INVALID;
        }
        if ((err = kp_embedded_topics_check(topics, &total, errstr, errstr_size)))
                return err;
        /* The budget is taken before the mock exists (creating one is what costs), the
         * cluster it replaces counted as gone. */
        pthread_mutex_lock(&emb->lock);
        old = kp_embedded_find(emb, name);
        err = kp_embedded_reserve_locked(emb, name, 0, total, old ? old->partitions : 0, errstr,
                                         errstr_size);
        pthread_mutex_unlock(&emb->lock);
        if (err)
                return err;

        /* Started outside the lock: it binds sockets and spawns a thread. */
        c = kp_embedded_cluster_new(name, brokers, topics, errstr, errstr_size);
        if (c && bootstrapp && !(bootstrap = strdup(c->bootstrap))) {
                kp_embedded_cluster_destroy(c);
                c = NULL;
                snprintf(errstr, errstr_size, "out of memory");
                err = KP_ERR_NOMEM;
        }
        if (!c) {
                pthread_mutex_lock(&emb->lock);
                emb->partitions -= total;
                pthread_mutex_unlock(&emb->lock);
                return err ? err : KP_ERR_INTERNAL;
        }
        c->partitions = total;

        pthread_mutex_lock(&emb->lock);
        old = kp_embedded_unlink(emb, name);
        if (old)
                emb->partitions -= old->partitions;
        c->next = emb->clusters;
        emb->clusters = c;
        pthread_mutex_unlock(&emb->lock);

        kp_embedded_cluster_destroy(old);
        if (bootstrapp)
                *bootstrapp = bootstrap;
        return 0;
}

int kp_embedded_topic_create(kp_embedded_t *emb, const char *name, const char *topic,
                             int partitions, char *errstr, size_t errstr_size)
{
        kp_embedded_cluster_t *c;
        rd_kafka_resp_err_t rerr;
        int err;

        if ((err = kp_embedded_topic_check(topic, partitions, errstr, errstr_size)))
                return err;
        pthread_mutex_lock(&emb->lock);
        c = kp_embedded_find(emb, name);
        if (!c) {
                pthread_mutex_unlock(&emb->lock);
                snprintf(errstr, errstr_size, "embedded cluster %s: not running", name);
                return KP_ERR_NOT_FOUND;
        }
        if ((err = kp_embedded_reserve_locked(emb, name, c->partitions, partitions, 0, errstr,
                                              errstr_size))) {
                pthread_mutex_unlock(&emb->lock);
                return err;
        }
        /* Under the lock so the cluster cannot be stopped meanwhile; the call is one
         * round trip to the mock's thread. */
        rerr = rd_kafka_mock_topic_create(c->mcluster, topic, partitions,
                                          kp_embedded_replication(c->brokers));
        if (rerr)
                emb->partitions -= partitions;
        else
                c->partitions += partitions;
        pthread_mutex_unlock(&emb->lock);

        if (rerr == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                snprintf(errstr, errstr_size, "topic %s: already exists on %s", topic, name);
                return KP_ERR_EXISTS;
        }
        if (rerr) {
                snprintf(errstr, errstr_size, "topic %s: %s", topic, rd_kafka_err2str(rerr));
                return KP_ERR_INVALID;
        }
        return 0;
}

int kp_embedded_stop(kp_embedded_t *emb, const char *name)
{
        kp_embedded_cluster_t *c;

        pthread_mutex_lock(&emb->lock);
        c = kp_embedded_unlink(emb, name);
        if (c)
                emb->partitions -= c->partitions;
        pthread_mutex_unlock(&emb->lock);
        if (!c)
                return KP_ERR_NOT_FOUND;
        kp_embedded_cluster_destroy(c);
        return 0;
}

char *kp_embedded_bootstrap(kp_embedded_t *emb, const char *name)
{
        kp_embedded_cluster_t *c;
        char *bootstrap = NULL;

        pthread_mutex_lock(&emb->lock);
        c = kp_embedded_find(emb, name);
        if (c)
                bootstrap = strdup(c->bootstrap);
        pthread_mutex_unlock(&emb->lock);
        return bootstrap;
}

/* Finds running cluster @p name and checks @p broker_id against it, under emb->lock (held on
 * success, released on failure). */
static kp_embedded_cluster_t *kp_embedded_broker_lock(kp_embedded_t *emb, const char *name,
                                                      int broker_id, char *errstr,
                                                      size_t errstr_size)
{
        pthread_mutex_lock(&emb->lock);
        kp_embedded_cluster_t *c = kp_embedded_find(emb, name);
        if (!c) {
                pthread_mutex_unlock(&emb->lock);
                snprintf(errstr, errstr_size, "embedded cluster %s: not running", name);
                return NULL;
        }
        if (broker_id < 1 || broker_id > c->brokers) {
                pthread_mutex_unlock(&emb->lock);
                snprintf(errstr, errstr_size, "broker %d: %s has brokers 1..%d", broker_id, name,
                         c->brokers);
                return NULL;
        }
        return c;
}

int kp_embedded_broker_set_up(kp_embedded_t *emb, const char *name, int broker_id, int up,
                              char *errstr, size_t errstr_size)
{
        kp_embedded_cluster_t *c =
                kp_embedded_broker_lock(emb, name, broker_id, errstr, errstr_size);
        if (!c)
                return KP_ERR_NOT_FOUND;
        rd_kafka_resp_err_t rerr = up ? rd_kafka_mock_broker_set_up(c->mcluster, broker_id)
                                      : rd_kafka_mock_broker_set_down(c->mcluster, broker_id);
        pthread_mutex_unlock(&emb->lock);
        if (rerr) {
                snprintf(errstr, errstr_size, "broker %d: %s", broker_id, rd_kafka_err2str(rerr));
                return KP_ERR_INTERNAL;
        }
        return 0;
}

int kp_embedded_broker_set_rtt(kp_embedded_t *emb, const char *name, int broker_id, int rtt_ms,
                               char *errstr, size_t errstr_size)
{
        kp_embedded_cluster_t *c =
                kp_embedded_broker_lock(emb, name, broker_id, errstr, errstr_size);
        if (!c)
                return KP_ERR_NOT_FOUND;
        rd_kafka_resp_err_t rerr = rd_kafka_mock_broker_set_rtt(c->mcluster, broker_id, rtt_ms);
        pthread_mutex_unlock(&emb->lock);
        if (rerr) {
                snprintf(errstr, errstr_size, "broker %d: %s", broker_id, rd_kafka_err2str(rerr));
                return KP_ERR_INTERNAL;
        }
        return 0;
}

/*
 * `kplane mock`
 */

static volatile sig_atomic_t kp_embedded_mock_run = 1;

static void kp_embedded_mock_signal(int sig)
{
        (void)sig;
        kp_embedded_mock_run = 0;
}

static void kp_embedded_mock_usage(void)
{
        printf("usage: kplane mock [--brokers N] [--topic NAME:PARTITIONS]...\n"
               "\n"
               "Runs one in-memory Kafka cluster (librdkafka's mock cluster) in the\n"
               "foreground until SIGINT or SIGTERM. Any Kafka client can use it.\n"
               "\n"
               "  --brokers N              brokers, 1..%d (default 1)\n"
               "  --topic NAME:PARTITIONS  create a topic (repeatable)\n"
               "  -h, --help               this text\n"
               "\n"
               "The first line of stdout is the bootstrap address (host:port,...).\n"
               "Commands, one per line on stdin (each answers \"ok ...\" or\n"
               "\"error ...\" on a line of stdout; EOF on stdin is ignored):\n"
               "  down ID                  take broker ID (1..N) down\n"
               "  up ID                    bring broker ID up again\n"
               "  topic NAME:PARTITIONS    create a topic\n"
               "  stop                     stop the cluster and exit 0\n",
               KP_EMBEDDED_BROKERS_MAX);
}

/* Parses "NAME:PARTITIONS" into a {"name", "partitions"} object appended to @p topics. */
static int kp_embedded_mock_topic_arg(const char *arg, json_t *topics, char *errstr,
                                      size_t errstr_size)
{
        const char *colon = strrchr(arg, ':');
        char name[KP_TOPIC_NAME_MAX + 1];
        char *end;
        long parts;
        int err;

        if (!colon || (size_t)(colon - arg) > KP_TOPIC_NAME_MAX) {
                snprintf(errstr, errstr_size, "topic %s: expected NAME:PARTITIONS", arg);
                return KP_ERR_INVALID;
        }
        memcpy(name, arg, (size_t)(colon - arg));
        name[colon - arg] = '\0';
        errno = 0;
        parts = strtol(colon + 1, &end, 10);
        if (errno || end == colon + 1 || *end) {
                snprintf(errstr, errstr_size, "topic %s: partitions must be a number", arg);
                return KP_ERR_INVALID;
        }
        if ((err = kp_embedded_topic_check(name, parts, errstr, errstr_size)))
                return err;
        json_array_append_new(topics,
                              json_pack("{s:s, s:i}", "name", name, "partitions", (int)parts));
        return 0;
}

/* Runs one stdin command line of `kplane mock`, answering on stdout. */
static void kp_embedded_mock_command(kp_embedded_t *emb, char *line)
{
        char errstr[512];
        char *arg;
        json_t *topics;
        long id;
        int err = KP_ERR_INVALID;

        line[strcspn(line, "\r\n")] = '\0';
        arg = strchr(line, ' ');
        if (arg)
                *arg++ = '\0';
        snprintf(errstr, sizeof(errstr), "unknown command (down ID, up ID, topic N:P, stop)");
        if (!line[0]) {
                return;
        } else if ((!strcmp(line, "down") || !strcmp(line, "up")) && arg) {
                id = strtol(arg, NULL, 10);
                if (id < 1 || id > KP_EMBEDDED_BROKERS_MAX) /* no wrap-around into range */
                        id = 0;
                err = kp_embedded_broker_set_up(emb, "mock", (int)id, !strcmp(line, "up"), errstr,
                                                sizeof(errstr));
        } else if (!strcmp(line, "topic") && arg) {
                topics = json_array();
                err = kp_embedded_mock_topic_arg(arg, topics, errstr, sizeof(errstr));
                if (!err) {
                        const json_t *t = json_array_get(topics, 0);
                        err = kp_embedded_topic_create(
                                emb, "mock", json_string_value(json_object_get(t, "name")),
                                (int)json_integer_value(json_object_get(t, "partitions")), errstr,
                                sizeof(errstr));
                }
                json_decref(topics);
        } else if (!strcmp(line, "stop")) {
                kp_embedded_mock_run = 0;
                err = 0;
        }
        if (err)
                printf("error %s: %s\n", line, errstr);
        else
                printf("ok %s%s%s\n", line, arg ? " " : "", arg ? arg : "");
        fflush(stdout);
}

/* Reads `kplane mock`'s arguments into @p brokers and @p topics. @returns -1 to go on,
 * else the exit code: 0 after --help, 2 for a bad argument (said on stderr). */
static int kp_embedded_mock_args(int argc, char **argv, int *brokers, json_t *topics)
{
        char errstr[512];
        char *end;
        long n;

        for (int i = 0; i < argc; i++) {
                if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
                        kp_embedded_mock_usage();
                        return 0;
                } else if (!strcmp(argv[i], "--brokers") && i + 1 < argc) {
                        errno = 0;
                        n = strtol(argv[++i], &end, 10);
                        if (errno || *end || end == argv[i] || n < 1 ||
                            n > KP_EMBEDDED_BROKERS_MAX) {
                                fprintf(stderr, "kplane mock: --brokers must be 1..%d\n",
                                        KP_EMBEDDED_BROKERS_MAX);
                                return 2;
                        }
                        *brokers = (int)n;
                } else if (!strcmp(argv[i], "--topic") && i + 1 < argc) {
                        if (kp_embedded_mock_topic_arg(argv[++i], topics, errstr, sizeof(errstr))) {
                                fprintf(stderr, "kplane mock: --topic %s\n", errstr);
                                return 2;
                        }
                } else {
                        fprintf(stderr,
                                "kplane mock: unknown or incomplete argument %s "
                                "(see kplane mock --help)\n",
                                argv[i]);
                        return 2;
                }
        }
        return -1;
}

/* SIGINT and SIGTERM stop `kplane mock`; a gone reader of stdout or a background read of
 * the terminal do not. */
static void kp_embedded_mock_signals(void)
{
        struct sigaction sa;

        /* No SA_RESTART: a signal must interrupt poll() in kp_embedded_mock_serve. */
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = kp_embedded_mock_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        /* A reader of stdout that went away must not kill the cluster. */
        signal(SIGPIPE, SIG_IGN);
        /* Run in the background of an interactive shell (`kplane mock &`), reading the
         * terminal would stop us; ignored, the read fails (EIO) and stdin is let be. */
        signal(SIGTTIN, SIG_IGN);
}

/* stdin of `kplane mock`, cut into command lines. */
typedef struct kp_embedded_mock_input {
        char line[KP_EMBEDDED_MOCK_LINE_MAX + 1];
        size_t len;
        int skipping; /* a line over KP_EMBEDDED_MOCK_LINE_MAX: dropped up to its newline */
} kp_embedded_mock_input_t;

/* Runs each whole line in @p in; a line that outgrows the buffer is answered with an
 * error at once and its rest is dropped (never run as a command of its own). */
static void kp_embedded_mock_lines(kp_embedded_t *emb, kp_embedded_mock_input_t *in)
{
        char *nl;

        while ((nl = memchr(in->line, '\n', in->len))) {
                size_t used = (size_t)(nl - in->line) + 1;
                *nl = '\0';
                if (!in->skipping)
                        kp_embedded_mock_command(emb, in->line);
                in->skipping = 0;
                memmove(in->line, in->line + used, in->len - used);
                in->len -= used;
        }
        if (in->len == KP_EMBEDDED_MOCK_LINE_MAX) {
                if (!in->skipping) {
                        printf("error line: longer than %d bytes\n", KP_EMBEDDED_MOCK_LINE_MAX);
                        fflush(stdout);
                }
                in->skipping = 1;
                in->len = 0;
        }
}

/* Serves stdin commands until stopped (a signal or "stop"); after EOF only a signal. */
static void kp_embedded_mock_serve(kp_embedded_t *emb)
{
        kp_embedded_mock_input_t in = {.len = 0};
        struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
        int stdin_open = 1;
        ssize_t r;

        while (kp_embedded_mock_run) {
                if (!stdin_open) {
                        /* pause() could miss a signal that lands before it: poll a
                         * short while instead, with no descriptor. */
                        poll(NULL, 0, KP_EMBEDDED_MOCK_POLL_MS);
                        continue;
                }
                pfd.revents = 0;
                if (poll(&pfd, 1, KP_EMBEDDED_MOCK_POLL_MS) <= 0)
                        continue;
                r = read(STDIN_FILENO, in.line + in.len, KP_EMBEDDED_MOCK_LINE_MAX - in.len);
                if (r <= 0) {
                        if (r < 0 && errno == EINTR)
                                continue;
                        stdin_open = 0;
                        continue;
                }
                in.len += (size_t)r;
                kp_embedded_mock_lines(emb, &in);
        }
}

int kp_embedded_mock_main(int argc, char **argv)
{
        kp_embedded_t *emb = NULL;
        char *bootstrap = NULL;
        char errstr[512];
        int brokers = 1;
        int code;

        json_t *topics = json_array();
        if (!topics) {
                fprintf(stderr, "kplane mock: out of memory\n");
                return 1;
        }
        code = kp_embedded_mock_args(argc, argv, &brokers, topics);
        if (code >= 0)
                goto out;
        code = 0;
        kp_embedded_mock_signals();
        emb = kp_embedded_new();
        if (!emb) {
                fprintf(stderr, "kplane mock: out of memory\n");
                code = 1;
                goto out;
        }
        if (kp_embedded_start(emb, "mock", brokers, topics, &bootstrap, errstr, sizeof(errstr))) {
                fprintf(stderr, "kplane mock: %s\n", errstr);
                code = 1;
                goto out;
        }
        printf("%s\n", bootstrap);
        fflush(stdout);
        kp_embedded_mock_serve(emb);
out:
        kp_embedded_destroy(emb);
        free(bootstrap);
        json_decref(topics);
        return code;
}
