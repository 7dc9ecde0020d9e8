"""The boundary editor page (/editor): a pure function from settings and labels to its HTML."""

from __future__ import annotations

from html import escape

import folium
import folium.plugins
from branca.element import MacroElement
from folium.elements import JSCSSMixin

from gridmap.errors import InvalidInput
from web_map.assets import STATIC_URL
from web_map.page_assets import map_figure, render_map_page

# The editor's own labels. Kept here rather than in web_map/i18n.py: no other page uses
# them, and the command view's table stays the command view's.
EDITOR_LABELS: dict[str, dict[str, str]] = {
    "zh": {
        "page_title": "网格边界编辑 · gridmap",
        "brand": "网格边界编辑",
        "command_view": "返回一张图",
        "pick_placeholder": "搜索社区或乡镇（名称或代码）",
        "pick_none": "没有匹配的社区或乡镇",
        "pick_hint": "先选择一个社区（村）或乡镇（街道），再编辑它的网格。",
        "layer_community": "社区（村）",
        "layer_township": "乡镇（街道）",
        "draft": "草稿",
        "draft_private": "草稿仅您本人可见，发布后才生效。",
        "base_version": "基于版本",
        "grids": "网格",
        "households": "户",
        "households_range": "每个网格应为 {min}–{max} 户",
        "out_of_range": "户数超出范围",
        "tools": "编辑工具",
        "tool_split": "画线拆分",
        "tool_merge": "合并网格",
        "tool_reshape": "调整边界",
        "tool_add": "新增网格",
        "tool_delete": "删除网格",
        "tool_regenerate": "按住户重新生成",
        "tool_cancel": "取消",
        "hint_split": "在要拆分的网格上画一条穿过它的线，再次点击最后一点结束。",
        "hint_merge": "依次点击两个或更多相邻网格，然后点“确认合并”。",
        "hint_reshape": (
            "点击一个网格，拖动它的顶点；点“保存形状”提交。相邻网格的共用边会一起移动。"
        ),
        "hint_add": "画一个多边形作为新网格。",
        "hint_delete": "先点击要删除的网格，再点击接收其范围的相邻网格。",
        "hint_delete_into": "已选 {code}，请点击接收其范围的相邻网格。",
        "hint_regenerate": "点击一个社区内的任意网格，按住户重新生成该社区的全部网格。",
        "confirm_merge": "确认合并",
        "save_shape": "保存形状",
        "selected": "已选",
        "undo": "撤销",
        "redo": "重做",
        "validate": "检查",
        "problems": "检查结果",
        "no_problems": "没有发现问题。",
        "severity_error": "错误",
        "severity_warning": "提醒",
        # What kind of problem validation found (geodata/validation.py `kind`); the detailed
        # message after it stays as the validator wrote it.
        "problem_empty_geometry": "空几何",
        "problem_invalid_geometry": "几何无效",
        "problem_wrong_geometry_type": "几何类型不对",
        "problem_missing_code": "缺少编码",
        "problem_duplicate_code": "编码重复",
        "problem_unknown_layer": "未知图层",
        "problem_missing_parent": "缺少上级",
        "problem_unknown_parent": "上级不存在",
        "problem_outside_parent": "超出上级范围",
        "problem_overlap": "重叠",
        "problem_gap": "缝隙",
        "problem_sliver": "碎片",
        "problem_households_missing": "缺少户数",
        "problem_households_out_of_range": "户数超出范围",
        "diff": "与现行版本相比",
        "diff_added": "新增",
        "diff_changed": "调整",
        "diff_removed": "删除",
        "diff_none": "还没有改动。",
        "households_moved": "住户变动",
        "history": "编辑记录",
        "history_undone": "（已撤销）",
        "op_split": "拆分",
        "op_merge": "合并",
        "op_reshape": "调整边界",
        "op_delete": "删除",
        "op_add": "新增",
        "op_regenerate": "重新生成",
        "publish": "发布",
        "reason": "发布原因（必填）",
        "reason_required": "请填写发布原因。",
        "accept_problems": "存在错误仍然发布",
        "published": "已发布为版本 {version}；{n} 个未办结事件已重新分派。",
        "rerouted": "{event} 号事件：{from} → {to}",
        "conflict": "其他人已先发布了本范围的改动：",
        "conflict_by": "{code}（{change}，{by}）",
        "rebase": "在最新版本上继续（保留我的改动）",
        "rebased": "已基于最新版本。请重新检查后再发布。",
        "saved": "已保存到草稿",
        "working": "正在处理…",
        "error": "出错了",
        "lang_other": "EN",
    },
    "en": {
        "page_title": "Grid boundary editor · gridmap",
        "brand": "Grid boundary editor",
        "command_view": "Command view",
        "pick_placeholder": "Find a community or township (name or code)",
        "pick_none": "No community or township matches",
        "pick_hint": "Pick a community or township first, then edit its grids.",
        "layer_community": "Community",
        "layer_township": "Township",
        "draft": "Draft",
        "draft_private": "Only you see this draft; nothing changes until you publish.",
        "base_version": "based on version",
        "grids": "grids",
        "households": "households",
        "households_range": "a grid should hold {min}–{max} households",
        "out_of_range": "households out of range",
        "tools": "Tools",
        "tool_split": "Split with a line",
        "tool_merge": "Merge grids",
        "tool_reshape": "Reshape",
        "tool_add": "Add a grid",
        "tool_delete": "Delete a grid",
        "tool_regenerate": "Regenerate from households",
        "tool_cancel": "Cancel",
        "hint_split": (
            "Draw a line across the grid to split; click the last point again to finish."
        ),
        "hint_merge": "Click two or more adjacent grids, then “Merge these”.",
        "hint_reshape": (
            "Click a grid and drag its corners; “Save shape” sends it. "
            "A shared edge moves for both neighbours."
        ),
        "hint_add": "Draw a polygon for the new grid.",
        "hint_delete": "Click the grid to delete, then the neighbour that takes its area.",
        "hint_delete_into": "{code} selected: now click the neighbour that takes its area.",
        "hint_regenerate": (
            "Click any grid of a community to regenerate all its grids from the households."
        ),
        "confirm_merge": "Merge these",
        "save_shape": "Save shape",
        "selected": "Selected",
        "undo": "Undo",
        "redo": "Redo",
        "validate": "Check",
        "problems": "Checks",
        "no_problems": "No problems found.",
        "severity_error": "Error",
        "severity_warning": "Warning",
        "problem_empty_geometry": "empty geometry",
        "problem_invalid_geometry": "invalid geometry",
        "problem_wrong_geometry_type": "wrong geometry type",
        "problem_missing_code": "missing code",
        "problem_duplicate_code": "duplicate code",
        "problem_unknown_layer": "unknown layer",
        "problem_missing_parent": "missing parent",
        "problem_unknown_parent": "unknown parent",
        "problem_outside_parent": "outside its parent",
        "problem_overlap": "overlap",
        "problem_gap": "gap",
        "problem_sliver": "sliver",
        "problem_households_missing": "households missing",
        "problem_households_out_of_range": "households out of range",
        "diff": "Compared with the active version",
        "diff_added": "added",
        "diff_changed": "reshaped",
        "diff_removed": "removed",
        "diff_none": "No changes yet.",
        "households_moved": "households moved",
        "history": "Edits",
        "history_undone": "(undone)",
        "op_split": "split",
        "op_merge": "merge",
        "op_reshape": "reshape",
        "op_delete": "delete",
        "op_add": "add",
        "op_regenerate": "regenerate",
        "publish": "Publish",
        "reason": "Reason for publishing (required)",
        "reason_required": "Give a reason for publishing.",
        "accept_problems": "Publish despite errors",
        "published": "Published as version {version}; {n} open event(s) re-routed.",
        "rerouted": "event {event}: {from} → {to}",
        "conflict": "Someone published changes to this area first:",
        "conflict_by": "{code} ({change}, by {by})",
        "rebase": "Continue on the latest version (keep my edits)",
        "rebased": "Now based on the latest version. Check again before publishing.",
        "saved": "Saved to the draft",
        "working": "Working…",
        "error": "Something went wrong",
        "lang_other": "中文",
    },
}
TOOLS = ("split", "merge", "reshape", "add", "delete", "regenerate")


