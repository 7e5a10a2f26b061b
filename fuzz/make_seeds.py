#!/usr/bin/env python3
"""Writes seed corpora for the fuzz targets from the bundled fixtures.

    python3 fuzz/make_seeds.py          # -> fuzz/corpus/{ebml,segmenter,chunked}.raw/

ebml: the first 4 KiB and 64 KiB of each fixture, and the data of its
Info, Tracks and first clusters (the targets walk them as master elements).
segmenter: two chunking-control bytes, then: each fixture shrunk (header
elements, then its first clusters with every frame cut to a few bytes: the
same structure in a few KiB, which the fuzzer mutates far faster), the
first 64 KiB of some fixtures, two whole small ones, and two streams
joined (a second EBML header).
chunked: two chunking-control bytes, then a chunked request body: fixture
bytes in encoder-like chunks, extensions, trailers, a pipelined request,
and the abuse cases (a long size line, 2^64, a missing CRLF, bare LFs,
oversized or bad trailers, a cut). Seeds go to *.raw/ (not kept); fuzzing grows them there and
`cargo fuzz cmin` writes the minimised corpus to fuzz/corpus/<target>/.
"""
import hashlib
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "fixtures")
OUT = os.path.join(ROOT, "fuzz", "corpus")
MAX_LEN = 262144

CLUSTER = 0x1F43B675
INFO = 0x1549A966
TRACKS = 0x1654AE6B
SEGMENT = 0x18538067


def vint(b, pos, keep_marker):
    first = b[pos]
    n = 1
    while n <= 8 and not first & (0x80 >> (n - 1)):
        n += 1
    if n > 8:
        raise ValueError("bad vint")
    v = first if keep_marker else first & (0xFF >> n)
    for i in range(1, n):
        v = (v << 8) | b[pos + i]
    unknown = not keep_marker and v == (1 << (7 * n)) - 1
    return v, n, unknown


def header(b, pos):
    id_, il, _ = vint(b, pos, True)
    size, sl, unknown = vint(b, pos + il, False)
    return id_, (None if unknown else size), il + sl


def level1(b):
    """Yields (id, data_start, data_end) of the Segment's children."""
    _, size, hl = header(b, 0)
    pos = hl + size
    sid, _, hl = header(b, pos)
    assert sid == SEGMENT
    pos += hl
    while pos + 12 < len(b):
        id_, size, hl = header(b, pos)
        start = pos + hl
        if size is None:
            # Unknown size (a live Cluster): it ends at the next Cluster.
            nxt = b.find(CLUSTER.to_bytes(4, "big"), start + 1)
            end = nxt if nxt > 0 else len(b)
        else:
            end = start + size
        yield id_, start, min(end, len(b))
        pos = end


SIMPLE_BLOCK = 0xA3
BLOCK_GROUP = 0xA0
BLOCK = 0xA1
KEEP_LEVEL1 = (INFO, TRACKS, 0x1043A770, 0x1254C367)  # + Chapters, Tags


def put_id(id_):
    n = (id_.bit_length() + 7) // 8
    return id_.to_bytes(n, "big")


def put_size(v):
    n = 1
    while v >= (1 << (7 * n)) - 1:
        n += 1
    return (v | (1 << (7 * n))).to_bytes(n, "big")


def children(b, start, end):
    pos = start
    while pos < end:
        id_, size, hl = header(b, pos)
        if size is None:
            return
        yield id_, pos, pos + hl, pos + hl + size
        pos += hl + size


def cut_block(data, keep):
    # Track vint + 2-byte timestamp + flags, then `keep` payload bytes.
    _, n, _ = vint(data, 0, False)
    return data[: n + 3 + keep]


def shrink(b, clusters=10, keep=6):
    """The fixture's EBML header, header elements and first clusters, with
    every frame cut to `keep` bytes (lacing headers may then lie)."""
    _, size, hl = header(b, 0)
    out = bytearray(b[: hl + size])
    out += put_id(SEGMENT) + bytes([0x01] + [0xFF] * 7)
    n = 0
    for id_, s, e in level1(b):
        if id_ in KEEP_LEVEL1:
            out += put_id(id_) + put_size(e - s) + b[s:e]
        elif id_ == CLUSTER:
            body = bytearray()
            for cid, _, ds, de in children(b, s, e):
                data = b[ds:de]
                if cid == SIMPLE_BLOCK:
                    data = cut_block(data, keep)
                elif cid == BLOCK_GROUP:
                    g = bytearray()
                    for gid, _, gs, ge in children(b, ds, de):
                        gd = b[gs:ge]
                        if gid == BLOCK:
                            gd = cut_block(gd, keep)
                        g += put_id(gid) + put_size(len(gd)) + gd
                    data = bytes(g)
                body += put_id(cid) + put_size(len(data)) + data
            out += put_id(CLUSTER) + put_size(len(body)) + body
            n += 1
            if n >= clusters:
                break
    return bytes(out)


