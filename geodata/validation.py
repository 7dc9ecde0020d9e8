"""Validate a boundary layer against the planners' rules and report each problem and where it is.

Checks: geometry (invalid with GEOS's reason, wrong type, empty), codes (missing, duplicate),
hierarchy (unknown parent, child outside its parent beyond a tolerance), coverage (overlaps
between siblings, gaps inside a parent that its children must tile), slivers, and household
counts of basic grids (dedicated grids are exempt, and a grid that records an accepted
exception with its reason is listed as such, not as an error). Overlays run in lon/lat, where
the edges were drawn straight; every length and area reported is measured in a local
Lambert azimuthal equal-area projection centred on the data (metres), after cutting each edge
into pieces of at most ~10 m so the projected shape follows the lon/lat edge (projecting only
the vertices of a 20 km edge moves its middle by metres and turns a hairline into a "gap" of
thousands of m²). A gap, overlap or part outside a parent under ROUNDING_AREA_M2 in area or
ROUNDING_WIDTH_M in width is rounding, not an error (docs/boundary-data.md). Geometry work is
vectorised with shapely 2 (STRtree, coverage functions); nothing compares features pairwise
in Python.
"""

from __future__ import annotations

import math
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyproj
import shapely

from geodata.problems import (
    Problem,
    Severity,
    ValidationReport,
    area_text,
    length_text,
    where_box,
    where_point,
    where_reason,
)
from gridmap.errors import InvalidCoordinates, InvalidInput

LAYERS = (
    "county",
    "township",
    "community",
    "grid",
    "micro_grid",
    "enforcement_zone",
    "dedicated_grid",
)
# The layer each layer's parent_code points into.
PARENT_LAYER = {
    "township": "county",
    "community": "township",
    "grid": "community",
    "dedicated_grid": "community",
    "micro_grid": "grid",
    "enforcement_zone": "county",
}
# Siblings that together must not overlap: dedicated grids (a school, a hospital) take their
# place in the community's tiling next to the basic grids.
FAMILY = {"dedicated_grid": "grid"}
# Layers whose family must tile its parent without gaps (无缝覆盖). Micro-grids are an
# optional subdivision and enforcement zones need not cover a whole county.
TILING_FAMILIES = {"township", "community", "grid"}

# Below either of these a gap, overlap or part outside a parent is rounding, not an error:
# coordinates rounded to 7 decimals (about 1 cm) leave hairlines of a few millimetres.
ROUNDING_AREA_M2 = 0.01
ROUNDING_WIDTH_M = 0.01
# Edges are cut to this length (degrees, ~10 m) before projecting for a measurement.
_MEASURE_STEP_DEG = 1e-4
# An accepted exception to the household rule: `exception` names the rule, and
# `exception_reason` says why (both columns, or keys of the area's attributes).
EXCEPTION_HOUSEHOLDS = "households"

Floats = npt.NDArray[np.float64]


def validate_areas(
    gdf: gpd.GeoDataFrame,
    *,
    parents: gpd.GeoDataFrame | None = None,
    layer: str | None = None,
    households_range: tuple[int, int] = (30, 50),
    containment_tolerance_m: float = 1.0,
    gap_min_area_m2: float = ROUNDING_AREA_M2,
    sliver_ratio: float = 0.05,
    gap_min_width_m: float = ROUNDING_WIDTH_M,
) -> ValidationReport:
    """Validate areas (standard columns, EPSG:4326, normalised) and report every problem.

    `layer` is used for rows without a `layer` column value. Parents come from `parents` or
    from rows of the same frame (a child's `parent_code` → a parent's `code`). A sliver is a
    polygon part whose Polsby-Popper compactness 4πA/P² is below `sliver_ratio` (a 1 x 20
    rectangle is 0.14, 1 x 100 is 0.03). Gaps and overlaps smaller than `gap_min_area_m2` or
    narrower than `gap_min_width_m` are rounding, not errors. A grid outside the household
    range that records an accepted exception (`exception` = "households" with an
    `exception_reason`, as columns or in its `attributes`) goes to `report.exceptions`.
    """
    check = _Checker(gdf, parents, layer)
    check.check_geometry()
    check.check_codes()
    check.check_households(households_range)
    if check.any_good:
        check.check_slivers(sliver_ratio)
        check.check_hierarchy(containment_tolerance_m)
        check.check_overlaps(gap_min_area_m2, gap_min_width_m)
        check.check_gaps(gap_min_area_m2, gap_min_width_m)
    order = {"error": 0, "warning": 1}
    problems = sorted(
        check.problems, key=lambda p: (order[p.severity], p.kind, p.code or "", p.message)
    )
    return ValidationReport(
        problems=problems, features=len(gdf), skipped=check.skipped, exceptions=check.exceptions
    )


