/* runtime_plan.c — the runtime's typed plan: its checks, and the adapter from a plan document. */
#include "runtime/runtime_plan.h"

#include "base/config.h"
#include "base/err.h"
#include "base/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Checks part @p j of task @p t of @p plan. */
static int part_check(const kp_rt_plan_t *plan, int t, size_t j, char *errstr, size_t errstr_size)
{
        const kp_rt_plan_part_t *p = &plan->tasks[t].parts[j];
        const kp_cluster_ref_t *c;

        if (p->cluster < 0 || p->cluster >= plan->nclusters) {
                snprintf(errstr, errstr_size,
                         "plan.tasks[%d].partitions[%zu].cluster: %d is not one of the plan's "
                         "%d clusters",
                         t, j, p->cluster, plan->nclusters);
                return KP_ERR_INVALID;
        }
        c = &plan->clusters[p->cluster];
        if (!c->name || !p->topic || !kp_topic_name_valid(p->topic) || p->partition < 0 ||
            p->partition >= KP_PARTITIONS_PER_TOPIC_MAX) {
                snprintf(errstr, errstr_size,
                         "plan.tasks[%d].partitions[%zu]: needs cluster, topic and partition", t,
                         j);
                return KP_ERR_INVALID;
        }
        if (!c->bootstrap) {
                snprintf(errstr, errstr_size,
                         "plan.tasks[%d].partitions[%zu]: cluster \"%s\" has no "
                         "bootstrap_servers",
                         t, j, c->name);
                return KP_ERR_INVALID;
        }
        return 0;
}

int kp_rt_plan_check(const kp_rt_plan_t *plan, char *errstr, size_t errstr_size)
{
        int t, r;
        size_t j;

        if (!plan || plan->parallelism < 1 || plan->parallelism > KP_PARALLELISM_MAX) {
                snprintf(errstr, errstr_size, "plan.parallelism: must be 1..%d",
                         KP_PARALLELISM_MAX);
                return KP_ERR_INVALID;
        }
        if (plan->ntasks < 0 || plan->ntasks > plan->parallelism ||
            (plan->ntasks && !plan->tasks) || plan->nclusters < 0 ||
            (plan->nclusters && !plan->clusters)) {
                snprintf(errstr, errstr_size, "plan.tasks: must list 0..parallelism (%d) tasks",
                         plan->parallelism);
                return KP_ERR_INVALID;
        }
        for (t = 0; t < plan->ntasks; t++) {
                if (plan->tasks[t].nparts && !plan->tasks[t].parts) {
                        snprintf(errstr, errstr_size, "plan.tasks[%d].partitions: missing", t);
                        return KP_ERR_INVALID;
                }
                for (j = 0; j < plan->tasks[t].nparts; j++)
                        if ((r = part_check(plan, t, j, errstr, errstr_size)))
                                return r;
        }
        return 0;
}

/* The index of cluster @p name in out->clusters, added with its bootstrap address and config
 * from @p clusters when new (out->clusters has room for one per partition); -1 when
 * @p clusters gives no bootstrap address for it. O(clusters of the plan). */
static int cluster_index(kp_rt_plan_t *out, const char *name, const json_t *clusters)
{
        const json_t *desc = json_object_get(clusters, name);
        const char *bootstrap = json_string_value(json_object_get(desc, "bootstrap_servers"));
        kp_cluster_ref_t *ref;
        int c;

        for (c = 0; c < out->nclusters; c++)
                if (!strcmp(out->clusters[c].name, name))
                        return c;
        if (!bootstrap)
                return -1;
        ref = &out->clusters[out->nclusters];
        ref->name = name;
        ref->bootstrap = bootstrap;
        ref->config = json_object_get(desc, "config");
        return out->nclusters++;
}

/* Reads partition @p j of task element @p i into @p e. */
static int part_from_json(const json_t *p, size_t i, size_t j, const json_t *clusters,
                          kp_rt_plan_t *out, kp_rt_plan_part_t *e, char *errstr, size_t errstr_size)
{
        const json_t *pn = json_object_get(p, "partition");
        const char *cluster = json_string_value(json_object_get(p, "cluster"));

        e->topic = json_string_value(json_object_get(p, "topic"));
        if (!cluster || !e->topic || !json_is_integer(pn) || json_integer_value(pn) < 0 ||
            json_integer_value(pn) >= KP_PARTITIONS_PER_TOPIC_MAX ||
            !kp_topic_name_valid(e->topic)) {
                snprintf(errstr, errstr_size,
                         "plan.tasks[%zu].partitions[%zu]: needs cluster, topic and partition", i,
                         j);
                return KP_ERR_INVALID;
        }
        e->cluster = cluster_index(out, cluster, clusters);
        if (e->cluster < 0) {
                snprintf(errstr, errstr_size,
                         "plan.tasks[%zu].partitions[%zu]: cluster \"%s\" has no "
                         "bootstrap_servers",
                         i, j, cluster);
                return KP_ERR_INVALID;
        }
        e->partition = (int32_t)json_integer_value(pn);
        return 0;
}

