#!/usr/bin/env bash
# Segmented-output spike for issue #13, run by hand (not in CI):
# hand-made live DASH (two per-track WebM streams) in Shaka Player in
# headless Chromium and Firefox, and in ffmpeg's DASH reader; hand-made live
# fMP4 HLS in hls.js in Chromium. See docs/segmented-spike.md.
#
#   bench/spike/run.sh            # all runs (~9 minutes)
#   ONLY=main bench/spike/run.sh  # the three player runs + ffmpeg (~3 minutes)
#   SECS=40 bench/spike/run.sh    # longer player runs (default 25 s)
#
# Needs python3, ffmpeg/ffprobe (with libopus), chromium, firefox. Only
# 127.0.0.1 is used; every step is bounded by `timeout`.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
WORK=${WORK:-$(mktemp -d /tmp/mkvcast-spike.XXXXXX)}
PORT=${PORT:-18931}
SECS=${SECS:-25}
WARMUP=${WARMUP:-10}
LOG=$WORK/report.log
: >"$LOG" # one summary per invocation, even when WORK is reused
SRV=
trap '[ -n "$SRV" ] && kill "$SRV" 2>/dev/null; true' EXIT
echo "work dir: $WORK"

ff() { timeout 300 ffmpeg -hide_banner -loglevel error -y "$@"; }

# (a) DASH: 120 s of the VP9+Opus fixture. The audio is re-encoded once so
# the loop points carry no mid-stream DiscardPadding (Firefox rejects it;
# see the raw-loop run below); the video is the fixture's, copied.
make_dash() { # $1 = out dir, $2 = audio codec args
  mkdir -p "$1/dash"
  ff -stream_loop 19 -i "$REPO/fixtures/vp9_opus.webm" -map 0:v -map 0:a -c:v copy $2 "$1/long.webm"
  (cd "$1/dash" && ff -i ../long.webm -map 0:v -map 0:a -c copy -f dash \
    -dash_segment_type webm -seg_duration 2 -use_template 1 -use_timeline 1 \
    -adaptation_sets "id=0,streams=v id=1,streams=a" \
    -init_seg_name 'init-$RepresentationID$.webm' \
    -media_seg_name 'seg-$RepresentationID$-$Number$.webm' manifest.mpd)
}
[ -f "$WORK/data/dash/manifest.mpd" ] || make_dash "$WORK/data" "-c:a libopus -b:a 96k"
# (b) HLS: 120 s of the H.264(B-frames)+AAC fixture, cut into fMP4.
if [ ! -f "$WORK/data/hls/index.m3u8" ]; then
  mkdir -p "$WORK/data/hls"
  (cd "$WORK/data/hls" && ff -stream_loop 19 -i "$REPO/fixtures/h264_aac_srt.mkv" \
    -map 0:v -map 0:a -c copy -f hls -hls_segment_type fmp4 -hls_time 2 \
    -hls_playlist_type vod -hls_fmp4_init_filename init.mp4 \
    -hls_segment_filename 'seg-%d.m4s' index.m3u8)
fi

serve() { # $1 = data dir; (re)starts the live clock at 0
  [ -n "$SRV" ] && kill "$SRV" 2>/dev/null && wait "$SRV" 2>/dev/null || true
  SPIKE_LOG=$LOG python3 "$HERE/serve.py" "$1" "$PORT" 2>>"$WORK/server.err" &
  SRV=$!
  for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/time" && break; sleep 0.1; done
  sleep "$WARMUP" # let a few segments become available, as on a running origin
}

play() { # $1 = chromium|firefox, $2 = page, $3 = run label, $4 = manifest URL (encoded)
  local url="http://127.0.0.1:$PORT/$2.html?run=$3&src=$4" prof="$WORK/profile-$3"
  echo "== $3: $1 $url"
  rm -rf "$prof" && mkdir -p "$prof"
  if [ "$1" = chromium ]; then
    timeout -k 5 "$SECS" chromium --headless=new --no-sandbox \
      --autoplay-policy=no-user-gesture-required --remote-debugging-port=0 \
      --user-data-dir="$prof" "$url" >"$WORK/$3.out" 2>&1 || true
  else
    printf '%s\n' 'user_pref("media.autoplay.default", 0);' \
      'user_pref("browser.shell.checkDefaultBrowser", false);' >"$prof/user.js"
    timeout -k 5 "$SECS" firefox --headless --no-remote --profile "$prof" "$url" \
      >"$WORK/$3.out" 2>&1 || true
  fi
}

serve "$WORK/data"; play chromium shaka shaka-chromium /manifest.mpd
serve "$WORK/data"; play firefox shaka shaka-firefox /manifest.mpd
serve "$WORK/data"; play chromium hls hlsjs-chromium /index.m3u8

serve "$WORK/data"
echo "== ffprobe / ffmpeg on the live MPD"
timeout 30 ffprobe -hide_banner -v error -show_entries stream=codec_name,codec_type:format=format_name \
  -of compact "http://127.0.0.1:$PORT/manifest.mpd" | tee "$WORK/ffprobe.txt"
before=$(grep -c '" 404 ' "$LOG" || true)
/usr/bin/time -f 'ffmpeg wall %es' timeout 60 ffmpeg -hide_banner -nostats -v error \
  -i "http://127.0.0.1:$PORT/manifest.mpd" -t 12 -f null - 2>&1 | grep -v 'HTTP error 404' | tee "$WORK/ffmpeg-dash.txt" || true
echo "ffmpeg DASH reader: $(( $(grep -c '" 404 ' "$LOG") - before )) 404s while decoding 12 s"
echo "== ffprobe on the live HLS playlist"
timeout 30 ffprobe -hide_banner -v error -show_entries stream=codec_name,codec_type:format=format_name \
  -of compact "http://127.0.0.1:$PORT/index.m3u8" | tee "$WORK/ffprobe-hls.txt"

if [ "${ONLY:-}" != main ]; then
  # Which MPD parts does Shaka need? Drop one at a time.
  for o in UTCTiming suggestedPresentationDelay publishTime timeShiftBufferDepth minimumUpdatePeriod availabilityStartTime; do
    serve "$WORK/data"; play chromium shaka "omit-$o" "/manifest.mpd%3Fomit%3D$o"
  done
  # The fixture looped with -c copy: the last Opus block of each pass is a
  # BlockGroup with DiscardPadding, now in mid-stream. Expected: Firefox FAILs.
  [ -f "$WORK/raw/dash/manifest.mpd" ] || make_dash "$WORK/raw" "-c:a copy"
  ln -sfn ../data/hls "$WORK/raw/hls"
  serve "$WORK/raw"; play firefox shaka raw-loop-firefox /manifest.mpd
  serve "$WORK/raw"; play chromium shaka raw-loop-chromium /manifest.mpd
fi

kill "$SRV" 2>/dev/null; wait "$SRV" 2>/dev/null || true; SRV=
echo "== summary (PASS: currentTime advanced >= $((SECS - 12)) s, no player error)"
python3 "$HERE/summary.py" "$LOG" "$((SECS - 12))"
