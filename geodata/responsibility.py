"""Readers for a county's department list and responsibility list (权责清单) CSV files."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gridmap.errors import DataFileError
from gridmap.events import RuleRow
from gridmap.models import HANDLING_MODES, PRIORITIES

DEPARTMENT_COLUMNS = ("code", "name", "name_en", "phone")
RESPONSIBILITY_COLUMNS = (
    "code",
    "name",
    "name_en",
    "group",
    "mode",
    "department_code",
    "default_priority",
    "response_minutes",
    "time_limit_hours",
)
# 应急哨: an emergency means teams on site within 30 minutes; a list saying otherwise is wrong.
EMERGENCY_RESPONSE_MINUTES = 30


@dataclass(frozen=True, slots=True)
class DepartmentEntry:
    """A county department or unit (职能部门) that categories can be routed to."""

    code: str
    name: str
    name_en: str | None
    phone: str | None


@dataclass(frozen=True, slots=True)
class ResponsibilityEntry:
    """One category of the responsibility list and how it is handled county-wide.

    mode: self (基本履职, the township handles it), cooperate (配合履职, the township with
    `department_code`), department (上级收回, `department_code` handles it).
    """

    code: str
    name: str
    name_en: str | None
    group: str | None
    mode: str
    department_code: str | None
    default_priority: str
    response_minutes: int | None
    time_limit_hours: float

    def as_rule(self) -> RuleRow:
        """This category as a county-wide line of the stored responsibility list."""
        return RuleRow(
            code=self.code,
            name=self.name,
            name_en=self.name_en,
            group=self.group,
            mode=self.mode,
            department_code=self.department_code,
            default_priority=self.default_priority,
            response_minutes=self.response_minutes,
            time_limit_hours=self.time_limit_hours,
        )


class _Problems:
    """Collects every problem of one file so the user fixes them all in one pass."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.items: list[dict[str, Any]] = []

    def add(self, line: int, message: str) -> None:
        self.items.append({"file": str(self.path), "line": line, "message": message})

    def raise_if_any(self, what: str) -> None:
        if not self.items:
            return
        shown = "; ".join(f"line {p['line']}: {p['message']}" for p in self.items[:10])
        more = f" (and {len(self.items) - 10} more)" if len(self.items) > 10 else ""
        raise DataFileError(
            f"{self.path.name}: {len(self.items)} problem(s) in the {what}: {shown}{more}",
            details={"file": str(self.path), "problems": self.items},
        )


def _rows(path: Path, columns: tuple[str, ...], problems: _Problems) -> Iterator[tuple[int, dict]]:
    """(line number, row) for each data row; stops early when the header is wrong."""
    try:
        # utf-8-sig: lists are maintained in Excel, which writes a byte-order mark.
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise DataFileError(
            f"{path}: cannot open ({exc.strerror})", details={"file": str(path)}
        ) from exc
    with handle:
        try:
            reader = csv.DictReader(handle)
            header = [h.strip() for h in reader.fieldnames or []]
            missing = [c for c in columns if c not in header]
            if missing:
                problems.add(1, f"missing column(s) {', '.join(missing)}; expected {columns}")
                return
            reader.fieldnames = header
            for row in reader:
                line = reader.line_num
                if None in row:
                    problems.add(line, f"more fields than the {len(header)} columns")
                    continue
                values = {k: (v or "").strip() for k, v in row.items()}
                if not any(values.values()):
                    continue  # a blank line an editor left behind
                yield line, values
        except UnicodeDecodeError as exc:
            raise DataFileError(
                f"{path}: not UTF-8 text (save the CSV as UTF-8)", details={"file": str(path)}
            ) from exc


def read_departments(path: str | Path) -> list[DepartmentEntry]:
    """The departments CSV (code,name,name_en,phone); every problem reported by line."""
    path = Path(path)
    problems = _Problems(path)
    entries: list[DepartmentEntry] = []
    seen: dict[str, int] = {}
    for line, row in _rows(path, DEPARTMENT_COLUMNS, problems):
        code, name = row["code"], row["name"]
        if not code:
            problems.add(line, "empty department code")
            continue
        if not name:
            problems.add(line, f"department {code}: empty name")
        if code in seen:
            problems.add(line, f"duplicate department {code} (first on line {seen[code]})")
            continue
        seen[code] = line
        entries.append(DepartmentEntry(code, name, row["name_en"] or None, row["phone"] or None))
    problems.raise_if_any("department list")
    if not entries:
        raise DataFileError(f"{path.name}: no departments", details={"file": str(path)})
    return entries


