"""Ledgers (台账) generated from the data, never typed: the event ledger (事件台账), the
assessment table (考核表), the return-visit ledger (回访台账), and the patrol (巡查台账) and
household visit (走访台账) ledgers from what the grid workers' phones recorded.

A ledger is a header and rows read in the caller's jurisdiction (`Jurisdiction.event_sql`,
in the query). Rows are streamed from PostgreSQL (a server-side cursor) and written as
they come: XLSX through `gridmap.xlsx_stream` (a batch of rows in memory at a time), CSV
line by line. Dates are written as dates (local time, UTC+8).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gridmap import xlsx_stream
from gridmap.access.permissions import Jurisdiction
from gridmap.errors import InvalidInput
from gridmap.events import stats

KINDS = ("events", "assessment", "return_visits", "patrols", "visits")
FORMATS = ("xlsx", "csv", "html", "json")
# Column kinds: how a value is written (and how wide its column is in XLSX).
TEXT, INT, NUM, RATE, TIME = (
    xlsx_stream.TEXT,
    xlsx_stream.INT,
    xlsx_stream.NUM,
    xlsx_stream.RATE,
    xlsx_stream.TIME,
)


@dataclass(frozen=True, slots=True)
class Column:
    name: str  # the key in JSON
    zh: str
    en: str
    kind: str = TEXT
    width: int = 12


@dataclass(frozen=True, slots=True)
class Ledger:
    kind: str
    title_zh: str
    title_en: str
    columns: tuple[Column, ...]
    rows: Iterable[tuple[Any, ...]]

    def title(self, lang: str) -> str:
        return self.title_zh if lang == "zh" else self.title_en

    def header(self, lang: str) -> list[str]:
        return [c.zh if lang == "zh" else c.en for c in self.columns]


EVENT_COLUMNS: tuple[Column, ...] = (
    Column("id", "事件编号", "event", INT, 10),
    Column("source", "来源", "source", TEXT, 10),
    Column("external_id", "工单号", "ticket", TEXT, 16),
    Column("category", "类别", "category", TEXT, 14),
    Column("priority", "哨别", "priority", TEXT, 10),
    Column("status", "状态", "status", TEXT, 12),
    Column("description", "事件描述", "description", TEXT, 36),
    Column("address", "地址", "address", TEXT, 24),
    Column("township", "乡镇（街道）", "township", TEXT, 14),
    Column("community", "社区", "community", TEXT, 14),
    Column("grid", "网格", "grid", TEXT, 18),
    Column("team", "处置队伍", "team", TEXT, 18),
    Column("department", "职能部门", "department", TEXT, 14),
    Column("level", "办理层级", "level", TEXT, 10),
    Column("received_at", "受理时间", "received", TIME, 17),
    Column("assigned_at", "指派时间", "assigned", TIME, 17),
    Column("responded_at", "响应时间", "responded", TIME, 17),
    Column("response_due_at", "响应时限", "response due", TIME, 17),
    Column("due_at", "办结时限", "handling due", TIME, 17),
    Column("closed_at", "办结时间", "closed", TIME, 17),
    Column("response_hours", "响应用时（小时）", "response hours", NUM, 10),
    Column("handling_hours", "办理用时（小时）", "handling hours", NUM, 10),
    Column("on_time", "按期办结", "closed on time", TEXT, 9),
    Column("overdue", "超期", "overdue", TEXT, 7),
    Column("returned", "退回次数", "returns", INT, 8),
    Column("reopened", "重办次数", "reopened", INT, 8),
    Column("duplicate_of", "合并至", "merged into", INT, 9),
    Column("satisfaction", "满意度", "satisfaction", INT, 8),
)

_EVENT_SQL = """
    SELECT e.id, e.source, e.external_id, coalesce(c.name, e.category_code), e.priority,
           e.status, left(e.description, 500), e.address,
           tw.name, cm.name, coalesce(gr.name, e.grid_code), t.name, d.name,
           e.escalation_level,
           e.received_at, e.assigned_at, e.responded_at, e.response_due_at, e.due_at,
           e.closed_at,
           round((extract(epoch FROM e.responded_at - e.received_at) / 3600.0)::numeric, 2)::float8,
           round((extract(epoch FROM e.closed_at - e.assigned_at) / 3600.0)::numeric, 2)::float8,
           CASE WHEN e.closed_at IS NULL THEN NULL
                WHEN {on_time} THEN 'Y' ELSE 'N' END,
           CASE WHEN e.overdue THEN 'Y' END,
           e.returned_count, e.reopened_count, e.duplicate_of, e.satisfaction
    FROM event e
    LEFT JOIN category c ON c.county_code = e.county_code AND c.code = e.category_code
    LEFT JOIN area tw ON tw.layer = 'township' AND tw.code = e.township_code
                     AND tw.valid_to IS NULL
    LEFT JOIN area cm ON cm.layer = 'community' AND cm.code = e.community_code
                     AND cm.valid_to IS NULL
    LEFT JOIN area gr ON gr.layer = 'grid' AND gr.code = e.grid_code AND gr.valid_to IS NULL
    LEFT JOIN team t ON t.id = e.team_id
    LEFT JOIN department d ON d.county_code = e.county_code AND d.code = e.department_code
    WHERE {where} {extra}
    ORDER BY e.received_at, e.id
