"""The boundary editor's drafts: a draft of a community's or township's grids, its edits,
validation.

A draft is a boundary version (status `draft`) that only its author sees, with its scope
(the communities it may edit) in `summary["scope"]`. It reads the grids of its base version
overlaid with its own staged rows (`draft_area`), so what others publish meanwhile does
not shift under the planner. Each edit is computed by `gridmap.boundaries.editing` (the
coverage stays exact), staged, and pushed on the undo stack (`draft_edit`). Undo, redo and
rebasing onto what others published are `gridmap.boundaries.draft_history`; publishing a
draft (refused on a changed base, with what changed) is `gridmap.boundaries.publishing`.
Validation is the import core's, handed in by the caller as a `Validator` (gridmap does
not import geodata).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from shapely.geometry import LineString
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from gridmap.access.boundary_access import AreaKey, require_within
from gridmap.access.permissions import EVERYWHERE, Jurisdiction
from gridmap.boundaries import editing
from gridmap.boundaries import versions as boundaries
from gridmap.boundaries.editing import Buildings, Coverage, CoverageChange, Grid
from gridmap.boundaries.versions import VALID_IN, AreaRow, valid_in
from gridmap.errors import InvalidInput, NotFound
from gridmap.models import BoundaryVersion

if TYPE_CHECKING:
    from gridmap.boundaries.publishing import Validator

SCOPE_LAYERS = ("community", "township")


# --- edits ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    code: str
    line: LineString


@dataclass(frozen=True)
class Merge:
    codes: tuple[str, ...]


@dataclass(frozen=True)
class Reshape:
    code: str
    geometry: BaseGeometry


@dataclass(frozen=True)
class Delete:
    code: str
    into: str


@dataclass(frozen=True)
class Add:
    polygon: BaseGeometry
    community: str | None = None  # found from the polygon when not given


@dataclass(frozen=True)
class Regenerate:
    """Replace a community's grids with ones the generator made (the caller runs it)."""

    community: str
    grids: tuple[Grid, ...]


@dataclass(frozen=True)
class Upload:
    """Replace the grids of the communities a file covers with the file's grids."""

    rows: tuple[AreaRow, ...]


Edit = Split | Merge | Reshape | Delete | Add | Regenerate | Upload


@dataclass
class EditOutcome:
    seq: int
    op: str
    communities: list[str]
    upserts: list[Grid]
    removed: list[str]
    community_of: dict[str, str]  # each upserted grid's community


# --- drafts -----------------------------------------------------------------------------


def create_draft(
    session: Session,
    *,
    author: str,
    layer: str,
    code: str,
    name: str = "",
    note: str = "",
    jurisdiction: Jurisdiction = EVERYWHERE,
) -> BoundaryVersion:
    """A new draft for one community or one township (all its communities) of the
    author's jurisdiction (403 outside it, 404 for a code that is not current)."""
    if layer not in SCOPE_LAYERS:
        raise InvalidInput(f"a draft is for a community or a township, not a {layer!r}")
    row = session.execute(
        text(
            "SELECT county_code, name, parent_code FROM area WHERE valid_to IS NULL "
            "AND layer = :layer AND code = :code ORDER BY county_code LIMIT 1"
        ),
        {"layer": layer, "code": code},
    ).first()
    if row is None:
        raise NotFound(f"there is no {layer} {code} in the active version", details={"code": code})
    require_within(
        session,
        jurisdiction=jurisdiction,
        county_code=row.county_code,
        areas=[AreaKey(layer, code, row.parent_code)],
        what=f"a draft of {layer} {code}",
    )
    communities = (
        [code]
        if layer == "community"
        else list(
            session.scalars(
                text(
                    "SELECT code FROM area WHERE valid_to IS NULL AND layer = 'community' "
                    "AND county_code = :c AND parent_code = :code ORDER BY code"
                ),
                {"c": row.county_code, "code": code},
            )
        )
    )
    draft = boundaries.create_version(
        session,
        name=name or f"edit of {row.name} ({code})",
        note=note,
        created_by=author,
        county_code=row.county_code,
    )
    draft.summary = {"scope": {"layer": layer, "code": code, "communities": communities}}
    session.flush()
    return draft


def _is_editor_draft(version: BoundaryVersion) -> bool:
    return version.status == "draft" and "scope" in (version.summary or {})


