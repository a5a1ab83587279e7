/* store_pool.h — internal to db/: a pool of SQLite connections, statements, transactions. */
#ifndef KP_STORE_POOL_H
#define KP_STORE_POOL_H

#include <sqlite3.h>
#include <stddef.h>

typedef struct kp_store_pool kp_store_pool_t;
typedef struct kp_store_conn kp_store_conn_t;

/* Opens @p size connections to the database file @p path (created if absent), each in
 * WAL mode with synchronous=NORMAL, foreign keys on and a busy timeout. @p sqls
 * (@p nsql entries, static storage, borrowed for the pool's life) is the table of
 * statements that kp_store_conn_stmt() prepares on first use, once per connection.
 * @returns a new pool, destroy with kp_store_pool_destroy(), or NULL with errstr set. */
kp_store_pool_t *kp_store_pool_new(const char *path, size_t size, const char *const *sqls,
                                   size_t nsql, char *errstr, size_t errstr_size);
/* Closes every connection; none may be borrowed. NULL does nothing. */
void kp_store_pool_destroy(kp_store_pool_t *pool);

/* Sets every connection's busy timeout. Only while no connection is borrowed (start-up,
 * tests): the connections are not locked. */
void kp_store_pool_set_busy_timeout(kp_store_pool_t *pool, int ms);

/* Borrows a connection for the calling thread, waiting while all are in use.
 * Never NULL. Give it back with kp_store_pool_put(). Cost: one mutex round trip. */
kp_store_conn_t *kp_store_pool_get(kp_store_pool_t *pool);
/* Gives @p conn back; a transaction still open on it is rolled back and its statements
 * are reset, so a forgotten reset never pins an old snapshot. */
void kp_store_pool_put(kp_store_pool_t *pool, kp_store_conn_t *conn);

/* The connection's handle (borrowed, valid while the connection is borrowed). */
sqlite3 *kp_store_conn_db(kp_store_conn_t *conn);
/* *stmtp = statement @p id of the table, reset and unbound, ready for sqlite3_bind_*
 * (borrowed: reset it after use, never finalize it). */
int kp_store_conn_stmt(kp_store_conn_t *conn, int id, sqlite3_stmt **stmtp, char *errstr,
                       size_t errstr_size);

/* Starts a write transaction: takes the pool's writer mutex (writers of one process
 * queue there instead of sleeping in SQLite's busy handler), then BEGIN IMMEDIATE
 * (which waits up to the busy timeout for writers of other processes). */
int kp_store_conn_begin_write(kp_store_conn_t *conn, char *errstr, size_t errstr_size);
/* Starts a read transaction (BEGIN DEFERRED): several SELECTs see one snapshot. */
int kp_store_conn_begin_read(kp_store_conn_t *conn, char *errstr, size_t errstr_size);
/* Commits the open transaction (rolling it back if the commit fails) and releases the
 * writer mutex if held. */
int kp_store_conn_commit(kp_store_conn_t *conn, char *errstr, size_t errstr_size);
/* Rolls the open transaction back, if any, and releases the writer mutex if held. */
void kp_store_conn_rollback(kp_store_conn_t *conn);

/* Writes a formatted message into @p errstr (may be NULL). */
void kp_store_errf(char *errstr, size_t errstr_size, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* Maps SQLite result @p rc of @p db to a kp_err_t and writes "@p what: sqlite's message"
 * into errstr: busy/locked → KP_ERR_UNAVAILABLE, out of memory → KP_ERR_NOMEM, else
 * KP_ERR_INTERNAL. */
int kp_store_sqlite_err(sqlite3 *db, int rc, const char *what, char *errstr, size_t errstr_size);

#endif /* KP_STORE_POOL_H */
