"""Finding anything the command view can fly to: areas by code or name, teams, events by id.

Every query filters by the caller's jurisdiction inside the SQL (areas and teams through
`AreaScope`, events through `Jurisdiction.event_clause`), so nothing outside it is even
counted. Area matching is split into three small LIMITed queries (exact code, code
prefix, name substring) rather than one query ordered over every match: a common word
such as "网格" matches every grid of a megacity, and only the first few are shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, select, text
from sqlalchemy.orm import Session

from gridmap import area_scope, boundaries
from gridmap.area_scope import AreaScope
from gridmap.errors import InvalidInput
from gridmap.models import Category, Event
from gridmap.permissions import Jurisdiction

Bbox = tuple[float, float, float, float]  # west, south, east, north (lon/lat, WGS84)

MAX_QUERY_CHARS = 100
MAX_LIMIT = 50
# Events use bigint ids: a larger number cannot be one (and would be a database error).
_MAX_EVENT_ID = 2**63 - 1
_EVENT_ID = re.compile(r"#?(\d{1,19})")
# Higher layers first among equally good matches: a township before its grids.
_LAYER_ORDER = (
    "county",
    "township",
    "community",
    "enforcement_zone",
    "grid",
    "dedicated_grid",
    "micro_grid",
)
# Areas a team hit lists (its bbox covers all of them).
_TEAM_AREAS_SHOWN = 20


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One thing found: where it is (a bbox for areas and teams, a point for events)."""

    kind: str  # area | team | event
    name: str
    code: str | None = None
    id: int | None = None
    layer: str | None = None
    bbox: Bbox | None = None
    point: tuple[float, float] | None = None
    match: str = "name"  # id | code | code_prefix | name: how it matched
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "code": self.code,
            "name": self.name,
            "layer": self.layer,
            "bbox": list(self.bbox) if self.bbox else None,
            "point": list(self.point) if self.point else None,
            "match": self.match,
            **self.extra,
        }


def check_query(query: str) -> str:
    """The search text, trimmed; refused when empty, too long or holding control characters
    (PostgreSQL text cannot hold NUL, and no code or name holds the others)."""
    q = query.strip()
    if not q:
        raise InvalidInput("q: give something to search for", details={"field": "q"})
    if len(q) > MAX_QUERY_CHARS:
        raise InvalidInput(
            f"q: at most {MAX_QUERY_CHARS} characters, got {len(q)}",
            details={"field": "q", "length": len(q)},
        )
    bad = sorted({f"U+{ord(c):04X}" for c in q if ord(c) < 32 or ord(c) == 127})
    if bad:
        raise InvalidInput(
            f"q: control characters are not searchable ({', '.join(bad)})",
            details={"field": "q", "characters": bad},
        )
    return q


def _like_escaped(value: str) -> str:
    """`value` for a LIKE pattern, its own wildcards taken literally (ESCAPE '\\')."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(
            f"limit: between 1 and {MAX_LIMIT}, got {limit}",
            details={"field": "limit", "value": limit},
        )
    return limit


def _bbox(row: Any) -> Bbox | None:
    if row.west is None:
        return None
    return float(row.west), float(row.south), float(row.east), float(row.north)


# --- areas ------------------------------------------------------------------------------

_AREA_BRANCH = """
    (SELECT a.id, {rank} AS rank FROM area a
     WHERE a.valid_from <= :version AND (a.valid_to IS NULL OR a.valid_to > :version)
       AND {scope} AND {match}
     {order} LIMIT :limit)
