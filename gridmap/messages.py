"""The message catalogue: every sentence a person reads about a refusal or a timeline
step, in Chinese (zh-CN, the default) and English, named by a stable code with params.

Errors carry a `reason` (`gridmap.errors.GridmapError.reason`, the class's code unless a
raise site names a more precise one) and `params`; timeline steps the system writes carry
`note_code` and `note_params` in their data instead of an English note (older steps keep
their free text, shown as written). The API renders the text in the caller's language
(`api.errors`); the pages get the same tables through their labels (`web_map.i18n`).
Pure data: no web imports.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

ZH = "zh-CN"
EN = "en"
LANGS = (ZH, EN)
DEFAULT_LANG = ZH

# --- errors: reason → (zh-CN, en) ---------------------------------------------------------

ERRORS: dict[str, tuple[str, str]] = {
    # The classes' own codes (gridmap.errors), said when nothing more precise is known.
    "error": ("操作未能完成", "The request could not be completed"),
    "configuration_error": (
        "系统配置有误，请联系管理员",
        "A setting is wrong; ask the administrator",
    ),
    "database_unavailable": (
        "服务暂时不可用，请稍后再试",
        "The service is unavailable; try again shortly",
    ),
    "embedded_database_error": ("内置数据库无法启动", "The embedded database could not start"),
    "invalid_input": ("输入有误，请检查", "Invalid input, please check"),
    "unknown_crs": ("不支持的坐标系", "Unknown coordinate system"),
    "invalid_coordinates": ("坐标无效", "Invalid coordinates"),
    "payload_too_large": ("提交的内容过大", "What was sent is too large"),
    "unsupported_media": ("不支持的文件格式", "Unsupported file type"),
    "unknown_photo_stage": (
        "照片阶段“{stage}”无效，应为上报（report）或处置后（after）",
        "“{stage}” is not a photo stage: report or after",
    ),
    "data_file_error": ("文件无法读取", "The file cannot be read"),
    "validation_failed": ("边界数据未通过检查", "The boundaries failed the checks"),
    "not_found": ("未找到该记录", "Not found"),
    "outside_coverage": ("该位置不在网格覆盖范围内", "That place is outside grid coverage"),
    "unknown_category": ("未知的事件类别", "Unknown category"),
    "conflict": ("事件当前状态不允许此操作", "The current state does not allow this"),
    "illegal_transition": (
        "事件当前为“{current_state}”，不能{action}",
        "Cannot {action} while the event is “{current_state}”",
    ),
    "version_conflict": (
        "事件已被他人修改，请刷新后重试",
        "Someone else changed it first; reload and try again",
    ),
    "authentication_required": (
        "登录已失效，请重新登录",
        "Your session expired; please log in again",
    ),
    "permission_denied": ("无权执行此操作", "You may not do this"),
    "rate_limited": ("操作过于频繁，请稍后再试", "Too many requests; try again shortly"),
    # Said by api/errors.py itself.
    "internal_error": ("服务器内部错误，请稍后再试", "Internal server error; try again shortly"),
    "method_not_allowed": ("不支持的请求方式", "Method not allowed"),
    "http_error": ("请求未能完成", "The request could not be completed"),
    # Precise reasons (raise sites name them).
    "role_may_not": ("“{role}”角色无权{action}", "The role “{role}” may not {action}"),
    "action_needs": ("请填写{missing}", "Please enter {missing}"),
    "invalid_field": ("{field}填写有误", "Please check {field}"),
    "co_handlers_waiting": (
        "协办队伍尚未反馈：{waiting_for}，暂不能结案",
        "Co-handlers still to report back: {waiting_for}",
    ),
    "co_handler_not_lead": (
        "贵队为协办队伍，只能反馈本队承担的部分；{action}由主办队伍 {lead} 负责",
        "Your team co-handles this case: report back on your part; only the lead team {lead} "
        "may {action}",
    ),
    "co_handler_own_team_only": (
        "只能为本队（{own_team}）反馈，不能代 {team} 反馈",
        "You report for your own team {own_team}, not for {team}",
    ),
    "co_handler_reported_already": ("{team} 已反馈过", "{team} has reported back already"),
    "not_a_co_handler": (
        "{team} 不是该事件的主办或协办队伍",
        "{team} is neither lead nor co-handler",
    ),
    "unknown_team": ("没有编码为 {team} 的队伍", "No team with code {team}"),
    "team_inactive": ("队伍 {team} 已停用", "Team {team} is inactive"),
    "team_out_of_reach": (
        "队伍 {team} 不在您的辖区内：请派给本辖区队伍、县级部门，或上报上级",
        "Team {team} is on duty outside your areas: hand it to a team of yours, a county "
        "department, or escalate",
    ),
    "event_outside_jurisdiction": (
        "该事件不在您的辖区内",
        "That event lies outside your jurisdiction",
    ),
    "visit_outside_areas": (
        "该住户不在您的辖区内：走访请在本网格内登记",
        "That household lies outside your areas: a visit is recorded in your own grid",
    ),
    "place_outside_areas": (
        "该位置不在您的辖区内，请在辖区内定位，或联系县指挥中心",
        "That place lies outside your areas: place it inside them, or ask the county's "
        "command center",
    ),
    "escalation_at_top": ("事件已在县级，无法再上报上级", "The event is with the county already"),
    "no_duty_team": ("{level}没有值班队伍可以接收", "No duty team answers at the {level} level"),
    "satisfaction_out_of_range": ("请选择满意度", "Choose a satisfaction score"),
    "merge_target_invalid": ("请填写要合并到的另一事件编号", "Name another event to merge into"),
    "merge_target_merged": (
        "目标事件本身已被合并，请合并到事件 {target}",
        "Merge into event {target} instead",
    ),
    "not_placeable": (
        "只有待立案、已立案或退回的事件可以定位",
        "Only a reported, registered or returned event can be placed",
    ),
    "escalation_target_invalid": (
        "队伍 {team} 不在{level}接收范围内：请选择上一级的值班队伍或县级部门",
        "Team {team} does not answer at the {level} level: pick that level's duty team or, "
        "at the county, a department",
    ),
}

# --- timeline notes the system writes: note_code → (zh-CN, en) ---------------------------

NOTES: dict[str, tuple[str, str]] = {
    "overdue": ("超过{deadline}时限", "The {deadline} deadline passed"),
    "overdue_escalation": (
        "超过{deadline}时限，自动上报上级",
        "The {deadline} deadline passed: escalated automatically",
    ),
    "possible_duplicate": (
        "与事件 #{event_id} 同类别，相距 {metres} 米、{minutes} 分钟以内",
        "Same category within {metres} m and {minutes} min of event #{event_id}",
    ),
    "merged_in": ("事件 #{event_id} 作为重复件并入", "Event #{event_id} merged in as a duplicate"),
    "rerouted": (
        "边界调整（版本 {version}）后由网格 {from_grid} 改派至网格 {to_grid}",
        "Re-routed from grid {from_grid} to grid {to_grid} by version {version}",
    ),
    "on_behalf": ("代 {team} 录入", "Recorded on behalf of {team}"),
    "satisfaction": ("满意度：{score}", "Satisfaction: {score}"),
    "escalated_to": ("上报至{to_level}", "Escalated to the {to_level} level"),
    "geocode_placed": (
        "按地址定位：匹配“{matched}”，可信度 {confidence}%",
        "Placed by its address: matched {matched}, confidence {confidence}%",
    ),
    "geocode_candidates": (
        "地址未能自动定位：最佳可信度 {confidence}%，{count} 个候选待人工定位",
        "Address not placed: best confidence {confidence}%, {count} candidates wait in triage",
    ),
    "geocode_no_match": (
        "地址未能定位：地址库中没有匹配项，待人工定位",
        "Address not placed: nothing in the address register matches it",
    ),
}

# Words params are translated with, by param name.
DEADLINES = {"response": ("响应", "response"), "handling": ("处置", "handling")}
LEVELS = {
    "grid": ("网格", "grid"),
    "community": ("社区", "community"),
    "township": ("乡镇（街道）", "township"),
    "county": ("县级", "county"),
}
STATES = {
    "reported": ("待立案", "reported"),
    "registered": ("已立案", "registered"),
    "assigned": ("已派遣", "assigned"),
    "in_progress": ("处置中", "in progress"),
    "reported_back": ("已反馈", "reported back"),
    "closed": ("已结案", "closed"),
    "archived": ("已归档", "archived"),
    "returned": ("已退回", "returned"),
    "merged": ("已合并", "merged"),
}
ACTIONS = {
    "register": ("立案", "register"),
    "assign": ("派遣", "assign"),
    "start": ("开始处置", "start"),
    "report_back": ("反馈", "report back"),
    "close": ("结案", "close"),
    "archive": ("归档", "archive"),
    "return": ("退回", "return"),
    "reopen": ("重新办理", "reopen"),
    "escalate": ("上报上级", "escalate"),
    "joint_dispatch": ("联合派遣", "dispatch jointly"),
    "merge": ("合并重复", "merge"),
    "visit": ("回访", "record a return visit"),
    "co_report_back": ("协办反馈", "report back as co-handler"),
    "events.place": ("定位事件", "place events"),
}
ROLES = {
    "operator": ("指挥中心坐席", "operator"),
    "planner": ("规划", "planner"),
    "grid_worker": ("网格员", "grid worker"),
    "team_member": ("部门/执法队", "team member"),
    "supervisor": ("督办", "supervisor"),
    "admin": ("管理员", "administrator"),
    "integration": ("系统接入", "integration"),
    "reader": ("只读", "reader"),
}
FIELDS = {
    "team": ("队伍", "the team"),
    "co_teams": ("协办队伍", "the co-handling teams"),
    "note": ("备注", "a note"),
    "reason": ("原因", "a reason"),
    "target": ("合并目标事件编号", "the event to merge into"),
    "satisfaction": ("满意度", "the satisfaction score"),
    "priority": ("哨别", "the priority"),
}
# Return visits: the three choices an operator offers the caller, on the documented 1–5
# scale (docs/events.md): 满意 5, 基本满意 3, 不满意 1.
SATISFACTION = {
    5: ("满意", "satisfied"),
    4: ("比较满意", "rather satisfied"),
    3: ("基本满意", "fairly satisfied"),
    2: ("不太满意", "rather dissatisfied"),
    1: ("不满意", "dissatisfied"),
}
SATISFACTION_CHOICES = (5, 3, 1)
# Who reported: the source names the hotline and the devices send as.
SOURCES = {
    "12345": ("12345 热线", "12345 hotline"),
    "hotline": ("12345 热线", "12345 hotline"),
    "grid_worker": ("网格员上报", "grid worker"),
    "grid": ("网格员上报", "grid worker"),
    "iot": ("物联感知", "IoT sensor"),
    "sensor": ("物联感知", "IoT sensor"),
    "app": ("群众随手拍", "citizen app"),
    "wechat": ("微信公众号", "WeChat"),
    "operator": ("坐席录入", "operator"),
    "demo": ("演示数据", "demo data"),
    "digital_city": ("数字城管", "digital city management"),
}
SYSTEM_NAME = ("系统", "system")

_TRANSLATED_PARAMS: dict[str, Mapping[Any, tuple[str, str]]] = {
    "deadline": DEADLINES,
    "level": LEVELS,
    "to_level": LEVELS,
    "from_level": LEVELS,
    "current_state": STATES,
    "state": STATES,
    "action": ACTIONS,
    "role": ROLES,
    "field": FIELDS,
    "missing": FIELDS,
    "score": SATISFACTION,
}


def language(tag: str | None) -> str:
    """The catalogue's language for a tag ("zh", "zh-CN", "en-US", an Accept-Language
    header): English when English comes first, else Chinese (the default)."""
    for part in (tag or "").split(","):
        code = part.split(";")[0].strip().lower()
        if code.startswith("en"):
            return EN
        if code.startswith("zh"):
            return ZH
    return DEFAULT_LANG


def _index(lang: str) -> int:
    return 1 if language(lang) == EN else 0


def _param(name: str, value: Any, lang: str) -> str:
    i = _index(lang)
    table = _TRANSLATED_PARAMS.get(name)
    if isinstance(value, list | tuple):
        sep = ", " if i else "、"
        return sep.join(_param(name, v, lang) for v in value)
    if table is not None and value in table:
        return table[value][i]
    return str(value)


def _fill(template: str, params: Mapping[str, Any], lang: str) -> str:
    def one(m: re.Match[str]) -> str:
        key = m.group(1)
        return _param(key, params[key], lang) if key in params else m.group(0)

    return re.sub(r"\{(\w+)\}", one, template)


def error_text(reason: str, params: Mapping[str, Any] | None, lang: str) -> str | None:
    """The sentence for an error's reason, or None when the catalogue has none."""
    entry = ERRORS.get(reason)
    return _fill(entry[_index(lang)], params or {}, lang) if entry else None


