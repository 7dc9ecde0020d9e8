/* The grid worker's phone page (/m): my grid on a map, report (上报) in a few taps, my
 * team's tasks (待办) and today's summary (今日); everything written goes through the
 * outbox (phone_outbox.js), so it survives no signal, a reload or a crash of the page.
 *
 * An ES module, no build step, no inline code (strict CSP): it imports the API client
 * (common.js, in the service worker's shell with this file); the outbox stays a classic
 * script (window.GridmapOutbox), because the service worker loads it with importScripts.
 * Photos are read with createImageBitmap and previewed as data: URLs (the policy allows no
 * blob: images).
 */
/* global GridmapOutbox */

import { h, api, kept, errorText, csrfToken } from "./common.js";

const body = document.getElementById("ph-body");
const cfg = JSON.parse(body.dataset.config);
const t = cfg.labels;
const $ = (id) => document.getElementById(id);
const fill = (s, p) => String(s).replace(/\{(\w+)\}/g, (a, k) => (k in p ? p[k] : a));
const MAX_SIDE = 1600; // px: a photo's longer side after downscaling on the phone
const MAX_PHOTOS = 4; // what one event may carry (docs/api.md)
// The open events the map shows: the server's open states (cfg.constants), not a copy.
const OPEN = cfg.constants.openStates.join(",");
// The reads the page makes at its start, each kept by the service worker for a start
// with no signal.
const URLS = {
  grid: "/api/phone/grid",
  events: `/api/events?f=geojson&status=${OPEN}&limit=300`,
  patrols: "/api/patrols/mine",
  categories: `/api/categories${cfg.county ? `?county=${encodeURIComponent(cfg.county)}` : ""}`,
  tasks: "/api/phone/tasks",
  today: "/api/phone/today",
};

// Exposed for the tests and for debugging on a phone: the page's state, read-only use.
const state = (window.GridmapPhone = {
  fix: null, // the last position {lon, lat, accuracy}
  grid: null,
  tasks: [],
  categories: [],
  ready: false,
});

// The lists the page holds from a live answer. The service worker's kept copy (no signal)
// is never newer than those, so it only fills a list the page does not have yet: a task
// started a moment before the signal dropped stays started, its report-back form open.
const live = new Set();
function usable(name, data) {
  if (!kept(data)) live.add(name);
  return !kept(data) || !live.has(name);
}

// --- messages -----------------------------------------------------------------------
let toastTimer = null;
function toast(text) {
  const el = $("ph-toast");
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (el.hidden = true), 3500);
}

// --- the outbox badge and sending -----------------------------------------------------
async function showPending() {
  const c = await GridmapOutbox.counts();
  const el = $("ph-pending");
  el.hidden = c.pending + c.failed === 0;
  el.textContent = fill(t.pending, { n: c.pending }) + (c.failed ? ` · ${t.failed} ${c.failed}` : "");
  el.dataset.pending = String(c.pending);
  el.dataset.failed = String(c.failed);
}

function onSent(item, answer) {
  if (item.failed) {
    const f = item.failed;
    toast(`${t.failed}: ${errorText(Object.assign(new Error(f.message), { code: f.code, reason: f.reason, params: f.params || {}, details: f.details || {} }), t)}`);
  } else if (item.kind === "event") {
    toast(t.sent);
  }
}

async function flush() {
  await GridmapOutbox.setMeta("csrf", csrfToken());
  const sent = await GridmapOutbox.flush(onSent);
  await showPending();
  if (sent) {
    loadEvents();
    loadTasks();
    loadPatrols();
    if (!$("ph-view-today").hidden) loadToday();
  }
  return sent;
}

async function enqueue(item, metaKey, metaValue) {
  item.created = item.created || Date.now();
  if (metaKey) await GridmapOutbox.putWithMeta(item, metaKey, metaValue);
  else await GridmapOutbox.put(item);
  await showPending();
  // Background sync where the browser has it (it sends even after the page is gone);
  // `online` and focus below otherwise.
  // Never waits for a service worker that may never come (no HTTPS, registration
  // refused): `getRegistration` answers at once.
  try {
    const reg = navigator.serviceWorker && (await navigator.serviceWorker.getRegistration("/m"));
    if (reg && reg.active && reg.sync) {
      await reg.sync.register(GridmapOutbox.SYNC_TAG);
      state.syncRegistered = (state.syncRegistered || 0) + 1;
    }
  } catch (err) {
    state.syncError = String(err); // no background sync here: the page's own retries send it
  }
  if (navigator.onLine) flush();
}

