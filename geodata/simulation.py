"""Realistic synthetic events for a loaded county: where people live, what they report.

Used by `gridmap simulate` (and `gridmap serve --simulate`) so the command view is alive
from the first minute, and by the demo's 30-day history. Each event is the JSON body an
integrating system would POST to /api/events.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from gridmap.boundaries import versions as boundaries
from gridmap.crs import from_wgs84

# Channels and the coordinate system each really reports in (phones and web maps in
# China send GCJ-02 or BD-09; sensors are surveyed in WGS84).
CHANNELS = (
    ("12345", 0.40, "gcj02"),
    ("grid_worker", 0.35, "gcj02"),
    ("digital_city", 0.10, "bd09"),
    ("iot", 0.15, "wgs84"),
)
_SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
_WORDS = {
    "emergency": "紧急，请立即处置",
    "key": "情况较急，请尽快处理",
    "routine": "请安排处理",
    "coordination": "涉及多个部门，请协调",
}


@dataclass
class CountyPicture:
    """What the generator draws from: homes weighted by households, grid edges, categories."""

    county_code: str
    homes: np.ndarray  # (n, 2) lon/lat of buildings with households
    weights: np.ndarray  # households, normalised
    edges: np.ndarray  # (m, 2) points on grid boundaries
    categories: list[tuple[str, str, str]]  # (code, name, default priority)


def load_picture(session: Session, *, county_code: str) -> CountyPicture:
    homes = session.execute(
        text(
            "SELECT ST_X(point), ST_Y(point), households FROM building "
            "WHERE county_code = :c AND households > 0"
        ),
        {"c": county_code},
    ).all()
    active = boundaries.active_version(session)
    grids = (
        boundaries.areas_in_version(
            session, version_id=active.id, layers=["grid"], county_code=county_code
        )
        if active
        else []
    )
    cats = session.execute(
        text(
            "SELECT c.code, c.name, r.default_priority FROM category c "
            "JOIN responsibility_rule r ON r.county_code = c.county_code "
            "AND r.category_code = c.code AND r.area_code IS NULL "
            "WHERE c.county_code = :c ORDER BY c.code"
        ),
        {"c": county_code},
    ).all()
    if not homes or not cats:
        raise LookupError(f"county {county_code} has no buildings or no categories loaded")
    # Plain tuples: numpy reading SQLAlchemy rows column by column costs seconds here.
    xyh = np.array([tuple(r) for r in homes], dtype=float)
    edges = (
        shapely.get_coordinates(shapely.boundary(np.array([g.geom for g in grids])))
        if grids
        else xyh[:, :2]
    )
    return CountyPicture(
        county_code=county_code,
        homes=xyh[:, :2],
        weights=xyh[:, 2] / xyh[:, 2].sum(),
        edges=edges,
        categories=[(c[0], c[1], c[2]) for c in cats],
    )


@dataclass
class EventGenerator:
    """Deterministic for a seed; keeps a few recent events to repeat as duplicates."""

    picture: CountyPicture
    seed: int = 0
    edge_share: float = 0.05
    duplicate_share: float = 0.05
    _rng: np.random.Generator = field(init=False)
    _recent: list[dict[str, Any]] = field(init=False, default_factory=list)
    _count: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)

    def _category(self) -> tuple[str, str, str]:
        cats = self.picture.categories
        # Emergencies are rare: weight them down so most events are routine city life.
        weights = np.array([0.25 if p == "emergency" else 1.0 for _, _, p in cats])
        return cats[int(self._rng.choice(len(cats), p=weights / weights.sum()))]

    def _point(self) -> tuple[float, float]:
        rng = self._rng
        if rng.random() < self.edge_share:
            x, y = self.picture.edges[int(rng.integers(len(self.picture.edges)))]
            return float(x), float(y)
        i = int(rng.choice(len(self.picture.homes), p=self.picture.weights))
        x, y = self.picture.homes[i]
        # A report is made in front of the building, a few metres off, not on its centre.
        return float(x + rng.normal(0, 0.00008)), float(y + rng.normal(0, 0.00006))

    def next(self, when: dt.datetime) -> dict[str, Any]:
        """One event body for POST /api/events, reported at `when`."""
        rng = self._rng
        self._count += 1
        r = rng.random()
        acc = 0.0
        source, crs = CHANNELS[0][0], CHANNELS[0][2]
        for name, share, channel_crs in CHANNELS:
            acc += share
            if r < acc:
                source, crs = name, channel_crs
                break
        if self._recent and rng.random() < self.duplicate_share:
            original = self._recent[int(rng.integers(len(self._recent)))]
            code, name, priority = original["category"], original["_name"], original["_priority"]
            lon, lat = original["_wgs84"]
            lon += float(rng.normal(0, 0.00005))
            lat += float(rng.normal(0, 0.00005))
        else:
            code, name, priority = self._category()
            lon, lat = self._point()
        if source == "iot":
            crs = "wgs84"
        x, y = from_wgs84(np.array([lon]), np.array([lat]), crs)
        surname = _SURNAMES[int(rng.integers(len(_SURNAMES)))]
        body: dict[str, Any] = {
            "source": source,
            "external_id": f"SIM-{when:%Y%m%d%H%M%S}-{self.seed}-{self._count:06d}",
            "category": code,
            "description": f"{name}：{_WORDS.get(priority, '请处理')}（模拟）",
            "location": {"lon": round(float(x[0]), 7), "lat": round(float(y[0]), 7), "crs": crs},
            "reporter": {
                "name": f"{surname}先生" if rng.random() < 0.5 else f"{surname}女士",
                "phone": f"13{int(rng.integers(0, 10))}{int(rng.integers(10_000_000, 99_999_999))}",
            },
            "reported_at": when.isoformat(),
        }
        self._recent.append({**body, "_name": name, "_priority": priority, "_wgs84": (lon, lat)})
        del self._recent[:-20]
        return body
