/* The boundary editor: pick a community or township, edit its grids in a private draft
 * (split, merge, reshape, add, delete, regenerate), see the checks and the diff, undo/redo,
 * publish with a reason, rebase after a conflict.
 *
 * Plain modern JavaScript, no build step. Every string that comes from data (names, codes,
 * problem messages) is written with textContent / text nodes, never as HTML. Each edit is
 * one POST to /api/drafts/{id}/edits; the server answers with the changed grids, the
 * located problems and the diff, and the page redraws only what changed.
 */
(function () {
  "use strict";

  let map = null;
  let cfg = null;
  let t = {};
  const S = {
    areas: { township: new Map(), community: new Map() }, // code -> {code, name, parent, feature}
    draft: null, // the draft as GET /api/drafts/{id} answered
    grids: new Map(), // code -> GeoJSON feature (the draft's view)
    gridLayers: new Map(), // code -> Leaflet layer
    tool: null,
    picked: [], // grid codes clicked for merge / delete
    reshaping: null, // {code, layer}
  };
  let gridGroup = null;
  let labelGroup = null;
  let buildingGroup = null;
  let problemGroup = null;
  let contextGroup = null;

  // ---------------------------------------------------------------- small helpers

  const $ = (id) => document.getElementById(id);
  const L_ = (key, vars) => {
    let s = key in t ? t[key] : key;
    for (const [k, v] of Object.entries(vars || {})) s = s.split(`{${k}}`).join(String(v));
    return s;
  };

  const { h, api, post } = window.GridmapCommon;

  function toast(text, kind) {
    const box = $("gm-toast");
    box.textContent = text;
    box.dataset.kind = kind || "info";
    box.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => (box.hidden = true), kind === "error" ? 8000 : 3500);
  }

  /** Run an API call with the page marked busy (tests and users wait on it). */
  async function busy(fn) {
    document.body.dataset.busy = "true";
    try {
      return await fn();
    } catch (err) {
      toast(`${L_("error")}: ${err.message}`, "error");
      return null;
    } finally {
      document.body.dataset.busy = "false";
    }
  }

  // ---------------------------------------------------------------- geometry (pure)

  function ringContains(ring, x, y) {
    let inside = false;
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const [xi, yi] = ring[i];
      const [xj, yj] = ring[j];
      if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
    }
    return inside;
  }

  function polygonContains(geometry, x, y) {
    const polys = geometry.type === "Polygon" ? [geometry.coordinates] : geometry.type === "MultiPolygon" ? geometry.coordinates : [];
    return polys.some((rings) => ringContains(rings[0], x, y) && !rings.slice(1).some((hole) => ringContains(hole, x, y)));
  }

  /** Points along a line, every `n`th of each segment: to find which grid a line cuts. */
  function samples(coords, n) {
    const out = [];
    for (let i = 1; i < coords.length; i++) {
      const [x0, y0] = coords[i - 1];
      const [x1, y1] = coords[i];
      for (let k = 0; k <= n; k++) out.push([x0 + ((x1 - x0) * k) / n, y0 + ((y1 - y0) * k) / n]);
    }
    return out;
  }

  /** The grid a drawn line crosses most: the planner splits one grid at a time. */
  function gridUnderLine(coords) {
    let best = null;
    let most = 0;
    const pts = samples(coords, 40);
    for (const [code, f] of S.grids) {
      const n = pts.filter(([x, y]) => polygonContains(f.geometry, x, y)).length;
      if (n > most) [best, most] = [code, n];
    }
    return best;
  }

  // ---------------------------------------------------------------- picking a scope

  async function loadAreas() {
    for (const layer of ["township", "community"]) {
      try {
        const fc = await api(`/ogc/collections/${layer}/items?limit=1000`);
        for (const f of (fc && fc.features) || []) {
          const p = f.properties || {};
          if (p.code) S.areas[layer].set(p.code, { code: p.code, name: p.name || "", parent: p.parent_code, feature: f });
        }
      } catch (err) {
        toast(`${L_("layer_" + layer)}: ${err.message}`, "error");
      }
    }
    contextGroup = L.geoJSON(
      { type: "FeatureCollection", features: [...S.areas.community.values()].map((a) => a.feature) },
      { pane: "gm-context", interactive: false, style: { color: "#64748b", weight: 1, fill: false, dashArray: "4 4" } },
    ).addTo(map);
    if (contextGroup.getLayers().length) map.fitBounds(contextGroup.getBounds(), { animate: false });
  }

  function findAreas(text) {
    const needle = text.trim().toLowerCase();
    const out = [];
    if (!needle) return out;
    for (const layer of ["community", "township"]) {
      for (const a of S.areas[layer].values()) {
        if (out.length >= 20) return out;
        if (a.code.toLowerCase().startsWith(needle) || a.name.toLowerCase().includes(needle)) out.push({ layer, area: a });
      }
    }
    return out;
  }

  function showPickResults(text) {
    const box = $("gm-pick-results");
    const found = findAreas(text);
    if (found.length === 1 && found[0].area.code.toLowerCase() === text.trim().toLowerCase()) {
      box.hidden = true;
      pick(found[0].layer, found[0].area.code);
      return;
    }
    box.replaceChildren(
      ...(found.length
        ? found.map(({ layer, area }) =>
            h(
              "button",
              { type: "button", className: "gm-result", dataset: { code: area.code }, onclick: () => { box.hidden = true; pick(layer, area.code); } },
              `${L_("layer_" + layer)}: ${area.name} (${area.code})`,
            ),
          )
        : [h("p", { className: "gm-muted" }, L_("pick_none"))]),
    );
    box.hidden = false;
  }

  async function pick(layer, code) {
    const area = S.areas[layer].get(code);
    $("gm-scope").textContent = area ? `${L_("layer_" + layer)}: ${area.name} (${code})` : code;
    const draft = await busy(async () => {
      const mine = await api("/api/drafts");
      const open = (mine.drafts || []).find((d) => d.scope && d.scope.layer === layer && d.scope.code === code);
      return open || (await post("/api/drafts", { layer, code, name: area ? area.name : code }));
    });
    if (!draft) return;
    history.replaceState(null, "", `?lang=${encodeURIComponent(cfg.lang)}&scope=${encodeURIComponent(code)}`);
    await loadDraft(draft.id, true);
  }

  // ---------------------------------------------------------------- the draft on the map

  async function loadDraft(id, fit) {
    const d = await busy(() => api(`/api/drafts/${id}`));
    if (!d) return;
    S.draft = d;
    S.grids = new Map(((d.grids && d.grids.features) || []).map((f) => [f.properties.code, f]));
    $("gm-intro").hidden = true;
    $("gm-draft").hidden = false;
    $("gm-draft-info").textContent = `${L_("draft")} #${d.id} · ${L_("base_version")} ${d.base_version} · ${S.grids.size} ${L_("grids")}`;
    drawBuildings(d.buildings || []);
    drawGrids();
    showState(d);
    showHistory(d.history || []);
    if (fit && gridGroup.getLayers().length) map.fitBounds(gridGroup.getBounds(), { padding: [30, 30], animate: false });
    document.body.dataset.draft = String(d.id);
  }

  function inRange(n) {
    return typeof n === "number" && n >= cfg.householdsMin && n <= cfg.householdsMax;
  }

  function gridStyle(f) {
    const p = f.properties || {};
    const exempt = p.kind === "dedicated" || p.kind === "high_rise";
    const bad = !exempt && !inRange(p.households);
    const picked = S.picked.includes(p.code);
    return {
      color: picked ? "#2563eb" : bad ? "#dc2626" : "#0f766e",
      weight: picked ? 4 : bad ? 3 : 1.5,
      fillColor: picked ? "#93c5fd" : bad ? "#fecaca" : "#99f6e4",
      fillOpacity: 0.35,
      dashArray: bad ? "6 4" : null,
    };
  }

  function drawGrids() {
    gridGroup.clearLayers();
    labelGroup.clearLayers();
    S.gridLayers.clear();
    for (const f of S.grids.values()) {
      const layer = L.geoJSON(f, { pane: "gm-grids", style: gridStyle }).getLayers()[0];
      if (!layer) continue;
      const p = f.properties;
      // While Geoman draws, a click on a grid is a point of the line, not a pick.
      layer.on("click", () => {
        if (!map.pm.globalDrawModeEnabled()) clickGrid(p.code);
      });
      layer.addTo(gridGroup);
      S.gridLayers.set(p.code, layer);
      const anchor = layer.getBounds().getCenter();
      const inside = polygonContains(f.geometry, anchor.lng, anchor.lat) ? anchor : L.latLng(...labelPoint(f.geometry));
      const bad = !inRange(p.households) && p.kind !== "dedicated" && p.kind !== "high_rise";
      const label = h(
        "span",
        { className: `gm-label${bad ? " gm-label-bad" : ""}`, dataset: { code: p.code, households: String(p.households ?? "") } },
        h("b", null, p.code.slice(-3)),
        ` ${p.households ?? "?"} ${L_("households")}`,
      );
      L.marker(inside, {
        pane: "gm-labels",
        interactive: false,
        keyboard: false,
        icon: L.divIcon({ className: "gm-label-icon", html: label.outerHTML, iconSize: null }),
      }).addTo(labelGroup);
      layer.bindTooltip(h("span", null, `${p.name || ""} ${p.code} · ${p.households ?? "?"} ${L_("households")}${bad ? " · " + L_("out_of_range") : ""}`), { sticky: true });
    }
  }

  /** A point inside the largest part, for a label on a concave grid. */
  function labelPoint(geometry) {
    const polys = geometry.type === "Polygon" ? [geometry.coordinates] : geometry.coordinates;
    const ring = polys.reduce((a, b) => (b[0].length > a[0].length ? b : a))[0];
    const xs = ring.map((c) => c[0]);
    const ys = ring.map((c) => c[1]);
    const y = (Math.min(...ys) + Math.max(...ys)) / 2;
    // The middle of the widest inside stretch along the horizontal through the middle.
    const cuts = [];
    for (let i = 1; i < ring.length; i++) {
      const [x0, y0] = ring[i - 1];
      const [x1, y1] = ring[i];
      if (y0 > y !== y1 > y) cuts.push(x0 + ((y - y0) * (x1 - x0)) / (y1 - y0));
    }
    cuts.sort((a, b) => a - b);
    let best = [(Math.min(...xs) + Math.max(...xs)) / 2, 0];
    for (let i = 0; i + 1 < cuts.length; i += 2) {
      if (cuts[i + 1] - cuts[i] > best[1]) best = [(cuts[i] + cuts[i + 1]) / 2, cuts[i + 1] - cuts[i]];
    }
    return [y, best[0]];
  }

  function drawBuildings(buildings) {
    buildingGroup.clearLayers();
    for (const b of buildings) {
      if (!b.households) continue;
      L.circleMarker([b.lat, b.lon], {
        pane: "gm-buildings",
        radius: Math.min(2 + Math.sqrt(b.households), 9),
        color: "#7c2d12",
        weight: 1,
        fillColor: "#fb923c",
        fillOpacity: 0.8,
        interactive: false,
      }).addTo(buildingGroup);
    }
  }

  /** Apply an edit's answer: changed grids in, removed grids out, then checks and diff. */
  function applyEdit(answer) {
    for (const code of answer.removed || []) S.grids.delete(code);
    for (const f of (answer.changed && answer.changed.features) || []) S.grids.set(f.properties.code, f);
    S.picked = [];
    drawGrids();
    showState(answer);
    document.body.dataset.editSeq = String(answer.seq);
    $("gm-draft-info").textContent = `${L_("draft")} #${S.draft.id} · ${L_("base_version")} ${S.draft.base_version} · ${S.grids.size} ${L_("grids")}`;
  }

  // ---------------------------------------------------------------- checks, diff, history

  function showState(state) {
    if (state.problems) showProblems(state.problems);
    if (state.diff) showDiff(state.diff);
  }

  function showProblems(problems) {
    problemGroup.clearLayers();
    const errors = problems.filter((p) => p.severity === "error").length;
    $("gm-problem-count").textContent = problems.length ? `(${errors} ${L_("severity_error")} · ${problems.length - errors} ${L_("severity_warning")})` : "";
    $("gm-accept-label").hidden = errors === 0;
    const list = $("gm-problems");
    list.dataset.errors = String(errors);
    if (!problems.length) {
      list.replaceChildren(h("li", { className: "gm-ok" }, L_("no_problems")));
      return;
    }
    list.replaceChildren(
      ...problems.map((p) => {
        const who = [p.code, p.name].filter(Boolean).join(" ");
        // The kind in the page's language first; the validator's detailed words after it.
        const kind = p.kind && `problem_${p.kind}` in t ? `${t[`problem_${p.kind}`]} · ` : "";
        const text = `${L_("severity_" + p.severity)} · ${kind}${who}: ${p.message}`;
        const shape = problemShape(p, text);
        if (p.code && S.gridLayers.has(p.code) && p.severity === "error") {
          S.gridLayers.get(p.code).setStyle({ color: "#b91c1c", weight: 3 });
        }
        return h(
          "li",
          {
            className: `gm-problem gm-${p.severity}`,
            dataset: { kind: p.kind, code: p.code || "" },
            onclick: () => {
              if (!shape) return;
              if (shape.getBounds) map.fitBounds(shape.getBounds(), { maxZoom: 17 });
              else map.setView(shape.getLatLng(), Math.max(map.getZoom(), 16));
              shape.openPopup();
            },
          },
          text,
        );
      }),
    );
  }

  /** A marker (a point) or an outline (a box) where the problem is, with its words. */
  function problemShape(p, text) {
    const where = p.where || {};
    let shape = null;
    if (where.point) {
      shape = L.circleMarker([where.point[1], where.point[0]], {
        pane: "gm-problems",
        radius: 9,
        color: p.severity === "error" ? "#b91c1c" : "#b45309",
        weight: 3,
        fillColor: p.severity === "error" ? "#ef4444" : "#f59e0b",
        fillOpacity: 0.7,
        className: `gm-problem-marker gm-${p.severity}`,
      });
    } else if (where.bbox) {
      const [w, s, e, n] = where.bbox;
      shape = L.rectangle([[s, w], [n, e]], { pane: "gm-problems", color: "#b91c1c", weight: 2, dashArray: "4 3", fill: false });
    }
    if (shape) shape.bindPopup(h("div", { className: "gm-problem-popup" }, text)).addTo(problemGroup);
    return shape;
  }

  function showDiff(diff) {
    const box = $("gm-diff");
    const changes = (diff.changes || []).filter((c) => c.layer === "grid");
    if (!changes.length) {
      box.replaceChildren(h("p", { className: "gm-muted" }, L_("diff_none")));
      box.dataset.added = box.dataset.changed = box.dataset.removed = "0";
      return;
    }
    let moved = 0;
    for (const c of changes) moved += Math.max(0, (c.households_after || 0) - (c.households_before || 0));
    box.dataset.added = String(diff.added);
    box.dataset.changed = String(diff.changed);
    box.dataset.removed = String(diff.removed);
    box.replaceChildren(
      h(
        "p",
        { className: "gm-diff-summary" },
        `${L_("diff_added")} ${diff.added} · ${L_("diff_changed")} ${diff.changed} · ${L_("diff_removed")} ${diff.removed} · ${L_("households_moved")} ${moved}`,
      ),
      h(
        "ul",
        { className: "gm-list" },
        changes.map((c) => {
          const before = c.households_before ?? "–";
          const after = c.households_after ?? "–";
          return h("li", { className: `gm-change gm-${c.change}`, dataset: { code: c.code } }, `${L_("diff_" + c.change)} ${c.code} ${c.name || ""} · ${before} → ${after} ${L_("households")}`);
        }),
      ),
    );
  }

  function showHistory(entries) {
    $("gm-history").replaceChildren(
      ...entries.map((e) => {
        const what = e.params && (e.params.code || (e.params.codes || []).join("+") || e.params.community || "");
        return h("li", { className: e.undone ? "gm-undone" : "", dataset: { seq: String(e.seq) } }, `${L_("op_" + e.op)} ${what || ""} ${e.undone ? L_("history_undone") : ""}`);
      }),
    );
  }

  // ---------------------------------------------------------------- tools

  function setTool(name) {
    stopTool();
    S.tool = name;
    for (const b of document.querySelectorAll(".gm-tool")) b.setAttribute("aria-pressed", String(b.dataset.tool === name));
    document.body.dataset.tool = name || "";
    const hint = $("gm-hint");
    hint.hidden = !name;
    hint.textContent = name ? L_("hint_" + name) : "";
    const actions = $("gm-tool-actions");
    actions.replaceChildren();
    if (!name) return;
    if (name === "split") map.pm.enableDraw("Line", { snappable: true, snapDistance: 15 });
    if (name === "add") map.pm.enableDraw("Polygon", { snappable: true, snapDistance: 15 });
    if (name === "merge") actions.append(h("button", { type: "button", id: "gm-merge-go", onclick: doMerge }, L_("confirm_merge")));
    actions.append(h("button", { type: "button", id: "gm-tool-cancel", onclick: () => setTool(null) }, L_("tool_cancel")));
  }

  function stopTool() {
    if (map.pm.globalDrawModeEnabled()) map.pm.disableDraw();
    if (S.reshaping) {
      S.reshaping.layer.pm.disable();
      S.reshaping = null;
    }
    if (S.picked.length) {
      S.picked = [];
      for (const [code, layer] of S.gridLayers) layer.setStyle(gridStyle(S.grids.get(code)));
    }
    S.tool = null;
  }

  function togglePicked(code) {
    S.picked = S.picked.includes(code) ? S.picked.filter((c) => c !== code) : [...S.picked, code];
    S.gridLayers.get(code).setStyle(gridStyle(S.grids.get(code)));
  }

  function clickGrid(code) {
    const tool = S.tool;
    if (tool === "merge") {
      togglePicked(code);
      $("gm-hint").textContent = `${L_("hint_merge")} ${L_("selected")}: ${S.picked.join(", ")}`;
    } else if (tool === "delete") {
      if (!S.picked.length) {
        togglePicked(code);
        $("gm-hint").textContent = L_("hint_delete_into", { code });
      } else if (S.picked[0] !== code) {
        edit({ op: "delete", code: S.picked[0], into: code });
      }
    } else if (tool === "reshape") {
      if (S.reshaping) S.reshaping.layer.pm.disable();
      const layer = S.gridLayers.get(code);
      layer.pm.enable({ snappable: true, allowSelfIntersection: false });
      S.reshaping = { code, layer };
      const actions = $("gm-tool-actions");
      actions.replaceChildren(
        h("button", { type: "button", id: "gm-reshape-go", onclick: () => edit({ op: "reshape", code, geometry: layer.toGeoJSON().geometry }) }, `${L_("save_shape")} ${code}`),
        h("button", { type: "button", onclick: () => setTool(null) }, L_("tool_cancel")),
      );
    } else if (tool === "regenerate") {
      const f = S.grids.get(code);
      edit({ op: "regenerate", community: f.properties.community });
    } else {
      const layer = S.gridLayers.get(code);
      if (layer) layer.openTooltip();
    }
  }

  function doMerge() {
    if (S.picked.length < 2) {
      toast(L_("hint_merge"), "error");
      return;
    }
    edit({ op: "merge", codes: [...S.picked] });
  }

  function onDrawn(e) {
    const geometry = e.layer.toGeoJSON().geometry;
    map.removeLayer(e.layer);
    if (S.tool === "split" && e.shape === "Line") {
      const code = gridUnderLine(geometry.coordinates);
      if (!code) {
        toast(L_("hint_split"), "error");
        map.pm.enableDraw("Line", { snappable: true, snapDistance: 15 });
        return;
      }
      edit({ op: "split", code, line: geometry });
    } else if (S.tool === "add" && e.shape === "Polygon") {
      edit({ op: "add", geometry });
    }
  }

  async function edit(body) {
    const id = S.draft.id;
    const answer = await busy(() => post(`/api/drafts/${id}/edits`, body));
    setTool(null);
    if (!answer) return;
    applyEdit(answer);
    toast(`${L_("saved")}: ${L_("op_" + answer.op)}`);
    showHistory(answer.history || []);
  }

  async function undoRedo(which) {
    const id = S.draft.id;
    const answer = await busy(() => post(`/api/drafts/${id}/${which}`));
    if (answer) await loadDraft(id, false);
  }

  async function validate() {
    const answer = await busy(() => post(`/api/drafts/${S.draft.id}/validate`));
    if (answer) showProblems(answer.problems || []);
  }

  // ---------------------------------------------------------------- publish and rebase

  async function publish(ev) {
    ev.preventDefault();
    const reason = $("gm-reason").value.trim();
    if (!reason) {
      toast(L_("reason_required"), "error");
      $("gm-reason").focus();
      return;
    }
    $("gm-conflict").hidden = true;
    document.body.dataset.busy = "true";
    try {
      const res = await post(`/api/drafts/${S.draft.id}/publish`, { reason, accept_problems: $("gm-accept").checked });
      showPublished(res);
    } catch (err) {
      if (err.code === "version_conflict") showConflict(err.details.changed || []);
      else toast(`${L_("error")}: ${err.message}`, "error");
      if (err.status === 422) await validate();
    } finally {
      document.body.dataset.busy = "false";
    }
  }

  function showPublished(res) {
    const rerouted = res.rerouted || [];
    $("gm-result").replaceChildren(
      h("p", { className: "gm-published", dataset: { version: String(res.version) } }, L_("published", { version: res.version, n: rerouted.length })),
      h(
        "ul",
        { className: "gm-list" },
        rerouted.map((r) => h("li", { className: "gm-rerouted", dataset: { event: String(r.event) } }, L_("rerouted", { event: r.event, from: r.from_grid || "–", to: r.to_grid || "–" }))),
      ),
    );
    // A published draft is a version now: nothing more to edit, undo or publish in it.
    for (const id of ["gm-tools", "gm-publish", "gm-undo-row"]) $(id).hidden = true;
    document.body.dataset.published = String(res.version);
  }

  function showConflict(changed) {
    const box = $("gm-conflict");
    box.replaceChildren(
      h("p", null, L_("conflict")),
      h("ul", { className: "gm-list" }, changed.map((c) => h("li", null, L_("conflict_by", { code: c.code, change: L_("diff_" + c.change), by: c.by || "?" })))),
      h("button", { type: "button", id: "gm-rebase-mine", onclick: () => rebase(true) }, L_("rebase")),
    );
    box.hidden = false;
  }

  // The API rebases over a community someone else changed only when the planner keeps
  // their own grids there (recorded in the draft's note); the other way out is a new draft.
  async function rebase(keepMine) {
    const res = await busy(() => post(`/api/drafts/${S.draft.id}/rebase`, { keep_mine: keepMine }));
    if (!res) return;
    $("gm-conflict").hidden = true;
    toast(L_("rebased"));
    await loadDraft(S.draft.id, false);
  }

  // ---------------------------------------------------------------- start

  async function start(leafletMap, config) {
    map = leafletMap;
    cfg = config;
    t = cfg.labels;
    if (map.options.maxZoom === undefined) map.setMaxZoom(20);
    const panes = { "gm-context": 400, "gm-grids": 410, "gm-buildings": 420, "gm-labels": 430, "gm-problems": 640 };
    for (const [name, z] of Object.entries(panes)) map.createPane(name).style.zIndex = z;
    map.getPane("gm-labels").style.pointerEvents = "none";
    contextGroup = L.layerGroup().addTo(map);
    gridGroup = L.featureGroup().addTo(map);
    labelGroup = L.layerGroup().addTo(map);
    buildingGroup = L.layerGroup().addTo(map);
    problemGroup = L.featureGroup().addTo(map);
    map.pm.setLang(cfg.lang === "zh" ? "zh" : "en");
    map.on("pm:create", onDrawn);

    $("gm-pick").addEventListener("submit", (e) => {
      e.preventDefault();
      showPickResults($("gm-pick-input").value);
    });
    for (const b of document.querySelectorAll(".gm-tool")) {
      b.addEventListener("click", () => setTool(S.tool === b.dataset.tool ? null : b.dataset.tool));
    }
    $("gm-undo").addEventListener("click", () => undoRedo("undo"));
    $("gm-redo").addEventListener("click", () => undoRedo("redo"));
    $("gm-validate").addEventListener("click", validate);
    $("gm-publish").addEventListener("submit", publish);
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape") setTool(null);
    });

    await loadAreas();
    if (cfg.scope) showPickResults(cfg.scope);
    document.body.dataset.ready = "true";
  }

  window.GridmapEditor = { start, polygonContains, gridUnderLine: (c) => gridUnderLine(c) };
})();
