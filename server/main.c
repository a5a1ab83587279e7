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
#include "app/app.h"
#include "app/cluster.h"
#include "app/groups.h"
#include "app/plans.h"
#include "cli/cli_plan.h"
#include "coord/coord.h"
#include "kafka/client_conf.h"
#include "base/breaker.h"
#include "base/config.h"
#include "app/demo.h"
#include "app/discovery.h"
#include "app/work.h"
#include "kafka/embedded.h"
#include "base/err.h"
#include "http/http.h"
#include "runtime/runtime.h"
#include "sinks/sink.h"
#include "db/store.h"
#include "db/store_log.h"
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
                "                KPLANE_COORDINATION          bootstrap of a Kafka cluster "
                "several\n"
                "                                             instances share (KPLANE_SERVICE,\n"
                "                                             KPLANE_INSTANCE_ID, "
                "KPLANE_ADVERTISED_URL,\n"
                "                                             KPLANE_SESSION_TIMEOUT_MS, "
                "KPLANE_GROUP_PROTOCOL,\n"
                "                                             KPLANE_COORDINATION_CONFIG)\n"
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

/* What `kplane serve` is asked for: flags over environment over defaults. */
typedef struct serve_opts {
        const char *listen, *db;
        int demo, interval, http_threads;
        long cpu_threads, cpu_queue, max_tasks, history;
        long session_timeout_ms;
        kp_coord_protocol_t protocol;
} serve_opts_t;

/* Reads the flags of `kplane serve` over the environment into @p o.
 * @returns -1 to go on, else the exit status (help, a bad flag). */
