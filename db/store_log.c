/* store_log.c — the store's writes as records of the service's state log, and their apply. */
#include "db/store_log.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/config.h"
#include "base/err.h"
#include "db/store_int.h"

/* One table the log carries: its record kind, its key columns, every column in order, and
 * which column holds JSON text (embedded in the record as JSON, not as a string). */
typedef struct log_table {
        const char *kind, *table;
        const char *k1, *k2; /* k2 NULL: one-part key */
        const char *cols[13];
        const char *json_col;
} log_table_t;

static const log_table_t tables[] = {
        {"cluster", "clusters", "name", NULL, {"name", "doc", "created_at", "updated_at"}, "doc"},
        {"topic",
         "topics",
         "cluster",
         "name",
         {"cluster", "name", "partitions", "discovered_at"},
         NULL},
        {"pattern",
         "patterns",
         "cluster",
         "pattern",
         {"cluster", "pattern", "topics", "discovered_at"},
         "topics"},
        {"group",
         "groups",
         "name",
         NULL,
         {"name", "doc", "desired_running", "created_at", "updated_at"},
         "doc"},
        {"plan",
         "plans",
         "group_name",
         "version",
         {"group_name", "version", "plan", "parallelism", "strategy", "created_at", "case",
          "partitions", "tasks", "idle_tasks", "skew", "moved_from_previous"},
         "plan"},
        {"placement", "placement", "name", NULL, {"name", "epoch", "doc", "updated_at"}, "doc"},
};
#define NTABLES (sizeof(tables) / sizeof(tables[0]))

static const log_table_t *table_of(const char *kind)
{
        for (size_t i = 0; i < NTABLES; i++)
                if (!strcmp(tables[i].kind, kind))
                        return &tables[i];
        return NULL;
}

static int nomem(char *errstr, size_t errstr_size)
{
        kp_store_errf(errstr, errstr_size, "out of memory");
        return KP_ERR_NOMEM;
}

static int exec_sql(sqlite3 *db, const char *sql, const char *what, char *errstr,
                    size_t errstr_size)
{
        int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
        return rc == SQLITE_OK ? 0 : kp_store_sqlite_err(db, rc, what, errstr, errstr_size);
}

/* ---- records ---- */

int kp_store_recs_add(kp_store_recs_t *r, const char *key, const char *value, size_t len)
{
        if (r->cnt == r->cap) {
                size_t cap = r->cap ? r->cap * 2 : 8;
                kp_store_rec_t *items = realloc(r->items, cap * sizeof(*items));
                if (!items)
                        return KP_ERR_NOMEM;
                r->items = items;
                r->cap = cap;
        }
        kp_store_rec_t *rec = &r->items[r->cnt];
        rec->key = strdup(key);
        rec->value = value ? malloc(len + 1) : NULL;
        rec->value_len = value ? len : 0;
        if (!rec->key || (value && !rec->value)) {
                free(rec->key);
                free(rec->value);
                return KP_ERR_NOMEM;
        }
        if (value) {
                memcpy(rec->value, value, len);
                rec->value[len] = '\0';
        }
        r->cnt++;
        return 0;
}

void kp_store_recs_cleanup(kp_store_recs_t *r)
{
        for (size_t i = 0; i < r->cnt; i++) {
                free(r->items[i].key);
                free(r->items[i].value);
        }
        free(r->items);
        memset(r, 0, sizeof(*r));
}

/* ---- keys ---- */

/* Appends @p s percent-encoded ('%', '/') at *np of @p buf. @returns 0 or -1 when full. */
static int key_put(char *buf, size_t size, size_t *np, const char *s)
{
        static const char hex[] = "0123456789ABCDEF";
        for (; *s; s++) {
                int esc = *s == '%' || *s == '/';
                if (*np + (esc ? 3 : 1) >= size)
                        return -1;
                if (esc) {
                        buf[(*np)++] = '%';
                        buf[(*np)++] = hex[(unsigned char)*s >> 4];
                        buf[(*np)++] = hex[(unsigned char)*s & 15];
                } else {
                        buf[(*np)++] = *s;
                }
        }
        buf[*np] = '\0';
        return 0;
}

