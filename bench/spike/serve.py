#!/usr/bin/env python3
"""Spike for issue #13: serve pre-cut DASH (WebM) and HLS (fMP4) segments as
if they were live, so real players can be tried against hand-shaped
manifests before mkvcast builds them. Segments become available when their
end time has passed on the wall clock (from server start), so a player that
asks early gets 404, as it would from a live origin. Run by hand only:
see docs/segmented-spike.md. Binds 127.0.0.1 only.

Query options on manifest.mpd (to find what Shaka/ffmpeg need):
  omit=a,b    drop MPD attributes/elements (UTCTiming, publishTime,
              suggestedPresentationDelay, timeShiftBufferDepth,
              minimumUpdatePeriod, availabilityStartTime)
  utc=iso     UTCTiming as http-iso pointing at /time (default), or
              'xsdate' (http-xsdate) or 'head' (http-head)
  only=video  list only the video (or audio) AdaptationSet
  omit=t-first-only  write S@t only on the first S (default: on every S)
"""
import json, math, os, sys, time, xml.etree.ElementTree as ET
from datetime import datetime, timezone
from http.server import ThreadingHTTPServer, SimpleHTTPRequestHandler
from urllib.parse import urlparse, parse_qs

NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}
ROOT = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(ROOT))
START = math.floor(time.time())  # availabilityStartTime
TSBD, SPD, MUP, HLS_WINDOW = 20, 4, 2, 6
LOG = open(os.environ.get("SPIKE_LOG", "/tmp/spike-report.log"), "a")


