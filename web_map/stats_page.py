"""The assessment page (考核) `/stats` and the printable weekly report (周报): pure functions
from labels and figures to HTML.

No inline script and no inline event handler (the pages run under a strict
Content-Security-Policy): the page's configuration travels in a `data-config` attribute
and its behaviour in /static/js/stats.js; the weekly report's chart is drawn by
/static/js/report.js from the figures in a `data-` attribute.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from typing import Any

from gridmap.events import FIELD_FIGURES, GROUP_LABELS, RATES
from web_map.assets import STATIC_URL, VENDOR_URL, module_tags
from web_map.i18n import stats_labels

# The figures a ranking or the map can be coloured by, and which way is better.
METRICS: dict[str, str] = {
    "on_time_rate": "high",
    "overdue_rate": "low",
    "satisfaction": "high",
    "visit_rate": "high",
    "returned_rate": "low",
    "response_on_time_rate": "high",
    "response_median_hours": "low",
    "handling_median_hours": "low",
    "received": "none",
    "patrol_rate": "high",
    "patrol_km": "none",
    "household_visits": "none",
}
# The field work's columns (patrols and household visits: stats.FIELD_FIGURES) are shown for
# these groupings only (a department or a category does not patrol).
FIELD_GROUPS = ("township", "community", "grid", "team", "grid_worker")
PERIOD_CHOICES = ("today", "week", "last_week", "month", "last_month", "custom")
LEDGERS = ("events", "assessment", "return_visits")
ECHARTS_JS = f"{VENDOR_URL}/echarts/dist/echarts.min.js"
LEAFLET_JS = f"{VENDOR_URL}/leaflet/dist/leaflet.js"
LEAFLET_CSS = f"{VENDOR_URL}/leaflet/dist/leaflet.css"


def _attr(data: dict[str, Any]) -> str:
    return escape(json.dumps(data, ensure_ascii=False), quote=True)


def labels_with_field(lang: str) -> dict[str, str]:
    """The page's labels and the field-work figures' names (`m_patrols`, …)."""
    t = dict(stats_labels(lang))
    for f in FIELD_FIGURES:
        t.setdefault(f"m_{f.name}", f.zh if lang == "zh" else f.en)
    return t


def build_stats_page(*, lang: str, default_by: str, tile_url: str | None = None) -> str:
    """The whole page. Figures come later, from /api/stats…, written by stats.js as text."""
    t = labels_with_field(lang)
    other, other_label = ("en", "EN") if lang == "zh" else ("zh", "中文")
    group_names = {k: (zh if lang == "zh" else en) for k, (zh, en) in GROUP_LABELS.items()}
    config: dict[str, Any] = {
        "lang": lang,
        "labels": t,
        "groups": group_names,
        "metrics": METRICS,
        "rates": [r.name for r in RATES],
        "field": [f.name for f in FIELD_FIGURES],
        "fieldGroups": list(FIELD_GROUPS),
        "defaultBy": default_by,
        "ledgers": list(LEDGERS),
        "tileUrl": tile_url,
    }
    periods = "".join(
        f'<option value="{p}"{" selected" if p == "week" else ""}>{escape(t["period_" + p])}'
        "</option>"
        for p in PERIOD_CHOICES
    )
    groups = "".join(
        f'<option value="{k}"{" selected" if k == default_by else ""}>'
        f"{escape(group_names[k])}</option>"
        for k in GROUP_LABELS
    )
    metrics = "".join(f'<option value="{m}">{escape(t["m_" + m])}</option>' for m in METRICS)
    exports = "".join(
        f'<a class="st-export" data-ledger="{k}" data-format="xlsx" href="#">'
        f"{escape(t['ledger_' + k])} XLSX</a>"
        for k in LEDGERS
    )
    return f"""<!DOCTYPE html>
