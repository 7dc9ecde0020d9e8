"""Self-hosted map assets: folium's CDN links mapped to the copies gridmap serves under /static."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from branca.element import Element

from gridmap.errors import ConfigurationError

STATIC_DIR = Path(__file__).resolve().parent / "static"
NODE_MODULES = STATIC_DIR / "node_modules"
STATIC_URL = "/static"
VENDOR_URL = f"{STATIC_URL}/vendor"

# Our own files under web_map/static that may be served (everything else there, such as
# package.json, is not for browsers).
OWN_DIRS = ("js", "css", "img")

# The only parts of node_modules a browser may fetch: each plugin's built `dist` folder.
# Served at /static/vendor/<the same path>; package.json pins the versions.
VENDOR_DIRS = (
    "leaflet/dist",
    "leaflet.markercluster/dist",
    "leaflet.heat/dist",
    "leaflet.vectorgrid/dist",
    "@geoman-io/leaflet-geoman-free/dist",
    "echarts/dist",
    # The API documentation at /docs (api/docs_pages.py): Swagger UI's built files.
    "swagger-ui-dist",
)

# folium names each asset (the first item of its `default_js` / `default_css` pairs); the
# names are steadier than the CDN URLs, whose versions change between folium releases.
LOCAL_JS: dict[str, str] = {
    "leaflet": f"{VENDOR_URL}/leaflet/dist/leaflet.js",
    "markerclusterjs": f"{VENDOR_URL}/leaflet.markercluster/dist/leaflet.markercluster.js",
    "leaflet-heat.js": f"{VENDOR_URL}/leaflet.heat/dist/leaflet-heat.js",
    "vectorGrid": f"{VENDOR_URL}/leaflet.vectorgrid/dist/Leaflet.VectorGrid.bundled.min.js",
    "leaflet_geoman_js": f"{VENDOR_URL}/@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.js",
}
LOCAL_CSS: dict[str, str] = {
    "leaflet_css": f"{VENDOR_URL}/leaflet/dist/leaflet.css",
    "markerclustercss": f"{VENDOR_URL}/leaflet.markercluster/dist/MarkerCluster.css",
    "markerclusterdefaultcss": f"{VENDOR_URL}/leaflet.markercluster/dist/MarkerCluster.Default.css",
    "leaflet_geoman_css": f"{VENDOR_URL}/@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.css",
}

# folium's Map asks for jQuery, Bootstrap (two versions of its CSS), Font Awesome and the
# awesome-markers plugin. gridmap's pages draw their own controls and icons, so these are
# dropped rather than shipped: ~400 kB less on every wall screen, and nothing to keep in step.
DROPPED = frozenset(
    {
        "jquery",
        "bootstrap",
        "awesome_markers",
        "bootstrap_css",
        "glyphicons_css",
        "awesome_markers_font_css",
        "awesome_markers_css",
        "awesome_rotate_css",
    }
)

_URL = re.compile(r"""https?://[^\s"'<>()\\`]+""")
# XML namespace names look like URLs but are identifiers: a browser never fetches them.
_NAMESPACES = ("http://www.w3.org/",)


def local_assets(
    assets: Iterable[tuple[str, str]], table: dict[str, str], *, owner: str
) -> list[tuple[str, str]]:
    """The (name, url) list with every CDN link replaced by its local copy.

    A name that is neither known nor dropped is refused: silently keeping a CDN link would
    break the page on a closed network, and guessing a local path would serve nothing.
    """
    out: list[tuple[str, str]] = []
    for name, url in assets:
        if name in table:
            out.append((name, table[name]))
        elif name in DROPPED:
            continue
        elif not _URL.match(url):
            out.append((name, url))  # already local
        else:
            raise ConfigurationError(
                f"{owner} asks for {name!r} from {url}, which gridmap does not serve; "
                "add it to web_map/static/package.json and web_map/assets.py",
                details={"element": owner, "asset": name, "url": url},
            )
    return out


