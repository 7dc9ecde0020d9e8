"""Event statistics per grid, community, township or team: the command center's ledger (台账).

One GROUP BY in PostGIS, so the numbers are the database's, not a page's guess.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gridmap import workflow as wf
from gridmap.errors import InvalidInput
from gridmap.permissions import Jurisdiction

# What a statistic may be grouped by → the SQL expression of the group key.
GROUPS = {
    "grid": "e.grid_code",
    "community": "e.community_code",
    "township": "e.township_code",
    "team": "t.code",
}


@dataclass(frozen=True, slots=True)
class StatRow:
    key: str | None  # None: events not (yet) placed / assigned
    name: str | None
    received: int
    open: int
    overdue: int  # ever marked overdue (the assessed rate), closed late included
    open_overdue: int  # still open and past a deadline: what needs attention now
    closed: int
    closed_on_time: int
    merged: int
    mean_handling_hours: float | None
    satisfaction: float | None
    visits: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "received": self.received,
            "open": self.open,
            "overdue": self.overdue,
            "open_overdue": self.open_overdue,
            "closed": self.closed,
            "closed_on_time": self.closed_on_time,
            "merged": self.merged,
            "mean_handling_hours": (
                round(self.mean_handling_hours, 2) if self.mean_handling_hours is not None else None
            ),
            "satisfaction": round(self.satisfaction, 2) if self.satisfaction is not None else None,
            "visits": self.visits,
        }


def event_stats(
    session: Session,
    *,
    by: str,
    since: dt.datetime | None = None,
    county_code: str | None = None,
    scope: Jurisdiction | None = None,
) -> list[StatRow]:
    """Received, open, overdue, closed on time, mean handling time and satisfaction per group.

    Closed means closed at some point (closed or archived). On time: closed no later than
    the handling deadline. Handling time runs from receipt to close. Merged duplicates
    count as received but not as open.
    """
    try:
        key = GROUPS[by]
    except KeyError:
        raise InvalidInput(
            f"by: must be one of {', '.join(GROUPS)}", details={"field": "by", "value": by}
        ) from None
    team_name = "max(t.name)" if by == "team" else "NULL"
    # A caller's jurisdiction, applied in the query (bound parameters, no string values).
    scope_sql, scope_params = scope.event_sql("e") if scope is not None else ("TRUE", {})
    open_states = ", ".join(f"'{s}'" for s in sorted(wf.OPEN_STATES))
    sql = f"""
        SELECT {key} AS key,
               {team_name} AS team_name,
               count(*) AS received,
               count(*) FILTER (WHERE e.status IN ({open_states})) AS open,
               count(*) FILTER (WHERE e.overdue) AS overdue,
               count(*) FILTER (WHERE e.overdue AND e.status IN ({open_states}))
                   AS open_overdue,
               count(*) FILTER (WHERE e.closed_at IS NOT NULL) AS closed,
               count(*) FILTER (WHERE e.closed_at IS NOT NULL
                                AND (e.due_at IS NULL OR e.closed_at <= e.due_at))
                   AS closed_on_time,
               count(*) FILTER (WHERE e.status = 'merged') AS merged,
               avg(extract(epoch FROM e.closed_at - e.received_at) / 3600.0)
                   FILTER (WHERE e.closed_at IS NOT NULL) AS mean_handling_hours,
               avg(e.satisfaction) AS satisfaction,
               count(e.satisfaction) AS visits
        FROM event e
        LEFT JOIN team t ON t.id = e.team_id
        WHERE (CAST(:since AS timestamptz) IS NULL OR e.received_at >= :since)
          AND (CAST(:county AS text) IS NULL OR e.county_code = :county)
          AND {scope_sql}
        GROUP BY {key}
        ORDER BY {key} NULLS LAST
    """
    params = {"since": since, "county": county_code, **scope_params}
    rows = session.execute(text(sql), params).mappings().all()
    names = _area_names(session, by=by, codes=[r["key"] for r in rows if r["key"]])
    return [
        StatRow(
            key=r["key"],
            name=r["team_name"] if by == "team" else names.get(r["key"]),
            received=r["received"],
            open=r["open"],
            overdue=r["overdue"],
            open_overdue=r["open_overdue"],
            closed=r["closed"],
            closed_on_time=r["closed_on_time"],
            merged=r["merged"],
            mean_handling_hours=(
                float(r["mean_handling_hours"]) if r["mean_handling_hours"] is not None else None
            ),
            satisfaction=float(r["satisfaction"]) if r["satisfaction"] is not None else None,
            visits=r["visits"],
        )
        for r in rows
    ]


def _area_names(session: Session, *, by: str, codes: list[str]) -> dict[str, str]:
    if by == "team" or not codes:
        return {}
    # Names from the areas current now: codes never change meaning once issued.
    rows = session.execute(
        text(
            "SELECT code, name FROM area WHERE layer = :layer AND code = ANY(:codes) "
            "AND valid_to IS NULL"
        ),
        {"layer": by, "codes": codes},
    ).all()
    return {code: name for code, name in rows}