int kp_store_log_key(char *buf, size_t size, const char *kind, const char *a, const char *b)
{
        size_t n = 0;
        if (!size || key_put(buf, size, &n, kind) || n + 1 >= size)
                return -1;
        buf[n++] = '/';
        if (key_put(buf, size, &n, a))
                return -1;
        if (b) {
                if (n + 1 >= size)
                        return -1;
                buf[n++] = '/';
                if (key_put(buf, size, &n, b))
                        return -1;
        }
        buf[n] = '\0';
        return (int)n;
}

static int hexval(char c)
{
        return c >= '0' && c <= '9'   ? c - '0'
               : c >= 'A' && c <= 'F' ? c - 'A' + 10
               : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                      : -1;
}

/* Decodes the part of @p key up to '/' or its end into @p out; *endp past it. */
static int part_decode(const char *key, char *out, const char **endp)
{
        size_t n = 0;
        for (; *key && *key != '/'; key++) {
                if (*key == '%') {
                        int h = hexval(key[1]), l = h < 0 ? -1 : hexval(key[2]);
                        if (l < 0)
                                return -1;
                        out[n++] = (char)(h * 16 + l);
                        key += 2;
                } else {
                        out[n++] = *key;
                }
        }
        out[n] = '\0';
        *endp = key;
        return 0;
}

int kp_store_log_key_parse(const char *key, char *buf, size_t size, const char **kindp,
                           const char **ap, const char **bp)
{
        const char *p = key;
        char *out = buf;
        const char **parts[3] = {kindp, ap, bp};
        *kindp = *ap = *bp = NULL;
        if (size < strlen(key) + 3)
                return -1;
        for (int i = 0; i < 3; i++) {
                *parts[i] = out;
                if (part_decode(p, out, &p))
                        return -1;
                out += strlen(out) + 1;
                if (!*p)
                        return i >= 1 ? 0 : -1;
                p++; /* the '/' */
        }
        return -1; /* more than three parts */
}

/* ---- capture: the rows a write changed ---- */

/* The capture's temporary table and triggers: per connection, created once (outside any
 * transaction, so the dry run's rollback keeps them). */
static char capture_sql[8192];
static pthread_once_t capture_once = PTHREAD_ONCE_INIT;

static void capture_sql_build(void)
{
        static const char *const ev[3] = {"INSERT", "UPDATE", "DELETE"};
        size_t n =
                (size_t)snprintf(capture_sql, sizeof(capture_sql),
                                 "CREATE TEMP TABLE IF NOT EXISTS kp_changed (kind TEXT NOT NULL,"
                                 " k1 NOT NULL, k2 NOT NULL, PRIMARY KEY (kind, k1, k2));");
        for (size_t t = 0; t < NTABLES; t++)
                for (int e = 0; e < 3; e++) {
                        const char *row = e == 2 ? "OLD" : "NEW";
                        const log_table_t *tb = &tables[t];
                        char k2[64];
                        if (tb->k2)
                                snprintf(k2, sizeof(k2), "%s.\"%s\"", row, tb->k2);
                        else
                                snprintf(k2, sizeof(k2), "''");
                        n += (size_t)snprintf(
                                capture_sql + n, sizeof(capture_sql) - n,
                                "CREATE TEMP TRIGGER IF NOT EXISTS kp_cap_%s_%d AFTER %s ON"
                                " main.\"%s\" BEGIN INSERT OR IGNORE INTO kp_changed"
                                " VALUES ('%s', %s.\"%s\", %s); END;",
                                tb->kind, e, ev[e], tb->table, tb->kind, row, tb->k1, k2);
                }
}