def iso(t):
    d = datetime.fromtimestamp(t, timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (d.microsecond // 1000)


def load_dash(path):
    """Per representation: attributes and [(number, t, d)] from ffmpeg's static MPD."""
    reps = []
    for aset in ET.parse(path).getroot().iterfind(".//d:AdaptationSet", NS):
        for rep in aset.iterfind("d:Representation", NS):
            tpl = rep.find("d:SegmentTemplate", NS)
            ts, n, t, segs = int(tpl.get("timescale")), int(tpl.get("startNumber")), 0, []
            for s in tpl.iterfind("d:SegmentTimeline/d:S", NS):
                t = int(s.get("t", t))
                for _ in range(int(s.get("r", 0)) + 1):
                    segs.append((n, t, int(s.get("d"))))
                    n, t = n + 1, t + int(s.get("d"))
            reps.append((aset.get("contentType"), dict(rep.attrib), ts, segs))
    return reps


def live_mpd(reps, omit, utc, only=None):
    now = time.time()
    el = now - START
    head = {"availabilityStartTime": iso(START), "publishTime": iso(now),
            "timeShiftBufferDepth": "PT%dS" % TSBD,
            "minimumUpdatePeriod": "PT%dS" % MUP,
            "suggestedPresentationDelay": "PT%dS" % SPD}
    attrs = " ".join('%s="%s"' % kv for kv in head.items() if kv[0] not in omit)
    out = ['<?xml version="1.0" encoding="utf-8"?>',
           '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011"'
           ' type="dynamic" minBufferTime="PT2S" maxSegmentDuration="PT3S" %s>' % attrs,
           '<Period id="0" start="PT0S">']
    for i, (ctype, a, ts, segs) in enumerate(reps):
        avail = [s for s in segs if (s[1] + s[2]) / ts <= el and (s[1] + s[2]) / ts >= el - TSBD]
        if not avail or (only and ctype != only):
            continue
        extra = " ".join('%s="%s"' % (k, a[k]) for k in ("width", "height", "audioSamplingRate") if k in a)
        out.append('<AdaptationSet id="%d" contentType="%s" segmentAlignment="true" startWithSAP="1">' % (i, ctype))
        out.append('<Representation id="%s" mimeType="%s" codecs="%s" bandwidth="%s" %s>'
                   % (a["id"], a["mimeType"], a["codecs"], a["bandwidth"], extra))
        out.append('<SegmentTemplate timescale="%d" initialization="dash/init-$RepresentationID$.webm"'
                   ' media="dash/seg-$RepresentationID$-$Number$.webm" startNumber="%d"><SegmentTimeline>'
                   % (ts, avail[0][0]))
        out.append('<S t="%d" d="%d"/>' % (avail[0][1], avail[0][2]))
        if "t-first-only" in omit:  # hidden knob: t only on the first S
            out += ['<S d="%d"/>' % s[2] for s in avail[1:]]
        else:  # t on every S, so each entry stands alone (a reader can't drift)
            out += ['<S t="%d" d="%d"/>' % (s[1], s[2]) for s in avail[1:]]
        out.append("</SegmentTimeline></SegmentTemplate></Representation></AdaptationSet>")
    out.append("</Period>")
    if "UTCTiming" not in omit:
        scheme = {"iso": "http-iso", "xsdate": "http-xsdate", "head": "http-head"}[utc]
        out.append('<UTCTiming schemeIdUri="urn:mpeg:dash:utc:%s:2014" value="http://127.0.0.1:%d/time"/>'
                   % (scheme, PORT))
    out.append("</MPD>")
    return "\n".join(out), {(r[1]["id"], s[0]): (s[1] + s[2]) / r[2] for r in reps for s in r[3]}


def load_hls(path):
    segs, dur = [], None
    for line in open(path):
        line = line.strip()
        if line.startswith("#EXTINF:"):
            dur = float(line[8:].split(",")[0])
        elif line and not line.startswith("#"):
            segs.append((line, dur))
    return segs


def live_m3u8(segs):
    el, t, avail = time.time() - START, 0.0, []
    for i, (name, d) in enumerate(segs):
        if t + d <= el:
            avail.append((i, name, d, t))
        t += d
    avail = avail[-HLS_WINDOW:]
    target = math.ceil(max(d for _, d in segs))
    out = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-TARGETDURATION:%d" % target,
           "#EXT-X-MEDIA-SEQUENCE:%d" % (avail[0][0] if avail else 0),
           "#EXT-X-DISCONTINUITY-SEQUENCE:0", "#EXT-X-INDEPENDENT-SEGMENTS",
           '#EXT-X-MAP:URI="hls/init.mp4"']
    for i, name, d, st in avail:
        out += ["#EXT-X-PROGRAM-DATE-TIME:" + iso(START + st), "#EXTINF:%.3f," % d, "hls/" + name]
    return "\n".join(out) + "\n"


class Handler(SimpleHTTPRequestHandler):
    """Manifests are generated per request; segments are gated by wall clock."""

    def log_message(self, fmt, *args):
        LOG.write("%s %s\n" % (iso(time.time()), fmt % args))
        LOG.flush()

    def send(self, code, body, ctype, cache="no-store"):
        body = body.encode() if isinstance(body, str) else body
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", cache)
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Expose-Headers", "Date")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        u = urlparse(self.path)
        q = parse_qs(u.query)
        if u.path == "/time":
            return self.send(200, iso(time.time()), "text/plain")
        if u.path == "/manifest.mpd":
            omit = set(",".join(q.get("omit", [""])).split(","))
            body, _ = live_mpd(DASH, omit, q.get("utc", ["iso"])[0], q.get("only", [None])[0])
            return self.send(200, body, "application/dash+xml", "max-age=1")
        if u.path == "/index.m3u8":
            return self.send(200, live_m3u8(HLS), "application/vnd.apple.mpegurl", "max-age=1")
        name = os.path.basename(u.path)
        if u.path.startswith("/dash/seg-"):
            rep, num = name[4:-5].split("-")
            end = SEG_END.get((rep, int(num)))
            if end is None or end > time.time() - START:
                return self.send(404, "not yet\n", "text/plain")
            return self.file(os.path.join(DATA, "dash", name), "video/webm")
        if u.path.startswith("/hls/seg-"):
            idx = int(name[4:-4])
            if sum(d for _, d in HLS[: idx + 1]) > time.time() - START:
                return self.send(404, "not yet\n", "text/plain")
            return self.file(os.path.join(DATA, "hls", name), "video/mp4")
        if u.path.startswith(("/dash/init-", "/hls/init")):
            return self.file(os.path.join(DATA, u.path.lstrip("/")), "video/mp4")
        if u.path.startswith("/players/"):
            return self.file(os.path.join(REPO, "tests", u.path.lstrip("/")), "text/javascript")
        if u.path.endswith((".html", ".js")):
            return self.file(os.path.join(ROOT, name), "text/html" if name.endswith("html") else "text/javascript")
        return self.send(404, "no\n", "text/plain")

    def file(self, path, ctype):
        try:
            with open(path, "rb") as f:
                body = f.read()
        except OSError:
            return self.send(404, "missing\n", "text/plain")
        try:
            self.send(200, body, ctype, "public, max-age=60")
        except OSError:
            pass  # the player gave up on this request (e.g. on seek)

    def do_POST(self):
        """Pages report their player state here, so no CDP/Marionette is needed."""
        n = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(min(n, 65536)).decode(errors="replace")
        LOG.write("%s REPORT %s\n" % (iso(time.time()), body))
        LOG.flush()
        self.send(204, "", "text/plain")

    def do_OPTIONS(self):
        self.send(204, "", "text/plain")


if __name__ == "__main__":
    DATA, PORT = sys.argv[1], int(sys.argv[2])
    DASH = load_dash(os.path.join(DATA, "dash", "manifest.mpd"))
    _, SEG_END = live_mpd(DASH, set(), "iso")
    HLS = load_hls(os.path.join(DATA, "hls", "index.m3u8"))
    ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
