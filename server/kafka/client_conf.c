/* client_conf.c — the allow-list of librdkafka properties clients may set, checked first. */
/*
 * A client's `config` reaches librdkafka inside kplane's process, with kplane's rights.
 * librdkafka has properties that are harmless to set for a Kafka client on one's own
 * machine but not for a service that takes them from whoever can call its API, so only
 * the properties a user needs to reach a cluster pass (the table below), and these
 * families are refused by name, before any rd_kafka_conf_set (some act *in* the set):
 *
 * - code loading: plugin.library.paths (dlopen), interceptors, ssl.engine.location,
 *   ssl.engine.id, ssl.providers (OpenSSL engines and providers are shared libraries; a
 *   library's constructor runs at once, and a provider that fails to load leaves
 *   OpenSSL's process-wide state broken for every later TLS client);
 * - commands: sasl.kerberos.kinit.cmd is run by a shell at client start and every
 *   relogin. The default command is kept, and what librdkafka pastes into it
 *   (sasl.kerberos.principal, sasl.kerberos.keytab) is held to a character set that a
 *   shell cannot read as anything but a word;
 * - server files: ssl.*.location, sasl.kerberos.keytab, ... open a path on the server
 *   (/etc/shadow is parsed, and a missing file answers differently from a present one).
 *   They are allowed only when the operator names a directory (KPLANE_CLIENT_FILES_DIR),
 *   and then only for paths whose realpath is under it; every other path gets one and
 *   the same refusal, whether or not it exists. offset.store.path (writes files) is off;
 *   an OIDC token URL must be http(s) (curl would read file://);
 * - logging: debug, log_level, log.* change what kplane writes to its log for every
 *   client (and debug logs protocol detail, SASL included).
 *
 * Like Kafka Connect's connector.client.config.override.policy, an operator may add
 * names at start-up (KPLANE_CLIENT_CONFIG_ALLOW); kplane's own properties (group.id, ...)
 * stay refused. Secrets may be `${env:KPLANE_SECRET_<NAME>}`: stored and answered as the
 * reference, resolved here only when a librdkafka conf is built.
 */
#include "kafka/client_conf.h"

#include "base/config.h"
#include "base/err.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* What a property's value is, so what must hold of it. */
typedef enum kp_cc_kind {
        KP_CC_PLAIN,  /* a number, flag or word; librdkafka judges it */
        KP_CC_ENUM,   /* one of librdkafka's fixed words (it judges which) */
        KP_CC_SECRET, /* shown as "******"; may be an ${env:KPLANE_SECRET_*} reference */
        KP_CC_FILE,   /* a path on the server: only under the files directory */
        KP_CC_CA,     /* a FILE, or "probe": the system CA store, no path of the client's */
        KP_CC_NAME,   /* a Kerberos name: pasted into the kinit command line */
        KP_CC_URL,    /* fetched by librdkafka's curl: http(s) only */
        KP_CC_OWNED,  /* kplane sets it itself: refused, never widened */
} kp_cc_kind_t;

typedef struct kp_cc_prop {
        const char *name;
        kp_cc_kind_t kind;
        unsigned clients; /* kp_client_kind_t bits of the clients it applies to */
} kp_cc_prop_t;

#define KP_CC_CON KP_CLIENT_CONSUMER
#define KP_CC_PRO KP_CLIENT_PRODUCER
#define KP_CC_ALL KP_CLIENT_ANY

/*
 * Every property a client config may hold (librdkafka 2.x CONFIGURATION.md; a name this
 * librdkafka lacks is then refused by librdkafka itself). A property a user needs to
 * reach or tune a cluster is one more line here, with the kind that says what must hold
 * of its value.
 */