/* The row's columns as a JSON object (a JSON column embedded), or NULL out of memory. */
static json_t *row_json(const log_table_t *tb, sqlite3_stmt *stmt)
{
        json_t *obj = json_object();
        for (int i = 0; obj && tb->cols[i]; i++) {
                json_t *v = NULL;
                int type = sqlite3_column_type(stmt, i);
                if (type == SQLITE_NULL)
                        v = json_null();
                else if (tb->json_col && !strcmp(tb->cols[i], tb->json_col))
                        v = json_loadb((const char *)sqlite3_column_text(stmt, i),
                                       (size_t)sqlite3_column_bytes(stmt, i), 0, NULL);
                else if (type == SQLITE_INTEGER)
                        v = json_integer(sqlite3_column_int64(stmt, i));
                else if (type == SQLITE_FLOAT)
                        v = json_real(sqlite3_column_double(stmt, i));
                if (!v) /* text, or a JSON column that is not JSON: kept as text */
                        v = json_string((const char *)sqlite3_column_text(stmt, i));
                if (!v || json_object_set_new(obj, tb->cols[i], v)) {
                        json_decref(obj);
                        obj = NULL;
                }
        }
        return obj;
}

/* Appends the record of the row (@p k1, @p k2) of @p tb: its state, or a tombstone. */
static int capture_row(sqlite3 *db, const log_table_t *tb, sqlite3_value *k1, sqlite3_value *k2,
                       kp_store_recs_t *out, char *errstr, size_t errstr_size)
{
        char sql[512], key[2 * KP_NAME_MAX * 3 + 64];
        size_t n = (size_t)snprintf(sql, sizeof(sql), "SELECT ");
        sqlite3_stmt *stmt = NULL;
        char *value = NULL;
        int rc, err = 0;

        for (int i = 0; tb->cols[i]; i++)
                n += (size_t)snprintf(sql + n, sizeof(sql) - n, "%s\"%s\"", i ? ", " : "",
                                      tb->cols[i]);
        snprintf(sql + n, sizeof(sql) - n, " FROM main.\"%s\" WHERE \"%s\" = ?1%s%s%s", tb->table,
                 tb->k1, tb->k2 ? " AND \"" : "", tb->k2 ? tb->k2 : "", tb->k2 ? "\" = ?2" : "");
        if ((rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL)) != SQLITE_OK)
                return kp_store_sqlite_err(db, rc, "capture", errstr, errstr_size);
        sqlite3_bind_value(stmt, 1, k1);
        if (tb->k2)
                sqlite3_bind_value(stmt, 2, k2);
        if (kp_store_log_key(key, sizeof(key), tb->kind, (const char *)sqlite3_value_text(k1),
                             tb->k2 ? (const char *)sqlite3_value_text(k2) : NULL) < 0) {
                kp_store_errf(errstr, errstr_size, "%s key too long", tb->kind);
                err = KP_ERR_INVALID;
                goto out;
        }
        rc = sqlite3_step(stmt);
        if (rc == SQLITE_ROW) {
                json_t *obj = row_json(tb, stmt);
                value = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
                json_decref(obj);
                if (!value) {
                        err = nomem(errstr, errstr_size);
                        goto out;
                }
        } else if (rc != SQLITE_DONE) {
                err = kp_store_sqlite_err(db, rc, "capture", errstr, errstr_size);
                goto out;
        }
        if (kp_store_recs_add(out, key, value, value ? strlen(value) : 0))
                err = nomem(errstr, errstr_size);
out:
        free(value);
        sqlite3_finalize(stmt);
        return err;
}

