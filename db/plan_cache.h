/* plan_cache.h — the text of each group's current plan, kept in memory beside the store. */
#ifndef KP_PLAN_CACHE_H
#define KP_PLAN_CACHE_H

#include <stddef.h>

/*
 * GET /groups/{g}/plans/current and every replan read a group's current plan; from SQLite
 * that read was a fifth of the server's CPU under load. The cache holds the stored text
 * of recent groups' current plans (direct-mapped by name: a collision replaces), each
 * copied out to its reader.
 *
 * Consistency: a reader that missed reads the database and fills between
 * kp_plan_cache_miss_begin and _end (a shared lock); a write that changes a group's current
 * plan (a new version, the group's delete) runs its transaction and drops the group's entry
 * between kp_plan_cache_write_begin and _end (the exclusive lock). So no fill overlaps a
 * write: what a reader fills is the newest committed text, and an entry never goes back to
 * an older version than one a reader already saw. (A generation checked at fill time was
 * not enough: a reader that read the old text just before a commit could fill it after
 * another reader had read and filled the new one, until the writer dropped the entry.)
 * Hits take only the cache's mutex.
 */
typedef struct kp_plan_cache kp_plan_cache_t;

/* @returns a new, empty cache or NULL (out of memory: the store then reads every time). */
kp_plan_cache_t *kp_plan_cache_new(void);
/* Frees it. NULL does nothing. */
void kp_plan_cache_destroy(kp_plan_cache_t *c);

/* Looks up @p group: on a hit, *textp is a copy (free()) and *lenp its length, and 1 is
 * returned; 0 on a miss (or NULL cache); -1 out of memory. */
int kp_plan_cache_get(kp_plan_cache_t *c, const char *group, char **textp, size_t *lenp);
/* Around a missed reader's database read and its fill (NULL cache: nothing). */
void kp_plan_cache_miss_begin(kp_plan_cache_t *c);
void kp_plan_cache_miss_end(kp_plan_cache_t *c);
/* Keeps a copy of @p text for @p group (not when longer than KP_PLAN_CACHE_TEXT_MAX).
 * Only between kp_plan_cache_miss_begin and _end. */
void kp_plan_cache_fill(kp_plan_cache_t *c, const char *group, const char *text, size_t len);
/* Around a write that changes @p group's current plan; _end drops its entry (every entry
 * when @p group is NULL; NULL cache: nothing). */
void kp_plan_cache_write_begin(kp_plan_cache_t *c);
void kp_plan_cache_write_end(kp_plan_cache_t *c, const char *group);

#endif /* KP_PLAN_CACHE_H */
