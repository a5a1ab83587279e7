/* store.h — kplane's durable state in SQLite: clusters, topics, patterns, groups, plan versions. */
#ifndef KP_STORE_H
#define KP_STORE_H

#include <jansson.h>
#include <stddef.h>

/*
 * The store is the only code that talks SQL. It is safe to call from any thread: each
 * call borrows one of a pool of connections (one connection per thread at a time,
 * WAL mode, busy timeout, BEGIN IMMEDIATE for writes). Resource documents are JSON
 * objects (json_t): the store keeps them as given (secrets included — masking is the
 * API's job) and adds nothing to them except where a function says so.
 *
 * Every function returns 0 or a negative kp_err_t (server/base/err.h) and writes detail into
 * errstr (may be NULL). Returned json_t values are new references owned by the caller.
 * Besides the codes named below: KP_ERR_INVALID for a NULL name or a doc that is not a
 * JSON object, KP_ERR_UNAVAILABLE when another process held the write lock for longer
 * than the busy timeout, KP_ERR_NOMEM, and KP_ERR_INTERNAL with SQLite's message.
 * A failed write changes nothing (each write is one transaction). Writes of one process
 * are serialised; reads run in parallel with them and with each other.
 */

typedef struct kp_store kp_store_t;

/* Opens (creating if needed) the database at @p path and applies pending migrations.
 * @returns a new store, close with kp_store_close(), or NULL with errstr set. */
kp_store_t *kp_store_open(const char *path, char *errstr, size_t errstr_size);
/* Closes every connection. NULL does nothing. */
void kp_store_close(kp_store_t *st);
/* Sets how long a write waits for another process holding the database's write lock
 * before it fails with KP_ERR_UNAVAILABLE (default KP_STORE_BUSY_TIMEOUT_MS). Call it
 * only while no other thread uses the store (right after open). */
void kp_store_set_busy_timeout(kp_store_t *st, int ms);
/* Runs a trivial query: 0 when the database is usable (for /readyz). */
int kp_store_ping(kp_store_t *st, char *errstr, size_t errstr_size);
/* @returns the schema version after migrations. */
int kp_store_schema_version(kp_store_t *st);

/* ---- clusters: doc is the cluster as the API stores it, e.g.
 * {"name","bootstrap_servers","config":{},"embedded":{...}|null,"created_at","updated_at"} */

/* Inserts a new cluster. KP_ERR_EXISTS when the name is taken. */
int kp_store_cluster_create(kp_store_t *st, const char *name, const json_t *doc, char *errstr,
                            size_t errstr_size);
/* Replaces an existing cluster's doc. KP_ERR_NOT_FOUND when absent. */
int kp_store_cluster_update(kp_store_t *st, const char *name, const json_t *doc, char *errstr,
                            size_t errstr_size);
/* *docp = the cluster's doc. KP_ERR_NOT_FOUND when absent. */
int kp_store_cluster_get(kp_store_t *st, const char *name, json_t **docp, char *errstr,
                         size_t errstr_size);
/* *arrp = array of docs in name order. */
int kp_store_cluster_list(kp_store_t *st, json_t **arrp, char *errstr, size_t errstr_size);
/* Deletes a cluster with its topics and patterns. KP_ERR_IN_USE when a group reads
 * one of its topics or patterns (errstr names the group), KP_ERR_NOT_FOUND. */
int kp_store_cluster_delete(kp_store_t *st, const char *name, char *errstr, size_t errstr_size);

/* ---- topics: doc {"cluster","name","partitions","discovered_at"} */

/* Inserts or replaces (upsert) a registered topic of an existing cluster.
 * KP_ERR_NOT_FOUND when the cluster is absent. *createdp (may be NULL) = 1 when new. */
int kp_store_topic_put(kp_store_t *st, const char *cluster, const char *topic, int partitions,
                       const char *discovered_at, int *createdp, char *errstr, size_t errstr_size);
int kp_store_topic_get(kp_store_t *st, const char *cluster, const char *topic, json_t **docp,
                       char *errstr, size_t errstr_size);
/* *arrp = the cluster's topics (name order) followed by its patterns (pattern order),
 * pattern docs as in kp_store_pattern_get. KP_ERR_NOT_FOUND when the cluster is absent. */
int kp_store_topic_list(kp_store_t *st, const char *cluster, json_t **arrp, char *errstr,
                        size_t errstr_size);
/* KP_ERR_IN_USE while a group reads it, KP_ERR_NOT_FOUND. */
int kp_store_topic_delete(kp_store_t *st, const char *cluster, const char *topic, char *errstr,
                          size_t errstr_size);

