"""Write small OpenStreetMap files for tests: .osm XML and .osm.pbf, built by hand.

No OSM tool is installed here (no osmium, osmconvert or ogr2ogr), so the PBF is encoded
directly from the format's two protobuf schemas (fileformat.proto, osmformat.proto):
a header blob, then one primitive block of plain nodes and ways, each blob zlib-compressed.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import quoteattr

Node = tuple[int, float, float]  # id, lon, lat
Way = tuple[int, Sequence[int], dict[str, str]]  # id, node ids, tags


def write_osm_xml(path: Path, nodes: Sequence[Node], ways: Sequence[Way]) -> Path:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="tests">']
    for nid, lon, lat in nodes:
        lines.append(f'  <node id="{nid}" version="1" lat="{lat:.7f}" lon="{lon:.7f}"/>')
    for wid, refs, tags in ways:
        lines.append(f'  <way id="{wid}" version="1">')
        lines.extend(f'    <nd ref="{r}"/>' for r in refs)
        lines.extend(f"    <tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in tags.items())
        lines.append("  </way>")
    lines.append("</osm>")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- protobuf, by hand ------------------------------------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _zigzag(value: int) -> int:
    return (value << 1) ^ (value >> 63)


def _key(field: int, wire: int) -> bytes:
    return _varint((field << 3) | wire)


def _int(field: int, value: int) -> bytes:
    return _key(field, 0) + _varint(value)


def _sint(field: int, value: int) -> bytes:
    return _key(field, 0) + _varint(_zigzag(value))


def _bytes(field: int, value: bytes) -> bytes:
    return _key(field, 2) + _varint(len(value)) + value


def _packed(field: int, values: Sequence[int]) -> bytes:
    return _bytes(field, b"".join(_varint(v) for v in values))


def _blob(kind: str, payload: bytes) -> bytes:
    blob = _int(2, len(payload)) + _bytes(3, zlib.compress(payload))
    header = _bytes(1, kind.encode()) + _int(3, len(blob))
    return struct.pack(">I", len(header)) + header + blob


def write_osm_pbf(path: Path, nodes: Sequence[Node], ways: Sequence[Way]) -> Path:
    strings = [""]
    index: dict[str, int] = {"": 0}

    def sid(text: str) -> int:
        if text not in index:
            index[text] = len(strings)
            strings.append(text)
        return index[text]

    group = b""
    for nid, lon, lat in nodes:
        # granularity 100 nanodegrees, no offsets
        node = _sint(1, nid) + _sint(8, round(lat * 1e7)) + _sint(9, round(lon * 1e7))
        group += _bytes(1, node)
    ways_group = b""
    for wid, refs, tags in ways:
        keys = [sid(k) for k in tags]
        vals = [sid(v) for v in tags.values()]
        deltas, prev = [], 0
        for r in refs:
            deltas.append(_zigzag(r - prev))
            prev = r
        way = _int(1, wid) + _packed(2, keys) + _packed(3, vals) + _packed(8, deltas)
        ways_group += _bytes(3, way)
    table = b"".join(_bytes(1, s.encode()) for s in strings)
    block = _bytes(1, table) + _bytes(2, group) + _bytes(2, ways_group) + _int(17, 100)
    header = _bytes(4, b"OsmSchema-V0.6")
    path.write_bytes(_blob("OSMHeader", header) + _blob("OSMData", block))
    return path
