"""HTTP doors to the assessment (考核): figures, the daily series, the events behind a
figure, and the definitions. Every figure is `gridmap.events.stats`'s, scoped to the caller."""

from __future__ import annotations

import datetime as dt
import html
import os
import tempfile
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Response
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, StreamingResponse
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask

from api.auth import PrincipalDep
from api.deps import ContextDep
from api.deps import ReadSessionDep as SessionDep  # may read from the replica
from gridmap.access import Principal
from gridmap.errors import InvalidInput
from gridmap.events import ledgers, stats
from gridmap.events import queries as event_queries
from gridmap.models import Event
from web_map.i18n import labels, stats_labels
from web_map.stats_page import build_stats_page, build_weekly_report

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
    rows = stats.served_rows(found["groups"])
    return {
        "by": groups[0],
        "since": since,
        "period": chosen.to_dict(),
        "previous_period": previous.to_dict() if previous else None,
        "area": area,
        "total": found["total"].to_dict(),
        # `rows`: the first grouping's (the older form of this answer).
        "rows": rows[groups[0]],
        "groups": rows,
        "field": _field_definitions(),
    }


def _field_definitions() -> dict[str, dict[str, str]]:
    return {
        f.name: {"zh": f.zh, "en": f.en, "definition": f.definition} for f in stats.FIELD_FIGURES
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
    rows = event_queries.events_with_team_names(session, ids=ids)
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
        "field": _field_definitions(),
        "daily_patrols": stats.DAILY_PATROLS,
        "working_days": stats.WORKING_DAYS,
    }


# --- the page, the ledgers and the weekly report ------------------------------------------

pages = APIRouter(tags=["assessment"])
LangQuery = Annotated[str | None, Query(description="zh (default) or en")]
HTML_MAX_ROWS = 10_000


def _default_by(principal: Principal) -> str:
    """A county-wide viewer ranks townships; a township's or community's, its grids."""
    j = principal.jurisdiction
    return "township" if j.everywhere or j.county_codes else "grid"


@pages.get("/stats", response_class=HTMLResponse, summary="The assessment page (考核)")
def stats_page(ctx: ContextDep, principal: PrincipalDep, lang: LangQuery = None) -> HTMLResponse:
    page = build_stats_page(
        lang=lang or ctx.settings.default_lang,
        default_by=_default_by(principal),
        tile_url=ctx.settings.tile_url,
    )
    return HTMLResponse(page, headers={"Cache-Control": "no-cache"})


@router.get(
    "/ledgers/{kind}",
    summary="A ledger (台账) generated from the data: events, assessment, return_visits, "
    "patrols, visits, or the weekly report (weekly)",
    response_model=None,
)
def get_ledger(
    kind: str,
    ctx: ContextDep,
    session: SessionDep,
    principal: PrincipalDep,
    f: Annotated[str, Query(description="xlsx | csv | html | json")] = "xlsx",
    period: PeriodQuery = "week",
    date_from: FromQuery = None,
    date_to: ToQuery = None,
    area: AreaQuery = None,
    by: Annotated[str, Query(description="the assessment table's unit")] = "",
    lang: LangQuery = None,
) -> Response:
    language = lang or ctx.settings.default_lang
    stats_labels(language)  # an unknown language is refused
    chosen = period_of(period, date_from, date_to)
    unit = by or _default_by(principal)
    if kind == "weekly":
        return HTMLResponse(
            _weekly(session, principal, chosen, area=area, by=unit, lang=language),
            headers={"Cache-Control": "no-cache"},
        )
    if f not in ledgers.FORMATS:
        raise InvalidInput(
            f"f: must be one of {', '.join(ledgers.FORMATS)}", details={"field": "f", "value": f}
        )
    ledger = ledgers.build_ledger(
        session,
        kind=kind,
        period=chosen,
        area=area,
        by=unit,
        scope=principal.jurisdiction,
        lang=language,
    )
    span = chosen.to_dict()
    stem = f"{ledger.title(language)}_{span['from'] or 'all'}_{span['to'] or ''}".rstrip("_")
    if area:
        stem += f"_{area}"
    if f == "json":
        return JSONResponse({"kind": kind, "period": span, "rows": ledgers.json_rows(ledger)})
    if f == "csv":
        return StreamingResponse(
            iter(list(ledgers.csv_lines(ledger, lang=language))),
            media_type="text/csv; charset=utf-8",
            headers=_attachment(f"{stem}.csv"),
        )
    if f == "html":
        return HTMLResponse(_ledger_html(ledger, language, span))
    fd, name = tempfile.mkstemp(suffix=".xlsx", prefix="gridmap-ledger-")
    os.close(fd)
    try:
        ledgers.write_xlsx(ledger, name, lang=language)
    except BaseException:
        os.unlink(name)
        raise
    return FileResponse(
        name,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers=_attachment(f"{stem}.xlsx"),
        background=BackgroundTask(os.unlink, name),
    )


