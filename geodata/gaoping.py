"""The Gaoping (高平市, 140581) demo: synthetic geometry inside a real outline, and its teams.

Real: the county outline (stored in GCJ-02, converted here), the 15 townships and the 338
village and community committees with their official codes and names. Synthetic: every
township, community, building and household position and count, and every person.

How the geometry is made (pure, deterministic for a seed, a few seconds):

1. Fine cells. Seed points are drawn inside the outline: uniform over the county, denser
   around the city (the three streets) and a little denser around each town seat. Their
   Voronoi diagram, clipped to the outline, tiles the county exactly.
2. Townships. Fifteen centres come from k-means over the seed points (so the dense city gets
   small streets); each cell joins the centre nearest along the cell adjacency graph (a
   multi-source Dijkstra), which keeps every township connected.
3. Communities. Within each township, committee seeds are spread by farthest-point
   sampling (居委会 near the town centre, villages over the rest) and cells join the nearest
   seed along the township's own graph. Every community owns at least its seed cell.
4. Areas are unions of whole cells, so every layer is a valid coverage of its parent.
5. Buildings. Urban communities get multi-storey blocks (some high-rises over 50
   households); villages get clusters of one-household houses around one to three centres;
   every committee has an office and the towns have schools, clinics, shops and factories
   with no households. About 160,000 households in all.
"""

from __future__ import annotations

import csv
import heapq
import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Point
from shapely.geometry.base import BaseGeometry

from geodata.divisions import township_kind
from geodata.responsibility import read_departments
from gridmap.crs import geometry_to_wgs84
from gridmap.errors import DataFileError, InvalidInput

DISCLAIMER = (
    "Synthetic geometry inside a real outline (真实边界内的合成数据): the county outline and the "
    "names and codes of its townships and communities are real; township, community, building "
    "and household geometry, household counts and all people are synthesised."
)
COUNTY_CODE = "140581"
COUNTY_NAME = "高平市"
DEFAULT_SEED = 140581
TARGET_HOUSEHOLDS = 160_000
SAMPLES = Path(__file__).resolve().parent / "samples" / "gaoping"
OUTLINE_FILE = SAMPLES / "140581_outline_gcj02.geojson"
DIVISIONS_FILE = SAMPLES / "140581_divisions.csv"
DEPARTMENTS_FILE = SAMPLES / "departments.csv"

# The city (the three streets 北城, 东城, 南城) in WGS84; the outline's own geometry decides
# everything else.
CITY_CENTRE = (112.925, 35.795)
STREET_CODES = ("140581001", "140581002", "140581003")  # north, east, south streets
# Four joint-enforcement zones (执法片区), each led by an enforcement squadron: the city
# zone holds the three streets and the nearest town, the other towns go by direction.
ZONES = (
    ("140581Z01", "第一执法片区（城区）", "ZF01"),
    ("140581Z02", "第二执法片区", "ZF02"),
    ("140581Z03", "第三执法片区", "ZF03"),
    ("140581Z04", "第四执法片区", "ZF04"),
)
AREA_COLUMNS = ["code", "name", "layer", "parent_code", "households", "kind", "attributes"]

# Fine-cell counts and spreads (metres): enough cells that the smallest township holds
# several per community, few enough that the Voronoi and the graph search stay fast.
_RURAL_SEEDS = 9_000
_CITY_SEEDS = 4_500
_CITY_SIGMA_M = 2_000.0
_TOWN_SEAT_SEEDS = 150
_TOWN_SEAT_SIGMA_M = 700.0
_KMEANS_ROUNDS = 25
# Household targets before scaling to TARGET_HOUSEHOLDS (median, lognormal spread).
_URBAN_HOUSEHOLDS = (2_200.0, 0.3)
_VILLAGE_HOUSEHOLDS = (300.0, 0.45)
_PARK_HOUSEHOLDS = (150.0, 0.3)
# Households per urban block: six-storey walk-ups are the norm; about one block in fifteen
# is a high-rise with more households than one grid may hold.
_BLOCK_SIZES = np.array([12, 18, 24, 24, 30, 36, 36, 48, 66, 88, 120])
_BLOCK_WEIGHTS = np.array([2, 3, 5, 5, 4, 4, 4, 3, 1.0, 0.6, 0.4])
_HOUSE_SPREAD_M = 140.0
_METRES_PER_DEGREE_LAT = 110_574.0
_METRES_PER_DEGREE_LON = 111_320.0 * float(np.cos(np.radians(CITY_CENTRE[1])))
_TOWN_FACILITIES = ("school", "clinic", "shop", "market", "office")
_PARK_FACILITIES = ("factory", "factory", "warehouse", "office")

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Division:
    """One line of the official division list: county, township or committee."""

    code: str
    name: str
    level: str
    parent_code: str

    @property
    def kind(self) -> str:
        """urban (居委会), rural (村委会), park (other committees); a township's kind by its
        name (geodata.divisions.township_kind: every kind a county lists is accepted)."""
        if self.level == "community":
            if self.name.endswith("居委会"):
                return "urban"
            return "rural" if self.name.endswith("村委会") else "park"
        if self.level == "township":
            return township_kind(self.name)  # 街道 street, 镇 town, 乡 township, 管委会 zone …
        return self.level


