/* store.c — durable state in SQLite: clusters, topics, patterns, groups, plan versions. */
#include "db/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/err.h"
#include "db/migrations.h"
#include "db/plan_cache.h"
#include "db/store_int.h"
#include "db/store_pool.h"
#include "base/util.h"

/* Every statement the store runs; each connection prepares one on first use and keeps
 * it. Values are always bound (sqlite3_bind_*), never formatted into the SQL. */
enum stmt_id {
        S_PING,
        S_CLUSTER_INSERT,
        S_CLUSTER_UPDATE,
        S_CLUSTER_GET,
        S_CLUSTER_LIST,
        S_CLUSTER_DELETE,
        S_CLUSTER_USED_BY,
        S_TOPIC_EXISTS,
        S_TOPIC_UPSERT,
        S_TOPIC_GET,
        S_TOPIC_LIST,
        S_TOPIC_ALL,
        S_TOPIC_DELETE,
        S_TOPIC_USED_BY,
        S_PATTERN_EXISTS,
        S_PATTERN_UPSERT,
        S_PATTERN_GET,
        S_PATTERN_LIST,
        S_PATTERN_ALL,
        S_PATTERN_DELETE,
        S_PATTERN_USED_BY,
        S_GROUP_INSERT,
        S_GROUP_UPDATE,
        S_GROUP_GET,
        S_GROUP_LIST,
        S_GROUP_DELETE,
        S_GROUP_SET_DESIRED,
        S_GROUP_LIST_DESIRED,
        S_REFS_DELETE,
        S_REFS_INSERT,
        S_PLAN_NEXT,
        S_PLAN_INSERT,
        S_PLAN_CURRENT,
        S_PLAN_VERSION,
        S_PLAN_LIST,
        S_PLAN_CURRENT_ALL,
        S__COUNT
};

static const char *const stmt_sql[S__COUNT] = {
        [S_PING] = "SELECT COUNT(*) FROM schema_migrations",
        [S_CLUSTER_INSERT] = "INSERT INTO clusters (name, doc, created_at, updated_at)"
                             " VALUES (?1, ?2, ?3, ?4)",
        [S_CLUSTER_UPDATE] = "UPDATE clusters SET doc = ?2, updated_at = ?3 WHERE name = ?1",
        [S_CLUSTER_GET] = "SELECT doc FROM clusters WHERE name = ?1",
        [S_CLUSTER_LIST] = "SELECT doc FROM clusters ORDER BY name",
        [S_CLUSTER_DELETE] = "DELETE FROM clusters WHERE name = ?1",
        [S_CLUSTER_USED_BY] = "SELECT group_name FROM group_refs WHERE cluster = ?1"
                              " ORDER BY group_name LIMIT 1",
        [S_TOPIC_EXISTS] = "SELECT 1 FROM topics WHERE cluster = ?1 AND name = ?2",
        [S_TOPIC_UPSERT] = "INSERT INTO topics (cluster, name, partitions, discovered_at)"
                           " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (cluster, name) DO UPDATE"
                           " SET partitions = excluded.partitions,"
                           " discovered_at = excluded.discovered_at",
        [S_TOPIC_GET] = "SELECT cluster, name, partitions, discovered_at FROM topics"
                        " WHERE cluster = ?1 AND name = ?2",
        [S_TOPIC_LIST] = "SELECT cluster, name, partitions, discovered_at FROM topics"
                         " WHERE cluster = ?1 ORDER BY name",
        [S_TOPIC_ALL] = "SELECT cluster, name, partitions, discovered_at FROM topics"
                        " ORDER BY cluster, name",
        [S_TOPIC_DELETE] = "DELETE FROM topics WHERE cluster = ?1 AND name = ?2",
        [S_TOPIC_USED_BY] = "SELECT group_name FROM group_refs WHERE cluster = ?1"
                            " AND topic = ?2 ORDER BY group_name LIMIT 1",
        [S_PATTERN_EXISTS] = "SELECT 1 FROM patterns WHERE cluster = ?1 AND pattern = ?2",
        [S_PATTERN_UPSERT] = "INSERT INTO patterns (cluster, pattern, topics, discovered_at)"
                             " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (cluster, pattern)"
                             " DO UPDATE SET topics = excluded.topics,"
                             " discovered_at = excluded.discovered_at",
        [S_PATTERN_GET] = "SELECT cluster, pattern, topics, discovered_at FROM patterns"
                          " WHERE cluster = ?1 AND pattern = ?2",
        [S_PATTERN_LIST] = "SELECT cluster, pattern, topics, discovered_at FROM patterns"
                           " WHERE cluster = ?1 ORDER BY pattern",
        [S_PATTERN_ALL] = "SELECT cluster, pattern, topics, discovered_at FROM patterns"
                          " ORDER BY cluster, pattern",
        [S_PATTERN_DELETE] = "DELETE FROM patterns WHERE cluster = ?1 AND pattern = ?2",
        [S_PATTERN_USED_BY] = "SELECT group_name FROM group_refs WHERE cluster = ?1"
                              " AND pattern = ?2 ORDER BY group_name LIMIT 1",
        [S_GROUP_INSERT] = "INSERT INTO \"groups\" (name, doc, created_at, updated_at)"
                           " VALUES (?1, ?2, ?3, ?4)",
        [S_GROUP_UPDATE] = "UPDATE \"groups\" SET doc = ?2, updated_at = ?3 WHERE name = ?1",
        [S_GROUP_GET] = "SELECT doc FROM \"groups\" WHERE name = ?1",
        [S_GROUP_LIST] = "SELECT doc FROM \"groups\" ORDER BY name",
        [S_GROUP_DELETE] = "DELETE FROM \"groups\" WHERE name = ?1",
        [S_GROUP_SET_DESIRED] = "UPDATE \"groups\" SET desired_running = ?2 WHERE name = ?1",
        [S_GROUP_LIST_DESIRED] = "SELECT name FROM \"groups\" WHERE desired_running = 1"
                                 " ORDER BY name",
        [S_REFS_DELETE] = "DELETE FROM group_refs WHERE group_name = ?1",
        [S_REFS_INSERT] = "INSERT INTO group_refs (group_name, cluster, topic, pattern)"
                          " VALUES (?1, ?2, ?3, ?4)",
        [S_PLAN_NEXT] = "SELECT COALESCE(MAX(version), 0) + 1 FROM plans WHERE group_name = ?1",
        [S_PLAN_INSERT] = "INSERT INTO plans (group_name, version, plan, parallelism, strategy,"
                          " created_at, \"case\", partitions, tasks, idle_tasks, skew,"
                          " moved_from_previous)"
                          " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        [S_PLAN_CURRENT] = "SELECT plan FROM plans WHERE group_name = ?1"
                           " ORDER BY version DESC LIMIT 1",
        [S_PLAN_VERSION] = "SELECT plan FROM plans WHERE group_name = ?1 AND version = ?2",
        [S_PLAN_LIST] = "SELECT version, parallelism, strategy, created_at, \"case\","
                        " partitions, tasks, idle_tasks, skew, moved_from_previous"
                        " FROM plans WHERE group_name = ?1 ORDER BY version DESC",
        /* the primary key answers each group's MAX(version) from its index */
        [S_PLAN_CURRENT_ALL] = "SELECT version, parallelism, strategy, created_at, \"case\","
                               " partitions, tasks, idle_tasks, skew, moved_from_previous,"
                               " group_name FROM plans p WHERE version ="
                               " (SELECT MAX(version) FROM plans q WHERE q.group_name ="
                               " p.group_name)",
};

