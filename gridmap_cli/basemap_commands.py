"""`gridmap basemap …`: import a county's basemap and address register from its files."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from gridmap.db import session_factory, session_scope
from gridmap_cli.common import database, friendly_errors

app = typer.Typer(
    help="The county's own basemap (roads, water, buildings, names) and address register.",
    no_args_is_help=True,
)


@app.command("import")
@friendly_errors
def import_basemap(
    file: Path = typer.Argument(..., help="an OSM .pbf/.osm, a GeoPackage, a .shp or a folder"),
    county: str = typer.Option(..., "--county", envvar="GRIDMAP_COUNTY", help="county code"),
    crs: str = typer.Option(
        None, "--crs", help="the file's CRS when it states none: wgs84|cgcs2000|gcj02|bd09|EPSG:n"
    ),
    attribution: str = typer.Option(
        None,
        "--attribution",
        help="the data's source as the map writes it (default: '© OpenStreetMap "
        "contributors' for an OSM file, none for a GeoPackage or Shapefiles)",
    ),
    prerender: bool = typer.Option(True, help="pre-render the costly tiles (zoom 8–14)"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """Replace the county's basemap and address register with the file's, then pre-render."""
    from geodata.basemap import default_attribution, import_basemap_file

    _, engine = database()
    try:
        with session_scope(session_factory(engine)) as session:
            report, data = import_basemap_file(
                session, file, county_code=county, crs=crs, attribution=attribution
            )
            session.commit()
            made = 0
            if prerender:
                from gridmap.boundaries import basemap

                made = basemap.prerender(session, county_code=county)
    finally:
        engine.dispose()
    out = {
        "county": county,
        "revision": report.revision,
        "counts": report.counts,
        "replaced": report.replaced,
        "source_crs": data.source_crs,
        "attribution": attribution if attribution is not None else default_attribution(file),
        "skipped": len(data.skipped),
        "repaired": len(data.repaired),
        "prerendered_tiles": made,
    }
    if as_json:
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return
    counts = ", ".join(f"{k} {v}" for k, v in report.counts.items())
    print(f"basemap of {county} (revision {report.revision}): {counts}")
    print(f"skipped {len(data.skipped)}, repaired {len(data.repaired)}, pre-rendered {made} tiles")