function showNet() {
  $("ph-net").hidden = navigator.onLine;
}

// --- the map: my grid ---------------------------------------------------------------
const map = L.map("ph-map", { zoomControl: false, attributionControl: false }).setView([35.8, 112.92], 13);
if (cfg.tileUrl) L.tileLayer(cfg.tileUrl, { maxZoom: 19 }).addTo(map);
const layers = {
  grids: L.layerGroup().addTo(map),
  buildings: L.layerGroup().addTo(map),
  events: L.layerGroup().addTo(map),
  me: L.layerGroup().addTo(map),
};
state.map = map;
state.layers = layers;

function drawGrid(data) {
  state.grid = data;
  layers.grids.clearLayers();
  layers.buildings.clearLayers();
  L.geoJSON(data.neighbours, { style: { color: "#777", weight: 1, dashArray: "4 4" }, interactive: false }).addTo(layers.grids);
  const mine = L.geoJSON(data.grids, {
    style: (f) => ({ color: "#b71c1c", weight: f.properties.layer === "grid" ? 3 : 1, fillOpacity: 0.04 }),
    onEachFeature: (f, layer) =>
      layer.bindTooltip(`${f.properties.name} · ${f.properties.households ?? "–"} ${t.households}`, { sticky: true }),
  }).addTo(layers.grids);
  for (const b of data.buildings.features) {
    const [lon, lat] = b.geometry.coordinates;
    const p = b.properties;
    const marker = L.circleMarker([lat, lon], { radius: 5, color: "#1565c0", weight: 1, fillOpacity: 0.7 });
    marker.bindPopup(() =>
      h("div", { className: "ph-pop" }, h("b", {}, p.address || p.code), h("div", {}, `${p.households} ${t.households}`), cfg.may.patrol ? visitForm(b) : null),
    );
    marker.feature = b;
    marker.addTo(layers.buildings);
  }
  const households = data.grids.features.reduce((n, f) => n + (f.properties.layer === "grid" ? f.properties.households || 0 : 0), 0);
  const names = data.grids.features.filter((f) => f.properties.layer === "grid").map((f) => f.properties.name);
  $("ph-grid-info").textContent = `${names.join("、")} · ${households} ${t.households} · ${data.buildings.features.length} ${t.buildings}`;
  const bounds = mine.getBounds();
  if (bounds.isValid()) map.fitBounds(bounds, { padding: [8, 8] });
}

async function loadGrid() {
  try {
    drawGrid(await api(URLS.grid));
  } catch (err) {
    $("ph-grid-info").textContent = errorText(err, t);
  }
}

async function loadEvents() {
  try {
    const data = await api(URLS.events);
    if (!usable("events", data)) return;
    layers.events.clearLayers();
    L.geoJSON(data, {
      pointToLayer: (f, latlng) => L.circleMarker(latlng, { radius: 7, color: "#e65100", weight: 2, fillOpacity: 0.8 }),
      // Said when opened: the category's name once the list has come.
      onEachFeature: (f, layer) =>
        layer.bindPopup(() => `#${f.id} ${categoryLabel(f.properties.category)} · ${t[`status_${f.properties.status}`] || f.properties.status}`),
    }).addTo(layers.events);
    state.openEvents = data.features.length;
  } catch (err) {
    /* kept from the last answer (the service worker's copy when offline) */
  }
}

// --- my position --------------------------------------------------------------------
let meMarker = null;
let meCircle = null;
const fixListeners = [];
function onFix(pos) {
  const c = pos.coords;
  state.fix = { lon: c.longitude, lat: c.latitude, accuracy: c.accuracy, at: pos.timestamp };
  const ll = [c.latitude, c.longitude];
  if (!meMarker) {
    meCircle = L.circle(ll, { radius: c.accuracy, color: "#1e88e5", weight: 1, fillOpacity: 0.12, interactive: false }).addTo(layers.me);
    meMarker = L.circleMarker(ll, { radius: 7, color: "#fff", weight: 2, fillColor: "#1e88e5", fillOpacity: 1 }).addTo(layers.me);
  } else {
    meCircle.setLatLng(ll).setRadius(c.accuracy);
    meMarker.setLatLng(ll);
  }
  meMarker.bindTooltip(fill(t.accuracy, { m: Math.round(c.accuracy) }));
  for (const fn of fixListeners) fn(state.fix);
}
if (navigator.geolocation) {
  navigator.geolocation.watchPosition(onFix, () => {}, { enableHighAccuracy: true, maximumAge: 10000, timeout: 30000 });
}

