"""The demo counties: Gaoping (synthetic geometry inside a real outline) and Monaco (real
OSM buildings).

Gaoping is onboarded exactly as a real county is with `gridmap county` (docs/onboarding.md),
through the same domain functions, in the same order: the outline, the official division
list, township and community areas, the enforcement zones, buildings, generated grids,
then teams, duties and the responsibility list read from spreadsheets (written here from
the synthesised people) by the readers `county teams|duties|rules` use; each layer is
published by `geodata.county_publish.publish_layers` through the one publish core, and
`county check` must then call the county ready. Only what a real county brings as files
(the geometry, the buildings, the people) is synthesised (geodata/gaoping.py).
"""

from __future__ import annotations

import csv
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from geodata import gaoping
from geodata.county_areas import Places, area_layer
from geodata.county_check import check_county
from geodata.county_directory import (
    TEAM_COLUMNS,
    read_duties,
    read_rules,
    read_teams,
    store_duties,
    store_rules,
    store_teams,
)
from geodata.county_grids import Reporter, county_grids, silent
from geodata.county_outline import outline_layer
from geodata.county_publish import PublishStep, publish_layers
from geodata.divisions import read_division_list
from geodata.gaoping_basemap import load_gaoping_basemap
from geodata.gridgen import grid_attributes
from geodata.history import DEFAULT_PER_DAY, HistorySummary, load_history
from geodata.responsibility import (
    DepartmentEntry,
    read_departments,
    read_responsibility_list,
)
from gridmap import teams
from gridmap.boundaries import BuildingRows, DivisionRow, replace_buildings, replace_divisions
from gridmap.boundaries import versions as boundaries
from gridmap.errors import InvalidInput
from gridmap.events import categories
from gridmap.routing import Router
from gridmap.settings import Settings

RESPONSIBILITY_FILE = gaoping.SAMPLES / "responsibility_list.csv"
DEFAULT_HISTORY_PER_DAY = DEFAULT_PER_DAY


@dataclass
class DemoSummary:
    county_code: str
    version_id: int
    counts: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    grid_report: dict[str, Any] = field(default_factory=dict)
    disclaimer: str = ""
    history: HistorySummary | None = None


def building_rows(buildings: gpd.GeoDataFrame) -> BuildingRows:
    """Buildings (footprints or points, `code`, `households`, optional `kind`) as the rows
    `gridmap county buildings` stores: one point per building."""
    points = shapely.point_on_surface(buildings.geometry.values)
    kinds = buildings["kind"] if "kind" in buildings.columns else [None] * len(buildings)
    return BuildingRows(
        codes=buildings["code"].astype(str).tolist(),
        households=buildings["households"].astype(int).tolist(),
        kinds=[k if isinstance(k, str) else None for k in kinds],
        lon=shapely.get_x(points).tolist(),
        lat=shapely.get_y(points).tolist(),
        attributes=[{}] * len(buildings),
    )


def _write_buildings(session: Session, county_code: str, buildings: gpd.GeoDataFrame) -> int:
    """The county's buildings, through the same store `gridmap county buildings` uses."""
    replace_buildings(session, county_code=county_code, rows=building_rows(buildings), commit=True)
    return len(buildings)


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


def _publish(
    session: Session,
    frame: gpd.GeoDataFrame,
    name: str,
    households_range: tuple[int, int],
    settings: Settings,
    county_code: str = gaoping.COUNTY_CODE,
) -> PublishStep:
    """One layer (or several) published as `gridmap county` publishes it."""
    step = publish_layers(
        session,
        frame,
        county_code=county_code,
        name=name,
        created_by="demo",
        commit=True,
        households_range=households_range,
        settings=settings,
    )
    if step.published_version is None and not step.unchanged:
        raise InvalidInput(f"the demo's {name} were not published")
    return step


def _demo_areas(
    layer: str, synthesised: gpd.GeoDataFrame, divisions: list[DivisionRow], session: Session
) -> gpd.GeoDataFrame:
    """The synthesised polygons of `layer`, named and coded after the stored division list
    by `geodata.county_areas.area_layer` (what `gridmap county areas` does with a file);
    their households and `synthetic` mark are kept."""
    places = Places(
        Path(f"synthetic {layer} areas"),
        synthesised["code"].astype(str).tolist(),
        synthesised["name"].astype(str).tolist(),
        list(synthesised.geometry.values),
        list(range(1, len(synthesised) + 1)),
    )
    parent_layer = {"township": "county", "community": "township"}[layer]
    active = boundaries.active_version(session, county_code=gaoping.COUNTY_CODE)
    assert active is not None
    parents = {
        r.code: r.geom
        for r in boundaries.areas_in_version(
            session, version_id=active.id, layers=[parent_layer], county_code=gaoping.COUNTY_CODE
        )
    }
    frame = area_layer(places, layer=layer, divisions=divisions, parents=parents)
    known = synthesised.set_index("code")
    frame["households"] = [int(known.at[c, "households"]) for c in frame["code"]]
    frame["attributes"] = [
        {**a, **known.at[c, "attributes"]}
        for a, c in zip(frame["attributes"], frame["code"], strict=True)
    ]
    return frame


