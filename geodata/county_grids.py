"""Grids for every community of a county, from its stored buildings.

Each community's buildings (by where they stand) are split into grids of 30–50 households
by `geodata.gridgen` (one piece each; a grid that cannot be in range and in one piece is
flagged with its reason — a high-rise, a separate part of the community, too few
households). Codes are the community code plus a 3-digit sequence, so the same buildings
give the same grids and a second run publishes nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy.orm import Session

from geodata.gridgen import generate_grids, grid_attributes
from gridmap.boundaries import stored_buildings
from gridmap.boundaries import versions as boundaries
from gridmap.errors import InvalidInput

GRID_COLUMNS = ["code", "name", "layer", "parent_code", "households", "kind", "attributes"]

# A step reporter: called with a step's name and its size, returns a context whose
# `advance(n)` the step calls (the CLI passes rich progress bars; tests pass nothing).
Reporter = Callable[[str, int], contextlib.AbstractContextManager[Any]]


class Silent:
    def advance(self, n: int = 1) -> None:
        pass


@contextlib.contextmanager
def silent(name: str, total: int) -> Iterator[Silent]:
    yield Silent()


@dataclass
class CountyGrids:
    grids: gpd.GeoDataFrame  # standard columns, ready to publish
    buildings: int
    outside: int  # buildings in no community
    flagged: dict[str, str] = field(default_factory=dict)  # grid code → reason

    def to_text(self) -> str:
        h = self.grids["households"]
        lines = [
            f"{len(self.grids)} grids in {self.grids['parent_code'].nunique()} communities from "
            f"{self.buildings} buildings ({self.outside} in no community, left out); "
            f"households per grid {int(h.min())}–{int(h.max())}, mean {float(h.mean()):.1f}",
        ]
        if self.flagged:
            lines.append(f"{len(self.flagged)} grid(s) flagged as exceptions:")
            lines += [f"  {code}: {reason}" for code, reason in sorted(self.flagged.items())[:30]]
            if len(self.flagged) > 30:
                lines.append(f"  … and {len(self.flagged) - 30} more")
        return "\n".join(lines)


def _grids_for(args: tuple[str, str, Any, gpd.GeoDataFrame, int, int]) -> gpd.GeoDataFrame:
    code, name, geom, buildings, lo, hi = args
    result = generate_grids(
        geom,
        buildings,
        code_prefix=code,
        name_prefix=name,
        min_households=lo,
        max_households=hi,
    )
    grids = result.grids
    grids["parent_code"] = code
    grids["layer"] = "grid"
    grids["kind"] = grids["flag"].map(lambda f: "high_rise" if f == "high_rise" else "community")
    assignment = result.assignment
    grids.attrs["assignment"] = assignment
    return grids


def generate_community_grids(
    communities: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    *,
    households_range: tuple[int, int],
    workers: int = 2,
    report: Reporter = silent,
) -> tuple[gpd.GeoDataFrame, pd.Series]:
    """Grids of every community from its buildings, in parallel; and building → grid code."""
    by_community = dict(tuple(buildings.groupby("community_code", sort=False)))
    jobs = [
        (
            c.code,
            c.name.removesuffix("居委会").removesuffix("委会"),
            c.geometry,
            by_community.get(c.code, buildings.iloc[0:0]),
            *households_range,
        )
        for c in communities.itertuples()
    ]
    parts: list[gpd.GeoDataFrame] = []
    assignments: list[pd.Series] = []
    with report("generating grids", len(jobs)) as bar:
        if workers > 1:
            with ProcessPoolExecutor(workers) as pool:
                results = pool.map(_grids_for, jobs, chunksize=8)
                for grids in results:
                    parts.append(grids)
                    bar.advance(1)
        else:
            for job in jobs:
                parts.append(_grids_for(job))
                bar.advance(1)
    for grids in parts:
        assignments.append(grids.attrs.pop("assignment"))
    grids = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs="EPSG:4326")
    return grids, pd.concat(assignments)


def county_grids(
    session: Session,
    *,
    county_code: str,
    households_range: tuple[int, int] = (30, 50),
    workers: int = 1,
    report: Reporter = silent,
) -> CountyGrids:
    """The grid layer of the county from its active communities and stored buildings."""
    active = boundaries.active_version(session, county_code=county_code)
    if active is None:
        raise InvalidInput("no boundary version is active: run `gridmap county init` first")
    records = boundaries.areas_in_version(
        session, version_id=active.id, layers=["community"], county_code=county_code
    )
    if not records:
        raise InvalidInput(
            f"county {county_code} has no communities yet: run "
            "`gridmap county areas FILE --layer community` first"
        )
    communities = gpd.GeoDataFrame(
        {"code": [r.code for r in records], "name": [r.name for r in records]},
        geometry=[r.geom for r in records],
        crs="EPSG:4326",
    )
    stored = stored_buildings(session, county_code=county_code)
    if not stored:
        raise InvalidInput(
            f"county {county_code} has no buildings yet: run `gridmap county buildings` first"
        )
    codes = sorted(stored)
    xy = np.array([stored[c][2:] for c in codes], dtype=float)
    points = shapely.points(xy)
    owner = np.full(len(codes), -1, dtype=np.int64)
    tree = shapely.STRtree(np.asarray(communities.geometry.values))
    point_idx, area_idx = tree.query(points, predicate="intersects")
    owner[point_idx[::-1]] = area_idx[::-1]  # on a shared edge: the first community
    inside = owner >= 0
    buildings = gpd.GeoDataFrame(
        {
            "code": np.asarray(codes, dtype=object)[inside],
            "households": np.array([stored[c][0] for c in codes], dtype=np.int64)[inside],
            "community_code": communities["code"].to_numpy()[owner[inside]],
        },
        geometry=np.asarray(points, dtype=object)[inside],
        crs="EPSG:4326",
    )
    grids, _ = generate_community_grids(
        communities, buildings, households_range=households_range, workers=workers, report=report
    )
    flagged = {
        str(c): str(r)
        for c, f, r in zip(grids["code"], grids["flag"], grids["reason"], strict=True)
        if isinstance(f, str)
    }
    # Flagged grids are recorded as accepted exceptions with the generator's reason, as
    # the demo's are, so imports, exports and re-imports list them as exceptions.
    grids["attributes"] = grid_attributes(grids)
    frame = gpd.GeoDataFrame(
        pd.DataFrame(grids[GRID_COLUMNS]), geometry=grids.geometry.values, crs="EPSG:4326"
    )
    return CountyGrids(frame, len(codes), int((~inside).sum()), flagged)
