#!/usr/bin/env bash
# Server load, side by side: mkvcast vs Icecast2 vs a minimal raw sender.
#
#   sudo bench/compare.sh                          # N = 100 1000 5000 9000, 30 s each
#   NS="100 1000" DURATION=10 bench/compare.sh     # a quick run
#
# For every client count N and every server, the server is started fresh on
# a loopback port, streams fixtures/bench_1mbit.webm (looped, ~1 Mbit/s) for
# WARMUP seconds, then `mkvcast-load` opens N viewers at RATE per second and
# keeps them DURATION seconds. Over the measurement window (the load
# generator's window minus SETTLE seconds at each end) the script samples the
# server's CPU time (/proc/PID/stat utime+stime), its RSS, and the kernel's
# TCP memory (/proc/net/sockstat); the load generator reports delivery,
# stalls, validity and join times. The results are printed as markdown and
# written into BENCHMARKS.md (section "Server load: mkvcast vs Icecast2 vs
# raw sender", replaced if present).
#
# Environment:
#   NS="100 1000 5000 9000"   client counts
#   DURATION=30               seconds every viewer is kept after the ramp
#   RATE=                     connections per second (default: 500, 1000 above 5000 clients)
#   REPEAT=1                  runs per client count and server (servers interleaved); the
#                             tables show the run with the median CPU per Gbit
#   SERVERS="raw mkvcast icecast"   also: mkvcast-flush0, mkvcast-flush50 (mkvcast with
#                             --flush-ms 0 / 50) and parent (PARENT_BIN with mkvcast's
#                             arguments), e.g. SERVERS="mkvcast-flush0 mkvcast-flush50 parent"
#   PARENT_BIN=               another mkvcast binary, e.g. the parent commit's release build:
#                             git clone -q . /tmp/parent && (cd /tmp/parent && git checkout REV &&
#                             cargo build --release -p mkvcast); PARENT_BIN=/tmp/parent/target/release/mkvcast
#   WARMUP=5 SETTLE=2         seconds (see above)
#   BASE_PORT=19000           ports used: BASE_PORT + 0..3*len(NS)*REPEAT
#   WRITE=1                   write the section into BENCHMARKS.md (0: print only)
#   KEEP_TMP=0                keep logs and JSON in the temp dir
#   REPORT_ONLY=DIR           no runs: rebuild the report from DIR (a kept temp dir)
#
# Needs: cargo, jq, curl, ss, awk; for Icecast2: root (icecast2 drops to
# nobody), icecast2 and ffmpeg (Debian: apt-get install -y icecast2 ffmpeg).
# Loopback only. Every process started here is stopped on exit.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)

NS=${NS:-"100 1000 5000 9000"}
DURATION=${DURATION:-30}
RATE=${RATE:-}
REPEAT=${REPEAT:-1}
SERVERS=${SERVERS:-"raw mkvcast icecast"}
WARMUP=${WARMUP:-5}
SETTLE=${SETTLE:-2}
BASE_PORT=${BASE_PORT:-19000}
WRITE=${WRITE:-1}
KEEP_TMP=${KEEP_TMP:-0}
REPORT_ONLY=${REPORT_ONLY:-}
FILE=fixtures/bench_1mbit.webm
MD=BENCHMARKS.md
SECTION="## Server load: mkvcast vs Icecast2 vs raw sender"
ICE_SOURCE_PASS=bench-source
ICE_ADMIN_PASS=bench-admin
HZ=$(getconf CLK_TCK)
NPROC=$(nproc)

die() { echo "compare.sh: $*" >&2; exit 1; }
say() { echo "compare.sh: $*" >&2; }

awk "BEGIN{exit !($DURATION > 2*$SETTLE + 1)}" || die "DURATION must exceed 2*SETTLE+1 seconds"
[[ $REPEAT =~ ^[1-9]$ ]] || die "REPEAT must be 1..9"
for n in $NS; do
    [[ $n =~ ^[0-9]+$ && $n -ge 1 && $n -le 18000 ]] || die "bad client count '$n' (1..18000)"
