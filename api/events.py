"""HTTP doors to events: ingest, list, workflow actions, photos, timeline, categories
(statistics: api/stats.py).

Routes parse, call `gridmap.events.lifecycle`, commit, and only then answer: an acknowledged event
is a committed one.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, File, Query, Request, Response, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session
from sqlalchemy.pool import QueuePool

from api.auth import (
    PrincipalDep,
    acting_as,
    audit_write,
    check_event_scope,
    current_principal,
    source_addr,
)
from api.context import AppContext
from api.deps import ContextDep, SessionDep
from api.errors import request_language
from gridmap import messages
from gridmap.access import Jurisdiction, Principal, accounts
from gridmap.access import record as record_audit
from gridmap.db import translate_errors
from gridmap.errors import InvalidInput, NotFound, PayloadTooLarge
from gridmap.events import (
    MAX_PHOTOS_PER_EVENT,
    CleanPhoto,
    Coordinate,
    EventAck,
    EventInput,
    EventOut,
    EventPolicy,
    IngestAudit,
    ZonedTime,
    attach_photo,
    base64_length,
    check_event_input,
    clean_photo,
    decode_photo,
    default_photo_stage,
    escalation_candidates,
    event_out,
    event_photos,
    events_out,
    ingest,
    list_categories,
    new_event_out,
    photo_places,
    photo_stage,
    store_photo,
    stored_photo_file,
    team_candidates,
)
from gridmap.events import lifecycle as ev
from gridmap.events import queries as event_queries
from gridmap.models import PHOTO_REPORT, PHOTO_STAGES, Event, Photo

router = APIRouter(prefix="/api", tags=["events"])

# A report is a few kilobytes; the body limit refuses a 50 MB description before it is
# parsed (the description limit itself is a setting, checked after parsing). Photos sent
# in the JSON add room for as many photos of the photo limit as an event may carry.
MAX_EVENT_BODY_BYTES = 1024 * 1024


def event_body_limit(photo_max_bytes: int) -> int:
    # 100 bytes a photo for a data: URL's header and the JSON around it.
    return MAX_EVENT_BODY_BYTES + MAX_PHOTOS_PER_EVENT * (base64_length(photo_max_bytes) + 100)


# --- request and response shapes --------------------------------------------------------


class LocationIn(BaseModel):
    lon: Coordinate
    lat: Coordinate
    crs: str = "wgs84"


class ReporterIn(BaseModel):
    name: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=40)


class EventIn(BaseModel):
    """An event as an integrating system sends it (docs/api.md)."""

    model_config = ConfigDict(extra="ignore")

    source: str = Field(min_length=1, max_length=40)
    external_id: str = Field(min_length=1, max_length=100)
    category: str = Field(min_length=1, max_length=40)
    priority: str | None = None
    description: str = ""
    location: LocationIn | None = None
    address: str | None = None
    reporter: ReporterIn | None = None
    reported_at: dt.datetime
    county: str | None = Field(
        default=None,
        min_length=1,
        max_length=12,
        description="the county (code) an event without a place on the map belongs to; "
        "default: the sender's",
    )
    photos: list[str] = Field(
        default_factory=list,
        max_length=MAX_PHOTOS_PER_EVENT,
        description="JPEG, PNG or WebP photos as base64 text or data: URLs, checked by "
        "content; more can be attached with POST /api/events/{id}/photos",
    )

    def to_input(self) -> EventInput:
        return EventInput(
            source=self.source,
            external_id=self.external_id,
            category=self.category,
            reported_at=self.reported_at,
            description=self.description,
            lon=self.location.lon if self.location else None,
            lat=self.location.lat if self.location else None,
            crs=self.location.crs if self.location else "wgs84",
            address=self.address,
            reporter_name=self.reporter.name if self.reporter else None,
            reporter_phone=self.reporter.phone if self.reporter else None,
            priority=self.priority,
        )


class ActionIn(BaseModel):
    """What a workflow action may carry; each action says which fields it needs."""

    model_config = ConfigDict(extra="forbid")

    actor: str = Field(default="operator", min_length=1, max_length=100)
    team: str | None = Field(default=None, description="team code: assign, joint_dispatch lead")
    co_teams: list[str] = Field(default_factory=list, description="joint_dispatch co-handlers")
    reason: str | None = Field(default=None, max_length=2000)
    note: str | None = Field(default=None, max_length=5000)
    target: int | None = Field(default=None, description="merge: the event to merge into")
    satisfaction: int | None = Field(default=None, description="visit: 1 to 5")
    priority: str | None = Field(default=None, description="register: override the priority")
    row_version: int | None = Field(default=None, description="refuse if the event changed")


class PlaceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lon: Coordinate
    lat: Coordinate
    crs: str = "wgs84"
    actor: str = Field(default="operator", min_length=1, max_length=100)


class LogEntryOut(BaseModel):
    id: int
    at: dt.datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str | None
    team_id: int | None
    note: str | None
    data: dict[str, Any]
    actor_name: str = Field(
        default="", description="who acted, as a person reads it: a display name, a source's name"
    )
    text: str | None = Field(
        default=None,
        description="the step's note in the caller's language: a system step's "
        "`data.note_code` rendered from the catalogue, else the note as written",
    )


class PhotoOut(BaseModel):
    id: int
    sha256: str
    media_type: str
    size: int
    uploaded_by: str
    uploaded_at: dt.datetime
    url: str
    stage: str = Field(
        description="when it was taken: 'report' (with the problem's report) or 'after' "
        "(处置后, by the handling team)",
        json_schema_extra={"enum": list(PHOTO_STAGES)},
    )
    gps: dict[str, float] | None = Field(
        default=None,
        description="where the camera said the photo was taken (EXIF GPS, WGS84 lon/lat); "
        "the stored file keeps no metadata",
    )


def _feature(out: EventOut) -> dict[str, Any]:
    props = out.model_dump(mode="json", exclude={"location", "routing"})
    geometry = (
        {"type": "Point", "coordinates": [out.location["lon"], out.location["lat"]]}
        if out.location
        else None
    )
    return {"type": "Feature", "id": out.id, "geometry": geometry, "properties": props}


# --- ingest -----------------------------------------------------------------------------


async def _read_limited(request: Request, limit: int) -> bytes:
    """The body, refused as soon as it passes `limit` (before it is all in memory)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(
            f"the request body is {declared} bytes; an event may be at most {limit}",
            details={"limit": limit},
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(
                f"the request body passes {limit} bytes, the most an event may be",
                details={"limit": limit},
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _ingest_alone(
    ctx: AppContext,
    payload: EventInput,
    audit: IngestAudit,
    scope: Jurisdiction,
    county: str | None,
    photos: list[CleanPhoto] | None = None,
) -> tuple[EventOut | EventAck, bool]:
    """An ingest in its own transaction: a category the batcher has not seen yet (it may
    not exist, or it is a resend answered whatever it says now), no batcher running, or
    an event sent with photos (checked already; stored in the event's transaction).
    A resend is answered with the stored event as far as the sender may read it (its
    photos came with it the first time), and audited."""
    actor = f"source:{payload.source}"
    with translate_errors(ctx.database_url), ctx.sessions() as session:
        taken = ingest.take_in_event(
            session,
            router=ctx.router,
            payload=payload,
            actor=actor,
            policy=EventPolicy.from_settings(ctx.settings),
            audit=audit,
            county_code=county,
        )
        if taken.existing is None and photos:
            event = ev.get_event(session, event_id=taken.columns["id"])
            for photo in photos:
                stored = store_photo(photo, photo_dir=ctx.settings.photo_dir)
                # Sent with the report: pictures of the problem, never of the work done.
                attach_photo(session, event=event, photo=stored, actor=actor, stage=PHOTO_REPORT)
            session.commit()
            return _answer(session, event, scope), True
        if taken.existing is not None:
            return _repeat(session, taken.existing, payload, audit, scope), False
        session.commit()  # acknowledged only once committed
    return _new_answer(taken, scope), True


def _resent(
    ctx: AppContext, payload: EventInput, audit: IngestAudit, scope: Jurisdiction
) -> tuple[EventOut | EventAck, bool] | None:
    """A (source, external_id) the batcher found stored already, answered with the stored
    event: read by its key, not checked or routed again. None when it is not there (it
    cannot be: the batcher answers after the commit that stored it)."""
    with translate_errors(ctx.database_url), ctx.sessions() as session:
        existing = ingest.by_external_id(
            session, source=payload.source, external_id=payload.external_id
        )
        if existing is None:
            return None
        return _repeat(session, existing, payload, audit, scope), False


def _repeat(
    session: Session, existing: Event, payload: EventInput, audit: IngestAudit, scope: Jurisdiction
) -> EventOut | EventAck:
    """A resend's answer (the stored event as far as the sender may read it), audited and
    committed before it is given."""
    answer = _answer(session, existing, scope)
    record_audit(
        session,
        actor=audit.actor,
        action="event.ingest_repeat",
        target_type="event",
        target_id=existing.id,
        details={
            **audit.details,
            "external_id": payload.external_id,
            "answered": "event" if isinstance(answer, EventOut) else "acknowledgement",
        },
        source_addr=audit.source_addr,
    )
    session.commit()  # acknowledged only once committed
    return answer


def _answer(session: Session, event: Event, scope: Jurisdiction) -> EventOut | EventAck:
    """A stored event as its sender may see it: whole when its jurisdiction holds it."""
    if scope.covers(event, co_handler_team_ids=ev.co_handler_team_ids(session, event_id=event.id)):
        return event_out(session, event)
    return EventAck(id=event.id, status=event.status)


def _new_answer(taken: ingest.Ingested, scope: Jurisdiction) -> EventOut | EventAck:
    """A new event as its sender may see it (it has no co-handlers yet)."""
    c = taken.columns
    if scope.covers_codes(
        county_code=c["county_code"],
        township_code=c["township_code"],
        community_code=c["community_code"],
        grid_code=c["grid_code"],
        team_id=c["team_id"],
    ):
        return new_event_out(taken)
    return EventAck(id=c["id"], status=c["status"])


def _checked_photos(body: EventIn, max_bytes: int) -> list[CleanPhoto]:
    """Every photo of the body decoded, checked and cleaned, before anything is stored."""
    photos = []
    for i, text in enumerate(body.photos):
        field = f"photos[{i}]"
        data = decode_photo(text, field=field)
        photos.append(clean_photo(data, max_bytes=max_bytes, where={"field": field}))
    return photos


@router.post(
    "/events",
    summary="Ingest one event: 201 when new, 200 when (source, external_id) is known",
    status_code=201,
    response_model=EventOut | EventAck,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": EventIn.model_json_schema()}},
        }
    },
)
async def post_event(request: Request, response: Response, ctx: ContextDep) -> EventOut | EventAck:
    # `api.ingest_door.GridmapApp` answers this path before FastAPI routes it, through the
    # same `take_in_post`; this route documents it (OpenAPI) and serves a plain FastAPI app.
    out, created = await take_in_post(request, ctx)
    response.status_code = 201 if created else 200
    return out


