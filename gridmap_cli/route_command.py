"""`gridmap route FILE -o OUT`: route a CSV or GeoJSON of points in batch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import typer
from rich.progress import Progress

from gridmap.db import session_factory
from gridmap.errors import DataFileError
from gridmap.routing import BatchRouting, Router
from gridmap_cli.common import console, database, friendly_errors, settings

CHUNK = 250_000


def _read_points(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        df = pd.read_csv(path, dtype={"crs": str, "category": str})
    elif suffix in (".geojson", ".json"):
        data = json.loads(path.read_text())
        rows = []
        for i, feature in enumerate(data.get("features", [])):
            geometry = feature.get("geometry") or {}
            if geometry.get("type") != "Point":
                raise DataFileError(f"{path}: feature {i} is not a Point")
            lon, lat = geometry["coordinates"][:2]
            rows.append({**(feature.get("properties") or {}), "lon": lon, "lat": lat})
        df = pd.DataFrame(rows)
    else:
        raise DataFileError(f"{path}: route reads .csv (lon,lat columns) or .geojson points")
    missing = {"lon", "lat"} - set(df.columns)
    if missing:
        raise DataFileError(f"{path}: missing column(s) {sorted(missing)}")
    return df


def _columns(batch: BatchRouting) -> dict[str, list[object]]:
    snap = batch.snapshot
    out: dict[str, list[object]] = {
        "county_code": [],
        "grid_code": [],
        "community_code": [],
        "township_code": [],
        "team": [],
    }
    for gid, did in zip(batch.grid_ids.tolist(), batch.dedicated_ids.tolist(), strict=True):
        anchor_id = did if did >= 0 else gid
        anchor = snap.anchor(anchor_id) if anchor_id >= 0 else None
        chain = anchor.chain if anchor else None
        out["county_code"].append(anchor.county_code if anchor else None)
        out["grid_code"].append(snap.refs[gid].code if gid >= 0 else None)
        out["community_code"].append(chain.community.code if chain and chain.community else None)
        out["township_code"].append(chain.township.code if chain and chain.township else None)
        out["team"].append(anchor.team.name if anchor and anchor.team else None)
    return out


@friendly_errors
def route(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV or GeoJSON points"),
    output: Path = typer.Option(..., "-o", "--output", help="CSV to write"),
    crs: str = typer.Option("wgs84", help="CRS of rows that have no crs column"),
) -> None:
    """Route every point of FILE; writes its columns plus county, grid, community,
    township, team and flags."""
    df = _read_points(path)
    s = settings()
    _, engine = database(s)
    router = Router(session_factory(engine), s)
    if "crs" not in df.columns:
        df["crs"] = crs
    df["crs"] = df["crs"].fillna(crs)
    parts = []
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("routing", total=len(df))
        for crs_value, group in df.groupby("crs", sort=False):
            for start in range(0, len(group), CHUNK):
                chunk = group.iloc[start : start + CHUNK]
                batch = router.route_many(
                    chunk["lon"].to_numpy(np.float64),
                    chunk["lat"].to_numpy(np.float64),
                    crs=str(crs_value),
                )
                part = chunk.copy()
                for name, values in _columns(batch).items():
                    part[name] = pd.Series(values, index=part.index)
                part["on_boundary"] = batch.on_boundary
                part["outside_coverage"] = batch.outside
                part["distance_m"] = np.round(batch.distance_m, 1)
                parts.append(part)
                progress.advance(task, len(chunk))
    result = pd.concat(parts).sort_index()
    result.to_csv(output, index=False)
    unassigned = int(result["grid_code"].isna().sum())
    console.print(
        f"{len(result)} points routed to {output} ({unassigned} unassigned, "
        f"{int(result['on_boundary'].sum())} on a boundary)"
    )
