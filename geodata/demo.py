"""The demo counties: Gaoping (synthetic geometry inside a real outline) and Monaco (real
OSM buildings), loaded through the same import core a planner uses."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from geodata import gaoping
from geodata.gaoping_basemap import load_gaoping_basemap
from geodata.gridgen import generate_grids
from geodata.history import DEFAULT_PER_DAY, HistorySummary, load_history
from geodata.importer import import_boundaries
from geodata.responsibility import (
    DepartmentEntry,
    read_departments,
    read_responsibility_list,
)
from geodata.validation import EXCEPTION_HOUSEHOLDS
from gridmap import boundaries, categories, teams
from gridmap.buildings import BuildingRows, replace_buildings
from gridmap.divisions import DivisionRow, replace_divisions
from gridmap.routing import Router
from gridmap.settings import Settings

RESPONSIBILITY_FILE = gaoping.SAMPLES / "responsibility_list.csv"
DEFAULT_HISTORY_PER_DAY = DEFAULT_PER_DAY

# A step reporter: called with a step's name and its size, returns a context whose
# `advance(n)` the step calls (the CLI passes rich progress bars; tests pass nothing).
Reporter = Callable[[str, int], contextlib.AbstractContextManager[Any]]


class _Silent:
    def advance(self, n: int = 1) -> None:
        pass


@contextlib.contextmanager
def _silent(name: str, total: int) -> Iterator[_Silent]:
    yield _Silent()


@dataclass
class DemoSummary:
    county_code: str
    version_id: int
    counts: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    grid_report: dict[str, Any] = field(default_factory=dict)
    disclaimer: str = ""
    history: HistorySummary | None = None


def _grids_for(args: tuple[str, str, Any, gpd.GeoDataFrame, int, int]) -> gpd.GeoDataFrame:
    code, name, geom, buildings, lo, hi = args
    result = generate_grids(
        geom,
        buildings,
        code_prefix=code,
        name_prefix=name,
        min_households=lo,
        max_households=hi,
    )
    grids = result.grids
    grids["parent_code"] = code
    grids["layer"] = "grid"
    grids["kind"] = grids["flag"].map(lambda f: "high_rise" if f == "high_rise" else "community")
    assignment = result.assignment
    grids.attrs["assignment"] = assignment
    return grids


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


def generate_community_grids(
    communities: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    *,
    households_range: tuple[int, int],
    workers: int = 2,
    report: Reporter = _silent,
) -> tuple[gpd.GeoDataFrame, pd.Series]:
    """Grids of every community from its buildings, in parallel; and building → grid code."""
    by_community = dict(tuple(buildings.groupby("community_code", sort=False)))
    jobs = [
        (
            c.code,
            c.name.removesuffix("居委会").removesuffix("委会"),
            c.geometry,
            by_community.get(c.code, buildings.iloc[0:0]),
            *households_range,
        )
        for c in communities.itertuples()
    ]
    parts: list[gpd.GeoDataFrame] = []
    assignments: list[pd.Series] = []
    with report("generating grids", len(jobs)) as bar:
        if workers > 1:
            with ProcessPoolExecutor(workers) as pool:
                results = pool.map(_grids_for, jobs, chunksize=8)
                for grids in results:
                    parts.append(grids)
                    bar.advance(1)
        else:
            for job in jobs:
                parts.append(_grids_for(job))
                bar.advance(1)
    for grids in parts:
        assignments.append(grids.attrs.pop("assignment"))
    grids = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs="EPSG:4326")
    return grids, pd.concat(assignments)


def _write_buildings(session: Session, county_code: str, buildings: gpd.GeoDataFrame) -> int:
    """The county's buildings, through the same store `gridmap county buildings` uses."""
    points = shapely.point_on_surface(buildings.geometry.values)
    kinds = buildings["kind"] if "kind" in buildings.columns else [None] * len(buildings)
    replace_buildings(
        session,
        county_code=county_code,
        rows=BuildingRows(
            codes=buildings["code"].astype(str).tolist(),
            households=buildings["households"].astype(int).tolist(),
            kinds=[k if isinstance(k, str) else None for k in kinds],
            lon=shapely.get_x(points).tolist(),
            lat=shapely.get_y(points).tolist(),
            attributes=[{}] * len(buildings),
        ),
        commit=True,
    )
    return len(buildings)


