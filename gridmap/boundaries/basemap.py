"""A county's basemap in PostGIS: storing an import, zoom rules, vector tiles and labels.

The basemap is what lies under the grids: roads, railways, water, land use, buildings,
place names and POIs (read from files by `geodata.basemap`). It is served as one Mapbox
Vector Tile per address holding one MVT layer per basemap layer (`BASEMAP_LAYERS`), so a
map makes one request per tile, not seven. Which features a zoom shows is decided at
import by `min_zoom` (`feature_min_zoom`: a trunk road from zoom 8, a lane from 13,
buildings from 15), stored with each feature, so a low-zoom tile never reads a
county's buildings: the rule that keeps every tile under the 50 ms p99 of
bench/tiles.py. The zoom is written into each zoom's statement (`tile_sql`), so a plan
the database reuses for it still knows which layers and features the zoom reads.

The basemap is a map of the ground, not of responsibility: its tiles are the same for
every viewer (no jurisdiction filter) and are kept for good per import (`revision`, the
latest `basemap_import.id`), in process and in `basemap_tile` (pre-rendered at import).
Labels (`labels`) come as JSON for the view: place names, road names, POIs, and the
township and community names of gridmap's own areas as far as the viewer's jurisdiction
reaches.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from gridmap.access.scope import EVERYWHERE, AreaScope
from gridmap.boundaries.tiles import BUFFER, EXTENT, MAX_ZOOM, check_tile
from gridmap.errors import InvalidInput

BASEMAP_LAYERS = ("landuse", "water", "railway", "road", "building", "place", "poi")
ADDRESS_KINDS = ("building", "poi", "road", "place")
# Zoom rules: the zoom from which a feature is drawn.
ROAD_MIN_ZOOM: dict[str, int] = {
    "motorway": 8,
    "trunk": 8,
    "primary": 9,
    "secondary": 11,
    "tertiary": 12,
    "motorway_link": 12,
    "trunk_link": 12,
    "primary_link": 12,
    "secondary_link": 13,
    "tertiary_link": 13,
    "residential": 13,
    "unclassified": 13,
    "living_street": 14,
    "road": 13,
    "pedestrian": 15,
    "service": 15,
}
ROAD_DEFAULT_MIN_ZOOM = 16  # footways, steps, paths, tracks: only at street zoom
PLACE_MIN_ZOOM: dict[str, int] = {
    "city": 6,
    "town": 8,
    "suburb": 11,
    "village": 11,
    "quarter": 13,
    "neighbourhood": 14,
    "hamlet": 13,
    "isolated_dwelling": 15,
}
LAYER_MIN_ZOOM: dict[str, int] = {
    "railway": 10,
    "building": 15,
    "poi": 16,
    "place": 12,
}
# Areas this large (m², Web Mercator at the county's latitude is near enough) are drawn
# from zoom 8 (water) or 10 (land use); smaller ones from 13.
LARGE_AREA_M2 = 1_000_000.0
MAX_LABELS = 400
# The fields each tile layer carries.
FIELDS = {"kind": "String", "name": "String"}
STORE_MAX_ZOOM = 16


def feature_min_zoom(layer: str, kind: str | None, area_m2: float = 0.0) -> int:
    """The zoom from which a basemap feature is drawn (pure)."""
    kind = kind or ""
    if layer == "road":
        return ROAD_MIN_ZOOM.get(kind, ROAD_DEFAULT_MIN_ZOOM)
    if layer == "place":
        return PLACE_MIN_ZOOM.get(kind, LAYER_MIN_ZOOM["place"])
    if layer == "water":
        if kind in ("river", "canal"):
            return 10
        if kind in ("stream", "ditch", "drain"):
            return 14
        return 8 if area_m2 >= LARGE_AREA_M2 else 12
    if layer == "landuse":
        return 10 if area_m2 >= LARGE_AREA_M2 else 13
    if layer == "railway":
        return 13 if kind in ("tram", "subway", "light_rail", "funicular") else 10
    if layer not in LAYER_MIN_ZOOM:
        raise InvalidInput(f"no basemap layer {layer!r}; layers: {', '.join(BASEMAP_LAYERS)}")
    return LAYER_MIN_ZOOM[layer]


def format_address(fields: Mapping[str, Any]) -> str:
    """A register entry's written form: 路+号, else 社区+楼号, else 村+组(+号) (pure)."""
    township = fields.get("township") or ""
    if fields.get("road") and fields.get("number"):
        return f"{township}{fields['road']}{fields['number']}号"
    community = fields.get("community") or ""
    if fields.get("building_no"):
        return f"{township}{community}{fields['building_no']}号楼"
    if fields.get("village_group"):
        house = f"{fields['number']}号" if fields.get("number") else ""
        return f"{township}{community}{fields['village_group']}组{house}"
    return f"{township}{community}{fields.get('name') or ''}"


