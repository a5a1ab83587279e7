/* cli_plan.c — `kplane plan`: a plan and its analysis on the command line, and a JSON-lines batch
 * mode for parity harnesses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_plan.h"
#include "base/config.h"
#include "base/err.h"
#include "planner/plan_json.h"
#include "planner/planner.h"
#include "base/util.h"

static void usage(FILE *fp)
{
        char names[256];
        fprintf(fp,
                "usage: kplane plan --topic [CLUSTER/]NAME:PARTITIONS ... --parallelism T\n"
                "                   [--strategy %s]\n"
                "                   [--format text|json] [--rebalance] [--previous PLAN.json]\n"
                "       kplane plan --batch\n"
                "\n"
                "Prints an assignment of the partitions to tasks 0..T-1 and its analysis,\n"
                "without a server. --previous takes a plan document (JSON with tasks) and\n"
                "re-plans sticky to it. --batch reads JSON lines from stdin, each\n"
                "  {\"topics\":[{\"cluster\":\"c\",\"topic\":\"t\",\"partitions\":N}],"
                "\"parallelism\":T,\"strategy\":\"flink\"}\n"
                "and answers each with one line {\"owners\":[[owner of t0p0, ...], ...]} or\n"
                "{\"error\":\"...\"}.\n",
                kp_strategy_names("|", names, sizeof(names)));
}

/* "field: message; field: message" from a validation error array. */
static void errors_text(const json_t *errors, kp_buf_t *b)
{
        size_t i;
        json_t *e;
        json_array_foreach(errors, i, e)
        {
                const char *f = json_string_value(json_object_get(e, "field"));
                kp_buf_printf(b, "%s%s%s%s", i ? "; " : "", f && *f ? f : "", f && *f ? ": " : "",
                              json_string_value(json_object_get(e, "message")));
        }
}

/* One batch line -> one answer line in @p out (without the newline). */
static void batch_line(const char *line, size_t len, kp_buf_t *out)
{
        json_error_t jerr;
        json_t *body = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
        json_t *errors = json_array();
        kp_plan_request_t req;
        kp_plan_t *plan = NULL;
        kp_buf_t msg;
        char errstr[512];
        int parsed = 0;
        kp_buf_init(&msg);
        memset(&req, 0, sizeof(req));
        if (!body) {
                kp_buf_printf(&msg, "invalid JSON: %s", jerr.text);
                goto fail;
        }
        int err = kp_plan_request_parse(body, &req, errors);
        if (err) {
                if (err == KP_ERR_NOMEM)
                        kp_buf_printf(&msg, "out of memory");
                else
                        errors_text(errors, &msg);
                goto fail;
        }
        parsed = 1;
        req.input.skip_recommendations = 1; /* owners only: skip the advice */
        if (!(plan = kp_planner_plan(&req.input, errstr, sizeof(errstr)))) {
                kp_buf_printf(&msg, "%s", errstr);
                goto fail;
        }
        kp_buf_append(out, "{\"owners\":[", 11);
        size_t i = 0;
        for (size_t t = 0; t < req.input.topic_cnt; t++) {
                kp_buf_append(out, t ? ",[" : "[", t ? 2 : 1);
                for (int32_t p = 0; p < req.input.topics[t].partitions; p++, i++) {
                        char num[16];
                        int n = snprintf(num, sizeof(num), p ? ",%d" : "%d", plan->owner[i]);
                        kp_buf_append(out, num, (size_t)n);
                }
                kp_buf_append(out, "]", 1);
        }
        kp_buf_append(out, "]}", 2);
        goto done;
fail:;
        json_t *e = json_pack("{s:s}", "error", msg.data ? msg.data : "error");
        char *s = e ? json_dumps(e, JSON_COMPACT) : NULL;
        if (s)
                kp_buf_append(out, s, strlen(s));
        else
                kp_buf_printf(out, "{\"error\":\"out of memory\"}");
        free(s);
        json_decref(e);
done:
        kp_plan_destroy(plan);
        if (parsed)
                kp_plan_request_cleanup(&req);
        kp_buf_cleanup(&msg);
        json_decref(errors);
        json_decref(body);
}

/* Answers every line of stdin. Each answer is flushed at once, so a harness may also
 * talk to it one line at a time. */