/* ---- small helpers ---- */

static int nomem(char *errstr, size_t errstr_size)
{
        kp_store_errf(errstr, errstr_size, "out of memory");
        return KP_ERR_NOMEM;
}

/* Binds a NUL-terminated string, or NULL when @p s is NULL. The caller keeps @p s alive
 * until the statement is reset (SQLITE_STATIC: no copy). */
static void bind_str(sqlite3_stmt *stmt, int i, const char *s)
{
        if (s)
                sqlite3_bind_text(stmt, i, s, -1, SQLITE_STATIC);
        else
                sqlite3_bind_null(stmt, i);
}

/* Steps a statement that answers no rows, then resets it. */
static int step_done(kp_store_conn_t *conn, sqlite3_stmt *stmt, const char *what, char *errstr,
                     size_t errstr_size)
{
        int rc = sqlite3_step(stmt);
        int err = rc == SQLITE_DONE ? 0
                                    : kp_store_sqlite_err(kp_store_conn_db(conn), rc, what, errstr,
                                                          errstr_size);
        sqlite3_reset(stmt);
        return err;
}

/* Steps a statement answering at most one row: 1 = a row (statement NOT reset, read
 * its columns, then reset), 0 = none (reset), < 0 = error (reset). */
static int step_row(kp_store_conn_t *conn, sqlite3_stmt *stmt, const char *what, char *errstr,
                    size_t errstr_size)
{
        int rc = sqlite3_step(stmt);
        if (rc == SQLITE_ROW)
                return 1;
        sqlite3_reset(stmt);
        if (rc == SQLITE_DONE)
                return 0;
        return kp_store_sqlite_err(kp_store_conn_db(conn), rc, what, errstr, errstr_size);
}

/* 1 when the one-row, one-key lookup @p id finds a row for (@p a, @p b), 0 when not,
 * < 0 on error. */
static int row_exists(kp_store_conn_t *conn, int id, const char *a, const char *b, char *errstr,
                      size_t errstr_size)
{
        sqlite3_stmt *stmt;
        int r = kp_store_conn_stmt(conn, id, &stmt, errstr, errstr_size);
        if (r)
                return r;
        bind_str(stmt, 1, a);
        if (b)
                bind_str(stmt, 2, b);
        r = step_row(conn, stmt, "lookup", errstr, errstr_size);
        if (r == 1)
                sqlite3_reset(stmt);
        return r;
}

/* *namep = the first group (name order) that the "used by" query @p id finds for
 * (@p cluster, @p key), copied into @p buf; NULL when none. */
static int used_by(kp_store_conn_t *conn, int id, const char *cluster, const char *key, char *buf,
                   size_t size, const char **namep, char *errstr, size_t errstr_size)
{
        sqlite3_stmt *stmt;
        int r = kp_store_conn_stmt(conn, id, &stmt, errstr, errstr_size);
        *namep = NULL;
        if (r)
                return r;
        bind_str(stmt, 1, cluster);
        if (key)
                bind_str(stmt, 2, key);
        r = step_row(conn, stmt, "in-use check", errstr, errstr_size);
        if (r < 0)
                return r;
        if (r == 1) {
                const char *name = (const char *)sqlite3_column_text(stmt, 0);
                snprintf(buf, size, "%s", name ? name : "");
                *namep = buf;
                sqlite3_reset(stmt);
        }
        return 0;
}

/* *textp = compact JSON text of @p doc, which must be an object (free()). */
static int doc_text(const json_t *doc, const char *what, char **textp, char *errstr,
                    size_t errstr_size)
{
        *textp = NULL;
        if (!json_is_object(doc)) {
                kp_store_errf(errstr, errstr_size, "%s must be a JSON object", what);
                return KP_ERR_INVALID;
        }
        /* jansson keeps insertion order, so the text has the caller's key order. */
        *textp = json_dumps(doc, JSON_COMPACT);
        return *textp ? 0 : nomem(errstr, errstr_size);
}

/* *docp = the JSON value of column @p col of the current row. */
static int column_json(sqlite3_stmt *stmt, int col, json_t **docp, char *errstr, size_t errstr_size)
{
        const char *text = (const char *)sqlite3_column_text(stmt, col);
        size_t len = (size_t)sqlite3_column_bytes(stmt, col);
        json_error_t jerr;
        *docp = text ? json_loadb(text, len, 0, &jerr) : NULL;
        if (!*docp) {
                kp_store_errf(errstr, errstr_size, "stored document is not JSON: %s",
                              text ? jerr.text : "NULL");
                return KP_ERR_INTERNAL;
        }
        return 0;
}

/* Runs list query @p id (bound to @p key unless NULL) and appends column 0's JSON of
 * each row to @p arr. */
static int list_docs(kp_store_conn_t *conn, int id, const char *key, json_t *arr, char *errstr,
                     size_t errstr_size)
{
        sqlite3_stmt *stmt;
        int rc, err = kp_store_conn_stmt(conn, id, &stmt, errstr, errstr_size);
        if (err)
                return err;
        if (key)
                bind_str(stmt, 1, key);
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
                json_t *doc;
                if ((err = column_json(stmt, 0, &doc, errstr, errstr_size)))
                        break;
                if (json_array_append_new(arr, doc)) {
                        err = nomem(errstr, errstr_size);
                        break;
                }
        }
        if (!err && rc != SQLITE_DONE)
                err = kp_store_sqlite_err(kp_store_conn_db(conn), rc, "list", errstr, errstr_size);
        sqlite3_reset(stmt);
        return err;
}

/* The string member @p key of @p doc, or NULL. */
static const char *doc_str(const json_t *doc, const char *key)
{
        return json_string_value(json_object_get(doc, key));
}

/* Around a write that changes a group's current plan. In log mode the write waits for the
 * applier, which drops the entries itself: holding the cache's write lock here would block
 * it. */
static void cache_write_begin(kp_store_t *st)
{
        if (!st->has_log)
                kp_plan_cache_write_begin(st->plans);
}

static void cache_write_end(kp_store_t *st, const char *group)
{
        if (!st->has_log)
                kp_plan_cache_write_end(st->plans, group);
}

/* ---- lifecycle ---- */

kp_store_t *kp_store_open(const char *path, char *errstr, size_t errstr_size)
{
        kp_store_t *st = calloc(1, sizeof(*st));
        kp_store_conn_t *conn;
        int err;

        if (!st) {
                nomem(errstr, errstr_size);
                return NULL;
        }
        pthread_mutex_init(&st->log_lock, NULL);
        st->plans = kp_plan_cache_new(); /* NULL: no cache, every read queries */
        st->pool = kp_store_pool_new(path, KP_STORE_POOL_SIZE, stmt_sql, S__COUNT, errstr,
                                     errstr_size);
        if (!st->pool) {
                kp_plan_cache_destroy(st->plans);
                pthread_mutex_destroy(&st->log_lock);
                free(st);
                return NULL;
        }
        conn = kp_store_pool_get(st->pool);
        err = kp_migrations_apply(kp_store_conn_db(conn), kp_migrations, kp_migrations_count,
                                  &st->schema_version, errstr, errstr_size);
        kp_store_pool_put(st->pool, conn);
        if (err) {
                kp_store_close(st);
                return NULL;
        }
        return st;
}

void kp_store_close(kp_store_t *st)
{
        if (!st)
                return;
        kp_store_pool_destroy(st->pool);
        kp_plan_cache_destroy(st->plans);
        pthread_mutex_destroy(&st->log_lock);
        free(st);
}