@dataclass(frozen=True)
class GaopingData:
    """The synthesised county: every layer in EPSG:4326 with the standard columns."""

    county: gpd.GeoDataFrame
    townships: gpd.GeoDataFrame
    communities: gpd.GeoDataFrame
    zones: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    seed: int
    disclaimer: str = DISCLAIMER


@dataclass(frozen=True, slots=True)
class TeamSpec:
    code: str
    name: str
    level: str  # grid | community | township | county | department
    department_code: str | None = None
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class MemberSpec:
    team_code: str
    name: str
    role: str  # see ROLE_LABELS
    phone: str


@dataclass(frozen=True, slots=True)
class DutySpec:
    layer: str
    area_code: str
    team_code: str
    role: str = "responsible"  # responsible | lead


@dataclass(frozen=True)
class TeamPlan:
    teams: list[TeamSpec] = field(default_factory=list)
    members: list[MemberSpec] = field(default_factory=list)
    duties: list[DutySpec] = field(default_factory=list)


ROLE_LABELS = {
    "grid_leader": "网格长",
    "grid_worker": "网格员",
    "auxiliary": "网格辅助员",
    "police": "警格民警",
    "duty_leader": "带班领导",
    "duty_officer": "值班员",
}


# --- the real data --------------------------------------------------------------------------


