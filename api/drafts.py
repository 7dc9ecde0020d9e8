"""HTTP doors to the boundary editor: drafts, edits, undo/redo, validate, diff, publish, versions.

Each edit answers with what a map page needs to redraw: the draft's changed grids as
GeoJSON, the validation problems with their locations, and the diff summary. The
validation core and the grid generator live in geodata; they are wired in here.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

import geopandas as gpd
import shapely
from fastapi import APIRouter, Depends, File, Form, Header, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from api.auth import PrincipalDep, acting_as, audit_write
from api.deps import ContextDep, SessionDep
from geodata import drafting
from geodata.export import areas_frame, to_geojson_dict, write_gpkg
from geodata.publish_check import publish_validator
from gridmap.access import EVERYWHERE, Jurisdiction, Principal, boundary_access
from gridmap.access import scope as area_scope
from gridmap.boundaries import Grid, diffs, draft_history, drafts, publishing
from gridmap.boundaries import versions as boundaries
from gridmap.errors import InvalidInput
from gridmap.models import BoundaryVersion
from gridmap.settings import Settings

router = APIRouter(prefix="/api", tags=["boundary editor"])


def actor_of(user: str | None) -> str:
    """Who is acting: the signed-in principal (see `_acting_user`)."""
    return (user or "").strip() or "anonymous"


def _acting_user(
    request: Request, claimed: Annotated[str | None, Header(alias="X-Gridmap-User")] = None
) -> str | None:
    """The principal `api.auth.enforce` resolved; the X-Gridmap-User header counts only
    when authentication is off (the unscoped system principal)."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        return claimed
    return acting_as(principal, actor_of(claimed))


UserHeader = Annotated[str | None, Depends(_acting_user)]


def _audit_published(
    session: Session, request: Request, action: str, result: publishing.PublishResult, ref: int
) -> None:
    """Who published which areas: `gridmap audit --target GRID_CODE` finds it by code."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        return
    audit_write(
        session,
        request,
        principal,
        action=action,
        target_type="boundary_version",
        target_id=result.version_id,
        details={"from": ref, "codes": sorted({c.code for c in result.diff.changes})},
    )


# --- shapes -----------------------------------------------------------------------------


class DraftIn(BaseModel):
    layer: Literal["community", "township"]
    code: str = Field(min_length=1, max_length=40)
    name: str = ""
    note: str = ""


class EditIn(BaseModel):
    """One edit. Geometries are GeoJSON in WGS84 lon/lat."""

    op: Literal["split", "merge", "reshape", "delete", "add", "regenerate"]
    code: str | None = None
    codes: list[str] | None = None
    into: str | None = None
    community: str | None = None
    line: dict[str, Any] | None = None
    geometry: dict[str, Any] | None = None


class PublishIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)
    accept_problems: bool = False


class RebaseIn(BaseModel):
    keep_mine: bool = False


class RestoreIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


# --- helpers ----------------------------------------------------------------------------


def _geometry(value: dict[str, Any] | None, field: str) -> Any:
    if value is None:
        raise InvalidInput(f"{field}: a GeoJSON geometry is required", details={"field": field})
    try:
        return shapely.from_geojson(json.dumps(value))
    except Exception as exc:  # GEOS raises several types for malformed GeoJSON
        raise InvalidInput(
            f"{field}: not a GeoJSON geometry ({exc})", details={"field": field}
        ) from exc


def _need(value: Any, field: str, op: str) -> Any:
    if not value:
        raise InvalidInput(f"{field}: needed for a {op}", details={"field": field})
    return value


def _grids_geojson(grids: list[Grid], community: dict[str, str]) -> dict[str, Any]:
    if not grids:
        return {"type": "FeatureCollection", "features": []}
    frame = gpd.GeoDataFrame(
        {
            "code": [g.code for g in grids],
            "name": [g.name for g in grids],
            "households": [g.households for g in grids],
            "kind": [g.kind for g in grids],
            "community": [community.get(g.code) for g in grids],
        },
        geometry=[g.geom for g in grids],
        crs="EPSG:4326",
    )
    return to_geojson_dict(frame)


def _draft_json(draft: BoundaryVersion) -> dict[str, Any]:
    return {
        "id": draft.id,
        "name": draft.name,
        "note": draft.note,
        "author": draft.created_by,
        "created_at": draft.created_at.isoformat() if draft.created_at else None,
        "base_version": draft.base_version_id,
        "scope": draft.summary.get("scope"),
    }


def _state(session: Session, settings: Settings, draft_id: int, author: str) -> dict[str, Any]:
    return drafting.draft_state(session, settings=settings, draft_id=draft_id, author=author)


def _edited(
    session: Session, settings: Settings, draft_id: int, author: str, outcome: drafts.EditOutcome
) -> dict[str, Any]:
    """What an edit answers with: the grids it changed and removed, the draft's problems,
    diff and history — all the page redraws, so it does not fetch the whole draft again."""
    state = _state(session, settings, draft_id, author)
    history = draft_history.edit_history(session, draft_id=draft_id, author=author)
    session.commit()
    return {
        "seq": outcome.seq,
        "op": outcome.op,
        "changed": _grids_geojson(outcome.upserts, outcome.community_of),
        "removed": outcome.removed,
        "history": history,
        **state,
    }


def _edit(
    session: Session,
    draft_id: int,
    author: str,
    body: EditIn,
    s: Settings,
    jurisdiction: Jurisdiction,
) -> drafts.Edit:
    op = body.op
    if op == "split":
        return drafts.Split(_need(body.code, "code", op), _geometry(body.line, "line"))
    if op == "merge":
        return drafts.Merge(tuple(_need(body.codes, "codes", op)))
    if op == "reshape":
        return drafts.Reshape(_need(body.code, "code", op), _geometry(body.geometry, "geometry"))
    if op == "delete":
        return drafts.Delete(_need(body.code, "code", op), _need(body.into, "into", op))
    if op == "add":
        return drafts.Add(_geometry(body.geometry, "geometry"), body.community)
    return drafting.regenerate(
        session,
        draft_id=draft_id,
        author=author,
        community=_need(body.community, "community", op),
        settings=s,
        jurisdiction=jurisdiction,
    )


# --- drafts -----------------------------------------------------------------------------


def _jurisdiction(request: Request) -> Jurisdiction:
    """The caller's jurisdiction (everywhere when authentication is off)."""
    principal: Principal | None = getattr(request.state, "principal", None)
    return principal.jurisdiction if principal is not None else EVERYWHERE


