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
   building counts), every step checks the household range itself. When no straight cut
   works, a few units are split by trying every subset, and a last repair moves single
   buildings between touching groups (or merges a group into a touching high-rise grid).
3. Polygons. A block whose buildings all fall in one group goes to that group whole; a
   block shared by several groups is divided by a Voronoi tessellation of its buildings;
   an empty block joins the neighbour it shares the longest edge with. All boundaries are
   then noded together and polygonized, so adjacent grids share exactly the same edges (a
   valid coverage), and the faces are dissolved per group.

Pure functions: no database, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from gridmap.errors import InvalidInput

FLAG_HIGH_RISE = "high_rise"
FLAG_UNDER_MIN = "under_min"
FLAG_OVER_MAX = "over_max"

# A cut inside a road block costs as much as this share of the allowed deviation from the
# target mean: a street cut that is a little less balanced beats a perfect cut through a block.
_BLOCK_CUT_PENALTY = 0.5
# Infeasible cuts (a side that cannot be split into its grid count within the range) must
# lose against every feasible one.
_INFEASIBLE_WEIGHT = 100.0
_METRES_PER_DEGREE_LAT = 110_574.0
_METRES_PER_DEGREE_LON_EQUATOR = 111_320.0
_MAX_SEQUENCE = 999
# Up to this many units, a split no straight cut can make is searched among all subsets
# (2^(n-1) candidates, vectorised: 32,768 at most).
_SUBSET_SEARCH_MAX_UNITS = 16


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

    unit_group = _group_units(
        unit_xy,
        unit_households,
        unit_block,
        min_households=min_households,
        max_households=max_households,
        rng=np.random.default_rng(seed),
    )
    high_rise_groups = set(unit_group[unit_households > max_households].tolist())
    n_groups = int(unit_group.max()) + 1 if len(unit_group) else 1

    geoms = _tessellate(area, blocks, unit_xy, unit_block, unit_group, n_groups)
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
    households = buildings["households"]
    bad = buildings.index[households.isna() | (households < 0)].tolist()
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
    *,
    min_households: int,
    max_households: int,
    rng: np.random.Generator,
) -> NDArray[np.int64]:
    """A group number per unit: high-rises alone, the rest by balanced bisection."""
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
        return group
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
    _repair(
        group,
        unit_xy,
        metric,
        unit_households,
        unit_block,
        set(range(len(high))),
        min_households=min_households,
        max_households=max_households,
    )
    # Merges leave gaps in the numbering: renumber 0..n-1.
    return np.unique(group, return_inverse=True)[1].reshape(-1).astype(np.int64)


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
    unit_xy: NDArray[np.float64],
    metric: NDArray[np.float64],
    households: NDArray[np.int64],
    block: NDArray[np.int64],
    absorbers: set[int],
    *,
    min_households: int,
    max_households: int,
) -> None:
    """Move buildings between neighbouring groups until every group is in range.

    A straight cut cannot always hit the range (eight buildings of 0–11 households with a
    total of 65 may have no prefix of 30–35 in any direction), though some subset does.
    A building moves only to a group it touches (Delaunay neighbours), only if the move
    brings the two groups closer to the range, and only if the giving group stays
    connected. High-rise groups (`absorbers`) are already over the maximum: they may take
    in a small neighbour that fits nowhere else, but never give. A group still too small
    then merges whole into a neighbour it fits with. Changes `group` in place.
    """
    n = len(group)
    if n < 3 or len(np.unique(group)) < 2:
        return
    lo, hi = min_households, max_households
    ids, inverse = np.unique(group, return_inverse=True)
    sums = np.bincount(inverse.reshape(-1), weights=households)
    totals = {int(g): int(t) for g, t in zip(ids, sums, strict=True)}

    def miss(g: int, total: int) -> int:
        return 0 if g in absorbers else max(0, lo - total, total - hi)

    if not any(miss(g, t) for g, t in totals.items()):
        return  # the common case: the bisection met the range everywhere
    neighbours = _delaunay_neighbours(unit_xy)

    for _ in range(4 * len(totals)):
        bad = [g for g, t in totals.items() if miss(g, t)]
        if not bad:
            return
        changed = False
        for g in bad:
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
            if moved or _merge_into_neighbour(g, members, group, totals, neighbours, absorbers, hi):
                changed = True
        if not changed:
            return


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
    absorbers: set[int],
    hi: int,
) -> bool:
    """Merge a group out of range into a touching group it fits with, else a high-rise.

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
    towers = sorted(h for h in touching if h in absorbers)
    for h in fits + towers:
        group[members] = h
        totals[h] += totals.pop(g)
        return True
    return False


def _delaunay_neighbours(xy: NDArray[np.float64]) -> list[list[int]]:
    """For each point, the indices of the points it shares a Delaunay edge with."""
    edges = shapely.get_parts(shapely.delaunay_triangles(shapely.multipoints(xy), only_edges=True))
    ends = shapely.get_coordinates(edges).reshape(-1, 2, 2)
    # Edge ends are input coordinates exactly: find them by (x, y) with a sorted search.
    keys = xy[:, 0] + 1j * xy[:, 1]
    order = np.argsort(keys)
    a = order[np.searchsorted(keys[order], ends[:, 0, 0] + 1j * ends[:, 0, 1])]
    b = order[np.searchsorted(keys[order], ends[:, 1, 0] + 1j * ends[:, 1, 1])]
    neighbours: list[list[int]] = [[] for _ in range(len(xy))]
    for i, j in zip(a.tolist(), b.tolist(), strict=True):
        if i != j:
            neighbours[i].append(j)
            neighbours[j].append(i)
    return neighbours


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


# --- polygons ---------------------------------------------------------------------------


def _tessellate(
    area: Polygon | MultiPolygon,
    blocks: NDArray[np.object_],
    unit_xy: NDArray[np.float64],
    unit_block: NDArray[np.int64],
    unit_group: NDArray[np.int64],
    n_groups: int,
) -> list[MultiPolygon]:
    """One MultiPolygon per group, together tiling `area` with exactly shared edges."""
    if n_groups <= 1:
        return [_as_multipolygon(area)]
    pieces: list[BaseGeometry] = []
    piece_group: list[int] = []
    empty_blocks: list[int] = []
    for b, block in enumerate(blocks):
        in_block = np.flatnonzero(unit_block == b)
        groups = np.unique(unit_group[in_block])
        if len(groups) == 0:
            empty_blocks.append(b)
        elif len(groups) == 1:
            pieces.append(block)
            piece_group.append(int(groups[0]))
        else:
            for g, region in _voronoi_regions(block, unit_xy[in_block], unit_group[in_block]):
                pieces.append(shapely.intersection(block, region))
                piece_group.append(g)
    pieces_arr = np.asarray(pieces, dtype=object)
    groups_arr = np.asarray(piece_group, dtype=np.int64)
    if empty_blocks:
        pieces_arr, groups_arr = _attach_empty_blocks(blocks[empty_blocks], pieces_arr, groups_arr)

    # Node every boundary together and polygonize: the faces share identical edges, so
    # their unions per group form a valid coverage (clipping each piece alone would not).
    linework = shapely.union_all(shapely.boundary(pieces_arr))
    faces = np.asarray(shapely.get_parts(shapely.polygonize(shapely.get_parts(linework))))
    faces = _faces_inside(area, faces)
    face_xy = shapely.get_coordinates(shapely.point_on_surface(faces))
    face_group = groups_arr[_locate(pieces_arr, face_xy)]
    result: list[MultiPolygon] = []
    for g in range(n_groups):
        mine = faces[face_group == g]
        merged = shapely.coverage_union_all(mine) if len(mine) else MultiPolygon()
        result.append(_as_multipolygon(merged))
    return result


def _voronoi_regions(
    block: BaseGeometry, xy: NDArray[np.float64], group: NDArray[np.int64]
) -> list[tuple[int, BaseGeometry]]:
    """Voronoi cells of the sites in `block`, dissolved per group (not yet clipped)."""
    cells = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(xy), extend_to=block, ordered=True)
    )
    out = []
    for g in np.unique(group):
        out.append((int(g), shapely.coverage_union_all(cells[group == g])))
    return out


def _attach_empty_blocks(
    empty: NDArray[np.object_], pieces: NDArray[np.object_], groups: NDArray[np.int64]
) -> tuple[NDArray[np.object_], NDArray[np.int64]]:
    """Give each block without buildings to the neighbour it shares the longest edge with."""
    pending = list(empty)
    while pending:
        tree = shapely.STRtree(pieces)
        still: list[BaseGeometry] = []
        new_pieces: list[BaseGeometry] = []
        new_groups: list[int] = []
        for block in pending:
            near = tree.query(block, predicate="intersects")
            shared = (
                shapely.length(shapely.intersection(shapely.boundary(pieces[near]), block))
                if len(near)
                else np.zeros(0)
            )
            if len(near) and shared.max() > 0:
                new_pieces.append(block)
                new_groups.append(int(groups[near[int(np.argmax(shared))]]))
            else:
                still.append(block)
        if not new_pieces:
            # Islands out of reach of every building (e.g. a separate part of the area):
            # the nearest piece takes them.
            for block in still:
                nearest = tree.query_nearest(block, all_matches=False)
                new_pieces.append(block)
                new_groups.append(int(groups[nearest[0]]))
            still = []
        pieces = np.concatenate([pieces, np.asarray(new_pieces, dtype=object)])
        groups = np.concatenate([groups, np.asarray(new_groups, dtype=np.int64)])
        pending = still
    return pieces, groups


def _as_multipolygon(geom: BaseGeometry) -> MultiPolygon:
    polys = [p for p in shapely.get_parts(geom) if isinstance(p, Polygon) and not p.is_empty]
    return MultiPolygon(polys)


# --- result -----------------------------------------------------------------------------


def _result(
    geoms: Sequence[MultiPolygon],
    building_group: NDArray[np.int64],
    households: NDArray[np.int64],
    building_index: pd.Index,
    high_rise_groups: set[int],
    *,
    code_prefix: str,
    name_prefix: str,
    min_households: int,
    max_households: int,
) -> GridGeneration:
    n_groups = len(geoms)
    if n_groups > _MAX_SEQUENCE:
        raise InvalidInput(
            f"{n_groups} grids do not fit a 3-digit sequence under {code_prefix}: "
            "split the area into smaller communities first",
            details={"code_prefix": code_prefix, "grids": n_groups},
        )
    group_households = np.bincount(building_group, weights=households, minlength=n_groups)
    group_buildings = np.bincount(building_group, minlength=n_groups)
    # Number along a Hilbert curve so neighbouring grids get neighbouring numbers.
    centres = gpd.GeoSeries(shapely.point_on_surface(np.asarray(geoms, dtype=object)))
    hilbert = centres.hilbert_distance() if n_groups > 1 else pd.Series([0])
    sequence_of_group = np.empty(n_groups, dtype=np.int64)
    sequence_of_group[np.argsort(hilbert.to_numpy(), kind="stable")] = np.arange(1, n_groups + 1)

    rows = []
    for g in np.argsort(sequence_of_group):
        seq = int(sequence_of_group[g])
        count = int(group_households[g])
        if g in high_rise_groups:
            flag: str | None = FLAG_HIGH_RISE
        elif count < min_households:
            flag = FLAG_UNDER_MIN
        elif count > max_households:
            flag = FLAG_OVER_MAX
        else:
            flag = None
        rows.append(
            {
                "code": f"{code_prefix}{seq:03d}",
                "name": f"{name_prefix}第{seq}网格",
                "households": count,
                "building_count": int(group_buildings[g]),
                "flag": flag,
                "geometry": geoms[g],
            }
        )
    grids = gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")
    code_of_group = np.empty(n_groups, dtype=object)
    code_of_group[np.argsort(sequence_of_group)] = grids["code"].to_numpy()
    assignment = pd.Series(
        code_of_group[building_group] if len(building_group) else [],
        index=building_index,
        name="grid_code",
        dtype=object,
    )
    return GridGeneration(
        grids=grids,
        assignment=assignment,
        report=_report(
            grids, int(households.sum()), len(households), min_households, max_households
        ),
    )


def _report(
    grids: gpd.GeoDataFrame, households: int, buildings: int, lo: int, hi: int
) -> dict[str, Any]:
    regular = grids.loc[grids["flag"] != FLAG_HIGH_RISE, "households"].to_numpy()
    histogram: dict[str, int] = {}
    if len(regular):
        for start in range(int(regular.min()) // 5 * 5, int(regular.max()) + 1, 5):
            in_band = (regular >= start) & (regular < start + 5)
            histogram[f"{start}–{start + 4}"] = int(in_band.sum())
    return {
        "count": len(grids),
        "households": households,
        "buildings": buildings,
        "range": (lo, hi),
        "min": int(regular.min()) if len(regular) else 0,
        "max": int(regular.max()) if len(regular) else 0,
        "mean": float(regular.mean()) if len(regular) else 0.0,
        "median": float(np.median(regular)) if len(regular) else 0.0,
        "histogram": histogram,
        "out_of_range": int(grids["flag"].isin([FLAG_UNDER_MIN, FLAG_OVER_MAX]).sum()),
        "high_rises": int((grids["flag"] == FLAG_HIGH_RISE).sum()),
    }