def read_divisions(path: Path = DIVISIONS_FILE) -> list[Division]:
    """The official division list (code,name,level,parent_code), checked for its tree."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = [
            (line, row)
            for line, row in enumerate(csv.DictReader(handle), start=2)
            if any((v or "").strip() for v in row.values())
        ]
    divisions = []
    codes: set[str] = set()
    for line, row in rows:
        d = Division(row["code"], row["name"], row["level"], row["parent_code"])
        if d.level not in ("county", "township", "community"):
            raise DataFileError(
                f"{path.name} line {line}: unknown level {d.level!r}",
                details={"file": str(path), "line": line},
            )
        if d.level != "county" and d.parent_code not in codes:
            raise DataFileError(
                f"{path.name} line {line}: {d.code} {d.name}: parent {d.parent_code} not listed "
                "before it",
                details={"file": str(path), "line": line},
            )
        codes.add(d.code)
        divisions.append(d)
    return divisions


def county_outline(path: Path = OUTLINE_FILE) -> MultiPolygon:
    """The real county outline, converted from GCJ-02 (Amap data) to WGS84."""
    geom = shapely.from_geojson(path.read_text(encoding="utf-8"))
    # One polygon has no neighbour to stay joined to, and its ~600 m segments bend by under
    # 2 cm in conversion: it is not densified, so the demo stays what docs/demo-data.md says.
    geom = geometry_to_wgs84(geom, "gcj02", max_segment_m=None)
    if not geom.is_valid:
        raise DataFileError(f"{path.name}: the outline is not a valid polygon after conversion")
    return _multi(geom)


# --- synthesis --------------------------------------------------------------------------


def synthesise_gaoping(*, seed: int = DEFAULT_SEED) -> GaopingData:
    """Townships, communities, zones and buildings inside the real outline (no database)."""
    rng = np.random.default_rng(seed)
    divisions = read_divisions()
    county_div = next(d for d in divisions if d.level == "county")
    townships = [d for d in divisions if d.level == "township"]
    communities = [d for d in divisions if d.level == "community"]
    outline = county_outline()

    cells, centres_xy, town_centres = _fine_cells(outline, townships, rng)
    graph = _Graph.of(cells, centres_xy)
    township_of = graph.nearest_source(town_centres)
    seeds = _community_seeds(communities, townships, township_of, town_centres, centres_xy, rng)
    same_township = township_of[graph.heads] == township_of[graph.tails]
    community_of = graph.nearest_source(seeds, edge_mask=same_township)

    community_geoms = _dissolve(cells, community_of, len(communities))
    township_geoms = _dissolve(cells, township_of, len(townships))
    buildings = _buildings(communities, community_geoms, seeds, centres_xy, rng)

    households = buildings.groupby("community_code")["households"].sum()
    community_gdf = _areas(
        [
            (c.code, c.name, "community", c.parent_code, int(households.get(c.code, 0)), c.kind)
            for c in communities
        ],
        community_geoms,
    )
    per_township = community_gdf.groupby("parent_code")["households"].sum()
    township_gdf = _areas(
        [
            (t.code, t.name, "township", t.parent_code, int(per_township[t.code]), t.kind)
            for t in townships
        ],
        township_geoms,
    )
    county_gdf = _areas(
        [
            (
                county_div.code,
                county_div.name,
                "county",
                None,
                int(township_gdf["households"].sum()),
                "county",
            )
        ],
        [outline],
    )
    zones = _zones(township_gdf)
    for frame in (county_gdf, township_gdf, community_gdf, zones):
        frame["attributes"] = [{**a, "synthetic": True} for a in frame["attributes"]]
    return GaopingData(county_gdf, township_gdf, community_gdf, zones, buildings, seed)


def _fine_cells(
    outline: MultiPolygon, townships: Sequence[Division], rng: np.random.Generator
) -> tuple[NDArray[np.object_], Floats, Ints]:
    """Voronoi cells clipped to the outline, their seed points (metres), township source cells."""
    local = _to_metres_geom(outline)
    city = np.zeros(2)  # the metric frame is centred on the city
    uniform = _sample_in(local, _uniform(local, _RURAL_SEEDS * 2, rng), _RURAL_SEEDS, rng)
    near_city = _sample_in(
        local, rng.normal(city, _CITY_SIGMA_M, (_CITY_SEEDS * 2, 2)), _CITY_SEEDS, rng
    )
    base = np.vstack([uniform, near_city])
    centres = _township_centres(base, len(townships), rng)
    # Town seats are a little denser than the fields around them.
    seats = [
        _sample_in(
            local,
            rng.normal(c, _TOWN_SEAT_SIGMA_M, (_TOWN_SEAT_SEEDS * 2, 2)),
            _TOWN_SEAT_SEEDS,
            rng,
        )
        for c in centres[len(STREET_CODES) :]
    ]
    points = np.vstack([base, *seats])
    # Seeds closer than a metre would make slivers; drop duplicates on a 1 m lattice.
    _, keep = np.unique(np.round(points), axis=0, return_index=True)
    points = points[np.sort(keep)]

    x0, y0, x1, y1 = local.bounds
    extent = shapely.box(x0 - 5e3, y0 - 5e3, x1 + 5e3, y1 + 5e3)
    voronoi = shapely.voronoi_polygons(shapely.multipoints(points), extend_to=extent, ordered=True)
    cells_m = np.asarray(shapely.get_parts(voronoi))
    cells = _to_degrees_geom(cells_m)
    # Clip only the cells the border crosses; whole cells stay exactly as they are.
    shapely.prepare(outline)
    crossing = ~shapely.contains(outline, cells)
    cells[crossing] = [_multi(c) for c in shapely.intersection(cells[crossing], outline)]

    sources = np.array([int(np.argmin(((points - c) ** 2).sum(axis=1))) for c in centres])
    return cells, points, sources


def _township_centres(points: Floats, k: int, rng: np.random.Generator) -> Floats:
    """k-means centres over the seed points; the streets first (north, east, south), then the
    towns and townships in order of bearing from the city, as their codes go."""
    n_streets = len(STREET_CODES)
    start = np.vstack(
        [
            [[0.0, 1_200.0], [1_200.0, 0.0], [0.0, -1_200.0]],
            points[rng.choice(len(points), k - n_streets, replace=False)],
        ]
    )
    centres = start.copy()
    for _ in range(_KMEANS_ROUNDS):
        label = np.argmin(((points[:, None, :] - centres[None]) ** 2).sum(axis=2), axis=1)
        for i in range(k):
            mine = points[label == i]
            if len(mine):
                centres[i] = mine.mean(axis=0)
    by_distance = np.argsort(np.hypot(centres[:, 0], centres[:, 1]))
    streets = centres[by_distance[:n_streets]]
    north = int(np.argmax(streets[:, 1]))
    rest = [i for i in range(n_streets) if i != north]
    east, south = sorted(rest, key=lambda i: -streets[i, 0])
    towns = centres[by_distance[n_streets:]]
    bearing = np.mod(np.pi / 2 - np.arctan2(towns[:, 1], towns[:, 0]), 2 * np.pi)
    return np.vstack([streets[[north, east, south]], towns[np.argsort(bearing)]])


def _community_seeds(
    communities: Sequence[Division],
    townships: Sequence[Division],
    township_of: Ints,
    town_centres: Ints,
    points: Floats,
    rng: np.random.Generator,
) -> Ints:
    """One seed cell per committee: 居委会 packed around the town centre, villages spread."""
    seeds = np.full(len(communities), -1, dtype=np.int64)
    for t_index, township in enumerate(townships):
        members = [i for i, c in enumerate(communities) if c.parent_code == township.code]
        cells = np.flatnonzero(township_of == t_index)
        if len(cells) < len(members):
            raise InvalidInput(f"township {township.code} got too few cells for its communities")
        centre = points[town_centres[t_index]]
        distance = np.hypot(*(points[cells] - centre).T)
        urban = [i for i in members if communities[i].kind == "urban"]
        others = [i for i in members if communities[i].kind != "urban"]
        chosen: list[int] = []
        if urban:
            # The urban committees share the cells nearest the centre, about eight each.
            core = cells[np.argsort(distance)[: max(8 * len(urban), len(urban))]]
            chosen = _farthest_points(points, core, len(urban), [], rng)
        chosen += _farthest_points(points, cells, len(others), chosen, rng)
        seeds[urban + others] = chosen
    return seeds


def _farthest_points(
    points: Floats, candidates: Ints, k: int, fixed: list[int], rng: np.random.Generator
) -> list[int]:
    """k candidate cells spread out: each the farthest from all chosen so far."""
    if k == 0:
        return []
    xy = points[candidates]
    if fixed:
        nearest = np.min(
            np.hypot(*(xy[:, None, :] - points[fixed][None]).transpose(2, 0, 1)), axis=1
        )
        picked: list[int] = []
    else:
        first = int(rng.integers(len(candidates)))
        picked = [first]
        nearest = np.hypot(*(xy - xy[first]).T)
    taken = np.zeros(len(candidates), dtype=bool)
    taken[picked] = True
    while len(picked) < k:
        nearest[taken] = -1.0
        nxt = int(np.argmax(nearest))
        picked.append(nxt)
        taken[nxt] = True
        nearest = np.minimum(nearest, np.hypot(*(xy - xy[nxt]).T))
    return [int(candidates[i]) for i in picked]


@dataclass(frozen=True)
class _Graph:
    """Cells that share an edge, with a cost that grows with hops and a little with length."""

    heads: Ints
    tails: Ints
    cost: Floats
    size: int

    @classmethod
    def of(cls, cells: NDArray[np.object_], points: Floats) -> _Graph:
        # Neighbouring cells share the two end vertices of their common edge exactly (they
        # come from one Voronoi diagram), so pairs sharing two or more vertices are adjacent.
        coords, owner = shapely.get_coordinates(cells, return_index=True)
        _, vertex = np.unique(np.round(coords, 10), axis=0, return_inverse=True)
        pairs = pd.DataFrame({"vertex": vertex.ravel(), "cell": owner}).drop_duplicates()
        joined = pairs.merge(pairs, on="vertex")
        joined = joined[joined["cell_x"] < joined["cell_y"]]
        shared = joined.groupby(["cell_x", "cell_y"]).size()
        edges = shared[shared >= 2].index.to_frame(index=False).to_numpy()
        heads = np.concatenate([edges[:, 0], edges[:, 1]])
        tails = np.concatenate([edges[:, 1], edges[:, 0]])
        length = np.hypot(*(points[heads] - points[tails]).T)
        # Hop counts make regions of equal cell counts, so dense seeds give small areas;
        # the length term breaks ties by real distance.
        cost = 1.0 + 0.1 * length / length.mean()
        return cls(heads, tails, cost, len(cells))

    def nearest_source(self, sources: Ints, *, edge_mask: NDArray[np.bool_] | None = None) -> Ints:
        """For each cell, the index of the source nearest along the graph (Dijkstra)."""
        mask = np.ones(len(self.heads), dtype=bool) if edge_mask is None else edge_mask
        order = np.argsort(self.heads[mask], kind="stable")
        heads, tails, cost = (
            self.heads[mask][order],
            self.tails[mask][order],
            self.cost[mask][order],
        )
        start = np.searchsorted(heads, np.arange(self.size + 1)).tolist()
        tails_l, cost_l = tails.tolist(), cost.tolist()
        best = [float("inf")] * self.size
        label = [-1] * self.size
        queue = [(0.0, label_index, int(s)) for label_index, s in enumerate(sources)]
        heapq.heapify(queue)
        while queue:
            dist, lab, node = heapq.heappop(queue)
            if label[node] != -1:
                continue
            label[node] = lab
            best[node] = dist
            for j in range(start[node], start[node + 1]):
                other = tails_l[j]
                if label[other] == -1:
                    candidate = dist + cost_l[j]
                    if candidate < best[other]:
                        best[other] = candidate
                        heapq.heappush(queue, (candidate, lab, other))
        result = np.asarray(label, dtype=np.int64)
        if (result < 0).any():
            raise InvalidInput(f"{int((result < 0).sum())} cells are not connected to any seed")
        return result


def _dissolve(cells: NDArray[np.object_], label: Ints, count: int) -> list[MultiPolygon]:
    order = np.argsort(label, kind="stable")
    bounds = np.searchsorted(label[order], np.arange(count + 1))
    return [
        _multi(shapely.coverage_union_all(cells[order[bounds[i] : bounds[i + 1]]]))
        for i in range(count)
    ]


def _zones(townships: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Four enforcement zones: the city zone, then the other towns in three sectors by bearing."""
    centre = Point(CITY_CENTRE)
    towns = townships[~townships["code"].isin(STREET_CODES)]
    distance = shapely.distance(towns.geometry.to_numpy(), centre)  # ranking only: degrees do
    nearest_town = towns.iloc[int(np.argmin(distance))]["code"]
    groups = [[*STREET_CODES, nearest_town]]
    rest = towns[towns["code"] != nearest_town]
    points = rest.geometry.representative_point()
    bearing = np.mod(
        np.pi / 2 - np.arctan2(points.y - CITY_CENTRE[1], points.x - CITY_CENTRE[0]), 2 * np.pi
    ).to_numpy()
    ordered = rest["code"].to_numpy()[np.argsort(bearing)].tolist()
    groups += _sectors(ordered, len(ZONES) - 1, townships.set_index("code").geometry)
    rows, geoms = [], []
    by_code = townships.set_index("code")
    for (code, name, lead), members in zip(ZONES, groups, strict=True):
        part = by_code.loc[members]
        rows.append(
            (
                code,
                name,
                "enforcement_zone",
                COUNTY_CODE,
                int(part["households"].sum()),
                "enforcement",
                {"lead_department_code": lead, "township_codes": list(members)},
            )
        )
        geoms.append(_multi(shapely.coverage_union_all(part.geometry.to_numpy())))
    return _areas(rows, geoms)


