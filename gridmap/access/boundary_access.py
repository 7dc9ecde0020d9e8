"""Where a caller may read and write boundaries: the one check every boundary door uses.

A boundary write (a draft's scope, each edit, an upload, a publish, a restore) is allowed
only inside the caller's jurisdiction:

- a county-level jurisdiction writes anything of its counties;
- a jurisdiction of townships, communities or grids writes the areas it names and their
  descendants by `parent_code` (a township's communities, their grids, the dedicated
  grids in those grids) and new areas whose parent is one of those. Enforcement zones
  belong to the county (they span townships), so only a county-level caller changes them;
- a team without areas works county-wide in its team's county (as on the map).

Every changed area is checked both as it is now and as it would be (a grid moved out of
another township changes that township too). A refusal is `PermissionDenied` (HTTP 403)
that names no area of the other side, only how many lie outside.

Reading versions: a caller sees the versions of the counties its jurisdiction lies in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from gridmap.access.permissions import Jurisdiction
from gridmap.access.scope import named_areas
from gridmap.errors import PermissionDenied
from gridmap.models import BoundaryVersion


@dataclass(frozen=True, slots=True)
class AreaKey:
    """An area as a write would leave or find it (`parent_code` of that state)."""

    layer: str
    code: str
    parent_code: str | None


@dataclass(frozen=True, slots=True)
class WriteScope:
    """The areas of one county a jurisdiction may change."""

    county_code: str
    whole_county: bool
    codes: frozenset[str]

    def allows(self, area: AreaKey) -> bool:
        if self.whole_county:
            return True
        if area.layer == "enforcement_zone":
            return False
        return area.code in self.codes or (
            area.parent_code is not None and area.parent_code in self.codes
        )


def counties_of(session: Session, *, jurisdiction: Jurisdiction) -> frozenset[str] | None:
    """The counties a jurisdiction lies in (None: every county)."""
    if jurisdiction.everywhere:
        return None
    counties, layers, codes = named_areas(session, jurisdiction)
    if codes:
        counties.update(
            session.scalars(
                text(
                    "SELECT DISTINCT county_code FROM area WHERE (layer, code) IN "
                    "(SELECT * FROM unnest(CAST(:layers AS text[]), CAST(:codes AS text[])))"
                ),
                {"layers": layers, "codes": codes},
            )
        )
    return frozenset(counties)


_DOWN = text(
    """
    WITH RECURSIVE down AS (
        SELECT a.code FROM area a
        WHERE a.valid_to IS NULL AND a.county_code = :county
          AND (a.layer, a.code) IN (SELECT * FROM unnest(CAST(:layers AS text[]),
                                                         CAST(:codes AS text[])))
        UNION
        SELECT c.code FROM area c JOIN down d ON c.parent_code = d.code
        WHERE c.valid_to IS NULL AND c.county_code = :county
          AND c.layer <> 'enforcement_zone'
    )
    SELECT code FROM down
    """
)


def write_scope(session: Session, *, jurisdiction: Jurisdiction, county_code: str) -> WriteScope:
    """What of `county_code` the jurisdiction may change (its current areas)."""
    if jurisdiction.everywhere:
        return WriteScope(county_code, True, frozenset())
    counties, layers, codes = named_areas(session, jurisdiction)
    if county_code in counties:
        return WriteScope(county_code, True, frozenset())
    found: set[str] = set()
    if codes:
        found = set(
            session.scalars(_DOWN, {"county": county_code, "layers": layers, "codes": codes})
        )
    return WriteScope(county_code, False, frozenset(found))


def require_county(
    session: Session, *, jurisdiction: Jurisdiction, county_code: str | None, what: str
) -> None:
    """Refuse (403) anything of a county the jurisdiction does not lie in."""
    counties = counties_of(session, jurisdiction=jurisdiction)
    if counties is None:
        return
    if county_code is None or county_code not in counties:
        raise PermissionDenied(
            f"{what} belongs to a county outside your jurisdiction",
            details={"where": what},
        )


def require_within(
    session: Session,
    *,
    jurisdiction: Jurisdiction,
    county_code: str,
    areas: Iterable[AreaKey],
    what: str,
) -> None:
    """Refuse (403) a boundary write when any area it changes lies outside the caller's
    jurisdiction (see the module docstring). The one check of every boundary door."""
    if jurisdiction.everywhere:
        return
    require_county(session, jurisdiction=jurisdiction, county_code=county_code, what=what)
    scope = write_scope(session, jurisdiction=jurisdiction, county_code=county_code)
    if scope.whole_county:
        return
    outside = {(a.layer, a.code) for a in areas if not scope.allows(a)}
    if outside:
        raise PermissionDenied(
            f"{what} changes {len(outside)} area(s) outside your jurisdiction",
            details={"where": what, "outside": len(outside)},
        )


def version_visible(
    session: Session, *, jurisdiction: Jurisdiction, version: BoundaryVersion
) -> bool:
    counties = counties_of(session, jurisdiction=jurisdiction)
    return counties is None or version.county_code in counties
