#!/usr/bin/env bash
# Runs real Apache Kafka brokers (single-node KRaft clusters on loopback) for kplane's integration tests.
#
# Usage: brokers.sh COMMAND [ARGS]
#   fetch                              fetch Kafka jars once per machine into the cache (mvn)
#   start [N]                          start N (default 3) independent clusters; prints one
#                                      bootstrap address per line (broker 0 first)
#   stop                               stop every broker of this state dir (TERM, then KILL)
#   kill I                             kill -9 broker I (0-based); its port and data stay reserved
#   restart I                          kill -9 broker I if alive, start it again on the same
#                                      ports and log dir, wait until it answers
#   create-topic I NAME PARTITIONS     create a topic (replication factor 1) on broker I
#   add-partitions I NAME NEW_TOTAL    raise a topic's partition count on broker I
#   tool I MAINCLASS [ARGS]            run a Kafka CLI class against broker I, e.g.
#                                      tool 0 org.apache.kafka.tools.consumer.group.ConsumerGroupCommand
#                                      --describe --group g  (--bootstrap-server is added)
#   bootstrap [I]                      print the bootstrap address of broker I (or of all)
#   status                             print "I pid port alive|dead" per broker
#
# Environment:
#   KPLANE_KAFKA_DIR          state dir (default ${TMPDIR:-/tmp}/kplane-kafka-$UID): state file,
#                             lock, one data dir per broker (b0, b1, ...). Give each test run its own.
#   KPLANE_KAFKA_CACHE        jar cache (default tests/kafka/.cache)
#   KPLANE_KAFKA_JAVA         java binary (default: java on PATH; must be 17+)
#   KPLANE_KAFKA_HEAP         broker -Xmx (default 256m)
#   KPLANE_KAFKA_BROKER_PROPS extra server.properties lines (newline- or space-separated
#                             key=value), appended after the defaults (a later key wins)
#   KPLANE_KAFKA_JAVA_OPTS    extra JVM options, appended
#   KPLANE_KAFKA_JVM          small (default): serial GC, C1 only, heap grown from 32m, so three
#                             brokers start fast beside the tests on two cores; production: the
#                             JVM settings Kafka's own kafka-run-class.sh gives a broker (G1,
#                             MaxGCPauseMillis=20, -Xms = -Xmx, C2), for benchmarks: the small
#                             JVM's serial collections stop the whole broker for up to ~100 ms
#   KPLANE_KAFKA_START_TIMEOUT seconds to wait for all brokers to answer (default 90)
#   KPLANE_KAFKA_STOP_TIMEOUT  seconds between SIGTERM and SIGKILL (default 15)
#   KPLANE_KAFKA_OWNER_PID    if set, a watchdog stops the brokers once that process is gone
#   KPLANE_KAFKA_RMDIR        1: stop (also the watchdog's) removes the whole state dir
#
# Exit codes: 0 ok, 1 failure, 2 usage, 77 java or mvn missing (SKIP line printed).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SELF="$HERE/$(basename "${BASH_SOURCE[0]}")"
DIR="${KPLANE_KAFKA_DIR:-${TMPDIR:-/tmp}/kplane-kafka-$(id -u)}"
case "$DIR" in /*) ;; *) DIR="$PWD/$DIR" ;; esac
CACHE="${KPLANE_KAFKA_CACHE:-$HERE/.cache}"
LIB="$CACHE/lib"
STATE="$DIR/state"
HEAP="${KPLANE_KAFKA_HEAP:-256m}"
START_TIMEOUT="${KPLANE_KAFKA_START_TIMEOUT:-90}"
STOP_TIMEOUT="${KPLANE_KAFKA_STOP_TIMEOUT:-15}"
HOST=127.0.0.1

log() { echo "brokers.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
skip() {
    echo "SKIP: real Kafka tests skipped: $*"
    [ -t 1 ] || echo "SKIP: real Kafka tests skipped: $*" >&2
    exit 77
}
now_ms() { date +%s%3N; }

# --- tools ---------------------------------------------------------------------------------

find_java() {
    JAVA="${KPLANE_KAFKA_JAVA:-}"
    if [ -z "$JAVA" ]; then
        JAVA="$(command -v java || true)"
    fi
    [ -n "$JAVA" ] && [ -x "$JAVA" ] || skip "java not found (Kafka 4 needs Java 17+)"
    local v
    v="$("$JAVA" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"
    case "$v" in
        1.*|9|1[0-6]|"") skip "java at $JAVA is version '${v:-unknown}'; Kafka 4 needs Java 17+" ;;
    esac
}

# Fills the jar cache once; later runs only compare the stamp (no mvn, no network).
fetch() {
    local stamp="$LIB/.complete" want
    want="$(sha256sum "$HERE/pom.xml" | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0
    fi
    command -v mvn >/dev/null 2>&1 || skip "mvn not found (needed once to fetch Kafka from Maven Central)"
    mkdir -p "$CACHE"
    # Two test runs starting at once must not both write the cache.
    exec 8>"$CACHE/fetch.lock"
    flock -w 900 8 || die "jar cache $CACHE is locked by another fetch for over 900s"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        exec 8>&-
        return 0
    fi
    local tmp="$CACHE/lib.tmp.$$" t0
    t0=$(now_ms)
    rm -rf "$tmp"
    log "fetching Kafka jars with mvn into $LIB (once per machine)"
    if ! mvn -q -B -f "$HERE/pom.xml" dependency:copy-dependencies \
            -Dkplane.kafka.lib="$tmp" >"$CACHE/fetch.log" 2>&1; then
        tail -n 30 "$CACHE/fetch.log" >&2
        rm -rf "$tmp"
        die "mvn could not fetch Kafka (log: $CACHE/fetch.log)"
    fi
    ls "$tmp"/kafka_2.13-*.jar >/dev/null 2>&1 || die "mvn ran but no kafka_2.13 jar in $tmp"
    echo "$want" >"$tmp/.complete"
    rm -rf "$LIB"
    mv "$tmp" "$LIB"
    exec 8>&-
    log "fetched $(ls "$LIB"/*.jar | wc -l) jars in $(( ($(now_ms) - t0) ))ms"
}

classpath() {
    local cp="" j
    for j in "$LIB"/*.jar; do cp="${cp:+$cp:}$j"; done
    printf '%s' "$cp"
}

# JVM options for every JVM we start: small, quick to start, no perf files in /tmp.
common_jvm_opts() {
    printf '%s\n' -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:-UsePerfData \
        -XX:+ExitOnOutOfMemoryError -Xss512k -Djava.awt.headless=true \
        -Dkplane.kafka.dir="$DIR"
}

run_tool() { # run_tool MAINCLASS ARGS...
    local opts=()
    mapfile -t opts < <(common_jvm_opts)
    # shellcheck disable=SC2086
    "$JAVA" -Xmx128m "${opts[@]}" \
        -Dlog4j2.configurationFile="$HERE/tools-log4j2.properties" \
        ${KPLANE_KAFKA_JAVA_OPTS:-} -cp "$CP" "$@"
}

# --- ports ---------------------------------------------------------------------------------

# Prints COUNT distinct free loopback ports (bound together, then released).
free_ports() {
    local count="$1"
    if command -v python3 >/dev/null 2>&1; then
        python3 - "$count" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print("\n".join(str(s.getsockname()[1]) for s in socks))
EOF
        return
    fi
    local got=0 p
    while [ "$got" -lt "$count" ]; do
        p=$(( 20000 + RANDOM % 30000 ))
        if ! port_busy "$p"; then echo "$p"; got=$((got + 1)); fi
    done
}

port_busy() { # port_busy PORT: true if something listens on it
    [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
}

# --- state ---------------------------------------------------------------------------------
# $DIR/state holds one line per broker: "broker I PID PORT CONTROLLER_PORT DATA_DIR",
# plus "watchdog PID" and "cluster_count N". Rewritten whole (tmp + rename) under $DIR/lock.

declare -a B_PID B_PORT B_CPORT B_DATA
N=0
WATCHDOG=""

read_state() {
    N=0; WATCHDOG=""
    B_PID=(); B_PORT=(); B_CPORT=(); B_DATA=()
    [ -f "$STATE" ] || return 1
    local kind a b c d e
    while read -r kind a b c d e; do
        case "$kind" in
            broker) B_PID[a]="$b"; B_PORT[a]="$c"; B_CPORT[a]="$d"; B_DATA[a]="$e"
                    [ $((a + 1)) -gt "$N" ] && N=$((a + 1)) ;;
            watchdog) WATCHDOG="$a" ;;
        esac
    done <"$STATE"
    return 0
}

write_state() {
    local i tmp="$STATE.tmp.$$"
    {
        echo "cluster_count $N"
        [ -n "$WATCHDOG" ] && echo "watchdog $WATCHDOG"
        for ((i = 0; i < N; i++)); do
            echo "broker $i ${B_PID[i]} ${B_PORT[i]} ${B_CPORT[i]} ${B_DATA[i]}"
        done
    } >"$tmp"
    mv "$tmp" "$STATE"
}

lock_dir() {
    mkdir -p "$DIR"
    exec 9>"$DIR/lock"
    flock -w 120 9 || die "state dir $DIR is locked by another brokers.sh for over 120s"
}

# True if PID is alive and is one of ours for this state dir (guards against pid reuse).
ours() {
    local pid="$1"
    [ -n "$pid" ] && [ "$pid" != "-" ] || return 1
    grep -qsxzF -e "-Dkplane.kafka.dir=$DIR" "/proc/$pid/cmdline"
}

# True if PID exists and is not a zombie (a just-forked child may not have exec'd java yet).
running() {
    local pid="$1" st
    [ -n "$pid" ] && [ "$pid" != "-" ] && kill -0 "$pid" 2>/dev/null || return 1
    st="$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -c1)"
    [ -n "$st" ] && [ "$st" != Z ]
}

# Every live process started by this script for this state dir, found by its marker argument.
our_pids() {
    local f pid
    # The pattern comes from a file so this grep's own argv does not match it.
    for f in $(grep -lsxzF -f <(printf '%s\n' "-Dkplane.kafka.dir=$DIR") /proc/[0-9]*/cmdline); do
        pid="${f#/proc/}"; pid="${pid%/cmdline}"
        [ "$pid" = "$$" ] && continue
        echo "$pid"
    done
}

