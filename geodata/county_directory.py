"""Who answers for what in a county, from its own spreadsheets (CSV or XLSX): teams and
their members, duties (which team answers for which area) and the responsibility list
(权责清单: categories and how each is handled). Templates: geodata/templates/; every
column is explained in docs/onboarding.md.

Each reader checks the whole file and reports every problem with its file, row and
column; each store compares with what is stored and, in a dry run or when nothing
differs, writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from geodata.gaoping import ROLE_LABELS
from geodata.responsibility import read_responsibility_table
from geodata.tables import Table, read_table
from gridmap import teams
from gridmap.boundaries import ListChange
from gridmap.boundaries import versions as boundaries
from gridmap.errors import DataFileError, InvalidInput
from gridmap.events import RuleRow, categories
from gridmap.models import Department, Member, Team

TEAM_LEVELS = ("grid", "community", "township", "county", "department", "enforcement")
DUTY_ROLES = ("responsible", "lead", "member")
ROLES_BY_LABEL = {label: role for role, label in ROLE_LABELS.items()}
TEAM_ALIASES = {
    "code": "team_code",
    "name": "team_name",
    "队伍编码": "team_code",
    "队伍名称": "team_name",
    "层级": "level",
    "部门编码": "department_code",
    "部门名称": "department_name",
    "部门英文名称": "department_name_en",
    "部门电话": "department_phone",
    "电话": "phone",
    "成员姓名": "member_name",
    "成员角色": "member_role",
    "成员电话": "member_phone",
}
TEAM_COLUMNS = (
    "team_code",
    "team_name",
    "level",
    "department_code",
    "department_name",
    "department_name_en",
    "department_phone",
    "phone",
    "member_name",
    "member_role",
    "member_phone",
)
DUTY_ALIASES = {"区域编码": "area_code", "图层": "layer", "队伍编码": "team_code", "职责": "role"}


class _Problems:
    def __init__(self, table: Table) -> None:
        self.table = table
        self.items: list[dict[str, object]] = []

    def add(self, row: int, column: str, message: str) -> None:
        self.items.append({**self.table.where(row, column), "message": message})

    def raise_if_any(self, what: str) -> None:
        if not self.items:
            return
        shown = "; ".join(
            f"row {p['row']}, column {p['column']}: {p['message']}" for p in self.items[:10]
        )
        more = f" (and {len(self.items) - 10} more)" if len(self.items) > 10 else ""
        raise DataFileError(
            f"{self.table.path.name}: {len(self.items)} problem(s) in the {what}: {shown}{more}",
            details={"file": str(self.table.path), "problems": self.items},
        )


# --- teams ----------------------------------------------------------------------------


@dataclass
class TeamSheet:
    teams: dict[str, teams.TeamRow] = field(default_factory=dict)
    members: dict[str, list[tuple[str, str, str | None]]] = field(default_factory=dict)
    # code → (name, English name, phone)
    departments: dict[str, tuple[str, str | None, str | None]] = field(default_factory=dict)


def read_teams(path: str | Path) -> TeamSheet:
    """One row per member (the team's columns repeated), or one row per team without a
    member. A department team (`level` department) names its `department_code` and, the
    first time, `department_name` (and optionally `department_name_en`,
    `department_phone`): the department is created with it."""
    table = read_table(
        path,
        required=("team_code", "team_name", "level"),
        optional=TEAM_COLUMNS,
        aliases=TEAM_ALIASES,
        sheet="teams",
    )
    problems = _Problems(table)
    sheet = TeamSheet()
    for r in table.rows:
        code, name, level = r.get("team_code"), r.get("team_name"), r.get("level")
        if not code:
            problems.add(r.row, "team_code", "empty team code")
            continue
        if level not in TEAM_LEVELS:
            problems.add(r.row, "level", f"{level!r} is not one of {', '.join(TEAM_LEVELS)}")
            continue
        department = r.get("department_code") or None
        if level == "department" and not department:
            problems.add(r.row, "department_code", f"team {code}: a department team needs one")
            continue
        if department and r.get("department_name"):
            sheet.departments[department] = (
                r.get("department_name"),
                r.get("department_name_en") or None,
                r.get("department_phone") or None,
            )
        row = teams.TeamRow(code, name or code, level, department, r.get("phone") or None)
        known = sheet.teams.setdefault(code, row)
        if known != row:
            problems.add(r.row, "team_code", f"team {code} is described differently above")
            continue
        sheet.members.setdefault(code, [])
        member = r.get("member_name")
        if member:
            role = r.get("member_role") or "grid_worker"
            role = ROLES_BY_LABEL.get(role, role)
            if role not in ROLE_LABELS:
                problems.add(
                    r.row,
                    "member_role",
                    f"{role!r} is not a role ({', '.join(ROLE_LABELS)} or 网格长, 网格员 …)",
                )
                continue
            sheet.members[code].append((member, role, r.get("member_phone") or None))
    problems.raise_if_any("team list")
    if not sheet.teams:
        raise DataFileError(f"{table.path.name}: no teams", details={"file": str(table.path)})
    return sheet


def store_teams(
    session: Session, *, county_code: str, sheet: TeamSheet, commit: bool
) -> dict[str, ListChange]:
    """Departments, teams and their members as in the sheet (teams not in it are kept)."""
    stored_departments = {
        code: (name, name_en, phone)
        for code, name, name_en, phone in session.execute(
            select(Department.code, Department.name, Department.name_en, Department.phone).where(
                Department.county_code == county_code
            )
        ).all()
    }
    unknown = sorted(
        {t.department_code for t in sheet.teams.values() if t.department_code}
        - set(stored_departments)
        - set(sheet.departments)
    )
    if unknown:
        raise InvalidInput(
            f"department(s) {', '.join(unknown)} are not known: give their department_name",
            details={"departments": unknown},
        )
    dept_change = _change(
        {c: n for c, n in stored_departments.items() if c in sheet.departments},
        sheet.departments,
        total=len(sheet.departments),
    )
    stored_teams = {
        t.code: teams.TeamRow(t.code, t.name, t.level, dept, t.phone)
        for t, dept in session.execute(
            select(Team, Department.code)
            .outerjoin(Department, Department.id == Team.department_id)
            .where(Team.county_code == county_code)
        ).all()
    }
    team_change = _change(
        {c: t for c, t in stored_teams.items() if c in sheet.teams},
        sheet.teams,
        total=len(sheet.teams),
    )
    stored_members: dict[str, list[tuple[str, str, str | None]]] = {}
    for code, name, role, phone in session.execute(
        select(Team.code, Member.name, Member.role, Member.phone)
        .join(Member, Member.team_id == Team.id)
        .where(Team.county_code == county_code, Team.code.in_(list(sheet.members)))
    ).all():
        stored_members.setdefault(code, []).append((name, role, phone))
    member_change = _change(
        {c: sorted(m) for c, m in stored_members.items()},
        {c: sorted(m) for c, m in sheet.members.items()},
        total=len(sheet.members),
    )
    changes = {"departments": dept_change, "teams": team_change, "members": member_change}
    if not commit or all(c.empty for c in changes.values()):
        return changes
    for code, (name, name_en, phone) in sheet.departments.items():
        teams.upsert_department(
            session, county_code=county_code, code=code, name=name, name_en=name_en, phone=phone
        )
    ids = teams.upsert_teams(session, county_code=county_code, teams=sheet.teams.values())
    changed_members = set(member_change.added + member_change.changed)
    teams.replace_members(
        session,
        team_ids=ids,
        members=[
            (code, n, r, p) for code in sorted(changed_members) for n, r, p in sheet.members[code]
        ],
    )
    emptied = [ids[c] for c in changed_members if not sheet.members[c]]
    if emptied:
        session.execute(text("DELETE FROM member WHERE team_id = ANY(:ids)"), {"ids": emptied})
    session.flush()
    return changes


def _change(
    stored: Mapping[str, object], wanted: Mapping[str, object], *, total: int
) -> ListChange:
    added = sorted(set(wanted) - set(stored))
    changed = sorted(c for c in set(wanted) & set(stored) if wanted[c] != stored[c])
    return ListChange(added, changed, [], total - len(added) - len(changed))


# --- duties ---------------------------------------------------------------------------


def read_duties(path: str | Path) -> tuple[Table, list[tuple[int, teams.DutyRow]]]:
    """(row, duty) pairs; `layer` may be left empty when the area code says it all."""
    table = read_table(
        path,
        required=("area_code", "team_code"),
        optional=("layer", "area_code", "team_code", "role"),
        aliases=DUTY_ALIASES,
        sheet="duties",
    )
    problems = _Problems(table)
    duties = []
    for r in table.rows:
        role = r.get("role") or "responsible"
        if role not in DUTY_ROLES:
            problems.add(r.row, "role", f"{role!r} is not one of {', '.join(DUTY_ROLES)}")
            continue
        if not r.get("area_code"):
            problems.add(r.row, "area_code", "empty area code")
            continue
        if not r.get("team_code"):
            problems.add(r.row, "team_code", "empty team code")
            continue
        duties.append(
            (r.row, teams.DutyRow(r.get("layer"), r.get("area_code"), r.get("team_code"), role))
        )
    problems.raise_if_any("duty list")
    return table, duties


def store_duties(
    session: Session,
    *,
    county_code: str,
    table: Table,
    duties: list[tuple[int, teams.DutyRow]],
    commit: bool,
) -> ListChange:
    """The county's duties become exactly the file's (checked against its areas and
    teams: every unknown area or team is reported with its row)."""
    active = boundaries.active_version(session, county_code=county_code)
    layers_of: dict[str, set[str]] = {}
    if active is not None:
        for layer, code in session.execute(
            text(f"SELECT layer, code FROM area WHERE county_code = :c AND {boundaries.VALID_IN}"),
            {"c": county_code, "version": active.id},
        ).all():
            layers_of.setdefault(code, set()).add(layer)
    team_codes = set(
        session.scalars(select(Team.code).where(Team.county_code == county_code)).all()
    )
    problems = _Problems(table)
    wanted: set[tuple[str, str, str, str]] = set()
    for row, d in duties:
        layers = layers_of.get(d.area_code, set())
        layer = d.layer or (next(iter(layers)) if len(layers) == 1 else "")
        if not layers or (d.layer and d.layer not in layers):
            problems.add(row, "area_code", f"no area {d.area_code} in county {county_code}")
            continue
        if not layer:
            problems.add(row, "layer", f"{d.area_code} is in several layers: name the layer")
            continue
        if d.team_code not in team_codes:
            problems.add(row, "team_code", f"no team {d.team_code}: import it with county teams")
            continue
        wanted.add((layer, d.area_code, d.team_code, d.role))
    problems.raise_if_any("duty list")
    stored = {
        (r.layer, r.area_code, r.code, r.role)
        for r in session.execute(
            text(
                "SELECT d.layer, d.area_code, t.code, d.role FROM duty d "
                "JOIN team t ON t.id = d.team_id WHERE d.county_code = :c"
            ),
            {"c": county_code},
        ).all()
    }
    key = "/".join
    change = ListChange(
        sorted(key(w) for w in wanted - stored),
        [],
        sorted(key(s) for s in stored - wanted),
        len(wanted & stored),
    )
    if not commit or change.empty:
        return change
    for layer, area, team, role in stored - wanted:
        session.execute(
            text(
                "DELETE FROM duty d USING team t WHERE t.id = d.team_id AND d.county_code = :c "
                "AND d.layer = :l AND d.area_code = :a AND t.code = :t AND d.role = :r"
            ),
            {"c": county_code, "l": layer, "a": area, "t": team, "r": role},
        )
    teams.set_duties(
        session,
        county_code=county_code,
        duties=[teams.DutyRow(*w) for w in sorted(wanted - stored)],
    )
    return change


# --- the responsibility list ----------------------------------------------------------


def read_rules(session: Session, *, county_code: str, path: str | Path) -> list[RuleRow]:
    departments = set(
        session.scalars(select(Department.code).where(Department.county_code == county_code))
    )
    entries = read_responsibility_table(path, department_codes=departments)
    return [e.as_rule() for e in entries]


def store_rules(
    session: Session, *, county_code: str, rules: list[RuleRow], commit: bool
) -> ListChange:
    """The county's responsibility list becomes the file's."""
    stored = {
        r["code"]: RuleRow(
            code=r["code"],
            name=r["name"],
            name_en=r["name_en"],
            group=r["group"],
            mode=r["mode"],
            department_code=r["department_code"],
            default_priority=r["default_priority"],
            response_minutes=r["response_minutes"],
            time_limit_hours=float(r["time_limit_hours"]),
        )
        for r in categories.list_categories(session, county_code=county_code)
    }
    wanted = {r.code: r for r in rules}
    added = sorted(set(wanted) - set(stored))
    removed = sorted(set(stored) - set(wanted))
    changed = sorted(c for c in set(wanted) & set(stored) if wanted[c] != stored[c])
    change = ListChange(added, changed, removed, len(wanted) - len(added) - len(changed))
    if commit and not change.empty:
        categories.replace_responsibility_list(session, county_code=county_code, rules=rules)
    return change
