"""Grid workers' patrols (巡查): started and ended on the phone, the track recorded as a PostGIS
LineString from points sent in numbered batches (a batch sent twice adds nothing).

Who sees a patrol is decided as for an event: by the area chain where it started (county,
township, community, grid) and the worker's team, through `Jurisdiction.covers_codes`, the
same rule every event list applies. Writes are the worker's own patrols only.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gridmap.access.permissions import Jurisdiction
from gridmap.errors import InvalidInput, NotFound

# 一日双巡: a grid worker walks its grid twice a day.
DAILY_PATROLS = 2
MAX_BATCH_POINTS = 500
# A worker is shown "on patrol" on the command view only while the patrol is open and its
# last fix is at most this old: a phone switched off mid-patrol does not stay on the map.
LIVE_HOURS = 12.0
CHINA_DAY = "date_trunc('day', now() AT TIME ZONE 'Asia/Shanghai') AT TIME ZONE 'Asia/Shanghai'"


@dataclass(frozen=True, slots=True)
class Chain:
    """Where a patrol or visit lies, as an event's columns say it."""

    county_code: str | None = None
    township_code: str | None = None
    community_code: str | None = None
    grid_code: str | None = None


@dataclass(frozen=True, slots=True)
class Fix:
    lon: float
    lat: float
    at: dt.datetime
    accuracy_m: float | None = None


def _check_fix(fix: Fix, i: int) -> None:
    if not (-180 <= fix.lon <= 180 and -90 <= fix.lat <= 90):
        raise InvalidInput(
            f"points[{i}]: ({fix.lon}, {fix.lat}) is not a WGS84 position",
            details={"field": f"points[{i}]"},
        )


def inside(jurisdiction: Jurisdiction, chain: Chain) -> bool:
    """The write rule for field work: a patrol or visit is recorded inside the writer's
    areas (the event rule, `Jurisdiction.covers_codes`, on its chain). A writer with no
    areas of its own — a department's team member — works wherever its team is sent."""
    has_areas = (
        jurisdiction.county_codes
        or jurisdiction.township_codes
        or jurisdiction.community_codes
        or jurisdiction.grid_codes
    )
    if jurisdiction.everywhere or not has_areas:
        return True
    return jurisdiction.covers_codes(
        county_code=chain.county_code,
        township_code=chain.township_code,
        community_code=chain.community_code,
        grid_code=chain.grid_code,
        team_id=None,
    )


def patrol_chain(jurisdiction: Jurisdiction, *, at: Chain | None, own: Chain) -> Chain:
    """Where a patrol counts: where it starts (`at`) when that is inside the worker's areas,
    else the worker's own area (`own`) — a patrol begun from home, outside the grid, is
    still that grid's patrol and never another grid's."""
    return at if at is not None and inside(jurisdiction, at) else own


def who_and_where(
    client_id: str, user_id: int, username: str, team_id: int | None, chain: Chain
) -> dict[str, Any]:
    """The parameters every field record (a patrol, a visit) is stored with: the phone's
    own id for it, the worker and its team, and the areas it lies in."""
    return {
        "client_id": client_id,
        "user_id": user_id,
        "username": username,
        "team_id": team_id,
        "county": chain.county_code,
        "township": chain.township_code,
        "community": chain.community_code,
        "grid": chain.grid_code,
    }


def start_patrol(
    session: Session,
    *,
    user_id: int,
    username: str,
    team_id: int | None,
    client_id: str,
    chain: Chain,
    started_at: dt.datetime,
) -> dict[str, Any]:
    """A new open patrol, or the one this phone started already under `client_id`."""
    session.execute(
        text(
            """
            INSERT INTO patrol (client_id, user_id, username, team_id, county_code,
                                township_code, community_code, grid_code, started_at)
            VALUES (:client_id, :user_id, :username, :team_id, :county, :township,
                    :community, :grid, :started_at)
            ON CONFLICT (user_id, client_id) DO NOTHING
            """
        ),
        {
            **who_and_where(client_id, user_id, username, team_id, chain),
            "started_at": started_at,
        },
    )
    return get_patrol(session, user_id=user_id, client_id=client_id)


