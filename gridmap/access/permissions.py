"""Who may do what, and where: the role × action table, principals and jurisdictions.

Pure data and pure functions: the API enforces the table in one place (`api.auth`), and
query functions take a `Jurisdiction` so that filtering happens inside the SQL query.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    FromClause,
    Integer,
    Text,
    any_,
    bindparam,
    cast,
    false,
    func,
    literal_column,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql.base import PGDialect

from gridmap.errors import InvalidInput, PermissionDenied
from gridmap.models import Event, EventCoHandler, Patrol, StreamMessageRow

# --- roles ------------------------------------------------------------------------------

OPERATOR = "operator"  # 指挥中心坐席
PLANNER = "planner"  # 县级规划: boundaries
GRID_WORKER = "grid_worker"  # 网格员
TEAM_MEMBER = "team_member"  # 职能部门、执法队
SUPERVISOR = "supervisor"  # 督办
ADMIN = "admin"
INTEGRATION = "integration"  # 12345 hotline, sensors, a county's GIS
READER = "reader"  # 只读: a wall screen, a county's GIS reading events; reads, never writes

ROLES: tuple[str, ...] = (
    OPERATOR,
    PLANNER,
    GRID_WORKER,
    TEAM_MEMBER,
    SUPERVISOR,
    ADMIN,
    INTEGRATION,
    READER,
)
ROLE_LABELS: dict[str, str] = {
    OPERATOR: "指挥中心坐席 command-center operator",
    PLANNER: "规划 boundary planner",
    GRID_WORKER: "网格员 grid worker",
    TEAM_MEMBER: "部门/执法队 department or team member",
    SUPERVISOR: "督办 supervisor",
    ADMIN: "管理员 administrator",
    INTEGRATION: "系统接入 integration (token only)",
    READER: "只读 read-only: the map, events and the stream",
}
# The roles a token is made for: an integration, or something that only reads. Any other
# role on a token (a credential no person holds, copied into scripts) needs a county-wide
# administrator to ask for it explicitly, and is audited as such (`check_token_role`).
TOKEN_ROLES: tuple[str, ...] = (INTEGRATION, READER)

# --- actions ----------------------------------------------------------------------------

WORKFLOW_ACTIONS: tuple[str, ...] = (
    "register",
    "assign",
    "start",
    "report_back",
    "close",
    "archive",
    "return",
    "reopen",
    "escalate",
    "joint_dispatch",
    "merge",
    "visit",
    "co_report_back",
)

_ALL = frozenset(ROLES)
_PEOPLE = _ALL - {INTEGRATION}
_DISPATCH = frozenset({OPERATOR, SUPERVISOR, ADMIN})
_HANDLERS = frozenset({GRID_WORKER, TEAM_MEMBER})

# THE table. Each action names what it guards; docs/security.md is generated from it.
# Supervisors (督办) see and urge everything in their jurisdiction: they dispatch, escalate
# and close like operators. Admins run the system: users, tokens, the audit log, and
# every action (a county's first user must be able to do everything).
ACTIONS: dict[str, tuple[str, frozenset[str]]] = {
    "map.view": ("see the map, boundaries, tiles, routing answers, categories", _ALL),
    "events.read": ("list and read events, timelines, photos, the live stream", _ALL),
    "events.ingest": (
        "report a new event",
        frozenset({OPERATOR, GRID_WORKER, SUPERVISOR, ADMIN, INTEGRATION}),
    ),
    "events.stats": ("statistics", frozenset({OPERATOR, SUPERVISOR, ADMIN, PLANNER})),
    "events.place": ("place an unplaced event on the map (triage)", _DISPATCH),
    "events.acknowledge": ("acknowledge an alert (who and when go on the timeline)", _DISPATCH),
    "events.photo": ("attach a photo", _DISPATCH | _HANDLERS),
    "events.reporter": (
        "see a reporter's full name and phone to call back (logged)",
        frozenset({OPERATOR, GRID_WORKER, TEAM_MEMBER}),
    ),
    "event.register": ("workflow: register a case", _DISPATCH | {GRID_WORKER}),
    "event.assign": ("workflow: assign to a team", _DISPATCH),
    "event.start": ("workflow: start handling", _DISPATCH | _HANDLERS),
    "event.report_back": ("workflow: report the result back", _DISPATCH | _HANDLERS),
    "event.close": ("workflow: close the case", _DISPATCH),
    "event.archive": ("workflow: archive", _DISPATCH),
    "event.return": ("workflow: return (not ours)", _DISPATCH | _HANDLERS),
    "event.reopen": ("workflow: reopen", _DISPATCH),
    "event.escalate": ("workflow: escalate a level", _DISPATCH | _HANDLERS),
    "event.joint_dispatch": ("workflow: joint dispatch (联合哨)", _DISPATCH),
    "event.merge": ("workflow: merge a duplicate", _DISPATCH),
    "event.visit": ("workflow: return visit and rating (回访)", _DISPATCH),
    "event.co_report_back": (
        "workflow: a co-handler's report on its part of a joint dispatch (协办反馈); "
        "an operator records it on the co-handler's behalf",
        _DISPATCH | _HANDLERS,
    ),
    "patrols.record": (
        "record one's own patrols (巡查) and household visits (走访)",
        _HANDLERS,
    ),
    "patrols.read": ("see workers on patrol, patrol tracks and visits", _PEOPLE),
    "boundaries.draft": ("edit boundary drafts", frozenset({PLANNER, ADMIN})),
    "boundaries.publish": ("publish a boundary version", frozenset({PLANNER, ADMIN})),
    "account.self": ("see oneself, log out", _PEOPLE | {INTEGRATION}),
    "users.manage": ("add, disable, reset users", frozenset({ADMIN})),
    "tokens.manage": ("create, list, revoke integration tokens", frozenset({ADMIN})),
    "audit.read": ("query the audit log", frozenset({ADMIN, SUPERVISOR})),
}


def allowed(role: str, action: str) -> bool:
    """May `role` do `action`? An unknown action is never allowed (deny by default)."""
    entry = ACTIONS.get(action)
    return entry is not None and role in entry[1]


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput(
            f"unknown role {role!r}: choose one of {', '.join(ROLES)}",
            details={"field": "role", "value": role},
        )
    return role


def check_token_role(role: str, *, privileged: bool = False) -> str:
    """A token's role: one of `TOKEN_ROLES`, or any role when asked for explicitly."""
    check_role(role)
    if role not in TOKEN_ROLES and not privileged:
        raise PermissionDenied(
            f"a token is for an integration: role {' or '.join(TOKEN_ROLES)}; a token of "
            f"role {role} must be asked for explicitly by a county-wide administrator "
            "(privileged, audited)",
            details={"field": "role", "value": role, "token_roles": list(TOKEN_ROLES)},
        )
    return role


