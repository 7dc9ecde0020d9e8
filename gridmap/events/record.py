"""The event record's shared lists: the columns that say where an event is, the columns
an ingest inserts, and what an event says of itself on the live stream.

The workflow announces a stored event (`gridmap.events.steps.announcement`) and the
ingest statement announces the events it inserts (`gridmap.events.ingest`); both build
the payload here, from the event's columns and its WGS84 point. The statement fills in
what only it knows (`DECIDED_BY_INGEST`), so the two can never say different things.
Re-routing (`gridmap.events.rerouting`) moves exactly the place columns ingest fills.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The columns that say where an event is (from `gridmap.events.placement.routing_columns`);
# the team columns are decided separately. `routing` is the routing result as JSON.
PLACE_COLUMNS = (
    "version_id",
    "grid_area_id",
    "grid_code",
    "community_code",
    "township_code",
    "zone_code",
    "dedicated_code",
    "on_boundary",
    "outside_coverage",
    "routing",
)

# The columns the ingest statement inserts from its rows, in order (`routing`, the point
# and the clocks it writes itself).
INSERTED_COLUMNS = (
    "county_code",
    "source",
    "external_id",
    "category_code",
    "priority",
    "status",
    "description",
    "address",
    "reporter_name",
    "reporter_phone",
    "reported_at",
    "input_lon",
    "input_lat",
    "input_crs",
    *(c for c in PLACE_COLUMNS if c != "routing"),
    "handling_mode",
    "department_code",
    "team_id",
    "escalation_level",
    "overdue",
    "row_version",
)

# The event's columns an announcement carries, under their own names (and `category`,
# the command view's name for `category_code`).
ANNOUNCED_COLUMNS = (
    "id",
    "status",
    "priority",
    "category_code",
    "grid_code",
    "community_code",
    "township_code",
    "team_id",
    "overdue",
    "escalation_level",
    "duplicate_of",
)

# What the ingest statement decides as it inserts (the id, the department's team when the
# county took the category back, the original a report repeats), as SQL over its new rows.
DECIDED_BY_INGEST = {
    "id": "id",
    "team_id": "team_id",
    "escalation_level": "escalation_level",
    "duplicate_of": "duplicate_of",
    "unassigned": "team_id IS NULL",
}


def announcement(columns: Mapping[str, Any], lonlat: tuple[float, float] | None) -> dict[str, Any]:
    """The stream's payload for an event with these `columns` (a missing one: None) at
    `lonlat`: the command view's marker, and what the stream filters on."""
    out = {
        ("category" if name == "category_code" else name): columns.get(name)
        for name in ANNOUNCED_COLUMNS
    }
    out["lon"], out["lat"] = lonlat if lonlat else (None, None)
    out["unassigned"] = columns.get("team_id") is None
    return out