def save(target, data, name):
    data = data[:MAX_LEN]
    d = os.path.join(OUT, target + ".raw")
    os.makedirs(d, exist_ok=True)
    h = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, f"{name}-{h}"), "wb") as f:
        f.write(data)


def main():
    fixtures = sorted(
        f for f in os.listdir(FIX) if f.endswith((".webm", ".mkv"))
    )
    for i, name in enumerate(fixtures):
        b = open(os.path.join(FIX, name), "rb").read()
        stem = name.rsplit(".", 1)[0]
        save("ebml", b[:4096], stem + "-4k")
        save("ebml", b[:65536], stem + "-64k")
        clusters = 0
        for id_, s, e in level1(b):
            if id_ in (INFO, TRACKS):
                save("ebml", b[s:e], f"{stem}-{id_:x}")
            elif id_ == CLUSTER and clusters < 2:
                save("ebml", b[s:e], f"{stem}-cluster{clusters}")
                clusters += 1
            if clusters >= 2:
                break
        small = shrink(b)
        save("ebml", small, stem + "-shrunk")
        # Control bytes: fixed 4096, fixed 7, varying (see chunk_sizes).
        for ctl in (bytes([0xFC, 0x3F]), bytes([0x18, 0x00]), bytes([2 + 4 * i, 0x5A])):
            save("segmenter", ctl + small, stem + "-shrunk")
        save("segmenter", bytes([1 + 4 * i, 0]) + shrink(b, 3, 0), stem + "-shrunk0")
        if name in ("vp8_vorbis.webm", "gst_streamable.webm", "mkvmerge_blockgroups.mkv"):
            save("segmenter", bytes([0xFC, 0x3F]) + b[:65536], stem + "-64k")
        if name in ("opus_only.webm", "h264_aac_srt.mkv"):
            save("segmenter", bytes([3, 0x11 * i]) + b, stem + "-whole")
    a = open(os.path.join(FIX, "opus_only.webm"), "rb").read()
    v = open(os.path.join(FIX, "vp8_vorbis.webm"), "rb").read()
    save("segmenter", bytes([6, 1]) + a[:40000] + v[:60000], "joined")
    chunked_seeds(v)
    return 0


def chunk(data, ext=b"", upper=False, zeros=0):
    size = b"%0*x" % (zeros + 1, len(data))
    return (size.upper() if upper else size) + ext + b"\r\n" + data + b"\r\n"


def chunks(data, size, **kw):
    return b"".join(chunk(data[i : i + size], **kw) for i in range(0, len(data), size))


CHUNKED_CTL = (bytes([0xFC, 0x3F]), bytes([0x18, 0x00]), bytes([0x05, 0x00]), bytes([0x02, 0x5A]))


def chunked_seeds(webm):
    """Chunked bodies for the `chunked` target, each in four chunkings."""
    end = b"0\r\n\r\n"
    seeds = {
        # ffmpeg/libshout/GStreamer-like: fixed-size chunks of WebM.
        "webm-4k": chunks(webm[:12288], 4096) + end,
        "webm-odd": chunks(webm[:3000], 777, upper=True) + end,
        "ext-trailers": chunk(b"hello", b";name=value") + chunk(b" world", b' ; q="a;b"')
        + chunk(b"0123456789", zeros=3) + b"0;last\r\nX-Foo: bar\r\nX-Bar:\r\n\r\n",
        "pipelined": chunk(b"abc") + end + b"PUT /next HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
        "probe": end,
        "long-line": b"5;" + b"a" * 5000 + b"\r\nhello\r\n" + end,
        "line-at-cap": b"5;" + b"a" * (4096 - 4) + b"\r\nhello\r\n" + end,
        "size-2pow64": b"10000000000000000\r\n" + b"x" * 64,
        "size-max": b"ffffffffffffffff\r\n" + b"x" * 64,
        "no-crlf": b"5\r\nhelloX\r\n" + end,
        "bare-lf": b"5\n" + b"hello\n" + end,
        "lf-in-ext": b"5;a\nb\r\nhello\r\n" + end,
        "empty-size": b"\r\nhello",
        "big-trailers": b"0\r\nX: " + b"t" * 9000 + b"\r\n\r\n",
        "bad-trailers": b"0\r\nnot a field\r\n\r\n",
        "cut": chunk(b"hello") + b"a\r\nhel",
    }
    for name, body in seeds.items():
        for ctl in CHUNKED_CTL:
            save("chunked", ctl + body, name)


if __name__ == "__main__":
    sys.exit(main())