static const kp_cc_prop_t kp_cc_props[] = {
        /* kplane's own: a user value would break membership, commits or the address */
        {"bootstrap.servers", KP_CC_OWNED, KP_CC_ALL},
        {"metadata.broker.list", KP_CC_OWNED, KP_CC_ALL},
        {"group.id", KP_CC_OWNED, KP_CC_ALL},
        {"enable.auto.commit", KP_CC_OWNED, KP_CC_ALL},
        {"auto.commit.enable", KP_CC_OWNED, KP_CC_ALL},
        {"enable.auto.offset.store", KP_CC_OWNED, KP_CC_ALL},
        /* identity, sizes, timeouts, sockets, reconnects */
        {"client.id", KP_CC_PLAIN, KP_CC_ALL},
        {"client.rack", KP_CC_PLAIN, KP_CC_ALL},
        {"message.max.bytes", KP_CC_PLAIN, KP_CC_ALL},
        {"message.copy.max.bytes", KP_CC_PLAIN, KP_CC_ALL},
        {"receive.message.max.bytes", KP_CC_PLAIN, KP_CC_ALL},
        {"max.in.flight.requests.per.connection", KP_CC_PLAIN, KP_CC_ALL},
        {"max.in.flight", KP_CC_PLAIN, KP_CC_ALL},
        {"topic.metadata.refresh.interval.ms", KP_CC_PLAIN, KP_CC_ALL},
        {"metadata.max.age.ms", KP_CC_PLAIN, KP_CC_ALL},
        {"topic.metadata.refresh.fast.interval.ms", KP_CC_PLAIN, KP_CC_ALL},
        {"topic.metadata.refresh.sparse", KP_CC_PLAIN, KP_CC_ALL},
        {"topic.metadata.propagation.max.ms", KP_CC_PLAIN, KP_CC_ALL},
        {"socket.timeout.ms", KP_CC_PLAIN, KP_CC_ALL},
        {"socket.send.buffer.bytes", KP_CC_PLAIN, KP_CC_ALL},
        {"socket.receive.buffer.bytes", KP_CC_PLAIN, KP_CC_ALL},
        {"socket.keepalive.enable", KP_CC_PLAIN, KP_CC_ALL},
        {"socket.nagle.disable", KP_CC_PLAIN, KP_CC_ALL},
        {"socket.max.fails", KP_CC_PLAIN, KP_CC_ALL},
        {"socket.connection.setup.timeout.ms", KP_CC_PLAIN, KP_CC_ALL},
        {"connections.max.idle.ms", KP_CC_PLAIN, KP_CC_ALL},
        {"broker.address.ttl", KP_CC_PLAIN, KP_CC_ALL},
        {"broker.address.family", KP_CC_ENUM, KP_CC_ALL},
        {"reconnect.backoff.ms", KP_CC_PLAIN, KP_CC_ALL},
        {"reconnect.backoff.max.ms", KP_CC_PLAIN, KP_CC_ALL},
        {"retry.backoff.ms", KP_CC_PLAIN, KP_CC_ALL},
        {"retry.backoff.max.ms", KP_CC_PLAIN, KP_CC_ALL},
        {"api.version.request", KP_CC_PLAIN, KP_CC_ALL},
        {"api.version.request.timeout.ms", KP_CC_PLAIN, KP_CC_ALL},
        {"api.version.fallback.ms", KP_CC_PLAIN, KP_CC_ALL},
        {"broker.version.fallback", KP_CC_PLAIN, KP_CC_ALL},
        /* transport security */
        {"security.protocol", KP_CC_ENUM, KP_CC_ALL},
        {"ssl.cipher.suites", KP_CC_PLAIN, KP_CC_ALL},
        {"ssl.curves.list", KP_CC_PLAIN, KP_CC_ALL},
        {"ssl.sigalgs.list", KP_CC_PLAIN, KP_CC_ALL},
        {"ssl.key.location", KP_CC_FILE, KP_CC_ALL},
        {"ssl.key.password", KP_CC_SECRET, KP_CC_ALL},
        {"ssl.key.pem", KP_CC_SECRET, KP_CC_ALL},
        {"ssl.certificate.location", KP_CC_FILE, KP_CC_ALL},
        {"ssl.certificate.pem", KP_CC_PLAIN, KP_CC_ALL},
        {"ssl.ca.location", KP_CC_CA, KP_CC_ALL},
        {"ssl.ca.pem", KP_CC_PLAIN, KP_CC_ALL},
        {"ssl.crl.location", KP_CC_FILE, KP_CC_ALL},
        {"ssl.keystore.location", KP_CC_FILE, KP_CC_ALL},
        {"ssl.keystore.password", KP_CC_SECRET, KP_CC_ALL},
        {"enable.ssl.certificate.verification", KP_CC_PLAIN, KP_CC_ALL},
        {"ssl.endpoint.identification.algorithm", KP_CC_ENUM, KP_CC_ALL},
        {"https.ca.location", KP_CC_CA, KP_CC_ALL},
        {"https.ca.pem", KP_CC_PLAIN, KP_CC_ALL},
        /* SASL */
        {"sasl.mechanisms", KP_CC_ENUM, KP_CC_ALL},
        {"sasl.mechanism", KP_CC_ENUM, KP_CC_ALL},
        {"sasl.username", KP_CC_PLAIN, KP_CC_ALL},
        {"sasl.password", KP_CC_SECRET, KP_CC_ALL},
        {"sasl.kerberos.service.name", KP_CC_NAME, KP_CC_ALL},
        {"sasl.kerberos.principal", KP_CC_NAME, KP_CC_ALL},
        {"sasl.kerberos.keytab", KP_CC_FILE, KP_CC_ALL},
        {"sasl.kerberos.min.time.before.relogin", KP_CC_PLAIN, KP_CC_ALL},
        {"sasl.oauthbearer.config", KP_CC_SECRET, KP_CC_ALL},
        {"enable.sasl.oauthbearer.unsecure.jwt", KP_CC_PLAIN, KP_CC_ALL},
        {"sasl.oauthbearer.method", KP_CC_ENUM, KP_CC_ALL},
        {"sasl.oauthbearer.client.id", KP_CC_PLAIN, KP_CC_ALL},
        {"sasl.oauthbearer.client.secret", KP_CC_SECRET, KP_CC_ALL},
        {"sasl.oauthbearer.scope", KP_CC_PLAIN, KP_CC_ALL},
        {"sasl.oauthbearer.extensions", KP_CC_PLAIN, KP_CC_ALL},
        {"sasl.oauthbearer.token.endpoint.url", KP_CC_URL, KP_CC_ALL},
        /* consumers: group timeouts, fetch sizes, isolation */
        {"session.timeout.ms", KP_CC_PLAIN, KP_CC_CON},
        {"heartbeat.interval.ms", KP_CC_PLAIN, KP_CC_CON},
        {"coordinator.query.interval.ms", KP_CC_PLAIN, KP_CC_CON},
        {"max.poll.interval.ms", KP_CC_PLAIN, KP_CC_CON},
        {"queued.min.messages", KP_CC_PLAIN, KP_CC_CON},
        {"queued.max.messages.kbytes", KP_CC_PLAIN, KP_CC_CON},
        {"fetch.wait.max.ms", KP_CC_PLAIN, KP_CC_CON},
        {"fetch.message.max.bytes", KP_CC_PLAIN, KP_CC_CON},
        {"max.partition.fetch.bytes", KP_CC_PLAIN, KP_CC_CON},
        {"fetch.max.bytes", KP_CC_PLAIN, KP_CC_CON},
        {"fetch.min.bytes", KP_CC_PLAIN, KP_CC_CON},
        {"fetch.error.backoff.ms", KP_CC_PLAIN, KP_CC_CON},
        {"fetch.queue.backoff.ms", KP_CC_PLAIN, KP_CC_CON},
        {"isolation.level", KP_CC_ENUM, KP_CC_CON},
        {"check.crcs", KP_CC_PLAIN, KP_CC_CON},
        {"auto.offset.reset", KP_CC_ENUM, KP_CC_CON},
        /* producers: acks, batching, compression, delivery timeouts */
        {"enable.idempotence", KP_CC_PLAIN, KP_CC_PRO},
        {"acks", KP_CC_PLAIN, KP_CC_PRO},
        {"request.required.acks", KP_CC_PLAIN, KP_CC_PRO},
        {"transaction.timeout.ms", KP_CC_PLAIN, KP_CC_PRO},
        {"queue.buffering.max.messages", KP_CC_PLAIN, KP_CC_PRO},
        {"queue.buffering.max.kbytes", KP_CC_PLAIN, KP_CC_PRO},
        {"queue.buffering.max.ms", KP_CC_PLAIN, KP_CC_PRO},
        {"queue.buffering.backpressure.threshold", KP_CC_PLAIN, KP_CC_PRO},
        {"linger.ms", KP_CC_PLAIN, KP_CC_PRO},
        {"message.send.max.retries", KP_CC_PLAIN, KP_CC_PRO},
        {"retries", KP_CC_PLAIN, KP_CC_PRO},
        {"compression.codec", KP_CC_ENUM, KP_CC_PRO},
        {"compression.type", KP_CC_ENUM, KP_CC_PRO},
        {"compression.level", KP_CC_PLAIN, KP_CC_PRO},
        {"batch.num.messages", KP_CC_PLAIN, KP_CC_PRO},
        {"batch.size", KP_CC_PLAIN, KP_CC_PRO},
        {"sticky.partitioning.linger.ms", KP_CC_PLAIN, KP_CC_PRO},
        {"request.timeout.ms", KP_CC_PLAIN, KP_CC_PRO},
        {"message.timeout.ms", KP_CC_PLAIN, KP_CC_PRO},
        {"delivery.timeout.ms", KP_CC_PLAIN, KP_CC_PRO},
        {"partitioner", KP_CC_ENUM, KP_CC_PRO},
};

