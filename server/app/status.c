/* status.c — the status of a group that is not running, read from its clusters. */
#include "app/status.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/cluster.h"
#include "app/partitions.h"
#include "base/breaker.h"
#include "base/config.h"
#include "base/err.h"
#include "base/util.h"
#include "db/store.h"
#include "kafka/kafka.h"
#include "planner/plan_json.h"

/* One cluster of a stopped group's status: its partitions' offsets, read by a thread. */
typedef struct status_cluster {
        const char *name;   /* borrowed from the rows */
        const char *group;  /* borrowed */
        kp_app_cluster_t c; /* c.ref.bootstrap NULL: not resolved, or not running */
        int timeout_ms;
        kp_kafka_group_offset_t *offs; /* topic strings borrowed from the rows */
        size_t *rows;                  /* offs[i] belongs to row rows[i] */
        size_t cnt, cap;
        char error[640];   /* "" when read */
        int64_t failed_at; /* realtime ms of the failure the breaker remembered, 0: now */
        int skipped;       /* the breaker said it failed lately: not asked */
        pthread_t thread;
        int started;
} status_cluster_t;

/* Every cluster of a status, in the order its rows name them. */
typedef struct status_read {
        status_cluster_t *cls;
        size_t n;
} status_read_t;

static void *status_cluster_read(void *arg)
{
        status_cluster_t *sc = arg;
        char errstr[512];
        if (kp_kafka_group_offsets(sc->c.ref.bootstrap, sc->c.ref.config, sc->group, sc->offs,
                                   sc->cnt, sc->timeout_ms, errstr, sizeof(errstr)))
                snprintf(sc->error, sizeof(sc->error), "%s", errstr);
        return NULL;
}

/* Adds row @p row (a partition of cluster @p sc) to what @p sc reads. */
static int status_cluster_add(status_cluster_t *sc, const json_t *rowdoc, size_t row)
{
        if (sc->cnt == sc->cap) {
                size_t cap = sc->cap ? sc->cap * 2 : 16;
                kp_kafka_group_offset_t *o = realloc(sc->offs, cap * sizeof(*o));
                if (!o)
                        return KP_ERR_NOMEM;
                sc->offs = o;
                size_t *r = realloc(sc->rows, cap * sizeof(*r));
                if (!r)
                        return KP_ERR_NOMEM;
                sc->rows = r;
                sc->cap = cap;
        }
        kp_kafka_group_offset_t *o = &sc->offs[sc->cnt];
        memset(o, 0, sizeof(*o));
        o->committed = o->high_watermark = -1; /* unread until kp_kafka_group_offsets */
        o->topic = json_string_value(json_object_get(rowdoc, "topic"));
        o->partition = (int32_t)json_integer_value(json_object_get(rowdoc, "partition"));
        sc->rows[sc->cnt++] = row;
        return 0;
}

/*
 * The partitions of group @p doc now (its topics and patterns as registered; a
 * registration that is gone is left out), each (cluster, topic) once, in the group's
 * order: new array of {cluster, topic, partition, task (from @p plan, else null),
 * position: null, committed: null, high_watermark: null, lag: null}.
 */
static json_t *status_rows(kp_app_t *app, const json_t *doc, const json_t *plan)
{
        char errstr[512];
        json_t *rows = json_array();
        kp_app_regs_t regs;
        kp_plan_topic_t *topics = NULL;
        size_t n = 0;
        int32_t *owner = NULL; /* the plan's task of each partition, flat order; -1: none */
        if (kp_app_regs_load(app->store, &regs, errstr, sizeof(errstr)) ||
            kp_app_group_topics(&regs, doc, 1, &topics, &n, errstr, sizeof(errstr)) ||
            kp_plan_previous_owners(plan, topics, n, &owner))
                goto out; /* out of memory: no rows */
        size_t i = 0;
        for (size_t t = 0; t < n; t++) {
                for (int32_t part = 0; part < topics[t].partitions; part++, i++) {
                        json_t *task =
                                owner && owner[i] >= 0 ? json_integer(owner[i]) : json_null();
                        json_array_append_new(rows,
                                              json_pack("{s:s, s:s, s:i, s:o, s:n, s:n, s:n, s:n}",
                                                        "cluster", topics[t].cluster, "topic",
                                                        topics[t].topic, "partition", (int)part,
                                                        "task", task, "position", "committed",
                                                        "high_watermark", "lag"));
                }
        }
out:
        free(owner);
        free(topics);
        kp_app_regs_cleanup(&regs);
        return rows;
}

