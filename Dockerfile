# syntax=docker/dockerfile:1
#
# tasktrail's one image, for every mode: `serve` (embedded, the default command), `api`, `audit`,
# `notify` and `migrate` (Kubernetes sets `args: [api]` etc.).
#
# Full build (GitHub's runners, any Docker with BuildKit): a Rust builder, then the runtime.
#   docker build -t tasktrail .
# Runtime only, around a binary built on the host (what scripts/check-image does where no registry
# is reachable; the context is a directory holding just the stripped `tasktrail` binary):
#   cargo build --release --locked -p tasktrail
#   mkdir ctx && strip -o ctx/tasktrail "$CARGO_TARGET_DIR/release/tasktrail"
#   podman build --pull=never --target runtime-prebuilt -f Dockerfile ctx
#
# The runtime is distroless-like: glibc, libgcc, the CA bundle and /etc/passwd taken from Debian
# bookworm-slim, plus the binary. No shell, no package manager, nothing else that runs commands.
# To debug a pod: `kubectl debug -it <pod> --image=debian:bookworm-slim --target=<container>`.
# It runs as uid/gid 10001. /data is the writable data directory (embedded mode's SQLite files);
# mount a volume there to keep them. Kubernetes preStop hooks must use `sleep:` (no `exec`: no
# /bin/sh, no /bin/sleep).

ARG BASE_IMAGE=docker.io/library/debian:bookworm-slim
ARG RUST_IMAGE=docker.io/library/rust:1.95-bookworm
ARG CARGO_CHEF_VERSION=0.1.77

# --- rootfs: the runtime's files, assembled from Debian's packages --------------------------------
FROM ${BASE_IMAGE} AS rootfs
# Shared libraries of libc6 and libgcc-s1 only (no gconv modules, docs or tools); /usr merged as in
# Debian; ld.so.cache rebuilt for exactly these libraries. reqwest verifies TLS against the system
# CA store (rustls-platform-verifier), hence ca-certificates.
RUN set -eux; \
    export DEBIAN_FRONTEND=noninteractive; \
    apt-get update -qq; \
    apt-get install -y -qq --no-install-recommends ca-certificates >/dev/null; \
    rm -rf /var/lib/apt/lists/*; \
    mkdir -p /rootfs/usr /rootfs/etc/ssl/certs /rootfs/usr/local/bin /rootfs/tmp /data; \
    for d in /bin /sbin /lib /lib32 /lib64 /libx32; do \
      if [ -L "$d" ]; then cp -a "$d" /rootfs/; fi; \
    done; \
    dpkg -L libc6 libgcc-s1 | while read -r f; do \
      case "$f" in */gconv/*) continue ;; *.so|*.so.[0-9]*) ;; *) continue ;; esac; \
      if [ -f "$f" ] || [ -L "$f" ]; then \
        dir=$(readlink -f "$(dirname "$f")"); \
        mkdir -p "/rootfs$dir"; \
        cp -a "$dir/$(basename "$f")" "/rootfs$dir/"; \
      fi; \
    done; \
    cp -a /etc/ld.so.conf /etc/ld.so.conf.d /rootfs/etc/; \
    ldconfig -r /rootfs; \
    cp -L /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/; \
    cp -L /etc/os-release /etc/nsswitch.conf /rootfs/etc/; \
    printf '%s\n' 'root:x:0:0:root:/root:/usr/sbin/nologin' \
      'tasktrail:x:10001:10001:tasktrail:/data:/usr/sbin/nologin' \
      'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin' >/rootfs/etc/passwd; \
    printf '%s\n' 'root:x:0:' 'tasktrail:x:10001:' 'nogroup:x:65534:' >/rootfs/etc/group; \
    chmod 1777 /rootfs/tmp; \
    chown 10001:10001 /data; \
    chmod 0750 /data

# --- runtime-base: everything of the runtime but the binary ---------------------------------------
FROM scratch AS runtime-base
COPY --from=rootfs /rootfs/ /
# /data is chowned in rootfs too: builders differ in which owner a COPY --from keeps.
COPY --from=rootfs --chown=10001:10001 /data /data
ENV TASKTRAIL_DATA_DIR=/data
WORKDIR /data
USER 10001:10001
# api/serve 8080, audit 8081, notify 8082 (each mode's default port).
EXPOSE 8080 8081 8082
ENTRYPOINT ["/usr/local/bin/tasktrail"]
# Embedded mode on all interfaces; the other modes already default to 0.0.0.0 (an --addr here, not
# TASKTRAIL_ADDR, so that `args: [audit]` keeps audit's own port).
CMD ["serve", "--addr", "0.0.0.0:8080"]
ARG REVISION=unknown
ARG SOURCE=""
LABEL org.opencontainers.image.title="tasktrail" \
      org.opencontainers.image.description="Event-driven multi-user todo service with an audit trail: serve, api, audit, notify" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim (files of libc6, libgcc-s1, ca-certificates)"

# --- runtime-prebuilt: the runtime around a binary from the build context -------------------------
FROM runtime-base AS runtime-prebuilt
COPY tasktrail /usr/local/bin/tasktrail

# --- builder: dependencies in their own cached layer (cargo-chef), then the binary ----------------
FROM ${RUST_IMAGE} AS chef
ARG CARGO_CHEF_VERSION
RUN cargo install cargo-chef --locked --version "${CARGO_CHEF_VERSION}"
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
# Rebuilt only when a manifest or Cargo.lock changes.
RUN cargo chef cook --release --locked -p tasktrail --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked -p tasktrail \
 && strip -o /tasktrail target/release/tasktrail

# --- runtime: the default target ------------------------------------------------------------------
FROM runtime-base AS runtime
COPY --from=builder /tasktrail /usr/local/bin/tasktrail