@router.post("/drafts", status_code=201)
def create_draft(
    body: DraftIn, session: SessionDep, request: Request, user: UserHeader = None
) -> dict[str, Any]:
    draft = drafts.create_draft(
        session,
        author=actor_of(user),
        layer=body.layer,
        code=body.code,
        name=body.name,
        note=body.note,
        jurisdiction=_jurisdiction(request),
    )
    session.commit()
    return _draft_json(draft)


@router.get("/drafts")
def list_my_drafts(session: SessionDep, user: UserHeader = None) -> dict[str, Any]:
    return {"drafts": [_draft_json(d) for d in drafts.list_drafts(session, author=actor_of(user))]}


@router.get("/drafts/{draft_id}")
def get_draft(
    draft_id: int, session: SessionDep, ctx: ContextDep, user: UserHeader = None
) -> dict[str, Any]:
    """The draft with its grids (GeoJSON), households per grid, buildings' households."""
    author = actor_of(user)
    draft = drafts.get_draft(session, draft_id=draft_id, author=author)
    coverages = drafts.draft_coverages(session, draft=draft)
    grids = [g for c in coverages for g in c.grids]
    of = {g.code: c.parent_code for c in coverages for g in c.grids}
    buildings = [
        {"lon": float(x), "lat": float(y), "households": int(h)}
        for c in coverages
        for x, y, h in zip(c.buildings.lons, c.buildings.lats, c.buildings.households, strict=True)
    ]
    return {
        **_draft_json(draft),
        "grids": _grids_geojson(grids, of),
        "communities": [
            {"code": c.parent_code, "name": c.parent_name, "grids": len(c.grids)} for c in coverages
        ],
        "buildings": buildings,
        "history": draft_history.edit_history(session, draft_id=draft_id, author=author),
        **_state(session, ctx.settings, draft_id, author),
    }


@router.post("/drafts/{draft_id}/edits")
def post_edit(
    draft_id: int,
    body: EditIn,
    session: SessionDep,
    ctx: ContextDep,
    request: Request,
    user: UserHeader = None,
) -> dict[str, Any]:
    author = actor_of(user)
    jurisdiction = _jurisdiction(request)
    edit = _edit(session, draft_id, author, body, ctx.settings, jurisdiction)
    outcome = drafts.apply_edit(
        session, draft_id=draft_id, author=author, edit=edit, jurisdiction=jurisdiction
    )
    return _edited(session, ctx.settings, draft_id, author, outcome)


