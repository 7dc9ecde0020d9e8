/* The page's parts around the map: the hint toast and the side panel (its rows and
 * badges, shared by the event, who-is-here and search panels). */

import { h } from "../common.js";
import { $ } from "../page.js";
import { cfg, OPEN, S, L_, known, categoryName } from "./state.js";
import { openEvent, stopCountdown } from "./event_panel.js";
import { clearFound } from "./search.js";
import { clearHere } from "./who_is_here.js";

let toastTimer = null;
export function showToast(text, kind) {
  const node = $("gm-hint");
  node.hidden = false;
  node.className = `gm-toast gm-toast-${kind || "info"}`;
  node.textContent = text;
  clearTimeout(toastTimer);
  if (!S.placing) toastTimer = setTimeout(() => (node.hidden = true), 4000);
}

export function openPanel(...children) {
  const body = $("gm-panel-body");
  body.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  $("gm-panel").hidden = false;
}

export function closePanel() {
  $("gm-panel").hidden = true;
  S.selected = null;
  clearFound();
  stopCountdown();
  clearHere();
}

export const row = (label, value) =>
  value === null || value === undefined || value === "" ? null : h("div", { className: "gm-row" }, h("dt", {}, label), h("dd", {}, value));

export function badge(kind, value) {
  const k = known(value, kind === "priority" ? cfg.constants.priorities : cfg.constants.states);
  return h("span", { className: `gm-badge ${kind}-${k}`, dataset: { [kind]: k } }, L_(`${kind}_${value}`));
}

/** The open events the page holds in grid `code`, each one click from its panel (the
 * who-is-here and search panels of a grid). */
export function gridOpenEvents(code) {
  const open = [...S.events.values()].filter((ev) => ev.p.grid_code === code && OPEN.has(ev.p.status));
  return h(
    "section",
    {},
    h("h3", {}, `${L_("open_events")} (${open.length})`),
    open.length
      ? h("ul", { className: "gm-list" }, open.map((ev) => h("li", {}, h("button", { type: "button", className: "gm-link", onclick: () => openEvent(ev.id) }, `#${ev.id} ${categoryName(ev.p.category)} · ${L_("status_" + ev.p.status)}`))))
      : h("p", { className: "gm-muted" }, L_("none")),
  );
}