def get_draft(
    session: Session, *, draft_id: int, author: str, jurisdiction: Jurisdiction = EVERYWHERE
) -> BoundaryVersion:
    """The author's draft; anyone else is told it does not exist (drafts are private).
    A write passes the author's jurisdiction: a draft whose scope lies outside it (the
    author's areas changed since) is refused with 403."""
    version = session.get(BoundaryVersion, draft_id)
    if version is None or not _is_editor_draft(version) or version.created_by != author:
        raise NotFound(f"draft {draft_id} does not exist or is not yours")
    if not jurisdiction.everywhere:
        scope = version.summary["scope"]
        require_within(
            session,
            jurisdiction=jurisdiction,
            county_code=version.county_code or "",
            areas=[
                AreaKey(scope["layer"], scope["code"], None),
                *(AreaKey("community", c, None) for c in scope["communities"]),
            ],
            what=f"draft {draft_id}",
        )
    return version


def list_drafts(session: Session, *, author: str) -> list[BoundaryVersion]:
    rows = session.scalars(
        select(BoundaryVersion)
        .where(BoundaryVersion.status == "draft", BoundaryVersion.created_by == author)
        .order_by(BoundaryVersion.id)
    )
    return [v for v in rows if _is_editor_draft(v)]


def scope_of(draft: BoundaryVersion) -> list[str]:
    """The communities a draft may edit."""
    return list(draft.summary["scope"]["communities"])


# --- reading a draft's coverage ---------------------------------------------------------


def _base(draft: BoundaryVersion) -> int:
    if draft.base_version_id is None:
        raise NotFound(f"draft {draft.id} has no base version")
    return draft.base_version_id


def load_coverage(session: Session, *, draft: BoundaryVersion, community: str) -> Coverage:
    """A community's grids as the draft has them (base version + staged rows), its
    buildings, and every grid code ever issued in it."""
    if community not in scope_of(draft):
        raise NotFound(
            f"community {community} is not in draft {draft.id}",
            details={"community": community, "scope": scope_of(draft)},
        )
    params = {"version": _base(draft), "v": draft.id, "c": draft.county_code, "p": community}
    parent = session.execute(
        text(
            f"SELECT name, ST_AsBinary(geom) AS wkb FROM area WHERE {VALID_IN} "
            "AND county_code = :c AND layer = 'community' AND code = :p"
        ),
        params,
    ).one()
    rows = session.execute(
        text(
            f"""
            SELECT code, name, households, kind, attributes, ST_AsBinary(geom) AS wkb
            FROM area a
            WHERE {VALID_IN} AND county_code = :c AND layer = 'grid' AND parent_code = :p
              AND NOT EXISTS (SELECT 1 FROM draft_area d WHERE d.version_id = :v
                              AND d.county_code = a.county_code AND d.layer = 'grid'
                              AND d.code = a.code)
            UNION ALL
            SELECT code, name, households, kind, attributes, ST_AsBinary(geom)
            FROM draft_area
            WHERE version_id = :v AND county_code = :c AND layer = 'grid'
              AND action = 'upsert' AND parent_code = :p
            ORDER BY code
            """
        ),
        params,
    ).all()
    parent_geom = shapely.from_wkb(bytes(parent.wkb))
    grids = tuple(
        Grid(r.code, r.name, shapely.from_wkb(bytes(r.wkb)), r.households, r.kind, r.attributes)
        for r in rows
    )
    b = session.execute(
        text(
            "SELECT ST_X(point) AS x, ST_Y(point) AS y, households FROM building "
            "WHERE county_code = :c AND ST_Intersects(point, ST_GeomFromWKB(:wkb, 4326))"
        ),
        {"c": draft.county_code, "wkb": bytes(parent.wkb)},
    ).all()
    buildings = Buildings(
        np.array([r.x for r in b], dtype=np.float64),
        np.array([r.y for r in b], dtype=np.float64),
        np.array([r.households for r in b], dtype=np.int64),
    )
    used = session.scalars(
        text(
            "SELECT code FROM area WHERE county_code = :c AND layer = 'grid' AND code LIKE :like "
            "UNION SELECT code FROM draft_area WHERE county_code = :c AND layer = 'grid' "
            "AND code LIKE :like"
        ),
        {"c": draft.county_code, "like": community + "%"},
    )
    return Coverage(community, parent.name, parent_geom, grids, buildings, frozenset(used))


def draft_coverages(session: Session, *, draft: BoundaryVersion) -> list[Coverage]:
    return [load_coverage(session, draft=draft, community=c) for c in scope_of(draft)]


def _community_of(session: Session, draft: BoundaryVersion, code: str) -> str:
    for cov in draft_coverages(session, draft=draft):
        if code in cov.codes:
            return cov.parent_code
    raise NotFound(
        f"grid {code} is not in draft {draft.id} (communities {', '.join(scope_of(draft))})",
        details={"code": code},
    )