def _attachment(filename: str) -> dict[str, str]:
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_")
    return {
        "Content-Disposition": f'attachment; filename="{ascii_name}"; '
        f"filename*=UTF-8''{quote(filename)}"
    }


def _ledger_html(ledger: ledgers.Ledger, lang: str, span: dict[str, Any]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ledger.header(lang))
    lines = []
    for i, row in enumerate(ledger.rows):
        if i >= HTML_MAX_ROWS:
            lines.append(
                f'<tr><td colspan="{len(ledger.columns)}">… (XLSX / CSV: every row)</td></tr>'
            )
            break
        cells = "".join(
            f"<td>{html.escape(ledgers._plain(v, c.kind))}</td>"
            for v, c in zip(row, ledger.columns, strict=True)
        )
        lines.append(f"<tr>{cells}</tr>")
    title = html.escape(ledger.title(lang))
    return (
        f'<!DOCTYPE html><html lang="{"zh-CN" if lang == "zh" else "en"}"><head>'
        f'<meta charset="utf-8"><title>{title}</title>'
        '<link rel="stylesheet" href="/static/css/stats.css"></head>'
        f'<body class="rp-body"><h1>{title}</h1>'
        f'<p class="rp-sub">{span["from"] or ""} – {span["to"] or ""}</p>'
        f'<table class="rp-table"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(lines)}</tbody></table></body></html>"
    )


def _weekly(
    session: Session,
    principal: Principal,
    period: stats.Period,
    *,
    area: str | None,
    by: str,
    lang: str,
    title: str | None = None,
) -> str:
    t = stats_labels(lang)
    scope = principal.jurisdiction
    found = stats.assess(session, by=[by], period=period, area=area, scope=scope)
    rows = [r.to_dict() for r in found["groups"][by] if r.key is not None]
    rows.sort(
        key=lambda r: (
            -(r["on_time_rate"] if r["on_time_rate"] is not None else -1),
            r["overdue_rate"] if r["overdue_rate"] is not None else 2,
            -r["received"],
        )
    )
    points = []
    if period.start is not None and period.end is not None:
        points = [
            p.to_dict()
            for p in stats.series(session, by=None, period=period, area=area, scope=scope)
        ]
    oldest = event_queries.oldest_open(session, area=area, scope=scope)
    place = ""
    j = principal.jurisdiction
    if area is None and not j.everywhere and not j.county_codes and len(j.township_codes) == 1:
        area = next(iter(j.township_codes))  # a township's own report carries its name
    if area:
        place = event_queries.current_area_name(session, code=area) or area
    span = period.to_dict()
    status_names = labels(lang)
    return build_weekly_report(
        lang=lang,
        title=(
            (title or t["weekly_title"])
            if not place
            else f"{place}{title or t['weekly_title']}"
            if lang == "zh"
            else f"{title or t['weekly_title']} {place}"
        ),
        period_text=f"{span['from'] or ''} – {span['to'] or ''}",
        generated=dt.datetime.now(stats.CHINA_TZ).strftime("%Y-%m-%d %H:%M"),
        total=found["total"].to_dict(),
        ranking=rows,
        ranking_by=stats.GROUP_LABELS[by][0 if lang == "zh" else 1],
        series=points,
        oldest_open=[
            {
                **dict(r),
                "status": status_names.get(f"status_{r['status']}", r["status"]),
                "received_at": r["received_at"]
                .astimezone(stats.CHINA_TZ)
                .strftime("%Y-%m-%d %H:%M"),
            }
            for r in oldest
        ],
    )
