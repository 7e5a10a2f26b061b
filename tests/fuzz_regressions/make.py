#!/usr/bin/env python3
"""Writes the inputs in this folder: small reproductions of what fuzzing
found, built from fixtures with fuzz/make_seeds.py's shrinker so that each
stays a few KiB. Run from anywhere: python3 tests/fuzz_regressions/make.py

Each file: two chunking-control bytes (see chunk_sizes in testkit/src/fuzz.rs),
then the input.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "fuzz"))
import make_seeds as m  # noqa: E402

TIMESTAMP = 0xE7
DOC_TYPE = 0x4282
TRACKS = 0x1654AE6B


def fixture(name):
    return open(os.path.join(ROOT, "fixtures", name), "rb").read()


def first_cluster_timestamp_last_but_one(b):
    """The first Cluster with its Timestamp moved after its first child."""
    out = bytearray()
    pos = 0
    for id_, s, e in m.level1(b):
        if id_ != m.CLUSTER:
            continue
        kids = [(cid, b[p:de]) for cid, p, _, de in m.children(b, s, e)]
        ts = [k for k in kids if k[0] == TIMESTAMP]
        rest = [k for k in kids if k[0] != TIMESTAMP]
        body = b"".join(k[1] for k in rest[:1] + ts + rest[1:])
        start = s - len(m.put_id(m.CLUSTER)) - len(m.put_size(e - s))
        out += b[pos:start] + m.put_id(m.CLUSTER) + m.put_size(len(body)) + body
        pos = e
        break
    return bytes(out + b[pos:])


def second_stream(b, edit):
    return b + edit(b)


def foreign_doctype(b):
    i = b.index(m.put_id(DOC_TYPE))
    n = b[i + 2] & 0x7F
    return b[: i + 3] + b"x" * n + b[i + 3 + n :]


def unknown_size_tracks(b):
    i = b.index(m.put_id(TRACKS))
    _, size, hl = m.header(b, i)
    # Same bytes, size field rewritten as "unknown" of the same width.
    width = hl - 4
    return b[: i + 4] + bytes([0xFF >> (width - 1)] + [0xFF] * (width - 1)) + b[i + hl :]


def oversized_cluster_cut_short(b):
    """A Cluster claiming 4 GiB (over MAX_CLUSTER_BYTES) after the first
    clusters, then only a few bytes of it before the input ends."""
    head = m.put_id(m.CLUSTER) + bytes([0x01, 0, 0, 0x01, 0, 0, 0, 0])
    return b + head + bytes([0xE7, 0x81, 0x00]) + b"\x00" * 61


def main():
    v = m.shrink(fixture("vp8_vorbis.webm"), clusters=4)
    files = {
        # The Cluster was served with a block before its Timestamp.
        "timestamp_after_block": bytes([0xFC, 0x3F])
        + first_cluster_timestamp_last_but_one(v),
        # A later stream with a bad header ended the whole input.
        "later_stream_foreign_doctype": bytes([0x18, 0])
        + second_stream(v, foreign_doctype),
        "later_stream_unknown_size_tracks": bytes([2, 0x5A])
        + second_stream(v, unknown_size_tracks),
        # bytes_skipped counted the 4 GiB the cluster claimed, not the 64
        # bytes of it that were read.
        "oversized_cluster_cut_short": bytes([0x40, 0x00])
        + oversized_cluster_cut_short(v),
    }
    for name, data in files.items():
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
