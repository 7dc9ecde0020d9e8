"""Login, logout, unmasked reporter contacts, and the ONE enforcement point of the
role × action table.

`enforce` runs before every API route (an app-wide dependency): it finds the route's
action in `route_action`, resolves the caller (bearer token or session cookie), checks the
CSRF token on state-changing cookie requests, checks `gridmap.access.permissions.allowed`, and
puts the `Principal` on `request.state.principal`. A route without an action is refused
(deny by default) unless it is in `PUBLIC_ROUTES`.
"""

from __future__ import annotations

import html
import ipaddress
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.context import AppContext
from api.deps import ContextDep, SessionDep
from gridmap.access import (
    GRID_WORKER,
    SYSTEM,
    TEAM_MEMBER,
    WORKFLOW_ACTIONS,
    Principal,
    accounts,
    audit,
    logins,
)
from gridmap.db import translate_errors
from gridmap.errors import AuthenticationRequired, InvalidInput, NotFound, PermissionDenied
from gridmap.events import load_json
from gridmap.events import queries as event_queries
from gridmap.models import AppUser, Event
from gridmap.settings import Network, trusted_networks

router = APIRouter(tags=["auth"])

SESSION_COOKIE = "gridmap_session"
CSRF_COOKIE = "gridmap_csrf"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# Routes anyone may call. /openapi.json is a plain Starlette route (never reaches
# `enforce`); it is listed so the route test can tell it is public on purpose.
PUBLIC_ROUTES: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", "/health"),
        ("GET", "/openapi.json"),
        ("GET", "/docs"),
        ("GET", "/login"),
        ("POST", "/api/auth/login"),
        ("GET", "/static/{path:path}"),
        # The phone page's manifest and service worker: the same files for everyone.
        ("GET", "/m/manifest.webmanifest"),
        ("GET", "/m/sw.js"),
    }
)

# The HTML pages: an anonymous browser is sent to the login page rather than told 401.
PAGES = frozenset({"/", "/editor", "/stats", "/m"})

