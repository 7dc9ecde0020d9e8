"""A synthetic basemap and address register for the Gaoping demo, made from its synthetic
county (issue #19). Everything here is synthetic, and stored as such (`synthetic`):

- roads: a county road network joining the township seats (a minimum spanning tree plus
  each seat's second-nearest neighbour), village roads joining every community seat to
  its nearest neighbour or seat, and a named street grid over the city's urban
  communities (东西向 …路, 南北向 …街, 400 m apart);
- a river (丹河, Gaoping's real river, in a made-up course) across the county;
- buildings: a square around each synthetic building point, sized by its households;
- place names: each community's village or community name at its seat;
- POIs: each community's committee office (…村委会 / …居委会) and its facilities named
  after the place (…小学, …卫生室, …超市, …市场, …厂);
- addresses: city buildings get the nearest street and a number along it (odd on the
  north/east side, even on the other), and a building number in their community (…号楼);
  village houses get their village, a group (组, 40 houses each) and a house number.

The names of roads are invented in the style of the region; the committee and township
names are the county's real ones.
"""

from __future__ import annotations

import math
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from sqlalchemy.orm import Session

from gridmap.boundaries import basemap

SOURCE = "synthetic: the Gaoping demo's basemap made from its synthetic villages (not survey data)"
_STREETS_EW = ("长平路", "建设路", "泫氏街", "神农路", "炎帝大道", "丹河路", "米山路", "康营路")
_STREETS_NS = ("友谊街", "北城街", "南城街", "东城街", "新华街", "团结街", "文化街", "和平街")
_FACILITY_NAMES = {
    "school": "小学",
    "clinic": "卫生室",
    "shop": "超市",
    "market": "市场",
    "office": "办事处",
    "factory": "机械厂",
    "warehouse": "物流仓库",
}
_GROUP_HOUSES = 40
_STREET_SPACING_M = 400.0
_NUMBER_SPACING_M = 12.0  # metres of street frontage per house number
_CN_DIGITS = "零一二三四五六七八九十"
M_LAT = 110_574.0


def _m_lon(lat: float) -> float:
    return 111_320.0 * math.cos(math.radians(lat))


def place_name(committee: str) -> str:
    """北王村委会 → 北王村; 东城社区居委会 → 东城社区; 其他 → as is."""
    for suffix in ("居民委员会", "村民委员会", "居委会", "委会"):
        if committee.endswith(suffix):
            return committee.removesuffix(suffix)
    return committee


def group_name(n: int) -> str:
    """1 → 一, 12 → 十二, 23 → 二十三 (village groups are written in Chinese numerals)."""
    if n <= 10:
        return _CN_DIGITS[n]
    tens, ones = divmod(n, 10)
    return (_CN_DIGITS[tens] if tens > 1 else "") + "十" + (_CN_DIGITS[ones] if ones else "")


