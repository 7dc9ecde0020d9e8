/* "Who is responsible here?": a click on the map asks the server (GET /api/locate) and
 * the panel shows the chain, the team and the grid's open events. */

import { h, api } from "../common.js";
import { map, S, has, L_, failure, categoryName } from "./state.js";
import { pick } from "./format.js";
import { chainRows, teamRows } from "./event_panel.js";
import { badge, gridOpenEvents, openPanel, row } from "./panel.js";

let hereMarker = null;

/** The clicked point's marker goes (the panel closed). */
export function clearHere() {
  if (hereMarker) {
    map.removeLayer(hereMarker);
    hereMarker = null;
  }
}

export function categorySelect(selected, onchange) {
  const sel = h("select", { id: "gm-here-category", "aria-label": L_("category"), onchange }, h("option", { value: "" }, L_("any_category")));
  for (const code of S.categories.keys()) sel.append(h("option", { value: code, selected: code === selected }, categoryName(code)));
  return sel;
}

export async function whoIsHere(latlng, category) {
  if (!has("locate")) return;
  S.selected = { kind: "here", latlng };
  if (hereMarker) map.removeLayer(hereMarker);
  hereMarker = L.circleMarker(latlng, { radius: 7, color: "#0ea5e9", weight: 3, fillOpacity: 0.2 }).addTo(map);
  const q = new URLSearchParams({ lon: latlng.lng.toFixed(7), lat: latlng.lat.toFixed(7), crs: "wgs84" });
  if (category) q.set("category", category);
  const header = [
    h("h2", {}, L_("who_here")),
    categorySelect(category, (e) => whoIsHere(latlng, e.target.value)),
    h("p", { className: "gm-muted" }, `${latlng.lng.toFixed(6)}, ${latlng.lat.toFixed(6)} (WGS84)`),
  ];
  openPanel(...header, h("p", { className: "gm-muted" }, L_("loading")));
  let r = null;
  try {
    r = await api(`/api/locate?${q}`);
  } catch (err) {
    const said = err.status === 422 ? L_("outside_coverage") : err.status === 403 ? L_("outside_my_area") : failure(err);
    if (S.selected && S.selected.latlng === latlng) openPanel(...header, h("p", { className: "gm-error" }, said));
    return;
  }
  if (!S.selected || S.selected.latlng !== latlng) return;
  const gridCode = pick(r, "grid.code");
  const gridInfo = gridCode && S.areas.grid ? S.areas.grid.byCode.get(gridCode) : null;
  const households = pick(r, "grid.households") ?? (gridInfo && gridInfo.households);
  const flags = r.flags || {};
  const decision = r.decision || null;
  openPanel(
    ...header,
    flags.outside_coverage ? h("p", { className: "gm-warning" }, L_("outside_coverage")) : null,
    flags.on_boundary ? h("p", { className: "gm-warning" }, L_("on_boundary")) : null,
    h(
      "dl",
      { className: "gm-here" },
      chainRows({}, r),
      row(L_("households"), households ?? null),
      teamRows({}, r),
      decision ? row(L_("priority"), badge("priority", decision.priority)) : null,
      decision && decision.time_limit_hours ? row(L_("deadline"), `${decision.time_limit_hours} h`) : null,
    ),
    gridCode ? gridOpenEvents(gridCode) : null,
  );
}
