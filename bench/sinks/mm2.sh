#!/usr/bin/env bash
# Runs Apache Kafka's own MirrorMaker 2 the way connect-mirror-maker.sh does: a dedicated
# MirrorMaker process (org.apache.kafka.connect.mirror.MirrorMaker) given a properties file.
#
# Usage: bench/sinks/mm2.sh fetch                 fetch connect-mirror and its dependencies
#                                                 once (mvn, bench/sinks/pom.xml) into the cache
#        bench/sinks/mm2.sh run PROPERTIES [ARGS]  exec MirrorMaker PROPERTIES [ARGS] (e.g.
#                                                 --clusters B); fetches first if needed
# Environment: KPLANE_KAFKA_CACHE (default tests/kafka/.cache; the jars go to its mm2/lib),
# KPLANE_KAFKA_JAVA (java, 17+), KPLANE_MM2_HEAP (default connect-mirror-maker.sh's -Xms256M -Xmx2G).
# Exit: 0, 1 failed (the reason on stderr), 77 skipped (no java or mvn: SKIP line on stdout).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${KPLANE_KAFKA_CACHE:-$root/tests/kafka/.cache}/mm2
lib=$cache/lib
java=${KPLANE_KAFKA_JAVA:-$(command -v java || true)}

fetch() {
        local stamp=$lib/.complete want tmp
        want=$(sha256sum "$here/pom.xml" | cut -d' ' -f1)
        [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && return 0
        command -v mvn >/dev/null 2>&1 || { echo "SKIP: mvn not found (needed once to fetch connect-mirror from Maven Central)"; exit 77; }
        mkdir -p "$cache"
        exec 8>"$cache/fetch.lock"
        flock -w 900 8 || { echo "mm2.sh: $cache is locked by another fetch" >&2; exit 1; }
        [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && return 0
        tmp=$cache/lib.tmp.$$
        rm -rf "$tmp"
        echo "mm2.sh: fetching connect-mirror with mvn into $lib (once per machine)" >&2
        if ! mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies -Dkplane.mm2.lib="$tmp" \
                >"$cache/fetch.log" 2>&1; then
                tail -n 20 "$cache/fetch.log" >&2
                rm -rf "$tmp"
                echo "mm2.sh: mvn could not fetch connect-mirror (log: $cache/fetch.log)" >&2
                exit 1
        fi
        ls "$tmp"/connect-mirror-[0-9]*.jar >/dev/null 2>&1 || { echo "mm2.sh: no connect-mirror jar in $tmp" >&2; exit 1; }
        echo "$want" >"$tmp/.complete"
        rm -rf "$lib"
        mv "$tmp" "$lib"
        exec 8>&-
}

[ -n "$java" ] && [ -x "$java" ] || { echo "SKIP: java not found (MirrorMaker 2 needs Java 17+)"; exit 77; }
case "${1:-}" in
fetch) fetch ;;
run)
        [ $# -ge 2 ] || { echo "usage: mm2.sh run PROPERTIES [ARGS]" >&2; exit 2; }
        fetch
        shift
        cp=$(printf '%s:' "$lib"/*.jar)
        # connect-mirror-maker.sh's heap and kafka-run-class.sh's JVM options
        # shellcheck disable=SC2086
        exec "$java" ${KPLANE_MM2_HEAP:--Xms256M -Xmx2G} -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
                -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
                -XX:MaxInlineLevel=15 -Djava.awt.headless=true -XX:-UsePerfData \
                -Dlog4j2.configurationFile="$root/tests/kafka/tools-log4j2.properties" \
                -cp "$cp" org.apache.kafka.connect.mirror.MirrorMaker "$@" ;;
*) echo "usage: mm2.sh fetch | run PROPERTIES [ARGS]" >&2; exit 2 ;;
esac
