"""Household visits (走访) recorded from the phone: a building tapped on the map, a kind and
a note. Counted per grid and worker; seen by the same rule as events and patrols
(`gridmap.patrols.covered`, i.e. `Jurisdiction.covers_codes`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gridmap.access.permissions import Jurisdiction
from gridmap.errors import InvalidInput, PermissionDenied
from gridmap.patrols import CHINA_DAY, Chain, FieldWork, inside, who_and_where

VISIT_KINDS = ("routine", "special_care", "dispute")  # 常规走访, 特殊关爱户, 矛盾纠纷回访
MAX_NOTE = 2000


def record_visit(
    session: Session,
    *,
    user_id: int,
    username: str,
    team_id: int | None,
    client_id: str,
    chain: Chain,
    building_code: str | None,
    kind: str,
    note: str,
    lon: float | None,
    lat: float | None,
    visited_at: dt.datetime,
    jurisdiction: Jurisdiction,
) -> dict[str, Any]:
    """A new visit, or the one this phone recorded already under `client_id`; refused
    outside the worker's areas (`gridmap.patrols.inside`)."""
    if not inside(jurisdiction, chain):
        raise PermissionDenied(
            "the household lies outside your areas: a visit is recorded in your own grid",
            details={"field": "location", "grid": chain.grid_code},
            reason="visit_outside_areas",
        )
    if kind not in VISIT_KINDS:
        raise InvalidInput(
            f"kind: one of {', '.join(VISIT_KINDS)}", details={"field": "kind", "value": kind}
        )
    if len(note) > MAX_NOTE:
        raise InvalidInput(f"note: at most {MAX_NOTE} characters", details={"field": "note"})
    session.execute(
        text(
            """
            INSERT INTO visit (client_id, user_id, username, team_id, county_code,
                               township_code, community_code, grid_code, building_code, kind,
                               note, point, visited_at)
            VALUES (:client_id, :user_id, :username, :team_id, :county, :township, :community,
                    :grid, :building, :kind, :note,
                    CASE WHEN CAST(:lon AS float8) IS NULL THEN NULL
                         ELSE ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) END,
                    :visited_at)
            ON CONFLICT (user_id, client_id) DO NOTHING
            """
        ),
        {
            **who_and_where(client_id, user_id, username, team_id, chain),
            "building": building_code,
            "kind": kind,
            "note": note,
            "lon": lon,
            "lat": lat,
            "visited_at": visited_at,
        },
    )
    row = session.execute(
        text(f"SELECT {_COLUMNS} FROM visit WHERE user_id = :u AND client_id = :c"),
        {"u": user_id, "c": client_id},
    ).one()
    return _out(row)


_COLUMNS = """id, client_id, username, team_id, county_code, township_code, community_code,
    grid_code, building_code, kind, note, visited_at, ST_X(point) AS lon, ST_Y(point) AS lat"""


def _out(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "client_id": row.client_id,
        "username": row.username,
        "grid_code": row.grid_code,
        "building_code": row.building_code,
        "kind": row.kind,
        "note": row.note,
        "visited_at": row.visited_at.isoformat(),
        "location": {"lon": row.lon, "lat": row.lat} if row.lon is not None else None,
    }


# Visits since a moment that a jurisdiction sees, newest first.
VISITS = FieldWork("visit", _COLUMNS, "visited_at", _out)
visits_in = VISITS.since


def counts(
    session: Session, *, jurisdiction: Jurisdiction, since: dt.datetime
) -> list[dict[str, Any]]:
    """Visits per grid and worker since `since` (what the supervisor's ledger counts)."""
    tally: dict[tuple[str | None, str], int] = {}
    for v in visits_in(session, jurisdiction=jurisdiction, since=since, limit=100_000):
        key = (v["grid_code"], v["username"])
        tally[key] = tally.get(key, 0) + 1
    return [
        {"grid_code": g, "username": u, "visits": n} for (g, u), n in sorted(tally.items(), key=str)
    ]


def visits_today(session: Session, *, user_id: int) -> int:
    return int(
        session.execute(
            text(f"SELECT count(*) FROM visit WHERE user_id = :u AND visited_at >= {CHINA_DAY}"),
            {"u": user_id},
        ).scalar_one()
    )
