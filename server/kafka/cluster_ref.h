/* cluster_ref.h — a registered cluster as a Kafka client needs it. */
#ifndef KP_CLUSTER_REF_H
#define KP_CLUSTER_REF_H

#include <jansson.h>

/*
 * One cluster, resolved once (by the application layer, from the store and the embedded
 * registry) and passed down as a value: its name, the live bootstrap address (an embedded
 * cluster's port changes on every start) and its librdkafka properties as stored (secrets
 * still as `${env:...}` references: client_conf resolves them when it builds a conf).
 * Every pointer is borrowed from whoever resolved it and lives as long as that owner.
 */
typedef struct kp_cluster_ref {
        const char *name;
        const char *bootstrap;
        const json_t *config; /* object of property -> string value; NULL: none */
} kp_cluster_ref_t;

#endif /* KP_CLUSTER_REF_H */
