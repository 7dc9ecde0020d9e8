"""Finding anything the command view can fly to: areas by code or name, teams, events by id.

Every query filters by the caller's jurisdiction inside the SQL (areas and teams through
`AreaScope`, events through `Jurisdiction.event_clause`), so nothing outside it is even
counted. Areas are matched in small LIMITed branches rather than one query ordered over
every match (a code prefix such as the county's matches all 200,000 grids of a megacity):
codes as index ranges per layer, names by one scan that stops at the first few matches
(bench/search.py measures both against the single query).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, select, text
from sqlalchemy.orm import Session

from gridmap.access import scope as area_scope
from gridmap.access.permissions import Jurisdiction
from gridmap.access.scope import AreaScope
from gridmap.boundaries import versions as boundaries
from gridmap.errors import InvalidInput
from gridmap.models import Category, Event

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
    or lone surrogates (PostgreSQL text cannot hold NUL, and no code or name holds the
    others)."""
    q = query.strip()
    if not q:
        raise InvalidInput("q: give something to search for", details={"field": "q"})
    if len(q) > MAX_QUERY_CHARS:
        raise InvalidInput(
            f"q: at most {MAX_QUERY_CHARS} characters, got {len(q)}",
            details={"field": "q", "length": len(q)},
        )
    # Lone surrogates cannot be encoded for the database either.
    bad = sorted(
        {f"U+{ord(c):04X}" for c in q if ord(c) < 32 or ord(c) == 127 or 0xD800 <= ord(c) < 0xE000}
    )
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

# The counties present, by a loose index scan of ix_area_lookup (county_code, layer, code,
# valid_from): one index descent per county instead of reading 200,000 rows.
_COUNTIES = """
    WITH RECURSIVE c AS (
        SELECT min(county_code) AS v FROM area
        UNION ALL
        SELECT (SELECT min(county_code) FROM area WHERE county_code > c.v) FROM c
        WHERE c.v IS NOT NULL
    ) SELECT v FROM c WHERE v IS NOT NULL
"""
# Codes by prefix, one layer at a time, as a range on ix_area_lookup: the range finds the
# candidates in the index, LIKE keeps exactly the prefixed ones (a linguistic collation may
# order a few codes outside the range; the embedded cluster's C.UTF-8 orders by code point).
# A LIMIT per layer, so the thousands of grids under a prefix cannot crowd out its township.
_CODE_BRANCH = """
    (SELECT a.id, a.code, CASE WHEN a.code = :q THEN 0 ELSE 1 END AS rank,
            {layer_rank} AS layer_rank FROM area a
     WHERE a.county_code = ANY(ARRAY({counties})) AND a.layer = '{layer}'
       AND a.code >= :q AND a.code < :q_end AND a.code LIKE :prefix ESCAPE '\\'
       AND a.valid_from <= :version AND (a.valid_to IS NULL OR a.valid_to > :version)
       AND {scope}
     LIMIT :limit)
"""
# Names by substring: the trigram index (migration 0008) serves ILIKE '%…%'; one query that
# stops at the first `limit` matches.
_NAME_BRANCH = """
    (SELECT a.id, a.code, 2 AS rank, {layer_rank} AS layer_rank FROM area a
     WHERE a.name ILIKE :substring ESCAPE '\\' AND NOT a.code LIKE :prefix ESCAPE '\\'
       AND a.valid_from <= :version AND (a.valid_to IS NULL OR a.valid_to > :version)
       AND {scope}
     LIMIT :limit)
"""
# Past every character a code can hold: [q, q + this) holds every string starting with q.
_LAST_CHAR = "\U0010ffff"


