"""A one-sheet XLSX workbook written as its rows come, for the ledgers (台账).

Why not XlsxWriter, which the ledgers used before: its constant-memory mode does a
Python method call, a cell-reference computation and several small writes for every
cell; the event ledger has 28 columns, so 100,000 rows are 2.8 million cells and the
writer was most of the time (docs/performance.md, "The ledger's writer"). Here a row is
one string built from the column's precomputed pieces, written in batches to a temporary
file and then zipped; nothing is kept in memory but the batch.

What a ledger needs and nothing more: typed columns (text, integer, number, date),
a bold header row that stays frozen, column widths, an autofilter over the rows, number
formats. Strings are inline (no shared-string table: that would need every string in
memory until the end). The package is Office Open XML (ECMA-376) as Excel, LibreOffice
and openpyxl read it.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from xml.sax.saxutils import escape, quoteattr

# Column kinds, as the ledgers name them.
TEXT, INT, NUM, RATE, TIME = "text", "int", "num", "rate", "time"

# Cell styles (the order of <cellXfs> in STYLES).
_HEAD, _TIME, _RATE, _NUM = 1, 2, 3, 4
_STYLE = {TIME: _TIME, RATE: _RATE, NUM: _NUM}

# A moment as a spreadsheet's serial day number in local time (UTC+8, no daylight
# saving): days since 1899-12-30, the Unix epoch being day 25569.
_DAY = 86400.0
_UNIX_LOCAL = 25569.0 + 8 / 24

# Characters XML 1.0 does not allow (a description pasted from a phone may hold them).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_ESCAPE = re.compile("[&<>\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# How many rows go to the zip stream at once.
_BATCH = 500


@dataclass(frozen=True, slots=True)
class SheetColumn:
    header: str
    kind: str = TEXT
    width: int = 12


def column_letters(index: int) -> str:
    """The column's letters: 0 → A, 25 → Z, 26 → AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _text(value: str) -> str:
    if _ESCAPE.search(value):
        value = escape(_NOT_XML.sub("", value))
    if value[:1].isspace() or value[-1:].isspace():
        return f'<is><t xml:space="preserve">{value}</t></is>'
    return f"<is><t>{value}</t></is>"


def _cells(columns: Sequence[SheetColumn]) -> list[tuple[str, str, str]]:
    """Per column: the start of a text cell, of a number cell, and the kind (the row
    number goes between the letters and the closing quote)."""
    out = []
    for i, c in enumerate(columns):
        style = _STYLE.get(c.kind)
        s = f' s="{style}"' if style else ""
        out.append((column_letters(i), s, c.kind))
    return out


def write_sheet(
    target: str | Path | IO[bytes],
    *,
    title: str,
    columns: Sequence[SheetColumn],
    rows: Iterable[Sequence[Any]],
    compresslevel: int = 1,
) -> int:
    """Write a workbook of one sheet: a frozen header row, then `rows`; rows written.

    A value is written by its column's kind: TIME a timezone-aware datetime (as local
    time, UTC+8, a date cell), INT/NUM/RATE a number, TEXT a string; None leaves the cell
    empty; a string in a number column is written as text. Compression level 1: the
    sheet is repetitive XML and level 1 keeps most of the gain for a fraction of the
    time (measured in bench/stats.py)."""
    plan = _cells(columns)
    last = column_letters(len(columns) - 1)
    header = "".join(
        f'<c r="{letter}1" t="inlineStr" s="{_HEAD}">{_text(c.header)}</c>'
        for (letter, _, _), c in zip(plan, columns, strict=True)
    )
    # The rows go to a temporary file first: the sheet's <dimension> (which readers such
    # as openpyxl's read-only mode size rows by) comes before them and needs their count.
    with tempfile.TemporaryFile() as data:
        data.write(f'<row r="1">{header}</row>'.encode())
        n = 1
        batch: list[str] = []
        for n, row in enumerate(rows, 2):
            r = str(n)
            cells = []
            for (letter, style, kind), value in zip(plan, row, strict=True):
                if value is None:
                    continue
                if kind == TEXT or type(value) is str:
                    cells.append(f'<c r="{letter}{r}" t="inlineStr">{_text(str(value))}</c>')
                elif kind == TIME:
                    cells.append(
                        f'<c r="{letter}{r}"{style}><v>'
                        f"{value.timestamp() / _DAY + _UNIX_LOCAL!r}</v></c>"
                    )
                else:
                    cells.append(f'<c r="{letter}{r}"{style}><v>{_number(value)}</v></c>')
            batch.append(f'<row r="{r}">{"".join(cells)}</row>')
            if len(batch) >= _BATCH:
                data.write("".join(batch).encode())
                batch.clear()
        data.write("".join(batch).encode())
        rows_written = n - 1
        data.seek(0)
        packed = zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel)
        with packed as book:
            with book.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
                sheet.write(_sheet_head(columns, f"A1:{last}{n}").encode())
                shutil.copyfileobj(data, sheet, 1 << 20)
                tail = "</sheetData>"
                if rows_written:
                    tail += f'<autoFilter ref="A1:{last}{n}"/>'
                sheet.write(f"{tail}</worksheet>".encode())
            quoted = _sheet_name(title).replace("'", "''")
            filtered = f"'{quoted}'!$A$1:${last}${n}" if rows_written else None
            book.writestr("[Content_Types].xml", CONTENT_TYPES)
            book.writestr("_rels/.rels", ROOT_RELS)
            book.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
            book.writestr("xl/workbook.xml", _workbook(title, filtered))
            book.writestr("xl/styles.xml", STYLES)
    return rows_written


