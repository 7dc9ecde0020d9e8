/* The events on the map: loaded under the filters (open work by default, history on
 * request), drawn as clustered markers and a heat map, updated in place as they change. */

import { h, aborted, latest, errorText } from "../common.js";
import { $ } from "../page.js";
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

export async function loadEvents() {
  if (!has("events")) return;
  // Each load supersedes the one before (filters changed twice quickly): the older
  // answer, however late it arrives, never replaces the newer one's events.
  const request = latest("events");
  S.loading = true;
  const fresh = new Map();
  try {
    let url = `/api/events?${eventsQuery()}`;
    while (url && fresh.size < MAX_EVENTS) {
      const fc = await request.api(url);
      for (const f of (fc && fc.features) || []) {
        const ev = normalise(f);
        fresh.set(ev.id, ev);
      }
      const cursor = fc && fc.next_cursor;
      url = cursor ? `/api/events?${eventsQuery({ cursor })}` : null;
    }
  } catch (err) {
    if (aborted(err)) return; // a newer load owns the map (and S.loading) now
    showToast(`${L_("layer_events")}: ${errorText(err, t)}`, "error");
  }
  if (!request.isCurrent()) return;
  request.done();
  S.events = fresh;
  redrawMarkers();
  S.loading = false;
  const queued = S.queued.splice(0);
  for (const msg of queued) applyMessage(msg.kind, msg.data);
  refreshCounters();
}

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