/* Groups @p rows by cluster into @p sr, each cluster resolved once. @returns 0 or
 * KP_ERR_NOMEM. */
static int status_clusters_collect(kp_app_t *app, const char *group, json_t *rows,
                                   status_read_t *sr)
{
        char errstr[512];
        size_t i, k;
        json_t *row;
        sr->n = 0;
        sr->cls = calloc(json_array_size(rows) ? json_array_size(rows) : 1, sizeof(*sr->cls));
        if (!sr->cls)
                return KP_ERR_NOMEM;
        json_array_foreach(rows, i, row)
        {
                const char *name = json_string_value(json_object_get(row, "cluster"));
                for (k = 0; k < sr->n && strcmp(sr->cls[k].name, name); k++)
                        ;
                status_cluster_t *sc = &sr->cls[k];
                if (k == sr->n) {
                        sc->name = name;
                        sc->group = group;
                        sc->timeout_ms = app->metadata_timeout_ms;
                        int err = kp_app_cluster_resolve(app->store, app->emb, name, &sc->c, errstr,
                                                         sizeof(errstr));
                        if (err == KP_ERR_UNAVAILABLE)
                                snprintf(sc->error, sizeof(sc->error), "%s", errstr);
                        else if (err)
                                snprintf(sc->error, sizeof(sc->error), "cluster %s: %s", name,
                                         errstr);
                        sr->n++;
                }
                if (status_cluster_add(sc, row, i))
                        snprintf(sc->error, sizeof(sc->error), "out of memory");
        }
        return 0;
}

/* A cluster that failed lately is not asked again until the breaker lets one request
 * try: its rows show that failure at once. */
static void status_breaker_skip(kp_app_t *app, status_read_t *sr)
{
        for (size_t k = 0; k < sr->n; k++) {
                status_cluster_t *sc = &sr->cls[k];
                if (sc->error[0] || !sc->c.ref.bootstrap ||
                    !kp_breaker_check(app->status_breaker, sc->c.ref.bootstrap, sc->error,
                                      sizeof(sc->error), &sc->failed_at))
                        continue;
                sc->skipped = 1;
                for (size_t i = 0; i < sc->cnt; i++) {
                        sc->offs[i].committed = -1;
                        sc->offs[i].high_watermark = -1;
                        sc->offs[i].err = 0;
                }
        }
}

/* Clusters side by side, KP_STATUS_CLUSTERS_PARALLEL at a time: an unreachable one costs
 * its timeout once, not once per cluster after it. Each outcome goes to the breaker. */
static void status_read_all(kp_app_t *app, status_read_t *sr)
{
        status_cluster_t *cls = sr->cls;
        size_t k;
        for (size_t first = 0; first < sr->n; first += KP_STATUS_CLUSTERS_PARALLEL) {
                size_t last = first + KP_STATUS_CLUSTERS_PARALLEL;
                if (last > sr->n)
                        last = sr->n;
                for (k = first; k < last; k++) {
                        if (cls[k].error[0] || cls[k].skipped)
                                continue;
                        cls[k].started =
                                !pthread_create(&cls[k].thread, NULL, status_cluster_read, &cls[k]);
                        if (!cls[k].started)
                                status_cluster_read(&cls[k]);
                }
                for (k = first; k < last; k++)
                        if (cls[k].started)
                                pthread_join(cls[k].thread, NULL);
        }
        for (k = 0; k < sr->n; k++)
                if (cls[k].c.ref.bootstrap && !cls[k].skipped)
                        kp_breaker_report(app->status_breaker, cls[k].c.ref.bootstrap,
                                          cls[k].error);
}

