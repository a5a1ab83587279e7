/* cluster.h — registered clusters resolved for Kafka clients: the one cluster resolver. */
#ifndef KP_APP_CLUSTER_H
#define KP_APP_CLUSTER_H

#include <jansson.h>
#include <stddef.h>

#include "kafka/cluster_ref.h"

struct kp_store;
struct kp_embedded;
struct kp_kafka_metadata;

/* A resolved cluster: the reference clients take, and the storage it borrows from. */
typedef struct kp_app_cluster {
        kp_cluster_ref_t ref; /* ref.bootstrap NULL: an embedded cluster that is not running */
        json_t *doc;          /* the stored doc (owned) */
        char *bootstrap;      /* owned; what ref.bootstrap points to */
} kp_app_cluster_t;

/*
 * Resolves stored cluster @p name into @p c (kp_app_cluster_cleanup it whatever the
 * result): one store read and a look into the embedded registry. @returns 0,
 * KP_ERR_UNAVAILABLE ("embedded cluster %s is not running" in errstr; @p c still holds
 * the doc, ref.bootstrap is NULL), or the store's error (its errstr, @p c empty).
 */
int kp_app_cluster_resolve(struct kp_store *st, struct kp_embedded *emb, const char *name,
                           kp_app_cluster_t *c, char *errstr, size_t errstr_size);

/* Same from a doc already read (borrowed: @p c takes a reference): no store read. */
int kp_app_cluster_from_doc(struct kp_embedded *emb, const json_t *doc, kp_app_cluster_t *c,
                            char *errstr, size_t errstr_size);

/* Releases what a resolve filled in. An all-zero @p c does nothing. */
void kp_app_cluster_cleanup(kp_app_cluster_t *c);

/* @returns an object name -> {"bootstrap_servers","config"} of every cluster in @p names
 * (array of strings), as the runtime takes them, or NULL with errstr. */
json_t *kp_app_clusters_for_runtime(struct kp_store *st, struct kp_embedded *emb,
                                    const json_t *names, char *errstr, size_t errstr_size);

/* Reads the metadata of resolved cluster @p c (@p topic, or all when NULL) within
 * @p timeout_ms: a round trip to the cluster. *mdp as kp_kafka_metadata_fetch. */
int kp_app_cluster_metadata(const kp_app_cluster_t *c, const char *topic, int timeout_ms,
                            struct kp_kafka_metadata **mdp, char *errstr, size_t errstr_size);

/*
 * Deletes stored cluster @p name and stops it when embedded. Refused (KP_ERR_IN_USE, errstr
 * naming the group) while a group reads one of its topics (the store's check) or a group's
 * Kafka sink writes to it (sink.cluster): that group could not start again. @returns 0,
 * KP_ERR_NOT_FOUND, KP_ERR_IN_USE or the store's error.
 */
int kp_app_cluster_delete(struct kp_store *st, struct kp_embedded *emb, const char *name,
                          char *errstr, size_t errstr_size);

/* Starts the mock cluster that embedded cluster doc @p doc describes (its "embedded"
 * spec). @returns 0 or kp_err_t (KP_ERR_INVALID: a spec the mock refuses). */
int kp_app_cluster_embedded_start(struct kp_embedded *emb, const json_t *doc, char *errstr,
                                  size_t errstr_size);

/* Re-creates the embedded clusters of the store (at boot): their data is gone, their
 * topics not. A cluster that cannot start is said on stderr. */
void kp_app_embedded_restore(struct kp_store *st, struct kp_embedded *emb);

#endif /* KP_APP_CLUSTER_H */