static int batch_main(void)
{
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        kp_buf_t out;
        int rc = 0;
        kp_buf_init(&out);
        while ((n = getline(&line, &cap, stdin)) >= 0) {
                size_t len = (size_t)n;
                while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
                        len--;
                out.len = 0;
                if (len > KP_PLAN_BATCH_LINE_MAX)
                        kp_buf_printf(&out, "{\"error\":\"line longer than %d bytes\"}",
                                      KP_PLAN_BATCH_LINE_MAX);
                else
                        batch_line(line, len, &out);
                if (out.oom) {
                        rc = 1;
                        break;
                }
                kp_buf_append(&out, "\n", 1);
                if (fwrite(out.data, 1, out.len, stdout) != out.len || fflush(stdout)) {
                        rc = 1;
                        break;
                }
        }
        free(line);
        kp_buf_cleanup(&out);
        return rc;
}

/* "[CLUSTER/]NAME:PARTITIONS" -> {"cluster", "topic", "partitions"}; NULL when malformed. */
static json_t *topic_spec(const char *spec)
{
        const char *colon = strrchr(spec, ':');
        const char *slash = strchr(spec, '/');
        char *end;
        if (!colon || colon == spec || !colon[1])
                return NULL;
        long long parts = strtoll(colon + 1, &end, 10);
        if (*end)
                return NULL;
        json_t *o = json_object();
        if (slash && slash < colon) {
                json_object_set_new(o, "cluster", json_stringn(spec, (size_t)(slash - spec)));
                spec = slash + 1;
        }
        json_object_set_new(o, "topic", json_stringn(spec, (size_t)(colon - spec)));
        json_object_set_new(o, "partitions", json_integer(parts));
        return o;
}

/* Appends "orders[0-4,7]" style runs of the partitions @p idx (flat, ascending) of one
 * task. */
static void task_text(kp_buf_t *b, const size_t *idx, size_t n, const kp_plan_topic_t *topics,
                      const size_t *offset, const int32_t *tof, int show_cluster)
{
        size_t x = 0;
        while (x < n) {
                int32_t t = tof[idx[x]];
                if (x)
                        kp_buf_append(b, " ", 1);
                if (show_cluster)
                        kp_buf_printf(b, "%s/", topics[t].cluster);
                kp_buf_printf(b, "%s[", topics[t].topic);
                int first = 1;
                while (x < n && tof[idx[x]] == t) {
                        size_t y = x;
                        while (y + 1 < n && idx[y + 1] == idx[y] + 1 && tof[idx[y + 1]] == t)
                                y++;
                        long long a = (long long)(idx[x] - offset[t]);
                        long long z = (long long)(idx[y] - offset[t]);
                        if (a == z)
                                kp_buf_printf(b, "%s%lld", first ? "" : ",", a);
                        else
                                kp_buf_printf(b, "%s%lld-%lld", first ? "" : ",", a, z);
                        first = 0;
                        x = y + 1;
                }
                kp_buf_append(b, "]", 1);
        }
}

static int print_text(const kp_plan_t *plan, const kp_plan_input_t *in)
{
        const size_t P = plan->partition_cnt, K = in->topic_cnt;
        const int32_t T = plan->parallelism;
        const kp_plan_analysis_t *a = &plan->analysis;
        size_t *offset = malloc((K + 1) * sizeof(*offset));
        size_t *start = NULL, *byt = NULL;
        int32_t *tof = malloc((P ? P : 1) * sizeof(*tof));
        kp_buf_t b;
        int show_cluster = 0, rc = 1;
        kp_buf_init(&b);
        if (!offset || !tof || kp_plan_by_task(plan, &start, &byt))
                goto out;
        offset[0] = 0;
        for (size_t t = 0; t < K; t++) {
                offset[t + 1] = offset[t] + (size_t)in->topics[t].partitions;
                for (size_t i = offset[t]; i < offset[t + 1]; i++)
                        tof[i] = (int32_t)t;
                if (strcmp(in->topics[t].cluster, "default"))
                        show_cluster = 1;
        }

        printf("strategy %s, parallelism %d, %lld partitions in %zu topics\n\n",
               kp_strategy_name(plan->strategy), T, (long long)P, K);
        printf("%6s %10s  %s\n", "task", "partitions", "assignment");
        for (int32_t j = 0; j < T; j++) {
                b.len = 0;
                task_text(&b, byt + start[j], start[j + 1] - start[j], in->topics, offset, tof,
                          show_cluster);
                printf("%6d %10zu  %s\n", j, start[j + 1] - start[j], b.len ? b.data : "(idle)");
        }
        printf("\nanalysis\n");
        printf("  %-24s %s\n", "case", kp_plan_case_name(a->plan_case));
        printf("  %-24s %lld\n", "partitions", (long long)a->partitions);
        printf("  %-24s %d\n", "tasks", a->tasks);
        printf("  %-24s %d\n", "idle tasks", a->idle_tasks);
        printf("  %-24s %lld..%lld\n", "partitions per task", (long long)a->min_partitions_per_task,
               (long long)a->max_partitions_per_task);
        printf("  %-24s %.3f%s\n", "skew", a->skew, in->weights ? " (load)" : "");
        if (a->moved_from_previous >= 0)
                printf("  %-24s %lld\n", "moved from previous", (long long)a->moved_from_previous);
        if (a->recommendation_cnt) {
                printf("\nrecommendations\n");
                for (size_t i = 0; i < a->recommendation_cnt; i++)
                        printf("  - %s\n", a->recommendations[i]);
        }
        rc = b.oom;
out:
        kp_buf_cleanup(&b);
        free(tof);
        free(byt);
        free(start);
        free(offset);
        return rc;
}

