"""The pages' inline scripts and styles, moved into files gridmap serves (a strict CSP).

folium renders a map's set-up as inline `<script>` and its sizes as inline `<style>`. A
Content-Security-Policy of `script-src 'self'` refuses both, so `externalize(html)` takes
each out of the page: its text is kept here under a name made of its SHA-256 and the tag
is replaced by `<script src="/static/page/<hash>.js">` (or a stylesheet link) in the same
place, so everything runs in the same order as before. A name is its content, so the files
can be cached for a year, and a page that changes gets new names.

The pages make their set-up the same for every caller (element ids fixed by
`fix_element_ids`, the caller's view and labels in the page's JSON data block), so only a
handful of files exist; each worker process keeps its own copy (a few kilobytes), and a
worker asked for a name it has not made yet renders the pages once to make it
(`api/pages.py`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from html import escape
from html.parser import HTMLParser
from typing import Any

import folium
from branca.element import Element, Figure, MacroElement

from gridmap.errors import ConfigurationError
from web_map.assets import STATIC_URL, external_urls, json_for_script, localize, module_tags

PAGE_ASSET_URL = f"{STATIC_URL}/page"
Bounds = tuple[float, float, float, float]  # west, south, east, north (lon/lat, WGS84)
# China: a map page's first view until its own areas arrive and it fits to them.
CHINA: Bounds = (73.5, 18.0, 135.1, 53.6)
MEDIA_TYPES = {"js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8"}


@dataclass(frozen=True, slots=True)
class PageAsset:
    body: bytes
    media_type: str


_ASSETS: dict[str, PageAsset] = {}

_SCRIPT = re.compile(r"<script(?P<attrs>[^>]*)>(?P<body>.*?)</script\s*>", re.S | re.I)
_STYLE = re.compile(r"<style(?P<attrs>[^>]*)>(?P<body>.*?)</style\s*>", re.S | re.I)
# Script types a browser does not run: data blocks such as the pages' JSON configuration.
_DATA_TYPE = re.compile(r"""\btype\s*=\s*["']?application/(?:ld\+)?json""", re.I)
_HAS_SRC = re.compile(r"\bsrc\s*=", re.I)


