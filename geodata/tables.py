"""Read a table a county keeps in a spreadsheet: CSV (UTF-8, or GB18030 as Chinese Excel
saves it) or XLSX (one sheet, chosen by name). Rows come back as dictionaries of stripped
text keyed by lower-case column names, each with the row number a user sees in the file,
so every problem can name the file, the row and the column."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gridmap.errors import DataFileError


@dataclass(frozen=True, slots=True)
class TableRow:
    row: int  # as the user sees it: the header is row 1
    values: dict[str, str]

    def get(self, column: str) -> str:
        return self.values.get(column, "")


@dataclass(frozen=True)
class Table:
    path: Path
    sheet: str | None
    columns: list[str]
    rows: list[TableRow]

    def where(self, row: int, column: str | None = None) -> dict[str, Any]:
        """The `details` of an error about one cell."""
        out: dict[str, Any] = {"file": str(self.path), "row": row}
        if self.sheet:
            out["sheet"] = self.sheet
        if column:
            out["column"] = column
        return out


def read_table(
    path: str | Path,
    *,
    required: Sequence[str],
    optional: Iterable[str] = (),
    sheet: str | None = None,
    aliases: dict[str, str] | None = None,
) -> Table:
    """The rows of a CSV or XLSX table with at least the `required` columns.

    Column names are matched case-insensitively after `aliases` (e.g. {"代码": "code"}) are
    applied; blank rows are skipped. From an XLSX workbook the sheet named `sheet` is read
    when it exists, else the first sheet.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: no such file", details={"file": str(path)})
    suffix = path.suffix.lower()
    sheet_used: str | None = None
    raw: list[tuple[int, list[Any]]]
    if suffix == ".csv":
        header, raw = _csv(path)
    elif suffix in (".xlsx", ".xlsm"):
        header, raw, sheet_used = _xlsx(path, sheet)
    else:
        raise DataFileError(
            f"{path}: a table must be .csv or .xlsx, not {suffix or 'a file without suffix'}",
            details={"file": str(path)},
        )
    names = [_column_name(h, aliases or {}) for h in header]
    missing = [c for c in required if c not in names]
    if missing:
        raise DataFileError(
            f"{path.name}{_sheet_text(sheet_used)}: missing column(s) {', '.join(missing)}; "
            f"the header has {', '.join(n for n in names if n) or 'nothing'}",
            details={"file": str(path), "row": 1, "missing": missing, "sheet": sheet_used},
        )
    known = set(required) | set(optional)
    rows: list[TableRow] = []
    for number, cells in raw:
        if len(cells) > len(names) and any(_text(c) for c in cells[len(names) :]):
            raise DataFileError(
                f"{path.name}{_sheet_text(sheet_used)} row {number}: more cells than the "
                f"{len(names)} columns of the header",
                details={"file": str(path), "row": number, "sheet": sheet_used},
            )
        values = {
            name: _text(cells[i]) if i < len(cells) else ""
            for i, name in enumerate(names)
            if name and (name in known or not known)
        }
        if any(values.values()):
            rows.append(TableRow(number, values))
    return Table(path, sheet_used, names, rows)


def _sheet_text(sheet: str | None) -> str:
    return f" (sheet {sheet})" if sheet else ""


def _column_name(header: Any, aliases: dict[str, str]) -> str:
    name = _text(header).lower().replace(" ", "_")
    return aliases.get(name, name)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a code Excel stored as a number
    return str(value).strip()


def _csv(path: Path) -> tuple[list[str], list[tuple[int, list[Any]]]]:
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise DataFileError(
            f"{path}: neither UTF-8 nor GB18030 text: save the table as CSV UTF-8",
            details={"file": str(path)},
        )
    lines = list(csv.reader(io.StringIO(text, newline="")))
    if not lines:
        raise DataFileError(f"{path}: the file is empty", details={"file": str(path)})
    return lines[0], [(i, list(cells)) for i, cells in enumerate(lines[1:], start=2)]


def _xlsx(path: Path, sheet: str | None) -> tuple[list[str], list[tuple[int, list[Any]]], str]:
    import openpyxl  # only needed for spreadsheets

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several types for a file that is not XLSX
        raise DataFileError(
            f"{path}: cannot read the workbook: {exc}", details={"file": str(path)}
        ) from exc
    try:
        names = book.sheetnames
        chosen = next((n for n in names if sheet and n.strip().lower() == sheet), names[0])
        rows = [list(r) for r in book[chosen].iter_rows(values_only=True)]
    finally:
        book.close()
    if not rows:
        raise DataFileError(
            f"{path} (sheet {chosen}): the sheet is empty",
            details={"file": str(path), "sheet": chosen},
        )
    return [_text(h) for h in rows[0]], list(enumerate(rows[1:], start=2)), chosen
