#!/usr/bin/env bash
# Builds and runs the handover harness (Handover.java): the pause partitions see when a group
# grows from 10 to 15 members on a real Kafka broker.
#
# Usage: bench/handover/run.sh --bootstrap HOST:PORT [--kplane URL] [--timeline FILE]
#                              [--rate MSGS_PER_S_PER_PARTITION (100)] [--partitions 30]
#                              [--from 10] [--to 15] [--warm S (2)] [--baseline S (5)] [--hold S (3)]
#                              kplane|range|cooperative|consumer
#   kplane       a kplane group (http sink to the harness's own receiver), then
#                POST /groups/{g}/plans {"parallelism": 15, "apply": true}
#   range        Java KafkaConsumers, classic protocol, eager RangeAssignor
#   cooperative  classic protocol, CooperativeStickyAssignor
#   consumer     the KIP-848 consumer protocol (server-side uniform assignor)
# Prints '#' progress lines, then one line of key=value figures (see Handover.finish);
# with --timeline, appends the gaps longer than 3 × the produce interval to FILE.
# Environment: BUILD (classes go to $BUILD/bench/handover, default build),
# KPLANE_HANDOVER_HEARTBEAT_MS (classic protocol heartbeat.interval.ms; default Kafka's 3000).
# Exit: 0 done, 1 failed, 2 build error, 77 skipped (no java / no Kafka jars).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD:-$root/build}
case "$build" in /*) ;; *) build=$root/$build ;; esac
out=$build/bench/handover

# The Kafka jars tests/kafka already fetches (kafka-clients, jackson, slf4j + log4j binding).
fetch_out=$("$root/tests/kafka/brokers.sh" fetch 2>&1)
rc=$?
if [ $rc = 77 ]; then
        echo "SKIP: bench/handover: $(printf '%s\n' "$fetch_out" | grep -m1 SKIP | sed 's/^SKIP: *//')"
        exit 77
elif [ $rc != 0 ]; then
        echo "bench/handover: could not fetch the Kafka jars: $fetch_out" >&2
        exit 1
fi
command -v javac >/dev/null 2>&1 || { echo "SKIP: bench/handover: javac is not installed"; exit 77; }
lib=${KPLANE_KAFKA_CACHE:-$root/tests/kafka/.cache}/lib
cp=$(printf '%s:' "$lib"/*.jar)

if [ ! -f "$out/Handover.class" ] || [ "$here/Handover.java" -nt "$out/Handover.class" ]; then
        mkdir -p "$out"
        javac -nowarn -d "$out" -cp "$cp" "$here/Handover.java" >"$out/javac.log" 2>&1 ||
                { cat "$out/javac.log" >&2; exit 2; }
fi

# Small and quick to start like the brokers' JVMs; client logs at WARN to stderr.
exec java -Xmx256m -XX:+UseSerialGC -XX:-UsePerfData \
        -Dlog4j2.configurationFile="$root/tests/kafka/tools-log4j2.properties" \
        -cp "$out:$cp" Handover "$@"
