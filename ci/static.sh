#!/usr/bin/env bash
# ci/static.sh: static binaries, ARM for real, and the scratch-container proof.
#
#   1. no C in the dependency graph of any workspace package (the product,
#      the load tool, the test kit; cargo tree: no cc/cmake/bindgen/pkg-config,
#      no *-sys crate outside a pure-Rust allowlist, no `links` key);
#   2. static release binaries linked by rust-lld alone (no C toolchain):
#        x86_64-unknown-linux-musl, aarch64-unknown-linux-musl, and 32-bit ARM:
#        armv7-unknown-linux-musleabihf when rustup can install it, else
#        armv7-unknown-linux-gnueabihf against static glibc from Debian's
#        libc6-dev-armhf-cross (libraries only, no compiler);
#   3. each binary: no PT_INTERP, no DT_NEEDED (readelf);
#   4. each binary streams fixtures/vp8_vorbis.webm from a chroot holding only
#      the binary and the fixture (plus qemu-user-static for ARM), to a client
#      outside; the capture is checked by an EBML walk here and by ffmpeg and
#      mkvinfo; the server must exit 0. The x86_64 chroot is the acceptance
#      test of the Dockerfile's FROM scratch image (no Docker engine in CI),
#      and also gets SIGTERM (docker stop) mid-stream: exit 0, clean stream.
#
# Needs root for chroot and apt-get (as .ci/run); without root it runs the
# binaries from the bare directory without chroot and says so. Installs what
# is missing from Debian: qemu-user-static, and for the glibc fallback
# libc6-dev-armhf-cross and libgcc-N-dev-armhf-cross.
# MKVCAST_REAL_CLIENTS=1 makes a missing ffmpeg/mkvinfo a failure.
# About a minute on 2 cores with a warm cargo registry: the three release
# builds take ~10 s each, each stream ~10 s (the fixture plays in real time).
set -euo pipefail
cd "$(dirname "$0")/.."
FIXTURE=fixtures/vp8_vorbis.webm
export CARGO_TERM_COLOR=never RUST_BACKTRACE=0 LC_ALL=C
# The link flags below are the point of this script: don't let a global
# RUSTFLAGS replace them (it would take precedence over the per-target ones).
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS

FAILURES=()
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; FAILURES+=("$*"); }
skip() { echo "SKIP: $*"; }
step() { echo; echo "=== $*"; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mkvcast-static.XXXXXX")
PIDS=()
forget() { # forget PID: it has been waited for
  local keep=() p
  for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local p
  for p in "${PIDS[@]}"; do
    kill "$p" 2>/dev/null || true
  done
  for p in "${PIDS[@]}"; do
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# bounded SECONDS COMMAND...: runs COMMAND under timeout(1), in the background
# and waited for, so that INT/TERM reach the trap at once and cleanup stops it.
bounded() {
  local secs=$1 p rc=0; shift
  timeout "$secs" "$@" &
  p=$!
  PIDS+=("$p")
  wait "$p" || rc=$?
  forget "$p"
  return $rc
}

IS_ROOT=0
[ "$(id -u)" = 0 ] && IS_ROOT=1

# Installs Debian packages if they are missing and we may (root, apt-get).
APT_UPDATED=0
need_pkgs() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} = 0 ] && return 0
  if [ "$IS_ROOT" = 1 ] && command -v apt-get >/dev/null; then
    if [ "$APT_UPDATED" = 0 ]; then
      bounded 300 apt-get update -qq && APT_UPDATED=1
    fi
    bounded 600 env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "missing packages ${missing[*]} (not root, cannot apt-get)" >&2
    return 1
  fi
}

for tool in readelf file python3; do
  command -v "$tool" >/dev/null || need_pkgs binutils file python3 || true
  command -v "$tool" >/dev/null || { echo "FAIL: missing $tool" >&2; exit 1; }
done