def _directory_files(folder: Path, grids: gpd.GeoDataFrame) -> tuple[Path, Path]:
    """The synthesised teams and duties as the spreadsheets a county hands in
    (geodata/templates/teams.csv, duties.csv)."""
    plan = gaoping.teams_for_grids(grids)
    departments = {d.code: d for d in read_departments(gaoping.DEPARTMENTS_FILE)}
    members: dict[str, list[gaoping.MemberSpec]] = {}
    for m in plan.members:
        members.setdefault(m.team_code, []).append(m)
    team_file = folder / "teams.csv"
    with team_file.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(TEAM_COLUMNS)  # the sheet `gridmap county teams` reads
        for t in plan.teams:
            d = departments.get(t.department_code or "")
            team = [
                t.code,
                t.name,
                t.level,
                t.department_code or "",
                d.name if d else "",
                (d.name_en or "") if d else "",
                (d.phone or "") if d else "",
                t.phone or "",
            ]
            people = [[m.name, m.role, m.phone] for m in members.get(t.code, [])]
            for person in people or [["", "", ""]]:
                out.writerow(team + person)
    duty_file = folder / "duties.csv"
    with duty_file.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(("layer", "area_code", "team_code", "role"))
        for duty in plan.duties:
            out.writerow((duty.layer, duty.area_code, duty.team_code, duty.role))
    return team_file, duty_file


def _load_directory(
    session: Session, grids: gpd.GeoDataFrame, seconds: dict[str, float]
) -> dict[str, int]:
    """Teams, duties and the responsibility list through `county teams|duties|rules`'
    readers and stores, from spreadsheets written in a temporary folder."""
    code = gaoping.COUNTY_CODE
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gaoping-demo-") as tmp:
        team_file, duty_file = _directory_files(Path(tmp), grids)
        sheet = read_teams(team_file)
        store_teams(session, county_code=code, sheet=sheet, commit=True)
        seconds["teams"] = time.perf_counter() - started
        started = time.perf_counter()
        table, duties = read_duties(duty_file)
        store_duties(session, county_code=code, table=table, duties=duties, commit=True)
        seconds["duties"] = time.perf_counter() - started
    started = time.perf_counter()
    rules = read_rules(session, county_code=code, path=RESPONSIBILITY_FILE)
    store_rules(session, county_code=code, rules=rules, commit=True)
    seconds["rules"] = time.perf_counter() - started
    return {
        "departments": len(sheet.departments),
        "teams": len(sheet.teams),
        "members": sum(len(m) for m in sheet.members.values()),
        "duties": len(duties),
        "categories": len(rules),
    }


