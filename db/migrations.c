/* migrations.c — the numbered schema migrations and the code that applies them in order. */
#include "db/migrations.h"

#include <stdio.h>

#include "base/err.h"
#include "db/store_pool.h"
#include "base/util.h"

/*
 * The schema. Names are bytes compared with BINARY collation, so "name order" is
 * byte order. Every document is JSON text written by jansson; the columns next to it
 * are what the store must look up, join or check without parsing JSON.
 *
 * group_refs mirrors each group's doc.topics, one row per entry: it is what makes
 * "delete a cluster/topic/pattern a group reads" refusable (KP_ERR_IN_USE) by an
 * indexed lookup, and its foreign keys keep a group from pointing at a topic or
 * pattern that is not registered.
 *
 * Once released, a migration is never edited: append version N+1 instead. A migration
 * that rebuilds a table with foreign keys must say so (foreign_keys cannot change inside
 * the transaction each migration runs in).
 */
static const char migration_1[] =
        "CREATE TABLE clusters ("
        "  name       TEXT NOT NULL PRIMARY KEY,"
        "  doc        TEXT NOT NULL,"
        "  created_at TEXT NOT NULL,"
        "  updated_at TEXT NOT NULL"
        ");"
        "CREATE TABLE topics ("
        "  cluster       TEXT NOT NULL REFERENCES clusters(name) ON DELETE CASCADE,"
        "  name          TEXT NOT NULL,"
        "  partitions    INTEGER NOT NULL CHECK (partitions >= 0),"
        "  discovered_at TEXT NOT NULL,"
        "  PRIMARY KEY (cluster, name)"
        ");"
        "CREATE TABLE patterns ("
        "  cluster       TEXT NOT NULL REFERENCES clusters(name) ON DELETE CASCADE,"
        "  pattern       TEXT NOT NULL,"
        "  topics        TEXT NOT NULL," /* JSON array of {"name","partitions"} */
        "  discovered_at TEXT NOT NULL,"
        "  PRIMARY KEY (cluster, pattern)"
        ");"
        "CREATE TABLE \"groups\" ("
        "  name            TEXT NOT NULL PRIMARY KEY,"
        "  doc             TEXT NOT NULL,"
        "  desired_running INTEGER NOT NULL DEFAULT 0 CHECK (desired_running IN (0, 1)),"
        "  created_at      TEXT NOT NULL,"
        "  updated_at      TEXT NOT NULL"
        ");"
        "CREATE TABLE group_refs ("
        "  group_name TEXT NOT NULL REFERENCES \"groups\"(name) ON DELETE CASCADE,"
        "  cluster    TEXT NOT NULL,"
        "  topic      TEXT,"
        "  pattern    TEXT,"
        "  CHECK ((topic IS NULL) <> (pattern IS NULL)),"
        "  FOREIGN KEY (cluster, topic) REFERENCES topics(cluster, name),"
        "  FOREIGN KEY (cluster, pattern) REFERENCES patterns(cluster, pattern)"
        ");"
        "CREATE INDEX group_refs_by_group ON group_refs(group_name);"
        "CREATE INDEX group_refs_by_topic ON group_refs(cluster, topic);"
        "CREATE INDEX group_refs_by_pattern ON group_refs(cluster, pattern);"
        /* A rowid table (not WITHOUT ROWID) because plan texts can be megabytes; the
         * primary key index answers both "version N" and "the highest version". */
        "CREATE TABLE plans ("
        "  group_name  TEXT NOT NULL REFERENCES \"groups\"(name) ON DELETE CASCADE,"
        "  version     INTEGER NOT NULL CHECK (version >= 1),"
        "  plan        TEXT NOT NULL,"
        "  parallelism INTEGER,"
        "  strategy    TEXT,"
        "  created_at  TEXT NOT NULL,"
        "  \"case\"      TEXT,"
        "  partitions  INTEGER,"
        "  tasks       INTEGER,"
        "  idle_tasks  INTEGER,"
        "  skew        REAL,"
        "  moved_from_previous INTEGER,"
        "  PRIMARY KEY (group_name, version)"
        ");";

/* Several instances (issue 15): how far this database applied the service's state log, one
 * row, written in the same transaction as the rows it applied. */
static const char migration_2[] = "CREATE TABLE state_log ("
                                  "  id          INTEGER PRIMARY KEY CHECK (id = 1),"
                                  "  next_offset INTEGER NOT NULL CHECK (next_offset >= 0)"
                                  ");";

/* Several instances (issue 15 step 3): the leader's placement of every running task over the
 * live instances, one document (see store_placement.h), carried by the state log. */
static const char migration_3[] = "CREATE TABLE placement ("
                                  "  name        TEXT PRIMARY KEY CHECK (name = 'tasks'),"
                                  "  epoch       INTEGER NOT NULL CHECK (epoch >= 0),"
                                  "  doc         TEXT NOT NULL,"
                                  "  updated_at  TEXT NOT NULL"
                                  ");";

const kp_migration_t kp_migrations[] = {
        {1, "clusters, topics, patterns, groups, group_refs, plans", migration_1},
        {2, "state_log", migration_2},
        {3, "placement", migration_3},
};
const size_t kp_migrations_count = sizeof(kp_migrations) / sizeof(kp_migrations[0]);

static const char sql_create_table[] = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                       "  version    INTEGER NOT NULL PRIMARY KEY,"
                                       "  name       TEXT NOT NULL,"
                                       "  applied_at TEXT NOT NULL"
                                       ")";