# (method, path template) → action in gridmap.access.permissions.ACTIONS.
ROUTE_ACTIONS: dict[tuple[str, str], str] = {
    ("GET", "/"): "map.view",
    # The grid worker's phone (api/phone.py).
    ("GET", "/m"): "map.view",
    ("GET", "/api/phone/grid"): "map.view",
    ("GET", "/api/phone/tasks"): "events.read",
    ("GET", "/api/phone/today"): "account.self",
    # Patrols and visits (api/patrols.py).
    ("POST", "/api/patrols"): "patrols.record",
    ("POST", "/api/patrols/{client_id}/points"): "patrols.record",
    ("POST", "/api/patrols/{client_id}/end"): "patrols.record",
    ("GET", "/api/patrols/mine"): "patrols.record",
    ("GET", "/api/patrols/live"): "patrols.read",
    ("GET", "/api/patrols"): "patrols.read",
    ("POST", "/api/visits"): "patrols.record",
    ("GET", "/api/visits"): "patrols.read",
    ("GET", "/editor"): "boundaries.draft",
    ("GET", "/api/locate"): "map.view",
    ("POST", "/api/locate"): "map.view",
    ("GET", "/api/categories"): "map.view",
    ("GET", "/api/search"): "map.view",
    ("POST", "/api/events"): "events.ingest",
    ("GET", "/api/events"): "events.read",
    ("GET", "/api/events/triage"): "events.read",
    ("GET", "/api/queues"): "events.read",
    ("POST", "/api/events/{event_id}/acknowledge"): "events.acknowledge",
    ("GET", "/api/events/{event_id}"): "events.read",
    ("GET", "/api/events/{event_id}/log"): "events.read",
    ("GET", "/api/events/{event_id}/photos"): "events.read",
    ("GET", "/api/events/{event_id}/photos/{photo_id}"): "events.read",
    ("POST", "/api/events/{event_id}/photos"): "events.photo",
    ("POST", "/api/events/{event_id}/place"): "events.place",
    ("POST", "/api/events/{event_id}/place/candidate/{index}"): "events.place",
    ("GET", "/api/geocode"): "map.view",
    ("GET", "/api/events/{event_id}/reporter"): "events.reporter",
    # Whoever may assign may be offered the teams (assign, joint dispatch).
    ("GET", "/api/events/{event_id}/team-candidates"): "event.assign",
    ("GET", "/api/stream"): "events.read",
    ("GET", "/api/stats"): "events.stats",
    ("GET", "/api/stats/series"): "events.stats",
    ("GET", "/api/stats/events"): "events.stats",
    ("GET", "/api/stats/definitions"): "events.stats",
    ("GET", "/api/ledgers/{kind}"): "events.stats",
    ("GET", "/api/reports"): "events.stats",
    ("GET", "/api/reports/{report_id}"): "events.stats",
    ("GET", "/stats"): "events.stats",
    ("GET", "/api/auth/me"): "account.self",
    ("POST", "/api/auth/logout"): "account.self",
    # The boundary editor (api/drafts.py).
    ("GET", "/api/versions"): "map.view",
    ("GET", "/api/versions/{version_id}"): "map.view",
    ("POST", "/api/versions/{version_id}/restore"): "boundaries.publish",
    ("POST", "/api/drafts/{draft_id}/publish"): "boundaries.publish",
    # Accounts and the audit log (api/admin.py).
    ("GET", "/api/admin/users"): "users.manage",
    ("POST", "/api/admin/users"): "users.manage",
    ("POST", "/api/admin/users/{username}/disable"): "users.manage",
    ("POST", "/api/admin/users/{username}/enable"): "users.manage",
    ("POST", "/api/admin/users/{username}/password"): "users.manage",
    ("PUT", "/api/admin/users/{username}/areas"): "users.manage",
    ("GET", "/api/admin/tokens"): "tokens.manage",
    ("POST", "/api/admin/tokens"): "tokens.manage",
    ("POST", "/api/admin/tokens/{name}/revoke"): "tokens.manage",
    ("GET", "/api/audit"): "audit.read",
}
# Everything else under the drafts is the planners' work in progress.
DRAFT_PREFIX = "/api/drafts"
# Whole families of read-only map routes.
MAP_PREFIXES = ("/ogc", "/tiles/")
ACTION_ROUTE = ("POST", "/api/events/{event_id}/actions/{action}")


def route_action(method: str, path: str, path_params: dict[str, Any]) -> str | None:
    """The action a route needs, or None when it has none (and is refused unless public)."""
    method = "GET" if method == "HEAD" else method
    if (method, path) == ACTION_ROUTE:
        name = str(path_params.get("action", ""))
        # An unknown action name is the workflow's to refuse (422), not a permission question.
        return f"event.{name}" if name in WORKFLOW_ACTIONS else "events.read"
    if method == "GET" and path.startswith(MAP_PREFIXES):
        return "map.view"
    if (method, path) not in ROUTE_ACTIONS and path.startswith(DRAFT_PREFIX):
        return "boundaries.draft"
    return ROUTE_ACTIONS.get((method, path))


# Ids are PostgreSQL integers: an id past the column's range cannot exist, and asking the
# database for it is an error (a 500) rather than "not found". Events use bigint.
ID_LIMITS = {"event_id": 2**63 - 1}
INT4_MAX = 2**31 - 1


def _check_ids(path_params: dict[str, Any]) -> None:
    for name, value in path_params.items():
        if not name.endswith("_id") or not str(value).lstrip("-").isdigit():
            continue
        if abs(int(value)) > ID_LIMITS.get(name, INT4_MAX):
            raise NotFound(f"no {name.removesuffix('_id')} {value}", details={name: str(value)})