class _InlineAttributes(HTMLParser):
    """Collects the tags that carry an inline event handler (`onclick="…"`), a `style`
    attribute or a `javascript:` URL: what a strict policy refuses in markup."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            url = (value or "").strip().lower()
            if (
                name.startswith("on")
                or name == "style"
                or (
                    name in ("href", "src", "action", "formaction")
                    and url.startswith("javascript:")
                )
            ):
                self.found.append(f"<{tag} {name}=…>")


def _register(text: str, kind: str) -> str:
    body = text.encode()
    name = f"{hashlib.sha256(body).hexdigest()[:32]}.{kind}"
    _ASSETS.setdefault(name, PageAsset(body=body, media_type=MEDIA_TYPES[kind]))
    return f"{PAGE_ASSET_URL}/{name}"


def page_asset(name: str) -> PageAsset | None:
    """A file made by `externalize` in this process, by the name in its URL."""
    return _ASSETS.get(name)


def fix_element_ids(root: Element) -> None:
    """Give every element of a folium page an id fixed by its place in the tree.

    folium names each element from a random UUID (`map_3f2a…`), and the names appear in
    the set-up script: fixed ones keep that script, and so its file, the same for every
    render of the same page.
    """
    stack: list[Element] = [root]
    count = 0
    while stack:
        element = stack.pop()
        element._id = f"gm{count}"
        count += 1
        stack.extend(reversed(list(element._children.values())))


def externalize(html: str, *, page: str) -> str:
    """`html` with every inline script and style moved into a served file.

    Raises ConfigurationError when something would still need an inline allowance: an
    inline event handler, a `javascript:` URL or a `style` attribute (`page` names the
    page in the message).
    """

    def script(match: re.Match[str]) -> str:
        attrs, body = match.group("attrs"), match.group("body")
        if _HAS_SRC.search(attrs) or _DATA_TYPE.search(attrs):
            return match.group(0)
        if not body.strip():
            return ""
        return f'<script src="{escape(_register(body, "js"))}"></script>'

    def style(match: re.Match[str]) -> str:
        body = match.group("body")
        if not body.strip():
            return ""
        return f'<link rel="stylesheet" href="{escape(_register(body, "css"))}"/>'

    out = _STYLE.sub(style, _SCRIPT.sub(script, html))
    # What is left inline after the move: the page's own markup must carry none of it.
    found = inline_attributes(out)
    if found:
        raise ConfigurationError(
            f"the {page} page has inline code or style a strict CSP refuses: {found[0]}",
            details={"page": page, "tags": found[:10]},
        )
    return out


def inline_attributes(html: str) -> list[str]:
    """Tags of `html` with an inline event handler, a style attribute or a javascript: URL."""
    parser = _InlineAttributes()
    parser.feed(html)
    parser.close()
    return parser.found


def inline_code(html: str) -> list[str]:
    """The inline scripts (not data blocks) and styles left in `html` (for tests)."""
    found = [
        m.group(0)[:200]
        for m in _SCRIPT.finditer(html)
        if not _HAS_SRC.search(m.group("attrs")) and not _DATA_TYPE.search(m.group("attrs"))
    ]
    found += [m.group(0)[:200] for m in _STYLE.finditer(html)]
    return found


def map_figure(
    *,
    title: str,
    tile_url: str | None,
    tile_attribution: str,
    assets: MacroElement,
    entry: str,
    chrome: str,
    fit_china: bool = False,
) -> tuple[Figure, folium.Map]:
    """A folium map page (the command view, the editor) before its configuration: the
    Leaflet map on China (SVG paths, so styles change in place and tests click them), an
    optional hosted basemap, the page's plugin scripts and styles (`assets`), its ES module
    `entry` (a path under js/, with its imports preloaded), its panels (`chrome`), and
    element ids fixed so that the set-up script, served as a file, is the same each time."""
    west, south, east, north = CHINA
    figure = Figure(title=escape(title))
    m = folium.Map(
        location=[(south + north) / 2, (west + east) / 2],
        zoom_start=5,
        tiles=None,
        control_scale=True,
        prefer_canvas=False,
    )
    m.add_to(figure)
    if fit_china:
        m.fit_bounds([[south, west], [north, east]])
    if tile_url:
        folium.TileLayer(
            tiles=tile_url, attr=tile_attribution or "basemap", name="basemap", control=False
        ).add_to(m)
    assets.add_to(m)
    figure.header.add_child(
        Element(f'<link rel="icon" type="image/svg+xml" href="{STATIC_URL}/img/favicon.svg">'),
        name="gm_favicon",
    )
    # The page's own code: ES modules, run once the page is parsed (after the set-up
    # script has made the map); they start the page themselves.
    figure.header.add_child(Element(module_tags(entry)), name="gm_modules")
    figure.html.add_child(Element(chrome), name="gm_chrome")
    fix_element_ids(figure)
    return figure, m


def render_map_page(
    figure: Figure, config: dict[str, Any], *, lang: str, tile_url: str | None, page: str
) -> str:
    """A folium map page (the command view, the editor) finished: its configuration as the
    page's JSON data block (#gm-config, read by its modules), every asset pointed at
    gridmap's own copies, the page's language, and every inline script and style moved
    into a served file. A CDN link left in the page raises ConfigurationError."""
    figure.html.add_child(
        Element(
            f'<script type="application/json" id="gm-config">{json_for_script(config)}</script>'
        ),
        name="gm_config",
    )
    localize(figure)
    html = figure.render()
    html = html.replace("<html>", f'<html lang="{"zh-CN" if lang == "zh" else "en"}">', 1)
    leftover = external_urls(html, allowed_prefixes=[tile_url] if tile_url else [])
    if leftover:
        raise ConfigurationError(
            f"the {page} would load {len(leftover)} asset(s) from outside gridmap",
            details={"urls": leftover},
        )
    # No inline script or style is left: the Content-Security-Policy allows none.
    return externalize(html, page=page)
