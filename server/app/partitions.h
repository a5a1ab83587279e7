/* partitions.h — what a group's topic entries read now: the one resolver of a group's
 * partitions, from a snapshot of every registration. */
#ifndef KP_APP_PARTITIONS_H
#define KP_APP_PARTITIONS_H

#include <jansson.h>
#include <stddef.h>

#include "planner/planner.h"

struct kp_store;

/* Every registered topic and pattern, read in one query. */
typedef struct kp_app_regs {
        json_t *topics;   /* "cluster/topic" -> partitions */
        json_t *patterns; /* "cluster\npattern" -> [{name, partitions}] */
} kp_app_regs_t;

/* Loads @p regs (kp_app_regs_cleanup it whatever the result). @returns 0 or the
 * store's kp_err_t with errstr. */
int kp_app_regs_load(struct kp_store *st, kp_app_regs_t *regs, char *errstr, size_t errstr_size);
void kp_app_regs_cleanup(kp_app_regs_t *regs);

/*
 * Resolves group doc @p group's topic entries against @p regs: *topicsp = new array
 * (free()) of *np (cluster, topic, partitions) in the group's order (a pattern's topics
 * in their stored order), each (cluster, topic) once, names borrowed from @p group and
 * @p regs. A registration that is gone, or no partitions at all, is KP_ERR_UNPROCESSABLE
 * with why, unless @p lenient (views of a group: status, overview): then it is left out
 * (and *topicsp may be NULL with *np 0). @returns 0 or kp_err_t with errstr.
 */
int kp_app_group_topics(const kp_app_regs_t *regs, const json_t *group, int lenient,
                        kp_plan_topic_t **topicsp, size_t *np, char *errstr, size_t errstr_size);

#endif /* KP_APP_PARTITIONS_H */
