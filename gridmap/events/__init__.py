"""Events and the closed loop: taking them in (`input`, `ingest`, `batcher`, `hotline`,
`address_events`), where they land (`placement`, `rerouting`), the workflow and its
steps (`workflow`, `lifecycle`, `steps`, `escalation`, `joint_dispatch`, `deadlines`,
`overdue_watch`), reading them (`queries`, `queues`, `team_picker`), photos, categories,
statistics, ledgers and the reports kept (`stored_reports`).

This module is the package's entry point: api/, geodata/, gridmap_cli/ and
web_map/ use only what `__all__` lists (tests/test_foundation.py checks it).
"""

from gridmap.events import (
    address_events,
    categories,
    ingest,
    ledgers,
    lifecycle,
    queries,
    queues,
    stats,
    stored_reports,
    workflow,
)
from gridmap.events.batcher import IngestBatcher
from gridmap.events.categories import RuleRow, list_categories
from gridmap.events.deadlines import MET, MISSED, NOT_STARTED, RUNNING, missed_deadline
from gridmap.events.hotline import import_events, read_hotline_export
from gridmap.events.ingest import IngestAudit, ingest_event
from gridmap.events.input import (
    Coordinate,
    EventInput,
    EventPolicy,
    ZonedTime,
    check_event_input,
    load_json,
    mask_name,
    mask_phone,
)
from gridmap.events.lifecycle import PLACEABLE_STATES, act
from gridmap.events.overdue_watch import check_overdue, start_overdue_watch
from gridmap.events.photos import (
    MAX_PHOTOS_PER_EVENT,
    CleanPhoto,
    attach_photo,
    base64_length,
    clean_photo,
    decode_photo,
    default_photo_stage,
    event_photos,
    photo_places,
    photo_stage,
    store_photo,
    stored_photo_file,
)
from gridmap.events.public import (
    EventAck,
    EventOut,
    TeamOut,
    event_out,
    events_out,
    new_event_out,
    public_event,
)
from gridmap.events.queries import co_handlers
from gridmap.events.queues import ALERT_PRIORITIES_DEFAULT, QUEUES
from gridmap.events.stats import FIELD_FIGURES, GROUP_LABELS, RATES
from gridmap.events.team_picker import escalation_candidates, team_candidates
from gridmap.events.workflow import RULES, STATES

__all__ = [
    "ALERT_PRIORITIES_DEFAULT",
    "FIELD_FIGURES",
    "GROUP_LABELS",
    "MAX_PHOTOS_PER_EVENT",
    "MET",
    "MISSED",
    "NOT_STARTED",
    "PLACEABLE_STATES",
    "QUEUES",
    "RATES",
    "RULES",
    "RUNNING",
    "STATES",
    "CleanPhoto",
    "Coordinate",
    "EventAck",
    "EventInput",
    "EventOut",
    "EventPolicy",
    "IngestAudit",
    "IngestBatcher",
    "RuleRow",
    "TeamOut",
    "ZonedTime",
    "act",
    "address_events",
    "attach_photo",
    "base64_length",
    "categories",
    "check_event_input",
    "check_overdue",
    "clean_photo",
    "co_handlers",
    "decode_photo",
    "default_photo_stage",
    "escalation_candidates",
    "event_out",
    "event_photos",
    "events_out",
    "import_events",
    "ingest",
    "ingest_event",
    "ledgers",
    "lifecycle",
    "list_categories",
    "load_json",
    "mask_name",
    "mask_phone",
    "missed_deadline",
    "new_event_out",
    "photo_places",
    "photo_stage",
    "public_event",
    "queries",
    "queues",
    "read_hotline_export",
    "start_overdue_watch",
    "stats",
    "store_photo",
    "stored_photo_file",
    "stored_reports",
    "team_candidates",
    "workflow",
]