// --- patrols (巡查) -------------------------------------------------------------------
// A point is kept every ~30 s or 50 m, whichever comes first; points leave in numbered
// batches through the outbox (a batch sent twice is taken once by its number).
const PATROL_EVERY_MS = 30000;
const PATROL_EVERY_M = 50;
const BATCH_POINTS = 10;
const BATCH_MS = 60000;
let patrol = null; // {client_id, started_at, seq, buffer, last, track, distance, lastSent}
const trackLine = L.polyline([], { color: "#2e7d32", weight: 4 }).addTo(layers.me);
const dayTracks = L.layerGroup().addTo(map);
state.trackLine = trackLine;

function metres(a, b) {
  const R = 6371008.8;
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const x = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * R * Math.asin(Math.sqrt(x));
}

function drawPatrolButton() {
  const btn = $("ph-patrol-btn");
  btn.hidden = !cfg.may.patrol;
  btn.classList.toggle("ph-on", Boolean(patrol));
  btn.dataset.state = patrol ? "on" : "off";
  btn.textContent = patrol ? `${t.patrol_end} · ${fill(t.patrolling, { m: Math.round(patrol.distance) })}` : t.patrol_start;
}

async function sendBatch() {
  if (!patrol || !patrol.buffer.length) return;
  const next = Object.assign({}, patrol, { seq: patrol.seq + 1, buffer: [], lastSent: Date.now() });
  const item = { id: GridmapOutbox.newId(), kind: "json", url: `/api/patrols/${patrol.client_id}/points`, body: { seq: next.seq, points: patrol.buffer } };
  patrol = next;
  await enqueue(item, "patrol", next);
}

function onPatrolFix(fix, force) {
  if (!patrol) return;
  const now = Date.now();
  const last = patrol.last;
  if (!force && last && now - last.t < PATROL_EVERY_MS && metres(last, fix) < PATROL_EVERY_M) return;
  const point = { lon: Number(fix.lon.toFixed(7)), lat: Number(fix.lat.toFixed(7)), at: new Date().toISOString(), accuracy: Math.round(fix.accuracy || 0) };
  if (last) patrol.distance += metres(last, point);
  patrol.last = { lon: point.lon, lat: point.lat, t: now };
  patrol.buffer.push(point);
  patrol.track.push([point.lat, point.lon]);
  trackLine.setLatLngs(patrol.track);
  drawPatrolButton();
  // The first fix at once (the command view shows the worker from then on), then batches.
  if (patrol.seq === 0 || patrol.buffer.length >= BATCH_POINTS || now - patrol.lastSent > BATCH_MS) sendBatch();
  else GridmapOutbox.setMeta("patrol", patrol);
}
fixListeners.push((fix) => onPatrolFix(fix, false));

async function startPatrol() {
  const now = new Date().toISOString();
  const fresh = { client_id: GridmapOutbox.newId(), started_at: now, seq: 0, buffer: [], last: null, track: [], distance: 0, lastSent: Date.now() };
  const body = { client_id: fresh.client_id, started_at: now };
  if (state.fix) Object.assign(body, { lon: state.fix.lon, lat: state.fix.lat });
  patrol = fresh;
  await enqueue({ id: GridmapOutbox.newId(), kind: "json", url: "/api/patrols", body }, "patrol", fresh);
  if (state.fix) onPatrolFix(state.fix, true);
  drawPatrolButton();
}

async function endPatrol() {
  const f = state.fix;
  if (f && (!patrol.last || metres(patrol.last, f) > 1)) onPatrolFix(f, true); // the end point, once
  await sendBatch();
  const end = { id: GridmapOutbox.newId(), kind: "json", url: `/api/patrols/${patrol.client_id}/end`, body: { ended_at: new Date().toISOString() } };
  patrol = null;
  await enqueue(end, "patrol", null);
  trackLine.setLatLngs([]);
  drawPatrolButton();
}

$("ph-patrol-btn").addEventListener("click", () => (patrol ? endPatrol() : startPatrol()));

async function loadPatrols() {
  if (!cfg.may.patrol) return;
  try {
    const data = await api(URLS.patrols);
    if (!usable("patrols", data)) return;
    state.dayPatrols = data.patrols;
    dayTracks.clearLayers();
    for (const p of data.patrols) {
      if (p.track) L.geoJSON(p.track, { style: { color: "#2e7d32", weight: 3, opacity: 0.6, dashArray: "6 4" }, interactive: false }).addTo(dayTracks);
    }
  } catch (err) {
    /* offline: the kept answer or nothing */
  }
}

