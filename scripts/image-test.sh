#!/bin/bash
# image-test.sh — proves from the built image what it is configured as, what it holds and what it does.
#
# No container can be run here (the sandbox's cgroups refuse it), so the image is taken
# apart instead: `podman image inspect` gives its configuration, `podman image mount`
# its file system. A writable overlay on that mount stands in for the container's root,
# a directory bind-mounted on the VOLUME stands in for the named volume, and the image's
# own ENTRYPOINT + CMD run in it under `chroot --userspec=UID:GID` as the image's USER,
# with exactly the image's environment, as PID 1 of a new PID namespace (so, as in a
# container, SIGTERM only stops it if kplane handles the signal).
#
# Environment: KPLANE_IMAGE (default localhost/kplane:latest), PODMAN_ARGS (as for
# scripts/image.sh), KPLANE_IMAGE_MAX_MB (default 120).
# Prints "ok"/"FAIL" per check and closes with "N passed, N failed"; exit 1 on a failure.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2
IMAGE=${KPLANE_IMAGE:-localhost/kplane:latest}
MAX_MB=${KPLANE_IMAGE_MAX_MB:-120}
STOP_LIMIT_S=10
START_LIMIT_S=30

if [ "$(id -u)" != 0 ]; then
        echo "image-test: needs root (mount, chroot, unshare); run it with sudo" >&2
        exit 2
fi

podman_() {
        # shellcheck disable=SC2086 # PODMAN_ARGS is a list of options
        podman ${PODMAN_ARGS:-} "$@"
}

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   - $*"; }
fail() { failed=$((failed + 1)); echo "FAIL - $*"; }
check() { # check DESCRIPTION COMMAND...: passes when the command succeeds
        local what=$1
        shift
        if "$@"; then ok "$what"; else fail "$what"; fi
}
finish() {
        echo "image-test: $IMAGE"
        echo "$passed passed, $failed failed"
        [ "$failed" = 0 ]
        exit $?
}

if ! podman_ image exists "$IMAGE"; then
        echo "image-test: no image $IMAGE; build it first with 'make image'" >&2
        exit 2
fi

WORK=$(mktemp -d /tmp/kplane-image-test.XXXXXX)
MNT=""
ROOT=$WORK/root
DATA=$WORK/data
RUN_PID=""
MOUNTS=()

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
        stop_server KILL >/dev/null 2>&1
        local i
        for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
                umount -R "${MOUNTS[$i]}" 2>/dev/null || umount -R -l "${MOUNTS[$i]}" 2>/dev/null
        done
        if [ -n "$MNT" ]; then podman_ image unmount "$IMAGE" >/dev/null 2>&1; fi
        rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- configuration
podman_ image inspect "$IMAGE" >"$WORK/inspect.json" || exit 2

# One "key<TAB>value" line per fact the checks need, from the inspect JSON.
python3 - "$WORK/inspect.json" >"$WORK/config.tsv" <<'EOF'
import json, sys
img = json.load(open(sys.argv[1]))[0]
cfg = img.get("Config") or {}
hc = img.get("Healthcheck") or img.get("HealthCheck") or cfg.get("Healthcheck") or {}
env = cfg.get("Env") or []
out = {
    "user": cfg.get("User", ""),
    "workdir": cfg.get("WorkingDir", "") or "/",
    "ports": " ".join(sorted((cfg.get("ExposedPorts") or {}).keys())),
    "volumes": " ".join(sorted((cfg.get("Volumes") or {}).keys())),
    "entrypoint": json.dumps(cfg.get("Entrypoint")),
    "cmd": json.dumps(cfg.get("Cmd")),
    "healthcheck": json.dumps(hc.get("Test")),
    "size": str(img.get("Size", 0)),
}
for k, v in out.items():
    print(f"{k}\t{v}")
for e in env:
    print(f"env\t{e}")