class _Checker:
    """The state one validation run shares between its checks."""

    def __init__(
        self, gdf: gpd.GeoDataFrame, parents: gpd.GeoDataFrame | None, layer: str | None
    ) -> None:
        if gdf.crs is not None and gdf.crs.to_epsg() != 4326:
            raise InvalidInput("validate_areas needs WGS84 (EPSG:4326) input; normalise it first")
        self.problems: list[Problem] = []
        self.skipped: list[str] = []
        self.n = len(gdf)
        self.geoms = gdf.geometry.to_numpy()
        self.codes = _column(gdf, "code")
        self.names = _column(gdf, "name")
        self.parent_codes = _column(gdf, "parent_code")
        self.kinds = _column(gdf, "kind")
        self.exception_rules, self.exception_reasons = _exceptions(gdf)
        self.exceptions: list[dict[str, Any]] = []
        layers = _column(gdf, "layer")
        if any(v is None for v in layers) and layer is None:
            raise InvalidInput(
                "validate_areas needs to know each feature's layer: give the data a `layer` "
                f"column or pass layer=... (one of {', '.join(LAYERS)})"
            )
        self.layers = [v if v is not None else layer for v in layers]
        self.households = (
            pd.to_numeric(gdf["households"], errors="coerce").to_numpy(dtype=float)
            if "households" in gdf.columns
            else np.full(self.n, np.nan)
        )
        self.parents = parents
        self.good = np.zeros(self.n, dtype=bool)
        # Rows that stick out of their parent or may overlap a sibling: the cheap area
        # test for gaps does not hold for their parents.
        self.suspect = np.zeros(self.n, dtype=bool)
        self.any_good = False
        self._metric: pyproj.Transformer | None = None

    # --- helpers ------------------------------------------------------------------------

    def add(
        self,
        i: int | None,
        kind: str,
        message: str,
        where: dict[str, list[float]],
        severity: Severity = "error",
        *,
        layer: str | None = None,
        code: str | None = None,
        name: str | None = None,
        measures: dict[str, float] | None = None,
    ) -> None:
        if i is not None:
            layer, code, name = self.layers[i], self.codes[i], self.names[i]
        self.problems.append(
            Problem(kind, layer, code, name, message, where, severity, measures or {})
        )

    def who(self, i: int) -> str:
        return f"{self.layers[i]} {self.codes[i] or '(no code)'}"

    def to_metres(self, geoms: Any) -> Any:
        """Lon/lat geometry in the local metric projection, its edges first cut to ~10 m so
        the projected shape follows the lon/lat straight edges (as stored and as drawn)."""
        dense = shapely.segmentize(geoms, _MEASURE_STEP_DEG)
        return self._project(dense, pyproj.enums.TransformDirection.FORWARD)

    def from_metres(self, geoms: Any) -> Any:
        return self._project(geoms, pyproj.enums.TransformDirection.INVERSE)

    def _project(self, geoms: Any, direction: pyproj.enums.TransformDirection) -> Any:
        assert self._metric is not None
        transformer = self._metric

        def fn(c: Floats) -> Floats:
            x, y = transformer.transform(c[:, 0], c[:, 1], direction=direction)
            return np.column_stack([x, y])

        return shapely.transform(geoms, fn)

    # --- checks -------------------------------------------------------------------------

    def check_geometry(self) -> None:
        g = self.geoms
        missing = shapely.is_missing(g) | shapely.is_empty(g)
        types = shapely.get_type_id(g)
        polygonal = np.isin(
            types, [shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON]
        )
        valid = shapely.is_valid(g)
        for i in np.flatnonzero(missing).tolist():
            self.add(i, "empty_geometry", "has no geometry (empty)", {})
        for i in np.flatnonzero(~missing & ~polygonal).tolist():
            self.add(
                i,
                "wrong_geometry_type",
                f"is a {g[i].geom_type}, but areas must be polygons",
                where_box(g[i]),
            )
        for i in np.flatnonzero(~missing & polygonal & ~valid).tolist():
            reason = str(shapely.is_valid_reason(g[i]))
            self.add(
                i,
                "invalid_geometry",
                f"invalid geometry: {reason} (repair it, or import with --fix-invalid)",
                where_reason(reason, g[i]),
            )
        for i, lyr in enumerate(self.layers):
            if lyr not in LAYERS:
                self.add(
                    i,
                    "unknown_layer",
                    f"layer {lyr!r} is not one of {', '.join(LAYERS)}",
                    where_box(g[i]),
                )
        known_layer = np.array([lyr in LAYERS for lyr in self.layers], dtype=bool)
        self.good = ~missing & polygonal & valid & known_layer
        self.any_good = bool(self.good.any())
        if not self.any_good:
            return
        # One projection for every measurement: Lambert azimuthal equal-area at the centre
        # (areas exact, lengths within 1e-5 over a county). Only measurements use it:
        # overlay operations stay in lon/lat, where the edges were drawn straight.
        bounds = shapely.total_bounds(g[self.good])
        if not (-180 <= bounds[0] <= bounds[2] <= 180 and -90 <= bounds[1] <= bounds[3] <= 90):
            raise InvalidCoordinates(
                f"the areas' coordinates (x {bounds[0]:.6g} to {bounds[2]:.6g}, "
                f"y {bounds[1]:.6g} to {bounds[3]:.6g}) are not longitudes and latitudes: "
                "read the file with its real coordinate system (--crs)",
                details={"bounds": [float(b) for b in bounds]},
            )
        lon0, lat0 = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
        laea = pyproj.CRS.from_proj4(
            f"+proj=laea +lat_0={lat0} +lon_0={lon0} +datum=WGS84 +units=m +no_defs"
        )
        self._metric = pyproj.Transformer.from_crs("EPSG:4326", laea, always_xy=True)
        self.metric = np.full(self.n, None, dtype=object)
        self.metric[self.good] = self.to_metres(g[self.good])

    def check_codes(self) -> None:
        seen: dict[str, list[int]] = {}
        for i, code in enumerate(self.codes):
            if code is None:
                self.add(i, "missing_code", "has no code", where_box(self.geoms[i]))
            else:
                seen.setdefault(code, []).append(i)
        for code, rows in seen.items():
            if len(rows) > 1:
                where = where_box(shapely.union_all([self.geoms[i] for i in rows if self.geoms[i]]))
                self.add(
                    rows[0],
                    "duplicate_code",
                    f"code {code} is used by {len(rows)} features (rows "
                    f"{', '.join(str(r + 1) for r in rows)}); codes must be unique",
                    where,
                )

    def check_households(self, households_range: tuple[int, int]) -> None:
        low, high = households_range
        for i, lyr in enumerate(self.layers):
            if lyr != "grid" or self.kinds[i] == "dedicated":
                continue  # the household rule is for basic grids; dedicated grids are exempt
            hh = self.households[i]
            if math.isnan(hh):
                self.add(
                    i,
                    "households_missing",
                    f"has no household count (grids should hold {low}-{high})",
                    where_point(self.geoms[i]),
                    "warning",
                )
            elif not low <= hh <= high and self.exception_rules[i] == EXCEPTION_HOUSEHOLDS:
                self.exceptions.append(
                    {
                        "layer": lyr,
                        "code": self.codes[i],
                        "name": self.names[i],
                        "rule": EXCEPTION_HOUSEHOLDS,
                        "households": int(hh),
                        "reason": self.exception_reasons[i],
                    }
                )
            elif not low <= hh <= high:
                self.add(
                    i,
                    "households_out_of_range",
                    f"has {int(hh)} households; a grid should hold {low}-{high}",
                    where_point(self.geoms[i]),
                )

    def check_slivers(self, ratio: float) -> None:
        idx = np.flatnonzero(self.good)
        parts, owner = shapely.get_parts(self.metric[idx], return_index=True)
        parts_lonlat = shapely.get_parts(self.geoms[idx])
        area = shapely.area(parts)
        perimeter = shapely.length(parts)
        with np.errstate(divide="ignore", invalid="ignore"):
            compact = 4 * math.pi * area / perimeter**2
        for k in np.flatnonzero(compact < ratio).tolist():
            i = int(idx[owner[k]])
            width = _width(area[k], perimeter[k])
            self.add(
                i,
                "sliver",
                f"has a sliver: a thin part about {width:.1f} m wide and "
                f"{perimeter[k] / 2:.0f} m long ({area[k]:.0f} m²)",
                where_box(parts_lonlat[k]),
                "warning",
            )

    def _parent_pool(self) -> tuple[dict[str, int], list[str | None], npt.NDArray[Any]]:
        """Parents by code: separately given ones first, then rows of the layer itself.
        Returns code → pool index, each pool entry's layer, and its geometry (or None);
        names go to self.pool_names.
        """
        self.pool_names: list[str | None] = []
        pool_layers: list[str | None] = []
        pool_geoms: list[Any] = []
        by_code: dict[str, int] = {}
        if self.parents is not None and len(self.parents):
            p = self.parents
            p_codes = _column(p, "code")
            p_layers = _column(p, "layer")
            p_names = _column(p, "name")
            pg = p.to_crs("EPSG:4326").geometry.to_numpy() if p.crs else p.geometry.to_numpy()
            usable = ~(shapely.is_missing(pg) | shapely.is_empty(pg)) & shapely.is_valid(pg)
            pm = np.where(usable, pg, None)
            for j, code in enumerate(p_codes):
                if code is not None and code not in by_code:
                    by_code[code] = len(pool_geoms)
                    pool_layers.append(p_layers[j])
                    self.pool_names.append(p_names[j])
                    pool_geoms.append(pm[j])
        for i, code in enumerate(self.codes):
            if code is not None and code not in by_code:
                by_code[code] = len(pool_geoms)
                pool_layers.append(self.layers[i])
                self.pool_names.append(self.names[i])
                pool_geoms.append(self.geoms[i] if self.good[i] else None)
        geoms = np.empty(len(pool_geoms), dtype=object)
        geoms[:] = pool_geoms
        return by_code, pool_layers, geoms

    def check_hierarchy(self, tolerance_m: float) -> None:
        by_code, pool_layers, pool_geoms = self._parent_pool()
        self.pool_by_code, self.pool_layers, self.pool_geoms = by_code, pool_layers, pool_geoms
        present_layers = set(pool_layers)
        given = self.parents is not None
        child_rows: list[int] = []
        parent_rows: list[int] = []
        # Parents with a child whose geometry is unusable: their gaps cannot be judged.
        self.incomplete_parents: dict[int, int] = {}
        not_checked: set[str] = set()
        for i in range(self.n):
            lyr = self.layers[i]
            expected = PARENT_LAYER.get(lyr or "")
            if expected is None:
                continue
            checkable = given or expected in present_layers
            pc = self.parent_codes[i]
            if pc is None:
                if checkable:
                    self.add(
                        i,
                        "missing_parent",
                        f"has no parent code (which {expected} is it in?)",
                        where_box(self.geoms[i]),
                    )
                continue
            j = by_code.get(pc)
            if j is None:
                if checkable:
                    self.add(
                        i,
                        "unknown_parent",
                        f"names parent {pc}, which is not among the {expected} areas given",
                        where_box(self.geoms[i]),
                    )
                else:
                    not_checked.add(f"{lyr} inside {expected}: no {expected} areas were given")
                continue
            if self.good[i] and pool_geoms[j] is not None:
                child_rows.append(i)
                parent_rows.append(j)
            elif not self.good[i]:
                self.incomplete_parents.setdefault(j, i)
        self.skipped.extend(sorted(not_checked))
        self.child_rows = np.asarray(child_rows, dtype=np.intp)
        self.parent_rows = np.asarray(parent_rows, dtype=np.intp)
        if not child_rows:
            return

        children = self.geoms[self.child_rows]
        parents = pool_geoms[self.parent_rows]
        not_inside = np.flatnonzero(~shapely.covers(parents, children))
        self.suspect[self.child_rows[not_inside]] = True
        if not len(not_inside):
            return
        # Measure what lies outside in metres; within the tolerance it is digitising noise.
        outside = self.to_metres(shapely.difference(children[not_inside], parents[not_inside]))
        parents_m = self.to_metres(parents[not_inside])
        for k, piece, parent_m in zip(not_inside.tolist(), outside, parents_m, strict=True):
            parts = shapely.get_parts(piece)
            # One reach per part, so `far` lines up with `parts`; an empty part (covers()
            # failed on floating-point noise alone) reaches nowhere.
            reach = np.array([_reach(part, parent_m) for part in parts], dtype=float)
            area = shapely.area(parts)
            width = np.array(
                [_width(a, p) for a, p in zip(area, shapely.length(parts), strict=True)]
            )
            rounding = (area < ROUNDING_AREA_M2) | (width < ROUNDING_WIDTH_M)
            far = (reach > tolerance_m) & ~rounding
            if not far.any():
                continue
            i, j = int(self.child_rows[k]), int(self.parent_rows[k])
            far_part = self.from_metres(shapely.union_all(parts[far]))
            self.add(
                i,
                "outside_parent",
                f"extends outside its {pool_layers[j]} {self.parent_codes[i]}: "
                f"{area_text(float(area[far].sum()))} up to {reach[far].max():.2f} m beyond "
                f"its edge (tolerance {tolerance_m:g} m)",
                where_box(far_part),
                measures={
                    "area_m2": float(area[far].sum()),
                    "reach_m": float(reach[far].max()),
                },
            )

    def check_overlaps(self, min_area_m2: float, min_width_m: float) -> None:
        families = np.array([FAMILY.get(lyr or "", lyr) for lyr in self.layers], dtype=object)
        for family in sorted({f for f in families[self.good] if f}):
            rows = np.flatnonzero(self.good & (families == family))
            if len(rows) < 2:
                continue
            geoms = self.geoms[rows]
            # GEOS's coverage validator finds overlapping (and mismatched, contained or
            # duplicate) polygons in one pass, faster than testing each touching pair
            # (bench/bench_validation.py); only what it flags needs the intersections below.
            edges = shapely.coverage_invalid_edges(geoms)
            flagged = np.flatnonzero(~shapely.is_empty(edges))
            self.suspect[rows[flagged]] = True
            if not len(flagged):
                continue
            tree = shapely.STRtree(geoms)
            a, b = tree.query(geoms[flagged], predicate="intersects")
            a = flagged[a]
            keep = a != b
            # Order each pair, since a flagged feature may meet its partner from either
            # side; pairs where both were flagged come twice and are made unique.
            lo, hi = np.minimum(a[keep], b[keep]), np.maximum(a[keep], b[keep])
            pairs = np.unique(np.column_stack([lo, hi]), axis=0) if len(lo) else np.empty((0, 2))
            if not len(pairs):
                continue
            a, b = pairs[:, 0].astype(np.intp), pairs[:, 1].astype(np.intp)
            shared = shapely.intersection(geoms[a], geoms[b])
            shared_m = self.to_metres(shared)
            area = shapely.area(shared_m)
            width = _widths(shared_m)
            for k in np.flatnonzero((area >= min_area_m2) & (width >= min_width_m)).tolist():
                i, j = int(rows[a[k]]), int(rows[b[k]])
                self.add(
                    i,
                    "overlap",
                    f"overlaps {self.who(j)} ({self.names[j] or ''}) by "
                    f"{area_text(area[k])} (about {length_text(width[k])} wide); "
                    "areas of one layer must not overlap",
                    where_box(shared[k]),
                    measures={"area_m2": float(area[k]), "width_m": float(width[k])},
                )

    def check_gaps(self, min_area_m2: float, min_width_m: float) -> None:
        if not len(self.child_rows):
            return
        families = [FAMILY.get(self.layers[i] or "", self.layers[i]) for i in self.child_rows]
        tiling = np.array([f in TILING_FAMILIES for f in families], dtype=bool)
        if not tiling.any():
            return
        frame = pd.DataFrame({"child": self.child_rows[tiling], "parent": self.parent_rows[tiling]})
        parent_idx: list[int] = []
        unions: list[Any] = []
        code_of = {j: code for code, j in self.pool_by_code.items()}
        for j, i in sorted(self.incomplete_parents.items()):
            self.skipped.append(
                f"gaps inside {self.pool_layers[j]} {code_of[j]}: {self.who(i)} has no "
                "usable geometry"
            )
        frame = frame[~frame["parent"].isin(list(self.incomplete_parents))]
        if frame.empty:
            return
        # Screen by area: where the children lie inside their parent and do not overlap,
        # the gap area is the parent's area minus theirs. Areas in square degrees are
        # exact for shared straight edges; each parent's own m²/deg² ratio converts them.
        frame = frame.assign(
            child_deg2=shapely.area(self.geoms[frame["child"].to_numpy()]),
            suspect=self.suspect[frame["child"].to_numpy()],
        )
        per_parent = frame.groupby("parent").agg(
            child_deg2=("child_deg2", "sum"), suspect=("suspect", "any")
        )
        idx = per_parent.index.to_numpy(dtype=np.intp)
        parent_deg2 = shapely.area(self.pool_geoms[idx])
        parent_m2 = shapely.area(self.to_metres(self.pool_geoms[idx]))
        with np.errstate(divide="ignore", invalid="ignore"):
            gap_m2 = (parent_deg2 - per_parent["child_deg2"].to_numpy()) * (parent_m2 / parent_deg2)
        needs_union = per_parent["suspect"].to_numpy() | ~(gap_m2 < min_area_m2 / 2)
        frame = frame[frame["parent"].isin(idx[needs_union])]
        for _, group in frame.groupby("parent", sort=True):
            parent_idx.append(int(group["parent"].iloc[0]))
            unions.append(shapely.union_all(self.geoms[group["child"].to_numpy()]))
        if not parent_idx:
            return
        parents = self.pool_geoms[np.asarray(parent_idx, dtype=np.intp)]
        holes = shapely.difference(parents, np.asarray(unions, dtype=object))
        parts, owner = shapely.get_parts(holes, return_index=True)
        parts_m = self.to_metres(parts)
        area = shapely.area(parts_m)
        width = _widths(parts_m)
        for k in np.flatnonzero((area >= min_area_m2) & (width >= min_width_m)).tolist():
            j = parent_idx[owner[k]]
            child_layer = self.layers[int(frame["child"][frame["parent"] == j].iloc[0])]
            self.add(
                None,
                "gap",
                f"has a gap of {area_text(area[k])} (about {length_text(width[k])} wide) "
                f"that no {child_layer} covers; its {child_layer}s must cover it without gaps",
                where_box(parts[k]),
                layer=self.pool_layers[j],
                code=code_of[j],
                name=self.pool_names[j],
                measures={"area_m2": float(area[k]), "width_m": float(width[k])},
            )


