#!/usr/bin/env bash
# Latency of block forwarding (#11): one viewer's delivery-lag spread, and
# how viewers join, for mkvcast's settings against Icecast2.
#
#   sudo bench/latency.sh                                  # both parts, 3 repeats
#   PARTS=lag REPEAT=1 LAG_DURATION=10 bench/latency.sh    # a quick look
#
# Part "lag": a live GStreamer pipeline (VP8 320x240 at 30 fps, a keyframe
# every 2 s, webmmux streamable=true, so Clusters of unknown size grow
# block by block) feeds one server, started fresh per run:
#   flush0   mkvcast --no-pace - --flush-ms 0
#   flush50  mkvcast --no-pace - (default --flush-ms 50)
#   hold     MKVCAST_HOLD_CLUSTERS=1 mkvcast --no-pace - (whole Clusters, as before #11)
#   icecast  Icecast2 (compare.sh's configuration), the pipeline ending in
#            shout2send instead of fdsink
# After WARMUP s, `mkvcast-load lag URL --duration LAG_DURATION --json`
# measures the spread of (arrival - media time) over the blocks after the
# join burst. The variants run interleaved, REPEAT times; the table gives
# the median and range over the repeats of p50, p95 and max.
#
# Part "join": for each source (live: the same pipeline into mkvcast
# --no-pace -; file: mkvcast fixtures/bench_1mbit.webm --loop, paced) and
# each setting (zero: --buffer-ms 0 --burst-bytes 0; default), a fresh
# server per repeat streams WARMUP s, then JOIN_VIEWERS viewers join one
# after another, each `mkvcast-load lag URL --join --duration JOIN_DURATION`:
# time to the first body byte and to the first block, and how far behind
# live the first block is (at the connect and at its arrival; see
# tools/load/src/lag/mod.rs). The table gives median and range over all
# viewers of a row.
#
# Environment:
#   PARTS="lag join"
#   REPEAT=3
#   LAG_VARIANTS="flush0 flush50 hold icecast"
#   LAG_DURATION=30 WARMUP=5       seconds
#   JOIN_SOURCES="live file" JOIN_SETTINGS="zero default"
#   JOIN_VIEWERS=3 JOIN_DURATION=6
#   BASE_PORT=19700                ports BASE_PORT + 0..(runs)
#   KEEP_TMP=0                     keep logs and JSON in the temp dir
#
# Needs: cargo, jq, curl, ss, gst-launch-1.0 (plugins good: vp8enc,
# matroska's webmmux, shout2send; base: videotestsrc); for icecast: root
# (icecast2 drops to nobody) and icecast2. Loopback only; every process
# started here is stopped on exit, and every run is bounded (the pipeline
# stops after a fixed number of frames, and under `timeout`).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)

PARTS=${PARTS:-"lag join"}
REPEAT=${REPEAT:-3}
LAG_VARIANTS=${LAG_VARIANTS:-"flush0 flush50 hold icecast"}
LAG_DURATION=${LAG_DURATION:-30}
WARMUP=${WARMUP:-5}
JOIN_SOURCES=${JOIN_SOURCES:-"live file"}
JOIN_SETTINGS=${JOIN_SETTINGS:-"zero default"}
JOIN_VIEWERS=${JOIN_VIEWERS:-3}
JOIN_DURATION=${JOIN_DURATION:-6}
BASE_PORT=${BASE_PORT:-19700}
KEEP_TMP=${KEEP_TMP:-0}
FILE=fixtures/bench_1mbit.webm
ICE_SOURCE_PASS=bench-source
ICE_ADMIN_PASS=bench-admin
MOUNT=/live.webm
FPS=30
# The encoder part of the pipeline; a sink is appended.
GST_SRC="videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=$FPS/1 ! vp8enc deadline=1 keyframe-max-dist=60 ! webmmux streamable=true"

die() { echo "latency.sh: $*" >&2; exit 1; }
say() { echo "latency.sh: $*" >&2; }

[[ $REPEAT =~ ^[1-9]$ ]] || die "REPEAT must be 1..9"
for v in $LAG_VARIANTS; do
    [[ $v =~ ^(flush0|flush50|hold|icecast)$ ]] || die "unknown lag variant '$v'"
done
for tool in cargo jq curl ss gst-launch-1.0 timeout; do
    command -v "$tool" >/dev/null || die "$tool is needed"