def _number(
    text: str, *, line: int, column: str, code: str, problems: _Problems, integer: bool
) -> float | None:
    """A positive number from a cell, or None (and a problem) when it is not one."""
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        problems.add(line, f"category {code}: {column} {text!r} is not {kind}")
        return None
    if not value > 0:  # also rejects NaN
        problems.add(line, f"category {code}: {column} must be positive, got {text!r}")
        return None
    return value


def read_responsibility_list(
    path: str | Path, *, department_codes: set[str]
) -> list[ResponsibilityEntry]:
    """The responsibility list CSV, validated against the county's department codes.

    Every problem (unknown department, duplicate category, unknown mode or priority, a
    missing department for a cooperate/department mode, a bad number, an emergency slower
    than 30 minutes) is collected with its line, then one DataFileError lists them all.
    """
    path = Path(path)
    problems = _Problems(path)
    return _responsibility_entries(
        path, _rows(path, RESPONSIBILITY_COLUMNS, problems), problems, department_codes
    )


def read_responsibility_table(
    path: str | Path, *, department_codes: set[str]
) -> list[ResponsibilityEntry]:
    """`read_responsibility_list` for a CSV or an XLSX workbook (its `rules` sheet, else
    the first); problems name the row as the spreadsheet shows it."""
    from geodata.tables import read_table

    path = Path(path)
    problems = _Problems(path)
    table = read_table(
        path,
        required=("code", "name", "mode", "time_limit_hours"),
        optional=RESPONSIBILITY_COLUMNS,
        sheet="rules",
    )
    rows = ((r.row, {c: r.get(c) for c in RESPONSIBILITY_COLUMNS}) for r in table.rows)
    return _responsibility_entries(path, rows, problems, department_codes)


def _responsibility_entries(
    path: Path,
    rows: Iterator[tuple[int, dict[str, str]]],
    problems: _Problems,
    department_codes: set[str],
) -> list[ResponsibilityEntry]:
    entries: list[ResponsibilityEntry] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        code = row["code"]
        if not code:
            problems.add(line, "empty category code")
            continue
        if code in seen:
            problems.add(line, f"duplicate category {code} (first on line {seen[code]})")
            continue
        seen[code] = line
        ok = True
        if not row["name"]:
            problems.add(line, f"category {code}: empty name")
            ok = False
        mode = row["mode"]
        if mode not in HANDLING_MODES:
            problems.add(
                line, f"category {code}: unknown mode {mode!r} (one of {', '.join(HANDLING_MODES)})"
            )
            ok = False
        department = row["department_code"] or None
        if department is None and mode in ("cooperate", "department"):
            problems.add(line, f"category {code}: mode {mode} needs a department_code")
            ok = False
        if department is not None and department not in department_codes:
            problems.add(line, f"category {code}: unknown department {department!r}")
            ok = False
        priority = row["default_priority"]
        if priority not in PRIORITIES:
            problems.add(
                line,
                f"category {code}: unknown default_priority {priority!r} "
                f"(one of {', '.join(PRIORITIES)})",
            )
            ok = False
        response: float | None = None
        if row["response_minutes"]:
            response = _number(
                row["response_minutes"],
                line=line,
                column="response_minutes",
                code=code,
                problems=problems,
                integer=True,
            )
            ok = ok and response is not None
        if priority == "emergency" and (response is None or response > EMERGENCY_RESPONSE_MINUTES):
            problems.add(
                line,
                f"category {code}: an emergency needs response_minutes of at most "
                f"{EMERGENCY_RESPONSE_MINUTES}",
            )
            ok = False
        limit = _number(
            row["time_limit_hours"],
            line=line,
            column="time_limit_hours",
            code=code,
            problems=problems,
            integer=False,
        )
        if not ok or limit is None:
            continue
        entries.append(
            ResponsibilityEntry(
                code=code,
                name=row["name"],
                name_en=row["name_en"] or None,
                group=row["group"] or None,
                mode=mode,
                department_code=department,
                default_priority=priority,
                response_minutes=None if response is None else int(response),
                time_limit_hours=limit,
            )
        )
    problems.raise_if_any("responsibility list")
    if not entries:
        raise DataFileError(f"{path.name}: no categories", details={"file": str(path)})
    return entries
