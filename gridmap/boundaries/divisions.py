"""A county's official division list in the database: what its areas are named after."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from gridmap.models import Division


@dataclass(frozen=True, slots=True)
class DivisionRow:
    code: str
    name: str
    level: str  # township | community
    parent_code: str | None
    kind: str


@dataclass(frozen=True, slots=True)
class ListChange:
    """What storing a list changed: codes added, changed and removed, and how many stayed."""

    added: list[str]
    changed: list[str]
    removed: list[str]
    unchanged: int

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed)

    def to_text(self, what: str) -> str:
        return (
            f"{what}: {len(self.added)} added, {len(self.changed)} changed, "
            f"{len(self.removed)} removed, {self.unchanged} unchanged"
        )


def list_divisions(session: Session, *, county_code: str) -> list[DivisionRow]:
    rows = session.scalars(
        select(Division).where(Division.county_code == county_code).order_by(Division.code)
    )
    return [DivisionRow(d.code, d.name, d.level, d.parent_code, d.kind) for d in rows]


def replace_divisions(
    session: Session, *, county_code: str, divisions: Iterable[DivisionRow], commit: bool
) -> ListChange:
    """Make the stored list equal to `divisions`; with `commit=False` only say what would
    change. The same list twice changes nothing."""
    wanted = {d.code: d for d in divisions}
    stored = {d.code: d for d in list_divisions(session, county_code=county_code)}
    added = sorted(set(wanted) - set(stored))
    removed = sorted(set(stored) - set(wanted))
    changed = sorted(c for c in set(wanted) & set(stored) if wanted[c] != stored[c])
    change = ListChange(added, changed, removed, len(wanted) - len(added) - len(changed))
    if not commit or change.empty:
        return change
    if removed or changed:
        session.execute(
            delete(Division).where(
                Division.county_code == county_code, Division.code.in_(removed + changed)
            )
        )
    session.add_all(
        Division(
            county_code=county_code,
            code=d.code,
            name=d.name,
            level=d.level,
            parent_code=d.parent_code,
            kind=d.kind,
        )
        for d in (wanted[c] for c in added + changed)
    )
    session.flush()
    return change
