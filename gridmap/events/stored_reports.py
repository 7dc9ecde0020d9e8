"""The reports the service produces on its own and keeps (`stats_report`): the daily (日报)
and weekly (周报) assessment reports of each county and township, stored as the printable
HTML they were rendered as, once per kind, area and first day, never changed afterwards.

Who may read one: a report shows every figure of its whole area, so a jurisdiction reads
the reports of the areas it holds whole — a county's viewer its county's and its
townships', a township's viewer its township's; anyone scoped below a township none.
(`api/reports.py` renders them on a schedule and serves them.)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, select, true
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from gridmap.access import Jurisdiction
from gridmap.models import Area, BoundaryVersion, StatsReport


@dataclass(frozen=True)
class ReportArea:
    """A county or township of the published boundaries: what gets a report."""

    code: str
    name: str
    layer: str  # county | township
    county_code: str


def report_areas(session: Session) -> list[ReportArea]:
    """Every county and township of the published boundaries (an area published earlier
    lives on unchanged in later versions; a draft's areas are not published)."""
    rows = session.execute(
        select(Area.code, Area.name, Area.layer, Area.county_code)
        .join(BoundaryVersion, BoundaryVersion.id == Area.valid_from)
        .where(
            Area.layer.in_(("county", "township")),
            Area.valid_to.is_(None),
            BoundaryVersion.status.in_(("active", "retired")),
        )
        # One current row per county, layer and code (uq_area_current_code), and these
        # codes are national division codes: no two rows of one code.
        .order_by(Area.code)
    ).all()
    return [ReportArea(r.code, r.name, r.layer, r.county_code or r.code) for r in rows]


def reported_areas(session: Session, *, kind: str, first_day: dt.date) -> set[str]:
    """The areas that have their `kind` report for the period beginning `first_day`."""
    return set(
        session.scalars(
            select(StatsReport.area_code).where(
                StatsReport.kind == kind, StatsReport.period_from == first_day
            )
        )
    )


def store_report(
    session: Session,
    *,
    kind: str,
    area: ReportArea,
    first_day: dt.date,
    last_day: dt.date,
    html: str,
) -> int | None:
    """Keep a rendered report; its id, or None when that report exists already (made once:
    the first one stands)."""
    return session.execute(
        insert(StatsReport)
        .values(
            kind=kind,
            county_code=area.county_code,
            area_layer=area.layer,
            area_code=area.code,
            area_name=area.name,
            period_from=first_day,
            period_to=last_day,
            html=html,
        )
        .on_conflict_do_nothing()
        .returning(StatsReport.id)
    ).scalar_one_or_none()


def _readable(j: Jurisdiction) -> ColumnElement[bool]:
    """The reports `j` may read (the module's rule): the areas it holds whole."""
    if j.everywhere:
        return true()
    terms: list[ColumnElement[bool]] = []
    if j.county_codes:
        terms.append(StatsReport.county_code.in_(sorted(j.county_codes)))
    if j.township_codes:
        terms.append(
            and_(
                StatsReport.area_layer == "township",
                StatsReport.area_code.in_(sorted(j.township_codes)),
            )
        )
    return or_(*terms) if terms else false()


def list_reports(
    session: Session, *, jurisdiction: Jurisdiction, kind: str | None, limit: int
) -> list[dict[str, Any]]:
    """The reports `jurisdiction` may read, newest period first (without their HTML)."""
    query = select(
        StatsReport.id,
        StatsReport.kind,
        StatsReport.county_code,
        StatsReport.area_layer,
        StatsReport.area_code,
        StatsReport.area_name,
        StatsReport.period_from,
        StatsReport.period_to,
        StatsReport.created_at,
    ).where(_readable(jurisdiction))
    if kind is not None:
        query = query.where(StatsReport.kind == kind)
    query = query.order_by(
        StatsReport.period_from.desc(), StatsReport.kind, StatsReport.area_code
    ).limit(limit)
    return [dict(r) for r in session.execute(query).mappings()]


def read_report(
    session: Session, *, jurisdiction: Jurisdiction, report_id: int
) -> StatsReport | None:
    """One report, or None when there is none of that id or `jurisdiction` may not read it
    (the same answer: a report outside the caller's areas is not said to exist)."""
    return session.scalars(
        select(StatsReport).where(StatsReport.id == report_id, _readable(jurisdiction))
    ).first()