/* Refused families, with the reason the answer gives (see the comment at the top). A name
 * ending in '.' is a prefix. */
static const char *const kp_cc_refused[][2] = {
        {"plugin.library.paths", "loads a shared library into kplane"},
        {"interceptors", "loads code into kplane"},
        {"ssl.engine.location", "loads an OpenSSL engine (a shared library) into kplane"},
        {"ssl.engine.id", "loads an OpenSSL engine into kplane"},
        {"ssl.providers", "loads OpenSSL providers (shared libraries) into kplane"},
        {"sasl.kerberos.kinit.cmd", "is a shell command librdkafka runs on kplane's host"},
        {"offset.store.path", "writes files on kplane's host"},
        {"debug", "changes kplane's logging"},
        {"log_level", "changes kplane's logging"},
        {"log.", "changes kplane's logging"},
};

/* API.md: a key containing one of these holds a secret, whatever else it is. */
static const char *const kp_cc_secret_marks[] = {
        "password", "secret", "token", "sasl.oauthbearer.config", "ssl.key.pem", "ssl.keystore"};

/* Prefixes of the properties that say how a client authenticates or trusts a broker. */
static const char *const kp_cc_security_prefixes[] = {"security.", "sasl.",       "ssl.",
                                                      "https.",    "enable.ssl.", "enable.sasl."};

