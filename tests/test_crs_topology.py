"""GCJ-02/BD-09 conversion keeps a coverage a coverage: shared edges stay shared.

The hierarchy below tiles exactly in GCJ-02 and is full of T-junctions (a vertex of one
polygon in the middle of a neighbour's edge) and long edges, as real division data is. A
vertex-by-vertex conversion moves the T-junction vertex off the neighbour's (converted)
edge; the conversion must node and densify first so nothing opens or overlaps.
"""

from __future__ import annotations

import itertools

import numpy as np
import pyproj
import pytest
import shapely

from gridmap.crs import (
    MAX_SEGMENT_M,
    bd09_to_wgs84,
    gcj02_to_wgs84,
    geometry_to_wgs84,
    node_and_densify,
)

# Near Gaoping, in GCJ-02 degrees.
X0, Y0 = 112.90, 35.78
DX, DY = 0.024, 0.018  # one township: about 2.2 km x 2.0 km, four corners only


def _bricks(x0: float, y0: float, w: float, h: float, cols: int, rows: int) -> list:
    """A brick-wall tiling of the box: every other row shifted by half a brick, so each
    vertical edge ends in the middle of the next row's horizontal edge (a T-junction)."""
    cells = []
    bw, bh = w / cols, h / rows
    for r in range(rows):
        ya, yb = y0 + r * bh, y0 + (r + 1) * bh
        xs = [x0 + c * bw for c in range(cols + 1)]
        if r % 2:
            xs = [x0] + [x + bw / 2 for x in xs[:-1]] + [x0 + w]
        for xa, xb in itertools.pairwise(xs):
            cells.append(shapely.box(xa, ya, xb, yb))
    return cells


def hierarchy() -> tuple[np.ndarray, list[tuple[int, list[int]]]]:
    """A township (4 corners), 6 communities (bricks), grids (bricks in each community).
    Returns the geometries and, for each parent, the indices of its children."""
    township = shapely.box(X0, Y0, X0 + DX, Y0 + DY)
    communities = _bricks(X0, Y0, DX, DY, 2, 3)
    geoms = [township, *communities]
    families = [(0, list(range(1, 1 + len(communities))))]
    for k, community in enumerate(communities, start=1):
        w, s, e, n = community.bounds
        grids = _bricks(w, s, e - w, n - s, 3, 4)
        families.append((k, list(range(len(geoms), len(geoms) + len(grids)))))
        geoms.extend(grids)
    return np.asarray(geoms, dtype=object), families


def _local_metres(lon: float, lat: float) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(
        "EPSG:4326",
        f"+proj=laea +lat_0={lat} +lon_0={lon} +ellps=WGS84 +units=m",
        always_xy=True,
    )


def _metres(geoms: np.ndarray) -> np.ndarray:
    t = _local_metres(X0, Y0)
    return shapely.transform(geoms, lambda c: np.column_stack(t.transform(c[:, 0], c[:, 1])))


def gaps_and_overlaps_m2(geoms: np.ndarray, families: list) -> tuple[float, float, int]:
    """Largest gap (parent minus union of children) and largest sibling overlap in m², and
    how many sibling edges do not match exactly (GEOS coverage validation). The overlays
    run in lon/lat, where the edges are straight; only their results are measured in
    metres."""
    worst_gap = worst_overlap = 0.0
    bad_edges = 0
    for parent, children in families:
        kids = geoms[children]
        hole = shapely.difference(geoms[parent], shapely.union_all(kids))
        worst_gap = max(worst_gap, float(shapely.area(_metres(np.array([hole]))).max()))
        tree = shapely.STRtree(kids)
        a, b = tree.query(kids, predicate="intersects")
        keep = a < b
        if keep.any():
            shared = shapely.intersection(kids[a[keep]], kids[b[keep]])
            worst_overlap = max(worst_overlap, float(shapely.area(_metres(shared)).max()))
        bad_edges += int((~shapely.is_empty(shapely.coverage_invalid_edges(kids))).sum())
    return worst_gap, worst_overlap, bad_edges


def test_the_synthetic_hierarchy_tiles_exactly_and_has_t_junctions():
    geoms, families = hierarchy()
    gap, overlap, _ = gaps_and_overlaps_m2(geoms, families)
    assert gap < 1e-6 and overlap < 1e-6
    # A vertex-by-vertex conversion breaks it: this is what the fix is for.
    naive = shapely.transform(geoms, lambda c: np.column_stack(gcj02_to_wgs84(c[:, 0], c[:, 1])))
    gap, overlap, _ = gaps_and_overlaps_m2(naive, families)
    assert max(gap, overlap) > 1.0


