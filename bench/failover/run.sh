#!/usr/bin/env bash
# Builds and runs the failover harness (Failover.java): a group of M × K readers on a real broker
# loses one machine to SIGKILL; prints how long its partitions wait for a survivor and how long
# the others pause.
#
# Usage: bench/failover/run.sh --bootstrap HOST:PORT [--protocol range|cooperative|consumer|kplane]
#                              [--members 3] [--consumers 4] [--partitions 30] [--rate 50]
#                              [--session-ms 10000] [--steady S (5)] [--hold S (5)]
#                              [--settle S (120)] [--limit S (120)]
#                              [--kplane URL,URL,URL --pids PID,PID,PID [--kill follower|leader|follower,leader]]
#   range        a plain Kafka group: M member JVMs × K KafkaConsumers, classic protocol, eager
#                RangeAssignor; member 0 is killed
#   cooperative  the same, classic protocol, CooperativeStickyAssignor (the default)
#   consumer     the same, the KIP-848 consumer protocol (the broker's group.consumer.session.timeout.ms:
#                45 s by default; scripts/bench.sh starts its broker with 10 s)
#   kplane       kplane instances the caller started (KPLANE_COORDINATION, one service) at the
#                URLs, with those PIDs: a group of M × K tasks with an http sink to the
#                harness's own receiver; the instance killed runs tasks and does not lead
#                (--kill leader: the leader; a list: one round per entry, the group kept)
# --settle: how long the group may take to settle before a kill; --limit: how long its moved
# partitions may take to consume again after it (then "FAILED: ... did not recover within").
# Prints '#' progress lines, then one line of key=value figures per round (see
# Failover.measure), or a line "FAILED: why" (exit 1).
# Environment: BUILD (classes go to $BUILD/bench/failover, default build).
# Exit: 0 done, 1 failed, 2 build error, 77 skipped (no java / no Kafka jars).
exec "$(dirname "$0")/../kafka-java.sh" failover Failover "$@"