def _sectors(ordered: list[str], count: int, geometry: gpd.GeoSeries) -> list[list[str]]:
    """Split a ring of towns (in bearing order) into `count` runs of near-equal length.

    A run of towns by bearing can still fall apart (a town reaching round another), so the
    first rotation and order of run lengths that gives every zone in one piece wins; if
    none does, the plain split is kept (a zone in two pieces is allowed, just less tidy).
    """
    base = np.diff(np.linspace(0, len(ordered), count + 1).round().astype(int)).tolist()
    options = sorted(set(itertools.permutations(base)), reverse=True)
    plain: list[list[str]] | None = None
    for start in range(len(ordered)):
        ring = ordered[start:] + ordered[:start]
        for sizes in options:
            cuts = np.concatenate([[0], np.cumsum(sizes)])
            runs = [ring[cuts[i] : cuts[i + 1]] for i in range(count)]
            plain = plain or runs
            unions = [shapely.coverage_union_all(geometry.loc[r].to_numpy()) for r in runs]
            if all(shapely.get_num_geometries(u) == 1 for u in unions):
                return runs
    assert plain is not None
    return plain


def _buildings(
    communities: Sequence[Division],
    geoms: Sequence[MultiPolygon],
    seeds: Ints,
    points: Floats,
    rng: np.random.Generator,
) -> gpd.GeoDataFrame:
    """Residential buildings to about TARGET_HOUSEHOLDS, plus offices, schools and factories."""
    medians = {"urban": _URBAN_HOUSEHOLDS, "rural": _VILLAGE_HOUSEHOLDS, "park": _PARK_HOUSEHOLDS}
    raw = np.array(
        [rng.lognormal(np.log(medians[c.kind][0]), medians[c.kind][1]) for c in communities]
    )
    targets = np.maximum(np.round(raw * TARGET_HOUSEHOLDS / raw.sum()), 20).astype(int)

    frames = []
    for index, community in enumerate(communities):
        local = _to_metres_geom(geoms[index])
        shapely.prepare(local)
        seat = points[seeds[index]]
        if community.kind == "urban":
            sizes = _block_sizes(int(targets[index]), rng)
            xy = _sample_in(local, _uniform(local, len(sizes) * 4 + 50, rng), len(sizes), rng)
            kinds = np.where(sizes > 50, "high_rise", "residential_block")
        elif community.kind == "rural":
            sizes = np.ones(int(targets[index]), dtype=np.int64)
            xy = _village_houses(local, seat, len(sizes), rng)
            kinds = np.full(len(sizes), "house")
        else:
            sizes = _block_sizes(int(targets[index]), rng)
            xy = _sample_in(local, _uniform(local, len(sizes) * 4 + 50, rng), len(sizes), rng)
            kinds = np.where(sizes > 50, "high_rise", "residential_block")
        facilities = ["committee_office"]
        if community.kind == "urban":
            facilities += list(rng.choice(_TOWN_FACILITIES, int(rng.integers(2, 6))))
        elif community.kind == "park":
            facilities += list(rng.choice(_PARK_FACILITIES, int(rng.integers(15, 30))))
        fxy = _sample_in(
            local, _uniform(local, len(facilities) * 4 + 50, rng), len(facilities), rng
        )
        all_xy = np.vstack([xy, fxy])
        lon, lat = _to_degrees(all_xy[:, 0], all_xy[:, 1])
        count = len(all_xy)
        frames.append(
            pd.DataFrame(
                {
                    "code": [f"{community.code}B{i + 1:05d}" for i in range(count)],
                    "community_code": community.code,
                    "households": np.concatenate([sizes, np.zeros(len(facilities), dtype=int)]),
                    "kind": np.concatenate([kinds, np.array(facilities)]),
                    "lon": lon,
                    "lat": lat,
                }
            )
        )
    table = pd.concat(frames, ignore_index=True)
    table["households"] = table["households"].astype("int64")
    geometry = shapely.points(table["lon"].to_numpy(), table["lat"].to_numpy())
    return gpd.GeoDataFrame(table.drop(columns=["lon", "lat"]), geometry=geometry, crs=4326)