# --- storing an import ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportReport:
    county_code: str
    revision: int
    counts: dict[str, int]
    replaced: int  # features of the county's previous basemap removed


def store_basemap(
    session: Session,
    *,
    county_code: str,
    features: Iterable[Mapping[str, Any]],
    addresses: Iterable[Mapping[str, Any]],
    source: str,
    synthetic: bool = False,
    attribution: str | None = None,
) -> ImportReport:
    """Replace the county's basemap and address register with these (flushed, not
    committed). A feature is {layer, kind, name, source_id, geometry (shapely, WGS84)};
    an address an `address_entry` row's fields plus geometry. `attribution` is the data's
    source and licence as the map writes it ("© OpenStreetMap contributors"); a synthetic
    basemap is labelled as such by the map (`SYNTHETIC_ATTRIBUTION`) whatever it says."""
    replaced = session.execute(
        text("SELECT count(*) FROM basemap_feature WHERE county_code = :c"), {"c": county_code}
    ).scalar_one()
    session.execute(text("DELETE FROM basemap_feature WHERE county_code = :c"), {"c": county_code})
    # The register entries a basemap import brought (not those of a buildings file).
    session.execute(
        text("DELETE FROM address_entry WHERE county_code = :c AND origin = 'basemap'"),
        {"c": county_code},
    )
    counts = {layer: 0 for layer in BASEMAP_LAYERS}
    rows = []
    for f in features:
        geom = f["geometry"]
        if geom is None or shapely.is_empty(geom):
            continue
        layer = str(f["layer"])
        area = _area_m2(geom) if layer in ("water", "landuse") else 0.0
        rows.append(
            {
                "c": county_code,
                "layer": layer,
                "kind": f.get("kind"),
                "name": f.get("name"),
                "source_id": f.get("source_id"),
                "z": feature_min_zoom(layer, f.get("kind"), area),
                "s": synthetic,
                "wkb": shapely.to_wkb(geom, hex=True),
            }
        )
        counts[layer] += 1
    if rows:
        session.execute(
            text(
                "INSERT INTO basemap_feature (county_code, layer, kind, name, source_id, "
                "min_zoom, synthetic, geom, geom_3857) "
                "SELECT :c, :layer, :kind, :name, :source_id, :z, :s, g, ST_Transform(g, 3857) "
                "FROM (SELECT ST_SetSRID(ST_GeomFromWKB(decode(:wkb, 'hex')), 4326) AS g) x"
            ),
            rows,
        )
    stored = _insert_addresses(
        session, county_code=county_code, addresses=addresses, synthetic=synthetic, origin="basemap"
    )
    counts["addresses"] = stored
    # Fresh statistics, so a low-zoom tile's plan takes the zoom index (not the box's
    # every building): the planner otherwise sees the table as it was before the import.
    session.execute(text("ANALYZE basemap_feature"))
    revision = session.execute(
        text(
            "INSERT INTO basemap_import (county_code, source, synthetic, counts, attribution, "
            "bbox) SELECT CAST(:c AS varchar), :s, :syn, CAST(:counts AS jsonb), :attr, "
            "(SELECT jsonb_build_array(ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)) "
            " FROM (SELECT ST_Extent(geom) AS e FROM basemap_feature "
            "       WHERE county_code = CAST(:c AS varchar)) b "
            " WHERE e IS NOT NULL) RETURNING id"
        ),
        {
            "c": county_code,
            "s": source[:500],
            "syn": synthetic,
            "counts": _json(counts),
            "attr": (attribution or "").strip()[:300] or None,
        },
    ).scalar_one()
    return ImportReport(county_code, int(revision), counts, int(replaced or 0))


ADDRESS_ORIGINS = ("basemap", "buildings")


def replace_addresses(
    session: Session,
    *,
    county_code: str,
    addresses: Iterable[Mapping[str, Any]],
    origin: str,
    synthetic: bool = False,
) -> int:
    """Replace the county's register entries of `origin` ('buildings': those a buildings
    file carried, `gridmap county buildings`) with these (flushed, not committed); the
    entries other imports brought stay. Returns how many were stored."""
    if origin not in ADDRESS_ORIGINS:
        raise InvalidInput(f"no address origin {origin!r}; origins: {', '.join(ADDRESS_ORIGINS)}")
    session.execute(
        text("DELETE FROM address_entry WHERE county_code = :c AND origin = :o"),
        {"c": county_code, "o": origin},
    )
    return _insert_addresses(
        session, county_code=county_code, addresses=addresses, synthetic=synthetic, origin=origin
    )


