"""Benchmark: geocoding the addresses callers say, against the Gaoping demo's register.

Builds a labelled set of addresses from the register itself (`address_entry` of a database
holding the Gaoping demo, `gridmap demo gaoping`), each written the way callers write them,
with its true point:

- full: 山西省晋城市高平市 + the township + the register's address (+ unit and room in town);
- no prefix: the address without province, city, county or township;
- building: 社区 + building number + unit + room (city buildings);
- intersection: two named roads that cross (truth: where their lines cross);
- landmark: a POI's name + 门口 / 附近 / 对面 (truth: the POI);
- offset: an address + a direction and 30–80 m (truth: moved as said);
- typo: one character of the road or village name replaced by a look-alike;
- traditional: the full address in traditional characters;
- numerals: the house number in Chinese numerals (十二号).

Then geocodes every one with `gridmap.routing.geocode` (the register loaded once, in memory), and
in the same run with the obvious alternative, an exact look-up of the written text in the
register (after removing the prefixes a caller adds). Prints, per form and in total, the
share auto-placed (confidence ≥ AUTO_PLACE_CONFIDENCE), the share of those within 50 m of
the truth, the share of those in the truth's grid, and geocodes per second.

Run: `.venv/bin/python bench/geocode.py --db URL [--n 2400]`.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

import shapely
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gridmap.db import make_engine, session_factory
from gridmap.routing import geocode
from gridmap.routing.geocode import AUTO_PLACE_CONFIDENCE, Entry, Gazetteer

PREFIX = "山西省晋城市高平市"
LOOK_ALIKES = {
    "设": "没",
    "城": "成",
    "平": "评",
    "庄": "桩",
    "村": "材",
    "路": "璐",
    "河": "何",
    "东": "冬",
    "西": "栖",
    "南": "楠",
    "北": "背",
    "山": "删",
    "家": "佳",
    "王": "旺",
    "新": "心",
    "沟": "构",
    "张": "章",
    "李": "里",
    "马": "码",
    "石": "实",
    "水": "税",
}
TRADITIONAL = str.maketrans(
    "区县镇乡庄号楼门东阳华学长兴广场园环桥湾岭银卫医馆乐协会铁体运干线开发单层内与两侧边约"
    "设厂车产务书点沟营庙观间头马铺窑圆风贵宝户",
    "區縣鎮鄉莊號樓門東陽華學長興廣場園環橋灣嶺銀衛醫館樂協會鐵體運幹線開發單層內與兩側邊約"
    "設廠車產務書點溝營廟觀間頭馬鋪窯圓風貴寶戶",
)
CN = "零一二三四五六七八九"
DIRS = {"东": (1, 0), "西": (-1, 0), "南": (0, -1), "北": (0, 1)}


def cn_number(n: int) -> str:
    if n < 10:
        return CN[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return (CN[tens] if tens > 1 else "") + "十" + (CN[ones] if ones else "")
    hundreds, rest = divmod(n, 100)
    tail = "" if rest == 0 else ("零" + CN[rest] if rest < 10 else cn_number(rest))
    if 10 <= rest < 20:
        tail = "一" + tail
    return CN[hundreds] + "百" + tail


def typo(word: str, rng: random.Random) -> str:
    spots = [i for i, ch in enumerate(word) if ch in LOOK_ALIKES and i < len(word) - 1]
    if not spots:
        return word
    i = rng.choice(spots)
    return word[:i] + LOOK_ALIKES[word[i]] + word[i + 1 :]


def moved(x: float, y: float, direction: str, metres: float) -> tuple[float, float]:
    dx, dy = DIRS[direction]
    return (
        x + dx * metres / (111_320.0 * math.cos(math.radians(y))),
        y + dy * metres / 110_574.0,
    )


def body(e: Entry) -> str:
    """The register's address without its township."""
    if e.road and e.number:
        return f"{e.road}{e.number}号"
    if e.village_group:
        return f"{e.community}{e.village_group}组{e.number}号"
    return e.full_text.removeprefix(e.township or "")


