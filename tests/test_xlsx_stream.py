"""The ledgers' XLSX writer (gridmap.xlsx_stream), read back by openpyxl on ugly data."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from decimal import Decimal

import openpyxl
import pytest

from gridmap import xlsx_stream as xs

CHINA = dt.timezone(dt.timedelta(hours=8))


def _read(data: bytes, *, read_only: bool = False) -> openpyxl.worksheet.worksheet.Worksheet:
    return openpyxl.load_workbook(io.BytesIO(data), read_only=read_only).active


def _write(columns: list[xs.SheetColumn], rows: list[tuple[object, ...]], title: str) -> bytes:
    out = io.BytesIO()
    n = xs.write_sheet(out, title=title, columns=columns, rows=iter(rows))
    assert n == len(rows)
    return out.getvalue()


def test_what_a_ledger_writes_reads_back_as_written() -> None:
    columns = [
        xs.SheetColumn("编号", xs.INT, 8),
        xs.SheetColumn("描述", xs.TEXT, 36),
        xs.SheetColumn("受理时间", xs.TIME, 17),
        xs.SheetColumn("用时（小时）", xs.NUM),
        xs.SheetColumn("按期办结率", xs.RATE),
    ]
    at = dt.datetime(2026, 11, 30, 23, 59, 30, tzinfo=dt.UTC)  # 07:59:30 on 1 Dec in UTC+8
    rows = [
        (1, '路灯不亮 & <漏水> "东门"', at, 1.25, 0.875),
        (2, "  前后有空格  ", at.astimezone(CHINA), Decimal("2.50"), None),
        # Control characters XML 1.0 forbids (pasted from a phone), a bare string in a
        # number column, a boolean, nothing at all.
        (None, None, None, None, None),
        (3, "换行\n制表\t响铃\x07结束", None, "未知", True),
    ]
    data = _write(columns, rows, "事件台账")
    sheet = _read(data)
    got = list(sheet.iter_rows(values_only=True))
    assert got[0] == ("编号", "描述", "受理时间", "用时（小时）", "按期办结率")
    assert got[1] == (
        1,
        '路灯不亮 & <漏水> "东门"',
        dt.datetime(2026, 12, 1, 7, 59, 30),
        1.25,
        0.875,
    )
    assert got[2][1] == "  前后有空格  " and got[2][2] == dt.datetime(2026, 12, 1, 7, 59, 30)
    assert got[2][3] == 2.5 and got[2][4] is None
    assert got[3] == (None, None, None, None, None)
    assert got[4] == (3, "换行\n制表\t响铃结束", None, "未知", 1)
    assert sheet.title == "事件台账"
    assert sheet.freeze_panes == "A2"
    assert sheet["A1"].font.b and sheet["A1"].fill.fgColor.rgb == "FFDBEAFE"
    assert sheet.column_dimensions["B"].width > 36
    assert sheet.auto_filter.ref == "A1:E5"
    assert sheet["C2"].number_format == "yyyy\\-mm\\-dd\\ hh:mm" and sheet["C2"].is_date
    assert sheet["E2"].number_format == "0.0%" and sheet["D2"].number_format == "0.00"
    # Read-only readers size rows by the sheet's dimension: every row as wide as the header.
    assert {len(r) for r in _read(data, read_only=True).iter_rows(values_only=True)} == {5}


def test_many_columns_no_rows_and_a_title_excel_refuses() -> None:
    columns = [xs.SheetColumn(f"列{i}") for i in range(30)]
    data = _write(columns, [], "周报[2026/12]:县*?")
    sheet = _read(data)
    assert [c.value for c in sheet[1]][-1] == "列29"
    assert xs.column_letters(29) == "AD" and xs.column_letters(701) == "ZZ"
    assert xs.column_letters(702) == "AAA"
    assert sheet.title == "周报 2026 12  县  "
    assert sheet.auto_filter.ref is None
    with zipfile.ZipFile(io.BytesIO(data)) as book:
        assert "definedName" not in book.read("xl/workbook.xml").decode()


def test_a_row_of_the_wrong_width_is_refused() -> None:
    with pytest.raises(ValueError):
        xs.write_sheet(io.BytesIO(), title="x", columns=[xs.SheetColumn("a")], rows=[("1", "2")])
