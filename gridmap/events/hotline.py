"""The 12345 hotline export: reading it (CSV or JSON) and importing it as events in one batch.

Column names and formats are documented in docs/events.md.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from gridmap.errors import DataFileError, InvalidInput
from gridmap.events.ingest import ingest_event
from gridmap.events.input import EventInput, EventPolicy
from gridmap.routing.types import PointRouter

# Naive times in a hotline export are Beijing time: that is what the call centre's clock says.
CHINA_TZ = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")


# Column names (English, or the Chinese header a hotline system exports) → EventInput field.
HOTLINE_COLUMNS: dict[str, str] = {
    "external_id": "external_id",
    "工单编号": "external_id",
    "category": "category",
    "事项分类": "category",
    "description": "description",
    "诉求内容": "description",
    "lon": "lon",
    "经度": "lon",
    "lat": "lat",
    "纬度": "lat",
    "crs": "crs",
    "坐标系": "crs",
    "address": "address",
    "地址": "address",
    "reporter_name": "reporter_name",
    "来电人": "reporter_name",
    "reporter_phone": "reporter_phone",
    "来电号码": "reporter_phone",
    "reported_at": "reported_at",
    "来电时间": "reported_at",
    "priority": "priority",
    "紧急程度": "priority",
    "source": "source",
    "来源": "source",
}
REQUIRED_COLUMNS = ("external_id", "category", "reported_at")


@dataclass(frozen=True, slots=True)
class HotlineRow:
    line: int  # CSV: the line in the file; JSON: the item's position, from 1
    payload: EventInput | None
    error: str | None = None


@dataclass
class ImportReport:
    created: list[int] = field(default_factory=list)
    existing: list[int] = field(default_factory=list)
    bad: list[tuple[int, str]] = field(default_factory=list)
    unplaced: list[int] = field(default_factory=list)
    # Address-only rows (issue #19): placed and routed by their geocoded address, or left
    # in triage (among `unplaced`) with the candidates an operator picks from.
    placed_by_address: list[int] = field(default_factory=list)
    triage_with_candidates: list[int] = field(default_factory=list)


def _parse_time(value: str) -> dt.datetime:
    text = value.strip().replace("/", "-")
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"reported_at {value!r} is not a date and time (2026-11-21 09:30:00)"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=CHINA_TZ)


def _parse_float(name: str, value: Any) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} {value!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} {value!r} is not a finite number")
    return number


def hotline_row(record: Mapping[str, Any], *, default_source: str = "12345") -> EventInput:
    """One export record (already keyed by our field names) → EventInput; ValueError says why."""
    missing = [c for c in REQUIRED_COLUMNS if not str(record.get(c) or "").strip()]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")

    def text_or_none(key: str) -> str | None:
        value = record.get(key)
        return str(value).strip() or None if value is not None else None

    return EventInput(
        source=text_or_none("source") or default_source,
        external_id=str(record["external_id"]).strip(),
        category=str(record["category"]).strip(),
        reported_at=_parse_time(str(record["reported_at"])),
        description=str(record.get("description") or ""),
        lon=_parse_float("lon", record.get("lon")),
        lat=_parse_float("lat", record.get("lat")),
        crs=text_or_none("crs") or "wgs84",
        address=text_or_none("address"),
        reporter_name=text_or_none("reporter_name"),
        reporter_phone=text_or_none("reporter_phone"),
        priority=text_or_none("priority"),
    )


def _keyed(record: Mapping[str, Any]) -> dict[str, Any]:
    return {
        HOTLINE_COLUMNS[k.strip()]: v
        for k, v in record.items()
        if k and k.strip() in HOTLINE_COLUMNS
    }


def read_hotline_export(path: Path, *, default_source: str = "12345") -> list[HotlineRow]:
    """Read a 12345 export (CSV with a header row, or JSON); bad rows carry their reason."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataFileError(
            f"{path}: cannot read: {exc.strerror}", details={"file": str(path)}
        ) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFileError(
            f"{path}: not UTF-8 (byte {exc.start}); export the file as UTF-8",
            details={"file": str(path)},
        ) from exc
    rows: list[HotlineRow] = []
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataFileError(
                f"{path}: line {exc.lineno}: not JSON: {exc.msg}",
                details={"file": str(path), "line": exc.lineno},
            ) from exc
        items = data.get("events") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise DataFileError(
                f'{path}: expected a list of events or {{"events": [...]}}',
                details={"file": str(path)},
            )
        for n, item in enumerate(items, start=1):
            if not isinstance(item, dict):
                rows.append(HotlineRow(n, None, "not an object"))
                continue
            rows.append(_row(n, _keyed(item), default_source))
        return rows
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    absent = [c for c in REQUIRED_COLUMNS if not any(HOTLINE_COLUMNS.get(h) == c for h in header)]
    if absent:
        raise DataFileError(
            f"{path}: line 1: the header lacks {', '.join(absent)} (see docs/events.md)",
            details={"file": str(path), "line": 1, "header": header},
        )
    for record in reader:
        rows.append(_row(reader.line_num, _keyed(record), default_source))
    return rows


def _row(line: int, record: dict[str, Any], default_source: str) -> HotlineRow:
    try:
        return HotlineRow(line, hotline_row(record, default_source=default_source))
    except ValueError as exc:
        return HotlineRow(line, None, str(exc))


def import_events(
    session: Session,
    *,
    router: PointRouter | None,
    rows: Iterable[HotlineRow],
    actor: str,
    all_or_nothing: bool,
    policy: EventPolicy | None = None,
    source_name: str = "",
    county_code: str | None = None,
) -> ImportReport:
    """Ingest every good row; with `all_or_nothing`, any bad row raises and nothing is kept.

    Each row runs in a savepoint, so a bad row never leaves half of itself behind. A row
    with an address and no coordinates is geocoded against `county_code`'s address
    register as ingest does (gridmap.events.address_events): at or above the auto-place
    confidence it is placed and routed, below it waits in that county's triage queue with
    its candidates; a row that cannot be placed at all belongs to `county_code` too.
    """
    report = ImportReport()
    for row in rows:
        if row.payload is None:
            report.bad.append((row.line, row.error or "unreadable"))
            continue
        try:
            with session.begin_nested():
                event, created = ingest_event(
                    session,
                    router=router,
                    payload=row.payload,
                    actor=actor,
                    policy=policy,
                    county_code=county_code,
                )
        except InvalidInput as exc:
            report.bad.append((row.line, exc.message))
            continue
        (report.created if created else report.existing).append(event.id)
        if created and event.team_id is None:
            report.unplaced.append(event.id)
        geocoded = (event.routing or {}).get("geocode") if created else None
        if geocoded and geocoded.get("placed"):
            report.placed_by_address.append(event.id)
        elif geocoded and geocoded.get("candidates"):
            report.triage_with_candidates.append(event.id)
    if report.bad and all_or_nothing:
        problems = [{"line": line, "problem": why} for line, why in report.bad]
        first_line, first_reason = report.bad[0]
        raise DataFileError(
            f"{source_name or 'the file'}: {len(report.bad)} bad row(s), nothing imported; "
            f"first at line {first_line}: {first_reason}",
            details={"problems": problems},
        )
    return report
