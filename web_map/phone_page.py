"""The grid worker's phone page `/m` (网格员移动端): a pure function from the language to HTML,
its web app manifest, and its labels.

No folium and no inline script (the strict Content-Security-Policy): the configuration
travels in a `data-config` attribute and the behaviour lives in /static/js/phone*.js.
Only Leaflet's core is loaded (no plugins): the page must be light on a village's signal.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from web_map.assets import STATIC_URL, VENDOR_URL, module_graph, module_tags
from web_map.constants import page_constants

LEAFLET_JS = f"{VENDOR_URL}/leaflet/dist/leaflet.js"
LEAFLET_CSS = f"{VENDOR_URL}/leaflet/dist/leaflet.css"
# Classic scripts: the outbox is also the service worker's (importScripts, which takes
# no modules), the basemap is shared with the map pages and starts itself.
PHONE_CLASSIC_JS = (
    f"{STATIC_URL}/js/phone_outbox.js",
    # The county's basemap, drawn once the page is usable (its plugin loads then).
    f"{STATIC_URL}/js/basemap.js",
)
# The page's own code: an ES module and what it imports (the API client, common.js).
PHONE_MODULE = "phone.js"
PHONE_JS = (*PHONE_CLASSIC_JS, *module_graph(PHONE_MODULE))
PHONE_CSS = f"{STATIC_URL}/css/phone.css"
ICONS = (f"{STATIC_URL}/img/phone-192.png", f"{STATIC_URL}/img/phone-512.png")
MANIFEST_URL = "/m/manifest.webmanifest"
SW_URL = "/m/sw.js"
FAVICON = f"{STATIC_URL}/img/favicon.svg"
# Everything the page needs to open with no signal; the service worker keeps these.
SHELL = (LEAFLET_JS, LEAFLET_CSS, *PHONE_JS, PHONE_CSS, MANIFEST_URL, *ICONS, FAVICON)

LABELS: dict[str, dict[str, str]] = {
    "zh": {
        "title": "网格员",
        "my_grid": "我的网格",
        "report": "上报",
        "tasks": "待办",
        "today": "今日",
        "desktop": "电脑版",
        "pending": "待发送 {n}",
        "sending": "发送中…",
        "sent": "已发送",
        "saved_offline": "已保存，有信号时自动发送",
        "category": "类别",
        "search_category": "搜索类别",
        "photos": "照片",
        "add_photo": "拍照",
        "place": "位置（可拖动图钉）",
        "responsible": "责任单位",
        "colon": "：",
        "responsible_unknown": "无法确定（离线或网格外）",
        "description": "描述（可选）",
        "send": "发送",
        "cancel": "取消",
        "no_position": "正在定位…",
        "position_failed": "无法定位：请拖动图钉到事发地点",
        "choose_category": "请选择类别",
        "need_place": "请确定位置",
        "households": "户",
        "buildings": "楼栋",
        "open_events": "未办结事件",
        "accuracy": "精度 {m} 米",
        "no_tasks": "暂无待办",
        "due": "处置时限",
        "response_due": "响应时限",
        "overdue": "已超期",
        "start": "开始处置",
        "report_back": "处置反馈",
        "return": "退回",
        "navigate": "导航",
        "call": "联系上报人",
        "note": "处置说明",
        "after_photo": "处置后照片",
        "reason": "退回原因",
        "done": "已提交",
        "failed": "失败",
        "offline": "离线",
        "reports_today": "上报",
        "tasks_handled": "处置反馈",
        "tasks_started": "开始处置",
        "tasks_returned": "退回",
        "status_reported": "已上报",
        "status_registered": "已立案",
        "status_assigned": "已派遣",
        "status_in_progress": "处置中",
        "status_reported_back": "已反馈",
        "status_returned": "已退回",
        "task_pending": "待发送",
        "error_network": "网络不可用",
        "error_status": "服务器错误 {status}",
        "error_illegal_transition": "当前状态（{state}）不能这样操作",
        "error_permission_denied": "无权操作",
        "error_not_found": "不存在或不在辖区内",
        "lang_other": "EN",
        "patrol_start": "开始巡查",
        "patrol_end": "结束巡查",
        "patrolling": "巡查中 {m} 米",
        "patrols": "巡查（一日双巡）",
        "patrol_distance_m": "巡查里程（米）",
        "patrol_minutes": "巡查时长（分钟）",
        "visits": "走访",
        "visit": "记录走访",
        "visit_routine": "常规走访",
        "visit_special_care": "特殊关爱户",
        "visit_dispute": "矛盾纠纷回访",
        "visit_note": "走访记录",
    },
    "en": {
        "title": "Grid worker",
        "my_grid": "My grid",
        "report": "Report",
        "tasks": "Tasks",
        "today": "Today",
        "desktop": "Desktop view",
        "pending": "To send {n}",
        "sending": "Sending…",
        "sent": "Sent",
        "saved_offline": "Saved; it goes when there is a signal",
        "category": "Category",
        "search_category": "Search categories",
        "photos": "Photos",
        "add_photo": "Take photo",
        "place": "Place (drag the pin)",
        "responsible": "Responsible",
        "colon": ": ",
        "responsible_unknown": "Unknown (offline or outside the grids)",
        "description": "Description (optional)",
        "send": "Send",
        "cancel": "Cancel",
        "no_position": "Locating…",
        "position_failed": "No position: drag the pin to the place",
        "choose_category": "Choose a category",
        "need_place": "Set the place",
        "households": "households",
        "buildings": "buildings",
        "open_events": "open events",
        "accuracy": "accuracy {m} m",
        "no_tasks": "Nothing to do",
        "due": "Due",
        "response_due": "Respond by",
        "overdue": "Overdue",
        "start": "Start handling",
        "report_back": "Report back",
        "return": "Return",
        "navigate": "Navigate",
        "call": "Call the reporter",
        "note": "Note",
        "after_photo": "After photo",
        "reason": "Reason",
        "done": "Done",
        "failed": "Failed",
        "offline": "Offline",
        "reports_today": "Reports",
        "tasks_handled": "Reported back",
        "tasks_started": "Started",
        "tasks_returned": "Returned",
        "status_reported": "Reported",
        "status_registered": "Registered",
        "status_assigned": "Assigned",
        "status_in_progress": "In progress",
        "status_reported_back": "Reported back",
        "status_returned": "Returned",
        "task_pending": "to send",
        "error_network": "No network",
        "error_status": "Server error {status}",
        "error_illegal_transition": "Not possible in the current state ({state})",
        "error_permission_denied": "Not allowed",
        "error_not_found": "Not found or not in your area",
        "lang_other": "中文",
        "patrol_start": "Start patrol",
        "patrol_end": "End patrol",
        "patrolling": "On patrol {m} m",
        "patrols": "Patrols (twice a day)",
        "patrol_distance_m": "Patrol distance (m)",
        "patrol_minutes": "Patrol time (min)",
        "visits": "Visits",
        "visit": "Record a visit",
        "visit_routine": "Routine",
        "visit_special_care": "Special-care household",
        "visit_dispute": "Dispute follow-up",
        "visit_note": "Visit note",
    },
}


def phone_labels(lang: str) -> dict[str, str]:
    return LABELS["en" if lang == "en" else "zh"]


def _attr(data: dict[str, Any]) -> str:
    return escape(json.dumps(data, ensure_ascii=False), quote=True)


def build_phone_page(
    *, lang: str, tile_url: str | None, may: dict[str, bool], user: str, county: str | None
) -> str:
    """The whole page; the data (grid, tasks) comes from /api/phone/… by phone.js."""
    lang = "en" if lang == "en" else "zh"
    t = phone_labels(lang)
    other = "zh" if lang == "en" else "en"
    config = {
        "lang": lang,
        "labels": t,
        "tileUrl": tile_url,
        "may": may,
        "user": user,
        "county": county,
        "sw": SW_URL,
        # The states the map's open events are in: the server's list, not a copy.
        "constants": {"openStates": page_constants()["openStates"]},
    }
    e = escape
    scripts = "\n".join(
        f'<script src="{src}" defer></script>' for src in (LEAFLET_JS, *PHONE_CLASSIC_JS)
    )
    # Deferred like the classic ones and run after them, in order (L and GridmapOutbox set).
    scripts += "\n" + module_tags(PHONE_MODULE)
    return f"""<!DOCTYPE html>