def note_text(code: str, params: Mapping[str, Any] | None, lang: str) -> str | None:
    entry = NOTES.get(code)
    return _fill(entry[_index(lang)], params or {}, lang) if entry else None


def source_name(source: str, lang: str) -> str:
    entry = SOURCES.get(source)
    return entry[_index(lang)] if entry else source


def actor_name(actor: str, lang: str, *, display_names: Mapping[str, str] | None = None) -> str:
    """How a timeline names who acted: a user by display name, a source by name."""
    if actor == "system":
        return SYSTEM_NAME[_index(lang)]
    kind, _, name = actor.partition(":")
    if kind == "user" and name:
        return (display_names or {}).get(name) or name
    if kind == "source" and name:
        return source_name(name, lang)
    if kind == "token" and name:
        return name
    return actor


def page_labels(lang: str) -> dict[str, str]:
    """The catalogue as a page's labels: `error_<reason>`, `note_<code>`, `source_<name>`,
    and the words params are translated with (`param_<name>_<value>`)."""
    i = _index(lang)
    out: dict[str, str] = {}
    out.update({f"error_{k}": v[i] for k, v in ERRORS.items()})
    out.update({f"note_{k}": v[i] for k, v in NOTES.items()})
    out.update({f"source_{k}": v[i] for k, v in SOURCES.items()})
    for name, table in _TRANSLATED_PARAMS.items():
        out.update({f"param_{name}_{k}": v[i] for k, v in table.items()})
    out.update({f"satisfaction_{k}": v[i] for k, v in SATISFACTION.items()})
    out["actor_system"] = SYSTEM_NAME[i]
    return out