void kp_store_set_busy_timeout(kp_store_t *st, int ms)
{
        kp_store_pool_set_busy_timeout(st->pool, ms);
}

int kp_store_ping(kp_store_t *st, char *errstr, size_t errstr_size)
{
        kp_store_conn_t *conn = kp_store_pool_get(st->pool);
        sqlite3_stmt *stmt;
        int err = kp_store_conn_stmt(conn, S_PING, &stmt, errstr, errstr_size);
        if (!err) {
                err = step_row(conn, stmt, "ping", errstr, errstr_size);
                if (err == 1) {
                        sqlite3_reset(stmt);
                        err = 0;
                }
        }
        kp_store_pool_put(st->pool, conn);
        return err;
}

int kp_store_schema_version(kp_store_t *st)
{
        return st->schema_version;
}

/* ---- clusters ---- */

/* Inserts (@p id = S_CLUSTER_INSERT / S_GROUP_INSERT) a named document with its time
 * stamps; EXISTS when the name is taken. Runs inside the caller's write transaction. */
static int doc_insert(kp_store_conn_t *conn, int id, const char *kind, const char *name,
                      const char *text, const json_t *doc, char *errstr, size_t errstr_size)
{
        sqlite3_stmt *stmt;
        char now[32];
        const char *created = doc_str(doc, "created_at");
        const char *updated = doc_str(doc, "updated_at");
        int rc, err = kp_store_conn_stmt(conn, id, &stmt, errstr, errstr_size);
        if (err)
                return err;
        kp_time_iso8601(now, sizeof(now));
        bind_str(stmt, 1, name);
        bind_str(stmt, 2, text);
        bind_str(stmt, 3, created ? created : now);
        bind_str(stmt, 4, updated ? updated : created ? created : now);
        rc = sqlite3_step(stmt);
        sqlite3_reset(stmt);
        if (rc == SQLITE_DONE)
                return 0;
        if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
                kp_store_errf(errstr, errstr_size, "%s '%s' already exists", kind, name);
                return KP_ERR_EXISTS;
        }
        return kp_store_sqlite_err(kp_store_conn_db(conn), rc, kind, errstr, errstr_size);
}

/* Replaces a named document (@p id = S_CLUSTER_UPDATE / S_GROUP_UPDATE); NOT_FOUND when
 * absent. Runs inside the caller's write transaction. */
static int doc_update(kp_store_conn_t *conn, int id, const char *kind, const char *name,
                      const char *text, const json_t *doc, char *errstr, size_t errstr_size)
{
        sqlite3_stmt *stmt;
        char now[32];
        const char *updated = doc_str(doc, "updated_at");
        int err = kp_store_conn_stmt(conn, id, &stmt, errstr, errstr_size);
        if (err)
                return err;
        kp_time_iso8601(now, sizeof(now));
        bind_str(stmt, 1, name);
        bind_str(stmt, 2, text);
        bind_str(stmt, 3, updated ? updated : now);
        if ((err = step_done(conn, stmt, kind, errstr, errstr_size)))
                return err;
        if (sqlite3_changes(kp_store_conn_db(conn)) == 0) {
                kp_store_errf(errstr, errstr_size, "%s '%s' not found", kind, name);
                return KP_ERR_NOT_FOUND;
        }
        return 0;
}

/* *docp = the document of a named resource (@p id = S_CLUSTER_GET / S_GROUP_GET). */
static int doc_get(kp_store_t *st, int id, const char *kind, const char *name, json_t **docp,
                   char *errstr, size_t errstr_size)
{
        kp_store_conn_t *conn;
        sqlite3_stmt *stmt;
        int err;

        *docp = NULL;
        if (!name) {
                kp_store_errf(errstr, errstr_size, "%s name required", kind);
                return KP_ERR_INVALID;
        }
        conn = kp_store_pool_get(st->pool);
        if ((err = kp_store_conn_stmt(conn, id, &stmt, errstr, errstr_size)))
                goto out;
        bind_str(stmt, 1, name);
        err = step_row(conn, stmt, kind, errstr, errstr_size);
        if (err == 1)
                err = column_json(stmt, 0, docp, errstr, errstr_size);
        else if (err == 0) {
                kp_store_errf(errstr, errstr_size, "%s '%s' not found", kind, name);
                err = KP_ERR_NOT_FOUND;
        }
out:
        kp_store_pool_put(st->pool, conn);
        return err;
}

/* *arrp = every document of list query @p id, in its order. */
static int docs_list(kp_store_t *st, int id, const char *key, json_t **arrp, char *errstr,
                     size_t errstr_size)
{
        kp_store_conn_t *conn;
        json_t *arr = json_array();
        int err;

        *arrp = NULL;
        if (!arr)
                return nomem(errstr, errstr_size);
        conn = kp_store_pool_get(st->pool);
        err = list_docs(conn, id, key, arr, errstr, errstr_size);
        kp_store_pool_put(st->pool, conn);
        if (err)
                json_decref(arr);
        else
                *arrp = arr;
        return err;
}

/* Runs @p fn inside a write transaction on a borrowed connection: committed when it
 * returns 0, rolled back otherwise, so a failure never leaves a partial write. In log mode
 * the transaction decides and the log carries what it changed (store_log.c). */
typedef kp_store_write_fn write_fn;

static int in_write_tx(kp_store_t *st, write_fn fn, void *arg, char *errstr, size_t errstr_size)
{
        if (st->has_log)
                return kp_store_log_write(st, fn, arg, errstr, errstr_size);
        kp_store_conn_t *conn = kp_store_pool_get(st->pool);
        int err = kp_store_conn_begin_write(conn, errstr, errstr_size);
        if (!err) {
                err = fn(conn, arg, errstr, errstr_size);
                if (err)
                        kp_store_conn_rollback(conn);
                else
                        err = kp_store_conn_commit(conn, errstr, errstr_size);
        }
        kp_store_pool_put(st->pool, conn);
        return err;
}

int kp_store_write(kp_store_t *st, kp_store_write_fn fn, void *arg, char *errstr,
                   size_t errstr_size)
{
        return in_write_tx(st, fn, arg, errstr, errstr_size);
}

/* Arguments of the write transactions below. */
struct doc_write {
        const char *name;
        char *text; /* owned by doc_write() */
        const json_t *doc;
};

static int cluster_create_tx(kp_store_conn_t *conn, void *arg, char *errstr, size_t errstr_size)
{
        struct doc_write *w = arg;
        return doc_insert(conn, S_CLUSTER_INSERT, "cluster", w->name, w->text, w->doc, errstr,
                          errstr_size);
}

static int cluster_update_tx(kp_store_conn_t *conn, void *arg, char *errstr, size_t errstr_size)
{
        struct doc_write *w = arg;
        return doc_update(conn, S_CLUSTER_UPDATE, "cluster", w->name, w->text, w->doc, errstr,
                          errstr_size);
}

/* Writes a named document through @p fn. */
static int doc_write(kp_store_t *st, write_fn fn, const char *kind, const char *name,
                     const json_t *doc, char *errstr, size_t errstr_size)
{
        struct doc_write w = {name, NULL, doc};
        int err;
        if (!name) {
                kp_store_errf(errstr, errstr_size, "%s name required", kind);
                return KP_ERR_INVALID;
        }
        if ((err = doc_text(doc, kind, &w.text, errstr, errstr_size)))
                return err;
        err = in_write_tx(st, fn, &w, errstr, errstr_size);
        free(w.text);
        return err;
}

