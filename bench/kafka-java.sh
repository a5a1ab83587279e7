#!/usr/bin/env bash
# Builds a Java harness of bench/ against the Kafka jars tests/kafka fetches (kafka-clients,
# jackson, slf4j + log4j binding) and runs it: bench/handover and bench/failover use it.
#
# Usage: bench/kafka-java.sh DIR CLASS [ARGS...]   compiles bench/DIR/CLASS.java when newer than
#                                                   its class file, then runs CLASS with ARGS
# Environment: BUILD (classes go to $BUILD/bench/DIR, default build); KPLANE_BENCH_JAVA_OPTS:
# more JVM options for the harness (e.g. -Xlog:gc:file=gc.log to see its own pauses).
# Exit: the harness's, or 1 jars not fetched, 2 build error, 77 skipped (no java / no Kafka jars).
set -u
dir=$1 class=$2
shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build}
case "$build" in /*) ;; *) build=$root/$build ;; esac
out=$build/bench/$dir

fetch_out=$("$root/tests/kafka/brokers.sh" fetch 2>&1)
rc=$?
if [ $rc = 77 ]; then
        echo "SKIP: bench/$dir: $(printf '%s\n' "$fetch_out" | grep -m1 SKIP | sed 's/^SKIP: *//')"
        exit 77
elif [ $rc != 0 ]; then
        echo "bench/$dir: could not fetch the Kafka jars: $fetch_out" >&2
        exit 1
fi
command -v javac >/dev/null 2>&1 || { echo "SKIP: bench/$dir: javac is not installed"; exit 77; }
lib=${KPLANE_KAFKA_CACHE:-$root/tests/kafka/.cache}/lib
cp=$(printf '%s:' "$lib"/*.jar)

src=$root/bench/$dir/$class.java
if [ ! -f "$out/$class.class" ] || [ "$src" -nt "$out/$class.class" ]; then
        mkdir -p "$out"
        javac -nowarn -d "$out" -cp "$cp" "$src" >"$out/javac.log" 2>&1 || { cat "$out/javac.log" >&2; exit 2; }
fi

# The harness is the observer: it stamps every arrival, so a pause of its own JVM reads as a
# pause of whatever it watches (kplane's receiver and the Kafka consumers alike). With the
# serial collector its young collections stopped it 9-50 ms every few seconds (-Xlog:gc),
# inside the handover's change window as often as not; ZGC's pauses stay under a
# millisecond. Client logs at WARN to stderr.
exec java -Xmx512m -XX:+UseZGC -XX:-UsePerfData ${KPLANE_BENCH_JAVA_OPTS:-} \
        -Dlog4j2.configurationFile="$root/tests/kafka/tools-log4j2.properties" \
        -cp "$out:$cp" "$class" "$@"
