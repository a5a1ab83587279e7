/* store_pool.c — a pool of SQLite connections with cached statements and transactions. */
#include "db/store_pool.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/config.h"
#include "base/err.h"

/* Transaction control statements every connection keeps prepared. */
enum { TX_BEGIN_WRITE, TX_BEGIN_READ, TX_COMMIT, TX_ROLLBACK, TX__COUNT };
static const char *const tx_sql[TX__COUNT] = {
        [TX_BEGIN_WRITE] = "BEGIN IMMEDIATE",
        [TX_BEGIN_READ] = "BEGIN DEFERRED",
        [TX_COMMIT] = "COMMIT",
        [TX_ROLLBACK] = "ROLLBACK",
};

struct kp_store_conn {
        sqlite3 *db;
        kp_store_pool_t *pool;
        sqlite3_stmt **stmts; /* [pool->nsql], prepared on first use */
        sqlite3_stmt *tx[TX__COUNT];
        int holds_writer; /* 1 while this connection owns pool->writer */
        kp_store_conn_t *next_free;
};

struct kp_store_pool {
        pthread_mutex_t lock;   /* guards free_list */
        pthread_cond_t cond;    /* signalled when a connection is put back */
        pthread_mutex_t writer; /* one writer of this process at a time */
        kp_store_conn_t *free_list;
        kp_store_conn_t *conns; /* [size] */
        size_t size;
        const char *const *sqls;
        size_t nsql;
};

void kp_store_errf(char *errstr, size_t errstr_size, const char *fmt, ...)
{
        va_list ap;
        if (!errstr || !errstr_size)
                return;
        va_start(ap, fmt);
        vsnprintf(errstr, errstr_size, fmt, ap);
        va_end(ap);
}

int kp_store_sqlite_err(sqlite3 *db, int rc, const char *what, char *errstr, size_t errstr_size)
{
        const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
        /* Only the primary code decides: SQLITE_BUSY_SNAPSHOT, SQLITE_LOCKED_SHAREDCACHE,
         * ... are all "someone else holds the lock". */
        switch (rc & 0xff) {
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                kp_store_errf(errstr, errstr_size, "%s: database busy: %s", what, msg);
                return KP_ERR_UNAVAILABLE;
        case SQLITE_NOMEM:
                kp_store_errf(errstr, errstr_size, "%s: out of memory", what);
                return KP_ERR_NOMEM;
        default: kp_store_errf(errstr, errstr_size, "%s: %s", what, msg); return KP_ERR_INTERNAL;
        }
}

/* Runs one pragma and, when @p want is set, checks the single value it answers (a
 * pragma the library does not know is silently ignored, so we check it took). */
static int conn_pragma(sqlite3 *db, const char *sql, const char *want, char *errstr,
                       size_t errstr_size)
{
        sqlite3_stmt *stmt = NULL;
        int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);
        int err = 0;
        if (rc != SQLITE_OK)
                return kp_store_sqlite_err(db, rc, sql, errstr, errstr_size);
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
                const char *got = (const char *)sqlite3_column_text(stmt, 0);
                if (want && (!got || strcmp(got, want))) {
                        kp_store_errf(errstr, errstr_size, "%s answered '%s', need '%s'", sql,
                                      got ? got : "", want);
                        err = KP_ERR_INTERNAL;
                }
                want = NULL;
        }
        if (rc != SQLITE_DONE)
                err = kp_store_sqlite_err(db, rc, sql, errstr, errstr_size);
        else if (want) {
                kp_store_errf(errstr, errstr_size, "%s answered nothing, need '%s'", sql, want);
                err = KP_ERR_INTERNAL;
        }
        sqlite3_finalize(stmt);
        return err;
}

static int conn_open(kp_store_pool_t *pool, kp_store_conn_t *conn, const char *path, char *errstr,
                     size_t errstr_size)
{
        int rc, err;

        conn->pool = pool;
        conn->stmts = calloc(pool->nsql ? pool->nsql : 1, sizeof(*conn->stmts));
        if (!conn->stmts) {
                kp_store_errf(errstr, errstr_size, "out of memory");
                return KP_ERR_NOMEM;
        }
        /* NOMUTEX: the pool guarantees one thread per connection at a time, so SQLite's
         * per-connection mutex would only cost. The library itself must still be
         * thread-safe (checked in kp_store_pool_new). */
        rc = sqlite3_open_v2(path, &conn->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);
        if (rc != SQLITE_OK) {
                err = kp_store_sqlite_err(conn->db, rc, path, errstr, errstr_size);
                return err == KP_ERR_UNAVAILABLE ? err : KP_ERR_INTERNAL;
        }
        sqlite3_extended_result_codes(conn->db, 1);
        sqlite3_busy_timeout(conn->db, KP_STORE_BUSY_TIMEOUT_MS);
        /* WAL: readers never block the writer nor each other, which the 4 HTTP workers
         * need. synchronous=NORMAL in WAL mode fsyncs only at checkpoints: a commit is
         * in the WAL file (in the OS page cache) when COMMIT returns, so every committed
         * transaction survives kill -9 of the process; only a power loss or OS crash
         * may lose the last few commits (never corrupt the database). */
        if ((err = conn_pragma(conn->db, "PRAGMA journal_mode=WAL", "wal", errstr, errstr_size)) ||
            (err = conn_pragma(conn->db, "PRAGMA synchronous=NORMAL", NULL, errstr, errstr_size)) ||
            (err = conn_pragma(conn->db, "PRAGMA foreign_keys=ON", NULL, errstr, errstr_size)) ||
            (err = conn_pragma(conn->db, "PRAGMA foreign_keys", "1", errstr, errstr_size)))
                return err;
        for (int i = 0; i < TX__COUNT; i++) {
                rc = sqlite3_prepare_v3(conn->db, tx_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                        &conn->tx[i], NULL);
                if (rc != SQLITE_OK)
                        return kp_store_sqlite_err(conn->db, rc, tx_sql[i], errstr, errstr_size);
        }
        return 0;
}