/* Writes what cluster @p sc read into its rows of @p rows; adds their lag to *lagp. */
static void status_rows_fill(const status_cluster_t *sc, json_t *rows, json_int_t *lagp)
{
        for (size_t i = 0; i < sc->cnt; i++) {
                const kp_kafka_group_offset_t *o = &sc->offs[i];
                json_t *row = json_array_get(rows, sc->rows[i]);
                if (sc->error[0] || o->err) {
                        json_object_set_new(
                                row, "error",
                                json_string(sc->error[0] ? sc->error : rd_kafka_err2str(o->err)));
                }
                if (sc->error[0] && !sc->c.ref.bootstrap)
                        continue;
                if (o->committed >= 0)
                        json_object_set_new(row, "committed", json_integer(o->committed));
                if (o->high_watermark >= 0)
                        json_object_set_new(row, "high_watermark", json_integer(o->high_watermark));
                if (o->committed >= 0 && o->high_watermark >= 0) {
                        int64_t lag = o->high_watermark > o->committed
                                              ? o->high_watermark - o->committed
                                              : 0;
                        json_object_set_new(row, "lag", json_integer(lag));
                        *lagp += lag;
                }
        }
}

/* Cluster @p sc in the running status's shape: state, last_error, last_error_at. */
static json_t *status_cluster_doc(const status_cluster_t *sc)
{
        char now[32];
        kp_time_iso8601(now, sizeof(now));
        if (sc->failed_at) {
                time_t at = (time_t)(sc->failed_at / 1000);
                struct tm tm;
                gmtime_r(&at, &tm);
                strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
        }
        return json_pack("{s:s, s:s, s:o, s:o}", "cluster", sc->name, "state",
                         sc->error[0] ? "error" : "ok", "last_error",
                         sc->error[0] ? json_string(sc->error) : json_null(), "last_error_at",
                         sc->error[0] ? json_string(now) : json_null());
}

/*
 * Reads the offsets of @p rows (their cluster's committed offsets under group.id
 * @p group, and high watermarks) into them. @returns the new array of clusters
 * [{"cluster", "state", "last_error": null or why, "last_error_at"}]; *lagp = the sum
 * of known lags.
 */
static json_t *status_read_offsets(kp_app_t *app, const char *group, json_t *rows, json_int_t *lagp)
{
        status_read_t sr = {0};
        json_t *out = json_array();
        *lagp = 0;
        if (status_clusters_collect(app, group, rows, &sr))
                goto out;
        status_breaker_skip(app, &sr);
        status_read_all(app, &sr);
        for (size_t k = 0; k < sr.n; k++) {
                status_rows_fill(&sr.cls[k], rows, lagp);
                json_array_append_new(out, status_cluster_doc(&sr.cls[k]));
        }
out:
        for (size_t k = 0; sr.cls && k < sr.n; k++) {
                kp_app_cluster_cleanup(&sr.cls[k].c);
                free(sr.cls[k].offs);
                free(sr.cls[k].rows);
        }
        free(sr.cls);
        return out;
}

json_t *kp_app_group_stopped_status(kp_app_t *app, const json_t *group, const char *name)
{
        char errstr[512];
        json_t *plan = NULL;
        json_int_t lag = 0;
        /* no current plan (never planned): no tasks to name */
        kp_store_plan_get(app->store, name, 0, &plan, errstr, sizeof(errstr));
        json_t *rows = status_rows(app, group, plan);
        json_t *clusters = status_read_offsets(app, name, rows, &lag);
        json_t *version = json_object_get(plan, "version");
        json_t *status = json_pack(
                "{s:s, s:s, s:O, s:[], s:o, s:o, s:{s:i, s:I}}", "group", name, "state", "stopped",
                "plan_version", json_is_integer(version) ? version : json_null(), "tasks",
                "partitions", rows, "clusters", clusters, "totals", "messages", 0, "lag", lag);
        json_decref(plan);
        return status;
}
