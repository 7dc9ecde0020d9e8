"""Is a county ready to take events? The readiness report of `gridmap county check`.

Checked, each with what is wrong and where:

- the outline, townships, communities and grids are published, and each layer covers its
  parent (a gap is a piece of the parent outside its children at least 1 cm wide and
  0.01 m²; thinner pieces are rounding of the union, not gaps);
- every division of the list has its area, and every township/community area is listed;
- every community has grids; every grid holds 30–50 households or is a flagged exception
  with its reason (a high-rise, a separate part, too few buildings);
- every grid has a team on duty — its own, or its community's, township's or county's,
  the same chain routing walks;
- the responsibility list has categories, each with a county-wide rule, and each rule
  handled by a department has that department's team;
- a sample of points (one inside each of up to `sample` grids, spread over the county) is
  routed as an event would be: each must reach its grid, a team and a decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from gridmap import teams
from gridmap.boundaries import list_divisions
from gridmap.boundaries import versions as boundaries
from gridmap.events import categories
from gridmap.routing import Router
from gridmap.settings import Settings

COVERAGE_TOLERANCE = 1e-6  # share of the parent's area left uncovered that is rounding
# A piece of a difference thinner than 1 cm or smaller than 0.01 m² is floating-point
# rounding of the union and difference, not a gap (the stored edges are shared exactly).
SLIVER_AREA_M2 = 0.01
SLIVER_WIDTH_M = 0.01
_PARENT_LAYER = {"township": "county", "community": "township", "grid": "community"}


@dataclass
class Check:
    name: str
    ok: bool
    summary: str
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.name,
            "ok": self.ok,
            "summary": self.summary,
            "problems": self.problems,
        }


@dataclass
class Readiness:
    county_code: str
    checks: list[Check]
    samples: list[dict[str, Any]]

    @property
    def ready(self) -> bool:
        return all(c.ok for c in self.checks)

    def to_text(self) -> str:
        lines = [
            f"county {self.county_code}: " + ("READY to take events" if self.ready else "NOT READY")
        ]
        for c in self.checks:
            lines.append(f"  [{'ok' if c.ok else 'NO'}] {c.name}: {c.summary}")
            lines += [f"       - {p}" for p in c.problems[:15]]
            if len(c.problems) > 15:
                lines.append(f"       … and {len(c.problems) - 15} more")
        if self.samples:
            lines.append("  sample of points routed:")
            for s in self.samples[:10]:
                lines.append(
                    f"    ({s['lon']:.6f}, {s['lat']:.6f}) → grid {s['grid']}, team "
                    f"{s['team']}, {s['category']}: {s['decision']}"
                )
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "county": self.county_code,
            "ready": self.ready,
            "checks": [c.to_json() for c in self.checks],
            "samples": self.samples,
        }


def check_county(
    session: Session,
    *,
    county_code: str,
    households_range: tuple[int, int] = (30, 50),
    settings: Settings | None = None,
    sample: int = 20,
) -> Readiness:
    active = boundaries.active_version(session, county_code=county_code)
    if active is None:
        return Readiness(
            county_code, [Check("boundaries", False, "no boundary version is published")], []
        )
    params = {"c": county_code, "version": active.id}
    counts: dict[str, int] = dict(
        session.execute(
            text(
                f"SELECT layer, count(*) FROM area WHERE county_code = :c AND "
                f"{boundaries.VALID_IN} GROUP BY layer"
            ),
            params,
        ).all()
    )
    checks = [
        Check(
            "layers",
            all(counts.get(layer, 0) for layer in ("county", "township", "community", "grid")),
            ", ".join(
                f"{counts.get(layer, 0)} {layer}"
                for layer in ("county", "township", "community", "grid")
            ),
            [
                f"no {layer} published"
                for layer in ("county", "township", "community", "grid")
                if not counts.get(layer)
            ],
        ),
        _coverage(session, params),
        _divisions(session, county_code, params),
        _households(session, params, households_range),
        _duties(session, params),
        _rules(session, county_code),
    ]
    samples: list[dict[str, Any]] = []
    if all(c.ok for c in checks):
        check, samples = _sample(session, county_code, params, settings or Settings(), sample)
        checks.append(check)
    return Readiness(county_code, checks, samples)


def _coverage(session: Session, params: dict[str, Any]) -> Check:
    problems = []
    for layer, parent in _PARENT_LAYER.items():
        rows = session.execute(
            text(
                f"""
                WITH p AS (SELECT code, geom FROM area WHERE county_code = :c
                           AND layer = :parent AND {boundaries.VALID_IN}),
                     k AS (SELECT parent_code, ST_Union(geom) AS geom FROM area
                           WHERE county_code = :c AND layer = :layer AND {boundaries.VALID_IN}
                           GROUP BY parent_code),
                     gap AS (
                        SELECT p.code, ST_Area(p.geom::geography) AS total,
                               (ST_Dump(ST_Difference(p.geom, coalesce(k.geom,
                                   'SRID=4326;POLYGON EMPTY'::geometry)))).geom AS part
                        FROM p LEFT JOIN k ON k.parent_code = p.code),
                     sized AS (
                        SELECT code, total, ST_Area(part::geography) AS a,
                               ST_Perimeter(part::geography) AS l FROM gap)
                SELECT code, max(total) AS total, sum(a) AS uncovered FROM sized
                WHERE a >= :min_area AND 2 * a / nullif(l, 0) >= :min_width
                GROUP BY code ORDER BY code
                """
            ),
            {
                **params,
                "layer": layer,
                "parent": parent,
                "min_area": SLIVER_AREA_M2,
                "min_width": SLIVER_WIDTH_M,
            },
        ).all()
        for r in rows:
            if r.uncovered > COVERAGE_TOLERANCE * r.total:
                problems.append(
                    f"{parent} {r.code}: {r.uncovered:,.2f} m² of {r.total:,.0f} m² has no {layer}"
                )
    return Check(
        "coverage",
        not problems,
        "every layer covers its parent" if not problems else f"{len(problems)} gap(s)",
        problems,
    )


def _divisions(session: Session, county_code: str, params: dict[str, Any]) -> Check:
    listed = {(d.level, d.code): d.name for d in list_divisions(session, county_code=county_code)}
    if not listed:
        return Check("divisions", False, "no division list: run `gridmap county divisions`")
    drawn = {
        (r.layer, r.code)
        for r in session.execute(
            text(
                f"SELECT layer, code FROM area WHERE county_code = :c AND {boundaries.VALID_IN} "
                "AND layer IN ('township', 'community')"
            ),
            params,
        ).all()
    }
    missing = sorted(set(listed) - drawn)
    extra = sorted(drawn - set(listed))
    problems = [f"{lvl} {code} {listed[(lvl, code)]} has no area" for lvl, code in missing]
    problems += [f"{lvl} {code} is not in the division list" for lvl, code in extra]
    return Check(
        "divisions",
        not problems,
        f"{len(listed)} divisions listed, {len(set(listed) & drawn)} with their area",
        problems,
    )


def _households(
    session: Session, params: dict[str, Any], households_range: tuple[int, int]
) -> Check:
    low, high = households_range
    rows = session.execute(
        text(
            f"""
            SELECT code, households,
                   coalesce(attributes->>'exception', attributes->>'flag') AS flag
            FROM area WHERE county_code = :c AND layer = 'grid' AND {boundaries.VALID_IN}
            """
        ),
        params,
    ).all()
    in_range = sum(1 for r in rows if r.households is not None and low <= r.households <= high)
    flagged = [r for r in rows if r.flag]
    wrong = [
        r for r in rows if not r.flag and (r.households is None or not low <= r.households <= high)
    ]
    empty = (
        session.execute(
            text(
                f"""
            SELECT c.code FROM area c WHERE c.county_code = :c AND c.layer = 'community'
              AND {boundaries.valid_in(alias="c")}
              AND NOT EXISTS (SELECT 1 FROM area g WHERE g.county_code = :c
                  AND g.layer = 'grid' AND g.parent_code = c.code
                  AND {boundaries.valid_in(alias="g")})
            """
            ),
            params,
        )
        .scalars()
        .all()
    )
    problems = [
        f"grid {r.code} has {r.households} households, outside {low}–{high}, and no flag"
        for r in wrong
    ]
    problems += [f"community {code} has no grid: run `gridmap county grids`" for code in empty]
    summary = (
        f"{in_range} of {len(rows)} grids hold {low}–{high} households; "
        f"{len(flagged)} flagged exception(s) with a reason"
    )
    return Check("households", not problems, summary, problems)


def _duties(session: Session, params: dict[str, Any]) -> Check:
    valid = boundaries.VALID_IN
    rows = session.execute(
        text(
            f"""
            WITH g AS (SELECT code, parent_code FROM area WHERE county_code = :c
                       AND layer = 'grid' AND {valid}),
                 cm AS (SELECT code, parent_code FROM area WHERE county_code = :c
                        AND layer = 'community' AND {valid}),
                 d AS (SELECT d.layer, d.area_code FROM duty d JOIN team t ON t.id = d.team_id
                       WHERE d.county_code = :c AND t.active
                         AND d.role IN ('responsible', 'lead'))
            SELECT g.code,
                   EXISTS (SELECT 1 FROM d WHERE d.layer = 'grid' AND d.area_code = g.code) AS own,
                   EXISTS (SELECT 1 FROM d WHERE
                        (d.layer = 'grid' AND d.area_code = g.code)
                     OR (d.layer = 'community' AND d.area_code = g.parent_code)
                     OR (d.layer = 'township' AND d.area_code = cm.parent_code)
                     OR (d.layer = 'county' AND d.area_code = :c)) AS any
            FROM g LEFT JOIN cm ON cm.code = g.parent_code
            """
        ),
        params,
    ).all()
    own = sum(1 for r in rows if r.own)
    none = [r.code for r in rows if not r.any]
    return Check(
        "duties",
        bool(rows) and not none,
        f"{len(rows) - len(none)} of {len(rows)} grids have a team on duty "
        f"({own} their own grid team, the rest their community's, township's or county's)",
        [f"grid {code} has no team on duty, nor has any area above it" for code in none],
    )


def _rules(session: Session, county_code: str) -> Check:
    listed = categories.list_categories(session, county_code=county_code)
    without = (
        session.execute(
            text(
                "SELECT c.code FROM category c WHERE c.county_code = :c AND NOT EXISTS ("
                "SELECT 1 FROM responsibility_rule r WHERE r.county_code = c.county_code "
                "AND r.category_code = c.code AND r.area_code IS NULL) ORDER BY c.code"
            ),
            {"c": county_code},
        )
        .scalars()
        .all()
    )
    problems = [f"category {code} has no county-wide rule" for code in without]
    for rule in listed:
        department = rule["department_code"]
        if department and (
            teams.department_team(session, county_code=county_code, department_code=department)
            is None
        ):
            problems.append(
                f"category {rule['code']}: department {department} has no team to send it to"
            )
    if not listed:
        problems.append("no responsibility list: run `gridmap county rules FILE`")
    return Check(
        "responsibility list",
        not problems,
        f"{len(listed)} categories with a rule",
        problems,
    )


def _sample(
    session: Session,
    county_code: str,
    params: dict[str, Any],
    settings: Settings,
    sample: int,
) -> tuple[Check, list[dict[str, Any]]]:
    points = session.execute(
        text(
            f"""
            SELECT code, ST_X(p) AS lon, ST_Y(p) AS lat FROM (
                SELECT code, ST_PointOnSurface(geom) AS p,
                       ntile(:n) OVER (ORDER BY code) AS part
                FROM area WHERE county_code = :c AND layer = 'grid' AND {boundaries.VALID_IN}
            ) s WHERE part IS NOT NULL
            ORDER BY part, code
            """
        ),
        {**params, "n": sample},
    ).all()
    chosen: dict[int, Any] = {}
    step = max(1, len(points) // sample)
    for i in range(0, len(points), step):
        chosen[i] = points[i]
    category = categories.list_categories(session, county_code=county_code)[0]["code"]
    # Routed on this transaction's own connection: what was just stored counts.
    router = Router(sessionmaker(bind=session.connection()), settings)
    samples, problems = [], []
    for p in list(chosen.values())[:sample]:
        result = router.route(p.lon, p.lat, crs="wgs84", category=category)
        grid = result.grid.code if result.grid else None
        team = result.team.code if result.team else None
        decision = result.decision.mode if result.decision else None
        samples.append(
            {
                "lon": p.lon,
                "lat": p.lat,
                "grid": grid,
                "team": team,
                "category": category,
                "decision": decision,
            }
        )
        if grid != p.code or team is None or decision is None:
            problems.append(
                f"a point in grid {p.code} routed to grid {grid}, team {team}, decision {decision}"
            )
    return (
        Check(
            "routing",
            not problems,
            f"{len(samples) - len(problems)} of {len(samples)} sample points reached their grid, "
            "a team and a decision",
            problems,
        ),
        samples,
    )
