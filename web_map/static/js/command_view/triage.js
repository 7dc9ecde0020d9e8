/* Triage (待定位): the events no one could place, placed by a click on the map or on one
 * of their address's geocoding candidates. */

import { h, api, post } from "../common.js";
import { $, debounce } from "../page.js";
import { map, cfg, S, has, L_, failure, categoryName } from "./state.js";
import { openEvent } from "./event_panel.js";
import { upsertEvent } from "./events_layer.js";
import { showToast } from "./panel.js";

export const loadTriage = debounce(async () => {
  if (!has("triage")) return;
  try {
    const body = await api("/api/events/triage?limit=200");
    S.triage = ((body && body.events) || []).map((e) => ({ id: String(e.id), p: e }));
  } catch (err) {
    return; // the queue keeps what it showed; the next message tries again
  }
  renderTriage();
}, 300);

export function renderTriage() {
  const list = S.triage;
  const box = $("gm-triage");
  box.hidden = list.length === 0;
  $("gm-triage-count").textContent = `(${list.length})`;
  $("gm-triage-list").replaceChildren(
    ...list.slice(0, 100).map((ev) =>
      h(
        "li",
        { dataset: { eventId: ev.id } },
        h("button", { type: "button", className: "gm-link", onclick: () => openEvent(ev.id) }, `#${ev.id} ${categoryName(ev.p.category)}`),
        h("span", { className: "gm-muted" }, ` ${ev.p.address || ""} `),
        has("place") ? h("button", { type: "button", className: "gm-place", onclick: () => startPlacing(ev.id) }, L_("place")) : null,
        has("place") ? candidateButtons(ev) : null,
      ),
    ),
  );
}

/** The address's geocoding candidates (gridmap.address_events): one click places it. */
export function candidateButtons(ev) {
  const found = (ev.p.routing && ev.p.routing.geocode && ev.p.routing.geocode.candidates) || [];
  return found.slice(0, 3).map((c, i) =>
    h(
      "button",
      { type: "button", className: "gm-candidate", dataset: { candidate: String(i) }, onclick: () => placeOnCandidate(ev.id, i) },
      `${L_("place_candidate")} ${c.matched} (${Math.round(c.confidence * 100)}%)`,
    ),
  );
}

export async function placeOnCandidate(id, index) {
  try {
    const ev = (await post(`/api/events/${encodeURIComponent(id)}/place/candidate/${index}`, {})) || {};
    const loc = ev.location;
    upsertEvent({ id, p: Object.assign({}, ev, { id }), latlng: loc ? L.latLng(loc.lat, loc.lon) : null }, true);
    showToast(L_("placed"), "ok");
    loadTriage();
    openEvent(id);
  } catch (err) {
    showToast(failure(err), "error");
  }
}

/** An event no one could place, opened from 待定位: placed from its own panel (a click
 * on the map, or one of its address's candidates), as from the triage list. */
export function placeSection(ev) {
  const placeable = cfg.constants.placeableStates.includes(ev.status);
  if (!has("place") || !placeable || ev.grid_code || ev.dedicated_code) return null;
  return h(
    "section",
    { className: "gm-place-here" },
    h("button", { type: "button", className: "gm-place", dataset: { eventId: String(ev.id) }, onclick: () => startPlacing(ev.id) }, L_("place")),
    candidateButtons({ id: String(ev.id), p: ev }),
  );
}

export function startPlacing(id) {
  S.placing = String(id);
  map.getContainer().classList.add("gm-placing");
  showToast(L_("placing_hint").replace("{id}", S.placing), "info");
}

export function stopPlacing() {
  S.placing = null;
  map.getContainer().classList.remove("gm-placing");
  $("gm-hint").hidden = true;
}

export async function placeAt(latlng) {
  const id = S.placing;
  stopPlacing();
  try {
    const result = await post(`/api/events/${encodeURIComponent(id)}/place`, { lon: latlng.lng, lat: latlng.lat, crs: "wgs84" });
    const ev = (result && (result.event || result)) || {};
    const loc = ev.location;
    upsertEvent({ id, p: Object.assign({}, ev, { id }), latlng: loc ? L.latLng(loc.lat, loc.lon) : latlng }, true);
    showToast(L_("placed"), "ok");
    loadTriage();
    openEvent(id);
  } catch (err) {
    showToast(failure(err), "error");
  }
}