struct kp_client_policy {
        char *allow[KP_CLIENT_ALLOW_MAX]; /* names added by the operator */
        size_t allow_cnt;
        char *files_dir;       /* realpath of the files directory; NULL: no file properties */
        char *files_dir_given; /* as the operator wrote it (a path may name it so) */
};

/* The built-in list, no files: what a context without a policy gets. */
static const kp_client_policy_t kp_cc_default_policy;
static kp_client_policy_t *kp_cc_installed;

#define KP_CC_COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* @returns the table entry of @p name, or NULL. */
static const kp_cc_prop_t *kp_cc_lookup(const char *name)
{
        size_t i;

        for (i = 0; i < KP_CC_COUNT(kp_cc_props); i++)
                if (!strcmp(kp_cc_props[i].name, name))
                        return &kp_cc_props[i];
        return NULL;
}

/* @returns 1 when kplane owns @p name (test.mock.* configures librdkafka's mock cluster,
 * which only kplane's embedded clusters may start). */
static int kp_cc_owned(const char *name)
{
        const kp_cc_prop_t *p = kp_cc_lookup(name);

        return !strncmp(name, "test.mock", 9) || (p && p->kind == KP_CC_OWNED);
}

/* @returns the reason @p name is refused, or NULL when it is not of a refused family. */
static const char *kp_cc_refused_reason(const char *name)
{
        size_t i, n;

        for (i = 0; i < KP_CC_COUNT(kp_cc_refused); i++) {
                n = strlen(kp_cc_refused[i][0]);
                if (kp_cc_refused[i][0][n - 1] == '.' ? !strncmp(name, kp_cc_refused[i][0], n)
                                                      : !strcmp(name, kp_cc_refused[i][0]))
                        return kp_cc_refused[i][1];
        }
        return NULL;
}

/* @returns 1 when the operator added @p name. */
static int kp_cc_widened(const kp_client_policy_t *policy, const char *name)
{
        size_t i;

        for (i = 0; i < policy->allow_cnt; i++)
                if (!strcmp(policy->allow[i], name))
                        return 1;
        return 0;
}

/* @returns 1 when @p name looks like a librdkafka property name. */
static int kp_cc_name_valid(const char *name)
{
        const char *c;

        if (!name[0])
                return 0;
        for (c = name; *c; c++)
                if (!islower((unsigned char)*c) && !isdigit((unsigned char)*c) && *c != '.' &&
                    *c != '_' && *c != '-')
                        return 0;
        return 1;
}

