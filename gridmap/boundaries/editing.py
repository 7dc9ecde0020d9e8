"""Topology-safe edits of one community's grid coverage: split, merge, reshape, delete, add.

Pure functions: no database. A `Coverage` is a community (the parent) and the grids that
tile it, in EPSG:4326, plus the community's buildings (what household counts are summed
from) and every grid code ever issued there (so a new grid never reuses one). Each edit
returns a new `Coverage` in which the community stays tiled: whatever one grid gives up
goes to a neighbour, whatever it takes is cut out of the grids it overlaps.

Overlays run in lon/lat, where the edges were drawn, so the vertices of untouched edges
stay exactly as they were and neighbours keep sharing them; tolerances (how far a drawn
shape may stick out of its community, how long a shared edge must be, how small a piece
is a sliver) are measured in metres in a local azimuthal-equidistant projection.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import pyproj
import shapely
from shapely.geometry import LineString, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.ops import split as split_polygon

from gridmap.errors import InvalidInput, NotFound

# A drawn shape may stick out of its community by this much (snapping noise); more is refused.
SNAP_M = 1.0
# Two grids are neighbours when their shared boundary is at least this long (a corner is not).
MIN_SHARED_EDGE_M = 1.0
# A piece smaller than this is a sliver from a sloppy line, not a grid.
MIN_PIECE_M2 = 1.0
# Grid codes are the community code followed by a zero-padded sequence (gridgen's format).
SEQUENCE_WIDTH = 3

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Grid:
    """One grid of a coverage (geometry a MultiPolygon in EPSG:4326)."""

    code: str
    name: str
    geom: BaseGeometry
    households: int | None = None
    kind: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Buildings:
    """Building points (EPSG:4326) and their household counts."""

    lons: Floats
    lats: Floats
    households: npt.NDArray[np.int64]

    @staticmethod
    def empty() -> Buildings:
        return Buildings(np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64))


@dataclass(frozen=True)
class Coverage:
    """A community and the grids that tile it."""

    parent_code: str
    parent_name: str
    parent_geom: BaseGeometry
    grids: tuple[Grid, ...]
    buildings: Buildings = field(default_factory=Buildings.empty)
    # Every grid code issued in this community in any version or draft (never reused).
    used_codes: frozenset[str] = frozenset()

    @property
    def codes(self) -> list[str]:
        return [g.code for g in self.grids]

    def grid(self, code: str) -> Grid:
        for g in self.grids:
            if g.code == code:
                return g
        raise NotFound(
            f"grid {code} is not in community {self.parent_code} ({self.parent_name})",
            details={"code": code, "community": self.parent_code},
        )

    @cached_property
    def metric(self) -> _Metric:
        return _Metric(self.parent_geom)


@dataclass(frozen=True, slots=True)
class CoverageChange:
    """What an edit changed: grids to (re)write, codes to remove."""

    upserts: list[Grid]
    removed: list[str]

    @property
    def codes(self) -> list[str]:
        return [g.code for g in self.upserts] + self.removed


class _Metric:
    """Lon/lat ⇄ metres in an azimuthal-equidistant projection centred on the community."""

    def __init__(self, around: BaseGeometry) -> None:
        c = around.centroid
        aeqd = pyproj.CRS.from_proj4(
            f"+proj=aeqd +lat_0={c.y} +lon_0={c.x} +datum=WGS84 +units=m +no_defs"
        )
        self._to = pyproj.Transformer.from_crs("EPSG:4326", aeqd, always_xy=True)
        self._from = pyproj.Transformer.from_crs(aeqd, "EPSG:4326", always_xy=True)

    def to_m(self, geom: BaseGeometry) -> BaseGeometry:
        return shapely.transform(geom, lambda xy: np.column_stack(self._to.transform(*xy.T)))

    def from_m(self, geom: BaseGeometry) -> BaseGeometry:
        return shapely.transform(geom, lambda xy: np.column_stack(self._from.transform(*xy.T)))

    def area(self, geom: BaseGeometry) -> float:
        return float(self.to_m(geom).area)

    def length(self, geom: BaseGeometry) -> float:
        return float(self.to_m(geom).length)


# --- small geometry helpers -------------------------------------------------------------


def _polygons(geom: BaseGeometry | None) -> list[Polygon]:
    """The polygon parts of an overlay result (lines and points it may leave are dropped)."""
    if geom is None or geom.is_empty:
        return []
    return [p for p in shapely.get_parts(geom) if isinstance(p, Polygon) and not p.is_empty]


def _multi(geom: BaseGeometry | Iterable[Polygon]) -> MultiPolygon:
    parts = _polygons(geom) if isinstance(geom, BaseGeometry) else list(geom)
    return MultiPolygon(parts)


def _where(geom: BaseGeometry) -> str:
    p = geom.representative_point()
    return f"({p.x:.6f}, {p.y:.6f})"


def _overlap(cov: Coverage, a: BaseGeometry, b: BaseGeometry) -> bool:
    """Whether two shapes share area (not just an edge, nor floating-point dust)."""
    if not a.intersects(b):
        return False
    return cov.metric.area(_multi(a.intersection(b))) > MIN_PIECE_M2 / 1e4


def _shared_edge_m(cov: Coverage, a: BaseGeometry, b: BaseGeometry) -> float:
    shared = a.boundary.intersection(b.boundary)
    return cov.metric.length(shared) if not shared.is_empty else 0.0


def _clip_to_parent(cov: Coverage, geom: BaseGeometry, *, what: str) -> MultiPolygon:
    """`geom` inside the community; refuse if it sticks out by more than snapping noise."""
    if not geom.is_valid:
        raise InvalidInput(
            f"{what} is not a valid polygon ({shapely.is_valid_reason(geom)})",
            details={"reason": shapely.is_valid_reason(geom)},
        )
    outside = geom.difference(cov.parent_geom)
    if not outside.is_empty:
        out_m = cov.metric.to_m(outside)
        parent_m = cov.metric.to_m(cov.parent_geom)
        reach = max(
            (parent_m.distance(shapely.Point(xy)) for xy in shapely.get_coordinates(out_m)),
            default=0.0,
        )
        if reach > SNAP_M:
            raise InvalidInput(
                f"{what} reaches {reach:.1f} m outside community {cov.parent_code} "
                f"({cov.parent_name}) near {_where(outside)}; a grid must stay inside its "
                "community",
                details={"community": cov.parent_code, "reach_m": round(reach, 1)},
            )
    inside = _multi(geom.intersection(cov.parent_geom))
    if cov.metric.area(inside) < MIN_PIECE_M2:
        raise InvalidInput(
            f"{what} does not cover any of community {cov.parent_code}",
            details={"community": cov.parent_code},
        )
    return inside


# --- codes and households ---------------------------------------------------------------


def allocate_codes(prefix: str, used: Iterable[str], n: int) -> list[str]:
    """The next `n` unused grid codes of a community: prefix + a sequence above every
    sequence ever used there (so a retired code is never given to a different place)."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)")
    top = 0
    for code in used:
        m = pattern.fullmatch(code)
        if m:
            top = max(top, int(m.group(1)))
    return [f"{prefix}{top + i:0{SEQUENCE_WIDTH}d}" for i in range(1, n + 1)]


