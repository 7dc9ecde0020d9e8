"""Geocoding Chinese addresses: every written form the hotline meets, against a small
register built in memory (the parser and matcher are pure), then against PostGIS."""

from __future__ import annotations

import math

import pytest
import shapely
from sqlalchemy.orm import Session

from gridmap.boundaries import basemap
from gridmap.routing import geocode
from gridmap.routing.addresses import cn_to_int, parse
from gridmap.routing.geocode import AUTO_PLACE_CONFIDENCE, Entry, Gazetteer, geocode_with

# 建设路 runs east–west at lat 35.800, 长平路 north–south at lon 112.915: they cross.
JIANSHE = shapely.LineString([(112.905, 35.800), (112.935, 35.800)])
CHANGPING = shapely.LineString([(112.915, 35.790), (112.915, 35.810)])
ENTRIES = [
    Entry(1, "road", "建设路", "建设路", None, None, "建设路", None, None, None, JIANSHE),
    Entry(2, "road", "长平路", "长平路", None, None, "长平路", None, None, None, CHANGPING),
    Entry(
        3,
        "building",
        "北城街道建设路12号",
        None,
        "北城街道",
        "城西社区",
        "建设路",
        "12",
        "5",
        None,
        shapely.Point(112.9201, 35.8002),
    ),
    Entry(
        4,
        "building",
        "北城街道建设路14号",
        None,
        "北城街道",
        "城西社区",
        "建设路",
        "14",
        "6",
        None,
        shapely.Point(112.9203, 35.8002),
    ),
    Entry(
        5,
        "poi",
        "城关村小学",
        "城关村小学",
        "北城街道",
        "城关村",
        None,
        None,
        None,
        None,
        shapely.Point(112.9300, 35.8050),
    ),
    Entry(
        6,
        "building",
        "米山镇北王村三组12号",
        None,
        "米山镇",
        "北王村",
        None,
        "12",
        None,
        "三",
        shapely.Point(112.9500, 35.7500),
    ),
    Entry(
        7,
        "building",
        "米山镇北王村三组13号",
        None,
        "米山镇",
        "北王村",
        None,
        "13",
        None,
        "三",
        shapely.Point(112.9502, 35.7502),
    ),
]
GAZ = Gazetteer(ENTRIES)


def _metres(c: geocode.Candidate, lon: float, lat: float) -> float:
    kx = 111_320.0 * math.cos(math.radians(lat))
    return math.hypot((c.lon - lon) * kx, (c.lat - lat) * 110_574.0)


@pytest.mark.parametrize(
    ("text", "entry_id"),
    [
        ("建设路12号", 3),
        ("山西省晋城市高平市北城街道建设路12号", 3),  # every prefix
        ("高平市建设路12号3单元501室", 3),  # unit and room
        ("建設路12號", 3),  # traditional characters
        ("建设路十二号", 3),  # Chinese numerals
        ("城西社区5号楼", 3),  # community + building number
        ("米山镇北王村三组12号", 6),  # village + group + number
        ("北王村3组13号", 7),  # group in digits
        ("城关小学门口", 5),  # a landmark, its village left out
    ],
)
def test_forms_that_name_one_entry_are_placed_on_it(text: str, entry_id: int) -> None:
    found = geocode_with(GAZ, text)
    assert found.best is not None, found.parsed
    assert found.best.entry_id == entry_id, found.candidates
    assert found.placeable, found.best
    assert found.best.reason


def test_an_intersection_is_where_the_road_geometries_cross() -> None:
    for text in ("长平路与建设路交叉口", "建设路和长平路路口", "長平路與建設路交叉口"):
        best = geocode_with(GAZ, text).best
        assert best is not None and best.kind == "intersection"
        assert _metres(best, 112.915, 35.800) < 1.0
        assert best.confidence >= AUTO_PLACE_CONFIDENCE


