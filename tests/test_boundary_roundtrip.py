"""An unedited export re-imports with zero problems: the demo county through the command line,
as GeoJSON and as GeoPackage. Its accepted exceptions (high-rise grids over 50 households,
remote grids under 30) travel with it as exceptions, not as errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.test_boundaries_cli import gridmap


@pytest.mark.parametrize("suffix", [".geojson", ".gpkg"])
def test_an_unedited_export_reimports_with_zero_problems(
    gaoping_db_url: str, tmp_path: Path, suffix: str
) -> None:
    engine = create_engine(gaoping_db_url)
    with engine.connect() as conn:
        version = conn.execute(
            text("SELECT id FROM boundary_version WHERE status = 'active' ORDER BY id LIMIT 1")
        ).scalar_one()
    engine.dispose()
    out = tmp_path / f"gaoping{suffix}"
    exported = gridmap(
        gaoping_db_url, tmp_path, "boundaries", "export", str(version), "-o", str(out)
    )
    assert exported.returncode == 0, exported.stderr

    # RFC 7946 GeoJSON is WGS84 by definition but says so nowhere in the file, and the reader
    # never guesses a GeoJSON's CRS (web-map GeoJSON looks the same in GCJ-02): name it.
    crs = ["--crs", "wgs84"] if suffix == ".geojson" else []
    again = gridmap(
        gaoping_db_url, tmp_path, "boundaries", "import", str(out), "--county", "140581",
        *crs, "--json",
    )  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:] + again.stdout[-3000:]
    result = json.loads(again.stdout)
    validation = result["validation"]
    assert validation["problems"] == [], validation["counts"]
    assert validation["errors"] == 0 and validation["warnings"] == 0
    # The file is the version itself: nothing would change.
    assert re.search(r"\b0 added, 0 changed, 0 removed\b", json.dumps(result["diff"])) or (
        result["diff"].get("added", 0) == 0
    ), result["diff"]