def _store_gaoping_divisions(session: Session) -> int:
    """Gaoping's official division list, stored as `gridmap county divisions` stores one."""
    rows = [
        DivisionRow(d.code, d.name, d.level, d.parent_code, d.kind)
        for d in gaoping.read_divisions()
        if d.level in ("township", "community")
    ]
    replace_divisions(session, county_code=gaoping.COUNTY_CODE, divisions=rows, commit=True)
    return len(rows)


def _load_county_lists(session: Session, county_code: str) -> tuple[list[DepartmentEntry], int]:
    """The shipped departments and responsibility list (权责清单), stored for a county."""
    departments = read_departments(gaoping.DEPARTMENTS_FILE)
    for d in departments:
        teams.upsert_department(
            session,
            county_code=county_code,
            code=d.code,
            name=d.name,
            name_en=d.name_en,
            phone=d.phone,
        )
    entries = read_responsibility_list(
        RESPONSIBILITY_FILE, department_codes={d.code for d in departments}
    )
    rules = categories.replace_responsibility_list(
        session,
        county_code=county_code,
        rules=[e.as_rule() for e in entries],
    )
    return departments, rules


def _load_directory(session: Session, county_code: str, grids: gpd.GeoDataFrame) -> dict[str, int]:
    departments, rules = _load_county_lists(session, county_code)
    plan = gaoping.teams_for_grids(grids)
    team_ids = teams.upsert_teams(
        session,
        county_code=county_code,
        teams=[
            teams.TeamRow(t.code, t.name, t.level, t.department_code, t.phone) for t in plan.teams
        ],
    )
    members = teams.replace_members(
        session,
        team_ids=team_ids,
        members=[(m.team_code, m.name, m.role, m.phone) for m in plan.members],
    )
    teams.set_duties(
        session,
        county_code=county_code,
        duties=[teams.DutyRow(d.layer, d.area_code, d.team_code, d.role) for d in plan.duties],
    )
    return {
        "departments": len(departments),
        "teams": len(plan.teams),
        "members": members,
        "categories": rules,
    }


