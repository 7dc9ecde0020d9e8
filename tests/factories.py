"""A small hand-made county for tests: exact squares whose answers a reader can check.

County 990101 covers lon 112.90–112.94, lat 35.78–35.82 (inside China, so GCJ-02 offsets
apply). Two townships split at lon 112.92; each has two communities split at lat 35.80;
each community two grids split at its middle longitude: eight grids of 0.01° × 0.02°.
A dedicated grid (a school) sits inside grid G1, an enforcement zone per township.

    lat 35.82 ┌────┬────┬────┬────┐
              │ G3 │ G4 │ G7 │ G8 │   communities C2 (west), C4 (east)
    lat 35.80 ├────┼────┼────┼────┤
              │ G1 │ G2 │ G5 │ G6 │   communities C1 (west), C3 (east)
    lat 35.78 └────┴────┴────┴────┘
         112.90  112.91  112.92  112.93  112.94
"""

from __future__ import annotations

from dataclasses import dataclass

from shapely.geometry import box
from sqlalchemy.orm import Session

from gridmap import teams
from gridmap.boundaries import activation
from gridmap.boundaries import versions as boundaries
from gridmap.boundaries.versions import AreaRow
from gridmap.events import categories
from gridmap.events.categories import RuleRow

COUNTY = "990101"
T1, T2 = "990101001", "990101002"
C1, C2, C3, C4 = "990101001001", "990101001002", "990101002001", "990101002002"
GRIDS = {
    # code: (community, west, south)
    f"{C1}001": (C1, 112.90, 35.78),
    f"{C1}002": (C1, 112.91, 35.78),
    f"{C2}001": (C2, 112.90, 35.80),
    f"{C2}002": (C2, 112.91, 35.80),
    f"{C3}001": (C3, 112.92, 35.78),
    f"{C3}002": (C3, 112.93, 35.78),
    f"{C4}001": (C4, 112.92, 35.80),
    f"{C4}002": (C4, 112.93, 35.80),
}
G1 = f"{C1}001"
SCHOOL = "990101001001S01"
ZONE_WEST, ZONE_EAST = "990101Z01", "990101Z02"


@dataclass(frozen=True)
class SmallCounty:
    version_id: int
    county_code: str = COUNTY

    @staticmethod
    def grid_center(code: str) -> tuple[float, float]:
        _, west, south = GRIDS[code]
        return west + 0.005, south + 0.01


def area_rows() -> list[AreaRow]:
    rows = [
        AreaRow(COUNTY, "county", COUNTY, "测试县", box(112.90, 35.78, 112.94, 35.82)),
        AreaRow(COUNTY, "township", T1, "西镇", box(112.90, 35.78, 112.92, 35.82), COUNTY),
        AreaRow(COUNTY, "township", T2, "东镇", box(112.92, 35.78, 112.94, 35.82), COUNTY),
        AreaRow(COUNTY, "community", C1, "西南社区", box(112.90, 35.78, 112.92, 35.80), T1),
        AreaRow(COUNTY, "community", C2, "西北社区", box(112.90, 35.80, 112.92, 35.82), T1),
        AreaRow(COUNTY, "community", C3, "东南社区", box(112.92, 35.78, 112.94, 35.80), T2),
        AreaRow(COUNTY, "community", C4, "东北社区", box(112.92, 35.80, 112.94, 35.82), T2),
        AreaRow(
            COUNTY,
            "enforcement_zone",
            ZONE_WEST,
            "西片区",
            box(112.90, 35.78, 112.92, 35.82),
            COUNTY,
            attributes={"lead_department_code": "ZF"},
        ),
        AreaRow(
            COUNTY,
            "enforcement_zone",
            ZONE_EAST,
            "东片区",
            box(112.92, 35.78, 112.94, 35.82),
            COUNTY,
            attributes={"lead_department_code": "ZF"},
        ),
        AreaRow(
            COUNTY,
            "dedicated_grid",
            SCHOOL,
            "第一中学专属网格",
            box(112.901, 35.781, 112.903, 35.783),
            G1,
            kind="school",
        ),
    ]
    for n, (code, (community, west, south)) in enumerate(sorted(GRIDS.items()), start=1):
        rows.append(
            AreaRow(
                COUNTY,
                "grid",
                code,
                f"第{n}网格",
                box(west, south, west + 0.01, south + 0.02),
                community,
                households=40,
            )
        )
    return rows


RULES = [
    RuleRow("ROAD", "道路破损", "self", "routine", 72, name_en="Damaged road"),
    RuleRow("VEND", "占道经营", "cooperate", "routine", 48, department_code="ZF"),
    RuleRow("CONS", "违法建设", "department", "key", 24, department_code="ZJ"),
    RuleRow(
        "SMOKE",
        "烟感报警",
        "department",
        "emergency",
        2,
        department_code="XF",
        response_minutes=30,
    ),
    RuleRow("MULTI", "多部门协调事项", "cooperate", "coordination", 120, department_code="ZF"),
]


def load_small_county(session: Session, *, activate: bool = True) -> SmallCounty:
    """Boundaries (activated), departments, teams on duty, and the responsibility list."""
    version = boundaries.create_version(
        session, name="small county", created_by="factory", county_code=COUNTY
    )
    boundaries.stage_areas(session, version_id=version.id, rows=area_rows())
    if activate:
        activation.activate_version(session, version_id=version.id, activated_by="factory")

    for code, name in [("ZF", "综合行政执法局"), ("ZJ", "住建局"), ("XF", "消防救援大队")]:
        teams.upsert_department(session, county_code=COUNTY, code=code, name=name)
        teams.upsert_team(
            session,
            county_code=COUNTY,
            code=f"D-{code}",
            name=f"{name}值班组",
            level="department",
            department_code=code,
        )
    duties: list[teams.DutyRow] = []
    levels = [("county", [COUNTY]), ("township", [T1, T2]), ("community", [C1, C2, C3, C4])]
    for layer, codes in levels:
        for code in codes:
            teams.upsert_team(
                session, county_code=COUNTY, code=f"T-{code}", name=f"{code}值班", level=layer
            )
            duties.append(teams.DutyRow(layer, code, f"T-{code}"))
    for code in [*GRIDS, SCHOOL]:
        layer = "dedicated_grid" if code == SCHOOL else "grid"
        team_id = teams.upsert_team(
            session, county_code=COUNTY, code=f"T-{code}", name=f"{code}网格团队", level="grid"
        )
        teams.add_members(
            session,
            team_id=team_id,
            members=[("王书记", "grid_leader", "13800000001"), ("李网格", "grid_worker", None)],
        )
        duties.append(teams.DutyRow(layer, code, f"T-{code}"))
    for zone in (ZONE_WEST, ZONE_EAST):
        duties.append(teams.DutyRow("enforcement_zone", zone, "D-ZF", role="lead"))
    teams.set_duties(session, county_code=COUNTY, duties=duties)
    categories.replace_responsibility_list(session, county_code=COUNTY, rules=RULES)
    session.flush()
    return SmallCounty(version_id=version.id)
