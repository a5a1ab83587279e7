/* sink_kinds.h — internal: the sink kinds sink.c dispatches to (not part of the public API). */
#ifndef KP_SINK_KINDS_H
#define KP_SINK_KINDS_H

#include "sinks/sink.h"

extern const kp_sink_ops_t kp_sink_discard_ops;
extern const kp_sink_ops_t kp_sink_file_ops;
extern const kp_sink_ops_t kp_sink_http_ops;
extern const kp_sink_ops_t kp_sink_kafka_ops;

#endif /* KP_SINK_KINDS_H */