def table_markdown() -> str:
    """The role × action table as Markdown (docs/security.md holds this text)."""
    head = "| action | what | " + " | ".join(ROLES) + " |"
    rule = "| --- | --- | " + " | ".join("---" for _ in ROLES) + " |"
    rows = [
        f"| `{name}` | {what} | "
        + " | ".join("✓" if role in roles else "–" for role in ROLES)
        + " |"
        for name, (what, roles) in ACTIONS.items()
    ]
    return "\n".join([head, rule, *rows]) + "\n"


# --- jurisdictions ----------------------------------------------------------------------

JURISDICTION_LAYERS = ("county", "township", "community", "grid")


@dataclass(frozen=True)
class Jurisdiction:
    """The areas a principal sees and acts in, by layer, plus the events of its team.

    `everywhere` is the unscoped principal (authentication switched off, or a test).
    `stream_townships` holds the townships that contain or lie in the areas (the live
    stream's filter once; it now applies the whole rule, `covers_message`).
    `home_counties` are the counties the areas (or the team) lie in: an event that could
    not be placed on the map belongs to its sender's county.
    """

    everywhere: bool = False
    county_codes: frozenset[str] = frozenset()
    township_codes: frozenset[str] = frozenset()
    community_codes: frozenset[str] = frozenset()
    grid_codes: frozenset[str] = frozenset()
    team_id: int | None = None
    stream_townships: frozenset[str] = frozenset()
    home_counties: frozenset[str] = frozenset()

    def unplaced_county(self, named: str | None = None) -> str | None:
        """The county an event nobody could place belongs to (it waits in that county's
        triage queue): the one the sender names, which must be one of its own, else the
        sender's county when its areas lie in exactly one. None: no county is known (an
        unscoped sender naming none)."""
        if named is not None:
            if not self.everywhere and named not in self.home_counties:
                raise PermissionDenied(
                    f"county {named} is not yours: name the county your areas lie in",
                    details={"field": "county", "value": named},
                )
            return named
        if len(self.home_counties) == 1:
            return next(iter(self.home_counties))
        return None

    def event_clause(self) -> ColumnElement[bool]:
        """A WHERE clause on `event`: the events this jurisdiction covers. The one rule;
        `event_sql` and `message_sql` are this expression in other places."""
        return self._rule(Event.__table__, prefix=None)

    def event_sql(self, alias: str = "e") -> tuple[str, dict[str, Any]]:
        """`event_clause` on `event` aliased as `alias`, as a SQL fragment with its bound
        parameters (`:j_...`), for queries written in SQL text (statistics, ledgers)."""
        return _as_text(self._rule(Event.__table__.alias(alias), prefix="j"))

    def message_sql(self) -> tuple[str, dict[str, Any]]:
        """The same rule on a `stream_message` row (`:m_...`): its county and township
        columns, and the community, grid, team and co-handling teams its payload names
        (`gridmap.events.lifecycle.announcement`). Messages about no event
        (`notify.PUBLIC_KINDS`) are the caller's."""
        return _as_text(self._rule(_MESSAGE, prefix="m"))

    def field_sql(self, alias: str = "x") -> tuple[str, dict[str, Any]]:
        """The same rule on a row of field work (`patrol` or `visit` aliased as `alias`: its
        area chain and the walker's team; nothing is co-handled there), as a SQL fragment
        with its bound parameters (`:f_...`)."""
        return _as_text(self._rule(Patrol.__table__.alias(alias), prefix="f", co_handled=False))

    def _rule(
        self, rows: FromClause, *, prefix: str | None, co_handled: bool = True
    ) -> ColumnElement[bool]:
        """The jurisdiction rule on `rows`: an event row (`event`, or an alias of it) or a
        stream message, whose payload carries the event's codes and teams.

        `prefix` names the bound parameters (`{prefix}_{layer}`, `{prefix}_team`) for a
        fragment pasted into SQL text; None leaves them anonymous (a clause used twice in
        one statement must not share names). `co_handled`: rows an event's co-handling
        teams also see (events); field work has none."""
        if self.everywhere:
            return true()

        def param(name: str, value: Any, type_: Any) -> BindParameter[Any]:
            if prefix is None:
                return bindparam(None, value, type_=type_, unique=True)
            return bindparam(f"{prefix}_{name}", value, type_=type_)

        message = rows is _MESSAGE
        terms: list[ColumnElement[bool]] = []
        for layer, codes in (
            ("county", self.county_codes),
            ("township", self.township_codes),
            ("community", self.community_codes),
            ("grid", self.grid_codes),
        ):
            if not codes:
                continue
            column: ColumnElement[Any] = (
                literal_column(f"payload->>'{layer}_code'")
                if message and layer in ("community", "grid")
                else rows.c[f"{layer}_code"]
            )
            terms.append(column == any_(param(layer, sorted(codes), ARRAY(Text))))
        if self.team_id is not None:
            # Teams act on what is assigned to them wherever it is, co-handling included.
            team = param("team", self.team_id, Integer())
            if message:
                terms.append(literal_column("payload->>'team_id'") == cast(team, Text))
                terms.append(
                    literal_column("coalesce(payload->'co_team_ids', '[]'::jsonb)").op("@>")(
                        func.to_jsonb(cast(team, Integer))
                    )
                )
            else:
                terms.append(rows.c.team_id == team)
                if co_handled:
                    terms.append(
                        rows.c.id.in_(
                            select(EventCoHandler.event_id).where(EventCoHandler.team_id == team)
                        )
                    )
        return or_(*terms) if terms else false()

    def covers_message(
        self, *, county_code: str | None, township_code: str | None, payload: dict[str, Any]
    ) -> bool:
        """`message_sql` for one message in Python (the live fan-out)."""
        team = payload.get("team_id")
        return self.covers_codes(
            county_code=county_code,
            township_code=township_code,
            community_code=payload.get("community_code"),
            grid_code=payload.get("grid_code"),
            team_id=team if isinstance(team, int) else None,
            co_handler_team_ids=payload.get("co_team_ids") or (),
        )

    def covers(self, event: Event, *, co_handler_team_ids: Iterable[int] = ()) -> bool:
        """The same rule for one loaded event (the `event_clause` predicate, in Python)."""
        return self.covers_codes(
            county_code=event.county_code,
            township_code=event.township_code,
            community_code=event.community_code,
            grid_code=event.grid_code,
            team_id=event.team_id,
            co_handler_team_ids=co_handler_team_ids,
        )

    def covers_codes(
        self,
        *,
        county_code: str | None,
        township_code: str | None,
        community_code: str | None,
        grid_code: str | None,
        team_id: int | None,
        co_handler_team_ids: Iterable[int] = (),
    ) -> bool:
        """The same rule on an event's codes and teams (a new event's columns, a stream
        message's payload)."""
        if self.everywhere:
            return True
        if self.team_id is not None and (
            team_id == self.team_id or self.team_id in set(co_handler_team_ids)
        ):
            return True
        return (
            (county_code is not None and county_code in self.county_codes)
            or (township_code is not None and township_code in self.township_codes)
            or (community_code is not None and community_code in self.community_codes)
            or (grid_code is not None and grid_code in self.grid_codes)
        )


EVERYWHERE = Jurisdiction(everywhere=True)

_MESSAGE = StreamMessageRow.__table__
# Named parameters (`:name`), no driver casts: the form `sqlalchemy.text` reads.
_TEXT_DIALECT = PGDialect(paramstyle="named")


def _as_text(clause: ColumnElement[bool]) -> tuple[str, dict[str, Any]]:
    """A clause as a SQL text fragment and its bound parameters."""
    compiled = clause.compile(dialect=_TEXT_DIALECT)
    return f"({compiled})", dict(compiled.params)


@dataclass(frozen=True)
class Principal:
    """Who is asking: a logged-in user, an integration's token, or the unscoped system."""

    kind: str  # user | token | system
    id: int | None
    name: str
    role: str
    jurisdiction: Jurisdiction
    team_id: int | None = None
    areas: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # (layer, code)

    @property
    def actor(self) -> str:
        """How logs name this principal: `user:NAME`, `token:NAME` or `system`."""
        return self.name if self.kind == "system" else f"{self.kind}:{self.name}"

    def may(self, action: str) -> bool:
        return allowed(self.role, action)


SYSTEM = Principal(kind="system", id=None, name="system", role=ADMIN, jurisdiction=EVERYWHERE)
