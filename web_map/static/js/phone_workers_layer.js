/* The command view's "网格员" layer: the grid workers on patrol now, each at its last fix
 * with the age of that fix (GET /api/patrols/live, the caller's areas only). A worker who
 * ended the patrol, or whose phone has been silent for 12 hours, is not shown there; the
 * day's patrol tracks (GET /api/patrols?since=, dashed once ended) and household visits
 * (GET /api/visits?since=) are drawn under them.
 *
 * Self-starting like basemap.js: once the page has loaded it finds the page's
 * configuration (#gm-config) and its Leaflet map (`mapName`), and draws the layer when the
 * configuration lists the "patrols" feature (the caller's role may read patrols).
 */
/* global L */
(function () {
  "use strict";

  const REFRESH_MS = 30000;
  // The day's tracks and visits are heavier (a county's day of LineStrings) and change
  // slower than the positions: read again every 5 minutes, and when the layer is shown.
  const DAY_REFRESH_MS = 300000;
  const LABELS = {
    zh: {
      layer: "网格员",
      fix: "{age}前定位",
      s: "秒",
      min: "分钟",
      h: "小时",
      km: "已巡 {km} 公里",
      patrol: "{user} 巡查 {km} 公里",
      visit_routine: "常规走访",
      visit_special_care: "特殊关爱户",
      visit_dispute: "矛盾纠纷回访",
    },
    en: {
      layer: "Grid workers",
      fix: "fix {age} ago",
      s: "s",
      min: "min",
      h: "h",
      km: "{km} km patrolled",
      patrol: "{user}'s patrol, {km} km",
      visit_routine: "Routine visit",
      visit_special_care: "Special-care household",
      visit_dispute: "Dispute follow-up",
    },
  };

  function config() {
    const node = document.getElementById("gm-config");
    if (!node) return null;
    try {
      return JSON.parse(node.textContent);
    } catch (err) {
      return null;
    }
  }

  function start() {
    const cfg = config();
    if (!cfg || !(cfg.features || []).includes("patrols")) return;
    const map = window[cfg.mapName];
    if (!map || typeof L === "undefined") return;
    const t = LABELS[cfg.lang === "en" ? "en" : "zh"];
    const fill = (s, p) => String(s).replace(/\{(\w+)\}/g, (a, k) => (k in p ? p[k] : a));
    const age = (sec) =>
      sec < 120 ? `${sec}${t.s}` : sec < 7200 ? `${Math.round(sec / 60)}${t.min}` : `${Math.round(sec / 3600)}${t.h}`;
    const group = L.layerGroup().addTo(map);
    const day = L.layerGroup().addTo(group); // today's tracks and visits, under the workers
    const live = L.layerGroup().addTo(group);
    const state = { workers: [], patrols: [], visits: [] };

    const read = async (url) => {
      const res = await fetch(url, { headers: { Accept: "application/json" } });
      return res.ok ? res.json() : null;
    };

    /** Since midnight here: the day's patrols (their tracks) and household visits. */
    async function refreshDay() {
      const midnight = new Date();
      midnight.setHours(0, 0, 0, 0);
      const since = encodeURIComponent(midnight.toISOString());
      let patrols;
      let visits;
      try {
        [patrols, visits] = await Promise.all([read(`/api/patrols?since=${since}`), read(`/api/visits?since=${since}`)]);
      } catch (err) {
        return;
      }
      if (!patrols || !visits) return;
      state.patrols = patrols.patrols;
      state.visits = visits.visits;
      day.clearLayers();
      for (const p of state.patrols) {
        if (!p.track) continue;
        const line = L.geoJSON(p.track, { style: { color: "#2e7d32", weight: 3, opacity: 0.7, dashArray: p.ended_at ? "6 4" : null } });
        line.bindTooltip(fill(t.patrol, { user: p.username, km: ((p.distance_m || 0) / 1000).toFixed(2) }));
        line.patrol = p;
        line.addTo(day);
      }
      for (const v of state.visits) {
        if (!v.location) continue;
        const m = L.circleMarker([v.location.lat, v.location.lon], { radius: 5, color: "#6a1b9a", weight: 2, fillColor: "#fff", fillOpacity: 1 });
        m.bindTooltip(`${v.username} · ${t[`visit_${v.kind}`] || v.kind}${v.building_code ? ` · ${v.building_code}` : ""}`);
        m.visit = v;
        m.addTo(day);
      }
    }

    let dayAt = 0;
    async function refresh() {
      if (!map.hasLayer(group)) return;
      if (Date.now() - dayAt >= DAY_REFRESH_MS) {
        dayAt = Date.now();
        refreshDay();
      }
      let data;
      try {
        const res = await fetch("/api/patrols/live", { headers: { Accept: "application/json" } });
        if (!res.ok) return;
        data = await res.json();
      } catch (err) {
        return; // the next refresh tries again
      }
      state.workers = data.workers;
      live.clearLayers();
      for (const w of data.workers) {
        const marker = L.circleMarker([w.lat, w.lon], { radius: 8, color: "#fff", weight: 2, fillColor: "#2e7d32", fillOpacity: 1 });
        const text = `${w.username} · ${fill(t.fix, { age: age(w.age_s) })} · ${fill(t.km, { km: (w.distance_m / 1000).toFixed(2) })}`;
        marker.bindTooltip(text); // text, never HTML
        marker.worker = w;
        marker.addTo(live);
      }
    }

    // A toggle of its own: the command view's layer control belongs to command_view.js.
    const Toggle = L.Control.extend({
      options: { position: "bottomleft" },
      onAdd() {
        const box = L.DomUtil.create("label", "leaflet-bar gm-workers-toggle");
        const input = L.DomUtil.create("input", "", box);
        input.type = "checkbox";
        input.checked = true;
        box.append(` ${t.layer}`);
        box.style.padding = "4px 8px";
        box.style.background = "#fff";
        L.DomEvent.disableClickPropagation(box);
        input.addEventListener("change", () => {
          if (input.checked) {
            group.addTo(map);
            dayAt = 0;
            refresh();
          } else {
            map.removeLayer(group);
          }
        });
        return box;
      },
    });
    new Toggle().addTo(map);
    refresh();
    setInterval(refresh, REFRESH_MS);
    window.GridmapWorkersLayer = { group, state, refresh, refreshDay };
  }

  if (document.readyState === "complete") start();
  else window.addEventListener("load", start);
})();
