"""Security headers on every answer: a strict Content-Security-Policy and its companions.

`SecurityHeaders.wrap(scope, send)` adds them to the answer's start message, so every
answer carries them — the pages, the API, static files, errors, and the ingest path that
`api.ingest_door.GridmapApp` answers before the middleware stack. A header the route set
itself (a photo's `X-Content-Type-Options`, say) is left as the route set it.

The pages (`web_map/`) keep no inline script and no inline event handler: folium's map
set-up is served as a hashed static script (`web_map/page_assets.py`), so `script-src` is
`'self'` alone. `style-src` is `'self'` too: folium's `<style>` blocks are served the same
way, and Leaflet and its plugins set styles through the DOM (`element.style`), which a
policy does not govern. The one origin outside gridmap is the optional basemap
(`GRIDMAP_TILE_URL`), allowed in `img-src` only.

The API documentation (`/docs`, Swagger UI) is served by gridmap itself from a pinned npm
package, with no inline script (`api/docs_pages.py`): it gets the same policy, with no
exception for any path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import Message, Scope, Send

from gridmap.errors import ConfigurationError

_PLACEHOLDER = re.compile(r"\{[^}]*\}")


def tile_source(tile_url: str) -> str | None:
    """The CSP source that lets the pages load the basemap `tile_url`, or None when its
    tiles come from gridmap itself (a path without a host).

    `{s}`-style placeholders in the host become a leading wildcard (`{s}.tile.example.org`
    and `t{s}.tianditu.gov.cn` become `*.tile.example.org` and `*.tianditu.gov.cn`: a
    policy allows a wildcard only as the first label).
    """
    parts = urlsplit(_PLACEHOLDER.sub("x", tile_url))  # placeholders parse as plain text
    if not parts.scheme and not parts.netloc:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"GRIDMAP_TILE_URL {tile_url!r} is neither an http(s) URL nor a path on gridmap",
            details={"setting": "tile_url", "value": tile_url},
        )
    host = urlsplit(tile_url).netloc.rsplit("@", 1)[-1]  # the host as written, no user info
    labels = host.split(".")
    templated = [i for i, label in enumerate(labels) if "{" in label]
    if templated:
        rest = labels[templated[-1] + 1 :]
        if len(rest) < 2:
            raise ConfigurationError(
                f"GRIDMAP_TILE_URL {tile_url!r}: the host's placeholder leaves no domain "
                "that a Content-Security-Policy can name",
                details={"setting": "tile_url", "value": tile_url},
            )
        host = ".".join(["*", *rest])
    if _PLACEHOLDER.search(host) or not re.fullmatch(r"[A-Za-z0-9.*:\[\]-]+", host):
        raise ConfigurationError(
            f"GRIDMAP_TILE_URL {tile_url!r}: its host cannot be named in a Content-Security-Policy",
            details={"setting": "tile_url", "value": tile_url},
        )
    return f"{parts.scheme}://{host}"


def _policy(directives: Iterable[tuple[str, Iterable[str]]]) -> str:
    return "; ".join(" ".join([name, *values]) for name, values in directives)


def page_policy(tile_url: str | None = None) -> str:
    """The Content-Security-Policy of every answer (the API documentation too)."""
    tiles = tile_source(tile_url) if tile_url else None
    return _policy(
        [
            ("default-src", ["'self'"]),
            ("script-src", ["'self'"]),
            ("style-src", ["'self'"]),
            # data: for the icons Leaflet's and Geoman's style sheets carry inline.
            ("img-src", ["'self'", "data:", *([tiles] if tiles else [])]),
            ("connect-src", ["'self'"]),
            ("font-src", ["'self'"]),
            ("object-src", ["'none'"]),
            ("base-uri", ["'none'"]),
            ("form-action", ["'self'"]),
            ("frame-ancestors", ["'none'"]),
        ]
    )


CSP_HEADER = b"content-security-policy"


class SecurityHeaders:
    """The headers for every answer, computed once from the settings."""

    def __init__(self, *, tile_url: str | None = None) -> None:
        common = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
        ]
        self.headers = [(CSP_HEADER, page_policy(tile_url).encode()), *common]

    def wrap(self, scope: Scope, send: Send) -> Send:
        """`send`, adding the headers to the answer's start (HTTP only)."""
        if scope["type"] != "http":
            return send
        extra = self.headers

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in extra if h[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        return send_with_headers
