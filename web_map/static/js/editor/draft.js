/* The draft on the map: its grids (coloured by whether their households are in range)
 * with their labels, the buildings, and each edit's answer applied. */

import { h, api } from "../common.js";
import { $ } from "../page.js";
import { map, cfg, L_, S, gridGroup, labelGroup, buildingGroup, busy } from "./state.js";
import { showState, showHistory } from "./checks.js";
import { labelPoint, polygonContains, samples } from "./geometry.js";
import { clickGrid } from "./tools.js";

/** The grid a drawn line crosses most: the planner splits one grid at a time. */
export function gridUnderLine(coords) {
  let best = null;
  let most = 0;
  const pts = samples(coords, 40);
  for (const [code, f] of S.grids) {
    const n = pts.filter(([x, y]) => polygonContains(f.geometry, x, y)).length;
    if (n > most) [best, most] = [code, n];
  }
  return best;
}

export async function loadDraft(id, fit) {
  const d = await busy(() => api(`/api/drafts/${id}`));
  if (!d) return;
  S.draft = d;
  S.grids = new Map(((d.grids && d.grids.features) || []).map((f) => [f.properties.code, f]));
  $("gm-intro").hidden = true;
  $("gm-draft").hidden = false;
  $("gm-draft-info").textContent = `${L_("draft")} #${d.id} · ${L_("base_version")} ${d.base_version} · ${S.grids.size} ${L_("grids")}`;
  drawBuildings(d.buildings || []);
  drawGrids();
  showState(d);
  showHistory(d.history || []);
  if (fit && gridGroup.getLayers().length) map.fitBounds(gridGroup.getBounds(), { padding: [30, 30], animate: false });
  document.body.dataset.draft = String(d.id);
}

export function inRange(n) {
  return typeof n === "number" && n >= cfg.householdsMin && n <= cfg.householdsMax;
}

export function gridStyle(f) {
  const p = f.properties || {};
  const exempt = p.kind === "dedicated" || p.kind === "high_rise";
  const bad = !exempt && !inRange(p.households);
  const picked = S.picked.includes(p.code);
  return {
    color: picked ? "#2563eb" : bad ? "#dc2626" : "#0f766e",
    weight: picked ? 4 : bad ? 3 : 1.5,
    fillColor: picked ? "#93c5fd" : bad ? "#fecaca" : "#99f6e4",
    fillOpacity: 0.35,
    dashArray: bad ? "6 4" : null,
  };
}

export function drawGrids() {
  gridGroup.clearLayers();
  labelGroup.clearLayers();
  S.gridLayers.clear();
  for (const f of S.grids.values()) {
    const layer = L.geoJSON(f, { pane: "gm-grids", style: gridStyle }).getLayers()[0];
    if (!layer) continue;
    const p = f.properties;
    // While Geoman draws, a click on a grid is a point of the line, not a pick.
    layer.on("click", () => {
      if (!map.pm.globalDrawModeEnabled()) clickGrid(p.code);
    });
    layer.addTo(gridGroup);
    S.gridLayers.set(p.code, layer);
    const anchor = layer.getBounds().getCenter();
    const inside = polygonContains(f.geometry, anchor.lng, anchor.lat) ? anchor : L.latLng(...labelPoint(f.geometry));
    const bad = !inRange(p.households) && p.kind !== "dedicated" && p.kind !== "high_rise";
    const label = h(
      "span",
      { className: `gm-label${bad ? " gm-label-bad" : ""}`, dataset: { code: p.code, households: String(p.households ?? "") } },
      h("b", null, p.code.slice(-3)),
      ` ${p.households ?? "?"} ${L_("households")}`,
    );
    L.marker(inside, {
      pane: "gm-labels",
      interactive: false,
      keyboard: false,
      icon: L.divIcon({ className: "gm-label-icon", html: label.outerHTML, iconSize: null }),
    }).addTo(labelGroup);
    layer.bindTooltip(h("span", null, `${p.name || ""} ${p.code} · ${p.households ?? "?"} ${L_("households")}${bad ? " · " + L_("out_of_range") : ""}`), { sticky: true });
  }
}

export function drawBuildings(buildings) {
  buildingGroup.clearLayers();
  for (const b of buildings) {
    if (!b.households) continue;
    L.circleMarker([b.lat, b.lon], {
      pane: "gm-buildings",
      radius: Math.min(2 + Math.sqrt(b.households), 9),
      color: "#7c2d12",
      weight: 1,
      fillColor: "#fb923c",
      fillOpacity: 0.8,
      interactive: false,
    }).addTo(buildingGroup);
  }
}

/** Apply an edit's answer: changed grids in, removed grids out, then checks and diff. */
export function applyEdit(answer) {
  for (const code of answer.removed || []) S.grids.delete(code);
  for (const f of (answer.changed && answer.changed.features) || []) S.grids.set(f.properties.code, f);
  S.picked = [];
  drawGrids();
  showState(answer);
  document.body.dataset.editSeq = String(answer.seq);
  $("gm-draft-info").textContent = `${L_("draft")} #${S.draft.id} · ${L_("base_version")} ${S.draft.base_version} · ${S.grids.size} ${L_("grids")}`;
}