done
for s in $SERVERS; do
    case $s in
    raw | mkvcast | icecast | mkvcast-flush0 | mkvcast-flush50) ;;
    parent) [[ -n ${PARENT_BIN:-} && -x ${PARENT_BIN:-} ]] || [[ -n $REPORT_ONLY ]] ||
        die "SERVERS has parent: set PARENT_BIN to an executable mkvcast" ;;
    *) die "unknown server '$s'" ;;
    esac
done
PARENT_BIN=${PARENT_BIN:-}
PARENT_REV=${PARENT_REV:-$(if [[ -n $PARENT_BIN ]]; then git -C "$(dirname "$PARENT_BIN")/../.." rev-parse --short HEAD 2>/dev/null || echo "?"; fi)}
for tool in cargo jq curl ss awk; do
    command -v "$tool" >/dev/null || die "$tool is needed"
done
if [[ -n $REPORT_ONLY ]]; then
    [[ -f $REPORT_ONLY/runs.tsv && -f $REPORT_ONLY/started ]] || die "REPORT_ONLY: no runs.tsv and started in $REPORT_ONLY"
elif [[ " $SERVERS " == *" icecast "* ]]; then
    command -v icecast2 >/dev/null && command -v ffmpeg >/dev/null ||
        die "icecast2 and ffmpeg are needed (apt-get install -y icecast2 ffmpeg), or set SERVERS=\"raw mkvcast\""
    [[ $(id -u) == 0 ]] || die "Icecast2 needs root here (it starts as root and drops to nobody); or set SERVERS=\"raw mkvcast\""
fi
# Every viewer is one descriptor in the load generator and one in the server.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
say "open-file limit $(ulimit -n)"

TMP=$(mktemp -d /tmp/mkvcast-bench.XXXXXX)
chmod 755 "$TMP"
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    PIDS=()
    if [[ $KEEP_TMP == 1 ]]; then say "logs kept in $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -z $REPORT_ONLY ]]; then
    say "building (release)"
    cargo build --release --quiet -p mkvcast --bin mkvcast --example raw_sender \
        -p mkvcast-load --bin mkvcast-load
fi
MKVCAST=$ROOT/target/release/mkvcast
LOAD=$ROOT/target/release/mkvcast-load
RAW=$ROOT/target/release/examples/raw_sender

# --- /proc sampling -----------------------------------------------------------

# shellcheck source=bench/proc.sh
source "$ROOT/bench/proc.sh"
# shellcheck source=bench/wait.sh
source "$ROOT/bench/wait.sh"
rate_for() {
    if [[ -n $RATE ]]; then echo "$RATE"; elif (( $1 > 5000 )); then echo 1000; else echo 500; fi
}

# --- servers ------------------------------------------------------------------

SRV_PID="" SRC_PID="" URL=""
CMD_RAW="target/release/examples/raw_sender --listen 127.0.0.1:PORT --file $FILE"
CMD_MKVCAST="RUST_LOG=warn target/release/mkvcast $FILE --loop --max-clients 20000 --admin-listen off --listen 127.0.0.1:PORT --max-clients-total 20000"
CMD_FFMPEG="ffmpeg -re -stream_loop -1 -i $FILE -c copy -f webm -cluster_size_limit 8000000 -cluster_time_limit 5000 -content_type video/webm icecast://source:PASS@127.0.0.1:PORT/live.webm"

# icecast_config DIR PORT: the Icecast2 configuration (shared with latency.sh).
# shellcheck source=bench/icecast_config.sh
source "$ROOT/bench/icecast_config.sh"