static void conn_close(kp_store_conn_t *conn)
{
        if (conn->stmts)
                for (size_t i = 0; i < conn->pool->nsql; i++)
                        sqlite3_finalize(conn->stmts[i]);
        for (int i = 0; i < TX__COUNT; i++)
                sqlite3_finalize(conn->tx[i]);
        /* The last connection to close checkpoints the WAL into the database file. */
        sqlite3_close(conn->db);
        free(conn->stmts);
        memset(conn, 0, sizeof(*conn));
}

/*
 * The database holds cluster passwords in clear: it and its -wal/-shm files are the
 * owner's only (0600). SQLite creates -wal/-shm with the database file's mode, so the
 * file is created 0600 before SQLite first opens it, and files an older kplane left
 * 0644 are narrowed. ":memory:" and "file:" URIs are left to SQLite. Costs a few
 * syscalls at open.
 */
static int db_files_private(const char *path, char *errstr, size_t errstr_size)
{
        static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
        if (!strcmp(path, ":memory:") || !strncmp(path, "file:", 5))
                return 0;
        /* room for the longest suffix: every file is narrowed, whatever the path's length */
        size_t size = strlen(path) + sizeof("-journal");
        char *p = malloc(size);
        if (!p) {
                kp_store_errf(errstr, errstr_size, "out of memory");
                return KP_ERR_NOMEM;
        }
        int err = 0;
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) {
                kp_store_errf(errstr, errstr_size, "%s: %s", path, strerror(errno));
                err = KP_ERR_INTERNAL;
                goto out;
        }
        close(fd);
        for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
                snprintf(p, size, "%s%s", path, suffix[i]);
                if (chmod(p, 0600) && errno != ENOENT) {
                        kp_store_errf(errstr, errstr_size, "chmod 0600 %s: %s", p, strerror(errno));
                        err = KP_ERR_INTERNAL;
                        goto out;
                }
        }
out:
        free(p);
        return err;
}

