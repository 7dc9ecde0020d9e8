"""`gridmap boundaries import|activate|list|diff|export|restore`: versions from the shell."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import typer

from geodata.export import areas_frame, write_geojson, write_gpkg
from geodata.importer import import_boundaries
from geodata.publish_check import publish_validator
from geodata.readers import read_layer
from gridmap.access import audit
from gridmap.boundaries import activation, diffs, publishing
from gridmap.boundaries import versions as boundaries
from gridmap.db import session_factory, session_scope
from gridmap.errors import InvalidInput, NotFound, ValidationFailed
from gridmap.models import LAYERS
from gridmap_cli.common import console, database, friendly_errors, settings

app = typer.Typer(help="Boundary versions: import, compare, activate, export.")


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "cli"


@app.command("import")
@friendly_errors
def import_command(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="GeoJSON, GPKG, .zip SHP"),
    crs: str = typer.Option(None, help="the file's CRS: wgs84|cgcs2000|gcj02|bd09|EPSG:nnnn"),
    layer: str = typer.Option(None, help=f"layer of every feature: {'|'.join(LAYERS)}"),
    county: str = typer.Option(None, help="the county code the areas belong to"),
    name: str = typer.Option(None, help="a name for the new version"),
    note: str = typer.Option("", help="why this version exists"),
    commit: bool = typer.Option(False, "--commit", help="keep the version (default: dry run)"),
    fix_invalid: bool = typer.Option(False, "--fix-invalid", help="repair invalid geometry"),
    force: bool = typer.Option(False, "--force", help="keep it despite validation errors"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
    code_field: str = typer.Option(None, "--code-field", help="the file's column of area codes"),
    name_field: str = typer.Option(None, "--name-field", help="the file's column of area names"),
    code: str = typer.Option(None, "--code", help="the code of a file's single geometry"),
    area_name: str = typer.Option(None, "--area-name", help="the name of its single geometry"),
) -> None:
    """Read, validate and compare a boundary file with the active version; --commit keeps it."""
    s = settings()
    mapping = {f: std for f, std in ((code_field, "code"), (name_field, "name")) if f}
    gdf = read_layer(path, crs=crs, columns=mapping or None, code=code, name=area_name)
    if county and "county_code" in gdf.columns:
        # A file of several counties (an export of a city, say): only this county's rows.
        gdf = gdf[gdf["county_code"].astype(str) == county]
        if gdf.empty:
            raise InvalidInput(f"{path}: no feature has county_code {county}")
    _, engine = database(s)
    try:
        with session_scope(session_factory(engine)) as session:
            result = import_boundaries(
                session,
                gdf,
                name=name or path.name,
                note=note,
                created_by=_user(),
                county_code=county,
                layer=layer,
                commit=commit,
                fix_invalid=fix_invalid,
                households_range=(s.households_min, s.households_max),
                force=force,
            )
    except ValidationFailed as exc:
        report = exc.details.get("report", {})
        if as_json:
            print(json.dumps(report, ensure_ascii=False, indent=2))
        else:
            for problem in report.get("problems", []):
                console.print(f"  {problem.get('kind')}: {problem.get('message')}")
        raise
    if as_json:
        print(json.dumps(result.to_json(), ensure_ascii=False, indent=2, default=str))
    else:
        print(result.to_text())


def _print_problems(exc: ValidationFailed) -> None:
    for problem in exc.details.get("problems", [])[:50]:
        console.print(f"  {problem.get('kind')}: {problem.get('message')}")


def _publish(
    version: int, *, reason: str | None, accept_problems: bool, validate: bool, action: str
) -> publishing.PublishResult:
    """Through the publish core, as the editor and the API do: validate, activate,
    re-route open events, announce; then audit who published which areas."""
    s = settings()
    _, engine = database(s)
    try:
        with session_scope(session_factory(engine)) as session:
            result = publishing.publish_version(
                session,
                version_id=version,
                actor=f"cli:{_user()}",
                settings=s,
                validator=publish_validator(s) if validate else None,
                accept_problems=accept_problems,
                reason=reason,
            )
            # Who moved grid G's boundary: the changed codes go into the audit log too.
            audit.record(
                session,
                actor=f"cli:{_user()}",
                action=action,
                target_type="boundary_version",
                target_id=result.version_id,
                details={
                    "from": "cli",
                    "version": version,
                    "codes": sorted({c.code for c in result.diff.changes}),
                },
            )
    except ValidationFailed as exc:
        _print_problems(exc)
        raise
    return result


def _published_text(result: publishing.PublishResult) -> str:
    lines = [f"version {result.version_id} is active", result.diff.to_text(limit=20)]
    if result.exceptions:
        lines.append(f"{len(result.exceptions)} problem(s) accepted as exceptions")
    lines.append(f"{len(result.rerouted)} open event(s) re-routed")
    for r in result.rerouted[:20]:
        lines.append(f"  event {r.event_id}: grid {r.from_grid} → {r.to_grid}")
    return "\n".join(lines)


@app.command()
@friendly_errors
def activate(
    version: int = typer.Argument(..., help="the version id"),
    reason: str = typer.Option(None, help="why (heads the version's note)"),
    accept_problems: bool = typer.Option(
        False, "--accept-problems", help="publish despite validation errors (recorded)"
    ),
) -> None:
    """Publish VERSION as its county's active one: validate, activate, re-route open events
    and announce, in one transaction (the same core as the editor's publish)."""
    result = _publish(
        version,
        reason=reason,
        accept_problems=accept_problems,
        validate=True,
        action="boundaries.publish",
    )
    print(_published_text(result))


@app.command("list")
@friendly_errors
def list_command(
    county: str = typer.Option(None, help="only this county's versions"),
) -> None:
    """Every version, newest last, with its county and status (one active per county)."""
    _, engine = database()
    with session_scope(session_factory(engine)) as session:
        versions = boundaries.list_versions(session, county_codes=[county] if county else None)
        if not versions:
            print("no boundary versions yet: `gridmap demo` or `gridmap boundaries import`")
        for v in versions:
            when = v.activated_at.isoformat(timespec="seconds") if v.activated_at else "-"
            print(
                f"{v.id:>5}  {v.county_code or '-':<8} {v.status:<9} {when:<25} "
                f"{v.created_by:<12} {v.name}"
            )


@app.command()
@friendly_errors
def diff(version: int = typer.Argument(..., help="a staged or published version")) -> None:
    """What VERSION changes (staged: against the active one; published: against its base)."""
    _, engine = database()
    with session_scope(session_factory(engine)) as session:
        v = boundaries.get_version(session, version_id=version)
        result = (
            diffs.diff_version(session, version_id=version)
            if v.status in ("draft", "staged")
            else diffs.diff_published(session, version_id=version)
        )
        print(result.to_text(limit=200))


@app.command()
@friendly_errors
def export(
    version: int = typer.Argument(..., help="a published version"),
    output: Path = typer.Option(..., "-o", "--output", help=".geojson or .gpkg"),
    layer: list[str] = typer.Option(None, help="only these layers (repeatable)"),
    county: str = typer.Option(None, help="only this county (default: the version's own county)"),
) -> None:
    """Write a version's areas to GeoJSON (RFC 7946) or GeoPackage, with `county_code`.

    VERSION's areas are its county's as published in it; `--county` exports another
    county as it stood at that version, `--county all` every county."""
    suffix = output.suffix.lower()
    if suffix not in (".geojson", ".json", ".gpkg"):
        raise InvalidInput(f"{output}: write .geojson or .gpkg")
    _, engine = database()
    with session_scope(session_factory(engine)) as session:
        v = boundaries.get_version(session, version_id=version)
        if v.activated_at is None:
            raise NotFound(
                f"version {version} is {v.status}, not published: nothing to export",
                details={"version": version, "status": v.status},
            )
        wanted = None if county == "all" else (county or v.county_code)
        records = boundaries.areas_in_version(
            session, version_id=version, layers=layer or None, county_code=wanted
        )
    if not records:
        raise NotFound(
            f"version {version} has no areas"
            + (f" of county {wanted}" if wanted else "")
            + (f" in layer(s) {', '.join(layer)}" if layer else ""),
            details={"version": version},
        )
    gdf = areas_frame(records)
    if suffix in (".geojson", ".json"):
        write_geojson(gdf, output)
    else:
        write_gpkg(gdf, output, layer="areas")
    console.print(f"{len(gdf)} areas of version {version} written to {output}")


@app.command()
@friendly_errors
def restore(
    version: int = typer.Argument(..., help="an old published version"),
    note: str = typer.Option("", help="why"),
    publish: bool = typer.Option(
        False, "--publish", help="publish it at once (re-routing open events)"
    ),
) -> None:
    """Stage an old version's geometry of its county as a new version (history is never
    rewritten; other counties are not touched); --publish publishes it through the same
    core as `activate`."""
    _, engine = database()
    with session_scope(session_factory(engine)) as session:
        draft = activation.restore_version(
            session, version_id=version, restored_by=_user(), note=note
        )
        draft_id = draft.id
        text = diffs.diff_version(session, version_id=draft_id).to_text()
    if not publish:
        print(f"{text}\nactivate it with `gridmap boundaries activate {draft_id}`")
        return
    # A restore republishes what was published once: it is not validated again.
    result = _publish(
        draft_id, reason=None, accept_problems=False, validate=False, action="boundaries.restore"
    )
    print(_published_text(result))