start_server() { # NAME PORT TAG
    local name=$1 port=$2 tag=$3
    SRV_PID="" SRC_PID=""
    port_listening "$port" && die "port $port is already in use (set BASE_PORT)"
    case $name in
    raw)
        "$RAW" --listen "127.0.0.1:$port" --file "$FILE" --status-every 0 \
            >"$TMP/$tag.server.log" 2>&1 &
        SRV_PID=$!
        URL="http://127.0.0.1:$port/"
        ;;
    mkvcast | mkvcast-flush0 | mkvcast-flush50 | parent)
        # Since the mounts work, --max-clients is per mount and
        # --max-clients-total (default 1024) caps all viewers; the parent
        # commit knows only --max-clients.
        local bin=$MKVCAST extra=(--max-clients-total 20000)
        [[ $name == parent ]] && bin=$PARENT_BIN extra=()
        [[ $name == mkvcast-flush0 ]] && extra+=(--flush-ms 0)
        [[ $name == mkvcast-flush50 ]] && extra+=(--flush-ms 50)
        RUST_LOG=warn "$bin" "$FILE" --loop --max-clients 20000 --admin-listen off \
            --listen "127.0.0.1:$port" "${extra[@]}" \
            >"$TMP/$tag.server.log" 2>&1 &
        SRV_PID=$!
        URL="http://127.0.0.1:$port/"
        ;;
    icecast)
        local dir=$TMP/$tag.icecast
        mkdir -p "$dir/log"
        icecast_config "$dir" "$port" >"$dir/icecast.xml"
        chown -R nobody:nogroup "$dir"
        icecast2 -c "$dir/icecast.xml" >"$TMP/$tag.server.log" 2>&1 &
        SRV_PID=$!
        URL="http://127.0.0.1:$port/live.webm"
        ;;
    esac
    PIDS+=("$SRV_PID")
    wait_port "$port" || { cat "$TMP/$tag.server.log" >&2; die "$name did not listen on $port"; }
    if [[ $name == icecast ]]; then
        ffmpeg -nostdin -hide_banner -loglevel error -re -stream_loop -1 -i "$FILE" -c copy \
            -f webm -cluster_size_limit 8000000 -cluster_time_limit 5000 \
            -content_type video/webm \
            "icecast://source:$ICE_SOURCE_PASS@127.0.0.1:$port/live.webm" \
            >"$TMP/$tag.ffmpeg.log" 2>&1 &
        SRC_PID=$!
        PIDS+=("$SRC_PID")
    fi
    wait_stream "$URL" || { cat "$TMP/$tag".*.log >&2; die "$name: no stream at $URL"; }
}

forget_pid() {
    local keep=() p
    for p in "${PIDS[@]}"; do [[ $p != "$1" ]] && keep+=("$p"); done
    PIDS=("${keep[@]}")
}
stop_pid() {
    local pid=$1
    [[ -z $pid ]] && return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    forget_pid "$pid"
}

# --- one run --------------------------------------------------------------------

RUNS=$TMP/runs.tsv
RESULTS=$TMP/results.tsv
: >"$RUNS"

