"""Which areas of a boundary version lie in a jurisdiction: the map's filter, as SQL.

A user's jurisdiction names areas (a county, townships, communities, grids). On the map
and in exports the user sees those areas and everything inside them: their descendants
by `parent_code` in the same version, plus the enforcement zones and dedicated grids
that touch them (a joint-enforcement zone spans several townships, and a township
operator must see the zone its events go to). Nothing above them: a township operator
does not get the county outline or the neighbouring townships.

The scope is computed once per (database, version, jurisdiction) by one recursive query
and kept, because a published version never changes; query functions then add
`AreaScope.sql(alias)` to their WHERE clause, so filtering happens in the database.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gridmap.access.permissions import Jurisdiction
from gridmap.models import Team

if TYPE_CHECKING:
    # Only a type here: access sits below routing.
    from gridmap.routing.types import RoutingResult


@dataclass(frozen=True, slots=True)
class AreaScope:
    """The areas of one version a jurisdiction sees.

    `everywhere`: no filter. Otherwise an area row is in scope when its county is in
    `county_codes`, or its code is in `codes` (the named areas, their non-leaf
    descendants, and touching zones), or its parent is in `codes` (the leaves).
    """

    everywhere: bool
    county_codes: frozenset[str] = frozenset()
    codes: frozenset[str] = frozenset()

    @property
    def key(self) -> str:
        """A short stable name of this scope, for cache keys and ETags."""
        if self.everywhere:
            return "all"
        text_ = "|".join(sorted(self.county_codes)) + "/" + "|".join(sorted(self.codes))
        return hashlib.blake2b(text_.encode(), digest_size=8).hexdigest()

    def sql(self, alias: str = "a", *, params: str = "scope") -> tuple[str, dict[str, Any]]:
        """A WHERE fragment on an `area`-shaped row (`code`, `parent_code`, `county_code`)
        with its bound parameters, named `{params}_counties` and `{params}_codes` (two
        scopes in one query give different `params`)."""
        if self.everywhere:
            return "TRUE", {}
        if not self.county_codes and not self.codes:
            return "FALSE", {}
        counties, codes = f"{params}_counties", f"{params}_codes"
        return (
            f"({alias}.county_code = ANY(:{counties}) OR {alias}.code = ANY(:{codes})"
            f" OR {alias}.parent_code = ANY(:{codes}))",
            {counties: sorted(self.county_codes), codes: sorted(self.codes)},
        )

    def covers(self, *, county_code: str, code: str, parent_code: str | None) -> bool:
        """The same rule for one row in Python."""
        return (
            self.everywhere
            or county_code in self.county_codes
            or code in self.codes
            or (parent_code is not None and parent_code in self.codes)
        )


EVERYWHERE = AreaScope(everywhere=True)


def routed_inside(scope: AreaScope | None, result: RoutingResult) -> bool:
    """Does a routed point lie in `scope` (None: an unscoped caller)? Decided by the chain
    it was routed to, the rule an event at this point would meet: its county, township,
    community or grid (or micro-grid) is one the scope holds. A point outside every grid
    is in no one's areas but the county's (and the unscoped caller's)."""
    if scope is None or scope.everywhere:
        return True
    if result.county is not None and result.county.code in scope.county_codes:
        return True
    chain = (result.township, result.community, result.grid, result.micro_grid)
    return any(area is not None and area.code in scope.codes for area in chain)


# The named areas, then down the hierarchy; leaves need not be listed (their parent is),
# so the recursion stops at areas that have no children. Zones and dedicated grids are
# not in the parent tree of townships: they join by touching the named areas.
_SCOPE_SQL = text(
    """
    WITH RECURSIVE named AS (
        SELECT a.code, a.layer, a.geom FROM area a
        WHERE a.valid_from <= :version AND (a.valid_to IS NULL OR a.valid_to > :version)
          AND (a.layer, a.code) IN (SELECT * FROM unnest(CAST(:layers AS text[]),
                                                         CAST(:codes AS text[])))
    ), down AS (
        SELECT code FROM named
        UNION
        SELECT c.code FROM area c JOIN down d ON c.parent_code = d.code
        WHERE c.valid_from <= :version AND (c.valid_to IS NULL OR c.valid_to > :version)
          AND EXISTS (SELECT 1 FROM area g WHERE g.parent_code = c.code
                        AND g.valid_from <= :version
                        AND (g.valid_to IS NULL OR g.valid_to > :version))
    )
    SELECT code FROM down
    UNION
    SELECT z.code FROM area z, named n
    WHERE z.layer IN ('enforcement_zone', 'dedicated_grid')
      AND z.valid_from <= :version AND (z.valid_to IS NULL OR z.valid_to > :version)
      AND z.geom && n.geom AND ST_Intersects(z.geom, n.geom)
      AND NOT ST_Touches(z.geom, n.geom)
    """
)


class _ScopeCache:
    """A small LRU of computed scopes; a published version's scope never changes."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._items: OrderedDict[tuple[Any, ...], AreaScope] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> AreaScope | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple[Any, ...], scope: AreaScope) -> None:
        with self._lock:
            self._items[key] = scope
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


CACHE = _ScopeCache()


def named_areas(
    session: Session, jurisdiction: Jurisdiction
) -> tuple[set[str], list[str], list[str]]:
    """(whole counties, layers, codes) the jurisdiction names; a team without areas works
    county-wide (as its live stream does)."""
    counties = set(jurisdiction.county_codes)
    layers: list[str] = []
    codes: list[str] = []
    for layer, named in (
        ("township", jurisdiction.township_codes),
        ("community", jurisdiction.community_codes),
        ("grid", jurisdiction.grid_codes),
    ):
        for code in sorted(named):
            layers.append(layer)
            codes.append(code)
    if not counties and not codes and jurisdiction.team_id is not None:
        team = session.get(Team, jurisdiction.team_id)
        if team is not None:
            counties.add(team.county_code)
    return counties, layers, codes


def scope_for(session: Session, *, jurisdiction: Jurisdiction, version_id: int) -> AreaScope:
    """The areas of `version_id` that `jurisdiction` sees (kept once the version is published)."""
    if jurisdiction.everywhere:
        return EVERYWHERE
    database = session.get_bind().engine.url.render_as_string(hide_password=True)
    key = (database, version_id, jurisdiction)
    cached = CACHE.get(key)
    if cached is not None:
        return cached
    counties, layers, codes = named_areas(session, jurisdiction)
    found: set[str] = set()
    if codes:
        found = set(
            session.scalars(_SCOPE_SQL, {"version": version_id, "layers": layers, "codes": codes})
        )
    scope = AreaScope(everywhere=False, county_codes=frozenset(counties), codes=frozenset(found))
    published = session.execute(
        text("SELECT activated_at IS NOT NULL FROM boundary_version WHERE id = :v"),
        {"v": version_id},
    ).scalar_one_or_none()
    if published:
        CACHE.put(key, scope)
    return scope
