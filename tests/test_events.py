"""Events through the closed loop on the real PostGIS, with the small test county's router."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from gridmap.db import session_factory
from gridmap.errors import (
    Conflict,
    DataFileError,
    IllegalTransition,
    InvalidCoordinates,
    InvalidInput,
    PayloadTooLarge,
    UnknownCategory,
    UnknownCRS,
)
from gridmap.events import check_overdue, ingest
from gridmap.events import lifecycle as ev
from gridmap.events import queries as eq
from gridmap.events.hotline import import_events, read_hotline_export
from gridmap.events.input import EventInput, EventPolicy, mask_phone
from gridmap.events.stats import event_stats
from gridmap.models import Event, EventLog, StreamMessageRow, Team
from gridmap.routing.router import Router
from gridmap.settings import Settings
from tests import factories as f

NOW = dt.datetime(2026, 11, 21, 9, 30, tzinfo=dt.UTC)
G2 = f"{f.C1}002"


@pytest.fixture
def db_url(request: pytest.FixtureRequest) -> str:
    """Every test here starts from the small county, loaded and activated."""
    return str(request.getfixturevalue("small_county_db_url"))


@pytest.fixture
def county(engine: Engine, tmp_path: Path) -> Iterator[Router]:
    yield Router(session_factory(engine), Settings(home=tmp_path))


def report(
    external_id: str,
    *,
    category: str = "ROAD",
    at: tuple[float, float] | None = None,
    minutes: int = 0,
    **kw: object,
) -> EventInput:
    lon, lat = at if at is not None else f.SmallCounty.grid_center(f.G1)
    values: dict[str, object] = {
        "source": "12345",
        "external_id": external_id,
        "category": category,
        "reported_at": NOW + dt.timedelta(minutes=minutes),
        "description": "路面坑洼",
        "lon": lon,
        "lat": lat,
        "reporter_phone": "13812345678",
    }
    values.update(kw)
    return EventInput(**values)  # type: ignore[arg-type]


def team_id(session: Session, code: str) -> int:
    return session.scalars(select(Team.id).where(Team.code == code)).one()


def actions_logged(session: Session, event_id: int) -> list[str]:
    return [entry.action for entry in eq.event_log(session, event_id=event_id)]


def count_events(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Event)) or 0


def test_a_report_is_routed_to_its_grid_team_logged_and_announced(
    session: Session, county: Router
) -> None:
    event, created = ingest.ingest_event(
        session, router=county, payload=report("A1"), actor="hotline"
    )
    session.commit()
    assert created
    assert (event.grid_code, event.community_code, event.township_code) == (f.G1, f.C1, f.T1)
    assert event.team_id == team_id(session, f"T-{f.G1}")
    assert event.status == "reported" and event.priority == "routine"
    assert actions_logged(session, event.id) == ["report"]
    announced = session.scalars(
        select(StreamMessageRow).where(StreamMessageRow.kind.like("event.%"))
    ).all()
    assert [(m.kind, m.payload["id"], m.payload["grid_code"]) for m in announced] == [
        ("event.created", event.id, f.G1)
    ]


def test_the_same_ticket_sent_twice_is_one_event(session: Session, county: Router) -> None:
    first, created_first = ingest.ingest_event(
        session, router=county, payload=report("A1"), actor="x"
    )
    session.commit()
    again, created_again = ingest.ingest_event(
        session, router=county, payload=report("A1"), actor="x"
    )
    assert (created_first, created_again) == (True, False)
    assert again.id == first.id
    assert count_events(session) == 1


def test_concurrent_senders_of_one_ticket_make_one_event(engine: Engine, county: Router) -> None:
    factory = session_factory(engine)
    barrier = threading.Barrier(8)
    results: list[tuple[int, bool]] = []
    errors: list[BaseException] = []

    def send() -> None:
        try:
            with factory() as s:
                barrier.wait()
                event, created = ingest.ingest_event(
                    s, router=county, payload=report("RACE-1"), actor="gateway"
                )
                s.commit()
                results.append((event.id, created))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert len({event_id for event_id, _ in results}) == 1
    assert sorted(created for _, created in results) == [False] * 7 + [True]
    with factory() as s:
        assert count_events(s) == 1


def test_an_event_walks_every_step_of_the_closed_loop(session: Session, county: Router) -> None:
    event, _ = ingest.ingest_event(
        session, router=county, payload=report("LOOP"), actor="hotline", now=NOW
    )
    grid_team = event.team_id
    # The response clock runs from receipt; registering an hour later does not reset it.
    assert event.response_due_at == NOW + dt.timedelta(hours=24)
    later = NOW + dt.timedelta(hours=1)
    ev.act(session, event_id=event.id, action="register", actor="坐席01", now=later)
    assert event.response_due_at == NOW + dt.timedelta(hours=24)
    assert event.due_at is None  # the handling clock starts at assignment
    ev.act(session, event_id=event.id, action="assign", actor="坐席01", now=later)
    # ROAD is routine with a 72-hour limit in the responsibility list.
    assert event.due_at == later + dt.timedelta(hours=72)
    assert event.team_id == grid_team
    ev.act(session, event_id=event.id, action="start", actor="李网格")
    ev.act(session, event_id=event.id, action="report_back", actor="李网格", note="已修补")
    ev.act(session, event_id=event.id, action="close", actor="坐席01", now=NOW)
    ev.act(session, event_id=event.id, action="archive", actor="坐席01")
    ev.act(session, event_id=event.id, action="visit", actor="回访员", satisfaction=5)
    session.commit()

    assert event.status == "archived" and event.satisfaction == 5 and event.closed_at == NOW
    timeline = eq.event_log(session, event_id=event.id)
    assert [(e.action, e.from_status, e.to_status) for e in timeline] == [
        ("report", None, "reported"),
        ("register", "reported", "registered"),
        ("assign", "registered", "assigned"),
        ("start", "assigned", "in_progress"),
        ("report_back", "in_progress", "reported_back"),
        ("close", "reported_back", "closed"),
        ("archive", "closed", "archived"),
        ("visit", "archived", "archived"),
    ]
    assert timeline[4].actor == "李网格" and timeline[4].note == "已修补"
    changed = session.scalar(select(func.count()).where(StreamMessageRow.kind == "event.changed"))
    assert changed == 7


def test_an_illegal_step_is_refused_and_changes_nothing(session: Session, county: Router) -> None:
    event, _ = ingest.ingest_event(session, router=county, payload=report("ILL"), actor="x")
    session.commit()
    with pytest.raises(IllegalTransition) as caught:
        ev.act(session, event_id=event.id, action="close", actor="坐席01")
    session.rollback()
    assert caught.value.details["current_state"] == "reported"
    assert session.get(Event, event.id).status == "reported"  # type: ignore[union-attr]
    assert actions_logged(session, event.id) == ["report"]


def test_a_team_returns_a_wrong_event_with_a_reason_and_it_is_reassigned(
    session: Session, county: Router
) -> None:
    event, _ = ingest.ingest_event(session, router=county, payload=report("RET"), actor="x")
    ev.act(session, event_id=event.id, action="register", actor="op")
    ev.act(session, event_id=event.id, action="assign", actor="op")
    with pytest.raises(InvalidInput, match="reason"):
        ev.act(session, event_id=event.id, action="return", actor="李网格")
    ev.act(session, event_id=event.id, action="return", actor="李网格", reason="不属本网格")
    assert event.status == "returned" and event.team_id is None
    ev.act(session, event_id=event.id, action="assign", actor="op", team_code=f"T-{G2}")
    assert event.team_id == team_id(session, f"T-{G2}")
    returned = [e for e in eq.event_log(session, event_id=event.id) if e.action == "return"]
    assert returned[0].data["reason"] == "不属本网格"


def test_an_event_escalates_grid_community_township_county(
    session: Session, county: Router
) -> None:
    event, _ = ingest.ingest_event(session, router=county, payload=report("UP"), actor="x")
    ev.act(session, event_id=event.id, action="register", actor="op")
    ev.act(session, event_id=event.id, action="assign", actor="op")
    holders = []
    for _ in ("community", "township", "county"):
        ev.act(session, event_id=event.id, action="escalate", actor="op", reason="网格无法解决")
        holders.append((event.escalation_level, event.team_id))
    assert holders == [
        ("community", team_id(session, f"T-{f.C1}")),
        ("township", team_id(session, f"T-{f.T1}")),
        ("county", team_id(session, f"T-{f.COUNTY}")),
    ]
    with pytest.raises(Conflict, match="county"):
        ev.act(session, event_id=event.id, action="escalate", actor="op", reason="again")
    path = [
        (e.data["from_level"], e.data["to_level"])
        for e in eq.event_log(session, event_id=event.id)
        if e.action == "escalate"
    ]
    assert path == [("grid", "community"), ("community", "township"), ("township", "county")]


def test_joint_dispatch_closes_only_after_every_co_handler_reported(
    session: Session, county: Router
) -> None:
    # On the shared edge of G1 and G2: the router flags it on a boundary.
    event, _ = ingest.ingest_event(
        session, router=county, payload=report("EDGE", at=(112.91, 35.79)), actor="x"
    )
    assert event.on_boundary
    ev.act(session, event_id=event.id, action="register", actor="op")
    ev.act(
        session,
        event_id=event.id,
        action="joint_dispatch",
        actor="op",
        team_code=f"T-{f.G1}",
        co_team_codes=[f"T-{G2}", "D-ZF"],
    )
    assert event.team_id == team_id(session, f"T-{f.G1}")
    assert [t.code for t, _ in eq.co_handlers(session, event_id=event.id)] == ["D-ZF", f"T-{G2}"]
    ev.act(session, event_id=event.id, action="start", actor="lead")
    ev.act(
        session,
        event_id=event.id,
        action="report_back",
        actor="co",
        team_code="D-ZF",
        note="已清理",
    )
    assert event.status == "in_progress"  # a co-handler's report does not move the event
    ev.act(session, event_id=event.id, action="report_back", actor="lead", note="主办完成")
    with pytest.raises(Conflict, match=f"T-{G2}") as caught:
        ev.act(session, event_id=event.id, action="close", actor="op")
    assert caught.value.details["waiting_for"] == [f"T-{G2}"]
    ev.act(
        session, event_id=event.id, action="report_back", actor="co", team_code=f"T-{G2}", note="ok"
    )
    ev.act(session, event_id=event.id, action="close", actor="op")
    assert event.status == "closed"


def test_joint_dispatch_in_order_closes_when_the_lead_closes(
    session: Session, county: Router
) -> None:
    event, _ = ingest.ingest_event(
        session, router=county, payload=report("JOINT", category="MULTI"), actor="x"
    )
    assert event.priority == "coordination"
    ev.act(session, event_id=event.id, action="register", actor="op")
    ev.act(
        session,
        event_id=event.id,
        action="joint_dispatch",
        actor="op",
        team_code=f"T-{f.T1}",
        co_team_codes=["D-ZF", "D-ZJ"],
    )
    ev.act(session, event_id=event.id, action="start", actor="lead")
    for code in ("D-ZF", "D-ZJ"):
        ev.act(
            session,
            event_id=event.id,
            action="report_back",
            actor=code,
            team_code=code,
            note="done",
        )
    ev.act(session, event_id=event.id, action="report_back", actor="lead", note="all done")
    ev.act(session, event_id=event.id, action="close", actor="op")
    assert event.status == "closed"
    assert actions_logged(session, event.id).count("co_report_back") == 2
    assert all(c.reported_back_at for _, c in eq.co_handlers(session, event_id=event.id))


def test_a_nearby_report_of_the_same_problem_is_linked_and_merged(
    session: Session, county: Router
) -> None:
    lon, lat = f.SmallCounty.grid_center(f.G1)
    first, _ = ingest.ingest_event(session, router=county, payload=report("D1"), actor="x")
    # About 20 m away, 10 minutes later: the same pothole.
    second, _ = ingest.ingest_event(
        session, router=county, payload=report("D2", at=(lon + 0.0002, lat), minutes=10), actor="x"
    )
    other_kind, _ = ingest.ingest_event(
        session,
        router=county,
        payload=report("D3", category="VEND", at=(lon + 0.0002, lat)),
        actor="x",
    )
    far, _ = ingest.ingest_event(
        session, router=county, payload=report("D4", at=(lon + 0.003, lat)), actor="x"
    )
    assert second.duplicate_of == first.id
    assert other_kind.duplicate_of is None and far.duplicate_of is None
    ev.act(session, event_id=second.id, action="merge", actor="op")
    session.commit()
    assert second.status == "merged"
    assert "merged_in" in actions_logged(session, first.id)
    assert actions_logged(session, second.id) == ["report", "possible_duplicate", "merge"]


def test_an_overdue_emergency_is_marked_announced_and_escalated(
    session: Session, county: Router
) -> None:
    event, _ = ingest.ingest_event(
        session, router=county, payload=report("FIRE", category="SMOKE"), actor="iot", now=NOW
    )
    assert event.priority == "emergency"
    assert event.team_id == team_id(session, "D-XF")  # a department's matter
    routine, _ = ingest.ingest_event(
        session, router=county, payload=report("SLOW", at=(112.935, 35.81)), actor="x", now=NOW
    )
    ev.act(session, event_id=event.id, action="register", actor="op", now=NOW)
    ev.act(session, event_id=routine.id, action="register", actor="op", now=NOW)
    ev.act(session, event_id=routine.id, action="assign", actor="op", now=NOW)
    session.commit()
    assert check_overdue(session, now=NOW + dt.timedelta(minutes=29)) == []
    assert check_overdue(session, now=NOW + dt.timedelta(minutes=31)) == [event.id]
    session.commit()
    assert event.overdue
    assert check_overdue(session, now=NOW + dt.timedelta(minutes=40)) == []  # marked once
    # A routine event a day and a bit later: overdue, and it goes up to the community.
    assert check_overdue(session, now=NOW + dt.timedelta(hours=25)) == [routine.id]
    session.commit()
    assert routine.escalation_level == "community"
    assert actions_logged(session, routine.id)[-2:] == ["overdue", "escalate"]
    overdue_msgs = session.scalars(
        select(StreamMessageRow.payload["id"].as_integer()).where(
            StreamMessageRow.kind == "event.overdue"
        )
    ).all()
    assert sorted(overdue_msgs) == sorted([event.id, routine.id])


def test_an_unregistered_emergency_becomes_overdue_and_escalates(
    session: Session, county: Router
) -> None:
    # A gas leak reported by the hotline that nobody registers: the 30-minute response
    # rule counts from receipt.
    event, _ = ingest.ingest_event(
        session, router=county, payload=report("GAS", priority="emergency"), actor="x", now=NOW
    )
    assert event.escalation_level == "grid"
    assert event.status == "reported" and event.priority == "emergency"
    assert event.response_due_at == NOW + dt.timedelta(minutes=30)
    session.commit()
    clocks = ev.event_clocks(event, now=NOW + dt.timedelta(minutes=10))
    assert clocks["response"].state == "running" and clocks["handling"].state == "not_started"
    assert check_overdue(session, now=NOW + dt.timedelta(minutes=29)) == []
    assert check_overdue(session, now=NOW + dt.timedelta(minutes=31)) == [event.id]
    session.commit()
    assert event.overdue
    assert actions_logged(session, event.id)[-2:] == ["overdue", "escalate"]
    assert event.status == "assigned" and event.escalation_level != "grid"
    clocks = ev.event_clocks(event, now=NOW + dt.timedelta(minutes=32))
    assert clocks["response"].state == "missed"
    # Handed up, the handling clock started at that moment.
    assert event.due_at == NOW + dt.timedelta(minutes=31, hours=24)
    assert clocks["handling"].state == "running"


def test_a_closed_event_says_how_long_each_clock_took(session: Session, county: Router) -> None:
    event, _ = ingest.ingest_event(
        session, router=county, payload=report("TOOK"), actor="hotline", now=NOW
    )
    steps = [("register", 5), ("assign", 10), ("start", 40), ("report_back", 300), ("close", 320)]
    for action, minutes in steps:
        ev.act(
            session,
            event_id=event.id,
            action=action,
            actor="op",
            note="修好了" if action == "report_back" else None,
            now=NOW + dt.timedelta(minutes=minutes),
        )
    clocks = ev.event_clocks(event, now=NOW + dt.timedelta(days=30))
    assert clocks["response"].state == "met" and clocks["response"].took_s == 40 * 60
    assert clocks["handling"].state == "met" and clocks["handling"].took_s == 290 * 60
    assert clocks["response"].left_s is None and clocks["handling"].left_s is None


def test_a_report_far_outside_the_county_is_kept_for_triage_and_placed_later(
    session: Session, county: Router
) -> None:
    event, created = ingest.ingest_event(
        session, router=county, payload=report("LOST", at=(113.5, 36.5)), actor="x"
    )
    address_only, _ = ingest.ingest_event(
        session,
        router=county,
        payload=report("ADDR", lon=None, lat=None, address="西镇幸福路12号"),
        actor="x",
    )
    session.commit()
    assert created and event.team_id is None and event.grid_code is None
    assert event.routing["unplaced"] is True
    assert [e.id for e in eq.triage_queue(session)] == [event.id, address_only.id]
    lon, lat = f.SmallCounty.grid_center(G2)
    ev.place_event(
        session, router=county, event_id=address_only.id, lon=lon, lat=lat, crs="wgs84", actor="op"
    )
    session.commit()
    assert address_only.grid_code == G2
    assert address_only.team_id == team_id(session, f"T-{G2}")
    assert [e.id for e in eq.triage_queue(session)] == [event.id]


BAD_REPORTS: list[tuple[dict[str, Any], type[Exception]]] = [
    ({"category": "NOPE"}, UnknownCategory),
    ({"lon": float("nan")}, InvalidCoordinates),
    ({"lat": 95.0}, InvalidCoordinates),
    ({"crs": "EPSG:999999"}, UnknownCRS),
    ({"crs": "mars2000"}, UnknownCRS),
    ({"description": "长" * 5001}, PayloadTooLarge),
    ({"lon": None, "lat": None}, InvalidInput),
    ({"priority": "urgent"}, InvalidInput),
    ({"reported_at": dt.datetime(2026, 11, 21, 9, 30)}, InvalidInput),
    ({"source": " "}, InvalidInput),
]


def test_bad_input_is_refused_and_nothing_is_stored(session: Session, county: Router) -> None:
    for changes, error in BAD_REPORTS:
        with pytest.raises(error):
            ingest.ingest_event(session, router=county, payload=report("BAD", **changes), actor="x")
        session.rollback()
    assert count_events(session) == 0
    assert session.scalar(select(func.count()).select_from(EventLog)) == 0


def test_phones_are_masked_for_display() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("0356-1234567") == "035*****4567"
    assert mask_phone(None) is None


HOTLINE_CSV = """工单编号,事项分类,诉求内容,经度,纬度,坐标系,地址,来电人,来电号码,来电时间
H001,ROAD,路灯不亮,112.905,35.79,wgs84,,张三,13800001111,2026-11-21 08:00:00
H002,ROAD,井盖缺失,abc,35.79,wgs84,,李四,13800002222,2026-11-21 08:05:00
H003,VEND,占道经营,,,,西镇幸福路,王五,13800003333,2026-11-21 08:10:00
H004,NOPE,未知事项,112.905,35.79,wgs84,,赵六,13800004444,2026-11-21 08:15:00
"""


def test_a_hotline_export_imports_the_good_rows_and_names_the_bad_lines(
    session: Session, county: Router, tmp_path: Path
) -> None:
    path = tmp_path / "12345.csv"
    path.write_text(HOTLINE_CSV, encoding="utf-8")
    rows = read_hotline_export(path)
    report_ = import_events(session, router=county, rows=rows, actor="import", all_or_nothing=False)
    session.commit()
    assert [line for line, _ in report_.bad] == [3, 5]
    assert "lon" in report_.bad[0][1] and "NOPE" in report_.bad[1][1]
    assert len(report_.created) == 2 and len(report_.unplaced) == 1
    stored = session.scalars(select(Event).order_by(Event.external_id)).all()
    assert [(e.external_id, e.grid_code) for e in stored] == [("H001", f.G1), ("H003", None)]
    assert stored[0].reported_at == dt.datetime(2026, 11, 21, 0, 0, tzinfo=dt.UTC)  # +08:00


def test_an_all_or_nothing_import_with_a_bad_row_stores_nothing(
    session: Session, county: Router, tmp_path: Path
) -> None:
    path = tmp_path / "12345.csv"
    path.write_text(HOTLINE_CSV, encoding="utf-8")
    with pytest.raises(DataFileError, match="line 3"):
        import_events(
            session, router=county, rows=read_hotline_export(path), actor="i", all_or_nothing=True
        )
    session.rollback()
    assert count_events(session) == 0


def test_statistics_per_township_count_received_open_overdue_and_satisfaction(
    session: Session, county: Router
) -> None:
    west, _ = ingest.ingest_event(session, router=county, payload=report("S1"), actor="x")
    ingest.ingest_event(
        session, router=county, payload=report("S2", at=(112.935, 35.81)), actor="x"
    )
    ingest.ingest_event(
        session, router=county, payload=report("S3", at=(112.915, 35.81)), actor="x"
    )
    for action, kw in [
        ("register", {}),
        ("assign", {}),
        ("start", {}),
        ("report_back", {"note": "ok"}),
        ("close", {}),
        ("visit", {"satisfaction": 4}),
    ]:
        ev.act(session, event_id=west.id, action=action, actor="op", **kw)  # type: ignore[arg-type]
    session.commit()
    rows = {r.key: r for r in event_stats(session, by="township")}
    assert set(rows) == {f.T1, f.T2}
    assert (rows[f.T1].received, rows[f.T1].open, rows[f.T1].closed) == (2, 1, 1)
    assert rows[f.T1].closed_on_time == 1 and rows[f.T1].satisfaction == 4.0
    assert rows[f.T1].name == "西镇"
    assert (rows[f.T2].received, rows[f.T2].open, rows[f.T2].satisfaction) == (1, 1, None)
    by_team = {r.key: r.received for r in event_stats(session, by="team")}
    assert by_team[f"T-{f.G1}"] == 1
    with pytest.raises(InvalidInput):
        event_stats(session, by="planet")


def test_statistics_tell_overdue_ever_from_overdue_and_still_open(
    session: Session, county: Router
) -> None:
    late, _ = ingest.ingest_event(session, router=county, payload=report("L1"), actor="x")
    waiting, _ = ingest.ingest_event(session, router=county, payload=report("L2"), actor="x")
    for event in (late, waiting):
        ev.act(session, event_id=event.id, action="register", actor="op")
        ev.act(session, event_id=event.id, action="assign", actor="op")  # the handling clock
    assert waiting.due_at is not None
    later = waiting.due_at + dt.timedelta(minutes=1)
    check_overdue(session, now=later)
    # The overdue check sent both up a level (assigned to the community); one closes late.
    for action, kw in [("start", {}), ("report_back", {"note": "ok"}), ("close", {})]:
        ev.act(session, event_id=late.id, action=action, actor="op", now=later, **kw)  # type: ignore[arg-type]
    session.commit()
    (row,) = event_stats(session, by="township")
    assert (row.overdue, row.open_overdue, row.closed_on_time) == (2, 1, 0)


def test_the_policy_comes_from_settings() -> None:
    policy = EventPolicy.from_settings(Settings(duplicate_distance_m=10, description_max_chars=9))
    assert (policy.duplicate_distance_m, policy.description_max_chars) == (10, 9)


def test_the_import_command_reports_bad_lines_and_honours_all_or_nothing(
    session: Session, county: Router, db_url: str, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from gridmap_cli.events_commands import app

    path = tmp_path / "12345.csv"
    path.write_text(HOTLINE_CSV, encoding="utf-8")
    runner = CliRunner()
    env = {"GRIDMAP_DATABASE_URL": db_url, "GRIDMAP_HOME": str(tmp_path)}
    refused = runner.invoke(app, ["import", str(path)], env=env)
    assert refused.exit_code == 1
    assert "line 3" in refused.output and count_events(session) == 0
    done = runner.invoke(app, ["import", str(path), "--skip-bad"], env=env)
    assert done.exit_code == 0, done.output
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert (summary["created"], [b["line"] for b in summary["bad"]]) == (2, [3, 5])
    assert count_events(session) == 2
    checked = runner.invoke(app, ["check-overdue"], env=env)
    assert checked.exit_code == 0 and json.loads(checked.stdout) == {"overdue": []}