run_one() { # NAME N PORT REP
    local name=$1 n=$2 port=$3 tag="$1-$2-$4"
    local rate ramp t0 lg rc
    rate=$(rate_for "$n")
    ramp=$(awk -v n="$n" -v r="$rate" 'BEGIN { print n / r }')
    say "$name, $n clients at $rate/s, ${DURATION} s (port $port)"
    start_server "$name" "$port" "$tag"
    sleep "$WARMUP"
    local rss0 sock0
    rss0=$(status_kib "$SRV_PID" VmRSS)
    sock0=$(sock_pages)

    t0=$(now)
    "$LOAD" load "$URL" --clients "$n" --rate "$rate" --duration "$DURATION" --json --strict \
        >"$TMP/$tag.json" 2>"$TMP/$tag.load.log" &
    lg=$!
    PIDS+=("$lg")

    # One sample a second over the window: time, then CPU ticks of the
    # server, its source (ffmpeg), the generator and the whole machine.
    local samples=$TMP/$tag.samples t tb rss1 sock1 hwm
    t=$(awk -v t="$t0" -v r="$ramp" -v s="$SETTLE" 'BEGIN { printf "%.3f", t + r + s }')
    tb=$(awk -v t="$t0" -v r="$ramp" -v d="$DURATION" -v s="$SETTLE" 'BEGIN { printf "%.3f", t + r + d - s }')
    : >"$samples"
    while awk -v t="$t" -v b="$tb" 'BEGIN { exit !(t <= b + 0.01) }'; do
        sleep_until "$t"
        echo "$(now) $(cpu_ticks "$SRV_PID") $(if [[ -n $SRC_PID ]]; then cpu_ticks "$SRC_PID"; else echo 0; fi)" \
            "$(cpu_ticks "$lg") $(busy_ticks)" >>"$samples"
        t=$(awk -v t="$t" 'BEGIN { printf "%.3f", t + 1 }')
    done
    rss1=$(status_kib "$SRV_PID" VmRSS)
    sock1=$(sock_pages)

    # Bounded: the generator ends by itself DURATION s after its ramp.
    local deadline
    deadline=$(awk -v t="$t0" -v r="$ramp" -v d="$DURATION" 'BEGIN { printf "%d", t + r + d + 120 }')
    while kill -0 "$lg" 2>/dev/null && (( $(date +%s) < deadline )); do sleep 0.2; done
    kill -KILL "$lg" 2>/dev/null && say "WARNING: mkvcast-load did not finish in time; killed"
    rc=0
    wait "$lg" || rc=$?
    forget_pid "$lg"
    hwm=$(status_kib "$SRV_PID" VmHWM)
    kill -0 "$SRV_PID" 2>/dev/null || say "WARNING: $name exited during the run (see $TMP/$tag.server.log)"
    stop_pid "$SRC_PID"
    stop_pid "$SRV_PID"

    local json=$TMP/$tag.json
    if ! jq -e .attempted "$json" >/dev/null 2>&1; then
        say "WARNING: no JSON from mkvcast-load (exit $rc):"; tail -5 "$TMP/$tag.load.log" >&2
        echo '{}' >"$json"
    fi
    local j
    j=$(jq -r '[.connected // 0, .refused // 0, .failed // 0, .dropped // 0, .stalls // 0,
               .invalid // 0, .mbit_per_s // 0, (.first_byte_ms.p99 // -1), .duration_s // 0,
               (.clean // false),
               ([(.failure_reasons // {} | to_entries[] | "\(.value) × \(.key)"),
                 (.invalid_reasons // {} | to_entries[] | "\(.value) × invalid: \(.key)")]
                | join("; ") | gsub("\t"; " ") | if . == "" then "-" else . end)] | @tsv' "$json")
    # CPU % (of one core) per 1 s interval: server, ffmpeg, generator, rest.
    awk -v HZ="$HZ" 'NR > 1 { dt = $1 - t; if (dt > 0) { s = ($2 - a) / HZ / dt * 100; f = ($3 - b) / HZ / dt * 100
            g = ($4 - c) / HZ / dt * 100; printf "%.2f %.2f %.2f %.2f\n", s, f, g, ($5 - m) / HZ / dt * 100 - s - f - g } }
        { t = $1; a = $2; b = $3; c = $4; m = $5 }' "$samples" >"$samples.pct"
    local win srv_med srv_mean src_med gen_med other_med
    win=$(awk 'NR == 1 { a = $1 } { b = $1 } END { printf "%.3f", b - a }' "$samples")
    srv_med=$(typical 1 "$samples.pct"); src_med=$(typical 2 "$samples.pct")
    gen_med=$(typical 3 "$samples.pct"); other_med=$(typical 4 "$samples.pct")
    srv_mean=$(awk '{ s += $1 } END { printf "%.2f", NR ? s / NR : -1 }' "$samples.pct")
    # name n rate rc win_s srv% srv_mean% src% gen% other% rss0 rss1 hwm sock0 sock1, then
    # from the JSON: connected refused failed dropped stalls invalid mbit p99 duration clean reasons
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        "$name" "$n" "$rate" "$rc" "$win" "$srv_med" "$srv_mean" "$src_med" "$gen_med" "$other_med" \
        "$rss0" "$rss1" "$hwm" "$sock0" "$sock1" "$j" >>"$RUNS"
    grep -E 'viewers:|first byte:|stalls:|invalid:|result:' "$TMP/$tag.load.log" | sed 's/^/    /' >&2 || true
}

if [[ -n $REPORT_ONLY ]]; then
    RUNS=$REPORT_ONLY/runs.tsv
    STARTED=$(cat "$REPORT_ONLY/started")
else
    STARTED=$(date -u '+%Y-%m-%d %H:%M UTC')
    echo "$STARTED" >"$TMP/started"
    i=0
    for n in $NS; do
        for r in $(seq "$REPEAT"); do
            for s in $SERVERS; do
                run_one "$s" "$n" $((BASE_PORT + i)) "$r"
                i=$((i + 1))
                sleep 2 # let closed connections drain before the next server
            done
        done
    done
fi

# One row per client count and server: the run with the median CPU per
# Gbit, plus columns 27.. = runs, CPU per Gbit min and max over the runs,
# clean runs, largest join p99.
awk -F'\t' -v OFS='\t' '{ k = ($22 > 0 && $6 >= 0) ? ($6 / 100) / ($22 / 1000) : 1e9
    print $2, ($1 == "raw" ? 1 : ($1 == "mkvcast" ? 2 : ($1 == "icecast" ? 3 : ($1 == "mkvcast-flush0" ? 4 : ($1 == "mkvcast-flush50" ? 5 : 6))))), k, $0 }' "$RUNS" |
    sort -t"$(printf '\t')" -k1,1n -k2,2 -k3,3g |
    awk -F'\t' '
        function flush() { if (!cnt) return; row = rows[int((cnt + 1) / 2)]
            printf "%s\t%d\t%s\t%s\t%d\t%s\n", row, cnt, kmin, kmax, cl, pmax; cnt = 0 }
        { key = $1 SUBSEP $2; if (key != last) { flush(); last = key; kmin = $3; cl = 0; pmax = -1 }
          line = $0; sub(/^[^\t]*\t[^\t]*\t[^\t]*\t/, "", line); rows[++cnt] = line; kmax = $3
          if ($28 == "true") cl++; if ($26 > pmax) pmax = $26 }
        END { flush() }' >"$RESULTS"

# --- report -----------------------------------------------------------------------

# Columns of results.tsv, for awk.
AWK_COLS='
function f(v, d) { return sprintf("%." d "f", v) }
{
    name = $1; n = $2; rate = $3; rc = $4; win = $5
    srv = $6; srv_mean = $7; src = $8; gen = $9; other = $10
    rss0 = $11; rss1 = $12; hwm = $13; sock0 = $14; sock1 = $15
    conn = $16; refused = $17; failed = $18; dropped = $19; stalls = $20
    invalid = $21; mbit = $22; p99 = $23; clean = $25
    reasons = $26; runs = $27; kmin = $28; kmax = $29; clean_runs = $30; p99max = $31
    gbit_s = mbit / 1000
    cpu_gbit = (gbit_s > 0 && srv >= 0) ? (srv / 100) / gbit_s : -1
    rss_client = (rss1 - rss0) / n
    sock_client = (sock1 - sock0) * 4 / n
    label = (name == "raw") ? "raw sender" : (name == "icecast" ? "Icecast2" : (name == "mkvcast-flush0" ? "mkvcast --flush-ms 0" \
        : (name == "mkvcast-flush50" ? "mkvcast --flush-ms 50" : (name == "parent" ? "parent " PARENT_REV : "mkvcast"))))
}'

table() {
    echo "**Delivery** (from \`mkvcast-load\`; window = the load generator's ${DURATION} s after the ramp):"
    echo
    echo "| Clients | Server | Connected | Refused / failed / dropped | Stalls | Invalid | Delivered Mbit/s | Join p99, first byte (ms)$(if ((REPEAT > 1)); then echo " (largest of the runs)"; fi) | Result |"
    echo "|---:|---|---:|---|---:|---:|---:|---:|---|"
    awk -F'\t' -v HZ="$HZ" -v PARENT_REV="$PARENT_REV" "$AWK_COLS"'
    { printf "| %d | %s | %d / %d | %d / %d / %d | %d | %d | %s | %s%s | %s |\n", n, label, conn, n, refused, failed, dropped,
        stalls, invalid, f(mbit, 0), (p99 < 0 ? "–" : f(p99, 1)), (runs > 1 ? " (" f(p99max, 1) ")" : ""),
        (runs > 1 ? (clean_runs == runs ? "clean in " runs "/" runs " runs" : "PROBLEMS in " runs - clean_runs "/" runs " runs") \
                  : (clean == "true" ? "clean" : "PROBLEMS")) }' "$RESULTS"
    awk -F'\t' -v HZ="$HZ" -v PARENT_REV="$PARENT_REV" "$AWK_COLS"'
    reasons != "-" { if (!k++) print "\nWhat went wrong (mkvcast-load'"'"'s reasons, in the run shown):\n"
        printf "- %s, %d clients: %s\n", label, n, reasons }' "$RESULTS"
    echo
    echo "**Cost** (sampled from /proc every second over the middle $(awk -v d="$DURATION" -v s="$SETTLE" 'BEGIN { print d - 2 * s }') s of that window; CPU % is of one core, the machine has $NPROC; CPU figures are interquartile means (IQM) of the 1 s samples, or plain means below 5 %; the server's plain mean is in brackets):"
    echo
    echo "| Clients | Server | Server CPU %, IQM (mean) | CPU s per delivered Gbit$(if ((REPEAT > 1)); then echo " (range over the runs)"; fi) | Peak RSS (MiB) | RSS growth per client (KiB) | TCP buffer memory per client (KiB) | ffmpeg CPU % | Load generator CPU % | Everything else CPU % |"
    echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    awk -F'\t' -v HZ="$HZ" -v PARENT_REV="$PARENT_REV" "$AWK_COLS"'
    { printf "| %d | %s | %s (%s) | %s | %s | %s | %s | %s | %s | %s |\n", n, label, f(srv, 1), f(srv_mean, 1),
        (cpu_gbit < 0 ? "–" : f(cpu_gbit, 3) (runs > 1 ? " (" f(kmin, 3) "–" f(kmax, 3) ")" : "")), f(hwm / 1024, 1), f(rss_client, 2), f(sock_client, 1),
        (name == "icecast" ? f(src, 1) : "–"), f(gen, 1), f(other, 1) }' "$RESULTS"
    echo
    echo "**Ratios** (mkvcast ÷ the other server at the same client count; lower is better for mkvcast):"
    echo
    echo "| Clients | CPU per Gbit: mkvcast / raw sender | CPU per Gbit: mkvcast / Icecast2 | RSS per client: mkvcast / raw sender | RSS per client: mkvcast / Icecast2 |"
    echo "|---:|---:|---:|---:|---:|"
    awk -F'\t' -v HZ="$HZ" -v PARENT_REV="$PARENT_REV" "$AWK_COLS"'
    { cg[n, name] = cpu_gbit; rc_[n, name] = rss_client; seen[n, name] = 1
      if (!(n in order)) { order[n] = ++k; ns[k] = n } }
    function ratio(a, b) { return (a >= 0 && b > 0.005) ? sprintf("%.2f", a / b) : "–" }
    function rratio(a, b) { return (b > 0.05) ? sprintf("%.2f", a / b) : "– (" sprintf("%.2f", b) " KiB)" }
    END { for (i = 1; i <= k; i++) { n = ns[i]
        if (!seen[n, "mkvcast"]) continue
        printf "| %d | %s | %s | %s | %s |\n", n,
          seen[n, "raw"] ? ratio(cg[n, "mkvcast"], cg[n, "raw"]) : "–",
          seen[n, "icecast"] ? ratio(cg[n, "mkvcast"], cg[n, "icecast"]) : "–",
          seen[n, "raw"] ? rratio(rc_[n, "mkvcast"], rc_[n, "raw"]) : "–",
          seen[n, "icecast"] ? rratio(rc_[n, "mkvcast"], rc_[n, "icecast"]) : "–" } }' "$RESULTS"
}