def _block_sizes(households: int, rng: np.random.Generator) -> Ints:
    """Households per block summing exactly to `households`."""
    p = _BLOCK_WEIGHTS / _BLOCK_WEIGHTS.sum()
    draws = rng.choice(_BLOCK_SIZES, size=households // 12 + 2, p=p)
    total = np.cumsum(draws)
    n = int(np.searchsorted(total, households)) + 1
    sizes = draws[:n].astype(np.int64)
    sizes[-1] -= int(sizes.sum()) - households  # the last block takes what is left
    return sizes[sizes > 0]


def _village_houses(local: BaseGeometry, seat: Floats, n: int, rng: np.random.Generator) -> Floats:
    """n houses in one to three clusters, the first at the village's seed."""
    clusters = [seat]
    extra = int(rng.integers(0, 3))
    if extra:
        clusters += list(_sample_in(local, _uniform(local, 50 * extra, rng), extra, rng))
    share = rng.dirichlet(np.full(len(clusters), 3.0))
    counts = np.bincount(rng.choice(len(clusters), n, p=share), minlength=len(clusters))
    parts = []
    for centre, count in zip(clusters, counts, strict=True):
        spread = _HOUSE_SPREAD_M * np.sqrt(max(count, 1) / 150.0)
        found = np.empty((0, 2))
        while len(found) < count:
            batch = rng.normal(centre, spread, (2 * count + 20, 2))
            found = np.vstack([found, batch[shapely.contains_xy(local, batch[:, 0], batch[:, 1])]])
            spread *= 1.3  # a small or thin village: widen until the houses fit
        parts.append(found[:count])
    return np.vstack(parts)


# --- teams ------------------------------------------------------------------------------


_SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
    "苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史"
    "顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文"
)
_GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志红玉梅文辉鹏飞斌宇浩"
    "凯晨瑞佳欣怡晓东海波宁亮"
)


