/* app.h — the application layer's object: what every use case works with. */
#ifndef KP_APP_H
#define KP_APP_H

#include <pthread.h>

#include "base/config.h"

struct kp_store;
struct kp_embedded;
struct kp_runtime;
struct kp_discovery;
struct kp_breaker;
struct kp_http;
struct kp_coord;
struct kp_work;

/*
 * The store, the runtime, the embedded clusters and the rest, borrowed by every use case
 * (the files of server/app/). Every pointer is borrowed and outlives the app; the composition root
 * (server/main.c) fills them in and calls kp_app_init once before any use.
 */
typedef struct kp_app {
        struct kp_store *store;
        struct kp_embedded *emb;
        struct kp_runtime *rt; /* NULL: groups cannot be started */
        struct kp_discovery *discovery;
        struct kp_http *http; /* set once listening (atomically): for /metrics */
        /* the instances of the service (server/coord/): set once listening, atomically (its
         * id and URL need the port); a single process's lists only itself */
        struct kp_coord *coord;
        /* several instances: the work loop (server/app/work.c) that decides which of a
         * running group's tasks run here; NULL: a single process runs them all. Set once
         * listening, atomically, like coord. */
        struct kp_work *work;
        int metadata_timeout_ms;
        /* clusters that did not answer a stopped group's status read lately (may be
         * NULL: every read asks) */
        struct kp_breaker *status_breaker;
        /* a group's replan and apply (start, stop) hold its stripe: see kp_app_group_lock */
        pthread_mutex_t group_locks[KP_APP_GROUP_LOCKS];
} kp_app_t;

/* Initialises what kp_app_t owns (its group locks). @returns 0 or KP_ERR_NOMEM. */
int kp_app_init(kp_app_t *app);
/* Releases what kp_app_init made. */
void kp_app_cleanup(kp_app_t *app);

/*
 * Serialises the use cases that change what group @p name runs (replan, apply, start,
 * stop): without it two applies (or one and a discovery replan) could store v4 and v5
 * and hand them to the runtime as v5 then v4. Never hold two groups' locks at once.
 */
void kp_app_group_lock(kp_app_t *app, const char *name);
void kp_app_group_unlock(kp_app_t *app, const char *name);

#endif /* KP_APP_H */
