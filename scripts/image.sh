#!/bin/sh
# image.sh — builds kplane's container image with podman, from a base image made locally (no registry).
#
# No Docker engine and no container registry are reachable here, so:
#   1. the base `docker.io/library/debian:trixie-slim` (Debian 13, the current stable) is
#      made once per machine with debootstrap from the Debian mirror apt already uses,
#      slimmed like the official -slim image, cached as build/image/trixie-slim.tar and
#      imported into podman;
#   2. `podman build --isolation=chroot --pull=never --format docker` builds the
#      repository's Dockerfile on it (docker format: OCI images drop HEALTHCHECK).
# Idempotent: installs podman and debootstrap only when missing, reuses the cached base.
#
# Environment: KPLANE_IMAGE (default localhost/kplane:latest), PODMAN_ARGS (global podman
# options, e.g. "--root DIR --storage-driver vfs" where overlay is refused; podman's
# default, overlay as root, works on this machine).
set -eu

cd "$(dirname "$0")/.."
IMAGE=${KPLANE_IMAGE:-localhost/kplane:latest}
SUITE=trixie
BASE=docker.io/library/debian:$SUITE-slim
CACHE=build/image
BASE_TAR=$CACHE/$SUITE-slim.tar
# The mirror is found by the suites this machine's own apt reads (e.g. bookworm); the same
# host serves the image's suite.
HOST_SUITE=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi

podman_() {
        # shellcheck disable=SC2086 # PODMAN_ARGS is a list of options
        $SUDO podman ${PODMAN_ARGS:-} "$@"
}

# --- tools ------------------------------------------------------------------
missing=""
for p in podman debootstrap debian-archive-keyring; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
                missing="$missing $p"
        fi
done
if [ -n "$missing" ]; then
        echo "image: installing$missing"
        export DEBIAN_FRONTEND=noninteractive
        $SUDO apt-get update -q >/dev/null
        # shellcheck disable=SC2086 # a list of package names
        $SUDO apt-get install -y -q --no-install-recommends $missing >/dev/null
fi

# --- the Debian mirror apt uses ----------------------------------------------
# First URI serving the host's plain suite ($HOST_SUITE), from deb822 .sources or one-line lists.
# Prints "URI" for the main archive and, on a second line, the security archive if any.
apt_mirrors() {
        main="" sec=""
        for f in /etc/apt/sources.list.d/*.sources; do
                [ -f "$f" ] || continue
                # deb822 stanzas: a blank line separates them.
                out=$(awk -v suite="$HOST_SUITE" '
                        function flush() {
                                if (types ~ /(^| )deb( |$)/ && uri != "") {
                                        n = split(suites, s, " ")
                                        for (i = 1; i <= n; i++) {
                                                if (s[i] == suite) print "main " uri
                                                if (s[i] == suite "-security") print "sec " uri
                                        }
                                }
                                types = ""; uri = ""; suites = ""
                        }
                        /^[ \t]*$/ { flush(); next }
                        /^Types:/ { sub(/^Types:[ \t]*/, ""); types = $0 }
                        /^URIs:/ { sub(/^URIs:[ \t]*/, ""); split($0, u, " "); uri = u[1] }
                        /^Suites:/ { sub(/^Suites:[ \t]*/, ""); suites = $0 }
                        END { flush() }' "$f")
                [ -z "$main" ] && main=$(printf '%s\n' "$out" | awk '$1 == "main" { print $2; exit }')
                [ -z "$sec" ] && sec=$(printf '%s\n' "$out" | awk '$1 == "sec" { print $2; exit }')
        done
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
                [ -f "$f" ] || continue
                out=$(awk -v suite="$HOST_SUITE" '$1 == "deb" {
                        i = 2; if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                        if ($(i + 1) == suite) print "main " $i
                        if ($(i + 1) == suite "-security") print "sec " $i }' "$f")
                [ -z "$main" ] && main=$(printf '%s\n' "$out" | awk '$1 == "main" { print $2; exit }')
                [ -z "$sec" ] && sec=$(printf '%s\n' "$out" | awk '$1 == "sec" { print $2; exit }')
        done
        echo "${main:-http://deb.debian.org/debian}"
        echo "${sec:-}"
}