def _insert_addresses(
    session: Session,
    *,
    county_code: str,
    addresses: Iterable[Mapping[str, Any]],
    synthetic: bool,
    origin: str,
) -> int:
    rows = []
    for a in addresses:
        geom = a["geometry"]
        if geom is None or shapely.is_empty(geom):
            continue
        rows.append(
            {
                "c": county_code,
                "kind": a["kind"],
                "full_text": str(a.get("full_text") or format_address(a))[:300],
                "name": a.get("name"),
                "township": a.get("township"),
                "community": a.get("community"),
                "road": a.get("road"),
                "number": a.get("number"),
                "building_no": a.get("building_no"),
                "village_group": a.get("village_group"),
                "s": synthetic,
                "o": origin,
                "wkb": shapely.to_wkb(geom, hex=True),
            }
        )
    if rows:
        session.execute(
            text(
                "INSERT INTO address_entry (county_code, kind, full_text, name, township, "
                "community, road, number, building_no, village_group, synthetic, origin, geom) "
                "VALUES (:c, :kind, :full_text, :name, :township, :community, :road, :number, "
                ":building_no, :village_group, :s, :o, "
                "ST_SetSRID(ST_GeomFromWKB(decode(:wkb, 'hex')), 4326))"
            ),
            rows,
        )
    return len(rows)