def _number(value: Any) -> str:
    if type(value) is float:
        return repr(value)
    if type(value) is bool:
        return "1" if value else "0"
    return str(value)  # int, Decimal


def _sheet_name(title: str) -> str:
    """Excel's rule: at most 31 characters, none of []:*?/\\."""
    return re.sub(r"[\[\]:*?/\\]", " ", title)[:31] or "Sheet1"


def _sheet_head(columns: Sequence[SheetColumn], dimension: str) -> str:
    cols = "".join(
        f'<col min="{i}" max="{i}" width="{c.width + 0.71:.2f}" customWidth="1"/>'
        for i, c in enumerate(columns, 1)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        f'<dimension ref="{dimension}"/>'
        '<sheetViews><sheetView tabSelected="1" workbookViewId="0">'
        '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
        '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/>'
        "</sheetView></sheetViews>"
        '<sheetFormatPr defaultRowHeight="15"/>'
        f"<cols>{cols}</cols><sheetData>"
    )


def _workbook(title: str, filtered: str | None) -> str:
    names = (
        "<definedNames>"
        '<definedName name="_xlnm._FilterDatabase" localSheetId="0" hidden="1">'
        f"{escape(filtered)}</definedName></definedNames>"
        if filtered
        else ""
    )
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        "<bookViews><workbookView/></bookViews>"
        f'<sheets><sheet name={quoteattr(_sheet_name(title))} sheetId="1" r:id="rId1"/></sheets>'
        f"{names}</workbook>"
    )


CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/styles.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    "</Types>"
)

ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/></Relationships>'
)

WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
    'Target="worksheets/sheet1.xml"/>'
    '<Relationship Id="rId2" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" '
    'Target="styles.xml"/></Relationships>'
)

# cellXfs: 0 plain, 1 the header (bold, light blue, thin border), 2 a moment
# (yyyy-mm-dd hh:mm), 3 a rate (0.0%), 4 a number (0.00, built-in format 2).
STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy\\-mm\\-dd\\ hh:mm"/>'
    '<numFmt numFmtId="165" formatCode="0.0%"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
    '<fills count="3"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill>'
    '<fill><patternFill patternType="solid"><fgColor rgb="FFDBEAFE"/>'
    '<bgColor indexed="64"/></patternFill></fill></fills>'
    '<borders count="2"><border><left/><right/><top/><bottom/><diagonal/></border>'
    '<border><left style="thin"><color auto="1"/></left><right style="thin"><color auto="1"/>'
    '</right><top style="thin"><color auto="1"/></top><bottom style="thin"><color auto="1"/>'
    "</bottom><diagonal/></border></borders>"
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="5">'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="2" borderId="1" xfId="0" applyFont="1" '
    'applyFill="1" applyBorder="1"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="2" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    "</cellXfs>"
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)