done
if [[ " $PARTS " == *" lag "* && " $LAG_VARIANTS " == *" icecast "* ]]; then
    command -v icecast2 >/dev/null || die "icecast2 is needed, or drop icecast from LAG_VARIANTS"
    [[ $(id -u) == 0 ]] || die "Icecast2 needs root here (it drops to nobody); or drop icecast from LAG_VARIANTS"
fi

TMP=$(mktemp -d /tmp/mkvcast-latency.XXXXXX)
chmod 755 "$TMP"
PIDS=()
stop_pid() {
    local pid=$1
    [[ -z $pid ]] && return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    local keep=() p
    for p in "${PIDS[@]}"; do [[ $p != "$pid" ]] && keep+=("$p"); done
    PIDS=("${keep[@]}")
}
stop_all() {
    local pid
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    PIDS=()
}
cleanup() {
    stop_all
    if [[ $KEEP_TMP == 1 ]]; then say "logs kept in $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "building (release)"
cargo build --release --quiet -p mkvcast --bin mkvcast -p mkvcast-load --bin mkvcast-load
MKVCAST=$ROOT/target/release/mkvcast
LOAD=$ROOT/target/release/mkvcast-load

# shellcheck source=bench/wait.sh
source "$ROOT/bench/wait.sh"
# shellcheck source=bench/icecast_config.sh
source "$ROOT/bench/icecast_config.sh"

# Starts the live pipeline for SECONDS (frames = SECONDS * FPS, and killed
# by timeout 10 s later at the latest) into SINK (gst-launch syntax).
start_pipeline() { # SECONDS TAG SINK...
    local secs=$1 tag=$2
    shift 2
    # shellcheck disable=SC2086
    timeout $((secs + 10)) gst-launch-1.0 -q ${GST_SRC/videotestsrc /videotestsrc num-buffers=$((secs * FPS)) } ! "$@" \
        2>"$TMP/$tag.gst.log" &
    PIDS+=($!)
}

URL=""
# Starts mkvcast on PORT fed by the live pipeline (for SECONDS) through a
# FIFO, with ENV (e.g. MKVCAST_HOLD_CLUSTERS=1 or -) and mkvcast's ARGS.
start_live_mkvcast() { # PORT SECONDS TAG ENV ARGS...
    local port=$1 secs=$2 tag=$3 envset=$4
    shift 4
    port_listening "$port" && die "port $port is already in use (set BASE_PORT)"
    local fifo=$TMP/$tag.fifo
    mkfifo "$fifo"
    # shellcheck disable=SC2086
    env RUST_LOG=warn $([[ $envset != - ]] && echo "$envset") timeout $((secs + 15)) "$MKVCAST" --no-pace - \
        --admin-listen off --listen "127.0.0.1:$port" "$@" <"$fifo" >"$TMP/$tag.server.log" 2>&1 &
    PIDS+=($!)
    start_pipeline "$secs" "$tag" fdsink fd=1 >"$fifo"
    URL="http://127.0.0.1:$port/"
    wait_port "$port" || { cat "$TMP/$tag".*.log >&2; die "mkvcast did not listen on $port"; }
    wait_stream "$URL" || { cat "$TMP/$tag".*.log >&2; die "mkvcast: no stream at $URL"; }
}
start_file_mkvcast() { # PORT SECONDS TAG ARGS...
    local port=$1 secs=$2 tag=$3
    shift 3
    port_listening "$port" && die "port $port is already in use (set BASE_PORT)"
    RUST_LOG=warn timeout $((secs + 15)) "$MKVCAST" "$FILE" --loop \
        --admin-listen off --listen "127.0.0.1:$port" "$@" >"$TMP/$tag.server.log" 2>&1 &
    PIDS+=($!)
    URL="http://127.0.0.1:$port/"
    wait_port "$port" || { cat "$TMP/$tag".*.log >&2; die "mkvcast did not listen on $port"; }
    wait_stream "$URL" || { cat "$TMP/$tag".*.log >&2; die "mkvcast: no stream at $URL"; }
}
start_icecast() { # PORT SECONDS TAG
    local port=$1 secs=$2 tag=$3 dir=$TMP/$3.icecast
    port_listening "$port" && die "port $port is already in use (set BASE_PORT)"
    mkdir -p "$dir/log"
    icecast_config "$dir" "$port" >"$dir/icecast.xml"
    chown -R nobody:nogroup "$dir"
    timeout $((secs + 20)) icecast2 -c "$dir/icecast.xml" >"$TMP/$tag.server.log" 2>&1 &
    PIDS+=($!)
    wait_port "$port" || { cat "$TMP/$tag.server.log" >&2; die "icecast2 did not listen on $port"; }
    start_pipeline "$secs" "$tag" shout2send ip=127.0.0.1 port="$port" mount="$MOUNT" \
        password="$ICE_SOURCE_PASS"
    URL="http://127.0.0.1:$port$MOUNT"
    wait_stream "$URL" || { cat "$TMP/$tag".*.log >&2; die "icecast2: no stream at $URL"; }
}

# --- part lag ------------------------------------------------------------------

LAG_RUNS=$TMP/lag.tsv
JOIN_RUNS=$TMP/join.tsv
: >"$LAG_RUNS"
: >"$JOIN_RUNS"
STARTED=$(date -u '+%Y-%m-%d %H:%M UTC')
port=$BASE_PORT

lag_one() { # VARIANT REP PORT
    local v=$1 tag="lag-$1-$2" p=$3 secs=$((WARMUP + LAG_DURATION + 5))
    say "lag: $v, run $2 (port $p)"
    case $v in
    flush0) start_live_mkvcast "$p" "$secs" "$tag" - --flush-ms 0 ;;
    flush50) start_live_mkvcast "$p" "$secs" "$tag" - ;;
    hold) start_live_mkvcast "$p" "$secs" "$tag" MKVCAST_HOLD_CLUSTERS=1 ;;
    icecast) start_icecast "$p" "$secs" "$tag" ;;
    esac
    sleep "$WARMUP"
    local rc=0
    timeout $((LAG_DURATION + 20)) "$LOAD" lag "$URL" --duration "$LAG_DURATION" --json \
        >"$TMP/$tag.json" 2>"$TMP/$tag.lag.log" || rc=$?
    stop_all
    if ! jq -e '.p95_ms != null' "$TMP/$tag.json" >/dev/null 2>&1; then
        say "WARNING: $tag measured nothing (exit $rc):"; tail -3 "$TMP/$tag.lag.log" >&2
        return 0
    fi
    jq -r --arg v "$v" --arg r "$2" '[$v, $r, .p50_ms, .p95_ms, .max_ms, .live_blocks,
        .unknown_size_clusters, .known_size_clusters] | @tsv' "$TMP/$tag.json" >>"$LAG_RUNS"
    sed 's/^/    /' "$TMP/$tag.lag.log" | grep spread >&2 || true
}