static int serve_flags(int argc, char **argv, serve_opts_t *o)
{
        static const struct option opts[] = {{"listen", required_argument, NULL, 'l'},
                                             {"db", required_argument, NULL, 'd'},
                                             {"demo", no_argument, NULL, 'D'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
        int c;
        o->listen = env_or("KPLANE_LISTEN", KP_DEFAULT_LISTEN);
        o->db = env_or("KPLANE_DB", KP_DEFAULT_DB);
        o->demo = !strcmp(env_or("KPLANE_DEMO", "0"), "1");
        o->interval = atoi(env_or("KPLANE_DISCOVERY_INTERVAL_S", "0"));
        o->http_threads = atoi(env_or("KPLANE_HTTP_THREADS", "0"));
        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (c) {
                case 'l': o->listen = optarg; break;
                case 'd': o->db = optarg; break;
                case 'D': o->demo = 1; break;
                case 'h': usage(stdout); return 0;
                default: usage(stderr); return 2;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "kplane serve: unexpected argument %s\n", argv[optind]);
                return 2;
        }
        return -1;
}

/* @returns 0 with *vp = environment variable @p name as a number in @p lo..@p hi (@p dflt
 * when unset), or -1 when it is not. */
static int env_long(const char *name, const char *dflt, long lo, long hi, long *vp)
{
        char *end;
        *vp = strtol(env_or(name, dflt), &end, 10);
        return *end || *vp < lo || *vp > hi ? -1 : 0;
}

/* Reads the settings of several instances (KPLANE_SESSION_TIMEOUT_MS, KPLANE_GROUP_PROTOCOL)
 * into @p o. @returns 0, or 2 after saying which one is wrong. */
static int serve_env_coord(serve_opts_t *o)
{
        const char *proto = env_or("KPLANE_GROUP_PROTOCOL", "classic");
        if (env_long("KPLANE_SESSION_TIMEOUT_MS", KP_STR(KP_COORD_SESSION_TIMEOUT_DEFAULT_MS),
                     KP_COORD_SESSION_TIMEOUT_MIN_MS, KP_COORD_SESSION_TIMEOUT_MAX_MS,
                     &o->session_timeout_ms)) {
                fprintf(stderr, "kplane serve: KPLANE_SESSION_TIMEOUT_MS must be %d..%d\n",
                        KP_COORD_SESSION_TIMEOUT_MIN_MS, KP_COORD_SESSION_TIMEOUT_MAX_MS);
                return 2;
        }
        if (strcmp(proto, "classic") && strcmp(proto, "consumer")) {
                fprintf(stderr,
                        "kplane serve: KPLANE_GROUP_PROTOCOL must be classic or consumer\n");
                return 2;
        }
        o->protocol = strcmp(proto, "classic") ? KP_COORD_CONSUMER : KP_COORD_CLASSIC;
        /* the demo's clusters are embedded: they live in this process, the service's other
         * instances could not reach them */
        if (o->demo && env_or("KPLANE_COORDINATION", NULL)) {
                fprintf(stderr, "kplane serve: --demo runs embedded clusters, which one process "
                                "holds: it cannot run with KPLANE_COORDINATION\n");
                return 2;
        }
        return 0;
}

/* Reads the numeric settings of `kplane serve` from the environment into @p o.
 * @returns 0, or 2 after saying which one is wrong. */
static int serve_env(serve_opts_t *o)
{
        /* KPLANE_HTTP_CPU_THREADS unset: the default; "0": no CPU pool (heavy planning on
         * the MHD threads) */
        if (env_long("KPLANE_HTTP_CPU_THREADS", "-1", -1, KP_HTTP_THREADS_MAX, &o->cpu_threads)) {
                fprintf(stderr, "kplane serve: KPLANE_HTTP_CPU_THREADS must be 0..%d\n",
                        KP_HTTP_THREADS_MAX);
                return 2;
        }
        if (env_long("KPLANE_HTTP_CPU_QUEUE", "0", 0, KP_HTTP_CPU_QUEUE_MAX, &o->cpu_queue)) {
                fprintf(stderr, "kplane serve: KPLANE_HTTP_CPU_QUEUE must be 1..%d\n",
                        KP_HTTP_CPU_QUEUE_MAX);
                return 2;
        }
        if (env_long("KPLANE_MAX_TASKS", "0", 0, 100000000, &o->max_tasks)) {
                fprintf(stderr, "kplane serve: KPLANE_MAX_TASKS must be a number >= 1\n");
                return 2;
        }
        if (env_long("KPLANE_HISTORY_SAMPLES", "0", 0, KP_HISTORY_SAMPLES, &o->history)) {
                fprintf(stderr, "kplane serve: KPLANE_HISTORY_SAMPLES must be 1..%d\n",
                        KP_HISTORY_SAMPLES);
                return 2;
        }
        return serve_env_coord(o);
}

/* Opens what the app works with: the store, the embedded clusters (restored), the
 * breaker, the runtime. @returns 0, or 1 after saying why (close with app_close). */
static int app_open(kp_app_t *app, const serve_opts_t *o)
{
        char errstr[512];
        app->metadata_timeout_ms = KP_KAFKA_METADATA_TIMEOUT_MS;
        app->store = kp_store_open(o->db, errstr, sizeof(errstr));
        if (!app->store) {
                fprintf(stderr, "kplane: cannot open database %s: %s\n", o->db, errstr);
                return 1;
        }
        app->emb = kp_embedded_new();
        app->status_breaker = kp_breaker_new(KP_STATUS_BREAKER_OPEN_MS);
        app->rt = kp_runtime_new(errstr, sizeof(errstr));
        if (!app->emb || !app->rt) {
                fprintf(stderr, "kplane: cannot start: %s\n", errstr);
                return 1;
        }
        kp_runtime_set_max_tasks(app->rt, (int)o->max_tasks);     /* 0: the default */
        kp_runtime_set_history_samples(app->rt, (int)o->history); /* 0: the default */
        kp_app_embedded_restore(app->store, app->emb);
        return 0;
}

static void app_close(kp_app_t *app)
{
        /* A discovery pass waiting on a cluster that does not answer ends after that read
         * (kp_discovery_stop_begin at the signal): join it before the groups stop, so
         * that it cannot re-plan a group being stopped. */
        kp_discovery_stop(app->discovery);
        /* stops every group: drain, commit, close (their desired state stays stored) */
        kp_runtime_destroy(app->rt);
        kp_embedded_destroy(app->emb);
        kp_breaker_destroy(app->status_breaker);
        kp_store_close(app->store);
}

/* Starts the HTTP server on the API routes over @p app. @returns it or NULL. */
static kp_http_t *http_open(kp_app_t *app, const serve_opts_t *o, const char *token)
{
        char errstr[512];
        kp_http_opts_t hopts = {.listen = o->listen,
                                .api_token = token,
                                .threads = o->http_threads > 0 &&
                                                           o->http_threads <= KP_HTTP_THREADS_MAX
                                                   ? (unsigned)o->http_threads
                                                   : 0,
                                .cpu_threads = o->cpu_threads < 0    ? 0
                                               : o->cpu_threads == 0 ? -1
                                                                     : (int)o->cpu_threads,
                                .cpu_queue = (unsigned)o->cpu_queue,
                                .handler = kp_api_handle,
                                .opaque = app};
        kp_http_t *http = kp_http_start(&hopts, errstr, sizeof(errstr));
        if (!http)
                fprintf(stderr, "kplane: %s\n", errstr);
        return http;
}

/* Says on stdout where the server listens (port 0 picks one: tests read it here). */
static void print_listening(const char *listen, kp_http_t *http)
{
        char host[256];
        snprintf(host, sizeof(host), "%s", listen);
        char *colon = strrchr(host, ':');
        if (colon)
                *colon = '\0';
        printf("kplane %s listening on http://%s:%d\n", KP_VERSION, host[0] ? host : "0.0.0.0",
               kp_http_port(http));
        fflush(stdout);
}

/* The id and URL other instances know this one by: KPLANE_INSTANCE_ID and
 * KPLANE_ADVERTISED_URL, by default this host's name and the port listened on (the listen
 * address in the URL unless it is a wildcard). */
static void instance_names(const char *listen, int port, char *id, size_t id_size, char *url,
                           size_t url_size)
{
        char host[256] = "localhost", lhost[256];
        gethostname(host, sizeof(host) - 1);
        host[sizeof(host) - 1] = '\0';
        snprintf(lhost, sizeof(lhost), "%s", listen);
        char *colon = strrchr(lhost, ':');
        if (colon)
                *colon = '\0';
        int wildcard = !lhost[0] || !strcmp(lhost, "0.0.0.0") || !strcmp(lhost, "*") ||
                       !strcmp(lhost, "[::]") || !strcmp(lhost, "::");
        const char *given_id = env_or("KPLANE_INSTANCE_ID", NULL);
        const char *given_url = env_or("KPLANE_ADVERTISED_URL", NULL);
        if (given_id)
                snprintf(id, id_size, "%s", given_id);
        else
                snprintf(id, id_size, "%s:%d", host, port);
        if (given_url)
                snprintf(url, url_size, "%s", given_url);
        else
                snprintf(url, url_size, "http://%s:%d", wildcard ? host : lhost, port);
}

/* Makes this instance's coordinator: a member of the service on KPLANE_COORDINATION, or a
 * single process's (nothing else changes). @returns it, or NULL after saying why. */
static kp_coord_t *coord_open(const serve_opts_t *o, kp_http_t *http, kp_store_t *store)
{
        char errstr[512], id[KP_COORD_ID_MAX + 2], url[KP_COORD_URL_MAX + 2];
        const char *bootstrap = env_or("KPLANE_COORDINATION", NULL);
        instance_names(o->listen, kp_http_port(http), id, sizeof(id), url, sizeof(url));
        if (!bootstrap)
                return kp_coord_solo_new(id, url);
        json_error_t jerr;
        const char *conf_text = env_or("KPLANE_COORDINATION_CONFIG", NULL);
        json_t *config = conf_text ? json_loads(conf_text, JSON_REJECT_DUPLICATES, &jerr) : NULL;
        if (conf_text && !json_is_object(config)) {
                fprintf(stderr, "kplane: KPLANE_COORDINATION_CONFIG must be a JSON object of "
                                "client properties\n");
                json_decref(config);
                return NULL;
        }
        kp_coord_opts_t co = {.bootstrap = bootstrap,
                              .config = config,
                              .service = env_or("KPLANE_SERVICE", KP_COORD_SERVICE_DEFAULT),
                              .instance_id = id,
                              .url = url,
                              .session_timeout_ms = (int)o->session_timeout_ms,
                              .protocol = o->protocol,
                              .store = store};
        kp_coord_t *c = kp_coord_start(&co, errstr, sizeof(errstr));
        if (!c)
                fprintf(stderr, "kplane: coordination on %s: %s\n", bootstrap, errstr);
        json_decref(config);
        return c;
}

/* The runtime's commit guard (kp_runtime_set_commit_guard): the coordinator's lease. */
static int lease_held(void *coord)
{
        return kp_coord_lease_held(coord);
}

/* Several instances: the commit guard and the work loop that runs this instance's share of
 * the running tasks (issue 15 step 3); a single process resumes every group marked to run. */
static void work_open(kp_app_t *app, kp_coord_t *coord)
{
        if (!kp_coord_shared(coord)) {
                kp_app_groups_resume(app);
                return;
        }
        kp_runtime_set_commit_guard(app->rt, lease_held, coord);
        kp_discovery_leader_only(app->discovery, coord);
        kp_work_t *w = kp_work_start(app);
        if (!w)
                fprintf(stderr, "kplane: cannot start the work loop: no task will run here\n");
        __atomic_store_n(&app->work, w, __ATOMIC_RELEASE);
}

/* Stops the work loop and this instance's tasks (committed while it still holds its lease,
 * before it leaves the service), then the guard: the coordinator is about to go. */
static void work_close(kp_app_t *app)
{
        kp_work_t *w = __atomic_exchange_n(&app->work, NULL, __ATOMIC_ACQ_REL);
        kp_work_stop(w);
        if (app->rt)
                kp_runtime_set_commit_guard(app->rt, NULL, NULL);
}

/* Serves until SIGINT or SIGTERM (blocked in every thread, taken here by sigwait). */
static int serve_run(kp_app_t *app, const serve_opts_t *o, const sigset_t *sigs)
{
        char errstr[512];
        char *token = NULL;
        kp_http_t *http = NULL;
        kp_coord_t *coord = NULL;
        kp_demo_t *d = NULL;
        int rc = 1;
        if (kp_token_resolve(o->listen, o->db, &token, errstr, sizeof(errstr))) {
                fprintf(stderr, "kplane: %s\n", errstr);
                goto out;
        }
        /* several instances: no write may reach this database but through the state log,
         * which starts once the port is known (the instance's URL needs it) */
        if (env_or("KPLANE_COORDINATION", NULL))
                kp_store_log_refuse(app->store, "this instance is joining its service: retry");
        http = http_open(app, o, token);
        if (!http)
                goto out;
        /* MHD's threads already run: publish the pointers atomically */
        __atomic_store_n(&app->http, http, __ATOMIC_RELEASE);
        coord = coord_open(o, http, app->store);
        if (!coord)
                goto out;
        __atomic_store_n(&app->coord, coord, __ATOMIC_RELEASE);
        app->discovery =
                kp_discovery_start(app->store, app->emb, o->interval, app->metadata_timeout_ms,
                                   kp_app_partitions_changed, app);
        if (o->demo) {
                d = kp_demo_start(app, KP_DEMO_RATE, errstr, sizeof(errstr));
                if (!d)
                        fprintf(stderr, "kplane: demo: %s\n", errstr);
        }
        work_open(app, coord);
        print_listening(o->listen, http);
        int sig = 0;
        sigwait(sigs, &sig);
        fprintf(stderr, "kplane: %s, shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
        kp_discovery_stop_begin(app->discovery);
        rc = 0;
out:
        kp_demo_stop(d);
        work_close(app);
        kp_http_stop(http);
        /* no handler reads it any more: leave the service (LeaveGroup, tombstone) */
        __atomic_store_n(&app->coord, NULL, __ATOMIC_RELEASE);
        kp_coord_stop(coord);
        free(token);
        return rc;
}

static int serve_main(int argc, char **argv)
{
        serve_opts_t o;
        int rc = serve_flags(argc, argv, &o);
        if (rc >= 0)
                return rc;
        /* Which client properties clusters may set: read before any client is built. */
        char perr[512];
        if (kp_client_policy_install_from_env(perr, sizeof(perr))) {
                fprintf(stderr, "kplane: %s\n", perr);
                return 2;
        }
        if (serve_env(&o))
                return 2;
        /* Signals are taken by sigwait in this thread only: block them before any
         * thread starts so every thread inherits the mask. */
        sigset_t sigs;
        sigemptyset(&sigs);
        sigaddset(&sigs, SIGINT);
        sigaddset(&sigs, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &sigs, NULL);
        signal(SIGPIPE, SIG_IGN);
        if (kp_sink_dir_set(env_or("KPLANE_SINK_DIR", KP_SINK_DIR_DEFAULT))) {
                fprintf(stderr, "kplane: KPLANE_SINK_DIR is too long\n");
                return 2;
        }
        if (kp_sink_service_set(env_or("KPLANE_SERVICE", KP_COORD_SERVICE_DEFAULT))) {
                fprintf(stderr, "kplane: KPLANE_SERVICE: %s\n", KP_NAME_RULE);
                return 2;
        }
        kp_app_t app = {0};
        if (kp_app_init(&app)) {
                fprintf(stderr, "kplane: cannot start: out of memory\n");
                return 1;
        }
        rc = app_open(&app, &o);
        if (!rc)
                rc = serve_run(&app, &o, &sigs);
        app_close(&app);
        kp_app_cleanup(&app);
        kp_client_policy_install(NULL);
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