int kp_store_cluster_create(kp_store_t *st, const char *name, const json_t *doc, char *errstr,
                            size_t errstr_size)
{
        return doc_write(st, cluster_create_tx, "cluster", name, doc, errstr, errstr_size);
}

int kp_store_cluster_update(kp_store_t *st, const char *name, const json_t *doc, char *errstr,
                            size_t errstr_size)
{
        return doc_write(st, cluster_update_tx, "cluster", name, doc, errstr, errstr_size);
}

int kp_store_cluster_get(kp_store_t *st, const char *name, json_t **docp, char *errstr,
                         size_t errstr_size)
{
        return doc_get(st, S_CLUSTER_GET, "cluster", name, docp, errstr, errstr_size);
}

int kp_store_cluster_list(kp_store_t *st, json_t **arrp, char *errstr, size_t errstr_size)
{
        return docs_list(st, S_CLUSTER_LIST, NULL, arrp, errstr, errstr_size);
}

/* Arguments of deletes: a cluster, or a cluster's topic / pattern. */
struct del_args {
        const char *cluster;
        const char *key; /* topic or pattern; NULL for the cluster itself */
};

static int cluster_delete_tx(kp_store_conn_t *conn, void *arg, char *errstr, size_t errstr_size)
{
        struct del_args *d = arg;
        char gbuf[KP_NAME_MAX + 64];
        const char *group;
        sqlite3_stmt *stmt;
        int err;

        if ((err = used_by(conn, S_CLUSTER_USED_BY, d->cluster, NULL, gbuf, sizeof(gbuf), &group,
                           errstr, errstr_size)))
                return err;
        if (group) {
                kp_store_errf(errstr, errstr_size, "cluster '%s' is used by group '%s'", d->cluster,
                              group);
                return KP_ERR_IN_USE;
        }
        if ((err = kp_store_conn_stmt(conn, S_CLUSTER_DELETE, &stmt, errstr, errstr_size)))
                return err;
        bind_str(stmt, 1, d->cluster);
        /* Its topics and patterns go with it (ON DELETE CASCADE). */
        if ((err = step_done(conn, stmt, "delete cluster", errstr, errstr_size)))
                return err;
        if (sqlite3_changes(kp_store_conn_db(conn)) == 0) {
                kp_store_errf(errstr, errstr_size, "cluster '%s' not found", d->cluster);
                return KP_ERR_NOT_FOUND;
        }
        return 0;
}

int kp_store_cluster_delete(kp_store_t *st, const char *name, char *errstr, size_t errstr_size)
{
        struct del_args d = {name, NULL};
        if (!name) {
                kp_store_errf(errstr, errstr_size, "cluster name required");
                return KP_ERR_INVALID;
        }
        return in_write_tx(st, cluster_delete_tx, &d, errstr, errstr_size);
}

/* ---- topics and patterns ---- */

/* {"cluster","name","partitions","discovered_at"} of the current row of a topic query. */
static int topic_doc(sqlite3_stmt *stmt, json_t **docp, char *errstr, size_t errstr_size)
{
        json_t *doc = json_object();
        if (!doc ||
            json_object_set_new(doc, "cluster",
                                json_string((const char *)sqlite3_column_text(stmt, 0))) ||
            json_object_set_new(doc, "name",
                                json_string((const char *)sqlite3_column_text(stmt, 1))) ||
            json_object_set_new(doc, "partitions", json_integer(sqlite3_column_int64(stmt, 2))) ||
            json_object_set_new(doc, "discovered_at",
                                json_string((const char *)sqlite3_column_text(stmt, 3)))) {
                json_decref(doc);
                *docp = NULL;
                return nomem(errstr, errstr_size);
        }
        *docp = doc;
        return 0;
}

/* {"cluster","pattern","topics":[...],"discovered_at"} of the current row of a pattern
 * query. */
static int pattern_doc(sqlite3_stmt *stmt, json_t **docp, char *errstr, size_t errstr_size)
{
        json_t *doc = json_object(), *topics = NULL;
        int err;
        *docp = NULL;
        if (!doc)
                return nomem(errstr, errstr_size);
        if ((err = column_json(stmt, 2, &topics, errstr, errstr_size))) {
                json_decref(doc);
                return err;
        }
        if (json_object_set_new(doc, "cluster",
                                json_string((const char *)sqlite3_column_text(stmt, 0))) ||
            json_object_set_new(doc, "pattern",
                                json_string((const char *)sqlite3_column_text(stmt, 1))) ||
            json_object_set_new(doc, "topics", topics) ||
            json_object_set_new(doc, "discovered_at",
                                json_string((const char *)sqlite3_column_text(stmt, 3)))) {
                json_decref(doc);
                return nomem(errstr, errstr_size);
        }
        *docp = doc;
        return 0;
}

typedef int (*row_doc_fn)(sqlite3_stmt *stmt, json_t **docp, char *errstr, size_t errstr_size);

/* Appends one document per row of query @p id (bound to @p cluster unless NULL) to
 * @p arr, built by @p fn. */
static int list_rows(kp_store_conn_t *conn, int id, const char *cluster, row_doc_fn fn, json_t *arr,
                     char *errstr, size_t errstr_size)
{
        sqlite3_stmt *stmt;
        int rc, err = kp_store_conn_stmt(conn, id, &stmt, errstr, errstr_size);
        if (err)
                return err;
        if (cluster)
                bind_str(stmt, 1, cluster);
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
                json_t *doc;
                if ((err = fn(stmt, &doc, errstr, errstr_size)))
                        break;
                if (json_array_append_new(arr, doc)) {
                        err = nomem(errstr, errstr_size);
                        break;
                }
        }
        if (!err && rc != SQLITE_DONE)
                err = kp_store_sqlite_err(kp_store_conn_db(conn), rc, "list", errstr, errstr_size);
        sqlite3_reset(stmt);
        return err;
}

/* *docp = the one row of query @p id for (@p cluster, @p key) built by @p fn;
 * NOT_FOUND naming the cluster when it is absent, else naming @p kind. */
static int reg_get(kp_store_t *st, int id, row_doc_fn fn, const char *kind, const char *cluster,
                   const char *key, json_t **docp, char *errstr, size_t errstr_size)
{
        kp_store_conn_t *conn;
        sqlite3_stmt *stmt;
        int err;

        *docp = NULL;
        if (!cluster || !key) {
                kp_store_errf(errstr, errstr_size, "cluster and %s required", kind);
                return KP_ERR_INVALID;
        }
        conn = kp_store_pool_get(st->pool);
        if ((err = kp_store_conn_stmt(conn, id, &stmt, errstr, errstr_size)))
                goto out;
        bind_str(stmt, 1, cluster);
        bind_str(stmt, 2, key);
        err = step_row(conn, stmt, kind, errstr, errstr_size);
        if (err == 1) {
                err = fn(stmt, docp, errstr, errstr_size);
                sqlite3_reset(stmt);
        } else if (err == 0) {
                kp_store_errf(errstr, errstr_size, "%s '%s' is not registered on cluster '%s'",
                              kind, key, cluster);
                err = KP_ERR_NOT_FOUND;
        }
out:
        kp_store_pool_put(st->pool, conn);
        return err;
}

/* Arguments of topic / pattern upserts. */
struct reg_put {
        int upsert_id, exists_id;
        const char *kind;
        const char *cluster, *key;
        int partitions;          /* topics */
        const char *topics_text; /* patterns */
        const char *discovered_at;
        int created;
};

