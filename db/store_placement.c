/* store_placement.c — the placement document: one row, written through the store's write path. */
#include "db/store_placement.h"

#include <sqlite3.h>
#include <stdlib.h>

#include "base/err.h"
#include "base/util.h"
#include "db/store_int.h"

/* The stored epoch on @p db (-1: no row). @returns 0 or a store error. */
static int epoch_read(sqlite3 *db, int64_t *epochp, json_t **docp, char *errstr, size_t errstr_size)
{
        sqlite3_stmt *stmt = NULL;
        int rc = sqlite3_prepare_v2(db, "SELECT epoch, doc FROM placement WHERE name = 'tasks'", -1,
                                    &stmt, NULL);
        int err = 0;
        *epochp = -1;
        if (docp)
                *docp = NULL;
        if (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
                *epochp = sqlite3_column_int64(stmt, 0);
                if (docp) {
                        const char *text = (const char *)sqlite3_column_text(stmt, 1);
                        *docp = text ? json_loads(text, 0, NULL) : NULL;
                        if (!*docp)
                                err = KP_ERR_NOMEM;
                }
        } else if (rc != SQLITE_DONE) {
                err = kp_store_sqlite_err(db, rc, "placement", errstr, errstr_size);
        }
        sqlite3_finalize(stmt);
        if (err == KP_ERR_NOMEM)
                kp_store_errf(errstr, errstr_size, "placement: unreadable document");
        return err;
}

struct placement_put {
        int64_t prev, epoch;
        const char *text;
};

static int placement_put_tx(kp_store_conn_t *conn, void *arg, char *errstr, size_t errstr_size)
{
        struct placement_put *p = arg;
        sqlite3 *db = kp_store_conn_db(conn);
        sqlite3_stmt *stmt = NULL;
        char now[32];
        int64_t cur;
        int rc, err = epoch_read(db, &cur, NULL, errstr, errstr_size);
        if (err)
                return err;
        if (cur != p->prev) {
                kp_store_errf(errstr, errstr_size, "placement epoch is %lld, not %lld",
                              (long long)cur, (long long)p->prev);
                return KP_ERR_CONFLICT;
        }
        kp_time_iso8601(now, sizeof(now));
        rc = sqlite3_prepare_v2(db,
                                "INSERT INTO placement (name, epoch, doc, updated_at)"
                                " VALUES ('tasks', ?1, ?2, ?3) ON CONFLICT (name) DO UPDATE"
                                " SET epoch = ?1, doc = ?2, updated_at = ?3",
                                -1, &stmt, NULL);
        if (rc == SQLITE_OK) {
                sqlite3_bind_int64(stmt, 1, p->epoch);
                sqlite3_bind_text(stmt, 2, p->text, -1, SQLITE_STATIC);
                sqlite3_bind_text(stmt, 3, now, -1, SQLITE_STATIC);
                rc = sqlite3_step(stmt);
        }
        sqlite3_finalize(stmt);
        return rc == SQLITE_DONE ? 0
                                 : kp_store_sqlite_err(db, rc, "placement", errstr, errstr_size);
}

int kp_store_placement_put(kp_store_t *st, int64_t prev_epoch, int64_t epoch, const json_t *doc,
                           char *errstr, size_t errstr_size)
{
        struct placement_put p = {prev_epoch, epoch, NULL};
        char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
        if (!text) {
                kp_store_errf(errstr, errstr_size, "out of memory");
                return KP_ERR_NOMEM;
        }
        p.text = text;
        int err = kp_store_write(st, placement_put_tx, &p, errstr, errstr_size);
        free(text);
        return err;
}

int kp_store_placement_get(kp_store_t *st, int64_t *epochp, json_t **docp, char *errstr,
                           size_t errstr_size)
{
        kp_store_conn_t *conn = kp_store_pool_get(st->pool);
        int err = epoch_read(kp_store_conn_db(conn), epochp, docp, errstr, errstr_size);
        kp_store_pool_put(st->pool, conn);
        if (!err && *epochp < 0)
                return KP_ERR_NOT_FOUND;
        return err;
}
