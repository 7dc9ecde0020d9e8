"""Reports produced by the service on its own and kept for download (issue #21 item 3).

Every worker of `gridmap serve` runs a `ReportJob`; each run takes a PostgreSQL advisory
lock (`gridmap.periodic.take_turn`), so one process anywhere does the work, and renders
what is missing: yesterday's daily report (日报) and last week's weekly report (周报) of each
county and each of its townships, with the same builder as the weekly report a person
opens (`api.stats._weekly`), stored in `stats_report`. A report is made once (unique per
kind, area and first day) and never changes afterwards: it is what the figures said when
the period had just ended.

`GET /api/reports` lists them and `GET /api/reports/{id}` serves one, in the caller's
jurisdiction: a county's viewer sees its county's and its townships' reports, a
township's viewer its township's; anyone scoped below a township sees none (a township's
report shows every grid of it).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.auth import PrincipalDep
from api.deps import SessionDep
from api.stats import _weekly
from gridmap.access import Jurisdiction, Principal
from gridmap.errors import InvalidInput, NotFound
from gridmap.events import stats, stored_reports
from gridmap.periodic import PeriodicJob, take_turn

log = logging.getLogger("gridmap.reports")
router = APIRouter(prefix="/api", tags=["assessment"])

LOCK_KEY = "gridmap.stats_reports"
KINDS = {
    # kind: (the period it covers, its title in Chinese and English)
    "daily": ("yesterday", "网格化管理日报", "Grid management daily report"),
    "weekly": ("last_week", "网格化管理周报", "Grid management weekly report"),
}
DEFAULT_INTERVAL_S = 600.0


def produce_reports(session: Session, *, now: dt.datetime, lang: str = "zh") -> list[int]:
    """Render and store the reports missing for the periods just ended at `now`; the new
    reports' ids ([] when another process holds the lock: it is doing this). Commits."""
    if not take_turn(session, LOCK_KEY):
        return []
    made: list[int] = []
    for kind, (period_name, zh, en) in KINDS.items():
        period = stats.resolve_period(period=period_name, now=now)
        assert period.first_day is not None and period.last_day is not None
        have = stored_reports.reported_areas(session, kind=kind, first_day=period.first_day)
        for area in stored_reports.report_areas(session):
            if area.code in have:
                continue
            township = area.layer == "township"
            scope = (
                Jurisdiction(township_codes=frozenset({area.code}))
                if township
                else Jurisdiction(county_codes=frozenset({area.county_code}))
            )
            principal = Principal(
                kind="system", id=None, name="report job", role="supervisor", jurisdiction=scope
            )
            page = _weekly(
                session,
                principal,
                period,
                area=area.code,
                by="grid" if township else "township",
                lang=lang,
                title=zh if lang == "zh" else en,
            )
            made_id = stored_reports.store_report(
                session,
                kind=kind,
                area=area,
                first_day=period.first_day,
                last_day=period.last_day,
                html=page,
            )
            if made_id is not None:
                made.append(made_id)
    session.commit()
    return made


class ReportJob(PeriodicJob):
    def __init__(self, engine: Engine, *, interval_s: float, lang: str) -> None:
        def run() -> None:
            with Session(engine) as session:
                made = produce_reports(session, now=dt.datetime.now(dt.UTC), lang=lang)
            if made:
                log.info("made %d reports", len(made))

        super().__init__(
            name="report job", interval_s=interval_s, run=run, setting="GRIDMAP_REPORT_SECONDS"
        )


def start_report_job(engine: Engine, *, lang: str) -> ReportJob | None:
    """Every GRIDMAP_REPORT_SECONDS (default 600; 0 turns it off)."""
    interval = float(os.environ.get("GRIDMAP_REPORT_SECONDS", DEFAULT_INTERVAL_S))
    if interval <= 0:
        return None
    job = ReportJob(engine, interval_s=interval, lang=lang)
    job.start()
    return job


@router.get("/reports", summary="The daily and weekly reports the service made, to download")
def list_reports(
    session: SessionDep,
    principal: PrincipalDep,
    kind: Annotated[str | None, Query(description="daily | weekly")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    if kind is not None and kind not in KINDS:
        raise InvalidInput(
            f"kind: must be one of {', '.join(KINDS)}", details={"field": "kind", "value": kind}
        )
    rows = stored_reports.list_reports(
        session, jurisdiction=principal.jurisdiction, kind=kind, limit=limit
    )
    return {
        "reports": [
            {
                **{
                    k: v
                    for k, v in r.items()
                    if k not in ("period_from", "period_to", "created_at")
                },
                "from": r["period_from"].isoformat(),
                "to": r["period_to"].isoformat(),
                "created_at": r["created_at"].isoformat(),
                "url": f"/api/reports/{r['id']}",
            }
            for r in rows
        ]
    }


@router.get("/reports/{report_id}", summary="One stored report (printable HTML)")
def get_report(
    report_id: int,
    session: SessionDep,
    principal: PrincipalDep,
    download: bool = False,
) -> HTMLResponse:
    row = stored_reports.read_report(
        session, jurisdiction=principal.jurisdiction, report_id=report_id
    )
    if row is None:  # absent or outside the caller's jurisdiction: the same answer
        raise NotFound(f"no report {report_id}", details={"report": report_id})
    headers = {"Cache-Control": "private, max-age=3600"}
    if download:
        headers["Content-Disposition"] = (
            f'attachment; filename="report-{row.kind}-{row.area_code}-{row.period_from}.html"'
        )
    return HTMLResponse(row.html, headers=headers)
