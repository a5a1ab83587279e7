/* main.c — the kplane command: serve (default), mock, plan, healthcheck, --version, --help. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "api/api.h"
#include "cli/cli_plan.h"
#include "kafka/client_conf.h"
#include "base/breaker.h"
#include "base/config.h"
#include "app/demo.h"
#include "app/discovery.h"
#include "kafka/embedded.h"
#include "base/err.h"
#include "api/handlers.h"
#include "http/http.h"
#include "runtime/runtime.h"
#include "sinks/sink.h"
#include "db/store.h"
#include "http/token.h"

static void usage(FILE *out)
{
        fprintf(out,
                "kplane %s — a control plane for Kafka consumption\n"
                "\n"
                "Usage:\n"
                "  kplane [serve] [--listen HOST:PORT] [--db PATH] [--demo]\n"
                "      Runs the REST service (default command).\n"
                "      --listen  KPLANE_LISTEN   address to listen on (default %s; port 0\n"
                "                                picks a free one, printed on stdout)\n"
                "      --db      KPLANE_DB       SQLite database (default %s)\n"
                "      --demo    KPLANE_DEMO=1   three embedded clusters, a group, a stream\n"
                "                KPLANE_API_TOKEN             require Bearer auth on /api/v1 "
                "(beyond\n"
                "                                             loopback one is generated when "
                "unset,\n"
                "                                             kept in api-token by the database)\n"
                "                KPLANE_INSECURE=1            with KPLANE_API_TOKEN= (empty): run "
                "open\n"
                "                                             on a public address\n"
                "                KPLANE_SINK_DIR              file sinks' directory (default %s)\n"
                "                KPLANE_MAX_TASKS             running tasks of all groups (default "
                "%d)\n"
                "                KPLANE_DISCOVERY_INTERVAL_S  partition re-discovery (default %d)\n"
                "                KPLANE_HTTP_THREADS          HTTP worker threads (default: one\n"
                "                                             per CPU, at least 2)\n"
                "                KPLANE_HTTP_CPU_THREADS      threads for heavy planning "
                "(default:\n"
                "                                             one per CPU but one; 0: none)\n"
                "                KPLANE_HTTP_CPU_QUEUE        heavy requests that may wait (%d)\n"
                "                KPLANE_HISTORY_SAMPLES       a group's lag history, 1 s samples "
                "(%d)\n"
                "  kplane mock --brokers N --topic NAME:PARTITIONS ...\n"
                "      Runs a standalone embedded Kafka cluster; prints its bootstrap address.\n"
                "  kplane plan --topic NAME:PARTITIONS ... --parallelism T --strategy S\n"
                "      Prints a plan and its analysis without a server (--help for more).\n"
                "  kplane healthcheck\n"
                "      Exits 0 when the server at KPLANE_LISTEN answers /livez (for containers).\n"
                "  kplane --version | --help\n",
                KP_VERSION, KP_DEFAULT_LISTEN, KP_DEFAULT_DB, KP_SINK_DIR_DEFAULT,
                KP_MAX_TASKS_DEFAULT, KP_DISCOVERY_INTERVAL_S, KP_HTTP_CPU_QUEUE,
                KP_HISTORY_SAMPLES);
}

static const char *env_or(const char *name, const char *dflt)
{
        const char *v = getenv(name);
        return v && v[0] ? v : dflt;
}

/* Re-creates the embedded clusters of the store: their data is gone, their topics not. */
static void embedded_restore(kp_api_t *api)
{
        char errstr[512];
        json_t *arr = NULL;
        if (kp_store_cluster_list(api->store, &arr, errstr, sizeof(errstr)))
                return;
        size_t i;
        json_t *doc;
        json_array_foreach(arr, i, doc)
        {
                json_t *emb = json_object_get(doc, "embedded");
                if (!json_is_object(emb))
                        continue;
                const char *name = json_string_value(json_object_get(doc, "name"));
                json_t *b = json_object_get(emb, "brokers");
                if (kp_embedded_start(api->emb, name, b ? (int)json_integer_value(b) : 1,
                                      json_object_get(emb, "topics"), NULL, errstr, sizeof(errstr)))
                        fprintf(stderr, "kplane: embedded cluster %s: %s\n", name, errstr);
        }
        json_decref(arr);
}

/* Starts again the groups that were running when kplane stopped. */
static void groups_resume(kp_api_t *api)
{
        char errstr[512];
        json_t *names = NULL;
        if (!api->rt || kp_store_group_list_desired(api->store, &names, errstr, sizeof(errstr)))
                return;
        size_t i;
        json_t *n;
        json_array_foreach(names, i, n)
        {
                const char *name = json_string_value(n);
                if (kp_api_group_resume(api, name, errstr, sizeof(errstr)))
                        fprintf(stderr, "kplane: cannot resume group %s: %s\n", name, errstr);
                else
                        fprintf(stderr, "kplane: resumed group %s\n", name);
        }
        json_decref(names);
}

