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
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD:-$root/build}
case "$build" in /*) ;; *) build=$root/$build ;; esac
out=$build/bench/failover

fetch_out=$("$root/tests/kafka/brokers.sh" fetch 2>&1)
rc=$?
if [ $rc = 77 ]; then
        echo "SKIP: bench/failover: $(printf '%s\n' "$fetch_out" | grep -m1 SKIP | sed 's/^SKIP: *//')"
        exit 77
elif [ $rc != 0 ]; then
        echo "bench/failover: could not fetch the Kafka jars: $fetch_out" >&2
        exit 1
fi
command -v javac >/dev/null 2>&1 || { echo "SKIP: bench/failover: javac is not installed"; exit 77; }
lib=${KPLANE_KAFKA_CACHE:-$root/tests/kafka/.cache}/lib
cp=$(printf '%s:' "$lib"/*.jar)

if [ ! -f "$out/Failover.class" ] || [ "$here/Failover.java" -nt "$out/Failover.class" ]; then
        mkdir -p "$out"
        javac -nowarn -d "$out" -cp "$cp" "$here/Failover.java" >"$out/javac.log" 2>&1 ||
                { cat "$out/javac.log" >&2; exit 2; }
fi

# The members are spawned by the observer with the same class path and log configuration.
exec java -Xmx256m -XX:+UseSerialGC -XX:-UsePerfData \
        -Dlog4j2.configurationFile="$root/tests/kafka/tools-log4j2.properties" \
        -cp "$out:$cp" Failover "$@"