EOF
cfg() { awk -F'\t' -v k="$1" '$1 == k { sub(/^[^\t]*\t/, ""); print; exit }' "$WORK/config.tsv"; }
cfg_env() { awk -F'\t' -v k="$1" '$1 == "env" && index($2, k "=") == 1 { print substr($2, length(k) + 2); exit }' "$WORK/config.tsv"; }
# JSON array -> one element per line
json_lines() { python3 -c 'import json,sys; v=json.loads(sys.argv[1]) or []; print("\n".join(v))' "$1"; }

USER_SPEC=$(cfg user)
WORKDIR=$(cfg workdir)
ENTRYPOINT_JSON=$(cfg entrypoint)
CMD_JSON=$(cfg cmd)
HEALTH_JSON=$(cfg healthcheck)
LISTEN=$(cfg_env KPLANE_LISTEN)
DB=$(cfg_env KPLANE_DB)
SIZE=$(cfg size)

echo "# configuration"
check "USER is set ($USER_SPEC)" test -n "$USER_SPEC"
check "EXPOSE 8080/tcp" grep -qx 'ports	\(.* \)\?8080/tcp\( .*\)\?' "$WORK/config.tsv"
check "VOLUME /data" grep -qx 'volumes	\(.* \)\?/data\( .*\)\?' "$WORK/config.tsv"
check "ENV KPLANE_LISTEN=0.0.0.0:8080" test "$LISTEN" = "0.0.0.0:8080"
check "ENV KPLANE_DB under /data ($DB)" bash -c '[[ "$1" == /data/?* ]]' _ "$DB"
check "ENTRYPOINT is exec form of the kplane binary ($ENTRYPOINT_JSON)" \
        python3 -c 'import json,sys; e=json.loads(sys.argv[1]); sys.exit(not (isinstance(e, list) and len(e) >= 1 and e[0].endswith("/kplane")))' "$ENTRYPOINT_JSON"
check "CMD is exec form, no shell ($CMD_JSON)" \
        python3 -c 'import json,sys; c=json.loads(sys.argv[1]); sys.exit(not (isinstance(c, list) and c[:1] == ["serve"]))' "$CMD_JSON"
check "HEALTHCHECK calls the binary itself ($HEALTH_JSON)" \
        python3 -c 'import json,sys; t=json.loads(sys.argv[1]) or []; sys.exit(not (t[:1] == ["CMD"] and len(t) > 1 and t[1].endswith("/kplane")))' "$HEALTH_JSON"

# docker-compose.yml cannot run here: it must at least say what this image is proven to do.
if [ -f docker-compose.yml ]; then
        check "docker-compose.yml gives kplane the image's KPLANE_LISTEN, KPLANE_DB, port and volume" \
                bash -c 'grep -q "KPLANE_LISTEN: $1\$" docker-compose.yml && grep -q "KPLANE_DB: $2\$" docker-compose.yml &&
                        grep -q "\"${1##*:}:${1##*:}\"" docker-compose.yml && grep -q -- "- kplane-data:/data\$" docker-compose.yml' \
                _ "$LISTEN" "$DB"
fi

# ---------------------------------------------------------------- contents
echo "# contents"
MNT=$(podman_ image mount "$IMAGE") || { fail "podman image mount"; finish; }
ok "podman image mount ($MNT)"

ENTRY_BIN=$(json_lines "$ENTRYPOINT_JSON" | head -1)
check "entrypoint binary $ENTRY_BIN is in the image and executable" test -x "$MNT$ENTRY_BIN"

