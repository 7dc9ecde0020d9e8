"""Generate grids of a household range (30–50 by default) from buildings inside one area.

The method, in three steps:

1. Blocks. The area is cut into blocks by the roads (when given) or by its own parts.
   Cutting grids along block edges is preferred, so grids follow streets.
2. Groups. Buildings with more households than the maximum become grids of their own
   (high-rises, flagged). The rest is split by recursive balanced bisection: choose the
   number of grids k so that total/k lies in the range, cut the set across its longer axis
   at the household share k1/k, recurse. Among the cut positions the one chosen keeps both
   sides feasible (k1·min ≤ left ≤ k1·max, and so for the right), stays close to the
   target mean, and — when roads are given — falls between two blocks rather than inside
   one. Unlike a k-means or fixed-building-count split (as hotosm/fmtm-splitter does with
   building counts), every step checks the household range itself. Groups must be
   connected over shared tile edges (step 3's tiles are made first), so a grid is one
   piece: a piece cut off a group goes to a touching group. Groups still out of range are
   repaired: the group and its touching groups are partitioned anew by a bounded search
   over connected sets when they hold few buildings; else single buildings move between
   touching groups, or the group merges into one neighbour, is shared out among several,
   or (last) joins a touching high-rise grid. Every grid is one piece: a group whose
   buildings do not all touch (alone on its own part of the area, say) is split, and a
   grid that is then out of range is flagged `detached` (or `under_min`/`over_max`) with
   the reason in the `reason` column, never joined to a grid it does not touch.
3. Polygons. Each block is divided by the Voronoi cells of its buildings (one vectorised
   call; only cells crossing the block's outline are clipped). Without roads the clipped
   cells share their edges vertex for vertex (checked; else all boundaries are noded and
   polygonized), so matching edge segments tells which tiles touch. A tile piece holding
   no building (a cell cut apart by a concave outline, an empty block) joins the group it
   shares the longest edge with; a part of the area touching no group (an empty island)
   becomes an empty grid of its own, flagged `detached`. Grids are then one polygonize of
   the edges between different groups: adjacent grids share exactly the same edges (a
   valid coverage).

Pure functions: no database, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from geodata.validation import EXCEPTION_HOUSEHOLDS
from gridmap.errors import InvalidInput

FLAG_HIGH_RISE = "high_rise"
FLAG_UNDER_MIN = "under_min"
FLAG_OVER_MAX = "over_max"
# A grid alone on a separate part of the area (an exclave, an island, a part with no
# building) whose households are out of range: in range it would have to be in pieces.
FLAG_DETACHED = "detached"

# A cut inside a road block costs as much as this share of the allowed deviation from the
# target mean: a street cut that is a little less balanced beats a perfect cut through a block.
_BLOCK_CUT_PENALTY = 0.5
# Infeasible cuts (a side that cannot be split into its grid count within the range) must
# lose against every feasible one.
_INFEASIBLE_WEIGHT = 100.0
_WGS84 = pyproj.CRS.from_epsg(4326)
_METRES_PER_DEGREE_LAT = 110_574.0
_METRES_PER_DEGREE_LON_EQUATOR = 111_320.0
_MAX_SEQUENCE = 999
# Up to this many units, a split no straight cut can make is searched among all subsets
# (2^(n-1) candidates, vectorised: 32,768 at most).
_SUBSET_SEARCH_MAX_UNITS = 16
# A group out of range is repaired by partitioning it with its neighbours anew when they
# hold at most this many units, within this many search steps (a few ms each).
_REGION_MAX_UNITS = 24
_REGION_SEARCH_STEPS = 5_000
_REGION_SETS_PER_SEED = 60


@dataclass(frozen=True)
class GridGeneration:
    """The generated grids, which grid each building went to, and the distribution report."""

    grids: gpd.GeoDataFrame
    assignment: pd.Series
    report: dict[str, Any]

    def report_text(self) -> str:
        """A few lines a planner can read: how many grids, and households per grid."""
        r = self.report
        lines = [
            f"{r['count']} grids, {r['households']} households in {r['buildings']} buildings",
            f"households per grid (high-rises excluded): min {r['min']}, max {r['max']}, "
            f"mean {r['mean']:.1f}, median {r['median']:.1f}",
            f"outside {r['range'][0]}–{r['range'][1]}: {r['out_of_range']} grid(s); "
            f"high-rise grids: {r['high_rises']}",
            "histogram:",
        ]
        for band, count in r["histogram"].items():
            lines.append(f"  {band:>7}  {count:5d}  {'#' * count}")
        return "\n".join(lines)


def generate_grids(
    area: Polygon | MultiPolygon,
    buildings: gpd.GeoDataFrame,
    *,
    code_prefix: str,
    min_households: int = 30,
    max_households: int = 50,
    roads: gpd.GeoSeries | None = None,
    seed: int = 0,
    name_prefix: str = "",
) -> GridGeneration:
    """Split `area` into grids of `min_households`..`max_households` households.

    `buildings` (EPSG:4326, Point or Polygon geometry, int column `households`, 0 allowed)
    must all lie inside `area`; a footprint counts where its representative point lies.
    Grids are numbered `code_prefix` + a 3-digit sequence along a Hilbert curve, so nearby
    grids get nearby numbers. `seed` only breaks ties between buildings at the same
    projected position; the result is deterministic for a seed.
    """
    _check_inputs(area, buildings, min_households, max_households, roads)
    points = shapely.point_on_surface(np.asarray(buildings.geometry.values))
    xy = shapely.get_coordinates(points)
    households = buildings["households"].to_numpy(dtype=np.int64)
    _check_inside(area, buildings, xy)

    # Buildings at the very same point are one unit: a Voronoi site cannot be split.
    unit_xy, unit_of_building = np.unique(xy, axis=0, return_inverse=True)
    unit_of_building = unit_of_building.reshape(-1)
    unit_households = np.bincount(
        unit_of_building, weights=households, minlength=len(unit_xy)
    ).astype(np.int64)

    blocks = _blocks(area, roads)
    unit_block = _locate(blocks, unit_xy)
    several_parts = bool(shapely.get_num_geometries(area) > 1)
    # One grid needs no tessellation: the area is the grid (unless it has several parts,
    # which must not make one grid in pieces).
    tiles = (
        _tile(area, blocks, unit_xy, unit_block)
        if (len(unit_xy) > 1 and int(unit_households.sum()) > max_households)
        or (several_parts and len(unit_xy) > 0)
        else None
    )
    neighbours = tiles.unit_neighbours(len(unit_xy)) if tiles is not None else [[] for _ in unit_xy]

    unit_group = _group_units(
        unit_xy,
        unit_households,
        unit_block,
        neighbours,
        min_households=min_households,
        max_households=max_households,
        rng=np.random.default_rng(seed),
        split_pieces=tiles is not None,
    )
    high_rise_groups = set(unit_group[unit_households > max_households].tolist())
    n_groups = int(unit_group.max()) + 1 if len(unit_group) else 1

    if tiles is None and several_parts:  # no building at all: one empty grid per part
        geoms = np.asarray([_as_multipolygon(p) for p in shapely.get_parts(area)], dtype=object)
    elif tiles is None:
        geoms = np.asarray([_as_multipolygon(area)], dtype=object)
    else:
        face_group = tiles.face_groups(unit_group, n_groups)
        geoms = _dissolve(area, tiles, face_group, int(face_group.max()) + 1)
    return _result(
        geoms,
        unit_group[unit_of_building] if len(unit_group) else np.zeros(0, dtype=np.int64),
        households,
        buildings.index,
        high_rise_groups,
        code_prefix=code_prefix,
        name_prefix=name_prefix,
        min_households=min_households,
        max_households=max_households,
        detached=several_parts,
    )


# --- input checks -----------------------------------------------------------------------


def _check_inputs(
    area: BaseGeometry,
    buildings: gpd.GeoDataFrame,
    min_households: int,
    max_households: int,
    roads: gpd.GeoSeries | None,
) -> None:
    if not isinstance(area, Polygon | MultiPolygon) or area.is_empty:
        raise InvalidInput(
            f"the area must be a non-empty Polygon or MultiPolygon, not {area.geom_type}",
            details={"field": "area"},
        )
    if not area.is_valid:
        raise InvalidInput(
            f"the area is not a valid polygon: {shapely.is_valid_reason(area)}",
            details={"field": "area"},
        )
    if not 0 < min_households <= max_households:
        raise InvalidInput(
            f"the household range {min_households}–{max_households} is empty or not positive",
            details={"field": "min_households/max_households"},
        )
    for name, frame in (("buildings", buildings), ("roads", roads)):
        if frame is not None and frame.crs is not None and not frame.crs.equals("EPSG:4326"):
            raise InvalidInput(
                f"{name} must be in EPSG:4326, not {frame.crs.to_string()}",
                details={"field": name},
            )
    if "households" not in buildings.columns:
        raise InvalidInput(
            "the buildings have no 'households' column", details={"field": "households"}
        )
    households = buildings["households"].to_numpy(dtype=np.float64, na_value=np.nan)
    bad = buildings.index[np.isnan(households) | (households < 0)].tolist()
    if bad:
        raise InvalidInput(
            f"buildings {bad[:10]} have a missing or negative household count",
            details={"field": "households", "buildings": [str(b) for b in bad]},
        )
    geoms = np.asarray(buildings.geometry.values)
    kinds = shapely.get_type_id(geoms)
    # 0 Point, 3 Polygon, 6 MultiPolygon; -1 is a missing geometry.
    bad_kind = ~np.isin(kinds, [0, 3, 6]) | shapely.is_empty(geoms)
    if bad_kind.any():
        wrong = buildings.index[bad_kind].tolist()
        raise InvalidInput(
            f"buildings {wrong[:10]} are not points or footprints (or are empty)",
            details={"field": "geometry", "buildings": [str(b) for b in wrong]},
        )


def _check_inside(area: BaseGeometry, buildings: gpd.GeoDataFrame, xy: NDArray[np.float64]) -> None:
    shapely.prepare(area)
    inside = shapely.intersects_xy(area, xy[:, 0], xy[:, 1])
    if not inside.all():
        outside = buildings.index[~inside].tolist()
        raise InvalidInput(
            f"{len(outside)} building(s) lie outside the area, e.g. {outside[:10]}",
            details={"field": "buildings", "outside": [str(b) for b in outside]},
        )


# --- blocks -----------------------------------------------------------------------------


def _blocks(area: Polygon | MultiPolygon, roads: gpd.GeoSeries | None) -> NDArray[np.object_]:
    """The area cut by the roads into faces; without roads, the area's own parts."""
    parts = np.asarray(shapely.get_parts(area))
    if roads is None or len(roads) == 0:
        return parts
    lines = shapely.intersection(np.asarray(roads.geometry.values), area)
    lines = lines[~shapely.is_empty(lines)]
    if len(lines) == 0:
        return parts
    linework = shapely.union_all(np.concatenate([shapely.boundary(parts), lines]))
    faces = np.asarray(shapely.get_parts(shapely.polygonize(shapely.get_parts(linework))))
    return _faces_inside(area, faces)


