/* breaker.c — remembers which endpoints failed lately, so callers skip a known-dead one for a
 * while. */
#include "base/breaker.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/config.h"

typedef struct entry {
        char *key; /* NULL: a free slot */
        char why[KP_BREAKER_WHY_MAX];
        int64_t failed_at;  /* realtime ms of the last failure, 0 = healthy */
        int64_t open_until; /* monotonic ms */
        int trying;         /* a half-open try is out */
        uint64_t used;      /* b->tick of the last check or report, for reuse */
} entry_t;

struct kp_breaker {
        pthread_mutex_t lock;
        int open_ms;
        uint64_t tick; /* counts checks and reports: least recently used = smallest */
        entry_t e[KP_BREAKER_KEYS];
};

static int64_t clock_ms(clockid_t id)
{
        struct timespec ts;
        clock_gettime(id, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

kp_breaker_t *kp_breaker_new(int open_ms)
{
        kp_breaker_t *b = calloc(1, sizeof(*b));
        if (!b)
                return NULL;
        pthread_mutex_init(&b->lock, NULL);
        b->open_ms = open_ms;
        return b;
}

void kp_breaker_destroy(kp_breaker_t *b)
{
        if (!b)
                return;
        for (size_t i = 0; i < KP_BREAKER_KEYS; i++)
                free(b->e[i].key);
        pthread_mutex_destroy(&b->lock);
        free(b);
}

/* The entry of @p key, or NULL. Caller holds the lock. */
static entry_t *find(kp_breaker_t *b, const char *key)
{
        for (size_t i = 0; i < KP_BREAKER_KEYS; i++)
                if (b->e[i].key && !strcmp(b->e[i].key, key))
                        return &b->e[i];
        return NULL;
}

int kp_breaker_check(kp_breaker_t *b, const char *key, char *why, size_t why_size,
                     int64_t *failed_at_ms)
{
        int open = 0;
        if (!b || !key)
                return 0;
        int64_t now = clock_ms(CLOCK_MONOTONIC);
        pthread_mutex_lock(&b->lock);
        entry_t *e = find(b, key);
        if (e && e->failed_at) {
                e->used = ++b->tick;
                if (now < e->open_until || e->trying) {
                        open = 1;
                        snprintf(why, why_size, "%s", e->why);
                        if (failed_at_ms)
                                *failed_at_ms = e->failed_at;
                } else {
                        e->trying = 1; /* this caller tries; the others wait for it */
                }
        }
        pthread_mutex_unlock(&b->lock);
        return open;
}

void kp_breaker_report(kp_breaker_t *b, const char *key, const char *error)
{
        if (!b || !key)
                return;
        int64_t now = clock_ms(CLOCK_MONOTONIC);
        pthread_mutex_lock(&b->lock);
        entry_t *e = find(b, key);
        if (!error || !error[0]) {
                if (e) {
                        e->failed_at = 0;
                        e->trying = 0;
                }
                goto out;
        }
        if (!e) {
                /* reuse an empty, healthy or least recently used entry */
                e = &b->e[0];
                for (size_t i = 0; i < KP_BREAKER_KEYS; i++) {
                        entry_t *c = &b->e[i];
                        if (!c->key || !c->failed_at) {
                                e = c;
                                break;
                        }
                        if (c->used < e->used)
                                e = c;
                }
                /* a key of any length: a bootstrap list of many brokers is still one key */
                char *copy = strdup(key);
                if (!copy)
                        goto out; /* remembered next time: a breaker only saves waiting */
                free(e->key);
                memset(e, 0, sizeof(*e));
                e->key = copy;
        }
        snprintf(e->why, sizeof(e->why), "%s", error);
        e->failed_at = clock_ms(CLOCK_REALTIME);
        e->open_until = now + b->open_ms;
        e->trying = 0;
        e->used = ++b->tick;
out:
        pthread_mutex_unlock(&b->lock);
}
