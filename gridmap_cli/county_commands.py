"""`gridmap county …`: onboard a county from its own files, step by step.

Every step is a dry run that says what it would change until `--commit`, and running a
step again with the same file changes nothing. The walkthrough is docs/onboarding.md.
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import geopandas as gpd
import typer
from sqlalchemy.orm import Session

from gridmap.boundaries import ListChange
from gridmap.db import session_factory, session_scope
from gridmap.errors import InvalidInput
from gridmap_cli.common import database, friendly_errors, settings

app = typer.Typer(
    help="Onboard a county from its own files: outline, division list, areas, buildings, "
    "grids, teams, duties, rules; then check it is ready. Dry runs until --commit.",
    no_args_is_help=True,
)

COUNTY = typer.Option(..., "--county", envvar="GRIDMAP_COUNTY", help="the county code")
COMMIT = typer.Option(False, "--commit", help="keep the change (default: dry run)")
AS_JSON = typer.Option(False, "--json", help="print the report as JSON")


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "cli"


@contextmanager
def _session() -> Iterator[Session]:
    _, engine = database()
    try:
        with session_scope(session_factory(engine)) as session:
            yield session
    finally:
        engine.dispose()


def _range() -> tuple[int, int]:
    s = settings()
    return (s.households_min, s.households_max)


def _print(as_json: bool, data: dict[str, Any], text: str) -> None:
    if as_json:
        print(json.dumps(data, ensure_ascii=False, indent=2, default=str))
    else:
        print(text)


def _changes_text(changes: dict[str, ListChange], commit: bool) -> str:
    lines = [c.to_text(what) for what, c in changes.items()]
    if all(c.empty for c in changes.values()):
        lines.append("nothing to change")
    elif not commit:
        lines.append("dry run: nothing written (add --commit to keep it)")
    return "\n".join(lines)


def _changes_json(changes: dict[str, ListChange], commit: bool) -> dict[str, Any]:
    return {
        "committed": commit and not all(c.empty for c in changes.values()),
        **{
            what: {
                "added": c.added,
                "changed": c.changed,
                "removed": c.removed,
                "unchanged": c.unchanged,
            }
            for what, c in changes.items()
        },
    }


def _publish(
    frame: gpd.GeoDataFrame,
    *,
    county: str,
    name: str,
    commit: bool,
    as_json: bool,
) -> None:
    from geodata.county_publish import publish_layers

    with _session() as session:
        step = publish_layers(
            session,
            frame,
            county_code=county,
            name=name,
            created_by=_user(),
            commit=commit,
            households_range=_range(),
            settings=settings(),
        )
    _print(as_json, step.to_json(), step.to_text())


def _active_areas(session: Session, county: str, layer: str) -> dict[str, Any]:
    from gridmap.boundaries import versions as boundaries

    active = boundaries.active_version(session, county_code=county)
    if active is None:
        return {}
    return {
        r.code: r.geom
        for r in boundaries.areas_in_version(
            session, version_id=active.id, layers=[layer], county_code=county
        )
    }


@app.command()
@friendly_errors
def init(
    code: str = typer.Argument(..., help="the county's 6-digit division code"),
    outline: Path = typer.Option(..., "--outline", help="the county outline file"),
    name: str = typer.Option(None, "--name", help="the county's name (else from the file)"),
    crs: str = typer.Option(None, help="the outline's CRS: wgs84|cgcs2000|gcj02|bd09|EPSG:n"),
    code_field: str = typer.Option("code", help="the outline's code property"),
    name_field: str = typer.Option("name", help="the outline's name property"),
    commit: bool = COMMIT,
    as_json: bool = AS_JSON,
) -> None:
    """Start a county: its outline, published as its county area."""
    from geodata.county_outline import outline_layer, read_outline

    found = read_outline(outline, crs=crs, code_field=code_field, name_field=name_field)
    if found.code and found.code not in (code, code + "000000"):
        raise InvalidInput(
            f"{outline}: the file's {code_field} is {found.code}, not {code}",
            details={"file": str(outline), "column": code_field},
        )
    county_name = name or found.name
    if not county_name:
        raise InvalidInput(f"{outline}: the file names no county: give --name")
    frame = outline_layer(code, county_name, found.geometry)
    _publish(frame, county=code, name=f"{county_name}: outline", commit=commit, as_json=as_json)


@app.command()
@friendly_errors
def divisions(
    path: Path = typer.Argument(..., help="the NBS division list, CSV or XLSX"),
    county: str = typer.Option(
        None, "--county", envvar="GRIDMAP_COUNTY", help="the county code (else the file's)"
    ),
    commit: bool = COMMIT,
    as_json: bool = AS_JSON,
) -> None:
    """Store the official division list: townships of every kind and the committees."""
    from geodata.divisions import read_division_list
    from gridmap.boundaries import DivisionRow, replace_divisions

    rows = read_division_list(path, county_code=county)
    county_code = county or rows[0].code[:6]
    with _session() as session:
        change = replace_divisions(
            session,
            county_code=county_code,
            divisions=[DivisionRow(d.code, d.name, d.level, d.parent_code, d.kind) for d in rows],
            commit=commit,
        )
    kinds: dict[str, int] = {}
    for d in rows:
        kinds[f"{d.level} {d.kind}"] = kinds.get(f"{d.level} {d.kind}", 0) + 1
    changes = {f"divisions of {county_code}": change}
    text = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    _print(
        as_json,
        {**_changes_json(changes, commit), "kinds": kinds},
        f"{text}\n{_changes_text(changes, commit)}",
    )


@app.command()
@friendly_errors
def areas(
    path: Path = typer.Argument(..., help="polygons, or one point per division (provisional)"),
    layer: str = typer.Option(..., "--layer", help="township or community"),
    county: str = COUNTY,
    crs: str = typer.Option(None, help="the file's CRS: wgs84|cgcs2000|gcj02|bd09|EPSG:n"),
    code_field: str = typer.Option("code", help="the column holding the division code"),
    name_field: str = typer.Option("name", help="the column holding the division name"),
    commit: bool = COMMIT,
    as_json: bool = AS_JSON,
) -> None:
    """Publish the county's townships or communities, named after the division list."""
    from geodata.county_areas import area_layer, read_places
    from gridmap.boundaries import list_divisions

    places = read_places(path, crs=crs, code_field=code_field, name_field=name_field)
    parent_layer = {"township": "county", "community": "township"}.get(layer)
    if parent_layer is None:
        raise InvalidInput(f"--layer must be township or community, not {layer!r}")
    with _session() as session:
        listed = list_divisions(session, county_code=county)
        parents = _active_areas(session, county, parent_layer)
    if not parents:
        raise InvalidInput(
            f"county {county} has no {parent_layer} yet: "
            + ("run `gridmap county init`" if layer == "township" else "publish townships")
            + " first"
        )
    frame = area_layer(places, layer=layer, divisions=listed, parents=parents)
    _publish(frame, county=county, name=f"{county}: {layer} areas", commit=commit, as_json=as_json)


