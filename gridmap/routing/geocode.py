"""Geocoding Chinese addresses against a county's address register (门牌地址库).

Two halves, kept apart so the first is tested without a database:

- `gridmap.routing.addresses.parse(text)` (pure): the address's parts (its own module).
- `Gazetteer.match(parsed)`: finds the parts in the register, fuzzily where a caller
  misspelt them (rapidfuzz), and answers candidates, best first, each with a point, the
  matched entry, a confidence in [0, 1] and a reason in words. Intersections come from
  the roads' geometry; offsets move the base point by the named direction and distance.

`geocode(session, text, county_code=…)` loads the county's register once per basemap
revision (`load_gazetteer`) and answers `Geocoded`. An answer whose best candidate
reaches `AUTO_PLACE_CONFIDENCE` may be placed without a person (gridmap.events.ingest does so);
below it, the candidates go to triage. Library choice (rapidfuzz only) and the measured
figures: docs/geocoding.md.
"""

from __future__ import annotations

import math
import re
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import shapely
from rapidfuzz import fuzz, process
from sqlalchemy import text
from sqlalchemy.orm import Session

from gridmap.routing.addresses import DIRECTIONS, Parsed, cn_to_int, parse

# At or above this confidence an address-only event is placed and routed by itself
# (docs/geocoding.md explains the scale; bench/geocode.py measures what it yields).
AUTO_PLACE_CONFIDENCE = 0.8
MAX_CANDIDATES = 5
# A fuzzy name match below this rapidfuzz ratio (0–100) is no match.
# Chinese names are short: one wrong character of three is a ratio of 67, kept as a
# candidate (its confidence scales by the ratio, so it goes to triage, not to a team).
FUZZY_CUTOFF = 66.0
_ROAD_SUFFIX = re.compile(r"(?:大道|大街|公路|路|街|巷|道|线)$")

# --- matching --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Candidate:
    lon: float
    lat: float
    confidence: float
    reason: str
    kind: str  # what matched: building | poi | road | place | intersection
    matched: str  # the register entry's written form
    entry_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "point": [round(self.lon, 7), round(self.lat, 7)],
            "confidence": round(self.confidence, 3),
            "reason": self.reason,
            "kind": self.kind,
            "matched": self.matched,
            "entry_id": self.entry_id,
        }


@dataclass(frozen=True, slots=True)
class Geocoded:
    text: str
    parsed: Parsed
    candidates: list[Candidate] = field(default_factory=list)

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None

    @property
    def placeable(self) -> bool:
        """Whether the best candidate may be placed without a person."""
        best = self.best
        return best is not None and best.confidence >= AUTO_PLACE_CONFIDENCE


@dataclass(frozen=True, slots=True)
class Entry:
    """One register entry as the gazetteer holds it."""

    id: int | None
    kind: str
    full_text: str
    name: str | None
    township: str | None
    community: str | None
    road: str | None
    number: str | None
    building_no: str | None
    village_group: str | None
    geom: Any  # shapely, WGS84


