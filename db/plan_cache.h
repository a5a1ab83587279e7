/* plan_cache.h — the text of each group's current plan, kept in memory beside the store. */
#ifndef KP_PLAN_CACHE_H
#define KP_PLAN_CACHE_H

#include <stddef.h>
#include <stdint.h>

/*
 * GET /groups/{g}/plans/current and every replan read a group's current plan; from SQLite
 * that read was a fifth of the server's CPU under load. The cache holds the stored text
 * of recent groups' current plans (direct-mapped by name: a collision replaces), each
 * copied out to its reader.
 *
 * Consistency: a write that changes a group's current plan (a new version, the group's
 * delete) calls kp_plan_cache_invalidate after its transaction, which drops the group's
 * entry and moves a generation on. A reader that missed notes the generation before its
 * database read and fills the entry only if the generation has not moved since, so a
 * read that raced a write never puts back the text the write replaced.
 */
typedef struct kp_plan_cache kp_plan_cache_t;

/* @returns a new, empty cache or NULL (out of memory: the store then reads every time). */
kp_plan_cache_t *kp_plan_cache_new(void);
/* Frees it. NULL does nothing. */
void kp_plan_cache_destroy(kp_plan_cache_t *c);

/*
 * Looks up @p group: on a hit, *textp is a copy (free()) and *lenp its length, and 1 is
 * returned. On a miss (or NULL cache) 0, with *genp the generation to hand to
 * kp_plan_cache_fill after reading the database. -1: out of memory.
 */
int kp_plan_cache_get(kp_plan_cache_t *c, const char *group, char **textp, size_t *lenp,
                      uint64_t *genp);
/* Keeps a copy of @p text for @p group unless a write came since generation @p gen (or the
 * text is longer than KP_PLAN_CACHE_TEXT_MAX). */
void kp_plan_cache_fill(kp_plan_cache_t *c, const char *group, const char *text, size_t len,
                        uint64_t gen);
/* Drops @p group's entry; readers that missed before this call will not fill. */
void kp_plan_cache_invalidate(kp_plan_cache_t *c, const char *group);

#endif /* KP_PLAN_CACHE_H */
