"""The database schema as SQLAlchemy models; `migrations/` owns how it is created.

Versioning (as mySociety's MapIt "generations"): `area` holds every published shape of
every area. A row is valid from the version that introduced it (`valid_from`) up to, not
including, the version that replaced or removed it (`valid_to`, NULL while current).
A version belongs to one county and changes only its areas; each county has one active
version. Published ids increase in the order of publication, database-wide (a version
activated after a later-created one gets a new id: gridmap.boundaries.activation), so "valid in
version V" is `valid_from <= V AND (valid_to IS NULL OR valid_to > V)`: every county as
it stood when V was published. Drafts and staged imports keep
their rows in `draft_area` until they are activated.

Every row that belongs to a county carries `county_code`, so one database can serve a
city or a province, jurisdictions filter cheaply, and tables can be distributed by
county (Citus) later.

Not every model is queried through the ORM: `area_part`, `area_tile`, `tile_store`,
`draft_area` and `draft_edit` are read and written by SQL text in gridmap.boundaries.versions,
.activation, .diffs, .publishing, .tiles, .tile_cache, .drafts and .draft_history
(set-based statements the ORM would only wrap). Their models stay as the one declaration
of the schema that tests/test_foundation.py compares with what the migrations create, so a
migration and this file cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Computed,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

LAYERS = (
    "county",
    "township",
    "community",
    "grid",
    "micro_grid",
    "enforcement_zone",
    "dedicated_grid",
)
VERSION_STATUSES = ("draft", "staged", "active", "retired", "discarded")
PRIORITIES = ("emergency", "key", "routine", "coordination")
HANDLING_MODES = ("self", "cooperate", "department")
# When a photo was taken: when the problem was reported, or after handling (处置后照片).
PHOTO_REPORT = "report"
PHOTO_AFTER = "after"
PHOTO_STAGES = (PHOTO_REPORT, PHOTO_AFTER)
EVENT_STATUSES = (
    "reported",
    "registered",
    "assigned",
    "in_progress",
    "reported_back",
    "closed",
    "archived",
    "returned",
    "merged",
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _now() -> Any:
    return func.now()


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSONB}


# --- boundaries -------------------------------------------------------------------------


class BoundaryVersion(Base):
    """A generation of boundaries: a draft, a staged import, or a published version."""

    __tablename__ = "boundary_version"
    __table_args__ = (
        CheckConstraint(_in("status", VERSION_STATUSES), name="ck_boundary_version_status"),
        # A version belongs to one county; at most one active version per county (0011).
        Index(
            "uq_boundary_version_active_per_county",
            "county_code",
            unique=True,
            postgresql_where=text("status = 'active'"),
        ),
        Index("ix_boundary_version_county", "county_code", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="draft")
    # The version this one was prepared against; activation requires it still be active.
    base_version_id: Mapped[int | None] = mapped_column(ForeignKey("boundary_version.id"))
    # The county whose areas it changes (NULL only for empty versions from before 0009).
    county_code: Mapped[str | None] = mapped_column(String(12))
    created_by: Mapped[str] = mapped_column(String(100), default="system")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    activated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    activated_by: Mapped[str | None] = mapped_column(String(100))
    # Counts and notes of what the activation changed (added/changed/removed per layer).
    summary: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class Area(Base):
    """One published shape of one area (county, township, community, grid, …)."""

    __tablename__ = "area"
    __table_args__ = (
        CheckConstraint(_in("layer", LAYERS), name="ck_area_layer"),
        CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="ck_area_range"),
        Index("ix_area_geom", "geom", postgresql_using="gist"),
        Index("ix_area_lookup", "county_code", "layer", "code", "valid_from"),
        # Down the hierarchy (jurisdiction scopes) and search by part of a name (0008).
        Index("ix_area_parent", "parent_code"),
        Index(
            "ix_area_name_trgm",
            "name",
            postgresql_using="gin",
            postgresql_ops={"name": "gin_trgm_ops"},
        ),
        # A code names one current area: never two current rows with the same code.
        Index(
            "uq_area_current_code",
            "county_code",
            "layer",
            "code",
            unique=True,
            postgresql_where=text("valid_to IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    county_code: Mapped[str] = mapped_column(String(12))
    layer: Mapped[str] = mapped_column(String(20))
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    parent_code: Mapped[str | None] = mapped_column(String(40))
    households: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str | None] = mapped_column(String(40))  # e.g. community/rural/school
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    geom: Mapped[Any] = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False
    )
    valid_from: Mapped[int] = mapped_column(ForeignKey("boundary_version.id"))
    valid_to: Mapped[int | None] = mapped_column(ForeignKey("boundary_version.id"))


class AreaPart(Base):
    """`ST_Subdivide`d pieces of `area` rows: small boxes make PostGIS point look-ups fast."""

    __tablename__ = "area_part"
    __table_args__ = (
        Index("ix_area_part_geom", "geom", postgresql_using="gist"),
        Index("ix_area_part_area", "area_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id", ondelete="CASCADE"))
    county_code: Mapped[str] = mapped_column(String(12))
    layer: Mapped[str] = mapped_column(String(20))
    valid_from: Mapped[int] = mapped_column(Integer)
    valid_to: Mapped[int | None] = mapped_column(Integer)
    geom: Mapped[Any] = mapped_column(
        Geometry("POLYGON", srid=4326, spatial_index=False), nullable=False
    )


class AreaTile(Base):
    """`area` rows in Web Mercator, simplified per zoom band, for vector tiles (derived:
    kept in step with `area` by triggers, migration 0004; read by gridmap.boundaries.tiles)."""

    __tablename__ = "area_tile"
    __table_args__ = (
        Index("ix_area_tile_area", "area_id"),
        *(
            Index(
                f"ix_area_tile_geom_{layer}",
                "geom",
                postgresql_using="gist",
                postgresql_where=text(f"layer = '{layer}'"),
            )
            for layer in LAYERS
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id", ondelete="CASCADE"))
    county_code: Mapped[str] = mapped_column(String(12))  # migration 0007
    layer: Mapped[str] = mapped_column(String(20))
    valid_from: Mapped[int] = mapped_column(Integer)
    valid_to: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[int] = mapped_column(SmallInteger)  # highest zoom simplified for; 32 = full
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    parent_code: Mapped[str | None] = mapped_column(String(40))
    households: Mapped[int | None] = mapped_column(Integer)
    geom: Mapped[Any] = mapped_column(Geometry(srid=3857, spatial_index=False), nullable=False)


class StoredTile(Base):
    """An encoded vector tile of a published version, shared by every worker process
    (gridmap.boundaries.tile_cache; `scope` is `all` or an `AreaScope.key`, `recipe` names the
    rules and SQL that made it)."""

    __tablename__ = "tile_store"

    version_id: Mapped[int] = mapped_column(
        ForeignKey("boundary_version.id", ondelete="CASCADE"), primary_key=True
    )
    recipe: Mapped[str] = mapped_column(String(16), primary_key=True)
    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    layer: Mapped[str] = mapped_column(String(20), primary_key=True)
    z: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    x: Mapped[int] = mapped_column(Integer, primary_key=True)
    y: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    render_ms: Mapped[float] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())


class DraftArea(Base):
    """A change staged in a draft or an imported-but-not-active version.

    `action` is `upsert` (add or replace the area with this code) or `delete`.
    """

    __tablename__ = "draft_area"
    __table_args__ = (
        CheckConstraint("action IN ('upsert', 'delete')", name="ck_draft_area_action"),
        CheckConstraint(_in("layer", LAYERS), name="ck_draft_area_layer"),
        UniqueConstraint("version_id", "county_code", "layer", "code", name="uq_draft_area_code"),
        Index("ix_draft_area_geom", "geom", postgresql_using="gist"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("boundary_version.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(8), default="upsert")
    county_code: Mapped[str] = mapped_column(String(12))
    layer: Mapped[str] = mapped_column(String(20))
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200), default="")
    parent_code: Mapped[str | None] = mapped_column(String(40))
    households: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str | None] = mapped_column(String(40))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    geom: Mapped[Any | None] = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=False)
    )


class DraftEdit(Base):
    """One edit of a draft on the editor's undo/redo stack (gridmap.boundaries.drafts,
    gridmap.boundaries.draft_history)."""

    __tablename__ = "draft_edit"
    __table_args__ = (UniqueConstraint("version_id", "seq", name="uq_draft_edit_seq"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("boundary_version.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    op: Mapped[str] = mapped_column(String(20))
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    keys: Mapped[list[Any]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    before: Mapped[list[Any]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    after: Mapped[list[Any]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    undone: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())


class Building(Base):
    """A house or block with its household count: what grid household counts sum from."""

    __tablename__ = "building"
    __table_args__ = (
        Index("ix_building_point", "point", postgresql_using="gist"),
        Index("ix_building_county_code", "county_code", "code", unique=True),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    county_code: Mapped[str] = mapped_column(String(12))
    code: Mapped[str] = mapped_column(String(60))
    households: Mapped[int] = mapped_column(Integer, default=0)
    population: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str | None] = mapped_column(String(40))
    address: Mapped[str | None] = mapped_column(String(300))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    point: Mapped[Any] = mapped_column(Geometry("POINT", srid=4326, spatial_index=False))
    footprint: Mapped[Any | None] = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=False)
    )


class Division(Base):
    """One line of a county's official division list (统计用区划代码): a township of any
    kind or a village/community committee. What the county's areas are named and coded
    after; a division without an area yet is what onboarding still has to draw."""

    __tablename__ = "division"
    __table_args__ = (UniqueConstraint("county_code", "code", name="uq_division_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    county_code: Mapped[str] = mapped_column(String(12))
    code: Mapped[str] = mapped_column(String(12))
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(20))  # township | community
    parent_code: Mapped[str | None] = mapped_column(String(12))
    kind: Mapped[str] = mapped_column(String(20))  # street/town/…; urban/rural/…


# --- teams and the responsibility list --------------------------------------------------


class Department(Base):
    """A county department or enforcement unit (职能部门、执法队)."""

    __tablename__ = "department"
    __table_args__ = (UniqueConstraint("county_code", "code", name="uq_department_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    county_code: Mapped[str] = mapped_column(String(12))
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40))


class Team(Base):
    """A team that answers for something: a grid's 1+1+N, a duty roster, a department team."""

    __tablename__ = "team"
    __table_args__ = (UniqueConstraint("county_code", "code", name="uq_team_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    county_code: Mapped[str] = mapped_column(String(12))
    code: Mapped[str] = mapped_column(String(60))
    name: Mapped[str] = mapped_column(String(200))
    # grid | community | township | county | department | enforcement
    level: Mapped[str] = mapped_column(String(20))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    phone: Mapped[str | None] = mapped_column(String(40))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Member(Base):
    """A person in a team: grid leader (网格长), grid worker (网格员), auxiliary, police."""

    __tablename__ = "member"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(30))
    phone: Mapped[str | None] = mapped_column(String(40))
    user_id: Mapped[int | None] = mapped_column(Integer)


class Duty(Base):
    """Which team answers for which area (by stable code), and how (responsible or lead)."""

    __tablename__ = "duty"
    __table_args__ = (
        UniqueConstraint("county_code", "layer", "area_code", "team_id", name="uq_duty"),
        Index("ix_duty_area", "county_code", "layer", "area_code"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    county_code: Mapped[str] = mapped_column(String(12))
    layer: Mapped[str] = mapped_column(String(20))
    area_code: Mapped[str] = mapped_column(String(40))
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(20), default="responsible")  # or lead / member


class Category(Base):
    """An event category of the responsibility list (权责清单)."""

    __tablename__ = "category"
    __table_args__ = (UniqueConstraint("county_code", "code", name="uq_category_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    county_code: Mapped[str] = mapped_column(String(12))
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    group: Mapped[str | None] = mapped_column(String(100))


class ResponsibilityRule(Base):
    """Category (× optional area) → who handles it, default priority, time limits.

    `area_code` NULL is the county-wide rule; a rule for a township or community
    overrides it there.
    """

    __tablename__ = "responsibility_rule"
    __table_args__ = (
        CheckConstraint(_in("mode", HANDLING_MODES), name="ck_rule_mode"),
        CheckConstraint(_in("default_priority", PRIORITIES), name="ck_rule_priority"),
        Index(
            "uq_rule_category_area",
            "county_code",
            "category_code",
            text("coalesce(area_code, '')"),
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    county_code: Mapped[str] = mapped_column(String(12))
    category_code: Mapped[str] = mapped_column(String(40))
    area_code: Mapped[str | None] = mapped_column(String(40))
    mode: Mapped[str] = mapped_column(String(12))
    department_code: Mapped[str | None] = mapped_column(String(40))
    default_priority: Mapped[str] = mapped_column(String(16), default="routine")
    response_minutes: Mapped[int | None] = mapped_column(Integer)
    time_limit_hours: Mapped[float] = mapped_column(Float, default=72)


# --- events -----------------------------------------------------------------------------


_OPEN_STATUSES = (
    "('assigned', 'in_progress', 'registered', 'reported', 'reported_back', 'returned')"
)
# The counts' predicates in gridmap.events.stats.figures.COUNTS' order, as migration 0024
# stores them (see Event.assess_flags).
_ASSESS_FLAGS = " | ".join(
    f"(coalesce({p}, false)::int << {i})"
    for i, p in enumerate(
        (
            "TRUE",
            "status = 'merged'",
            "status <> 'merged'",
            f"status IN {_OPEN_STATUSES}",
            "closed_at IS NOT NULL",
            "closed_at IS NOT NULL AND (due_at IS NULL OR closed_at <= due_at)",
            "closed_at IS NOT NULL AND due_at IS NOT NULL AND closed_at > due_at",
            "overdue",
            f"overdue AND status IN {_OPEN_STATUSES}",
            "responded_at IS NOT NULL",
            "responded_at IS NOT NULL AND (response_due_at IS NULL "
            "OR responded_at <= response_due_at)",
            "satisfaction IS NOT NULL",
            "satisfaction >= 4",
            "(returned_count > 0 OR reopened_count > 0)",
        )
    )
)


class Event(Base):
    """One reported problem and where it stands in the closed loop (闭环)."""

    __tablename__ = "event"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_event_source_external_id"),
        CheckConstraint(_in("status", EVENT_STATUSES), name="ck_event_status"),
        CheckConstraint(_in("priority", PRIORITIES), name="ck_event_priority"),
        Index("ix_event_point", "point", postgresql_using="gist"),
        Index("ix_event_county_status", "county_code", "status"),
        Index("ix_event_grid", "grid_code"),
        # A township's period: its events by time (also any lookup by the township alone).
        Index("ix_event_township_received", "township_code", "received_at"),
        Index("ix_event_received", "received_at"),
        Index("ix_event_county_received", "county_code", "received_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    county_code: Mapped[str | None] = mapped_column(String(12))
    source: Mapped[str] = mapped_column(String(40))
    external_id: Mapped[str] = mapped_column(String(100))
    category_code: Mapped[str] = mapped_column(String(40))
    priority: Mapped[str] = mapped_column(String(16), default="routine")
    status: Mapped[str] = mapped_column(String(16), default="reported")
    description: Mapped[str] = mapped_column(Text, default="")
    address: Mapped[str | None] = mapped_column(String(300))
    reporter_name: Mapped[str | None] = mapped_column(String(100))
    reporter_phone: Mapped[str | None] = mapped_column(String(40))
    reported_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    # Where, as sent and as stored.
    input_lon: Mapped[float | None] = mapped_column(Float)
    input_lat: Mapped[float | None] = mapped_column(Float)
    input_crs: Mapped[str | None] = mapped_column(String(20))
    point: Mapped[Any | None] = mapped_column(Geometry("POINT", srid=4326, spatial_index=False))
    # The routing result and the boundary version it was made under.
    version_id: Mapped[int | None] = mapped_column(ForeignKey("boundary_version.id"))
    grid_area_id: Mapped[int | None] = mapped_column(ForeignKey("area.id"))
    grid_code: Mapped[str | None] = mapped_column(String(40))
    community_code: Mapped[str | None] = mapped_column(String(40))
    township_code: Mapped[str | None] = mapped_column(String(40))
    zone_code: Mapped[str | None] = mapped_column(String(40))
    dedicated_code: Mapped[str | None] = mapped_column(String(40))
    on_boundary: Mapped[bool] = mapped_column(Boolean, default=False)
    outside_coverage: Mapped[bool] = mapped_column(Boolean, default=False)
    routing: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    # Who handles it.
    handling_mode: Mapped[str | None] = mapped_column(String(12))
    department_code: Mapped[str | None] = mapped_column(String(40))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"), index=True)
    escalation_level: Mapped[str] = mapped_column(String(12), default="grid")
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("event.id"))
    # Deadlines and outcome.
    response_due_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    overdue: Mapped[bool] = mapped_column(Boolean, default=False)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    satisfaction: Mapped[int | None] = mapped_column(Integer)
    # What the assessment reads (gridmap.events.stats), kept by gridmap.events.lifecycle.act: when
    # the
    # handling clock started (first assigned) and the response clock stopped (first
    # started), and how often it was returned (退回) and reopened.
    assigned_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    responded_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # When the lead team last reported back (反馈结果): the handling clock stops there; a
    # reopening starts it again (cleared).
    handled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    returned_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    reopened_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The assessment's facts of the event, kept by PostgreSQL (stored generated columns,
    # migration 0024): bit i of `assess_flags` is gridmap.events.stats.figures.COUNTS[i]'s
    # predicate, and the two clocks (DURATIONS) in seconds. A test keeps them equal to the
    # predicates (tests/test_assessment.py).
    assess_flags: Mapped[int | None] = mapped_column(
        Integer, Computed(_ASSESS_FLAGS, persisted=True)
    )
    response_seconds: Mapped[float | None] = mapped_column(
        Float, Computed("date_part('epoch', responded_at - received_at)", persisted=True)
    )
    handling_seconds: Mapped[float | None] = mapped_column(
        Float, Computed("date_part('epoch', closed_at - assigned_at)", persisted=True)
    )
    # Optimistic locking for concurrent actions.
    row_version: Mapped[int] = mapped_column(Integer, default=1)


class EventCoHandler(Base):
    """A co-handling team of a joint dispatch (联合哨); it reports back on its part."""

    __tablename__ = "event_co_handler"
    __table_args__ = (UniqueConstraint("event_id", "team_id", name="uq_event_co_handler"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"))
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id"))
    reported_back_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(Text)


class EventLog(Base):
    """Append-only timeline of an event: a trigger refuses UPDATE and DELETE."""

    __tablename__ = "event_log"
    __table_args__ = (Index("ix_event_log_event", "event_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"))
    county_code: Mapped[str | None] = mapped_column(String(12))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(30))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"))
    note: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class Photo(Base):
    """A photo attached to an event, stored by content hash under gridmap's data dir."""

    __tablename__ = "photo"
    __table_args__ = (CheckConstraint(_in("stage", PHOTO_STAGES), name="ck_photo_stage"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    media_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(Integer)
    uploaded_by: Mapped[str] = mapped_column(String(100))
    uploaded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    # 'report' or 'after' (PHOTO_STAGES): the event panel shows the two apart.
    stage: Mapped[str] = mapped_column(String(10), server_default=PHOTO_REPORT)


class StreamMessageRow(Base):
    """Announcements for the live stream; the id is the SSE `Last-Event-ID` for catch-up.
    (Readers get them as `gridmap.notify.StreamMessage`.)"""

    __tablename__ = "stream_message"
    __table_args__ = (Index("ix_stream_message_at", "at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    kind: Mapped[str] = mapped_column(String(40))
    county_code: Mapped[str | None] = mapped_column(String(12))
    township_code: Mapped[str | None] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


# --- users (filled in by the users issue) -----------------------------------------------


class AppUser(Base):
    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(100), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())


class UserArea(Base):
    """A user's jurisdiction: the areas (by code) they may see and act in."""

    __tablename__ = "user_area"
    __table_args__ = (UniqueConstraint("user_id", "area_code", name="uq_user_area"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    county_code: Mapped[str] = mapped_column(String(12))
    layer: Mapped[str] = mapped_column(String(20))
    area_code: Mapped[str] = mapped_column(String(40))


class ApiToken(Base):
    """An integration's bearer token, stored only as a hash."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    role: Mapped[str] = mapped_column(String(20))
    area_codes: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class AuditLog(Base):
    """Append-only record of every write: who, when, from where, what."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_target", "target_type", "target_id"),
        Index("ix_audit_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    actor: Mapped[str] = mapped_column(String(100))
    source_addr: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(60))
    target_type: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[str | None] = mapped_column(String(80))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class UserSession(Base):
    """A browser session: only the SHA-256 of the cookie value is stored."""

    __tablename__ = "user_session"
    __table_args__ = (Index("ix_user_session_user", "user_id"),)

    id_hash: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    source_addr: Mapped[str | None] = mapped_column(String(64))


class LoginAttempt(Base):
    """One login try; the rate limit counts recent failures per username and address."""

    __tablename__ = "login_attempt"
    __table_args__ = (
        Index("ix_login_attempt_user", "username", "source_addr", "at"),
        Index("ix_login_attempt_addr", "source_addr", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    username: Mapped[str] = mapped_column(String(80))
    source_addr: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    succeeded: Mapped[bool] = mapped_column(Boolean)


class StatsReport(Base):
    """A report the service produced on its own (`api.reports`): the daily (日报) and weekly
    (周报) assessment reports of a county and of each of its townships, kept for download
    as the printable HTML they were rendered as (Chromium prints it to PDF)."""

    __tablename__ = "stats_report"
    __table_args__ = (
        UniqueConstraint("kind", "area_code", "period_from", name="uq_stats_report"),
        Index("ix_stats_report_county", "county_code", "period_from"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))  # daily | weekly
    county_code: Mapped[str] = mapped_column(String(12))
    area_layer: Mapped[str] = mapped_column(String(20))  # county | township
    area_code: Mapped[str] = mapped_column(String(40))
    area_name: Mapped[str] = mapped_column(String(200))
    period_from: Mapped[dt.date] = mapped_column(Date)
    period_to: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    html: Mapped[str] = mapped_column(Text)


class BasemapImport(Base):
    """One basemap import (migrations 0015, 0020): the latest id is the basemap's revision."""

    __tablename__ = "basemap_import"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    county_code: Mapped[str] = mapped_column(String(12))
    source: Mapped[str] = mapped_column(String(500))
    synthetic: Mapped[bool] = mapped_column(Boolean)
    counts: Mapped[dict[str, Any]] = mapped_column(JSONB)
    imported_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    # Whose data it is, written on the map (migration 0020); the features' extent.
    attribution: Mapped[str | None] = mapped_column(String(300))
    bbox: Mapped[list[float] | None] = mapped_column(JSONB)


class BasemapFeature(Base):
    """A road, railway, water, land use, building, place name or POI of a county's
    basemap (gridmap.boundaries.basemap); `geom_3857` is the tile copy, `min_zoom` its zoom rule."""

    __tablename__ = "basemap_feature"
    __table_args__ = (
        Index("ix_basemap_feature_county", "county_code", "layer"),
        Index("ix_basemap_feature_zoom", "layer", "min_zoom"),
        Index("ix_basemap_feature_geom_3857", "geom_3857", postgresql_using="gist"),
        Index("ix_basemap_feature_geom", "geom", postgresql_using="gist"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    county_code: Mapped[str] = mapped_column(String(12))
    layer: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str | None] = mapped_column(String(40))
    name: Mapped[str | None] = mapped_column(String(200))
    source_id: Mapped[str | None] = mapped_column(String(60))
    min_zoom: Mapped[int] = mapped_column(SmallInteger)
    synthetic: Mapped[bool] = mapped_column(Boolean)
    geom: Mapped[Any] = mapped_column(Geometry(srid=4326, spatial_index=False))
    geom_3857: Mapped[Any] = mapped_column(Geometry(srid=3857, spatial_index=False))


class AddressEntry(Base):
    """One entry of a county's address register (门牌地址库): a building's address, a POI
    or a named road (its line), matched by gridmap.routing.geocode."""

    __tablename__ = "address_entry"
    __table_args__ = (
        Index("ix_address_entry_county", "county_code", "kind"),
        Index("ix_address_entry_geom", "geom", postgresql_using="gist"),
        Index("ix_address_entry_county_id", "county_code", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    county_code: Mapped[str] = mapped_column(String(12))
    kind: Mapped[str] = mapped_column(String(20))  # building | poi | road | place
    full_text: Mapped[str] = mapped_column(String(300))
    name: Mapped[str | None] = mapped_column(String(200))
    township: Mapped[str | None] = mapped_column(String(100))
    community: Mapped[str | None] = mapped_column(String(100))
    road: Mapped[str | None] = mapped_column(String(100))
    number: Mapped[str | None] = mapped_column(String(20))
    building_no: Mapped[str | None] = mapped_column(String(20))
    village_group: Mapped[str | None] = mapped_column(String(20))
    synthetic: Mapped[bool] = mapped_column(Boolean)
    geom: Mapped[Any] = mapped_column(Geometry(srid=4326, spatial_index=False))
    # What brought it (migration 0020): 'basemap' or 'buildings'; each replaces its own.
    origin: Mapped[str] = mapped_column(String(20), server_default="basemap")


class BasemapTile(Base):
    """An encoded basemap vector tile of one basemap revision (gridmap.boundaries.basemap)."""

    __tablename__ = "basemap_tile"

    revision: Mapped[int] = mapped_column(Integer, primary_key=True)
    recipe: Mapped[str] = mapped_column(String(16), primary_key=True)
    z: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    x: Mapped[int] = mapped_column(Integer, primary_key=True)
    y: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    render_ms: Mapped[float] = mapped_column(Float)


# --- the grid worker's field work (migration 0014; read and written by SQL text in
# gridmap/patrols.py and gridmap/visits.py) ----------------------------------------------


class Patrol(Base):
    """One patrol (巡查) of one worker: its track, the last fix, where it started."""

    __tablename__ = "patrol"
    __table_args__ = (
        UniqueConstraint("user_id", "client_id", name="uq_patrol_client"),
        Index("ix_patrol_county_started", "county_code", "started_at"),
        Index("ix_patrol_user_started", "user_id", "started_at"),
        Index("ix_patrol_open", "county_code", postgresql_where=text("ended_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    username: Mapped[str] = mapped_column(String(80))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"))
    county_code: Mapped[str | None] = mapped_column(String(12))
    township_code: Mapped[str | None] = mapped_column(String(40))
    community_code: Mapped[str | None] = mapped_column(String(40))
    grid_code: Mapped[str | None] = mapped_column(String(40))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    track: Mapped[Any | None] = mapped_column(
        Geometry("LINESTRING", srid=4326, spatial_index=False)
    )
    last_point: Mapped[Any | None] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=False)
    )
    last_fix_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_accuracy_m: Mapped[float | None] = mapped_column(Float)
    last_seq: Mapped[int] = mapped_column(Integer, server_default="0")
    points: Mapped[int] = mapped_column(Integer, server_default="0")
    distance_m: Mapped[float] = mapped_column(Float, server_default="0")


class Visit(Base):
    """One household visit (走访): a building, a kind, a note."""

    __tablename__ = "visit"
    __table_args__ = (
        CheckConstraint("kind IN ('routine', 'special_care', 'dispute')", name="ck_visit_kind"),
        UniqueConstraint("user_id", "client_id", name="uq_visit_client"),
        Index("ix_visit_county_at", "county_code", "visited_at"),
        Index("ix_visit_grid_at", "grid_code", "visited_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    username: Mapped[str] = mapped_column(String(80))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"))
    county_code: Mapped[str | None] = mapped_column(String(12))
    township_code: Mapped[str | None] = mapped_column(String(40))
    community_code: Mapped[str | None] = mapped_column(String(40))
    grid_code: Mapped[str | None] = mapped_column(String(40))
    building_code: Mapped[str | None] = mapped_column(String(60))
    kind: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, server_default="")
    point: Mapped[Any | None] = mapped_column(Geometry("POINT", srid=4326, spatial_index=False))
    visited_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


# The field work's daily aggregate (migration 0021): kept by triggers on `patrol` and
# `visit`, read by gridmap.events.stats.field_figures. A table without a primary key (its
# key is a unique index whose codes may be NULL), so a Table, not a mapped class.
field_day = Table(
    "field_day",
    Base.metadata,
    Column("county_code", String(12)),
    Column("township_code", String(40)),
    Column("community_code", String(40)),
    Column("grid_code", String(40)),
    Column("team_id", Integer),
    Column("user_id", Integer, nullable=False),
    Column("day", Date, nullable=False),
    Column("patrols", Integer, nullable=False, server_default="0"),
    Column("distance_m", Float, nullable=False, server_default="0"),
    Column("visits", Integer, nullable=False, server_default="0"),
    Column("alone", Boolean, nullable=False, server_default=text("true")),
    Index(
        "uq_field_day",
        "county_code",
        "day",
        "township_code",
        "community_code",
        "grid_code",
        "team_id",
        "user_id",
        unique=True,
        postgresql_nulls_not_distinct=True,
    ),
    Index("ix_field_day_township", "township_code", "day"),
    Index("ix_field_day_user", "user_id", "day"),
    Index("ix_field_day_split", "county_code", "day", postgresql_where=text("NOT alone")),
)


# The field work's monthly rollup (migration 0022): `field_day` summed per local calendar
# month (`month`, its first day), unit-chain and team, kept by triggers on `field_day`,
# read by gridmap.events.stats.field_sums. A Table for the reason `field_day` is one.
field_month = Table(
    "field_month",
    Base.metadata,
    Column("county_code", String(12)),
    Column("month", Date, nullable=False),
    Column("township_code", String(40)),
    Column("community_code", String(40)),
    Column("grid_code", String(40)),
    Column("team_id", Integer),
    Column("patrols", Integer, nullable=False, server_default="0"),
    Column("distance_m", Float, nullable=False, server_default="0"),
    Column("visits", Integer, nullable=False, server_default="0"),
    Column("met", Integer, nullable=False, server_default="0"),
    Index(
        "uq_field_month",
        "county_code",
        "month",
        "township_code",
        "community_code",
        "grid_code",
        "team_id",
        unique=True,
        postgresql_nulls_not_distinct=True,
    ),
    Index("ix_field_month_township", "township_code", "month"),
)


# The roll of grid workers (migration 0023: its FILL_SELECT, the roster query it replaced)
# — each grid worker once, with the area chain of its team's grid — kept by triggers
# on `member`, `team`, `duty` and `area`, indexed for the jurisdiction filters. A Table,
# as `field_day` is: a derived table no code writes.
grid_worker_roll = Table(
    "grid_worker_roll",
    Base.metadata,
    Column("member_id", Integer, primary_key=True),
    Column("team_id", Integer),
    Column("county_code", String(12)),
    Column("township_code", String(40)),
    Column("community_code", String(40)),
    Column("grid_code", String(40)),
    Index("ix_grid_worker_roll_county", "county_code"),
    Index("ix_grid_worker_roll_township", "township_code"),
    Index("ix_grid_worker_roll_community", "community_code"),
    Index("ix_grid_worker_roll_grid", "grid_code"),
    Index("ix_grid_worker_roll_team", "team_id"),
)