class Gazetteer:
    """A county's register, indexed for matching (built once, read by many threads)."""

    def __init__(self, entries: list[Entry]) -> None:
        self.entries = entries
        self.roads: dict[str, Any] = {}
        self.road_entry: dict[str, Entry] = {}
        self.by_number: dict[tuple[str, int], Entry] = {}
        self.numbers_on: dict[str, list[tuple[int, Entry]]] = defaultdict(list)
        # Villages of one name lie in several townships (杨家庄村): keep every one.
        self.by_building: dict[tuple[str, int], list[Entry]] = defaultdict(list)
        self.by_group: dict[tuple[str, str, int], list[Entry]] = defaultdict(list)
        self.group_members: dict[tuple[str, str], list[Entry]] = defaultdict(list)
        self.place_members: dict[str, list[Entry]] = defaultdict(list)
        self.pois: dict[str, Entry] = {}
        self.poi_all: dict[str, list[Entry]] = defaultdict(list)  # one name, several places
        self.townships: set[str] = set()
        for e in entries:
            if e.township:
                self.townships.add(e.township)
            if e.kind == "road" and e.road:
                self.roads[e.road] = e.geom
                self.road_entry[e.road] = e
                continue
            if e.kind == "poi" and e.name:
                self.pois.setdefault(e.name, e)
                self.poi_all[e.name].append(e)
            if e.road and e.number and e.number.isdigit():
                self.by_number.setdefault((e.road, int(e.number)), e)
                self.numbers_on[e.road].append((int(e.number), e))
            if e.community:
                self.place_members[e.community].append(e)
                if e.building_no and e.building_no.isdigit():
                    self.by_building[(e.community, int(e.building_no))].append(e)
                if e.village_group:
                    group = str(cn_to_int(e.village_group) or e.village_group)
                    self.group_members[(e.community, group)].append(e)
                    if e.number and e.number.isdigit():
                        self.by_group[(e.community, group, int(e.number))].append(e)
        for road in self.numbers_on:
            self.numbers_on[road].sort(key=lambda item: item[0])
        # Each place's centre, per township that has a place of that name.
        self.place_seat: dict[str, dict[str, tuple[float, float]]] = defaultdict(dict)
        for place, members in self.place_members.items():
            by_township: dict[str, list[Entry]] = defaultdict(list)
            for m in members:
                if m.geom.geom_type == "Point":
                    by_township[m.township or ""].append(m)
            for township, group_ in by_township.items():
                xs = [m.geom.x for m in group_]
                ys = [m.geom.y for m in group_]
                self.place_seat[place][township] = (sum(xs) / len(xs), sum(ys) / len(ys))
        self._road_names = list(self.roads)
        # Roads known only by the numbered buildings along them (a buildings file's
        # addresses, with no road line imported): found for "road + number" only.
        self._numbered_only = [r for r in self.numbers_on if r not in self.roads]
        self._place_names = list(self.place_members)
        self._poi_names = list(self.pois)

    # -- fuzzy name look-ups

    def _find(
        self, name: str | None, names: list[str], extra: tuple[str, ...] = ()
    ) -> tuple[str, float] | None:
        """The register's name for `name` and a score in [0, 1] (1: exact)."""
        if not name or not names:
            return None
        if name in names:
            return name, 1.0
        for suffix in extra:  # 北王 for 北王村: the suffix is often left out
            if name + suffix in names:
                return name + suffix, 0.97
        found = process.extractOne(name, names, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF)
        if found is None:
            return None
        return str(found[0]), float(found[1]) / 100.0

    def find_road(self, name: str | None) -> tuple[str, float] | None:
        found = self._find(name, self._road_names)
        if name and (found is None or found[1] < 0.9):
            # 建设街 for 建设路: the same name with another road word.
            stem = _ROAD_SUFFIX.sub("", name)
            same = [r for r in self._road_names if _ROAD_SUFFIX.sub("", r) == stem]
            if len(same) == 1:
                return same[0], 0.9
        return found

    def find_place(self, name: str | None) -> tuple[str, float] | None:
        return self._find(name, self._place_names, ("村", "社区"))

    def find_poi(self, name: str | None) -> tuple[str, float] | None:
        if not name or not self._poi_names:
            return None
        if name in self.pois:
            return name, 1.0
        # A landmark often drops the village: "城关小学" for "城关村小学".
        found = process.extractOne(
            name, self._poi_names, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF
        )
        return None if found is None else (str(found[0]), float(found[1]) / 100.0)

    # -- matching

    def match(self, parsed: Parsed) -> list[Candidate]:
        form = parsed.form
        if form == "road_number":
            found = self._road_number(parsed)
        elif form == "village_group":
            found = self._village_group(parsed)
        elif form == "building":
            found = self._building(parsed)
        elif form == "intersection":
            found = self._intersection(parsed)
        elif form == "road":
            found = self._road_only(parsed)
        elif form == "place":
            found = self._place_only(parsed)
        elif form == "landmark":
            found = self._landmark(parsed.landmark)
        else:
            found = []
        if parsed.township and self.townships:
            found = [self._check_township(c, parsed.township) for c in found]
        if parsed.offset:
            found = [_moved(c, *parsed.offset) for c in found]
        found.sort(key=lambda c: -c.confidence)
        return found[:MAX_CANDIDATES]

    def _check_township(self, c: Candidate, township: str) -> Candidate:
        entry = next((e for e in self.entries if e.id == c.entry_id), None) if c.entry_id else None
        if entry is None or not entry.township or township in entry.township:
            return c
        if fuzz.ratio(township, entry.township) >= FUZZY_CUTOFF:
            return c
        return _with(
            c, c.confidence - 0.3, f"{c.reason}; but it lies in {entry.township}, not {township}"
        )

    def _road_number(self, p: Parsed) -> list[Candidate]:
        found = [r for r in (self.find_road(p.road), self._find(p.road, self._numbered_only)) if r]
        road = max(found, key=lambda r: r[1]) if found else None
        if road is None:
            # Maybe not a road at all but a place with a number ("东城社区3号").
            place = self.find_place(p.road)
            if place and p.number is not None:
                return self._building(
                    Parsed(text=p.text, form="building", place=place[0], building=p.number)
                )
            return self._landmark(p.road)
        name, score = road
        assert p.number is not None
        exact = self.by_number.get((name, p.number))
        if exact is not None:
            return [
                _candidate(
                    exact,
                    0.97 * score,
                    f"{name}{p.number}号 in the register" + _fuzzy_note(p.road, name, score),
                )
            ]
        numbers = self.numbers_on.get(name, [])
        if numbers:
            # The nearest registered numbers on the same side (parity) of the road.
            same_side = [item for item in numbers if item[0] % 2 == p.number % 2] or numbers
            nearest = min(same_side, key=lambda item: abs(item[0] - p.number))  # type: ignore[operator]
            gap = abs(nearest[0] - p.number)
            confidence = (0.85 if gap <= 4 else 0.7 if gap <= 20 else 0.5) * score
            return [
                _candidate(
                    nearest[1],
                    confidence,
                    f"{name}{p.number}号 not registered; nearest is {nearest[0]}号 "
                    f"({gap} numbers away)",
                )
            ]
        line = self.roads[name]
        point = line.interpolate(0.5, normalized=True)
        return [
            Candidate(
                point.x,
                point.y,
                0.45 * score,
                f"road {name} found, no numbers registered on it: its middle",
                "road",
                name,
                self.road_entry[name].id,
            )
        ]

    def _village_group(self, p: Parsed) -> list[Candidate]:
        place = self.find_place(p.place)
        if place is None:
            return self._landmark(p.place)
        name, score = place
        group = p.group or ""
        if p.number is not None:
            exact = _narrow(self.by_group.get((name, group, p.number), []), p.township)
            if exact:
                return _one_or_ambiguous(
                    exact,
                    0.96 * score,
                    f"{name}{p.group}组{p.number}号 in the register"
                    + _fuzzy_note(p.place, name, score),
                )
        members = _narrow(self.group_members.get((name, group), []), p.township)
        townships = {m.township for m in members}
        if members and len(townships) == 1:
            x = sum(m.geom.x for m in members) / len(members)
            y = sum(m.geom.y for m in members) / len(members)
            return [
                Candidate(
                    x,
                    y,
                    0.82 * score,
                    f"{name}{group}组 found ({len(members)} houses); house number not "
                    "registered: the group's centre",
                    "place",
                    f"{name}{group}组",
                    members[0].id,
                )
            ]
        return self._place_only(Parsed(text=p.text, form="place", place=name, township=p.township))

    def _building(self, p: Parsed) -> list[Candidate]:
        place = self.find_place(p.place)
        if place is None:
            return self._landmark(p.place)
        name, score = place
        assert p.building is not None
        exact = _narrow(self.by_building.get((name, p.building), []), p.township)
        if exact:
            return _one_or_ambiguous(
                exact,
                0.96 * score,
                f"{name}{p.building}号楼 in the register" + _fuzzy_note(p.place, name, score),
            )
        return self._place_only(Parsed(text=p.text, form="place", place=name, township=p.township))

    def _place_only(self, p: Parsed) -> list[Candidate]:
        place = self.find_place(p.place)
        if place is None:
            return self._landmark(p.place)
        name, score = place
        return self._place_centres(name, score, p.township)

    def _place_centres(self, name: str, score: float, township: str | None) -> list[Candidate]:
        seats = self.place_seat.get(name) or {}
        if township and len(seats) > 1:
            same = {t: xy for t, xy in seats.items() if t and township in t}
            seats = same or seats
        where = f" ({len(seats)} places of that name)" if len(seats) > 1 else ""
        return [
            Candidate(
                x,
                y,
                0.6 * score,
                f"only the place {name} is named: its centre{where}",
                "place",
                f"{t}{name}",
                None,
            )
            for t, (x, y) in seats.items()
        ]

    def _road_only(self, p: Parsed) -> list[Candidate]:
        road = self.find_road(p.road)
        if road is None:
            return self._landmark(p.road)
        name, score = road
        point = self.roads[name].interpolate(0.5, normalized=True)
        return [
            Candidate(
                point.x,
                point.y,
                0.45 * score,
                f"only the road {name} is named: its middle",
                "road",
                name,
                self.road_entry[name].id,
            )
        ]

    def _intersection(self, p: Parsed) -> list[Candidate]:
        a, b = self.find_road(p.road), self.find_road(p.road_b)
        if a is None or b is None:
            missing = p.road if a is None else p.road_b
            return [] if missing is None else self._landmark(missing)
        (name_a, score_a), (name_b, score_b) = a, b
        line_a, line_b = self.roads[name_a], self.roads[name_b]
        crossing = shapely.intersection(line_a, line_b)
        score = min(score_a, score_b)
        if not crossing.is_empty:
            point = (
                shapely.get_geometry(crossing, 0)
                if crossing.geom_type.startswith("Multi")
                or crossing.geom_type == "GeometryCollection"
                else crossing
            )
            point = point.representative_point()
            return [
                Candidate(
                    point.x,
                    point.y,
                    0.93 * score,
                    f"{name_a} crosses {name_b} here (road geometry)",
                    "intersection",
                    f"{name_a}与{name_b}交叉口",
                )
            ]
        pa, pb = _nearest(line_a, line_b)
        gap_m = _metres(pa.x, pa.y, pb.x, pb.y)
        if gap_m > 200:
            return []
        x, y = (pa.x + pb.x) / 2, (pa.y + pb.y) / 2
        confidence = (0.85 if gap_m <= 30 else 0.6) * score
        return [
            Candidate(
                x,
                y,
                confidence,
                f"{name_a} and {name_b} do not cross; they come {gap_m:.0f} m apart here",
                "intersection",
                f"{name_a}与{name_b}",
            )
        ]

    def _landmark(self, name: str | None) -> list[Candidate]:
        if not name:
            return []
        poi = self.find_poi(name)
        if poi is None:
            place = self._find(name, self._place_names, ("村", "社区"))
            if place is not None:
                return self._place_centres(place[0], place[1], None)
            return []
        found, score = poi
        return _one_or_ambiguous(
            self.poi_all[found], 0.92 * score, f"landmark {found}" + _fuzzy_note(name, found, score)
        )


