"""Departments, teams, members and duties: who answers for which area (by stable code)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from gridmap.errors import NotFound
from gridmap.models import Department, Duty, Member, Team


@dataclass(frozen=True, slots=True)
class DutyRow:
    layer: str
    area_code: str
    team_code: str
    role: str = "responsible"  # responsible | lead | member


def upsert_department(
    session: Session,
    *,
    county_code: str,
    code: str,
    name: str,
    name_en: str | None = None,
    phone: str | None = None,
) -> int:
    stmt = insert(Department).values(
        county_code=county_code, code=code, name=name, name_en=name_en, phone=phone
    )
    upsert = stmt.on_conflict_do_update(
        constraint="uq_department_code",
        set_={"name": name, "name_en": name_en, "phone": phone},
    ).returning(Department.id)
    return int(session.execute(upsert).scalar_one())


def upsert_team(
    session: Session,
    *,
    county_code: str,
    code: str,
    name: str,
    level: str,
    department_code: str | None = None,
    phone: str | None = None,
) -> int:
    department_id = None
    if department_code:
        department_id = session.scalar(
            select(Department.id).where(
                Department.county_code == county_code, Department.code == department_code
            )
        )
        if department_id is None:
            raise NotFound(f"team {code}: unknown department {department_code}")
    stmt = insert(Team).values(
        county_code=county_code,
        code=code,
        name=name,
        level=level,
        department_id=department_id,
        phone=phone,
        active=True,
    )
    upsert = stmt.on_conflict_do_update(
        constraint="uq_team_code",
        set_={"name": name, "level": level, "department_id": department_id, "phone": phone},
    ).returning(Team.id)
    return int(session.execute(upsert).scalar_one())


def add_members(
    session: Session, *, team_id: int, members: Iterable[tuple[str, str, str | None]]
) -> None:
    """Replace a team's members with (name, role, phone) tuples."""
    session.execute(text("DELETE FROM member WHERE team_id = :t"), {"t": team_id})
    session.add_all(Member(team_id=team_id, name=n, role=r, phone=p) for n, r, p in members)
    session.flush()


def set_duties(session: Session, *, county_code: str, duties: Iterable[DutyRow]) -> int:
    """Add duties (idempotent); team codes are resolved within the county."""
    team_ids = dict(
        session.execute(select(Team.code, Team.id).where(Team.county_code == county_code)).all()
    )
    rows = []
    for d in duties:
        if d.team_code not in team_ids:
            raise NotFound(f"duty for {d.layer} {d.area_code}: unknown team {d.team_code}")
        rows.append(
            {
                "county_code": county_code,
                "layer": d.layer,
                "area_code": d.area_code,
                "team_id": team_ids[d.team_code],
                "role": d.role,
            }
        )
    if rows:
        session.execute(insert(Duty).on_conflict_do_nothing(constraint="uq_duty"), rows)
    session.flush()
    return len(rows)


def responsible_team(
    session: Session, *, county_code: str, layer: str, area_code: str
) -> Team | None:
    """The team on duty for an area (the 'responsible' or 'lead' one, lowest id first)."""
    return session.scalars(
        select(Team)
        .join(Duty, Duty.team_id == Team.id)
        .where(
            Duty.county_code == county_code,
            Duty.layer == layer,
            Duty.area_code == area_code,
            Duty.role.in_(("responsible", "lead")),
            Team.active.is_(True),
        )
        .order_by(Duty.role.desc(), Team.id)
        .limit(1)
    ).one_or_none()


def department_team(session: Session, *, county_code: str, department_code: str) -> Team | None:
    """A department's first active team."""
    return session.scalars(
        select(Team)
        .join(Department, Department.id == Team.department_id)
        .where(
            Department.county_code == county_code,
            Department.code == department_code,
            Team.active.is_(True),
        )
        .order_by(Team.id)
        .limit(1)
    ).first()


@dataclass(frozen=True, slots=True)
class TeamRow:
    code: str
    name: str
    level: str
    department_code: str | None = None
    phone: str | None = None


def upsert_teams(session: Session, *, county_code: str, teams: Iterable[TeamRow]) -> dict[str, int]:
    """Bulk version of `upsert_team` (one pipelined statement); returns code → id."""
    departments = dict(
        session.execute(
            select(Department.code, Department.id).where(Department.county_code == county_code)
        ).all()
    )
    rows = []
    for t in teams:
        if t.department_code and t.department_code not in departments:
            raise NotFound(f"team {t.code}: unknown department {t.department_code}")
        rows.append(
            {
                "county_code": county_code,
                "code": t.code,
                "name": t.name,
                "level": t.level,
                "department_id": departments.get(t.department_code or ""),
                "phone": t.phone,
                "active": True,
            }
        )
    if rows:
        stmt = insert(Team)
        session.execute(
            stmt.on_conflict_do_update(
                constraint="uq_team_code",
                set_={
                    "name": stmt.excluded.name,
                    "level": stmt.excluded.level,
                    "department_id": stmt.excluded.department_id,
                    "phone": stmt.excluded.phone,
                },
            ),
            rows,
        )
    return dict(
        session.execute(select(Team.code, Team.id).where(Team.county_code == county_code)).all()
    )


def replace_members(
    session: Session,
    *,
    team_ids: dict[str, int],
    members: Iterable[tuple[str, str, str, str | None]],
) -> int:
    """Set the members of the named teams: (team_code, name, role, phone) rows."""
    members = list(members)
    rows = [
        {"team_id": team_ids[code], "name": name, "role": role, "phone": phone}
        for code, name, role, phone in members
    ]
    ids = sorted({team_ids[code] for code, _, _, _ in members})
    if ids:
        session.execute(text("DELETE FROM member WHERE team_id = ANY(:ids)"), {"ids": ids})
        session.execute(insert(Member), rows)
    session.flush()
    return len(rows)
