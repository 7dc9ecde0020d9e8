"""An immutable picture of one boundary version for routing, loaded from PostGIS.

Everything a single `route()` needs is precomputed here (the grid's chain of areas, the
enforcement zone, the team on duty, the responsibility rules), so answering a point is an
index look-up and a few dictionary reads.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from gridmap.boundaries import versions as boundaries
from gridmap.boundaries.versions import AreaRecord
from gridmap.routing.spatial_index import PolygonIndex
from gridmap.routing.types import AreaRef, Decision, DepartmentRef, TeamRef

ROUTED_LAYERS = (
    "county",
    "township",
    "community",
    "grid",
    "micro_grid",
    "dedicated_grid",
    "enforcement_zone",
)


@dataclass(frozen=True, slots=True)
class Chain:
    """What lies above a grid: its community, township, county and enforcement zone."""

    community: AreaRef | None
    township: AreaRef | None
    county: AreaRef | None
    zone: AreaRef | None


_NO_CHAIN = Chain(None, None, None, None)


@dataclass(frozen=True, slots=True)
class Anchor:
    """What routing needs once it knows the grid (or dedicated grid) a point is in."""

    chain: Chain
    path: tuple[AreaRef | None, ...]  # dedicated, grid, community, township, county
    county_code: str
    team: TeamRef | None


@dataclass
class RoutingSnapshot:
    version_id: int
    grids: PolygonIndex
    dedicated: PolygonIndex | None
    micro: PolygonIndex | None
    refs: dict[int, AreaRef]  # area id → reference
    county_of: dict[int, str]  # area id → county code
    chains: dict[int, Chain]  # grid / dedicated grid id → chain
    parent_grid: dict[int, int]  # dedicated / micro grid id → the grid it lies in (or -1)
    teams: dict[tuple[str, str, str], TeamRef]  # (county, layer, code) → team on duty
    rules: dict[tuple[str, str], dict[str | None, Decision]]  # (county, category) → by area
    category_names: dict[tuple[str, str], str]
    build_seconds: float = 0.0
    stats: dict[str, Any] = field(default_factory=dict)
    category_codes: frozenset[str] = frozenset()
    anchors: dict[int, Anchor] = field(default_factory=dict)
    # Each county's own version in this picture (a version belongs to one county).
    county_versions: dict[str, int] = field(default_factory=dict)

    def version_of(self, county: str | None) -> int:
        """The version of `county` this snapshot routes by (the snapshot's, if unknown)."""
        if county is None:
            return self.version_id
        return self.county_versions.get(county, self.version_id)

    def team_for(self, county: str, chain: Sequence[AreaRef | None]) -> TeamRef | None:
        """The most local team on duty along a chain (grid first, county last)."""
        for ref in chain:
            if ref is not None:
                team = self.teams.get((county, ref.layer, ref.code))
                if team is not None:
                    return team
        return None

    def decision_for(
        self, county: str, category: str, chain: Sequence[AreaRef | None]
    ) -> Decision | None:
        by_area = self.rules.get((county, category))
        if by_area is None:
            return None
        if len(by_area) > 1:  # an area-specific rule overrides the county-wide one
            for ref in chain:
                if ref is not None and ref.code in by_area:
                    return by_area[ref.code]
        return by_area.get(None)

    def knows_category(self, category: str) -> bool:
        return category in self.category_codes

    def anchor(self, area_id: int) -> Anchor:
        """Chain, path and team of a grid or dedicated grid, computed once per snapshot."""
        found = self.anchors.get(area_id)
        if found is None:
            ref = self.refs[area_id]
            chain = self.chains.get(area_id, _NO_CHAIN)
            host = self.parent_grid.get(area_id, -1)
            grid = self.refs[host] if ref.layer != "grid" and host >= 0 else None
            path: tuple[AreaRef | None, ...] = (
                (ref, grid, chain.community, chain.township, chain.county)
                if ref.layer != "grid"
                else (None, ref, chain.community, chain.township, chain.county)
            )
            county = self.county_of[area_id]
            found = Anchor(chain, path, county, self.team_for(county, list(path)))
            self.anchors[area_id] = found  # a benign race: every thread computes the same
        return found


def _index(records: list[AreaRecord], near_m: float) -> PolygonIndex | None:
    if not records:
        return None
    return PolygonIndex.build(
        np.array([r.id for r in records], dtype=np.int64),
        [r.geom for r in records],
        near_m=near_m,
    )


def load_snapshot(session: Session, *, version_id: int, near_m: float = 5.0) -> RoutingSnapshot:
    """Read one published version and everything routing needs with it."""
    started = time.perf_counter()
    records = boundaries.areas_in_version(session, version_id=version_id, layers=ROUTED_LAYERS)
    by_layer: dict[str, list[AreaRecord]] = defaultdict(list)
    for r in records:
        by_layer[r.layer].append(r)
    refs = {r.id: AreaRef(r.id, r.code, r.name, r.layer) for r in records}
    county_of = {r.id: r.county_code for r in records}
    by_code = {(r.county_code, r.layer, r.code): r for r in records}

    grids = _index(by_layer["grid"], near_m)
    if grids is None:
        grids = PolygonIndex.build(np.zeros(0, dtype=np.int64), [], near_m=near_m)
    dedicated = _index(by_layer["dedicated_grid"], near_m)
    micro = _index(by_layer["micro_grid"], near_m)
    zones = _index(by_layer["enforcement_zone"], 0.0)

    # The zone of each township: the zone covering the township's inner point.
    zone_of_township: dict[tuple[str, str], AreaRef] = {}
    if zones is not None:
        for t in by_layer["township"]:
            p = t.geom.representative_point()
            zid = zones.locate(p.x, p.y)
            if zid >= 0:
                zone_of_township[(t.county_code, t.code)] = refs[zid]

    def parent(r: AreaRecord | None, layer: str) -> AreaRecord | None:
        if r is None or r.parent_code is None:
            return None
        return by_code.get((r.county_code, layer, r.parent_code))

    def chain_of_community(community: AreaRecord | None) -> Chain:
        township = parent(community, "township")
        county = None
        if community is not None:
            county = parent(township, "county") or by_code.get(
                (community.county_code, "county", community.county_code)
            )
        return Chain(
            refs[community.id] if community else None,
            refs[township.id] if township else None,
            refs[county.id] if county else None,
            zone_of_township.get((township.county_code, township.code)) if township else None,
        )

    chains: dict[int, Chain] = {
        g.id: chain_of_community(parent(g, "community")) for g in by_layer["grid"]
    }
    # A dedicated or micro grid hangs either inside a grid (an overlay: a school within a
    # residential grid) or directly under a community (a tile of its own).
    parent_grid: dict[int, int] = {}
    for layer in ("dedicated_grid", "micro_grid"):
        for r in by_layer[layer]:
            host = parent(r, "grid")
            community = parent(r, "community")
            if host is not None:
                parent_grid[r.id] = host.id
                chains[r.id] = chains[host.id]
            elif community is not None:
                parent_grid[r.id] = -1
                chains[r.id] = chain_of_community(community)
            else:  # drawn without naming its parent: the grid under its inner point
                p = r.geom.representative_point()
                gid = grids.locate(p.x, p.y)
                parent_grid[r.id] = gid
                if gid >= 0:
                    chains[r.id] = chains[gid]

    teams = _load_teams(session)
    rules, names = _load_rules(session)
    snapshot = RoutingSnapshot(
        version_id=version_id,
        grids=grids,
        dedicated=dedicated,
        micro=micro,
        refs=refs,
        county_of=county_of,
        chains=chains,
        parent_grid=parent_grid,
        teams=teams,
        rules=rules,
        category_names=names,
        category_codes=frozenset(code for _, code in names),
        county_versions=boundaries.county_versions_at(session, version_id=version_id),
    )
    snapshot.build_seconds = time.perf_counter() - started
    snapshot.stats = {
        "grids": len(by_layer["grid"]),
        "dedicated_grids": len(by_layer["dedicated_grid"]),
        "areas": len(records),
        "index_bytes": grids.nbytes,
    }
    return snapshot


def _load_teams(session: Session) -> dict[tuple[str, str, str], TeamRef]:
    rows = session.execute(
        text(
            """
            SELECT DISTINCT ON (d.county_code, d.layer, d.area_code)
                   d.county_code, d.layer, d.area_code, t.id, t.code, t.name, t.level
            FROM duty d JOIN team t ON t.id = d.team_id
            WHERE t.active AND d.role IN ('responsible', 'lead')
            ORDER BY d.county_code, d.layer, d.area_code, d.role DESC, t.id
            """
        )
    )
    return {(r[0], r[1], r[2]): TeamRef(r[3], r[4], r[5], r[6]) for r in rows}


def _load_rules(
    session: Session,
) -> tuple[dict[tuple[str, str], dict[str | None, Decision]], dict[tuple[str, str], str]]:
    rows = session.execute(
        text(
            """
            SELECT r.county_code, r.category_code, r.area_code, r.mode, r.department_code,
                   d.name AS department_name, r.default_priority, r.time_limit_hours,
                   r.response_minutes, c.name AS category_name
            FROM responsibility_rule r
            JOIN category c ON c.county_code = r.county_code AND c.code = r.category_code
            LEFT JOIN department d ON d.county_code = r.county_code
                 AND d.code = r.department_code
            """
        )
    ).mappings()
    rules: dict[tuple[str, str], dict[str | None, Decision]] = defaultdict(dict)
    names: dict[tuple[str, str], str] = {}
    for r in rows:
        department = (
            DepartmentRef(r["department_code"], r["department_name"] or r["department_code"])
            if r["department_code"]
            else None
        )
        rules[(r["county_code"], r["category_code"])][r["area_code"]] = Decision(
            category=r["category_code"],
            category_name=r["category_name"],
            mode=r["mode"],
            department=department,
            priority=r["default_priority"],
            time_limit_hours=float(r["time_limit_hours"]),
            response_minutes=r["response_minutes"],
        )
        names[(r["county_code"], r["category_code"])] = r["category_name"]
    return dict(rules), names


# The subdivided parts find the candidates through their GiST index (`&&`: GiST boxes are
# rounded outwards, so nothing is missed); the exact test runs on the area's own geometry,
# because ST_Subdivide's cut points are rounded and a point within ~1e-15° of an original
# edge can fall just outside every part (measured: 74 of 290,000 vertices and midpoints of
# the Gaoping demo with ST_Covers on the parts themselves).
_COVERS = """
    SELECT min(p.area_id) FROM area_part p JOIN area a ON a.id = p.area_id
    WHERE p.layer = :layer AND p.valid_from <= :v AND (p.valid_to IS NULL OR p.valid_to > :v)
      AND p.geom && {point} AND ST_Covers(a.geom, {point})
"""


def grid_at_in_postgis(
    session: Session, *, lon: float, lat: float, version_id: int, layer: str = "grid"
) -> int | None:
    """The same question answered by PostGIS (`ST_Covers`, the smallest area id on a shared
    edge): the truth the in-memory index is held to."""
    point = "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)"
    return session.execute(
        text(_COVERS.format(point=point)),
        {"lon": lon, "lat": lat, "v": version_id, "layer": layer},
    ).scalar_one_or_none()


def grids_at_in_postgis(
    session: Session, *, lons: np.ndarray, lats: np.ndarray, version_id: int, layer: str = "grid"
) -> np.ndarray:
    """`grid_at_in_postgis` for many points in one join (-1 where no area covers a point)."""
    session.execute(
        text("CREATE TEMP TABLE IF NOT EXISTS routing_probe (i int, geom geometry(Point, 4326))")
    )
    session.execute(text("TRUNCATE routing_probe"))
    raw = session.connection().connection.driver_connection
    assert raw is not None
    with raw.cursor() as cur, cur.copy("COPY routing_probe (i, geom) FROM STDIN") as copy:
        for i, (x, y) in enumerate(zip(lons.tolist(), lats.tolist(), strict=True)):
            copy.write_row((i, f"SRID=4326;POINT({x!r} {y!r})"))
    session.execute(text("ANALYZE routing_probe"))
    rows = session.execute(
        text(
            """
            SELECT q.i, min(p.area_id) FROM routing_probe q
            JOIN area_part p ON p.layer = :layer AND p.valid_from <= :v
                 AND (p.valid_to IS NULL OR p.valid_to > :v) AND p.geom && q.geom
            JOIN area a ON a.id = p.area_id AND ST_Covers(a.geom, q.geom)
            GROUP BY q.i
            """
        ),
        {"v": version_id, "layer": layer},
    ).all()
    out = np.full(len(lons), -1, dtype=np.int64)
    for i, area_id in rows:
        out[i] = area_id
    return out