def _nearest(a: Any, b: Any) -> tuple[Any, Any]:
    from shapely.ops import nearest_points

    pa, pb = nearest_points(a, b)
    return pa, pb


def _narrow(entries: list[Entry], township: str | None) -> list[Entry]:
    """The entries in the named township, when one is named and some are in it."""
    if township and len(entries) > 1:
        same = [e for e in entries if e.township and township in e.township]
        return same or entries
    return entries


def _one_or_ambiguous(entries: list[Entry], confidence: float, reason: str) -> list[Candidate]:
    """The one entry; or, when places of one name in several townships all match, each of
    them below the auto-place line (the caller must say which township)."""
    if len(entries) == 1:
        return [_candidate(entries[0], confidence, reason)]
    note = f"; {len(entries)} places of that name: the township decides"
    return [_candidate(e, min(confidence, 0.6), reason + note) for e in entries]


def _candidate(e: Entry, confidence: float, reason: str) -> Candidate:
    point = e.geom if e.geom.geom_type == "Point" else e.geom.representative_point()
    return Candidate(
        point.x, point.y, max(0.0, min(1.0, confidence)), reason, e.kind, e.full_text, e.id
    )


def _with(c: Candidate, confidence: float, reason: str) -> Candidate:
    return Candidate(c.lon, c.lat, max(0.0, confidence), reason, c.kind, c.matched, c.entry_id)