def _json(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


def _area_m2(geom: shapely.Geometry) -> float:
    # Degrees² to m² at the geometry's latitude: a zoom rule needs the order of magnitude.
    import math

    lat = shapely.centroid(geom).y
    return float(shapely.area(geom)) * 110_574.0 * 111_320.0 * math.cos(math.radians(lat))


# --- tiles ---------------------------------------------------------------------------------


def layer_floor(layer: str) -> int:
    """The lowest zoom at which any feature of `layer` can be drawn (its rules' least)."""
    if layer == "road":
        return min(*ROAD_MIN_ZOOM.values(), ROAD_DEFAULT_MIN_ZOOM)
    if layer == "place":
        return min(*PLACE_MIN_ZOOM.values(), LAYER_MIN_ZOOM["place"])
    if layer == "water":
        return 8
    if layer == "landuse":
        return 10
    return min(feature_min_zoom(layer, None), LAYER_MIN_ZOOM.get(layer, 99))


def _layer_sql(layer: str, z: int) -> str:
    return f"""COALESCE((SELECT ST_AsMVT(t, '{layer}', {EXTENT}, 'geom') FROM (
            SELECT f.kind, f.name,
                   ST_AsMVTGeom(f.geom_3857, ST_TileEnvelope({z}, :x, :y), {EXTENT}, {BUFFER},
                                true) AS geom
            FROM basemap_feature f
            WHERE f.layer = '{layer}' AND f.min_zoom <= {z}
              AND f.geom_3857 && ST_TileEnvelope({z}, :x, :y, margin => {BUFFER / EXTENT})
        ) t WHERE t.geom IS NOT NULL), ''::bytea)"""


def tile_sql(z: int) -> str:
    """The statement encoding a tile of zoom `z` (a checked integer): one per zoom, with
    the zoom written in and only the layers that zoom can show. A server reuses a
    statement's generic plan after a few runs (psycopg prepares it); with the zoom a
    parameter, that plan cannot tell z8 from z16 and scanned every building of a
    county-wide low-zoom tile (126 ms where the zoom rules allow 0.3 ms)."""
    parts = [_layer_sql(layer, z) for layer in BASEMAP_LAYERS if layer_floor(layer) <= z]
    return "SELECT " + (" || ".join(parts) if parts else "''::bytea")


TILE_SQLS = {z: tile_sql(z) for z in range(0, MAX_ZOOM + 1)}
RECIPE = hashlib.blake2b(
    repr((TILE_SQLS, ROAD_MIN_ZOOM, PLACE_MIN_ZOOM, LAYER_MIN_ZOOM, FIELDS)).encode(),
    digest_size=8,
).hexdigest()


class _Cache:
    """A small thread-safe LRU of encoded basemap tiles (bounded by bytes)."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._tiles: OrderedDict[tuple[str, int, int, int, int], bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int, int, int, int]) -> bytes | None:
        with self._lock:
            data = self._tiles.get(key)
            if data is not None:
                self._tiles.move_to_end(key)
            return data

    def put(self, key: tuple[str, int, int, int, int], data: bytes) -> None:
        with self._lock:
            old = self._tiles.pop(key, None)
            self._size -= len(old) if old is not None else 0
            self._tiles[key] = data
            self._size += len(data)
            while self._size > self.max_bytes:
                _, evicted = self._tiles.popitem(last=False)
                self._size -= len(evicted)

    def clear(self) -> None:
        with self._lock:
            self._tiles.clear()
            self._size = 0


CACHE = _Cache()


def revision(session: Session) -> int | None:
    """The basemap's current revision (the latest import), None before any import."""
    value = session.execute(text("SELECT max(id) FROM basemap_import")).scalar_one_or_none()
    return None if value is None else int(value)


def render_tile(session: Session, *, z: int, x: int, y: int) -> bytes:
    """Encode one basemap tile in PostGIS, without any cache."""
    check_tile(z, x, y)
    data = session.execute(text(TILE_SQLS[z]), {"x": x, "y": y}).scalar_one()
    return bytes(data or b"")


def tile(
    session: Session,
    *,
    z: int,
    x: int,
    y: int,
    rev: int | None = None,
    cache: _Cache | None = CACHE,
    store: bool = True,
    store_session: Session | None = None,
) -> bytes:
    """The basemap tile z/x/y of revision `rev` (default: current): from the process
    cache, else `basemap_tile`, else made (and kept in both; the caller commits).
    `session` may be a read replica's: then a tile made is kept through `store_session`,
    the primary's (default: `session`)."""
    check_tile(z, x, y)
    current = rev if rev is not None else revision(session)
    if current is None:
        return b""
    keeper = store_session if store_session is not None else session
    # The database the tile is kept in: a replica's copy of it holds the same tiles.
    database = keeper.get_bind().engine.url.render_as_string(hide_password=True)
    key = (database, current, z, x, y)
    if cache is not None and (hit := cache.get(key)) is not None:
        return hit
    data = None
    use_store = store and z <= STORE_MAX_ZOOM
    if use_store:
        stored = session.execute(
            text(
                "SELECT data FROM basemap_tile WHERE revision = :r AND recipe = :recipe "
                "AND z = :z AND x = :x AND y = :y"
            ),
            {"r": current, "recipe": RECIPE, "z": z, "x": x, "y": y},
        ).scalar_one_or_none()
        data = None if stored is None else bytes(stored)
    if data is None:
        start = time.perf_counter()
        data = render_tile(session, z=z, x=x, y=y)
        if use_store:  # an empty tile too: asked again, it is a key look-up, not a query
            _store(keeper, current, z, x, y, data, (time.perf_counter() - start) * 1000)
    if cache is not None:
        cache.put(key, data)
    return data


def _store(session: Session, rev: int, z: int, x: int, y: int, data: bytes, ms: float) -> None:
    # A stored tile is a copy: losing one in a crash costs a re-render, not data.
    session.execute(text("SET LOCAL synchronous_commit = off"))
    session.execute(
        text(
            "INSERT INTO basemap_tile (revision, recipe, z, x, y, data, render_ms) "
            "VALUES (:r, :recipe, :z, :x, :y, :data, :ms) ON CONFLICT DO NOTHING"
        ),
        {"r": rev, "recipe": RECIPE, "z": z, "x": x, "y": y, "data": data, "ms": ms},
    )


def prerender(session: Session, *, county_code: str, min_zoom: int = 8, max_zoom: int = 14) -> int:
    """Render and store the county's basemap tiles from `min_zoom` to `max_zoom` (the
    costly ones: a low-zoom tile covers many features; street-zoom tiles are cheap and
    made on demand). Committed tile by tile. Returns how many were made."""
    rev = revision(session)
    if rev is None:
        return 0
    session.execute(text("DELETE FROM basemap_tile WHERE revision <> :r"), {"r": rev})
    bounds = session.execute(
        text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
            "(SELECT ST_Extent(geom_3857) AS e FROM basemap_feature WHERE county_code = :c) b"
        ),
        {"c": county_code},
    ).one()
    session.commit()
    if bounds[0] is None:
        return 0
    origin = 20037508.342789244
    made = 0
    for z in range(min_zoom, max_zoom + 1):
        size = 2 * origin / (1 << z)
        x0, x1 = int((bounds[0] + origin) // size), int((bounds[2] + origin) // size)
        y0, y1 = int((origin - bounds[3]) // size), int((origin - bounds[1]) // size)
        for x in range(max(x0, 0), min(x1, (1 << z) - 1) + 1):
            for y in range(max(y0, 0), min(y1, (1 << z) - 1) + 1):
                tile(session, z=z, x=x, y=y, rev=rev, cache=None)
                session.commit()
                made += 1
    return made


# --- whose data: the attribution line -------------------------------------------------------

# What a map writes under a synthetic basemap (the Gaoping demo's), by language: it is
# not a survey of any place, and the screen must say so.
SYNTHETIC_ATTRIBUTION = {"zh-CN": "示意底图（合成数据）", "en": "Synthetic basemap (demo data)"}


def sources(session: Session, *, lang: str = "zh-CN") -> list[dict[str, Any]]:
    """Each county's current basemap: its revision, extent (west, south, east, north),
    whether it is synthetic, and the attribution line a map writes while it shows it —
    `SYNTHETIC_ATTRIBUTION` in `lang` for a synthetic one, else the import's stored
    attribution (None when the import named none)."""
    rows = session.execute(
        text(
            """SELECT DISTINCT ON (county_code) county_code, id, synthetic, attribution, bbox
               FROM basemap_import ORDER BY county_code, id DESC"""
        )
    ).all()
    out = []
    for county, rev, synthetic, attribution, bbox in rows:
        line = SYNTHETIC_ATTRIBUTION.get(lang, SYNTHETIC_ATTRIBUTION["zh-CN"])
        out.append(
            {
                "county": county,
                "revision": int(rev),
                "synthetic": bool(synthetic),
                "attribution": line if synthetic else attribution,
                "bbox": bbox,
            }
        )
    return out


# --- labels --------------------------------------------------------------------------------

_LABELS_SQL = text(
    """
    SELECT kind, name, layer, ST_X(p) AS lon, ST_Y(p) AS lat FROM (
        SELECT f.layer, f.kind, f.name,
               CASE WHEN f.layer = 'road' THEN ST_LineInterpolatePoint(
                        ST_GeometryN(ST_LineMerge(f.geom), 1), 0.5)
                    ELSE ST_PointOnSurface(f.geom) END AS p,
               f.min_zoom
        FROM basemap_feature f
        WHERE f.geom && ST_MakeEnvelope(:w, :s, :e, :n, 4326)
          AND f.name IS NOT NULL
          AND f.layer IN ('place', 'poi', 'road', 'water')
          AND f.min_zoom <= :z AND (f.layer <> 'road' OR :z >= 15)
          AND (f.layer <> 'poi' OR :z >= 16)
        ORDER BY f.min_zoom, f.id
        LIMIT :limit
    ) l
    WHERE ST_Intersects(p, ST_MakeEnvelope(:w, :s, :e, :n, 4326))
    """
)


def labels(
    session: Session,
    *,
    bbox: tuple[float, float, float, float],
    z: int,
    scope: AreaScope = EVERYWHERE,
    version_id: int | None = None,
) -> list[dict[str, Any]]:
    """Names to write on the map in this view: gridmap's townships (zoom ≥ 10) and
    communities (≥ 13) as far as `scope` reaches, then the basemap's place names, roads
    (≥ 15), POIs (≥ 16), at most `MAX_LABELS`, one per road name."""
    w, s, e, n = bbox
    if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
        raise InvalidInput("bbox must be west,south,east,north in WGS84", details={"bbox": bbox})
    out: list[dict[str, Any]] = []
    if version_id is not None and z >= 10:
        layers = ["township"] + (["community"] if z >= 13 else [])
        where, params = scope.sql("a")
        rows = session.execute(
            text(
                f"""SELECT a.layer, a.name, ST_X(p), ST_Y(p) FROM (
                    SELECT a.layer, a.name, ST_PointOnSurface(a.geom) AS p FROM area a
                    WHERE a.layer = ANY(:layers) AND a.geom && ST_MakeEnvelope(:w,:s,:e,:n,4326)
                      AND a.valid_from <= :v AND (a.valid_to IS NULL OR a.valid_to > :v)
                      AND {where}
                    LIMIT :limit) a"""
            ),
            {
                "layers": layers,
                "w": w,
                "s": s,
                "e": e,
                "n": n,
                "v": version_id,
                "limit": MAX_LABELS,
                **params,
            },
        ).all()
        out += [
            {"layer": layer, "kind": layer, "name": name, "point": [lon, lat]}
            for layer, name, lon, lat in rows
            if lon is not None
        ]
    seen: set[tuple[str, str]] = set()
    for kind, name, layer, lon, lat in session.execute(
        _LABELS_SQL, {"w": w, "s": s, "e": e, "n": n, "z": z, "limit": MAX_LABELS * 2}
    ).all():
        if lon is None or (layer, name) in seen:
            continue
        seen.add((layer, name))
        out.append({"layer": layer, "kind": kind, "name": name, "point": [lon, lat]})
        if len(out) >= MAX_LABELS:
            break
    return out