async def take_in_post(request: Request, ctx: AppContext) -> tuple[EventOut | EventAck, bool]:
    """POST /api/events, once the caller may ingest: (the answer, True when it is new).

    The answer is the event when the caller's jurisdiction holds it, else only its id and
    status (`EventAck`): a sender learns nothing about a place outside its areas, whether
    it reports there or repeats another sender's (source, external_id).
    """
    raw = await _read_limited(request, event_body_limit(ctx.settings.photo_max_bytes))
    try:
        body = EventIn.model_validate_json(raw)
    except ValidationError as exc:
        problems = [
            {"where": ".".join(str(p) for p in err["loc"]), "problem": err["msg"]}
            for err in exc.errors()
        ]
        first = problems[0]
        where = f"{first['where']}: " if first["where"] else ""
        raise InvalidInput(f"{where}{first['problem']}", details={"problems": problems}) from None
    policy = EventPolicy.from_settings(ctx.settings)
    payload = check_event_input(body.to_input(), policy=policy)
    # Decoding photos takes milliseconds each: off the event loop.
    photos = (
        await anyio.to_thread.run_sync(_checked_photos, body, ctx.settings.photo_max_bytes)
        if body.photos
        else []
    )
    principal = current_principal(request)
    scope = principal.jurisdiction
    county = scope.unplaced_county(body.county)
    # Written by the ingest statement itself, as `audit_write` would: no extra round trip.
    audit = IngestAudit(
        actor=principal.actor,
        source_addr=source_addr(request),
        details={"source": payload.source, **({"photos": len(photos)} if photos else {})},
    )
    if photos:
        return await anyio.to_thread.run_sync(
            _ingest_alone,
            ctx,
            payload,
            audit,
            scope,
            county,
            photos,
            limiter=_ingest_limiter(request, ctx),
        )
    # An address without a location is geocoded (a database read): not on the event loop.
    address_only = payload.lon is None and bool(payload.address)
    if (
        ctx.ingest_batcher is None
        or address_only
        or not ingest.category_seen(ctx.engine, payload.category)
    ):
        return await anyio.to_thread.run_sync(
            _ingest_alone, ctx, payload, audit, scope, county, limiter=_ingest_limiter(request, ctx)
        )
    # Routing is in memory (microseconds), so it runs here, on the event loop; the
    # batcher answers once the batch holding this event is committed.
    new = ingest.prepare_event(
        router=ctx.router,
        payload=payload,
        actor=f"source:{payload.source}",
        policy=policy,
        audit=audit,
        county_code=county,
    )
    taken = await ctx.ingest_batcher.submit(new)
    if taken is not None:
        return _new_answer(taken, scope), True
    # Known already (a resend, or a repeat within the batch): answered with the stored one,
    # read by its key (it was routed once, when it was first taken in).
    limiter = _ingest_limiter(request, ctx)
    resent = await anyio.to_thread.run_sync(_resent, ctx, payload, audit, scope, limiter=limiter)
    if resent is not None:
        return resent
    return await anyio.to_thread.run_sync(
        _ingest_alone, ctx, payload, audit, scope, county, limiter=limiter
    )