/* Reads what the open transaction on @p db changed into records, in the order changed. */
static int capture_read(sqlite3 *db, kp_store_recs_t *out, char *errstr, size_t errstr_size)
{
        sqlite3_stmt *stmt = NULL;
        int rc = sqlite3_prepare_v2(db, "SELECT kind, k1, k2 FROM temp.kp_changed ORDER BY rowid",
                                    -1, &stmt, NULL);
        int err = 0;
        if (rc != SQLITE_OK)
                return kp_store_sqlite_err(db, rc, "capture", errstr, errstr_size);
        while (!err && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
                const log_table_t *tb = table_of((const char *)sqlite3_column_text(stmt, 0));
                if (tb)
                        err = capture_row(db, tb, sqlite3_column_value(stmt, 1),
                                          sqlite3_column_value(stmt, 2), out, errstr, errstr_size);
        }
        if (!err && rc != SQLITE_DONE)
                err = kp_store_sqlite_err(db, rc, "capture", errstr, errstr_size);
        sqlite3_finalize(stmt);
        return err;
}

/* Runs @p fn in a transaction on a borrowed connection, reads the rows it changed into
 * @p recs and rolls it back. */
static int dry_run(kp_store_t *st, kp_store_write_fn fn, void *arg, kp_store_recs_t *recs,
                   char *errstr, size_t errstr_size)
{
        kp_store_conn_t *conn = kp_store_pool_get(st->pool);
        sqlite3 *db = kp_store_conn_db(conn);
        int err;

        pthread_once(&capture_once, capture_sql_build);
        /* emptied outside the transaction: the applier's writes on this connection fire
         * the triggers too */
        if ((err = exec_sql(db, capture_sql, "capture", errstr, errstr_size)) ||
            (err = exec_sql(db, "DELETE FROM temp.kp_changed", "capture", errstr, errstr_size)) ||
            (err = kp_store_conn_begin_write(conn, errstr, errstr_size)))
                goto out;
        if (!(err = fn(conn, arg, errstr, errstr_size)))
                err = capture_read(db, recs, errstr, errstr_size);
        kp_store_conn_rollback(conn); /* the log, not this transaction, writes it */
out:
        kp_store_pool_put(st->pool, conn);
        return err;
}

int kp_store_log_write(kp_store_t *st, kp_store_write_fn fn, void *arg, char *errstr,
                       size_t errstr_size)
{
        kp_store_recs_t recs = {0};
        int64_t offset = -1;
        int err;

        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += KP_STORE_LOG_QUEUE_MS / 1000;
        if (pthread_mutex_timedlock(&st->log_lock, &until)) {
                kp_store_errf(errstr, errstr_size,
                              "the writes before this one have not been done within %d ms: "
                              "retry",
                              KP_STORE_LOG_QUEUE_MS);
                return KP_ERR_UNAVAILABLE;
        }
        if ((err = st->log.ready(st->log.ctx, errstr, errstr_size)) ||
            (err = dry_run(st, fn, arg, &recs, errstr, errstr_size)))
                goto out;
        if (!recs.cnt)
                goto out; /* nothing changed */
        if (!(err = st->log.publish(st->log.ctx, recs.items, recs.cnt, &offset, errstr,
                                    errstr_size)))
                err = st->log.wait(st->log.ctx, offset, errstr, errstr_size);
out:
        pthread_mutex_unlock(&st->log_lock);
        kp_store_recs_cleanup(&recs);
        return err;
}

void kp_store_set_log(kp_store_t *st, const kp_store_log_ops_t *ops)
{
        pthread_mutex_lock(&st->log_lock); /* after the write in flight, if any */
        st->has_log = ops != NULL;
        if (ops)
                st->log = *ops;
        else
                memset(&st->log, 0, sizeof(st->log));
        pthread_mutex_unlock(&st->log_lock);
}

static int refuse_ready(void *ctx, char *errstr, size_t errstr_size)
{
        kp_store_errf(errstr, errstr_size, "%s", (const char *)ctx);
        return KP_ERR_UNAVAILABLE;
}

void kp_store_log_refuse(kp_store_t *st, const char *why)
{
        kp_store_log_ops_t ops = {refuse_ready, NULL, NULL, (void *)why};
        kp_store_set_log(st, &ops);
}

