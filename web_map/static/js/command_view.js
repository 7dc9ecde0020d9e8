/* The command view (一张图): layers, live events, the side panel, actions, triage.
 *
 * Plain modern JavaScript, no build step. Every string that comes from data (names,
 * descriptions, log notes) is written with textContent / text nodes, never as HTML.
 * The page calls only the API features the server says it has (cfg.features): a call to
 * a missing endpoint would be a 404 and a console error on the wall screen.
 */
(function () {
  "use strict";

  const OPEN = new Set(["reported", "registered", "assigned", "in_progress", "reported_back", "returned"]);
  const MAX_EVENTS = 5000; // markers kept on the page; more is a filter's job
  const PAGE = 1000;

  let map = null;
  let cfg = null;
  let t = {};
  const S = {
    events: new Map(), // id -> {id, p: properties, latlng}
    markers: new Map(), // id -> L.Marker
    areas: {}, // layer -> {kind: "geojson"|"tiles", layer: L.Layer, byCode: Map}
    categories: new Map(), // code -> category object
    departments: new Map(), // department code -> name (from the responsibility list)
    triage: [], // events no one could place (from /api/events/triage)
    selected: null, // {kind: "event"|"here", id?}
    placing: null, // event id being placed from the triage queue
    lastEventId: null,
    loading: false,
    queued: [], // stream messages that arrived while events were loading
    gridLoad: new Map(), // grid code -> {open, overdue}
    styledTileCodes: new Set(),
    version: null, // the active boundary version: tile URLs carry it, so tiles cache for good
    searchSeq: 0, // the latest search typed: an older answer arriving late is dropped
    outcome: null, // the last action's answer {id, ok, text, at}: a redrawn panel still says it
  };
  let cluster = null;
  let heat = null;
  let hereMarker = null;
  let foundLayer = null; // the outline of what the search found
  let countdownTimer = null;

  // ---------------------------------------------------------------- small helpers

  const has = (feature) => cfg.features.includes(feature);
  const $ = (id) => document.getElementById(id);
  const L_ = (key) => (key in t ? t[key] : key);

  const { h, api, post, latest, aborted, errorText } = window.GridmapCommon;
  /** A refusal or failure as the operator reads it: the catalogue's text for its code. */
  const failure = (err) => `${L_("failed")}${cfg.lang === "zh" ? "：" : ": "}${errorText(err, t)}`;

  /** The first defined value among dotted paths of obj ("routing.team.name"). */
  function pick(obj, ...paths) {
    for (const path of paths) {
      let v = obj;
      for (const part of path.split(".")) {
        if (v === null || v === undefined) break;
        v = v[part];
      }
      if (v !== null && v !== undefined && v !== "") return v;
    }
    return null;
  }

  /** 138****5678: the map never shows a reporter's full number, whatever the API sends. */
  function maskPhone(phone) {
    if (!phone) return null;
    const s = String(phone);
    if (s.includes("*")) return s;
    const digits = s.replace(/\D/g, "");
    if (digits.length < 7) return "****";
    return `${digits.slice(0, 3)}****${digits.slice(-4)}`;
  }

  function fmtTime(value) {
    if (!value) return "";
    const d = new Date(value);
    if (Number.isNaN(d.getTime())) return String(value);
    return d.toLocaleString(cfg.lang === "zh" ? "zh-CN" : "en-GB", { hour12: false });
  }

  function fmtDuration(ms) {
    const m = Math.floor(Math.abs(ms) / 60000);
    const d = Math.floor(m / 1440);
    const hh = Math.floor((m % 1440) / 60);
    const mm = m % 60;
    return (d ? `${d}d ` : "") + `${String(hh).padStart(2, "0")}:${String(mm).padStart(2, "0")}`;
  }

  /** Only known values become CSS classes: data never chooses a class name. */
  const known = (value, list) => (list.includes(value) ? value : "unknown");

  function categoryName(code) {
    const c = S.categories.get(code);
    if (!c) return code || "";
    return (cfg.lang === "en" && (c.name_en || c.nameEn)) || c.name || code;
  }

  function areaLabel(ref, layer) {
    if (!ref) return null;
    if (typeof ref === "string") {
      const found = S.areas[layer] && S.areas[layer].byCode.get(ref);
      return found ? `${found.name} (${ref})` : ref;
    }
    const name = ref.name || "";
    return ref.code ? `${name} (${ref.code})` : name;
  }

  function debounce(fn, ms) {
    let timer = null;
    return (...args) => {
      clearTimeout(timer);
      timer = setTimeout(() => fn(...args), ms);
    };
  }

  // ---------------------------------------------------------------- area layers

  const AREA_STYLE = {
    county: { color: "#0f172a", weight: 3, fill: false },
    township: { color: "#1d4ed8", weight: 2, fill: false },
    community: { color: "#64748b", weight: 1, fill: false, dashArray: "4 3" },
    enforcement_zone: { color: "#9333ea", weight: 2.5, fill: false, dashArray: "10 6" },
    grid: { color: "#94a3b8", weight: 0.6, fillColor: "#e2e8f0", fillOpacity: 0.15 },
  };
  const PANE_Z = { grid: 401, community: 402, enforcement_zone: 403, township: 404, county: 405 };

  function gridStyle(code) {
    const load = S.gridLoad.get(code);
    const base = Object.assign({}, AREA_STYLE.grid);
    if (!load || !load.open) return base;
    const n = load.open;
    base.fillColor = n >= 4 ? "#dc2626" : n >= 2 ? "#f97316" : "#facc15";
    base.fillOpacity = 0.45;
    if (load.overdue) Object.assign(base, { color: "#7f1d1d", weight: 2.5, dashArray: "3 3" });
    return base;
  }

  async function fetchCollection(layer) {
    // A layer drawn by tiles never travels whole: one feature's answer says how many
    // there are (numberMatched), and a big layer (the grids: megabytes) goes to tiles.
    if (has("tiles")) {
      const probe = await api(`/ogc/collections/${encodeURIComponent(layer)}/items?limit=1`);
      if (probe && typeof probe.numberMatched === "number" && probe.numberMatched > cfg.geojsonMaxFeatures) {
        return { features: [], tooMany: true };
      }
    }
    // Follow the OGC `next` links until the layer is known to be too big for GeoJSON.
    const features = [];
    let url = `/ogc/collections/${encodeURIComponent(layer)}/items?limit=${cfg.geojsonMaxFeatures + 1}`;
    while (url && features.length <= cfg.geojsonMaxFeatures) {
      const fc = await api(url);
      features.push(...((fc && fc.features) || []));
      if (fc && typeof fc.numberMatched === "number" && fc.numberMatched > cfg.geojsonMaxFeatures) {
        return { features, tooMany: true };
      }
      const next = ((fc && fc.links) || []).find((l) => l.rel === "next");
      url = next && features.length <= cfg.geojsonMaxFeatures ? next.href : null;
    }
    return { features, tooMany: features.length > cfg.geojsonMaxFeatures };
  }

  function indexFeatures(features) {
    const byCode = new Map();
    for (const f of features) {
      const p = f.properties || {};
      if (p.code) byCode.set(p.code, { code: p.code, name: p.name || "", households: p.households, parent: p.parent_code, feature: f });
    }
    return byCode;
  }

  async function loadAreaLayer(layer, overlays) {
    if (!map.getPane(`gm-${layer}`)) {
      map.createPane(`gm-${layer}`).style.zIndex = PANE_Z[layer];
    }
    let entry = null;
    try {
      const { features, tooMany } = await fetchCollection(layer);
      if (tooMany && has("tiles")) {
        entry = { kind: "tiles", layer: tileLayer(layer), byCode: indexFeatures([]) };
      } else {
        const gj = L.geoJSON({ type: "FeatureCollection", features: features.slice(0, cfg.geojsonMaxFeatures) }, {
          pane: `gm-${layer}`,
          interactive: false, // a click anywhere asks "who is responsible here?"
          style: (f) => (layer === "grid" ? gridStyle(f.properties && f.properties.code) : AREA_STYLE[layer]),
        });
        entry = { kind: "geojson", layer: gj, byCode: indexFeatures(features) };
      }
    } catch (err) {
      showToast(`${L_("layer_" + layer)}: ${errorText(err, t)}`, "error");
      return;
    }
    const old = S.areas[layer];
    if (old) {
      map.removeLayer(old.layer);
      overlays.removeLayer(old.layer);
    }
    S.areas[layer] = entry;
    entry.layer.addTo(map);
    overlays.addOverlay(entry.layer, L_("layer_" + layer));
    if (layer === "county" && cfg.fitToCounty && entry.kind === "geojson" && entry.byCode.size) {
      map.fitBounds(entry.layer.getBounds(), { padding: [20, 20], animate: false });
    }
    if (layer === "township") fillTownshipFilter(entry.byCode);
  }

  function tileLayer(layer) {
    const style = layer === "grid" ? AREA_STYLE.grid : AREA_STYLE[layer];
    // The MVT layer name inside a tile is the server's choice: style whatever it is called.
    const anyName = new Proxy({}, { get: () => Object.assign({ fill: style.fill !== false }, style) });
    // With the version in the URL a tile never changes, so the browser keeps it for good;
    // a new version (boundaries.published) re-creates the layer with the new URL.
    const v = S.version !== null ? `?v=${encodeURIComponent(S.version)}` : "";
    return L.vectorGrid.protobuf(`/tiles/${encodeURIComponent(layer)}/{z}/{x}/{y}.pbf${v}`, {
      pane: `gm-${layer}`,
      rendererFactory: L.svg.tile,
      vectorTileLayerStyles: anyName,
      interactive: false,
      getFeatureId: (f) => f.properties && f.properties.code,
      maxNativeZoom: 16,
    });
  }

  /** The active boundary version: the page config's, else /health's (public, always served). */
  async function loadVersion() {
    if (cfg.version !== undefined && cfg.version !== null) {
      S.version = cfg.version;
      return;
    }
    try {
      const body = await api("/health");
      const active = body && body.active_version;
      S.version = active && Number.isInteger(active.id) ? active.id : null;
    } catch (err) {
      S.version = null; // tiles then revalidate each time: slower, never stale
    }
  }

  async function loadAreas(overlays) {
    if (!has("ogc")) return;
    await Promise.all(cfg.layers.map((layer) => loadAreaLayer(layer, overlays)));
    recolourGrids();
  }

  const recolourGrids = debounce(() => {
    S.gridLoad = new Map();
    for (const ev of S.events.values()) {
      const code = ev.p.grid_code;
      if (!code || !OPEN.has(ev.p.status)) continue;
      const load = S.gridLoad.get(code) || { open: 0, overdue: false };
      load.open += 1;
      load.overdue = load.overdue || Boolean(ev.p.overdue);
      S.gridLoad.set(code, load);
    }
    const grids = S.areas.grid;
    if (!grids) return;
    if (grids.kind === "geojson") {
      grids.layer.eachLayer((lyr) => lyr.setStyle(gridStyle(lyr.feature.properties.code)));
    } else {
      for (const code of S.styledTileCodes) if (!S.gridLoad.has(code)) grids.layer.resetFeatureStyle(code);
      for (const code of S.gridLoad.keys()) grids.layer.setFeatureStyle(code, Object.assign({ fill: true }, gridStyle(code)));
      S.styledTileCodes = new Set(S.gridLoad.keys());
    }
  }, 150);

  // ---------------------------------------------------------------- events on the map

  function filters() {
    return {
      status: $("gm-filter-status").value,
      priority: $("gm-filter-priority").value,
      category: $("gm-filter-category").value,
      township: $("gm-filter-township").value,
      window: $("gm-filter-window").value,
    };
  }

  function windowStart(win) {
    const now = new Date();
    if (win === "today") return new Date(now.getFullYear(), now.getMonth(), now.getDate());
    const hours = { "24h": 24, "7d": 168, "30d": 720 }[win];
    return hours ? new Date(now.getTime() - hours * 3600e3) : null;
  }

  /** The status filter's two summary choices: every open state, or the open overdue ones
   * (the map's default is open work; history is a status and time range on request). */
  function statusMatches(wanted, p) {
    if (!wanted) return true;
    if (wanted === "open") return OPEN.has(p.status);
    if (wanted === "overdue") return OPEN.has(p.status) && Boolean(p.overdue);
    return p.status === wanted;
  }

  function matchesFilters(p) {
    const f = filters();
    if (!statusMatches(f.status, p)) return false;
    if (f.priority && p.priority !== f.priority) return false;
    if (f.category && (p.category || p.category_code) !== f.category) return false;
    if (f.township && p.township_code !== f.township) return false;
    const since = windowStart(f.window);
    const at = p.received_at || p.reported_at;
    if (since && at && new Date(at) < since) return false;
    return true;
  }

  function eventsQuery(extra) {
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

  function normalise(feature) {
    const p = Object.assign({}, feature.properties || {});
    const id = p.id ?? feature.id;
    p.id = id;
    if (!p.category && p.category_code) p.category = p.category_code;
    const c = feature.geometry && feature.geometry.coordinates;
    const latlng = c && Number.isFinite(c[0]) && Number.isFinite(c[1]) ? L.latLng(c[1], c[0]) : null;
    return { id: String(id), p, latlng };
  }

  async function loadEvents() {
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
        const next = ((fc && fc.links) || []).find((l) => l.rel === "next");
        const cursor = fc && (fc.next_cursor || fc.cursor_next);
        url = next ? next.href : cursor ? `/api/events?${eventsQuery({ cursor })}` : null;
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

  function markerIcon(ev) {
    const p = ev.p;
    const classes = [
      "gm-dot",
      `prio-${known(p.priority, cfg.priorities)}`,
      `status-${known(p.status, cfg.statuses)}`,
      p.overdue ? "is-overdue" : "",
      OPEN.has(p.status) ? "is-open" : "is-done",
    ].join(" ");
    const dot = h("span", { className: classes, dataset: { eventId: ev.id, status: known(p.status, cfg.statuses) }, title: `#${ev.id}` });
    return L.divIcon({ className: "gm-marker", html: dot, iconSize: [18, 18], iconAnchor: [9, 9] });
  }

  function makeMarker(ev) {
    const marker = L.marker(ev.latlng, { icon: markerIcon(ev), keyboard: true, riseOnHover: true });
    marker.on("click", () => openEvent(ev.id));
    return marker;
  }

  function redrawMarkers() {
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
  function upsertEvent(ev, flash) {
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

  function flashMarker(id) {
    const el = document.querySelector(`.gm-dot[data-event-id="${CSS.escape(id)}"]`);
    if (!el) return;
    el.classList.remove("gm-flash");
    void el.offsetWidth; // restart the animation
    el.classList.add("gm-flash");
  }

  function refreshHeat() {
    if (!heat || !map.hasLayer(heat)) return;
    const pts = [];
    for (const ev of S.events.values()) if (ev.latlng && OPEN.has(ev.p.status)) pts.push([ev.latlng.lat, ev.latlng.lng, 1]);
    heat.setLatLngs(pts);
  }

  // ---------------------------------------------------------------- counters

  /** Totals of /api/stats (rows per township, summed): null when it says nothing usable. */
  async function statsTotals(since) {
    const q = since ? `?${new URLSearchParams({ since: since.toISOString() })}` : "";
    const body = await api(`/api/stats${q}`);
    const rows = body && (body.rows || body.items || (Array.isArray(body) ? body : null));
    if (!rows) return null;
    const sum = {};
    for (const n of ["received", "open", "open_overdue", "closed_on_time"]) sum[n] = rows.reduce((acc, r) => acc + (Number(r[n]) || 0), 0);
    return sum;
  }

  async function statsCounters() {
    // Received and closed on time count today; open and overdue (still open, past a
    // deadline: what needs attention now) count whenever received.
    const [today, all] = await Promise.all([statsTotals(windowStart("today")), statsTotals(null)]);
    if (!today || !all) return null;
    return { received: today.received, closed_on_time: today.closed_on_time, open: all.open, overdue: all.open_overdue };
  }

  function countLocally() {
    const today = windowStart("today");
    const c = { received: 0, open: 0, overdue: 0, closed_on_time: 0 };
    for (const ev of S.events.values()) {
      const p = ev.p;
      const at = new Date(p.received_at || p.reported_at || 0);
      if (at >= today) c.received += 1;
      if (OPEN.has(p.status)) c.open += 1;
      if (p.overdue && OPEN.has(p.status)) c.overdue += 1;
      if ((p.status === "closed" || p.status === "archived") && !p.overdue && p.closed_at && new Date(p.closed_at) >= today) c.closed_on_time += 1;
    }
    return c;
  }

  const refreshCounters = debounce(async () => {
    // The work queues' answer carries the counters, under the same filters (queues.js).
    if (has("queues")) return;
    let c = null;
    if (has("stats")) {
      try {
        c = await statsCounters();
      } catch (err) {
        c = null;
      }
    }
    c = c || countLocally();
    for (const node of document.querySelectorAll("[data-counter]")) {
      const v = c[node.dataset.counter];
      node.querySelector(".gm-counter-value").textContent = typeof v === "number" ? String(v) : "–";
    }
  }, 400);

  // ---------------------------------------------------------------- the live stream

  let stream = null;
  let retryMs = 1000;

  function setLive(state) {
    const node = $("gm-live");
    node.dataset.state = state;
    node.textContent = L_({ on: "live_on", off: "live_off", unavailable: "live_unavailable" }[state]);
  }

  function connectStream() {
    if (!has("stream")) {
      setLive("unavailable");
      return;
    }
    const q = S.lastEventId ? `?${new URLSearchParams({ last_id: S.lastEventId })}` : "";
    stream = new EventSource(`/api/stream${q}`);
    stream.onopen = () => {
      retryMs = 1000;
      setLive("on");
    };
    stream.onerror = () => {
      setLive("off");
      // EventSource retries by itself (sending Last-Event-ID) unless the server refused it;
      // then we reconnect with back-off and ask for what we missed with ?last_id.
      if (stream.readyState === EventSource.CLOSED) {
        stream = null;
        setTimeout(connectStream, retryMs);
        retryMs = Math.min(retryMs * 2, 30000);
      }
    };
    for (const kind of ["event.created", "event.changed", "event.overdue", "boundaries.published"]) {
      stream.addEventListener(kind, (msg) => {
        if (msg.lastEventId) S.lastEventId = msg.lastEventId;
        let data = null;
        try {
          data = JSON.parse(msg.data);
        } catch (err) {
          return; // a malformed message changes nothing
        }
        if (S.loading) S.queued.push({ kind, data });
        else applyMessage(kind, data);
        // The page's modules (queues, alerts) hear every message as it arrives.
        document.dispatchEvent(new CustomEvent("gm:message", { detail: { kind, data } }));
      });
    }
  }

  function applyMessage(kind, data) {
    if (kind === "boundaries.published") {
      if (data && Number.isInteger(data.version)) S.version = data.version;
      loadAreas(S.overlays);
      return;
    }
    if (!data || data.id === undefined || data.id === null) return;
    const p = Object.assign({}, data);
    const lon = Number(data.lon);
    const lat = Number(data.lat);
    const hasPoint = data.lon !== null && data.lon !== undefined && Number.isFinite(lon) && Number.isFinite(lat);
    const ev = { id: String(data.id), p, latlng: hasPoint ? L.latLng(lat, lon) : null };
    if (!p.category && p.category_code) p.category = p.category_code;
    if (kind === "event.overdue") p.overdue = true; // alerts.js raises the alert
    upsertEvent(ev, true);
    refreshCounters();
    if (data.unassigned || S.triage.some((e) => e.id === ev.id)) loadTriage();
    if (S.selected && S.selected.kind === "event" && S.selected.id === ev.id) openEvent(ev.id, { keepScroll: true });
  }

  // ---------------------------------------------------------------- toasts

  let toastTimer = null;
  function showToast(text, kind) {
    const node = $("gm-hint");
    node.hidden = false;
    node.className = `gm-toast gm-toast-${kind || "info"}`;
    node.textContent = text;
    clearTimeout(toastTimer);
    if (!S.placing) toastTimer = setTimeout(() => (node.hidden = true), 4000);
  }

  // ---------------------------------------------------------------- the side panel

  function openPanel(...children) {
    const body = $("gm-panel-body");
    body.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
    $("gm-panel").hidden = false;
  }

  function closePanel() {
    $("gm-panel").hidden = true;
    S.selected = null;
    clearFound();
    clearInterval(countdownTimer);
    if (hereMarker) {
      map.removeLayer(hereMarker);
      hereMarker = null;
    }
  }

  const row = (label, value) =>
    value === null || value === undefined || value === "" ? null : h("div", { className: "gm-row" }, h("dt", {}, label), h("dd", {}, value));

  function badge(kind, value) {
    const k = known(value, kind === "priority" ? cfg.priorities : cfg.statuses);
    return h("span", { className: `gm-badge ${kind}-${k}`, dataset: { [kind]: k } }, L_(`${kind}_${value}`));
  }

  function chainRows(ev, routing) {
    const r = routing || {};
    return [
      row(L_("grid"), areaLabel(pick(ev, "grid") || pick(r, "grid") || ev.grid_code, "grid")),
      row(L_("community"), areaLabel(pick(ev, "community") || pick(r, "chain.community") || ev.community_code, "community")),
      row(L_("township"), areaLabel(pick(ev, "township") || pick(r, "chain.township") || ev.township_code, "township")),
      row(L_("zone"), areaLabel(pick(ev, "enforcement_zone", "zone") || pick(r, "enforcement_zone") || ev.zone_code, "enforcement_zone")),
      row(L_("dedicated_grid"), areaLabel(pick(ev, "dedicated_grid") || pick(r, "dedicated_grid") || ev.dedicated_code, "dedicated_grid")),
    ];
  }

  function teamRows(ev, routing) {
    const r = routing || {};
    const team = pick(ev, "team") || pick(r, "team");
    const deptCode = pick(ev, "department_code");
    const dept = pick(ev, "department") || pick(r, "decision.department") || (deptCode ? S.departments.get(deptCode) || deptCode : null);
    const mode = pick(ev, "handling_mode") || pick(r, "decision.mode");
    return [
      row(L_("team"), team ? (typeof team === "object" ? [team.name, team.code ? ` (${team.code})` : ""].join("") : String(team)) : null),
      row(L_("department"), dept ? (typeof dept === "object" ? dept.name || dept.code : String(dept)) : null),
      row(L_("mode"), mode ? L_(`mode_${mode}`) : null),
      coHandlerRow(ev.co_handlers, ev),
    ];
  }

  /** A joint dispatch's co-handlers, each marked done (when) or awaited: who the lead
   * waits for. An operator who may record a co-handler's report gets a button on each
   * awaited one: the report is recorded on that team's behalf, with the note typed in the
   * action form (the timeline says on whose behalf). */
  function coHandlerRow(list, ev) {
    if (!Array.isArray(list) || !list.length) return null;
    const mayRecord = ev && has("event_actions") && cfg.mayAct.includes("co_report_back") && Array.isArray(ev.allowed_actions) && ev.allowed_actions.includes("co_report_back");
    const items = list.map((c) =>
      h(
        "li",
        { className: `gm-co ${c.reported_back_at ? "is-done" : "is-pending"}`, dataset: { team: c.team } },
        `${c.name || c.team} (${c.team}) · ${L_(c.reported_back_at ? "co_done" : "co_pending")}`,
        c.reported_back_at ? ` ${fmtTime(c.reported_back_at)}` : null,
        !c.reported_back_at && mayRecord
          ? h(
              "button",
              {
                type: "button",
                className: "gm-co-record",
                dataset: { team: c.team },
                onclick: (e) => runAction(ev, "co_report_back", e.currentTarget, (body) => Object.assign(body, { team: c.team })),
              },
              L_("co_record_for"),
            )
          : null,
      ),
    );
    return row(L_("co_handlers"), h("ul", { className: "gm-co-handlers" }, items));
  }

  /** Both clocks of an event (the API's `clocks`): a running one counts down to its
   * deadline, a stopped one says how long it took and whether in time; one past its
   * deadline is never shown as time left. */
  function clockRows(ev) {
    const clocks = ev.clocks || {};
    const overdue = Boolean(ev.overdue);
    return ["response", "handling"].map((name) => {
      const c = clocks[name];
      if (!c) return null;
      const state = known(c.state, ["running", "met", "missed", "not_started"]);
      let value;
      if (c.state === "not_started") value = L_("clock_not_started");
      else if (c.stopped_at) value = `${L_(`clock_${state}`)} · ${L_("clock_took")} ${fmtDuration((c.took_s || 0) * 1000)}`;
      else value = countdown(c.due_at, name, overdue);
      return row(L_(`clock_${name}`), h("span", { className: `gm-clock gm-clock-${state}`, dataset: { clock: name, state } }, value));
    });
  }

  const countdownTicks = new Map(); // clock name -> its tick, run by one timer

  /** A running clock: its deadline and the time left, or how late once past it. An event
   * marked overdue (the other clock missed) shows its time left as a warning, not green. */
  function countdown(dueAt, name, overdue) {
    const node = h("span", { className: "gm-countdown" });
    const tick = () => {
      const ms = new Date(dueAt).getTime() - Date.now();
      node.textContent = ms >= 0 ? `${L_("remaining")} ${fmtDuration(ms)}` : `${L_("overdue_by")} ${fmtDuration(ms)}`;
      node.classList.toggle("is-overdue", ms < 0);
      node.classList.toggle("is-warning", ms >= 0 && Boolean(overdue));
    };
    tick();
    countdownTicks.set(name || "deadline", tick);
    clearInterval(countdownTimer);
    countdownTimer = setInterval(() => countdownTicks.forEach((f) => f()), 1000);
    return h("span", {}, `${fmtTime(dueAt)} · `, node);
  }

  // The worker's photos before and after: two labelled groups, each only when it has one.
  // A photo without a stage (a plain URL) is a picture of the problem as reported.
  const PHOTO_STAGES = [
    ["report", "photos_report"],
    ["after", "photos_after"],
  ];

  function photoList(photos) {
    const groups = new Map(PHOTO_STAGES.map(([stage]) => [stage, []]));
    for (const ph of photos || []) {
      const url = typeof ph === "string" ? ph : ph && (ph.url || ph.href);
      // Same-origin paths only: no photo may make the wall screen call another host.
      if (typeof url !== "string" || !url.startsWith("/") || url.startsWith("//")) continue;
      const stage = ph && ph.stage === "after" ? "after" : "report";
      const label = L_(stage === "after" ? "photos_after" : "photos_report");
      groups.get(stage).push(h("a", { href: url, target: "_blank", rel: "noopener" }, h("img", { src: url, alt: label, loading: "lazy" })));
    }
    const sections = PHOTO_STAGES.filter(([stage]) => groups.get(stage).length).map(([stage, key]) =>
      h("section", { className: "gm-photo-group", dataset: { stage } }, h("h3", {}, L_(key)), h("div", { className: "gm-photos" }, groups.get(stage))),
    );
    return sections.length ? h("div", { className: "gm-photo-groups" }, sections) : null;
  }

  function timeline(entries) {
    if (!entries || !entries.length) return h("p", { className: "gm-muted" }, L_("no_data"));
    return h(
      "ol",
      { className: "gm-timeline" },
      entries.map((e) => {
        const d = e.data || {};
        // A step the system wrote says why as a catalogue code: said in the page's language.
        const coded = typeof d.note_code === "string" && `note_${d.note_code}` in t ? fillParams(t[`note_${d.note_code}`], d.note_params) : null;
        const note = coded || e.note || e.reason || d.note || d.reason || "";
        const action = e.action || e.kind || "";
        const actionLabel = t[`action_${action}`] || e.label || action;
        const extra = [];
        if (d.on_behalf_of) extra.push(fillParams(L_("note_on_behalf"), { team: d.on_behalf_of }));
        if (d.satisfaction) extra.push(fillParams(L_("note_satisfaction"), { score: d.satisfaction }));
        if (action === "escalate" && d.to_level) extra.push(fillParams(L_("note_escalated_to"), { to_level: d.to_level }));
        return h(
          "li",
          { dataset: { action: known(action, cfg.actions) } },
          h("time", {}, fmtTime(e.at || e.created_at)),
          h("strong", {}, ` ${actionLabel} `),
          h("span", { className: "gm-muted gm-actor" }, actorName(e)),
          note ? h("div", { className: "gm-note" }, note) : null,
          extra.length ? h("div", { className: "gm-note gm-note-extra" }, extra.join(cfg.lang === "zh" ? "；" : "; ")) : null,
        );
      }),
    );
  }

  /** `template` with {name} filled, each value said in the page's language where the
   * catalogue has a word for it (a level, a deadline, a satisfaction score). */
  function fillParams(template, params) {
    const p = params || {};
    return String(template).replace(/\{(\w+)\}/g, (all, key) => {
      if (p[key] === undefined || p[key] === null) return all;
      const v = p[key];
      const one = (x) => t[`param_${key}_${x}`] || String(x);
      return Array.isArray(v) ? v.map(one).join(t.list_sep || ", ") : one(v);
    });
  }

  /** Who acted, as a person reads it: the server's display name, else a source's name. */
  function actorName(e) {
    if (e.actor_name) return e.actor_name;
    const actor = String(e.actor || "");
    if (actor === "system") return L_("actor_system");
    if (actor.startsWith("source:")) return t[`source_${actor.slice(7)}`] || actor.slice(7);
    return actor.replace(/^(user|token):/, "");
  }

  // ------------------------------------------------------------ the team picker

  /** The teams offered for the open event (GET /api/events/{id}/team-candidates): to
   * hand it to (assign, joint dispatch: `purpose` "hand"), or to escalate it to (the next
   * level's teams: "escalate"). Each purpose has its own list in the form. */
  const PICKERS = {
    hand: { list: "gm-team-options", options: [] },
    escalate: { list: "gm-escalate-options", options: [] },
  };

  async function loadTeamOptions(evId, q, purpose) {
    if (!has("team_candidates")) return;
    const picker = PICKERS[purpose || "hand"];
    const params = new URLSearchParams();
    if (q) params.set("q", q);
    if (purpose === "escalate") params.set("purpose", "escalate");
    const query = params.toString() ? `?${params}` : "";
    let body = null;
    try {
      body = await latest(`team-candidates-${purpose || "hand"}`).api(`/api/events/${encodeURIComponent(evId)}/team-candidates${query}`);
    } catch (err) {
      if (!aborted(err)) picker.options = [];
      return;
    }
    picker.options = (body && body.teams) || [];
    const list = document.getElementById(picker.list);
    if (!list) return;
    list.replaceChildren(
      ...picker.options.map((c) =>
        h("option", { value: c.code, label: `${c.name} · ${L_(`why_${c.why}`)} · ${L_("open_load")} ${c.open_events}` }),
      ),
    );
  }

  /** The one team among `options` that `typed` names: by code, by its or its
   * department's name, else the only one whose name holds it; null if none or several. */
  function matchTeam(options, typed) {
    const byCode = options.filter((c) => c.code === typed);
    if (byCode.length) return byCode[0].code;
    const exact = options.filter((c) => c.name === typed || c.department === typed);
    if (exact.length === 1) return exact[0].code;
    const near = options.filter((c) => (c.name || "").includes(typed) || (c.department || "").includes(typed));
    return near.length === 1 ? near[0].code : null;
  }

  /** What was typed in a team field as a team code: a code as is, a team's or its
   * department's name as the one team the picker offers under it (asking the server when
   * the suggestions shown do not hold it). */
  async function teamCode(evId, typed, purpose) {
    const v = String(typed || "").trim();
    if (!v) return v;
    const local = matchTeam(PICKERS[purpose || "hand"].options, v);
    if (local) return local;
    if (!has("team_candidates")) return v;
    const extra = purpose === "escalate" ? "&purpose=escalate" : "";
    try {
      const body = await api(`/api/events/${encodeURIComponent(evId)}/team-candidates?q=${encodeURIComponent(v)}${extra}`);
      return matchTeam((body && body.teams) || [], v) || v;
    } catch (err) {
      return v; // the action itself will say what is wrong with it
    }
  }

  function teamInput(name, label, evId, purpose) {
    let timer = null;
    return h("input", {
      name,
      placeholder: label,
      "aria-label": label,
      list: PICKERS[purpose || "hand"].list,
      autocomplete: "off",
      oninput: (e) => {
        const value = e.target.value.split(/[,，、\s]+/).pop();
        clearTimeout(timer);
        timer = setTimeout(() => loadTeamOptions(evId, value, purpose), 200);
      },
    });
  }

  // ------------------------------------------------------------ acting from the panel

  /** The named inputs of an action form. */
  function fieldsOf(form) {
    const out = {};
    for (const input of form ? form.querySelectorAll("[name]") : []) out[input.name] = input;
    return out;
  }

  /** Run `action` on `ev` with what the action form holds; `extend(body)` adds what the
   * button itself knows (a co-handler's team). The button as clicked is re-enabled
   * whatever happens; the panel may be redrawn meanwhile (the live stream), so what is
   * re-enabled and where the answer is written is looked up again in the page as it is. */
  async function runAction(ev, action, button, extend) {
    if (button) button.disabled = true;
    try {
      await runActionOnce(ev, action, extend);
    } finally {
      // Whatever happened, the button as clicked works again (the one now in the panel
      // is re-enabled by runActionOnce).
      if (button) button.disabled = false;
    }
  }

  let outcomeSeq = 0; // the answers of the panel's actions, counted

  async function runActionOnce(ev, action, extend) {
    const fields = fieldsOf(actionsOf(ev.id));
    const value = (name) => (fields[name] ? fields[name].value.trim() : "");
    const body = {};
    const note = value("note");
    if (note) body.note = note;
    for (const need of cfg.workflow[action].requires) {
      if (need === "reason" || need === "note") body[need] = note;
      else if (need === "co_teams") body.co_teams = await Promise.all(value("co_teams").split(/[,，、\s]+/).filter(Boolean).map((x) => teamCode(ev.id, x)));
      else if (need === "target") {
        // Empty: the server merges into the event it found this one repeats (duplicate_of).
        if (value("target")) body.target = Number(value("target").replace(/^#/, ""));
      }
      else if (need === "satisfaction") body.satisfaction = Number(value("satisfaction"));
      else if (need === "team") {
        if (value("team")) body.team = await teamCode(ev.id, value("team"));
      } else if (value(need)) body[need] = value(need);
    }
    // An escalation goes to the team picked for it, else to the next level's duty team.
    if (action === "escalate" && value("escalate_team")) body.team = await teamCode(ev.id, value("escalate_team"), "escalate");
    if (extend) extend(body);
    S.outcome = null;
    let outcome = null;
    try {
      const result = await post(`/api/events/${encodeURIComponent(ev.id)}/actions/${encodeURIComponent(action)}`, body);
      outcome = { ok: true, text: L_("action_done") };
      const changed = result && (result.event || result);
      if (changed && changed.status) upsertEvent({ id: String(ev.id), p: Object.assign({}, changed, { id: String(ev.id) }), latlng: null }, true);
      clearTypedInputs();
      openEvent(String(ev.id), { keepScroll: true });
    } catch (err) {
      outcome = { ok: false, text: failure(err) };
    } finally {
      const form = actionsOf(ev.id);
      const current = form && form.querySelector(`button[data-action="${CSS.escape(action)}"]`);
      if (current) current.disabled = false;
      const shown = form && form.querySelector(".gm-action-message");
      if (outcome) {
        // Numbered, so a redraw showing an earlier step's answer is told from this one's.
        outcomeSeq += 1;
        S.outcome = Object.assign({ id: String(ev.id), at: Date.now(), seq: outcomeSeq, action }, outcome);
        if (shown) {
          shown.className = `gm-action-message ${outcome.ok ? "ok" : "error"}`;
          shown.textContent = outcome.text;
          shown.dataset.seq = String(outcomeSeq);
          shown.dataset.action = action;
        }
      }
    }
  }

  function actionForm(ev) {
    if (!has("event_actions")) return null;
    const status = ev.status;
    // The event says what it allows (its row is the truth); the page's table is the fallback.
    // Buttons only for what the viewer's role may do (cfg.mayAct; the API checks again).
    const actions = (Array.isArray(ev.allowed_actions)
      ? ev.allowed_actions.filter((a) => a in cfg.workflow)
      : Object.entries(cfg.workflow)
          .filter(([, rule]) => rule.from.includes(status))
          .map(([name]) => name)
    ).filter((a) => cfg.mayAct.includes(a));
    const said = S.outcome && S.outcome.id === String(ev.id) && Date.now() - S.outcome.at < 60000 ? S.outcome : null;
    const message = h(
      "div",
      { className: `gm-action-message${said ? (said.ok ? " ok" : " error") : ""}`, role: "status", dataset: said ? { seq: String(said.seq), action: said.action } : {} },
      said ? said.text : null,
    );
    // The step that ended the loop (merged, archived) still says it went through.
    if (!actions.length) return said ? h("section", { className: "gm-actions" }, message) : null;
    const needs = new Set(actions.flatMap((a) => cfg.workflow[a].requires));
    const inputs = [];
    const field = (name, label, attrs) => {
      inputs.push(h("input", Object.assign({ name, placeholder: label, "aria-label": label }, attrs || {})));
    };
    if (needs.has("team")) inputs.push(teamInput("team", L_("team_pick"), ev.id));
    if (needs.has("co_teams")) inputs.push(teamInput("co_teams", L_("co_teams_pick"), ev.id));
    if (needs.has("team") || needs.has("co_teams")) {
      inputs.push(h("datalist", { id: PICKERS.hand.list }));
      loadTeamOptions(ev.id, "", "hand");
    }
    if (actions.includes("escalate") && has("team_candidates")) {
      inputs.push(teamInput("escalate_team", L_("escalate_pick"), ev.id, "escalate"));
      inputs.push(h("datalist", { id: PICKERS.escalate.list }));
      loadTeamOptions(ev.id, "", "escalate");
    }
    field("note", L_("note"));
    if (needs.has("target")) field("target", L_("merge_target"), { inputmode: "numeric", value: ev.duplicate_of ? String(ev.duplicate_of) : null });
    if (needs.has("satisfaction")) {
      // The three choices of a return call, on the documented 1–5 scale.
      inputs.push(
        h(
          "select",
          { name: "satisfaction", "aria-label": L_("field_satisfaction") },
          h("option", { value: "" }, L_("satisfaction_choose")),
          [5, 3, 1].map((n) => h("option", { value: String(n) }, L_(`satisfaction_${n}`))),
        ),
      );
    }
    const buttons = actions.map((action) =>
      h(
        "button",
        {
          type: "button",
          className: `gm-action gm-action-${action}`,
          dataset: { action },
          onclick: (e) => runAction(ev, action, e.currentTarget),
        },
        L_(`action_${action}`),
      ),
    );
    return h("section", { className: "gm-actions" }, h("h3", {}, L_("actions")), h("div", { className: "gm-fields" }, inputs), h("div", { className: "gm-buttons" }, buttons), message);
  }

  /** The reporter's number for the return call: shown on request, and every look is
   * logged by the server (GET /api/events/{id}/reporter, audited). */
  function revealButton(evId, target) {
    if (!has("reporter")) return null;
    return h(
      "button",
      {
        type: "button",
        className: "gm-reveal",
        onclick: async (e) => {
          const button = e.currentTarget;
          button.disabled = true;
          try {
            const who = await api(`/api/events/${encodeURIComponent(evId)}/reporter`);
            target.textContent = [who.name, who.phone].filter(Boolean).join(" ");
            button.remove();
          } catch (err) {
            target.textContent = failure(err);
            button.disabled = false;
          }
        },
      },
      L_("show_number"),
    );
  }

  async function openEvent(id, opts) {
    id = String(id);
    S.selected = { kind: "event", id };
    const scroll = $("gm-panel-body").scrollTop;
    const local = S.events.get(id);
    let ev = local ? Object.assign({}, local.p) : { id };
    let log = null;
    if (!opts || !opts.keepScroll) openPanel(h("p", { className: "gm-muted" }, L_("loading")));
    try {
      if (has("event")) ev = Object.assign({}, ev, await api(`/api/events/${encodeURIComponent(id)}`));
      if (has("photos")) {
        const body = await api(`/api/events/${encodeURIComponent(id)}/photos`);
        ev.photos = Array.isArray(body) ? body : (body && (body.photos || body.items)) || [];
      }
      if (has("event_log")) {
        const body = await api(`/api/events/${encodeURIComponent(id)}/log?lang=${cfg.lang === "en" ? "en" : "zh-CN"}`);
        log = Array.isArray(body) ? body : body && (body.entries || body.items || body.log);
      }
    } catch (err) {
      if (!local) {
        openPanel(h("p", { className: "gm-error" }, failure(err)));
        return;
      }
    }
    if (!S.selected || S.selected.id !== id) return; // the operator moved on meanwhile
    if (!ev.category && ev.category_code) ev.category = ev.category_code;
    const routing = ev.routing || null;
    const reporter = ev.reporter || {};
    const phone = maskPhone(reporter.phone || ev.reporter_phone);
    const name = reporter.name || ev.reporter_name;
    const due = ev.clocks ? null : ev.due_at || ev.deadline;
    const typed = typedInputs(id);
    const reporterText = h("span", { className: "gm-reporter" }, [name, phone].filter(Boolean).join(" "));
    countdownTicks.clear();
    openPanel(
      h(
        "article",
        { className: "gm-event", dataset: { eventId: id } },
        h("h2", {}, `${L_("event")} #${id} `, badge("priority", ev.priority), " ", badge("status", ev.status)),
        h("p", { className: "gm-category" }, categoryName(ev.category)),
        h("h3", {}, L_("description")),
        h("p", { className: "gm-description" }, ev.description || ""),
        photoList(ev.photos),
        placeSection(ev),
        h(
          "dl",
          {},
          name || phone ? row(L_("reporter"), h("span", {}, reporterText, phone ? revealButton(id, reporterText) : null)) : null,
          row(L_("source"), ev.source ? t[`source_${ev.source}`] || ev.source : null),
          clockRows(ev),
          row(L_("deadline"), due ? countdown(due) : null),
          row(L_("escalation_level"), ev.escalation_level ? t[`param_level_${ev.escalation_level}`] || ev.escalation_level : null),
          ev.duplicate_of
            ? row(L_("duplicate_of"), h("button", { type: "button", className: "gm-link gm-duplicate", onclick: () => goToEvent(String(ev.duplicate_of), null) }, `#${ev.duplicate_of}`))
            : null,
          ev.satisfaction ? row(L_("field_satisfaction"), `${L_(`satisfaction_${ev.satisfaction}`)} (${ev.satisfaction})`) : null,
        ),
        h("h3", {}, L_("chain")),
        h("dl", { className: "gm-chain" }, chainRows(ev, routing)),
        h("dl", { className: "gm-team" }, teamRows(ev, routing)),
        actionForm(ev),
        has("event_log") ? h("section", {}, h("h3", {}, L_("timeline")), timeline(log)) : null,
      ),
    );
    restoreInputs(typed);
    if (opts && opts.keepScroll) $("gm-panel-body").scrollTop = scroll;
    if (local && local.latlng && !(opts && opts.keepScroll)) map.panTo(local.latlng);
  }

  /** What the operator has typed into the open event's action form: the panel is redrawn
   * whenever the event changes (the live stream), and a half-written note must survive. */
  function typedInputs(id) {
    const form = document.querySelector(`#gm-panel-body .gm-event[data-event-id="${CSS.escape(id)}"] .gm-actions`);
    if (!form) return null;
    const values = {};
    for (const input of form.querySelectorAll("input[name], select[name]")) if (input.value) values[input.name] = input.value;
    const focused = form.contains(document.activeElement) ? document.activeElement.name : null;
    return { values, focused };
  }

  function restoreInputs(typed) {
    if (!typed) return;
    const form = document.querySelector("#gm-panel-body .gm-event .gm-actions");
    if (!form) return;
    for (const input of form.querySelectorAll("input[name], select[name]")) {
      if (typed.values[input.name] !== undefined && !input.value) input.value = typed.values[input.name];
      if (input.name === typed.focused) input.focus();
    }
  }

  /** The action form of event `id` as the panel shows it now (null once it moved on). */
  function actionsOf(id) {
    return document.querySelector(`#gm-panel-body .gm-event[data-event-id="${CSS.escape(String(id))}"] .gm-actions`);
  }

  /** After an action went through, its words are spent: clear the form it was typed in. */
  function clearTypedInputs() {
    for (const input of document.querySelectorAll("#gm-panel-body .gm-actions input[name], #gm-panel-body .gm-actions select[name]")) input.value = "";
  }

  // ---------------------------------------------------------------- who is responsible here?

  function categorySelect(selected, onchange) {
    const sel = h("select", { id: "gm-here-category", "aria-label": L_("category"), onchange }, h("option", { value: "" }, L_("any_category")));
    for (const code of S.categories.keys()) sel.append(h("option", { value: code, selected: code === selected }, categoryName(code)));
    return sel;
  }

  async function whoIsHere(latlng, category) {
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
    const open = [...S.events.values()].filter((ev) => ev.p.grid_code === gridCode && OPEN.has(ev.p.status));
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
      gridCode
        ? h(
            "section",
            {},
            h("h3", {}, `${L_("open_events")} (${open.length})`),
            open.length
              ? h("ul", { className: "gm-list" }, open.map((ev) => h("li", {}, h("button", { type: "button", className: "gm-link", onclick: () => openEvent(ev.id) }, `#${ev.id} ${categoryName(ev.p.category)} · ${L_("status_" + ev.p.status)}`))))
              : h("p", { className: "gm-muted" }, L_("none")),
          )
        : null,
    );
  }

  // ---------------------------------------------------------------- triage: events to place

  const loadTriage = debounce(async () => {
    if (!has("triage")) return;
    try {
      const body = await api("/api/events/triage?limit=200");
      S.triage = ((body && body.events) || []).map((e) => ({ id: String(e.id), p: e }));
    } catch (err) {
      return; // the queue keeps what it showed; the next message tries again
    }
    renderTriage();
  }, 300);

  function renderTriage() {
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
  function candidateButtons(ev) {
    const found = (ev.p.routing && ev.p.routing.geocode && ev.p.routing.geocode.candidates) || [];
    return found.slice(0, 3).map((c, i) =>
      h(
        "button",
        { type: "button", className: "gm-candidate", dataset: { candidate: String(i) }, onclick: () => placeOnCandidate(ev.id, i) },
        `${L_("place_candidate")} ${c.matched} (${Math.round(c.confidence * 100)}%)`,
      ),
    );
  }

  async function placeOnCandidate(id, index) {
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
  function placeSection(ev) {
    const placeable = ["reported", "registered", "returned"].includes(ev.status);
    if (!has("place") || !placeable || ev.grid_code || ev.dedicated_code) return null;
    return h(
      "section",
      { className: "gm-place-here" },
      h("button", { type: "button", className: "gm-place", dataset: { eventId: String(ev.id) }, onclick: () => startPlacing(ev.id) }, L_("place")),
      candidateButtons({ id: String(ev.id), p: ev }),
    );
  }

  function startPlacing(id) {
    S.placing = String(id);
    map.getContainer().classList.add("gm-placing");
    showToast(L_("placing_hint").replace("{id}", S.placing), "info");
  }

  function stopPlacing() {
    S.placing = null;
    map.getContainer().classList.remove("gm-placing");
    $("gm-hint").hidden = true;
  }

  async function placeAt(latlng) {
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

  // ---------------------------------------------------------------- search

  /** What is found without asking the server: an event number, teams of loaded events. */
  function localResults(q) {
    const needle = q.toLowerCase();
    const results = [];
    const id = q.replace(/^#/, "");
    if (/^\d+$/.test(id) && S.events.has(id)) {
      const ev = S.events.get(id);
      results.push({ key: `event:${id}`, kind: "event", byId: true, label: `${L_("event")} #${id} ${categoryName(ev.p.category)}`, go: () => goToEvent(id, ev.latlng) });
    }
    for (const ev of S.events.values()) {
      if (results.length >= 10) break;
      const team = ev.p.team_name || (ev.p.team && ev.p.team.name) || ev.p.team_code || "";
      if (team && String(team).toLowerCase().includes(needle)) {
        results.push({ key: `event:${ev.id}`, kind: "event", label: `${L_("team")}: ${team} · #${ev.id} ${categoryName(ev.p.category)}`, go: () => goToEvent(ev.id, ev.latlng) });
      }
    }
    return results;
  }

  function bboxBounds(bbox) {
    return L.latLngBounds([bbox[1], bbox[0]], [bbox[3], bbox[2]]);
  }

  function clearFound() {
    if (foundLayer) map.removeLayer(foundLayer);
    foundLayer = null;
  }

  /** Outline what was found: the area's own shape (from the OGC API), else its bbox. */
  let highlightSeq = 0;
  async function highlight(hit) {
    const mine = ++highlightSeq;
    clearFound();
    if (!map.getPane("gm-found")) map.createPane("gm-found").style.zIndex = 450;
    const style = { pane: "gm-found", color: "#06b6d4", weight: 4, fill: true, fillOpacity: 0.08, interactive: false };
    let layer = L.rectangle(bboxBounds(hit.bbox), Object.assign({ dashArray: "6 4" }, style));
    if (hit.kind === "area" && hit.id !== null && has("ogc")) {
      try {
        const feature = await api(`/ogc/collections/${encodeURIComponent(hit.layer)}/items/${encodeURIComponent(hit.id)}`);
        if (feature && feature.geometry) layer = L.geoJSON(feature, { style: () => style, pane: "gm-found", interactive: false });
      } catch (err) {
        /* the bbox outline stays: the map still shows where it is */
      }
    }
    if (mine !== highlightSeq) return; // another result was chosen meanwhile
    clearFound();
    foundLayer = layer.addTo(map);
    // What is outlined, for the operator's screen reader and for tests.
    map.getPane("gm-found").dataset.found = `${hit.kind}:${hit.code || hit.id}`;
  }

  /** Bring an event into view and open its panel: where the page holds it, else where
   * the server says it is (an event outside the loaded filters or not yet heard of). */
  async function goToEvent(id, latlng) {
    clearFound();
    id = String(id);
    let where = latlng || (S.events.get(id) && S.events.get(id).latlng) || null;
    if (!where && has("event")) {
      try {
        const body = await api(`/api/events/${encodeURIComponent(id)}`);
        const loc = body && body.location;
        if (loc && Number.isFinite(loc.lat) && Number.isFinite(loc.lon)) where = L.latLng(loc.lat, loc.lon);
      } catch (err) {
        /* the panel says why it cannot be read */
      }
    }
    if (where) map.setView(where, Math.max(map.getZoom(), 17), { animate: false });
    openEvent(id);
  }

  function goToBbox(bbox) {
    map.flyToBounds(bboxBounds(bbox), { maxZoom: 17, padding: [30, 30] });
  }

  const PARENT_LAYER = { township: "county", community: "township", grid: "community", micro_grid: "grid", dedicated_grid: "grid", enforcement_zone: "county" };

  function areaPanel(hit) {
    const layerName = L_("layer_" + hit.layer);
    const open = hit.layer === "grid" ? [...S.events.values()].filter((ev) => ev.p.grid_code === hit.code && OPEN.has(ev.p.status)) : null;
    openPanel(
      h(
        "article",
        { className: "gm-found-area", dataset: { code: hit.code, layer: hit.layer } },
        h("h2", {}, `${layerName}: ${hit.name}`),
        h(
          "dl",
          {},
          row(L_("search_code"), hit.code),
          row(L_("households"), hit.households ?? null),
          row(L_("search_parent"), hit.parent_code ? areaLabel(hit.parent_code, PARENT_LAYER[hit.layer]) : null),
        ),
        open
          ? h(
              "section",
              {},
              h("h3", {}, `${L_("open_events")} (${open.length})`),
              open.length
                ? h("ul", { className: "gm-list" }, open.map((ev) => h("li", {}, h("button", { type: "button", className: "gm-link", onclick: () => openEvent(ev.id) }, `#${ev.id} ${categoryName(ev.p.category)} · ${L_("status_" + ev.p.status)}`))))
                : h("p", { className: "gm-muted" }, L_("none")),
            )
          : null,
        h("p", { className: "gm-muted" }, L_("who_here_hint")),
      ),
    );
  }

  function teamPanel(hit) {
    const dept = hit.department;
    const areas = hit.areas || [];
    openPanel(
      h(
        "article",
        { className: "gm-found-team", dataset: { code: hit.code } },
        h("h2", {}, `${L_("team")}: ${hit.name}`),
        h("dl", {}, row(L_("team_code"), hit.code), row(L_("department"), dept ? `${dept.name} (${dept.code})` : null)),
        h("h3", {}, `${L_("search_duty_areas")} (${hit.areas_total ?? areas.length})`),
        areas.length
          ? h(
              "ul",
              { className: "gm-list" },
              areas.map((a) =>
                h(
                  "li",
                  {},
                  h(
                    "button",
                    {
                      type: "button",
                      className: "gm-link",
                      onclick: () => {
                        if (a.bbox) {
                          goToBbox(a.bbox);
                          highlight({ kind: "area", id: null, code: a.code, layer: a.layer, bbox: a.bbox });
                        }
                      },
                    },
                    `${L_("layer_" + a.layer)}: ${a.name || ""} (${a.code})`,
                  ),
                ),
              ),
            )
          : h("p", { className: "gm-muted" }, L_("none")),
      ),
    );
  }

  /** A hit of /api/search as a result line and what clicking it does. */
  function remoteResult(hit) {
    if (hit.kind === "place") {
      // A road, POI, village or address of the basemap's register (gridmap.search.search_places).
      return {
        key: `place:${hit.layer}:${hit.name}`,
        kind: "place",
        code: hit.layer,
        label: `${L_("place_" + hit.layer)}: ${hit.name}`,
        go: () => {
          if (hit.bbox) {
            goToBbox(hit.bbox);
            highlight(hit);
          }
        },
      };
    }
    if (hit.kind === "event") {
      const latlng = hit.point ? L.latLng(hit.point[1], hit.point[0]) : null;
      const status = hit.status ? ` · ${L_("status_" + hit.status)}` : "";
      return { key: `event:${hit.id}`, kind: "event", byId: true, label: `${L_("event")} #${hit.id} ${categoryName(hit.category) || hit.name}${status}`, go: () => goToEvent(hit.id, latlng) };
    }
    if (hit.kind === "team") {
      const dept = hit.department ? ` · ${hit.department.name}` : "";
      return {
        key: `team:${hit.id}`,
        kind: "team",
        label: `${L_("team")}: ${hit.name} (${hit.code})${dept}`,
        go: () => {
          clearFound();
          if (hit.bbox) {
            goToBbox(hit.bbox);
            highlight(hit);
          }
          teamPanel(hit);
        },
      };
    }
    return {
      key: `area:${hit.layer}:${hit.code}`,
      kind: "area",
      code: hit.code,
      label: `${L_("layer_" + hit.layer)}: ${hit.name} (${hit.code})`,
      go: () => {
        if (hit.bbox) {
          goToBbox(hit.bbox);
          highlight(hit);
        }
        areaPanel(hit);
      },
    };
  }

  function showResults(results, state) {
    const box = $("gm-search-results");
    const seen = new Set();
    const unique = results.filter((r) => !seen.has(r.key) && seen.add(r.key));
    const lines = unique.map((r) =>
      h("button", { type: "button", className: "gm-result", dataset: { kind: r.kind || "local", code: r.code || "" }, onclick: () => { box.hidden = true; r.go(); } }, r.label),
    );
    if (state === "searching") lines.push(h("p", { className: "gm-muted gm-search-state" }, L_("loading")));
    else if (state === "failed") lines.push(h("p", { className: "gm-error gm-search-state" }, L_("search_failed")));
    else if (!unique.length) lines.push(h("p", { className: "gm-muted gm-search-state" }, L_("search_none")));
    box.replaceChildren(...lines);
    box.hidden = false;
    box.dataset.state = state;
  }

  async function searchServer(q, seq, local) {
    try {
      const body = await api(`/api/search?${new URLSearchParams({ q, limit: "10" })}`);
      if (seq !== S.searchSeq) return; // the operator typed on meanwhile
      // A name finds places and teams before events: an event number typed is the one
      // exception (it names that event); events whose team matches come last.
      const remote = ((body && body.results) || []).map(remoteResult);
      const rank = (r) => (r.byId ? 0 : r.kind === "area" ? 1 : r.kind === "team" ? 2 : 3);
      const ranked = [...local, ...remote].map((r, i) => ({ r, i })).sort((a, b) => rank(a.r) - rank(b.r) || a.i - b.i);
      showResults(ranked.map((x) => x.r), "done");
    } catch (err) {
      if (seq !== S.searchSeq) return;
      showResults(local, err.status === 422 ? "done" : "failed");
    }
  }
  const searchServerSoon = debounce(searchServer, 250);

  /** Instant answers from what the page holds, then the server's (debounced while typing). */
  function search(text, now) {
    const q = text.trim();
    const seq = ++S.searchSeq;
    if (!q) {
      $("gm-search-results").hidden = true;
      return;
    }
    const local = localResults(q);
    showResults(local, "searching");
    if (now) searchServer(q, seq, local);
    else searchServerSoon(q, seq, local);
  }

  // ---------------------------------------------------------------- filters and categories

  function fillTownshipFilter(byCode) {
    const sel = $("gm-filter-township");
    const current = sel.value;
    const items = [...byCode.values()].sort((a, b) => a.code.localeCompare(b.code));
    sel.replaceChildren(h("option", { value: "" }, L_("all")), ...items.map((a) => h("option", { value: a.code, selected: a.code === current }, a.name)));
  }

  async function loadCategories() {
    if (!has("categories")) return;
    try {
      const body = await api("/api/categories");
      const list = Array.isArray(body) ? body : (body && (body.categories || body.items)) || [];
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

  // ---------------------------------------------------------------- start

  async function start(leafletMap, config) {
    map = leafletMap;
    cfg = config;
    t = cfg.labels;
    // The caller's areas (China until the county layer arrives, for a caller with none):
    // the set-up script is the same for everyone, a file the Content-Security-Policy allows.
    map.fitBounds(cfg.bounds, { animate: false });
    // Clustering builds its grids for the map's zoom range when it is added and later walks
    // whatever range the map has then: a range left to the layers changes as layers arrive
    // (the basemap starts at zoom 8, the grid tiles at 0), and a zoom outside the first
    // range throws. So the range is fixed here, before the cluster is made.
    if (map.options.maxZoom === undefined) map.setMaxZoom(19);
    if (map.options.minZoom === undefined) map.setMinZoom(0);
    cluster = L.markerClusterGroup({ chunkedLoading: true, showCoverageOnHover: false, maxClusterRadius: 45, disableClusteringAtZoom: 16 });
    cluster.addTo(map);
    heat = L.heatLayer([], { radius: 22, blur: 18, maxZoom: 15 });
    heat.on("add", refreshHeat);
    const overlays = L.control.layers(null, {}, { collapsed: false, position: "bottomleft" }).addTo(map);
    overlays.addOverlay(cluster, L_("layer_events"));
    overlays.addOverlay(heat, L_("layer_heat"));
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
    loadTriage();
    refreshCounters();
    setInterval(refreshCounters, 60000); // "today" rolls over; deadlines pass
    if (cfg.query) search(cfg.query, true);
    document.body.dataset.ready = "true";
    resolveReady();
  }

  let resolveReady = null;
  const ready = new Promise((resolve) => (resolveReady = resolve));
  let resolveStarted = null;
  const started = new Promise((resolve) => (resolveStarted = resolve));

  // What the page's modules (web_map/static/js/*.js as ES modules) use of the map.
  window.GridmapCommandView = {
    start,
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
})();
