/* The command view's state, shared by its modules: the Leaflet map, the page's
 * configuration (written by the server: web_map/command_view.py), its labels, and what
 * the page holds (events, areas, categories, the selection). `map`, `cfg`, `t` and `OPEN`
 * are live bindings: set once by `configure` at the start, read everywhere after. */

import { errorText } from "../common.js";

export const MAX_EVENTS = 5000; // markers kept on the page; more is a filter's job
export const PAGE = 1000;

export let map = null;
export let cfg = null;
export let t = {};
/** The open states (still someone's work), as the server's workflow says them. */
export let OPEN = new Set();

export const S = {
  events: new Map(), // id -> {id, p: properties, latlng}
  loadedBoxes: [], // L.LatLngBounds whose events are loaded under the current filters
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
  overlays: null, // the layer control
};

/** The page starts: its map and the server's configuration. */
export function configure(leafletMap, config) {
  map = leafletMap;
  cfg = config;
  t = cfg.labels;
  OPEN = new Set(cfg.constants.openStates);
}

export const has = (feature) => cfg.features.includes(feature);
export const L_ = (key) => (key in t ? t[key] : key);

/** A refusal or failure as the operator reads it: the catalogue's text for its code. */
export const failure = (err) => `${L_("failed")}${cfg.lang === "zh" ? "：" : ": "}${errorText(err, t)}`;

/** Only known values become CSS classes: data never chooses a class name. */
export const known = (value, list) => (list.includes(value) ? value : "unknown");

export function categoryName(code) {
  const c = S.categories.get(code);
  if (!c) return code || "";
  return (cfg.lang === "en" && (c.name_en || c.nameEn)) || c.name || code;
}

export function areaLabel(ref, layer) {
  if (!ref) return null;
  if (typeof ref === "string") {
    const found = S.areas[layer] && S.areas[layer].byCode.get(ref);
    return found ? `${found.name} (${ref})` : ref;
  }
  const name = ref.name || "";
  return ref.code ? `${name} (${ref.code})` : name;
}
