"""Boundary versions: "valid in", create a version, stage areas in it, read a version's areas.

A version belongs to one county (`county_code`): it changes that county's areas only,
and each county has its own active version. A version is prepared (status `draft` or
`staged`) as a set of changes in `draft_area` against the county's version that was
active when it was created (`base_version_id`). What it changes is compared in
`gridmap.boundaries.diffs`; making it active (and staging an old one again) is
`gridmap.boundaries.activation`.

Published version ids increase in the order of publication, database-wide (see
`gridmap.boundaries.activation`). So `[valid_from, valid_to)` ranges answer for any
moment: "valid in version V" (`VALID_IN`) is every county as it was when V was
published, and valid in the latest published version is every county's active version
at once (what routing, tiles and features show). Publishing through a door (editor,
API, CLI) goes through `gridmap.boundaries.publishing.publish_version`, which adds the
jurisdiction check, validation and re-routing of open events.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import bindparam, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session, object_session

from gridmap.access.permissions import Jurisdiction
from gridmap.access.scope import EVERYWHERE, AreaScope, scope_for
from gridmap.errors import Conflict, InvalidInput, NotFound
from gridmap.models import LAYERS, BoundaryVersion


def valid_in(version: str = "version", *, alias: str | None = None) -> str:
    """The rule "valid in version V" as a WHERE fragment on an `area`-shaped row: `version`
    names the bound parameter holding V, `alias` qualifies the columns (`a.valid_from`).
    Built here rather than by rewriting one string, so each use says what it binds."""
    column = f"{alias}." if alias else ""
    return (
        f"{column}valid_from <= :{version} "
        f"AND ({column}valid_to IS NULL OR {column}valid_to > :{version})"
    )


VALID_IN = valid_in()


def valid_areas_where(filters: list[str], params: dict[str, Any], *, scope: AreaScope) -> str:
    """A WHERE clause on `area`: valid in `:version` (`VALID_IN`), `filters`, and the
    jurisdiction's fragment unless it reaches everywhere (its parameters added to
    `params`), joined by AND. The scope is part of the query, so nothing outside it is read."""
    clauses = [VALID_IN, *filters]
    if not scope.everywhere:
        fragment, scope_params = scope.sql("area")
        clauses.append(fragment)
        params.update(scope_params)
    return " AND ".join(clauses)


@dataclass(frozen=True, slots=True)
class AreaRow:
    """One area as it should be in a version (input to `stage_areas`)."""

    county_code: str
    layer: str
    code: str
    name: str
    geom: BaseGeometry  # Polygon or MultiPolygon, EPSG:4326
    parent_code: str | None = None
    households: int | None = None
    kind: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


# --- versions ---------------------------------------------------------------------------


def active_version(session: Session, *, county_code: str | None = None) -> BoundaryVersion | None:
    """A county's active version; without a county, the latest published version that is
    still active: "valid in" it is every county's active version at once."""
    query = select(BoundaryVersion).where(BoundaryVersion.status == "active")
    if county_code is not None:
        return session.scalars(
            query.where(BoundaryVersion.county_code == county_code)
        ).one_or_none()
    return session.scalars(query.order_by(BoundaryVersion.id.desc()).limit(1)).one_or_none()


def active_scope(session: Session, jurisdiction: Jurisdiction) -> AreaScope:
    """The areas a jurisdiction sees on the active map (nothing before any publication)."""
    if jurisdiction.everywhere:
        return EVERYWHERE
    active = active_version(session)
    if active is None:
        return AreaScope(everywhere=False)
    return scope_for(session, jurisdiction=jurisdiction, version_id=active.id)


def active_versions(session: Session) -> dict[str, int]:
    """Each county's active version id."""
    rows = session.execute(
        select(BoundaryVersion.county_code, BoundaryVersion.id).where(
            BoundaryVersion.status == "active", BoundaryVersion.county_code.is_not(None)
        )
    )
    return {str(c): int(v) for c, v in rows}


def county_versions_at(session: Session, *, version_id: int) -> dict[str, int]:
    """Each county's version as it stood when `version_id` was published (the latest
    published version of each county with an id not above it)."""
    rows = session.execute(
        text(
            "SELECT county_code, max(id) FROM boundary_version WHERE activated_at IS NOT NULL "
            "AND county_code IS NOT NULL AND id <= :v GROUP BY county_code"
        ),
        {"v": version_id},
    )
    return {str(c): int(v) for c, v in rows}


