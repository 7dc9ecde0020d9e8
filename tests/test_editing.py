"""Split, merge, reshape, delete and add on a hand-made community: the coverage stays exact.

The community is 0.02° × 0.01° at lon 112.90–112.92, lat 35.78–35.79, tiled by four grids
in a row (A B C D, 0.005° wide each). Each grid has buildings of 10 households on a
row through its middle, so every household count can be checked by hand.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, MultiPolygon, box

from gridmap.boundaries.editing import (
    Buildings,
    Coverage,
    Grid,
    add_grid,
    allocate_codes,
    delete_grid,
    diff_coverages,
    merge_grids,
    reshape_edge,
    split_grid,
)
from gridmap.errors import InvalidInput

C = "990101001001"
A, B, D_, E = f"{C}001", f"{C}002", f"{C}003", f"{C}004"
WEST, SOUTH, NORTH = 112.90, 35.78, 35.79
W = 0.005
XS = [WEST + i * W for i in range(5)]  # computed once, so neighbours share exact edges


def community() -> Coverage:
    grids = tuple(
        Grid(code, f"第{i + 1}网格", MultiPolygon([box(XS[i], SOUTH, XS[i + 1], NORTH)]), 40)
        for i, code in enumerate([A, B, D_, E])
    )
    # Four buildings of 10 households per grid, on the row lat 35.785.
    lons = np.array([WEST + i * W + (k + 0.5) * W / 4 for i in range(4) for k in range(4)])
    buildings = Buildings(lons, np.full(16, 35.785), np.full(16, 10, dtype=np.int64))
    return Coverage(C, "西南社区", box(WEST, SOUTH, XS[4], NORTH), grids, buildings)


def area_m2(cov: Coverage, geom: object) -> float:
    return cov.metric.area(geom)  # type: ignore[arg-type]


def assert_exact_tiling(cov: Coverage) -> None:
    """No gap, no overlap: the grids' union is the community and no two grids share area."""
    geoms = [g.geom for g in cov.grids]
    union = shapely.union_all(geoms)
    assert area_m2(cov, cov.parent_geom.symmetric_difference(union)) < 1e-3
    for i, a in enumerate(geoms):
        for b in geoms[i + 1 :]:
            assert area_m2(cov, a.intersection(b)) < 1e-3


def test_a_split_along_a_line_makes_two_grids_that_cover_exactly_the_old_one() -> None:
    cov = community()
    # A north-south line through the middle of grid A, drawn from edge to edge.
    x = WEST + W / 2
    after = split_grid(cov, A, LineString([(x, SOUTH), (x, NORTH)]))
    assert_exact_tiling(after)
    assert len(after.grids) == 5
    new = [g for g in after.grids if g.code not in cov.codes]
    assert [g.code for g in new] == [f"{C}005"]  # the next sequence, not a reused one
    halves = [after.grid(A), new[0]]
    assert shapely.union_all([h.geom for h in halves]).equals(cov.grid(A).geom)
    assert [h.households for h in halves] == [20, 20]
    change = diff_coverages(cov, after)
    assert sorted(g.code for g in change.upserts) == [A, f"{C}005"] and change.removed == []


def test_a_line_that_misses_the_grid_or_cuts_a_sliver_is_refused() -> None:
    cov = community()
    with pytest.raises(InvalidInput, match="does not cut grid"):
        below = LineString([(WEST + 0.0001, SOUTH - 0.01), (WEST + 0.0001, SOUTH - 0.005)])
        split_grid(cov, A, below)
    sliver_x = WEST + 0.000001  # 9 cm from the edge
    with pytest.raises(InvalidInput, match="sliver"):
        split_grid(cov, A, LineString([(sliver_x, SOUTH), (sliver_x, NORTH)]))


def test_merging_adjacent_grids_keeps_the_first_code_and_sums_households() -> None:
    cov = community()
    after = merge_grids(cov, [B, A])
    assert_exact_tiling(after)
    assert after.codes == [B, D_, E]
    assert after.grid(B).households == 80
    assert diff_coverages(cov, after).removed == [A]


def test_merging_grids_that_do_not_touch_is_refused_with_their_names() -> None:
    cov = community()
    with pytest.raises(InvalidInput, match=f"grid\\(s\\) {D_} share no edge") as err:
        merge_grids(cov, [A, D_])
    assert err.value.details["not_adjacent"] == [D_]
    # A chain A-B-C is adjacent as a whole, even though A and C do not touch.
    assert merge_grids(cov, [A, B, D_]).grid(A).households == 120


def test_reshaping_a_grid_moves_the_shared_edge_for_both_neighbours() -> None:
    cov = community()
    # Grid B grows 0.001° west into A and gives up 0.001° on its east side to C.
    new_b = box(WEST + W - 0.001, SOUTH, WEST + 2 * W - 0.001, NORTH)
    after = reshape_edge(cov, B, new_b)
    assert_exact_tiling(after)
    a, b, c = after.grid(A), after.grid(B), after.grid(D_)
    assert a.geom.bounds[2] == pytest.approx(WEST + W - 0.001)
    assert c.geom.bounds[0] == pytest.approx(WEST + 2 * W - 0.001)
    assert b.geom.equals(new_b)
    # Buildings: A lost the one at x=+0.004375 of its span; C gained B's last one.
    assert [a.households, b.households, c.households] == [30, 40, 50]
    # D was not touched: not rewritten.
    assert after.grid(E) is cov.grid(E)


def test_a_reshape_that_leaves_the_community_or_leaves_a_gap_is_refused() -> None:
    cov = community()
    too_far = box(WEST - 0.001, SOUTH, WEST + W, NORTH)  # about 90 m west of the community
    with pytest.raises(InvalidInput, match="outside community"):
        reshape_edge(cov, A, too_far)
    # Grid A shrinks from the community's west edge: nothing there could take the strip.
    with pytest.raises(InvalidInput, match="no neighbouring grid touches"):
        reshape_edge(cov, A, box(WEST + 0.001, SOUTH, WEST + W, NORTH))


def test_deleting_a_grid_gives_its_area_to_the_chosen_neighbour_only() -> None:
    cov = community()
    after = delete_grid(cov, B, into=D_)
    assert_exact_tiling(after)
    assert after.grid(D_).households == 80 and B not in after.codes
    with pytest.raises(InvalidInput, match="shares no edge"):
        delete_grid(cov, A, into=E)


def test_drawing_a_new_grid_cuts_it_out_of_the_grids_below() -> None:
    cov = community()
    drawn = box(WEST + W / 2, SOUTH, WEST + W + W / 2, NORTH)  # half of A, half of B
    after = add_grid(cov, drawn)
    assert_exact_tiling(after)
    new = after.grid(f"{C}005")
    assert new.households == 40
    assert [after.grid(A).households, after.grid(B).households] == [20, 20]


def test_codes_are_never_reused_even_when_the_last_grid_was_retired() -> None:
    # 007 existed once (retired in an earlier version): the next new code is 008.
    assert allocate_codes(C, [A, B, f"{C}007", "other"], 2) == [f"{C}008", f"{C}009"]
    cov = community()
    used = frozenset({f"{C}007"})
    retired = Coverage(C, "西南社区", cov.parent_geom, cov.grids, cov.buildings, used)
    x = WEST + W / 2
    after = split_grid(retired, A, LineString([(x, SOUTH), (x, NORTH)]))
    assert f"{C}008" in after.codes and f"{C}005" not in after.codes
