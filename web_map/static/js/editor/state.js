/* The boundary editor's state, shared by its modules: the Leaflet map and its layer
 * groups, the page's configuration (web_map/editor.py) and labels, the draft being
 * edited; and the page's toast and busy mark. `map`, `cfg`, `L_` and the groups are live
 * bindings, set once by `configure` at the start. */

import { errorText } from "../common.js";
import { $, labeller } from "../page.js";

export let map = null;
export let cfg = null;
export let t = {};
/** A label, with {name} filled from `vars`. */
export let L_ = (key) => key;
export const S = {
  areas: { township: new Map(), community: new Map() }, // code -> {code, name, parent, feature}
  draft: null, // the draft as GET /api/drafts/{id} answered
  grids: new Map(), // code -> GeoJSON feature (the draft's view)
  gridLayers: new Map(), // code -> Leaflet layer
  tool: null,
  picked: [], // grid codes clicked for merge / delete
  reshaping: null, // {code, layer}
};
export let gridGroup = null;
export let labelGroup = null;
export let buildingGroup = null;
export let problemGroup = null;
export let contextGroup = null;

/** The editor starts: its map, panes and layer groups, and the server's configuration. */
export function configure(leafletMap, config) {
  map = leafletMap;
  cfg = config;
  t = cfg.labels;
  L_ = labeller(t);
  if (map.options.maxZoom === undefined) map.setMaxZoom(20);
  const panes = { "gm-context": 400, "gm-grids": 410, "gm-buildings": 420, "gm-labels": 430, "gm-problems": 640 };
  for (const [name, z] of Object.entries(panes)) map.createPane(name).style.zIndex = z;
  map.getPane("gm-labels").style.pointerEvents = "none";
  contextGroup = L.layerGroup().addTo(map);
  gridGroup = L.featureGroup().addTo(map);
  labelGroup = L.layerGroup().addTo(map);
  buildingGroup = L.layerGroup().addTo(map);
  problemGroup = L.featureGroup().addTo(map);
}

/** The communities as context under the draft (loaded once the areas are known). */
export function setContext(layer) {
  contextGroup = layer;
}

export function toast(text, kind) {
  const box = $("gm-toast");
  box.textContent = text;
  box.dataset.kind = kind || "info";
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (box.hidden = true), kind === "error" ? 8000 : 3500);
}

/** What a failed request says, after the editor's "something went wrong". */
export const failed = (err) => `${L_("error")}: ${errorText(err, t)}`;

/** Run an API call with the page marked busy (tests and users wait on it). */
export async function busy(fn) {
  document.body.dataset.busy = "true";
  try {
    return await fn();
  } catch (err) {
    toast(failed(err), "error");
    return null;
  } finally {
    document.body.dataset.busy = "false";
  }
}
