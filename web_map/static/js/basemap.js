/* The county's own basemap under a page's map: gridmap's basemap vector tiles (roads,
 * water, land use, buildings) in a restrained grey-green style below the grids, and the
 * names of the view (townships and communities from gridmap's areas, villages, roads,
 * POIs) as text labels above them. Everything comes from this service: no other host.
 *
 * Self-starting on the command view and the editor: once the page has loaded, it finds
 * the page's JSON configuration (#gm-config) and the Leaflet map it names (`mapName`), and
 * draws the basemap when the configuration lists the "basemap" feature. Other pages (the
 * phone's /m) call `GridmapBasemap.attach(map, {lang, external})` once they are usable:
 * the VectorGrid plugin and the label styles are then fetched on demand, so the basemap
 * adds nothing to such a page's first load. With a hosted basemap configured
 * (GRIDMAP_TILE_URL, `externalBasemap`), only the labels of gridmap's own areas and places
 * are drawn over it.
 *
 * The map's attribution line says whose basemap the view shows, from
 * /tiles/basemap/sources.json: "示意底图（合成数据）" for a synthetic one (the Gaoping demo),
 * the import's stored attribution for real data ("© OpenStreetMap contributors").
 */
(function () {
  "use strict";

  // Fills and strokes kept pale, so events, grid colours and boundaries stay readable.
  const ROAD_WEIGHT = { motorway: 3, trunk: 3, primary: 2.5, secondary: 2, tertiary: 1.8 };
  const STYLE = {
    landuse: () => ({ fill: true, fillColor: "#e8eedf", fillOpacity: 0.7, stroke: false }),
    water: (p) =>
      p.kind === "water" || p.kind === "riverbank"
        ? { fill: true, fillColor: "#cfe1ee", fillOpacity: 0.9, stroke: false }
        : { color: "#b5d0e6", weight: 1.5, opacity: 0.9, fill: false },
    railway: () => ({ color: "#b8b8b8", weight: 1.2, dashArray: "4 3", opacity: 0.9, fill: false }),
    road: (p) => ({
      color: ROAD_WEIGHT[p.kind] ? "#d6c8a8" : "#d9d9d9",
      weight: ROAD_WEIGHT[p.kind] || 1.2,
      opacity: 0.95,
      fill: false,
    }),
    building: () => ({ fill: true, fillColor: "#e6e1db", fillOpacity: 0.8, color: "#d8d1c8", weight: 0.5 }),
    // Points carry names; the labels layer writes them, the tile draws nothing for them.
    place: () => [],
    poi: () => [],
  };
  const BASEMAP_MIN_ZOOM = 8;
  const LABEL_MIN_ZOOM = 10;
  // web_map/assets.py LOCAL_JS["vectorGrid"] (tests/test_basemap.py checks they agree).
  const VECTORGRID_URL = "/static/vendor/leaflet.vectorgrid/dist/Leaflet.VectorGrid.bundled.min.js";
  const LABEL_CSS_URL = "/static/css/basemap.css";

  function config() {
    const node = document.getElementById("gm-config");
    if (!node) return null;
    try {
      return JSON.parse(node.textContent);
    } catch (err) {
      return null;
    }
  }

  function tiles(map) {
    map.createPane("gm-basemap").style.zIndex = 250; // above raster tiles, below the areas
    const styles = {};
    for (const [layer, style] of Object.entries(STYLE)) {
      styles[layer] = (properties) => style(properties || {});
    }
    // A tile that cannot be fetched (the phone offline, the service away) is drawn empty:
    // VectorGrid would leave its failed fetch as an unhandled rejection on the page.
    const Quiet = L.VectorGrid.Protobuf.extend({
      _getVectorTilePromise(coords, tileBounds) {
        return L.VectorGrid.Protobuf.prototype._getVectorTilePromise
          .call(this, coords, tileBounds)
          .catch(() => ({ layers: {} }));
      },
    });
    return new Quiet("/tiles/basemap/{z}/{x}/{y}.pbf", {
      pane: "gm-basemap",
      rendererFactory: L.svg.tile,
      vectorTileLayerStyles: styles,
      interactive: false,
      minZoom: BASEMAP_MIN_ZOOM,
      maxNativeZoom: 16,
    }).addTo(map);
  }

  function labelIcon(label) {
    const node = document.createElement("span");
    node.className = `gm-bm-label gm-bm-label-${label.layer}`;
    node.textContent = label.name; // text, never HTML
    return L.divIcon({ className: "gm-bm-label-box", html: node, iconSize: null });
  }

  function labels(map) {
    map.createPane("gm-basemap-labels").style.zIndex = 450; // above the areas, below markers
    map.getPane("gm-basemap-labels").style.pointerEvents = "none";
    const group = L.layerGroup().addTo(map);
    let asked = 0;
    async function refresh() {
      const z = map.getZoom();
      const mine = ++asked;
      if (z < LABEL_MIN_ZOOM) {
        group.clearLayers();
        return;
      }
      const b = map.getBounds();
      const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
      const bbox = [
        clamp(b.getWest(), -180, 180),
        clamp(b.getSouth(), -90, 90),
        clamp(b.getEast(), -180, 180),
        clamp(b.getNorth(), -90, 90),
      ].map((v) => v.toFixed(6));
      let body;
      try {
        const res = await fetch(`/tiles/basemap/labels.json?bbox=${bbox.join(",")}&z=${z}`, {
          credentials: "same-origin",
          headers: { Accept: "application/json" },
        });
        if (!res.ok) return;
        body = await res.json();
      } catch (err) {
        return; // labels are a nicety: the map works without them
      }
      if (mine !== asked) return; // a newer view was asked meanwhile
      group.clearLayers();
      for (const label of body.labels || []) {
        L.marker([label.point[1], label.point[0]], {
          icon: labelIcon(label),
          pane: "gm-basemap-labels",
          interactive: false,
          keyboard: false,
        }).addTo(group);
      }
    }
    let timer = null;
    map.on("moveend", () => {
      clearTimeout(timer);
      timer = setTimeout(refresh, 200);
    });
    refresh();
    return group;
  }

  // One load of the plugin however many maps ask for it (the phone has two).
  let vectorGridLoad = null;
  function loadVectorGrid() {
    if (!vectorGridLoad) {
      vectorGridLoad = new Promise((resolve, reject) => {
        const node = document.createElement("script");
        node.src = VECTORGRID_URL;
        node.onload = () => resolve();
        node.onerror = () => {
          vectorGridLoad = null; // asked again later, e.g. once the signal is back
          reject(new Error(`cannot load ${VECTORGRID_URL}`));
        };
        document.head.appendChild(node);
      });
    }
    return vectorGridLoad;
  }

  function ensureLabelStyles() {
    const has = [...document.querySelectorAll('link[rel="stylesheet"]')].some((node) =>
      node.href.endsWith(LABEL_CSS_URL)
    );
    if (has) return;
    const node = document.createElement("link");
    node.rel = "stylesheet";
    node.href = LABEL_CSS_URL;
    document.head.appendChild(node);
  }

  // The attribution line of the basemaps the view shows (by each county's extent).
  async function attribution(map, lang) {
    let sources;
    try {
      const res = await fetch(`/tiles/basemap/sources.json?lang=${encodeURIComponent(lang || "zh")}`, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (!res.ok) return;
      sources = (await res.json()).sources || [];
    } catch (err) {
      return;
    }
    const lines = sources.filter((s) => s.attribution && s.bbox);
    if (!lines.length) return;
    const control =
      map.attributionControl || L.control.attribution({ prefix: false, position: "bottomright" }).addTo(map);
    const shown = new Set();
    function update() {
      const view = map.getBounds();
      const want = new Set();
      for (const s of lines) {
        const [w, so, e, n] = s.bbox;
        if (view.intersects(L.latLngBounds([so, w], [n, e]))) want.add(s.attribution);
      }
      for (const text of shown) if (!want.has(text)) control.removeAttribution(text);
      for (const text of want) if (!shown.has(text)) control.addAttribution(text);
      shown.clear();
      want.forEach((text) => shown.add(text));
    }
    map.on("moveend", update);
    update();
  }

  // Draw the basemap on `map`: tiles (unless a hosted basemap is `external`), labels and
  // the attribution line. Safe to call once per map.
  async function attach(map, options) {
    const opts = options || {};
    if (!map || typeof L === "undefined" || map._gmBasemap) return;
    map._gmBasemap = true;
    ensureLabelStyles();
    labels(map);
    attribution(map, opts.lang);
    if (opts.external) return;
    if (!L.vectorGrid) {
      try {
        await loadVectorGrid();
      } catch (err) {
        return; // the basemap is a nicety: the page works without it
      }
    }
    if (L.vectorGrid) tiles(map);
  }

  window.GridmapBasemap = { attach };

  function start() {
    const cfg = config();
    if (!cfg || !(cfg.features || []).includes("basemap")) return;
    const map = window[cfg.mapName];
    if (!map || typeof L === "undefined") return;
    attach(map, { lang: cfg.lang, external: cfg.externalBasemap });
    window.GridmapBasemap.map = map;
  }

  if (document.readyState === "complete") start();
  else window.addEventListener("load", start);
})();