def search_areas(
    session: Session, *, query: str, version_id: int, scope: AreaScope, limit: int = 10
) -> list[SearchHit]:
    """Areas of `version_id` in `scope` whose code is `query` or starts with it, or whose
    name contains it (case-insensitive); the exact code first, then code prefixes (higher
    layers first), then names. Bounding boxes are read for the hits only.

    Names are searched only when the codes leave room: no exact code and fewer than
    `limit` prefixed ones. A name scan reads the whole table when nothing matches, and
    someone who typed a whole code wants that area, not names that happen to contain it.
    """
    q = check_query(query)
    _check_limit(limit)
    where, scope_params = scope.sql("a")
    escaped = _like_escaped(q)
    params = {
        **scope_params,
        "version": version_id,
        "q": q,
        "q_end": q + _LAST_CHAR,
        "prefix": escaped + "%",
        "substring": "%" + escaped + "%",
        "limit": limit,
    }
    code_branches = [
        _CODE_BRANCH.format(counties=_COUNTIES, layer=layer, scope=where, layer_rank=i)
        for i, layer in enumerate(_LAYER_ORDER)
    ]
    hits = list(session.execute(text(" UNION ALL ".join(code_branches)), params).all())
    if len(hits) < limit and not any(h.rank == 0 for h in hits):
        layer_rank = (
            "CASE a.layer "
            + " ".join(f"WHEN '{layer}' THEN {i}" for i, layer in enumerate(_LAYER_ORDER))
            + " ELSE 99 END"
        )
        hits += session.execute(
            text(_NAME_BRANCH.format(scope=where, layer_rank=layer_rank)), params
        ).all()
    chosen = sorted(hits, key=lambda h: (h.rank, h.layer_rank, len(h.code), h.code))[:limit]
    ranks = {int(h.id): int(h.rank) for h in chosen}
    rows = session.execute(
        text(
            """
            SELECT a.id, a.code, a.name, a.layer, a.parent_code, a.households, a.county_code,
                   ST_XMin(a.geom) AS west, ST_YMin(a.geom) AS south,
                   ST_XMax(a.geom) AS east, ST_YMax(a.geom) AS north
            FROM area a WHERE a.id = ANY(:ids)
            """
        ),
        {"ids": list(ranks)},
    ).all()
    order = {int(h.id): i for i, h in enumerate(chosen)}
    rows = sorted(rows, key=lambda r: order[int(r.id)])
    match = {0: "code", 1: "code_prefix", 2: "name"}
    return [
        SearchHit(
            kind="area",
            id=int(r.id),
            code=r.code,
            name=r.name,
            layer=r.layer,
            bbox=_bbox(r),
            match=match[ranks[int(r.id)]],
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
    hits += search_places(session, query=q, jurisdiction=jurisdiction, limit=limit)
    return SearchResult(query=q, version_id=version_id, hits=hits)


# Kinds of place hits (`SearchHit.layer` of kind "place"), in the order they are listed.
PLACE_KINDS = ("road", "poi", "village", "address")
# Half the side of the box a point hit flies to, degrees (~50 m).
_POINT_BOX = 0.0005


def search_places(
    session: Session, *, query: str, jurisdiction: Jurisdiction, limit: int = 10
) -> list[SearchHit]:
    """Roads, POIs, villages and addresses of the basemap and the address register
    (gridmap.boundaries.basemap) whose name holds `query`, in the jurisdiction's counties: kind
    "place", `layer` one of PLACE_KINDS. Names starting with the query come first."""
    q = check_query(query)
    counties = None if jurisdiction.everywhere else sorted(jurisdiction.county_codes)
    if counties is not None and not counties:
        return []
    where_county = "" if counties is None else "AND county_code = ANY(:counties)"
    rows = session.execute(
        text(
            f"""
            (SELECT 'village' AS layer, name, county_code, NULL::bigint AS id,
                    ST_XMin(geom) AS w, ST_YMin(geom) AS s, ST_XMax(geom) AS e,
                    ST_YMax(geom) AS n, name LIKE :prefix AS starts
             FROM basemap_feature
             WHERE layer = 'place' AND name LIKE :pattern ESCAPE '\\' {where_county}
             ORDER BY starts DESC, length(name) LIMIT :limit)
            UNION ALL
            (SELECT CASE kind WHEN 'building' THEN 'address' WHEN 'place' THEN 'village'
                    ELSE kind END, coalesce(name, full_text), county_code, id,
                    ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom),
                    full_text LIKE :prefix OR coalesce(name, '') LIKE :prefix
             FROM address_entry
             WHERE (full_text LIKE :pattern ESCAPE '\\' OR name LIKE :pattern ESCAPE '\\')
               {where_county}
             ORDER BY 9 DESC, length(full_text) LIMIT :limit3)
            """
        ),
        {
            "pattern": f"%{_like_escaped(q)}%",
            "prefix": f"{_like_escaped(q)}%",
            "counties": counties,
            "limit": limit,
            "limit3": limit * 3,
        },
    ).all()
    hits: list[SearchHit] = []
    seen: set[tuple[str, str]] = set()
    for layer in PLACE_KINDS:
        taken = 0
        for r in rows:
            if r.layer != layer or (layer, r.name) in seen or taken >= limit:
                continue
            seen.add((layer, r.name))
            taken += 1
            bbox = (r.w - _POINT_BOX, r.s - _POINT_BOX, r.e + _POINT_BOX, r.n + _POINT_BOX)
            point = ((r.w + r.e) / 2, (r.s + r.n) / 2)
            hits.append(
                SearchHit(
                    kind="place",
                    name=r.name,
                    id=r.id,
                    layer=layer,
                    bbox=bbox,
                    point=point,
                    extra={"county_code": r.county_code},
                )
            )
    return hits