def test_an_offset_moves_the_point_by_direction_and_distance() -> None:
    best = geocode_with(GAZ, "建设路12号东50米").best
    assert best is not None
    assert _metres(best, 112.9201, 35.8002) == pytest.approx(50.0, abs=0.5)
    assert best.lon > 112.9201 and "50 m 东" in best.reason
    north = geocode_with(GAZ, "长平路与建设路交叉口北100米").best
    assert north is not None and north.lat > 35.800


def test_a_typo_is_read_fuzzily_and_said_so() -> None:
    found = geocode_with(GAZ, "建设街12号")  # 街 for 路
    assert found.best is not None and found.best.entry_id == 3
    assert "read as" in found.best.reason


def test_unclear_addresses_give_candidates_below_the_auto_place_line() -> None:
    only_road = geocode_with(GAZ, "长平路")
    assert only_road.best is not None and not only_road.placeable
    village = geocode_with(GAZ, "北王村")
    assert village.best is not None and not village.placeable
    unknown_number = geocode_with(GAZ, "建设路80号")  # nearest registered is 14: far
    assert unknown_number.best is not None and not unknown_number.placeable
    assert geocode_with(GAZ, "火星基地").candidates == []


def test_a_township_that_contradicts_the_match_lowers_confidence() -> None:
    found = geocode_with(GAZ, "米山镇建设路12号")
    assert found.best is not None and not found.placeable
    assert "not 米山镇" in found.best.reason


def test_the_parser_names_each_part() -> None:
    p = parse("山西省晋城市高平市北城街道建设路12号2单元301室")
    assert (p.province, p.city, p.county, p.township) == ("山西省", "晋城市", "高平市", "北城街道")
    assert (p.form, p.road, p.number, p.unit, p.room) == ("road_number", "建设路", 12, 2, 301)
    assert parse("建设路与市府街交叉口").form == "intersection"  # 市 inside is no city
    assert parse("东城社区3号楼").county is None  # 社区 is no district
    assert parse("北王村三组").group == "3"
    assert cn_to_int("二十三") == 23 and cn_to_int("一百零五") == 105


def test_geocode_reads_the_register_from_postgis(session: Session) -> None:
    basemap.store_basemap(
        session,
        county_code="990101",
        features=[{"layer": "road", "kind": "primary", "name": "建设路", "geometry": JIANSHE}],
        addresses=[
            {"kind": "road", "full_text": "建设路", "road": "建设路", "geometry": JIANSHE},
            {
                "kind": "building",
                "full_text": "建设路12号",
                "road": "建设路",
                "number": "12",
                "geometry": shapely.Point(112.9201, 35.8002),
            },
        ],
        source="test",
    )
    session.commit()
    found = geocode.geocode(session, "高平市建设路12号", county_code="990101")
    assert found.placeable and found.best is not None
    assert found.best.matched == "建设路12号"
    assert geocode.geocode(session, "建设路12号", county_code="000000").candidates == []


def test_a_village_name_in_two_townships_needs_the_township() -> None:
    twins = [
        Entry(
            1,
            "building",
            "寺庄镇杨家庄村三组7号",
            None,
            "寺庄镇",
            "杨家庄村",
            None,
            "7",
            None,
            "三",
            shapely.Point(112.80, 35.70),
        ),
        Entry(
            2,
            "building",
            "河西镇杨家庄村三组7号",
            None,
            "河西镇",
            "杨家庄村",
            None,
            "7",
            None,
            "三",
            shapely.Point(112.99, 35.90),
        ),
    ]
    gaz = Gazetteer(twins)
    alone = geocode_with(gaz, "杨家庄村三组7号")
    assert len(alone.candidates) == 2 and not alone.placeable
    assert "township decides" in alone.candidates[0].reason
    named = geocode_with(gaz, "高平市河西镇杨家庄村三组7号")
    assert named.placeable and named.best is not None and named.best.entry_id == 2
