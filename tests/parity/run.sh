#!/usr/bin/env bash
# Parity check: kplane's flink/range/roundrobin plans against Flink's and Kafka's own code.
# Usage: tests/parity/run.sh [path/to/kplane] [--count N] [--seed S] [--timeout SECONDS]
# Exit: 0 all owners equal, 1 mismatches, 2 harness or kplane error, 77 skipped (no java/mvn).
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
kplane=$root/build/kplane
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
    kplane=$1
    shift
fi

skip() {
    echo "************************************************************"
    echo "SKIP: tests/parity: $*"
    echo "************************************************************"
    exit 77
}

command -v java >/dev/null 2>&1 || skip "java is not installed (need Java 17+)"
command -v mvn >/dev/null 2>&1 || skip "mvn is not installed"
java_major=$(java -XshowSettings:properties -version 2>&1 |
    sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p')
[ "${java_major:-0}" -ge 17 ] 2>/dev/null || skip "java ${java_major:-?} is too old (need 17+)"

case $kplane in /*) ;; *) kplane=$PWD/$kplane ;; esac
if [ ! -x "$kplane" ]; then
    echo "parity: ERROR: kplane binary not found or not executable: $kplane (run make first)"
    exit 2
fi

target=$here/target
jar=$target/kplane-parity.jar
cp_file=$target/classpath.txt

# Re-running must not touch Maven at all when nothing changed: the jar and the resolved
# class path are reused while they are newer than every source and every jar still exists.
up_to_date() {
    [ -f "$jar" ] && [ -s "$cp_file" ] || return 1
    [ -n "$(find "$here/pom.xml" "$here/src" -newer "$jar" -print -quit)" ] && return 1
    local IFS=:
    for f in $(cat "$cp_file"); do
        [ -f "$f" ] || return 1
    done
    return 0
}

if ! up_to_date; then
    mkdir -p "$target"
    log=$target/mvn.log
    goals=(-B -q -Dstyle.color=never -f "$here/pom.xml" package dependency:build-classpath
           "-Dmdep.outputFile=$cp_file")
    # Offline first (no network round trips when ~/.m2 has everything), else download.
    if ! mvn -o "${goals[@]}" >"$log" 2>&1; then
        echo "parity: resolving Maven dependencies (first run downloads them)..."
        if ! mvn "${goals[@]}" >"$log" 2>&1; then
            echo "parity: ERROR: Maven build failed; last lines of $log:"
            tail -n 40 "$log"
            exit 2
        fi
    fi
fi

exec java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp "$jar:$(cat "$cp_file")" \
    kplane.parity.Parity "$kplane" "$@"
