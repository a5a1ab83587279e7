/* partitions.c — what a group's topic entries read now, from a snapshot of every
 * registration. */
#include "app/partitions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/err.h"
#include "db/store.h"

/* "cluster/topic" or "cluster\npattern": room for the longest of either. */
#define REGS_KEY_MAX (KP_NAME_MAX + KP_PATTERN_MAX + 2)

int kp_app_regs_load(kp_store_t *st, kp_app_regs_t *regs, char *errstr, size_t errstr_size)
{
        json_t *all = NULL, *r;
        size_t i;
        char key[REGS_KEY_MAX];
        memset(regs, 0, sizeof(*regs));
        int err = kp_store_registrations_all(st, &all, errstr, errstr_size);
        if (err)
                return err;
        regs->topics = json_object();
        regs->patterns = json_object();
        json_array_foreach(all, i, r)
        {
                const char *cluster = json_string_value(json_object_get(r, "cluster"));
                const char *name = json_string_value(json_object_get(r, "name"));
                const char *pattern = json_string_value(json_object_get(r, "pattern"));
                if (!cluster)
                        continue;
                if (name) {
                        snprintf(key, sizeof(key), "%s/%s", cluster, name);
                        json_object_set(regs->topics, key, json_object_get(r, "partitions"));
                } else if (pattern) {
                        snprintf(key, sizeof(key), "%s\n%s", cluster, pattern);
                        json_object_set(regs->patterns, key, json_object_get(r, "topics"));
                }
        }
        json_decref(all);
        return 0;
}

void kp_app_regs_cleanup(kp_app_regs_t *regs)
{
        json_decref(regs->topics);
        json_decref(regs->patterns);
        memset(regs, 0, sizeof(*regs));
}

/* The registered [{name, partitions}] entry @p t of a group names, borrowed from @p regs
 * (a topic's is made: new reference in *ownedp); NULL when not registered. */
static json_t *entry_list(const kp_app_regs_t *regs, const json_t *t, json_t **ownedp)
{
        const char *cluster = json_string_value(json_object_get(t, "cluster"));
        const char *topic = json_string_value(json_object_get(t, "topic"));
        const char *pattern = json_string_value(json_object_get(t, "pattern"));
        char key[REGS_KEY_MAX];
        *ownedp = NULL;
        if (topic) {
                snprintf(key, sizeof(key), "%s/%s", cluster, topic);
                json_t *parts = json_object_get(regs->topics, key);
                if (parts)
                        *ownedp = json_pack("[{s:s, s:O}]", "name", topic, "partitions", parts);
                return *ownedp;
        }
        snprintf(key, sizeof(key), "%s\n%s", cluster, pattern ? pattern : "");
        return pattern ? json_object_get(regs->patterns, key) : NULL;
}

/* Appends the topics of @p list on @p cluster not in @p seen to *outp. */
static int entry_add(const char *cluster, const json_t *list, const char *topic, json_t *seen,
                     kp_plan_topic_t **outp, size_t *np, size_t *capp)
{
        size_t j;
        json_t *e;
        char key[REGS_KEY_MAX];
        json_array_foreach(list, j, e)
        {
                const char *name = json_string_value(json_object_get(e, "name"));
                json_int_t parts = json_integer_value(json_object_get(e, "partitions"));
                if (!name || parts < 1)
                        continue;
                snprintf(key, sizeof(key), "%s/%s", cluster, name);
                if (json_object_get(seen, key))
                        continue;
                json_object_set_new(seen, key, json_true());
                if (*np == *capp) {
                        size_t cap = *capp ? 2 * *capp : 4;
                        kp_plan_topic_t *o = realloc(*outp, cap * sizeof(*o));
                        if (!o)
                                return KP_ERR_NOMEM;
                        *outp = o;
                        *capp = cap;
                }
                /* names stay valid: the group doc holds a topic's, @p regs a pattern's */
                (*outp)[*np].cluster = cluster;
                (*outp)[*np].topic = topic ? topic : name;
                (*outp)[*np].partitions = (int32_t)parts;
                (*np)++;
        }
        return 0;
}

int kp_app_group_topics(const kp_app_regs_t *regs, const json_t *group, int lenient,
                        kp_plan_topic_t **topicsp, size_t *np, char *errstr, size_t errstr_size)
{
        json_t *seen = json_object(), *t;
        kp_plan_topic_t *out = NULL;
        size_t i, n = 0, cap = 0;
        int err = 0;
        json_array_foreach(json_object_get(group, "topics"), i, t)
        {
                const char *cluster = json_string_value(json_object_get(t, "cluster"));
                const char *topic = json_string_value(json_object_get(t, "topic"));
                json_t *owned = NULL, *list = cluster ? entry_list(regs, t, &owned) : NULL;
                if (!list && !lenient) {
                        snprintf(errstr, errstr_size, "%s %s of cluster %s is not registered",
                                 topic ? "topic" : "pattern",
                                 topic ? topic : json_string_value(json_object_get(t, "pattern")),
                                 cluster);
                        err = KP_ERR_UNPROCESSABLE;
                }
                if (list && !err)
                        err = entry_add(cluster, list, topic, seen, &out, &n, &cap);
                json_decref(owned);
                if (err)
                        break;
        }
        if (!err && !n && !lenient) {
                snprintf(errstr, errstr_size,
                         "the group's topics have no partitions (a "
                         "pattern that matches nothing?)");
                err = KP_ERR_UNPROCESSABLE;
        }
        json_decref(seen);
        if (err == KP_ERR_NOMEM)
                snprintf(errstr, errstr_size, "out of memory");
        if (err || !n) {
                free(out);
                out = NULL;
                n = 0;
        }
        *topicsp = out;
        *np = n;
        return err;
}