static int reg_put_tx(kp_store_conn_t *conn, void *arg, char *errstr, size_t errstr_size)
{
        struct reg_put *p = arg;
        sqlite3_stmt *stmt;
        int err, found;

        if ((found = row_exists(conn, S_CLUSTER_GET, p->cluster, NULL, errstr, errstr_size)) < 0)
                return found;
        if (!found) {
                kp_store_errf(errstr, errstr_size, "cluster '%s' not found", p->cluster);
                return KP_ERR_NOT_FOUND;
        }
        if ((found = row_exists(conn, p->exists_id, p->cluster, p->key, errstr, errstr_size)) < 0)
                return found;
        if ((err = kp_store_conn_stmt(conn, p->upsert_id, &stmt, errstr, errstr_size)))
                return err;
        bind_str(stmt, 1, p->cluster);
        bind_str(stmt, 2, p->key);
        if (p->topics_text)
                bind_str(stmt, 3, p->topics_text);
        else
                sqlite3_bind_int(stmt, 3, p->partitions);
        bind_str(stmt, 4, p->discovered_at);
        if ((err = step_done(conn, stmt, p->kind, errstr, errstr_size)))
                return err;
        p->created = !found;
        return 0;
}

static int reg_put(kp_store_t *st, struct reg_put *p, int *createdp, char *errstr,
                   size_t errstr_size)
{
        char now[32];
        int err;
        if (createdp)
                *createdp = 0;
        if (!p->cluster || !p->key) {
                kp_store_errf(errstr, errstr_size, "cluster and %s required", p->kind);
                return KP_ERR_INVALID;
        }
        if (!p->discovered_at) {
                kp_time_iso8601(now, sizeof(now));
                p->discovered_at = now;
        }
        err = in_write_tx(st, reg_put_tx, p, errstr, errstr_size);
        if (!err && createdp)
                *createdp = p->created;
        return err;
}

int kp_store_topic_put(kp_store_t *st, const char *cluster, const char *topic, int partitions,
                       const char *discovered_at, int *createdp, char *errstr, size_t errstr_size)
{
        struct reg_put p = {.upsert_id = S_TOPIC_UPSERT,
                            .exists_id = S_TOPIC_EXISTS,
                            .kind = "topic",
                            .cluster = cluster,
                            .key = topic,
                            .partitions = partitions,
                            .discovered_at = discovered_at};
        if (partitions < 0) {
                kp_store_errf(errstr, errstr_size, "partitions must be >= 0");
                return KP_ERR_INVALID;
        }
        return reg_put(st, &p, createdp, errstr, errstr_size);
}

int kp_store_topic_get(kp_store_t *st, const char *cluster, const char *topic, json_t **docp,
                       char *errstr, size_t errstr_size)
{
        return reg_get(st, S_TOPIC_GET, topic_doc, "topic", cluster, topic, docp, errstr,
                       errstr_size);
}

int kp_store_topic_list(kp_store_t *st, const char *cluster, json_t **arrp, char *errstr,
                        size_t errstr_size)
{
        kp_store_conn_t *conn;
        json_t *arr = NULL;
        int err, found;

        *arrp = NULL;
        if (!cluster) {
                kp_store_errf(errstr, errstr_size, "cluster required");
                return KP_ERR_INVALID;
        }
        if (!(arr = json_array()))
                return nomem(errstr, errstr_size);
        conn = kp_store_pool_get(st->pool);
        /* One snapshot for the three queries: no topic of a cluster deleted meanwhile. */
        if ((err = kp_store_conn_begin_read(conn, errstr, errstr_size)))
                goto out;
        if ((found = row_exists(conn, S_CLUSTER_GET, cluster, NULL, errstr, errstr_size)) < 0) {
                err = found;
                goto out;
        }
        if (!found) {
                kp_store_errf(errstr, errstr_size, "cluster '%s' not found", cluster);
                err = KP_ERR_NOT_FOUND;
                goto out;
        }
        if ((err = list_rows(conn, S_TOPIC_LIST, cluster, topic_doc, arr, errstr, errstr_size)) ||
            (err = list_rows(conn, S_PATTERN_LIST, cluster, pattern_doc, arr, errstr, errstr_size)))
                goto out;
out:
        kp_store_conn_rollback(conn); /* read-only: nothing to commit */
        kp_store_pool_put(st->pool, conn);
        if (err)
                json_decref(arr);
        else
                *arrp = arr;
        return err;
}

/* Arguments of topic / pattern deletes. */
struct reg_del {
        int used_id, delete_id;
        const char *kind;
        const char *cluster, *key;
};

static int reg_delete_tx(kp_store_conn_t *conn, void *arg, char *errstr, size_t errstr_size)
{
        struct reg_del *d = arg;
        char gbuf[KP_NAME_MAX + 64];
        const char *group;
        sqlite3_stmt *stmt;
        int err;

        if ((err = used_by(conn, d->used_id, d->cluster, d->key, gbuf, sizeof(gbuf), &group, errstr,
                           errstr_size)))
                return err;
        if (group) {
                kp_store_errf(errstr, errstr_size, "%s '%s' of cluster '%s' is used by group '%s'",
                              d->kind, d->key, d->cluster, group);
                return KP_ERR_IN_USE;
        }
        if ((err = kp_store_conn_stmt(conn, d->delete_id, &stmt, errstr, errstr_size)))
                return err;
        bind_str(stmt, 1, d->cluster);
        bind_str(stmt, 2, d->key);
        if ((err = step_done(conn, stmt, d->kind, errstr, errstr_size)))
                return err;
        if (sqlite3_changes(kp_store_conn_db(conn)) == 0) {
                kp_store_errf(errstr, errstr_size, "%s '%s' is not registered on cluster '%s'",
                              d->kind, d->key, d->cluster);
                return KP_ERR_NOT_FOUND;
        }
        return 0;
}

static int reg_delete(kp_store_t *st, struct reg_del *d, char *errstr, size_t errstr_size)
{
        if (!d->cluster || !d->key) {
                kp_store_errf(errstr, errstr_size, "cluster and %s required", d->kind);
                return KP_ERR_INVALID;
        }
        return in_write_tx(st, reg_delete_tx, d, errstr, errstr_size);
}

int kp_store_topic_delete(kp_store_t *st, const char *cluster, const char *topic, char *errstr,
                          size_t errstr_size)
{
        struct reg_del d = {S_TOPIC_USED_BY, S_TOPIC_DELETE, "topic", cluster, topic};
        return reg_delete(st, &d, errstr, errstr_size);
}

int kp_store_pattern_put(kp_store_t *st, const char *cluster, const char *pattern,
                         const json_t *topics, const char *discovered_at, int *createdp,
                         char *errstr, size_t errstr_size)
{
        struct reg_put p = {.upsert_id = S_PATTERN_UPSERT,
                            .exists_id = S_PATTERN_EXISTS,
                            .kind = "pattern",
                            .cluster = cluster,
                            .key = pattern,
                            .discovered_at = discovered_at};
        char *text;
        int err;

        if (createdp)
                *createdp = 0;
        if (!json_is_array(topics)) {
                kp_store_errf(errstr, errstr_size, "pattern topics must be a JSON array");
                return KP_ERR_INVALID;
        }
        if (!(text = json_dumps(topics, JSON_COMPACT)))
                return nomem(errstr, errstr_size);
        p.topics_text = text;
        err = reg_put(st, &p, createdp, errstr, errstr_size);
        free(text);
        return err;
}