def _fuzzy_note(written: str | None, found: str, score: float) -> str:
    return "" if score >= 1.0 else f" (written {written!r}, read as {found!r})"


def _moved(c: Candidate, direction: str, metres: float) -> Candidate:
    dx, dy = DIRECTIONS[direction]
    lat = c.lat + dy * metres / 110_574.0
    lon = c.lon + dx * metres / (111_320.0 * math.cos(math.radians(c.lat)))
    # An offset told by a caller is an estimate: the farther, the less sure.
    penalty = 0.03 if metres <= 100 else 0.08 if metres <= 500 else 0.2
    return Candidate(
        lon,
        lat,
        max(0.0, c.confidence - penalty),
        f"{c.reason}; then {metres:.0f} m {direction}",
        c.kind,
        c.matched,
        c.entry_id,
    )


def _metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    kx = 111_320.0 * math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot((lon2 - lon1) * kx, (lat2 - lat1) * 110_574.0)


def geocode_with(gazetteer: Gazetteer, raw: str) -> Geocoded:
    """Geocode against a gazetteer already built (pure)."""
    parsed = parse(raw)
    return Geocoded(raw, parsed, gazetteer.match(parsed))


# --- the database half -----------------------------------------------------------------------

_CACHE: dict[tuple[str, str, tuple[int, int]], Gazetteer] = {}
_CACHE_LOCK = threading.Lock()