def get_version(session: Session, *, version_id: int) -> BoundaryVersion:
    version = session.get(BoundaryVersion, version_id)
    if version is None:
        raise NotFound(f"boundary version {version_id} does not exist")
    return version


def list_versions(
    session: Session, *, county_codes: Iterable[str] | None = None
) -> list[BoundaryVersion]:
    """Every version (of these counties only, when given), oldest first."""
    query = select(BoundaryVersion).order_by(BoundaryVersion.id)
    if county_codes is not None:
        query = query.where(BoundaryVersion.county_code.in_(sorted(set(county_codes))))
    return list(session.scalars(query))


def version_at(
    session: Session, *, at: dt.datetime, county_code: str | None = None
) -> BoundaryVersion | None:
    """The version published last at or before moment `at` (of one county, when given).

    Without a county it stands for every county at that moment: each county's areas
    "valid in" it are those of the county's version active then."""
    if at.tzinfo is None:
        raise InvalidInput("a moment must carry its time zone, e.g. 2026-03-01T09:00:00+08:00")
    query = select(BoundaryVersion).where(
        BoundaryVersion.activated_at.is_not(None), BoundaryVersion.activated_at <= at
    )
    if county_code is not None:
        query = query.where(BoundaryVersion.county_code == county_code)
    return session.scalars(
        query.order_by(BoundaryVersion.activated_at.desc(), BoundaryVersion.id.desc()).limit(1)
    ).one_or_none()


def create_version(
    session: Session,
    *,
    name: str,
    created_by: str,
    note: str = "",
    county_code: str | None = None,
    status: str = "draft",
) -> BoundaryVersion:
    """A new, empty version of one county, prepared against that county's active one.

    Without `county_code` the version takes the county of the first area staged in it
    (and that county's active version as its base, then)."""
    if status not in ("draft", "staged"):
        raise InvalidInput(f"a new version is a draft or staged, not {status!r}")
    base = active_version(session, county_code=county_code) if county_code else None
    version = BoundaryVersion(
        name=name,
        note=note,
        created_by=created_by,
        county_code=county_code,
        status=status,
        base_version_id=base.id if base else None,
        summary={},
    )
    session.add(version)
    session.flush()
    return version


# --- staging ----------------------------------------------------------------------------


def _as_multipolygon(geom: BaseGeometry, *, code: str) -> BaseGeometry:
    if geom.geom_type == "Polygon":
        return shapely.MultiPolygon([geom])  # type: ignore[list-item]
    if geom.geom_type != "MultiPolygon":
        raise InvalidInput(f"area {code}: expected a polygon, got {geom.geom_type}")
    return geom


def _require_open(session: Session, version_id: int) -> BoundaryVersion:
    version = get_version(session, version_id=version_id)
    if version.status not in ("draft", "staged"):
        raise Conflict(
            f"version {version_id} is {version.status}: only a draft or staged version "
            "can be changed"
        )
    return version


def _require_county(version: BoundaryVersion, county_code: str, code: str) -> None:
    if version.county_code is None:
        # The first staged area names the county of a version created without one.
        session = object_session(version)
        assert session is not None
        base = active_version(session, county_code=county_code)
        version.county_code = county_code
        version.base_version_id = base.id if base else None
        session.flush()
    if county_code != version.county_code:
        raise InvalidInput(
            f"area {code} is of county {county_code}, but version {version.id} belongs to "
            f"county {version.county_code}: a version changes one county",
            details={"code": code, "county_code": county_code},
        )


_UPSERT = text(
    """
    INSERT INTO draft_area (version_id, action, county_code, layer, code, name, parent_code,
                            households, kind, attributes, geom)
    VALUES (:version_id, 'upsert', :county_code, :layer, :code, :name, :parent_code,
            :households, :kind, :attributes, ST_SetSRID(ST_GeomFromWKB(:wkb), 4326))
    ON CONFLICT (version_id, county_code, layer, code) DO UPDATE SET
        action = 'upsert', name = EXCLUDED.name, parent_code = EXCLUDED.parent_code,
        households = EXCLUDED.households, kind = EXCLUDED.kind,
        attributes = EXCLUDED.attributes, geom = EXCLUDED.geom
    """
).bindparams(bindparam("attributes", type_=JSONB))