# --- small helpers ------------------------------------------------------------------------


def _column(gdf: gpd.GeoDataFrame, name: str) -> list[Any]:
    if name not in gdf.columns:
        return [None] * len(gdf)
    return [None if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA
            else str(v) for v in gdf[name].tolist()]  # fmt: skip


def _reach(part: Any, parent: Any) -> float:
    """How far the farthest vertex of `part` lies from `parent` (0 for an empty part)."""
    coords = shapely.get_coordinates(part)
    if not len(coords):
        return 0.0
    return float(shapely.distance(shapely.points(coords), parent).max())


def _exceptions(gdf: gpd.GeoDataFrame) -> tuple[list[str | None], list[str | None]]:
    """Each row's accepted exception (rule, reason), from columns or from `attributes`.
    An exception without a reason is not accepted."""
    rules = _column(gdf, "exception")
    reasons = _column(gdf, "exception_reason")
    if "attributes" in gdf.columns:
        for i, attrs in enumerate(gdf["attributes"].tolist()):
            if isinstance(attrs, dict):
                rules[i] = rules[i] or _text_or_none(attrs.get("exception"))
                reasons[i] = reasons[i] or _text_or_none(attrs.get("exception_reason"))
    return [r if reasons[i] else None for i, r in enumerate(rules)], reasons


def _text_or_none(value: Any) -> str | None:
    return None if value is None or str(value).strip() == "" else str(value)


def _widths(geoms: Any) -> Floats:
    """The width of each (projected) polygon as a strip: see _width."""
    area = shapely.area(geoms)
    perimeter = shapely.length(geoms)
    return np.array([_width(a, p) for a, p in zip(area, perimeter, strict=True)], dtype=float)


def _width(area: float, perimeter: float) -> float:
    """The width of the rectangle with this area and perimeter (exact for a strip)."""
    if perimeter <= 0:
        return 0.0
    disc = perimeter * perimeter - 16 * area
    if disc < 0:  # rounder than a square: call it the side of the square of that area
        return math.sqrt(area)
    return (perimeter - math.sqrt(disc)) / 4
