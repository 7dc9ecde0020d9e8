"""What a version changes: a staged version against its county's active one, a published
version against the one before it, and the latter as a jurisdiction sees it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.orm import Session

from gridmap.access.permissions import Jurisdiction
from gridmap.access.scope import AreaScope, scope_for
from gridmap.boundaries.versions import VALID_IN, active_version, get_version
from gridmap.errors import Conflict
from gridmap.models import BoundaryVersion


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