def source_addr(request: Request) -> str:
    """The client's address: the peer's, unless the peer is a trusted proxy
    (`GRIDMAP_TRUSTED_PROXIES`); then the nearest address in `X-Forwarded-For` that is
    not itself a trusted proxy. What a client writes in the header is never believed."""
    peer = request.client.host if request.client else "unknown"
    ctx: AppContext | None = getattr(request.app.state, "ctx", None)
    networks = trusted_networks(ctx.settings.trusted_proxies) if ctx is not None else ()
    return client_address(peer, request.headers.getlist("x-forwarded-for"), networks)


def client_address(peer: str, forwarded_for: list[str], networks: tuple[Network, ...]) -> str:
    def trusted(addr: str) -> bool:
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            return False
        return any(ip in net for net in networks)

    if not networks or not trusted(peer):
        return peer
    # Each proxy appends the address it received from: read from the right, skip our own
    # proxies; the first other address is the client (what is left of it, the client
    # may have written itself).
    hops = [h.strip() for header in forwarded_for for h in header.split(",")]
    address = peer
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            break  # garbage: keep the last address a trusted proxy vouched for
        address = hop
        if not trusted(hop):
            break
    return address


def _bearer_secret(request: Request) -> str | None:
    """The bearer token's secret, None without an Authorization header."""
    header = request.headers.get("authorization", "")
    if not header:
        return None
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise AuthenticationRequired("Authorization must be 'Bearer <token>'")
    return secret.strip()


def _resolve(request: Request, session: Session, key: bytes) -> tuple[Principal | None, str | None]:
    """The caller and, for a cookie session, its session token (for the CSRF check)."""
    secret = _bearer_secret(request)
    if secret is not None:
        row = accounts.token_row(session, secret=secret)
        if row is None:
            raise AuthenticationRequired("the API token is unknown, revoked or expired")
        return accounts.token_principal(session, token=row), None
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        user = logins.session_user(session, token=cookie)
        if user is not None:
            return accounts.user_principal(session, user=user), cookie
    return None, None


def _resolve_caller(
    request: Request, ctx: AppContext, key: bytes
) -> tuple[Principal | None, str | None]:
    # The caller's session or token is the first thing a request asks of the database:
    # when it is down, that is a 503 like every other query (not an unexpected 500).
    with translate_errors(ctx.database_url), ctx.sessions() as session:
        return _resolve(request, session, key)


# Where a request's resolved caller is kept, so that the body guard (api/body_limits.py),
# which authenticates before any body is read, and `enforce` ask the database once.
CALLER_SCOPE_KEY = "gridmap.caller"


async def resolve_caller(request: Request, ctx: AppContext) -> tuple[Principal | None, str | None]:
    """The caller of this request (None without a credential) and its session token.

    An unknown, revoked or expired bearer token raises `AuthenticationRequired`; an
    unknown session cookie is no caller. Resolved once per request.
    """
    cached: tuple[Principal | None, str | None] | None = request.scope.get(CALLER_SCOPE_KEY)
    if cached is not None:
        return cached
    principal, session_token = None, None
    secret = _bearer_secret(request)
    gate = ctx.token_gate
    known = gate.known(secret) if gate is not None and secret is not None else None
    if gate is not None and known is not None and known.id is not None:
        # A token seen lately: its principal from memory, its liveness from the database.
        if not await gate.live(known.id):
            raise AuthenticationRequired("the API token is unknown, revoked or expired")
        principal = known
    elif secret is not None or request.cookies.get(SESSION_COOKIE):
        key = logins.secret_key(ctx.settings)
        principal, session_token = await run_in_threadpool(_resolve_caller, request, ctx, key)
        if gate is not None and secret is not None and principal is not None:
            gate.remember(secret, principal)
    request.scope[CALLER_SCOPE_KEY] = (principal, session_token)
    return principal, session_token