def count_households(geoms: Sequence[BaseGeometry], buildings: Buildings) -> list[int]:
    """Households per geometry, each building counted once: a building on a shared edge
    goes to the first geometry that covers it (so the totals add up)."""
    counts = np.zeros(len(geoms), dtype=np.int64)
    if len(buildings.lons) == 0 or not geoms:
        return counts.tolist()
    tree = shapely.STRtree(list(geoms))
    points = shapely.points(buildings.lons, buildings.lats)
    point_idx, geom_idx = tree.query(points, predicate="intersects")
    if len(point_idx):
        order = np.lexsort((geom_idx, point_idx))
        _, first = np.unique(point_idx[order], return_index=True)
        chosen = order[first]
        np.add.at(counts, geom_idx[chosen], buildings.households[point_idx[chosen]])
    return counts.tolist()


def _with(cov: Coverage, grids: list[Grid], changed: set[str]) -> Coverage:
    """A new coverage of `grids`; households of the `changed` ones recounted from buildings
    (unchanged grids keep their stored counts, so they do not show up in the diff)."""
    counts = count_households([g.geom for g in grids], cov.buildings)
    out = [
        replace(g, households=int(n)) if g.code in changed else g
        for g, n in zip(grids, counts, strict=True)
    ]
    used = cov.used_codes | {g.code for g in out}
    return replace(cov, grids=tuple(out), used_codes=frozenset(used))


def _new_grid(cov: Coverage, code: str, geom: BaseGeometry, like: Grid | None) -> Grid:
    seq = code.removeprefix(cov.parent_code)
    return Grid(
        code=code,
        name=f"{cov.parent_name}第{seq}网格",
        geom=_multi(geom),
        kind=like.kind if like is not None else "community",
        attributes={},
    )


def as_multipolygon(geom: BaseGeometry) -> MultiPolygon:
    """The polygon parts of `geom` as one MultiPolygon."""
    return _multi(geom)


def recount(coverage: Coverage) -> Coverage:
    """Every grid's households counted from the buildings."""
    return _with(coverage, list(coverage.grids), set(coverage.codes))


