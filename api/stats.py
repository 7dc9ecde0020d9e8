"""HTTP doors to the assessment (考核): figures, the daily series, the events behind a
figure, and the definitions. Every figure is `gridmap.stats`'s, scoped to the caller."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from api.auth import PrincipalDep
from api.deps import SessionDep
from gridmap import stats
from gridmap.models import Event, Team

router = APIRouter(prefix="/api", tags=["assessment"])

ByQuery = Annotated[
    list[str] | None,
    Query(description="grouping(s): " + " | ".join(stats.GROUPS) + "; repeat for several"),
]
PeriodQuery = Annotated[
    str | None,
    Query(description=" | ".join(stats.PERIODS) + " (local days, UTC+8); default all"),
]
FromQuery = Annotated[dt.date | None, Query(alias="from", description="custom: first day")]
ToQuery = Annotated[dt.date | None, Query(alias="to", description="custom: last day")]
AreaQuery = Annotated[
    str | None, Query(max_length=40, description="a township, community, grid or county code")
]


def period_of(
    period: str | None, date_from: dt.date | None, date_to: dt.date | None
) -> stats.Period:
    return stats.resolve_period(period=period, date_from=date_from, date_to=date_to)


@router.get(
    "/stats",
    summary="The assessment: counts, rates, response and handling times, satisfaction",
)
def get_stats(
    session: SessionDep,
    principal: PrincipalDep,
    by: ByQuery = None,
    period: PeriodQuery = None,
    date_from: FromQuery = None,
    date_to: ToQuery = None,
    area: AreaQuery = None,
    compare: Annotated[bool, Query(description="with the previous period beside")] = False,
    since: Annotated[dt.datetime | None, Query(description="received since (older form)")] = None,
    county: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    groups = by or ["township"]
    if since is not None and period is None and date_from is None and date_to is None:
        chosen = stats.Period("since", since, None)
    else:
        chosen = period_of(period, date_from, date_to)
    found = stats.assess(
        session,
        by=groups,
        period=chosen,
        area=area,
        county_code=county,
        scope=principal.jurisdiction,
        compare=compare,
    )
    previous = chosen.previous() if compare else None
    return {
        "by": groups[0],
        "since": since,
        "period": chosen.to_dict(),
        "previous_period": previous.to_dict() if previous else None,
        "area": area,
        "total": found["total"].to_dict(),
        # `rows`: the first grouping's (the older form of this answer).
        "rows": [f.to_dict() for f in found["groups"][groups[0]]],
        "groups": {b: [f.to_dict() for f in rows] for b, rows in found["groups"].items()},
        "no_data": {k: {"zh": zh, "en": en} for k, (zh, en) in stats.NO_DATA_YET.items()},
    }


@router.get("/stats/series", summary="The counts and rates per day of receipt")
def get_series(
    session: SessionDep,
    principal: PrincipalDep,
    by: Annotated[str | None, Query(description=" | ".join(stats.GROUPS))] = None,
    interval: Annotated[str, Query(description="day")] = "day",
    period: PeriodQuery = "month",
    date_from: FromQuery = None,
    date_to: ToQuery = None,
    area: AreaQuery = None,
    county: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    chosen = period_of(period, date_from, date_to)
    points = stats.series(
        session,
        by=by,
        period=chosen,
        area=area,
        county_code=county,
        scope=principal.jurisdiction,
        interval=interval,
    )
    return {
        "by": by,
        "interval": interval,
        "period": chosen.to_dict(),
        "points": [p.to_dict() for p in points],
    }


@router.get("/stats/events", summary="The events behind one figure (a drill-down)")
def get_figure_events(
    session: SessionDep,
    principal: PrincipalDep,
    figure: Annotated[str, Query(description=" | ".join(stats.COUNT_BY_NAME))] = "received",
    by: Annotated[str | None, Query(description=" | ".join(stats.GROUPS))] = None,
    key: Annotated[str | None, Query(max_length=60, description="the unit's key")] = None,
    period: PeriodQuery = None,
    date_from: FromQuery = None,
    date_to: ToQuery = None,
    area: AreaQuery = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> dict[str, Any]:
    chosen = period_of(period, date_from, date_to)
    ids, total = stats.figure_events(
        session,
        figure=figure,
        period=chosen,
        by=by,
        key=key,
        area=area,
        scope=principal.jurisdiction,
        limit=limit,
    )
    rows = session.execute(
        select(Event, Team.name)
        .outerjoin(Team, Team.id == Event.team_id)
        .where(Event.id.in_(ids))
        .order_by(Event.id.desc())
    ).all()
    return {
        "figure": figure,
        "by": by,
        "key": key,
        "period": chosen.to_dict(),
        "count": total,
        "events": [_event_line(e, team) for e, team in rows],
    }


def _event_line(e: Event, team: str | None) -> dict[str, Any]:
    def iso(v: dt.datetime | None) -> str | None:
        return v.isoformat() if v else None

    return {
        "id": e.id,
        "category_code": e.category_code,
        "priority": e.priority,
        "status": e.status,
        "description": e.description[:200],
        "address": e.address,
        "grid_code": e.grid_code,
        "community_code": e.community_code,
        "township_code": e.township_code,
        "team": team,
        "received_at": iso(e.received_at),
        "assigned_at": iso(e.assigned_at),
        "responded_at": iso(e.responded_at),
        "response_due_at": iso(e.response_due_at),
        "due_at": iso(e.due_at),
        "closed_at": iso(e.closed_at),
        "overdue": e.overdue,
        "satisfaction": e.satisfaction,
    }


@router.get("/stats/definitions", summary="What every figure counts (docs/assessment.md)")
def get_definitions() -> dict[str, Any]:
    return {
        "counts": [
            {"name": c.name, "zh": c.zh, "en": c.en, "definition": c.definition}
            for c in stats.COUNTS
        ],
        "durations": [
            {"name": d.name, "zh": d.zh, "en": d.en, "definition": d.definition}
            for d in stats.DURATIONS
        ],
        "percentiles": stats.PERCENTILES,
        "rates": [
            {
                "name": r.name,
                "zh": r.zh,
                "en": r.en,
                "numerator": r.numerator,
                "denominator": r.denominator,
                "definition": r.definition,
            }
            for r in stats.RATES
        ],
        "groups": {k: {"zh": zh, "en": en} for k, (zh, en) in stats.GROUP_LABELS.items()},
        "no_data": {k: {"zh": zh, "en": en} for k, (zh, en) in stats.NO_DATA_YET.items()},
    }
