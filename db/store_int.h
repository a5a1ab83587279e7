/* store_int.h — internal to db/: the store's object, shared by store.c and store_log.c. */
#ifndef KP_STORE_INT_H
#define KP_STORE_INT_H

#include <pthread.h>

#include "db/plan_cache.h"
#include "db/store_log.h"
#include "db/store_pool.h"

struct kp_store {
        kp_store_pool_t *pool;
        int schema_version;
        kp_plan_cache_t *plans; /* current plans' text; NULL: none (every read queries) */
        /* log mode (store_log.c): set at start-up only */
        int has_log;
        kp_store_log_ops_t log;
        pthread_mutex_t log_lock; /* one log write at a time: each decides on all before it */
};

/* A write transaction's body: runs inside BEGIN IMMEDIATE on @p conn. */
typedef int (*kp_store_write_fn)(kp_store_conn_t *conn, void *arg, char *errstr,
                                 size_t errstr_size);

/* The log mode's write (store_log.h): decide with @p fn, roll back, publish what it changed,
 * wait until applied. */
int kp_store_log_write(kp_store_t *st, kp_store_write_fn fn, void *arg, char *errstr,
                       size_t errstr_size);

/* Runs @p fn as one write of the store (a transaction; in log mode, through the log):
 * what store.c's own writes do, for the other files of db/. */
int kp_store_write(kp_store_t *st, kp_store_write_fn fn, void *arg, char *errstr,
                   size_t errstr_size);

#endif /* KP_STORE_INT_H */
