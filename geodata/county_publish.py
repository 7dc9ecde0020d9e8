"""Publish some layers of one county through the one import core, only when they change.

Every onboarding step that draws areas (the outline, townships, communities, grids) ends
here: the layers are validated and staged by `geodata.importer.import_boundaries` like any
planner's file, compared with what is active, and — with `commit` and only if something
changed — kept and published as a new version of the county through the one publish core
(`gridmap.boundaries.publishing.publish_version`: validated, activated, open events re-routed,
announced). Running a step twice publishes nothing
the second time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
from sqlalchemy.orm import Session

from geodata.importer import ImportResult, import_boundaries
from gridmap.access import audit
from gridmap.boundaries import publishing
from gridmap.settings import Settings


@dataclass
class PublishStep:
    """What a step did (or, in a dry run, would do) to the county's boundaries."""

    county_code: str
    layers: list[str]
    result: ImportResult
    published_version: int | None = None
    accepted: int = 0  # grids out of range that record an accepted exception
    rerouted: int = 0  # open events the new version moved to another grid

    @property
    def unchanged(self) -> bool:
        return not self.result.diff.changes

    def to_text(self) -> str:
        what = ", ".join(self.layers)
        if self.unchanged:
            return f"{what}: nothing to change (the active version already holds this)"
        head = (
            f"{what}: published as version {self.published_version}"
            if self.published_version is not None
            else f"{what}: dry run, nothing written (add --commit to publish)"
        )
        lines = [head, self.result.report.to_text(), self.result.diff.to_text(limit=30)]
        if self.rerouted:
            lines.append(f"{self.rerouted} open event(s) re-routed to the new areas")
        if self.accepted:
            lines.append(
                f"{self.accepted} grid(s) out of range accepted as exceptions, each with its reason"
            )
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "layers": self.layers,
            "unchanged": self.unchanged,
            "published_version": self.published_version,
            "accepted_exceptions": self.accepted,
            "rerouted": self.rerouted,
            **self.result.to_json(),
        }


def publish_layers(
    session: Session,
    frame: gpd.GeoDataFrame,
    *,
    county_code: str,
    name: str,
    created_by: str,
    commit: bool,
    households_range: tuple[int, int] = (30, 50),
    settings: Settings | None = None,
) -> PublishStep:
    """Validate `frame` (standard columns, EPSG:4326, a `layer` column) as the whole of its
    layers in `county_code`, and publish it when `commit` and it changes anything.
    """
    layers = sorted(set(frame["layer"]))
    # No door around validation here: a grid out of the household range passes only as
    # the accepted exception it records (attributes `exception`/`exception_reason`, as
    # `geodata.gridgen.grid_attributes` writes for every flagged grid), the one rule the
    # validator applies to every import, export and re-import.
    if not commit:
        dry = _import(session, frame, county_code, name, created_by, False, households_range)
        return PublishStep(county_code, layers, dry, accepted=len(dry.report.exceptions))
    # Validated and staged once; a staging that changes nothing is rolled back unkept.
    savepoint = session.begin_nested()
    kept = _import(session, frame, county_code, name, created_by, True, households_range)
    step = PublishStep(county_code, layers, kept, accepted=len(kept.report.exceptions))
    if step.unchanged:
        savepoint.rollback()
        kept.version_id, kept.committed = None, False
        return step
    savepoint.commit()
    assert kept.version_id is not None
    # The one publish core, as every door: activate as the county's version, re-route the
    # county's open events, announce. Validation already ran above (the import core's,
    # with the accepted exceptions), so it is not repeated here.
    s = settings or Settings(households_min=households_range[0], households_max=households_range[1])
    published = publishing.publish_version(
        session,
        version_id=kept.version_id,
        actor=f"cli:{created_by}",
        settings=s,
        reason=f"gridmap county: {', '.join(layers)} of {county_code}",
    )
    audit.record(
        session,
        actor=f"cli:{created_by}",
        action="boundaries.publish",
        target_type="boundary_version",
        target_id=published.version_id,
        details={
            "from": "county onboarding",
            "codes": sorted({c.code for c in published.diff.changes}),
            "rerouted": len(published.rerouted),
        },
    )
    kept.version_id = published.version_id
    step.result = kept
    step.published_version = published.version_id
    step.rerouted = len(published.rerouted)
    return step


def _import(
    session: Session,
    frame: gpd.GeoDataFrame,
    county_code: str,
    name: str,
    created_by: str,
    commit: bool,
    households_range: tuple[int, int],
) -> ImportResult:
    return import_boundaries(
        session,
        frame,
        name=name,
        created_by=created_by,
        county_code=county_code,
        commit=commit,
        households_range=households_range,
        note="onboarded with `gridmap county`",
    )
