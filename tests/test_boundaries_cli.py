"""A planner's boundary file through the command line: a dry run changes nothing and says
what would change; --commit keeps a staged version; activate publishes it; export writes it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine, text

from tests.conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "boundaries"


def gridmap(db_url: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDMAP_")}
    env.update({"GRIDMAP_DATABASE_URL": db_url, "GRIDMAP_HOME": str(home)})
    return subprocess.run(
        [sys.executable, "-m", "gridmap_cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )


def _modified(tmp_path: Path, *, leave_out: str) -> Path:
    """The community file with grid 2's household count changed and one area left out."""
    data = json.loads((FIXTURES / "community_4_grids.geojson").read_text())
    for feature in data["features"]:
        if feature["properties"]["code"] == "140581001001002":
            feature["properties"]["households"] = 44
    data["features"] = [f for f in data["features"] if f["properties"]["code"] != leave_out]
    path = tmp_path / f"without-{leave_out}.geojson"
    path.write_text(json.dumps(data, ensure_ascii=False))
    return path


def test_import_dry_run_commit_activate_diff_and_export(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    source = str(FIXTURES / "community_4_grids.geojson")
    dry = gridmap(db_url, tmp_path, "boundaries", "import", source, "--county", "140581")
    assert dry.returncode == 0, dry.stderr
    assert "dry run: nothing written" in dry.stdout
    assert "+ grid 140581001001001" in dry.stdout
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM boundary_version")).scalar() == 0

    kept = gridmap(
        db_url,
        tmp_path,
        "boundaries",
        "import",
        source,
        "--county",
        "140581",
        "--commit",
        "--name",
        "first",
    )
    assert kept.returncode == 0, kept.stderr
    version = re.search(r"gridmap boundaries activate (\d+)", kept.stdout)
    assert version is not None, kept.stdout
    active = gridmap(db_url, tmp_path, "boundaries", "activate", version[1])
    assert active.returncode == 0, active.stderr

    recount = _modified(tmp_path, leave_out="")
    changed = gridmap(db_url, tmp_path, "boundaries", "import", str(recount), "--county", "140581")
    assert changed.returncode == 0, changed.stderr
    assert "~ grid 140581001001002" in changed.stdout
    assert "households 42 → 44" in changed.stdout
    assert "0 added, 1 changed, 0 removed, 4 unchanged" in changed.stdout

    # Leaving a grid out would leave a hole in the community: refused, with where it is.
    hole = _modified(tmp_path, leave_out="140581001001003")
    refused = gridmap(db_url, tmp_path, "boundaries", "import", str(hole), "--county", "140581")
    assert refused.returncode == 1
    assert "gap" in refused.stderr and "nothing was written" in refused.stderr

    # The audit log answers who published the version that brought grid 1 in.
    who = gridmap(db_url, tmp_path, "audit", "--target", "140581001001001")
    assert who.returncode == 0, who.stderr
    assert "boundaries.publish" in who.stdout and "cli:" in who.stdout

    listing = gridmap(db_url, tmp_path, "boundaries", "list")
    assert "active" in listing.stdout and "first" in listing.stdout

    out = tmp_path / "v1.geojson"
    exported = gridmap(db_url, tmp_path, "boundaries", "export", version[1], "-o", str(out))
    assert exported.returncode == 0, exported.stderr
    codes = {f["properties"]["code"] for f in json.loads(out.read_text())["features"]}
    assert "140581001001003" in codes and len(codes) == 5


def test_a_file_with_problems_is_refused_with_a_report_and_nothing_written(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    result = gridmap(
        db_url,
        tmp_path,
        "boundaries",
        "import",
        str(FIXTURES / "overlap_grids.geojson"),
        "--county",
        "140581",
        "--commit",
    )
    assert result.returncode == 1
    assert "overlap" in result.stderr and "nothing was written" in result.stderr
    assert "Traceback" not in result.stderr
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM boundary_version")).scalar() == 0


def test_a_geojson_without_a_stated_crs_is_refused(db_url: str, tmp_path: Path) -> None:
    result = gridmap(
        db_url,
        tmp_path,
        "boundaries",
        "import",
        str(FIXTURES / "no_crs.geojson"),
        "--county",
        "140581",
    )
    assert result.returncode == 1
    assert "no_crs.geojson" in result.stderr and "--crs" in result.stderr