/* Reads a plan document from @p path into previous owners for @p req. */
static int load_previous(const char *path, kp_plan_request_t *req, int32_t **ownerp)
{
        json_error_t jerr;
        json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
        if (!doc) {
                fprintf(stderr, "kplane plan: %s: %s (line %d)\n", path, jerr.text, jerr.line);
                return 2;
        }
        int err = kp_plan_previous_owners(doc, req->input.topics, req->input.topic_cnt, ownerp);
        json_decref(doc);
        if (err) {
                fprintf(stderr, "kplane plan: out of memory\n");
                return 1;
        }
        if (!*ownerp) {
                fprintf(stderr, "kplane plan: %s holds no \"tasks\" array\n", path);
                return 2;
        }
        return 0;
}

/* The value of option @p name at argv[*ip]: "--name value" or "--name=value". */
static const char *opt_value(int argc, char **argv, int *ip, const char *name, int *matched)
{
        const char *a = argv[*ip];
        size_t n = strlen(name);
        *matched = 0;
        if (strncmp(a, name, n))
                return NULL;
        if (a[n] == '=') {
                *matched = 1;
                return a + n + 1;
        }
        if (a[n])
                return NULL;
        *matched = 1;
        if (*ip + 1 >= argc)
                return NULL;
        return argv[++*ip];
}

/* What the command line asked for. */
typedef struct plan_opts {
        json_t *body;   /* the what-if body the flags build (without "topics") */
        json_t *topics; /* --topic, as the body's topics array */
        const char *format, *previous;
        int batch;
} plan_opts_t;

/* Sentinel of parse_option(): --help was printed, exit 0. */
#define OPT_HELP (-1)

/* A "--topic" value: appended to o->topics. @returns 0 or 2 (usage). */
static int opt_topic(plan_opts_t *o, const char *v)
{
        json_t *t = v ? topic_spec(v) : NULL;
        if (!t) {
                fprintf(stderr, "kplane plan: --topic wants [CLUSTER/]NAME:PARTITIONS, got %s\n",
                        v ? v : "nothing");
                return 2;
        }
        json_array_append_new(o->topics, t);
        return 0;
}

/* A "--parallelism" value: o->body's parallelism. @returns 0 or 2 (usage). */
static int opt_parallelism(plan_opts_t *o, const char *v)
{
        char *end;
        long long p = v ? strtoll(v, &end, 10) : 0;
        if (!v || !*v || *end) {
                fprintf(stderr, "kplane plan: --parallelism wants a number\n");
                return 2;
        }
        json_object_set_new(o->body, "parallelism", json_integer(p));
        return 0;
}

/* The option at argv[*ip] (its value too when it takes one: *ip moves past it).
 * @returns 0, 2 (usage, said on stderr) or OPT_HELP. */