/* Adds the comma-separated names of @p allow to @p policy. */
static int kp_cc_policy_allow(kp_client_policy_t *policy, const char *allow, char *errstr,
                              size_t errstr_size)
{
        const char *p = allow, *end;
        char name[KP_CLIENT_ALLOW_NAME_MAX + 1];
        size_t n;

        while (p && *p) {
                while (*p == ',' || isspace((unsigned char)*p))
                        p++;
                for (end = p; *end && *end != ','; end++)
                        ;
                n = (size_t)(end - p);
                while (n && isspace((unsigned char)p[n - 1]))
                        n--;
                if (n) {
                        if (n >= sizeof(name)) {
                                snprintf(errstr, errstr_size,
                                         "KPLANE_CLIENT_CONFIG_ALLOW: a name is too long");
                                return KP_ERR_INVALID;
                        }
                        memcpy(name, p, n);
                        name[n] = '\0';
                        if (!kp_cc_name_valid(name)) {
                                snprintf(errstr, errstr_size,
                                         "KPLANE_CLIENT_CONFIG_ALLOW: %s is not a property name",
                                         name);
                                return KP_ERR_INVALID;
                        }
                        if (kp_cc_owned(name)) {
                                snprintf(errstr, errstr_size,
                                         "KPLANE_CLIENT_CONFIG_ALLOW: %s is set by kplane", name);
                                return KP_ERR_INVALID;
                        }
                        if (policy->allow_cnt == KP_CLIENT_ALLOW_MAX) {
                                snprintf(errstr, errstr_size,
                                         "KPLANE_CLIENT_CONFIG_ALLOW: more than %d names",
                                         KP_CLIENT_ALLOW_MAX);
                                return KP_ERR_INVALID;
                        }
                        if (!(policy->allow[policy->allow_cnt] = strdup(name))) {
                                snprintf(errstr, errstr_size, "out of memory");
                                return KP_ERR_NOMEM;
                        }
                        policy->allow_cnt++;
                }
                p = end;
        }
        return 0;
}

kp_client_policy_t *kp_client_policy_new(const char *allow, const char *files_dir, char *errstr,
                                         size_t errstr_size)
{
        kp_client_policy_t *policy = calloc(1, sizeof(*policy));

        if (!policy) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        if (kp_cc_policy_allow(policy, allow, errstr, errstr_size))
                goto fail;
        if (files_dir && files_dir[0]) {
                policy->files_dir = realpath(files_dir, NULL);
                if (!policy->files_dir) {
                        snprintf(errstr, errstr_size,
                                 "KPLANE_CLIENT_FILES_DIR: %s is not a directory kplane can read",
                                 files_dir);
                        goto fail;
                }
                policy->files_dir_given = strdup(files_dir);
                if (!policy->files_dir_given) {
                        snprintf(errstr, errstr_size, "out of memory");
                        goto fail;
                }
        }
        return policy;
fail:
        kp_client_policy_destroy(policy);
        return NULL;
}

void kp_client_policy_destroy(kp_client_policy_t *policy)
{
        size_t i;

        if (!policy)
                return;
        for (i = 0; i < policy->allow_cnt; i++)
                free(policy->allow[i]);
        free(policy->files_dir);
        free(policy->files_dir_given);
        free(policy);
}

void kp_client_policy_install(kp_client_policy_t *policy)
{
        kp_client_policy_destroy(kp_cc_installed);
        kp_cc_installed = policy;
}

int kp_client_policy_install_from_env(char *errstr, size_t errstr_size)
{
        kp_client_policy_t *policy =
                kp_client_policy_new(getenv("KPLANE_CLIENT_CONFIG_ALLOW"),
                                     getenv("KPLANE_CLIENT_FILES_DIR"), errstr, errstr_size);

        if (!policy)
                return KP_ERR_INVALID;
        kp_client_policy_install(policy);
        return 0;
}

/* The policy @p ctx names, else the installed one, else the built-in list. */
static const kp_client_policy_t *kp_cc_policy(const kp_client_conf_ctx_t *ctx)
{
        if (ctx && ctx->policy)
                return ctx->policy;
        return kp_cc_installed ? kp_cc_installed : &kp_cc_default_policy;
}

int kp_client_conf_secret(const char *name)
{
        const kp_cc_prop_t *p = kp_cc_lookup(name);
        size_t i;

        if (p && p->kind == KP_CC_SECRET)
                return 1;
        for (i = 0; i < KP_CC_COUNT(kp_cc_secret_marks); i++)
                if (strstr(name, kp_cc_secret_marks[i]))
                        return 1;
        return 0;
}

int kp_client_conf_security(const char *name)
{
        size_t i;

        for (i = 0; i < KP_CC_COUNT(kp_cc_security_prefixes); i++)
                if (!strncmp(name, kp_cc_security_prefixes[i], strlen(kp_cc_security_prefixes[i])))
                        return 1;
        return 0;
}

