"""A county's buildings and their households in the database: what grid counts sum from."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gridmap.boundaries.divisions import ListChange

# Positions are compared (and stored) to 7 decimals of a degree, about a centimetre.
_DECIMALS = 7


@dataclass(frozen=True)
class BuildingRows:
    """Buildings as columns: one entry per building, positions in WGS84."""

    codes: Sequence[str]
    households: Sequence[int]
    kinds: Sequence[str | None]
    lon: Sequence[float]
    lat: Sequence[float]
    attributes: Sequence[dict[str, Any]]


def stored_buildings(
    session: Session, *, county_code: str
) -> dict[str, tuple[int, str | None, float, float]]:
    """code → (households, kind, lon, lat) of the county's stored buildings."""
    rows = session.execute(
        text(
            "SELECT code, households, kind, ST_X(point) AS lon, ST_Y(point) AS lat "
            "FROM building WHERE county_code = :c"
        ),
        {"c": county_code},
    ).all()
    return {
        r.code: (int(r.households), r.kind, round(r.lon, _DECIMALS), round(r.lat, _DECIMALS))
        for r in rows
    }


def replace_buildings(
    session: Session, *, county_code: str, rows: BuildingRows, commit: bool
) -> ListChange:
    """Make the county's buildings exactly `rows` (by code); with `commit=False` only say
    what would change. The same rows twice change nothing (and write nothing)."""
    new = {
        str(code): (int(h), k or None, round(float(x), _DECIMALS), round(float(y), _DECIMALS))
        for code, h, k, x, y in zip(
            rows.codes, rows.households, rows.kinds, rows.lon, rows.lat, strict=True
        )
    }
    old = stored_buildings(session, county_code=county_code)
    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    changed = sorted(c for c in set(new) & set(old) if new[c] != old[c])
    change = ListChange(added, changed, removed, len(new) - len(added) - len(changed))
    if not commit or change.empty:
        return change
    session.execute(text("DELETE FROM building WHERE county_code = :c"), {"c": county_code})
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for (code, (households, kind, x, y)), attributes in zip(
        new.items(), rows.attributes, strict=True
    ):
        writer.writerow(
            [
                county_code,
                code,
                households,
                kind if kind is not None else "",
                f"SRID=4326;POINT({x:.{_DECIMALS}f} {y:.{_DECIMALS}f})",
                json.dumps(attributes, ensure_ascii=False),
            ]
        )
    buffer.seek(0)
    raw = session.connection().connection.driver_connection
    assert raw is not None
    with (
        raw.cursor() as cur,
        cur.copy(
            "COPY building (county_code, code, households, kind, point, attributes) "
            "FROM STDIN WITH (FORMAT csv)"
        ) as copy,
    ):
        while chunk := buffer.read(1 << 20):
            copy.write(chunk)
    return change
