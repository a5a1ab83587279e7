#!/usr/bin/env bash
# Builds and runs the handover harness (Handover.java): the pause partitions see when a group
# grows from 10 to 15 members on a real Kafka broker.
#
# Usage: bench/handover/run.sh --bootstrap HOST:PORT [--kplane URL] [--timeline FILE]
#                              [--rate MSGS_PER_S_PER_PARTITION (1000)] [--partitions 30]
#                              [--from 10] [--to 15] [--warm S (2)] [--baseline S (5)] [--hold S (3)]
#                              kplane|range|cooperative|consumer
#   kplane       a kplane group (http sink to the harness's own receiver), then
#                POST /groups/{g}/plans {"parallelism": 15, "apply": true}
#   range        Java KafkaConsumers, classic protocol, eager RangeAssignor
#   cooperative  classic protocol, CooperativeStickyAssignor
#   consumer     the KIP-848 consumer protocol (server-side uniform assignor)
# Prints '#' progress lines, then one line of key=value figures (see Handover.finish);
# with --timeline, appends the gaps that count as a stop (longer than the steady window's
# 99.9th percentile gap, and than 3 produce intervals) to FILE.
# Environment: BUILD (classes go to $BUILD/bench/handover, default build),
# KPLANE_HANDOVER_HEARTBEAT_MS (classic protocol heartbeat.interval.ms; default Kafka's 3000).
# Exit: 0 done, 1 failed, 2 build error, 77 skipped (no java / no Kafka jars).
exec "$(dirname "$0")/../kafka-java.sh" handover Handover "$@"
