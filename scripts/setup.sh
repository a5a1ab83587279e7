#!/bin/sh
# setup.sh — installs what kplane's build, demo, tests and benchmarks need, if missing.
# Idempotent: a machine that has everything is left alone (no apt-get update).
# Used by `make run|test|bench` and by the Dockerfile's build stage (with "build").
# librdkafka is not Debian's package: scripts/rdkafka.sh builds a current one (>= 2.14)
# from Debian unstable's source into .deps/, with the -dev packages listed here.
set -eu

profile=${1:-all}

build_pkgs="gcc make pkg-config libmicrohttpd-dev libjansson-dev libsqlite3-dev"
# What scripts/rdkafka.sh needs to fetch, unpack and build librdkafka (Debian's own
# Build-Depends for it, less the unbundled cJSON/nanopb it does not need).
rdkafka_pkgs="dpkg-dev ca-certificates debian-archive-keyring libssl-dev libsasl2-dev zlib1g-dev libzstd-dev liblz4-dev libcurl4-openssl-dev"
test_pkgs="clang-format libcmocka-dev kcat chromium curl procps"
bench_pkgs="wrk nginx-light"

case "$profile" in
build) want="$build_pkgs $rdkafka_pkgs" ;;
*) want="$build_pkgs $rdkafka_pkgs $test_pkgs $bench_pkgs" ;;
esac

missing=""
for p in $want; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
                missing="$missing $p"
        fi
done

if [ -n "$missing" ]; then
        echo "setup: installing$missing"
        SUDO=""
        if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
        export DEBIAN_FRONTEND=noninteractive
        $SUDO apt-get update -q >/dev/null
        $SUDO apt-get install -y -q --no-install-recommends $missing >/dev/null
fi

"$(dirname "$0")/rdkafka.sh"

if [ "$profile" = build ]; then exit 0; fi

# pytest drives the black-box tests.
if ! python3 -c 'import pytest' 2>/dev/null; then
        echo "setup: installing pytest"
        python3 -m pip install -q pytest || {
                SUDO=""; [ "$(id -u)" != 0 ] && SUDO=sudo
                $SUDO apt-get install -y -q python3-pytest >/dev/null
        }
fi

# schemathesis fuzzes the served OpenAPI document against the server
# (tests/integration/test_schemathesis.py). Pinned to one minor: its generated cases, and
# so what the test sends, change between releases. Not packaged by Debian; Debian's own
# Python refuses pip (PEP 668) unless told, and then installs under /usr/local.
st_want='schemathesis>=4.32.5,<4.33'
if ! python3 -c 'import importlib.metadata as m, sys; sys.exit(not m.version("schemathesis").startswith("4.32."))' 2>/dev/null; then
        echo "setup: installing $st_want"
        SUDO=""; [ "$(id -u)" != 0 ] && SUDO=sudo
        python3 -m pip --version >/dev/null 2>&1 || {
                $SUDO apt-get update -q >/dev/null
                $SUDO apt-get install -y -q --no-install-recommends python3-pip >/dev/null
        }
        python3 -m pip install -q "$st_want" 2>/dev/null ||
                $SUDO python3 -m pip install -q --break-system-packages "$st_want"
fi
exit 0