"""


def search_areas(
    session: Session, *, query: str, version_id: int, scope: AreaScope, limit: int = 10
) -> list[SearchHit]:
    """Areas of `version_id` in `scope` whose code is `query` or starts with it
    (case-insensitive), or whose name contains it; exact code first, then code prefixes
    (shorter codes, i.e. higher layers, first), then names."""
    q = check_query(query)
    _check_limit(limit)
    where, params = scope.sql("a")
    escaped = _like_escaped(q)
    branches = [
        _AREA_BRANCH.format(rank=0, scope=where, match="lower(a.code) = lower(:q)", order=""),
        _AREA_BRANCH.format(
            rank=1,
            scope=where,
            match="a.code ILIKE :prefix ESCAPE '\\' AND lower(a.code) <> lower(:q)",
            order="ORDER BY length(a.code), a.code",
        ),
        _AREA_BRANCH.format(
            rank=2,
            scope=where,
            match="a.name ILIKE :substring ESCAPE '\\' AND NOT a.code ILIKE :prefix ESCAPE '\\'",
            order="",
        ),
    ]
    layer_rank = " ".join(f"WHEN '{layer}' THEN {i}" for i, layer in enumerate(_LAYER_ORDER))
    sql = f"""
        WITH hits AS ({" UNION ALL ".join(branches)})
        SELECT a.id, a.code, a.name, a.layer, a.parent_code, a.households, a.county_code,
               h.rank, ST_XMin(a.geom) AS west, ST_YMin(a.geom) AS south,
               ST_XMax(a.geom) AS east, ST_YMax(a.geom) AS north
        FROM hits h JOIN area a ON a.id = h.id
        ORDER BY h.rank, CASE a.layer {layer_rank} ELSE 99 END, length(a.code), a.code
        LIMIT :limit
    """
    rows = session.execute(
        text(sql),
        {
            **params,
            "version": version_id,
            "q": q,
            "prefix": escaped + "%",
            "substring": "%" + escaped + "%",
            "limit": limit,
        },
    ).all()
    match = {0: "code", 1: "code_prefix", 2: "name"}
    return [
        SearchHit(
            kind="area",
            id=int(r.id),
            code=r.code,
            name=r.name,
            layer=r.layer,
            bbox=_bbox(r),
            match=match[int(r.rank)],
            extra={
                "parent_code": r.parent_code,
                "households": r.households,
                "county_code": r.county_code,
            },
        )
        for r in rows
    ]


# --- teams ------------------------------------------------------------------------------

_DUTY_AREAS = """
    duty du JOIN area a ON a.county_code = du.county_code AND a.layer = du.layer
                       AND a.code = du.area_code
                       AND a.valid_from <= :version
                       AND (a.valid_to IS NULL OR a.valid_to > :version)
