# Dockerfile — kplane's image: built by the repository's own setup script and Makefile, run slim and non-root.
#
# `make image` builds it with podman on a base made locally (scripts/image.sh); any Docker
# or podman with registry access builds it as is. `make image-test` proves what it runs.

# Build stage: the same idempotent setup script and Makefile as CI, so what CI tests is
# what the image ships. The setup script also builds librdkafka (>= 2.14, from Debian
# unstable's source, scripts/rdkafka.sh) into /src/.deps, in a layer of its own that only
# these two scripts invalidate; the Makefile links it statically.
FROM docker.io/library/debian:trixie-slim AS build
# apt settings of the machine that builds, for its mirror (scripts/image.sh passes e.g. a
# frozen snapshot's Acquire::Check-Valid-Until "false"); empty with the real Debian mirrors.
ARG APT_CONF=
WORKDIR /src
COPY scripts/setup.sh scripts/rdkafka.sh scripts/
RUN printf '%s\n' "$APT_CONF" >/etc/apt/apt.conf.d/99build-host \
 && scripts/setup.sh build
COPY . .
RUN make -j"$(nproc)" all \
 && install -D -m 0755 -s build/kplane /out/kplane \
 && scripts/runtime-packages.sh build/kplane >/out/packages

# Runtime stage: the binary and the packages of the shared libraries it links (listed by
# the build stage from the binary itself), nothing else (no compiler, no headers, no
# package lists).
FROM docker.io/library/debian:trixie-slim
ARG APT_CONF=
COPY --from=build /out/packages /tmp/kplane-packages
# The build host's apt settings serve this RUN only: they are not left in the image.
RUN printf '%s\n' "$APT_CONF" >/etc/apt/apt.conf.d/99build-host \
 && apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        $(cat /tmp/kplane-packages) ca-certificates \
 && rm -rf /tmp/kplane-packages /etc/apt/apt.conf.d/99build-host \
           /var/lib/apt/lists/* /var/cache/apt/* /var/cache/debconf/*-old \
           /var/log/apt /var/log/dpkg.log /var/log/alternatives.log \
 && groupadd --system --gid 10001 kplane \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin kplane \
 && mkdir -p /data \
 && chown 10001:10001 /data \
 && chmod 0750 /data
COPY --from=build /out/kplane /usr/local/bin/kplane

# Listen on every interface inside the container; keep the database on the volume.
ENV KPLANE_LISTEN=0.0.0.0:8080 \
    KPLANE_DB=/data/kplane.db
# Numeric so that runtimes (e.g. Kubernetes runAsNonRoot) can verify it is not root.
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
# The binary checks itself (GET /livez on the port of KPLANE_LISTEN): no curl in the image.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/kplane", "healthcheck"]
# Exec form: kplane is PID 1 and receives SIGTERM directly.
ENTRYPOINT ["/usr/local/bin/kplane"]
CMD ["serve"]
