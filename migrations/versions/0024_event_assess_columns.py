"""The assessment's per-event facts stored on the event (issue #21 item 4).

Every view of the assessment reads, for each event of its scope, the fourteen counts'
predicates (`gridmap.events.stats.figures.COUNTS`) and its two clocks (`DURATIONS`). They
depend on the event's own columns only, so PostgreSQL keeps them as stored generated
columns — computed when the event is written, not on every read: a county's month (~41,000
events) was read in ~90 ms computing them and ~65 ms reading them (docs/performance.md).

- `assess_flags`: bit i is COUNTS[i]'s predicate (NULL counts as false, as the sums did);
- `response_seconds`, `handling_seconds`: the clocks' lengths, `date_part('epoch', end −
  start)` (float8), NULL when a moment is missing.

The expressions are this migration's frozen copy of figures.py at the time of writing: a
later change of COUNTS or DURATIONS needs a migration that redefines the columns, and
tests/test_assessment.py checks the stored values equal the predicates on every case of
its walk. Adding them rewrites the event table once.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-04 18:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN = "('assigned', 'in_progress', 'registered', 'reported', 'reported_back', 'returned')"
# COUNTS in order, bit 0 first: received, merged, assessed, open, closed, closed_on_time,
# closed_late, overdue, open_overdue, responded, responded_on_time, visited, satisfied,
# returned.
_PREDICATES = (
    "TRUE",
    "status = 'merged'",
    "status <> 'merged'",
    f"status IN {_OPEN}",
    "closed_at IS NOT NULL",
    "closed_at IS NOT NULL AND (due_at IS NULL OR closed_at <= due_at)",
    "closed_at IS NOT NULL AND due_at IS NOT NULL AND closed_at > due_at",
    "overdue",
    f"overdue AND status IN {_OPEN}",
    "responded_at IS NOT NULL",
    "responded_at IS NOT NULL AND (response_due_at IS NULL OR responded_at <= response_due_at)",
    "satisfaction IS NOT NULL",
    "satisfaction >= 4",
    "(returned_count > 0 OR reopened_count > 0)",
)
ASSESS_FLAGS = " | ".join(f"(coalesce({p}, false)::int << {i})" for i, p in enumerate(_PREDICATES))
RESPONSE_SECONDS = "date_part('epoch', responded_at - received_at)"
HANDLING_SECONDS = "date_part('epoch', closed_at - assigned_at)"


def upgrade() -> None:
    op.execute(
        f"""
        ALTER TABLE event
            ADD COLUMN assess_flags integer GENERATED ALWAYS AS ({ASSESS_FLAGS}) STORED,
            ADD COLUMN response_seconds double precision
                GENERATED ALWAYS AS ({RESPONSE_SECONDS}) STORED,
            ADD COLUMN handling_seconds double precision
                GENERATED ALWAYS AS ({HANDLING_SECONDS}) STORED
        """
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE event DROP COLUMN assess_flags, DROP COLUMN response_seconds,"
        " DROP COLUMN handling_seconds"
    )
