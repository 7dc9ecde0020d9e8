"""The assessment's periods: named (today, this week, last month, …) or from–to, in local
days of China Standard Time (UTC+8), and the working days in them. Pure."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from gridmap.errors import InvalidInput

CHINA_TZ = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")
# The days a custom period may name (a date near year 1 or 9999 would overflow).
EARLIEST_DAY, LATEST_DAY = dt.date(2000, 1, 1), dt.date(2100, 12, 31)
PERIODS = ("today", "yesterday", "week", "last_week", "month", "last_month", "custom", "all")


@dataclass(frozen=True, slots=True)
class Period:
    """[start, end) in time; `days` the local dates it covers (for a daily series)."""

    name: str
    start: dt.datetime | None
    end: dt.datetime | None

    @property
    def first_day(self) -> dt.date | None:
        return self.start.astimezone(CHINA_TZ).date() if self.start else None

    @property
    def last_day(self) -> dt.date | None:
        return (
            (self.end - dt.timedelta(microseconds=1)).astimezone(CHINA_TZ).date()
            if self.end
            else None
        )

    def previous(self) -> Period | None:
        """The period of the same length just before (this week → last week); a month's
        previous is the calendar month before."""
        if self.start is None or self.end is None:
            return None
        if self.name in ("month", "last_month"):
            first = self.start.astimezone(CHINA_TZ).date()
            prev_first = (first - dt.timedelta(days=1)).replace(day=1)
            return Period("previous", _local_midnight(prev_first), self.start)
        return Period("previous", self.start - (self.end - self.start), self.start)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "from": self.first_day.isoformat() if self.first_day else None,
            "to": self.last_day.isoformat() if self.last_day else None,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
        }


def _local_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), CHINA_TZ)


def resolve_period(
    *,
    period: str | None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    now: dt.datetime | None = None,
) -> Period:
    """A named period (today, week: Monday to now, month, …) or `date_from`..`date_to`
    inclusive (local days). Pure."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(CHINA_TZ)
    today = now.date()
    name = period or ("custom" if date_from or date_to else "all")
    if name not in PERIODS:
        raise InvalidInput(
            f"period: must be one of {', '.join(PERIODS)}",
            details={"field": "period", "value": name},
        )
    if name == "custom":
        if date_from is None or date_to is None:
            raise InvalidInput(
                "a custom period needs from and to (dates, inclusive)",
                details={"field": "from" if date_from is None else "to"},
            )
        for field_name, day in (("from", date_from), ("to", date_to)):
            if not EARLIEST_DAY <= day <= LATEST_DAY:
                raise InvalidInput(
                    f"{field_name}: a day from {EARLIEST_DAY} to {LATEST_DAY}",
                    details={"field": field_name, "value": day.isoformat()},
                )
        if date_to < date_from:
            raise InvalidInput(
                "to is before from", details={"field": "to", "value": date_to.isoformat()}
            )
        if (date_to - date_from).days > 3 * 366:
            raise InvalidInput("a period is at most three years", details={"field": "to"})
        return Period(name, _local_midnight(date_from), _local_midnight(date_to + dt.timedelta(1)))
    if name == "all":
        return Period(name, None, None)
    if name in ("today", "yesterday"):
        day = today if name == "today" else today - dt.timedelta(days=1)
        return Period(name, _local_midnight(day), _local_midnight(day + dt.timedelta(days=1)))
    if name in ("week", "last_week"):
        monday = today - dt.timedelta(days=today.weekday())
        if name == "last_week":
            monday -= dt.timedelta(days=7)
        return Period(name, _local_midnight(monday), _local_midnight(monday + dt.timedelta(7)))
    first = today.replace(day=1)
    if name == "last_month":
        first = (first - dt.timedelta(days=1)).replace(day=1)
    nxt = (first + dt.timedelta(days=32)).replace(day=1)
    return Period(name, _local_midnight(first), _local_midnight(nxt))


def working_days(period: Period, *, today: dt.date | None = None) -> int | None:
    """The working days (WORKING_DAYS) of a bounded period up to today; None unbounded."""
    first, last = period.first_day, period.last_day
    if first is None or last is None:
        if first is None:
            return None
        last = today or dt.datetime.now(CHINA_TZ).date()
    last = min(last, today or dt.datetime.now(CHINA_TZ).date())
    n, day = 0, first
    while day <= last:
        n += day.weekday() < 5
        day += dt.timedelta(days=1)
    return n


def day_bounds(period: Period) -> tuple[dt.date | None, dt.date | None] | None:
    """The period as local days [first, end) when its bounds are local midnights (every
    named or custom period is), so the daily aggregate `field_day` answers it exactly;
    None when a bound falls inside a day (the older `since=` form): the raw rows then."""
    out: list[dt.date | None] = []
    for bound in (period.start, period.end):
        if bound is None:
            out.append(None)
            continue
        local = bound.astimezone(CHINA_TZ)
        if local.timetz().replace(tzinfo=None) != dt.time():
            return None
        out.append(local.date())
    return out[0], out[1]