static const char sql_version[] = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations";
static const char sql_record[] =
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)";

/* Runs static SQL (no parameters). */
static int exec_sql(sqlite3 *db, const char *sql, const char *what, char *errstr,
                    size_t errstr_size)
{
        int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
        return rc == SQLITE_OK ? 0 : kp_store_sqlite_err(db, rc, what, errstr, errstr_size);
}

/* *versionp = MAX(version) of schema_migrations, which must exist. */
static int read_version(sqlite3 *db, int *versionp, char *errstr, size_t errstr_size)
{
        sqlite3_stmt *stmt = NULL;
        int rc = sqlite3_prepare_v2(db, sql_version, -1, &stmt, NULL);
        int err = 0;
        if (rc != SQLITE_OK)
                return kp_store_sqlite_err(db, rc, "schema version", errstr, errstr_size);
        rc = sqlite3_step(stmt);
        if (rc == SQLITE_ROW)
                *versionp = sqlite3_column_int(stmt, 0);
        else
                err = kp_store_sqlite_err(db, rc, "schema version", errstr, errstr_size);
        sqlite3_finalize(stmt);
        return err;
}

int kp_migrations_version(sqlite3 *db, int *versionp, char *errstr, size_t errstr_size)
{
        sqlite3_stmt *stmt = NULL;
        int rc, exists;

        *versionp = 0;
        rc = sqlite3_prepare_v2(db,
                                "SELECT 1 FROM sqlite_schema WHERE type = 'table'"
                                " AND name = 'schema_migrations'",
                                -1, &stmt, NULL);
        if (rc != SQLITE_OK)
                return kp_store_sqlite_err(db, rc, "schema version", errstr, errstr_size);
        rc = sqlite3_step(stmt);
        exists = rc == SQLITE_ROW;
        sqlite3_finalize(stmt);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                return kp_store_sqlite_err(db, rc, "schema version", errstr, errstr_size);
        return exists ? read_version(db, versionp, errstr, errstr_size) : 0;
}

/* Records migration @p m as applied, inside the caller's transaction. */
static int record(sqlite3 *db, const kp_migration_t *m, char *errstr, size_t errstr_size)
{
        sqlite3_stmt *stmt = NULL;
        char now[32];
        int rc = sqlite3_prepare_v2(db, sql_record, -1, &stmt, NULL);
        if (rc != SQLITE_OK)
                return kp_store_sqlite_err(db, rc, "record migration", errstr, errstr_size);
        kp_time_iso8601(now, sizeof(now));
        sqlite3_bind_int(stmt, 1, m->version);
        sqlite3_bind_text(stmt, 2, m->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 3, now, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(stmt);
        sqlite3_finalize(stmt);
        return rc == SQLITE_DONE
                       ? 0
                       : kp_store_sqlite_err(db, rc, "record migration", errstr, errstr_size);
}

/* Applies @p m unless already applied, in one BEGIN IMMEDIATE transaction. The version
 * is re-read under the write lock, so a second process migrating the same file at the
 * same moment finds the work done instead of repeating it. */
static int apply_one(sqlite3 *db, const kp_migration_t *m, int *versionp, char *errstr,
                     size_t errstr_size)
{
        char what[160];
        int err, version = 0;

        snprintf(what, sizeof(what), "migration %d (%s)", m->version, m->name);
        if ((err = exec_sql(db, "BEGIN IMMEDIATE", what, errstr, errstr_size)))
                return err;
        if ((err = exec_sql(db, sql_create_table, what, errstr, errstr_size)) ||
            (err = read_version(db, &version, errstr, errstr_size)))
                goto out;
        if (version >= m->version)
                goto out; /* done by someone else: commit the no-op */
        if (version != m->version - 1) {
                kp_store_errf(errstr, errstr_size, "%s: database is at version %d", what, version);
                err = KP_ERR_INVALID;
                goto out;
        }
        if ((err = exec_sql(db, m->sql, what, errstr, errstr_size)) ||
            (err = record(db, m, errstr, errstr_size)))
                goto out;
        version = m->version;
out:
        if (!err)
                err = exec_sql(db, "COMMIT", what, errstr, errstr_size);
        if (err && !sqlite3_get_autocommit(db))
                sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        if (!err)
                *versionp = version;
        return err;
}

int kp_migrations_apply(sqlite3 *db, const kp_migration_t *list, size_t count, int *versionp,
                        char *errstr, size_t errstr_size)
{
        int err, version = 0;

        for (size_t i = 0; i < count; i++)
                if (list[i].version != (int)i + 1 || !list[i].sql || !list[i].name) {
                        kp_store_errf(errstr, errstr_size,
                                      "migration list entry %zu must be version %zu", i, i + 1);
                        return KP_ERR_INVALID;
                }
        if ((err = kp_migrations_version(db, &version, errstr, errstr_size)))
                goto out;
        if (version > (int)count) {
                /* Opening it with older code could corrupt what the newer schema means. */
                kp_store_errf(errstr, errstr_size,
                              "database schema version %d is newer than this kplane's %zu", version,
                              count);
                err = KP_ERR_INVALID;
                goto out;
        }
        for (size_t i = (size_t)version; i < count; i++)
                if ((err = apply_one(db, &list[i], &version, errstr, errstr_size)))
                        goto out;
out:
        if (versionp)
                *versionp = version;
        return err;
}