// --- visits (走访) ---------------------------------------------------------------------
function visitForm(building) {
  const p = building.properties;
  const [lon, lat] = building.geometry.coordinates;
  let kind = "routine";
  const kinds = h(
    "div",
    { className: "ph-kinds" },
    ["routine", "special_care", "dispute"].map((k) =>
      h(
        "button",
        {
          type: "button",
          className: "ph-kind" + (k === kind ? " ph-on" : ""),
          dataset: { kind: k },
          onclick: (e) => {
            kind = k;
            for (const b of kinds.children) b.classList.toggle("ph-on", b.dataset.kind === k);
          },
        },
        t[`visit_${k}`],
      ),
    ),
  );
  const note = h("textarea", { rows: 2, maxlength: 2000, placeholder: t.visit_note, className: "ph-visit-note" });
  return h(
    "form",
    {
      className: "ph-visit",
      dataset: { building: p.code },
      onsubmit: async (e) => {
        e.preventDefault();
        const id = GridmapOutbox.newId();
        await enqueue({
          id,
          kind: "json",
          url: "/api/visits",
          body: { client_id: id, kind, note: note.value.trim(), building_code: p.code, lon, lat, visited_at: new Date().toISOString() },
        });
        map.closePopup();
        toast(t.done);
      },
    },
    kinds,
    note,
    h("button", { type: "submit", className: "ph-btn ph-primary" }, t.visit),
  );
}

// --- tabs ---------------------------------------------------------------------------
function showView(name) {
  for (const v of ["map", "tasks", "today"]) $(`ph-view-${v}`).hidden = v !== name;
  for (const b of document.querySelectorAll(".ph-tab")) b.classList.toggle("ph-on", b.dataset.view === name);
  if (name === "map") map.invalidateSize();
  if (name === "tasks") loadTasks();
  if (name === "today") loadToday();
}
for (const b of document.querySelectorAll(".ph-tab")) b.addEventListener("click", () => showView(b.dataset.view));

// --- photos: downscaled on the phone ------------------------------------------------
async function downscale(file) {
  const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  const scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
  const w = Math.max(1, Math.round(bitmap.width * scale));
  const hh = Math.max(1, Math.round(bitmap.height * scale));
  const canvas = document.createElement("canvas");
  canvas.width = w;
  canvas.height = hh;
  canvas.getContext("2d").drawImage(bitmap, 0, 0, w, hh);
  bitmap.close();
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.82));
  const thumb = document.createElement("canvas");
  const ts = 72 / Math.max(w, hh);
  thumb.width = Math.max(1, Math.round(w * ts));
  thumb.height = Math.max(1, Math.round(hh * ts));
  thumb.getContext("2d").drawImage(canvas, 0, 0, thumb.width, thumb.height);
  return { blob, thumb: thumb.toDataURL("image/jpeg", 0.7), width: w, height: hh };
}

// --- report (上报) -------------------------------------------------------------------
const USAGE_KEY = "gridmap-phone-category-use";
const usage = () => JSON.parse(localStorage.getItem(USAGE_KEY) || "{}");
let draft = null; // {category, description, lon, lat, moved, photos: [{blob, thumb}]}
let pickMap = null;
let pin = null;

function saveDraft() {
  // Every change is kept at once: a reload or a crash of the page loses nothing typed.
  if (draft) GridmapOutbox.setMeta("draft", draft);
}

async function loadCategories() {
  try {
    const data = await api(URLS.categories);
    const seen = new Set();
    state.categories = data.categories.filter((c) => !seen.has(c.code) && seen.add(c.code));
  } catch (err) {
    /* the service worker's copy, or none */
  }
  drawCategories();
  // The task cards name their categories from this list.
  if (state.tasks.length) drawTasks();
}

function catName(c) {
  return cfg.lang === "en" && c.name_en ? c.name_en : c.name;
}

/** A category code as the worker reads it (the code itself until the list has come). */
function categoryLabel(code) {
  const c = state.categories.find((x) => x.code === code);
  return c ? catName(c) : code;
}

