/* The events on the map: loaded under the filters (open work by default, history on
 * request) and by view (what is around the view; more as the operator pans or zooms out),
 * drawn as clustered markers and a heat map, updated in place as they change, wherever
 * they are (the live stream). The queues and counters do not come from here: they cover
 * the whole jurisdiction (GET /api/queues, ../queues.js). */

import { h, aborted, latest, errorText } from "../common.js";
import { $, debounce } from "../page.js";
import { MAX_EVENTS, PAGE, map, cfg, t, OPEN, S, has, L_, known } from "./state.js";
import { recolourGrids } from "./areas.js";
import { refreshCounters } from "./counters.js";
import { openEvent } from "./event_panel.js";
import { showToast } from "./panel.js";
import { applyMessage } from "./stream.js";

let cluster = null;
let heat = null;

/** The markers' cluster layer and the heat map, in the layer control. */
export function createEventLayers(overlays) {
  cluster = L.markerClusterGroup({ chunkedLoading: true, showCoverageOnHover: false, maxClusterRadius: 45, disableClusteringAtZoom: 16 });
  cluster.addTo(map);
  heat = L.heatLayer([], { radius: 22, blur: 18, maxZoom: 15 });
  heat.on("add", refreshHeat);
  overlays.addOverlay(cluster, L_("layer_events"));
  overlays.addOverlay(heat, L_("layer_heat"));
}

export function filters() {
  return {
    status: $("gm-filter-status").value,
    priority: $("gm-filter-priority").value,
    category: $("gm-filter-category").value,
    township: $("gm-filter-township").value,
    window: $("gm-filter-window").value,
  };
}

export function windowStart(win) {
  const now = new Date();
  if (win === "today") return new Date(now.getFullYear(), now.getMonth(), now.getDate());
  const hours = { "24h": 24, "7d": 168, "30d": 720 }[win];
  return hours ? new Date(now.getTime() - hours * 3600e3) : null;
}

/** The status filter's two summary choices: every open state, or the open overdue ones
 * (the map's default is open work; history is a status and time range on request). */
export function statusMatches(wanted, p) {
  if (!wanted) return true;
  if (wanted === "open") return OPEN.has(p.status);
  if (wanted === "overdue") return OPEN.has(p.status) && Boolean(p.overdue);
  return p.status === wanted;
}

export function matchesFilters(p) {
  const f = filters();
  if (!statusMatches(f.status, p)) return false;
  if (f.priority && p.priority !== f.priority) return false;
  if (f.category && p.category !== f.category) return false;
  if (f.township && p.township_code !== f.township) return false;
  const since = windowStart(f.window);
  const at = p.received_at || p.reported_at;
  if (since && at && new Date(at) < since) return false;
  return true;
}

export function eventsQuery(extra) {
  const f = filters();
  const q = new URLSearchParams({ f: "geojson", limit: String(PAGE) });
  if (f.status === "open" || f.status === "overdue") q.set("status", [...OPEN].join(","));
  else if (f.status) q.set("status", f.status);
  if (f.status === "overdue") q.set("overdue", "true");
  if (f.priority) q.set("priority", f.priority);
  if (f.category) q.set("category", f.category);
  if (f.township) q.set("area", f.township);
  const since = windowStart(f.window);
  if (since) q.set("since", since.toISOString());
  for (const [k, v] of Object.entries(extra || {})) q.set(k, v);
  return q;
}

export function normalise(feature) {
  const p = Object.assign({}, feature.properties || {});
  const id = p.id ?? feature.id;
  p.id = id;
  const c = feature.geometry && feature.geometry.coordinates;
  const latlng = c && Number.isFinite(c[0]) && Number.isFinite(c[1]) ? L.latLng(c[1], c[0]) : null;
  return { id: String(id), p, latlng };
}

/** The part of the map whose events are loaded: the view and one view-width around it
 * (so a short pan or a zoom out by one finds its markers there already), within the world. */
export function viewBox() {
  const b = map.getBounds().pad(1);
  const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
  return L.latLngBounds([clamp(b.getSouth(), -90, 90), clamp(b.getWest(), -180, 180)], [clamp(b.getNorth(), -90, 90), clamp(b.getEast(), -180, 180)]);
}

export function bboxParam(b) {
  return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(5)).join(",");
}

/** Whether the events of `bounds` are all on the page already (under the current filters). */
export function isLoaded(bounds) {
  return S.loadedBoxes.some((box) => box.contains(bounds));
}

let replacing = false; // a load under new filters is on its way: what follows replaces too

/** Load the events of the view (padded) under the filters, replacing what the page holds:
 * the first load, and every change of a filter. */
export function loadEvents() {
  return loadView(true);
}

/** The view moved outside what is loaded (a pan, a zoom out, an event opened elsewhere):
 * load that part too, once the map rests. */
export const loadViewSoon = debounce(() => {
  if (has("events") && !isLoaded(map.getBounds())) loadView(false);
}, 300);