# The same coordinates serve as a BD-09 hierarchy: it tiles in whatever system it is read.
@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_converting_a_hierarchy_with_t_junctions_leaves_no_gap_or_overlap(crs):
    geoms, families = hierarchy()
    out = geometry_to_wgs84(geoms, crs)
    assert shapely.is_valid(out).all()
    gap, overlap, bad_edges = gaps_and_overlaps_m2(out, families)
    assert gap < 1e-6, gap
    assert overlap < 1e-6, overlap
    assert bad_edges == 0  # siblings share their edges vertex for vertex


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_converted_edges_lie_within_a_centimetre_of_the_true_image_of_the_original_edges(crs):
    geoms, _ = hierarchy()
    inverse = gcj02_to_wgs84 if crs == "gcj02" else bd09_to_wgs84
    out = geometry_to_wgs84(geoms, crs)
    # Points every metre or so along every original edge, converted one by one: the true
    # image of the edges. Each must lie on the converted boundary to within 1 cm.
    dense = shapely.segmentize(shapely.boundary(geoms), 1e-5)
    worst = 0.0
    t = _local_metres(X0, Y0)
    for original, converted in zip(dense, shapely.boundary(out), strict=True):
        c = shapely.get_coordinates(original)
        lon, lat = inverse(c[:, 0], c[:, 1])
        px, py = t.transform(lon, lat)
        edge = shapely.transform(
            converted, lambda q: np.column_stack(t.transform(q[:, 0], q[:, 1]))
        )
        worst = max(worst, float(shapely.distance(shapely.points(px, py), edge).max()))
    assert worst < 0.01, f"{worst * 1000:.2f} mm"


def test_noding_inserts_t_junction_vertices_and_densifies_long_edges():
    left = shapely.box(X0, Y0, X0 + 0.01, Y0 + 0.01)
    right_low = shapely.box(X0 + 0.01, Y0, X0 + 0.02, Y0 + 0.004)
    right_high = shapely.box(X0 + 0.01, Y0 + 0.004, X0 + 0.02, Y0 + 0.01)
    out = node_and_densify(np.array([left, right_low, right_high], dtype=object))
    coords = shapely.get_coordinates(out[0])
    # The T-junction vertex of the right-hand pair is now a vertex of the left square.
    assert ((np.abs(coords - [X0 + 0.01, Y0 + 0.004]) < 1e-12).all(axis=1)).any()
    # Every segment is at most MAX_SEGMENT_M long, and the shape is unchanged.
    segs = np.diff(coords, axis=0)
    metres = np.hypot(segs[:, 0] * 111320 * np.cos(np.radians(Y0)), segs[:, 1] * 110574)
    assert metres.max() <= MAX_SEGMENT_M * 1.001
    assert shapely.equals(out[0], left)
    # The shared edge is identical on both sides: the coverage is exact.
    assert shapely.is_empty(shapely.coverage_invalid_edges(out)).all()


def test_a_single_polygon_and_lines_still_convert():
    square = shapely.box(X0, Y0, X0 + 0.01, Y0 + 0.01)
    out = geometry_to_wgs84(square, "gcj02")
    assert isinstance(out, shapely.Polygon) and out.is_valid
    line = shapely.LineString([(X0, Y0), (X0 + 0.01, Y0)])
    assert isinstance(geometry_to_wgs84(line, "gcj02"), shapely.LineString)


def test_a_gcj02_hierarchy_file_reads_and_validates_with_no_problem(tmp_path):
    """End to end: the hierarchy written as a GCJ-02 GeoJSON, read with --crs gcj02 and
    validated, has no gap, overlap or child outside its parent."""
    import geopandas as gpd

    from geodata.export import write_geojson
    from geodata.normalize import normalise
    from geodata.readers import read_layer
    from geodata.validation import validate_areas

    geoms, families = hierarchy()
    layer = ["township"] + [""] * (len(geoms) - 1)
    parent: list[str | None] = [None] * len(geoms)
    codes = [f"A{i:04d}" for i in range(len(geoms))]
    for p, children in families:
        for c in children:
            layer[c] = "community" if p == 0 else "grid"
            parent[c] = codes[p]
    frame = gpd.GeoDataFrame(
        {"code": codes, "layer": layer, "parent_code": parent, "households": 40},
        geometry=list(geoms),
        crs="EPSG:4326",  # the numbers are GCJ-02: written as they are, read as gcj02
    )
    path = write_geojson(frame, tmp_path / "hierarchy_gcj02.geojson")
    gdf = normalise(read_layer(path, crs="gcj02")).gdf
    report = validate_areas(gdf)
    assert report.problems == [], report.to_text()


def test_layers_converted_in_separate_files_still_fit_within_the_rounding_tolerance():
    """Grids converted on their own (a second file), checked against communities converted
    before: not noded together, but both follow the true image of their edges, so what
    separates them is far below the validator's 1 cm rounding width."""
    import geopandas as gpd

    from geodata.validation import validate_areas

    geoms, families = hierarchy()
    community_rows = families[0][1]
    grid_rows = [c for _, children in families[1:] for c in children]
    communities = geometry_to_wgs84(geoms[community_rows], "gcj02")
    grids = geometry_to_wgs84(geoms[grid_rows], "gcj02")
    parent_of = {c: p for p, children in families[1:] for c in children}
    parents = gpd.GeoDataFrame(
        {"code": [f"C{r}" for r in community_rows], "layer": "community"},
        geometry=list(communities),
        crs="EPSG:4326",
    )
    children = gpd.GeoDataFrame(
        {
            "code": [f"G{r}" for r in grid_rows],
            "layer": "grid",
            "parent_code": [f"C{parent_of[r]}" for r in grid_rows],
            "households": 40,
        },
        geometry=list(grids),
        crs="EPSG:4326",
    )
    report = validate_areas(children, parents=parents)
    assert report.problems == [], report.to_text()