"""

VISIT_COLUMNS: tuple[Column, ...] = (
    Column("id", "事件编号", "event", INT, 10),
    Column("category", "类别", "category", TEXT, 14),
    Column("township", "乡镇（街道）", "township", TEXT, 14),
    Column("grid", "网格", "grid", TEXT, 18),
    Column("team", "处置队伍", "team", TEXT, 18),
    Column("received_at", "受理时间", "received", TIME, 17),
    Column("closed_at", "办结时间", "closed", TIME, 17),
    Column("visited_at", "回访时间", "visited", TIME, 17),
    Column("visited_by", "回访人", "visited by", TEXT, 16),
    Column("satisfaction", "满意度", "satisfaction", INT, 8),
    Column("note", "回访记录", "note", TEXT, 30),
)

_VISIT_SQL = """
    SELECT e.id, coalesce(c.name, e.category_code), tw.name, coalesce(gr.name, e.grid_code),
           t.name, e.received_at, e.closed_at, v.at, v.actor, e.satisfaction, v.note
    FROM event e
    JOIN LATERAL (SELECT l.at, l.actor, l.note FROM event_log l
                  WHERE l.event_id = e.id AND l.action = 'visit'
                  ORDER BY l.id DESC LIMIT 1) v ON TRUE
    LEFT JOIN category c ON c.county_code = e.county_code AND c.code = e.category_code
    LEFT JOIN area tw ON tw.layer = 'township' AND tw.code = e.township_code
                     AND tw.valid_to IS NULL
    LEFT JOIN area gr ON gr.layer = 'grid' AND gr.code = e.grid_code AND gr.valid_to IS NULL
    LEFT JOIN team t ON t.id = e.team_id
    WHERE {where} AND e.satisfaction IS NOT NULL
    ORDER BY v.at, e.id
