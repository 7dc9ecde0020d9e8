"""The command view page (一张图): a pure function from settings and labels to the page's HTML."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import Any

import folium
import folium.plugins
from branca.element import MacroElement
from folium.elements import JSCSSMixin

from gridmap.errors import InvalidInput
from gridmap.events import RULES, STATES
from gridmap.models import PRIORITIES
from web_map.assets import STATIC_URL
from web_map.constants import page_constants
from web_map.i18n import labels
from web_map.page_assets import CHINA, Bounds, map_figure, render_map_page

# The map layers the page draws, bottom to top, as the OGC collections name them.
AREA_LAYERS = ("county", "township", "community", "enforcement_zone", "grid")
STATUSES = STATES
WINDOWS = ("today", "24h", "7d", "30d", "all")
# The queue each header counter opens (gridmap.events.queues.QUEUES names).
COUNTER_QUEUES = {
    "received": "to_register",
    "open": "handling",
    "overdue": "overdue",
    "closed_on_time": "to_visit",
}
# The parts of the HTTP API the page can use; `api/pages.py` says which ones the running
# service has, so the page never calls a missing endpoint (a 404 is a console error).
API_FEATURES = (
    "ogc",
    "tiles",
    "basemap",
    "patrols",
    "locate",
    "categories",
    "events",
    "event",
    "event_log",
    "event_actions",
    "place",
    "triage",
    "photos",
    "stream",
    "stats",
    "queues",
    "acknowledge",
    "me",
    "logout",
    "reporter",
    "team_candidates",
)
# Up to this many polygons a layer travels as GeoJSON; above it, as vector tiles.
GEOJSON_MAX_FEATURES = 3000


class _CommandViewAssets(JSCSSMixin, MacroElement):
    """The plugins' classic scripts and the page's styles. The page's own code is ES
    modules (command_view.js and what it imports, `module_tags`): they run once the page is
    parsed, after folium's set-up script has made the map, and start it themselves."""

    def __init__(self) -> None:
        super().__init__()
        self._name = "GridmapCommandView"
        # folium's own plugin asset lists (localize() points them at our copies), so the
        # versions and files stay those the plugins were written against.
        self.default_js = [
            *folium.plugins.MarkerCluster.default_js,
            *folium.plugins.HeatMap.default_js,
            *folium.plugins.VectorGridProtobuf.default_js,
            # Classic and self-starting (the phone's page loads basemap.js too).
            ("gm_basemap_js", f"{STATIC_URL}/js/basemap.js"),
            # The grid workers on patrol (the phone's patrols, issue #20).
            ("gm_workers_js", f"{STATIC_URL}/js/phone_workers_layer.js"),
        ]
        self.default_css = [
            *folium.plugins.MarkerCluster.default_css,
            ("gm_command_view_css", f"{STATIC_URL}/css/command_view.css"),
            ("gm_basemap_css", f"{STATIC_URL}/css/basemap.css"),
        ]


def _options(
    values: Iterable[str], label_prefix: str, t: dict[str, str], *, first: Iterable[str] = ()
) -> str:
    """A filter's choices: `first` are summary choices before 全部, the first one selected
    (the status filter opens on open work: history is asked for)."""
    items = [
        f'<option value="{escape(v)}"{" selected" if i == 0 else ""}>'
        f"{escape(t[label_prefix + v])}</option>"
        for i, v in enumerate(first)
    ]
    items += [f'<option value="">{escape(t["all"])}</option>']
    items += [f'<option value="{escape(v)}">{escape(t[label_prefix + v])}</option>' for v in values]
    return "".join(items)