if [[ " $PARTS " == *" lag "* ]]; then
    for r in $(seq "$REPEAT"); do
        for v in $LAG_VARIANTS; do
            lag_one "$v" "$r" "$port"
            port=$((port + 1))
            sleep 1
        done
    done
fi

# --- part join -------------------------------------------------------------------

join_one() { # SOURCE SETTING REP PORT
    local src=$1 set=$2 tag="join-$1-$2-$3" p=$4 args=()
    local secs=$((WARMUP + JOIN_VIEWERS * (JOIN_DURATION + 2) + 5))
    [[ $set == zero ]] && args=(--buffer-ms 0 --burst-bytes 0)
    say "join: $src, $set, run $3 (port $p)"
    if [[ $src == live ]]; then
        start_live_mkvcast "$p" "$secs" "$tag" - "${args[@]}"
    else
        start_file_mkvcast "$p" "$secs" "$tag" "${args[@]}"
    fi
    sleep "$WARMUP"
    local i rc
    for i in $(seq "$JOIN_VIEWERS"); do
        rc=0
        timeout $((JOIN_DURATION + 20)) "$LOAD" lag "$URL" --join --duration "$JOIN_DURATION" --json \
            >"$TMP/$tag-$i.json" 2>"$TMP/$tag-$i.lag.log" || rc=$?
        if jq -e '.first_block_ms != null' "$TMP/$tag-$i.json" >/dev/null 2>&1; then
            jq -r --arg s "$src" --arg c "$set" '[$s, $c, .first_byte_ms, .first_block_ms,
                .behind_live_at_connect_ms, .behind_live_at_first_block_ms, .p95_ms] | @tsv' \
                "$TMP/$tag-$i.json" >>"$JOIN_RUNS"
            grep '^join:' "$TMP/$tag-$i.lag.log" | sed 's/^/    /' >&2 || true
        else
            say "WARNING: $tag viewer $i measured nothing (exit $rc)"; tail -3 "$TMP/$tag-$i.lag.log" >&2
        fi
        # Join at a different phase of the keyframe interval next time.
        sleep "0.$((RANDOM % 9 + 1))"
    done
    stop_all
}