"""

ASSESSMENT_FIGURES: tuple[Column, ...] = (
    Column("received", "受理", "received", INT, 8),
    Column("closed", "办结", "closed", INT, 8),
    Column("closed_on_time", "按期办结", "closed on time", INT, 9),
    Column("on_time_rate", "按期办结率", "on-time closure rate", RATE, 10),
    Column("overdue", "超期", "overdue", INT, 8),
    Column("overdue_rate", "超期率", "overdue rate", RATE, 9),
    Column("open_overdue", "超期在办", "overdue, open", INT, 9),
    Column("response_median_hours", "响应用时中位数", "response median h", NUM, 12),
    Column("response_p90_hours", "响应用时90分位", "response p90 h", NUM, 12),
    Column("handling_median_hours", "办理用时中位数", "handling median h", NUM, 12),
    Column("handling_p90_hours", "办理用时90分位", "handling p90 h", NUM, 12),
    Column("satisfaction", "满意度", "satisfaction", NUM, 8),
    Column("visit_rate", "回访率", "return-visit rate", RATE, 9),
    Column("returned_rate", "退回重办率", "returned rate", RATE, 10),
    Column("merged", "重复合并", "duplicates merged", INT, 9),
    Column("patrols", "巡查次数", "patrols", INT, 9),
    Column("patrols_required", "应巡次数（一日双巡）", "patrols due (twice a day)", INT, 12),
    Column("patrol_rate", "一日双巡达标率", "twice-a-day rate", RATE, 12),
    Column("patrol_km", "巡查里程（公里）", "patrol km", NUM, 11),
    Column("household_visits", "入户走访", "household visits", INT, 9),
)


def _check(kind: str) -> None:
    if kind not in KINDS:
        raise InvalidInput(
            f"ledger: must be one of {', '.join(KINDS)}", details={"field": "kind", "value": kind}
        )


def _stream(session: Session, sql: str, params: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
    result = session.execute(
        text(sql).execution_options(stream_results=True, yield_per=2000), params
    )
    for row in result:
        yield tuple(row)


def build_ledger(
    session: Session,
    *,
    kind: str,
    period: stats.Period,
    area: str | None = None,
    by: str = "grid",
    scope: Jurisdiction | None = None,
    lang: str = "zh",
) -> Ledger:
    """The ledger `kind` for a period and area in a jurisdiction; rows are read lazily
    (iterate them inside the session's lifetime)."""
    _check(kind)
    where, params = stats.event_filter(period=period, area=area, scope=scope)
    if kind == "events":
        on_time = stats.COUNT_BY_NAME["closed_on_time"].predicate
        sql = _EVENT_SQL.format(where=where, extra="", on_time=on_time)
        return Ledger(
            kind, "事件台账", "Event ledger", EVENT_COLUMNS, _stream(session, sql, params)
        )
    if kind == "return_visits":
        sql = _VISIT_SQL.format(where=where)
        return Ledger(
            kind, "回访台账", "Return-visit ledger", VISIT_COLUMNS, _stream(session, sql, params)
        )
    if kind == "assessment":
        found = stats.assess(session, by=[by], period=period, area=area, scope=scope)
        label = stats.GROUP_LABELS[by][0 if lang == "zh" else 1]
        columns = (
            Column("rank_unit", label, label, TEXT, 22),
            Column("key", "编码", "code", TEXT, 16),
            *ASSESSMENT_FIGURES,
        )
        rows: list[tuple[Any, ...]] = []
        everything = [*found["groups"][by], found["total"]]
        for f in everything:
            d = f.to_dict()
            name = d["name"] or d["key"] or ("（未定位/未分派）" if lang == "zh" else "(none)")
            if f is found["total"]:
                name = "合计" if lang == "zh" else "total"
            rows.append(
                (
                    name,
                    d["key"],
                    *(d.get(c.name) for c in ASSESSMENT_FIGURES),
                )
            )
        return Ledger(kind, "考核表", "Assessment table", columns, rows)
    # Patrols and household visits, as the phone recorded them (tables patrol, visit): the
    # same rows the assessment's field figures count (`stats.field_filter`).
    if kind == "patrols":
        where, params = stats.field_filter(
            "x", "started_at", period=period, area=area, county_code=None, scope=scope
        )
        sql = _PATROL_SQL.format(where=where)
        return Ledger(
            kind, "巡查台账", "Patrol ledger", PATROL_COLUMNS, _stream(session, sql, params)
        )
    where, params = stats.field_filter(
        "x", "visited_at", period=period, area=area, county_code=None, scope=scope
    )
    sql = _FIELD_VISIT_SQL.format(where=where)
    return Ledger(
        kind, "走访台账", "Visit ledger", FIELD_VISIT_COLUMNS, _stream(session, sql, params)
    )


# Who walked or visited, and where: the first columns of both field ledgers, read through
# the same joins (the walker's team, the township's and the grid's current names).
_FIELD_WHO_WHERE = (
    Column("worker", "网格员", "grid worker", TEXT, 14),
    Column("team", "处置队伍", "team", TEXT, 18),
    Column("township", "乡镇（街道）", "township", TEXT, 14),
    Column("grid", "网格", "grid", TEXT, 18),
    Column("grid_code", "网格编码", "grid code", TEXT, 18),
)
_FIELD_WHO_WHERE_SQL = """
    SELECT x.username, t.name, tw.name, gr.name, x.grid_code, {columns}
    FROM {table} x
    LEFT JOIN team t ON t.id = x.team_id
    LEFT JOIN area tw ON tw.layer = 'township' AND tw.code = x.township_code
                     AND tw.valid_to IS NULL
    LEFT JOIN area gr ON gr.layer = 'grid' AND gr.code = x.grid_code AND gr.valid_to IS NULL
    WHERE {{where}}
    ORDER BY x.{moment}, x.id
"""
PATROL_COLUMNS = (
    *_FIELD_WHO_WHERE,
    Column("started_at", "开始", "started", TIME, 17),
    Column("ended_at", "结束", "ended", TIME, 17),
    Column("minutes", "时长（分钟）", "minutes", INT, 10),
    Column("distance_km", "里程（公里）", "distance km", NUM, 10),
    Column("points", "轨迹点", "track points", INT, 8),
)
_PATROL_SQL = _FIELD_WHO_WHERE_SQL.format(
    table="patrol",
    moment="started_at",
    columns="""x.started_at, x.ended_at,
           round(extract(epoch FROM coalesce(x.ended_at, x.last_fix_at, x.started_at)
                                    - x.started_at) / 60.0)::int,
           round((x.distance_m / 1000.0)::numeric, 3)::float8, x.points""",
)
FIELD_VISIT_COLUMNS = (
    *_FIELD_WHO_WHERE,
    Column("building_code", "楼栋", "building", TEXT, 16),
    Column("kind", "走访类型", "kind", TEXT, 12),
    Column("note", "走访记录", "note", TEXT, 40),
    Column("visited_at", "走访时间", "visited", TIME, 17),
)
_FIELD_VISIT_SQL = _FIELD_WHO_WHERE_SQL.format(
    table="visit",
    moment="visited_at",
    columns="x.building_code, x.kind, x.note, x.visited_at",
)


def _local(value: dt.datetime) -> dt.datetime:
    """A moment as local (UTC+8) wall time without a zone: what a spreadsheet shows."""
    return value.astimezone(stats.CHINA_TZ).replace(tzinfo=None)


def write_xlsx(ledger: Ledger, target: str | Path | IO[bytes], *, lang: str = "zh") -> int:
    """Write the ledger as an XLSX workbook, streaming (constant memory); rows written.

    Chinese (or English) headers in a bold frozen row, the columns' widths, dates as
    dates in local time (UTC+8), an autofilter (`gridmap.xlsx_stream`)."""
    return xlsx_stream.write_sheet(
        target,
        title=ledger.title(lang),
        columns=[
            xlsx_stream.SheetColumn(h, c.kind, c.width)
            for h, c in zip(ledger.header(lang), ledger.columns, strict=True)
        ],
        rows=ledger.rows,
    )


def _plain(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return _local(value).strftime("%Y-%m-%d %H:%M")
    return str(value)


def csv_lines(ledger: Ledger, *, lang: str = "zh") -> Iterator[str]:
    """The ledger as CSV text, line by line, with a BOM so spreadsheet programs read UTF-8."""
    buf = io.StringIO()
    out = csv.writer(buf)
    kinds = [c.kind for c in ledger.columns]
    out.writerow(ledger.header(lang))
    yield "\ufeff" + buf.getvalue()
    for row in ledger.rows:
        buf.seek(0)
        buf.truncate()
        out.writerow([_plain(v, k) for v, k in zip(row, kinds, strict=True)])
        yield buf.getvalue()


def json_rows(ledger: Ledger) -> list[dict[str, Any]]:
    """The rows as dictionaries (dates as ISO 8601 with their zone)."""
    names = [c.name for c in ledger.columns]
    return [
        {
            n: (
                v.isoformat()
                if isinstance(v, dt.datetime)
                else float(v)
                if isinstance(v, Decimal)
                else v
            )
            for n, v in zip(names, row, strict=True)
        }
        for row in ledger.rows
    ]