function drawCategories() {
  const box = $("ph-cats");
  box.replaceChildren();
  const q = $("ph-cat-search").value.trim().toLowerCase();
  const use = usage();
  let list = state.categories.slice();
  if (q) {
    list = list.filter((c) => `${c.code} ${c.name} ${c.name_en || ""} ${c.department_name || ""}`.toLowerCase().includes(q));
  } else {
    // The worker's most used first, then the list's order; a short list to tap from.
    list.sort((a, b) => (use[b.code] || 0) - (use[a.code] || 0));
    list = list.slice(0, 8);
  }
  if (draft && draft.category && !list.some((c) => c.code === draft.category)) {
    const chosen = state.categories.find((c) => c.code === draft.category);
    if (chosen) list.unshift(chosen);
  }
  for (const c of list) {
    box.append(
      h(
        "button",
        {
          type: "button",
          role: "option",
          className: "ph-cat" + (draft && draft.category === c.code ? " ph-on" : ""),
          dataset: { code: c.code },
          "aria-selected": draft && draft.category === c.code ? "true" : "false",
          onclick: () => {
            draft.category = c.code;
            saveDraft();
            drawCategories();
            whoIsResponsible();
          },
        },
        catName(c),
      ),
    );
  }
}
$("ph-cat-search").addEventListener("input", drawCategories);

function drawThumbs() {
  const box = $("ph-thumbs");
  box.replaceChildren(
    ...draft.photos.map((p, i) =>
      h(
        "span",
        { className: "ph-thumb" },
        h("img", { src: p.thumb, alt: `${t.photos} ${i + 1}` }),
        h(
          "button",
          {
            type: "button",
            "aria-label": "×",
            onclick: () => {
              draft.photos.splice(i, 1);
              saveDraft();
              drawThumbs();
            },
          },
          "×",
        ),
      ),
    ),
  );
}

$("ph-photo").addEventListener("change", async (e) => {
  const files = Array.from(e.target.files || []);
  e.target.value = "";
  for (const f of files) {
    if (draft.photos.length >= MAX_PHOTOS) break;
    try {
      draft.photos.push(await downscale(f));
    } catch (err) {
      toast(`${t.failed}: ${f.name}`);
    }
  }
  saveDraft();
  drawThumbs();
});

let whoSeq = 0;
async function whoIsResponsible() {
  const el = $("ph-who");
  if (!draft || draft.lon == null) {
    el.textContent = t.no_position;
    return;
  }
  const seq = ++whoSeq;
  const q = `lon=${draft.lon}&lat=${draft.lat}${draft.category ? `&category=${encodeURIComponent(draft.category)}` : ""}`;
  try {
    const r = await api(`/api/locate?${q}`);
    if (seq !== whoSeq) return;
    const dep = r.decision && r.decision.department ? ` · ${r.decision.department.name}` : "";
    const place = r.grid ? r.grid.name : t.responsible_unknown;
    el.textContent = `${t.responsible}${t.colon}${place}${r.team ? ` · ${r.team.name}` : ""}${dep}`;
    el.dataset.grid = r.grid ? r.grid.code : "";
  } catch (err) {
    if (seq !== whoSeq) return;
    el.textContent = `${t.responsible}${t.colon}${t.responsible_unknown}`;
    el.dataset.grid = "";
  }
}

function placePin() {
  if (draft.lon == null) return;
  const ll = [draft.lat, draft.lon];
  pin.setLatLng(ll);
  pickMap.setView(ll, Math.max(pickMap.getZoom() || 0, 16));
}

function followFix(fix) {
  // The pin follows the GPS until the worker drags it.
  if (!draft || draft.moved || $("ph-report").hidden) return;
  const first = draft.lon == null;
  draft.lon = Number(fix.lon.toFixed(7));
  draft.lat = Number(fix.lat.toFixed(7));
  placePin();
  if (first) whoIsResponsible();
}
fixListeners.push(followFix);

function openReport(existing) {
  draft = existing || { category: null, description: "", lon: null, lat: null, moved: false, photos: [] };
  $("ph-report").hidden = false;
  $("ph-desc").value = draft.description || "";
  $("ph-cat-search").value = "";
  $("ph-report-msg").textContent = "";
  drawCategories();
  drawThumbs();
  if (!pickMap) {
    pickMap = L.map("ph-pick", { zoomControl: false, attributionControl: false }).setView(map.getCenter(), 16);
    if (cfg.tileUrl) L.tileLayer(cfg.tileUrl, { maxZoom: 19 }).addTo(pickMap);
    if (window.GridmapBasemap) window.GridmapBasemap.attach(pickMap, { lang: cfg.lang, external: Boolean(cfg.tileUrl) });
    if (state.grid) L.geoJSON(state.grid.grids, { style: { color: "#b71c1c", weight: 2, fillOpacity: 0.03 }, interactive: false }).addTo(pickMap);
    pin = L.marker(map.getCenter(), { draggable: true, autoPan: true }).addTo(pickMap);
    pin.on("dragend", () => {
      const ll = pin.getLatLng();
      draft.lon = Number(ll.lng.toFixed(7));
      draft.lat = Number(ll.lat.toFixed(7));
      draft.moved = true;
      saveDraft();
      whoIsResponsible();
    });
    state.pin = pin;
  }
  setTimeout(() => pickMap.invalidateSize(), 0);
  if (draft.lon == null && state.fix) followFix(state.fix);
  else placePin();
  if (draft.lon == null) $("ph-who").textContent = state.fix ? "" : t.no_position;
  whoIsResponsible();
  saveDraft();
}