<html lang="{"zh-CN" if lang == "zh" else "en"}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(t["page_title"])}</title>
<link rel="icon" type="image/svg+xml" href="{STATIC_URL}/img/favicon.svg">
<link rel="stylesheet" href="{LEAFLET_CSS}">
<link rel="stylesheet" href="{STATIC_URL}/css/stats.css">
<script src="{LEAFLET_JS}" defer></script>
<script src="{ECHARTS_JS}" defer></script>
{module_tags("stats.js")}
</head>
<body id="st-body" data-config="{_attr(config)}">
<header class="st-top">
  <div class="st-brand">{escape(t["brand"])}</div>
  <nav class="st-controls">
    <label>{escape(t["period"])} <select id="st-period">{periods}</select></label>
    <span id="st-custom" hidden>
      <input id="st-from" type="date" aria-label="{escape(t["from"])}"> –
      <input id="st-to" type="date" aria-label="{escape(t["to"])}">
      <button id="st-apply" type="button">{escape(t["apply"])}</button>
    </span>
    <label>{escape(t["area"])} <select id="st-area">
      <option value="">{escape(t["area_all"])}</option></select></label>
    <label>{escape(t["group_by"])} <select id="st-by">{groups}</select></label>
    <label>{escape(t["metric"])} <select id="st-metric">{metrics}</select></label>
  </nav>
  <a class="st-link" href="/">{escape(t["to_map"])}</a>
  <a class="st-link" href="?lang={other}" lang="{other}">{other_label}</a>
</header>
<main class="st-main">
  <section class="st-period-line"><span id="st-period-text"></span>
    <span id="st-status" class="st-status" aria-live="polite"></span></section>
  <section id="st-cards" class="st-cards" aria-label="{escape(t["headline"])}"></section>
  <section class="st-exports"><span>{escape(t["ledgers"])}</span>{exports}
    <a id="st-report" class="st-export" href="#" data-ledger="weekly">{escape(t["weekly"])}</a>
    <a id="st-events-csv" class="st-export" href="#" data-ledger="events"
       data-format="csv">{escape(t["ledger_events"])} CSV</a>
  </section>
  <section class="st-grid2">
    <div class="st-box"><h2>{escape(t["trend"])}</h2>
      <div id="st-chart" class="st-chart"></div></div>
    <div class="st-box"><h2>{escape(t["map"])} <span id="st-map-metric"></span></h2>
      <div id="st-map" class="st-map"></div><div id="st-legend" class="st-legend"></div></div>
  </section>
  <section class="st-grid2">
    <div class="st-box"><h2>{escape(t["best"])}</h2>
      <table id="st-best" class="st-table"></table></div>
    <div class="st-box"><h2>{escape(t["worst"])}</h2>
      <table id="st-worst" class="st-table"></table></div>
  </section>
  <section class="st-box"><h2>{escape(t["all_units"])} <span id="st-all-count"></span></h2>
    <div class="st-scroll"><table id="st-all" class="st-table"></table></div></section>
</main>
<aside id="st-drill" class="st-drill" hidden>
  <button id="st-drill-close" type="button" title="{escape(t["close"])}">×</button>
  <h2 id="st-drill-title"></h2>
  <div class="st-scroll"><table id="st-drill-table" class="st-table"></table></div>