int kp_store_pattern_get(kp_store_t *st, const char *cluster, const char *pattern, json_t **docp,
                         char *errstr, size_t errstr_size)
{
        return reg_get(st, S_PATTERN_GET, pattern_doc, "pattern", cluster, pattern, docp, errstr,
                       errstr_size);
}

int kp_store_pattern_delete(kp_store_t *st, const char *cluster, const char *pattern, char *errstr,
                            size_t errstr_size)
{
        struct reg_del d = {S_PATTERN_USED_BY, S_PATTERN_DELETE, "pattern", cluster, pattern};
        return reg_delete(st, &d, errstr, errstr_size);
}

int kp_store_registrations_all(kp_store_t *st, json_t **arrp, char *errstr, size_t errstr_size)
{
        kp_store_conn_t *conn;
        json_t *arr = json_array();
        int err;

        *arrp = NULL;
        if (!arr)
                return nomem(errstr, errstr_size);
        conn = kp_store_pool_get(st->pool);
        if (!(err = kp_store_conn_begin_read(conn, errstr, errstr_size)) &&
            !(err = list_rows(conn, S_TOPIC_ALL, NULL, topic_doc, arr, errstr, errstr_size)))
                err = list_rows(conn, S_PATTERN_ALL, NULL, pattern_doc, arr, errstr, errstr_size);
        kp_store_conn_rollback(conn);
        kp_store_pool_put(st->pool, conn);
        if (err)
                json_decref(arr);
        else
                *arrp = arr;
        return err;
}

/* ---- groups ---- */

/* Rewrites group_refs of group @p name from doc.topics: one row per entry, each naming a
 * registered topic or pattern (UNPROCESSABLE otherwise, INVALID when malformed). */
static int group_refs_write(kp_store_conn_t *conn, const char *name, const json_t *doc,
                            char *errstr, size_t errstr_size)
{
        const json_t *topics = json_object_get(doc, "topics");
        const json_t *ref;
        sqlite3_stmt *stmt;
        size_t i;
        int err;

        if ((err = kp_store_conn_stmt(conn, S_REFS_DELETE, &stmt, errstr, errstr_size)))
                return err;
        bind_str(stmt, 1, name);
        if ((err = step_done(conn, stmt, "group refs", errstr, errstr_size)))
                return err;
        if (!topics)
                return 0;
        if (!json_is_array(topics)) {
                kp_store_errf(errstr, errstr_size, "group topics must be an array");
                return KP_ERR_INVALID;
        }
        json_array_foreach(topics, i, ref)
        {
                const char *cluster = doc_str(ref, "cluster");
                const char *topic = doc_str(ref, "topic");
                const char *pattern = doc_str(ref, "pattern");
                int found;

                if (!cluster || !topic == !pattern) {
                        kp_store_errf(errstr, errstr_size,
                                      "group topics[%zu] needs a cluster and either a topic"
                                      " or a pattern",
                                      i);
                        return KP_ERR_INVALID;
                }
                found = row_exists(conn, topic ? S_TOPIC_EXISTS : S_PATTERN_EXISTS, cluster,
                                   topic ? topic : pattern, errstr, errstr_size);
                if (found < 0)
                        return found;
                if (!found) {
                        kp_store_errf(
                                errstr, errstr_size, "%s '%s' is not registered on cluster '%s'",
                                topic ? "topic" : "pattern", topic ? topic : pattern, cluster);
                        return KP_ERR_UNPROCESSABLE;
                }
                if ((err = kp_store_conn_stmt(conn, S_REFS_INSERT, &stmt, errstr, errstr_size)))
                        return err;
                bind_str(stmt, 1, name);
                bind_str(stmt, 2, cluster);
                bind_str(stmt, 3, topic);
                bind_str(stmt, 4, pattern);
                if ((err = step_done(conn, stmt, "group refs", errstr, errstr_size)))
                        return err;
        }
        return 0;
}

static int group_create_tx(kp_store_conn_t *conn, void *arg, char *errstr, size_t errstr_size)
{
        struct doc_write *w = arg;
        int err = doc_insert(conn, S_GROUP_INSERT, "group", w->name, w->text, w->doc, errstr,
                             errstr_size);
        return err ? err : group_refs_write(conn, w->name, w->doc, errstr, errstr_size);
}

static int group_update_tx(kp_store_conn_t *conn, void *arg, char *errstr, size_t errstr_size)
{
        struct doc_write *w = arg;
        int err = doc_update(conn, S_GROUP_UPDATE, "group", w->name, w->text, w->doc, errstr,
                             errstr_size);
        return err ? err : group_refs_write(conn, w->name, w->doc, errstr, errstr_size);
}

int kp_store_group_create(kp_store_t *st, const char *name, const json_t *doc, char *errstr,
                          size_t errstr_size)
{
        return doc_write(st, group_create_tx, "group", name, doc, errstr, errstr_size);
}

int kp_store_group_update(kp_store_t *st, const char *name, const json_t *doc, char *errstr,
                          size_t errstr_size)
{
        return doc_write(st, group_update_tx, "group", name, doc, errstr, errstr_size);
}

int kp_store_group_get(kp_store_t *st, const char *name, json_t **docp, char *errstr,
                       size_t errstr_size)
{
        return doc_get(st, S_GROUP_GET, "group", name, docp, errstr, errstr_size);
}

int kp_store_group_list(kp_store_t *st, json_t **arrp, char *errstr, size_t errstr_size)
{
        return docs_list(st, S_GROUP_LIST, NULL, arrp, errstr, errstr_size);
}

/* Arguments of group deletes and desired-state changes. */
struct group_change {
        int id; /* S_GROUP_DELETE or S_GROUP_SET_DESIRED */
        const char *name;
        int running;
};

static int group_change_tx(kp_store_conn_t *conn, void *arg, char *errstr, size_t errstr_size)
{
        struct group_change *g = arg;
        sqlite3_stmt *stmt;
        int err = kp_store_conn_stmt(conn, g->id, &stmt, errstr, errstr_size);
        if (err)
                return err;
        bind_str(stmt, 1, g->name);
        if (g->id == S_GROUP_SET_DESIRED)
                sqlite3_bind_int(stmt, 2, g->running ? 1 : 0);
        /* A delete takes the group's plans and refs with it (ON DELETE CASCADE). */
        if ((err = step_done(conn, stmt, "group", errstr, errstr_size)))
                return err;
        if (sqlite3_changes(kp_store_conn_db(conn)) == 0) {
                kp_store_errf(errstr, errstr_size, "group '%s' not found", g->name);
                return KP_ERR_NOT_FOUND;
        }
        return 0;
}

static int group_change(kp_store_t *st, struct group_change *g, char *errstr, size_t errstr_size)
{
        if (!g->name) {
                kp_store_errf(errstr, errstr_size, "group name required");
                return KP_ERR_INVALID;
        }
        return in_write_tx(st, group_change_tx, g, errstr, errstr_size);
}

int kp_store_group_delete(kp_store_t *st, const char *name, char *errstr, size_t errstr_size)
{
        struct group_change g = {S_GROUP_DELETE, name, 0};
        if (!name)
                return group_change(st, &g, errstr, errstr_size);
        cache_write_begin(st);
        int err = group_change(st, &g, errstr, errstr_size);
        cache_write_end(st, name); /* its plans went with it */
        return err;
}