def _faces_inside(area: BaseGeometry, faces: NDArray[np.object_]) -> NDArray[np.object_]:
    """Polygonize also closes the area's holes into faces: keep only faces inside the area."""
    if len(faces) == 0:
        return faces
    reps = shapely.get_coordinates(shapely.point_on_surface(faces))
    shapely.prepare(area)
    return faces[shapely.intersects_xy(area, reps[:, 0], reps[:, 1])]


def _locate(polygons: NDArray[np.object_], xy: NDArray[np.float64]) -> NDArray[np.int64]:
    """Index of the polygon holding each point (on a shared edge: either; off all: nearest)."""
    result = np.full(len(xy), -1, dtype=np.int64)
    if len(xy) == 0:
        return result
    if len(polygons) == 1:
        result[:] = 0
        return result
    tree = shapely.STRtree(polygons)
    pts = np.asarray(shapely.points(xy))
    point_idx, poly_idx = tree.query(pts, predicate="intersects")
    # Reverse so the first hit wins when a point lies on an edge between two polygons.
    result[point_idx[::-1]] = poly_idx[::-1]
    missing = np.flatnonzero(result < 0)
    if len(missing):
        near = tree.query_nearest(pts[missing], return_distance=False, all_matches=False)
        result[missing[near[0]]] = near[1]
    return result


# --- grouping by balanced bisection -----------------------------------------------------