def diff_coverages(before: Coverage, after: Coverage) -> CoverageChange:
    """The grids an edit wrote (new or different) and the codes it removed."""
    old = {g.code: g for g in before.grids}
    upserts = []
    for g in after.grids:
        prev = old.get(g.code)
        if (
            prev is None
            or not shapely.equals_exact(prev.geom, g.geom, tolerance=0.0)
            or (prev.name, prev.households, prev.kind) != (g.name, g.households, g.kind)
        ):
            upserts.append(g)
    kept = {g.code for g in after.grids}
    return CoverageChange(upserts, [c for c in old if c not in kept])


# --- the edits --------------------------------------------------------------------------


def _extended(cov: Coverage, line: LineString) -> LineString:
    """The line with both ends pushed out by SNAP_M: a line drawn to an edge crosses it."""
    m = np.asarray(cov.metric.to_m(line).coords)
    if len(m) < 2:
        raise InvalidInput("a split line needs at least two points")

    def push(end: Floats, towards: Floats) -> Floats:
        d = end - towards
        n = float(np.hypot(*d))
        return end if n == 0 else end + d / n * SNAP_M

    m[0] = push(m[0], m[1])
    m[-1] = push(m[-1], m[-2])
    return cov.metric.from_m(LineString(m))  # type: ignore[return-value]


def split_grid(coverage: Coverage, code: str, line: LineString) -> Coverage:
    """Cut a grid along a drawn line. The largest piece keeps the code, the others get new
    codes; together the pieces cover exactly what the grid covered."""
    grid = coverage.grid(code)
    if not isinstance(line, LineString) or line.is_empty:
        raise InvalidInput("a split needs a line (LineString) drawn across the grid")
    cutter = _extended(coverage, line)
    pieces: list[Polygon] = []
    untouched: list[Polygon] = []
    for part in _polygons(grid.geom):
        cut = _polygons(split_polygon(part, cutter))
        (pieces if len(cut) > 1 else untouched).extend(cut)
    if not pieces:
        raise InvalidInput(
            f"the line does not cut grid {code} ({grid.name}) in two: draw it across the grid "
            "from one edge to another",
            details={"code": code},
        )
    for p in pieces:
        p_m = coverage.metric.to_m(p)
        # Mean width 2A/P: a strip narrower than snapping noise is a slip of the pen.
        width = 2 * p_m.area / p_m.length
        if p_m.area < MIN_PIECE_M2 or width < SNAP_M:
            raise InvalidInput(
                f"the line cuts a sliver ({width:.2f} m wide, {p_m.area:.0f} m²) off grid "
                f"{code} near {_where(p)}; draw the line so that every piece is a real area",
                details={"code": code},
            )
    # A part the line does not cross stays with the nearest piece.
    groups: list[list[Polygon]] = [[p] for p in pieces]
    for part in untouched:
        nearest = min(range(len(pieces)), key=lambda i: pieces[i].distance(part))
        groups[nearest].append(part)
    geoms = [_multi(g) for g in groups]
    order = sorted(range(len(geoms)), key=lambda i: -coverage.metric.area(geoms[i]))
    new_codes = allocate_codes(
        coverage.parent_code, coverage.used_codes | set(coverage.codes), len(geoms) - 1
    )
    grids: list[Grid] = []
    changed = {code, *new_codes}
    for g in coverage.grids:
        if g.code == code:
            grids.append(replace(g, geom=geoms[order[0]]))
        else:
            grids.append(g)
    for new_code, i in zip(new_codes, order[1:], strict=True):
        grids.append(_new_grid(coverage, new_code, geoms[i], grid))
    return _with(coverage, grids, changed)


def _adjacency(cov: Coverage, grids: Sequence[Grid]) -> list[set[int]]:
    neighbours: list[set[int]] = [set() for _ in grids]
    for i, a in enumerate(grids):
        for j in range(i + 1, len(grids)):
            if _shared_edge_m(cov, a.geom, grids[j].geom) >= MIN_SHARED_EDGE_M:
                neighbours[i].add(j)
                neighbours[j].add(i)
    return neighbours


def merge_grids(coverage: Coverage, codes: Sequence[str]) -> Coverage:
    """Merge adjacent grids into the first one named (it keeps its code; the others are
    retired). Grids that do not share an edge with the rest are refused, by name."""
    if len(codes) < 2 or len(set(codes)) != len(codes):
        raise InvalidInput(
            "a merge needs two or more different grid codes", details={"codes": list(codes)}
        )
    strangers = [c for c in codes if c not in coverage.codes]
    if strangers:
        raise InvalidInput(
            f"grid(s) {', '.join(strangers)} is not in community {coverage.parent_code} "
            f"({coverage.parent_name}): only grids of one community can be merged",
            details={"not_in_community": strangers, "community": coverage.parent_code},
        )
    members = [coverage.grid(c) for c in codes]
    neighbours = _adjacency(coverage, members)
    reached, todo = {0}, [0]
    while todo:
        for j in neighbours[todo.pop()] - reached:
            reached.add(j)
            todo.append(j)
    apart = [members[i].code for i in range(len(members)) if i not in reached]
    if apart:
        raise InvalidInput(
            f"grid(s) {', '.join(apart)} share no edge with grid(s) "
            f"{', '.join(members[i].code for i in sorted(reached))}: only adjacent grids can "
            "be merged",
            details={"not_adjacent": apart, "codes": list(codes)},
        )
    merged = _multi(shapely.union_all([m.geom for m in members]))
    drop = set(codes[1:])
    grids = [
        replace(g, geom=merged) if g.code == codes[0] else g
        for g in coverage.grids
        if g.code not in drop
    ]
    return _with(coverage, grids, {codes[0]})


