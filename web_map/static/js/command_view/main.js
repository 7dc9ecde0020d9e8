/* The command view's start: the categories, the page's controls wired, the live stream
 * connected, then the area layers and the events loaded; `view` is what the workbench's
 * modules use of it. */

import { h, api, errorText } from "../common.js";
import { $ } from "../page.js";
import { map, cfg, t, S, configure, has, L_, categoryName } from "./state.js";
import { maskPhone } from "./format.js";
import { loadVersion, loadAreas } from "./areas.js";
import { refreshCounters } from "./counters.js";
import { openEvent } from "./event_panel.js";
import { createEventLayers, filters, loadEvents, loadViewSoon } from "./events_layer.js";
import { showToast, closePanel } from "./panel.js";
import { goToEvent, search } from "./search.js";
import { connectStream } from "./stream.js";
import { loadTriage, stopPlacing, placeAt } from "./triage.js";
import { whoIsHere } from "./who_is_here.js";

export async function loadCategories() {
  if (!has("categories")) return;
  try {
    // Carried in the page (cfg.categories), else asked for: GET /api/categories.
    const list = cfg.categories || (await api("/api/categories")).categories;
    for (const c of list) {
      if (c && c.code) S.categories.set(c.code, c);
      if (c && c.department_code && c.department_name) S.departments.set(c.department_code, c.department_name);
    }
  } catch (err) {
    showToast(`${L_("category")}: ${errorText(err, t)}`, "error");
    return;
  }
  const sel = $("gm-filter-category");
  sel.replaceChildren(h("option", { value: "" }, L_("all")), ...[...S.categories.keys()].map((code) => h("option", { value: code }, categoryName(code))));
}

/** The view the address names (#map=zoom/lat/lon), or null. */
export function viewInAddress() {
  const m = /^#map=(\d{1,2})\/(-?\d+(?:\.\d+)?)\/(-?\d+(?:\.\d+)?)$/.exec(window.location.hash);
  if (!m) return null;
  const [zoom, lat, lon] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (Math.abs(lat) > 90 || Math.abs(lon) > 180) return null;
  return { zoom, center: L.latLng(lat, lon) };
}

/** The view, kept in the address: a reload (a shared workstation, a lost connection)
 * opens where the operator was, and loads only that part's events. */
export function keepViewInAddress() {
  const c = map.getCenter();
  const hash = `#map=${map.getZoom()}/${c.lat.toFixed(5)}/${c.lng.toFixed(5)}`;
  if (window.location.hash !== hash) history.replaceState(null, "", `${window.location.pathname}${window.location.search}${hash}`);
}

export async function start(leafletMap, config) {
  configure(leafletMap, config);
  // The caller's areas (China until the county layer arrives, for a caller with none):
  // the set-up script is the same for everyone, a file the Content-Security-Policy allows.
  // A view in the address (#map=zoom/lat/lon: a reload, a link) opens there instead.
  const kept = viewInAddress();
  if (kept) map.setView(kept.center, kept.zoom, { animate: false });
  else map.fitBounds(cfg.bounds, { animate: false });
  // Clustering builds its grids for the map's zoom range when it is added and later walks
  // whatever range the map has then: a range left to the layers changes as layers arrive
  // (the basemap starts at zoom 8, the grid tiles at 0), and a zoom outside the first
  // range throws. So the range is fixed here, before the cluster is made.
  if (map.options.maxZoom === undefined) map.setMaxZoom(19);
  if (map.options.minZoom === undefined) map.setMinZoom(0);
  const overlays = L.control.layers(null, {}, { collapsed: false, position: "bottomleft" }).addTo(map);
  createEventLayers(overlays);
  S.overlays = overlays;

  $("gm-panel-close").addEventListener("click", closePanel);
  $("gm-search").addEventListener("submit", (e) => {
    e.preventDefault();
    search($("gm-search-input").value, true);
  });
  $("gm-search-input").addEventListener("input", (e) => search(e.target.value, false));
  for (const id of ["gm-filter-status", "gm-filter-priority", "gm-filter-category", "gm-filter-township", "gm-filter-window"]) {
    $(id).addEventListener("change", loadEvents);
  }
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Escape") return;
    if (S.placing) stopPlacing();
    else closePanel();
  });
  map.on("click", (e) => {
    if (S.placing) placeAt(e.latlng);
    else whoIsHere(e.latlng, $("gm-here-category") ? $("gm-here-category").value : "");
  });

  // The stream first, so nothing that happens while the layers load is missed.
  connectStream();
  await Promise.all([loadCategories(), loadVersion()]);
  // What the workbench needs (the config, the filters, category names) is there: its
  // queues load beside the layers, not after them.
  resolveStarted();
  await Promise.all([loadAreas(overlays), loadEvents()]);
  // The markers are loaded by view: a move outside what is loaded loads that part too.
  map.on("moveend", () => {
    keepViewInAddress();
    loadViewSoon();
  });
  loadTriage();
  refreshCounters();
  setInterval(refreshCounters, 60000); // "today" rolls over; deadlines pass
  if (cfg.query) search(cfg.query, true);
  document.body.dataset.ready = "true";
  resolveReady();
}

let resolveReady = null;
export const ready = new Promise((resolve) => (resolveReady = resolve));
let resolveStarted = null;
export const started = new Promise((resolve) => (resolveStarted = resolve));

/** What the workbench's modules (queues, alerts, the header: ../workbench.js) use of
 * the command view. */
export const view = {
  maskPhone,
  ready, // everything loaded (the page's data-ready)
  started, // the config and categories known: the layers and events still loading
  map: () => map,
  config: () => cfg,
  filters,
  openEvent: (id) => openEvent(String(id)),
  goToEvent,
  categoryName,
  showToast,
};