<html lang="{"zh-CN" if lang == "zh" else "en"}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover">
<meta name="theme-color" content="#b71c1c">
<title>{e(t["title"])}</title>
<link rel="manifest" href="{MANIFEST_URL}">
<link rel="icon" type="image/svg+xml" href="{FAVICON}">
<link rel="apple-touch-icon" href="{ICONS[0]}">
<link rel="stylesheet" href="{LEAFLET_CSS}">
<link rel="stylesheet" href="{PHONE_CSS}">
{scripts}
</head>
<body id="ph-body" data-config="{_attr(config)}">
<header class="ph-top">
  <span class="ph-brand">{e(t["title"])} · {e(user)}</span>
  <span id="ph-pending" class="ph-pending" hidden></span>
  <span id="ph-net" class="ph-net" hidden>{e(t["offline"])}</span>
  <a class="ph-link" href="?lang={other}" lang="{other}">{e(t["lang_other"])}</a>
  <a class="ph-link" href="/">{e(t["desktop"])}</a>
</header>
<main class="ph-main">
  <section id="ph-view-map" class="ph-view">
    <div id="ph-map" class="ph-map"></div>
    <div id="ph-grid-info" class="ph-info"></div>
    <button id="ph-report-btn" class="ph-big" type="button">{e(t["report"])}</button>
    <button id="ph-patrol-btn" class="ph-patrol" type="button" hidden>
      {e(t["patrol_start"])}</button>
  </section>
  <section id="ph-view-tasks" class="ph-view" hidden>
    <ul id="ph-tasks" class="ph-list"></ul>
  </section>
  <section id="ph-view-today" class="ph-view" hidden>
    <div id="ph-today" class="ph-cards"></div>
  </section>