@app.command()
@friendly_errors
def buildings(
    path: Path = typer.Argument(..., help="GeoPackage, zipped Shapefile, GeoJSON or .osm.pbf"),
    county: str = COUNTY,
    crs: str = typer.Option(None, help="the file's CRS (OSM is always WGS84)"),
    households_column: str = typer.Option(None, help="households per building (else estimated)"),
    floors_column: str = typer.Option(None, help="floors per building, for the estimate"),
    kind_column: str = typer.Option(None, help="building kind (OSM building=…), for the estimate"),
    code_column: str = typer.Option(None, help="a stable building code (else numbered)"),
    default_floors: float = typer.Option(2, help="floors where the file gives none"),
    commit: bool = COMMIT,
    as_json: bool = AS_JSON,
) -> None:
    """Store the county's buildings and their households (replacing the stored ones), and
    their addresses in the address register where the file carries them (address columns:
    docs/onboarding.md)."""
    from geodata.county_buildings import read_buildings
    from gridmap.boundaries import replace_addresses, replace_buildings

    with _session() as session:
        outline = _active_areas(session, county, "county").get(county)
    if outline is None:
        raise InvalidInput(f"county {county} has no outline yet: run `gridmap county init`")
    found = read_buildings(
        path,
        outline=outline,
        crs=crs,
        households_column=households_column,
        floors_column=floors_column,
        kind_column=kind_column,
        code_column=code_column,
        default_floors=default_floors,
    )
    with _session() as session:
        change = replace_buildings(session, county_code=county, rows=found.rows, commit=commit)
        # The register's building addresses from this file replace those of the previous
        # buildings file (a basemap import's stay); a file without addresses leaves them.
        registered = 0
        if commit and found.addresses:
            registered = replace_addresses(
                session, county_code=county, addresses=found.addresses, origin="buildings"
            )
    changes = {"buildings": change}
    register = (
        f"address register: {registered} building addresses stored"
        if registered
        else f"address register: {len(found.addresses)} building addresses would be stored"
        if found.addresses
        else "address register: the file carries no addresses (unchanged)"
    )
    _print(
        as_json,
        {
            **_changes_json(changes, commit),
            **found.to_json(),
            "addresses_registered": registered,
        },
        f"{found.to_text()}\n{_changes_text(changes, commit)}\n{register}",
    )