function closeReport() {
  $("ph-report").hidden = true;
  draft = null;
  GridmapOutbox.delMeta("draft");
}

$("ph-report-btn").addEventListener("click", () => {
  openReport(null);
  if (!state.categories.length) loadCategories(); // started with no signal and no copy
});
$("ph-cancel").addEventListener("click", closeReport);
$("ph-desc").addEventListener("input", () => {
  draft.description = $("ph-desc").value;
  saveDraft();
});

$("ph-report").addEventListener("submit", async (e) => {
  e.preventDefault();
  const msg = $("ph-report-msg");
  if (!draft.category) return void (msg.textContent = t.choose_category);
  if (draft.lon == null) return void (msg.textContent = t.need_place);
  const id = GridmapOutbox.newId();
  const item = {
    id,
    kind: "event",
    url: "/api/events",
    body: {
      source: "grid_worker",
      external_id: id,
      category: draft.category,
      description: draft.description || "",
      location: { lon: draft.lon, lat: draft.lat, crs: "wgs84" },
      reported_at: new Date().toISOString(),
    },
    photos: draft.photos.map((p) => p.blob),
  };
  const use = usage();
  use[draft.category] = (use[draft.category] || 0) + 1;
  localStorage.setItem(USAGE_KEY, JSON.stringify(use));
  // In the outbox first, then the draft is let go: never a moment when it is in neither.
  await enqueue(item);
  closeReport();
  if (!navigator.onLine) toast(t.saved_offline);
});