static int kp_cc_is_env_ref(const char *s)
{
        return !strncmp(s, "${env:", 6);
}

int kp_client_conf_env_ref(const json_t *value)
{
        return json_is_string(value) && kp_cc_is_env_ref(json_string_value(value));
}

/* Writes a JSON scalar as librdkafka expects it ("true", "500", "0.25").
 * @returns 0, or -1 for null, objects and arrays. */
static int kp_cc_scalar_text(const json_t *v, char *buf, size_t size)
{
        double d;
        int prec;

        switch (json_typeof(v)) {
        case JSON_STRING: snprintf(buf, size, "%s", json_string_value(v)); return 0;
        case JSON_INTEGER:
                snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
                return 0;
        case JSON_REAL:
                d = json_real_value(v);
                /* 500.0 must read as "500" for integer properties. */
                if (d == floor(d) && fabs(d) < 1e15) {
                        snprintf(buf, size, "%.0f", d);
                        return 0;
                }
                /* The shortest form that reads back the same (0.1, not 0.1000000000001). */
                for (prec = 15; prec <= 17; prec++) {
                        snprintf(buf, size, "%.*g", prec, d);
                        if (strtod(buf, NULL) == d)
                                break;
                }
                return 0;
        case JSON_TRUE: snprintf(buf, size, "true"); return 0;
        case JSON_FALSE: snprintf(buf, size, "false"); return 0;
        default: return -1;
        }
}

int kp_secret_env_resolve(const char *field, char *buf, size_t size, char *errstr,
                          size_t errstr_size)
{
        char var[KP_CLIENT_ENV_NAME_MAX + 1];
        const char *s = buf + 6, *end = strchr(s, '}'), *c, *value;
        size_t n;

        n = end ? (size_t)(end - s) : 0;
        if (!kp_cc_is_env_ref(buf) || !end || end[1] || !n || n > KP_CLIENT_ENV_NAME_MAX) {
                snprintf(errstr, errstr_size,
                         "%s: a reference is ${env:" KP_CLIENT_ENV_PREFIX "<NAME>}", field);
                return KP_ERR_INVALID;
        }
        memcpy(var, s, n);
        var[n] = '\0';
        for (c = var; *c; c++)
                if (!isupper((unsigned char)*c) && !isdigit((unsigned char)*c) && *c != '_')
                        break;
        if (*c || strncmp(var, KP_CLIENT_ENV_PREFIX, strlen(KP_CLIENT_ENV_PREFIX)) ||
            n == strlen(KP_CLIENT_ENV_PREFIX)) {
                snprintf(errstr, errstr_size,
                         "%s: may only reference a variable named " KP_CLIENT_ENV_PREFIX
                         "<NAME> (A-Z, 0-9, _)",
                         field);
                return KP_ERR_INVALID;
        }
        value = getenv(var);
        if (!value || !value[0]) {
                snprintf(errstr, errstr_size, "%s: environment variable %s is not set", field, var);
                return KP_ERR_INVALID;
        }
        if (strlen(value) >= size) {
                snprintf(errstr, errstr_size, "%s: %s is longer than %zu bytes", field, var,
                         size - 1);
                return KP_ERR_INVALID;
        }
        memcpy(buf, value, strlen(value) + 1);
        return 0;
}

/* Replaces the `${env:NAME}` reference in @p buf by the variable's value. */
static int kp_cc_env_resolve(const char *name, char *buf, size_t size, char *errstr,
                             size_t errstr_size)
{
        char field[256];

        if (!kp_client_conf_secret(name)) {
                snprintf(errstr, errstr_size,
                         "config.%s: only a secret property may be an ${env:...} reference", name);
                return KP_ERR_INVALID;
        }
        snprintf(field, sizeof(field), "config.%s", name);
        return kp_secret_env_resolve(field, buf, size, errstr, errstr_size);
}

/* Writes the absolute path @p in without "." and ".." into @p out, by its text alone (no
 * file system access). @returns 0, or -1 when it does not fit. */
static int kp_cc_path_normalise(const char *in, char *out, size_t size)
{
        const char *p = in, *s;
        size_t len = 0, n;

        out[0] = '\0';
        while (*p) {
                while (*p == '/')
                        p++;
                for (s = p; *p && *p != '/'; p++)
                        ;
                n = (size_t)(p - s);
                if (!n || (n == 1 && s[0] == '.'))
                        continue;
                if (n == 2 && s[0] == '.' && s[1] == '.') {
                        while (len && out[len - 1] != '/')
                                len--;
                        if (len)
                                len--;
                        out[len] = '\0';
                        continue;
                }
                if (len + n + 2 > size)
                        return -1;
                out[len++] = '/';
                memcpy(out + len, s, n);
                len += n;
                out[len] = '\0';
        }
        if (!len)
                snprintf(out, size, "/");
        return 0;
}

