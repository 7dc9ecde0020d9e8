"""A county's township or community layer, named and coded after its division list.

From the county's own polygons (matched to the list by code, else by exact name), or —
where it has none yet — provisional ones made from one point per township or committee
(the village office, the community centre): the Voronoi cells of the points, clipped to
the parent (the county outline for townships, each township for its communities), so the
layer tiles its parent exactly. Provisional areas say so (`attributes.provisional`) until
the county draws real ones. Pure functions: the caller reads the parents and publishes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from geodata.divisions import short_code
from geodata.readers import read_layer
from geodata.tables import read_table
from gridmap.boundaries import DivisionRow
from gridmap.crs import parse_crs, to_wgs84
from gridmap.errors import DataFileError, InvalidInput

AREA_LAYERS = ("township", "community")
PROVISIONAL_METHOD = "Voronoi cells of one point per division, clipped to the parent"


@dataclass(frozen=True)
class Places:
    """Features read from a file: codes/names, geometry in WGS84, and their row numbers."""

    path: Path
    codes: list[str | None]
    names: list[str | None]
    geoms: list[BaseGeometry]
    rows: list[int]

    @property
    def points(self) -> bool:
        return all(g.geom_type == "Point" for g in self.geoms)


def read_places(
    path: str | Path, *, crs: str | None, code_field: str = "code", name_field: str = "name"
) -> Places:
    """Polygons or points with a code and/or name: any boundary file, or a CSV/XLSX of
    points with `lon`, `lat` columns (in `crs`, WGS84 when not given)."""
    path = Path(path)
    if path.suffix.lower() in (".csv", ".xlsx"):
        table = read_table(path, required=("lon", "lat"), optional=(code_field, name_field))
        lon, lat, rows = [], [], []
        for r in table.rows:
            try:
                lon.append(float(r.get("lon")))
                lat.append(float(r.get("lat")))
            except ValueError:
                column = "lon" if not _is_number(r.get("lon")) else "lat"
                raise DataFileError(
                    f"{path.name} row {r.row}, column {column}: {r.get(column)!r} is not a number",
                    details=table.where(r.row, column),
                ) from None
            rows.append(r.row)
        x, y = to_wgs84(np.asarray(lon), np.asarray(lat), parse_crs(crs))
        return Places(
            path,
            [r.get(code_field) or None for r in table.rows],
            [r.get(name_field) or None for r in table.rows],
            list(np.asarray(shapely.points(x, y), dtype=object)),
            rows,
        )
    columns = {c: std for c, std in ((code_field, "code"), (name_field, "name")) if c != std}
    frame = read_layer(path, crs=crs, columns=columns or None)
    return Places(
        path,
        list(frame["code"]),
        list(frame["name"]),
        list(frame.geometry.values),
        list(range(1, len(frame) + 1)),
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def area_layer(
    places: Places,
    *,
    layer: str,
    divisions: Sequence[DivisionRow],
    parents: dict[str, BaseGeometry],
) -> gpd.GeoDataFrame:
    """The whole `layer` (township or community) as standard columns in EPSG:4326.

    `parents`: the parent areas by code (the county for townships, the townships for
    communities). Polygons are kept as given; points become provisional Voronoi areas.
    """
    if layer not in AREA_LAYERS:
        raise InvalidInput(f"--layer must be township or community, not {layer!r}")
    listed = [d for d in divisions if d.level == layer]
    if not listed:
        raise InvalidInput(
            f"no {layer} in the stored division list: run `gridmap county divisions` first"
        )
    matched = _match(places, listed)
    provisional = places.points
    if not provisional and not all(
        g.geom_type in ("Polygon", "MultiPolygon") for g in places.geoms
    ):
        raise DataFileError(
            f"{places.path.name}: give polygons (the areas) or points (one per division), "
            "not a mix",
            details={"file": str(places.path)},
        )
    by_code = {d.code: d for d in listed}
    if provisional:
        geoms = _voronoi(places, matched, by_code, parents, layer)
    else:
        geoms = {code: places.geoms[i] for code, i in matched.items()}
    codes = sorted(geoms)
    return gpd.GeoDataFrame(
        {
            "code": codes,
            "name": [by_code[c].name for c in codes],
            "layer": layer,
            "parent_code": [by_code[c].parent_code for c in codes],
            "kind": [by_code[c].kind for c in codes],
            "attributes": [
                {"provisional": True, "method": PROVISIONAL_METHOD} if provisional else {}
                for _ in codes
            ],
        },
        geometry=[_multi(geoms[c]) for c in codes],
        crs="EPSG:4326",
    )


def _match(places: Places, listed: Sequence[DivisionRow]) -> dict[str, int]:
    """Division code → feature index, by code (any of its NBS forms) else by exact name."""
    codes = {d.code for d in listed}
    names: dict[str, list[str]] = {}
    for d in listed:
        names.setdefault(d.name, []).append(d.code)
    found: dict[str, int] = {}
    problems: list[dict[str, object]] = []
    for i, (code, name) in enumerate(zip(places.codes, places.names, strict=True)):
        short = short_code(code)[0] if code else None
        if short in codes:
            hit = short
        elif name and len(names.get(name, [])) == 1:
            hit = names[name][0]
        else:
            what = f"code {code!r}" if code else f"name {name!r}"
            problems.append(
                {
                    "file": str(places.path),
                    "row": places.rows[i],
                    "column": "code" if code else "name",
                    "message": f"{what} is not in the division list",
                }
            )
            continue
        if hit in found:
            problems.append(
                {
                    "file": str(places.path),
                    "row": places.rows[i],
                    "column": "code",
                    "message": f"{hit} appears twice (first at row {places.rows[found[hit]]})",
                }
            )
            continue
        found[hit] = i
    if problems:
        shown = "; ".join(f"row {p['row']}: {p['message']}" for p in problems[:10])
        raise DataFileError(
            f"{places.path.name}: {len(problems)} feature(s) do not match the division list: "
            f"{shown}",
            details={"file": str(places.path), "problems": problems},
        )
    return found


def _voronoi(
    places: Places,
    matched: dict[str, int],
    by_code: dict[str, DivisionRow],
    parents: dict[str, BaseGeometry],
    layer: str,
) -> dict[str, BaseGeometry]:
    """Voronoi cells of the points, parent by parent, clipped to the parent."""
    per_parent: dict[str, list[str]] = {}
    for code in matched:
        per_parent.setdefault(by_code[code].parent_code or "", []).append(code)
    problems: list[dict[str, object]] = []
    for parent in sorted(parents):
        if parent not in per_parent:
            problems.append(
                {
                    "file": str(places.path),
                    "message": f"{parent} has no {layer} point: it would be left uncovered",
                }
            )
    cells: dict[str, BaseGeometry] = {}
    for parent, members in sorted(per_parent.items()):
        if parent not in parents:
            problems.append(
                {
                    "file": str(places.path),
                    "message": f"the parent {parent} of {', '.join(members[:5])} has no area "
                    "yet: publish the layer above first",
                }
            )
            continue
        outline = parents[parent]
        shapely.prepare(outline)
        points = [places.geoms[matched[c]] for c in members]
        for code, point in zip(members, points, strict=True):
            if not outline.contains(point):
                problems.append(
                    {
                        "file": str(places.path),
                        "row": places.rows[matched[code]],
                        "message": f"{code} {by_code[code].name}: the point lies outside its "
                        f"parent {parent}",
                    }
                )
        if len(members) == 1:
            cells[members[0]] = outline
            continue
        xy = shapely.get_coordinates(points)
        if len(np.unique(xy, axis=0)) < len(xy):
            problems.append(
                {"file": str(places.path), "message": f"two points of {parent} are the same place"}
            )
            continue
        x0, y0, x1, y1 = outline.bounds
        extent = shapely.box(x0 - 1, y0 - 1, x1 + 1, y1 + 1)
        regions = shapely.get_parts(
            shapely.voronoi_polygons(shapely.multipoints(points), extend_to=extent, ordered=True)
        )
        for code, region in zip(members, regions, strict=True):
            cells[code] = region if outline.contains(region) else region.intersection(outline)
    if problems:
        shown = "; ".join(str(p["message"]) for p in problems[:10])
        raise DataFileError(
            f"{places.path.name}: cannot make provisional {layer} areas: {shown}",
            details={"file": str(places.path), "problems": problems},
        )
    return cells


def _multi(geom: BaseGeometry) -> MultiPolygon:
    return MultiPolygon(
        [p for p in shapely.get_parts(geom) if isinstance(p, Polygon) and not p.is_empty]
    )
