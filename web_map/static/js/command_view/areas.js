/* The area layers (county, townships, communities, enforcement zones, grids): GeoJSON
 * for a small layer, vector tiles for a big one; the grids coloured by their open load. */

import { h, api, errorText } from "../common.js";
import { $, debounce } from "../page.js";
import { collectionItems, collectionSize } from "../ogc.js";
import { map, cfg, t, OPEN, S, has, L_ } from "./state.js";
import { showToast } from "./panel.js";

export const AREA_STYLE = {
  county: { color: "#0f172a", weight: 3, fill: false },
  township: { color: "#1d4ed8", weight: 2, fill: false },
  community: { color: "#64748b", weight: 1, fill: false, dashArray: "4 3" },
  enforcement_zone: { color: "#9333ea", weight: 2.5, fill: false, dashArray: "10 6" },
  grid: { color: "#94a3b8", weight: 0.6, fillColor: "#e2e8f0", fillOpacity: 0.15 },
};
export const PANE_Z = { grid: 401, community: 402, enforcement_zone: 403, township: 404, county: 405 };

export function gridStyle(code) {
  const load = S.gridLoad.get(code);
  const base = Object.assign({}, AREA_STYLE.grid);
  if (!load || !load.open) return base;
  const n = load.open;
  base.fillColor = n >= 4 ? "#dc2626" : n >= 2 ? "#f97316" : "#facc15";
  base.fillOpacity = 0.45;
  if (load.overdue) Object.assign(base, { color: "#7f1d1d", weight: 2.5, dashArray: "3 3" });
  return base;
}

export async function fetchCollection(layer) {
  // A layer drawn by tiles never travels whole: one feature's answer says how many
  // there are (numberMatched), and a big layer (the grids: megabytes) goes to tiles.
  if (has("tiles")) {
    const size = await collectionSize(layer);
    if (size !== null && size > cfg.geojsonMaxFeatures) return { features: [], tooMany: true };
  }
  // Follow the OGC `next` links until the layer is known to be too big for GeoJSON.
  return collectionItems(layer, cfg.geojsonMaxFeatures);
}

export function indexFeatures(features) {
  const byCode = new Map();
  for (const f of features) {
    const p = f.properties || {};
    if (p.code) byCode.set(p.code, { code: p.code, name: p.name || "", households: p.households, parent: p.parent_code, feature: f });
  }
  return byCode;
}

export async function loadAreaLayer(layer, overlays) {
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

export function tileLayer(layer) {
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
export async function loadVersion() {
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

export async function loadAreas(overlays) {
  if (!has("ogc")) return;
  await Promise.all(cfg.layers.map((layer) => loadAreaLayer(layer, overlays)));
  recolourGrids();
}

export const recolourGrids = debounce(() => {
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

export function fillTownshipFilter(byCode) {
  const sel = $("gm-filter-township");
  const current = sel.value;
  const items = [...byCode.values()].sort((a, b) => a.code.localeCompare(b.code));
  sel.replaceChildren(h("option", { value: "" }, L_("all")), ...items.map((a) => h("option", { value: a.code, selected: a.code === current }, a.name)));
}
