"""The message catalogue (gridmap.messages): every error code and reason raised, and every
timeline code written, has a Chinese and an English text."""

from __future__ import annotations

import re
from pathlib import Path

from gridmap import errors, messages

ROOT = Path(__file__).resolve().parents[1]


def _subclasses(cls: type) -> list[type]:
    found = [cls]
    for sub in cls.__subclasses__():
        found += _subclasses(sub)
    return found


def _source() -> str:
    return "\n".join(
        p.read_text(encoding="utf-8")
        for folder in ("gridmap", "api", "geodata", "web_map", "gridmap_cli")
        for p in (ROOT / folder).rglob("*.py")
    )


def error_codes() -> set[str]:
    codes = {c.code for c in _subclasses(errors.GridmapError)}
    text = _source()
    # The reasons raise sites name, and the codes api/errors.py answers with itself.
    codes |= set(re.findall(r'reason="(\w+)"', text))
    codes |= {"internal_error", "method_not_allowed", "http_error"}
    return codes


def note_codes() -> set[str]:
    text = _source()
    found = set(re.findall(r'"note_code": "(\w+)"', text))
    found |= set(re.findall(r"note_code=\"(\w+)\"", text))
    found |= set(re.findall(r"'note_code', '(\w+)'", text))
    # A JSON object built in SQLAlchemy (func.jsonb_build_object("note_code", "…", …)).
    found |= set(re.findall(r'"note_code",\s*"(\w+)"', text))
    return found


def _chinese(s: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in s)


def test_every_error_code_and_reason_has_a_chinese_and_an_english_text() -> None:
    codes = error_codes()
    assert {"co_handler_not_lead", "role_may_not", "illegal_transition"} <= codes
    missing = sorted(c for c in codes if c not in messages.ERRORS)
    assert missing == []
    for code in codes:
        zh = messages.error_text(code, {}, "zh-CN")
        en = messages.error_text(code, {}, "en")
        assert zh and _chinese(zh), code
        assert en and not _chinese(en), code


def test_every_timeline_code_has_a_chinese_and_an_english_text() -> None:
    codes = note_codes()
    assert {"overdue", "overdue_escalation", "possible_duplicate", "merged_in", "rerouted"} <= codes
    assert sorted(c for c in codes if c not in messages.NOTES) == []
    for code in messages.NOTES:
        zh = messages.note_text(code, {}, "zh-CN")
        en = messages.note_text(code, {}, "en")
        assert zh and _chinese(zh) and en and not _chinese(en), code


def test_params_are_said_in_the_language_too() -> None:
    text = messages.error_text("co_handler_not_lead", {"action": "start", "lead": "T-G1"}, "zh-CN")
    assert text is not None and "开始处置" in text and "T-G1" in text and "start" not in text
    text = messages.error_text(
        "illegal_transition", {"current_state": "closed", "action": "start"}, "en"
    )
    assert text == "Cannot start while the event is “closed”"
    assert messages.note_text("overdue", {"deadline": "response"}, "zh-CN") == "超过响应时限"
    needs = {"action": "escalate", "missing": ["reason", "note"]}
    assert messages.error_text("action_needs", needs, "zh") == "请填写原因、备注"
    assert messages.error_text("action_needs", needs, "en") == "Please enter a reason, a note"


def test_the_language_comes_from_a_tag_or_a_header() -> None:
    assert messages.language(None) == "zh-CN"
    assert messages.language("en-US,en;q=0.9") == "en"
    assert messages.language("zh-CN,zh;q=0.9,en;q=0.8") == "zh-CN"
    assert messages.language("fr") == "zh-CN"


def test_actors_and_sources_are_named_for_people() -> None:
    names = {"demo-operator": "演示坐席"}
    assert messages.actor_name("user:demo-operator", "zh-CN", display_names=names) == "演示坐席"
    assert messages.actor_name("source:12345", "zh-CN") == "12345 热线"
    assert messages.actor_name("source:grid_worker", "zh-CN") == "网格员上报"
    assert messages.actor_name("system", "en") == "system"