/* Reads task element @p i of a plan document into the slot of its task number; @p seen
 * marks the numbers taken. */
static int task_from_json(const json_t *t, size_t i, const json_t *clusters, kp_rt_plan_t *out,
                          char *seen, char *errstr, size_t errstr_size)
{
        const json_t *parts = json_object_get(t, "partitions");
        const json_t *ti = json_object_get(t, "task");
        const json_t *p;
        int task = ti ? (int)json_integer_value(ti) : (int)i;
        kp_rt_plan_task_t *rtt;
        size_t j;
        int r;

        if ((ti && !json_is_integer(ti)) || task < 0 || task >= out->ntasks || seen[task]++) {
                snprintf(errstr, errstr_size, "plan.tasks[%zu].task: must be a unique number 0..%d",
                         i, out->ntasks - 1);
                return KP_ERR_INVALID;
        }
        if (parts && !json_is_array(parts)) {
                snprintf(errstr, errstr_size, "plan.tasks[%zu].partitions: not an array", i);
                return KP_ERR_INVALID;
        }
        rtt = &out->tasks[task];
        rtt->parts = calloc(json_array_size(parts) + 1, sizeof(*rtt->parts));
        if (!rtt->parts) {
                snprintf(errstr, errstr_size, "out of memory");
                return KP_ERR_NOMEM;
        }
        json_array_foreach(parts, j, p)
        {
                r = part_from_json(p, i, j, clusters, out, &rtt->parts[rtt->nparts], errstr,
                                   errstr_size);
                if (r)
                        return r;
                rtt->nparts++;
        }
        return 0;
}

/* The plan's parallelism: its "parallelism" when given (at least the tasks listed), else the
 * number of tasks listed. @returns -1 when "parallelism" is not such a number. */
static int parallelism_from_json(const json_t *plan, int listed)
{
        const json_t *jp = json_object_get(plan, "parallelism");
        if (!jp)
                return listed;
        if (!json_is_integer(jp) || json_integer_value(jp) < listed ||
            json_integer_value(jp) > KP_PARALLELISM_MAX)
                return -1;
        return (int)json_integer_value(jp);
}

int kp_rt_plan_from_json(const json_t *plan, const json_t *clusters, kp_rt_plan_t *out,
                         char *errstr, size_t errstr_size)
{
        const json_t *tasks = json_object_get(plan, "tasks"), *t;
        size_t i, n = 0;
        char *seen = NULL;
        int r = KP_ERR_INVALID;

        memset(out, 0, sizeof(*out));
        if (!json_is_object(plan) || !json_is_array(tasks) || json_array_size(tasks) == 0 ||
            json_array_size(tasks) > KP_PARALLELISM_MAX) {
                snprintf(errstr, errstr_size, "plan.tasks: must be a non-empty array");
                return KP_ERR_INVALID;
        }
        if (!json_is_object(clusters)) {
                snprintf(errstr, errstr_size, "clusters: must be an object");
                return KP_ERR_INVALID;
        }
        out->version = (int)json_integer_value(json_object_get(plan, "version"));
        out->ntasks = (int)json_array_size(tasks);
        out->parallelism = parallelism_from_json(plan, out->ntasks);
        if (out->parallelism < 0) {
                snprintf(errstr, errstr_size, "plan.parallelism: must be %d..%d (the tasks listed)",
                         out->ntasks, KP_PARALLELISM_MAX);
                goto out;
        }
        json_array_foreach(tasks, i, t) n += json_array_size(json_object_get(t, "partitions"));
        out->tasks = calloc((size_t)out->ntasks, sizeof(*out->tasks));
        out->clusters = calloc(n ? n : 1, sizeof(*out->clusters));
        seen = calloc((size_t)out->ntasks, 1);
        if (!out->tasks || !out->clusters || !seen) {
                snprintf(errstr, errstr_size, "out of memory");
                r = KP_ERR_NOMEM;
                goto out;
        }
        json_array_foreach(tasks, i, t)
        {
                if ((r = task_from_json(t, i, clusters, out, seen, errstr, errstr_size)))
                        goto out;
        }
        r = 0;
out:
        free(seen);
        if (r)
                kp_rt_plan_cleanup(out);
        return r;
}

void kp_rt_plan_cleanup(kp_rt_plan_t *plan)
{
        if (!plan)
                return;
        for (int t = 0; plan->tasks && t < plan->ntasks; t++)
                free(plan->tasks[t].parts);
        free(plan->tasks);
        free(plan->clusters);
        memset(plan, 0, sizeof(*plan));
}