def load_gazetteer(session: Session, *, county_code: str) -> Gazetteer:
    """The county's register as a gazetteer, built once per state of the register: its
    newest entry's id changes whenever an import (a basemap's, or a buildings file's
    addresses) replaces entries, and the county's basemap revision when one removes them."""
    database = session.get_bind().engine.url.render_as_string(hide_password=True)
    revision = session.execute(
        text(
            "SELECT coalesce((SELECT max(id) FROM basemap_import WHERE county_code = :c), 0), "
            "coalesce((SELECT max(id) FROM address_entry WHERE county_code = :c), 0)"
        ),
        {"c": county_code},
    ).one()
    key = (database, county_code, (int(revision[0]), int(revision[1])))
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
    if hit is not None:
        return hit
    rows = session.execute(
        text(
            "SELECT id, kind, full_text, name, township, community, road, number, "
            "building_no, village_group, ST_AsBinary(geom) FROM address_entry "
            "WHERE county_code = :c ORDER BY id"
        ),
        {"c": county_code},
    ).all()
    geoms: list[Any] = list(shapely.from_wkb([bytes(r[10]) for r in rows])) if rows else []
    entries = [
        Entry(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], g)
        for r, g in zip(rows, geoms, strict=True)
    ]
    gazetteer = Gazetteer(entries)
    with _CACHE_LOCK:
        for old in [k for k in _CACHE if k[:2] == key[:2]]:
            del _CACHE[old]
        _CACHE[key] = gazetteer
    return gazetteer


def geocode(session: Session, raw: str, *, county_code: str) -> Geocoded:
    """Candidates for an address in a county, best first (empty when nothing matched)."""
    return geocode_with(load_gazetteer(session, county_code=county_code), raw)


# --- address-only events ---------------------------------------------------------------------


def geocode_record(found: Geocoded, *, placed: bool) -> dict[str, Any]:
    """What an event keeps of its geocoding (in `event.routing["geocode"]`): the text, whether
    it was placed by it, and the candidates an operator may pick from."""
    best = found.best
    return {
        "text": found.text,
        "placed": placed,
        "confidence": round(best.confidence, 3) if best else None,
        "matched": best.matched if best else None,
        "threshold": AUTO_PLACE_CONFIDENCE,
        "candidates": [c.to_dict() for c in found.candidates],
    }


def placed_note(found: Geocoded) -> str:
    """The timeline's words for an event placed by its address."""
    best = found.best
    assert best is not None
    return (
        f"placed by address, confidence {best.confidence:.2f}, matched {best.matched} "
        f"({best.reason})"
    )


def by_address(
    session: Session, *, lon: float | None, address: str | None, county_code: str | None
) -> tuple[tuple[float, float] | None, Geocoded | None]:
    """For an event with an address and no location: the point to place it at (None when
    the best candidate is below `AUTO_PLACE_CONFIDENCE`) and the geocoding; (None, None)
    when there is nothing to geocode or no county to look in."""
    if lon is not None or not address or county_code is None:
        return None, None
    found = geocode(session, address, county_code=county_code)
    if found.placeable and found.best is not None:
        return (found.best.lon, found.best.lat), found
    return None, found
