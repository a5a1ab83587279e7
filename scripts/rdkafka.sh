#!/bin/sh
# rdkafka.sh — builds the librdkafka kplane links (Debian unstable's source, >= 2.14) once into .deps/.
#
# Why: Debian 12 ships librdkafka 2.0.2 (January 2023), with known message-loss bugs around
# pause/resume and seek in the batch consumer APIs, transaction fixes missing and no KIP-848.
# Debian unstable keeps the current release. Its source package is fetched with apt from a
# private apt directory (its own sources.list with one deb-src line for unstable, its own
# state, cache and lists), so the machine's own apt sources and lists stay untouched; it is
# built against this Debian's -dev packages (OpenSSL, Cyrus SASL with GSSAPI, zlib, zstd, lz4,
# libcurl) and installed into a prefix inside the project that the Makefile links statically.
# No download beyond apt: no --install-deps, no mklove module downloads.
#
# Idempotent: once the prefix holds a built library >= MIN_VERSION, it does nothing at all
# (no network). KPLANE_RDKAFKA_REFRESH=1 fetches again and builds a newer version if unstable
# has moved on. Fails loudly when the fetched version is below MIN_VERSION.
#
# Environment: KPLANE_DEPS (default <project>/.deps), KPLANE_DEBIAN_MIRROR (default: the
# Debian mirror this machine's apt uses), KPLANE_RDKAFKA_REFRESH, KPLANE_RDKAFKA_PERF=1 (also
# build librdkafka's own benchmark tool, examples/rdkafka_performance, into <prefix>/bin: a
# baseline of `make bench`; it needs the whole source tree, so it is built here or not at all).
# Layout: $KPLANE_DEPS/librdkafka/<version>/ (prefix: include/librdkafka, lib, pkgconfig),
# $KPLANE_DEPS/librdkafka/current -> <version> (what the Makefile uses), .../apt and .../src.
set -eu

MIN_VERSION=2.14

cd "$(dirname "$0")/.."
DEPS=${KPLANE_DEPS:-$PWD/.deps}
case "$DEPS" in /*) ;; *) DEPS=$PWD/$DEPS ;; esac
TOP=$DEPS/librdkafka
CURRENT=$TOP/current

# built PREFIX: the prefix holds a complete install (the stamp is written last).
built() {
        [ -f "$1/.built" ] && [ -f "$1/lib/librdkafka.a" ] && [ -f "$1/include/librdkafka/rdkafka_mock.h" ] &&
                [ -f "$1/lib/pkgconfig/rdkafka-static.pc" ]
}

# has_perf PREFIX: rdkafka_performance is there, or was not asked for.
has_perf() {
        [ -z "${KPLANE_RDKAFKA_PERF:-}" ] || [ -x "$1/bin/rdkafka_performance" ]
}

if [ -z "${KPLANE_RDKAFKA_REFRESH:-}" ] && built "$CURRENT" && has_perf "$CURRENT" &&
        dpkg --compare-versions "$(cat "$CURRENT/.built")" ge "$MIN_VERSION"; then
        exit 0
fi

for tool in apt-get dpkg-source make cc pkg-config; do
        command -v "$tool" >/dev/null 2>&1 || {
                echo "rdkafka: $tool missing: run scripts/setup.sh build first" >&2
                exit 1
        }
done

# --- the Debian mirror apt already uses (no other host is assumed reachable) ----
mirror() {
        if [ -n "${KPLANE_DEBIAN_MIRROR:-}" ]; then
                echo "$KPLANE_DEBIAN_MIRROR"
                return
        fi
        for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
                [ -f "$f" ] || continue
                # deb822 "URIs:" lines and one-line "deb [opts] URI suite ..." entries.
                awk '/^URIs:/ { for (i = 2; i <= NF; i++) print $i }
                     $1 == "deb" || $1 == "deb-src" {
                        i = 2; if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                        print $i }' "$f"
        done | grep -E '^https?://[^ ]*/debian/?$' | head -1 | sed 's,/$,,'
}
MIRROR=$(mirror)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
KEYRING=""
for k in /usr/share/keyrings/debian-archive-keyring.pgp /usr/share/keyrings/debian-archive-keyring.gpg; do
        if [ -f "$k" ]; then KEYRING=$k && break; fi
done
[ -n "$KEYRING" ] || {
        echo "rdkafka: no Debian archive keyring (install debian-archive-keyring)" >&2
        exit 1
}

