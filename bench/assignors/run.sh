#!/usr/bin/env bash
# Times Kafka's own assignors (CooperativeSticky, KIP-848 Uniform) for comparison with kplane.
# Usage: bench/assignors/run.sh [--heap 6g] [--limit SECONDS_PER_COMBO (60)] [--budget SECONDS_IN_ALL (170)]
#                               [--replan] [--quick] [cooperative-sticky|uniform]...
#   --replan  a group that owns every partition gains a task, loses one, or gains 10% partitions
#             (src/main/java/kplane/bench/Replan.java) instead of a fresh group
#   --quick   small topologies only (1k, 10k partitions x 10, 100 tasks): a smoke run
# Prints one line per combination:
#   assignor=<name> partitions=<P> tasks=<T> ms=<median> max_per_task=<n> min_per_task=<n> topics=10 runs=<n>
#   (--replan) assignor=<name> case=<c> partitions=<P> tasks=<T> to_partitions=<P'> to_tasks=<T'> ms=<median>
#              ms_followup=<median> moved=<n> max_per_task=<n> min_per_task=<n> topics=10 runs=<n>
# or `assignor=... partitions=... tasks=... skipped=<why>`; lines starting with '#' are notes.
# Exit: 0 done, 1 an assignor failed, 2 build error, 77 skipped (no java/mvn).
set -u

here=$(cd "$(dirname "$0")" && pwd)

skip() {
    echo "************************************************************"
    echo "SKIP: bench/assignors: $*"
    echo "************************************************************"
    exit 77
}

command -v java >/dev/null 2>&1 || skip "java is not installed (need Java 17+)"
command -v mvn >/dev/null 2>&1 || skip "mvn is not installed"
java_major=$(java -XshowSettings:properties -version 2>&1 |
    sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p')
[ "${java_major:-0}" -ge 17 ] 2>/dev/null || skip "java ${java_major:-?} is too old (need 17+)"

target=$here/target
jar=$target/kplane-bench-assignors.jar
cp_file=$target/classpath.txt

# No Maven at all on re-runs: the jar and class path are reused while they are newer than
# every source and every jar on the class path still exists.
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
        echo "# resolving Maven dependencies (first run downloads them)..."
        if ! mvn "${goals[@]}" >"$log" 2>&1; then
            echo "bench/assignors: ERROR: Maven build failed; last lines of $log:"
            tail -n 40 "$log"
            exit 2
        fi
    fi
fi

exec java -cp "$jar:$(cat "$cp_file")" kplane.bench.Bench "$@"