# SIGTERM the given pids, SIGKILL what is left after STOP_TIMEOUT, wait until all are gone.
terminate() {
    local pids=("$@") p alive deadline
    [ ${#pids[@]} -gt 0 ] || return 0
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    deadline=$(( $(now_ms) + STOP_TIMEOUT * 1000 ))
    while :; do
        alive=()
        for p in "${pids[@]}"; do ours "$p" && alive+=("$p"); done
        [ ${#alive[@]} -eq 0 ] && return 0
        if [ "$(now_ms)" -ge "$deadline" ]; then
            log "SIGKILL after ${STOP_TIMEOUT}s: ${alive[*]}"
            for p in "${alive[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
            deadline=$(( $(now_ms) + 10000 ))
            STOP_TIMEOUT=10
        fi
        sleep 0.1
    done
}

kill9_wait() { # kill9_wait PID: SIGKILL and wait until the pid is gone
    local pid="$1" i
    ours "$pid" || return 0
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do ours "$pid" || return 0; sleep 0.05; done
    die "pid $pid did not die after SIGKILL"
}

# --- brokers -------------------------------------------------------------------------------

write_config() { # write_config I
    local i="$1" d="${B_DATA[$1]}"
    mkdir -p "$d/logs" "$d/data"
    cat >"$d/server.properties" <<EOF
# kplane test broker $i: single-node KRaft cluster (combined broker + controller)
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:${B_CPORT[i]}
listeners=PLAINTEXT://$HOST:${B_PORT[i]},CONTROLLER://$HOST:${B_CPORT[i]}
advertised.listeners=PLAINTEXT://$HOST:${B_PORT[i]}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$d/data
num.partitions=1
default.replication.factor=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=1
group.initial.rebalance.delay.ms=0
# After kill -9 the restarted node may register only once its old session expired (default
# 9 s): shorter makes restarts quicker. But below it the node's controller fences the node
# itself whenever its heartbeats pause that long, which a loaded 2-core machine does: at 3 s
# it happened at load 10 in two runs of two (every partition leaderless, the group
# coordinator unloaded, librdkafka's "new leader0 not found in cache"), at 6 s no more.
broker.session.timeout.ms=6000
broker.heartbeat.interval.ms=500
# few threads and a small cleaner buffer: three of these share two cores and little heap
num.network.threads=2
num.io.threads=2
background.threads=2
num.recovery.threads.per.data.dir=1
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=4194304
log.cleaner.io.buffer.size=65536
# small segments keep the sparse index files and recovery after kill -9 small
log.segment.bytes=16777216
metadata.log.segment.bytes=8388608
$(printf '%s\n' ${KPLANE_KAFKA_BROKER_PROPS:-})
EOF
}

format_broker() { # format_broker I: kafka-storage format with a fresh cluster id
    local i="$1" cid
    # A Kafka Uuid is 16 random bytes in url-safe base64 without padding (22 chars). One
    # starting with '-' would be taken for an option by the tool's argument parser.
    cid=-
    while [ "${cid#-}" != "$cid" ]; do
        cid="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | cut -c1-22)"
    done
    run_tool kafka.tools.StorageTool format -t "$cid" -c "${B_DATA[i]}/server.properties" \
        >"${B_DATA[i]}/logs/format.log" 2>&1 ||
        { cat "${B_DATA[i]}/logs/format.log" >&2; die "formatting broker $i failed"; }
}

# The broker's JVM options (KPLANE_KAFKA_JVM).
broker_jvm_opts() {
    case "${KPLANE_KAFKA_JVM:-small}" in
    small) printf '%s\n' -Xmx"$HEAP" -Xms32m -XX:MaxDirectMemorySize=64m; common_jvm_opts ;;
    production)
        # kafka-run-class.sh's KAFKA_JVM_PERFORMANCE_OPTS, with the heap fixed as in
        # kafka-server-start.sh's KAFKA_HEAP_OPTS (-Xmx1G -Xms1G)
        printf '%s\n' -Xmx"$HEAP" -Xms"$HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
            -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
            -XX:-UsePerfData -Djava.awt.headless=true -Dkplane.kafka.dir="$DIR" ;;
    esac
}

launch_broker() { # launch_broker I: start the JVM in its own session, set B_PID[I]
    local i="$1" d="${B_DATA[$1]}" opts=()
    case "${KPLANE_KAFKA_JVM:-small}" in small | production) ;;
    *) die "KPLANE_KAFKA_JVM must be small or production, not ${KPLANE_KAFKA_JVM}" ;; esac
    mapfile -t opts < <(broker_jvm_opts)
    # setsid: a Ctrl-C at the test runner must not kill the brokers before an orderly stop.
    # shellcheck disable=SC2086
    setsid "$JAVA" "${opts[@]}" \
        -Dkplane.kafka.broker="$i" \
        -Dkafka.logs.dir="$d/logs" \
        -Dlog4j2.configurationFile="$HERE/log4j2.properties" \
        ${KPLANE_KAFKA_JAVA_OPTS:-} \
        -cp "$CP" kafka.Kafka "$d/server.properties" \
        >"$d/logs/stdout.log" 2>&1 </dev/null 8>&- 9>&- &
    B_PID[i]=$!
}