def _community_at(session: Session, draft: BoundaryVersion, geom: BaseGeometry) -> str:
    """The community of the draft's scope that holds most of a drawn polygon."""
    best, best_area = None, 0.0
    for cov in draft_coverages(session, draft=draft):
        shared = cov.parent_geom.intersection(geom).area
        if shared > best_area:
            best, best_area = cov.parent_code, shared
    if best is None:
        raise InvalidInput(f"the drawn shape lies in none of draft {draft.id}'s communities")
    return best


# --- staging and the undo stack ---------------------------------------------------------

_SNAPSHOT = text(
    """
    SELECT action, code, name, parent_code, households, kind, attributes,
           encode(ST_AsBinary(geom), 'hex') AS wkb
    FROM draft_area WHERE version_id = :v AND county_code = :c AND layer = 'grid'
      AND code = ANY(:codes)
    ORDER BY code
    """
)


def _snapshot(session: Session, draft: BoundaryVersion, codes: list[str]) -> list[dict[str, Any]]:
    rows = session.execute(_SNAPSHOT, {"v": draft.id, "c": draft.county_code, "codes": codes})
    return [dict(r._mapping) for r in rows]


def _stage(
    session: Session, draft: BoundaryVersion, community: str, change: CoverageChange
) -> None:
    boundaries.stage_areas(
        session,
        version_id=draft.id,
        rows=[
            AreaRow(
                draft.county_code or "",
                "grid",
                g.code,
                g.name,
                g.geom,
                parent_code=community,
                households=g.households,
                kind=g.kind,
                attributes=dict(g.attributes),
            )
            for g in change.upserts
        ],
    )
    if not change.removed:
        return
    params = {"v": draft.id, "c": draft.county_code, "codes": change.removed, "b": _base(draft)}
    # A grid this draft created and now removes never existed: drop its row instead.
    session.execute(
        text(
            f"""
            DELETE FROM draft_area d WHERE d.version_id = :v AND d.county_code = :c
              AND d.layer = 'grid' AND d.code = ANY(:codes)
              AND NOT EXISTS (SELECT 1 FROM area a WHERE {valid_in("b")}
                              AND a.county_code = d.county_code AND a.layer = 'grid'
                              AND a.code = d.code)
            """
        ),
        params,
    )
    published = session.scalars(
        text(
            f"SELECT code FROM area WHERE {valid_in('b')} "
            "AND county_code = :c AND layer = 'grid' AND code = ANY(:codes)"
        ),
        params,
    ).all()
    boundaries.stage_removals(
        session,
        version_id=draft.id,
        keys=[(draft.county_code or "", "grid", code) for code in published],
    )


Computed = list[tuple[str, Coverage, Coverage]]


def _compute(session: Session, draft: BoundaryVersion, edit: Edit) -> Computed:
    """(community, before, after) for each community the edit changes."""
    if isinstance(edit, Upload):
        return _compute_upload(session, draft, edit)
    if isinstance(edit, Regenerate):
        cov = load_coverage(session, draft=draft, community=edit.community)
        return [(edit.community, cov, editing.replace_grids(cov, list(edit.grids)))]
    if isinstance(edit, Add):
        community = edit.community or _community_at(session, draft, edit.polygon)
        cov = load_coverage(session, draft=draft, community=community)
        return [(community, cov, editing.add_grid(cov, edit.polygon))]
    first = edit.codes[0] if isinstance(edit, Merge) else edit.code
    cov = load_coverage(session, draft=draft, community=_community_of(session, draft, first))
    if isinstance(edit, Split):
        after = editing.split_grid(cov, edit.code, edit.line)
    elif isinstance(edit, Merge):
        after = editing.merge_grids(cov, list(edit.codes))
    elif isinstance(edit, Reshape):
        after = editing.reshape_edge(cov, edit.code, edit.geometry)
    else:
        after = editing.delete_grid(cov, edit.code, edit.into)
    return [(cov.parent_code, cov, after)]


def _compute_upload(session: Session, draft: BoundaryVersion, edit: Upload) -> Computed:
    out = []
    by_community: dict[str, list[AreaRow]] = {}
    for row in edit.rows:
        if row.layer != "grid":
            raise InvalidInput(
                f"feature {row.code}: an upload into a draft holds grids, not {row.layer}",
                details={"code": row.code},
            )
        if row.parent_code not in scope_of(draft):
            raise NotFound(
                f"grid {row.code}: community {row.parent_code!r} is not in this draft "
                f"({', '.join(scope_of(draft))})",
                details={"code": row.code, "parent_code": row.parent_code},
            )
        by_community.setdefault(row.parent_code, []).append(row)
    for community, rows in by_community.items():
        cov = load_coverage(session, draft=draft, community=community)
        grids = tuple(
            Grid(r.code, r.name, editing.as_multipolygon(r.geom), None, r.kind, r.attributes)
            for r in rows
        )
        out.append((community, cov, editing.recount(replace(cov, grids=grids))))
    return out


