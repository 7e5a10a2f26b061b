#!/usr/bin/env bash
# Many mounts: one mkvcast with PULLED file mounts and PUSHED push mounts,
# VIEWERS viewers on each, all from one load process.
#
#   bench/mounts.sh                              # 50 + 50 mounts × 20 viewers, 60 s
#   PULLED=5 PUSHED=5 DURATION=15 bench/mounts.sh   # a quick run
#
# Per run: a baseline (mkvcast with one pulled mount, no viewers) for the
# fixed RSS; then mkvcast with a generated --config of PULLED mounts
# `input = fixtures/bench_1mbit.webm, loop = true` at /m0.. and PUSHED
# mounts `push = true` after them; `mkvcast-load push` feeds the push
# mounts (one PUT each, paced by the file's Cluster timestamps, looped
# with continuous timestamps); after WARMUP s, `mkvcast-load load` opens
# VIEWERS viewers per mount (`{i}` URL pattern, viewer k on mount k % N)
# at RATE/s and keeps them DURATION s. Over the load tool's window minus
# SETTLE s at each end, the server's CPU (utime+stime from /proc/PID/stat)
# is sampled every second. RSS (VmRSS): baseline; after start (pulled
# mounts live, push mounts waiting); with every mount live and no viewer;
# with all viewers (end of the window). Prints one markdown row per run.
#
# Environment: PULLED=50 PUSHED=50 VIEWERS=20 DURATION=60 WARMUP=8 SETTLE=3
#   RATE=200 REPEAT=1 PORT=19500 KEEP_TMP=0 BUILD=1
# Loopback only; every process started here is stopped on exit; bounded
# (each run ends DURATION + ramp + ~40 s after it starts).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
PULLED=${PULLED:-50} PUSHED=${PUSHED:-50} VIEWERS=${VIEWERS:-20}
DURATION=${DURATION:-60} WARMUP=${WARMUP:-8} SETTLE=${SETTLE:-3} RATE=${RATE:-200}
REPEAT=${REPEAT:-1} PORT=${PORT:-19500} KEEP_TMP=${KEEP_TMP:-0} BUILD=${BUILD:-1}
FILE=fixtures/bench_1mbit.webm
PASS=bench-mounts-source
HZ=$(getconf CLK_TCK)

die() { echo "mounts.sh: $*" >&2; exit 1; }
say() { echo "mounts.sh: $*" >&2; }

MOUNTS=$((PULLED + PUSHED))
((MOUNTS >= 1 && MOUNTS <= 256)) || die "PULLED + PUSHED must be 1..256"
((VIEWERS >= 1 && MOUNTS * VIEWERS <= 15000)) || die "VIEWERS × mounts must be 1..15000"
awk "BEGIN{exit !($DURATION > 2*$SETTLE + 1)}" || die "DURATION must exceed 2*SETTLE+1 seconds"
[[ $REPEAT =~ ^[1-9]$ ]] || die "REPEAT must be 1..9"
for tool in cargo jq ss awk; do command -v "$tool" >/dev/null || die "$tool is needed"; done
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

TMP=$(mktemp -d /tmp/mkvcast-mounts.XXXXXX)
PIDS=()
stop_pid() {
    local pid=$1 keep=() p
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for p in "${PIDS[@]}"; do [[ $p != "$pid" ]] && keep+=("$p"); done
    PIDS=("${keep[@]}")
}
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    if [[ $KEEP_TMP == 1 ]]; then say "logs kept in $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ $BUILD == 1 ]]; then
    say "building (release)"
    cargo build --release --quiet -p mkvcast --bin mkvcast -p mkvcast-load --bin mkvcast-load
fi
MKVCAST=$ROOT/target/release/mkvcast
LOAD=$ROOT/target/release/mkvcast-load
# shellcheck source=bench/wait.sh
source "$ROOT/bench/wait.sh"

# shellcheck source=bench/proc.sh
source "$ROOT/bench/proc.sh"