</aside>
</body>
</html>
"""


def build_weekly_report(
    *,
    lang: str,
    title: str,
    period_text: str,
    generated: str,
    total: dict[str, Any],
    ranking: Sequence[dict[str, Any]],
    ranking_by: str,
    series: Sequence[dict[str, Any]],
    oldest_open: Sequence[dict[str, Any]],
) -> str:
    """The printable weekly report (周报): headline figures, the ranking, the trend chart
    and the ten oldest open events. Print it (or Chromium's print to PDF) as is."""
    t = labels_with_field(lang)

    def pct(v: Any) -> str:
        return "–" if v is None else f"{v * 100:.1f}%"

    def num(v: Any) -> str:
        return "–" if v is None else str(v)

    heads = [
        ("received", num(total.get("received"))),
        ("closed", num(total.get("closed"))),
        ("on_time_rate", pct(total.get("on_time_rate"))),
        ("overdue_rate", pct(total.get("overdue_rate"))),
        ("open_overdue", num(total.get("open_overdue"))),
        ("response_median_hours", num(total.get("response_median_hours"))),
        ("handling_median_hours", num(total.get("handling_median_hours"))),
        ("satisfaction", num(total.get("satisfaction"))),
        ("visit_rate", pct(total.get("visit_rate"))),
        ("patrols", f"{num(total.get('patrols'))} / {num(total.get('patrols_required'))}"),
        ("patrol_rate", pct(total.get("patrol_rate"))),
        ("patrol_km", num(total.get("patrol_km"))),
        ("household_visits", num(total.get("household_visits"))),
    ]
    cards = "".join(
        f'<div class="rp-card"><div class="rp-v">{escape(v)}</div>'
        f'<div class="rp-l">{escape(t["m_" + k])}</div></div>'
        for k, v in heads
    )
    cols: tuple[str, ...] = ("received", "closed", "on_time_rate", "overdue_rate", "satisfaction")
    if ranking and ranking[0].get("patrols") is not None:
        cols += ("patrol_rate", "household_visits")
    rank_rows = "".join(
        f"<tr><td>{i}</td><td>{escape(r.get('name') or r.get('key') or t['unplaced'])}</td>"
        + "".join(
            f"<td>{escape(pct(r.get(c)) if c.endswith('rate') else num(r.get(c)))}</td>"
            for c in cols
        )
        + "</tr>"
        for i, r in enumerate(ranking, 1)
    )
    rank_head = "".join(f"<th>{escape(t['m_' + c])}</th>" for c in cols)
    old_rows = "".join(
        f"<tr><td>{e['id']}</td><td>{escape(e['received_at'])}</td>"
        f"<td>{escape(e.get('category') or '')}</td><td>{escape(e.get('place') or '')}</td>"
        f"<td>{escape(e.get('team') or '')}</td><td>{escape(e.get('status') or '')}</td>"
        f"<td>{'⚠' if e.get('overdue') else ''}</td></tr>"
        for e in oldest_open
    )
    chart = _attr({"lang": lang, "labels": t, "points": list(series)})
    return f"""<!DOCTYPE html>
<html lang="{"zh-CN" if lang == "zh" else "en"}">
<head>
<meta charset="utf-8">
<title>{escape(title)}</title>
<link rel="stylesheet" href="{STATIC_URL}/css/stats.css">
<script src="{ECHARTS_JS}" defer></script>
<script type="module" src="{STATIC_URL}/js/report.js"></script>
</head>
<body class="rp-body">
<h1>{escape(title)}</h1>
<p class="rp-sub">{escape(period_text)} · {escape(t["generated"])} {escape(generated)}</p>
<section class="rp-cards">{cards}</section>
<h2>{escape(t["trend"])}</h2>
<div id="rp-chart" class="rp-chart" data-chart="{chart}"></div>
<h2>{escape(t["ranking"])} · {escape(ranking_by)}</h2>
<table class="rp-table"><thead><tr><th>#</th><th>{escape(t["unit"])}</th>{rank_head}</tr></thead>
<tbody>{rank_rows}</tbody></table>
<h2>{escape(t["oldest_open"])}</h2>
<table class="rp-table"><thead><tr><th>ID</th><th>{escape(t["received_at"])}</th>
<th>{escape(t["category"])}</th><th>{escape(t["place"])}</th><th>{escape(t["team"])}</th>
<th>{escape(t["status"])}</th><th>{escape(t["m_overdue"])}</th></tr></thead>
<tbody>{old_rows or f'<tr><td colspan="7">{escape(t["none"])}</td></tr>'}</tbody></table>
</body>
</html>
"""
