#!/bin/sh
# runtime-packages.sh — prints the Debian packages that hold the shared libraries BINARY needs, one a line.
#
# The Dockerfile's runtime stage installs exactly these, so its package list follows the
# Makefile's link line and the release's package names (trixie's libssl3t64, libcurl4t64...)
# without being kept by hand. Fails when a library belongs to no package.
set -eu

bin=$1
# The libraries the binary names itself (DT_NEEDED); apt brings what those depend on.
needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p' | tr '\n' ' ')
ldd "$bin" | awk -v needed=" $needed" '$2 == "=>" && $3 ~ /^\// && index(needed, " " $1 " ") { print $3 }' >"${TMPDIR:-/tmp}/kp-libs.$$"
pkgs=""
while read -r lib; do
        pkg=""
        # dpkg knows a file by the path its package ships: /usr/lib/... since the /usr merge
        # finished (trixie), /lib/... before; ldd may print either.
        for p in "$lib" "/usr$lib" "${lib#/usr}" "$(readlink -f "$lib")"; do
                pkg=$(dpkg-query -S "$p" 2>/dev/null | awk -F: '!/^diversion/ { print $1; exit }')
                [ -n "$pkg" ] && break
        done
        if [ -z "$pkg" ]; then
                echo "runtime-packages: no package holds $lib" >&2
                rm -f "${TMPDIR:-/tmp}/kp-libs.$$"
                exit 1
        fi
        pkgs="$pkgs $pkg"
done <"${TMPDIR:-/tmp}/kp-libs.$$"
rm -f "${TMPDIR:-/tmp}/kp-libs.$$"
# shellcheck disable=SC2086 # a list of package names
printf '%s\n' $pkgs | sort -u