</main>
<form id="ph-report" class="ph-sheet" hidden>
  <h2>{e(t["report"])}</h2>
  <label>{e(t["category"])}
    <input id="ph-cat-search" type="search" placeholder="{e(t["search_category"])}"
      autocomplete="off"></label>
  <div id="ph-cats" class="ph-cats" role="listbox"></div>
  <label class="ph-photo-btn">{e(t["add_photo"])}
    <input id="ph-photo" type="file" accept="image/*" capture="environment" multiple></label>
  <div id="ph-thumbs" class="ph-thumbs"></div>
  <div class="ph-field">{e(t["place"])}</div>
  <div id="ph-pick" class="ph-pick"></div>
  <div id="ph-who" class="ph-who" aria-live="polite"></div>
  <label>{e(t["description"])}<textarea id="ph-desc" rows="2" maxlength="2000"></textarea></label>
  <p id="ph-report-msg" class="ph-msg" role="alert"></p>
  <div class="ph-actions">
    <button id="ph-cancel" type="button">{e(t["cancel"])}</button>
    <button id="ph-send" class="ph-primary" type="submit">{e(t["send"])}</button>
  </div>
</form>
<div id="ph-toast" class="ph-toast" role="status" hidden></div>
<nav class="ph-tabs">
  <button type="button" data-view="map" class="ph-tab ph-on">{e(t["my_grid"])}</button>
  <button type="button" data-view="tasks" class="ph-tab">{e(t["tasks"])}
    <span id="ph-task-count"></span></button>
  <button type="button" data-view="today" class="ph-tab">{e(t["today"])}</button>
</nav>
</body>
</html>
"""


def manifest(lang: str) -> dict[str, Any]:
    """The web app manifest: what makes /m installable (name, icons, start URL, display)."""
    t = phone_labels(lang)
    return {
        "name": "gridmap " + t["title"],
        "short_name": t["title"],
        "lang": "zh-CN" if lang != "en" else "en",
        "start_url": "/m",
        "scope": "/m",
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#ffffff",
        "theme_color": "#b71c1c",
        "icons": [
            {"src": ICONS[0], "sizes": "192x192", "type": "image/png", "purpose": "any"},
            {"src": ICONS[1], "sizes": "512x512", "type": "image/png", "purpose": "any"},
        ],
    }