def _group_units(
    unit_xy: NDArray[np.float64],
    unit_households: NDArray[np.int64],
    unit_block: NDArray[np.int64],
    neighbours: list[list[int]],
    *,
    min_households: int,
    max_households: int,
    rng: np.random.Generator,
    split_pieces: bool = True,
) -> NDArray[np.int64]:
    """A group number per unit: high-rises alone, the rest by balanced bisection, repaired.

    `neighbours` lists, per unit, the units whose tiles share an edge with its own: a
    group connected in this graph becomes a grid in one piece, and with `split_pieces` a
    group that is not connected is split (without tiles there is no graph to split by).
    """
    n = len(unit_xy)
    group = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return group
    # Metres in a local equirectangular frame: axis lengths and projections must compare
    # east-west with north-south distances fairly.
    lat0 = float(np.mean(unit_xy[:, 1]))
    metric = np.column_stack(
        [
            unit_xy[:, 0] * _METRES_PER_DEGREE_LON_EQUATOR * math.cos(math.radians(lat0)),
            unit_xy[:, 1] * _METRES_PER_DEGREE_LAT,
        ]
    )
    tiebreak = rng.permutation(n)
    high = np.flatnonzero(unit_households > max_households)
    for g, u in enumerate(high):
        group[u] = g
    rest = np.flatnonzero(unit_households <= max_households)
    rest_total = int(unit_households[rest].sum())
    if len(high) and rest_total < min_households:
        # Too few households left for a grid of their own: each remaining building joins
        # the nearest high-rise grid rather than leaving a grid far below the minimum.
        d = np.linalg.norm(metric[rest][:, None, :] - metric[high][None, :, :], axis=2)
        group[rest] = group[high[np.argmin(d, axis=1)]]
        if split_pieces:
            _split_pieces(group, neighbours)
        return np.unique(group, return_inverse=True)[1].reshape(-1).astype(np.int64)
    if len(rest) == 0:
        return group
    leaves: list[NDArray[np.int64]] = []
    splitter = _Bisection(
        metric, unit_households, unit_block, tiebreak, min_households, max_households
    )
    k = _best_grid_count(rest_total, len(rest), min_households, max_households)
    splitter.split(rest, k, leaves)
    for offset, leaf in enumerate(leaves, start=len(high)):
        group[leaf] = offset
    if split_pieces:  # without tiles there is no graph: the area is the one grid
        _reattach_pieces(group, neighbours, unit_households, set(range(len(high))), max_households)
    _repair(
        group,
        neighbours,
        metric,
        unit_households,
        unit_block,
        set(range(len(high))),
        min_households=min_households,
        max_households=max_households,
    )
    if split_pieces:
        _split_pieces(group, neighbours)
    # Merges leave gaps in the numbering: renumber 0..n-1.
    return np.unique(group, return_inverse=True)[1].reshape(-1).astype(np.int64)


def _split_pieces(group: NDArray[np.int64], neighbours: list[list[int]]) -> None:
    """Make every group one connected piece: a piece that does not touch the rest of its
    group (alone on a separate part of the area, or cut off by a repair) becomes a group of
    its own. A grid in one piece out of range is flagged; a grid in two pieces is never made.
    Changes `group` in place."""
    fresh = int(group.max()) + 1 if len(group) else 0
    for g in np.unique(group):
        members = np.flatnonzero(group == g).tolist()
        pieces = _connected_pieces(members, neighbours)
        if len(pieces) < 2:
            continue
        pieces.sort(key=lambda p: (-len(p), p[0]))
        for piece in pieces[1:]:
            group[piece] = fresh
            fresh += 1


def _best_grid_count(total: int, units: int, lo: int, hi: int) -> int:
    """How many grids to make of `total` households: mean in range and nearest the middle.

    When no count puts the mean in range (e.g. 55 households for 30–50), the count whose
    mean misses the range by the least.
    """
    if total < lo or units <= 1:
        return 1
    target = (lo + hi) / 2
    k_lo = max(1, math.floor(total / hi))
    k_hi = max(1, min(units, math.ceil(total / lo)))
    candidates = range(min(k_lo, k_hi), k_hi + 1)

    def miss(k: int) -> tuple[float, float]:
        mean = total / k
        return (max(0.0, lo - mean, mean - hi), abs(mean - target))

    return min(candidates, key=miss)


