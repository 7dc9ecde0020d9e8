"""A second small county beside the small county of tests/factories.py, in one database.

County 990102 ("乙县") is the small county moved 0.04° east (lon 112.94–112.98, sharing
the edge at 112.94), with every code's 990101 prefix turned into 990102 and every name
prefixed with 乙, so an answer that shows any of its names contains "乙". Its grids
have their own duty teams and it has its own responsibility list.
"""

from __future__ import annotations

from dataclasses import replace

from shapely import affinity
from sqlalchemy.orm import Session

from gridmap import teams
from gridmap.boundaries import activation
from gridmap.boundaries import versions as boundaries
from gridmap.boundaries.versions import AreaRow
from gridmap.events import categories
from tests import factories as f

COUNTY_B = "990102"
SHIFT = 0.04
MARK = "乙"


def b_code(code: str) -> str:
    """The code in county B of an area of the small county."""
    return COUNTY_B + code[len(f.COUNTY) :] if code.startswith(f.COUNTY) else code


def b_rows() -> list[AreaRow]:
    return [
        replace(
            r,
            county_code=COUNTY_B,
            code=b_code(r.code),
            name=MARK + r.name,
            parent_code=b_code(r.parent_code) if r.parent_code else None,
            geom=affinity.translate(r.geom, xoff=SHIFT),
        )
        for r in f.area_rows()
    ]


def b_grid_center(code: str) -> tuple[float, float]:
    """The centre of county B's grid `code` (a code of the small county or of B)."""
    lon, lat = f.SmallCounty.grid_center(f.COUNTY + code[len(COUNTY_B) :])
    return lon + SHIFT, lat


def load_county_b(session: Session) -> int:
    """County B's boundaries (activated), grid teams on duty and rules; its version id."""
    version = boundaries.create_version(
        session, name=f"{MARK}县 boundaries", created_by="factory", county_code=COUNTY_B
    )
    boundaries.stage_areas(session, version_id=version.id, rows=b_rows())
    diff = activation.activate_version(session, version_id=version.id, activated_by="factory")
    duties: list[teams.DutyRow] = []
    for code in f.GRIDS:
        team = f"T-{b_code(code)}"
        teams.upsert_team(
            session, county_code=COUNTY_B, code=team, name=f"{MARK}{code}网格团队", level="grid"
        )
        duties.append(teams.DutyRow("grid", b_code(code), team))
    teams.set_duties(session, county_code=COUNTY_B, duties=duties)
    categories.replace_responsibility_list(session, county_code=COUNTY_B, rules=f.RULES[:1])
    session.flush()
    return diff.version_id