async def enforce(request: Request, ctx: ContextDep) -> None:
    """THE enforcement point (see the module docstring).

    async, with the database asked on a worker thread only when the request carries a
    credential: a plain `def` dependency would cost every request a thread hop.
    """
    route = request.scope.get("route")
    # The scope's path, not request.url.path: building a URL was ~3 % of a worker's time
    # at 500 events/s, on the ingest path that has no route.
    path = route.path if route is not None else request.scope["path"]
    method = request.method
    if ("GET" if method == "HEAD" else method, path) in PUBLIC_ROUTES:
        return
    action = route_action(method, path, request.path_params)
    key = logins.secret_key(ctx.settings)
    principal, session_token = await resolve_caller(request, ctx)
    if principal is None:
        if not ctx.settings.auth_required:
            _check_ids(request.path_params)
            request.state.principal = SYSTEM
            return
        if method == "GET" and path in PAGES:
            # A browser opening a map page goes to the login page instead, and comes back
            # to the same page with the same query (?scope=…, ?lang=…) afterwards.
            back = path + (f"?{request.url.query}" if request.url.query else "")
            raise StarletteHTTPException(
                303, "login required", headers={"Location": "/login?next=" + quote(back, safe="")}
            )
        raise AuthenticationRequired("log in or send 'Authorization: Bearer <token>'")
    # Only now, authenticated: an anonymous caller learns nothing from a 404 on an id.
    _check_ids(request.path_params)
    if session_token is not None and method in UNSAFE_METHODS:
        given = request.headers.get(CSRF_HEADER)
        if not logins.csrf_ok(key, session_token, given):
            raise PermissionDenied(
                f"the {CSRF_HEADER} header is missing or wrong: send the value of the "
                f"{CSRF_COOKIE} cookie with every {method}",
                details={"header": CSRF_HEADER},
            )
    if action is None:
        raise PermissionDenied(
            f"{method} {path} is not in the permission table (deny by default)",
            details={"route": path, "method": method},
        )
    if not principal.may(action):
        raise PermissionDenied(
            f"role {principal.role} may not {action}",
            details={"role": principal.role, "action": action},
            reason="role_may_not",
            params={"role": principal.role, "action": action},
        )
    request.state.principal = principal


def current_principal(request: Request) -> Principal:
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        raise AuthenticationRequired("log in or send 'Authorization: Bearer <token>'")
    return principal


async def _principal(request: Request) -> Principal:
    return current_principal(request)  # async for the same reason as `enforce`


PrincipalDep = Annotated[Principal, Depends(_principal)]


def acting_as(principal: Principal, claimed: str) -> str:
    """The name logs give an action: the caller's own, never one the body claims (only the
    unscoped system principal, with authentication off, keeps the claimed name)."""
    return claimed if principal.kind == "system" else principal.actor


def audit_write(
    session: Session,
    request: Request,
    principal: Principal,
    *,
    action: str,
    target_type: str,
    target_id: str | int | None,
    details: dict[str, Any] | None = None,
) -> None:
    """Record a write made through the API (flushed with it, committed with it)."""
    audit.record(
        session,
        actor=principal.actor,
        action=action,
        target_type=target_type,
        target_id=target_id,
        details=details,
        source_addr=source_addr(request),
    )


def check_event_scope(
    session: Session, principal: Principal, event_id: int, *, acting: bool
) -> None:
    """Refuse an event outside the caller's jurisdiction, in the database like the lists.

    Reading answers 404 (what is outside must not show, not even that it exists to this
    caller); acting answers 403 (an operator should know the case is someone else's).
    """
    if principal.jurisdiction.everywhere:
        return
    inside = event_queries.in_scope(session, event_id=event_id, jurisdiction=principal.jurisdiction)
    if inside is None:
        return  # the route's own lookup answers 404
    if inside:
        return
    if acting:
        raise PermissionDenied(
            f"event {event_id} lies outside your jurisdiction",
            details={"event_id": event_id},
            reason="event_outside_jurisdiction",
        )
    raise NotFound(f"no event {event_id}", details={"event_id": event_id})


# --- login and logout -------------------------------------------------------------------


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=80)
    password: str = Field(min_length=1, max_length=1024)
    next: str | None = None