@dataclass
class _Bisection:
    metric: NDArray[np.float64]
    households: NDArray[np.int64]
    block: NDArray[np.int64]
    tiebreak: NDArray[np.int64]
    lo: int
    hi: int

    def split(self, idx: NDArray[np.int64], k: int, leaves: list[NDArray[np.int64]]) -> None:
        total = int(self.households[idx].sum())
        mean = total / k if k else 0.0
        if k > 1 and not self.lo <= mean <= self.hi:
            k = _best_grid_count(total, len(idx), self.lo, self.hi)
        k = min(k, len(idx))
        if k <= 1:
            leaves.append(idx)
            return
        left, right, k1 = self._cut(idx, k, total)
        self.split(left, k1, leaves)
        self.split(right, k - k1, leaves)

    def _cut(
        self, idx: NDArray[np.int64], k: int, total: int
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], int]:
        pts = self.metric[idx]
        extent = np.ptp(pts, axis=0)
        longer = 0.0 if extent[0] >= extent[1] else math.pi / 2
        best: tuple[float, NDArray[np.int64], int, int] | None = None
        # Across the longer axis first: it keeps grids compact. Other directions only when
        # no cut across it keeps both sides within range (a few large buildings can make
        # every prefix jump over the range in one direction but not in another).
        across, along, diagonal = longer, longer + math.pi / 2, math.pi / 4
        tries = [(across, True), (along, True), (across, False), (along, False)]
        tries += [(longer + diagonal, False), (longer - diagonal, False)]
        for angle, by_block in tries:
            proj = pts[:, 0] * math.cos(angle) + pts[:, 1] * math.sin(angle)
            for k1 in sorted({k // 2, k - k // 2}):
                order, score = self._scores(idx, proj, k1, k - k1, total, by_block=by_block)
                j = int(np.argmin(score))
                if best is None or score[j] < best[0]:
                    best = (float(score[j]), order, j, k1)
            if best is not None and best[0] < _INFEASIBLE_WEIGHT:
                break
        assert best is not None
        best_score, order, j, k1 = best
        if best_score >= _INFEASIBLE_WEIGHT and len(idx) <= _SUBSET_SEARCH_MAX_UNITS:
            subset = self._best_subset(idx, k)
            if subset is not None:
                return subset
        return idx[order[: j + 1]], idx[order[j + 1 :]], k1

    def _best_subset(
        self, idx: NDArray[np.int64], k: int
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], int] | None:
        """Among all two-way splits of a few units, the most compact within range.

        No straight cut works here, so try every subset (2^n, n small) and keep the one
        whose two sides have the least spread around their centres (k-means inertia).
        """
        n = len(idx)
        masks = ((np.arange(1, 2 ** (n - 1))[:, None] >> np.arange(n)) & 1).astype(np.float64)
        w = self.households[idx].astype(np.float64)
        pts = self.metric[idx] - self.metric[idx].mean(axis=0)
        left = masks @ w
        total = float(w.sum())
        count_l = masks.sum(axis=1)
        count_r = n - count_l
        sq = (pts**2).sum(axis=1)
        sum_l = masks @ pts
        sum_r = pts.sum(axis=0) - sum_l
        inertia = (masks @ sq + (sq.sum() - masks @ sq)) - (
            (sum_l**2).sum(axis=1) / count_l + (sum_r**2).sum(axis=1) / count_r
        )
        for k1 in sorted({k // 2, k - k // 2}):
            k2 = k - k1
            ok = (
                (left >= k1 * self.lo)
                & (left <= k1 * self.hi)
                & (total - left >= k2 * self.lo)
                & (total - left <= k2 * self.hi)
            )
            if ok.any():
                best = int(np.argmin(np.where(ok, inertia, np.inf)))
                chosen = masks[best].astype(bool)
                return idx[chosen], idx[~chosen], k1
        return None

    def _scores(
        self,
        idx: NDArray[np.int64],
        proj: NDArray[np.float64],
        k1: int,
        k2: int,
        total: int,
        *,
        by_block: bool,
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Sort units across the axis (block by block) and score every cut position."""
        block = self.block[idx]
        # Units sort by the mean position of their block first, so a cut between two
        # blocks is available at every block change (only one block is ever cut in two).
        _, block_local = np.unique(block, return_inverse=True)
        block_local = block_local.reshape(-1)
        block_mean = np.bincount(block_local, weights=proj) / np.bincount(block_local)
        block_key = block_mean[block_local] if by_block else np.zeros(len(idx))
        order = np.lexsort((self.tiebreak[idx], proj, block_key))
        left = np.cumsum(self.households[idx][order])[:-1].astype(np.float64)
        right = total - left
        half = max((self.hi - self.lo) / 2, 0.5)
        target = (self.lo + self.hi) / 2
        miss = (np.maximum(0, k1 * self.lo - left) + np.maximum(0, left - k1 * self.hi)) / k1 + (
            np.maximum(0, k2 * self.lo - right) + np.maximum(0, right - k2 * self.hi)
        ) / k2
        deviation = np.maximum(np.abs(left / k1 - target), np.abs(right / k2 - target)) / half
        sorted_block = block[order]
        inside_block = sorted_block[:-1] == sorted_block[1:]
        # A tie in position cannot be cut by a line: prefer a cut where positions differ.
        same_place = proj[order][:-1] == proj[order][1:]
        return order, (
            _INFEASIBLE_WEIGHT * ((miss > 0) + miss / half)
            + deviation
            + _BLOCK_CUT_PENALTY * (inside_block & (len(np.unique(block)) > 1))
            + 0.01 * same_place
        )


def _repair(
    group: NDArray[np.int64],
    neighbours: list[list[int]],
    metric: NDArray[np.float64],
    households: NDArray[np.int64],
    block: NDArray[np.int64],
    absorbers: set[int],
    *,
    min_households: int,
    max_households: int,
) -> None:
    """Rearrange buildings between neighbouring groups until every group is in range.

    A straight cut cannot always hit the range: with blocks of 12–48 households a group of
    24 may sit between groups of 30 and 36, and no prefix in any direction fixes it. For
    each group out of range, first its touching groups are partitioned anew (an exact
    search over connected subsets, when the region is small); else one building moves to
    or from a touching group, if that brings both closer to the range and the giving group
    stays connected; else the group merges whole into a touching group it fits with.
    High-rise groups (`absorbers`) are already over the maximum: they may take in a small
    neighbour that fits nowhere else, but never give. A group with no neighbour at all (on
    its own part of a multi-part area) joins the nearest group. Changes `group` in place.
    """
    n = len(group)
    if n < 2 or len(np.unique(group)) < 2:
        return
    lo, hi = min_households, max_households
    ids, inverse = np.unique(group, return_inverse=True)
    sums = np.bincount(inverse.reshape(-1), weights=households)
    totals = {int(g): int(t) for g, t in zip(ids, sums, strict=True)}

    def miss(g: int, total: int) -> int:
        return 0 if g in absorbers else max(0, lo - total, total - hi)

    if not any(miss(g, t) for g, t in totals.items()):
        return  # the common case: the bisection met the range everywhere

    for _ in range(4 * len(totals)):
        bad = [g for g, t in totals.items() if miss(g, t)]
        if not bad:
            return
        changed = False
        for g in bad:
            if g not in totals or not miss(g, totals[g]):
                continue  # an earlier step this round already fixed or absorbed it
            if _resolve_region(
                g, group, totals, neighbours, metric, households, block, absorbers, lo, hi
            ):
                changed = True
                continue
            members = np.flatnonzero(group == g)
            moved = _move_one(
                g,
                members,
                group,
                totals,
                neighbours,
                metric,
                households,
                block,
                absorbers,
                lo,
                miss,
            )
            if moved or _merge_into_neighbour(
                g, members, group, totals, neighbours, households, absorbers, hi
            ):
                changed = True
        if not changed:
            break


def _resolve_region(
    g: int,
    group: NDArray[np.int64],
    totals: dict[int, int],
    neighbours: list[list[int]],
    metric: NDArray[np.float64],
    households: NDArray[np.int64],
    block: NDArray[np.int64],
    absorbers: set[int],
    lo: int,
    hi: int,
) -> bool:
    """Partition group `g` and its touching groups anew, all within range, if possible."""
    members = np.flatnonzero(group == g)
    if len(members) > _REGION_MAX_UNITS:
        return False
    centre = metric[members].mean(axis=0)
    region = [g]
    units = members.tolist()
    frontier = units
    # Ring one first (the touching groups), then ring two if ring one has no solution.
    for _ring in range(2):
        touching = {int(group[v]) for u in frontier for v in neighbours[u]}
        candidates = sorted(touching - set(region) - absorbers)
        if not candidates:
            return False
        by_distance = []
        for h in candidates:
            h_members = np.flatnonzero(group == h)
            gap = float(np.linalg.norm(metric[h_members].mean(axis=0) - centre))
            by_distance.append((gap, h, h_members))
        added: list[int] = []
        for _gap, h, h_members in sorted(by_distance, key=lambda t: (t[0], t[1])):
            if len(units) + len(h_members) <= _REGION_MAX_UNITS:
                region.append(h)
                added.extend(h_members.tolist())
                units = units + h_members.tolist()
        if not added:
            return False
        # Groups within road blocks if possible; across a road only if not.
        parts = _partition(units, neighbours, households, metric, block, lo, hi, within_blocks=True)
        if parts is None and len(set(block[units].tolist())) > 1:
            parts = _partition(units, neighbours, households, metric, block, lo, hi)
        if parts is not None:
            fresh = max(totals) + 1
            ids = region + list(range(fresh, fresh + max(0, len(parts) - len(region))))
            for old in region:
                totals.pop(old)
            for new_id, part in zip(ids, parts, strict=False):
                group[part] = new_id
                totals[new_id] = int(households[part].sum())
            return True
        frontier = added
    return False


class _SearchExhausted(Exception):
    """The subset search took more steps than it may: give up on this region."""


def _partition(
    units: list[int],
    neighbours: list[list[int]],
    households: NDArray[np.int64],
    metric: NDArray[np.float64],
    block: NDArray[np.int64],
    lo: int,
    hi: int,
    *,
    within_blocks: bool = False,
) -> list[list[int]] | None:
    """Split `units` into connected groups each within lo..hi, compact ones first; or None.

    Depth-first: the unit with the fewest free neighbours (the hardest to place) starts a
    group; every connected set around it within range is tried (only sets inside one road
    block if `within_blocks`), those within the fewest blocks first, then the most compact, as
    long as what remains falls apart only into pieces of at least `lo` households.
    """
    inside = set(units)
    # Nearest neighbours first, so the sets found first are compact.
    adj: dict[int, list[int]] = {}
    for u in units:
        near = [
            v for v in neighbours[u] if v in inside and (not within_blocks or block[v] == block[u])
        ]
        gaps = ((metric[near] - metric[u]) ** 2).sum(axis=1) if near else np.zeros(0)
        adj[u] = [near[i] for i in np.argsort(gaps, kind="stable")]
    weight = {u: int(households[u]) for u in units}
    steps = [0]

    def tick() -> None:
        steps[0] += 1
        if steps[0] > _REGION_SEARCH_STEPS:
            raise _SearchExhausted

    def pieces_ok(rest: set[int]) -> bool:
        seen: set[int] = set()
        for start in rest:
            if start in seen:
                continue
            seen.add(start)
            stack, total = [start], 0
            while stack:
                x = stack.pop()
                total += weight[x]
                for y in adj[x]:
                    if y in rest and y not in seen:
                        seen.add(y)
                        stack.append(y)
            if total < lo:
                return False
        return True

    def sets_around(seed: int, rest: set[int]) -> list[list[int]]:
        found: list[list[int]] = []

        # Each connected set containing `seed` is reached once: a branch takes ext[i] and
        # bans ext[:i] for good (weights are non-negative, so a set over `hi` stays over).
        def grow(chosen: list[int], total: int, ext: list[int], banned: set[int]) -> None:
            tick()
            if total >= lo:
                found.append(chosen)
            for i, v in enumerate(ext):
                if len(found) >= _REGION_SETS_PER_SEED:
                    return  # enough to choose from: nearest neighbours were tried first
                if total + weight[v] > hi:
                    continue
                now_banned = banned | set(ext[: i + 1])
                tail = ext[i + 1 :]
                more = [
                    x
                    for x in adj[v]
                    if x in rest and x not in chosen and x not in now_banned and x not in tail
                ]
                grow([*chosen, v], total + weight[v], tail + more, now_banned)

        grow([seed], weight[seed], [x for x in adj[seed] if x in rest], {seed})

        def cost(members: list[int]) -> tuple[int, float]:
            pts = metric[members]
            return len(set(block[members].tolist())), float(((pts - pts.mean(axis=0)) ** 2).sum())

        return sorted(found, key=cost)

    failed: set[frozenset[int]] = set()

    def solve(rest: set[int]) -> list[list[int]] | None:
        if not rest:
            return []
        key = frozenset(rest)
        if key in failed:
            return None
        seed = min(rest, key=lambda u: (sum(1 for x in adj[u] if x in rest), u))
        for chosen in sets_around(seed, rest):
            left = rest - set(chosen)
            if not pieces_ok(left):
                continue
            others = solve(left)
            if others is not None:
                return [chosen, *others]
        failed.add(key)
        return None

    try:
        return solve(set(units)) if pieces_ok(set(units)) else None
    except _SearchExhausted:
        return None


def _move_one(
    g: int,
    members: NDArray[np.int64],
    group: NDArray[np.int64],
    totals: dict[int, int],
    neighbours: list[list[int]],
    metric: NDArray[np.float64],
    households: NDArray[np.int64],
    block: NDArray[np.int64],
    absorbers: set[int],
    lo: int,
    miss: Callable[[int, int], int],
) -> bool:
    """The best single building move that brings group `g` closer to the range."""
    centre = metric[members].mean(axis=0)
    blocks_of_g = set(block[members].tolist())
    needs = totals[g] < lo
    options: list[tuple[tuple[int, int, float], int, int, int]] = []
    for u in members:
        for v in neighbours[int(u)]:
            h = int(group[v])
            if h == g:
                continue
            # Too few: take v from h. Too many: give u to h.
            src, dst, unit = (h, g, v) if needs else (g, h, int(u))
            w = int(households[unit])
            if w == 0 or src in absorbers:
                continue  # a high-rise grid never gives
            before = miss(src, totals[src]) + miss(dst, totals[dst])
            after = miss(src, totals[src] - w) + miss(dst, totals[dst] + w)
            if after >= before:
                continue
            crosses = int(block[unit] not in blocks_of_g)
            # The building nearest the needy group's centre keeps shapes compact.
            distance = float(np.linalg.norm(metric[unit] - centre))
            options.append(((after, crosses, distance), src, dst, unit))
    for _key, src, dst, unit in sorted(options):
        if _stays_connected(group, neighbours, src, unit):
            group[unit] = dst
            totals[src] -= int(households[unit])
            totals[dst] += int(households[unit])
            return True
    return False


def _merge_into_neighbour(
    g: int,
    members: NDArray[np.int64],
    group: NDArray[np.int64],
    totals: dict[int, int],
    neighbours: list[list[int]],
    households: NDArray[np.int64],
    absorbers: set[int],
    hi: int,
) -> bool:
    """Merge a group out of range into a touching group it fits with, or share it out
    among several, else merge it into a touching high-rise.

    Two buildings of 26 and 27 households make no grid of 30–50 either apart or together;
    a neighbouring high-rise grid (already flagged) can take them in.
    """
    touching = {int(group[v]) for u in members for v in neighbours[int(u)]} - {g}
    fits = sorted(
        (h for h in touching if h not in absorbers and totals[h] + totals[g] <= hi),
        key=lambda h: totals[h],
    )
    if totals[g] > hi:
        fits = []
    for h in fits:
        group[members] = h
        totals[h] += totals.pop(g)
        return True
    if totals[g] < hi and _share_out(
        g, members, group, totals, neighbours, households, absorbers, hi
    ):
        return True
    towers = sorted(h for h in touching if h in absorbers)
    for h in towers:
        group[members] = h
        totals[h] += totals.pop(g)
        return True
    return False


def _share_out(
    g: int,
    members: NDArray[np.int64],
    group: NDArray[np.int64],
    totals: dict[int, int],
    neighbours: list[list[int]],
    households: NDArray[np.int64],
    absorbers: set[int],
    hi: int,
) -> bool:
    """Dissolve group `g` by giving each of its buildings to a touching group with room.

    118 households make three grids of 30–50, not four: when a fourth, too small group
    fits into no single neighbour, its buildings can still go one by one to several
    (those on its edge first, then those that came to border the receivers). Undone
    unless every building finds a place.
    """
    weight = {int(u): int(households[u]) for u in members}
    remaining = set(weight)
    given: dict[int, int] = {}
    progress = True
    while remaining and progress:
        progress = False
        for u in sorted(remaining):
            room = [
                (totals[h], h)
                for h in {int(group[v]) for v in neighbours[u]} - {g}
                if h not in absorbers and totals[h] + weight[u] <= hi
            ]
            if room:
                h = min(room)[1]  # the emptiest neighbour takes it
                group[u] = h
                totals[h] += weight[u]
                given[u] = h
                remaining.discard(u)
                progress = True
    if remaining:
        for u, h in given.items():
            group[u] = g
            totals[h] -= weight[u]
        return False
    totals.pop(g)
    return True


def _stays_connected(
    group: NDArray[np.int64], neighbours: list[list[int]], g: int, leaving: int
) -> bool:
    """Whether group `g` without unit `leaving` is still one piece (and not empty)."""
    members = set(np.flatnonzero(group == g).tolist()) - {leaving}
    if not members:
        return False
    first = next(iter(members))
    seen = {first}
    stack = [first]
    while stack:
        for nb in neighbours[stack.pop()]:
            if nb in members and nb not in seen:
                seen.add(nb)
                stack.append(nb)
    return len(seen) == len(members)


def _reattach_pieces(
    group: NDArray[np.int64],
    neighbours: list[list[int]],
    households: NDArray[np.int64],
    absorbers: set[int],
    hi: int,
) -> None:
    """Give each extra connected piece of a group to a touching group, so grids are whole.

    A straight cut can leave a group in pieces that do not touch (around a concave
    outline, or across two parts of the area). The largest piece keeps the group; another
    piece goes to the touching group it fits best with (room first, then the most shared
    edges), and the repair then restores the range. A piece touching no other group (on a
    part of the area of its own) becomes a group of its own. Changes `group` in place.
    """
    order = np.argsort(group, kind="stable")
    cuts = np.flatnonzero(np.diff(group[order])) + 1
    fresh = int(group.max()) + 1
    totals = np.bincount(group, weights=households).astype(np.int64).tolist()
    for members in np.split(order, cuts):
        g = int(group[members[0]])
        if g in absorbers or len(members) < 2:
            continue
        pieces = _connected_pieces(members.tolist(), neighbours)
        if len(pieces) < 2:
            continue
        pieces.sort(key=lambda p: (-int(households[p].sum()), p[0]))
        for piece in pieces[1:]:
            weight = int(households[piece].sum())
            contacts: dict[int, int] = {}
            for u in piece:
                for v in neighbours[u]:
                    h = int(group[v])
                    if h != g and h not in absorbers:
                        contacts[h] = contacts.get(h, 0) + 1
            if contacts:
                h = min(contacts, key=lambda h: (totals[h] + weight > hi, -contacts[h], h))
                group[piece] = h
                totals[h] += weight
            else:
                group[piece] = fresh
                totals.append(weight)
                fresh += 1
            totals[g] -= weight


def _connected_pieces(members: list[int], neighbours: list[list[int]]) -> list[list[int]]:
    inside = set(members)
    seen: set[int] = set()
    pieces: list[list[int]] = []
    for start in members:
        if start in seen:
            continue
        seen.add(start)
        piece, stack = [start], [start]
        while stack:
            for v in neighbours[stack.pop()]:
                if v in inside and v not in seen:
                    seen.add(v)
                    piece.append(v)
                    stack.append(v)
        pieces.append(piece)
    return pieces


# --- polygons ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tiles:
    """The area cut into faces, each a piece of one unit's Voronoi cell inside its block.

    Faces come from one polygonize of all noded cell boundaries, so touching faces share
    identical vertices: their edges (segments) can be matched exactly, which gives which
    faces touch and lets grids be dissolved from faces without any geometric union.
    """

    faces: NDArray[np.object_]
    # The unit whose buildings lie in the face; -1 for a face with no building (an empty
    # block, or a piece of a cell cut off from its site by the block's outline).
    owner: NDArray[np.int64]
    segments: NDArray[np.float64]  # (m, 2, 2): every distinct edge segment once
    left: NDArray[np.int64]  # a face on one side of the segment
    right: NDArray[np.int64]  # the face on the other side, -1 on the area's outline

    def unit_neighbours(self, n_units: int) -> list[list[int]]:
        """Per unit, the units whose own faces share an edge with its own face."""
        inner = self.right >= 0
        a, b = self.owner[self.left[inner]], self.owner[self.right[inner]]
        pair = (a >= 0) & (b >= 0) & (a != b)
        lo_end, hi_end = np.minimum(a[pair], b[pair]), np.maximum(a[pair], b[pair])
        keys = np.unique(lo_end * n_units + hi_end)
        i, j = keys // n_units, keys % n_units
        # Both directions, sorted by the first unit, then cut into one list per unit.
        first = np.concatenate([i, j])
        second = np.concatenate([j, i])
        order = np.lexsort((second, first))
        first, second = first[order], second[order]
        cuts = np.searchsorted(first, np.arange(1, n_units))
        return [part.tolist() for part in np.split(second, cuts)]

    def face_groups(self, unit_group: NDArray[np.int64], n_groups: int) -> NDArray[np.int64]:
        """The group of every face; a face with no building joins a touching group.

        An empty face goes to the group it shares the longest edge with, so it does not
        become a separate piece of some grid; faces touching no group at all (an empty
        part of a multi-part area) become new groups, numbered from `n_groups` up.
        """
        group = np.where(self.owner >= 0, unit_group[np.maximum(self.owner, 0)], -1)
        inner = self.right >= 0
        a = np.concatenate([self.left[inner], self.right[inner]])
        b = np.concatenate([self.right[inner], self.left[inner]])
        seg = self.segments[inner]
        length = np.hypot(*(seg[:, 1] - seg[:, 0]).T)
        length = np.concatenate([length, length])
        while (group < 0).any():
            open_edge = (group[a] < 0) & (group[b] >= 0)
            if not open_edge.any():
                break
            # Shared length per (empty face, touching group); the longest wins.
            keys = a[open_edge] * n_groups + group[b[open_edge]]
            uniq, inv = np.unique(keys, return_inverse=True)
            shared = np.bincount(inv.reshape(-1), weights=length[open_edge])
            face, to = uniq // n_groups, uniq % n_groups
            best = np.lexsort((-shared, face))
            first = np.ones(len(best), dtype=bool)
            first[1:] = face[best][1:] != face[best][:-1]
            group[face[best][first]] = to[best][first]
        # Faces touching no group (an empty part of a multi-part area) become grids of
        # their own, one per connected set: joined to a grid they would be a second piece.
        fresh = n_groups
        for empty in np.flatnonzero(group < 0).tolist():
            if group[empty] >= 0:
                continue
            group[empty] = fresh
            stack = [empty]
            while stack:
                f = stack.pop()
                for other in np.concatenate([b[a == f], a[b == f]]):
                    if group[other] < 0:
                        group[other] = fresh
                        stack.append(int(other))
            fresh += 1
        return group


def _tile(
    area: Polygon | MultiPolygon,
    blocks: NDArray[np.object_],
    unit_xy: NDArray[np.float64],
    unit_block: NDArray[np.int64],
) -> _Tiles:
    """Voronoi cells of the units, each clipped to its block, noded into faces."""
    per_block = np.bincount(unit_block, minlength=len(blocks))
    # A block with at most one unit is one piece; the others are divided by Voronoi cells,
    # computed for all blocks in one vectorised call.
    whole = np.flatnonzero(per_block <= 1)
    owner_of_block = np.full(len(blocks), -1, dtype=np.int64)
    owner_of_block[unit_block] = np.arange(len(unit_xy))
    pieces = [blocks[whole]]
    piece_owner = [np.where(per_block[whole] == 1, owner_of_block[whole], -1)]
    shared = np.flatnonzero(per_block >= 2)
    if len(shared):
        local = np.full(len(blocks), -1, dtype=np.int64)
        local[shared] = np.arange(len(shared))
        sites = np.flatnonzero(per_block[unit_block] >= 2)
        sites = sites[np.argsort(local[unit_block[sites]], kind="stable")]
        site_points = np.asarray(shapely.points(unit_xy[sites]))
        collections = shapely.voronoi_polygons(
            shapely.multipoints(site_points, indices=local[unit_block[sites]]),
            extend_to=blocks[shared],
            ordered=True,
        )
        cells, of_block = shapely.get_parts(collections, return_index=True)
        if len(cells) == len(sites):
            cell_owner = sites
        else:  # GEOS merged near-identical sites: find each cell's site by location
            cell_owner = sites[
                _locate(
                    np.asarray(site_points),
                    shapely.get_coordinates(shapely.point_on_surface(cells)),
                )
            ]
        # Only cells reaching over the block's outline need clipping (most lie inside).
        cell_block = blocks[shared][of_block]
        shapely.prepare(blocks[shared])
        crossing = ~shapely.within(cells, cell_block)
        cells[crossing] = shapely.intersection(cells[crossing], cell_block[crossing])
        pieces.append(cells)
        piece_owner.append(cell_owner)
    all_pieces = np.concatenate(pieces)
    all_owners = np.concatenate(piece_owner)

    if len(blocks) == shapely.get_num_geometries(area):
        # No roads: the clipped cells themselves usually share their edges vertex for
        # vertex (Voronoi edges are exact, and both sides of an edge are clipped alike).
        faces, of_piece = shapely.get_parts(all_pieces, return_index=True)
        faces = np.asarray(faces)
        edges = _segments(faces)
        if _seamless(area, *edges):
            return _Tiles(faces, _occupy(faces, all_owners[of_piece], unit_xy), *edges)

    # Else node every boundary together and polygonize: the faces then share edges exactly.
    linework = shapely.union_all(shapely.boundary(all_pieces))
    faces = np.asarray(shapely.get_parts(shapely.polygonize(shapely.get_parts(linework))))
    faces = _faces_inside(area, faces)
    face_xy = shapely.get_coordinates(shapely.point_on_surface(faces))
    owner = all_owners[_locate(all_pieces, face_xy)]
    return _Tiles(faces, _occupy(faces, owner, unit_xy), *_segments(faces))


def _seamless(
    area: BaseGeometry,
    segments: NDArray[np.float64],
    left: NDArray[np.int64],
    right: NDArray[np.int64],
) -> bool:
    """Whether every edge without a face on its other side lies on the area's outline."""
    lonely = np.hypot(*(segments[right < 0, 1] - segments[right < 0, 0]).T).sum()
    outline = float(shapely.length(shapely.boundary(area)))
    return bool(abs(lonely - outline) <= 1e-9 * outline)


def _occupy(
    faces: NDArray[np.object_], owner: NDArray[np.int64], unit_xy: NDArray[np.float64]
) -> NDArray[np.int64]:
    """The unit in each face, or -1: only the face holding a unit's point keeps the unit.

    The other pieces of a unit's cell (cut off by a concave outline) hold no building.
    """
    has = np.flatnonzero(owner >= 0)
    holds = np.zeros(len(faces), dtype=bool)
    xy = unit_xy[owner[has]]
    holds[has] = shapely.intersects_xy(faces[has], xy[:, 0], xy[:, 1])
    # A point where two pieces of its cell touch: the first piece is its home.
    held = np.flatnonzero(holds)
    _, first = np.unique(owner[held], return_index=True)
    occupied = np.full(len(faces), -1, dtype=np.int64)
    occupied[held[first]] = owner[held[first]]
    homeless = np.setdiff1d(np.arange(len(unit_xy)), occupied[occupied >= 0])
    if len(homeless):  # a site on a face edge after noding: the nearest face is its home
        tree = shapely.STRtree(faces)
        near = tree.query_nearest(shapely.points(unit_xy[homeless]), all_matches=False)
        occupied[near[1]] = homeless[near[0]]
    return occupied


def _segments(
    faces: NDArray[np.object_],
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.int64]]:
    """Every distinct edge segment of the faces, with the face on each side (-1: none)."""
    rings, ring_face = shapely.get_rings(faces, return_index=True)
    coords, of_ring = shapely.get_coordinates(rings, return_index=True)
    same = of_ring[:-1] == of_ring[1:]
    a, b = coords[:-1][same], coords[1:][same]
    face = ring_face[of_ring[:-1][same]]
    keep = (a != b).any(axis=1)
    a, b, face = a[keep], b[keep], face[keep]
    # The same segment appears once per side, in either direction: orient, sort, pair up.
    flip = (a[:, 0] > b[:, 0]) | ((a[:, 0] == b[:, 0]) & (a[:, 1] > b[:, 1]))
    p = np.where(flip[:, None], b, a)
    q = np.where(flip[:, None], a, b)
    order = np.lexsort((q[:, 1], q[:, 0], p[:, 1], p[:, 0]))
    p, q, face = p[order], q[order], face[order]
    repeat = np.zeros(len(p), dtype=bool)
    repeat[1:] = (p[1:] == p[:-1]).all(axis=1) & (q[1:] == q[:-1]).all(axis=1)
    first = np.flatnonzero(~repeat)
    second = first + 1
    paired = second < len(p)
    paired[paired] = repeat[second[paired]]
    right = np.full(len(first), -1, dtype=np.int64)
    right[paired] = face[second[paired]]
    return np.stack([p[first], q[first]], axis=1), face[first], right


def _dissolve(
    area: Polygon | MultiPolygon, tiles: _Tiles, face_group: NDArray[np.int64], n_groups: int
) -> NDArray[np.object_]:
    """One MultiPolygon per group, from one polygonize of the edges between groups.

    An edge between two faces of the same group is interior to a grid: dropping those and
    polygonizing the rest yields the grids' polygons directly, with exactly shared edges
    (a valid coverage), with no union per grid.
    """
    outer = tiles.right < 0
    between = ~outer
    between[between] = face_group[tiles.left[between]] != face_group[tiles.right[between]]
    lines = np.asarray(shapely.linestrings(tiles.segments[outer | between]))
    polygons = np.asarray(shapely.get_parts(shapely.polygonize(lines)))
    polygons = _faces_inside(area, polygons)
    xy = shapely.get_coordinates(shapely.point_on_surface(polygons))
    group = face_group[_locate(tiles.faces, xy)]
    order = np.argsort(group, kind="stable")
    result = np.asarray(shapely.multipolygons(polygons[order], indices=group[order]), dtype=object)
    if len(result) != n_groups:
        raise AssertionError(f"{len(result)} grid shapes for {n_groups} groups")
    return result


def _as_multipolygon(geom: BaseGeometry) -> MultiPolygon:
    polys = [p for p in shapely.get_parts(geom) if isinstance(p, Polygon) and not p.is_empty]
    return MultiPolygon(polys)


# --- result -----------------------------------------------------------------------------


def _result(
    geoms: NDArray[np.object_],
    building_group: NDArray[np.int64],
    households: NDArray[np.int64],
    building_index: pd.Index,
    high_rise_groups: set[int],
    *,
    code_prefix: str,
    name_prefix: str,
    min_households: int,
    max_households: int,
    detached: bool = False,
) -> GridGeneration:
    n_groups = len(geoms)
    if n_groups > _MAX_SEQUENCE:
        raise InvalidInput(
            f"{n_groups} grids do not fit a 3-digit sequence under {code_prefix}: "
            "split the area into smaller communities first",
            details={"code_prefix": code_prefix, "grids": n_groups},
        )
    group_households = np.bincount(building_group, weights=households, minlength=n_groups).astype(
        np.int64
    )
    group_buildings = np.bincount(building_group, minlength=n_groups)
    # Number along a Hilbert curve so neighbouring grids get neighbouring numbers.
    centres = shapely.get_coordinates(shapely.point_on_surface(np.asarray(geoms, dtype=object)))
    by_sequence = np.argsort(_hilbert(centres), kind="stable")  # group at each position
    sequence_of_group = np.empty(n_groups, dtype=np.int64)
    sequence_of_group[by_sequence] = np.arange(1, n_groups + 1)

    counts = group_households[by_sequence]
    flags = np.full(n_groups, None, dtype=object)
    flags[counts < min_households] = FLAG_UNDER_MIN
    flags[counts > max_households] = FLAG_OVER_MAX
    tower = np.isin(by_sequence, sorted(high_rise_groups))
    flags[tower] = FLAG_HIGH_RISE
    if detached and n_groups > 1:
        ordered = np.asarray(geoms, dtype=object)[by_sequence]
        left, right = shapely.STRtree(ordered).query(ordered, predicate="intersects")
        touching = np.bincount(left[left != right], minlength=n_groups) > 0
        flags[~touching & (flags != None)] = FLAG_DETACHED  # noqa: E711 (elementwise)
    reasons = [
        _reason(f, int(c), min_households, max_households)
        for f, c in zip(flags, counts, strict=True)
    ]
    codes = np.asarray([f"{code_prefix}{seq:03d}" for seq in range(1, n_groups + 1)], dtype=object)
    # Built from a plain frame: handing the CRS to GeoDataFrame() costs a pyproj round trip.
    table = pd.DataFrame(
        {
            "code": codes,
            "name": [f"{name_prefix}第{seq}网格" for seq in range(1, n_groups + 1)],
            "households": counts,
            "building_count": group_buildings[by_sequence].astype(np.int64),
            "flag": flags,
            "reason": reasons,
            "geometry": gpd.array.from_shapely(
                np.asarray(geoms, dtype=object)[by_sequence], crs=_WGS84
            ),
        }
    )
    grids = gpd.GeoDataFrame(table, geometry="geometry")
    code_of_group = codes[sequence_of_group - 1]
    assignment = pd.Series(
        code_of_group[building_group] if len(building_group) else [],
        index=building_index,
        name="grid_code",
        dtype=object,
    )
    regular = counts[~tower]
    return GridGeneration(
        grids=grids,
        assignment=assignment,
        report=_report(
            regular,
            flags,
            int(households.sum()),
            len(households),
            min_households,
            max_households,
        ),
    )


def _reason(flag: str | None, households: int, lo: int, hi: int) -> str | None:
    """Why a grid is out of range, in words a planner can accept or act on."""
    if flag == FLAG_HIGH_RISE:
        return f"one building holds more than {hi} households ({households} in the grid)"
    if flag == FLAG_DETACHED:
        return (
            f"alone on a separate part of the area with {households} households: a grid of "
            f"{lo}–{hi} there would be in pieces"
        )
    if flag == FLAG_UNDER_MIN:
        return f"{households} households, under {lo}: too few buildings to reach the range"
    if flag == FLAG_OVER_MAX:
        return f"{households} households, over {hi}: the buildings cannot be split in range"
    return None


def _hilbert(xy: NDArray[np.float64], order: int = 16) -> NDArray[np.int64]:
    """Position of each point along a Hilbert curve over the points' bounding box."""
    if len(xy) < 2:
        return np.zeros(len(xy), dtype=np.int64)
    side = 1 << order
    span = np.ptp(xy, axis=0)
    scaled = (xy - xy.min(axis=0)) / np.where(span > 0, span, 1) * (side - 1)
    x, y = scaled[:, 0].astype(np.int64), scaled[:, 1].astype(np.int64)
    d = np.zeros(len(xy), dtype=np.int64)
    s = side // 2
    while s > 0:
        rx = (x & s) > 0
        ry = (y & s) > 0
        d += s * s * ((3 * rx) ^ ry)
        # Rotate the quadrant so the curve stays continuous.
        flip = ~ry & rx
        x = np.where(flip, side - 1 - x, x)
        y = np.where(flip, side - 1 - y, y)
        x, y = np.where(~ry, y, x), np.where(~ry, x, y)
        s //= 2
    return d


def _report(
    regular: NDArray[np.int64],
    flags: NDArray[np.object_],
    households: int,
    buildings: int,
    lo: int,
    hi: int,
) -> dict[str, Any]:
    histogram: dict[str, int] = {}
    if len(regular):
        for start in range(int(regular.min()) // 5 * 5, int(regular.max()) + 1, 5):
            in_band = (regular >= start) & (regular < start + 5)
            histogram[f"{start}–{start + 4}"] = int(in_band.sum())
    return {
        "count": len(flags),
        "households": households,
        "buildings": buildings,
        "range": (lo, hi),
        "min": int(regular.min()) if len(regular) else 0,
        "max": int(regular.max()) if len(regular) else 0,
        "mean": float(regular.mean()) if len(regular) else 0.0,
        "median": float(np.median(regular)) if len(regular) else 0.0,
        "histogram": histogram,
        "out_of_range": int(((flags == FLAG_UNDER_MIN) | (flags == FLAG_OVER_MAX)).sum()),
        "high_rises": int((flags == FLAG_HIGH_RISE).sum()),
    }


def grid_attributes(grids: gpd.GeoDataFrame) -> pd.Series:
    """Each generated grid's attributes: its generator flag and, for a flagged grid (a
    high-rise over the range, a grid the buildings cannot bring into range), the accepted
    exception to the household rule with the generator's reason, so the import, every
    export and every re-import of it list it as an exception rather than an error."""
    reasons = grids["reason"] if "reason" in grids.columns else pd.Series(None, index=grids.index)

    def one(flag: Any, reason: Any) -> dict[str, Any]:
        if not isinstance(flag, str) or not flag:
            return {}
        why = reason if isinstance(reason, str) and reason else f"generator flag {flag}"
        return {"flag": flag, "exception": EXCEPTION_HOUSEHOLDS, "exception_reason": why}

    return pd.Series(
        [one(f, r) for f, r in zip(grids["flag"], reasons, strict=True)],
        index=grids.index,
        dtype=object,
    )
