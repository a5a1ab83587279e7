#!/usr/bin/env bash
# Builds and runs the failover baseline (Failover.java): a plain Kafka consumer group of M member
# processes × K consumers on a real broker loses one member to SIGKILL; prints how long its
# partitions wait for a survivor and how long the others pause.
#
# Usage: bench/failover/run.sh --bootstrap HOST:PORT [--protocol range|cooperative|consumer]
#                              [--members 3] [--consumers 4] [--partitions 30] [--rate 50]
#                              [--session-ms 10000] [--steady S (5)] [--hold S (5)]
#   range        classic protocol, eager RangeAssignor
#   cooperative  classic protocol, CooperativeStickyAssignor (the default)
#   consumer     the KIP-848 consumer protocol (the broker's session timeout: 45 s by default)
# Prints '#' progress lines, then one line of key=value figures (see Failover.observe).
# Environment: BUILD (classes go to $BUILD/bench/failover, default build).
# Exit: 0 done, 1 failed, 2 build error, 77 skipped (no java / no Kafka jars).
exec "$(dirname "$0")/../kafka-java.sh" failover Failover "$@"
