"""The reports the service makes on its own (issue #21: "a scheduled job produces the daily
and weekly reports and keeps them for download"), on real PostGIS: made once per period
and area by one process, listed and served in the caller's jurisdiction only."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.reports import LOCK_KEY, produce_reports
from gridmap.db import make_engine, session_factory
from gridmap.periodic import take_turn
from gridmap.routing.router import Router
from gridmap.settings import Settings
from tests import factories as f
from tests.county_users import county_with_accounts
from tests.logins import login, service_with_login
from tests.test_assessment import _walk

# Tuesday 24 November 2026, 02:00 in China: yesterday is Monday 23rd, last week 16–22.
NOW = dt.datetime(2026, 11, 23, 18, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def county_url(server_url: str, small_county_template: str) -> Iterator[str]:
    users = [("county-sup", "supervisor", [f.COUNTY]), ("west-sup", "supervisor", [f.T1])]
    yield from county_with_accounts(server_url, small_county_template, prefix="rep", users=users)


@pytest.fixture(scope="module")
def made(county_url: str, tmp_path_factory: pytest.TempPathFactory) -> list[int]:
    engine = make_engine(county_url, pool_size=2)
    sessions = session_factory(engine)
    router = Router(sessions, Settings(home=tmp_path_factory.mktemp("home")))
    router.reload()
    with sessions() as session:
        _walk(session, router, 24)
        session.commit()
    # Another process making the reports right now: this one leaves it to it.
    with sessions() as holder, sessions() as other:
        assert take_turn(holder, LOCK_KEY)
        assert produce_reports(other, now=NOW) == []
        holder.rollback()
    with sessions() as session:
        made = produce_reports(session, now=NOW)
        assert produce_reports(session, now=NOW) == []  # each report once
    engine.dispose()
    return made


@pytest.fixture(scope="module")
def app(county_url: str, made: list[int], tmp_path_factory) -> Iterator[TestClient]:
    yield from service_with_login(county_url, tmp_path_factory.mktemp("svc"))


def test_daily_and_weekly_reports_of_the_county_and_each_township(
    made: list[int], county_url: str
) -> None:
    assert len(made) == 6  # (county + 2 townships) × (daily, weekly)
    engine = make_engine(county_url, pool_size=1)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT kind, area_code, period_from, period_to FROM stats_report ORDER BY 1, 2")
        ).all()
    engine.dispose()
    weekly = {r.area_code: (r.period_from, r.period_to) for r in rows if r.kind == "weekly"}
    daily = {r.area_code: (r.period_from, r.period_to) for r in rows if r.kind == "daily"}
    assert set(weekly) == set(daily) == {f.COUNTY, f.T1, f.T2}
    assert set(weekly.values()) == {(dt.date(2026, 11, 16), dt.date(2026, 11, 22))}
    assert set(daily.values()) == {(dt.date(2026, 11, 23), dt.date(2026, 11, 23))}


def test_reports_are_listed_and_served_in_the_jurisdiction_only(app: TestClient) -> None:
    answer = login(app, "county-sup").get("/api/reports")
    assert answer.status_code == 200, answer.text
    county = answer.json()["reports"]
    assert len(county) == 6
    west = login(app, "west-sup")
    mine = west.get("/api/reports").json()["reports"]
    assert {(r["kind"], r["area_code"]) for r in mine} == {("daily", f.T1), ("weekly", f.T1)}
    weekly = next(r for r in mine if r["kind"] == "weekly")
    page = west.get(weekly["url"])
    assert page.status_code == 200
    assert "西镇" in page.text and "周报" in page.text
    assert (
        west.get(weekly["url"], params={"download": "true"})
        .headers["content-disposition"]
        .startswith("attachment")
    )
    other = next(r for r in county if r["area_code"] == f.T2)
    assert west.get(other["url"]).status_code == 404
    assert west.get("/api/reports", params={"kind": "monthly"}).status_code == 422


def test_the_weekly_report_holds_the_week_s_figures(app: TestClient) -> None:
    sup = login(app, "county-sup")
    weekly = next(
        r
        for r in sup.get("/api/reports", params={"kind": "weekly"}).json()["reports"]
        if r["area_code"] == f.COUNTY
    )
    stored = sup.get(weekly["url"]).text
    received = sup.get(
        "/api/stats", params={"period": "custom", "from": "2026-11-16", "to": "2026-11-22"}
    ).json()["total"]["received"]
    assert received > 0
    assert f'<div class="rp-v">{received}</div>' in stored