def load_gaoping(
    session: Session,
    *,
    seed: int = gaoping.DEFAULT_SEED,
    households_range: tuple[int, int] = (30, 50),
    workers: int = 2,
    report: Reporter = _silent,
    history_days: int = 0,
    history_per_day: float = DEFAULT_HISTORY_PER_DAY,
    settings: Settings | None = None,
) -> DemoSummary:
    """Synthesise Gaoping, generate its grids, import and activate them, and load its
    buildings, departments, teams, duties and responsibility list (caller commits).

    `history_days` > 0 also walks that many past days of events through the workflow
    (`geodata.history`); off by default, so tests that need the county alone stay fast.
    """
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    with report("synthesising the county", 1) as bar:
        data = gaoping.synthesise_gaoping(seed=seed)
        bar.advance(1)
    seconds["synthesise"] = time.perf_counter() - started

    started = time.perf_counter()
    grids, _ = generate_community_grids(
        data.communities,
        data.buildings,
        households_range=households_range,
        workers=workers,
        report=report,
    )
    seconds["grids"] = time.perf_counter() - started

    started = time.perf_counter()
    columns = [
        "code",
        "name",
        "layer",
        "parent_code",
        "households",
        "kind",
        "attributes",
        "geometry",
    ]
    grids["attributes"] = grid_attributes(grids)
    layers = [data.county, data.townships, data.communities, data.zones, grids[columns]]
    areas = gpd.GeoDataFrame(
        pd.concat([g[columns] for g in layers], ignore_index=True), crs="EPSG:4326"
    )
    with report("importing boundaries", 1) as bar:
        result = import_boundaries(
            session,
            areas,
            name="高平市 demo (synthetic geometry inside a real outline)",
            note=data.disclaimer,
            created_by="demo",
            county_code=gaoping.COUNTY_CODE,
            commit=True,
            households_range=households_range,
            # High-rise and out-of-range grids carry their accepted exception and its reason
            # (grid_attributes): the validator lists them as exceptions, not errors.
        )
        assert result.version_id is not None
        boundaries.activate_version(session, version_id=result.version_id, activated_by="demo")
        bar.advance(1)
    seconds["import"] = time.perf_counter() - started

    started = time.perf_counter()
    with report("buildings, teams and the responsibility list", 2) as bar:
        counts = {"buildings": _write_buildings(session, gaoping.COUNTY_CODE, data.buildings)}
        counts["divisions"] = _store_gaoping_divisions(session)
        counts.update(load_gaoping_basemap(session, data, county_code=gaoping.COUNTY_CODE))
        bar.advance(1)
        counts.update(_load_directory(session, gaoping.COUNTY_CODE, grids))
        bar.advance(1)
    seconds["directory"] = time.perf_counter() - started
    history = None
    if history_days > 0:
        started = time.perf_counter()
        with report(f"{history_days} days of events", 1) as bar:
            # Routes against the version activated above, read on this transaction's
            # own connection (it is not committed yet).
            router = Router(sessionmaker(bind=session.connection()), settings or Settings())
            history = load_history(
                session,
                router=router,
                county_code=gaoping.COUNTY_CODE,
                days=history_days,
                per_day=history_per_day,
                seed=seed,
            )
            bar.advance(1)
        seconds["history"] = time.perf_counter() - started
    counts.update(
        {
            "townships": len(data.townships),
            "communities": len(data.communities),
            "grids": len(grids),
            "households": int(data.buildings["households"].sum()),
        }
    )
    flags = grids["flag"].value_counts().to_dict()
    return DemoSummary(
        county_code=gaoping.COUNTY_CODE,
        version_id=result.version_id,
        counts=counts,
        seconds=seconds,
        grid_report={
            "min": int(grids["households"].min()),
            "max": int(grids["households"].max()),
            "mean": round(float(grids["households"].mean()), 1),
            "flags": {str(k): int(v) for k, v in flags.items()},
        },
        disclaimer=data.disclaimer,
        history=history,
    )


def demo_loaded(session: Session, *, county_code: str) -> bool:
    active = boundaries.active_version(session)
    if active is None:
        return False
    return bool(
        session.execute(
            text("SELECT 1 FROM area WHERE county_code = :c AND valid_to IS NULL LIMIT 1"),
            {"c": county_code},
        ).first()
    )


MONACO_CODE = "MC"


def _monaco_directory(
    session: Session, areas: gpd.GeoDataFrame, *, county_code: str
) -> dict[str, int]:
    """A plain team per area (Monaco has no 1+1+N teams to model) and Gaoping's
    departments and responsibility list, so every category routes somewhere."""
    departments, rules = _load_county_lists(session, county_code)
    rows = [
        teams.TeamRow(f"T-{a.code}", f"{a.name} team", "grid" if a.layer == "grid" else a.layer)
        for a in areas.itertuples()
        if a.layer in ("county", "township", "community", "grid")
    ]
    rows += [teams.TeamRow(f"T-{d.code}", d.name, "department", d.code) for d in departments]
    teams.upsert_teams(session, county_code=county_code, teams=rows)
    teams.set_duties(
        session,
        county_code=county_code,
        duties=[
            teams.DutyRow(a.layer, a.code, f"T-{a.code}")
            for a in areas.itertuples()
            if a.layer in ("county", "township", "community", "grid")
        ],
    )
    return {"teams": len(rows), "categories": rules}


