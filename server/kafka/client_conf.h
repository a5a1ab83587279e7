/* client_conf.h — which librdkafka properties a client config may hold, and their values. */
#ifndef KP_CLIENT_CONF_H
#define KP_CLIENT_CONF_H

#include <jansson.h>
#include <stddef.h>

/* The clients a config is for. A cluster's config feeds both (the runtime's consumers and
 * the short-lived producers of metadata reads); a Kafka sink's feeds producers only. */
typedef enum kp_client_kind {
        KP_CLIENT_CONSUMER = 1,
        KP_CLIENT_PRODUCER = 2,
        KP_CLIENT_ANY = KP_CLIENT_CONSUMER | KP_CLIENT_PRODUCER,
} kp_client_kind_t;

/* What an operator decided at start-up: extra allowed properties, the files directory. */
typedef struct kp_client_policy kp_client_policy_t;

/*
 * Makes a policy. @p allow (borrowed, may be NULL or empty): comma-separated property
 * names allowed on top of the built-in list, as KPLANE_CLIENT_CONFIG_ALLOW gives them;
 * kplane's own properties (group.id, ...) cannot be added. @p files_dir (borrowed, may be
 * NULL or empty: no file properties at all): the directory file-path properties must
 * resolve into; it must exist. Costs one realpath. @returns a new policy (destroy with
 * kp_client_policy_destroy) or NULL with errstr set.
 */
kp_client_policy_t *kp_client_policy_new(const char *allow, const char *files_dir, char *errstr,
                                         size_t errstr_size);

/* NULL does nothing. */
void kp_client_policy_destroy(kp_client_policy_t *policy);

/*
 * Makes the policy of KPLANE_CLIENT_CONFIG_ALLOW and KPLANE_CLIENT_FILES_DIR and installs
 * it as the process's (kp_client_policy_install). Call once at start-up, before any
 * thread that builds a Kafka client starts. @returns 0 or KP_ERR_INVALID with errstr.
 */
int kp_client_policy_install_from_env(char *errstr, size_t errstr_size);

/*
 * Installs @p policy (takes ownership; NULL: the built-in list, no files) as the one
 * contexts without their own use, destroying the previous one. Not thread-safe: only at
 * start-up and shutdown, when no client is being built.
 */
void kp_client_policy_install(kp_client_policy_t *policy);

/* Where and how a config is checked: the clients it is for, and the policy (NULL: the
 * installed one). */
typedef struct kp_client_conf_ctx {
        kp_client_kind_t clients;
        const kp_client_policy_t *policy;
} kp_client_conf_ctx_t;

/*
 * Checks every property of @p config (a JSON object; borrowed; NULL is fine) against the
 * allow-list of @p ctx without librdkafka ever seeing one: names, env references (the
 * variable must be set), file paths (must resolve under the files directory), Kerberos
 * names, token URLs. librdkafka still judges the values afterwards. Costs a table lookup
 * per property, and a realpath per file property. @returns 0, or KP_ERR_INVALID with
 * errstr "config.<property>: <reason>" for the first refused property.
 */
int kp_client_conf_check(const json_t *config, const kp_client_conf_ctx_t *ctx, char *errstr,
                         size_t errstr_size);

/*
 * Checks one property as kp_client_conf_check does and writes the value librdkafka is to
 * get into @p buf: the scalar as text ("true", "500", "0.25"), the resolved file path, or
 * the value of the `${env:KPLANE_SECRET_*}` variable the property names (then
 * *@p from_env is 1, so a caller never echoes librdkafka's view of it). @returns 0 or
 * KP_ERR_INVALID with errstr naming the property; a refusal never includes the
 * environment's value.
 */
int kp_client_conf_value(const char *name, const json_t *value, const kp_client_conf_ctx_t *ctx,
                         char *buf, size_t size, int *from_env, char *errstr, size_t errstr_size);

/* @returns 1 when property @p name holds a secret: answers show it as "******" and it may
 * be an `${env:KPLANE_SECRET_*}` reference (API.md's marks: password, secret, token, ...). */
int kp_client_conf_secret(const char *name);

/* @returns 1 when property @p name says how a client authenticates or trusts the broker
 * (security.protocol, sasl.*, ssl.*, ...): changing it must not re-use a stored secret. */
int kp_client_conf_security(const char *name);

/* @returns 1 when @p value is a string of the `${env:...}` form (stored and shown as is). */
int kp_client_conf_env_ref(const json_t *value);
/*
 * Replaces the `${env:KPLANE_SECRET_<NAME>}` reference in @p buf (@p size bytes) by the
 * variable's value, at use: the value is never stored or answered. @p field names the
 * document field in errors ("config.sasl.password", "sink.headers.Authorization").
 * @returns 0 or KP_ERR_INVALID (not a reference, a variable outside KPLANE_SECRET_*, unset
 * or empty, longer than @p size - 1) with errstr set.
 */
int kp_secret_env_resolve(const char *field, char *buf, size_t size, char *errstr,
                          size_t errstr_size);

#endif /* KP_CLIENT_CONF_H */