# True once a client can read metadata that lists the broker.
broker_answers() { # broker_answers PORT
    local port="$1"
    if command -v kcat >/dev/null 2>&1; then
        kcat -b "$HOST:$port" -L -m 2 -q -X log_level=0 2>/dev/null | grep -q ' 1 brokers:'
        return
    fi
    # No kcat: an ApiVersions round trip over a raw socket.
    python3 - "$HOST" "$port" 2>/dev/null <<'EOF'
import socket, struct, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)
body = struct.pack(">hhih", 18, 0, 7, 5) + b"probe"
s.sendall(struct.pack(">i", len(body)) + body)
hdr = s.recv(4)
n = struct.unpack(">i", hdr)[0]
data = b""
while len(data) < n:
    chunk = s.recv(n - len(data))
    if not chunk: sys.exit(1)
    data += chunk
cid, err = struct.unpack(">ih", data[:6])
sys.exit(0 if cid == 7 and err == 0 else 1)
EOF
}

# Waits until each listed broker answers; on an early death shows its log and fails.
wait_ready() { # wait_ready I...
    local deadline pending=("$@") still i
    deadline=$(( $(now_ms) + START_TIMEOUT * 1000 ))
    while [ ${#pending[@]} -gt 0 ]; do
        still=()
        for i in "${pending[@]}"; do
            if ! running "${B_PID[i]}"; then
                if grep -qs 'Address already in use' "${B_DATA[i]}/logs/server.log" \
                        "${B_DATA[i]}/logs/stdout.log"; then
                    BIND_FAILED=1
                fi
                log "broker $i (pid ${B_PID[i]}) died during startup; last log lines:"
                tail -n 25 "${B_DATA[i]}/logs/stdout.log" "${B_DATA[i]}/logs/server.log" >&2 2>/dev/null || true
                return 1
            fi
            broker_answers "${B_PORT[i]}" || still+=("$i")
        done
        pending=("${still[@]+"${still[@]}"}")
        [ ${#pending[@]} -eq 0 ] && return 0
        if [ "$(now_ms)" -ge "$deadline" ]; then
            log "brokers ${pending[*]} did not answer within ${START_TIMEOUT}s"
            for i in "${pending[@]}"; do
                tail -n 25 "${B_DATA[i]}/logs/server.log" >&2 2>/dev/null || true
            done
            return 1
        fi
        sleep 0.25
    done
}

start_watchdog() {
    local owner="${KPLANE_KAFKA_OWNER_PID:-}"
    WATCHDOG=""
    [ -n "$owner" ] || return 0
    # The marker argument makes it findable by our_pids; it stops the brokers when the owner
    # (the test process) is gone, even if the owner was killed with SIGKILL.
    setsid bash -c '
        while kill -0 "$1" 2>/dev/null && [ -f "$2" ]; do sleep 1; done
        [ -f "$2" ] && KPLANE_KAFKA_DIR="$3" KPLANE_KAFKA_RMDIR="$5" exec "$4" stop
    ' kplane-kafka-watchdog "$owner" "$STATE" "$DIR" "$SELF" "${KPLANE_KAFKA_RMDIR:-0}" \
        "-Dkplane.kafka.dir=$DIR" \
        >/dev/null 2>&1 </dev/null 8>&- 9>&- &
    WATCHDOG=$!
}

# Stops whatever an earlier run left in this state dir: state-file pids and marked processes.
clean_leftovers() {
    local pids=() p
    if read_state; then
        for ((p = 0; p < N; p++)); do ours "${B_PID[p]}" && pids+=("${B_PID[p]}"); done
        ours "$WATCHDOG" && pids+=("$WATCHDOG")
    fi
    while read -r p; do
        [ -n "$p" ] && [[ " ${pids[*]-} " != *" $p "* ]] && pids+=("$p")
    done < <(our_pids)
    if [ ${#pids[@]} -gt 0 ]; then
        log "stopping leftover processes of $DIR: ${pids[*]}"
        terminate "${pids[@]}"
    fi
    rm -f "$STATE"
}

cmd_start() {
    local n="${1:-3}" i t0
    [[ "$n" =~ ^[1-9][0-9]*$ ]] || { log "start: N must be a positive integer"; exit 2; }
    find_java
    fetch
    CP="$(classpath)"
    lock_dir
    t0=$(now_ms)
    clean_leftovers
    local attempt
    for attempt in 1 2 3; do
        BIND_FAILED=0
        start_attempt "$n" && break
        cmd_stop_locked
        # A chosen port can be taken by someone else before the broker binds it: retry.
        if [ "$BIND_FAILED" = 1 ] && [ "$attempt" -lt 3 ]; then
            log "a port was taken before the broker bound it; retrying with new ports"
            continue
        fi
        die "brokers did not come up (logs under $DIR/b*/logs)"
    done
    log "started $n broker(s) in $(( $(now_ms) - t0 ))ms (state: $STATE)"
    for ((i = 0; i < n; i++)); do echo "$HOST:${B_PORT[i]}"; done
}

start_attempt() { # start_attempt N: one try at formatting and starting N brokers
    local n="$1" i ports=()
    rm -rf "$DIR"/b[0-9]*
    mapfile -t ports < <(free_ports $((2 * n)))
    [ ${#ports[@]} -eq $((2 * n)) ] || die "could not find $((2 * n)) free ports"
    N="$n"
    for ((i = 0; i < n; i++)); do
        B_PORT[i]="${ports[2 * i]}"; B_CPORT[i]="${ports[2 * i + 1]}"
        B_DATA[i]="$DIR/b$i"; B_PID[i]="-"
        write_config "$i"
    done
    # Formatting is a JVM each; run them side by side.
    local fpids=()
    for ((i = 0; i < n; i++)); do format_broker "$i" & fpids+=($!); done
    for i in "${fpids[@]}"; do wait "$i" || die "formatting failed"; done
    for ((i = 0; i < n; i++)); do launch_broker "$i"; done
    write_state
    start_watchdog
    write_state
    local all=()
    for ((i = 0; i < n; i++)); do all+=("$i"); done
    wait_ready "${all[@]}"
}

cmd_stop_locked() {
    local pids=() i p
    if read_state; then
        for ((i = 0; i < N; i++)); do ours "${B_PID[i]}" && pids+=("${B_PID[i]}"); done
        if [ -n "$WATCHDOG" ] && ours "$WATCHDOG" && [ "$WATCHDOG" != "$$" ]; then
            pids+=("$WATCHDOG")
        fi
    fi
    rm -f "$STATE"
    while read -r p; do
        [ -n "$p" ] && [[ " ${pids[*]-} " != *" $p "* ]] && pids+=("$p")
    done < <(our_pids)
    terminate "${pids[@]+"${pids[@]}"}"
    local left
    left="$(our_pids | tr '\n' ' ')"
    [ -z "${left// /}" ] || die "processes still running after stop: $left"
}

cmd_stop() {
    if [ ! -d "$DIR" ]; then return 0; fi
    lock_dir
    cmd_stop_locked
    if [ "${KPLANE_KAFKA_RMDIR:-0}" = 1 ] && [ "$DIR" != / ]; then
        rm -rf "$DIR"
    fi
    log "stopped"
}

need_broker() { # need_broker I: validates I against the state file
    read_state || die "no brokers running (no $STATE)"
    [[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -lt "$N" ] || die "no broker $1 (have $N)"
}

cmd_kill() {
    [ $# -eq 1 ] || { log "usage: kill I"; exit 2; }
    lock_dir
    need_broker "$1"
    kill9_wait "${B_PID[$1]}"
    B_PID[$1]="-"
    write_state
}

cmd_restart() {
    [ $# -eq 1 ] || { log "usage: restart I"; exit 2; }
    local i="$1" k t0
    find_java
    fetch
    CP="$(classpath)"
    lock_dir
    need_broker "$i"
    t0=$(now_ms)
    kill9_wait "${B_PID[i]}"
    # The old listener sockets close with the process; wait if something still holds them.
    for ((k = 0; k < 100; k++)); do
        port_busy "${B_PORT[i]}" || port_busy "${B_CPORT[i]}" || break
        sleep 0.1
    done
    port_busy "${B_PORT[i]}" && die "port ${B_PORT[i]} of broker $i is taken by another process"
    port_busy "${B_CPORT[i]}" && die "controller port ${B_CPORT[i]} of broker $i is taken"
    launch_broker "$i"
    write_state
    wait_ready "$i" || die "broker $i did not come back"
    log "restarted broker $i in $(( $(now_ms) - t0 ))ms"
    echo "$HOST:${B_PORT[i]}"
}

cmd_topic() { # cmd_topic create|alter I NAME COUNT
    local what="$1" i="$2" name="$3" count="$4"
    [[ "$count" =~ ^[1-9][0-9]*$ ]] || { log "partition count must be a positive integer"; exit 2; }
    find_java
    fetch
    CP="$(classpath)"
    need_broker "$i"
    if [ "$what" = create ]; then
        run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$HOST:${B_PORT[i]}" \
            --create --topic "$name" --partitions "$count" --replication-factor 1
    else
        run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$HOST:${B_PORT[i]}" \
            --alter --topic "$name" --partitions "$count"
    fi
}

cmd_tool() { # cmd_tool I MAINCLASS ARGS...
    local i="$1" cls="$2"
    shift 2
    find_java
    fetch
    CP="$(classpath)"
    need_broker "$i"
    run_tool "$cls" --bootstrap-server "$HOST:${B_PORT[i]}" "$@"
}

cmd_bootstrap() {
    read_state || die "no brokers running (no $STATE)"
    local i
    if [ $# -ge 1 ]; then
        need_broker "$1"
        echo "$HOST:${B_PORT[$1]}"
        return
    fi
    for ((i = 0; i < N; i++)); do echo "$HOST:${B_PORT[i]}"; done
}

cmd_status() {
    read_state || { log "no brokers running (no $STATE)"; return 0; }
    local i s
    for ((i = 0; i < N; i++)); do
        if ours "${B_PID[i]}"; then s=alive; else s=dead; fi
        echo "$i ${B_PID[i]} $HOST:${B_PORT[i]} $s"
    done
}

usage() { sed -n '2,/^$/s/^# \{0,1\}//p' "$SELF" >&2; exit 2; }

main() {
    local cmd="${1:-}"
    [ $# -gt 0 ] && shift
    case "$cmd" in
        fetch) find_java; fetch; log "Kafka jars ready in $LIB" ;;
        start) cmd_start "$@" ;;
        stop) cmd_stop ;;
        kill) cmd_kill "$@" ;;
        restart) cmd_restart "$@" ;;
        create-topic) [ $# -eq 3 ] || usage; cmd_topic create "$@" ;;
        add-partitions) [ $# -eq 3 ] || usage; cmd_topic alter "$@" ;;
        tool) [ $# -ge 2 ] || usage; cmd_tool "$@" ;;
        bootstrap) cmd_bootstrap "$@" ;;
        status) cmd_status ;;
        *) usage ;;
    esac
}

main "$@"
