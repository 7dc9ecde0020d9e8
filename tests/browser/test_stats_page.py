"""The assessment page (/stats) in headless Chromium on the Gaoping demo, as a township
supervisor would use it: this week's ranking of its grids, the trend, the worst grid's
overdue events, the week's event ledger as XLSX and the weekly report as PDF."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text

from geodata.history import load_history
from gridmap.db import make_engine, session_factory
from gridmap.routing.router import Router
from gridmap.settings import Settings
from tests.browser.conftest import ARTIFACTS, Service, WatchedPage, add_user

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(1800)]
PASSWORD = "supervisor-pass-2026"


@pytest.fixture(scope="module")
def with_history(gaoping_service: Service, tmp_path_factory: pytest.TempPathFactory) -> Service:
    """The demo's recent past, walked through the real workflow up to now (the test
    template holds the county alone): this week and this month have events."""
    engine = make_engine(gaoping_service.database_url, pool_size=2)
    sessions = session_factory(engine)
    router = Router(sessions, Settings(home=tmp_path_factory.mktemp("history")))
    router.reload()
    with sessions() as session:
        load_history(session, router=router, county_code="140581", days=10, per_day=30)
        session.commit()
    engine.dispose()
    return gaoping_service


def _township(service: Service, name: str) -> str:
    with service.sessions() as s:
        code: str = s.execute(
            text(
                "SELECT code FROM area WHERE layer = 'township' AND name = :n AND valid_to IS NULL"
            ),
            {"n": name},
        ).scalar_one()
    return code


def _log_in(page: Any, service: Service, username: str) -> None:
    page.goto(f"{service.url}/stats")
    assert "/login" in page.url, "the page asks an anonymous visitor to log in"
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/stats**", timeout=30_000)


def _loaded(page: Any, before: str | None = None) -> str:
    """Wait for the page to have drawn an answer (newer than `before`)."""
    page.wait_for_function(
        "(b) => document.body.dataset.loaded && document.body.dataset.loaded !== b",
        arg=before or "",
        timeout=60_000,
    )
    return str(page.evaluate("document.body.dataset.loaded"))


def test_a_township_supervisor_assesses_its_grids_in_a_few_clicks(
    with_history: Service, watched: WatchedPage
) -> None:
    service = with_history
    beicheng = _township(service, "北城街道")
    add_user(
        service, username="sup-beicheng", role="supervisor", password=PASSWORD, areas=(beicheng,)
    )
    page: Any = watched.page
    _log_in(page, service, "sup-beicheng")
    watched.console_errors.clear()  # the login page is not this page
    stamp = _loaded(page)

    # Chinese by default; this week, ranked by grid (a township's units).
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.locator("#st-period").input_value() == "week"
    assert page.locator("#st-by").input_value() == "grid"
    assert "按期办结率" in page.locator("#st-cards").inner_text()
    # Field work: patrols done against 一日双巡, the rate, km and household visits.
    cards = page.locator("#st-cards").inner_text()
    assert "一日双巡达标率" in cards and "入户走访" in cards and "暂无数据" not in cards
    assert page.locator(".st-card[data-figure=patrols] .st-card-v").inner_text().count("/") == 1
    assert page.locator("#st-all thead").inner_text().count("巡查次数") == 1
    best = page.locator("#st-best tbody tr")
    assert best.count() > 0
    # Only its township's grids (their codes start with the township's).
    keys = page.eval_on_selector_all("#st-all tbody tr", "rs => rs.map(r => r.dataset.key)")
    assert keys and all(k.startswith(beicheng) or k == "" for k in keys)
    # The trend chart is drawn (ECharts on a canvas), one point a day of the week.
    assert page.locator("#st-chart canvas").count() >= 1
    assert page.locator("#st-chart").get_attribute("data-points") == "7"
    # The map is coloured by the ranking's figure.
    page.wait_for_function("Number(document.getElementById('st-map').dataset.coloured) > 0")
    watched.screenshot("stats_township_week")

    # Period change: this month.
    week_text = page.locator("#st-period-text").inner_text()
    page.select_option("#st-period", "month")
    stamp = _loaded(page, stamp)
    assert page.locator("#st-period-text").inner_text() != week_text
    month_received = int(page.locator(".st-card[data-figure=received] .st-card-v").inner_text())
    assert month_received > 0

    # The worst grid by overdue rate, and its overdue events.
    page.select_option("#st-metric", "overdue_rate")
    worst = page.locator("#st-worst tbody tr").first
    overdue_link = worst.locator("td[data-col=overdue] a.st-num")
    shown = int(overdue_link.inner_text())
    overdue_link.click()
    page.wait_for_selector("#st-drill:not([hidden])")
    page.wait_for_function(
        "(n) => document.querySelectorAll('#st-drill-table tbody tr').length === n", arg=shown
    )
    title = page.locator("#st-drill-title").inner_text()
    assert "超期" in title and f"共 {shown} 件" in title
    if shown:
        href = page.locator("#st-drill-table tbody tr a").first.get_attribute("href")
        assert href.startswith("/?q=%23")
    watched.screenshot("stats_township_worst_grid_overdue")
    page.click("#st-drill-close")

    # This month's event ledger as XLSX, from the page's link.
    with page.expect_download() as got:
        page.click(".st-export[data-ledger=events][data-format=xlsx]")
    import openpyxl

    assert got.value.suggested_filename.endswith(".xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(got.value.path().read_bytes())).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "事件编号" and len(rows) - 1 == month_received
    assert {r[rows[0].index("乡镇（街道）")] for r in rows[1:]} == {"北城街道"}

    # The weekly report, printed to PDF by Chromium.
    page.select_option("#st-period", "week")
    _loaded(page, stamp)
    href = page.locator("#st-report").get_attribute("href")
    report = page.context.new_page()
    report.goto(f"{service.url}{href}")
    report.wait_for_selector("body[data-chart=drawn]", timeout=30_000)
    assert "网格化管理周报" in report.locator("h1").inner_text()
    assert report.locator(".rp-table").count() == 2
    pdf = report.pdf(format="A4", print_background=True)
    assert pdf[:5] == b"%PDF-" and len(pdf) > 20_000
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "weekly_report_beicheng.pdf").write_bytes(pdf)
    report.screenshot(path=str(ARTIFACTS / "weekly_report_beicheng.png"), full_page=True)
    report.close()

    assert watched.console_errors == []
    assert watched.hosts == {urlsplit(service.url).netloc}


def test_the_county_view_in_english(with_history: Service, watched: WatchedPage) -> None:
    service = with_history
    add_user(
        service, username="sup-county", role="supervisor", password=PASSWORD, areas=("140581",)
    )
    page: Any = watched.page
    _log_in(page, service, "sup-county")
    watched.console_errors.clear()
    page.goto(f"{service.url}/stats?lang=en")
    _loaded(page)
    assert page.locator("#st-by").input_value() == "township"
    assert "On-time closure rate" in page.locator("#st-cards").inner_text()
    assert page.locator("#st-all tbody tr").count() >= 15
    # Every township with a figure in the page's period is coloured: how many have one
    # depends on the calendar (on the 3rd of a month, "this month" is three days long).
    expected = page.evaluate(
        """async () => {
            const q = new URLSearchParams({by: 'township',
                                           period: document.getElementById('st-period').value});
            const metric = document.getElementById('st-metric').value;
            const body = await (await fetch('/api/stats?' + q)).json();
            return body.rows.filter((r) => r[metric] !== null && r[metric] !== undefined).length;
        }"""
    )
    assert expected >= 5
    page.wait_for_function(
        "n => Number(document.getElementById('st-map').dataset.coloured) === n", arg=expected
    )
    watched.screenshot("stats_county_en")

    # By grid, the county's thousands of units: the table of all units is drawn 200 rows
    # at a time, more as it is scrolled; the first row's figure opens its events.
    stamp = _loaded(page)
    page.select_option("#st-by", "grid")
    _loaded(page, stamp)
    total = page.evaluate(
        """async () => {
            const q = new URLSearchParams({by: 'grid',
                                           period: document.getElementById('st-period').value});
            return (await (await fetch('/api/stats?' + q)).json()).rows.length;
        }"""
    )
    assert total > 400
    assert page.locator("#st-all").get_attribute("data-shown") == f"200/{total}"
    assert page.locator("#st-all tbody tr").count() == 200
    assert page.locator("#st-all-count").inner_text() == f"({total})"
    page.eval_on_selector(".st-scroll:has(#st-all)", "box => { box.scrollTop = box.scrollHeight; }")
    page.wait_for_function("() => document.querySelectorAll('#st-all tbody tr').length === 400")
    first = page.locator("#st-all tbody tr").first
    key = first.get_attribute("data-key")
    first.locator("td[data-col=received] a.st-num").click()
    page.wait_for_selector("#st-drill:not([hidden])")
    name = first.locator("td").nth(1).inner_text()
    assert name in page.locator("#st-drill-title").inner_text() and key
    page.click("#st-drill-close")
    assert watched.console_errors == []