static int parse_option(int argc, char **argv, int *ip, plan_opts_t *o)
{
        const char *v, *a = argv[*ip];
        int m;
        if (!strcmp(a, "--batch")) {
                o->batch = 1;
        } else if (!strcmp(a, "--rebalance")) {
                json_object_set_new(o->body, "rebalance", json_true());
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
                usage(stdout);
                return OPT_HELP;
        } else if ((v = opt_value(argc, argv, ip, "--topic", &m)) || m) {
                return opt_topic(o, v);
        } else if ((v = opt_value(argc, argv, ip, "--parallelism", &m)) || m ||
                   (v = opt_value(argc, argv, ip, "-p", &m)) || m) {
                return opt_parallelism(o, v);
        } else if ((v = opt_value(argc, argv, ip, "--strategy", &m)) || m ||
                   (v = opt_value(argc, argv, ip, "-s", &m)) || m) {
                if (!v) {
                        fprintf(stderr, "kplane plan: --strategy wants a name\n");
                        return 2;
                }
                json_object_set_new(o->body, "strategy", json_string(v));
        } else if ((v = opt_value(argc, argv, ip, "--format", &m)) || m) {
                if (!v || (strcmp(v, "text") && strcmp(v, "json"))) {
                        fprintf(stderr, "kplane plan: --format is text or json\n");
                        return 2;
                }
                o->format = v;
        } else if ((v = opt_value(argc, argv, ip, "--previous", &m)) || m) {
                if (!v) {
                        fprintf(stderr, "kplane plan: --previous wants a file\n");
                        return 2;
                }
                o->previous = v;
        } else {
                fprintf(stderr, "kplane plan: unknown argument %s\n", a);
                usage(stderr);
                return 2;
        }
        return 0;
}

/* Each validation error on stderr, naming the flag rather than the JSON field. */
static void errors_print(const json_t *errors)
{
        size_t x;
        json_t *e;
        json_array_foreach(errors, x, e)
        {
                const char *f = json_string_value(json_object_get(e, "field"));
                if (!strncmp(f, "topics", 6))
                        f = "--topic";
                fprintf(stderr, "kplane plan: %s: %s\n", f,
                        json_string_value(json_object_get(e, "message")));
        }
}

/* Plans the parsed @p req (sticky to o->previous when given) and prints it in o->format.
 * @returns the exit code. */
static int plan_print(kp_plan_request_t *req, const plan_opts_t *o)
{
        kp_plan_t *plan = NULL;
        int32_t *prev = NULL;
        char errstr[512];
        int rc;
        if (o->previous) {
                if ((rc = load_previous(o->previous, req, &prev)))
                        goto out;
                req->input.previous_owner = prev;
        }
        if (!(plan = kp_planner_plan(&req->input, errstr, sizeof(errstr)))) {
                fprintf(stderr, "kplane plan: %s\n", errstr);
                rc = 1;
                goto out;
        }
        if (strcmp(o->format, "json")) {
                rc = print_text(plan, &req->input);
                goto out;
        }
        json_t *j = kp_plan_to_json(plan, req->input.topics, req->input.topic_cnt);
        char *s = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
        json_decref(j);
        rc = s ? 0 : 1;
        if (s)
                puts(s);
        free(s);
out:
        req->input.previous_owner = NULL;
        kp_plan_destroy(plan);
        free(prev);
        return rc;
}

int kp_cli_plan_main(int argc, char **argv)
{
        plan_opts_t o = {.body = json_object(), .topics = json_array(), .format = "text"};
        json_t *errors = json_array();
        kp_plan_request_t req;
        int parsed = 0, rc = 2, i = 0;
        memset(&req, 0, sizeof(req));
        if (!o.body || !o.topics || !errors) {
                rc = 1;
                goto out;
        }
        if (argc > 0 && !strcmp(argv[0], "plan"))
                i = 1;
        for (; i < argc; i++) {
                int orc = parse_option(argc, argv, &i, &o);
                if (orc) {
                        rc = orc == OPT_HELP ? 0 : orc;
                        goto out;
                }
        }
        if (o.batch) {
                if (json_array_size(o.topics) || json_object_size(o.body)) {
                        fprintf(stderr, "kplane plan: --batch takes no other options\n");
                        goto out;
                }
                rc = batch_main();
                goto out;
        }
        if (!json_array_size(o.topics)) {
                fprintf(stderr, "kplane plan: at least one --topic is needed\n");
                usage(stderr);
                goto out;
        }
        json_object_set(o.body, "topics", o.topics);
        int err = kp_plan_request_parse(o.body, &req, errors);
        if (err) {
                if (err == KP_ERR_NOMEM)
                        rc = 1;
                else
                        errors_print(errors);
                goto out;
        }
        parsed = 1;
        rc = plan_print(&req, &o);
out:
        if (parsed)
                kp_plan_request_cleanup(&req);
        json_decref(errors);
        json_decref(o.topics);
        json_decref(o.body);
        return rc;
}