_COLUMNS = """id, client_id, user_id, username, team_id, county_code, township_code,
    community_code, grid_code, started_at, ended_at, last_fix_at, last_accuracy_m, last_seq,
    points, distance_m, ST_AsGeoJSON(track, 6) AS track, ST_X(last_point) AS last_lon,
    ST_Y(last_point) AS last_lat"""


def _out(row: Any) -> dict[str, Any]:
    ended = row.ended_at
    until = ended or row.last_fix_at or row.started_at
    return {
        "id": row.id,
        "client_id": row.client_id,
        "username": row.username,
        "team_id": row.team_id,
        "grid_code": row.grid_code,
        "started_at": row.started_at.isoformat(),
        "ended_at": ended.isoformat() if ended else None,
        "duration_s": round((until - row.started_at).total_seconds()),
        "points": row.points,
        "distance_m": round(row.distance_m, 1),
        "track": json.loads(row.track) if row.track else None,
        "last": (
            {
                "lon": row.last_lon,
                "lat": row.last_lat,
                "at": row.last_fix_at.isoformat() if row.last_fix_at else None,
                "accuracy_m": row.last_accuracy_m,
            }
            if row.last_lon is not None
            else None
        ),
    }


def get_patrol(session: Session, *, user_id: int, client_id: str) -> dict[str, Any]:
    row = session.execute(
        text(f"SELECT {_COLUMNS} FROM patrol WHERE user_id = :u AND client_id = :c"),
        {"u": user_id, "c": client_id},
    ).one_or_none()
    if row is None:
        raise NotFound(f"no patrol {client_id!r} of yours", details={"client_id": client_id})
    return _out(row)


def add_points(
    session: Session, *, user_id: int, client_id: str, seq: int, fixes: Sequence[Fix]
) -> dict[str, Any]:
    """Append batch number `seq` to the track; a batch at or below the last one taken is
    a resend and changes nothing. Batches may come after the end (sent from an outbox)."""
    if len(fixes) > MAX_BATCH_POINTS:
        raise InvalidInput(
            f"at most {MAX_BATCH_POINTS} points a batch", details={"field": "points"}
        )
    for i, fix in enumerate(fixes):
        _check_fix(fix, i)
    found = session.execute(
        text("SELECT last_seq FROM patrol WHERE user_id = :u AND client_id = :c FOR UPDATE"),
        {"u": user_id, "c": client_id},
    ).one_or_none()
    if found is None:
        raise NotFound(f"no patrol {client_id!r} of yours", details={"client_id": client_id})
    if seq <= found.last_seq or not fixes:
        return get_patrol(session, user_id=user_id, client_id=client_id)
    ordered = sorted(fixes, key=lambda f: f.at)
    coords = ",".join(f"{f.lon!r} {f.lat!r}" for f in ordered)
    # ST_MakeLine joins points and lines (not multipoints): one point, or a line of them.
    wkt = f"POINT({coords})" if len(ordered) == 1 else f"LINESTRING({coords})"
    last = ordered[-1]
    # ST_MakeLine joins the track so far (or the first lone point) with the new points.
    session.execute(
        text(
            """
            UPDATE patrol SET
              track = CASE
                WHEN coalesce(track, last_point) IS NOT NULL
                  THEN ST_MakeLine(coalesce(track, last_point), ST_GeomFromText(:wkt, 4326))
                WHEN :n >= 2 THEN ST_GeomFromText(:wkt, 4326)
              END,
              last_point = ST_SetSRID(ST_MakePoint(:lon, :lat), 4326),
              last_fix_at = greatest(last_fix_at, :at),
              last_accuracy_m = :acc,
              last_seq = :seq,
              points = points + :n
            WHERE user_id = :u AND client_id = :c
            """
        ),
        {
            "wkt": wkt,
            "n": len(ordered),
            "lon": last.lon,
            "lat": last.lat,
            "at": last.at,
            "acc": last.accuracy_m,
            "seq": seq,
            "u": user_id,
            "c": client_id,
        },
    )
    session.execute(
        text(
            "UPDATE patrol SET distance_m = coalesce(ST_Length(track::geography), 0)"
            " WHERE user_id = :u AND client_id = :c"
        ),
        {"u": user_id, "c": client_id},
    )
    return get_patrol(session, user_id=user_id, client_id=client_id)