def _named_communities(edit: Edit) -> list[AreaKey]:
    """The communities (and upload rows) an edit names itself, checked before computing."""
    if isinstance(edit, Upload):
        return [AreaKey(r.layer, r.code, r.parent_code) for r in edit.rows if r.parent_code]
    if isinstance(edit, Add | Regenerate) and edit.community:
        return [AreaKey("community", edit.community, None)]
    return []


def apply_edit(
    session: Session,
    *,
    draft_id: int,
    author: str,
    edit: Edit,
    jurisdiction: Jurisdiction = EVERYWHERE,
) -> EditOutcome:
    """Compute one edit, stage what it changes, and push it on the undo stack. Every area
    it names or changes must lie in the author's jurisdiction (403)."""
    draft = get_draft(session, draft_id=draft_id, author=author, jurisdiction=jurisdiction)
    county = draft.county_code or ""
    what = f"an edit of draft {draft.id}"
    named = _named_communities(edit)
    if named:
        require_within(
            session, jurisdiction=jurisdiction, county_code=county, areas=named, what=what
        )
    results = _compute(session, draft, edit)
    changes = [(c, editing.diff_coverages(before, after)) for c, before, after in results]
    codes = sorted({code for _, ch in changes for code in ch.codes})
    if not codes:
        raise InvalidInput("the edit changes nothing")
    require_within(
        session,
        jurisdiction=jurisdiction,
        county_code=county,
        areas=[
            AreaKey("grid", code, community)
            for community, ch in changes
            for code in [*(g.code for g in ch.upserts), *ch.removed]
        ]
        + [AreaKey("community", community, None) for community, _ in changes],
        what=what,
    )
    before = _snapshot(session, draft, codes)
    for community, change in changes:
        _stage(session, draft, community, change)
    after = _snapshot(session, draft, codes)
    params = {"v": draft.id}
    session.execute(text("DELETE FROM draft_edit WHERE version_id = :v AND undone"), params)
    seq = session.execute(
        text("SELECT coalesce(max(seq), 0) + 1 FROM draft_edit WHERE version_id = :v"), params
    ).scalar_one()
    op = type(edit).__name__.lower()
    session.execute(
        text(
            """
            INSERT INTO draft_edit (version_id, seq, op, params, keys, before, after, actor)
            VALUES (:v, :seq, :op, CAST(:params AS jsonb), CAST(:keys AS jsonb),
                    CAST(:before AS jsonb), CAST(:after AS jsonb), :actor)
            """
        ),
        {
            "v": draft.id,
            "seq": seq,
            "op": op,
            "params": json.dumps(_describe(edit)),
            "keys": json.dumps(codes),
            "before": json.dumps(before),
            "after": json.dumps(after),
            "actor": author,
        },
    )
    session.flush()
    return EditOutcome(
        seq,
        op,
        [c for c, _ in changes],
        [g for _, ch in changes for g in ch.upserts],
        [code for _, ch in changes for code in ch.removed],
        {g.code: c for c, ch in changes for g in ch.upserts},
    )


def _describe(edit: Edit) -> dict[str, Any]:
    """What the undo list shows about an edit (geometry left out)."""
    if isinstance(edit, Split | Reshape):
        return {"code": edit.code}
    if isinstance(edit, Merge):
        return {"codes": list(edit.codes)}
    if isinstance(edit, Delete):
        return {"code": edit.code, "into": edit.into}
    if isinstance(edit, Add | Regenerate):
        return {"community": edit.community}
    return {"grids": len(edit.rows)}


# --- validation, diff, rebase -----------------------------------------------------------


def validation_input(
    session: Session, *, draft: BoundaryVersion
) -> tuple[list[AreaRow], list[AreaRow]]:
    """The draft's grids and their communities, as the validation core takes them."""
    grids: list[AreaRow] = []
    parents: list[AreaRow] = []
    county = draft.county_code or ""
    for cov in draft_coverages(session, draft=draft):
        parents.append(
            AreaRow(county, "community", cov.parent_code, cov.parent_name, cov.parent_geom)
        )
        grids.extend(
            AreaRow(
                county,
                "grid",
                g.code,
                g.name,
                g.geom,
                cov.parent_code,
                g.households,
                g.kind,
                dict(g.attributes or {}),  # an accepted exception is not an error
            )
            for g in cov.grids
        )
    return grids, parents


def validate_draft(
    session: Session, *, draft_id: int, author: str, validator: Validator
) -> list[dict[str, Any]]:
    draft = get_draft(session, draft_id=draft_id, author=author)
    grids, parents = validation_input(session, draft=draft)
    return validator(grids, parents)
