"""Routing by coordinates: a point → its grid, chain of areas, responsible team and decision.

`Router` holds the snapshot of every county's active boundary version (the areas valid in
the latest published version) and swaps it atomically when a version is activated
(`reload()`, called on PostgreSQL NOTIFY by the API). Questions about the past (`at=`)
load the picture of that moment (each county's version active then), kept in a small
cache. A result's `version` is its county's version.

Decisions that are not obvious, documented for operators:
- A point on the shared edge of two grids belongs to the grid with the smaller id (the
  older row), exactly as the PostGIS query `ST_Covers … ORDER BY area_id` answers; the
  result is flagged `on_boundary` with the other candidates, so an operator can confirm.
- A dedicated grid (school, hospital, industrial park) takes precedence over the
  residential grid it lies in: its team is the responsible one.
- A point in no grid is given the nearest grid within `outside_tolerance_m` (flagged
  `outside_coverage` with the distance); beyond that it stays unassigned with the reason.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from gridmap.boundaries import versions as boundaries
from gridmap.crs import parse_crs, point_to_wgs84, to_wgs84
from gridmap.errors import InvalidCoordinates, NotFound, UnknownCategory
from gridmap.routing.snapshot import Chain, RoutingSnapshot, load_snapshot
from gridmap.routing.types import Flags, RoutingResult
from gridmap.settings import Settings

_NO_FLAGS = Flags()
_NO_CHAIN = Chain(None, None, None, None)


def check_point(lon: float, lat: float, *, crs: str) -> None:
    """Refuse what cannot be a point on Earth, saying which number is wrong."""
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise InvalidCoordinates(
            f"coordinates must be numbers, got lon={lon}, lat={lat}",
            details={"lon": str(lon), "lat": str(lat)},
        )
    if crs.startswith("EPSG:"):
        return  # projected systems have other ranges; pyproj reports impossible values
    if not -180.0 <= lon <= 180.0:
        raise InvalidCoordinates(f"longitude {lon} is outside -180…180", details={"lon": lon})
    if not -90.0 <= lat <= 90.0:
        raise InvalidCoordinates(f"latitude {lat} is outside -90…90", details={"lat": lat})


def _warm_up(snapshot: RoutingSnapshot) -> None:
    """Run every compiled look-up once before the snapshot serves anyone: on a fresh
    checkout numba compiles them on first use (tens of seconds), which must not fall on
    the first citizen's report."""
    if not len(snapshot.grids):
        return
    for index in (snapshot.grids, snapshot.dedicated):
        if index is None:
            continue
        x, y = index.centre()
        index.locate_with_near(x, y)
        index.near(x, y, 1.0)
        index.locate_many_with_near(np.full(2, x), np.full(2, y))
        index.locate_many(np.full(2, x), np.full(2, y))


@dataclass
class BatchRouting:
    """Columnar answers for many points (one row per input point, in input order)."""

    snapshot: RoutingSnapshot
    lons: np.ndarray  # WGS84
    lats: np.ndarray
    grid_ids: np.ndarray  # -1: unassigned
    dedicated_ids: np.ndarray  # -1: none
    on_boundary: np.ndarray
    outside: np.ndarray
    distance_m: np.ndarray

    def __len__(self) -> int:
        return len(self.grid_ids)