/* @returns 1 when @p path is @p dir or below it. */
static int kp_cc_path_under(const char *path, const char *dir)
{
        size_t n = strlen(dir);

        if (n == 1 && dir[0] == '/')
                return 1;
        return !strncmp(path, dir, n) && (path[n] == '/' || path[n] == '\0');
}

/* @returns 1 when a shell reads @p path as one plain word (librdkafka pastes the keytab
 * into the kinit command line). */
static int kp_cc_path_plain(const char *path)
{
        const char *c;

        for (c = path; *c; c++)
                if (!isalnum((unsigned char)*c) && !strchr("/._-+@=,", *c))
                        return 0;
        return 1;
}

/*
 * Resolves file path @p value (relative: to the files directory) into @p buf. Paths whose
 * text leaves the directory are refused before any file system call; the rest only once
 * realpath (symlinks, "..") lands under the directory's realpath on a file or directory.
 * @returns 0, or -1: one answer for every refusal, so it tells nothing about the file.
 */
static int kp_cc_file_resolve(const kp_client_policy_t *policy, const char *value, char *buf,
                              size_t size)
{
        char joined[PATH_MAX], norm[PATH_MAX];
        struct stat st;
        char *real;
        int n, ok;

        if (!value[0])
                return -1;
        n = value[0] == '/' ? snprintf(joined, sizeof(joined), "%s", value)
                            : snprintf(joined, sizeof(joined), "%s/%s", policy->files_dir, value);
        if (n < 0 || (size_t)n >= sizeof(joined) ||
            kp_cc_path_normalise(joined, norm, sizeof(norm)))
                return -1;
        if (!kp_cc_path_under(norm, policy->files_dir) &&
            !kp_cc_path_under(norm, policy->files_dir_given))
                return -1;
        real = realpath(norm, NULL);
        if (!real)
                return -1;
        ok = kp_cc_path_under(real, policy->files_dir) && kp_cc_path_plain(real) &&
             !stat(real, &st) && (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) &&
             strlen(real) < size;
        if (ok)
                memcpy(buf, real, strlen(real) + 1);
        free(real);
        return ok ? 0 : -1;
}

/* @returns 1 when Kerberos name @p s holds only characters a shell takes as a word. */
static int kp_cc_name_plain(const char *s)
{
        for (; *s; s++)
                if (!isalnum((unsigned char)*s) && !strchr("._/@-", *s))
                        return 0;
        return 1;
}

/* @returns 1 when @p s is an http(s) URL without blanks or control characters. */
static int kp_cc_url_web(const char *s)
{
        if (strncasecmp(s, "https://", 8) && strncasecmp(s, "http://", 7))
                return 0;
        for (; *s; s++)
                if ((unsigned char)*s <= ' ' || *s == 0x7f)
                        return 0;
        return 1;
}

/* Checks the text in @p buf against what @p prop's kind requires, resolving paths. */
static int kp_cc_kind_check(const kp_cc_prop_t *prop, const kp_client_policy_t *policy, char *buf,
                            size_t size, char *errstr, size_t errstr_size)
{
        switch (prop->kind) {
        case KP_CC_CA:
                /* librdkafka then tries the system's well-known CA bundle paths: no path
                 * of the client's, the answer says nothing about other files. */
                if (!strcmp(buf, "probe"))
                        return 0;
                /* fall through */
        case KP_CC_FILE:
                if (!policy->files_dir) {
                        snprintf(errstr, errstr_size,
                                 "config.%s: names a file on kplane's host; file properties are "
                                 "off (the operator has not set KPLANE_CLIENT_FILES_DIR)",
                                 prop->name);
                        return KP_ERR_INVALID;
                }
                if (kp_cc_file_resolve(policy, buf, buf, size)) {
                        snprintf(errstr, errstr_size,
                                 "config.%s: must name a file under the client files directory "
                                 "(KPLANE_CLIENT_FILES_DIR), its path of letters, digits and "
                                 "/._-+@=,",
                                 prop->name);
                        return KP_ERR_INVALID;
                }
                return 0;
        case KP_CC_NAME:
                if (!kp_cc_name_plain(buf)) {
                        snprintf(errstr, errstr_size,
                                 "config.%s: may hold only letters, digits and ._/@- (librdkafka "
                                 "puts it into the kinit command line)",
                                 prop->name);
                        return KP_ERR_INVALID;
                }
                return 0;
        case KP_CC_URL:
                if (!kp_cc_url_web(buf)) {
                        snprintf(errstr, errstr_size,
                                 "config.%s: must be an http:// or https:// URL", prop->name);
                        return KP_ERR_INVALID;
                }
                return 0;
        default: return 0;
        }
}

