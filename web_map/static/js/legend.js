/* The map's legend: what the dots' colours, rings and halos and the grids' fills mean
 * (the styles are command_view.css's .gm-dot classes and command_view/areas.js's gridStyle). */

import { h } from "./common.js";

const GRID_FILLS = [
  ["legend_grid_1", "#facc15"],
  ["legend_grid_2", "#f97316"],
  ["legend_grid_4", "#dc2626"],
];

export function addLegend(map, cfg) {
  const t = cfg.labels;
  const dot = (classes) => h("span", { className: `gm-dot ${classes}`, "aria-hidden": "true" });
  const item = (sample, text) => h("li", {}, sample, h("span", {}, text));
  const body = h(
    "div",
    { className: "gm-legend-body" },
    h("h3", {}, t.legend_priority),
    h(
      "ul",
      {},
      cfg.constants.priorities.map((p) => item(dot(`prio-${p} is-open`), t[`priority_${p}`])),
    ),
    h(
      "ul",
      {},
      item(dot("prio-routine status-reported is-open"), t.legend_status_reported),
      item(dot("prio-routine status-in_progress is-open"), t.legend_status_working),
      item(dot("prio-routine status-reported_back is-open"), t.legend_status_back),
      item(dot("prio-routine is-overdue gm-legend-still"), t.legend_overdue),
      item(dot("prio-routine is-done"), t.legend_done),
    ),
    h("h3", {}, t.legend_grid),
    h(
      "ul",
      {},
      GRID_FILLS.map(([key, colour]) => item(h("span", { className: "gm-swatch", dataset: { fill: colour } }), t[key])),
      item(h("span", { className: "gm-swatch gm-swatch-overdue" }), t.legend_grid_overdue),
    ),
  );
  // Colours set here, not in markup: the Content-Security-Policy allows no inline style.
  for (const swatch of body.querySelectorAll(".gm-swatch[data-fill]")) swatch.style.background = swatch.dataset.fill;
  const box = h("details", { id: "gm-legend", className: "gm-legend leaflet-bar" }, h("summary", {}, t.legend), body);
  const Legend = L.Control.extend({
    options: { position: "bottomright" },
    onAdd: () => {
      L.DomEvent.disableClickPropagation(box);
      return box;
    },
  });
  new Legend().addTo(map);
  return box;
}
