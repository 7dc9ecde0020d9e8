/* Search: instant answers from what the page holds (an event number, teams of loaded
 * events), then the server's (/api/search: areas, teams, places, events); what is found
 * is brought into view, outlined and opened. */

import { h, api } from "../common.js";
import { $, debounce } from "../page.js";
import { map, S, has, L_, categoryName, areaLabel } from "./state.js";
import { openEvent } from "./event_panel.js";
import { gridOpenEvents, openPanel, row } from "./panel.js";

let foundLayer = null; // the outline of what the search found

/** What is found without asking the server: an event number, teams of loaded events. */
export function localResults(q) {
  const needle = q.toLowerCase();
  const results = [];
  const id = q.replace(/^#/, "");
  if (/^\d+$/.test(id) && S.events.has(id)) {
    const ev = S.events.get(id);
    results.push({ key: `event:${id}`, kind: "event", byId: true, label: `${L_("event")} #${id} ${categoryName(ev.p.category)}`, go: () => goToEvent(id, ev.latlng) });
  }
  for (const ev of S.events.values()) {
    if (results.length >= 10) break;
    const team = (ev.p.team && ev.p.team.name) || "";
    if (team && String(team).toLowerCase().includes(needle)) {
      results.push({ key: `event:${ev.id}`, kind: "event", label: `${L_("team")}: ${team} · #${ev.id} ${categoryName(ev.p.category)}`, go: () => goToEvent(ev.id, ev.latlng) });
    }
  }
  return results;
}

export function bboxBounds(bbox) {
  return L.latLngBounds([bbox[1], bbox[0]], [bbox[3], bbox[2]]);
}

export function clearFound() {
  if (foundLayer) map.removeLayer(foundLayer);
  foundLayer = null;
}

/** Outline what was found: the area's own shape (from the OGC API), else its bbox. */
let highlightSeq = 0;
export async function highlight(hit) {
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
export async function goToEvent(id, latlng) {
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

export function goToBbox(bbox) {
  map.flyToBounds(bboxBounds(bbox), { maxZoom: 17, padding: [30, 30] });
}

export const PARENT_LAYER = { township: "county", community: "township", grid: "community", micro_grid: "grid", dedicated_grid: "grid", enforcement_zone: "county" };

export function areaPanel(hit) {
  const layerName = L_("layer_" + hit.layer);
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
      hit.layer === "grid" ? gridOpenEvents(hit.code) : null,
      h("p", { className: "gm-muted" }, L_("who_here_hint")),
    ),
  );
}

export function teamPanel(hit) {
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
export function remoteResult(hit) {
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

export function showResults(results, state) {
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

export async function searchServer(q, seq, local) {
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
export const searchServerSoon = debounce(searchServer, 250);

/** Instant answers from what the page holds, then the server's (debounced while typing). */
export function search(text, now) {
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