def editor_labels(lang: str) -> dict[str, str]:
    """The editor's label table for `lang`; an unknown language is refused, not guessed."""
    try:
        return EDITOR_LABELS[lang]
    except KeyError:
        raise InvalidInput(
            f"unknown language {lang!r}: use one of {', '.join(sorted(EDITOR_LABELS))}",
            details={"field": "lang", "value": lang, "allowed": sorted(EDITOR_LABELS)},
        ) from None


class _EditorAssets(JSCSSMixin, MacroElement):
    """Leaflet-Geoman, the basemap and the page's styles. The editor's own code is ES
    modules (editor.js and what it imports, `module_tags`): they run once the page is
    parsed, after folium's set-up script has made the map, and start it themselves."""

    def __init__(self) -> None:
        super().__init__()
        self._name = "GridmapEditor"
        # folium's own Geoman asset names, so localize() maps them to our pinned copies.
        self.default_js = [
            *folium.plugins.GeoMan.default_js,
            # The county's own basemap under the areas being edited (gridmap.boundaries.basemap).
            *folium.plugins.VectorGridProtobuf.default_js,
            ("gm_basemap_js", f"{STATIC_URL}/js/basemap.js"),
        ]
        self.default_css = [
            *folium.plugins.GeoMan.default_css,
            ("gm_editor_css", f"{STATIC_URL}/css/editor.css"),
            ("gm_basemap_css", f"{STATIC_URL}/css/basemap.css"),
        ]


