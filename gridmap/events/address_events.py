"""Address-only events (issue #19): an event that arrives with an address and no location
is geocoded against its county's register (gridmap.routing.geocode) before it is routed.

At or above `geocode.AUTO_PLACE_CONFIDENCE` it is placed at the best candidate and routed
like any other, and its timeline says so ("placed by address, confidence …, matched …");
below, it stays unplaced (the triage queue, 待定位) with its candidates kept in
`event.routing["geocode"]`, for an operator to place with one click on one of them
(`candidate_point`). What the sender gave is kept as given: `input_lon`/`input_lat` stay
empty for an event placed by its address.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gridmap.errors import Conflict, NotFound
from gridmap.events.ingest import EventPolicy, IngestAudit, Ingested, NewEvent, prepare_event
from gridmap.events.input import EventInput
from gridmap.routing import geocode
from gridmap.routing.types import PointRouter


def prepare_by_address(
    session: Session,
    *,
    router: PointRouter | None,
    payload: EventInput,
    actor: str,
    policy: EventPolicy,
    now: dt.datetime | None = None,
    audit: IngestAudit | None = None,
    county_code: str | None = None,
) -> tuple[NewEvent, geocode.Geocoded | None]:
    """`prepare_event`, after geocoding an address-only payload (see the module)."""
    point, found = geocode.by_address(
        session, lon=payload.lon, address=payload.address, county_code=county_code
    )
    routed = payload
    if point is not None:
        routed = dataclasses.replace(payload, lon=point[0], lat=point[1], crs="wgs84")
    new = prepare_event(
        router=router,
        payload=routed,
        actor=actor,
        policy=policy,
        now=now,
        audit=audit,
        county_code=county_code,
    )
    if found is None:
        return new, None
    placed = point is not None and not new.params["unplaced"]
    routing = {**new.params["routing"], "geocode": geocode.geocode_record(found, placed=placed)}
    new.values["routing"] = routing
    new.params["routing"] = routing
    # The sender gave no coordinates: the stored input says so.
    for key in ("input_lon", "input_lat", "input_crs"):
        new.values[key] = None
        if key in new.params:
            new.params[key] = None
    return new, found


def note_geocode(session: Session, taken: Ingested, found: geocode.Geocoded) -> None:
    """The timeline entry of a new event's geocoding (flushed with the caller's work)."""
    if not taken.created:
        return
    columns = taken.columns
    record = (columns.get("routing") or {}).get("geocode") or {}
    # The words as a catalogue code (gridmap.messages.NOTES), rendered in the reader's
    # language; the English sentence stays in `note` for readers of the raw log.
    code: str
    params: dict[str, Any]
    if record.get("placed"):
        note = geocode.placed_note(found)
        best = found.best
        assert best is not None
        code, params = (
            "geocode_placed",
            {"confidence": round(best.confidence * 100), "matched": best.matched},
        )
    elif found.candidates:
        note = (
            f"address not placed: best confidence {found.candidates[0].confidence:.2f} is "
            f"below {geocode.AUTO_PLACE_CONFIDENCE}; {len(found.candidates)} candidate(s) "
            "wait in triage"
        )
        code, params = (
            "geocode_candidates",
            {
                "confidence": round(found.candidates[0].confidence * 100),
                "count": len(found.candidates),
            },
        )
    else:
        note = "address not placed: nothing in the address register matches it"
        code, params = "geocode_no_match", {}
    session.execute(
        text(
            "INSERT INTO event_log (event_id, county_code, actor, action, note, data) "
            "VALUES (:e, :c, 'gridmap', 'geocode', :note, CAST(:data AS jsonb))"
        ),
        {
            "e": columns["id"],
            "c": columns.get("county_code"),
            "note": note,
            "data": json.dumps(
                {
                    "placed": bool(record.get("placed")),
                    "confidence": record.get("confidence"),
                    "note_code": code,
                    "note_params": params,
                },
                ensure_ascii=False,
            ),
        },
    )


def candidate_point(routing: dict[str, Any] | None, index: int) -> tuple[float, float]:
    """The point of an event's geocoding candidate `index` (0 = best)."""
    candidates = ((routing or {}).get("geocode") or {}).get("candidates") or []
    if not candidates:
        raise Conflict("the event has no address candidates to place it by")
    if not 0 <= index < len(candidates):
        raise NotFound(
            f"no candidate {index}: the event has {len(candidates)}",
            details={"candidates": len(candidates)},
        )
    lon, lat = candidates[index]["point"]
    return float(lon), float(lat)