/* ---- apply ---- */

/* Binds member @p col of @p obj (a JSON column as its compact text) to parameter @p i. */
static int bind_json(sqlite3_stmt *stmt, int i, const json_t *v, int is_json)
{
        if (!v || json_is_null(v))
                return sqlite3_bind_null(stmt, i);
        if (is_json && !json_is_string(v)) {
                char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
                return text ? sqlite3_bind_text(stmt, i, text, -1, free) : SQLITE_NOMEM;
        }
        if (json_is_integer(v))
                return sqlite3_bind_int64(stmt, i, json_integer_value(v));
        if (json_is_real(v))
                return sqlite3_bind_double(stmt, i, json_real_value(v));
        if (json_is_string(v))
                return sqlite3_bind_text(stmt, i, json_string_value(v), (int)json_string_length(v),
                                         SQLITE_TRANSIENT);
        return sqlite3_bind_int(stmt, i, json_is_true(v));
}

/* Runs @p sql bound to @p a (and @p b when not NULL). */
static int exec_keyed(sqlite3 *db, const char *sql, const char *a, const char *b, char *errstr,
                      size_t errstr_size)
{
        sqlite3_stmt *stmt = NULL;
        int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);
        if (rc != SQLITE_OK)
                return kp_store_sqlite_err(db, rc, "apply", errstr, errstr_size);
        sqlite3_bind_text(stmt, 1, a, -1, SQLITE_STATIC);
        if (b)
                sqlite3_bind_text(stmt, 2, b, -1, SQLITE_STATIC);
        rc = sqlite3_step(stmt);
        sqlite3_finalize(stmt);
        return rc == SQLITE_DONE ? 0 : kp_store_sqlite_err(db, rc, "apply", errstr, errstr_size);
}

/* Deletes the row (@p a, @p b) of @p tb and what hangs on it (the cascade a delete with
 * foreign keys on would have done; the leader wrote their tombstones too). */
static int apply_delete(sqlite3 *db, const log_table_t *tb, const char *a, const char *b,
                        char *errstr, size_t errstr_size)
{
        char sql[256];
        int err;
        snprintf(sql, sizeof(sql), "DELETE FROM main.\"%s\" WHERE \"%s\" = ?1%s%s%s", tb->table,
                 tb->k1, tb->k2 ? " AND \"" : "", tb->k2 ? tb->k2 : "", tb->k2 ? "\" = ?2" : "");
        if ((err = exec_keyed(db, sql, a, tb->k2 ? b : NULL, errstr, errstr_size)))
                return err;
        if (!strcmp(tb->kind, "cluster"))
                return (err = exec_keyed(db, "DELETE FROM topics WHERE cluster = ?1", a, NULL,
                                         errstr, errstr_size))
                               ? err
                               : exec_keyed(db, "DELETE FROM patterns WHERE cluster = ?1", a, NULL,
                                            errstr, errstr_size);
        if (!strcmp(tb->kind, "group"))
                return (err = exec_keyed(db, "DELETE FROM group_refs WHERE group_name = ?1", a,
                                         NULL, errstr, errstr_size))
                               ? err
                               : exec_keyed(db, "DELETE FROM plans WHERE group_name = ?1", a, NULL,
                                            errstr, errstr_size);
        return 0;
}

/* Rewrites group_refs of group @p name from its doc's topics, without the registration
 * check the write made (the topic's record may come later in a compacted log). */