def delete_grid(coverage: Coverage, code: str, into: str) -> Coverage:
    """Remove a grid; its area goes to `into`, which must share an edge with it."""
    if code == into:
        raise InvalidInput(f"grid {code} cannot be deleted into itself")
    grid, target = coverage.grid(code), coverage.grid(into)
    if _shared_edge_m(coverage, grid.geom, target.geom) < MIN_SHARED_EDGE_M:
        raise InvalidInput(
            f"grid {code} shares no edge with grid {into}: its area can only go to a neighbour",
            details={"code": code, "into": into},
        )
    return merge_grids(coverage, [into, code])


def reshape_edge(coverage: Coverage, code: str, new_geometry: BaseGeometry) -> Coverage:
    """Give a grid a new shape. Neighbours give up exactly what it takes, and what it gives
    up goes to the neighbour it touches most, so shared edges move for both sides."""
    grid = coverage.grid(code)
    new = _clip_to_parent(coverage, new_geometry, what=f"the new shape of grid {code}")
    others = [g for g in coverage.grids if g.code != code]
    given_up = _polygons(grid.geom.difference(new))
    trimmed = [g.geom.difference(new) for g in others]
    gains: list[list[Polygon]] = [[] for _ in others]
    for piece in given_up:
        lengths = [_shared_edge_m(coverage, piece, t) for t in trimmed]
        best = int(np.argmax(lengths)) if lengths else -1
        if best < 0 or lengths[best] < MIN_SHARED_EDGE_M:
            if coverage.metric.area(piece) < MIN_PIECE_M2:
                continue  # digitising noise along the edge
            raise InvalidInput(
                f"the new shape of grid {code} leaves {coverage.metric.area(piece):.0f} m² near "
                f"{_where(piece)} that no neighbouring grid touches: it would be a gap in "
                f"community {coverage.parent_code}",
                details={"code": code},
            )
        gains[best].append(piece)
    grids: list[Grid] = []
    changed = {code}
    for g in coverage.grids:
        if g.code == code:
            grids.append(replace(g, geom=new))
            continue
        i = others.index(g)
        geom = shapely.union_all([trimmed[i], *gains[i]]) if gains[i] else trimmed[i]
        if not gains[i] and not _overlap(coverage, g.geom, new):
            grids.append(g)  # untouched (at most an edge in common): keep its exact geometry
            continue
        if coverage.metric.area(geom) < MIN_PIECE_M2:
            changed.add(g.code)  # swallowed whole: retired
            continue
        grids.append(replace(g, geom=_multi(geom)))
        changed.add(g.code)
    return _with(coverage, grids, changed)


def add_grid(coverage: Coverage, polygon: BaseGeometry) -> Coverage:
    """Draw a new grid: it is cut out of the grids it overlaps and gets a new code; a grid
    it covers entirely is retired."""
    new = _clip_to_parent(coverage, polygon, what="the new grid")
    (code,) = allocate_codes(coverage.parent_code, coverage.used_codes | set(coverage.codes), 1)
    grids: list[Grid] = []
    for g in coverage.grids:
        if not _overlap(coverage, g.geom, new):
            grids.append(g)
            continue
        rest = _multi(g.geom.difference(new))
        if coverage.metric.area(rest) >= MIN_PIECE_M2:
            grids.append(replace(g, geom=rest))
    grids.append(_new_grid(coverage, code, new, None))
    before = {g.code: g for g in coverage.grids}
    changed = {code} | {g.code for g in grids if before.get(g.code) is not g}
    return _with(coverage, grids, changed)


def replace_grids(coverage: Coverage, generated: Sequence[Grid]) -> Coverage:
    """Replace every grid of the community with freshly generated ones (the generator's
    output). Generated grids get new codes: the old places are gone, so are their codes."""
    codes = allocate_codes(
        coverage.parent_code, coverage.used_codes | set(coverage.codes), len(generated)
    )
    grids = [
        replace(_new_grid(coverage, c, g.geom, g), kind=g.kind, attributes=dict(g.attributes))
        for c, g in zip(codes, generated, strict=True)
    ]
    return _with(coverage, grids, set(codes))
