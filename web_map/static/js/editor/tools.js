/* The editing tools: split, merge, reshape, add, delete, regenerate; each edit one POST,
 * undo and redo, checking again. */

import { h, post } from "../common.js";
import { $ } from "../page.js";
import { map, L_, S, toast, busy } from "./state.js";
import { showProblems, showHistory } from "./checks.js";
import { gridUnderLine, loadDraft, gridStyle, applyEdit } from "./draft.js";

export function setTool(name) {
  stopTool();
  S.tool = name;
  for (const b of document.querySelectorAll(".gm-tool")) b.setAttribute("aria-pressed", String(b.dataset.tool === name));
  document.body.dataset.tool = name || "";
  const hint = $("gm-hint");
  hint.hidden = !name;
  hint.textContent = name ? L_("hint_" + name) : "";
  const actions = $("gm-tool-actions");
  actions.replaceChildren();
  if (!name) return;
  if (name === "split") map.pm.enableDraw("Line", { snappable: true, snapDistance: 15 });
  if (name === "add") map.pm.enableDraw("Polygon", { snappable: true, snapDistance: 15 });
  if (name === "merge") actions.append(h("button", { type: "button", id: "gm-merge-go", onclick: doMerge }, L_("confirm_merge")));
  actions.append(h("button", { type: "button", id: "gm-tool-cancel", onclick: () => setTool(null) }, L_("tool_cancel")));
}

export function stopTool() {
  if (map.pm.globalDrawModeEnabled()) map.pm.disableDraw();
  if (S.reshaping) {
    S.reshaping.layer.pm.disable();
    S.reshaping = null;
  }
  if (S.picked.length) {
    S.picked = [];
    for (const [code, layer] of S.gridLayers) layer.setStyle(gridStyle(S.grids.get(code)));
  }
  S.tool = null;
}

export function togglePicked(code) {
  S.picked = S.picked.includes(code) ? S.picked.filter((c) => c !== code) : [...S.picked, code];
  S.gridLayers.get(code).setStyle(gridStyle(S.grids.get(code)));
}

export function clickGrid(code) {
  const tool = S.tool;
  if (tool === "merge") {
    togglePicked(code);
    $("gm-hint").textContent = `${L_("hint_merge")} ${L_("selected")}: ${S.picked.join(", ")}`;
  } else if (tool === "delete") {
    if (!S.picked.length) {
      togglePicked(code);
      $("gm-hint").textContent = L_("hint_delete_into", { code });
    } else if (S.picked[0] !== code) {
      edit({ op: "delete", code: S.picked[0], into: code });
    }
  } else if (tool === "reshape") {
    if (S.reshaping) S.reshaping.layer.pm.disable();
    const layer = S.gridLayers.get(code);
    layer.pm.enable({ snappable: true, allowSelfIntersection: false });
    S.reshaping = { code, layer };
    const actions = $("gm-tool-actions");
    actions.replaceChildren(
      h("button", { type: "button", id: "gm-reshape-go", onclick: () => edit({ op: "reshape", code, geometry: layer.toGeoJSON().geometry }) }, `${L_("save_shape")} ${code}`),
      h("button", { type: "button", onclick: () => setTool(null) }, L_("tool_cancel")),
    );
  } else if (tool === "regenerate") {
    const f = S.grids.get(code);
    edit({ op: "regenerate", community: f.properties.community });
  } else {
    const layer = S.gridLayers.get(code);
    if (layer) layer.openTooltip();
  }
}

export function doMerge() {
  if (S.picked.length < 2) {
    toast(L_("hint_merge"), "error");
    return;
  }
  edit({ op: "merge", codes: [...S.picked] });
}

export function onDrawn(e) {
  const geometry = e.layer.toGeoJSON().geometry;
  map.removeLayer(e.layer);
  if (S.tool === "split" && e.shape === "Line") {
    const code = gridUnderLine(geometry.coordinates);
    if (!code) {
      toast(L_("hint_split"), "error");
      map.pm.enableDraw("Line", { snappable: true, snapDistance: 15 });
      return;
    }
    edit({ op: "split", code, line: geometry });
  } else if (S.tool === "add" && e.shape === "Polygon") {
    edit({ op: "add", geometry });
  }
}

export async function edit(body) {
  const id = S.draft.id;
  const answer = await busy(() => post(`/api/drafts/${id}/edits`, body));
  setTool(null);
  if (!answer) return;
  applyEdit(answer);
  toast(`${L_("saved")}: ${L_("op_" + answer.op)}`);
  showHistory(answer.history || []);
}

export async function undoRedo(which) {
  const id = S.draft.id;
  const answer = await busy(() => post(`/api/drafts/${id}/${which}`));
  if (answer) await loadDraft(id, false);
}

export async function validate() {
  const answer = await busy(() => post(`/api/drafts/${S.draft.id}/validate`));
  if (answer) showProblems(answer.problems || []);
}
