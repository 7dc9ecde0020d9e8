"""`gridmap boundaries import|activate|list|diff|export|restore`: versions from the shell."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import typer

from geodata.export import areas_frame, write_geojson, write_gpkg
from geodata.importer import import_boundaries
from geodata.readers import read_layer
from gridmap import audit, boundaries
from gridmap.db import session_factory, session_scope
from gridmap.errors import InvalidInput, ValidationFailed
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


@app.command()
@friendly_errors
def activate(version: int = typer.Argument(..., help="the version id")) -> None:
    """Make VERSION the active one, in one transaction (routing follows at once)."""
    _, engine = database()
    with session_scope(session_factory(engine)) as session:
        diff = boundaries.activate_version(session, version_id=version, activated_by=_user())
        # Who moved grid G's boundary: the changed codes go into the audit log too.
        audit.record(
            session,
            actor=f"cli:{_user()}",
            action="boundaries.publish",
            target_type="boundary_version",
            target_id=version,
            details={"from": "cli", "codes": sorted({c.code for c in diff.changes})},
        )
    print(f"version {version} is active\n{diff.to_text(limit=20)}")


@app.command("list")
@friendly_errors
def list_command() -> None:
    """Every version, newest last, with its status."""
    _, engine = database()
    with session_scope(session_factory(engine)) as session:
        versions = boundaries.list_versions(session)
        if not versions:
            print("no boundary versions yet: `gridmap demo` or `gridmap boundaries import`")
        for v in versions:
            when = v.activated_at.isoformat(timespec="seconds") if v.activated_at else "-"
            print(f"{v.id:>5}  {v.status:<9} {when:<25} {v.created_by:<12} {v.name}")


@app.command()
@friendly_errors
def diff(version: int = typer.Argument(..., help="a staged or published version")) -> None:
    """What VERSION changes (staged: against the active one; published: against its base)."""
    _, engine = database()
    with session_scope(session_factory(engine)) as session:
        v = boundaries.get_version(session, version_id=version)
        result = (
            boundaries.diff_version(session, version_id=version)
            if v.status in ("draft", "staged")
            else boundaries.diff_published(session, version_id=version)
        )
        print(result.to_text(limit=200))


@app.command()
@friendly_errors
def export(
    version: int = typer.Argument(..., help="a published version"),
    output: Path = typer.Option(..., "-o", "--output", help=".geojson or .gpkg"),
    layer: list[str] = typer.Option(None, help="only these layers (repeatable)"),
) -> None:
    """Write a version's areas to GeoJSON (RFC 7946) or GeoPackage."""
    _, engine = database()
    with session_scope(session_factory(engine)) as session:
        records = boundaries.areas_in_version(session, version_id=version, layers=layer or None)
    gdf = areas_frame(records)
    suffix = output.suffix.lower()
    if suffix in (".geojson", ".json"):
        write_geojson(gdf, output)
    elif suffix == ".gpkg":
        write_gpkg(gdf, output, layer="areas")
    else:
        raise InvalidInput(f"{output}: write .geojson or .gpkg")
    console.print(f"{len(gdf)} areas of version {version} written to {output}")


@app.command()
@friendly_errors
def restore(
    version: int = typer.Argument(..., help="an old published version"),
    note: str = typer.Option("", help="why"),
) -> None:
    """Stage an old version's geometry as a new version (history is never rewritten)."""
    _, engine = database()
    with session_scope(session_factory(engine)) as session:
        draft = boundaries.restore_version(
            session, version_id=version, restored_by=_user(), note=note
        )
        text = boundaries.diff_version(session, version_id=draft.id).to_text()
    print(f"{text}\nactivate it with `gridmap boundaries activate {draft.id}`")