/* ---- patterns: doc {"cluster","pattern","topics":[{"name","partitions"}],"discovered_at"} */

/* Upsert of a pattern registration and its latest resolution (@p topics, an array of
 * {"name","partitions"} objects, borrowed). *createdp as above. */
int kp_store_pattern_put(kp_store_t *st, const char *cluster, const char *pattern,
                         const json_t *topics, const char *discovered_at, int *createdp,
                         char *errstr, size_t errstr_size);
int kp_store_pattern_get(kp_store_t *st, const char *cluster, const char *pattern, json_t **docp,
                         char *errstr, size_t errstr_size);
/* KP_ERR_IN_USE while a group uses it, KP_ERR_NOT_FOUND. */
int kp_store_pattern_delete(kp_store_t *st, const char *cluster, const char *pattern, char *errstr,
                            size_t errstr_size);
/* *arrp = every topic doc and pattern doc of every cluster, for re-discovery. */
int kp_store_registrations_all(kp_store_t *st, json_t **arrp, char *errstr, size_t errstr_size);

/* ---- groups: doc is the group as the API stores it
 * {"name","topics":[{"cluster","topic"}|{"cluster","pattern"}],"parallelism",
 *  "strategy","rebalance","start_offset","sink":{},"errors":{},"created_at","updated_at"}
 * ("errors" since issue 14: a group stored before has none, read as tolerance "none").
 * The store indexes doc.topics so that deleting a used cluster/topic/pattern is refused.
 * Create and update check, in the same transaction, that every doc.topics entry names a
 * registered topic or pattern: KP_ERR_UNPROCESSABLE (errstr names it) otherwise, and
 * KP_ERR_INVALID when an entry lacks "cluster" or has not exactly one of "topic" and
 * "pattern". Create: KP_ERR_EXISTS when the name is taken; update: KP_ERR_NOT_FOUND. */

int kp_store_group_create(kp_store_t *st, const char *name, const json_t *doc, char *errstr,
                          size_t errstr_size);
int kp_store_group_update(kp_store_t *st, const char *name, const json_t *doc, char *errstr,
                          size_t errstr_size);
int kp_store_group_get(kp_store_t *st, const char *name, json_t **docp, char *errstr,
                       size_t errstr_size);
int kp_store_group_list(kp_store_t *st, json_t **arrp, char *errstr, size_t errstr_size);
/* Deletes a group and all its plans. KP_ERR_NOT_FOUND. (Whether it runs is checked by
 * the caller.) */
int kp_store_group_delete(kp_store_t *st, const char *name, char *errstr, size_t errstr_size);
/* Remembers whether the group should run (survives restarts; read back on boot). */
int kp_store_group_set_desired(kp_store_t *st, const char *name, int running, char *errstr,
                               size_t errstr_size);
/* *arrp = names (strings) of groups whose desired state is running, in name order. */
int kp_store_group_list_desired(kp_store_t *st, json_t **arrp, char *errstr, size_t errstr_size);

/* ---- plans: plan doc as the API answers it; the store sets "version" in its copy.
 * Versions start at 1 and grow by one per group; they survive group re-creation only
 * if the group was not deleted (deleting a group deletes its plans). */

/* Stores @p plan (borrowed) as the group's next version, atomically; *versionp = it.
 * The stored text is @p plan with "version" set. KP_ERR_NOT_FOUND without the group. */
int kp_store_plan_add(kp_store_t *st, const char *group, const json_t *plan, int *versionp,
                      char *errstr, size_t errstr_size);
/* *textp = the stored JSON text of version @p version (0 = current, the highest),
 * malloc'd and NUL-terminated, *lenp its length (free with free()).
 * KP_ERR_NOT_FOUND when the group or version is absent. */
int kp_store_plan_get_text(kp_store_t *st, const char *group, int version, char **textp,
                           size_t *lenp, char *errstr, size_t errstr_size);
/* Same as a parsed document. */
int kp_store_plan_get(kp_store_t *st, const char *group, int version, json_t **docp, char *errstr,
                      size_t errstr_size);
/* *arrp = summaries newest first: {"version","parallelism","strategy","created_at",
 * "analysis": {case, partitions, tasks, idle_tasks, skew, moved_from_previous}}. */
int kp_store_plan_list(kp_store_t *st, const char *group, json_t **arrp, char *errstr,
                       size_t errstr_size);
/* *objp = group name -> the summary (as kp_store_plan_list's items) of its current plan,
 * for every group that has one; one query (for overviews of many groups). */
int kp_store_plan_current_all(kp_store_t *st, json_t **objp, char *errstr, size_t errstr_size);

#endif /* KP_STORE_H */
