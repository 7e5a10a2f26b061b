#!/usr/bin/env python3
"""Summarise the spike server's REPORT lines: one line per page load. A run
passes when currentTime advanced by MIN_ADVANCE_S, was still advancing at
the end (Shaka's failures without minimumUpdatePeriod/availabilityStartTime
are silent stalls) and no error was reported. Runs that the spike expects
to fail are marked XFAIL/XPASS and do not set the exit code.
Usage: summary.py LOG [MIN_ADVANCE_S]"""
import json, sys

EXPECTED_FAIL = ("omit-availabilityStartTime", "omit-minimumUpdatePeriod", "raw-loop-firefox")
runs = {}
for line in open(sys.argv[1], errors="replace"):
    if " REPORT " not in line:
        continue
    try:
        r = json.loads(line.split(" REPORT ", 1)[1])
    except ValueError:
        continue
    runs.setdefault(r["run"], []).append(r)
need = float(sys.argv[2]) if len(sys.argv) > 2 else 15.0
bad = 0
for name, rs in sorted(runs.items()):
    playing = [r for r in rs if r["readyState"] >= 3 and r["currentTime"] > 0]
    first = playing[0]["currentTime"] if playing else 0.0
    adv = max(r["currentTime"] for r in rs) - first if playing else 0.0
    tail = [r["currentTime"] for r in rs[-3:]]
    moving = len(tail) == 3 and tail[2] > tail[0] and rs[-1]["readyState"] >= 3
    errs = sorted({e for r in rs for e in r["errors"]})
    ok = adv >= need and moving and not errs and not rs[-1]["mediaError"]
    xf = name.split("#")[0] in EXPECTED_FAIL
    bad += not ok and not xf
    verdict = ("XPASS" if ok else "XFAIL") if xf else ("PASS" if ok else "FAIL")
    print("%-5s %-38s reports=%3d start=%6.2f advanced=%6.2fs moving=%s frames=%s errors=%s"
          % (verdict, name, len(rs), first, adv, moving, rs[-1]["frames"], errs[:2]))
sys.exit(1 if bad else 0)
