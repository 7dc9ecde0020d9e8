"""Boundary versions: staged changes are compared before anything is published, activation
is one transaction, history stays answerable, and a stale draft cannot overwrite news."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from shapely.geometry import box
from sqlalchemy import text
from sqlalchemy.orm import Session

from gridmap.boundaries import activation, diffs
from gridmap.boundaries import versions as boundaries
from gridmap.boundaries.versions import AreaRow
from gridmap.errors import Conflict, VersionConflict
from tests import factories as f


def _grid(code: str, households: int) -> AreaRow:
    """The factory's grid `code`, with another household count."""
    row = next(r for r in f.area_rows() if r.code == code)
    return dataclasses.replace(row, households=households)


def test_a_first_version_is_all_additions_and_becomes_active(session: Session) -> None:
    county = f.load_small_county(session, activate=False)
    diff = diffs.diff_version(session, version_id=county.version_id)
    assert diff.count("added") == len(f.area_rows()) and diff.count("removed") == 0
    assert boundaries.active_version(session) is None

    activation.activate_version(session, version_id=county.version_id, activated_by="planner")
    active = boundaries.active_version(session)
    assert active is not None and active.id == county.version_id
    assert active.summary["by_layer"]["grid"]["added"] == 8
    grids = boundaries.areas_in_version(session, version_id=active.id, layers=["grid"])
    assert sorted(a.code for a in grids) == sorted(f.GRIDS)
    # Every published area has subdivided parts for PostGIS point look-ups.
    missing = session.execute(
        text(
            "SELECT count(*) FROM area a WHERE NOT EXISTS "
            "(SELECT 1 FROM area_part p WHERE p.area_id = a.id)"
        )
    ).scalar_one()
    assert missing == 0


def test_the_diff_names_what_is_added_changed_removed_and_unchanged(session: Session) -> None:
    county = f.load_small_county(session)
    v2 = boundaries.create_version(session, name="edit", created_by="planner")
    g1, g2 = f"{f.C1}001", f"{f.C1}002"
    boundaries.stage_areas(
        session,
        version_id=v2.id,
        rows=[
            _grid(g1, households=45),  # households changed
            _grid(g2, households=40),  # identical: unchanged
            AreaRow(
                f.COUNTY,
                "grid",
                f"{f.C1}009",
                "新网格",
                box(112.90, 35.70, 112.91, 35.71),
                f.C1,
                households=33,
            ),  # added
        ],
    )
    boundaries.stage_removals(session, version_id=v2.id, keys=[(f.COUNTY, "grid", f"{f.C2}001")])
    diff = diffs.diff_version(session, version_id=v2.id)
    by_code = {c.code: c for c in diff.changes}
    assert by_code[g1].change == "changed"
    assert (by_code[g1].households_before, by_code[g1].households_after) == (40, 45)
    assert not by_code[g1].geometry_changed
    assert by_code[f"{f.C1}009"].change == "added"
    assert by_code[f"{f.C2}001"].change == "removed"
    assert g2 not in by_code and diff.unchanged == 1
    assert "households 40 → 45" in diff.to_text()
    assert diff.base_version_id == county.version_id


def test_history_answers_for_any_published_version_and_moment(session: Session) -> None:
    county = f.load_small_county(session)
    session.commit()
    before = session.execute(text("SELECT now()")).scalar_one()
    session.commit()
    g1 = f"{f.C1}001"
    v2 = boundaries.create_version(session, name="bigger", created_by="planner")
    boundaries.stage_areas(session, version_id=v2.id, rows=[_grid(g1, households=48)])
    boundaries.stage_removals(session, version_id=v2.id, keys=[(f.COUNTY, "grid", f"{f.C4}002")])
    activation.activate_version(session, version_id=v2.id, activated_by="planner")
    session.commit()

    old = {
        a.code: a
        for a in boundaries.areas_in_version(session, version_id=county.version_id, layers=["grid"])
    }
    new = {
        a.code: a for a in boundaries.areas_in_version(session, version_id=v2.id, layers=["grid"])
    }
    assert old[g1].households == 40 and new[g1].households == 48
    assert f"{f.C4}002" in old and f"{f.C4}002" not in new
    assert len(new) == 7

    then = boundaries.version_at(session, at=before)
    assert then is not None and then.id == county.version_id
    now = boundaries.version_at(session, at=dt.datetime.now(dt.UTC))
    assert now is not None and now.id == v2.id


def test_a_draft_prepared_against_an_older_version_must_be_rebased(session: Session) -> None:
    f.load_small_county(session)
    first = boundaries.create_version(session, name="planner A", created_by="a")
    second = boundaries.create_version(session, name="planner B", created_by="b")
    for v, hh in ((first, 41), (second, 42)):
        boundaries.stage_areas(session, version_id=v.id, rows=[_grid(f"{f.C1}001", hh)])
    activation.activate_version(session, version_id=second.id, activated_by="b")
    with pytest.raises(VersionConflict, match="rebase"):
        activation.activate_version(session, version_id=first.id, activated_by="a")
    current = boundaries.areas_in_version(session, version_id=second.id, layers=["grid"])
    assert {a.code: a.households for a in current}[f"{f.C1}001"] == 42


def test_a_retired_version_is_restored_as_a_new_version(session: Session) -> None:
    county = f.load_small_county(session)
    v2 = boundaries.create_version(session, name="remove", created_by="p")
    boundaries.stage_removals(session, version_id=v2.id, keys=[(f.COUNTY, "grid", f"{f.C3}001")])
    activation.activate_version(session, version_id=v2.id, activated_by="p")
    with pytest.raises(Conflict, match="restore"):
        activation.activate_version(session, version_id=county.version_id, activated_by="p")

    v3 = activation.restore_version(session, version_id=county.version_id, restored_by="p")
    diff = activation.activate_version(session, version_id=v3.id, activated_by="p")
    assert [(c.code, c.change) for c in diff.changes] == [(f"{f.C3}001", "added")]
    grids = boundaries.areas_in_version(session, version_id=v3.id, layers=["grid"])
    assert len(grids) == 8