def stage_areas(session: Session, *, version_id: int, rows: Iterable[AreaRow]) -> int:
    """Add or replace areas in a draft (by county, layer and code). Returns the count."""
    version = _require_open(session, version_id)
    params = []
    for row in rows:
        if row.layer not in LAYERS:
            raise InvalidInput(f"area {row.code}: unknown layer {row.layer!r}")
        _require_county(version, row.county_code, row.code)
        geom = _as_multipolygon(row.geom, code=row.code)
        params.append(
            {
                "version_id": version_id,
                "county_code": row.county_code,
                "layer": row.layer,
                "code": row.code,
                "name": row.name,
                "parent_code": row.parent_code,
                "households": row.households,
                "kind": row.kind,
                "attributes": row.attributes,
                "wkb": shapely.to_wkb(geom, output_dimension=2),
            }
        )
    if params:
        session.execute(_UPSERT, params)
    session.flush()
    return len(params)


def stage_removals(
    session: Session, *, version_id: int, keys: Iterable[tuple[str, str, str]]
) -> int:
    """Mark areas (county_code, layer, code) for removal in a draft."""
    version = _require_open(session, version_id)
    params = []
    for c, layer, code in keys:
        _require_county(version, c, code)
        params.append({"version_id": version_id, "county_code": c, "layer": layer, "code": code})
    if params:
        session.execute(
            text(
                """
                INSERT INTO draft_area (version_id, action, county_code, layer, code, name,
                                        attributes)
                VALUES (:version_id, 'delete', :county_code, :layer, :code, '', '{}')
                ON CONFLICT (version_id, county_code, layer, code) DO UPDATE SET
                    action = 'delete', geom = NULL
                """
            ),
            params,
        )
    session.flush()
    return len(params)


def stage_layer_replacement(
    session: Session, *, version_id: int, county_code: str, layers: Iterable[str]
) -> int:
    """Remove every current area of `layers` in the county that the draft does not upsert:
    the draft then holds the whole of those layers (what a file import means)."""
    _require_county(_require_open(session, version_id), county_code, "*")
    result = session.execute(
        text(
            """
            INSERT INTO draft_area (version_id, action, county_code, layer, code, name, attributes)
            SELECT :v, 'delete', a.county_code, a.layer, a.code, a.name, '{}'
            FROM area a
            WHERE a.valid_to IS NULL AND a.county_code = :county AND a.layer = ANY(:layers)
              AND NOT EXISTS (
                SELECT 1 FROM draft_area d
                WHERE d.version_id = :v AND d.county_code = a.county_code
                  AND d.layer = a.layer AND d.code = a.code)
            """
        ),
        {"v": version_id, "county": county_code, "layers": list(layers)},
    )
    session.flush()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# --- reading areas of a version ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AreaRecord:
    id: int
    county_code: str
    layer: str
    code: str
    name: str
    parent_code: str | None
    households: int | None
    kind: str | None
    attributes: dict[str, Any]
    geom: BaseGeometry


def areas_in_version(
    session: Session,
    *,
    version_id: int,
    layers: Iterable[str] | None = None,
    county_code: str | None = None,
    scope: AreaScope = EVERYWHERE,
) -> list[AreaRecord]:
    """Every area valid in a published version (optionally some layers / one county / a
    jurisdiction's scope), by layer and code, with its geometry. The scope is part of the
    query, so an export holds nothing outside it."""
    filters: list[str] = []
    params: dict[str, Any] = {"version": version_id}
    if layers is not None:
        filters.append("layer = ANY(:layers)")
        params["layers"] = list(layers)
    if county_code is not None:
        filters.append("county_code = :county")
        params["county"] = county_code
    rows = session.execute(
        text(
            "SELECT id, county_code, layer, code, name, parent_code, households, kind, "
            "attributes, ST_AsBinary(geom) AS wkb FROM area WHERE "
            + valid_areas_where(filters, params, scope=scope)
            + " ORDER BY layer, code"
        ),
        params,
    ).all()
    geoms: list[BaseGeometry] = list(shapely.from_wkb([bytes(r.wkb) for r in rows]))
    return [
        AreaRecord(
            r.id,
            r.county_code,
            r.layer,
            r.code,
            r.name,
            r.parent_code,
            r.households,
            r.kind,
            r.attributes or {},
            g,
        )
        for r, g in zip(rows, geoms, strict=True)
    ]