def end_patrol(
    session: Session, *, user_id: int, client_id: str, ended_at: dt.datetime
) -> dict[str, Any]:
    """Close the patrol (a second end keeps the first time)."""
    session.execute(
        text(
            "UPDATE patrol SET ended_at = coalesce(ended_at, :at)"
            " WHERE user_id = :u AND client_id = :c"
        ),
        {"u": user_id, "c": client_id, "at": ended_at},
    )
    return get_patrol(session, user_id=user_id, client_id=client_id)


def my_patrols_today(session: Session, *, user_id: int) -> list[dict[str, Any]]:
    rows = session.execute(
        text(
            f"SELECT {_COLUMNS} FROM patrol WHERE user_id = :u AND started_at >= {CHINA_DAY}"
            " ORDER BY started_at"
        ),
        {"u": user_id},
    ).all()
    return [_out(r) for r in rows]


def live_patrols(session: Session, *, jurisdiction: Jurisdiction) -> list[dict[str, Any]]:
    """Workers on patrol now (open, with a recent fix) that the jurisdiction sees."""
    # The rule in the statement, before its LIMIT: filtered after it, a township's
    # supervisor could be shown none of its own among a busy county's newest rows.
    where, params = jurisdiction.field_sql("x")
    rows = session.execute(
        text(
            f"""
            SELECT {_COLUMNS} FROM patrol x
            WHERE ended_at IS NULL AND last_fix_at > now() - make_interval(secs => :h * 3600)
              AND {where}
            ORDER BY last_fix_at DESC LIMIT 2000
            """
        ),
        {"h": LIVE_HOURS, **params},
    ).all()
    return [_out(r) for r in rows]


@dataclass(frozen=True, slots=True)
class FieldWork:
    """One kind of field work (`patrol`, `visit`): its table (aliased `x`), the columns
    read, the moment it is dated by, and a row as answered."""

    table: str
    columns: str
    moment: str
    out: Callable[[Any], dict[str, Any]]

    def since(
        self,
        session: Session,
        *,
        jurisdiction: Jurisdiction,
        since: dt.datetime,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """Its rows whose moment is at or after `since` in the jurisdiction, newest first:
        the rule in the statement, before its LIMIT."""
        where, params = jurisdiction.field_sql("x")
        rows = session.execute(
            text(
                f"SELECT {self.columns} FROM {self.table} x"
                f" WHERE x.{self.moment} >= :since AND {where}"
                f" ORDER BY x.{self.moment} DESC LIMIT :limit"
            ),
            {"since": since, "limit": limit, **params},
        )
        return [self.out(r) for r in rows]


# Patrols started since a moment that a jurisdiction sees, newest first.
PATROLS = FieldWork("patrol", _COLUMNS, "started_at", _out)
patrols_in = PATROLS.since


def day_summary(session: Session, *, user_id: int) -> dict[str, Any]:
    """Today's patrols of one worker against 一日双巡."""
    done = my_patrols_today(session, user_id=user_id)
    return {
        "patrols_done": len(done),
        "patrols_required": DAILY_PATROLS,
        "patrol_distance_m": round(sum(p["distance_m"] for p in done), 1),
        "patrol_minutes": round(sum(p["duration_s"] for p in done) / 60),
    }
