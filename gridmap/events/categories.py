"""The responsibility list (权责清单) in the database: categories and their handling rules."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from gridmap.errors import InvalidInput
from gridmap.models import HANDLING_MODES, PRIORITIES, Category, Department


@dataclass(frozen=True, slots=True)
class RuleRow:
    """One line of a county's responsibility list (an area_code narrows it to one area)."""

    code: str
    name: str
    mode: str
    default_priority: str
    time_limit_hours: float
    name_en: str | None = None
    group: str | None = None
    department_code: str | None = None
    response_minutes: int | None = None
    area_code: str | None = None


def replace_responsibility_list(
    session: Session, *, county_code: str, rules: Iterable[RuleRow]
) -> int:
    """Store a county's whole list: categories upserted, rules replaced, in one go."""
    rules = list(rules)
    departments = set(
        session.scalars(select(Department.code).where(Department.county_code == county_code))
    )
    for r in rules:
        if r.mode not in HANDLING_MODES:
            raise InvalidInput(f"category {r.code}: unknown handling mode {r.mode!r}")
        if r.default_priority not in PRIORITIES:
            raise InvalidInput(f"category {r.code}: unknown priority {r.default_priority!r}")
        if r.department_code and r.department_code not in departments:
            raise InvalidInput(f"category {r.code}: unknown department {r.department_code!r}")
    seen: set[str] = set()
    category_rows = []
    for r in rules:
        if r.code in seen:
            continue
        seen.add(r.code)
        category_rows.append(
            {
                "county_code": county_code,
                "code": r.code,
                "name": r.name,
                "name_en": r.name_en,
                "group": r.group,
            }
        )
    if category_rows:
        stmt = insert(Category).values(category_rows)
        session.execute(
            stmt.on_conflict_do_update(
                constraint="uq_category_code",
                set_={
                    "name": stmt.excluded.name,
                    "name_en": stmt.excluded.name_en,
                    "group": stmt.excluded.group,
                },
            )
        )
    session.execute(
        text("DELETE FROM responsibility_rule WHERE county_code = :c"), {"c": county_code}
    )
    if rules:
        session.execute(
            text(
                """
                INSERT INTO responsibility_rule (county_code, category_code, area_code, mode,
                    department_code, default_priority, response_minutes, time_limit_hours)
                VALUES (:county_code, :code, :area_code, :mode, :department_code,
                    :default_priority, :response_minutes, :time_limit_hours)
                """
            ),
            [
                {
                    "county_code": county_code,
                    "code": r.code,
                    "area_code": r.area_code,
                    "mode": r.mode,
                    "department_code": r.department_code,
                    "default_priority": r.default_priority,
                    "response_minutes": r.response_minutes,
                    "time_limit_hours": r.time_limit_hours,
                }
                for r in rules
            ],
        )
    session.flush()
    return len(rules)


def list_categories(session: Session, *, county_code: str | None = None) -> list[dict[str, Any]]:
    """The county-wide rule of every category, with the department's name."""
    rows = session.execute(
        text(
            """
            SELECT c.county_code, c.code, c.name, c.name_en, c."group", r.mode,
                   r.department_code, d.name AS department_name, r.default_priority,
                   r.response_minutes, r.time_limit_hours
            FROM category c
            JOIN responsibility_rule r ON r.county_code = c.county_code
                 AND r.category_code = c.code AND r.area_code IS NULL
            LEFT JOIN department d ON d.county_code = r.county_code
                 AND d.code = r.department_code
            WHERE (CAST(:county AS text) IS NULL OR c.county_code = :county)
            ORDER BY c.county_code, c.code
            """
        ),
        {"county": county_code},
    ).mappings()
    return [dict(r) for r in rows]


def category_exists(session: Session, *, code: str, county_code: str | None = None) -> bool:
    stmt = select(Category.id).where(Category.code == code)
    if county_code:
        stmt = stmt.where(Category.county_code == county_code)
    return session.scalar(stmt.limit(1)) is not None
