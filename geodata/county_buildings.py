"""A county's buildings from its own file, with households per building.

Any boundary file (GeoPackage, zipped Shapefile, GeoJSON; points or footprints) or an
OpenStreetMap `.osm.pbf` extract. Households come from a column when the file has one
(`--households-column`), else they are estimated from the footprint:

    households = round(footprint_m2 × floors × residential_share / FLAT_GROSS_M2)

with FLAT_GROSS_M2 = 90 m² (a ~70 m² flat plus its share of stairs and walls), floors
from `--floors-column` (OSM: `building:levels`) or a default by kind, and the residential
share by kind (OSM `building=` values: apartments/residential 0.85, house 1.0, `yes` 0.5,
anything else — shops, schools, offices, factories — 0). A file with no kind column
counts every building as residential (0.85). Point buildings need a households column.
The estimate is stored with each building (`attributes.estimated`). Buildings outside
the county outline are left out and counted.

Where the file carries addresses, each building's is read for the address register
(门牌地址库): OSM `addr:street` + `addr:housenumber`, or a table's address columns by the
rule of `geodata.basemap.ADDRESS_COLUMNS` (road/路名 + number/门牌号, community/社区 +
building_no/楼号, or 村 + group/村民小组; docs/onboarding.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from geodata.monaco import DEFAULT_LEVELS, FLAT_GROSS_M2, RESIDENTIAL_SHARE
from geodata.osm_reader import read_osm
from geodata.readers import read_layer
from gridmap.boundaries import BuildingRows
from gridmap.errors import DataFileError

DEFAULT_FLOORS = 2
UNTYPED_RESIDENTIAL_SHARE = 0.85
SHOWN = 10  # skipped/repaired features listed in the text report


@dataclass
class BuildingFile:
    rows: BuildingRows
    read: int
    outside: int
    estimated: int
    households: int
    notes: list[str] = field(default_factory=list)
    # What the reader left out or mended, each {"code": "way/…", "problem", "action"}:
    # raw OSM has broken ways as a matter of course, and none of them stops the read.
    skipped: list[dict[str, Any]] = field(default_factory=list)
    repaired: list[dict[str, Any]] = field(default_factory=list)
    # The register entries the file's address columns give (kept buildings only).
    addresses: list[dict[str, Any]] = field(default_factory=list)

    def to_text(self) -> str:
        lines = [
            f"{self.read} buildings read, {self.outside} outside the county left out, "
            f"{len(self.rows.codes)} kept with {self.households} households "
            f"({self.estimated} estimated from the footprint)"
        ]
        if self.addresses:
            lines.append(f"{len(self.addresses)} building addresses for the address register")
        for what, entries in (("skipped", self.skipped), ("repaired", self.repaired)):
            if entries:
                lines.append(f"{len(entries)} feature(s) {what}:")
                lines += [
                    f"  {e.get('code') or 'feature ' + str(e.get('feature'))}: {e['problem']}"
                    for e in entries[:SHOWN]
                ]
                if len(entries) > SHOWN:
                    lines.append(f"  … and {len(entries) - SHOWN} more (all in --json)")
        return "\n".join(lines + self.notes)

    def to_json(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "outside": self.outside,
            "households": self.households,
            "estimated": self.estimated,
            "skipped": self.skipped,
            "repaired": self.repaired,
            "addresses": len(self.addresses),
        }


def read_buildings(
    path: str | Path,
    *,
    outline: BaseGeometry,
    crs: str | None = None,
    households_column: str | None = None,
    floors_column: str | None = None,
    kind_column: str | None = None,
    code_column: str | None = None,
    default_floors: float = DEFAULT_FLOORS,
) -> BuildingFile:
    """The buildings of `path` inside `outline` (WGS84), with households per building."""
    path = Path(path)
    if path.name.lower().endswith(".osm.pbf"):
        frame = read_osm(path, what="buildings")
        floors_column = floors_column or "levels"
        kind_column = kind_column or "kind"
        code_column = code_column or "code"
    else:
        frame = read_layer(path, crs=crs)
        # The standard columns are used when the file fills them.
        if households_column is None and frame["households"].notna().all():
            households_column = "households"
        if kind_column is None and frame["kind"].notna().any():
            kind_column = "kind"
        if code_column is None and frame["code"].notna().all():
            code_column = "code"
    skipped = [dict(e) for e in frame.attrs.get("skipped", [])]
    repaired = [dict(e) for e in frame.attrs.get("repaired", [])]
    unreadable = frame.attrs.get("unreadable", [])
    if unreadable:  # a feature whose geometry cannot be built: left out and reported
        skipped += [{**e, "action": "skipped"} for e in unreadable]
        frame = frame.drop(index=frame.index[[e["feature"] - 1 for e in unreadable]])
    read = len(frame)
    if read == 0:
        raise DataFileError(f"{path}: no buildings in the file", details={"file": str(path)})
    for column in (households_column, floors_column, kind_column, code_column):
        if column and column not in frame.columns:
            raise DataFileError(
                f"{path}: no column {column!r}; the file has "
                f"{', '.join(str(c) for c in frame.columns if c != 'geometry')}",
                details={"file": str(path), "column": column},
            )
    geoms = np.asarray(frame.geometry.values, dtype=object)
    kinds = shapely.get_type_id(geoms)
    bad = ~np.isin(kinds, [0, 3, 6]) | shapely.is_empty(geoms)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataFileError(
            f"{path}: feature {i + 1} is not a point or a footprint "
            f"({int(bad.sum())} such feature(s))",
            details={"file": str(path), "feature": i + 1},
        )
    points = shapely.point_on_surface(geoms)
    shapely.prepare(outline)
    inside = shapely.intersects(outline, points)

    kind = (
        frame[kind_column].astype("string").fillna("").str.strip()
        if kind_column
        else pd.Series([""] * read, index=frame.index, dtype="string")
    )
    if households_column:
        households, estimated = _households(frame, path, households_column), np.zeros(read, bool)
        attributes: list[dict[str, Any]] = [{} for _ in range(read)]
    else:
        households, attributes = _estimate(
            frame, path, geoms, kind, floors_column, default_floors, bool(kind_column)
        )
        estimated = np.ones(read, bool)
    codes = (
        frame[code_column].astype("string").fillna("").str.strip().to_numpy()
        if code_column
        else np.array([f"B{i + 1:07d}" for i in range(read)], dtype=object)
    )
    if code_column:
        blank = np.flatnonzero(codes == "")
        if len(blank):
            raise DataFileError(
                f"{path}: feature {int(blank[0]) + 1} has no {code_column}",
                details={"file": str(path), "feature": int(blank[0]) + 1, "column": code_column},
            )
        seen = pd.Series(codes).duplicated()
        if seen.any():
            i = int(np.flatnonzero(seen.to_numpy())[0])
            raise DataFileError(
                f"{path}: feature {i + 1}: {code_column} {codes[i]!r} appears twice",
                details={"file": str(path), "feature": i + 1, "column": code_column},
            )
    xy = shapely.get_coordinates(points)
    keep = np.flatnonzero(inside)
    rows = BuildingRows(
        codes=[str(codes[i]) for i in keep],
        households=[int(households[i]) for i in keep],
        kinds=[(str(kind.iloc[i]) or None) for i in keep],
        lon=xy[keep, 0].tolist(),
        lat=xy[keep, 1].tolist(),
        attributes=[attributes[i] for i in keep],
    )
    from geodata.basemap import addresses_from_columns

    addresses = addresses_from_columns(frame.iloc[keep], points[keep])
    return BuildingFile(
        rows,
        read=read,
        outside=int(read - len(keep)),
        estimated=int(estimated[keep].sum()),
        households=int(households[keep].sum()),
        skipped=skipped,
        repaired=repaired,
        addresses=addresses,
    )


def _households(frame: gpd.GeoDataFrame, path: Path, column: str) -> np.ndarray:
    raw = frame[column]
    numbers = pd.to_numeric(raw, errors="coerce")
    bad = numbers.isna() | (numbers < 0) | (numbers % 1 != 0)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataFileError(
            f"{path}: feature {i + 1}, column {column}: {raw.iloc[i]!r} is not a whole number "
            "of households (0 or more)",
            details={"file": str(path), "feature": i + 1, "column": column},
        )
    return numbers.to_numpy(dtype=np.int64)


def _estimate(
    frame: gpd.GeoDataFrame,
    path: Path,
    geoms: np.ndarray,
    kind: pd.Series,
    floors_column: str | None,
    default_floors: float,
    typed: bool,
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    points = np.flatnonzero(shapely.get_type_id(geoms) == 0)
    if len(points):
        raise DataFileError(
            f"{path}: feature {int(points[0]) + 1} is a point: households cannot be estimated "
            "without a footprint; give --households-column",
            details={"file": str(path), "feature": int(points[0]) + 1},
        )
    metric = gpd.GeoSeries(geoms, crs="EPSG:4326")
    footprint = metric.to_crs(metric.estimate_utm_crs()).area.to_numpy()
    given = (
        pd.to_numeric(frame[floors_column], errors="coerce").to_numpy(dtype=float)
        if floors_column
        else np.full(len(frame), np.nan)
    )
    default = kind.map(lambda k: DEFAULT_LEVELS.get(k, default_floors)).to_numpy(dtype=float)
    floors = np.where(given >= 1, given, default)
    share = (
        kind.map(lambda k: RESIDENTIAL_SHARE.get(k, 0.0)).to_numpy(dtype=float)
        if typed
        else np.full(len(frame), UNTYPED_RESIDENTIAL_SHARE)
    )
    households = np.round(footprint * floors * share / FLAT_GROSS_M2).astype(np.int64)
    attributes = [
        {"estimated": True, "footprint_m2": round(float(a), 1), "floors": float(f)}
        for a, f in zip(footprint, floors, strict=True)
    ]
    return households, attributes