targets() {
    awk -F'\t' -v HZ="$HZ" -v PARENT_REV="$PARENT_REV" "$AWK_COLS"'
    { cg[n, name] = cpu_gbit; rcl[n, name] = rss_client; p[n, name] = p99; r[n, name] = rate
      ok[n, name] = (conn == n && clean_runs == runs)
      seen[n, name] = 1; if (name == "mkvcast" && n > maxn) maxn = n }
    function mark(b) { return b ? "met" : "**missed**" }
    END {
      if (!seen[maxn, "mkvcast"]) exit
      printf "- %d clients of ~1 Mbit/s, all connected, zero stalls, all valid: %s\n", maxn, mark(ok[maxn, "mkvcast"])
      if (seen[maxn, "raw"] && cg[maxn, "raw"] > 0)
        printf "- CPU per delivered Gbit ≤ 1.5 × the raw sender at %d clients: %.2f × (%s)\n", maxn,
          cg[maxn, "mkvcast"] / cg[maxn, "raw"], mark(cg[maxn, "mkvcast"] <= 1.5 * cg[maxn, "raw"])
      printf "- RSS growth ≤ 1 KiB per client at %d clients: %.2f KiB (%s)\n", maxn, rcl[maxn, "mkvcast"],
        mark(rcl[maxn, "mkvcast"] <= 1.0)
      if (seen[1000, "mkvcast"])
        printf "- Join p99 (first byte) ≤ 10 ms at 1000 clients joining at %d/s: %.1f ms (%s)\n", r[1000, "mkvcast"],
          p[1000, "mkvcast"], mark(p[1000, "mkvcast"] >= 0 && p[1000, "mkvcast"] <= 10) }' "$RESULTS"
}