def synthesise_basemap(data: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Features and register entries for a `geodata.gaoping.GaopingData`."""
    communities = data.communities
    townships = data.townships
    buildings = data.buildings
    outline = shapely.union_all(data.county.geometry.to_numpy())
    lat0 = float(outline.centroid.y)
    kx, ky = _m_lon(lat0), M_LAT
    features: list[dict[str, Any]] = []
    addresses: list[dict[str, Any]] = []

    names = dict(zip(communities["code"], communities["name"], strict=True))
    township_of = dict(zip(communities["code"], communities["parent_code"], strict=True))
    township_names = dict(zip(townships["code"], townships["name"], strict=True))
    kinds = dict(zip(communities["code"], communities.get("kind", "rural"), strict=True))

    # Community seats: the mean of their buildings (where people are), else a point inside.
    bx = buildings.geometry.x.to_numpy()
    by = buildings.geometry.y.to_numpy()
    seats: dict[str, tuple[float, float]] = {}
    for code, idx in buildings.groupby("community_code").indices.items():
        seats[str(code)] = (float(bx[idx].mean()), float(by[idx].mean()))
    for code, geom in zip(communities["code"], communities.geometry, strict=True):
        if code not in seats or not geom.contains(shapely.Point(seats[code])):
            p = geom.representative_point()
            seats[code] = (p.x, p.y)

    # Place names.
    for code, (x, y) in seats.items():
        if code not in names:
            continue
        features.append(
            {
                "layer": "place",
                "kind": "neighbourhood" if kinds.get(code) == "urban" else "village",
                "name": place_name(names[code]),
                "geometry": shapely.Point(x, y),
            }
        )

    # County roads between township seats (the seat: the township's most populous place).
    town_seat: dict[str, tuple[float, float]] = {}
    households = buildings.groupby("community_code")["households"].sum()
    for tcode in townships["code"]:
        members = [c for c, t in township_of.items() if t == tcode and c in seats]
        if members:
            best = max(members, key=lambda c: float(households.get(c, 0)))
            town_seat[tcode] = seats[best]
    tcodes = list(town_seat)
    edges = _spanning_edges([town_seat[t] for t in tcodes], kx, ky, extra=True)
    for i, j in edges:
        a, b = town_seat[tcodes[i]], town_seat[tcodes[j]]
        name = (
            f"{place_name(township_names[tcodes[i]])}—{place_name(township_names[tcodes[j]])}公路"
        )
        features.append(
            {"layer": "road", "kind": "secondary", "name": name, "geometry": _bent(a, b)}
        )
        addresses.append(
            {"kind": "road", "full_text": name, "name": name, "road": name, "geometry": _bent(a, b)}
        )

    # Village roads: each community seat to its nearest other seat in the township.
    for tcode in tcodes:
        members = [c for c, t in township_of.items() if t == tcode and c in seats]
        pts = [seats[c] for c in members]
        for i, j in _spanning_edges(pts, kx, ky, extra=False):
            features.append(
                {
                    "layer": "road",
                    "kind": "unclassified",
                    "name": None,
                    "geometry": shapely.LineString([pts[i], pts[j]]),
                }
            )

    # The city's street grid over the urban communities.
    urban_codes = [c for c, k in kinds.items() if k == "urban"]
    streets: list[tuple[str, Any]] = []
    if urban_codes:
        urban = shapely.union_all(
            communities[communities["code"].isin(urban_codes)].geometry.to_numpy()
        )
        w, s, e, n = urban.bounds
        step_x, step_y = _STREET_SPACING_M / kx, _STREET_SPACING_M / ky
        rows = np.arange(s + step_y / 2, n, step_y)
        cols = np.arange(w + step_x / 2, e, step_x)
        centre_row, centre_col = len(rows) // 2, len(cols) // 2
        for i, y in enumerate(rows):
            name = _street_name(_STREETS_EW, i - centre_row, "路")
            line = shapely.intersection(shapely.LineString([(w, y), (e, y)]), urban)
            if not line.is_empty:
                streets.append((name, line))
        for i, x in enumerate(cols):
            name = _street_name(_STREETS_NS, i - centre_col, "街")
            line = shapely.intersection(shapely.LineString([(x, s), (x, n)]), urban)
            if not line.is_empty:
                streets.append((name, line))
        for name, line in streets:
            kind = "primary" if name in (_STREETS_EW[0], _STREETS_NS[0]) else "tertiary"
            features.append({"layer": "road", "kind": kind, "name": name, "geometry": line})
            addresses.append(
                {"kind": "road", "full_text": name, "name": name, "road": name, "geometry": line}
            )

    # A river.
    west, south, east, north = outline.bounds
    ys = np.linspace(north + 0.01, south - 0.01, 40)
    xs = (west + east) / 2 + 0.02 * np.sin(np.linspace(0, 3 * math.pi, 40)) + 0.01
    river = shapely.intersection(shapely.LineString(np.column_stack([xs, ys])), outline)
    features.append({"layer": "water", "kind": "river", "name": "丹河", "geometry": river})

    # Buildings: a square around each point, sized by its households (vectorised: ~90,000).
    hh = buildings["households"].to_numpy()
    bkind = buildings["kind"].astype(str).to_numpy()
    half = np.where(bkind == "house", 6.0, np.minimum(8.0 + 2.0 * np.sqrt(np.maximum(hh, 1)), 30.0))
    squares = shapely.box(bx - half / kx, by - half / ky, bx + half / kx, by + half / ky)
    features += [
        {"layer": "building", "kind": k, "name": None, "geometry": g}
        for k, g in zip(bkind, squares, strict=True)
    ]
    # Village houses: village, group of 40 and house number, in the order they were made.
    ccode = buildings["community_code"].astype(str).to_numpy()
    nth = buildings.groupby("community_code").cumcount().to_numpy()
    urban_mask = np.array([kinds.get(c) == "urban" for c in ccode])
    points = shapely.points(bx, by)
    street_tree = shapely.STRtree([line for _, line in streets]) if streets else None
    for i in np.flatnonzero(~urban_mask & (bkind == "house")).tolist():
        code = ccode[i]
        house: dict[str, Any] = {
            "kind": "building",
            "name": None,
            "township": township_names.get(township_of.get(code, ""), ""),
            "community": place_name(names.get(code, "")),
            "village_group": group_name(int(nth[i]) // _GROUP_HOUSES + 1),
            "number": str(int(nth[i]) % _GROUP_HOUSES + 1),
            "geometry": points[i],
        }
        house["full_text"] = _full_text(house)
        addresses.append(house)
    # City buildings and every facility: street and number, building number, POI name.
    building_no: dict[str, int] = {}
    used_numbers: set[tuple[str, int]] = set()
    facility_count: dict[str, int] = {}
    for i in np.flatnonzero(urban_mask | (bkind != "house")).tolist():
        code, kind, point = ccode[i], bkind[i], points[i]
        place = place_name(names.get(code, ""))
        poi_name = None
        if kind == "committee_office":
            poi_name = names.get(code)
        elif kind in _FACILITY_NAMES:
            # A second school of a village is its 第二小学: POI names stay unique.
            poi_name = f"{place}{_FACILITY_NAMES[kind]}"
            facility_count[poi_name] = facility_count.get(poi_name, 0) + 1
            if facility_count[poi_name] > 1:
                nth = group_name(facility_count[poi_name])
                poi_name = f"{place}第{nth}{_FACILITY_NAMES[kind]}"
        if poi_name:
            features.append({"layer": "poi", "kind": kind, "name": poi_name, "geometry": point})
        entry: dict[str, Any] = {
            "kind": "poi" if poi_name else "building",
            "name": poi_name,
            "township": township_names.get(township_of.get(code, ""), ""),
            "community": place,
            "geometry": point,
        }
        if urban_mask[i] and street_tree is not None:
            building_no[code] = building_no.get(code, 0) + 1
            entry["building_no"] = str(building_no[code])
            name, line = streets[int(street_tree.nearest(point))]
            if shapely.distance(point, line) * (kx + ky) / 2 < 250:
                along = float(line.project(point)) * (kx if name.endswith("路") else ky)
                number = int(along / _NUMBER_SPACING_M) * 2 + 1
                on_line = line.interpolate(line.project(point))
                left = (by[i] > on_line.y) if name.endswith("路") else (bx[i] > on_line.x)
                number = number if left else number + 1
                while (name, number) in used_numbers:  # one number, one building
                    number += 2
                used_numbers.add((name, number))
                entry["road"] = name
                entry["number"] = str(number)
        entry["full_text"] = _full_text(entry)
        addresses.append(entry)
    return features, addresses


def _full_text(entry: dict[str, Any]) -> str:
    township = entry.get("township") or ""
    if entry.get("road") and entry.get("number"):
        return f"{township}{entry['road']}{entry['number']}号"
    if entry.get("village_group"):
        return f"{township}{entry['community']}{entry['village_group']}组{entry['number']}号"
    if entry.get("building_no"):
        return f"{township}{entry['community']}{entry['building_no']}号楼"
    return f"{township}{entry.get('community') or ''}{entry.get('name') or ''}"


def _street_name(names: tuple[str, ...], offset: int, suffix: str) -> str:
    """A distinct name for the street `offset` rows (or columns) from the centre: the
    listed names first, alternating sides, then 北/南 (路) or 东/西 (街) and a number."""
    index = 2 * offset - 1 if offset > 0 else -2 * offset
    if index < len(names):
        return names[index]
    side = ("北" if offset > 0 else "南") if suffix == "路" else ("东" if offset > 0 else "西")
    return f"{side}{group_name(abs(offset))}{suffix}"


def _spanning_edges(
    points: list[tuple[float, float]], kx: float, ky: float, *, extra: bool
) -> list[tuple[int, int]]:
    """A Euclidean minimum spanning tree (Prim; a few hundred points), plus, with `extra`,
    each point's second-nearest neighbour (a network, not only a tree)."""
    n = len(points)
    if n < 2:
        return []
    xy = np.array(points) * np.array([kx, ky])
    dist = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    in_tree = np.zeros(n, dtype=bool)
    in_tree[0] = True
    best = dist[0].copy()
    parent = np.zeros(n, dtype=int)
    edges: set[tuple[int, int]] = set()
    for _ in range(n - 1):
        best_masked = np.where(in_tree, np.inf, best)
        j = int(np.argmin(best_masked))
        edges.add((min(j, int(parent[j])), max(j, int(parent[j]))))
        in_tree[j] = True
        closer = dist[j] < best
        parent[closer] = j
        best = np.minimum(best, dist[j])
    if extra and n > 2:
        for i in range(n):
            j = int(np.argsort(dist[i])[2])
            edges.add((min(i, j), max(i, j)))
    return sorted(edges)


def _bent(a: tuple[float, float], b: tuple[float, float]) -> shapely.LineString:
    """A road between two seats with a gentle bend (roads are not ruler lines)."""
    mx, my = (a[0] + b[0]) / 2, (a[1] + b[1]) / 2
    dx, dy = b[0] - a[0], b[1] - a[1]
    return shapely.LineString([a, (mx - dy * 0.08, my + dx * 0.08), b])


def load_gaoping_basemap(session: Session, data: Any, *, county_code: str) -> dict[str, int]:
    """Synthesise and store the Gaoping demo's basemap and register (flushed, not committed)."""
    features, addresses = synthesise_basemap(data)
    report = basemap.store_basemap(
        session,
        county_code=county_code,
        features=features,
        addresses=addresses,
        source=SOURCE,
        synthetic=True,
    )
    return {
        "basemap_features": sum(report.counts[k] for k in basemap.BASEMAP_LAYERS),
        "addresses": report.counts["addresses"],
    }


def as_frame(features: list[dict[str, Any]]) -> gpd.GeoDataFrame:
    """The features as a GeoDataFrame (for looking at them)."""
    return gpd.GeoDataFrame(features, geometry="geometry", crs="EPSG:4326")