# --- fetch: a private apt directory, never the machine's ------------------------------
APT=$TOP/apt
SRC=$TOP/src
mkdir -p "$APT/parts" "$APT/state/lists/partial" "$APT/cache/archives/partial" "$SRC"
printf 'deb-src [signed-by=%s] %s unstable main\n' "$KEYRING" "$MIRROR" >"$APT/sources.list"
# An empty status file: nothing here installs, and the machine's dpkg database stays unread.
: >"$APT/status"
apt_() {
        apt-get -q \
                -o Dir::Etc::SourceList="$APT/sources.list" \
                -o Dir::Etc::SourceParts="$APT/parts" \
                -o Dir::State="$APT/state" \
                -o Dir::State::status="$APT/status" \
                -o Dir::Cache="$APT/cache" \
                -o Debug::NoLocking=1 \
                -o APT::Sandbox::User="$(id -un)" \
                -o Acquire::Languages=none \
                "$@"
}
echo "rdkafka: fetching the librdkafka source package of Debian unstable from $MIRROR"
apt_ update >"$APT/update.log" 2>&1 || {
        cat "$APT/update.log" >&2
        echo "rdkafka: apt-get update of $MIRROR unstable failed" >&2
        exit 1
}
rm -rf "$SRC" && mkdir -p "$SRC"
(cd "$SRC" && apt_ source --download-only librdkafka) >"$APT/source.log" 2>&1 || {
        cat "$APT/source.log" >&2
        echo "rdkafka: apt-get source librdkafka failed" >&2
        exit 1
}
DSC=$(ls "$SRC"/librdkafka_*.dsc)
# librdkafka_2.14.2-1.dsc -> 2.14.2 (upstream version, without epoch or Debian revision)
VERSION=$(basename "$DSC" .dsc | sed 's/^librdkafka_//; s/^[0-9]*://; s/-[^-]*$//')
if ! dpkg --compare-versions "$VERSION" ge "$MIN_VERSION"; then
        echo "rdkafka: Debian unstable has librdkafka $VERSION, kplane needs >= $MIN_VERSION" >&2
        exit 1
fi
PREFIX=$TOP/$VERSION
if built "$PREFIX" && has_perf "$PREFIX"; then
        echo "rdkafka: librdkafka $VERSION already built in $PREFIX"
        ln -sfn "$VERSION" "$CURRENT"
        rm -rf "$SRC" "$APT"
        exit 0
fi
# Only the benchmark tool is missing: the installed library stays as it is.
LIB_BUILT=""
built "$PREFIX" && LIB_BUILT=1

# --- build -------------------------------------------------------------------------
# --skip-patches: Debian's patches only swap the bundled cJSON and nanopb (OpenTelemetry) for
# Debian packages that this release may not have; upstream's bundled copies build as is.
(cd "$SRC" && dpkg-source --skip-patches -x "$DSC" tree) >"$SRC/unpack.log" 2>&1 || {
        cat "$SRC/unpack.log" >&2
        exit 1
}
echo "rdkafka: building librdkafka $VERSION into $PREFIX"
[ -n "$LIB_BUILT" ] || rm -rf "$PREFIX"
# Every feature Debian's package has, required (configure fails if a -dev package is
# missing) rather than silently left out.
# CXX=cc: configure insists on a C++ compiler that answers --version, but only the C
# library (src/) is built, so none is needed (the image's build stage has no g++).
(cd "$SRC/tree" && CXX=${CXX:-cc} ./configure --prefix="$PREFIX" --no-download \
        --enable-ssl --enable-gssapi --enable-zlib --enable-zstd --enable-lz4-ext \
        --enable-curl --enable-c11threads) >"$SRC/build.log" 2>&1 &&
        make -C "$SRC/tree/src" -j"$(nproc)" lib >>"$SRC/build.log" 2>&1 &&
        { [ -n "$LIB_BUILT" ] || make -C "$SRC/tree/src" install >>"$SRC/build.log" 2>&1; } || {
        tail -40 "$SRC/build.log" >&2
        echo "rdkafka: building librdkafka $VERSION failed (log: $SRC/build.log)" >&2
        exit 1
}
if [ -n "${KPLANE_RDKAFKA_PERF:-}" ]; then
        make -C "$SRC/tree/examples" rdkafka_performance >>"$SRC/build.log" 2>&1 &&
                mkdir -p "$PREFIX/bin" && cp "$SRC/tree/examples/rdkafka_performance" "$PREFIX/bin/" || {
                tail -40 "$SRC/build.log" >&2
                echo "rdkafka: building rdkafka_performance failed (log: $SRC/build.log)" >&2
                exit 1
        }
fi
# Only the static library is linked (see Makefile): the shared one would invite an rpath.
rm -f "$PREFIX"/lib/librdkafka.so*
# The stamp is what everything compiled against the library depends on: left alone when only
# the benchmark tool was added.
[ -n "$LIB_BUILT" ] || echo "$VERSION" >"$PREFIX/.built"
ln -sfn "$VERSION" "$CURRENT"
rm -rf "$SRC" "$APT"
echo "rdkafka: librdkafka $VERSION ready in $PREFIX"