def _ingest_limiter(request: Request, ctx: AppContext) -> anyio.CapacityLimiter:
    """At most as many lone ingests at once as the connection pool keeps open, per app.

    More concurrent senders than that made the pool open and close an overflow connection
    per request (a new PostgreSQL backend each time: measured at ~6% of a worker's CPU
    with 32 senders); waiting for a pooled connection is cheaper.
    """
    limiter: anyio.CapacityLimiter | None = getattr(request.app.state, "ingest_limiter", None)
    if limiter is None:
        pool = ctx.engine.pool
        limiter = anyio.CapacityLimiter(pool.size() if isinstance(pool, QueuePool) else 10)
        request.app.state.ingest_limiter = limiter
    return limiter


# --- reading ----------------------------------------------------------------------------


def _csv(value: str | None) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else []


def _bbox(value: str | None) -> tuple[float, float, float, float] | None:
    if not value:
        return None
    parts = value.split(",")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        numbers = []
    if len(numbers) != 4:
        raise InvalidInput(
            f"bbox: expected west,south,east,north, got {value!r}", details={"bbox": value}
        )
    return numbers[0], numbers[1], numbers[2], numbers[3]


@router.get("/events", summary="List events, newest first (GeoJSON with ?f=geojson)")
def get_events(
    session: SessionDep,
    principal: PrincipalDep,
    status: Annotated[str | None, Query(description="comma-separated states")] = None,
    priority: Annotated[str | None, Query(description="comma-separated priorities")] = None,
    category: Annotated[str | None, Query(description="comma-separated category codes")] = None,
    area: Annotated[str | None, Query(description="a grid/community/township/… code")] = None,
    bbox: Annotated[str | None, Query(description="west,south,east,north (WGS84)")] = None,
    since: Annotated[ZonedTime | None, Query(description="received at or after")] = None,
    unassigned: Annotated[bool | None, Query(description="only events without a team")] = None,
    overdue: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[int | None, Query(description="next_cursor of the previous page")] = None,
    f: Annotated[str, Query(pattern="^(json|geojson)$")] = "json",
) -> dict[str, Any]:
    rows = event_queries.list_events(
        session,
        status=_csv(status),
        priority=_csv(priority),
        category=_csv(category),
        area=area,
        bbox=_bbox(bbox),
        since=since,
        unassigned=unassigned,
        overdue=overdue,
        limit=limit,
        cursor=cursor,
        scope=principal.jurisdiction,
    )
    outs = events_out(session, rows)
    next_cursor = rows[-1].id if len(rows) == limit else None
    if f == "geojson":
        return {
            "type": "FeatureCollection",
            "features": [_feature(o) for o in outs],
            "next_cursor": next_cursor,
        }
    return {"events": [o.model_dump(mode="json") for o in outs], "next_cursor": next_cursor}