# config PULLED PUSHED: the TOML of the mounts.
config() {
    local i
    printf 'listen = ["127.0.0.1:%s"]\nadmin_listen = "off"\n' "$PORT"
    for ((i = 0; i < $1; i++)); do
        printf '\n[[mount]]\npath = "/m%d"\ninput = "%s"\nloop = true\n' "$i" "$ROOT/$FILE"
    done
    for ((i = $1; i < $1 + $2; i++)); do
        printf '\n[[mount]]\npath = "/m%d"\npush = true\n' "$i"
    done
}

SRV=""
start_server() { # TAG PULLED PUSHED
    config "$2" "$3" >"$TMP/$1.toml"
    port_listening "$PORT" && die "port $PORT is already in use (set PORT)"
    MKVCAST_SOURCE_PASSWORD=$PASS RUST_LOG=warn "$MKVCAST" --config "$TMP/$1.toml" \
        --max-clients $((VIEWERS + 10)) --max-clients-total $((MOUNTS * VIEWERS + 100)) \
        >"$TMP/$1.server.log" 2>&1 &
    SRV=$!
    PIDS+=("$SRV")
    wait_port "$PORT" || { cat "$TMP/$1.server.log" >&2; die "mkvcast did not listen on $PORT"; }
}

ROWS=$TMP/rows.tsv
: >"$ROWS"
run_one() { # REP
    local tag=run$1 ramp pusher lg rss_base rss_start rss_idle rss_full hwm t t0 tb deadline
    # Baseline: the fixed cost of a server with one pulled mount.
    start_server "$tag.base" 1 0
    sleep "$WARMUP"
    rss_base=$(status_kib "$SRV" VmRSS)
    stop_pid "$SRV"
    sleep 1

    start_server "$tag" "$PULLED" "$PUSHED"
    sleep 2
    rss_start=$(status_kib "$SRV" VmRSS)
    ramp=$(awk -v n=$((MOUNTS * VIEWERS)) -v r="$RATE" 'BEGIN { print n / r }')
    pusher=""
    if ((PUSHED > 0)); then
        "$LOAD" push --url "http://127.0.0.1:$PORT/m{i}" --first "$PULLED" --count "$PUSHED" \
            --file "$FILE" --password "$PASS" \
            --duration "$(awk -v w="$WARMUP" -v r="$ramp" -v d="$DURATION" 'BEGIN { print w + r + d + 10 }')" \
            >"$TMP/$tag.push.out" 2>"$TMP/$tag.push.err" &
        pusher=$!
        PIDS+=("$pusher")
    fi
    sleep "$WARMUP"
    rss_idle=$(status_kib "$SRV" VmRSS)

    t0=$(now)
    "$LOAD" load "http://127.0.0.1:$PORT/m{i}" --paths "$MOUNTS" --clients $((MOUNTS * VIEWERS)) \
        --rate "$RATE" --duration "$DURATION" --json --strict \
        >"$TMP/$tag.json" 2>"$TMP/$tag.load.log" &
    lg=$!
    PIDS+=("$lg")
    t=$(awk -v t="$t0" -v r="$ramp" -v s="$SETTLE" 'BEGIN { printf "%.3f", t + r + s }')
    tb=$(awk -v t="$t0" -v r="$ramp" -v d="$DURATION" -v s="$SETTLE" 'BEGIN { printf "%.3f", t + r + d - s }')
    : >"$TMP/$tag.samples"
    while awk -v t="$t" -v b="$tb" 'BEGIN { exit !(t <= b + 0.01) }'; do
        sleep_until "$t"
        echo "$(now) $(cpu_ticks "$SRV") $(cpu_ticks "$lg") $(if [[ -n $pusher ]]; then cpu_ticks "$pusher"; else echo 0; fi)" \
            >>"$TMP/$tag.samples"
        t=$(awk -v t="$t" 'BEGIN { printf "%.3f", t + 1 }')
    done
    rss_full=$(status_kib "$SRV" VmRSS)
    deadline=$(($(date +%s) + 60))
    while kill -0 "$lg" 2>/dev/null && (($(date +%s) < deadline)); do sleep 0.2; done
    kill -KILL "$lg" 2>/dev/null && say "WARNING: mkvcast-load load did not finish in time; killed"
    wait "$lg" || true
    hwm=$(status_kib "$SRV" VmHWM)
    local push_rc=0 push_line="-"
    if [[ -n $pusher ]]; then
        deadline=$(($(date +%s) + 30))
        while kill -0 "$pusher" 2>/dev/null && (($(date +%s) < deadline)); do sleep 0.2; done
        wait "$pusher" || push_rc=$?
        push_line=$(grep '^publishers:' "$TMP/$tag.push.out" || echo "no summary (exit $push_rc)")
    fi
    kill -0 "$SRV" 2>/dev/null || say "WARNING: mkvcast exited during the run"
    stop_pid "$SRV"
    local warns
    warns=$(grep -c -E ' (WARN|ERROR) ' "$TMP/$tag.server.log" || true)

    awk -v HZ="$HZ" 'NR > 1 { dt = $1 - t; if (dt > 0) printf "%.2f %.2f %.2f\n",
        ($2 - a) / HZ / dt * 100, ($3 - b) / HZ / dt * 100, ($4 - c) / HZ / dt * 100 }
        { t = $1; a = $2; b = $3; c = $4 }' "$TMP/$tag.samples" >"$TMP/$tag.pct"
    local srv gen push srv_mean
    srv=$(printf '%.1f' "$(typical 1 "$TMP/$tag.pct")")
    srv_mean=$(awk '{ s += $1 } END { printf "%.1f", NR ? s / NR : -1 }' "$TMP/$tag.pct")
    gen=$(awk '{ s += $2 } END { printf "%.1f", NR ? s / NR : -1 }' "$TMP/$tag.pct")
    push=$(awk '{ s += $3 } END { printf "%.1f", NR ? s / NR : -1 }' "$TMP/$tag.pct")
    local j
    j=$(jq -r '[.attempted // 0, .connected // 0, .refused // 0, .failed // 0, .dropped // 0,
        .invalid // 0, .stalls // 0, .max_gap_ms // 0, .path_connected_min // 0,
        .path_connected_max // 0, .mbit_per_s // 0, (.first_byte_ms.p99 // -1), .clean // false] | @tsv' \
        "$TMP/$tag.json" 2>/dev/null || echo "no JSON")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$rss_base" "$rss_start" \
        "$rss_idle" "$rss_full" "$hwm" "$srv" "$srv_mean" "$gen" "$push" "$warns" "$push_line" "$j" >>"$ROWS"
    grep -E 'viewers:|stalls:|invalid:|paths:|result:' "$TMP/$tag.load.log" | sed 's/^/    /' >&2 || true
    echo "    push: $push_line" >&2
}

