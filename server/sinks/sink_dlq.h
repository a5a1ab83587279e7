/* sink_dlq.h — a group's error policy ("errors") and its dead letters: records a sink refused,
 * put into the dead-letter sink with the headers that say why. */
#ifndef KP_SINK_DLQ_H
#define KP_SINK_DLQ_H

#include "sinks/sink.h"

#include <jansson.h>
#include <stddef.h>

/*
 * Checks a group's "errors" document: {"tolerance": "none"|"all", "dead_letter": a kafka or
 * file sink document} (dead_letter required with "all", refused with "none"; http and
 * discard are no dead letters: one may refuse what it is given, the other loses it).
 * NULL is tolerance none. @returns 0 or KP_ERR_INVALID with errstr starting with the
 * field ("errors.tolerance: ...", "errors.dead_letter.topic: ...").
 */
int kp_sink_errors_validate(const json_t *errors, char *errstr, size_t errstr_size);
/* @returns 1 when @p errors (checked) says tolerance "all", else 0. */
int kp_sink_errors_tolerate(const json_t *errors);
/* @returns @p errors' dead_letter document (borrowed), NULL when it has none. */
const json_t *kp_sink_errors_dead_letter(const json_t *errors);
/* A copy of @p errors as answers show it: the dead letter's secrets as "******" (see
 * kp_sink_redact). NULL: NULL. */
json_t *kp_sink_errors_redact(const json_t *errors);
/* For a replace: the dead letter's secrets sent back as "******" get their stored value
 * from @p old (the stored errors document), as kp_sink_unredact. */
void kp_sink_errors_unredact(json_t *errors, const json_t *old);

/*
 * Puts @p n refused records into dead-letter sink @p dlq, each with its own headers, then
 * kplane.error.reason, kplane.error.status and kplane.source.cluster, .topic, .partition,
 * .offset (the record's key, value, timestamp and part kept, so the dead-letter sink's
 * precommit speaks of the source partition). Like kp_sink_put: *taken records from the
 * first were taken. Caller serialises per sink.
 */
kp_sink_status_t kp_sink_dead_letter_put(kp_sink_t *dlq, const kp_sink_refused_t *recs, size_t n,
                                         size_t *taken, char *errstr, size_t errstr_size);

#endif /* KP_SINK_DLQ_H */
