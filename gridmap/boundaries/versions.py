"""Boundary versions: stage areas in a draft, compare with the active version, activate.

A version belongs to one county (`county_code`): it changes that county's areas only,
and each county has its own active version. A version is prepared (status `draft` or
`staged`) as a set of changes in `draft_area` against the county's version that was
active when it was created (`base_version_id`). Activating it is one transaction: rows
it replaces or removes get `valid_to = version`, new shapes are inserted with
`valid_from = version`, their subdivided parts are written for PostGIS point look-ups,
and the version becomes its county's active one. A version may only be activated on top
of its base: if someone published in that county in between, it must be rebased
(optimistic locking).

Published version ids increase in the order of publication, database-wide: a version
whose id is lower than one published since it was created gets a new id when it is
activated (`activate_version`). So `[valid_from, valid_to)` ranges answer for any
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
from sqlalchemy import Row, bindparam, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session, object_session

from gridmap import notify
from gridmap.access.permissions import Jurisdiction
from gridmap.access.scope import EVERYWHERE, AreaScope, scope_for
from gridmap.errors import Conflict, InvalidInput, NotFound, VersionConflict
from gridmap.models import LAYERS, BoundaryVersion

# ST_Subdivide's vertex budget: small boxes keep the GiST look-up and ST_Covers cheap.
SUBDIVIDE_MAX_VERTICES = 64


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


@dataclass(frozen=True, slots=True)
class AreaChange:
    layer: str
    code: str
    name: str
    change: str  # added | changed | removed
    households_before: int | None = None
    households_after: int | None = None
    geometry_changed: bool = False
    # The area's parent before and after (None: no row then); for jurisdiction checks.
    parent_before: str | None = None
    parent_after: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "code": self.code,
            "name": self.name,
            "change": self.change,
            "households_before": self.households_before,
            "households_after": self.households_after,
            "geometry_changed": self.geometry_changed,
        }


@dataclass
class VersionDiff:
    """What a staged version changes compared with the active one."""

    version_id: int
    base_version_id: int | None
    changes: list[AreaChange]
    unchanged: int

    def count(self, change: str) -> int:
        return sum(1 for c in self.changes if c.change == change)

    def by_layer(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for c in self.changes:
            layer = out.setdefault(c.layer, {"added": 0, "changed": 0, "removed": 0})
            layer[c.change] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version_id,
            "base_version": self.base_version_id,
            "added": self.count("added"),
            "changed": self.count("changed"),
            "removed": self.count("removed"),
            "unchanged": self.unchanged,
            "by_layer": self.by_layer(),
            "changes": [c.to_dict() for c in self.changes],
        }

    def to_text(self, *, limit: int = 50) -> str:
        lines = [
            f"version {self.version_id} against "
            + (f"active version {self.base_version_id}" if self.base_version_id else "nothing")
            + f": {self.count('added')} added, {self.count('changed')} changed, "
            f"{self.count('removed')} removed, {self.unchanged} unchanged"
        ]
        for layer, counts in sorted(self.by_layer().items()):
            lines.append(f"  {layer}: +{counts['added']} ~{counts['changed']} -{counts['removed']}")
        for c in self.changes[:limit]:
            detail = ""
            if c.change == "added" and c.households_after is not None:
                detail = f" households {c.households_after}"
            elif c.change == "changed" and c.households_before != c.households_after:
                detail = f" households {c.households_before} → {c.households_after}"
            if c.geometry_changed and c.change == "changed":
                detail += " (boundary moved)"
            sign = {"added": "+", "changed": "~", "removed": "-"}[c.change]
            lines.append(f"  {sign} {c.layer} {c.code} {c.name}{detail}")
        if len(self.changes) > limit:
            lines.append(f"  … and {len(self.changes) - limit} more")
        return "\n".join(lines)


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


# --- comparing --------------------------------------------------------------------------

# A staged upsert compared with the current row of the same code. Geometry is compared
# byte for byte: any vertex that moved is a change a planner must see.
_DIFF = text(
    """
    SELECT d.action, d.layer, d.code, coalesce(nullif(d.name, ''), a.name) AS name,
           a.id IS NOT NULL AS existed, a.parent_code AS parent_before,
           d.parent_code AS parent_after,
           a.households AS households_before, d.households AS households_after,
           (a.id IS NOT NULL AND d.geom IS NOT NULL
            AND ST_AsBinary(a.geom) <> ST_AsBinary(d.geom)) AS geometry_changed,
           (a.id IS NOT NULL AND d.action = 'upsert' AND (
                ST_AsBinary(a.geom) <> ST_AsBinary(d.geom)
             OR a.name IS DISTINCT FROM d.name
             OR a.parent_code IS DISTINCT FROM d.parent_code
             OR a.households IS DISTINCT FROM d.households
             OR a.kind IS DISTINCT FROM d.kind
             OR a.attributes IS DISTINCT FROM d.attributes)) AS differs
    FROM draft_area d
    LEFT JOIN area a ON a.valid_to IS NULL AND a.county_code = d.county_code
                    AND a.layer = d.layer AND a.code = d.code
    WHERE d.version_id = :v
    ORDER BY d.layer, d.code
    """
)


def diff_version(session: Session, *, version_id: int) -> VersionDiff:
    """What activating this draft would add, change and remove, against the active version."""
    version = get_version(session, version_id=version_id)
    if version.status not in ("draft", "staged"):
        raise Conflict(f"version {version_id} is {version.status}: nothing staged to compare")
    changes: list[AreaChange] = []
    unchanged = 0
    for r in session.execute(_DIFF, {"v": version_id}):
        change = _classify(r)
        if change is None:
            unchanged += 1
            continue
        changes.append(
            AreaChange(
                layer=r.layer,
                code=r.code,
                name=r.name or "",
                change=change,
                households_before=r.households_before if r.existed else None,
                households_after=r.households_after if r.action == "upsert" else None,
                geometry_changed=bool(r.geometry_changed),
                parent_before=r.parent_before if r.existed else None,
                parent_after=r.parent_after if r.action == "upsert" else None,
            )
        )
    active = active_version(session, county_code=version.county_code or "")
    return VersionDiff(version_id, active.id if active else None, changes, unchanged)


def diff_published(session: Session, *, version_id: int) -> VersionDiff:
    """What a published version changed compared with the one before it."""
    version = get_version(session, version_id=version_id)
    if version.activated_at is None:
        return diff_version(session, version_id=version_id)
    return _published_diff(session, version, where="TRUE", params={})


def diff_published_for(
    session: Session, *, version_id: int, jurisdiction: Jurisdiction
) -> VersionDiff:
    """`diff_published` as a jurisdiction sees it: only the changes of its areas, and
    `unchanged` counts only its areas, so every count matches what is listed.

    A change is the jurisdiction's when the area as published is in its scope of this
    version, or the area as it was is in its scope of the version before: a grid moved
    out of a township, or removed with its community, still shows to that township.
    """
    version = get_version(session, version_id=version_id)
    if version.activated_at is None:
        raise Conflict(f"version {version_id} is not published: it changed nothing yet")
    new = scope_for(session, jurisdiction=jurisdiction, version_id=version_id)
    if new.everywhere:
        return _published_diff(session, version, where="TRUE", params={})
    old = (
        scope_for(session, jurisdiction=jurisdiction, version_id=version.base_version_id)
        if version.base_version_id is not None
        else AreaScope(everywhere=False)
    )
    new_where, new_params = new.sql("n")
    # Two scopes in one query: the old one binds its lists under other names.
    old_where, old_params = old.sql("o", params="before_scope")
    return _published_diff(
        session,
        version,
        where=f"((n.id IS NOT NULL AND {new_where}) OR (o.id IS NOT NULL AND {old_where}))",
        params={**new_params, **old_params},
        unchanged_where=new.sql("a"),
    )


def _published_diff(
    session: Session,
    version: BoundaryVersion,
    *,
    where: str,
    params: dict[str, Any],
    unchanged_where: tuple[str, dict[str, Any]] = ("TRUE", {}),
) -> VersionDiff:
    """The rows a published version retired (`o`) and inserted (`n`), paired by code and
    kept when `where` holds; `unchanged_where` filters the count of untouched areas (`a`)."""
    rows = session.execute(
        text(
            f"""
            SELECT coalesce(n.layer, o.layer) AS layer, coalesce(n.code, o.code) AS code,
                   coalesce(n.name, o.name) AS name, o.households AS before,
                   n.households AS after, o.id IS NOT NULL AS existed, n.id IS NOT NULL AS kept,
                   o.parent_code AS parent_before, n.parent_code AS parent_after,
                   (o.id IS NOT NULL AND n.id IS NOT NULL
                    AND ST_AsBinary(o.geom) <> ST_AsBinary(n.geom)) AS moved
            FROM (SELECT * FROM area WHERE valid_from = :v) n
            FULL JOIN (SELECT * FROM area WHERE valid_to = :v) o
              ON o.county_code = n.county_code AND o.layer = n.layer AND o.code = n.code
            WHERE {where}
            ORDER BY 1, 2
            """
        ),
        {"v": version.id, **params},
    )
    changes = [
        AreaChange(
            layer=r.layer,
            code=r.code,
            name=r.name,
            change="changed" if r.existed and r.kept else ("added" if r.kept else "removed"),
            households_before=r.before,
            households_after=r.after,
            geometry_changed=bool(r.moved),
            parent_before=r.parent_before,
            parent_after=r.parent_after,
        )
        for r in rows
    ]
    unchanged_sql, unchanged_params = unchanged_where
    unchanged = session.execute(
        text(
            f"SELECT count(*) FROM area a WHERE {VALID_IN} AND valid_from < :version"
            f" AND a.county_code = :county AND {unchanged_sql}"
        ),
        {"version": version.id, "county": version.county_code, **unchanged_params},
    ).scalar_one()
    return VersionDiff(version.id, version.base_version_id, changes, int(unchanged))


def _classify(r: Row[Any]) -> str | None:
    if r.action == "delete":
        return "removed" if r.existed else None
    if not r.existed:
        return "added"
    return "changed" if r.differs else None


# --- activating -------------------------------------------------------------------------


def _lock_version(session: Session, version_id: int) -> BoundaryVersion:
    version = session.scalars(
        select(BoundaryVersion).where(BoundaryVersion.id == version_id).with_for_update()
    ).one_or_none()
    if version is None:
        raise NotFound(f"boundary version {version_id} does not exist")
    return version


def activate_version(session: Session, *, version_id: int, activated_by: str) -> VersionDiff:
    """Publish a draft or staged version as its county's active one, in the caller's
    transaction. The returned diff's `version_id` is the id it was published under (a new
    one when a version was published since it was created: see the module docstring).

    This is the bare step; the doors (editor, API, CLI) publish through
    `gridmap.boundaries.publishing.publish_version`, which also checks the caller's jurisdiction,
    validates and re-routes open events. A retired version cannot be re-activated in place
    (history is never rewritten): use `restore_version`, which stages its geometry again.
    """
    # One activation at a time, database-wide: concurrent publishers queue here, the
    # second one then sees that its base is no longer active, and ids follow publication.
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext('gridmap.activate'))"))
    version = _lock_version(session, version_id)
    if version.status not in ("draft", "staged"):
        raise Conflict(
            f"version {version_id} is {version.status}; only a draft or staged version can be "
            "activated (to return to an old version, restore it as a new one)",
            details={"status": version.status},
        )
    if not version.county_code:
        raise Conflict(
            f"version {version_id} names no county; stage it again with its county",
            details={"version": version_id},
        )
    current = active_version(session, county_code=version.county_code)
    current_id = current.id if current else None
    if version.base_version_id != current_id:
        raise VersionConflict(
            f"version {version_id} was prepared against version {version.base_version_id}, "
            f"but version {current_id} has been published since: rebase it first",
            details={"base_version": version.base_version_id, "active_version": current_id},
        )
    version = _renumber_if_behind(session, version)
    version_id = version.id
    # Staged rows were usually written in this very transaction: without statistics the
    # planner walks the whole current-code index once per staged row (minutes at 10,000).
    session.execute(text("ANALYZE draft_area"))
    diff = diff_version(session, version_id=version_id)
    params = {"v": version_id}
    # Retire the current rows this version replaces or removes.
    session.execute(
        text(
            """
            UPDATE area a SET valid_to = :v
            FROM draft_area d
            WHERE d.version_id = :v AND a.valid_to IS NULL AND a.county_code = d.county_code
              AND a.layer = d.layer AND a.code = d.code
              AND (d.action = 'delete'
                   OR ST_AsBinary(a.geom) <> ST_AsBinary(d.geom)
                   OR a.name IS DISTINCT FROM d.name
                   OR a.parent_code IS DISTINCT FROM d.parent_code
                   OR a.households IS DISTINCT FROM d.households
                   OR a.kind IS DISTINCT FROM d.kind
                   OR a.attributes IS DISTINCT FROM d.attributes)
            """
        ),
        params,
    )
    session.execute(
        text(
            "UPDATE area_part p SET valid_to = :v FROM area a "
            "WHERE p.area_id = a.id AND a.valid_to = :v AND p.valid_to IS NULL"
        ),
        params,
    )
    # Insert the new shapes: upserts with no current row left (new, or just retired).
    session.execute(
        text(
            """
            INSERT INTO area (county_code, layer, code, name, parent_code, households, kind,
                              attributes, geom, valid_from)
            SELECT d.county_code, d.layer, d.code, d.name, d.parent_code, d.households, d.kind,
                   d.attributes, d.geom, :v
            FROM draft_area d
            WHERE d.version_id = :v AND d.action = 'upsert'
              AND NOT EXISTS (SELECT 1 FROM area a WHERE a.valid_to IS NULL
                              AND a.county_code = d.county_code AND a.layer = d.layer
                              AND a.code = d.code)
            """
        ),
        params,
    )
    session.execute(
        text(
            f"""
            INSERT INTO area_part (area_id, county_code, layer, valid_from, geom)
            SELECT a.id, a.county_code, a.layer, a.valid_from,
                   (ST_Dump(ST_Subdivide(a.geom, {SUBDIVIDE_MAX_VERTICES}))).geom
            FROM area a WHERE a.valid_from = :v
            """
        ),
        params,
    )
    if current is not None:
        current.status = "retired"
        session.flush()  # free the one-active slot before taking it
    version.status = "active"
    version.activated_at = session.execute(text("SELECT now()")).scalar_one()
    version.activated_by = activated_by
    version.summary = {
        "added": diff.count("added"),
        "changed": diff.count("changed"),
        "removed": diff.count("removed"),
        "by_layer": diff.by_layer(),
    }
    session.execute(text("DELETE FROM draft_area WHERE version_id = :v"), params)
    # Every worker reloads its routing index; every open map redraws the layers.
    notify.announce(
        session,
        kind="boundaries.published",
        payload={"version": version_id, "name": version.name, **version.summary},
        county_code=version.county_code,
    )
    session.flush()
    return diff


def _renumber_if_behind(session: Session, version: BoundaryVersion) -> BoundaryVersion:
    """Give a version a fresh id when one published since it was created has a higher id,
    so published ids follow the order of publication (what `VALID_IN` relies on). Its
    staged rows and undo stack move along; the old id stays behind as `discarded`, its
    summary saying which id it was published as."""
    latest = session.execute(
        text("SELECT max(id) FROM boundary_version WHERE activated_at IS NOT NULL")
    ).scalar_one()
    if latest is None or version.id > latest:
        return version
    old_id = version.id
    new_id = session.execute(
        text(
            """
            INSERT INTO boundary_version (name, note, status, base_version_id, county_code,
                                          created_by, created_at, summary)
            SELECT name, note, status, base_version_id, county_code, created_by, created_at,
                   summary
            FROM boundary_version WHERE id = :old
            RETURNING id
            """
        ),
        {"old": old_id},
    ).scalar_one()
    params = {"old": old_id, "new": new_id}
    session.execute(text("UPDATE draft_area SET version_id = :new WHERE version_id = :old"), params)
    session.execute(text("UPDATE draft_edit SET version_id = :new WHERE version_id = :old"), params)
    session.execute(
        text(
            "UPDATE boundary_version SET status = 'discarded', "
            "summary = summary || jsonb_build_object('published_as', CAST(:new AS integer)) "
            "WHERE id = :old"
        ),
        params,
    )
    session.expire(version)
    return _lock_version(session, new_id)


def restore_version(
    session: Session, *, version_id: int, restored_by: str, note: str = ""
) -> BoundaryVersion:
    """Stage the geometry of an old published version as a new draft of its county (a
    rollback that keeps history): every area of that county as it was then, and removal
    of the county's areas that did not exist then. Other counties are not touched."""
    old = get_version(session, version_id=version_id)
    if old.activated_at is None:
        raise Conflict(f"version {version_id} was never published; there is nothing to restore")
    if not old.county_code:
        raise Conflict(f"version {version_id} names no county; it cannot be restored")
    draft = create_version(
        session,
        name=f"restore of version {version_id}",
        note=note or f"rollback to version {version_id} ({old.name})",
        created_by=restored_by,
        county_code=old.county_code,
    )
    params = {"new": draft.id, "old": version_id, "county": old.county_code}
    session.execute(
        text(
            f"""
            INSERT INTO draft_area (version_id, action, county_code, layer, code, name,
                                    parent_code, households, kind, attributes, geom)
            SELECT :new, 'upsert', county_code, layer, code, name, parent_code, households,
                   kind, attributes, geom
            FROM area WHERE {valid_in("old")} AND county_code = :county
            """
        ),
        params,
    )
    session.execute(
        text(
            """
            INSERT INTO draft_area (version_id, action, county_code, layer, code, name, attributes)
            SELECT :new, 'delete', a.county_code, a.layer, a.code, a.name, '{}'
            FROM area a WHERE a.valid_to IS NULL AND a.county_code = :county AND NOT EXISTS (
                SELECT 1 FROM draft_area d WHERE d.version_id = :new
                  AND d.county_code = a.county_code AND d.layer = a.layer AND d.code = a.code)
            """
        ),
        params,
    )
    session.flush()
    return draft


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
    where = [VALID_IN]
    params: dict[str, Any] = {"version": version_id}
    if layers is not None:
        where.append("layer = ANY(:layers)")
        params["layers"] = list(layers)
    if county_code is not None:
        where.append("county_code = :county")
        params["county"] = county_code
    if not scope.everywhere:
        fragment, scope_params = scope.sql("area")
        where.append(fragment)
        params.update(scope_params)
    rows = session.execute(
        text(
            "SELECT id, county_code, layer, code, name, parent_code, households, kind, "
            "attributes, ST_AsBinary(geom) AS wkb FROM area WHERE "
            + " AND ".join(where)
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
