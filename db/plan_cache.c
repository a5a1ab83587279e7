/* plan_cache.c — the text of each group's current plan, kept in memory beside the store. */
#include "db/plan_cache.h"

#include "base/config.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct slot {
        char *group; /* NULL: empty */
        char *text;
        size_t len;
} slot_t;

struct kp_plan_cache {
        pthread_mutex_t lock;     /* the slots */
        pthread_rwlock_t writing; /* shared: a miss's read and fill; exclusive: a write */
        slot_t slots[KP_PLAN_CACHE_SLOTS];
};

static size_t slot_of(const char *group)
{
        uint64_t h = 1469598103934665603ULL; /* FNV-1a */
        for (const unsigned char *s = (const unsigned char *)group; *s; s++)
                h = (h ^ *s) * 1099511628211ULL;
        return (size_t)(h % KP_PLAN_CACHE_SLOTS);
}

static void slot_clear(slot_t *s)
{
        free(s->group);
        free(s->text);
        memset(s, 0, sizeof(*s));
}

kp_plan_cache_t *kp_plan_cache_new(void)
{
        kp_plan_cache_t *c = calloc(1, sizeof(*c));
        if (!c)
                return NULL;
        pthread_mutex_init(&c->lock, NULL);
        pthread_rwlock_init(&c->writing, NULL);
        return c;
}

void kp_plan_cache_destroy(kp_plan_cache_t *c)
{
        if (!c)
                return;
        for (size_t i = 0; i < KP_PLAN_CACHE_SLOTS; i++)
                slot_clear(&c->slots[i]);
        pthread_rwlock_destroy(&c->writing);
        pthread_mutex_destroy(&c->lock);
        free(c);
}

int kp_plan_cache_get(kp_plan_cache_t *c, const char *group, char **textp, size_t *lenp)
{
        int ret = 0;
        if (!c)
                return 0;
        pthread_mutex_lock(&c->lock);
        slot_t *s = &c->slots[slot_of(group)];
        if (s->group && !strcmp(s->group, group)) {
                char *copy = malloc(s->len + 1);
                if (copy) {
                        memcpy(copy, s->text, s->len + 1);
                        *textp = copy;
                        *lenp = s->len;
                        ret = 1;
                } else {
                        ret = -1;
                }
        }
        pthread_mutex_unlock(&c->lock);
        return ret;
}

void kp_plan_cache_miss_begin(kp_plan_cache_t *c)
{
        if (c)
                pthread_rwlock_rdlock(&c->writing);
}

void kp_plan_cache_miss_end(kp_plan_cache_t *c)
{
        if (c)
                pthread_rwlock_unlock(&c->writing);
}

void kp_plan_cache_fill(kp_plan_cache_t *c, const char *group, const char *text, size_t len)
{
        if (!c || len > KP_PLAN_CACHE_TEXT_MAX)
                return;
        char *g = strdup(group), *t = malloc(len + 1);
        if (!g || !t) {
                free(g);
                free(t);
                return;
        }
        memcpy(t, text, len);
        t[len] = '\0';
        pthread_mutex_lock(&c->lock);
        slot_t *s = &c->slots[slot_of(group)];
        slot_clear(s);
        s->group = g;
        s->text = t;
        s->len = len;
        pthread_mutex_unlock(&c->lock);
}

void kp_plan_cache_write_begin(kp_plan_cache_t *c)
{
        if (c)
                pthread_rwlock_wrlock(&c->writing);
}

void kp_plan_cache_write_end(kp_plan_cache_t *c, const char *group)
{
        if (!c)
                return;
        pthread_mutex_lock(&c->lock);
        if (!group) /* the log's applier: every entry */
                for (size_t i = 0; i < sizeof(c->slots) / sizeof(c->slots[0]); i++)
                        slot_clear(&c->slots[i]);
        else {
                slot_t *s = &c->slots[slot_of(group)];
                if (s->group && !strcmp(s->group, group))
                        slot_clear(s);
        }
        pthread_mutex_unlock(&c->lock);
        pthread_rwlock_unlock(&c->writing);
}
