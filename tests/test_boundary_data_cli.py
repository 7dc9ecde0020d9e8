"""Boundary data through the command line as a new county's files arrive: a bare geometry,
a file whose columns have other names, a file in metres that claims to be lon/lat."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_boundaries_cli import gridmap

SQUARE = [[112.9, 35.8], [112.91, 35.8], [112.91, 35.81], [112.9, 35.81], [112.9, 35.8]]


def test_a_bare_geometry_imports_with_its_code_and_name_given_on_the_command_line(
    db_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "outline.geojson"
    path.write_text(json.dumps({"type": "Polygon", "coordinates": [SQUARE]}), encoding="utf-8")
    args = ("boundaries", "import", str(path), "--crs", "wgs84", "--layer", "county")
    refused = gridmap(db_url, tmp_path, *args)
    assert refused.returncode == 1  # no code: it cannot even tell the county
    given = gridmap(db_url, tmp_path, *args, "--code", "140581", "--area-name", "高平市")
    assert given.returncode == 0, given.stderr
    assert "+ county 140581" in given.stdout


def test_code_and_name_columns_are_mapped_on_the_command_line(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "xzqh.geojson"
    feature = {
        "type": "Feature",
        "properties": {"XZQDM": "140581", "XZQMC": "高平市"},
        "geometry": {"type": "Polygon", "coordinates": [SQUARE]},
    }
    path.write_text(
        json.dumps({"type": "FeatureCollection", "features": [feature]}, ensure_ascii=False),
        encoding="utf-8",
    )
    result = gridmap(
        db_url, tmp_path, "boundaries", "import", str(path), "--crs", "wgs84",
        "--layer", "county", "--code-field", "XZQDM", "--name-field", "XZQMC",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "+ county 140581" in result.stdout


def test_a_file_in_metres_declared_as_wgs84_gets_a_clear_error_not_a_traceback(
    db_url: str, tmp_path: Path
) -> None:
    x, y = 38_500_000.0, 3_960_000.0
    ring = [[x, y], [x + 100, y], [x + 100, y + 100], [x, y + 100], [x, y]]
    doc = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "EPSG:4326"}},
        "features": [
            {
                "type": "Feature",
                "properties": {"code": "140581", "name": "高平市"},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        ],
    }
    path = tmp_path / "metres.geojson"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    result = gridmap(db_url, tmp_path, "boundaries", "import", str(path), "--layer", "county")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "metres.geojson" in result.stderr and "EPSG:4526" in result.stderr