@router.post("/drafts/{draft_id}/undo")
def undo(
    draft_id: int, session: SessionDep, ctx: ContextDep, request: Request, user: UserHeader = None
) -> dict[str, Any]:
    author = actor_of(user)
    step = draft_history.undo(
        session, draft_id=draft_id, author=author, jurisdiction=_jurisdiction(request)
    )
    state = _state(session, ctx.settings, draft_id, author)
    session.commit()
    return {"undone": step, **state}


@router.post("/drafts/{draft_id}/redo")
def redo(
    draft_id: int, session: SessionDep, ctx: ContextDep, request: Request, user: UserHeader = None
) -> dict[str, Any]:
    author = actor_of(user)
    step = draft_history.redo(
        session, draft_id=draft_id, author=author, jurisdiction=_jurisdiction(request)
    )
    state = _state(session, ctx.settings, draft_id, author)
    session.commit()
    return {"redone": step, **state}


@router.post("/drafts/{draft_id}/validate")
def validate(
    draft_id: int, session: SessionDep, ctx: ContextDep, user: UserHeader = None
) -> dict[str, Any]:
    problems = drafts.validate_draft(
        session, draft_id=draft_id, author=actor_of(user), validator=publish_validator(ctx.settings)
    )
    errors = sum(1 for p in problems if p["severity"] == "error")
    return {"ok": errors == 0, "errors": errors, "problems": problems}


@router.get("/drafts/{draft_id}/diff")
def diff(draft_id: int, session: SessionDep, user: UserHeader = None) -> dict[str, Any]:
    draft = drafts.get_draft(session, draft_id=draft_id, author=actor_of(user))
    return {
        **diffs.diff_version(session, version_id=draft.id).to_dict(),
        "changed_since_base": draft_history.changes_since_base(session, draft=draft),
    }


@router.post("/drafts/{draft_id}/rebase")
def rebase(
    draft_id: int,
    session: SessionDep,
    request: Request,
    body: RebaseIn | None = None,
    user: UserHeader = None,
) -> dict[str, Any]:
    changed = draft_history.rebase(
        session,
        draft_id=draft_id,
        author=actor_of(user),
        keep_mine=body.keep_mine if body else False,
        jurisdiction=_jurisdiction(request),
    )
    session.commit()
    draft = drafts.get_draft(session, draft_id=draft_id, author=actor_of(user))
    return {**_draft_json(draft), "changed_since_base": changed}


@router.post("/drafts/{draft_id}/publish")
def publish(
    draft_id: int,
    body: PublishIn,
    session: SessionDep,
    ctx: ContextDep,
    request: Request,
    user: UserHeader = None,
) -> dict[str, Any]:
    """Activate the draft and re-route open events, in one transaction; 409 with what
    changed when someone published first."""
    result = publishing.publish(
        session,
        draft_id=draft_id,
        author=actor_of(user),
        reason=body.reason,
        settings=ctx.settings,
        validator=publish_validator(ctx.settings),
        accept_problems=body.accept_problems,
        jurisdiction=_jurisdiction(request),
    )
    _audit_published(session, request, "boundaries.publish", result, draft_id)
    session.commit()
    _adopt(ctx, result)
    return _published(result)


def _adopt(ctx: Any, result: publishing.PublishResult) -> None:
    # This worker routes by the new version at once, with the snapshot the publish built
    # to re-route; the others reload on the NOTIFY the publish sent.
    if ctx.router is not None:
        ctx.router.adopt(result.snapshot)


def _published(result: publishing.PublishResult) -> dict[str, Any]:
    return {
        "version": result.version_id,
        "diff": result.diff.to_dict(),
        "rerouted": [r.to_dict() for r in result.rerouted],
        "exceptions": result.exceptions,
    }


@router.post("/drafts/{draft_id}/upload")
async def upload(
    draft_id: int,
    session: SessionDep,
    ctx: ContextDep,
    request: Request,
    file: Annotated[UploadFile, File()],
    crs: Annotated[str | None, Form()] = None,
    user: UserHeader = None,
) -> dict[str, Any]:
    """A file of grids into the draft (the import core's reader and normaliser): the grids
    of each community it names are replaced by the file's."""
    author = actor_of(user)
    jurisdiction = _jurisdiction(request)
    data = await file.read()

    def run() -> dict[str, Any]:
        draft = drafts.get_draft(session, draft_id=draft_id, author=author)
        edit = drafting.upload(
            data,
            name=file.filename or "upload.geojson",
            crs=crs,
            county_code=draft.county_code or "",
        )
        outcome = drafts.apply_edit(
            session, draft_id=draft_id, author=author, edit=edit, jurisdiction=jurisdiction
        )
        return _edited(session, ctx.settings, draft_id, author, outcome)

    return await run_in_threadpool(run)