section() {
    local model kernel
    model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
    kernel=$(uname -r)
    cat <<EOF
$SECTION

**What is measured:** what each server costs to deliver the same live
stream to N concurrent HTTP viewers on one machine, and whether every
viewer got a valid, uninterrupted stream. The stream is
\`$FILE\` (VP8 + Opus, ~1 Mbit/s, one keyframe and one 1 s
Cluster per second), looped forever. The viewers are \`mkvcast-load\` (one
mio event loop, all sockets in one process): each checks that its bytes
form a valid Matroska stream (EBML header, Segment, Info, Tracks, Clusters
with non-decreasing timestamps, the first one starting on a video keyframe)
and counts a stall whenever no byte arrives for the cluster interval plus
1 s. Everything runs on loopback, on the same $NPROC CPUs, so the load
generator competes with the server.

- Date: $STARTED
- Machine: $NPROC vCPUs (\`nproc\` = $NPROC), \`model name: $model\`,
  Linux $kernel, $(rustc --version | awk '{ print $1, $2 }'),
  $(icecast2 -v 2>/dev/null || echo "Icecast2 not installed"), $(ffmpeg -version 2>/dev/null | awk 'NR == 1 { print "ffmpeg", $3 }').
  Open-file limit $(ulimit -n).
- Command (as root, for Icecast2):

      NS="$NS" DURATION=$DURATION REPEAT=$REPEAT bench/compare.sh

- Per client count N, each server is started fresh, streams for ${WARMUP} s,
  then:

      target/release/mkvcast-load load URL --clients N --rate R --duration $DURATION --json --strict

  with R = $(if [[ -n $RATE ]]; then echo "$RATE"; else echo "500 connections/s (1000/s above 5000 clients)"; fi).
$(if ((REPEAT > 1)); then echo "- Every client count ran $REPEAT times per server, the servers interleaved.
  Each row is the run with the median CPU per Gbit; the range of that
  figure over the runs is in brackets, and a row is clean only if every
  run was."; fi)
- Servers (PORT differs per run):
  - **raw sender**, the yardstick (\`examples/raw_sender.rs\`): a mio loop
    that writes ONE shared buffer per Cluster to every socket with plain
    nonblocking writes, paced at the stream's rate; a viewer's whole state
    is (cluster, offset); no queue, no burst of older media for joiners, no
    timeouts, no logging. It sets the same 128 KiB SO_SNDBUF as mkvcast and
    has mio's listen backlog of 128 (mkvcast listens with 4096). It hands
    each Cluster to all viewers in one pass (mkvcast writes 32 viewers per
    turn of its loop and polls in between), so while thousands are joining
    it accepts late and overflows its backlog: its join times are not a
    yardstick.

        $CMD_RAW

  - **mkvcast**:

        $CMD_MKVCAST
$(if [[ " $SERVERS " == *" mkvcast-flush"* || " $SERVERS " == *" parent "* ]]; then
    echo; echo '    with `--flush-ms 0` / `--flush-ms 50` added for *mkvcast --flush-ms 0 / 50*;'
    echo "    *parent $PARENT_REV* is $PARENT_BIN with the same arguments but --max-clients-total (it has no such option)."; fi)

  - **Icecast2**: \`icecast2 -c icecast.xml\` (written to a temp dir:
    \`<clients>\` 20000, \`<sources>\` 2, \`<queue-size>\` 524288,
    \`<burst-size>\` 65535 (the default), listen on 127.0.0.1, runs as
    nobody), fed by

        $CMD_FFMPEG

    The cluster limits make ffmpeg cut a Cluster only at a keyframe (for a
    live output it cuts every 32 KB by default), since Icecast starts a
    listener at a Cluster boundary without looking for a keyframe. ffmpeg's
    CPU is **not** included in Icecast2's figures; it has its own column.

$(table)

Targets for mkvcast (from the issue):

$(targets)

**How to read:** *CPU s per delivered Gbit* is the server's CPU use
(user + system, all threads, from \`/proc/PID/stat\`, sampled every
second; the interquartile mean (IQM) of the samples, i.e. the mean of their
middle half, or below 5 %, where a sample is a few clock ticks, the plain
mean) divided by the rate its viewers received (Gbit/s over the generator's
window): the cost of the data path per unit of delivered media.
The raw sender's figure is about the least the kernel's TCP write path
allows; most of every server's time is the kernel copying data into socket
buffers. Loopback delivery work done in the sender's system calls is charged
to the server, so the absolute numbers are higher than on a real NIC, for
every server alike. The IQM is used because on this VM there are episodes
of a few seconds in which the cost per byte of every process (server and
generator alike, with nothing else running) rises 2 to 3 times; the
server's mean, in brackets, includes them. *RSS growth per client* is the
server's resident memory at the end of the window minus before any viewer
connected, divided by N; *peak RSS* is VmHWM. Memory in the kernel's socket
buffers is not in RSS: *TCP buffer memory per client* is the machine-wide
growth of \`/proc/net/sockstat\` TCP \`mem\` (pages × 4 KiB), so it counts both
ends of every connection (server send and generator receive buffers).
*Join p99* is the time from starting the TCP connect to the first response
byte; figures of 1 s and more mean that connections were dropped from a
full listen backlog and retried by TCP after 1, 3 or 7 s. *Everything else*
is the rest of the machine's busy time (kernel threads, other processes);
when server + generator + everything else approaches $((NPROC * 100)) %,
the machine, not the server, is the limit. Small N make per-client memory
figures noisy (allocator growth in steps of pages). Rerun the command
before relying on the numbers.

EOF
}

SECTION_TEXT=$(section)
echo
echo "$SECTION_TEXT"
if [[ $WRITE == 1 ]]; then
    printf '%s\n' "$SECTION_TEXT" >"$TMP/section.md"
    awk -v head="$SECTION" -v sec="$TMP/section.md" '
        function emit() { while ((getline line < sec) > 0) print line; done = 1 }
        $0 == head { emit(); skip = 1; next }
        skip && /^## / { skip = 0 }
        !skip { print }
        END { if (!done) { print ""; emit() } }' "$MD" >"$TMP/md.new"
    # Trim the trailing blank lines the section leaves when it is the last one.
    awk '{ lines[NR] = $0 } END { n = NR; while (n > 0 && lines[n] == "") n--; for (i = 1; i <= n; i++) print lines[i] }' \
        "$TMP/md.new" >"$MD"
    say "wrote the section into $MD"
fi
