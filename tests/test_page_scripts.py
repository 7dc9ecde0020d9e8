"""The pages' scripts: ES modules, except a short list of classic ones kept on purpose.

Each page the service builds (the command view, the editor, the phone page, the
assessment page and its weekly report) is parsed for its `<script>` tags: a script with a
`src` must be a module (`type="module"`), a vendor library (/static/vendor/…), one of
folium's set-up scripts moved out of the page (/static/page/…, classic: they make the map
the modules start from), or on the allow-list below. A page that loads anything else, or
anything from another host, fails here.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from web_map.assets import STATIC_DIR, STATIC_URL, external_urls, module_graph
from web_map.command_view import API_FEATURES, build_command_view
from web_map.editor import build_editor
from web_map.phone_page import SHELL, build_phone_page
from web_map.stats_page import build_stats_page, build_weekly_report

# The classic scripts of our own that a page may load, and why each is not a module:
CLASSIC = {
    # Starts itself on any page that has a #gm-config map or is attached by the phone
    # page; loaded by the command view, the editor and the phone page alike.
    f"{STATIC_URL}/js/basemap.js",
    # Starts itself like basemap.js (the command view's grid workers on patrol).
    f"{STATIC_URL}/js/phone_workers_layer.js",
    # The phone's outbox: the service worker loads it too, with importScripts (no modules).
    f"{STATIC_URL}/js/phone_outbox.js",
}
VENDOR = f"{STATIC_URL}/vendor/"
PAGE_SETUP = f"{STATIC_URL}/page/"
JS_DIR = STATIC_DIR / "js"


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[dict[str, str | None]] = []
        self.preloads: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script":
            self.scripts.append(a)
        elif tag == "link" and a.get("rel") == "modulepreload" and a.get("href"):
            self.preloads.append(str(a["href"]))


def _parse(html: str) -> _Scripts:
    parser = _Scripts()
    parser.feed(html)
    parser.close()
    return parser


def _pages() -> dict[str, str]:
    point = {"day": "2026-12-01", "received": 3, "closed": 2, "closed_on_time": 1}
    return {
        "command view": build_command_view(api_features=API_FEATURES),
        "editor": build_editor(),
        "phone": build_phone_page(
            lang="zh", tile_url=None, may={"report": True}, user="w", county="140581"
        ),
        "assessment": build_stats_page(lang="zh", default_by="township"),
        "weekly report": build_weekly_report(
            lang="zh",
            title="周报",
            period_text="2026-11-25 – 2026-12-01",
            generated="2026-12-02",
            total={},
            ranking=[],
            ranking_by="township",
            series=[point],
            oldest_open=[],
        ),
    }


PAGES = _pages()


def _not_allowed(html: str) -> list[str]:
    bad = []
    for script in _parse(html).scripts:
        src, kind = script.get("src"), (script.get("type") or "").lower()
        if kind in ("application/json", "application/ld+json"):
            continue  # a data block (the page's configuration), not run
        if src is None:
            bad.append("an inline script")
        elif kind == "module":
            continue
        elif not (src.startswith((VENDOR, PAGE_SETUP)) or src in CLASSIC):
            bad.append(src)
    return bad


@pytest.mark.parametrize("name", sorted(PAGES))
def test_a_page_loads_modules_and_only_the_listed_classic_scripts(name: str) -> None:
    html = PAGES[name]
    assert _not_allowed(html) == []
    # Nothing from a CDN or any other host.
    assert external_urls(html) == []
    # Every module the entry imports is preloaded (fetched at once, not import by import),
    # and each one exists as a file the service serves.
    parsed = _parse(html)
    for script in parsed.scripts:
        if (script.get("type") or "") == "module" and script.get("src"):
            entry = str(script["src"])
            graph = module_graph(entry.removeprefix(f"{STATIC_URL}/js/"))
            if len(graph) > 1:
                assert set(graph[1:]) <= set(parsed.preloads), name
            for url in graph:
                assert (STATIC_DIR / url.removeprefix(f"{STATIC_URL}/")).is_file()


def test_the_check_fails_on_a_classic_script_not_on_the_list() -> None:
    """The check itself: a page with a classic script of ours that is not on the list, or
    an inline one, is caught (a check that cannot fail is no check)."""
    page = PAGES["editor"]
    assert _not_allowed(
        page.replace("</head>", f'<script src="{STATIC_URL}/js/x.js"></script></head>', 1)
    ) == [f"{STATIC_URL}/js/x.js"]
    assert _not_allowed(page.replace("</head>", "<script>1</script></head>", 1)) == [
        "an inline script"
    ]
    # The command view's own code was a classic script before it was a module.
    classic = PAGES["command view"].replace(
        f'<script type="module" src="{STATIC_URL}/js/command_view.js">',
        f'<script src="{STATIC_URL}/js/command_view.js">',
    )
    assert _not_allowed(classic) == [f"{STATIC_URL}/js/command_view.js"]


def test_the_linter_knows_the_same_classic_scripts() -> None:
    """ESLint parses as classic scripts exactly these files (and the service worker and the
    /docs page's starter, which no page of web_map loads); every other file is a module."""
    config = (STATIC_DIR / "eslint.config.js").read_text(encoding="utf-8")
    listed = re.search(r"const CLASSIC = \[([^\]]*)\]", config)
    assert listed is not None
    names = {Path(n).name for n in re.findall(r'"js/([^"]+)"', listed.group(1))}
    assert names == {Path(u).name for u in CLASSIC} | {"phone_sw.js", "swagger_init.js"}


def test_no_script_uses_the_old_global_api_client() -> None:
    """The API client is imported (common.js is a module): no script reads it from window."""
    users = [
        p.relative_to(JS_DIR).as_posix()
        for p in JS_DIR.rglob("*.js")
        if "GridmapCommon" in p.read_text(encoding="utf-8")
    ]
    assert users == []


def test_the_phone_shell_holds_every_script_of_the_phone_page() -> None:
    """The phone opens with no signal only if the service worker kept every script the
    page loads, the modules it imports included."""
    srcs = [s.get("src") for s in _parse(PAGES["phone"]).scripts if s.get("src")]
    srcs += _parse(PAGES["phone"]).preloads
    srcs += list(module_graph("phone.js"))
    assert [s for s in srcs if s not in SHELL] == []


def test_the_page_config_carries_the_server_constants() -> None:
    """States, open states, priorities and the queues come from the server (one place:
    web_map/constants.py), and no module keeps its own list of them."""
    from gridmap.events import workflow as wf
    from gridmap.models import PRIORITIES
    from web_map.constants import page_constants

    constants = page_constants()
    assert set(constants["openStates"]) == wf.OPEN_STATES
    assert constants["priorities"] == list(PRIORITIES)
    assert '"openStates"' in PAGES["command view"]
    # A hand-copied list of states in a module: three or more quoted state names in a row,
    # or joined by commas in one string (a query's status list).
    states = "|".join(wf.STATES)
    copied = re.compile(
        rf'"(?:{states})",\s*"(?:{states})",\s*"(?:{states})"'
        rf'|["`](?:{states})(?:,(?:{states})){{2,}}'
    )
    copies = [
        p.relative_to(JS_DIR).as_posix()
        for p in JS_DIR.rglob("*.js")
        if copied.search(p.read_text(encoding="utf-8"))
    ]
    assert copies == []


_DISABLE = re.compile(r"\b([\w.]+)\.disabled = true")


def _unrestored(text: str) -> list[str]:
    """Each `x.disabled = true` with no `x.disabled = false` in a catch or finally block
    after it (within the next 30 lines): a control an exception would leave greyed out."""
    lines = text.splitlines()
    bad = []
    for i, line in enumerate(lines):
        for match in _DISABLE.finditer(line):
            name = re.escape(match.group(1))
            after = "\n".join(lines[i + 1 : i + 31])
            guarded = re.search(
                rf"(?:\}} catch \(\w+\) \{{|\}} finally \{{)[^}}]*?\b{name}\.disabled = false",
                after,
                re.S,
            )
            if not guarded:
                bad.append(f"line {i + 1}: {line.strip()}")
    return bad


def test_no_exception_leaves_a_control_disabled() -> None:
    """Every script that disables a control while it works re-enables it in a catch or
    finally block: a refusal or a failure never leaves a button greyed out."""
    found = {
        p.relative_to(JS_DIR).as_posix(): _unrestored(p.read_text(encoding="utf-8"))
        for p in JS_DIR.rglob("*.js")
    }
    assert {k: v for k, v in found.items() if v} == {}
    # The check itself catches a button disabled with no way back.
    assert _unrestored("b.disabled = true;\nawait go();\nb.disabled = false;\n") == [
        "line 1: b.disabled = true;"
    ]