// --- tasks (待办) ---------------------------------------------------------------------
const time = (iso) => (iso ? new Date(iso).toLocaleString(cfg.lang === "en" ? "en-GB" : "zh-CN", { month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit" }) : "–");

async function loadTasks() {
  try {
    const data = await api(URLS.tasks);
    if (usable("tasks", data)) state.tasks = data.events;
  } catch (err) {
    /* the kept list (service worker) or the last one */
  }
  state.tasks = await withPending(state.tasks);
  drawTasks();
}

/** The task list as the worker left it: the actions still in the outbox applied on top
 * of the server's (or the kept) list, so a task started with no signal can be reported
 * back at once, and one reported back or returned leaves the list. */
async function withPending(tasks) {
  const byId = new Map(tasks.map((e) => [String(e.id), e]));
  for (const item of await GridmapOutbox.all()) {
    const m = item.kind === "action" && !item.failed && item.done_state ? /\/api\/events\/(\d+)\/actions\//.exec(item.url) : null;
    const ev = m && byId.get(m[1]);
    if (!ev) continue;
    ev.status = item.done_state;
    ev.pending = true;
    ev.allowed_actions = item.done_state === "in_progress" ? ["report_back", "return"] : [];
  }
  return tasks.filter((e) => e.status === "assigned" || e.status === "in_progress");
}

async function afterAction() {
  state.tasks = await withPending(state.tasks);
  drawTasks();
  toast(navigator.onLine ? t.done : t.saved_offline);
}

// Where each action takes the event: a resend after a lost answer that finds it there
// is done, not a failure (phone_outbox.js).
const DONE_STATE = { start: "in_progress", report_back: "reported_back", return: "returned" };

async function taskAction(ev, action, extra) {
  await enqueue({
    id: GridmapOutbox.newId(),
    kind: "action",
    url: `/api/events/${ev.id}/actions/${action}`,
    body: Object.assign({}, extra || {}),
    done_state: DONE_STATE[action],
  });
  // Where the action takes it, at once (sent already or not): the next step shows.
  ev.status = DONE_STATE[action];
  ev.allowed_actions = ev.status === "in_progress" ? ["report_back", "return"] : [];
}

// Each card drawn, by event, with what it was drawn from: a card whose task has not
// changed is kept as it is (a note being typed, its focus, its photos), whatever reloads
// the list meanwhile.
const cards = new Map(); // id -> {sig, li}

function drawTasks() {
  const list = $("ph-tasks");
  $("ph-task-count").textContent = state.tasks.length ? `(${state.tasks.length})` : "";
  if (!state.tasks.length) {
    cards.clear();
    list.replaceChildren(h("li", { className: "ph-empty" }, t.no_tasks));
    return;
  }
  const want = state.tasks.map((ev) => {
    const shown = (ev.allowed_actions || []).filter((a) => a in DONE_STATE).sort();
    const sig = JSON.stringify([ev.status, shown, ev.due_at, ev.response_due_at, ev.overdue, categoryLabel(ev.category), ev.description]);
    const had = cards.get(String(ev.id));
    const li = had && had.sig === sig ? had.li : taskItem(ev);
    cards.set(String(ev.id), { sig, li });
    li.querySelector(".ph-status").textContent = statusText(ev); // 待发送 comes and goes
    return li;
  });
  for (const id of [...cards.keys()]) if (!state.tasks.some((ev) => String(ev.id) === id)) cards.delete(id);
  const same = want.length === list.children.length && want.every((li, i) => list.children[i] === li);
  if (!same) list.replaceChildren(...want);
}

const statusText = (ev) => (t[`status_${ev.status}`] || ev.status) + (ev.pending ? ` · ${t.task_pending}` : "");

function taskItem(ev) {
  const allowed = new Set(ev.allowed_actions || []);
  const li = h("li", { className: "ph-task" + (ev.overdue ? " ph-overdue" : ""), dataset: { id: ev.id } });
  const loc = ev.location;
  li.append(
    h(
      "div",
      { className: "ph-task-head" },
      h("b", {}, `#${ev.id} ${categoryLabel(ev.category)}`),
      h("span", { className: "ph-status" }, statusText(ev)),
    ),
    h("div", {}, ev.description || ev.address || ""),
    h(
      "div",
      { className: "ph-clocks" },
      `${t.response_due} ${time(ev.response_due_at)} · ${t.due} ${time(ev.due_at)}`,
      ev.overdue ? h("b", { className: "ph-late" }, ` ${t.overdue}`) : null,
    ),
  );
  const row = h("div", { className: "ph-actions" });
  if (loc) row.append(h("a", { className: "ph-btn", href: `geo:${loc.lat},${loc.lon}?q=${loc.lat},${loc.lon}` }, t.navigate));
  if (cfg.may.reporter && ev.reporter && ev.reporter.phone) {
    row.append(
      h(
        "button",
        {
          type: "button",
          className: "ph-btn",
          onclick: async (e) => {
            try {
              // The full number comes through the audited reveal, only when tapped.
              const r = await api(`/api/events/${ev.id}/reporter`);
              e.target.replaceWith(h("a", { className: "ph-btn", href: `tel:${r.phone}` }, `${t.call} ${r.phone}`));
            } catch (err) {
              toast(errorText(err, t));
            }
          },
        },
        t.call,
      ),
    );
  }
  if (allowed.has("start") && cfg.may.start) {
    row.append(
      h(
        "button",
        {
          type: "button",
          className: "ph-btn ph-primary",
          dataset: { action: "start" },
          onclick: (e) =>
            once(e.currentTarget, async () => {
              await taskAction(ev, "start");
              await afterAction();
            }),
        },
        t.start,
      ),
    );
  }
  li.append(row);
  if (allowed.has("report_back") && cfg.may.report_back) li.append(reportBackForm(ev));
  if (allowed.has("return") && cfg.may.return) li.append(returnForm(ev));
  return li;
}

function reportBackForm(ev) {
  const note = h("textarea", { rows: 2, placeholder: t.note, maxlength: 2000, className: "ph-note" });
  const input = h("input", { type: "file", accept: "image/*", capture: "environment", className: "ph-after" });
  const thumbs = h("span", { className: "ph-thumbs" });
  const photos = [];
  // A half-written report-back (note and after photos) is kept like a report's draft.
  const key = `report_back:${ev.id}`;
  const keep = () => GridmapOutbox.setMeta(key, { note: note.value, photos });
  GridmapOutbox.getMeta(key).then((kept) => {
    if (!kept) return;
    if (!note.value) note.value = kept.note || "";
    for (const p of kept.photos || []) {
      photos.push(p);
      thumbs.append(h("img", { src: p.thumb, alt: t.after_photo }));
    }
  });
  note.addEventListener("input", keep);
  input.addEventListener("change", async () => {
    for (const f of Array.from(input.files || [])) {
      const p = await downscale(f);
      photos.push(p);
      thumbs.append(h("img", { src: p.thumb, alt: t.after_photo }));
    }
    input.value = "";
    keep();
  });
  return h(
    "form",
    {
      className: "ph-subform",
      dataset: { form: "report_back" },
      onsubmit: async (e) => {
        e.preventDefault();
        if (!note.value.trim()) return void note.focus();
        await once(e.submitter, async () => {
          // The after photos first, then the report: the outbox sends in this order.
          for (const p of photos) {
            // Said outright (the server would guess it from the team and the state too).
            await enqueue({ id: GridmapOutbox.newId(), kind: "photo", stage: "after", url: `/api/events/${ev.id}/photos?stage=after`, blob: p.blob });
          }
          await taskAction(ev, "report_back", { note: note.value.trim() });
          await GridmapOutbox.delMeta(key);
          await afterAction();
        });
      },
    },
    note,
    h("label", { className: "ph-photo-btn" }, t.after_photo, input),
    thumbs,
    h("button", { type: "submit", className: "ph-btn ph-primary" }, t.report_back),
  );
}

/** Run `fn` with `button` disabled (one tap, one action): the list drawn again after it
 * replaces the button; a failure on the way leaves it usable again, never greyed out. */
async function once(button, fn) {
  if (button) button.disabled = true;
  try {
    await fn();
  } catch (err) {
    if (button) button.disabled = false;
    throw err;
  }
}

function returnForm(ev) {
  const reason = h("input", { type: "text", placeholder: t.reason, maxlength: 2000, className: "ph-reason" });
  return h(
    "form",
    {
      className: "ph-subform",
      dataset: { form: "return" },
      onsubmit: async (e) => {
        e.preventDefault();
        if (!reason.value.trim()) return void reason.focus();
        await once(e.submitter, async () => {
          await taskAction(ev, "return", { reason: reason.value.trim() });
          await afterAction();
        });
      },
    },
    reason,
    h("button", { type: "submit", className: "ph-btn" }, t.return),
  );
}

// --- today (今日) ---------------------------------------------------------------------
async function loadToday() {
  const box = $("ph-today");
  let data = null;
  try {
    data = await api(URLS.today);
  } catch (err) {
    /* offline: the kept answer or nothing */
  }
  if (data && !usable("today", data)) return;
  box.replaceChildren();
  if (!data) return;
  for (const [key, value] of Object.entries(data.counts)) {
    box.append(h("div", { className: "ph-card", dataset: { key } }, h("div", { className: "ph-v" }, String(value)), h("div", {}, t[key] || key)));
  }
}

// --- start --------------------------------------------------------------------------
/** What an offline start could not load (no kept copy yet), asked again. */
function loadMissing() {
  if (!state.grid) loadGrid();
  if (!state.categories.length) loadCategories();
}

window.addEventListener("online", () => {
  showNet();
  loadMissing();
  flush();
});
window.addEventListener("offline", showNet);
window.addEventListener("focus", () => navigator.onLine && flush());
document.addEventListener("visibilitychange", () => document.visibilityState === "visible" && navigator.onLine && flush());

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register(cfg.sw, { scope: "/m" }).catch(() => {});
  // The first visit loaded its data before the service worker was there to keep a copy:
  // read again through it once it controls the page (only kept, nothing redrawn under
  // the worker's fingers), so the next start with no signal has it.
  navigator.serviceWorker.addEventListener("controllerchange", () => {
    for (const [name, url] of Object.entries(URLS)) {
      if (name !== "patrols" || cfg.may.patrol) fetch(url, { headers: { Accept: "application/json" } }).catch(() => {});
    }
  });
  navigator.serviceWorker.addEventListener("message", (e) => {
    // The service worker sent the outbox (background sync): what the page shows of it.
    if (e.data && e.data.type === "outbox-changed") {
      showPending();
      loadEvents();
      loadTasks();
      loadPatrols();
      if (!$("ph-view-today").hidden) loadToday();
    }
  });
}

(async () => {
  showNet();
  if (!cfg.may.report) $("ph-report-btn").hidden = true;
  await GridmapOutbox.setMeta("csrf", csrfToken());
  await showPending();
  patrol = (await GridmapOutbox.getMeta("patrol")) || null;
  if (patrol) trackLine.setLatLngs(patrol.track);
  drawPatrolButton();
  await Promise.all([loadGrid(), loadCategories(), loadEvents(), loadTasks(), loadPatrols()]);
  const kept = await GridmapOutbox.getMeta("draft");
  if (kept && (kept.category || kept.description || (kept.photos && kept.photos.length))) openReport(kept);
  state.ready = true;
  body.dataset.ready = "1";
  // The county's basemap (basemap.js) once the page is usable: not part of its first load.
  if (window.GridmapBasemap) window.GridmapBasemap.attach(map, { lang: cfg.lang, external: Boolean(cfg.tileUrl) });
  if (navigator.onLine) flush();
})();