/* Writes the refusal of @p name, which is not in the table (nor added by the operator). */
static int kp_cc_refuse(const char *name, char *errstr, size_t errstr_size)
{
        const char *why = kp_cc_refused_reason(name);

        if (why)
                snprintf(errstr, errstr_size, "config.%s: refused: %s", name, why);
        else
                snprintf(errstr, errstr_size,
                         "config.%s: not a property kplane lets clients set (unknown to "
                         "librdkafka, or not needed to reach a cluster; an operator may allow it "
                         "with KPLANE_CLIENT_CONFIG_ALLOW)",
                         name);
        return KP_ERR_INVALID;
}

int kp_client_conf_value(const char *name, const json_t *value, const kp_client_conf_ctx_t *ctx,
                         char *buf, size_t size, int *from_env, char *errstr, size_t errstr_size)
{
        const kp_client_policy_t *policy = kp_cc_policy(ctx);
        unsigned clients = ctx ? ctx->clients : KP_CLIENT_ANY;
        const kp_cc_prop_t *prop = kp_cc_lookup(name);
        kp_cc_prop_t widened = {name, KP_CC_PLAIN, KP_CC_ALL};

        *from_env = 0;
        if (!name[0]) {
                snprintf(errstr, errstr_size, "config: empty property name");
                return KP_ERR_INVALID;
        }
        if (kp_cc_owned(name)) {
                snprintf(errstr, errstr_size, "config.%s: set by kplane, not configurable%s", name,
                         !strcmp(name, "bootstrap.servers") || !strcmp(name, "metadata.broker.list")
                                 ? " (use bootstrap_servers)"
                                 : "");
                return KP_ERR_INVALID;
        }
        if (!prop && kp_cc_widened(policy, name))
                prop = &widened;
        if (!prop)
                return kp_cc_refuse(name, errstr, errstr_size);
        if (!(prop->clients & clients)) {
                snprintf(errstr, errstr_size, "config.%s: a %s property, not for a %s", name,
                         prop->clients & KP_CLIENT_CONSUMER ? "consumer" : "producer",
                         clients & KP_CLIENT_CONSUMER ? "consumer" : "producer");
                return KP_ERR_INVALID;
        }
        if (kp_cc_scalar_text(value, buf, size)) {
                snprintf(errstr, errstr_size, "config.%s: must be a string, number or boolean",
                         name);
                return KP_ERR_INVALID;
        }
        if (json_is_string(value) && json_string_length(value) >= size) {
                snprintf(errstr, errstr_size, "config.%s: value longer than %zu bytes", name,
                         size - 1);
                return KP_ERR_INVALID;
        }
        if (json_is_string(value) && strlen(buf) != json_string_length(value)) {
                snprintf(errstr, errstr_size, "config.%s: holds a NUL character", name);
                return KP_ERR_INVALID;
        }
        if (kp_cc_is_env_ref(buf)) {
                *from_env = 1;
                return kp_cc_env_resolve(name, buf, size, errstr, errstr_size);
        }
        return kp_cc_kind_check(prop, policy, buf, size, errstr, errstr_size);
}

int kp_client_conf_check(const json_t *config, const kp_client_conf_ctx_t *ctx, char *errstr,
                         size_t errstr_size)
{
        char buf[KP_KAFKA_CONFIG_VALUE_MAX];
        const char *key;
        json_t *value;
        int err = 0, from_env;

        if (!config)
                return 0;
        if (!json_is_object(config)) {
                snprintf(errstr, errstr_size, "config: must be an object of properties");
                return KP_ERR_INVALID;
        }
        json_object_foreach((json_t *)config, key, value)
        {
                err = kp_client_conf_value(key, value, ctx, buf, sizeof(buf), &from_env, errstr,
                                           errstr_size);
                if (err)
                        break;
        }
        /* It may hold a secret from the environment: leave nothing of it on the stack. */
        explicit_bzero(buf, sizeof(buf));
        return err;
}