class Router:
    """Routes points against the active boundary version (thread-safe; swaps atomically)."""

    def __init__(self, sessions: sessionmaker[Session], settings: Settings) -> None:
        self._sessions = sessions
        self._settings = settings
        self._snapshot: RoutingSnapshot | None = None
        self._past: OrderedDict[int, RoutingSnapshot] = OrderedDict()
        self._lock = threading.Lock()
        self._crs_cache: dict[str | None, str] = {}

    # --- snapshots ---------------------------------------------------------------------

    def reload(self) -> RoutingSnapshot | None:
        """Build the snapshot of the active version and swap it in (None: nothing active)."""
        with self._sessions() as session:
            active = boundaries.active_version(session)
            if active is None:
                self._snapshot = None
                return None
            if self._snapshot is not None and self._snapshot.version_id == active.id:
                return self._snapshot
            snapshot = load_snapshot(
                session, version_id=active.id, near_m=self._settings.on_boundary_m
            )
        _warm_up(snapshot)
        self._snapshot = snapshot  # one reference assignment: readers see old or new
        return snapshot

    def adopt(self, snapshot: RoutingSnapshot | None) -> None:
        """Serve `snapshot`, built elsewhere for a version now committed (a publish builds
        one to re-route the open events), unless this router holds a newer version
        already. The publication's NOTIFY then finds the version loaded and builds nothing."""
        if snapshot is None:
            return
        current = self._snapshot
        if current is not None and current.version_id >= snapshot.version_id:
            return
        _warm_up(snapshot)
        self._snapshot = snapshot

    @property
    def snapshot(self) -> RoutingSnapshot:
        snapshot = self._snapshot
        if snapshot is None:
            snapshot = self.reload()
        if snapshot is None:
            raise NotFound("no boundary version is active yet: import and activate one first")
        return snapshot

    def snapshot_at(self, at: dt.datetime) -> RoutingSnapshot:
        with self._sessions() as session:
            version = boundaries.version_at(session, at=at)
            if version is None:
                raise NotFound(f"no boundary version was active at {at.isoformat()}")
            current = self._snapshot
            if current is not None and current.version_id == version.id:
                return current
            with self._lock:
                cached = self._past.get(version.id)
                if cached is not None:
                    self._past.move_to_end(version.id)
                    return cached
            snapshot = load_snapshot(
                session, version_id=version.id, near_m=self._settings.on_boundary_m
            )
        with self._lock:
            self._past[version.id] = snapshot
            while len(self._past) > 3:
                self._past.popitem(last=False)
        return snapshot

    def _crs(self, crs: str | None) -> str:
        canonical = self._crs_cache.get(crs)
        if canonical is None:
            canonical = parse_crs(crs)
            if len(self._crs_cache) < 256:
                self._crs_cache[crs] = canonical
        return canonical

    # --- one point ---------------------------------------------------------------------

    def route(
        self,
        lon: float,
        lat: float,
        *,
        crs: str | None = "wgs84",
        category: str | None = None,
        at: dt.datetime | None = None,
    ) -> RoutingResult:
        """Route one point (see the module docstring for the rules on edges and gaps)."""
        canonical = self._crs(crs)
        check_point(lon, lat, crs=canonical)
        x, y = point_to_wgs84(lon, lat, canonical)
        snap = self.snapshot if at is None else self.snapshot_at(at)
        if category is not None and not snap.knows_category(category):
            raise UnknownCategory(
                f"unknown category {category!r}: see GET /api/categories",
                details={"category": category},
            )
        grid_id, near_edge = snap.grids.locate_with_near(x, y)
        dedicated_id = snap.dedicated.locate(x, y) if snap.dedicated is not None else -1
        flags = _NO_FLAGS
        if grid_id < 0 and dedicated_id < 0:
            grid_id, flags = self._outside(snap, x, y)
        elif near_edge:
            others = [
                snap.refs[i]
                for i, _ in snap.grids.near(x, y, self._settings.on_boundary_m)
                if i != grid_id
            ]
            if others:
                flags = Flags(on_boundary=True, candidates=tuple(others))
        return self._result(snap, lon, lat, canonical, x, y, grid_id, dedicated_id, flags, category)

    def _outside(self, snap: RoutingSnapshot, x: float, y: float) -> tuple[int, Flags]:
        tolerance = self._settings.outside_tolerance_m
        nearest = snap.grids.near(x, y, tolerance) if len(snap.grids) else []
        if nearest:
            gid, distance = nearest[0]
            return gid, Flags(
                outside_coverage=True,
                distance_m=distance,
                candidates=tuple(snap.refs[i] for i, _ in nearest[:3]),
                reason=f"outside every grid; nearest grid is {distance:.0f} m away",
            )
        return -1, Flags(
            outside_coverage=True,
            reason=f"outside every grid and more than {tolerance:.0f} m from the nearest",
        )

    def _result(
        self,
        snap: RoutingSnapshot,
        lon: float,
        lat: float,
        crs: str,
        x: float,
        y: float,
        grid_id: int,
        dedicated_id: int,
        flags: Flags,
        category: str | None,
    ) -> RoutingResult:
        grid = snap.refs[grid_id] if grid_id >= 0 else None
        dedicated = snap.refs[dedicated_id] if dedicated_id >= 0 else None
        anchor_id = dedicated_id if dedicated_id >= 0 else grid_id
        chain, team, decision = _NO_CHAIN, None, None
        county: str | None = None
        if anchor_id >= 0:
            anchor = snap.anchor(anchor_id)
            county = anchor.county_code
            chain, team = anchor.chain, anchor.team
            if category is not None:
                decision = snap.decision_for(anchor.county_code, category, anchor.path)
        return RoutingResult(
            input_lon=lon,
            input_lat=lat,
            input_crs=crs,
            lon=x,
            lat=y,
            version=snap.version_of(county),
            grid=grid,
            community=chain.community,
            township=chain.township,
            county=chain.county,
            enforcement_zone=chain.zone,
            dedicated_grid=dedicated,
            team=team,
            decision=decision,
            flags=flags,
        )

    # --- many points -------------------------------------------------------------------

    def route_many(
        self,
        lons: Any,
        lats: Any,
        *,
        crs: str | None = "wgs84",
        at: dt.datetime | None = None,
    ) -> BatchRouting:
        """Vectorised routing: bulk imports, files, re-routing after a boundary change."""
        canonical = self._crs(crs)
        xs_in = np.asarray(lons, dtype=np.float64)
        ys_in = np.asarray(lats, dtype=np.float64)
        if xs_in.shape != ys_in.shape or xs_in.ndim != 1:
            raise InvalidCoordinates("lons and lats must be two lists of the same length")
        bad = ~(np.isfinite(xs_in) & np.isfinite(ys_in))
        if not canonical.startswith("EPSG:"):
            bad |= (np.abs(xs_in) > 180) | (np.abs(ys_in) > 90)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InvalidCoordinates(
                f"point {i} is not a valid coordinate: [{xs_in[i]}, {ys_in[i]}] "
                f"({int(bad.sum())} invalid points in all)",
                details={"index": i, "invalid_count": int(bad.sum())},
            )
        xs, ys = to_wgs84(xs_in, ys_in, canonical)
        snap = self.snapshot if at is None else self.snapshot_at(at)
        grid_ids, near_edge = snap.grids.locate_many_with_near(xs, ys)
        n = len(xs)
        if snap.dedicated is not None:
            dedicated = snap.dedicated.locate_many(xs, ys)
        else:
            dedicated = np.full(n, -1, dtype=np.int64)
        on_boundary = np.zeros(n, dtype=bool)
        outside = (grid_ids < 0) & (dedicated < 0)
        distance = np.zeros(n, dtype=np.float64)
        # Edges and gaps are rare: settle them one by one with the exact single-point rules.
        for k in np.flatnonzero(near_edge & (grid_ids >= 0)):
            x, y = float(xs[k]), float(ys[k])
            on_boundary[k] = any(
                j != grid_ids[k] for j, _ in snap.grids.near(x, y, self._settings.on_boundary_m)
            )
        for k in np.flatnonzero(outside):
            gid, flags = self._outside(snap, float(xs[k]), float(ys[k]))
            grid_ids[k] = gid
            distance[k] = flags.distance_m
        return BatchRouting(snap, xs, ys, grid_ids, dedicated, on_boundary, outside, distance)

    def result_at(
        self,
        batch: BatchRouting,
        i: int,
        *,
        input_lon: float,
        input_lat: float,
        crs: str,
        category: str | None = None,
    ) -> RoutingResult:
        """The full single-point answer for row `i` of a batch."""
        snap = batch.snapshot
        x, y = float(batch.lons[i]), float(batch.lats[i])
        gid = int(batch.grid_ids[i])
        if batch.outside[i]:
            _, flags = self._outside(snap, x, y)
        elif batch.on_boundary[i]:
            others = tuple(
                snap.refs[j]
                for j, _ in snap.grids.near(x, y, self._settings.on_boundary_m)
                if j != gid
            )
            flags = Flags(on_boundary=True, candidates=others)
        else:
            flags = _NO_FLAGS
        return self._result(
            snap,
            input_lon,
            input_lat,
            self._crs(crs),
            x,
            y,
            gid,
            int(batch.dedicated_ids[i]),
            flags,
            category,
        )
