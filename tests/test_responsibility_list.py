"""A county loads its departments and responsibility list (权责清单) from CSV files it maintains."""

from __future__ import annotations

from pathlib import Path

import pytest

from geodata.responsibility import (
    RESPONSIBILITY_COLUMNS,
    read_departments,
    read_responsibility_list,
)
from gridmap.errors import DataFileError

GAOPING = Path(__file__).resolve().parent.parent / "geodata" / "samples" / "gaoping"
HEADER = ",".join(RESPONSIBILITY_COLUMNS)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(exc: pytest.ExceptionInfo[DataFileError]) -> list[tuple[int, str]]:
    return [(p["line"], p["message"]) for p in exc.value.details["problems"]]


def test_the_shipped_gaoping_list_is_valid_and_covers_what_residents_report() -> None:
    departments = read_departments(GAOPING / "departments.csv")
    codes = {d.code for d in departments}
    assert {"ZHZF", "ZJJ", "XFJY", "GAJ", "RQGS", "SWJ"} <= codes
    entries = read_responsibility_list(GAOPING / "responsibility_list.csv", department_codes=codes)

    assert len(entries) >= 30
    by_name_en = {e.name_en: e for e in entries}
    for expected in (
        "Illegal construction",
        "Fallen tree",
        "Smoke alarm",
        "Gas leak",
        "Neighbour dispute",
        "Broken street light",
        "Missing or broken manhole cover",
        "Bicycles and e-bikes blocking the pavement",
        "Flooding or waterlogged street",
    ):
        assert expected in by_name_en, expected
    assert {e.mode for e in entries} == {"self", "cooperate", "department"}
    assert {e.default_priority for e in entries} == {"emergency", "key", "routine", "coordination"}
    # Emergencies (应急哨) put a team on site within 30 minutes.
    emergencies = [e for e in entries if e.default_priority == "emergency"]
    assert {e.name_en for e in emergencies} >= {"Smoke alarm", "Gas leak", "Water level alarm"}
    assert all(e.response_minutes is not None and e.response_minutes <= 30 for e in emergencies)
    assert all(e.department_code for e in entries if e.mode != "self")
    assert by_name_en["Smoke alarm"].department_code == "XFJY"


def test_a_broken_list_names_every_problem_with_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "list.csv",
        f"{HEADER}\n"
        "CG01,违法建设,Illegal construction,城市管理,cooperate,ZHZF,key,120,72\n"  # line 2 ok
        "CG01,违法建设,Again,城市管理,self,,routine,,24\n"  # line 3 duplicate
        "CG02,占道经营,Vending,城市管理,department,NOPE,routine,,24\n"  # 4 unknown dept
        "CG03,乱堆乱放,Clutter,城市管理,outsourced,,routine,,24\n"  # 5 unknown mode
        "CG04,噪声,Noise,环境,cooperate,,routine,,24\n"  # 6 missing dept
        "CG05,烟感,Smoke,安全,department,ZHZF,urgent,,2\n"  # 7 unknown priority
        "CG06,井盖,Manhole,市政,department,ZHZF,key,soon,twelve\n"  # 8 bad numbers
        "CG07,燃气,Gas,安全,department,ZHZF,emergency,45,4\n",  # 9 emergency too slow
    )
    with pytest.raises(DataFileError) as exc:
        read_responsibility_list(path, department_codes={"ZHZF"})

    found = problems_of(exc)
    lines = [line for line, _ in found]
    assert 2 not in lines
    assert set(lines) == {3, 4, 5, 6, 7, 8, 9}
    text = dict(found)
    assert "duplicate category CG01" in text[3] and "line 2" in text[3]
    assert "unknown department 'NOPE'" in text[4]
    assert "unknown mode 'outsourced'" in text[5]
    assert "needs a department_code" in text[6]
    assert "unknown default_priority 'urgent'" in text[7]
    assert [m for line, m in found if line == 8] == [
        "category CG06: response_minutes 'soon' is not a whole number",
        "category CG06: time_limit_hours 'twelve' is not a number",
    ]
    assert "at most 30" in text[9]
    # The message itself names the file and lines, for the CLI and the API error body.
    assert "list.csv" in exc.value.message and "line 4" in exc.value.message
    assert exc.value.details["file"] == str(path)


def test_a_list_with_a_missing_column_is_refused_on_the_header_line(tmp_path: Path) -> None:
    path = write(tmp_path, "list.csv", "code,name,mode\nCG01,违法建设,self\n")
    with pytest.raises(DataFileError) as exc:
        read_responsibility_list(path, department_codes=set())
    [(line, message)] = problems_of(exc)
    assert line == 1
    assert "department_code" in message and "time_limit_hours" in message


def test_an_excel_saved_list_with_a_byte_order_mark_and_blank_lines_reads(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_text(
        f"{HEADER}\r\nHJ01,生活垃圾,Rubbish,市容,self,,routine,,24\r\n,,,,,,,,\r\n",
        encoding="utf-8-sig",
    )
    [entry] = read_responsibility_list(path, department_codes=set())
    assert entry.code == "HJ01"
    assert entry.response_minutes is None
    assert entry.time_limit_hours == 24.0


def test_a_missing_file_is_a_data_file_error(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="cannot open"):
        read_departments(tmp_path / "nowhere.csv")


def test_duplicate_departments_are_refused_with_both_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "departments.csv",
        "code,name,name_en,phone\nZJJ,住建局,Housing,1\nZJJ,住建局,Housing,2\n,无代码,,\n",
    )
    with pytest.raises(DataFileError) as exc:
        read_departments(path)
    assert problems_of(exc) == [
        (3, "duplicate department ZJJ (first on line 2)"),
        (4, "empty department code"),
    ]
