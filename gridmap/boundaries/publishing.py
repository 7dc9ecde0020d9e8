"""The one publish core: every door that makes boundaries live goes through `publish_version`.

The editor's publish of a draft (`publish`, below), the API's restore (`rollback`, below),
`gridmap boundaries activate|restore` and `gridmap county` all call it, so publishing means
the same everywhere. In the caller's transaction, it

1. refuses (403) a version of a county outside the caller's jurisdiction, or one that
   changes any area outside it (`gridmap.access.boundary_access.require_within`);
2. validates what the version changes, when given a `validator` (the grids of every
   community it touches, as they would be, against their communities); errors refuse
   the publish (`ValidationFailed`, with the problems) unless `accept_problems`, and are
   then recorded on the version as exceptions;
3. activates it as its county's active version (`gridmap.boundaries.activation.activate_version`;
   the id may change, see there) and announces `boundaries.published`;
4. re-routes the open events of that county (and unplaced-county events with a point)
   whose grid changes, writing each move to the event's timeline and announcing it.

The caller commits (then every worker's router reloads on the NOTIFY) or rolls back
(then nothing happened at all).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from gridmap.access.boundary_access import AreaKey, require_county, require_within
from gridmap.access.permissions import EVERYWHERE, Jurisdiction
from gridmap.boundaries import activation, diffs
from gridmap.boundaries import versions as boundaries
from gridmap.boundaries.diffs import VersionDiff
from gridmap.boundaries.draft_history import changes_since_base
from gridmap.boundaries.drafts import get_draft
from gridmap.boundaries.versions import AreaRow
from gridmap.errors import Conflict, InvalidInput, ValidationFailed, VersionConflict
from gridmap.settings import Settings

if TYPE_CHECKING:
    from gridmap.events.rerouting import Rerouted
    from gridmap.routing.snapshot import RoutingSnapshot

# (grids, their communities) → problems as JSON: {"kind", "severity", "code", "message", "where"}.
Validator = Callable[[Sequence[AreaRow], Sequence[AreaRow]], list[dict[str, Any]]]


@dataclass
class PublishResult:
    version_id: int
    diff: VersionDiff
    rerouted: list[Rerouted]
    exceptions: list[dict[str, Any]] = field(default_factory=list)
    # The routing snapshot of the published version, built once to re-route the open
    # events: once the caller has committed, its router adopts it (`Router.adopt`)
    # instead of building the same snapshot again.
    snapshot: RoutingSnapshot | None = None


def changed_areas(diff: VersionDiff) -> list[AreaKey]:
    """Every area a diff changes, as it is now and as it would be."""
    keys: list[AreaKey] = []
    for c in diff.changes:
        if c.change in ("changed", "removed"):
            keys.append(AreaKey(c.layer, c.code, c.parent_before))
        if c.change in ("changed", "added"):
            keys.append(AreaKey(c.layer, c.code, c.parent_after))
    return keys


_AFTER = text(
    """
    WITH staged AS (SELECT * FROM draft_area WHERE version_id = :v),
    cur AS (SELECT * FROM area WHERE valid_to IS NULL AND county_code = :c),
    touched AS (
        SELECT parent_code AS code FROM staged
        WHERE layer IN ('grid', 'dedicated_grid') AND parent_code IS NOT NULL
        UNION SELECT a.parent_code FROM staged s JOIN cur a ON a.layer = s.layer
                                                           AND a.code = s.code
        WHERE s.layer IN ('grid', 'dedicated_grid')
        UNION SELECT code FROM staged WHERE layer = 'community'
    ), after AS (
        SELECT layer, code, name, parent_code, households, kind, attributes, geom FROM cur
        WHERE NOT EXISTS (SELECT 1 FROM staged s WHERE s.layer = cur.layer
                          AND s.code = cur.code)
        UNION ALL
        SELECT layer, code, name, parent_code, households, kind, attributes, geom FROM staged
        WHERE action = 'upsert'
    )
    SELECT layer, code, name, parent_code, households, kind, attributes,
           ST_AsBinary(geom) AS wkb
    FROM after
    WHERE (layer IN ('grid', 'dedicated_grid') AND parent_code IN (SELECT code FROM touched))
       OR (layer = 'community' AND code IN (SELECT code FROM touched))
    ORDER BY layer, code
    """
)


def validation_input(session: Session, *, version_id: int) -> tuple[list[AreaRow], list[AreaRow]]:
    """The grids (and dedicated grids) of every community a staged version touches, as
    they would be after it is activated, and those communities: what the validation core
    takes."""
    version = boundaries.get_version(session, version_id=version_id)
    county = version.county_code or ""
    grids: list[AreaRow] = []
    parents: list[AreaRow] = []
    for r in session.execute(_AFTER, {"v": version_id, "c": county}):
        row = AreaRow(
            county,
            r.layer,
            r.code,
            r.name,
            shapely.from_wkb(bytes(r.wkb)),
            r.parent_code,
            r.households,
            r.kind,
            dict(r.attributes or {}),  # an accepted exception is not an error
        )
        (parents if r.layer == "community" else grids).append(row)
    return grids, parents


def publish_version(
    session: Session,
    *,
    version_id: int,
    actor: str,
    settings: Settings | None = None,
    jurisdiction: Jurisdiction = EVERYWHERE,
    validator: Validator | None = None,
    accept_problems: bool = False,
    reason: str | None = None,
) -> PublishResult:
    """Check, validate, activate, re-route and announce one staged or draft version, in
    the caller's transaction (see the module docstring). `reason`, when given, heads the
    version's note. Returns the published id (it may differ from `version_id`), the diff,
    the events moved, and the problems accepted as exceptions.

    `settings` gives the routing tolerances for re-routing (default: `Settings()`);
    `validator` is `geodata.publish_check.publish_validator(settings)` at every door that
    validates (a restore does not: it republishes what was published once)."""
    # Publishers queue here (activate_version takes the same lock again): the checks
    # below then see the state the activation will change.
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext('gridmap.activate'))"))
    version = boundaries.get_version(session, version_id=version_id)
    what = f"boundary version {version_id}"
    require_county(session, jurisdiction=jurisdiction, county_code=version.county_code, what=what)
    if version.status not in ("draft", "staged"):
        raise Conflict(
            f"version {version_id} is {version.status}; only a draft or staged version can be "
            "published (to return to an old version, restore it as a new one)",
            details={"status": version.status},
        )
    county = version.county_code or ""
    planned = diffs.diff_version(session, version_id=version_id)
    require_within(
        session,
        jurisdiction=jurisdiction,
        county_code=county,
        areas=changed_areas(planned),
        what=what,
    )
    errors: list[dict[str, Any]] = []
    if validator is not None:
        grids, parents = validation_input(session, version_id=version_id)
        problems = validator(grids, parents) if grids else []
        errors = [p for p in problems if p.get("severity") == "error"]
        if errors and not accept_problems:
            raise ValidationFailed(
                f"the version has {len(errors)} problem(s); fix them, or publish with an "
                "explicit exception",
                details={"problems": problems},
            )
    if reason and reason.strip():
        version.note = reason.strip() + (f"\n{version.note}" if version.note else "")
    session.flush()
    diff = activation.activate_version(session, version_id=version_id, activated_by=actor)
    published = boundaries.get_version(session, version_id=diff.version_id)
    if errors:
        published.summary = {**published.summary, "exceptions": errors}
        published.note += f"\n[published with {len(errors)} recorded exception(s)]"
    # Publishing re-routes the open events, and events read boundaries: imported at the
    # call, so the boundaries package stays below the events package (the one call
    # upward, tests/test_foundation.py ALLOWED_UPWARD).
    from gridmap.events.rerouting import reroute_open_events, router_in_transaction

    router = router_in_transaction(session, settings or Settings())
    rerouted = reroute_open_events(
        session, router=router, version_id=published.id, actor=actor, county_code=county
    )
    session.flush()
    return PublishResult(published.id, diff, rerouted, errors, router.snapshot)


# --- publish and rollback ---------------------------------------------------------------


def publish(
    session: Session,
    *,
    draft_id: int,
    author: str,
    reason: str,
    settings: Settings,
    validator: Validator,
    accept_problems: bool = False,
    jurisdiction: Jurisdiction = EVERYWHERE,
) -> PublishResult:
    """The editor's door to `gridmap.boundaries.publishing.publish_version`: the author's draft,
    with
    a reason, on the active version of its county (else VersionConflict with what
    changed: rebase first); validation errors refuse it unless `accept_problems` (the
    planner's explicit exception, recorded with the version)."""
    draft = get_draft(session, draft_id=draft_id, author=author, jurisdiction=jurisdiction)
    if not reason.strip():
        raise InvalidInput("say why these boundaries change: a publish needs a reason")
    active = boundaries.active_version(session, county_code=draft.county_code or "")
    if active is None or active.id != draft.base_version_id:
        changed = changes_since_base(session, draft=draft)
        raise VersionConflict(
            f"draft {draft.id} was started on version {draft.base_version_id}, but version "
            f"{active.id if active else None} has been published since: rebase it first",
            details={
                "base_version": draft.base_version_id,
                "active_version": active.id if active else None,
                "changed": changed,
            },
        )
    return publish_version(
        session,
        version_id=draft.id,
        actor=author,
        settings=settings,
        jurisdiction=jurisdiction,
        validator=validator,
        accept_problems=accept_problems,
        reason=reason,
    )


def rollback(
    session: Session,
    *,
    version_id: int,
    author: str,
    reason: str,
    settings: Settings,
    jurisdiction: Jurisdiction = EVERYWHERE,
) -> PublishResult:
    """Publish an old version's geometry of its county again as a new version (history is
    kept), through the publish core. Not validated again: it was published once."""
    if not reason.strip():
        raise InvalidInput("say why the boundaries are rolled back: a rollback needs a reason")
    old = boundaries.get_version(session, version_id=version_id)
    require_county(
        session,
        jurisdiction=jurisdiction,
        county_code=old.county_code,
        what=f"boundary version {version_id}",
    )
    draft = activation.restore_version(
        session, version_id=version_id, restored_by=author, note=reason.strip()
    )
    return publish_version(
        session, version_id=draft.id, actor=author, settings=settings, jurisdiction=jurisdiction
    )