static int apply_refs(sqlite3 *db, const char *name, const json_t *doc, char *errstr,
                      size_t errstr_size)
{
        const json_t *topics = json_object_get(doc, "topics"), *ref;
        sqlite3_stmt *stmt = NULL;
        size_t i;
        int rc, err = exec_keyed(db, "DELETE FROM group_refs WHERE group_name = ?1", name, NULL,
                                 errstr, errstr_size);
        if (err || !json_is_array(topics))
                return err;
        rc = sqlite3_prepare_v2(db,
                                "INSERT INTO group_refs (group_name, cluster, topic, pattern)"
                                " VALUES (?1, ?2, ?3, ?4)",
                                -1, &stmt, NULL);
        if (rc != SQLITE_OK)
                return kp_store_sqlite_err(db, rc, "apply refs", errstr, errstr_size);
        json_array_foreach(topics, i, ref)
        {
                sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
                bind_json(stmt, 2, json_object_get(ref, "cluster"), 0);
                bind_json(stmt, 3, json_object_get(ref, "topic"), 0);
                bind_json(stmt, 4, json_object_get(ref, "pattern"), 0);
                rc = sqlite3_step(stmt);
                sqlite3_reset(stmt);
                if (rc != SQLITE_DONE) {
                        err = kp_store_sqlite_err(db, rc, "apply refs", errstr, errstr_size);
                        break;
                }
        }
        sqlite3_finalize(stmt);
        return err;
}

/* The upsert statement of @p tb into @p sql. */
static void upsert_sql(const log_table_t *tb, char *sql, size_t size)
{
        size_t n = (size_t)snprintf(sql, size, "INSERT INTO main.\"%s\" (", tb->table);
        int i;
        for (i = 0; tb->cols[i]; i++)
                n += (size_t)snprintf(sql + n, size - n, "%s\"%s\"", i ? ", " : "", tb->cols[i]);
        n += (size_t)snprintf(sql + n, size - n, ") VALUES (");
        for (i = 0; tb->cols[i]; i++)
                n += (size_t)snprintf(sql + n, size - n, "%s?%d", i ? ", " : "", i + 1);
        n += (size_t)snprintf(sql + n, size - n, ") ON CONFLICT (\"%s\"%s%s%s) DO UPDATE SET ",
                              tb->k1, tb->k2 ? ", \"" : "", tb->k2 ? tb->k2 : "",
                              tb->k2 ? "\"" : "");
        for (i = 0; tb->cols[i]; i++)
                n += (size_t)snprintf(sql + n, size - n, "%s\"%s\" = excluded.\"%s\"",
                                      i ? ", " : "", tb->cols[i], tb->cols[i]);
}

/* Upserts the row whose full state is @p value. */
static int apply_put(sqlite3 *db, const log_table_t *tb, const char *value, char *errstr,
                     size_t errstr_size)
{
        char sql[1024];
        sqlite3_stmt *stmt = NULL;
        json_error_t jerr;
        json_t *obj = json_loads(value, 0, &jerr);
        int rc, err = 0;

        if (!json_is_object(obj)) {
                kp_store_errf(errstr, errstr_size, "%s record is not a JSON object", tb->kind);
                json_decref(obj);
                return KP_ERR_INVALID;
        }
        upsert_sql(tb, sql, sizeof(sql));
        if ((rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL)) != SQLITE_OK) {
                err = kp_store_sqlite_err(db, rc, "apply", errstr, errstr_size);
                goto out;
        }
        for (int i = 0; tb->cols[i]; i++)
                bind_json(stmt, i + 1, json_object_get(obj, tb->cols[i]),
                          tb->json_col && !strcmp(tb->cols[i], tb->json_col));
        rc = sqlite3_step(stmt);
        if (rc != SQLITE_DONE)
                err = kp_store_sqlite_err(db, rc, tb->kind, errstr, errstr_size);
        else if (!strcmp(tb->kind, "group"))
                err = apply_refs(db, json_string_value(json_object_get(obj, "name")),
                                 json_object_get(obj, "doc"), errstr, errstr_size);
out:
        sqlite3_finalize(stmt);
        json_decref(obj);
        return err;
}

/* Applies one record; one of an unknown kind (a newer kplane's, or a leader's barrier)
 * changes nothing. */
