"""Where an event lands, as the event's columns: a routing result, or why there is none."""

from __future__ import annotations

from typing import Any

from geoalchemy2 import WKTElement

from gridmap.crs import point_to_wgs84
from gridmap.errors import NotFound, OutsideCoverage
from gridmap.events import workflow as wf
from gridmap.routing.types import PointRouter, RoutingResult


def routing_columns(result: RoutingResult) -> dict[str, Any]:
    """The event columns a routing result fills."""
    team_level = result.team.level if result.team else None
    return {
        "county_code": result.county.code if result.county else None,
        "point": point_element(result.lon, result.lat),
        "version_id": result.version,
        "grid_area_id": result.grid.id if result.grid else None,
        "grid_code": result.grid.code if result.grid else None,
        "community_code": result.community.code if result.community else None,
        "township_code": result.township.code if result.township else None,
        "zone_code": result.enforcement_zone.code if result.enforcement_zone else None,
        "dedicated_code": result.dedicated_grid.code if result.dedicated_grid else None,
        "on_boundary": result.flags.on_boundary,
        "outside_coverage": result.flags.outside_coverage or not result.assigned,
        "routing": result.to_dict(),
        "handling_mode": result.decision.mode if result.decision else None,
        "department_code": (
            result.decision.department.code
            if result.decision and result.decision.department
            else None
        ),
        "team_id": result.team.id if result.team else None,
        "escalation_level": level_of(team_level),
    }


def point_element(lon: float, lat: float) -> WKTElement:
    """The event's point column value (WGS84). As text, since building it is on every
    ingest's path: a shapely point turned into WKB took ~20 µs, the text ~1 µs; `repr`
    keeps every digit, so it reads back exactly."""
    return WKTElement(f"POINT({lon!r} {lat!r})", srid=4326)


def level_of(team_level: str | None) -> str:
    """The escalation level an event starts at, from its team's level."""
    # Department and enforcement teams are county units: nothing above them to escalate to.
    if team_level in wf.LEVELS:
        return team_level
    return "county" if team_level in ("department", "enforcement") else "grid"


def unplaced_columns(
    lon: float | None, lat: float | None, crs: str, reason: str
) -> tuple[dict[str, Any], tuple[float, float] | None]:
    """Columns of an event that could not be routed: kept, unassigned, in the triage queue."""
    lonlat = None if lon is None or lat is None else point_to_wgs84(lon, lat, crs)
    columns = {
        "point": None if lonlat is None else point_element(*lonlat),
        "outside_coverage": True,
        "routing": {"unplaced": True, "reason": reason},
        "escalation_level": "grid",
    }
    return columns, lonlat


def route_columns(
    router: PointRouter | None, *, lon: float | None, lat: float | None, crs: str, category: str
) -> tuple[dict[str, Any], tuple[float, float] | None]:
    """The event's routing columns and its WGS84 point (None when it has no coordinates)."""
    if lon is None or lat is None:
        return unplaced_columns(None, None, crs, "no coordinates: place it on the map")
    if router is None:
        return unplaced_columns(lon, lat, crs, "no active boundary version to route by")
    try:
        result = router.route(lon, lat, crs=crs, category=category)
    except (OutsideCoverage, NotFound) as exc:
        # NotFound: no boundary version is active yet. Either way the report is kept.
        return unplaced_columns(lon, lat, crs, exc.message)
    columns = routing_columns(result)
    if not result.assigned:
        columns["routing"]["unplaced"] = True
    return columns, (result.lon, result.lat)