HOST=$(rustc -vV | sed -n 's/^host: //p')
TARGET_DIR=$(cargo metadata -q --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')

# ---------------------------------------------------------------------------
step "no C dependencies (cargo tree --workspace -e normal,build, default features)"
# Pure-Rust crates whose names end in -sys: raw syscall/ABI declarations, no
# C code and no build-time compiler.
ALLOW_SYS='^(linux-raw-sys|windows-sys)$'
DENY='^(cc|cmake|bindgen|pkg-config|vcpkg|autotools|ring|openssl.*|aws-lc-.*)$|-sys$|_sys$|-src$'
c_deps_ok=1
for t in "$HOST" x86_64-unknown-linux-musl aarch64-unknown-linux-musl; do
  names=$(cargo tree -q --workspace -e normal,build --prefix none --format '{p}' --target "$t" \
            | awk '{print $1}' | sort -u)
  bad=$(grep -E "$DENY" <<<"$names" | grep -Ev "$ALLOW_SYS" || true)
  if [ -n "$bad" ]; then
    fail "C dependencies for $t: $(tr '\n' ' ' <<<"$bad")"
    c_deps_ok=0
  fi
done
# A `links = "..."` key means a crate links a native library.
links=$(cargo metadata -q --format-version 1 --filter-platform "$HOST" | python3 -c '
import json, sys
for p in json.load(sys.stdin)["packages"]:
    if p.get("links"):
        print("%s:%s" % (p["name"], p["links"]))')
if [ -n "$links" ]; then
  names=$(cargo tree -q --workspace -e normal,build --prefix none --format '{p}' | awk '{print $1}' | sort -u)
  for l in $links; do
    if grep -qx "${l%%:*}" <<<"$names" && ! grep -Eq "$ALLOW_SYS" <<<"${l%%:*}"; then
      fail "crate ${l%%:*} links native library ${l#*:}"
      c_deps_ok=0
    fi
  done
fi
[ "$c_deps_ok" = 1 ] && pass "dependency graph is pure Rust (mkvcast: $(cargo tree -q -p mkvcast -e normal,build --prefix none | awk '{print $1}' | sort -u | wc -l) crates; workspace: $(cargo tree -q --workspace -e normal,build --prefix none | awk '{print $1}' | sort -u | wc -l))"

# ---------------------------------------------------------------------------
step "rustup targets"
rustup_add() { # prints rustup's error line on failure
  local log="$WORK/rustup.log"
  if bounded 300 rustup target add "$@" >"$log" 2>&1; then
    return 0
  fi
  grep -m1 -iE 'error|404' "$log" >&2 || tail -n 3 "$log" >&2
  return 1
}
rustup_add x86_64-unknown-linux-musl aarch64-unknown-linux-musl \
  || { fail "rustup target add x86_64/aarch64 musl"; exit 1; }
pass "rustup targets x86_64-unknown-linux-musl aarch64-unknown-linux-musl"

# ---------------------------------------------------------------------------
# The build: rust-lld links; musl targets take crt objects, libc.a and
# libunwind.a from the rustup target's self-contained directory, so no C
# toolchain is involved. crt-static is the musl default; it is spelled out so
# the result does not depend on that default. The Dockerfile does the same.
build() { # build TARGET [extra rustflags...]
  local t=$1; shift
  local T; T=$(tr 'a-z-' 'A-Z_' <<<"$t")
  local flags="-C target-feature=+crt-static${*:+ $*}"
  echo "+ CARGO_TARGET_${T}_LINKER=rust-lld CARGO_TARGET_${T}_RUSTFLAGS='$flags'"
  echo "+ cargo build --release --locked -p mkvcast --bin mkvcast --target $t"
  bounded 1800 env "CARGO_TARGET_${T}_LINKER=rust-lld" "CARGO_TARGET_${T}_RUSTFLAGS=$flags" \
    cargo build -q --release --locked -p mkvcast --bin mkvcast --target "$t"
}

# armv7-unknown-linux-gnueabihf has no self-contained crt objects: rust-lld
# gets glibc's crt1/crti/crtn and libgcc's crtbeginT/crtend from Debian's
# cross packages, and libc.a, libgcc.a, libgcc_eh.a from their directories.
gnueabihf_flags() {
  local L=/usr/arm-linux-gnueabihf/lib G
  G=$(printf '%s\n' /usr/lib/gcc-cross/arm-linux-gnueabihf/*/crtbeginT.o | sort -V | tail -n1)
  G=$(dirname "$G")
  echo "-L $L -L $G -C link-arg=$L/crt1.o -C link-arg=$L/crti.o" \
       "-C link-arg=$G/crtbeginT.o -C link-arg=$G/crtend.o -C link-arg=$L/crtn.o"
}

declare -A BIN MACHINE EMU
MACHINE[x86_64-unknown-linux-musl]="Advanced Micro Devices X86-64"
MACHINE[aarch64-unknown-linux-musl]="AArch64"
MACHINE[armv7-unknown-linux-musleabihf]="ARM"
MACHINE[armv7-unknown-linux-gnueabihf]="ARM"
EMU[x86_64-unknown-linux-musl]=""
EMU[aarch64-unknown-linux-musl]=qemu-aarch64-static
EMU[armv7-unknown-linux-musleabihf]=qemu-arm-static
EMU[armv7-unknown-linux-gnueabihf]=qemu-arm-static

build_target() { # build_target TARGET: sets BIN[TARGET]
  local t=$1 start=$SECONDS extra=()
  step "build $t"
  [ "$t" = armv7-unknown-linux-gnueabihf ] && read -ra extra <<<"$(gnueabihf_flags)"
  build "$t" "${extra[@]}" || return 1
  BIN[$t]=$TARGET_DIR/$t/release/mkvcast
  pass "build $t ($((SECONDS - start)) s, $(stat -c %s "${BIN[$t]}") bytes)"
}

# Debian's armhf glibc and libgcc: libraries and crt objects, no compiler.
setup_gnueabihf() {
  local libgcc
  rustup_add armv7-unknown-linux-gnueabihf || return 1
  need_pkgs libc6-dev-armhf-cross || return 1
  ls /usr/lib/gcc-cross/arm-linux-gnueabihf/*/libgcc_eh.a >/dev/null 2>&1 && return 0
  libgcc=$(apt-cache search --names-only '^libgcc-[0-9]+-dev-armhf-cross$' \
             | awk '{print $1}' | sort -V | tail -n1)
  [ -n "$libgcc" ] && need_pkgs "$libgcc"
}

for t in x86_64-unknown-linux-musl aarch64-unknown-linux-musl; do
  build_target "$t" || fail "build $t"
done

# 32-bit ARM: musl like the others if rustup has the target and rust-lld links
# it; otherwise static glibc.
ARM32=""
step "32-bit ARM"
if rustup_add armv7-unknown-linux-musleabihf 2>"$WORK/armv7.err"; then
  if build_target armv7-unknown-linux-musleabihf; then
    ARM32=armv7-unknown-linux-musleabihf
  else
    skip "armv7-unknown-linux-musleabihf: the build failed (above)"
  fi
else
  skip "armv7-unknown-linux-musleabihf: rustup could not install it: $(cat "$WORK/armv7.err")"
fi
if [ -z "$ARM32" ]; then
  echo "32-bit ARM: falling back to armv7-unknown-linux-gnueabihf, static glibc from Debian's libc6-dev-armhf-cross"
  if setup_gnueabihf && build_target armv7-unknown-linux-gnueabihf; then
    ARM32=armv7-unknown-linux-gnueabihf
  else
    fail "32-bit ARM: neither armv7-unknown-linux-musleabihf nor armv7-unknown-linux-gnueabihf built"
  fi
fi
TARGETS=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl ${ARM32:+"$ARM32"})

# ---------------------------------------------------------------------------
step "static checks"
for t in "${TARGETS[@]}"; do
  b=${BIN[$t]:-}
  [ -n "$b" ] || continue
  file "$b"
  ok=1
  if readelf -lW "$b" | grep -qE 'INTERP|program interpreter'; then
    fail "$t: has a program interpreter: $(readelf -lW "$b" | grep -o 'interpreter: [^]]*')"
    ok=0
  fi
  needed=$(readelf -dW "$b" | grep NEEDED || true)
  if [ -n "$needed" ]; then
    fail "$t: needs shared libraries: $needed"
    ok=0
  fi
  machine=$(readelf -hW "$b" | sed -n 's/^ *Machine: *//p')
  if [ "$machine" != "${MACHINE[$t]}" ]; then
    fail "$t: machine is '$machine', expected '${MACHINE[$t]}'"
    ok=0
  fi
  [ "$ok" = 1 ] && pass "$t: static ($machine, no PT_INTERP, no DT_NEEDED)"
done

# ---------------------------------------------------------------------------
# The client and the checker: fetch until the server closes, then walk the
# EBML: header, Segment of unknown size, Info and Tracks, then whole Clusters
# to the last byte, the first video block a keyframe.
cat >"$WORK/client.py" <<'EOF'
import http.client, sys, time

def fetch(url, out, limit_s):
    hostport = url.split("/")[2]
    host, port = hostport.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request("GET", "/", headers={"User-Agent": "ci-static"})
    resp = conn.getresponse()
    if resp.status != 200:
        sys.exit(f"HTTP {resp.status} {resp.reason}")
    ctype = resp.getheader("Content-Type", "")
    data = bytearray()
    deadline = time.monotonic() + limit_s
    while True:
        chunk = resp.read1(65536)
        if not chunk:
            break
        data += chunk
        if time.monotonic() > deadline:
            sys.exit(f"stream still open after {limit_s} s ({len(data)} bytes)")
    open(out, "wb").write(data)
    print(f"client: HTTP 200, Content-Type {ctype}, {len(data)} bytes")
    if not ctype.startswith(("video/webm", "video/x-matroska", "audio/webm")):
        sys.exit(f"unexpected Content-Type {ctype!r}")

EBML, SEGMENT, CLUSTER = 0x1A45DFA3, 0x18538067, 0x1F43B675
INFO, TRACKS, TRACK_ENTRY, TRACK_NUMBER, TRACK_TYPE = 0x1549A966, 0x1654AE6B, 0xAE, 0xD7, 0x83
DOCTYPE, SIMPLEBLOCK, BLOCKGROUP, BLOCK, REFBLOCK = 0x4282, 0xA3, 0xA0, 0xA1, 0xFB
TOP = {CLUSTER, INFO, TRACKS, 0x1C53BB6B, 0x1254C367, 0x1043A770, 0x1941A469, 0x114D9B74}

def vint(b, i, is_id):
    if i >= len(b) or b[i] == 0:
        raise ValueError(f"bad vint at {i}")
    n = 9 - b[i].bit_length()
    if i + n > len(b) or (is_id and n > 4):
        raise ValueError(f"bad vint at {i}")
    v = int.from_bytes(b[i:i + n], "big")
    if is_id:
        return v, None, i + n
    v &= (1 << (7 * n)) - 1
    return v, v == (1 << (7 * n)) - 1, i + n

def children(b, i, end):
    while i < end:
        at = i
        eid, _, i = vint(b, i, True)
        size, unknown, i = vint(b, i, False)
        if unknown:
            yield eid, at, i, None
            return
        if i + size > end:
            raise ValueError(f"element {eid:X} at {at} runs past the end ({i + size} > {end})")
        yield eid, at, i, i + size
        i += size

def uint(b, s, e):
    return int.from_bytes(b[s:e], "big")

def check(path):
    b = open(path, "rb").read()
    if b[:4] != b"\x1a\x45\xdf\xa3":
        raise ValueError("no EBML magic 1A 45 DF A3 at the start")
    _, _, s, e = next(children(b, 0, len(b)))
    doctype = [b[cs:ce].decode(errors="replace").rstrip("\0") for cid, _, cs, ce in children(b, s, e) if cid == DOCTYPE]
    if b[e:e + 4] != b"\x18\x53\x80\x67":
        raise ValueError(f"no Segment 18 53 80 67 after the EBML header (at {e})")
    if b[e + 4:e + 12] != b"\x01\xff\xff\xff\xff\xff\xff\xff":
        raise ValueError(f"Segment size is not unknown: {b[e + 4:e + 12].hex(' ')}")
    i, video, seen, clusters, blocks, first = e + 12, set(), [], 0, 0, None
    while i < len(b):
        at = i
        eid, _, j = vint(b, i, True)
        size, unknown, j = vint(b, j, False)
        if unknown:
            if eid != CLUSTER:
                raise ValueError(f"unknown-size element {eid:X} at {at} in the Segment")
            end = j  # children until the next top-level ID
            for cid, cat, cs, ce in children(b, j, len(b)):
                if cid in TOP or ce is None:
                    break
                end = ce
        else:
            end = j + size
            if end > len(b):
                raise ValueError(f"element {eid:X} at {at} cut short: ends at {end}, stream at {len(b)}")
        if eid == TRACKS:
            for cid, _, cs, ce in children(b, j, end):
                if cid == TRACK_ENTRY:
                    f = {tid: uint(b, ts, te) for tid, _, ts, te in children(b, cs, ce)}
                    if f.get(TRACK_TYPE) == 1:
                        video.add(f.get(TRACK_NUMBER))
        if eid == CLUSTER:
            if INFO not in seen or TRACKS not in seen:
                raise ValueError("Cluster before Info and Tracks")
            clusters += 1
            for cid, _, cs, ce in children(b, j, end):
                if cid in (SIMPLEBLOCK, BLOCKGROUP):
                    blocks += 1
                    if cid == SIMPLEBLOCK:
                        track, _, p = vint(b, cs, False)
                        key = bool(b[p + 2] & 0x80)
                    else:
                        kids = {kid: (ks, ke) for kid, _, ks, ke in children(b, cs, ce)}
                        track = vint(b, kids[BLOCK][0], False)[0]
                        key = REFBLOCK not in kids
                    if track in video and first is None:
                        first = key
        seen.append(eid)
        i = end
    if clusters == 0 or blocks == 0:
        raise ValueError(f"{clusters} clusters, {blocks} blocks")
    if video and first is not True:
        raise ValueError("the first video block is not a keyframe")
    print(f"check: EBML doctype {doctype[0] if doctype else '?'}, Segment of unknown size, "
          f"{clusters} whole Clusters, {blocks} blocks, first video block a keyframe: {first}")

if __name__ == "__main__":
    try:
        if sys.argv[1] == "fetch":
            fetch(sys.argv[2], sys.argv[3], float(sys.argv[4]))
        else:
            check(sys.argv[2])
    except (ValueError, KeyError, IndexError, OSError) as e:
        sys.exit(f"{sys.argv[1]}: {e}")
EOF

# Checks a captured stream with our walk, ffmpeg (decodes every frame) and
# mkvinfo.
validate() { # validate NAME FILE
  local name=$1 f=$2 ok=1 tool
  python3 "$WORK/client.py" check "$f" || { fail "$name: stream is not valid Matroska"; return 1; }
  for tool in ffmpeg mkvinfo; do
    if ! command -v $tool >/dev/null; then
      if [ "${MKVCAST_REAL_CLIENTS:-}" = 1 ]; then
        fail "$name: $tool missing (MKVCAST_REAL_CLIENTS=1)"; ok=0
      else
        skip "$name: $tool not installed"
      fi
      continue
    fi
    if [ $tool = ffmpeg ]; then
      if ! bounded 60 ffmpeg -nostdin -v error -xerror -i "$f" -f null - 2>"$f.ffmpeg"; then
        fail "$name: ffmpeg cannot decode the stream: $(head -c 500 "$f.ffmpeg")"; ok=0
      fi
    elif ! bounded 60 mkvinfo "$f" >"$f.mkvinfo" 2>&1 \
        || ! grep -q 'Segment: size unknown' "$f.mkvinfo" \
        || ! grep -q '+ Cluster' "$f.mkvinfo"; then
      fail "$name: mkvinfo rejects the stream: $(grep -m3 -iE 'error|warn' "$f.mkvinfo")"; ok=0
    fi
  done
  [ "$ok" = 1 ]
}

# Starts BIN in a directory holding only it, the fixture and (for ARM) the
# static qemu, chrooted there; waits for its "listening on" line.
# Sets SERVER_PID, SERVER_URL, SERVER_LOG.
start_server() { # start_server NAME BIN EMULATOR [mkvcast args...]
  local name=$1 bin=$2 emu=$3; shift 3
  local dir="$WORK/$name/root" media
  media=$(basename "$FIXTURE")
  rm -rf "${WORK:?}/${name:?}"
  mkdir -p "$dir"
  cp "$bin" "$dir/mkvcast"
  cp "$FIXTURE" "$dir/$media"
  chmod 755 "$dir" "$dir/mkvcast"
  chmod 644 "$dir/$media"
  local chroot=1 q=""
  [ "$IS_ROOT" = 1 ] || { chroot=0; skip "$name: not root, no chroot; running from $dir"; }
  if [ -n "$emu" ]; then
    q=$(command -v "$emu")
    if readelf -lW "$q" | grep -q INTERP; then
      skip "$name: $emu is not static, so not in the chroot; running it from $dir"
      chroot=0
    else
      cp "$q" "$dir/$emu"
      q=/$emu
    fi
  fi
  echo "chroot contents: $(cd "$dir" && find . -mindepth 1 | sort | tr '\n' ' ')"
  local cmd=()
  if [ "$chroot" = 1 ]; then
    # As the Dockerfile's USER: nobody, numerically (there is no /etc/passwd).
    cmd=(chroot --userspec=65534:65534 "$dir" ${q:+"$q"} /mkvcast "/$media")
  else
    cmd=(${q:+"$(command -v "$emu")"} "$dir/mkvcast" "$dir/$media")
  fi
  cmd+=(--listen 127.0.0.1:0 "$@")
  SERVER_LOG="$WORK/$name/server.log"
  echo "+ ${cmd[*]}"
  timeout 120 "${cmd[@]}" >"$SERVER_LOG" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  local port=""
  for _ in $(seq 1 200); do
    port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$SERVER_LOG" | head -n1)
    [ -n "$port" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$port" ]; then
    sed 's/^/  server: /' "$SERVER_LOG"
    return 1
  fi
  SERVER_URL="http://127.0.0.1:$port/"
}

# Waits (bounded by the timeout in start_server) for the server; its status.
server_exit() {
  local rc=0
  wait "$SERVER_PID" || rc=$?
  forget "$SERVER_PID"
  return $rc
}

stream_test() { # stream_test TARGET
  local t=$1 name=${1%%-*}-${1##*-} rc=0
  step "stream from a bare chroot: $t${EMU[$t]:+ under ${EMU[$t]}}"
  if [ -n "${EMU[$t]}" ] && ! command -v "${EMU[$t]}" >/dev/null; then
    need_pkgs qemu-user-static || true
    command -v "${EMU[$t]}" >/dev/null || { fail "$t: ${EMU[$t]} missing"; return; }
  fi
  local start=$SECONDS
  start_server "$name" "${BIN[$t]}" "${EMU[$t]}" || { fail "$t: server did not start"; return; }
  local out="$WORK/$name/capture.webm"
  if ! bounded 90 python3 "$WORK/client.py" fetch "$SERVER_URL" "$out" 60; then
    fail "$t: client fetch from $SERVER_URL"
  fi
  server_exit || rc=$?
  sed 's/^/  server: /' "$SERVER_LOG"
  if [ "$rc" != 0 ]; then
    fail "$t: server exit status $rc (124: still running after 120 s)"
    return
  fi
  [ -s "$out" ] && validate "$t" "$out" \
    && pass "$t: streamed a valid Matroska live stream from the chroot, exit 0 ($((SECONDS - start)) s)"
}

# docker stop: SIGTERM mid-stream, looping input; exit 0, whole clusters.
sigterm_test() { # sigterm_test TARGET
  local t=$1 name=sigterm rc=0
  step "SIGTERM mid-stream (docker stop) in the bare chroot: $t"
  start_server "$name" "${BIN[$t]}" "" --loop || { fail "$t: server did not start"; return; }
  local out="$WORK/$name/capture.webm"
  timeout 60 python3 "$WORK/client.py" fetch "$SERVER_URL" "$out" 45 &
  local client=$!
  PIDS+=("$client")
  sleep 3
  # timeout(1) passes the TERM on to chroot's exec'd server.
  kill -TERM "$SERVER_PID"
  server_exit || rc=$?
  local crc=0
  wait "$client" || crc=$?
  forget "$client"
  sed 's/^/  server: /' "$SERVER_LOG"
  if [ "$rc" != 0 ]; then
    fail "$t: exit status $rc after SIGTERM"
    return
  fi
  [ "$crc" = 0 ] || { fail "$t: client after SIGTERM (status $crc)"; return; }
  validate "$t after SIGTERM" "$out" && pass "$t: SIGTERM mid-stream: exit 0, client got a clean stream"
}

for t in "${TARGETS[@]}"; do
  if [ -n "${BIN[$t]:-}" ]; then stream_test "$t" || true; fi
done
if [ -n "${BIN[x86_64-unknown-linux-musl]:-}" ]; then
  sigterm_test x86_64-unknown-linux-musl || true
fi

echo
if [ ${#FAILURES[@]} = 0 ]; then
  echo "ci/static.sh: PASS (${SECONDS} s; targets: ${TARGETS[*]})"
  exit 0
fi
echo "ci/static.sh: FAIL (${#FAILURES[@]}):"
printf '  - %s\n' "${FAILURES[@]}"
exit 1