static int apply_one(sqlite3 *db, const kp_store_rec_t *rec, char *errstr, size_t errstr_size)
{
        size_t size = strlen(rec->key) + 3;
        char *buf = malloc(size);
        const char *kind, *a, *b;
        const log_table_t *tb;
        int err = 0;

        if (!buf)
                return nomem(errstr, errstr_size);
        if (kp_store_log_key_parse(rec->key, buf, size, &kind, &a, &b) || !(tb = table_of(kind)) ||
            (tb->k2 != NULL) != (b != NULL))
                goto out; /* not a row of ours */
        if (rec->value)
                err = apply_put(db, tb, rec->value, errstr, errstr_size);
        else
                err = apply_delete(db, tb, a, b, errstr, errstr_size);
out:
        free(buf);
        return err;
}

static int store_next(sqlite3 *db, int64_t next, char *errstr, size_t errstr_size)
{
        sqlite3_stmt *stmt = NULL;
        int rc = sqlite3_prepare_v2(db,
                                    "INSERT INTO state_log (id, next_offset) VALUES (1, ?1)"
                                    " ON CONFLICT (id) DO UPDATE SET next_offset = ?1",
                                    -1, &stmt, NULL);
        if (rc == SQLITE_OK) {
                sqlite3_bind_int64(stmt, 1, next);
                rc = sqlite3_step(stmt);
        }
        sqlite3_finalize(stmt);
        return rc == SQLITE_DONE
                       ? 0
                       : kp_store_sqlite_err(db, rc, "state log offset", errstr, errstr_size);
}

/* 1 when a record changes plans (a plan, or a group whose delete takes them). */
static int touches_plans(const kp_store_rec_t *recs, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (!strncmp(recs[i].key, "plan/", 5) || !strncmp(recs[i].key, "group/", 6))
                        return 1;
        return 0;
}

int kp_store_log_apply(kp_store_t *st, const kp_store_rec_t *recs, size_t n, int64_t next_offset,
                       char *errstr, size_t errstr_size)
{
        int plans = touches_plans(recs, n);
        kp_store_conn_t *conn = kp_store_pool_get(st->pool);
        sqlite3 *db = kp_store_conn_db(conn);
        int err;

        if (plans)
                kp_plan_cache_write_begin(st->plans);
        /* no foreign keys: the log's order after compaction is not the writes' order */
        if ((err = exec_sql(db, "PRAGMA foreign_keys=OFF", "apply", errstr, errstr_size)) ||
            (err = kp_store_conn_begin_write(conn, errstr, errstr_size)))
                goto out;
        for (size_t i = 0; !err && i < n; i++)
                err = apply_one(db, &recs[i], errstr, errstr_size);
        if (!err)
                err = store_next(db, next_offset, errstr, errstr_size);
        if (err)
                kp_store_conn_rollback(conn);
        else
                err = kp_store_conn_commit(conn, errstr, errstr_size);
out:
        exec_sql(db, "PRAGMA foreign_keys=ON", "apply", NULL, 0);
        if (plans)
                kp_plan_cache_write_end(st->plans, NULL);
        kp_store_pool_put(st->pool, conn);
        return err;
}

int kp_store_log_next(kp_store_t *st, int64_t *nextp, char *errstr, size_t errstr_size)
{
        kp_store_conn_t *conn = kp_store_pool_get(st->pool);
        sqlite3 *db = kp_store_conn_db(conn);
        sqlite3_stmt *stmt = NULL;
        int rc = sqlite3_prepare_v2(db, "SELECT next_offset FROM state_log WHERE id = 1", -1, &stmt,
                                    NULL);
        int err = 0;
        *nextp = 0;
        if (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW)
                *nextp = sqlite3_column_int64(stmt, 0);
        else if (rc != SQLITE_DONE)
                err = kp_store_sqlite_err(db, rc, "state log offset", errstr, errstr_size);
        sqlite3_finalize(stmt);
        kp_store_pool_put(st->pool, conn);
        return err;
}