# --- versions ---------------------------------------------------------------------------


def _version_json(v: BoundaryVersion) -> dict[str, Any]:
    return {
        "id": v.id,
        "name": v.name,
        "status": v.status,
        "note": v.note,
        "created_by": v.created_by,
        "created_at": v.created_at.isoformat() if v.created_at else None,
        "activated_by": v.activated_by,
        "activated_at": v.activated_at.isoformat() if v.activated_at else None,
        "base_version": v.base_version_id,
        "county_code": v.county_code,
        "summary": v.summary,
    }


@router.get("/versions")
def list_versions(session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    """Published versions: who, when and why (drafts are private to their authors). A
    scoped caller sees the versions of its counties that changed its areas, with counts
    of its areas only."""
    jurisdiction = principal.jurisdiction
    counties = boundary_access.counties_of(session, jurisdiction=jurisdiction)
    published = [
        v
        for v in boundaries.list_versions(session, county_codes=counties)
        if v.activated_at is not None
    ]
    if jurisdiction.everywhere or all(c in jurisdiction.county_codes for c in (counties or ())):
        return {"versions": [_version_json(v) for v in published]}
    out = []
    for v in published:
        scoped = _version_with_diff(session, v, principal)
        if scoped["diff"]["changes"]:
            out.append({k: val for k, val in scoped.items() if k != "diff"})
    return {"versions": out}


@router.get("/versions/{version_id}", response_model=None)
def get_version(
    version_id: int,
    session: SessionDep,
    principal: PrincipalDep,
    f: Annotated[Literal["json", "geojson", "gpkg"], Query()] = "json",
    layer: Annotated[str | None, Query()] = None,
) -> dict[str, Any] | Response:
    """A published version and what it changed; `?f=geojson|gpkg` downloads its areas
    (optionally one layer). Both hold only the caller's jurisdiction (filtered in the query)."""
    version = boundaries.get_version(session, version_id=version_id)
    # Another county's version is refused (its name and note are its county's business);
    # a caller of no county at all sees no change and downloads nothing (scoped queries).
    if boundary_access.counties_of(session, jurisdiction=principal.jurisdiction):
        boundary_access.require_county(
            session,
            jurisdiction=principal.jurisdiction,
            county_code=version.county_code,
            what=f"boundary version {version_id}",
        )
    if version.activated_at is None:
        raise InvalidInput(f"version {version_id} is not published")
    if f == "json":
        return _version_with_diff(session, version, principal)
    scope = area_scope.scope_for(
        session, jurisdiction=principal.jurisdiction, version_id=version_id
    )
    records = boundaries.areas_in_version(
        session, version_id=version_id, layers=[layer] if layer else None, scope=scope
    )
    frame = areas_frame(records)
    if f == "geojson":
        return Response(
            json.dumps(to_geojson_dict(frame), ensure_ascii=False),
            media_type="application/geo+json",
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = write_gpkg(frame, Path(tmp) / f"version-{version_id}.gpkg")
        content = path.read_bytes()
    return Response(
        content,
        media_type="application/geopackage+sqlite3",
        headers={"Content-Disposition": f'attachment; filename="version-{version_id}.gpkg"'},
    )


def _version_with_diff(
    session: Session, version: BoundaryVersion, principal: Principal
) -> dict[str, Any]:
    """A version and what it changed, as far as the caller's areas reach: a township's
    user sees its township's changes, and counts (the summary's too) of those only."""
    if principal.jurisdiction.everywhere:
        diff = diffs.diff_published(session, version_id=version.id)
        return {**_version_json(version), "diff": diff.to_dict()}
    diff = diffs.diff_published_for(
        session, version_id=version.id, jurisdiction=principal.jurisdiction
    )
    summary = {
        **{change: diff.count(change) for change in ("added", "changed", "removed")},
        "by_layer": diff.by_layer(),
    }
    return {**_version_json(version), "summary": summary, "diff": diff.to_dict()}


@router.post("/versions/{version_id}/restore")
def restore(
    version_id: int,
    body: RestoreIn,
    session: SessionDep,
    ctx: ContextDep,
    request: Request,
    user: UserHeader = None,
) -> dict[str, Any]:
    """Roll back: publish an old version's geometry again as a new version."""
    result = publishing.rollback(
        session,
        version_id=version_id,
        author=actor_of(user),
        reason=body.reason,
        settings=ctx.settings,
        jurisdiction=_jurisdiction(request),
    )
    _audit_published(session, request, "boundaries.restore", result, version_id)
    session.commit()
    _adopt(ctx, result)
    return _published(result)
