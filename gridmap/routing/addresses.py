"""Chinese addresses as callers write them, read into their parts (pure: no database).

`normalise(text)` turns traditional characters that addresses use into simplified ones,
full-width characters into ASCII and Chinese numerals before a unit (号, 栋, 米…) into
digits; `parse(text)` splits the result into administrative prefixes (province, city,
county, township) and one main form: road + number (建设路12号), community + building /
unit / room (东城社区3号楼2单元501), village + group + number (北王村三组12号), an
intersection (长平路与建设路交叉口), a landmark (城关小学门口), optionally followed by an
offset (…东50米). `gridmap.routing.geocode` finds the parts in a county's register.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# --- normalisation ---------------------------------------------------------------------------

# Traditional characters that occur in addresses, and their simplified forms.
_TRADITIONAL = str.maketrans(
    "區縣鎮鄉莊號樓門東陽華學長興廣場園環橋灣嶺峯峰銀衛醫院館樂協會鐵體運幹線開發號單層內"
    "與兩側邊約裡後對們義龍鳳雲閣張劉陳楊趙黃劉郵電商業貿辦處農綜區屬國際濟齊豐蘭歡壩壇臺"
    "設廠車產務書點綫溝營廟觀這裏間頭馬鋪舖窯圓風貴寶戶審圖館診療藥區場",
    "区县镇乡庄号楼门东阳华学长兴广场园环桥湾岭峰峰银卫医院馆乐协会铁体运干线开发号单层内"
    "与两侧边约里后对们义龙凤云阁张刘陈杨赵黄刘邮电商业贸办处农综区属国际济齐丰兰欢坝坛台"
    "设厂车产务书点线沟营庙观这里间头马铺铺窑圆风贵宝户审图馆诊疗药区场",
)
_FULLWIDTH = str.maketrans("０１２３４５６７８９（）－＃，。　", "0123456789()-#,. ")
_CN_DIGIT = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN_NUMBER = re.compile(r"[零〇一二两三四五六七八九十百]+(?=[号栋幢楼单元室层米])")


def cn_to_int(word: str) -> int | None:
    """十二 → 12, 二十三 → 23, 一百零五 → 105, 三 → 3 (None if not a numeral)."""
    if not word or any(ch not in _CN_DIGIT and ch not in "十百" for ch in word):
        return None
    total, current = 0, 0
    for ch in word:
        if ch == "百":
            total += (current or 1) * 100
            current = 0
        elif ch == "十":
            total += (current or 1) * 10
            current = 0
        else:
            current = _CN_DIGIT[ch]
    return total + current


def normalise(raw: str) -> str:
    """Simplified characters, ASCII digits, Chinese numerals before 号/栋/单元/室/米 as
    digits, no spaces or punctuation that addresses do not need."""
    s = raw.translate(_TRADITIONAL).translate(_FULLWIDTH).strip()
    s = re.sub(r"[\s,，。.、:：;；\"'“”‘’]", "", s)
    s = s.replace("号院", "号").replace("#", "号")
    s = _CN_NUMBER.sub(lambda m: str(cn_to_int(m.group(0)) or m.group(0)), s)
    return s


# --- parsing ---------------------------------------------------------------------------------

# A character of an administrative name: never one that marks a road, a number or a
# village ("建设路与市府街" holds no city, "城西社区" no district).
_ADMIN_CH = r"(?:(?![路街巷与和号村组社楼栋道])[一-龥])"
_PROVINCE = re.compile(rf"^({_ADMIN_CH}{{2,7}}?(?:省|自治区))")
_CITY = re.compile(rf"^({_ADMIN_CH}{{2,5}}?(?:市|自治州|地区|盟))(?=[一-龥])")
_COUNTY = re.compile(rf"^({_ADMIN_CH}{{1,5}}?(?:县|(?<![社小园景校])区|市|旗))(?=[一-龥])")
# A township's name may hold 村 (马村镇), not the other marks.
_TOWNSHIP = re.compile(
    r"^((?:(?![路街巷与和号组社楼栋道])[一-龥]){1,6}?(?:街道|镇|乡))(?=[一-龥0-9])"
)
DIRECTIONS = {
    "东": (1.0, 0.0),
    "西": (-1.0, 0.0),
    "南": (0.0, -1.0),
    "北": (0.0, 1.0),
    "东北": (0.7071, 0.7071),
    "东南": (0.7071, -0.7071),
    "西北": (-0.7071, 0.7071),
    "西南": (-0.7071, -0.7071),
}
_OFFSET = re.compile(
    r"^(?P<base>.+?)(?:往|向)?(?P<dir>东北|东南|西北|西南|东|南|西|北)(?:侧|边|面|方向|方)?"
    r"(?:约|大约)?(?P<num>\d+(?:\.\d+)?)(?P<unit>米|m|公里|千米|km)(?:处|左右|远)?$"
)
_ROAD = r"[一-龥A-Za-z0-9—-]{1,14}?(?:大道|大街|路|街|巷|道|线|公路)"
_INTERSECTION = re.compile(
    rf"^(?P<a>{_ROAD})(?:与|和|跟|同|/|x|X|×|、)(?P<b>{_ROAD})"
    r"(?:交叉口|交叉路口|十字路口|丁字路口|交口|交汇处|路口|口)?(?:附近|处)?$"
)
_ROAD_NUMBER = re.compile(rf"^(?P<road>{_ROAD})(?P<num>\d+)(?:号|号楼)?(?P<rest>.*)$")
_GROUP = re.compile(
    r"^(?P<place>[一-龥]{1,8}?(?:村|庄|屯|寨|堡|沟|坪|营))(?P<group>[0-9一二三四五六七八九十]{1,3})组"
    r"(?:(?P<num>\d+)号?)?(?P<rest>.*)$"
)
_BUILDING = re.compile(
    r"^(?P<place>[一-龥A-Za-z0-9]{1,12}?(?:社区|小区|花园|家园|公寓|苑|院|村|新村|城|庄|里))"
    r"(?P<num>\d+)(?:号楼|栋|幢|号|楼)(?P<rest>.*)$"
)
_UNIT_ROOM = re.compile(
    r"^(?:(?P<unit>\d+)单元)?(?:(?P<floor>\d+)层)?(?:(?P<room>\d+)(?:室|号|户)?)?"
)
_LANDMARK_TAIL = re.compile(
    r"(?:正门口|大门口|门口|门前|东门|西门|南门|北门|附近|旁边|对面|旁|内|里面|里|后面|前面|后|前|处)$"
)
_PLACE_ONLY = re.compile(r"^(?P<place>[一-龥]{1,10}?(?:社区|村|小区|新村|庄|屯|寨))(?P<rest>.*)$")


@dataclass(frozen=True, slots=True)
class Parsed:
    """What `parse` understood. `form` names the main part: road_number | building |
    village_group | intersection | landmark | road | place | unknown."""

    text: str  # normalised
    form: str
    province: str | None = None
    city: str | None = None
    county: str | None = None
    township: str | None = None
    road: str | None = None
    road_b: str | None = None  # the second road of an intersection
    number: int | None = None
    place: str | None = None  # community, village or compound
    group: str | None = None  # 组, as written (一, 3 …)
    building: int | None = None
    unit: int | None = None
    room: int | None = None
    landmark: str | None = None
    offset: tuple[str, float] | None = None  # direction, metres
    rest: str = ""


def parse(raw: str) -> Parsed:
    """Split an address into its parts (pure; never raises on odd text: form 'unknown')."""
    s = normalise(raw)
    prefixes: dict[str, str | None] = {"province": None, "city": None, "county": None}
    body = s
    for key, pattern in (("province", _PROVINCE), ("city", _CITY), ("county", _COUNTY)):
        m = pattern.match(body)
        if m:
            prefixes[key] = m.group(1)
            body = body[m.end() :]
    # "晋城市高平市…": a second city-level name is the county.
    if prefixes["county"] is None and prefixes["city"]:
        m = _CITY.match(body)
        if m:
            prefixes["county"] = m.group(1)
            body = body[m.end() :]
    township = None
    m = _TOWNSHIP.match(body)
    if m:
        township = m.group(1)
        body = body[m.end() :]
    offset = None
    m = _OFFSET.match(body)
    if m:
        metres = float(m.group("num")) * (
            1000.0 if m.group("unit") in ("公里", "千米", "km") else 1
        )
        offset = (m.group("dir"), metres)
        body = m.group("base")
    common: dict[str, Any] = {"text": s, "township": township, "offset": offset, **prefixes}
    return _main_part(body, common)


def _main_part(body: str, common: dict[str, Any]) -> Parsed:
    m = _INTERSECTION.match(body)
    if m:
        return Parsed(form="intersection", road=m.group("a"), road_b=m.group("b"), **common)
    m = _GROUP.match(body)
    if m:
        group = m.group("group")
        return Parsed(
            form="village_group",
            place=m.group("place"),
            group=str(cn_to_int(group)) if cn_to_int(group) is not None else group,
            number=int(m.group("num")) if m.group("num") else None,
            rest=m.group("rest"),
            **common,
        )
    m = _ROAD_NUMBER.match(body)
    if m:
        unit = _UNIT_ROOM.match(m.group("rest") or "")
        return Parsed(
            form="road_number",
            road=m.group("road"),
            number=int(m.group("num")),
            unit=_int(unit.group("unit")) if unit else None,
            room=_int(unit.group("room")) if unit else None,
            rest=m.group("rest"),
            **common,
        )
    m = _BUILDING.match(body)
    if m:
        unit = _UNIT_ROOM.match(m.group("rest") or "")
        return Parsed(
            form="building",
            place=m.group("place"),
            building=int(m.group("num")),
            unit=_int(unit.group("unit")) if unit else None,
            room=_int(unit.group("room")) if unit else None,
            rest=m.group("rest"),
            **common,
        )
    landmark = _LANDMARK_TAIL.sub("", body)
    if re.fullmatch(_ROAD, landmark or ""):
        return Parsed(form="road", road=landmark, **common)
    m = _PLACE_ONLY.match(landmark)
    if m and not m.group("rest"):
        return Parsed(form="place", place=m.group("place"), **common)
    if landmark:
        return Parsed(form="landmark", landmark=landmark, **common)
    return Parsed(form="unknown", **common)


def _int(value: str | None) -> int | None:
    return int(value) if value else None