int kp_store_group_set_desired(kp_store_t *st, const char *name, int running, char *errstr,
                               size_t errstr_size)
{
        struct group_change g = {S_GROUP_SET_DESIRED, name, running};
        return group_change(st, &g, errstr, errstr_size);
}

int kp_store_group_list_desired(kp_store_t *st, json_t **arrp, char *errstr, size_t errstr_size)
{
        kp_store_conn_t *conn;
        sqlite3_stmt *stmt;
        json_t *arr = json_array();
        int rc, err;

        *arrp = NULL;
        if (!arr)
                return nomem(errstr, errstr_size);
        conn = kp_store_pool_get(st->pool);
        if (!(err = kp_store_conn_stmt(conn, S_GROUP_LIST_DESIRED, &stmt, errstr, errstr_size))) {
                while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
                        if (json_array_append_new(
                                    arr, json_string((const char *)sqlite3_column_text(stmt, 0)))) {
                                err = nomem(errstr, errstr_size);
                                break;
                        }
                if (!err && rc != SQLITE_DONE)
                        err = kp_store_sqlite_err(kp_store_conn_db(conn), rc, "desired groups",
                                                  errstr, errstr_size);
                sqlite3_reset(stmt);
        }
        kp_store_pool_put(st->pool, conn);
        if (err)
                json_decref(arr);
        else
                *arrp = arr;
        return err;
}

/* ---- plans ---- */

/* Arguments of kp_store_plan_add. */
struct plan_add {
        const char *group;
        const json_t *plan;
        int version;
};

/* *textp = @p plan's compact text with "version": @p version right after "group" (first
 * when there is no "group"), any "version" it had replaced: readers expect the keys in
 * the order group, version, parallelism, strategy, created_at, tasks, analysis. */
static int plan_text(const json_t *plan, int version, char **textp, char *errstr,
                     size_t errstr_size)
{
        json_t *out = json_object();
        const char *key;
        json_t *value;
        int failed = !out;

        *textp = NULL;
        if (!failed && !json_object_get(plan, "group"))
                failed = json_object_set_new(out, "version", json_integer(version));
        /* json_object_foreach only reads: the cast drops const for the macro. */
        json_object_foreach((json_t *)plan, key, value)
        {
                if (failed)
                        break;
                if (!strcmp(key, "version"))
                        continue;
                /* A shallow copy: the values are shared (borrowed) with @p plan. */
                failed = json_object_set(out, key, value);
                if (!failed && !strcmp(key, "group"))
                        failed = json_object_set_new(out, "version", json_integer(version));
        }
        if (!failed)
                *textp = json_dumps(out, JSON_COMPACT);
        json_decref(out);
        return *textp ? 0 : nomem(errstr, errstr_size);
}

/* Binds the integer member @p key of @p obj, or NULL when absent. */
static void bind_member_int(sqlite3_stmt *stmt, int i, const json_t *obj, const char *key)
{
        const json_t *v = json_object_get(obj, key);
        if (json_is_integer(v))
                sqlite3_bind_int64(stmt, i, json_integer_value(v));
        else
                sqlite3_bind_null(stmt, i);
}

static int plan_add_tx(kp_store_conn_t *conn, void *arg, char *errstr, size_t errstr_size)
{
        struct plan_add *a = arg;
        const json_t *analysis = json_object_get(a->plan, "analysis");
        const json_t *skew = json_object_get(analysis, "skew");
        const char *created = doc_str(a->plan, "created_at");
        sqlite3_stmt *stmt;
        char *text = NULL;
        char now[32];
        int err, found, version = 0;

        if ((found = row_exists(conn, S_GROUP_GET, a->group, NULL, errstr, errstr_size)) < 0)
                return found;
        if (!found) {
                kp_store_errf(errstr, errstr_size, "group '%s' not found", a->group);
                return KP_ERR_NOT_FOUND;
        }
        /* Inside BEGIN IMMEDIATE no other writer runs until COMMIT, so max + 1 is ours. */
        if ((err = kp_store_conn_stmt(conn, S_PLAN_NEXT, &stmt, errstr, errstr_size)))
                return err;
        bind_str(stmt, 1, a->group);
        if ((err = step_row(conn, stmt, "next plan version", errstr, errstr_size)) < 0)
                return err;
        if (err == 1) {
                version = sqlite3_column_int(stmt, 0);
                sqlite3_reset(stmt);
        }
        if (version < 1) {
                kp_store_errf(errstr, errstr_size, "next plan version of '%s' unreadable",
                              a->group);
                return KP_ERR_INTERNAL;
        }
        if ((err = plan_text(a->plan, version, &text, errstr, errstr_size)))
                return err;
        if ((err = kp_store_conn_stmt(conn, S_PLAN_INSERT, &stmt, errstr, errstr_size)))
                goto out;
        kp_time_iso8601(now, sizeof(now));
        bind_str(stmt, 1, a->group);
        sqlite3_bind_int(stmt, 2, version);
        bind_str(stmt, 3, text);
        bind_member_int(stmt, 4, a->plan, "parallelism");
        bind_str(stmt, 5, doc_str(a->plan, "strategy"));
        bind_str(stmt, 6, created ? created : now);
        bind_str(stmt, 7, doc_str(analysis, "case"));
        bind_member_int(stmt, 8, analysis, "partitions");
        bind_member_int(stmt, 9, analysis, "tasks");
        bind_member_int(stmt, 10, analysis, "idle_tasks");
        if (json_is_number(skew))
                sqlite3_bind_double(stmt, 11, json_number_value(skew));
        bind_member_int(stmt, 12, analysis, "moved_from_previous");
        if ((err = step_done(conn, stmt, "store plan", errstr, errstr_size)))
                goto out;
        a->version = version;
out:
        free(text);
        return err;
}

int kp_store_plan_add(kp_store_t *st, const char *group, const json_t *plan, int *versionp,
                      char *errstr, size_t errstr_size)
{
        struct plan_add a = {group, plan, 0};
        int err;

        if (versionp)
                *versionp = 0;
        if (!group) {
                kp_store_errf(errstr, errstr_size, "group name required");
                return KP_ERR_INVALID;
        }
        if (!json_is_object(plan)) {
                kp_store_errf(errstr, errstr_size, "plan must be a JSON object");
                return KP_ERR_INVALID;
        }
        cache_write_begin(st);
        err = in_write_tx(st, plan_add_tx, &a, errstr, errstr_size);
        cache_write_end(st, group);
        if (!err && versionp)
                *versionp = a.version;
        return err;
}

/* Fills errstr for a plan that was not found: is the group missing or the version?
 * Only on the miss path, so the hit stays one query. */
static int plan_not_found(kp_store_conn_t *conn, const char *group, int version, char *errstr,
                          size_t errstr_size)
{
        int found = row_exists(conn, S_GROUP_GET, group, NULL, errstr, errstr_size);
        if (found < 0)
                return found;
        if (!found)
                kp_store_errf(errstr, errstr_size, "group '%s' not found", group);
        else if (version)
                kp_store_errf(errstr, errstr_size, "group '%s' has no plan version %d", group,
                              version);
        else
                kp_store_errf(errstr, errstr_size, "group '%s' has no plan yet", group);
        return KP_ERR_NOT_FOUND;
}