# The user: numeric or a name of the image's /etc/passwd, never root.
USER_NAME=${USER_SPEC%%:*}
GROUP_NAME=""
[[ "$USER_SPEC" == *:* ]] && GROUP_NAME=${USER_SPEC#*:}
if [[ "$USER_NAME" =~ ^[0-9]+$ ]]; then
        RUN_UID=$USER_NAME
        RUN_GID=$(awk -F: -v u="$RUN_UID" '$3 == u { print $4; exit }' "$MNT/etc/passwd")
else
        RUN_UID=$(awk -F: -v u="$USER_NAME" '$1 == u { print $3; exit }' "$MNT/etc/passwd")
        RUN_GID=$(awk -F: -v u="$USER_NAME" '$1 == u { print $4; exit }' "$MNT/etc/passwd")
fi
if [ -n "$GROUP_NAME" ]; then
        if [[ "$GROUP_NAME" =~ ^[0-9]+$ ]]; then RUN_GID=$GROUP_NAME; else
                RUN_GID=$(awk -F: -v g="$GROUP_NAME" '$1 == g { print $3; exit }' "$MNT/etc/group")
        fi
fi
RUN_UID=${RUN_UID:-}
RUN_GID=${RUN_GID:-$RUN_UID}
check "USER is not root (uid ${RUN_UID:-?}, gid ${RUN_GID:-?})" \
        bash -c '[[ "$1" =~ ^[0-9]+$ && "$1" != 0 && "$2" =~ ^[0-9]+$ && "$2" != 0 ]]' _ "$RUN_UID" "$RUN_GID"
check "the user has an /etc/passwd entry" awk -F: -v u="$RUN_UID" '$3 == u { f = 1 } END { exit !f }' "$MNT/etc/passwd"
check "/data belongs to the image user" test "$(stat -c %u "$MNT/data" 2>/dev/null)" = "$RUN_UID"

check "no compiler (gcc, cc, cpp, ld, make)" bash -c \
        'for f in gcc cc cpp c++ g++ ld as make; do [ -e "$1/usr/bin/$f" ] && exit 1; done; exit 0' _ "$MNT"
check "no headers (/usr/include empty or absent)" \
        bash -c '[ ! -d "$1/usr/include" ] || [ -z "$(find "$1/usr/include" -type f -print -quit)" ]' _ "$MNT"
chroot "$MNT" dpkg-query -W -f '${Package}\n' >"$WORK/packages.txt" 2>/dev/null
check "no -dev, compiler or build packages installed" \
        bash -c '! grep -E "(-dev$|^(gcc|g\+\+|cpp)(-[0-9]+)?$|^binutils|^make$|^pkg-?config|^pkgconf)" "$1"' _ "$WORK/packages.txt"
check "no package lists or apt caches left" \
        bash -c '[ -z "$(find "$1/var/lib/apt/lists" "$1/var/cache/apt" -type f ! -name lock -print -quit 2>/dev/null)" ]' _ "$MNT"
# The image's own dynamic loader lists what the binary loads (ldd is only a script around it).
LDSO=$(cd "$MNT" && ls lib64/ld-linux-*.so.* usr/lib64/ld-linux-*.so.* 2>/dev/null | head -1)
chroot "$MNT" "/${LDSO:-lib64/ld-linux-x86-64.so.2}" --list "$ENTRY_BIN" >"$WORK/ldd.txt" 2>&1
check "the image's loader resolves every library of the binary" \
        bash -c 'grep -q "=>" "$1" && ! grep -q "not found" "$1"' _ "$WORK/ldd.txt"
grep -q "not found" "$WORK/ldd.txt" && sed 's/^/    /' "$WORK/ldd.txt"
for lib in libmicrohttpd libjansson libsqlite3; do
        check "the binary links $lib and it is in the image" grep -q "$lib.*=> /" "$WORK/ldd.txt"
done
# librdkafka is built from Debian unstable's source and linked statically (scripts/rdkafka.sh):
# no distribution librdkafka.so, and the binary reports the version it runs.
check "librdkafka is linked statically (no librdkafka.so loaded)" bash -c '! grep -q librdkafka "$1"' _ "$WORK/ldd.txt"
RDKAFKA_VERSION=$(chroot "$MNT" "$ENTRY_BIN" --version 2>/dev/null | sed -n 's/.*librdkafka \([0-9][0-9.]*\).*/\1/p')
check "the binary runs librdkafka >= 2.14 (${RDKAFKA_VERSION:-none reported})" \
        bash -c '[ -n "$1" ] && dpkg --compare-versions "$1" ge 2.14' _ "$RDKAFKA_VERSION"

SIZE_MB=$(awk -v s="$SIZE" 'BEGIN { printf "%.1f", s / 1000000 }')
echo "image size: $SIZE bytes ($SIZE_MB MB)"
check "image size $SIZE_MB MB is under $MAX_MB MB" awk -v s="$SIZE" -v m="$MAX_MB" 'BEGIN { exit !(s < m * 1000000) }'

# ---------------------------------------------------------------- behaviour
echo "# behaviour"
# A writable root over the image (what a container gets), a volume on /data.
mkdir -p "$ROOT" "$WORK/upper" "$WORK/work" "$DATA"
if mount -t overlay overlay -o "lowerdir=$MNT,upperdir=$WORK/upper,workdir=$WORK/work" "$ROOT" 2>/dev/null; then
        MOUNTS+=("$ROOT")
else
        # Overlay on overlay refused here: a copy of the image's files instead.
        cp -a "$MNT/." "$ROOT/"
fi
# A fresh named volume starts as a copy of the image's /data (owner and mode included).
cp -a "$MNT/data/." "$DATA/"
chown "$(stat -c %u:%g "$MNT/data")" "$DATA"
chmod "$(stat -c %a "$MNT/data")" "$DATA"
mount --bind "$DATA" "$ROOT/data" && MOUNTS+=("$ROOT/data")
mount --rbind /dev "$ROOT/dev" && mount --make-rslave "$ROOT/dev" && MOUNTS+=("$ROOT/dev")
# What the runtime writes into every container.
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$ROOT/etc/hosts"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true

# The port: the image's 8080 unless something here already listens on it.
PORT=${LISTEN##*:}
port_free() { python3 -c 'import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", int(sys.argv[1])))' "$1" 2>/dev/null; }
if ! port_free "$PORT"; then
        PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        echo "port ${LISTEN##*:} is taken here: running on $PORT"
fi
BASE_URL=http://127.0.0.1:$PORT

# The image's environment, exactly, with only the port changed if it had to be.
RUN_ENV=()
while IFS= read -r e; do
        case "$e" in
        KPLANE_LISTEN=*) e="KPLANE_LISTEN=${LISTEN%:*}:$PORT" ;;
        esac
        RUN_ENV+=("$e")
done < <(awk -F'\t' '$1 == "env" { sub(/^env\t/, ""); print }' "$WORK/config.tsv")
printf '%s\n' "${RUN_ENV[@]}" | grep -q '^PATH=' ||
        RUN_ENV+=("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
mapfile -t ENTRY_ARGV < <(json_lines "$ENTRYPOINT_JSON")
mapfile -t CMD_ARGV < <(json_lines "$CMD_JSON")

# in_image ARGV...: runs a command in the image as its user, with its environment, in its WORKDIR.
in_image() {
        env -i "${RUN_ENV[@]}" /usr/sbin/chroot --userspec="$RUN_UID:$RUN_GID" "$ROOT" \
                /usr/bin/env -C "$WORKDIR" "$@"
}

# start_server LOG EXTRA_ARGS...: the image's ENTRYPOINT + CMD (+ extra args), as PID 1 of a
# new PID namespace with its own /proc, in the background. Sets RUN_PID to kplane's pid here.
start_server() {
        local log=$1
        shift
        unshare --pid --fork --mount --kill-child=SIGKILL /bin/sh -c \
                'mount -t proc proc "$1/proc" && shift && exec "$@"' _ "$ROOT" \
                env -i "${RUN_ENV[@]}" /usr/sbin/chroot --userspec="$RUN_UID:$RUN_GID" "$ROOT" \
                /usr/bin/env -C "$WORKDIR" "${ENTRY_ARGV[@]}" "${CMD_ARGV[@]}" "$@" \
                >"$log" 2>&1 &
        UNSHARE_PID=$!
        RUN_PID=""
        local i
        for ((i = 0; i < 50; i++)); do
                RUN_PID=$(cat "/proc/$UNSHARE_PID/task/$UNSHARE_PID/children" 2>/dev/null | awk '{ print $1 }')
                [ -n "$RUN_PID" ] && break
                sleep 0.1
        done
}

# stop_server [SIGNAL]: signals kplane; waits up to STOP_LIMIT_S; sets STOP_RC, STOP_MS.
stop_server() {
        local sig=${1:-TERM} t0 i
        STOP_RC=""
        STOP_MS=""
        [ -n "${UNSHARE_PID:-}" ] || return 0
        t0=$(date +%s%N)
        if [ -n "$RUN_PID" ]; then kill "-$sig" "$RUN_PID" 2>/dev/null; fi
        for ((i = 0; i < STOP_LIMIT_S * 20; i++)); do
                kill -0 "$UNSHARE_PID" 2>/dev/null || break
                sleep 0.05
        done
        STOP_MS=$((($(date +%s%N) - t0) / 1000000))
        if kill -0 "$UNSHARE_PID" 2>/dev/null; then
                kill -KILL "$UNSHARE_PID" 2>/dev/null
                wait "$UNSHARE_PID" 2>/dev/null
                STOP_RC=timeout
        else
                wait "$UNSHARE_PID"
                STOP_RC=$?
        fi
        UNSHARE_PID=""
        RUN_PID=""
}

wait_livez() {
        local i
        for ((i = 0; i < START_LIMIT_S * 5; i++)); do
                curl -fsS -o /dev/null --max-time 2 "$BASE_URL/livez" 2>/dev/null && return 0
                kill -0 "$UNSHARE_PID" 2>/dev/null || return 1
                sleep 0.2
        done
        return 1
}

# The image listens on 0.0.0.0 with no KPLANE_API_TOKEN: kplane generates a token on its
# first start and keeps it beside the database, on the volume; read from there.
TOKEN=""
TOKEN_FILE="$DATA/$(dirname "${DB#/data/}")/api-token"
read_token() { TOKEN=$(cat "$TOKEN_FILE" 2>/dev/null); }

# http METHOD PATH [BODY]: prints the status code; the body goes to $WORK/body. Sends the
# token when one is known.
http() {
        local args=(-sS -o "$WORK/body" -w '%{http_code}' --max-time 10 -X "$1")
        [ -n "$TOKEN" ] && args+=(-H "Authorization: Bearer $TOKEN")
        [ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' --data "$3")
        curl "${args[@]}" "$BASE_URL$2" 2>/dev/null || true
}

show_log() { sed 's/^/    | /' "$1" | tail -20; }

mapfile -t HEALTH_ARGV < <(json_lines "$HEALTH_JSON" | tail -n +2)

# Run 1: the image's command as is.
start_server "$WORK/run1.log"
if wait_livez; then
        ok "GET /livez answers 200 (port $PORT)"
        comm=$(cat "/proc/$RUN_PID/comm" 2>/dev/null)
        nspid=$(awk '/^NSpid:/ { print $NF }' "/proc/$RUN_PID/status" 2>/dev/null)
        check "kplane itself is PID 1 of its namespace, no shell between ($comm, pid $nspid)" \
                test "$comm:$nspid" = kplane:1
        if [ ${#HEALTH_ARGV[@]} -gt 0 ] && in_image "${HEALTH_ARGV[@]}" >"$WORK/health.log" 2>&1; then
                ok "the HEALTHCHECK command exits 0 while serving"
        else
                fail "the HEALTHCHECK command exits 0 while serving"
                show_log "$WORK/health.log"
        fi
        check "GET /readyz answers 200" test "$(http GET /readyz)" = 200
        check "without a token, /api/v1 answers 401 on the public address" \
                test "$(http GET /api/v1/clusters)" = 401
        read_token
        check "a generated API token is kept on the volume ($TOKEN_FILE), mode 600" \
                bash -c '[ -s "$1" ] && [ "$(stat -c %a "$1")" = 600 ]' _ "$TOKEN_FILE"
        check "the generated token is printed once, on this first start" grep -q "API token: $TOKEN" "$WORK/run1.log"
        check "the database is mode 600" bash -c '[ "$(stat -c %a "$1")" = 600 ]' _ "$DATA/${DB#/data/}"
        check "the database is created under /data ($DB), owned by the image user" \
                bash -c '[ -s "$1" ] && [ "$(stat -c %u "$1")" = "$2" ]' _ "$DATA/${DB#/data/}" "$RUN_UID"
        code=$(http POST /api/v1/clusters \
                '{"name":"image-test","embedded":{"brokers":1,"topics":[{"name":"kept","partitions":3}]}}')
        check "a cluster is created through the API (201, got $code)" test "$code" = 201
        code=$(http GET /api/v1/openapi.json)
        check "GET /api/v1/openapi.json is the repository's document" \
                bash -c '[ "$1" = 200 ] && python3 -c "import json,sys; sys.exit(json.load(open(sys.argv[1])) != json.load(open(sys.argv[2])))" "$2" api/openapi.json' \
                _ "$code" "$WORK/body"
else
        fail "GET /livez answers 200 within ${START_LIMIT_S}s (port $PORT)"
        show_log "$WORK/run1.log"
fi
stop_server TERM
check "SIGTERM ends it within ${STOP_LIMIT_S}s, exit 0 (took ${STOP_MS}ms, exit $STOP_RC)" test "$STOP_RC" = 0
if [ ${#HEALTH_ARGV[@]} -gt 0 ] && ! in_image "${HEALTH_ARGV[@]}" >/dev/null 2>&1; then
        ok "the HEALTHCHECK command fails when nothing serves"
else
        fail "the HEALTHCHECK command fails when nothing serves"
fi

# Run 2: restart on the same volume, with the demo.
start_server "$WORK/run2.log" --demo
if wait_livez; then
        ok "restarted on the same volume: /livez answers"
        read_token
        check "the restart keeps the token and does not print it again" \
                bash -c '[ -n "$1" ] && ! grep -q "$1" "$2"' _ "$TOKEN" "$WORK/run2.log"
        check "restart keeps the data (cluster image-test still there)" \
                test "$(http GET /api/v1/clusters/image-test)" = 200
        # The demo seeds clusters and a group in the background: wait for its plan.
        demo_ok=""
        for ((i = 0; i < START_LIMIT_S * 2; i++)); do
                if [ "$(http GET /api/v1/groups)" = 200 ]; then
                        group=$(python3 -c 'import json,sys; it=json.load(open(sys.argv[1])).get("items") or []; print(it[0]["name"] if it else "")' "$WORK/body" 2>/dev/null)
                        if [ -n "$group" ] && [ "$(http GET "/api/v1/groups/$group/plans/current")" = 200 ] &&
                                python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); sys.exit(not p.get("tasks"))' "$WORK/body" 2>/dev/null; then
                                demo_ok=$group
                                break
                        fi
                fi
                sleep 0.5
        done
        check "the demo works: group ${demo_ok:-?} has a current plan with tasks" test -n "$demo_ok"
else
        fail "restarted on the same volume: /livez answers within ${START_LIMIT_S}s"
        show_log "$WORK/run2.log"
fi
stop_server TERM
check "SIGTERM ends the demo within ${STOP_LIMIT_S}s, exit 0 (took ${STOP_MS}ms, exit $STOP_RC)" test "$STOP_RC" = 0

finish