"""


def search_teams(
    session: Session,
    *,
    query: str,
    version_id: int | None,
    scope: AreaScope,
    own_team_id: int | None = None,
    limit: int = 10,
) -> list[SearchHit]:
    """Active teams whose name contains `query` or whose code starts with it, with their
    department and the areas they are on duty for (in `version_id`, within `scope`).

    A team is visible when its county is in the scope, when it is on duty for an area in
    the scope, or when it is the caller's own team.
    """
    q = check_query(query)
    _check_limit(limit)
    escaped = _like_escaped(q)
    params: dict[str, Any] = {
        "q": q,
        "prefix": escaped + "%",
        "substring": "%" + escaped + "%",
        "limit": limit,
        "version": version_id,
        "own_team": own_team_id,
    }
    if scope.everywhere:
        visible = "TRUE"
    else:
        where, scope_params = scope.sql("a")
        params.update(scope_params, team_counties=sorted(scope.county_codes))
        on_duty = (
            f"EXISTS (SELECT 1 FROM {_DUTY_AREAS} WHERE du.team_id = t.id AND {where})"
            if version_id is not None
            else "FALSE"
        )
        visible = (
            "(t.county_code = ANY(CAST(:team_counties AS text[])) OR t.id = :own_team"
            f" OR {on_duty})"
        )
    rows = session.execute(
        text(
            f"""
            SELECT t.id, t.code, t.name, t.level, t.county_code, t.phone,
                   d.code AS department_code, d.name AS department_name
            FROM team t LEFT JOIN department d ON d.id = t.department_id
            WHERE t.active AND (t.name ILIKE :substring ESCAPE '\\'
                                OR t.code ILIKE :prefix ESCAPE '\\')
              AND {visible}
            ORDER BY lower(t.code) = lower(:q) DESC, t.code ILIKE :prefix ESCAPE '\\' DESC,
                     length(t.name), t.code
            LIMIT :limit
            """
        ),
        params,
    ).all()
    duties = _team_areas(session, team_ids=[r.id for r in rows], version_id=version_id, scope=scope)
    hits = []
    for r in rows:
        areas = duties.get(int(r.id), [])
        boxes = [a["bbox"] for a in areas if a["bbox"] is not None]
        bbox = (
            (
                min(b[0] for b in boxes),
                min(b[1] for b in boxes),
                max(b[2] for b in boxes),
                max(b[3] for b in boxes),
            )
            if boxes
            else None
        )
        exact = r.code.lower() == q.lower()
        hits.append(
            SearchHit(
                kind="team",
                id=int(r.id),
                code=r.code,
                name=r.name,
                bbox=bbox,
                match="code"
                if exact
                else "code_prefix"
                if r.code.lower().startswith(q.lower())
                else "name",
                extra={
                    "level": r.level,
                    "department": (
                        {"code": r.department_code, "name": r.department_name}
                        if r.department_code
                        else None
                    ),
                    "areas": [
                        {
                            **{k: a[k] for k in ("layer", "code", "name", "role")},
                            "bbox": list(a["bbox"]) if a["bbox"] else None,
                        }
                        for a in areas[:_TEAM_AREAS_SHOWN]
                    ],
                    "areas_total": len(areas),
                },
            )
        )
    return hits


def _team_areas(
    session: Session, *, team_ids: list[int], version_id: int | None, scope: AreaScope
) -> dict[int, list[dict[str, Any]]]:
    """team id → the areas of `version_id` it is on duty for that `scope` shows."""
    if not team_ids or version_id is None:
        return {}
    where, params = scope.sql("a")
    rows = session.execute(
        text(
            f"""
            SELECT du.team_id, du.layer, du.area_code, du.role, a.name,
                   ST_XMin(a.geom) AS west, ST_YMin(a.geom) AS south,
                   ST_XMax(a.geom) AS east, ST_YMax(a.geom) AS north
            FROM {_DUTY_AREAS}
            WHERE du.team_id = ANY(:team_ids) AND {where}
            ORDER BY du.team_id, du.layer, du.area_code
            """
        ),
        {**params, "team_ids": team_ids, "version": version_id},
    ).all()
    out: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(int(r.team_id), []).append(
            {
                "layer": r.layer,
                "code": r.area_code,
                "name": r.name,
                "role": r.role,
                "bbox": _bbox(r),
            }
        )
    return out


# --- events -----------------------------------------------------------------------------


def event_id_in(query: str) -> int | None:
    """The event id `query` names ("1234" or "#1234"), or None when it names none."""
    found = _EVENT_ID.fullmatch(query.strip())
    if found is None:
        return None
    value = int(found.group(1))
    return value if 0 < value <= _MAX_EVENT_ID else None


def find_event(session: Session, *, event_id: int, jurisdiction: Jurisdiction) -> SearchHit | None:
    """Event `event_id` if the jurisdiction covers it (outside it, it does not exist)."""
    row = session.execute(
        select(
            Event.id,
            Event.category_code,
            Event.status,
            Event.priority,
            Event.grid_code,
            Event.overdue,
            func.ST_X(Event.point).label("lon"),
            func.ST_Y(Event.point).label("lat"),
            Category.name.label("category_name"),
        )
        .outerjoin(
            Category,
            and_(Category.code == Event.category_code, Category.county_code == Event.county_code),
        )
        .where(Event.id == event_id, jurisdiction.event_clause())
    ).first()
    if row is None:
        return None
    return SearchHit(
        kind="event",
        id=int(row.id),
        name=row.category_name or row.category_code,
        point=(float(row.lon), float(row.lat)) if row.lon is not None else None,
        match="id",
        extra={
            "category": row.category_code,
            "status": row.status,
            "priority": row.priority,
            "grid_code": row.grid_code,
            "overdue": bool(row.overdue),
        },
    )


# --- everything at once -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SearchResult:
    query: str
    version_id: int | None
    hits: list[SearchHit]

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "version": self.version_id,
            "results": [h.to_dict() for h in self.hits],
        }


def search(
    session: Session,
    *,
    query: str,
    jurisdiction: Jurisdiction,
    own_team_id: int | None = None,
    limit: int = 10,
) -> SearchResult:
    """Events by id, areas of the active version, and teams matching `query`, as the
    jurisdiction sees them: the event first, then areas, then teams (at most `limit` of
    each kind)."""
    q = check_query(query)
    _check_limit(limit)
    active = boundaries.active_version(session)
    version_id = active.id if active is not None else None
    hits: list[SearchHit] = []
    event_id = event_id_in(q)
    if event_id is not None:
        found = find_event(session, event_id=event_id, jurisdiction=jurisdiction)
        if found is not None:
            hits.append(found)
    if version_id is not None:
        scope = area_scope.scope_for(session, jurisdiction=jurisdiction, version_id=version_id)
        hits += search_areas(session, query=q, version_id=version_id, scope=scope, limit=limit)
    else:
        # No boundaries yet: teams are still found by their county.
        scope = (
            area_scope.EVERYWHERE
            if jurisdiction.everywhere
            else AreaScope(everywhere=False, county_codes=jurisdiction.county_codes)
        )
    hits += search_teams(
        session,
        query=q,
        version_id=version_id,
        scope=scope,
        own_team_id=own_team_id if own_team_id is not None else jurisdiction.team_id,
        limit=limit,
    )
    return SearchResult(query=q, version_id=version_id, hits=hits)
