# syntax=docker/dockerfile:1
#
# mkvcast in a FROM scratch image: one static musl binary, nothing else.
#
#   docker build -t mkvcast .
#   docker run --rm -p 8080:8080 -v "$PWD/fixtures:/media:ro" mkvcast /media/demo.webm --loop
#
# Acceptance test: there is no Docker engine in CI, so ci/static.sh builds
# this same binary with the same flags and runs it in a chroot holding only
# the binary and a media file (no /etc, /dev or /proc), as user 65534, streams
# to a client outside, checks the stream, and stops it with SIGTERM as
# `docker stop` does. Keep the build flags here and there the same.
#
# Multi-arch: the builder runs on the build machine's platform and
# cross-links for the requested one with rust-lld (no C toolchain), e.g.
#   docker buildx build --platform linux/amd64,linux/arm64 -t mkvcast .

FROM --platform=$BUILDPLATFORM rust:1-slim AS builder
ARG TARGETARCH=amd64
WORKDIR /src
RUN case "$TARGETARCH" in \
      amd64) echo x86_64-unknown-linux-musl ;; \
      arm64) echo aarch64-unknown-linux-musl ;; \
      *) echo "unsupported TARGETARCH $TARGETARCH (amd64, arm64)" >&2; exit 1 ;; \
    esac > /target && rustup target add "$(cat /target)"
COPY . .
# As ci/static.sh: rust-lld links against the musl crt objects, libc.a and
# libunwind.a that ship with the rustup target; crt-static is musl's default
# and spelled out.
RUN set -eu; t=$(cat /target); T=$(echo "$t" | tr 'a-z-' 'A-Z_'); \
    env "CARGO_TARGET_${T}_LINKER=rust-lld" \
        "CARGO_TARGET_${T}_RUSTFLAGS=-C target-feature=+crt-static" \
        cargo build --release --locked --bin mkvcast --target "$t"; \
    cp "target/$t/release/mkvcast" /mkvcast

FROM scratch
COPY --from=builder /mkvcast /mkvcast
# nobody: there is no /etc/passwd, so numerically. Media mounted into the
# container must be readable by it.
USER 65534:65534
EXPOSE 8080
ENTRYPOINT ["/mkvcast"]
CMD ["--help"]
