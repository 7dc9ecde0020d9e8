"""The server's constants the pages' scripts need, in one place: each page's configuration
carries them (`constants`), so no script keeps its own copy of the states, priorities or
queues (a copy drifts: a state added to the workflow would be missing from the page)."""

from __future__ import annotations

from typing import Any

from gridmap.events import (
    ALERT_PRIORITIES_DEFAULT,
    MET,
    MISSED,
    NOT_STARTED,
    PLACEABLE_STATES,
    QUEUES,
    RUNNING,
)
from gridmap.events import workflow as wf
from gridmap.models import PRIORITIES

# The queue an open event's state puts it in (gridmap.events.queues.QUEUES): where the
# page pins an alerted event until it is acknowledged.
STATE_QUEUES = {
    wf.REPORTED: "to_register",
    wf.REGISTERED: "to_dispatch",
    wf.ASSIGNED: "handling",
    wf.IN_PROGRESS: "handling",
    wf.REPORTED_BACK: "to_close",
    wf.RETURNED: "returned",
}
assert set(STATE_QUEUES) == wf.OPEN_STATES and set(STATE_QUEUES.values()) <= set(QUEUES)


def page_constants() -> dict[str, Any]:
    """What a page's scripts read as `cfg.constants` (lists in the workflow's order)."""
    return {
        "states": list(wf.STATES),
        # Still someone's work: the map's default, the grids' load, the heat map.
        "openStates": [s for s in wf.STATES if s in wf.OPEN_STATES],
        # Waiting for a team to start: the response deadline is the one that matters.
        "awaitingResponse": [s for s in wf.STATES if s in wf.AWAITING_RESPONSE],
        # An event without a place may be placed from these states (triage).
        "placeableStates": list(PLACEABLE_STATES),
        "priorities": list(PRIORITIES),
        # The priorities that alert until the user chooses otherwise.
        "alertPriorities": list(ALERT_PRIORITIES_DEFAULT),
        "clockStates": [NOT_STARTED, RUNNING, MET, MISSED],
        "queues": list(QUEUES),
        "stateQueues": STATE_QUEUES,
    }