def teams_for_grids(grids: gpd.GeoDataFrame, *, seed: int = DEFAULT_SEED) -> TeamPlan:
    """The people behind the map: a 1+1+N team per grid, duty teams for every community,
    township and the county, and one team per department, with their duties.

    `grids` needs `code` and `parent_code` (a Gaoping community code). Names and phones are
    fake and deterministic: each depends only on the seed and the code it belongs to, so a
    redrawn grid keeps the people of the grids that did not change.
    """
    missing = {"code", "parent_code"} - set(grids.columns)
    if missing:
        raise InvalidInput(f"grids need the column(s) {', '.join(sorted(missing))}")
    divisions = {d.code: d for d in read_divisions()}
    unknown = sorted(set(grids["parent_code"]) - set(divisions))
    if unknown:
        raise InvalidInput(
            f"{len(unknown)} grid parent code(s) are not Gaoping communities, e.g. {unknown[0]}",
            details={"unknown_parent_codes": unknown[:20]},
        )
    plan = TeamPlan()
    for d in divisions.values():
        level = {"county": "county", "township": "township", "community": "community"}[d.level]
        name = (
            f"{COUNTY_NAME}社会治理综合指挥中心值班组" if level == "county" else f"{d.name}值班组"
        )
        people = _People(seed, d.code)
        _add_team(plan, TeamSpec(f"T-{d.code}", name, level, phone=people.phone()), d.code, level)
        plan.members.append(MemberSpec(f"T-{d.code}", people.name(), "duty_leader", people.phone()))
        plan.members.append(
            MemberSpec(f"T-{d.code}", people.name(), "duty_officer", people.phone())
        )

    for dept in read_departments(DEPARTMENTS_FILE):
        people = _People(seed, dept.code)
        code = f"T-{dept.code}"
        plan.teams.append(TeamSpec(code, f"{dept.name}值班组", "department", dept.code, dept.phone))
        plan.members.append(MemberSpec(code, people.name(), "duty_leader", people.phone()))
        plan.members.append(MemberSpec(code, people.name(), "duty_officer", people.phone()))
    for zone_code, _, lead in ZONES:
        plan.duties.append(DutySpec("enforcement_zone", zone_code, f"T-{lead}", "lead"))

    # Plain columns only: grouping a GeoDataFrame would copy its geometries for nothing.
    codes = pd.DataFrame(
        {"code": grids["code"].astype(str), "parent_code": grids["parent_code"].astype(str)}
    ).sort_values("code")
    for parent, group in codes.groupby("parent_code", sort=True):
        community = divisions[str(parent)]
        short = _short_name(community.name)
        secretary = _People(seed, f"{community.code}:secretary")
        leader = (secretary.name(), secretary.phone())
        police = _People(seed, f"{community.code}:police")
        officer = (police.name(), police.phone())
        for position, code in enumerate(group["code"], start=1):
            number = _grid_number(code, community.code, position)
            team = f"T-{code}"
            people = _People(seed, code)
            _add_team(
                plan,
                TeamSpec(team, f"{short}第{number}网格", "grid", phone=people.phone()),
                code,
                "grid",
            )
            plan.members.append(MemberSpec(team, leader[0], "grid_leader", leader[1]))
            for _ in range(people.between(1, 2)):
                plan.members.append(MemberSpec(team, people.name(), "grid_worker", people.phone()))
            for _ in range(people.between(1, 3)):
                plan.members.append(MemberSpec(team, people.name(), "auxiliary", people.phone()))
            plan.members.append(MemberSpec(team, officer[0], "police", officer[1]))
    return plan


