"""Making a version its county's active one, and staging an old published version again.

Activating is one transaction: rows the version replaces or removes get `valid_to =
version`, new shapes are inserted with `valid_from = version`, their subdivided parts are
written for PostGIS point look-ups, and the version becomes its county's active one. A
version may only be activated on top of its base: if someone published in that county in
between, it must be rebased (optimistic locking).

Published version ids increase in the order of publication, database-wide: a version
whose id is lower than one published since it was created gets a new id when it is
activated (`activate_version`), so "valid in" (`gridmap.boundaries.versions.VALID_IN`)
answers for any moment.
"""

from __future__ import annotations

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from gridmap import notify
from gridmap.boundaries.diffs import VersionDiff, diff_version
from gridmap.boundaries.versions import active_version, create_version, get_version, valid_in
from gridmap.errors import Conflict, NotFound, VersionConflict
from gridmap.models import BoundaryVersion

# ST_Subdivide's vertex budget: small boxes keep the GiST look-up and ST_Covers cheap.
SUBDIVIDE_MAX_VERTICES = 64


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