def _chrome(t: dict[str, str], *, lang: str, scope: str) -> str:
    """The panels around the map: labels and the escaped scope only; data is written later
    by the script, as text."""
    other = "en" if lang == "zh" else "zh"
    tools = "".join(
        f'<button type="button" class="gm-tool" data-tool="{name}" aria-pressed="false">'
        f"{escape(t['tool_' + name])}</button>"
        for name in TOOLS
    )
    return f"""
<header id="gm-top" class="gm-bar">
  <div class="gm-brand">{escape(t["brand"])}</div>
  <form id="gm-pick" role="search" autocomplete="off">
    <input id="gm-pick-input" type="search" value="{escape(scope)}"
           placeholder="{escape(t["pick_placeholder"])}"
           aria-label="{escape(t["pick_placeholder"])}">
  </form>
  <div id="gm-scope" class="gm-scope"></div>
  <a class="gm-link" href="/?lang={lang}">{escape(t["command_view"])}</a>
  <a class="gm-lang" href="?lang={other}" lang="{other}">{escape(t["lang_other"])}</a>
</header>
<div id="gm-pick-results" class="gm-popover" hidden></div>
<aside id="gm-side" aria-live="polite">
  <p id="gm-intro" class="gm-muted">{escape(t["pick_hint"])}</p>
  <section id="gm-draft" hidden>
    <p class="gm-muted">{escape(t["draft_private"])}</p>
    <p id="gm-draft-info"></p>
    <h2>{escape(t["tools"])}</h2>
    <div id="gm-tools">{tools}</div>
    <p id="gm-hint" class="gm-hint" hidden></p>
    <div id="gm-tool-actions"></div>
    <div id="gm-undo-row" class="gm-row">
      <button type="button" id="gm-undo">{escape(t["undo"])}</button>
      <button type="button" id="gm-redo">{escape(t["redo"])}</button>
      <button type="button" id="gm-validate">{escape(t["validate"])}</button>
    </div>
    <h2>{escape(t["problems"])} <span id="gm-problem-count"></span></h2>
    <ul id="gm-problems" class="gm-list"></ul>
    <h2>{escape(t["diff"])}</h2>
    <div id="gm-diff"></div>
    <h2>{escape(t["publish"])}</h2>
    <form id="gm-publish">
      <textarea id="gm-reason" rows="2" required maxlength="2000"
                placeholder="{escape(t["reason"])}" aria-label="{escape(t["reason"])}"></textarea>
      <label id="gm-accept-label" hidden><input id="gm-accept" type="checkbox">
        {escape(t["accept_problems"])}</label>
      <button type="submit" id="gm-publish-button">{escape(t["publish"])}</button>
    </form>
    <div id="gm-conflict" class="gm-conflict" hidden></div>
    <div id="gm-result"></div>
    <h2>{escape(t["history"])}</h2>
    <ol id="gm-history" class="gm-list"></ol>
  </section>
</aside>
<div id="gm-toast" role="status" hidden></div>
"""


def build_editor(
    *,
    lang: str = "zh",
    tile_url: str | None = None,
    tile_attribution: str = "",
    households_min: int = 30,
    households_max: int = 50,
    scope: str = "",
) -> str:
    """The whole editor page as HTML.

    `households_min`/`households_max` are the settings' range (grids outside it are
    highlighted); `scope` pre-fills the community/township search box and is picked once
    the areas are loaded. Every asset comes from this service: a CDN link left in the page
    raises ConfigurationError.
    """
    t = editor_labels(lang)
    if not 0 < households_min <= households_max:
        raise InvalidInput(
            f"households range {households_min}-{households_max} is empty or not positive",
            details={"field": "households_min"},
        )
    figure, m = map_figure(
        title=t["page_title"],
        tile_url=tile_url,
        tile_attribution=tile_attribution,
        assets=_EditorAssets(),
        entry="editor.js",
        chrome=_chrome(t, lang=lang, scope=scope),
        fit_china=True,
    )
    config = {
        "lang": lang,
        "labels": t,
        "mapName": m.get_name(),  # the set-up script's global variable holding the map
        "householdsMin": households_min,
        "householdsMax": households_max,
        "tools": list(TOOLS),
        "scope": scope,
        "features": ["basemap"],
        "externalBasemap": bool(tile_url),
    }
    return render_map_page(figure, config, lang=lang, tile_url=tile_url, page="editor")