def _add_team(plan: TeamPlan, team: TeamSpec, area_code: str, layer: str) -> None:
    plan.teams.append(team)
    plan.duties.append(DutySpec(layer, area_code, team.code, "responsible"))


def _short_name(name: str) -> str:
    """城西社区居委会 → 城西社区, 永禄村委会 → 永禄村: how people name the place."""
    if name.endswith("居委会"):
        return name.removesuffix("居委会")
    return name.removesuffix("委会") if name.endswith("村委会") else name


def _grid_number(code: str, community_code: str, position: int) -> int:
    """The grid's sequence in its community: the code's tail when it has one."""
    tail = code.removeprefix(community_code)
    return int(tail) if tail != code and tail.isdigit() and int(tail) > 0 else position


class _People:
    """Fake people for one team: a random stream seeded by (seed, what they belong to)."""

    def __init__(self, seed: int, key: str) -> None:
        # String seeds are hashed with SHA-512: stable across runs and Python versions.
        self._rng = random.Random(f"{seed}:{key}")

    def name(self) -> str:
        given = "".join(self._rng.choice(_GIVEN) for _ in range(self.between(1, 2)))
        return self._rng.choice(_SURNAMES) + given

    def phone(self) -> str:
        prefix = self._rng.choice(("138", "139", "135", "136", "150", "152", "187", "183"))
        return f"{prefix}{self._rng.randrange(100_000_000):08d}"

    def between(self, low: int, high: int) -> int:
        return self._rng.randint(low, high)


