"""The interactive API documentation, served by gridmap itself: Swagger UI at `/docs`
from the npm package `swagger-ui-dist` (pinned in web_map/static/package.json).

FastAPI's own page loads Swagger UI from a CDN and starts it with an inline script, which
a closed network cannot load and the strict Content-Security-Policy refuses. This page
loads only files under `/static` and carries no inline script: the initialiser is
`/static/js/swagger_init.js`, which reads the OpenAPI URL from the `data-openapi-url`
attribute. So `/docs` gets the same policy as every other page (api/security_headers.py).

There is no `/redoc`: ReDoc (npm `redoc` 2.1.5, its standalone bundle) styles itself by
inserting `<style>` elements at run time (styled-components), which `style-src 'self'`
refuses, and the page stays blank. Allowing it would need `'unsafe-inline'` styles (or a
per-answer nonce) on that path; the schema itself is `/openapi.json`.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from web_map.assets import VENDOR_URL

router = APIRouter(include_in_schema=False)

OPENAPI_URL = "/openapi.json"
SWAGGER = f"{VENDOR_URL}/swagger-ui-dist"


def swagger_page(title: str, openapi_url: str = OPENAPI_URL) -> str:
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{escape(title)} - Swagger UI</title>
<link rel="stylesheet" href="{SWAGGER}/swagger-ui.css">
<link rel="icon" type="image/png" href="{SWAGGER}/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{escape(openapi_url)}"></div>
<script src="{SWAGGER}/swagger-ui-bundle.js"></script>
<script src="/static/js/swagger_init.js"></script>
</body>
</html>
"""


def _html(body: str) -> HTMLResponse:
    # The vendor files are pinned; the page changes with a deploy.
    return HTMLResponse(body, headers={"Cache-Control": "no-cache"})


@router.get("/docs")
def swagger_ui() -> HTMLResponse:
    return _html(swagger_page("gridmap API"))