if [[ " $PARTS " == *" join "* ]]; then
    for r in $(seq "$REPEAT"); do
        for src in $JOIN_SOURCES; do
            for set in $JOIN_SETTINGS; do
                join_one "$src" "$set" "$r" "$port"
                port=$((port + 1))
                sleep 1
            done
        done
    done
fi

# --- report ------------------------------------------------------------------------

# median and range of column COL of the rows of FILE whose column 1 is KEY
# (and column 2 is KEY2 if given): "med (min–max)".
stat() { # FILE COL KEY [KEY2]
    awk -F'\t' -v c="$2" -v k="$3" -v k2="${4:-}" '$1 == k && (k2 == "" || $2 == k2) { print $c }' "$1" |
        sort -g | awk '{ v[NR] = $1 } END { if (!NR) { print "–"; exit }
            m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            if (NR == 1) printf "%.1f", m; else printf "%.1f (%.1f–%.1f)", m, v[1], v[NR] }'
}
count() { awk -F'\t' -v k="$2" -v k2="${3:-}" '$1 == k && (k2 == "" || $2 == k2)' "$1" | wc -l; }
label() {
    case $1 in
    flush0) echo "mkvcast \`--flush-ms 0\`" ;;
    flush50) echo "mkvcast, default (\`--flush-ms 50\`)" ;;
    hold) echo "mkvcast, \`MKVCAST_HOLD_CLUSTERS=1\` (control: whole Clusters)" ;;
    icecast) echo "Icecast2 (shout2send)" ;;
    zero) echo "\`--buffer-ms 0 --burst-bytes 0\`" ;;
    default) echo "defaults (3000 ms, 64 KiB)" ;;
    live) echo "live pipeline" ;;
    file) echo "paced file (\`$FILE --loop\`)" ;;
    esac
}

echo
echo "Started $STARTED; REPEAT=$REPEAT, WARMUP=$WARMUP s; $(nproc) CPUs, $(uname -r)."
if [[ -s $LAG_RUNS ]]; then
    echo
    echo "**Delivery-lag spread** (ms; median over the runs, range in brackets; one viewer for $LAG_DURATION s):"
    echo
    echo "| Server | Runs | p50 | p95 | max | Live blocks measured (median) |"
    echo "|---|---:|---:|---:|---:|---:|"
    for v in $LAG_VARIANTS; do
        [[ $(count "$LAG_RUNS" "$v") -gt 0 ]] || continue
        echo "| $(label "$v") | $(count "$LAG_RUNS" "$v") | $(stat "$LAG_RUNS" 3 "$v") | $(stat "$LAG_RUNS" 4 "$v") | $(stat "$LAG_RUNS" 5 "$v") | $(stat "$LAG_RUNS" 6 "$v" | cut -d' ' -f1) |"
    done
fi
if [[ -s $JOIN_RUNS ]]; then
    echo
    echo "**Joins** (ms; median over the viewers, range in brackets; $JOIN_VIEWERS viewers per server start, $REPEAT starts):"
    echo
    echo "| Source | Setting | Viewers | First byte | First block | Behind live at connect | Behind live at the first block |"
    echo "|---|---|---:|---:|---:|---:|---:|"
    for src in $JOIN_SOURCES; do
        for set in $JOIN_SETTINGS; do
            [[ $(count "$JOIN_RUNS" "$src" "$set") -gt 0 ]] || continue
            echo "| $(label "$src") | $(label "$set") | $(count "$JOIN_RUNS" "$src" "$set") | $(stat "$JOIN_RUNS" 3 "$src" "$set") | $(stat "$JOIN_RUNS" 4 "$src" "$set") | $(stat "$JOIN_RUNS" 5 "$src" "$set") | $(stat "$JOIN_RUNS" 6 "$src" "$set") |"
        done
    done
fi