# --- the base image, made once per machine -------------------------------------
make_base_tar() {
        mirrors=$(apt_mirrors)
        mirror=$(printf '%s\n' "$mirrors" | sed -n 1p)
        security=$(printf '%s\n' "$mirrors" | sed -n 2p)
        root=$CACHE/rootfs
        echo "image: debootstrap --variant=minbase $SUITE from $mirror (once per machine)"
        $SUDO rm -rf "$root"
        mkdir -p "$CACHE"
        $SUDO debootstrap --variant=minbase "$SUITE" "$root" "$mirror" >"$CACHE/debootstrap.log" 2>&1 || {
                tail -20 "$CACHE/debootstrap.log" >&2
                exit 1
        }
        # Apt sources as the official image has them (deb822), from this machine's mirror,
        # with the keyring the release ships (.pgp since trixie, .gpg before).
        keyring=/usr/share/keyrings/debian-archive-keyring.pgp
        [ -f "$root$keyring" ] || keyring=/usr/share/keyrings/debian-archive-keyring.gpg
        $SUDO rm -f "$root/etc/apt/sources.list"
        {
                printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\n' "$mirror" "$SUITE" "$SUITE"
                printf 'Signed-By: %s\n' "$keyring"
                if [ -n "$security" ]; then
                        printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\n' "$security" "$SUITE"
                        printf 'Signed-By: %s\n' "$keyring"
                fi
        } | $SUDO tee "$root/etc/apt/sources.list.d/debian.sources" >/dev/null
        # Slim like debian:*-slim: no docs, manuals or translations now or in later installs,
        # and apt cleans its caches after each install.
        $SUDO tee "$root/etc/dpkg/dpkg.cfg.d/docker" >/dev/null <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
        $SUDO tee "$root/etc/apt/apt.conf.d/docker-clean" >/dev/null <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
        printf 'Acquire::Languages "none";\n' | $SUDO tee "$root/etc/apt/apt.conf.d/docker-no-languages" >/dev/null
        printf 'APT::Install-Recommends "false";\n' | $SUDO tee "$root/etc/apt/apt.conf.d/docker-no-recommends" >/dev/null
        $SUDO find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
        $SUDO find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
        $SUDO find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias \
                -exec rm -rf {} +
        $SUDO rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/lintian/* \
                "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/cache/ldconfig/* \
                "$root"/var/log/* "$root"/tmp/* "$root"/debootstrap
        $SUDO tar --numeric-owner --xattrs -C "$root" -cf "$BASE_TAR.tmp" .
        $SUDO rm -rf "$root"
        mv "$BASE_TAR.tmp" "$BASE_TAR"
}

if ! podman_ image exists "$BASE"; then
        if [ ! -s "$BASE_TAR" ]; then make_base_tar; fi
        echo "image: importing $BASE_TAR as $BASE"
        podman_ import --change 'CMD ["bash"]' "$BASE_TAR" "$BASE" >/dev/null
fi

# --- the image ---------------------------------------------------------------
# This machine's apt settings on the trust of its mirror's indexes (a frozen snapshot's
# Release files expire: Check-Valid-Until, Check-Date) go to the build's apt calls, which
# read the same mirror; the image does not keep them (Dockerfile, APT_CONF).
APT_CONF=$(apt-config dump 2>/dev/null | grep -E '^Acquire::(Check-Valid-Until|Check-Date) ' || true)
echo "image: building $IMAGE"
podman_ build --isolation=chroot --pull=never --format docker \
        --build-arg APT_CONF="$APT_CONF" \
        --tag "$IMAGE" --file Dockerfile .
podman_ image inspect --format 'image: {{.Id}} {{.Size}} bytes' "$IMAGE" | cut -c1-90