def _safe_next(value: str | None) -> str:
    """Only a path on this site: never an open redirect to another host."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


async def _login_body(request: Request) -> tuple[LoginIn, bool]:
    """The credentials from JSON or an HTML form; True when it came from a form."""
    raw = await request.body()
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    is_form = ctype == "application/x-www-form-urlencoded"
    try:
        if is_form:
            fields = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
            return LoginIn.model_validate(fields), True
        return LoginIn.model_validate(load_json(raw or b"null")), False
    except InvalidInput as exc:
        if exc.details.get("problem") == "nested too deeply":
            raise
        raise InvalidInput(
            "send username and password as JSON or as a form", details={"field": "body"}
        ) from None
    except (ValidationError, ValueError):
        raise InvalidInput(
            "send username and password as JSON or as a form", details={"field": "body"}
        ) from None


def _set_cookies(response: Response, ctx: AppContext, token: str, csrf: str) -> None:
    max_age = int(ctx.settings.session_hours * 3600)
    secure = ctx.settings.cookie_secure
    response.set_cookie(
        SESSION_COOKIE, token, max_age=max_age, httponly=True, samesite="lax", secure=secure
    )
    # Readable by the page's script, which echoes it in the X-CSRF-Token header.
    response.set_cookie(
        CSRF_COOKIE, csrf, max_age=max_age, httponly=False, samesite="lax", secure=secure
    )


@router.post(
    "/api/auth/login",
    summary="Log in with username and password (JSON or form); sets the session cookie",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": LoginIn.model_json_schema()}},
        }
    },
)
async def login(request: Request, ctx: ContextDep, session: SessionDep) -> Response:
    body, is_form = await _login_body(request)
    # Argon2 takes tens of milliseconds by design: keep it off the event loop.
    phone = is_phone(request.headers.get("user-agent"))
    return await run_in_threadpool(_login, ctx, session, body, is_form, source_addr(request), phone)


# The phone's user agents: Android, iOS and the WeChat/Harmony browsers all say "Mobile"
# or name the system; a tablet counts as a phone here (it is carried on patrol).
_PHONE_MARKS = ("mobi", "android", "iphone", "ipad", "harmonyos", "micromessenger")


def is_phone(user_agent: str | None) -> bool:
    ua = (user_agent or "").lower()
    return any(mark in ua for mark in _PHONE_MARKS)


def _home(role: str, wanted: str, phone: bool) -> str:
    """Where a login lands: the page asked for; a grid worker or team member on a phone who
    asked for nothing in particular lands on the phone page (the desktop view is a link)."""
    if phone and wanted == "/" and role in (GRID_WORKER, TEAM_MEMBER):
        return "/m"
    return wanted


def _login(
    ctx: AppContext,
    session: Session,
    body: LoginIn,
    is_form: bool,
    addr: str,
    phone: bool = False,
) -> Response:
    # Counted (as a failure until the password checks out) and committed before the
    # password is checked: parallel guesses cannot all slip under the limit.
    attempt = logins.start_login_attempt(
        session, username=body.username, source_addr=addr, settings=ctx.settings
    )
    session.commit()
    user = logins.authenticate(
        session, username=body.username, password=body.password, attempt=attempt
    )
    if user is None:
        if is_form:
            target = "/login?failed=1&next=" + quote(_safe_next(body.next))
            return RedirectResponse(target, status_code=303)
        # The same answer for an unknown user, a wrong password and a disabled account.
        raise AuthenticationRequired("wrong username or password")
    token = logins.start_session(
        session, user=user, source_addr=addr, hours=ctx.settings.session_hours
    )
    audit.record(
        session,
        actor=f"user:{user.username}",
        action="auth.login",
        target_type="user",
        target_id=user.username,
        source_addr=addr,
    )
    session.commit()
    csrf = logins.csrf_token(logins.secret_key(ctx.settings), token)
    response: Response = (
        RedirectResponse(_home(user.role, _safe_next(body.next), phone), status_code=303)
        if is_form
        else JSONResponse({"username": user.username, "role": user.role, "csrf_token": csrf})
    )
    _set_cookies(response, ctx, token, csrf)
    return response


@router.post("/api/auth/logout", summary="End this browser session")
def logout(request: Request, session: SessionDep, principal: PrincipalDep) -> JSONResponse:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        logins.end_session(session, token=token)
        audit_write(
            session,
            request,
            principal,
            action="auth.logout",
            target_type="user",
            target_id=principal.name,
        )
        session.commit()
    response = JSONResponse({"logged_out": True})
    response.delete_cookie(SESSION_COOKIE)
    response.delete_cookie(CSRF_COOKIE)
    return response


@router.get("/api/auth/me", summary="Who am I: name, role, areas")
def me(principal: PrincipalDep, session: SessionDep) -> dict[str, Any]:
    return me_of(session, principal)


def me_of(session: Session, principal: Principal) -> dict[str, Any]:
    """What /api/auth/me answers (the pages carry it too)."""
    # The name a shared workstation's header shows: the user's display name, else its login.
    user = session.get(AppUser, principal.id) if principal.kind == "user" and principal.id else None
    return {
        "name": principal.name,
        "display_name": (user.display_name if user else "") or principal.name,
        "kind": principal.kind,
        "role": principal.role,
        "team_id": principal.team_id,
        "areas": [{"layer": layer, "code": code} for layer, code in principal.areas],
    }


_LOGIN_PAGE = """<!doctype html>
<html lang="zh"><head><meta charset="utf-8"><title>登录 · gridmap</title>
<link rel="icon" type="image/svg+xml" href="/static/img/favicon.svg">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/css/login.css"></head>
<body><form method="post" action="/api/auth/login">
<h1>网格化管理指挥中心</h1>{error}
<label>用户名 <input name="username" autocomplete="username" required autofocus></label>
<label>密码 <input name="password" type="password" autocomplete="current-password" required>
</label><input type="hidden" name="next" value="{next}">
<button type="submit">登录</button></form></body></html>
"""


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_page(next: str = "/", failed: int = 0) -> HTMLResponse:
    error = '<p class="err" role="alert">用户名或密码错误</p>' if failed else ""
    page = _LOGIN_PAGE.format(error=error, next=html.escape(_safe_next(next), quote=True))
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})


# --- the reporter's contact, unmasked --------------------------------------------------


@router.get(
    "/api/events/{event_id}/reporter",
    summary="The reporter's full name and phone, to call back (every look is logged)",
)
def event_reporter(
    event_id: int,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    response.headers["Cache-Control"] = "no-store"  # a full name and phone: no copy kept
    check_event_scope(session, principal, event_id, acting=False)
    event = session.get(Event, event_id)
    if event is None:
        raise NotFound(f"no event {event_id}", details={"event_id": event_id})
    audit_write(
        session,
        request,
        principal,
        action="event.reporter_unmasked",
        target_type="event",
        target_id=event_id,
    )
    session.commit()
    return {"event_id": event_id, "name": event.reporter_name, "phone": event.reporter_phone}


# --- what the app serves ----------------------------------------------------------------


def served_routes(app: Any) -> list[tuple[str, str, bool]]:
    """(method, path template, guarded by `enforce`) of every route the app serves.

    FastAPI keeps included routers as nested objects (it no longer flattens them into
    `app.routes`); their effective routes carry the full path and the app's dependencies.
    """
    out: list[tuple[str, str, bool]] = []
    for route in app.routes:
        members = (
            route.effective_candidates() if hasattr(route, "effective_candidates") else [route]
        )
        for member in members:
            calls = [d.dependency for d in getattr(member, "dependencies", [])]
            for method in sorted(getattr(member, "methods", None) or ()):
                if method != "HEAD":
                    out.append((method, member.path, enforce in calls))
    return out