for r in $(seq "$REPEAT"); do
    say "run $r: $PULLED pulled + $PUSHED pushed mounts × $VIEWERS viewers, $DURATION s (port $PORT)"
    run_one "$r"
    sleep 2
done

echo "| Run | Viewers connected / opened | Refused / failed / dropped | Invalid | Stalls | Longest gap (ms) | Viewers per mount (min–max) | Delivered Mbit/s | Join p99 (ms) | Publishers | Server CPU %, IQM (mean) | Load tool CPU % | Pusher CPU % | RSS MiB: 1 mount / start / all live / all viewers (peak) | RSS per mount (KiB) | RSS per viewer (KiB) | Server WARN/ERROR lines |"
echo "|---:|---:|---|---:|---:|---:|---|---:|---:|---|---:|---:|---:|---|---:|---:|---:|"
awk -F'\t' -v M="$MOUNTS" -v N=$((MOUNTS * VIEWERS)) '
    function mib(k) { return sprintf("%.1f", k / 1024) }
    { per_mount = ($4 - $2) / (M > 1 ? M - 1 : 1); per_viewer = ($5 - $4) / N
      printf "| %s | %s / %s | %s / %s / %s | %s | %s | %s | %s–%s | %.0f | %.1f | %s | %s (%s) | %s | %s | %s / %s / %s / %s (%s) | %.0f | %.2f | %s |\n",
        $1, $14, $13, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $12, $7, $8, $9, $10,
        mib($2), mib($3), mib($4), mib($5), mib($6), per_mount, per_viewer, $11 }' "$ROWS"