@app.command()
@friendly_errors
def grids(
    county: str = COUNTY,
    workers: int = typer.Option(1, help="processes generating grids in parallel"),
    commit: bool = COMMIT,
    as_json: bool = AS_JSON,
) -> None:
    """Generate grids of 30–50 households in every community and publish them."""
    from geodata.county_grids import county_grids

    with _session() as session:
        made = county_grids(session, county_code=county, households_range=_range(), workers=workers)
    if not as_json:
        print(made.to_text())
    _publish(
        made.grids,
        county=county,
        name=f"{county}: generated grids",
        commit=commit,
        as_json=as_json,
    )


def _directory_step(
    read_and_store: Callable[[Session, bool], dict[str, ListChange]], commit: bool, as_json: bool
) -> None:
    with _session() as session:
        changes = read_and_store(session, commit)
    _print(as_json, _changes_json(changes, commit), _changes_text(changes, commit))


@app.command("teams")
@friendly_errors
def teams_command(
    path: Path = typer.Argument(..., help="teams and members, CSV or XLSX (sheet 'teams')"),
    county: str = COUNTY,
    commit: bool = COMMIT,
    as_json: bool = AS_JSON,
) -> None:
    """Store teams, their members and the departments they belong to."""
    from geodata.county_directory import read_teams, store_teams

    sheet = read_teams(path)
    _directory_step(
        lambda s, c: store_teams(s, county_code=county, sheet=sheet, commit=c), commit, as_json
    )


@app.command()
@friendly_errors
def duties(
    path: Path = typer.Argument(..., help="which team answers for which area, CSV or XLSX"),
    county: str = COUNTY,
    commit: bool = COMMIT,
    as_json: bool = AS_JSON,
) -> None:
    """Make the county's duties exactly the file's."""
    from geodata.county_directory import read_duties, store_duties

    table, rows = read_duties(path)
    _directory_step(
        lambda s, c: {
            "duties": store_duties(s, county_code=county, table=table, duties=rows, commit=c)
        },
        commit,
        as_json,
    )


@app.command()
@friendly_errors
def rules(
    path: Path = typer.Argument(..., help="the responsibility list (权责清单), CSV or XLSX"),
    county: str = COUNTY,
    commit: bool = COMMIT,
    as_json: bool = AS_JSON,
) -> None:
    """Make the county's responsibility list (categories and rules) the file's."""
    from geodata.county_directory import read_rules, store_rules

    def step(session: Session, commit_: bool) -> dict[str, ListChange]:
        found = read_rules(session, county_code=county, path=path)
        return {"categories": store_rules(session, county_code=county, rules=found, commit=commit_)}

    _directory_step(step, commit, as_json)


@app.command()
@friendly_errors
def check(
    county: str = COUNTY,
    sample: int = typer.Option(20, help="how many points to route as a test"),
    as_json: bool = AS_JSON,
) -> None:
    """The readiness report; exits 1 when the county is not ready to take events."""
    from geodata.county_check import check_county

    with _session() as session:
        report = check_county(
            session,
            county_code=county,
            households_range=_range(),
            settings=settings(),
            sample=sample,
        )
        session.rollback()  # the check writes nothing
    _print(as_json, report.to_json(), report.to_text())
    if not report.ready:
        sys.exit(1)
