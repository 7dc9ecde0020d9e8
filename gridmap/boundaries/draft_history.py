"""A draft's history: undo and redo of its edits, and rebasing it onto what others published.

An edit's staged rows before and after are on the draft's stack (`draft_edit`, written by
`gridmap.boundaries.drafts.apply_edit`); undo puts the rows back as they were before, redo
as they were after. A draft read its base version; `changes_since_base` lists what was
published in its communities since, and `rebase` moves it onto the active version.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gridmap.access.permissions import EVERYWHERE, Jurisdiction
from gridmap.boundaries import versions as boundaries
from gridmap.boundaries.drafts import _base, get_draft, scope_of
from gridmap.errors import InvalidInput, VersionConflict
from gridmap.models import BoundaryVersion

# --- undo and redo ----------------------------------------------------------------------


def _restore(
    session: Session, draft: BoundaryVersion, codes: list[str], rows: list[dict[str, Any]]
) -> None:
    """Put the staged rows of `codes` back as `rows` had them."""
    session.execute(
        text(
            "DELETE FROM draft_area WHERE version_id = :v AND county_code = :c "
            "AND layer = 'grid' AND code = ANY(:codes)"
        ),
        {"v": draft.id, "c": draft.county_code, "codes": codes},
    )
    for r in rows:
        session.execute(
            text(
                """
                INSERT INTO draft_area (version_id, action, county_code, layer, code, name,
                                        parent_code, households, kind, attributes, geom)
                VALUES (:v, :action, :c, 'grid', :code, :name, :parent_code, :households,
                        :kind, CAST(:attributes AS jsonb),
                        ST_SetSRID(ST_GeomFromWKB(decode(:wkb, 'hex')), 4326))
                """
            ),
            {**r, "v": draft.id, "c": draft.county_code, "attributes": json.dumps(r["attributes"])},
        )
    session.flush()


def _step(
    session: Session, draft_id: int, author: str, *, undo: bool, jurisdiction: Jurisdiction
) -> dict[str, Any]:
    draft = get_draft(session, draft_id=draft_id, author=author, jurisdiction=jurisdiction)
    order = "DESC" if undo else "ASC"
    row = session.execute(
        text(
            "SELECT id, seq, op, keys, before, after FROM draft_edit "
            f"WHERE version_id = :v AND undone = :undone ORDER BY seq {order} LIMIT 1"
        ),
        {"v": draft.id, "undone": not undo},
    ).first()
    if row is None:
        raise InvalidInput(f"nothing to {'undo' if undo else 'redo'} in draft {draft_id}")
    _restore(session, draft, list(row.keys), list(row.before if undo else row.after))
    session.execute(
        text("UPDATE draft_edit SET undone = :undone WHERE id = :id"),
        {"id": row.id, "undone": undo},
    )
    session.flush()
    return {"seq": row.seq, "op": row.op, "codes": list(row.keys)}


def undo(
    session: Session, *, draft_id: int, author: str, jurisdiction: Jurisdiction = EVERYWHERE
) -> dict[str, Any]:
    """Take back the last edit of a draft."""
    return _step(session, draft_id, author, undo=True, jurisdiction=jurisdiction)


def redo(
    session: Session, *, draft_id: int, author: str, jurisdiction: Jurisdiction = EVERYWHERE
) -> dict[str, Any]:
    """Apply again the edit undone last."""
    return _step(session, draft_id, author, undo=False, jurisdiction=jurisdiction)


def edit_history(session: Session, *, draft_id: int, author: str) -> list[dict[str, Any]]:
    draft = get_draft(session, draft_id=draft_id, author=author)
    rows = session.execute(
        text(
            "SELECT seq, op, params, undone, actor, at FROM draft_edit WHERE version_id = :v "
            "ORDER BY seq"
        ),
        {"v": draft.id},
    )
    return [
        {"seq": r.seq, "op": r.op, "params": r.params, "undone": r.undone, "at": r.at.isoformat()}
        for r in rows
    ]


# --- rebase -----------------------------------------------------------------------------


def changes_since_base(session: Session, *, draft: BoundaryVersion) -> list[dict[str, Any]]:
    """Grids and communities of the draft's scope that versions published after its base
    added, changed or removed (what the planner must look at before rebasing)."""
    active = boundaries.active_version(session, county_code=draft.county_code or "")
    base = _base(draft)
    if active is None or active.id == base:
        return []
    scope = scope_of(draft)
    rows = session.execute(
        text(
            """
            SELECT v.id AS version, v.activated_by, v.note, a.layer, a.code, a.parent_code,
                   a.valid_from = v.id AS appeared
            FROM area a JOIN boundary_version v ON v.id IN (a.valid_from, a.valid_to)
            WHERE v.id > :base AND v.id <= :active AND a.county_code = :c
              AND ((a.layer = 'grid' AND a.parent_code = ANY(:scope))
                   OR (a.layer = 'community' AND a.code = ANY(:scope)))
            ORDER BY v.id, a.layer, a.code
            """
        ),
        {"base": base, "active": active.id, "c": draft.county_code, "scope": scope},
    ).all()
    seen: dict[tuple[int, str, str], dict[str, Any]] = {}
    for r in rows:
        key = (r.version, r.layer, r.code)
        entry = seen.setdefault(
            key,
            {
                "version": r.version,
                "by": r.activated_by,
                "why": r.note,
                "layer": r.layer,
                "code": r.code,
                "community": r.parent_code if r.layer == "grid" else r.code,
                "appeared": False,
                "retired": False,
            },
        )
        entry["appeared" if r.appeared else "retired"] = True
    out = []
    for entry in seen.values():
        appeared, retired = entry.pop("appeared"), entry.pop("retired")
        entry["change"] = "changed" if appeared and retired else ("removed" if retired else "added")
        out.append(entry)
    return out


def _touched_communities(session: Session, draft: BoundaryVersion) -> set[str]:
    rows = session.execute(
        text("SELECT DISTINCT keys FROM draft_edit WHERE version_id = :v AND NOT undone"),
        {"v": draft.id},
    ).all()
    codes = {c for r in rows for c in r.keys}
    return {c for c in scope_of(draft) if any(code.startswith(c) for code in codes)}


def rebase(
    session: Session,
    *,
    draft_id: int,
    author: str,
    keep_mine: bool = False,
    jurisdiction: Jurisdiction = EVERYWHERE,
) -> list[dict[str, Any]]:
    """Move a draft onto its county's active version. Refused (VersionConflict, with what
    changed) when someone published changes in a community this draft edits, unless the
    planner chooses to keep their own grids there (`keep_mine`, recorded in the draft's
    note)."""
    draft = get_draft(session, draft_id=draft_id, author=author, jurisdiction=jurisdiction)
    active = boundaries.active_version(session, county_code=draft.county_code or "")
    if active is None or active.id == draft.base_version_id:
        return []
    changed = changes_since_base(session, draft=draft)
    touched = _touched_communities(session, draft)
    conflicts = sorted({c["community"] for c in changed if c["community"] in touched})
    if conflicts and not keep_mine:
        raise VersionConflict(
            f"version(s) published since draft {draft.id} was started changed communities "
            f"{', '.join(conflicts)}, which this draft edits: review the changes, then rebase "
            "keeping your grids there, or discard the draft",
            details={"conflicts": conflicts, "changed": changed},
        )
    if conflicts:
        draft.note = (
            f"{draft.note}\n[rebased onto version {active.id} keeping this draft's grids in "
            f"{', '.join(conflicts)} over the changes published since version "
            f"{draft.base_version_id}]"
        ).strip()
    draft.base_version_id = active.id
    session.flush()
    return changed
