"""The official division list (统计用区划代码) of a county, as the National Bureau of
Statistics publishes it: the county, its townships of every kind and its village and
community committees, with 6-, 9- or 12-digit codes.

Codes are stored short, as the rest of gridmap uses them: a county by its 6 digits
(140581), a township by 9 (140581001), a committee by 12 (140581001001). The 12-digit
forms of counties and townships (140581000000, 140581001000) are shortened on reading.

Every township kind is accepted (街道/街道办事处, 镇, 乡/民族乡/苏木, and the units
counties list beside them: 管委会, 管理处, 开发区/园区, 农场, 林场, 茶场, 牧场 …); the kind is
derived from the name and never a reason to refuse a row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from geodata.tables import read_table
from gridmap.errors import DataFileError

ALIASES = {
    "代码": "code",
    "区划代码": "code",
    "统计用区划代码": "code",
    "名称": "name",
    "级别": "level",
    "层级": "level",
    "上级代码": "parent_code",
    "城乡分类代码": "urban_rural",
    "城乡分类": "urban_rural",
}
LEVEL_ALIASES = {
    "county": "county",
    "县": "county",
    "县级": "county",
    "township": "township",
    "乡级": "township",
    "乡镇": "township",
    "community": "community",
    "village": "community",
    "村级": "community",
    "村": "community",
    "居": "community",
}
# Township kinds by the end of the name, longest first (街道办事处 before 办事处).
_TOWNSHIP_SUFFIXES = (
    ("街道办事处", "street"),
    ("街道", "street"),
    ("民族乡", "township"),
    ("苏木", "township"),
    ("镇", "town"),
    ("乡", "township"),
    ("管理委员会", "zone"),
    ("管委会", "zone"),
    ("开发区", "zone"),
    ("园区", "zone"),
    ("新区", "zone"),
    ("管理处", "office"),
    ("管理区", "office"),
    ("办事处", "office"),
    ("农场", "farm"),
    ("林场", "farm"),
    ("茶场", "farm"),
    ("牧场", "farm"),
    ("渔场", "farm"),
    ("盐场", "farm"),
    ("果园", "farm"),
)
TOWNSHIP_KINDS = ("street", "town", "township", "zone", "office", "farm", "other")
COMMUNITY_KINDS = ("urban", "rural", "virtual", "other")
_DIGITS = re.compile(r"^\d+$")


@dataclass(frozen=True, slots=True)
class Division:
    code: str
    name: str
    level: str  # county | township | community
    parent_code: str | None
    kind: str
    row: int = 0  # where it was read (0: not from a file)


def township_kind(name: str) -> str:
    """street (街道), town (镇), township (乡), zone (管委会, 开发区), office (管理处),
    farm (农场, 林场, 茶场 …), or other: every kind a county lists is accepted."""
    for suffix, kind in _TOWNSHIP_SUFFIXES:
        if name.endswith(suffix):
            return kind
    return "other"


def community_kind(name: str, urban_rural: str = "") -> str:
    """urban (居委会; NBS class 1xx), rural (村委会; class 2xx), virtual (虚拟社区 of a farm or
    park), other."""
    if "虚拟" in name:
        return "virtual"
    if name.endswith("居委会") or name.endswith("社区") or urban_rural.startswith("1"):
        return "urban"
    if name.endswith("村委会") or name.endswith("村") or urban_rural.startswith("2"):
        return "rural"
    return "other"


def short_code(code: str) -> tuple[str, str]:
    """(code, level) from a 6-, 9- or 12-digit code; 12-digit county/township forms shorten."""
    if len(code) == 12 and code.endswith("000000"):
        return code[:6], "county"
    if len(code) == 12 and code.endswith("000"):
        return code[:9], "township"
    return code, {6: "county", 9: "township", 12: "community"}.get(len(code), "")


def read_division_list(path: str | Path, *, county_code: str | None = None) -> list[Division]:
    """Townships and committees of one county, checked as a tree, parents first.

    Columns: `code`, `name`, and optionally `level` and `parent_code` (both follow from
    a code's length when absent) and `urban_rural` (NBS 城乡分类代码). Chinese headers
    (代码, 名称, 级别, 上级代码, 城乡分类代码) work too. Every problem names its row.
    """
    table = read_table(
        path,
        required=("code", "name"),
        optional=("level", "parent_code", "urban_rural"),
        aliases=ALIASES,
        sheet="divisions",
    )
    found: list[Division] = []
    problems: list[str] = []
    details: list[dict[str, object]] = []

    def problem(row: int, column: str, message: str) -> None:
        problems.append(f"row {row}, column {column}: {message}")
        details.append({**table.where(row, column), "message": message})

    for r in table.rows:
        raw = r.get("code").replace(" ", "")
        name = r.get("name")
        if not _DIGITS.match(raw) or len(raw) not in (6, 9, 12):
            problem(r.row, "code", f"{raw!r} is not a 6-, 9- or 12-digit division code")
            continue
        code, level = short_code(raw)
        given = r.get("level")
        if given:
            if given.lower() not in LEVEL_ALIASES:
                problem(r.row, "level", f"unknown level {given!r} (county, township, community)")
                continue
            if LEVEL_ALIASES[given.lower()] != level:
                problem(r.row, "level", f"{given!r} does not match the code {raw} ({level})")
                continue
        if not name:
            problem(r.row, "name", f"{raw}: the name is empty")
            continue
        parent_raw = r.get("parent_code").replace(" ", "")
        parent = short_code(parent_raw)[0] if parent_raw else None
        expected = {"county": None, "township": code[:6], "community": code[:9]}[level]
        if level != "county" and parent is not None and parent != expected:
            problem(r.row, "parent_code", f"{parent_raw} is not the parent of {raw}")
            continue
        kind = (
            "county"
            if level == "county"
            else township_kind(name)
            if level == "township"
            else community_kind(name, r.get("urban_rural"))
        )
        found.append(Division(code, name, level, expected, kind, r.row))

    counties = {d.code for d in found if d.level == "county"}
    county = county_code or (next(iter(counties)) if len(counties) == 1 else None)
    if county is None:
        raise DataFileError(
            f"{table.path.name}: cannot tell which county the list is for "
            f"({len(counties)} county rows): give the county code",
            details={"file": str(table.path)},
        )
    seen: dict[str, int] = {}
    for d in found:
        if not d.code.startswith(county):
            problem(d.row, "code", f"{d.code} {d.name} is not in county {county}")
        elif d.code in seen:
            problem(d.row, "code", f"{d.code} is listed twice (first on row {seen[d.code]})")
        seen.setdefault(d.code, d.row)
    townships = {d.code for d in found if d.level == "township"}
    for d in found:
        if d.level == "community" and d.parent_code not in townships:
            problem(d.row, "code", f"{d.code} {d.name}: its township {d.parent_code} is not listed")
    if problems:
        shown = "; ".join(problems[:10]) + (
            f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        )
        raise DataFileError(
            f"{table.path.name}: {len(problems)} problem(s): {shown}",
            details={"file": str(table.path), "problems": details},
        )
    result = [d for d in found if d.level != "county" and d.code.startswith(county)]
    if not result:
        raise DataFileError(
            f"{table.path.name}: no townships or committees of county {county}",
            details={"file": str(table.path)},
        )
    order = {"township": 0, "community": 1}
    return sorted(result, key=lambda d: (order[d.level], d.code))