@router.get("/events/triage", summary="Events no one could place, for operators to route")
def get_triage(
    session: SessionDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    rows = event_queries.triage_queue(session, limit=limit, scope=principal.jurisdiction)
    return {"events": [o.model_dump(mode="json") for o in events_out(session, rows)]}


@router.get("/events/{event_id}", response_model=EventOut, summary="One event")
def get_one_event(event_id: int, session: SessionDep, principal: PrincipalDep) -> EventOut:
    check_event_scope(session, principal, event_id, acting=False)
    return event_out(session, ev.get_event(session, event_id=event_id))


@router.get("/events/{event_id}/log", summary="An event's timeline (append-only)")
def get_event_log(
    event_id: int,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    lang: Annotated[str | None, Query(description="zh-CN (default) or en")] = None,
) -> dict[str, Any]:
    check_event_scope(session, principal, event_id, acting=False)
    entries = event_queries.event_log(session, event_id=event_id)
    language = request_language(request)
    names = accounts.display_names(
        session,
        usernames=(e.actor.removeprefix("user:") for e in entries if e.actor.startswith("user:")),
    )
    out = []
    for e in entries:
        one = LogEntryOut.model_validate(e, from_attributes=True)
        one.actor_name = messages.actor_name(e.actor, language, display_names=names)
        code = (e.data or {}).get("note_code")
        rendered = (
            messages.note_text(code, e.data.get("note_params"), language)
            if isinstance(code, str)
            else None
        )
        one.text = rendered or e.note or e.data.get("reason") if e.data else rendered or e.note
        out.append(one.model_dump(mode="json"))
    return {"event_id": event_id, "entries": out}


@router.get(
    "/events/{event_id}/team-candidates",
    summary="Teams to hand the event to, best first, each with its open load (the picker)",
)
def get_team_candidates(
    event_id: int,
    session: SessionDep,
    principal: PrincipalDep,
    q: Annotated[
        str | None,
        Query(
            max_length=100, description="part of a team's code or name, or of its department's name"
        ),
    ] = None,
    purpose: Annotated[
        Literal["hand", "escalate"],
        Query(
            description="hand: assign or joint dispatch (teams within your reach); escalate: "
            "the teams the next level up may take it (its duty teams first; at the county "
            "also the departments)"
        ),
    ] = "hand",
) -> dict[str, Any]:
    check_event_scope(session, principal, event_id, acting=True)
    event = ev.get_event(session, event_id=event_id)
    if purpose == "escalate":
        found = escalation_candidates(session, event=event, q=q)
    else:
        found = team_candidates(session, event=event, scope=principal.jurisdiction, q=q)
    return {"event_id": event_id, "purpose": purpose, "teams": [c.to_dict() for c in found]}


# --- acting -----------------------------------------------------------------------------


@router.post(
    "/events/{event_id}/actions/{action}",
    response_model=EventOut,
    summary="A workflow action; 409 names the current state when it is not allowed",
)
def post_action(
    event_id: int,
    action: str,
    body: ActionIn,
    session: SessionDep,
    request: Request,
    principal: PrincipalDep,
) -> EventOut:
    check_event_scope(session, principal, event_id, acting=True)
    event = ev.act(
        session,
        event_id=event_id,
        action=action,
        actor=acting_as(principal, body.actor),
        team_code=body.team,
        co_team_codes=body.co_teams,
        reason=body.reason,
        note=body.note,
        target_id=body.target,
        satisfaction=body.satisfaction,
        priority=body.priority,
        expected_version=body.row_version,
        scope=principal.jurisdiction,
        # A team's member acts as that team: a co-handler only reports on its part.
        acting_team_id=principal.team_id if principal.kind == "user" else None,
    )
    audit_write(
        session,
        request,
        principal,
        action=f"event.{action}",
        target_type="event",
        target_id=event_id,
        details={"status": event.status, "team": body.team},
    )
    session.commit()
    return event_out(session, event)


@router.post(
    "/events/{event_id}/place",
    response_model=EventOut,
    summary="Place an unassigned event on the map and route it (the triage queue)",
)
def post_place(
    event_id: int,
    body: PlaceIn,
    ctx: ContextDep,
    session: SessionDep,
    request: Request,
    principal: PrincipalDep,
) -> EventOut:
    check_event_scope(session, principal, event_id, acting=True)
    return place_and_answer(
        ctx,
        session,
        request,
        principal,
        event_id=event_id,
        point=(body.lon, body.lat, body.crs),
        actor=body.actor,
    )


def place_and_answer(
    ctx: AppContext,
    session: Session,
    request: Request,
    principal: Principal,
    *,
    event_id: int,
    point: tuple[float, float, str],
    actor: str,
    audit: dict[str, Any] | None = None,
) -> EventOut:
    """Place an event the caller may act on at `point` (lon, lat, crs), route it, audit it
    (`event.place`, with `audit` added to the point) and answer it: the operator's click on
    the map and the choice of a geocoding candidate (api/geocoding.py) alike."""
    if ctx.router is None:
        raise NotFound("routing is not ready: no boundary version is active")
    lon, lat, crs = point
    event = ev.place_event(
        session,
        router=ctx.router,
        event_id=event_id,
        lon=lon,
        lat=lat,
        crs=crs,
        actor=acting_as(principal, actor),
        scope=principal.jurisdiction,
    )
    audit_write(
        session,
        request,
        principal,
        action="event.place",
        target_type="event",
        target_id=event_id,
        details={"lon": lon, "lat": lat, "crs": crs, **(audit or {})},
    )
    session.commit()
    return event_out(session, event)


# --- photos -----------------------------------------------------------------------------


def _photo_out(photo: Photo, gps: dict[str, float] | None) -> PhotoOut:
    return PhotoOut(
        gps=gps,
        id=photo.id,
        sha256=photo.sha256,
        media_type=photo.media_type,
        size=photo.size,
        uploaded_by=photo.uploaded_by,
        uploaded_at=photo.uploaded_at,
        url=f"/api/events/{photo.event_id}/photos/{photo.id}",
        stage=photo.stage,
    )


@router.post(
    "/events/{event_id}/photos",
    response_model=PhotoOut,
    status_code=201,
    summary="Attach a photo (JPEG, PNG or WebP, checked by content)",
)
def post_photo(
    event_id: int,
    ctx: ContextDep,
    session: SessionDep,
    file: Annotated[UploadFile, File(description="the photo")],
    request: Request,
    response: Response,
    principal: PrincipalDep,
    actor: Annotated[str, Query(max_length=100)] = "operator",
    stage: Annotated[
        str | None,
        Query(
            max_length=40,
            description="'report' or 'after' (处置后照片); without it: 'after' when the "
            "uploader's team handles the event (its team or a co-handler) and the event is "
            "in progress or reported back, else 'report'",
        ),
    ] = None,
) -> PhotoOut:
    check_event_scope(session, principal, event_id, acting=True)
    actor = acting_as(principal, actor)
    asked = photo_stage(stage)  # a wrong stage is refused before the photo is read
    event = ev.get_event(session, event_id=event_id, for_update=True)
    stage = asked or default_photo_stage(session, event=event, team_id=principal.team_id)
    limit = ctx.settings.photo_max_bytes
    data = file.file.read(limit + 1)  # one byte over is enough to refuse it
    where = {"field": "file", **({"filename": file.filename} if file.filename else {})}
    stored = store_photo(
        clean_photo(data, max_bytes=limit, where=where), photo_dir=ctx.settings.photo_dir
    )
    photo, attached = attach_photo(session, event=event, photo=stored, actor=actor, stage=stage)
    gps = stored.gps.to_dict() if stored.gps else None
    if not attached:
        # A resend of a photo the event has (its answer was lost): the same answer, 200.
        session.commit()
        response.status_code = 200
        return _photo_out(photo, gps)
    audit_write(
        session,
        request,
        principal,
        action="event.photo",
        target_type="event",
        target_id=event_id,
        details={"photo_id": photo.id, "sha256": stored.sha256, "stage": stage},
    )
    session.commit()
    return _photo_out(photo, gps)


@router.get("/events/{event_id}/photos", summary="An event's photos")
def get_photos(event_id: int, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    check_event_scope(session, principal, event_id, acting=False)
    ev.get_event(session, event_id=event_id)
    photos = event_photos(session, event_id=event_id)
    gps = photo_places(session, event_id=event_id)
    return {"photos": [_photo_out(p, gps.get(p.id)).model_dump(mode="json") for p in photos]}


@router.get("/events/{event_id}/photos/{photo_id}", summary="One photo's bytes")
def get_photo(
    event_id: int, photo_id: int, ctx: ContextDep, session: SessionDep, principal: PrincipalDep
) -> FileResponse:
    check_event_scope(session, principal, event_id, acting=False)
    photo = session.get(Photo, photo_id)
    if photo is None or photo.event_id != event_id:
        raise NotFound(f"event {event_id} has no photo {photo_id}")
    path = stored_photo_file(ctx.settings.photo_dir, photo.sha256, photo.media_type)
    return FileResponse(
        path,
        media_type=photo.media_type,
        headers={"Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )


# --- the responsibility list ---------------------------------------------------------


@router.get("/categories", summary="The responsibility list (权责清单): categories and rules")
def get_categories(
    session: SessionDep, county: Annotated[str | None, Query()] = None
) -> dict[str, Any]:
    return {"categories": list_categories(session, county_code=county)}