int kp_store_plan_get_text(kp_store_t *st, const char *group, int version, char **textp,
                           size_t *lenp, char *errstr, size_t errstr_size)
{
        kp_store_conn_t *conn;
        sqlite3_stmt *stmt;
        int err;

        *textp = NULL;
        if (lenp)
                *lenp = 0;
        if (!group || version < 0) {
                kp_store_errf(errstr, errstr_size, "group and a version >= 0 required");
                return KP_ERR_INVALID;
        }
        if (!version) {
                size_t clen = 0;
                int hit = kp_plan_cache_get(st->plans, group, textp, &clen);
                if (hit > 0 && lenp)
                        *lenp = clen;
                if (hit)
                        return hit > 0 ? 0 : nomem(errstr, errstr_size);
                kp_plan_cache_miss_begin(st->plans); /* no plan write until it is filled */
        }
        conn = kp_store_pool_get(st->pool);
        if ((err = kp_store_conn_stmt(conn, version ? S_PLAN_VERSION : S_PLAN_CURRENT, &stmt,
                                      errstr, errstr_size)))
                goto out;
        bind_str(stmt, 1, group);
        if (version)
                sqlite3_bind_int(stmt, 2, version);
        err = step_row(conn, stmt, "plan", errstr, errstr_size);
        if (err == 1) {
                const void *text = sqlite3_column_text(stmt, 0);
                size_t len = (size_t)sqlite3_column_bytes(stmt, 0);
                char *copy = text ? malloc(len + 1) : NULL;
                if (copy) {
                        memcpy(copy, text, len);
                        copy[len] = '\0';
                        *textp = copy;
                        if (lenp)
                                *lenp = len;
                        err = 0;
                        if (!version)
                                kp_plan_cache_fill(st->plans, group, copy, len);
                } else {
                        err = nomem(errstr, errstr_size);
                }
                sqlite3_reset(stmt);
        } else if (err == 0) {
                err = plan_not_found(conn, group, version, errstr, errstr_size);
        }
out:
        kp_store_pool_put(st->pool, conn);
        if (!version)
                kp_plan_cache_miss_end(st->plans);
        return err;
}

int kp_store_plan_get(kp_store_t *st, const char *group, int version, json_t **docp, char *errstr,
                      size_t errstr_size)
{
        char *text = NULL;
        size_t len = 0;
        json_error_t jerr;
        int err;

        *docp = NULL;
        if ((err = kp_store_plan_get_text(st, group, version, &text, &len, errstr, errstr_size)))
                return err;
        *docp = json_loadb(text, len, 0, &jerr);
        free(text);
        if (!*docp) {
                kp_store_errf(errstr, errstr_size, "stored plan is not JSON: %s", jerr.text);
                return KP_ERR_INTERNAL;
        }
        return 0;
}

/* Sets @p key of @p obj to column @p col as an integer / string / real, or null when the
 * column is NULL. @returns -1 on allocation failure. */
static int set_column(json_t *obj, const char *key, sqlite3_stmt *stmt, int col)
{
        json_t *v;
        switch (sqlite3_column_type(stmt, col)) {
        case SQLITE_NULL: v = json_null(); break;
        case SQLITE_INTEGER: v = json_integer(sqlite3_column_int64(stmt, col)); break;
        case SQLITE_FLOAT: v = json_real(sqlite3_column_double(stmt, col)); break;
        default: v = json_string((const char *)sqlite3_column_text(stmt, col)); break;
        }
        return json_object_set_new(obj, key, v);
}

/* The summary of the current row of S_PLAN_LIST. */
static json_t *plan_summary(sqlite3_stmt *stmt)
{
        json_t *sum = json_object(), *an = json_object();
        int failed = !sum || !an;
        if (!failed)
                failed = set_column(sum, "version", stmt, 0) ||
                         set_column(sum, "parallelism", stmt, 1) ||
                         set_column(sum, "strategy", stmt, 2) ||
                         set_column(sum, "created_at", stmt, 3) ||
                         set_column(an, "case", stmt, 4) || set_column(an, "partitions", stmt, 5) ||
                         set_column(an, "tasks", stmt, 6) ||
                         set_column(an, "idle_tasks", stmt, 7) || set_column(an, "skew", stmt, 8) ||
                         set_column(an, "moved_from_previous", stmt, 9);
        /* skew is REAL: a whole number comes back as a float, keep it a JSON real. */
        if (!failed && sqlite3_column_type(stmt, 8) == SQLITE_INTEGER)
                failed = json_object_set_new(an, "skew", json_real(sqlite3_column_double(stmt, 8)));
        if (!failed) {
                failed = json_object_set_new(sum, "analysis", an);
                an = NULL;
        }
        json_decref(an);
        if (failed) {
                json_decref(sum);
                return NULL;
        }
        return sum;
}

int kp_store_plan_current_all(kp_store_t *st, json_t **objp, char *errstr, size_t errstr_size)
{
        kp_store_conn_t *conn;
        sqlite3_stmt *stmt;
        json_t *obj = json_object();
        int rc, err;

        *objp = NULL;
        if (!obj)
                return nomem(errstr, errstr_size);
        conn = kp_store_pool_get(st->pool);
        if ((err = kp_store_conn_begin_read(conn, errstr, errstr_size)))
                goto out;
        if ((err = kp_store_conn_stmt(conn, S_PLAN_CURRENT_ALL, &stmt, errstr, errstr_size)))
                goto out;
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
                const char *name = (const char *)sqlite3_column_text(stmt, 10);
                json_t *sum = plan_summary(stmt);
                if (!name || !sum || json_object_set_new(obj, name, sum)) {
                        err = nomem(errstr, errstr_size);
                        break;
                }
        }
        if (!err && rc != SQLITE_DONE)
                err = kp_store_sqlite_err(kp_store_conn_db(conn), rc, "current plans", errstr,
                                          errstr_size);
        sqlite3_reset(stmt);
out:
        kp_store_conn_rollback(conn);
        kp_store_pool_put(st->pool, conn);
        if (err)
                json_decref(obj);
        else
                *objp = obj;
        return err;
}

int kp_store_plan_list(kp_store_t *st, const char *group, json_t **arrp, char *errstr,
                       size_t errstr_size)
{
        kp_store_conn_t *conn;
        sqlite3_stmt *stmt;
        json_t *arr = NULL;
        int rc, err, found;

        *arrp = NULL;
        if (!group) {
                kp_store_errf(errstr, errstr_size, "group name required");
                return KP_ERR_INVALID;
        }
        if (!(arr = json_array()))
                return nomem(errstr, errstr_size);
        conn = kp_store_pool_get(st->pool);
        if ((err = kp_store_conn_begin_read(conn, errstr, errstr_size)))
                goto out;
        if ((found = row_exists(conn, S_GROUP_GET, group, NULL, errstr, errstr_size)) < 0) {
                err = found;
                goto out;
        }
        if (!found) {
                kp_store_errf(errstr, errstr_size, "group '%s' not found", group);
                err = KP_ERR_NOT_FOUND;
                goto out;
        }
        if ((err = kp_store_conn_stmt(conn, S_PLAN_LIST, &stmt, errstr, errstr_size)))
                goto out;
        bind_str(stmt, 1, group);
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
                if (json_array_append_new(arr, plan_summary(stmt))) {
                        err = nomem(errstr, errstr_size);
                        break;
                }
        if (!err && rc != SQLITE_DONE)
                err = kp_store_sqlite_err(kp_store_conn_db(conn), rc, "plan list", errstr,
                                          errstr_size);
        sqlite3_reset(stmt);
out:
        kp_store_conn_rollback(conn);
        kp_store_pool_put(st->pool, conn);
        if (err)
                json_decref(arr);
        else
                *arrp = arr;
        return err;
}