# --- geometry helpers --------------------------------------------------------------------


def _areas(rows: Sequence[tuple[Any, ...]], geoms: Sequence[BaseGeometry]) -> gpd.GeoDataFrame:
    records = [row if len(row) == 7 else (*row, {}) for row in rows]
    frame = pd.DataFrame(records, columns=AREA_COLUMNS)
    frame["households"] = frame["households"].astype("int64")
    return gpd.GeoDataFrame(frame, geometry=list(geoms), crs=4326)


def _multi(geom: BaseGeometry) -> MultiPolygon:
    polygons = [p for p in shapely.get_parts(geom) if p.geom_type == "Polygon" and not p.is_empty]
    return MultiPolygon(polygons)


def _to_metres(lon: Floats, lat: Floats) -> tuple[Floats, Floats]:
    # A local equirectangular frame centred on the city: distortion over the county (40 km)
    # is under 0.5%, plenty for laying out synthetic seeds.
    return (
        (lon - CITY_CENTRE[0]) * _METRES_PER_DEGREE_LON,
        (lat - CITY_CENTRE[1]) * _METRES_PER_DEGREE_LAT,
    )


def _to_degrees(x: Floats, y: Floats) -> tuple[Floats, Floats]:
    return (
        x / _METRES_PER_DEGREE_LON + CITY_CENTRE[0],
        y / _METRES_PER_DEGREE_LAT + CITY_CENTRE[1],
    )


def _to_metres_geom(geom: Any) -> Any:
    return shapely.transform(geom, lambda c: np.column_stack(_to_metres(c[:, 0], c[:, 1])))


def _to_degrees_geom(geom: Any) -> Any:
    return shapely.transform(geom, lambda c: np.column_stack(_to_degrees(c[:, 0], c[:, 1])))


def _uniform(area: BaseGeometry, n: int, rng: np.random.Generator) -> Floats:
    x0, y0, x1, y1 = area.bounds
    return rng.uniform([x0, y0], [x1, y1], (n, 2))


def _sample_in(area: BaseGeometry, candidates: Floats, n: int, rng: np.random.Generator) -> Floats:
    """The first n candidates inside the area; uniform draws top them up if too few fall in."""
    inside = candidates[shapely.contains_xy(area, candidates[:, 0], candidates[:, 1])]
    while len(inside) < n:
        more = _uniform(area, max(4 * n, 100), rng)
        inside = np.vstack([inside, more[shapely.contains_xy(area, more[:, 0], more[:, 1])]])
    return inside[:n]