async function loadView(replace) {
  if (!has("events")) return;
  // Each load supersedes the one before (filters changed twice quickly, the map panned
  // on): the older answer, however late it arrives, never replaces the newer one's events.
  // A pan while a load under new filters is on its way still replaces (the old filters'
  // events must go).
  const request = latest("events");
  replace = replace || replacing || S.events.size >= MAX_EVENTS;
  replacing = replace;
  const box = viewBox();
  S.loading = true;
  const fresh = new Map();
  let url = `/api/events?${eventsQuery({ bbox: bboxParam(box) })}`;
  try {
    while (url && fresh.size < MAX_EVENTS) {
      const fc = await request.api(url);
      for (const f of (fc && fc.features) || []) {
        const ev = normalise(f);
        fresh.set(ev.id, ev);
      }
      const cursor = fc && fc.next_cursor;
      url = cursor ? `/api/events?${eventsQuery({ bbox: bboxParam(box), cursor })}` : null;
    }
  } catch (err) {
    if (aborted(err)) return; // a newer load owns the map (and S.loading) now
    showToast(`${L_("layer_events")}: ${errorText(err, t)}`, "error");
  }
  if (!request.isCurrent()) return;
  // A part is loaded when every page of it came (not on a failure, nor past MAX_EVENTS):
  // else the next move asks again.
  const whole = [];
  if (!url) whole.push(box);
  request.done();
  replacing = false;
  if (replace) {
    S.events = fresh;
    S.loadedBoxes = whole;
    redrawMarkers();
  } else {
    // What the page holds stays (the stream keeps it current); the new part's events join.
    S.loadedBoxes.push(...whole);
    const added = [];
    for (const ev of fresh.values()) {
      if (S.events.has(ev.id)) continue;
      S.events.set(ev.id, ev);
      if (!ev.latlng) continue;
      const m = makeMarker(ev);
      S.markers.set(ev.id, m);
      added.push(m);
    }
    cluster.addLayers(added);
    refreshHeat();
    recolourGrids();
  }
  S.loading = false;
  const queued = S.queued.splice(0);
  for (const msg of queued) applyMessage(msg.kind, msg.data);
  refreshCounters();
  document.body.dataset.eventsLoaded = String(++loadsDone);
}

let loadsDone = 0; // loads finished (the page's data-events-loaded): for tests and benches

export function markerIcon(ev) {
  const p = ev.p;
  const classes = [
    "gm-dot",
    `prio-${known(p.priority, cfg.constants.priorities)}`,
    `status-${known(p.status, cfg.constants.states)}`,
    p.overdue ? "is-overdue" : "",
    OPEN.has(p.status) ? "is-open" : "is-done",
  ].join(" ");
  const dot = h("span", { className: classes, dataset: { eventId: ev.id, status: known(p.status, cfg.constants.states) }, title: `#${ev.id}` });
  return L.divIcon({ className: "gm-marker", html: dot, iconSize: [18, 18], iconAnchor: [9, 9] });
}

export function makeMarker(ev) {
  const marker = L.marker(ev.latlng, { icon: markerIcon(ev), keyboard: true, riseOnHover: true });
  marker.on("click", () => openEvent(ev.id));
  return marker;
}

export function redrawMarkers() {
  cluster.clearLayers();
  S.markers.clear();
  const list = [];
  for (const ev of S.events.values()) {
    if (!ev.latlng) continue;
    const m = makeMarker(ev);
    S.markers.set(ev.id, m);
    list.push(m);
  }
  cluster.addLayers(list);
  refreshHeat();
  recolourGrids();
}

/** A new or changed event, from the stream or an action: update it in place. */
export function upsertEvent(ev, flash) {
  const old = S.events.get(ev.id);
  if (old) ev.p = Object.assign({}, old.p, ev.p);
  if (!ev.latlng && old) ev.latlng = old.latlng;
  const visible = matchesFilters(ev.p);
  const marker = S.markers.get(ev.id);
  if (!visible) {
    S.events.delete(ev.id);
    if (marker) cluster.removeLayer(marker);
    S.markers.delete(ev.id);
  } else {
    S.events.set(ev.id, ev);
    if (marker && ev.latlng) {
      marker.setLatLng(ev.latlng);
      marker.setIcon(markerIcon(ev));
      cluster.refreshClusters(marker);
    } else if (ev.latlng) {
      const m = makeMarker(ev);
      S.markers.set(ev.id, m);
      cluster.addLayer(m);
    }
    if (flash) flashMarker(ev.id);
  }
  refreshHeat();
  recolourGrids();
}

export function flashMarker(id) {
  const el = document.querySelector(`.gm-dot[data-event-id="${CSS.escape(id)}"]`);
  if (!el) return;
  el.classList.remove("gm-flash");
  void el.offsetWidth; // restart the animation
  el.classList.add("gm-flash");
}

export function refreshHeat() {
  if (!heat || !map.hasLayer(heat)) return;
  const pts = [];
  for (const ev of S.events.values()) if (ev.latlng && OPEN.has(ev.p.status)) pts.push([ev.latlng.lat, ev.latlng.lng, 1]);
  heat.setLatLngs(pts);
}