static int serve_main(int argc, char **argv)
{
        const char *listen = env_or("KPLANE_LISTEN", KP_DEFAULT_LISTEN);
        const char *db = env_or("KPLANE_DB", KP_DEFAULT_DB);
        int demo = !strcmp(env_or("KPLANE_DEMO", "0"), "1");
        int interval = atoi(env_or("KPLANE_DISCOVERY_INTERVAL_S", "0"));
        int http_threads = atoi(env_or("KPLANE_HTTP_THREADS", "0"));
        static const struct option opts[] = {{"listen", required_argument, NULL, 'l'},
                                             {"db", required_argument, NULL, 'd'},
                                             {"demo", no_argument, NULL, 'D'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
        int c;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (c) {
                case 'l': listen = optarg; break;
                case 'd': db = optarg; break;
                case 'D': demo = 1; break;
                case 'h': usage(stdout); return 0;
                default: usage(stderr); return 2;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "kplane serve: unexpected argument %s\n", argv[optind]);
                return 2;
        }
        /* Which client properties clusters may set: read before any client is built. */
        char perr[512];
        if (kp_client_policy_install_from_env(perr, sizeof(perr))) {
                fprintf(stderr, "kplane: %s\n", perr);
                return 2;
        }
        char *end;
        /* unset: the default; "0": no CPU pool (heavy planning on the MHD threads) */
        long cpu_threads = strtol(env_or("KPLANE_HTTP_CPU_THREADS", "-1"), &end, 10);
        if (*end || cpu_threads < -1 || cpu_threads > KP_HTTP_THREADS_MAX) {
                fprintf(stderr, "kplane serve: KPLANE_HTTP_CPU_THREADS must be 0..%d\n",
                        KP_HTTP_THREADS_MAX);
                return 2;
        }
        long cpu_queue = strtol(env_or("KPLANE_HTTP_CPU_QUEUE", "0"), &end, 10);
        if (*end || cpu_queue < 0 || cpu_queue > KP_HTTP_CPU_QUEUE_MAX) {
                fprintf(stderr, "kplane serve: KPLANE_HTTP_CPU_QUEUE must be 1..%d\n",
                        KP_HTTP_CPU_QUEUE_MAX);
                return 2;
        }
        long max_tasks = strtol(env_or("KPLANE_MAX_TASKS", "0"), &end, 10);
        if (*end || max_tasks < 0 || max_tasks > 100000000) {
                fprintf(stderr, "kplane serve: KPLANE_MAX_TASKS must be a number >= 1\n");
                return 2;
        }
        long history = strtol(env_or("KPLANE_HISTORY_SAMPLES", "0"), &end, 10);
        if (*end || history < 0 || history > KP_HISTORY_SAMPLES) {
                fprintf(stderr, "kplane serve: KPLANE_HISTORY_SAMPLES must be 1..%d\n",
                        KP_HISTORY_SAMPLES);
                return 2;
        }

        /* Signals are taken by sigwait in this thread only: block them before any
         * thread starts so every thread inherits the mask. */
        sigset_t sigs;
        sigemptyset(&sigs);
        sigaddset(&sigs, SIGINT);
        sigaddset(&sigs, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &sigs, NULL);
        signal(SIGPIPE, SIG_IGN);

        char errstr[512];
        int rc = 1;
        kp_api_t api = {.metadata_timeout_ms = KP_KAFKA_METADATA_TIMEOUT_MS};
        if (kp_sink_dir_set(env_or("KPLANE_SINK_DIR", KP_SINK_DIR_DEFAULT))) {
                fprintf(stderr, "kplane: KPLANE_SINK_DIR is too long\n");
                return 2;
        }
        kp_http_t *http = NULL;
        kp_demo_t *d = NULL;
        char *token = NULL;
        api.store = kp_store_open(db, errstr, sizeof(errstr));
        if (!api.store) {
                fprintf(stderr, "kplane: cannot open database %s: %s\n", db, errstr);
                return 1;
        }
        api.emb = kp_embedded_new();
        api.status_breaker = kp_breaker_new(KP_STATUS_BREAKER_OPEN_MS);
        api.rt = kp_runtime_new(errstr, sizeof(errstr));
        if (!api.emb || !api.rt) {
                fprintf(stderr, "kplane: cannot start: %s\n", errstr);
                goto out;
        }
        kp_runtime_set_max_tasks(api.rt, (int)max_tasks);     /* 0: the default */
        kp_runtime_set_history_samples(api.rt, (int)history); /* 0: the default */
        embedded_restore(&api);
        if (kp_token_resolve(listen, db, &token, errstr, sizeof(errstr))) {
                fprintf(stderr, "kplane: %s\n", errstr);
                goto out;
        }
        kp_http_opts_t hopts = {.listen = listen,
                                .api_token = token,
                                .threads = http_threads > 0 && http_threads <= KP_HTTP_THREADS_MAX
                                                   ? (unsigned)http_threads
                                                   : 0,
                                .cpu_threads = cpu_threads < 0    ? 0
                                               : cpu_threads == 0 ? -1
                                                                  : (int)cpu_threads,
                                .cpu_queue = (unsigned)cpu_queue,
                                .handler = kp_api_handle,
                                .opaque = &api};
        http = kp_http_start(&hopts, errstr, sizeof(errstr));
        if (!http) {
                fprintf(stderr, "kplane: %s\n", errstr);
                goto out;
        }
        /* MHD's threads already run: publish the pointer atomically (for /metrics) */
        __atomic_store_n(&api.http, http, __ATOMIC_RELEASE);
        api.discovery = kp_discovery_start(api.store, api.emb, interval, api.metadata_timeout_ms,
                                           kp_api_partitions_changed, &api);
        if (demo) {
                d = kp_demo_start(&api, 300, errstr, sizeof(errstr));
                if (!d)
                        fprintf(stderr, "kplane: demo: %s\n", errstr);
        }
        groups_resume(&api);
        {
                char host[256];
                snprintf(host, sizeof(host), "%s", listen);
                char *colon = strrchr(host, ':');
                if (colon)
                        *colon = '\0';
                printf("kplane %s listening on http://%s:%d\n", KP_VERSION,
                       host[0] ? host : "0.0.0.0", kp_http_port(http));
                fflush(stdout);
        }
        int sig = 0;
        sigwait(&sigs, &sig);
        fprintf(stderr, "kplane: %s, shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
        rc = 0;
out:
        kp_demo_stop(d);
        kp_http_stop(http);
        kp_discovery_stop(api.discovery);
        /* stops every group: drain, commit, close (their desired state stays stored) */
        kp_runtime_destroy(api.rt);
        kp_embedded_destroy(api.emb);
        kp_breaker_destroy(api.status_breaker);
        kp_store_close(api.store);
        kp_client_policy_install(NULL);
        free(token);
        return rc;
}

/* GET /livez on the local server, with a raw socket: containers need no curl. */
static int healthcheck_main(void)
{
        const char *listen = env_or("KPLANE_LISTEN", KP_DEFAULT_LISTEN);
        const char *colon = strrchr(listen, ':');
        int port = colon ? atoi(colon + 1) : 8080;
        char host[64] = "127.0.0.1";
        if (colon && colon != listen && (size_t)(colon - listen) < sizeof(host)) {
                memcpy(host, listen, (size_t)(colon - listen));
                host[colon - listen] = '\0';
                if (!strcmp(host, "0.0.0.0") || !strcmp(host, "*") || !strcmp(host, "localhost"))
                        strcpy(host, "127.0.0.1");
        }
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
                return 1;
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0)
                return 1;
        struct timeval tv = {.tv_sec = 3};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        char buf[256];
        int ok = 0;
        if (!connect(fd, (struct sockaddr *)&sin, sizeof(sin))) {
                const char *req = "GET /livez HTTP/1.0\r\nHost: localhost\r\n\r\n";
                if (write(fd, req, strlen(req)) == (ssize_t)strlen(req)) {
                        ssize_t n = read(fd, buf, sizeof(buf) - 1);
                        if (n > 12) {
                                buf[n] = '\0';
                                ok = !strncmp(buf + 9, "200", 3);
                        }
                }
        }
        close(fd);
        if (!ok)
                fprintf(stderr, "kplane healthcheck: http://%s:%d/livez did not answer 200\n", host,
                        port);
        return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
        if (argc > 1) {
                const char *cmd = argv[1];
                if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
                        printf("kplane %s (librdkafka %s, libmicrohttpd, jansson %s)\n", KP_VERSION,
                               rd_kafka_version_str(), JANSSON_VERSION);
                        return 0;
                }
                if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
                        usage(stdout);
                        return 0;
                }
                if (!strcmp(cmd, "serve"))
                        return serve_main(argc - 1, argv + 1);
                if (!strcmp(cmd, "mock"))
                        return kp_embedded_mock_main(argc - 2, argv + 2);
                if (!strcmp(cmd, "plan"))
                        return kp_cli_plan_main(argc - 1, argv + 1);
                if (!strcmp(cmd, "healthcheck"))
                        return healthcheck_main();
                if (cmd[0] != '-') {
                        fprintf(stderr, "kplane: unknown command %s (try --help)\n", cmd);
                        return 2;
                }
        }
        return serve_main(argc, argv);
}