def load_monaco(
    session: Session,
    *,
    households_range: tuple[int, int] = (30, 50),
    report: Reporter = _silent,
) -> DemoSummary:
    """Monaco's real wards and OSM buildings, grids generated inside each ward."""
    from geodata.basemap import import_basemap_file
    from geodata.monaco import DEFAULT_PBF, monaco_grids
    from geodata.monaco import load_monaco as read_monaco

    seconds: dict[str, float] = {}
    started = time.perf_counter()
    with report("reading OpenStreetMap", 1) as bar:
        data = read_monaco()
        bar.advance(1)
    with report("generating grids", 1) as bar:
        grids = monaco_grids(data, *households_range)
        bar.advance(1)
    seconds["grids"] = time.perf_counter() - started

    wards = data.wards.copy()
    wards_union = shapely.union_all(wards.geometry.values)
    ward_households = (
        data.buildings.groupby("ward_code")["households"].sum().reindex(wards["code"]).fillna(0)
    )
    frames = [
        gpd.GeoDataFrame(
            {
                "code": [MONACO_CODE],
                "name": ["Monaco"],
                "layer": ["county"],
                "parent_code": [None],
                "households": [int(data.buildings["households"].sum())],
            },
            geometry=[data.outline],
            crs="EPSG:4326",
        ),
        # One "township" for the wards: the OSM extract has no ward for the western
        # quarters, so the wards are grouped under their own union to keep the tiling exact.
        gpd.GeoDataFrame(
            {
                "code": [f"{MONACO_CODE}00"],
                "name": ["Monaco (wards)"],
                "layer": ["township"],
                "parent_code": [MONACO_CODE],
                "households": [int(ward_households.sum())],
            },
            geometry=[wards_union],
            crs="EPSG:4326",
        ),
        wards.assign(
            layer="community",
            parent_code=f"{MONACO_CODE}00",
            households=ward_households.astype(int).values,
        ),
        grids.assign(
            layer="grid",
            kind="community",
            attributes=grid_attributes(grids),
        ),
    ]
    columns = ["code", "name", "layer", "parent_code", "households", "geometry"]
    areas = gpd.GeoDataFrame(
        pd.concat(
            [f[[c for c in [*columns, "kind", "attributes"] if c in f.columns]] for f in frames],
            ignore_index=True,
        ),
        crs="EPSG:4326",
    )
    started = time.perf_counter()
    with report("importing boundaries", 1) as bar:
        result = import_boundaries(
            session,
            areas,
            name="Monaco demo (OpenStreetMap wards and buildings)",
            note="© OpenStreetMap contributors, ODbL 1.0; households estimated",
            created_by="demo",
            county_code=MONACO_CODE,
            commit=True,
            households_range=households_range,
            force=True,
        )
        assert result.version_id is not None
        boundaries.activate_version(session, version_id=result.version_id, activated_by="demo")
        bar.advance(1)
    counts = {"buildings": _write_buildings(session, MONACO_CODE, data.buildings)}
    counts.update(_monaco_directory(session, areas, county_code=MONACO_CODE))
    basemap = import_basemap_file(session, DEFAULT_PBF, county_code=MONACO_CODE)[0].counts
    counts.update({f"basemap_{k}": v for k, v in basemap.items()})
    seconds["import"] = time.perf_counter() - started
    counts.update({"wards": len(wards), "grids": len(grids)})
    return DemoSummary(
        county_code=MONACO_CODE,
        version_id=result.version_id,
        counts=counts,
        seconds=seconds,
        grid_report={
            "min": int(grids["households"].min()),
            "max": int(grids["households"].max()),
            "flags": {str(k): int(v) for k, v in grids["flag"].value_counts().items()},
        },
        disclaimer="Monaco: real OSM buildings; households estimated (docs/demo-data.md).",
    )