def _chrome(t: dict[str, str], *, lang: str, query: str) -> str:
    """The panels around the map. Only labels and the escaped query go in; data comes later
    through the JavaScript, which writes it as text."""
    other_lang, other_label = ("en", "EN") if lang == "zh" else ("zh", "中文")
    counters = "".join(
        f'<button type="button" class="gm-counter gm-counter-{name}" data-counter="{name}"'
        f' data-queue="{COUNTER_QUEUES[name]}">'
        f'<span class="gm-counter-value">–</span>'
        f'<span class="gm-counter-label">{escape(t["counter_" + name])}</span></button>'
        for name in ("received", "open", "overdue", "closed_on_time")
    )
    status_options = _options(STATUSES, "status_", t, first=("open", "overdue"))
    alert_choices = "".join(
        f'<label><input type="checkbox" name="gm-alert-priority" value="{p}"> '
        f"{escape(t['priority_' + p])}</label>"
        for p in PRIORITIES
    )
    windows = "".join(
        f'<option value="{w}"{" selected" if w == "all" else ""}>{escape(t["window_" + w])}'
        "</option>"
        for w in WINDOWS
    )
    return f"""
<header id="gm-top" class="gm-bar">
  <div class="gm-brand">{escape(t["brand"])}</div>
  <div class="gm-counters">{counters}</div>
  <form id="gm-search" role="search" autocomplete="off">
    <input id="gm-search-input" type="search" value="{escape(query)}"
           placeholder="{escape(t["search_placeholder"])}"
           aria-label="{escape(t["search_placeholder"])}">
  </form>
  <div id="gm-live" class="gm-live" data-state="off">{escape(t["live_unavailable"])}</div>
  <button id="gm-sound" type="button" class="gm-sound" data-on="false">
    {escape(t["sound_enable"])}</button>
  <button id="gm-my-area" type="button" class="gm-my-area" hidden>{escape(t["my_area"])}</button>
  <div id="gm-user" class="gm-user" hidden><span id="gm-user-name"></span>
    <button id="gm-logout" type="button">{escape(t["logout"])}</button></div>
  <a class="gm-lang" href="?lang={other_lang}" lang="{other_lang}">{other_label}</a>
</header>
<nav id="gm-filters" class="gm-bar">
  <label>{escape(t["filter_status"])}
    <select id="gm-filter-status">{status_options}</select></label>
  <label>{escape(t["filter_priority"])}
    <select id="gm-filter-priority">{_options(PRIORITIES, "priority_", t)}</select></label>
  <label>{escape(t["filter_category"])}
    <select id="gm-filter-category"><option value="">{escape(t["all"])}</option></select></label>
  <label>{escape(t["filter_township"])}
    <select id="gm-filter-township"><option value="">{escape(t["all"])}</option></select></label>
  <label>{escape(t["filter_window"])}
    <select id="gm-filter-window">{windows}</select></label>
</nav>
<div id="gm-search-results" class="gm-popover" hidden></div>
<aside id="gm-panel" aria-live="polite" hidden>
  <button id="gm-panel-close" type="button" title="{escape(t["panel_close"])}">×</button>
  <div id="gm-panel-body"></div>
</aside>
<section id="gm-triage" hidden>
  <h2>{escape(t["triage"])} <span id="gm-triage-count"></span></h2>
  <ol id="gm-triage-list"></ol>
</section>
<aside id="gm-queues" aria-label="{escape(t["queues"])}">
  <h2>{escape(t["queues"])}</h2>
  <details id="gm-alert-settings"><summary>{escape(t["alert_settings"])}</summary>
    <p class="gm-muted">{escape(t["alert_settings_hint"])}</p>{alert_choices}</details>
  <div id="gm-queue-list"></div>
</aside>
<div id="gm-alerts" aria-live="assertive"></div>
<div id="gm-hint" hidden></div>
"""


def build_command_view(
    *,
    lang: str = "zh",
    tile_url: str | None = None,
    tile_attribution: str = "",
    bounds: Bounds | None = None,
    api_features: Iterable[str] = (),
    query: str = "",
    version: int | None = None,
    may_act: Iterable[str] | None = None,
    categories: list[dict[str, Any]] | None = None,
    me: dict[str, Any] | None = None,
) -> str:
    """The whole command view page as HTML.

    `tile_url` is an optional basemap (none is needed: the county's own layers are the map);
    `bounds` the first view (west, south, east, north), else the page fits to the county
    layer once it arrives; `api_features` which parts of the API the service has (names from
    API_FEATURES); `query` pre-fills the search box; `version` the active boundary version
    (tile URLs carry it; without it the page asks /health); `may_act` the workflow actions
    the viewer's role may take (None: all); `categories` (the responsibility list) and `me`
    (who is logged in) are what the page would otherwise ask for first, one after the
    other, before its layers, events and queues (None: the page asks). Every asset comes
    from this service:
    a CDN link left in the page raises ConfigurationError.
    """
    t = labels(lang)
    features = sorted(set(api_features))
    unknown = [f for f in features if f not in API_FEATURES]
    if unknown:
        raise InvalidInput(
            f"unknown API feature(s) {unknown}: known are {', '.join(API_FEATURES)}",
            details={"field": "api_features", "unknown": unknown},
        )
    # The map's set-up script is the same for every caller (it is served as a file, see
    # web_map/page_assets.py): the caller's own view travels in the page's data and is
    # fitted by the page's script before anything is drawn.
    west, south, east, north = bounds or CHINA
    # The page's code is the command view and its workbench (queues, alerts, legend, who
    # is logged in).
    figure, m = map_figure(
        title=t["page_title"],
        tile_url=tile_url,
        tile_attribution=tile_attribution,
        assets=_CommandViewAssets(),
        entry="command_view.js",
        chrome=_chrome(t, lang=lang, query=query),
    )
    config = {
        "lang": lang,
        "labels": t,
        "mapName": m.get_name(),  # the set-up script's global variable holding the map
        "layers": list(AREA_LAYERS),
        # The server's states, priorities, queues… (web_map/constants.py): one place.
        "constants": page_constants(),
        "features": features,
        # The workflow table, so the panel offers only the actions allowed from an
        # event's state and asks for what each needs (the API checks again).
        "actions": list(RULES),
        # The actions the viewer's role may take: the panel shows no button that would be
        # refused (the API checks again).
        "mayAct": list(RULES) if may_act is None else [a for a in RULES if a in set(may_act)],
        "workflow": {
            name: {"from": sorted(rule.from_states), "requires": list(rule.requires)}
            for name, rule in RULES.items()
        },
        "geojsonMaxFeatures": GEOJSON_MAX_FEATURES,
        "fitToCounty": bounds is None,
        # The first view, [[south, west], [north, east]] (Leaflet's order).
        "bounds": [[south, west], [north, east]],
        "query": query,
        "version": version,
        # Carried in the page, not asked for: two round trips off the way to usable.
        "categories": categories,
        "me": me,
        # A hosted basemap (GRIDMAP_TILE_URL) replaces gridmap's own tiles; labels stay.
        "externalBasemap": bool(tile_url),
    }
    return render_map_page(figure, config, lang=lang, tile_url=tile_url, page="command view")