def localize(root: Element) -> None:
    """Point `root` and every element below it (a folium Map and its plugins) at local assets.

    Call it after the last plugin is added and before rendering. The lists are set on each
    instance, never on the class, so other maps in the same process are untouched.
    """
    stack: list[Element] = [root]
    while stack:
        element = stack.pop()
        owner = type(element).__name__
        if hasattr(element, "default_js"):
            element.default_js = local_assets(element.default_js, LOCAL_JS, owner=owner)
        if hasattr(element, "default_css"):
            element.default_css = local_assets(element.default_css, LOCAL_CSS, owner=owner)
        stack.extend(element._children.values())


def external_urls(html: str, *, allowed_prefixes: Iterable[str] = ()) -> list[str]:
    """Every http(s) URL left in a rendered page, except the allowed ones (a tile server).

    The test of "nothing from a CDN": an empty list means the page asks only its own host.
    """
    allowed = tuple(allowed_prefixes)
    found: list[str] = []
    for match in _URL.finditer(html):
        url = match.group(0)
        if url.startswith(_NAMESPACES) or (allowed and url.startswith(allowed)):
            continue
        if url not in found:
            found.append(url)
    return found


def static_file(path: str) -> Path | None:
    """The file to serve for `/static/<path>`, or None when it is not ours to serve.

    Only our own js/css/img folders and the VENDOR_DIRS of node_modules (under `vendor/`)
    are reachable; anything that resolves outside them (`..`, symlinks) is refused.
    """
    parts = path.split("/")
    if not path or "\x00" in path or any(part in ("", ".", "..") for part in parts):
        return None  # a NUL byte is no file name (the operating system refuses it)
    if parts[0] in OWN_DIRS:
        base = STATIC_DIR / parts[0]
        candidate = STATIC_DIR / path
    elif parts[0] == "vendor":
        rest = "/".join(parts[1:])
        prefix = next((d for d in VENDOR_DIRS if rest.startswith(d + "/")), None)
        if prefix is None:
            return None
        base = NODE_MODULES / prefix
        candidate = NODE_MODULES / rest
    else:
        return None
    resolved = candidate.resolve()
    if not resolved.is_relative_to(base.resolve()) or not resolved.is_file():
        return None
    return resolved


def vendor_missing() -> list[str]:
    """The vendor folders not installed yet (`npm ci` in web_map/static has not run)."""
    return [d for d in VENDOR_DIRS if not (NODE_MODULES / d).is_dir()]


def json_for_script(data: dict[str, Any]) -> str:
    """JSON safe inside <script type="application/json">: no `</script>` can close it early."""
    text = json.dumps(data, ensure_ascii=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


# A relative import or re-export of an ES module: `import … from "./x.js"`, `import "./x.js"`.
_IMPORT = re.compile(
    r"""^\s*(?:import|export)\b[^;'"]*?\bfrom\s*["'](\.{1,2}/[^"']+)["']"""
    r"""|^\s*import\s*["'](\.{1,2}/[^"']+)["']""",
    re.M,
)


@cache
def module_graph(entry: str) -> tuple[str, ...]:
    """The URLs of ES module `entry` (a path under js/, "command_view.js") and of every
    module it imports, directly or not, entry first: what a page preloads
    (`<link rel="modulepreload">`), so the browser fetches the whole graph at once rather
    than a level of imports at a time. Only relative imports of our own files are followed."""
    root = (STATIC_DIR / "js").resolve()
    seen: list[Path] = []
    todo = [root / entry]
    while todo:
        path = todo.pop(0).resolve()
        if path in seen:
            continue
        if not path.is_relative_to(root) or not path.is_file():
            raise ConfigurationError(
                f"module {path} (imported from {entry}) is not one of gridmap's scripts",
                details={"entry": entry, "module": str(path)},
            )
        seen.append(path)
        for match in _IMPORT.finditer(path.read_text(encoding="utf-8")):
            todo.append(path.parent / (match.group(1) or match.group(2)))
    return tuple(f"{STATIC_URL}/js/{p.relative_to(root).as_posix()}" for p in seen)


def module_tags(entry: str) -> str:
    """The `<script type="module">` of `entry` and a modulepreload link for each module it
    imports (see `module_graph`)."""
    urls = module_graph(entry)
    preload = "".join(f'<link rel="modulepreload" href="{url}">' for url in urls[1:])
    return f'{preload}<script type="module" src="{urls[0]}"></script>'