def load_gaoping(
    session: Session,
    *,
    seed: int = gaoping.DEFAULT_SEED,
    households_range: tuple[int, int] = (30, 50),
    workers: int = 2,
    report: Reporter = silent,
    history_days: int = 0,
    history_per_day: float = DEFAULT_HISTORY_PER_DAY,
    settings: Settings | None = None,
) -> DemoSummary:
    """Synthesise Gaoping and onboard it step by step as `gridmap county` does (see the
    module docstring); the caller commits.

    `history_days` > 0 also walks that many past days of events through the workflow
    (`geodata.history`); off by default, so tests that need the county alone stay fast.
    """
    code = gaoping.COUNTY_CODE
    s = settings or Settings(households_min=households_range[0], households_max=households_range[1])
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    with report("synthesising the county", 1) as bar:
        data = gaoping.synthesise_gaoping(seed=seed)
        bar.advance(1)
    seconds["synthesise"] = time.perf_counter() - started

    started = time.perf_counter()
    with report("outline, divisions, areas, buildings", 6) as bar:
        # county init: the outline.
        county = data.county.iloc[0]
        outline = outline_layer(code, str(county["name"]), county.geometry)
        outline["households"] = [int(county["households"])]
        outline["attributes"] = [county["attributes"]]
        _publish(session, outline, f"{county['name']}: outline", households_range, s)
        bar.advance(1)
        # county divisions: the official list, through the NBS list reader.
        listed = read_division_list(gaoping.DIVISIONS_FILE, county_code=code)
        divisions = [DivisionRow(d.code, d.name, d.level, d.parent_code, d.kind) for d in listed]
        replace_divisions(session, county_code=code, divisions=divisions, commit=True)
        bar.advance(1)
        # county areas --layer township, then --layer community.
        for layer, synthesised in (("township", data.townships), ("community", data.communities)):
            frame = _demo_areas(layer, synthesised, divisions, session)
            _publish(session, frame, f"{code}: {layer} areas", households_range, s)
            bar.advance(1)
        # The enforcement zones: a layer a planner imports like any other.
        _publish(session, data.zones, f"{code}: enforcement zones", households_range, s)
        bar.advance(1)
        # county buildings.
        counts = {"buildings": _write_buildings(session, code, data.buildings)}
        counts["divisions"] = len(divisions)
        # The basemap (roads, villages, addresses) a county brings with `gridmap basemap`.
        counts.update(load_gaoping_basemap(session, data, county_code=code))
        bar.advance(1)
    seconds["areas"] = time.perf_counter() - started

    started = time.perf_counter()
    # county grids: generated from the stored communities and buildings, and published.
    made = county_grids(
        session,
        county_code=code,
        households_range=households_range,
        workers=workers,
        report=report,
    )
    grids = made.grids
    seconds["grids"] = time.perf_counter() - started
    started = time.perf_counter()
    with report("publishing the grids", 1) as bar:
        step = _publish(session, grids, f"{code}: generated grids", households_range, s)
        bar.advance(1)
    version_id = step.published_version
    assert version_id is not None
    seconds["import"] = time.perf_counter() - started

    started = time.perf_counter()
    with report("teams, duties and the responsibility list", 1) as bar:
        counts.update(_load_directory(session, grids, seconds))
        bar.advance(1)
    seconds["directory"] = time.perf_counter() - started
    started = time.perf_counter()
    with report("county check", 1) as bar:
        # The rows above are not committed yet: without statistics on them the planner
        # takes the new tables for empty ones and the check's joins crawl.
        session.execute(text("ANALYZE area; ANALYZE building; ANALYZE team; ANALYZE duty"))
        readiness = check_county(
            session, county_code=code, households_range=households_range, settings=s
        )
        if not readiness.ready:
            raise InvalidInput(f"the Gaoping demo is not ready:\n{readiness.to_text()}")
        bar.advance(1)
    seconds["check"] = time.perf_counter() - started
    history = None
    if history_days > 0:
        started = time.perf_counter()
        with report(f"{history_days} days of events", 1) as bar:
            # Routes against the version published above, read on this transaction's
            # own connection (it is not committed yet).
            router = Router(sessionmaker(bind=session.connection()), s)
            history = load_history(
                session,
                router=router,
                county_code=code,
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
    flags = pd.Series(
        [a.get("flag") for a in grids["attributes"] if a.get("flag")], dtype=object
    ).value_counts()
    return DemoSummary(
        county_code=code,
        version_id=version_id,
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


def monaco_areas(data: Any, grids: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Monaco's county, wards and grids as one frame of standard columns."""
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
        # One "township" for the wards (with MC07, the western quarters the extract has no
        # ward for: geodata.monaco._complete_wards), tiling the country exactly.
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
    return areas


def load_monaco(
    session: Session,
    *,
    households_range: tuple[int, int] = (30, 50),
    report: Reporter = silent,
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

    areas = monaco_areas(data, grids)
    wards = data.wards
    started = time.perf_counter()
    with report("importing boundaries", 1) as bar:
        # Validated like any planner's file, with no force: the wards tile the country
        # (geodata.monaco._complete_wards) and every flagged grid records its exception.
        step = _publish(
            session,
            areas,
            "Monaco demo (OpenStreetMap wards and buildings, © OpenStreetMap contributors, "
            "ODbL 1.0; households estimated)",
            households_range,
            Settings(households_min=households_range[0], households_max=households_range[1]),
            county_code=MONACO_CODE,
        )
        assert step.published_version is not None
        bar.advance(1)
    counts = {"buildings": _write_buildings(session, MONACO_CODE, data.buildings)}
    counts.update(_monaco_directory(session, areas, county_code=MONACO_CODE))
    basemap = import_basemap_file(session, DEFAULT_PBF, county_code=MONACO_CODE)[0].counts
    counts.update({f"basemap_{k}": v for k, v in basemap.items()})
    seconds["import"] = time.perf_counter() - started
    counts.update({"wards": len(wards), "grids": len(grids)})
    return DemoSummary(
        county_code=MONACO_CODE,
        version_id=step.published_version,
        counts=counts,
        seconds=seconds,
        grid_report={
            "min": int(grids["households"].min()),
            "max": int(grids["households"].max()),
            "flags": {str(k): int(v) for k, v in grids["flag"].value_counts().items()},
        },
        disclaimer="Monaco: real OSM buildings; households estimated (docs/demo-data.md).",
    )
