/* The command view's "网格员" layer: the grid workers on patrol now, each at its last fix
 * with the age of that fix (GET /api/patrols/live, the caller's areas only). A worker who
 * ended the patrol, or whose phone has been silent for 12 hours, is not shown.
 *
 * Self-starting like basemap.js: once the page has loaded it finds the page's
 * configuration (#gm-config) and its Leaflet map (`mapName`), and draws the layer when the
 * configuration lists the "patrols" feature (the caller's role may read patrols).
 */
/* global L */
(function () {
  "use strict";

  const REFRESH_MS = 30000;
  const LABELS = {
    zh: { layer: "网格员", fix: "{age}前定位", s: "秒", min: "分钟", h: "小时", km: "已巡 {km} 公里" },
    en: { layer: "Grid workers", fix: "fix {age} ago", s: "s", min: "min", h: "h", km: "{km} km patrolled" },
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
    const state = { workers: [] };

    async function refresh() {
      if (!map.hasLayer(group)) return;
      let data;
      try {
        const res = await fetch("/api/patrols/live", { headers: { Accept: "application/json" } });
        if (!res.ok) return;
        data = await res.json();
      } catch (err) {
        return; // the next refresh tries again
      }
      state.workers = data.workers;
      group.clearLayers();
      for (const w of data.workers) {
        const marker = L.circleMarker([w.lat, w.lon], { radius: 8, color: "#fff", weight: 2, fillColor: "#2e7d32", fillOpacity: 1 });
        const text = `${w.username} · ${fill(t.fix, { age: age(w.age_s) })} · ${fill(t.km, { km: (w.distance_m / 1000).toFixed(2) })}`;
        marker.bindTooltip(text); // text, never HTML
        marker.worker = w;
        marker.addTo(group);
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
    window.GridmapWorkersLayer = { group, state, refresh };
  }

  if (document.readyState === "complete") start();
  else window.addEventListener("load", start);
})();