def labelled(gaz: Gazetteer, n: int, seed: int) -> list[tuple[str, str, float, float]]:
    """(form, text, true lon, true lat), about n of them."""
    rng = random.Random(seed)
    houses = [e for e in gaz.entries if e.kind == "building" and e.geom.geom_type == "Point"]
    street = [e for e in houses if e.road and e.number]
    town = [e for e in houses if e.building_no and e.community]
    village = [e for e in houses if e.village_group]
    pois = [e for e in gaz.entries if e.kind == "poi" and e.name]
    out: list[tuple[str, str, float, float]] = []
    per = max(1, n // 9)

    def pick(pool: list[Entry]) -> Entry:
        return pool[rng.randrange(len(pool))]

    for _ in range(per):
        e = pick(street if rng.random() < 0.5 else village)
        extra = (
            f"{rng.randint(1, 4)}单元{rng.randint(1, 6)}0{rng.randint(1, 4)}室" if e.road else ""
        )
        out.append(("full", f"{PREFIX}{e.township}{body(e)}{extra}", e.geom.x, e.geom.y))
        e = pick(street if rng.random() < 0.5 else village)
        out.append(("no prefix", body(e), e.geom.x, e.geom.y))
        e = pick(town)
        out.append(
            (
                "building",
                f"{e.community}{e.building_no}号楼{rng.randint(1, 4)}单元{rng.randint(1, 6)}01室",
                e.geom.x,
                e.geom.y,
            )
        )
        p = pick(pois)
        tail = rng.choice(("门口", "附近", "对面", ""))
        out.append(("landmark", f"{p.name}{tail}", p.geom.x, p.geom.y))
        e = pick(street if rng.random() < 0.5 else village)
        direction = rng.choice(list(DIRS))
        metres = rng.choice((30, 50, 80))
        x, y = moved(e.geom.x, e.geom.y, direction, metres)
        out.append(("offset", f"{body(e)}{direction}{metres}米", x, y))
        e = pick(street if rng.random() < 0.5 else village)
        name = e.road if e.road else e.community
        assert name is not None
        written = body(e).replace(name, typo(name, rng), 1)
        out.append(("typo", written, e.geom.x, e.geom.y))
        e = pick(street if rng.random() < 0.5 else village)
        out.append(
            (
                "traditional",
                f"高平市{e.township}{body(e)}".translate(TRADITIONAL),
                e.geom.x,
                e.geom.y,
            )
        )
        e = pick(street if rng.random() < 0.5 else village)
        assert e.number is not None
        numeral = body(e).replace(f"{e.number}号", f"{cn_number(int(e.number))}号")
        out.append(("numerals", numeral, e.geom.x, e.geom.y))
    # Intersections: pairs of named roads whose lines cross.
    names = list(gaz.roads)
    pairs = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            crossing = shapely.intersection(gaz.roads[a], gaz.roads[b])
            if not crossing.is_empty and crossing.geom_type == "Point":
                pairs.append((a, b, crossing))
    rng.shuffle(pairs)
    for a, b, point in pairs[:per]:
        word = rng.choice(("与", "和"))
        tail = rng.choice(("交叉口", "路口", "十字路口"))
        out.append(("intersection", f"{a}{word}{b}{tail}", point.x, point.y))
    return out


def metres(x1: float, y1: float, x2: float, y2: float) -> float:
    kx = 111_320.0 * math.cos(math.radians((y1 + y2) / 2))
    return math.hypot((x2 - x1) * kx, (y2 - y1) * 110_574.0)


def machine() -> str:
    model = "unknown CPU"
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} CPUs (nproc), {model}, {platform.system()} {platform.release()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=os.environ.get("GRIDMAP_DATABASE_URL"))
    parser.add_argument("--county", default="140581")
    parser.add_argument("--n", type=int, default=2400)
    parser.add_argument("--seed", type=int, default=19)
    args = parser.parse_args()
    engine = make_engine(args.db)
    load_before = os.getloadavg()
    with session_factory(engine)() as session:
        started = time.perf_counter()
        gaz = geocode.load_gazetteer(session, county_code=args.county)
        load_s = time.perf_counter() - started
        rows = session.execute(
            text(
                "SELECT code, ST_AsBinary(geom) FROM area WHERE layer = 'grid' "
                "AND county_code = :c AND valid_to IS NULL"
            ),
            {"c": args.county},
        ).all()
    engine.dispose()
    grid_codes = [r[0] for r in rows]
    grids = shapely.from_wkb([bytes(r[1]) for r in rows])
    tree = shapely.STRtree(grids)

    def grid_of(x: float, y: float) -> str | None:
        hit = tree.query(shapely.Point(x, y), predicate="within")
        return grid_codes[int(hit[0])] if len(hit) else None

    cases = labelled(gaz, args.n, args.seed)
    # gridmap.routing.geocode
    started = time.perf_counter()
    answers = [geocode.geocode_with(gaz, t) for _, t, _, _ in cases]
    geocode_s = time.perf_counter() - started
    # The obvious alternative: the written text, prefixes removed, looked up exactly.
    exact = {e.full_text: e for e in gaz.entries}
    exact.update({body(e): e for e in gaz.entries if e.kind == "building"})
    exact.update({e.name: e for e in gaz.entries if e.kind == "poi" and e.name})
    started = time.perf_counter()
    lookups = []
    for _, t, _, _ in cases:
        key = t.removeprefix(PREFIX).removeprefix("高平市")
        lookups.append(
            exact.get(key) or exact.get(key.split("号")[0] + "号" if "号" in key else key)
        )
    exact_s = time.perf_counter() - started
    load_after = os.getloadavg()

    stats: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (form, _, tx, ty), found, hit in zip(cases, answers, lookups, strict=True):
        for key in (form, "all"):
            s = stats[key]
            s["n"] += 1
            truth_grid = grid_of(tx, ty)
            best = found.best
            if best is not None and best.confidence >= AUTO_PLACE_CONFIDENCE:
                s["placed"] += 1
                s["near"] += metres(best.lon, best.lat, tx, ty) <= 50
                s["grid"] += grid_of(best.lon, best.lat) == truth_grid
            if hit is not None:
                p = hit.geom if hit.geom.geom_type == "Point" else hit.geom.representative_point()
                s["exact"] += 1
                s["exact_grid"] += grid_of(p.x, p.y) == truth_grid

    print(f"machine: {machine()}")
    before, after = (" ".join(f"{v:.1f}" for v in load) for load in (load_before, load_after))
    print(f"load average (1, 5, 15 min) before: {before}; after: {after}")
    print(
        f"register of {args.county}: {len(gaz.entries):,} entries ({len(gaz.roads)} roads, "
        f"{len(gaz.pois)} POIs) loaded in {load_s:.1f} s; {len(grid_codes):,} grids; "
        f"threshold {AUTO_PLACE_CONFIDENCE}"
    )
    print()
    print(
        "| form | addresses | auto-placed | of those within 50 m | of those in the right grid "
        "| exact look-up: found | exact look-up: right grid |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    forms = [*sorted(k for k in stats if k != "all"), "all"]
    for form in forms:
        s = stats[form]
        placed = max(s["placed"], 1)
        print(
            f"| {form} | {s['n']} | {s['placed'] / s['n']:.1%} | {s['near'] / placed:.1%} | "
            f"{s['grid'] / placed:.1%} | {s['exact'] / s['n']:.1%} | "
            f"{s['exact_grid'] / max(s['exact'], 1):.1%} |"
        )
    print()
    print(
        f"gridmap.geocode: {len(cases) / geocode_s:,.0f} geocodes/s (one thread, register in "
        f"memory); exact look-up: {len(cases) / exact_s:,.0f}/s"
    )


if __name__ == "__main__":
    main()