kp_store_pool_t *kp_store_pool_new(const char *path, size_t size, const char *const *sqls,
                                   size_t nsql, char *errstr, size_t errstr_size)
{
        kp_store_pool_t *pool = NULL;

        if (!path || !*path || !size) {
                kp_store_errf(errstr, errstr_size, "database path and pool size required");
                return NULL;
        }
        if (!sqlite3_threadsafe()) {
                kp_store_errf(errstr, errstr_size, "libsqlite3 was built single-threaded");
                return NULL;
        }
        if (db_files_private(path, errstr, errstr_size))
                return NULL;
        pool = calloc(1, sizeof(*pool));
        if (!pool || !(pool->conns = calloc(size, sizeof(*pool->conns)))) {
                free(pool);
                kp_store_errf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        pthread_mutex_init(&pool->lock, NULL);
        pthread_cond_init(&pool->cond, NULL);
        pthread_mutex_init(&pool->writer, NULL);
        pool->sqls = sqls;
        pool->nsql = nsql;
        for (pool->size = 0; pool->size < size; pool->size++) {
                kp_store_conn_t *conn = &pool->conns[pool->size];
                if (conn_open(pool, conn, path, errstr, errstr_size)) {
                        pool->size++; /* so destroy closes this one too */
                        kp_store_pool_destroy(pool);
                        return NULL;
                }
                conn->next_free = pool->free_list;
                pool->free_list = conn;
        }
        return pool;
}

void kp_store_pool_destroy(kp_store_pool_t *pool)
{
        if (!pool)
                return;
        for (size_t i = 0; i < pool->size; i++)
                if (pool->conns[i].pool)
                        conn_close(&pool->conns[i]);
        pthread_mutex_destroy(&pool->writer);
        pthread_cond_destroy(&pool->cond);
        pthread_mutex_destroy(&pool->lock);
        free(pool->conns);
        free(pool);
}

void kp_store_pool_set_busy_timeout(kp_store_pool_t *pool, int ms)
{
        for (size_t i = 0; i < pool->size; i++)
                sqlite3_busy_timeout(pool->conns[i].db, ms);
}

kp_store_conn_t *kp_store_pool_get(kp_store_pool_t *pool)
{
        kp_store_conn_t *conn;
        pthread_mutex_lock(&pool->lock);
        while (!pool->free_list)
                pthread_cond_wait(&pool->cond, &pool->lock);
        conn = pool->free_list;
        pool->free_list = conn->next_free;
        conn->next_free = NULL;
        pthread_mutex_unlock(&pool->lock);
        return conn;
}

void kp_store_pool_put(kp_store_pool_t *pool, kp_store_conn_t *conn)
{
        if (!conn)
                return;
        /* An open statement keeps its read snapshot (and blocks checkpoints) until reset;
         * sqlite3_next_stmt walks only this connection's statements. */
        for (sqlite3_stmt *s = sqlite3_next_stmt(conn->db, NULL); s;
             s = sqlite3_next_stmt(conn->db, s))
                if (sqlite3_stmt_busy(s))
                        sqlite3_reset(s);
        if (!sqlite3_get_autocommit(conn->db) || conn->holds_writer)
                kp_store_conn_rollback(conn);
        pthread_mutex_lock(&pool->lock);
        conn->next_free = pool->free_list;
        pool->free_list = conn;
        pthread_cond_signal(&pool->cond);
        pthread_mutex_unlock(&pool->lock);
}

sqlite3 *kp_store_conn_db(kp_store_conn_t *conn)
{
        return conn->db;
}

int kp_store_conn_stmt(kp_store_conn_t *conn, int id, sqlite3_stmt **stmtp, char *errstr,
                       size_t errstr_size)
{
        sqlite3_stmt *stmt;
        *stmtp = NULL;
        if (id < 0 || (size_t)id >= conn->pool->nsql || !conn->pool->sqls[id]) {
                kp_store_errf(errstr, errstr_size, "no statement %d", id);
                return KP_ERR_INTERNAL;
        }
        stmt = conn->stmts[id];
        if (!stmt) {
                /* PERSISTENT: these live as long as the connection. */
                int rc = sqlite3_prepare_v3(conn->db, conn->pool->sqls[id], -1,
                                            SQLITE_PREPARE_PERSISTENT, &stmt, NULL);
                if (rc != SQLITE_OK)
                        return kp_store_sqlite_err(conn->db, rc, "prepare", errstr, errstr_size);
                conn->stmts[id] = stmt;
        } else {
                sqlite3_reset(stmt);
                sqlite3_clear_bindings(stmt);
        }
        *stmtp = stmt;
        return 0;
}

/* Runs one transaction-control statement. */
static int conn_tx(kp_store_conn_t *conn, int which, const char *what, char *errstr,
                   size_t errstr_size)
{
        int rc = sqlite3_step(conn->tx[which]);
        sqlite3_reset(conn->tx[which]);
        if (rc != SQLITE_DONE)
                return kp_store_sqlite_err(conn->db, rc, what, errstr, errstr_size);
        return 0;
}

int kp_store_conn_begin_write(kp_store_conn_t *conn, char *errstr, size_t errstr_size)
{
        int err;
        pthread_mutex_lock(&conn->pool->writer);
        conn->holds_writer = 1;
        if ((err = conn_tx(conn, TX_BEGIN_WRITE, "begin write", errstr, errstr_size))) {
                conn->holds_writer = 0;
                pthread_mutex_unlock(&conn->pool->writer);
        }
        return err;
}

int kp_store_conn_begin_read(kp_store_conn_t *conn, char *errstr, size_t errstr_size)
{
        return conn_tx(conn, TX_BEGIN_READ, "begin read", errstr, errstr_size);
}

static void conn_release_writer(kp_store_conn_t *conn)
{
        if (conn->holds_writer) {
                conn->holds_writer = 0;
                pthread_mutex_unlock(&conn->pool->writer);
        }
}

int kp_store_conn_commit(kp_store_conn_t *conn, char *errstr, size_t errstr_size)
{
        int err = conn_tx(conn, TX_COMMIT, "commit", errstr, errstr_size);
        /* A failed COMMIT may leave the transaction open: roll it back so nothing of it
         * is ever written. */
        if (err && !sqlite3_get_autocommit(conn->db))
                conn_tx(conn, TX_ROLLBACK, "rollback", NULL, 0);
        conn_release_writer(conn);
        return err;
}

void kp_store_conn_rollback(kp_store_conn_t *conn)
{
        /* SQLite may already have rolled back by itself (e.g. after SQLITE_FULL). */
        if (!sqlite3_get_autocommit(conn->db))
                conn_tx(conn, TX_ROLLBACK, "rollback", NULL, 0);
        conn_release_writer(conn);
}
