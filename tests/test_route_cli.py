"""`gridmap route FILE -o OUT`: a planner routes a whole CSV of points in one go."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from gridmap.crs import from_wgs84
from tests import factories as f
from tests.conftest import ROOT


def test_a_csv_of_points_gets_grid_community_township_team_and_flags(
    small_county_db_url: str, tmp_path: Path
) -> None:
    c3 = f.SmallCounty.grid_center(f"{f.C3}001")
    gx, gy = from_wgs84(np.array([c3[0]]), np.array([c3[1]]), "gcj02")
    rows = [
        {"id": "a", "lon": f.SmallCounty.grid_center(f.G1)[0], "lat": 35.79, "crs": ""},
        {"id": "b", "lon": float(gx[0]), "lat": float(gy[0]), "crs": "gcj02"},
        {"id": "c", "lon": 112.91, "lat": 35.79, "crs": ""},  # the edge of grids 1 and 2
        {"id": "d", "lon": 113.5, "lat": 35.79, "crs": ""},  # far outside the county
    ]
    source = tmp_path / "points.csv"
    with source.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=["id", "lon", "lat", "crs"])
        writer.writeheader()
        writer.writerows(rows)
    target = tmp_path / "routed.csv"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDMAP_")}
    env.update({"GRIDMAP_DATABASE_URL": small_county_db_url, "GRIDMAP_HOME": str(tmp_path)})
    result = subprocess.run(
        [sys.executable, "-m", "gridmap_cli.main", "route", str(source), "-o", str(target)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "4 points routed" in result.stderr and "1 unassigned" in result.stderr
    routed = {r["id"]: r for r in csv.DictReader(target.open())}
    assert list(routed) == ["a", "b", "c", "d"]  # input order kept
    assert routed["a"]["grid_code"] == f.G1 and routed["a"]["community_code"] == f.C1
    assert routed["a"]["township_code"] == f.T1 and routed["a"]["team"]
    assert routed["b"]["grid_code"] == f"{f.C3}001"  # converted from GCJ-02 first
    assert routed["c"]["on_boundary"] == "True"
    assert routed["d"]["grid_code"] == "" and routed["d"]["outside_coverage"] == "True"
